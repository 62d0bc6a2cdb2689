/*
 * test_privdrop.c - -u USER[:GROUP]: the spec is resolved (names, numbers,
 * errors with their messages), and, as root, a forked child that drops
 * ends with the target ids everywhere, only the groups asked for, no
 * capability, no_new_privs, and no way back to root (setuid(0) and
 * setgid(0) fail). The drops run in children: the test process stays root.
 * Needs the Debian accounts nobody (65534) and nogroup (65534).
 */
#include "dlp_test.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dlp/privdrop.h"

#define NOBODY 65534
#define NOGROUP 65534

static void resolve_ok(const char *spec, uid_t uid, gid_t gid, bool group_given)
{
    dlp_privdrop_target_t t;
    char err[256] = "";

    if (dlp_privdrop_resolve(spec, &t, err, sizeof(err)) != DLP_OK) {
        print_error("%s: %s\n", spec, err);
        fail();
    }
    assert_int_equal(t.uid, uid);
    assert_int_equal(t.gid, gid);
    assert_int_equal(t.group_given, group_given);
}

static void resolve_bad(const char *spec, const char *want)
{
    dlp_privdrop_target_t t;
    char err[256] = "";

    assert_int_equal(dlp_privdrop_resolve(spec, &t, err, sizeof(err)), DLP_EINVAL);
    assert_string_equal(err, want);
}

static void resolve_specs(void **state)
{
    (void)state;
    resolve_ok("nobody", NOBODY, NOGROUP, false);
    resolve_ok("nobody:nogroup", NOBODY, NOGROUP, true);
    resolve_ok("65534", NOBODY, NOGROUP, false);       /* numeric, has a passwd entry */
    resolve_ok("65534:65534", NOBODY, NOGROUP, true);
    resolve_ok("nobody:daemon", NOBODY, 1, true);       /* any group */
    resolve_ok("4242:4343", 4242, 4343, true);          /* ids without entries */
}

static void resolve_errors(void **state)
{
    (void)state;
    resolve_bad("no-such-user-dlp", "unknown user 'no-such-user-dlp'");
    resolve_bad("nobody:no-such-group-dlp", "unknown group 'no-such-group-dlp'");
    resolve_bad("4242", "uid 4242 has no passwd entry: give USER:GROUP");
    resolve_bad("root", "user 'root' is uid 0: nothing would be dropped");
    resolve_bad("0:nogroup", "user '0' is uid 0: nothing would be dropped");
    resolve_bad("nobody:root", "group of 'nobody:root' is gid 0 (root): give an "
                               "unprivileged group");
    static const char *const shapes[] = {"", ":", "nobody:", ":nogroup", "a:b:c",
                                         "nobody:nogroup:x", "4294967295"};
    for (size_t i = 0; i < DLP_ARRAY_LEN(shapes); i++) {
        dlp_privdrop_target_t t;
        char err[256] = "", want[256];
        dlp_rc_t rc = dlp_privdrop_resolve(shapes[i], &t, err, sizeof(err));
        if (i == DLP_ARRAY_LEN(shapes) - 1) { /* (uid_t)-1 is not an id */
            assert_int_equal(rc, DLP_EINVAL);
            assert_string_equal(err, "unknown user '4294967295'");
            continue;
        }
        snprintf(want, sizeof(want),
                 "expected USER or USER:GROUP (names or numeric ids, at most 64 characters "
                 "each), got '%s'",
                 shapes[i]);
        assert_int_equal(rc, DLP_EINVAL);
        assert_string_equal(err, want);
    }
    char longname[80];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    dlp_privdrop_target_t t;
    char err[256];
    assert_int_equal(dlp_privdrop_resolve(longname, &t, err, sizeof(err)), DLP_EINVAL);
    assert_int_equal(dlp_privdrop_resolve(NULL, &t, err, sizeof(err)), DLP_EINVAL);
}

/* ---- in a child, as root ---------------------------------------------------- */

/* Exit codes of the child: 0 all good, else the first check that failed. */
enum { C_OK, C_DROP, C_UID, C_GID, C_SETUID, C_SETGID, C_GROUPS, C_CAPS, C_NNP, C_PROC };

static int caps_zero(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];

    if (syscall(SYS_capget, &h, d) != 0)
        return 0;
    return (d[0].effective | d[1].effective | d[0].permitted | d[1].permitted |
            d[0].inheritable | d[1].inheritable) == 0;
}

