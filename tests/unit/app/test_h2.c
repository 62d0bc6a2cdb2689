/*
 * test_h2.c - the h2c frame decoder: the client preface, a body split across
 * DATA frames (the 9-byte frame header inside a card number), padding,
 * interleaved streams, END_STREAM and RST_STREAM, gzip and zlib bodies
 * (sniffed), header blocks decoded (HPACK: a card in a Huffman-coded value
 * and in :path, the block cut at every byte between HEADERS and
 * CONTINUATION, content-encoding deflate honoured; a block that fails is
 * scanned raw and the blocks after it are not inspected), malformed framing
 * handed back raw from the failed frame's first byte, the frame and stream
 * bounds, gaps, a direction cut short; and what the HTTP parser tells of an
 * "Upgrade: h2c" (dlp_http_h2c).
 *
 * Every input is decoded in one write, split in two at every offset, and in
 * 1-byte writes: the recorded output and the raw rest must be identical.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "app_test_sink.h"
#include "dlp/h2.h"
#include "dlp/http.h"
#include "dlp/limits.h"

#define F_BODY DLP_FIELD_HTTP_BODY
#define N_ERR DLP_NOTE_DECODER_ERROR
#define N_UNS DLP_NOTE_UNSUPPORTED

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    assert_non_null(b->p);
    if (n > 0) /* empty payloads come as NULL */
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* One frame: 24-bit length, type, flags, stream id (RFC 9113 4.1). */
static void frame(buf_t *b, int type, int flags, uint32_t sid, const void *pl, size_t n)
{
    uint8_t h[9] = {(uint8_t)(n >> 16),   (uint8_t)(n >> 8),   (uint8_t)n,
                    (uint8_t)type,        (uint8_t)flags,      (uint8_t)(sid >> 24),
                    (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};

    put(b, h, 9);
    put(b, pl, n);
}

static void frame_s(buf_t *b, int type, int flags, uint32_t sid, const char *s)
{
    frame(b, type, flags, sid, s, strlen(s));
}

/* A padded DATA frame: pad length, data, pad bytes (junk: never scanned). */
static void data_padded(buf_t *b, int flags, uint32_t sid, const char *s, uint8_t pad)
{
    buf_t pl = {0};

    put(&pl, &pad, 1);
    put(&pl, s, strlen(s));
    for (int i = 0; i < pad; i++)
        put(&pl, "9", 1);
    frame(b, 0, flags | 0x08, sid, pl.p, pl.n);
    free(pl.p);
}

/* The client's start: preface, empty SETTINGS; and a 10-byte header block. */
static const char HB[] = "\x82\x84\x86\x41\x05hello"; /* :method GET, :path /... (HPACK) */
#define HB_LEN (sizeof(HB) - 1)
#define HB_TEXT ":method: GET\n:scheme: http\n:authority: hello\n"

static void client_start(buf_t *b)
{
    put(b, DLP_H2_PREFACE, DLP_H2_PREFACE_LEN);
    frame(b, 4, 0, 0, NULL, 0);
}

typedef struct out {
    ts_sink_t t;
    buf_t raw;
    int failed;
} out_t;

static void feed(dlp_h2_t *h, out_t *o, const uint8_t *p, size_t n)
{
    size_t used = 999999;
    dlp_rc_t rc;

    if (o->failed) {
        put(&o->raw, p, n);
        return;
    }
    rc = dlp_h2_write(h, p, n, &used);
    if (rc == DLP_EPROTO) {
        const uint8_t *held;
        size_t nh = dlp_h2_held(h, &held);

        assert_true(used <= n);
        o->failed = 1;
        put(&o->raw, held, nh);
        put(&o->raw, p + used, n - used);
        return;
    }
    assert_int_equal(rc, DLP_OK);
    assert_int_equal(used, n);
}

/* mode 0: one write; 1: cut at 'at'; 2: 1-byte writes. Ends the direction. */
static out_t *run(const buf_t *in, const dlp_h2_opts_t *opts, int mode, size_t at)
{
    out_t *o = calloc(1, sizeof(*o));
    dlp_h2_t *h;

    assert_non_null(o);
    h = dlp_h2_new(&ts_sink_ops, &o->t, NULL, opts);
    assert_non_null(h);
    if (mode == 0) {
        feed(h, o, in->p, in->n);
    } else if (mode == 1) {
        feed(h, o, in->p, at);
        feed(h, o, in->p + at, in->n - at);
    } else {
        for (size_t i = 0; i < in->n; i++)
            feed(h, o, in->p + i, 1);
    }
    dlp_h2_end(h);
    dlp_h2_free(h);
    return o;
}

static void out_free(out_t *o)
{
    ts_reset(&o->t);
    free(o->raw.p);
    free(o);
}

/* Decodes in every way; checks the items and the raw rest. */
static void check(const buf_t *in, const dlp_h2_opts_t *opts, const exp_t *e, size_t ne,
                  const void *raw, size_t nraw)
{
    out_t *whole = run(in, opts, 0, 0);

    ts_check_items(&whole->t, e, ne);
    assert_int_equal(whole->raw.n, nraw);
    if (nraw > 0)
        assert_memory_equal(whole->raw.p, raw, nraw);
    for (int mode = 1; mode <= 2; mode++) {
        size_t last = mode == 1 ? in->n : 0, step = in->n < 4096 ? 1 : in->n / 60;
        for (size_t at = 0; at <= last; at += step) {
            out_t *o = run(in, opts, mode, at);
            if (!ts_equal(&whole->t, &o->t)) {
                ts_dump(&whole->t);
                ts_dump(&o->t);
                fail_msg("mode %d at %zu differs", mode, at);
            }
            assert_int_equal(o->raw.n, nraw);
            if (nraw > 0)
                assert_memory_equal(o->raw.p, raw, nraw);
            out_free(o);
        }
    }
    out_free(whole);
}

/* clang-format off */
#define S(d) {'S', F_BODY, "", (d), sizeof(d) - 1, 0}
#define N(n, b) {'N', (n), "", NULL, 0, (b)}
#define H(d) {'S', DLP_FIELD_HTTP_HEADER, "", (d), sizeof(d) - 1, 0}
#define U(d) {'B', DLP_FIELD_HTTP_URI, "", (d), sizeof(d) - 1, 0}
#define R(d) {'S', DLP_FIELD_RAW, "", (d), sizeof(d) - 1, 0}
/* clang-format on */
#define NE(a) (sizeof(a) / sizeof((a)[0]))

static const dlp_h2_opts_t CLIENT = {.client = true};
static const dlp_h2_opts_t SERVER = {.client = false};

/* The audit's case (F3): the card's digits on both sides of a frame header. */
static void card_across_data_frames(void **state)
{
    buf_t in = {0};
    const exp_t e[] = {H(HB_TEXT), U("/"), S("card 4539148803436467 end")};

    (void)state;
    client_start(&in);
    frame(&in, 1, 0x04, 1, HB, HB_LEN); /* HEADERS, END_HEADERS */
    frame_s(&in, 0, 0, 1, "card 45391488");
    frame_s(&in, 0, 0x01, 1, "03436467 end");
    check(&in, &CLIENT, e, NE(e), NULL, 0);
    free(in.p);
}

static void padding_stripped(void **state)
{
    buf_t in = {0};
    const exp_t e[] = {S("abcdefgh")};

    (void)state;
    frame(&in, 4, 0, 0, "\x00\x03\x00\x00\x00\x64", 6); /* the server's SETTINGS */
    data_padded(&in, 0, 2, "abc", 7);
    data_padded(&in, 0, 2, "", 0);
    data_padded(&in, 0, 2, "de", 0);
    data_padded(&in, 0x01, 2, "fgh", 255);
    check(&in, &SERVER, e, NE(e), NULL, 0);
    free(in.p);
}

/* Streams interleaved, one ended by RST_STREAM (its later data: a new stream),
 * control frames between; trailers (HEADERS with END_STREAM) end a stream. */
static void interleaved_streams(void **state)
{
    buf_t in = {0};
    const exp_t e[] = {H(HB_TEXT), U("/"),        H(HB_TEXT), U("/"),      S("one-1 one-2"),
                       S("three-1"), S("five"),    S("three-2"), H(HB_TEXT), U("/"),
                       N(N_UNS, 0)};

    (void)state;
    client_start(&in);
    frame(&in, 1, 0x04, 1, HB, HB_LEN);
    frame(&in, 1, 0x04, 3, HB, HB_LEN);
    frame_s(&in, 0, 0, 1, "one-1 ");
    frame_s(&in, 0, 0, 3, "three-1");
    frame_s(&in, 6, 0, 0, "pingpong");
    frame(&in, 8, 0, 3, "\x00\x00\x10\x00", 4);
    frame_s(&in, 0, 0, 5, "five");
    frame(&in, 2, 0, 5, "\x00\x00\x00\x00\x10", 5);
    frame_s(&in, 0, 0x01, 5, "");
    frame(&in, 3, 0, 3, "\x00\x00\x00\x08", 4); /* RST_STREAM CANCEL */
    frame_s(&in, 0, 0, 3, "three-2");
    frame_s(&in, 0, 0, 1, "one-2");
    frame(&in, 1, 0x05, 1, HB, HB_LEN); /* trailers: END_STREAM */
    frame_s(&in, 0xfa, 0, 1, "ext");    /* an unknown type: ignored, not inspected */
    check(&in, &CLIENT, e, NE(e), NULL, 0);
    free(in.p);
}

static size_t zip(const char *text, uint8_t *out, size_t cap, int wbits)
{
    z_stream zs;
    size_t n;

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)text; /* zlib without ZLIB_CONST */
    zs.avail_in = (uInt)strlen(text);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    n = cap - zs.avail_out;
    deflateEnd(&zs);
    return n;
}

