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

#include "dlp/hpack.h"
#include "dlp/limits.h"
#include "dlp/stage.h"

#define HEAD_LEN 9
#define SNIFF_N 2

enum { S_PREFACE = 0, S_HEAD, S_DATA, S_SKIP, S_HBLOCK, S_FAILED };
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
#define F_END_HEADERS 0x04
#define F_PADDED 0x08
#define F_PRIORITY 0x20

typedef struct slot {
    uint32_t id; /* 0: free */
    uint8_t nsn; /* first body bytes held (sn) until the coding is sniffed */
    uint8_t sn[SNIFF_N];
    uint8_t inflating;
    uint8_t coding; /* content-encoding gzip or deflate: the inflate stage */
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
    /* the header block being collected (HEADERS/PUSH_PROMISE + CONTINUATION) */
    dlp_hpack_t *hp;    /* made at the first block */
    bool hdead;         /* the dynamic table is unknown: blocks are not decoded */
    bool hpending;      /* a block awaits its CONTINUATION */
    uint8_t *hbuf;      /* grows up to DLP_H2_HBLOCK_MAX */
    size_t hlen, hcap;  /* collected, allocated */
    size_t hfrom;       /* where this frame's payload starts in hbuf */
    uint32_t hsid;      /* the block's stream */
    uint8_t htype, hflags; /* of the block's first frame */
    void *hraw;         /* the raw stream of a block given up on, until its end */
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

    /* content-encoding first (inflate.c sniffs the wrapper: raw deflate too);
     * without it, the magic bytes */
    if (last != NULL && (s->coding || gz || (s->nsn == SNIFF_N && zlib_head(s->sn)))) {
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
    if (!keep) {
        s->id = 0;
        s->coding = 0;
    }
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

/* --- header blocks (HPACK) ------------------------------------------------- */

/* The decoded fields of one block, as "name: value" lines (http.c's header
 * stream for HTTP/1; the first :path goes to http.uri instead, as HTTP/1's
 * request target), bounded by DLP_H2_HEADERS_OUT_MAX: indexed fields are
 * one byte each, so a 64 KiB block can name gigabytes. */
typedef struct fields {
    uint8_t *text;
    size_t n, cap;
    bool over;
    uint8_t coding;
    uint8_t *path;
    size_t plen;
} fields_t;

static bool name_is(const uint8_t *nm, size_t nl, const char *s)
{
    return nl == strlen(s) && memcmp(nm, s, nl) == 0; /* HPACK names are lower case */
}

/* The outermost (last) coding of a content-encoding value: gzip or deflate. */
static uint8_t coding_of(const uint8_t *v, size_t n)
{
    size_t a = n, b;

    while (a > 0 && v[a - 1] != ',')
        a--;
    while (a < n && (v[a] == ' ' || v[a] == '\t'))
        a++;
    b = n;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
        b--;
    if ((b - a == 4 && memcmp(v + a, "gzip", 4) == 0) ||
        (b - a == 6 && memcmp(v + a, "x-gzip", 6) == 0))
        return 1;
    if (b - a == 7 && memcmp(v + a, "deflate", 7) == 0)
        return 2;
    return 0;
}

static bool text_put(fields_t *f, const uint8_t *p, size_t n)
{
    size_t want = f->n + n, cap = f->cap != 0 ? f->cap : 256;
    uint8_t *t;

    if (want > DLP_H2_HEADERS_OUT_MAX)
        return false;
    while (cap < want)
        cap *= 2;
    if (cap != f->cap) {
        t = realloc(f->text, cap);
        if (t == NULL)
            return false;
        f->text = t;
        f->cap = cap;
    }
    if (n > 0)
        memcpy(f->text + f->n, p, n);
    f->n = want;
    return true;
}

static void on_field(void *ctx, const uint8_t *nm, size_t nl, const uint8_t *v, size_t vl)
{
    fields_t *f = ctx;
    size_t mark = f->n;

    if (name_is(nm, nl, "content-encoding"))
        f->coding = coding_of(v, vl);
    if (name_is(nm, nl, ":path") && f->path == NULL) {
        f->path = malloc(vl + 1);
        if (f->path != NULL) {
            memcpy(f->path, v, vl);
            f->plen = vl;
            return; /* http.uri, as HTTP/1's request target, not a header line */
        }
    }
    if (f->over)
        return;
    if (!text_put(f, nm, nl) || !text_put(f, (const uint8_t *)": ", 2) ||
        !text_put(f, v, vl) || !text_put(f, (const uint8_t *)"\n", 1)) {
        f->n = mark; /* whole lines only */
        f->over = true;
    }
}

static void raw_scan(dlp_h2_t *h, const uint8_t *p, size_t n)
{
    void *r;

    if (n == 0)
        return;
    r = h->sink->open(h->ctx, DLP_FIELD_RAW, NULL);
    if (r == NULL)
        return;
    h->sink->write(h->ctx, r, p, n);
    h->sink->close(h->ctx, r);
}

/* The block cannot be decoded: its bytes so far are scanned raw (the rest of
 * it follows into the same stream) and the table is unknown from now on. */
static void block_fail(dlp_h2_t *h, dlp_app_note_t why)
{
    if (why != DLP_NOTE__COUNT) /* __COUNT: a gap, noted by reassembly */
        note(h, why, 0);
    h->hdead = true;
    dlp_hpack_free(h->hp);
    h->hp = NULL;
    if (h->hraw == NULL)
        h->hraw = h->sink->open(h->ctx, DLP_FIELD_RAW, NULL);
    if (h->hraw != NULL && h->hlen > 0)
        h->sink->write(h->ctx, h->hraw, h->hbuf, h->hlen);
    h->hlen = 0;
}

static void block_raw_end(dlp_h2_t *h)
{
    if (h->hraw != NULL)
        h->sink->close(h->ctx, h->hraw);
    h->hraw = NULL;
    h->hpending = false;
    h->hlen = 0;
}

/* The direction stops (framing error, gap, end) inside a block: what was
 * collected is scanned raw. */
static void block_abandon(dlp_h2_t *h)
{
    if (h->hraw == NULL && h->hlen > 0)
        raw_scan(h, h->hbuf, h->hlen);
    block_raw_end(h);
}

/* The :path, percent-decoded as http.c does the request target's path (no
 * '+') and query ('+' is a space), as http.uri. */
static void path_block(dlp_h2_t *h, const uint8_t *p, size_t n)
{
    const uint8_t *q = memchr(p, '?', n);
    size_t a = q != NULL ? (size_t)(q - p) : n, k;
    uint8_t *out = malloc(n + 1);

    if (out == NULL) {
        h->sink->block(h->ctx, DLP_FIELD_HTTP_URI, p, n);
        return;
    }
    k = dlp_percent_decode(p, a, out, n, false);
    k += dlp_percent_decode(p + a, n - a, out + k, n - k, true);
    h->sink->block(h->ctx, DLP_FIELD_HTTP_URI, out, k);
    free(out);
}

static void fields_emit(dlp_h2_t *h, const fields_t *f)
{
    void *hs;
    slot_t *s;

    hs = h->sink->open(h->ctx, DLP_FIELD_HTTP_HEADER, NULL);
    if (hs != NULL) {
        h->sink->write(h->ctx, hs, f->text, f->n);
        h->sink->close(h->ctx, hs);
    }
    if (f->path != NULL && h->sink->block != NULL)
        path_block(h, f->path, f->plen);
    if (f->over) { /* the fields past the bound are in the block's bytes */
        note(h, DLP_NOTE_HEADER_CAP, 0);
        raw_scan(h, h->hbuf, h->hlen);
    }
    /* the body's coding, for a stream with a body to come */
    if (f->coding != 0 && h->htype == T_HEADERS && !(h->hflags & F_END_STREAM)) {
        s = slot_get(h, h->hsid);
        if (s->chain == NULL && s->nsn == 0)
            s->coding = f->coding;
    }
}

/* The block is complete (END_HEADERS): decoded, or scanned raw. */
static void block_decode(dlp_h2_t *h)
{
    fields_t f = {0};
    dlp_rc_t rc;

    if (h->hp == NULL)
        h->hp = dlp_hpack_new(DLP_HPACK_TABLE_CAP);
    if (h->hp == NULL) {
        block_fail(h, DLP_NOTE_DECODER_ERROR); /* out of memory */
        goto out;
    }
    rc = dlp_hpack_decode(h->hp, h->hbuf, h->hlen, on_field, &f);
    if (rc != DLP_OK) {
        block_fail(h, DLP_NOTE_DECODER_ERROR);
        goto out;
    }
    fields_emit(h, &f);
out:
    block_raw_end(h);
    free(f.text);
    free(f.path);
}

/* Header block payload bytes, collected (or, once given up, scanned raw). */
static void block_put(dlp_h2_t *h, const uint8_t *p, size_t n)
{
    size_t cap = h->hcap != 0 ? h->hcap : 1024;
    uint8_t *b;

    if (h->hraw == NULL && h->hlen + n > DLP_H2_HBLOCK_MAX)
        block_fail(h, DLP_NOTE_HEADER_CAP);
    if (h->hraw != NULL || h->hdead) {
        if (h->hraw != NULL)
            h->sink->write(h->ctx, h->hraw, p, n);
        return;
    }
    while (cap < h->hlen + n)
        cap *= 2;
    if (cap != h->hcap) {
        b = realloc(h->hbuf, cap);
        if (b == NULL) {
            block_fail(h, DLP_NOTE_DECODER_ERROR);
            block_put(h, p, n);
            return;
        }
        h->hbuf = b;
        h->hcap = cap;
    }
    memcpy(h->hbuf + h->hlen, p, n);
    h->hlen += n;
}

/* The frame's payload is collected: its padding, priority fields or promised
 * stream id (RFC 9113 6.2, 6.6) are dropped; at END_HEADERS, decoded. */
static void block_frame_end(dlp_h2_t *h)
{
    size_t len = h->hlen - h->hfrom, off = 0, pad = 0;
    uint8_t *f = h->hbuf + h->hfrom;

    if (h->hraw == NULL && h->type != T_CONTINUATION) {
        if (h->flags & F_PADDED) {
            pad = len > 0 ? f[0] : 0;
            off = 1;
        }
        if (h->type == T_HEADERS && (h->flags & F_PRIORITY))
            off += 5;
        if (h->type == T_PUSH_PROMISE)
            off += 4;
        if (off + pad > len) {
            block_fail(h, DLP_NOTE_DECODER_ERROR);
        } else {
            memmove(f, f + off, len - off - pad);
            h->hlen -= off + pad;
        }
    }
    if (!(h->flags & F_END_HEADERS)) {
        h->hpending = true;
        return;
    }
    if (h->hraw != NULL || h->hdead)
        block_raw_end(h);
    else
        block_decode(h);
}

/* A HEADERS, PUSH_PROMISE or CONTINUATION frame begins: false when its
 * payload is not decoded (the table is unknown). */
static bool block_frame_begin(dlp_h2_t *h)
{
    if (h->type != T_CONTINUATION && h->hpending) {
        /* RFC 9113 6.10: the block before was never ended */
        if (h->hraw == NULL && !h->hdead)
            block_fail(h, DLP_NOTE_DECODER_ERROR);
        block_raw_end(h);
    }
    if (h->type == T_CONTINUATION && !h->hpending && h->hraw == NULL && !h->hdead) {
        block_fail(h, DLP_NOTE_DECODER_ERROR); /* no block to continue: scanned raw */
        h->hpending = true;
    }
    if (h->hdead && h->hraw == NULL)
        return false;
    if (h->type != T_CONTINUATION) {
        h->hsid = h->sid;
        h->htype = h->type;
        h->hflags = h->flags;
        h->hlen = 0;
    }
    h->hfrom = h->hlen;
    h->left = h->len;
    h->state = S_HBLOCK;
    return true;
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
    if (h->type == T_HEADERS || h->type == T_CONTINUATION || h->type == T_PUSH_PROMISE) {
        if (block_frame_begin(h)) {
            h->skip = 0;
            return true;
        }
        unread(h, h->len); /* the table is unknown */
    }
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
    if (h->state == S_HBLOCK && h->left == 0) {
        block_frame_end(h);
        h->state = S_SKIP; /* skip is 0 */
    }
    if (h->state == S_DATA && h->left == 0)
        h->state = S_SKIP;
    if (h->state == S_SKIP && h->skip == 0)
        frame_end(h);
}

static void fail(dlp_h2_t *h)
{
    if (h->hpending || h->state == S_HBLOCK)
        block_abandon(h);
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
        } else if (h->state == S_HBLOCK) {
            k = h->left < n - i ? (size_t)h->left : n - i;
            block_put(h, p + i, k);
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
    if (h->state == S_HBLOCK && len <= h->left) {
        /* the block cannot be decoded, nor any after it */
        if (h->hraw == NULL && !h->hdead)
            block_fail(h, DLP_NOTE__COUNT);
        h->left -= len;
        payload_step(h);
        return DLP_OK;
    }
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
    if (h->state != S_FAILED &&
        (h->state == S_DATA || h->state == S_SKIP || h->state == S_HBLOCK || h->nh > 0 ||
         h->hpending))
        note(h, DLP_NOTE_DECODER_ERROR, 0); /* cut inside a frame or a header block */
    if (h->state != S_FAILED && (h->hpending || h->state == S_HBLOCK))
        block_abandon(h);
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
    m = sizeof(*h) + h->nslots * sizeof(slot_t) + h->hcap + dlp_hpack_mem(h->hp);
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
    dlp_hpack_free(h->hp);
    free(h->hbuf);
    free(h);
}
