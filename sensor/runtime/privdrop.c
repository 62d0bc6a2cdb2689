/*
 * privdrop.c - -u USER[:GROUP]: root is needed to open capture interfaces,
 * and for nothing after. Once they (and every file and output) are open,
 * the control thread becomes USER, with no capability and no way back,
 * and proves it: a sensor that parses hostile traffic must not be able to
 * become root again, so every step is checked after the fact rather than
 * trusted.
 *
 * Order: groups, gid, then uid (after setuid the process could no longer
 * change its groups); the kernel clears the permitted, effective and
 * ambient capabilities when every uid leaves 0 (KEEPCAPS off), and the
 * inheritable set is cleared here. No libcap: capget/capset through
 * syscall(2).
 */
#include "dlp/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PW_BUF 16384 /* getpwnam_r/getgrnam_r scratch: glibc's suggested size is 1024 */

static bool parse_id(const char *s, uint32_t *id)
{
    uint64_t v = 0;

    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v >= UINT32_MAX) /* (uid_t)-1 means "unchanged" to setresuid */
            return false;
    }
    *id = (uint32_t)v;
    return true;
}

static bool lookup_user(const char *name, dlp_privdrop_target_t *t, char *err, size_t errlen)
{
    char buf[PW_BUF];
    struct passwd pw, *res = NULL;
    uint32_t id;
    int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    bool numeric = parse_id(name, &id);

    if (res == NULL && numeric)
        rc = getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res);
    if (res != NULL) {
        t->uid = pw.pw_uid;
        t->gid = pw.pw_gid;
        t->has_passwd = true;
        snprintf(t->user, sizeof(t->user), "%s", pw.pw_name);
        return true;
    }
    if (numeric) {
        t->uid = (uid_t)id;
        snprintf(t->user, sizeof(t->user), "%s", name);
        return true;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH)
        snprintf(err, errlen, "cannot look up user '%s': %s", name, strerror(rc));
    else
        snprintf(err, errlen, "unknown user '%s'", name);
    return false;
}

static bool lookup_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
    char buf[PW_BUF];
    struct group gr, *res = NULL;
    uint32_t id;
    int rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);

    if (res != NULL) {
        *gid = gr.gr_gid;
        return true;
    }
    if (parse_id(name, &id)) {
        *gid = (gid_t)id;
        return true;
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH)
        snprintf(err, errlen, "cannot look up group '%s': %s", name, strerror(rc));
    else
        snprintf(err, errlen, "unknown group '%s'", name);
    return false;
}

/* "USER" or "USER:GROUP" into the two buffers; false on any other shape. */
static bool split_spec(const char *spec, char *user, char *group, size_t cap)
{
    const char *colon = strchr(spec, ':');
    size_t ulen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);

    group[0] = '\0';
    if (ulen == 0 || ulen >= cap)
        return false;
    memcpy(user, spec, ulen);
    user[ulen] = '\0';
    if (colon == NULL)
        return true;
    if (strchr(colon + 1, ':') != NULL || colon[1] == '\0' || strlen(colon + 1) >= cap)
        return false;
    snprintf(group, cap, "%s", colon + 1);
    return true;
}

dlp_rc_t dlp_privdrop_resolve(const char *spec, dlp_privdrop_target_t *t, char *err, size_t errlen)
{
    char user[DLP_PRIVDROP_NAME_MAX + 1], group[DLP_PRIVDROP_NAME_MAX + 1];

    memset(t, 0, sizeof(*t));
    if (spec == NULL || !split_spec(spec, user, group, sizeof(user))) {
        snprintf(err, errlen,
                 "expected USER or USER:GROUP (names or numeric ids, at most %d "
                 "characters each), got '%s'",
                 DLP_PRIVDROP_NAME_MAX, spec ? spec : "");
        return DLP_EINVAL;
    }
    if (!lookup_user(user, t, err, errlen))
        return DLP_EINVAL;
    if (group[0] != '\0') {
        if (!lookup_group(group, &t->gid, err, errlen))
            return DLP_EINVAL;
        t->group_given = true;
    } else if (!t->has_passwd) {
        snprintf(err, errlen, "uid %s has no passwd entry: give USER:GROUP", user);
        return DLP_EINVAL;
    }
    if (t->uid == 0) {
        snprintf(err, errlen, "user '%s' is uid 0: nothing would be dropped", user);
        return DLP_EINVAL;
    }
    if (t->gid == 0) {
        snprintf(err, errlen, "group of '%s' is gid 0 (root): give an unprivileged group", spec);
        return DLP_EINVAL;
    }
    return DLP_OK;
}

