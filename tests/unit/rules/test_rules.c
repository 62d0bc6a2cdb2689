/*
 * test_rules.c - the rule loader: the shipped rules, a good file, and every
 * class of error with its exact message "file:line: rule NAME: reason".
 *
 * The tests run inside a fresh temporary directory (chdir), so files are
 * named relative to it and messages carry short, exact paths.
 */
#include "rules_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* ---- the shipped rules ----------------------------------------------------- */

/*
 * The shipped pack (rules/) is edited on its own schedule: this checks what
 * must hold for any version of it (it loads; the first rules keep their ids,
 * categories, validators, normalization and masks; every rule is complete),
 * not its exact contents.
 */
static void shipped_rules(void **state)
{
    (void)state;
    const char *src = getenv("DLP_SRC");
    char dir[4096];
    assert_non_null(src);
    snprintf(dir, sizeof(dir), "%s/rules", src);
    dlp_ruleset_t *rs = load_ok(dir);

    static const struct {
        const char *name;
        uint32_t id;
        dlp_category_t cat;
        dlp_validator_t val;
        dlp_norm_t norm;
        dlp_mask_t mask;
    } want[] = {
        {"pii.credit_card", 1001, DLP_CAT_LINKED, DLP_VAL_LUHN, DLP_NORM_DIGITS, DLP_MASK_NUMBER},
        {"pii.us_ssn", 1002, DLP_CAT_LINKED, DLP_VAL_US_SSN, DLP_NORM_DIGITS, DLP_MASK_LAST4},
        {"pii.email", 1003, DLP_CAT_LINKED, DLP_VAL_EMAIL, DLP_NORM_LOWER, DLP_MASK_EMAIL},
        {"pii.iban", 1004, DLP_CAT_LINKED, DLP_VAL_IBAN, DLP_NORM_UPPER_NOSPACE, DLP_MASK_NUMBER},
        {"secret.aws_access_key", 2001, DLP_CAT_SECRET, DLP_VAL_NONE, DLP_NORM_NONE,
         DLP_MASK_PREFIX4},
        {"secret.private_key", 2002, DLP_CAT_SECRET, DLP_VAL_NONE, DLP_NORM_NONE,
         DLP_MASK_PREFIX4},
    };
    assert_true(rs->n >= DLP_ARRAY_LEN(want));
    assert_true(rs->nfiles >= 2);
    for (size_t i = 0; i < DLP_ARRAY_LEN(want); i++) {
        const dlp_rule_t *r = dlp_ruleset_find(rs, want[i].name);
        if (r == NULL)
            print_error("missing shipped rule %s\n", want[i].name);
        assert_non_null(r);
        assert_int_equal(r->id, want[i].id);
        assert_int_equal(r->category, want[i].cat);
        assert_int_equal(r->validator, want[i].val);
        assert_int_equal(r->norm, want[i].norm);
        assert_int_equal(r->mask, want[i].mask);
    }
    for (size_t i = 0; i < rs->n; i++) {
        const dlp_rule_t *r = &rs->rules[i];
        size_t f = 0;
        while (f < rs->nfiles && rs->files[f] != r->file)
            f++;
        assert_true(f < rs->nfiles);
        assert_ptr_equal(dlp_ruleset_find(rs, r->name), r);
        assert_true(strlen(r->description) > 20);
        assert_int_equal(r->flags & DLP_RULE_F_UCP, 0);
        if (r->combination.min_weight != 0) {
            assert_int_equal(r->npatterns, 0);
            assert_int_equal(r->category, DLP_CAT_LINKABLE);
            continue;
        }
        assert_true(r->npatterns >= 1);
        for (size_t p = 0; p < r->npatterns; p++)
            assert_true(r->patterns[p].line > r->line);
    }
    assert_null(dlp_ruleset_find(rs, "pii.nope"));
    dlp_ruleset_free(rs);
}

/* ---- a good file ----------------------------------------------------------- */

static const char good_yaml[] =
    "# comment\n"
    "rules:\n"
    "  - id: 4294967295\n"
    "    name: x.full_rule.v2\n"
    "    description: >-\n"
    "      folded\n"
    "      text\n"
    "    category: linkable\n"
    "    severity: medium\n"
    "    patterns:\n"
    "      - '\\bfoo[0-9]+'\n"
    "      - \"bar\\tbaz\"\n"
    "    flags: [caseless, dotall, multiline]\n"
    "    validator: luhn\n"
    "    mask: last4\n"
    "    threshold: 3\n"
    "    enabled: false\n"
    "    examples:\n"
    "      match: ['foo1', 'x foo22']\n"
    "      no_match: [foo]\n"
    "  - {id: 7, name: x.min, description: d, category: secret, severity: low,\n"
    "     patterns: [abc], validator: email, normalize: digits}\n"
    "  - id: 8\n"
    "    name: x.none\n"
    "    description: d\n"
    "    category: linked\n"
    "    severity: critical\n"
    "    patterns: [x]\n"
    "    validator: none\n"
    "    examples: {}\n";

