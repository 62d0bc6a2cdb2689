/*
 * match.c - scanning: per-worker scratch, per-direction streams, blocks.
 *
 * Stream path: the streaming database reports each match with its start
 * (SOM_LEFTMOST, small horizon) and end. The stream keeps the last
 * DLP_MATCH_KEEP bytes it scanned, so the callback can hand the caller a
 * window [end - TAIL, end + AFTER) rebuilt from the tail and the current
 * write (end may lie before the write: a \b or $ at the end of one write is
 * confirmed by the next write or by the close); the bytes after the match
 * are included when the write holds them. (An earlier design used a
 * database without SOM and re-scanned a window per match to find starts:
 * measured 27-35 % slower on match-dense traffic, so SOM it is.)
 *
 * Invariants: tail holds stream bytes [off - tlen, off), tlen <=
 * DLP_MATCH_KEEP, never older than 'base' (where the Hyperscan stream was
 * last reset; its offsets are relative to base). Nothing is allocated per
 * scan or per match: the window lives in the scratch.
 *
 * Block path: the block SOM database scanned once over the buffer gives
 * start and end directly, and the window is a slice of the caller's buffer
 * (no copy, no re-scan); same results as a one-write stream plus close.
 * Buffers larger than DLP_MATCH_CHUNK (one Hyperscan call) go through a
 * temporary stream instead.
 *
 * Threads: a scratch belongs to one thread; a stream to the thread that
 * owns its flow; the matcher is shared read-only.
 */
#include <stdlib.h>
#include <string.h>

#include "match_int.h"

/* Readable bytes Hyperscan may touch past the end of a scanned buffer. */
#define DLP_MATCH_SLACK 64

/*
 * Patterns a settle remembers having delivered at its offset (see
 * dlp_match_stream_settle); one more that ends there is delivered again when
 * the stream confirms it (a repeat, not a loss: detection counts values once).
 */
#define DLP_MATCH_SETTLE_IDS 8

struct dlp_match_stream {
    const dlp_matcher_t *m;
    hs_stream_t *hs;  /* NULL when the matcher has no patterns */
    uint64_t base;    /* stream offset of Hyperscan offset 0 */
    uint64_t off;     /* stream offset of the next byte */
    uint64_t settled; /* where the last settle was (0: none) */
    uint32_t nsids;   /* the patterns it delivered ending there: sids[0, nsids) */
    uint32_t sids[DLP_MATCH_SETTLE_IDS];
    size_t tlen;
    uint8_t tail[DLP_MATCH_KEEP];
};

struct dlp_match_scratch {
    const dlp_matcher_t *m;
    hs_scratch_t *scan; /* stream and block scans */
    hs_stream_t *spare; /* settle: a stream's copy, ended in place (opened at first use) */
    /* the call in progress */
    const dlp_match_stream_t *st;
    bool settling; /* a settle's copy: what it delivers at st->off goes to sids */
    uint32_t nsids;
    uint32_t sids[DLP_MATCH_SETTLE_IDS];
    const uint8_t *cur; /* bytes being scanned, at stream offset cur_off */
    size_t cur_len;
    uint64_t cur_off;
    dlp_match_cb cb;
    void *ctx;
    uint8_t win[DLP_MATCH_TAIL + DLP_MATCH_AFTER];
    uint8_t pad[2 * DLP_MATCH_SLACK]; /* see near_page_end() */
};

dlp_match_scratch_t *dlp_match_scratch_new(const dlp_matcher_t *m)
{
    dlp_match_scratch_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->m = m;
    if (m->npat == 0)
        return s;
    if (hs_clone_scratch(m->proto, &s->scan) != HS_SUCCESS) {
        dlp_match_scratch_free(s);
        return NULL;
    }
    return s;
}

void dlp_match_scratch_free(dlp_match_scratch_t *s)
{
    if (s == NULL)
        return;
    if (s->spare != NULL)
        (void)hs_close_stream(s->spare, NULL, NULL, NULL);
    hs_free_scratch(s->scan);
    free(s);
}

dlp_match_stream_t *dlp_match_stream_open(const dlp_matcher_t *m)
{
    dlp_match_stream_t *st = malloc(sizeof(*st));

    if (st == NULL)
        return NULL;
    st->m = m;
    st->hs = NULL;
    st->base = st->off = st->settled = 0;
    st->nsids = 0;
    st->tlen = 0;
    if (m->sdb != NULL && hs_open_stream(m->sdb, 0, &st->hs) != HS_SUCCESS) {
        free(st);
        return NULL;
    }
    return st;
}

