/*
 * test_rulescmd_oom.c - `dlpsensor rules check` when memory runs out: from
 * the Nth allocation on (malloc, calloc, realloc wrapped at link time with
 * -Wl,--wrap), every one fails, for each N until a run needs no more. Each
 * run must say it ran out of memory at most once (stdout and stderr),
 * however many examples are left (it printed the line once per example
 * left), fail when the set did not load or compile, and free everything
 * (LeakSanitizer at exit in the sanitized build). What Hyperscan and libc
 * allocate for themselves is not wrapped.
 */
#include "dlp_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlp/rulescmd.h"

static bool armed, failed;
static unsigned long count, target;
static size_t min_size; /* only allocations of at least this many bytes fail */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static bool fail_now(size_t n)
{
    if (!armed || ++count < target || n < min_size)
        return false;
    failed = true;
    return true;
}

void *__wrap_malloc(size_t n)
{
    return fail_now(n) ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now(n * size) ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now(n) ? NULL : __real_realloc(p, n);
}

/* Two rules, many examples each, so a failure at the first leaves many. */
static const char rules_yaml[] =
    "rules:\n"
    "  - id: 1\n    name: t.a\n    description: d\n    category: linked\n    severity: low\n"
    "    patterns: ['\\bACME-[0-9]{8}\\b']\n"
    "    examples:\n"
    "      match: ['ACME-00000001', 'ACME-00000002', 'ACME-00000003', 'ACME-00000004',\n"
    "              'ACME-00000005 ACME-00000006 ACME-00000007 ACME-00000008']\n"
    "      no_match: ['ACME-1', 'ACME-2', 'ACME-3', 'ACME-4', 'ACME-5']\n"
    "  - id: 2\n    name: t.b\n    description: d\n    category: linked\n    severity: low\n"
    "    patterns: ['\\bWIDGET-[0-9]{6}\\b']\n"
    "    examples:\n"
    "      match: ['WIDGET-000001', 'WIDGET-000002', 'WIDGET-000003', 'WIDGET-000004']\n"
    "      no_match: ['WIDGET-1', 'WIDGET-2', 'WIDGET-3', 'WIDGET-4']\n";

/* Occurrences of 'needle' in the file at 'path'. */
static unsigned count_in(const char *path, const char *needle)
{
    char line[1024];
    unsigned n = 0;
    FILE *f = fopen(path, "r");

    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Runs check failing from each allocation on; how many runs said "out of memory". */
static unsigned check_failing_from_each(void)
{
    char dir[] = "/tmp/dlp-rcmd-oom-XXXXXX", yaml[64], out[64];
    char a0[] = "rules", a1[] = "check";
    FILE *f;
    int saved = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    unsigned worst = 0, runs = 0, said = 0;

    assert_non_null(mkdtemp(dir));
    snprintf(yaml, sizeof(yaml), "%s/r.yaml", dir);
    snprintf(out, sizeof(out), "%s/out.txt", dir);
    f = fopen(yaml, "w");
    assert_non_null(f);
    fputs(rules_yaml, f);
    fclose(f);
    assert_true(saved >= 0 && saved_err >= 0);
    for (target = 1;; target++) {
        char *argv[] = {a0, a1, yaml, NULL};
        unsigned n;
        int st;

        fflush(stdout);
        fflush(stderr);
        assert_non_null(freopen(out, "w", stdout));
        assert_int_equal(dup2(STDOUT_FILENO, STDERR_FILENO), STDERR_FILENO);
        count = 0;
        failed = false;
        armed = true;
        st = dlp_rules_cmd(3, argv);
        armed = false;
        fflush(stdout);
        fflush(stderr);
        assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
        assert_int_equal(dup2(saved_err, STDERR_FILENO), STDERR_FILENO);
        n = count_in(out, "out of memory");
        worst = n > worst ? n : worst;
        said += n > 0;
        runs++;
        if (n > 1)
            fprintf(stderr, "allocation %lu on failing: %u out-of-memory lines\n", target, n);
        assert_true(n <= 1);
        if (!failed) { /* nothing failed: the whole run, which must pass */
            assert_int_equal(st, 0);
            break;
        }
        /* a set that did not load or compile never passes (it did, with its
         * messages lost for want of memory); a lint warning lost that way
         * still can: the error list drops what it has no memory for */
        if (count_in(out, "not compiled") > 0)
            assert_int_not_equal(st, 0);
    }
    fprintf(stderr, "%u runs, at most %u out-of-memory line per run, %u with one\n", runs, worst,
            said);
    close(saved);
    close(saved_err);
    remove(out);
    remove(yaml);
    rmdir(dir);
    return said;
}

/* Every allocation fails: the message itself may find no memory. */
static void every_allocation_fails(void **state)
{
    (void)state;
    min_size = 0;
    assert_true(check_failing_from_each() > 0);
}

/* Memory short for a scan's flow but not for a line of text: each example
 * left used to add its own "out of memory" line. */
static void large_allocations_fail(void **state)
{
    (void)state;
    min_size = 64;
    assert_true(check_failing_from_each() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_allocation_fails),
        cmocka_unit_test(large_allocations_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
