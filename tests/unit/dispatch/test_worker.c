/*
 * test_worker.c - one worker driven as a pipeline thread drives it
 * (dlp_worker_packet / _tick / _end, dispatch_int.h), and the reader with
 * its workers over a pcap file written here (dispatch.h): real decode, flow
 * table, TCP reassembly, nDPI, decoders and detection; the events read back
 * from the worker's ring.
 *
 * Covered: a flow's label (the decoder's protocol, FTP_DATA for an
 * announced data connection), which directions are inspected and the byte
 * accounting of the flow event, a value split across segments found once,
 * a gap noted and not bridged, TLS not inspected, the idle settle of a
 * quiet raw stream, UDP datagrams, the flow memory charged and given back, per-worker
 * stats; the reader: both directions and an
 * FTP control with its data connection meet in one worker, the same events
 * for 1 and 2 workers, and a capture larger than every batch in flight
 * passing with nothing dropped.
 */
#include "disp_test.h"

#include <stdatomic.h>
#include <time.h>

#include "batch.h"
#include "dispatch_int.h"
#include "dlp/capture.h"
#include "dlp/config.h"
#include "dlp/dispatch.h"
#include "dlp/flow.h"
#include "dlp/stats.h"

#define MAX_EVENTS 256

typedef struct wfx {
    dlp_config_t cfg;
    dlp_engine_current_t eng;
    dlp_ring_t *events;
    atomic_int stop;
    dlp_worker_t *w;
    uint64_t last_tick_us;
    dlp_event_t ev[MAX_EVENTS]; /* drained */
    size_t nev;
} wfx_t;

static const uint8_t HMAC_KEY[] = "k";

static void cfg_init(dlp_config_t *cfg)
{
    const char *bad = NULL;

    assert_int_equal(dlp_config_init(cfg), DLP_OK);
    assert_int_equal(dlp_config_set_home_net(cfg, "10.0.0.0/8", &bad), DLP_OK);
    cfg->log_all_flows = true; /* a flow event for every flow, to read its accounting */
}

static wfx_t *wfx_new(void)
{
    wfx_t *x = calloc(1, sizeof(*x));

    cfg_init(&x->cfg);
    dlp_engine_current_init(&x->eng, engine_new(TOK_RULES));
    x->events = dlp_ring_new(sizeof(dlp_event_t), 1024);
    x->w = dlp_worker_new(&(dlp_worker_params_t){
        .index = 0,
        .nworkers = 1,
        .cfg = &x->cfg,
        .events = x->events,
        .file_mode = true,
        .stop = &x->stop,
        .engines = &x->eng,
        .hmac_key = HMAC_KEY,
        .hmac_key_len = 1,
        .hash_seed = 1,
    });
    assert_non_null(x->w);
    return x;
}

static void wfx_free(wfx_t *x)
{
    dlp_worker_free(x->w);
    dlp_ring_free(x->events);
    dlp_engine_current_fini(&x->eng);
    dlp_config_fini(&x->cfg);
    free(x);
}

/* One frame through the worker as pipe_frame() hands it over, with the clock
 * ticks the front would send first. */
static void feed_tun(wfx_t *x, const frame_t *f, uint64_t ts, uint8_t tun_dir);

static void feed(wfx_t *x, const frame_t *f, uint64_t ts)
{
    feed_tun(x, f, ts, 0);
}

/* feed() of a packet the front found in tunnels going 'tun_dir' (DLP_TUN_*). */
static void feed_tun(wfx_t *x, const frame_t *f, uint64_t ts, uint8_t tun_dir)
{
    dlp_packet_t p;
    rec_pkt_t r;

    if (x->last_tick_us == 0)
        x->last_tick_us = ts;
    if (ts - x->last_tick_us >= DLP_TICK_US) {
        dlp_worker_tick(x->w, ts);
        x->last_tick_us = ts;
    }
    assert_int_equal(dlp_decode(&p, DLP_LINK_EN10MB, f->b, f->n, f->n, ts), DLP_DEC_OK);
    p.clock_us = ts;
    p.tun_dir = tun_dir;
    memset(&r, 0, sizeof(r));
    r.h = (rec_hdr_t){.kind = REC_PKT, .size = sizeof(r), .ts_us = ts};
    r.pkt = p;
    r.src_ep = dlp_flow_key_make(&p, x->cfg.vlan_in_key, &r.key);
    r.key_hash = dlp_flow_key_hash(&r.key, 1);
    dlp_worker_packet(x->w, &r);
}

