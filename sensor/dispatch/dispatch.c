/*
 * dispatch.c - the reader: capture -> decode -> defrag -> worker batches,
 * and the set-up and tear-down of the packet path (dispatch.h).
 *
 * Design: the reader decodes every frame once (the view travels with the
 * copy of the frame, so workers never decode again), reassembles IP
 * fragments before hashing (a non-first fragment has no ports, so it
 * cannot be hashed to its flow's worker), and appends the packet to the
 * current batch of the worker its symmetric 5-tuple hash selects.
 *
 * Time: the reader's clock is the largest packet time seen. Each time it
 * advances by DLP_TICK_US, a tick record goes to every worker, in band, at
 * the same position of the input for any number of workers.
 *
 * Threading: dlp_dispatch_run() runs in the reader's thread (main); the
 * workers run in their own threads; the getters are read by the output
 * thread and touch only atomics and rings.
 */
#include "dlp/dispatch.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "dispatch_int.h"
#include "dlp/alert.h"
#include "dlp/defrag.h"
#include "dlp/detect.h"
#include "dlp/flow.h"
#include "dlp/hash.h"
#include "dlp/log.h"
#include "dlp/mem.h"
#include "dlp/packet.h"
#include "dlp/timefmt.h"

typedef struct wslot {
    dlp_worker_t *w;
    pthread_t thread;
    bool started;
    dlp_ring_t *full;   /* reader -> worker */
    dlp_ring_t *empty;  /* worker -> reader */
    dlp_ring_t *events; /* worker -> output */
    dlp_batch_t *cur;   /* batch being filled, or NULL */
    dlp_batch_t **all;  /* every batch of this worker, for freeing */
} wslot_t;

struct dlp_dispatch {
    dlp_dispatch_params_t p;
    dlp_stats_t stats; /* the reader's counters */
    dlp_defrag_t *defrag;
    wslot_t *ws;
    unsigned n;
    _Atomic uint64_t now_us;
    uint64_t last_tick_us;
    uint64_t seed; /* per run: worker choice and flow-table buckets */
};

/* --- batches ----------------------------------------------------------- */

/* Hands the current batch of 'ws' to its worker. Never fails: the full ring
 * has room for every batch the worker owns. */
static void flush(wslot_t *ws)
{
    if (ws->cur == NULL)
        return;
    (void)dlp_ring_push(ws->full, &ws->cur);
    ws->cur = NULL;
}

static void batch_reset(dlp_batch_t *b)
{
    b->used = 0;
    b->npkts = 0;
    b->born_ns = dlp_time_mono_ns();
}

/* Takes an empty batch of 'ws', waiting for one if 'wait'. */
static dlp_batch_t *take_empty(dlp_dispatch_t *d, wslot_t *ws, bool wait)
{
    dlp_batch_t *b;
    dlp_backoff_t bo;

    dlp_backoff_init(&bo, 200);
    while (!dlp_ring_pop(ws->empty, &b)) {
        if (!wait)
            return NULL;
        (void)d;
        dlp_backoff_wait(&bo);
    }
    batch_reset(b);
    return b;
}

/*
 * Makes room for 'need' bytes in the batch of 'ws'. Files: waits for an
 * empty batch (nothing is ever dropped). Live: returns false when none is
 * free.
 */
static bool reserve(dlp_dispatch_t *d, wslot_t *ws, uint32_t need)
{
    if (ws->cur != NULL && ws->cur->used + need <= DLP_BATCH_BYTES)
        return true;
    flush(ws);
    ws->cur = take_empty(d, ws, d->p.file_mode && !atomic_load(d->p.stop));
    return ws->cur != NULL;
}

