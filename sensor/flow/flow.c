/*
 * flow.c - the per-worker flow table.
 *
 * A chained hash table (power-of-two buckets, doubled when the flow count
 * exceeds the bucket count) keyed by the canonical dlp_flow_key_t, plus one
 * doubly-linked list per timeout class and eviction rank, oldest at the
 * head. A flow moves to the tail of its list on every packet, and each class
 * has a single timeout, so each list is ordered by seen_us and expiry and
 * eviction only ever look at list heads: O(1) per packet, O(ended) per
 * expire.
 *
 * Eviction rank: a flow is "kept" (f->_keep) once it has something to lose
 * (flow.h); the memcap ends flows that are not kept first. Rank is part of
 * the list a flow is in rather than a scan, so that a flood of half-open
 * flows (Suricata's emergency mode answers the same flood) costs each
 * eviction one look at a few list heads. A flow is kept for good: rank only
 * ever moves up, once per flow.
 *
 * Invariants: a flow is in exactly one bucket chain and one class list;
 * t->mem = bucket array + sum of f->_mem; the FLOW_ACTIVE and FLOW_MEM
 * gauges move by the same deltas as t->count and t->mem; every flow leaves
 * through flow_end() (callback exactly once) or, without callback, through
 * dlp_flow_table_free().
 *
 * Time is packet time, as the input's clock: seen_us is the largest packet
 * time of the input at the flow's last packet (packet_clock()), so it grows
 * in list order even where the capture's time goes backwards. A flow is dead
 * at time T once T - seen_us >= timeout[class], both for expire() and for a
 * lookup that finds it, so the outcome does not depend on when expire() last
 * ran. last_ts_us, the flow's own latest packet time, only dates events.
 *
 * Thread: one worker owns the table; no locks, no globals.
 */
#include "dlp/flow.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dlp/hash.h"

#define BUCKETS_INIT 1024u
#define BUCKETS_MAX (1u << 31)
#define FLOW_ID_MASK ((1ULL << 53) - 1)

struct dlp_flow_table {
    dlp_flow_config_t cfg;
    dlp_stats_t *st;
    dlp_flow_end_cb cb;
    void *cb_ctx;
    dlp_flow_t **buckets;
    uint32_t nbuckets;
    size_t count;
    uint64_t mem;
    uint64_t hash_seed;
    /* [kept][class], least recently seen first */
    TAILQ_HEAD(flow_list, dlp_flow) lru[2][DLP_FLOW_TC__COUNT];
};

const char *dlp_flow_end_str(dlp_flow_end_t r)
{
    switch (r) {
    case DLP_FLOW_END_FIN:
        return "fin";
    case DLP_FLOW_END_RST:
        return "rst";
    case DLP_FLOW_END_TIMEOUT:
        return "timeout";
    case DLP_FLOW_END_SHUTDOWN:
        return "shutdown";
    case DLP_FLOW_END_NONE:
        break;
    }
    return "none";
}

void dlp_flow_config_default(dlp_flow_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->memcap = DLP_FLOW_MEMCAP;
    c->timeout_us[DLP_FLOW_TC_TCP_NEW] = DLP_FLOW_TIMEOUT_TCP_NEW_US;
    c->timeout_us[DLP_FLOW_TC_TCP_EST] = DLP_FLOW_TIMEOUT_TCP_EST_US;
    c->timeout_us[DLP_FLOW_TC_TCP_CLOSING] = DLP_FLOW_TIMEOUT_TCP_CLOSING_US;
    c->timeout_us[DLP_FLOW_TC_TCP_CLOSED] = DLP_FLOW_TIMEOUT_TCP_CLOSED_US;
    c->timeout_us[DLP_FLOW_TC_UDP] = DLP_FLOW_TIMEOUT_UDP_US;
    c->vlan_in_key = true;
    c->id_seed = 0;
}

/* ---- memory accounting -------------------------------------------------- */

static void mem_add(dlp_flow_table_t *t, uint64_t n)
{
    t->mem += n;
    dlp_stat_add(t->st, DLP_STAT_FLOW_MEM, n);
}

static void mem_sub(dlp_flow_table_t *t, uint64_t n)
{
    t->mem -= n;
    dlp_stat_sub(t->st, DLP_STAT_FLOW_MEM, n);
}

/* ---- class lists ---------------------------------------------------------- */

static void list_append(dlp_flow_table_t *t, dlp_flow_t *f)
{
    TAILQ_INSERT_TAIL(&t->lru[f->_keep][f->tclass], f, _lru);
}