static void good_file(void **state)
{
    (void)state;
    write_file("good.yaml", good_yaml);
    dlp_ruleset_t *rs = load_ok("good.yaml");
    assert_int_equal(rs->n, 3);
    assert_int_equal(rs->nfiles, 1);
    assert_string_equal(rs->files[0], "good.yaml");

    const dlp_rule_t *r = &rs->rules[0];
    assert_int_equal(r->id, 4294967295u);
    assert_string_equal(r->name, "x.full_rule.v2");
    assert_string_equal(r->description, "folded text");
    assert_int_equal(r->category, DLP_CAT_LINKABLE);
    assert_int_equal(r->severity, DLP_SEV_MEDIUM);
    assert_int_equal(r->npatterns, 2);
    assert_string_equal(r->patterns[0].expr, "\\bfoo[0-9]+");
    assert_int_equal(r->patterns[0].line, 11);
    assert_string_equal(r->patterns[1].expr, "bar\tbaz");
    assert_int_equal(r->patterns[1].line, 12);
    assert_int_equal(r->flags, DLP_RULE_F_CASELESS | DLP_RULE_F_DOTALL | DLP_RULE_F_MULTILINE);
    assert_int_equal(r->validator, DLP_VAL_LUHN);
    assert_int_equal(r->norm, DLP_NORM_DIGITS); /* the validator's default */
    assert_int_equal(r->mask, DLP_MASK_LAST4);  /* overridden */
    assert_int_equal(r->threshold, 3);
    assert_false(r->enabled);
    assert_int_equal(r->nex_match, 2);
    assert_string_equal(r->ex_match[0], "foo1");
    assert_string_equal(r->ex_match[1], "x foo22");
    assert_int_equal(r->nex_no_match, 1);
    assert_string_equal(r->ex_no_match[0], "foo");
    assert_string_equal(r->file, "good.yaml");
    assert_int_equal(r->line, 3);

    r = &rs->rules[1];
    assert_int_equal(r->id, 7);
    assert_int_equal(r->line, 21);
    assert_int_equal(r->patterns[0].line, 22);
    assert_int_equal(r->validator, DLP_VAL_EMAIL);
    assert_int_equal(r->norm, DLP_NORM_DIGITS);
    assert_int_equal(r->mask, DLP_MASK_EMAIL);
    assert_int_equal(r->threshold, 1);
    assert_true(r->enabled);
    assert_int_equal(r->flags, 0);
    assert_int_equal(r->nex_match, 0);
    assert_null(r->ex_match);

    r = &rs->rules[2];
    assert_int_equal(r->validator, DLP_VAL_NONE);
    assert_int_equal(r->norm, DLP_NORM_NONE);
    assert_int_equal(r->mask, DLP_MASK_PREFIX4);

    /* SHA-256 of the file's bytes. */
    uint8_t md[32];
    unsigned mdlen = 0;
    assert_int_equal(EVP_Digest(good_yaml, strlen(good_yaml), md, &mdlen, EVP_sha256(), NULL), 1);
    assert_memory_equal(rs->digest, md, 32);
    dlp_ruleset_free(rs);
}

static void empty_rule_list_loads(void **state)
{
    (void)state;
    write_file("empty.yaml", "rules: []\n");
    dlp_ruleset_t *rs = load_ok("empty.yaml");
    assert_int_equal(rs->n, 0);
    assert_int_equal(rs->nfiles, 1);
    dlp_ruleset_free(rs);
}

static void names_and_free(void **state)
{
    (void)state;
    assert_string_equal(dlp_category_name(DLP_CAT_LINKED), "linked");
    assert_string_equal(dlp_category_name(DLP_CAT_LINKABLE), "linkable");
    assert_string_equal(dlp_category_name(DLP_CAT_SECRET), "secret");
    assert_string_equal(dlp_category_name(DLP_CAT__COUNT), "?");
    assert_string_equal(dlp_severity_name(DLP_SEV_LOW), "low");
    assert_string_equal(dlp_severity_name(DLP_SEV_MEDIUM), "medium");
    assert_string_equal(dlp_severity_name(DLP_SEV_HIGH), "high");
    assert_string_equal(dlp_severity_name(DLP_SEV_CRITICAL), "critical");
    assert_string_equal(dlp_severity_name(DLP_SEV__COUNT), "?");
    dlp_ruleset_free(NULL);
    assert_null(dlp_ruleset_find(NULL, "x"));
    dlp_rules_errors_t e = {0};
    dlp_rules_errors_fini(&e);
    dlp_rules_errors_fini(NULL);
    dlp_rules_errors_add(&e, "a %d", 1);
    dlp_rules_errors_add(&e, "%s", "b");
    assert_int_equal(e.n, 2);
    assert_string_equal(e.msg[0], "a 1");
    assert_string_equal(e.msg[1], "b");
    dlp_rules_errors_fini(&e);
    assert_int_equal(e.n, 0);
    assert_null(e.msg);
}

/* ---- errors in a rule ------------------------------------------------------ */

static void err_unknown_key(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    colour: red\n", "e.yaml:8: rule t.a: unknown key 'colour'");
}

static void err_wrong_types(void **state)
{
    (void)state;
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description: {a: b}\n"
                "    category: [linked]\n"
                "    severity: low\n"
                "    patterns: ['abc']\n",
           "e.yaml:4: rule t.a: description: expected a non-empty string, got a mapping",
           "e.yaml:5: rule t.a: category: expected a non-empty string, got a sequence");
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description:\n"
                "    category: ''\n"
                "    severity: ~\n"
                "    patterns: ['abc']\n",
           "e.yaml:4: rule t.a: description: expected a non-empty string, got null",
           "e.yaml:5: rule t.a: category: expected a non-empty string, got an empty string",
           "e.yaml:6: rule t.a: severity: expected a non-empty string, got null");
}

