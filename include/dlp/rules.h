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
 *       flags: [caseless]         # optional: caseless, dotall, multiline (ucp: refused)
 *       validator: luhn           # optional, default none
 *       normalize: digits         # optional, default from the validator
 *       mask: number              # optional, default from the validator
 *       value: field              # optional: the value is what a named field holds
 *       threshold: 1              # optional, default 1
 *       enabled: true             # optional, default true
 *       examples: {match: [...], no_match: [...]}
 *       context: {words: [card, visa], window: 64, required: false}   # optional
 *       exclude_context: {words: [test], window: 64}                  # optional
 *       protocols: [HTTP, SMTP]   # optional, default all
 *       fields: [http.body]       # optional, default all
 *       allow: {values: [...], hmacs: [...], src: [...], dst: [...], hosts: [...]}
 *       test_values: false        # optional, default false
 *     - {id: 3100, name: pii.reidentification_risk, ..., category: linkable,
 *        combination: {min_weight: 3, rules: {pii.dob: 1, pii.zip: 2}}}   # no patterns
 *   allow: {...}                  # optional: global allow-lists, merged over files
 *   overrides:                    # optional: changes to rules of any file, applied
 *     - {name: pii.email, enabled: false}   # after every file is read, in load order
 */
#ifndef DLP_RULES_H
#define DLP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/cidr.h"
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
#define DLP_RULE_CONTEXT_WORDS_MAX 64            /* words of one context: list */
#define DLP_RULE_CONTEXT_WORD_MAX 48             /* bytes of one context word */
#define DLP_RULE_PROTOCOLS_MAX 64                /* names in one protocols: list */
#define DLP_RULE_PROTOCOL_NAME_MAX 32            /* bytes of one protocol name */
#define DLP_RULE_ALLOW_MAX 4096                  /* items of one allow-list (values, hmacs,
                                                  * src, dst or hosts), after merging */
#define DLP_RULE_ALLOW_VALUE_MAX 256             /* bytes of one allowed value
                                                  * (DLP_DETECT_VALUE_MAX) */
#define DLP_RULE_HOST_MAX 253                    /* bytes of one allowed host name */
#define DLP_RULE_COMBINATION_MAX 64              /* rules counted by one combination */
#define DLP_RULE_WEIGHT_MAX 100                  /* largest weight in a combination */
#define DLP_RULES_OVERRIDES_MAX 4096             /* overrides in one load */
#define DLP_RULE_EDM_MAX (16u * 1024 * 1024)     /* keyed hashes of one rule's edm: */
#define DLP_RULE_AGG_VALUES_MIN 2                /* aggregate: values */
#define DLP_RULE_AGG_VALUES_MAX 10000
#define DLP_RULE_AGG_WINDOW_MAX 86400            /* aggregate: window, seconds */
#define DLP_RULE_EDM_FILE_MAX_BYTES (1024u * 1024 * 1024) /* one hmacs_file (a regular file) */

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
#define DLP_RULE_F_UCP 0x08 /* refused by the loader (needs UTF-8 mode); the matcher checks too */

typedef struct dlp_rule_pattern {
    char *expr;
    unsigned line; /* line of the expression in its file */
} dlp_rule_pattern_t;

/*
 * Context words (context: / exclude_context:): matched case-insensitively
 * on word boundaries ("lic" does not match "public"; "social security"
 * matches across one or more spaces or "_"/"-"), within 'window' bytes
 * before the value's start or after its end. A field name carrying the
 * value ("ssn": "…", card_number=…) is such a word.
 */
typedef struct dlp_rule_context {
    char **words;
    size_t nwords;
    unsigned *word_line;       /* [nwords]: the line of each word, in 'file' */
    uint32_t window;           /* default DLP_RULE_CONTEXT_WINDOW, max DLP_RULE_CONTEXT_WINDOW_MAX */
    bool required;             /* context: no word -> the value does not count */
    const char *file;          /* where the words were written (the rule's file, or an */
    unsigned line;             /* override's): the key's line; owned by the set */
} dlp_rule_context_t;

#define DLP_RULE_CONTEXT_WINDOW 64
#define DLP_RULE_CONTEXT_WINDOW_MAX 128

/*
 * Allow-lists (allow:, per rule or global at the top of a file): a value
 * matched here is suppressed (counted, not reported). A rule's values are
 * normalized with the rule's normalization at load time; the global list's
 * values (dlp_ruleset_t.allow) are kept as written, since each rule
 * normalizes differently: normalize them per rule (dlp_normalize) when
 * setting up. Lists of several blocks (files, overrides) are concatenated in
 * load order; duplicates are kept. file/line: the first block's allow: key.
 */
typedef struct dlp_rule_allow {
    char **values;             /* literal values, normalized as the rule normalizes */
    size_t nvalues;
    uint8_t (*hmacs)[16];      /* hmac field values (32 hex digits) */
    size_t nhmacs;
    dlp_cidr_set_t src;        /* the sender of the bytes (an inside host) */
    dlp_cidr_set_t dst;        /* the receiver */
    char **hosts;              /* destination host names: "a.example.com" or "*.example.com"
                                * (HTTP Host, TLS SNI, SMTP recipient domain) */
    size_t nhosts;
    const char *file;          /* owned by the set; NULL when no block was given */
    unsigned line;
} dlp_rule_allow_t;

