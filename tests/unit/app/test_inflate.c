/*
 * test_inflate.c - the gzip/deflate stage: wrappers (gzip with every header
 * flag, zlib, raw deflate, sniffed whatever the caller said), concatenated
 * gzip members, trailing bytes, truncated and corrupt streams, the output
 * cap and the ratio bound (a 200 MB gzip bomb built here), the chain
 * chunked -> inflate -> form -> sink. Compressed inputs are made with zlib's
 * deflate in the test.
 */
#include "stage_test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

enum { GZ = 31, ZL = 15, RAW = -15 };

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n > 0)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

/* Compresses 'total' bytes made by repeating p[0, n) (streamed), appended to out. */
static void compress_rep(buf_t *out, int bits, const uint8_t *p, size_t n, uint64_t total,
                         gz_header *hdr)
{
    z_stream zs;
    uint8_t o[65536];
    uint64_t left = total;
    int flush;

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, bits, 9, Z_DEFAULT_STRATEGY), Z_OK);
    if (hdr != NULL)
        assert_int_equal(deflateSetHeader(&zs, hdr), Z_OK);
    do {
        size_t k = left < n ? (size_t)left : n;
        zs.next_in = (Bytef *)(uintptr_t)p;
        zs.avail_in = (uInt)k;
        left -= k;
        flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
        do {
            zs.next_out = o;
            zs.avail_out = sizeof(o);
            assert_true(deflate(&zs, flush) != Z_STREAM_ERROR);
            buf_add(out, o, sizeof(o) - zs.avail_out);
        } while (zs.avail_out == 0);
    } while (flush != Z_FINISH);
    deflateEnd(&zs);
}

static void gz_make(buf_t *out, int bits, const char *s)
{
    compress_rep(out, bits, (const uint8_t *)s, strlen(s), strlen(s), NULL);
}

typedef struct cfg {
    dlp_app_limits_t l;
    int gzip;
    int chain;     /* chunked -> inflate -> form -> sink */
    int zlib_only; /* dlp_stage_zlib_new */
} cfg_t;

static dlp_stage_t *build(ts_sink_t *t, void *arg)
{
    cfg_t *c = arg;
    dlp_stage_t *s = st_sink_stage(t);
    if (c->chain)
        s = dlp_stage_form_new(s);
    s = c->zlib_only ? dlp_stage_zlib_new(s, &c->l) : dlp_stage_inflate_new(s, &c->l, c->gzip);
    if (c->chain)
        s = dlp_stage_chunked_new(s, &c->l);
    return s;
}

static cfg_t defaults(void)
{
    cfg_t c = {.gzip = 1};
    dlp_app_limits_default(&c.l);
    return c;
}

static const char text[] = "Dear team, the customer's card is 4111 1111 1111 1111 (exp 12/29); "
                           "please charge it again. The customer's card is 4111 1111 1111 1111.\n";

/* Pseudo-random letters (a fixed LCG): compresses about 2:1. */
static void make_letters(uint8_t *p, size_t n)
{
    uint32_t x = 12345;

    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)('a' + ((x >> 16) % 16));
    }
}

/* Exact output, no note, at every split. */
static void expect_text(cfg_t *c, const buf_t *in, const char *want)
{
    st_run_t r = st_check_splits(build, c, 0, in->p, in->n, 1);

    assert_int_equal(st_all_notes(&r), 0);
    assert_int_equal(r.first_err, DLP_OK);
    st_assert_stream(&r, want, strlen(want));
    st_run_fini(&r);
}

static void wrappers(void **state)
{
    cfg_t c = defaults();

    (void)state;
    for (int g = 0; g <= 1; g++) {
        int bits[] = {GZ, ZL, RAW};
        c.gzip = g; /* the wrapper is sniffed: the hint does not matter */
        for (size_t k = 0; k < 3; k++) {
            buf_t in = {0};
            gz_make(&in, bits[k], text);
            expect_text(&c, &in, text);
            free(in.p);
        }
    }
}

static void gzip_header_flags(void **state)
{
    cfg_t c = defaults();
    buf_t in = {0};
    gz_header h;
    static uint8_t extra[] = "AB\x04\x00xyzw";
    static uint8_t name[] = "cards.txt";
    static uint8_t comment[] = "a comment";

    (void)state;
    memset(&h, 0, sizeof(h));
    h.text = 1;
    h.time = 1700000000;
    h.os = 3;
    h.extra = extra;
    h.extra_len = sizeof(extra) - 1;
    h.name = name;
    h.comment = comment;
    h.hcrc = 1;
    compress_rep(&in, GZ, (const uint8_t *)text, strlen(text), strlen(text), &h);
    assert_int_equal(in.p[3], 0x1f); /* FTEXT FHCRC FEXTRA FNAME FCOMMENT */
    expect_text(&c, &in, text);
    free(in.p);
}

