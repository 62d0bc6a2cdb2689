/*
 * ws.c - WebSocket frames of one direction (RFC 6455) and permessage-deflate
 * (RFC 7692), push style.
 *
 * Design: a frame header (2 to 14 bytes) is collected in hb[] and checked as
 * its bytes arrive; the payload is then streamed: unmasked through a stack
 * buffer (the mask index is the payload offset mod 4, so any split gives the
 * same bytes), inflated when the message is compressed, and written to the
 * message's content stream, opened at its first output byte. Control frames
 * (ping, pong, close) are collected whole (<= 125 bytes) and reported as one
 * block: a ping's payload is whatever the client put there, and pings can be
 * sent without end, so they are a channel like any message.
 *
 * What is not WebSocket (RFC 6455 5.2, checked on the header alone, so the
 * verdict does not depend on the split): RSV2/RSV3, a reserved opcode, a
 * fragmented or > 125-byte control frame, RSV1 anywhere but the first frame
 * of a data message, a continuation without a message, a new message inside
 * one, a 64-bit length with its top bit set or over frame_max. The decoder
 * then stops for good (DLP_EPROTO) and hands the rest back: the caller scans
 * it raw from the failed frame's first byte. Lenient where the RFC is strict
 * but a server may not be: unmasked client frames, masked server frames,
 * lengths not in their shortest form, RSV1 without a negotiated extension
 * (inflated anyway: permessage-deflate is the only extension using it).
 *
 * permessage-deflate: the message's payload is raw DEFLATE whose sender
 * removed the trailing 00 00 FF FF of its sync flush; we feed it back at the
 * message's end. One inflater is kept for the direction (context takeover);
 * it is freed after each message when the answer agreed no_context_takeover,
 * after a message cut by a gap or a bound, or one that did not inflate (a
 * fresh one follows: the messages that refer to what was lost fail). A
 * message that ends the DEFLATE stream (BFINAL) restarts it for the next one
 * with the same window; bytes after that end in the same message are passed on
 * as they are (noted): a receiver may read them. Bounds, per message as per
 * HTTP body (dlp_decomp_allow): decomp_max output bytes, the ratio past
 * DLP_APP_DECOMP_RATIO_FLOOR; beyond them, and after corrupt data, the rest
 * of the message is not inspected (noted), as the inflate stage does with a
 * body.
 *
 * A text message that starts like JSON ('{', '[', '"', Socket.IO's "42/ns,[") has its
 * JSON escapes undone (the JSON stage in sniff mode, json.c), and every text
 * message has its long base64 runs decoded to streams of their own
 * (b64run.c): a chain of these stages and a sink stage per text message,
 * built at its first output byte.
 * Binary messages, and a text message when the chain cannot be allocated,
 * go to the sink as they are. After a gap the rest of a message is sniffed
 * again (it is a new stream).
 *
 * zlib: inflate.c's stage cannot be reused as it is: it sniffs the wrapper
 * (a raw stream can look like zlib), counts its bounds over its whole life
 * (a WebSocket lives for hours: they are per message here) and ends at the
 * stream's end. This file is the second user of zlib.h, inside app/ as the
 * architecture asks; no zlib type leaves it.
 *
 * Memory: the struct (~300 bytes) and, while a compressed message may refer
 * to earlier ones, zlib's state and 32 KiB window (charged as
 * DLP_STAGE_INFLATE_MEM).
 *
 * Thread: a dlp_ws_t belongs to the worker that owns the flow.
 */
#include "dlp/ws.h"

#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST
#include <zlib.h>

#include "dlp/limits.h"
#include "dlp/stage.h"
#include "stage_int.h"

#define CTRL_MAX 125
#define UNMASK_BUF 4096
#define ZOUT_BUF 4096

enum { S_HEAD = 0, S_DATA, S_CTRL, S_FAILED };
enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