uint64_t dlp_match_stream_offset(const dlp_match_stream_t *st)
{
    return st->off;
}

size_t dlp_match_stream_mem(const dlp_match_stream_t *st)
{
    return sizeof(*st) + (st->hs != NULL ? st->m->info.stream_bytes : 0);
}

/*
 * A match the last settle delivered already. After a settle the stream can
 * report a match ending at or before it only (a) at its end, no byte having
 * come since, when it delivers what the copy delivered, or (b) when the next
 * byte confirms a trailing assertion: a \b or \B that held at the end of data
 * too (delivered by the copy), or one that did not (\B after a word
 * character, \b after a space: not delivered, and due now).
 */
static bool settled_before(const dlp_match_stream_t *st, unsigned id, uint64_t end)
{
    if (end != st->settled)
        return end < st->settled;
    for (uint32_t i = 0; i < st->nsids; i++)
        if (st->sids[i] == id)
            return true;
    return false;
}

static int on_stream_match(unsigned id, unsigned long long from, unsigned long long to,
                           unsigned flags, void *c)
{
    dlp_match_scratch_t *s = c;
    const dlp_match_stream_t *st = s->st;
    uint64_t end = st->base + to, start = st->base + from;
    uint64_t tail_lo = s->cur_off - st->tlen, avail = s->cur_off + s->cur_len;
    uint64_t lo = end > DLP_MATCH_TAIL ? end - DLP_MATCH_TAIL : 0;
    uint64_t hi = end + DLP_MATCH_AFTER < avail ? end + DLP_MATCH_AFTER : avail, stop;
    size_t n;

    (void)flags;
    if (DLP_UNLIKELY(end > avail || start < tail_lo || from == HS_OFFSET_PAST_HORIZON ||
                     settled_before(st, id, end)))
        return 0;
    if (DLP_UNLIKELY(s->settling) && end == st->off && s->nsids < DLP_MATCH_SETTLE_IDS)
        s->sids[s->nsids++] = id;
    if (lo < tail_lo)
        lo = tail_lo;
    if (lo >= s->cur_off) {
        /* the whole window is in the current write: no copy */
        s->cb(s->ctx, s->m->pat[id].rule, s->cur + (lo - s->cur_off), (size_t)(hi - lo),
              (size_t)(start - lo), (size_t)(end - lo), start);
        return 0;
    }
    stop = hi < s->cur_off ? hi : s->cur_off;
    n = (size_t)(stop - lo);
    memcpy(s->win, st->tail + (st->tlen - (size_t)(s->cur_off - lo)), n);
    if (hi > s->cur_off) {
        memcpy(s->win + n, s->cur, (size_t)(hi - s->cur_off));
        n += (size_t)(hi - s->cur_off);
    }
    s->cb(s->ctx, s->m->pat[id].rule, s->win, n, (size_t)(start - lo), (size_t)(end - lo), start);
    return 0;
}

/* Appends p[0, n) to the tail, keeping its last DLP_MATCH_KEEP bytes. */
static void tail_push(dlp_match_stream_t *st, const uint8_t *p, size_t n)
{
    size_t keep;

    if (n >= DLP_MATCH_KEEP) {
        memcpy(st->tail, p + n - DLP_MATCH_KEEP, DLP_MATCH_KEEP);
        st->tlen = DLP_MATCH_KEEP;
        return;
    }
    keep = st->tlen < DLP_MATCH_KEEP - n ? st->tlen : DLP_MATCH_KEEP - n;
    if (keep < st->tlen)
        memmove(st->tail, st->tail + (st->tlen - keep), keep);
    memcpy(st->tail + keep, p, n);
    st->tlen = keep + n;
}

size_t dlp_match_stream_window(const dlp_match_stream_t *st, uint64_t from, uint64_t to,
                               uint8_t *out, uint64_t *first)
{
    uint64_t lo = st->off - st->tlen;

    if (from < lo)
        from = lo;
    if (to > st->off)
        to = st->off;
    *first = from;
    if (to <= from)
        return 0;
    memcpy(out, st->tail + (st->tlen - (size_t)(st->off - from)), (size_t)(to - from));
    return (size_t)(to - from);
}

static void set_call(dlp_match_scratch_t *s, const dlp_match_stream_t *st, const uint8_t *p,
                     size_t n, dlp_match_cb cb, void *ctx)
{
    s->st = st;
    s->settling = false;
    s->cur = p;
    s->cur_len = n;
    s->cur_off = st->off;
    s->cb = cb;
    s->ctx = ctx;
}

