/*
 * rules_check.c - `dlpsensor rules check [--strict] [PATH...]`.
 *
 * 1. Load the files as the sensor does (every loader error, its format).
 * 2. Compile with no cache, every rule enabled (a disabled rule is checked
 *    too, so it can be fixed before it is enabled). When the set does not
 *    compile, the rules its errors name are dropped and the others
 *    compiled again so that their examples still run (compile_good).
 * 3. Run every example through the real detect stage, as one stream write,
 *    as one block, and in writes of every size up to DLP_RULESCMD_SPLIT_MAX:
 *    a match example must give a value of its rule, a no_match example
 *    none, and all ways of writing must agree. An example is data of no
 *    flow: `protocols`, `fields` and the address and host allow-lists do
 *    not apply; context, exclude_context, value allow-lists and published
 *    test values do, as in the sensor. Why a match example does not fire
 *    comes from the rule's counters (rejected, context, allowed...).
 * 4. Lint (rules_lint.c): warnings.
 *
 * Output: errors, then warnings, one per line; then "N rules, M examples,
 * E errors, W warnings, compiled in X ms, digest HEX" ("not compiled" when
 * the set does not compile; no digest when it does not load). Exit 2 on any error (or warning, with --strict), else 0.
 *
 * Thread: main's.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/validate.h"
#include "rulescmd_int.h"
#include "runtime_int.h" /* the sensor's own checks of keyed lists */

/* The key of the example scans: no allow-list hmac can match it. */
static const uint8_t CHECK_KEY[] = "dlpsensor rules check";

typedef struct chk {
    dlp_ruleset_t *rs;   /* as loaded */
    dlp_ruleset_t *all;  /* every rule enabled, no flow-dependent policy */
    dlp_ruleset_t *good; /* after a failed compile: the rules it did not name */
    dlp_matcher_t *m;    /* on 'all', or else on 'good' */
    bool *bad;           /* [n]: its patterns do not compile */
    bool compiled;
    bool oom; /* out of memory: said once, in report(), which needs no memory for it */
    double compile_ms;
    dlp_rules_errors_t errs, warns;
    dlp_rulescmd_fire_t *fires; /* see dlp_rulescmd__lint_overlaps */
    size_t nfires, capfires;
    uint32_t *noted; /* [n]: 1 + the last rule whose examples were found to fire this one */
    size_t nexamples;
    dlp_rulescmd_scanner_t *sc;
    dlp_rulescmd_found_t found;
} chk_t;

/* Enables in c->good the rules not known to be bad; how many are bad. */
static size_t enable_good(chk_t *c)
{
    size_t nbad = 0;

    for (size_t i = 0; i < c->good->n; i++) {
        c->good->rules[i].enabled = !c->bad[i];
        nbad += c->bad[i];
    }
    return nbad;
}

/*
 * After a failed compile: a matcher of the other rules. The matcher names
 * the rule of each error (every error is about one pattern or one rule), so
 * those are dropped and the rest compiled again, without the errors, which
 * were reported once. Its checks stop at the first stage that fails, so a
 * later compile may name more: a few rounds at most (one per stage). A
 * compile that fails naming no rule ("does not compile as a whole") leaves
 * no matcher: the examples are not run, the error says why.
 */
static void compile_good(chk_t *c)
{
    size_t nbad;

    c->good = dlp_rulescmd__copy(c->all, 0);
    if (c->good == NULL) /* the compile's errors already fail the check */
        return;
    do {
        nbad = enable_good(c);
        c->m = dlp_matcher_new_blame(c->good, NULL, NULL, c->bad);
    } while (c->m == NULL && enable_good(c) > nbad);
}

static void compile(chk_t *c)
{
    size_t n = c->errs.n;

    c->m = dlp_matcher_new_blame(c->all, NULL, &c->errs, c->bad);
    if (c->m != NULL) {
        c->compiled = true;
        c->compile_ms = dlp_matcher_info(c->m)->compile_ms;
        return;
    }
    /* a failed compile says why, unless there was no memory to keep it */
    if (c->errs.n == n) {
        c->oom = true;
        return;
    }
    compile_good(c);
}

static void snapshot(const chk_t *c, size_t rule, uint64_t out[DLP_RSTAT__COUNT])
{
    for (int k = 0; k < DLP_RSTAT__COUNT; k++)
        out[k] = dlp_rulescmd__rstat(c->sc, rule, (dlp_rstat_t)k);
}

