/*
 * test_media.c - compressed media by magic, and runs of text in it.
 */
#include "dlp_test.h"

#include <stdlib.h>
#include <string.h>

#include "dlp/media.h"

static void sniff_magics(void **state)
{
    static const struct {
        const char *b;
        size_t n;
    } yes[] = {
        {"\xff\xd8\xff\xe0\x00\x10JF", 8}, {"\x89PNG\r\n\x1a\n", 8}, {"GIF89a\x01\x00", 8},
        {"RIFF\x10\0\0\0", 8},              {"\0\0\0\x18" "ftyp", 8},  {"\x1a\x45\xdf\xa3\x01\0\0\0", 8},
        {"OggS\0\x02\0\0", 8},              {"fLaC\0\0\0\x22", 8},    {"ID3\x04\0\0\0\0", 8},
        {"PK\x03\x04\x14\0\x08\0", 8},      {"\x1f\x8b\x08\0\0\0\0\0", 8}, {"BZh91AY&", 8},
        {"\xfd" "7zXZ\0\0\x04", 8},         {"7z\xbc\xaf\x27\x1c\0\x04", 8},
        {"Rar!\x1a\x07\x01\0", 8},          {"\x28\xb5\x2f\xfd\x24\0\0\0", 8},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_int_equal(dlp_media_sniff((const uint8_t *)yes[i].b, yes[i].n), DLP_MEDIA_YES);
    /* Too few bytes: may still be one, unless no magic fits them. */
    assert_int_equal(dlp_media_sniff((const uint8_t *)"\xff\xd8", 2), DLP_MEDIA_MORE);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"\x89PNG\r", 5), DLP_MEDIA_MORE);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"", 0), DLP_MEDIA_MORE);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"\0\0\0\x18" "ft", 6), DLP_MEDIA_MORE);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"name=Jan", 8), DLP_MEDIA_NO);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"\xff\xd8\x00\x01\x02\x03\x04\x05", 8),
                     DLP_MEDIA_NO);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"PK\x05\x06\0\0\0\0", 8), DLP_MEDIA_NO);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"%PDF-1.7", 8), DLP_MEDIA_NO);
    assert_int_equal(dlp_media_sniff((const uint8_t *)"{\"a\":1}\n", 8), DLP_MEDIA_NO);
}

/* Archives unpacked (zip.h, flowapp): ZIP by a local header, gzip by its deflate header. */
static void archives_told(void **state)
{
    (void)state;
    assert_true(dlp_media_zip((const uint8_t *)"PK\x03\x04\x14\0", 6));
    assert_false(dlp_media_zip((const uint8_t *)"PK\x05\x06", 4)); /* an empty archive's end */
    assert_false(dlp_media_zip((const uint8_t *)"PK\x03", 3));
    assert_true(dlp_media_gzip((const uint8_t *)"\x1f\x8b\x08\0\0\0\0\0", 8));
    assert_true(dlp_media_gzip((const uint8_t *)"\x1f\x8b\x08", 3));
    assert_false(dlp_media_gzip((const uint8_t *)"\x1f\x8b", 2));       /* not told yet */
    assert_false(dlp_media_gzip((const uint8_t *)"\x1f\x8b\x07\0", 4)); /* not deflate */
    assert_false(dlp_media_gzip((const uint8_t *)"BZh91AY&", 8));
}

/* Bytes none of which is text (so a run is only what a test puts there). */
static void fill_binary(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        uint8_t b = (uint8_t)(seed >> 16);
        p[i] = (b >= 0x09 && b <= 0x7e) ? (uint8_t)(b | 0x80) : b;
    }
}

static void put_run(uint8_t *p, size_t at, size_t len, int width, int be)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)("4539 1488\t0343-6467@ex.com\r\n"[i % 28]);
        if (width == 1) {
            p[at + i] = c;
        } else {
            p[at + 2 * i + (be ? 1 : 0)] = c;
            p[at + 2 * i + (be ? 0 : 1)] = 0;
        }
    }
}

/* A run of 16 is text and one of 15 is not, wherever it lies and however p is aligned. */
static void text_runs_at_every_place(void **state)
{
    uint8_t buf[200];

    (void)state;
    for (int width = 1; width <= 2; width++)
        for (int be = 0; be <= (width == 2); be++)
            for (size_t align = 0; align < 8; align++)
                for (size_t at = 0; at + 2 * DLP_MEDIA_TEXT_RUN * (size_t)width < 160; at++) {
                    uint8_t *p = buf + align;
                    fill_binary(buf, sizeof(buf), (uint32_t)(at * 31 + align));
                    put_run(p, at, DLP_MEDIA_TEXT_RUN - 1, width, be);
                    assert_false(dlp_media_has_text(p, 160));
                    put_run(p, at, DLP_MEDIA_TEXT_RUN, width, be);
                    assert_true(dlp_media_has_text(p, 160));
                }
}

/* Only what lies within [0, n) counts: a run cut by the end is shorter. */
static void run_cut_by_the_end(void **state)
{
    uint8_t buf[64];

    (void)state;
    fill_binary(buf, sizeof(buf), 7);
    put_run(buf, 40, 20, 1, 0);
    assert_true(dlp_media_has_text(buf, 64));
    assert_true(dlp_media_has_text(buf, 56));
    assert_false(dlp_media_has_text(buf, 55));
    assert_false(dlp_media_has_text(buf, 0));
}

/* Compressed bytes hold no run: 256 KiB of a fixed pseudo-random sequence, as gzip gives
 * (a run of 16 comes once in ~5 million places: ~5 % of such buffers hold one,
 * this fixed one does not). */
static void compressed_bytes_hold_none(void **state)
{
    size_t n = 256 << 10;
    uint8_t *p = malloc(n);
    uint64_t x = 0x9e3779b97f4a7c15ULL;

    (void)state;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
    assert_false(dlp_media_has_text(p, n));
    memcpy(p + 177777, "Author: jane.doe@example.com", 28); /* metadata text in it */
    assert_true(dlp_media_has_text(p, n));
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sniff_magics),
        cmocka_unit_test(archives_told),
        cmocka_unit_test(text_runs_at_every_place),
        cmocka_unit_test(run_cut_by_the_end),
        cmocka_unit_test(compressed_bytes_hold_none),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
