/*
 * dispatch.h - the packet path, in one of two shapes. Either way each flow
 * belongs to one worker, which runs its packets to completion, and events
 * leave through the worker's own ring to the output thread.
 *
 * Reader + workers (files): one reader thread hands each packet to the
 * worker that owns its flow:
 *
 *   reader (capture -> decode -> defrag -> symmetric address-pair hash)
 *     --[per-worker SPSC ring of packet batches]--> worker i
 *     <--[per-worker SPSC ring of empty batches]--
 *   worker i (flow table -> TCP reassembly -> scan) --[event ring]--> output
 *
 * Batches amortise the ring operations: a batch carries many packets (each
 * a decoded dlp_packet_t view followed by a copy of its bytes) plus in-band
 * clock ticks, so every worker sees packet time advance at the same point
 * of the input whatever the number of workers: timeouts, and therefore the
 * events, do not depend on --workers. The reader waits for an empty batch
 * reading files (nothing is dropped); live, it never waits: a packet with
 * no room is dropped and counted.
 *
 * Pipelines (live, capture threads; files read by each worker): the kernel
 * already splits the traffic by flow (PACKET_FANOUT, capture.h), or each
 * pipeline reads all of the files and skips the packets of the others' address
 * pairs (the same choice the reader makes), so there is no dispatcher: pipeline i
 * is one thread that reads capture handle i, decodes, reassembles fragments
 * and runs worker i on each packet in the same thread, with nothing in
 * between. Its clock is the largest packet time it has seen, moved on by the
 * wall clock when its handle is idle; each DLP_TICK_US of it expires flows.
 * It takes up a new rule generation every DLP_PIPE_SYNC_PACKETS packets, at
 * each tick, and whenever its handle is idle (every DLP_CAPTURE_TIMEOUT_MS), and
 * polls its handle's counters every DLP_PIPE_STATS_US of its clock.
 */
#ifndef DLP_DISPATCH_H
#define DLP_DISPATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dlp/capture.h"
#include "dlp/config.h"
#include "dlp/engine.h"
#include "dlp/rc.h"
#include "dlp/ring.h"
#include "dlp/stats.h"

typedef struct dlp_dispatch dlp_dispatch_t;

#define DLP_PIPE_SYNC_PACKETS 64        /* pipeline: rule generation checked this often */
#define DLP_PIPE_STATS_US 250000ULL     /* pipeline: capture counters polled this often */

/* What a worker needs from outside the packet path (later: rules, keys). */
typedef struct dlp_dispatch_params {
    const dlp_config_t *cfg;       /* borrowed, immutable */
    dlp_capture_t *cap;            /* borrowed; used by the reader thread only */
    unsigned workers;
    bool file_mode;                /* wait instead of dropping */
    atomic_int *stop;              /* set to stop early (signals) */
    dlp_engine_current_t *engines; /* the rules in force (reloads publish here) */
    const uint8_t *hmac_key;       /* borrowed */
    size_t hmac_key_len;
    /*
     * Pipelines instead of reader + workers when ncaps > 0: caps[i] (borrowed)
     * is read by pipeline i, which is worker i; 'cap' and 'workers' are then
     * unused. Each handle's own counters go where it was opened with. Live,
     * the kernel split the traffic. Reading files (file_mode), every handle
     * reads all of them (dlp_capture_files_again): each pipeline keeps the
     * frames whose address pair is its own (the reader's choice of worker),
     * frames without addresses go to pipeline 0, and every pipeline's clock
     * moves with every frame, so ticks fall where the reader would put them.
     */
    dlp_capture_t *const *caps;
    unsigned ncaps;
} dlp_dispatch_params_t;

/*
 * Builds rings, batches and workers (not started). Returns owned or NULL,
 * with a reason logged.
 */
dlp_dispatch_t *dlp_dispatch_new(const dlp_dispatch_params_t *p);

/* Starts the worker threads (pipelines: the pipeline threads, which start reading). */
DLP_MUST_CHECK dlp_rc_t dlp_dispatch_start(dlp_dispatch_t *d);

/*
 * Runs the reader in the calling thread until the input ends or *stop is
 * set, then tells every worker to end its flows (shutdown) and joins them.
 * Pipelines: waits until every pipeline has ended (its handle broken with
 * dlp_capture_break, or *stop set), each one having ended its flows. A
 * pipeline whose capture fails breaks the others' handles.
 * Returns DLP_OK, or DLP_EIO if a capture failed.
 */
DLP_MUST_CHECK dlp_rc_t dlp_dispatch_run(dlp_dispatch_t *d);

void dlp_dispatch_free(dlp_dispatch_t *d);

/* For the output thread: the stats blocks (reader first; unused with pipelines) and
 * event rings. */
/*
 * Live: asks every pipeline to read its capture counters now and waits until
 * each has (at most timeout_ms; an idle one answers within the capture
 * timeout), so that counters read after it are no older than the packet
 * counts read before it. Files: returns at once. The output thread.
 */
void dlp_dispatch_poll_capture(dlp_dispatch_t *d, unsigned timeout_ms);

unsigned dlp_dispatch_nstats(const dlp_dispatch_t *d);
const dlp_stats_t *dlp_dispatch_stats(const dlp_dispatch_t *d, unsigned i);
unsigned dlp_dispatch_nrings(const dlp_dispatch_t *d);
dlp_ring_t *dlp_dispatch_ring(const dlp_dispatch_t *d, unsigned i);
/*
 * Sums the per-rule counters of every worker for the rules of e into
 * out[rule][dlp_rstat_t] (e->rules->n * DLP_RSTAT__COUNT entries, zeroed by
 * the caller). Counters are kept per rule name over the run (reloads).
 */
void dlp_dispatch_rule_stats(const dlp_dispatch_t *d, uint64_t *out, const dlp_engine_t *e);
/* The same for the counter slots slots[0..n) (dlp_rule_slots_t): out[i][dlp_rstat_t]
 * sums slot slots[i]; for the rules a reload removed, whose counters go on. */
void dlp_dispatch_slot_stats(const dlp_dispatch_t *d, uint64_t *out, const uint32_t *slots,
                             size_t n);
/* Largest packet time the reader has seen (0 before the first packet; pipelines:
 * pipeline 0's clock). */
uint64_t dlp_dispatch_packet_time(const dlp_dispatch_t *d);
/* True once every worker has finished (its ring holds its last events). */
bool dlp_dispatch_done(const dlp_dispatch_t *d);

#endif
