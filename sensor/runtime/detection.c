/*
 * detection.c - the shared, immutable detection set-up: rules, the
 * compiled matcher, the HMAC key. Built once by the control thread before
 * any worker starts; a rule or key problem is reported in full and the
 * sensor does not start (exit 2): it never runs a reduced rule set.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlp/log.h"
#include "runtime_int.h"

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * The directory of the running executable, symbolic links resolved, into
 * exe (PATH_MAX); false if unknown.
 */
static bool exe_dir(char *exe)
{
    ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX - 1);
    char *slash;

    if (n <= 0)
        return false;
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    return true;
}

/*
 * An install's bin/ (DLP_INSTALL_BINDIR relative to its prefix): the prefix
 * into buf, so that an install staged or moved under another prefix finds
 * its own rules. false for any other directory.
 */
static bool install_prefix(const char *dir, char *buf, size_t len)
{
    const char *bindir = DLP_INSTALL_BINDIR;
    size_t dl = strlen(dir), bl = strlen(bindir);

    if (bindir[0] == '/' || DLP_INSTALL_DATADIR[0] == '/' || dl <= bl + 1 ||
        dir[dl - bl - 1] != '/' || strcmp(dir + dl - bl, bindir) != 0)
        return false;
    snprintf(buf, len, "%.*s", (int)(dl - bl - 1), dir);
    return true;
}

/*
 * Fixed when the sensor is built, never guessed from what lies near the
 * binary: the build tree's own binary (in DLP_BUILD_DIR) reads the source
 * tree's rules/; a binary in an install's bin/ reads that install's
 * DATADIR/dlpsensor/rules if there is one (a staged or relocated install);
 * any other copy reads the configured install's (DLP_DATADIR). A stray
 * ../rules beside a copied binary is never taken: the sensor would run with
 * rules nobody chose. NULL if that directory does not exist (buf holds it,
 * for the message).
 */
const char *dlp_default_rules_dir(char *buf, size_t len)
{
    char exe[PATH_MAX], build[PATH_MAX], prefix[PATH_MAX];

    if (exe_dir(exe)) {
        if (realpath(DLP_BUILD_DIR, build) != NULL && strcmp(exe, build) == 0) {
            snprintf(buf, len, "%s", DLP_SOURCE_RULES);
            return is_dir(buf) ? buf : NULL;
        }
        if (install_prefix(exe, prefix, sizeof(prefix))) {
            snprintf(buf, len, "%s/%s/dlpsensor/rules", prefix, DLP_INSTALL_DATADIR);
            if (is_dir(buf))
                return buf;
        }
    }
    snprintf(buf, len, "%s", DLP_DATADIR "/rules");
    return is_dir(buf) ? buf : NULL;
}

const char *dlp_detection_cache_dir(const dlp_config_t *cfg, char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");

    if (cfg->no_rules_cache)
        return NULL;
    if (cfg->rules_cache_dir != NULL)
        return cfg->rules_cache_dir;
    if (xdg != NULL && xdg[0] == '/')
        snprintf(buf, len, "%s/dlpsensor", xdg);
    else if (home != NULL && home[0] == '/')
        snprintf(buf, len, "%s/.cache/dlpsensor", home);
    else
        return NULL;
    return buf;
}

/* The file's bytes into key, to its end or cap + 1 bytes (the last one only
 * counted: the key is too long): the count, or -1 (errno). A pipe or FIFO may
 * hand them over in pieces. */
