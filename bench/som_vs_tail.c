/*
 * som_vs_tail - how to recover where a stream match starts: Hyperscan's own start-of-match
 * (SOM) in the streaming database, or the sensor's earlier design (a streaming database
 * without SOM, a per-stream tail, and a block SOM re-scan of a short window per match).
 * This comparison made the matcher switch to SOM (sensor/match/match.c); the "sensor"
 * variant is now the SOM design with the tail. bench/README.md has the reading.
 *
 *   som_vs_tail RULES_PATH CAPTURE [--home-net-prefix 10.] [--runs 5] [--lorem-mb 64]
 *                                  [--text-min 95]
 *
 * The expressions are those of the enabled rules of RULES_PATH with the sensor's flags
 * (HS_FLAG_DOTALL, plus CASELESS/MULTILINE from the rule: match_compile.c). Variants, each
 * scanning the whole corpus as one stream in 1448-byte writes, the callback counting:
 *   sensor      dlp_match_stream_open/scan/close (the sensor's matcher, no cache)
 *   hs-nosom    the bare streaming database without SOM (what the sensor's design costs
 *               before the tail and the re-scans: the engine's floor)
 *   som-small   HS_MODE_STREAM | HS_MODE_SOM_HORIZON_SMALL, HS_FLAG_SOM_LEFTMOST on every
 *   som-medium  pattern (and the MEDIUM and LARGE horizons). A pattern that does not
 *   som-large   compile so is reported with Hyperscan's message; the variant then runs with
 *               the others only and says so.
 * Corpora: "egress" (the TCP/UDP payload from the home network to outside, concatenated,
 * no reassembly), "egress-text" (the same, only packets whose payload is at least
 * --text-min % printable), "lorem" (generated text, a PII value every 5-15 KB).
 * Runs are interleaved (run 1 of every variant, then run 2...) and the median is printed,
 * with the match count and a checksum of (rule, start, end) over all matches: the sensor
 * and the SOM variants must agree on both.
 */
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_corpus.h"
#include "dlp/match.h"
#include "dlp/rules.h"

#define PIECE 1448u
#define MAX_RUNS 99
#define NVAR 5

typedef struct pats {
    const char **expr;
    unsigned *flags;
    uint32_t *rule; /* pattern index -> rule index */
    unsigned n;
    const dlp_ruleset_t *rs;
} pats_t;

typedef struct variant {
    const char *name;
    unsigned mode; /* 0: the sensor's matcher */
    unsigned som;  /* HS_FLAG_SOM_LEFTMOST or 0 */
    hs_database_t *db;
    unsigned *ids; /* the ids compiled (subset when some failed) */
    unsigned nids;
    size_t state; /* bytes of stream state */
    int skip;
} variant_t;

typedef struct counter {
    uint64_t n, sum;
    const uint32_t *rule;
} counter_t;

static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void count(counter_t *c, uint32_t rule, uint64_t from, uint64_t to)
{
    c->n++;
    c->sum += mix(((uint64_t)rule << 48) ^ (from * 0x9e3779b97f4a7c15ULL) ^ mix(to));
}

static void sensor_cb(void *ctx, uint32_t rule, const uint8_t *win, size_t win_len, size_t start,
                      size_t end, uint64_t off)
{
    (void)win;
    (void)win_len;
    count(ctx, rule, off, off + (end - start));
}

static int hs_cb(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                 void *ctx)
{
    counter_t *c = ctx;

    (void)flags;
    count(c, c->rule[id], from, to);
    return 0;
}

/* --- compiling ------------------------------------------------------------------------------ */

static int collect(const dlp_ruleset_t *rs, pats_t *p)
{
    size_t n = 0;

    for (size_t i = 0; i < rs->n; i++)
        if (rs->rules[i].enabled)
            n += rs->rules[i].npatterns;
    p->expr = calloc(n + 1, sizeof(*p->expr));
    p->flags = calloc(n + 1, sizeof(*p->flags));
    p->rule = calloc(n + 1, sizeof(*p->rule));
    p->rs = rs;
    if (!p->expr || !p->flags || !p->rule)
        return -1;
    for (size_t i = 0; i < rs->n; i++) {
        const dlp_rule_t *r = &rs->rules[i];
        unsigned f = HS_FLAG_DOTALL;
        if (!r->enabled)
            continue;
        if (r->flags & DLP_RULE_F_CASELESS)
            f |= HS_FLAG_CASELESS;
        if (r->flags & DLP_RULE_F_MULTILINE)
            f |= HS_FLAG_MULTILINE;
        for (size_t j = 0; j < r->npatterns; j++, p->n++) {
            p->expr[p->n] = r->patterns[j].expr;
            p->flags[p->n] = f;
            p->rule[p->n] = (uint32_t)i;
        }
    }
    return 0;
}

