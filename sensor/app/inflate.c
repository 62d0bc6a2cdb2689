/*
 * inflate.c - the gzip / deflate stage; the only file that includes zlib.h.
 *
 * The wrapper is sniffed from the first two bytes, whatever the header said
 * (servers label raw deflate "deflate" as often as zlib, and some send zlib
 * as "gzip"): 1f 8b is gzip (RFC 1952: FEXTRA, FNAME, FCOMMENT, FHCRC and
 * the CRC/ISIZE trailer are checked by zlib), a valid zlib header (CM 8,
 * CINFO <= 7, FCHECK) is zlib (RFC 1950), anything else raw deflate
 * (RFC 1951). A raw stream cannot start like gzip (BTYPE 11 is invalid), and
 * a zlib-looking first byte (0x08 + window bits) would be a stored block
 * with non-zero padding. After a gzip member, another member may follow
 * (1f 8b); anything else after the end of the data is ignored.
 *
 * The zlib-only stage (dlp_stage_zlib_new: FTP MODE Z) sniffs nothing: the
 * stream must start with a zlib header and end with the zlib stream, so
 * plain text is not read as raw deflate (which can turn text into garbage
 * for a while before it fails), and bytes after the end are not passed over
 * unseen. Either is corrupt data: noted, DLP_EPROTO, and the caller scans
 * the bytes as they are.
 *
 * Output goes through a fixed buffer (OUT_BUF) and is emitted as it fills.
 * Bounds: more than decomp_max output bytes -> exactly decomp_max bytes are
 * passed on, DLP_NOTE_DECOMP_CAP, the stage stops; once the output passed
 * DLP_APP_DECOMP_RATIO_FLOOR bytes, output > decomp_ratio_max * input -> DLP_NOTE_DECOMP_RATIO,
 * the stage stops (small bodies may compress very well: a page of spaces).
 * A bound of 0 disables it. Corrupt data -> DLP_NOTE_DECODER_ERROR, stop;
 * a stream that ends early is noted the same way at end, and what was
 * decoded before (up to the error) stays passed on. The output before a cap
 * is the same for any split of the input; where the ratio bound stops
 * depends on how much input zlib had read, so it moves with the split by
 * less than one output buffer.
 *
 * Memory: nothing until the first two bytes; then one block (z_stream +
 * output buffer, ~16 KiB) plus zlib's state (~7 KiB) and window (32 KiB,
 * allocated by zlib when a call does not finish the stream); all freed when
 * the data ends (zlib/raw end, or what follows a gzip member is not another
 * one), on an error, at end, or at free.
 *
 * Thread: owned by the worker that owns the flow.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "dlp/limits.h"
#include "dlp/stage.h"
#include "stage_int.h"

#define OUT_BUF (16u * 1024)
#define IN_STEP (1u << 30) /* zlib counts in uInt */

enum { Z_SNIFF = 0, Z_RUN, Z_MEMBER, Z_TRAILING };
enum { W_GZIP = 1, W_ZLIB, W_RAW };

typedef struct zbuf {
    z_stream zs;
    uint8_t out[OUT_BUF];
} zbuf_t;

typedef struct inflate_stage {
    dlp_stage_t base;
    zbuf_t *z;
    dlp_app_limits_t lim; /* decomp_max, decomp_ratio_max: 0 is off */
    uint64_t total_in, total_out;
    uint8_t state;
    uint8_t wrap;
    uint8_t zlib_only; /* dlp_stage_zlib_new */
    uint8_t nsniff;
    uint8_t sniff[2];
} inflate_stage_t;

static void z_release(inflate_stage_t *s)
{
    if (s->z != NULL) {
        inflateEnd(&s->z->zs);
        free(s->z);
        s->z = NULL;
    }
}

