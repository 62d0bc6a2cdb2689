/*
 * runtime_int.h - what the files of runtime/ share.
 */
#ifndef DLP_RUNTIME_INT_H
#define DLP_RUNTIME_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/config.h"
#include "dlp/limits.h"
#include "dlp/match.h"
#include "dlp/privdrop.h"
#include "dlp/rules.h"

/*
 * The output thread's next sleep, in ms, when a drain found the rings empty
 * and its last sleep was 'prev' (0: it had work): 1 ms, doubling while the
 * rings stay empty, at most DLP_OUTPUT_IDLE_MAX_MS. An idle sensor wakes ~50
 * times a second instead of 1000; an event after a quiet spell waits at
 * most that long, and workers never do more for it (no wake-up call).
 */
static inline unsigned dlp_runtime__idle_ms(unsigned prev)
{
    if (prev == 0)
        return 1;
    return prev * 2 < DLP_OUTPUT_IDLE_MAX_MS ? prev * 2 : DLP_OUTPUT_IDLE_MAX_MS;
}

/* The detection set-up loaded at start (the runtime turns it into the first
 * dlp_engine_t; reloads make the next ones with dlp_detection_compile). */
typedef struct dlp_detection {
    dlp_ruleset_t *rules;
    dlp_matcher_t *matcher;
    uint8_t key[1024];      /* HMAC key */
    size_t key_len;
} dlp_detection_t;

/*
 * The directory of compiled rules: --rules-cache, else $XDG_CACHE_HOME/dlpsensor
 * or ~/.cache/dlpsensor; NULL with --no-rules-cache (or no home). The run
 * decides it once and passes it to every compile.
 */
const char *dlp_detection_cache_dir(const dlp_config_t *cfg, char *buf, size_t len);

/*
 * Loads the rules (cfg->rule_paths or the bundled rules/), compiles them
 * (through 'cache', a directory or NULL for none) and reads or makes the
 * HMAC key. With 'user' (-u) and root, a cache directory it makes is given
 * to that user with the compiled rules in it, so that reloads after the
 * drop use it. Returns 0, or the exit status (2) after printing every
 * problem on stderr.
 */
int dlp_detection_load(const dlp_config_t *cfg, const char *cache,
                       const dlp_privdrop_target_t *user, dlp_detection_t *det);
void dlp_detection_fini(dlp_detection_t *det);

/*
 * Loads and compiles the rules as dlp_detection_load does (not the key):
 * DLP_OK with *rules and *matcher set, or an error with every problem in
 * 'err'. Any thread but the packet path's: takes as long as compiling.
 */
dlp_rc_t dlp_detection_compile(const dlp_config_t *cfg, const char *cache, dlp_ruleset_t **rules,
                               dlp_matcher_t **matcher, dlp_rules_errors_t *err);

/*
 * The HMAC key: the file's bytes (one trailing newline stripped, at most
 * cap - 1), or with no path 32 random bytes. 0, or the exit status after a
 * message on stderr prefixed with 'who'. The sensor and `rules test` read it
 * alike, so that the hashes they print agree.
 */
int dlp_hmac_key_read(const char *who, const char *path, uint8_t *key, size_t cap, size_t *len);
int dlp_hmac_key_make(const char *who, const char *path, uint8_t *key, size_t cap, size_t *len);

/* An exact-data list holds keyed hashes: without the key they were made with no
 * value would ever be on it. false (and an error per such rule) without a key. */
bool dlp_detection_edm_keyed(bool have_key, const dlp_ruleset_t *rs, dlp_rules_errors_t *err);
/* Allow-lists of hashes (allow: hmacs, a rule's or global) never match without the key
 * they were made with: one message per list (of an enabled rule) into out,
 * "FILE:LINE: [rule NAME: ]TAGallow: hmacs never match ..."; how many. */
size_t dlp_detection_hmacs_unkeyed(const dlp_ruleset_t *rs, const char *tag,
                                   dlp_rules_errors_t *out);

/*
 * Application protocol names (protonames.c): nDPI's, as a flow's app_proto
 * carries them, alone or as "MASTER.APP"; compared ignoring case, '-' and
 * '_' the same. dlp_protonames_new: the table (NULL if nDPI could not be set
 * up or memory ran out). dlp_protonames_known: whether 'name' can be a
 * flow's app_proto; if not, 'near' gets the closest known names, ", "
 * separated ("" when none is close). dlp_protonames_check: an error for
 * each name of a rule's protocols: list that no flow can carry, at the
 * name's file and line; false if there was one.
 */
typedef struct dlp_protonames dlp_protonames_t;
dlp_protonames_t *dlp_protonames_new(void);
void dlp_protonames_free(dlp_protonames_t *t); /* accepts NULL */
bool dlp_protonames_known(const dlp_protonames_t *t, const char *name, char *near, size_t cap);
bool dlp_protonames_check(const dlp_ruleset_t *rs, dlp_rules_errors_t *err);

/*
 * The rules directory used without -R, fixed at build time: the source tree's
 * rules/ for the build tree's binary, else the install's. NULL if it does not
 * exist (buf then holds the directory looked for, for the message).
 */
const char *dlp_default_rules_dir(char *buf, size_t len);

/*
 * What the runtime decides from the settings, and -T reports (runtime.c): one
 * copy each, so that the summary says what a start would do.
 * live: capture from interfaces (no -r). capture_threads: live handles, each
 * its own worker (--capture-threads, else --workers; 1..256). fanout: the
 * handles join fanout groups (more than one, or --cluster-id); else one plain
 * handle. fanout_group: the group of interface i (--cluster-id + i, or
 * DLP_FANOUT_GROUP_AUTO). syslog_local: alerts to the local syslog
 * (--syslog/--no-syslog, else on when live).
 */
bool dlp_runtime__live(const dlp_config_t *cfg);
unsigned dlp_runtime__capture_threads(const dlp_config_t *cfg);
/* Files: how many handles read them, 1 (a reader) or one per worker (config.h,
 * dlp_file_readers_t); 'cpus' as dlp_runtime__cpus(). */
unsigned dlp_runtime__file_readers(const dlp_config_t *cfg, unsigned cpus);
/* The CPUs this process may run on. */
unsigned dlp_runtime__cpus(void);
bool dlp_runtime__fanout(const dlp_config_t *cfg, unsigned threads);
int32_t dlp_runtime__fanout_group(const dlp_config_t *cfg, size_t i);
bool dlp_runtime__syslog_local(const dlp_config_t *cfg, bool live);

#endif
