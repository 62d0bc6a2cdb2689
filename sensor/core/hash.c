/*
 * hash.c - a fast 64-bit hash for table keys (not for anything an attacker
 * must not predict: tables are seeded per run and chains are bounded by the
 * memcap, not by the hash).
 */
#include "dlp/hash.h"

#include <string.h>

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t dlp_hash_bytes(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);

    while (n >= 8) {
        h = dlp_hash_mix64(h ^ rd64(p));
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t tail = 0;
        memcpy(&tail, p, n);
        h = dlp_hash_mix64(h ^ tail ^ ((uint64_t)n << 56));
    }
    return dlp_hash_mix64(h);
}