static void put_ctl(dlp_dispatch_t *d, wslot_t *ws, uint32_t kind, uint64_t ts)
{
    rec_hdr_t *h;

    if (!reserve(d, ws, sizeof(*h))) {
        /* Live and out of batches: a tick can wait for the next one. */
        return;
    }
    h = (rec_hdr_t *)(ws->cur->buf + ws->cur->used);
    h->kind = kind;
    h->size = sizeof(*h);
    h->ts_us = ts;
    ws->cur->used += h->size;
}

static void tick_all(dlp_dispatch_t *d, uint64_t ts)
{
    dlp_defrag_expire(d->defrag, ts);
    for (unsigned i = 0; i < d->n; i++)
        put_ctl(d, &d->ws[i], REC_TICK, ts);
    d->last_tick_us = ts;
}

static void advance_clock(dlp_dispatch_t *d, uint64_t ts)
{
    uint64_t now = atomic_load_explicit(&d->now_us, memory_order_relaxed);

    if (ts <= now)
        return;
    atomic_store_explicit(&d->now_us, ts, memory_order_relaxed);
    if (d->last_tick_us == 0)
        d->last_tick_us = ts;
    else if (ts - d->last_tick_us >= DLP_TICK_US)
        tick_all(d, ts);
}

/* --- packets ------------------------------------------------------------- */

/*
 * The worker of a packet: by its pair of addresses, in either order, so
 * that every connection between two hosts - an FTP control connection and
 * its data connections among them - meets in one worker, and the
 * association of the two never depends on timing between threads (Zeek's
 * clusters balance on the address pair for the same reason). Seeded per
 * run: the spread cannot be aimed at.
 */
static uint32_t worker_of(const dlp_dispatch_t *d, const dlp_packet_t *p)
{
    const uint8_t *a = p->src, *b = p->dst;
    uint64_t h;

    if (memcmp(a, b, 16) > 0) {
        a = p->dst;
        b = p->src;
    }
    h = dlp_hash_bytes(a, 16, d->seed);
    h = dlp_hash_mix64(h ^ dlp_hash_bytes(b, 16, d->seed));
    return (uint32_t)(((h >> 32) * d->n) >> 32);
}

static void send_packet(dlp_dispatch_t *d, const dlp_packet_t *p)
{
    wslot_t *ws = &d->ws[worker_of(d, p)];
    uint32_t need = rec_align((uint32_t)sizeof(rec_pkt_t) + p->caplen);
    rec_pkt_t *r;

    if (need > DLP_BATCH_BYTES) {
        /* Cannot happen for libpcap frames (<= 256 KiB); count, don't crash. */
        dlp_stat_inc(&d->stats, DLP_STAT_DECODE_ERRORS);
        return;
    }
    if (!reserve(d, ws, need)) {
        dlp_stat_inc(&d->stats, DLP_STAT_CAP_RING_DROPS);
        dlp_stat_inc(&d->stats, DLP_STAT_DROPPED);
        return;
    }
    r = (rec_pkt_t *)(ws->cur->buf + ws->cur->used);
    r->h.kind = REC_PKT;
    r->h.size = need;
    r->h.ts_us = p->ts_us;
    r->pkt = *p;
    r->src_ep = dlp_flow_key_make(p, d->p.cfg->vlan_in_key, &r->key);
    r->key_hash = dlp_flow_key_hash(&r->key, d->seed);
    memcpy(r->frame, p->data, p->caplen);
    ws->cur->used += need;
    ws->cur->npkts++;
}

static const dlp_stat_id_t decode_err_stat[DLP_DEC__COUNT] = {
    [DLP_DEC_ERR_LINKTYPE] = DLP_STAT_DEC_ERR_LINKTYPE,
    [DLP_DEC_ERR_L2] = DLP_STAT_DEC_ERR_L2,
    [DLP_DEC_ERR_VLAN] = DLP_STAT_DEC_ERR_VLAN,
    [DLP_DEC_ERR_IP4] = DLP_STAT_DEC_ERR_IP4,
    [DLP_DEC_ERR_IP6] = DLP_STAT_DEC_ERR_IP6,
    [DLP_DEC_ERR_IP6_EXT] = DLP_STAT_DEC_ERR_IP6_EXT,
    [DLP_DEC_ERR_FRAG] = DLP_STAT_DEC_ERR_FRAG,
    [DLP_DEC_ERR_TCP] = DLP_STAT_DEC_ERR_TCP,
    [DLP_DEC_ERR_UDP] = DLP_STAT_DEC_ERR_UDP,
};

