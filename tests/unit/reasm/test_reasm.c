/*
 * test_reasm.c - TCP tracking and reassembly.
 *
 * The oracle is a sink that rebuilds each direction: every call must start
 * at the next unreported offset (each offset exactly once, in order), data
 * must equal the original stream at its offsets, end() comes once and last.
 * Segments are built by hand: seg() points a dlp_packet_t at test bytes.
 */
#include "dlp_test.h"

#include <stdbool.h>
#include <stdlib.h>

#include "dlp/limits.h"
#include "dlp/reasm.h"

#define MAXS (256 * 1024) /* stream bytes a test sink rebuilds per direction */
#define K_NONE 0
#define K_DATA 1
#define K_GAP 2
#define K_URG 3
#define MAX_CONFLICTS 64

typedef struct conflict_rec {
    int dir;
    uint64_t off;
    size_t n;
    uint8_t bytes[64]; /* first bytes passed */
} conflict_rec_t;

typedef struct tsink {
    uint8_t buf[2][MAXS];
    uint8_t kind[2][MAXS];
    uint64_t reported[2]; /* next offset the sink expects */
    uint64_t delivered[2], gap_bytes[2];
    int data_calls[2], gaps[2], ends[2], fins[2];
    int nconf;
    conflict_rec_t conf[MAX_CONFLICTS];
    const uint8_t *orig[2]; /* when set, data must equal it, conflicts must differ */
    uint64_t orig_len[2];
    const dlp_tcp_session_t *s; /* urgent(): the byte must be retained by then */
    int urgents[2];
    int closings;           /* closing() calls */
    uint64_t closing_at[2]; /* reported[] when closing() came */
} tsink_t;

static void t_data(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    tsink_t *k = ctx;
    assert_true(dir == 0 || dir == 1);
    assert_int_equal(k->ends[dir], 0);
    assert_int_equal(off, k->reported[dir]);
    assert_true(n > 0);
    assert_true(off + n <= MAXS);
    memcpy(&k->buf[dir][off], p, n);
    memset(&k->kind[dir][off], K_DATA, n);
    if (k->orig[dir] != NULL) {
        assert_true(off + n <= k->orig_len[dir]);
        assert_memory_equal(p, k->orig[dir] + off, n);
    }
    k->reported[dir] += n;
    k->delivered[dir] += n;
    k->data_calls[dir]++;
}

static void t_gap(void *ctx, int dir, uint64_t off, uint64_t len)
{
    tsink_t *k = ctx;
    assert_true(dir == 0 || dir == 1);
    assert_int_equal(k->ends[dir], 0);
    assert_int_equal(off, k->reported[dir]);
    assert_true(len > 0);
    if (off < MAXS)
        memset(&k->kind[dir][off], K_GAP, (size_t)(off + len <= MAXS ? len : MAXS - off));
    k->reported[dir] += len;
    k->gap_bytes[dir] += len;
    k->gaps[dir]++;
}

static void t_conflict(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    tsink_t *k = ctx;
    assert_true(dir == 0 || dir == 1);
    assert_int_equal(k->ends[dir], 0);
    assert_true(n > 0);
    if (k->orig[dir] != NULL) {
        assert_true(off + n <= k->orig_len[dir]);
        assert_memory_not_equal(p, k->orig[dir] + off, n);
    }
    if (k->nconf < MAX_CONFLICTS) {
        conflict_rec_t *c = &k->conf[k->nconf];
        c->dir = dir;
        c->off = off;
        c->n = n;
        memcpy(c->bytes, p, n < sizeof(c->bytes) ? n : sizeof(c->bytes));
    }
    k->nconf++;
}

static void t_end(void *ctx, int dir)
{
    tsink_t *k = ctx;
    assert_true(dir == 0 || dir == 1);
    k->ends[dir]++;
    assert_int_equal(k->ends[dir], 1);
}

static void t_fin(void *ctx, int dir)
{
    tsink_t *k = ctx;
    assert_true(dir == 0 || dir == 1);
    assert_int_equal(k->ends[dir], 0);
    k->fins[dir]++;
}

static void t_urgent(void *ctx, int dir, uint64_t off, uint8_t b)
{
    tsink_t *k = ctx;
    uint8_t back = 0;
    assert_true(dir == 0 || dir == 1);
    assert_int_equal(k->ends[dir], 0);
    assert_int_equal(off, k->reported[dir]);
    assert_true(off < MAXS);
    if (k->orig[dir] != NULL)
        assert_int_equal(b, k->orig[dir][off]);
    if (k->s != NULL) {
        assert_true(dlp_reasm_retained(k->s, dir, off, off + 1, &back));
        assert_int_equal(back, b);
    }
    k->buf[dir][off] = b;
    k->kind[dir][off] = K_URG;
    k->reported[dir]++;
    k->delivered[dir]++;
    k->urgents[dir]++;
}

static const dlp_reasm_sink_t tsink_ops = {t_data, t_gap, t_conflict, t_end, t_fin, NULL, NULL};
static void t_closing(void *ctx)
{
    tsink_t *k = ctx;
    k->closings++;
    k->closing_at[0] = k->reported[0];
    k->closing_at[1] = k->reported[1];
}

static const dlp_reasm_sink_t tsink_close_ops = {t_data, t_gap, t_conflict, t_end,
                                                 t_fin,  NULL,  t_closing};
static const dlp_reasm_sink_t tsink_urg_ops = {t_data, t_gap,    t_conflict, t_end,
                                               t_fin,  t_urgent, NULL};
static const dlp_reasm_sink_t *g_ops = &tsink_ops; /* urgent tests: tsink_urg_ops */

/* ---- fixture --------------------------------------------------------------- */

typedef struct conn {
    dlp_tcp_session_t *s;
    tsink_t *k;
} conn_t;

static dlp_stats_t g_st;
static dlp_reasm_t *g_r;

static void setup_cfg(const dlp_reasm_config_t *cfg)
{
    dlp_reasm_config_t def;
    if (cfg == NULL) {
        dlp_reasm_config_default(&def);
        cfg = &def;
    }
    dlp_stats_init(&g_st);
    g_r = dlp_reasm_new(cfg, &g_st);
    assert_non_null(g_r);
}

static void teardown_r(void)
{
    assert_int_equal(dlp_stat_get(&g_st, DLP_STAT_TCP_OOO_MEM), 0);
    dlp_reasm_free(g_r);
    g_r = NULL;
    g_ops = &tsink_ops;
}

static uint64_t st(dlp_stat_id_t id)
{
    return dlp_stat_get(&g_st, id);
}

static conn_t conn_new(void)
{
    conn_t c;
    c.s = dlp_reasm_session_new(g_r);
    assert_non_null(c.s);
    c.k = calloc(1, sizeof(*c.k));
    assert_non_null(c.k);
    return c;
}

/* Checks the sink against the session's own figures (the invariant). */
static void check_info(const conn_t *c)
{
    for (int dir = 0; dir < 2; dir++) {
        dlp_reasm_dir_info_t in;
        dlp_reasm_dir_info(c->s, dir, &in);
        assert_int_equal(in.delivered, c->k->delivered[dir]);
        assert_int_equal(in.gap_bytes, c->k->gap_bytes[dir]);
        assert_int_equal(in.gaps, c->k->gaps[dir]);
        assert_int_equal(in.ended, c->k->ends[dir]);
        assert_int_equal(c->k->reported[dir], c->k->delivered[dir] + c->k->gap_bytes[dir]);
        for (uint64_t i = 0; i < c->k->reported[dir] && i < MAXS; i++)
            assert_int_not_equal(c->k->kind[dir][i], K_NONE);
        for (uint64_t i = c->k->reported[dir]; i < MAXS && i < c->k->reported[dir] + 4096; i++)
            assert_int_equal(c->k->kind[dir][i], K_NONE);
    }
}

/* Closes the session (ends both directions), checks the invariant, frees the sink. */
static void conn_close(conn_t *c)
{
    check_info(c);
    dlp_reasm_session_close(g_r, c->s, g_ops, c->k);
    assert_int_equal(c->k->ends[0], 1);
    assert_int_equal(c->k->ends[1], 1);
    assert_int_equal(c->k->reported[0], c->k->delivered[0] + c->k->gap_bytes[0]);
    assert_int_equal(c->k->reported[1], c->k->delivered[1] + c->k->gap_bytes[1]);
    free(c->k);
    c->k = NULL;
    c->s = NULL;
}

static dlp_packet_t seg(uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *p, uint32_t n)
{
    dlp_packet_t pk;
    memset(&pk, 0, sizeof(pk));
    pk.data = p;
    pk.caplen = n;
    pk.wirelen = n;
    pk.payload_off = 0;
    pk.payload_len = n;
    pk.payload_wire = n;
    pk.proto = DLP_PROTO_TCP;
    pk.tcp_seq = seq;
    pk.tcp_ack = ack;
    pk.tcp_flags = flags;
    return pk;
}

static dlp_rc_t send_pk(conn_t *c, int dir, const dlp_packet_t *pk)
{
    return dlp_reasm_segment(g_r, c->s, dir, pk, g_ops, c->k);
}

static void tx(conn_t *c, int dir, uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *p,
               uint32_t n)
{
    dlp_packet_t pk = seg(seq, ack, flags, p, n);
    assert_int_equal(send_pk(c, dir, &pk), DLP_OK);
}

/* Deterministic stream bytes: pattern(dir, off). */
static uint8_t pat(int dir, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(dir + 1) * 0xC2B2AE3D27D4EB4FULL;
    return (uint8_t)(x >> 56);
}

static uint8_t g_src[2][MAXS];

static void init_src(void)
{
    for (int dir = 0; dir < 2; dir++)
        for (uint64_t i = 0; i < MAXS; i++)
            g_src[dir][i] = pat(dir, i);
}

#define ISN0 1000u
#define ISN1 500000u
#define A 0x10 /* DLP_TCP_ACK, short for tables */

