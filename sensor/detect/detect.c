/*
 * detect.c - matches -> validated values -> distinct values per (flow,
 * rule) -> dlp events.
 *
 * Design: the matcher reports where a rule's pattern matched, with the
 * bytes before the match and up to DLP_MATCH_AFTER bytes after it that
 * the current write holds. When DLP_DETECT_LOOKAHEAD bytes after it are
 * there, the rule's validator decides at once, seeing both sides of the
 * value; otherwise the match waits as a pending candidate until the next
 * write (or the end of the stream, or a gap), and is decided on the bytes
 * still in the matcher's tail plus the head of that write. A value is normalized,
 * fingerprinted and, when it is to be reported, HMAC'd and masked
 * immediately; the raw bytes are never stored or copied anywhere but the
 * stack window. Distinct values are counted by a 64-bit keyed fingerprint
 * in a small hash set per (flow, rule); only the first DLP_EV_MAX_MATCHES
 * of them are HMAC'd and kept for events (the HMAC is the costly part when
 * a flow carries thousands of addresses).
 *
 * Invariants: a (flow, rule) raises at most one dlp event, when its count of
 * distinct values first reaches the rule's threshold; the event goes out at
 * the end of that write (or of the next one, when candidates of the write
 * still wait for their lookahead), so values that arrived together are
 * reported together; values found later go to the flow event
 * (dlp_detect_flow_report).
 *
 * Threading: one worker owns a dlp_detect_t and all its flows and streams.
 */
#include "dlp/detect.h"

#include <assert.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"
#include "dlp/hash.h"
#include "dlp/limits.h"
#include "dlp/validate.h"

/*
 * A candidate stays pending only while its lookahead is unscanned, so its
 * bytes [start - PRE, end + LOOKAHEAD) are always within the tail the
 * matcher keeps plus the next write.
 */
_Static_assert(DLP_DETECT_PRE + DLP_MATCH_TAIL + DLP_DETECT_LOOKAHEAD <= DLP_MATCH_KEEP,
              "the matcher's tail must hold a value with its context on both sides");
_Static_assert(DLP_DETECT_LOOKAHEAD <= DLP_MATCH_AFTER,
              "the matcher's window must carry the lookahead when it is known");

typedef struct cand {
    uint32_t rule;
    uint64_t start, end; /* stream offsets of the match */
    uint64_t ts_us;      /* packet time of the write that matched */
} cand_t;

/* What a flow found for one rule. */
typedef struct rstate {
    struct rstate *next;
    uint32_t rule;
    uint32_t count;    /* distinct values */
    uint8_t reported;  /* the dlp event was raised (or is due) */
    uint8_t due;       /* the threshold was met: the event goes out after this write */
    uint8_t due_dir;
    const void *due_src; /* the stream whose write met it (NULL: a block) */
    uint64_t due_until;  /* ... and that write's end offset */
    uint64_t due_ts;     /* packet time the threshold was met */
    uint8_t nm;
    uint8_t confidence; /* the highest of its values' */
    uint32_t agg_values, agg_flows; /* the rule's aggregate: was met in this flow */
    dlp_ev_match_t m[DLP_EV_MAX_MATCHES];
    uint64_t *seen;    /* open-addressed set of fingerprints (0 = empty slot) */
    uint32_t nseen, capseen; /* entries, slots (a power of two) */
} rstate_t;

/* Per combination rule: the linkable rules found so far in the flow. */
typedef struct cstate {
    uint64_t found;    /* bit per position in the combination's rule list */
    uint32_t weight;
    uint8_t reported;
} cstate_t;

struct dlp_detect_flow {
    dlp_ev_flowinfo_t fi;
    rstate_t *rules;
    cstate_t *combo;   /* [d->ncombo], at the first linkable value */
    char *hosts[DLP_DETECT_HOSTS_MAX];
    size_t nhosts;
    bool hosts_overflow; /* a host was not remembered */
    uint16_t alerts;
    uint16_t due;      /* rules with an event due */
    size_t mem;
    dlp_detect_value_fn value_fn; /* evidence captures: where values are */
    void *value_ctx;
};

/* The last candidate that gave a value: its rule, match start, value end
 * (a value ends after offset 0: vend 0 is none). */
typedef struct last_value {
    uint32_t rule;
    uint64_t start, vend;
} last_value_t;

struct dlp_detect_stream {
    dlp_detect_flow_t *df;
    dlp_match_stream_t *ms;
    uint8_t dir;
    uint8_t field;
    char name[64];
    uint32_t npend;
    cand_t *pend; /* DLP_DETECT_PENDING slots, allocated at the first match */
    last_value_t last;
};

struct dlp_detect {
    dlp_detect_params_t p;
    dlp_match_scratch_t *scratch;
    EVP_MAC *mac_alg;
    EVP_MAC_CTX *mac;       /* HMAC-SHA256 with the key, ready to re-init */
    uint64_t fp_seed;       /* keyed seed of the dedup fingerprints */
    size_t nrules;
    _Atomic uint64_t *rstats;
    _Atomic uint64_t *own_rstats;
    /* combination rules: their indexes, and for each rule where it counts */
    uint32_t *combo_rule;   /* [ncombo] rule index of each combination rule */
    size_t ncombo;
    struct combo_ref {
        uint32_t combo, pos, weight;
    } **refs;               /* [nrules] -> list ended by combo == UINT32_MAX, or NULL */
    dlp_agg_t *agg;         /* distinct values across flows (rules with aggregate:), or NULL */
    dlp_agg_t *own_agg;     /* ... when the caller keeps none (params.agg NULL) */
    last_value_t block_last; /* decide_cand() in the block scan in progress */
    /* the scan in progress, for the matcher's callbacks */
    dlp_detect_stream_t *cur;
    dlp_detect_flow_t *cur_flow;
    uint8_t cur_dir, cur_field;
    const char *cur_name; /* file name of the stream's content, or "" */
    uint64_t write_end; /* stream offset after the write being scanned */
    bool immediate; /* end of data: decide candidates now, on the callback's window */
    uint64_t now_us;
    struct redact *redact; /* dlp_detect_redact() in progress: matches go there */
    uint8_t win[DLP_DETECT_PRE + DLP_MATCH_TAIL + DLP_DETECT_LOOKAHEAD];
};

