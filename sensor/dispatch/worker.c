/*
 * worker.c - one worker thread: runs each packet of its flows to completion.
 *
 * Design: the worker owns its flow table, its TCP reassembly context and
 * every flow's state (struct wflow, hung on dlp_flow_t.user); nothing here
 * is shared, so nothing is locked. Packets arrive in batches from the reader
 * (batch.h) together with in-band clock ticks, which drive the flow
 * timeouts in packet time; or, live, one by one from the pipeline thread
 * that reads this worker's capture handle and calls the same entry points
 * (dlp_worker_packet, _tick, _sync, _end) itself. Reassembled streams come
 * back through the reasm sink below and go to the flow's application layer (flowapp.c:
 * classification, decoders, detection), which inspects the directions that
 * leave the home network. Events leave through the worker's own ring to the
 * output thread (alert.h); the worker never does I/O.
 *
 * Threading: dlp_worker_main() or a pipeline thread is the worker's thread,
 * the only caller of the entry points; new/free are called before start and
 * after join; stats and finished are read from any thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "dispatch_int.h"
#include "dlp/alert.h"
#include "dlp/cidr.h"
#include "dlp/classify.h"
#include "dlp/detect.h"
#include "dlp/evidence.h"
#include "dlp/flow.h"
#include "dlp/hash.h"
#include "dlp/limits.h"
#include "flowapp.h"
#include "dlp/log.h"
#include "dlp/mem.h"
#include "dlp/reasm.h"

/* Per flow, per direction: what the flow event reports about inspection. */
typedef struct wdir {
    uint64_t stream_bytes;    /* reassembled or datagram bytes */
    uint64_t gap_bytes;
    uint32_t gaps;
    uint32_t overlap_diff;
    uint8_t egress;
    uint8_t midstream;
} wdir_t;

/* ICMP echo requests remembered per flow, to know their replies (ping sends
 * one a second and waits; a burst of this many can be in flight). */
#define ECHO_REMEMBERED 4

/*
 * Packets held for an application layer that starts later (app_start): a
 * TCP flow's application layer (nDPI's flow, the decoders' and detection's
 * state: ~2 KB) starts at its first packet with payload, a FIN or an RST,
 * not at its SYN, so a flood of half-open flows costs the flow memcap a
 * third of what it did. The packets before it (the SYN, its answer, the
 * handshake's ACK, retransmitted SYNs) are copied, at most this many and
 * this long, and given to it first when it starts: nDPI sees every packet,
 * in order, as before. Whatever does not fit starts it at once.
 */
#define HELD_PKTS_MAX 4
#define HELD_CAPLEN_MAX 256

typedef struct held {
    struct held *next;
    dlp_packet_t pkt; /* its data is frame[] */
    uint8_t frame[];
} held_t;

/* The worker's state of one flow. */
typedef struct wflow {
    dlp_worker_t *w;
    dlp_flow_t *f;
    dlp_tcp_session_t *tcp;
    fapp_t *app;                    /* classification, decoders, detection */
    dlp_evidence_flow_t *evf;       /* evidence captures, or NULL */
    held_t *held;                   /* packets the application layer has not seen yet */
    uint8_t gen;                    /* index in w->gens of the rules it runs */
    uint8_t nheld;
    bool app_later;                 /* the application layer has not started yet */
    wdir_t dir[2];
    uint64_t charged; /* bytes charged to the flow table for this state */
    uint64_t echo_req[ECHO_REMEMBERED]; /* ICMP: echo_hash() of the last requests */
    uint8_t echo_next;                  /* ... the slot the next one takes */
} wflow_t;

/*
 * A rule generation this worker runs: the engine, the detection made from
 * it, and how many flows still use it. Flows keep the generation they
 * started under; an old one is let go when its last flow ends.
 */
#define WORKER_GENS 4

typedef struct wgen {
    dlp_engine_t *e;   /* NULL: free slot */
    dlp_detect_t *d;
    size_t nflows;
} wgen_t;

