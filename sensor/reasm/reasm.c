/*
 * reasm.c - TCP tracking and reassembly: one ordered byte stream per
 * direction, pushed to a dlp_reasm_sink_t.
 *
 * Design: each direction maps sequence numbers to 64-bit stream offsets
 * (offset 0 = the first data byte, ISN+1 or the first seq seen midstream).
 * A seq is unwrapped against the next expected offset with a signed 32-bit
 * difference, so wrap-around costs nothing. Bytes at 'next' go to the sink
 * straight from the packet; bytes ahead of it are copied into 'held', a
 * sorted list of non-overlapping pieces (a piece with gap=1 carries no bytes:
 * a range the capture truncated). The last retain_bytes delivered bytes sit
 * in a ring ('tail') to compare retransmissions with.
 *
 * Invariants, per direction:
 *  - every offset in [0, next) was reported exactly once, as data(), gap()
 *    or urgent(), in increasing order; nothing else was;
 *  - the awaited urgent byte, if any (urg_on), is at urg >= next
 *    (urgent_seen, emit_data);
 *  - every held piece starts after 'next' (a hole precedes the first one);
 *  - next <= fin_off once a FIN is accepted; end() is called once, when next
 *    reaches fin_off or at close (an RST ends nothing: see rst_seen());
 *  - held bytes count toward the direction's and the worker's bounds before
 *    they are allocated, so no bound is ever exceeded; when one would be, holes
 *    are skipped (gap) instead: a flow never stalls.
 * Overlaps resolve first-wins: bytes already delivered or held are kept, and
 * differing new bytes are handed to conflict(). A new segment is compared
 * with the held pieces before anything moves, so a conflict is seen even
 * when it is longer than the retained tail.
 *
 * Smaller policies: the peer's ACK past 'next' skips holes only up to held
 * data (or a FIN it covers); with nothing held it is remembered, and a later
 * segment ahead of 'next' skips up to min(its start, that ACK). A FIN is kept
 * only if it cuts nothing delivered or held (first FIN wins); it ends its
 * direction once the peer acknowledged it, and until then bytes or a FIN past
 * it, or an ACK past it plus one, revoke it (fin_revoke; that FIN stands
 * instead); after that they are out of window. A 1-byte segment just before
 * 'next' is a keep-alive probe: counted as a retransmission, never a
 * conflict. A held truncated range gives way to real bytes arriving in order;
 * otherwise held pieces, gap ones included, win.
 *
 * Thread: a dlp_reasm_t and its sessions belong to one worker. Sink callbacks
 * must not call back into this module for the same session.
 */
#include "dlp/reasm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/limits.h"

#define FAR_BEHIND (1LL << 30) /* older than this: out of window */
#define WINDOW_MAX (1u << 30)
#define SEG_MAX (256 * 1024) /* a segment's end may pass the window by this (GRO, BIG TCP) */

typedef struct held {
    struct held *next;
    uint64_t off;
    uint32_t len;
    uint8_t gap; /* no bytes: a range the capture truncated */
    uint8_t data[];
} held_t;

typedef struct dir {
    uint32_t base;    /* sequence number of stream offset 0 */
    uint64_t next;    /* next offset to report */
    uint64_t fin_off; /* valid if fin */
    uint64_t acked;   /* the peer's highest ACK as an offset, valid if ack_ok */
    uint64_t tail_lo; /* the ring holds delivered bytes from here (after any gap) */
    uint64_t gap_lo;  /* last skipped range, to tell late segments */
    uint64_t gap_hi;
    uint64_t urg;     /* the urgent byte awaited (not delivered yet), if urg_on */
    held_t *held;
    held_t *held_last;
    uint64_t held_bytes;
    uint32_t held_segs;
    uint32_t tail_cap; /* ring size once allocated */
    uint8_t *tail;
    uint8_t started;
    uint8_t fin;
    uint8_t fin_told; /* sink->fin() called for this FIN */
    uint8_t ack_ok;
    uint8_t data; /* carried payload */
    uint8_t tail_failed;
    uint8_t no_retain; /* the caller does not inspect this direction */
    uint8_t urg_on;
    dlp_reasm_dir_info_t info;
} dir_t;

struct dlp_tcp_session {
    dir_t d[2];
    uint64_t rst_off;     /* the last accepted RST: its offset in its sender's stream */
    uint64_t rst_peer_hi; /* the end of what its receiver had sent then */
    uint8_t rst_dir;      /* its sender */
    uint8_t rst_peer_on;  /* its receiver sent new bytes since: it did not take it */
    uint32_t syn_isn;     /* a SYN after the RST, not answered yet (syn_pending) */
    uint8_t syn_dir;
    uint8_t syn_pending;
    uint8_t state;    /* dlp_tcp_state_t */
    uint8_t fins;     /* bit per direction with an accepted FIN */
    uint8_t closing_told; /* sink->closing() was called */
};

struct dlp_reasm {
    dlp_reasm_config_t cfg;
    dlp_stats_t *st;
    uint64_t held_bytes; /* all sessions */
};

/* One dlp_reasm_segment() or close call: who to tell. */
typedef struct call {
    dlp_reasm_t *r;
    dlp_tcp_session_t *s;
    const dlp_reasm_sink_t *sink;
    void *ctx;
} call_t;

/* Per-segment bookkeeping across the steps of feed(). */
typedef struct seg_acct {
    bool compared; /* overlaps with held/retained bytes already checked */
    bool ooo;
    bool limited;
    bool retried;
} seg_acct_t;