static void rstat_inc(dlp_detect_t *d, uint32_t rule, dlp_rstat_t k)
{
    uint32_t slot = d->p.slots != NULL ? d->p.slots[rule] : rule;
    _Atomic uint64_t *c = &d->rstats[slot * DLP_RSTAT__COUNT + k];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* --- values ------------------------------------------------------------- */

/* The first 16 bytes of HMAC-SHA256(key, norm). */
static bool hmac16(dlp_detect_t *d, const char *norm, size_t n, uint8_t out[16])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;

    /* Re-initialising with no key reuses the prepared key schedule. */
    if (EVP_MAC_init(d->mac, NULL, 0, NULL) != 1 ||
        EVP_MAC_update(d->mac, (const unsigned char *)norm, n) != 1 ||
        EVP_MAC_final(d->mac, md, &mdlen, sizeof(md)) != 1 || mdlen < 16)
        return false;
    memcpy(out, md, 16);
    OPENSSL_cleanse(md, sizeof(md));
    return true;
}

static void hex16(const uint8_t md[16], char hex[33])
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[32] = '\0';
}

static void hmac_hex(dlp_detect_t *d, const char *norm, size_t n, char hex[33])
{
    uint8_t md[16];

    if (!hmac16(d, norm, n, md)) {
        snprintf(hex, 33, "%s", "error");
        return;
    }
    hex16(md, hex);
}

static rstate_t *rstate_get(dlp_detect_flow_t *df, uint32_t rule)
{
    rstate_t *rs;

    for (rs = df->rules; rs != NULL; rs = rs->next)
        if (rs->rule == rule)
            return rs;
    rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    rs->rule = rule;
    rs->next = df->rules;
    df->rules = rs;
    df->mem += sizeof(*rs);
    return rs;
}

static void set_insert(uint64_t *slots, uint32_t cap, uint64_t fp)
{
    uint32_t i = (uint32_t)fp & (cap - 1);

    while (slots[i] != 0)
        i = (i + 1) & (cap - 1);
    slots[i] = fp;
}

/* Doubles the set (load kept under 1/2). false when out of memory. */
static bool set_grow(dlp_detect_flow_t *df, rstate_t *rs)
{
    uint32_t cap = rs->capseen ? rs->capseen * 2 : 16;
    uint64_t *v = calloc(cap, sizeof(*v));

    if (v == NULL)
        return false;
    for (uint32_t i = 0; i < rs->capseen; i++)
        if (rs->seen[i] != 0)
            set_insert(v, cap, rs->seen[i]);
    df->mem += (size_t)(cap - rs->capseen) * sizeof(*v);
    free(rs->seen);
    rs->seen = v;
    rs->capseen = cap;
    return true;
}

/* Returns true if fp is new (and remembers it while there is room). */
static bool rstate_add_fp(dlp_detect_flow_t *df, rstate_t *rs, uint64_t fp)
{
    if (fp == 0)
        fp = 1;
    for (uint32_t i = (uint32_t)fp & (rs->capseen - 1); rs->capseen != 0 && rs->seen[i] != 0;
         i = (i + 1) & (rs->capseen - 1))
        if (rs->seen[i] == fp)
            return false;
    /* Beyond the bound a value cannot be remembered: it counts as new. */
    if (rs->nseen >= DLP_DETECT_MAX_DISTINCT)
        return true;
    if (2 * (rs->nseen + 1) > rs->capseen && !set_grow(df, rs))
        return true;
    set_insert(rs->seen, rs->capseen, fp);
    rs->nseen++;
    return true;
}

static void fill_rule(const dlp_rule_t *r, const rstate_t *rs, dlp_ev_rule_t *er)
{
    er->rule_id = r->id;
    snprintf(er->name, sizeof(er->name), "%s", r->name);
    er->category = (uint8_t)r->category;
    er->severity = (uint8_t)r->severity;
    er->confidence = rs->confidence;
    er->count = rs->count;
    er->agg_values = rs->agg_values;
    er->agg_flows = rs->agg_flows;
    er->agg_window_s = rs->agg_values > 0 ? r->aggregate.window_s : 0;
    er->nmatches = rs->nm;
    memcpy(er->m, rs->m, rs->nm * sizeof(rs->m[0]));
}

/* The dlp event reports the leaking direction: src is its sender. */
static void oriented(const dlp_ev_flowinfo_t *fi, int dir, dlp_ev_flowinfo_t *out)
{
    *out = *fi;
    if (dir == 0)
        return;
    memcpy(out->src, fi->dst, 16);
    memcpy(out->dst, fi->src, 16);
    out->sport = fi->dport;
    out->dport = fi->sport;
}

static void combination_found(dlp_detect_t *d, dlp_detect_flow_t *df, uint32_t rule, int dir,
                              const dlp_value_t *v);
static void fill_combination(const dlp_detect_t *d, const dlp_detect_flow_t *df, uint32_t crule,
                             dlp_ev_rule_t *er);

static void raise_alert(dlp_detect_t *d, dlp_detect_flow_t *df, const rstate_t *rs, int dir)
{
    static _Thread_local dlp_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = DLP_EV_DLP;
    ev.ts_us = rs->due_ts;
    oriented(&df->fi, dir, &ev.fl);
    fill_rule(&d->p.rules->rules[rs->rule], rs, &ev.u.rule);
    if (d->p.rules->rules[rs->rule].combination.min_weight > 0)
        fill_combination(d, df, rs->rule, &ev.u.rule);
    df->alerts++;
    rstat_inc(d, rs->rule, DLP_RSTAT_ALERTS);
    dlp_stat_inc(d->p.stats, DLP_STAT_ALERTS);
    dlp_alert_push(d->p.events, &ev, d->p.wait, d->p.stop, d->p.stats);
}


