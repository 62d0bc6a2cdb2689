/*
 * rules_text.c - `dlpsensor rules test [PATH...] --text FILE|-`.
 *
 * The text is one flow's stream: it is scanned through the real detect
 * stage in DLP_RULESCMD_STREAM_CHUNK-byte writes, as the sensor scans a
 * TCP stream, and again as one block; both must report the same values
 * (a difference is a sensor bug: a message, and exit status 1). The text
 * belongs to no flow: allow-lists by address or host never apply, and the
 * rules' protocols and fields lists apply only when --app-proto or --field
 * say where the text travels.
 *
 * Suppressed values: the text is scanned again with policies switched off
 * one by one, in the reverse of the order the detect stage applies them
 * (filters, test values, allow-lists, the edm list, exclude_context,
 * required context): a value first reported once policy P is off was
 * suppressed by P ("context_missing", "context_excluded", "unlisted",
 * "allowed", "test_value", "filtered"). Values are compared by rule and keyed hash. The detect stage
 * lists the first DLP_EV_MAX_MATCHES values of a rule; past that, the
 * reasons of that rule are incomplete and a note says so. Candidates a
 * validator rejected are not values: they are only counted (the rule
 * counters).
 *
 * Only masks (and, with --hmac-key-file, keyed hashes) are printed.
 *
 * Thread: main's.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "rulescmd_int.h"
#include "runtime_int.h"

#define LEVELS 7

typedef struct supp {
    dlp_rulescmd_value_t v;
    const char *reason;
} supp_t;

typedef struct txt {
    const dlp_rulescmd_opts_t *o;
    dlp_ruleset_t *rs;
    dlp_matcher_t *m;
    uint8_t key[1024];
    size_t key_len;
    uint8_t *text;
    size_t len;
    dlp_ruleset_t *set[LEVELS];
    const char *reason[LEVELS];
    size_t nlev;
    dlp_rulescmd_scanner_t *sc[LEVELS];
    dlp_rulescmd_found_t stream, found[LEVELS]; /* found[0]: the block scan */
    uint64_t *rstats;                           /* [n][DLP_RSTAT__COUNT], of the stream scan */
    supp_t *supp;
    size_t nsupp;
    bool *incomplete; /* [n]: more values than listed */
} txt_t;

/* As the sensor: an exact-data list without its key is refused, not run empty. */
static int load(txt_t *t)
{
    dlp_rules_errors_t err = {0};

    t->rs = dlp_rulescmd__load(t->o, &err);
    if (t->rs != NULL && dlp_detection_edm_keyed(t->o->key_file != NULL, t->rs, &err))
        t->m = dlp_matcher_new(t->rs, t->o->cache_dir, &err);
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "dlpsensor rules: %s\n", err.msg[i]);
    dlp_rules_errors_fini(&err);
    return t->m != NULL ? 0 : 2;
}

static int make_key(txt_t *t)
{
    return dlp_hmac_key_make("dlpsensor rules", t->o->key_file, t->key, sizeof(t->key),
                             &t->key_len);
}

static void add_level(txt_t *t, unsigned how, const char *reason)
{
    t->set[t->nlev] = dlp_rulescmd__copy(t->rs, how);
    t->reason[t->nlev] = reason;
    if (t->set[t->nlev] != NULL)
        t->sc[t->nlev] = dlp_rulescmd__scanner_new(t->set[t->nlev], t->m, t->key, t->key_len);
    if (t->sc[t->nlev] != NULL && t->o->field >= 0)
        dlp_rulescmd__scanner_where(t->sc[t->nlev], (dlp_field_t)t->o->field, t->o->app_proto);
    else if (t->sc[t->nlev] != NULL)
        dlp_rulescmd__scanner_where(t->sc[t->nlev], DLP_FIELD_RAW, t->o->app_proto);
    t->nlev++;
}

