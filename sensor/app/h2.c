/*
 * h2.c - cleartext HTTP/2 frames of one direction (RFC 9113), push style.
 *
 * Design: the client preface (24 bytes) and each frame header (9 bytes, 10
 * for a padded DATA frame: the pad length is read with it) are collected in
 * hb[] and checked whole, so the verdict does not depend on the split; the
 * payload is then streamed, never held: a DATA frame's data goes to its
 * HTTP/2 stream's chain, its padding and every other payload are skipped.
 *
 * Each HTTP/2 stream with data gets a slot (at most streams_max): its first
 * two body bytes are held to sniff a gzip (1f 8b) or zlib header, which
 * puts the inflate stage (inflate.c) before the sink stage of its content
 * stream (field http.body). HPACK is not decoded, so content-encoding and
 * content-type are not known: the sniff stands in for the first, and no
 * form or JSON stage is chained for the second. The content stream ends at
 * END_STREAM (DATA or HEADERS: trailers), RST_STREAM, or the direction's
 * end. When all slots are taken, the least recently written stream's
 * content stream is ended to make room (real servers allow 100 to 128
 * concurrent streams): its later data, if any, opens a new content stream,
 * so nothing is lost, but a value cut at that point is not joined.
 *
 * Not inspected, counted as they pass (dlp_h2_take_uninspected: a frame cut
 * short counts what came) and noted UNSUPPORTED once per frame: header
 * blocks (HEADERS, CONTINUATION, PUSH_PROMISE: HPACK), GOAWAY debug data,
 * payloads of unknown frame types (RFC 9113 5.5: a receiver ignores them, so
 * a sender may fill them with anything).
 *
 * What is not HTTP/2, checked on the frame header alone (RFC 9113 6: the
 * fixed lengths and stream ids it makes a connection or frame error): a
 * preface that differs, a first frame that is not SETTINGS, a length over
 * frame_max, DATA/HEADERS/PRIORITY/RST_STREAM/PUSH_PROMISE/CONTINUATION on
 * stream 0, SETTINGS/PING/GOAWAY on another, SETTINGS of a length not a
 * multiple of 6 (or an ACK with a payload), PING not 8 bytes, PRIORITY not
 * 5, RST_STREAM and WINDOW_UPDATE not 4, GOAWAY under 8, padding not shorter
 * than the payload. The decoder then stops for good (DLP_EPROTO) and hands
 * back the failed unit's bytes: the caller scans the rest raw from there.
 * The receiver's SETTINGS_MAX_FRAME_SIZE travels in the other direction
 * (decoded separately), so the bound is DLP_H2_FRAME_MAX, the largest a
 * receiver may announce (RFC 9113 6.5.2), not the announced one.
 *
 * Memory: the struct, one slot array (streams_max * ~40 bytes) and each
 * slot's inflate stage while its body is compressed (DLP_STAGE_INFLATE_MEM).
 *
 * Thread: a dlp_h2_t belongs to the worker that owns the flow.
 */
#include "dlp/h2.h"

#include <stdlib.h>
#include <string.h>

#include "dlp/limits.h"
#include "dlp/stage.h"

#define HEAD_LEN 9
#define SNIFF_N 2

enum { S_PREFACE = 0, S_HEAD, S_DATA, S_SKIP, S_FAILED };
enum {
    T_DATA = 0,
    T_HEADERS,
    T_PRIORITY,
    T_RST_STREAM,
    T_SETTINGS,
    T_PUSH_PROMISE,
    T_PING,
    T_GOAWAY,
    T_WINDOW_UPDATE,
    T_CONTINUATION,
};
#define F_END_STREAM 0x01
#define F_ACK 0x01
#define F_PADDED 0x08

typedef struct slot {
    uint32_t id; /* 0: free */
    uint8_t nsn; /* first body bytes held (sn) until the coding is sniffed */
    uint8_t sn[SNIFF_N];
    uint8_t inflating;
    dlp_stage_t *chain; /* built at the SNIFF_N-th byte, or at the end */
    uint64_t used;      /* tick of its last data: the least recent makes room */
} slot_t;

struct dlp_h2 {
    const dlp_content_sink_t *sink;
    void *ctx;
    dlp_app_limits_t lim;
    uint32_t frame_max, nslots;
    uint8_t state;
    bool first; /* the next frame is the first: SETTINGS */
    uint8_t hb[DLP_H2_PREFACE_LEN];
    uint8_t nh, need;  /* collected of hb, and how many the unit needs */
    size_t held;       /* after a failure: the unit's bytes from earlier writes */
    uint32_t len, sid; /* the frame in progress */
    uint8_t type, flags;
    uint64_t left;   /* S_DATA: data bytes left; then 'skip' */
    uint64_t skip;   /* payload bytes to pass over (padding, other frames) */
    uint64_t unread; /* of 'skip', the bytes not inspected (header blocks...) */
    uint64_t tick, uninsp;
    slot_t *slots;
};

