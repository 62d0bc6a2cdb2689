/*
 * match_compile.c - enabled rules -> Hyperscan databases, checked pattern by pattern.
 *
 * Every pattern of every enabled rule is one expression; its id indexes
 * the pattern table (id -> rule, max width). Flags: HS_FLAG_DOTALL always,
 * CASELESS and MULTILINE from the rule. UCP is refused: it only means
 * something with HS_FLAG_UTF8, and UTF-8 mode has undefined results on
 * binary traffic (research/technical.md 2.3).
 *
 * Databases (match_int.h): streaming and block, both with SOM_LEFTMOST, so
 * every match comes with its start. (Measured against a stream database
 * without SOM plus a re-scan of a window for each match's start, on the
 * bench capture: the same matches, 27-35 % less CPU on match-dense
 * traffic, equal on sparse text, 14 bytes more state per stream; see the
 * detection issue's note.) A pattern is accepted only if its matches are
 * non-empty and at most DLP_MATCH_MAX_WIDTH bytes, so a match and its
 * context fit in the tail the stream keeps.
 *
 * Errors: Hyperscan stops at the first bad expression of a multi-compile,
 * so every expression is first checked alone (hs_expression_info); then,
 * only when a multi-compile fails, each expression is compiled alone in
 * that mode, so that every bad one is reported as "FILE:LINE: rule NAME:
 * pattern N: MESSAGE". A multi-compile fails whenever one of its
 * expressions fails alone, so a set that compiles costs no compile per
 * pattern, and a set that does not, one pass (the stream one, first).
 *
 * Thread: control thread; the matcher is read-only afterwards.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/log.h"
#include "dlp/timefmt.h"
#include "match_int.h"

typedef struct build {
    const dlp_ruleset_t *rs;
    dlp_rules_errors_t *err;
    dlp_match_input_t in;
    uint32_t *pnum; /* 1-based pattern number within its rule, per id */
    bool *bad;      /* per id: already reported */
    bool *bad_rule; /* per rule, may be NULL: named by an error */
    unsigned nerr;
} build_t;

static const char *rule_file(const dlp_rule_t *r)
{
    return r->file ? r->file : "(rules)";
}

static void pat_error(build_t *b, const dlp_match_pat_t *p, uint32_t pnum, const char *msg)
{
    const dlp_rule_t *r = &b->rs->rules[p->rule];

    dlp_rules_errors_add(b->err, "%s:%u: rule %s: pattern %u: %s", rule_file(r),
                         r->patterns[pnum - 1].line, r->name ? r->name : "?", (unsigned)pnum, msg);
    b->nerr++;
    if (b->bad_rule != NULL)
        b->bad_rule[p->rule] = true;
}

static unsigned count_patterns(const dlp_ruleset_t *rs)
{
    size_t n = 0;

    for (size_t i = 0; i < rs->n; i++)
        if (rs->rules[i].enabled)
            n += rs->rules[i].npatterns;
    return n > UINT32_MAX ? UINT32_MAX : (unsigned)n;
}

static unsigned hs_flags(unsigned rule_flags)
{
    unsigned f = HS_FLAG_DOTALL;

    if (rule_flags & DLP_RULE_F_CASELESS)
        f |= HS_FLAG_CASELESS;
    if (rule_flags & DLP_RULE_F_MULTILINE)
        f |= HS_FLAG_MULTILINE;
    return f;
}

dlp_rc_t dlp_match_expr_widths(const char *expr, unsigned rule_flags, uint32_t *min_width,
                               uint32_t *max_width)
{
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *ce = NULL;

    if (hs_expression_info(expr, hs_flags(rule_flags), &info, &ce) != HS_SUCCESS) {
        hs_free_compile_error(ce);
        return DLP_EINVAL;
    }
    *min_width = info->min_width;
    *max_width = info->max_width;
    free(info); /* allocated with the default allocator (hs_set_allocator is never called) */
    return DLP_OK;
}