struct dlp_worker {
    dlp_worker_params_t p;
    dlp_stats_t stats;
    dlp_flow_table_t *flows;
    dlp_reasm_t *reasm;
    wgen_t gens[WORKER_GENS];
    unsigned cur;                  /* the generation new flows get */
    uint64_t gen_retry_us;         /* a new generation failed: not again before (packet time) */
    dlp_ratelimit_t gen_rl;        /* "new rules wait" */
    _Atomic uint64_t *rstats;      /* [DLP_RULE_SLOTS_MAX][dlp_rstat_t] */
    dlp_agg_t *agg;                /* aggregate: counts, over every rule generation */
    dlp_classify_t *classify;
    fapp_env_t env;  /* what the flows' application layers share */
    dlp_evidence_worker_t *evw; /* evidence captures, or NULL */
    uint64_t now_us; /* packet time of what is being processed */
    atomic_int finished;
};

static fapp_t *app_of(wflow_t *wf);
static void sink_data(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n);
static void sink_gap(void *ctx, int dir, uint64_t off, uint64_t len);
static void sink_conflict(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n);
static void sink_end(void *ctx, int dir);
static void sink_fin(void *ctx, int dir);
static void sink_urgent(void *ctx, int dir, uint64_t off, uint8_t b);
static void sink_closing(void *ctx);

static const dlp_reasm_sink_t stream_sink = {
    .data = sink_data,
    .gap = sink_gap,
    .conflict = sink_conflict,
    .end = sink_end,
    .fin = sink_fin,
    .urgent = sink_urgent,
    .closing = sink_closing,
};

/* --- the reassembled streams ------------------------------------------- */

static void sink_data(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    wflow_t *wf = ctx;

    (void)off;
    wf->dir[dir].stream_bytes += n;
    if (app_of(wf) != NULL)
        fapp_data(wf->app, dir, p, n);
}

static void sink_gap(void *ctx, int dir, uint64_t off, uint64_t len)
{
    wflow_t *wf = ctx;

    (void)off;
    wf->dir[dir].gaps++;
    wf->dir[dir].gap_bytes += len;
    if (app_of(wf) != NULL)
        fapp_gap(wf->app, dir, len);
}

static void sink_conflict(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    wflow_t *wf = ctx;

    wf->dir[dir].overlap_diff++;
    if (app_of(wf) != NULL)
        fapp_conflict(wf->app, dir, off, p, n);
}

static void sink_urgent(void *ctx, int dir, uint64_t off, uint8_t b)
{
    wflow_t *wf = ctx;

    wf->dir[dir].stream_bytes++;
    if (app_of(wf) != NULL)
        fapp_urgent(wf->app, dir, off, b);
}

static bool stream_retained(void *ctx, int dir, uint64_t from, uint64_t to, uint8_t *out)
{
    const wflow_t *wf = ctx;

    return wf->tcp != NULL && dlp_reasm_retained(wf->tcp, dir, from, to, out);
}

static void sink_fin(void *ctx, int dir)
{
    wflow_t *wf = ctx;

    if (app_of(wf) != NULL)
        fapp_fin(wf->app, dir);
}

/* Both FINs: no more data comes, so nDPI's last word labels what the ACK of
 * the last FIN flushes from behind a gap, as it labels what the flow's end
 * flushes (on_flow_end). */
static void sink_closing(void *ctx)
{
    wflow_t *wf = ctx;

    if (app_of(wf) != NULL)
        fapp_last_label(wf->app);
}

static void sink_end(void *ctx, int dir)
{
    wflow_t *wf = ctx;

    if (app_of(wf) != NULL)
        fapp_end(wf->app, dir);
}

/* --- rule generations ------------------------------------------------------ */

static dlp_detect_t *detect_for(dlp_worker_t *w, const dlp_engine_t *e)
{
    return dlp_detect_new(&(dlp_detect_params_t){
        .rules = e->rules,
        .matcher = e->matcher,
        .hmac_key = w->p.hmac_key,
        .hmac_key_len = w->p.hmac_key_len,
        .events = w->p.events,
        .wait = w->p.file_mode,
        .stop = w->p.stop,
        .stats = &w->stats,
        .rstats = w->rstats,
        .slots = e->slots,
        .agg = &w->agg,
    });
}

static void gen_drop(wgen_t *g)
{
    dlp_detect_free(g->d);
    dlp_engine_unref(g->e);
    memset(g, 0, sizeof(*g));
}