static hs_database_t *compile_ids(const pats_t *p, const variant_t *v, const unsigned *ids,
                                  unsigned n, hs_compile_error_t **ce)
{
    const char **e = calloc(n + 1, sizeof(*e));
    unsigned *f = calloc(n + 1, sizeof(*f));
    hs_database_t *db = NULL;

    *ce = NULL;
    if (e != NULL && f != NULL) {
        for (unsigned k = 0; k < n; k++) {
            e[k] = p->expr[ids[k]];
            f[k] = p->flags[ids[k]] | v->som;
        }
        if (hs_compile_multi(e, f, ids, n, v->mode, NULL, &db, ce) != HS_SUCCESS)
            db = NULL;
    }
    free(e);
    free(f);
    return db;
}

/* Compiles the variant; on failure, each pattern alone, reporting the bad ones. */
static void compile_variant(const pats_t *p, variant_t *v, hs_scratch_t **scr)
{
    hs_compile_error_t *ce = NULL;

    if (p->n == 0) {
        printf("%s: no enabled pattern: not measured\n", v->name);
        v->skip = 1;
        return;
    }
    v->ids = calloc(p->n + 1, sizeof(*v->ids));
    for (unsigned k = 0; v->ids != NULL && k < p->n; k++)
        v->ids[v->nids++] = k;
    v->db = v->ids ? compile_ids(p, v, v->ids, v->nids, &ce) : NULL;
    if (v->db == NULL) {
        printf("%s: the set does not compile: %s; pattern by pattern:\n", v->name,
               ce && ce->message ? ce->message : "?");
        hs_free_compile_error(ce);
        ce = NULL;
        v->nids = 0;
        for (unsigned k = 0; v->ids != NULL && k < p->n; k++) {
            hs_compile_error_t *e1 = NULL;
            hs_database_t *one = compile_ids(p, v, &k, 1, &e1);
            if (one == NULL)
                printf("  pattern %u (rule %s) FAILS: %s\n    %s\n", k,
                       p->rs->rules[p->rule[k]].name, e1 && e1->message ? e1->message : "?",
                       p->expr[k]);
            else
                v->ids[v->nids++] = k;
            hs_free_database(one);
            hs_free_compile_error(e1);
        }
        v->db = v->nids ? compile_ids(p, v, v->ids, v->nids, &ce) : NULL;
        if (v->db != NULL)
            printf("  %s runs with %u of %u patterns only\n", v->name, v->nids, p->n);
    }
    hs_free_compile_error(ce);
    if (v->db == NULL || hs_alloc_scratch(v->db, scr) != HS_SUCCESS ||
        hs_stream_size(v->db, &v->state) != HS_SUCCESS) {
        printf("%s: not measured\n", v->name);
        v->skip = 1;
    }
}

/* --- scanning ------------------------------------------------------------------------------- */

static int scan_sensor(const dlp_matcher_t *m, dlp_match_scratch_t *s, const bench_buf_t *b,
                       counter_t *c, size_t *mem)
{
    dlp_match_stream_t *st = dlp_match_stream_open(m);

    if (st == NULL)
        return -1;
    *mem = dlp_match_stream_mem(st);
    for (size_t o = 0; o < b->len; o += PIECE) {
        size_t n = b->len - o < PIECE ? b->len - o : PIECE;
        if (dlp_match_stream_scan(st, s, b->p + o, n, sensor_cb, c) != DLP_OK) {
            dlp_match_stream_close(st, NULL, NULL, NULL);
            return -1;
        }
    }
    dlp_match_stream_close(st, s, sensor_cb, c);
    return 0;
}