static const char TEXT[] = "{\"name\":\"Jane\",\"card\":\"4539148803436467\",\"x\":\"aaaaaaaaaa\"}";

/* gzip and zlib bodies (no content-encoding is seen without HPACK) are inflated,
 * each frame cut anywhere in the compressed bytes; a body that only starts
 * with one byte of such a header stays as it is. */
static void compressed_bodies(void **state)
{
    uint8_t gz[256], zl[256];
    size_t ngz = zip(TEXT, gz, sizeof(gz), 31), nzl = zip(TEXT, zl, sizeof(zl), 15);
    buf_t in = {0};
    const exp_t e[] = {S(TEXT), S(TEXT),
                       S("\x1f"
                         "plain")};

    (void)state;
    client_start(&in);
    frame(&in, 0, 0, 1, gz, 1);
    frame(&in, 0, 0, 1, gz + 1, 10);
    frame(&in, 0, 0x01, 1, gz + 11, ngz - 11);
    frame(&in, 0, 0, 3, zl, 5);
    frame(&in, 0, 0x01, 3, zl + 5, nzl - 5);
    frame_s(&in, 0, 0x01, 5,
            "\x1f"
            "plain");
    check(&in, &CLIENT, e, NE(e), NULL, 0);
    free(in.p);
}

/* A malformed frame: the rest is handed back from its header's first byte. */
static void malformed_lengths(void **state)
{
    static const struct {
        int type, flags;
        uint32_t sid;
        const char *pl;
        size_t n;
    } bad[] = {
        {6, 0, 0, "1234567", 7}, /* PING not 8 */
        {4, 0, 0, "12345", 5},   /* SETTINGS not a multiple of 6 */
        {4, 1, 0, "123456", 6},  /* SETTINGS ACK with a payload */
        {4, 0, 1, "", 0},        /* SETTINGS on a stream */
        {3, 0, 1, "123", 3},     /* RST_STREAM not 4 */
        {2, 0, 1, "1234", 4},    /* PRIORITY not 5 */
        {8, 0, 0, "12345", 5},   /* WINDOW_UPDATE not 4 */
        {7, 0, 0, "1234567", 7}, /* GOAWAY under 8 */
        {0, 0, 0, "data", 4},    /* DATA on stream 0 */
        {1, 4, 0, "hb", 2},      /* HEADERS on stream 0 */
        {0, 0x08, 1,
         "\x05"
         "abcd",
         5},                 /* padding as long as the payload */
        {0, 0x08, 1, "", 0}, /* padded without a pad length */
    };

    (void)state;
    for (size_t i = 0; i < NE(bad); i++) {
        buf_t in = {0}, tail = {0};
        const exp_t e[] = {S("ok"), N(N_ERR, 0)};

        client_start(&in);
        frame_s(&in, 0, 0x01, 1, "ok");
        frame(&tail, bad[i].type, bad[i].flags, bad[i].sid, bad[i].pl, bad[i].n);
        put(&tail, "after 4539148803436467", 22);
        put(&in, tail.p, tail.n);
        check(&in, &CLIENT, e, NE(e), tail.p, tail.n);
        free(in.p);
        free(tail.p);
    }
}

