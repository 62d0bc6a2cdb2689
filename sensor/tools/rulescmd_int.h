/*
 * rulescmd_int.h - what the files of tools/ share (not public).
 *
 * rules_cmd.c     the command line of `dlpsensor rules`, loading, output helpers
 * rules_check.c   `rules check`: compile, examples, lints, summary
 * rules_lint.c    the lints (and the embedded list of common English words)
 * rules_scan.c    rule-set copies with policies relaxed, and a scanner: text
 *                 -> the real detect stage -> the values it reports
 * rules_text.c    `rules test --text`
 * rules_capture.c `rules test -r`
 */
#ifndef DLP_RULESCMD_INT_H
#define DLP_RULESCMD_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dlp/alert.h"
#include "dlp/config.h"
#include "dlp/match.h"
#include "dlp/rc.h"
#include "dlp/rules.h"
#include "dlp/rulescmd.h"

/* --- options (rules_cmd.c) ---------------------------------------------------- */

typedef struct dlp_rulescmd_opts {
    dlp_strv_t paths;     /* rule files or directories; none: the bundled rules/ */
    bool strict;          /* check: warnings are errors */
    bool json;            /* test: JSON lines instead of tables */
    const char *text;     /* test --text FILE, "-" = stdin */
    dlp_strv_t captures;  /* test -r */
    unsigned samples;     /* test -r: masked samples per rule */
    const char *key_file; /* --hmac-key-file */
    const char *home_net; /* test -r: --home-net */
    bool scan_inbound, scan_internal;
    const char *cache_dir; /* test: --rules-cache; NULL = compile */
    int field;             /* test --text: --field (dlp_field_t), -1 = filters off */
    const char *app_proto; /* test --text: --app-proto, NULL = filters off */
} dlp_rulescmd_opts_t;

int dlp_rulescmd__check(const dlp_rulescmd_opts_t *o);
int dlp_rulescmd__text(const dlp_rulescmd_opts_t *o);
int dlp_rulescmd__capture(const dlp_rulescmd_opts_t *o);

/* Loads o->paths (or the bundled rules/, as the sensor does); NULL with 'err' filled. */
dlp_ruleset_t *dlp_rulescmd__load(const dlp_rulescmd_opts_t *o, dlp_rules_errors_t *err);

/* Reads a whole file ("-": stdin), at most 'max' bytes. Returns 0, or 2 after a message. */
int dlp_rulescmd__read_file(const char *path, size_t max, uint8_t **buf, size_t *len);

/* Prints one JSON object on one line (and frees it). */
void dlp_rulescmd__json_line(FILE *f, void *json_obj);

/* A table of strings printed with aligned columns (two spaces between). */
typedef struct dlp_rulescmd_table {
    char **cell;
    size_t ncols, nrows, cap;
} dlp_rulescmd_table_t;

void dlp_rulescmd__table_init(dlp_rulescmd_table_t *t, size_t ncols);
/* Appends a row of t->ncols strings (copied). false when out of memory. */
bool dlp_rulescmd__table_row(dlp_rulescmd_table_t *t, const char *const *cells);
void dlp_rulescmd__table_print(const dlp_rulescmd_table_t *t, FILE *f, const char *indent);
void dlp_rulescmd__table_fini(dlp_rulescmd_table_t *t);

/* Per-rule counters: a header "RULE" + the names of cols[0..n) (upper case),
 * then one row per rule that had a candidate or an alert (counters indexed
 * by dlp_rstat_t). */
void dlp_rulescmd__counters_init(dlp_rulescmd_table_t *t, const dlp_rstat_t *cols, size_t n);
/* Whether a rule of rs has an edm: list (the UNLISTED column is shown then). */
bool dlp_rulescmd__any_edm(const dlp_ruleset_t *rs);
void dlp_rulescmd__counters_row(dlp_rulescmd_table_t *t, const char *rule, const uint64_t *c,
                                const dlp_rstat_t *cols, size_t n);

/* --- rule-set copies (rules_scan.c) ----------------------------------------------- */

/* What a copy relaxes (flags OR-ed). */
#define RC_ENABLE_ALL 0x01u   /* every rule enabled */
#define RC_NO_FIELDS 0x02u    /* fields: not applied */
#define RC_NO_PROTOCOLS 0x04u /* protocols: not applied */
#define RC_NO_ADDR 0x08u      /* allow src, dst, hosts not applied (no flow) */
#define RC_NO_REQUIRED 0x10u  /* context words not required */
#define RC_NO_EXCLUDE 0x80u   /* exclude_context not applied */
#define RC_NO_ALLOW 0x20u     /* no allow-list applied (rule and global) */
#define RC_TEST_VALUES 0x40u  /* published test values reported */
#define RC_NO_EDM 0x100u      /* edm: lists not applied */

