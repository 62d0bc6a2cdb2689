/*
 * evidence.c - evidence captures, the packet path's side: each flow's packet
 * copies, redaction ranges and sequence anchors; the worker's memory bound;
 * the hand-over of an alerted flow at its end (evidence.h).
 *
 * Design: a flow's copies are records appended to a list of chunks (sizes
 * doubling from 4 KiB to 64 KiB, so a flow of a few packets costs little);
 * the pre-alert bound drops records from the front, freeing chunks as they
 * empty. Flows that hold records are on one of two LRU lists of the worker,
 * before their alert and alerted; the memcap takes the least recently fed
 * flow's whole buffer, the first list first. Ranges are kept sorted and
 * disjoint; beyond DLP_EVIDENCE_RANGES_MAX the smallest holes between them
 * are filled, so a range only ever grows. A TCP packet's stream offset is computed when it is
 * copied if the direction has an anchor already (anchors come from in-order
 * bytes, so it is near), else later from the direction's first anchor.
 *
 * Threading: everything here runs in the worker that owns the flow, except
 * dlp_evidence_flow_free of a flow handed over (any thread), which touches
 * only the flow and its worker's atomics (inflight, refs).
 */
#include "dlp/evidence.h"

#include <stdlib.h>
#include <string.h>

#include "dlp/alert.h"
#include "evidence_int.h"

#define CHUNK_FIRST 4096u
#define CHUNK_MAX (64u * 1024)
#define RANGES_FIRST 4u

void dlp_evidence_limits_default(dlp_evidence_limits_t *l)
{
    *l = (dlp_evidence_limits_t){
        .max_flow_bytes = DLP_EVIDENCE_MAX_FLOW_BYTES,
        .max_total_bytes = DLP_EVIDENCE_MAX_TOTAL_BYTES,
        .prealert_bytes = DLP_EVIDENCE_PREALERT_BYTES,
        .prealert_pkts = DLP_EVIDENCE_PREALERT_PKTS,
        .memcap = DLP_EVIDENCE_MEMCAP,
        .raw = false,
    };
}

void dlp_evidence_limits_from(const dlp_config_t *cfg, unsigned nworkers, dlp_evidence_limits_t *l)
{
    *l = (dlp_evidence_limits_t){
        .max_flow_bytes = cfg->evidence_max_flow_bytes,
        .max_total_bytes = cfg->evidence_max_total_bytes,
        .prealert_bytes = cfg->evidence_prealert_bytes < cfg->evidence_max_flow_bytes
                              ? cfg->evidence_prealert_bytes
                              : cfg->evidence_max_flow_bytes,
        .prealert_pkts = cfg->evidence_prealert_pkts,
        .memcap = cfg->evidence_memcap / (nworkers ? nworkers : 1),
        .raw = cfg->evidence_raw,
    };
}

/* --- memory and lists ---------------------------------------------------- */

static void charge(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f, int64_t delta)
{
    f->mem = (uint64_t)((int64_t)f->mem + delta);
    w->buffered = (uint64_t)((int64_t)w->buffered + delta);
    if (delta >= 0)
        dlp_stat_add(w->st, DLP_STAT_EVIDENCE_MEM, (uint64_t)delta);
    else
        dlp_stat_sub(w->st, DLP_STAT_EVIDENCE_MEM, (uint64_t)-delta);
}

static void list_remove(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f)
{
    if (f->list == EV_LIST_NONE)
        return;
    TAILQ_REMOVE(&w->lists[f->list - 1], f, lru);
    f->list = EV_LIST_NONE;
}

/* To the young end of the list of its state. */
static void touch(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f)
{
    uint8_t want = f->alerted ? EV_LIST_ALERTED : EV_LIST_PRE;
    ev_list_t *l = &w->lists[want - 1];

    if (f->list == want && TAILQ_LAST(l, ev_list) == f)
        return;
    list_remove(w, f);
    TAILQ_INSERT_TAIL(l, f, lru);
    f->list = want;
}

