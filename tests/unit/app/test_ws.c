/*
 * test_ws.c - the WebSocket decoder: masked and unmasked frames, 7/16/64-bit
 * lengths, fragmented messages with a ping between the fragments, control
 * payloads as blocks, permessage-deflate with context takeover across
 * messages (and a sender that ends its DEFLATE stream per message),
 * no_context_takeover, framing errors handed back raw from the failed
 * frame's first byte, gaps, a direction cut short, the frame and
 * decompression bounds, memory accounting; and what the HTTP parser tells
 * of an upgrade (dlp_http_websocket: Upgrade token, the no_context_takeover
 * parameters the 101 agreed).
 *
 * Every input is decoded in one write, split in two at every offset, and in
 * 1-byte writes: the recorded output and the raw rest must be identical.
 * Compressed bytes are made here with zlib (raw deflate, Z_SYNC_FLUSH, the
 * trailing 00 00 ff ff removed, as RFC 7692 7.2.1 has the sender do).
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "app_test_sink.h"
#include "dlp/http.h"
#include "dlp/stage.h"
#include "dlp/ws.h"

#define F_WS DLP_FIELD_WS_MESSAGE
#define N_ERR DLP_NOTE_DECODER_ERROR

/* --- building input ------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf_t;

static void put(buf_t *b, const void *p, size_t n)
{
    b->p = realloc(b->p, b->n + n + 1);
    assert_non_null(b->p);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* One frame; key NULL: unmasked. */