static inline uint64_t held_end(const held_t *h)
{
    return h->off + h->len;
}
static inline uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}
static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static inline void stat_inc(const call_t *c, dlp_stat_id_t id)
{
    dlp_stat_inc(c->r->st, id);
}

/* a - b as a signed 32-bit distance, without implementation-defined casts. */
static inline int64_t seq_diff(uint32_t a, uint32_t b)
{
    uint32_t d = a - b;
    return d < 0x80000000u ? (int64_t)d : (int64_t)d - 0x100000000LL;
}

/* Stream offset of 'seq'; may be negative (before the stream's start). */
static inline int64_t seq_off(const dir_t *d, uint32_t seq)
{
    return (int64_t)d->next + seq_diff(seq, d->base + (uint32_t)d->next);
}

void dlp_reasm_config_default(dlp_reasm_config_t *c)
{
    c->ooo_bytes_dir = DLP_REASM_OOO_BYTES_DIR;
    c->ooo_segs_dir = DLP_REASM_OOO_SEGS_DIR;
    c->ooo_bytes_worker = DLP_REASM_OOO_BYTES_WORKER;
    c->retain_bytes = DLP_REASM_RETAIN_BYTES;
    c->window = DLP_REASM_WINDOW;
}

dlp_reasm_t *dlp_reasm_new(const dlp_reasm_config_t *c, dlp_stats_t *st)
{
    dlp_reasm_t *r;

    if (c == NULL || st == NULL || c->window > WINDOW_MAX)
        return NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cfg = *c;
    r->st = st;
    return r;
}

void dlp_reasm_free(dlp_reasm_t *r)
{
    free(r);
}

dlp_tcp_session_t *dlp_reasm_session_new(dlp_reasm_t *r)
{
    (void)r;
    return calloc(1, sizeof(dlp_tcp_session_t));
}

/* ---- retained tail ------------------------------------------------------ */

static void ring_copy_in(dir_t *d, uint64_t off, const uint8_t *p, size_t n)
{
    size_t pos = (size_t)(off % d->tail_cap);
    size_t first = d->tail_cap - pos;

    if (first > n)
        first = n;
    memcpy(d->tail + pos, p, first);
    memcpy(d->tail, p + first, n - first);
}

/* Bytes at 'next' .. next+n were just delivered from p. */
static void retain(const call_t *c, dir_t *d, const uint8_t *p, size_t n)
{
    if (d->tail == NULL) {
        if (d->tail_failed || d->no_retain || c->r->cfg.retain_bytes == 0)
            return;
        d->tail = malloc(c->r->cfg.retain_bytes);
        if (d->tail == NULL) {
            d->tail_failed = 1;
            return;
        }
        d->tail_cap = c->r->cfg.retain_bytes;
    }
    if (n > d->tail_cap) {
        p += n - d->tail_cap;
        ring_copy_in(d, d->next + (n - d->tail_cap), p, d->tail_cap);
    } else {
        ring_copy_in(d, d->next, p, n);
    }
}

/* Lowest offset whose delivered byte is still in the ring. */
static uint64_t retained_lo(const dir_t *d)
{
    uint64_t lo = d->next > d->tail_cap ? d->next - d->tail_cap : 0;
    return d->tail == NULL ? d->next : max_u64(lo, d->tail_lo);
}

/* Whether p[0..n) equals the retained bytes at off..off+n (inside the ring). */
static bool ring_equal(const dir_t *d, uint64_t off, const uint8_t *p, size_t n)
{
    size_t pos = (size_t)(off % d->tail_cap);
    size_t first = d->tail_cap - pos;

    if (first > n)
        first = n;
    return memcmp(d->tail + pos, p, first) == 0 && memcmp(d->tail, p + first, n - first) == 0;
}

/* ---- reporting ---------------------------------------------------------- */

/* Bytes at 'next' were reported: the ring keeps them, 'next' passes them. */
static void advance(const call_t *c, dir_t *d, const uint8_t *p, size_t n)
{
    retain(c, d, p, n);
    d->next += n;
    d->info.delivered += n;
    dlp_stat_add(c->r->st, DLP_STAT_TCP_STREAM_BYTES, n);
}

static void emit_run(const call_t *c, int dir, const uint8_t *p, size_t n)
{
    c->sink->data(c->ctx, dir, c->s->d[dir].next, p, n);
    advance(c, &c->s->d[dir], p, n);
}

/* Retained before urgent(), so the sink can read it back. */
static void emit_urgent(const call_t *c, int dir, uint8_t b)
{
    uint64_t off = c->s->d[dir].next;

    advance(c, &c->s->d[dir], &b, 1);
    stat_inc(c, DLP_STAT_TCP_URGENT);
    c->sink->urgent(c->ctx, dir, off, b);
}

static void emit_data(const call_t *c, int dir, const uint8_t *p, size_t n)
{
    dir_t *d = &c->s->d[dir];

    if (d->urg_on && d->urg < d->next + n) {
        size_t k = (size_t)(d->urg - d->next); /* urg >= next: forgotten at gaps */
        if (k > 0)
            emit_run(c, dir, p, k);
        d->urg_on = 0;
        emit_urgent(c, dir, p[k]);
        p += k + 1;
        n -= k + 1;
    }
    if (n > 0)
        emit_run(c, dir, p, n);
}

