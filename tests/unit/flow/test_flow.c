/*
 * test_flow.c - the per-worker flow table: directions, initiator, VLAN in
 * the key, flow ids, timeouts per class at their exact boundaries, idle
 * flows at lookup, port reuse, memcap eviction order, end_all, growth and
 * counters. Packets are filled by hand (only the fields the table and
 * dlp_flow_key_make read).
 */
#include "dlp_test.h"

#include <stdlib.h>

#include "dlp/flow.h"
#include "dlp/hash.h"

#define SZ ((uint64_t)sizeof(dlp_flow_t))
#define REC_MAX 64

/* Timeouts distinct per class so a wrong class shows. */
#define TO_NEW 1000u
#define TO_EST 2000u
#define TO_CLOSING 3000u
#define TO_CLOSED 4000u
#define TO_UDP 5000u

typedef struct {
    size_t n;
    uint64_t id[REC_MAX];
    uint8_t reason[REC_MAX];
    uint8_t flags[REC_MAX];
    uint16_t port[REC_MAX]; /* initiator's port: tells test flows apart */
} rec_t;

static void on_end(void *ctx, dlp_flow_t *f)
{
    rec_t *r = ctx;
    if (r->n < REC_MAX) {
        r->id[r->n] = f->flow_id;
        r->reason[r->n] = f->end_reason;
        r->flags[r->n] = f->flags;
        r->port[r->n] = dlp_flow_port(f, 0);
    }
    r->n++;
    if (f->user)
        (*(int *)f->user)++;
}

typedef struct {
    dlp_stats_t st;
    rec_t rec;
    dlp_flow_config_t cfg;
    dlp_flow_table_t *t;
} fx_t;

static void cfg_test(dlp_flow_config_t *c)
{
    dlp_flow_config_default(c);
    c->timeout_us[DLP_FLOW_TC_TCP_NEW] = TO_NEW;
    c->timeout_us[DLP_FLOW_TC_TCP_EST] = TO_EST;
    c->timeout_us[DLP_FLOW_TC_TCP_CLOSING] = TO_CLOSING;
    c->timeout_us[DLP_FLOW_TC_TCP_CLOSED] = TO_CLOSED;
    c->timeout_us[DLP_FLOW_TC_UDP] = TO_UDP;
}

static fx_t *fx_new(const dlp_flow_config_t *c)
{
    fx_t *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    dlp_stats_init(&x->st);
    if (c)
        x->cfg = *c;
    else
        cfg_test(&x->cfg);
    x->t = dlp_flow_table_new(&x->cfg, &x->st, on_end, &x->rec);
    assert_non_null(x->t);
    return x;
}

static void fx_free(fx_t *x)
{
    dlp_flow_table_free(x->t);
    assert_int_equal(dlp_stat_get(&x->st, DLP_STAT_FLOW_ACTIVE), 0);
    assert_int_equal(dlp_stat_get(&x->st, DLP_STAT_FLOW_MEM), 0);
    free(x);
}

static uint64_t st_get(const fx_t *x, dlp_stat_id_t id)
{
    return dlp_stat_get(&x->st, id);
}

/* Memory of an empty table: its initial bucket array. */
static uint64_t base_mem(void)
{
    fx_t *x = fx_new(NULL);
    uint64_t m = dlp_flow_table_mem(x->t);
    fx_free(x);
    return m;
}

/* IPv4 10.0.a.b stored IPv4-mapped. */
static void ip4(uint8_t out[16], uint32_t host)
{
    memset(out, 0, 16);
    out[10] = out[11] = 0xff;
    out[12] = 10;
    out[13] = 0;
    out[14] = (uint8_t)(host >> 8);
    out[15] = (uint8_t)host;
}

static dlp_packet_t pkt(uint8_t proto, uint32_t sh, uint16_t sp, uint32_t dh, uint16_t dp,
                        uint8_t flags, uint64_t ts)
{
    dlp_packet_t p;
    memset(&p, 0, sizeof(p));
    p.ts_us = ts;
    p.ipver = 4;
    p.proto = proto;
    ip4(p.src, sh);
    ip4(p.dst, dh);
    p.sport = sp;
    p.dport = dp;
    p.tcp_flags = flags;
    p.wirelen = 100;
    p.caplen = 100;
    return p;
}

#define TCP DLP_PROTO_TCP
#define UDP DLP_PROTO_UDP
#define SYN DLP_TCP_SYN
#define ACK DLP_TCP_ACK
#define SYNACK (DLP_TCP_SYN | DLP_TCP_ACK)

static dlp_flow_t *get(fx_t *x, dlp_packet_t p, int *dir, bool *created)
{
    return dlp_flow_table_get(x->t, &p, dir, created);
}

/* A UDP flow 10.0.0.1:port -> 10.0.0.2:53 first seen at ts. */
static dlp_flow_t *udp_flow(fx_t *x, uint16_t port, uint64_t ts)
{
    bool created = false;
    dlp_flow_t *f = get(x, pkt(UDP, 1, port, 2, 53, 0, ts), NULL, &created);
    assert_non_null(f);
    assert_true(created);
    return f;
}

/* ---- directions and initiator ------------------------------------------- */

static void check_handshake(uint32_t client, uint32_t server)
{
    fx_t *x = fx_new(NULL);
    int dir = -1;
    bool created = false;
    uint8_t a[16];

    dlp_flow_t *f = get(x, pkt(TCP, client, 40000, server, 80, SYN, 10), &dir, &created);
    assert_non_null(f);
    assert_true(created);
    assert_int_equal(dir, 0);
    dlp_flow_t *g = get(x, pkt(TCP, server, 80, client, 40000, SYNACK, 11), &dir, &created);
    assert_ptr_equal(f, g);
    assert_false(created);
    assert_int_equal(dir, 1);
    g = get(x, pkt(TCP, client, 40000, server, 80, ACK, 12), &dir, &created);
    assert_ptr_equal(f, g);
    assert_int_equal(dir, 0);

    assert_int_equal(f->pkts[0], 2);
    assert_int_equal(f->pkts[1], 1);
    assert_int_equal(f->bytes[0], 200);
    assert_int_equal(f->bytes[1], 100);
    assert_int_equal(f->first_ts_us, 10);
    assert_int_equal(f->last_ts_us, 12);
    ip4(a, client);
    assert_memory_equal(dlp_flow_addr(f, 0), a, 16);
    assert_int_equal(dlp_flow_port(f, 0), 40000);
    ip4(a, server);
    assert_memory_equal(dlp_flow_addr(f, 1), a, 16);
    assert_int_equal(dlp_flow_port(f, 1), 80);
    assert_int_equal(f->tclass, DLP_FLOW_TC_TCP_NEW);
    assert_int_equal(f->flags, 0);
    assert_int_equal(dlp_flow_table_count(x->t), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOWS), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_TCP), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_UDP), 0);
    fx_free(x);
}

