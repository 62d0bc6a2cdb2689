/*
 * test_rules_oom.c - the rule loader when memory runs out: every allocation
 * of the loader (malloc, calloc, realloc, strdup, strndup, wrapped at link
 * time with -Wl,--wrap) fails in turn while a file using every key loads,
 * with an edm hashes file, and overrides of the keys that allocate. Each load
 * must fail cleanly, saying so, and free everything (LeakSanitizer checks at
 * exit in the sanitized build); the last one succeeds. What libc allocates
 * for itself (fopen) is not wrapped; getline, which grows the edm file's
 * line, is (its -1 with ENOMEM must not pass for the end of the file).
 */
#include "rules_fixture.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

static bool armed;
static unsigned long count, target;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);

static bool fail_now(void)
{
    return armed && ++count == target;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : __real_strndup(s, n);
}

/* As glibc's when it cannot grow the line: -1, errno ENOMEM, no error flag. */
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f)
{
    if (fail_now()) {
        errno = ENOMEM;
        return -1;
    }
    return __real_getline(line, cap, f);
}

static const char rules_yaml[] =
    "rules:\n"
    "  - id: 1\n"
    "    name: t.card\n"
    "    description: d\n"
    "    category: linked\n"
    "    severity: high\n"
    "    patterns: ['4[0-9]{15}', '5[0-9]{15}']\n"
    "    validator: luhn\n"
    "    flags: [caseless]\n"
    "    examples: {match: [a, b], no_match: [c]}\n"
    "    context: {words: [card, 'credit card'], window: 32, required: true}\n"
    "    exclude_context: {words: [test]}\n"
    "    protocols: [HTTP, SMTP]\n"
    "    fields: [http.body]\n"
    "    allow:\n"
    "      values: ['4111 1111 1111 1111', '5500-0000-0000-0004']\n"
    "      hmacs: ['00112233445566778899aabbccddeeff']\n"
    "      src: [10.0.0.0/8, 'fd00::/8']\n"
    "      dst: [192.0.2.0/24]\n"
    "      hosts: [a.example.com, '*.example.org']\n"
    "    test_values: true\n"
    "    normalize: digits\n"
    "    mask: last4\n"
    "    value: field\n"
    "    edm: {hmacs: ['0123456789abcdef0123456789abcdef'], hmacs_file: edm.txt}\n"
    "    aggregate: {values: 50, window: 10m}\n"
    "  - {id: 2, name: t.dob, description: d, category: linkable, severity: low, patterns: [x]}\n"
    "  - {id: 3, name: t.zip, description: d, category: linkable, severity: low, patterns: [y]}\n"
    "  - id: 4\n"
    "    name: t.risk\n"
    "    description: d\n"
    "    category: linkable\n"
    "    severity: high\n"
    "    combination: {min_weight: 3, rules: {t.dob: 2, t.zip: 1}}\n"
    "allow:\n"
    "  hosts: [intranet.example.com]\n"
    "  src: [10.1.0.0/16]\n";

static const char local_yaml[] =
    "overrides:\n"
    "  - name: t.card\n"
    "    enabled: false\n"
    "    description: local\n"
    "    context: {words: [visa]}\n"
    "    exclude_context: {words: [sample]}\n"
    "    protocols: [HTTP]\n"
    "    allow: {values: ['6011 0000 0000 0004'], hmacs: ['ffeeddccbbaa99887766554433221100'],\n"
    "            src: [172.16.0.0/12], dst: ['2001:db8::/32'], hosts: [b.example.com]}\n"
    "    edm: {hmacs: ['ffeeddccbbaa99887766554433221100', '00112233445566778899aabbccddeeff']}\n"
    "    aggregate: {values: 3, window: 1h}\n"
    "  - {name: t.risk, severity: low, allow: {hosts: [c.example.com]}}\n"
    "allow:\n"
    "  values: ['4000 0000 0000 0002']\n"
    "  hmacs: ['0123456789abcdef0123456789abcdef']\n"
    "  dst: [198.51.100.0/24]\n";

/* Enough hashes for the list to grow more than once. */
static const char edm_txt[] = "# customers\n"
                              "00000000000000000000000000000001\n"
                              "00000000000000000000000000000002\n"
                              "00000000000000000000000000000003\n"
                              "00000000000000000000000000000004\n"
                              "00000000000000000000000000000005\n"
                              "00000000000000000000000000000006\n";

static void oom_every_allocation(void **state)
{
    (void)state;
    write_file("a.yaml", rules_yaml);
    write_file("edm.txt", edm_txt);
    assert_int_equal(mkdir("d", 0700), 0);
    write_file("d/local.yaml", local_yaml);
    const char *const paths[] = {"a.yaml", "d"};
    unsigned long failed = 0;

    for (target = 1;; target++) {
        dlp_rules_errors_t err = {0};
        count = 0;
        armed = true;
        dlp_ruleset_t *rs = dlp_rules_load(paths, 2, &err);
        armed = false;
        if (count < target) { /* no allocation failed: the whole load succeeded */
            assert_non_null(rs);
            assert_int_equal(err.n, 0);
            const dlp_rule_t *card = dlp_ruleset_find(rs, "t.card");
            assert_false(card->enabled);
            assert_int_equal(card->allow.nhosts, 3);
            assert_int_equal(card->norm, DLP_NORM_DIGITS);
            assert_int_equal(card->mask, DLP_MASK_LAST4);
            assert_int_equal(card->value, DLP_VALUE_FIELD);
            assert_int_equal(card->edm.nhmacs, 2); /* the override's list replaced the rule's */
            assert_int_equal(card->aggregate.values, 3);
            assert_int_equal(card->aggregate.window_s, 3600);
            dlp_ruleset_free(rs);
            break;
        }
        failed++;
        assert_null(rs);
        /* The one message; its own allocation may be the one that failed. */
        assert_true(err.n <= 1);
        if (err.n == 1)
            assert_string_equal(err.msg[0], "out of memory while loading rules");
        dlp_rules_errors_fini(&err);
    }
    print_message("%lu allocations failed in turn\n", failed);
    assert_true(failed > 100); /* the file did exercise the allocations */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_every_allocation),
    };
    return cmocka_run_group_tests(tests, rules_fixture_setup, rules_fixture_teardown);
}