static void gzip_members(void **state)
{
    cfg_t c = defaults();
    buf_t in = {0};

    (void)state;
    gz_make(&in, GZ, "card 4111 ");
    gz_make(&in, GZ, "1111 1111 ");
    gz_make(&in, GZ, "1111");
    expect_text(&c, &in, "card 4111 1111 1111 1111");
    /* trailing zeros or garbage after the last member are ignored */
    buf_add(&in, "\0\0\0\0\0\0", 6);
    expect_text(&c, &in, "card 4111 1111 1111 1111");
    in.n -= 6;
    buf_add(&in, "\x1f\x00garbage", 9);
    expect_text(&c, &in, "card 4111 1111 1111 1111");
    free(in.p);
    /* zlib: one stream, the rest ignored */
    in = (buf_t){0};
    gz_make(&in, ZL, "one");
    gz_make(&in, ZL, "two");
    expect_text(&c, &in, "one");
    free(in.p);
}

/* A stream cut short: what was decoded stays, one note at end. */
static void truncated(void **state)
{
    cfg_t c = defaults();
    buf_t in = {0};
    st_run_t r;
    size_t len;
    const char *s;

    (void)state;
    gz_make(&in, GZ, text);
    in.n -= 8; /* the CRC and ISIZE trailer */
    r = st_check_splits(build, &c, 0, in.p, in.n, 1);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    assert_int_equal(r.first_err, DLP_EPROTO);
    st_assert_stream(&r, text, strlen(text));
    st_run_fini(&r);

    in.n /= 2; /* in the middle of the data */
    r = st_check_splits(build, &c, 0, in.p, in.n, 1);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    s = st_stream(&r, &len);
    assert_true(len < strlen(text));
    if (len > 0)
        assert_memory_equal(s, text, len);
    st_run_fini(&r);

    /* one byte: not even a header */
    r = st_check_splits(build, &c, 0, (const uint8_t *)"\x1f", 1, 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    st_assert_stream(&r, "", 0);
    st_run_fini(&r);
    free(in.p);
}

static void empty_body(void **state)
{
    cfg_t c = defaults();
    st_run_t r = st_feed_one(build, &c, 0, (const uint8_t *)"", 0);

    (void)state;
    assert_int_equal(r.t->n, 0);
    st_run_fini(&r);
}

static void corrupt(void **state)
{
    static uint8_t plain[20000];
    cfg_t c = defaults();
    buf_t in = {0};
    st_run_t r;
    size_t len;
    const char *s;

    (void)state;
    /* a reserved block type right after the gzip header */
    gz_make(&in, GZ, text);
    in.p[10] |= 0x06;
    r = st_check_splits(build, &c, 0, in.p, in.n, 1);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    assert_int_equal(r.first_err, DLP_EPROTO);
    st_assert_stream(&r, "", 0);
    st_run_fini(&r);
    free(in.p);

    /* a bad CRC: all data passed on, then noted */
    in = (buf_t){0};
    gz_make(&in, GZ, text);
    in.p[in.n - 6] ^= 0x55;
    r = st_check_splits(build, &c, 0, in.p, in.n, 1);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    st_assert_stream(&r, text, strlen(text));
    st_run_fini(&r);
    free(in.p);

    /* bytes flipped in the middle of a longer stream: the data before them comes out
     * (then maybe some garbage: deflate has no check until the end) */
    in = (buf_t){0};
    make_letters(plain, sizeof(plain));
    compress_rep(&in, GZ, plain, sizeof(plain), sizeof(plain), NULL);
    assert_true(in.n > 8000);
    for (size_t i = in.n / 2; i < in.n / 2 + 16; i++)
        in.p[i] ^= 0xa5;
    r = st_check_splits(build, &c, 0, in.p, in.n, 7);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    s = st_stream(&r, &len);
    assert_true(len > 5000 && len < 2 * sizeof(plain));
    assert_memory_equal(s, plain, 5000);
    st_run_fini(&r);
    free(in.p);
}

/* The zlib-only stage (FTP MODE Z): a zlib stream only, and nothing after it. */
static void zlib_only(void **state)
{
    static const char plain[] = "name,card\nJane,4111 1111 1111 1111\n";
    cfg_t c = defaults();
    buf_t in = {0};
    st_run_t r;

    (void)state;
    c.zlib_only = 1;
    gz_make(&in, ZL, text);
    expect_text(&c, &in, text);
    /* bytes after the stream: the data, then an error (the caller scans them as they are) */
    buf_add(&in, "card 4111", 9);
    r = st_check_splits(build, &c, 0, in.p, in.n, 1);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
    assert_int_equal(r.first_err, DLP_EPROTO);
    st_assert_stream(&r, text, strlen(text));
    st_run_fini(&r);
    free(in.p);
    /* gzip, raw deflate and plain text are not zlib: nothing comes out, an error at once */
    for (int k = 0; k < 3; k++) {
        in = (buf_t){0};
        if (k < 2)
            gz_make(&in, k == 0 ? GZ : RAW, text);
        else
            buf_add(&in, plain, strlen(plain));
        r = st_check_splits(build, &c, 0, in.p, in.n, 1);
        assert_int_equal(st_all_notes(&r), 1);
        assert_int_equal(st_notes(&r, DLP_NOTE_DECODER_ERROR), 1);
        assert_int_equal(r.first_err, DLP_EPROTO);
        st_assert_stream(&r, "", 0);
        st_run_fini(&r);
        free(in.p);
    }
}

/* decomp_max: exactly the cap passes, one note; at the cap itself no note. */
static void output_cap(void **state)
{
    cfg_t c = defaults();
    buf_t in = {0};
    st_run_t r;
    size_t len, tl = strlen(text);
    const char *s;

    (void)state;
    c.l.decomp_max = 1000;
    compress_rep(&in, GZ, (const uint8_t *)text, tl, 5000, NULL);
    r = st_check_splits(build, &c, 0, in.p, in.n, 1);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECOMP_CAP), 1);
    assert_int_equal(r.first_err, DLP_ELIMIT);
    s = st_stream(&r, &len);
    assert_int_equal(len, 1000);
    for (size_t i = 0; i < len; i++)
        assert_int_equal((uint8_t)s[i], (uint8_t)text[i % tl]);
    st_run_fini(&r);
    free(in.p);

    for (uint64_t total = 999; total <= 1001; total++) {
        in = (buf_t){0};
        compress_rep(&in, RAW, (const uint8_t *)text, tl, total, NULL);
        r = st_check_splits(build, &c, 0, in.p, in.n, 1);
        assert_int_equal(st_notes(&r, DLP_NOTE_DECOMP_CAP), total > 1000);
        assert_int_equal(st_all_notes(&r), total > 1000);
        s = st_stream(&r, &len);
        assert_int_equal(len, total > 1000 ? 1000 : total);
        st_run_fini(&r);
        free(in.p);
    }

    /* 0 disables the cap */
    c.l.decomp_max = 0;
    c.l.decomp_ratio_max = 0;
    in = (buf_t){0};
    compress_rep(&in, GZ, (const uint8_t *)"\0", 1, 3u << 20, NULL);
    r = st_feed(build, &c, 0, in.p, in.n, NULL, 0, 1460);
    assert_int_equal(st_all_notes(&r), 0);
    st_stream(&r, &len);
    assert_int_equal(len, 3u << 20);
    st_run_fini(&r);
    free(in.p);
}

