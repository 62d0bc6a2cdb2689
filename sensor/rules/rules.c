/*
 * rules.c - rule files (YAML) -> an immutable dlp_ruleset_t.
 *
 * libyaml's event API drives a recursive-descent reader, one function per
 * shape of the format (file, rule, list of strings, examples). Events rather
 * than the document API, so that anchors, aliases and tags are refused where
 * they appear and every key and scalar carries its own line. A value that is
 * skipped (unknown key, wrong type) is walked with a depth counter, never by
 * recursion, so deeply nested input cannot exhaust the stack; the recursion
 * that does exist is fixed by the format (at most four levels).
 *
 * Invariants: a rule enters the set only if it had no error. The errors of a
 * rule wait until its mapping ends, so each message names the rule even when
 * "name:" is its last key. Any error, anywhere, fails the whole load; the
 * reader keeps going to report every error, until DLP_RULES_ERRORS_MAX.
 *
 * Thread: the control thread loads; the set is then immutable and shared.
 */
#include "dlp/rules.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <yaml.h>

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
    K__COUNT
};

#define QUOTE_MAX 48              /* bytes of a user's value shown in a message */
#define QUOTE_BUF (QUOTE_MAX + 8) /* quote()'s output */
#define KIND_BUF (QUOTE_BUF + 16) /* ev_kind()'s output */

typedef struct pending {
    unsigned line;
    char *msg;
} pending_t;

/* id and name of every rule read so far, valid or not: duplicate detection. */
typedef struct seen {
    uint32_t id; /* 0: the rule had no valid id */
    char *name;  /* NULL: no valid name */
    const char *file;
    unsigned id_line, name_line;
} seen_t;

typedef struct loader {
    dlp_ruleset_t *rs;
    size_t cap_rules, cap_files;
    seen_t *seen;
    size_t nseen, cap_seen;
    dlp_rules_errors_t *err;
    size_t nerr;         /* errors of this load */
    bool stop;           /* out of memory or too many errors */
    bool too_many_rules; /* reported once */
    bool too_many_files; /* reported once */
} loader_t;

typedef struct rule_ctx {
    dlp_rule_t r;
    unsigned keys; /* bit per K_*: key seen */
    unsigned key_line[K__COUNT];
    bool id_ok, name_ok;
    size_t pattern_items; /* entries of 'patterns', valid or not */
    size_t cap_patterns, cap_match, cap_no_match;
    pending_t *pend;
    size_t npend, cap_pend;
} rule_ctx_t;

typedef struct reader {
    loader_t *ld;
    const char *file;
    const unsigned char *buf;
    size_t len;
    yaml_parser_t parser;
    yaml_event_t ev;
    bool has_ev;
    bool fatal;     /* YAML syntax error: the rest of the file is unreadable */
    rule_ctx_t *rc; /* rule being read: its errors wait for its name */
} reader_t;

/* ---- errors --------------------------------------------------------------- */

__attribute__((format(printf, 1, 0))) static char *vfmt(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void dlp_rules_errors_add(dlp_rules_errors_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL)
        return;
    char **m = realloc(e->msg, (e->n + 1) * sizeof(*m));
    if (m == NULL) {
        free(s);
        return;
    }
    e->msg = m;
    e->msg[e->n++] = s;
}

void dlp_rules_errors_fini(dlp_rules_errors_t *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->msg[i]);
    free(e->msg);
    e->msg = NULL;
    e->n = 0;
}

static void ld_oom(loader_t *ld)
{
    if (ld->stop)
        return;
    ld->stop = true;
    ld->nerr++;
    dlp_rules_errors_add(ld->err, "out of memory while loading rules");
}

/* Adds "msg" unless the load already gave up; the message past the cap says so. */
static void ld_msg(loader_t *ld, const char *msg)
{
    if (ld->stop)
        return;
    ld->nerr++;
    if (ld->nerr > DLP_RULES_ERRORS_MAX) {
        dlp_rules_errors_add(ld->err, "too many errors (max %u), giving up",
                             (unsigned)DLP_RULES_ERRORS_MAX);
        ld->stop = true;
        return;
    }
    dlp_rules_errors_add(ld->err, "%s", msg);
}

__attribute__((format(printf, 2, 3))) static void ld_error(loader_t *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        ld_oom(ld);
        return;
    }
    ld_msg(ld, s);
    free(s);
}

