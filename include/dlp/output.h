/*
 * output.h - the cold path: event records -> JSON lines and syslog.
 *
 * Only the output thread (and main, before and after the packet path runs)
 * calls these. Workers never do: they push records (alert.h) onto their
 * rings and the output thread drains them here.
 */
#ifndef DLP_OUTPUT_H
#define DLP_OUTPUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/capture.h"
#include "dlp/config.h"
#include "dlp/rc.h"
#include "dlp/ring.h"
#include "dlp/rules.h"
#include "dlp/stats.h"

typedef struct dlp_output dlp_output_t;

/*
 * Opens the outputs 'cfg' asks for: JSON lines to cfg->json_path ("-" or
 * NULL = stdout; files are created 0600 and appended to), the local syslog
 * when 'use_syslog', and the remote collector cfg->syslog_remote
 * ("udp://HOST:PORT" or "tcp://HOST:PORT", RFC 5424). 'live': capture is
 * never to wait on an output; reading files a full syslog receiver or
 * evidence queue is waited for. Returns owned, or NULL with a one-line
 * reason in err.
 */
dlp_output_t *dlp_output_new(const dlp_config_t *cfg, bool use_syslog, bool live, char *err,
                             size_t errlen);
void dlp_output_free(dlp_output_t *o);

/*
 * -T: whether dlp_output_new() could open 'path' for the JSON events (NULL
 * or "-": stdout, yes), without creating it: an existing file writable, or
 * a directory that takes a new one. false with the reason, worded as the
 * start would word it ("PATH: No such file or directory"), in err. A
 * permission the caller lacks is not an error unless it is root (the
 * sensor opens its outputs as root, before -u). A directory that does not
 * exist yet (the unit's LogsDirectory=, made when the service starts) is no
 * error either: true, with *later set and the start's reason in err.
 */
bool dlp_output_check_json(const char *path, bool *later, char *err, size_t errlen);

/* Registers a worker's event ring (borrowed). */
DLP_MUST_CHECK dlp_rc_t dlp_output_add_ring(dlp_output_t *o, dlp_ring_t *r);

/* Writes every record queued on the rings. Returns how many were taken. */
size_t dlp_output_drain(dlp_output_t *o);

/*
 * Waits until what the drains handed to slower writers is written (evidence
 * captures: cfg->evidence_dir, written by their own thread) and gives the
 * remote syslog collector its last chance (DLP_SYSLOG_CLOSE_FLUSH_MS; what
 * it did not take is counted dropped and said), so the final stats count
 * it. The output thread, after its last drain.
 */
void dlp_output_settle(dlp_output_t *o);


/* Everything one stats event reports. */
typedef struct dlp_output_stats_in {
    const dlp_stats_t *total;                /* summed counters */
    const dlp_ruleset_t *rs;                 /* with rstats: "rules"; or NULL */
    const uint64_t *rstats;                  /* [rule][dlp_rstat_t] */
    const dlp_capture_iface_stats_t *ifs;    /* live: "interfaces", one per interface */
    size_t nifs;
    const dlp_stats_t *const *workers;       /* "workers": each one's kind-W counters */
    size_t nworkers;
    uint64_t ts_us;
    double elapsed_s;
    const char *const *gone;                 /* rules no longer loaded (a reload removed or */
    const uint64_t *gone_stats;              /* renamed them): [ngone][dlp_rstat_t], under */
    size_t ngone;                            /* "rules" with "loaded": false */
    const uint32_t *gone_ids;                /* [ngone]: the rule_id each had last, or NULL */
    const char *reload_error;                /* ruleset.last_reload_error, or NULL */
} dlp_output_stats_in_t;

/*
 * Writes a stats event from the summed counters in->total; when in->rs is
 * not NULL, the per-rule counters rstats[rule][dlp_rstat_t] under "rules";
 * ts_us is the event time (packet time for files), elapsed_s the run time so
 * far; "interfaces": {NAME: {"received", "kernel_drops",
 * "if_drops"}} when nifs > 0 (merged over an interface's sockets), and
 * "workers": [{"packets", "cpu_ms"}, ...] in worker order when nworkers > 0.
 * With rs, "ruleset" also gets "digest" (the set's SHA-256, hex), and
 * "last_reload_error" when reload_error is not NULL.
 */
void dlp_output_stats_event(dlp_output_t *o, const dlp_output_stats_in_t *in);

void dlp_output_flush(dlp_output_t *o);

/*
 * Flushes the JSON events and closes their file (stdout: flushes it), so
 * that a loss there is known before the exit status is: said, and
 * dlp_output_json_failed() is true after. Nothing is written to JSON after
 * it. The output thread must be done; dlp_output_free() does it if not done.
 */
void dlp_output_close_json(dlp_output_t *o);

/*
 * Live or not, a JSON reader that does not read (a pipe) is waited for at
 * most DLP_JSON_STOP_GRACE_MS in all once *stop is set (borrowed; the
 * run's SIGINT/SIGTERM flag); the events not written then are counted lost.
 * Call it before the output thread starts.
 */
void dlp_output_watch_stop(dlp_output_t *o, const atomic_int *stop);

/* A write, flush or the close of the JSON events failed this run (the events
 * lost in a failed write or flush are counted in events_dropped). */
bool dlp_output_json_failed(const dlp_output_t *o);

/* Evidence captures are on and this process cannot write their files (-u). */
bool dlp_output_evidence_unwritable(const dlp_output_t *o);

/* Records the calling thread's CPU time as output.cpu_ms: call it from the
 * output thread before summing its counters. */
void dlp_output_note_cpu(dlp_output_t *o);

/* The output thread's own counters (syslog.*), for the stats sum. */
const dlp_stats_t *dlp_output_counters(const dlp_output_t *o);

#endif
