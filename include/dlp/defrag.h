/*
 * defrag.h - IPv4 and IPv6 fragment reassembly.
 *
 * Runs where packets are dispatched (before the flow hash: a non-first
 * fragment has no ports, so it must be whole before it can be hashed to a
 * worker). One table per thread; not thread-safe.
 *
 * Policy: overlapping fragments keep the bytes that arrived first (counted,
 * and counted again when the bytes differ); a datagram not completed within
 * the timeout is dropped (counted); the table is bounded in bytes and in
 * datagrams, and when full the oldest datagram is dropped (counted).
 *
 * Details: a datagram is keyed by (ipver, src, dst, id, VLAN ids) plus the
 * protocol for IPv4; not by the IPv6 next header, which RFC 8200 lets differ
 * between fragments (the offset-0 fragment's value is used). Like Linux, an
 * IPv4 non-last fragment whose length is not a multiple of 8 is trimmed to
 * one, the IPv6 one is invalid, and a fragment contradicting the datagram's
 * known end drops the datagram. A fragment cut short by the capture (snaplen)
 * is invalid. Timeouts run from a datagram's first fragment.
 */
#ifndef DLP_DEFRAG_H
#define DLP_DEFRAG_H

#include <stdint.h>

#include "dlp/packet.h"
#include "dlp/rc.h"
#include "dlp/stats.h"

typedef struct dlp_defrag dlp_defrag_t;

typedef struct dlp_defrag_config {
    uint64_t memcap;         /* bytes held, all datagrams (DLP_DEFRAG_MEMCAP) */
    uint32_t max_datagrams;  /* DLP_DEFRAG_MAX_DATAGRAMS */
    uint32_t max_frags;      /* per datagram, DLP_DEFRAG_MAX_FRAGS */
    uint64_t timeout_us;     /* DLP_DEFRAG_TIMEOUT_US */
} dlp_defrag_config_t;

/* Fills *c with the limits.h defaults. */
void dlp_defrag_config_default(dlp_defrag_config_t *c);

/*
 * Returns an owned table, or NULL when out of memory (or when c or st is
 * NULL, or a bound in *c other than the timeout is 0). Counts into *st
 * (DLP_STAT_FRAG_*), which it borrows and which must outlive it.
 */
dlp_defrag_t *dlp_defrag_new(const dlp_defrag_config_t *c, dlp_stats_t *st);
void dlp_defrag_free(dlp_defrag_t *d);

/*
 * Adds the fragment *p (dlp_decode returned DLP_DEC_FRAGMENT); p->ts_us is
 * the clock. Returns:
 *   DLP_AGAIN  held, datagram not complete yet;
 *   DLP_OK     complete: *out, *out_len is the whole IP datagram (IPv4 header
 *              with offset 0 and MF clear; IPv6 fixed header with the
 *              fragment header removed), owned by the table and valid until
 *              the next call on it. Decode it with dlp_decode_ip().
 *   DLP_EPROTO the fragment is invalid and was dropped (FRAG_INVALID).
 *   DLP_ELIMIT the fragment could not be held within the bounds: its own
 *              datagram was the oldest and was evicted (FRAG_EVICTED), or
 *              it was refused (FRAG_INVALID: more than max_frags fragments,
 *              which drops the datagram, or larger than the memcap).
 * The IPv6 result has no extension headers: those before the fragment
 * header are dropped and next header is the fragment header's.
 */
DLP_MUST_CHECK dlp_rc_t dlp_defrag_add(dlp_defrag_t *d, const dlp_packet_t *p,
                                       const uint8_t **out, uint32_t *out_len);

/* Drops the datagrams older than now_us - timeout. */
void dlp_defrag_expire(dlp_defrag_t *d, uint64_t now_us);

uint64_t dlp_defrag_mem(const dlp_defrag_t *d);

#endif
