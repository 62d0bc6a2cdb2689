/*
 * test_rulescmd.c - the pieces of `dlpsensor rules`: the lints (widths,
 * examples, duplicates, context words in common words, overlaps) with their
 * exact lines and bounds, relaxed rule-set copies, the scanner through the
 * real detect stage (stream and block agree, counters), and the command
 * line's refusals.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dlp/rulescmd.h"
#include "rulescmd_int.h"

static char g_path[64];

/* Loads 'yaml' from a temporary file (its path in g_path, removed after). */
static dlp_ruleset_t *load(const char *yaml)
{
    static char dir[32];
    dlp_rules_errors_t err = {0};
    const char *p[1] = {g_path};
    dlp_ruleset_t *rs;
    FILE *f;

    snprintf(dir, sizeof(dir), "/tmp/dlp-rcmd-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(g_path, sizeof(g_path), "%s/r.yaml", dir);
    f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    rs = dlp_rules_load(p, 1, &err);
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "%s\n", err.msg[i]);
    dlp_rules_errors_fini(&err);
    remove(g_path);
    rmdir(dir);
    assert_non_null(rs);
    return rs;
}

/* Asserts that 'e' holds exactly the lines 'want' (with "@" replaced by the file's path). */
static void expect_lines(const dlp_rules_errors_t *e, const char *const *want, size_t n)
{
    char line[1024];

    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "got: %s\n", e->msg[i]);
    assert_int_equal(e->n, n);
    for (size_t i = 0; i < n; i++) {
        const char *at = strchr(want[i], '@');
        assert_non_null(at);
        snprintf(line, sizeof(line), "%.*s%s%s", (int)(at - want[i]), want[i], g_path, at + 1);
        assert_string_equal(e->msg[i], line);
    }
}

#define RULE(id, name, pats)                                                                       \
    "  - id: " id "\n    name: " name "\n    description: d\n    category: linked\n"               \
    "    severity: low\n    patterns: " pats "\n"

/* --- widths ------------------------------------------------------------------------------ */

static void widths_empty_and_short(void **state)
{
    dlp_ruleset_t *rs = load("rules:\n" RULE(
        "1", "t.a", "['a?b?', 'abc', 'abcd', '\\bACME-[0-9]{8}\\b', '[a-z]{1,3}', 'x(']"));
    dlp_rules_errors_t out = {0};
    static const char *const want[] = {
        "@:7: rule t.a: warning: pattern 1 can match the empty string: it would fire everywhere",
        "@:7: rule t.a: warning: pattern 2 can match as few as 3 bytes: a match that short fires "
        "on almost any traffic",
        "@:7: rule t.a: warning: pattern 5 can match as few as 1 byte: a match that short fires "
        "on almost any traffic",
    };

    (void)state;
    /* 'abcd' is DLP_RULESCMD_MIN_WIDTH bytes: fine; 'x(' does not parse: the matcher's error */
    assert_int_equal(DLP_RULESCMD_MIN_WIDTH, 4);
    assert_int_equal(dlp_rulescmd__lint_widths(rs, 0, &out), 3);
    expect_lines(&out, want, DLP_ARRAY_LEN(want));
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
}

static void widths_use_the_rule_flags(void **state)
{
    /* with multiline, '^' and '$' around a 1-byte class still make a 1-byte match */
    dlp_ruleset_t *rs = load("rules:\n" RULE("1", "t.a", "['^[0-9]$']") "    flags: [multiline]\n");
    dlp_rules_errors_t out = {0};

    (void)state;
    assert_int_equal(dlp_rulescmd__lint_widths(rs, 0, &out), 1);
    assert_non_null(strstr(out.msg[0], "as few as 1 byte:"));
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
}

/* --- examples count -------------------------------------------------------------------------- */

