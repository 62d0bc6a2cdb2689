/*
 * flow.h - the per-worker flow table.
 *
 * Each worker owns one table and everything in it; no locks. Flows are
 * keyed by the canonical 5-tuple (+ VLAN ids), live in one LRU list per
 * timeout class, and end exactly once, through the table's end callback,
 * for one of four reasons (fin, rst, timeout, shutdown). Time is packet
 * time: a replayed capture times out as it would have live.
 *
 * Memory: the table charges each flow's own size plus whatever the upper
 * layers charge to it (dlp_flow_charge). Before a flow is created, flows are
 * ended until the total is under the memcap (counted in FLOW_EVICTED; they
 * end with reason "timeout", or their close_reason, and DLP_FLOW_F_EVICTED
 * set): first those with nothing to lose, least recently seen first, then
 * the others, least recently seen first (FLOW_EVICTED_EST too). A flow has
 * something to lose once it carried payload and packets both ways and, TCP,
 * its connection is established (DLP_FLOW_TC_TCP_EST, or closing by FIN;
 * an RST never makes a flow kept): a SYN flood, a scan of half-open flows or
 * a flood of one-sided data segments or datagrams, however large, then only
 * ends its own kind, not the established flows that carry data.
 */
#ifndef DLP_FLOW_H
#define DLP_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "dlp/packet.h"
#include "dlp/rc.h"
#include "dlp/stats.h"

typedef enum {
    DLP_FLOW_END_NONE = 0,
    DLP_FLOW_END_FIN,
    DLP_FLOW_END_RST,
    DLP_FLOW_END_TIMEOUT,
    DLP_FLOW_END_SHUTDOWN,
} dlp_flow_end_t;

/* "fin", "rst", "timeout", "shutdown" (INTERFACE.md). */
const char *dlp_flow_end_str(dlp_flow_end_t r);

/* Timeout classes; a flow is in exactly one. */
typedef enum {
    DLP_FLOW_TC_TCP_NEW = 0,  /* handshake not complete, no data yet */
    DLP_FLOW_TC_TCP_EST,      /* established or carrying data */
    DLP_FLOW_TC_TCP_CLOSING,  /* one FIN seen */
    DLP_FLOW_TC_TCP_CLOSED,   /* both FINs, or RST: kept briefly for stragglers */
    DLP_FLOW_TC_UDP,
    DLP_FLOW_TC__COUNT
} dlp_flow_tclass_t;

#define DLP_FLOW_F_EVICTED 0x01  /* ended early by the memcap */
#define DLP_FLOW_F_MIDSTREAM 0x02 /* TCP picked up without its SYN */
#define DLP_FLOW_F_REUSED 0x04   /* ended because a new connection reused the tuple */

/*
 * A flow. Public fields are read by the worker; fields starting with '_'
 * belong to the table. Direction 0 is from the initiator (the side that sent
 * the first packet, or the SYN), direction 1 from the responder.
 */
typedef struct dlp_flow {
    dlp_flow_key_t key;
    uint64_t flow_id;         /* stable within a run, same for any --workers */
    uint64_t first_ts_us;
    uint64_t last_ts_us;
    uint64_t seen_us;         /* the input's clock at its last packet: what times it out */
    uint64_t pkts[2];
    uint64_t bytes[2];        /* wire bytes of the frames */
    uint8_t init_ep;          /* key endpoint (0/1) of the initiator */
    uint8_t tclass;           /* dlp_flow_tclass_t */
    uint8_t close_reason;     /* dlp_flow_end_t once a FIN/RST close was seen */
    uint8_t end_reason;       /* dlp_flow_end_t, set before the end callback */
    uint8_t flags;            /* DLP_FLOW_F_* */
    uint8_t _payload;         /* a packet carried payload */
    uint8_t _keep;            /* evicted only after every flow without it */
    void *user;               /* the worker's per-flow state; released in the end callback */
    struct dlp_flow *_hnext;
    TAILQ_ENTRY(dlp_flow) _lru; /* its class's list, least recently seen first */
    uint64_t _mem;
    uint32_t _hash;
} dlp_flow_t;

/* Address and port of the sender of direction 'dir'. */
static inline const uint8_t *dlp_flow_addr(const dlp_flow_t *f, int dir)
{
    return f->key.addr[f->init_ep ^ dir];
}
static inline uint16_t dlp_flow_port(const dlp_flow_t *f, int dir)
{
    return f->key.port[f->init_ep ^ dir];
}

