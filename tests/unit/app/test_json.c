/*
 * test_json.c - the JSON string unescape stage: exact outputs at every split
 * and in 1-byte writes (an escape cut at each of its bytes), surrogate pairs,
 * lone surrogates and invalid escapes kept, the sniff of untyped bodies and
 * WebSocket text, the media types, random inputs against a whole-buffer model
 * of the definition in json.c, no copy of a body without a backslash, and a
 * throughput figure (printed).
 */
#include "stage_test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static dlp_stage_t *build(ts_sink_t *t, void *arg)
{
    return dlp_stage_json_new(st_sink_stage(t), *(const dlp_json_mode_t *)arg);
}

static void expect_mode(dlp_json_mode_t mode, const void *in, size_t n, const void *want, size_t wn)
{
    st_run_t r = st_check_splits(build, &mode, 0, in, n, 1);

    assert_int_equal(st_all_notes(&r), 0);
    assert_int_equal(r.first_err, DLP_OK);
    st_assert_stream(&r, want, wn);
    st_run_fini(&r);
}

#define EXPECT(in, want) expect_mode(DLP_JSON_DECODE, in, sizeof(in) - 1, want, sizeof(want) - 1)
#define SNIFF(in, want) expect_mode(DLP_JSON_SNIFF, in, sizeof(in) - 1, want, sizeof(want) - 1)

static void simple_escapes(void **state)
{
    (void)state;
    EXPECT("{\"a\":\"x\\\"y\\\\z\\/w\"}", "{\"a\":\"x\"y\\z/w\"}");
    EXPECT("\\b\\f\\n\\r\\t", "\b\f\n\r\t");
    /* nested JSON in a string reads as JSON */
    EXPECT("{\"cfg\":\"{\\\"password\\\":\\\"Hunter2-secret\\\"}\"}",
           "{\"cfg\":\"{\"password\":\"Hunter2-secret\"}\"}");
    EXPECT("no escapes at all", "no escapes at all");
}

static void u_escapes(void **state)
{
    (void)state;
    /* the audit's cases (FINDINGS.md F4) */
    EXPECT("{\"cc\":\"\\u0034\\u0035\\u0033\\u0039\\u0031\\u0034\\u0038\\u0038"
           "\\u0030\\u0033\\u0034\\u0033\\u0036\\u0034\\u0036\\u0037\"}",
           "{\"cc\":\"4539148803436467\"}");
    EXPECT("{\"mail\":\"jane.doe\\u0040example.com\"}", "{\"mail\":\"jane.doe@example.com\"}");
    EXPECT("{\"\\u0070assword\":\"Hunter2-secret\"}", "{\"password\":\"Hunter2-secret\"}");
    /* either case of hex; 1, 2 and 3 bytes of UTF-8; NUL */
    EXPECT("\\u004A\\u004a\\u00e9\\u00A0\\u20AC\\uFF14\\u0000.",
           "JJ\xc3\xa9\xc2\xa0\xe2\x82\xac\xef\xbc\x94\0.");
    EXPECT("\\u3000\\uffff", "\xe3\x80\x80\xef\xbf\xbf");
}

static void surrogates(void **state)
{
    (void)state;
    /* U+1F600 and U+10FFFF, U+10000 */
    EXPECT("\\uD83D\\uDE00|\\udbff\\udfff|\\ud800\\udc00", "\xf0\x9f\x98\x80|\xf4\x8f\xbf\xbf|"
                                                           "\xf0\x90\x80\x80");
    /* lone: high then not a low, high at the end, low alone: kept as they are */
    EXPECT("\\uD83Dx", "\\uD83Dx");
    EXPECT("\\uD83D", "\\uD83D");
    EXPECT("\\uD83D\\u0041", "\\uD83DA");
    EXPECT("\\uD83D\\uD83D\\uDE00", "\\uD83D\xf0\x9f\x98\x80");
    EXPECT("\\uDE00\\uD83D", "\\uDE00\\uD83D");
    EXPECT("\\uD83D\\uDE0", "\\uD83D\\uDE0");
    EXPECT("\\uD83D\\uDE0g", "\\uD83D\\uDE0g");
    EXPECT("\\uD83D\\n", "\\uD83D\n");
    EXPECT("\\uD83D\\", "\\uD83D\\");
}