/* Not HTTP/2: a preface that differs, a first frame that is not SETTINGS. */
static void not_h2(void **state)
{
    static const char notpre[] = "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\nrest";
    buf_t in = {0}, in2 = {0};
    const exp_t e[] = {N(N_ERR, 0)};

    (void)state;
    put(&in, notpre, sizeof(notpre) - 1);
    check(&in, &CLIENT, e, NE(e), notpre, sizeof(notpre) - 1);
    frame_s(&in2, 0, 0, 1, "data first");
    check(&in2, &SERVER, e, NE(e), in2.p, in2.n);
    free(in.p);
    free(in2.p);
}

/* frame_max: a longer frame is no HTTP/2. */
static void frame_limit(void **state)
{
    buf_t in = {0}, tail = {0};
    const dlp_h2_opts_t o = {.client = true, .frame_max = 16};
    const exp_t e[] = {S("sixteen bytes ok"), N(N_ERR, 0)};

    (void)state;
    client_start(&in);
    frame_s(&in, 0, 0x01, 1, "sixteen bytes ok");
    frame_s(&tail, 0, 0x01, 3, "seventeen bytes!!");
    put(&in, tail.p, tail.n);
    check(&in, &o, e, NE(e), tail.p, tail.n);
    free(in.p);
    free(tail.p);
}