static void gen_release(dlp_worker_t *w, unsigned i)
{
    wgen_t *g = &w->gens[i];

    if (--g->nflows == 0 && i != w->cur)
        gen_drop(g);
}

/*
 * A reload published new rules: new flows get them from now on. Waits (the
 * next batch retries) while every slot is held by flows of older rules, and
 * says so; after a failure to set them up, tries again a tick later.
 */
static void gen_switch(dlp_worker_t *w)
{
    unsigned i = 0;
    wgen_t *g;

    if (w->now_us < w->gen_retry_us)
        return;
    while (i < WORKER_GENS && w->gens[i].e != NULL)
        i++;
    if (i == WORKER_GENS) {
        dlp_log_limited(&w->gen_rl, DLP_LOG_WARN,
                        "worker %u: new rules wait: %d older rule sets still have open flows",
                        w->p.index, WORKER_GENS);
        return;
    }
    g = &w->gens[i];
    g->e = dlp_engine_current_get(w->p.engines);
    g->d = detect_for(w, g->e);
    if (g->d == NULL) {
        /* Scratch for the new rules could not be had: keep the old ones. */
        w->gen_retry_us = w->now_us + DLP_TICK_US;
        gen_drop(g);
        dlp_stat_inc(&w->stats, DLP_STAT_DETECT_ALLOC_FAIL);
        return;
    }
    if (w->gens[w->cur].nflows == 0)
        gen_drop(&w->gens[w->cur]);
    w->cur = i;
    w->env.detect = g->d;
}

/* --- flows ----------------------------------------------------------------- */

/*
 * Which directions leave the home network (INTERFACE.md: egress whichever
 * side opened the connection), widened by configuration. A flow first seen
 * in a tunnel also leaves it the way the tunnel does (the packet's tun_dir):
 * the inner addresses are the sender's to write, and a tunnel from inside to
 * outside delivers its inner packets outside whatever they say.
 */
static void set_egress(const dlp_config_t *cfg, const dlp_flow_t *f, wflow_t *wf,
                       const dlp_packet_t *p, int pdir)
{
    for (int d = 0; d < 2; d++) {
        bool from_home = dlp_cidr_set_contains(&cfg->home_net, dlp_flow_addr(f, d));
        bool to_home = dlp_cidr_set_contains(&cfg->home_net, dlp_flow_addr(f, !d));
        wf->dir[d].egress = (from_home && !to_home) || (cfg->scan_internal && from_home) ||
                            (cfg->scan_inbound && !from_home);
    }
    if (DLP_UNLIKELY(p->tun_dir != 0)) {
        if (p->tun_dir & DLP_TUN_OUT)
            wf->dir[pdir].egress = true;
        if (p->tun_dir & DLP_TUN_IN) /* the answers go back out through the tunnel */
            wf->dir[!pdir].egress = true;
    }
}

/* True when a packet's tunnels (set_egress) make a direction of an existing
 * flow egress that is not: its inner packets were seen outside a tunnel first. */
static bool tun_widens(const wflow_t *wf, uint8_t tun, int dir)
{
    return ((tun & DLP_TUN_OUT) && !wf->dir[dir].egress) ||
           ((tun & DLP_TUN_IN) && !wf->dir[!dir].egress);
}

static wflow_t *flow_init(dlp_worker_t *w, dlp_flow_t *f, const dlp_packet_t *p, int dir)
{
    wflow_t *wf = calloc(1, sizeof(*wf));

    if (wf == NULL) {
        dlp_stat_inc(&w->stats, DLP_STAT_FLOW_ALLOC_FAIL);
        return NULL;
    }
    wf->w = w;
    wf->f = f;
    wf->gen = (uint8_t)w->cur;
    w->gens[w->cur].nflows++;
    set_egress(w->p.cfg, f, wf, p, dir);
    if (wf->dir[0].egress || wf->dir[1].egress)
        dlp_stat_inc(&w->stats, DLP_STAT_EGRESS_FLOWS);
    wf->app_later = true; /* app_start(), at once or when the flow has payload */
    /* evidence captures: every flow with an egress direction */
    if (w->evw != NULL && (wf->dir[0].egress || wf->dir[1].egress)) {
        wf->evf = dlp_evidence_flow_new(w->evw, f->flow_id);
        /* The other way is not scanned, so nothing in it is known to be clean
         * (a server's answer echoes what it was sent): its payload goes. */
        for (int d = 0; d < 2; d++)
            if (!wf->dir[d].egress)
                dlp_evidence_redact_dir(wf->evf, d);
    }
    wf->charged = sizeof(*wf);
    dlp_flow_charge(w->flows, f, (int64_t)wf->charged);
    f->user = wf;
    return wf;
}