static void invalid_escapes(void **state)
{
    (void)state;
    EXPECT("\\x41\\a\\4", "\\x41\\a\\4");
    EXPECT("\\u12x4\\u", "\\u12x4\\u");
    EXPECT("\\u123", "\\u123");
    EXPECT("\\", "\\");
    EXPECT("a\\", "a\\");
    /* the backslash passes, what follows is read again: "\\\u0034" */
    EXPECT("\\q\\u0034", "\\q4");
    EXPECT("\\\\u0034", "\\u0034");
    EXPECT("\\\\\\u0034", "\\4");
    EXPECT("\\U0034", "\\U0034");
}

static void sniffing(void **state)
{
    (void)state;
    SNIFF("{\"a\":\"\\u0034\"}", "{\"a\":\"4\"}");
    SNIFF(" \r\n\t[\"\\u0040\"]", " \r\n\t[\"@\"]");
    SNIFF("\xef\xbb\xbf{\"\\u0040\":1}", "\xef\xbb\xbf{\"@\":1}");
    SNIFF("42[\"msg\",{\"t\":\"\\u0034\"}]", "42[\"msg\",{\"t\":\"4\"}]");
    /* not JSON: left alone */
    SNIFF("C:\\new\\u0034 {\"a\":\"\\u0034\"}", "C:\\new\\u0034 {\"a\":\"\\u0034\"}");
    SNIFF("card=\\u0034", "card=\\u0034");
    SNIFF("\\u007b", "\\u007b");
    SNIFF("\xef\xbb{\\u0034", "\xef\xbb{\\u0034");
    SNIFF(" \xef\xbb\xbf{\\u0034", " \xef\xbb\xbf{\\u0034");
    SNIFF("   ", "   ");
    /* what JSON's readers take after a prefix without a backslash: a top-level
     * string, Socket.IO with a namespace, attachments or an ack id, Engine.IO v3's
     * length (text/plain polling), a STOMP frame's JSON body */
    SNIFF("\"\\u0034\\u0035\"", "\"45\"");
    SNIFF("42/chat,[\"m\",\"\\u0034\"]", "42/chat,[\"m\",\"4\"]");
    SNIFF("451-/a,17[\"m\",\"\\u0034\"]", "451-/a,17[\"m\",\"4\"]");
    SNIFF("97:42[\"m\",\"\\u0034\"]", "97:42[\"m\",\"4\"]");
    SNIFF("SEND\ndestination:/queue/a\ncontent-type:application/json\n\n{\"c\":\"\\u0034\"}",
          "SEND\ndestination:/queue/a\ncontent-type:application/json\n\n{\"c\":\"4\"}");
    SNIFF("12345678901234567[\\u0034", "12345678901234567[4");
    {
        /* a prefix longer than the sniff looks at: left alone */
        char in[300], want[300];
        memset(in, 'x', 280);
        memcpy(in + 280, "[\\u0034", 7);
        memcpy(want, in, sizeof(want));
        expect_mode(DLP_JSON_SNIFF, in, 287, want, 287);
    }
}