/* Over streams_max open bodies: the least recently written one ends to make
 * room; its later data opens a new stream (nothing lost). */
static void stream_limit(void **state)
{
    buf_t in = {0};
    const dlp_h2_opts_t o = {.client = true, .streams_max = 2};
    const exp_t e[] = {S("a1"), S("b1b2"), S("c1c2"), S("a2")};

    (void)state;
    client_start(&in);
    frame_s(&in, 0, 0, 1, "a1");
    frame_s(&in, 0, 0, 3, "b1");
    frame_s(&in, 0, 0, 3, "b2");
    frame_s(&in, 0, 0, 5, "c1"); /* ends stream 1's body */
    frame_s(&in, 0, 0, 5, "c2");
    frame_s(&in, 0, 0x01, 1, "a2");
    check(&in, &o, e, NE(e), NULL, 0);
    free(in.p);
}

static void gaps(void **state)
{
    buf_t in = {0};
    dlp_h2_t *h;
    ts_sink_t t = {0};
    size_t used;

    (void)state;
    client_start(&in);
    frame_s(&in, 0, 0, 1, "before-gap-after");
    h = dlp_h2_new(&ts_sink_ops, &t, NULL, &CLIENT);
    assert_non_null(h);
    /* inside a payload: the stream goes on in a new content stream */
    assert_int_equal(dlp_h2_write(h, in.p, in.n - 10, &used), DLP_OK);
    assert_int_equal(dlp_h2_gap(h, 4), DLP_OK);
    assert_int_equal(dlp_h2_write(h, in.p + in.n - 6, 6, &used), DLP_OK);
    /* in a frame header: the framing is lost */
    assert_int_equal(dlp_h2_write(h, (const uint8_t *)"\x00\x00", 2, &used), DLP_OK);
    assert_int_equal(dlp_h2_gap(h, 3), DLP_EPROTO);
    assert_int_equal(dlp_h2_write(h, (const uint8_t *)"x", 1, &used), DLP_EPROTO);
    assert_int_equal(used, 0);
    dlp_h2_end(h);
    assert_int_equal(t.n, 3);
    assert_string_equal(ts_str(&t, 0), "before");
    assert_string_equal(ts_str(&t, 1), "-after");
    assert_int_equal(t.item[2].kind, 'N');
    assert_int_equal(t.item[2].field, N_ERR);
    assert_true(dlp_h2_mem(h) > 0);
    dlp_h2_free(h);
    ts_reset(&t);
    free(in.p);
}