/* ---- capabilities (no libcap) ---------------------------------------------- */

static int caps_get(struct __user_cap_data_struct d[2])
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(SYS_capget, &h, d);
}

static int caps_clear(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];

    memset(d, 0, sizeof(d));
    return (int)syscall(SYS_capset, &h, d);
}

/* ---- the drop --------------------------------------------------------------- */

static dlp_rc_t fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s: %s", what, strerror(errno));
    return DLP_EIO;
}

static dlp_rc_t become(const dlp_privdrop_target_t *t, char *err, size_t errlen)
{
    if (t->group_given || !t->has_passwd) {
        if (setgroups(1, &t->gid) != 0)
            return fail(err, errlen, "setgroups");
    } else if (initgroups(t->user, t->gid) != 0) {
        return fail(err, errlen, "initgroups");
    }
    if (setresgid(t->gid, t->gid, t->gid) != 0)
        return fail(err, errlen, "setresgid");
    if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0)
        return fail(err, errlen, "prctl(PR_SET_KEEPCAPS, 0)");
    /* Ambient capabilities exist since Linux 4.3; EINVAL before: nothing to clear. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) != 0 && errno != EINVAL)
        return fail(err, errlen, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    if (setresuid(t->uid, t->uid, t->uid) != 0)
        return fail(err, errlen, "setresuid");
    if (caps_clear() != 0)
        return fail(err, errlen, "capset");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
        return fail(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS)");
    return DLP_OK;
}

static bool groups_ok(const dlp_privdrop_target_t *t)
{
    int n = getgroups(0, NULL);
    gid_t *g = n > 0 ? calloc((size_t)n, sizeof(*g)) : NULL;
    bool ok = n == 0 && !t->group_given;

    if (g != NULL && getgroups(n, g) == n) {
        ok = !t->group_given || (n == 1 && g[0] == t->gid);
        for (int i = 0; i < n; i++)
            ok = ok && g[i] != 0;
    }
    free(g);
    return ok;
}

/* Every check of the contract; the first that fails is reported. */
static dlp_rc_t verify(const dlp_privdrop_target_t *t, char *err, size_t errlen)
{
    struct __user_cap_data_struct d[2];
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    const char *why = NULL;

    if (getresuid(&ru, &eu, &su) != 0 || ru != t->uid || eu != t->uid || su != t->uid)
        why = "a uid is not the target";
    else if (getresgid(&rg, &eg, &sg) != 0 || rg != t->gid || eg != t->gid || sg != t->gid)
        why = "a gid is not the target";
    else if (setuid(0) == 0)
        why = "setuid(0) succeeded";
    else if (setgid(0) == 0)
        why = "setgid(0) succeeded";
    else if (!groups_ok(t))
        why = "the supplementary groups are not as asked";
    else if (caps_get(d) != 0 || (d[0].effective | d[1].effective | d[0].permitted |
                                  d[1].permitted | d[0].inheritable | d[1].inheritable) != 0)
        why = "capabilities are left";
    else if (prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
        why = "no_new_privs is not set";
    if (why == NULL)
        return DLP_OK;
    snprintf(err, errlen, "privileges not dropped: %s", why);
    return DLP_EIO;
}

dlp_rc_t dlp_privdrop(const dlp_privdrop_target_t *t, char *err, size_t errlen)
{
    dlp_rc_t rc;

    if (geteuid() != 0) {
        snprintf(err, errlen, "only root can change user (running as uid %u)", (unsigned)geteuid());
        return DLP_EINVAL;
    }
    rc = become(t, err, errlen);
    return rc == DLP_OK ? verify(t, err, errlen) : rc;
}
