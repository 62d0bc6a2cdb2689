/*
 * test_b64run.c - the base64 run stage: the text passes unchanged, each long
 * run is decoded to a stream of its own, at every split and in 1-byte writes
 * (a run cut at each of its bytes); the URL alphabet, no padding, runs too
 * short (or hex) left alone, a data: URI's lower threshold, folded lines,
 * the bound on runs, and a throughput figure on JSON text (printed).
 */
#include "stage_test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlp/limits.h"

static const char std_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64 of p[0, n) into out (NUL-terminated), with or without padding. */
static size_t enc(const void *in, size_t n, char *out, const char *abc, bool pad)
{
    const uint8_t *p = in;
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        size_t k = n - i >= 3 ? 4 : n - i + 1;
        for (size_t j = 0; j < 4; j++)
            if (j < k)
                out[o++] = abc[v >> (18 - 6 * j) & 63];
            else if (pad)
                out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static dlp_stage_t *build(ts_sink_t *t, void *arg)
{
    (void)arg;
    return dlp_stage_b64run_new(st_sink_stage(t), DLP_FIELD_HTTP_BODY, NULL);
}

/* The input, in every split: the text as it is, then the decoded runs want[0, nw). */
static void expect(const char *in, const char *const *want, const size_t *wlen, size_t nw)
{
    size_t n = strlen(in);
    st_run_t r = st_check_splits(build, NULL, 0, (const uint8_t *)in, n, 1);
    ts_sink_t *t = r.t;

    assert_int_equal(r.first_err, DLP_OK);
    assert_int_equal(st_all_notes(&r), 0);
    if (t->n != 1 + nw)
        ts_dump(t);
    assert_int_equal(t->n, 1 + nw);
    assert_int_equal(t->item[0].len, n);
    assert_memory_equal(t->item[0].data, in, n);
    for (size_t i = 0; i < nw; i++) {
        const ts_item_t *it = &t->item[1 + i];
        assert_int_equal(it->kind, 'S');
        assert_int_equal(it->field, DLP_FIELD_HTTP_BODY);
        assert_int_equal(it->open, 0);
        assert_int_equal(it->len, wlen[i]);
        assert_memory_equal(it->data, want[i], wlen[i]);
    }
    st_run_fini(&r);
}

static const char csv[] = "name,card,ssn,mail\n"
                          "Jane Doe,4539 1488 0343 6467,078-05-1120,jane.doe@example.com\n";

static void sendgrid_json(void **state)
{
    char b[512], in[1024];
    const char *w[1] = {csv};
    size_t wl[1] = {sizeof(csv) - 1};

    (void)state;
    enc(csv, sizeof(csv) - 1, b, std_abc, true);
    snprintf(in, sizeof(in),
             "{\"personalizations\":[{\"to\":[{\"email\":\"x@example.org\"}]}],"
             "\"attachments\":[{\"content\":\"%s\",\"filename\":\"q3.csv\"}]}",
             b);
    expect(in, w, wl, 1);
}

static void url_alphabet_no_padding(void **state)
{
    /* bytes that give '-' and '_' in the URL alphabet; lengths 1 and 2 mod 3 */
    static const uint8_t bin[] = {0xfb, 0xff, 0xbf, 0xf8, 0x3e, 0xfb, 0xef, 0xbe, 'S', 'u', 'b',
                                  'j',  'e',  'c',  't',  ':',  ' ',  '4',  '5',  '3', '9', '1',
                                  '4',  '8',  '8',  '0',  '3',  '4',  '3',  '6',  '4', '6', '7',
                                  '\n', 'r',  'e',  'g',  'a',  'r',  'd',  's',  ',', ' ', 'J',
                                  'a',  'n',  'e',  '!',  ' ',  'x',  'y',  'z'};
    char b[256], in[512];
    const char *w[1] = {(const char *)bin};

    (void)state;
    for (size_t cut = 0; cut < 3; cut++) {
        size_t wl[1] = {sizeof(bin) - cut};
        enc(bin, sizeof(bin) - cut, b, url_abc, false);
        assert_non_null(strchr(b, '-'));
        assert_non_null(strchr(b, '_'));
        snprintf(in, sizeof(in), "{\"raw\":\"%s\"}", b);
        expect(in, w, wl, 1);
    }
}

static void too_short_untouched(void **state)
{
    char in[256];

    (void)state;
    /* 63 characters, however they end */
    memset(in, 'Q', 63);
    memcpy(in + 63, "\"}", 3);
    expect(in, NULL, NULL, 0);
    in[63] = '\0';
    expect(in, NULL, NULL, 0);
    memcpy(in + 63, "==", 3);
    expect(in, NULL, NULL, 0);
    /* a short line break does not join words; '.' splits a JWT into short parts */
    expect("{\"t\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSIsIm4iOiJqIn0.aGVsbG8gd29ybGQ\"}", NULL,
           NULL, 0);
    expect("word\nword\nword\nword\nword\nword\nword\nword\nword\nword\nword\nword\nword\n", NULL,
           NULL, 0);
    /* 64 hex digits (a SHA-256) are not base64 */
    expect("{\"sha256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"}",
           NULL, NULL, 0);
    /* 8 characters after something that is not a data: marker */
    expect("x;base64:SmFuZSBE", NULL, NULL, 0);
    expect("x:base64,SmFuZSBE", NULL, NULL, 0);
    expect("x;base6,SmFuZSBE", NULL, NULL, 0);
    /* 7 after the marker */
    expect("data:text/csv;base64,SmFuZSB", NULL, NULL, 0);
}