static void emit_gap(const call_t *c, int dir, uint64_t n)
{
    dir_t *d = &c->s->d[dir];

    c->sink->gap(c->ctx, dir, d->next, n);
    if (d->gap_hi != d->next || d->gap_lo == d->gap_hi)
        d->gap_lo = d->next;
    d->next += n;
    d->gap_hi = d->next;
    d->tail_lo = d->next;
    if (d->urg_on && d->urg < d->next)
        d->urg_on = 0; /* the gap passed it */
    d->info.gaps++;
    d->info.gap_bytes += n;
    stat_inc(c, DLP_STAT_REASM_GAPS);
    dlp_stat_add(c->r->st, DLP_STAT_TCP_GAP_BYTES, n);
}

static void emit_conflict(const call_t *c, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    c->s->d[dir].info.overlap_diff++;
    stat_inc(c, DLP_STAT_TCP_OVERLAP_DIFF);
    c->sink->conflict(c->ctx, dir, off, p, n);
}

/* The peer acknowledged the FIN itself (ACK one past it). */
static bool fin_taken(const dir_t *d)
{
    return d->fin && d->ack_ok && d->acked > d->fin_off;
}

/* Its FIN is over: acknowledged, or the peer's ACKs are never seen (one-sided). */
static bool fin_counts(const dir_t *d)
{
    return d->fin && (fin_taken(d) || !d->ack_ok);
}

/*
 * A direction ends at its FIN only once the peer acknowledged it: a FIN its
 * receiver dropped (a bad checksum, a TTL that ran out) must not hide what
 * its sender goes on sending (fin_revoke). Until then the sink is told the
 * sender is done, so what waits for more bytes can be decided.
 */
static void maybe_end(const call_t *c, int dir)
{
    dir_t *d = &c->s->d[dir];

    if (d->info.ended || !d->fin || d->next < d->fin_off)
        return;
    if (!fin_taken(d)) {
        if (!d->fin_told && c->sink->fin != NULL)
            c->sink->fin(c->ctx, dir);
        d->fin_told = 1;
        return;
    }
    d->info.ended = 1;
    c->sink->end(c->ctx, dir);
}

/* ---- held pieces ---------------------------------------------------------- */

static void held_unlink_first(const call_t *c, dir_t *d)
{
    held_t *h = d->held;
    uint64_t bytes = h->gap ? 0 : h->len;

    d->held = h->next;
    if (d->held == NULL)
        d->held_last = NULL;
    d->held_segs--;
    d->held_bytes -= bytes;
    c->r->held_bytes -= bytes;
    dlp_stat_sub(c->r->st, DLP_STAT_TCP_OOO_MEM, bytes);
    free(h);
}

/* Delivers the first held piece (it starts at or before 'next'), minus what is already out. */
static void deliver_first(const call_t *c, int dir)
{
    dir_t *d = &c->s->d[dir];
    held_t *h = d->held;
    uint64_t end = held_end(h);

    if (end > d->next) {
        size_t skip = (size_t)(d->next - h->off);
        if (h->gap)
            emit_gap(c, dir, end - d->next);
        else
            emit_data(c, dir, h->data + skip, (size_t)(end - d->next));
    }
    held_unlink_first(c, d);
}

/* Delivers the held pieces that start at or before 'next'. */
static void drain(const call_t *c, int dir)
{
    dir_t *d = &c->s->d[dir];

    while (d->held != NULL && d->held->off <= d->next)
        deliver_first(c, dir);
}

/* Moves 'next' up to 'target': holes become gaps, held pieces are delivered. */
static void skip_to(const call_t *c, int dir, uint64_t target)
{
    dir_t *d = &c->s->d[dir];

    while (d->next < target) {
        held_t *h = d->held;
        if (h != NULL && h->off <= d->next) {
            drain(c, dir);
            continue;
        }
        emit_gap(c, dir, (h != NULL && h->off < target ? h->off : target) - d->next);
        drain(c, dir);
    }
}

static void free_held(const call_t *c, dir_t *d)
{
    while (d->held != NULL)
        held_unlink_first(c, d);
}

/*
 * Compares new bytes [a, b) (p, NULL for a truncated range) with the held
 * pieces they overlap: first wins, differing bytes go to conflict().
 */
static void compare_held(const call_t *c, int dir, uint64_t a, uint64_t b, const uint8_t *p)
{
    dir_t *d = &c->s->d[dir];
    bool overlap = false;

    if (p == NULL || d->held == NULL || held_end(d->held_last) <= a)
        return;
    for (const held_t *h = d->held; h != NULL && h->off < b; h = h->next) {
        uint64_t lo = max_u64(a, h->off), hi = min_u64(b, held_end(h));
        if (lo >= hi)
            continue;
        overlap = true;
        if (!h->gap && memcmp(p + (lo - a), h->data + (lo - h->off), (size_t)(hi - lo)) != 0)
            emit_conflict(c, dir, lo, p + (lo - a), (size_t)(hi - lo));
    }
    if (overlap)
        stat_inc(c, DLP_STAT_TCP_OVERLAPS);
}

/*
 * Bytes [a, b) all before 'next': a retransmission. Compares what the ring
 * still holds; the rest cannot be compared. 'a' may be negative.
 */