static void feed_all(wfx_t *x, const frames_t *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        feed(x, &fs->f[i], fs->ts[i]);
}

/* Appends whatever the ring holds to x->ev. */
static void drain(wfx_t *x)
{
    while (x->nev < MAX_EVENTS && dlp_ring_pop(x->events, &x->ev[x->nev]))
        x->nev++;
}

/* Runs the frames, ends every flow, drains the ring. */
static void run(wfx_t *x, const frames_t *fs)
{
    feed_all(x, fs);
    dlp_worker_end(x->w);
    drain(x);
}

static size_t count_type(const wfx_t *x, int type)
{
    size_t n = 0;

    for (size_t i = 0; i < x->nev; i++)
        n += x->ev[i].type == type;
    return n;
}

/* The i-th event of 'type' (asserted to exist). */
static const dlp_event_t *nth(const wfx_t *x, int type, size_t i)
{
    for (size_t k = 0; k < x->nev; k++)
        if (x->ev[k].type == type && i-- == 0)
            return &x->ev[k];
    fail_msg("no event %d of type %d", (int)i, type);
    return NULL;
}

/* The flow event of the flow whose responder listens on 'dport'. */
static const dlp_event_t *flow_ev(const wfx_t *x, uint16_t dport)
{
    for (size_t k = 0; k < x->nev; k++)
        if (x->ev[k].type == DLP_EV_FLOW && x->ev[k].fl.dport == dport)
            return &x->ev[k];
    fail_msg("no flow event to port %u", dport);
    return NULL;
}

static conn_t conn(uint16_t sport, uint32_t server, uint16_t dport)
{
    return (conn_t){.ip = {IN_HOST, server}, .port = {sport, dport}, .seq = {1000, 5000}};
}

/* --- one worker ------------------------------------------------------------- */

/* An HTTP POST on a port nDPI does not tie to HTTP: the decoder reads it, the
 * value in its body is found once, the request direction alone is inspected. */
static void http_body_value_labelled_http(void **state)
{
    static const char req[] = "POST /u HTTP/1.1\r\nHost: up.example\r\nContent-Length: 13\r\n"
                              "\r\nkey tok-1234\n";
    wfx_t *x = wfx_new();
    frames_t fs;
    conn_t c = conn(40000, OUT_HOST, 8181);
    const dlp_event_t *e, *fl;

    (void)state;
    frames_init(&fs, 16);
    handshake(&fs, &c);
    data(&fs, &c, 0, req);
    data(&fs, &c, 1, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    close_both(&fs, &c);
    run(x, &fs);

    assert_int_equal(count_type(x, DLP_EV_DLP), 1);
    e = nth(x, DLP_EV_DLP, 0);
    assert_string_equal(e->u.rule.name, "t.tok");
    assert_string_equal(e->fl.app_proto, "HTTP");
    assert_int_equal(e->u.rule.m[0].field, DLP_FIELD_HTTP_BODY);
    fl = flow_ev(x, 8181);
    assert_string_equal(fl->fl.app_proto, "HTTP");
    assert_string_equal(fl->u.flow.http_host, "up.example");
    assert_int_equal(fl->u.flow.alerts, 1);
    assert_int_equal(fl->u.flow.dir[0].egress, 1);
    assert_int_equal(fl->u.flow.dir[1].egress, 0);
    assert_int_equal(fl->u.flow.dir[0].stream_bytes, sizeof(req) - 1);
    assert_int_equal(fl->u.flow.dir[0].pkts, 5);
    assert_int_equal(fl->u.flow.dir[1].pkts, 3);
    /* the answer is parsed, never scanned */
    assert_int_equal(fl->u.flow.dir[1].inspected_bytes, 0);
    assert_true(fl->u.flow.dir[0].inspected_bytes > 0);
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_APP_FLOWS_HTTP), 1);
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_WORKER_PACKETS), fs.n);
    frames_fini(&fs);
    wfx_free(x);
}