static int scan_hs(const variant_t *v, hs_scratch_t *scr, const bench_buf_t *b, counter_t *c)
{
    hs_stream_t *st = NULL;

    if (hs_open_stream(v->db, 0, &st) != HS_SUCCESS)
        return -1;
    for (size_t o = 0; o < b->len; o += PIECE) {
        unsigned n = (unsigned)(b->len - o < PIECE ? b->len - o : PIECE);
        if (hs_scan_stream(st, (const char *)b->p + o, n, 0, scr, hs_cb, c) != HS_SUCCESS) {
            (void)hs_close_stream(st, NULL, NULL, NULL);
            return -1;
        }
    }
    return hs_close_stream(st, scr, hs_cb, c) == HS_SUCCESS ? 0 : -1;
}

typedef struct env {
    const dlp_matcher_t *m;
    dlp_match_scratch_t *ms;
    hs_scratch_t *scr;
    const pats_t *p;
    variant_t *v;
    unsigned runs;
} env_t;

typedef struct result {
    double wall[MAX_RUNS], cpu[MAX_RUNS];
    counter_t c;
    size_t mem;
    int failed;
} result_t;

static void one_run(const env_t *e, unsigned k, const bench_buf_t *b, unsigned r, result_t *res)
{
    counter_t c = {.rule = e->p->rule};
    double w0 = bench_wall_s(), c0 = bench_cpu_s();
    int rc = k == 0 ? scan_sensor(e->m, e->ms, b, &c, &res->mem) : scan_hs(&e->v[k], e->scr, b, &c);

    res->cpu[r] = bench_cpu_s() - c0;
    res->wall[r] = bench_wall_s() - w0;
    res->c = c;
    if (rc != 0)
        res->failed = 1;
    if (k != 0)
        res->mem = e->v[k].state;
}

static void bench_corpus(const env_t *e, const char *name, const bench_buf_t *b)
{
    result_t res[NVAR];

    memset(res, 0, sizeof(res));
    if (b->len == 0) {
        printf("\ncorpus %s: empty, not measured\n", name);
        return;
    }
    for (unsigned r = 0; r < e->runs; r++)
        for (unsigned k = 0; k < NVAR; k++)
            if (!e->v[k].skip)
                one_run(e, k, b, r, &res[k]);
    printf("\ncorpus %s: %zu bytes, %u runs interleaved, median\n", name, b->len, e->runs);
    printf("  %-11s %8s %8s %8s %9s %9s %10s %16s %7s\n", "variant", "wall s", "MB/s", "CPU s",
           "CPU MB/s", "CPU s/GB", "matches", "checksum", "state B");
    for (unsigned k = 0; k < NVAR; k++) {
        if (e->v[k].skip || res[k].failed) {
            printf("  %-11s %s\n", e->v[k].name, e->v[k].skip ? "not measured" : "FAILED");
            continue;
        }
        double w = bench_median(res[k].wall, e->runs), c = bench_median(res[k].cpu, e->runs);
        double mb = (double)b->len / 1e6;
        printf("  %-11s %8.3f %8.1f %8.3f %9.1f %9.3f %10llu %016llx %7zu%s\n", e->v[k].name, w,
               mb / w, c, mb / c, c / (mb / 1e3), (unsigned long long)res[k].c.n,
               (unsigned long long)res[k].c.sum, res[k].mem, k == 1 ? "  (ends only)" : "");
    }
    fflush(stdout);
}

/* --- main ------------------------------------------------------------------------------------ */

typedef struct opts {
    const char *rules, *cap, *home;
    unsigned runs, lorem_mb, text_min;
} opts_t;

static int parse_args(int argc, char **argv, opts_t *o)
{
    int pos = 0;

    *o = (opts_t){.home = "10.", .runs = 5, .lorem_mb = 64, .text_min = 95};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--home-net-prefix") == 0 && i + 1 < argc)
            o->home = argv[++i];
        else if (strcmp(a, "--runs") == 0 && i + 1 < argc)
            o->runs = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "--lorem-mb") == 0 && i + 1 < argc)
            o->lorem_mb = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "--text-min") == 0 && i + 1 < argc)
            o->text_min = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (a[0] != '-' && pos < 2)
            *(pos++ == 0 ? &o->rules : &o->cap) = a;
        else
            return -1;
    }
    return pos == 2 && o->runs >= 1 && o->runs <= MAX_RUNS && o->text_min <= 100 ? 0 : -1;
}

