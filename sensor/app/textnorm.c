/*
 * textnorm.c - text normalisation before matching: UTF-16 text runs become
 * ASCII, full-width ASCII forms become ASCII, Unicode spaces become ' ',
 * every other byte passes as is.
 *
 * Definition (on the whole stream; any split gives the same output). A
 * "text" byte is printable ASCII, tab, CR or LF. In plain mode, at byte i:
 *  - NUL, the previous byte was passed as itself and was text, and the next
 *    six bytes are "t 0 t 0 t 0" (t: text): a UTF-16LE run of at least four
 *    units started at i-1 (already passed on): pass the three t, go to LE;
 *  - otherwise NUL and the next seven bytes are "t 0 t 0 t 0 t": a UTF-16BE
 *    run: pass the four t, go to BE;
 *  - EF BC 81..BF or EF BD 80..9E (U+FF01..U+FF5E): pass the ASCII 0x21..0x7E;
 *  - the UTF-8 of a space (below): pass ' ';
 *  - anything else passes as itself.
 * In LE mode each "t 0" pair passes t; in BE mode each "0 t" pair passes t;
 * a pair that is a space unit passes ' '; any other pair ends the mode and is
 * looked at again in plain mode (with "previous byte text" false). So a run
 * needs four units before its NULs are dropped, and binary data with
 * scattered NULs is left alone.
 *
 * Spaces: U+00A0 (no-break, what spreadsheets and word processors put between
 * digit groups), U+2000..U+200A (en, em, thin, figure ... spaces), U+202F
 * (narrow no-break, the French and SI digit group separator), U+205F and
 * U+3000 (ideographic, next to full-width digits). Each is a space to a
 * reader, and the rules expect ' ' between groups. Not mapped: zero-width
 * characters (U+200B..U+200D, U+FEFF: a joiner inside a number is no
 * separator a rule could expect) and line/paragraph separators.
 *
 * Speed: plain ASCII text has no NUL and none of the lead bytes C2, E2, E3,
 * EF. In plain mode the next place to stop is looked for eight bytes at a
 * time (a word of ASCII without NUL is skipped whole, others byte by byte,
 * each lead byte checked with the bytes after it in place), and the bytes up
 * to it are emitted straight from the input, without a copy: a lead byte of
 * other text (an e-acute, a curly quote, kana) only costs its check. One
 * memchr per special byte, as when only NUL and EF were special, restarts a
 * call at every kana. Thread CPU time, best of 7, 32 MiB in 1460-byte writes:
 * this scan 18 GB/s on ASCII JSON, 3.4 on English with a curly quote every 20
 * bytes, 2.4 on Japanese; five memchr 18, 2.4, 1.6; NUL and EF alone (no
 * spaces mapped) 25 on all three. (16-byte vectors were tried: 3.4 GB/s on
 * Japanese, but 10 on ASCII.)
 *
 * State across writes: the mode, whether the last byte was text, and up to
 * HOLD_MAX bytes that start a pattern not yet decidable (a NUL and fewer
 * than seven bytes after it, a lead byte and fewer than two, half a pair).
 * The next write first finishes them in a small stitch buffer together with
 * its first bytes; end decides them with what there is.
 *
 * Thread: owned by the worker that owns the flow.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/stage.h"
#include "stage_int.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define HOLD_MAX 8
#define STITCH (2 * HOLD_MAX)

enum { M_PLAIN = 0, M_LE, M_BE };
enum { R_NO = 0, R_YES, R_NEED };

typedef struct textnorm_stage {
    dlp_stage_t base;
    uint8_t mode;
    uint8_t prev_text; /* plain mode: the last byte was passed as itself and is text */
    uint8_t nhold;
    uint8_t hold[HOLD_MAX];
} textnorm_stage_t;

