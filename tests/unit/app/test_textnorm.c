/*
 * test_textnorm.c - text normalisation: UTF-16LE/BE runs of at least four
 * ASCII units lose their NULs, full-width forms U+FF01..U+FF5E become ASCII,
 * Unicode spaces (U+00A0, U+2000..U+200A, U+202F, U+205F, U+3000) become ' '
 * in UTF-8 and inside UTF-16 runs, everything else is left alone (binary
 * data with scattered NULs keeps its length), plain text is passed on
 * without a copy. Random inputs are checked against a whole-buffer model of
 * the definition in textnorm.c, at every split. Throughput of the plain-text
 * path is printed.
 */
#include "stage_test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static dlp_stage_t *build(ts_sink_t *t, void *arg)
{
    (void)arg;
    return dlp_stage_textnorm_new(st_sink_stage(t));
}

static void expect_n(const void *in, size_t n, const void *want, size_t wn)
{
    st_run_t r = st_check_splits(build, NULL, 0, in, n, 1);

    assert_int_equal(st_all_notes(&r), 0);
    assert_int_equal(r.first_err, DLP_OK);
    st_assert_stream(&r, want, wn);
    st_run_fini(&r);
}

#define EXPECT(in, want) expect_n(in, sizeof(in) - 1, want, sizeof(want) - 1)

/* "s" as UTF-16 code units (be: big-endian) into out; returns the bytes. */
static size_t utf16(const char *s, int be, uint8_t *out)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        out[n++] = be ? 0 : (uint8_t)*s;
        out[n++] = be ? (uint8_t)*s : 0;
    }
    return n;
}

static void plain_unchanged(void **state)
{
    (void)state;
    EXPECT("card 4111 1111 1111 1111, caf\xc3\xa9, \xe2\x82\xac 5",
           "card 4111 1111 1111 1111, caf\xc3\xa9, \xe2\x82\xac 5");
    EXPECT("\t\r\n", "\t\r\n");
}

static void utf16le_card(void **state)
{
    uint8_t in[256], want[64];
    size_t n = 0;

    (void)state;
    memcpy(in, "pre:", 4);
    n = 4;
    n += utf16("4111 1111 1111 1111", 0, in + n);
    memcpy(in + n, "\xff\x01post", 6);
    n += 6;
    memcpy(want, "pre:4111 1111 1111 1111\xff\x01post", 29);
    expect_n(in, n, want, 29);

    /* with a BOM and a NUL terminator: both stay */
    n = 0;
    in[n++] = 0xff;
    in[n++] = 0xfe;
    n += utf16("Card: 4111111111111111\r\n", 0, in + n);
    in[n++] = 0;
    in[n++] = 0;
    expect_n(in, n,
             "\xff\xfe"
             "Card: 4111111111111111\r\n\0\0",
             28);
}

static void utf16be_card(void **state)
{
    uint8_t in[256];
    size_t n = 0;

    (void)state;
    memcpy(in, "\xfe\xff", 2);
    n = 2;
    n += utf16("4111 1111 1111 1111", 1, in + n);
    memcpy(in + n, "\x01\xff", 2);
    n += 2;
    expect_n(in, n,
             "\xfe\xff"
             "4111 1111 1111 1111\x01\xff",
             23);
}

/* Four units make a run, three do not. */
static void run_threshold(void **state)
{
    (void)state;
    EXPECT("A\0B\0C\0D\0", "ABCD");
    EXPECT("\x80"
           "A\0B\0C\0\x80",
           "\x80"
           "A\0B\0C\0\x80");
    EXPECT("\0A\0B\0C\0D", "ABCD");
    EXPECT("\x80\0A\0B\0C\x80", "\x80\0A\0B\0C\x80");
    /* a run ends at the first non-ASCII unit; what follows passes as is */
    EXPECT("A\0B\0C\0D\0\xe9\0x", "ABCD\xe9\0x");
    EXPECT("A\0B\0C\0D\0\x01\0", "ABCD\x01\0");
    /* a NUL right after text that is not a run */
    EXPECT("abc\0\0\0", "abc\0\0\0");
    EXPECT("x\0\x01\0", "x\0\x01\0");
}

