/*
 * rules.h - rule files (YAML) -> an immutable ruleset.
 *
 * A ruleset is built once by the control thread, then shared read-only by
 * every worker; a reload builds a new one and swaps the pointer. Loading is
 * strict: an unknown key, a wrong type, a duplicate id or name, an unknown
 * validator, a missing field is an error naming file, line and rule, and
 * the whole load fails: the sensor never runs a silently reduced rule set.
 * (Expressions are checked by the matcher, which reports them the same way
 * using dlp_rule_pattern_t.line.)
 *
 * Format (rules/README.md):
 *   rules:
 *     - id: 1001
 *       name: pii.credit_card
 *       description: ...
 *       category: linked          # linked | linkable | secret
 *       severity: high            # low | medium | high | critical
 *       patterns: ['\b4[0-9]{3}...']
 *       flags: [caseless]         # optional: caseless, dotall, multiline, ucp
 *       validator: luhn           # optional, default none
 *       normalize: digits         # optional, default from the validator
 *       mask: number              # optional, default from the validator
 *       threshold: 1              # optional, default 1
 *       enabled: true             # optional, default true
 *       examples: {match: [...], no_match: [...]}
 */
#ifndef DLP_RULES_H
#define DLP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/rc.h"
#include "dlp/validate.h"

/*
 * Bounds of a load (each refused with an error naming the file; the same
 * policy as every other bound: nothing is silently dropped).
 */
#define DLP_RULES_FILES_MAX 256                  /* rule files in one load */
#define DLP_RULES_FILE_MAX_BYTES (8u * 1024 * 1024) /* bytes of one rule file */
#define DLP_RULES_MAX 4096                       /* rules in one load */
#define DLP_RULES_ERRORS_MAX 100                 /* messages before the load gives up */
#define DLP_RULE_NAME_MAX 64                     /* bytes of a name, with its NUL */
#define DLP_RULE_PATTERNS_MAX 1024               /* patterns of one rule */
#define DLP_RULE_PATTERN_MAX_LEN 8192            /* bytes of one pattern */
#define DLP_RULE_THRESHOLD_MAX 1000              /* largest 'threshold' */

typedef enum {
    DLP_CAT_LINKED = 0,
    DLP_CAT_LINKABLE,
    DLP_CAT_SECRET,
    DLP_CAT__COUNT
} dlp_category_t;

typedef enum {
    DLP_SEV_LOW = 0,
    DLP_SEV_MEDIUM,
    DLP_SEV_HIGH,
    DLP_SEV_CRITICAL,
    DLP_SEV__COUNT
} dlp_severity_t;

#define DLP_RULE_F_CASELESS 0x01
#define DLP_RULE_F_DOTALL 0x02
#define DLP_RULE_F_MULTILINE 0x04
#define DLP_RULE_F_UCP 0x08

typedef struct dlp_rule_pattern {
    char *expr;
    unsigned line; /* line of the expression in its file */
} dlp_rule_pattern_t;

typedef struct dlp_rule {
    uint32_t id;
    char *name;
    char *description;
    dlp_category_t category;
    dlp_severity_t severity;
    dlp_rule_pattern_t *patterns;
    size_t npatterns;
    unsigned flags;            /* DLP_RULE_F_* */
    dlp_validator_t validator;
    dlp_norm_t norm;
    dlp_mask_t mask;
    uint32_t threshold;        /* distinct values in a flow before the event */
    bool enabled;
    char **ex_match;
    size_t nex_match;
    char **ex_no_match;
    size_t nex_no_match;
    const char *file;          /* file the rule came from (owned by the set) */
    unsigned line;             /* line of the rule's first key */
} dlp_rule_t;

typedef struct dlp_ruleset {
    dlp_rule_t *rules;         /* every rule loaded, enabled or not, by file order */
    size_t n;
    char **files;              /* files read, in order */
    size_t nfiles;
    uint8_t digest[32];        /* SHA-256 over the files' bytes, in order */
} dlp_ruleset_t;

/*
 * Errors of a load: each is one line "file:line: rule NAME: reason" (or
 * "file:line: reason" when no rule is involved). Owned by the caller.
 * A rule without a valid name is named by its id: "rule #1001".
 * dlp_rules_errors_add drops the message if memory runs out;
 * dlp_rules_errors_fini frees the messages and accepts NULL.
 */
typedef struct dlp_rules_errors {
    char **msg;
    size_t n;
} dlp_rules_errors_t;

void dlp_rules_errors_add(dlp_rules_errors_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dlp_rules_errors_fini(dlp_rules_errors_t *e);

/*
 * Loads rules from 'paths' (files, or directories whose *.yaml files are
 * read in name order). On success returns an owned ruleset; on any error
 * returns NULL and appends every problem found to 'err' (up to
 * DLP_RULES_ERRORS_MAX, then one "too many errors" line). Normalization
 * and mask default to the validator's (dlp_validator_get()). Control
 * thread; the result is immutable and may be shared by any thread.
 */
dlp_ruleset_t *dlp_rules_load(const char *const *paths, size_t n, dlp_rules_errors_t *err);
void dlp_ruleset_free(dlp_ruleset_t *rs); /* accepts NULL */

/* The rule called 'name' (linear: for set-up, not the packet path), or NULL. */
const dlp_rule_t *dlp_ruleset_find(const dlp_ruleset_t *rs, const char *name);
/* "linked", "low"... as written in rule files; "?" when out of range. */
const char *dlp_category_name(dlp_category_t c);
const char *dlp_severity_name(dlp_severity_t s);

#endif