static void err_integers(void **state)
{
    (void)state;
    static const struct {
        const char *value, *got;
    } bad[] = {
        {"abc", "'abc'"},
        {"0", "'0'"},
        {"-5", "'-5'"},
        {"+5", "'+5'"},
        {"0x10", "'0x10'"},
        {"'12'", "a quoted string '12'"},
        {"\"7\"", "a quoted string '7'"},
        {"1.5", "'1.5'"},
        {"4294967296", "'4294967296'"},
        {"99999999999999999999999", "'99999999999999999999999'"},
        {"[1]", "a sequence"},
    };
    for (size_t i = 0; i < DLP_ARRAY_LEN(bad); i++) {
        char text[512], want[256];
        snprintf(text, sizeof(text),
                 HEAD "  - id: %s\n"
                      "    name: t.a\n"
                      "    description: d\n"
                      "    category: linked\n"
                      "    severity: low\n"
                      "    patterns: ['abc']\n",
                 bad[i].value);
        snprintf(want, sizeof(want),
                 "e.yaml:2: rule t.a: id: expected an integer from 1 to 4294967295, got %s",
                 bad[i].got);
        EXPECT(text, want);
    }
    EXPECT(HEAD RULE_A "    threshold: 0\n",
           "e.yaml:8: rule t.a: threshold: expected an integer from 1 to 1000, got '0'");
    EXPECT(HEAD RULE_A "    threshold: 1001\n",
           "e.yaml:8: rule t.a: threshold: expected an integer from 1 to 1000, got '1001'");
    write_file("t.yaml", HEAD RULE_A "    threshold: 1000\n");
    dlp_ruleset_t *rs = load_ok("t.yaml");
    assert_int_equal(rs->rules[0].threshold, DLP_RULE_THRESHOLD_MAX);
    dlp_ruleset_free(rs);
}

static void err_bool(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    enabled: maybe\n",
           "e.yaml:8: rule t.a: enabled: expected true or false, got 'maybe'");
    EXPECT(HEAD RULE_A "    enabled: 'true'\n",
           "e.yaml:8: rule t.a: enabled: expected true or false, got a quoted string 'true'");
    EXPECT(HEAD RULE_A "    enabled: yes\n",
           "e.yaml:8: rule t.a: enabled: expected true or false, got 'yes'");
    EXPECT(HEAD RULE_A "    enabled: {}\n",
           "e.yaml:8: rule t.a: enabled: expected true or false, got a mapping");
}

static void err_missing(void **state)
{
    (void)state;
    EXPECT(HEAD "  - name: t.a\n"
                "    id: 9\n",
           "e.yaml:2: rule t.a: missing required key 'description'",
           "e.yaml:2: rule t.a: missing required key 'category'",
           "e.yaml:2: rule t.a: missing required key 'severity'",
           "e.yaml:2: rule t.a: missing required key 'patterns'");
    /* No name: the id names the rule. */
    EXPECT(HEAD "  - description: d\n"
                "    id: 1001\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n",
           "e.yaml:2: rule #1001: missing required key 'name'");
    /* Neither: no rule prefix. */
    EXPECT(HEAD "  - description: d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n",
           "e.yaml:2: missing required key 'id'", "e.yaml:2: missing required key 'name'");
    EXPECT(HEAD "  - {}\n", "e.yaml:2: missing required key 'id'",
           "e.yaml:2: missing required key 'name'", "e.yaml:2: missing required key 'description'",
           "e.yaml:2: missing required key 'category'", "e.yaml:2: missing required key 'severity'",
           "e.yaml:2: missing required key 'patterns'");
}

static void err_duplicate_key(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    name: t.other\n", "e.yaml:8: rule t.a: duplicate key 'name'");
    EXPECT(HEAD RULE_A "    examples:\n"
                       "      match: [a]\n"
                       "      match: [b]\n",
           "e.yaml:10: rule t.a: examples: duplicate key 'match'");
    EXPECT("rules: []\nrules: []\n", "e.yaml:2: duplicate key 'rules'");
}

static void err_name(void **state)
{
    (void)state;
    EXPECT(HEAD "  - id: 5\n"
                "    name: Bad Name\n"
                "    description: d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n",
           "e.yaml:3: rule #5: name: 'Bad Name' has characters outside [a-z0-9_.]");
    EXPECT(HEAD "  - id: 5\n"
                "    name: a-b\n"
                "    description: d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n",
           "e.yaml:3: rule #5: name: 'a-b' has characters outside [a-z0-9_.]");
}

