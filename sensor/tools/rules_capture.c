/*
 * rules_capture.c - `dlpsensor rules test [PATH...] -r CAPTURE [-r ...]`.
 *
 * Runs the real sensor (dlp_runtime_run) on the captures: one worker, no
 * syslog, stats only at exit, the rules given (or the bundled ones), the
 * compiled-rules cache only with --rules-cache, and JSON events into a
 * temporary file (mkstemp, 0600, unlinked at the end). Then reads the
 * events back: the exit stats event's "rules" carries every rule's
 * counters, the dlp and flow events the masked values (samples).
 *
 * Output: rules with candidates, noisiest first (alerts, then values, then
 * candidates), their counters, up to --samples masked values each with
 * where they went; or, --json, one object per rule in load order and a
 * summary object.
 *
 * Thread: main's (the runtime starts and joins its own threads).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlp/runtime.h"
#include "rulescmd_int.h"

typedef struct sample {
    char masked[64], hmac[40], field[24];
    char src[48], dst[48], app[32], host[128];
    long long dport;
    json_int_t flow_id;
    unsigned flows; /* flow events that list it */
} sample_t;

typedef struct rrow {
    const char *name; /* borrowed from the stats event */
    json_int_t id;
    bool enabled;
    uint64_t c[DLP_RSTAT__COUNT];
    sample_t *s;
    size_t ns;
    size_t order; /* load order */
} rrow_t;

typedef struct cap {
    const dlp_rulescmd_opts_t *o;
    json_t *stats; /* the last stats event */
    rrow_t *rows;
    size_t nrows;
} cap_t;

/* --- the sensor run -------------------------------------------------------------- */

/* 0, or an exit status after a message. */
static int configure(dlp_config_t *c, const dlp_rulescmd_opts_t *o, const char *json_path)
{
    const char *badp = NULL;
    int st = 0;

    for (size_t i = 0; i < o->captures.n && st == 0; i++)
        st = dlp_strv_push(&c->read_paths, o->captures.v[i]) == DLP_OK ? 0 : 1;
    for (size_t i = 0; i < o->paths.n && st == 0; i++)
        st = dlp_strv_push(&c->rule_paths, o->paths.v[i]) == DLP_OK ? 0 : 1;
    c->workers = 1;
    c->syslog = 0;
    c->stats_interval_s = 0;
    c->stats_interval_set = true;
    c->no_rules_cache = o->cache_dir == NULL;
    c->scan_inbound = o->scan_inbound;
    c->scan_internal = o->scan_internal;
    if (st == 0)
        st = dlp_config_set_str(&c->rules_cache_dir, o->cache_dir) != DLP_OK ||
             dlp_config_set_str(&c->json_path, json_path) != DLP_OK ||
             dlp_config_set_str(&c->hmac_key_file, o->key_file) != DLP_OK;
    if (st == 0 && o->home_net != NULL &&
        dlp_config_set_home_net(c, o->home_net, &badp) != DLP_OK) {
        fprintf(stderr, "dlpsensor rules: --home-net: bad network '%s'\n",
                badp ? badp : o->home_net);
        return 2;
    }
    if (st != 0)
        fprintf(stderr, "dlpsensor rules: out of memory\n");
    return st;
}

/* A private temporary file for the events: 0, or an exit status. */
static int make_temp(char *path, size_t len)
{
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(path, len, "%s/dlpsensor-rules-XXXXXX", dir != NULL && dir[0] == '/' ? dir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        fprintf(stderr, "dlpsensor rules: cannot create a temporary file %s: %s\n", path,
                strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return 1;
    }
    close(fd);
    return 0;
}

/* --- reading the events -------------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* Calls fn on each event of the file, in order; 0, or an exit status. */
static int each_event(cap_t *c, const char *path, bool (*fn)(cap_t *, json_t *))
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    bool ok = true;

    if (f == NULL) {
        fprintf(stderr, "dlpsensor rules: %s: %s\n", path, strerror(errno));
        return 1;
    }
    while (ok && getline(&line, &cap, f) > 0) {
        json_error_t err;
        json_t *ev = json_loads(line, 0, &err);
        n++;
        if (ev == NULL || json_string_value(json_object_get(ev, "event_type")) == NULL)
            fprintf(stderr, "dlpsensor rules: event %zu is not a JSON event: %s\n", n,
                    ev == NULL ? err.text : "no event_type");
        else
            ok = fn(c, ev);
        json_decref(ev);
    }
    free(line);
    fclose(f);
    if (!ok)
        fprintf(stderr, "dlpsensor rules: out of memory\n");
    return ok ? 0 : 1;
}

