/*
 * test_chunked.c - the chunked transfer coding stage (RFC 9112 7.1) and
 * dlp_stage_chunked_status(): exact data, exactly where the body ends (what
 * follows belongs to the next message), malformed and oversized framing,
 * each input also split at every offset and in 1-byte writes.
 */
#include "stage_test.h"

#include <stdlib.h>
#include <string.h>

typedef struct cfg {
    dlp_app_limits_t l;
    int b64; /* a base64 stage between chunked and the sink */
} cfg_t;

static dlp_stage_t *build(ts_sink_t *t, void *arg)
{
    cfg_t *c = arg;
    dlp_stage_t *s = st_sink_stage(t);
    if (c->b64)
        s = dlp_stage_base64_new(s);
    return dlp_stage_chunked_new(s, &c->l);
}

static cfg_t defaults(void)
{
    cfg_t c = {.b64 = 0};
    dlp_app_limits_default(&c.l);
    return c;
}

/* Body 'in' (its framing ends after 'body_len' bytes), decoded 'want'. */
static void expect_body(cfg_t *c, const char *in, size_t body_len, const char *want)
{
    size_t n = strlen(in);
    st_run_t r = st_check_splits(build, c, 1, (const uint8_t *)in, n, 1);

    assert_int_equal(r.status, DLP_DONE);
    assert_int_equal(r.consumed, body_len);
    assert_int_equal(r.in_bytes, body_len);
    assert_int_equal(r.first_err, DLP_OK);
    assert_int_equal(st_all_notes(&r), 0);
    st_assert_stream(&r, want, strlen(want));
    st_run_fini(&r);
}

/* Malformed: status 'rc', 'consumed' body bytes before the bad one, one note. */
static void expect_error(cfg_t *c, const char *in, dlp_rc_t rc, size_t consumed,
                         dlp_app_note_t note, const char *want)
{
    size_t n = strlen(in);
    st_run_t r = st_check_splits(build, c, 1, (const uint8_t *)in, n, 1);

    assert_int_equal(r.status, rc);
    assert_int_equal(r.first_err, rc);
    assert_int_equal(r.consumed, consumed);
    assert_int_equal(r.in_bytes, consumed);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, note), 1);
    st_assert_stream(&r, want, strlen(want));
    st_run_fini(&r);
}

static void basic(void **state)
{
    cfg_t c = defaults();
    static const char in[] = "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";

    (void)state;
    expect_body(&c, in, sizeof(in) - 1, "Wikipedia in\r\n\r\nchunks.");
}

/* The next pipelined message starts right after the final CRLF. */
static void end_found_exactly(void **state)
{
    cfg_t c = defaults();
    static const char body[] = "3\r\nabc\r\n0\r\n\r\n";
    static const char in[] = "3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";

    (void)state;
    expect_body(&c, in, sizeof(body) - 1, "abc");
    /* the final CRLF split from the rest, as two lone bytes */
    expect_body(&c, "0\r\n\r\n\r\n", 5, "");
    expect_body(&c, "0\n\nHTTP/1.1 200 OK\r\n", 3, "");
}

static void extensions_and_whitespace(void **state)
{
    cfg_t c = defaults();

    (void)state;
    expect_body(&c, "5;name=value;x=\"q;uoted\"\r\nhello\r\n0;last\r\n\r\n", 43, "hello");
    expect_body(&c, "5 \t;ext\r\nhello\r\n0  \r\n\r\n", 23, "hello");
    expect_body(&c, "5 \r\nhello\r\n0\r\n\r\n", 16, "hello");
}

static void bare_lf_and_hex(void **state)
{
    cfg_t c = defaults();

    (void)state;
    expect_body(&c, "5\nhello\n0\n\n", 11, "hello");
    expect_body(&c, "000A\r\n0123456789\r\na\r\nABCDEFGHIJ\r\n0000\r\n\r\n", 41,
                "0123456789ABCDEFGHIJ");
    /* 16 digits with leading zeros are fine */
    expect_body(&c, "0000000000000001\r\nZ\r\n0\r\n\r\n", 26, "Z");
    /* a CR inside an extension is skipped with it */
    expect_body(&c, "1;a\rb\r\nY\r\n0\r\n\r\n", 15, "Y");
}

static void trailers(void **state)
{
    cfg_t c = defaults();
    static const char body[] = "3\r\nabc\r\n0\r\nX-Sum: 4111 1111\r\nExpires: never\r\n\r\n";
    char in[256];

    (void)state;
    snprintf(in, sizeof(in), "%sPOST / HTTP/1.1\r\n", body);
    expect_body(&c, in, sizeof(body) - 1, "abc");
    expect_body(&c, "0\nA: b\n\nnext", 8, "");
}