/*
 * A new value of a rule with aggregate: counted for its sender and
 * receiver across flows; true when that makes the rule's event due here.
 */
static bool aggregate_met(dlp_detect_t *d, dlp_detect_flow_t *df, rstate_t *rs, int dir,
                          uint64_t fp)
{
    const dlp_rule_t *r = &d->p.rules->rules[rs->rule];
    uint64_t evicted = 0;
    uint32_t flows = 0;
    dlp_agg_rc_t rc;

    if (d->agg == NULL || r->aggregate.values == 0)
        return false;
    dlp_agg_value_t v = {
        .rule = d->p.slots != NULL ? d->p.slots[rs->rule] : rs->rule, /* stable over reloads */
        .src = dir == 0 ? df->fi.src : df->fi.dst,
        .dst = dir == 0 ? df->fi.dst : df->fi.src,
        .fp = fp,
        .flow = df->fi.flow_id,
        .ts_us = d->now_us,
        .values = r->aggregate.values,
        .window_us = (uint64_t)r->aggregate.window_s * 1000000u,
        .held = rs->reported != 0,
    };

    rc = dlp_agg_add(d->agg, &v, &flows, &evicted);
    if (evicted > 0)
        dlp_stat_add(d->p.stats, DLP_STAT_DETECT_AGG_EVICTIONS, evicted);
    if (rc == DLP_AGG_NOMEM)
        dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_ALLOC_FAIL);
    if (rc != DLP_AGG_MET)
        return false;
    rs->agg_values = r->aggregate.values;
    rs->agg_flows = flows;
    return true;
}

/* Marks the rule's event due once its threshold is met (sent after this write). */
static void threshold_check(dlp_detect_t *d, dlp_detect_flow_t *df, rstate_t *rs, int dir,
                            bool aggregated)
{
    if (rs->reported || (rs->count < d->p.rules->rules[rs->rule].threshold && !aggregated))
        return;
    /* Not sent yet: the other values of this write join the event. */
    rs->reported = 1;
    rs->due = 1;
    rs->due_dir = (uint8_t)dir;
    rs->due_src = d->cur;
    rs->due_until = d->write_end;
    rs->due_ts = d->now_us;
    df->due++;
}

/*
 * A value that passed validation and policy, normalized, at stream offset
 * 'off'; 'md' its keyed hash when already computed (else NULL).
 */
static void record_value(dlp_detect_t *d, dlp_detect_flow_t *df, int dir, uint8_t field,
                         uint32_t rule, const char *norm, size_t nl, const uint8_t *md,
                         dlp_confidence_t conf, uint64_t off)
{
    const dlp_rule_t *r = &d->p.rules->rules[rule];
    rstate_t *rs = rstate_get(df, rule);
    uint64_t fp = dlp_hash_bytes(norm, nl, d->fp_seed);

    if (rs == NULL || !rstate_add_fp(df, rs, fp))
        return;
    rs->count++;
    if (conf > rs->confidence)
        rs->confidence = (uint8_t)conf;
    rstat_inc(d, rule, DLP_RSTAT_VALUES);
    if (rs->nm < DLP_EV_MAX_MATCHES) {
        dlp_ev_match_t *m = &rs->m[rs->nm++];
        m->offset = off;
        if (md != NULL)
            hex16(md, m->hmac);
        else
            hmac_hex(d, norm, nl, m->hmac);
        dlp_mask(r->mask, norm, nl, m->masked, sizeof(m->masked));
        m->field = field;
        m->confidence = (uint8_t)conf;
        snprintf(m->name, sizeof(m->name), "%s", d->cur_name != NULL ? d->cur_name : "");
        m->dir = (uint8_t)dir;
    }
    threshold_check(d, df, rs, dir, aggregate_met(d, df, rs, dir, fp));
}

static void policy_count(dlp_detect_t *d, uint32_t rule, dlp_policy_t pol)
{
    static const dlp_rstat_t stat[] = {
        [DLP_POL_FILTERED] = DLP_RSTAT_FILTERED,
        [DLP_POL_CONTEXT] = DLP_RSTAT_CONTEXT,
        [DLP_POL_ALLOWED] = DLP_RSTAT_ALLOWED,
        [DLP_POL_TEST_VALUE] = DLP_RSTAT_TEST_VALUES,
        [DLP_POL_UNLISTED] = DLP_RSTAT_UNLISTED,
    };
    rstat_inc(d, rule, stat[pol]);
}

/*
 * Validates the candidate win[start, end) of 'rule'; win[0] is at stream
 * offset base. True when it is a value (whatever the policy then says), its
 * end in *vend.
 */
static bool decide(dlp_detect_t *d, dlp_detect_flow_t *df, int dir, uint8_t field,
                   uint32_t rule, const uint8_t *win, size_t len, size_t start, size_t end,
                   uint64_t base, uint64_t *vend)
{
    const dlp_rule_t *r = &d->p.rules->rules[rule];
    char norm[DLP_DETECT_VALUE_MAX];
    uint8_t md[16];
    dlp_value_t v = {.r = r, .win = win, .len = len, .field = (dlp_field_t)field};
    dlp_confidence_t conf = DLP_CONF_LOW;
    dlp_policy_t pol;

    rstat_inc(d, rule, DLP_RSTAT_CANDIDATES);
    if (!dlp_validate(r->validator, win, len, start, end, &v.vs, &v.ve)) {
        rstat_inc(d, rule, DLP_RSTAT_REJECTED);
        return false;
    }
    dlp_value_narrow(r->value, win, &v.vs, &v.ve);
    *vend = base + v.ve;
    if (df->value_fn != NULL) /* evidence: the value's place, whatever the policy says */
        df->value_fn(df->value_ctx, dir, base + v.vs, v.ve - v.vs);
    v.nl = dlp_normalize(r->norm, win + v.vs, v.ve - v.vs, norm, sizeof(norm));
    v.norm = norm;
    v.app_proto = df->fi.app_proto;
    v.src = dir == 0 ? df->fi.src : df->fi.dst;
    v.dst = dir == 0 ? df->fi.dst : df->fi.src;
    v.hosts = (const char *const *)df->hosts;
    v.nhosts = df->hosts_overflow ? 0 : df->nhosts;
    if (dlp_detect__needs_hmac(d->p.rules, r) && hmac16(d, norm, v.nl, md))
        v.hmac16 = md;
    pol = dlp_detect__policy(d->p.rules, &v, &conf);
    if (pol == DLP_POL_REPORT) {
        record_value(d, df, dir, field, rule, norm, v.nl, v.hmac16, conf, base + v.vs);
        /* Also when the value is not new to its rule: a combination that did
         * not count it where it was seen before may count it here. */
        if (d->refs[rule] != NULL)
            combination_found(d, df, rule, dir, &v);
    } else
        policy_count(d, rule, pol);
    /* Nothing of the value may outlive this function but its mask and hash. */
    memset(norm, 0, sizeof(norm));
    return true;
}