struct dlp_ws {
    const dlp_content_sink_t *sink;
    void *ctx;
    dlp_app_limits_t lim;
    dlp_ws_opts_t o;
    uint8_t state;
    /* the frame */
    uint8_t hb[14], nh, nheld;
    uint8_t fin, masked, kpos;
    uint64_t remain;
    /* the message */
    uint8_t in_msg, comp, zskip, opened, text;
    void *h;
    dlp_stage_t *chain; /* a text message: JSON stage (sniffing) -> base64 runs -> sink stage */
    uint64_t zin, zout; /* this message's compressed and inflated bytes */
    z_stream *z;
    uint8_t zended; /* the DEFLATE stream ended: restart it (same window) */
    uint8_t ztrail; /* bytes followed its end in this message (noted) */
    uint8_t nctrl;
    uint8_t ctrl[CTRL_MAX];
};

static void note(dlp_ws_t *w, dlp_app_note_t n)
{
    if (w->sink->note != NULL)
        w->sink->note(w->ctx, n, 0);
}

/* --- the message stream -------------------------------------------------- */

/* The chain of a text message, or NULL (then the sink is written directly). */
static dlp_stage_t *text_chain(dlp_ws_t *w)
{
    dlp_stage_t *last = dlp_stage_sink_new(w->sink, w->ctx, DLP_FIELD_WS_MESSAGE, NULL);
    dlp_stage_t *b =
        last != NULL ? dlp_stage_b64run_new(last, DLP_FIELD_WS_MESSAGE, &w->lim) : NULL;
    dlp_stage_t *st = b != NULL ? dlp_stage_json_new(b, DLP_JSON_SNIFF) : NULL;

    if (st == NULL)
        dlp_stage_free_chain(b != NULL ? b : last);
    return st;
}

static void emit(dlp_ws_t *w, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (!w->opened) {
        w->opened = 1;
        if (w->text)
            w->chain = text_chain(w);
        if (w->chain == NULL)
            w->h = w->sink->open(w->ctx, DLP_FIELD_WS_MESSAGE, NULL);
    }
    if (w->chain != NULL) {
        dlp_rc_t rc = dlp_stage_write(w->chain, p, n);
        (void)rc; /* the JSON stage does not fail; the sink stage swallows when not opened */
    } else if (w->h != NULL) {
        w->sink->write(w->ctx, w->h, p, n);
    }
}

static void stream_close(dlp_ws_t *w)
{
    if (w->chain != NULL) {
        dlp_rc_t rc = dlp_stage_end(w->chain); /* closes the sink's stream */
        (void)rc;
        dlp_stage_free_chain(w->chain);
        w->chain = NULL;
    }
    if (w->h != NULL && w->sink->close != NULL)
        w->sink->close(w->ctx, w->h);
    w->h = NULL;
    w->opened = 0;
}

/* --- inflating ------------------------------------------------------------ */

static void z_release(dlp_ws_t *w)
{
    if (w->z != NULL) {
        inflateEnd(w->z);
        free(w->z);
        w->z = NULL;
    }
    w->zended = 0;
}

/* A new DEFLATE stream after one ended, with the window of the old one. */
static dlp_rc_t z_restart(dlp_ws_t *w)
{
    uInt len = 0;
    uint8_t *dict = malloc(32768);
    int ok;

    if (dict == NULL)
        return DLP_ENOMEM;
    ok = inflateGetDictionary(w->z, dict, &len) == Z_OK && inflateReset(w->z) == Z_OK &&
         (len == 0 || inflateSetDictionary(w->z, dict, len) == Z_OK);
    free(dict);
    w->zended = 0;
    return ok ? DLP_OK : DLP_EIO;
}

static dlp_rc_t z_ready(dlp_ws_t *w)
{
    if (w->z != NULL)
        return w->zended ? z_restart(w) : DLP_OK;
    w->z = calloc(1, sizeof(*w->z));
    if (w->z == NULL)
        return DLP_ENOMEM;
    if (inflateInit2(w->z, -MAX_WBITS) != Z_OK) {
        free(w->z);
        w->z = NULL;
        return DLP_ENOMEM;
    }
    return DLP_OK;
}

/* Inflated bytes to the message, within the bounds; false: a bound stopped it. */
static bool z_deliver(dlp_ws_t *w, const uint8_t *p, size_t n)
{
    dlp_app_note_t stop;
    size_t ok = dlp_decomp_allow(&w->lim, w->zin, w->zout, n, &stop);

    emit(w, p, ok);
    w->zout += ok;
    if (stop == DLP_NOTE__COUNT)
        return true;
    note(w, stop);
    return false;
}