/*
 * Exact data match: the rule reports only values whose keyed hash (the
 * 'hmac' field, --hmac-key-file) is listed: "one of our customers' cards",
 * not any card, with no cleartext of the list on the sensor.
 */
typedef struct dlp_rule_edm {
    bool on;                   /* edm: given (an empty list then reports nothing) */
    uint8_t (*hmacs)[16];      /* sorted, unique */
    size_t nhmacs;
    const char *file;          /* of the edm: key (a rule's or an override's; owned by the set) */
    unsigned line;
} dlp_rule_edm_t;

/*
 * Distinct values across flows: the rule's event is also due in the flow
 * where one sender has sent one receiver 'values' distinct values within
 * 'window_s' seconds of packet time, however many flows carried them.
 */
typedef struct dlp_rule_aggregate {
    uint32_t values;           /* 0: off; else DLP_RULE_AGG_VALUES_MIN..MAX */
    uint32_t window_s;         /* 1..DLP_RULE_AGG_WINDOW_MAX */
} dlp_rule_aggregate_t;

/* Whether h (16 bytes) is on the list (binary search). */
bool dlp_rule_edm_has(const dlp_rule_edm_t *e, const uint8_t *h);

/* A combination rule (pii.reidentification_risk): no patterns. */
typedef struct dlp_rule_combination {
    uint32_t min_weight;       /* k: the event fires when the weights found add up to it */
    char **rules;              /* the linkable rules counted (names) */
    uint32_t *weights;         /* their weights, default 1 */
    size_t nrules;
    unsigned line;             /* of the combination: key, in the rule's file */
} dlp_rule_combination_t;

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
    dlp_value_span_t value;    /* which part of a match is the value (default: all) */
    uint32_t threshold;        /* distinct values in a flow before the event */
    bool enabled;
    char **ex_match;
    size_t nex_match;
    char **ex_no_match;
    size_t nex_no_match;
    unsigned *ex_match_line, *ex_no_match_line; /* the line of each example, for messages */
    const char *examples_file; /* an override's examples (which replace the rule's): its */
    unsigned examples_line;    /* file and examples: key; NULL: the rule's own */
    dlp_rule_context_t context;        /* nwords 0: none */
    dlp_rule_context_t exclude;        /* exclude_context: a word here suppresses */
    char **protocols;                  /* app_proto names (nDPI's: "HTTP", "SMTP"...; a
                                        * name also matches "NAME.<sub>"); none = all */
    size_t nprotocols;
    unsigned *protocols_line;          /* [nprotocols]: the line of each name, in */
    const char *protocols_file;        /* this file (the rule's or an override's) */
    bool protocols_override;           /* given by an override */
    uint32_t fields;                   /* bit (1 << dlp_field_t) per field; 0 = all */
    dlp_rule_allow_t allow;
    dlp_rule_edm_t edm;
    dlp_rule_aggregate_t aggregate;
    bool test_values;                  /* report published test values (cards: 4111...)
                                        * too; default false: suppressed, counted */
    dlp_rule_combination_t combination; /* min_weight 0: not a combination rule */
    const char *file;          /* file the rule came from (owned by the set) */
    unsigned line;             /* line of the rule's first key */
} dlp_rule_t;

typedef struct dlp_ruleset {
    dlp_rule_t *rules;         /* every rule loaded, enabled or not, by file order */
    size_t n;
    dlp_rule_allow_t allow;    /* global allow-lists (top-level allow: of any file) */
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
 * and mask default to the validator's (dlp_validator_get()). Once every
 * file is read, the overrides of all files are applied in load order (a
 * key given replaces the rule's value; allow: lists are appended), then
 * each name a combination counts must be a linkable rule that is not
 * itself a combination; these errors follow the files' own. Control
 * thread; the result is immutable and may be shared by any thread.
 */
dlp_ruleset_t *dlp_rules_load(const char *const *paths, size_t n, dlp_rules_errors_t *err);
void dlp_ruleset_free(dlp_ruleset_t *rs); /* accepts NULL */

/* The set's digest as 64 lowercase hex digits and a NUL, into out
 * (DLP_RULES_DIGEST_HEX bytes): what the stats, -T, a reload's log line and
 * `rules check` show, so that one can tell which rules a sensor runs. */
#define DLP_RULES_DIGEST_HEX 65
void dlp_ruleset_digest_hex(const dlp_ruleset_t *rs, char *out);

/* The rule called 'name' (linear: for set-up, not the packet path), or NULL. */
const dlp_rule_t *dlp_ruleset_find(const dlp_ruleset_t *rs, const char *name);
/* "linked", "low"... as written in rule files; "?" when out of range. */
const char *dlp_category_name(dlp_category_t c);
const char *dlp_severity_name(dlp_severity_t s);

/*
 * The field names a rule's fields: list accepts (dlp_field_name(), alert.h),
 * for every other reader of a field name (the tools' --field), so that one
 * table decides what is known and what the errors list.
 * dlp_rules_field_parse: the field named 's' (a dlp_field_t) into *field;
 * false if none is. dlp_rules_field_names: all of them, ", "-separated, into
 * out (cut to fit cap).
 */
bool dlp_rules_field_parse(const char *s, int *field);
void dlp_rules_field_names(char *out, size_t cap);

#endif