/* A raw stream: "tok-12" and "34." in two segments are one value, found once,
 * and every byte of it inspected. */
static void raw_value_split_across_segments(void **state)
{
    wfx_t *x = wfx_new();
    frames_t fs;
    conn_t c = conn(40001, OUT_HOST, 5555);
    const dlp_event_t *fl;

    (void)state;
    frames_init(&fs, 16);
    handshake(&fs, &c);
    data(&fs, &c, 0, "payload: tok-12");
    data(&fs, &c, 0, "34.\n");
    close_both(&fs, &c);
    run(x, &fs);

    assert_int_equal(count_type(x, DLP_EV_DLP), 1);
    assert_int_equal(nth(x, DLP_EV_DLP, 0)->u.rule.count, 1);
    assert_int_equal(nth(x, DLP_EV_DLP, 0)->u.rule.m[0].offset, 9);
    fl = flow_ev(x, 5555);
    assert_int_equal(fl->u.flow.dir[0].inspected_bytes, 19);
    assert_int_equal(fl->u.flow.dir[0].uninspected_bytes, 0);
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_APP_FLOWS_UNDECODED), 1);
    frames_fini(&fs);
    wfx_free(x);
}

/*
 * An inner flow between two inside hosts, its handshake seen outside any
 * tunnel, its data then carried by a tunnel that leaves the network: the
 * flow starts again as egress and the value is found. (set_egress decided
 * once, on the handshake: the flow stayed internal and its data unscanned.)
 */
static void tunnel_after_plain_start_is_egress(void **state)
{
    wfx_t *x = wfx_new();
    frames_t fs;
    conn_t c = conn(40009, IP4(10, 0, 0, 2), 5557);

    (void)state;
    frames_init(&fs, 16);
    handshake(&fs, &c);
    data(&fs, &c, 0, "payload: tok-1234.\n");
    close_both(&fs, &c);
    for (size_t i = 0; i < fs.n; i++)
        feed_tun(x, &fs.f[i], fs.ts[i], i < 3 ? 0 : DLP_TUN_OUT);
    dlp_worker_end(x->w);
    drain(x);

    assert_int_equal(count_type(x, DLP_EV_DLP), 1);
    frames_fini(&fs);
    wfx_free(x);
}

/* Bytes missing from the capture: the gap is noted with its length, and the
 * halves around it do not make a value. */
static void gap_noted_not_bridged(void **state)
{
    wfx_t *x = wfx_new();
    frames_t fs;
    conn_t c = conn(40002, OUT_HOST, 5556);
    const dlp_event_t *fl;

    (void)state;
    frames_init(&fs, 16);
    handshake(&fs, &c);
    data(&fs, &c, 0, "value tok-12");
    c.seq[0] += 7; /* seven bytes never captured */
    data(&fs, &c, 0, "34 after\n");
    close_both(&fs, &c);
    run(x, &fs);

    assert_int_equal(count_type(x, DLP_EV_DLP), 0);
    fl = flow_ev(x, 5556);
    assert_int_equal(fl->u.flow.dir[0].gaps, 1);
    assert_int_equal(fl->u.flow.dir[0].gap_bytes, 7);
    assert_int_equal(fl->u.flow.dir[0].notes[DLP_NOTE_GAP], 1);
    assert_int_equal(fl->u.flow.dir[0].stream_bytes, 12 + 9);
    frames_fini(&fs);
    wfx_free(x);
}

/* A TLS record first: nothing of the direction is scanned (a token in it is
 * not reported), and all of it is counted uninspected. */
