/*
 * rules_int.h - what the files of the rules area share: the loader's state,
 * the YAML event reader (rules_read.c), the keys of a rule (rules_keys.c),
 * the merging and checks that need every file (rules_apply.c). Not a
 * public header.
 *
 * Arrays of the set grow with dlp_rules__grow(): their capacity is implied
 * by their length, so no capacity is stored beside them.
 */
#ifndef DLP_RULES_INT_H
#define DLP_RULES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <yaml.h>

#include "dlp/rules.h"

#define QUOTE_MAX 48              /* bytes of a user's value shown in a message */
#define QUOTE_BUF (QUOTE_MAX + 8) /* dlp_rules__quote()'s output */
#define KIND_BUF (QUOTE_BUF + 16) /* dlp_rules__kind()'s output */

/* Keys of a rule mapping; an override takes those in OVERRIDE_KEYS. */
enum {
    K_ID,
    K_NAME,
    K_DESCRIPTION,
    K_CATEGORY,
    K_SEVERITY,
    K_PATTERNS,
    K_FLAGS,
    K_VALIDATOR,
    K_NORMALIZE,
    K_MASK,
    K_THRESHOLD,
    K_ENABLED,
    K_EXAMPLES,
    K_CONTEXT,
    K_EXCLUDE,
    K_PROTOCOLS,
    K_FIELDS,
    K_ALLOW,
    K_TEST_VALUES,
    K_COMBINATION,
    K_VALUE,
    K_EDM,
    K_AGGREGATE,
    K__COUNT
};

#define KBIT(k) (1u << (k))
#define OVERRIDE_KEYS                                                                              \
    (KBIT(K_NAME) | KBIT(K_DESCRIPTION) | KBIT(K_SEVERITY) | KBIT(K_THRESHOLD) | KBIT(K_ENABLED) | \
     KBIT(K_CONTEXT) | KBIT(K_EXCLUDE) | KBIT(K_PROTOCOLS) | KBIT(K_FIELDS) | KBIT(K_ALLOW) |      \
     KBIT(K_TEST_VALUES) | KBIT(K_EDM) | KBIT(K_AGGREGATE) | KBIT(K_EXAMPLES))
/* Keys that describe a value: a combination rule has none of its own. */
#define VALUE_KEYS                                                                                 \
    (KBIT(K_PATTERNS) | KBIT(K_FLAGS) | KBIT(K_VALIDATOR) | KBIT(K_NORMALIZE) | KBIT(K_MASK) |     \
     KBIT(K_THRESHOLD) | KBIT(K_EXAMPLES) | KBIT(K_CONTEXT) | KBIT(K_EXCLUDE) |                    \
     KBIT(K_TEST_VALUES) | KBIT(K_VALUE) | KBIT(K_EDM) | KBIT(K_AGGREGATE))

typedef struct pending {
    unsigned line;
    char *msg;
} pending_t;

/* id and name of every rule read so far, valid or not: duplicates, overrides. */
typedef struct seen {
    uint32_t id; /* 0: the rule had no valid id */
    char *name;  /* NULL: no valid name */
    const char *file;
    unsigned id_line, name_line;
} seen_t;

/* An override as read: applied once every file has been read. */
typedef struct override {
    dlp_rule_t r; /* r.name and the members of the keys given */
    uint32_t keys;
    unsigned key_line[K__COUNT];
    const char *file;
} override_t;

/* A name of a combination, checked once every file has been read. */
typedef struct comb_ref {
    size_t rule; /* index in rs->rules of the combination rule */
    size_t item; /* index in its combination.rules */
    unsigned line;
} comb_ref_t;

/* A file as the file system knows it: two paths of one file give one id. */
typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id_t;

