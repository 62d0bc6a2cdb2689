/*
 * aggregate.c - distinct values of a rule across flows, per sender and
 * receiver (a rule's aggregate: key). One upload of one record per
 * connection never meets a per-flow threshold; counted per address pair
 * over a window of packet time, it does.
 *
 * A pair keeps the fingerprints of its values in the order first seen,
 * each with its time and flow, and a set of them for the lookup; those older
 * than the window fall off the front. When 'values' new ones have come since
 * the last event, one is raised and the count starts over (the values stay
 * remembered for the window), so a steady leak raises one event per 'values'
 * distinct values, not one per flow. Memory is bounded per worker: past the cap the pairs touched
 * least recently are dropped (counted). The worker keeps one for all its
 * rule generations, keyed by rule slot, so a reload does not start it afresh.
 *
 * Reading files every flow of a pair is in one worker (dispatch by address
 * pair), so the counts do not depend on --workers. Live with
 * --fanout-mode hash, or several processes, a pair is split and counted in
 * parts.
 *
 * Thread: the worker that owns it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "dlp/hash.h"
#include "detect_int.h"

typedef struct aval {
    uint64_t fp, flow, ts_us;
} aval_t;

typedef struct apair {
    struct apair *hnext;         /* hash chain */
    TAILQ_ENTRY(apair) recency;  /* most recent first */
    uint32_t rule;
    uint8_t src[16], dst[16];
    aval_t *v;
    uint32_t head, n, cap;       /* live values v[head, head + n), oldest first */
    uint32_t counted;            /* the last 'counted' of them came after the last event */
    uint64_t *set;               /* their fingerprints (0 stored as 1), linear probing */
    uint32_t setcap;             /* a power of two, more than twice n; 0: none yet */
} apair_t;

struct dlp_agg {
    apair_t **bucket;
    size_t nbuckets; /* a power of two */
    TAILQ_HEAD(apair_list, apair) recent;
    size_t mem, memcap;
    uint64_t seed;
};

dlp_agg_t *dlp_agg_new(size_t memcap, uint64_t seed)
{
    dlp_agg_t *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->nbuckets = 16384;
    a->bucket = calloc(a->nbuckets, sizeof(*a->bucket));
    if (a->bucket == NULL) {
        free(a);
        return NULL;
    }
    TAILQ_INIT(&a->recent);
    a->memcap = memcap;
    a->seed = seed;
    return a;
}

static size_t pair_mem(const apair_t *p)
{
    return sizeof(*p) + (size_t)p->cap * sizeof(aval_t) + (size_t)p->setcap * sizeof(uint64_t);
}

/* --- a pair's fingerprint set: the window's values, looked up in O(1) -------- */

static uint64_t set_key(uint64_t fp)
{
    return fp != 0 ? fp : 1;
}

static uint32_t set_slot(const apair_t *p, uint64_t k)
{
    uint32_t i = (uint32_t)(k ^ (k >> 32)) & (p->setcap - 1);

    while (p->set[i] != 0 && p->set[i] != k)
        i = (i + 1) & (p->setcap - 1);
    return i;
}

static bool set_has(const apair_t *p, uint64_t fp)
{
    return p->setcap != 0 && p->set[set_slot(p, set_key(fp))] != 0;
}

/* Room for one more key (load kept under 1/2); false when out of memory. */
static bool set_reserve(dlp_agg_t *a, apair_t *p)
{
    uint32_t cap = p->setcap ? p->setcap : 16;
    uint64_t *old = p->set;
    uint32_t oldcap = p->setcap;

    while (2 * (p->n + 1) > cap)
        cap *= 2;
    if (cap == p->setcap)
        return true;
    p->set = calloc(cap, sizeof(*p->set));
    if (p->set == NULL) {
        p->set = old;
        return false;
    }
    p->setcap = cap;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i] != 0)
            p->set[set_slot(p, old[i])] = old[i];
    free(old);
    a->mem += (size_t)(cap - oldcap) * sizeof(uint64_t);
    return true;
}

/* Removes k, moving back the keys after it that its slot let pass. */
static void set_del(apair_t *p, uint64_t fp)
{
    uint32_t mask = p->setcap - 1, i, j;
    uint64_t k = set_key(fp);

    if (p->setcap == 0 || p->set[i = set_slot(p, k)] == 0)
        return;
    for (j = (i + 1) & mask; p->set[j] != 0; j = (j + 1) & mask) {
        uint64_t m = p->set[j];
        uint32_t home = (uint32_t)(m ^ (m >> 32)) & mask;
        /* m may move to i when i lies cyclically in [home, j) */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            p->set[i] = m;
            i = j;
        }
    }
    p->set[i] = 0;
}

static size_t bucket_of(const dlp_agg_t *a, uint32_t rule, const uint8_t *src, const uint8_t *dst)
{
    uint8_t k[36];

    memcpy(k, &rule, 4);
    memcpy(k + 4, src, 16);
    memcpy(k + 20, dst, 16);
    return (size_t)dlp_hash_bytes(k, sizeof(k), a->seed) & (a->nbuckets - 1);
}