/* SYN, SYN-ACK, ACK with ISNs ISN0/ISN1: stream offset o is seq ISNx + 1 + o. */
static void handshake(conn_t *c)
{
    tx(c, 0, ISN0, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(dlp_reasm_state(c->s), DLP_TCP_SYN_SENT);
    tx(c, 1, ISN1, ISN0 + 1, DLP_TCP_SYN | DLP_TCP_ACK, NULL, 0);
    assert_int_equal(dlp_reasm_state(c->s), DLP_TCP_SYN_RECV);
    tx(c, 0, ISN0 + 1, ISN1 + 1, DLP_TCP_ACK, NULL, 0);
    assert_int_equal(dlp_reasm_state(c->s), DLP_TCP_ESTABLISHED);
}

/* The default bounds, a new session, its handshake: how most tests start. */
static conn_t conn_up(void)
{
    conn_t c;
    setup_cfg(NULL);
    c = conn_new();
    handshake(&c);
    return c;
}

/* Sends stream bytes [off, off+n) of direction dir (from g_src) with ACK of the other. */
static void sdata(conn_t *c, int dir, uint32_t off, uint32_t n)
{
    uint32_t isn = dir == 0 ? ISN0 : ISN1, peer = dir == 0 ? ISN1 : ISN0;
    tx(c, dir, isn + 1 + off, peer + 1, DLP_TCP_ACK | DLP_TCP_PSH, &g_src[dir][off], n);
}

/* Same range, bytes from p. */
static void sbytes(conn_t *c, int dir, uint32_t off, const uint8_t *p, uint32_t n)
{
    uint32_t isn = dir == 0 ? ISN0 : ISN1, peer = dir == 0 ? ISN1 : ISN0;
    tx(c, dir, isn + 1 + off, peer + 1, DLP_TCP_ACK | DLP_TCP_PSH, p, n);
}

/* A pure ACK from dir acknowledging stream offset 'off' of the other direction. */
static void sack(conn_t *c, int dir, uint32_t off)
{
    uint32_t isn = dir == 0 ? ISN0 : ISN1, peer = dir == 0 ? ISN1 : ISN0;
    tx(c, dir, isn + 1, peer + 1 + off, DLP_TCP_ACK, NULL, 0);
}

static void assert_stream(const conn_t *c, int dir, uint64_t from, uint64_t to, int kind)
{
    for (uint64_t i = from; i < to; i++) {
        assert_int_equal(c->k->kind[dir][i], kind);
        if (kind == K_DATA)
            assert_int_equal(c->k->buf[dir][i], g_src[dir][i]);
    }
}

/* ---- cases ------------------------------------------------------------------ */

/*
 * Bytes held behind a hole, then both FINs: the server's FIN+ACK takes the
 * client's FIN, and with it the hole. closing() comes once, when the second
 * FIN is accepted and before that ACK flushes the held bytes (the worker
 * labels them with nDPI's last word then).
 */
static void closing_before_the_last_ack_flushes(void **state)
{
    (void)state;
    g_ops = &tsink_close_ops;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sdata(&c, 0, 200, 100); /* 100..200 never seen */
    assert_int_equal(c.k->reported[0], 100);
    tx(&c, 0, ISN0 + 1 + 300, ISN1 + 1, DLP_TCP_FIN | DLP_TCP_ACK, NULL, 0);
    assert_int_equal(c.k->closings, 0);
    assert_int_equal(c.k->reported[0], 100);
    tx(&c, 1, ISN1 + 1, ISN0 + 1 + 301, DLP_TCP_FIN | DLP_TCP_ACK, NULL, 0);
    assert_int_equal(c.k->closings, 1);
    assert_int_equal(c.k->closing_at[0], 100);
    assert_int_equal(c.k->reported[0], 300);
    assert_int_equal(c.k->ends[0], 1);
    tx(&c, 0, ISN0 + 1 + 301, ISN1 + 2, DLP_TCP_ACK, NULL, 0);
    tx(&c, 1, ISN1 + 1, ISN0 + 1 + 301, DLP_TCP_FIN | DLP_TCP_ACK, NULL, 0); /* again */
    assert_int_equal(c.k->closings, 1);
    conn_close(&c);
    assert_int_equal(st(DLP_STAT_REASM_GAPS), 1);
    teardown_r();
    g_ops = &tsink_ops;
}

static void in_order(void **state)
{
    (void)state;
    conn_t c = conn_up();
    for (uint32_t off = 0; off < 5000; off += 1000)
        sdata(&c, 0, off, 1000);
    sdata(&c, 1, 0, 300);
    sdata(&c, 1, 300, 1);
    assert_int_equal(c.k->delivered[0], 5000);
    assert_int_equal(c.k->data_calls[0], 5);
    assert_int_equal(c.k->delivered[1], 301);
    assert_stream(&c, 0, 0, 5000, K_DATA);
    assert_stream(&c, 1, 0, 301, K_DATA);
    /* FIN from the client, then from the server: each ends once its peer
     * acknowledged it; before, the sink is told the sender is done. */
    tx(&c, 0, ISN0 + 1 + 5000, ISN1 + 1 + 301, DLP_TCP_FIN | DLP_TCP_ACK, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    assert_int_equal(c.k->fins[0], 1);
    assert_int_equal(c.k->ends[0], 0);
    tx(&c, 1, ISN1 + 1 + 301, ISN0 + 1 + 5001, DLP_TCP_FIN | DLP_TCP_ACK, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSED);
    assert_int_equal(c.k->ends[0], 1);
    assert_int_equal(c.k->fins[1], 1);
    assert_int_equal(c.k->ends[1], 0);
    tx(&c, 0, ISN0 + 1 + 5001, ISN1 + 1 + 302, DLP_TCP_ACK, NULL, 0);
    assert_int_equal(c.k->ends[1], 1);
    assert_int_equal(st(DLP_STAT_TCP_SEGMENTS), 7);
    assert_int_equal(st(DLP_STAT_TCP_STREAM_BYTES), 5301);
    assert_int_equal(st(DLP_STAT_TCP_OOO), 0);
    assert_int_equal(st(DLP_STAT_REASM_GAPS), 0);
    assert_int_equal(st(DLP_STAT_TCP_MIDSTREAM), 0);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 0);
    assert_int_equal(c.k->nconf, 0);
    conn_close(&c);
    teardown_r();
}

static void reversed_order(void **state)
{
    (void)state;
    conn_t c = conn_up();
    size_t m0 = dlp_reasm_session_mem(c.s);
    for (int i = 9; i >= 1; i--)
        sdata(&c, 0, (uint32_t)i * 100, 100);
    assert_int_equal(c.k->reported[0], 0);
    assert_int_equal(st(DLP_STAT_TCP_OOO), 9);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 900);
    assert_true(dlp_reasm_session_mem(c.s) > m0 + 900);
    assert_true(dlp_reasm_session_mem(c.s) < m0 + 900 + 9 * 64);
    sdata(&c, 0, 0, 100);
    assert_int_equal(c.k->delivered[0], 1000);
    assert_int_equal(c.k->data_calls[0], 10);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 0);
    /* held pieces are gone, the retained tail was allocated */
    assert_int_equal(dlp_reasm_session_mem(c.s), m0 + DLP_REASM_RETAIN_BYTES);
    assert_stream(&c, 0, 0, 1000, K_DATA);
    assert_int_equal(c.k->gaps[0], 0);
    conn_close(&c);
    teardown_r();
}

static uint32_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

static void random_order_seeds(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        uint64_t rs = seed * 0x2545F4914F6CDD1DULL;
        uint32_t offs[64], lens[64], n = 0, off = 0;
        setup_cfg(NULL);
        conn_t c = conn_new();
        handshake(&c);
        while (off < 20000 && n < 64) {
            uint32_t len = 1 + rng_next(&rs) % 700;
            offs[n] = off;
            lens[n++] = len;
            off += len;
        }
        for (uint32_t i = n - 1; i > 0; i--) {
            uint32_t j = rng_next(&rs) % (i + 1), t = offs[i], u = lens[i];
            offs[i] = offs[j], lens[i] = lens[j];
            offs[j] = t, lens[j] = u;
        }
        for (uint32_t i = 0; i < n; i++)
            sdata(&c, 0, offs[i], lens[i]);
        assert_int_equal(c.k->delivered[0], off);
        assert_int_equal(c.k->gaps[0], 0);
        assert_stream(&c, 0, 0, off, K_DATA);
        conn_close(&c);
        assert_int_equal(st(DLP_STAT_REASM_GAPS), 0);
        teardown_r();
    }
}

static void exact_retransmission(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 500);
    sdata(&c, 0, 500, 500);
    sdata(&c, 0, 500, 500);
    sdata(&c, 0, 0, 500);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 2);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAP_DIFF), 0);
    assert_int_equal(c.k->delivered[0], 1000);
    assert_int_equal(c.k->nconf, 0);
    /* a retransmitted identical SYN is a retransmission too */
    tx(&c, 0, ISN0, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 3);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    conn_close(&c);
    teardown_r();
}

static void partial_retransmission(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sdata(&c, 0, 50, 100);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    assert_int_equal(c.k->delivered[0], 150);
    assert_int_equal(c.k->data_calls[0], 2);
    assert_stream(&c, 0, 0, 150, K_DATA);
    assert_int_equal(c.k->nconf, 0);
    conn_close(&c);
    teardown_r();
}

static void conflict_with_delivered(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    uint8_t evil[100];
    handshake(&c);
    sdata(&c, 0, 0, 100);
    memcpy(evil, &g_src[0][50], 100);
    memcpy(evil + 20, "SSN 078-05-1120", 15); /* offsets 70..84 differ */
    sbytes(&c, 0, 50, evil, 100);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAP_DIFF), 1);
    assert_int_equal(c.k->nconf, 1);
    assert_int_equal(c.k->conf[0].dir, 0);
    assert_int_equal(c.k->conf[0].off, 50);
    assert_int_equal(c.k->conf[0].n, 50);
    assert_memory_equal(c.k->conf[0].bytes + 20, "SSN 078-05-1120", 15);
    /* first wins: [50,100) stays the original, [100,150) comes from the new segment */
    assert_stream(&c, 0, 0, 150, K_DATA);
    assert_int_equal(c.k->delivered[0], 150);
    dlp_reasm_dir_info_t in;
    dlp_reasm_dir_info(c.s, 0, &in);
    assert_int_equal(in.overlap_diff, 1);
    conn_close(&c);
    teardown_r();
}

static void conflict_beyond_retained_window(void **state)
{
    (void)state;
    dlp_reasm_config_t cfg;
    dlp_reasm_config_default(&cfg);
    cfg.retain_bytes = 64;
    setup_cfg(&cfg);
    conn_t c = conn_new();
    uint8_t evil[100];
    handshake(&c);
    sdata(&c, 0, 0, 100);
    sdata(&c, 0, 100, 100);
    memset(evil, 'X', sizeof(evil));
    sbytes(&c, 0, 0, evil, 100); /* before the retained 64 bytes: not comparable */
    assert_int_equal(c.k->nconf, 0);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    sbytes(&c, 0, 100, evil, 100); /* [136,200) is retained */
    assert_int_equal(c.k->nconf, 1);
    assert_int_equal(c.k->conf[0].off, 136);
    assert_int_equal(c.k->conf[0].n, 64);
    assert_int_equal(c.k->conf[0].bytes[0], 'X');
    assert_int_equal(st(DLP_STAT_TCP_OVERLAP_DIFF), 1);
    /* the ring wraps: a segment of 150 > 64 then a retransmission of its end */
    sdata(&c, 0, 200, 150);
    sdata(&c, 0, 300, 50);
    assert_int_equal(c.k->nconf, 1);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 2);
    assert_stream(&c, 0, 0, 350, K_DATA);
    conn_close(&c);
    teardown_r();
}

