/*
 * test_codec.c - the base64, quoted-printable and form-urlencoded stages
 * (exact outputs, every split, 1-byte writes), dlp_percent_decode() and
 * dlp_rfc2047_decode(), and a throughput figure for base64 (printed).
 */
#include "stage_test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { B64 = 0, QP, FORM };

static dlp_stage_t *build(ts_sink_t *t, void *arg)
{
    int kind = *(const int *)arg;
    dlp_stage_t *s = st_sink_stage(t);

    if (kind == B64)
        return dlp_stage_base64_new(s);
    if (kind == QP)
        return dlp_stage_qp_new(s);
    return dlp_stage_form_new(s);
}

/* in -> exactly want[0, wn), with 'notes' decoder-error notes, at every split. */
static void expect_n(int kind, const char *in, size_t n, const void *want, size_t wn, int notes)
{
    st_run_t r = st_check_splits(build, &kind, 0, (const uint8_t *)in, n, 1);

    assert_int_equal(st_all_notes(&r), notes);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), notes);
    assert_int_equal(r.first_err, notes ? DLP_EPROTO : DLP_OK);
    st_assert_stream(&r, want, wn);
    st_run_fini(&r);
}

static void expect(int kind, const char *in, const char *want)
{
    expect_n(kind, in, strlen(in), want, strlen(want), 0);
}

/* --- base64 ---------------------------------------------------------------------- */

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 2045 encoding with CRLF every 76 characters (a test oracle). */
static size_t b64_encode(const uint8_t *p, size_t n, char *out, size_t line)
{
    size_t o = 0, col = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t k = n - i < 3 ? n - i : 3;
        if (k > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (k > 2)
            v |= p[i + 2];
        out[o++] = b64_alpha[v >> 18];
        out[o++] = b64_alpha[(v >> 12) & 63];
        out[o++] = k > 1 ? b64_alpha[(v >> 6) & 63] : '=';
        out[o++] = k > 2 ? b64_alpha[v & 63] : '=';
        col += 4;
        if (line > 0 && col == line && i + 3 < n) {
            out[o++] = '\r';
            out[o++] = '\n';
            col = 0;
        }
    }
    out[o] = '\0';
    return o;
}

static void base64_basic(void **state)
{
    (void)state;
    expect(B64, "SGVsbG8gV29ybGQ=", "Hello World");
    expect(B64, "NDExMSAxMTExIDExMTEgMTExMQ==", "4111 1111 1111 1111");
    expect(B64, "QQ==", "A");
    expect(B64, "QUI=", "AB");
    expect(B64, "QUJD", "ABC");
    /* no padding at the end: the partial quantum is decoded */
    expect(B64, "QUI", "AB");
    expect(B64, "QUJDRA", "ABCD");
    /* a single leftover character carries no byte */
    expect(B64, "QUJDR", "ABC");
    expect(B64, "", "");
}

static void base64_whitespace(void **state)
{
    (void)state;
    expect(B64, "SGVs\r\nbG8g\r\nV29y\r\nbGQ=\r\n", "Hello World");
    expect(B64, "SG Vs\tbG\n8gV2\r9y bGQ=", "Hello World");
    expect(B64, "  \r\n\t", "");
}

/*
 * Padding ends a quantum, not the data: what follows is decoded from a new
 * quantum, so separately encoded chunks written one after the other decode
 * to their concatenation (as a receiving mail client shows them).
 */
static void base64_padding_resyncs(void **state)
{
    (void)state;
    expect(B64, "QQ==QUJD", "AABC");
    expect(B64, "QUJD=QUJD", "ABCABC");
    expect(B64, "QUI=QUI=QQ==", "ABABA");
    expect(B64, "QUI=\r\n==\r\nQUJD\r\n", "ABABC");
    expect(B64, "QQ===QUI=", "AAB");
    /* a lone character before '=' carries no byte; the next quantum starts after it */
    expect(B64, "Q=QUJD", "ABC");
    expect(B64, "Q=", "");
    expect(B64, "====", "");
    /* "4556 7375 8689 9855" encoded as four chunks: "4556", " 737", "5 8689 ", "9855" */
    expect(B64, "NDU1Ng==IDczNw==NSA4Njg5IA==\r\nOTg1NQ==\r\n", "4556 7375 8689 9855");
    expect(B64, "NDU=NTYg\r\nNzM3NSA4Njg5\r\nIDk4NTU=", "4556 7375 8689 9855");
    /* what follows the padding counts towards the invalid share as any byte does */
    expect_n(B64, "QUI=\r\n--boundary--\r\n!!!!", 24, "AB\x6e\x8b\xa7\x75\xaa\xf2", 8, 1);
}