static ssize_t read_key(int fd, uint8_t *key, size_t cap)
{
    uint8_t extra;
    size_t n = 0;
    ssize_t r;

    while (n <= cap) {
        r = n < cap ? read(fd, key + n, cap - n) : read(fd, &extra, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : (ssize_t)n;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* A key of 1 to cap - 1 bytes, once one trailing newline is stripped (README). */
int dlp_hmac_key_read(const char *who, const char *path, uint8_t *key, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
        return 2;
    }
    n = read_key(fd, key, cap);
    close(fd);
    if (n < 0) {
        fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
        return 2;
    }
    if (n > 0 && (size_t)n <= cap && key[n - 1] == '\n')
        n--;
    if ((size_t)n >= cap) {
        fprintf(stderr, "%s: %s: key longer than %zu bytes\n", who, path, cap - 1);
        return 2;
    }
    if (n == 0) {
        fprintf(stderr, "%s: %s: empty key\n", who, path);
        return 2;
    }
    *len = (size_t)n;
    return 0;
}

int dlp_hmac_key_make(const char *who, const char *path, uint8_t *key, size_t cap, size_t *len)
{
    if (path != NULL)
        return dlp_hmac_key_read(who, path, key, cap, len);
    *len = cap < 32 ? cap : 32;
    if (getrandom(key, *len, 0) != (ssize_t)*len) {
        fprintf(stderr, "%s: cannot get random bytes for the HMAC key: %s\n", who,
                strerror(errno));
        return 1;
    }
    return 0;
}


/*
 * -u and the rules cache, as the evidence directory: the rules compile into
 * the cache as root, before the drop, and reloads compile as USER after it.
 * A cache directory this process makes is made here, before the compile
 * (mode 0700, as the matcher would), and cache_give() hands it to USER with
 * what the compile wrote into it: nothing else can be in it yet. Returns its
 * fd, or -1 when it was not made now: it exists (the run checks after the
 * drop that USER can use it), or its parent does not (the matcher makes
 * both, root's).
 */
static int cache_make(const char *dir, const dlp_privdrop_target_t *user)
{
    if (user == NULL || dir == NULL || geteuid() != 0 || mkdir(dir, 0700) != 0)
        return -1;
    return open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* fd's directory and its entries to USER; 0 or an errno. */
static int chown_tree(int fd, const dlp_privdrop_target_t *user)
{
    int dfd = fchown(fd, user->uid, user->gid) == 0 ? dup(fd) : -1;
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    const struct dirent *e;
    int err = d != NULL ? 0 : errno;

    if (d == NULL && dfd >= 0)
        close(dfd);
    while (err == 0 && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            fchownat(fd, e->d_name, user->uid, user->gid, AT_SYMLINK_NOFOLLOW) != 0)
            err = errno;
    if (d != NULL)
        closedir(d);
    return err;
}

/* Not fatal: without it reloads compile, as they would with no cache. */
static void cache_give(int fd, const char *dir, const dlp_privdrop_target_t *user)
{
    int err;

    if (fd < 0)
        return;
    err = chown_tree(fd, user);
    if (err != 0)
        dlp_log(DLP_LOG_WARN, "rules cache %s: cannot give it to %s: %s", dir, user->user,
                strerror(err));
    close(fd);
}

static void print_errors(dlp_rules_errors_t *err)
{
    for (size_t i = 0; i < err->n; i++)
        fprintf(stderr, "dlpsensor: %s\n", err->msg[i]);
}

/* An exact-data list holds keyed hashes: without the key they were made with
 * (a random key per run) no value would ever be on it, silently. */
bool dlp_detection_edm_keyed(bool have_key, const dlp_ruleset_t *rs, dlp_rules_errors_t *err)
{
    bool ok = true;

    for (size_t i = 0; !have_key && i < rs->n; i++) {
        const dlp_rule_t *r = &rs->rules[i];
        if (!r->edm.on || !r->enabled)
            continue;
        dlp_rules_errors_add(err,
                             "%s:%u: rule %s: edm: its hashes are keyed: give the sensor the "
                             "key they were made with (--hmac-key-file)",
                             r->edm.file, r->edm.line, r->name);
        ok = false;
    }
    return ok;
}

size_t dlp_detection_hmacs_unkeyed(const dlp_ruleset_t *rs, const char *tag,
                                   dlp_rules_errors_t *out)
{
    size_t n = 0;

    if (rs->allow.nhmacs > 0) {
        dlp_rules_errors_add(out,
                             "%s:%u: %sallow: hmacs never match without --hmac-key-file (the "
                             "key is random per run)",
                             rs->allow.file, rs->allow.line, tag);
        n++;
    }
    for (size_t i = 0; i < rs->n; i++) {
        const dlp_rule_t *r = &rs->rules[i];
        if (r->allow.nhmacs == 0 || !r->enabled)
            continue;
        dlp_rules_errors_add(out,
                             "%s:%u: rule %s: %sallow: hmacs never match without "
                             "--hmac-key-file (the key is random per run)",
                             r->allow.file, r->allow.line, r->name, tag);
        n++;
    }
    return n;
}

/* An allow-list of hashes with a random key silently allows nothing: said at each
 * start, -T and reload, as a warning (the set still works, unlike an edm list's). */
static void warn_unkeyed_hmacs(const dlp_ruleset_t *rs)
{
    dlp_rules_errors_t w = {0};

    dlp_detection_hmacs_unkeyed(rs, "", &w);
    for (size_t i = 0; i < w.n; i++)
        dlp_log(DLP_LOG_WARN, "%s", w.msg[i]);
    dlp_rules_errors_fini(&w);
}

/* A rule set with no rule enabled loads (flow logging alone: bench/empty-rules.yaml), but
 * such a sensor raises nothing: said at each start, -T and reload, as a warning (-q hides it). */
static void warn_if_no_rule(const dlp_ruleset_t *rs, const char *const *paths, size_t npaths)
{
    char where[1024] = "";
    size_t used = 0;

    for (size_t i = 0; i < rs->n; i++)
        if (rs->rules[i].enabled)
            return;
    for (size_t i = 0; i < npaths && used < sizeof(where); i++) {
        int n = snprintf(where + used, sizeof(where) - used, "%s%s", i > 0 ? ", " : "", paths[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    dlp_log(DLP_LOG_WARN, "no rules enabled in %s: no dlp events will be raised", where);
}

dlp_rc_t dlp_detection_compile(const dlp_config_t *cfg, const char *cache, dlp_ruleset_t **rules,
                               dlp_matcher_t **matcher, dlp_rules_errors_t *err)
{
    char dirbuf[PATH_MAX];
    const char *def[1];
    const char *const *paths = (const char *const *)cfg->rule_paths.v;
    size_t npaths = cfg->rule_paths.n;

    *matcher = NULL;
    *rules = NULL;
    if (npaths == 0) {
        def[0] = dlp_default_rules_dir(dirbuf, sizeof(dirbuf));
        if (def[0] == NULL) {
            dlp_rules_errors_add(err, "%s: no such directory (the default rules): give the "
                                      "rules with -R PATH", dirbuf);
            return DLP_EINVAL;
        }
        paths = def;
        npaths = 1;
    }
    *rules = dlp_rules_load(paths, npaths, err);
    if (*rules == NULL)
        return DLP_EINVAL;
    if (!dlp_protonames_check(*rules, err) |
        !dlp_detection_edm_keyed(cfg->hmac_key_file != NULL, *rules, err)) {
        dlp_ruleset_free(*rules);
        *rules = NULL;
        return DLP_EINVAL;
    }
    *matcher = dlp_matcher_new(*rules, cache, err);
    if (*matcher == NULL) {
        dlp_ruleset_free(*rules);
        *rules = NULL;
        return DLP_EINVAL;
    }
    warn_if_no_rule(*rules, paths, npaths);
    if (cfg->hmac_key_file == NULL)
        warn_unkeyed_hmacs(*rules);
    return DLP_OK;
}

int dlp_detection_load(const dlp_config_t *cfg, const char *cache,
                       const dlp_privdrop_target_t *user, dlp_detection_t *det)
{
    dlp_rules_errors_t err = {0};
    int status = dlp_hmac_key_make("dlpsensor", cfg->hmac_key_file, det->key, sizeof(det->key),
                                   &det->key_len);
    int cache_fd;
    dlp_rc_t rc;

    if (status != 0)
        return status;
    cache_fd = cache_make(cache, user);
    rc = dlp_detection_compile(cfg, cache, &det->rules, &det->matcher, &err);
    cache_give(cache_fd, cache, user);
    if (rc != DLP_OK) {
        print_errors(&err);
        dlp_rules_errors_fini(&err);
        dlp_detection_fini(det);
        return 2;
    }
    dlp_rules_errors_fini(&err);
    const dlp_matcher_info_t *mi = dlp_matcher_info(det->matcher);
    dlp_log(DLP_LOG_DEBUG, "rules: %zu loaded, %u patterns, %s in %.1f ms", det->rules->n,
            mi->patterns, mi->from_cache ? "loaded from cache" : "compiled",
            mi->from_cache ? mi->load_ms : mi->compile_ms);
    return 0;
}

void dlp_detection_fini(dlp_detection_t *det)
{
    dlp_matcher_free(det->matcher);
    dlp_ruleset_free(det->rules);
    memset(det, 0, sizeof(*det));
}