static void conflict_with_held(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    uint8_t evil[200];
    handshake(&c);
    sdata(&c, 0, 100, 100); /* held */
    memcpy(evil, &g_src[0][150], 100);
    evil[10] ^= 0xFF; /* offset 160 differs */
    sbytes(&c, 0, 150, evil, 100);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAPS), 1);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAP_DIFF), 1);
    assert_int_equal(c.k->nconf, 1);
    assert_int_equal(c.k->conf[0].off, 150);
    assert_int_equal(c.k->conf[0].n, 50);
    assert_int_equal(c.k->conf[0].bytes[10], g_src[0][160] ^ 0xFF);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 150); /* only [200,250) was added */
    /* an in-order segment overlapping held data with other bytes: held ones win */
    memcpy(evil, &g_src[0][0], 200);
    evil[120] ^= 0x55;
    evil[199] ^= 0x55;
    sbytes(&c, 0, 0, evil, 200);
    assert_int_equal(c.k->nconf, 2);
    assert_int_equal(c.k->conf[1].off, 100);
    assert_int_equal(c.k->conf[1].n, 100);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAPS), 2);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAP_DIFF), 2);
    assert_int_equal(c.k->delivered[0], 250);
    assert_stream(&c, 0, 0, 250, K_DATA);
    /* an identical overlap is counted but not a conflict */
    sdata(&c, 0, 400, 100);
    sdata(&c, 0, 450, 100);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAPS), 3);
    assert_int_equal(c.k->nconf, 2);
    conn_close(&c);
    teardown_r();
}

static void gap_via_ack(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sdata(&c, 0, 200, 100);
    sdata(&c, 0, 350, 50);
    sack(&c, 1, 100); /* not past the hole */
    assert_int_equal(c.k->gaps[0], 0);
    sack(&c, 1, 250); /* the receiver has [100,200), we never saw it */
    assert_int_equal(c.k->gaps[0], 1);
    assert_int_equal(c.k->reported[0], 300);
    assert_stream(&c, 0, 100, 200, K_GAP);
    assert_stream(&c, 0, 200, 300, K_DATA);
    assert_int_equal(st(DLP_STAT_REASM_GAPS), 1);
    assert_int_equal(st(DLP_STAT_TCP_GAP_BYTES), 100);
    /* the late segment is counted, not delivered */
    sdata(&c, 0, 100, 100);
    assert_int_equal(st(DLP_STAT_TCP_LATE), 1);
    assert_int_equal(c.k->reported[0], 300);
    /* the ACK past the next hole skips it, up to the held data only */
    sack(&c, 1, 1000);
    assert_int_equal(c.k->reported[0], 400);
    assert_int_equal(c.k->gaps[0], 2);
    /* nothing held: the ACK is remembered, a later segment at or before it skips at once */
    sdata(&c, 0, 700, 100);
    assert_int_equal(c.k->gaps[0], 3);
    assert_stream(&c, 0, 400, 700, K_GAP);
    assert_stream(&c, 0, 700, 800, K_DATA);
    /* and a segment beyond the ACK skips up to the ACK, then is held */
    sdata(&c, 0, 1100, 100);
    assert_int_equal(c.k->reported[0], 1000);
    assert_int_equal(c.k->gaps[0], 4);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 100);
    conn_close(&c);
    assert_int_equal(st(DLP_STAT_REASM_GAPS), 5);
    assert_int_equal(st(DLP_STAT_TCP_GAP_BYTES), 100 + 50 + 300 + 200 + 100);
    teardown_r();
}

static void bound_dir_bytes(void **state)
{
    (void)state;
    dlp_reasm_config_t cfg;
    dlp_reasm_config_default(&cfg);
    cfg.ooo_bytes_dir = 1000;
    setup_cfg(&cfg);
    conn_t c = conn_new();
    handshake(&c);
    for (uint32_t off = 100; off < 1100; off += 100)
        sdata(&c, 0, off, 100); /* 1000 bytes held behind the hole [0,100) */
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 1000);
    assert_int_equal(st(DLP_STAT_TCP_OOO_DIR_LIMIT), 0);
    sdata(&c, 0, 1200, 100); /* does not fit: skip [0,100), deliver, then hold it */
    assert_int_equal(st(DLP_STAT_TCP_OOO_DIR_LIMIT), 1);
    assert_int_equal(c.k->gaps[0], 1);
    assert_stream(&c, 0, 0, 100, K_GAP);
    assert_stream(&c, 0, 100, 1100, K_DATA);
    assert_int_equal(c.k->reported[0], 1100);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 100);
    /* a segment larger than the bound never fits: skip ahead to it */
    sdata(&c, 0, 1500, 1100);
    assert_int_equal(st(DLP_STAT_TCP_OOO_DIR_LIMIT), 2);
    assert_stream(&c, 0, 1100, 1200, K_GAP);
    assert_stream(&c, 0, 1200, 1300, K_DATA);
    assert_stream(&c, 0, 1300, 1500, K_GAP);
    assert_stream(&c, 0, 1500, 2600, K_DATA);
    assert_int_equal(c.k->gaps[0], 3);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 0);
    conn_close(&c);
    teardown_r();
}

static void bound_dir_segments(void **state)
{
    (void)state;
    dlp_reasm_config_t cfg;
    dlp_reasm_config_default(&cfg);
    cfg.ooo_segs_dir = 4;
    setup_cfg(&cfg);
    conn_t c = conn_new();
    handshake(&c);
    sdata(&c, 0, 10, 1);
    sdata(&c, 0, 12, 1);
    sdata(&c, 0, 14, 1);
    sdata(&c, 0, 16, 1);
    assert_int_equal(st(DLP_STAT_TCP_OOO_DIR_LIMIT), 0);
    /* a fifth piece: skip [0,10), deliver [10,11), then it fits */
    sdata(&c, 0, 18, 1);
    assert_int_equal(st(DLP_STAT_TCP_OOO_DIR_LIMIT), 1);
    assert_int_equal(c.k->reported[0], 11);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 4);
    /* [13,21) over held 14, 16, 18 needs 4 new pieces (8 > 4): skip [11,12),
     * deliver 12; now in order, it is delivered interleaved with the held bytes */
    sdata(&c, 0, 13, 8);
    assert_int_equal(st(DLP_STAT_TCP_OOO_DIR_LIMIT), 2);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAPS), 1);
    assert_int_equal(c.k->nconf, 0);
    assert_int_equal(c.k->reported[0], 21);
    assert_int_equal(c.k->gaps[0], 2);
    assert_stream(&c, 0, 0, 10, K_GAP);
    assert_stream(&c, 0, 10, 11, K_DATA);
    assert_stream(&c, 0, 11, 12, K_GAP);
    assert_stream(&c, 0, 12, 21, K_DATA);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 0);
    conn_close(&c);
    teardown_r();
}

static void bound_worker(void **state)
{
    (void)state;
    dlp_reasm_config_t cfg;
    dlp_reasm_config_default(&cfg);
    cfg.ooo_bytes_worker = 1000;
    setup_cfg(&cfg);
    conn_t a = conn_new(), b = conn_new();
    handshake(&a);
    handshake(&b);
    sdata(&a, 0, 100, 800);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 800);
    sdata(&b, 0, 100, 150);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 950);
    sdata(&b, 0, 400, 100); /* 1050 > 1000: b skips its own hole, delivers, retries */
    assert_int_equal(st(DLP_STAT_TCP_OOO_WORKER_LIMIT), 1);
    assert_int_equal(st(DLP_STAT_TCP_OOO_DIR_LIMIT), 0);
    assert_int_equal(b.k->gaps[0], 1);
    assert_int_equal(b.k->reported[0], 250);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 900);
    /* session a is untouched */
    assert_int_equal(a.k->reported[0], 0);
    /* b again: giving back its 100 held bytes is not enough, it skips ahead */
    sdata(&b, 0, 1000, 300);
    assert_int_equal(st(DLP_STAT_TCP_OOO_WORKER_LIMIT), 2);
    assert_stream(&b, 0, 250, 400, K_GAP);
    assert_stream(&b, 0, 400, 500, K_DATA);
    assert_stream(&b, 0, 500, 1000, K_GAP);
    assert_stream(&b, 0, 1000, 1300, K_DATA);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 800);
    conn_close(&a);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 0);
    conn_close(&b);
    teardown_r();
}

static void sequence_wrap(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    uint32_t isn = 0xFFFFFF00u;
    tx(&c, 0, isn, 0, DLP_TCP_SYN, NULL, 0);
    tx(&c, 1, 7, isn + 1, DLP_TCP_SYN | DLP_TCP_ACK, NULL, 0);
    /* 1000 bytes in 4 segments of 250, the 0xFFFFFFFF -> 0 wrap inside the first */
    tx(&c, 0, isn + 1 + 500, 8, A, &g_src[0][500], 250);
    tx(&c, 0, isn + 1 + 250, 8, A, &g_src[0][250], 250);
    tx(&c, 0, isn + 1 + 750, 8, A, &g_src[0][750], 250);
    assert_int_equal(c.k->reported[0], 0);
    tx(&c, 0, isn + 1, 8, A, &g_src[0][0], 250);
    assert_int_equal(c.k->delivered[0], 1000);
    assert_stream(&c, 0, 0, 1000, K_DATA);
    /* a retransmission across the wrap */
    tx(&c, 0, isn + 1 + 100, 8, A, &g_src[0][100], 300);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    assert_int_equal(c.k->nconf, 0);
    tx(&c, 0, isn + 1 + 1000, 8, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(c.k->fins[0], 1);
    tx(&c, 1, 8, isn + 1 + 1001, A, NULL, 0); /* the FIN acknowledged across the wrap */
    assert_int_equal(c.k->ends[0], 1);
    conn_close(&c);
    teardown_r();
}

static void midstream(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    tx(&c, 0, 123456789u, 42, A, &g_src[0][0], 100);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    assert_int_equal(st(DLP_STAT_TCP_MIDSTREAM), 1);
    assert_int_equal(c.k->delivered[0], 100);
    tx(&c, 0, 123456789u + 100, 42, A, &g_src[0][100], 100);
    /* a retransmission from before the pick-up point: only its end is compared */
    uint8_t before[60];
    memset(before, '?', 50);
    memcpy(before + 50, g_src[0], 10);
    tx(&c, 0, 123456789u - 50, 42, A, before, 60);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    assert_int_equal(c.k->nconf, 0);
    tx(&c, 1, 42, 123456789u + 200, A, &g_src[1][0], 10);
    assert_int_equal(st(DLP_STAT_TCP_MIDSTREAM), 2);
    tx(&c, 1, 52, 123456789u + 200, A, &g_src[1][10], 10);
    assert_int_equal(st(DLP_STAT_TCP_MIDSTREAM), 2);
    dlp_reasm_dir_info_t in;
    dlp_reasm_dir_info(c.s, 0, &in);
    assert_int_equal(in.midstream, 1);
    dlp_reasm_dir_info(c.s, 1, &in);
    assert_int_equal(in.midstream, 1);
    assert_int_equal(c.k->delivered[0], 200);
    assert_int_equal(c.k->delivered[1], 20);
    assert_stream(&c, 0, 0, 200, K_DATA);
    assert_stream(&c, 1, 0, 20, K_DATA);
    conn_close(&c);
    teardown_r();
}

/*
 * Picked up midstream, the peer's ACKs still lag behind the first byte seen:
 * such an ACK is before the stream's start and must not count as one far
 * ahead, which would skip every later hole at once.
 */
static void midstream_lagging_ack(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    const uint32_t base = 7000000u;
    tx(&c, 0, base, 42, A, &g_src[0][0], 100);
    tx(&c, 1, 42, base - 300, A, NULL, 0); /* acks bytes sent before the pick-up */
    tx(&c, 0, base + 200, 42, A, &g_src[0][200], 100);
    assert_int_equal(c.k->gaps[0], 0);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 100);
    tx(&c, 0, base + 100, 42, A, &g_src[0][100], 100);
    assert_int_equal(c.k->delivered[0], 300);
    assert_int_equal(c.k->gaps[0], 0);
    assert_stream(&c, 0, 0, 300, K_DATA);
    /* later ACKs still count: one past a new hole skips it */
    tx(&c, 0, base + 400, 42, A, &g_src[0][400], 100);
    tx(&c, 1, 42, base + 450, A, NULL, 0);
    assert_int_equal(c.k->gaps[0], 1);
    assert_int_equal(c.k->gap_bytes[0], 100);
    conn_close(&c);
    teardown_r();
}

