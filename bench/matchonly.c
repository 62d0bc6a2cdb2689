/*
 * matchonly - "matching alone": the sensor's matcher over the egress payload bytes of a
 * capture, with nothing else around it (bench/README.md).
 *
 *   matchonly CAPTURE RULES_PATH [--home-net-prefix 10.] [--cache DIR] [--runs 3]
 *
 * The TCP and UDP payload of every packet going from the home network to outside is
 * concatenated in memory (file order, no reassembly: bench/gen_capture writes few
 * retransmissions and out-of-order segments). The rules are loaded and the matcher built
 * as the sensor builds them (dlp_rules_load, dlp_matcher_new; no cache unless --cache).
 * Then, each timed --runs times (median; CLOCK_MONOTONIC and CLOCK_PROCESS_CPUTIME_ID):
 *   block   dlp_match_block over the buffer in 64 KiB pieces (the block SOM database)
 *   stream  one dlp_match_stream, written in 1448-byte pieces, then closed (the streaming
 *           SOM database and the per-stream tail, as the sensor runs them)
 * The callback only counts. Prints one key=value line per figure (run.sh parses them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_corpus.h"
#include "dlp/match.h"
#include "dlp/rules.h"

#define BLOCK_PIECE (64u * 1024)
#define STREAM_PIECE 1448u
#define MAX_RUNS 99

typedef struct opts {
    const char *cap, *rules, *cache, *home;
    unsigned runs;
} opts_t;

static void count_cb(void *ctx, uint32_t rule, const uint8_t *win, size_t win_len, size_t start,
                     size_t end, uint64_t off)
{
    (void)rule;
    (void)win;
    (void)win_len;
    (void)start;
    (void)end;
    (void)off;
    (*(uint64_t *)ctx)++;
}

static int scan_block(const dlp_matcher_t *m, dlp_match_scratch_t *s, const bench_buf_t *b,
                      uint64_t *matches)
{
    for (size_t o = 0; o < b->len; o += BLOCK_PIECE) {
        size_t n = b->len - o < BLOCK_PIECE ? b->len - o : BLOCK_PIECE;
        if (dlp_match_block(m, s, b->p + o, n, o, count_cb, matches) != DLP_OK)
            return -1;
    }
    return 0;
}

static int scan_stream(const dlp_matcher_t *m, dlp_match_scratch_t *s, const bench_buf_t *b,
                       uint64_t *matches)
{
    dlp_match_stream_t *st = dlp_match_stream_open(m);

    if (st == NULL)
        return -1;
    for (size_t o = 0; o < b->len; o += STREAM_PIECE) {
        size_t n = b->len - o < STREAM_PIECE ? b->len - o : STREAM_PIECE;
        if (dlp_match_stream_scan(st, s, b->p + o, n, count_cb, matches) != DLP_OK) {
            dlp_match_stream_close(st, NULL, NULL, NULL);
            return -1;
        }
    }
    dlp_match_stream_close(st, s, count_cb, matches);
    return 0;
}

typedef int (*scan_fn)(const dlp_matcher_t *, dlp_match_scratch_t *, const bench_buf_t *,
                       uint64_t *);

static int timed(const char *mode, scan_fn fn, const dlp_matcher_t *m, dlp_match_scratch_t *s,
                 const bench_buf_t *b, unsigned runs)
{
    double wall[MAX_RUNS], cpu[MAX_RUNS];
    uint64_t matches = 0;

    for (unsigned r = 0; r < runs; r++) {
        double w0 = bench_wall_s(), c0 = bench_cpu_s();
        matches = 0;
        if (fn(m, s, b, &matches) != 0) {
            fprintf(stderr, "matchonly: %s scan failed\n", mode);
            return -1;
        }
        cpu[r] = bench_cpu_s() - c0;
        wall[r] = bench_wall_s() - w0;
    }
    double w = bench_median(wall, runs), c = bench_median(cpu, runs);
    printf("mode=%s egress_bytes=%zu matches=%llu runs=%u wall_s=%.6f cpu_s=%.6f "
           "mb_per_s=%.1f cpu_s_per_gb=%.3f\n",
           mode, b->len, (unsigned long long)matches, runs, w, c,
           w > 0 ? (double)b->len / 1e6 / w : 0.0, b->len ? c / ((double)b->len / 1e9) : 0.0);
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    int pos = 0;

    *o = (opts_t){.home = "10.", .runs = 3};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--home-net-prefix") == 0 && i + 1 < argc) {
            o->home = argv[++i];
        } else if (strcmp(argv[i], "--cache") == 0 && i + 1 < argc) {
            o->cache = argv[++i];
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            o->runs = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (argv[i][0] != '-' && pos < 2) {
            *(pos++ == 0 ? &o->cap : &o->rules) = argv[i];
        } else {
            return -1;
        }
    }
    return pos == 2 && o->runs >= 1 && o->runs <= MAX_RUNS ? 0 : -1;
}

static void print_errors(const dlp_rules_errors_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        fprintf(stderr, "matchonly: %s\n", e->msg[i]);
}

int main(int argc, char **argv)
{
    opts_t o;
    bench_homenet_t home;
    bench_buf_t buf = {0};
    bench_egress_info_t info;
    dlp_rules_errors_t err = {0};
    dlp_ruleset_t *rs = NULL;
    dlp_matcher_t *m = NULL;
    dlp_match_scratch_t *s = NULL;
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0 || bench_homenet_parse(o.home, &home) != 0) {
        fprintf(stderr, "usage: matchonly CAPTURE RULES_PATH [--home-net-prefix 10.] "
                        "[--cache DIR] [--runs N]\n");
        return 2;
    }
    double t0 = bench_wall_s();
    if (bench_egress_load(o.cap, &home, 0, &buf, &info) != 0)
        goto out;
    printf("capture=%s packets=%llu egress_packets=%llu egress_bytes=%zu tcp_bytes=%llu "
           "udp_bytes=%llu skipped=%llu load_s=%.3f\n",
           o.cap, (unsigned long long)info.packets, (unsigned long long)info.egress_pkts, buf.len,
           (unsigned long long)info.tcp_bytes, (unsigned long long)info.udp_bytes,
           (unsigned long long)info.skipped, bench_wall_s() - t0);
    rs = dlp_rules_load((const char *const *)&o.rules, 1, &err);
    if (rs != NULL)
        m = dlp_matcher_new(rs, o.cache, &err);
    if (m == NULL) {
        print_errors(&err);
        goto out;
    }
    const dlp_matcher_info_t *mi = dlp_matcher_info(m);
    printf("rules=%s patterns=%u compile_ms=%.1f from_cache=%d db_bytes=%zu stream_bytes=%zu "
           "scratch_bytes=%zu\n",
           o.rules, mi->patterns, mi->compile_ms, mi->from_cache, mi->db_bytes, mi->stream_bytes,
           mi->scratch_bytes);
    s = dlp_match_scratch_new(m);
    if (s == NULL) {
        fprintf(stderr, "matchonly: no memory for the scratch\n");
        goto out;
    }
    fflush(stdout);
    if (timed("block", scan_block, m, s, &buf, o.runs) != 0 ||
        timed("stream", scan_stream, m, s, &buf, o.runs) != 0)
        goto out;
    rc = 0;
out:
    dlp_match_scratch_free(s);
    dlp_matcher_free(m);
    dlp_ruleset_free(rs);
    dlp_rules_errors_fini(&err);
    bench_buf_free(&buf);
    return rc;
}