/* First pass: the last stats event (at exit) has every rule's counters. */
static bool keep_stats(cap_t *c, json_t *ev)
{
    if (strcmp(str_of(ev, "event_type"), "stats") == 0) {
        json_decref(c->stats);
        c->stats = json_incref(ev);
    }
    return true;
}

static bool rows_from_stats(cap_t *c)
{
    json_t *rules = json_object_get(c->stats, "rules"), *r;
    const char *name;

    c->rows = calloc(json_object_size(rules) + 1, sizeof(*c->rows));
    if (c->rows == NULL)
        return false;
    for (void *it = json_object_iter(rules); it != NULL; it = json_object_iter_next(rules, it)) {
        rrow_t *row = &c->rows[c->nrows];
        name = json_object_iter_key(it);
        r = json_object_iter_value(it);
        row->name = name;
        row->order = c->nrows++;
        row->id = json_integer_value(json_object_get(r, "rule_id"));
        row->enabled = json_is_true(json_object_get(r, "enabled"));
        for (int k = 0; k < DLP_RSTAT__COUNT; k++)
            row->c[k] =
                (uint64_t)json_integer_value(json_object_get(r, dlp_rstat_name((dlp_rstat_t)k)));
    }
    return true;
}

static rrow_t *row_of(cap_t *c, const char *name)
{
    for (size_t i = 0; name != NULL && i < c->nrows; i++)
        if (strcmp(c->rows[i].name, name) == 0)
            return &c->rows[i];
    return NULL;
}

/* Adds a sample of match m (of event ev) to row, unless known (then counts the flow
 * event that lists it) or the row is full. */
static bool add_sample(cap_t *c, rrow_t *row, const json_t *ev, const json_t *m)
{
    const char *hmac = str_of(m, "hmac");
    bool flow_ev = strcmp(str_of(ev, "event_type"), "flow") == 0;
    sample_t *s;

    if (json_object_get(m, "masked") == NULL)
        return true;
    for (size_t i = 0; i < row->ns; i++) {
        if (strcmp(row->s[i].hmac, hmac) == 0 &&
            strcmp(row->s[i].masked, str_of(m, "masked")) == 0) {
            row->s[i].flows += flow_ev;
            return true;
        }
    }
    if (row->ns >= c->o->samples)
        return true;
    s = realloc(row->s, (row->ns + 1) * sizeof(*s));
    if (s == NULL)
        return false;
    row->s = s;
    s = &s[row->ns++];
    memset(s, 0, sizeof(*s));
    snprintf(s->masked, sizeof(s->masked), "%s", str_of(m, "masked"));
    snprintf(s->hmac, sizeof(s->hmac), "%s", hmac);
    snprintf(s->field, sizeof(s->field), "%s", str_of(m, "field"));
    snprintf(s->src, sizeof(s->src), "%s", str_of(ev, "src_ip"));
    snprintf(s->dst, sizeof(s->dst), "%s", str_of(ev, "dest_ip"));
    snprintf(s->app, sizeof(s->app), "%s", str_of(ev, "app_proto"));
    s->dport = (long long)json_integer_value(json_object_get(ev, "dest_port"));
    s->flow_id = json_integer_value(json_object_get(ev, "flow_id"));
    s->flows = flow_ev;
    return true;
}

/* The destination name of a flow event (HTTP Host, TLS SNI), for its samples. */
static void name_hosts(cap_t *c, const json_t *ev)
{
    const char *host = str_of(json_object_get(ev, "http"), "hostname");
    json_int_t id = json_integer_value(json_object_get(ev, "flow_id"));

    if (host[0] == '\0')
        host = str_of(json_object_get(ev, "tls"), "sni");
    for (size_t i = 0; host[0] != '\0' && i < c->nrows; i++)
        for (size_t k = 0; k < c->rows[i].ns; k++)
            if (c->rows[i].s[k].flow_id == id && c->rows[i].s[k].host[0] == '\0')
                snprintf(c->rows[i].s[k].host, sizeof(c->rows[i].s[k].host), "%s", host);
}

