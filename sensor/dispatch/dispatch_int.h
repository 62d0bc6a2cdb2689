/*
 * dispatch_int.h - what the files of dispatch/ share: the worker object.
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

typedef struct dlp_worker_params {
    unsigned index;
    const dlp_config_t *cfg;
    dlp_ring_t *in;      /* full batches from the reader */
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
/* Thread entry: runs until it receives the end-of-input record. */
void *dlp_worker_main(void *w);
dlp_stats_t *dlp_worker_stats(dlp_worker_t *w);
/* Per-rule counters, [slot][dlp_rstat_t] (dlp_engine_t.slots); read relaxed
 * from any thread. */
const _Atomic uint64_t *dlp_worker_rule_stats(const dlp_worker_t *w);
bool dlp_worker_finished(const dlp_worker_t *w);

#endif