static void both_directions_one_flow(void **state)
{
    (void)state;
    check_handshake(1, 2); /* client is the lower address */
    check_handshake(2, 1); /* client is the higher address */
}

static void init_ep_follows_sender(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    dlp_flow_t *lo = get(x, pkt(UDP, 1, 5000, 2, 53, 0, 1), NULL, NULL);
    dlp_flow_t *hi = get(x, pkt(UDP, 2, 5000, 1, 53, 0, 1), NULL, NULL);
    assert_non_null(lo);
    assert_non_null(hi);
    assert_ptr_not_equal(lo, hi);
    /* the same pair of endpoints keyed the same way, initiators opposite */
    assert_int_not_equal(lo->init_ep, hi->init_ep);
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    fx_free(x);
}

static void synack_first_makes_destination_initiator(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    int dir = -1;
    uint8_t a[16];

    dlp_flow_t *f = get(x, pkt(TCP, 2, 80, 1, 40000, SYNACK, 10), &dir, NULL);
    assert_non_null(f);
    assert_int_equal(dir, 1);
    ip4(a, 1);
    assert_memory_equal(dlp_flow_addr(f, 0), a, 16);
    assert_int_equal(dlp_flow_port(f, 0), 40000);
    assert_int_equal(f->flags & DLP_FLOW_F_MIDSTREAM, 0);
    assert_int_equal(f->pkts[1], 1);
    assert_int_equal(f->pkts[0], 0);
    assert_ptr_equal(get(x, pkt(TCP, 1, 40000, 2, 80, ACK, 11), &dir, NULL), f);
    assert_int_equal(dir, 0);

    /* same with the server as the higher address */
    f = get(x, pkt(TCP, 9, 80, 3, 40000, SYNACK, 10), &dir, NULL);
    assert_int_equal(dir, 1);
    assert_int_equal(dlp_flow_port(f, 0), 40000);
    fx_free(x);
}

static void midstream_and_udp_initiator(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    int dir = -1;

    dlp_flow_t *f = get(x, pkt(TCP, 2, 80, 1, 40000, ACK | DLP_TCP_PSH, 10), &dir, NULL);
    assert_int_equal(dir, 0);
    assert_int_equal(dlp_flow_port(f, 0), 80); /* first sender, even a server */
    assert_int_equal(f->flags, DLP_FLOW_F_MIDSTREAM);
    assert_int_equal(f->tclass, DLP_FLOW_TC_TCP_NEW);

    f = get(x, pkt(UDP, 2, 53, 1, 5353, 0, 10), &dir, NULL);
    assert_int_equal(dir, 0);
    assert_int_equal(dlp_flow_port(f, 0), 53);
    assert_int_equal(f->flags, 0);
    assert_int_equal(f->tclass, DLP_FLOW_TC_UDP);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_TCP), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_UDP), 1);
    fx_free(x);
}

/* ---- VLAN ---------------------------------------------------------------- */

static dlp_packet_t vlan_pkt(uint16_t vlan, bool reply)
{
    dlp_packet_t p = reply ? pkt(UDP, 2, 53, 1, 5000, 0, 1) : pkt(UDP, 1, 5000, 2, 53, 0, 1);
    p.vlan[0] = vlan;
    p.vlan_count = 1;
    return p;
}

static void vlan_in_and_out_of_key(void **state)
{
    (void)state;
    dlp_flow_config_t c;
    int dir = -1;

    cfg_test(&c);
    fx_t *x = fx_new(&c);
    dlp_flow_t *a = get(x, vlan_pkt(10, false), NULL, NULL);
    dlp_flow_t *b = get(x, vlan_pkt(20, true), NULL, NULL);
    assert_ptr_not_equal(a, b);
    assert_int_equal(a->key.vlan[0], 10);
    assert_int_equal(b->key.vlan[0], 20);
    assert_ptr_equal(get(x, vlan_pkt(10, true), &dir, NULL), a);
    assert_int_equal(dir, 1);
    assert_int_equal(dlp_flow_table_count(x->t), 2);
    fx_free(x);

    c.vlan_in_key = false;
    x = fx_new(&c);
    a = get(x, vlan_pkt(10, false), NULL, NULL);
    b = get(x, vlan_pkt(20, true), &dir, NULL);
    assert_ptr_equal(a, b);
    assert_int_equal(dir, 1);
    assert_int_equal(a->key.vlan[0], 0);
    assert_int_equal(dlp_flow_table_count(x->t), 1);
    fx_free(x);
}

/* ---- flow ids ------------------------------------------------------------- */

static uint64_t first_id(uint64_t seed, dlp_packet_t p)
{
    dlp_flow_config_t c;
    cfg_test(&c);
    c.id_seed = seed;
    fx_t *x = fx_new(&c);
    uint64_t id = get(x, p, NULL, NULL)->flow_id;
    fx_free(x);
    return id;
}