/*
 * decide() for a candidate at stream offsets [mstart, mend); 'last' is the
 * last value its stream (or block scan) gave. A pattern can end at several
 * places inside one value ("x@mail.example" and "x@mail.example.com": a \b
 * after each label): a candidate with the start of the last value's match
 * that ends within that value is that value again, counted as a candidate
 * and not decided twice (the validator would widen it to the same bytes).
 */
static void decide_cand(dlp_detect_t *d, last_value_t *last, dlp_detect_flow_t *df, int dir,
                        uint8_t field, uint32_t rule, const uint8_t *win, size_t len,
                        size_t start, size_t end, uint64_t base)
{
    uint64_t mstart = base + start, mend = base + end, vend = 0;

    if (last->vend != 0 && last->rule == rule && last->start == mstart && mend <= last->vend) {
        rstat_inc(d, rule, DLP_RSTAT_CANDIDATES);
        return;
    }
    if (decide(d, df, dir, field, rule, win, len, start, end, base, &vend))
        *last = (last_value_t){.rule = rule, .start = mstart, .vend = vend};
}

/* --- re-identification ------------------------------------------------------ */

/*
 * A linkable rule reported a value (new or not): in each combination rule
 * that counts it, its category is now present; when their weights reach the rule's
 * min_weight, one event lists the categories (never values). Linked
 * identifiers in the same flow raise its severity a step.
 */
static void combination_found(dlp_detect_t *d, dlp_detect_flow_t *df, uint32_t rule, int dir,
                              const dlp_value_t *v)
{
    if (df->combo == NULL) {
        df->combo = calloc(d->ncombo, sizeof(*df->combo));
        if (df->combo == NULL)
            return;
        df->mem += d->ncombo * sizeof(*df->combo);
    }
    for (const struct combo_ref *ref = d->refs[rule]; ref->combo != UINT32_MAX; ref++) {
        cstate_t *cs = &df->combo[ref->combo];
        uint32_t crule = d->combo_rule[ref->combo];
        if (cs->found & (1ULL << ref->pos))
            continue;
        /* The combination's own protocols, fields and allow-lists decide
         * whether this value counts towards it. */
        if (!dlp_detect__combination_counts(d->p.rules, &d->p.rules->rules[crule], v)) {
            rstat_inc(d, crule, DLP_RSTAT_FILTERED);
            continue;
        }
        cs->found |= 1ULL << ref->pos;
        cs->weight += ref->weight;
        if (cs->reported || cs->weight < d->p.rules->rules[crule].combination.min_weight)
            continue;
        cs->reported = 1;
        rstate_t *rs = rstate_get(df, crule);
        if (rs == NULL)
            continue;
        rs->reported = 1;
        /* Several attributes together: stronger than any one pattern alone. */
        rs->confidence = DLP_CONF_MEDIUM;
        rs->due = 1;
        rs->due_dir = (uint8_t)dir;
        rs->due_src = d->cur;
        rs->due_until = d->write_end;
        rs->due_ts = d->now_us;
        df->due++;
    }
}

/* The event of a combination rule: the categories found, and the severity. */
static void fill_combination(const dlp_detect_t *d, const dlp_detect_flow_t *df, uint32_t crule,
                             dlp_ev_rule_t *er)
{
    const dlp_rule_t *r = &d->p.rules->rules[crule];
    size_t c = 0;
    bool linked = false;

    while (c < d->ncombo && d->combo_rule[c] != crule)
        c++;
    er->combination = 1;
    er->nmatches = 0;
    er->count = 0;
    for (size_t i = 0; c < d->ncombo && i < r->combination.nrules; i++) {
        if (!(df->combo[c].found & (1ULL << i)))
            continue;
        er->count++; /* every category found; the list holds the first ones */
        if (er->nmatches < DLP_EV_MAX_MATCHES)
            snprintf(er->m[er->nmatches++].name, sizeof(er->m[0].name), "%s",
                     r->combination.rules[i]);
    }
    for (const rstate_t *rs = df->rules; rs != NULL; rs = rs->next)
        linked |= rs->count > 0 && d->p.rules->rules[rs->rule].category == DLP_CAT_LINKED;
    if (linked && er->severity < DLP_SEV_CRITICAL)
        er->severity++;
}

/* Whether a candidate of stream s that ends by 'until' still waits. */
static bool candidates_wait(const dlp_detect_stream_t *s, uint64_t until)
{
    for (uint32_t i = 0; i < s->npend; i++)
        if (s->pend[i].end <= until)
            return true;
    return false;
}

/*
 * Sends the events that are due: all of them when 'settled' (a block, a gap,
 * the end of a stream), else those whose write has been scanned past by the
 * lookahead, so every candidate of that write has been decided and a value
 * at the very end of a segment still makes it into the same event; after a
 * write of another stream of the flow, those whose write has no candidate
 * waiting. (A stream with a due event is open: closing one settles its flow.)
 */
