/*
 * b64run.c - base64 runs inside text (JSON strings, form values, WebSocket
 * text): the way web APIs carry files and mail (a mail-send API's
 * attachments[].content, Gmail's {"raw": base64url(message)}, a
 * "data:text/csv;base64,..." URI). The receiving service decodes them, so
 * the sensor does too.
 *
 * The stage passes its input on unchanged (the text is scanned as it is)
 * and writes each run it decodes to a content stream of its own, of the
 * same field: the decoded bytes get their own matcher state, so no value is
 * found across the edge of encoded and plain text, or of two runs. That
 * stream is a body like any other for the worker: compressed media are
 * gated, a gzip file is inflated, a ZIP unpacked (flowapp.c).
 *
 * Definition (on the whole stream; any split gives the same output):
 *  - a run is a maximal sequence of characters of the standard or the URL
 *    alphabet (A-Z a-z 0-9 + / - _; the two may mix). A line break (CR, LF)
 *    continues a run when the line before it had B64_LINE_MIN characters or
 *    more (or it follows another line break): base64 folded in lines, as a
 *    JSON "\r\n" or a form's %0D%0A gives it. '=' and every other byte end
 *    a run; padding is optional;
 *  - a run is decoded when it has B64_RUN_MIN characters (line breaks not
 *    counted), or B64_DATA_MIN when it follows ";base64," (any case) right
 *    after a run "base64" that follows a ';': a data: URI says what it is.
 *    A run whose first B64_RUN_MIN characters are all hex digits is a hex
 *    string (a SHA-256), not decoded;
 *  - decoding: 4 characters give 3 bytes; 2 or 3 left at the end of the run
 *    give 1 or 2 (no padding needed);
 *  - bounds: DLP_APP_B64_RUNS_MAX runs decoded per stream (the body, the
 *    message) and decomp_max decoded bytes in all; the rest is scanned only
 *    as it is, noted DLP_NOTE_DECOMP_CAP once.
 *
 * State across writes: the run's state, its first characters until it
 * reaches its threshold (at most B64_RUN_MIN - 1 bytes), a partial quantum,
 * and what the data: marker needs (the byte before the run, a ',' just after
 * "base64").
 *
 * Speed: nothing is copied (the input goes on as it is). Outside a run,
 * 64-byte blocks are classified branch-free into a bit mask, and the bytes
 * before the first PLAIN_SPAN consecutive bytes that could be part of a run
 * or of the data: marker are skipped at once; only from such a span on (and
 * in the last 63 bytes of a write) are words measured one by one. A run is held only
 * when a write ends inside it.
 *
 * Thread: owned by the worker that owns the flow.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/stage.h"
#include "stage_int.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define B64_RUN_MIN 64  /* characters: 48 bytes; tokens, ids and hashes are shorter */
#define B64_DATA_MIN 8  /* after ";base64,": 6 bytes, the shortest value a rule finds */
#define B64_LINE_MIN 16 /* a line this long may be folded base64 */
#define DEC_BUF 1024

_Static_assert(B64_DATA_MIN <= B64_RUN_MIN && B64_RUN_MIN < 256, "hold fits its counters");

enum { R_OUT = 0, R_HOLD, R_DECODE, R_SKIP };

#define NB 0xff /* not in the alphabet */
#define LB 0xfe /* a line break */

/* clang-format off */
static const uint8_t val[256] = {
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, LB, NB, NB, LB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, 62, NB, 62, NB, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, NB, NB, NB, NB, NB, NB,
    NB, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, NB, NB, NB, NB, 63,
    NB, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
    NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB, NB,
};
/* clang-format on */

typedef struct b64run_stage {
    dlp_stage_t base;
    dlp_field_t field;
    uint64_t decomp_max; /* decoded bytes in all; 0: no cap */
    uint64_t decoded;
    uint32_t runs; /* runs decoded */
    uint8_t state;
    uint8_t capped;  /* a bound was reached (noted) */
    uint8_t thr;     /* the current run's threshold */
    uint8_t nhold;   /* characters held (R_HOLD) */
    uint8_t seg;     /* characters of the run's current line, up to B64_LINE_MIN */
    uint8_t lb;      /* the last byte of the run was a line break */
    uint8_t prev;    /* the byte before the run held */
    uint8_t last;    /* the last byte of the previous write */
    uint8_t lowered; /* the previous write ended with ";base64," */
    uint8_t nacc;
    uint32_t acc;
    dlp_stage_t *out; /* the decoded run's sink stage */
    uint8_t hold[B64_RUN_MIN];
} b64run_stage_t;