/* A user's value fit for a one-line message: printable ASCII, bounded, quoted. */
static const char *quote(const char *s, size_t n, char out[QUOTE_BUF])
{
    size_t o = 0;
    out[o++] = '\'';
    for (size_t i = 0; i < n && i < QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n > QUOTE_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '\'';
    out[o] = '\0';
    return out;
}

/* Stable, by line: a rule's messages read top to bottom whatever found them. */
static void sort_pending(rule_ctx_t *rc)
{
    for (size_t i = 1; i < rc->npend; i++) {
        pending_t p = rc->pend[i];
        size_t j = i;
        for (; j > 0 && rc->pend[j - 1].line > p.line; j--)
            rc->pend[j] = rc->pend[j - 1];
        rc->pend[j] = p;
    }
}

static void flush_pending(reader_t *rd, rule_ctx_t *rc)
{
    sort_pending(rc);
    for (size_t i = 0; i < rc->npend; i++) {
        pending_t *p = &rc->pend[i];
        if (rc->name_ok)
            ld_error(rd->ld, "%s:%u: rule %s: %s", rd->file, p->line, rc->r.name, p->msg);
        else if (rc->id_ok)
            ld_error(rd->ld, "%s:%u: rule #%u: %s", rd->file, p->line, (unsigned)rc->r.id, p->msg);
        else
            ld_error(rd->ld, "%s:%u: %s", rd->file, p->line, p->msg);
        free(p->msg);
    }
    rc->npend = 0;
}

static void pend_add(reader_t *rd, unsigned line, char *msg)
{
    rule_ctx_t *rc = rd->rc;
    if (rc->npend == rc->cap_pend) {
        size_t cap = rc->cap_pend ? rc->cap_pend * 2 : 8;
        pending_t *p = realloc(rc->pend, cap * sizeof(*p));
        if (p == NULL) {
            free(msg);
            ld_oom(rd->ld);
            return;
        }
        rc->pend = p;
        rc->cap_pend = cap;
    }
    rc->pend[rc->npend].line = line;
    rc->pend[rc->npend++].msg = msg;
}

/* An error at 'line' of the current file, held for the rule being read if any. */
__attribute__((format(printf, 3, 4))) static void rd_error(reader_t *rd, unsigned line,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        ld_oom(rd->ld);
        return;
    }
    if (rd->rc != NULL) {
        pend_add(rd, line, s);
        return;
    }
    ld_error(rd->ld, "%s:%u: %s", rd->file, line, s);
    free(s);
}

/* ---- events --------------------------------------------------------------- */

static unsigned ev_line(const reader_t *rd)
{
    return (unsigned)rd->ev.start_mark.line + 1;
}

static unsigned line_of_offset(const reader_t *rd, size_t off)
{
    unsigned line = 1;
    for (size_t i = 0; i < off && i < rd->len; i++)
        line += rd->buf[i] == '\n';
    return line;
}

static void rd_yaml_error(reader_t *rd)
{
    yaml_parser_t *p = &rd->parser;

    rd->fatal = true;
    if (p->error == YAML_MEMORY_ERROR) {
        ld_oom(rd->ld);
        return;
    }
    unsigned line = p->error == YAML_READER_ERROR ? line_of_offset(rd, p->problem_offset)
                                                  : (unsigned)p->problem_mark.line + 1;
    if (rd->rc != NULL)
        flush_pending(rd, rd->rc);
    ld_error(rd->ld, "%s:%u: YAML error: %s", rd->file, line,
             p->problem != NULL ? p->problem : "unknown error");
}

/* Anchors, aliases and tags are refused: they only widen what a rule file can do. */
static void rd_check_props(reader_t *rd)
{
    const yaml_event_t *e = &rd->ev;
    const yaml_char_t *anchor = NULL, *tag = NULL;

    switch (e->type) {
    case YAML_ALIAS_EVENT:
        rd_error(rd, ev_line(rd), "YAML aliases are not allowed");
        return;
    case YAML_SCALAR_EVENT:
        anchor = e->data.scalar.anchor;
        tag = e->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = e->data.sequence_start.anchor;
        tag = e->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = e->data.mapping_start.anchor;
        tag = e->data.mapping_start.tag;
        break;
    default:
        return;
    }
    if (anchor != NULL)
        rd_error(rd, ev_line(rd), "YAML anchors are not allowed");
    if (tag != NULL)
        rd_error(rd, ev_line(rd), "YAML tags are not allowed");
}

/* Moves to the next event. False: stop reading (syntax error, out of memory, too many errors). */
static bool rd_next(reader_t *rd)
{
    if (rd->has_ev) {
        yaml_event_delete(&rd->ev);
        rd->has_ev = false;
    }
    if (rd->fatal || rd->ld->stop)
        return false;
    if (!yaml_parser_parse(&rd->parser, &rd->ev)) {
        rd_yaml_error(rd);
        return false;
    }
    rd->has_ev = true;
    rd_check_props(rd);
    return !rd->ld->stop;
}

/* Skips the node that starts at the current event; leaves its last event current. */
static bool rd_skip(reader_t *rd)
{
    size_t depth = 0;
    for (;;) {
        switch (rd->ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        default:
            break;
        }
        if (depth == 0)
            return true;
        if (!rd_next(rd))
            return false;
    }
}

/* Skips the value that follows the current key event. */
static bool rd_skip_value(reader_t *rd)
{
    return rd_next(rd) && rd_skip(rd);
}

static bool ev_is_scalar(const reader_t *rd)
{
    return rd->ev.type == YAML_SCALAR_EVENT;
}

static const char *ev_str(const reader_t *rd)
{
    return (const char *)rd->ev.data.scalar.value;
}

static size_t ev_len(const reader_t *rd)
{
    return rd->ev.data.scalar.length;
}