static void examples_counted(void **state)
{
    dlp_ruleset_t *rs = load("rules:\n" RULE("1", "t.none", "['ACME-[0-9]{8}']") RULE(
        "2", "t.few",
        "['ACME-[0-9]{8}']") "    examples:\n"
                             "      match: [a, b, c, d, e, f, g]\n"
                             "      no_match: [a]\n" RULE(
                                 "3", "t.enough",
                                 "['ACME-[0-9]{8}']") "    examples:\n"
                                                      "      match: [a, b, c, d, e, f, g, h]\n"
                                                      "      no_match: [a, b, c, d, e, f, g, "
                                                      "h]\n" RULE(
                                                          "4", "t.nomatch",
                                                          "['ACME-[0-9]{8}']") "    examples:\n"
                                                                               "      no_match: "
                                                                               "[a, b, c, d, e, f, "
                                                                               "g, h]\n");
    dlp_rules_errors_t out = {0};
    static const char *const want[] = {
        "@:2: rule t.none: warning: no examples (at least 8 match and 8 no_match recommended)",
        "@:8: rule t.few: warning: only 7 match examples (at least 8 recommended)",
        "@:8: rule t.few: warning: only 1 no_match example (at least 8 recommended)",
        "@:26: rule t.nomatch: warning: no match examples (at least 8 recommended)",
    };
    unsigned n = 0;

    (void)state;
    assert_int_equal(DLP_RULESCMD_MIN_EXAMPLES, 8);
    for (size_t i = 0; i < rs->n; i++)
        n += dlp_rulescmd__lint_examples(rs, i, &out);
    assert_int_equal(n, 4);
    expect_lines(&out, want, DLP_ARRAY_LEN(want));
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
}

/* --- duplicates --------------------------------------------------------------------------- */

static void duplicates_same_expression_and_flags(void **state)
{
    dlp_ruleset_t *rs =
        load("rules:\n" RULE("1", "t.a", "['ACME-[0-9]{8}', 'FOO-[0-9]{6}']")
                 RULE("2", "t.b", "['FOO-[0-9]{6}']")
                     RULE("3", "t.c", "['ACME-[0-9]{8}']") "    flags: [caseless]\n" RULE(
                         "4", "t.d", "['X-[0-9]{6}',\n      'X-[0-9]{6}']")
                         RULE("5", "t.e", "['ACME-[0-9]{8}']") "    flags: [caseless, dotall]\n");
    dlp_rules_errors_t out = {0};
    static const char *const want[] = {
        "@:13: rule t.b: warning: pattern 1 is identical to pattern 2 of rule t.a (@:7)",
        "@:27: rule t.d: warning: pattern 2 is identical to pattern 1 of rule t.d (@:26)",
        "@:33: rule t.e: warning: pattern 1 is identical to pattern 1 of rule t.c (@:19)",
    };
    unsigned n = 0;
    char line[512];

    (void)state;
    for (size_t i = 0; i < rs->n; i++)
        n += dlp_rulescmd__lint_duplicates(rs, i, &out);
    /* t.c is caseless: not the same as t.a's; t.e differs from t.c by dotall only (always on) */
    assert_int_equal(n, 3);
    assert_int_equal(out.n, 3);
    for (size_t i = 0; i < 3; i++) {
        const char *a = strchr(want[i], '@'), *b = strchr(a + 1, '@');
        snprintf(line, sizeof(line), "%.*s%s%.*s%s%s", (int)(a - want[i]), want[i], g_path,
                 (int)(b - a - 1), a + 1, g_path, b + 1);
        assert_string_equal(out.msg[i], line);
    }
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
}

/* --- context words ----------------------------------------------------------------------- */

static void common_words(void **state)
{
    char longw[DLP_RULE_CONTEXT_WORD_MAX + 2];

    (void)state;
    assert_string_equal(dlp_rulescmd__common_word("licen"), "license");
    assert_string_equal(dlp_rulescmd__common_word("LICEN"), "license");
    assert_string_equal(dlp_rulescmd__common_word("ublic"), "public");
    /* three letters or fewer: an acronym, written whole on purpose */
    assert_null(dlp_rulescmd__common_word("lic"));
    assert_null(dlp_rulescmd__common_word("tin"));
    assert_null(dlp_rulescmd__common_word("pan"));
    assert_null(dlp_rulescmd__common_word("public")); /* the word itself */
    assert_null(dlp_rulescmd__common_word("call"));   /* only "called": an inflection */
    assert_null(dlp_rulescmd__common_word("ssn"));
    assert_null(dlp_rulescmd__common_word("card number")); /* phrases are not looked up */
    assert_null(dlp_rulescmd__common_word(""));
    memset(longw, 'a', sizeof(longw) - 1);
    longw[sizeof(longw) - 1] = '\0';
    assert_null(dlp_rulescmd__common_word(longw));
}