static void pair_drop(dlp_agg_t *a, apair_t *p)
{
    apair_t **pp = &a->bucket[bucket_of(a, p->rule, p->src, p->dst)];

    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    TAILQ_REMOVE(&a->recent, p, recency);
    a->mem -= pair_mem(p);
    free(p->set);
    free(p->v);
    free(p);
}

static apair_t *pair_get(dlp_agg_t *a, uint32_t rule, const uint8_t *src, const uint8_t *dst)
{
    size_t b = bucket_of(a, rule, src, dst);
    apair_t *p;

    for (p = a->bucket[b]; p != NULL; p = p->hnext)
        if (p->rule == rule && memcmp(p->src, src, 16) == 0 && memcmp(p->dst, dst, 16) == 0)
            break;
    if (p != NULL) {
        TAILQ_REMOVE(&a->recent, p, recency);
        TAILQ_INSERT_HEAD(&a->recent, p, recency);
        return p;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->rule = rule;
    memcpy(p->src, src, 16);
    memcpy(p->dst, dst, 16);
    p->hnext = a->bucket[b];
    a->bucket[b] = p;
    TAILQ_INSERT_HEAD(&a->recent, p, recency);
    a->mem += pair_mem(p);
    return p;
}

/* Room for one more value at the end; false when out of memory. */
static bool pair_reserve(dlp_agg_t *a, apair_t *p)
{
    uint32_t cap;
    aval_t *v;

    if (p->head > 0 && p->head + p->n == p->cap) { /* slide the live values down */
        memmove(p->v, p->v + p->head, (size_t)p->n * sizeof(aval_t));
        p->head = 0;
    }
    if (p->head + p->n < p->cap)
        return true;
    cap = p->cap ? p->cap * 2 : 8;
    v = realloc(p->v, (size_t)cap * sizeof(aval_t));
    if (v == NULL)
        return false;
    a->mem += (size_t)(cap - p->cap) * sizeof(aval_t);
    p->v = v;
    p->cap = cap;
    return true;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Distinct flows among the values counted without a buffer: each value's
 * flow is looked for among those before it. Quadratic in 'values' (at most
 * 10000), so only for when the buffer cannot be had. */
static uint32_t flows_scan(const aval_t *v, uint32_t n)
{
    uint32_t k = 0, j;

    for (uint32_t i = 0; i < n; i++) {
        for (j = 0; j < i && v[j].flow != v[i].flow; j++)
            ;
        k += j == i;
    }
    return k;
}

/* Distinct flows among the values counted for this event (once per event:
 * sorting is fine). */
static uint32_t pair_flows(const apair_t *p)
{
    uint64_t *f = malloc((size_t)p->counted * sizeof(*f) + 1);
    const aval_t *v = p->v + p->head + (p->n - p->counted);
    uint32_t k = 0;

    if (f == NULL)
        return flows_scan(v, p->counted);
    for (uint32_t i = 0; i < p->counted; i++)
        f[i] = v[i].flow;
    qsort(f, p->counted, sizeof(*f), cmp_u64);
    for (uint32_t i = 0; i < p->counted; i++)
        k += i == 0 || f[i] != f[i - 1];
    free(f);
    return k;
}

dlp_agg_rc_t dlp_agg_add(dlp_agg_t *a, const dlp_agg_value_t *v, uint32_t *flows,
                         uint64_t *evicted)
{
    apair_t *p = pair_get(a, v->rule, v->src, v->dst);
    dlp_agg_rc_t rc = DLP_AGG_COUNTED;

    if (p == NULL)
        return DLP_AGG_NOMEM;
    while (p->n > 0 && p->v[p->head].ts_us + v->window_us < v->ts_us) {
        set_del(p, p->v[p->head].fp);
        p->head++;
        p->n--;
        if (p->counted > p->n)
            p->counted = p->n;
    }
    if (set_has(p, v->fp))
        return DLP_AGG_COUNTED; /* seen in the window: not a new value */
    if (!pair_reserve(a, p) || !set_reserve(a, p))
        return DLP_AGG_NOMEM;
    p->v[p->head + p->n++] = (aval_t){.fp = v->fp, .flow = v->flow, .ts_us = v->ts_us};
    p->set[set_slot(p, set_key(v->fp))] = set_key(v->fp);
    /* A flow that raised the rule cannot raise it again (one dlp event per flow
     * and rule): the count met waits for the pair's next value in another flow. */
    if (++p->counted >= v->values && !v->held) {
        *flows = pair_flows(p);
        /* The next event takes as many new values; these stay remembered for
         * the window, so sending them again does not count. */
        p->counted = 0;
        rc = DLP_AGG_MET;
    }
    for (apair_t *old; a->mem > a->memcap &&
                       (old = TAILQ_LAST(&a->recent, apair_list)) != NULL && old != p;) {
        pair_drop(a, old);
        (*evicted)++;
    }
    return rc;
}

size_t dlp_agg_mem(const dlp_agg_t *a)
{
    return a != NULL ? a->mem : 0;
}

void dlp_agg_free(dlp_agg_t *a)
{
    if (a == NULL)
        return;
    while (!TAILQ_EMPTY(&a->recent))
        pair_drop(a, TAILQ_FIRST(&a->recent));
    free(a->bucket);
    free(a);
}
