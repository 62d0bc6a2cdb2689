/*
 * test_classify.c - nDPI classification on packets built here byte by byte
 * (Ethernet + IPv4/IPv6 + TCP/UDP with real checksums, decoded by
 * dlp_decode like captured frames): an HTTP request after a handshake over
 * IPv4 and IPv6, TLS ClientHellos with SNI, a DNS query, an SMTP session
 * (banner first), a DNS query fragmented and reassembled by dlp_defrag,
 * the give-up path (random payload, max_packets, guesses by port, a final
 * answer asked early), modules created from two threads at once, the
 * per-flow memory (nDPI's own heap counted by allocation hooks: it returns
 * to its level before the flow once the verdict is in) and risk names.
 */
#include "dlp_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <ndpi_api.h>

#include "dlp/classify.h"
#include "dlp/defrag.h"
#include "dlp/packet.h"

/* --- nDPI heap accounting (hooks are process-wide: set before any module) --- */

#define HOOK_HDR 16

static atomic_llong live_bytes;

static void *count_malloc(size_t n)
{
    uint8_t *p = malloc(n + HOOK_HDR);

    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    atomic_fetch_add(&live_bytes, (long long)n);
    return p + HOOK_HDR;
}

static void count_free(void *q)
{
    uint8_t *p;
    size_t n;

    if (q == NULL)
        return;
    p = (uint8_t *)q - HOOK_HDR;
    memcpy(&n, p, sizeof(n));
    atomic_fetch_sub(&live_bytes, (long long)n);
    free(p);
}

/* --- packets ---------------------------------------------------------------- */

typedef struct sess {
    dlp_classify_t *c;
    dlp_classify_flow_t *cf;
    int v6;
    uint8_t ip[2][16]; /* [0] client, [1] server; the first 4 bytes for IPv4 */
    uint16_t port[2];
    uint32_t seq[2];
    uint64_t ts_us;
    unsigned fed;     /* packets handed to dlp_classify_packet */
    unsigned done_at; /* 1-based packet that returned true; 0: not yet */
} sess_t;

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
    put16(b, (uint16_t)(v >> 16));
    put16(b + 2, (uint16_t)v);
}

static uint32_t sum16(const uint8_t *b, size_t n, uint32_t s)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (n & 1)
        s += (uint32_t)b[n - 1] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void sess_init(sess_t *s, dlp_classify_t *c, int v6, const uint8_t *cli, const uint8_t *srv,
                      uint16_t cport, uint16_t sport)
{
    memset(s, 0, sizeof(*s));
    s->c = c;
    s->cf = dlp_classify_flow_new(c);
    assert_non_null(s->cf);
    s->v6 = v6;
    memcpy(s->ip[0], cli, v6 ? 16 : 4);
    memcpy(s->ip[1], srv, v6 ? 16 : 4);
    s->port[0] = cport;
    s->port[1] = sport;
    s->seq[0] = 1000;
    s->seq[1] = 50000;
    s->ts_us = 1700000000ULL * 1000000;
}

