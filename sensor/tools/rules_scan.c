/*
 * rules_scan.c - text through the real detect stage, as the sensor scans a
 * flow: a new flow per scan, the bytes written as a stream (or one block),
 * the stream closed, the flow reported; the values are read back from the
 * DLP_EV_FLOW_RULE records the stage pushes on its ring.
 *
 * Relaxed copies of a rule set (policies turned off) let the tools show
 * why a value was suppressed: a value reported with a policy off but not
 * with it on was suppressed by that policy. The copies share everything
 * but the rules array with the set they copy, and keep its order, so the
 * matcher built on the original serves them all (it reads no rule at scan
 * time).
 *
 * Thread: the tools' one thread.
 */
#include <stdlib.h>
#include <string.h>

#include "dlp/detect.h"
#include "dlp/ring.h"
#include "dlp/stats.h"
#include "rulescmd_int.h"

struct dlp_rulescmd_scanner {
    const dlp_ruleset_t *rs;
    dlp_ring_t *ring;
    dlp_stats_t st;
    dlp_detect_t *d;
    dlp_field_t field;
    char app_proto[32];
    uint64_t flow_id;
};

static void relax_allow(dlp_rule_allow_t *a, unsigned how)
{
    if (how & (RC_NO_ADDR | RC_NO_ALLOW)) {
        a->src.n = 0;
        a->dst.n = 0;
        a->nhosts = 0;
    }
    if (how & RC_NO_ALLOW) {
        a->nvalues = 0;
        a->nhmacs = 0;
    }
}

dlp_ruleset_t *dlp_rulescmd__copy(const dlp_ruleset_t *rs, unsigned how)
{
    dlp_ruleset_t *c = malloc(sizeof(*c));

    if (c == NULL)
        return NULL;
    *c = *rs;
    c->rules = malloc((rs->n ? rs->n : 1) * sizeof(*c->rules));
    if (c->rules == NULL) {
        free(c);
        return NULL;
    }
    if (rs->n > 0)
        memcpy(c->rules, rs->rules, rs->n * sizeof(*c->rules));
    relax_allow(&c->allow, how);
    for (size_t i = 0; i < c->n; i++) {
        dlp_rule_t *r = &c->rules[i];
        if (how & RC_ENABLE_ALL)
            r->enabled = true;
        if (how & RC_NO_FIELDS)
            r->fields = 0;
        if (how & RC_NO_PROTOCOLS)
            r->nprotocols = 0;
        if (how & RC_NO_REQUIRED)
            r->context.required = false;
        if (how & RC_NO_EXCLUDE)
            r->exclude.nwords = 0;
        if (how & RC_TEST_VALUES)
            r->test_values = true;
        if (how & RC_NO_EDM)
            r->edm.on = false;
        relax_allow(&r->allow, how);
    }
    return c;
}

void dlp_rulescmd__copy_free(dlp_ruleset_t *c)
{
    if (c == NULL)
        return;
    free(c->rules);
    free(c);
}

void dlp_rulescmd__found_fini(dlp_rulescmd_found_t *f)
{
    free(f->v);
    free(f->count);
    memset(f, 0, sizeof(*f));
}

dlp_rulescmd_scanner_t *dlp_rulescmd__scanner_new(const dlp_ruleset_t *rs, const dlp_matcher_t *m,
                                                  const uint8_t *key, size_t key_len)
{
    dlp_rulescmd_scanner_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->rs = rs;
    /* At most a dlp and a flow-rule record per rule between two drains. */
    s->ring = dlp_ring_new(sizeof(dlp_event_t), 2 * rs->n + 16);
    dlp_stats_init(&s->st);
    if (s->ring != NULL)
        s->d = dlp_detect_new(&(dlp_detect_params_t){
            .rules = rs,
            .matcher = m,
            .hmac_key = key,
            .hmac_key_len = key_len,
            .events = s->ring,
            .wait = false,
            .stats = &s->st,
        });
    if (s->d == NULL) {
        dlp_rulescmd__scanner_free(s);
        return NULL;
    }
    s->field = DLP_FIELD_RAW;
    return s;
}

void dlp_rulescmd__scanner_free(dlp_rulescmd_scanner_t *s)
{
    if (s == NULL)
        return;
    dlp_detect_free(s->d);
    dlp_ring_free(s->ring);
    free(s);
}

void dlp_rulescmd__scanner_where(dlp_rulescmd_scanner_t *s, dlp_field_t field,
                                 const char *app_proto)
{
    s->field = field;
    snprintf(s->app_proto, sizeof(s->app_proto), "%s", app_proto ? app_proto : "");
}

