/*
 * fuzz_detect.c - libFuzzer target for the detect stage through the real
 * matcher and validators, with the shipped rules ($DLP_SRC/rules, else the
 * source tree this was built from).
 *
 * Input: byte 0: bits 0-2 the number k-1 of chunk-size bytes that follow,
 * bit 7 also scan the body as a block in direction 1. Then k size bytes,
 * used in turn: 0 is a gap of (next size byte + 1) bytes (the first 64
 * times; then a write of 1 byte), 1..249 a write of
 * that many bytes, 250..255 a write of (z - 249) * 1000 bytes. The rest is
 * the body, written to one stream of one flow; then the stream is closed,
 * the flow reported and freed, and the ring drained.
 *
 * Checked: every record is a rule record of a loaded rule with NUL-
 * terminated strings, at most DLP_EV_MAX_MATCHES matches, 32 hex digits of
 * HMAC, offsets inside the stream; no scan error is counted.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/detect.h"
#include "dlp/match.h"
#include "dlp/rules.h"

#ifndef DLP_FUZZ_SRC
#define DLP_FUZZ_SRC "."
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[] = "fuzz-key";

static struct {
    dlp_ruleset_t *rs;
    dlp_matcher_t *m;
    dlp_ring_t *ring;
    dlp_stats_t st;
    dlp_detect_t *d;
} g;

static void teardown(void)
{
    dlp_detect_free(g.d);
    dlp_ring_free(g.ring);
    dlp_matcher_free(g.m);
    dlp_ruleset_free(g.rs);
}

static void setup(void)
{
    static char dir[512];
    const char *src = getenv("DLP_SRC");
    const char *paths[1] = {dir};
    dlp_rules_errors_t err = {0};

    snprintf(dir, sizeof(dir), "%s/rules", src != NULL ? src : DLP_FUZZ_SRC);
    g.rs = dlp_rules_load(paths, 1, &err);
    if (g.rs != NULL)
        g.m = dlp_matcher_new(g.rs, NULL, &err);
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "fuzz_detect: %s\n", err.msg[i]);
    dlp_rules_errors_fini(&err);
    if (g.m == NULL) {
        fprintf(stderr, "fuzz_detect: cannot load the rules of %s\n", dir);
        abort();
    }
    g.ring = dlp_ring_new(sizeof(dlp_event_t), 4096);
    dlp_stats_init(&g.st);
    g.d = dlp_detect_new(&(dlp_detect_params_t){
        .rules = g.rs,
        .matcher = g.m,
        .hmac_key = KEY,
        .hmac_key_len = sizeof(KEY) - 1,
        .events = g.ring,
        .wait = false,
        .stop = NULL,
        .stats = &g.st,
    });
    if (g.ring == NULL || g.d == NULL)
        abort();
    atexit(teardown);
}

static void check_rule_record(int type, const dlp_ev_rule_t *r, uint64_t stream_len)
{
    const dlp_rule_t *rule;

    if (memchr(r->name, '\0', sizeof(r->name)) == NULL || r->nmatches > DLP_EV_MAX_MATCHES)
        abort();
    rule = dlp_ruleset_find(g.rs, r->name);
    if (rule == NULL || rule->id != r->rule_id || !rule->enabled)
        abort();
    if (type == DLP_EV_DLP && (r->count < rule->threshold || r->nmatches == 0))
        abort();
    for (unsigned i = 0; i < r->nmatches; i++) {
        const dlp_ev_match_t *m = &r->m[i];
        if (memchr(m->masked, '\0', sizeof(m->masked)) == NULL || strlen(m->hmac) != 32 ||
            strspn(m->hmac, "0123456789abcdef") != 32 || m->dir > 1 || m->offset >= stream_len)
            abort();
    }
}

static void drain(uint64_t stream_len)
{
    static dlp_event_t ev;

    while (dlp_ring_pop(g.ring, &ev)) {
        if (ev.type != DLP_EV_DLP && ev.type != DLP_EV_FLOW_RULE)
            abort();
        check_rule_record(ev.type, &ev.u.rule, stream_len);
    }
}

/* Writes the body to one stream, in chunks and gaps from 'sizes'; returns the stream length. */
static uint64_t write_stream(dlp_detect_flow_t *df, const uint8_t *sizes, size_t k,
                             const uint8_t *body, size_t n)
{
    dlp_detect_stream_t *s = dlp_detect_stream_new(g.d, df, 0, DLP_FIELD_RAW, NULL);
    uint64_t total = 0;
    size_t pos = 0, i = 0, gaps = 0;

    if (s == NULL)
        abort();
    while (pos < n) {
        uint8_t z = sizes[i++ % k];
        if (z == 0 && gaps++ < 64) {
            uint64_t gap = (uint64_t)sizes[i++ % k] + 1;
            dlp_detect_gap(g.d, s, gap, 2000 + total);
            total += gap;
            continue;
        }
        size_t chunk = z == 0 ? 1 : z < 250 ? z : (size_t)(z - 249) * 1000;
        if (chunk > n - pos)
            chunk = n - pos;
        dlp_detect_write(g.d, s, body + pos, chunk, 2000 + total);
        pos += chunk;
        total += chunk;
    }
    dlp_detect_close(g.d, s, 3000);
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlp_ev_flowinfo_t fi;

    if (g.d == NULL)
        setup();
    if (size < 2)
        return 0;
    size_t k = (size_t)(data[0] & 7) + 1;
    if (size < 1 + k)
        return 0;
    const uint8_t *body = data + 1 + k;
    size_t n = size - 1 - k;

    memset(&fi, 0, sizeof(fi));
    fi.flow_id = 7;
    fi.src[15] = 1;
    fi.dst[15] = 2;
    fi.sport = 40000;
    fi.dport = 443;
    fi.proto = 6;
    dlp_detect_flow_t *df = dlp_detect_flow_new(g.d, &fi);
    if (df == NULL)
        abort();
    uint64_t len = write_stream(df, data + 1, k, body, n);
    if (data[0] & 0x80) {
        dlp_detect_block(g.d, df, 1, DLP_FIELD_RAW, body, n, 0, 4000);
        if (n > len)
            len = n;
    }
    dlp_detect_flow_report(g.d, df, 5000);
    dlp_detect_flow_free(g.d, df);
    drain(len);
    if (dlp_stat_get(&g.st, DLP_STAT_DETECT_SCAN_ERRORS) != 0)
        abort();
    return 0;
}
