/*
 * rules_keys.c - the keys of a rule (and of an override, which reuses them):
 * one function per key, reading its value into the rule being read and
 * reporting what is wrong with it.
 *
 * Lists of strings share one reader (strlist_t): the bound on the number
 * of items is reported once, at the first item past it; an item with an
 * error is reported and left out, the others are still checked.
 *
 * Field names come from dlp_field_name() (alert.h), so a field added there
 * is accepted here without a second table.
 *
 * Thread: the control thread (the loader).
 */
#include "rules_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dlp/alert.h"

_Static_assert(DLP_FIELD__COUNT <= 32, "dlp_rule_t.fields is a 32-bit mask");
_Static_assert(K__COUNT <= 32, "rule_ctx_t.keys is a 32-bit mask");

const char *const dlp_rules__cat_names[DLP_CAT__COUNT] = {"linked", "linkable", "secret"};
const char *const dlp_rules__sev_names[DLP_SEV__COUNT] = {"low", "medium", "high", "critical"};
static const char *const flag_names[] = {"caseless", "dotall", "multiline", "ucp"};

/* ---- lists of strings ----------------------------------------------------- */

typedef struct strlist strlist_t;
/* Reports what is wrong with s and returns false, or returns true. */
typedef bool (*str_check_fn)(reader_t *rd, const strlist_t *l, const char *s, unsigned line);
/* Takes s (owns it); false only when reading must stop. */
typedef bool (*str_take_fn)(reader_t *rd, strlist_t *l, char *s, unsigned line);

enum { DUP_OK, DUP_EXACT, DUP_CASELESS };

struct strlist {
    const char *key;   /* "context: words", for messages */
    const char *noun;  /* "word": "duplicate word 'x'", "expected at least one word" */
    const char *nouns; /* "words": "more than 64 words"; NULL: noun + "s" */
    size_t max_items;
    size_t max_len;
    str_check_fn check; /* NULL: any string */
    str_take_fn take;   /* NULL: appended to *arr */
    int dups;           /* DUP_*: for the strings appended to *arr */
    char ***arr;
    size_t *n;
    void *arg;    /* for take */
    size_t items; /* items read, valid or not */
};

static bool strlist_has(const strlist_t *l, const char *s)
{
    for (size_t i = 0; i < *l->n; i++) {
        const char *t = (*l->arr)[i];
        if (l->dups == DUP_CASELESS ? strcasecmp(t, s) == 0 : strcmp(t, s) == 0)
            return true;
    }
    return false;
}

static bool strlist_item(reader_t *rd, void *arg)
{
    strlist_t *l = arg;
    unsigned line = ev_line(rd);
    char q[QUOTE_BUF];
    char *s = NULL;

    if (++l->items > l->max_items) {
        if (l->items == l->max_items + 1)
            dlp_rules__error(rd, line, "%s: more than %zu %s%s", l->key, l->max_items,
                             l->nouns != NULL ? l->nouns : l->noun, l->nouns != NULL ? "" : "s");
        return dlp_rules__skip(rd);
    }
    if (!dlp_rules__string(rd, l->key, l->max_len, &s))
        return false;
    if (s == NULL)
        return true;
    if (l->check != NULL && !l->check(rd, l, s, line)) {
        free(s);
        return true;
    }
    if (l->take != NULL)
        return l->take(rd, l, s, line);
    if (l->dups != DUP_OK && strlist_has(l, s)) {
        dlp_rules__error(rd, line, "%s: duplicate %s %s", l->key, l->noun,
                         dlp_rules__quote(s, strlen(s), q));
        free(s);
        return true;
    }
    return dlp_rules__push_str(rd->ld, l->arr, l->n, s);
}

/* The current node: a sequence of strings; need_one: an empty one is an error. */
static bool read_strlist(reader_t *rd, strlist_t *l, bool need_one)
{
    unsigned line = ev_line(rd);
    bool was_seq;

    if (!dlp_rules__seq(rd, l->key, strlist_item, l, &was_seq))
        return false;
    if (need_one && was_seq && l->items == 0)
        dlp_rules__error(rd, line, "%s: expected at least one %s", l->key, l->noun);
    return true;
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

/* ---- id, name, description, category, severity -------------------------- */

static bool key_id(reader_t *rd, rule_ctx_t *rc)
{
    return dlp_rules__uint(rd, "id", 1, UINT32_MAX, &rc->r.id, &rc->id_ok);
}

bool dlp_rules__name_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
            return false;
    }
    return true;
}

static bool check_name(reader_t *rd, const strlist_t *l, const char *s, unsigned line)
{
    char q[QUOTE_BUF];

    if (dlp_rules__name_ok(s))
        return true;
    dlp_rules__error(rd, line, "%s: %s has characters outside [a-z0-9_.]", l->key,
                     dlp_rules__quote(s, strlen(s), q));
    return false;
}

static bool key_name(reader_t *rd, rule_ctx_t *rc)
{
    strlist_t l = {.key = "name"};
    char *s = NULL;

    if (!dlp_rules__string(rd, "name", DLP_RULE_NAME_MAX - 1, &s))
        return false;
    if (s == NULL)
        return true;
    if (!check_name(rd, &l, s, ev_line(rd))) {
        free(s);
        return true;
    }
    rc->r.name = s;
    rc->name_ok = true;
    return true;
}

static bool key_description(reader_t *rd, rule_ctx_t *rc)
{
    return dlp_rules__string(rd, "description", SIZE_MAX, &rc->r.description);
}