/*
 * Starts the flow's application layer as it would have started with the
 * flow (its rules, its first packet's time: an FTP data connection is
 * looked up as of its SYN) and gives it the packets held for it.
 */
static void app_start(dlp_worker_t *w, wflow_t *wf)
{
    dlp_detect_t *cur = w->env.detect;
    uint64_t now = w->now_us;
    held_t *h;

    wf->app_later = false;
    w->env.detect = w->gens[wf->gen].d;
    if (wf->held != NULL)
        w->now_us = wf->held->pkt.ts_us;
    wf->app = fapp_new(&w->env, wf->f, (const bool[2]){wf->dir[0].egress, wf->dir[1].egress});
    w->env.detect = cur;
    if (wf->app == NULL) {
        dlp_stat_inc(&w->stats, DLP_STAT_FLOW_ALLOC_FAIL);
    } else {
        if (wf->f->key.proto == DLP_PROTO_TCP)
            fapp_set_retained(wf->app, stream_retained, wf);
        if (wf->evf != NULL)
            fapp_set_evidence(wf->app, wf->evf);
    }
    while ((h = wf->held) != NULL) {
        wf->held = h->next;
        w->now_us = h->pkt.ts_us;
        if (wf->app != NULL)
            fapp_packet(wf->app, &h->pkt);
        free(h);
    }
    wf->nheld = 0;
    w->now_us = now;
}

static fapp_t *app_of(wflow_t *wf)
{
    if (wf->app_later)
        app_start(wf->w, wf);
    return wf->app;
}

/* Keeps a copy of a TCP packet without payload, FIN or RST for the
 * application layer to come (above); false when it must start now. */
static bool app_hold(wflow_t *wf, const dlp_packet_t *p)
{
    held_t **tail = &wf->held;
    held_t *h;

    if (p->proto != DLP_PROTO_TCP || p->payload_len != 0 ||
        (p->tcp_flags & (DLP_TCP_FIN | DLP_TCP_RST)) != 0 || wf->nheld >= HELD_PKTS_MAX ||
        p->caplen > HELD_CAPLEN_MAX)
        return false;
    h = malloc(sizeof(*h) + p->caplen);
    if (h == NULL)
        return false;
    h->next = NULL;
    h->pkt = *p;
    memcpy(h->frame, p->data, p->caplen);
    h->pkt.data = h->frame;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = h;
    wf->nheld++;
    return true;
}

static uint64_t held_mem(const wflow_t *wf)
{
    uint64_t m = 0;

    for (const held_t *h = wf->held; h != NULL; h = h->next)
        m += sizeof(*h) + h->pkt.caplen;
    return m;
}

static void recharge(dlp_worker_t *w, wflow_t *wf)
{
    uint64_t now = sizeof(*wf) + (wf->tcp ? dlp_reasm_session_mem(wf->tcp) : 0) +
                   (wf->app ? fapp_mem(wf->app) : 0) + held_mem(wf);

    if (now != wf->charged) {
        dlp_flow_charge(w->flows, wf->f, (int64_t)now - (int64_t)wf->charged);
        wf->charged = now;
    }
}

static void fill_flowinfo(const dlp_flow_t *f, dlp_ev_flowinfo_t *fl)
{
    fl->flow_id = f->flow_id;
    memcpy(fl->src, dlp_flow_addr(f, 0), 16);
    memcpy(fl->dst, dlp_flow_addr(f, 1), 16);
    fl->sport = dlp_flow_port(f, 0);
    fl->dport = dlp_flow_port(f, 1);
    fl->proto = f->key.proto;
    fl->ipver = f->key.ipver;
    fl->vlan[0] = f->key.vlan[0];
    fl->vlan[1] = f->key.vlan[1];
}

