/*
 * textnorm.c - text normalisation before matching: UTF-16 text runs become
 * ASCII, full-width ASCII forms become ASCII, every other byte passes as is.
 *
 * Definition (on the whole stream; any split gives the same output). A
 * "text" byte is printable ASCII, tab, CR or LF. In plain mode, at byte i:
 *  - NUL, the previous byte was passed as itself and was text, and the next
 *    six bytes are "t 0 t 0 t 0" (t: text): a UTF-16LE run of at least four
 *    units started at i-1 (already passed on): pass the three t, go to LE;
 *  - otherwise NUL and the next seven bytes are "t 0 t 0 t 0 t": a UTF-16BE
 *    run: pass the four t, go to BE;
 *  - EF BC 81..BF or EF BD 80..9E (U+FF01..U+FF5E): pass the ASCII 0x21..0x7E;
 *  - anything else passes as itself.
 * In LE mode each "t 0" pair passes t; in BE mode each "0 t" pair passes t;
 * any other pair ends the mode and is looked at again in plain mode (with
 * "previous byte text" false). So a run needs four units before its NULs are
 * dropped, and binary data with scattered NULs is left alone.
 *
 * Speed: plain text has neither NUL nor 0xEF. In plain mode the next NUL and
 * the next 0xEF are found with memchr (positions kept for the rest of the write),
 * and the bytes before them are emitted straight from the input, without a
 * copy. Only NUL/0xEF bytes and runs go through the byte-wise step.
 *
 * State across writes: the mode, whether the last byte was text, and up to
 * HOLD_MAX bytes that start a pattern not yet decidable (a NUL and fewer
 * than seven bytes after it, EF and fewer than two, half a pair). The next
 * write first finishes them in a small stitch buffer together with its
 * first bytes; end decides them with what there is.
 *
 * Thread: owned by the worker that owns the flow.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/stage.h"
#include "stage_int.h"

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

static int fullwidth_match(const uint8_t *b, size_t a, uint8_t *ascii)
{
    if (a < 2)
        return R_NEED;
    if (b[1] != 0xbc && b[1] != 0xbd)
        return R_NO;
    if (a < 3)
        return R_NEED;
    if (b[1] == 0xbc && b[2] >= 0x81 && b[2] <= 0xbf) {
        *ascii = (uint8_t)(b[2] - 0x60);
        return R_YES;
    }
    if (b[1] == 0xbd && b[2] >= 0x80 && b[2] <= 0x9e) {
        *ascii = (uint8_t)(b[2] - 0x20);
        return R_YES;
    }
    return R_NO;
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

    if (r == R_NEED && !final)
        return -1;
    if (r == R_YES) {
        ob_put(o, le ? b[0] : b[1]);
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
    if (c == 0xef) {
        r = fullwidth_match(b, a, &ascii);
        if (r == R_NEED && !final)
            return -1;
        s->prev_text = 0;
        if (r == R_YES) {
            ob_put(o, ascii);
            return 3;
        }
        ob_put(o, c);
        return 1;
    }
    ob_put(o, c);
    s->prev_text = is_text[c];
    return 1;
}

static size_t find(const uint8_t *p, size_t n, size_t i, uint8_t c)
{
    const uint8_t *q = i < n ? memchr(p + i, c, n - i) : NULL;

    return q != NULL ? (size_t)(q - p) : n;
}

/* Position of the next NUL or 0xEF at or after i; cached in *nul / *ef. */
static size_t next_special(const uint8_t *p, size_t n, size_t i, size_t *nul, size_t *ef)
{
    if (*nul < i)
        *nul = find(p, n, i, 0);
    if (*ef < i)
        *ef = find(p, n, i, 0xef);
    return *nul < *ef ? *nul : *ef;
}

/* Processes p[i, n); bytes that cannot be decided yet go to the hold. */
static void tn_scan(textnorm_stage_t *s, const uint8_t *p, size_t n, size_t i, dlp_obuf_t *o)
{
    size_t nul = find(p, n, i, 0), ef = find(p, n, i, 0xef);

    while (i < n) {
        int r;
        if (s->mode == M_PLAIN) {
            size_t sp = next_special(p, n, i, &nul, &ef);
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

/*
 * Finishes the held bytes with the first bytes of p; returns where in p to
 * go on (n when p went into the hold as well).
 */
static size_t tn_stitch(textnorm_stage_t *s, const uint8_t *p, size_t n, dlp_obuf_t *o)
{
    uint8_t t[HOLD_MAX + STITCH];
    size_t h = s->nhold, take = n < STITCH ? n : STITCH, len = h + take, i = 0;

    memcpy(t, s->hold, h);
    memcpy(t + h, p, take);
    s->nhold = 0;
    while (i < h) {
        int r = tn_step(s, t + i, len - i, false, o);
        if (r < 0) { /* only when all of p is in t */
            memcpy(s->hold, t + i, len - i);
            s->nhold = (uint8_t)(len - i);
            return n;
        }
        i += (size_t)r;
    }
    return i - h;
}

static dlp_rc_t tn_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    textnorm_stage_t *s = (textnorm_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    ob_init(&o, st);
    if (s->nhold > 0)
        i = tn_stitch(s, p, n, &o);
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