/* Decoded bytes of one write, passed to the run's stream in pieces. */
typedef struct dec {
    b64run_stage_t *s;
    size_t n;
    uint8_t b[DEC_BUF];
} dec_t;

static void dec_flush(dec_t *d)
{
    b64run_stage_t *s = d->s;
    dlp_rc_t rc;

    if (d->n > 0 && s->out != NULL) {
        rc = dlp_stage_write(s->out, d->b, d->n); /* the sink stage swallows when not inspected */
        (void)rc;
    }
    d->n = 0;
}

static void dec_put(dec_t *d, uint8_t c)
{
    if (d->n == DEC_BUF)
        dec_flush(d);
    d->b[d->n++] = c;
}

static void note_cap(b64run_stage_t *s)
{
    if (!s->capped)
        dlp_stage_note(&s->base, DLP_NOTE_DECOMP_CAP, 0);
    s->capped = 1;
}

/* One more character of a decoded run. */
static void dec_char(dec_t *d, uint8_t v)
{
    b64run_stage_t *s = d->s;

    s->acc = s->acc << 6 | v;
    if (++s->nacc < 4)
        return;
    s->nacc = 0;
    if (s->decomp_max != 0 && s->decoded + 3 > s->decomp_max) {
        note_cap(s);
        s->state = R_SKIP; /* the stream is closed at the run's end */
        return;
    }
    s->decoded += 3;
    dec_put(d, (uint8_t)(s->acc >> 16));
    dec_put(d, (uint8_t)(s->acc >> 8));
    dec_put(d, (uint8_t)s->acc);
}

/* The run ends: its partial quantum, then its stream is closed. */
static void run_end(dec_t *d)
{
    b64run_stage_t *s = d->s;
    dlp_rc_t rc;

    if (s->state == R_DECODE && s->nacc >= 2) {
        dec_put(d, (uint8_t)(s->acc >> (s->nacc == 2 ? 4 : 10)));
        if (s->nacc == 3)
            dec_put(d, (uint8_t)(s->acc >> 2));
        s->decoded += s->nacc - 1u;
    }
    dec_flush(d);
    if (s->out != NULL) {
        rc = dlp_stage_end(s->out);
        (void)rc;
        dlp_stage_free_chain(s->out);
        s->out = NULL;
    }
    s->state = R_OUT;
    s->nacc = 0;
    s->acc = 0;
}

static bool all_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (dlp_hexval(p[i]) < 0)
            return false;
    return true;
}

/*
 * The run p[0, n) (its first n characters, n >= its threshold) is to be
 * decoded, or skipped (a hex string, a bound). Decodes p.
 */
static void run_start(dec_t *d, const uint8_t *p, size_t n)
{
    b64run_stage_t *s = d->s;

    s->state = R_SKIP;
    if (s->thr == B64_RUN_MIN && all_hex(p, B64_RUN_MIN))
        return;
    if (s->runs >= DLP_APP_B64_RUNS_MAX || (s->decomp_max != 0 && s->decoded >= s->decomp_max)) {
        note_cap(s);
        return;
    }
    s->out = dlp_stage_sink_new(s->base.sink, s->base.sink_ctx, s->field, NULL);
    if (s->out == NULL)
        return; /* out of memory: scanned as it is */
    s->runs++;
    s->state = R_DECODE;
    for (size_t i = 0; i < n && s->state == R_DECODE; i++)
        dec_char(d, val[p[i]]);
}

/* A short run "base64" after ';', ended by ',': a data: URI's marker. */
static bool data_marker(const uint8_t *r, size_t n, uint8_t before, uint8_t after)
{
    static const char m[] = "base64";

    if (n != 6 || before != ';' || after != ',')
        return false;
    for (size_t i = 0; i < 6; i++)
        if ((r[i] | 0x20) != (uint8_t)m[i])
            return false;
    return true;
}

/*
 * A byte c inside a run (R_HOLD, R_DECODE, R_SKIP). Returns false when it
 * ended the run (c is then outside it).
 */
static bool run_byte(dec_t *d, uint8_t c)
{
    b64run_stage_t *s = d->s;
    uint8_t v = val[c];

    if (v == LB) {
        if (s->seg < B64_LINE_MIN && !s->lb)
            return false;
        s->lb = 1;
        s->seg = 0;
        return true;
    }
    if (v == NB)
        return false;
    s->lb = 0;
    if (s->seg < B64_LINE_MIN)
        s->seg++;
    if (s->state == R_DECODE) {
        dec_char(d, v);
    } else if (s->state == R_HOLD) {
        s->hold[s->nhold++] = c;
        if (s->nhold >= s->thr)
            run_start(d, s->hold, s->nhold);
    }
    return true;
}