static void emit_flow_event(dlp_worker_t *w, const dlp_flow_t *f, const wflow_t *wf,
                            uint8_t tcp_state)
{
    static _Thread_local dlp_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = DLP_EV_FLOW;
    ev.ts_us = f->last_ts_us;
    fill_flowinfo(f, &ev.fl);
    ev.u.flow.start_us = f->first_ts_us;
    ev.u.flow.reason = f->end_reason;
    ev.u.flow.flags = f->flags;
    ev.u.flow.tcp_state = tcp_state;
    ev.u.flow.alerts = wf->app ? fapp_alerts(wf->app) : 0;
    if (wf->app != NULL) /* the rules' records first, then the flow's */
        fapp_report(wf->app, &ev, f->last_ts_us);
    for (int d = 0; d < 2; d++) {
        dlp_ev_dir_t *ed = &ev.u.flow.dir[d];
        ed->pkts = f->pkts[d];
        ed->bytes = f->bytes[d];
        ed->stream_bytes = wf->dir[d].stream_bytes;
        ed->gap_bytes = wf->dir[d].gap_bytes;
        ed->gaps = wf->dir[d].gaps;
        ed->overlap_diff = wf->dir[d].overlap_diff;
        ed->egress = wf->dir[d].egress;
        ed->midstream = wf->dir[d].midstream;
    }
    dlp_alert_push(w->p.events, &ev, w->p.file_mode, w->p.stop, &w->stats);
}

/* The flow table's end callback: flush, report, release. */
static void on_flow_end(void *ctx, dlp_flow_t *f)
{
    dlp_worker_t *w = ctx;
    wflow_t *wf = f->user;
    uint8_t tcp_state = 0;

    if (wf == NULL)
        return;
    w->now_us = f->last_ts_us;
    /* A flow that ends before its application layer started gets it now
     * (not charged: the table is ending the flow), so its flow event and
     * counters are those it would have had (nDPI's guess, app_flows). */
    if (wf->app_later)
        app_start(w, wf);
    if (wf->tcp != NULL) {
        tcp_state = (uint8_t)dlp_reasm_state(wf->tcp);
        for (int d = 0; d < 2; d++) {
            dlp_reasm_dir_info_t di;
            dlp_reasm_dir_info(wf->tcp, d, &di);
            wf->dir[d].midstream = di.midstream;
        }
        if (wf->app != NULL) /* what the close flushes carries the flow's final label */
            fapp_last_label(wf->app);
        /* Flushes held data (after gaps) through the sink before freeing. */
        dlp_reasm_session_close(w->reasm, wf->tcp, &stream_sink, wf);
        wf->tcp = NULL;
    }
    if (wf->app != NULL)
        fapp_finish(wf->app); /* UDP, or TCP streams the session did not end */
    if ((wf->app != NULL && fapp_alerts(wf->app) > 0) || w->p.cfg->log_all_flows)
        emit_flow_event(w, f, wf, tcp_state);
    /* evidence: an alerted flow's packets go to the writer, others are freed */
    dlp_evidence_flow_end(w->evw, wf->evf, wf->app != NULL && fapp_alerts(wf->app) > 0);
    fapp_free(wf->app);
    gen_release(w, wf->gen);
    free(wf);
    f->user = NULL;
}

static void set_tcp_class(dlp_worker_t *w, dlp_flow_t *f, const dlp_tcp_session_t *s)
{
    dlp_tcp_state_t st = dlp_reasm_state(s);
    dlp_flow_tclass_t c;

    f->close_reason = DLP_FLOW_END_NONE; /* an RST the connection outlived (reasm.h) */
    switch (st) {
    case DLP_TCP_ESTABLISHED: c = DLP_FLOW_TC_TCP_EST; break;
    case DLP_TCP_CLOSING: c = DLP_FLOW_TC_TCP_CLOSING; break;
    case DLP_TCP_CLOSED:
    case DLP_TCP_RESET:
        /* Not over yet (a FIN not acknowledged, an RST its receiver outlived):
         * kept as half-closed, so a bare SYN does not end the flow (flow.c
         * replace_stale). */
        c = dlp_reasm_over(s) ? DLP_FLOW_TC_TCP_CLOSED : DLP_FLOW_TC_TCP_CLOSING;
        f->close_reason = st == DLP_TCP_RESET ? DLP_FLOW_END_RST : DLP_FLOW_END_FIN;
        break;
    default: c = DLP_FLOW_TC_TCP_NEW; break;
    }
    if (c != f->tclass)
        dlp_flow_set_class(w->flows, f, c);
}