static void fullwidth(void **state)
{
    (void)state;
    /* "４１１１" */
    EXPECT("\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91", "4111");
    /* "ＡＺａｚ！～" */
    EXPECT("\xef\xbc\xa1\xef\xbc\xba\xef\xbd\x81\xef\xbd\x9a\xef\xbc\x81\xef\xbd\x9e", "AZaz!~");
    /* the edges: U+FF00 and U+FF5F stay; a BOM and other EF sequences stay */
    EXPECT("\xef\xbc\x80\xef\xbd\x9f", "\xef\xbc\x80\xef\xbd\x9f");
    EXPECT("\xef\xbb\xbfok \xef\xbf\xbd", "\xef\xbb\xbfok \xef\xbf\xbd");
    EXPECT("\xef\xef\xbc\x95", "\xef"
                               "5");
    EXPECT("x\xef", "x\xef");
    EXPECT("x\xef\xbc", "x\xef\xbc");
}

/* The audit's cases (FINDINGS.md F11): NBSP and U+3000 between digit groups. */
static void spaces(void **state)
{
    (void)state;
    EXPECT("4539\xc2\xa0"
           "1488\xc2\xa0"
           "0343\xc2\xa0"
           "6467",
           "4539 1488 0343 6467");
    EXPECT("\xef\xbc\x94\xef\xbc\x95\xe3\x80\x80\xef\xbc\x93", "45 3");
    /* U+2000, U+2007 (figure), U+2009 (thin), U+200A, U+202F (narrow NBSP), U+205F */
    EXPECT("a\xe2\x80\x80"
           "b\xe2\x80\x87"
           "c\xe2\x80\x89"
           "d\xe2\x80\x8a"
           "e\xe2\x80\xaf"
           "f\xe2\x81\x9f"
           "g",
           "a b c d e f g");
    /* neighbours that are not spaces stay: U+00A1, U+200B (zero width), U+2010,
     * U+2030, U+2060, U+205E, U+3001, U+3100, curly quotes, a euro sign */
    EXPECT("\xc2\xa1\xe2\x80\x8b\xe2\x80\x90\xe2\x80\xb0\xe2\x81\xa0\xe2\x81\x9e"
           "\xe3\x80\x81\xe3\x84\x80\xe2\x80\x9cq\xe2\x80\x9d\xe2\x82\xac",
           "\xc2\xa1\xe2\x80\x8b\xe2\x80\x90\xe2\x80\xb0\xe2\x81\xa0\xe2\x81\x9e"
           "\xe3\x80\x81\xe3\x84\x80\xe2\x80\x9cq\xe2\x80\x9d\xe2\x82\xac");
    /* cut by the end; a lead byte before a mapped one */
    EXPECT("x\xc2", "x\xc2");
    EXPECT("x\xe2\x80", "x\xe2\x80");
    EXPECT("\xe3\xe3\x80\x80\xc2\xc2\xa0", "\xe3 \xc2 ");
    /* inside UTF-16 runs: U+00A0, U+3000, U+2009 keep the run going */
    EXPECT("4\0"
           "5\0"
           "3\0"
           "9\0"
           "\xa0\0"
           "1\0"
           "4\0"
           "\0\x30"
           "8\0"
           "\x09\x20"
           "8\0",
           "4539 14 8 8");
    EXPECT("\0"
           "4\0"
           "5\0"
           "3\0"
           "9\0\xa0\0"
           "1\x30\0\0"
           "4",
           "4539 1 4");
    /* before a run they are no text: four ASCII units start one */
    EXPECT("\xa0\0"
           "1\0"
           "2\0",
           "\xa0\0"
           "1\0"
           "2\0");
}

/*
 * Binary data with NULs next to text but never four units in a row, and no
 * lead byte of a mapped sequence: passed on byte for byte.
 */
static void binary_with_nuls(void **state)
{
    size_t n = 16 * 1024;
    uint8_t *p = malloc(n);
    uint32_t x = 99;
    st_run_t r;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        unsigned v = (x >> 16) % 10;
        p[i] = v < 3 ? 0 : v < 7 ? (uint8_t)('0' + v) : (uint8_t)(0x80 + (x >> 24) % 0x60);
    }
    /* cut every run of four alternating units */
    for (size_t i = 0; i + 8 <= n; i++) {
        bool le = true, be = true;
        for (size_t k = 0; k < 8; k++) {
            bool text = p[i + k] >= 0x20 && p[i + k] < 0x7f;
            le = le && ((k & 1) ? p[i + k] == 0 : text);
            be = be && ((k & 1) ? text : p[i + k] == 0);
        }
        if (le || be)
            p[i + 6] = 0x90;
    }
    r = st_check_splits(build, NULL, 0, p, n, 127);
    st_assert_stream(&r, p, n);
    st_run_fini(&r);
    free(p);
}