static void flush_alerts(dlp_detect_t *d, dlp_detect_flow_t *df, const dlp_detect_stream_t *s,
                         bool settled)
{
    uint64_t off;

    if (df->due == 0)
        return;
    off = !settled && s != NULL && s->ms != NULL ? dlp_match_stream_offset(s->ms) : 0;
    for (rstate_t *rs = df->rules; rs != NULL; rs = rs->next) {
        if (!rs->due)
            continue;
        if (!settled && rs->due_src == s && off < rs->due_until + DLP_DETECT_LOOKAHEAD)
            continue;
        if (!settled && rs->due_src != s && rs->due_src != NULL &&
            candidates_wait(rs->due_src, rs->due_until))
            continue;
        rs->due = 0;
        df->due--;
        raise_alert(d, df, rs, rs->due_dir);
    }
}

/* --- streams --------------------------------------------------------------- */

/*
 * Decides a pending candidate on the bytes around it: those still in the
 * matcher's tail (everything before the write 'p') and the first bytes of
 * 'p' (n may be 0: the stream ended or has a gap).
 */
static void finalize(dlp_detect_t *d, dlp_detect_stream_t *s, const cand_t *c, const uint8_t *p,
                     size_t n)
{
    uint64_t off = dlp_match_stream_offset(s->ms);
    uint64_t from = c->start > DLP_DETECT_PRE ? c->start - DLP_DETECT_PRE : 0;
    uint64_t first = 0, now = d->now_us;
    size_t k = dlp_match_stream_window(s->ms, from, off, d->win, &first);
    size_t add = 0;

    if (c->end + DLP_DETECT_LOOKAHEAD > off)
        add = (size_t)(c->end + DLP_DETECT_LOOKAHEAD - off);
    if (add > n)
        add = n;
    if (k + add > sizeof(d->win))
        add = sizeof(d->win) - k;
    if (add > 0)
        memcpy(d->win + k, p, add);
    if (first > c->start || first + k + add < c->end) {
        /* Cannot happen within the bounds (static assert above); counted. */
        dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_PENDING_FULL);
        return;
    }
    /* The event carries the time the value was seen, not decided. */
    d->now_us = c->ts_us;
    decide_cand(d, &s->last, s->df, s->dir, s->field, c->rule, d->win, k + add,
                (size_t)(c->start - first), (size_t)(c->end - first), first);
    d->now_us = now;
    memset(d->win, 0, k + add);
}

/*
 * Before the write p[0, n) is scanned: decides the candidates whose
 * lookahead it completes (all of them when 'all'); the others stay.
 */
static void finalize_ready(dlp_detect_t *d, dlp_detect_stream_t *s, const uint8_t *p, size_t n,
                           bool all)
{
    uint64_t end = dlp_match_stream_offset(s->ms) + n;
    uint32_t keep = 0;

    for (uint32_t i = 0; i < s->npend; i++) {
        if (all || s->pend[i].end + DLP_DETECT_LOOKAHEAD <= end)
            finalize(d, s, &s->pend[i], p, n);
        else
            s->pend[keep++] = s->pend[i];
    }
    s->npend = keep;
}

/* Returns false when the candidate cannot wait (no room): decide it now. */
static bool add_pending(dlp_detect_t *d, dlp_detect_stream_t *s, uint32_t rule, uint64_t start,
                        uint64_t end)
{
    /* The same match of another of the rule's patterns waits too: decided
     * in turn, it counts as it would have counted decided at once. */
    if (s->pend == NULL) {
        s->pend = malloc(DLP_DETECT_PENDING * sizeof(*s->pend));
        if (s->pend == NULL) {
            dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_ALLOC_FAIL);
            return false;
        }
        s->df->mem += DLP_DETECT_PENDING * sizeof(*s->pend);
    }
    if (s->npend == DLP_DETECT_PENDING) {
        /* A burst of matches at the very end of one write. */
        dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_PENDING_FULL);
        return false;
    }
    s->pend[s->npend++] = (cand_t){.rule = rule, .start = start, .end = end, .ts_us = d->now_us};
    return true;
}

static void redact_cand(dlp_detect_t *d, uint32_t rule, const uint8_t *win, size_t len,
                        size_t start, size_t end, uint64_t base);

static void on_match(void *ctx, uint32_t rule, const uint8_t *win, size_t win_len, size_t start,
                     size_t end, uint64_t off)
{
    dlp_detect_t *d = ctx;

    if (d->redact != NULL) {
        redact_cand(d, rule, win, win_len, start, end, off - start);
        return;
    }
    /* A block, the end of a stream, or the lookahead is in this write:
     * everything the validator may look at is known. Otherwise the match
     * waits for the next write, if there is room to wait. */
    if (d->cur != NULL && !d->immediate && win_len < end + DLP_DETECT_LOOKAHEAD &&
        add_pending(d, d->cur, rule, off, off + (end - start)))
        return;
    decide_cand(d, d->cur != NULL ? &d->cur->last : &d->block_last, d->cur_flow, d->cur_dir,
                d->cur_field, rule, win, win_len, start, end,
                off - start);
}

static void begin(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t now_us)
{
    d->cur = s;
    d->cur_flow = s->df;
    d->cur_dir = s->dir;
    d->cur_field = s->field;
    d->cur_name = s->name;
    d->now_us = now_us;
}

void dlp_detect_write(dlp_detect_t *d, dlp_detect_stream_t *s, const uint8_t *p, size_t n,
                      uint64_t now_us)
{
    if (s == NULL || n == 0)
        return;
    if (s->ms == NULL) {
        s->ms = dlp_match_stream_open(d->p.matcher);
        if (s->ms == NULL) {
            dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_ALLOC_FAIL);
            return;
        }
        s->df->mem += dlp_match_stream_mem(s->ms);
    }
    begin(d, s, now_us);
    d->write_end = dlp_match_stream_offset(s->ms) + n;
    if (s->npend > 0)
        finalize_ready(d, s, p, n, false);
    if (dlp_match_stream_scan(s->ms, d->scratch, p, n, on_match, d) != DLP_OK)
        dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_SCAN_ERRORS);
    d->cur = NULL;
    flush_alerts(d, s->df, s, false);
}