static void list_unlink(dlp_flow_table_t *t, dlp_flow_t *f)
{
    TAILQ_REMOVE(&t->lru[f->_keep][f->tclass], f, _lru);
}

/* The least recently seen flow of rank 'keep'; ties go to the lower class. */
static dlp_flow_t *oldest_of(const dlp_flow_table_t *t, int keep)
{
    dlp_flow_t *best = NULL;

    for (int c = 0; c < DLP_FLOW_TC__COUNT; c++) {
        dlp_flow_t *h = TAILQ_FIRST(&t->lru[keep][c]);
        if (h && (!best || h->seen_us < best->seen_us))
            best = h;
    }
    return best;
}

/* The least recently seen flow of all; ties go to the flow not kept. */
static dlp_flow_t *oldest_flow(const dlp_flow_table_t *t)
{
    dlp_flow_t *f = oldest_of(t, 0);
    dlp_flow_t *k = oldest_of(t, 1);

    return !f || (k && k->seen_us < f->seen_us) ? k : f;
}

/*
 * Something to lose (flow.h): payload, packets both ways, and a TCP
 * connection past its handshake and not reset. A half-open flow, a scan's
 * SYN-ACK-RST, a single datagram (already scanned when it came) lose nothing
 * the sensor would have found by keeping them. Both ways: one side alone can
 * send anything, and a flood of one-packet "midstream" data segments (or of
 * datagram pairs) from outside would otherwise be kept, and evict, at the
 * cost of a SYN flood; a host answers such a segment with an RST, which
 * never makes a flow kept (the caller leaves out the RST itself).
 */
static bool worth_keeping(const dlp_flow_t *f)
{
    if (!f->_payload || f->pkts[0] == 0 || f->pkts[1] == 0)
        return false;
    if (f->key.proto == DLP_PROTO_TCP)
        return f->tclass == DLP_FLOW_TC_TCP_EST ||
               (f->tclass == DLP_FLOW_TC_TCP_CLOSING && f->close_reason != DLP_FLOW_END_RST);
    return true;
}

/*
 * Idle time is measured on the input's clock (the largest packet time so far),
 * not on the flow's own packet times: a capture whose time goes backwards
 * (merged or stitched files) would otherwise leave the LRU lists out of time
 * order, and which dead flows hide behind a live one would depend on the
 * other flows in the table, that is on the number of workers.
 */
static uint64_t packet_clock(const dlp_packet_t *p)
{
    return p->clock_us > p->ts_us ? p->clock_us : p->ts_us;
}

static bool is_dead(const dlp_flow_table_t *t, const dlp_flow_t *f, uint64_t now_us)
{
    return now_us >= f->seen_us && now_us - f->seen_us >= t->cfg.timeout_us[f->tclass];
}

/* ---- hash chains ---------------------------------------------------------- */

static uint32_t key_hash(const dlp_flow_table_t *t, const dlp_flow_key_t *k)
{
    return (uint32_t)dlp_hash_bytes(k, sizeof(*k), t->hash_seed);
}

static dlp_flow_t *hash_find(const dlp_flow_table_t *t, const dlp_flow_key_t *k, uint32_t h)
{
    for (dlp_flow_t *f = t->buckets[h & (t->nbuckets - 1)]; f; f = f->_hnext) {
        if (f->_hash == h && memcmp(&f->key, k, sizeof(*k)) == 0)
            return f;
    }
    return NULL;
}

static void hash_insert(dlp_flow_table_t *t, dlp_flow_t *f)
{
    dlp_flow_t **b = &t->buckets[f->_hash & (t->nbuckets - 1)];

    f->_hnext = *b;
    *b = f;
}

static void hash_unlink(dlp_flow_table_t *t, dlp_flow_t *f)
{
    dlp_flow_t **pp = &t->buckets[f->_hash & (t->nbuckets - 1)];

    while (*pp != f)
        pp = &(*pp)->_hnext;
    *pp = f->_hnext;
    f->_hnext = NULL;
}