typedef struct loader {
    dlp_ruleset_t *rs;
    seen_t *seen;
    size_t nseen;
    override_t *ovr;
    size_t novr;
    comb_ref_t *refs;
    size_t nrefs;
    dlp_rules_errors_t *err;
    file_id_t *ids;          /* [rs->nfiles]: each file's device and inode (0, 0: unknown) */
    size_t nerr;             /* errors of this load */
    bool stop;               /* out of memory or too many errors */
    bool too_many_rules;     /* reported once */
    bool too_many_files;     /* reported once */
    bool too_many_overrides; /* reported once */
} loader_t;

/* A rule or an override being read: its errors wait until its name is known. */
typedef struct rule_ctx {
    dlp_rule_t r;
    bool is_override;
    uint32_t keys; /* KBIT(K_*): key seen */
    unsigned key_line[K__COUNT];
    bool id_ok, name_ok;
    size_t pattern_items; /* entries of 'patterns', valid or not */
    unsigned *comb_lines; /* line of each combination.rules entry */
    pending_t *pend;
    size_t npend;
} rule_ctx_t;

typedef struct reader {
    loader_t *ld;
    const char *file; /* owned by the set */
    const unsigned char *buf;
    size_t len;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool has_ev;
    bool fatal;        /* YAML syntax error: the rest of the file is unreadable */
    rule_ctx_t *rc;    /* rule or override being read: its errors wait for its name */
    unsigned key_line; /* line of the key whose value is being read */
    bool hide_values;  /* examples: a scalar is described, never quoted (a real value?) */
} reader_t;

/* ---- rules_read.c: errors ------------------------------------------------ */