/* --- the model: the definition in textnorm.c, on a whole buffer ----------------------- */

static bool text_byte(uint8_t c)
{
    return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r';
}

/* Is the UTF-16 unit hi:lo a space? */
static bool space16(uint8_t hi, uint8_t lo)
{
    return (hi == 0 && lo == 0xa0) || (hi == 0x20 && (lo <= 0x0a || lo == 0x2f || lo == 0x5f)) ||
           (hi == 0x30 && lo == 0);
}

/* The length of the UTF-8 space at b[i], or 0. */
static size_t space8(const uint8_t *b, size_t n, size_t i)
{
    if (i + 1 < n && b[i] == 0xc2 && b[i + 1] == 0xa0)
        return 2;
    if (i + 2 >= n)
        return 0;
    if (b[i] == 0xe2 && b[i + 1] == 0x80 &&
        ((b[i + 2] >= 0x80 && b[i + 2] <= 0x8a) || b[i + 2] == 0xaf))
        return 3;
    if (b[i] == 0xe2 && b[i + 1] == 0x81 && b[i + 2] == 0x9f)
        return 3;
    return b[i] == 0xe3 && b[i + 1] == 0x80 && b[i + 2] == 0x80 ? 3 : 0;
}

/* Does b[i, i+len) alternate text and NUL (nul_first: NUL at even offsets)? */
static bool alt(const uint8_t *b, size_t n, size_t i, size_t len, bool nul_first)
{
    if (i + len > n)
        return false;
    for (size_t k = 0; k < len; k++) {
        bool nul = ((k & 1) == 0) == nul_first;
        if (nul ? b[i + k] != 0 : !text_byte(b[i + k]))
            return false;
    }
    return true;
}

static size_t model(const uint8_t *b, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    int mode = 0; /* 0 plain, 1 LE, 2 BE */
    bool prev = false;

    while (i < n) {
        if (mode == 1 || mode == 2) {
            if (alt(b, n, i, 2, mode == 2)) {
                out[o++] = b[i + (mode == 2)];
                i += 2;
            } else if (i + 1 < n && space16(b[i + (mode == 1)], b[i + (mode == 2)])) {
                out[o++] = ' ';
                i += 2;
            } else {
                mode = 0;
                prev = false;
            }
            continue;
        }
        if (b[i] == 0 && prev && alt(b, n, i + 1, 6, false)) {
            out[o++] = b[i + 1];
            out[o++] = b[i + 3];
            out[o++] = b[i + 5];
            i += 7;
            mode = 1;
        } else if (b[i] == 0 && alt(b, n, i, 8, true)) {
            for (size_t k = 1; k < 8; k += 2)
                out[o++] = b[i + k];
            i += 8;
            mode = 2;
        } else if (b[i] == 0xef && i + 2 < n && b[i + 1] == 0xbc && b[i + 2] >= 0x81 &&
                   b[i + 2] <= 0xbf) {
            out[o++] = (uint8_t)(b[i + 2] - 0x60);
            i += 3;
            prev = false;
        } else if (b[i] == 0xef && i + 2 < n && b[i + 1] == 0xbd && b[i + 2] >= 0x80 &&
                   b[i + 2] <= 0x9e) {
            out[o++] = (uint8_t)(b[i + 2] - 0x20);
            i += 3;
            prev = false;
        } else if (space8(b, n, i) > 0) {
            out[o++] = ' ';
            i += space8(b, n, i);
            prev = false;
        } else {
            prev = text_byte(b[i]);
            out[o++] = b[i++];
        }
    }
    return o;
}