/* The direction ends inside a frame: what came is scanned, the cut noted. */
static void cut_short(void **state)
{
    buf_t in = {0};
    const exp_t e[] = {S("half a bo"), N(N_ERR, 0)};

    (void)state;
    client_start(&in);
    frame_s(&in, 0, 0x01, 1, "half a body");
    in.n -= 2;
    check(&in, &CLIENT, e, NE(e), NULL, 0);
    free(in.p);
}

/* Bytes not inspected are counted as they pass: a header block, GOAWAY's debug data
 * (not its 8 fixed bytes), a header block cut short by the end (only what came). */
/* HPACK (RFC 7541): :method POST, :scheme http, :path /pay/4539148803436467
 * (literal), content-encoding: deflate (Huffman), x-card: 4539148803436467
 * (name and value Huffman-coded). */
static const char HB_CARD[] =
    "\x83\x86\x44\x15/pay/4539148803436467\x5a\x85\x90\xb2\xd0\x34\x97\x40\x85\xf2\xb1\x07"
    "\x64\x9f\x8c\x69\xb6\x5f\x0b\x4f\x3c\x06\x5a\x65\xc6\x9c\x77";
#define HB_CARD_LEN (sizeof(HB_CARD) - 1)
#define HB_CARD_TEXT                                                                   \
    ":method: POST\n:scheme: http\n"                                                  \
    "content-encoding: deflate\nx-card: 4539148803436467\n"

/* The block cut at every byte between a padded HEADERS frame with priority
 * fields and a CONTINUATION (and the rest in a second one); the body is raw
 * deflate (no magic to sniff): inflated because the header says so. */
static void header_block_split(void **state)
{
    uint8_t dfl[256];
    size_t ndfl = zip(TEXT, dfl, sizeof(dfl), -15);
    const exp_t e[] = {H(HB_CARD_TEXT), U("/pay/4539148803436467"), S(TEXT)};

    (void)state;
    for (size_t cut = 0; cut <= HB_CARD_LEN; cut++) {
        buf_t in = {0};
        uint8_t first[128];
        size_t rest = HB_CARD_LEN - cut, half = rest / 2;

        first[0] = 3; /* pad length */
        memcpy(first + 1, "\x00\x00\x00\x00\x10", 5); /* priority: E, stream 0, weight */
        memcpy(first + 6, HB_CARD, cut);
        memcpy(first + 6 + cut, "4539", 3); /* padding: never read */
        client_start(&in);
        frame(&in, 1, 0x08 | 0x20, 1, first, 6 + cut + 3); /* PADDED | PRIORITY */
        frame(&in, 9, 0, 1, HB_CARD + cut, half);
        frame(&in, 9, 0x04, 1, HB_CARD + cut + half, rest - half); /* END_HEADERS */
        frame(&in, 0, 0x01, 1, dfl, ndfl);
        check(&in, &CLIENT, e, NE(e), NULL, 0);
        free(in.p);
    }
}