static void flow_id_deterministic(void **state)
{
    (void)state;
    dlp_packet_t p = pkt(TCP, 1, 40000, 2, 80, SYN, 1234567);
    uint64_t id = first_id(7, p);

    /* the documented formula: hash(key, first_ts_us) with id_seed, 53 bits */
    dlp_flow_key_t k;
    uint8_t buf[sizeof(k) + 8];
    (void)dlp_flow_key_make(&p, true, &k);
    memcpy(buf, &k, sizeof(k));
    memcpy(buf + sizeof(k), &p.ts_us, 8);
    uint64_t want = dlp_hash_bytes(buf, sizeof(buf), 7) & ((1ULL << 53) - 1);
    assert_int_equal(id, want ? want : 1);
    assert_true(id != 0 && id < (1ULL << 53));

    assert_int_equal(first_id(7, p), id); /* another table instance */
    dlp_packet_t rev = pkt(TCP, 2, 80, 1, 40000, SYNACK, 1234567);
    assert_int_equal(first_id(7, rev), id); /* same key, other direction */
    assert_int_not_equal(first_id(8, p), id);
    p.ts_us++;
    assert_int_not_equal(first_id(7, p), id);
    p.ts_us--;
    p.sport++;
    assert_int_not_equal(first_id(7, p), id);

    /* a second flow in the same table gets its own id; later packets keep it */
    fx_t *x = fx_new(NULL);
    dlp_flow_t *a = udp_flow(x, 1000, 5);
    dlp_flow_t *b = udp_flow(x, 1001, 5);
    uint64_t ida = a->flow_id;
    assert_int_not_equal(ida, b->flow_id);
    assert_int_equal(get(x, pkt(UDP, 2, 53, 1, 1000, 0, 9), NULL, NULL)->flow_id, ida);
    fx_free(x);
}

/* ---- timeouts --------------------------------------------------------------- */

static const uint64_t class_to[DLP_FLOW_TC__COUNT] = {TO_NEW, TO_EST, TO_CLOSING, TO_CLOSED,
                                                      TO_UDP};

static void expire_boundaries_per_class(void **state)
{
    (void)state;
    for (int c = 0; c < DLP_FLOW_TC__COUNT; c++) {
        fx_t *x = fx_new(NULL);
        uint8_t proto = c == DLP_FLOW_TC_UDP ? UDP : TCP;
        dlp_flow_t *f = get(x, pkt(proto, 1, 4000, 2, 80, SYN, 100), NULL, NULL);
        dlp_flow_set_class(x->t, f, (dlp_flow_tclass_t)c);
        assert_int_equal(f->tclass, c);

        dlp_flow_table_expire(x->t, 100 + class_to[c] - 1);
        assert_int_equal(dlp_flow_table_count(x->t), 1);
        assert_int_equal(x->rec.n, 0);
        dlp_flow_table_expire(x->t, 100 + class_to[c]);
        assert_int_equal(dlp_flow_table_count(x->t), 0);
        assert_int_equal(x->rec.n, 1);
        assert_int_equal(x->rec.reason[0], DLP_FLOW_END_TIMEOUT);
        assert_int_equal(x->rec.flags[0], 0);
        assert_int_equal(st_get(x, DLP_STAT_FLOW_END_TIMEOUT), 1);
        assert_int_equal(st_get(x, DLP_STAT_FLOW_ACTIVE), 0);
        fx_free(x);
    }
}

static void expire_uses_last_packet_and_deadline_order(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    dlp_flow_t *a = udp_flow(x, 1, 0);                                    /* UDP, dies at 5000 */
    dlp_flow_t *b = udp_flow(x, 2, 10);                                   /* UDP, touched below */
    dlp_flow_t *c = get(x, pkt(TCP, 1, 3, 2, 80, SYN, 4100), NULL, NULL); /* NEW, dies 5100 */
    assert_non_null(c);
    assert_ptr_equal(get(x, pkt(UDP, 2, 53, 1, 2, 0, 600), NULL, NULL), b); /* dies 5600 */
    assert_int_equal(b->last_ts_us, 600);
    (void)a;

    dlp_flow_table_expire(x->t, 5599);
    assert_int_equal(x->rec.n, 2);
    assert_int_equal(x->rec.port[0], 1); /* deadline 5000 (UDP) before 5100 (TCP) */
    assert_int_equal(x->rec.port[1], 3);
    assert_int_equal(dlp_flow_table_count(x->t), 1);
    dlp_flow_table_expire(x->t, 5600);
    assert_int_equal(x->rec.n, 3);
    assert_int_equal(x->rec.port[2], 2);
    fx_free(x);
}

static void close_reason_used_at_expiry(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    dlp_flow_t *f = get(x, pkt(TCP, 1, 1, 2, 80, SYN, 0), NULL, NULL);
    f->close_reason = DLP_FLOW_END_FIN;
    dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_CLOSED);
    f = get(x, pkt(TCP, 1, 2, 2, 80, SYN, 0), NULL, NULL);
    f->close_reason = DLP_FLOW_END_RST;
    dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_CLOSED);
    f = get(x, pkt(TCP, 1, 3, 2, 80, SYN, 0), NULL, NULL);
    dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_CLOSED);

    dlp_flow_table_expire(x->t, TO_CLOSED);
    assert_int_equal(x->rec.n, 3);
    assert_int_equal(x->rec.reason[0], DLP_FLOW_END_FIN);
    assert_int_equal(x->rec.reason[1], DLP_FLOW_END_RST);
    assert_int_equal(x->rec.reason[2], DLP_FLOW_END_TIMEOUT);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_FIN), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_RST), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_TIMEOUT), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_SHUTDOWN), 0);
    fx_free(x);
}

