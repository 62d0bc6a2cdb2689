/*
 * detect_int.h - what the files of detect/ share (not public).
 */
#ifndef DLP_DETECT_INT_H
#define DLP_DETECT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/alert.h"
#include "dlp/detect.h"
#include "dlp/rules.h"

/* A validated value and what is known about where it travels. */
typedef struct dlp_value {
    const dlp_rule_t *r;
    const uint8_t *win;      /* the window around it */
    size_t len, vs, ve;      /* value = win[vs, ve) */
    const char *norm;        /* normalized */
    size_t nl;
    const uint8_t *hmac16;   /* its keyed hash when an allow-list needs it, else NULL */
    dlp_field_t field;
    const char *app_proto;
    const uint8_t *src, *dst;         /* sender and receiver of the bytes */
    const char *const *hosts;         /* destination host names known for the flow */
    size_t nhosts;
} dlp_value_t;

typedef enum {
    DLP_POL_REPORT = 0,
    DLP_POL_FILTERED,        /* not the rule's protocol or field */
    DLP_POL_CONTEXT,         /* required context missing, or excluding context present */
    DLP_POL_ALLOWED,         /* on an allow-list */
    DLP_POL_TEST_VALUE,      /* a published test value */
    DLP_POL_UNLISTED,        /* not on the rule's exact-data list */
} dlp_policy_t;

/*
 * Decides what happens to a validated value of rule v->r under the rule's
 * and the rule set's policies; *conf receives its confidence when it is
 * reported. Pure.
 */
dlp_policy_t dlp_detect__policy(const dlp_ruleset_t *rs, const dlp_value_t *v,
                                dlp_confidence_t *conf);

/*
 * Whether value v (of a linkable rule) counts towards combination rule c:
 * c's protocols and fields admit it, and none of c's (or the global)
 * address and host allow-lists covers its flow.
 */
bool dlp_detect__combination_counts(const dlp_ruleset_t *rs, const dlp_rule_t *c,
                                    const dlp_value_t *v);

/* Whether one of the context's words is within its window around win[vs, ve). */
bool dlp_detect__context(const dlp_rule_context_t *c, const uint8_t *win, size_t len, size_t vs,
                         size_t ve);

/* Whether 'host' matches one of the allow-list host patterns. */
bool dlp_detect__host_allowed(const dlp_rule_allow_t *a, const char *host);

/* Whether an allow-list or an exact-data list needs the value's keyed hash. */
static inline bool dlp_detect__needs_hmac(const dlp_ruleset_t *rs, const dlp_rule_t *r)
{
    return r->allow.nhmacs > 0 || rs->allow.nhmacs > 0 || r->edm.on;
}

/* --- aggregate.c: distinct values per rule, sender and receiver, across flows --- */


typedef struct dlp_agg_value {
    uint32_t rule;
    const uint8_t *src, *dst; /* 16 bytes each: the sender and the receiver of the value */
    uint64_t fp;              /* the value's fingerprint */
    uint64_t flow;            /* flow_id */
    uint64_t ts_us;           /* packet time */
    uint32_t values;          /* the rule's aggregate: values ... */
    uint64_t window_us;       /* ... within this window */
    bool held;                /* the flow already raised the rule: a count met waits */
} dlp_agg_value_t;

/* memcap: bytes of state; past it the least recently touched pairs go. */
dlp_agg_t *dlp_agg_new(size_t memcap, uint64_t seed);
void dlp_agg_free(dlp_agg_t *a);
typedef enum { DLP_AGG_COUNTED = 0, DLP_AGG_MET, DLP_AGG_NOMEM } dlp_agg_rc_t;

/*
 * A new value of the flow: DLP_AGG_MET when it makes the pair's distinct
 * values in the window reach v->values (the pair then starts counting anew),
 * with *flows the number of flows they came in; DLP_AGG_NOMEM when it could
 * not be counted. *evicted grows by the pairs dropped for memory.
 */
dlp_agg_rc_t dlp_agg_add(dlp_agg_t *a, const dlp_agg_value_t *v, uint32_t *flows,
                         uint64_t *evicted);
size_t dlp_agg_mem(const dlp_agg_t *a);

#endif
