/*
 * test_evidence.c - evidence captures: stream offsets <-> TCP sequence numbers
 * (wrap, gaps, packets before the first anchor), redaction by sequence range
 * across packet boundaries (split, out of order, retransmitted, overlapping),
 * datagrams overwritten whole, ranges merged within their bound, every bound
 * (pre-alert bytes and packets, per flow, per worker memcap, run total) hit
 * with exact counters, the hand-over on the event ring, and the files (pcap
 * layout, mode 0600, a raw-IP capture's values overwritten at its own offsets,
 * an existing file never replaced, a file longer than the writer's buffer
 * written through it byte for byte as the image in memory),
 * and a writer thread that cannot start (retried every 10 s, logged once,
 * then with the counts).
 */
#include "dlp_test.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlp/alert.h"
#include "dlp/evidence.h"
#include "evidence_int.h"

#define HDR 54 /* Ethernet + IPv4 + TCP (no options) */

/* Link-time seams (-Wl,--wrap, tests/unit/evidence/CMakeLists.txt): the
 * writer thread's start fails while g_create_fail; the monotonic clock runs
 * g_clock_skew ns ahead. */
static bool g_create_fail;
static unsigned g_creates;
static uint64_t g_clock_skew;

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
uint64_t __real_dlp_time_mono_ns(void);

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    g_creates++;
    return g_create_fail ? EAGAIN : __real_pthread_create(t, a, fn, arg);
}

uint64_t __wrap_dlp_time_mono_ns(void)
{
    return __real_dlp_time_mono_ns() + g_clock_skew;
}

typedef struct fx {
    dlp_stats_t st;
    dlp_ring_t *events;
    dlp_evidence_worker_t *w;
    dlp_evidence_limits_t l;
    uint8_t frame[2048];
    dlp_packet_t p;
} fx_t;

static fx_t *fx_new(const dlp_evidence_limits_t *l)
{
    fx_t *f = aligned_alloc(64, (sizeof(fx_t) + 63) & ~(size_t)63);

    assert_non_null(f);
    memset(f, 0, sizeof(*f));
    dlp_stats_init(&f->st);
    if (l != NULL)
        f->l = *l;
    else
        dlp_evidence_limits_default(&f->l);
    f->events = dlp_ring_new(sizeof(dlp_event_t), 16);
    f->w = dlp_evidence_worker_new(&f->l, &f->st, f->events, false, NULL);
    assert_non_null(f->w);
    return f;
}

/* Takes every evidence record off the ring and frees its flow. */
static size_t fx_drain(fx_t *f)
{
    static dlp_event_t ev;
    size_t n = 0;

    while (dlp_ring_pop(f->events, &ev)) {
        assert_int_equal(ev.type, DLP_EV_EVIDENCE);
        dlp_evidence_flow_free(ev.u.evidence.flow);
        n++;
    }
    return n;
}

static void fx_free(fx_t *f)
{
    fx_drain(f);
    dlp_evidence_worker_free(f->w);
    dlp_ring_free(f->events);
    free(f);
}

static uint64_t cnt(fx_t *f, dlp_stat_id_t id)
{
    return dlp_stat_get(&f->st, id);
}

/* A TCP/IPv4 frame of direction dir carrying 'pl' at sequence number seq. */
static const dlp_packet_t *tcp(fx_t *f, int dir, uint32_t seq, const char *pl, uint8_t flags)
{
    size_t n = strlen(pl);

    memset(f->frame, 0, HDR);
    f->frame[12] = 0x08;
    f->frame[14] = 0x45;
    f->frame[23] = 6;
    memcpy(f->frame + HDR, pl, n);
    memset(&f->p, 0, sizeof(f->p));
    f->p.ts_us = 1700000000123456ULL + seq;
    f->p.data = f->frame;
    f->p.caplen = f->p.wirelen = (uint32_t)(HDR + n);
    f->p.linktype = DLP_LINK_EN10MB;
    f->p.ipver = 4;
    f->p.proto = DLP_PROTO_TCP;
    f->p.l3_off = 14;
    f->p.l4_off = 34;
    f->p.payload_off = HDR;
    f->p.payload_len = (uint32_t)n;
    f->p.tcp_seq = seq;
    f->p.tcp_flags = flags;
    f->p.sport = dir == 0 ? 40000 : 80;
    f->p.dport = dir == 0 ? 80 : 40000;
    return &f->p;
}

static const dlp_packet_t *udp(fx_t *f, const char *pl)
{
    tcp(f, 0, 0, pl, 0);
    f->frame[23] = 17;
    f->p.proto = DLP_PROTO_UDP;
    f->p.payload_off = 42;
    memmove(f->frame + 42, f->frame + HDR, f->p.payload_len);
    f->p.caplen = f->p.wirelen = 42 + f->p.payload_len;
    return &f->p;
}

/* The frame in f as a raw-IP capture (or dlp_defrag) hands it on: no
 * Ethernet header, the IP header at offset 0. */
static const dlp_packet_t *to_raw_ip(fx_t *f)
{
    memmove(f->frame, f->frame + 14, f->p.caplen - 14);
    f->p.caplen -= 14;
    f->p.wirelen -= 14;
    f->p.l3_off = 0;
    f->p.l4_off -= 14;
    f->p.payload_off -= 14;
    f->p.linktype = DLP_LINK_RAW;
    return &f->p;
}