dlp_rc_t dlp_h2_sniff(const uint8_t *p, size_t n)
{
    if (n > DLP_H2_PREFACE_LEN)
        n = DLP_H2_PREFACE_LEN;
    if (memcmp(p, DLP_H2_PREFACE, n) != 0)
        return DLP_EINVAL;
    return n >= 16 ? DLP_OK : DLP_AGAIN;
}

static void note(dlp_h2_t *h, dlp_app_note_t n, uint64_t bytes)
{
    if (h->sink->note != NULL)
        h->sink->note(h->ctx, n, bytes);
}

/* --- the streams' bodies ------------------------------------------------- */

/* A zlib header (RFC 1950 2.2): CM 8, CINFO <= 7, FCHECK. */
static bool zlib_head(const uint8_t *b)
{
    return (b[0] & 0x0f) == 8 && (b[0] >> 4) <= 7 && ((b[0] << 8) | b[1]) % 31 == 0;
}

/* The body's chain, from its first bytes; the held ones are written to it. */
static void chain_start(dlp_h2_t *h, slot_t *s)
{
    dlp_stage_t *last = dlp_stage_sink_new(h->sink, h->ctx, DLP_FIELD_HTTP_BODY, NULL);
    bool gz = s->nsn == SNIFF_N && s->sn[0] == 0x1f && s->sn[1] == 0x8b;
    dlp_stage_t *st = last;
    dlp_rc_t rc;

    if (last != NULL && (gz || (s->nsn == SNIFF_N && zlib_head(s->sn)))) {
        st = dlp_stage_inflate_new(last, &h->lim, gz);
        if (st == NULL) {
            dlp_stage_free_chain(last);
        }
        s->inflating = st != NULL;
    }
    if (st == NULL) {
        note(h, DLP_NOTE_DECODER_ERROR, s->nsn); /* out of memory: the body is lost */
        return;
    }
    s->chain = st;
    rc = dlp_stage_write(st, s->sn, s->nsn);
    (void)rc; /* a stage that fails has noted it and swallows the rest */
}

static void body_write(dlp_h2_t *h, slot_t *s, const uint8_t *p, size_t n)
{
    dlp_rc_t rc;

    s->used = ++h->tick;
    while (s->chain == NULL && s->nsn < SNIFF_N && n > 0) {
        s->sn[s->nsn++] = *p++;
        n--;
        if (s->nsn == SNIFF_N)
            chain_start(h, s);
    }
    if (s->chain == NULL || n == 0)
        return;
    rc = dlp_stage_write(s->chain, p, n);
    (void)rc;
}

/* Ends the slot's content stream; the slot stays the stream's when 'keep'. */
static void body_end(dlp_h2_t *h, slot_t *s, bool keep)
{
    dlp_rc_t rc;

    if (s->chain == NULL && s->nsn > 0)
        chain_start(h, s);
    if (s->chain != NULL) {
        rc = dlp_stage_end(s->chain); /* closes the sink's stream */
        (void)rc;
        dlp_stage_free_chain(s->chain);
    }
    s->chain = NULL;
    s->nsn = 0;
    s->inflating = 0;
    if (!keep)
        s->id = 0;
}

static slot_t *slot_find(dlp_h2_t *h, uint32_t sid)
{
    for (uint32_t i = 0; i < h->nslots; i++)
        if (h->slots[i].id == sid)
            return &h->slots[i];
    return NULL;
}

/* The stream's slot; a free one, or the least recently written one ended. */
static slot_t *slot_get(dlp_h2_t *h, uint32_t sid)
{
    slot_t *s = slot_find(h, sid), *old = NULL;

    if (s != NULL)
        return s;
    for (uint32_t i = 0; i < h->nslots && s == NULL; i++) {
        if (h->slots[i].id == 0)
            s = &h->slots[i];
        else if (old == NULL || h->slots[i].used < old->used)
            old = &h->slots[i];
    }
    if (s == NULL) {
        body_end(h, old, false);
        s = old;
    }
    s->id = sid;
    return s;
}

static void stream_end(dlp_h2_t *h, uint32_t sid)
{
    slot_t *s = slot_find(h, sid);

    if (s != NULL)
        body_end(h, s, false);
}

/* --- frames ----------------------------------------------------------------- */

