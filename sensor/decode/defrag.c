/*
 * defrag.c - IPv4 and IPv6 fragment reassembly (defrag.h).
 *
 * A datagram being rebuilt is found by its key (ipver, src, dst, id, VLAN
 * ids, and for IPv4 the protocol) in a chained hash table, and sits on one
 * age list in creation order, which serves both timeouts and eviction. Its
 * bytes are a list of disjoint ranges sorted by offset: a new fragment adds
 * only the bytes no earlier fragment covered, so the first bytes to arrive
 * win, and the datagram is complete when the last fragment is known and the
 * ranges add up to its length.
 *
 * IPv6 is keyed without the next header (RFC 8200 4.5: fragments of one
 * packet may carry different values and only the offset-0 one counts).
 * Following Linux, an IPv4 non-last fragment whose length is not a multiple
 * of 8 is trimmed and the IPv6 one dropped; a fragment contradicting the
 * known end of its datagram drops the datagram.
 *
 * Invariants: d->mem is the sum of dg->mem, which counts the datagram and
 * each range (struct + data); ranges never overlap and, once the last
 * fragment is known, lie in [0, dg->end); the age list is ordered by
 * first_ts because datagrams are stamped with a clock that never goes back.
 *
 * Thread: one table per thread (the reader), no locks.
 */
#include "dlp/defrag.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/hash.h"

#define IP4_MAX 65535u         /* whole IPv4 datagram */
#define IP6_PAYLOAD_MAX 65535u /* IPv6 payload after the fixed header */
#define IP6_HLEN 40u
#define IP6_FRAG_HLEN 8u
#define IP4_HLEN_MIN 20u
#define IP4_HLEN_MAX 60u
#define OUT_MAX (IP6_HLEN + IP6_PAYLOAD_MAX)
#define BUCKETS_MAX (1u << 20)

typedef struct frag_range {
    struct frag_range *next; /* by offset */
    uint32_t off, len;
    uint8_t data[];
} frag_range_t;

typedef struct dg_key {
    uint8_t src[16], dst[16];
    uint32_t id;
    uint16_t vlan[DLP_VLAN_MAX];
    uint8_t ipver, proto, vlan_count, pad_;
} dg_key_t;

typedef struct dgram {
    dg_key_t key;
    struct dgram *hnext;         /* hash chain */
    struct dgram *older, *newer; /* age list */
    frag_range_t *ranges;
    uint64_t first_ts;
    uint64_t mem;
    uint32_t hash;
    uint32_t nfrags;  /* fragments accepted, duplicates included */
    uint32_t covered; /* bytes in ranges */
    uint32_t max_end; /* highest end of a range */
    uint32_t end;     /* data length, once the last fragment is known */
    bool have_last;
    bool have_first;
    uint8_t nexthdr; /* IPv6: from the offset-0 fragment */
    uint8_t hdr_len;
    uint8_t hdr[IP4_HLEN_MAX]; /* IPv4 header or IPv6 fixed header of the offset-0 fragment */
} dgram_t;

struct dlp_defrag {
    dlp_defrag_config_t cfg;
    dlp_stats_t *st;
    dgram_t **buckets;
    uint32_t mask;
    uint32_t count;
    dgram_t *oldest, *newest;
    uint64_t mem;
    uint64_t clock; /* highest packet time seen */
    uint64_t seed;
    uint8_t *out;
};

/* One fragment, checked, as the table sees it. */
typedef struct frag_view {
    const uint8_t *l3;
    const uint8_t *data;
    uint32_t off, len;
    uint32_t hdr_len; /* IPv4 header, or the IPv6 fixed header */
    bool last;
} frag_view_t;

typedef struct frag_scan {
    uint32_t pieces, newbytes;
    bool overlap, differ;
} frag_scan_t;

void dlp_defrag_config_default(dlp_defrag_config_t *c)
{
    c->memcap = DLP_DEFRAG_MEMCAP;
    c->max_datagrams = DLP_DEFRAG_MAX_DATAGRAMS;
    c->max_frags = DLP_DEFRAG_MAX_FRAGS;
    c->timeout_us = DLP_DEFRAG_TIMEOUT_US;
}

dlp_defrag_t *dlp_defrag_new(const dlp_defrag_config_t *c, dlp_stats_t *st)
{
    dlp_defrag_t *d = NULL;
    uint32_t n = 16;

    if (c == NULL || st == NULL || c->memcap == 0 || c->max_datagrams == 0 || c->max_frags == 0)
        return NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        goto fail;
    d->cfg = *c;
    d->st = st;
    while (n < c->max_datagrams && n < BUCKETS_MAX)
        n <<= 1;
    d->mask = n - 1;
    d->buckets = calloc(n, sizeof(*d->buckets));
    d->out = malloc(OUT_MAX);
    if (d->buckets == NULL || d->out == NULL)
        goto fail;
    d->seed = dlp_hash_mix64((uint64_t)(uintptr_t)d); /* chains are not predictable across runs */
    return d;
fail:
    dlp_defrag_free(d);
    return NULL;
}