static bool found_reset(dlp_rulescmd_found_t *f, size_t nrules)
{
    f->n = 0;
    f->lost = false;
    if (f->count == NULL || f->nrules != nrules) {
        free(f->count);
        f->count = calloc(nrules ? nrules : 1, sizeof(*f->count));
        if (f->count == NULL)
            return false;
        f->nrules = nrules;
    }
    memset(f->count, 0, nrules * sizeof(*f->count));
    return true;
}

static bool found_add(dlp_rulescmd_found_t *f, uint32_t rule, const dlp_ev_match_t *m)
{
    dlp_rulescmd_value_t *v;

    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 32;
        v = realloc(f->v, cap * sizeof(*v));
        if (v == NULL)
            return false;
        f->v = v;
        f->cap = cap;
    }
    v = &f->v[f->n++];
    memset(v, 0, sizeof(*v));
    v->rule = rule;
    v->offset = m->offset;
    memcpy(v->masked, m->masked, sizeof(v->masked));
    v->masked[sizeof(v->masked) - 1] = '\0';
    memcpy(v->hmac, m->hmac, sizeof(v->hmac));
    v->hmac[sizeof(v->hmac) - 1] = '\0';
    v->confidence = m->confidence;
    v->field = m->field;
    return true;
}

/* The flow-rule records on the ring into 'out'; dlp records are dropped
 * (the flow-rule record of the same rule carries all their values). */
static bool drain(dlp_rulescmd_scanner_t *s, dlp_rulescmd_found_t *out)
{
    static dlp_event_t ev;
    bool ok = true;

    while (dlp_ring_pop(s->ring, &ev)) {
        const dlp_rule_t *r;
        if (ev.type != DLP_EV_FLOW_RULE || ev.u.rule.combination)
            continue;
        r = dlp_ruleset_find(s->rs, ev.u.rule.name);
        if (r == NULL)
            continue;
        uint32_t idx = (uint32_t)(r - s->rs->rules);
        out->count[idx] = ev.u.rule.count;
        for (unsigned k = 0; k < ev.u.rule.nmatches && k < DLP_EV_MAX_MATCHES; k++)
            ok = ok && found_add(out, idx, &ev.u.rule.m[k]);
    }
    return ok;
}

static dlp_detect_flow_t *new_flow(dlp_rulescmd_scanner_t *s)
{
    dlp_ev_flowinfo_t fi;
    dlp_detect_flow_t *df;

    memset(&fi, 0, sizeof(fi));
    fi.flow_id = ++s->flow_id;
    fi.proto = 6;
    df = dlp_detect_flow_new(s->d, &fi);
    if (df != NULL && s->app_proto[0] != '\0')
        dlp_detect_flow_set_app(df, s->app_proto, NULL);
    return df;
}

dlp_rc_t dlp_rulescmd__scan(dlp_rulescmd_scanner_t *s, const uint8_t *p, size_t n, size_t chunk,
                            dlp_rulescmd_found_t *out)
{
    uint64_t dropped = dlp_stat_get(&s->st, DLP_STAT_EVENTS_DROPPED);
    dlp_detect_flow_t *df;
    bool ok;

    if (!found_reset(out, s->rs->n) || (df = new_flow(s)) == NULL)
        return DLP_ENOMEM;
    if (chunk == 0) {
        dlp_detect_block(s->d, df, 0, s->field, p, n, 0, 1);
    } else {
        dlp_detect_stream_t *st = dlp_detect_stream_new(s->d, df, 0, s->field, NULL);
        if (st == NULL) {
            dlp_detect_flow_free(s->d, df);
            return DLP_ENOMEM;
        }
        for (size_t o = 0; o < n; o += chunk)
            dlp_detect_write(s->d, st, p + o, n - o < chunk ? n - o : chunk, 1);
        dlp_detect_close(s->d, st, 2);
    }
    ok = drain(s, out);
    dlp_detect_flow_report(s->d, df, 3);
    ok = drain(s, out) && ok;
    dlp_detect_flow_free(s->d, df);
    out->lost = dlp_stat_get(&s->st, DLP_STAT_EVENTS_DROPPED) != dropped;
    return ok ? DLP_OK : DLP_ENOMEM;
}

const _Atomic uint64_t *dlp_rulescmd__rstats(const dlp_rulescmd_scanner_t *s)
{
    size_t n = 0;
    return dlp_detect_rule_stats(s->d, &n);
}

uint64_t dlp_rulescmd__rstat(const dlp_rulescmd_scanner_t *s, size_t rule, dlp_rstat_t k)
{
    return atomic_load_explicit(&dlp_rulescmd__rstats(s)[rule * DLP_RSTAT__COUNT + k],
                                memory_order_relaxed);
}