static void err_enums(void **state)
{
    (void)state;
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description: d\n"
                "    category: personal\n"
                "    severity: urgent\n"
                "    patterns: ['abc']\n"
                "    flags: [caseless, utf8, caseless]\n"
                "    validator: crc32\n"
                "    normalize: upper\n"
                "    mask: stars\n",
           "e.yaml:5: rule t.a: category: expected linked, linkable or secret, got 'personal'",
           "e.yaml:6: rule t.a: severity: expected low, medium, high or critical, got 'urgent'",
           "e.yaml:8: rule t.a: flags: expected caseless, dotall or multiline, got 'utf8'",
           "e.yaml:8: rule t.a: flags: duplicate flag 'caseless'",
           "e.yaml:9: rule t.a: validator: unknown validator 'crc32' (known: none, luhn, us_ssn, "
           "iban, email, aadhaar, uk_nino, phone)",
           "e.yaml:10: rule t.a: normalize: unknown normalization 'upper' (known: none, digits, "
           "upper_nospace, lower)",
           "e.yaml:11: rule t.a: mask: unknown mask 'stars' (known: number, last4, email, "
           "prefix4, first, hidden)");
    EXPECT(HEAD RULE_A "    flags: caseless\n",
           "e.yaml:8: rule t.a: flags: expected a sequence, got 'caseless'");
    EXPECT(HEAD RULE_A "    value: middle\n",
           "e.yaml:8: rule t.a: value: unknown value span 'middle' (known: match, field)");
}

/* No rule may show its values unmasked (INTERFACE.md: "never the raw value"). */
static void err_mask_clear(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    mask: clear\n",
           "e.yaml:8: rule t.a: mask 'clear' would put raw values in events, which the sensor "
           "never does; use number (the first 6 and last 4 characters) or prefix4 (the first 4)");
}

static void err_patterns(void **state)
{
    (void)state;
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description: d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: []\n",
           "e.yaml:7: rule t.a: patterns: expected at least one pattern");
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description: d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: abc\n",
           "e.yaml:7: rule t.a: patterns: expected a sequence, got 'abc'");
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description: d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns:\n"
                "      - ok\n"
                "      - ''\n"
                "      - {a: b}\n"
                "      - [c]\n",
           "e.yaml:9: rule t.a: patterns: expected a non-empty string, got an empty string",
           "e.yaml:10: rule t.a: patterns: expected a non-empty string, got a mapping",
           "e.yaml:11: rule t.a: patterns: expected a non-empty string, got a sequence");
}

static void err_examples(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    examples: [a]\n",
           "e.yaml:8: rule t.a: examples: expected a mapping, got a sequence");
    EXPECT(HEAD RULE_A "    examples:\n"
                       "      matches: [a]\n"
                       "      no_match: b\n"
                       "      match: [{x: y}]\n",
           "e.yaml:9: rule t.a: examples: unknown key (7 characters; expected match or "
           "no_match)",
           "e.yaml:10: rule t.a: examples: no_match: expected a sequence, got a string",
           "e.yaml:11: rule t.a: examples: match: expected a non-empty string, got a mapping");
    /* a misplaced example is described, never quoted: it may be a real value */
    EXPECT(HEAD RULE_A "    examples: '4539 1488 0343 6467'\n",
           "e.yaml:8: rule t.a: examples: expected a mapping, got a string");
    EXPECT(HEAD RULE_A "    examples:\n"
                       "      match: 4539148803436467\n",
           "e.yaml:9: rule t.a: examples: match: expected a sequence, got a string");
    EXPECT(HEAD RULE_A "    examples: {'4539 1488 0343 6467'}\n",
           "e.yaml:8: rule t.a: examples: unknown key (19 characters; expected match or "
           "no_match)");
    /* the other keys still quote what they got */
    EXPECT(HEAD RULE_A "    examples: {match: [a]}\n    enabled: maybe\n",
           "e.yaml:9: rule t.a: enabled: expected true or false, got 'maybe'");
}

static void err_nul_and_tags(void **state)
{
    (void)state;
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description: \"a\\0b\"\n"
                "    category: !!str linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n",
           "e.yaml:4: rule t.a: description: contains a NUL byte",
           "e.yaml:5: rule t.a: YAML tags are not allowed");
}

static void err_aliases(void **state)
{
    (void)state;
    EXPECT(HEAD "  - id: 1\n"
                "    name: t.a\n"
                "    description: &d shared text\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n"
                "  - id: 2\n"
                "    name: t.b\n"
                "    description: *d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n",
           "e.yaml:4: rule t.a: YAML anchors are not allowed",
           "e.yaml:10: rule t.b: YAML aliases are not allowed");
    /* A whole rule by alias (the classic "billion laughs" shape). */
    EXPECT(HEAD "  - &r\n"
                "    id: 1\n"
                "    name: t.a\n"
                "    description: d\n"
                "    category: linked\n"
                "    severity: low\n"
                "    patterns: ['abc']\n"
                "  - *r\n",
           "e.yaml:2: YAML anchors are not allowed", "e.yaml:9: YAML aliases are not allowed");
}

/* Every error of a file is reported, rule after rule, and the good rules are not enough. */
static void err_several_in_one_file(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    bogus: 1\n"
                       "  - id: x\n"
                       "    name: t.b\n"
                       "    description: d\n"
                       "    category: linked\n"
                       "    severity: extreme\n"
                       "    patterns: ['abc']\n"
                       "  - id: 3\n"
                       "    name: t.c\n"
                       "    description: fine\n"
                       "    category: linked\n"
                       "    severity: low\n"
                       "    patterns: ['abc']\n"
                       "  - name: t.a\n"
                       "    id: 1\n"
                       "    patterns: ['abc']\n"
                       "    description: d\n"
                       "    category: linked\n"
                       "    severity: low\n",
           "e.yaml:8: rule t.a: unknown key 'bogus'",
           "e.yaml:9: rule t.b: id: expected an integer from 1 to 4294967295, got 'x'",
           "e.yaml:13: rule t.b: severity: expected low, medium, high or critical, got 'extreme'",
           "e.yaml:21: rule t.a: duplicate name (first used at e.yaml:3)",
           "e.yaml:22: rule t.a: duplicate id 1 (first used at e.yaml:2)");
}