/* 200 MB of zeros (about 200 KB compressed): stopped by the ratio bound after 1 MiB. */
static void gzip_bomb(void **state)
{
    cfg_t c = defaults();
    buf_t in = {0};
    static uint8_t zeros[65536];
    st_run_t r;
    size_t len;
    const char *s;
    clock_t t0;

    (void)state;
    compress_rep(&in, GZ, zeros, sizeof(zeros), 200ULL * 1000 * 1000, NULL);
    assert_true(in.n < 400 * 1000);
    t0 = clock();
    r = st_feed(build, &c, 0, in.p, in.n, NULL, 0, 1460);
    assert_int_equal(st_all_notes(&r), 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECOMP_RATIO), 1);
    assert_int_equal(r.first_err, DLP_ELIMIT);
    s = st_stream(&r, &len);
    assert_true(len > 1024 * 1024);
    assert_true(len <= 1024 * 1024 + 16 * 1024);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(s[i], 0);
    /* the stage stopped: the rest of the input was swallowed, not inflated */
    assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 5.0);
    st_run_fini(&r);

    /* the same bomb split in 1-byte writes stops the same way */
    r = st_feed(build, &c, 0, in.p, in.n, NULL, 0, 1);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECOMP_RATIO), 1);
    assert_int_equal(st_all_notes(&r), 1);
    st_stream(&r, &len);
    assert_true(len > 1024 * 1024 && len <= 1024 * 1024 + 16 * 1024);
    st_run_fini(&r);
    free(in.p);
}