static bool key_category(reader_t *rd, rule_ctx_t *rc)
{
    unsigned v = 0;
    bool ok;
    bool go = dlp_rules__enum(rd, "category", dlp_rules__cat_names, DLP_CAT__COUNT,
                              "linked, linkable or secret", &v, &ok);
    rc->r.category = (dlp_category_t)v;
    return go;
}

static bool key_severity(reader_t *rd, rule_ctx_t *rc)
{
    unsigned v = 0;
    bool ok;
    bool go = dlp_rules__enum(rd, "severity", dlp_rules__sev_names, DLP_SEV__COUNT,
                              "low, medium, high or critical", &v, &ok);
    rc->r.severity = (dlp_severity_t)v;
    return go;
}

/* ---- patterns, flags ------------------------------------------------------ */

static bool pattern_item(reader_t *rd, void *arg)
{
    rule_ctx_t *rc = arg;
    char *s = NULL;
    unsigned line = ev_line(rd);

    if (++rc->pattern_items > DLP_RULE_PATTERNS_MAX) {
        if (rc->pattern_items == DLP_RULE_PATTERNS_MAX + 1)
            dlp_rules__error(rd, line, "patterns: more than %u patterns",
                             (unsigned)DLP_RULE_PATTERNS_MAX);
        return dlp_rules__skip(rd);
    }
    if (!dlp_rules__string(rd, "patterns", DLP_RULE_PATTERN_MAX_LEN, &s))
        return false;
    if (s == NULL)
        return true;
    void *a = dlp_rules__grow(rc->r.patterns, rc->r.npatterns, 1, sizeof(*rc->r.patterns));
    if (a == NULL) {
        free(s);
        dlp_rules__oom(rd->ld);
        return false;
    }
    rc->r.patterns = a;
    rc->r.patterns[rc->r.npatterns].expr = s;
    rc->r.patterns[rc->r.npatterns++].line = line;
    return true;
}

static bool key_patterns(reader_t *rd, rule_ctx_t *rc)
{
    unsigned line = ev_line(rd);
    bool was_seq;

    if (!dlp_rules__seq(rd, "patterns", pattern_item, rc, &was_seq))
        return false;
    if (was_seq && rc->pattern_items == 0)
        dlp_rules__error(rd, line, "patterns: expected at least one pattern");
    return true;
}

static bool flag_item(reader_t *rd, void *arg)
{
    rule_ctx_t *rc = arg;
    unsigned v = 0;
    bool ok;

    if (!dlp_rules__enum(rd, "flags", flag_names, DLP_ARRAY_LEN(flag_names),
                         "caseless, dotall or multiline", &v, &ok))
        return false;
    if (!ok)
        return true;
    if (1u << v == DLP_RULE_F_UCP) {
        dlp_rules__error(rd, ev_line(rd),
                         "flags: ucp is not supported: it needs UTF-8 mode, which is undefined "
                         "on binary traffic; write non-ASCII text as bytes");
        return true;
    }
    if (rc->r.flags & (1u << v))
        dlp_rules__error(rd, ev_line(rd), "flags: duplicate flag '%s'", flag_names[v]);
    rc->r.flags |= 1u << v;
    return true;
}

static bool key_flags(reader_t *rd, rule_ctx_t *rc)
{
    return dlp_rules__seq(rd, "flags", flag_item, rc, NULL);
}

/* ---- validator, normalize, mask, threshold, enabled, test_values --------- */

static const char *validator_name_of(unsigned i)
{
    const dlp_validator_info_t *v = dlp_validator_get((dlp_validator_t)i);
    return v != NULL ? v->name : NULL;
}

static const char *norm_name_of(unsigned i)
{
    return dlp_norm_name((dlp_norm_t)i);
}

/* The masks a rule may name: every one but clear (see key_mask). */
static const char *mask_name_of(unsigned i)
{
    return i == DLP_MASK_CLEAR ? NULL : dlp_mask_name((dlp_mask_t)i);
}