static void err_duplicate_across_files(void **state)
{
    (void)state;
    assert_int_equal(mkdir("dup", 0700), 0);
    write_file("dup/a.yaml", HEAD RULE_A);
    write_file("dup/b.yaml", HEAD "  - id: 1\n"
                                  "    name: t.b\n"
                                  "    description: d\n"
                                  "    category: linked\n"
                                  "    severity: low\n"
                                  "    patterns: ['abc']\n"
                                  "  - id: 3\n"
                                  "    name: t.a\n"
                                  "    description: d\n"
                                  "    category: linked\n"
                                  "    severity: low\n"
                                  "    patterns: ['abc']\n");
    const char *const want[] = {
        "dup/b.yaml:2: rule t.b: duplicate id 1 (first used at dup/a.yaml:2)",
        "dup/b.yaml:9: rule t.a: duplicate name (first used at dup/a.yaml:3)",
    };
    const char *const paths[] = {"dup"};
    expect_errors_n(paths, 1, want, DLP_ARRAY_LEN(want));
    /* The same file twice, by any path (a directory and a file in it, "./",
     * "//", a link): said once as such, not as a duplicate of itself (and
     * its overrides would apply twice). */
    assert_int_equal(mkdir("two", 0700), 0);
    write_file("two/local.yaml", HEAD RULE_A);
    assert_int_equal(symlink("two/local.yaml", "link.yaml"), 0);
    const char *const twice[] = {"two", "./two//local.yaml", "link.yaml"};
    const char *const want2[] = {
        "./two//local.yaml: loaded twice (also as two/local.yaml)",
        "link.yaml: loaded twice (also as two/local.yaml)",
    };
    expect_errors_n(twice, 3, want2, DLP_ARRAY_LEN(want2));
}

/* ---- errors in the file's shape -------------------------------------------- */

static void err_top_level(void **state)
{
    (void)state;
    EXPECT("- id: 1\n", "e.yaml:1: expected a mapping with the key 'rules', got a sequence");
    EXPECT("just text\n", "e.yaml:1: expected a mapping with the key 'rules', got 'just text'");
    EXPECT("rule:\n  - id: 1\n",
           "e.yaml:1: unknown top-level key 'rule' (known: rules, allow, overrides)",
           "e.yaml:1: missing top-level key: expected 'rules', 'allow' or 'overrides'");
    EXPECT("rules: []\nversion: 2\n",
           "e.yaml:2: unknown top-level key 'version' (known: rules, allow, overrides)");
    EXPECT("rules:\n  id: 1\n", "e.yaml:2: rules: expected a sequence of rules, got a mapping");
    EXPECT("rules:\n  - 1001\n  - [a]\n" RULE_B,
           "e.yaml:2: rules: expected a rule (a mapping), got '1001'",
           "e.yaml:3: rules: expected a rule (a mapping), got a sequence");
    EXPECT("", "e.yaml:1: empty file: expected a mapping with the key 'rules'");
    EXPECT("# only a comment\n", "e.yaml:2: empty file: expected a mapping with the key 'rules'");
    EXPECT("rules: []\n---\nrules: []\n", "e.yaml:2: only one YAML document per file is allowed");
    EXPECT("[a]: b\nrules: []\n", "e.yaml:1: keys must be strings");
}

static void err_yaml_syntax(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    bogus: 1\n"
                       "  - id: 2\n"
                       "    name: 'unterminated\n",
           "e.yaml:8: rule t.a: unknown key 'bogus'",
           "e.yaml:11: YAML error: found unexpected end of stream");
    /* The bad indentation ends the rule first: its own errors come before. */
    EXPECT("rules:\n  - id: 1\n   name: x\n", "e.yaml:2: rule #1: missing required key 'name'",
           "e.yaml:2: rule #1: missing required key 'description'",
           "e.yaml:2: rule #1: missing required key 'category'",
           "e.yaml:2: rule #1: missing required key 'severity'",
           "e.yaml:2: rule #1: missing required key 'patterns'",
           "e.yaml:3: YAML error: did not find expected '-' indicator");
    EXPECT("rules: [a\n", "e.yaml:1: rules: expected a rule (a mapping), got 'a'",
           "e.yaml:2: YAML error: did not find expected ',' or ']'");
    /* Invalid UTF-8: a reader error, located by its byte offset. */
    EXPECT("rules:\n  - id: 1\n    name: \xff\n",
           "e.yaml:3: YAML error: invalid leading UTF-8 octet");
    /* The next file is still read. */
    write_file("s1.yaml", "rules: [\n");
    write_file("s2.yaml", HEAD "  - id: 1\n");
    const char *const paths[] = {"s1.yaml", "s2.yaml"};
    const char *const want[] = {
        "s1.yaml:2: YAML error: did not find expected node content",
        "s2.yaml:2: rule #1: missing required key 'name'",
        "s2.yaml:2: rule #1: missing required key 'description'",
        "s2.yaml:2: rule #1: missing required key 'category'",
        "s2.yaml:2: rule #1: missing required key 'severity'",
        "s2.yaml:2: rule #1: missing required key 'patterns'",
    };
    expect_errors_n(paths, 2, want, DLP_ARRAY_LEN(want));
    /* A rule cut short by a YAML error exists: naming it is not "no such rule". */
    write_file("y1.yaml", HEAD "  - id: 7\n"
                              "    name: t.cut\n"
                              "    description: d\n"
                              "    severity: medium: x\n");
    write_file("y2.yaml", "overrides:\n  - {name: t.cut, threshold: 2}\n");
    const char *const cut[] = {"y1.yaml", "y2.yaml"};
    const char *const want_cut[] = {
        "y1.yaml:5: YAML error: mapping values are not allowed in this context",
    };
    expect_errors_n(cut, 2, want_cut, DLP_ARRAY_LEN(want_cut));
}