static void trailer_bound(void **state)
{
    cfg_t c = defaults();

    (void)state;
    /* trailer section of exactly 16 bytes: fine; 17: over the bound */
    c.l.header_block_max = 16;
    expect_body(&c, "1\r\nq\r\n0\r\nAbcdefghijklm:\r\n\r\n", 27, "q");
    expect_error(&c, "1\r\nq\r\n0\r\nAbcdefghijklmn:\r\n\r\n", DLP_ELIMIT, 25, DLP_NOTE_HEADER_CAP,
                 "q");
}

static void size_line_bound(void **state)
{
    cfg_t c = defaults();
    char in[256];
    size_t n;

    (void)state;
    c.l.line_max = 20;
    /* the size line "5;" + 18 = 20 bytes: fine */
    n = (size_t)snprintf(in, sizeof(in), "5;%s\r\nhello\r\n0\r\n\r\n", "aaaaaaaaaaaaaaaaaa");
    expect_body(&c, in, n, "hello");
    snprintf(in, sizeof(in), "5;%s\r\nhello\r\n0\r\n\r\n", "aaaaaaaaaaaaaaaaaaa");
    expect_error(&c, in, DLP_ELIMIT, 20, DLP_NOTE_HEADER_CAP, "");
    /* the bound is per line */
    n = (size_t)snprintf(in, sizeof(in), "1;%s\r\nA\r\n1;%s\r\nB\r\n0\r\n\r\n",
                         "aaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaa");
    expect_body(&c, in, n, "AB");
}

static void bad_sizes(void **state)
{
    cfg_t c = defaults();

    (void)state;
    expect_error(&c, "-1\r\nabc\r\n0\r\n\r\n", DLP_EPROTO, 0, DLP_NOTE_DECODER_ERROR, "");
    expect_error(&c, "zz\r\nabc\r\n", DLP_EPROTO, 0, DLP_NOTE_DECODER_ERROR, "");
    expect_error(&c, "0x10\r\n", DLP_EPROTO, 1, DLP_NOTE_DECODER_ERROR, "");
    expect_error(&c, " 5\r\nhello\r\n", DLP_EPROTO, 0, DLP_NOTE_DECODER_ERROR, "");
    expect_error(&c, "\r\n5\r\nhello\r\n", DLP_EPROTO, 0, DLP_NOTE_DECODER_ERROR, "");
    expect_error(&c, "5 5\r\nhello\r\n", DLP_EPROTO, 2, DLP_NOTE_DECODER_ERROR, "");
    /* 2^40 + 1, and 17 digits (even if small) */
    expect_error(&c, "10000000001\r\n", DLP_EPROTO, 10, DLP_NOTE_DECODER_ERROR, "");
    expect_error(&c, "00000000000000001\r\nZ\r\n", DLP_EPROTO, 16, DLP_NOTE_DECODER_ERROR, "");
    expect_error(&c, "ffffffffffffffffffff\r\n", DLP_EPROTO, 10, DLP_NOTE_DECODER_ERROR, "");
    /* a CR not followed by LF */
    expect_error(&c, "5\rhello\r\n", DLP_EPROTO, 2, DLP_NOTE_DECODER_ERROR, "");
}

/* 2^40 itself is a valid size: the body just goes on. */
static void largest_size(void **state)
{
    cfg_t c = defaults();
    static const char in[] = "10000000000\r\nsome data";
    st_run_t r;

    (void)state;
    r = st_check_splits(build, &c, 1, (const uint8_t *)in, sizeof(in) - 1, 1);
    assert_int_equal(r.status, DLP_AGAIN);
    assert_int_equal(r.consumed, sizeof(in) - 1);
    assert_int_equal(st_all_notes(&r), 0);
    st_assert_stream(&r, "some data", 9);
    st_run_fini(&r);
}

static void missing_crlf(void **state)
{
    cfg_t c = defaults();

    (void)state;
    /* chunk longer than its size */
    expect_error(&c, "5\r\nhelloX\r\n0\r\n\r\n", DLP_EPROTO, 8, DLP_NOTE_DECODER_ERROR, "hello");
    expect_error(&c, "5\r\nhello\rX", DLP_EPROTO, 9, DLP_NOTE_DECODER_ERROR, "hello");
    /* after the last chunk: CR must be followed by LF */
    expect_error(&c, "0\r\n\rX", DLP_EPROTO, 4, DLP_NOTE_DECODER_ERROR, "");
}

/* A body cut short (connection closed): what arrived is passed on, no note. */
static void truncated(void **state)
{
    cfg_t c = defaults();
    static const char in[] = "a\r\n0123";
    st_run_t r;

    (void)state;
    r = st_check_splits(build, &c, 1, (const uint8_t *)in, sizeof(in) - 1, 1);
    assert_int_equal(r.status, DLP_AGAIN);
    assert_int_equal(st_all_notes(&r), 0);
    st_assert_stream(&r, "0123", 4);
    st_run_fini(&r);
}