static void tls_not_inspected(void **state)
{
    static const char rec[] = "\x16\x03\x01\x01\x20 tok-4321 clear text in a record\n";
    wfx_t *x = wfx_new();
    frames_t fs;
    conn_t c = conn(40003, OUT_HOST, 4443);
    const dlp_event_t *fl;

    (void)state;
    frames_init(&fs, 16);
    handshake(&fs, &c);
    data(&fs, &c, 0, rec);
    close_both(&fs, &c);
    run(x, &fs);

    assert_int_equal(count_type(x, DLP_EV_DLP), 0);
    fl = flow_ev(x, 4443);
    assert_int_equal(fl->u.flow.dir[0].inspected_bytes, 0);
    assert_int_equal(fl->u.flow.dir[0].uninspected_bytes, sizeof(rec) - 1);
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_APP_FLOWS_ENCRYPTED), 1);
    frames_fini(&fs);
    wfx_free(x);
}

/* A value at the very end of a write waits for the byte after it (\b). A
 * client that then goes quiet has it reported after DLP_SETTLE_IDLE_US of
 * packet time, while the flow is still open, not at its end. */
static void idle_settle_reports_quiet_value(void **state)
{
    wfx_t *x = wfx_new();
    frames_t fs;
    conn_t c = conn(40004, OUT_HOST, 5557);
    uint64_t last;

    (void)state;
    frames_init(&fs, 16);
    handshake(&fs, &c);
    data(&fs, &c, 0, "last value tok-9999");
    feed_all(x, &fs);
    last = fs.ts[fs.n - 1];
    dlp_worker_tick(x->w, last + DLP_SETTLE_IDLE_US - 1);
    drain(x);
    assert_int_equal(count_type(x, DLP_EV_DLP), 0); /* still waiting */
    dlp_worker_tick(x->w, last + DLP_SETTLE_IDLE_US);
    drain(x);
    assert_int_equal(count_type(x, DLP_EV_DLP), 1);
    assert_int_equal(count_type(x, DLP_EV_FLOW), 0); /* the flow goes on */
    dlp_worker_end(x->w);
    drain(x);
    assert_int_equal(count_type(x, DLP_EV_DLP), 1); /* not again at the end */
    assert_int_equal(count_type(x, DLP_EV_FLOW), 1);
    frames_fini(&fs);
    wfx_free(x);
}

/* UDP: each datagram scanned as a block of the flow, its bytes counted once,
 * the same value in a second datagram not reported again. */
static void udp_datagrams_scanned(void **state)
{
    static const char dg[] = "raw datagram tok-3333 end";
    wfx_t *x = wfx_new();
    frames_t fs;
    const dlp_event_t *fl;

    (void)state;
    frames_init(&fs, 4);
    for (int i = 0; i < 2; i++) {
        udp_frame(&fs.f[fs.n], IN_HOST, OUT_HOST, 41234, 9999, dg, sizeof(dg) - 1);
        fs.ts[fs.n++] = (fs.now_us += 1000);
    }
    run(x, &fs);

    assert_int_equal(count_type(x, DLP_EV_DLP), 1);
    assert_int_equal(nth(x, DLP_EV_DLP, 0)->u.rule.m[0].field, DLP_FIELD_RAW);
    fl = flow_ev(x, 9999);
    assert_int_equal(fl->fl.proto, DLP_PROTO_UDP);
    assert_int_equal(fl->u.flow.dir[0].pkts, 2);
    assert_int_equal(fl->u.flow.dir[0].stream_bytes, 2 * (sizeof(dg) - 1));
    assert_int_equal(fl->u.flow.dir[0].inspected_bytes, 2 * (sizeof(dg) - 1));
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_EGRESS_DGRAM_BYTES),
                     2 * (sizeof(dg) - 1));
    frames_fini(&fs);
    wfx_free(x);
}

/*
 * An FTP session: the control connection read by the FTP decoder (the
 * password kept out of the scan and noted), its PASV reply announcing
 * 198.51.100.7:5001, and the data connection there labelled FTP_DATA with
 * the file's value found in field ftp.data.
 */