/*
 * A shallow copy of 'rs' with the policies 'how' relaxes turned off: its
 * rules array is its own (same order, so rule indexes and a matcher built
 * on 'rs' still apply), everything else is borrowed from 'rs', which must
 * outlive it. Free with dlp_rulescmd__copy_free. NULL when out of memory.
 */
dlp_ruleset_t *dlp_rulescmd__copy(const dlp_ruleset_t *rs, unsigned how);
void dlp_rulescmd__copy_free(dlp_ruleset_t *c);

/* --- scanning through the real detect stage (rules_scan.c) ------------------------ */

/* One distinct value of one rule, as the detect stage reported it. */
typedef struct dlp_rulescmd_value {
    uint32_t rule; /* index in the rule set */
    uint64_t offset;
    char masked[48];
    char hmac[33];
    uint8_t confidence; /* dlp_confidence_t */
    uint8_t field;      /* dlp_field_t */
} dlp_rulescmd_value_t;

/* What one scan found: the listed values (the detect stage keeps the first
 * DLP_EV_MAX_MATCHES per rule) and each rule's count of distinct values. */
typedef struct dlp_rulescmd_found {
    dlp_rulescmd_value_t *v;
    size_t n, cap;
    uint32_t *count; /* [nrules] */
    size_t nrules;
    bool lost; /* records were dropped (never expected) */
} dlp_rulescmd_found_t;

void dlp_rulescmd__found_fini(dlp_rulescmd_found_t *f);

typedef struct dlp_rulescmd_scanner dlp_rulescmd_scanner_t;

/* A detect stage over 'rs' (borrowed) and 'm' (built on 'rs' or a set it was
 * copied from), keyed with key[0..key_len). NULL when out of memory. */
dlp_rulescmd_scanner_t *dlp_rulescmd__scanner_new(const dlp_ruleset_t *rs, const dlp_matcher_t *m,
                                                  const uint8_t *key, size_t key_len);
void dlp_rulescmd__scanner_free(dlp_rulescmd_scanner_t *s);
/* Where the scanned bytes are said to come from (default: raw, no protocol). */
void dlp_rulescmd__scanner_where(dlp_rulescmd_scanner_t *s, dlp_field_t field,
                                 const char *app_proto);

/*
 * Scans p[0..n) as one new flow: a stream written in 'chunk'-byte writes,
 * or, chunk 0, one block. 'out' is reset and filled. DLP_ENOMEM.
 */
DLP_MUST_CHECK dlp_rc_t dlp_rulescmd__scan(dlp_rulescmd_scanner_t *s, const uint8_t *p, size_t n,
                                           size_t chunk, dlp_rulescmd_found_t *out);

/* The per-rule counters of everything this scanner scanned: [rule][dlp_rstat_t]. */
const _Atomic uint64_t *dlp_rulescmd__rstats(const dlp_rulescmd_scanner_t *s);
uint64_t dlp_rulescmd__rstat(const dlp_rulescmd_scanner_t *s, size_t rule, dlp_rstat_t k);

/* --- lints (rules_lint.c) ------------------------------------------------------------ */

/* The embedded common English word that contains 'word' (and is longer), or NULL.
 * Case-insensitive; words with a space are never looked up. */
const char *dlp_rulescmd__common_word(const char *word);

/*
 * Each appends one warning line per finding to 'out' ("FILE:LINE: rule
 * NAME: warning: REASON") about rule rs->rules[i], and returns how many.
 */
/* A pattern that can match nothing or fewer than DLP_RULESCMD_MIN_WIDTH bytes
 * (patterns Hyperscan rejects are left to the matcher's errors). */
unsigned dlp_rulescmd__lint_widths(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out);
/* No examples, or fewer than DLP_RULESCMD_MIN_EXAMPLES of a kind. */
unsigned dlp_rulescmd__lint_examples(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out);
/* A pattern identical (same expression and flags) to an earlier one of any rule. */
unsigned dlp_rulescmd__lint_duplicates(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out);
/* A context or exclude_context word that is part of a common English word. */
unsigned dlp_rulescmd__lint_context(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out);
/* A match example of rule 'from' that also gives a value of rule 'to'. */
typedef struct dlp_rulescmd_fire {
    uint32_t from, to;
    uint32_t example; /* 1-based number of the first such match example of 'from' */
} dlp_rulescmd_fire_t;

/*
 * Rules whose examples fire each other, from fires[0..n): at most one entry
 * per (from, to), in any order (sorted here, in place). A list, not an
 * n x n matrix: only the pairs that fire cost memory, and at 4096 rules a
 * matrix is 64 MiB of mostly zeros. Reported once per pair, at the later
 * rule.
 */
unsigned dlp_rulescmd__lint_overlaps(const dlp_ruleset_t *rs, dlp_rulescmd_fire_t *fires,
                                     size_t n, dlp_rules_errors_t *out);

#endif