static void free_chunks(dlp_evidence_flow_t *f)
{
    while (f->first != NULL) {
        ev_chunk_t *c = f->first;
        f->first = c->next;
        free(c);
    }
    f->last = NULL;
    f->bytes = 0;
    f->npkts = 0;
    f->next_cap = CHUNK_FIRST;
}

static uint64_t chunks_mem(const dlp_evidence_flow_t *f)
{
    uint64_t m = 0;

    for (const ev_chunk_t *c = f->first; c != NULL; c = c->next)
        m += sizeof(*c) + c->cap;
    return m;
}

/* The memcap took the buffer: an alerted flow then gets no file. */
static void drop_buffer(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f)
{
    charge(w, f, -(int64_t)chunks_mem(f));
    free_chunks(f);
    list_remove(w, f);
    if (f->alerted)
        f->dropped = 1;
    dlp_stat_inc(w->st, DLP_STAT_EVIDENCE_MEMCAP_DROPS);
}

/*
 * Live: buffered + handed over within the memcap. A file replay counts its
 * buffers only (the hand-over waits for the writer instead), so what is
 * dropped does not depend on the writer's speed. Over it, the least recently
 * fed flows (those before their alert first) lose their buffers, 'cur' last.
 */
static void enforce_memcap(dlp_evidence_worker_t *w, dlp_evidence_flow_t *cur)
{
    uint64_t infl = w->wait ? 0 : atomic_load_explicit(&w->inflight, memory_order_relaxed);

    while (w->buffered + infl > w->l.memcap) {
        dlp_evidence_flow_t *v = NULL;
        for (int l = 0; l < 2 && v == NULL; l++) {
            v = TAILQ_FIRST(&w->lists[l]);
            if (v == cur)
                v = TAILQ_NEXT(v, lru);
        }
        if (v == NULL)
            v = cur;
        if (v->first == NULL)
            return; /* nothing left to take: ranges and the flow itself stay */
        drop_buffer(w, v);
        if (v == cur)
            return;
    }
}

/* --- records ---------------------------------------------------------------- */

static ev_rec_t *rec_alloc(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f, uint32_t size)
{
    ev_chunk_t *c = f->last;
    ev_rec_t *r;

    if (c == NULL || c->cap - c->used < size) {
        uint32_t cap = f->next_cap > size ? f->next_cap : size;
        ev_chunk_t *n = malloc(sizeof(*n) + cap);
        if (n == NULL)
            return NULL;
        n->next = NULL;
        n->cap = cap;
        n->used = n->head = 0;
        if (c != NULL)
            c->next = n;
        else
            f->first = n;
        f->last = n;
        if (f->next_cap < CHUNK_MAX)
            f->next_cap *= 2;
        charge(w, f, (int64_t)(sizeof(*n) + cap));
        c = n;
    }
    r = (ev_rec_t *)(c->buf + c->used);
    c->used += size;
    return r;
}

static void drop_oldest(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f)
{
    ev_chunk_t *c = f->first;
    const ev_rec_t *r = (const ev_rec_t *)(c->buf + c->head);

    f->bytes -= r->caplen;
    f->npkts--;
    c->head += ev_rec_size(r->caplen);
    if (c->head < c->used)
        return;
    if (c->next == NULL) {
        c->head = c->used = 0;
        return;
    }
    f->first = c->next;
    charge(w, f, -(int64_t)(sizeof(*c) + c->cap));
    free(c);
}

/* Before the alert: the newest packets within both pre-alert bounds. */
static void trim_prealert(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f)
{
    while (f->npkts > 0 && (f->bytes > w->l.prealert_bytes || f->npkts > w->l.prealert_pkts)) {
        drop_oldest(w, f);
        dlp_stat_inc(w->st, DLP_STAT_EVIDENCE_PREBUF_DROPS);
    }
}