/* Returns false when the packet opens a new connection on the flow's tuple. */
static bool handle_tcp(dlp_worker_t *w, dlp_flow_t *f, wflow_t *wf, int dir,
                       const dlp_packet_t *p)
{
    dlp_rc_t rc;

    if (wf->tcp == NULL) {
        wf->tcp = dlp_reasm_session_new(w->reasm);
        if (wf->tcp == NULL) {
            dlp_stat_inc(&w->stats, DLP_STAT_FLOW_ALLOC_FAIL);
            return true;
        }
        for (int d = 0; d < 2; d++)
            dlp_reasm_session_set_retain(wf->tcp, d, wf->dir[d].egress);
    }
    rc = dlp_reasm_segment(w->reasm, wf->tcp, dir, p, &stream_sink, wf);
    if (rc == DLP_DONE)
        return false;
    set_tcp_class(w, f, wf->tcp);
    recharge(w, wf);
    return true;
}

/* An ICMP echo message's identity: who sent it, its sequence and its data. */
static uint64_t echo_hash(int dir, const dlp_packet_t *p)
{
    const uint8_t *seq = p->data + p->l4_off + 6; /* decode_icmp(): 8 bytes in bounds */

    return dlp_hash_bytes(dlp_packet_payload(p), p->payload_len,
                          (uint64_t)dir << 16 | (uint64_t)seq[0] << 8 | seq[1]);
}

/*
 * ICMP echo: true when the packet is a reply that returns the data of a
 * request seen the other way (RFC 792 has it echo the request's data). That
 * data came from the other side: scanning it would blame an inside host for
 * what an outside one pinged it with. A reply carrying anything else (an
 * ICMP tunnel answering with its own data) is scanned.
 */
static bool echo_returned(wflow_t *wf, int dir, const dlp_packet_t *p)
{
    bool request = p->icmp_type == DLP_ICMP_ECHO_REQUEST ||
                   p->icmp_type == DLP_ICMPV6_ECHO_REQUEST;

    if (request) {
        wf->echo_req[wf->echo_next] = echo_hash(dir, p);
        wf->echo_next = (uint8_t)((wf->echo_next + 1) % ECHO_REMEMBERED);
        return false;
    }
    uint64_t h = echo_hash(!dir, p);
    for (int i = 0; i < ECHO_REMEMBERED; i++)
        if (wf->echo_req[i] == h)
            return true;
    return false;
}

/* A UDP datagram or an ICMP echo message: one datagram of the flow. */
static void handle_dgram(wflow_t *wf, int dir, const dlp_packet_t *p)
{
    uint64_t off = wf->dir[dir].stream_bytes;

    if (p->proto != DLP_PROTO_UDP && echo_returned(wf, dir, p))
        return;
    wf->dir[dir].stream_bytes += p->payload_len;
    if (wf->app == NULL)
        return;
    fapp_dgram(wf->app, dir, dlp_packet_payload(p), p->payload_len, off);
    recharge(wf->w, wf);
}

