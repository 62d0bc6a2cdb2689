/*
 * test_flowapp.c - one flow's application layer (flowapp.h) fed as the
 * worker feeds it: fapp_new, then per packet fapp_packet (nDPI) and the
 * packet's payload as the reassembled bytes (fapp_data), fapp_end per
 * direction via fapp_finish, fapp_report, fapp_free. Real nDPI, decoders
 * and detection (one rule, written here), no reassembler: each segment
 * arrives in order, which is what the reassembler would hand on.
 *
 * Covered: the decoder chosen by sniffing and the flow's label (the
 * decoder's protocol until nDPI names one, nDPI's detection over it, its
 * port guess not over it), a value written one byte at a time found once,
 * the non-egress direction not inspected, and fapp_mem (every flow starting
 * from one baseline, a decoder adding to it).
 */
#include "disp_test.h"

#include "dlp/classify.h"
#include "dlp/detect.h"
#include "dlp/stats.h"
#include "flowapp.h"

static const uint8_t HMAC_KEY[] = "k";

typedef struct afx {
    dlp_engine_t *e;
    dlp_ring_t *ring;
    dlp_stats_t st;
    dlp_classify_t *cls;
    uint64_t now_us;
    fapp_env_t env; /* large (join buffer): the fixture is on the heap */
    dlp_flow_t f;
    uint32_t seq[2];
    frame_t fr;
    dlp_classify_flow_t *shadow; /* if set: fed the same packets, to see nDPI's own answer */
} afx_t;

static afx_t *afx_new(bool with_ndpi)
{
    afx_t *x = calloc(1, sizeof(*x));

    x->e = engine_new(TOK_RULES);
    x->ring = dlp_ring_new(sizeof(dlp_event_t), 256);
    dlp_stats_init(&x->st);
    if (with_ndpi) {
        x->cls = dlp_classify_new(DLP_CLASSIFY_MAX_PACKETS);
        assert_non_null(x->cls);
    }
    x->now_us = 1700000000000000ULL;
    x->env.detect = dlp_detect_new(&(dlp_detect_params_t){
        .rules = x->e->rules,
        .matcher = x->e->matcher,
        .hmac_key = HMAC_KEY,
        .hmac_key_len = 1,
        .events = x->ring,
        .stats = &x->st,
    });
    assert_non_null(x->env.detect);
    x->env.classify = x->cls;
    x->env.stats = &x->st;
    x->env.now_us = &x->now_us;
    dlp_app_limits_default(&x->env.limits);
    return x;
}

static void afx_free(afx_t *x)
{
    dlp_detect_free(x->env.detect);
    dlp_classify_free(x->cls);
    dlp_ring_free(x->ring);
    dlp_engine_unref(x->e);
    free(x);
}

static void mapped(uint8_t a[16], uint32_t ip4)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = (uint8_t)(ip4 >> 24);
    a[13] = (uint8_t)(ip4 >> 16);
    a[14] = (uint8_t)(ip4 >> 8);
    a[15] = (uint8_t)ip4;
}

/* A TCP flow from the inside host to OUT_HOST:dport, its initiator endpoint 0;
 * direction 0 (client) leaves the home network, direction 1 does not. */
static fapp_t *flow_new(afx_t *x, uint16_t dport)
{
    memset(&x->f, 0, sizeof(x->f));
    mapped(x->f.key.addr[0], IN_HOST);
    mapped(x->f.key.addr[1], OUT_HOST);
    x->f.key.port[0] = 40000;
    x->f.key.port[1] = dport;
    x->f.key.proto = DLP_PROTO_TCP;
    x->f.key.ipver = 4;
    x->f.flow_id = 77;
    x->seq[0] = 1000;
    x->seq[1] = 5000;
    return fapp_new(&x->env, &x->f, (const bool[2]){true, false});
}

/*
 * One segment from 'dir': to nDPI if 'classify' (as the worker does for every
 * packet), then its payload as the next bytes of the direction's stream.
 */