static void mem_charge(dlp_defrag_t *d, dgram_t *dg, uint64_t n)
{
    dg->mem += n;
    d->mem += n;
    dlp_stat_add(d->st, DLP_STAT_FRAG_MEM, n);
}

static void dg_drop(dlp_defrag_t *d, dgram_t *dg)
{
    dgram_t **pp = &d->buckets[dg->hash & d->mask];
    while (*pp != dg)
        pp = &(*pp)->hnext;
    *pp = dg->hnext;
    if (dg->older != NULL)
        dg->older->newer = dg->newer;
    else
        d->oldest = dg->newer;
    if (dg->newer != NULL)
        dg->newer->older = dg->older;
    else
        d->newest = dg->older;
    for (frag_range_t *r = dg->ranges, *next; r != NULL; r = next) {
        next = r->next;
        free(r);
    }
    d->mem -= dg->mem;
    dlp_stat_sub(d->st, DLP_STAT_FRAG_MEM, dg->mem);
    d->count--;
    free(dg);
}

void dlp_defrag_free(dlp_defrag_t *d)
{
    if (d == NULL)
        return;
    while (d->oldest != NULL)
        dg_drop(d, d->oldest);
    free(d->buckets);
    free(d->out);
    free(d);
}

void dlp_defrag_expire(dlp_defrag_t *d, uint64_t now_us)
{
    if (now_us > d->clock)
        d->clock = now_us;
    while (d->oldest != NULL && now_us > d->oldest->first_ts &&
           now_us - d->oldest->first_ts > d->cfg.timeout_us) {
        dlp_stat_inc(d->st, DLP_STAT_FRAG_TIMEOUTS);
        dg_drop(d, d->oldest);
    }
}

uint64_t dlp_defrag_mem(const dlp_defrag_t *d)
{
    return d->mem;
}

/* Checks what the decoder promised and the table relies on. */
static bool frag_view(const dlp_packet_t *p, frag_view_t *v)
{
    uint64_t data_off = (uint64_t)p->l3_off + p->frag_hdr_len;

    if (p->frag_off == 0 && !p->frag_more)
        return false;
    if (p->payload_off != data_off || data_off + p->payload_len > p->caplen ||
        p->payload_len != p->payload_wire) /* cut by the capture: cannot be rebuilt */
        return false;
    if (p->ipver == 4) {
        if (p->frag_hdr_len < IP4_HLEN_MIN || p->frag_hdr_len > IP4_HLEN_MAX)
            return false;
        v->hdr_len = p->frag_hdr_len;
    } else if (p->ipver == 6) {
        if (p->frag_hdr_len < IP6_HLEN + IP6_FRAG_HLEN)
            return false;
        if (p->frag_more && (p->payload_len & 7))
            return false;
        v->hdr_len = IP6_HLEN;
    } else {
        return false;
    }
    v->l3 = p->data + p->l3_off;
    v->data = p->data + data_off;
    v->off = p->frag_off;
    v->len = p->frag_more ? p->payload_len & ~7u : p->payload_len;
    v->last = !p->frag_more;
    uint32_t limit = p->ipver == 4 ? IP4_MAX - IP4_HLEN_MIN : IP6_PAYLOAD_MAX;
    return v->len > 0 && v->off + v->len <= limit;
}

static void key_make(const dlp_packet_t *p, dg_key_t *k)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->src, p->src, 16);
    memcpy(k->dst, p->dst, 16);
    k->id = p->frag_id;
    k->ipver = p->ipver;
    k->proto = p->ipver == 4 ? p->proto : 0;
    k->vlan_count = p->vlan_count < DLP_VLAN_MAX ? p->vlan_count : DLP_VLAN_MAX;
    for (int i = 0; i < k->vlan_count; i++)
        k->vlan[i] = p->vlan[i];
}

static dgram_t *dg_find(const dlp_defrag_t *d, const dg_key_t *k, uint32_t hash)
{
    for (dgram_t *dg = d->buckets[hash & d->mask]; dg != NULL; dg = dg->hnext) {
        if (dg->hash == hash && memcmp(&dg->key, k, sizeof(*k)) == 0)
            return dg;
    }
    return NULL;
}