/* The payloads of the kept packets after redaction, joined by '|'. */
static const char *payloads(dlp_evidence_flow_t *ef, uint64_t *redacted)
{
    static char out[4096];
    ev_iter_t it;
    ev_rec_t *r;
    size_t k = 0, i = 0;

    *redacted = dlp_evidence__redact_all(ef);
    dlp_evidence__iter(ef, &it);
    while ((r = dlp_evidence__next(&it)) != NULL) {
        if (i++ > 0)
            out[k++] = '|';
        memcpy(out + k, ev_rec_frame(r) + r->payload_off, r->payload_len);
        k += r->payload_len;
    }
    out[k] = '\0';
    return out;
}

/* --- offsets and redaction ------------------------------------------------ */

/* A card cut over 3 segments, sent 3, 1, 1 (retransmitted), 2; seq wraps. */
static void test_split_ooo_retransmitted_with_wrap(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 7);
    uint32_t isn = 0xfffffff0u; /* stream offset 0 is isn + 1 */
    uint64_t red;

    (void)state;
    dlp_evidence_packet(f->w, ef, tcp(f, 0, isn, "", DLP_TCP_SYN), 0, false);
    dlp_evidence_packet(f->w, ef, tcp(f, 0, isn + 1 + 20, "6467 thanks", 0), 0, false);
    dlp_evidence_packet(f->w, ef, tcp(f, 0, isn + 1, "card=4539 ", 0), 0, false);
    dlp_evidence_anchor(ef, 0, isn + 1, 0); /* delivered straight from that packet */
    dlp_evidence_packet(f->w, ef, tcp(f, 0, isn + 1, "card=4539 ", 0), 0, false);
    dlp_evidence_packet(f->w, ef, tcp(f, 0, isn + 1 + 10, "1488 0343 ", 0), 0, true);
    dlp_evidence_packet(f->w, ef, tcp(f, 0, isn + 1 + 8, "39 1488 03", 0), 0, true);
    /* "4539 1488 0343 6467" is at stream offsets [5, 24) */
    dlp_evidence_redact(ef, 0, 5, 24);
    assert_string_equal(payloads(ef, &red),
                        "|XXXX thanks|card=XXXXX|card=XXXXX|XXXXXXXXXX|XXXXXXXXXX");
    assert_int_equal(red, 4 + 5 + 5 + 10 + 10);
    dlp_evidence_flow_end(f->w, ef, false);
    assert_int_equal(fx_drain(f), 0);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_MEM), 0);
    fx_free(f);
}

/* Picked up midstream at seq 1000 (offset 0); older retransmissions: their
 * bytes before offset 0 never reached detection (a value may start there):
 * overwritten, in a direction without a range too; from offset 0 on, as the
 * ranges say. */
static void test_packet_before_the_stream_start(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 9);
    uint64_t red;

    (void)state;
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 1000, "SECRET and more", 0), 0, false);
    dlp_evidence_anchor(ef, 0, 1000, 0);
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 990, "0123456789SECRET", 0), 0, false);
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 980, "before all", 0), 0, false);
    dlp_evidence_redact(ef, 0, 0, 6);
    assert_string_equal(payloads(ef, &red), "XXXXXX and more|XXXXXXXXXXXXXXXX|XXXXXXXXXX");
    assert_int_equal(red, 32);
    dlp_evidence_flow_end(f->w, ef, false);

    ef = dlp_evidence_flow_new(f->w, 10); /* nothing found in it */
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 1000, "1488 0343 6467 end", 0), 0, false);
    dlp_evidence_anchor(ef, 0, 1000, 0);
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 995, "4539 1488", 0), 0, false);
    assert_string_equal(payloads(ef, &red), "1488 0343 6467 end|XXXXX1488");
    assert_int_equal(red, 5);
    dlp_evidence_flow_end(f->w, ef, false);
    fx_free(f);
}

/* Offsets after a gap, a late anchor, a direction without one, the other direction. */
static void test_gap_and_unknown_mapping(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 8);
    uint64_t red;

    (void)state;
    /* before any anchor: resolved later from the first one */
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 1000, "aaaaSECRETbbbb", 0), 0, false);
    /* 100 bytes never captured, then more */
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 1114, "ccSECRETdd", 0), 0, false);
    dlp_evidence_anchor(ef, 0, 1114, 114);
    dlp_evidence_packet(f->w, ef, tcp(f, 1, 5000, "response SECRET", 0), 1, false);
    dlp_evidence_packet(f->w, ef, tcp(f, 1, 5015, "more", 0), 1, false);
    dlp_evidence_redact(ef, 0, 4, 10);
    dlp_evidence_redact(ef, 0, 116, 122);
    /* direction 1: no anchor, so any range there takes its whole payloads */
    dlp_evidence_redact(ef, 1, 9, 15);
    assert_string_equal(payloads(ef, &red), "aaaaXXXXXXbbbb|ccXXXXXXdd|XXXXXXXXXXXXXXX|XXXX");
    assert_int_equal(red, 6 + 6 + 15 + 4);
    dlp_evidence_flow_end(f->w, ef, false);
    fx_free(f);
}