static void count_decoded(dlp_dispatch_t *d, const dlp_packet_t *p)
{
    dlp_stat_inc(&d->stats, p->ipver == 4 ? DLP_STAT_DEC_IPV4 : DLP_STAT_DEC_IPV6);
    dlp_stat_inc(&d->stats, p->proto == DLP_PROTO_TCP ? DLP_STAT_DEC_TCP : DLP_STAT_DEC_UDP);
    if (p->vlan_count > 0)
        dlp_stat_inc(&d->stats, DLP_STAT_DEC_VLAN);
}

/* Returns true if the (possibly rebuilt) packet should go to a worker. */
static bool classify_result(dlp_dispatch_t *d, dlp_decode_result_t r, const dlp_packet_t *p)
{
    switch (r) {
    case DLP_DEC_OK:
        count_decoded(d, p);
        return true;
    case DLP_DEC_NOT_IP:
        dlp_stat_inc(&d->stats, DLP_STAT_DEC_NOT_IP);
        return false;
    case DLP_DEC_OTHER_L4:
        dlp_stat_inc(&d->stats, DLP_STAT_DEC_OTHER_L4);
        return false;
    case DLP_DEC_FRAGMENT:
        return false;
    default:
        dlp_stat_inc(&d->stats, DLP_STAT_DECODE_ERRORS);
        if (r >= DLP_DEC_ERR_FIRST && r < DLP_DEC__COUNT)
            dlp_stat_inc(&d->stats, decode_err_stat[r]);
        return false;
    }
}

static void handle_fragment(dlp_dispatch_t *d, const dlp_packet_t *frag)
{
    const uint8_t *dgram = NULL;
    uint32_t len = 0;
    dlp_packet_t whole;

    if (dlp_defrag_add(d->defrag, frag, &dgram, &len) != DLP_OK)
        return; /* held, or rejected and counted by defrag */
    if (classify_result(d, dlp_decode_ip(&whole, dgram, len, frag->ts_us, frag), &whole))
        send_packet(d, &whole);
}

static void handle_frame(dlp_dispatch_t *d, const dlp_frame_t *fr)
{
    dlp_packet_t p;
    dlp_decode_result_t r;

    dlp_stat_inc(&d->stats, DLP_STAT_PACKETS);
    dlp_stat_add(&d->stats, DLP_STAT_BYTES, fr->wirelen);
    advance_clock(d, fr->ts_us);
    r = dlp_decode(&p, fr->linktype, fr->data, fr->caplen, fr->wirelen, fr->ts_us);
    if (r == DLP_DEC_FRAGMENT) {
        handle_fragment(d, &p);
        return;
    }
    if (classify_result(d, r, &p))
        send_packet(d, &p);
}

/* Live: hand over batches that have waited long enough, so that a quiet
 * link still gets its packets inspected promptly. */
static void flush_aged(dlp_dispatch_t *d, bool all)
{
    uint64_t now = dlp_time_mono_ns();

    for (unsigned i = 0; i < d->n; i++) {
        wslot_t *ws = &d->ws[i];
        if (ws->cur != NULL && (all || now - ws->cur->born_ns >= DLP_LIVE_FLUSH_US * 1000))
            flush(ws);
    }
}

static void idle_live(dlp_dispatch_t *d)
{
    uint64_t wall = dlp_time_now_us();

    /* No packets: the wall clock keeps flows timing out. */
    if (wall > atomic_load_explicit(&d->now_us, memory_order_relaxed))
        advance_clock(d, wall);
    flush_aged(d, true);
}