static bool key_validator(reader_t *rd, rule_ctx_t *rc)
{
    char q[QUOTE_BUF], names[256];
    char *s = NULL;

    if (!dlp_rules__string(rd, "validator", SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    if (dlp_validator_find(s, &rc->r.validator) == NULL) {
        list_names(names, sizeof(names), validator_name_of, DLP_VAL__COUNT);
        dlp_rules__error(rd, ev_line(rd), "validator: unknown validator %s (known: %s)",
                         dlp_rules__quote(s, strlen(s), q), names);
    }
    free(s);
    return true;
}

static bool key_normalize(reader_t *rd, rule_ctx_t *rc)
{
    char q[QUOTE_BUF], names[256];
    char *s = NULL;

    if (!dlp_rules__string(rd, "normalize", SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    if (!dlp_norm_from_name(s, &rc->r.norm)) {
        list_names(names, sizeof(names), norm_name_of, DLP_NORM__COUNT);
        dlp_rules__error(rd, ev_line(rd), "normalize: unknown normalization %s (known: %s)",
                         dlp_rules__quote(s, strlen(s), q), names);
    }
    free(s);
    return true;
}

static bool key_mask(reader_t *rd, rule_ctx_t *rc)
{
    char q[QUOTE_BUF], names[256];
    char *s = NULL;

    if (!dlp_rules__string(rd, "mask", SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    if (!dlp_mask_from_name(s, &rc->r.mask)) {
        list_names(names, sizeof(names), mask_name_of, DLP_MASK__COUNT);
        dlp_rules__error(rd, ev_line(rd), "mask: unknown mask %s (known: %s)",
                         dlp_rules__quote(s, strlen(s), q), names);
    } else if (rc->r.mask == DLP_MASK_CLEAR) {
        /* Events, logs and the tools show values only masked (INTERFACE.md):
         * a rule cannot opt out, whatever it believes its values to be. */
        dlp_rules__error(rd, ev_line(rd),
                         "mask 'clear' would put raw values in events, which the sensor never "
                         "does; use number (the first 6 and last 4 characters) or prefix4 (the "
                         "first 4)");
        rc->r.mask = DLP_MASK_PREFIX4;
    }
    free(s);
    return true;
}

static bool key_value(reader_t *rd, rule_ctx_t *rc)
{
    char q[QUOTE_BUF];
    char *s = NULL;

    if (!dlp_rules__string(rd, "value", SIZE_MAX, &s))
        return false;
    if (s == NULL)
        return true;
    if (!dlp_value_span_from_name(s, &rc->r.value))
        dlp_rules__error(rd, ev_line(rd), "value: unknown value span %s (known: match, field)",
                         dlp_rules__quote(s, strlen(s), q));
    free(s);
    return true;
}

static bool key_threshold(reader_t *rd, rule_ctx_t *rc)
{
    bool ok;
    return dlp_rules__uint(rd, "threshold", 1, DLP_RULE_THRESHOLD_MAX, &rc->r.threshold, &ok);
}

static bool key_enabled(reader_t *rd, rule_ctx_t *rc)
{
    return dlp_rules__bool(rd, "enabled", &rc->r.enabled);
}

static bool key_test_values(reader_t *rd, rule_ctx_t *rc)
{
    return dlp_rules__bool(rd, "test_values", &rc->r.test_values);
}

/* ---- examples ------------------------------------------------------------- */

/* An example, and its line (rules check names it). */
static bool example_take(reader_t *rd, strlist_t *l, char *s, unsigned line)
{
    unsigned **lines = l->arg;
    void *p = dlp_rules__grow(*lines, *l->n, 1, sizeof(**lines));

    if (p == NULL) {
        free(s);
        dlp_rules__oom(rd->ld);
        return false;
    }
    *lines = p;
    (*lines)[*l->n] = line;
    return dlp_rules__push_str(rd->ld, l->arr, l->n, s);
}

static bool example_entry(reader_t *rd, unsigned k, unsigned line, void *arg)
{
    rule_ctx_t *rc = arg;
    strlist_t l = {.max_items = SIZE_MAX, .max_len = SIZE_MAX, .take = example_take};

    (void)line;
    if (k == 0) {
        l.key = "examples: match";
        l.arr = &rc->r.ex_match;
        l.n = &rc->r.nex_match;
        l.arg = &rc->r.ex_match_line;
    } else {
        l.key = "examples: no_match";
        l.arr = &rc->r.ex_no_match;
        l.n = &rc->r.nex_no_match;
        l.arg = &rc->r.ex_no_match_line;
    }
    return read_strlist(rd, &l, false);
}

/* An example may be a real value someone pasted in: an error describes a
 * misplaced one ("a string"), never quotes it, as rules check never does. */
static bool key_examples(reader_t *rd, rule_ctx_t *rc)
{
    static const char *const names[] = {"match", "no_match"};
    bool ok;

    if (rc->is_override) {
        rc->r.examples_file = rd->file;
        rc->r.examples_line = rd->key_line;
    }
    rd->hide_values = true;
    ok = dlp_rules__map(rd, "examples", names, 2, example_entry, rc, NULL, NULL);
    rd->hide_values = false;
    return ok;
}

/* ---- context, exclude_context --------------------------------------------- */

typedef struct ctx_read {
    dlp_rule_context_t *c;
    const char *key; /* "context" or "exclude_context" */
    char words_key[40];
    char window_key[40];
} ctx_read_t;

static bool check_word(reader_t *rd, const strlist_t *l, const char *s, unsigned line)
{
    char q[QUOTE_BUF];
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e) {
            dlp_rules__error(rd, line, "%s: %s has characters outside printable ASCII", l->key,
                             dlp_rules__quote(s, n, q));
            return false;
        }
    }
    if (s[0] == ' ' || s[n - 1] == ' ') {
        dlp_rules__error(rd, line, "%s: %s starts or ends with a space", l->key,
                         dlp_rules__quote(s, n, q));
        return false;
    }
    return true;
}

/* Keeps each word's line: a lint about one word points at it, not at the list. */
static bool word_take(reader_t *rd, strlist_t *l, char *s, unsigned line)
{
    dlp_rule_context_t *c = l->arg;
    char q[QUOTE_BUF];

    if (strlist_has(l, s)) {
        dlp_rules__error(rd, line, "%s: duplicate %s %s", l->key, l->noun,
                         dlp_rules__quote(s, strlen(s), q));
        free(s);
        return true;
    }
    void *p = dlp_rules__grow(c->word_line, *l->n, 1, sizeof(*c->word_line));
    if (p == NULL) {
        free(s);
        dlp_rules__oom(rd->ld);
        return false;
    }
    c->word_line = p;
    c->word_line[*l->n] = line;
    return dlp_rules__push_str(rd->ld, l->arr, l->n, s);
}

static bool context_entry(reader_t *rd, unsigned k, unsigned line, void *arg)
{
    ctx_read_t *cr = arg;
    bool ok;

    if (k == 0) {
        strlist_t l = {.key = cr->words_key,
                       .noun = "word",
                       .max_items = DLP_RULE_CONTEXT_WORDS_MAX,
                       .max_len = DLP_RULE_CONTEXT_WORD_MAX,
                       .check = check_word,
                       .take = word_take,
                       .arg = cr->c,
                       .dups = DUP_CASELESS,
                       .arr = &cr->c->words,
                       .n = &cr->c->nwords};
        return read_strlist(rd, &l, true);
    }
    if (k == 1)
        return dlp_rules__uint(rd, cr->window_key, 1, DLP_RULE_CONTEXT_WINDOW_MAX, &cr->c->window,
                               &ok);
    if (strcmp(cr->key, "exclude_context") == 0) {
        dlp_rules__error(rd, line,
                         "exclude_context: 'required' is not allowed here (a word of "
                         "exclude_context always suppresses)");
        return dlp_rules__skip(rd);
    }
    return dlp_rules__bool(rd, "context: required", &cr->c->required);
}

static bool read_context(reader_t *rd, const char *key, dlp_rule_context_t *c)
{
    static const char *const names[] = {"words", "window", "required"};
    ctx_read_t cr = {.c = c, .key = key};
    unsigned line = rd->key_line;
    uint32_t seen;
    bool was_map;

    snprintf(cr.words_key, sizeof(cr.words_key), "%s: words", key);
    snprintf(cr.window_key, sizeof(cr.window_key), "%s: window", key);
    c->window = DLP_RULE_CONTEXT_WINDOW;
    c->file = rd->file;
    c->line = line;
    if (!dlp_rules__map(rd, key, names, 3, context_entry, &cr, &seen, &was_map))
        return false;
    if (was_map && !(seen & 1u))
        dlp_rules__error(rd, line, "%s: missing required key 'words'", key);
    return true;
}

static bool key_context(reader_t *rd, rule_ctx_t *rc)
{
    return read_context(rd, "context", &rc->r.context);
}

static bool key_exclude(reader_t *rd, rule_ctx_t *rc)
{
    return read_context(rd, "exclude_context", &rc->r.exclude);
}

/* ---- protocols, fields ---------------------------------------------------- */

static bool check_protocol(reader_t *rd, const strlist_t *l, const char *s, unsigned line)
{
    char q[QUOTE_BUF];

    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            dlp_rules__error(rd, line, "%s: %s has characters outside [A-Za-z0-9._-]", l->key,
                             dlp_rules__quote(s, strlen(s), q));
            return false;
        }
    }
    return true;
}

/* Whether two protocol names name the same protocol: the comparison the
 * detect stage makes (case ignored, '-' and '_' the same). */
static bool same_protocol(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = tolower((unsigned char)*a), y = tolower((unsigned char)*b);
        if (x == '-')
            x = '_';
        if (y == '-')
            y = '_';
        if (x != y)
            return false;
        if (x == '\0')
            return true;
    }
}

/* Keeps each name's line: the runtime checks the names against nDPI's. */
static bool protocol_take(reader_t *rd, strlist_t *l, char *s, unsigned line)
{
    rule_ctx_t *rc = l->arg;
    char q[QUOTE_BUF];

    for (size_t i = 0; i < *l->n; i++) {
        if (same_protocol((*l->arr)[i], s)) {
            dlp_rules__error(rd, line, "protocols: duplicate protocol %s",
                             dlp_rules__quote(s, strlen(s), q));
            free(s);
            return true;
        }
    }
    void *p = dlp_rules__grow(rc->r.protocols_line, *l->n, 1, sizeof(*rc->r.protocols_line));
    if (p == NULL) {
        free(s);
        dlp_rules__oom(rd->ld);
        return false;
    }
    rc->r.protocols_line = p;
    rc->r.protocols_line[*l->n] = line;
    return dlp_rules__push_str(rd->ld, l->arr, l->n, s);
}

static bool key_protocols(reader_t *rd, rule_ctx_t *rc)
{
    strlist_t l = {.key = "protocols",
                   .noun = "protocol",
                   .max_items = DLP_RULE_PROTOCOLS_MAX,
                   .max_len = DLP_RULE_PROTOCOL_NAME_MAX,
                   .check = check_protocol,
                   .take = protocol_take,
                   .arg = rc,
                   .arr = &rc->r.protocols,
                   .n = &rc->r.nprotocols};
    rc->r.protocols_file = rd->file;
    rc->r.protocols_override = rc->is_override;
    return read_strlist(rd, &l, true);
}

static const char *field_name_of(unsigned i)
{
    return dlp_field_name((dlp_field_t)i);
}

bool dlp_rules_field_parse(const char *s, int *field)
{
    for (int f = 0; f < DLP_FIELD__COUNT; f++) {
        if (strcmp(s, dlp_field_name((dlp_field_t)f)) == 0) {
            *field = f;
            return true;
        }
    }
    return false;
}

void dlp_rules_field_names(char *out, size_t cap)
{
    list_names(out, cap, field_name_of, DLP_FIELD__COUNT);
}

static bool field_take(reader_t *rd, strlist_t *l, char *s, unsigned line)
{
    uint32_t *mask = l->arg;
    char q[QUOTE_BUF], names[256];
    int f = 0;

    if (!dlp_rules_field_parse(s, &f)) {
        dlp_rules_field_names(names, sizeof(names));
        dlp_rules__error(rd, line, "fields: unknown field %s (known: %s)",
                         dlp_rules__quote(s, strlen(s), q), names);
    } else {
        if (*mask & (1u << f))
            dlp_rules__error(rd, line, "fields: duplicate field %s",
                             dlp_rules__quote(s, strlen(s), q));
        *mask |= 1u << f;
    }
    free(s);
    return true;
}

static bool key_fields(reader_t *rd, rule_ctx_t *rc)
{
    strlist_t l = {.key = "fields",
                   .noun = "field",
                   .max_items = SIZE_MAX,
                   .max_len = SIZE_MAX,
                   .take = field_take,
                   .arg = &rc->r.fields};
    return read_strlist(rd, &l, true);
}

/* ---- allow ---------------------------------------------------------------- */

/* A list of keyed hashes being read (hmac_take's l->arg). */
typedef struct hlist {
    uint8_t (**v)[16];
    size_t *n;
} hlist_t;

typedef struct allow_read {
    dlp_rule_allow_t *a;
    hlist_t hmacs;
    char keys[5][40]; /* "allow: values"... */
} allow_read_t;

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s (n bytes) as 16 bytes; NULL, or what is wrong with it. */
static const char *hmac_parse(const char *s, size_t n, uint8_t h[16])
{
    if (n != 32)
        return "is not 32 hex digits";
    for (size_t i = 0; i < 16; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return "has characters outside [0-9a-f]";
        h[i] = (uint8_t)(hi << 4 | lo);
    }
    return NULL;
}

static bool hmac_push(reader_t *rd, uint8_t (**v)[16], size_t *n, const uint8_t h[16])
{
    void *p = dlp_rules__grow(*v, *n, 1, sizeof(**v));

    if (p == NULL) {
        dlp_rules__oom(rd->ld);
        return false;
    }
    *v = p;
    memcpy((*v)[(*n)++], h, 16);
    return true;
}

static bool hmac_take(reader_t *rd, strlist_t *l, char *s, unsigned line)
{
    hlist_t *hl = l->arg;
    size_t n = strlen(s);
    uint8_t h[16];
    const char *bad = hmac_parse(s, n, h);
    bool go = true;

    /* never quoted, as a bad line of an hmacs_file: what is pasted where a
     * hash belongs may be the value itself, and a refused reload's first
     * error goes out in the stats (ruleset.last_reload_error) */
    if (bad != NULL)
        dlp_rules__error(rd, line, "%s: the item %s (%zu characters)", l->key, bad, n);
    else
        go = hmac_push(rd, hl->v, hl->n, h);
    free(s);
    return go;
}

static bool cidr_take(reader_t *rd, strlist_t *l, char *s, unsigned line)
{
    dlp_cidr_set_t *set = l->arg;
    char q[QUOTE_BUF];
    const char *bad = NULL;
    dlp_rc_t r = DLP_EINVAL;

    if (strchr(s, ',') != NULL)
        dlp_rules__error(rd, line, "%s: one address or prefix per item, got %s", l->key,
                         dlp_rules__quote(s, strlen(s), q));
    else if ((r = dlp_cidr_set_parse(set, s, &bad)) == DLP_EINVAL)
        dlp_rules__error(rd, line,
                         "%s: %s is not an address or prefix (such as 10.0.0.0/8 or fd00::/8)",
                         l->key, dlp_rules__quote(s, strlen(s), q));
    free(s);
    if (r == DLP_ENOMEM) {
        dlp_rules__oom(rd->ld);
        return false;
    }
    return true;
}

/* "a.example.com" or "*.example.com": labels of [a-z0-9_-], 1..63 bytes each. */
static bool check_host(reader_t *rd, const strlist_t *l, const char *s, unsigned line)
{
    char q[QUOTE_BUF];
    const char *p = s;
    size_t label = 0;
    bool ok = true;

    for (const char *u = s; *u != '\0'; u++) {
        if (*u >= 'A' && *u <= 'Z') {
            dlp_rules__error(rd, line, "%s: %s must be lower case", l->key,
                             dlp_rules__quote(s, strlen(s), q));
            return false;
        }
    }
    if (p[0] == '*' && p[1] == '.')
        p += 2;
    for (; *p != '\0'; p++) {
        if (*p == '.') {
            ok = ok && label > 0;
            label = 0;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            ok = false;
        if (++label > 63)
            ok = false;
    }
    if (ok && label > 0)
        return true;
    dlp_rules__error(rd, line,
                     "%s: %s is not a host name ('mail.example.com') or '*.' and a domain "
                     "('*.example.com')",
                     l->key, dlp_rules__quote(s, strlen(s), q));
    return false;
}

static bool allow_entry(reader_t *rd, unsigned k, unsigned line, void *arg)
{
    allow_read_t *ar = arg;
    dlp_rule_allow_t *a = ar->a;
    strlist_t l = {.key = ar->keys[k], .max_items = DLP_RULE_ALLOW_MAX, .max_len = SIZE_MAX};

    (void)line;
    switch (k) {
    case 0:
        l.noun = "value";
        l.max_len = DLP_RULE_ALLOW_VALUE_MAX;
        l.arr = &a->values;
        l.n = &a->nvalues;
        break;
    case 1:
        l.noun = "hmac";
        l.take = hmac_take;
        ar->hmacs = (hlist_t){.v = &a->hmacs, .n = &a->nhmacs};
        l.arg = &ar->hmacs;
        break;
    case 2:
    case 3:
        l.noun = "prefix";
        l.nouns = "prefixes";
        l.take = cidr_take;
        l.arg = k == 2 ? &a->src : &a->dst;
        break;
    default:
        l.noun = "host";
        l.max_len = DLP_RULE_HOST_MAX;
        l.check = check_host;
        l.arr = &a->hosts;
        l.n = &a->nhosts;
        break;
    }
    return read_strlist(rd, &l, false);
}

bool dlp_rules__read_allow(reader_t *rd, const char *key, dlp_rule_allow_t *a, unsigned line)
{
    static const char *const names[] = {"values", "hmacs", "src", "dst", "hosts"};
    allow_read_t ar = {.a = a};

    for (unsigned k = 0; k < 5; k++)
        snprintf(ar.keys[k], sizeof(ar.keys[k]), "%s: %s", key, names[k]);
    a->file = rd->file;
    a->line = line;
    return dlp_rules__map(rd, key, names, 5, allow_entry, &ar, NULL, NULL);
}

static bool key_allow(reader_t *rd, rule_ctx_t *rc)
{
    return dlp_rules__read_allow(rd, "allow", &rc->r.allow, rd->key_line);
}

/* ---- edm (exact data match) ------------------------------------------------ */

/* 'name' as written, or beside the rule file when relative. */
static void edm_path(const reader_t *rd, const char *name, char *out, size_t cap)
{
    const char *slash = strrchr(rd->file, '/');

    if (name[0] == '/' || slash == NULL)
        snprintf(out, cap, "%s", name);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - rd->file), rd->file, name);
}