/* The current event is the scalar 'name' exactly (no NUL inside). */
static bool ev_is(const reader_t *rd, const char *name)
{
    return ev_is_scalar(rd) && ev_len(rd) == strlen(name) &&
           memcmp(ev_str(rd), name, ev_len(rd)) == 0;
}

static bool ev_is_null(const reader_t *rd)
{
    const yaml_event_t *e = &rd->ev;
    if (e->type != YAML_SCALAR_EVENT || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = ev_str(rd);
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* What the current node is, for "expected X, got Y". */
static const char *ev_kind(const reader_t *rd, char out[KIND_BUF])
{
    switch (rd->ev.type) {
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_SEQUENCE_START_EVENT:
        return "a sequence";
    case YAML_SCALAR_EVENT:
        if (ev_is_null(rd))
            return "null";
        if (ev_len(rd) == 0)
            return "an empty string";
        if (rd->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
            memcpy(out, "a quoted string ", 16);
            quote(ev_str(rd), ev_len(rd), out + 16);
            return out;
        }
        return quote(ev_str(rd), ev_len(rd), out);
    default:
        return "an alias";
    }
}

/* ---- values --------------------------------------------------------------- */

/*
 * The current node as a non-empty string of at most 'max' bytes, copied to
 * *out (NULL on a reported error). False only when reading must stop.
 */
static bool get_string(reader_t *rd, const char *key, size_t max, char **out)
{
    char q[KIND_BUF];

    *out = NULL;
    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (!ev_is_scalar(rd) || ev_is_null(rd) || ev_len(rd) == 0) {
        rd_error(rd, ev_line(rd), "%s: expected a non-empty string, got %s", key, ev_kind(rd, q));
        return rd_skip(rd);
    }
    if (strlen(ev_str(rd)) != ev_len(rd)) {
        rd_error(rd, ev_line(rd), "%s: contains a NUL byte", key);
        return true;
    }
    if (ev_len(rd) > max) {
        rd_error(rd, ev_line(rd), "%s: longer than %zu bytes", key, max);
        return true;
    }
    *out = strndup(ev_str(rd), ev_len(rd));
    if (*out == NULL) {
        ld_oom(rd->ld);
        return false;
    }
    return true;
}

/* Decimal only: [0-9]+, no sign, no spaces, no 0x; plain (unquoted) scalars only. */
static bool parse_uint(const reader_t *rd, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!ev_is_scalar(rd) || rd->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = ev_str(rd);
    if (s[0] < '0' || s[0] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end != s + ev_len(rd) || v < lo || v > hi)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool get_uint(reader_t *rd, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
                     bool *ok)
{
    char q[KIND_BUF];

    *ok = false;
    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (parse_uint(rd, lo, hi, out)) {
        *ok = true;
        return true;
    }
    rd_error(rd, ev_line(rd), "%s: expected an integer from %u to %u, got %s", key, (unsigned)lo,
             (unsigned)hi, ev_kind(rd, q));
    return rd_skip(rd);
}

/* Looks the current string up in names[0..n); 'what' lists them for the error. */
static bool get_enum(reader_t *rd, const char *key, const char *const *names, size_t n,
                     const char *what, unsigned *out, bool *ok)
{
    char q[KIND_BUF];
    char *s = NULL;

    *ok = false;
    if (!get_string(rd, key, SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (unsigned)i;
            *ok = true;
            free(s);
            return true;
        }
    }
    rd_error(rd, ev_line(rd), "%s: expected %s, got %s", key, what, quote(s, strlen(s), q));
    free(s);
    return true;
}

typedef bool (*item_fn)(reader_t *rd, rule_ctx_t *rc, void *arg);

/* The current node must be a sequence; calls fn with each item current. */
static bool get_seq(reader_t *rd, const char *key, item_fn fn, void *arg)
{
    char q[KIND_BUF];

    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (rd->ev.type != YAML_SEQUENCE_START_EVENT) {
        rd_error(rd, ev_line(rd), "%s: expected a sequence, got %s", key, ev_kind(rd, q));
        return rd_skip(rd);
    }
    for (;;) {
        if (!rd_next(rd))
            return false;
        if (rd->ev.type == YAML_SEQUENCE_END_EVENT)
            return true;
        if (!fn(rd, rd->rc, arg))
            return false;
    }
}

/* Room for element n of arr: the array, maybe moved, or NULL (arr still valid). */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t c = *cap ? *cap * 2 : 4;
    void *p = realloc(arr, c * elem);
    if (p != NULL)
        *cap = c;
    return p;
}

/* ---- rule keys ------------------------------------------------------------ */

static bool key_id(reader_t *rd, rule_ctx_t *rc)
{
    return get_uint(rd, "id", 1, UINT32_MAX, &rc->r.id, &rc->id_ok);
}

static bool name_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
            return false;
    }
    return true;
}

static bool key_name(reader_t *rd, rule_ctx_t *rc)
{
    char q[KIND_BUF];
    char *s = NULL;

    if (!get_string(rd, "name", DLP_RULE_NAME_MAX - 1, &s))
        return false;
    if (s == NULL)
        return true;
    if (!name_ok(s)) {
        rd_error(rd, ev_line(rd), "name: %s has characters outside [a-z0-9_.]",
                 quote(s, strlen(s), q));
        free(s);
        return true;
    }
    rc->r.name = s;
    rc->name_ok = true;
    return true;
}