static void ftp_control_and_data(frames_t *fs, uint32_t client, uint16_t sport)
{
    conn_t c = conn(sport, OUT_HOST, 21), d = conn((uint16_t)(sport + 1), OUT_HOST, 5001);

    c.ip[0] = d.ip[0] = client;
    handshake(fs, &c);
    data(fs, &c, 1, "220 FTP server ready\r\n");
    data(fs, &c, 0, "USER anne\r\n");
    data(fs, &c, 1, "331 Password required\r\n");
    data(fs, &c, 0, "PASS hunter2\r\n");
    data(fs, &c, 1, "230 Logged in\r\n");
    data(fs, &c, 0, "PASV\r\n");
    data(fs, &c, 1, "227 Entering Passive Mode (198,51,100,7,19,137).\r\n");
    data(fs, &c, 0, "STOR f.txt\r\n");
    handshake(fs, &d);
    data(fs, &d, 0, "file with tok-5678 inside\n");
    close_both(fs, &d);
    data(fs, &c, 1, "226 Transfer complete\r\n");
    close_both(fs, &c);
}

static void ftp_data_labelled(void **state)
{
    wfx_t *x = wfx_new();
    frames_t fs;
    const dlp_event_t *e, *ctl, *dat;

    (void)state;
    frames_init(&fs, 64);
    ftp_control_and_data(&fs, IN_HOST, 40010);
    run(x, &fs);

    assert_int_equal(count_type(x, DLP_EV_DLP), 1);
    e = nth(x, DLP_EV_DLP, 0);
    assert_string_equal(e->fl.app_proto, "FTP_DATA");
    assert_int_equal(e->u.rule.m[0].field, DLP_FIELD_FTP_DATA);
    assert_int_equal(e->fl.dport, 5001);
    dat = flow_ev(x, 5001);
    assert_string_equal(dat->fl.app_proto, "FTP_DATA");
    ctl = flow_ev(x, 21);
    assert_string_equal(ctl->fl.app_proto, "FTP_CONTROL");
    assert_int_equal(ctl->u.flow.dir[0].notes[DLP_NOTE_CREDENTIAL], 1);
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_APP_FLOWS_FTP), 1);
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_APP_FLOWS_FTP_DATA), 1);
    frames_fini(&fs);
    wfx_free(x);
}

/*
 * The flow table is charged for each flow's state (reassembly, decoders,
 * detection, fapp_mem): more while a flow carries an HTTP decoder than
 * just after its handshake, and back to the table's own (its buckets) once
 * every flow has ended.
 */
static void flow_memory_back_to_base(void **state)
{
    wfx_t *x = wfx_new();
    const dlp_stats_t *st = dlp_worker_stats(x->w);
    frames_t fs;
    conn_t c = conn(40005, OUT_HOST, 8182);
    uint64_t base, after_hs;

    (void)state;
    frames_init(&fs, 16);
    base = dlp_stat_get(st, DLP_STAT_FLOW_MEM); /* the table's buckets */
    handshake(&fs, &c);
    feed_all(x, &fs);
    after_hs = dlp_stat_get(st, DLP_STAT_FLOW_MEM);
    assert_true(after_hs > base);
    fs.n = 0;
    data(&fs, &c, 0, "POST /u HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100\r\n\r\npart");
    feed_all(x, &fs);
    assert_true(dlp_stat_get(st, DLP_STAT_FLOW_MEM) > after_hs);
    dlp_worker_end(x->w);
    assert_int_equal(dlp_stat_get(st, DLP_STAT_FLOW_MEM), base);
    frames_fini(&fs);
    wfx_free(x);
}

/*
 * A half-open flow is charged its flow, the worker's state, the TCP session
 * and its SYN, not an application layer (nDPI's flow, detection: ~2 KB, which
 * made a SYN ~2600 bytes): that starts at the first payload, after the SYN,
 * SYN-ACK and ACK are given to it. A flow that ends half-open still gets
 * nDPI's last word, the same as one whose RST started it at once.
 */
