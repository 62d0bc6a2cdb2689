/*
 * test_detect.c - the final stage: candidates -> validated, deduplicated,
 * thresholded values -> records; masks and keyed hashes; lookahead across
 * writes; gaps; blocks; and every shipped rule against its own examples
 * through the real matcher, validators and detect (split at every offset).
 */
#include "dlp_test.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dlp/detect.h"
#include "dlp/engine.h"
#include "dlp/limits.h"
#include "dlp/match.h"
#include "dlp/rules.h"

static const uint8_t KEY[] = "test-key";

typedef struct fx {
    dlp_ruleset_t *rs;
    dlp_matcher_t *m;
    dlp_ring_t *ring;
    dlp_stats_t st;
    dlp_detect_t *d;
} fx_t;

static dlp_ruleset_t *load_rules(const char *yaml)
{
    char dir[] = "/tmp/dlp-detect-XXXXXX", path[64];
    dlp_rules_errors_t err = {0};
    const char *p[1];
    dlp_ruleset_t *rs;
    FILE *f;

    if (yaml == NULL) {
        static char src[512];
        snprintf(src, sizeof(src), "%s/rules", getenv("DLP_SRC") ? getenv("DLP_SRC") : ".");
        p[0] = src;
        rs = dlp_rules_load(p, 1, &err);
    } else {
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/r.yaml", dir);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(yaml, f);
        fclose(f);
        p[0] = path;
        rs = dlp_rules_load(p, 1, &err);
        remove(path);
        rmdir(dir);
    }
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "%s\n", err.msg[i]);
    dlp_rules_errors_fini(&err);
    assert_non_null(rs);
    return rs;
}

static fx_t *fx_new(const char *yaml)
{
    fx_t *f = calloc(1, sizeof(*f));
    dlp_rules_errors_t err = {0};

    f->rs = load_rules(yaml);
    f->m = dlp_matcher_new(f->rs, NULL, &err);
    assert_non_null(f->m);
    f->ring = dlp_ring_new(sizeof(dlp_event_t), 4096);
    dlp_stats_init(&f->st);
    f->d = dlp_detect_new(&(dlp_detect_params_t){
        .rules = f->rs,
        .matcher = f->m,
        .hmac_key = KEY,
        .hmac_key_len = sizeof(KEY) - 1,
        .events = f->ring,
        .wait = false,
        .stop = NULL,
        .stats = &f->st,
    });
    assert_non_null(f->d);
    return f;
}

static void fx_free(fx_t *f)
{
    dlp_detect_free(f->d);
    dlp_ring_free(f->ring);
    dlp_matcher_free(f->m);
    dlp_ruleset_free(f->rs);
    free(f);
}

/* A flow from 10..1 to 10..2, port 80; flow_id() for another flow of that pair. */
static dlp_detect_flow_t *flow_id(fx_t *f, uint64_t id)
{
    dlp_ev_flowinfo_t fi;

    memset(&fi, 0, sizeof(fi));
    fi.flow_id = id;
    fi.src[15] = 1;
    fi.dst[15] = 2;
    fi.sport = 1111;
    fi.dport = 80;
    fi.proto = 6;
    return dlp_detect_flow_new(f->d, &fi);
}

static dlp_detect_flow_t *flow(fx_t *f)
{
    return flow_id(f, 42);
}

/* t.tok: tokens counted in a flow (threshold) and to one receiver (aggregate). */
#define TOK_RULE(threshold, values)                                                       \
    "  - id: 7\n"                                                                         \
    "    name: t.tok\n"                                                                   \
    "    description: tokens, in a flow or to one receiver\n"                             \
    "    category: secret\n"                                                              \
    "    severity: high\n"                                                                \
    "    patterns: ['\\btok-[0-9]{4}\\b']\n"                                             \
    "    threshold: " #threshold "\n"                                                     \
    "    aggregate: {values: " #values ", window: 10m}\n"

/* Records of type 'type' drained from the ring into out[]; returns how many. */
static size_t drain(fx_t *f, int type, dlp_event_t *out, size_t cap)
{
    static dlp_event_t ev;
    size_t n = 0;

    while (dlp_ring_pop(f->ring, &ev))
        if (ev.type == type && n < cap)
            out[n++] = ev;
    return n;
}