/* A few stray bytes are skipped without a note; the quantum goes on across them. */
static void base64_stray(void **state)
{
    uint8_t data[3000];
    char *enc = malloc(8000), *dirty = malloc(8100);
    size_t n, m = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 131 + 7);
    n = b64_encode(data, sizeof(data), enc, 76);
    for (size_t i = 0; i < n; i++) {
        if (i % 500 == 250)
            dirty[m++] = (i % 1000 == 250) ? '!' : '\x80';
        dirty[m++] = enc[i];
    }
    dirty[m] = '\0';
    expect_n(B64, dirty, m, data, sizeof(data), 0);
    expect_n(B64, "SGV*sbG8gV29ybGQ=", 17, "Hello World", 11, 0); /* 1 in 17 */
    free(enc);
    free(dirty);
}

/* More than 10% invalid bytes: one note, the stage stops. */
static void base64_invalid(void **state)
{
    char in[600];
    size_t n = 0;
    st_run_t r;
    int kind = B64;

    (void)state;
    /* short input: judged at end; what decoded is kept */
    expect_n(B64, "QUJD!!", 6, "ABC", 3, 1);
    /* exactly 10%: no note */
    expect_n(B64, "QUJDQUJD!=", 10, "ABCABC", 6, 0);
    expect_n(B64, "QUJDQUJ!!=", 10, "ABCAB", 5, 1);
    /* long input: stops once past B64_CHECK_MIN (256) bytes with > 10% invalid */
    for (int k = 0; k < 60; k++) {
        memcpy(in + n, "QUJDRUZH!", 9); /* 1 invalid in 9: 11% */
        n += 9;
    }
    r = st_check_splits(build, &kind, 0, (const uint8_t *)in, n, 1);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    assert_int_equal(r.first_err, DLP_EPROTO);
    {
        /* the check fires at the first '!' at or after byte 256: the 29th, byte 260 */
        size_t len;
        const char *s = st_stream(&r, &len);
        assert_int_equal(len, 29 * 6);
        for (size_t i = 0; i < len; i += 6)
            assert_memory_equal(s + i, "ABCEFG", 6);
    }
    st_run_fini(&r);
}

static void base64_roundtrip(void **state)
{
    size_t dn = 4099;
    uint8_t *data = malloc(dn);
    char *enc = malloc(dn * 2);
    uint32_t x = 7;
    size_t n;

    (void)state;
    for (size_t i = 0; i < dn; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (uint8_t)(x >> 24);
    }
    n = b64_encode(data, dn, enc, 76);
    {
        int kind = B64;
        st_run_t r = st_check_splits(build, &kind, 0, (const uint8_t *)enc, n, 13);
        st_assert_stream(&r, data, dn);
        assert_int_equal(st_all_notes(&r), 0);
        st_run_fini(&r);
    }
    free(data);
    free(enc);
}

/* --- quoted-printable -------------------------------------------------------------- */

static void qp_escapes(void **state)
{
    (void)state;
    expect(QP, "a=3Db=3d", "a=b=");
    expect(QP, "=34=31=31=31", "4111");
    expect(QP, "caf=E9 =c3=a9", "caf\xe9 \xc3\xa9");
    /* invalid escapes stay as they are */
    expect(QP, "=ZZ =4 =4x =\t=", "=ZZ =4 =4x =\t");
    expect(QP, "50%=", "50%");
    expect(QP, "x=4", "x=4");
    expect(QP, "a==41", "a=A");
    expect(QP, "=\rx", "=\rx");
}