static void context_words_linted(void **state)
{
    dlp_ruleset_t *rs = load(
        "rules:\n" RULE("1", "t.a", "['ACME-[0-9]{8}']") "    context:\n"
                                                         "      words:\n"
                                                         "        - badge\n"
                                                         "        - licen\n" /* 11 */
                                                         "        - id number\n"
                                                         "    exclude_context:\n"
                                                         "      words: [ampl]\n");
    dlp_rules_errors_t out = {0};
    /* at the word's own line, not the context: key's */
    static const char *const want[] = {
        "@:11: rule t.a: warning: context word 'licen' is part of the common word 'license': "
        "words are matched whole, so 'license' does not count (a tuning hint)",
        "@:14: rule t.a: warning: exclude_context word 'ampl' is part of the common word "
        "'example': words are matched whole, so 'example' does not count (a tuning hint)",
    };

    (void)state;
    assert_int_equal(dlp_rulescmd__lint_context(rs, 0, &out), 2);
    expect_lines(&out, want, DLP_ARRAY_LEN(want));
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
}

/* --- overlaps -------------------------------------------------------------------------------- */

static void overlaps_need_both_ways(void **state)
{
    dlp_ruleset_t *rs = load("rules:\n" RULE("1", "t.a", "['AAAA']") RULE("2", "t.b", "['BBBB']")
                                 RULE("3", "t.c", "['CCCC']"));
    dlp_rules_errors_t out = {0};
    dlp_rulescmd_fire_t fires[3];
    static const char *const want[] = {
        "@:14: rule t.c: warning: overlaps rule t.a (@:2): its match example 2 also fires t.a, "
        "and match example 3 of t.a fires this rule (judged from the examples only)",
    };
    char line[512];

    (void)state;
    fires[0] = (dlp_rulescmd_fire_t){0, 1, 1}; /* a fires b, b never fires a: no overlap */
    fires[1] = (dlp_rulescmd_fire_t){0, 2, 3}; /* a and c fire each other */
    fires[2] = (dlp_rulescmd_fire_t){2, 0, 2};
    assert_int_equal(dlp_rulescmd__lint_overlaps(rs, fires, 3, &out), 1);
    const char *a = strchr(want[0], '@'), *b = strchr(a + 1, '@');
    snprintf(line, sizeof(line), "%.*s%s%.*s%s%s", (int)(a - want[0]), want[0], g_path,
             (int)(b - a - 1), a + 1, g_path, b + 1);
    assert_string_equal(out.msg[0], line);
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
    /* two linkable rules meeting in one record (a CSV header) is the design */
    rs = load("rules:\n" RULE("1", "t.a", "['AAAA']") RULE("2", "t.b", "['BBBB']"));
    rs->rules[0].category = rs->rules[1].category = DLP_CAT_LINKABLE;
    fires[0] = (dlp_rulescmd_fire_t){0, 1, 1};
    fires[1] = (dlp_rulescmd_fire_t){1, 0, 1};
    assert_int_equal(dlp_rulescmd__lint_overlaps(rs, fires, 2, &out), 0);
    rs->rules[1].category = DLP_CAT_LINKED;
    assert_int_equal(dlp_rulescmd__lint_overlaps(rs, fires, 2, &out), 1);
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
}

/* The pairs in any order: one line per pair, by the later rule, then the earlier one (the order
 * of the n x n walk the list replaced); no pair: nothing. */