/*
 * Hyperscan 5.4's AVX512VBMI literal matcher reads up to 64 bytes past the
 * end of the buffer it scans (vectorscan issue #322, fixed there in PR #333):
 * harmless, unless the buffer ends right before an unmapped page, where it
 * faults (tests/fuzz found it). True when 'end' is that close to a page
 * boundary (4 KiB: larger pages are multiples of it).
 */
static bool near_page_end(const uint8_t *end)
{
    uintptr_t o = (uintptr_t)end & 4095u;

    return o == 0 || o > 4096u - DLP_MATCH_SLACK;
}

static dlp_rc_t scan_piece(dlp_match_stream_t *st, dlp_match_scratch_t *s, const uint8_t *p,
                           size_t c)
{
    return hs_scan_stream(st->hs, (const char *)p, (unsigned)c, 0, s->scan, on_stream_match, s) ==
                   HS_SUCCESS
               ? DLP_OK
               : DLP_EIO;
}

/* Scans p[0, c); a piece ending near a page boundary ends from a padded copy. */
static dlp_rc_t scan_safe(dlp_match_stream_t *st, dlp_match_scratch_t *s, const uint8_t *p,
                          size_t c)
{
    size_t k = c < DLP_MATCH_SLACK ? c : DLP_MATCH_SLACK;

    if (!near_page_end(p + c))
        return scan_piece(st, s, p, c);
    if (c > k && scan_piece(st, s, p, c - k) != DLP_OK)
        return DLP_EIO;
    memcpy(s->pad, p + c - k, k);
    return scan_piece(st, s, s->pad, k);
}

/*
 * 'len' bytes are lost: the stream restarts empty after them. 'drop': what
 * Hyperscan held back for a \b or $ is dropped undelivered (not yet reset).
 */
static void restart(dlp_match_stream_t *st, uint64_t len, bool drop)
{
    if (drop && st->hs != NULL)
        (void)hs_reset_stream(st->hs, 0, NULL, NULL, NULL);
    st->tlen = 0;
    st->off += len;
    st->base = st->off;
}

dlp_rc_t dlp_match_stream_scan(dlp_match_stream_t *st, dlp_match_scratch_t *s, const uint8_t *p,
                               size_t n, dlp_match_cb cb, void *ctx)
{
    if (st->hs == NULL) {
        st->off += n;
        return DLP_OK;
    }
    if (s == NULL || s->m != st->m || cb == NULL)
        return DLP_EINVAL;
    /*
     * Every piece's matches see the whole write: where Hyperscan's calls are
     * cut (a page boundary, DLP_MATCH_CHUNK) must not change a window, or
     * the results would depend on where the write lies in memory. So the
     * tail takes the write only once all of it is scanned.
     */
    set_call(s, st, p, n, cb, ctx);
    for (size_t done = 0; done < n;) {
        size_t c = n - done < DLP_MATCH_CHUNK ? n - done : DLP_MATCH_CHUNK;

        if (scan_safe(st, s, p + done, c) != DLP_OK) {
            /*
             * The rest of the write was not scanned: a gap, or its neighbours
             * would make matches together and every later offset would be
             * short. (Matches held back for a \b or $ are dropped: the scratch
             * may be what failed.)
             */
            restart(st, n, true);
            return DLP_EIO;
        }
        done += c;
    }
    tail_push(st, p, n);
    st->off += n;
    return DLP_OK;
}

dlp_rc_t dlp_match_stream_gap(dlp_match_stream_t *st, dlp_match_scratch_t *s, uint64_t len,
                              dlp_match_cb cb, void *ctx)
{
    bool deliver = st->hs != NULL && s != NULL && s->m == st->m && cb != NULL;
    hs_error_t rc = HS_INVALID;

    if (deliver) {
        set_call(s, st, NULL, 0, cb, ctx);
        rc = hs_reset_stream(st->hs, 0, s->scan, on_stream_match, s);
    }
    /* a reset that failed left the stream as it was: what was pending is dropped */
    restart(st, len, rc != HS_SUCCESS);
    return !deliver || rc == HS_SUCCESS ? DLP_OK : DLP_EIO;
}

/*
 * A copy of the stream is ended in the scratch's spare stream: what the
 * stream holds back for a \b or $ comes out as at the end of data, and the
 * stream itself goes on untouched. The patterns the copy delivered at this
 * point are remembered, so the stream does not deliver them again when the
 * next byte confirms them (settled_before); one whose assertion failed at
 * the end of data and holds with that byte (\B after a word character) is
 * delivered then.
 */
