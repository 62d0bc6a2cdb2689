/*
 * engine.c - detection generations: reference counting, publication, and
 * the stable counter slots of rule names.
 *
 * The publication lock is taken by a worker once per reload (to take its
 * reference) and by the control thread to swap; the packet path only reads
 * the generation number. A lock-free swap would need the reader to load
 * the pointer and count its reference in one step, which needs hazard
 * pointers or RCU for no gain at this rate.
 */
#include "dlp/engine.h"

#include <stdlib.h>
#include <string.h>

dlp_engine_t *dlp_engine_new(dlp_ruleset_t *rules, dlp_matcher_t *matcher, uint32_t *slots,
                             uint32_t gen)
{
    dlp_engine_t *e = calloc(1, sizeof(*e));

    if (e == NULL) {
        dlp_matcher_free(matcher);
        dlp_ruleset_free(rules);
        free(slots);
        return NULL;
    }
    e->rules = rules;
    e->matcher = matcher;
    e->slots = slots;
    e->gen = gen;
    atomic_init(&e->refs, 1);
    return e;
}

dlp_engine_t *dlp_engine_ref(dlp_engine_t *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void dlp_engine_unref(dlp_engine_t *e)
{
    if (e == NULL || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    dlp_matcher_free(e->matcher);
    dlp_ruleset_free(e->rules);
    free(e->slots);
    free(e);
}

void dlp_engine_current_init(dlp_engine_current_t *c, dlp_engine_t *e)
{
    pthread_mutex_init(&c->lock, NULL);
    c->e = e;
    atomic_init(&c->gen, e->gen);
}

void dlp_engine_current_fini(dlp_engine_current_t *c)
{
    dlp_engine_unref(c->e);
    c->e = NULL;
    pthread_mutex_destroy(&c->lock);
}

dlp_engine_t *dlp_engine_current_get(dlp_engine_current_t *c)
{
    dlp_engine_t *e;

    pthread_mutex_lock(&c->lock);
    e = dlp_engine_ref(c->e);
    pthread_mutex_unlock(&c->lock);
    return e;
}

void dlp_engine_current_set(dlp_engine_current_t *c, dlp_engine_t *e)
{
    dlp_engine_t *old;

    pthread_mutex_lock(&c->lock);
    old = c->e;
    c->e = e;
    atomic_store_explicit(&c->gen, e->gen, memory_order_release);
    pthread_mutex_unlock(&c->lock);
    dlp_engine_unref(old);
}

static int64_t slot_find(const dlp_rule_slots_t *s, const char *name)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return i;
    return -1;
}

dlp_rc_t dlp_rule_slots_assign(dlp_rule_slots_t *s, const dlp_ruleset_t *rs, uint32_t **out)
{
    uint32_t *slots = calloc(rs->n + 1, sizeof(*slots));
    uint32_t n0 = s->n;
    dlp_rc_t rc = DLP_ELIMIT;

    *out = NULL;
    if (slots == NULL)
        return DLP_ENOMEM;
    for (size_t i = 0; i < rs->n; i++) {
        int64_t k = slot_find(s, rs->rules[i].name);
        if (k < 0) {
            char **v;
            if (s->n == DLP_RULE_SLOTS_MAX)
                goto fail;
            v = realloc(s->names, (s->n + 1) * sizeof(*v));
            if (v == NULL || (v[s->n] = strdup(rs->rules[i].name)) == NULL) {
                if (v != NULL)
                    s->names = v;
                rc = DLP_ENOMEM;
                goto fail;
            }
            s->names = v;
            k = s->n++;
        }
        slots[i] = (uint32_t)k;
    }
    *out = slots;
    return DLP_OK;
fail:
    /* The set is refused: the names it added take no slot (a later set that
     * fits must not find the table full of a set that never loaded). */
    while (s->n > n0)
        free(s->names[--s->n]);
    free(slots);
    return rc;
}

void dlp_rule_slots_fini(dlp_rule_slots_t *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        free(s->names[i]);
    free(s->names);
    s->names = NULL;
    s->n = 0;
}
