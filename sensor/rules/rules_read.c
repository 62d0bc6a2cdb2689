/*
 * rules_read.c - the YAML event reader of rule files: errors held per rule,
 * events, and the typed values (string, integer, boolean, enum, sequence,
 * mapping) every key is made of.
 *
 * libyaml's event API, not its document API: anchors, aliases and tags are
 * refused where they appear and every key and scalar carries its own line.
 * A value that is skipped (unknown key, wrong type) is walked with a depth
 * counter, never by recursion, so deeply nested input cannot exhaust the
 * stack; the recursion that exists is fixed by the format (a few levels).
 *
 * Invariant: the errors of a rule (or override) wait in its rule_ctx_t
 * until its mapping ends, so each message names it even when "name:" is
 * its last key; they are then reported in line order.
 *
 * Thread: the control thread (the loader).
 */
#include "rules_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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

void dlp_rules__oom(loader_t *ld)
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

void dlp_rules__lerror(loader_t *ld, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        dlp_rules__oom(ld);
        return;
    }
    ld_msg(ld, s);
    free(s);
}

const char *dlp_rules__quote(const char *s, size_t n, char out[QUOTE_BUF])
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

void dlp_rules__flush(reader_t *rd, rule_ctx_t *rc)
{
    const char *what = rc->is_override ? "override" : "rule";

    sort_pending(rc);
    for (size_t i = 0; i < rc->npend; i++) {
        pending_t *p = &rc->pend[i];
        if (rc->name_ok)
            dlp_rules__lerror(rd->ld, "%s:%u: %s %s: %s", rd->file, p->line, what, rc->r.name,
                              p->msg);
        else if (rc->id_ok)
            dlp_rules__lerror(rd->ld, "%s:%u: rule #%u: %s", rd->file, p->line, (unsigned)rc->r.id,
                              p->msg);
        else if (rc->is_override)
            dlp_rules__lerror(rd->ld, "%s:%u: override: %s", rd->file, p->line, p->msg);
        else
            dlp_rules__lerror(rd->ld, "%s:%u: %s", rd->file, p->line, p->msg);
        free(p->msg);
    }
    rc->npend = 0;
}

static void pend_add(reader_t *rd, unsigned line, char *msg)
{
    rule_ctx_t *rc = rd->rc;
    void *a = dlp_rules__grow(rc->pend, rc->npend, 1, sizeof(*rc->pend));

    if (a == NULL) {
        free(msg);
        dlp_rules__oom(rd->ld);
        return;
    }
    rc->pend = a;
    rc->pend[rc->npend].line = line;
    rc->pend[rc->npend++].msg = msg;
}

void dlp_rules__error(reader_t *rd, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (s == NULL) {
        dlp_rules__oom(rd->ld);
        return;
    }
    if (rd->rc != NULL) {
        pend_add(rd, line, s);
        return;
    }
    dlp_rules__lerror(rd->ld, "%s:%u: %s", rd->file, line, s);
    free(s);
}

/* ---- events --------------------------------------------------------------- */

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
        dlp_rules__oom(rd->ld);
        return;
    }
    unsigned line = p->error == YAML_READER_ERROR ? line_of_offset(rd, p->problem_offset)
                                                  : (unsigned)p->problem_mark.line + 1;
    if (rd->rc != NULL)
        dlp_rules__flush(rd, rd->rc);
    dlp_rules__lerror(rd->ld, "%s:%u: YAML error: %s", rd->file, line,
                      p->problem != NULL ? p->problem : "unknown error");
}

/* Anchors, aliases and tags are refused: they only widen what a rule file can do. */
static void rd_check_props(reader_t *rd)
{
    const yaml_event_t *e = &rd->ev;
    const yaml_char_t *anchor = NULL, *tag = NULL;

    switch (e->type) {
    case YAML_ALIAS_EVENT:
        dlp_rules__error(rd, ev_line(rd), "YAML aliases are not allowed");
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
        dlp_rules__error(rd, ev_line(rd), "YAML anchors are not allowed");
    if (tag != NULL)
        dlp_rules__error(rd, ev_line(rd), "YAML tags are not allowed");
}

bool dlp_rules__next(reader_t *rd)
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

bool dlp_rules__skip(reader_t *rd)
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
        if (!dlp_rules__next(rd))
            return false;
    }
}