/* Small bodies may compress far beyond the ratio: 1 MiB of zeros is fine. */
static void ratio_floor(void **state)
{
    cfg_t c = defaults();
    buf_t in = {0};
    static uint8_t zeros[4096];
    st_run_t r;
    size_t len;

    (void)state;
    compress_rep(&in, GZ, zeros, sizeof(zeros), 1024 * 1024, NULL);
    assert_true(in.n * 100 < 1024 * 1024);
    r = st_feed(build, &c, 0, in.p, in.n, NULL, 0, 1460);
    assert_int_equal(st_all_notes(&r), 0);
    st_stream(&r, &len);
    assert_int_equal(len, 1024 * 1024);
    st_run_fini(&r);
    free(in.p);

    /* a lower bound: text compressing ~2:1 against a ratio of 1 */
    in = (buf_t){0};
    c.l.decomp_ratio_max = 1;
    {
        size_t n = 3 << 20;
        uint8_t *p = malloc(n);
        make_letters(p, n);
        compress_rep(&in, GZ, p, n, n, NULL);
        free(p);
    }
    assert_true(in.n < (3u << 20));
    r = st_feed(build, &c, 0, in.p, in.n, NULL, 0, 1460);
    assert_int_equal(st_notes(&r, DLP_NOTE_DECOMP_RATIO), 1);
    assert_int_equal(st_all_notes(&r), 1);
    st_stream(&r, &len);
    assert_true(len > 1024 * 1024 && len < (3u << 20));
    st_run_fini(&r);
    free(in.p);
}

/* chunked -> inflate -> form -> sink */
static void chain_chunked_gzip_form(void **state)
{
    cfg_t c = defaults();
    buf_t gz = {0}, in = {0};
    char line[32];
    static const char next[] = "GET / HTTP/1.1\r\n\r\n";
    st_run_t r;

    (void)state;
    c.chain = 1;
    gz_make(&gz, GZ, "card_number=4111+1111+1111+1111&exp=12%2F29&x=1");
    for (size_t at = 0; at < gz.n; at += 7) {
        size_t k = gz.n - at < 7 ? gz.n - at : 7;
        int m = snprintf(line, sizeof(line), "%zx;c=%zu\r\n", k, at);
        buf_add(&in, line, (size_t)m);
        buf_add(&in, gz.p + at, k);
        buf_add(&in, "\r\n", 2);
    }
    buf_add(&in, "0\r\nX-T: 1\r\n\r\n", 13);
    buf_add(&in, next, sizeof(next) - 1);
    r = st_check_splits(build, &c, 1, in.p, in.n, 1);
    assert_int_equal(r.status, DLP_DONE);
    assert_int_equal(r.consumed, in.n - (sizeof(next) - 1));
    assert_int_equal(st_all_notes(&r), 0);
    st_assert_stream(&r, "card_number=4111 1111 1111 1111\nexp=12/29\nx=1", 45);
    st_run_fini(&r);
    free(gz.p);
    free(in.p);
}

/* Roughly what one active stream costs (zlib's state and window + the stage). */
static int zallocs;
static size_t zbytes;

static voidpf count_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    zallocs++;
    zbytes += (size_t)items * size;
    return calloc(items, size);
}

static void count_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    free(p);
}

static void zlib_memory(void **state)
{
    z_stream zs;
    buf_t in = {0};
    uint8_t out[64];
    int ret;

    (void)state;
    gz_make(&in, GZ, text);
    memset(&zs, 0, sizeof(zs));
    zs.zalloc = count_alloc;
    zs.zfree = count_free;
    assert_int_equal(inflateInit2(&zs, 31), Z_OK);
    zs.next_in = in.p;
    zs.avail_in = (uInt)in.n;
    do { /* output in small pieces, as a stream: zlib then allocates its window */
        zs.next_out = out;
        zs.avail_out = sizeof(out);
        ret = inflate(&zs, Z_NO_FLUSH);
    } while (ret == Z_OK);
    assert_int_equal(ret, Z_STREAM_END);
    inflateEnd(&zs);
    print_message("zlib inflate: %d allocations, %zu bytes; the stage adds %zu bytes\n", zallocs,
                  zbytes, sizeof(z_stream) + 16 * 1024);
    assert_int_equal(zallocs, 2);
    assert_true(zbytes > 32768 && zbytes < 48 * 1024);
    free(in.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wrappers),     cmocka_unit_test(gzip_header_flags),
        cmocka_unit_test(gzip_members), cmocka_unit_test(truncated),
        cmocka_unit_test(empty_body),   cmocka_unit_test(corrupt),
        cmocka_unit_test(output_cap),   cmocka_unit_test(gzip_bomb),
        cmocka_unit_test(ratio_floor),  cmocka_unit_test(chain_chunked_gzip_form),
        cmocka_unit_test(zlib_memory),  cmocka_unit_test(zlib_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