/* Fills the inputs and the pattern table; false on ENOMEM. */
static bool collect(build_t *b, dlp_matcher_t *m)
{
    dlp_match_input_t *in = &b->in;
    unsigned n = count_patterns(b->rs), k = 0;

    m->pat = calloc(n ? n : 1, sizeof(*m->pat));
    in->expr = calloc(n ? n : 1, sizeof(*in->expr));
    in->flags = calloc(n ? n : 1, sizeof(*in->flags));
    in->ids = calloc(n ? n : 1, sizeof(*in->ids));
    b->pnum = calloc(n ? n : 1, sizeof(*b->pnum));
    b->bad = calloc(n ? n : 1, sizeof(*b->bad));
    m->db = calloc(n + 2, sizeof(*m->db));
    if (!m->pat || !in->expr || !in->flags || !in->ids || !b->pnum || !b->bad || !m->db)
        return false;
    for (size_t i = 0; i < b->rs->n && k < n; i++) {
        const dlp_rule_t *r = &b->rs->rules[i];
        if (!r->enabled)
            continue;
        for (size_t j = 0; j < r->npatterns && k < n; j++, k++) {
            m->pat[k].rule = (uint32_t)i;
            b->pnum[k] = (uint32_t)(j + 1);
            in->expr[k] = r->patterns[j].expr ? r->patterns[j].expr : "";
            in->flags[k] = hs_flags(r->flags);
            in->ids[k] = k;
        }
    }
    m->npat = in->n = k;
    m->ndb = DLP_MATCH_NDB;
    return true;
}

/* Rule-level refusals (flags), reported at the rule's line. */
static void check_rules(build_t *b)
{
    for (size_t i = 0; i < b->rs->n; i++) {
        const dlp_rule_t *r = &b->rs->rules[i];
        if (!r->enabled || !(r->flags & DLP_RULE_F_UCP))
            continue;
        dlp_rules_errors_add(b->err,
                             "%s:%u: rule %s: flag ucp is not supported: it needs UTF-8 mode, "
                             "which is undefined on binary traffic; write non-ASCII text as "
                             "bytes",
                             rule_file(r), r->line, r->name ? r->name : "?");
        b->nerr++;
        if (b->bad_rule != NULL)
            b->bad_rule[i] = true;
    }
}

/* hs_expression_info on each pattern alone: syntax, empty matches, width. */
static void check_patterns(build_t *b, dlp_matcher_t *m)
{
    char msg[256];

    for (unsigned k = 0; k < m->npat; k++) {
        hs_expr_info_t *info = NULL;
        hs_compile_error_t *ce = NULL;

        if (hs_expression_info(b->in.expr[k], b->in.flags[k], &info, &ce) != HS_SUCCESS) {
            pat_error(b, &m->pat[k], b->pnum[k], ce ? ce->message : "invalid expression");
            hs_free_compile_error(ce);
            continue;
        }
        if (info->min_width == 0) {
            pat_error(b, &m->pat[k], b->pnum[k], "can match the empty string");
        } else if (info->max_width == UINT_MAX) {
            snprintf(msg, sizeof(msg),
                     "unbounded repeat: a match's start is recovered from the last %u bytes "
                     "only; bound the repeat (e.g. {1,64} instead of + or *)",
                     DLP_MATCH_MAX_WIDTH);
            pat_error(b, &m->pat[k], b->pnum[k], msg);
        } else if (info->max_width > DLP_MATCH_MAX_WIDTH) {
            snprintf(msg, sizeof(msg),
                     "can match %u bytes, more than %u: bound the repeats to fewer bytes",
                     info->max_width, DLP_MATCH_MAX_WIDTH);
            pat_error(b, &m->pat[k], b->pnum[k], msg);
        }
        m->pat[k].max_width = info->max_width;
        free(info);
    }
}

#define SOM_HINT                                                                                   \
    " (when compiled to report where matches start; anchor the pattern on a literal and "          \
    "let the validator widen the match)"

/* Compiles expression k alone: the database, or NULL and *ce (the caller frees it). */
static hs_database_t *try_one(const build_t *b, unsigned k, unsigned mode, unsigned extra,
                              hs_compile_error_t **ce)
{
    hs_database_t *db = NULL;

    *ce = NULL;
    if (hs_compile(b->in.expr[k], b->in.flags[k] | extra, mode, NULL, &db, ce) == HS_SUCCESS)
        return db;
    return NULL;
}