static void process_packet(dlp_worker_t *w, const rec_pkt_t *r)
{
    const dlp_packet_t *p = &r->pkt;

    w->now_us = p->ts_us;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool created = false;
        int dir = 0;
        dlp_flow_t *f = dlp_flow_table_get_keyed(w->flows, p, &r->key, r->src_ep, r->key_hash,
                                                 &dir, &created);
        wflow_t *wf;

        if (f == NULL)
            return;
        wf = created ? flow_init(w, f, p, dir) : f->user;
        if (wf == NULL)
            return;
        if (DLP_UNLIKELY(p->tun_dir != 0) && !created && tun_widens(wf, p->tun_dir, dir)) {
            /* A tunnel leaving the network carries a flow first seen not leaving it
             * (set_egress): it starts again, as egress, from this packet. */
            dlp_flow_table_end(w->flows, f,
                               f->close_reason ? (dlp_flow_end_t)f->close_reason
                                               : DLP_FLOW_END_TIMEOUT);
            continue;
        }
        if (wf->app_later && !app_hold(wf, p))
            app_start(w, wf);
        if (wf->evf != NULL) /* evidence: a copy of the packet */
            dlp_evidence_packet(w->evw, wf->evf, p, dir,
                                wf->app != NULL && fapp_alerts(wf->app) > 0);
        if (wf->app != NULL)
            fapp_packet(wf->app, p);
        if (p->proto != DLP_PROTO_TCP) {
            handle_dgram(wf, dir, p);
            return;
        }
        if (handle_tcp(w, f, wf, dir, p))
            return;
        /* A new connection reuses the tuple: end the old flow, start again. */
        f->flags |= DLP_FLOW_F_REUSED;
        dlp_stat_inc(&w->stats, DLP_STAT_FLOW_REUSED);
        dlp_flow_table_end(w->flows, f,
                           f->close_reason ? (dlp_flow_end_t)f->close_reason
                                           : DLP_FLOW_END_TIMEOUT);
    }
}

/* --- entry points ------------------------------------------------------- */

void dlp_worker_packet(dlp_worker_t *w, const rec_pkt_t *r)
{
    dlp_stat_inc(&w->stats, DLP_STAT_WORKER_PACKETS);
    process_packet(w, r);
}