/* Not HTTP/2 by this frame header (RFC 9113 4.2, 6)? */
static bool head_bad(const dlp_h2_t *h)
{
    uint32_t len = h->len, sid = h->sid;

    if (len > h->frame_max || (h->first && h->type != T_SETTINGS))
        return true;
    switch (h->type) {
    case T_DATA:
    case T_HEADERS:
    case T_PUSH_PROMISE:
    case T_CONTINUATION:
        return sid == 0;
    case T_PRIORITY:
        return sid == 0 || len != 5;
    case T_RST_STREAM:
        return sid == 0 || len != 4;
    case T_SETTINGS:
        return sid != 0 || len % 6 != 0 || ((h->flags & F_ACK) && len != 0);
    case T_PING:
        return sid != 0 || len != 8;
    case T_GOAWAY:
        return sid != 0 || len < 8;
    case T_WINDOW_UPDATE:
        return len != 4;
    default:
        return false;
    }
}

/* The next n payload bytes are not inspected: noted once per frame, counted as they
 * pass (a frame cut short, or by a gap, counts only what came). */
static void unread(dlp_h2_t *h, uint64_t n)
{
    if (n == 0)
        return;
    h->unread = n;
    note(h, DLP_NOTE_UNSUPPORTED, 0);
}

/* The frame's payload has been read. */
static void frame_end(dlp_h2_t *h)
{
    if ((h->type == T_DATA || h->type == T_HEADERS) && (h->flags & F_END_STREAM))
        stream_end(h, h->sid);
    else if (h->type == T_RST_STREAM)
        stream_end(h, h->sid);
    h->state = S_HEAD;
    h->nh = 0;
    h->need = HEAD_LEN;
    h->unread = 0;
}

/* The frame header (and a padded DATA frame's pad length) is complete: false
 * when it is no HTTP/2. */
static bool frame_begin(dlp_h2_t *h)
{
    uint32_t pad = 0;

    if (h->nh == HEAD_LEN) {
        h->len = ((uint32_t)h->hb[0] << 16) | ((uint32_t)h->hb[1] << 8) | h->hb[2];
        h->type = h->hb[3];
        h->flags = h->hb[4];
        h->sid = (((uint32_t)h->hb[5] & 0x7f) << 24) | ((uint32_t)h->hb[6] << 16) |
                 ((uint32_t)h->hb[7] << 8) | h->hb[8];
        if (head_bad(h))
            return false;
        if (h->type == T_DATA && (h->flags & F_PADDED)) {
            if (h->len == 0)
                return false;
            h->need = HEAD_LEN + 1; /* the pad length is read with the header */
            return true;
        }
    }
    h->first = false;
    if (h->type == T_DATA) {
        if (h->flags & F_PADDED)
            pad = h->hb[HEAD_LEN];
        if (pad + (uint32_t)(h->nh - HEAD_LEN) > h->len)
            return false; /* RFC 9113 6.1: padding as long as the payload */
        h->left = h->len - pad - (h->nh - HEAD_LEN);
        h->skip = pad;
        h->state = S_DATA;
        return true;
    }
    h->skip = h->len;
    h->unread = 0;
    if (h->type == T_HEADERS || h->type == T_CONTINUATION || h->type == T_PUSH_PROMISE)
        unread(h, h->len);
    else if (h->type == T_GOAWAY)
        unread(h, h->len - 8); /* the debug data */
    else if (h->type > T_CONTINUATION)
        unread(h, h->len);
    h->state = S_SKIP;
    return true;
}

/* Past the payload's end: the frame ends when nothing is left of it. */
static void payload_step(dlp_h2_t *h)
{
    if (h->state == S_DATA && h->left == 0)
        h->state = S_SKIP;
    if (h->state == S_SKIP && h->skip == 0)
        frame_end(h);
}

static void fail(dlp_h2_t *h)
{
    h->state = S_FAILED;
    note(h, DLP_NOTE_DECODER_ERROR, 0);
}

/* Collects the preface or a frame header; false on a framing error. */
static bool collect(dlp_h2_t *h, const uint8_t *p, size_t n, size_t *k)
{
    size_t want = (size_t)h->need - h->nh, take = want < n ? want : n;

    memcpy(h->hb + h->nh, p, take);
    h->nh = (uint8_t)(h->nh + take);
    *k = take;
    if (h->nh < h->need)
        return true;
    if (h->state == S_PREFACE) {
        if (memcmp(h->hb, DLP_H2_PREFACE, DLP_H2_PREFACE_LEN) != 0)
            return false;
        h->state = S_HEAD;
        h->nh = 0;
        h->need = HEAD_LEN;
        return true;
    }
    if (!frame_begin(h))
        return false;
    if (h->nh == h->need) /* else: the pad length follows */
        payload_step(h);
    return true;
}