/* Level 0 is the sensor's policy on text of no flow; each next one relaxes one more. */
static bool setup_levels(txt_t *t)
{
    unsigned base = RC_NO_ADDR;

    if (t->o->field < 0)
        base |= RC_NO_FIELDS;
    if (t->o->app_proto == NULL)
        base |= RC_NO_PROTOCOLS;
    add_level(t, base, NULL);
    add_level(t, base |= RC_NO_REQUIRED, "context_missing");
    add_level(t, base |= RC_NO_EXCLUDE, "context_excluded");
    add_level(t, base |= RC_NO_EDM, "unlisted");
    add_level(t, base |= RC_NO_ALLOW, "allowed");
    add_level(t, base |= RC_TEST_VALUES, "test_value");
    if ((base & (RC_NO_FIELDS | RC_NO_PROTOCOLS)) != (RC_NO_FIELDS | RC_NO_PROTOCOLS))
        add_level(t, base | RC_NO_FIELDS | RC_NO_PROTOCOLS, "filtered");
    for (size_t l = 0; l < t->nlev; l++)
        if (t->sc[l] == NULL)
            return false;
    t->rstats = calloc(t->rs->n * DLP_RSTAT__COUNT + 1, sizeof(*t->rstats));
    t->incomplete = calloc(t->rs->n + 1, sizeof(*t->incomplete));
    return t->rstats != NULL && t->incomplete != NULL;
}

static int by_offset(const void *a, const void *b)
{
    const dlp_rulescmd_value_t *x = a, *y = b;

    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return strcmp(x->hmac, y->hmac);
}

static bool same_values(const dlp_rulescmd_found_t *a, const dlp_rulescmd_found_t *b)
{
    if (a->n != b->n || memcmp(a->count, b->count, a->nrules * sizeof(*a->count)) != 0)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (by_offset(&a->v[i], &b->v[i]) != 0 || strcmp(a->v[i].masked, b->v[i].masked) != 0 ||
            a->v[i].confidence != b->v[i].confidence)
            return false;
    return true;
}

static bool listed(const dlp_rulescmd_found_t *f, uint32_t rule, const char *hmac)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].rule == rule && strcmp(f->v[i].hmac, hmac) == 0)
            return true;
    return false;
}

/* Values level l reports that level l - 1 does not: suppressed by level l's policy. */
static bool diff_level(txt_t *t, size_t l)
{
    const dlp_rulescmd_found_t *now = &t->found[l], *before = &t->found[l - 1];

    for (size_t i = 0; i < now->n; i++) {
        const dlp_rulescmd_value_t *v = &now->v[i];
        if (now->count[v->rule] > DLP_EV_MAX_MATCHES || before->count[v->rule] > DLP_EV_MAX_MATCHES)
            t->incomplete[v->rule] = true;
        if (listed(before, v->rule, v->hmac) || listed(&t->found[0], v->rule, v->hmac))
            continue;
        supp_t *s = realloc(t->supp, (t->nsupp + 1) * sizeof(*s));
        if (s == NULL)
            return false;
        t->supp = s;
        s[t->nsupp].v = *v;
        s[t->nsupp++].reason = t->reason[l];
    }
    return true;
}

static int by_supp_offset(const void *a, const void *b)
{
    return by_offset(&((const supp_t *)a)->v, &((const supp_t *)b)->v);
}

