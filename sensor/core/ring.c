/*
 * ring.c - bounded SPSC ring of fixed-size records.
 *
 * Design: head (next slot to pop) and tail (next slot to push) are free
 * running 64-bit counters on their own cache lines. The producer publishes a
 * record with a release store of tail after copying it; the consumer reads
 * tail with acquire before copying out, then releases head. Each side keeps a
 * cached copy of the other's counter and refreshes it only when the cached
 * view says full/empty, so the steady state shares no cache line per record.
 */
#include "dlp/ring.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlp/mem.h"
#include "dlp/rc.h"

struct dlp_ring {
    _Alignas(DLP_CACHELINE) _Atomic uint64_t head;
    uint64_t tail_cache; /* consumer's view of tail */
    _Alignas(DLP_CACHELINE) _Atomic uint64_t tail;
    uint64_t head_cache; /* producer's view of head */
    _Alignas(DLP_CACHELINE) size_t slot_size;
    size_t mask;
    unsigned char *slots;
};

dlp_ring_t *dlp_ring_new(size_t slot_size, size_t nslots)
{
    dlp_ring_t *r = NULL;
    size_t n = 1;

    if (slot_size == 0 || nslots == 0)
        return NULL;
    while (n < nslots)
        n <<= 1;
    r = dlp_calloc_aligned(sizeof(*r));
    if (r == NULL)
        goto fail;
    r->slot_size = slot_size;
    r->mask = n - 1;
    r->slots = calloc(n, slot_size);
    if (r->slots == NULL)
        goto fail;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return r;
fail:
    dlp_ring_free(r);
    return NULL;
}

void dlp_ring_free(dlp_ring_t *r)
{
    if (r == NULL)
        return;
    free(r->slots);
    free(r);
}

bool dlp_ring_push(dlp_ring_t *r, const void *rec)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);

    if (t - r->head_cache > r->mask) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (t - r->head_cache > r->mask)
            return false;
    }
    memcpy(r->slots + (t & r->mask) * r->slot_size, rec, r->slot_size);
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return true;
}

bool dlp_ring_pop(dlp_ring_t *r, void *rec)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);

    if (h == r->tail_cache) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h == r->tail_cache)
            return false;
    }
    memcpy(rec, r->slots + (h & r->mask) * r->slot_size, r->slot_size);
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return true;
}

size_t dlp_ring_count(const dlp_ring_t *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return t >= h ? (size_t)(t - h) : 0;
}

size_t dlp_ring_capacity(const dlp_ring_t *r) { return r->mask + 1; }

void dlp_backoff_wait(dlp_backoff_t *b)
{
    unsigned round = b->round++;

    if (round < 64) {
        __builtin_ia32_pause();
        return;
    }
    if (round < 80) {
        sched_yield();
        return;
    }
    /* Sleep doubles from 10 us up to the cap: idle threads cost nothing,
     * and a busy ring is picked up again within max_sleep_us. */
    unsigned shift = round - 80 < 10 ? round - 80 : 10;
    unsigned us = 10u << shift;
    if (us > b->max_sleep_us)
        us = b->max_sleep_us;
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}