static void add_part(char *out, size_t cap, uint64_t n, const char *one, const char *many)
{
    size_t o = strlen(out);

    if (n == 0 || o >= cap)
        return;
    snprintf(out + o, cap - o, "%s%" PRIu64 " %s", out[o - 1] == ':' ? " " : ", ", n,
             n == 1 ? one : many);
}

/* What the context counter means for this rule. */
static const char *context_why(const dlp_rule_t *r)
{
    if (r->context.required && r->exclude.nwords == 0)
        return "without a required context word";
    if (!r->context.required)
        return "with an exclude_context word near";
    return "without a required context word or with an exclude_context word near";
}

/* Why a match example gave no value, from its counters (d: after - before). */
static void why_not(const dlp_rule_t *r, const uint64_t *d, char *out, size_t cap)
{
    char rej[96];
    const dlp_validator_info_t *vi = dlp_validator_get(r->validator);

    if (d[DLP_RSTAT_CANDIDATES] == 0) {
        snprintf(out, cap, "no pattern matches it");
        return;
    }
    snprintf(out, cap, "%" PRIu64 " candidate%s:", d[DLP_RSTAT_CANDIDATES],
             d[DLP_RSTAT_CANDIDATES] == 1 ? "" : "s");
    snprintf(rej, sizeof(rej), "rejected by the validator %s", vi ? vi->name : "?");
    add_part(out, cap, d[DLP_RSTAT_REJECTED], rej, rej);
    add_part(out, cap, d[DLP_RSTAT_FILTERED], "filtered by protocol or field",
             "filtered by protocol or field");
    add_part(out, cap, d[DLP_RSTAT_CONTEXT], context_why(r), context_why(r));
    add_part(out, cap, d[DLP_RSTAT_ALLOWED], "on an allow-list", "on an allow-list");
    add_part(out, cap, d[DLP_RSTAT_UNLISTED], "not on the edm list", "not on the edm list");
    add_part(out, cap, d[DLP_RSTAT_TEST_VALUES],
             "published test value (reported only with test_values: true)",
             "published test values (reported only with test_values: true)");
    if (d[DLP_RSTAT_CONTEXT] > 0) {
        const dlp_rule_context_t *cx = r->context.required ? &r->context : &r->exclude;
        if (cx->file != NULL)
            snprintf(out + strlen(out), cap - strlen(out), " (%s at %s:%u)",
                     cx == &r->context ? "context" : "exclude_context", cx->file, cx->line);
    }
    if (out[strlen(out) - 1] == ':')
        snprintf(out + strlen(out), cap - strlen(out), " none gave a value");
}

static const char *file_of(const dlp_rule_t *r)
{
    return r->file != NULL ? r->file : "(rules)";
}

/* Where the rule's examples were written: an override may have replaced them. */
static const char *ex_file(const dlp_rule_t *r)
{
    return r->examples_file != NULL ? r->examples_file : file_of(r);
}

/* Scans ex with rule i: its count of values, or -1 (out of memory, reported). */
static long count_of(chk_t *c, size_t i, const char *ex, size_t chunk)
{
    if (c->oom)
        return -1;
    if (dlp_rulescmd__scan(c->sc, (const uint8_t *)ex, strlen(ex), chunk, &c->found) != DLP_OK ||
        c->found.lost) {
        c->oom = true; /* every example after it would fail the same way: none runs */
        return -1;
    }
    return c->found.count[i];
}

/* The line of example k ("match" or "no_match"), else the rule's. */
static unsigned ex_line(const dlp_rule_t *r, const char *kind, size_t k)
{
    const unsigned *lines = kind[0] == 'm' ? r->ex_match_line : r->ex_no_match_line;

    return lines != NULL ? lines[k] : r->line;
}

/* The same count as a block and in writes of every size up to DLP_RULESCMD_SPLIT_MAX. */
static void check_splits(chk_t *c, size_t i, const char *kind, size_t k, const char *ex,
                         long whole)
{
    const dlp_rule_t *r = &c->all->rules[i];
    size_t n = strlen(ex);
    long got = count_of(c, i, ex, 0);

    if (got >= 0 && got != whole) {
        dlp_rules_errors_add(&c->errs,
                             "%s:%u: rule %s: %s example %zu: %ld value%s as a stream, "
                             "%ld as a block",
                             ex_file(r), ex_line(r, kind, k), r->name, kind, k + 1, whole,
                             whole == 1 ? "" : "s", got);
        return;
    }
    for (size_t chunk = 1; chunk < n && chunk <= DLP_RULESCMD_SPLIT_MAX && got >= 0; chunk++) {
        got = count_of(c, i, ex, chunk);
        if (got >= 0 && got != whole) {
            dlp_rules_errors_add(&c->errs,
                                 "%s:%u: rule %s: %s example %zu: %ld value%s in one write, "
                                 "%ld in %zu-byte writes",
                                 ex_file(r), ex_line(r, kind, k), r->name, kind, k + 1, whole,
                                 whole == 1 ? "" : "s", got, chunk);
            return;
        }
    }
}

