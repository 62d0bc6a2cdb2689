/*
 * cidr.h - a small set of IPv4/IPv6 prefixes (the home network, allow-lists).
 * Addresses are 16 bytes; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so
 * an IPv4 prefix /n is a mapped prefix /(96+n).
 * Immutable after it is built: safe to read from every thread.
 */
#ifndef DLP_CIDR_H
#define DLP_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/rc.h"

typedef struct dlp_cidr {
    uint8_t addr[16];
    uint8_t bits; /* 0..128, on the 16-byte form */
} dlp_cidr_t;

typedef struct dlp_cidr_set {
    dlp_cidr_t *v;
    size_t n;
} dlp_cidr_set_t;

/* Parses "10.0.0.0/8" or "fc00::/7" or a bare address. */
DLP_MUST_CHECK dlp_rc_t dlp_cidr_parse(const char *s, dlp_cidr_t *out);
/*
 * Parses a comma-separated list and appends to 'set'. On DLP_EINVAL,
 * '*bad' (if not NULL) points at the offending item within 's'. An empty
 * item is one ("", "a,", "a,,b"): a list that names no network, or one an
 * unset variable cut short, must not pass for a valid one.
 */
DLP_MUST_CHECK dlp_rc_t dlp_cidr_set_parse(dlp_cidr_set_t *set, const char *s,
                                           const char **bad);
void dlp_cidr_set_fini(dlp_cidr_set_t *set);
bool dlp_cidr_set_contains(const dlp_cidr_set_t *set, const uint8_t addr[16]);

/* Formats a 16-byte address (IPv4-mapped as dotted quad) into buf. */
const char *dlp_addr_str(const uint8_t addr[16], char *buf, size_t len);
static inline bool dlp_addr_is_v4(const uint8_t a[16])
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    for (int i = 0; i < 12; i++)
        if (a[i] != pfx[i])
            return false;
    return true;
}

#endif