/* /proc/self/status says the same as capget: CapEff and CapPrm all zero. */
static int proc_caps_zero(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int zero = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "CapEff:\t", 8) == 0 || strncmp(line, "CapPrm:\t", 8) == 0 ||
            strncmp(line, "CapAmb:\t", 8) == 0)
            zero += strcmp(line + 8, "0000000000000000\n") == 0;
    fclose(f);
    return zero == 3;
}

static int child_checks(const char *spec, uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
    char err[256];
    uid_t r, e, s;
    gid_t rg, eg, sg, g[64];
    dlp_privdrop_target_t t;

    if (dlp_privdrop_resolve(spec, &t, err, sizeof(err)) != DLP_OK ||
        dlp_privdrop(&t, err, sizeof(err)) != DLP_OK) {
        fprintf(stderr, "dlp_privdrop(%s): %s\n", spec, err);
        return C_DROP;
    }
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid)
        return C_UID;
    if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid)
        return C_GID;
    if (setuid(0) == 0 || errno != EPERM || seteuid(0) == 0)
        return C_SETUID;
    if (setgid(0) == 0 || errno != EPERM)
        return C_SETGID;
    if (getgroups(64, g) != ngroups)
        return C_GROUPS;
    for (int i = 0; i < ngroups; i++)
        if (g[i] != groups[i])
            return C_GROUPS;
    if (!caps_zero())
        return C_CAPS;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
        return C_NNP;
    if (!proc_caps_zero())
        return C_PROC;
    return C_OK;
}

/* Runs child_checks in a child that starts as root with groups {0, 4, 27}. */
static int run_child(const char *spec, uid_t uid, gid_t gid, const gid_t *groups, int ngroups)
{
    static const gid_t start_groups[] = {0, 4, 27};
    int st = 0;
    pid_t pid = fork();

    if (pid == 0) {
        if (setgroups(3, start_groups) != 0)
            _exit(100);
        _exit(child_checks(spec, uid, gid, groups, ngroups));
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void drop_to_nobody(void **state)
{
    static const gid_t nogroup[] = {NOGROUP};

    (void)state;
    if (geteuid() != 0)
        skip();
    /* the user's groups: nobody is in nogroup only (initgroups) */
    assert_int_equal(run_child("nobody", NOBODY, NOGROUP, nogroup, 1), C_OK);
}

static void drop_to_user_and_group(void **state)
{
    static const gid_t daemon_only[] = {1};

    (void)state;
    if (geteuid() != 0)
        skip();
    /* USER:GROUP: that group only, none of the user's or root's */
    assert_int_equal(run_child("nobody:daemon", NOBODY, 1, daemon_only, 1), C_OK);
    static const gid_t g4343[] = {4343};
    assert_int_equal(run_child("4242:4343", 4242, 4343, g4343, 1), C_OK);
}

/* Not root: refused before anything changes, as a usage error (exit 2). */
static void refused_when_not_root(void **state)
{
    int st = 0;
    pid_t pid;

    (void)state;
    if (geteuid() != 0)
        skip();
    pid = fork();
    if (pid == 0) {
        char err[256] = "";
        dlp_privdrop_target_t t;
        if (setgroups(0, NULL) != 0 || setresgid(NOGROUP, NOGROUP, NOGROUP) != 0 ||
            setresuid(NOBODY, NOBODY, NOBODY) != 0)
            _exit(100);
        if (dlp_privdrop_resolve("nobody", &t, err, sizeof(err)) != DLP_OK ||
            dlp_privdrop(&t, err, sizeof(err)) != DLP_EINVAL)
            _exit(1);
        _exit(strcmp(err, "only root can change user (running as uid 65534)") == 0 ? 0 : 2);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A spec that does not resolve gives no target to drop to. */
static void unknown_user_changes_nothing(void **state)
{
    dlp_privdrop_target_t t;
    char err[256] = "";

    (void)state;
    assert_int_equal(dlp_privdrop_resolve("no-such-user-dlp", &t, err, sizeof(err)), DLP_EINVAL);
    assert_string_equal(err, "unknown user 'no-such-user-dlp'");
    assert_int_equal(dlp_privdrop_resolve("root", &t, err, sizeof(err)), DLP_EINVAL);
    /* the test process itself is untouched */
    if (getuid() == 0)
        assert_int_equal(geteuid(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolve_specs),
        cmocka_unit_test(resolve_errors),
        cmocka_unit_test(drop_to_nobody),
        cmocka_unit_test(drop_to_user_and_group),
        cmocka_unit_test(refused_when_not_root),
        cmocka_unit_test(unknown_user_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
