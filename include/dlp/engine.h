/*
 * engine.h - one generation of the detection set-up (a rule set and its
 * compiled matcher), shared by the workers and replaced as a whole by a
 * reload.
 *
 * Life: the control thread builds an engine (off the packet path) and
 * publishes it in a dlp_engine_current_t. A worker notices the new
 * generation at a batch boundary (one atomic load per batch), takes a
 * reference under the publication lock (once per reload, never per
 * packet), and gives its new flows the new engine; flows already open go
 * on with the engine they started with, and the worker drops its
 * reference when the last of them ends. The last reference frees the
 * rules and the matcher.
 *
 * Per-rule counters must survive reloads: every rule name ever loaded gets
 * a stable slot (dlp_rule_slots_t), and counters are kept per slot, so a
 * rule that stays keeps counting and a rule that comes back resumes.
 */
#ifndef DLP_ENGINE_H
#define DLP_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "dlp/limits.h"
#include "dlp/match.h"
#include "dlp/rc.h"
#include "dlp/rules.h"


typedef struct dlp_engine {
    dlp_ruleset_t *rules;
    dlp_matcher_t *matcher;
    uint32_t *slots;      /* [rules->n]: the counter slot of each rule */
    uint32_t gen;         /* 1 for the rules loaded at start, +1 per reload */
    atomic_uint refs;
} dlp_engine_t;

/* Takes ownership of rules, matcher and slots (also on failure: NULL). */
dlp_engine_t *dlp_engine_new(dlp_ruleset_t *rules, dlp_matcher_t *matcher, uint32_t *slots,
                             uint32_t gen);
dlp_engine_t *dlp_engine_ref(dlp_engine_t *e);
void dlp_engine_unref(dlp_engine_t *e); /* accepts NULL */

/* The engine in force. */
typedef struct dlp_engine_current {
    pthread_mutex_t lock;
    dlp_engine_t *e;
    atomic_uint gen;
} dlp_engine_current_t;

/* Takes the caller's reference to e. */
void dlp_engine_current_init(dlp_engine_current_t *c, dlp_engine_t *e);
void dlp_engine_current_fini(dlp_engine_current_t *c);
/* A new reference to the engine in force. */
dlp_engine_t *dlp_engine_current_get(dlp_engine_current_t *c);
/* Publishes e (takes the caller's reference) and drops the old one's. */
void dlp_engine_current_set(dlp_engine_current_t *c, dlp_engine_t *e);
/* The generation in force: cheap, for polling at batch boundaries. */
static inline uint32_t dlp_engine_current_gen(const dlp_engine_current_t *c)
{
    return atomic_load_explicit(&((dlp_engine_current_t *)c)->gen, memory_order_acquire);
}

/* Rule name -> counter slot, stable over a run. Control thread only. */
typedef struct dlp_rule_slots {
    char **names;
    uint32_t n;
} dlp_rule_slots_t;

/*
 * The slot of each rule of rs (*out: owned, [rs->n]), giving new names new
 * slots. DLP_ELIMIT when more than DLP_RULE_SLOTS_MAX names would be needed
 * (DLP_ENOMEM without memory); on failure s is as before (no name added).
 */
dlp_rc_t dlp_rule_slots_assign(dlp_rule_slots_t *s, const dlp_ruleset_t *rs, uint32_t **out);
void dlp_rule_slots_fini(dlp_rule_slots_t *s);

#endif