static bool add_rule_samples(cap_t *c, const json_t *ev, const json_t *r)
{
    rrow_t *row = row_of(c, str_of(r, "rule"));
    const json_t *ms = json_object_get(r, "matches");
    size_t k;

    if (row == NULL)
        return true;
    for (k = 0; k < json_array_size(ms); k++)
        if (!add_sample(c, row, ev, json_array_get(ms, k)))
            return false;
    return true;
}

/* Second pass: masked samples from the dlp and flow events. */
static bool take_samples(cap_t *c, json_t *ev)
{
    const char *type = str_of(ev, "event_type");
    const json_t *rs = json_object_get(ev, "dlp_rules");

    if (strcmp(type, "dlp") == 0)
        return add_rule_samples(c, ev, json_object_get(ev, "dlp"));
    if (strcmp(type, "flow") != 0)
        return true;
    for (size_t k = 0; k < json_array_size(rs); k++)
        if (!add_rule_samples(c, ev, json_array_get(rs, k)))
            return false;
    name_hosts(c, ev);
    return true;
}

/* --- output ------------------------------------------------------------------------------ */

static int noisiest_first(const void *a, const void *b)
{
    static const dlp_rstat_t keys[] = {DLP_RSTAT_ALERTS, DLP_RSTAT_VALUES, DLP_RSTAT_CANDIDATES};
    const rrow_t *x = a, *y = b;

    for (size_t i = 0; i < DLP_ARRAY_LEN(keys); i++)
        if (x->c[keys[i]] != y->c[keys[i]])
            return x->c[keys[i]] > y->c[keys[i]] ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static json_int_t stat_of(const cap_t *c, const char *key)
{
    return json_integer_value(json_object_get(c->stats, key));
}

static void print_json(const cap_t *c)
{
    for (size_t i = 0; i < c->nrows; i++) {
        const rrow_t *row = &c->rows[i];
        json_t *o = json_pack("{s:s,s:s,s:I,s:b}", "kind", "rule", "rule", row->name, "rule_id",
                              row->id, "enabled", row->enabled);
        json_t *sa = json_array();
        for (int k = 0; k < DLP_RSTAT__COUNT; k++)
            json_object_set_new(o, dlp_rstat_name((dlp_rstat_t)k),
                                json_integer((json_int_t)row->c[k]));
        for (size_t k = 0; k < row->ns; k++) {
            const sample_t *s = &row->s[k];
            json_t *so =
                json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:I}", "masked", s->masked, "field", s->field,
                          "src_ip", s->src, "dest_ip", s->dst, "dest_port", (json_int_t)s->dport,
                          "app_proto", s->app, "flows", (json_int_t)s->flows);
            if (s->host[0] != '\0')
                json_object_set_new(so, "host", json_string(s->host));
            if (c->o->key_file != NULL)
                json_object_set_new(so, "hmac", json_string(s->hmac));
            json_array_append_new(sa, so);
        }
        json_object_set_new(o, "samples", sa);
        dlp_rulescmd__json_line(stdout, o);
    }
    dlp_rulescmd__json_line(stdout, json_pack("{s:s,s:I,s:I,s:I}", "kind", "summary", "packets",
                                              stat_of(c, "packets"), "flows", stat_of(c, "flows"),
                                              "alerts", stat_of(c, "alerts")));
}

static void print_counters(const cap_t *c)
{
    /* a capture: what fired first, then why the rest did not */
    static const dlp_rstat_t cols[] = {
        DLP_RSTAT_ALERTS,   DLP_RSTAT_VALUES,  DLP_RSTAT_CANDIDATES, DLP_RSTAT_REJECTED,
        DLP_RSTAT_FILTERED, DLP_RSTAT_CONTEXT, DLP_RSTAT_ALLOWED,    DLP_RSTAT_TEST_VALUES,
        DLP_RSTAT_UNLISTED};
    size_t n = DLP_ARRAY_LEN(cols) - 1; /* UNLISTED: only when an edm: list held a value back */
    dlp_rulescmd_table_t tb;

    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].c[DLP_RSTAT_UNLISTED] > 0)
            n = DLP_ARRAY_LEN(cols);
    dlp_rulescmd__counters_init(&tb, cols, n);
    for (size_t i = 0; i < c->nrows; i++)
        dlp_rulescmd__counters_row(&tb, c->rows[i].name, c->rows[i].c, cols, n);
    if (tb.nrows > 1)
        dlp_rulescmd__table_print(&tb, stdout, "");
    dlp_rulescmd__table_fini(&tb);
}