/* 0, or an exit status. */
static int scan_all(txt_t *t)
{
    const _Atomic uint64_t *rst;

    if (dlp_rulescmd__scan(t->sc[0], t->text, t->len, DLP_RULESCMD_STREAM_CHUNK, &t->stream) !=
        DLP_OK)
        goto nomem;
    rst = dlp_rulescmd__rstats(t->sc[0]);
    for (size_t i = 0; i < t->rs->n * DLP_RSTAT__COUNT; i++)
        t->rstats[i] = atomic_load_explicit(&rst[i], memory_order_relaxed);
    for (size_t l = 0; l < t->nlev; l++) {
        if (dlp_rulescmd__scan(t->sc[l], t->text, t->len, 0, &t->found[l]) != DLP_OK)
            goto nomem;
        if (t->found[l].n > 1)
            qsort(t->found[l].v, t->found[l].n, sizeof(*t->found[l].v), by_offset);
        if (l > 0 && !diff_level(t, l))
            goto nomem;
    }
    if (t->stream.n > 1)
        qsort(t->stream.v, t->stream.n, sizeof(*t->stream.v), by_offset);
    if (t->nsupp > 1)
        qsort(t->supp, t->nsupp, sizeof(*t->supp), by_supp_offset);
    for (size_t i = 0; i < t->stream.n; i++)
        if (t->stream.count[t->stream.v[i].rule] > DLP_EV_MAX_MATCHES)
            t->incomplete[t->stream.v[i].rule] = true;
    return 0;
nomem:
    fprintf(stderr, "dlpsensor rules: out of memory\n");
    return 1;
}

/* --- output ---------------------------------------------------------------------------- */

/* Line and column (1-based, in bytes) of 'off'; calls must come in increasing offsets. */
typedef struct lc {
    size_t pos, line, bol;
} lc_t;

static void line_col(const txt_t *t, lc_t *s, uint64_t off, size_t *line, size_t *col)
{
    if (s->line == 0 || off < s->pos)
        *s = (lc_t){0, 1, 0};
    for (; s->pos < off && s->pos < t->len; s->pos++) {
        if (t->text[s->pos] == '\n') {
            s->line++;
            s->bol = s->pos + 1;
        }
    }
    *line = s->line;
    *col = (size_t)off - s->bol + 1;
}

static const char *field_name(const dlp_rulescmd_value_t *v)
{
    return dlp_field_name((dlp_field_t)v->field);
}

static json_t *value_json(const txt_t *t, lc_t *s, const dlp_rulescmd_value_t *v, const char *kind)
{
    const dlp_rule_t *r = &t->rs->rules[v->rule];
    size_t line, col;
    json_t *o = json_object();

    line_col(t, s, v->offset, &line, &col);
    json_object_set_new(o, "kind", json_string(kind));
    json_object_set_new(o, "offset", json_integer((json_int_t)v->offset));
    json_object_set_new(o, "line", json_integer((json_int_t)line));
    json_object_set_new(o, "column", json_integer((json_int_t)col));
    json_object_set_new(o, "rule", json_string(r->name));
    json_object_set_new(o, "rule_id", json_integer(r->id));
    json_object_set_new(o, "masked", json_string(v->masked));
    json_object_set_new(o, "field", json_string(field_name(v)));
    if (t->o->key_file != NULL)
        json_object_set_new(o, "hmac", json_string(v->hmac));
    return o;
}

/* Whether rule i's values count but are too few for its threshold: the
 * sensor would raise no event for them (and "reported" would mislead). */
static bool below_threshold(const txt_t *t, size_t i)
{
    const uint64_t *c = &t->rstats[i * DLP_RSTAT__COUNT];

    return c[DLP_RSTAT_VALUES] > 0 && c[DLP_RSTAT_ALERTS] == 0 &&
           c[DLP_RSTAT_VALUES] < t->rs->rules[i].threshold;
}