static void old_range(const call_t *c, int dir, int64_t a, int64_t b, const uint8_t *p)
{
    dir_t *d = &c->s->d[dir];
    int64_t lo = (int64_t)retained_lo(d);
    bool diff = false;

    if (p != NULL && b > lo) {
        int64_t from = a > lo ? a : lo;
        const uint8_t *q = p + (from - a);
        if (!ring_equal(d, (uint64_t)from, q, (size_t)(b - from))) {
            emit_conflict(c, dir, (uint64_t)from, q, (size_t)(b - from));
            diff = true;
        }
    }
    if (d->gap_hi > d->gap_lo && a < (int64_t)d->gap_hi && b > (int64_t)d->gap_lo)
        stat_inc(c, DLP_STAT_TCP_LATE);
    else if (!diff)
        stat_inc(c, DLP_STAT_TCP_RETRANS);
}

static held_t *held_new(uint64_t off, uint64_t len, const uint8_t *p)
{
    held_t *h = malloc(sizeof(*h) + (p != NULL ? len : 0));

    if (h == NULL)
        return NULL;
    h->next = NULL;
    h->off = off;
    h->len = (uint32_t)len;
    h->gap = p == NULL;
    if (p != NULL)
        memcpy(h->data, p, len);
    return h;
}

/* Counts the pieces of [a, b) no held piece covers, from *link on. */
static void held_need(const held_t *h, uint64_t a, uint64_t b, uint64_t *bytes, uint32_t *segs)
{
    uint64_t cur = a;

    *bytes = 0;
    *segs = 0;
    for (; h != NULL && h->off < b && cur < b; h = h->next) {
        if (cur < h->off) {
            *bytes += h->off - cur;
            (*segs)++;
        }
        cur = max_u64(cur, held_end(h));
    }
    if (cur < b) {
        *bytes += b - cur;
        (*segs)++;
    }
}

/* 0 if holding 'bytes' more in 'segs' pieces stays inside every bound, else the limit's counter. */
static int held_limit(const call_t *c, const dir_t *d, uint64_t bytes, uint32_t segs)
{
    const dlp_reasm_config_t *cfg = &c->r->cfg;

    if (d->held_bytes + bytes > cfg->ooo_bytes_dir || d->held_segs + segs > cfg->ooo_segs_dir)
        return DLP_STAT_TCP_OOO_DIR_LIMIT;
    if (c->r->held_bytes + bytes > cfg->ooo_bytes_worker)
        return DLP_STAT_TCP_OOO_WORKER_LIMIT;
    return 0;
}

/*
 * Copies the pieces of [a, b) (a > next) that no held piece covers into the
 * held list. DLP_ELIMIT (counted once per segment) or DLP_ENOMEM when they
 * do not fit; pieces already inserted then stay (they are valid).
 */
static dlp_rc_t hold(const call_t *c, int dir, uint64_t a, uint64_t b, const uint8_t *p,
                     seg_acct_t *acct)
{
    dir_t *d = &c->s->d[dir];
    held_t **link = &d->held;
    uint64_t bytes, cur = a;
    uint32_t segs;

    if (d->held_last != NULL && held_end(d->held_last) <= a)
        link = &d->held_last->next;
    while (*link != NULL && held_end(*link) <= a)
        link = &(*link)->next;
    held_need(*link, a, b, &bytes, &segs);
    if (segs == 0)
        return DLP_OK;
    if (p == NULL)
        bytes = 0;
    int lim = held_limit(c, d, bytes, segs);
    if (lim != 0) {
        if (!acct->limited)
            stat_inc(c, (dlp_stat_id_t)lim);
        acct->limited = true;
        return DLP_ELIMIT;
    }
    while (cur < b) {
        held_t *h = *link, *n;
        if (h != NULL && h->off <= cur) {
            cur = max_u64(cur, held_end(h));
            link = &h->next;
            continue;
        }
        uint64_t e = h != NULL && h->off < b ? h->off : b;
        n = held_new(cur, e - cur, p != NULL ? p + (cur - a) : NULL);
        if (n == NULL)
            return DLP_ENOMEM;
        n->next = h;
        *link = n;
        if (h == NULL)
            d->held_last = n;
        link = &n->next;
        d->held_segs++;
        if (p != NULL) {
            d->held_bytes += e - cur;
            c->r->held_bytes += e - cur;
            dlp_stat_add(c->r->st, DLP_STAT_TCP_OOO_MEM, e - cur);
        }
        cur = e;
    }
    return DLP_OK;
}

/*
 * Bytes [a, b) with a == next: delivered from the packet, interleaved with the
 * held pieces they reach (already compared); a held truncated range gives way
 * to real bytes.
 */
static void in_order(const call_t *c, int dir, uint64_t a, uint64_t b, const uint8_t *p)
{
    dir_t *d = &c->s->d[dir];

    while (d->next < b) {
        held_t *h = d->held;
        if (h != NULL && h->off <= d->next) {
            if (!h->gap || p == NULL) {
                deliver_first(c, dir);
                continue;
            }
            uint64_t e = min_u64(b, held_end(h));
            emit_data(c, dir, p + (d->next - a), (size_t)(e - d->next));
            if (e == held_end(h)) {
                held_unlink_first(c, d);
            } else {
                h->len = (uint32_t)(held_end(h) - e);
                h->off = e;
            }
            continue;
        }
        uint64_t e = h != NULL && h->off < b ? h->off : b;
        if (p != NULL)
            emit_data(c, dir, p + (d->next - a), (size_t)(e - d->next));
        else
            emit_gap(c, dir, e - d->next);
    }
    drain(c, dir);
}