static void class_change_moves_list(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    dlp_flow_t *a = get(x, pkt(TCP, 1, 1, 2, 80, SYN, 0), NULL, NULL);
    dlp_flow_t *b = get(x, pkt(TCP, 1, 2, 2, 80, SYN, 10), NULL, NULL);
    (void)b;
    dlp_flow_set_class(x->t, a, DLP_FLOW_TC_TCP_EST);

    dlp_flow_table_expire(x->t, 10 + TO_NEW); /* b's NEW deadline; a is EST now */
    assert_int_equal(x->rec.n, 1);
    assert_int_equal(x->rec.port[0], 2);
    dlp_flow_table_expire(x->t, TO_EST - 1);
    assert_int_equal(x->rec.n, 1);
    dlp_flow_table_expire(x->t, TO_EST);
    assert_int_equal(x->rec.n, 2);
    assert_int_equal(x->rec.port[1], 1);

    /* back and forth: the flow must be in exactly one list */
    a = get(x, pkt(TCP, 1, 5, 2, 80, SYN, 20000), NULL, NULL);
    dlp_flow_set_class(x->t, a, DLP_FLOW_TC_TCP_EST);
    dlp_flow_set_class(x->t, a, DLP_FLOW_TC_TCP_CLOSING);
    dlp_flow_set_class(x->t, a, DLP_FLOW_TC_TCP_CLOSING);
    dlp_flow_table_expire(x->t, 20000 + TO_CLOSING - 1);
    assert_int_equal(x->rec.n, 2);
    dlp_flow_table_expire(x->t, 20000 + TO_CLOSING);
    assert_int_equal(x->rec.n, 3);
    assert_int_equal(dlp_flow_table_count(x->t), 0);
    fx_free(x);
}

/* ---- lookup of an idle flow, port reuse ------------------------------------- */

static void idle_flow_at_lookup_is_replaced(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    bool created = true;
    dlp_flow_t *f = udp_flow(x, 7, 100);
    uint64_t id0 = f->flow_id;

    f = get(x, pkt(UDP, 2, 53, 1, 7, 0, 100 + TO_UDP - 1), NULL, &created);
    assert_false(created);
    assert_int_equal(f->flow_id, id0);
    assert_int_equal(f->last_ts_us, 100 + TO_UDP - 1);

    uint64_t t1 = 100 + TO_UDP - 1 + TO_UDP; /* exactly the timeout later */
    int dir = -1;
    f = get(x, pkt(UDP, 2, 53, 1, 7, 0, t1), &dir, &created);
    assert_true(created);
    assert_int_equal(x->rec.n, 1);
    assert_int_equal(x->rec.id[0], id0);
    assert_int_equal(x->rec.reason[0], DLP_FLOW_END_TIMEOUT);
    assert_int_not_equal(f->flow_id, id0);
    assert_int_equal(f->first_ts_us, t1);
    assert_int_equal(f->pkts[0], 1);
    assert_int_equal(f->pkts[1], 0);
    assert_int_equal(dir, 0); /* the new flow's initiator is this sender */
    assert_int_equal(dlp_flow_port(f, 0), 53);
    assert_int_equal(dlp_flow_table_count(x->t), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOWS), 2);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_TIMEOUT), 1);

    /* a closed flow found idle ends with its close reason */
    f->close_reason = DLP_FLOW_END_FIN;
    f = get(x, pkt(UDP, 2, 53, 1, 7, 0, t1 + TO_UDP), NULL, &created);
    assert_true(created);
    assert_int_equal(x->rec.reason[1], DLP_FLOW_END_FIN);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_FIN), 1);
    fx_free(x);
}

static void backwards_time_keeps_last(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    bool created = true;
    dlp_flow_t *f = udp_flow(x, 7, 10000);
    assert_ptr_equal(get(x, pkt(UDP, 1, 7, 2, 53, 0, 50), NULL, &created), f);
    assert_false(created);
    assert_int_equal(f->last_ts_us, 10000);
    assert_int_equal(f->pkts[0], 2);
    dlp_flow_table_expire(x->t, 60); /* earlier than last: nothing dies */
    assert_int_equal(dlp_flow_table_count(x->t), 1);
    fx_free(x);
}

/*
 * A capture whose time goes backwards (stitched files): a flow's idle time runs
 * on the input's clock, so its expiry does not depend on which other flows
 * share the table (which, with workers, depends on their number). Flow B
 * arrives after A with an older time stamp; alone, or behind A, it lives
 * as long as the clock says.
 */
static void backwards_time_expiry_same_alone_or_behind(void **state)
{
    (void)state;
    fx_t *alone = fx_new(NULL), *behind = fx_new(NULL);
    dlp_packet_t b = pkt(UDP, 1, 9, 2, 53, 0, 100);

    b.clock_us = 50000; /* the input has reached 50 ms; B's own time is 0.1 ms */
    udp_flow(behind, 8, 50000); /* A, at the clock */
    assert_non_null(dlp_flow_table_get(alone->t, &b, NULL, NULL));
    assert_non_null(dlp_flow_table_get(behind->t, &b, NULL, NULL));
    /* past B's own time + timeout, not past the clock's */
    dlp_flow_table_expire(alone->t, 100 + TO_UDP + 1);
    dlp_flow_table_expire(behind->t, 100 + TO_UDP + 1);
    assert_int_equal(dlp_flow_table_count(alone->t), 1);
    assert_int_equal(dlp_flow_table_count(behind->t), 2);
    dlp_flow_table_expire(alone->t, 50000 + TO_UDP);
    dlp_flow_table_expire(behind->t, 50000 + TO_UDP);
    assert_int_equal(dlp_flow_table_count(alone->t), 0);
    assert_int_equal(dlp_flow_table_count(behind->t), 0);
    fx_free(alone);
    fx_free(behind);
}

/* Flows of different classes end in the order of their deadlines on the input's clock. */
static void backwards_time_expiry_order_by_clock(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    dlp_packet_t u = pkt(UDP, 1, 21, 2, 53, 0, 100), t = pkt(TCP, 1, 22, 2, 80, SYN, 9000);

    u.clock_us = t.clock_us = 10000;
    assert_non_null(dlp_flow_table_get(x->t, &u, NULL, NULL)); /* dead at 10000 + TO_UDP */
    assert_non_null(dlp_flow_table_get(x->t, &t, NULL, NULL)); /* dead at 10000 + TO_NEW */
    dlp_flow_table_expire(x->t, 20000);
    assert_int_equal(x->rec.n, 2);
    assert_int_equal(x->rec.port[0], 22);
    assert_int_equal(x->rec.port[1], 21);
    fx_free(x);
}

/* Port reuse is the reassembly's call (worker.c): the table never ends a closed flow
 * for a SYN, only a dead one. */
