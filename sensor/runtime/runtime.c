/*
 * runtime.c - start-up, the output thread, signals, shutdown.
 *
 * Order: capture opened (bad input fails before anything runs), outputs
 * opened, workers started, then the reader runs in this thread while the
 * output thread drains the workers' event rings. At the end of the input
 * (or on SIGINT/SIGTERM) the reader tells the workers to end their flows,
 * joins them, and the output thread writes what is left and the final
 * stats event.
 *
 * Signals only set flags (async-signal-safe); a second SIGINT/SIGTERM exits
 * at once. SIGUSR1 asks for a stats event now.
 */
#include "dlp/runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dlp/alert.h"
#include "dlp/capture.h"
#include "dlp/dispatch.h"
#include "dlp/log.h"
#include "dlp/match.h"
#include "dlp/output.h"
#include "dlp/rules.h"
#include "dlp/timefmt.h"

#include "runtime_int.h"

static atomic_int g_stop;
static atomic_int g_stats_now;
static dlp_capture_t *_Atomic g_cap;

static void on_stop(int sig)
{
    (void)sig;
    if (atomic_exchange(&g_stop, 1)) {
        static const char msg[] = "dlpsensor: second signal, exiting now\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(1);
    }
    dlp_capture_t *c = atomic_load(&g_cap);
    if (c != NULL)
        dlp_capture_break(c);
}

static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&g_stats_now, 1);
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

typedef struct out_ctx {
    const dlp_config_t *cfg;
    dlp_output_t *out;
    dlp_dispatch_t *disp;
    bool live;
    uint64_t start_ns;
    dlp_stats_t cap_stats; /* written by the capture, in the reader thread */
    dlp_detection_t det;
    atomic_int reader_done;
} out_ctx_t;

static void write_stats(out_ctx_t *c)
{
    dlp_stats_t total;
    uint64_t ts = c->live ? dlp_time_now_us() : dlp_dispatch_packet_time(c->disp);

    dlp_stats_init(&total);
    dlp_stats_accumulate(&total, &c->cap_stats);
    dlp_stats_accumulate(&total, dlp_output_counters(c->out));
    for (unsigned i = 0; i < dlp_dispatch_nstats(c->disp); i++)
        dlp_stats_accumulate(&total, dlp_dispatch_stats(c->disp, i));
    uint64_t *rstats = calloc(c->det.rules->n * DLP_RSTAT__COUNT + 1, sizeof(*rstats));

    if (rstats != NULL)
        dlp_dispatch_rule_stats(c->disp, rstats, c->det.rules->n);
    if (ts == 0)
        ts = dlp_time_now_us();
    dlp_output_stats(c->out, &total, c->det.rules, rstats, ts,
                     (double)(dlp_time_mono_ns() - c->start_ns) / 1e9);
    free(rstats);
}

static void *output_main(void *arg)
{
    out_ctx_t *c = arg;
    uint64_t interval_ns = (uint64_t)c->cfg->stats_interval_s * 1000000000ULL;
    uint64_t last = dlp_time_mono_ns();

    for (;;) {
        bool done = atomic_load(&c->reader_done);
        size_t n = dlp_output_drain(c->out);
        uint64_t now = dlp_time_mono_ns();

        if ((interval_ns && now - last >= interval_ns) || atomic_exchange(&g_stats_now, 0)) {
            write_stats(c);
            last = now;
        }
        if (done && n == 0)
            break;
        if (n == 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    write_stats(c);
    return NULL;
}

static dlp_capture_t *open_capture(const dlp_config_t *cfg, dlp_stats_t *st)
{
    char err[512] = "";
    dlp_capture_t *cap;

    if (cfg->read_paths.n > 0) {
        cap = dlp_capture_open_files((const char *const *)cfg->read_paths.v, cfg->read_paths.n,
                                     cfg->bpf, st, err, sizeof(err));
    } else {
        dlp_capture_live_opts_t o;
        dlp_capture_live_opts_default(&o);
        o.snaplen = cfg->snaplen;
        o.buffer_bytes = cfg->pcap_buffer_bytes;
        o.timeout_ms = cfg->pcap_timeout_ms;
        o.promisc = cfg->promisc;
        cap = dlp_capture_open_live((const char *const *)cfg->ifaces.v, cfg->ifaces.n, cfg->bpf,
                                    &o, st, err, sizeof(err));
    }
    if (cap == NULL)
        fprintf(stderr, "dlpsensor: %s\n", err);
    return cap;
}

static int run_packet_path(out_ctx_t *c, dlp_capture_t *cap)
{
    pthread_t out_thread;
    dlp_dispatch_params_t dp = {
        .cfg = c->cfg,
        .cap = cap,
        .workers = c->cfg->workers,
        .file_mode = !c->live,
        .stop = &g_stop,
        .rules = c->det.rules,
        .matcher = c->det.matcher,
        .hmac_key = c->det.key,
        .hmac_key_len = c->det.key_len,
    };
    int status = 1;
    dlp_rc_t rc;

    c->disp = dlp_dispatch_new(&dp);
    if (c->disp == NULL)
        return 1;
    for (unsigned i = 0; i < dlp_dispatch_nrings(c->disp); i++)
        if (dlp_output_add_ring(c->out, dlp_dispatch_ring(c->disp, i)) != DLP_OK)
            goto out;
    if (pthread_create(&out_thread, NULL, output_main, c) != 0)
        goto out;
    pthread_setname_np(out_thread, "dlp-output");
    rc = dlp_dispatch_start(c->disp);
    if (rc == DLP_OK)
        rc = dlp_dispatch_run(c->disp);
    atomic_store(&c->reader_done, 1);
    pthread_join(out_thread, NULL);
    status = rc == DLP_OK ? 0 : 1;
out:
    dlp_dispatch_free(c->disp);
    c->disp = NULL;
    return status;
}

int dlp_runtime_run(const dlp_config_t *cfg)
{
    static out_ctx_t c; /* static: aligned counters, and signals reach it */
    dlp_capture_t *cap;
    char err[512] = "";
    int status;

    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.live = cfg->read_paths.n == 0;
    c.start_ns = dlp_time_mono_ns();
    dlp_stats_init(&c.cap_stats);
    status = dlp_detection_load(cfg, &c.det);
    if (status != 0)
        return status;
    cap = open_capture(cfg, &c.cap_stats);
    if (cap == NULL) {
        dlp_detection_fini(&c.det);
        return 2;
    }
    c.out = dlp_output_new(cfg, cfg->syslog == 1 || (cfg->syslog == -1 && c.live), err,
                           sizeof(err));
    if (c.out == NULL) {
        fprintf(stderr, "dlpsensor: %s\n", err);
        dlp_capture_close(cap);
        dlp_detection_fini(&c.det);
        return 2;
    }
    atomic_store(&g_cap, cap);
    install_signals();
    status = run_packet_path(&c, cap);
    atomic_store(&g_cap, NULL);
    dlp_output_free(c.out);
    dlp_capture_close(cap);
    dlp_detection_fini(&c.det);
    return status;
}
