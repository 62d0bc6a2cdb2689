/*
 * rules_fixture.c - see rules_fixture.h.
 */
#include "rules_fixture.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/dlp_rules_XXXXXX";
static char origdir[4096];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int rules_fixture_setup(void **state)
{
    (void)state;
    if (getcwd(origdir, sizeof(origdir)) == NULL || mkdtemp(tmpdir) == NULL)
        return -1;
    return chdir(tmpdir);
}

int rules_fixture_teardown(void **state)
{
    (void)state;
    if (chdir(origdir) != 0)
        return -1;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Messages joined by newlines, so a failed comparison shows them all. */
static char *join(const char *const *msg, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(msg[i]) + 1;
    char *s = malloc(len), *o = s;
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        o += snprintf(o, len - (size_t)(o - s), "%s\n", msg[i]);
    *o = '\0';
    return s;
}

void expect_errors_n(const char *const *paths, size_t n, const char *const *want, size_t nwant)
{
    dlp_rules_errors_t err = {0};
    dlp_ruleset_t *rs = dlp_rules_load(paths, n, &err);
    dlp_ruleset_free(rs);
    char *got = join((const char *const *)err.msg, err.n);
    char *exp = join(want, nwant);
    dlp_rules_errors_fini(&err);
    int same = strcmp(got, exp) == 0;
    if (!same)
        print_error("got:\n%s\nwant:\n%s", got, exp);
    free(got);
    free(exp);
    assert_null(rs);
    assert_true(same);
}

dlp_ruleset_t *load_ok_n(const char *const *paths, size_t n)
{
    dlp_rules_errors_t err = {0};
    dlp_ruleset_t *rs = dlp_rules_load(paths, n, &err);
    size_t nerr = err.n;
    for (size_t i = 0; i < err.n; i++)
        print_error("unexpected: %s\n", err.msg[i]);
    dlp_rules_errors_fini(&err);
    if (nerr != 0)
        dlp_ruleset_free(rs);
    assert_int_equal(nerr, 0);
    assert_non_null(rs);
    return rs;
}

dlp_ruleset_t *load_ok(const char *path)
{
    const char *const paths[] = {path};
    return load_ok_n(paths, 1);
}