static void overlaps_in_rule_order(void **state)
{
    dlp_ruleset_t *rs = load("rules:\n" RULE("1", "t.a", "['AAAA']") RULE("2", "t.b", "['BBBB']")
                                 RULE("3", "t.c", "['CCCC']") RULE("4", "t.d", "['DDDD']"));
    dlp_rules_errors_t out = {0};
    dlp_rulescmd_fire_t fires[] = {
        {3, 1, 4}, {2, 0, 1}, {1, 3, 2}, {0, 3, 5}, {3, 0, 6}, {0, 2, 7}, {2, 1, 8},
    };
    static const char *const want[] = {"t.c overlaps t.a: 1 7", "t.d overlaps t.a: 6 5",
                                       "t.d overlaps t.b: 4 2"};
    char line[128];
    unsigned b1, b2;
    char rb[8], ra[8];

    (void)state;
    assert_int_equal(dlp_rulescmd__lint_overlaps(rs, fires, 0, &out), 0);
    assert_int_equal(dlp_rulescmd__lint_overlaps(rs, fires, DLP_ARRAY_LEN(fires), &out), 3);
    assert_int_equal(out.n, 3);
    for (size_t i = 0; i < out.n; i++) {
        const char *m = strstr(out.msg[i], ": rule ");
        assert_non_null(m);
        assert_int_equal(sscanf(m, ": rule %7[a-z.]: warning: overlaps rule %7[a-z.] (%*[^)]): "
                                   "its match example %u also fires %*s and match example %u",
                                rb, ra, &b1, &b2),
                         4);
        snprintf(line, sizeof(line), "%s overlaps %s: %u %u", rb, ra, b1, b2);
        assert_string_equal(line, want[i]);
    }
    dlp_rules_errors_fini(&out);
    dlp_ruleset_free(rs);
}

/* --- the bad rules of a failed compile ------------------------------------------------------ */

/* dlp_matcher_new_blame, as rules check uses it: each round names the rules of the first stage
 * that fails (here the syntax check, then start-of-match), dropping them lets the rest compile. */
static void blame_names_the_rules_round_by_round(void **state)
{
    dlp_ruleset_t *rs = load(
        "rules:\n" RULE("1", "t.good", "['\\bACME-[0-9]{8}\\b']")
            RULE("2", "t.lookbehind", "['ACME-(?<=x)[0-9]{8}']")
                RULE("3", "t.som", "['\\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}"
                                   "(?:\\.[A-Za-z0-9-]{1,63}){0,4}\\.[A-Za-z]{2,24}\\b']")
                    RULE("4", "t.other", "['\\bZED-[0-9]{6}\\b']"));
    static const char *const want[] = {
        "@:13: rule t.lookbehind: pattern 1: Zero-width assertions are not supported.",
    };
    dlp_rules_errors_t err = {0};
    bool bad[4] = {false};
    dlp_matcher_t *m;

    (void)state;
    assert_null(dlp_matcher_new_blame(rs, NULL, &err, bad));
    expect_lines(&err, want, DLP_ARRAY_LEN(want));
    assert_false(bad[0] || bad[2] || bad[3]);
    assert_true(bad[1]);
    rs->rules[1].enabled = false;
    assert_null(dlp_matcher_new_blame(rs, NULL, NULL, bad));
    assert_true(bad[1]); /* never cleared */
    assert_true(bad[2]);
    assert_false(bad[0] || bad[3]);
    rs->rules[2].enabled = false;
    m = dlp_matcher_new_blame(rs, NULL, NULL, bad);
    assert_non_null(m);
    assert_int_equal(dlp_matcher_info(m)->patterns, 2);
    dlp_matcher_free(m);
    /* no list: dlp_matcher_new */
    rs->rules[1].enabled = true;
    assert_null(dlp_matcher_new_blame(rs, NULL, NULL, NULL));
    dlp_rules_errors_fini(&err);
    dlp_ruleset_free(rs);
}

/* --- copies and the scanner ----------------------------------------------------------------- */

static const char card_rules[] =
    "rules:\n" RULE("1", "t.card", "['\\b4[0-9]{15}\\b']") "    validator: luhn\n"
                                                           "    enabled: false\n"
                                                           "    context:\n"
                                                           "      words: [card]\n"
                                                           "      required: true\n"
                                                           "    exclude_context:\n"
                                                           "      words: [sample]\n"
                                                           "    fields: [http.body]\n"
                                                           "    protocols: [HTTP]\n"
                                                           "    allow:\n"
                                                           "      values: ['4539 1488 0343 6467']\n"
                                                           "      src: [10.0.0.0/8]\n";