static void syn_on_closed_flow_is_no_table_reuse(void **state)
{
    (void)state;
    fx_t *x = fx_new(NULL);
    bool created = true;
    dlp_flow_t *f = get(x, pkt(TCP, 1, 40000, 2, 80, SYN, 10), NULL, NULL);

    f->close_reason = DLP_FLOW_END_FIN;
    dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_CLOSED);
    assert_ptr_equal(get(x, pkt(TCP, 1, 40000, 2, 80, SYN, 11), NULL, &created), f);
    assert_false(created);
    assert_int_equal(x->rec.n, 0);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_REUSED), 0);
    fx_free(x);
}

/* ---- memcap ----------------------------------------------------------------- */

static fx_t *fx_capped(uint64_t memcap)
{
    dlp_flow_config_t c;
    cfg_test(&c);
    c.memcap = memcap;
    return fx_new(&c);
}

static void memcap_evicts_oldest_first(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_capped(base + 3 * SZ);

    udp_flow(x, 1, 1);
    get(x, pkt(TCP, 1, 2, 2, 80, SYN, 2), NULL, NULL); /* other class list */
    dlp_flow_t *f3 = udp_flow(x, 3, 3);
    f3->close_reason = DLP_FLOW_END_RST;
    get(x, pkt(UDP, 2, 53, 1, 1, 0, 4), NULL, NULL); /* flow 1 now youngest */
    assert_int_equal(dlp_flow_table_mem(x->t), base + 3 * SZ);
    assert_int_equal(x->rec.n, 0);

    udp_flow(x, 4, 5);
    assert_int_equal(x->rec.n, 1);
    assert_int_equal(x->rec.port[0], 2);
    assert_int_equal(x->rec.reason[0], DLP_FLOW_END_TIMEOUT);
    assert_int_equal(x->rec.flags[0], DLP_FLOW_F_EVICTED);
    udp_flow(x, 5, 6);
    assert_int_equal(x->rec.port[1], 3);
    assert_int_equal(x->rec.reason[1], DLP_FLOW_END_RST);
    assert_int_equal(x->rec.flags[1], DLP_FLOW_F_EVICTED);
    udp_flow(x, 6, 7);
    assert_int_equal(x->rec.port[2], 1);
    assert_int_equal(x->rec.n, 3);

    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED), 3);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_TIMEOUT), 2);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_RST), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOWS), 6);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ACTIVE), 3);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_MEM), base + 3 * SZ);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ALLOC_FAIL), 0);
    assert_int_equal(dlp_flow_table_count(x->t), 3);
    fx_free(x);
}

static void memcap_counts_charges(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_capped(base + 4 * SZ);

    dlp_flow_t *f1 = udp_flow(x, 1, 1);
    udp_flow(x, 2, 2);
    udp_flow(x, 3, 3);
    dlp_flow_charge(x->t, f1, (int64_t)SZ);
    assert_int_equal(f1->_mem, 2 * SZ);
    assert_int_equal(dlp_flow_table_mem(x->t), base + 4 * SZ);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_MEM), base + 4 * SZ);
    assert_int_equal(x->rec.n, 0); /* charging never evicts by itself */

    udp_flow(x, 4, 4); /* evicting flow 1 frees its charge too */
    assert_int_equal(x->rec.n, 1);
    assert_int_equal(x->rec.port[0], 1);
    assert_int_equal(dlp_flow_table_mem(x->t), base + 3 * SZ);

    dlp_flow_t *f2 = get(x, pkt(UDP, 1, 2, 2, 53, 0, 5), NULL, NULL); /* now youngest */
    dlp_flow_charge(x->t, f2, (int64_t)(2 * SZ));
    udp_flow(x, 5, 6); /* needs 2 evictions: flows 3 and 4 (oldest) */
    assert_int_equal(x->rec.n, 3);
    assert_int_equal(x->rec.port[1], 3);
    assert_int_equal(x->rec.port[2], 4);
    assert_int_equal(dlp_flow_table_mem(x->t), base + 4 * SZ);

    dlp_flow_charge(x->t, f2, -(int64_t)(2 * SZ)); /* released: room again */
    assert_int_equal(f2->_mem, SZ);
    udp_flow(x, 6, 7);
    udp_flow(x, 7, 8);
    assert_int_equal(x->rec.n, 3);
    assert_int_equal(dlp_flow_table_count(x->t), 4);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED), 3);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_MEM), base + 4 * SZ);
    fx_free(x);
}

static void memcap_too_small_fails(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_capped(base + SZ - 1);

    assert_null(get(x, pkt(UDP, 1, 1, 2, 53, 0, 1), NULL, NULL));
    assert_null(get(x, pkt(TCP, 1, 1, 2, 80, SYN, 1), NULL, NULL));
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ALLOC_FAIL), 2);
    assert_int_equal(st_get(x, DLP_STAT_FLOWS), 0);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ACTIVE), 0);
    assert_int_equal(dlp_flow_table_count(x->t), 0);
    assert_int_equal(dlp_flow_table_mem(x->t), base);
    fx_free(x);

    x = fx_capped(base + SZ); /* exactly one flow fits */
    udp_flow(x, 1, 1);
    udp_flow(x, 2, 2);
    assert_int_equal(x->rec.n, 1);
    assert_int_equal(x->rec.port[0], 1);
    assert_int_equal(dlp_flow_table_count(x->t), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ALLOC_FAIL), 0);
    fx_free(x);

    x = fx_capped(0);
    assert_null(get(x, pkt(UDP, 1, 1, 2, 53, 0, 1), NULL, NULL));
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ALLOC_FAIL), 1);
    fx_free(x);
}

/* Bucket growth is charged too: with no room for it, the table evicts instead. */
static void memcap_covers_bucket_growth(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    uint64_t n0 = base / sizeof(dlp_flow_t *);
    fx_t *x = fx_capped(base + (n0 + 1) * SZ);

    for (uint64_t i = 0; i <= n0; i++)
        udp_flow(x, (uint16_t)(i + 1), i);
    assert_int_equal(dlp_flow_table_count(x->t), n0);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED), 1);
    assert_int_equal(x->rec.port[0], 1);
    assert_int_equal(dlp_flow_table_mem(x->t), base + n0 * SZ);
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    fx_free(x);

    x = fx_capped(2 * base + (n0 + 1) * SZ); /* room for the doubled array */
    for (uint64_t i = 0; i <= n0; i++)
        udp_flow(x, (uint16_t)(i + 1), i);
    assert_int_equal(dlp_flow_table_count(x->t), n0 + 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED), 0);
    assert_int_equal(dlp_flow_table_mem(x->t), 2 * base + (n0 + 1) * SZ);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_MEM), 2 * base + (n0 + 1) * SZ);
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    assert_int_equal(dlp_flow_table_mem(x->t), 2 * base);
    fx_free(x);
}