/*
 * One range of a segment: [a, b) with bytes p (NULL: a truncated range, a
 * gap). Old bytes are compared, bytes at next delivered, bytes ahead held;
 * when they cannot be held, holes are skipped until they are in order.
 * 'acct' is shared by the ranges of one segment so it is counted once.
 */
static void fin_revoke(const call_t *c, int dir);

static void feed(const call_t *c, int dir, int64_t a, int64_t b, const uint8_t *p, seg_acct_t *acct)
{
    dir_t *d = &c->s->d[dir];

    acct->retried = false;
    if (d->fin && b > (int64_t)d->fin_off && !fin_taken(d))
        fin_revoke(c, dir);
    if (d->fin && b > (int64_t)d->fin_off) {
        b = (int64_t)d->fin_off;
        if (a >= b) {
            stat_inc(c, DLP_STAT_TCP_OUT_OF_WINDOW);
            return;
        }
    }
    for (;;) {
        int64_t next = (int64_t)d->next;
        if (b <= next) {
            if (!acct->compared)
                old_range(c, dir, a, b, p);
            acct->compared = true;
            return;
        }
        if (a < next) {
            if (!acct->compared)
                old_range(c, dir, a, next, p);
            if (p != NULL)
                p += next - a;
            a = next;
        }
        if (!acct->compared) {
            compare_held(c, dir, (uint64_t)a, (uint64_t)b, p);
            acct->compared = true;
        }
        if (a == next) {
            in_order(c, dir, (uint64_t)a, (uint64_t)b, p);
            return;
        }
        /* The receiver acknowledged bytes before 'a' that were never seen. */
        if (d->ack_ok && d->acked > d->next) {
            skip_to(c, dir, min_u64((uint64_t)a, d->acked));
            if ((int64_t)d->next >= a)
                continue;
        }
        if (!acct->ooo) {
            acct->ooo = true;
            stat_inc(c, DLP_STAT_TCP_OOO);
        }
        if (hold(c, dir, (uint64_t)a, (uint64_t)b, p, acct) == DLP_OK)
            return;
        if (!acct->retried && d->held != NULL && d->held->off < (uint64_t)a) {
            acct->retried = true;
            skip_to(c, dir, d->held->off);
            continue;
        }
        skip_to(c, dir, (uint64_t)a);
    }
}

/* ---- segment flags -------------------------------------------------------- */

static void set_state(dlp_tcp_session_t *s, dlp_tcp_state_t st)
{
    if (s->state != DLP_TCP_RESET)
        s->state = (uint8_t)st;
}

/* Ends direction 'dir' now: holes before held data become gaps, then end(). */
static void flush_dir(const call_t *c, int dir)
{
    dir_t *d = &c->s->d[dir];
    uint64_t target = d->next;

    if (d->info.ended)
        return;
    if (d->held_last != NULL)
        target = held_end(d->held_last);
    if (d->fin && d->fin_off > target)
        target = d->fin_off;
    skip_to(c, dir, target);
    d->info.ended = 1;
    c->sink->end(c->ctx, dir);
}

/* The state the accepted FINs alone make (no RST). */
static dlp_tcp_state_t fins_state(const dlp_tcp_session_t *s)
{
    return s->fins == 3 ? DLP_TCP_CLOSED : s->fins != 0 ? DLP_TCP_CLOSING : DLP_TCP_ESTABLISHED;
}

/*
 * Bytes past a FIN its peer has not acknowledged: the receiver did not take
 * that FIN (a sender never sends past its own), so the stream goes on.
 */
static void fin_revoke(const call_t *c, int dir)
{
    dlp_tcp_session_t *s = c->s;
    dir_t *d = &s->d[dir];

    stat_inc(c, DLP_STAT_TCP_FIN_IGNORED);
    d->fin = 0;
    d->fin_told = 0;
    s->fins &= (uint8_t)~(1u << dir);
    set_state(s, fins_state(s));
}

/* FIN at offset 'off'. Refused if it would cut bytes already delivered or held. */
static void fin_seen(const call_t *c, int dir, int64_t off)
{
    dlp_tcp_session_t *s = c->s;
    dir_t *d = &s->d[dir];

    if (d->fin) {
        if ((int64_t)d->fin_off != off)
            stat_inc(c, DLP_STAT_TCP_OUT_OF_WINDOW);
        return;
    }
    if (off < (int64_t)d->next ||
        (d->held_last != NULL && (uint64_t)off < held_end(d->held_last))) {
        stat_inc(c, DLP_STAT_TCP_OUT_OF_WINDOW);
        return;
    }
    if (d->ack_ok && d->acked > (uint64_t)off + 1) {
        stat_inc(c, DLP_STAT_TCP_FIN_IGNORED); /* its receiver took bytes past it */
        return;
    }
    d->fin = 1;
    d->fin_off = (uint64_t)off;
    s->fins |= (uint8_t)(1u << dir);
    set_state(s, fins_state(s));
    /* Both sides are done: told before this segment's ACK can flush held data. */
    if (s->fins == 3 && !s->closing_told && c->sink != NULL && c->sink->closing != NULL) {
        s->closing_told = 1;
        c->sink->closing(c->ctx);
    }
}

/* The end of what direction 'd' sent: in order, held, or up to its FIN. */
static uint64_t dir_hi(const dir_t *d)
{
    uint64_t hi = d->next;

    if (d->held_last != NULL)
        hi = max_u64(hi, held_end(d->held_last));
    if (d->fin)
        hi = max_u64(hi, d->fin_off);
    return hi;
}