/*
 * One hash per line; blank lines and '#' comments skipped. The first bad
 * line (one with a NUL byte too) stops the file (the load fails anyway). A
 * bad line is named by its number and length, never quoted: pointed at the
 * wrong file (the customer list itself), it would hold the very values the
 * hashes are there to hide.
 */
static bool edm_read_file(reader_t *rd, dlp_rule_edm_t *e, const char *path, unsigned line)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got = 0;
    unsigned ln = 0;
    bool go = true;
    struct stat st;

    if (f == NULL) {
        dlp_rules__error(rd, line, "edm: hmacs_file: %s: %s", path, strerror(errno));
        return true;
    }
    /* not a device or a pipe that never ends, not a file beyond reason */
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size > DLP_RULE_EDM_FILE_MAX_BYTES) {
        dlp_rules__error(rd, line, "edm: hmacs_file: %s: not a regular file of at most %u bytes",
                         path, (unsigned)DLP_RULE_EDM_FILE_MAX_BYTES);
        fclose(f);
        return true;
    }
    while (go && (got = getline(&buf, &cap, f)) >= 0) {
        size_t n = strcspn(buf, "\r\n#"), s = 0;
        uint8_t h[16];
        const char *bad;

        ln++;
        /* strcspn would end the line at a NUL, and a hash cut there never matches */
        if (memchr(buf, '\0', (size_t)got) != NULL) {
            size_t len = (size_t)got;
            while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                len--;
            dlp_rules__error(rd, line,
                             "edm: hmacs_file: %s:%u: the line has a NUL byte "
                             "(%zu characters)",
                             path, ln, len);
            break;
        }
        while (s < n && (buf[s] == ' ' || buf[s] == '\t'))
            s++;
        while (n > s && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
            n--;
        if (n == s)
            continue;
        bad = hmac_parse(buf + s, n - s, h);
        if (bad == NULL && e->nhmacs >= DLP_RULE_EDM_MAX) {
            dlp_rules__error(rd, line, "edm: hmacs_file: %s:%u: more than %u hashes", path, ln,
                             (unsigned)DLP_RULE_EDM_MAX);
            break;
        }
        if (bad != NULL) {
            dlp_rules__error(rd, line, "edm: hmacs_file: %s:%u: the line %s (%zu characters)",
                             path, ln, bad, n - s);
            break;
        }
        go = hmac_push(rd, &e->hmacs, &e->nhmacs, h);
    }
    /* getline's -1 is the end, a read error or no memory for a long line:
     * only the end may pass, or the list would load cut short */
    if (got < 0 && !feof(f)) {
        if (errno == ENOMEM) {
            dlp_rules__oom(rd->ld);
            go = false;
        } else {
            dlp_rules__error(rd, line, "edm: hmacs_file: %s: %s", path, strerror(errno));
        }
    }
    free(buf);
    fclose(f);
    return go;
}