/* ---- paths ----------------------------------------------------------------- */

static void paths_directory_order(void **state)
{
    (void)state;
    assert_int_equal(mkdir("ord", 0700), 0);
    assert_int_equal(mkdir("ord/sub.yaml", 0700), 0); /* a directory: skipped */
    write_file("ord/b.yaml", HEAD RULE_B);
    write_file("ord/a.yaml", HEAD RULE_A);
    write_file("ord/sub.yaml/c.yaml", "not: read\n"); /* not recursive */
    write_file("ord/.hidden.yaml", "not: read\n");
    write_file("ord/c.yml", "not: read\n");
    write_file("ord/notes.txt", "not: read\n");
    write_file("ord/yaml", "not: read\n");
    dlp_ruleset_t *rs = load_ok("ord/");
    assert_int_equal(rs->nfiles, 2);
    assert_string_equal(rs->files[0], "ord/a.yaml");
    assert_string_equal(rs->files[1], "ord/b.yaml");
    assert_int_equal(rs->n, 2);
    assert_string_equal(rs->rules[0].name, "t.a");
    assert_string_equal(rs->rules[1].name, "t.b");
    assert_string_equal(rs->rules[1].file, "ord/b.yaml");

    /* Digest: the files' bytes in load order. */
    static const char cat[] = HEAD RULE_A HEAD RULE_B;
    uint8_t md[32];
    unsigned mdlen = 0;
    assert_int_equal(EVP_Digest(cat, strlen(cat), md, &mdlen, EVP_sha256(), NULL), 1);
    assert_memory_equal(rs->digest, md, 32);
    dlp_ruleset_free(rs);

    /* A file and a directory together, in the order given. */
    write_file("z.yaml", HEAD "  - id: 3\n"
                              "    name: t.z\n"
                              "    description: d\n"
                              "    category: linked\n"
                              "    severity: low\n"
                              "    patterns: ['abc']\n");
    const char *const paths[] = {"z.yaml", "ord"};
    dlp_rules_errors_t err = {0};
    rs = dlp_rules_load(paths, 2, &err);
    assert_non_null(rs);
    assert_int_equal(err.n, 0);
    assert_int_equal(rs->n, 3);
    assert_string_equal(rs->files[0], "z.yaml");
    assert_string_equal(rs->files[1], "ord/a.yaml");
    assert_string_equal(rs->rules[0].name, "t.z");
    dlp_ruleset_free(rs);
}

static void paths_errors(void **state)
{
    (void)state;
    assert_int_equal(mkdir("nothing", 0700), 0);
    write_file("nothing/rules.yml", "rules: []\n");
    write_file("ok.yaml", HEAD RULE_A);
    const char *const paths[] = {"missing.yaml", "nothing", "ok.yaml", "missing_dir/"};
    const char *const want[] = {
        "missing.yaml: No such file or directory",
        "nothing: no *.yaml files in directory",
        "missing_dir/: No such file or directory",
    };
    expect_errors_n(paths, DLP_ARRAY_LEN(paths), want, DLP_ARRAY_LEN(want));
    const char *const none[] = {"no rule files given"};
    expect_errors_n(NULL, 0, none, 1);
    /* Not regular files: refused without reading (a FIFO would block). */
    assert_int_equal(mkfifo("fifo.yaml", 0600), 0);
    const char *const special[] = {"/dev/null", "fifo.yaml"};
    const char *const want_sp[] = {"/dev/null: not a regular file",
                                   "fifo.yaml: not a regular file"};
    expect_errors_n(special, 2, want_sp, 2);
}

/*
 * A *.yaml link in a directory whose target cannot be read is a rule file
 * that was meant to be loaded: an error naming it, as for a file named
 * directly; links to regular files are read, links to anything else (and
 * directories named *.yaml) are not rule files.
 */