/* Doubles the bucket array; on failure the chains just get longer. */
static void hash_grow(dlp_flow_table_t *t)
{
    uint32_t n = t->nbuckets * 2;
    dlp_flow_t **nb = calloc(n, sizeof(*nb));

    if (!nb)
        return;
    for (uint32_t i = 0; i < t->nbuckets; i++) {
        dlp_flow_t *f = t->buckets[i];
        while (f) {
            dlp_flow_t *next = f->_hnext;
            f->_hnext = nb[f->_hash & (n - 1)];
            nb[f->_hash & (n - 1)] = f;
            f = next;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    mem_add(t, (uint64_t)(n - t->nbuckets) * sizeof(*nb));
    t->nbuckets = n;
}

static bool needs_grow(const dlp_flow_table_t *t)
{
    return t->count + 1 > t->nbuckets && t->nbuckets < BUCKETS_MAX;
}

/* ---- ending --------------------------------------------------------------- */

static void count_end(dlp_flow_table_t *t, dlp_flow_end_t reason)
{
    switch (reason) {
    case DLP_FLOW_END_FIN:
        dlp_stat_inc(t->st, DLP_STAT_FLOW_END_FIN);
        break;
    case DLP_FLOW_END_RST:
        dlp_stat_inc(t->st, DLP_STAT_FLOW_END_RST);
        break;
    case DLP_FLOW_END_TIMEOUT:
        dlp_stat_inc(t->st, DLP_STAT_FLOW_END_TIMEOUT);
        break;
    case DLP_FLOW_END_SHUTDOWN:
        dlp_stat_inc(t->st, DLP_STAT_FLOW_END_SHUTDOWN);
        break;
    case DLP_FLOW_END_NONE:
        break;
    }
}

/* Unlinks before the callback so the table is consistent while it runs. */
static void flow_end(dlp_flow_table_t *t, dlp_flow_t *f, dlp_flow_end_t reason)
{
    hash_unlink(t, f);
    list_unlink(t, f);
    f->end_reason = (uint8_t)reason;
    count_end(t, reason);
    if (t->cb)
        t->cb(t->cb_ctx, f);
    mem_sub(t, f->_mem);
    t->count--;
    dlp_stat_sub(t->st, DLP_STAT_FLOW_ACTIVE, 1);
    free(f);
}

static dlp_flow_end_t close_or(const dlp_flow_t *f, dlp_flow_end_t reason)
{
    return f->close_reason != DLP_FLOW_END_NONE ? (dlp_flow_end_t)f->close_reason : reason;
}

/* ---- creation ------------------------------------------------------------- */

static uint64_t create_cost(const dlp_flow_table_t *t)
{
    uint64_t cost = sizeof(dlp_flow_t);

    if (needs_grow(t))
        cost += (uint64_t)t->nbuckets * sizeof(dlp_flow_t *);
    return cost;
}

/* Evicts flows until a new one fits under the memcap: the least recently
 * seen of those not kept, and only when none is left, of those kept. */
static bool make_room(dlp_flow_table_t *t)
{
    while (t->mem + create_cost(t) > t->cfg.memcap && t->count > 0) {
        dlp_flow_t *f = oldest_of(t, 0);
        if (f == NULL) {
            f = oldest_of(t, 1);
            dlp_stat_inc(t->st, DLP_STAT_FLOW_EVICTED_EST);
        }
        f->flags |= DLP_FLOW_F_EVICTED;
        dlp_stat_inc(t->st, DLP_STAT_FLOW_EVICTED);
        flow_end(t, f, close_or(f, DLP_FLOW_END_TIMEOUT));
    }
    return t->mem + create_cost(t) <= t->cfg.memcap;
}

static uint64_t flow_id(const dlp_flow_table_t *t, const dlp_flow_key_t *k, uint64_t ts_us)
{
    uint8_t buf[sizeof(*k) + sizeof(ts_us)];

    memcpy(buf, k, sizeof(*k));
    memcpy(buf + sizeof(*k), &ts_us, sizeof(ts_us));
    uint64_t id = dlp_hash_bytes(buf, sizeof(buf), t->cfg.id_seed) & FLOW_ID_MASK;
    return id ? id : 1;
}

static void flow_init(dlp_flow_table_t *t, dlp_flow_t *f, const dlp_packet_t *p, int src_ep)
{
    bool tcp = p->proto == DLP_PROTO_TCP;
    uint8_t syn_ack = DLP_TCP_SYN | DLP_TCP_ACK;

    f->first_ts_us = f->last_ts_us = p->ts_us;
    f->seen_us = packet_clock(p);
    f->flow_id = flow_id(t, &f->key, p->ts_us);
    f->init_ep = (uint8_t)src_ep;
    if (tcp && (p->tcp_flags & syn_ack) == syn_ack)
        f->init_ep ^= 1;
    if (tcp && !(p->tcp_flags & DLP_TCP_SYN))
        f->flags |= DLP_FLOW_F_MIDSTREAM;
    f->tclass = tcp ? DLP_FLOW_TC_TCP_NEW : DLP_FLOW_TC_UDP;
    f->_mem = sizeof(*f);
}

static dlp_flow_t *flow_create(dlp_flow_table_t *t, const dlp_packet_t *p, const dlp_flow_key_t *k,
                               uint32_t h, int src_ep)
{
    dlp_flow_t *f = NULL;

    if (!make_room(t))
        goto fail;
    f = calloc(1, sizeof(*f));
    if (!f)
        goto fail;
    if (needs_grow(t))
        hash_grow(t);
    f->key = *k;
    f->_hash = h;
    flow_init(t, f, p, src_ep);
    hash_insert(t, f);
    list_append(t, f);
    t->count++;
    mem_add(t, f->_mem);
    dlp_stat_inc(t->st, DLP_STAT_FLOWS);
    dlp_stat_inc(t->st, DLP_STAT_FLOW_ACTIVE);
    if (p->proto == DLP_PROTO_TCP)
        dlp_stat_inc(t->st, DLP_STAT_FLOW_TCP);
    else if (p->proto == DLP_PROTO_UDP)
        dlp_stat_inc(t->st, DLP_STAT_FLOW_UDP);
    else /* ICMP echo: a datagram flow of the UDP class (packet.h) */
        dlp_stat_inc(t->st, DLP_STAT_FLOW_ICMP);
    return f;
fail:
    dlp_stat_inc(t->st, DLP_STAT_FLOW_ALLOC_FAIL);
    return NULL;
}

/*
 * A found flow gives way to a new one when it is dead at the packet's time.
 * Whether a SYN on a closed TCP flow opens a new connection is the flow's
 * reassembly's to say (reasm.c, syn_seen: FINs acknowledged, or an RST and
 * the SYN answered): the worker then ends the flow and looks the packet up
 * again, so the rule lives in one place.
 */
static bool replace_stale(dlp_flow_table_t *t, dlp_flow_t *f, const dlp_packet_t *p)
{
    if (!is_dead(t, f, packet_clock(p)))
        return false;
    flow_end(t, f, close_or(f, DLP_FLOW_END_TIMEOUT));
    return true;
}

/* ---- public --------------------------------------------------------------- */

static bool config_ok(const dlp_flow_config_t *c)
{
    for (int i = 0; i < DLP_FLOW_TC__COUNT; i++) {
        if (c->timeout_us[i] == 0)
            return false;
    }
    return true;
}

dlp_flow_table_t *dlp_flow_table_new(const dlp_flow_config_t *c, dlp_stats_t *st,
                                     dlp_flow_end_cb cb, void *cb_ctx)
{
    dlp_flow_table_t *t = NULL;

    if (!c || !st || !config_ok(c))
        goto fail;
    t = calloc(1, sizeof(*t));
    if (!t)
        goto fail;
    for (int i = 0; i < 2 * DLP_FLOW_TC__COUNT; i++)
        TAILQ_INIT(&t->lru[i / DLP_FLOW_TC__COUNT][i % DLP_FLOW_TC__COUNT]);
    t->buckets = calloc(BUCKETS_INIT, sizeof(*t->buckets));
    if (!t->buckets)
        goto fail;
    t->cfg = *c;
    t->st = st;
    t->cb = cb;
    t->cb_ctx = cb_ctx;
    t->nbuckets = BUCKETS_INIT;
    /* Bucket placement is invisible in any output (ordering comes from the
     * lists), so a per-run random seed costs nothing and resists chain
     * flooding; the address is a fallback, not a secret. */
    if (c->hash_seed != 0)
        t->hash_seed = c->hash_seed;
    else if (getrandom(&t->hash_seed, sizeof(t->hash_seed), GRND_NONBLOCK) !=
             sizeof(t->hash_seed))
        t->hash_seed = dlp_hash_mix64((uint64_t)(uintptr_t)t ^ c->id_seed);
    mem_add(t, (uint64_t)BUCKETS_INIT * sizeof(*t->buckets));
    return t;
fail:
    if (t)
        free(t->buckets);
    free(t);
    return NULL;
}

void dlp_flow_table_free(dlp_flow_table_t *t)
{
    if (!t)
        return;
    dlp_flow_t *f;

    while ((f = oldest_flow(t)) != NULL) {
        list_unlink(t, f);
        free(f);
    }
    dlp_stat_sub(t->st, DLP_STAT_FLOW_ACTIVE, t->count);
    dlp_stat_sub(t->st, DLP_STAT_FLOW_MEM, t->mem);
    free(t->buckets);
    free(t);
}

uint32_t dlp_flow_key_hash(const dlp_flow_key_t *k, uint64_t seed)
{
    return (uint32_t)dlp_hash_bytes(k, sizeof(*k), seed);
}

uint64_t dlp_flow_table_seed(const dlp_flow_table_t *t) { return t->hash_seed; }

dlp_flow_t *dlp_flow_table_get(dlp_flow_table_t *t, const dlp_packet_t *p, int *dir, bool *created)
{
    dlp_flow_key_t k;
    int src_ep = dlp_flow_key_make(p, t->cfg.vlan_in_key, &k);

    return dlp_flow_table_get_keyed(t, p, &k, src_ep, key_hash(t, &k), dir, created);
}

dlp_flow_t *dlp_flow_table_get_keyed(dlp_flow_table_t *t, const dlp_packet_t *p,
                                     const dlp_flow_key_t *key, int src_ep, uint32_t h,
                                     int *dir, bool *created)
{
    dlp_flow_key_t k = *key;
    dlp_flow_t *f = hash_find(t, &k, h);
    bool is_new = false;

    if (f && replace_stale(t, f, p))
        f = NULL;
    if (!f) {
        f = flow_create(t, p, &k, h, src_ep);
        if (!f)
            return NULL;
        is_new = true;
    }
    int d = src_ep ^ f->init_ep;
    f->pkts[d]++;
    f->bytes[d] += p->wirelen;
    if (p->ts_us > f->last_ts_us)
        f->last_ts_us = p->ts_us;
    if (packet_clock(p) > f->seen_us)
        f->seen_us = packet_clock(p);
    f->_payload |= p->payload_len > 0;
    bool keep = !f->_keep && !(p->proto == DLP_PROTO_TCP && (p->tcp_flags & DLP_TCP_RST)) &&
                worth_keeping(f);
    if (keep || TAILQ_NEXT(f, _lru) != NULL) { /* to the young end, unless there already */
        list_unlink(t, f);
        f->_keep |= keep;
        list_append(t, f);
    }
    if (dir)
        *dir = d;
    if (created)
        *created = is_new;
    return f;
}

void dlp_flow_set_class(dlp_flow_table_t *t, dlp_flow_t *f, dlp_flow_tclass_t c)
{
    list_unlink(t, f);
    f->tclass = (uint8_t)c;
    f->_keep |= worth_keeping(f);
    list_append(t, f);
}

void dlp_flow_charge(dlp_flow_table_t *t, dlp_flow_t *f, int64_t delta)
{
    if (delta >= 0) {
        f->_mem += (uint64_t)delta;
        mem_add(t, (uint64_t)delta);
        return;
    }
    uint64_t give = (uint64_t)0 - (uint64_t)delta;
    uint64_t upper = f->_mem - sizeof(*f);
    assert(give <= upper);
    if (give > upper)
        give = upper; /* never below the flow's own size: t->mem must not wrap */
    f->_mem -= give;
    mem_sub(t, give);
}

void dlp_flow_table_end(dlp_flow_table_t *t, dlp_flow_t *f, dlp_flow_end_t reason)
{
    flow_end(t, f, reason);
}

/* Ends dead flows in the order they died (earliest deadline first). */
void dlp_flow_table_expire(dlp_flow_table_t *t, uint64_t now_us)
{
    for (;;) {
        dlp_flow_t *best = NULL;
        uint64_t best_dl = 0;
        for (int i = 0; i < 2 * DLP_FLOW_TC__COUNT; i++) {
            int c = i % DLP_FLOW_TC__COUNT;
            dlp_flow_t *h = TAILQ_FIRST(&t->lru[i / DLP_FLOW_TC__COUNT][c]);
            if (!h || !is_dead(t, h, now_us))
                continue;
            uint64_t dl = h->seen_us + t->cfg.timeout_us[c];
            if (!best || dl < best_dl) {
                best = h;
                best_dl = dl;
            }
        }
        if (!best)
            return;
        flow_end(t, best, close_or(best, DLP_FLOW_END_TIMEOUT));
    }
}

void dlp_flow_table_end_all(dlp_flow_table_t *t, dlp_flow_end_t reason)
{
    dlp_flow_t *f;

    while ((f = oldest_flow(t)) != NULL)
        flow_end(t, f, close_or(f, reason));
}

size_t dlp_flow_table_count(const dlp_flow_table_t *t)
{
    return t->count;
}

uint64_t dlp_flow_table_mem(const dlp_flow_table_t *t)
{
    return t->mem;
}