static void one_byte_segments(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    uint32_t order[300];
    uint64_t rs = 77;
    handshake(&c);
    for (uint32_t i = 0; i < 300; i++)
        order[i] = i;
    for (uint32_t i = 299; i > 0; i--) {
        uint32_t j = rng_next(&rs) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < 300; i++)
        sdata(&c, 0, order[i], 1);
    assert_int_equal(c.k->delivered[0], 300);
    assert_stream(&c, 0, 0, 300, K_DATA);
    assert_int_equal(c.k->gaps[0], 0);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 0);
    conn_close(&c);
    teardown_r();
}

/*
 * Bytes past a FIN its peer has not acknowledged: the receiver dropped that
 * FIN (a bad checksum, a TTL that ran out), so it is revoked and the stream
 * goes on; a SYN forged next is no new connection either.
 */
static void fin_revoked_by_bytes_past_it(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(c.k->fins[0], 1);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    sdata(&c, 0, 100, 100);
    assert_int_equal(st(DLP_STAT_TCP_FIN_IGNORED), 1);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    assert_int_equal(c.k->delivered[0], 200);
    dlp_packet_t syn = seg(ISN0 + 99999, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    sdata(&c, 0, 200, 50);
    assert_int_equal(c.k->delivered[0], 250);
    /* a real FIN later, acknowledged: the end */
    tx(&c, 0, ISN0 + 1 + 250, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(c.k->fins[0], 2);
    sack(&c, 1, 251);
    assert_int_equal(c.k->ends[0], 1);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 1); /* the forged SYN */
    conn_close(&c);
    teardown_r();
}

/* A SYN after its sender's FIN: a new connection once the peer acknowledged the FIN,
 * or when the peer's ACKs are never seen; not while the FIN is unacknowledged. */
static void syn_after_unacknowledged_fin(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sack(&c, 1, 100);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    dlp_packet_t syn = seg(ISN0 + 99999, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    sack(&c, 1, 101);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_DONE);
    conn_close(&c);
    /* one-sided: nothing from the peer after the handshake */
    c = conn_new();
    tx(&c, 0, ISN0, 0, DLP_TCP_SYN, NULL, 0);
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_DONE);
    conn_close(&c);
    teardown_r();
}

/* A FIN riding on the bytes that revoke an earlier, unacknowledged FIN is the
 * sender's real one: it is taken (the first one no longer stands). */
static void fin_after_revoked_fin(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(c.k->fins[0], 1);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 1, DLP_TCP_FIN | A, &g_src[0][100], 100);
    assert_int_equal(st(DLP_STAT_TCP_FIN_IGNORED), 1);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 0);
    assert_int_equal(c.k->delivered[0], 200);
    assert_int_equal(c.k->fins[0], 2);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    sack(&c, 1, 201);
    assert_int_equal(c.k->ends[0], 1);
    conn_close(&c);
    teardown_r();
}

/* Both FINs seen, but the client's not acknowledged (its receiver dropped it):
 * the connection is not over, so a SYN forged next opens no new connection
 * (nor may the flow table end the flow for it: dlp_reasm_over()); over
 * once the server acknowledged the client's real FIN. */
static void closed_needs_acknowledged_fins(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 1, ISN1 + 1, ISN0 + 1 + 100, DLP_TCP_FIN | A, NULL, 0); /* the server's half close */
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 2, A, NULL, 0);
    assert_int_equal(c.k->ends[1], 1);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 2, DLP_TCP_FIN | A, NULL, 0); /* dropped by the server */
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSED); /* both FINs seen */
    assert_false(dlp_reasm_over(c.s));
    dlp_packet_t syn = seg(ISN0 + 99999, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 2, A | DLP_TCP_PSH, &g_src[0][100], 100);
    assert_int_equal(c.k->delivered[0], 200);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    tx(&c, 0, ISN0 + 1 + 200, ISN1 + 2, DLP_TCP_FIN | A, NULL, 0);
    assert_false(dlp_reasm_over(c.s));
    tx(&c, 1, ISN1 + 2, ISN0 + 1 + 201, A, NULL, 0);
    assert_true(dlp_reasm_over(c.s));
    assert_int_equal(c.k->ends[0], 1);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_DONE);
    conn_close(&c);
    teardown_r();
}

/* An ACK past FIN+1 shows the receiver took bytes past that FIN (the capture
 * missed them, or the ACK came first): the FIN is revoked, or refused when it
 * comes after that ACK, and the stream goes on. */
static void fin_revoked_by_ack_past_it(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 100, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    sack(&c, 1, 201); /* [100, 200) not in the capture */
    assert_int_equal(st(DLP_STAT_TCP_FIN_IGNORED), 1);
    assert_int_equal(c.k->ends[0], 0);
    sdata(&c, 0, 200, 100);
    assert_int_equal(c.k->delivered[0], 200);
    assert_int_equal(c.k->gap_bytes[0], 100);
    sack(&c, 1, 401); /* ahead of the capture again */
    tx(&c, 0, ISN0 + 1 + 300, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(st(DLP_STAT_TCP_FIN_IGNORED), 2);
    sdata(&c, 0, 300, 100);
    assert_int_equal(c.k->delivered[0], 300);
    tx(&c, 0, ISN0 + 1 + 400, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    sack(&c, 1, 401);
    assert_int_equal(c.k->ends[0], 1);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    conn_close(&c);
    teardown_r();
}

static void fin_before_data_completes(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 200, ISN1 + 1, DLP_TCP_FIN | A, &g_src[0][200], 100);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    assert_int_equal(c.k->ends[0], 0);
    sdata(&c, 0, 100, 100);
    assert_int_equal(c.k->fins[0], 1);
    assert_int_equal(c.k->ends[0], 0);
    sack(&c, 1, 301); /* the FIN acknowledged: data after it is not part of the stream */
    assert_int_equal(c.k->ends[0], 1);
    sdata(&c, 0, 300, 50);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 1);
    assert_int_equal(c.k->delivered[0], 300);
    assert_stream(&c, 0, 0, 300, K_DATA);
    /* retransmitted FIN after the end: counted, nothing reported */
    tx(&c, 0, ISN0 + 1 + 200, ISN1 + 1, DLP_TCP_FIN | A, &g_src[0][200], 100);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    assert_int_equal(c.k->ends[0], 1);
    conn_close(&c);
    teardown_r();
}

static void fin_hole_acked(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 200, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(c.k->ends[0], 0);
    sack(&c, 1, 201); /* the FIN acknowledged: the hole [100,200) is gone for good */
    assert_int_equal(c.k->ends[0], 1);
    assert_stream(&c, 0, 100, 200, K_GAP);
    conn_close(&c);
    teardown_r();
}

/* An RST ends no direction: bytes after it are still delivered, holes wait for close. */
static void rst_keeps_streams_open(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sdata(&c, 0, 200, 100);
    sdata(&c, 1, 50, 50);
    /* at the end of what direction 1 sent (past its hole): its receiver may be there */
    tx(&c, 1, ISN1 + 1 + 100, 0, DLP_TCP_RST, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    assert_int_equal(st(DLP_STAT_TCP_RST_IGNORED), 0);
    assert_int_equal(c.k->ends[0], 0);
    assert_int_equal(c.k->ends[1], 0);
    /* the peer's bytes after it are kept; they do not revive the connection */
    sdata(&c, 0, 300, 100);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    /* but the RST's sender may open a new one, once its peer answers the SYN */
    dlp_packet_t syn = seg(ISN1 + 99999, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 1, &syn), DLP_OK);
    dlp_packet_t synack = seg(ISN0 + 7777, ISN1 + 100000, DLP_TCP_SYN | A, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &synack), DLP_DONE);
    conn_close(&c);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 0);
    teardown_r();
}

static void rst_streams_at_close(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sdata(&c, 0, 200, 100);
    sdata(&c, 1, 50, 50);
    tx(&c, 1, ISN1 + 1 + 100, 0, DLP_TCP_RST, NULL, 0);
    sdata(&c, 0, 300, 100);
    dlp_reasm_session_close(g_r, c.s, &tsink_ops, c.k);
    assert_stream(&c, 0, 0, 100, K_DATA);
    assert_stream(&c, 0, 100, 200, K_GAP);
    assert_stream(&c, 0, 200, 400, K_DATA);
    assert_stream(&c, 1, 0, 50, K_GAP);
    assert_stream(&c, 1, 50, 100, K_DATA);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 0);
    free(c.k);
    teardown_r();
}

/*
 * RFC 5961: an RST counts only at its receiver's next expected sequence
 * number. One elsewhere, even in the window, is a guess the connection
 * outlives (a forged one would otherwise hide the rest of an upload).
 */