static void segment(afx_t *x, fapp_t *a, int dir, uint8_t flags, const char *pl, bool classify)
{
    size_t n = pl != NULL ? strlen(pl) : 0;
    uint32_t ip[2] = {IN_HOST, OUT_HOST};
    dlp_packet_t p;

    x->now_us += 1000;
    tcp_frame(&x->fr, ip[dir], ip[!dir], x->f.key.port[dir], x->f.key.port[!dir], x->seq[dir],
              (flags & DLP_TCP_ACK) ? x->seq[!dir] : 0, flags, pl, n);
    x->seq[dir] += (uint32_t)n + ((flags & DLP_TCP_SYN) ? 1u : 0u);
    if (classify) {
        assert_int_equal(dlp_decode(&p, DLP_LINK_EN10MB, x->fr.b, x->fr.n, x->fr.n, x->now_us),
                         DLP_DEC_OK);
        fapp_packet(a, &p);
        if (x->shadow != NULL)
            (void)dlp_classify_packet(x->cls, x->shadow, &p);
    }
    if (n > 0)
        fapp_data(a, dir, (const uint8_t *)pl, n);
}

static void hs(afx_t *x, fapp_t *a, bool classify)
{
    segment(x, a, 0, DLP_TCP_SYN, NULL, classify);
    segment(x, a, 1, DLP_TCP_SYN | DLP_TCP_ACK, NULL, classify);
    segment(x, a, 0, DLP_TCP_ACK, NULL, classify);
}

static void say(afx_t *x, fapp_t *a, int dir, const char *pl, bool classify)
{
    segment(x, a, dir, DLP_TCP_ACK | DLP_TCP_PSH, pl, classify);
}

/* The flow's label as its flow event would carry it. */
static const char *label_of(fapp_t *a, dlp_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    fapp_report(a, ev, 0);
    return ev->fl.app_proto;
}

static size_t dlp_events(afx_t *x, dlp_event_t *last)
{
    static dlp_event_t ev;
    size_t n = 0;

    while (dlp_ring_pop(x->ring, &ev))
        if (ev.type == DLP_EV_DLP) {
            *last = ev;
            n++;
        }
    return n;
}

/* --- the decoder and the label ------------------------------------------------ */

typedef struct conv {
    uint16_t dport;
    const char *turns[4]; /* alternating, starting with 'first' */
    int first;
    const char *label;    /* with nDPI never told */
    dlp_stat_id_t counted;
} conv_t;

/* A DNS query over TCP (its two-byte length first): x.example.com A. */
static const uint8_t DNS_TCP[] = {0x00, 0x1f, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 1,    'x',  7,    'e',
                                  'x',  'a',  'm',  'p',  'l',  'e',  3,    'c',  'o',
                                  'm',  0,    0x00, 0x01, 0x00, 0x01};

/*
 * nDPI never sees a packet: each flow is labelled with the protocol the
 * decoder sniffing chose reads, on ports that do not say it (but FTP's and
 * DNS's: an FTP greeting reads like SMTP's elsewhere), before and after
 * nDPI's final answer, and counted as that decoder's when freed. A stream
 * no decoder claims stays "Unknown".
 */
static void label_is_the_decoders_until_ndpi(void **state)
{
    static const conv_t convs[] = {
        {8181, {"GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n"}, 0, "HTTP",
         DLP_STAT_APP_FLOWS_HTTP},
        {2626, {"220 mx.example ESMTP ready\r\n", "EHLO me\r\n"}, 1, "SMTP",
         DLP_STAT_APP_FLOWS_SMTP},
        {21, {"220 files ready\r\n", "USER anne\r\n"}, 1, "FTP_CONTROL", DLP_STAT_APP_FLOWS_FTP},
        {53, {NULL}, 0, "DNS", DLP_STAT_APP_FLOWS_DNS},
        {5555, {"hello there, nothing known\n"}, 0, "Unknown", DLP_STAT_APP_FLOWS_UNDECODED},
    };

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(convs); i++) {
        afx_t *x = afx_new(true);
        fapp_t *a = flow_new(x, convs[i].dport);
        dlp_event_t ev;

        for (int t = 0; t < 4 && convs[i].turns[t] != NULL; t++)
            say(x, a, (convs[i].first + t) % 2, convs[i].turns[t], false);
        if (convs[i].dport == 53)
            fapp_data(a, 0, DNS_TCP, sizeof(DNS_TCP));
        assert_string_equal(label_of(a, &ev), convs[i].label);
        fapp_finish(a);
        assert_string_equal(label_of(a, &ev), convs[i].label);
        fapp_free(a);
        assert_int_equal(dlp_stat_get(&x->st, convs[i].counted), 1);
        afx_free(x);
    }
}

/*
 * nDPI sees the packets and names the service on top of HTTP: its name wins
 * over the decoder's "HTTP", from the value found in the request (nDPI had
 * the request packet before its bytes reached the decoder) to the flow's end.
 */
