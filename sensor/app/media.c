/*
 * media.c - compressed media and archives by their magic; text runs in them.
 *
 * The text test looks at aligned 8-byte words: a run of 16 characters
 * covers at least one whole aligned word (two for UTF-16), so a word none
 * of whose bytes can be part of a run rules its place out at once, and the
 * run is measured only around the rare word that could be one (about one
 * word in 500 of compressed bytes).
 */
#include "dlp/media.h"

#include <string.h>

typedef struct magic {
    uint8_t off, len;
    const char *bytes;
} magic_t;

/* Formats whose content is compressed (or, for RIFF, sampled): no text to find there. */
static const magic_t magics[] = {
    {0, 3, "\xff\xd8\xff"},                     /* JPEG */
    {0, 8, "\x89PNG\r\n\x1a\n"},                /* PNG */
    {0, 4, "GIF8"},                             /* GIF */
    {0, 4, "RIFF"},                             /* WebP, AVI, WAV */
    {4, 4, "ftyp"},                             /* MP4, QuickTime, HEIC */
    {0, 4, "\x1a\x45\xdf\xa3"},                 /* Matroska, WebM */
    {0, 4, "OggS"},                             /* Ogg */
    {0, 4, "fLaC"},                             /* FLAC */
    {0, 3, "ID3"},                              /* MP3 */
    {0, 4, "PK\x03\x04"},                       /* ZIP, OOXML, ODF, JAR, APK */
    {0, 3, "\x1f\x8b\x08"},                     /* gzip */
    {0, 3, "BZh"},                              /* bzip2 */
    {0, 6, "\xfd" "7zXZ\x00"},                  /* xz */
    {0, 6, "7z\xbc\xaf\x27\x1c"},               /* 7z */
    {0, 6, "Rar!\x1a\x07"},                     /* RAR */
    {0, 4, "\x28\xb5\x2f\xfd"},                 /* zstd */
};

_Static_assert(DLP_MEDIA_SNIFF_BYTES == 8, "the longest magic (PNG, ftyp at 4) reaches 8 bytes");

dlp_media_t dlp_media_sniff(const uint8_t *p, size_t n)
{
    bool more = false;

    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
        const magic_t *m = &magics[i];
        size_t end = (size_t)m->off + m->len;
        size_t have = n > end ? end : n;

        if (have > m->off && memcmp(p + m->off, m->bytes, have - m->off) != 0)
            continue;
        if (have == end)
            return DLP_MEDIA_YES;
        more = true;
    }
    return more ? DLP_MEDIA_MORE : DLP_MEDIA_NO;
}

static bool printable(uint8_t c)
{
    return (c >= 0x20 && c <= 0x7e) || c == '\t' || c == '\r' || c == '\n';
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* Some byte of x is below n (n <= 128), or above n (n <= 127): "Bit Twiddling Hacks". */
#define HAS_LESS(x, n) (((x) - ONES * (n)) & ~(x) & HIGHS)
#define HAS_MORE(x, n) ((((x) + ONES * (127 - (n))) | (x)) & HIGHS)

/* Every byte of w could belong to a run of text bytes (tab to '~'). */
static bool word_ascii(uint64_t w)
{
    return !HAS_LESS(w, 0x09) && !HAS_MORE(w, 0x7e);
}

/* The bytes of one parity are 0 and the others could be text: UTF-16 of either order. */
static bool word_utf16(uint64_t w)
{
    uint64_t lo = w & 0x00ff00ff00ff00ffULL, hi = w & 0xff00ff00ff00ff00ULL;

    return (hi == 0 && word_ascii(lo | 0x2000200020002000ULL)) ||
           (lo == 0 && word_ascii(hi | 0x0020002000200020ULL));
}

/* The run of text bytes through p[i]. */
static size_t run8(const uint8_t *p, size_t n, size_t i)
{
    size_t lo = i, hi = i;

    while (lo > 0 && printable(p[lo - 1]))
        lo--;
    while (hi < n && printable(p[hi]))
        hi++;
    return hi - lo;
}

/* The UTF-16 code unit at p[u, u + 2) is a text character; z: where its 0 byte is. */
static bool unit_text(const uint8_t *p, size_t u, size_t z)
{
    return p[u + z] == 0 && printable(p[u + 1 - z]);
}

/* The run of text code units through the one starting at p[u]. */
static size_t run16(const uint8_t *p, size_t n, size_t u, size_t z)
{
    size_t lo = u, hi = u;

    while (lo >= 2 && unit_text(p, lo - 2, z))
        lo -= 2;
    while (hi + 2 <= n && unit_text(p, hi, z))
        hi += 2;
    return (hi - lo) / 2;
}

/* A run of text through the aligned word at p[i, i + 8)? */
static bool run_at(const uint8_t *p, size_t n, size_t i, uint64_t w)
{
    if (word_ascii(w))
        return run8(p, n, i) >= DLP_MEDIA_TEXT_RUN;
    /* Code units start at an even or an odd offset, and either byte is the 0: try all four
     * (a wrong guess measures a run of 0). */
    for (size_t u = i; u < i + 2; u++)
        for (size_t z = 0; z < 2; z++)
            if (run16(p, n, u, z) >= DLP_MEDIA_TEXT_RUN)
                return true;
    return false;
}

bool dlp_media_has_text(const uint8_t *p, size_t n)
{
    size_t i = (8 - ((uintptr_t)p & 7)) & 7; /* the first aligned word */

    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, sizeof(w));
        if ((word_ascii(w) || word_utf16(w)) && run_at(p, n, i, w))
            return true;
    }
    return false;
}

bool dlp_media_zip(const uint8_t *p, size_t n)
{
    return n >= 4 && memcmp(p, "PK\x03\x04", 4) == 0;
}

bool dlp_media_gzip(const uint8_t *p, size_t n)
{
    return n >= 3 && memcmp(p, "\x1f\x8b\x08", 3) == 0;
}