static int sniff_wrap(const uint8_t h[2])
{
    if (h[0] == 0x1f && h[1] == 0x8b)
        return W_GZIP;
    if ((h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((unsigned)h[0] << 8 | h[1]) % 31 == 0)
        return W_ZLIB;
    return W_RAW;
}

static dlp_rc_t z_start(inflate_stage_t *s, int wrap)
{
    static const int bits[] = {
        [W_GZIP] = 16 + MAX_WBITS, [W_ZLIB] = MAX_WBITS, [W_RAW] = -MAX_WBITS};

    if (s->z != NULL) {
        if (inflateReset(&s->z->zs) != Z_OK)
            return DLP_EIO;
        return DLP_OK;
    }
    s->z = calloc(1, sizeof(*s->z));
    if (s->z == NULL)
        return DLP_ENOMEM;
    if (inflateInit2(&s->z->zs, bits[wrap]) != Z_OK) {
        free(s->z);
        s->z = NULL;
        return DLP_ENOMEM;
    }
    s->wrap = (uint8_t)wrap;
    return DLP_OK;
}

/* Passes n output bytes on, within the bounds. */
static dlp_rc_t deliver(inflate_stage_t *s, size_t n)
{
    dlp_app_note_t stop;
    size_t ok = dlp_decomp_allow(&s->lim, s->total_in, s->total_out, n, &stop);
    dlp_rc_t rc = dlp_stage_emit(&s->base, s->z->out, ok);

    s->total_out += ok;
    if (rc < 0)
        return rc;
    if (stop == DLP_NOTE__COUNT)
        return DLP_OK;
    dlp_stage_note(&s->base, stop, 0);
    return DLP_ELIMIT;
}

static uInt out_room(const inflate_stage_t *s)
{
    /* one byte more than the cap allows, to tell "exactly the cap" from "over" */
    if (s->lim.decomp_max != 0 && s->lim.decomp_max - s->total_out < OUT_BUF)
        return (uInt)(s->lim.decomp_max - s->total_out + 1);
    return OUT_BUF;
}

/* Inflates p[0, n) (n <= IN_STEP); *used: bytes read, less than n after the end. */
static dlp_rc_t z_run(inflate_stage_t *s, const uint8_t *p, size_t n, size_t *used)
{
    z_stream *zs = &s->z->zs;
    int ret;

    zs->next_in = p;
    zs->avail_in = (uInt)n;
    do {
        uInt room = out_room(s), before_in = zs->avail_in;
        dlp_rc_t rc;

        zs->next_out = s->z->out;
        zs->avail_out = room;
        ret = inflate(zs, Z_NO_FLUSH);
        s->total_in += before_in - zs->avail_in;
        if (room - zs->avail_out > 0) { /* also what came before an error */
            rc = deliver(s, room - zs->avail_out);
            if (rc < 0)
                return rc;
        }
        if (ret == Z_MEM_ERROR)
            return DLP_ENOMEM;
        if ((ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR) ||
            (ret == Z_BUF_ERROR && zs->avail_in > 0 && zs->avail_out > 0)) {
            dlp_stage_note(&s->base, DLP_NOTE_DECODER_ERROR, 0);
            return DLP_EPROTO;
        }
        if (ret == Z_STREAM_END) {
            s->state = s->wrap == W_GZIP ? Z_MEMBER : Z_TRAILING;
            s->nsniff = 0;
            break;
        }
        if (ret == Z_BUF_ERROR)
            break;
    } while (zs->avail_in > 0 || zs->avail_out == 0);
    *used = n - zs->avail_in;
    if (s->state == Z_TRAILING)
        z_release(s);
    return DLP_OK;
}

/* Collects the first two bytes of a stream or member; *used: bytes taken. */
static dlp_rc_t z_sniff(inflate_stage_t *s, const uint8_t *p, size_t n, size_t *used)
{
    size_t take = 2 - s->nsniff, u = 0;
    dlp_rc_t rc;

    if (take > n)
        take = n;
    memcpy(s->sniff + s->nsniff, p, take);
    s->nsniff = (uint8_t)(s->nsniff + take);
    *used = take;
    if (s->state == Z_MEMBER &&
        (s->sniff[0] != 0x1f || (s->nsniff == 2 && sniff_wrap(s->sniff) != W_GZIP))) {
        s->state = Z_TRAILING; /* not another member: ignored */
        z_release(s);
        return DLP_OK;
    }
    if (s->nsniff < 2)
        return DLP_OK;
    if (s->zlib_only && sniff_wrap(s->sniff) != W_ZLIB) {
        dlp_stage_note(&s->base, DLP_NOTE_DECODER_ERROR, 0);
        return DLP_EPROTO;
    }
    rc = z_start(s, s->state == Z_MEMBER ? W_GZIP : sniff_wrap(s->sniff));
    if (rc < 0)
        return rc;
    s->state = Z_RUN;
    return z_run(s, s->sniff, 2, &u);
}

static dlp_rc_t inflate_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    inflate_stage_t *s = (inflate_stage_t *)st;

    if (st->next->failed != 0) {
        z_release(s); /* nothing downstream wants it */
        s->state = Z_TRAILING;
        return DLP_OK;
    }
    while (n > 0) {
        size_t used = 0, step = n < IN_STEP ? n : IN_STEP;
        dlp_rc_t rc;

        if (s->state == Z_TRAILING && s->zlib_only) {
            dlp_stage_note(st, DLP_NOTE_DECODER_ERROR, 0); /* bytes after the stream */
            return DLP_EPROTO;
        }
        if (s->state == Z_TRAILING)
            return DLP_OK;
        if (s->state == Z_RUN) {
            rc = z_run(s, p, step, &used);
            if (rc >= 0 && used == 0 && s->state == Z_RUN) {
                /* no progress: never expected from zlib, but a worker must not spin */
                dlp_stage_note(st, DLP_NOTE_DECODER_ERROR, 0);
                rc = DLP_EPROTO;
            }
        } else {
            rc = z_sniff(s, p, step, &used);
        }
        if (rc < 0) {
            z_release(s);
            return rc;
        }
        p += used;
        n -= used;
    }
    return DLP_OK;
}