static void rst_not_exact_ignored(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sack(&c, 1, 100);
    tx(&c, 0, ISN0 + 1 + 50, 0, DLP_TCP_RST, NULL, 0);      /* behind */
    tx(&c, 0, ISN0 + 1 + 101, 0, DLP_TCP_RST, NULL, 0);     /* one ahead */
    tx(&c, 0, ISN0 + 1 + 60000, 0, DLP_TCP_RST, NULL, 0);   /* in the window */
    tx(&c, 0, ISN0 + 1 + 0x40000000u, 0, DLP_TCP_RST, NULL, 0);
    assert_int_equal(st(DLP_STAT_TCP_RST_IGNORED), 4);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    sdata(&c, 0, 100, 100);
    assert_int_equal(c.k->delivered[0], 200);
    /* past a hole the capture missed, the receiver may have got it all */
    sdata(&c, 0, 300, 10);
    tx(&c, 0, ISN0 + 1 + 311, 0, DLP_TCP_RST, NULL, 0);
    assert_int_equal(st(DLP_STAT_TCP_RST_IGNORED), 5);
    tx(&c, 0, ISN0 + 1 + 310, 0, DLP_TCP_RST, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    conn_close(&c);
    teardown_r();
}

/* New bytes from an RST's own sender: the receiver dropped that RST. */
static void rst_outlived_by_sender(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 100, 0, DLP_TCP_RST, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    sdata(&c, 0, 60, 40); /* a retransmission: no news */
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    sdata(&c, 0, 100, 100);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    assert_int_equal(st(DLP_STAT_TCP_RST_IGNORED), 1);
    assert_int_equal(c.k->delivered[0], 200);
    /* so a SYN forged next is not a new connection either */
    dlp_packet_t syn = seg(ISN0 + 99999, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    sdata(&c, 0, 200, 100);
    assert_int_equal(c.k->delivered[0], 300);
    conn_close(&c);
    teardown_r();
}

/*
 * An RST its receiver did not take (the receiver sent new bytes after it),
 * then a SYN from that receiver: no new connection, or a server could reset
 * with a bad checksum and the client forge a SYN to hide the rest of an upload.
 */
static void rst_outlived_by_receiver(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    sdata(&c, 1, 0, 10);
    tx(&c, 1, ISN1 + 1 + 10, 0, DLP_TCP_RST, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    assert_true(dlp_reasm_over(c.s)); /* reset, the receiver silent */
    sdata(&c, 0, 50, 50); /* a retransmission: no news */
    assert_true(dlp_reasm_over(c.s)); /* reset, the receiver silent */
    sdata(&c, 0, 100, 100);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET); /* may have crossed the RST */
    assert_false(dlp_reasm_over(c.s)); /* the receiver outlived it */
    dlp_packet_t syn = seg(ISN0 + 0x40000000u, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 1);
    sdata(&c, 0, 200, 100);
    assert_int_equal(c.k->delivered[0], 300);
    /* the RST's sender comes back: no longer reset */
    sdata(&c, 1, 10, 10);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    assert_false(dlp_reasm_over(c.s));
    conn_close(&c);
    teardown_r();
}

/* The same SYN before the receiver sent anything new: a new connection (port reuse). */
static void rst_then_syn_from_receiver(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 1, ISN1 + 1, 0, DLP_TCP_RST, NULL, 0);
    sdata(&c, 0, 0, 100); /* retransmitted, crossing the RST */
    assert_true(dlp_reasm_over(c.s)); /* reset, the receiver silent */
    dlp_packet_t syn = seg(ISN0 + 0x40000000u, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    /* one-sided: no SYN-ACK seen, its first byte follows the SYN */
    dlp_packet_t first = seg(ISN0 + 0x40000001u, ISN1 + 1, A | DLP_TCP_PSH, g_src[0], 10);
    assert_int_equal(send_pk(&c, 0, &first), DLP_DONE);
    conn_close(&c);
    teardown_r();
}

/* An RST and a SYN from the client, both forged (the server dropped them), and the
 * upload goes on: the SYN is never answered, the flow lives on and its bytes are
 * delivered; a SYN-ACK that answers another ISN opens nothing. */
static void rst_and_syn_forged_by_one_side(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 100, 0, DLP_TCP_RST, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    dlp_packet_t syn = seg(ISN0 + 0x20000000u, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    dlp_packet_t other = seg(ISN1 + 5, ISN0 + 0x20000002u, DLP_TCP_SYN | A, NULL, 0);
    assert_int_equal(send_pk(&c, 1, &other), DLP_OK);
    sdata(&c, 0, 100, 100); /* the old connection goes on */
    assert_int_equal(c.k->delivered[0], 200);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    /* revived: the SYN is forgotten, its SYN-ACK (late) opens nothing */
    dlp_packet_t synack = seg(ISN1 + 5, ISN0 + 0x20000001u, DLP_TCP_SYN | A, NULL, 0);
    assert_int_equal(send_pk(&c, 1, &synack), DLP_OK);
    sdata(&c, 0, 200, 50);
    assert_int_equal(c.k->delivered[0], 250);
    conn_close(&c);
    teardown_r();
}

/* The retained bytes, as the sink may read them for context. */
static void retained_bytes(void **state)
{
    (void)state;
    dlp_reasm_config_t cfg;
    uint8_t out[64];
    dlp_reasm_config_default(&cfg);
    cfg.retain_bytes = 100;
    setup_cfg(&cfg);
    conn_t c = conn_new();
    handshake(&c);
    assert_true(dlp_reasm_retained(c.s, 0, 0, 0, out));
    assert_false(dlp_reasm_retained(c.s, 0, 0, 1, out));
    sdata(&c, 0, 0, 150);
    assert_false(dlp_reasm_retained(c.s, 0, 49, 60, out)); /* left the ring */
    assert_true(dlp_reasm_retained(c.s, 0, 90, 150, out)); /* wraps in the ring */
    assert_memory_equal(out, &g_src[0][90], 60);
    assert_false(dlp_reasm_retained(c.s, 0, 140, 151, out)); /* not delivered yet */
    assert_false(dlp_reasm_retained(c.s, 0, 60, 50, out));
    sdata(&c, 0, 250, 10);
    sack(&c, 1, 300); /* a gap [150, 250): nothing before it is retained any more */
    assert_false(dlp_reasm_retained(c.s, 0, 140, 150, out));
    assert_true(dlp_reasm_retained(c.s, 0, 250, 260, out));
    assert_memory_equal(out, &g_src[0][250], 10);
    conn_close(&c);
    teardown_r();
}

static void rst_refused_port(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    tx(&c, 0, ISN0, 0, DLP_TCP_SYN, NULL, 0);
    /* RST-ACK from a closed port: its direction has no state, accepted */
    tx(&c, 1, 0, ISN0 + 1, DLP_TCP_RST | A, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_RESET);
    assert_int_equal(c.k->ends[0], 0);
    assert_int_equal(c.k->reported[0], 0);
    conn_close(&c);
    teardown_r();
}

static void syn_with_data(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    tx(&c, 0, ISN0, 0, DLP_TCP_SYN, &g_src[0][0], 50);
    assert_int_equal(c.k->delivered[0], 50);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_SYN_SENT);
    tx(&c, 1, ISN1, ISN0 + 51, DLP_TCP_SYN | A, NULL, 0);
    /* the SYN retransmitted with its data: compared, not delivered twice */
    tx(&c, 0, ISN0, 0, DLP_TCP_SYN, &g_src[0][0], 50);
    assert_int_equal(c.k->delivered[0], 50);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    sdata(&c, 0, 50, 50);
    assert_stream(&c, 0, 0, 100, K_DATA);
    assert_int_equal(st(DLP_STAT_TCP_MIDSTREAM), 0);
    conn_close(&c);
    teardown_r();
}

static void new_syn_starts_new_flow(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 10);
    /* a SYN with another ISN after data, its sender not closed: ignored, counted (a
     * forged one must not end the flow and hide what follows) */
    dlp_packet_t syn = seg(ISN0 + 5000, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 1);
    /* a SYN-ACK with another ISN after data: ignored */
    dlp_packet_t synack = seg(ISN1 + 5000, ISN0 + 1, DLP_TCP_SYN | A, NULL, 0);
    sdata(&c, 1, 0, 10);
    assert_int_equal(send_pk(&c, 1, &synack), DLP_OK);
    assert_int_equal(c.k->delivered[0], 10);
    tx(&c, 0, ISN0 + 11, ISN1 + 11, DLP_TCP_FIN | A, NULL, 0);
    tx(&c, 1, ISN1 + 11, ISN0 + 12, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSED);
    /* same ISN or not, a SYN on a closed session opens a new flow */
    dlp_packet_t again = seg(ISN0, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &again), DLP_DONE);
    conn_close(&c);

    /* a SYN retried with a new ISN before any data just re-bases the direction */
    c = conn_new();
    tx(&c, 0, ISN0, 0, DLP_TCP_SYN, NULL, 0);
    tx(&c, 0, ISN0 + 77, 0, DLP_TCP_SYN, NULL, 0);
    tx(&c, 0, ISN0 + 78, 0, A, &g_src[0][0], 10);
    assert_int_equal(c.k->delivered[0], 10);
    assert_stream(&c, 0, 0, 10, K_DATA);
    /* one FIN: over for the direction that sent it, whose SYN opens a new flow */
    tx(&c, 0, ISN0 + 88, 0, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    dlp_packet_t syn2 = seg(ISN0 + 9, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn2), DLP_DONE);
    conn_close(&c);
    teardown_r();
}

/* Half-closed: the server sent its FIN, the client goes on uploading. A SYN forged from
 * the client's side must not end the flow: what follows is still delivered. */
static void forged_syn_in_half_close_ignored(void **state)
{
    (void)state;
    conn_t c = conn_up();
    sdata(&c, 0, 0, 10);
    tx(&c, 1, ISN1 + 1, ISN0 + 11, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    dlp_packet_t syn = seg(ISN0 + 7777, 0, DLP_TCP_SYN, NULL, 0);
    assert_int_equal(send_pk(&c, 0, &syn), DLP_OK);
    sdata(&c, 0, 10, 30);
    assert_int_equal(c.k->delivered[0], 40);
    assert_stream(&c, 0, 0, 40, K_DATA);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_CLOSING);
    conn_close(&c);
    teardown_r();
}