/* A packet of 'n' payload bytes. */
static dlp_packet_t with_payload(dlp_packet_t p, uint32_t n)
{
    p.payload_len = n;
    return p;
}

/* 10.0.0.1:port -> 10.0.0.2:80 through its handshake (the worker's class
 * change included), then 'data' payload bytes; ts..ts+3. */
static dlp_flow_t *tcp_established(fx_t *x, uint16_t port, uint64_t ts, uint32_t data)
{
    dlp_flow_t *f = get(x, pkt(TCP, 1, port, 2, 80, SYN, ts), NULL, NULL);
    get(x, pkt(TCP, 2, 80, 1, port, SYNACK, ts + 1), NULL, NULL);
    get(x, pkt(TCP, 1, port, 2, 80, ACK, ts + 2), NULL, NULL);
    dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_EST);
    if (data > 0)
        get(x, with_payload(pkt(TCP, 1, port, 2, 80, ACK, ts + 3), data), NULL, NULL);
    return f;
}

static bool ended(const fx_t *x, uint16_t port)
{
    for (size_t i = 0; i < x->rec.n && i < REC_MAX; i++)
        if (x->rec.port[i] == port)
            return true;
    return false;
}

/*
 * Flood first, leak second: half-open SYNs from everywhere fill the table
 * while an established flow carrying data is quiet. The SYNs end each other
 * (oldest first); the established flow, the oldest of all, stays, and so does
 * a UDP exchange; a handshake without data, a lone datagram and a midstream
 * flow whose first packet carried nothing are not spared.
 */
static void memcap_flood_spares_established_data(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_capped(base + 6 * SZ);

    dlp_flow_t *est = tcp_established(x, 40000, 1, 40);
    tcp_established(x, 40001, 5, 0); /* a handshake, no data */
    /* a lone datagram, then a question answered */
    get(x, with_payload(pkt(UDP, 1, 5353, 2, 53, 0, 9), 30), NULL, NULL);
    get(x, with_payload(pkt(UDP, 1, 5354, 2, 53, 0, 10), 30), NULL, NULL);
    get(x, with_payload(pkt(UDP, 2, 53, 1, 5354, 0, 11), 60), NULL, NULL);
    dlp_flow_t *mid = get(x, pkt(TCP, 1, 40002, 2, 80, ACK, 12), NULL, NULL);
    dlp_flow_set_class(x->t, mid, DLP_FLOW_TC_TCP_EST); /* midstream, no payload yet */
    assert_int_equal(x->rec.n, 0);

    for (uint16_t i = 0; i < 40; i++)
        get(x, pkt(TCP, 100 + i, (uint16_t)(1024 + i), 2, 443, SYN, 20 + i), NULL, NULL);
    assert_int_equal(dlp_flow_table_count(x->t), 6);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED), 39);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED_EST), 0);
    /* what has nothing to lose went first, oldest first, then the SYNs */
    assert_int_equal(x->rec.port[0], 40001);
    assert_int_equal(x->rec.port[1], 5353);
    assert_int_equal(x->rec.port[2], 40002);
    assert_int_equal(x->rec.port[3], 1024);
    assert_int_equal(x->rec.flags[3], DLP_FLOW_F_EVICTED);
    assert_false(ended(x, 40000));
    assert_false(ended(x, 5354));

    bool created = true;
    dlp_packet_t more = with_payload(pkt(TCP, 1, 40000, 2, 80, ACK, 100), 20);
    assert_ptr_equal(get(x, more, NULL, &created), est);
    assert_false(created);
    assert_int_equal(est->pkts[0], 4);
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    fx_free(x);
}

/* With only flows that have something to lose, they go least recently seen
 * first, counted apart; a midstream flow with data is one of them. */
static void memcap_established_evicted_last_oldest_first(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_capped(base + 3 * SZ);

    tcp_established(x, 40000, 1, 10);
    dlp_flow_t *mid = get(x, with_payload(pkt(TCP, 1, 40001, 2, 80, ACK, 10), 5), NULL, NULL);
    dlp_flow_set_class(x->t, mid, DLP_FLOW_TC_TCP_EST);
    get(x, pkt(TCP, 2, 80, 1, 40001, ACK, 11), NULL, NULL); /* the peer acknowledges */
    tcp_established(x, 40002, 20, 10);
    get(x, with_payload(pkt(TCP, 1, 40000, 2, 80, ACK, 30), 10), NULL, NULL); /* youngest */

    get(x, pkt(TCP, 1, 50000, 2, 80, SYN, 40), NULL, NULL);
    get(x, pkt(TCP, 1, 50001, 2, 80, SYN, 41), NULL, NULL); /* ends the first SYN */
    assert_int_equal(x->rec.n, 2);
    assert_int_equal(x->rec.port[0], 40001);
    assert_int_equal(x->rec.port[1], 50000);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED), 2);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED_EST), 1);
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    assert_int_equal(x->rec.port[2], 40002); /* least recently seen first, either rank */
    assert_int_equal(x->rec.port[3], 40000);
    assert_int_equal(x->rec.port[4], 50001);
    fx_free(x);
}

/*
 * A flood that costs what a SYN flood costs, but carries data: one-packet
 * "midstream" segments from outside, each answered by the inside host's RST,
 * and pairs of one-way datagrams. One side alone can send anything: none of
 * it is kept, and the quiet established upload outlives the flood.
 */