bool dlp_rules__skip_value(reader_t *rd)
{
    return dlp_rules__next(rd) && dlp_rules__skip(rd);
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

const char *dlp_rules__kind(const reader_t *rd, char out[KIND_BUF])
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
        if (rd->hide_values)
            return "a string";
        if (rd->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
            memcpy(out, "a quoted string ", 16);
            dlp_rules__quote(ev_str(rd), ev_len(rd), out + 16);
            return out;
        }
        return dlp_rules__quote(ev_str(rd), ev_len(rd), out);
    default:
        return "an alias";
    }
}

/* ---- values --------------------------------------------------------------- */

bool dlp_rules__string(reader_t *rd, const char *key, size_t max, char **out)
{
    char q[KIND_BUF];

    *out = NULL;
    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (!ev_is_scalar(rd) || ev_is_null(rd) || ev_len(rd) == 0) {
        dlp_rules__error(rd, ev_line(rd), "%s: expected a non-empty string, got %s", key,
                         dlp_rules__kind(rd, q));
        return dlp_rules__skip(rd);
    }
    if (strlen(ev_str(rd)) != ev_len(rd)) {
        dlp_rules__error(rd, ev_line(rd), "%s: contains a NUL byte", key);
        return true;
    }
    if (ev_len(rd) > max) {
        dlp_rules__error(rd, ev_line(rd), "%s: longer than %zu bytes", key, max);
        return true;
    }
    *out = strndup(ev_str(rd), ev_len(rd));
    if (*out == NULL) {
        dlp_rules__oom(rd->ld);
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

bool dlp_rules__uint(reader_t *rd, const char *key, uint32_t lo, uint32_t hi, uint32_t *out,
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
    dlp_rules__error(rd, ev_line(rd), "%s: expected an integer from %u to %u, got %s", key,
                     (unsigned)lo, (unsigned)hi, dlp_rules__kind(rd, q));
    return dlp_rules__skip(rd);
}

bool dlp_rules__bool(reader_t *rd, const char *key, bool *out)
{
    char q[KIND_BUF];

    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (ev_is_scalar(rd) && rd->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (strcmp(ev_str(rd), "true") == 0) {
            *out = true;
            return true;
        }
        if (strcmp(ev_str(rd), "false") == 0) {
            *out = false;
            return true;
        }
    }
    dlp_rules__error(rd, ev_line(rd), "%s: expected true or false, got %s", key,
                     dlp_rules__kind(rd, q));
    return dlp_rules__skip(rd);
}

bool dlp_rules__enum(reader_t *rd, const char *key, const char *const *names, size_t n,
                     const char *what, unsigned *out, bool *ok)
{
    char q[QUOTE_BUF];
    char *s = NULL;

    *ok = false;
    if (!dlp_rules__string(rd, key, SIZE_MAX, &s))
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
    dlp_rules__error(rd, ev_line(rd), "%s: expected %s, got %s", key, what,
                     dlp_rules__quote(s, strlen(s), q));
    free(s);
    return true;
}

bool dlp_rules__seq(reader_t *rd, const char *key, dlp_rules_item_fn fn, void *arg, bool *was_seq)
{
    char q[KIND_BUF];

    if (was_seq != NULL)
        *was_seq = rd->ev.type == YAML_SEQUENCE_START_EVENT;
    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (rd->ev.type != YAML_SEQUENCE_START_EVENT) {
        dlp_rules__error(rd, ev_line(rd), "%s: expected a sequence, got %s", key,
                         dlp_rules__kind(rd, q));
        return dlp_rules__skip(rd);
    }
    for (;;) {
        if (!dlp_rules__next(rd))
            return false;
        if (rd->ev.type == YAML_SEQUENCE_END_EVENT)
            return true;
        if (!fn(rd, arg))
            return false;
    }
}

/* The index of the current key among names[0..n), or n. */
static unsigned map_key(const reader_t *rd, const char *const *names, unsigned n)
{
    unsigned k = 0;
    while (k < n && !ev_is(rd, names[k]))
        k++;
    return k;
}

/* "match or no_match", "words, window or required": the keys a mapping takes,
 * for an unknown key whose text is not shown. */
static const char *expected_keys(const char *const *names, unsigned n, char *out, size_t cap)
{
    size_t o = 0;

    out[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        int w = snprintf(out + o, cap - o, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                         names[i]);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
    }
    return out;
}

bool dlp_rules__map(reader_t *rd, const char *key, const char *const *names, unsigned n,
                    dlp_rules_entry_fn fn, void *arg, uint32_t *seen, bool *was_map)
{
    char q[KIND_BUF];
    uint32_t got = 0;

    if (seen != NULL)
        *seen = 0;
    if (was_map != NULL)
        *was_map = rd->ev.type == YAML_MAPPING_START_EVENT;
    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (rd->ev.type != YAML_MAPPING_START_EVENT) {
        dlp_rules__error(rd, ev_line(rd), "%s: expected a mapping, got %s", key,
                         dlp_rules__kind(rd, q));
        return dlp_rules__skip(rd);
    }
    for (;;) {
        if (!dlp_rules__next(rd))
            return false;
        if (rd->ev.type == YAML_MAPPING_END_EVENT)
            break;
        unsigned line = ev_line(rd), k = map_key(rd, names, n);
        if (k == n || (got & (1u << k))) {
            /* an unknown key among the examples may be one of them, misplaced */
            if (ev_is_scalar(rd) && k == n && rd->hide_values)
                dlp_rules__error(rd, line, "%s: unknown key (%zu characters; expected %s)", key,
                                 (size_t)ev_len(rd), expected_keys(names, n, q, sizeof(q)));
            else if (ev_is_scalar(rd))
                dlp_rules__error(rd, line, "%s: %s key %s", key, k == n ? "unknown" : "duplicate",
                                 dlp_rules__quote(ev_str(rd), ev_len(rd), q));
            else if (rd->ev.type != YAML_ALIAS_EVENT)
                dlp_rules__error(rd, line, "%s: keys must be strings", key);
            if (!dlp_rules__skip(rd) || !dlp_rules__skip_value(rd))
                return false;
            continue;
        }
        got |= 1u << k;
        if (!dlp_rules__next(rd) || !fn(rd, k, line, arg))
            return false;
    }
    if (seen != NULL)
        *seen = got;
    return true;
}

/* ---- arrays --------------------------------------------------------------- */

static size_t vec_cap(size_t n)
{
    size_t c = 4;
    while (c < n && c <= SIZE_MAX / 2)
        c *= 2;
    return c;
}

void *dlp_rules__grow(void *arr, size_t n, size_t add, size_t elem)
{
    size_t have = arr != NULL ? vec_cap(n) : 0;

    if (add <= have && n <= have - add)
        return arr;
    if (n > SIZE_MAX - add)
        return NULL;
    size_t c = vec_cap(n + add);
    if (c < n + add || c > SIZE_MAX / elem)
        return NULL;
    return realloc(arr, c * elem);
}

bool dlp_rules__push_str(loader_t *ld, char ***arr, size_t *n, char *s)
{
    void *a = dlp_rules__grow(*arr, *n, 1, sizeof(char *));

    if (a == NULL) {
        free(s);
        dlp_rules__oom(ld);
        return false;
    }
    *arr = a;
    (*arr)[(*n)++] = s;
    return true;
}

void dlp_rules__free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