static void print_json(const txt_t *t, uint64_t rejected)
{
    lc_t s = {0};

    for (size_t i = 0; i < t->stream.n; i++) {
        json_t *o = value_json(t, &s, &t->stream.v[i], "value");
        json_object_set_new(
            o, "confidence",
            json_string(dlp_confidence_name((dlp_confidence_t)t->stream.v[i].confidence)));
        dlp_rulescmd__json_line(stdout, o);
    }
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i < t->nsupp; i++) {
        json_t *o = value_json(t, &s, &t->supp[i].v, "suppressed");
        json_object_set_new(o, "reason", json_string(t->supp[i].reason));
        dlp_rulescmd__json_line(stdout, o);
    }
    for (size_t i = 0; i < t->rs->n; i++) {
        const uint64_t *c = &t->rstats[i * DLP_RSTAT__COUNT];
        if (c[DLP_RSTAT_CANDIDATES] == 0 && c[DLP_RSTAT_ALERTS] == 0)
            continue;
        json_t *o = json_pack("{s:s,s:s,s:I}", "kind", "rule", "rule", t->rs->rules[i].name,
                              "rule_id", (json_int_t)t->rs->rules[i].id);
        for (int k = 0; k < DLP_RSTAT__COUNT; k++)
            json_object_set_new(o, dlp_rstat_name((dlp_rstat_t)k), json_integer((json_int_t)c[k]));
        json_object_set_new(o, "values_listed_incomplete", json_boolean(t->incomplete[i]));
        json_object_set_new(o, "threshold", json_integer(t->rs->rules[i].threshold));
        json_object_set_new(o, "below_threshold", json_boolean(below_threshold(t, i)));
        dlp_rulescmd__json_line(stdout, o);
    }
    dlp_rulescmd__json_line(
        stdout, json_pack("{s:s,s:I,s:I,s:I}", "kind", "summary", "values", (json_int_t)t->stream.n,
                          "suppressed", (json_int_t)t->nsupp, "rejected", (json_int_t)rejected));
}

static bool value_row(const txt_t *t, dlp_rulescmd_table_t *tb, lc_t *s,
                      const dlp_rulescmd_value_t *v, const char *last)
{
    char off[24], pos[48];
    size_t line, col;

    line_col(t, s, v->offset, &line, &col);
    snprintf(off, sizeof(off), "%" PRIu64, v->offset);
    snprintf(pos, sizeof(pos), "%zu:%zu", line, col);
    const char *row[] = {off,           pos,    t->rs->rules[v->rule].name, v->masked, last,
                         field_name(v), v->hmac};
    return dlp_rulescmd__table_row(tb, row);
}

static void print_values(const txt_t *t)
{
    dlp_rulescmd_table_t tb;
    size_t nc = t->o->key_file != NULL ? 7 : 6;
    const char *head[] = {"OFFSET", "LINE:COL", "RULE", "VALUE", "CONFIDENCE", "FIELD", "HMAC"};
    lc_t s = {0};

    if (t->stream.n == 0)
        return;
    dlp_rulescmd__table_init(&tb, nc);
    dlp_rulescmd__table_row(&tb, head);
    for (size_t i = 0; i < t->stream.n; i++)
        value_row(t, &tb, &s, &t->stream.v[i],
                  dlp_confidence_name((dlp_confidence_t)t->stream.v[i].confidence));
    dlp_rulescmd__table_print(&tb, stdout, "");
    dlp_rulescmd__table_fini(&tb);
}

static void print_suppressed(const txt_t *t)
{
    dlp_rulescmd_table_t tb;
    size_t nc = t->o->key_file != NULL ? 7 : 6;
    const char *head[] = {"OFFSET", "LINE:COL", "RULE", "VALUE", "REASON", "FIELD", "HMAC"};
    lc_t s = {0};

    if (t->nsupp == 0)
        return;
    printf("%ssuppressed (counted, not reported):\n", t->stream.n > 0 ? "\n" : "");
    dlp_rulescmd__table_init(&tb, nc);
    dlp_rulescmd__table_row(&tb, head);
    for (size_t i = 0; i < t->nsupp; i++)
        value_row(t, &tb, &s, &t->supp[i].v, t->supp[i].reason);
    dlp_rulescmd__table_print(&tb, stdout, "");
    dlp_rulescmd__table_fini(&tb);
}