/* An IP datagram from side 'dir' (0 client) with an L4 header and payload. */
static uint32_t datagram(const sess_t *s, uint8_t *b, int dir, uint8_t proto, uint8_t flags,
                         const uint8_t *pl, size_t n)
{
    uint32_t hl = s->v6 ? 40 : 20, l4 = proto == DLP_PROTO_TCP ? 20 : 8;
    uint32_t alen = s->v6 ? 16 : 4, total = hl + l4 + (uint32_t)n, sum;
    uint8_t *h = b, *t = b + hl;

    memset(b, 0, hl + l4);
    if (s->v6) {
        put32(h, 0x60000000);
        put16(h + 4, (uint16_t)(l4 + n));
        h[6] = proto;
        h[7] = 64;
        memcpy(h + 8, s->ip[dir], 16);
        memcpy(h + 24, s->ip[!dir], 16);
    } else {
        h[0] = 0x45;
        put16(h + 2, (uint16_t)total);
        put16(h + 4, (uint16_t)(s->fed + 1));
        h[6] = 0x40; /* DF */
        h[8] = 64;
        h[9] = proto;
        memcpy(h + 12, s->ip[dir], 4);
        memcpy(h + 16, s->ip[!dir], 4);
        put16(h + 10, fold(sum16(h, 20, 0)));
    }
    put16(t, s->port[dir]);
    put16(t + 2, s->port[!dir]);
    if (proto == DLP_PROTO_TCP) {
        put32(t + 4, s->seq[dir]);
        put32(t + 8, flags & DLP_TCP_ACK ? s->seq[!dir] : 0);
        t[12] = 5 << 4;
        t[13] = flags;
        put16(t + 14, 64240);
    } else {
        put16(t + 4, (uint16_t)(l4 + n));
    }
    if (n > 0)
        memcpy(t + l4, pl, n);
    /* pseudo-header: addresses, protocol, L4 length */
    sum = sum16(s->ip[dir], alen, 0);
    sum = sum16(s->ip[!dir], alen, sum);
    sum += proto + l4 + (uint32_t)n;
    put16(t + (proto == DLP_PROTO_TCP ? 16 : 6), fold(sum16(t, l4 + n, sum)));
    return total;
}

/* Decodes an IP datagram inside an Ethernet frame (padded to 60 bytes) and classifies it. */
static bool feed_ip(sess_t *s, const uint8_t *ip, uint32_t n)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    uint8_t *f = calloc(1, 14 + n + 64);
    uint32_t flen = 14 + n < 60 ? 60 : 14 + n;
    dlp_packet_t p;
    bool done;

    assert_non_null(f);
    memcpy(f, macs, 12);
    put16(f + 12, s->v6 ? 0x86dd : 0x0800);
    memcpy(f + 14, ip, n);
    assert_int_equal(dlp_decode(&p, DLP_LINK_EN10MB, f, flen, flen, s->ts_us), DLP_DEC_OK);
    assert_int_equal(p.l3_len, n);
    s->ts_us += 1000;
    done = dlp_classify_packet(s->c, s->cf, &p);
    s->fed++;
    if (done && s->done_at == 0)
        s->done_at = s->fed;
    free(f);
    return done;
}

static bool send_pkt(sess_t *s, int dir, uint8_t proto, uint8_t flags, const void *pl, size_t n)
{
    uint8_t b[2048];
    uint32_t len;

    assert_true(n <= 1400);
    len = datagram(s, b, dir, proto, flags, pl, n);
    if (proto == DLP_PROTO_TCP)
        s->seq[dir] += (uint32_t)n + ((flags & (DLP_TCP_SYN | DLP_TCP_FIN)) ? 1 : 0);
    return feed_ip(s, b, len);
}

static void tcp_open(sess_t *s)
{
    send_pkt(s, 0, DLP_PROTO_TCP, DLP_TCP_SYN, NULL, 0);
    send_pkt(s, 1, DLP_PROTO_TCP, DLP_TCP_SYN | DLP_TCP_ACK, NULL, 0);
    send_pkt(s, 0, DLP_PROTO_TCP, DLP_TCP_ACK, NULL, 0);
}

/* Data from 'dir' in segments, each acknowledged by the other side. */
static void tcp_data(sess_t *s, int dir, const void *data, size_t n)
{
    const uint8_t *p = data;

    while (n > 0) {
        size_t k = n > 1400 ? 1400 : n;
        send_pkt(s, dir, DLP_PROTO_TCP, DLP_TCP_PSH | DLP_TCP_ACK, p, k);
        send_pkt(s, !dir, DLP_PROTO_TCP, DLP_TCP_ACK, NULL, 0);
        p += k;
        n -= k;
    }
}

static void sess_end(sess_t *s)
{
    dlp_classify_flow_free(s->cf);
    s->cf = NULL;
}