static void half_open_flow_charged_without_app(void **state)
{
    wfx_t *x = wfx_new();
    const dlp_stats_t *st = dlp_worker_stats(x->w);
    frames_t fs;
    conn_t syn = conn(40006, OUT_HOST, 443), rst = conn(40007, OUT_HOST, 443);
    conn_t up = conn(40008, OUT_HOST, 8183);
    uint64_t base, one;

    (void)state;
    frames_init(&fs, 16);
    base = dlp_stat_get(st, DLP_STAT_FLOW_MEM);
    seg(&fs, &syn, 0, DLP_TCP_SYN, NULL);
    feed_all(x, &fs);
    one = dlp_stat_get(st, DLP_STAT_FLOW_MEM) - base;
    assert_true(one < 1200);
    fs.n = 0;
    seg(&fs, &rst, 0, DLP_TCP_SYN, NULL);
    seg(&fs, &rst, 1, DLP_TCP_RST | DLP_TCP_ACK, NULL);
    handshake(&fs, &up);
    data(&fs, &up, 0, "value tok-1234 here\r\n");
    feed_all(x, &fs);
    /* the RST and the payload started theirs */
    assert_true(dlp_stat_get(st, DLP_STAT_FLOW_MEM) - base > one + 2 * 1500);
    dlp_worker_end(x->w);
    drain(x);
    assert_int_equal(dlp_stat_get(st, DLP_STAT_FLOW_MEM), base);
    assert_string_equal(flow_ev(x, 8183)->fl.app_proto, "Unknown");
    assert_int_equal(count_type(x, DLP_EV_DLP), 1);
    const dlp_event_t *a = NULL, *b = NULL;
    for (size_t k = 0; k < x->nev; k++) {
        if (x->ev[k].type == DLP_EV_FLOW && x->ev[k].fl.sport == 40006)
            a = &x->ev[k];
        if (x->ev[k].type == DLP_EV_FLOW && x->ev[k].fl.sport == 40007)
            b = &x->ev[k];
    }
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a->fl.app_proto[0] != '\0');
    assert_string_equal(a->fl.app_proto, b->fl.app_proto);
    assert_string_equal(a->fl.risks, b->fl.risks);
    assert_int_equal(dlp_stat_get(st, DLP_STAT_APP_FLOWS_UNDECODED) +
                         dlp_stat_get(st, DLP_STAT_APP_FLOWS_ENCRYPTED),
                     3);
    frames_fini(&fs);
    wfx_free(x);
}

