/*
 * dispatch.c - the packet path in its two shapes (dispatch.h): the reader
 * that fills worker batches (files), and the live pipelines that run their
 * worker on each packet themselves; their set-up and tear-down.
 *
 * Front end (both shapes, front_t): every frame is decoded once, IP
 * fragments are reassembled before the flow key is made (a non-first
 * fragment has no ports, so it cannot be keyed or hashed to its flow), and
 * the decode counters go to the thread's own stats block.
 *
 * Reader: appends each packet (its decoded view, then a copy of its bytes)
 * to the current batch of the worker its address pair selects.
 *
 * Pipelines: pipeline i reads capture handle i and calls worker i in the same
 * thread. The kernel's fanout put every packet of a flow (IPPAIR: of an
 * address pair) in this handle, so the worker sees whole flows; each pipeline
 * has its own defragmenter (IPPAIR sends all fragments of a datagram to one
 * member; HASH defragments IPv4 in the kernel). Reading files (file_mode), every
 * handle gives every frame and the pipeline keeps those worker_of() gives it,
 * choosing by the fragment's addresses before reassembly, as the reader's
 * choice after it would; it counts only what it keeps. A tunnelled packet is
 * chosen by its tunnel's (outermost) address pair, which every fragment of
 * it shows: so the reader and the pipelines agree, as the kernel's fanout
 * does live, and a tunnel's flows all meet in one worker.
 *
 * Time: a front's clock is the largest packet time seen. Each time it
 * advances by DLP_TICK_US, a tick goes to the workers it feeds (the reader:
 * in band to every worker, at the same position of the input for any number
 * of workers). Live, an idle capture moves the clock to the wall clock, so
 * flows on a quiet link still time out.
 *
 * Threading: dlp_dispatch_run() runs in the calling thread (main): the
 * reader itself, or the wait for the pipelines; workers and pipelines run in
 * their own threads; the getters are read by the output thread and touch
 * only atomics and rings.
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

#define IP_DGRAM_MAX (40u + 65535u) /* the largest datagram dlp_defrag rebuilds (IPv6) */

/* Frame -> packet, for one thread. */
typedef struct front {
    dlp_stats_t *st; /* the thread's counters */
    dlp_defrag_t *defrag;
    const dlp_cidr_set_t *home; /* --home-net: which way a tunnel's carrying packets go */
    uint64_t seed;              /* worker_of()'s */
    uint8_t *scratch; /* IP_DGRAM_MAX: a rebuilt tunnel datagram holding a fragment */
    _Atomic uint64_t now_us; /* the clock; read by the output thread */
    uint64_t last_tick_us;
} front_t;

typedef struct wslot {
    _Alignas(DLP_CACHELINE) dlp_worker_t *w; /* slots apart: each front has its own writer */
    dlp_dispatch_t *d;
    unsigned i;
    pthread_t thread;
    bool started;
    dlp_ring_t *events; /* worker -> output */
    /* reader + workers */
    dlp_ring_t *full;  /* reader -> worker */
    dlp_ring_t *empty; /* worker -> reader */
    dlp_batch_t *cur;  /* batch being filled, or NULL */
    dlp_batch_t **all; /* every batch of this worker, for freeing */
    /* pipeline */
    dlp_capture_t *cap;
    front_t front;
    uint64_t last_poll_us; /* capture counters, by the front's clock */
    unsigned poll_seen;    /* the last d->poll_req answered */
    atomic_uint poll_ack;  /* ... published for dlp_dispatch_poll_capture() */
    atomic_bool ended;     /* the pipeline read its counters for the last time */
    unsigned since_sync;   /* packets since the last rule-generation check */
    bool failed;           /* the capture failed */
} wslot_t;

