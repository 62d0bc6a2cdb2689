/*
 * socks.h - the handshake of a SOCKS proxy connection, both directions:
 * SOCKS4 and SOCKS4a (client request, server's 8-byte reply), SOCKS5
 * (RFC 1928: greeting, method choice, request, reply) with the
 * username/password sub-negotiation (RFC 1929).
 *
 * A dlp_socks_t reads each direction's handshake and tells when it ends;
 * what follows is the tunnel, the bytes the destination server gets, which
 * the caller sniffs like a new connection's (flowapp.c). It reports through
 * the sink of each direction:
 *  - when a direction's handshake ends, each free-form field it sent, a
 *    block DLP_FIELD_RAW (data can travel in them): the SOCKS5 user name,
 *    the SOCKS4 user id, the destination name (SOCKS5 domain address,
 *    SOCKS4a host), a SOCKS5 IPv6 address, a greeting's methods list of 8
 *    or more, and the server's bound address when a domain or IPv6;
 *  - the RFC 1929 password: a credential (secret(), note CREDENTIAL with
 *    its length), never scanned, not held.
 * The handshake's bytes are held (at most DLP_SOCKS_HELD_BYTES per
 * direction, the password left out): when a direction turns out not to be
 * SOCKS, or its request is refused, dlp_socks_write() returns DLP_EPROTO
 * and the caller scans the held bytes and the rest of the direction raw.
 * A direction is read on its own (a SOCKS5 client's next message is told
 * by its version byte), so a tap that sees one side, or a client that
 * sends its request before the reply, is read alike.
 *
 * Results do not depend on how the bytes are cut into writes.
 *
 * Threading: a dlp_socks_t belongs to the worker that owns the flow.
 */
#ifndef DLP_SOCKS_H
#define DLP_SOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/rc.h"

typedef struct dlp_socks dlp_socks_t;

/* Whether a client's first bytes are a SOCKS4/4a request or a SOCKS5 greeting. */
typedef enum {
    DLP_SOCKS_SNIFF_NO = 0,
    DLP_SOCKS_SNIFF_MORE, /* so far they may be: more bytes tell */
    DLP_SOCKS_SNIFF_YES,
} dlp_socks_sniff_t;
dlp_socks_sniff_t dlp_socks_sniff(const uint8_t *p, size_t n);

/* dir 0 = client -> proxy, 1 = proxy -> client. NULL when out of memory. */
dlp_socks_t *dlp_socks_new(const dlp_content_sink_t *sink, void *const ctx[2]);
void dlp_socks_free(dlp_socks_t *s);

/*
 * Feeds n bytes of direction 'dir'. DLP_OK: all taken, the handshake goes
 * on. DLP_DONE: the direction's handshake ended after *consumed bytes, the
 * rest is the tunnel's. DLP_EPROTO: the direction is no SOCKS handshake
 * (or a refused one): the bytes it took, dlp_socks_held(), then p from
 * *consumed on, are the direction's as they were sent. Once DONE or
 * EPROTO, every later call returns the same with *consumed 0.
 */
DLP_MUST_CHECK dlp_rc_t dlp_socks_write(dlp_socks_t *s, int dir, const uint8_t *p, size_t n,
                                        size_t *consumed);
/* Bytes of direction dir are missing: its handshake is lost (DLP_EPROTO from then on). */
void dlp_socks_gap(dlp_socks_t *s, int dir);
/* The handshake bytes of direction dir taken so far, the password left out. */
size_t dlp_socks_held(const dlp_socks_t *s, int dir, const uint8_t **p);
size_t dlp_socks_mem(const dlp_socks_t *s);

#endif
