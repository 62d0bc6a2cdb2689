/*
 * runtime.c - start-up, the output thread, signals, shutdown.
 *
 * Order: capture opened (bad input fails before anything runs), outputs
 * opened, root dropped (-u), then threads started: files, workers fed by the
 * reader running in this thread; live, one pipeline thread per capture
 * handle (--capture-threads, each its own worker: dispatch.h), this thread
 * waiting for them. Meanwhile the output thread drains the workers' event
 * rings and writes periodic stats. At the end of the input (or on
 * SIGINT/SIGTERM) every worker ends its flows (shutdown), the threads are
 * joined, and the output thread writes what is left and the final stats.
 *
 * Live handles: with one capture thread and no --cluster-id, one plain
 * handle over every -i. Otherwise handle k (k < N) covers every interface,
 * each joined to that interface's fanout group, opened in order k = 0, 1, ...
 * so that every group has its members in the same order (capture.h): the
 * groups are the kernel's picks for handle 0 (then reused), or
 * (cluster-id + i) & 0xffff for interface i, which other processes given
 * the same id join too. Handle 0 alone counts the interfaces' own drops.
 *
 * Signals only set flags and break every capture handle (async-signal-safe);
 * a second SIGINT/SIGTERM exits at once. SIGUSR1 asks for a stats event now.
 * SIGHUP reloads the rules: the control thread loads and compiles them off
 * the packet path and publishes the new generation (engine.h); a rule set
 * with errors is refused, its errors logged, and the rules in force stay.
 * The control thread sleeps on a semaphore that SIGHUP and the end of the
 * input post (sem_post is async-signal-safe): a reload starts at once, and
 * the end of a run does not wait for a polling period.
 */
#include "dlp/runtime.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlp/alert.h"
#include "dlp/capture.h"
#include "dlp/dispatch.h"
#include "dlp/engine.h"
#include "dlp/log.h"
#include "dlp/match.h"
#include "dlp/mem.h"
#include "dlp/output.h"
#include "dlp/privdrop.h"
#include "dlp/rules.h"
#include "dlp/timefmt.h"

#include "runtime_int.h"

static atomic_int g_stop;
static atomic_int g_stats_now;
static atomic_int g_reload;
static sem_t g_ctl_wake; /* SIGHUP and the end of the input wake the control thread */
/* Every capture handle, for the signal handler to break (atomic: it may run before they exist). */
#define CAPTURE_THREADS_MAX DLP_CONFIG_THREADS_MAX /* capture threads, or file readers (one per worker) */
static dlp_capture_t *_Atomic g_caps[CAPTURE_THREADS_MAX];
static atomic_uint g_ncaps;

static void on_stop(int sig)
{
    (void)sig;
    if (atomic_exchange(&g_stop, 1)) {
        static const char msg[] = "dlpsensor: second signal, exiting now\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)w;
        _exit(1);
    }
    unsigned n = atomic_load(&g_ncaps);
    for (unsigned i = 0; i < n; i++) {
        dlp_capture_t *c = atomic_load(&g_caps[i]);
        if (c != NULL)
            dlp_capture_break(c);
    }
}

static void on_usr1(int sig)
{
    (void)sig;
    atomic_store(&g_stats_now, 1);
}

static void on_hup(int sig)
{
    (void)sig;
    atomic_store(&g_reload, 1);
    sem_post(&g_ctl_wake);
}