static bool key_description(reader_t *rd, rule_ctx_t *rc)
{
    return get_string(rd, "description", SIZE_MAX, &rc->r.description);
}

static const char *const cat_names[] = {"linked", "linkable", "secret"};
static const char *const sev_names[] = {"low", "medium", "high", "critical"};
static const char *const flag_names[] = {"caseless", "dotall", "multiline", "ucp"};

static bool key_category(reader_t *rd, rule_ctx_t *rc)
{
    unsigned v = 0;
    bool ok;
    bool go = get_enum(rd, "category", cat_names, DLP_ARRAY_LEN(cat_names),
                       "linked, linkable or secret", &v, &ok);
    rc->r.category = (dlp_category_t)v;
    return go;
}

static bool key_severity(reader_t *rd, rule_ctx_t *rc)
{
    unsigned v = 0;
    bool ok;
    bool go = get_enum(rd, "severity", sev_names, DLP_ARRAY_LEN(sev_names),
                       "low, medium, high or critical", &v, &ok);
    rc->r.severity = (dlp_severity_t)v;
    return go;
}

static bool pattern_item(reader_t *rd, rule_ctx_t *rc, void *arg)
{
    char *s = NULL;
    unsigned line = ev_line(rd);

    (void)arg;
    if (++rc->pattern_items > DLP_RULE_PATTERNS_MAX) {
        if (rc->pattern_items == DLP_RULE_PATTERNS_MAX + 1)
            rd_error(rd, line, "patterns: more than %u patterns", (unsigned)DLP_RULE_PATTERNS_MAX);
        return rd_skip(rd);
    }
    if (!get_string(rd, "patterns", DLP_RULE_PATTERN_MAX_LEN, &s))
        return false;
    if (s == NULL)
        return true;
    void *a = grow(rc->r.patterns, &rc->cap_patterns, rc->r.npatterns, sizeof(*rc->r.patterns));
    if (a == NULL) {
        free(s);
        ld_oom(rd->ld);
        return false;
    }
    rc->r.patterns = a;
    rc->r.patterns[rc->r.npatterns].expr = s;
    rc->r.patterns[rc->r.npatterns++].line = line;
    return true;
}

static bool key_patterns(reader_t *rd, rule_ctx_t *rc)
{
    bool was_seq = rd->ev.type == YAML_SEQUENCE_START_EVENT;
    unsigned line = ev_line(rd);

    if (!get_seq(rd, "patterns", pattern_item, NULL))
        return false;
    if (was_seq && rc->pattern_items == 0)
        rd_error(rd, line, "patterns: expected at least one pattern");
    return true;
}

static bool flag_item(reader_t *rd, rule_ctx_t *rc, void *arg)
{
    unsigned v = 0;
    bool ok;

    (void)arg;
    if (!get_enum(rd, "flags", flag_names, DLP_ARRAY_LEN(flag_names),
                  "caseless, dotall, multiline or ucp", &v, &ok))
        return false;
    if (!ok)
        return true;
    if (rc->r.flags & (1u << v))
        rd_error(rd, ev_line(rd), "flags: duplicate flag '%s'", flag_names[v]);
    rc->r.flags |= 1u << v;
    return true;
}

static bool key_flags(reader_t *rd, rule_ctx_t *rc)
{
    (void)rc;
    return get_seq(rd, "flags", flag_item, NULL);
}

/* "a, b, c" of the names a lookup accepts, for an error message. */
static void list_names(char *out, size_t cap, const char *(*name_of)(unsigned), unsigned n)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        const char *s = name_of(i);
        if (s == NULL)
            continue;
        int w = snprintf(out + o, cap - o, "%s%s", o ? ", " : "", s);
        if (w < 0 || (size_t)w >= cap - o)
            return;
        o += (size_t)w;
    }
}

static const char *validator_name_of(unsigned i)
{
    const dlp_validator_info_t *v = dlp_validator_get((dlp_validator_t)i);
    return v != NULL ? v->name : NULL;
}

static const char *norm_name_of(unsigned i)
{
    return dlp_norm_name((dlp_norm_t)i);
}

static const char *mask_name_of(unsigned i)
{
    return dlp_mask_name((dlp_mask_t)i);
}