static void paths_links_in_dir(void **state)
{
    (void)state;
    assert_int_equal(mkdir("lnk", 0700), 0);
    assert_int_equal(mkdir("lnk/sub.yaml", 0700), 0);
    write_file("target.yaml", HEAD RULE_A);
    assert_int_equal(symlink("../target.yaml", "lnk/a.yaml"), 0);
    assert_int_equal(symlink("sub.yaml", "lnk/b.yaml"), 0);
    dlp_ruleset_t *rs = load_ok("lnk");
    assert_int_equal(rs->n, 1);
    assert_string_equal(rs->files[0], "lnk/a.yaml");
    dlp_ruleset_free(rs);
    assert_int_equal(symlink("never-deployed.yaml", "lnk/c.yaml"), 0);
    assert_int_equal(symlink("d.yaml", "lnk/d.yaml"), 0);
    const char *const paths[] = {"lnk"};
    const char *const want_c[] = {"lnk/c.yaml: No such file or directory",
                                  "lnk/d.yaml: Too many levels of symbolic links"};
    const char *const want_d[] = {"lnk/d.yaml: Too many levels of symbolic links",
                                  "lnk/c.yaml: No such file or directory"};
    /* readdir order: either */
    dlp_rules_errors_t err = {0};
    assert_null(dlp_rules_load(paths, 1, &err));
    assert_int_equal(err.n, 2);
    const char *const *want = strcmp(err.msg[0], want_c[0]) == 0 ? want_c : want_d;
    assert_string_equal(err.msg[0], want[0]);
    assert_string_equal(err.msg[1], want[1]);
    dlp_rules_errors_fini(&err);
    /* only a broken link: named, not "no *.yaml files" */
    assert_int_equal(mkdir("lnk2", 0700), 0);
    assert_int_equal(symlink("gone.yaml", "lnk2/x.yaml"), 0);
    const char *const p2[] = {"lnk2"};
    const char *const w2[] = {"lnk2/x.yaml: No such file or directory"};
    expect_errors_n(p2, 1, w2, 1);
}

/* ---- bounds ---------------------------------------------------------------- */

static void bound_name_and_pattern_length(void **state)
{
    (void)state;
    char name[DLP_RULE_NAME_MAX + 1];
    memset(name, 'n', sizeof(name) - 1);
    name[DLP_RULE_NAME_MAX] = '\0'; /* 64 characters: one too many */
    char *pat = malloc(DLP_RULE_PATTERN_MAX_LEN + 2);
    assert_non_null(pat);
    memset(pat, 'p', DLP_RULE_PATTERN_MAX_LEN + 1);
    pat[DLP_RULE_PATTERN_MAX_LEN + 1] = '\0';
    size_t cap = DLP_RULE_PATTERN_MAX_LEN + 512;
    char *text = malloc(cap);
    assert_non_null(text);
    snprintf(text, cap,
             HEAD "  - id: 1\n"
                  "    name: %s\n"
                  "    description: d\n"
                  "    category: linked\n"
                  "    severity: low\n"
                  "    patterns: ['%s']\n",
             name, pat);
    EXPECT(text, "e.yaml:3: rule #1: name: longer than 63 bytes",
           "e.yaml:7: rule #1: patterns: longer than 8192 bytes");
    /* One less of each loads. */
    name[DLP_RULE_NAME_MAX - 1] = '\0';
    pat[DLP_RULE_PATTERN_MAX_LEN] = '\0';
    snprintf(text, cap,
             HEAD "  - id: 1\n"
                  "    name: %s\n"
                  "    description: d\n"
                  "    category: linked\n"
                  "    severity: low\n"
                  "    patterns: ['%s']\n",
             name, pat);
    write_file("ok.yaml", text);
    dlp_ruleset_t *rs = load_ok("ok.yaml");
    assert_int_equal(strlen(rs->rules[0].name), DLP_RULE_NAME_MAX - 1);
    assert_int_equal(strlen(rs->rules[0].patterns[0].expr), DLP_RULE_PATTERN_MAX_LEN);
    dlp_ruleset_free(rs);
    free(text);
    free(pat);
}

/* A file with one rule and 'npat' patterns. */
static void write_patterns(const char *path, size_t npat)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, HEAD "  - id: 1\n    name: t.a\n    description: d\n    category: linked\n"
                    "    severity: low\n    patterns:\n");
    for (size_t i = 0; i < npat; i++)
        fprintf(f, "      - p%zu\n", i);
    assert_int_equal(fclose(f), 0);
}

static void bound_patterns(void **state)
{
    (void)state;
    write_patterns("p.yaml", DLP_RULE_PATTERNS_MAX);
    dlp_ruleset_t *rs = load_ok("p.yaml");
    assert_int_equal(rs->rules[0].npatterns, DLP_RULE_PATTERNS_MAX);
    assert_int_equal(rs->rules[0].patterns[DLP_RULE_PATTERNS_MAX - 1].line,
                     7 + DLP_RULE_PATTERNS_MAX);
    dlp_ruleset_free(rs);

    write_patterns("p.yaml", DLP_RULE_PATTERNS_MAX + 2);
    char want[128];
    snprintf(want, sizeof(want), "p.yaml:%u: rule t.a: patterns: more than %u patterns",
             8 + DLP_RULE_PATTERNS_MAX, DLP_RULE_PATTERNS_MAX);
    const char *const w[] = {want};
    const char *const paths[] = {"p.yaml"};
    expect_errors_n(paths, 1, w, 1);
}

/* A file with rules ids first..first+n-1, or with n errors. */
static void write_rules(const char *path, unsigned first, unsigned n, bool bad)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "rules:\n");
    for (unsigned i = 0; i < n; i++)
        fprintf(f,
                "  - {id: %u, name: r%u, description: d, category: linked, severity: %s,"
                " patterns: [x]}\n",
                first + i, first + i, bad ? "bad" : "low");
    assert_int_equal(fclose(f), 0);
}

