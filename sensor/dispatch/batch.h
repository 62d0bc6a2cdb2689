/*
 * batch.h - the unit the reader hands to a worker (private to dispatch/).
 *
 * A batch is a fixed buffer of records, each 8-byte aligned: a packet (its
 * decoded view, then a copy of its frame), a clock tick, or the end of the
 * input. Batches cycle between the reader and one worker through two SPSC
 * rings (full ones to the worker, empty ones back), so their number bounds
 * the memory in flight.
 */
#ifndef DLP_DISPATCH_BATCH_H
#define DLP_DISPATCH_BATCH_H

#include <stdint.h>

#include "dlp/limits.h"
#include "dlp/flow.h"
#include "dlp/packet.h"

enum { REC_PKT = 1, REC_TICK = 2, REC_END = 3 };

typedef struct rec_hdr {
    uint32_t kind;
    uint32_t size;  /* whole record, a multiple of 8 */
    uint64_t ts_us; /* REC_TICK: the clock */
} rec_hdr_t;

typedef struct rec_pkt {
    rec_hdr_t h;
    dlp_packet_t pkt; /* pkt.data is fixed up by the worker to the copy below */
    dlp_flow_key_t key; /* made by the reader: the worker's flow lookup is a probe */
    uint32_t key_hash;
    int32_t src_ep;
    uint8_t frame[];
} rec_pkt_t;

typedef struct dlp_batch {
    uint32_t used;
    uint32_t npkts;
    uint64_t born_ns; /* live: when its first record was written */
    _Alignas(8) uint8_t buf[DLP_BATCH_BYTES];
} dlp_batch_t;

static inline uint32_t rec_align(uint32_t n) { return (n + 7u) & ~7u; }

#endif