struct dlp_dispatch {
    dlp_dispatch_params_t p;
    dlp_stats_t stats; /* the reader's counters */
    front_t front;     /* the reader's */
    wslot_t *ws;
    unsigned n;
    bool pipes;    /* pipelines, not reader + workers */
    uint64_t seed; /* per run: worker choice and flow-table buckets */
    atomic_uint poll_req; /* a stats snapshot asks the pipelines for their counters */
};

/* --- front end ------------------------------------------------------------ */

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
    [DLP_DEC_ERR_ICMP] = DLP_STAT_DEC_ERR_ICMP,
    [DLP_DEC_ERR_GRE] = DLP_STAT_DEC_ERR_GRE,
    [DLP_DEC_ERR_ENCAP_DEPTH] = DLP_STAT_DEC_ERR_ENCAP_DEPTH,
};

static void count_decoded(front_t *f, const dlp_packet_t *p)
{
    dlp_stat_inc(f->st, p->ipver == 4 ? DLP_STAT_DEC_IPV4 : DLP_STAT_DEC_IPV6);
    dlp_stat_inc(f->st, p->proto == DLP_PROTO_TCP   ? DLP_STAT_DEC_TCP
                        : p->proto == DLP_PROTO_UDP ? DLP_STAT_DEC_UDP
                                                    : DLP_STAT_DEC_ICMP);
    if (p->vlan_count > 0)
        dlp_stat_inc(f->st, DLP_STAT_DEC_VLAN);
}

/* The tunnels a decoded frame or rebuilt datagram crossed, whatever came of it. */
static void count_encap(front_t *f, const dlp_packet_t *p)
{
    if (DLP_LIKELY(p->encap == 0))
        return;
    if (p->encap & DLP_ENCAP_GRE)
        dlp_stat_inc(f->st, DLP_STAT_DEC_TUN_GRE);
    if (p->encap & DLP_ENCAP_IPIP)
        dlp_stat_inc(f->st, DLP_STAT_DEC_TUN_IPIP);
    if (p->encap & DLP_ENCAP_IP6)
        dlp_stat_inc(f->st, DLP_STAT_DEC_TUN_IP6);
    if (p->encap & DLP_ENCAP_ETH)
        dlp_stat_inc(f->st, DLP_STAT_DEC_TUN_ETH);
}

/*
 * DLP_TUN_* of the tunnels a decoded packet crossed: an inner packet goes
 * wherever its carrying packets go, whatever its own (the sender's to choose)
 * addresses say (worker.c set_egress).
 */
/* The addresses of the IP header carrying tunnel i (< encap_depth) of p. */
static void carrier_addrs(const dlp_packet_t *p, unsigned i, uint8_t a[16], uint8_t b[16])
{
    const uint8_t *h = p->data + p->encap_l3[i]; /* a whole IP header: decode.c */

    if ((h[0] >> 4) == 4) {
        memset(a, 0, 10);
        memset(b, 0, 10);
        a[10] = a[11] = b[10] = b[11] = 0xff;
        memcpy(a + 12, h + 12, 4);
        memcpy(b + 12, h + 16, 4);
    } else {
        memcpy(a, h + 8, 16);
        memcpy(b, h + 24, 16);
    }
}

/* The dispatch hash of an address pair, in either order (worker_of). */
static uint64_t pair_hash(uint64_t seed, const uint8_t *a, const uint8_t *b)
{
    uint8_t pair[32];

    if (memcmp(a, b, 16) > 0) {
        const uint8_t *t = a;
        a = b;
        b = t;
    }
    memcpy(pair, a, 16);
    memcpy(pair + 16, b, 16);
    return dlp_hash_bytes(pair, sizeof(pair), seed);
}

/* The pair a packet is dispatched by: its outermost IP header's. */
static uint64_t dispatch_hash(uint64_t seed, const dlp_packet_t *p)
{
    uint8_t a[16], b[16];

    if (DLP_LIKELY(p->encap_depth == 0))
        return pair_hash(seed, p->src, p->dst);
    carrier_addrs(p, 0, a, b);
    return pair_hash(seed, a, b);
}