/* How flush_stream ends what the matcher holds back. */
typedef enum { FLUSH_GAP, FLUSH_SETTLE, FLUSH_CLOSE } flush_t;

/* Decides everything pending, then lets the matcher deliver what it held
 * back (end-of-data matches), deciding those on the spot. */
static void flush_stream(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t gap, flush_t how)
{
    dlp_rc_t rc = DLP_OK;

    begin(d, s, d->now_us);
    if (s->npend > 0)
        finalize_ready(d, s, NULL, 0, true);
    d->immediate = true;
    if (how == FLUSH_CLOSE)
        dlp_match_stream_close(s->ms, d->scratch, on_match, d);
    else if (how == FLUSH_SETTLE)
        rc = dlp_match_stream_settle(s->ms, d->scratch, on_match, d);
    else
        rc = dlp_match_stream_gap(s->ms, d->scratch, gap, on_match, d);
    if (rc != DLP_OK)
        dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_SCAN_ERRORS);
    d->immediate = false;
    d->cur = NULL;
}

void dlp_detect_settle(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t now_us)
{
    if (s == NULL || s->ms == NULL)
        return;
    d->now_us = now_us;
    flush_stream(d, s, 0, FLUSH_SETTLE);
    flush_alerts(d, s->df, s, true);
}

void dlp_detect_gap(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t len, uint64_t now_us)
{
    if (s == NULL || s->ms == NULL)
        return;
    d->now_us = now_us;
    flush_stream(d, s, len, FLUSH_GAP);
    flush_alerts(d, s->df, s, true);
}

void dlp_detect_close(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t now_us)
{
    if (s == NULL)
        return;
    d->now_us = now_us;
    if (s->ms != NULL) {
        s->df->mem -= dlp_match_stream_mem(s->ms);
        flush_stream(d, s, 0, FLUSH_CLOSE); /* frees s->ms */
        s->ms = NULL;
    }
    flush_alerts(d, s->df, s, true);
    if (s->pend != NULL)
        s->df->mem -= DLP_DETECT_PENDING * sizeof(*s->pend);
    s->df->mem -= sizeof(*s);
    free(s->pend);
    free(s);
}

dlp_detect_stream_t *dlp_detect_stream_new(dlp_detect_t *d, dlp_detect_flow_t *df, int dir,
                                           dlp_field_t field, const char *name)
{
    dlp_detect_stream_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->df = df;
    s->dir = (uint8_t)dir;
    s->field = (uint8_t)field;
    /* masked before it is cut: a cut value would no longer be one */
    if (name != NULL)
        dlp_detect_redact(d, name, strlen(name), s->name, sizeof(s->name));
    df->mem += sizeof(*s);
    return s;
}

size_t dlp_detect_stream_mem(const dlp_detect_stream_t *s)
{
    return s == NULL ? 0 : sizeof(*s) + (s->ms ? dlp_match_stream_mem(s->ms) : 0);
}

void dlp_detect_block(dlp_detect_t *d, dlp_detect_flow_t *df, int dir, dlp_field_t field,
                      const uint8_t *p, size_t n, uint64_t off, uint64_t now_us)
{
    if (n == 0)
        return;
    d->cur = NULL;
    d->cur_flow = df;
    d->cur_dir = (uint8_t)dir;
    d->cur_field = (uint8_t)field;
    d->cur_name = NULL;
    d->now_us = now_us;
    d->block_last = (last_value_t){0};
    if (dlp_match_block(d->p.matcher, d->scratch, p, n, off, on_match, d) != DLP_OK)
        dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_SCAN_ERRORS);
    flush_alerts(d, df, NULL, true);
}

/* --- text beside the values ------------------------------------------------- */

/* Values masked in one text; more is masked whole (no file name or host
 * name of a real flow holds that many). */
#define REDACT_SPANS 32

typedef struct redact {
    struct redact_span {
        uint32_t rule; /* UINT32_MAX: values of several rules overlap here */
        size_t vs, ve; /* in the text */
    } s[REDACT_SPANS];
    size_t n;
    bool overflow;
} redact_t;

/* A match in the text dlp_detect_redact() scans, win[0] at text offset base. */
static void redact_cand(dlp_detect_t *d, uint32_t rule, const uint8_t *win, size_t len,
                        size_t start, size_t end, uint64_t base)
{
    const dlp_rule_t *r = &d->p.rules->rules[rule];
    redact_t *x = d->redact;
    size_t vs, ve;

    if (!dlp_validate(r->validator, win, len, start, end, &vs, &ve))
        return;
    dlp_value_narrow(r->value, win, &vs, &ve);
    if (dlp_detect__context(&r->exclude, win, len, vs, ve) ||
        (r->context.required && !dlp_detect__context(&r->context, win, len, vs, ve)))
        return;
    if (x->n == REDACT_SPANS) {
        x->overflow = true;
        return;
    }
    x->s[x->n++] = (struct redact_span){.rule = rule, .vs = base + vs, .ve = base + ve};
}

/* Sorts the spans and joins those that overlap. */
static void redact_join(redact_t *x)
{
    size_t k = 0;

    for (size_t i = 1; i < x->n; i++)
        for (size_t j = i; j > 0 && x->s[j].vs < x->s[j - 1].vs; j--) {
            struct redact_span t = x->s[j];
            x->s[j] = x->s[j - 1];
            x->s[j - 1] = t;
        }
    for (size_t i = 1; i < x->n; i++) {
        struct redact_span *c = &x->s[k];
        if (x->s[i].vs < c->ve) {
            if (x->s[i].ve > c->ve)
                c->ve = x->s[i].ve;
            if (x->s[i].rule != c->rule || x->s[i].vs != c->vs)
                c->rule = UINT32_MAX;
        } else
            x->s[++k] = x->s[i];
    }
    if (x->n > 0)
        x->n = k + 1;
}