/* A block that does not decode is scanned raw, noted decoder_error; the
 * table is then unknown: the next block is not inspected (noted, counted). */
static void header_block_bad(void **state)
{
    static const char *const BAD[] = {
        "\xbe",                 /* index 62: the table is empty */
        "\x41\x81\x00",         /* Huffman padding of zeros */
        "\x41\x84\xff\xff\xff\xff", /* EOS */
        "\x3f\xe2\xff\x03",     /* a table size of 65537 */
    };

    (void)state;
    for (size_t i = 0; i < NE(BAD); i++) {
        buf_t in = {0};
        uint8_t raw[16];
        size_t n = strlen(BAD[i]);
        exp_t e[] = {N(N_ERR, 0), R("x"), N(N_UNS, 0), S("body")};

        memcpy(raw, BAD[i], n);
        e[1].data = (const char *)raw;
        e[1].len = n;
        client_start(&in);
        frame(&in, 1, 0x04, 1, BAD[i], n);
        frame(&in, 1, 0x04, 3, HB, HB_LEN);
        frame_s(&in, 0, 0x01, 3, "body");
        check(&in, &CLIENT, e, NE(e), NULL, 0);
        free(in.p);
    }
}

/* A block over DLP_H2_HBLOCK_MAX: scanned raw (every byte, across frames),
 * noted header_cap; a gap inside a block: what came is scanned raw. */
static void header_block_bounds(void **state)
{
    size_t big = DLP_H2_HBLOCK_MAX + 100;
    uint8_t *blk = malloc(big);
    buf_t in = {0};
    out_t *o;
    dlp_h2_t *h;
    size_t used;
    int r;

    (void)state;
    assert_non_null(blk);
    memset(blk, 'a', big);
    client_start(&in);
    frame(&in, 1, 0, 1, blk, big / 2);
    frame(&in, 9, 0x04, 1, blk + big / 2, big - big / 2);
    o = run(&in, &CLIENT, 0, 0);
    assert_int_equal(o->t.item[0].kind, 'N');
    assert_int_equal(o->t.item[0].field, DLP_NOTE_HEADER_CAP);
    r = ts_find(&o->t, 'S', DLP_FIELD_RAW, 0);
    assert_true(r >= 0);
    assert_int_equal(o->t.item[r].len, big);
    out_free(o);
    free(in.p);

    in = (buf_t){0};
    o = calloc(1, sizeof(*o));
    assert_non_null(o);
    h = dlp_h2_new(&ts_sink_ops, &o->t, NULL, &CLIENT);
    client_start(&in);
    frame(&in, 1, 0x04, 1, HB, HB_LEN);
    assert_int_equal(dlp_h2_write(h, in.p, in.n - 5, &used), DLP_OK);
    assert_int_equal(dlp_h2_gap(h, 5), DLP_OK);
    dlp_h2_end(h);
    r = ts_find(&o->t, 'S', DLP_FIELD_RAW, 0);
    assert_true(r >= 0);
    assert_int_equal(o->t.item[r].len, HB_LEN - 5);
    dlp_h2_free(h);
    out_free(o);
    free(in.p);
    free(blk);
}

