/*
 * dispatch_int.h - what the files of dispatch/ share: the worker object.
 *
 * A worker is driven one of two ways, through the same entry points: by its
 * own thread draining batches from the reader (dlp_worker_main), or directly
 * by a live pipeline thread (dlp_worker_packet / _tick / _sync / _end), which
 * then is the worker's thread.
 */
#ifndef DLP_DISPATCH_INT_H
#define DLP_DISPATCH_INT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "dlp/config.h"
#include "dlp/engine.h"
#include "dlp/ring.h"
#include "dlp/stats.h"

typedef struct dlp_worker dlp_worker_t;
struct rec_pkt; /* batch.h */

typedef struct dlp_worker_params {
    unsigned index;
    unsigned nworkers;   /* the run's workers, which share the memory caps; 0 = cfg->workers */
    const dlp_config_t *cfg;
    dlp_ring_t *in;      /* full batches from the reader (NULL: driven directly) */
    dlp_ring_t *empty;   /* empty batches back to the reader */
    dlp_ring_t *events;  /* records to the output thread */
    bool file_mode;
    atomic_int *stop;
    dlp_engine_current_t *engines;
    const uint8_t *hmac_key;
    size_t hmac_key_len;
    uint64_t hash_seed; /* flow-table bucket hash, as the reader computes it */
} dlp_worker_params_t;

dlp_worker_t *dlp_worker_new(const dlp_worker_params_t *p);
void dlp_worker_free(dlp_worker_t *w);
/* Thread entry (reader + workers): runs until it receives the end-of-input record. */
void *dlp_worker_main(void *w);

/*
 * Direct entry points, all from the worker's one thread. packet: runs one
 * packet (r->pkt.data pointing at its frame; r->key, src_ep and key_hash made
 * as dlp_flow_table_get_keyed wants, with p->hash_seed). tick: packet time is
 * now 'now_us'; expires idle flows. sync: takes up a newly published rule
 * generation for the flows that start from now on (a relaxed-cost check when
 * there is none; call at batch boundaries). end: ends every flow (shutdown)
 * and marks the worker finished; nothing may follow.
 */
void dlp_worker_packet(dlp_worker_t *w, const struct rec_pkt *r);
void dlp_worker_tick(dlp_worker_t *w, uint64_t now_us);
void dlp_worker_sync(dlp_worker_t *w);
void dlp_worker_end(dlp_worker_t *w);

dlp_stats_t *dlp_worker_stats(dlp_worker_t *w);
/* Per-rule counters, [slot][dlp_rstat_t] (dlp_engine_t.slots); read relaxed
 * from any thread. */
const _Atomic uint64_t *dlp_worker_rule_stats(const dlp_worker_t *w);
bool dlp_worker_finished(const dlp_worker_t *w);

#endif
