/*
 * cidr.c - prefix sets for the home network and allow-lists. Sets are tiny
 * (a handful of prefixes), so a linear scan beats any tree.
 */
#include "dlp/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dlp_rc_t parse_addr(const char *s, size_t n, uint8_t out[16], unsigned *maxbits)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    struct in_addr a4;

    if (n == 0 || n >= sizeof(tmp))
        return DLP_EINVAL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *maxbits = 32;
        return DLP_OK;
    }
    if (inet_pton(AF_INET6, tmp, out) == 1) {
        *maxbits = 128;
        return DLP_OK;
    }
    return DLP_EINVAL;
}

static void mask_addr(uint8_t a[16], unsigned bits)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned lo = i * 8;
        if (bits >= lo + 8)
            continue;
        a[i] &= bits <= lo ? 0 : (uint8_t)(0xff << (8 - (bits - lo)));
    }
}

dlp_rc_t dlp_cidr_parse(const char *s, dlp_cidr_t *out)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    unsigned maxbits, bits;

    if (parse_addr(s, alen, out->addr, &maxbits) != DLP_OK)
        return DLP_EINVAL;
    bits = maxbits;
    if (slash != NULL) {
        char *end = NULL;
        unsigned long v = strtoul(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || v > maxbits)
            return DLP_EINVAL;
        bits = (unsigned)v;
    }
    if (maxbits == 32)
        bits += 96;
    out->bits = (uint8_t)bits;
    mask_addr(out->addr, bits);
    return DLP_OK;
}

dlp_rc_t dlp_cidr_set_parse(dlp_cidr_set_t *set, const char *s, const char **bad)
{
    const char *p = s;

    for (;;) { /* an empty item, the last one too, is an error: see the header */
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[128];
        dlp_cidr_t c;

        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0 || n >= sizeof(item) ||
            (memcpy(item, p, n), item[n] = '\0', dlp_cidr_parse(item, &c) != DLP_OK)) {
            if (bad != NULL)
                *bad = p;
            return DLP_EINVAL;
        }
        dlp_cidr_t *v = realloc(set->v, (set->n + 1) * sizeof(*v));
        if (v == NULL)
            return DLP_ENOMEM;
        set->v = v;
        set->v[set->n++] = c;
        if (comma == NULL)
            return DLP_OK;
        p = comma + 1;
    }
}

void dlp_cidr_set_fini(dlp_cidr_set_t *set)
{
    free(set->v);
    set->v = NULL;
    set->n = 0;
}

static bool prefix_match(const dlp_cidr_t *c, const uint8_t a[16])
{
    unsigned full = c->bits / 8, rem = c->bits % 8;

    if (memcmp(c->addr, a, full) != 0)
        return false;
    if (rem == 0)
        return true;
    uint8_t m = (uint8_t)(0xff << (8 - rem));
    return (a[full] & m) == c->addr[full];
}

bool dlp_cidr_set_contains(const dlp_cidr_set_t *set, const uint8_t addr[16])
{
    for (size_t i = 0; i < set->n; i++)
        if (prefix_match(&set->v[i], addr))
            return true;
    return false;
}

const char *dlp_addr_str(const uint8_t addr[16], char *buf, size_t len)
{
    if (dlp_addr_is_v4(addr))
        inet_ntop(AF_INET, addr + 12, buf, (socklen_t)len);
    else
        inet_ntop(AF_INET6, addr, buf, (socklen_t)len);
    return buf;
}