static void memcap_one_sided_data_flood_spares_established(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_capped(base + 4 * SZ);

    dlp_flow_t *est = tcp_established(x, 40000, 1, 40);
    for (uint16_t i = 0; i < 20; i++) {
        uint64_t ts = 10 + 4 * (uint64_t)i;
        dlp_flow_t *f = get(x, with_payload(pkt(TCP, 100 + i, (uint16_t)(1024 + i), 2, 80, ACK, ts), 100),
                            NULL, NULL);
        dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_EST); /* the worker: picked up midstream */
        get(x, pkt(TCP, 2, 80, 100 + i, (uint16_t)(1024 + i), DLP_TCP_RST, ts + 1), NULL, NULL);
        f->close_reason = DLP_FLOW_END_RST; /* the worker's set_tcp_class after the RST */
        dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_CLOSING);
        get(x, with_payload(pkt(UDP, 100 + i, (uint16_t)(2000 + i), 2, 9, 0, ts + 2), 100), NULL, NULL);
        get(x, with_payload(pkt(UDP, 100 + i, (uint16_t)(2000 + i), 2, 9, 0, ts + 3), 100), NULL, NULL);
    }
    assert_true(st_get(x, DLP_STAT_FLOW_EVICTED) > 30);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_EVICTED_EST), 0);
    assert_false(ended(x, 40000));
    bool created = true;
    assert_ptr_equal(get(x, with_payload(pkt(TCP, 1, 40000, 2, 80, ACK, 200), 20), NULL, &created),
                     est);
    assert_false(created);
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    fx_free(x);
}

/* ---- end_all, explicit end, callback once ------------------------------------ */

static void end_all_and_explicit_end(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_new(NULL);
    dlp_flow_t *f1 = udp_flow(x, 1, 1);
    dlp_flow_t *f2 = get(x, pkt(TCP, 1, 2, 2, 80, SYN, 2), NULL, NULL);
    dlp_flow_t *f3 = get(x, pkt(TCP, 1, 3, 2, 80, SYN, 3), NULL, NULL);
    dlp_flow_t *f4 = udp_flow(x, 4, 4);
    (void)f1;
    f2->close_reason = DLP_FLOW_END_FIN;
    dlp_flow_set_class(x->t, f2, DLP_FLOW_TC_TCP_CLOSED);
    dlp_flow_charge(x->t, f4, 1000);

    dlp_flow_table_end(x->t, f3, DLP_FLOW_END_RST);
    assert_int_equal(x->rec.n, 1);
    assert_int_equal(x->rec.reason[0], DLP_FLOW_END_RST);
    assert_int_equal(dlp_flow_table_count(x->t), 3);
    assert_null(get(x, pkt(TCP, 1, 3, 2, 80, ACK, 5), NULL, NULL)->user);

    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    assert_int_equal(x->rec.n, 5);
    assert_int_equal(x->rec.port[1], 1); /* least recently seen first */
    assert_int_equal(x->rec.reason[1], DLP_FLOW_END_SHUTDOWN);
    assert_int_equal(x->rec.port[2], 2);
    assert_int_equal(x->rec.reason[2], DLP_FLOW_END_FIN);
    assert_int_equal(x->rec.port[3], 4);
    assert_int_equal(x->rec.port[4], 3);
    assert_int_equal(dlp_flow_table_count(x->t), 0);
    assert_int_equal(dlp_flow_table_mem(x->t), base);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_SHUTDOWN), 3);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_FIN), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_RST), 1);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ACTIVE), 0);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_MEM), base);
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN); /* empty: nothing */
    assert_int_equal(x->rec.n, 5);
    fx_free(x);
}

#define ONCE_N 2000
static void callback_once_per_flow(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    static int calls[ONCE_N];
    fx_t *x = fx_capped(base + 500 * SZ);

    memset(calls, 0, sizeof(calls));
    for (int i = 0; i < ONCE_N; i++) {
        uint64_t ts = (uint64_t)i * 10;
        dlp_flow_t *f =
            get(x, pkt(UDP, 1 + (uint32_t)i % 7, (uint16_t)(1000 + i), 2, 53, 0, ts), NULL, NULL);
        assert_non_null(f);
        f->user = &calls[i];
        if (i % 5 == 0)
            dlp_flow_set_class(x->t, f, DLP_FLOW_TC_TCP_CLOSED);
        if (i % 11 == 0)
            dlp_flow_table_end(x->t, f, DLP_FLOW_END_FIN);
        if (i % 100 == 99)
            dlp_flow_table_expire(x->t, ts);
    }
    dlp_flow_table_end_all(x->t, DLP_FLOW_END_SHUTDOWN);
    for (int i = 0; i < ONCE_N; i++)
        assert_int_equal(calls[i], 1);
    assert_int_equal(x->rec.n, ONCE_N);
    uint64_t ends = st_get(x, DLP_STAT_FLOW_END_FIN) + st_get(x, DLP_STAT_FLOW_END_TIMEOUT) +
                    st_get(x, DLP_STAT_FLOW_END_SHUTDOWN) + st_get(x, DLP_STAT_FLOW_END_RST);
    assert_int_equal(ends, ONCE_N);
    assert_int_equal(st_get(x, DLP_STAT_FLOWS), ONCE_N);
    assert_true(st_get(x, DLP_STAT_FLOW_EVICTED) > 0);
    assert_true(st_get(x, DLP_STAT_FLOW_END_TIMEOUT) > 0);
    fx_free(x);
}

/* ---- growth ---------------------------------------------------------------- */

#define MANY 100000
static dlp_packet_t many_pkt(uint32_t i, bool reply, uint64_t ts)
{
    uint32_t host = 3 + i / 50000;
    uint16_t port = (uint16_t)(10000 + i % 50000);
    return reply ? pkt(UDP, 2, 53, host, port, 0, ts) : pkt(UDP, host, port, 2, 53, 0, ts);
}

