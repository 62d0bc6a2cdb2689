/*
 * test_spans.c - where a flow's application layer (dispatch/flowapp.c) says
 * the values are, for evidence captures, through the real decoders, rules
 * and detection: exact stream offsets for bytes detection saw as they were
 * sent (raw stream, plain HTTP bodies, multipart parts), for every split of
 * the input into two segments; the conservative span of the message so far
 * for decoded content (gzip, form-urlencoded) that leaves earlier messages
 * alone; the whole datagram for UDP; retransmitted different bytes exactly;
 * and the sequence anchor taken from the packet the bytes came from; the
 * credentials the decoders tell apart (SMTP AUTH, FTP PASS, an Authorization
 * value) exactly at every split, and widened by an urgent byte among them.
 */
#include "dlp_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "dlp/detect.h"
#include "dlp/evidence.h"
#include "dlp/match.h"
#include "dlp/rules.h"
#include "evidence_int.h"
#include "flowapp.h"

#define CARD "4539 1488 0343 6467"
#define CARD_LEN 19

static const uint8_t KEY[] = "test-key";

typedef struct fx {
    dlp_stats_t st; /* first: aligned */
    dlp_ruleset_t *rs;
    dlp_matcher_t *m;
    dlp_ring_t *ring;
    dlp_detect_t *d;
    fapp_env_t env;
    uint64_t now;
    dlp_flow_t flow;
    dlp_evidence_worker_t *w;
    dlp_evidence_flow_t *ef;
    fapp_t *a;
} fx_t;

static fx_t *g; /* rules and matcher are loaded once */

static int group_setup(void **state)
{
    char src[512];
    const char *p[1] = {src};
    dlp_rules_errors_t err = {0};
    dlp_evidence_limits_t l;

    (void)state;
    g = aligned_alloc(64, (sizeof(*g) + 63) & ~(size_t)63);
    memset(g, 0, sizeof(*g));
    snprintf(src, sizeof(src), "%s/rules", getenv("DLP_SRC") ? getenv("DLP_SRC") : ".");
    g->rs = dlp_rules_load(p, 1, &err);
    assert_non_null(g->rs);
    g->m = dlp_matcher_new(g->rs, NULL, &err);
    assert_non_null(g->m);
    dlp_rules_errors_fini(&err);
    dlp_stats_init(&g->st);
    g->ring = dlp_ring_new(sizeof(dlp_event_t), 4096);
    g->d = dlp_detect_new(&(dlp_detect_params_t){.rules = g->rs,
                                                 .matcher = g->m,
                                                 .hmac_key = KEY,
                                                 .hmac_key_len = sizeof(KEY) - 1,
                                                 .events = g->ring,
                                                 .stats = &g->st});
    assert_non_null(g->d);
    g->env.detect = g->d;
    g->env.stats = &g->st;
    g->env.now_us = &g->now;
    dlp_app_limits_default(&g->env.limits);
    dlp_evidence_limits_default(&l);
    g->w = dlp_evidence_worker_new(&l, &g->st, g->ring, false, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    dlp_evidence_worker_free(g->w);
    dlp_detect_free(g->d);
    dlp_ring_free(g->ring);
    dlp_matcher_free(g->m);
    dlp_ruleset_free(g->rs);
    free(g);
    return 0;
}

/* A new flow 10.0.0.31:40000 -> 198.51.100.7:port (proto), egress from the initiator. */
static void flow_start(uint8_t proto, uint16_t port)
{
    memset(&g->flow, 0, sizeof(g->flow));
    g->flow.key.addr[0][10] = g->flow.key.addr[0][11] = 0xff;
    g->flow.key.addr[0][12] = 10;
    g->flow.key.addr[0][15] = 31;
    g->flow.key.addr[1][10] = g->flow.key.addr[1][11] = 0xff;
    g->flow.key.addr[1][12] = 198;
    g->flow.key.addr[1][13] = 51;
    g->flow.key.addr[1][14] = 100;
    g->flow.key.addr[1][15] = 7;
    g->flow.key.port[0] = 40000;
    g->flow.key.port[1] = port;
    g->flow.key.proto = proto;
    g->flow.key.ipver = 4;
    g->flow.flow_id = 1;
    g->a = fapp_new(&g->env, &g->flow, (const bool[2]){true, false});
    assert_non_null(g->a);
    g->ef = dlp_evidence_flow_new(g->w, 1);
    fapp_set_evidence(g->a, g->ef);
}

/* After fapp_finish. */
static void flow_stop(void)
{
    static dlp_event_t ev;

    fapp_free(g->a);
    dlp_evidence_flow_end(g->w, g->ef, false);
    while (dlp_ring_pop(g->ring, &ev))
        ;
}

/* One in-order TCP segment of the initiator at stream offset off (seq 1000 + off). */
static void segment(const uint8_t *p, size_t n, uint64_t off)
{
    dlp_packet_t pkt;

    memset(&pkt, 0, sizeof(pkt));
    pkt.data = p;
    pkt.payload_off = 0;
    pkt.payload_len = (uint32_t)n;
    pkt.proto = DLP_PROTO_TCP;
    pkt.tcp_seq = 1000 + (uint32_t)off;
    fapp_packet(g->a, &pkt);
    fapp_data(g->a, 0, p, n);
}

/* msg[0, n) at stream offset off as two segments: cut bytes, then the rest. */
static void segments_cut(const char *msg, size_t n, size_t cut, uint64_t off)
{
    if (cut > 0)
        segment((const uint8_t *)msg, cut, off);
    if (cut < n)
        segment((const uint8_t *)msg + cut, n - cut, off + cut);
}

/* The ranges of direction 0 as "lo-hi lo-hi". */
static const char *ranges(void)
{
    static char out[1024];
    size_t k = 0;

    out[0] = '\0';
    for (int i = 0; i < g->ef->nr[0]; i++)
        k += (size_t)snprintf(out + k, sizeof(out) - k, "%s%llu-%llu", i ? " " : "",
                              (unsigned long long)g->ef->r[0][i].lo,
                              (unsigned long long)g->ef->r[0][i].hi);
    return out;
}

static size_t find(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);

    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return i;
    fail_msg("'%s' not found", needle);
    return 0;
}