static void truncated_segment(void **state)
{
    (void)state;
    conn_t c = conn_up();
    dlp_packet_t pk = seg(ISN0 + 1, ISN1 + 1, A, &g_src[0][0], 60);
    pk.payload_wire = 100;
    assert_int_equal(send_pk(&c, 0, &pk), DLP_OK);
    assert_int_equal(st(DLP_STAT_TCP_TRUNCATED), 1);
    assert_stream(&c, 0, 0, 60, K_DATA);
    assert_stream(&c, 0, 60, 100, K_GAP);
    assert_int_equal(c.k->gaps[0], 1);
    assert_int_equal(st(DLP_STAT_TCP_GAP_BYTES), 40);
    /* retransmitted, still truncated: one retransmission, no conflict */
    assert_int_equal(send_pk(&c, 0, &pk), DLP_OK);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    assert_int_equal(st(DLP_STAT_TCP_LATE), 0);
    assert_int_equal(c.k->reported[0], 100);
    assert_int_equal(st(DLP_STAT_TCP_TRUNCATED), 2);
    /* out of order and truncated: the missing part is held as a gap */
    pk = seg(ISN0 + 1 + 200, ISN1 + 1, A, &g_src[0][200], 50);
    pk.payload_wire = 100;
    assert_int_equal(send_pk(&c, 0, &pk), DLP_OK);
    sdata(&c, 0, 300, 10);
    assert_int_equal(c.k->reported[0], 100);
    /* the hole [100,200) filled; [250,300) stays a gap; [300,310) follows */
    sdata(&c, 0, 100, 100);
    assert_stream(&c, 0, 100, 250, K_DATA);
    assert_stream(&c, 0, 250, 300, K_GAP);
    assert_stream(&c, 0, 300, 310, K_DATA);
    /* a held truncated range gives way to real bytes arriving in order */
    pk = seg(ISN0 + 1 + 400, ISN1 + 1, A, &g_src[0][400], 20);
    pk.payload_wire = 100;
    assert_int_equal(send_pk(&c, 0, &pk), DLP_OK);
    sdata(&c, 0, 310, 150);
    assert_stream(&c, 0, 310, 460, K_DATA);
    assert_stream(&c, 0, 460, 500, K_GAP);
    assert_int_equal(c.k->reported[0], 500);
    assert_int_equal(st(DLP_STAT_TCP_TRUNCATED), 4);
    conn_close(&c);
    teardown_r();
}

static void out_of_window(void **state)
{
    (void)state;
    dlp_reasm_config_t cfg;
    dlp_reasm_config_default(&cfg);
    cfg.window = 10000;
    setup_cfg(&cfg);
    conn_t c = conn_new();
    handshake(&c);
    sdata(&c, 0, 0, 100);
    tx(&c, 0, ISN0 + 1 + 100 + 10001, ISN1 + 1, A, g_src[0], 10);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 1);
    tx(&c, 0, ISN0 + 1 + 100 + 10000, ISN1 + 1, A, g_src[0], 10); /* at the edge: held */
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 1);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 10);
    tx(&c, 0, ISN0 + 1 - 0x50000000u, ISN1 + 1, A, g_src[0], 10); /* far behind */
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 2);
    /* a length no capture can have (a bogus payload_wire) */
    dlp_packet_t pk = seg(ISN0 + 1 + 100, ISN1 + 1, A, g_src[0], 10);
    pk.payload_wire = 0x80000000u;
    assert_int_equal(send_pk(&c, 0, &pk), DLP_OK);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 3);
    assert_int_equal(st(DLP_STAT_TCP_TRUNCATED), 0);
    /* an ACK far ahead is not believed */
    sack(&c, 1, 0x20000000u);
    assert_int_equal(c.k->gaps[0], 0);
    /* a FIN far ahead neither */
    tx(&c, 0, ISN0 + 1 + 0x20000000u, ISN1 + 1, DLP_TCP_FIN | A, NULL, 0);
    assert_int_equal(st(DLP_STAT_TCP_OUT_OF_WINDOW), 4);
    assert_int_equal(dlp_reasm_state(c.s), DLP_TCP_ESTABLISHED);
    assert_int_equal(c.k->reported[0], 100);
    conn_close(&c);
    teardown_r();
    /* a window beyond what 32-bit unwrapping supports is refused */
    cfg.window = 0x80000000u;
    assert_null(dlp_reasm_new(&cfg, &g_st));
}

/*
 * A direction the caller does not inspect is set before the first segment
 * (the worker does it right after session_new): the SYN or the midstream
 * pick-up that starts the direction must not forget it.
 */
static void no_retain_survives_start(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    dlp_reasm_session_set_retain(c.s, 1, false);
    size_t m0 = dlp_reasm_session_mem(c.s);
    handshake(&c);
    sdata(&c, 1, 0, 200);
    assert_int_equal(dlp_reasm_session_mem(c.s), m0); /* no ring for dir 1 */
    uint8_t evil[100];
    memset(evil, 'X', sizeof(evil));
    sbytes(&c, 1, 100, evil, 100); /* differs, but nothing to compare with */
    assert_int_equal(c.k->nconf, 0);
    assert_int_equal(st(DLP_STAT_TCP_RETRANS), 1);
    conn_close(&c);

    /* the same for a direction picked up midstream */
    c = conn_new();
    dlp_reasm_session_set_retain(c.s, 0, false);
    m0 = dlp_reasm_session_mem(c.s);
    tx(&c, 0, 123456789u, 42, A, &g_src[0][0], 100);
    assert_int_equal(dlp_reasm_session_mem(c.s), m0);
    conn_close(&c);
    teardown_r();
}

static void keepalive_not_a_conflict(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    uint8_t zero = 0;
    handshake(&c);
    sdata(&c, 0, 0, 100);
    if (g_src[0][99] == 0)
        zero = 1;
    sbytes(&c, 0, 99, &zero, 1);
    assert_int_equal(c.k->nconf, 0);
    assert_int_equal(c.k->reported[0], 100);
    conn_close(&c);
    teardown_r();
}

static void session_mem_and_close_held(void **state)
{
    (void)state;
    setup_cfg(NULL);
    conn_t c = conn_new();
    size_t m0 = dlp_reasm_session_mem(c.s);
    handshake(&c);
    assert_int_equal(dlp_reasm_session_mem(c.s), m0);
    sdata(&c, 0, 0, 10);
    assert_int_equal(dlp_reasm_session_mem(c.s), m0 + DLP_REASM_RETAIN_BYTES);
    sdata(&c, 0, 100, 1000);
    size_t m2 = dlp_reasm_session_mem(c.s);
    assert_true(m2 > m0 + DLP_REASM_RETAIN_BYTES + 1000);
    assert_true(m2 < m0 + DLP_REASM_RETAIN_BYTES + 1000 + 128);
    /* close: the hole becomes a gap, held data is delivered, both directions end */
    conn_close(&c);
    teardown_r();

    /* NULL session and NULL sink are accepted: the latter frees without reporting */
    setup_cfg(NULL);
    dlp_reasm_session_close(g_r, NULL, &tsink_ops, NULL);
    c = conn_new();
    handshake(&c);
    sdata(&c, 0, 100, 1000);
    assert_int_equal(st(DLP_STAT_TCP_OOO_MEM), 1000);
    dlp_reasm_session_close(g_r, c.s, NULL, NULL);
    assert_int_equal(st(DLP_STAT_REASM_GAPS), 0);
    assert_int_equal(st(DLP_STAT_TCP_STREAM_BYTES), 0);
    free(c.k);
    teardown_r();
}

/* ---- randomized stress ------------------------------------------------------ */

typedef struct ev {
    int dir;
    uint32_t off, len;
    uint8_t flags;
    bool dropped; /* reaches the receiver, not the capture */
    const uint8_t *p;
} ev_t;

#define MAX_EV 4096

typedef struct stress {
    uint64_t rs;
    uint32_t len[2];
    uint32_t isn[2];
    ev_t ev[MAX_EV];
    int nev;
    ev_t dl[2][MAX_EV / 2]; /* per direction, before merging */
    int ndl[2];
    uint8_t rcvd[2][MAXS / 8 + 1]; /* bytes the receiver has, for its ACKs */
    uint32_t rcv_next[2];
    bool fin_rcvd[2];
    uint8_t *alt; /* altered copies */
    size_t alt_used;
} stress_t;

static void mark_rcvd(stress_t *x, int dir, uint32_t off, uint32_t len)
{
    for (uint32_t i = off; i < off + len; i++)
        x->rcvd[dir][i >> 3] |= (uint8_t)(1u << (i & 7));
    while (x->rcv_next[dir] < x->len[dir] &&
           (x->rcvd[dir][x->rcv_next[dir] >> 3] & (1u << (x->rcv_next[dir] & 7))))
        x->rcv_next[dir]++;
}

/* Cuts direction 'dir' into segments (some dropped), then swaps neighbours. */
static void plan_cut(stress_t *x, int dir, int drop_pct)
{
    ev_t *l = x->dl[dir];
    uint32_t off = 0;
    int n = 0;

    while (off < x->len[dir] && n < MAX_EV / 4) {
        uint32_t r = rng_next(&x->rs) % 100, len;
        len = r < 20 ? 1 + rng_next(&x->rs) % 8 : 1 + rng_next(&x->rs) % 1460;
        if (len > x->len[dir] - off)
            len = x->len[dir] - off;
        l[n] = (ev_t){dir, off, len, A | DLP_TCP_PSH, false, &g_src[dir][off]};
        l[n].dropped = (int)(rng_next(&x->rs) % 100) < drop_pct;
        off += len;
        n++;
    }
    x->len[dir] = off;
    l[n - 1].flags |= DLP_TCP_FIN;
    for (int i = 0; i < n; i++) {
        if (rng_next(&x->rs) % 100 < 30) {
            int j = i + 1 + (int)(rng_next(&x->rs) % 6);
            if (j < n) {
                ev_t t = l[i];
                l[i] = l[j];
                l[j] = t;
            }
        }
    }
    x->ndl[dir] = n;
}

/*
 * Adds retransmissions after their original. Some are altered, only when the
 * original was captured: it arrives first, so first-wins keeps the original.
 */
static void plan_dups(stress_t *x, int dir, int dup_pct, int alt_pct)
{
    ev_t *l = x->dl[dir];
    int n0 = x->ndl[dir];

    for (int i = 0; i < n0 && x->ndl[dir] < MAX_EV / 2; i++) {
        if ((int)(rng_next(&x->rs) % 100) >= dup_pct)
            continue;
        ev_t d = l[i];
        if (d.p != &g_src[dir][d.off])
            continue;
        bool was_dropped = d.dropped;
        d.dropped = false;
        if (!was_dropped && (int)(rng_next(&x->rs) % 100) < alt_pct) {
            uint8_t *q = x->alt + x->alt_used;
            memcpy(q, d.p, d.len);
            q[rng_next(&x->rs) % d.len] ^= (uint8_t)(1 + rng_next(&x->rs) % 255);
            x->alt_used += d.len;
            d.p = q;
        }
        int to = i + 1 + (int)(rng_next(&x->rs) % 20), n = x->ndl[dir];
        if (to > n)
            to = n;
        memmove(&l[to + 1], &l[to], sizeof(ev_t) * (size_t)(n - to));
        l[to] = d;
        x->ndl[dir]++;
        if (to <= n0)
            n0++;
        if (to <= i)
            i++;
    }
}

