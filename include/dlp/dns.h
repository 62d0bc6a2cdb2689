/*
 * dns.h - DNS messages (RFC 1035): the names a query carries.
 *
 * Names in the question section (and, for completeness, the owner names
 * of other records of a query message) are decoded (labels, compression
 * pointers with loop and bound checks) into dotted text and reported with
 * sink->block(DLP_FIELD_DNS_QUERY). A card number or an e-mail address
 * hidden in labels (exfiltration by DNS) is then found by the rules.
 * Over TCP, messages are length-prefixed (2 bytes): dlp_dns_stream_* keeps
 * the framing state across writes.
 */
#ifndef DLP_DNS_H
#define DLP_DNS_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/rc.h"

/* One UDP datagram. Returns DLP_OK, or DLP_EPROTO when it is not DNS (noted). */
DLP_MUST_CHECK dlp_rc_t dlp_dns_message(const uint8_t *p, size_t n,
                                        const dlp_content_sink_t *sink, void *ctx);

/* True if p[0, n) parses as a DNS query message (used to recognise DNS on odd ports). */
bool dlp_dns_is_query(const uint8_t *p, size_t n);

typedef struct dlp_dns_stream dlp_dns_stream_t;
dlp_dns_stream_t *dlp_dns_stream_new(const dlp_content_sink_t *sink, void *ctx);
/*
 * Takes p[0, n) of the client's stream. DLP_OK when all of it was taken;
 * DLP_EPROTO when a message is not DNS (noted) and DLP_ENOMEM, after which
 * the stream takes nothing more (DLP_DONE): '*used' (may be NULL) says how
 * many bytes were taken, up to the end of the failed message, and
 * dlp_dns_stream_held() gives that message, so the caller can scan it and
 * the rest as the plain bytes they are.
 */
DLP_MUST_CHECK dlp_rc_t dlp_dns_stream_write(dlp_dns_stream_t *d, const uint8_t *p, size_t n,
                                             size_t *used);
/* The message in progress (the connection may end inside it), or the one that
 * failed, with its 2-byte length; its size (0: none). Borrowed until the next call. */
size_t dlp_dns_stream_held(const dlp_dns_stream_t *d, const uint8_t **p);
/* Bytes the stream holds (the flow table charges them); 0 for NULL. */
size_t dlp_dns_stream_mem(const dlp_dns_stream_t *d);
void dlp_dns_stream_free(dlp_dns_stream_t *d);

#endif