/* Datagrams: offsets count payload bytes; one touched is overwritten whole. */
static void test_datagrams_whole(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 9);
    uint64_t red;

    (void)state;
    dlp_evidence_packet(f->w, ef, udp(f, "first one"), 0, false);   /* [0, 9) */
    dlp_evidence_packet(f->w, ef, udp(f, "key AKIA..."), 0, false); /* [9, 20) */
    dlp_evidence_packet(f->w, ef, udp(f, "third"), 0, false);       /* [20, 25) */
    dlp_evidence_redact(ef, 0, 13, 17);
    assert_string_equal(payloads(ef, &red), "first one|XXXXXXXXXXX|third");
    assert_int_equal(red, 11);
    dlp_evidence_flow_end(f->w, ef, false);
    fx_free(f);
}

/* The ones' complement sum of an IPv4 TCP/UDP segment with its pseudo header
 * (RFC 793, RFC 768): 0xffff when the checksum in it is right. */
static uint16_t l4_sum(const uint8_t *ip, uint8_t proto, size_t l4len)
{
    uint64_t s = proto + l4len;

    for (size_t i = 12; i < 20; i += 2)
        s += (uint32_t)ip[i] << 8 | ip[i + 1];
    for (size_t i = 0; i < l4len; i++)
        s += i % 2 ? ip[20 + i] : (uint32_t)ip[20 + i] << 8;
    while (s > 0xffff)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/* Sets the IPv4 total length, addresses and a right L4 checksum of f's frame. */
static void seal(fx_t *f, uint8_t proto)
{
    uint8_t *ip = f->frame + 14;
    size_t l4len = f->p.caplen - 34, at = proto == 6 ? 16 : 6;
    uint16_t c;

    ip[2] = (uint8_t)((20 + l4len) >> 8);
    ip[3] = (uint8_t)(20 + l4len);
    memcpy(ip + 12, (const uint8_t[8]){10, 0, 0, 1, 198, 51, 100, 7}, 8);
    if (proto == 6)
        ip[20 + 12] = 0x50; /* data offset: 5 words */
    else
        ip[20 + 4] = (uint8_t)(l4len >> 8), ip[20 + 5] = (uint8_t)l4len;
    ip[20 + at] = ip[20 + at + 1] = 0;
    c = (uint16_t)~l4_sum(ip, proto, l4len);
    ip[20 + at] = (uint8_t)(c >> 8);
    ip[20 + at + 1] = (uint8_t)c;
    f->p.l3_len = (uint32_t)(20 + l4len);
    f->p.payload_wire = f->p.payload_len;
    assert_int_equal(l4_sum(ip, proto, l4len), 0xffff);
}

/*
 * The checksum of a segment is a sum over its bytes: kept as it was over
 * the overwritten value, it gives away 16 bits of that value (with the
 * masked digits of the alert, most of the rest of a card number), and marks
 * the packet bad. After redaction it is the right one for the bytes written;
 * when the capture cut the segment short it cannot be computed and is 0 (a
 * field of 0 that was not right, never filled in, stays 0:
 * test_raw_ip_redacted_in_file). One that was wrong (a junk copy) stays wrong.
 */
static void test_checksums_after_redaction(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 12);
    ev_iter_t it;
    ev_rec_t *r;
    uint64_t red;

    (void)state;
    tcp(f, 0, 1000, "card=4539148803436467 end", 0);
    seal(f, 6);
    dlp_evidence_packet(f->w, ef, &f->p, 0, true);
    dlp_evidence_anchor(ef, 0, 1000, 0);
    udp(f, "ssn 078-05-1120");
    seal(f, 17);
    dlp_evidence_packet(f->w, ef, &f->p, 1, true); /* not a real flow: the other direction */
    tcp(f, 0, 1025, "card=4916338506082832 cut", 0);
    seal(f, 6);
    f->p.payload_wire = f->p.payload_len + 100; /* the capture kept less than was sent */
    dlp_evidence_packet(f->w, ef, &f->p, 0, true);
    tcp(f, 0, 1050, "card=4539148803436467 bad", 0);
    seal(f, 6);
    f->frame[34 + 17] ^= 0x01; /* a junk copy: its checksum wrong, the receiver dropped it */
    dlp_evidence_packet(f->w, ef, &f->p, 0, true);
    dlp_evidence_redact(ef, 0, 5, 21);
    dlp_evidence_redact(ef, 0, 30, 46);
    dlp_evidence_redact(ef, 0, 55, 71);
    dlp_evidence_redact(ef, 1, 4, 15); /* the datagram's value */
    assert_string_equal(payloads(ef, &red), "card=XXXXXXXXXXXXXXXX end|XXXXXXXXXXXXXXX|card="
                                            "XXXXXXXXXXXXXXXX cut|card=XXXXXXXXXXXXXXXX bad");
    dlp_evidence__iter(ef, &it);
    r = dlp_evidence__next(&it);
    assert_int_equal(l4_sum(ev_rec_frame(r) + 14, 6, r->caplen - 34), 0xffff);
    r = dlp_evidence__next(&it);
    assert_int_equal(l4_sum(ev_rec_frame(r) + 14, 17, r->caplen - 34), 0xffff);
    r = dlp_evidence__next(&it);
    assert_int_equal(ev_rec_frame(r)[34 + 16], 0);
    assert_int_equal(ev_rec_frame(r)[34 + 17], 0);
    r = dlp_evidence__next(&it); /* wrong before, wrong after: not made to look accepted */
    assert_int_not_equal(l4_sum(ev_rec_frame(r) + 14, 6, r->caplen - 34), 0xffff);
    assert_int_not_equal(ev_rec_frame(r)[34 + 16] << 8 | ev_rec_frame(r)[34 + 17], 0);
    dlp_evidence_flow_end(f->w, ef, false);
    fx_free(f);
}

