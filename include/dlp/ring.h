/*
 * ring.h - bounded single-producer / single-consumer ring of fixed-size
 * records, and the back-off used by a thread that waits on one.
 *
 * Exactly one thread may push and exactly one (other) thread may pop. The
 * indexes are C11 atomics with acquire/release ordering; each side caches the
 * other's index so a push or pop touches a shared cache line only when the
 * cached view says the ring is full or empty.
 */
#ifndef DLP_RING_H
#define DLP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dlp_ring dlp_ring_t;

/*
 * Returns an owned ring of at least 'nslots' records (rounded up to a power
 * of two) of 'slot_size' bytes each, or NULL when out of memory.
 */
dlp_ring_t *dlp_ring_new(size_t slot_size, size_t nslots);
void dlp_ring_free(dlp_ring_t *r);

/* Producer: copies 'rec' in. Returns false, copying nothing, when full. */
bool dlp_ring_push(dlp_ring_t *r, const void *rec);
/* Consumer: copies the oldest record to 'rec'. Returns false when empty. */
bool dlp_ring_pop(dlp_ring_t *r, void *rec);
/* Either side: a snapshot of the number of records queued. */
size_t dlp_ring_count(const dlp_ring_t *r);
size_t dlp_ring_capacity(const dlp_ring_t *r);

/*
 * Back-off for a thread that found its ring empty (or full): spins a little,
 * then yields, then sleeps up to 'max_sleep_us'. Reset after progress.
 */
typedef struct dlp_backoff {
    unsigned round;
    unsigned max_sleep_us;
} dlp_backoff_t;

static inline void dlp_backoff_init(dlp_backoff_t *b, unsigned max_sleep_us)
{
    b->round = 0;
    b->max_sleep_us = max_sleep_us;
}
static inline void dlp_backoff_reset(dlp_backoff_t *b) { b->round = 0; }
void dlp_backoff_wait(dlp_backoff_t *b);

#endif