static void qp_soft_breaks(void **state)
{
    (void)state;
    expect(QP, "4111 11=\r\n11 1111=\n 1111", "4111 1111 1111 1111");
    /* spaces after the '=' (transport padding) */
    expect(QP, "ab=  \r\ncd=\t\ncd", "abcdcd");
    expect(QP, "ab= x", "ab= x");
    expect(QP, "ab= \rx", "ab= \rx");
    /* a final '=' */
    expect(QP, "end=", "end");
    expect(QP, "end=\r", "end");
}

static void qp_trailing_space(void **state)
{
    char in[300], want[300];

    (void)state;
    expect(QP, "abc  \r\ndef\t \nghi", "abc\r\ndef\nghi");
    expect(QP, "a b \t c", "a b \t c");
    expect(QP, "abc   ", "abc");
    expect(QP, "a \rb", "a \rb");
    expect(QP, "a \r", "a \r");
    /* held whitespace is bounded (128): a longer run passes its first 128 bytes */
    memset(in, ' ', 200);
    memcpy(in + 200, "\r\nx", 4);
    memset(want, ' ', 128);
    memcpy(want + 128, "\r\nx", 4);
    expect(QP, in, want);
    memcpy(in + 200, "y", 2);
    memset(want, ' ', 200);
    memcpy(want + 200, "y", 2);
    expect(QP, in, want);
}

/* --- form ---------------------------------------------------------------------------- */

static void form(void **state)
{
    (void)state;
    expect(FORM, "card_number=4111+1111&x=1", "card_number=4111 1111\nx=1");
    expect(FORM, "n=%34%31%31%31+%31111&e=a%40b.c", "n=4111 1111\ne=a@b.c");
    expect(FORM, "a=%2B%26%3d", "a=+&=");
    /* invalid escapes stay */
    expect(FORM, "%zz%4%", "%zz%4%");
    expect(FORM, "%%41", "%A");
    expect(FORM, "x%4", "x%4");
    expect(FORM, "x%4&y", "x%4\ny");
    expect(FORM, "a&&b==", "a\n\nb==");
}

/* --- one-shot decoders ------------------------------------------------------------------ */

static void percent_decode(void **state)
{
    uint8_t out[64];
    size_t n;

    (void)state;
    n = dlp_percent_decode(DLP_STR_BYTES("/a%20b+c%2Fd%zz%4"), out, sizeof(out), false);
    assert_int_equal(n, 13);
    assert_memory_equal(out, "/a b+c/d%zz%4", 13);
    n = dlp_percent_decode(DLP_STR_BYTES("/a%20b+c%2Fd%zz%4"), out, sizeof(out), true);
    assert_memory_equal(out, "/a b c/d%zz%4", 13);
    n = dlp_percent_decode(DLP_STR_BYTES("%34%31%31%31"), out, sizeof(out), true);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "4111", 4);
    /* bounded by cap */
    n = dlp_percent_decode(DLP_STR_BYTES("%41%42%43%44"), out, 3, false);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "ABC", 3);
    n = dlp_percent_decode(DLP_STR_BYTES("abc"), out, 0, false);
    assert_int_equal(n, 0);
    n = dlp_percent_decode(DLP_STR_BYTES("%"), out, sizeof(out), false);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], '%');
}

static void expect_2047(const char *in, const char *want)
{
    uint8_t out[256];
    size_t n = dlp_rfc2047_decode((const uint8_t *)in, strlen(in), out, sizeof(out));

    if (n != strlen(want) || memcmp(out, want, n) != 0)
        fail_msg("rfc2047 \"%s\": got \"%.*s\", want \"%s\"", in, (int)n, out, want);
}