/* --- exact --------------------------------------------------------------- */

static void check_exact_all_splits(const char *msg, size_t n, const char *value, uint16_t port)
{
    size_t at = find(msg, n, value);
    char want[64];

    snprintf(want, sizeof(want), "%zu-%zu", at, at + strlen(value));
    for (size_t cut = 0; cut <= n; cut++) {
        flow_start(DLP_PROTO_TCP, port);
        segments_cut(msg, n, cut, 0);
        fapp_finish(g->a);
        if (strcmp(ranges(), want) != 0)
            fail_msg("cut %zu: ranges '%s', want '%s'", cut, ranges(), want);
        /* the anchor: stream offset 0 is sequence number 1000 */
        assert_true(g->ef->a_first[0].set);
        assert_int_equal(g->ef->a_first[0].seq - (uint32_t)g->ef->a_first[0].off, 1000);
        flow_stop();
    }
}

static void test_raw_stream_exact(void **state)
{
    static const char msg[] = "EXPORT customer=x card=" CARD " end\r\nmore text follows here\r\n";

    (void)state;
    check_exact_all_splits(msg, sizeof(msg) - 1, CARD, 9000);
}

/* A NUL before the value (binary content): the text after it still maps exactly. */
static void test_raw_stream_after_a_nul_exact(void **state)
{
    static const char msg[] = "EXPORT x\0card=" CARD " end\r\nmore text follows here\r\n";

    (void)state;
    check_exact_all_splits(msg, sizeof(msg) - 1, CARD, 9000);
}

/*
 * A value in one write of a chunked body (with its lookahead: decided when
 * it is scanned), then many short chunks in the same decoder call: the
 * writes wait to be scanned together (flowapp.c det_write), and each takes a
 * slot of the stream's evidence map (16). The value's slot must still be
 * there when it is scanned: its bytes exactly, not the message's span.
 */
static void test_value_then_many_short_writes_exact(void **state)
{
    static const char msg[] = "POST /n HTTP/1.1\r\nHost: pay.example.com\r\n"
                              "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "A4\r\nnote card " CARD " thanks; the rest of this chunk is plain"
                              " text, long enough for the lookahead that decides the value without the"
                              " short chunks after it.\n\r\n"
                              "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n1\r\nf\r\n"
                              "1\r\ng\r\n1\r\nh\r\n1\r\ni\r\n1\r\nj\r\n1\r\nk\r\n1\r\nl\r\n"
                              "1\r\nm\r\n1\r\nn\r\n1\r\no\r\n1\r\np\r\n1\r\nq\r\n1\r\nr\r\n"
                              "1\r\ns\r\n1\r\nt\r\n1\r\nu\r\n1\r\nv\r\n0\r\n\r\n";

    (void)state;
    check_exact_all_splits(msg, sizeof(msg) - 1, CARD, 80);
}