static void ndpi_detection_labels(void **state)
{
    afx_t *x = afx_new(true);
    fapp_t *a = flow_new(x, 8181);
    dlp_event_t ev, last;

    (void)state;
    hs(x, a, true);
    say(x, a, 0,
        "POST /u HTTP/1.1\r\nHost: www.google.com\r\nContent-Length: 9\r\n\r\ntok-8642\n",
        true);
    assert_string_equal(label_of(a, &ev), "HTTP.Google");
    say(x, a, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true);
    fapp_finish(a);
    assert_string_equal(label_of(a, &ev), "HTTP.Google");
    assert_int_equal(dlp_events(x, &last), 1);
    assert_string_equal(last.fl.app_proto, "HTTP.Google");
    fapp_free(a);
    assert_int_equal(dlp_stat_get(&x->st, DLP_STAT_APP_FLOWS_HTTP), 1); /* decoded all the same */
    afx_free(x);
}

/*
 * An HTTP request after two empty lines (servers skip them, RFC 9112 2.2;
 * so does the decoder) on port 3128: nDPI does not name it from these
 * bytes and at the flow's end guesses HTTP_Proxy by the port (asserted on
 * a second nDPI flow fed the same packets). The decoder parsed HTTP: the
 * guess does not relabel the flow, and the value in the body carries the
 * decoder's name too.
 */
static void port_guess_does_not_override_decoder(void **state)
{
    afx_t *x = afx_new(true);
    fapp_t *a = flow_new(x, 3128);
    dlp_event_t ev, last;
    const dlp_classify_result_t *r;

    (void)state;
    x->shadow = dlp_classify_flow_new(x->cls);
    hs(x, a, true);
    say(x, a, 0, "\r\n\r\nPOST /u HTTP/1.1\r\nHost: a.example\r\nContent-Length: 9\r\n\r\n",
        true);
    say(x, a, 0, "tok-2468\n", true);
    fapp_finish(a);
    r = dlp_classify_result(x->cls, x->shadow, true);
    assert_int_equal(r->guessed, 1);
    assert_string_equal(r->app_proto, "HTTP_Proxy");
    dlp_classify_flow_free(x->shadow);
    assert_string_equal(label_of(a, &ev), "HTTP");
    assert_int_equal(dlp_events(x, &last), 1);
    assert_string_equal(last.fl.app_proto, "HTTP");
    assert_int_equal(last.u.rule.m[0].field, DLP_FIELD_HTTP_BODY);
    fapp_free(a);
    afx_free(x);
}

/* --- detection --------------------------------------------------------------- */

/* A raw stream written one byte at a time: one value, found once, every byte
 * inspected; the same token in the other (inbound) direction is not scanned. */
static void value_bytewise_once_egress_only(void **state)
{
    static const char out[] = "x tok-1357 y\n", in[] = "echo tok-1357 back\n";
    afx_t *x = afx_new(false);
    fapp_t *a = flow_new(x, 5555);
    dlp_event_t ev, last;

    (void)state;
    for (size_t i = 0; i < sizeof(out) - 1; i++)
        fapp_data(a, 0, (const uint8_t *)out + i, 1);
    fapp_data(a, 1, (const uint8_t *)in, sizeof(in) - 1);
    fapp_finish(a);
    assert_int_equal(dlp_events(x, &last), 1);
    assert_int_equal(last.u.rule.m[0].dir, 0);
    assert_int_equal(last.u.rule.m[0].offset, 2);
    assert_int_equal(fapp_alerts(a), 1);
    label_of(a, &ev);
    assert_int_equal(ev.u.flow.dir[0].inspected_bytes, sizeof(out) - 1);
    assert_int_equal(ev.u.flow.dir[1].inspected_bytes, 0);
    assert_int_equal(ev.u.flow.dir[1].uninspected_bytes, 0);
    fapp_free(a);
    afx_free(x);
}

/* --- proxy tunnels ------------------------------------------------------------------ */

/* A chunked POST whose token is cut by the chunk framing: only the HTTP decoder finds it. */
#define TUNNEL_POST                                                                            \
    "POST /u HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n"                \
    "6\r\nx tok-\r\n5\r\n2468\n\r\n0\r\n\r\n"