/* What follows the end of the DEFLATE stream in its message is not DEFLATE, but
 * the receiver may still read it: passed on as it is, noted once. */
static void z_trailing(dlp_ws_t *w, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (!w->ztrail)
        note(w, DLP_NOTE_DECODER_ERROR);
    w->ztrail = 1;
    emit(w, p, n);
}

/* Compressed bytes of the message in progress (already unmasked). */
static dlp_rc_t z_feed(dlp_ws_t *w, const uint8_t *p, size_t n)
{
    uint8_t out[ZOUT_BUF];
    int ret;

    if (w->zskip || n == 0)
        return DLP_OK;
    if (w->zended) {
        z_trailing(w, p, n);
        return DLP_OK;
    }
    w->z->next_in = p;
    w->z->avail_in = (uInt)n; /* n <= UNMASK_BUF or 4 */
    do {
        uInt before = w->z->avail_in;

        w->z->next_out = out;
        w->z->avail_out = sizeof(out);
        ret = inflate(w->z, Z_NO_FLUSH);
        w->zin += before - w->z->avail_in;
        if (!z_deliver(w, out, sizeof(out) - w->z->avail_out)) {
            w->zskip = 1;
            return DLP_OK;
        }
        if (ret == Z_STREAM_END) {
            w->zended = 1;
            z_trailing(w, w->z->next_in, w->z->avail_in);
            return DLP_OK;
        }
        if (ret != Z_OK && ret != Z_BUF_ERROR) {
            note(w, DLP_NOTE_DECODER_ERROR);
            w->zskip = 1;
            return ret == Z_MEM_ERROR ? DLP_ENOMEM : DLP_OK;
        }
    } while (w->z->avail_in > 0 || w->z->avail_out == 0);
    return DLP_OK;
}

/* --- messages and frames ------------------------------------------------- */

static dlp_rc_t payload(dlp_ws_t *w, const uint8_t *p, size_t n)
{
    if (w->comp)
        return z_feed(w, p, n);
    emit(w, p, n);
    return DLP_OK;
}

static dlp_rc_t msg_start(dlp_ws_t *w, bool rsv1)
{
    dlp_rc_t rc = DLP_OK;

    w->in_msg = 1;
    w->comp = rsv1;
    w->zskip = w->ztrail = 0;
    w->zin = w->zout = 0;
    if (rsv1 && (rc = z_ready(w)) != DLP_OK) {
        note(w, DLP_NOTE_DECODER_ERROR); /* its content goes unseen: say so */
        z_release(w);
        w->comp = 0; /* passed on unmasked, as it is: better than nothing */
    }
    return rc == DLP_ENOMEM ? rc : DLP_OK;
}

static dlp_rc_t msg_end(dlp_ws_t *w)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    dlp_rc_t rc = DLP_OK;

    if (w->comp && !w->zended) /* a stream that ended has no sync flush to end */
        rc = z_feed(w, tail, sizeof(tail));
    stream_close(w);
    if (w->comp && (w->o.no_context_takeover || w->zskip))
        z_release(w); /* nothing later may refer to it, or it is out of step */
    w->in_msg = w->comp = w->zskip = 0;
    return rc;
}

/* A control frame's payload, whole or (cut by a gap or the end) as far as it came. */
static void ctrl_flush(dlp_ws_t *w)
{
    if (w->state == S_CTRL && w->nctrl > 0 && w->sink->block != NULL)
        w->sink->block(w->ctx, DLP_FIELD_WS_MESSAGE, w->ctrl, w->nctrl);
    w->nctrl = 0;
}

static dlp_rc_t frame_end(dlp_ws_t *w)
{
    dlp_rc_t rc = DLP_OK;

    if (w->state == S_CTRL) {
        ctrl_flush(w);
    } else if (w->fin) {
        rc = msg_end(w);
    }
    w->state = S_HEAD;
    w->nh = 0;
    return rc;
}

/* Where the length ends (and the key, if any, begins), from the first two bytes. */
static size_t key_at(const uint8_t *hb)
{
    uint8_t len7 = hb[1] & 0x7f;

    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
}