/* Appends p[0, n) to out[*used...], cut to cap - 1. */
static void redact_put(char *out, size_t cap, size_t *used, const char *p, size_t n)
{
    if (*used + n > cap - 1)
        n = cap - 1 - *used;
    memcpy(out + *used, p, n);
    *used += n;
}

static void redact_stars(char *out, size_t cap, size_t *used, size_t n)
{
    if (*used + n > cap - 1)
        n = cap - 1 - *used;
    memset(out + *used, '*', n);
    *used += n;
}

/*
 * The text in[from, to) between values. Only bytes within the first cap - 1 of
 * in are shown: the caller may have cut in (a decoder keeps DLP_APP_NAME_MAX - 1
 * bytes of a name), and its end may then be part of a value, no value any more;
 * a mask shorter than its value (an e-mail's long local part, a capped run of
 * '*'s) would otherwise pull those bytes into what fits.
 */
static void redact_text(char *out, size_t cap, size_t *used, const char *in, size_t from,
                        size_t to)
{
    if (to > cap - 1)
        to = cap - 1;
    if (from < to)
        redact_put(out, cap, used, in + from, to - from);
}

/* The masked form of in[vs, ve), a value of 'rule' (UINT32_MAX: '*'s). */
static void redact_value(dlp_detect_t *d, uint32_t rule, const char *in, size_t vs, size_t ve,
                         char *out, size_t cap, size_t *used)
{
    char norm[DLP_DETECT_VALUE_MAX], masked[sizeof(((dlp_ev_match_t *)0)->masked)];
    const dlp_rule_t *r;
    size_t nl, ml;

    if (rule == UINT32_MAX) {
        redact_stars(out, cap, used, ve - vs);
        return;
    }
    r = &d->p.rules->rules[rule];
    nl = dlp_normalize(r->norm, (const uint8_t *)in + vs, ve - vs, norm, sizeof(norm));
    ml = dlp_mask(r->mask, norm, nl, masked, sizeof(masked));
    redact_put(out, cap, used, masked, ml);
    memset(norm, 0, sizeof(norm));
}

size_t dlp_detect_redact(dlp_detect_t *d, const char *in, size_t n, char *out, size_t cap)
{
    redact_t x = {.n = 0};
    size_t used = 0, pos = 0;
    dlp_rc_t rc;

    if (cap == 0)
        return 0;
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    d->redact = &x;
    rc = dlp_match_block(d->p.matcher, d->scratch, (const uint8_t *)in, n, 0, on_match, d);
    d->redact = NULL;
    if (rc != DLP_OK || x.overflow) {
        if (rc != DLP_OK)
            dlp_stat_inc(d->p.stats, DLP_STAT_DETECT_SCAN_ERRORS);
        redact_stars(out, cap, &used, n);
        out[used] = '\0';
        return 1;
    }
    redact_join(&x);
    for (size_t i = 0; i < x.n; i++) {
        redact_text(out, cap, &used, in, pos, x.s[i].vs);
        redact_value(d, x.s[i].rule, in, x.s[i].vs, x.s[i].ve, out, cap, &used);
        pos = x.s[i].ve;
    }
    redact_text(out, cap, &used, in, pos, n);
    out[used] = '\0';
    return x.n;
}

/* --- flows ------------------------------------------------------------------ */

dlp_detect_flow_t *dlp_detect_flow_new(dlp_detect_t *d, const dlp_ev_flowinfo_t *fi)
{
    dlp_detect_flow_t *df = calloc(1, sizeof(*df));

    (void)d;
    if (df == NULL)
        return NULL;
    df->fi = *fi;
    df->mem = sizeof(*df);
    return df;
}

void dlp_detect_flow_set_app(dlp_detect_flow_t *df, const char *app_proto, const char *risks)
{
    if (app_proto != NULL)
        snprintf(df->fi.app_proto, sizeof(df->fi.app_proto), "%s", app_proto);
    if (risks != NULL)
        snprintf(df->fi.risks, sizeof(df->fi.risks), "%s", risks);
}

void dlp_detect_flow_add_host(dlp_detect_flow_t *df, const char *host, size_t n)
{
    while (n > 0 && host[n - 1] == '.') /* "example.com." names example.com */
        n--;
    if (n == 0)
        return;
    /* named, not remembered: not known to be allowed. A NUL would cut the copy
     * short, and "api.example.com\0.evil.org" would be kept as an allowed name. */
    if (n > DLP_RULE_HOST_MAX || memchr(host, '\0', n) != NULL) {
        df->hosts_overflow = true;
        return;
    }
    for (size_t i = 0; i < df->nhosts; i++)
        if (strlen(df->hosts[i]) == n && strncasecmp(df->hosts[i], host, n) == 0)
            return;
    if (df->nhosts == DLP_DETECT_HOSTS_MAX) {
        df->hosts_overflow = true;
        return;
    }
    df->hosts[df->nhosts] = strndup(host, n);
    if (df->hosts[df->nhosts] == NULL) {
        df->hosts_overflow = true;
        return;
    }
    df->mem += n + 1;
    df->nhosts++;
}

uint16_t dlp_detect_flow_alerts(const dlp_detect_flow_t *df) { return df ? df->alerts : 0; }

void dlp_detect_flow_set_value_hook(dlp_detect_flow_t *df, dlp_detect_value_fn fn, void *ctx)
{
    df->value_fn = fn;
    df->value_ctx = ctx;
}
size_t dlp_detect_flow_mem(const dlp_detect_flow_t *df) { return df ? df->mem : 0; }

void dlp_detect_flow_report(dlp_detect_t *d, dlp_detect_flow_t *df, uint64_t ts_us)
{
    static _Thread_local dlp_event_t ev;

    for (const rstate_t *rs = df->rules; rs != NULL; rs = rs->next) {
        memset(&ev, 0, sizeof(ev));
        ev.type = DLP_EV_FLOW_RULE;
        ev.ts_us = ts_us;
        ev.fl = df->fi;
        fill_rule(&d->p.rules->rules[rs->rule], rs, &ev.u.rule);
        if (d->p.rules->rules[rs->rule].combination.min_weight > 0)
            fill_combination(d, df, rs->rule, &ev.u.rule);
        dlp_alert_push(d->p.events, &ev, d->p.wait, d->p.stop, d->p.stats);
    }
}