/* clang-format off */
static const uint8_t is_text[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\r'] = 1,
    [' '] = 1, ['!'] = 1, ['"'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, [':'] = 1, [';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1,
    ['@'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['['] = 1, ['\\'] = 1, [']'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
    ['x'] = 1, ['y'] = 1, ['z'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1,
};
/* clang-format on */

/*
 * Does b[0, a) continue "t 0 t 0 ..." (nul_odd) or "0 t 0 t ..." for 'len'
 * bytes? R_NEED if it does as far as a goes but a < len.
 */
static int units_match(const uint8_t *b, size_t a, size_t len, bool nul_odd)
{
    for (size_t k = 0; k < len; k++) {
        bool nul = ((k & 1) != 0) == nul_odd;
        if (k == a)
            return R_NEED;
        if (nul ? b[k] != 0 : !is_text[b[k]])
            return R_NO;
    }
    return R_YES;
}

/* Bytes that may start a sequence the plain mode changes. */
static const uint8_t is_special[256] = {[0x00] = 1, [0xc2] = 1, [0xe2] = 1, [0xe3] = 1, [0xef] = 1};

/*
 * The UTF-8 sequence at b[0] (a > 0, b[0] one of C2 E2 E3 EF): R_YES and its
 * ASCII in *ascii if it is mapped, R_NEED if b[0, a) may start one.
 */
static int utf8_match(const uint8_t *b, size_t a, uint8_t *ascii)
{
    uint8_t c1, c2;

    if (a < 2)
        return R_NEED;
    c1 = b[1];
    if (b[0] == 0xc2) {
        *ascii = ' ';
        return c1 == 0xa0 ? R_YES : R_NO; /* U+00A0 */
    }
    if (!(b[0] == 0xe2 && (c1 == 0x80 || c1 == 0x81)) && !(b[0] == 0xe3 && c1 == 0x80) &&
        !(b[0] == 0xef && (c1 == 0xbc || c1 == 0xbd)))
        return R_NO;
    if (a < 3)
        return R_NEED;
    c2 = b[2];
    *ascii = ' ';
    if (b[0] == 0xe2) /* U+2000..U+200A, U+202F, U+205F */
        return (c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8a) || c2 == 0xaf)) ||
                       (c1 == 0x81 && c2 == 0x9f)
                   ? R_YES
                   : R_NO;
    if (b[0] == 0xe3) /* U+3000 */
        return c2 == 0x80 ? R_YES : R_NO;
    if (c1 == 0xbc && c2 >= 0x81 && c2 <= 0xbf) { /* U+FF01..U+FF3F */
        *ascii = (uint8_t)(c2 - 0x60);
        return R_YES;
    }
    if (c1 == 0xbd && c2 >= 0x80 && c2 <= 0x9e) { /* U+FF40..U+FF5E */
        *ascii = (uint8_t)(c2 - 0x20);
        return R_YES;
    }
    return R_NO;
}

/* Is the UTF-16 unit hi:lo one of the spaces? */
static bool space_unit(uint8_t hi, uint8_t lo)
{
    return (hi == 0x00 && lo == 0xa0) || (hi == 0x20 && (lo <= 0x0a || lo == 0x2f || lo == 0x5f)) ||
           (hi == 0x30 && lo == 0x00);
}

/* Plain mode, a NUL at b[0]; returns what tn_step() returns. */
static int step_nul(textnorm_stage_t *s, const uint8_t *b, size_t a, bool final, dlp_obuf_t *o)
{
    int r = R_NO;

    if (s->prev_text) {
        r = units_match(b + 1, a - 1, 6, true);
        if (r == R_NEED && !final)
            return -1;
        if (r == R_YES) {
            ob_put(o, b[1]);
            ob_put(o, b[3]);
            ob_put(o, b[5]);
            s->mode = M_LE;
            return 7;
        }
    }
    r = units_match(b, a, 8, false);
    if (r == R_NEED && !final)
        return -1;
    if (r == R_YES) {
        ob_put(o, b[1]);
        ob_put(o, b[3]);
        ob_put(o, b[5]);
        ob_put(o, b[7]);
        s->mode = M_BE;
        return 8;
    }
    ob_put(o, 0);
    s->prev_text = 0;
    return 1;
}

/* A pair in LE or BE mode. */
static int step_pair(textnorm_stage_t *s, const uint8_t *b, size_t a, bool final, dlp_obuf_t *o)
{
    bool le = s->mode == M_LE;
    int r = units_match(b, a, 2, le);

    if (a < 2 && !final)
        return -1;
    if (r == R_YES) {
        ob_put(o, le ? b[0] : b[1]);
        return 2;
    }
    if (a >= 2 && space_unit(le ? b[1] : b[0], le ? b[0] : b[1])) {
        ob_put(o, ' ');
        return 2;
    }
    s->mode = M_PLAIN;
    s->prev_text = 0;
    return 0;
}

/*
 * One decision at b[0] (a > 0 bytes available, 'final': no more will come).
 * Returns the bytes consumed, 0 when the mode changed and b[0] must be looked
 * at again, -1 when more bytes are needed to decide.
 */
static int tn_step(textnorm_stage_t *s, const uint8_t *b, size_t a, bool final, dlp_obuf_t *o)
{
    uint8_t c = b[0], ascii = 0;
    int r;

    if (s->mode != M_PLAIN)
        return step_pair(s, b, a, final, o);
    if (c == 0)
        return step_nul(s, b, a, final, o);
    if (c == 0xc2 || c == 0xe2 || c == 0xe3 || c == 0xef) {
        r = utf8_match(b, a, &ascii);
        if (r == R_NEED && !final)
            return -1;
        s->prev_text = 0;
        if (r == R_YES) {
            ob_put(o, ascii);
            return c == 0xc2 ? 2 : 3;
        }
        ob_put(o, c);
        return 1;
    }
    ob_put(o, c);
    s->prev_text = is_text[c];
    return 1;
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t x;

    memcpy(&x, p, sizeof(x));
    return x;
}

/* The second byte a mapped sequence may have after each lead byte (two tables: two values). */
static const uint8_t second1[256] = {[0xc2] = 0xa0, [0xe2] = 0x80, [0xe3] = 0x80, [0xef] = 0xbc};
static const uint8_t second2[256] = {[0xc2] = 0xa0, [0xe2] = 0x81, [0xe3] = 0x80, [0xef] = 0xbd};

/*
 * Does the plain mode stop at b[0], a special byte (a NUL, a mapped or cut
 * sequence)? The second byte first: most lead bytes of other text (kana, curly
 * quotes) fail there.
 */
static inline bool stops(const uint8_t *b, size_t a)
{
    uint8_t ascii;

    if (b[0] == 0 || a < 2)
        return true;
    if (b[1] != second1[b[0]] && b[1] != second2[b[0]])
        return false;
    return utf8_match(b, a, &ascii) != R_NO;
}

#if defined(__x86_64__)
/*
 * From p[i]: the first special byte where the plain mode stops, or where fewer
 * than 16 bytes are left (for the word loop). A mask of the five special
 * bytes per vector, so that neither ASCII text nor the high bytes of other
 * text or binary (a raw stream's media, --no-app-layer) costs a look each:
 * the word loop alone had made sensor-path-w1 0.20 -> 0.29 s; memchr for NUL
 * and EF, before spaces were mapped, had run near memory speed. AVX2 where
 * the CPU has it (32 bytes a step), else SSE2 (every x86-64).
 */
#define SPECIAL_SCAN(VEC, LOAD, SET1, EQ, OR, MOVEMASK, W)                                         \
    {                                                                                              \
        const VEC c0 = SET1(0), c2 = SET1((char)0xc2), e2 = SET1((char)0xe2);                      \
        const VEC e3 = SET1((char)0xe3), ef = SET1((char)0xef);                                    \
        for (; i + (W) <= n; i += (W)) {                                                           \
            VEC x = LOAD((const VEC *)(const void *)(p + i));                                      \
            VEC sp = OR(OR(EQ(x, c0), EQ(x, c2)), OR(EQ(x, e2), EQ(x, e3)));                       \
            uint32_t m = (uint32_t)MOVEMASK(OR(sp, EQ(x, ef)));                                    \
            for (; m != 0; m &= m - 1) {                                                           \
                size_t k = (size_t)__builtin_ctz(m);                                               \
                if (stops(p + i + k, n - i - k))                                                   \
                    return i + k;                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

__attribute__((target("avx2"))) static size_t special_at_avx2(const uint8_t *p, size_t n, size_t i)
{
    SPECIAL_SCAN(__m256i, _mm256_loadu_si256, _mm256_set1_epi8, _mm256_cmpeq_epi8, _mm256_or_si256,
                 _mm256_movemask_epi8, 32)
    SPECIAL_SCAN(__m128i, _mm_loadu_si128, _mm_set1_epi8, _mm_cmpeq_epi8, _mm_or_si128,
                 _mm_movemask_epi8, 16)
    return i;
}

static size_t special_at_sse2(const uint8_t *p, size_t n, size_t i)
{
    SPECIAL_SCAN(__m128i, _mm_loadu_si128, _mm_set1_epi8, _mm_cmpeq_epi8, _mm_or_si128,
                 _mm_movemask_epi8, 16)
    return i;
}

static size_t special_at(const uint8_t *p, size_t n, size_t i)
{
    static _Atomic int avx2 = -1; /* every worker finds the same answer */
    int a = atomic_load_explicit(&avx2, memory_order_relaxed);

    if (a < 0) {
        a = __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store_explicit(&avx2, a, memory_order_relaxed);
    }
    return a ? special_at_avx2(p, n, i) : special_at_sse2(p, n, i);
}
#endif

/*
 * Plain mode: where the bytes from i on stop passing as they are (n if they
 * all do): at a NUL, or at a lead byte whose sequence is mapped or cut by the
 * end of the write. Eight bytes at a time: a word of ASCII text without NUL
 * (no high bit, no zero byte) is skipped whole; any other word is looked at
 * byte by byte.
 */
static size_t plain_end(const uint8_t *p, size_t n, size_t i)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

#if defined(__x86_64__)
    i = special_at(p, n, i);
    if (i + 16 <= n)
        return i;
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t x = load64(p + i);
        if (((x | ((x - ones) & ~x)) & highs) == 0)
            continue;
        for (size_t k = 0; k < 8; k++)
            if (is_special[p[i + k]] && stops(p + i + k, n - i - k))
                return i + k;
    }
    for (; i < n; i++)
        if (is_special[p[i]] && stops(p + i, n - i))
            return i;
    return n;
}

/* Processes p[i, n); bytes that cannot be decided yet go to the hold. */
static void tn_scan(textnorm_stage_t *s, const uint8_t *p, size_t n, size_t i, dlp_obuf_t *o)
{
    while (i < n) {
        int r;
        if (s->mode == M_PLAIN) {
            size_t sp = plain_end(p, n, i);
            if (sp > i) {
                ob_direct(o, p + i, sp - i);
                s->prev_text = is_text[p[sp - 1]];
                i = sp;
                if (i == n)
                    break;
            }
        }
        r = tn_step(s, p + i, n - i, false, o);
        if (r < 0) {
            memcpy(s->hold, p + i, n - i); /* < HOLD_MAX: see tn_step */
            s->nhold = (uint8_t)(n - i);
            return;
        }
        i += (size_t)r;
    }
}

_Static_assert(HOLD_MAX + STITCH <= DLP_STITCH_MAX, "the stitch fits");

static int tn_step_hold(void *st, const uint8_t *b, size_t a, bool final, dlp_obuf_t *o)
{
    return tn_step((textnorm_stage_t *)st, b, a, final, o);
}

static dlp_rc_t tn_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    textnorm_stage_t *s = (textnorm_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    ob_init(&o, st);
    if (s->nhold > 0)
        i = dlp_hold_stitch(s->hold, &s->nhold, STITCH, p, n, tn_step_hold, s, &o);
    tn_scan(s, p, n, i, &o);
    return ob_done(&o);
}

static dlp_rc_t tn_end(dlp_stage_t *st)
{
    textnorm_stage_t *s = (textnorm_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    ob_init(&o, st);
    while (i < s->nhold)
        i += (size_t)tn_step(s, s->hold + i, s->nhold - i, true, &o);
    s->nhold = 0;
    return ob_done(&o);
}

static void tn_free(dlp_stage_t *st)
{
    free(st);
}

static const dlp_stage_ops_t textnorm_ops = {
    .name = "textnorm",
    .write = tn_write,
    .end = tn_end,
    .free = tn_free,
};

dlp_stage_t *dlp_stage_textnorm_new(dlp_stage_t *next)
{
    return dlp_stage_alloc(sizeof(textnorm_stage_t), &textnorm_ops, next);
}