static void data_uri(void **state)
{
    static const char val[] = "078-05-1120";
    char b[64], in[256];
    const char *w[1] = {val};
    size_t wl[1] = {sizeof(val) - 1};

    (void)state;
    enc(val, sizeof(val) - 1, b, std_abc, true);
    snprintf(in, sizeof(in), "name=x\nfile=data:text/csv;BASE64,%s\nz=1", b);
    expect(in, w, wl, 1);
    snprintf(in, sizeof(in), "data:;base64,%s", b);
    expect(in, w, wl, 1);
    /* 8 characters: the lower threshold */
    {
        const char *w8[1] = {"Jane D"};
        size_t wl8[1] = {6};
        expect("data:text/plain;base64,SmFuZSBE", w8, wl8, 1);
    }
}

static void folded_and_several(void **state)
{
    char big[600], b[900], in[2048];
    const char *w[2] = {big, csv};
    size_t wl[2];

    (void)state;
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    wl[0] = sizeof(big);
    wl[1] = sizeof(csv) - 1;
    /* two runs: two streams; the first folded in 76-character lines (CRLF) */
    {
        char raw[900];
        size_t k = enc(big, sizeof(big), raw, std_abc, true), o = 0;
        for (size_t i = 0; i < k; i++) {
            if (i > 0 && i % 76 == 0) {
                b[o++] = '\r';
                b[o++] = '\n';
            }
            b[o++] = raw[i];
        }
        b[o] = '\0';
    }
    {
        char c[300];
        enc(csv, sizeof(csv) - 1, c, std_abc, false);
        snprintf(in, sizeof(in), "{\"a\":\"%s\",\"b\":\"%s\"}", b, c);
    }
    expect(in, w, wl, 2);
}

/* Random text of words, separators, long runs, data: markers and line breaks: one write,
 * every split and 1-byte writes agree (the block skip against the byte-by-byte path). */
static void random_splits(void **state)
{
    static const char *const pieces[] = {" ",
                                         "\"",
                                         ",",
                                         ";",
                                         ":",
                                         "\r\n",
                                         "\n",
                                         "=",
                                         ".",
                                         "word",
                                         "base64",
                                         ";base64,",
                                         "data:text/csv;base64,",
                                         "QUJD",
                                         "SmFuZSBE",
                                         "0123456789abcdef",
                                         "-_+/"};
    char in[700];
    unsigned seed = 2045;

    (void)state;
    for (int round = 0; round < 300; round++) {
        size_t n = 0, target = 100 + (size_t)(rand_r(&seed) % 500);
        while (n < target) {
            unsigned k = (unsigned)rand_r(&seed) % 24;
            const char *pc = k < 17 ? pieces[k] : NULL;
            if (pc == NULL) { /* a run of 10 to 150 characters of both alphabets */
                size_t len = 10 + (size_t)(rand_r(&seed) % 140);
                for (size_t j = 0; j < len && n < sizeof(in) - 1; j++)
                    in[n++] =
                        url_abc[rand_r(&seed) % 64] == '_' ? '/' : std_abc[rand_r(&seed) % 64];
                continue;
            }
            for (size_t j = 0; pc[j] != '\0' && n < sizeof(in) - 1; j++)
                in[n++] = pc[j];
        }
        st_run_t r = st_check_splits(build, NULL, 0, (const uint8_t *)in, n, 5);
        assert_int_equal(r.t->item[0].len, n);
        st_run_fini(&r);
    }
}

/* --- throughput (printed, not asserted) -------------------------------------------------- */

static uint64_t null_bytes;