static void test_plain_http_body_exact(void **state)
{
    static const char msg[] = "POST /n HTTP/1.1\r\nHost: pay.example.com\r\n"
                              "Content-Type: text/plain\r\nContent-Length: 36\r\n\r\n"
                              "note card " CARD " thanks";

    (void)state;
    check_exact_all_splits(msg, sizeof(msg) - 1, CARD, 80);
}

static void test_chunked_multipart_exact(void **state)
{
    static const char c1[] = "--b7\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\n";
    static const char c2[] = "row," CARD ",end\r\n--b7--\r\n";
    char msg[512];
    int n = snprintf(msg, sizeof(msg),
                     "POST /up HTTP/1.1\r\nHost: files.example.com\r\n"
                     "Content-Type: multipart/form-data; boundary=b7\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                     sizeof(c1) - 1, c1, sizeof(c2) - 1, c2);

    (void)state;
    check_exact_all_splits(msg, (size_t)n, CARD, 80);
}

/* --- conservative ----------------------------------------------------------- */

static size_t gzip(const char *in, uint8_t *out, size_t cap)
{
    z_stream z;

    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)strlen(in);
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    deflateEnd(&z);
    return z.total_out;
}

/* A first request without values stays; the second one's gzip body takes
 * the span from its request line (the call after the first message's) on. */