static void report(build_t *b, const dlp_matcher_t *m, unsigned k, const hs_compile_error_t *ce,
                   const char *hint)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "%s%s", ce && ce->message ? ce->message : "does not compile", hint);
    pat_error(b, &m->pat[k], b->pnum[k], msg);
    b->bad[k] = true;
}

/*
 * Each pattern alone, in the stream SOM mode, to name every bad one. A
 * pattern that fails here but compiles without SOM gets the hint; one that
 * fails both, the plain error.
 */
static void compile_per_pattern(build_t *b, const dlp_matcher_t *m)
{
    for (unsigned k = 0; k < m->npat; k++) {
        hs_compile_error_t *ce = NULL, *ce_plain = NULL;
        hs_database_t *plain, *one;

        one = try_one(b, k, DLP_MATCH_STREAM_MODE, HS_FLAG_SOM_LEFTMOST, &ce);
        if (one != NULL) {
            hs_free_database(one);
            continue;
        }
        plain = try_one(b, k, HS_MODE_STREAM, 0, &ce_plain);
        report(b, m, k, plain != NULL ? ce : ce_plain, plain != NULL ? SOM_HINT : "");
        hs_free_database(plain);
        hs_free_compile_error(ce);
        hs_free_compile_error(ce_plain);
    }
}

/*
 * After a failed multi-compile: each expression not yet reported, alone, to
 * name every bad one (in the stream SOM mode, with compile_per_pattern's hint).
 */
static void attribute(build_t *b, const dlp_matcher_t *m, unsigned mode, unsigned extra,
                      const hs_compile_error_t *multi)
{
    unsigned before = b->nerr;

    if (mode == DLP_MATCH_STREAM_MODE && extra == HS_FLAG_SOM_LEFTMOST)
        compile_per_pattern(b, m);
    for (unsigned k = 0; mode == HS_MODE_BLOCK && k < m->npat; k++) {
        hs_compile_error_t *ce = NULL;
        hs_database_t *db;

        if (b->bad[k])
            continue;
        db = try_one(b, k, mode, extra, &ce);
        if (db == NULL)
            report(b, m, k, ce, "");
        hs_free_database(db);
        hs_free_compile_error(ce);
    }
    if (b->nerr == before) {
        dlp_rules_errors_add(b->err, "%s: the rule set does not compile as a whole: %s",
                             b->rs->n ? rule_file(&b->rs->rules[0]) : "(rules)",
                             multi && multi->message ? multi->message : "unknown error");
        b->nerr++;
    }
}

static hs_database_t *compile_mode(build_t *b, const dlp_matcher_t *m, unsigned mode,
                                   unsigned extra)
{
    unsigned *fl = malloc(m->npat * sizeof(*fl));
    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;

    if (fl == NULL) {
        dlp_rules_errors_add(b->err, "matcher: out of memory");
        b->nerr++;
        return NULL;
    }
    for (unsigned k = 0; k < m->npat; k++)
        fl[k] = b->in.flags[k] | extra;
    if (hs_compile_multi(b->in.expr, fl, b->in.ids, m->npat, mode, NULL, &db, &ce) != HS_SUCCESS) {
        attribute(b, m, mode, extra, ce);
        hs_free_compile_error(ce);
        db = NULL;
    }
    free(fl);
    return db;
}

static bool compile_all(build_t *b, dlp_matcher_t *m)
{
    uint64_t t0 = dlp_time_mono_ns();

    m->db[DLP_MATCH_DB_STREAM] =
        compile_mode(b, m, DLP_MATCH_STREAM_MODE, HS_FLAG_SOM_LEFTMOST);
    if (b->nerr > 0)
        return false;
    m->db[DLP_MATCH_DB_BLOCK] = compile_mode(b, m, HS_MODE_BLOCK, HS_FLAG_SOM_LEFTMOST);
    if (b->nerr > 0)
        return false;
    m->info.compile_ms = (double)(dlp_time_mono_ns() - t0) / 1e6;
    return true;
}

static bool check_and_compile(build_t *b, dlp_matcher_t *m)
{
    check_patterns(b, m);
    return b->nerr == 0 && compile_all(b, m);
}