static bool key_validator(reader_t *rd, rule_ctx_t *rc)
{
    char q[KIND_BUF], names[256];
    char *s = NULL;

    if (!get_string(rd, "validator", SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    if (dlp_validator_find(s, &rc->r.validator) == NULL) {
        list_names(names, sizeof(names), validator_name_of, DLP_VAL__COUNT);
        rd_error(rd, ev_line(rd), "validator: unknown validator %s (known: %s)",
                 quote(s, strlen(s), q), names);
    }
    free(s);
    return true;
}

static bool key_normalize(reader_t *rd, rule_ctx_t *rc)
{
    char q[KIND_BUF], names[256];
    char *s = NULL;

    if (!get_string(rd, "normalize", SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    if (!dlp_norm_from_name(s, &rc->r.norm)) {
        list_names(names, sizeof(names), norm_name_of, DLP_NORM__COUNT);
        rd_error(rd, ev_line(rd), "normalize: unknown normalization %s (known: %s)",
                 quote(s, strlen(s), q), names);
    }
    free(s);
    return true;
}

static bool key_mask(reader_t *rd, rule_ctx_t *rc)
{
    char q[KIND_BUF], names[256];
    char *s = NULL;

    if (!get_string(rd, "mask", SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    if (!dlp_mask_from_name(s, &rc->r.mask)) {
        list_names(names, sizeof(names), mask_name_of, DLP_MASK__COUNT);
        rd_error(rd, ev_line(rd), "mask: unknown mask %s (known: %s)", quote(s, strlen(s), q),
                 names);
    }
    free(s);
    return true;
}

static bool key_threshold(reader_t *rd, rule_ctx_t *rc)
{
    bool ok;
    return get_uint(rd, "threshold", 1, DLP_RULE_THRESHOLD_MAX, &rc->r.threshold, &ok);
}

static bool key_enabled(reader_t *rd, rule_ctx_t *rc)
{
    char q[KIND_BUF];

    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (ev_is_scalar(rd) && rd->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(ev_str(rd), "true") == 0) {
            rc->r.enabled = true;
            return true;
        }
        if (strcmp(ev_str(rd), "false") == 0) {
            rc->r.enabled = false;
            return true;
        }
    }
    rd_error(rd, ev_line(rd), "enabled: expected true or false, got %s", ev_kind(rd, q));
    return rd_skip(rd);
}

typedef struct ex_list {
    const char *key;
    char ***arr;
    size_t *n;
    size_t *cap;
} ex_list_t;

static bool example_item(reader_t *rd, rule_ctx_t *rc, void *arg)
{
    ex_list_t *l = arg;
    char *s = NULL;

    (void)rc;
    if (!get_string(rd, l->key, SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    void *a = grow(*l->arr, l->cap, *l->n, sizeof(char *));
    if (a == NULL) {
        free(s);
        ld_oom(rd->ld);
        return false;
    }
    *l->arr = a;
    (*l->arr)[(*l->n)++] = s;
    return true;
}

/* 0 for "match", 1 for "no_match", -1 for anything else. */
static int example_key(const reader_t *rd)
{
    if (ev_is(rd, "match"))
        return 0;
    return ev_is(rd, "no_match") ? 1 : -1;
}

static bool key_examples(reader_t *rd, rule_ctx_t *rc)
{
    char q[KIND_BUF];
    ex_list_t lists[2] = {
        {"examples: match", &rc->r.ex_match, &rc->r.nex_match, &rc->cap_match},
        {"examples: no_match", &rc->r.ex_no_match, &rc->r.nex_no_match, &rc->cap_no_match},
    };
    bool seen[2] = {false, false};

    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (rd->ev.type != YAML_MAPPING_START_EVENT) {
        rd_error(rd, ev_line(rd), "examples: expected a mapping, got %s", ev_kind(rd, q));
        return rd_skip(rd);
    }
    for (;;) {
        if (!rd_next(rd))
            return false;
        if (rd->ev.type == YAML_MAPPING_END_EVENT)
            return true;
        int k = example_key(rd);
        if (k < 0 || seen[k]) {
            if (ev_is_scalar(rd))
                rd_error(rd, ev_line(rd), "examples: %s key %s", k < 0 ? "unknown" : "duplicate",
                         quote(ev_str(rd), ev_len(rd), q));
            else if (rd->ev.type != YAML_ALIAS_EVENT)
                rd_error(rd, ev_line(rd), "examples: keys must be strings");
            if (!rd_skip(rd) || !rd_skip_value(rd))
                return false;
            continue;
        }
        seen[k] = true;
        if (!rd_next(rd) || !get_seq(rd, lists[k].key, example_item, &lists[k]))
            return false;
    }
}

typedef bool (*key_fn)(reader_t *rd, rule_ctx_t *rc);

static const struct {
    const char *name;
    bool required;
    key_fn fn;
} rule_keys[K__COUNT] = {
    [K_ID] = {"id", true, key_id},
    [K_NAME] = {"name", true, key_name},
    [K_DESCRIPTION] = {"description", true, key_description},
    [K_CATEGORY] = {"category", true, key_category},
    [K_SEVERITY] = {"severity", true, key_severity},
    [K_PATTERNS] = {"patterns", true, key_patterns},
    [K_FLAGS] = {"flags", false, key_flags},
    [K_VALIDATOR] = {"validator", false, key_validator},
    [K_NORMALIZE] = {"normalize", false, key_normalize},
    [K_MASK] = {"mask", false, key_mask},
    [K_THRESHOLD] = {"threshold", false, key_threshold},
    [K_ENABLED] = {"enabled", false, key_enabled},
    [K_EXAMPLES] = {"examples", false, key_examples},
};

/* ---- rules ---------------------------------------------------------------- */

static void rule_fini(dlp_rule_t *r)
{
    free(r->name);
    free(r->description);
    for (size_t i = 0; i < r->npatterns; i++)
        free(r->patterns[i].expr);
    free(r->patterns);
    for (size_t i = 0; i < r->nex_match; i++)
        free(r->ex_match[i]);
    free(r->ex_match);
    for (size_t i = 0; i < r->nex_no_match; i++)
        free(r->ex_no_match[i]);
    free(r->ex_no_match);
    memset(r, 0, sizeof(*r));
}

/* Reads the keys of a rule mapping (current event: its MAPPING_START) up to its end. */
static bool read_rule_keys(reader_t *rd, rule_ctx_t *rc)
{
    char q[KIND_BUF];

    for (bool first = true;; first = false) {
        if (!rd_next(rd))
            return false;
        if (rd->ev.type == YAML_MAPPING_END_EVENT)
            return true;
        unsigned line = ev_line(rd);
        if (first)
            rc->r.line = line;
        if (!ev_is_scalar(rd)) {
            if (rd->ev.type != YAML_ALIAS_EVENT)
                rd_error(rd, line, "keys must be strings");
            if (!rd_skip(rd) || !rd_skip_value(rd))
                return false;
            continue;
        }
        unsigned k = 0;
        while (k < K__COUNT && !ev_is(rd, rule_keys[k].name))
            k++;
        if (k == K__COUNT || (rc->keys & (1u << k))) {
            rd_error(rd, line, "%s key %s", k == K__COUNT ? "unknown" : "duplicate",
                     quote(ev_str(rd), ev_len(rd), q));
            if (!rd_skip_value(rd))
                return false;
            continue;
        }
        rc->keys |= 1u << k;
        rc->key_line[k] = line;
        if (!rd_next(rd) || !rule_keys[k].fn(rd, rc))
            return false;
    }
}

static seen_t *seen_find(loader_t *ld, uint32_t id, const char *name)
{
    for (size_t i = 0; i < ld->nseen; i++) {
        seen_t *s = &ld->seen[i];
        if ((id != 0 && s->id == id) || (name != NULL && s->name && strcmp(s->name, name) == 0))
            return s;
    }
    return NULL;
}

/* Reports a duplicate id or name against every rule read before; remembers this one. */
static void check_unique(reader_t *rd, rule_ctx_t *rc)
{
    loader_t *ld = rd->ld;
    seen_t *s;

    if (rc->id_ok && (s = seen_find(ld, rc->r.id, NULL)) != NULL)
        rd_error(rd, rc->key_line[K_ID], "duplicate id %u (first used at %s:%u)",
                 (unsigned)rc->r.id, s->file, s->id_line);
    if (rc->name_ok && (s = seen_find(ld, 0, rc->r.name)) != NULL)
        rd_error(rd, rc->key_line[K_NAME], "duplicate name (first used at %s:%u)", s->file,
                 s->name_line);
    if (!rc->id_ok && !rc->name_ok)
        return;
    void *a = grow(ld->seen, &ld->cap_seen, ld->nseen, sizeof(*ld->seen));
    if (a == NULL) {
        ld_oom(ld);
        return;
    }
    ld->seen = a;
    s = &ld->seen[ld->nseen];
    *s = (seen_t){.id = rc->id_ok ? rc->r.id : 0,
                  .file = rd->file,
                  .id_line = rc->key_line[K_ID],
                  .name_line = rc->key_line[K_NAME]};
    if (rc->name_ok && (s->name = strdup(rc->r.name)) == NULL) {
        ld_oom(ld);
        return;
    }
    ld->nseen++;
}

static void apply_defaults(rule_ctx_t *rc)
{
    const dlp_validator_info_t *v = dlp_validator_get(rc->r.validator);
    dlp_norm_t norm = DLP_NORM_NONE;
    dlp_mask_t mask = DLP_MASK_PREFIX4;

    if (rc->r.validator != DLP_VAL_NONE && v != NULL) {
        norm = v->norm;
        mask = v->mask;
    }
    if (!(rc->keys & (1u << K_NORMALIZE)))
        rc->r.norm = norm;
    if (!(rc->keys & (1u << K_MASK)))
        rc->r.mask = mask;
}

/* A rule has been read: checks what needs all its keys, then keeps it or reports it. */
static void finish_rule(reader_t *rd, rule_ctx_t *rc)
{
    loader_t *ld = rd->ld;
    dlp_ruleset_t *rs = ld->rs;

    for (unsigned k = 0; k < K__COUNT; k++) {
        if (rule_keys[k].required && !(rc->keys & (1u << k)))
            rd_error(rd, rc->r.line, "missing required key '%s'", rule_keys[k].name);
    }
    apply_defaults(rc);
    check_unique(rd, rc);
    if (rc->npend == 0 && rs->n >= DLP_RULES_MAX && !ld->too_many_rules) {
        rd_error(rd, rc->r.line, "too many rules (max %u)", (unsigned)DLP_RULES_MAX);
        ld->too_many_rules = true;
    }
    if (rc->npend > 0 || ld->stop || ld->too_many_rules) {
        flush_pending(rd, rc);
        return;
    }
    void *a = grow(rs->rules, &ld->cap_rules, rs->n, sizeof(*rs->rules));
    if (a == NULL) {
        ld_oom(ld);
        return;
    }
    rs->rules = a;
    rc->r.file = rd->file;
    rs->rules[rs->n++] = rc->r;
    memset(&rc->r, 0, sizeof(rc->r));
}

/* Current event: the MAPPING_START of a rule. */
static bool read_rule(reader_t *rd)
{
    rule_ctx_t rc = {.r = {.threshold = 1, .enabled = true, .line = ev_line(rd)}};
    bool go;

    rd->rc = &rc;
    go = read_rule_keys(rd, &rc);
    if (go)
        finish_rule(rd, &rc);
    else
        flush_pending(rd, &rc);
    rd->rc = NULL;
    for (size_t i = 0; i < rc.npend; i++)
        free(rc.pend[i].msg);
    free(rc.pend);
    rule_fini(&rc.r);
    return go && !rd->ld->stop;
}

/* ---- files ---------------------------------------------------------------- */

static bool read_rule_list(reader_t *rd)
{
    char q[KIND_BUF];

    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (rd->ev.type != YAML_SEQUENCE_START_EVENT) {
        rd_error(rd, ev_line(rd), "rules: expected a sequence of rules, got %s", ev_kind(rd, q));
        return rd_skip(rd);
    }
    for (;;) {
        if (!rd_next(rd))
            return false;
        if (rd->ev.type == YAML_SEQUENCE_END_EVENT)
            return true;
        if (rd->ev.type == YAML_MAPPING_START_EVENT) {
            if (!read_rule(rd))
                return false;
            continue;
        }
        if (rd->ev.type != YAML_ALIAS_EVENT)
            rd_error(rd, ev_line(rd), "rules: expected a rule (a mapping), got %s", ev_kind(rd, q));
        if (!rd_skip(rd))
            return false;
    }
}

/* Current event: the document's root node. */
static bool read_top(reader_t *rd)
{
    char q[KIND_BUF];
    unsigned line0 = ev_line(rd);
    bool have_rules = false;

    if (rd->ev.type != YAML_MAPPING_START_EVENT) {
        if (rd->ev.type != YAML_ALIAS_EVENT)
            rd_error(rd, line0, "expected a mapping with the key 'rules', got %s", ev_kind(rd, q));
        return rd_skip(rd);
    }
    for (;;) {
        if (!rd_next(rd))
            return false;
        if (rd->ev.type == YAML_MAPPING_END_EVENT)
            break;
        bool is_rules = ev_is(rd, "rules");
        if (is_rules && !have_rules) {
            have_rules = true;
            if (!rd_next(rd) || !read_rule_list(rd))
                return false;
            continue;
        }
        if (is_rules)
            rd_error(rd, ev_line(rd), "duplicate key 'rules'");
        else if (ev_is_scalar(rd))
            rd_error(rd, ev_line(rd), "unknown top-level key %s (only 'rules' is allowed)",
                     quote(ev_str(rd), ev_len(rd), q));
        else if (rd->ev.type != YAML_ALIAS_EVENT)
            rd_error(rd, ev_line(rd), "keys must be strings");
        if (!rd_skip(rd) || !rd_skip_value(rd))
            return false;
    }
    if (!have_rules)
        rd_error(rd, line0, "missing top-level key 'rules'");
    return true;
}

static void read_stream(reader_t *rd)
{
    if (!rd_next(rd) || !rd_next(rd)) /* STREAM-START, then DOCUMENT-START or STREAM-END */
        return;
    if (rd->ev.type == YAML_STREAM_END_EVENT) {
        rd_error(rd, ev_line(rd), "empty file: expected a mapping with the key 'rules'");
        return;
    }
    if (!rd_next(rd) || !read_top(rd))
        return;
    if (!rd_next(rd) || !rd_next(rd)) /* DOCUMENT-END, then STREAM-END or DOCUMENT-START */
        return;
    if (rd->ev.type == YAML_DOCUMENT_START_EVENT)
        rd_error(rd, ev_line(rd), "only one YAML document per file is allowed");
}

static void parse_buffer(loader_t *ld, const char *file, const unsigned char *buf, size_t len)
{
    reader_t rd = {.ld = ld, .file = file, .buf = buf, .len = len};

    if (!yaml_parser_initialize(&rd.parser)) {
        ld_oom(ld);
        return;
    }
    yaml_parser_set_input_string(&rd.parser, buf, len);
    read_stream(&rd);
    if (rd.has_ev)
        yaml_event_delete(&rd.ev);
    yaml_parser_delete(&rd.parser);
}

/* Reads a whole rule file (bounded), adds its bytes to the digest and parses it. */
static void load_file(loader_t *ld, const char *file, EVP_MD_CTX *md)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */

    if (fd < 0) {
        ld_error(ld, "%s: %s", file, strerror(errno));
        return;
    }
    if (fstat(fd, &st) != 0) {
        ld_error(ld, "%s: %s", file, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ld_error(ld, "%s: not a regular file", file);
        goto out;
    }
    if ((uint64_t)st.st_size > DLP_RULES_FILE_MAX_BYTES)
        goto too_large;
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        ld_oom(ld);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ld_error(ld, "%s: %s", file, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > (size_t)st.st_size) /* grew while we read */
            goto too_large;
    }
    if (EVP_DigestUpdate(md, buf, len) != 1) {
        ld_error(ld, "%s: SHA-256 failed", file);
        goto out;
    }
    parse_buffer(ld, file, buf, len);
    goto out;
too_large:
    ld_error(ld, "%s: larger than %u bytes", file, (unsigned)DLP_RULES_FILE_MAX_BYTES);
out:
    free(buf);
    close(fd);
}

/* ---- paths ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool add_file(loader_t *ld, const char *origin, char *file)
{
    dlp_ruleset_t *rs = ld->rs;

    if (rs->nfiles >= DLP_RULES_FILES_MAX) {
        if (!ld->too_many_files)
            ld_error(ld, "%s: too many rule files (max %u)", origin, (unsigned)DLP_RULES_FILES_MAX);
        ld->too_many_files = true;
        free(file);
        return true;
    }
    void *a = grow(rs->files, &ld->cap_files, rs->nfiles, sizeof(*rs->files));
    if (a == NULL) {
        free(file);
        ld_oom(ld);
        return false;
    }
    rs->files = a;
    rs->files[rs->nfiles++] = file;
    return true;
}

static bool is_rule_file_name(const char *n)
{
    size_t len = strlen(n);
    return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".yaml") == 0;
}

/* Collects dir's *.yaml regular files (not hidden, not recursive) in name order. */
static void add_dir(loader_t *ld, const char *dir)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    size_t dlen = strlen(dir);
    const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
    struct dirent *de;

    if (d == NULL) {
        ld_error(ld, "%s: %s", dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char *path = NULL;
        if (!is_rule_file_name(de->d_name))
            continue;
        void *a = grow(names, &cap, n, sizeof(*names));
        if (a != NULL)
            names = a;
        if (a == NULL || asprintf(&path, "%s%s%s", dir, sep, de->d_name) < 0) {
            ld_oom(ld);
            goto out;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        names[n++] = path;
        if (n > DLP_RULES_FILES_MAX) /* enough to fail the load: add_file reports it */
            break;
    }
    if (n == 0) {
        ld_error(ld, "%s: no *.yaml files in directory", dir);
        goto out;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *f = names[i];
        names[i] = NULL;
        if (!add_file(ld, dir, f))
            break;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
}

static void add_path(loader_t *ld, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        ld_error(ld, "%s: %s", path, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        add_dir(ld, path);
        return;
    }
    char *f = strdup(path);
    if (f == NULL) {
        ld_oom(ld);
        return;
    }
    add_file(ld, path, f);
}

/* ---- public --------------------------------------------------------------- */

void dlp_ruleset_free(dlp_ruleset_t *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_fini(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->nfiles; i++)
        free(rs->files[i]);
    free(rs->files);
    free(rs);
}

static void loader_fini(loader_t *ld)
{
    for (size_t i = 0; i < ld->nseen; i++)
        free(ld->seen[i].name);
    free(ld->seen);
}

dlp_ruleset_t *dlp_rules_load(const char *const *paths, size_t n, dlp_rules_errors_t *err)
{
    loader_t ld = {.err = err};
    EVP_MD_CTX *md = NULL;

    ld.rs = calloc(1, sizeof(*ld.rs));
    md = EVP_MD_CTX_new();
    if (ld.rs == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        ld_oom(&ld);
        goto out;
    }
    if (n == 0)
        ld_error(&ld, "no rule files given");
    for (size_t i = 0; i < n && !ld.stop; i++)
        add_path(&ld, paths[i]);
    for (size_t i = 0; i < ld.rs->nfiles && !ld.stop; i++)
        load_file(&ld, ld.rs->files[i], md);
    if (ld.nerr == 0 && EVP_DigestFinal_ex(md, ld.rs->digest, NULL) != 1)
        ld_error(&ld, "SHA-256 failed");
out:
    EVP_MD_CTX_free(md);
    loader_fini(&ld);
    if (ld.nerr > 0 || ld.stop) {
        dlp_ruleset_free(ld.rs);
        return NULL;
    }
    return ld.rs;
}

const dlp_rule_t *dlp_ruleset_find(const dlp_ruleset_t *rs, const char *name)
{
    for (size_t i = 0; rs != NULL && i < rs->n; i++) {
        if (strcmp(rs->rules[i].name, name) == 0)
            return &rs->rules[i];
    }
    return NULL;
}

const char *dlp_category_name(dlp_category_t c)
{
    return (unsigned)c < DLP_ARRAY_LEN(cat_names) ? cat_names[c] : "?";
}

const char *dlp_severity_name(dlp_severity_t s)
{
    return (unsigned)s < DLP_ARRAY_LEN(sev_names) ? sev_names[s] : "?";
}