/* The worker's CPU time is its thread's (the caller's here), noted at the end. */
static void cpu_ms_is_the_threads(void **state)
{
    wfx_t *x = wfx_new();
    struct timespec t;
    uint64_t cpu;

    (void)state;
    assert_int_equal(dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_WORKER_CPU_MS), 0);
    dlp_worker_end(x->w);
    assert_int_equal(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t), 0);
    cpu = dlp_stat_get(dlp_worker_stats(x->w), DLP_STAT_WORKER_CPU_MS);
    /* this thread compiled the rules and loaded nDPI: well over a millisecond */
    assert_true(cpu > 0);
    assert_true(cpu <= (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
    assert_true(dlp_worker_finished(x->w));
    wfx_free(x);
}

/* --- the reader and its workers ------------------------------------------ */

/* One line per event that does not depend on which worker ran it. */
static int ev_line(const dlp_event_t *e, char *buf, size_t n)
{
    if (e->type == DLP_EV_FLOW)
        return snprintf(buf, n, "flow %llu %u>%u %s pkts %llu/%llu insp %llu alerts %u",
                        (unsigned long long)e->fl.flow_id, e->fl.sport, e->fl.dport,
                        e->fl.app_proto, (unsigned long long)e->u.flow.dir[0].pkts,
                        (unsigned long long)e->u.flow.dir[1].pkts,
                        (unsigned long long)e->u.flow.dir[0].inspected_bytes,
                        e->u.flow.alerts);
    return snprintf(buf, n, "ev%u %llu %u>%u %s %s", e->type,
                    (unsigned long long)e->fl.flow_id, e->fl.sport, e->fl.dport,
                    e->fl.app_proto, e->type == DLP_EV_FLOW_RULE || e->type == DLP_EV_DLP
                                         ? e->u.rule.name
                                         : "");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct drun {
    char **lines;      /* sorted */
    size_t n;
    unsigned rings_with_flows;
    uint64_t worker_pkts, reader_pkts, drops;
    bool flow_on_two_rings;
} drun_t;

/* The reader and 'workers' workers over the pcap at 'path'; every ring drained. */
static void dispatch_run(const char *path, unsigned workers, drun_t *out)
{
    dlp_config_t cfg;
    dlp_engine_current_t eng;
    dlp_stats_t capst;
    atomic_int stop = 0;
    char err[256];
    const char *paths[1] = {path};
    dlp_capture_t *cap;
    dlp_dispatch_t *d;
    uint64_t seen_ids[512];
    size_t nseen = 0;
    static dlp_event_t ev;

    cfg_init(&cfg);
    dlp_stats_init(&capst);
    dlp_engine_current_init(&eng, engine_new(TOK_RULES));
    cap = dlp_capture_open_files(paths, 1, NULL, &capst, err, sizeof(err));
    assert_non_null(cap);
    d = dlp_dispatch_new(&(dlp_dispatch_params_t){.cfg = &cfg, .cap = cap, .workers = workers,
                                                  .file_mode = true, .stop = &stop,
                                                  .engines = &eng, .hmac_key = HMAC_KEY,
                                                  .hmac_key_len = 1});
    assert_non_null(d);
    assert_int_equal(dlp_dispatch_nrings(d), workers);
    assert_int_equal(dlp_dispatch_nstats(d), workers + 1);
    assert_int_equal(dlp_dispatch_start(d), DLP_OK);
    /* the default ring holds every event of these captures: drained after the run */
    assert_int_equal(dlp_dispatch_run(d), DLP_OK);
    assert_true(dlp_dispatch_done(d));
    memset(out, 0, sizeof(*out));
    out->lines = calloc(4096, sizeof(char *));
    for (unsigned r = 0; r < workers; r++) {
        bool any = false;
        size_t first = nseen;
        while (dlp_ring_pop(dlp_dispatch_ring(d, r), &ev)) {
            char line[256];
            assert_true(out->n < 4096);
            ev_line(&ev, line, sizeof(line));
            out->lines[out->n++] = strdup(line);
            if (ev.type != DLP_EV_FLOW)
                continue;
            any = true;
            for (size_t k = 0; k < first; k++) /* a flow id seen on an earlier ring */
                out->flow_on_two_rings |= seen_ids[k] == ev.fl.flow_id;
            assert_true(nseen < 512);
            seen_ids[nseen++] = ev.fl.flow_id;
        }
        out->rings_with_flows += any;
        out->worker_pkts += dlp_stat_get(dlp_dispatch_stats(d, r + 1), DLP_STAT_WORKER_PACKETS);
    }
    out->reader_pkts = dlp_stat_get(dlp_dispatch_stats(d, 0), DLP_STAT_PACKETS);
    out->drops = dlp_stat_get(dlp_dispatch_stats(d, 0), DLP_STAT_CAP_RING_DROPS);
    qsort(out->lines, out->n, sizeof(char *), cmp_str);
    dlp_dispatch_free(d);
    dlp_capture_close(cap);
    dlp_engine_current_fini(&eng);
    dlp_config_fini(&cfg);
}

static void drun_fini(drun_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->lines[i]);
    free(r->lines);
}

/* How many lines of r start with 's'. */
static size_t lines_with(const drun_t *r, const char *s)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++)
        n += strstr(r->lines[i], s) != NULL;
    return n;
}

#define NCLIENTS 24

/*
 * NCLIENTS inside hosts, each with an FTP session (control + data) and a
 * raw flow carrying a value, to one server: 24 address pairs, so that two
 * workers both get flows (all on one worker: chance 2^-23 with the per-run
 * seed) and a flow split between workers would show.
 */
static void write_many(const char *path, size_t *nframes)
{
    frames_t fs;

    frames_init(&fs, NCLIENTS * 64);
    for (uint32_t h = 0; h < NCLIENTS; h++) {
        conn_t c = conn(41000, OUT_HOST2, 6000);
        c.ip[0] = IP4(10, 0, 1, 10 + h);
        ftp_control_and_data(&fs, IP4(10, 0, 1, 10 + h), 40020);
        handshake(&fs, &c);
        data(&fs, &c, 0, "raw tok-1111 here\n");
        close_both(&fs, &c);
    }
    frames_write_pcap(&fs, path);
    *nframes = fs.n;
    frames_fini(&fs);
}