/* A run starts; 'prev' is the byte before it, 'lowered': it follows ";base64,". */
static void run_open(b64run_stage_t *s, uint8_t prev, bool lowered)
{
    s->state = R_HOLD;
    s->thr = lowered ? B64_DATA_MIN : B64_RUN_MIN;
    s->nhold = 0;
    s->seg = 0;
    s->lb = 0;
    s->prev = prev;
}

/*
 * Bytes that can be part of what the scan looks for (the alphabet and ','):
 * a decodable run has B64_LINE_MIN characters or more (B64_RUN_MIN, or a
 * folded line), and "base64," with B64_DATA_MIN characters after it is
 * PLAIN_SPAN bytes of the set. Where no such span of the set starts, nothing
 * needs a look.
 */
#define PLAIN_SPAN 15
#define BLOCK 64

_Static_assert(PLAIN_SPAN <= B64_LINE_MIN && PLAIN_SPAN <= 7 + B64_DATA_MIN,
               "every run the scan decodes or marks spans PLAIN_SPAN bytes of the set");

#define ONES 0x0101010101010101ULL
#define LOWS 0x7f7f7f7f7f7f7f7fULL
#define HIGHS 0x8080808080808080ULL

/* High bit of each byte of y (bytes < 0x80): the byte is in [lo, hi]. */
#define IN_RANGE(y, lo, hi) (((y) + ONES * (0x80u - (lo))) & ~((y) + ONES * (0x7fu - (hi))))

/*
 * Bit k: p[k] is in '+' to 'z', a superset of the set (it costs a look
 * where ":;<=>?[\\]^`" join words, never a miss). SSE2 where there is
 * one (every x86-64), else eight bytes at a time without branches ("Bit
 * Twiddling Hacks": no carry leaves a byte below 0x80). With SSE2, '.', '@'
 * and ':' are out too: none is in a run or in the marker ';base64,' and the
 * run after it, and e-mail addresses, host names and timestamps
 * (2024-01-05T13:45:00Z) made spans of most JSON and form text (the bench's
 * bodies: this stage was 3 % of the sensor's CPU before).
 */