/* Ranges stay sorted and disjoint; beyond the bound the closest merge (widen). */
static void test_ranges_merge_within_bound(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 10);
    int n = DLP_EVIDENCE_RANGES_MAX + 10;

    (void)state;
    dlp_evidence_redact(ef, 0, 5, 5); /* empty: ignored */
    assert_int_equal(ef->nr[0], 0);
    dlp_evidence_redact(ef, 0, 10, 20);
    dlp_evidence_redact(ef, 0, 20, 30); /* adjacent: one */
    dlp_evidence_redact(ef, 0, 0, 5);
    dlp_evidence_redact(ef, 0, 4, 12); /* overlaps both: one */
    assert_int_equal(ef->nr[0], 1);
    assert_int_equal(ef->r[0][0].lo, 0);
    assert_int_equal(ef->r[0][0].hi, 30);
    for (int i = n - 1; i >= 0; i--) /* [100 + 10 i, 102 + 10 i), last first */
        dlp_evidence_redact(ef, 0, 100 + 10 * (uint64_t)i, 102 + 10 * (uint64_t)i);
    /* at RANGES_MAX + 1 the smallest holes go until half of the bound is used */
    assert_int_equal(ef->nr[0], DLP_EVIDENCE_RANGES_MAX / 2 + 10);
    for (int i = 0; i < n; i++) { /* every byte ever given is still covered */
        uint64_t x = 100 + 10 * (uint64_t)i;
        int hit = 0;
        for (int k = 0; k < ef->nr[0]; k++)
            hit |= ef->r[0][k].lo <= x && x + 2 <= ef->r[0][k].hi;
        assert_true(hit);
    }
    for (int k = 1; k < ef->nr[0]; k++)
        assert_true(ef->r[0][k - 1].hi < ef->r[0][k].lo);
    dlp_evidence_flow_end(f->w, ef, false);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_MEM), 0);
    fx_free(f);
}

/* --- bounds ------------------------------------------------------------------ */

static uint32_t kept(dlp_evidence_flow_t *ef, uint32_t *first_seq)
{
    ev_iter_t it;
    ev_rec_t *r;
    uint32_t n = 0;

    dlp_evidence__iter(ef, &it);
    while ((r = dlp_evidence__next(&it)) != NULL) {
        if (n == 0 && first_seq != NULL)
            *first_seq = r->seq;
        n++;
    }
    return n;
}

static void test_prealert_packets_bound(void **state)
{
    dlp_evidence_limits_t l;
    fx_t *f;
    dlp_evidence_flow_t *ef;
    uint32_t first = 0;

    (void)state;
    dlp_evidence_limits_default(&l);
    l.prealert_pkts = 4;
    f = fx_new(&l);
    ef = dlp_evidence_flow_new(f->w, 11);
    for (uint32_t i = 0; i < 10; i++)
        dlp_evidence_packet(f->w, ef, tcp(f, 0, 100 + 10 * i, "0123456789", 0), 0, false);
    assert_int_equal(kept(ef, &first), 4);
    assert_int_equal(first, 160); /* the oldest went first */
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_PREBUF_DROPS), 6);
    /* alerted: kept from now on, the pre-alert ones included */
    for (uint32_t i = 10; i < 13; i++)
        dlp_evidence_packet(f->w, ef, tcp(f, 0, 100 + 10 * i, "0123456789", 0), 0, true);
    assert_int_equal(kept(ef, NULL), 7);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_PREBUF_DROPS), 6);
    dlp_evidence_flow_end(f->w, ef, true);
    assert_int_equal(fx_drain(f), 1);
    fx_free(f);
}

static void test_prealert_bytes_and_flow_bounds(void **state)
{
    dlp_evidence_limits_t l;
    fx_t *f;
    dlp_evidence_flow_t *ef;
    char pl[101];

    (void)state;
    memset(pl, 'a', 100);
    pl[100] = '\0';
    dlp_evidence_limits_default(&l);
    l.prealert_bytes = 3 * (HDR + 100) + 10; /* three frames of 154 bytes */
    l.max_flow_bytes = 5 * (HDR + 100);      /* five */
    f = fx_new(&l);
    ef = dlp_evidence_flow_new(f->w, 12);
    dlp_evidence_anchor(ef, 0, 0, 0);
    for (uint32_t i = 0; i < 8; i++)
        dlp_evidence_packet(f->w, ef, tcp(f, 0, 100 * i, pl, 0), 0, false);
    assert_int_equal(kept(ef, NULL), 3);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_PREBUF_DROPS), 5);
    for (uint32_t i = 8; i < 12; i++)
        dlp_evidence_packet(f->w, ef, tcp(f, 0, 100 * i, pl, 0), 0, true);
    assert_int_equal(kept(ef, NULL), 5);
    assert_int_equal(ef->bytes, 5 * (HDR + 100));
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_FLOW_TRUNCATED), 2);
    /* cut: even a packet that would fit is not kept any more */
    dlp_evidence_packet(f->w, ef, tcp(f, 0, 1200, "", DLP_TCP_FIN), 0, true);
    assert_int_equal(kept(ef, NULL), 5);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_FLOW_TRUNCATED), 3);
    /* ranges past what is kept (stream offsets up to 1000) are no use */
    dlp_evidence_redact(ef, 0, 1005, 1010);
    assert_int_equal(ef->nr[0], 0);
    dlp_evidence_redact(ef, 0, 990, 5000);
    assert_int_equal(ef->nr[0], 1);
    assert_int_equal(ef->r[0][0].hi, 1000);
    dlp_evidence_flow_end(f->w, ef, true);
    assert_int_equal(fx_drain(f), 1);
    fx_free(f);
}

