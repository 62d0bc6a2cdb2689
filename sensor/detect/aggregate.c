/*
 * aggregate.c - distinct values of a rule across flows, per sender and
 * receiver (a rule's aggregate: key). One upload of one record per
 * connection never meets a per-flow threshold; counted per address pair
 * over a window of packet time, it does.
 *
 * A pair keeps the fingerprints of its values in the order first seen,
 * each with its time and flow; those older than the window fall off the
 * front. When the count reaches the rule's 'values' the pair starts over,
 * so a steady leak raises one event per 'values' distinct values, not one
 * per flow. Memory is bounded per worker: past the cap the pairs touched
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
    uint32_t head, n, cap;       /* live values v[head, head + n) */
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
    return sizeof(*p) + (size_t)p->cap * sizeof(aval_t);
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

/* Distinct flows among the pair's live values (once per event: sorting is fine). */
static uint32_t pair_flows(const apair_t *p)
{
    uint64_t *f = malloc((size_t)p->n * sizeof(*f) + 1);
    uint32_t k = 0;

    if (f == NULL)
        return 0;
    for (uint32_t i = 0; i < p->n; i++)
        f[i] = p->v[p->head + i].flow;
    qsort(f, p->n, sizeof(*f), cmp_u64);
    for (uint32_t i = 0; i < p->n; i++)
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
        p->head++;
        p->n--;
    }
    for (uint32_t i = 0; i < p->n; i++)
        if (p->v[p->head + i].fp == v->fp)
            return DLP_AGG_COUNTED; /* seen in the window: not a new value */
    if (!pair_reserve(a, p))
        return DLP_AGG_NOMEM;
    p->v[p->head + p->n++] = (aval_t){.fp = v->fp, .flow = v->flow, .ts_us = v->ts_us};
    if (p->n >= v->values) {
        *flows = pair_flows(p);
        p->head = p->n = 0; /* the next event takes as many new values */
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