static void growth_100k_all_found(void **state)
{
    (void)state;
    uint64_t base = base_mem();
    fx_t *x = fx_new(NULL);
    uint64_t *ids = calloc(MANY, sizeof(*ids));
    bool created = false;
    int dir = -1;

    assert_non_null(ids);
    for (uint32_t i = 0; i < MANY; i++) {
        dlp_flow_t *f = get(x, many_pkt(i, false, 1), NULL, &created);
        assert_non_null(f);
        assert_true(created);
        ids[i] = f->flow_id;
    }
    assert_int_equal(dlp_flow_table_count(x->t), MANY);
    for (uint32_t i = 0; i < MANY; i++) {
        dlp_flow_t *f = get(x, many_pkt(i, true, 2), &dir, &created);
        assert_false(created);
        assert_int_equal(dir, 1);
        assert_int_equal(f->flow_id, ids[i]);
        assert_int_equal(f->pkts[1], 1);
    }
    /* 1024 buckets doubled until >= 100000 flows: 131072 */
    uint64_t buckets = 131072 * sizeof(dlp_flow_t *);
    assert_true(base < buckets);
    assert_int_equal(dlp_flow_table_mem(x->t), buckets + MANY * SZ);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_MEM), buckets + MANY * SZ);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_ACTIVE), MANY);
    assert_int_equal(st_get(x, DLP_STAT_FLOWS), MANY);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_UDP), MANY);

    dlp_flow_table_expire(x->t, 2 + TO_UDP - 1);
    assert_int_equal(x->rec.n, 0);
    dlp_flow_table_expire(x->t, 2 + TO_UDP);
    assert_int_equal(x->rec.n, MANY);
    assert_int_equal(st_get(x, DLP_STAT_FLOW_END_TIMEOUT), MANY);
    assert_int_equal(dlp_flow_table_mem(x->t), buckets);
    free(ids);
    fx_free(x);
}

/* ---- misc -------------------------------------------------------------------- */

static void config_and_names(void **state)
{
    (void)state;
    dlp_flow_config_t c;
    dlp_stats_t st;

    memset(&c, 0xab, sizeof(c));
    dlp_flow_config_default(&c);
    assert_int_equal(c.memcap, DLP_FLOW_MEMCAP);
    assert_int_equal(c.timeout_us[DLP_FLOW_TC_TCP_NEW], DLP_FLOW_TIMEOUT_TCP_NEW_US);
    assert_int_equal(c.timeout_us[DLP_FLOW_TC_TCP_EST], DLP_FLOW_TIMEOUT_TCP_EST_US);
    assert_int_equal(c.timeout_us[DLP_FLOW_TC_TCP_CLOSING], DLP_FLOW_TIMEOUT_TCP_CLOSING_US);
    assert_int_equal(c.timeout_us[DLP_FLOW_TC_TCP_CLOSED], DLP_FLOW_TIMEOUT_TCP_CLOSED_US);
    assert_int_equal(c.timeout_us[DLP_FLOW_TC_UDP], DLP_FLOW_TIMEOUT_UDP_US);
    assert_true(c.vlan_in_key);
    assert_int_equal(c.id_seed, 0);

    assert_string_equal(dlp_flow_end_str(DLP_FLOW_END_FIN), "fin");
    assert_string_equal(dlp_flow_end_str(DLP_FLOW_END_RST), "rst");
    assert_string_equal(dlp_flow_end_str(DLP_FLOW_END_TIMEOUT), "timeout");
    assert_string_equal(dlp_flow_end_str(DLP_FLOW_END_SHUTDOWN), "shutdown");

    dlp_stats_init(&st);
    c.timeout_us[DLP_FLOW_TC_TCP_CLOSED] = 0;
    assert_null(dlp_flow_table_new(&c, &st, NULL, NULL));
    assert_null(dlp_flow_table_new(NULL, &st, NULL, NULL));
    dlp_flow_table_free(NULL);

    /* no callback is allowed; gauges follow the table and return to 0 at free */
    dlp_flow_config_default(&c);
    dlp_flow_table_t *t = dlp_flow_table_new(&c, &st, NULL, NULL);
    assert_non_null(t);
    dlp_packet_t p = pkt(UDP, 1, 1, 2, 53, 0, 1);
    assert_non_null(dlp_flow_table_get(t, &p, NULL, NULL));
    assert_int_equal(dlp_stat_get(&st, DLP_STAT_FLOW_ACTIVE), 1);
    assert_int_equal(dlp_stat_get(&st, DLP_STAT_FLOW_MEM), dlp_flow_table_mem(t));
    dlp_flow_table_free(t); /* a flow left in: freed without callback */
    assert_int_equal(dlp_stat_get(&st, DLP_STAT_FLOW_ACTIVE), 0);
    assert_int_equal(dlp_stat_get(&st, DLP_STAT_FLOW_MEM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_directions_one_flow),
        cmocka_unit_test(init_ep_follows_sender),
        cmocka_unit_test(synack_first_makes_destination_initiator),
        cmocka_unit_test(midstream_and_udp_initiator),
        cmocka_unit_test(vlan_in_and_out_of_key),
        cmocka_unit_test(flow_id_deterministic),
        cmocka_unit_test(expire_boundaries_per_class),
        cmocka_unit_test(expire_uses_last_packet_and_deadline_order),
        cmocka_unit_test(close_reason_used_at_expiry),
        cmocka_unit_test(class_change_moves_list),
        cmocka_unit_test(idle_flow_at_lookup_is_replaced),
        cmocka_unit_test(backwards_time_keeps_last),
        cmocka_unit_test(backwards_time_expiry_same_alone_or_behind),
        cmocka_unit_test(backwards_time_expiry_order_by_clock),
        cmocka_unit_test(syn_on_closed_flow_is_no_table_reuse),
        cmocka_unit_test(memcap_evicts_oldest_first),
        cmocka_unit_test(memcap_counts_charges),
        cmocka_unit_test(memcap_too_small_fails),
        cmocka_unit_test(memcap_covers_bucket_growth),
        cmocka_unit_test(memcap_flood_spares_established_data),
        cmocka_unit_test(memcap_one_sided_data_flood_spares_established),
        cmocka_unit_test(memcap_established_evicted_last_oldest_first),
        cmocka_unit_test(end_all_and_explicit_end),
        cmocka_unit_test(callback_once_per_flow),
        cmocka_unit_test(growth_100k_all_found),
        cmocka_unit_test(config_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