/* The worker's memcap takes the least recently fed flow's buffer, those
 * before their alert first; an alerted flow that loses it gets no file. */
static void test_worker_memcap(void **state)
{
    dlp_evidence_limits_t l;
    fx_t *f;
    dlp_evidence_flow_t *a, *b, *c;
    char pl[1001];

    (void)state;
    memset(pl, 'b', 1000);
    pl[1000] = '\0';
    dlp_evidence_limits_default(&l);
    l.memcap = 17000; /* three first chunks (4 KiB), then one of 8 KiB more */
    f = fx_new(&l);
    a = dlp_evidence_flow_new(f->w, 21);
    b = dlp_evidence_flow_new(f->w, 22);
    c = dlp_evidence_flow_new(f->w, 23);
    dlp_evidence_packet(f->w, a, tcp(f, 0, 1, pl, 0), 0, true); /* alerted, oldest */
    dlp_evidence_packet(f->w, b, tcp(f, 0, 1, pl, 0), 0, false);
    dlp_evidence_packet(f->w, c, tcp(f, 0, 1, pl, 0), 0, false);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_MEMCAP_DROPS), 0);
    /* a second chunk for c is over the cap: b (before its alert) goes, not a */
    for (int i = 0; i < 4; i++)
        dlp_evidence_packet(f->w, c, tcp(f, 0, 1001 + 1000 * (uint32_t)i, pl, 0), 0, false);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_MEMCAP_DROPS), 1);
    assert_null(b->first);
    assert_non_null(a->first);
    assert_int_equal(kept(c, NULL), 5);
    assert_true(f->w->buffered <= l.memcap);
    /* more for c: nothing before its alert is left but c itself; a goes next */
    for (int i = 4; i < 12; i++)
        dlp_evidence_packet(f->w, c, tcp(f, 0, 1001 + 1000 * (uint32_t)i, pl, 0), 0, false);
    assert_true(f->w->buffered <= l.memcap);
    assert_int_equal(a->dropped, 1);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_MEM), f->w->buffered);
    dlp_evidence_flow_end(f->w, a, true); /* dropped: no hand-over */
    dlp_evidence_flow_end(f->w, b, false);
    dlp_evidence_flow_end(f->w, c, false);
    assert_int_equal(fx_drain(f), 0);
    assert_int_equal(f->w->buffered, 0);
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_MEM), 0);
    fx_free(f);
}

/* Live: no room on the event ring drops the capture, counted. */
static void test_hand_over_ring_full(void **state)
{
    fx_t *f = fx_new(NULL);
    size_t cap = dlp_ring_capacity(f->events);

    (void)state;
    for (size_t i = 0; i < cap + 2; i++) {
        dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 100 + i);
        dlp_evidence_packet(f->w, ef, tcp(f, 0, 1, "x", 0), 0, true);
        dlp_evidence_flow_end(f->w, ef, true);
    }
    assert_int_equal(cnt(f, DLP_STAT_EVIDENCE_QUEUE_DROPS), 2);
    assert_int_equal(atomic_load(&f->w->inflight) > 0, 1);
    assert_int_equal(fx_drain(f), cap);
    assert_int_equal(atomic_load(&f->w->inflight), 0);
    fx_free(f);
}

/* --- the writer ------------------------------------------------------------------ */

static char g_dir[64];

static int dir_setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/dlp-evidence-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    return 0;
}

static int dir_teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

/* A writer on g_dir. */
static dlp_evidence_t *writer_new(const dlp_evidence_limits_t *l, bool wait)
{
    char err[256];
    dlp_evidence_t *e = dlp_evidence_new(g_dir, l, wait, err, sizeof(err));

    assert_non_null(e);
    return e;
}

static uint64_t ecnt(const dlp_evidence_t *e, dlp_stat_id_t id)
{
    return dlp_stat_get(dlp_evidence_counters(e), id);
}

/* g_dir/<id>.pcap, in a static buffer (one at a time). */
static const char *pcap_path(uint64_t id)
{
    static char path[128];

    snprintf(path, sizeof(path), "%s/%" PRIu64 ".pcap", g_dir, id);
    return path;
}

/* Ends the alerted flow ef: as the output thread takes it off the event ring. */
static dlp_evidence_flow_t *end_alerted(fx_t *f, dlp_evidence_flow_t *ef)
{
    static dlp_event_t ev;
    uint64_t id = ef->flow_id;

    dlp_evidence_flow_end(f->w, ef, true);
    assert_true(dlp_ring_pop(f->events, &ev));
    assert_int_equal(ev.type, DLP_EV_EVIDENCE);
    assert_int_equal(ev.fl.flow_id, id);
    return ev.u.evidence.flow;
}