dlp_rc_t dlp_h2_write(dlp_h2_t *h, const uint8_t *p, size_t n, size_t *consumed)
{
    size_t i = 0, k, ustart = 0, before = h != NULL ? h->nh : 0;

    *consumed = 0;
    if (h == NULL || h->state == S_FAILED)
        return DLP_EPROTO;
    while (i < n) {
        if (h->state == S_PREFACE || h->state == S_HEAD) {
            if (h->nh == 0 || i == 0) {
                ustart = i;
                before = i == 0 ? h->nh : 0;
            }
            if (!collect(h, p + i, n - i, &k)) {
                h->held = before;
                *consumed = ustart;
                fail(h);
                return DLP_EPROTO;
            }
        } else if (h->state == S_DATA) {
            k = h->left < n - i ? (size_t)h->left : n - i;
            body_write(h, slot_get(h, h->sid), p + i, k);
            h->left -= k;
            payload_step(h);
        } else {
            k = h->skip < n - i ? (size_t)h->skip : n - i;
            h->skip -= k;
            if (h->skip < h->unread) { /* GOAWAY's debug data comes last */
                h->uninsp += h->unread - h->skip;
                h->unread = h->skip;
            }
            payload_step(h);
        }
        i += k;
    }
    *consumed = n;
    return DLP_OK;
}

size_t dlp_h2_held(const dlp_h2_t *h, const uint8_t **p)
{
    if (h == NULL || h->state != S_FAILED) {
        *p = NULL;
        return 0;
    }
    *p = h->hb;
    return h->held;
}

dlp_rc_t dlp_h2_gap(dlp_h2_t *h, uint64_t len)
{
    slot_t *s;

    if (h == NULL || h->state == S_FAILED)
        return DLP_EPROTO;
    if ((h->state != S_DATA && h->state != S_SKIP) || len > h->left + h->skip) {
        h->held = 0;
        fail(h);
        return DLP_EPROTO;
    }
    if (h->state == S_DATA) {
        s = slot_find(h, h->sid);
        if (s != NULL)
            body_end(h, s, true); /* the rest is a new content stream */
        if (len > h->left) {
            h->skip -= len - h->left;
            h->left = 0;
        } else {
            h->left -= len;
        }
    } else {
        h->skip -= len;
        if (h->unread > h->skip)
            h->unread = h->skip; /* missing, not uninspected */
    }
    payload_step(h);
    return DLP_OK;
}

void dlp_h2_end(dlp_h2_t *h)
{
    if (h == NULL)
        return;
    if (h->state != S_FAILED && (h->state == S_DATA || h->state == S_SKIP || h->nh > 0))
        note(h, DLP_NOTE_DECODER_ERROR, 0); /* cut inside a frame */
    for (uint32_t i = 0; i < h->nslots; i++)
        if (h->slots[i].id != 0)
            body_end(h, &h->slots[i], false);
    h->state = S_FAILED; /* nothing more is decoded */
    h->held = 0;
}

uint64_t dlp_h2_take_uninspected(dlp_h2_t *h)
{
    uint64_t u = h != NULL ? h->uninsp : 0;

    if (h != NULL)
        h->uninsp = 0;
    return u;
}

size_t dlp_h2_mem(const dlp_h2_t *h)
{
    size_t m;

    if (h == NULL)
        return 0;
    m = sizeof(*h) + h->nslots * sizeof(slot_t);
    for (uint32_t i = 0; i < h->nslots; i++)
        if (h->slots[i].chain != NULL)
            m += h->slots[i].inflating ? DLP_STAGE_INFLATE_MEM : 64;
    return m;
}

dlp_h2_t *dlp_h2_new(const dlp_content_sink_t *sink, void *ctx, const dlp_app_limits_t *l,
                     const dlp_h2_opts_t *o)
{
    dlp_h2_t *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->sink = sink;
    h->ctx = ctx;
    if (l != NULL)
        h->lim = *l;
    else
        dlp_app_limits_default(&h->lim);
    h->frame_max = o != NULL && o->frame_max != 0 ? o->frame_max : DLP_H2_FRAME_MAX;
    h->nslots = o != NULL && o->streams_max != 0 ? o->streams_max : DLP_H2_STREAMS_MAX;
    h->slots = calloc(h->nslots, sizeof(slot_t));
    if (h->slots == NULL) {
        free(h);
        return NULL;
    }
    h->first = true;
    h->state = o != NULL && o->client ? S_PREFACE : S_HEAD;
    h->need = h->state == S_PREFACE ? DLP_H2_PREFACE_LEN : HEAD_LEN;
    return h;
}

void dlp_h2_free(dlp_h2_t *h)
{
    if (h == NULL)
        return;
    for (uint32_t i = 0; i < h->nslots; i++)
        if (h->slots[i].chain != NULL)
            dlp_stage_free_chain(h->slots[i].chain);
    free(h->slots);
    free(h);
}