/*
 * A cache hit skips the checks too: the key covers every input they read,
 * and the widths come from the file.
 */
static bool build_cached(build_t *b, dlp_matcher_t *m, const char *cache_dir)
{
    hs_platform_info_t plat;
    uint8_t key[32];
    bool keyed =
        hs_populate_platform(&plat) == HS_SUCCESS && dlp_match__cache_key(&b->in, &plat, key);
    uint64_t t0 = dlp_time_mono_ns();

    if (!keyed)
        dlp_log(DLP_LOG_WARN, "matcher cache %s: cannot compute the key; not used", cache_dir);
    if (keyed && dlp_match__cache_load(m, cache_dir, key)) {
        m->info.load_ms = (double)(dlp_time_mono_ns() - t0) / 1e6;
        m->info.from_cache = 1;
        return true;
    }
    if (!check_and_compile(b, m))
        return false;
    if (keyed)
        m->info.cache_saved = dlp_match__cache_save(m, cache_dir, key);
    return true;
}

/* The scratch prototype (valid for both databases) and the sizes. */
static bool alloc_protos(dlp_matcher_t *m)
{
    size_t a = 0;

    m->sdb = m->db[DLP_MATCH_DB_STREAM];
    m->bdb = m->db[DLP_MATCH_DB_BLOCK];
    if (hs_alloc_scratch(m->sdb, &m->proto) != HS_SUCCESS ||
        hs_alloc_scratch(m->bdb, &m->proto) != HS_SUCCESS)
        return false;
    m->info.db_bytes = 0;
    for (unsigned i = 0; i < m->ndb; i++) {
        if (hs_database_size(m->db[i], &a) != HS_SUCCESS)
            return false;
        m->info.db_bytes += a;
    }
    if (hs_stream_size(m->sdb, &m->info.stream_bytes) != HS_SUCCESS ||
        hs_scratch_size(m->proto, &a) != HS_SUCCESS)
        return false;
    m->info.scratch_bytes = a;
    return true;
}

static void build_fini(build_t *b)
{
    free(b->in.expr);
    free(b->in.flags);
    free(b->in.ids);
    free(b->pnum);
    free(b->bad);
}

dlp_matcher_t *dlp_matcher_new(const dlp_ruleset_t *rs, const char *cache_dir,
                               dlp_rules_errors_t *err)
{
    return dlp_matcher_new_blame(rs, cache_dir, err, NULL);
}

dlp_matcher_t *dlp_matcher_new_blame(const dlp_ruleset_t *rs, const char *cache_dir,
                                     dlp_rules_errors_t *err, bool *bad_rule)
{
    dlp_rules_errors_t discard = {0};
    dlp_matcher_t *m = calloc(1, sizeof(*m));
    build_t b = {.rs = rs, .err = err ? err : &discard, .bad_rule = bad_rule};
    bool ok = false;

    if (m == NULL || !collect(&b, m)) {
        dlp_rules_errors_add(b.err, "matcher: out of memory");
        goto out;
    }
    m->rs = rs;
    m->info.patterns = m->npat;
    check_rules(&b);
    if (b.nerr > 0 || m->npat == 0) {
        check_patterns(&b, m);
        ok = b.nerr == 0;
        goto out;
    }
    ok = cache_dir != NULL ? build_cached(&b, m, cache_dir) : check_and_compile(&b, m);
    if (ok && !alloc_protos(m)) {
        dlp_rules_errors_add(b.err, "matcher: cannot allocate Hyperscan scratch");
        ok = false;
    }
out:
    build_fini(&b);
    dlp_rules_errors_fini(&discard);
    if (!ok) {
        dlp_matcher_free(m);
        return NULL;
    }
    return m;
}

void dlp_matcher_free(dlp_matcher_t *m)
{
    if (m == NULL)
        return;
    hs_free_scratch(m->proto);
    for (unsigned i = 0; m->db != NULL && i < m->ndb; i++)
        hs_free_database(m->db[i]);
    free(m->db);
    free(m->pat);
    free(m);
}

const dlp_matcher_info_t *dlp_matcher_info(const dlp_matcher_t *m)
{
    return &m->info;
}