/* An alerted flow with 'n' packets "value=1234" (its 1234 a value), ended. */
static dlp_evidence_flow_t *handed_over(fx_t *f, uint64_t id, int n)
{
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, id);

    for (int i = 0; i < n; i++)
        dlp_evidence_packet(f->w, ef, tcp(f, 0, 1 + 10 * (uint32_t)i, "value=1234", 0), 0, true);
    dlp_evidence_anchor(ef, 0, 1, 0);
    dlp_evidence_redact(ef, 0, 6, 10);
    return end_alerted(f, ef);
}

/* The same, submitted. */
static void submit_flow(fx_t *f, dlp_evidence_t *e, uint64_t id, int n)
{
    assert_true(dlp_evidence_submit(e, handed_over(f, id, n)));
}

/*
 * The writer thread cannot start: the flows are dropped (submit false, freed)
 * and the start is tried again only after 10 s, not at every submit; the
 * first failure is logged, later ones rate-limited with the counts; once it
 * starts, flows are written again.
 */
static void test_writer_start_fails(void **state)
{
    fx_t *f = fx_new(NULL);
    char line[512];
    dlp_evidence_t *e = writer_new(&f->l, false);
    FILE *log = tmpfile();
    int saved = dup(2);
    unsigned nerr = 0, creates[4], dropped = 0;
    bool counted = false, late[2];

    (void)state;
    assert_non_null(log);
    assert_true(saved >= 0);
    /* stderr to a file, to count the log lines; no assertion until it is back */
    assert_true(dup2(fileno(log), 2) >= 0);
    g_create_fail = true;
    g_creates = 0;
    for (uint64_t i = 0; i < 100; i++)
        dropped += !dlp_evidence_submit(e, handed_over(f, 600 + i, 1));
    creates[0] = g_creates;
    g_clock_skew += 11000000000ull; /* the next attempt is due */
    dropped += !dlp_evidence_submit(e, handed_over(f, 700, 1));
    creates[1] = g_creates;
    g_create_fail = false;
    dropped += !dlp_evidence_submit(e, handed_over(f, 701, 1)); /* not due yet */
    creates[2] = g_creates;
    g_clock_skew += 11000000000ull;
    late[0] = dlp_evidence_submit(e, handed_over(f, 702, 1));
    late[1] = dlp_evidence_submit(e, handed_over(f, 703, 1)); /* running */
    creates[3] = g_creates;
    dlp_evidence_settle(e);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);

    assert_int_equal(dropped, 102);
    assert_true(late[0] && late[1]);
    assert_int_equal(creates[0], 1);
    assert_int_equal(creates[1], 2);
    assert_int_equal(creates[2], 2);
    assert_int_equal(creates[3], 3);
    rewind(log);
    while (fgets(line, sizeof(line), log) != NULL)
        if (strstr(line, "start the writer thread") != NULL) {
            nerr++;
            /* the second attempt's line says how much was lost */
            counted |= strstr(line, "2 attempts, 101 flows dropped") != NULL;
        }
    fclose(log);
    assert_int_equal(nerr, 2);
    assert_true(counted);
    assert_int_equal(access(pcap_path(702), F_OK), 0);
    assert_int_equal(access(pcap_path(600), F_OK), -1);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_FILES), 2);
    dlp_evidence_free(e);
    assert_int_equal(atomic_load(&f->w->inflight), 0); /* the dropped ones freed */
    g_clock_skew = 0;
    fx_free(f);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    static uint8_t buf[65536];
    int fd = open(path, O_RDONLY);
    ssize_t k;

    assert_true(fd >= 0);
    k = read(fd, buf, sizeof(buf));
    close(fd);
    assert_true(k >= 0);
    *n = (size_t)k;
    return buf;
}

static void test_file_layout_and_mode(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_t *e = writer_new(&f->l, true);
    struct stat st;
    uint32_t u32;
    uint16_t u16;
    size_t n;
    const uint8_t *b;

    (void)state;
    umask(0); /* the file's mode must not depend on it */
    submit_flow(f, e, 4242, 2);
    dlp_evidence_settle(e);
    assert_int_equal(lstat(pcap_path(4242), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    b = slurp(pcap_path(4242), &n);
    assert_int_equal(n, 24 + 2 * (16 + HDR + 10));
    memcpy(&u32, b, 4);
    assert_int_equal(u32, 0xa1b2c3d4u);
    memcpy(&u16, b + 4, 2);
    assert_int_equal(u16, 2);
    memcpy(&u32, b + 20, 4);
    assert_int_equal(u32, 1); /* Ethernet */
    memcpy(&u32, b + 24, 4);
    assert_int_equal(u32, 1700000000u);
    memcpy(&u32, b + 28, 4);
    assert_int_equal(u32, 123456 + 1);
    memcpy(&u32, b + 32, 4);
    assert_int_equal(u32, HDR + 10);
    assert_memory_equal(b + 40 + HDR, "value=XXXX", 10);
    assert_memory_equal(b + 40 + HDR + 10 + 16 + HDR, "value=1234", 10);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_FILES), 1);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_BYTES), n);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_REDACTED), 4);
    umask(022);
    dlp_evidence_free(e);
    assert_int_equal(atomic_load(&f->w->inflight), 0);
    fx_free(f);
}