static void rec_fill(dlp_evidence_flow_t *f, ev_rec_t *r, const dlp_packet_t *p, int dir,
                     uint64_t dgram_off)
{
    const ev_anchor_t *a = &f->a_last[dir];

    memset(r, 0, sizeof(*r));
    r->ts_us = p->ts_us;
    r->caplen = p->caplen;
    r->wirelen = p->wirelen;
    r->l3_off = p->l3_off;
    r->payload_off = p->payload_off;
    r->payload_len = p->payload_len;
    r->l4_off = p->l4_off;
    r->payload_wire = p->payload_wire;
    r->proto = p->proto;
    r->linktype = p->linktype;
    r->dir = (uint8_t)dir;
    r->ipver = p->ipver;
    r->tcp = p->proto == DLP_PROTO_TCP;
    if (!r->tcp) {
        r->off = dgram_off;
        r->has_off = 1;
    } else {
        r->seq = p->tcp_seq + ((p->tcp_flags & DLP_TCP_SYN) ? 1u : 0u);
        if (a->set) {
            r->off = (uint64_t)((int64_t)a->off + (int32_t)(r->seq - a->seq));
            r->has_off = 1;
        }
    }
    memcpy(ev_rec_frame(r), p->data, p->caplen);
}

void dlp_evidence_packet(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f, const dlp_packet_t *p,
                         int dir, bool alerted)
{
    uint64_t dgram_off = 0;
    ev_rec_t *r;

    if (f == NULL)
        return;
    dir &= 1;
    if (p->proto != DLP_PROTO_TCP) {
        dgram_off = f->dgram[dir];
        f->dgram[dir] += p->payload_len;
    }
    if (alerted && !f->alerted) {
        f->alerted = 1;
        if (f->list != EV_LIST_NONE)
            touch(w, f);
    }
    if (f->dropped)
        return;
    if (f->full || (f->alerted && f->bytes + p->caplen > w->l.max_flow_bytes)) {
        f->full = 1; /* nothing more: the file ends where the bound was hit */
        dlp_stat_inc(w->st, DLP_STAT_EVIDENCE_FLOW_TRUNCATED);
        return;
    }
    r = rec_alloc(w, f, ev_rec_size(p->caplen));
    if (r == NULL) {
        dlp_stat_inc(w->st, DLP_STAT_EVIDENCE_MEMCAP_DROPS);
        return;
    }
    rec_fill(f, r, p, dir, dgram_off);
    if (!r->has_off)
        f->unresolved[dir]++;
    else if (r->off + r->payload_len > f->kept_end[dir])
        f->kept_end[dir] = r->off + r->payload_len;
    f->bytes += p->caplen;
    f->npkts++;
    if (!f->alerted)
        trim_prealert(w, f);
    touch(w, f);
    enforce_memcap(w, f);
}

/* --- anchors and ranges ------------------------------------------------------ */