static void install_signals(void)
{
    struct sigaction sa;

    sem_init(&g_ctl_wake, 0, 0); /* before the handler that posts it */
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Requests must not break a blocking read of the input (a pipe). */
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_flags = 0;
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

typedef struct out_ctx {
    const dlp_config_t *cfg;
    dlp_output_t *out;
    dlp_dispatch_t *disp;
    bool live;
    uint64_t start_ns;
    dlp_capture_t **caps;   /* one per capture thread, or per file reader */
    unsigned ncaps;
    dlp_stats_t *cap_stats; /* [ncaps]: each written by its handle's thread */
    dlp_stats_t ctl_stats; /* written by the control thread (reloads) */
    dlp_detection_t det;   /* the HMAC key */
    const char *cache;     /* compiled rules, for reloads: cache_buf, cfg's, or NULL */
    char cache_buf[PATH_MAX];
    dlp_engine_current_t engines;
    dlp_rule_slots_t slots; /* control thread */
    uint32_t *slot_ids;     /* [slots.n]: the rule_id a slot's name had last; control thread */
    /* What the stats report besides the engine in force, and the engine
     * itself, under 'notes_lock' (the control thread writes at a reload, the
     * output thread reads): the rules no longer loaded (pointers into slots'
     * names, which live as long as the run), whose counters go on (flows
     * they opened still count), and the first error of the last reload if
     * it was refused. */
    pthread_mutex_t notes_lock;
    const char **gone;
    uint32_t *gone_slots;
    uint32_t *gone_ids; /* the rule_id each had last */
    size_t ngone;
    char *reload_error;
    atomic_int reader_done;
    atomic_int ctl_done; /* the control thread has ended: no reload can still come */
} out_ctx_t;

/* Live: each interface's totals, merged over the handles; returns how many. */
static size_t iface_totals(const out_ctx_t *c, dlp_capture_iface_stats_t *ifs)
{
    size_t n = c->live && c->ncaps > 0 ? dlp_capture_iface_count(c->caps[0]) : 0;

    for (size_t i = 0; i < n && i < DLP_CAPTURE_MAX_IFACES; i++) {
        ifs[i] = (dlp_capture_iface_stats_t){0};
        for (unsigned k = 0; k < c->ncaps; k++) {
            dlp_capture_iface_stats_t one;
            if (dlp_capture_iface_stats(c->caps[k], i, &one) == DLP_OK)
                dlp_capture_iface_stats_merge(&ifs[i], &one);
        }
    }
    return n < DLP_CAPTURE_MAX_IFACES ? n : DLP_CAPTURE_MAX_IFACES;
}

static void write_stats(out_ctx_t *c)
{
    dlp_stats_t total;
    dlp_capture_iface_stats_t ifs[DLP_CAPTURE_MAX_IFACES];
    size_t nifs;
    uint64_t ts = c->live ? dlp_time_now_us() : dlp_dispatch_packet_time(c->disp);

    dlp_output_note_cpu(c->out); /* write_stats runs on the output thread */
    pthread_mutex_lock(&c->notes_lock);
    dlp_stats_init(&total);
    dlp_stats_accumulate(&total, &c->ctl_stats);
    dlp_stats_accumulate(&total, dlp_output_counters(c->out));
    for (unsigned i = 0; i < dlp_dispatch_nstats(c->disp); i++)
        dlp_stats_accumulate(&total, dlp_dispatch_stats(c->disp, i));
    /* the packet counts first, then the capture counters read for this event:
     * received is never behind packets (a pipeline reads them on its clock) */
    dlp_dispatch_poll_capture(c->disp, DLP_STATS_CAPTURE_WAIT_MS);
    for (unsigned k = 0; k < c->ncaps; k++)
        dlp_stats_accumulate(&total, &c->cap_stats[k]);
    nifs = iface_totals(c, ifs);
    dlp_engine_t *e = dlp_engine_current_get(&c->engines);
    uint64_t *rstats = calloc(e->rules->n * DLP_RSTAT__COUNT + 1, sizeof(*rstats));
    uint64_t *gstats = calloc(c->ngone * DLP_RSTAT__COUNT + 1, sizeof(*gstats));
    unsigned nw = dlp_dispatch_nstats(c->disp) - 1; /* [0] is the reader's */
    const dlp_stats_t **workers = calloc(nw + 1, sizeof(*workers));
    dlp_output_stats_in_t in;

    if (rstats != NULL)
        dlp_dispatch_rule_stats(c->disp, rstats, e);
    if (gstats != NULL)
        dlp_dispatch_slot_stats(c->disp, gstats, c->gone_slots, c->ngone);
    if (ts == 0)
        ts = dlp_time_now_us();
    dlp_stat_set(&total, DLP_STAT_DROPPED, dlp_stats_dropped(&total));
    for (unsigned i = 0; workers != NULL && i < nw; i++)
        workers[i] = dlp_dispatch_stats(c->disp, i + 1);
    in = (dlp_output_stats_in_t){.total = &total,
                                 .rs = e->rules,
                                 .rstats = rstats,
                                 .ifs = ifs,
                                 .nifs = nifs,
                                 .workers = workers,
                                 .nworkers = workers != NULL ? nw : 0,
                                 .ts_us = ts,
                                 .elapsed_s = (double)(dlp_time_mono_ns() - c->start_ns) / 1e9,
                                 .gone = c->gone,
                                 .gone_stats = gstats,
                                 .gone_ids = c->gone_ids,
                                 .ngone = gstats != NULL ? c->ngone : 0,
                                 .reload_error = c->reload_error};
    dlp_output_stats_event(c->out, &in);
    pthread_mutex_unlock(&c->notes_lock);
    free(workers);
    free(rstats);
    free(gstats);
    dlp_engine_unref(e);
}

/* --- rule reloads --------------------------------------------------------- */

/* Wraps rules and matcher as generation 'gen' (consumes them). */
static dlp_engine_t *engine_make(out_ctx_t *c, dlp_ruleset_t *rules, dlp_matcher_t *m,
                                 uint32_t gen, dlp_rules_errors_t *err)
{
    uint32_t *slots = NULL;
    dlp_rc_t rc = dlp_rule_slots_assign(&c->slots, rules, &slots);
    uint32_t *ids = rc == DLP_OK ? realloc(c->slot_ids, (c->slots.n + 1) * sizeof(*ids)) : NULL;

    if (ids != NULL)
        c->slot_ids = ids;
    if (ids == NULL) {
        if (rc == DLP_OK)
            dlp_rules_errors_add(err, "out of memory");
        else
            dlp_rules_errors_add(err, "more than %d distinct rule names over this run: "
                                      "restart to load these rules", DLP_RULE_SLOTS_MAX);
        free(slots);
        dlp_matcher_free(m);
        dlp_ruleset_free(rules);
        return NULL;
    }
    /* what a rule a later reload removes is said to have been (stats: "rule_id") */
    for (size_t i = 0; i < rules->n; i++)
        c->slot_ids[slots[i]] = rules->rules[i].id;
    return dlp_engine_new(rules, m, slots, gen);
}

static void set_ruleset_gauges(out_ctx_t *c, const dlp_engine_t *e)
{
    atomic_store_explicit(&c->ctl_stats.c[DLP_STAT_RULES_GENERATION], e->gen,
                          memory_order_relaxed);
    atomic_store_explicit(&c->ctl_stats.c[DLP_STAT_RULES_LOADED], e->rules->n,
                          memory_order_relaxed);
}

/*
 * The names of the run's rule slots that e does not use: rules a reload
 * removed or renamed. Their counters stay in the stats ("loaded": false),
 * so that the per-rule counters still add up to the alerts. Under
 * notes_lock; on failure (memory) the previous list stays.
 */
static void note_gone(out_ctx_t *c, const dlp_engine_t *e)
{
    uint8_t *used = calloc(c->slots.n + 1, 1);
    const char **names = calloc(c->slots.n + 1, sizeof(*names));
    uint32_t *slots = calloc(c->slots.n + 1, sizeof(*slots));
    uint32_t *ids = calloc(c->slots.n + 1, sizeof(*ids));
    size_t n = 0;

    if (used == NULL || names == NULL || slots == NULL || ids == NULL) {
        free(names);
        free(slots);
        free(ids);
        goto out;
    }
    for (size_t i = 0; i < e->rules->n; i++)
        used[e->slots[i]] = 1;
    for (uint32_t k = 0; k < c->slots.n; k++) {
        if (used[k])
            continue;
        names[n] = c->slots.names[k];
        ids[n] = c->slot_ids[k];
        slots[n++] = k;
    }
    free(c->gone);
    free(c->gone_slots);
    free(c->gone_ids);
    c->gone = names;
    c->gone_slots = slots;
    c->gone_ids = ids;
    c->ngone = n;
out:
    free(used);
}

/* The first error of a refused reload, for the stats (the log has them all). */
static void note_refused(out_ctx_t *c, const dlp_rules_errors_t *err)
{
    char *msg = strdup(err->n > 0 ? err->msg[0] : "out of memory");

    pthread_mutex_lock(&c->notes_lock);
    if (msg != NULL) {
        free(c->reload_error);
        c->reload_error = msg;
    }
    pthread_mutex_unlock(&c->notes_lock);
}

static void notes_fini(out_ctx_t *c)
{
    free(c->gone);
    free(c->gone_slots);
    free(c->gone_ids);
    free(c->reload_error);
    free(c->slot_ids);
    c->gone = NULL;
    c->gone_slots = NULL;
    c->gone_ids = NULL;
    c->slot_ids = NULL;
    c->ngone = 0;
    c->reload_error = NULL;
}

static void reload(out_ctx_t *c)
{
    char hex[DLP_RULES_DIGEST_HEX];
    dlp_rules_errors_t err = {0};
    dlp_ruleset_t *rules = NULL;
    dlp_matcher_t *m = NULL;
    dlp_engine_t *e = NULL;
    uint32_t gen = dlp_engine_current_gen(&c->engines) + 1;
    uint64_t t0 = dlp_time_mono_ns();

    dlp_log(DLP_LOG_INFO, "SIGHUP: reloading the rules");
    if (dlp_detection_compile(c->cfg, c->cache, &rules, &m, &err) == DLP_OK)
        e = engine_make(c, rules, m, gen, &err);
    if (e == NULL) {
        for (size_t i = 0; i < err.n; i++)
            dlp_log(DLP_LOG_ERR, "reload: %s", err.msg[i]);
        dlp_log(DLP_LOG_ERR, "reload refused (%zu error%s): the rules in force stay", err.n,
                err.n == 1 ? "" : "s");
        note_refused(c, &err);
        dlp_stat_inc(&c->ctl_stats, DLP_STAT_RULES_RELOAD_FAILURES);
        dlp_rules_errors_fini(&err);
        return;
    }
    dlp_rules_errors_fini(&err);
    dlp_ruleset_digest_hex(e->rules, hex);
    pthread_mutex_lock(&c->notes_lock);
    dlp_engine_current_set(&c->engines, e);
    note_gone(c, e);
    free(c->reload_error); /* the rules in force are no longer the refused reload's old ones */
    c->reload_error = NULL;
    set_ruleset_gauges(c, e);
    pthread_mutex_unlock(&c->notes_lock);
    dlp_stat_inc(&c->ctl_stats, DLP_STAT_RULES_RELOADS);
    dlp_log(DLP_LOG_INFO, "rules reloaded: generation %u, %zu rules, digest %s, %.0f ms; new "
                          "flows use them, open flows finish under the rules they started with",
            gen, e->rules->n, hex, (double)(dlp_time_mono_ns() - t0) / 1e6);
}

/* Reloads on SIGHUP, off the packet path, until the reader is done. */
static void *control_main(void *arg)
{
    out_ctx_t *c = arg;

    for (;;) {
        if (atomic_exchange(&g_reload, 0))
            reload(c);
        if (atomic_load(&c->reader_done))
            return NULL;
        while (sem_wait(&g_ctl_wake) != 0 && errno == EINTR)
            ;
    }
}

static void reader_finished(out_ctx_t *c)
{
    atomic_store(&c->reader_done, 1);
    sem_post(&g_ctl_wake);
}

static void *output_main(void *arg)
{
    out_ctx_t *c = arg;
    uint64_t interval_ns = (uint64_t)c->cfg->stats_interval_s * 1000000000ULL;
    uint64_t last = dlp_time_mono_ns();
    unsigned idle_ms = 0;

    for (;;) {
        /* The last stats wait for a reload still compiling at the end of the input:
         * its log line says it happened, so the stats must count it. */
        bool done = atomic_load(&c->ctl_done);
        size_t n = dlp_output_drain(c->out);
        uint64_t now = dlp_time_mono_ns();

        if ((interval_ns && now - last >= interval_ns) || atomic_exchange(&g_stats_now, 0)) {
            write_stats(c);
            last = now;
        }
        if (done && n == 0)
            break;
        idle_ms = n > 0 ? 0 : dlp_runtime__idle_ms(idle_ms);
        if (idle_ms > 0) {
            struct timespec ts = {0, (long)idle_ms * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    dlp_output_settle(c->out); /* evidence captures: written before the last stats */
    write_stats(c);
    return NULL;
}

/* --- decisions -T reports too (runtime_int.h) ----------------------------- */

bool dlp_runtime__live(const dlp_config_t *cfg)
{
    return cfg->read_paths.n == 0 && cfg->ifaces.n > 0;
}

unsigned dlp_runtime__capture_threads(const dlp_config_t *cfg)
{
    unsigned n = cfg->capture_threads ? cfg->capture_threads : cfg->workers;

    return n == 0 ? 1 : n > CAPTURE_THREADS_MAX ? CAPTURE_THREADS_MAX : n;
}

unsigned dlp_runtime__cpus(void)
{
    return dlp_config_cpus(); /* as the default worker count */
}

/*
 * A reader thread is free work while it has a CPU of its own; when the
 * workers take every CPU it competes with them, and reading the input in
 * each worker (each skips the packets of the others) costs less than the
 * reader's copies and hand-overs (docs/design.md, "Who reads the files").
 */
unsigned dlp_runtime__file_readers(const dlp_config_t *cfg, unsigned cpus)
{
    unsigned w = cfg->workers ? cfg->workers : 1;

    if (w > CAPTURE_THREADS_MAX || cfg->file_readers == DLP_FILE_READERS_ONE)
        return 1;
    for (size_t i = 0; i < cfg->read_paths.n; i++)
        if (dlp_capture_path_is_stream(cfg->read_paths.v[i]))
            return 1;
    if (cfg->file_readers == DLP_FILE_READERS_EACH)
        return w;
    return w + 1 > cpus ? w : 1;
}

bool dlp_runtime__fanout(const dlp_config_t *cfg, unsigned threads)
{
    return threads > 1 || cfg->cluster_id_set;
}

int32_t dlp_runtime__fanout_group(const dlp_config_t *cfg, size_t i)
{
    return cfg->cluster_id_set ? (int32_t)(((uint32_t)cfg->cluster_id + i) & 0xffff)
                               : DLP_FANOUT_GROUP_AUTO;
}

bool dlp_runtime__syslog_local(const dlp_config_t *cfg, bool live)
{
    return cfg->syslog == 1 || (cfg->syslog == -1 && live);
}

static void live_opts(const dlp_config_t *cfg, dlp_capture_live_opts_t *o)
{
    dlp_capture_live_opts_default(o);
    o->snaplen = cfg->snaplen;
    o->buffer_bytes = cfg->pcap_buffer_bytes;
    o->timeout_ms = cfg->pcap_timeout_ms;
    o->promisc = cfg->promisc;
}

/* Handle k of a live run (the header's "Live handles"); groups[] as handle 0 left them. */
static dlp_capture_t *open_handle(out_ctx_t *c, unsigned k, int32_t *groups, char *err,
                                  size_t errlen)
{
    const dlp_config_t *cfg = c->cfg;
    const char *const *ifs = (const char *const *)cfg->ifaces.v;
    dlp_capture_live_opts_t o;
    dlp_capture_t *cap;

    live_opts(cfg, &o);
    o.count_if_drops = k == 0;
    if (!dlp_runtime__fanout(cfg, c->ncaps))
        return dlp_capture_open_live(ifs, cfg->ifaces.n, cfg->bpf, &o, &c->cap_stats[k], err,
                                     errlen);
    cap = dlp_capture_open_fanout(ifs, groups, cfg->ifaces.n, cfg->fanout_mode, cfg->bpf, &o,
                                  &c->cap_stats[k], err, errlen);
    for (size_t i = 0; cap != NULL && k == 0 && i < cfg->ifaces.n; i++)
        groups[i] = dlp_capture_fanout_group(cap, i);
    return cap;
}

static void log_handles(const out_ctx_t *c, const int32_t *groups)
{
    const dlp_config_t *cfg = c->cfg;

    for (size_t i = 0; i < cfg->ifaces.n; i++) {
        if (!dlp_runtime__fanout(cfg, c->ncaps))
            dlp_log(DLP_LOG_INFO, "%s: 1 capture thread", cfg->ifaces.v[i]);
        else
            dlp_log(DLP_LOG_INFO, "%s: %u capture threads in fanout group %d (%s)",
                    cfg->ifaces.v[i], c->ncaps, (int)groups[i],
                    dlp_config_fanout_name(cfg->fanout_mode));
    }
}

/*
 * SIGINT/SIGTERM while start-up blocks (the header of a capture on a pipe,
 * a JSON FIFO waiting for its reader) interrupts it: a stop asked for, said
 * as such, and the run ends with status 0 (no output is open to take stats).
 */
static bool stopped_at_start(const char *before)
{
    if (!atomic_load(&g_stop))
        return false;
    dlp_log(DLP_LOG_INFO, "stopped by a signal before %s", before);
    return true;
}

/* Opens the handles (c->ncaps set) and their counters; false after a message
 * on stderr (or a stop signal: stopped_at_start()). */
static bool open_capture(out_ctx_t *c)
{
    const dlp_config_t *cfg = c->cfg;
    int32_t groups[DLP_CAPTURE_MAX_IFACES];
    char err[512] = "";

    c->caps = calloc(c->ncaps, sizeof(*c->caps));
    c->cap_stats = dlp_calloc_aligned(c->ncaps * sizeof(*c->cap_stats));
    if (c->caps == NULL || c->cap_stats == NULL) {
        fprintf(stderr, "dlpsensor: out of memory\n");
        return false;
    }
    for (unsigned k = 0; k < c->ncaps; k++)
        dlp_stats_init(&c->cap_stats[k]);
    if (!c->live) {
        c->caps[0] = dlp_capture_open_files((const char *const *)cfg->read_paths.v,
                                            cfg->read_paths.n, cfg->bpf, &c->cap_stats[0], err,
                                            sizeof(err));
        for (unsigned k = 1; c->caps[0] != NULL && k < c->ncaps; k++)
            if ((c->caps[k] = dlp_capture_files_again(c->caps[0])) == NULL)
                snprintf(err, sizeof(err), "out of memory");
    } else if (cfg->ifaces.n > DLP_CAPTURE_MAX_IFACES) {
        snprintf(err, sizeof(err), "too many interfaces: %zu (at most %d)", cfg->ifaces.n,
                 DLP_CAPTURE_MAX_IFACES);
    } else {
        for (size_t i = 0; i < cfg->ifaces.n; i++)
            groups[i] = dlp_runtime__fanout_group(cfg, i);
        for (unsigned k = 0; k < c->ncaps; k++)
            if ((c->caps[k] = open_handle(c, k, groups, err, sizeof(err))) == NULL)
                break;
    }
    for (unsigned k = 0; k < c->ncaps; k++) {
        if (c->caps[k] == NULL) {
            if (!stopped_at_start("the input was opened"))
                fprintf(stderr, "dlpsensor: %s\n", err);
            return false;
        }
    }
    if (c->live)
        log_handles(c, groups);
    return true;
}

static void close_capture(out_ctx_t *c)
{
    for (unsigned k = 0; c->caps != NULL && k < c->ncaps; k++)
        dlp_capture_close(c->caps[k]);
    free(c->caps);
    free(c->cap_stats);
    c->caps = NULL;
    c->cap_stats = NULL;
}

static int run_packet_path(out_ctx_t *c)
{
    pthread_t out_thread, ctl_thread;
    dlp_dispatch_params_t dp = {
        .cfg = c->cfg,
        .cap = c->live ? NULL : c->caps[0],
        .caps = c->live || c->ncaps > 1 ? c->caps : NULL,
        .ncaps = c->live || c->ncaps > 1 ? c->ncaps : 0,
        .workers = c->cfg->workers,
        .file_mode = !c->live,
        .stop = &g_stop,
        .engines = &c->engines,
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
    if (pthread_create(&ctl_thread, NULL, control_main, c) != 0) {
        reader_finished(c);
        atomic_store(&c->ctl_done, 1);
        pthread_join(out_thread, NULL);
        goto out;
    }
    pthread_setname_np(ctl_thread, "dlp-control");
    rc = dlp_dispatch_start(c->disp);
    if (rc == DLP_OK)
        rc = dlp_dispatch_run(c->disp);
    reader_finished(c);
    pthread_join(ctl_thread, NULL);
    atomic_store(&c->ctl_done, 1);
    pthread_join(out_thread, NULL);
    status = rc == DLP_OK ? 0 : 1;
out:
    dlp_dispatch_free(c->disp);
    c->disp = NULL;
    return status;
}

/* The rules loaded at start become generation 1 (c->det keeps the key). */
static int start_engine(out_ctx_t *c)
{
    dlp_rules_errors_t err = {0};
    dlp_engine_t *e = engine_make(c, c->det.rules, c->det.matcher, 1, &err);

    c->det.rules = NULL;
    c->det.matcher = NULL;
    if (e == NULL) {
        for (size_t i = 0; i < err.n; i++)
            fprintf(stderr, "dlpsensor: %s\n", err.msg[i]);
        dlp_rules_errors_fini(&err);
        dlp_rule_slots_fini(&c->slots);
        free(c->slot_ids);
        c->slot_ids = NULL;
        return 1;
    }
    dlp_engine_current_init(&c->engines, e);
    set_ruleset_gauges(c, e);
    return 0;
}

/*
 * -u with evidence captures: the writer, running as USER, creates the files.
 * A directory the sensor makes is made here, before the drop, and given to
 * USER; one that exists must be writable by USER, checked after the drop
 * rather than found out at the first alert.
 */
static int evidence_dir_for_user(const dlp_config_t *cfg, const dlp_privdrop_target_t *user,
                                 char *err, size_t errlen)
{
    int fd, rc = 0;

    if (user == NULL || cfg->evidence_dir == NULL)
        return 0;
    if (mkdir(cfg->evidence_dir, 0700) != 0)
        return 0; /* exists (checked after the drop), or the output says why */
    fd = open(cfg->evidence_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown(fd, user->uid, user->gid) != 0) {
        snprintf(err, errlen, "evidence directory %s: cannot give it to %s: %s",
                 cfg->evidence_dir, cfg->user, strerror(errno));
        rc = 1;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* -u: reloads compile as USER. A cache USER cannot use would fail, and warn, at
 * every reload: said once here instead, and reloads compile without it. */
static void cache_after_drop(out_ctx_t *c, const char *who)
{
    if (c->cache == NULL || access(c->cache, R_OK | W_OK | X_OK) == 0)
        return;
    dlp_log(DLP_LOG_INFO, "rules cache %s: not usable by %s (%s): reloads compile without it",
            c->cache, who, strerror(errno));
    c->cache = NULL;
}

int dlp_runtime_run(const dlp_config_t *cfg, const dlp_privdrop_target_t *user)
{
    static out_ctx_t c; /* static: aligned counters, and signals reach it */
    char err[512] = "";
    int status;

    memset(&c, 0, sizeof(c));
    pthread_mutex_init(&c.notes_lock, NULL);
    c.cfg = cfg;
    c.live = dlp_runtime__live(cfg);
    c.ncaps = c.live ? dlp_runtime__capture_threads(cfg)
                     : dlp_runtime__file_readers(cfg, dlp_runtime__cpus());
    c.start_ns = dlp_time_mono_ns();
    dlp_stats_init(&c.ctl_stats);
    /* Before the rules compile (seconds): a SIGHUP then (systemctl reload)
     * must not kill the process; it is taken up once running, as a stop is. */
    install_signals();
    c.cache = dlp_detection_cache_dir(cfg, c.cache_buf, sizeof(c.cache_buf));
    status = dlp_detection_load(cfg, c.cache, user, &c.det);
    if (status != 0)
        return status;
    status = start_engine(&c);
    if (status != 0) {
        dlp_detection_fini(&c.det);
        return status;
    }
    status = 2;
    if (!open_capture(&c)) {
        status = atomic_load(&g_stop) ? 0 : 2;
        goto out;
    }
    status = evidence_dir_for_user(cfg, user, err, sizeof(err));
    if (status != 0) {
        fprintf(stderr, "dlpsensor: %s\n", err);
        goto out;
    }
    status = 2;
    c.out = dlp_output_new(cfg, dlp_runtime__syslog_local(cfg, c.live), c.live, err,
                           sizeof(err));
    if (c.out == NULL) {
        if (stopped_at_start("the outputs were opened"))
            status = 0;
        else
            fprintf(stderr, "dlpsensor: %s\n", err);
        goto out;
    }
    dlp_output_watch_stop(c.out, &g_stop); /* a reader that never reads cannot hold the stop */
    /* Everything privileged is open (interfaces, outputs, key, cache); no
     * thread has started yet (the evidence writer starts with its first flow). */
    if (user != NULL) {
        dlp_rc_t rc = dlp_privdrop(user, err, sizeof(err));
        if (rc != DLP_OK) {
            fprintf(stderr, "dlpsensor: -u %s: %s\n", cfg->user, err);
            status = rc == DLP_EINVAL ? 2 : 1;
            goto out;
        }
        if (dlp_output_evidence_unwritable(c.out)) {
            fprintf(stderr, "dlpsensor: evidence directory %s: not writable by %s\n",
                    cfg->evidence_dir, cfg->user);
            goto out;
        }
        cache_after_drop(&c, cfg->user);
    }
    for (unsigned k = 0; k < c.ncaps; k++)
        atomic_store(&g_caps[k], c.caps[k]);
    atomic_store(&g_ncaps, c.ncaps);
    status = run_packet_path(&c);
    dlp_output_close_json(c.out); /* its last events are written, or lost, before the status */
    if (status == 0 && dlp_output_json_failed(c.out))
        status = 1; /* events were lost (said when it happened) */
    /* An input file libpcap stopped reading before its end (said when it
     * happened): the events of what was read are written, but the run must
     * not look like a complete one. Only the first file reader counts. */
    if (status == 0 && !c.live && dlp_stat_get(&c.cap_stats[0], DLP_STAT_CAP_READ_ERRORS) > 0)
        status = 2;
    atomic_store(&g_ncaps, 0);
    for (unsigned k = 0; k < c.ncaps; k++)
        atomic_store(&g_caps[k], NULL);
out:
    dlp_output_free(c.out);
    close_capture(&c);
    dlp_engine_current_fini(&c.engines);
    notes_fini(&c);
    pthread_mutex_destroy(&c.notes_lock);
    dlp_rule_slots_fini(&c.slots);
    dlp_detection_fini(&c.det);
    return status;
}