/* An existing file (or a link planted in its place) is never written through. */
static void test_existing_file_refused(void **state)
{
    fx_t *f = fx_new(NULL);
    char path[128];
    dlp_evidence_t *e = writer_new(&f->l, true);
    size_t n;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s", pcap_path(77));
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old", 3), 3);
    close(fd);
    assert_int_equal(symlink(path, pcap_path(78)), 0);
    submit_flow(f, e, 77, 1);
    submit_flow(f, e, 78, 1);
    dlp_evidence_settle(e);
    assert_memory_equal(slurp(path, &n), "old", 3);
    assert_int_equal(n, 3);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_WRITE_ERRORS), 2);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_FILES), 0);
    dlp_evidence_free(e);
    fx_free(f);
}

static uint8_t *slurp_all(const char *path, size_t *n)
{
    struct stat st;
    uint8_t *b;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

/*
 * The file is written through a fixed buffer, not built whole: for any buffer
 * size (one that cuts every record, a record header, the made-up Ethernet
 * header) the file is the image render() builds, and through the writer
 * thread a file several times its 64 KiB buffer comes out whole.
 */
static void test_file_streamed_through_buffer(void **state)
{
    fx_t *f = fx_new(NULL);
    char path[128], pl[1001];
    dlp_evidence_t *e;
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 5150);
    static const size_t caps[] = {1, 7, 16, 1000, 65536, 1 << 20};
    static uint8_t buf[1 << 20];
    uint8_t *img, *b;
    size_t n, m;
    int dfd;

    (void)state;
    for (int i = 0; i < 200; i++) {
        memset(pl, 'a' + i % 26, sizeof(pl) - 1);
        pl[sizeof(pl) - 1] = '\0';
        tcp(f, 0, 1 + 1000 * (uint32_t)i, pl, 0);
        if (i == 50) /* a rebuilt fragment: raw IP behind a made-up Ethernet header */
            to_raw_ip(f);
        dlp_evidence_packet(f->w, ef, &f->p, 0, true);
    }
    dlp_evidence_anchor(ef, 0, 1, 0);
    dlp_evidence_redact(ef, 0, 990, 1010);
    dlp_evidence_redact(ef, 0, 150000, 150001);
    assert_int_equal(dlp_evidence__redact_all(ef), 21);
    n = dlp_evidence__render(ef, &img);
    assert_int_equal(n, dlp_evidence__size(ef));
    assert_int_equal(n, 24 + 200 * (16 + HDR + 1000));
    dfd = open(g_dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    snprintf(path, sizeof(path), "%s", pcap_path(5150));
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        assert_int_equal(dlp_evidence__write_file(dfd, ef, buf, caps[i]), DLP_OK);
        b = slurp_all(path, &m);
        assert_int_equal(m, n);
        assert_memory_equal(b, img, n);
        free(b);
        /* an existing file: refused, left as it is */
        assert_int_equal(dlp_evidence__write_file(dfd, ef, buf, caps[i]), DLP_EIO);
        assert_int_equal(unlink(path), 0);
    }
    close(dfd);
    free(img);
    dlp_evidence_flow_end(f->w, ef, false);

    e = writer_new(&f->l, true);
    submit_flow(f, e, 4343, 4000);
    dlp_evidence_settle(e);
    b = slurp_all(pcap_path(4343), &m);
    assert_int_equal(m, 24 + 4000 * (16 + HDR + 10));
    assert_memory_equal(b + 24 + 16 + HDR, "value=XXXX", 10);
    assert_memory_equal(b + m - 10, "value=1234", 10);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_BYTES), m);
    free(b);
    dlp_evidence_free(e);
    fx_free(f);
}

/*
 * A raw-IP capture (no link-layer header): in its file the value's bytes are
 * overwritten at the payload's offset in that frame, not 14 bytes off, and
 * every other byte is as it was sent.
 */
static void test_raw_ip_redacted_in_file(void **state)
{
    static const char pl[] = "card=4539148803436467 end"; /* the value at [5, 21) */
    static const uint8_t addrs[8] = {10, 0, 0, 1, 192, 168, 7, 9};
    fx_t *f = fx_new(NULL);
    dlp_evidence_t *e = writer_new(&f->l, true);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 31);
    uint8_t sent[128];
    uint32_t len, u32;
    size_t n;
    const uint8_t *b;

    (void)state;
    tcp(f, 0, 5000, pl, 0);
    to_raw_ip(f);
    /* headers to keep as sent: the addresses, source port 40000 */
    memcpy(f->frame + 12, addrs, sizeof(addrs));
    f->frame[20] = 0x9c;
    f->frame[21] = 0x40;
    len = f->p.caplen;
    assert_int_equal(len, 40 + sizeof(pl) - 1);
    memcpy(sent, f->frame, len);
    dlp_evidence_packet(f->w, ef, &f->p, 0, true);
    dlp_evidence_anchor(ef, 0, 5000, 0);
    dlp_evidence_redact(ef, 0, 5, 21);
    assert_true(dlp_evidence_submit(e, end_alerted(f, ef)));
    dlp_evidence_settle(e);

    b = slurp(pcap_path(31), &n);
    assert_int_equal(n, 24 + 16 + len);
    memcpy(&u32, b + 20, 4);
    assert_int_equal(u32, 101); /* LINKTYPE_RAW */
    memcpy(&u32, b + 32, 4);
    assert_int_equal(u32, len);
    memset(sent + 40 + 5, 'X', 16);
    assert_memory_equal(b + 40, sent, len);
    assert_memory_equal(b + 40 + 40, "card=XXXXXXXXXXXXXXXX end", sizeof(pl) - 1);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_REDACTED), 16);
    dlp_evidence_free(e);
    fx_free(f);
}