/* Sends the end-of-input record to every worker and joins the threads. */
static void end_workers(dlp_dispatch_t *d)
{
    for (unsigned i = 0; i < d->n; i++) {
        wslot_t *ws = &d->ws[i];
        rec_hdr_t *h;
        if (!ws->started)
            continue;
        /* The end record must arrive even live, so this waits for room. */
        if (ws->cur != NULL && ws->cur->used + sizeof(*h) > DLP_BATCH_BYTES)
            flush(ws);
        if (ws->cur == NULL)
            ws->cur = take_empty(d, ws, true);
        h = (rec_hdr_t *)(ws->cur->buf + ws->cur->used);
        *h = (rec_hdr_t){.kind = REC_END, .size = sizeof(*h)};
        ws->cur->used += h->size;
        flush(ws);
    }
    for (unsigned i = 0; i < d->n; i++) {
        if (d->ws[i].started)
            pthread_join(d->ws[i].thread, NULL);
        d->ws[i].started = false;
    }
}

dlp_rc_t dlp_dispatch_run(dlp_dispatch_t *d)
{
    dlp_rc_t ret = DLP_OK;
    bool live = !d->p.file_mode;

    while (!atomic_load(d->p.stop)) {
        dlp_frame_t fr;
        dlp_rc_t rc = dlp_capture_next(d->p.cap, &fr);
        if (rc == DLP_OK) {
            handle_frame(d, &fr);
            if (live)
                flush_aged(d, false);
        } else if (rc == DLP_AGAIN) {
            idle_live(d);
        } else {
            if (rc != DLP_DONE)
                ret = DLP_EIO;
            break;
        }
    }
    if (live)
        dlp_capture_poll_stats(d->p.cap);
    end_workers(d);
    return ret;
}

/* --- set-up -------------------------------------------------------------- */

static dlp_rc_t slot_init(dlp_dispatch_t *d, unsigned i)
{
    wslot_t *ws = &d->ws[i];
    dlp_worker_params_t wp;

    ws->full = dlp_ring_new(sizeof(dlp_batch_t *), DLP_BATCHES_PER_WORKER);
    ws->empty = dlp_ring_new(sizeof(dlp_batch_t *), DLP_BATCHES_PER_WORKER);
    ws->events = dlp_ring_new(sizeof(dlp_event_t), d->p.cfg->event_ring_slots);
    ws->all = calloc(DLP_BATCHES_PER_WORKER, sizeof(*ws->all));
    if (!ws->full || !ws->empty || !ws->events || !ws->all)
        return DLP_ENOMEM;
    for (unsigned b = 0; b < DLP_BATCHES_PER_WORKER; b++) {
        ws->all[b] = dlp_calloc_aligned(sizeof(dlp_batch_t));
        if (ws->all[b] == NULL)
            return DLP_ENOMEM;
        (void)dlp_ring_push(ws->empty, &ws->all[b]);
    }
    wp = (dlp_worker_params_t){
        .index = i,
        .cfg = d->p.cfg,
        .in = ws->full,
        .empty = ws->empty,
        .events = ws->events,
        .file_mode = d->p.file_mode,
        .stop = d->p.stop,
        .engines = d->p.engines,
        .hmac_key = d->p.hmac_key,
        .hmac_key_len = d->p.hmac_key_len,
        .hash_seed = d->seed,
    };
    ws->w = dlp_worker_new(&wp);
    return ws->w != NULL ? DLP_OK : DLP_ENOMEM;
}