static dgram_t *dg_create(dlp_defrag_t *d, const dg_key_t *k, uint32_t hash)
{
    dgram_t *dg = calloc(1, sizeof(*dg));
    if (dg == NULL)
        return NULL;
    dg->key = *k;
    dg->hash = hash;
    dg->first_ts = d->clock;
    dg->hnext = d->buckets[hash & d->mask];
    d->buckets[hash & d->mask] = dg;
    dg->older = d->newest;
    if (d->newest != NULL)
        d->newest->newer = dg;
    else
        d->oldest = dg;
    d->newest = dg;
    d->count++;
    mem_charge(d, dg, sizeof(*dg));
    return dg;
}

/* A fragment that contradicts the datagram's known end. */
static bool dg_conflicts(const dgram_t *dg, const frag_view_t *v)
{
    uint32_t end = v->off + v->len;
    if (v->last)
        return (dg->have_last && end != dg->end) || end < dg->max_end;
    return dg->have_last && end > dg->end;
}

/* What inserting v would add, and whether it overlaps held bytes. */
static void frag_scan(const frag_range_t *r, const frag_view_t *v, frag_scan_t *s)
{
    uint32_t cur = v->off, end = v->off + v->len;

    memset(s, 0, sizeof(*s));
    for (; r != NULL && cur < end && r->off < end; r = r->next) {
        uint32_t rend = r->off + r->len;
        if (rend <= cur)
            continue;
        if (r->off > cur) {
            s->pieces++;
            s->newbytes += r->off - cur;
            cur = r->off;
        }
        uint32_t oend = rend < end ? rend : end;
        s->overlap = true;
        if (memcmp(r->data + (cur - r->off), v->data + (cur - v->off), oend - cur) != 0)
            s->differ = true;
        cur = oend;
    }
    if (cur < end) {
        s->pieces++;
        s->newbytes += end - cur;
    }
}

static bool range_add(dlp_defrag_t *d, dgram_t *dg, frag_range_t **link, uint32_t off, uint32_t len,
                      const uint8_t *bytes)
{
    frag_range_t *r = malloc(sizeof(*r) + len);
    if (r == NULL)
        return false;
    r->off = off;
    r->len = len;
    memcpy(r->data, bytes, len);
    r->next = *link;
    *link = r;
    dg->covered += len;
    if (off + len > dg->max_end)
        dg->max_end = off + len;
    mem_charge(d, dg, sizeof(*r) + len);
    return true;
}

/* Adds the bytes of v that no range holds yet, keeping ranges sorted and disjoint. */
static bool frag_insert(dlp_defrag_t *d, dgram_t *dg, const frag_view_t *v)
{
    frag_range_t **link = &dg->ranges;
    uint32_t cur = v->off, end = v->off + v->len;

    while (cur < end) {
        frag_range_t *r = *link;
        if (r != NULL && r->off + r->len <= cur) {
            link = &r->next;
            continue;
        }
        uint32_t stop = (r != NULL && r->off < end) ? r->off : end;
        if (stop > cur) {
            if (!range_add(d, dg, link, cur, stop - cur, v->data + (cur - v->off)))
                return false;
            link = &(*link)->next;
            cur = stop;
        } else {
            cur = r->off + r->len;
            link = &r->next;
        }
    }
    return true;
}

/*
 * Evicts the oldest datagrams until 'need' more bytes (and, when *dgp is
 * NULL, one more datagram) fit. False if *dgp itself was the oldest and was
 * evicted (*dgp becomes NULL), or if 'need' alone exceeds the memcap.
 */
static bool make_room(dlp_defrag_t *d, dgram_t **dgp, uint64_t need)
{
    bool creating = *dgp == NULL;

    if (need > d->cfg.memcap) {
        dlp_stat_inc(d->st, DLP_STAT_FRAG_INVALID);
        return false;
    }
    while (d->mem + need > d->cfg.memcap || (creating && d->count >= d->cfg.max_datagrams)) {
        dgram_t *old = d->oldest;
        dlp_stat_inc(d->st, DLP_STAT_FRAG_EVICTED);
        dg_drop(d, old);
        if (old == *dgp) {
            *dgp = NULL;
            return false;
        }
    }
    return true;
}