static dlp_rc_t inflate_end(dlp_stage_t *st)
{
    inflate_stage_t *s = (inflate_stage_t *)st;
    bool truncated = s->state == Z_RUN || (s->state == Z_SNIFF && s->nsniff > 0);

    z_release(s);
    s->state = Z_TRAILING;
    if (truncated) {
        dlp_stage_note(st, DLP_NOTE_DECODER_ERROR, 0);
        return DLP_EPROTO;
    }
    return DLP_OK;
}

static void inflate_free(dlp_stage_t *st)
{
    z_release((inflate_stage_t *)st);
    free(st);
}

static const dlp_stage_ops_t inflate_ops = {
    .name = "inflate",
    .write = inflate_write,
    .end = inflate_end,
    .free = inflate_free,
};

dlp_stage_t *dlp_stage_inflate_new(dlp_stage_t *next, const dlp_app_limits_t *l, int gzip)
{
    inflate_stage_t *s;
    dlp_app_limits_t def;

    (void)gzip; /* the wrapper is sniffed (see above) */
    if (l == NULL) {
        dlp_app_limits_default(&def);
        l = &def;
    }
    s = (inflate_stage_t *)dlp_stage_alloc(sizeof(*s), &inflate_ops, next);
    if (s == NULL)
        return NULL;
    s->lim = *l;
    return &s->base;
}

dlp_stage_t *dlp_stage_zlib_new(dlp_stage_t *next, const dlp_app_limits_t *l)
{
    dlp_stage_t *st = dlp_stage_inflate_new(next, l, 0);

    if (st != NULL)
        ((inflate_stage_t *)st)->zlib_only = 1;
    return st;
}