/*
 * Whether an RST of direction 'dir' at 'off' is one its receiver takes. Stacks
 * since RFC 5961 (Linux, Windows) take an RST only at their next expected
 * sequence number and answer any other in-window one with a challenge ACK, so
 * an RST anywhere else in the window is a guess (or a forgery) the connection
 * outlives. That number lies in [next, hi]: the receiver may have what the
 * capture holds ahead of a hole, or what its ACKs say it got.
 */
static bool rst_exact(const dir_t *d, int64_t off)
{
    uint64_t hi = dir_hi(d);

    if (!d->started)
        return true; /* e.g. a closed port's RST-ACK to a SYN */
    if (d->ack_ok)
        hi = max_u64(hi, d->acked);
    if (d->fin)
        hi = max_u64(hi, d->fin_off + 1);
    return off >= (int64_t)d->next && (uint64_t)off <= hi;
}

/*
 * An accepted RST ends nothing by itself: the directions stay open until the
 * flow closes (the flow table keeps a reset flow only briefly). A receiver
 * may still drop that RST (a bad checksum, a TTL that runs out on the way),
 * and the bytes sent after it must then be scanned like any others.
 */
static void rst_seen(const call_t *c, int dir, uint32_t seq)
{
    dlp_tcp_session_t *s = c->s;
    int64_t off = s->d[dir].started ? seq_off(&s->d[dir], seq) : 0;

    if (!rst_exact(&s->d[dir], off)) {
        stat_inc(c, DLP_STAT_TCP_RST_IGNORED);
        return;
    }
    s->state = DLP_TCP_RESET;
    s->rst_dir = (uint8_t)dir;
    s->rst_off = off > 0 ? (uint64_t)off : 0;
    s->rst_peer_hi = dir_hi(&s->d[!dir]);
    s->rst_peer_on = 0;
}

/*
 * New bytes [.., end) of direction 'dir' while reset. From the RST's own
 * sender, past the RST: the connection outlived it. From its receiver, past
 * what that had sent by then: the receiver did not take it (or sent them
 * before it arrived); the state stays reset, but a SYN from the receiver
 * opens no new connection (syn_seen), or a forged RST, then that SYN, would
 * end the flow and hide the rest of an upload.
 */
static void rst_outlived(const call_t *c, int dir, int64_t end)
{
    dlp_tcp_session_t *s = c->s;
    const dir_t *d = &s->d[dir];

    if (s->state != DLP_TCP_RESET)
        return;
    if (d->fin && end > (int64_t)d->fin_off)
        end = (int64_t)d->fin_off; /* bytes after a FIN are out of window */
    if (s->rst_dir != dir) {
        if (end > (int64_t)s->rst_peer_hi)
            s->rst_peer_on = 1;
        return;
    }
    if (end <= (int64_t)s->rst_off)
        return;
    stat_inc(c, DLP_STAT_TCP_RST_IGNORED);
    s->rst_peer_on = 0;
    s->syn_pending = 0;
    s->state = (uint8_t)fins_state(s);
}

/* The pending SYN's sender goes on from its ISN (one-sided, the SYN-ACK unseen). */
static bool syn_answered(const dlp_tcp_session_t *s, int dir, const dlp_packet_t *p)
{
    return s->syn_pending && dir == s->syn_dir && s->state == DLP_TCP_RESET &&
           !(p->tcp_flags & (DLP_TCP_SYN | DLP_TCP_RST)) && p->tcp_seq == s->syn_isn + 1;
}

/* Direction 'dir' acknowledged up to 'ack' by its peer. */
static void ack_seen(const call_t *c, int dir, uint32_t ack)
{
    dir_t *d = &c->s->d[dir];
    uint64_t target;

    if (!d->started || d->info.ended)
        return;
    int64_t a = seq_off(d, ack), next = (int64_t)d->next;
    /* Before offset 0 (a lagging ACK seen midstream) it would wrap to far ahead. */
    if (a < 0 || a < next - FAR_BEHIND || a > next + (int64_t)c->r->cfg.window + 1)
        return;
    if (d->ack_ok && (uint64_t)a <= d->acked)
        return;
    d->ack_ok = 1;
    d->acked = (uint64_t)a;
    if (d->fin && d->acked > d->fin_off + 1)
        fin_revoke(c, dir); /* its receiver took bytes past it */
    if (d->acked <= d->next)
        return;
    if (d->fin && d->fin_off <= d->acked)
        target = d->fin_off;
    else if (d->held != NULL)
        target = min_u64(d->acked, held_end(d->held_last));
    else
        return;
    skip_to(c, dir, target);
    maybe_end(c, dir);
}

/* Keeps what is not about the stream: its figures and the caller's retain choice. */
static void dir_start(dir_t *d, uint32_t base)
{
    dlp_reasm_dir_info_t info = d->info;
    uint8_t no_retain = d->no_retain;

    memset(d, 0, sizeof(*d));
    d->info = info;
    d->no_retain = no_retain;
    d->base = base;
    d->started = 1;
}

enum { SYN_GO_ON, SYN_IGNORE, SYN_NEW_FLOW };