typedef struct dlp_flow_config {
    uint64_t memcap;                        /* bytes, this table */
    uint64_t timeout_us[DLP_FLOW_TC__COUNT];
    bool vlan_in_key;
    uint64_t id_seed;                       /* same seed -> same flow_ids */
    uint64_t hash_seed;                     /* bucket hash seed; 0 = random */
} dlp_flow_config_t;

void dlp_flow_config_default(dlp_flow_config_t *c);

/*
 * Called exactly once per flow when it ends, with f->end_reason set; the
 * flow is freed after it returns. The callback must release f->user and must
 * not call back into the table.
 */
typedef void (*dlp_flow_end_cb)(void *ctx, dlp_flow_t *f);

typedef struct dlp_flow_table dlp_flow_table_t;

/*
 * Returns an owned table, or NULL when out of memory or when a timeout in
 * 'c' is 0. Borrows 'st' (counts FLOW_*, moves the gauges FLOW_ACTIVE and
 * FLOW_MEM by this table's deltas). The table's memory (dlp_flow_table_mem)
 * is its bucket array plus each flow's size and charges; the array is
 * charged from the start and grows only when the memcap leaves room.
 */
dlp_flow_table_t *dlp_flow_table_new(const dlp_flow_config_t *c, dlp_stats_t *st,
                                     dlp_flow_end_cb cb, void *cb_ctx);
/* Frees the table; flows still in it are freed without callbacks, so call
 * dlp_flow_table_end_all() first. Accepts NULL. */
void dlp_flow_table_free(dlp_flow_table_t *t);

/*
 * Finds the flow of *p (decoded DLP_DEC_OK) or creates it. Counts the packet
 * (pkts, bytes, last_ts_us) and moves the flow to the young end of its list.
 * *dir receives the packet's direction; *created (may be NULL) whether the
 * flow is new. A flow found idle past its class timeout is ended first
 * (timeout) and a new one created. Returns NULL, counted, when no memory.
 * "Idle past its timeout" is the rule dlp_flow_table_expire() uses
 * (p->ts_us - last_ts_us >= timeout), so the result does not depend on when
 * expire last ran. Port reuse (a SYN opening a new connection on a closed
 * flow's tuple) is not decided here but by the flow's TCP reassembly: the
 * caller ends the flow (DLP_FLOW_F_REUSED, FLOW_REUSED) and looks again.
 * Creation first evicts flows while the memcap would be exceeded
 * (FLOW_EVICTED): those with nothing to lose first (above).
 */
dlp_flow_t *dlp_flow_table_get(dlp_flow_table_t *t, const dlp_packet_t *p, int *dir,
                               bool *created);

/*
 * The same, for a caller that already made the packet's key (src_ep as
 * dlp_flow_key_make returned) and its hash, dlp_flow_key_hash(key, seed)
 * with this table's seed: the reader does it, off the worker's path.
 */
dlp_flow_t *dlp_flow_table_get_keyed(dlp_flow_table_t *t, const dlp_packet_t *p,
                                     const dlp_flow_key_t *key, int src_ep, uint32_t hash,
                                     int *dir, bool *created);
uint32_t dlp_flow_key_hash(const dlp_flow_key_t *k, uint64_t seed);
uint64_t dlp_flow_table_seed(const dlp_flow_table_t *t);

/* Moves f to timeout class c (young end); leaving DLP_FLOW_TC_TCP_NEW after
 * payload makes it a flow with something to lose. */
void dlp_flow_set_class(dlp_flow_table_t *t, dlp_flow_t *f, dlp_flow_tclass_t c);

/* Adds 'delta' bytes (may be negative) of upper-layer memory to f. Releasing
 * more than was charged is a bug (asserted; clamped in release builds). The
 * memcap is enforced at the next flow creation, not here. */
void dlp_flow_charge(dlp_flow_table_t *t, dlp_flow_t *f, int64_t delta);

/* Ends f now with 'reason' (callback, then free). */
void dlp_flow_table_end(dlp_flow_table_t *t, dlp_flow_t *f, dlp_flow_end_t reason);

/*
 * Ends every flow idle past its class timeout at packet time now_us
 * (last_ts_us + timeout <= now_us), earliest deadline first. A flow with a
 * close_reason ends with it, others with "timeout".
 */
void dlp_flow_table_expire(dlp_flow_table_t *t, uint64_t now_us);

/* Ends every flow, least recently seen first: with its close_reason if it
 * has one, else 'reason'. */
void dlp_flow_table_end_all(dlp_flow_table_t *t, dlp_flow_end_t reason);

size_t dlp_flow_table_count(const dlp_flow_table_t *t);
uint64_t dlp_flow_table_mem(const dlp_flow_table_t *t);

#endif