static void print_counters(const txt_t *t)
{
    /* a text: the values' way through the policy, in its order */
    static const dlp_rstat_t cols[] = {
        DLP_RSTAT_CANDIDATES, DLP_RSTAT_REJECTED,    DLP_RSTAT_FILTERED, DLP_RSTAT_CONTEXT,
        DLP_RSTAT_ALLOWED,    DLP_RSTAT_TEST_VALUES, DLP_RSTAT_VALUES,   DLP_RSTAT_ALERTS,
        DLP_RSTAT_UNLISTED};
    size_t n = DLP_ARRAY_LEN(cols) - (dlp_rulescmd__any_edm(t->rs) ? 0 : 1);
    dlp_rulescmd_table_t tb;

    dlp_rulescmd__counters_init(&tb, cols, n);
    for (size_t i = 0; i < t->rs->n; i++)
        dlp_rulescmd__counters_row(&tb, t->rs->rules[i].name, &t->rstats[i * DLP_RSTAT__COUNT],
                                   cols, n);
    if (tb.nrows > 1) {
        printf("%scounters:\n", t->stream.n + t->nsupp > 0 ? "\n" : "");
        dlp_rulescmd__table_print(&tb, stdout, "");
    }
    dlp_rulescmd__table_fini(&tb);
}

static void print_table(const txt_t *t, uint64_t rejected)
{
    print_values(t);
    print_suppressed(t);
    print_counters(t);
    for (size_t i = 0; i < t->rs->n; i++)
        if (t->incomplete[i])
            printf("note: %s has more than %d values: only the first %d are listed, and the "
                   "reasons of its suppressed values may be incomplete\n",
                   t->rs->rules[i].name, DLP_EV_MAX_MATCHES, DLP_EV_MAX_MATCHES);
    for (size_t i = 0; i < t->rs->n; i++)
        if (below_threshold(t, i))
            printf("note: %s: %" PRIu64 " value%s, below its threshold of %u: no dlp event "
                   "would be raised\n",
                   t->rs->rules[i].name, t->rstats[i * DLP_RSTAT__COUNT + DLP_RSTAT_VALUES],
                   t->rstats[i * DLP_RSTAT__COUNT + DLP_RSTAT_VALUES] == 1 ? "" : "s",
                   (unsigned)t->rs->rules[i].threshold);
    printf("%s%zu value%s reported, %zu suppressed, %" PRIu64 " candidate%s rejected by "
           "validators\n",
           t->stream.n + t->nsupp > 0 || rejected > 0 ? "\n" : "", t->stream.n,
           t->stream.n == 1 ? "" : "s", t->nsupp, rejected, rejected == 1 ? "" : "s");
}

static void txt_fini(txt_t *t)
{
    for (size_t l = 0; l < LEVELS; l++) {
        dlp_rulescmd__scanner_free(t->sc[l]);
        dlp_rulescmd__copy_free(t->set[l]);
        dlp_rulescmd__found_fini(&t->found[l]);
    }
    dlp_rulescmd__found_fini(&t->stream);
    dlp_matcher_free(t->m);
    dlp_ruleset_free(t->rs);
    free(t->text);
    free(t->rstats);
    free(t->supp);
    free(t->incomplete);
    memset(t->key, 0, sizeof(t->key));
}

int dlp_rulescmd__text(const dlp_rulescmd_opts_t *o)
{
    txt_t t;
    uint64_t rejected = 0;
    int st;

    memset(&t, 0, sizeof(t));
    t.o = o;
    st = make_key(&t);
    if (st == 0)
        st = load(&t);
    if (st == 0)
        st = dlp_rulescmd__read_file(o->text, DLP_RULESCMD_TEXT_MAX, &t.text, &t.len);
    if (st == 0 && !setup_levels(&t)) {
        fprintf(stderr, "dlpsensor rules: out of memory\n");
        st = 1;
    }
    if (st == 0)
        st = scan_all(&t);
    if (st == 0) {
        for (size_t i = 0; i < t.rs->n; i++)
            rejected += t.rstats[i * DLP_RSTAT__COUNT + DLP_RSTAT_REJECTED];
        if (o->json)
            print_json(&t, rejected);
        else
            print_table(&t, rejected);
        if (!same_values(&t.stream, &t.found[0])) {
            fprintf(stderr, "dlpsensor rules: the stream and block scans of the text found "
                            "different values (a sensor bug: please report it)\n");
            st = 1;
        }
    }
    txt_fini(&t);
    return st;
}