/* A later stage failing does not lose the framing; its note comes once. */
static void later_failure_keeps_framing(void **state)
{
    cfg_t c = defaults();
    char in[2048];
    size_t n = 0, body;
    st_run_t r;

    (void)state;
    c.b64 = 1;
    /* 300 bytes of '!' (invalid base64) in 3 chunks, then the next message */
    for (int k = 0; k < 3; k++) {
        n += (size_t)snprintf(in + n, sizeof(in) - n, "64\r\n");
        memset(in + n, '!', 100);
        n += 100;
        n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
    }
    n += (size_t)snprintf(in + n, sizeof(in) - n, "0\r\n\r\n");
    body = n;
    n += (size_t)snprintf(in + n, sizeof(in) - n, "GET / HTTP/1.1\r\n\r\n");
    r = st_check_splits(build, &c, 1, (const uint8_t *)in, n, 1);
    assert_int_equal(r.status, DLP_DONE);
    assert_int_equal(r.consumed, body);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    st_assert_stream(&r, "", 0);
    st_run_fini(&r);
}

static void status_api(void **state)
{
    ts_sink_t *t = st_sink_new();
    dlp_app_limits_t l;
    dlp_stage_t *sink = st_sink_stage(t), *ch;
    size_t used = 99;

    (void)state;
    dlp_app_limits_default(&l);
    ch = dlp_stage_chunked_new(sink, &l);
    assert_int_equal(dlp_stage_chunked_status(sink, &used), DLP_EINVAL);
    assert_int_equal(dlp_stage_chunked_status(NULL, &used), DLP_EINVAL);
    assert_int_equal(dlp_stage_chunked_status(ch, NULL), DLP_AGAIN);
    assert_int_equal(dlp_stage_write(ch, DLP_STR_BYTES("2\r\nok\r\n")), DLP_OK);
    assert_int_equal(dlp_stage_chunked_status(ch, &used), DLP_AGAIN);
    assert_int_equal(used, 7);
    assert_int_equal(dlp_stage_write(ch, DLP_STR_BYTES("0\r\n\r\nNEXT")), DLP_DONE);
    assert_int_equal(dlp_stage_chunked_status(ch, &used), DLP_DONE);
    assert_int_equal(used, 5);
    /* after the end nothing is consumed */
    assert_int_equal(dlp_stage_write(ch, DLP_STR_BYTES("more")), DLP_DONE);
    assert_int_equal(dlp_stage_chunked_status(ch, &used), DLP_DONE);
    assert_int_equal(used, 0);
    assert_int_equal(ch->in_bytes, 12);
    assert_int_equal(ch->out_bytes, 2);
    assert_int_equal(dlp_stage_end(ch), DLP_OK);
    dlp_stage_free_chain(ch);
    assert_string_equal(ts_str(t, 0), "ok");
    assert_int_equal(t->item[0].open, 0);
    st_sink_free(t);
}

/* Large chunks pass through; checked at a stride of offsets. */
static void large_chunks(void **state)
{
    cfg_t c = defaults();
    size_t dn = 70000, n = 0;
    uint8_t *data = malloc(dn), *in = malloc(dn + 256);
    st_run_t r;

    (void)state;
    for (size_t i = 0; i < dn; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 8));
    n += (size_t)snprintf((char *)in, 64, "%zx\r\n", (size_t)40000);
    memcpy(in + n, data, 40000);
    n += 40000;
    n += (size_t)snprintf((char *)in + n, 64, "\r\n%zX;x=y\r\n", dn - 40000);
    memcpy(in + n, data + 40000, dn - 40000);
    n += dn - 40000;
    n += (size_t)snprintf((char *)in + n, 64, "\r\n0\r\n\r\n");
    r = st_check_splits(build, &c, 1, in, n, 997);
    assert_int_equal(r.status, DLP_DONE);
    assert_int_equal(r.consumed, n);
    st_assert_stream(&r, data, dn);
    st_run_fini(&r);
    free(data);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic),
        cmocka_unit_test(end_found_exactly),
        cmocka_unit_test(extensions_and_whitespace),
        cmocka_unit_test(bare_lf_and_hex),
        cmocka_unit_test(trailers),
        cmocka_unit_test(trailer_bound),
        cmocka_unit_test(size_line_bound),
        cmocka_unit_test(bad_sizes),
        cmocka_unit_test(largest_size),
        cmocka_unit_test(missing_crlf),
        cmocka_unit_test(truncated),
        cmocka_unit_test(later_failure_keeps_framing),
        cmocka_unit_test(status_api),
        cmocka_unit_test(large_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