static const uint8_t cli4[4] = {10, 0, 0, 1};
static const uint8_t web4[4] = {93, 184, 216, 34};
static const uint8_t dns4[4] = {192, 0, 2, 53};
static const uint8_t cli6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t srv6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static const char http_get[] = "GET / HTTP/1.1\r\n"
                               "Host: www.example.com\r\n"
                               "User-Agent: curl/7.88.1\r\n"
                               "Accept: */*\r\n"
                               "\r\n";

/* TLS 1.3-style ClientHello record with SNI, groups, ALPN, supported_versions. */
static size_t client_hello(uint8_t *b, const char *sni)
{
    static const uint8_t tail[] = {
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, /* supported_groups */
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,             /* ec_point_formats */
        0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, /* signature_algorithms */
        0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 'h',  '2',
        0x08, 'h',  't',  't',  'p',  '/',  '1',  '.',  '1', /* ALPN */
        0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04,            /* supported_versions */
    };
    size_t sl = strlen(sni), n = 0, ext_len = 9 + sl + sizeof(tail), body;

    body = 2 + 32 + 1 + 2 + 4 + 2 + 2 + ext_len;
    b[n++] = 0x16; /* handshake record */
    put16(b + n, 0x0301);
    n += 2;
    put16(b + n, (uint16_t)(4 + body));
    n += 2;
    b[n++] = 0x01; /* ClientHello */
    b[n++] = 0;
    put16(b + n, (uint16_t)body);
    n += 2;
    put16(b + n, 0x0303);
    n += 2;
    for (int i = 0; i < 32; i++)
        b[n++] = (uint8_t)(i * 7 + 1); /* random */
    b[n++] = 0;                        /* session id */
    put16(b + n, 4);
    n += 2;
    put16(b + n, 0x1301);
    put16(b + n + 2, 0xc02f);
    n += 4;
    b[n++] = 1; /* compression: null */
    b[n++] = 0;
    put16(b + n, (uint16_t)ext_len);
    n += 2;
    put16(b + n, 0x0000); /* server_name */
    put16(b + n + 2, (uint16_t)(sl + 5));
    put16(b + n + 4, (uint16_t)(sl + 3));
    b[n + 6] = 0; /* host_name */
    put16(b + n + 7, (uint16_t)sl);
    memcpy(b + n + 9, sni, sl);
    n += 9 + sl;
    memcpy(b + n, tail, sizeof(tail));
    return n + sizeof(tail);
}