/* The calling thread's CPU time: the worker's, called from its own thread. */
static void note_cpu(dlp_worker_t *w)
{
    struct timespec t;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0)
        dlp_stat_set(&w->stats, DLP_STAT_WORKER_CPU_MS,
                     (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

void dlp_worker_tick(dlp_worker_t *w, uint64_t now_us)
{
    note_cpu(w);
    w->now_us = now_us;
    fapp_idle_settle(&w->env, now_us);
    dlp_flow_table_expire(w->flows, now_us);
}

void dlp_worker_sync(dlp_worker_t *w)
{
    if (dlp_engine_current_gen(w->p.engines) != w->gens[w->cur].e->gen)
        gen_switch(w);
}

void dlp_worker_end(dlp_worker_t *w)
{
    dlp_flow_table_end_all(w->flows, DLP_FLOW_END_SHUTDOWN);
    /* The nDPI module is the largest thing to free (its host lists and
     * automata): here, in parallel with the other workers, rather than by the
     * main thread one worker after the other once all have ended. */
    dlp_classify_free(w->classify);
    w->classify = NULL;
    note_cpu(w);
    atomic_store_explicit(&w->finished, 1, memory_order_release);
}

/* --- the batch loop -------------------------------------------------------- */

/* Returns false at the end-of-input record. */
static bool process_batch(dlp_worker_t *w, dlp_batch_t *b)
{
    uint32_t pos = 0;

    dlp_worker_sync(w);
    while (pos < b->used) {
        rec_hdr_t *h = (rec_hdr_t *)(b->buf + pos);
        pos += h->size;
        if (h->kind == REC_PKT) {
            rec_pkt_t *r = (rec_pkt_t *)h;
            r->pkt.data = r->frame;
            dlp_worker_packet(w, r);
        } else if (h->kind == REC_TICK) {
            dlp_worker_tick(w, h->ts_us);
        } else if (h->kind == REC_END) {
            return false;
        }
    }
    return true;
}

void *dlp_worker_main(void *arg)
{
    dlp_worker_t *w = arg;
    dlp_backoff_t bo;
    bool more = true;

    dlp_backoff_init(&bo, 1000);
    while (more) {
        dlp_batch_t *b;
        if (!dlp_ring_pop(w->p.in, &b)) {
            dlp_backoff_wait(&bo);
            continue;
        }
        dlp_backoff_reset(&bo);
        more = process_batch(w, b);
        b->used = 0;
        b->npkts = 0;
        /* The empty ring holds every batch of this worker: never full. */
        (void)dlp_ring_push(w->p.empty, &b);
    }
    dlp_worker_end(w);
    return NULL;
}

/* --- life cycle ------------------------------------------------------------ */

dlp_worker_t *dlp_worker_new(const dlp_worker_params_t *p)
{
    const dlp_config_t *cfg = p->cfg;
    unsigned nw = p->nworkers ? p->nworkers : cfg->workers ? cfg->workers : 1;
    dlp_worker_t *w = dlp_calloc_aligned(sizeof(*w));
    dlp_flow_config_t fc;
    dlp_reasm_config_t rc;

    if (w == NULL)
        return NULL;
    w->p = *p;
    w->gen_rl = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(60);
    dlp_stats_init(&w->stats);
    dlp_flow_config_default(&fc);
    fc.memcap = cfg->flow_memcap / nw;
    memcpy(fc.timeout_us, cfg->flow_timeout_us, sizeof(fc.timeout_us));
    fc.vlan_in_key = cfg->vlan_in_key;
    fc.hash_seed = p->hash_seed;
    w->flows = dlp_flow_table_new(&fc, &w->stats, on_flow_end, w);
    dlp_reasm_config_default(&rc);
    rc.ooo_bytes_dir = cfg->reasm_ooo_bytes_dir;
    rc.ooo_segs_dir = cfg->reasm_ooo_segs_dir;
    rc.ooo_bytes_worker = cfg->reasm_ooo_bytes_worker / nw;
    rc.retain_bytes = cfg->reasm_retain_bytes;
    w->reasm = dlp_reasm_new(&rc, &w->stats);
    w->rstats = calloc((size_t)DLP_RULE_SLOTS_MAX * DLP_RSTAT__COUNT, sizeof(*w->rstats));
    if (w->rstats != NULL) {
        w->gens[0].e = dlp_engine_current_get(p->engines);
        w->gens[0].d = detect_for(w, w->gens[0].e);
    }
    /* nDPI's start-up (its host and address lists) costs ~40 ms a worker: not without an app layer */
    if (!cfg->no_app_layer)
        w->classify = dlp_classify_new(DLP_CLASSIFY_MAX_PACKETS);
    w->env = (fapp_env_t){
        .detect = w->gens[0].d,
        .classify = w->classify,
        .raw_only = p->cfg->no_app_layer,
        .gate_media = !p->cfg->no_app_layer && !p->cfg->scan_media,
        .unzip = !p->cfg->no_app_layer,
        .stats = &w->stats,
        .now_us = &w->now_us,
    };
    dlp_app_limits_default(&w->env.limits);
    if (cfg->evidence_dir != NULL) { /* evidence captures */
        dlp_evidence_limits_t el;
        dlp_evidence_limits_from(cfg, nw, &el);
        w->evw = dlp_evidence_worker_new(&el, &w->stats, p->events, p->file_mode, p->stop);
    }
    if (w->flows == NULL || w->reasm == NULL || w->gens[0].d == NULL ||
        (!cfg->no_app_layer && w->classify == NULL) ||
        (cfg->evidence_dir != NULL && w->evw == NULL)) {
        dlp_worker_free(w);
        return NULL;
    }
    return w;
}

void dlp_worker_free(dlp_worker_t *w)
{
    if (w == NULL)
        return;
    /* Normally empty (the worker ended every flow); not on early errors. */
    if (w->flows != NULL)
        dlp_flow_table_end_all(w->flows, DLP_FLOW_END_SHUTDOWN);
    dlp_flow_table_free(w->flows);
    dlp_evidence_worker_free(w->evw); /* evidence: after the flows ended */
    dlp_reasm_free(w->reasm);
    for (unsigned i = 0; i < WORKER_GENS; i++)
        gen_drop(&w->gens[i]);
    dlp_detect_agg_free(w->agg); /* after every generation that shared it */
    free(w->rstats);
    dlp_classify_free(w->classify);
    free(w);
}

dlp_stats_t *dlp_worker_stats(dlp_worker_t *w) { return &w->stats; }

const _Atomic uint64_t *dlp_worker_rule_stats(const dlp_worker_t *w)
{
    return w->rstats;
}

bool dlp_worker_finished(const dlp_worker_t *w)
{
    return atomic_load_explicit(&((dlp_worker_t *)w)->finished, memory_order_acquire) != 0;
}