static void expect_hmac(const char *norm, const char *hex)
{
    unsigned char md[32];
    unsigned int len = 0;
    char want[33];

    HMAC(EVP_sha256(), KEY, sizeof(KEY) - 1, (const unsigned char *)norm, strlen(norm), md,
         &len);
    for (int i = 0; i < 16; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(hex, want);
}

/* Writes 'text' to a new stream of a new flow in writes of 'chunk' bytes; closes; reports. */
static dlp_detect_flow_t *scan_text(fx_t *f, const char *text, size_t chunk)
{
    dlp_detect_flow_t *df = flow(f);
    dlp_detect_stream_t *s = dlp_detect_stream_new(f->d, df, 0, DLP_FIELD_RAW, NULL);
    size_t n = strlen(text);

    for (size_t o = 0; o < n; o += chunk)
        dlp_detect_write(f->d, s, (const uint8_t *)text + o, n - o < chunk ? n - o : chunk, 7);
    dlp_detect_close(f->d, s, 9);
    return df;
}

static void card_event_masked_and_hashed(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_event_t ev[4];
    dlp_detect_flow_t *df;

    (void)state;
    df = scan_text(f, "pay with 4539 1488 0343 6467 today", 1000);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_string_equal(ev[0].u.rule.name, "pii.credit_card");
    assert_int_equal(ev[0].u.rule.rule_id, 1001);
    assert_int_equal(ev[0].u.rule.count, 1);
    assert_int_equal(ev[0].u.rule.nmatches, 1);
    assert_string_equal(ev[0].u.rule.m[0].masked, "453914******6467");
    assert_int_equal(ev[0].u.rule.m[0].offset, 9);
    expect_hmac("4539148803436467", ev[0].u.rule.m[0].hmac);
    assert_int_equal(ev[0].ts_us, 7);
    assert_int_equal(ev[0].fl.flow_id, 42);
    assert_int_equal(dlp_detect_flow_alerts(df), 1);
    assert_int_equal(dlp_stat_get(&f->st, DLP_STAT_ALERTS), 1);
    /* Nothing of the raw value in the record beyond its mask. */
    assert_null(memmem(&ev[0], sizeof(ev[0]), "1488", 4));
    assert_null(memmem(&ev[0], sizeof(ev[0]), "0343", 4));
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

static void email_counted_once_whatever_the_split(void **state)
{
    static const char text[] = "From: alice.martin@mail.example.co.uk, to bob@example.org.";
    fx_t *f = fx_new(NULL);
    dlp_event_t ev[8];

    (void)state;
    for (size_t chunk = 1; chunk <= sizeof(text); chunk++) {
        dlp_detect_flow_t *df = scan_text(f, text, chunk);
        dlp_detect_flow_report(f->d, df, 1);
        assert_int_equal(drain(f, DLP_EV_FLOW_RULE, ev, 8), 1);
        assert_string_equal(ev[0].u.rule.name, "pii.email");
        /* one value per address: a shorter domain reported earlier is not another */
        assert_int_equal(ev[0].u.rule.count, 2);
        assert_string_equal(ev[0].u.rule.m[0].masked, "a***@mail.example.co.uk");
        assert_int_equal(ev[0].u.rule.m[0].offset, 6);
        expect_hmac("alice.martin@mail.example.co.uk", ev[0].u.rule.m[0].hmac);
        assert_string_equal(ev[0].u.rule.m[1].masked, "b***@example.org");
        dlp_detect_flow_free(f->d, df);
    }
    fx_free(f);
}

static void threshold_and_later_values(void **state)
{
    static const char yaml[] =
        "rules:\n"
        "  - id: 7\n"
        "    name: t.card\n"
        "    description: cards, three before an alert\n"
        "    category: linked\n"
        "    severity: high\n"
        "    patterns: ['\\b4[0-9]{15}\\b']\n"
        "    validator: luhn\n"
        "    threshold: 3\n";
    fx_t *f = fx_new(yaml);
    dlp_event_t ev[4];
    dlp_detect_flow_t *df;

    (void)state;
    /* two distinct values (one repeated): below the threshold */
    df = scan_text(f, "4539148803436467 4539148803436467 4526018159083012 ", 1000);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 0);
    dlp_detect_flow_free(f->d, df);
    /* a third distinct value raises one event; a fourth, well after it, only counts
     * (values decided while the event waits for its write's lookahead would join it) */
    df = scan_text(f, "4539148803436467 4526018159083012 4661318609139090 4222222222222 "
                      "................................................................."
                      "................................................................."
                      "................................................................."
                      "................................................................."
                      "................................................................."
                      "................................................................."
                      "4916338506082832 x",
                   5);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_int_equal(ev[0].u.rule.count, 3);
    assert_int_equal(ev[0].u.rule.nmatches, 3);
    dlp_detect_flow_report(f->d, df, 1);
    assert_int_equal(drain(f, DLP_EV_FLOW_RULE, ev, 4), 1);
    assert_int_equal(ev[0].u.rule.count, 4);
    assert_int_equal(ev[0].u.rule.nmatches, 4);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

static void values_of_one_write_share_the_event(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_event_t ev[4];
    dlp_detect_flow_t *df;

    (void)state;
    /* threshold 1 is met by the first card; the others arrive in the same write, the
     * last one with too few bytes after it to be decided at once */
    df = scan_text(f, "a 4539148803436467 b 4526018159083012 c 4661318609139090", 1000);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_int_equal(ev[0].u.rule.count, 3);
    assert_int_equal(ev[0].u.rule.nmatches, 3);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/*
 * The values of the write that met the threshold share its event also when
 * another stream of the flow (the answer) is written before the last of them
 * has its lookahead.
 */
static void values_of_one_write_share_the_event_across_streams(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_detect_flow_t *df = flow(f);
    dlp_detect_stream_t *a = dlp_detect_stream_new(f->d, df, 0, DLP_FIELD_RAW, NULL);
    dlp_detect_stream_t *b = dlp_detect_stream_new(f->d, df, 1, DLP_FIELD_RAW, NULL);
    char buf[300];
    dlp_event_t ev[4];

    (void)state;
    memset(buf, '.', sizeof(buf));
    memcpy(buf + 2, "4539148803436467", 16);                    /* decided at once */
    memcpy(buf + sizeof(buf) - 17, "4526018159083012", 16);     /* waits for its lookahead */
    dlp_detect_write(f->d, a, (const uint8_t *)buf, sizeof(buf), 1);
    dlp_detect_write(f->d, b, DLP_STR_BYTES("HTTP/1.1 200 OK\r\n"), 2);
    dlp_detect_close(f->d, a, 3);
    dlp_detect_close(f->d, b, 3);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_int_equal(ev[0].u.rule.count, 2);
    assert_int_equal(ev[0].u.rule.nmatches, 2);
    assert_int_equal(ev[0].ts_us, 1);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/*
 * A settle decides what waits for the bytes after a value (the card's \b, its
 * lookahead) at once; the same value confirmed by the next write is not
 * counted again, and a value spanning the settle is still found.
 */
static void settle_reports_the_last_value_now(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_event_t ev[4];
    dlp_detect_flow_t *df = flow(f);
    dlp_detect_stream_t *s = dlp_detect_stream_new(f->d, df, 0, DLP_FIELD_RAW, NULL);

    (void)state;
    dlp_detect_write(f->d, s, DLP_STR_BYTES("PUT card 4539148803436467"), 1);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 0);
    dlp_detect_settle(f->d, s, 2);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_string_equal(ev[0].u.rule.m[0].masked, "453914******6467");
    assert_int_equal(ev[0].ts_us, 2); /* held back for its \b: seen at the settle */
    dlp_detect_write(f->d, s, DLP_STR_BYTES("\nPUT ssn 536-22-"), 3);
    dlp_detect_settle(f->d, s, 4);
    dlp_detect_write(f->d, s, DLP_STR_BYTES("8417\n"), 5);
    dlp_detect_close(f->d, s, 6);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_string_equal(ev[0].u.rule.m[0].masked, "*****8417");
    assert_int_equal(dlp_stat_get(&f->st, DLP_STAT_DETECT_SCAN_ERRORS), 0);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

static void gap_breaks_values(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_event_t ev[4];
    dlp_detect_flow_t *df = flow(f);
    dlp_detect_stream_t *s = dlp_detect_stream_new(f->d, df, 1, DLP_FIELD_RAW, NULL);

    (void)state;
    dlp_detect_write(f->d, s, DLP_STR_BYTES("card 45391488"), 1);
    dlp_detect_gap(f->d, s, 100, 2);
    dlp_detect_write(f->d, s, DLP_STR_BYTES("03436467 end"), 3);
    dlp_detect_close(f->d, s, 4);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 0);
    /* values after the gap are found at their true offset */
    s = dlp_detect_stream_new(f->d, df, 1, DLP_FIELD_RAW, NULL);
    dlp_detect_write(f->d, s, DLP_STR_BYTES("abc"), 1);
    dlp_detect_gap(f->d, s, 100, 2);
    dlp_detect_write(f->d, s, DLP_STR_BYTES("ssn 536-22-8417."), 3);
    dlp_detect_close(f->d, s, 4);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_int_equal(ev[0].u.rule.m[0].offset, 107);
    assert_string_equal(ev[0].u.rule.m[0].masked, "*****8417");
    /* dir 1: the sender of the bytes is the flow's responder */
    assert_int_equal(ev[0].fl.src[15], 2);
    assert_int_equal(ev[0].fl.sport, 80);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

static void block_and_rule_stats(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_event_t ev[4];
    dlp_detect_flow_t *df = flow(f);
    size_t nr = 0;
    const _Atomic uint64_t *rst;
    const dlp_rule_t *card = dlp_ruleset_find(f->rs, "pii.credit_card");
    size_t ci = (size_t)(card - f->rs->rules);

    (void)state;
    dlp_detect_block(f->d, df, 0, DLP_FIELD_RAW,
                     DLP_STR_BYTES("4539148803436468 AKIAIOSFODNN7EXAMPLE"), 500, 1);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_string_equal(ev[0].u.rule.name, "secret.aws_access_key");
    assert_int_equal(ev[0].u.rule.m[0].offset, 517);
    rst = dlp_detect_rule_stats(f->d, &nr);
    assert_int_equal(nr, f->rs->n);
    /* the Luhn-invalid card is a candidate the validator refused */
    assert_int_equal(rst[ci * DLP_RSTAT__COUNT + DLP_RSTAT_CANDIDATES], 1);
    assert_int_equal(rst[ci * DLP_RSTAT__COUNT + DLP_RSTAT_REJECTED], 1);
    assert_int_equal(rst[ci * DLP_RSTAT__COUNT + DLP_RSTAT_VALUES], 0);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

static void private_key_begin_line(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_event_t ev[4];
    dlp_detect_flow_t *df;

    (void)state;
    df = scan_text(f, "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", 3);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_string_equal(ev[0].u.rule.name, "secret.private_key");
    assert_string_equal(ev[0].u.rule.m[0].masked, "----************");
    expect_hmac("-----BEGIN OPENSSH PRIVATE KEY-----", ev[0].u.rule.m[0].hmac);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

static void distinct_values_are_bounded(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_detect_flow_t *df = flow(f);
    dlp_detect_stream_t *s = dlp_detect_stream_new(f->d, df, 0, DLP_FIELD_RAW, NULL);
    dlp_event_t ev[2];
    char buf[64];
    size_t mem0;

    (void)state;
    for (int i = 0; i < DLP_DETECT_MAX_DISTINCT + 500; i++) {
        int n = snprintf(buf, sizeof(buf), " u%d@example.com ", i);
        dlp_detect_write(f->d, s, (const uint8_t *)buf, (size_t)n, 1);
    }
    mem0 = dlp_detect_flow_mem(df);
    /* memory stops growing at the bound; the count goes on */
    for (int i = 0; i < 500; i++) {
        int n = snprintf(buf, sizeof(buf), " v%d@example.com ", i);
        dlp_detect_write(f->d, s, (const uint8_t *)buf, (size_t)n, 1);
    }
    assert_int_equal(dlp_detect_flow_mem(df), mem0);
    /* The pattern ends twice in each of these ("w0@mail.example" and
     * "w0@mail.example.com"): past the bound too, one address counts once. */
    for (int i = 0; i < 100; i++) {
        int n = snprintf(buf, sizeof(buf), " w%d@mail.example.com ", i);
        dlp_detect_write(f->d, s, (const uint8_t *)buf, (size_t)n, 1);
    }
    dlp_detect_close(f->d, s, 2);
    while (drain(f, DLP_EV_DLP, ev, 2) > 0)
        ;
    dlp_detect_flow_report(f->d, df, 3);
    assert_int_equal(drain(f, DLP_EV_FLOW_RULE, ev, 2), 1);
    assert_int_equal(ev[0].u.rule.count, DLP_DETECT_MAX_DISTINCT + 1100);
    assert_int_equal(ev[0].u.rule.nmatches, DLP_EV_MAX_MATCHES);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/*
 * aggregate: counts kept by the caller (the worker) outlive a rule
 * generation: after a reload that moved the rule to another index, the
 * third distinct value across flows still raises the event. The counts are
 * keyed by the rule's slot, which names keep over reloads.
 */
static void aggregate_counts_outlive_a_reload(void **state)
{
    static const char one[] = "rules:\n" TOK_RULE(10, 3);
    static const char two[] = "rules:\n"
                              "  - id: 8\n"
                              "    name: t.other\n"
                              "    description: a rule before it moves its index\n"
                              "    category: secret\n"
                              "    severity: low\n"
                              "    patterns: ['\\bzzq-[0-9]{4}\\b']\n" TOK_RULE(10, 3);
    static const uint32_t slots1[] = {0}, slots2[] = {1, 0};
    fx_t *g1 = fx_new(one), *g2 = fx_new(two);
    dlp_agg_t *agg = NULL;
    dlp_detect_t *d[2];
    dlp_event_t ev[4];

    (void)state;
    for (int i = 0; i < 2; i++) {
        fx_t *f = i == 0 ? g1 : g2;
        d[i] = dlp_detect_new(&(dlp_detect_params_t){.rules = f->rs,
                                                     .matcher = f->m,
                                                     .hmac_key = KEY,
                                                     .hmac_key_len = sizeof(KEY) - 1,
                                                     .events = f->ring,
                                                     .stats = &f->st,
                                                     .slots = i == 0 ? slots1 : slots2,
                                                     .agg = &agg});
        assert_non_null(d[i]);
        /* the fixture's own detect goes; this one takes its place */
        dlp_detect_free(f->d);
        f->d = d[i];
    }
    assert_non_null(agg);
    /* generation 1: two values in one flow */
    dlp_detect_flow_free(g1->d, scan_text(g1, "tok-0001 tok-0002", 100));
    assert_int_equal(drain(g1, DLP_EV_DLP, ev, 4), 0);
    /* generation 1 is gone (its last flow ended): the counts are not its */
    dlp_detect_free(g1->d);
    g1->d = NULL;
    /* generation 2 (the rule is now index 1): a third value, another flow */
    dlp_detect_flow_free(g2->d, scan_text(g2, "tok-0003", 100));
    assert_int_equal(drain(g2, DLP_EV_DLP, ev, 4), 1);
    assert_string_equal(ev[0].u.rule.name, "t.tok");
    assert_int_equal(ev[0].u.rule.agg_values, 3);
    fx_free(g1);
    fx_free(g2);
    dlp_detect_agg_free(agg);
}

/*
 * aggregate: the value that brings the count across flows to 'values' may
 * come in a flow that already raised the rule (a long upload that met its
 * own threshold first). That flow cannot raise it again (one dlp event per
 * flow and rule), and the count must not be lost: the next value to the same
 * receiver in another flow raises it.
 */
static void aggregate_met_in_a_flow_that_already_alerted(void **state)
{
    fx_t *f = fx_new("rules:\n" TOK_RULE(2, 4));
    dlp_detect_flow_t *a = flow_id(f, 1), *b = flow_id(f, 2);
    dlp_event_t ev[4];

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    dlp_detect_block(f->d, a, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0001 tok-0002"), 0, 1);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1); /* a's own threshold */
    assert_int_equal(ev[0].u.rule.agg_values, 0);
    dlp_detect_block(f->d, b, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0003"), 0, 2);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 0);
    /* the fourth value to the receiver, in a: a has raised the rule */
    dlp_detect_block(f->d, a, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0004"), 100, 3);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 0);
    assert_int_equal(dlp_detect_flow_alerts(a), 1);
    /* the next one, in b, raises it there */
    dlp_detect_block(f->d, b, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0005"), 100, 4);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    assert_int_equal(ev[0].fl.flow_id, 2);
    assert_int_equal(ev[0].u.rule.count, 2);
    assert_int_equal(ev[0].u.rule.agg_values, 4);
    assert_int_equal(ev[0].u.rule.agg_flows, 2);
    dlp_detect_flow_free(f->d, a);
    dlp_detect_flow_free(f->d, b);
    fx_free(f);
}

/* The same in one block scan (a decoded copy, a datagram): one address, one value. */
static void block_value_counted_once_past_the_bound(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_detect_flow_t *df = flow(f);
    size_t n = 0, cap = 40 * (DLP_DETECT_MAX_DISTINCT + 100);
    char *buf = malloc(cap);
    dlp_event_t ev[2];

    (void)state;
    for (int i = 0; i < DLP_DETECT_MAX_DISTINCT + 100; i++)
        n += (size_t)snprintf(buf + n, cap - n, " w%d@mail.example.com ", i);
    dlp_detect_block(f->d, df, 0, DLP_FIELD_RAW, (const uint8_t *)buf, n, 0, 1);
    while (drain(f, DLP_EV_DLP, ev, 2) > 0)
        ;
    dlp_detect_flow_report(f->d, df, 2);
    assert_int_equal(drain(f, DLP_EV_FLOW_RULE, ev, 2), 1);
    assert_int_equal(ev[0].u.rule.count, DLP_DETECT_MAX_DISTINCT + 100);
    free(buf);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/* --- the shipped rules against their own examples ------------------------- */

/* Distinct values of rule 'name' found in 'text' written in 'chunk'-byte writes. */
static uint32_t values_of(fx_t *f, const char *name, const char *text, size_t chunk)
{
    static dlp_event_t ev[32];
    dlp_detect_flow_t *df = scan_text(f, text, chunk);
    uint32_t count = 0;
    size_t n;

    dlp_detect_flow_report(f->d, df, 1);
    n = drain(f, DLP_EV_FLOW_RULE, ev, 32);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ev[i].u.rule.name, name) == 0)
            count = ev[i].u.rule.count;
    dlp_detect_flow_free(f->d, df);
    return count;
}

static int check_example(fx_t *f, const dlp_rule_t *r, const char *ex, bool should)
{
    uint32_t whole = values_of(f, r->name, ex, strlen(ex) + 1);
    int bad = 0;

    if ((whole > 0) != should) {
        fprintf(stderr, "%s:%u: rule %s: %s example \"%s\" gave %u values\n", r->file, r->line,
                r->name, should ? "match" : "no_match", ex, whole);
        return 1;
    }
    for (size_t chunk = 1; chunk < strlen(ex); chunk++) {
        uint32_t got = values_of(f, r->name, ex, chunk);
        if (got != whole) {
            fprintf(stderr, "%s:%u: rule %s: example \"%s\": %u values in %zu-byte writes, "
                            "%u in one\n",
                    r->file, r->line, r->name, ex, got, chunk, whole);
            bad = 1;
            break;
        }
    }
    return bad;
}

/*
 * A 'value: field' rule reports what the field holds, all its words: a
 * category of several words ("Hispanic or Latino") is one value, hashed and
 * masked whole, not its first keyword, whatever the split of the writes.
 */
static void linkable_value_is_the_whole_field(void **state)
{
    static const struct {
        const char *rule, *text, *value, *masked;
    } cases[] = {
        {"pii.ethnicity", "{\"name\":\"Ana Ruiz\",\"ethnicity\":\"Hispanic or Latino\"}",
         "Hispanic or Latino", "H************"},
        {"pii.ethnicity", "<EthnicGroup>Black Caribbean</EthnicGroup>", "Black Caribbean",
         "B************"},
        {"pii.ethnicity", "\"ethnic_origin\": \"Mixed - White and Asian\"",
         "Mixed - White and Asian", "M************"},
        {"pii.ethnicity", "race=White British&sex=F", "White British", "W************"},
        {"pii.ethnicity", "ethnicity=prefer not to say", "prefer not to say",
         "p************"},
        {"pii.ethnicity", "patient_race: Asian\nage: 41\n", "Asian", "A****"},
        {"pii.country_of_birth", "{\"country_of_birth\":\"United Kingdom\"}",
         "United Kingdom", "U************"},
        {"pii.gender", "gender=non-binary", "non-binary", "n*********"},
    };
    static dlp_event_t ev[8];
    fx_t *f = fx_new(NULL);

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].text);
        for (size_t chunk = 1; chunk <= len; chunk++) {
            dlp_detect_flow_t *df = scan_text(f, cases[i].text, chunk);
            size_t n, found = 0;

            dlp_detect_flow_report(f->d, df, 1);
            n = drain(f, DLP_EV_FLOW_RULE, ev, 8);
            for (size_t k = 0; k < n; k++) {
                if (strcmp(ev[k].u.rule.name, cases[i].rule) != 0)
                    continue;
                found++;
                if (ev[k].u.rule.count != 1 ||
                    strcmp(ev[k].u.rule.m[0].masked, cases[i].masked) != 0)
                    fprintf(stderr, "%s in \"%s\" (%zu-byte writes): %u values, %s\n",
                            cases[i].rule, cases[i].text, chunk, ev[k].u.rule.count,
                            ev[k].u.rule.m[0].masked);
                assert_int_equal(ev[k].u.rule.count, 1);
                assert_string_equal(ev[k].u.rule.m[0].masked, cases[i].masked);
                expect_hmac(cases[i].value, ev[k].u.rule.m[0].hmac);
            }
            assert_int_equal(found, 1);
            dlp_detect_flow_free(f->d, df);
        }
    }
    fx_free(f);
}

/* Three linkable rules (weights 2, 1, 1), a linked one, and the combination (k = 3). */
static const char COMBO_YAML[] =
    "rules:\n"
    "  - {id: 1, name: t.dob, description: d, category: linkable, severity: low,\n"
    "     patterns: ['dob=[0-9]{4}-[0-9]{2}-[0-9]{2}']}\n"
    "  - {id: 2, name: t.zip, description: d, category: linkable, severity: low,\n"
    "     patterns: ['zip=[0-9]{5}']}\n"
    "  - {id: 3, name: t.gender, description: d, category: linkable, severity: low,\n"
    "     patterns: ['gender=(male|female)']}\n"
    "  - {id: 4, name: t.card, description: d, category: linked, severity: high,\n"
    "     patterns: ['\\b4[0-9]{15}\\b'], validator: luhn}\n"
    "  - id: 5\n"
    "    name: t.reid\n"
    "    description: d\n"
    "    category: linkable\n"
    "    severity: medium\n"
    "    combination: {min_weight: 3, rules: {t.dob: 2, t.zip: 1, t.gender: 1}}\n";

/* The combination's event in the ring (at most one), or NULL. */
static const dlp_event_t *reid_event(fx_t *f, dlp_event_t *ev, size_t *nev)
{
    const dlp_event_t *found = NULL;

    *nev = drain(f, DLP_EV_DLP, ev, 8);
    for (size_t i = 0; i < *nev; i++)
        if (strcmp(ev[i].u.rule.name, "t.reid") == 0) {
            assert_null(found);
            found = &ev[i];
        }
    return found;
}

static void reidentification_k_minus_one_and_k(void **state)
{
    fx_t *f = fx_new(COMBO_YAML);
    dlp_event_t ev[8];
    const dlp_event_t *r;
    dlp_detect_flow_t *df;
    size_t n;

    (void)state;
    /* weight 2 (zip + gender, and the same zip again): k - 1, no event */
    df = scan_text(f, "zip=90210&gender=female&zip=90210&zip=90210", 7);
    r = reid_event(f, ev, &n);
    assert_null(r);
    assert_int_equal(n, 2); /* t.zip and t.gender: their own events (threshold 1) */
    dlp_detect_flow_free(f->d, df);
    /* dob alone weighs 2: dob + zip = 3, one event naming the categories, no values */
    df = scan_text(f, "dob=1984-03-12 zip=90210 gender=male", 5);
    r = reid_event(f, ev, &n);
    assert_non_null(r);
    assert_int_equal(r->u.rule.combination, 1);
    assert_int_equal(r->u.rule.count, 3); /* the third category joined before the flush */
    assert_int_equal(r->u.rule.nmatches, 3);
    assert_string_equal(r->u.rule.m[0].name, "t.dob");
    assert_string_equal(r->u.rule.m[1].name, "t.zip");
    assert_string_equal(r->u.rule.m[2].name, "t.gender");
    assert_int_equal(r->u.rule.severity, DLP_SEV_MEDIUM);
    assert_null(memmem(r, sizeof(*r), "1984", 4));
    assert_null(memmem(r, sizeof(*r), "90210", 5));
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

static void reidentification_with_a_linked_identifier_is_more_severe(void **state)
{
    fx_t *f = fx_new(COMBO_YAML);
    dlp_event_t ev[8];
    const dlp_event_t *r;
    dlp_detect_flow_t *df;
    size_t n;

    (void)state;
    df = scan_text(f, "card 4539148803436467 dob=1984-03-12 gender=female", 1000);
    r = reid_event(f, ev, &n);
    assert_non_null(r);
    assert_int_equal(r->u.rule.severity, DLP_SEV_HIGH);
    assert_int_equal(r->u.rule.count, 2);
    /* once per flow, however many more values come */
    {
        static const char more[] = "zip=10115 dob=1990-01-02 gender=male";
        dlp_detect_stream_t *s = dlp_detect_stream_new(f->d, df, 0, DLP_FIELD_RAW, NULL);
        dlp_detect_write(f->d, s, (const uint8_t *)more, sizeof(more) - 1, 8);
        dlp_detect_close(f->d, s, 9);
    }
    assert_null(reid_event(f, ev, &n));
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/*
 * A combination's fields decide where a linkable value counts towards it: a
 * value first seen where the combination does not look (the URI) and then
 * where it does (the body) counts there, although it is no new value of its
 * own rule by then.
 */
static void reidentification_counts_a_value_seen_again_where_it_counts(void **state)
{
    static const char yaml[] =
        "rules:\n"
        "  - {id: 1, name: t.dob, description: d, category: linkable, severity: low,\n"
        "     patterns: ['dob=[0-9]{4}-[0-9]{2}-[0-9]{2}']}\n"
        "  - {id: 2, name: t.zip, description: d, category: linkable, severity: low,\n"
        "     patterns: ['zip=[0-9]{5}']}\n"
        "  - id: 5\n"
        "    name: t.reid\n"
        "    description: d\n"
        "    category: linkable\n"
        "    severity: medium\n"
        "    fields: [http.body]\n"
        "    combination: {min_weight: 3, rules: {t.dob: 2, t.zip: 1}}\n";
    fx_t *f = fx_new(yaml);
    dlp_detect_flow_t *df = flow(f);
    dlp_event_t ev[8];
    const dlp_event_t *r;
    size_t n;

    (void)state;
    dlp_detect_block(f->d, df, 0, DLP_FIELD_HTTP_URI, DLP_STR_BYTES("dob=1984-03-12&zip=90210"),
                     0, 1);
    assert_null(reid_event(f, ev, &n));
    assert_int_equal(n, 2); /* t.dob and t.zip: their own events */
    dlp_detect_block(f->d, df, 0, DLP_FIELD_HTTP_BODY, DLP_STR_BYTES("dob=1984-03-12&zip=90210"),
                     100, 2);
    r = reid_event(f, ev, &n);
    assert_non_null(r);
    assert_int_equal(r->u.rule.count, 2);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/* More categories than the matches list holds: count is all of them. */
static void reidentification_count_past_the_matches_list(void **state)
{
    enum { K = DLP_EV_MAX_MATCHES + 2 };
    static char yaml[8192], text[512];
    size_t y = 0, t = 0;
    fx_t *f;
    dlp_detect_flow_t *df;
    dlp_event_t ev[K + 4];
    const dlp_event_t *r = NULL;
    size_t n;

    (void)state;
    y += (size_t)snprintf(yaml + y, sizeof(yaml) - y, "rules:\n");
    for (int i = 0; i < K; i++) {
        y += (size_t)snprintf(yaml + y, sizeof(yaml) - y,
                              "  - {id: %d, name: t.q%d, description: d, category: linkable,\n"
                              "     severity: low, patterns: ['q%d=[0-9]{3}']}\n",
                              i + 1, i, i);
        t += (size_t)snprintf(text + t, sizeof(text) - t, "q%d=123 ", i);
    }
    y += (size_t)snprintf(yaml + y, sizeof(yaml) - y,
                          "  - id: 99\n    name: t.reid\n    description: d\n"
                          "    category: linkable\n    severity: medium\n"
                          "    combination:\n      min_weight: %d\n      rules: [",
                          K);
    for (int i = 0; i < K; i++)
        y += (size_t)snprintf(yaml + y, sizeof(yaml) - y, "%st.q%d", i ? ", " : "", i);
    snprintf(yaml + y, sizeof(yaml) - y, "]\n");
    f = fx_new(yaml);
    df = flow(f);
    dlp_detect_block(f->d, df, 0, DLP_FIELD_RAW, (const uint8_t *)text, t, 0, 1);
    n = drain(f, DLP_EV_DLP, ev, K + 4);
    for (size_t i = 0; i < n; i++)
        if (strcmp(ev[i].u.rule.name, "t.reid") == 0)
            r = &ev[i];
    assert_non_null(r);
    assert_int_equal(r->u.rule.nmatches, DLP_EV_MAX_MATCHES);
    assert_int_equal(r->u.rule.count, K);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/*
 * Allow by host: only when every host named in the flow is allowed. A host
 * name too long to be remembered (or holding a NUL) is still one the flow
 * named, and it is not known to be allowed: values are reported.
 */
static void host_too_long_to_remember_is_not_allowed(void **state)
{
    static const char yaml[] = "rules:\n"
                               "  - id: 7\n"
                               "    name: t.tok\n"
                               "    description: tokens\n"
                               "    category: secret\n"
                               "    severity: high\n"
                               "    patterns: ['\\btok-[0-9]{4}\\b']\n"
                               "    allow: {hosts: ['*.example.com']}\n";
    fx_t *f = fx_new(yaml);
    dlp_detect_flow_t *df = flow(f);
    char host[DLP_RULE_HOST_MAX + 40];
    dlp_event_t ev[4];

    (void)state;
    memset(host, 'a', sizeof(host) - 1);
    memcpy(host + sizeof(host) - 1 - 9, ".evil.org", 9);
    host[sizeof(host) - 1] = '\0';
    dlp_detect_flow_add_host(df, "api.example.com", 15);
    dlp_detect_block(f->d, df, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0001"), 0, 1);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 0); /* allowed: its only host is */
    dlp_detect_flow_add_host(df, host, strlen(host));
    dlp_detect_block(f->d, df, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0002"), 100, 2);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    dlp_detect_flow_free(f->d, df);
    /* too long, though it ends in an allowed domain; passed without a NUL: the same */
    df = flow(f);
    dlp_detect_flow_add_host(df, "api.example.com", 15);
    memcpy(host + sizeof(host) - 12, ".example.com", 12); /* overwrites the NUL too */
    dlp_detect_flow_add_host(df, host, sizeof(host));
    dlp_detect_block(f->d, df, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0003"), 0, 1);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    dlp_detect_flow_free(f->d, df);
    /* a NUL inside: not the allowed name it starts with */
    df = flow(f);
    dlp_detect_flow_add_host(df, "api.example.com\0.evil.org", 25);
    dlp_detect_block(f->d, df, 0, DLP_FIELD_RAW, DLP_STR_BYTES("tok-0004"), 0, 1);
    assert_int_equal(drain(f, DLP_EV_DLP, ev, 4), 1);
    dlp_detect_flow_free(f->d, df);
    fx_free(f);
}

/*
 * Two patterns of a rule matching the same bytes are two candidates, one
 * value: the rule's counters say so however the bytes were split into
 * writes (the value decided at once, or waiting for its lookahead).
 */
static void same_match_of_two_patterns_counted_alike_whatever_the_split(void **state)
{
    /* without a validator (values), and with one that refuses them */
    static const char *const yaml[] = {
        "rules:\n"
        "  - {id: 7, name: t.tok, description: d, category: secret, severity: high,\n"
        "     patterns: ['\\btok-[0-9]{4}\\b', '\\bto[k]-[0-9]{4}\\b']}\n",
        "rules:\n"
        "  - {id: 7, name: t.tok, description: d, category: secret, severity: high,\n"
        "     patterns: ['\\btok-[0-9]{4}\\b', '\\bto[k]-[0-9]{4}\\b'], validator: luhn}\n",
    };
    static const char text[] = "tok-0001 tok-0002 ";
    char buf[512];
    size_t n = sizeof(text) - 1;

    (void)state;
    memcpy(buf, text, n);
    memset(buf + n, '.', 300);
    for (int y = 0; y < 2; y++) {
        uint64_t got[2][DLP_RSTAT__COUNT];

        for (int i = 0; i < 2; i++) {
            fx_t *f = fx_new(yaml[y]);
            dlp_detect_flow_t *df = flow(f);
            dlp_detect_stream_t *s = dlp_detect_stream_new(f->d, df, 0, DLP_FIELD_RAW, NULL);
            const _Atomic uint64_t *rst;
            size_t nr;

            /* i == 0: the lookahead is in the same write; 1: in the next one */
            if (i == 0) {
                dlp_detect_write(f->d, s, (const uint8_t *)buf, n + 300, 1);
            } else {
                dlp_detect_write(f->d, s, (const uint8_t *)buf, n, 1);
                dlp_detect_write(f->d, s, (const uint8_t *)buf + n, 300, 1);
            }
            dlp_detect_close(f->d, s, 2);
            rst = dlp_detect_rule_stats(f->d, &nr);
            for (int k = 0; k < DLP_RSTAT__COUNT; k++)
                got[i][k] = rst[k];
            dlp_detect_flow_free(f->d, df);
            fx_free(f);
        }
        for (int k = 0; k < DLP_RSTAT__COUNT; k++)
            assert_int_equal(got[1][k], got[0][k]);
        assert_int_equal(got[0][DLP_RSTAT_CANDIDATES], 4);
        assert_int_equal(got[0][DLP_RSTAT_VALUES], y == 0 ? 2 : 0);
    }
}

static void shipped_rules_examples(void **state)
{
    fx_t *f = fx_new(NULL);
    int bad = 0;
    size_t nex = 0;

    (void)state;
    assert_true(f->rs->n >= 6);
    for (size_t i = 0; i < f->rs->n; i++) {
        const dlp_rule_t *r = &f->rs->rules[i];
        if (r->combination.min_weight > 0)
            continue; /* no values of its own: tested with its parts below */
        if (r->nex_match == 0 || r->nex_no_match == 0) {
            fprintf(stderr, "%s:%u: rule %s has no examples\n", r->file, r->line, r->name);
            bad++;
        }
        for (size_t k = 0; k < r->nex_match; k++, nex++)
            bad += check_example(f, r, r->ex_match[k], true);
        for (size_t k = 0; k < r->nex_no_match; k++, nex++)
            bad += check_example(f, r, r->ex_no_match[k], false);
    }
    fprintf(stderr, "rule examples: %zu rules, %zu examples, %d failures\n", f->rs->n, nex, bad);
    assert_int_equal(bad, 0);
    fx_free(f);
}

/* Names beside values (a file name, a Host, a TLS server name): their values masked. */
static void redact_masks_values_in_text(void **state)
{
    fx_t *f = fx_new(NULL);
    const char *in = "jane.doe@example.com, 536-22-8417, 4539 1488 0343 6467.csv";
    char out[96], small[24];

    (void)state;
    assert_int_equal(dlp_detect_redact(f->d, in, strlen(in), out, sizeof(out)), 3);
    assert_string_equal(out, "j***@example.com, *****8417, 453914******6467.csv");
    /* cut after masking: what is left of a mask is a mask */
    assert_int_equal(dlp_detect_redact(f->d, in, strlen(in), small, sizeof(small)), 3);
    assert_string_equal(small, "j***@example.com, *****");
    assert_int_equal(dlp_detect_redact(f->d, "files.example.com", 17, out, sizeof(out)), 0);
    assert_string_equal(out, "files.example.com");
    assert_int_equal(dlp_detect_redact(f->d, "", 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    /* look-alikes stay: Luhn-invalid, a fake SSN */
    assert_int_equal(dlp_detect_redact(f->d, "4539148803436468 078-05-1120", 28, out, sizeof(out)),
                     0);
    assert_string_equal(out, "4539148803436468 078-05-1120");
    fx_free(f);
}

/* A rule whose context is required masks only with its word; values of two rules that
 * overlap are masked together, as '*'s. */
static void redact_context_and_overlap(void **state)
{
    fx_t *f = fx_new("rules:\n"
                     "  - id: 1\n"
                     "    name: t.badge\n"
                     "    description: badge numbers, only next to the word badge\n"
                     "    category: linked\n"
                     "    severity: low\n"
                     "    patterns: ['\\bB[0-9]{6}\\b']\n"
                     "    context: {words: [badge], window: 16, required: true}\n"
                     "  - id: 2\n"
                     "    name: t.tail\n"
                     "    description: the last four digits of a number\n"
                     "    category: linked\n"
                     "    severity: low\n"
                     "    patterns: ['[0-9]{4}\\b']\n");
    char out[64];

    (void)state;
    assert_int_equal(dlp_detect_redact(f->d, "id B123456", 10, out, sizeof(out)), 1);
    assert_string_equal(out, "id B12****");
    assert_int_equal(dlp_detect_redact(f->d, "badge B123456 ok", 16, out, sizeof(out)), 1);
    assert_string_equal(out, "badge ******* ok");
    assert_int_equal(dlp_detect_redact(f->d, "badge B1 2345", 13, out, sizeof(out)), 1);
    assert_string_equal(out, "badge B1 ****");
    fx_free(f);
}

/* A name a decoder cut (mime keeps DLP_APP_NAME_MAX - 1 bytes) may end in part of a
 * value, which is no value any more: masks shorter than their values (an e-mail's
 * long local part) must not pull that part into what the event shows. */
static void redact_cut_value_stays_out(void **state)
{
    fx_t *f = fx_new(NULL);
    char in[256], out[64];
    size_t n = 0;

    (void)state;
    for (int e = 0; e < 4; e++) {
        for (int i = 0; i < 54; i++)
            in[n++] = (char)('a' + (i + e) % 26);
        memcpy(in + n, "@b.io ", 6);
        n += 6;
    }
    while (n < 255 - 12)
        in[n++] = 'x';
    memcpy(in + n, "453914880343", 12); /* a card cut by the decoder */
    n += 12;
    assert_int_equal(n, 255);
    (void)dlp_detect_redact(f->d, in, n, out, sizeof(out));
    assert_null(strstr(out, "4539"));
    assert_null(strstr(out, "0343"));
    /* a name that fits is shown whole, masked */
    assert_int_equal(dlp_detect_redact(f->d, "a 536-22-8417 b", 15, out, sizeof(out)), 1);
    assert_string_equal(out, "a *****8417 b");
    fx_free(f);
}

/* ---- rule counter slots ------------------------------------------------------ */

/* n rules named PREFIX0, PREFIX1...: only the names matter to the slots. */
static dlp_ruleset_t *named_rules(const char *prefix, size_t n)
{
    dlp_ruleset_t *rs = calloc(1, sizeof(*rs));
    assert_non_null(rs);
    rs->rules = calloc(n + 1, sizeof(*rs->rules));
    assert_non_null(rs->rules);
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%zu", prefix, i);
        rs->rules[i].name = strdup(name);
        assert_non_null(rs->rules[i].name);
    }
    rs->n = n;
    return rs;
}

static void named_rules_free(dlp_ruleset_t *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->rules[i].name);
    free(rs->rules);
    free(rs);
}

/*
 * A set that would need more than DLP_RULE_SLOTS_MAX names is refused and
 * takes no slot: its names must not fill the table, or a later reload that
 * fits would be refused too (and the stats would list rules never loaded).
 */
static void slots_refused_set_takes_none(void **state)
{
    dlp_rule_slots_t s = {0};
    uint32_t *slots = NULL;
    dlp_ruleset_t *base = named_rules("base.", DLP_RULE_SLOTS_MAX - 10);
    dlp_ruleset_t *big = named_rules("big.", 20);
    dlp_ruleset_t *small = named_rules("small.", 10);

    (void)state;
    assert_int_equal(dlp_rule_slots_assign(&s, base, &slots), DLP_OK);
    free(slots);
    assert_int_equal(s.n, DLP_RULE_SLOTS_MAX - 10);
    assert_int_equal(dlp_rule_slots_assign(&s, big, &slots), DLP_ELIMIT);
    assert_null(slots);
    assert_int_equal(s.n, DLP_RULE_SLOTS_MAX - 10);
    assert_int_equal(dlp_rule_slots_assign(&s, small, &slots), DLP_OK);
    assert_int_equal(slots[9], DLP_RULE_SLOTS_MAX - 1);
    assert_string_equal(s.names[DLP_RULE_SLOTS_MAX - 1], "small.9");
    free(slots);
    dlp_rule_slots_fini(&s);
    named_rules_free(base);
    named_rules_free(big);
    named_rules_free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(card_event_masked_and_hashed),
        cmocka_unit_test(email_counted_once_whatever_the_split),
        cmocka_unit_test(threshold_and_later_values),
        cmocka_unit_test(aggregate_counts_outlive_a_reload),
        cmocka_unit_test(aggregate_met_in_a_flow_that_already_alerted),
        cmocka_unit_test(values_of_one_write_share_the_event),
        cmocka_unit_test(values_of_one_write_share_the_event_across_streams),
        cmocka_unit_test(settle_reports_the_last_value_now),
        cmocka_unit_test(gap_breaks_values),
        cmocka_unit_test(block_and_rule_stats),
        cmocka_unit_test(private_key_begin_line),
        cmocka_unit_test(distinct_values_are_bounded),
        cmocka_unit_test(block_value_counted_once_past_the_bound),
        cmocka_unit_test(reidentification_k_minus_one_and_k),
        cmocka_unit_test(reidentification_with_a_linked_identifier_is_more_severe),
        cmocka_unit_test(reidentification_counts_a_value_seen_again_where_it_counts),
        cmocka_unit_test(reidentification_count_past_the_matches_list),
        cmocka_unit_test(host_too_long_to_remember_is_not_allowed),
        cmocka_unit_test(same_match_of_two_patterns_counted_alike_whatever_the_split),
        cmocka_unit_test(shipped_rules_examples),
        cmocka_unit_test(linkable_value_is_the_whole_field),
        cmocka_unit_test(redact_masks_values_in_text),
        cmocka_unit_test(redact_context_and_overlap),
        cmocka_unit_test(redact_cut_value_stays_out),
        cmocka_unit_test(slots_refused_set_takes_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