dlp_dispatch_t *dlp_dispatch_new(const dlp_dispatch_params_t *p)
{
    dlp_dispatch_t *d = dlp_calloc_aligned(sizeof(*d));
    dlp_defrag_config_t dc;

    if (d == NULL)
        goto fail;
    d->p = *p;
    d->n = p->workers ? p->workers : 1;
    if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
        d->seed = dlp_hash_mix64(dlp_time_now_us() ^ (uint64_t)(uintptr_t)d);
    d->seed |= 1; /* 0 asks the flow table for its own */
    dlp_stats_init(&d->stats);
    dlp_defrag_config_default(&dc);
    dc.memcap = p->cfg->defrag_memcap;
    dc.timeout_us = p->cfg->defrag_timeout_us;
    d->defrag = dlp_defrag_new(&dc, &d->stats);
    d->ws = calloc(d->n, sizeof(*d->ws));
    if (d->defrag == NULL || d->ws == NULL)
        goto fail;
    for (unsigned i = 0; i < d->n; i++)
        if (slot_init(d, i) != DLP_OK)
            goto fail;
    return d;
fail:
    dlp_log(DLP_LOG_ERR, "out of memory setting up %u workers", p->workers);
    dlp_dispatch_free(d);
    return NULL;
}

dlp_rc_t dlp_dispatch_start(dlp_dispatch_t *d)
{
    for (unsigned i = 0; i < d->n; i++) {
        char name[32];
        if (pthread_create(&d->ws[i].thread, NULL, dlp_worker_main, d->ws[i].w) != 0) {
            dlp_log(DLP_LOG_ERR, "cannot start worker thread %u", i);
            end_workers(d);
            return DLP_EIO;
        }
        snprintf(name, sizeof(name), "dlp-worker%u", i);
        name[15] = '\0'; /* the kernel's limit */
        pthread_setname_np(d->ws[i].thread, name);
        d->ws[i].started = true;
    }
    return DLP_OK;
}

void dlp_dispatch_free(dlp_dispatch_t *d)
{
    if (d == NULL)
        return;
    for (unsigned i = 0; d->ws != NULL && i < d->n; i++) {
        wslot_t *ws = &d->ws[i];
        dlp_worker_free(ws->w);
        for (unsigned b = 0; ws->all != NULL && b < DLP_BATCHES_PER_WORKER; b++)
            free(ws->all[b]);
        free(ws->all);
        dlp_ring_free(ws->full);
        dlp_ring_free(ws->empty);
        dlp_ring_free(ws->events);
    }
    free(d->ws);
    dlp_defrag_free(d->defrag);
    free(d);
}

unsigned dlp_dispatch_nstats(const dlp_dispatch_t *d) { return d->n + 1; }

const dlp_stats_t *dlp_dispatch_stats(const dlp_dispatch_t *d, unsigned i)
{
    return i == 0 ? &d->stats : dlp_worker_stats(d->ws[i - 1].w);
}

unsigned dlp_dispatch_nrings(const dlp_dispatch_t *d) { return d->n; }
dlp_ring_t *dlp_dispatch_ring(const dlp_dispatch_t *d, unsigned i) { return d->ws[i].events; }

void dlp_dispatch_rule_stats(const dlp_dispatch_t *d, uint64_t *out, const dlp_engine_t *e)
{
    for (unsigned i = 0; i < d->n; i++) {
        const _Atomic uint64_t *c = dlp_worker_rule_stats(d->ws[i].w);
        for (size_t r = 0; r < e->rules->n; r++)
            for (size_t k = 0; k < DLP_RSTAT__COUNT; k++)
                out[r * DLP_RSTAT__COUNT + k] += atomic_load_explicit(
                    &c[(size_t)e->slots[r] * DLP_RSTAT__COUNT + k], memory_order_relaxed);
    }
}

uint64_t dlp_dispatch_packet_time(const dlp_dispatch_t *d)
{
    return atomic_load_explicit(&((dlp_dispatch_t *)d)->now_us, memory_order_relaxed);
}

bool dlp_dispatch_done(const dlp_dispatch_t *d)
{
    for (unsigned i = 0; i < d->n; i++)
        if (!dlp_worker_finished(d->ws[i].w))
            return false;
    return true;
}