static void *n_open(void *ctx, dlp_field_t f, const char *name)
{
    (void)f;
    (void)name;
    return ctx;
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

static const dlp_content_sink_t null_ops = {n_open, n_write, n_close, NULL, NULL, NULL, NULL, NULL};

static unsigned n_opens, n_caps;

static void *c_open(void *ctx, dlp_field_t f, const char *name)
{
    (void)f;
    (void)name;
    n_opens++;
    return ctx;
}

static void c_note(void *ctx, dlp_app_note_t note, uint64_t bytes)
{
    (void)ctx;
    (void)bytes;
    n_caps += note == DLP_NOTE_DECOMP_CAP;
}

static const dlp_content_sink_t count_ops = {c_open, n_write, n_close, NULL,
                                             c_note, NULL,    NULL,    NULL};

/* DLP_APP_B64_RUNS_MAX runs decoded, then the text only (noted once), in any split */
static void runs_bound(void **state)
{
    char one[80];
    size_t n = 0, runs = DLP_APP_B64_RUNS_MAX + 4;
    char *in = malloc(runs * 70 + 1);

    (void)state;
    assert_non_null(in);
    enc("0123456789012345678901234567890123456789012345678", 49, one, std_abc, false);
    for (size_t i = 0; i < runs; i++)
        n += (size_t)snprintf(in + n, runs * 70 + 1 - n, "%s,", one);
    for (size_t piece = 1; piece <= n; piece = piece * 3 + 1) {
        dlp_stage_t *st = dlp_stage_b64run_new(
            dlp_stage_sink_new(&count_ops, &null_bytes, DLP_FIELD_HTTP_BODY, NULL),
            DLP_FIELD_HTTP_BODY, NULL);
        n_opens = n_caps = 0;
        for (size_t at = 0; at < n; at += piece)
            assert_int_equal(
                dlp_stage_write(st, (uint8_t *)in + at, n - at < piece ? n - at : piece), DLP_OK);
        assert_int_equal(dlp_stage_end(st), DLP_OK);
        dlp_stage_free_chain(st);
        assert_int_equal(n_opens, 1 + DLP_APP_B64_RUNS_MAX);
        assert_int_equal(n_caps, 1);
    }
    free(in);
}

static double run_mbs(const uint8_t *p, size_t n, size_t piece, bool b64)
{
    dlp_stage_t *st = dlp_stage_sink_new(&null_ops, &null_bytes, DLP_FIELD_HTTP_BODY, NULL);
    struct timespec t0, t1;

    st = dlp_stage_json_new(b64 ? dlp_stage_b64run_new(st, DLP_FIELD_HTTP_BODY, NULL) : st,
                            DLP_JSON_DECODE);
    null_bytes = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t at = 0; at < n; at += piece) {
        size_t k = n - at < piece ? n - at : piece;
        assert_int_equal(dlp_stage_write(st, p + at, k), DLP_OK);
    }
    assert_int_equal(dlp_stage_end(st), DLP_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    dlp_stage_free_chain(st);
    return (double)n / 1e6 /
           ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static void bench(const char *what, const char *rec)
{
    size_t n = 32u << 20, k = strlen(rec);
    uint8_t *p = malloc(n);
    double base = 0, with = 0;

    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rec[i % k];
    for (int rep = 0; rep < 3; rep++) {
        double b = run_mbs(p, n, 1460, false), w = run_mbs(p, n, 1460, true);
        base = b > base ? b : base;
        with = w > with ? w : with;
    }
    printf("%s, 1460-byte writes: json stage %.0f MB/s, json + base64 runs %.0f MB/s\n", what, base,
           with);
    free(p);
}

static void throughput(void **state)
{
    (void)state;
    /* API-like JSON: keys, words, numbers, ids and short tokens, no long base64 run */
    bench(
        "json with ids and tokens",
        "{\"id\":\"550e8400-e29b-41d4-a716-446655440000\",\"user\":{\"name\":\"Jane Doe\","
        "\"email\":\"jane.doe@example.com\",\"created_at\":\"2026-11-30T06:53:43Z\"},"
        "\"items\":[{\"sku\":\"AB-1234\",\"qty\":2,\"price\":19.99},{\"sku\":\"CD-99\",\"qty\":1}],"
        "\"note\":\"Please deliver to the back door, ring twice and wait\","
        "\"etag\":\"W/"
        "\\\"5d41402abc4b2a76b9719d911017c592\\\"\",\"token\":\"dGhpcyBpcyBhIHRva2Vu\"}\n");
    /* JSON of prose (a chat or a document API) */
    bench("json prose",
          "{\"role\":\"user\",\"content\":\"Could you summarise the attached quarterly report "
          "for the board, keeping the numbers as they are and the tone neutral? Thanks a lot, "
          "see you at the meeting on Monday.\"},\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sendgrid_json),       cmocka_unit_test(url_alphabet_no_padding),
        cmocka_unit_test(too_short_untouched), cmocka_unit_test(data_uri),
        cmocka_unit_test(folded_and_several),  cmocka_unit_test(runs_bound),
        cmocka_unit_test(random_splits),       cmocka_unit_test(throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