/* A SYN or SYN-ACK of direction 'dir': sets the ISN, or tells a new connection. */
static int syn_seen(const call_t *c, int dir, const dlp_packet_t *p)
{
    dlp_tcp_session_t *s = c->s;
    dir_t *d = &s->d[dir];
    bool ack = (p->tcp_flags & DLP_TCP_ACK) != 0;

    /* A new connection only once its sender closed the old one (Suricata's rule for
     * port reuse): a SYN forged into a connection whose sender is still sending would
     * otherwise end the flow and leave the rest of an upload unscanned. Its FIN counts
     * once the peer acknowledged it (or when no ACK of the peer is ever seen: a
     * one-sided capture), else a forged FIN, then a SYN, would do the same; also
     * when both FINs were seen (DLP_TCP_CLOSED), the other one acknowledged. */
    if (!ack && fin_counts(d))
        return SYN_NEW_FLOW;
    /* After an RST, a new connection only once the SYN is answered (syn_answered):
     * an RST and a SYN both forged (bad checksums) would otherwise end the flow while
     * the old connection goes on, its bytes out of the new one's window. */
    if (!ack && s->state == DLP_TCP_RESET && !(s->rst_peer_on && dir != s->rst_dir)) {
        s->syn_pending = 1;
        s->syn_dir = (uint8_t)dir;
        s->syn_isn = p->tcp_seq;
        return SYN_IGNORE;
    }
    if (ack && s->syn_pending && dir != s->syn_dir && p->tcp_ack == s->syn_isn + 1)
        return SYN_NEW_FLOW;
    if (d->started && d->base == p->tcp_seq + 1) {
        if (p->payload_wire == 0 && p->payload_len == 0)
            stat_inc(c, DLP_STAT_TCP_RETRANS);
        return SYN_GO_ON;
    }
    if (d->started && d->data) {
        stat_inc(c, DLP_STAT_TCP_OUT_OF_WINDOW);
        return SYN_IGNORE;
    }
    if (d->info.ended)
        return SYN_IGNORE;
    dir_start(d, p->tcp_seq + 1);
    if (!ack && s->state == DLP_TCP_NONE)
        set_state(s, DLP_TCP_SYN_SENT);
    else if (ack && s->state < DLP_TCP_SYN_RECV)
        set_state(s, DLP_TCP_SYN_RECV);
    return SYN_GO_ON;
}

static void midstream_start(const call_t *c, int dir, uint32_t seq)
{
    dir_t *d = &c->s->d[dir];

    dir_start(d, seq);
    d->info.midstream = 1;
    stat_inc(c, DLP_STAT_TCP_MIDSTREAM);
    if (c->s->state < DLP_TCP_ESTABLISHED)
        set_state(c->s, DLP_TCP_ESTABLISHED);
}

/* Payload (and FIN) of a segment of a direction that already ended. */
static void after_end(const call_t *c, const dir_t *d, int64_t off, uint32_t wire)
{
    if (wire == 0)
        return;
    if (d->started && off + wire <= (int64_t)d->next)
        stat_inc(c, DLP_STAT_TCP_RETRANS);
    else
        stat_inc(c, DLP_STAT_TCP_OUT_OF_WINDOW);
}

/*
 * An urgent pointer: the byte before it (the one at it for a pointer 0, as
 * Linux reads it) leaves the stream when it is reached (emit_data). As in
 * Linux (tcp_check_urg), a pointer not past the one awaited, or at bytes
 * already delivered (a retransmission), changes nothing; a later one
 * replaces the one awaited: the receiver keeps one urgent mark (BSD too), so
 * the byte of a pointer replaced before that byte came is read in the
 * stream, however fast the receiver reads. (A Linux sender whose urgent byte
 * is over 64 KiB ahead sends pointer 0xFFFF with every segment: each points
 * at a byte that is data.)
 */
static void urgent_seen(const call_t *c, int dir, const dlp_packet_t *p, int64_t off)
{
    dir_t *d = &c->s->d[dir];
    /* Linux takes 1 off a pointer that is not 0: URG with 0 marks the first byte. */
    int64_t u = off + (p->tcp_urp != 0 ? (int64_t)p->tcp_urp - 1 : 0);

    if (c->sink->urgent == NULL || (p->tcp_flags & DLP_TCP_SYN))
        return;
    if (u < (int64_t)d->next || u >= (int64_t)d->next + (int64_t)c->r->cfg.window)
        return;
    if (d->urg_on && (uint64_t)u <= d->urg)
        return;
    d->urg = (uint64_t)u;
    d->urg_on = 1;
}

/* The payload and FIN of a segment, once its direction is known to be tracked. */
static void seg_data(const call_t *c, int dir, const dlp_packet_t *p, int64_t off, uint32_t wire)
{
    dir_t *d = &c->s->d[dir];
    uint8_t fl = p->tcp_flags;
    int64_t cap_end = off + p->payload_len;
    seg_acct_t acct = {0};

    /* A FIN past an unacknowledged one: its bytes revoke that one (feed()), and
     * it is the sender's real FIN, not a second one refused (first FIN wins). */
    if ((fl & DLP_TCP_FIN) && d->fin && off + wire > (int64_t)d->fin_off && !fin_taken(d))
        fin_revoke(c, dir);
    if (fl & DLP_TCP_FIN)
        fin_seen(c, dir, off + wire);
    if (wire != 0 && !(fl & DLP_TCP_SYN) && c->s->state < DLP_TCP_ESTABLISHED)
        set_state(c->s, DLP_TCP_ESTABLISHED);
    /* A keep-alive probe carries one garbage byte just before next. */
    if (wire == 1 && off + 1 == (int64_t)d->next && !(fl & (DLP_TCP_SYN | DLP_TCP_FIN))) {
        stat_inc(c, DLP_STAT_TCP_RETRANS);
        return;
    }
    if (wire == 0)
        return;
    d->data = 1;
    if (p->payload_len != 0)
        feed(c, dir, off, cap_end, dlp_packet_payload(p), &acct);
    if (wire > p->payload_len) {
        stat_inc(c, DLP_STAT_TCP_TRUNCATED);
        feed(c, dir, cap_end, off + wire, NULL, &acct);
    }
}