static void frame(buf_t *b, int fin, int rsv1, int op, const void *pl, size_t n, const uint8_t *key)
{
    uint8_t h[14];
    size_t nh = 0;
    uint8_t m = key != NULL ? 0x80 : 0;

    h[nh++] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
    if (n < 126) {
        h[nh++] = (uint8_t)(m | n);
    } else if (n < 65536) {
        h[nh++] = m | 126;
        h[nh++] = (uint8_t)(n >> 8);
        h[nh++] = (uint8_t)n;
    } else {
        h[nh++] = m | 127;
        for (int i = 7; i >= 0; i--)
            h[nh++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (key != NULL) {
        memcpy(h + nh, key, 4);
        nh += 4;
    }
    put(b, h, nh);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = ((const uint8_t *)pl)[i] ^ (key != NULL ? key[i & 3] : 0);
        put(b, &c, 1);
    }
}

static const uint8_t K1[4] = {0x37, 0xfa, 0x21, 0x3d};
static const uint8_t K2[4] = {0x00, 0xff, 0x5a, 0xa5};

/* A message compressed on zs, sync-flushed, its 00 00 ff ff removed. */
static size_t deflated(z_stream *zs, const char *text, uint8_t *out, size_t cap, int flush)
{
    zs->next_in = (Bytef *)(uintptr_t)text;
    zs->avail_in = (uInt)strlen(text);
    zs->next_out = out;
    zs->avail_out = (uInt)cap;
    assert_true(deflate(zs, flush) >= Z_OK);
    assert_int_equal(zs->avail_in, 0);
    if (flush == Z_SYNC_FLUSH) {
        size_t n = cap - zs->avail_out;
        assert_memory_equal(out + n - 4, "\x00\x00\xff\xff", 4);
        return n - 4;
    }
    return cap - zs->avail_out;
}

static void deflater(z_stream *zs)
{
    memset(zs, 0, sizeof(*zs));
    assert_int_equal(deflateInit2(zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
}

/* One whole compressed message (RSV1) of opcode op: text compressed on zs. */
static void zframe(buf_t *b, z_stream *zs, int op, const char *text, int flush, const uint8_t *key)
{
    static uint8_t c[8192];
    size_t n = deflated(zs, text, c, sizeof(c), flush);

    frame(b, 1, 1, op, c, n, key);
}

/* --- running -------------------------------------------------------------- */

typedef struct out {
    ts_sink_t t;
    buf_t raw;  /* what the decoder handed back after a framing error */
    int failed; /* DLP_EPROTO seen */
} out_t;

static void feed(dlp_ws_t *w, out_t *o, const uint8_t *p, size_t n)
{
    size_t used = 999999;
    dlp_rc_t rc;

    if (o->failed) {
        put(&o->raw, p, n);
        return;
    }
    rc = dlp_ws_write(w, p, n, &used);
    if (rc == DLP_EPROTO) {
        const uint8_t *held;
        size_t nh = dlp_ws_held(w, &held);

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
static out_t *run(const buf_t *in, const dlp_ws_opts_t *opts, const dlp_app_limits_t *l, int mode,
                  size_t at)
{
    out_t *o = calloc(1, sizeof(*o));
    dlp_ws_t *w;

    assert_non_null(o);
    w = dlp_ws_new(&ts_sink_ops, &o->t, l, opts);
    assert_non_null(w);
    if (mode == 0) {
        feed(w, o, in->p, in->n);
    } else if (mode == 1) {
        feed(w, o, in->p, at);
        feed(w, o, in->p + at, in->n - at);
    } else {
        for (size_t i = 0; i < in->n; i++)
            feed(w, o, in->p + i, 1);
    }
    dlp_ws_end(w);
    dlp_ws_free(w);
    return o;
}

static void out_free(out_t *o)
{
    ts_reset(&o->t);
    free(o->raw.p);
    free(o);
}

/* Decodes in every way; checks the items and the raw rest ("" : none). */
static void check(const buf_t *in, const dlp_ws_opts_t *opts, const dlp_app_limits_t *l,
                  const exp_t *e, size_t ne, const char *raw, size_t nraw)
{
    out_t *whole = run(in, opts, l, 0, 0);

    ts_check_items(&whole->t, e, ne);
    assert_int_equal(whole->raw.n, nraw);
    if (nraw > 0)
        assert_memory_equal(whole->raw.p, raw, nraw);
    for (size_t mode = 1; mode <= 2; mode++) {
        /* every cut of a short input; some 60 cuts across a long one */
        size_t last = mode == 1 ? in->n : 0, step = in->n < 2048 ? 1 : in->n / 60;
        for (size_t at = 0; at <= last; at += step) {
            out_t *o = run(in, opts, l, (int)mode, at);
            if (!ts_equal(&whole->t, &o->t)) {
                ts_dump(&whole->t);
                ts_dump(&o->t);
                fail_msg("mode %zu at %zu differs", mode, at);
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
#define S(d) {'S', F_WS, "", (d), sizeof(d) - 1, 0}
#define B(d) {'B', F_WS, "", (d), sizeof(d) - 1, 0}
#define N(n) {'N', (n), "", NULL, 0, 0}
/* clang-format on */
#define NE(a) (sizeof(a) / sizeof((a)[0]))

/* --- frames ----------------------------------------------------------------- */

static void masked_and_unmasked(void **state)
{
    buf_t in = {0};
    static const exp_t e[] = {S("card 4127 9691 4008 2484"), S("plain binary"), S("x")};

    (void)state;
    frame(&in, 1, 0, 1, "card 4127 9691 4008 2484", 24, K1);
    frame(&in, 1, 0, 2, "plain binary", 12, NULL); /* server frames are not masked */
    frame(&in, 1, 0, 1, "", 0, K2);                /* an empty message opens nothing */
    frame(&in, 1, 0, 1, "x", 1, K2);
    check(&in, NULL, NULL, e, NE(e), "", 0);
    free(in.p);
}

/* 125 bytes (7-bit), 126 and 65535 (16-bit), 65536 and 70000 (64-bit). */
static void lengths(void **state)
{
    static const size_t lens[] = {125, 126, 65535, 65536, 70000};

    (void)state;
    for (size_t i = 0; i < NE(lens); i++) {
        buf_t in = {0};
        char *pl = malloc(lens[i] + 1);
        exp_t e[1] = {{'S', F_WS, "", NULL, lens[i], 0}};

        assert_non_null(pl);
        for (size_t k = 0; k < lens[i]; k++)
            pl[k] = (char)('a' + (k * 7 + i) % 26);
        pl[lens[i]] = '\0';
        e[0].data = pl;
        frame(&in, 1, 0, 2, pl, lens[i], K1);
        check(&in, NULL, NULL, e, 1, "", 0);
        free(pl);
        free(in.p);
    }
}

/* A message in three fragments, a ping and a pong between them; a close. */
static void fragments_and_control(void **state)
{
    buf_t in = {0};
    static const exp_t e[] = {S("{\"ssn\":\"536-22-8417\"}"), B("keepalive 4716"), B("pong"),
                              B("\003\350bye")};

    (void)state;
    frame(&in, 0, 0, 1, "{\"ssn\":\"536-", 12, K1);
    frame(&in, 1, 0, 9, "keepalive 4716", 14, K2);
    frame(&in, 0, 0, 0, "22-", 3, K2);
    frame(&in, 1, 0, 10, "pong", 4, K1);
    frame(&in, 1, 0, 0, "8417\"}", 6, K1);
    frame(&in, 1, 0, 8, "\003\350bye", 5, K1);
    check(&in, NULL, NULL, e, NE(e), "", 0);
    free(in.p);
}

/*
 * JSON escapes are undone in a text message that starts like JSON, the
 * escapes cut by the fragments and by every split; not in a binary message
 * or in text that does not start like JSON.
 */
static void json_text(void **state)
{
    buf_t in = {0};
    static const exp_t e[] = {S(" {\"mail\":\"jane.doe@example.com\",\"k\":\"\xf0\x9f\x98\x80\"}"),
                              S("42[\"m\",\"4539\"]"), S("{\"b\":\"\\u0034\"}"), S("note \\u0034")};

    (void)state;
#define LIT(s) s, sizeof(s) - 1
    frame(&in, 0, 0, 1, LIT(" {\"mail\":\"jane.doe\\u00"), K1);
    frame(&in, 0, 0, 0, LIT("40example.com\",\"k\":\"\\uD83D"), K2);
    frame(&in, 1, 0, 0, LIT("\\uDE00\"}"), K1);
    frame(&in, 1, 0, 1, LIT("42[\"m\",\"\\u0034539\"]"), K2);
    frame(&in, 1, 0, 2, LIT("{\"b\":\"\\u0034\"}"), K1);
    frame(&in, 1, 0, 1, LIT("note \\u0034"), NULL);
#undef LIT
    check(&in, NULL, NULL, e, NE(e), "", 0);
    free(in.p);
}

/* --- permessage-deflate ------------------------------------------------------- */

static const char MSG1[] = "{\"type\":\"contact\",\"user\":\"lee\",\"room\":\"support\"}";
static const char MSG2[] =
    "{\"type\":\"contact\",\"user\":\"lee\",\"mail\":\"lee.ws@example.org\"}";

/* Two messages of one DEFLATE stream: the second refers to the first. */
static void deflate_context_takeover(void **state)
{
    buf_t in = {0};
    z_stream zs;
    uint8_t c[512];
    size_t n;
    static const exp_t e[] = {S(MSG1), S("uncompressed"), S(MSG2)};

    (void)state;
    deflater(&zs);
    zframe(&in, &zs, 1, MSG1, Z_SYNC_FLUSH, K1);
    frame(&in, 1, 0, 1, "uncompressed", 12, K2); /* RSV1 clear: as it is */
    n = deflated(&zs, MSG2, c, sizeof(c), Z_SYNC_FLUSH);
    assert_true(n < strlen(MSG2) - 20); /* it does refer back */
    /* fragmented: RSV1 on the first frame only */
    frame(&in, 0, 1, 1, c, n / 2, K2);
    frame(&in, 1, 0, 0, c + n / 2, n - n / 2, K1);
    deflateEnd(&zs);
    check(&in, NULL, NULL, e, NE(e), "", 0);

    /* told no_context_takeover, the decoder starts each message afresh: the
     * second one (which refers back) does not inflate, noted */
    {
        dlp_ws_opts_t o = {.no_context_takeover = true};
        out_t *r = run(&in, &o, NULL, 0, 0);
        assert_int_equal(ts_find(&r->t, 'N', N_ERR, 0) >= 0, 1);
        assert_string_equal(ts_str(&r->t, 0), MSG1);
        out_free(r);
    }
    free(in.p);
}

/* A sender without context takeover: decoded either way; the inflater is freed
 * between messages only when told. */
static void deflate_no_context_takeover(void **state)
{
    buf_t in = {0};
    z_stream zs;
    static const exp_t e[] = {S(MSG1), S(MSG2)};
    dlp_ws_opts_t nct = {.no_context_takeover = true};
    dlp_ws_t *w;
    ts_sink_t t = {0};

    (void)state;
    deflater(&zs);
    zframe(&in, &zs, 1, MSG1, Z_SYNC_FLUSH, K1);
    assert_int_equal(deflateReset(&zs), Z_OK);
    zframe(&in, &zs, 2, MSG2, Z_SYNC_FLUSH, K2);
    deflateEnd(&zs);
    check(&in, &nct, NULL, e, NE(e), "", 0);
    check(&in, NULL, NULL, e, NE(e), "", 0);

    w = dlp_ws_new(&ts_sink_ops, &t, NULL, &nct);
    assert_non_null(w);
    assert_int_equal(dlp_ws_write(w, in.p, in.n, NULL), DLP_OK);
    assert_true(dlp_ws_mem(w) < 1024); /* nothing kept between messages */
    dlp_ws_free(w);
    ts_reset(&t);
    w = dlp_ws_new(&ts_sink_ops, &t, NULL, NULL);
    assert_non_null(w);
    assert_int_equal(dlp_ws_write(w, in.p, in.n, NULL), DLP_OK);
    assert_true(dlp_ws_mem(w) >= DLP_STAGE_INFLATE_MEM); /* the window, for the next one */
    dlp_ws_free(w);
    ts_reset(&t);
    free(in.p);
}

/* A sender that ends its DEFLATE stream (BFINAL) with each message and keeps
 * the window: the next stream starts with the old window as its dictionary. */
static void deflate_final_block(void **state)
{
    buf_t in = {0};
    z_stream zs;
    static const exp_t e[] = {S(MSG1), S(MSG2)};

    (void)state;
    deflater(&zs);
    zframe(&in, &zs, 1, MSG1, Z_FINISH, K1);
    assert_int_equal(deflateReset(&zs), Z_OK);
    assert_int_equal(deflateSetDictionary(&zs, (const Bytef *)MSG1, sizeof(MSG1) - 1), Z_OK);
    zframe(&in, &zs, 1, MSG2, Z_FINISH, K2);
    deflateEnd(&zs);
    check(&in, NULL, NULL, e, NE(e), "", 0);
    free(in.p);
}

/* Bytes after the end of a message's DEFLATE stream (BFINAL) are not DEFLATE,
 * but a receiver may read them: passed on as they are, noted; the next message
 * is inflated again, with the window. */
static void deflate_trailing(void **state)
{
    buf_t in = {0};
    z_stream zs;
    static uint8_t c[600];
    char want[sizeof(MSG1) + 24];
    size_t n = (size_t)snprintf(want, sizeof(want), "%scard 4127 9691 4008 2484", MSG1);
    const exp_t e[] = {{'S', F_WS, "", want, n, 0}, N(N_ERR), S(MSG2)};

    (void)state;
    deflater(&zs);
    n = deflated(&zs, MSG1, c, sizeof(c), Z_FINISH);
    memcpy(c + n, "card 4127 9691 4008 2484", 24);
    frame(&in, 1, 1, 1, c, n + 24, K1);
    assert_int_equal(deflateReset(&zs), Z_OK);
    assert_int_equal(deflateSetDictionary(&zs, (const Bytef *)MSG1, sizeof(MSG1) - 1), Z_OK);
    zframe(&in, &zs, 1, MSG2, Z_SYNC_FLUSH, K2);
    deflateEnd(&zs);
    check(&in, NULL, NULL, e, NE(e), "", 0);
    free(in.p);
}

/* Corrupt compressed data: noted, the rest of that message not inspected,
 * the next message decoded by a fresh inflater. */
static void deflate_corrupt(void **state)
{
    buf_t in = {0};
    z_stream zs;
    static const exp_t e[] = {N(N_ERR), S(MSG2)};

    (void)state;
    frame(&in, 1, 1, 1, "\xff\xff\xff\xff", 4, K1); /* BTYPE 11: invalid */
    deflater(&zs);
    zframe(&in, &zs, 1, MSG2, Z_SYNC_FLUSH, K2);
    deflateEnd(&zs);
    check(&in, NULL, NULL, e, NE(e), "", 0);
    free(in.p);
}

/* decomp_max per message: exactly the cap passed on, noted; the next message
 * is decoded again. */
static void deflate_cap(void **state)
{
    buf_t in = {0};
    z_stream zs;
    char big[5001];
    dlp_app_limits_t l;
    static const exp_t e[] = {{'S', F_WS, "", NULL, 1000, 0}, N(DLP_NOTE_DECOMP_CAP), S("after")};
    exp_t ex[3];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(ex, e, sizeof(ex));
    ex[0].data = big;
    dlp_app_limits_default(&l);
    l.decomp_max = 1000;
    deflater(&zs);
    zframe(&in, &zs, 1, big, Z_SYNC_FLUSH, K1);
    assert_int_equal(deflateReset(&zs), Z_OK);
    zframe(&in, &zs, 1, "after", Z_SYNC_FLUSH, K2);
    deflateEnd(&zs);
    check(&in, NULL, &l, ex, 3, "", 0);
    free(in.p);
}

/* --- not WebSocket ------------------------------------------------------------ */

/* An h2c preface where frames were expected: all of it back, raw. */
static void framing_error_at_start(void **state)
{
    buf_t in = {0};
    static const char h2[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    static const exp_t e[] = {N(N_ERR)};

    (void)state;
    puts_(&in, h2);
    check(&in, NULL, NULL, e, NE(e), h2, sizeof(h2) - 1);
    free(in.p);
}

/* After a good frame, a bad one: raw from its first byte, held bytes included. */
static void framing_error_after_frames(void **state)
{
    static const uint8_t bad[][10] = {
        {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0}, /* 64-bit length, top bit set */
        {0x89, 0xfe, 0, 126, 0, 0, 0, 0, 0, 0},  /* a 126-byte ping */
        {0x80, 0x81, 0, 0, 0, 0, 0, 0, 0, 0},    /* a continuation without a message */
        {0xa2, 0x81, 0, 0, 0, 0, 0, 0, 0, 0},    /* RSV2 */
        {0x83, 0x81, 0, 0, 0, 0, 0, 0, 0, 0},    /* opcode 3 */
        {0xc0, 0x81, 0, 0, 0, 0, 0, 0, 0, 0},    /* RSV1 on a continuation (after 0x01) */
    };
    static const exp_t e[] = {S("hello"), N(N_ERR)};

    (void)state;
    for (size_t i = 0; i < NE(bad); i++) {
        buf_t in = {0}, raw = {0};

        frame(&in, 1, 0, 1, "hello", 5, K1);
        if (i == 5)
            frame(&in, 0, 0, 1, "", 0, K1); /* a message begun, empty so far */
        put(&in, bad[i], sizeof(bad[i]));
        puts_(&in, "the card 4127 9691 4008 2484");
        put(&raw, bad[i], sizeof(bad[i]));
        puts_(&raw, "the card 4127 9691 4008 2484");
        check(&in, NULL, NULL, e, NE(e), (const char *)raw.p, raw.n);
        free(in.p);
        free(raw.p);
    }
}

/* frame_max: a longer frame is taken for garbage. */
static void frame_limit(void **state)
{
    buf_t in = {0}, raw = {0};
    dlp_ws_opts_t o = {.frame_max = 100};
    char pl[200];
    static const exp_t e[] = {S("ok"), N(N_ERR)};

    (void)state;
    memset(pl, 'z', sizeof(pl));
    frame(&in, 1, 0, 2, "ok", 2, K1);
    frame(&raw, 1, 0, 2, pl, sizeof(pl), K2);
    put(&in, raw.p, raw.n);
    check(&in, &o, NULL, e, NE(e), (const char *)raw.p, raw.n);
    free(in.p);
    free(raw.p);
}

/* --- gaps, end, memory -------------------------------------------------------- */

static void gaps(void **state)
{
    buf_t in = {0};
    ts_sink_t t = {0};
    dlp_ws_t *w;
    size_t used;

    (void)state;
    /* in a payload: framing kept, the message goes on in a new stream, and the
     * mask stays in step */
    frame(&in, 1, 0, 1, "abcdefghij-card 4127 9691 4008 2484", 35, K1);
    frame(&in, 1, 0, 1, "next", 4, K2);
    w = dlp_ws_new(&ts_sink_ops, &t, NULL, NULL);
    assert_non_null(w);
    assert_int_equal(dlp_ws_write(w, in.p, 6 + 3, &used), DLP_OK);
    assert_int_equal(dlp_ws_gap(w, 7), DLP_OK);
    assert_int_equal(dlp_ws_write(w, in.p + 16, in.n - 16, &used), DLP_OK);
    dlp_ws_end(w);
    assert_int_equal(t.n, 3);
    assert_string_equal(ts_str(&t, 0), "abc");
    assert_string_equal(ts_str(&t, 1), "-card 4127 9691 4008 2484");
    assert_string_equal(ts_str(&t, 2), "next");
    dlp_ws_free(w);
    ts_reset(&t);

    /* in a header, or past the frame's end: framing lost */
    w = dlp_ws_new(&ts_sink_ops, &t, NULL, NULL);
    assert_non_null(w);
    assert_int_equal(dlp_ws_write(w, in.p, 1, &used), DLP_OK);
    assert_int_equal(dlp_ws_gap(w, 3), DLP_EPROTO);
    assert_int_equal(dlp_ws_write(w, in.p + 4, 4, &used), DLP_EPROTO);
    assert_int_equal(used, 0);
    assert_int_equal(t.n, 0); /* the gap is the caller's note */
    dlp_ws_free(w);
    w = dlp_ws_new(&ts_sink_ops, &t, NULL, NULL);
    assert_non_null(w);
    assert_int_equal(dlp_ws_write(w, in.p, 10, &used), DLP_OK);
    assert_int_equal(dlp_ws_gap(w, 100), DLP_EPROTO);
    dlp_ws_free(w);
    ts_reset(&t);
    free(in.p);

    /* in a ping: framing lost, what came of its payload still scanned */
    in = (buf_t){0};
    frame(&in, 1, 0, 9, "card 4127 9691 4008 2484", 24, K1);
    w = dlp_ws_new(&ts_sink_ops, &t, NULL, NULL);
    assert_non_null(w);
    assert_int_equal(dlp_ws_write(w, in.p, in.n - 5, &used), DLP_OK);
    assert_int_equal(dlp_ws_gap(w, 5), DLP_EPROTO);
    assert_int_equal(t.n, 1);
    assert_string_equal(ts_str(&t, 0), "card 4127 9691 4008");
    dlp_ws_free(w);
    ts_reset(&t);
    free(in.p);
}

/* A direction that ends inside a message: what came is scanned, noted. */
static void cut_short(void **state)
{
    buf_t in = {0};
    static const exp_t e[] = {S("part one"), N(N_ERR)};

    (void)state;
    frame(&in, 0, 0, 1, "part one", 8, K1);
    frame(&in, 1, 0, 0, "never seen", 10, K2);
    in.n -= 13; /* three bytes of the second frame's header came */
    check(&in, NULL, NULL, e, NE(e), "", 0);
    free(in.p);

    /* inside a ping: its payload so far is still scanned */
    {
        buf_t ping = {0};
        static const exp_t ep[] = {B("card 4127 9691 4008"), N(N_ERR)};

        frame(&ping, 1, 0, 9, "card 4127 9691 4008 2484", 24, K1);
        ping.n -= 5;
        check(&ping, NULL, NULL, ep, NE(ep), "", 0);
        free(ping.p);
    }
}

static void api_misuse(void **state)
{
    ts_sink_t t = {0};
    dlp_ws_t *w = dlp_ws_new(&ts_sink_ops, &t, NULL, NULL);
    const uint8_t *held = (const uint8_t *)"x";

    (void)state;
    assert_non_null(w);
    assert_null(dlp_ws_new(NULL, NULL, NULL, NULL));
    assert_int_equal(dlp_ws_write(NULL, NULL, 0, NULL), DLP_EINVAL);
    assert_int_equal(dlp_ws_write(w, NULL, 3, NULL), DLP_EINVAL);
    assert_int_equal(dlp_ws_held(w, &held), 0);
    assert_null(held);
    assert_int_equal(dlp_ws_gap(NULL, 1), DLP_EINVAL);
    assert_int_equal(dlp_ws_mem(NULL), 0);
    dlp_ws_end(NULL);
    dlp_ws_free(NULL);
    dlp_ws_free(w);
}

/* --- random frames, some bytes flipped ---------------------------------------- */

static uint32_t rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Valid traffic (messages plain and compressed, fragments, pings), then a few
 * bytes changed: whatever the decoder makes of it, under the sanitizers, the
 * same for one write, 1-byte writes and a random cut. */
static void random_inputs(void **state)
{
    (void)state;
    for (uint32_t seed = 1; seed <= 300; seed++) {
        uint32_t x = seed * 2654435761u;
        buf_t in = {0};
        z_stream zs;
        uint8_t c[1024], key[4];
        char text[300];

        deflater(&zs);
        for (int m = 0, nm = 1 + (int)(rnd(&x) % 5); m < nm; m++) {
            size_t len = rnd(&x) % sizeof(text);
            int comp = rnd(&x) % 2, frags = 1 + (int)(rnd(&x) % 3);
            const uint8_t *pl = (const uint8_t *)text;
            size_t n = len;

            for (size_t i = 0; i < len; i++)
                text[i] = (char)("card 4127 9691 4008 2484 {}\":,"[rnd(&x) % 30]);
            text[len] = '\0';
            if (comp) {
                n = deflated(&zs, text, c, sizeof(c), Z_SYNC_FLUSH);
                pl = c;
            }
            for (int f = 0; f < frags; f++) {
                size_t a = n * (size_t)f / (size_t)frags, b = n * (size_t)(f + 1) / (size_t)frags;
                for (int k = 0; k < 4; k++)
                    key[k] = (uint8_t)rnd(&x);
                frame(&in, f == frags - 1, comp && f == 0, f == 0 ? 1 : 0, pl + a, b - a,
                      rnd(&x) % 4 ? key : NULL);
                if (rnd(&x) % 4 == 0)
                    frame(&in, 1, 0, 9, "ping", 4, key);
            }
        }
        deflateEnd(&zs);
        for (int k = 0, nk = (int)(rnd(&x) % 4); k < nk && in.n > 0; k++)
            in.p[rnd(&x) % in.n] ^= (uint8_t)(1u << (rnd(&x) % 8));
        {
            out_t *a = run(&in, NULL, NULL, 0, 0);
            out_t *b = run(&in, NULL, NULL, 2, 0);
            out_t *d = run(&in, NULL, NULL, 1, in.n > 0 ? rnd(&x) % in.n : 0);

            assert_true(ts_equal(&a->t, &b->t) && ts_equal(&a->t, &d->t));
            assert_int_equal(a->raw.n, b->raw.n);
            assert_int_equal(a->raw.n, d->raw.n);
            if (a->raw.n > 0) {
                assert_memory_equal(a->raw.p, b->raw.p, a->raw.n);
                assert_memory_equal(a->raw.p, d->raw.p, a->raw.n);
            }
            out_free(a);
            out_free(b);
            out_free(d);
        }
        free(in.p);
    }
}

/* --- what HTTP tells about the upgrade (http.c) ------------------------------- */

static void http_tells(const char *req, const char *resp, bool want, dlp_http_ws_t *u)
{
    ts_sink_t *t = calloc(2, sizeof(*t));
    void *ctx[2] = {&t[0], &t[1]};
    dlp_http_t *h = dlp_http_new(&ts_sink_ops, ctx, NULL);
    size_t used;

    assert_non_null(t);
    assert_non_null(h);
    assert_int_equal(dlp_http_write(h, 0, (const uint8_t *)req, strlen(req), &used), DLP_OK);
    if (resp != NULL)
        assert_int_equal(dlp_http_write(h, 1, (const uint8_t *)resp, strlen(resp), &used),
                         DLP_DONE);
    memset(u, 0xaa, sizeof(*u));
    assert_int_equal(dlp_http_websocket(h, u), want);
    dlp_http_free(h);
    ts_reset(&t[0]);
    ts_reset(&t[1]);
    free(t);
}

static void http_upgrade(void **state)
{
    static const char offer[] =
        "GET /chat HTTP/1.1\r\nHost: ws.example.net\r\nUpgrade: WebSocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: x-other, permessage-deflate; client_max_window_bits\r\n\r\n";
    static const char h2c[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, foo/2\r\n\r\n";
    static const char plain[] = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: foo, websocket/13\r\n\r\n";
    static const char ans_nct[] =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate ; server_no_context_takeover;"
        " client_no_context_takeover ;client_max_window_bits=10\r\n\r\n";
    static const char ans_none[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    dlp_http_ws_t u;

    (void)state;
    http_tells(h2c, NULL, false, &u);
    /* no answer seen (egress tap): context kept, whatever the request offered */
    http_tells(offer, NULL, true, &u);
    assert_false(u.answered);
    assert_false(u.no_context_takeover[0]);
    assert_false(u.no_context_takeover[1]);
    http_tells(plain, NULL, true, &u);
    /* the answer decides */
    http_tells(offer, ans_nct, true, &u);
    assert_true(u.answered);
    assert_true(u.no_context_takeover[0]);
    assert_true(u.no_context_takeover[1]);
    http_tells(offer, ans_none, true, &u);
    assert_true(u.answered);
    assert_false(u.no_context_takeover[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(masked_and_unmasked),
        cmocka_unit_test(lengths),
        cmocka_unit_test(fragments_and_control),
        cmocka_unit_test(json_text),
        cmocka_unit_test(deflate_context_takeover),
        cmocka_unit_test(deflate_no_context_takeover),
        cmocka_unit_test(deflate_final_block),
        cmocka_unit_test(deflate_trailing),
        cmocka_unit_test(deflate_corrupt),
        cmocka_unit_test(deflate_cap),
        cmocka_unit_test(framing_error_at_start),
        cmocka_unit_test(framing_error_after_frames),
        cmocka_unit_test(frame_limit),
        cmocka_unit_test(gaps),
        cmocka_unit_test(cut_short),
        cmocka_unit_test(api_misuse),
        cmocka_unit_test(random_inputs),
        cmocka_unit_test(http_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