static void uninspected_counted(void **state)
{
    buf_t in = {0};
    ts_sink_t t = {0};
    dlp_h2_t *h = dlp_h2_new(&ts_sink_ops, &t, NULL, &CLIENT);
    size_t used;

    (void)state;
    assert_non_null(h);
    client_start(&in);
    frame(&in, 1, 0x04, 1, HB, HB_LEN);
    frame(&in, 7, 0, 0,
          "\x00\x00\x00\x01\x00\x00\x00\x00"
          "debug",
          13); /* GOAWAY */
    frame(&in, 1, 0x04, 3, HB, HB_LEN);
    in.n -= 4;
    for (size_t i = 0; i < in.n; i++)
        assert_int_equal(dlp_h2_write(h, in.p + i, 1, &used), DLP_OK);
    dlp_h2_end(h);
    /* GOAWAY's debug data; the blocks are decoded (the cut one scanned raw) */
    assert_int_equal(dlp_h2_take_uninspected(h), 5);
    assert_int_equal(dlp_h2_take_uninspected(h), 0);
    dlp_h2_free(h);
    ts_reset(&t);
    free(in.p);
}

static void sniff(void **state)
{
    (void)state;
    assert_int_equal(dlp_h2_sniff((const uint8_t *)"PRI * HTTP/2.0\r\n", 16), DLP_OK);
    assert_int_equal(dlp_h2_sniff((const uint8_t *)"PRI * HT", 8), DLP_AGAIN);
    assert_int_equal(dlp_h2_sniff((const uint8_t *)"PRI / HTTP/1.1\r\n", 16), DLP_EINVAL);
    assert_int_equal(dlp_h2_sniff((const uint8_t *)"GET / HTTP/1.1\r\n", 16), DLP_EINVAL);
}

/* The HTTP/1 parser lets both directions go after a 101 to h2c, and says so. */
static void http_upgrade(void **state)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    static const char resp[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                               "Upgrade: h2c\r\n\r\n\x00\x00\x00\x04";
    static const char pre[] = DLP_H2_PREFACE;
    ts_sink_t t[2] = {0};
    void *ctx[2] = {&t[0], &t[1]};
    dlp_http_t *h = dlp_http_new(&ts_sink_ops, ctx, NULL);
    size_t used;

    (void)state;
    assert_non_null(h);
    assert_int_equal(dlp_http_write(h, 0, (const uint8_t *)req, sizeof(req) - 1, &used), DLP_OK);
    assert_false(dlp_http_h2c(h));
    assert_int_equal(dlp_http_write(h, 1, (const uint8_t *)resp, sizeof(resp) - 1, &used),
                     DLP_DONE);
    assert_int_equal(used, sizeof(resp) - 1 - 4);
    assert_true(dlp_http_h2c(h));
    assert_int_equal(dlp_http_write(h, 0, (const uint8_t *)pre, sizeof(pre) - 1, &used), DLP_DONE);
    assert_int_equal(used, 0);
    dlp_http_free(h);
    ts_reset(&t[0]);
    ts_reset(&t[1]);
    /* a 101 to WebSocket is not h2c */
    h = dlp_http_new(&ts_sink_ops, ctx, NULL);
    assert_non_null(h);
    assert_int_equal(dlp_http_write(h, 0,
                                    (const uint8_t *)"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
                                    38, &used),
                     DLP_OK);
    assert_int_equal(dlp_http_write(h, 1, (const uint8_t *)"HTTP/1.1 101 OK\r\n\r\n", 19, &used),
                     DLP_DONE);
    assert_false(dlp_http_h2c(h));
    dlp_http_free(h);
    ts_reset(&t[0]);
    ts_reset(&t[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(card_across_data_frames),
        cmocka_unit_test(padding_stripped),
        cmocka_unit_test(interleaved_streams),
        cmocka_unit_test(compressed_bodies),
        cmocka_unit_test(malformed_lengths),
        cmocka_unit_test(not_h2),
        cmocka_unit_test(frame_limit),
        cmocka_unit_test(stream_limit),
        cmocka_unit_test(gaps),
        cmocka_unit_test(cut_short),
        cmocka_unit_test(header_block_split),
        cmocka_unit_test(header_block_bad),
        cmocka_unit_test(header_block_bounds),
        cmocka_unit_test(uninspected_counted),
        cmocka_unit_test(sniff),
        cmocka_unit_test(http_upgrade),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