/* Interleaves the two directions, each keeping its order. */
static void plan_merge(stress_t *x)
{
    int i0 = 0, i1 = 0;
    x->nev = 0;
    while (i0 < x->ndl[0] || i1 < x->ndl[1]) {
        bool take0 = i1 >= x->ndl[1] || (i0 < x->ndl[0] && rng_next(&x->rs) % 100 < 70);
        x->ev[x->nev++] = take0 ? x->dl[0][i0++] : x->dl[1][i1++];
    }
}

/* Sends the events; the receiver of each direction ACKs what it has. */
static void stress_run(stress_t *x, conn_t *c)
{
    for (int i = 0; i < x->nev; i++) {
        ev_t *e = &x->ev[i];
        int d = e->dir;
        mark_rcvd(x, d, e->off, e->len);
        if (e->flags & DLP_TCP_FIN)
            x->fin_rcvd[d] = true;
        if (!e->dropped) {
            uint32_t seq = x->isn[d] + 1 + e->off;
            uint32_t ack = x->isn[!d] + 1 + x->rcv_next[!d];
            tx(c, d, seq, ack, e->flags, e->p, e->len);
        }
        if (rng_next(&x->rs) % 100 < 30) {
            uint32_t ack = x->isn[d] + 1 + x->rcv_next[d];
            if (x->rcv_next[d] == x->len[d] && x->fin_rcvd[d])
                ack++;
            tx(c, !d, x->isn[!d] + 1 + x->rcv_next[!d], ack, A, NULL, 0);
        }
    }
    /* The receivers acknowledge the FINs they got, as the last of the conversation. */
    for (int d = 0; d < 2; d++)
        if (x->rcv_next[d] == x->len[d] && x->fin_rcvd[d])
            tx(c, !d, x->isn[!d] + 1 + x->rcv_next[!d], x->isn[d] + 2 + x->len[d], A, NULL, 0);
}

/* Counters summed over the stress runs: they must show every path was taken. */
static uint64_t g_cover[DLP_STAT__COUNT];

static void stress_one(uint64_t seed, const dlp_reasm_config_t *cfg, int drop, int dup, int alt)
{
    stress_t *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    x->alt = malloc(4 * MAXS);
    assert_non_null(x->alt);
    x->rs = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int dir = 0; dir < 2; dir++) {
        x->len[dir] = 1 + rng_next(&x->rs) % (dir == 0 ? 120000 : 20000);
        x->isn[dir] = rng_next(&x->rs) << 16 ^ rng_next(&x->rs);
    }
    if (seed % 4 == 0)
        x->isn[0] = 0xFFFFFFFFu - rng_next(&x->rs) % 30000; /* wraps inside the stream */
    for (int dir = 0; dir < 2; dir++) {
        plan_cut(x, dir, drop);
        plan_dups(x, dir, dup, alt);
    }
    plan_merge(x);
    setup_cfg(cfg);
    conn_t c = conn_new();
    for (int dir = 0; dir < 2; dir++) {
        c.k->orig[dir] = g_src[dir];
        c.k->orig_len[dir] = x->len[dir];
    }
    tx(&c, 0, x->isn[0], 0, DLP_TCP_SYN, NULL, 0);
    tx(&c, 1, x->isn[1], x->isn[0] + 1, DLP_TCP_SYN | A, NULL, 0);
    tx(&c, 0, x->isn[0] + 1, x->isn[1] + 1, A, NULL, 0);
    stress_run(x, &c);
    bool lossless =
        drop == 0 && st(DLP_STAT_TCP_OOO_DIR_LIMIT) == 0 && st(DLP_STAT_TCP_OOO_WORKER_LIMIT) == 0;
    if (lossless) {
        for (int dir = 0; dir < 2; dir++) {
            assert_int_equal(c.k->delivered[dir], x->len[dir]);
            assert_int_equal(c.k->ends[dir], 1);
        }
    }
    check_info(&c);
    tsink_t *k = c.k;
    uint64_t rep[2] = {k->reported[0], k->reported[1]};
    dlp_reasm_session_close(g_r, c.s, &tsink_ops, k);
    for (int dir = 0; dir < 2; dir++) {
        assert_true(k->reported[dir] <= x->len[dir]);
        assert_true(k->reported[dir] >= rep[dir]);
        assert_int_equal(k->ends[dir], 1);
        assert_int_equal(k->reported[dir], k->delivered[dir] + k->gap_bytes[dir]);
    }
    assert_int_equal(st(DLP_STAT_TCP_STREAM_BYTES), k->delivered[0] + k->delivered[1]);
    assert_int_equal(st(DLP_STAT_REASM_GAPS), (uint64_t)(k->gaps[0] + k->gaps[1]));
    assert_int_equal(st(DLP_STAT_TCP_GAP_BYTES), k->gap_bytes[0] + k->gap_bytes[1]);
    assert_int_equal(st(DLP_STAT_TCP_OVERLAP_DIFF), (uint64_t)k->nconf);
    for (int i = 0; i < DLP_STAT__COUNT; i++)
        g_cover[i] += st((dlp_stat_id_t)i);
    teardown_r();
    free(k);
    free(x->alt);
    free(x);
}

static void stress(void **state)
{
    (void)state;
    dlp_reasm_config_t def, tight;
    dlp_reasm_config_default(&def);
    tight = def;
    tight.ooo_bytes_dir = 4096;
    tight.ooo_segs_dir = 8;
    tight.retain_bytes = 300;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        stress_one(seed, &def, 0, 10, 0);    /* reorder + duplicates: lossless */
        stress_one(seed, &def, 5, 10, 30);   /* + drops, altered duplicates */
        stress_one(seed, &tight, 3, 15, 30); /* bounds hit */
    }
    static const dlp_stat_id_t seen[] = {
        DLP_STAT_TCP_RETRANS,       DLP_STAT_TCP_OVERLAPS,     DLP_STAT_TCP_OVERLAP_DIFF,
        DLP_STAT_TCP_OOO,           DLP_STAT_REASM_GAPS,       DLP_STAT_TCP_LATE,
        DLP_STAT_TCP_OOO_DIR_LIMIT, DLP_STAT_TCP_STREAM_BYTES,
    };
    for (size_t i = 0; i < DLP_ARRAY_LEN(seen); i++) {
        if (g_cover[seen[i]] == 0)
            fail_msg("stress never counted %s", dlp_stat_name(seen[i]));
    }
}

/* Random one segment near the flow's sequence space, with any flags. */
static dlp_packet_t hostile_seg(uint64_t *rs, const uint32_t base[2], int dir, uint8_t *buf)
{
    uint32_t r = rng_next(rs) % 100, len = 0;
    uint32_t seq = base[dir] + rng_next(rs) % 6000 - 1000;
    if (r < 3)
        seq = rng_next(rs) << 16 ^ rng_next(rs);
    if (rng_next(rs) % 100 < 70)
        len = rng_next(rs) % 100 < 80 ? rng_next(rs) % 1500 : rng_next(rs) % 8;
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seq + i);
    uint8_t fl = DLP_TCP_ACK;
    r = rng_next(rs) % 100;
    if (r < 4)
        fl = DLP_TCP_SYN;
    else if (r < 7)
        fl = DLP_TCP_SYN | DLP_TCP_ACK;
    else if (r < 10)
        fl |= DLP_TCP_FIN;
    else if (r < 11)
        fl = DLP_TCP_RST;
    uint32_t ack = base[!dir] + rng_next(rs) % 6000 - 1000;
    dlp_packet_t pk = seg(seq, ack, fl, buf, len);
    if (len > 0 && rng_next(rs) % 100 < 5)
        pk.payload_len = rng_next(rs) % len;
    return pk;
}

static void hostile_random(void **state)
{
    (void)state;
    dlp_reasm_config_t cfg;
    static uint8_t buf[1500];
    dlp_reasm_config_default(&cfg);
    cfg.ooo_bytes_dir = 3000;
    cfg.ooo_segs_dir = 6;
    cfg.ooo_bytes_worker = 5000;
    cfg.retain_bytes = 100;
    cfg.window = 4000;
    unsigned resets = 0, half = 0, revived = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        uint64_t rs = seed * 0x632BE59BD9B4E019ULL;
        uint32_t base[2] = {rng_next(&rs) << 16, rng_next(&rs) << 16 ^ 0xFFFFF000u};
        uint32_t last_end[2] = {base[0], base[1]};
        int flows = 0;
        setup_cfg(&cfg);
        conn_t c = conn_new();
        for (int i = 0; i < 3000; i++) {
            int dir = (int)(rng_next(&rs) & 1);
            dlp_packet_t pk = hostile_seg(&rs, base, dir, buf);
            /* An RST where the last segment of its direction ended: often exact. */
            if (rng_next(&rs) % 100 < 3)
                pk = seg(last_end[dir] + rng_next(&rs) % 3 - 1, 0, DLP_TCP_RST, NULL, 0);
            else if (pk.payload_wire > 0)
                last_end[dir] = pk.tcp_seq + pk.payload_wire;
            bool was_reset = dlp_reasm_state(c.s) == DLP_TCP_RESET;
            dlp_rc_t rc = send_pk(&c, dir, &pk);
            if (rc == DLP_OK && !was_reset && dlp_reasm_state(c.s) == DLP_TCP_RESET)
                resets++;
            if (rc == DLP_OK && was_reset && dlp_reasm_state(c.s) != DLP_TCP_RESET)
                revived++;
            if (rc == DLP_OK && dlp_reasm_state(c.s) == DLP_TCP_RESET && !dlp_reasm_over(c.s))
                half++;
            assert_true(rc == DLP_OK || rc == DLP_DONE);
            if (rc == DLP_DONE) {
                assert_int_equal(pk.tcp_flags, DLP_TCP_SYN);
                conn_close(&c);
                c = conn_new();
                assert_int_equal(send_pk(&c, dir, &pk), DLP_OK);
                flows++;
            }
            assert_true(st(DLP_STAT_TCP_OOO_MEM) <= 2 * cfg.ooo_bytes_dir);
            assert_true(dlp_reasm_session_mem(c.s) <
                        4096 + 2 * (cfg.ooo_bytes_dir + cfg.ooo_segs_dir * 64 + cfg.retain_bytes));
            if (i % 8 == 0)
                base[dir] += rng_next(&rs) % 1500;
        }
        conn_close(&c);
        teardown_r();
        assert_true(flows < 3000);
    }
    /* the RST paths were taken: accepted, outlived by its sender, by its receiver */
    assert_true(resets > 40 && revived > 10 && half > 10);
}