void dlp_evidence_anchor(dlp_evidence_flow_t *f, int dir, uint32_t seq, uint64_t off)
{
    ev_anchor_t a = {.off = off, .seq = seq, .set = 1};

    if (f == NULL)
        return;
    dir &= 1;
    if (!f->a_first[dir].set)
        f->a_first[dir] = a;
    f->a_last[dir] = a;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Over the bound: the smallest holes between ranges are filled until half
 * of the bound is free again (so this runs once per that many new ranges).
 * Without memory for that, the last two ranges merge.
 */
static void compact(ev_range_t *r, uint16_t *n)
{
    size_t holes = (size_t)*n - 1, fill = *n - DLP_EVIDENCE_RANGES_MAX / 2, k = 0;
    uint64_t *gap = malloc(holes * sizeof(*gap)), thr;

    if (gap == NULL) {
        r[*n - 2].hi = r[*n - 1].hi;
        (*n)--;
        return;
    }
    for (size_t i = 0; i < holes; i++)
        gap[i] = r[i + 1].lo - r[i].hi;
    qsort(gap, holes, sizeof(*gap), cmp_u64);
    thr = gap[fill - 1]; /* holes up to this size go, as many as 'fill' */
    free(gap);
    for (size_t i = 1; i < *n; i++) {
        if (fill > 0 && r[i].lo - r[k].hi <= thr) {
            r[k].hi = r[i].hi;
            fill--;
        } else {
            r[++k] = r[i];
        }
    }
    *n = (uint16_t)(k + 1);
}

/* Room for one more range of direction d; false when none can be had. */
static bool ranges_room(dlp_evidence_flow_t *f, int d)
{
    uint16_t cap = f->capr[d];
    ev_range_t *r;

    if (f->nr[d] < cap)
        return true;
    cap = cap == 0 ? RANGES_FIRST : (uint16_t)(cap * 2);
    if (cap > DLP_EVIDENCE_RANGES_MAX + 1)
        cap = DLP_EVIDENCE_RANGES_MAX + 1;
    if (cap <= f->capr[d])
        return false;
    r = realloc(f->r[d], cap * sizeof(*r));
    if (r == NULL)
        return false;
    if (f->w != NULL)
        charge(f->w, f, (int64_t)((cap - f->capr[d]) * sizeof(*r)));
    f->r[d] = r;
    f->capr[d] = cap;
    return true;
}

void dlp_evidence_redact_dir(dlp_evidence_flow_t *f, int dir)
{
    if (f != NULL)
        f->all[dir & 1] = 1;
}

void dlp_evidence_redact(dlp_evidence_flow_t *f, int dir, uint64_t lo, uint64_t hi)
{
    ev_range_t *r;
    uint16_t n, i = 0, j;

    if (f == NULL)
        return;
    dir &= 1;
    /* Once the flow is cut, no packet beyond what is kept will be written. */
    if (f->full && f->unresolved[dir] == 0 && hi > f->kept_end[dir])
        hi = f->kept_end[dir];
    if (lo >= hi)
        return;
    n = f->nr[dir];
    r = f->r[dir];
    for (uint16_t top = n; i < top;) { /* the first range that ends at or after lo */
        uint16_t mid = (uint16_t)(i + (top - i) / 2);
        if (r[mid].hi < lo)
            i = (uint16_t)(mid + 1);
        else
            top = mid;
    }
    for (j = i; j < n && r[j].lo <= hi; j++) {
        lo = r[j].lo < lo ? r[j].lo : lo;
        hi = r[j].hi > hi ? r[j].hi : hi;
    }
    if (j > i) { /* [i, j) become one */
        r[i] = (ev_range_t){lo, hi};
        memmove(r + i + 1, r + j, (size_t)(n - j) * sizeof(*r));
        f->nr[dir] = (uint16_t)(n - (j - i - 1));
        return;
    }
    if (!ranges_room(f, dir)) {
        /* No memory for one more range: widen, never forget. */
        if (n == 0) {
            f->all[dir] = 1;
            return;
        }
        r[0].lo = r[0].lo < lo ? r[0].lo : lo;
        r[0].hi = r[n - 1].hi > hi ? r[n - 1].hi : hi;
        f->nr[dir] = 1;
        return;
    }
    r = f->r[dir];
    memmove(r + i + 1, r + i, (size_t)(n - i) * sizeof(*r));
    r[i] = (ev_range_t){lo, hi};
    f->nr[dir] = (uint16_t)(n + 1);
    if (f->nr[dir] > DLP_EVIDENCE_RANGES_MAX)
        compact(r, &f->nr[dir]);
}

/* --- flows ------------------------------------------------------------------- */

dlp_evidence_flow_t *dlp_evidence_flow_new(dlp_evidence_worker_t *w, uint64_t flow_id)
{
    dlp_evidence_flow_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->w = w;
    f->flow_id = flow_id;
    f->next_cap = CHUNK_FIRST;
    return f;
}

static void flow_release(dlp_evidence_flow_t *f)
{
    free_chunks(f);
    free(f->r[0]);
    free(f->r[1]);
    free(f);
}

static void worker_unref(dlp_evidence_worker_t *w)
{
    if (atomic_fetch_sub_explicit(&w->refs, 1, memory_order_acq_rel) == 1)
        free(w);
}

void dlp_evidence_flow_free(dlp_evidence_flow_t *f)
{
    dlp_evidence_worker_t *w;

    if (f == NULL)
        return;
    w = f->w;
    atomic_fetch_sub_explicit(&w->inflight, f->mem, memory_order_relaxed);
    flow_release(f);
    worker_unref(w);
}

/* A file replay: until what the writer holds of this worker leaves room for
 * 'need' more bytes within the memcap (or holds nothing). */
static void wait_writer(dlp_evidence_worker_t *w, uint64_t need)
{
    dlp_backoff_t b;
    uint64_t infl;

    dlp_backoff_init(&b, 1000);
    while ((infl = atomic_load_explicit(&w->inflight, memory_order_relaxed)) > 0 &&
           infl + need > w->l.memcap && !(w->stop != NULL && atomic_load(w->stop)))
        dlp_backoff_wait(&b);
}

/* A DLP_EV_EVIDENCE record on the events ring; waits as events do. */
static bool hand_over(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f)
{
    static _Thread_local dlp_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = DLP_EV_EVIDENCE;
    ev.fl.flow_id = f->flow_id;
    ev.u.evidence.flow = f;
    return dlp_alert_push(w->events, &ev, w->wait, w->stop, NULL); /* drops: queue_drops */
}

void dlp_evidence_flow_end(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f, bool alerted)
{
    if (f == NULL)
        return;
    list_remove(w, f);
    if (!alerted || f->dropped || f->npkts == 0) {
        charge(w, f, -(int64_t)f->mem);
        flow_release(f);
        return;
    }
    /* From now on the memory is the writer's, still within this worker's cap. */
    if (w->wait)
        wait_writer(w, f->mem);
    w->buffered -= f->mem;
    dlp_stat_sub(w->st, DLP_STAT_EVIDENCE_MEM, f->mem);
    atomic_fetch_add_explicit(&w->inflight, f->mem, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed);
    if (!hand_over(w, f)) {
        dlp_stat_inc(w->st, DLP_STAT_EVIDENCE_QUEUE_DROPS);
        dlp_evidence_flow_free(f);
    }
}

/* --- workers ------------------------------------------------------------------- */

dlp_evidence_worker_t *dlp_evidence_worker_new(const dlp_evidence_limits_t *l, dlp_stats_t *st,
                                               dlp_ring_t *events, bool wait,
                                               const atomic_int *stop)
{
    dlp_evidence_worker_t *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->l = *l;
    w->st = st;
    w->events = events;
    w->wait = wait;
    w->stop = stop;
    TAILQ_INIT(&w->lists[0]);
    TAILQ_INIT(&w->lists[1]);
    atomic_init(&w->inflight, 0);
    atomic_init(&w->refs, 1);
    return w;
}

void dlp_evidence_worker_free(dlp_evidence_worker_t *w)
{
    if (w != NULL)
        worker_unref(w);
}

/* --- reading a flow (the writer, tests) ----------------------------------------- */

void dlp_evidence__iter(const dlp_evidence_flow_t *f, ev_iter_t *it)
{
    it->c = f->first;
    it->pos = it->c != NULL ? it->c->head : 0;
}

ev_rec_t *dlp_evidence__next(ev_iter_t *it)
{
    ev_rec_t *r;

    while (it->c != NULL && it->pos >= it->c->used) {
        it->c = it->c->next;
        it->pos = it->c != NULL ? it->c->head : 0;
    }
    if (it->c == NULL)
        return NULL;
    r = (ev_rec_t *)(it->c->buf + it->pos);
    it->pos += ev_rec_size(r->caplen);
    return r;
}

bool dlp_evidence__offset(const dlp_evidence_flow_t *f, const ev_rec_t *r, uint64_t *off)
{
    const ev_anchor_t *a = &f->a_first[r->dir & 1];

    if (r->has_off) {
        *off = r->off;
        return true;
    }
    if (!a->set)
        return false;
    *off = (uint64_t)((int64_t)a->off + (int32_t)(r->seq - a->seq));
    return true;
}