/*
 * HTTP through a proxy (HTTP CONNECT, SOCKS5 with username/password, SOCKS4a),
 * nDPI not told: the client's bytes cut in two at every offset from the end of
 * its first message on (the proxy cannot answer before it), the proxy's answers
 * between the two pieces (so inside the handshake, or after the tunnel's first
 * bytes). Each time the token is found once, in http.body;
 * the flow carries the proxy's protocol. A handshake that fails (a SOCKS5
 * greeting, then no request): every byte raw.
 */
static void tunnel_split_anywhere(void **state)
{
    static const struct {
        uint16_t dport;
        const char *c;
        size_t nc;
        const char *s;
        size_t ns;
        const char *label;
        dlp_field_t field;
        size_t first; /* the client's first message */
    } t[] = {
#define C(lit) lit, sizeof(lit) - 1
        {3128, C("CONNECT a.example:80 HTTP/1.1\r\nHost: a.example:80\r\n\r\n" TUNNEL_POST),
         C("HTTP/1.1 200 Connection established\r\n\r\n"), "HTTP", DLP_FIELD_HTTP_BODY, 53},
        {1080,
         C("\x05\x02\x00\x02"
           "\x01\x03"
           "bob\x02pw"
           "\x05\x01\x00\x03\x09"
           "a.example\x00\x50" TUNNEL_POST),
         C("\x05\x02"
           "\x01\x00"
           "\x05\x00\x00\x01\x0a\x00\x00\x01\x9c\x41"),
         "SOCKS", DLP_FIELD_HTTP_BODY, 4},
        {1080,
         C("\x04\x01\x00\x50\x00\x00\x00\x01\x00"
           "a.example\x00" TUNNEL_POST),
         C("\x00\x5a\x00\x00\x00\x00\x00\x00"), "SOCKS", DLP_FIELD_HTTP_BODY, 19},
        {1080, C("\x05\x01\x00note tok-1357\n"), C("\x05\x00"), "Unknown", DLP_FIELD_RAW, 3},
#undef C
    };
    afx_t *x = afx_new(false);

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(t); i++) {
        for (size_t k = t[i].first; k <= t[i].nc; k++) {
            fapp_t *a = flow_new(x, t[i].dport);
            dlp_event_t ev, last;

            fapp_data(a, 0, (const uint8_t *)t[i].c, k);
            fapp_data(a, 1, (const uint8_t *)t[i].s, t[i].ns);
            fapp_data(a, 0, (const uint8_t *)t[i].c + k, t[i].nc - k);
            fapp_finish(a);
            size_t nev = dlp_events(x, &last);

            if (nev != 1 || last.u.rule.m[0].field != t[i].field) {
                fprintf(stderr, "case %zu split at %zu: %zu events\n", i, k, nev);
                fail();
            }
            assert_string_equal(label_of(a, &ev), t[i].label);
            fapp_free(a);
        }
    }
    afx_free(x);
}

/* --- memory --------------------------------------------------------------------- */

/*
 * fapp_mem is what the worker charges the flow table for the flow's
 * application layer: every new flow starts at the same baseline (nothing
 * of an earlier flow stays in it), and a decoder with the flow's detection
 * state adds to it. (That the charges return to zero when flows end is
 * test_worker.c's flow_memory_back_to_base.)
 */
static void mem_baseline_and_decoder(void **state)
{
    static const char req[] =
        "POST /u HTTP/1.1\r\nHost: a.example\r\nContent-Length: 9\r\n\r\ntok-1111\n";
    afx_t *x = afx_new(true);
    fapp_t *a = flow_new(x, 8181), *b;
    size_t base = fapp_mem(a), used;

    (void)state;
    assert_true(base > 0);
    hs(x, a, true);
    say(x, a, 0, req, true);
    used = fapp_mem(a);
    assert_true(used > base); /* the HTTP decoder, the detection flow */
    fapp_finish(a);
    fapp_free(a);

    b = flow_new(x, 8181);
    assert_int_equal(fapp_mem(b), base);
    hs(x, b, true);
    say(x, b, 0, req, true);
    assert_int_equal(fapp_mem(b), used); /* the same flow costs the same */
    fapp_finish(b);
    fapp_free(b);
    afx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(label_is_the_decoders_until_ndpi),
        cmocka_unit_test(ndpi_detection_labels),
        cmocka_unit_test(port_guess_does_not_override_decoder),
        cmocka_unit_test(value_bytewise_once_egress_only),
        cmocka_unit_test(tunnel_split_anywhere),
        cmocka_unit_test(mem_baseline_and_decoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