void dlp_rules__oom(loader_t *ld);
/* A rule read so far with this id (id != 0) or this name (non-NULL), or NULL. */
seen_t *dlp_rules__seen_find(const loader_t *ld, uint32_t id, const char *name);
/* An error of the load (not held for any rule). */
void dlp_rules__lerror(loader_t *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error at 'line' of the current file, held for the rule being read if any. */
void dlp_rules__error(reader_t *rd, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reports the held errors of rc, in line order, named after the rule or override. */
void dlp_rules__flush(reader_t *rd, rule_ctx_t *rc);
/* A user's value fit for a one-line message: printable ASCII, bounded, quoted. */
const char *dlp_rules__quote(const char *s, size_t n, char out[QUOTE_BUF]);

/* ---- rules_read.c: events ------------------------------------------------ */

static inline unsigned ev_line(const reader_t *rd)
{
    return (unsigned)rd->ev.start_mark.line + 1;
}

static inline bool ev_is_scalar(const reader_t *rd)
{
    return rd->ev.type == YAML_SCALAR_EVENT;
}

static inline const char *ev_str(const reader_t *rd)
{
    return (const char *)rd->ev.data.scalar.value;
}

static inline size_t ev_len(const reader_t *rd)
{
    return rd->ev.data.scalar.length;
}

/* The current event is the scalar 'name' exactly (no NUL inside). */
static inline bool ev_is(const reader_t *rd, const char *name)
{
    return ev_is_scalar(rd) && ev_len(rd) == strlen(name) &&
           memcmp(ev_str(rd), name, ev_len(rd)) == 0;
}

/* Moves to the next event. False: stop reading (syntax error, out of memory, too many errors). */
bool dlp_rules__next(reader_t *rd);
/* Skips the node that starts at the current event; leaves its last event current. */
bool dlp_rules__skip(reader_t *rd);
/* Skips the value that follows the current key event. */
bool dlp_rules__skip_value(reader_t *rd);
/* What the current node is, for "expected X, got Y". */
const char *dlp_rules__kind(const reader_t *rd, char out[KIND_BUF]);

/* ---- rules_read.c: values ------------------------------------------------ */
/*
 * Each reads the current node; on a wrong node it reports "KEY: expected
 * ..., got ..." and skips it. They return false only when reading must stop.
 */

/* A non-empty string of at most 'max' bytes, copied to *out (NULL on a reported error). */
bool dlp_rules__string(reader_t *rd, const char *key, size_t max, char **out);
/* A plain decimal integer in [lo, hi]; *ok tells whether *out was set. */
bool dlp_rules__uint(reader_t *rd, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
                     bool *ok);
/* Plain true or false. */
bool dlp_rules__bool(reader_t *rd, const char *key, bool *out);
/* One of names[0..n) ('what' lists them for the error); *ok tells whether *out was set. */
bool dlp_rules__enum(reader_t *rd, const char *key, const char *const *names, size_t n,
                     const char *what, unsigned *out, bool *ok);

/* Called with each item of a sequence current. */
typedef bool (*dlp_rules_item_fn)(reader_t *rd, void *arg);
/* The current node must be a sequence; *was_seq (may be NULL) says whether it was. */
bool dlp_rules__seq(reader_t *rd, const char *key, dlp_rules_item_fn fn, void *arg, bool *was_seq);

/* Called with the value of key names[k] current; 'line' is the key's. */
typedef bool (*dlp_rules_entry_fn)(reader_t *rd, unsigned k, unsigned line, void *arg);
/*
 * The current node must be a mapping whose keys are among names[0..n)
 * (n <= 32), each at most once; unknown, duplicate and non-string keys are
 * reported ("KEY: unknown key 'x'") and skipped. *seen (may be NULL) gets
 * a bit per key read; *was_map (may be NULL) whether it was a mapping.
 */
bool dlp_rules__map(reader_t *rd, const char *key, const char *const *names, unsigned n,
                    dlp_rules_entry_fn fn, void *arg, uint32_t *seen, bool *was_map);

/*
 * Room for 'add' more elements of 'elem' bytes after the n of arr: the
 * array, maybe moved, or NULL (arr still valid). Capacity is implied by n
 * (at least 4, a power of two), so every array that grows this way must
 * have been allocated this way. add must not be 0.
 */
void *dlp_rules__grow(void *arr, size_t n, size_t add, size_t elem);
/* Appends s (taken) to (*arr)[*n]; false (s freed, out of memory reported) on failure. */
bool dlp_rules__push_str(loader_t *ld, char ***arr, size_t *n, char *s);
void dlp_rules__free_strs(char **v, size_t n);

/* ---- rules_keys.c -------------------------------------------------------- */

typedef bool (*dlp_rules_key_fn)(reader_t *rd, rule_ctx_t *rc);

typedef struct dlp_rules_key {
    const char *name;
    bool required; /* in every rule ('patterns': unless it is a combination) */
    dlp_rules_key_fn fn;
} dlp_rules_key_t;

extern const dlp_rules_key_t dlp_rules__keys[K__COUNT];

/* rules: names must be [a-z0-9_.]. */
bool dlp_rules__name_ok(const char *s);
/* The allow: mapping (current event), into a (empty); 'line' is the key's. */
bool dlp_rules__read_allow(reader_t *rd, const char *key, dlp_rule_allow_t *a, unsigned line);
void dlp_rules__context_fini(dlp_rule_context_t *c);
void dlp_rules__allow_fini(dlp_rule_allow_t *a);
void dlp_rules__rule_fini(dlp_rule_t *r);
/* "linked", "low": the names as written in rule files. */
extern const char *const dlp_rules__cat_names[DLP_CAT__COUNT];
extern const char *const dlp_rules__sev_names[DLP_SEV__COUNT];

/* ---- rules_apply.c ------------------------------------------------------- */

/*
 * Replaces *s with its form normalized by 'how': 1; 0 when that is empty
 * (*s kept as written); -1 when out of memory (reported: ld->stop).
 */
int dlp_rules__normalize(loader_t *ld, char **s, dlp_norm_t how);
/*
 * Appends src's lists to dst's (src is emptied, its strings moved). False
 * when a list would pass DLP_RULE_ALLOW_MAX ('*which' names it, nothing is
 * moved) or memory runs out ('*which' NULL).
 */
bool dlp_rules__allow_merge(dlp_rule_allow_t *dst, dlp_rule_allow_t *src, const char **which);
/* Once every file has been read: the overrides, then the combinations' names. */
void dlp_rules__finish_load(loader_t *ld);

#endif