static void same_events_for_one_and_two_workers(void **state)
{
    char path[] = "/tmp/dlp-disp-XXXXXX.pcap";
    int fd = mkstemps(path, 5);
    drun_t one, two;
    size_t nframes;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    write_many(path, &nframes);
    dispatch_run(path, 1, &one);
    dispatch_run(path, 2, &two);
    remove(path);

    /* every FTP data connection met its control connection: the value is FTP_DATA's
     * (each flow's dlp event, then its rule record) */
    assert_int_equal(lines_with(&one, "FTP_DATA t.tok"), 2 * NCLIENTS);
    assert_int_equal(lines_with(&two, "FTP_DATA t.tok"), 2 * NCLIENTS);
    assert_int_equal(lines_with(&two, ">6000 Unknown t.tok"), 2 * NCLIENTS);
    assert_int_equal(lines_with(&two, "flow "), 3 * NCLIENTS);
    /* the same events, line for line (flow ids do not depend on --workers) */
    assert_int_equal(one.n, two.n);
    for (size_t i = 0; i < one.n; i++)
        assert_string_equal(one.lines[i], two.lines[i]);
    /* both directions of a flow in one worker: no flow id on two rings */
    assert_false(two.flow_on_two_rings);
    assert_int_equal(two.rings_with_flows, 2);
    assert_int_equal(one.reader_pkts, nframes);
    assert_int_equal(one.worker_pkts, nframes);
    assert_int_equal(two.worker_pkts, nframes);
    assert_int_equal(two.drops, 0);
    drun_fini(&one);
    drun_fini(&two);
}

/*
 * More frame bytes than every batch a worker has (DLP_BATCHES_PER_WORKER of
 * DLP_BATCH_BYTES): reading a file, the reader waits for batches to come
 * back, so all of them arrive and none is dropped.
 */
static void file_larger_than_batches_nothing_dropped(void **state)
{
    char path[] = "/tmp/dlp-disp-XXXXXX.pcap";
    int fd = mkstemps(path, 5);
    size_t per = rec_align((uint32_t)sizeof(rec_pkt_t) + 1454);
    size_t n = 2 * DLP_BATCHES_PER_WORKER * (DLP_BATCH_BYTES / per) + 10;
    char *chunk = malloc(1401);
    frames_t fs;
    drun_t r;

    (void)state;
    assert_true(fd >= 0);
    close(fd);
    memset(chunk, 'a', 1400);
    chunk[1400] = '\0';
    frames_init(&fs, n + 8);
    conn_t c = conn(42000, OUT_HOST, 7000);
    handshake(&fs, &c);
    for (size_t i = 0; i < n; i++)
        data(&fs, &c, 0, chunk);
    frames_write_pcap(&fs, path);
    assert_int_equal(fs.f[3].n, 1454); /* the size 'per' counted on */
    dispatch_run(path, 1, &r);
    remove(path);
    assert_int_equal(r.reader_pkts, fs.n);
    assert_int_equal(r.worker_pkts, fs.n);
    assert_int_equal(r.drops, 0);
    assert_int_equal(lines_with(&r, "flow "), 1);
    drun_fini(&r);
    frames_fini(&fs);
    free(chunk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(http_body_value_labelled_http),
        cmocka_unit_test(raw_value_split_across_segments),
        cmocka_unit_test(tunnel_after_plain_start_is_egress),
        cmocka_unit_test(gap_noted_not_bridged),
        cmocka_unit_test(tls_not_inspected),
        cmocka_unit_test(idle_settle_reports_quiet_value),
        cmocka_unit_test(udp_datagrams_scanned),
        cmocka_unit_test(ftp_data_labelled),
        cmocka_unit_test(flow_memory_back_to_base),
        cmocka_unit_test(half_open_flow_charged_without_app),
        cmocka_unit_test(cpu_ms_is_the_threads),
        cmocka_unit_test(same_events_for_one_and_two_workers),
        cmocka_unit_test(file_larger_than_batches_nothing_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