dlp_rc_t dlp_match_stream_settle(dlp_match_stream_t *st, dlp_match_scratch_t *s, dlp_match_cb cb,
                                 void *ctx)
{
    hs_error_t rc;

    if (st->hs == NULL || st->off == st->settled || st->off == st->base) {
        if (st->off != st->settled)
            st->nsids = 0; /* nothing ends at or before a restart's base */
        st->settled = st->off;
        return DLP_OK;
    }
    if (s == NULL || s->m != st->m || cb == NULL)
        return DLP_EINVAL;
    if (s->spare == NULL && hs_open_stream(st->m->sdb, 0, &s->spare) != HS_SUCCESS) {
        s->spare = NULL;
        return DLP_ENOMEM;
    }
    if (hs_reset_and_copy_stream(s->spare, st->hs, NULL, NULL, NULL) != HS_SUCCESS)
        return DLP_EIO;
    set_call(s, st, NULL, 0, cb, ctx);
    s->settling = true;
    s->nsids = 0;
    rc = hs_reset_stream(s->spare, 0, s->scan, on_stream_match, s);
    s->settling = false;
    /* (after a failure, only what it did deliver: the rest may come again) */
    st->settled = st->off;
    st->nsids = s->nsids;
    memcpy(st->sids, s->sids, s->nsids * sizeof(*s->sids));
    return rc == HS_SUCCESS ? DLP_OK : DLP_EIO;
}

void dlp_match_stream_close(dlp_match_stream_t *st, dlp_match_scratch_t *s, dlp_match_cb cb,
                            void *ctx)
{
    if (st == NULL)
        return;
    if (st->hs != NULL) {
        hs_error_t rc = HS_INVALID;

        if (s != NULL && s->m == st->m && cb != NULL) {
            set_call(s, st, NULL, 0, cb, ctx);
            rc = hs_close_stream(st->hs, s->scan, on_stream_match, s);
        }
        /* a close that failed did not free the stream: free it, dropping what was pending */
        if (rc != HS_SUCCESS)
            (void)hs_close_stream(st->hs, NULL, NULL, NULL);
    }
    free(st);
}

static int on_block_match(unsigned id, unsigned long long from, unsigned long long to,
                          unsigned flags, void *c)
{
    dlp_match_scratch_t *s = c;
    unsigned long long lo = to > DLP_MATCH_TAIL ? to - DLP_MATCH_TAIL : 0;
    unsigned long long hi = to + DLP_MATCH_AFTER < s->cur_len ? to + DLP_MATCH_AFTER : s->cur_len;

    (void)flags;
    if (from < lo)
        lo = from;
    s->cb(s->ctx, s->m->pat[id].rule, s->cur + lo, (size_t)(hi - lo), (size_t)(from - lo),
          (size_t)(to - lo), s->cur_off + from);
    return 0;
}

/* A buffer too large for one Hyperscan call: one stream, written in chunks, then closed. */
static dlp_rc_t block_by_stream(const dlp_matcher_t *m, dlp_match_scratch_t *s, const uint8_t *p,
                                size_t n, uint64_t off, dlp_match_cb cb, void *ctx)
{
    dlp_match_stream_t *st = dlp_match_stream_open(m);
    dlp_rc_t rc;

    if (st == NULL)
        return DLP_ENOMEM;
    st->base = st->off = off;
    rc = dlp_match_stream_scan(st, s, p, n, cb, ctx);
    dlp_match_stream_close(st, s, rc == DLP_OK ? cb : NULL, ctx);
    return rc;
}

dlp_rc_t dlp_match_block(const dlp_matcher_t *m, dlp_match_scratch_t *s, const uint8_t *p, size_t n,
                         uint64_t off, dlp_match_cb cb, void *ctx)
{
    if (m->bdb == NULL || n == 0)
        return DLP_OK;
    if (s == NULL || s->m != m || cb == NULL)
        return DLP_EINVAL;
    /* (the stream path pads a buffer ending near a page boundary: see scan_safe) */
    if (n > DLP_MATCH_CHUNK || near_page_end(p + n))
        return block_by_stream(m, s, p, n, off, cb, ctx);
    s->st = NULL;
    s->cur = p;
    s->cur_len = n;
    s->cur_off = off;
    s->cb = cb;
    s->ctx = ctx;
    if (hs_scan(m->bdb, (const char *)p, (unsigned)n, 0, s->scan, on_block_match, s) != HS_SUCCESS)
        return DLP_EIO;
    return DLP_OK;
}