/* The whole header's size, from the first two bytes. */
static size_t head_size(const uint8_t *hb)
{
    return key_at(hb) + ((hb[1] & 0x80) ? 4 : 0);
}

/* RFC 6455 5.2 on the first two bytes: false if this is not a frame. */
static bool head_valid(const dlp_ws_t *w)
{
    uint8_t b0 = w->hb[0], op = b0 & 0x0f, len7 = w->hb[1] & 0x7f;
    bool ctrl = op >= 8, rsv1 = (b0 & 0x40) != 0;

    if ((b0 & 0x30) != 0 || (op > OP_BINARY && op < OP_CLOSE) || op > OP_PONG)
        return false;
    if (ctrl)
        return (b0 & 0x80) != 0 && len7 <= CTRL_MAX && !rsv1;
    if (op == OP_CONT)
        return w->in_msg && !rsv1;
    return !w->in_msg;
}

/* The extended length, once its bytes are in; false if absurd. */
static bool head_length(dlp_ws_t *w)
{
    uint8_t len7 = w->hb[1] & 0x7f;
    uint64_t len = len7, max = w->o.frame_max != 0 ? w->o.frame_max : DLP_WS_FRAME_MAX;

    if (len7 == 126) {
        len = (uint64_t)w->hb[2] << 8 | w->hb[3];
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | w->hb[2 + i];
        if (len >> 63)
            return false;
    }
    w->remain = len;
    return len <= max;
}

/* The header is complete: set the frame up. */
static dlp_rc_t head_done(dlp_ws_t *w)
{
    uint8_t op = w->hb[0] & 0x0f;
    dlp_rc_t rc = DLP_OK;

    w->fin = (w->hb[0] & 0x80) != 0;
    w->masked = (w->hb[1] & 0x80) != 0;
    w->kpos = 0;
    w->state = op >= OP_CLOSE ? S_CTRL : S_DATA;
    if (op == OP_TEXT || op == OP_BINARY) {
        w->text = op == OP_TEXT;
        rc = msg_start(w, (w->hb[0] & 0x40) != 0);
    }
    if (w->remain == 0) {
        dlp_rc_t r = frame_end(w);
        if (rc == DLP_OK)
            rc = r;
    }
    return rc;
}

/* Collects header bytes; *bad when the header shows this is not a frame. */
static size_t feed_head(dlp_ws_t *w, const uint8_t *p, size_t n, bool *bad, dlp_rc_t *rc)
{
    size_t used = 0;

    while (used < n) {
        w->hb[w->nh++] = p[used++];
        if (w->nh < 2)
            continue;
        if (w->nh == 2 && !head_valid(w)) {
            *bad = true;
            return used;
        }
        if (w->nh == key_at(w->hb) && !head_length(w)) {
            *bad = true;
            return used;
        }
        if (w->nh == head_size(w->hb)) {
            *rc = head_done(w);
            return used;
        }
    }
    return used;
}

static void unmask(dlp_ws_t *w, const uint8_t *p, size_t n, uint8_t *out)
{
    const uint8_t *key = w->hb + key_at(w->hb);

    for (size_t i = 0; i < n; i++)
        out[i] = p[i] ^ key[(w->kpos + i) & 3];
    w->kpos = (uint8_t)((w->kpos + n) & 3);
}

/* A data frame's payload bytes, unmasked through the stack; the first error sticks. */
static void feed_data(dlp_ws_t *w, const uint8_t *p, size_t n, dlp_rc_t *rc)
{
    uint8_t buf[UNMASK_BUF];

    for (size_t off = 0; off < n;) {
        size_t step = n - off < sizeof(buf) ? n - off : sizeof(buf);
        const uint8_t *q = p + off;
        dlp_rc_t r;

        if (w->masked) {
            unmask(w, q, step, buf);
            q = buf;
        }
        r = payload(w, q, step);
        if (*rc == DLP_OK)
            *rc = r;
        off += step;
    }
}