static uint8_t tun_dir(const front_t *f, const dlp_packet_t *p)
{
    uint8_t t = 0;

    for (unsigned i = 0; i < p->encap_depth && i < DLP_ENCAP_DEPTH_MAX; i++) {
        uint8_t a[16], b[16];
        carrier_addrs(p, i, a, b);
        bool from_home = dlp_cidr_set_contains(f->home, a);
        bool to_home = dlp_cidr_set_contains(f->home, b);
        if (from_home && !to_home)
            t |= DLP_TUN_OUT;
        else if (to_home && !from_home)
            t |= DLP_TUN_IN;
    }
    return t;
}

/* Returns true if the (possibly rebuilt) packet should go to a worker. */
static bool classify_result(front_t *f, dlp_decode_result_t r, const dlp_packet_t *p)
{
    count_encap(f, p);
    switch (r) {
    case DLP_DEC_OK:
        count_decoded(f, p);
        return true;
    case DLP_DEC_NOT_IP:
        dlp_stat_inc(f->st, DLP_STAT_DEC_NOT_IP);
        return false;
    case DLP_DEC_OTHER_L4:
        dlp_stat_inc(f->st, DLP_STAT_DEC_OTHER_L4);
        return false;
    case DLP_DEC_FRAGMENT:
        return false;
    default:
        dlp_stat_inc(f->st, DLP_STAT_DECODE_ERRORS);
        if (r >= DLP_DEC_ERR_FIRST && r < DLP_DEC__COUNT)
            dlp_stat_inc(f->st, decode_err_stat[r]);
        return false;
    }
}

/*
 * A fragment: true with the whole datagram in *out once it is complete. A
 * rebuilt tunnel datagram may hold a fragment of its inner datagram: that one
 * is copied out of the defragmenter's buffer (which its own add reuses) and
 * added in turn, at most once per tunnel level.
 */
static bool front_fragment(front_t *f, const dlp_packet_t *frag, dlp_packet_t *out)
{
    const uint8_t *dgram = NULL;
    uint32_t len = 0;
    dlp_decode_result_t r;
    dlp_packet_t inner;
    uint8_t tun = frag->encap_depth != 0 && f->home != NULL ? tun_dir(f, frag) : 0;
    /* an inner fragment: the rebuilt inner datagram no longer shows its tunnel */
    uint64_t disp = frag->encap_depth != 0 ? dispatch_hash(f->seed, frag) : 0;

    for (int level = 0;; level++) {
        if (dlp_defrag_add(f->defrag, frag, &dgram, &len) != DLP_OK)
            return false; /* held, or rejected and counted by defrag */
        r = dlp_decode_ip(out, dgram, len, frag->ts_us, frag);
        if (out->encap_depth != 0 && f->home != NULL)
            tun |= tun_dir(f, out); /* the rebuilt datagram's own tunnels */
        out->tun_dir = tun; /* and those that carried the fragment that completed it */
        out->disp_hash = disp;
        if (DLP_LIKELY(r != DLP_DEC_FRAGMENT) || level == DLP_ENCAP_DEPTH_MAX)
            break;
        count_encap(f, out);
        if (f->scratch == NULL && (f->scratch = malloc(IP_DGRAM_MAX)) == NULL)
            return false; /* out of memory: dropped like a datagram over the memcap */
        memcpy(f->scratch, dgram, len);
        inner = *out; /* its view is offsets into data (packet.h): no second decode */
        inner.data = f->scratch;
        frag = &inner;
    }
    return classify_result(f, r, out);
}

/* front_frame() for a frame already decoded into *p with result r. */
static bool front_decoded(front_t *f, dlp_decode_result_t r, const dlp_packet_t *p,
                          dlp_packet_t *out)
{
    if (r == DLP_DEC_FRAGMENT) {
        count_encap(f, p); /* an inner fragment's tunnel */
        return front_fragment(f, p, out);
    }
    if (!classify_result(f, r, p))
        return false;
    *out = *p;
    if (DLP_UNLIKELY(p->encap_depth != 0) && f->home != NULL)
        out->tun_dir = tun_dir(f, p);
    return true;
}