static void copies_relax_only_what_they_say(void **state)
{
    dlp_ruleset_t *rs = load(card_rules);
    dlp_ruleset_t *c = dlp_rulescmd__copy(rs, RC_ENABLE_ALL | RC_NO_FIELDS | RC_NO_ADDR);
    dlp_ruleset_t *d = dlp_rulescmd__copy(rs, RC_NO_PROTOCOLS | RC_NO_REQUIRED | RC_NO_EXCLUDE |
                                                  RC_NO_ALLOW | RC_TEST_VALUES);

    (void)state;
    assert_true(c->rules[0].enabled);
    assert_int_equal(c->rules[0].fields, 0);
    assert_int_equal(c->rules[0].nprotocols, 1);
    assert_int_equal(c->rules[0].allow.src.n, 0);
    assert_int_equal(c->rules[0].allow.nvalues, 1);
    assert_true(c->rules[0].context.required);
    assert_false(d->rules[0].enabled);
    assert_int_equal(d->rules[0].nprotocols, 0);
    assert_int_not_equal(d->rules[0].fields, 0);
    assert_false(d->rules[0].context.required);
    assert_int_equal(d->rules[0].exclude.nwords, 0);
    assert_int_equal(d->rules[0].allow.nvalues, 0);
    assert_true(d->rules[0].test_values);
    /* the original is untouched */
    assert_false(rs->rules[0].enabled);
    assert_int_equal(rs->rules[0].allow.src.n, 1);
    assert_int_equal(rs->rules[0].exclude.nwords, 1);
    dlp_rulescmd__copy_free(c);
    dlp_rulescmd__copy_free(d);
    dlp_rulescmd__copy_free(NULL);
    dlp_ruleset_free(rs);
}

static const uint8_t KEY[] = "k";

/* The values of rule 0 (count) in 'text' through a scanner on 'how'-relaxed rules. */
static uint32_t scan_count(const dlp_ruleset_t *rs, const dlp_matcher_t *m, unsigned how,
                           const char *text, size_t chunk, dlp_rulescmd_found_t *f)
{
    dlp_ruleset_t *c = dlp_rulescmd__copy(rs, how);
    dlp_rulescmd_scanner_t *s = dlp_rulescmd__scanner_new(c, m, KEY, 1);
    uint32_t n;

    assert_non_null(s);
    assert_int_equal(dlp_rulescmd__scan(s, (const uint8_t *)text, strlen(text), chunk, f), DLP_OK);
    assert_false(f->lost);
    n = f->count[0];
    dlp_rulescmd__scanner_free(s);
    dlp_rulescmd__copy_free(c);
    return n;
}

static void scanner_levels(void **state)
{
    static const char text[] = "pay 4539148803436467 now, card 4526018159083012; "
                               "4539 1488 0343 6468";
    dlp_ruleset_t *rs = load(card_rules);
    dlp_ruleset_t *all = dlp_rulescmd__copy(rs, RC_ENABLE_ALL);
    dlp_matcher_t *m = dlp_matcher_new(all, NULL, NULL);
    dlp_rulescmd_found_t f = {0};
    const unsigned base = RC_ENABLE_ALL | RC_NO_FIELDS | RC_NO_PROTOCOLS;

    (void)state;
    assert_non_null(m);
    /* only the card with its context word counts; none without the relaxed filters */
    assert_int_equal(scan_count(rs, m, RC_ENABLE_ALL, text, 0, &f), 0);
    assert_int_equal(scan_count(rs, m, base, text, 0, &f), 1);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.v[0].masked, "452601******3012");
    assert_int_equal(f.v[0].offset, 31);
    /* the same in a stream of any write size */
    for (size_t chunk = 1; chunk <= sizeof(text); chunk++)
        assert_int_equal(scan_count(rs, m, base, text, chunk, &f), 1);
    /* no required context: the allowed card is still allowed */
    assert_int_equal(scan_count(rs, m, base | RC_NO_REQUIRED, text, 0, &f), 1);
    /* no allow-list either: both cards (the grouped one is not this rule's shape) */
    assert_int_equal(scan_count(rs, m, base | RC_NO_REQUIRED | RC_NO_ALLOW, text, 0, &f), 2);
    dlp_rulescmd__found_fini(&f);
    dlp_matcher_free(m);
    dlp_rulescmd__copy_free(all);
    dlp_ruleset_free(rs);
}