static void bound_rules(void **state)
{
    (void)state;
    write_rules("r.yaml", 1, DLP_RULES_MAX, false);
    dlp_ruleset_t *rs = load_ok("r.yaml");
    assert_int_equal(rs->n, DLP_RULES_MAX);
    assert_int_equal(rs->rules[DLP_RULES_MAX - 1].id, DLP_RULES_MAX);
    assert_int_equal(rs->rules[DLP_RULES_MAX - 1].line, 1 + DLP_RULES_MAX);
    dlp_ruleset_free(rs);

    write_rules("r.yaml", 1, DLP_RULES_MAX + 3, false);
    char want[128];
    snprintf(want, sizeof(want), "r.yaml:%u: rule r%u: too many rules (max %u)", 2 + DLP_RULES_MAX,
             DLP_RULES_MAX + 1, DLP_RULES_MAX);
    const char *const w[] = {want};
    const char *const paths[] = {"r.yaml"};
    expect_errors_n(paths, 1, w, 1);
}

static void bound_errors(void **state)
{
    (void)state;
    write_rules("x.yaml", 1, DLP_RULES_ERRORS_MAX + 50, true);
    dlp_rules_errors_t err = {0};
    const char *const paths[] = {"x.yaml"};
    assert_null(dlp_rules_load(paths, 1, &err));
    assert_int_equal(err.n, DLP_RULES_ERRORS_MAX + 1);
    assert_string_equal(err.msg[0], "x.yaml:2: rule r1: severity: expected low, medium, high or "
                                    "critical, got 'bad'");
    assert_string_equal(err.msg[DLP_RULES_ERRORS_MAX], "too many errors (max 100), giving up");
    dlp_rules_errors_fini(&err);
}

static void bound_files(void **state)
{
    (void)state;
    char path[64];
    assert_int_equal(mkdir("many", 0700), 0);
    for (unsigned i = 0; i < DLP_RULES_FILES_MAX + 1; i++) {
        snprintf(path, sizeof(path), "many/f%04u.yaml", i);
        write_rules(path, i + 1, 1, false);
    }
    const char *const want[] = {"many: too many rule files (max 256)"};
    const char *const paths[] = {"many"};
    expect_errors_n(paths, 1, want, 1);
    assert_int_equal(remove("many/f0256.yaml"), 0);
    dlp_ruleset_t *rs = load_ok("many");
    assert_int_equal(rs->nfiles, DLP_RULES_FILES_MAX);
    assert_int_equal(rs->n, DLP_RULES_FILES_MAX);
    assert_string_equal(rs->files[DLP_RULES_FILES_MAX - 1], "many/f0255.yaml");
    dlp_ruleset_free(rs);
}

static void bound_file_size(void **state)
{
    (void)state;
    /* A comment pads the file to exactly the cap: it loads; one byte more does not. */
    static const char body[] = "rules: []\n#";
    FILE *f = fopen("big.yaml", "w");
    assert_non_null(f);
    fputs(body, f);
    for (size_t i = strlen(body); i < DLP_RULES_FILE_MAX_BYTES - 1; i++)
        fputc('x', f);
    fputc('\n', f);
    assert_int_equal(fclose(f), 0);
    dlp_ruleset_t *rs = load_ok("big.yaml");
    assert_int_equal(rs->n, 0);
    dlp_ruleset_free(rs);
    f = fopen("big.yaml", "a");
    assert_non_null(f);
    fputc('\n', f);
    assert_int_equal(fclose(f), 0);
    const char *const want[] = {"big.yaml: larger than 8388608 bytes"};
    const char *const paths[] = {"big.yaml"};
    expect_errors_n(paths, 1, want, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_rules),
        cmocka_unit_test(good_file),
        cmocka_unit_test(empty_rule_list_loads),
        cmocka_unit_test(names_and_free),
        cmocka_unit_test(err_unknown_key),
        cmocka_unit_test(err_wrong_types),
        cmocka_unit_test(err_integers),
        cmocka_unit_test(err_bool),
        cmocka_unit_test(err_missing),
        cmocka_unit_test(err_duplicate_key),
        cmocka_unit_test(err_name),
        cmocka_unit_test(err_enums),
        cmocka_unit_test(err_mask_clear),
        cmocka_unit_test(err_patterns),
        cmocka_unit_test(err_examples),
        cmocka_unit_test(err_nul_and_tags),
        cmocka_unit_test(err_aliases),
        cmocka_unit_test(err_several_in_one_file),
        cmocka_unit_test(err_duplicate_across_files),
        cmocka_unit_test(err_top_level),
        cmocka_unit_test(err_yaml_syntax),
        cmocka_unit_test(paths_directory_order),
        cmocka_unit_test(paths_errors),
        cmocka_unit_test(paths_links_in_dir),
        cmocka_unit_test(bound_name_and_pattern_length),
        cmocka_unit_test(bound_patterns),
        cmocka_unit_test(bound_rules),
        cmocka_unit_test(bound_errors),
        cmocka_unit_test(bound_files),
        cmocka_unit_test(bound_file_size),
    };
    return cmocka_run_group_tests(tests, rules_fixture_setup, rules_fixture_teardown);
}