/* ---- urgent bytes ------------------------------------------------------------ */

/* A segment of bytes p with URG and pointer urp (dir 0, stream offset off). */
static void surg(conn_t *c, uint32_t off, const uint8_t *p, uint32_t n, uint16_t urp)
{
    dlp_packet_t pk = seg(ISN0 + 1 + off, ISN1 + 1, DLP_TCP_ACK | DLP_TCP_PSH | DLP_TCP_URG, p, n);
    pk.tcp_urp = urp;
    assert_int_equal(send_pk(c, 0, &pk), DLP_OK);
}

static conn_t urg_conn(const uint8_t *orig, size_t n)
{
    conn_t c;
    g_ops = &tsink_urg_ops;
    c = conn_up();
    c.k->s = c.s;
    c.k->orig[0] = orig;
    c.k->orig_len[0] = n;
    return c;
}

/* The byte before the pointer (BSD/Linux reading) is urgent(), the rest data. */
static void urgent_byte_leaves_stream(void **state)
{
    static const uint8_t msg[] = "abcXdef";
    (void)state;
    conn_t c = urg_conn(msg, 7);
    surg(&c, 0, msg, 7, 4);
    assert_int_equal(c.k->urgents[0], 1);
    assert_int_equal(c.k->kind[0][3], K_URG);
    assert_int_equal(c.k->kind[0][2], K_DATA);
    assert_int_equal(c.k->kind[0][4], K_DATA);
    assert_int_equal(c.k->data_calls[0], 2);
    assert_int_equal(c.k->reported[0], 7);
    assert_int_equal(st(DLP_STAT_TCP_URGENT), 1);
    /* The same segment again (a retransmission): nothing more is urgent. */
    surg(&c, 0, msg, 7, 4);
    assert_int_equal(c.k->urgents[0], 1);
    conn_close(&c);
    teardown_r();
}

/* Without urgent() in the sink the byte is data, as before. */
static void urgent_without_callback_is_data(void **state)
{
    static const uint8_t msg[] = "abcXdef";
    (void)state;
    conn_t c = conn_up();
    surg(&c, 0, msg, 7, 4);
    assert_int_equal(c.k->data_calls[0], 1);
    assert_int_equal(c.k->urgents[0], 0);
    assert_memory_equal(c.k->buf[0], msg, 7);
    assert_int_equal(st(DLP_STAT_TCP_URGENT), 0);
    conn_close(&c);
    teardown_r();
}

/* A pointer past the segment's bytes waits for the byte; an earlier pointer
 * than the one awaited changes nothing (Linux); one byte per pointer. */
static void urgent_pointer_ahead(void **state)
{
    static const uint8_t msg[] = "abcdXfghYj";
    (void)state;
    conn_t c = urg_conn(msg, 10);
    surg(&c, 0, msg, 3, 5);      /* points at offset 4 */
    surg(&c, 3, msg + 3, 1, 1);  /* points at offset 3: before the one awaited */
    assert_int_equal(c.k->urgents[0], 0);
    sbytes(&c, 0, 4, msg + 4, 4); /* no URG flag: the awaited byte is still urgent */
    assert_int_equal(c.k->urgents[0], 1);
    assert_int_equal(c.k->kind[0][4], K_URG);
    assert_int_equal(c.k->kind[0][3], K_DATA);
    surg(&c, 8, msg + 8, 2, 1);  /* offset 8 */
    assert_int_equal(c.k->urgents[0], 2);
    assert_int_equal(c.k->kind[0][8], K_URG);
    conn_close(&c);
    teardown_r();
}

/* Out of order: the urgent segment held first, delivered when the hole fills. */
static void urgent_out_of_order(void **state)
{
    static const uint8_t msg[] = "0123456789";
    (void)state;
    conn_t c = urg_conn(msg, 10);
    surg(&c, 5, msg + 5, 5, 2); /* offset 6 */
    assert_int_equal(c.k->reported[0], 0);
    sbytes(&c, 0, 0, msg, 5);
    assert_int_equal(c.k->reported[0], 10);
    assert_int_equal(c.k->urgents[0], 1);
    assert_int_equal(c.k->kind[0][6], K_URG);
    conn_close(&c);
    teardown_r();
}

/* A gap over an awaited urgent byte forgets it; the stream goes on as data. */
static void urgent_lost_in_gap(void **state)
{
    static const uint8_t msg[] = "0123456789abcdefghij";
    (void)state;
    conn_t c = urg_conn(msg, 20);
    surg(&c, 0, msg, 2, 6);      /* offset 5, in what will be lost */
    tx(&c, 1, ISN1 + 1, ISN0 + 1 + 10, DLP_TCP_ACK, NULL, 0); /* peer ACKs past the hole */
    sbytes(&c, 0, 10, msg + 10, 10);
    assert_int_equal(c.k->gap_bytes[0], 8);
    assert_int_equal(c.k->urgents[0], 0);
    assert_int_equal(c.k->reported[0], 20);
    conn_close(&c);
    teardown_r();
}

/* Pointers all ahead of the stream: the latest replaces the others (Linux keeps one). */
static void urgent_pointers_bounded(void **state)
{
    uint8_t msg[64];
    (void)state;
    memset(msg, 'a', sizeof(msg));
    conn_t c = urg_conn(msg, sizeof(msg));
    for (uint16_t i = 0; i < 8; i++)
        surg(&c, 40, msg + 40, 1, (uint16_t)(2 + i)); /* offsets 41..48, all ahead */
    sbytes(&c, 0, 0, msg, 40);
    assert_int_equal(c.k->reported[0], 41);
    sbytes(&c, 0, 41, msg + 41, 23);
    assert_int_equal(c.k->reported[0], 64);
    assert_int_equal(c.k->urgents[0], 1); /* the latest, 48 */
    assert_int_equal(c.k->kind[0][48], K_URG);
    assert_int_equal(c.k->kind[0][41], K_DATA);
    assert_int_equal(c.k->kind[0][44], K_DATA);
    conn_close(&c);
    teardown_r();
}

/* A pointer past the one awaited, before that one's byte came, replaces it:
 * Linux (tcp_check_urg) and BSD keep one urgent mark, so the byte of the
 * first pointer is read in the stream (a Linux sender points 0xFFFF ahead
 * while its urgent byte is more than 64 KiB on: those bytes are data). */
static void urgent_pointer_replaced_before_its_byte(void **state)
{
    static const uint8_t msg[] = "0123456789abcdef";
    (void)state;
    conn_t c = urg_conn(msg, 16);
    surg(&c, 0, msg, 2, 6);      /* offset 5, ahead */
    surg(&c, 2, msg + 2, 2, 8);  /* offset 9, ahead: replaces 5 */
    sbytes(&c, 0, 4, msg + 4, 12);
    assert_int_equal(c.k->reported[0], 16);
    assert_int_equal(c.k->urgents[0], 1);
    assert_int_equal(c.k->kind[0][5], K_DATA);
    assert_int_equal(c.k->kind[0][9], K_URG);
    conn_close(&c);
    teardown_r();
}

/* URG with pointer 0: Linux (tcp_check_urg takes 1 off only a pointer that
 * is not 0) reads the segment's first byte as the urgent one. */
static void urgent_pointer_zero(void **state)
{
    static const uint8_t msg[] = "abcXdef";
    (void)state;
    conn_t c = urg_conn(msg, 7);
    sbytes(&c, 0, 0, msg, 3);
    surg(&c, 3, msg + 3, 4, 0);
    assert_int_equal(c.k->reported[0], 7);
    assert_int_equal(c.k->urgents[0], 1);
    assert_int_equal(c.k->kind[0][3], K_URG);
    assert_int_equal(c.k->kind[0][4], K_DATA);
    conn_close(&c);
    teardown_r();
}

int main(void)
{
    init_src();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(in_order),
        cmocka_unit_test(closing_before_the_last_ack_flushes),
        cmocka_unit_test(reversed_order),
        cmocka_unit_test(random_order_seeds),
        cmocka_unit_test(exact_retransmission),
        cmocka_unit_test(partial_retransmission),
        cmocka_unit_test(conflict_with_delivered),
        cmocka_unit_test(conflict_beyond_retained_window),
        cmocka_unit_test(conflict_with_held),
        cmocka_unit_test(gap_via_ack),
        cmocka_unit_test(bound_dir_bytes),
        cmocka_unit_test(bound_dir_segments),
        cmocka_unit_test(bound_worker),
        cmocka_unit_test(sequence_wrap),
        cmocka_unit_test(midstream),
        cmocka_unit_test(midstream_lagging_ack),
        cmocka_unit_test(one_byte_segments),
        cmocka_unit_test(fin_revoked_by_bytes_past_it),
        cmocka_unit_test(syn_after_unacknowledged_fin),
        cmocka_unit_test(fin_after_revoked_fin),
        cmocka_unit_test(closed_needs_acknowledged_fins),
        cmocka_unit_test(fin_revoked_by_ack_past_it),
        cmocka_unit_test(fin_before_data_completes),
        cmocka_unit_test(fin_hole_acked),
        cmocka_unit_test(rst_keeps_streams_open),
        cmocka_unit_test(rst_streams_at_close),
        cmocka_unit_test(rst_not_exact_ignored),
        cmocka_unit_test(rst_outlived_by_sender),
        cmocka_unit_test(rst_outlived_by_receiver),
        cmocka_unit_test(rst_then_syn_from_receiver),
        cmocka_unit_test(rst_and_syn_forged_by_one_side),
        cmocka_unit_test(retained_bytes),
        cmocka_unit_test(rst_refused_port),
        cmocka_unit_test(syn_with_data),
        cmocka_unit_test(new_syn_starts_new_flow),
        cmocka_unit_test(forged_syn_in_half_close_ignored),
        cmocka_unit_test(truncated_segment),
        cmocka_unit_test(out_of_window),
        cmocka_unit_test(keepalive_not_a_conflict),
        cmocka_unit_test(no_retain_survives_start),
        cmocka_unit_test(session_mem_and_close_held),
        cmocka_unit_test(stress),
        cmocka_unit_test(hostile_random),
        cmocka_unit_test(urgent_byte_leaves_stream),
        cmocka_unit_test(urgent_without_callback_is_data),
        cmocka_unit_test(urgent_pointer_ahead),
        cmocka_unit_test(urgent_out_of_order),
        cmocka_unit_test(urgent_lost_in_gap),
        cmocka_unit_test(urgent_pointers_bounded),
        cmocka_unit_test(urgent_pointer_replaced_before_its_byte),
        cmocka_unit_test(urgent_pointer_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