typedef struct edm_read {
    rule_ctx_t *rc;
    hlist_t hmacs;
} edm_read_t;

static bool edm_entry(reader_t *rd, unsigned k, unsigned line, void *arg)
{
    edm_read_t *er = arg;
    dlp_rule_edm_t *e = &er->rc->r.edm;
    char path[PATH_MAX];
    char *s = NULL;

    if (k == 0) {
        strlist_t l = {.key = "edm: hmacs", .noun = "hmac", .max_items = DLP_RULE_EDM_MAX,
                       .max_len = SIZE_MAX, .take = hmac_take, .arg = &er->hmacs};
        er->hmacs = (hlist_t){.v = &e->hmacs, .n = &e->nhmacs};
        return read_strlist(rd, &l, false);
    }
    if (!dlp_rules__string(rd, "edm: hmacs_file", PATH_MAX - 1, &s))
        return false;
    if (s == NULL)
        return true;
    edm_path(rd, s, path, sizeof(path));
    free(s);
    (void)line;
    return edm_read_file(rd, e, path, ev_line(rd));
}

static int cmp_hmac(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

bool dlp_rule_edm_has(const dlp_rule_edm_t *e, const uint8_t *h)
{
    return e->nhmacs > 0 && bsearch(h, e->hmacs, e->nhmacs, 16, cmp_hmac) != NULL;
}

/* ---- aggregate ------------------------------------------------------------- */

/* "90", "90s", "10m", "2h", "1d": seconds in 1..max, or 0 when it is none of these. */
static uint32_t duration_s(const char *s, uint32_t max)
{
    uint64_t v = 0, unit = 1;
    size_t i = 0;

    for (; s[i] >= '0' && s[i] <= '9' && v <= max; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    if (i == 0 || v > max)
        return 0;
    switch (s[i]) {
    case '\0': break;
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return 0;
    }
    if (s[i] != '\0' && s[i + 1] != '\0')
        return 0;
    return v * unit >= 1 && v * unit <= max ? (uint32_t)(v * unit) : 0;
}

static bool agg_entry(reader_t *rd, unsigned k, unsigned line, void *arg)
{
    dlp_rule_aggregate_t *ag = arg;
    char q[QUOTE_BUF];
    char *s = NULL;
    bool ok;

    if (k == 0)
        return dlp_rules__uint(rd, "aggregate: values", DLP_RULE_AGG_VALUES_MIN,
                               DLP_RULE_AGG_VALUES_MAX, &ag->values, &ok);
    if (!dlp_rules__string(rd, "aggregate: window", 32, &s))
        return false;
    if (s == NULL)
        return true;
    ag->window_s = duration_s(s, DLP_RULE_AGG_WINDOW_MAX);
    if (ag->window_s == 0)
        dlp_rules__error(rd, line,
                         "aggregate: window: expected a duration from 1s to 1d (90, 90s, 10m, "
                         "2h, 1d), got %s",
                         dlp_rules__quote(s, strlen(s), q));
    free(s);
    return true;
}

/* aggregate: {values: N, window: DURATION}, both required. */
static bool key_aggregate(reader_t *rd, rule_ctx_t *rc)
{
    static const char *const names[] = {"values", "window"};
    dlp_rule_aggregate_t ag = {0};
    unsigned line = rd->key_line;
    uint32_t seen = 0;
    bool was_map;

    if (!dlp_rules__map(rd, "aggregate", names, 2, agg_entry, &ag, &seen, &was_map))
        return false;
    for (unsigned k = 0; was_map && k < 2; k++)
        if (!(seen & (1u << k)))
            dlp_rules__error(rd, line, "aggregate: missing required key '%s'", names[k]);
    if (ag.values != 0 && ag.window_s != 0)
        rc->r.aggregate = ag;
    return true;
}

/* edm: {hmacs: [...], hmacs_file: PATH}: either or both; kept sorted and unique. */
static bool key_edm(reader_t *rd, rule_ctx_t *rc)
{
    static const char *const names[] = {"hmacs", "hmacs_file"};
    dlp_rule_edm_t *e = &rc->r.edm;
    edm_read_t er = {.rc = rc};
    uint32_t seen = 0;
    bool was_map;
    size_t k = 0;

    e->on = true;
    e->file = rd->file;
    e->line = rd->key_line;
    if (!dlp_rules__map(rd, "edm", names, 2, edm_entry, &er, &seen, &was_map))
        return false;
    if (was_map && seen == 0)
        dlp_rules__error(rd, e->line, "edm: expected hmacs, hmacs_file or both");
    if (e->nhmacs > 1)
        qsort(e->hmacs, e->nhmacs, 16, cmp_hmac);
    for (size_t i = 0; i < e->nhmacs; i++)
        if (k == 0 || memcmp(e->hmacs[k - 1], e->hmacs[i], 16) != 0)
            memmove(e->hmacs[k++], e->hmacs[i], 16);
    e->nhmacs = k;
    return true;
}

/* ---- combination ---------------------------------------------------------- */

typedef struct comb_read {
    rule_ctx_t *rc;
    size_t items;      /* entries of 'rules', valid or not */
    unsigned min_line; /* line of min_weight's value */
    bool min_ok;
} comb_read_t;

/* Appends one counted rule; s is taken. */
static bool comb_add(reader_t *rd, comb_read_t *cr, char *s, uint32_t weight, unsigned line)
{
    rule_ctx_t *rc = cr->rc;
    dlp_rule_combination_t *c = &rc->r.combination;
    char q[QUOTE_BUF];
    void *a;

    for (size_t i = 0; i < c->nrules; i++) {
        if (strcmp(c->rules[i], s) == 0) {
            dlp_rules__error(rd, line, "combination: rules: duplicate rule %s",
                             dlp_rules__quote(s, strlen(s), q));
            free(s);
            return true;
        }
    }
    if ((a = dlp_rules__grow(c->weights, c->nrules, 1, sizeof(*c->weights))) == NULL)
        goto oom;
    c->weights = a;
    if ((a = dlp_rules__grow(rc->comb_lines, c->nrules, 1, sizeof(*rc->comb_lines))) == NULL)
        goto oom;
    rc->comb_lines = a;
    if ((a = dlp_rules__grow(c->rules, c->nrules, 1, sizeof(*c->rules))) == NULL)
        goto oom;
    c->rules = a;
    c->weights[c->nrules] = weight;
    rc->comb_lines[c->nrules] = line;
    c->rules[c->nrules++] = s;
    return true;
oom:
    free(s);
    dlp_rules__oom(rd->ld);
    return false;
}

static bool comb_take(reader_t *rd, strlist_t *l, char *s, unsigned line)
{
    return comb_add(rd, l->arg, s, 1, line);
}

/* "rules: {name: weight, ...}"; current event: the MAPPING_START. */
static bool comb_weights(reader_t *rd, comb_read_t *cr, strlist_t *l)
{
    char key[DLP_RULE_NAME_MAX + 32];
    uint32_t w = 0;
    bool ok;

    for (;;) {
        char *s = NULL;
        if (!dlp_rules__next(rd))
            return false;
        if (rd->ev.type == YAML_MAPPING_END_EVENT)
            return true;
        unsigned line = ev_line(rd);
        if (++l->items > l->max_items) {
            if (l->items == l->max_items + 1)
                dlp_rules__error(rd, line, "%s: more than %zu rules", l->key, l->max_items);
            if (!dlp_rules__skip(rd) || !dlp_rules__skip_value(rd))
                return false;
            continue;
        }
        if (!dlp_rules__string(rd, l->key, l->max_len, &s))
            return false;
        if (s != NULL && !check_name(rd, l, s, line)) {
            free(s);
            s = NULL;
        }
        snprintf(key, sizeof(key), "%s: %s", l->key, s != NULL ? s : "?");
        if (!dlp_rules__next(rd) || !dlp_rules__uint(rd, key, 1, DLP_RULE_WEIGHT_MAX, &w, &ok)) {
            free(s);
            return false;
        }
        if (s != NULL && ok && !comb_add(rd, cr, s, w, line))
            return false;
        if (s != NULL && !ok)
            free(s);
    }
}

static bool comb_entry(reader_t *rd, unsigned k, unsigned line, void *arg)
{
    comb_read_t *cr = arg;
    strlist_t l = {.key = "combination: rules",
                   .noun = "rule",
                   .max_items = DLP_RULE_COMBINATION_MAX,
                   .max_len = DLP_RULE_NAME_MAX - 1,
                   .check = check_name,
                   .take = comb_take,
                   .arg = cr};

    (void)line;
    if (k == 0) {
        cr->min_line = ev_line(rd);
        return dlp_rules__uint(rd, "combination: min_weight", 2,
                               DLP_RULE_COMBINATION_MAX * DLP_RULE_WEIGHT_MAX,
                               &cr->rc->r.combination.min_weight, &cr->min_ok);
    }
    if (rd->ev.type != YAML_MAPPING_START_EVENT) {
        bool go = read_strlist(rd, &l, true);
        cr->items = l.items;
        return go;
    }
    unsigned start = ev_line(rd);
    if (!comb_weights(rd, cr, &l))
        return false;
    if (l.items == 0)
        dlp_rules__error(rd, start, "combination: rules: expected at least one rule");
    cr->items = l.items;
    return true;
}

static bool key_combination(reader_t *rd, rule_ctx_t *rc)
{
    static const char *const names[] = {"min_weight", "rules"};
    dlp_rule_combination_t *c = &rc->r.combination;
    comb_read_t cr = {.rc = rc};
    unsigned line = rd->key_line;
    uint32_t seen, sum = 0;
    bool was_map;

    c->line = line;
    if (!dlp_rules__map(rd, "combination", names, 2, comb_entry, &cr, &seen, &was_map))
        return false;
    for (unsigned k = 0; was_map && k < 2; k++) {
        if (!(seen & (1u << k)))
            dlp_rules__error(rd, line, "combination: missing required key '%s'", names[k]);
    }
    for (size_t i = 0; i < c->nrules; i++)
        sum += c->weights[i];
    if (cr.min_ok && c->nrules > 0 && c->nrules == cr.items && c->min_weight > sum)
        dlp_rules__error(rd, cr.min_line,
                         "combination: min_weight %u is more than the weights add up to (%u): "
                         "the rule could never fire",
                         (unsigned)c->min_weight, (unsigned)sum);
    if (!cr.min_ok)
        c->min_weight = 0;
    return true;
}

/* ---- the table, and freeing ----------------------------------------------- */

const dlp_rules_key_t dlp_rules__keys[K__COUNT] = {
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
    [K_CONTEXT] = {"context", false, key_context},
    [K_EXCLUDE] = {"exclude_context", false, key_exclude},
    [K_PROTOCOLS] = {"protocols", false, key_protocols},
    [K_FIELDS] = {"fields", false, key_fields},
    [K_ALLOW] = {"allow", false, key_allow},
    [K_TEST_VALUES] = {"test_values", false, key_test_values},
    [K_COMBINATION] = {"combination", false, key_combination},
    [K_VALUE] = {"value", false, key_value},
    [K_EDM] = {"edm", false, key_edm},
    [K_AGGREGATE] = {"aggregate", false, key_aggregate},
};

void dlp_rules__context_fini(dlp_rule_context_t *c)
{
    dlp_rules__free_strs(c->words, c->nwords);
    free(c->word_line);
    memset(c, 0, sizeof(*c));
}

void dlp_rules__allow_fini(dlp_rule_allow_t *a)
{
    dlp_rules__free_strs(a->values, a->nvalues);
    free(a->hmacs);
    dlp_cidr_set_fini(&a->src);
    dlp_cidr_set_fini(&a->dst);
    dlp_rules__free_strs(a->hosts, a->nhosts);
    memset(a, 0, sizeof(*a));
}

void dlp_rules__rule_fini(dlp_rule_t *r)
{
    free(r->name);
    free(r->description);
    for (size_t i = 0; i < r->npatterns; i++)
        free(r->patterns[i].expr);
    free(r->patterns);
    dlp_rules__free_strs(r->ex_match, r->nex_match);
    dlp_rules__free_strs(r->ex_no_match, r->nex_no_match);
    free(r->ex_match_line);
    free(r->ex_no_match_line);
    dlp_rules__context_fini(&r->context);
    dlp_rules__context_fini(&r->exclude);
    dlp_rules__free_strs(r->protocols, r->nprotocols);
    free(r->protocols_line);
    dlp_rules__allow_fini(&r->allow);
    free(r->edm.hmacs);
    dlp_rules__free_strs(r->combination.rules, r->combination.nrules);
    free(r->combination.weights);
    memset(r, 0, sizeof(*r));
}