void dlp_detect_flow_free(dlp_detect_t *d, dlp_detect_flow_t *df)
{
    (void)d;
    if (df == NULL)
        return;
    while (df->rules != NULL) {
        rstate_t *rs = df->rules;
        df->rules = rs->next;
        free(rs->seen);
        free(rs);
    }
    for (size_t i = 0; i < df->nhosts; i++)
        free(df->hosts[i]);
    free(df->combo);
    free(df);
}

/* --- life cycle -------------------------------------------------------------- */

/* Prepares HMAC-SHA256 with the key once (no per-value fetch or key schedule),
 * and derives the fingerprint seed from the key (same key -> same output). */
static dlp_rc_t mac_init(dlp_detect_t *d)
{
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    char hex[33];

    d->mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (d->mac_alg == NULL)
        return DLP_EIO;
    d->mac = EVP_MAC_CTX_new(d->mac_alg);
    if (d->mac == NULL || EVP_MAC_init(d->mac, d->p.hmac_key, d->p.hmac_key_len, params) != 1)
        return DLP_EIO;
    hmac_hex(d, "dlpsensor fingerprint seed", 26, hex);
    d->fp_seed = dlp_hash_bytes(hex, 32, 0);
    return DLP_OK;
}

/* Appends (combo, pos, weight) to the list of rule 'rule'. */
static dlp_rc_t combo_ref_add(dlp_detect_t *d, uint32_t rule, uint32_t combo, uint32_t pos,
                              uint32_t weight)
{
    size_t n = 0;
    struct combo_ref *l = d->refs[rule];

    while (l != NULL && l[n].combo != UINT32_MAX)
        n++;
    l = realloc(l, (n + 2) * sizeof(*l));
    if (l == NULL)
        return DLP_ENOMEM;
    l[n] = (struct combo_ref){combo, pos, weight};
    l[n + 1].combo = UINT32_MAX;
    d->refs[rule] = l;
    return DLP_OK;
}

/* For each enabled combination rule, where each of its rules counts. A
 * rule named there but absent or disabled simply never contributes. */
static dlp_rc_t combos_init(dlp_detect_t *d)
{
    const dlp_ruleset_t *rs = d->p.rules;

    d->refs = calloc(d->nrules + 1, sizeof(*d->refs));
    d->combo_rule = calloc(d->nrules + 1, sizeof(*d->combo_rule));
    if (d->refs == NULL || d->combo_rule == NULL)
        return DLP_ENOMEM;
    for (size_t c = 0; c < rs->n; c++) {
        const dlp_rule_combination_t *cb = &rs->rules[c].combination;
        if (cb->min_weight == 0 || !rs->rules[c].enabled)
            continue;
        for (size_t i = 0; i < cb->nrules && i < 64; i++) {
            const dlp_rule_t *r = dlp_ruleset_find(rs, cb->rules[i]);
            if (r == NULL || !r->enabled)
                continue;
            if (combo_ref_add(d, (uint32_t)(r - rs->rules), (uint32_t)d->ncombo, (uint32_t)i,
                              cb->weights != NULL ? cb->weights[i] : 1) != DLP_OK)
                return DLP_ENOMEM;
        }
        d->combo_rule[d->ncombo++] = (uint32_t)c;
    }
    return DLP_OK;
}

/* Only when a rule counts values across flows: the caller's, or its own. */
static dlp_rc_t agg_init(dlp_detect_t *d)
{
    dlp_agg_t **home = d->p.agg != NULL ? d->p.agg : &d->own_agg;

    for (size_t i = 0; i < d->nrules; i++) {
        if (d->p.rules->rules[i].enabled && d->p.rules->rules[i].aggregate.values > 0) {
            if (*home == NULL)
                *home = dlp_agg_new(DLP_DETECT_AGG_MEMCAP, dlp_hash_mix64(d->fp_seed ^ 0xa66));
            d->agg = *home;
            return d->agg != NULL ? DLP_OK : DLP_ENOMEM;
        }
    }
    return DLP_OK;
}

void dlp_detect_agg_free(dlp_agg_t *a)
{
    dlp_agg_free(a);
}

dlp_detect_t *dlp_detect_new(const dlp_detect_params_t *p)
{
    dlp_detect_t *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->p = *p;
    d->nrules = p->rules->n;
    d->scratch = dlp_match_scratch_new(p->matcher);
    d->rstats = p->rstats;
    if (d->rstats == NULL)
        d->rstats = d->own_rstats = calloc(d->nrules * DLP_RSTAT__COUNT + 1, sizeof(*d->rstats));
    if (d->scratch == NULL || d->rstats == NULL || combos_init(d) != DLP_OK ||
        mac_init(d) != DLP_OK || agg_init(d) != DLP_OK) {
        dlp_detect_free(d);
        return NULL;
    }
    return d;
}

void dlp_detect_free(dlp_detect_t *d)
{
    if (d == NULL)
        return;
    EVP_MAC_CTX_free(d->mac);
    EVP_MAC_free(d->mac_alg);
    dlp_match_scratch_free(d->scratch);
    dlp_agg_free(d->own_agg);
    for (size_t i = 0; d->refs != NULL && i < d->nrules; i++)
        free(d->refs[i]);
    free(d->refs);
    free(d->combo_rule);
    free(d->own_rstats);
    free(d);
}

const _Atomic uint64_t *dlp_detect_rule_stats(const dlp_detect_t *d, size_t *nrules)
{
    /* Counters given in params are indexed by slot: their owner reads them. */
    assert(d->own_rstats != NULL);
    *nrules = d->nrules;
    return d->own_rstats;
}