/* The run's total: a file that does not fit is not written, nor any after it. */
static void test_total_bound(void **state)
{
    dlp_evidence_limits_t l;
    fx_t *f;
    dlp_evidence_t *e;
    size_t one = 24 + 16 + HDR + 10;

    (void)state;
    dlp_evidence_limits_default(&l);
    l.max_total_bytes = 2 * one + 1;
    f = fx_new(&l);
    e = writer_new(&l, true);
    submit_flow(f, e, 1, 1);
    submit_flow(f, e, 2, 1);
    submit_flow(f, e, 3, 1);
    submit_flow(f, e, 4, 1);
    dlp_evidence_settle(e);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_FILES), 2);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_BYTES), 2 * one);
    assert_int_equal(ecnt(e, DLP_STAT_EVIDENCE_TOTAL_CAP), 2);
    assert_int_equal(access(pcap_path(3), F_OK), -1);
    dlp_evidence_free(e);
    fx_free(f);
}

/* The image in memory, the tests' reference for _size and the files, is
 * built on its own in a buffer that grows: none for a flow without packets;
 * one twice its first buffer comes out whole, as long as _size says. */
static void test_render_grows(void **state)
{
    fx_t *f = fx_new(NULL);
    dlp_evidence_flow_t *ef = dlp_evidence_flow_new(f->w, 40);
    uint8_t *img = f->frame;
    size_t n, one = 16 + HDR + 10;

    (void)state;
    assert_int_equal(dlp_evidence__render(ef, &img), 0);
    assert_null(img);
    for (uint32_t i = 0; i < 100; i++)
        dlp_evidence_packet(f->w, ef, tcp(f, 0, 1 + 10 * i, "value=1234", 0), 0, true);
    n = dlp_evidence__render(ef, &img);
    assert_non_null(img);
    assert_int_equal(n, 24 + 100 * one);
    assert_int_equal(n, dlp_evidence__size(ef));
    for (size_t i = 0; i < 100; i++)
        assert_memory_equal(img + 24 + i * one + 16 + HDR, "value=1234", 10);
    free(img);
    dlp_evidence_flow_end(f->w, ef, false);
    fx_free(f);
}

/* Raw: nothing overwritten. A rebuilt fragment (raw IP) in an Ethernet file
 * gets a made-up Ethernet header. */
static void test_raw_and_linktypes(void **state)
{
    dlp_evidence_limits_t l;
    fx_t *f;
    dlp_evidence_flow_t *ef;
    uint8_t *img;
    size_t n;

    (void)state;
    dlp_evidence_limits_default(&l);
    f = fx_new(&l);
    ef = dlp_evidence_flow_new(f->w, 5);
    dlp_evidence_packet(f->w, ef, udp(f, "abc"), 0, false);
    udp(f, "defg");
    dlp_evidence_packet(f->w, ef, to_raw_ip(f), 0, false);
    n = dlp_evidence__render(ef, &img);
    assert_int_equal(n, 24 + 16 + 45 + 16 + 46);
    assert_memory_equal(img + 24 + 16 + 45 + 16 + 12, "\x08\x00", 2);
    assert_memory_equal(img + n - 4, "defg", 4);
    free(img);
    dlp_evidence_flow_end(f->w, ef, false);
    /* a raw-IP capture: the file says LINKTYPE_RAW (101) */
    ef = dlp_evidence_flow_new(f->w, 6);
    dlp_evidence_packet(f->w, ef, &f->p, 0, false);
    n = dlp_evidence__render(ef, &img);
    assert_int_equal(n, 24 + 16 + 32);
    assert_int_equal(img[20], 101);
    free(img);
    dlp_evidence_flow_end(f->w, ef, false);
    fx_free(f);
}

static void test_bad_directory(void **state)
{
    dlp_evidence_limits_t l;
    char err[256] = "", path[128];
    int fd;

    (void)state;
    dlp_evidence_limits_default(&l);
    assert_null(dlp_evidence_new("/nonexistent-dir/sub", &l, true, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent-dir/sub"));
    snprintf(path, sizeof(path), "%s/plainfile", g_dir);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    assert_null(dlp_evidence_new(path, &l, true, err, sizeof(err)));
    assert_non_null(strstr(err, "not a directory"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_ooo_retransmitted_with_wrap),
        cmocka_unit_test(test_packet_before_the_stream_start),
        cmocka_unit_test(test_gap_and_unknown_mapping),
        cmocka_unit_test(test_datagrams_whole),
        cmocka_unit_test(test_checksums_after_redaction),
        cmocka_unit_test(test_ranges_merge_within_bound),
        cmocka_unit_test(test_prealert_packets_bound),
        cmocka_unit_test(test_prealert_bytes_and_flow_bounds),
        cmocka_unit_test(test_worker_memcap),
        cmocka_unit_test(test_hand_over_ring_full),
        cmocka_unit_test_setup_teardown(test_file_layout_and_mode, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_existing_file_refused, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_streamed_through_buffer, dir_setup,
                                        dir_teardown),
        cmocka_unit_test_setup_teardown(test_raw_ip_redacted_in_file, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_total_bound, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_writer_start_fails, dir_setup, dir_teardown),
        cmocka_unit_test(test_render_grows),
        cmocka_unit_test(test_raw_and_linktypes),
        cmocka_unit_test_setup_teardown(test_bad_directory, dir_setup, dir_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