static void media_types(void **state)
{
    (void)state;
    assert_int_equal(dlp_stage_json_mode("application/json"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode(" Application/JSON; charset=utf-8"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode("application/vnd.api+json"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode("application/merge-patch+JSON;x=1"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode("application/x-ndjson"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode("application/jsonl"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode("application/x-jsonlines"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode("application/json-seq"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode("text/json"), DLP_JSON_DECODE);
    assert_int_equal(dlp_stage_json_mode(NULL), DLP_JSON_SNIFF);
    assert_int_equal(dlp_stage_json_mode(""), DLP_JSON_SNIFF);
    assert_int_equal(dlp_stage_json_mode("text/plain;charset=UTF-8"), DLP_JSON_SNIFF);
    assert_int_equal(dlp_stage_json_mode("text/html"), DLP_JSON_OFF);
    assert_int_equal(dlp_stage_json_mode("application/octet-stream"), DLP_JSON_OFF);
    assert_int_equal(dlp_stage_json_mode("application/jsonx"), DLP_JSON_OFF);
    assert_int_equal(dlp_stage_json_mode("application/+json"), DLP_JSON_OFF);
    assert_int_equal(dlp_stage_json_mode("json"), DLP_JSON_OFF);
    assert_null(dlp_stage_json_new(NULL, DLP_JSON_DECODE));
}

/* --- the model: the definition in json.c, on a whole buffer ----------------------------- */

static int hex4(const uint8_t *b, size_t n, size_t i, unsigned *v)
{
    *v = 0;
    if (i + 6 > n || b[i] != '\\' || b[i + 1] != 'u')
        return 0;
    for (size_t k = 2; k < 6; k++) {
        uint8_t c = b[i + k];
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 99;
        if (d == 99)
            return 0;
        *v = *v * 16 + d;
    }
    return 1;
}

static size_t utf8(unsigned cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

static size_t model(const uint8_t *b, size_t n, uint8_t *out)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    size_t i = 0, o = 0;
    unsigned u, lo;

    while (i < n) {
        const char *k = b[i] == '\\' && i + 1 < n && b[i + 1] != 0 ? strchr(from, b[i + 1]) : NULL;
        if (k != NULL) {
            out[o++] = (uint8_t)to[k - from];
            i += 2;
        } else if (hex4(b, n, i, &u) && (u < 0xd800 || u > 0xdfff)) {
            o += utf8(u, out + o);
            i += 6;
        } else if (hex4(b, n, i, &u) && u <= 0xdbff && hex4(b, n, i + 6, &lo) && lo >= 0xdc00 &&
                   lo <= 0xdfff) {
            o += utf8(0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00), out + o);
            i += 12;
        } else if (hex4(b, n, i, &u)) {
            memcpy(out + o, b + i, 6);
            o += 6;
            i += 6;
        } else {
            out[o++] = b[i++];
        }
    }
    return o;
}

static void random_vs_model(void **state)
{
    static const uint8_t pool[] = {'\\', '\\', '\\', '\\', 'u', 'u', 'u', '0', '0', 'd', 'D',
                                   '8',  'b',  'c',  'C',  'e', 'f', 'F', '"', 'n', 'x', ' '};
    uint8_t in[128], want[128];
    uint32_t x = 8259;

    (void)state;
    for (int round = 0; round < 600; round++) {
        size_t n = 1 + round % 127, wn;
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            in[i] = pool[(x >> 16) % sizeof(pool)];
        }
        wn = model(in, n, want);
        expect_mode(DLP_JSON_DECODE, in, n, want, wn);
    }
}

/* Longer escape-dense inputs: the stage's output buffer fills mid-write. */
static void long_escaped(void **state)
{
    size_t n = 0, wn = 0;
    uint8_t *in = malloc(6 * 3000 + 64), *want = malloc(3000 * 4 + 64);

    (void)state;
    for (int i = 0; i < 3000; i++) {
        unsigned cp = i % 3 == 0 ? 0x34 : i % 3 == 1 ? 0xe9 : 0x20ac;
        n += (size_t)snprintf((char *)in + n, 7, "\\u%04x", cp);
        wn += utf8(cp, want + wn);
    }
    expect_mode(DLP_JSON_DECODE, in, n, want, wn);
    free(in);
    free(want);
}

/* --- no copy without a backslash --------------------------------------------------------- */

typedef struct ptr_sink {
    const uint8_t *p[8];
    size_t n[8];
    int writes;
} ptr_sink_t;

static void *p_open(void *ctx, dlp_field_t field, const char *name)
{
    (void)field;
    (void)name;
    return ctx;
}

static void p_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    ptr_sink_t *k = ctx;
    (void)h;
    if (k->writes < 8) {
        k->p[k->writes] = p;
        k->n[k->writes] = n;
    }
    k->writes++;
}

static void p_close(void *ctx, void *h)
{
    (void)ctx;
    (void)h;
}

static const dlp_content_sink_t ptr_ops = {p_open, p_write, p_close, NULL, NULL, NULL, NULL, NULL};

static void zero_copy(void **state)
{
    static const uint8_t a[] = "{\"name\":\"Jane\",\"card\":\"4111 1111 1111 1111\"}";
    static const uint8_t b[] = "C:\\temp\\x";
    dlp_json_mode_t modes[2] = {DLP_JSON_DECODE, DLP_JSON_SNIFF};

    (void)state;
    for (int m = 0; m < 2; m++) {
        ptr_sink_t k = {0};
        dlp_stage_t *st = dlp_stage_json_new(
            dlp_stage_sink_new(&ptr_ops, &k, DLP_FIELD_HTTP_BODY, NULL), modes[m]);
        assert_int_equal(dlp_stage_write(st, a, sizeof(a) - 1), DLP_OK);
        assert_int_equal(dlp_stage_end(st), DLP_OK);
        dlp_stage_free_chain(st);
        assert_int_equal(k.writes, 1);
        assert_ptr_equal(k.p[0], a);
        assert_int_equal(k.n[0], sizeof(a) - 1);
    }
    {
        ptr_sink_t k = {0}; /* sniffed as not JSON: passed as it is */
        dlp_stage_t *st = dlp_stage_json_new(
            dlp_stage_sink_new(&ptr_ops, &k, DLP_FIELD_HTTP_BODY, NULL), DLP_JSON_SNIFF);
        assert_int_equal(dlp_stage_write(st, b, sizeof(b) - 1), DLP_OK);
        assert_int_equal(dlp_stage_end(st), DLP_OK);
        dlp_stage_free_chain(st);
        assert_int_equal(k.writes, 1);
        assert_ptr_equal(k.p[0], b);
    }
}

/* --- throughput (printed, not asserted) -------------------------------------------------- */

static uint64_t null_bytes;

static void n_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)h;
    null_bytes += n + p[0] * 0;
}

static const dlp_content_sink_t null_ops = {p_open, n_write, p_close, NULL, NULL, NULL, NULL, NULL};

static double run_mbs(const uint8_t *p, size_t n, size_t piece)
{
    dlp_stage_t *st = dlp_stage_json_new(
        dlp_stage_sink_new(&null_ops, &null_bytes, DLP_FIELD_HTTP_BODY, NULL), DLP_JSON_DECODE);
    struct timespec t0, t1;

    null_bytes = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t at = 0; at < n; at += piece) {
        size_t k = n - at < piece ? n - at : piece;
        assert_int_equal(dlp_stage_write(st, p + at, k), DLP_OK);
    }
    assert_int_equal(dlp_stage_end(st), DLP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dlp_stage_free_chain(st);
    return (double)n / ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9) /
           1e6;
}

static void fill(uint8_t *p, size_t n, const char *rec)
{
    size_t len = strlen(rec);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rec[i % len];
}

static void throughput(void **state)
{
    size_t n = 64u << 20;
    uint8_t *p = malloc(n);
    double plain, some, dense;

    (void)state;
    fill(p, n, "{\"id\":1842,\"name\":\"Jane Doe\",\"card\":\"4111 1111 1111 1111\",\"ok\":true},");
    plain = run_mbs(p, n, 1460);
    assert_int_equal(null_bytes, n);
    fill(p, n,
         "{\"id\":1842,\"msg\":\"line one\\nline two \\\"quoted\\\"\",\"city\":\"Z\\u00fcrich\"},");
    some = run_mbs(p, n, 1460);
    fill(p, n, "\\u0034\\u0035\\u0033\\u0039");
    dense = run_mbs(p, n, 1460);
    assert_true(null_bytes >= n / 6 && null_bytes < n / 6 + 6);
    print_message("json: no backslash %.0f MB/s, a few escapes per record %.0f MB/s, only "
                  "\\u escapes %.0f MB/s of input (1460-byte writes)\n",
                  plain, some, dense);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_escapes),  cmocka_unit_test(u_escapes),
        cmocka_unit_test(surrogates),      cmocka_unit_test(invalid_escapes),
        cmocka_unit_test(sniffing),        cmocka_unit_test(media_types),
        cmocka_unit_test(random_vs_model), cmocka_unit_test(long_escaped),
        cmocka_unit_test(zero_copy),       cmocka_unit_test(throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