#if defined(__SSE2__)
static inline uint64_t set_mask(const uint8_t *p)
{
    const __m128i lo = _mm_set1_epi8('+' - 1), hi = _mm_set1_epi8('z' + 1);
    const __m128i dot = _mm_set1_epi8('.'), at = _mm_set1_epi8('@'), colon = _mm_set1_epi8(':');
    uint64_t m = 0;

    for (unsigned k = 0; k < BLOCK; k += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
        __m128i in = _mm_and_si128(_mm_cmpgt_epi8(x, lo), _mm_cmplt_epi8(x, hi)); /* signed */
        __m128i out = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, dot), _mm_cmpeq_epi8(x, at)),
                                   _mm_cmpeq_epi8(x, colon));
        m |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_andnot_si128(out, in)) << k;
    }
    return m;
}
#else
static inline uint64_t set_mask(const uint8_t *p)
{
    uint64_t m = 0;

    for (unsigned k = 0; k < BLOCK; k += 8) {
        uint64_t x, y, in;
        memcpy(&x, p + k, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        x = __builtin_bswap64(x);
#endif
        y = x & LOWS;
        in = IN_RANGE(y, '+', 'z') & ~x & HIGHS;
        m |= ((in >> 7) * 0x0102040810204080ULL >> 56) << k;
    }
    return m;
}
#endif

/* Bit k: a span of PLAIN_SPAN bytes of the set starts at k. */
static inline uint64_t spans(uint64_t r)
{
    r &= r >> 1; /* bit k: k and the next are set */
    r &= r >> 2; /* 4 */
    r &= r >> 4; /* 8 */
    return r & r >> (PLAIN_SPAN - 8);
}

/*
 * From p[i] (a word's start or a byte outside the alphabet): skips the bytes
 * before the first span of PLAIN_SPAN bytes of the set. Returns where to look
 * word by word, up to *slow_to (then call again). The last bytes of a write
 * (under a block) are classified up to their last byte outside the superset,
 * the rest padded: a span cannot cross that byte, and what follows it (which
 * may go on in the next write) is looked at word by word.
 */
static size_t skip_plain(const uint8_t *p, size_t n, size_t i, size_t *slow_to)
{
    uint8_t pad[BLOCK];
    uint64_t r;
    size_t e;

    while (i + BLOCK <= n) {
        r = spans(set_mask(p + i));
        if (r != 0) {
            /* bit k is the first span's start: p[k - 1] is outside the set, a word's end */
            i += (size_t)__builtin_ctzll(r);
            *slow_to = i + PLAIN_SPAN;
            return i;
        }
        i += BLOCK - PLAIN_SPAN + 1;
        while (i < n && val[p[i]] < 64) /* the rest of a short word */
            i++;
    }
    *slow_to = n;
    for (e = n; e > i && p[e - 1] >= '+' && p[e - 1] <= 'z'; e--)
        ;
    if (e == i)
        return i;
    memset(pad, 0, sizeof(pad));
    memcpy(pad, p + i, e - i);
    r = spans(set_mask(pad));
    if (r == 0)
        return e;
    i += (size_t)__builtin_ctzll(r);
    *slow_to = i + PLAIN_SPAN;
    return i;
}

/*
 * Outside a run, from p[i]: skips bytes outside the alphabet and words too
 * short to decode, without holding them. Returns where a run that needs
 * the per-byte path starts (n: none in this write).
 */
static size_t scan_out(b64run_stage_t *s, const uint8_t *p, size_t n, size_t i)
{
    size_t low_at = s->lowered ? i : SIZE_MAX, slow_to = i;

    s->lowered = 0;
    while (i < n) {
        size_t r, len, thr;
        uint8_t before;

        if (i >= slow_to && i != low_at)
            i = skip_plain(p, n, i, &slow_to);
        while (i < n && val[p[i]] >= LB)
            i++;
        if (i == n)
            break;
        r = i;
        while (i < n && val[p[i]] < 64)
            i++;
        len = i - r;
        thr = r == low_at ? B64_DATA_MIN : B64_RUN_MIN;
        before = r > 0 ? p[r - 1] : s->last;
        if (len >= thr || i == n || (val[p[i]] == LB && len >= B64_LINE_MIN)) {
            run_open(s, before, r == low_at);
            return r; /* decoded, held or folded: byte by byte */
        }
        if (data_marker(p + r, len, before, p[i]))
            low_at = ++i; /* past the ',': a run there is looked at, not skipped */
    }
    s->lowered = low_at == n;
    return n;
}

static dlp_rc_t b64run_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    b64run_stage_t *s = (b64run_stage_t *)st;
    dlp_rc_t rc = dlp_stage_emit(st, p, n); /* the text as it is */
    dec_t d;
    size_t i = 0;

    d.s = s;
    d.n = 0;
    while (i < n) {
        if (s->state == R_OUT) {
            i = scan_out(s, p, n, i);
            continue;
        }
        if (run_byte(&d, p[i])) {
            i++;
            continue;
        }
        /* p[i] ends the run; a short held run may be a data: URI's marker */
        if (s->state == R_HOLD && data_marker(s->hold, s->nhold, s->prev, p[i])) {
            run_end(&d);
            s->lowered = 1; /* for a run at p[i + 1], maybe in the next write */
            i++;
            continue;
        }
        run_end(&d);
    }
    dec_flush(&d);
    s->last = p[n - 1];
    return rc;
}

static dlp_rc_t b64run_end(dlp_stage_t *st)
{
    b64run_stage_t *s = (b64run_stage_t *)st;
    dec_t d;

    d.s = s;
    d.n = 0;
    if (s->state != R_OUT)
        run_end(&d);
    return DLP_OK;
}

static void b64run_free(dlp_stage_t *st)
{
    b64run_stage_t *s = (b64run_stage_t *)st;

    dlp_rc_t rc = dlp_stage_end(s->out); /* abandoned in a run: its stream is closed */

    (void)rc;
    dlp_stage_free_chain(s->out);
    free(st);
}

static const dlp_stage_ops_t b64run_ops = {
    .name = "base64 runs",
    .write = b64run_write,
    .end = b64run_end,
    .free = b64run_free,
};

dlp_stage_t *dlp_stage_b64run_new(dlp_stage_t *next, dlp_field_t field, const dlp_app_limits_t *l)
{
    b64run_stage_t *s;

    s = (b64run_stage_t *)dlp_stage_alloc(sizeof(b64run_stage_t), &b64run_ops, next);
    if (s == NULL)
        return NULL;
    s->field = field;
    s->decomp_max = l != NULL ? l->decomp_max : DLP_APP_DECOMP_MAX;
    return &s->base;
}