static uint16_t ip4_checksum(const uint8_t *h, uint32_t len)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t dg_rebuild(const dgram_t *dg, uint8_t *o)
{
    uint32_t hl = dg->hdr_len, total = hl + dg->end;

    memcpy(o, dg->hdr, hl);
    for (const frag_range_t *r = dg->ranges; r != NULL; r = r->next)
        memcpy(o + hl + r->off, r->data, r->len);
    if (dg->key.ipver == 4) {
        o[2] = (uint8_t)(total >> 8);
        o[3] = (uint8_t)total;
        o[6] &= 0xc0; /* keep DF and the reserved bit, clear MF and the offset */
        o[7] = 0;
        o[10] = o[11] = 0;
        uint16_t cs = ip4_checksum(o, hl);
        o[10] = (uint8_t)(cs >> 8);
        o[11] = (uint8_t)cs;
    } else {
        o[4] = (uint8_t)(dg->end >> 8);
        o[5] = (uint8_t)dg->end;
        o[6] = dg->nexthdr;
    }
    return total;
}

static void dg_note_fragment(dgram_t *dg, const dlp_packet_t *p, const frag_view_t *v)
{
    dg->nfrags++;
    if (v->last) {
        dg->have_last = true;
        dg->end = v->off + v->len;
    }
    if (v->off == 0 && !dg->have_first) {
        dg->have_first = true;
        dg->hdr_len = (uint8_t)v->hdr_len;
        memcpy(dg->hdr, v->l3, v->hdr_len);
        dg->nexthdr = p->frag_nexthdr;
    }
}

/*
 * Holds v in its datagram *dgp (created if NULL) within the bounds, counting
 * what it refuses. On failure *dgp is NULL if the datagram was dropped.
 */
static dlp_rc_t dg_hold(dlp_defrag_t *d, dgram_t **dgp, const dg_key_t *k, uint32_t hash,
                        const frag_view_t *v)
{
    dgram_t *dg = *dgp;
    frag_scan_t sc;
    dlp_rc_t rc = DLP_ELIMIT;

    if (dg != NULL && dg_conflicts(dg, v)) {
        rc = DLP_EPROTO; /* the receiver drops it too (Linux ip_frag_queue) */
        goto drop;
    }
    if (dg != NULL && dg->nfrags >= d->cfg.max_frags)
        goto drop;
    frag_scan(dg != NULL ? dg->ranges : NULL, v, &sc);
    uint64_t need = (uint64_t)sc.pieces * sizeof(frag_range_t) + sc.newbytes;
    if (!make_room(d, dgp, dg == NULL ? need + sizeof(dgram_t) : need))
        return DLP_ELIMIT;
    if (dg == NULL && (dg = *dgp = dg_create(d, k, hash)) == NULL) {
        dlp_stat_inc(d->st, DLP_STAT_FRAG_INVALID);
        return DLP_ELIMIT;
    }
    if (sc.overlap) {
        dlp_stat_inc(d->st, DLP_STAT_FRAG_OVERLAPS);
        if (sc.differ)
            dlp_stat_inc(d->st, DLP_STAT_FRAG_OVERLAP_DIFF);
    }
    if (frag_insert(d, dg, v))
        return DLP_OK;
drop:
    dg_drop(d, dg);
    *dgp = NULL;
    dlp_stat_inc(d->st, DLP_STAT_FRAG_INVALID);
    return rc;
}

dlp_rc_t dlp_defrag_add(dlp_defrag_t *d, const dlp_packet_t *p, const uint8_t **out,
                        uint32_t *out_len)
{
    frag_view_t v;
    dg_key_t k;

    *out = NULL;
    *out_len = 0;
    dlp_stat_inc(d->st, DLP_STAT_FRAG_FRAGMENTS);
    dlp_defrag_expire(d, p->ts_us);
    if (!frag_view(p, &v)) {
        dlp_stat_inc(d->st, DLP_STAT_FRAG_INVALID);
        return DLP_EPROTO;
    }
    key_make(p, &k);
    uint32_t hash = (uint32_t)dlp_hash_bytes(&k, sizeof(k), d->seed);
    dgram_t *dg = dg_find(d, &k, hash);
    dlp_rc_t rc = dg_hold(d, &dg, &k, hash, &v);
    if (rc != DLP_OK)
        return rc;
    dg_note_fragment(dg, p, &v);
    if (!dg->have_last || dg->covered != dg->end)
        return DLP_AGAIN;
    if (dg->key.ipver == 4 && dg->hdr_len + dg->end > IP4_MAX) {
        dg_drop(d, dg); /* the offset-0 header is longer than later fragments assumed */
        dlp_stat_inc(d->st, DLP_STAT_FRAG_INVALID);
        return DLP_EPROTO;
    }
    *out_len = dg_rebuild(dg, d->out);
    *out = d->out;
    dlp_stat_inc(d->st, DLP_STAT_FRAG_REASSEMBLED);
    dg_drop(d, dg);
    return DLP_OK;
}