static void test_gzip_body_span_after_previous_message(void **state)
{
    static const char req1[] = "GET /a HTTP/1.1\r\nHost: x.example.com\r\n\r\n";
    char req2[256];
    uint8_t body[256], all[1024];
    size_t nb = gzip("{\"card\": \"" CARD "\"}", body, sizeof(body));
    size_t n1 = sizeof(req1) - 1, n2, nall;
    char want[64];

    (void)state;
    n2 = (size_t)snprintf(req2, sizeof(req2),
                          "POST /b HTTP/1.1\r\nHost: x.example.com\r\nContent-Encoding: gzip\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          nb);
    nall = n1 + n2 + nb;
    memcpy(all, req1, n1);
    memcpy(all + n1, req2, n2);
    memcpy(all + n1 + n2, body, nb);
    flow_start(DLP_PROTO_TCP, 80);
    segment(all, n1, 0);
    segment(all + n1, n2, n1);
    segment(all + n1 + n2, nb, n1 + n2);
    fapp_finish(g->a);
    snprintf(want, sizeof(want), "%zu-%zu", n1, nall);
    assert_string_equal(ranges(), want);
    flow_stop();
    /* in one segment: the whole of it */
    flow_start(DLP_PROTO_TCP, 80);
    segment(all + n1, n2 + nb, 0);
    fapp_finish(g->a);
    snprintf(want, sizeof(want), "0-%zu", n2 + nb);
    assert_string_equal(ranges(), want);
    flow_stop();
}

/* Percent-decoded form fields: the span of the message so far. */
static void test_form_span(void **state)
{
    static const char head[] = "POST /f HTTP/1.1\r\nHost: shop.example.com\r\n"
                               "Content-Type: application/x-www-form-urlencoded\r\n"
                               "Content-Length: 42\r\n\r\n";
    static const char body[] = "name=Jane+Doe&card=4539+1488+0343+6467&x=1";
    size_t nh = sizeof(head) - 1, nbody = sizeof(body) - 1;

    (void)state;
    assert_int_equal(nbody, 42);
    flow_start(DLP_PROTO_TCP, 80);
    segment((const uint8_t *)head, nh, 0);
    segment((const uint8_t *)body, nbody, nh);
    fapp_finish(g->a);
    /* Where the header block ended in its segment is not known: one span from
     * no later than the start of the decoder call it ended in, to the end. */
    assert_int_equal(g->ef->nr[0], 1);
    assert_true(g->ef->r[0][0].lo <= nh - sizeof("\r\n\r\n") + 1);
    assert_int_equal(g->ef->r[0][0].hi, nh + nbody);
    flow_stop();
}

/* Whether stream offset x of direction 0 is inside a range (to be overwritten). */
static bool covered(uint64_t x)
{
    for (int i = 0; i < g->ef->nr[0]; i++)
        if (x >= g->ef->r[0][i].lo && x < g->ef->r[0][i].hi)
            return true;
    return false;
}

/* Fails unless every offset of [lo, hi) is covered (want) or none is (!want). */
static void expect_covered(size_t cut, uint64_t lo, uint64_t hi, bool want, const char *what)
{
    for (uint64_t x = lo; x < hi; x++)
        if (covered(x) != want)
            fail_msg("cut %zu: offset %llu (%s) %s; ranges '%s'", cut, (unsigned long long)x,
                     what, want ? "kept" : "overwritten", ranges());
}

/*
 * Header lines reach detection one by one and wait to be scanned together
 * within a decoder call (flowapp.c join()); the body's stream comes next
 * in the same call. A first request without values comes before, its
 * blank line in a segment of its own. For every split of the second
 * request into two segments, both values are found once, one event is
 * raised, and the evidence covers both values whole. A header value was
 * decoded (lines joined): its span is conservative, from where its message
 * can start (the mark: the start of the decoder call the previous header
 * block ended in) to the end of the segment it was scanned in
 * (docs/deploy.md, "Redaction"). What lies outside stays as sent: the first
 * request before its blank line, and, once the header block ended in the
 * first segment, every byte of the second request outside the body's value
 * (the body passes as sent: exact).
 */
static void test_header_lines_then_body(void **state)
{
    static const char req1[] = "GET /a HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
    static const char msg[] = "POST /u HTTP/1.1\r\nHost: a.example.com\r\nX-Card: " CARD
                              "\r\nX-Other: 1\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 34\r\n\r\nsecond card 4916 3385 0608 2832 ok";
    size_t n1 = sizeof(req1) - 1, n = sizeof(msg) - 1; /* msg: at n1 in the stream */
    size_t at1 = find(msg, n, CARD), at2 = find(msg, n, "4916");
    size_t hdr_end = find(msg, n, "\r\n\r\n") + 4, tail;
    size_t rule = (size_t)(dlp_ruleset_find(g->rs, "pii.credit_card") - g->rs->rules), nr;
    const _Atomic uint64_t *rst = dlp_detect_rule_stats(g->d, &nr);
    static dlp_event_t ev;

    (void)state;
    assert_true(rule < nr);
    for (size_t cut = 0; cut <= n; cut++) {
        uint64_t values = rst[rule * DLP_RSTAT__COUNT + DLP_RSTAT_VALUES];
        int events = 0;
        flow_start(DLP_PROTO_TCP, 80);
        segment((const uint8_t *)req1, n1 - 2, 0);
        segment((const uint8_t *)req1 + n1 - 2, 2, n1 - 2);
        segments_cut(msg, n, cut, n1);
        fapp_finish(g->a);
        assert_int_equal(rst[rule * DLP_RSTAT__COUNT + DLP_RSTAT_VALUES] - values, 2);
        /* overwritten: both values, every byte of them */
        expect_covered(cut, n1 + at1, n1 + at1 + CARD_LEN, true, "header value");
        expect_covered(cut, n1 + at2, n1 + at2 + CARD_LEN, true, "body value");
        /* kept: the first request, but for the call its header block ended in */
        expect_covered(cut, 0, n1 - 2, false, "first request");
        /* kept: after a first segment that ended the header block, all but the value */
        if (cut >= hdr_end) {
            tail = cut > at2 + CARD_LEN ? cut : at2 + CARD_LEN;
            if (cut < at2)
                expect_covered(cut, n1 + cut, n1 + at2, false, "body before its value");
            expect_covered(cut, n1 + tail, n1 + n, false, "body after its value");
        }
        while (dlp_ring_pop(g->ring, &ev))
            events += ev.type == DLP_EV_DLP && strcmp(ev.u.rule.name, "pii.credit_card") == 0;
        if (events != 1)
            fail_msg("cut %zu: %d events", cut, events);
        flow_stop();
    }
}

/* --- datagrams and retransmissions -------------------------------------------- */

static void test_datagram_whole(void **state)
{
    static const char d1[] = "<13>app: hello";
    static const char d2[] = "<13>app: card " CARD " ok";
    char want[64];

    (void)state;
    flow_start(DLP_PROTO_UDP, 514);
    fapp_dgram(g->a, 0, (const uint8_t *)d1, sizeof(d1) - 1, 0);
    fapp_dgram(g->a, 0, (const uint8_t *)d2, sizeof(d2) - 1, sizeof(d1) - 1);
    fapp_finish(g->a);
    snprintf(want, sizeof(want), "%zu-%zu", sizeof(d1) - 1, sizeof(d1) - 1 + sizeof(d2) - 1);
    assert_string_equal(ranges(), want);
    flow_stop();
}

/* The other version of retransmitted bytes: exact, at its own offsets. */
static void test_conflict_exact(void **state)
{
    static const char msg[] = "EXPORT nothing to see here, really nothing\r\n";
    static const char other[] = "see " CARD " here";

    (void)state;
    flow_start(DLP_PROTO_TCP, 9000);
    segment((const uint8_t *)msg, sizeof(msg) - 1, 0);
    fapp_conflict(g->a, 0, 22, (const uint8_t *)other, sizeof(other) - 1);
    fapp_finish(g->a);
    assert_string_equal(ranges(), "26-45");
    flow_stop();
}

/*
 * DNS over TCP that is not DNS: the message the decoder held, from earlier
 * segments, is scanned raw (flowapp.c raw_takeover). Whatever the split,
 * the value in it is covered whole.
 */
static void test_dns_turned_raw_covers_held_bytes(void **state)
{
    static const char msg[] = "\0\x2f" "xx card=" CARD " and more, not dns\r\n";
    size_t n = sizeof(msg) - 1, at = find(msg, n, CARD);

    (void)state;
    for (size_t cut = 1; cut < n; cut++) {
        flow_start(DLP_PROTO_TCP, 53);
        segments_cut(msg, n, cut, 0);
        fapp_finish(g->a);
        expect_covered(cut, at, at + CARD_LEN, true, "value");
        flow_stop();
    }
}

/* --- credentials (sink secret()) ------------------------------------------- */

/* msg[lo, hi) as "lo-hi", for every split of msg into two segments ('cr': the CR at hi is
 * in too when it ends the first segment, the LF beginning the second). */
static void check_range_all_splits(const char *msg, size_t n, uint16_t port, size_t lo, size_t hi,
                                   bool cr)
{
    char want[64];

    for (size_t cut = 0; cut <= n; cut++) {
        snprintf(want, sizeof(want), "%zu-%zu", lo, cr && cut == hi + 1 ? hi + 1 : hi);
        flow_start(DLP_PROTO_TCP, port);
        segments_cut(msg, n, cut, 0);
        fapp_finish(g->a);
        if (strcmp(ranges(), want) != 0)
            fail_msg("port %u cut %zu: ranges '%s', want '%s'", port, cut, ranges(), want);
        flow_stop();
    }
}

/* No rule finds them; their bytes are overwritten exactly, whatever the split. */
static void test_credentials_exact(void **state)
{
    static const char smtp[] = "EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nQUIT\r\n";
    static const char ftp[] = "USER alice\r\nPASS hunter2!\r\nQUIT\r\n";
    static const char http[] = "GET / HTTP/1.1\r\nHost: h.example\r\n"
                               "Authorization: Bearer abc.def.ghi\r\nAccept: */*\r\n\r\n";
    size_t at;

    (void)state;
    at = find(smtp, sizeof(smtp) - 1, "AUTH");
    check_range_all_splits(smtp, sizeof(smtp) - 1, 25, at, find(smtp, sizeof(smtp) - 1, "==") + 3,
                           false);
    at = find(ftp, sizeof(ftp) - 1, "PASS");
    check_range_all_splits(ftp, sizeof(ftp) - 1, 21, at, at + strlen("PASS hunter2!\r"), false);
    at = find(http, sizeof(http) - 1, "Bearer");
    check_range_all_splits(http, sizeof(http) - 1, 80, at, at + strlen("Bearer abc.def.ghi"), true);
}

/*
 * An urgent byte inside an AUTH line: the decoder reads the line without it, so it took
 * one byte less than the line spans; the span widens by it (else the line's first byte
 * would be left).
 */
static void test_credential_around_urgent_byte(void **state)
{
    static const char a[] = "EHLO client.example\r\nAUTH PLA";
    static const char b[] = "IN c2VjcmV0\r\nQUIT\r\n";
    const size_t na = sizeof(a) - 1;
    char want[64];

    (void)state;
    flow_start(DLP_PROTO_TCP, 25);
    segment((const uint8_t *)a, na, 0);
    fapp_urgent(g->a, 0, na, 'Z');
    segment((const uint8_t *)b, sizeof(b) - 1, na + 1);
    fapp_finish(g->a);
    /* from "AUTH" to the LF (the urgent byte inside) */
    snprintf(want, sizeof(want), "%zu-%zu", na - 8, na + 1 + strlen("IN c2VjcmV0\r"));
    assert_string_equal(ranges(), want);
    flow_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_stream_exact),
        cmocka_unit_test(test_raw_stream_after_a_nul_exact),
        cmocka_unit_test(test_value_then_many_short_writes_exact),
        cmocka_unit_test(test_plain_http_body_exact),
        cmocka_unit_test(test_chunked_multipart_exact),
        cmocka_unit_test(test_gzip_body_span_after_previous_message),
        cmocka_unit_test(test_form_span),
        cmocka_unit_test(test_header_lines_then_body),
        cmocka_unit_test(test_datagram_whole),
        cmocka_unit_test(test_conflict_exact),
        cmocka_unit_test(test_dns_turned_raw_covers_held_bytes),
        cmocka_unit_test(test_credentials_exact),
        cmocka_unit_test(test_credential_around_urgent_byte),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