dlp_rc_t dlp_reasm_segment(dlp_reasm_t *r, dlp_tcp_session_t *s, int dir, const dlp_packet_t *p,
                           const dlp_reasm_sink_t *sink, void *ctx)
{
    const call_t c = {r, s, sink, ctx};
    uint8_t fl = p->tcp_flags;
    uint32_t wire = p->payload_wire > p->payload_len ? p->payload_wire : p->payload_len;
    dir_t *d;

    dir &= 1;
    d = &s->d[dir];
    if (wire != 0)
        stat_inc(&c, DLP_STAT_TCP_SEGMENTS);
    if (fl & DLP_TCP_RST) {
        rst_seen(&c, dir, p->tcp_seq);
        return DLP_OK;
    }
    if (syn_answered(s, dir, p))
        return DLP_DONE;
    if (fl & DLP_TCP_SYN) {
        int v = syn_seen(&c, dir, p);
        if (v != SYN_GO_ON)
            return v == SYN_NEW_FLOW ? DLP_DONE : DLP_OK;
    } else if (!d->started && !d->info.ended) {
        midstream_start(&c, dir, p->tcp_seq);
    }
    int64_t off = d->started ? seq_off(d, p->tcp_seq + ((fl & DLP_TCP_SYN) ? 1u : 0u)) : 0;
    if ((fl & DLP_TCP_URG) && d->started && !d->info.ended)
        urgent_seen(&c, dir, p, off);
    if (d->info.ended) {
        after_end(&c, d, off, wire);
    } else if (wire != 0 || (fl & DLP_TCP_FIN)) {
        int64_t next = (int64_t)d->next;
        int64_t edge = next + (int64_t)r->cfg.window;
        if (off > edge || off < next - FAR_BEHIND || off + wire > edge + SEG_MAX) {
            stat_inc(&c, DLP_STAT_TCP_OUT_OF_WINDOW);
            return DLP_OK;
        }
        seg_data(&c, dir, p, off, wire); /* first: bytes past a FIN may revoke it */
        rst_outlived(&c, dir, off + wire);
        maybe_end(&c, dir);
    }
    if (fl & DLP_TCP_ACK) {
        if (!(fl & DLP_TCP_SYN) && s->state == DLP_TCP_SYN_RECV)
            set_state(s, DLP_TCP_ESTABLISHED);
        ack_seen(&c, !dir, p->tcp_ack);
    }
    return DLP_OK;
}

/* ---- close and accessors ---------------------------------------------------- */

void dlp_reasm_session_close(dlp_reasm_t *r, dlp_tcp_session_t *s, const dlp_reasm_sink_t *sink,
                             void *ctx)
{
    if (s == NULL)
        return;
    const call_t c = {r, s, sink, ctx};
    for (int dir = 0; sink != NULL && dir < 2; dir++)
        flush_dir(&c, dir);
    for (int dir = 0; dir < 2; dir++) {
        free_held(&c, &s->d[dir]);
        free(s->d[dir].tail);
    }
    free(s);
}

bool dlp_reasm_retained(const dlp_tcp_session_t *s, int dir, uint64_t from, uint64_t to,
                        uint8_t *out)
{
    const dir_t *d = &s->d[dir & 1];
    size_t pos, first, n;

    if (to < from || from < retained_lo(d) || to > d->next)
        return false;
    n = (size_t)(to - from);
    if (n == 0)
        return true;
    pos = (size_t)(from % d->tail_cap);
    first = d->tail_cap - pos < n ? d->tail_cap - pos : n;
    memcpy(out, d->tail + pos, first);
    memcpy(out + first, d->tail, n - first);
    return true;
}

void dlp_reasm_session_set_retain(dlp_tcp_session_t *s, int dir, bool retain)
{
    s->d[dir & 1].no_retain = !retain;
}

dlp_tcp_state_t dlp_reasm_state(const dlp_tcp_session_t *s)
{
    return (dlp_tcp_state_t)s->state;
}

bool dlp_reasm_over(const dlp_tcp_session_t *s)
{
    if (s->state == DLP_TCP_RESET)
        return !s->rst_peer_on;
    return s->state == DLP_TCP_CLOSED && fin_counts(&s->d[0]) && fin_counts(&s->d[1]);
}

size_t dlp_reasm_session_mem(const dlp_tcp_session_t *s)
{
    size_t n = sizeof(*s);

    for (int dir = 0; dir < 2; dir++) {
        const dir_t *d = &s->d[dir];
        n += d->held_segs * sizeof(held_t) + (size_t)d->held_bytes + d->tail_cap;
    }
    return n;
}

void dlp_reasm_dir_info(const dlp_tcp_session_t *s, int dir, dlp_reasm_dir_info_t *out)
{
    *out = s->d[dir & 1].info;
}
