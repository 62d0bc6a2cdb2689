/*
 * test_defrag.c - IPv4/IPv6 fragment reassembly: orders, overlaps (first
 * arrival wins), timeouts, and every bound (memcap, datagrams, fragments per
 * datagram, reassembled size), each with its counter.
 */
#include "dlp_test.h"

#include "dlp/defrag.h"
#include "dlp/packet.h"
#include "dlp/stats.h"
#include "frame_build.h"

#define T0 1700000000000000ULL

typedef struct fixture {
    dlp_stats_t st;
    dlp_defrag_config_t cfg;
    dlp_defrag_t *d;
} fixture_t;

#define STAT(fx, id) dlp_stat_get(&(fx)->st, DLP_STAT_##id)

/* The datagram being fragmented: UDP 1234 -> 53, then a byte pattern. */
static uint8_t dgram[65536];
static uint32_t dgram_len;

static void make_dgram(uint32_t payload)
{
    frame_t *f = calloc(1, sizeof(*f));
    udp(f, 1234, 53, (uint16_t)(8 + payload));
    for (uint32_t i = 0; i < payload; i++)
        put8(f, (uint8_t)(i * 7 + 3));
    memcpy(dgram, f->b, f->n);
    dgram_len = f->n;
    free(f);
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    dlp_stats_init(&fx->st);
    dlp_defrag_config_default(&fx->cfg);
    fx->d = dlp_defrag_new(&fx->cfg, &fx->st);
    *state = fx;
    return fx->d == NULL;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    dlp_defrag_free(fx->d);
    free(fx);
    heap_release();
    return 0;
}

/* Replaces the fixture's table with one built from fx->cfg. */
static void reconfigure(fixture_t *fx)
{
    dlp_defrag_free(fx->d);
    fx->d = dlp_defrag_new(&fx->cfg, &fx->st);
    assert_non_null(fx->d);
}

/* Ethernet / IPv4 10.0.0.1 -> 10.0.0.2 fragment: 'len' bytes at 'off' of 'data'. */
static frame_t frame_;
static const frame_t *frag4(uint16_t id, uint32_t off, const uint8_t *data, uint32_t len, int more,
                            uint32_t optlen)
{
    frame_.n = 0;
    eth(&frame_, 0x0800);
    ip4(&frame_, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), len, id,
        (uint16_t)((more ? 0x2000 : 0) | off / 8), optlen);
    put_bytes(&frame_, data + off, len);
    return &frame_;
}

/* Ethernet / IPv6 / hop-by-hop / fragment header (next header UDP) / data. */
static const frame_t *frag6(uint32_t id, uint32_t off, const uint8_t *data, uint32_t len, int more)
{
    frame_.n = 0;
    eth(&frame_, 0x86dd);
    ip6(&frame_, 0, (uint16_t)(8 + 8 + len), 1, 2);
    ip6_ext(&frame_, 44, 0);
    ip6_frag(&frame_, DLP_PROTO_UDP, (uint16_t)off, more, id);
    put_bytes(&frame_, data + off, len);
    return &frame_;
}

static const uint8_t *out_;
static uint32_t out_len_;

/* Decodes the frame (it must be a fragment) and adds it at time ts. */
static dlp_rc_t add(fixture_t *fx, const frame_t *f, uint64_t ts)
{
    dlp_packet_t p;
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, f), DLP_DEC_FRAGMENT);
    p.ts_us = ts;
    dlp_rc_t rc = dlp_defrag_add(fx->d, &p, &out_, &out_len_);
    assert_int_equal(STAT(fx, FRAG_MEM), dlp_defrag_mem(fx->d));
    assert_true(dlp_defrag_mem(fx->d) <= fx->cfg.memcap);
    if (rc != DLP_OK)
        assert_null(out_);
    return rc;
}