/*
 * Decodes a frame (counted) into *out; true when it is a packet for a
 * worker. *out borrows the frame, or the defragmenter's datagram, until the
 * next call.
 */
static bool front_frame(front_t *f, const dlp_frame_t *fr, dlp_packet_t *out)
{
    dlp_packet_t p;
    dlp_decode_result_t r;

    r = dlp_decode(&p, fr->linktype, fr->data, fr->caplen, fr->wirelen, fr->ts_us);
    return front_decoded(f, r, &p, out);
}

/* Moves the clock to 'ts' if later; true when a tick is due (the caller sends it). */
static bool front_clock(front_t *f, uint64_t ts)
{
    uint64_t now = atomic_load_explicit(&f->now_us, memory_order_relaxed);

    if (ts <= now)
        return false;
    atomic_store_explicit(&f->now_us, ts, memory_order_relaxed);
    if (f->last_tick_us == 0)
        f->last_tick_us = ts;
    return ts - f->last_tick_us >= DLP_TICK_US;
}

static uint64_t front_now(const front_t *f)
{
    return atomic_load_explicit(&((front_t *)f)->now_us, memory_order_relaxed);
}

static void front_count(front_t *f, const dlp_frame_t *fr)
{
    dlp_stat_inc(f->st, DLP_STAT_PACKETS);
    dlp_stat_add(f->st, DLP_STAT_BYTES, fr->wirelen);
}

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
static dlp_batch_t *take_empty(wslot_t *ws, bool wait)
{
    dlp_batch_t *b;
    dlp_backoff_t bo;

    dlp_backoff_init(&bo, 200);
    while (!dlp_ring_pop(ws->empty, &b)) {
        if (!wait)
            return NULL;
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
    ws->cur = take_empty(ws, d->p.file_mode && !atomic_load(d->p.stop));
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
    dlp_defrag_expire(d->front.defrag, ts);
    for (unsigned i = 0; i < d->n; i++)
        put_ctl(d, &d->ws[i], REC_TICK, ts);
    d->front.last_tick_us = ts;
}

static void advance_clock(dlp_dispatch_t *d, uint64_t ts)
{
    if (front_clock(&d->front, ts))
        tick_all(d, ts);
}

/* --- the reader ------------------------------------------------------------ */

/*
 * The worker of a packet: by its pair of addresses, in either order, so
 * that every connection between two hosts - an FTP control connection and
 * its data connections among them - meets in one worker, and the
 * association of the two never depends on timing between threads (Zeek's
 * clusters balance on the address pair for the same reason). Seeded per
 * run: the spread cannot be aimed at. A tunnelled packet goes by its
 * tunnel's pair (dispatch_hash), which its outer fragments show too.
 */
static uint32_t worker_of(const dlp_dispatch_t *d, const dlp_packet_t *p)
{
    uint64_t h;

    if (d->n == 1)
        return 0;
    h = DLP_UNLIKELY(p->disp_hash != 0) ? p->disp_hash : dispatch_hash(d->seed, p);
    return (uint32_t)(((h >> 32) * d->n) >> 32);
}

static void send_packet(dlp_dispatch_t *d, const dlp_packet_t *p)
{
    wslot_t *ws = &d->ws[worker_of(d, p)];
    uint32_t need = rec_align((uint32_t)sizeof(rec_pkt_t) + p->caplen);
    dlp_flow_key_t key;
    uint32_t key_hash;
    int src_ep;
    rec_pkt_t *r;

    if (need > DLP_BATCH_BYTES) {
        /* Cannot happen for libpcap frames (<= 256 KiB); count, don't crash. */
        dlp_stat_inc(&d->stats, DLP_STAT_DECODE_ERRORS);
        return;
    }
    if (!reserve(d, ws, need)) {
        dlp_stat_inc(&d->stats, DLP_STAT_CAP_RING_DROPS); /* "dropped" sums it (stats.h) */
        return;
    }
    /* The key is made and hashed on the stack: the record's lines were last
     * held by the worker's core, and loading back what was just stored there
     * waited for them (8% of the reader's time). */
    src_ep = dlp_flow_key_make(p, d->p.cfg->vlan_in_key, &key);
    key_hash = dlp_flow_key_hash(&key, d->seed);
    r = (rec_pkt_t *)(ws->cur->buf + ws->cur->used);
    r->h.kind = REC_PKT;
    r->h.size = need;
    r->h.ts_us = p->ts_us;
    r->pkt = *p;
    r->src_ep = src_ep;
    r->key = key;
    r->key_hash = key_hash;
    memcpy(r->frame, p->data, p->caplen);
    ws->cur->used += need;
    ws->cur->npkts++;
}

static void handle_frame(dlp_dispatch_t *d, const dlp_frame_t *fr)
{
    dlp_packet_t p;

    front_count(&d->front, fr);
    advance_clock(d, fr->ts_us);
    if (front_frame(&d->front, fr, &p)) {
        p.clock_us = front_now(&d->front);
        send_packet(d, &p);
    }
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
    /* No packets: the wall clock keeps flows timing out. */
    advance_clock(d, dlp_time_now_us());
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
            ws->cur = take_empty(ws, true);
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

static dlp_rc_t reader_run(dlp_dispatch_t *d)
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

/* --- pipelines ------------------------------------------------------------- */

/*
 * Every DLP_TICK_US of the pipeline's clock: fragments and flows time out, and
 * a new rule generation is taken up; every DLP_PIPE_STATS_US: capture counters.
 */
static void pipe_clock(wslot_t *ws, uint64_t ts)
{
    uint64_t now;

    if (front_clock(&ws->front, ts)) {
        dlp_defrag_expire(ws->front.defrag, ts);
        dlp_worker_tick(ws->w, ts);
        dlp_worker_sync(ws->w); /* a slow link may take long to reach SYNC_PACKETS */
        ws->front.last_tick_us = ts;
    }
    now = front_now(&ws->front);
    /* a relaxed load of a line written once per stats event: the snapshot's
     * request is answered at the next frame, or within the capture timeout */
    unsigned req = atomic_load_explicit(&ws->d->poll_req, memory_order_relaxed);
    if (now - ws->last_poll_us >= DLP_PIPE_STATS_US || req != ws->poll_seen) {
        dlp_capture_poll_stats(ws->cap);
        ws->last_poll_us = now;
        ws->poll_seen = req;
        atomic_store_explicit(&ws->poll_ack, req, memory_order_release);
    }
}

void dlp_dispatch_poll_capture(dlp_dispatch_t *d, unsigned timeout_ms)
{
    uint64_t deadline = dlp_time_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    unsigned req;

    if (!d->pipes || d->p.file_mode)
        return; /* files: counted as read; and a pipeline may be waiting for the output thread */
    req = atomic_fetch_add_explicit(&d->poll_req, 1, memory_order_relaxed) + 1;
    for (unsigned i = 0; i < d->n && dlp_time_mono_ns() < deadline; i++) {
        wslot_t *ws = &d->ws[i];
        while (ws->started && !atomic_load_explicit(&ws->ended, memory_order_acquire) &&
               atomic_load_explicit(&ws->poll_ack, memory_order_acquire) != req &&
               dlp_time_mono_ns() < deadline) {
            struct timespec t = {0, 200000};
            nanosleep(&t, NULL);
        }
    }
}

static void pipe_frame(wslot_t *ws, const dlp_frame_t *fr)
{
    const dlp_config_t *cfg = ws->d->p.cfg;
    dlp_packet_t raw, p;
    dlp_decode_result_t dr;
    rec_pkt_t r; /* the header only: r.pkt.data stays on the capture's frame */

    pipe_clock(ws, fr->ts_us); /* every frame: the same clock in every pipeline */
    dr = dlp_decode(&raw, fr->linktype, fr->data, fr->caplen, fr->wirelen, fr->ts_us);
    if (ws->d->p.file_mode && (raw.ipver != 0 ? worker_of(ws->d, &raw) : 0) != ws->i)
        goto out;
    front_count(&ws->front, fr);
    if (front_decoded(&ws->front, dr, &raw, &p)) {
        p.clock_us = front_now(&ws->front);
        r.h = (rec_hdr_t){.kind = REC_PKT, .size = (uint32_t)sizeof(r), .ts_us = p.ts_us};
        r.pkt = p;
        r.src_ep = dlp_flow_key_make(&p, cfg->vlan_in_key, &r.key);
        r.key_hash = dlp_flow_key_hash(&r.key, ws->d->seed);
        dlp_worker_packet(ws->w, &r);
    }
out:
    if (++ws->since_sync >= DLP_PIPE_SYNC_PACKETS) {
        ws->since_sync = 0;
        dlp_worker_sync(ws->w);
    }
}

/* A capture failed: stop the other pipelines too (the run ends in error). */
static void pipes_break(dlp_dispatch_t *d)
{
    for (unsigned i = 0; i < d->n; i++)
        dlp_capture_break(d->ws[i].cap);
}

/* Stopped (SIGINT/SIGTERM): the frames the kernel had already handed to this
 * handle are processed too, so that the final stats add up (received =
 * packets + dropped). Bounded: a flood still arriving cannot hold the stop. */
static void pipe_held(wslot_t *ws)
{
    dlp_frame_t fr;

    for (unsigned n = 0; n < DLP_CAPTURE_HELD_MAX; n++) {
        if (dlp_capture_next_held(ws->cap, &fr) != DLP_OK)
            return;
        pipe_frame(ws, &fr);
    }
}

static void *pipe_main(void *arg)
{
    wslot_t *ws = arg;
    dlp_dispatch_t *d = ws->d;

    while (!atomic_load_explicit(d->p.stop, memory_order_relaxed)) {
        dlp_frame_t fr;
        dlp_rc_t rc = dlp_capture_next(ws->cap, &fr);
        if (rc == DLP_OK) {
            pipe_frame(ws, &fr);
        } else if (rc == DLP_AGAIN) {
            pipe_clock(ws, dlp_time_now_us());
            dlp_worker_sync(ws->w);
        } else {
            if (rc != DLP_DONE) {
                ws->failed = true;
                pipes_break(d);
            }
            break;
        }
    }
    if (atomic_load_explicit(d->p.stop, memory_order_relaxed))
        pipe_held(ws);
    dlp_capture_poll_stats(ws->cap);
    atomic_store_explicit(&ws->ended, true, memory_order_release);
    dlp_worker_end(ws->w);
    return NULL;
}

static dlp_rc_t pipes_run(dlp_dispatch_t *d)
{
    dlp_rc_t ret = DLP_OK;

    for (unsigned i = 0; i < d->n; i++) {
        wslot_t *ws = &d->ws[i];
        if (ws->started)
            pthread_join(ws->thread, NULL);
        ws->started = false;
        if (ws->failed)
            ret = DLP_EIO;
    }
    return ret;
}

dlp_rc_t dlp_dispatch_run(dlp_dispatch_t *d)
{
    return d->pipes ? pipes_run(d) : reader_run(d);
}

/* --- set-up -------------------------------------------------------------- */

static dlp_rc_t batches_init(wslot_t *ws)
{
    ws->full = dlp_ring_new(sizeof(dlp_batch_t *), DLP_BATCHES_PER_WORKER);
    ws->empty = dlp_ring_new(sizeof(dlp_batch_t *), DLP_BATCHES_PER_WORKER);
    ws->all = calloc(DLP_BATCHES_PER_WORKER, sizeof(*ws->all));
    if (!ws->full || !ws->empty || !ws->all)
        return DLP_ENOMEM;
    for (unsigned b = 0; b < DLP_BATCHES_PER_WORKER; b++) {
        /* Not zeroed: only the header is read before records are written, and
         * clearing the batches was most of the start-up of a short run. */
        ws->all[b] = aligned_alloc(DLP_CACHELINE, (sizeof(dlp_batch_t) + DLP_CACHELINE - 1) &
                                                      ~(size_t)(DLP_CACHELINE - 1));
        if (ws->all[b] == NULL)
            return DLP_ENOMEM;
        ws->all[b]->used = ws->all[b]->npkts = 0;
        ws->all[b]->born_ns = 0;
        (void)dlp_ring_push(ws->empty, &ws->all[b]);
    }
    return DLP_OK;
}

/* The defragmenter of a front; pipelines share the memcap. */
static dlp_defrag_t *defrag_for(const dlp_dispatch_t *d, dlp_stats_t *st)
{
    dlp_defrag_config_t dc;

    dlp_defrag_config_default(&dc);
    dc.memcap = d->p.cfg->defrag_memcap / (d->pipes ? d->n : 1);
    dc.timeout_us = d->p.cfg->defrag_timeout_us;
    return dlp_defrag_new(&dc, st);
}

static dlp_rc_t slot_init(dlp_dispatch_t *d, unsigned i)
{
    wslot_t *ws = &d->ws[i];
    dlp_worker_params_t wp;

    ws->d = d;
    ws->i = i;
    ws->events = dlp_ring_new(sizeof(dlp_event_t), d->p.cfg->event_ring_slots);
    if (ws->events == NULL || (!d->pipes && batches_init(ws) != DLP_OK))
        return DLP_ENOMEM;
    wp = (dlp_worker_params_t){
        .index = i,
        .nworkers = d->n,
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
    if (ws->w == NULL)
        return DLP_ENOMEM;
    if (d->pipes) {
        ws->cap = d->p.caps[i];
        ws->front.st = dlp_worker_stats(ws->w); /* the same thread writes both */
        ws->front.home = d->p.cfg != NULL ? &d->p.cfg->home_net : NULL;
        ws->front.seed = d->seed;
        ws->front.defrag = defrag_for(d, ws->front.st);
        if (ws->front.defrag == NULL)
            return DLP_ENOMEM;
    }
    return DLP_OK;
}

dlp_dispatch_t *dlp_dispatch_new(const dlp_dispatch_params_t *p)
{
    dlp_dispatch_t *d = dlp_calloc_aligned(sizeof(*d));

    if (d == NULL)
        goto fail;
    d->p = *p;
    d->pipes = p->ncaps > 0;
    d->n = d->pipes ? p->ncaps : p->workers ? p->workers : 1;
    if (getrandom(&d->seed, sizeof(d->seed), GRND_NONBLOCK) != sizeof(d->seed))
        d->seed = dlp_hash_mix64(dlp_time_now_us() ^ (uint64_t)(uintptr_t)d);
    d->seed |= 1; /* 0 asks the flow table for its own */
    dlp_stats_init(&d->stats);
    d->front.st = &d->stats;
    d->front.home = p->cfg != NULL ? &p->cfg->home_net : NULL;
    d->front.seed = d->seed;
    if (!d->pipes && (d->front.defrag = defrag_for(d, &d->stats)) == NULL)
        goto fail;
    d->ws = dlp_calloc_aligned((size_t)d->n * sizeof(*d->ws));
    if (d->ws == NULL)
        goto fail;
    for (unsigned i = 0; i < d->n; i++)
        if (slot_init(d, i) != DLP_OK)
            goto fail;
    return d;
fail:
    dlp_log(DLP_LOG_ERR, "out of memory setting up %u workers", d != NULL ? d->n : p->workers);
    dlp_dispatch_free(d);
    return NULL;
}

dlp_rc_t dlp_dispatch_start(dlp_dispatch_t *d)
{
    for (unsigned i = 0; i < d->n; i++) {
        wslot_t *ws = &d->ws[i];
        char name[32];
        if (pthread_create(&ws->thread, NULL, d->pipes ? pipe_main : dlp_worker_main,
                           d->pipes ? (void *)ws : (void *)ws->w) != 0) {
            dlp_log(DLP_LOG_ERR, "cannot start %s thread %u", d->pipes ? "capture" : "worker",
                    i);
            if (d->pipes) {
                pipes_break(d);
                (void)pipes_run(d);
            } else {
                end_workers(d);
            }
            return DLP_EIO;
        }
        snprintf(name, sizeof(name), d->pipes ? "dlp-capture%u" : "dlp-worker%u", i);
        name[15] = '\0'; /* the kernel's limit */
        pthread_setname_np(ws->thread, name);
        ws->started = true;
    }
    return DLP_OK;
}

void dlp_dispatch_free(dlp_dispatch_t *d)
{
    if (d == NULL)
        return;
    for (unsigned i = 0; d->ws != NULL && i < d->n; i++) {
        wslot_t *ws = &d->ws[i];
        /* A pipeline's defragmenter counts into its worker's stats, down to the
         * datagrams it still holds: it goes first. */
        dlp_defrag_free(ws->front.defrag);
        free(ws->front.scratch);
        dlp_worker_free(ws->w);
        for (unsigned b = 0; ws->all != NULL && b < DLP_BATCHES_PER_WORKER; b++)
            free(ws->all[b]);
        free(ws->all);
        dlp_ring_free(ws->full);
        dlp_ring_free(ws->empty);
        dlp_ring_free(ws->events);
    }
    free(d->ws);
    dlp_defrag_free(d->front.defrag);
    free(d->front.scratch);
    free(d);
}

unsigned dlp_dispatch_nstats(const dlp_dispatch_t *d) { return d->n + 1; }

const dlp_stats_t *dlp_dispatch_stats(const dlp_dispatch_t *d, unsigned i)
{
    return i == 0 ? &d->stats : dlp_worker_stats(d->ws[i - 1].w);
}

unsigned dlp_dispatch_nrings(const dlp_dispatch_t *d) { return d->n; }
dlp_ring_t *dlp_dispatch_ring(const dlp_dispatch_t *d, unsigned i) { return d->ws[i].events; }

void dlp_dispatch_slot_stats(const dlp_dispatch_t *d, uint64_t *out, const uint32_t *slots,
                             size_t n)
{
    for (unsigned i = 0; i < d->n; i++) {
        const _Atomic uint64_t *c = dlp_worker_rule_stats(d->ws[i].w);
        for (size_t r = 0; r < n; r++)
            for (size_t k = 0; k < DLP_RSTAT__COUNT; k++)
                out[r * DLP_RSTAT__COUNT + k] += atomic_load_explicit(
                    &c[(size_t)slots[r] * DLP_RSTAT__COUNT + k], memory_order_relaxed);
    }
}

void dlp_dispatch_rule_stats(const dlp_dispatch_t *d, uint64_t *out, const dlp_engine_t *e)
{
    dlp_dispatch_slot_stats(d, out, e->slots, e->rules->n);
}

uint64_t dlp_dispatch_packet_time(const dlp_dispatch_t *d)
{
    return front_now(d->pipes ? &d->ws[0].front : &d->front);
}

bool dlp_dispatch_done(const dlp_dispatch_t *d)
{
    for (unsigned i = 0; i < d->n; i++)
        if (!dlp_worker_finished(d->ws[i].w))
            return false;
    return true;
}