/* Appends (from, to, example); false when out of memory. */
static bool add_fire(chk_t *c, size_t from, size_t to, size_t example)
{
    if (c->nfires == c->capfires) {
        size_t cap = c->capfires ? 2 * c->capfires : 64;
        dlp_rulescmd_fire_t *v = realloc(c->fires, cap * sizeof(*v));
        if (v == NULL)
            return false;
        c->fires = v;
        c->capfires = cap;
    }
    c->fires[c->nfires++] = (dlp_rulescmd_fire_t){
        .from = (uint32_t)from, .to = (uint32_t)to, .example = (uint32_t)example};
    return true;
}

/*
 * Other rules the match example k of rule i also gave values of, the first
 * example only per pair. The examples of one rule are run one after the
 * other (run_examples), so noted[] tells whether rule i already noted j.
 */
static void note_fires(chk_t *c, size_t i, size_t k)
{
    for (size_t j = 0; j < c->all->n; j++) {
        if (j == i || c->found.count[j] == 0 || c->noted[j] == i + 1)
            continue;
        c->noted[j] = (uint32_t)(i + 1);
        if (!add_fire(c, i, j, k + 1)) {
            c->oom = true;
            return;
        }
    }
}

static void check_example(chk_t *c, size_t i, size_t k, bool should)
{
    const dlp_rule_t *r = &c->all->rules[i];
    const char *ex = should ? r->ex_match[k] : r->ex_no_match[k];
    const char *kind = should ? "match" : "no_match";
    uint64_t before[DLP_RSTAT__COUNT], after[DLP_RSTAT__COUNT];
    char why[512];
    long whole;

    /* Messages name the example by its line, never quote it: an example may
     * be a real value someone pasted in (rulescmd.h: no raw value printed). */
    snapshot(c, i, before);
    whole = count_of(c, i, ex, strlen(ex) + 1);
    if (whole < 0)
        return;
    snapshot(c, i, after);
    c->nexamples++;
    if (should)
        note_fires(c, i, k);
    if (c->oom)
        return;
    if (should && whole == 0) {
        for (int s = 0; s < DLP_RSTAT__COUNT; s++)
            after[s] -= before[s];
        why_not(r, after, why, sizeof(why));
        dlp_rules_errors_add(&c->errs,
                             "%s:%u: rule %s: match example %zu does not fire: %s",
                             ex_file(r), ex_line(r, kind, k), r->name, k + 1, why);
        return;
    }
    if (!should && whole > 0) {
        const char *masked = "";
        for (size_t v = 0; v < c->found.n; v++)
            if (c->found.v[v].rule == i) {
                masked = c->found.v[v].masked;
                break;
            }
        dlp_rules_errors_add(&c->errs,
                             "%s:%u: rule %s: no_match example %zu fires: %ld value%s (%s)",
                             ex_file(r), ex_line(r, kind, k), r->name, k + 1, whole,
                             whole == 1 ? "" : "s", masked);
        return;
    }
    check_splits(c, i, kind, k, ex, whole);
}

static void run_examples(chk_t *c)
{
    for (size_t i = 0; i < c->all->n && !c->oom; i++) {
        const dlp_rule_t *r = &c->all->rules[i];
        if (r->combination.min_weight > 0 || r->npatterns == 0 || c->bad[i])
            continue;
        for (size_t k = 0; k < r->nex_match && !c->oom; k++)
            check_example(c, i, k, true);
        for (size_t k = 0; k < r->nex_no_match && !c->oom; k++)
            check_example(c, i, k, false);
    }
}

static unsigned lint(chk_t *c)
{
    unsigned n = 0;

    for (size_t i = 0; i < c->rs->n; i++) {
        if (!c->bad[i])
            n += dlp_rulescmd__lint_widths(c->rs, i, &c->warns);
        n += dlp_rulescmd__lint_examples(c->rs, i, &c->warns);
        n += dlp_rulescmd__lint_duplicates(c->rs, i, &c->warns);
        n += dlp_rulescmd__lint_context(c->rs, i, &c->warns);
    }
    return n + dlp_rulescmd__lint_overlaps(c->rs, c->fires, c->nfires, &c->warns);
}