/* Random mixes of text, NULs, lead bytes and other bytes against the model. */
static void random_vs_model(void **state)
{
    static const uint8_t pool[] = {0,    0,    0,    0,    'a',  '1',  ' ',  '\r', 0xef, 0xbc,
                                   0xbd, 0x91, 0x81, 0x9e, 0xbf, 0x80, 0x01, 0xe9, 0xc2, 0xa0,
                                   0xe2, 0xe3, 0x80, 0x8a, 0xaf, 0x9f, 0x20, 0x30, 0x09};
    uint8_t in[96], want[96];
    uint32_t x = 2024;

    (void)state;
    for (int round = 0; round < 400; round++) {
        size_t n = 1 + round % 95, wn;
        for (size_t i = 0; i < n; i++) {
            x = x * 1664525u + 1013904223u;
            in[i] = pool[(x >> 16) % sizeof(pool)];
        }
        wn = model(in, n, want);
        expect_n(in, n, want, wn);
    }
}

/* --- plain text goes on without a copy ----------------------------------------------- */

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
    static const uint8_t text[] = "Dear team, card 4111 1111 1111 1111 expires 12/29.\r\n";
    static const uint8_t utf8[] = "caf\xc3\xa9 \xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d "
                                  "\xe3\x81\x93\xe3\x80\x81\xc2\xa9";
    ptr_sink_t k = {0};
    dlp_stage_t *st =
        dlp_stage_textnorm_new(dlp_stage_sink_new(&ptr_ops, &k, DLP_FIELD_HTTP_BODY, NULL));

    (void)state;
    assert_int_equal(dlp_stage_write(st, text, sizeof(text) - 1), DLP_OK);
    assert_int_equal(dlp_stage_write(st, utf8, sizeof(utf8) - 1), DLP_OK);
    assert_int_equal(dlp_stage_end(st), DLP_OK);
    dlp_stage_free_chain(st);
    assert_int_equal(k.writes, 2);
    assert_ptr_equal(k.p[0], text);
    assert_int_equal(k.n[0], sizeof(text) - 1);
    assert_ptr_equal(k.p[1], utf8);
    assert_int_equal(k.n[1], sizeof(utf8) - 1);
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
    dlp_stage_t *st = dlp_stage_textnorm_new(
        dlp_stage_sink_new(&null_ops, &null_bytes, DLP_FIELD_HTTP_BODY, NULL));
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

static void throughput(void **state)
{
    size_t n = 64u << 20;
    uint8_t *p = malloc(n);
    static const char line[] =
        "The quick brown fox paid with 4111 1111 1111 1111 at the caf\xc3\xa9.\r\n";
    static const char typo[] =
        "He said \xe2\x80\x9cpay with 4111 1111 1111 1111\xe2\x80\x9d \xe2\x80\x94 "
        "fine, caf\xc3\xa9 \xc2\xa9 2024.\n";
    static const char ja[] =
        "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe3\x80\x81"
        "\xe4\xb8\x96\xe7\x95\x8c\xe3\x80\x82 4111 1111 1111 1111\n";
    double plain1460, plain64k, utf16le, typo1460, ja1460;

    (void)state;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)line[i % (sizeof(line) - 1)];
    plain1460 = run_mbs(p, n, 1460);
    assert_int_equal(null_bytes, n);
    plain64k = run_mbs(p, n, 65536);
    for (size_t i = 0; i < n; i += 2) {
        p[i] = (uint8_t)line[(i / 2) % 60];
        p[i + 1] = 0;
    }
    utf16le = run_mbs(p, n, 1460);
    assert_int_equal(null_bytes, n / 2);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)typo[i % (sizeof(typo) - 1)];
    typo1460 = run_mbs(p, n, 1460);
    assert_int_equal(null_bytes, n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)ja[i % (sizeof(ja) - 1)];
    ja1460 = run_mbs(p, n, 1460);
    assert_int_equal(null_bytes, n);
    print_message("textnorm: plain text %.0f MB/s (1460-byte writes), %.0f MB/s (64 KiB "
                  "writes); UTF-16LE %.0f MB/s of input; curly quotes %.0f MB/s, Japanese "
                  "%.0f MB/s (1460-byte writes)\n",
                  plain1460, plain64k, utf16le, typo1460, ja1460);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_unchanged),  cmocka_unit_test(utf16le_card),
        cmocka_unit_test(utf16be_card),     cmocka_unit_test(run_threshold),
        cmocka_unit_test(fullwidth),        cmocka_unit_test(spaces),
        cmocka_unit_test(binary_with_nuls), cmocka_unit_test(random_vs_model),
        cmocka_unit_test(zero_copy),        cmocka_unit_test(throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
