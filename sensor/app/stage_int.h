/*
 * stage_int.h - what the content stages of app/ share (not public).
 */
#ifndef DLP_STAGE_INT_H
#define DLP_STAGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dlp/limits.h"
#include "dlp/stage.h"

/*
 * Allocates a zeroed stage struct of 'size' bytes (dlp_stage_t first), sets
 * its ops and next, and takes the sink and context for notes from 'next'
 * (which took them from its own next, down to the sink stage). NULL when
 * out of memory or next is NULL; next is not freed then.
 */
dlp_stage_t *dlp_stage_alloc(size_t size, const dlp_stage_ops_t *ops, dlp_stage_t *next);

/*
 * The decompression bounds (dlp_app_limits_t), for the inflate stage and ZIP
 * members alike: of n more output bytes, after 'out' bytes made from 'in'
 * input bytes, how many may be passed on. *stop is DLP_NOTE__COUNT, or the
 * bound the output reached: the cap (only the bytes returned fit under it)
 * or the ratio (checked once the output passed DLP_APP_DECOMP_RATIO_FLOOR,
 * with these n bytes counted). A bound of 0 is off.
 */
static inline size_t dlp_decomp_allow(const dlp_app_limits_t *l, uint64_t in, uint64_t out,
                                      size_t n, dlp_app_note_t *stop)
{
    uint64_t ratio = l->decomp_ratio_max;

    *stop = DLP_NOTE__COUNT;
    if (l->decomp_max != 0 && out + n > l->decomp_max) {
        *stop = DLP_NOTE_DECOMP_CAP;
        return out < l->decomp_max ? (size_t)(l->decomp_max - out) : 0;
    }
    out += n;
    if (ratio != 0 && out > DLP_APP_DECOMP_RATIO_FLOOR && in < UINT64_MAX / ratio &&
        out > in * ratio)
        *stop = DLP_NOTE_DECOMP_RATIO;
    return n;
}

/*
 * Tells the sink (sink->secret, which may be NULL) that the n input bytes taken
 * before 'end' (NULL: somewhere among the last n taken) hold a credential, to be
 * kept out of evidence (dlp_content_sink_t). Nothing for n == 0.
 */
static inline void dlp_app_secret(const dlp_content_sink_t *sink, void *ctx, const uint8_t *end,
                                  size_t n)
{
    if (n > 0 && sink->secret != NULL)
        sink->secret(ctx, end, n);
}

/* Hex digit value, or -1. */
static inline int dlp_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Output of one write, built on the stack: emitted when full and at the end
 * of the write; the first error of dlp_stage_emit() sticks. */
#define DLP_OBUF 4096

typedef struct dlp_obuf {
    dlp_stage_t *st;
    dlp_rc_t rc;
    size_t n;
    uint8_t b[DLP_OBUF];
} dlp_obuf_t;

/* Not '= {...}': that would clear the 4 KiB buffer at every write. */
static inline void ob_init(dlp_obuf_t *o, dlp_stage_t *st)
{
    o->st = st;
    o->rc = DLP_OK;
    o->n = 0;
}

static inline void ob_flush(dlp_obuf_t *o)
{
    if (o->n > 0 && o->rc >= 0)
        o->rc = dlp_stage_emit(o->st, o->b, o->n);
    o->n = 0;
}

static inline void ob_put(dlp_obuf_t *o, uint8_t c)
{
    if (o->n == DLP_OBUF)
        ob_flush(o);
    o->b[o->n++] = c;
}

static inline void ob_put_n(dlp_obuf_t *o, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t k = DLP_OBUF - o->n < n ? DLP_OBUF - o->n : n;
        memcpy(o->b + o->n, p, k);
        o->n += k;
        p += k;
        n -= k;
        if (o->n == DLP_OBUF)
            ob_flush(o);
    }
}

/* Emits p[0, n) straight from the input, after what the buffer holds (short
 * pieces are joined further down, by address: flowapp.c join()). */
static inline void ob_direct(dlp_obuf_t *o, const uint8_t *p, size_t n)
{
    ob_flush(o);
    if (n > 0 && o->rc >= 0)
        o->rc = dlp_stage_emit(o->st, p, n);
}

static inline dlp_rc_t ob_done(dlp_obuf_t *o)
{
    ob_flush(o);
    return o->rc < 0 ? o->rc : DLP_OK;
}

/* One decision at b[0, a) of a stage that holds a cut sequence: the bytes it
 * used, or -1 when it needs more than a (never when final). */
typedef int (*dlp_hold_step_fn)(void *st, const uint8_t *b, size_t a, bool final, dlp_obuf_t *o);

#define DLP_STITCH_MAX 24 /* a stage's hold plus the bytes of p it joins to it */

/*
 * Finishes the held bytes hold[0, *nhold) with the first bytes of p (at most
 * take_max of them); returns where in p to go on (n when p went into the hold
 * as well). The caller asserts its hold size + take_max <= DLP_STITCH_MAX.
 */
static inline size_t dlp_hold_stitch(uint8_t *hold, uint8_t *nhold, size_t take_max,
                                     const uint8_t *p, size_t n, dlp_hold_step_fn step, void *st,
                                     dlp_obuf_t *o)
{
    uint8_t t[DLP_STITCH_MAX];
    size_t h = *nhold, take = n < take_max ? n : take_max, len = h + take, i = 0;

    memcpy(t, hold, h);
    memcpy(t + h, p, take);
    *nhold = 0;
    while (i < h) {
        int r = step(st, t + i, len - i, false, o);
        if (r < 0) { /* only when all of p is in t */
            memcpy(hold, t + i, len - i);
            *nhold = (uint8_t)(len - i);
            return n;
        }
        i += (size_t)r;
    }
    return i - h;
}

#endif
