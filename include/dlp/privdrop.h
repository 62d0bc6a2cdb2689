/*
 * privdrop.h - -u USER[:GROUP]: leave root for good once the interfaces,
 * files and outputs are open.
 */
#ifndef DLP_PRIVDROP_H
#define DLP_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "dlp/rc.h"

#define DLP_PRIVDROP_NAME_MAX 64 /* longest user or group name accepted */

typedef struct dlp_privdrop_target {
    uid_t uid;
    gid_t gid;        /* the GROUP given, else the user's primary group */
    bool group_given; /* USER:GROUP: that one group only; else the user's groups */
    bool has_passwd;  /* the user has a passwd entry (initgroups needs its name) */
    char user[DLP_PRIVDROP_NAME_MAX + 1];
} dlp_privdrop_target_t;

/*
 * Resolves "USER" or "USER:GROUP"; each a name or a numeric id. A numeric
 * user without a passwd entry needs a GROUP. Root (uid 0) and gid 0 are
 * refused: nothing would be dropped. Does not need privileges.
 * Returns DLP_OK, or DLP_EINVAL with the reason in err ("unknown user
 * 'x'", "unknown group 'y'", "expected USER[:GROUP]", ...).
 */
DLP_MUST_CHECK dlp_rc_t dlp_privdrop_resolve(const char *spec, dlp_privdrop_target_t *t, char *err,
                                             size_t errlen);

/*
 * Becomes 't' for good: supplementary groups (the user's, or only GROUP),
 * then gid, then uid (real, effective and saved), all capability sets
 * cleared, and no_new_privs set. 't' (uid, gid) is resolved once, when the
 * command line is read, and passed on; only the user's supplementary groups
 * are looked up by name here (initgroups). Then verifies it: getresuid and
 * getresgid all equal the target, setuid(0) and setgid(0) fail, the
 * groups are as asked, and no capability is left (effective, permitted,
 * inheritable).
 * Call it from the control thread after capture handles, files and
 * outputs are open and before the other threads start (ids change for
 * every thread through glibc either way; no_new_privs and the inheritable
 * set are per thread, inherited by threads started later).
 * Returns DLP_OK; DLP_EINVAL (usage: not running as root: exit 2) with the
 * reason in err; DLP_EIO when a call failed or the check found privileges
 * left (exit 1; the process may be half-dropped and must exit).
 */
DLP_MUST_CHECK dlp_rc_t dlp_privdrop(const dlp_privdrop_target_t *t, char *err, size_t errlen);

#endif