/* Payload bytes of the frame in progress. */
static size_t feed_payload(dlp_ws_t *w, const uint8_t *p, size_t n, dlp_rc_t *rc)
{
    size_t k = n < w->remain ? n : (size_t)w->remain;

    if (w->state == S_CTRL) { /* k <= remain <= CTRL_MAX - nctrl */
        if (w->masked)
            unmask(w, p, k, w->ctrl + w->nctrl);
        else
            memcpy(w->ctrl + w->nctrl, p, k);
        w->nctrl = (uint8_t)(w->nctrl + k);
    } else {
        feed_data(w, p, k, rc);
    }
    w->remain -= k;
    if (w->remain == 0) {
        dlp_rc_t r = frame_end(w);
        if (*rc == DLP_OK)
            *rc = r;
    }
    return k;
}

static void fail(dlp_ws_t *w)
{
    w->state = S_FAILED;
    note(w, DLP_NOTE_DECODER_ERROR);
    stream_close(w);
    z_release(w);
    w->in_msg = w->comp = 0;
}

dlp_rc_t dlp_ws_write(dlp_ws_t *w, const uint8_t *p, size_t n, size_t *consumed)
{
    dlp_rc_t rc = DLP_OK;
    size_t off = 0;

    if (consumed != NULL)
        *consumed = 0;
    if (w == NULL || (p == NULL && n > 0))
        return DLP_EINVAL;
    if (w->state == S_FAILED)
        return DLP_EPROTO;
    while (off < n) {
        bool bad = false;

        if (w->state == S_HEAD) {
            /* a header carried over from earlier writes continues only at off 0 */
            uint8_t before = w->nh;
            size_t start = off;

            off += feed_head(w, p + off, n - off, &bad, &rc);
            if (bad) {
                w->nheld = before;
                fail(w);
                if (consumed != NULL)
                    *consumed = start;
                return DLP_EPROTO;
            }
        } else {
            off += feed_payload(w, p + off, n - off, &rc);
        }
    }
    if (consumed != NULL)
        *consumed = off;
    return rc;
}

size_t dlp_ws_held(const dlp_ws_t *w, const uint8_t **p)
{
    if (w == NULL || w->state != S_FAILED) {
        *p = NULL;
        return 0;
    }
    *p = w->hb;
    return w->nheld;
}

dlp_rc_t dlp_ws_gap(dlp_ws_t *w, uint64_t len)
{
    if (w == NULL)
        return DLP_EINVAL;
    if (w->state == S_FAILED)
        return DLP_EPROTO;
    if (w->state != S_DATA || len > w->remain) {
        ctrl_flush(w); /* what came of a control payload is still scanned */
        w->state = S_FAILED; /* the gap is noted by the caller: no decoder error */
        w->nheld = 0;
        stream_close(w);
        z_release(w);
        return DLP_EPROTO;
    }
    stream_close(w); /* no value may span the gap: the rest in a new stream */
    if (w->comp) {
        w->zskip = 1; /* the inflater cannot step over missing bytes */
        z_release(w);
    }
    w->kpos = (uint8_t)((w->kpos + len) & 3);
    w->remain -= len;
    if (w->remain == 0)
        return frame_end(w);
    return DLP_OK;
}

void dlp_ws_end(dlp_ws_t *w)
{
    if (w == NULL || w->state == S_FAILED)
        return;
    ctrl_flush(w); /* a control payload cut short, as far as it came */
    if (w->in_msg || w->state != S_HEAD || w->nh > 0)
        note(w, DLP_NOTE_DECODER_ERROR); /* cut short */
    stream_close(w);
    z_release(w);
    w->state = S_FAILED;
    w->nheld = 0;
}

dlp_ws_t *dlp_ws_new(const dlp_content_sink_t *sink, void *ctx, const dlp_app_limits_t *l,
                     const dlp_ws_opts_t *o)
{
    dlp_ws_t *w;

    if (sink == NULL || sink->open == NULL || sink->write == NULL)
        return NULL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->sink = sink;
    w->ctx = ctx;
    if (l != NULL)
        w->lim = *l;
    else
        dlp_app_limits_default(&w->lim);
    if (o != NULL)
        w->o = *o;
    return w;
}

void dlp_ws_free(dlp_ws_t *w)
{
    if (w == NULL)
        return;
    stream_close(w);
    z_release(w);
    free(w);
}

size_t dlp_ws_mem(const dlp_ws_t *w)
{
    if (w == NULL)
        return 0;
    return sizeof(*w) + (w->z != NULL ? DLP_STAGE_INFLATE_MEM : 0);
}
