/*
 * hash.h - fast non-cryptographic hashing for flow tables and dispatch.
 * (Keyed hashes of sensitive values are HMAC-SHA256, elsewhere.)
 */
#ifndef DLP_HASH_H
#define DLP_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of n bytes with a seed; good avalanche, not cryptographic. */
uint64_t dlp_hash_bytes(const void *p, size_t n, uint64_t seed);

/* Final mixer for a 64-bit value (splitmix64 finaliser). */
static inline uint64_t dlp_hash_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