static size_t dns_query(uint8_t *b, const char *name, size_t pad)
{
    static const uint8_t hdr[12] = {0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t n = sizeof(hdr);

    memcpy(b, hdr, n);
    while (*name != '\0') {
        const char *dot = strchr(name, '.');
        size_t k = dot != NULL ? (size_t)(dot - name) : strlen(name);
        b[n++] = (uint8_t)k;
        memcpy(b + n, name, k);
        n += k;
        name += k + (dot != NULL ? 1 : 0);
    }
    b[n++] = 0;
    put16(b + n, 1);     /* A */
    put16(b + n + 2, 1); /* IN */
    n += 4;
    if (pad > 0) {    /* EDNS OPT with a padding option */
        b[5 + 6] = 1; /* arcount */
        b[n++] = 0;
        put16(b + n, 41);
        put16(b + n + 2, 1232);
        put32(b + n + 4, 0);
        put16(b + n + 8, (uint16_t)(4 + pad));
        put16(b + n + 10, 12);
        put16(b + n + 12, (uint16_t)pad);
        memset(b + n + 14, 0, pad);
        n += 14 + pad;
    }
    return n;
}

static void assert_result(dlp_classify_t *c, dlp_classify_flow_t *cf, const char *app,
                          const char *host, int encrypted, int guessed)
{
    const dlp_classify_result_t *r = dlp_classify_result(c, cf, false);

    assert_string_equal(r->app_proto, app);
    assert_string_equal(r->host, host);
    assert_int_equal(r->done, 1);
    assert_int_equal(r->encrypted, encrypted);
    assert_int_equal(r->guessed, guessed);
    assert_int_equal(dlp_classify_flow_mem(cf), 0);
}

/* --- tests -------------------------------------------------------------------- */

static void http_session(sess_t *s)
{
    tcp_open(s);
    assert_int_equal(s->done_at, 0);
    assert_true(dlp_classify_flow_mem(s->cf) > 688);
    tcp_data(s, 0, http_get, strlen(http_get));
}

static void test_http_ipv4(void **state)
{
    dlp_classify_t *c = dlp_classify_new(32);
    sess_t s;
    (void)state;

    assert_non_null(c);
    sess_init(&s, c, 0, cli4, web4, 40001, 80);
    http_session(&s);
    assert_int_equal(s.done_at, 4); /* the request: label and Host are known */
    assert_result(c, s.cf, "HTTP", "www.example.com", 0, 0);
    /* later packets change nothing */
    assert_true(send_pkt(&s, 1, DLP_PROTO_TCP, DLP_TCP_ACK, NULL, 0));
    assert_result(c, s.cf, "HTTP", "www.example.com", 0, 0);
    sess_end(&s);
    dlp_classify_free(c);
}

static void test_http_ipv6(void **state)
{
    dlp_classify_t *c = dlp_classify_new(32);
    sess_t s;
    (void)state;

    assert_non_null(c);
    sess_init(&s, c, 1, cli6, srv6, 40001, 80);
    http_session(&s);
    assert_int_equal(s.done_at, 4);
    assert_result(c, s.cf, "HTTP", "www.example.com", 0, 0);
    sess_end(&s);
    dlp_classify_free(c);
}

static void tls_session(dlp_classify_t *c, int v6, const char *sni, const char *app)
{
    uint8_t hello[512];
    size_t n = client_hello(hello, sni);
    sess_t s;

    sess_init(&s, c, v6, v6 ? cli6 : cli4, v6 ? srv6 : web4, 40002, 443);
    tcp_open(&s);
    tcp_data(&s, 0, hello, n);
    assert_int_equal(s.done_at, 4);
    assert_result(c, s.cf, app, sni, 1, 0);
    sess_end(&s);
}

static void test_tls_sni(void **state)
{
    dlp_classify_t *c = dlp_classify_new(32);
    (void)state;

    assert_non_null(c);
    tls_session(c, 0, "www.example.com", "TLS");
    tls_session(c, 1, "www.example.com", "TLS");
    /* a known service by SNI: master.app */
    tls_session(c, 0, "www.google.com", "TLS.Google");
    dlp_classify_free(c);
}

static void test_dns_udp(void **state)
{
    dlp_classify_t *c = dlp_classify_new(32);
    uint8_t q[512];
    size_t n = dns_query(q, "www.example.com", 0);
    sess_t s;
    (void)state;

    assert_non_null(c);
    sess_init(&s, c, 0, cli4, dns4, 53001, 53);
    assert_true(send_pkt(&s, 0, DLP_PROTO_UDP, 0, q, n));
    assert_int_equal(s.done_at, 1);
    assert_result(c, s.cf, "DNS", "www.example.com", 0, 0);
    sess_end(&s);
    dlp_classify_free(c);
}

static void test_smtp(void **state)
{
    static const char banner[] = "220 mail.example.com ESMTP Postfix\r\n";
    static const char ehlo[] = "EHLO client.example.org\r\n";
    static const char caps[] = "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                               "250 8BITMIME\r\n";
    static const char mail[] = "MAIL FROM:<alice@example.org>\r\n";
    dlp_classify_t *c = dlp_classify_new(32);
    sess_t s;
    (void)state;

    assert_non_null(c);
    sess_init(&s, c, 0, cli4, web4, 40003, 25);
    tcp_open(&s);
    tcp_data(&s, 1, banner, strlen(banner));
    tcp_data(&s, 0, ehlo, strlen(ehlo));
    tcp_data(&s, 1, caps, strlen(caps));
    tcp_data(&s, 0, mail, strlen(mail));
    /* nDPI names SMTP at the server's EHLO reply; the host comes from the banner */
    assert_int_equal(s.done_at, 8);
    assert_result(c, s.cf, "SMTP", "mail.example.com", 0, 0);
    sess_end(&s);
    dlp_classify_free(c);
}

/*
 * A DNS query too large for one packet: its fragments are not fed, the
 * datagram dlp_defrag rebuilds is.
 */
static void fragmented_dns(dlp_classify_t *c, int v6)
{
    uint8_t q[2048], dg[2300], frag[1600];
    size_t qn = dns_query(q, "big.example.com", 1400);
    uint32_t dn, hl = v6 ? 40 : 20, cut = 1000;
    dlp_defrag_config_t cfg;
    dlp_stats_t st;
    dlp_defrag_t *d;
    const uint8_t *out = NULL;
    uint32_t out_len = 0;
    sess_t s;

    memset(&st, 0, sizeof(st));
    dlp_defrag_config_default(&cfg);
    d = dlp_defrag_new(&cfg, &st);
    assert_non_null(d);
    sess_init(&s, c, v6, v6 ? cli6 : cli4, v6 ? srv6 : dns4, 53002, 53);
    dn = datagram(&s, dg, 0, DLP_PROTO_UDP, 0, q, qn);
    for (int k = 0; k < 2; k++) {
        uint32_t off = k == 0 ? 0 : cut, len = k == 0 ? cut : dn - hl - cut, fl;
        uint8_t *h = frag;
        dlp_packet_t p;

        if (v6) {
            memcpy(h, dg, 40);
            h[6] = 44; /* fragment header */
            put16(h + 4, (uint16_t)(8 + len));
            h[40] = DLP_PROTO_UDP;
            h[41] = 0;
            put16(h + 42, (uint16_t)(off | (k == 0 ? 1 : 0)));
            put32(h + 44, 0x1234);
            memcpy(h + 48, dg + 40 + off, len);
            fl = 48 + len;
        } else {
            memcpy(h, dg, 20);
            put16(h + 2, (uint16_t)(20 + len));
            put16(h + 6, (uint16_t)(off / 8 | (k == 0 ? 0x2000 : 0)));
            put16(h + 10, 0);
            put16(h + 10, fold(sum16(h, 20, 0)));
            memcpy(h + 20, dg + 20 + off, len);
            fl = 20 + len;
        }
        assert_int_equal(dlp_decode_ip(&p, frag, fl, s.ts_us, NULL), DLP_DEC_FRAGMENT);
        assert_false(dlp_classify_packet(c, s.cf, &p)); /* not fed */
        assert_int_equal(dlp_defrag_add(d, &p, &out, &out_len), k == 0 ? DLP_AGAIN : DLP_OK);
    }
    assert_int_equal(out_len, dn);
    assert_true(feed_ip(&s, out, out_len));
    assert_int_equal(s.done_at, 1);
    assert_result(c, s.cf, "DNS", "big.example.com", 0, 0);
    sess_end(&s);
    dlp_defrag_free(d);
}

static void test_reassembled_fragments(void **state)
{
    /* a budget of 2 packets: fragments must not use it up */
    dlp_classify_t *c = dlp_classify_new(2);
    (void)state;

    assert_non_null(c);
    fragmented_dns(c, 0);
    fragmented_dns(c, 1);
    dlp_classify_free(c);
}

static void random_payload(uint8_t *b, size_t n, uint32_t *x)
{
    for (size_t i = 0; i < n; i++) {
        *x ^= *x << 13;
        *x ^= *x >> 17;
        *x ^= *x << 5;
        b[i] = (uint8_t)(*x >> 8);
    }
}

/* Random bytes both ways; returns the packet that ended classification. */
static unsigned random_session(dlp_classify_t *c, uint16_t sport, unsigned max_pkts)
{
    uint8_t b[600];
    uint32_t x = 2463534242u;
    sess_t s;
    unsigned done;

    sess_init(&s, c, 0, cli4, web4, 40004, sport);
    tcp_open(&s);
    for (unsigned i = 0; s.fed < max_pkts + 4; i++) {
        random_payload(b, sizeof(b), &x);
        send_pkt(&s, (int)(i & 1), DLP_PROTO_TCP, DLP_TCP_PSH | DLP_TCP_ACK, b, sizeof(b));
    }
    done = s.done_at;
    if (sport == 41002) {
        assert_result(c, s.cf, "Unknown", "", 0, 0);
    } else {
        /* guessed by port 443: not "encrypted", its payload stays inspectable */
        assert_result(c, s.cf, "TLS", "", 0, 1);
    }
    sess_end(&s);
    return done;
}

static void test_give_up(void **state)
{
    dlp_classify_t *c = dlp_classify_new(6), *d = dlp_classify_new(0);
    (void)state;

    assert_non_null(c);
    assert_non_null(d);
    assert_int_equal(random_session(c, 41002, 6), 6);
    assert_int_equal(random_session(c, 443, 6), 6);
    /* 0: the default bound */
    assert_int_equal(random_session(d, 41002, DLP_CLASSIFY_MAX_PACKETS), DLP_CLASSIFY_MAX_PACKETS);
    dlp_classify_free(c);
    dlp_classify_free(d);
}

/* The flow ends before a verdict: the final answer gives up (and guesses by port). */
static void test_final_early(void **state)
{
    dlp_classify_t *c = dlp_classify_new(32);
    const dlp_classify_result_t *r;
    sess_t s;
    (void)state;

    assert_non_null(c);
    sess_init(&s, c, 0, cli4, web4, 40005, 80);
    tcp_open(&s);
    r = dlp_classify_result(c, s.cf, false);
    assert_int_equal(r->done, 0);
    assert_string_equal(r->app_proto, "Unknown");
    assert_true(dlp_classify_flow_mem(s.cf) > 0);
    r = dlp_classify_result(c, s.cf, true);
    assert_int_equal(r->done, 1);
    assert_string_equal(r->app_proto, "HTTP");
    assert_int_equal(r->guessed, 1);
    assert_int_equal(r->encrypted, 0);
    assert_int_equal(dlp_classify_flow_mem(s.cf), 0);
    /* asked again: the same */
    assert_ptr_equal(dlp_classify_result(c, s.cf, true), r);
    sess_end(&s);

    /* nothing at all was seen on an odd port */
    sess_init(&s, c, 0, cli4, web4, 40006, 41003);
    r = dlp_classify_result(c, s.cf, true);
    assert_string_equal(r->app_proto, "Unknown");
    assert_int_equal(r->guessed, 0);
    assert_int_equal(r->done, 1);
    sess_end(&s);
    dlp_classify_free(c);
}

typedef struct thr {
    pthread_barrier_t *start;
    int ok;
} thr_t;

static void *thread_main(void *arg)
{
    thr_t *t = arg;

    for (int round = 0; round < 3; round++) {
        dlp_classify_t *c;
        sess_t s;

        pthread_barrier_wait(t->start);
        c = dlp_classify_new(32);
        if (c == NULL)
            return NULL;
        sess_init(&s, c, 0, cli4, web4, 40010, 80);
        http_session(&s);
        t->ok +=
            s.done_at == 4 && strcmp(dlp_classify_result(c, s.cf, false)->app_proto, "HTTP") == 0;
        sess_end(&s);
        tls_session(c, 1, "www.example.com", "TLS");
        pthread_barrier_wait(t->start);
        dlp_classify_free(c);
    }
    return NULL;
}

/* Two modules created (and freed) by two threads at the same moment. */
static void test_two_threads(void **state)
{
    pthread_barrier_t start;
    pthread_t th[2];
    thr_t t[2];
    (void)state;

    assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
    for (int i = 0; i < 2; i++) {
        t[i].start = &start;
        t[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &t[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(t[i].ok, 3);
    }
    pthread_barrier_destroy(&start);
}

/* nDPI's heap: a flow holds its struct and buffers until the verdict, then nothing. */
static void test_memory(void **state)
{
    dlp_classify_t *c = dlp_classify_new(32);
    uint8_t buf[512];
    size_t n;
    long long before, during;
    sess_t s;
    (void)state;

    assert_non_null(c);
    for (int round = 0; round < 2; round++) { /* round 0 warms nDPI's per-module caches */
        before = atomic_load(&live_bytes);
        sess_init(&s, c, 0, cli4, web4, 40020, 80);
        during = atomic_load(&live_bytes) - before;
        assert_int_equal(during, SIZEOF_FLOW_STRUCT);
        http_session(&s);
        assert_int_equal(dlp_classify_flow_mem(s.cf), 0);
        if (round == 1)
            assert_int_equal(atomic_load(&live_bytes), before);
        sess_end(&s);

        before = atomic_load(&live_bytes);
        n = client_hello(buf, "www.example.com");
        sess_init(&s, c, 0, cli4, web4, 40021, 443);
        tcp_open(&s);
        tcp_data(&s, 0, buf, n);
        assert_int_equal(dlp_classify_flow_mem(s.cf), 0);
        if (round == 1)
            assert_int_equal(atomic_load(&live_bytes), before);
        sess_end(&s);

        /* a flow freed before its verdict gives everything back too */
        before = atomic_load(&live_bytes);
        sess_init(&s, c, 0, cli4, web4, 40022, 443);
        tcp_open(&s);
        assert_int_equal(dlp_classify_flow_mem(s.cf), SIZEOF_FLOW_STRUCT + 256);
        sess_end(&s);
        if (round == 1)
            assert_int_equal(atomic_load(&live_bytes), before);
    }
    dlp_classify_free(c);
}

/*
 * Payload nDPI cannot name grows its TLS record buffer segment after
 * segment: dlp_classify_flow_mem follows the real heap (never below it, at
 * most the string estimate above it) until the give-up frees everything.
 */
static void test_memory_unknown_payload(void **state)
{
    dlp_classify_t *c = dlp_classify_new(32);
    uint8_t b[1400];
    uint32_t x = 88172645u;
    long long before, used;
    size_t mem, max_mem = 0;
    sess_t s;
    (void)state;

    assert_non_null(c);
    for (int round = 0; round < 2; round++) {
        before = atomic_load(&live_bytes);
        sess_init(&s, c, 0, cli4, web4, (uint16_t)(40040 + round), 41002);
        tcp_open(&s);
        while (s.done_at == 0) {
            random_payload(b, sizeof(b), &x);
            b[0] = 0x16; /* looks like a TLS record: nDPI buffers it */
            b[1] = 0x03;
            b[2] = 0x01;
            b[3] = 0xff;
            b[4] = 0xff;
            send_pkt(&s, 0, DLP_PROTO_TCP, DLP_TCP_PSH | DLP_TCP_ACK, b, sizeof(b));
            mem = dlp_classify_flow_mem(s.cf);
            used = atomic_load(&live_bytes) - before;
            if (s.done_at == 0 && round == 1) {
                assert_true((long long)mem >= used);
                assert_true((long long)mem - used <= 256);
            }
            if (mem > max_mem)
                max_mem = mem;
        }
        assert_int_equal(s.done_at, 32);
        assert_int_equal(dlp_classify_flow_mem(s.cf), 0);
        if (round == 1)
            assert_int_equal(atomic_load(&live_bytes), before);
        sess_end(&s);
    }
    /* about 29 data segments of 1400 bytes were held (40,141 bytes measured) */
    assert_in_range(max_mem, 38000, 42000);
    dlp_classify_free(c);
}

static void test_risks(void **state)
{
    static const char get_ip[] = "GET /x.exe HTTP/1.1\r\nHost: 93.184.216.34\r\n\r\n";
    dlp_classify_t *c = dlp_classify_new(32);
    const dlp_classify_result_t *r;
    char names[256], small[40];
    sess_t s;
    (void)state;

    assert_non_null(c);
    /* a numeric Host: nDPI's "HTTP Numeric IP Address" */
    sess_init(&s, c, 0, cli4, web4, 40030, 80);
    tcp_open(&s);
    tcp_data(&s, 0, get_ip, strlen(get_ip));
    r = dlp_classify_result(c, s.cf, true);
    assert_string_equal(r->app_proto, "HTTP");
    assert_true(r->risks & (1ULL << NDPI_HTTP_NUMERIC_IP_HOST));
    assert_true(dlp_classify_risk_names(c, r->risks, names, sizeof(names)) > 0);
    assert_non_null(strstr(names, "HTTP Numeric IP Address"));
    sess_end(&s);

    assert_int_equal(dlp_classify_risk_names(c, (1ULL << 5) | (1ULL << 12), names, sizeof(names)),
                     strlen("Known Protocol on Non Standard Port,HTTP Numeric IP Address"));
    assert_string_equal(names, "Known Protocol on Non Standard Port,HTTP Numeric IP Address");
    /* only whole names that fit */
    assert_int_equal(dlp_classify_risk_names(c, (1ULL << 5) | (1ULL << 12), small, sizeof(small)),
                     strlen("Known Protocol on Non Standard Port"));
    assert_string_equal(small, "Known Protocol on Non Standard Port");
    assert_int_equal(dlp_classify_risk_names(c, (1ULL << 5), small, 10), 0);
    assert_string_equal(small, "");
    /* bit 0 (no risk) and bits nDPI 4.2 does not define have no name */
    assert_int_equal(dlp_classify_risk_names(c, 1ULL | (1ULL << 63), names, sizeof(names)), 0);
    assert_int_equal(dlp_classify_risk_names(c, 0, names, 0), 0);
    assert_int_equal(dlp_classify_risk_names(c, 1ULL << 5, NULL, 10), 0);
    dlp_classify_free(c);
}

static void test_edges(void **state)
{
    dlp_classify_t *c = dlp_classify_new(2);
    dlp_classify_flow_t *cf;
    dlp_packet_t p;
    (void)state;

    assert_non_null(c);
    assert_null(dlp_classify_flow_new(NULL));
    assert_string_equal(dlp_classify_result(c, NULL, true)->app_proto, "Unknown");
    assert_int_equal(dlp_classify_flow_mem(NULL), 0);
    dlp_classify_flow_free(NULL);
    dlp_classify_free(NULL);

    cf = dlp_classify_flow_new(c);
    assert_non_null(cf);
    assert_true(dlp_classify_packet(c, NULL, &p));
    /* not IP, or a view that does not fit its frame: not fed, not counted */
    memset(&p, 0, sizeof(p));
    assert_false(dlp_classify_packet(c, cf, &p));
    assert_false(dlp_classify_packet(c, cf, NULL));
    p.ipver = 4;
    p.caplen = 40;
    p.l3_off = 14;
    p.l3_len = 40;
    assert_false(dlp_classify_packet(c, cf, &p));
    assert_int_equal(dlp_classify_result(c, cf, false)->done, 0);
    dlp_classify_flow_free(cf);
    dlp_classify_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_ipv4),
        cmocka_unit_test(test_http_ipv6),
        cmocka_unit_test(test_tls_sni),
        cmocka_unit_test(test_dns_udp),
        cmocka_unit_test(test_smtp),
        cmocka_unit_test(test_reassembled_fragments),
        cmocka_unit_test(test_give_up),
        cmocka_unit_test(test_final_early),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_memory),
        cmocka_unit_test(test_memory_unknown_payload),
        cmocka_unit_test(test_risks),
        cmocka_unit_test(test_edges),
    };

    set_ndpi_malloc(count_malloc);
    set_ndpi_free(count_free);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