static void rfc2047(void **state)
{
    uint8_t out[8];

    (void)state;
    expect_2047("=?utf-8?B?SGVsbG8=?=", "Hello");
    expect_2047("=?UTF-8?b?NDExMQ?=", "4111");
    expect_2047("=?iso-8859-1?Q?caf=E9_cr=e8me?=", "caf\xe9 cr\xe8me");
    expect_2047("Re: =?iso-8859-1?q?caf=E9?= ok", "Re: caf\xe9 ok");
    /* adjacent encoded words: the whitespace between them goes (RFC 2047 6.2) */
    expect_2047("=?utf-8?B?SGVs?= =?utf-8?B?bG8=?=", "Hello");
    expect_2047("=?utf-8?Q?4111_?=\r\n =?utf-8?Q?1111?=\t=?x?Q?_1111?=", "4111 1111 1111");
    /* ... but not between a word and text */
    expect_2047("=?utf-8?Q?a?= b =?utf-8?Q?c?=", "a b c");
    expect_2047("x =?utf-8?Q?a?=", "x a");
    /* padding inside a B word ends a quantum, not the word (as in the base64 stage) */
    expect_2047("=?utf-8?B?NDU1Ng==IDczNw==NSA4Njg5IA==OTg1NQ==?=", "4556 7375 8689 9855");
    expect_2047("=?utf-8?B?NDU=NTY=?=", "4556");
    /* language suffix (RFC 2231): the charset is not looked at anyway */
    expect_2047("=?utf-8*en?Q?hi?=", "hi");
    /* not encoded words: copied */
    expect_2047("=?utf-8?X?abc?=", "=?utf-8?X?abc?=");
    expect_2047("=?utf-8?B?SGVs", "=?utf-8?B?SGVs");
    expect_2047("=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=");
    expect_2047("=?\?Q?a?=", "=?\?Q?a?=");
    expect_2047("a=?b", "a=?b");
    expect_2047("=?utf-8?Q?a?= =?bad", "a =?bad");
    expect_2047("=?utf-8?Q?\?=", "");
    /* bounded by cap */
    assert_int_equal(dlp_rfc2047_decode(DLP_STR_BYTES("=?utf-8?Q?0123456789?="), out, 8), 8);
    assert_memory_equal(out, "01234567", 8);
    assert_int_equal(dlp_rfc2047_decode(DLP_STR_BYTES("=?utf-8?B?MDEyMzQ1Njc4OQ==?="), out, 8), 8);
    assert_memory_equal(out, "01234567", 8);
    assert_int_equal(dlp_rfc2047_decode(DLP_STR_BYTES("abcdefghij"), out, 8), 8);
}

/* --- throughput (printed, not asserted) -------------------------------------------------- */

static uint64_t null_bytes;

static void *n_open(void *ctx, dlp_field_t field, const char *name)
{
    (void)ctx;
    (void)field;
    (void)name;
    return &null_bytes;
}

static void n_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    (void)ctx;
    (void)h;
    null_bytes += n + p[0] * 0;
}

static void n_close(void *ctx, void *h)
{
    (void)ctx;
    (void)h;
}

static const dlp_content_sink_t null_sink = {n_open, n_write, n_close, NULL, NULL, NULL, NULL, NULL};

static void base64_throughput(void **state)
{
    size_t dn = 24u << 20, n;
    uint8_t *data = malloc(dn);
    char *enc = malloc(dn * 2);
    dlp_stage_t *st;
    struct timespec t0, t1;
    double s;

    (void)state;
    for (size_t i = 0; i < dn; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    n = b64_encode(data, dn, enc, 76);
    st = dlp_stage_base64_new(dlp_stage_sink_new(&null_sink, NULL, DLP_FIELD_SMTP_ATTACHMENT, "x"));
    null_bytes = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t at = 0; at < n; at += 1460) {
        size_t k = n - at < 1460 ? n - at : 1460;
        assert_int_equal(dlp_stage_write(st, (const uint8_t *)enc + at, k), DLP_OK);
    }
    assert_int_equal(dlp_stage_end(st), DLP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dlp_stage_free_chain(st);
    assert_int_equal(null_bytes, dn);
    s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("base64 decode: %.0f MB/s of input (%zu bytes in 1460-byte writes)\n",
                  (double)n / s / 1e6, n);
    free(data);
    free(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(base64_basic),
        cmocka_unit_test(base64_whitespace),
        cmocka_unit_test(base64_padding_resyncs),
        cmocka_unit_test(base64_stray),
        cmocka_unit_test(base64_invalid),
        cmocka_unit_test(base64_roundtrip),
        cmocka_unit_test(qp_escapes),
        cmocka_unit_test(qp_soft_breaks),
        cmocka_unit_test(qp_trailing_space),
        cmocka_unit_test(form),
        cmocka_unit_test(percent_decode),
        cmocka_unit_test(rfc2047),
        cmocka_unit_test(base64_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