static void scanner_counters(void **state)
{
    dlp_ruleset_t *rs = load(card_rules);
    dlp_ruleset_t *c = dlp_rulescmd__copy(rs, RC_ENABLE_ALL | RC_NO_FIELDS | RC_NO_PROTOCOLS);
    dlp_matcher_t *m = dlp_matcher_new(c, NULL, NULL);
    dlp_rulescmd_scanner_t *s = dlp_rulescmd__scanner_new(c, m, KEY, 1);
    dlp_rulescmd_found_t f = {0};
    static const char text[] = "4539148803436467 4539148803436468 card 4111111111111111 "
                               "card 4526018159083012 sample";

    (void)state;
    assert_int_equal(dlp_rulescmd__scan(s, (const uint8_t *)text, strlen(text), 7, &f), DLP_OK);
    assert_int_equal(dlp_rulescmd__rstat(s, 0, DLP_RSTAT_CANDIDATES), 4);
    assert_int_equal(dlp_rulescmd__rstat(s, 0, DLP_RSTAT_REJECTED), 1);
    assert_int_equal(dlp_rulescmd__rstat(s, 0, DLP_RSTAT_ALLOWED), 1);
    assert_int_equal(dlp_rulescmd__rstat(s, 0, DLP_RSTAT_TEST_VALUES), 1);
    assert_int_equal(dlp_rulescmd__rstat(s, 0, DLP_RSTAT_CONTEXT), 1); /* "sample" is near */
    assert_int_equal(dlp_rulescmd__rstat(s, 0, DLP_RSTAT_VALUES), 0);
    assert_int_equal(f.n, 0);
    dlp_rulescmd__found_fini(&f);
    dlp_rulescmd__scanner_free(s);
    dlp_matcher_free(m);
    dlp_rulescmd__copy_free(c);
    dlp_ruleset_free(rs);
}

/* --- command line ------------------------------------------------------------------------- */

static int cmd(int argc, const char **argv)
{
    return dlp_rules_cmd(argc, (char **)argv);
}

static void command_line_refusals(void **state)
{
    (void)state;
    assert_int_equal(cmd(1, (const char *[]){"rules", NULL}), 2);
    assert_int_equal(cmd(2, (const char *[]){"rules", "bogus", NULL}), 2);
    assert_int_equal(cmd(2, (const char *[]){"rules", "--help", NULL}), 0);
    assert_int_equal(cmd(3, (const char *[]){"rules", "check", "--help", NULL}), 0);
    assert_int_equal(cmd(2, (const char *[]){"rules", "test", NULL}), 2);
    assert_int_equal(cmd(6, (const char *[]){"rules", "test", "--text", "-", "-r", "x.pcap", NULL}),
                     2);
    assert_int_equal(
        cmd(5, (const char *[]){"rules", "test", "-r", "x.pcap", "--samples=101", NULL}), 2);
    assert_int_equal(
        cmd(5, (const char *[]){"rules", "test", "-r", "x.pcap", "--samples=-1", NULL}), 2);
    assert_int_equal(cmd(5, (const char *[]){"rules", "test", "--text", "-", "--field=body", NULL}),
                     2);
    assert_int_equal(
        cmd(5, (const char *[]){"rules", "test", "--text", "-", "--scan-inbound", NULL}), 2);
    assert_int_equal(cmd(3, (const char *[]){"rules", "check", "--bogus", NULL}), 2);
    assert_int_equal(cmd(3, (const char *[]){"rules", "check", "/nonexistent/rules.yaml", NULL}),
                     2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(widths_empty_and_short),
        cmocka_unit_test(widths_use_the_rule_flags),
        cmocka_unit_test(examples_counted),
        cmocka_unit_test(duplicates_same_expression_and_flags),
        cmocka_unit_test(common_words),
        cmocka_unit_test(context_words_linted),
        cmocka_unit_test(overlaps_need_both_ways),
        cmocka_unit_test(overlaps_in_rule_order),
        cmocka_unit_test(blame_names_the_rules_round_by_round),
        cmocka_unit_test(copies_relax_only_what_they_say),
        cmocka_unit_test(scanner_levels),
        cmocka_unit_test(scanner_counters),
        cmocka_unit_test(command_line_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