/*
 * Without --hmac-key-file, what the sensor would say of the set's keyed
 * lists without one: it refuses an enabled rule's edm: list (said here as a
 * warning, since the set is fine with the key) and warns that allow: hmacs
 * never match.
 */
static void unkeyed(chk_t *c)
{
    for (size_t i = 0; i < c->rs->n; i++) {
        const dlp_rule_t *r = &c->rs->rules[i];
        if (!r->edm.on || !r->enabled)
            continue;
        dlp_rules_errors_add(&c->warns,
                             "%s:%u: rule %s: warning: edm: the sensor refuses this set without "
                             "--hmac-key-file (the hashes are keyed; give rules check the key "
                             "file too)",
                             r->edm.file, r->edm.line, r->name);
    }
    dlp_detection_hmacs_unkeyed(c->rs, "warning: ", &c->warns);
}

static int report(const chk_t *c, const dlp_rulescmd_opts_t *o)
{
    char how[64], digest[DLP_RULES_DIGEST_HEX + 16] = "";
    size_t nerr = c->errs.n + c->oom;

    for (size_t i = 0; i < c->errs.n; i++)
        printf("%s\n", c->errs.msg[i]);
    if (c->oom)
        printf("rules check: out of memory\n");
    for (size_t i = 0; i < c->warns.n; i++)
        printf("%s\n", c->warns.msg[i]);
    if (c->compiled)
        snprintf(how, sizeof(how), "compiled in %.0f ms", c->compile_ms);
    else
        snprintf(how, sizeof(how), "not compiled");
    if (c->rs != NULL) { /* the sensor's stats, -T and reload log show it too */
        memcpy(digest, ", digest ", 9);
        dlp_ruleset_digest_hex(c->rs, digest + 9);
    }
    printf("%zu rule%s, %zu example%s, %zu error%s, %zu warning%s, %s%s\n",
           c->rs ? c->rs->n : 0, c->rs && c->rs->n == 1 ? "" : "s", c->nexamples,
           c->nexamples == 1 ? "" : "s", nerr, nerr == 1 ? "" : "s", c->warns.n,
           c->warns.n == 1 ? "" : "s", how, digest);
    return nerr > 0 || (o->strict && c->warns.n > 0) ? 2 : 0;
}

static bool setup(chk_t *c)
{
    size_t n = c->rs->n;

    /* edm lists are a site's data, not the rule's: examples show the shape */
    c->all = dlp_rulescmd__copy(c->rs, RC_ENABLE_ALL | RC_NO_FIELDS | RC_NO_PROTOCOLS | RC_NO_ADDR |
                                           RC_NO_EDM);
    c->bad = calloc(n + 1, sizeof(*c->bad));
    c->noted = calloc(n + 1, sizeof(*c->noted));
    return c->all != NULL && c->bad != NULL && c->noted != NULL;
}

int dlp_rulescmd__check(const dlp_rulescmd_opts_t *o)
{
    chk_t c;
    int st = 1;

    memset(&c, 0, sizeof(c));
    if (o->key_file != NULL) { /* the key the sensor would be given: it must be usable */
        uint8_t key[1024];
        size_t len;
        if ((st = dlp_hmac_key_read("dlpsensor rules", o->key_file, key, sizeof(key), &len)) != 0)
            return st;
    }
    c.rs = dlp_rulescmd__load(o, &c.errs);
    if (c.rs == NULL) {
        /* a load fails with a message, unless there was no memory to keep it */
        c.oom = c.errs.n == 0;
        st = report(&c, o);
        goto out;
    }
    if (!setup(&c)) {
        fprintf(stderr, "dlpsensor rules: out of memory\n");
        goto out;
    }
    compile(&c);
    if (c.m != NULL) {
        c.sc = dlp_rulescmd__scanner_new(c.all, c.m, CHECK_KEY, sizeof(CHECK_KEY) - 1);
        if (c.sc == NULL) {
            fprintf(stderr, "dlpsensor rules: out of memory\n");
            goto out;
        }
        run_examples(&c);
    }
    lint(&c);
    if (o->key_file == NULL)
        unkeyed(&c);
    st = report(&c, o);
out:
    dlp_rulescmd__found_fini(&c.found);
    dlp_rulescmd__scanner_free(c.sc);
    dlp_matcher_free(c.m);
    dlp_rulescmd__copy_free(c.good);
    dlp_rulescmd__copy_free(c.all);
    dlp_ruleset_free(c.rs);
    free(c.bad);
    free(c.fires);
    free(c.noted);
    dlp_rules_errors_fini(&c.errs);
    dlp_rules_errors_fini(&c.warns);
    return st;
}