static void print_samples(const cap_t *c)
{
    const char *head[] = {"RULE", "VALUE", "FLOWS", "FIELD", "FROM", "TO", "APP", "HOST", "HMAC"};
    size_t nc = c->o->key_file != NULL ? 9 : 8;
    char to[80], flows[16];
    dlp_rulescmd_table_t tb;

    dlp_rulescmd__table_init(&tb, nc);
    dlp_rulescmd__table_row(&tb, head);
    for (size_t i = 0; i < c->nrows; i++) {
        for (size_t k = 0; k < c->rows[i].ns; k++) {
            const sample_t *s = &c->rows[i].s[k];
            snprintf(to, sizeof(to), strchr(s->dst, ':') ? "[%s]:%lld" : "%s:%lld", s->dst,
                     s->dport);
            snprintf(flows, sizeof(flows), "%u", s->flows);
            const char *row[] = {c->rows[i].name, s->masked, flows,  s->field,
                                 s->src,          to,        s->app, s->host[0] ? s->host : "-",
                                 s->hmac};
            dlp_rulescmd__table_row(&tb, row);
        }
    }
    if (tb.nrows > 1) {
        printf("\nsamples (masked, at most %u per rule):\n", c->o->samples);
        dlp_rulescmd__table_print(&tb, stdout, "");
    }
    dlp_rulescmd__table_fini(&tb);
}

static void print_table(cap_t *c)
{
    size_t quiet = 0;

    if (c->nrows > 1)
        qsort(c->rows, c->nrows, sizeof(*c->rows), noisiest_first);
    for (size_t i = 0; i < c->nrows; i++)
        quiet += c->rows[i].c[DLP_RSTAT_CANDIDATES] == 0 && c->rows[i].c[DLP_RSTAT_ALERTS] == 0;
    print_counters(c);
    print_samples(c);
    printf("%s%" PRId64 " packets, %" PRId64 " flows, %" PRId64 " alerts; %zu rules, %zu "
           "found nothing\n",
           c->nrows > quiet ? "\n" : "", (int64_t)stat_of(c, "packets"),
           (int64_t)stat_of(c, "flows"), (int64_t)stat_of(c, "alerts"), c->nrows, quiet);
}

static void cap_fini(cap_t *c)
{
    for (size_t i = 0; i < c->nrows; i++)
        free(c->rows[i].s);
    free(c->rows);
    json_decref(c->stats);
}

static int summarise(cap_t *c, const char *path)
{
    int st = each_event(c, path, keep_stats);

    if (st != 0)
        return st;
    if (c->stats == NULL || !json_is_object(json_object_get(c->stats, "rules"))) {
        fprintf(stderr, "dlpsensor rules: the sensor wrote no stats event with rule counters\n");
        return 1;
    }
    if (!rows_from_stats(c)) {
        fprintf(stderr, "dlpsensor rules: out of memory\n");
        return 1;
    }
    st = each_event(c, path, take_samples);
    if (st != 0)
        return st;
    if (c->o->json)
        print_json(c);
    else
        print_table(c);
    return 0;
}

int dlp_rulescmd__capture(const dlp_rulescmd_opts_t *o)
{
    char path[4096];
    dlp_config_t cfg;
    cap_t c = {.o = o};
    int st;

    if (dlp_config_init(&cfg) != DLP_OK) {
        fprintf(stderr, "dlpsensor rules: out of memory\n");
        return 1;
    }
    st = make_temp(path, sizeof(path));
    if (st == 0) {
        st = configure(&cfg, o, path);
        if (st == 0)
            st = dlp_runtime_run(&cfg, NULL);
        if (st == 0)
            st = summarise(&c, path);
        unlink(path);
    }
    cap_fini(&c);
    dlp_config_fini(&cfg);
    return st;
}