static void print_sensor_state(const dlp_matcher_t *m, unsigned npat)
{
    dlp_match_stream_t *probe = dlp_match_stream_open(m);

    printf("hyperscan %s; %u patterns; the sensor's stream: %zu B of Hyperscan state, "
           "%zu B in all with its %u-byte tail\n",
           hs_version(), npat, dlp_matcher_info(m)->stream_bytes,
           probe ? dlp_match_stream_mem(probe) : 0, (unsigned)DLP_MATCH_KEEP);
    dlp_match_stream_close(probe, NULL, NULL, NULL);
}

static variant_t *make_variants(void)
{
    static variant_t v[NVAR] = {
        {.name = "sensor"},
        {.name = "hs-nosom", .mode = HS_MODE_STREAM},
        {.name = "som-small",
         .mode = HS_MODE_STREAM | HS_MODE_SOM_HORIZON_SMALL,
         .som = HS_FLAG_SOM_LEFTMOST},
        {.name = "som-medium",
         .mode = HS_MODE_STREAM | HS_MODE_SOM_HORIZON_MEDIUM,
         .som = HS_FLAG_SOM_LEFTMOST},
        {.name = "som-large",
         .mode = HS_MODE_STREAM | HS_MODE_SOM_HORIZON_LARGE,
         .som = HS_FLAG_SOM_LEFTMOST},
    };
    return v;
}

static int load_corpora(const opts_t *o, bench_buf_t bufs[3])
{
    bench_homenet_t home;
    bench_egress_info_t info;
    long npii;

    if (bench_homenet_parse(o->home, &home) != 0 ||
        bench_egress_load(o->cap, &home, 0, &bufs[0], &info) != 0 ||
        bench_egress_load(o->cap, &home, o->text_min, &bufs[1], &info) != 0)
        return -1;
    printf("egress: %zu bytes; egress-text (packets >= %u %% printable): %zu bytes\n", bufs[0].len,
           o->text_min, bufs[1].len);
    npii = bench_lorem(&bufs[2], (size_t)o->lorem_mb * 1000000u, 1);
    if (npii < 0)
        return -1;
    printf("lorem: %zu bytes, %ld PII values (about one per %.1f KB)\n", bufs[2].len, npii,
           npii ? (double)bufs[2].len / 1e3 / (double)npii : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const cname[3] = {"egress", "egress-text", "lorem"};
    opts_t o;
    bench_buf_t bufs[3] = {{0}, {0}, {0}};
    dlp_rules_errors_t err = {0};
    dlp_ruleset_t *rs = NULL;
    dlp_matcher_t *m = NULL;
    pats_t p = {0};
    env_t e = {0};
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: som_vs_tail RULES_PATH CAPTURE [--home-net-prefix 10.] "
                        "[--runs 5] [--lorem-mb 64] [--text-min 95]\n");
        return 2;
    }
    rs = dlp_rules_load((const char *const *)&o.rules, 1, &err);
    m = rs ? dlp_matcher_new(rs, NULL, &err) : NULL;
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "som_vs_tail: %s\n", err.msg[i]);
    if (rs == NULL || collect(rs, &p) != 0)
        goto out;
    e = (env_t){.m = m, .p = &p, .v = make_variants(), .runs = o.runs};
    if (m == NULL || (e.ms = dlp_match_scratch_new(m)) == NULL) {
        /* the Hyperscan variants still say which patterns fail to compile, and how */
        printf("sensor: the matcher refused the rules (above): not measured\n");
        e.v[0].skip = 1;
    } else {
        print_sensor_state(m, p.n);
    }
    for (unsigned k = 1; k < NVAR; k++)
        compile_variant(&p, &e.v[k], &e.scr);
    if (load_corpora(&o, bufs) != 0)
        goto out;
    for (unsigned c = 0; c < 3; c++)
        bench_corpus(&e, cname[c], &bufs[c]);
    rc = 0;
out:
    for (unsigned k = 1; e.v != NULL && k < NVAR; k++) {
        hs_free_database(e.v[k].db);
        free(e.v[k].ids);
    }
    hs_free_scratch(e.scr);
    dlp_match_scratch_free(e.ms);
    free(p.expr);
    free(p.flags);
    free(p.rule);
    dlp_matcher_free(m);
    dlp_ruleset_free(rs);
    dlp_rules_errors_fini(&err);
    for (unsigned c = 0; c < 3; c++)
        bench_buf_free(&bufs[c]);
    return rc;
}