/* The rebuilt datagram decodes to the original UDP datagram 'expect'. */
static void check_udp(const uint8_t *expect, uint32_t hdr_len, int ipver)
{
    dlp_packet_t p;
    assert_int_equal(out_len_, hdr_len + dgram_len);
    assert_int_equal(dlp_decode_ip(&p, out_, out_len_, T0, NULL), DLP_DEC_OK);
    assert_int_equal(p.ipver, ipver);
    assert_int_equal(p.proto, DLP_PROTO_UDP);
    assert_int_equal(p.sport, 1234);
    assert_int_equal(p.dport, 53);
    assert_int_equal(p.payload_len, dgram_len - 8);
    assert_memory_equal(out_ + hdr_len, expect, dgram_len);
}

static void check_ip4_header(uint32_t hdr_len)
{
    assert_int_equal(out_[0], 0x40 | hdr_len / 4);
    assert_int_equal(out_[2] << 8 | out_[3], out_len_);
    assert_int_equal(out_[6] & 0x3f, 0); /* MF and offset cleared */
    assert_int_equal(out_[7], 0);
    assert_int_equal(ip_checksum(out_, hdr_len), 0); /* the header checksum is valid */
}

/* ---------------------------------------------------------------------------------- */

static void ipv4_in_order(void **state)
{
    fixture_t *fx = *state;
    make_dgram(3000);
    assert_int_equal(add(fx, frag4(1, 0, dgram, 1480, 1, 0), T0), DLP_AGAIN);
    assert_true(dlp_defrag_mem(fx->d) > 1480);
    assert_int_equal(add(fx, frag4(1, 1480, dgram, 1480, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(1, 2960, dgram, 48, 0, 0), T0), DLP_OK);
    check_ip4_header(20);
    assert_int_equal(out_[4] << 8 | out_[5], 1); /* id kept */
    check_udp(dgram, 20, 4);
    assert_int_equal(STAT(fx, FRAG_FRAGMENTS), 3);
    assert_int_equal(STAT(fx, FRAG_REASSEMBLED), 1);
    assert_int_equal(STAT(fx, FRAG_OVERLAPS), 0);
    assert_int_equal(STAT(fx, FRAG_INVALID), 0);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
    assert_int_equal(STAT(fx, FRAG_MEM), 0);
}

/* Last first; the first fragment alone carries IPv4 options, which the result keeps. */
static void ipv4_reversed_with_options(void **state)
{
    fixture_t *fx = *state;
    make_dgram(3000);
    assert_int_equal(add(fx, frag4(2, 2960, dgram, 48, 0, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 1480, dgram, 1480, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 0, dgram, 1480, 1, 8), T0), DLP_OK);
    check_ip4_header(28);
    static const uint8_t nops[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    assert_memory_equal(out_ + 20, nops, 8);
    check_udp(dgram, 28, 4);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
}

/* Two datagrams interleaved, told apart by id and protocol. */
static void ipv4_interleaved(void **state)
{
    fixture_t *fx = *state;
    make_dgram(100);
    assert_int_equal(add(fx, frag4(7, 0, dgram, 56, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(8, 56, dgram, 52, 0, 0), T0), DLP_AGAIN);
    frame_t *other = calloc(1, sizeof(*other)); /* same id 7, protocol TCP */
    *other = *frag4(7, 56, dgram, 52, 0, 0);
    other->b[14 + 9] = DLP_PROTO_TCP;
    assert_int_equal(add(fx, other, T0), DLP_AGAIN);
    free(other);
    assert_int_equal(add(fx, frag4(8, 0, dgram, 56, 1, 0), T0), DLP_OK);
    check_udp(dgram, 20, 4);
    assert_int_equal(add(fx, frag4(7, 56, dgram, 52, 0, 0), T0), DLP_OK);
    check_udp(dgram, 20, 4);
    assert_int_equal(STAT(fx, FRAG_REASSEMBLED), 2);
    assert_true(dlp_defrag_mem(fx->d) > 0); /* the TCP one is still waiting */
}

static void overlap_same_bytes(void **state)
{
    fixture_t *fx = *state;
    make_dgram(100);
    assert_int_equal(add(fx, frag4(3, 0, dgram, 16, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(3, 8, dgram, 16, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(STAT(fx, FRAG_OVERLAPS), 1);
    assert_int_equal(add(fx, frag4(3, 24, dgram, 84, 0, 0), T0), DLP_OK);
    check_udp(dgram, 20, 4);
    assert_int_equal(STAT(fx, FRAG_OVERLAPS), 1);
    assert_int_equal(STAT(fx, FRAG_OVERLAP_DIFF), 0);
}

/* Overlapping fragments with different bytes: whichever arrived first is kept. */
static void overlap_different_bytes_first_wins(void **state)
{
    fixture_t *fx = *state;
    uint8_t evil[108], expect[108];
    make_dgram(100);
    memcpy(evil, dgram, sizeof(evil));
    memset(evil + 8, 'X', 32);

    /* the rewrite [8,24) first, then the original [0,24) over it */
    assert_int_equal(add(fx, frag4(4, 8, evil, 16, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(4, 0, dgram, 24, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(4, 24, dgram, 84, 0, 0), T0), DLP_OK);
    memcpy(expect, dgram, sizeof(expect));
    memset(expect + 8, 'X', 16);
    check_udp(expect, 20, 4);
    assert_int_equal(STAT(fx, FRAG_OVERLAPS), 1);
    assert_int_equal(STAT(fx, FRAG_OVERLAP_DIFF), 1);

    /* the original first, then the rewrite: the original stays */
    assert_int_equal(add(fx, frag4(5, 0, dgram, 24, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(5, 8, evil, 16, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(5, 24, dgram, 84, 0, 0), T0), DLP_OK);
    check_udp(dgram, 20, 4);
    assert_int_equal(STAT(fx, FRAG_OVERLAP_DIFF), 2);

    /* held [8,16) and [24,32) rewritten; then the original [0,40) fills around them */
    assert_int_equal(add(fx, frag4(6, 8, evil, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(6, 24, evil, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(6, 0, dgram, 40, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(6, 40, dgram, 68, 0, 0), T0), DLP_OK);
    memcpy(expect, dgram, sizeof(expect));
    memset(expect + 8, 'X', 8);
    memset(expect + 24, 'X', 8);
    check_udp(expect, 20, 4);
    assert_int_equal(STAT(fx, FRAG_OVERLAPS), 3);
    assert_int_equal(STAT(fx, FRAG_OVERLAP_DIFF), 3);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
}

/* IPv6: hop-by-hop before the fragment header is dropped, next header from it. */
static void ipv6_in_order_and_reversed(void **state)
{
    fixture_t *fx = *state;
    make_dgram(3000);
    assert_int_equal(add(fx, frag6(0x10000001, 0, dgram, 1448, 1), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag6(0x10000001, 1448, dgram, 1448, 1), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag6(0x10000001, 2896, dgram, 112, 0), T0), DLP_OK);
    assert_int_equal(out_[0] >> 4, 6);
    assert_int_equal(out_[4] << 8 | out_[5], 3008);
    assert_int_equal(out_[6], DLP_PROTO_UDP);
    check_udp(dgram, 40, 6);

    assert_int_equal(add(fx, frag6(0x10000002, 2896, dgram, 112, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag6(0x10000002, 1448, dgram, 1448, 1), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag6(0x10000002, 0, dgram, 1448, 1), T0), DLP_OK);
    check_udp(dgram, 40, 6);
    assert_int_equal(STAT(fx, FRAG_REASSEMBLED), 2);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
}

static void ipv6_overlap_first_wins(void **state)
{
    fixture_t *fx = *state;
    uint8_t evil[108];
    make_dgram(100);
    memcpy(evil, dgram, sizeof(evil));
    memset(evil + 16, 'Y', 16);
    assert_int_equal(add(fx, frag6(9, 16, evil, 16, 1), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag6(9, 0, dgram, 48, 1), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag6(9, 48, dgram, 60, 0), T0), DLP_OK);
    memcpy(evil + 32, dgram + 32, sizeof(evil) - 32);
    check_udp(evil, 40, 6);
    assert_int_equal(STAT(fx, FRAG_OVERLAP_DIFF), 1);
}

/* ---------------------------------------------------------------------------------- */

static void incomplete_then_timeout(void **state)
{
    fixture_t *fx = *state;
    uint64_t to = fx->cfg.timeout_us;
    make_dgram(3000);
    assert_int_equal(to, DLP_DEFRAG_TIMEOUT_US);
    assert_int_equal(add(fx, frag4(1, 0, dgram, 1480, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(1, 2960, dgram, 48, 0, 0), T0 + 5), DLP_AGAIN);
    dlp_defrag_expire(fx->d, T0 + to); /* not older than the timeout yet */
    assert_int_equal(STAT(fx, FRAG_TIMEOUTS), 0);
    assert_true(dlp_defrag_mem(fx->d) > 0);
    dlp_defrag_expire(fx->d, T0 + to + 1);
    assert_int_equal(STAT(fx, FRAG_TIMEOUTS), 1);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
    assert_int_equal(STAT(fx, FRAG_MEM), 0);
    /* the missing middle arrives too late: a new, incomplete datagram */
    assert_int_equal(add(fx, frag4(1, 1480, dgram, 1480, 1, 0), T0 + to + 2), DLP_AGAIN);
    assert_int_equal(STAT(fx, FRAG_REASSEMBLED), 0);
}

/* Without dlp_defrag_expire: the next fragment's time drops the stale datagram. */
static void timeout_checked_on_add(void **state)
{
    fixture_t *fx = *state;
    uint64_t to = fx->cfg.timeout_us;
    make_dgram(3000);
    assert_int_equal(add(fx, frag4(1, 0, dgram, 1480, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 0, dgram, 1480, 1, 0), T0 + to), DLP_AGAIN);
    assert_int_equal(STAT(fx, FRAG_TIMEOUTS), 0);
    assert_int_equal(add(fx, frag4(1, 1480, dgram, 1480, 1, 0), T0 + to + 1), DLP_AGAIN);
    assert_int_equal(STAT(fx, FRAG_TIMEOUTS), 1);
    assert_int_equal(add(fx, frag4(1, 2960, dgram, 48, 0, 0), T0 + to + 1), DLP_AGAIN);
    /* datagram 2, created at T0 + to, is still within its time */
    assert_int_equal(add(fx, frag4(2, 1480, dgram, 1480, 1, 0), T0 + 2 * to), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 2960, dgram, 48, 0, 0), T0 + 2 * to), DLP_OK);
    check_udp(dgram, 20, 4);
    assert_int_equal(STAT(fx, FRAG_TIMEOUTS), 1);
    /* a clock going backwards expires nothing and breaks nothing */
    dlp_defrag_expire(fx->d, T0);
    assert_int_equal(STAT(fx, FRAG_TIMEOUTS), 1);
}

/* 24-byte datagrams in three 8-byte fragments: m = what one first fragment costs. */
static uint64_t one_fragment_cost(fixture_t *fx)
{
    assert_int_equal(add(fx, frag4(99, 0, dgram, 8, 1, 0), T0), DLP_AGAIN);
    uint64_t m = dlp_defrag_mem(fx->d);
    dlp_defrag_expire(fx->d, T0 + fx->cfg.timeout_us + 1);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
    dlp_stat_set(&fx->st, DLP_STAT_FRAG_TIMEOUTS, 0);
    dlp_stat_set(&fx->st, DLP_STAT_FRAG_FRAGMENTS, 0);
    return m;
}

static void memcap_evicts_oldest(void **state)
{
    fixture_t *fx = *state;
    make_dgram(16);
    uint64_t m = one_fragment_cost(fx);
    fx->cfg.memcap = 3 * m + m / 2;
    reconfigure(fx);

    assert_int_equal(add(fx, frag4(1, 0, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 0, dgram, 8, 1, 0), T0 + 1), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(3, 0, dgram, 8, 1, 0), T0 + 2), DLP_AGAIN);
    assert_int_equal(STAT(fx, FRAG_EVICTED), 0);
    assert_int_equal(add(fx, frag4(4, 0, dgram, 8, 1, 0), T0 + 3), DLP_AGAIN);
    assert_int_equal(STAT(fx, FRAG_EVICTED), 1); /* datagram 1 went */
    assert_int_equal(dlp_defrag_mem(fx->d), 3 * m);
    assert_int_equal(add(fx, frag4(2, 8, dgram, 8, 1, 0), T0 + 4), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 16, dgram, 8, 0, 0), T0 + 4), DLP_OK);
    check_udp(dgram, 20, 4);
    assert_int_equal(add(fx, frag4(1, 8, dgram, 8, 1, 0), T0 + 5), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(1, 16, dgram, 8, 0, 0), T0 + 5), DLP_AGAIN); /* no start */
    assert_int_equal(STAT(fx, FRAG_EVICTED), 1);
    assert_int_equal(STAT(fx, FRAG_INVALID), 0);

    /* a datagram that cannot grow within the memcap is itself the oldest: evicted */
    fx->cfg.memcap = m + 8;
    reconfigure(fx);
    assert_int_equal(add(fx, frag4(1, 0, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(1, 8, dgram, 8, 1, 0), T0), DLP_ELIMIT);
    assert_int_equal(STAT(fx, FRAG_EVICTED), 2);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);

    /* one fragment larger than the whole memcap: refused */
    fx->cfg.memcap = 64;
    reconfigure(fx);
    assert_int_equal(add(fx, frag4(1, 0, dgram, 8, 1, 0), T0), DLP_ELIMIT);
    assert_int_equal(STAT(fx, FRAG_INVALID), 1);
    assert_int_equal(STAT(fx, FRAG_EVICTED), 2);
}

static void max_datagrams_evicts_oldest(void **state)
{
    fixture_t *fx = *state;
    make_dgram(16);
    fx->cfg.max_datagrams = 2;
    reconfigure(fx);
    assert_int_equal(add(fx, frag4(1, 0, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 0, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(3, 0, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(STAT(fx, FRAG_EVICTED), 1);
    assert_int_equal(add(fx, frag4(2, 8, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 16, dgram, 8, 0, 0), T0), DLP_OK);
    assert_int_equal(add(fx, frag4(3, 8, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(3, 16, dgram, 8, 0, 0), T0), DLP_OK);
    assert_int_equal(add(fx, frag4(1, 16, dgram, 8, 0, 0), T0), DLP_AGAIN); /* 1 is gone */
    assert_int_equal(STAT(fx, FRAG_EVICTED), 1);
    assert_int_equal(STAT(fx, FRAG_REASSEMBLED), 2);
}

static void too_many_fragments(void **state)
{
    fixture_t *fx = *state;
    make_dgram(32); /* 40 bytes: five 8-byte fragments */
    fx->cfg.max_frags = 5;
    reconfigure(fx);
    for (uint32_t off = 0; off < 32; off += 8)
        assert_int_equal(add(fx, frag4(1, off, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(1, 32, dgram, 8, 0, 0), T0), DLP_OK);
    check_udp(dgram, 20, 4);

    fx->cfg.max_frags = 4;
    reconfigure(fx);
    for (uint32_t off = 0; off < 32; off += 8)
        assert_int_equal(add(fx, frag4(1, off, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(1, 32, dgram, 8, 0, 0), T0), DLP_ELIMIT);
    assert_int_equal(STAT(fx, FRAG_INVALID), 1);
    assert_int_equal(dlp_defrag_mem(fx->d), 0); /* the datagram was dropped */

    /* duplicates count too */
    for (int i = 0; i < 4; i++)
        assert_int_equal(add(fx, frag4(2, 0, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 0, dgram, 8, 1, 0), T0), DLP_ELIMIT);
    assert_int_equal(STAT(fx, FRAG_INVALID), 2);
}

/* Sends 65512 bytes: 1480-byte fragments, one of 360, a last one of 32 at 65480. */
static dlp_rc_t send_big(fixture_t *fx, uint16_t id, uint32_t first_optlen)
{
    uint32_t off = 0;
    for (; off + 1480 <= 65480; off += 1480)
        assert_int_equal(add(fx, frag4(id, off, dgram, 1480, 1, off ? 0 : first_optlen), T0),
                         DLP_AGAIN);
    assert_int_equal(add(fx, frag4(id, off, dgram, 65480 - off, 1, 0), T0), DLP_AGAIN);
    return add(fx, frag4(id, 65480, dgram, 32, 0, 0), T0);
}

/* Reassembled size: 20 + 65512 fits 65535; a 60-byte first header does not. */
static void oversize_datagram(void **state)
{
    fixture_t *fx = *state;
    make_dgram(65504);
    assert_int_equal(send_big(fx, 1, 0), DLP_OK);
    assert_int_equal(out_len_, 65532);
    check_udp(dgram, 20, 4);
    assert_int_equal(send_big(fx, 2, 40), DLP_EPROTO);
    assert_int_equal(STAT(fx, FRAG_INVALID), 1);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);

    /* a fragment reaching past 65535 - 20 (the decoder already refuses it) */
    dlp_packet_t p;
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, frag4(3, 65480, dgram, 32, 0, 0)),
                     DLP_DEC_FRAGMENT);
    p.frag_off = 65488;
    assert_int_equal(dlp_defrag_add(fx->d, &p, &out_, &out_len_), DLP_EPROTO);
    assert_int_equal(STAT(fx, FRAG_INVALID), 2);
}

static void invalid_fragments(void **state)
{
    fixture_t *fx = *state;
    dlp_packet_t p;
    frame_t *f = calloc(1, sizeof(*f));
    make_dgram(16);

    /* a whole packet is not a fragment */
    eth(f, 0x0800);
    ip4(f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 24, 1, 0, 0);
    put_bytes(f, dgram, 24);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, f), DLP_DEC_OK);
    assert_int_equal(dlp_defrag_add(fx->d, &p, &out_, &out_len_), DLP_EPROTO);
    assert_int_equal(STAT(fx, FRAG_INVALID), 1);

    /* a fragment cut by the capture cannot be rebuilt */
    *f = *frag4(1, 0, dgram, 16, 1, 0);
    assert_int_equal(decode_bytes(&p, DLP_LINK_EN10MB, f->b, f->n - 4, f->n), DLP_DEC_FRAGMENT);
    assert_int_equal(dlp_defrag_add(fx->d, &p, &out_, &out_len_), DLP_EPROTO);
    assert_int_equal(STAT(fx, FRAG_INVALID), 2);

    /* IPv6 non-last fragment of 12 bytes (not a multiple of 8): dropped (RFC 8200) */
    assert_int_equal(add(fx, frag6(1, 0, dgram, 12, 1), T0), DLP_EPROTO);
    assert_int_equal(STAT(fx, FRAG_INVALID), 3);

    /* IPv4 non-last fragment of 12 bytes: trimmed to 8, as Linux does */
    uint8_t alt[24];
    memcpy(alt, dgram, 24);
    memset(alt + 8, 'Z', 4);
    assert_int_equal(add(fx, frag4(2, 0, alt, 12, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(2, 8, dgram, 16, 0, 0), T0), DLP_OK);
    check_udp(dgram, 20, 4);

    /* a second last fragment with another end: the datagram is dropped */
    assert_int_equal(add(fx, frag4(3, 16, dgram, 8, 0, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(3, 16, dgram, 16, 0, 0), T0), DLP_EPROTO);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
    /* data past the known end */
    assert_int_equal(add(fx, frag4(4, 8, dgram, 8, 0, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(4, 16, dgram, 8, 1, 0), T0), DLP_EPROTO);
    /* a last fragment ending before held data */
    assert_int_equal(add(fx, frag4(5, 16, dgram, 8, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag4(5, 8, dgram, 8, 0, 0), T0), DLP_EPROTO);
    assert_int_equal(STAT(fx, FRAG_INVALID), 6);
    assert_int_equal(dlp_defrag_mem(fx->d), 0);
    free(f);
}

/* Same addresses and id on two VLANs are two datagrams. */
static void vlans_separate_datagrams(void **state)
{
    fixture_t *fx = *state;
    frame_t *f = calloc(1, sizeof(*f));
    make_dgram(16);
    static const struct {
        uint16_t vid;
        uint32_t off, len;
        int more;
        dlp_rc_t rc;
    } seq[] = {
        {10, 0, 8, 1, DLP_AGAIN},
        {20, 8, 8, 1, DLP_AGAIN},
        {20, 16, 8, 0, DLP_AGAIN},
        {20, 0, 8, 1, DLP_OK},
    };
    for (unsigned i = 0; i < DLP_ARRAY_LEN(seq); i++) {
        const frame_t *plain = frag4(1, seq[i].off, dgram, seq[i].len, seq[i].more, 0);
        f->n = 0;
        eth(f, 0x8100);
        vlan_tag(f, seq[i].vid, 0x0800);
        put_bytes(f, plain->b + 14, plain->n - 14);
        assert_int_equal(add(fx, f, T0), seq[i].rc);
    }
    dlp_packet_t p;
    dlp_packet_t outer = {.vlan = {20}, .vlan_count = 1};
    assert_int_equal(dlp_decode_ip(&p, out_, out_len_, T0, &outer), DLP_DEC_OK);
    assert_int_equal(p.vlan[0], 20);
    assert_int_equal(p.payload_len, 16);
    free(f);
}

static void config_and_lifecycle(void **state)
{
    fixture_t *fx = *state;
    dlp_defrag_config_t c;
    dlp_defrag_config_default(&c);
    assert_int_equal(c.memcap, DLP_DEFRAG_MEMCAP);
    assert_int_equal(c.max_datagrams, DLP_DEFRAG_MAX_DATAGRAMS);
    assert_int_equal(c.max_frags, DLP_DEFRAG_MAX_FRAGS);
    assert_int_equal(c.timeout_us, DLP_DEFRAG_TIMEOUT_US);
    c.max_frags = 0;
    assert_null(dlp_defrag_new(&c, &fx->st));
    dlp_defrag_free(NULL);

    /* freeing a table that still holds datagrams releases them (ASan checks) */
    make_dgram(3000);
    assert_int_equal(add(fx, frag4(1, 0, dgram, 1480, 1, 0), T0), DLP_AGAIN);
    assert_int_equal(add(fx, frag6(1, 0, dgram, 1448, 1), T0), DLP_AGAIN);
    dlp_defrag_free(fx->d);
    assert_int_equal(STAT(fx, FRAG_MEM), 0);
    fx->d = dlp_defrag_new(&fx->cfg, &fx->st);
    assert_non_null(fx->d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ipv4_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv4_reversed_with_options, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv4_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(overlap_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(overlap_different_bytes_first_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv6_in_order_and_reversed, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv6_overlap_first_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(incomplete_then_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(timeout_checked_on_add, setup, teardown),
        cmocka_unit_test_setup_teardown(memcap_evicts_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(max_datagrams_evicts_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(too_many_fragments, setup, teardown),
        cmocka_unit_test_setup_teardown(oversize_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_fragments, setup, teardown),
        cmocka_unit_test_setup_teardown(vlans_separate_datagrams, setup, teardown),
        cmocka_unit_test_setup_teardown(config_and_lifecycle, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
