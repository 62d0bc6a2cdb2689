/*
 * evidence_int.h - what the files of evidence/ (and its unit tests) share:
 * the layout of a flow's buffer and the steps of writing it.
 */
#ifndef DLP_EVIDENCE_INT_H
#define DLP_EVIDENCE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "dlp/evidence.h"

/* One kept packet: this header, then caplen frame bytes, padded to 8. */
typedef struct ev_rec {
    uint64_t ts_us;
    uint64_t off; /* stream offset of payload[0], when has_off */
    uint32_t caplen, wirelen;
    uint32_t l3_off, payload_off, payload_len;
    uint32_t l4_off;       /* the TCP/UDP header */
    uint32_t payload_wire; /* payload bytes sent (> payload_len: the capture cut it) */
    uint32_t seq;          /* TCP: sequence number of payload[0] */
    uint16_t linktype;     /* DLP_LINK_* */
    uint8_t dir, has_off, tcp, ipver, proto;
} ev_rec_t;

static inline uint8_t *ev_rec_frame(ev_rec_t *r)
{
    return (uint8_t *)(r + 1);
}
static inline uint32_t ev_rec_size(uint32_t caplen)
{
    return (uint32_t)((sizeof(ev_rec_t) + caplen + 7u) & ~7u);
}

/* Records in arrival order; 'head' skips those dropped from the front. */
typedef struct ev_chunk {
    struct ev_chunk *next;
    uint32_t cap, used, head;
    uint32_t pad_;
    _Alignas(8) uint8_t buf[];
} ev_chunk_t;

typedef struct ev_range {
    uint64_t lo, hi;
} ev_range_t;

typedef struct ev_anchor {
    uint64_t off;
    uint32_t seq;
    uint8_t set;
} ev_anchor_t;

struct dlp_evidence_flow {
    dlp_evidence_worker_t *w;
    TAILQ_ENTRY(dlp_evidence_flow) lru; /* on the worker's list 'list' */
    uint64_t flow_id;
    ev_chunk_t *first, *last;
    uint64_t bytes; /* frame bytes kept */
    uint32_t npkts;
    uint32_t next_cap; /* size of the next chunk */
    uint64_t mem;      /* charged to the worker: chunks + ranges */
    uint64_t dgram[2]; /* UDP: payload bytes of each direction so far */
    ev_anchor_t a_first[2], a_last[2];
    ev_range_t *r[2]; /* sorted, disjoint, not adjacent */
    uint16_t nr[2], capr[2];
    uint8_t list; /* EV_LIST_* */
    uint8_t alerted;
    uint8_t dropped;        /* its buffer went to the memcap after its alert: no file */
    uint8_t all[2];         /* a range could not be stored: the whole direction */
    uint8_t full;           /* the flow bound was hit: no packet is kept any more */
    uint32_t unresolved[2]; /* TCP packets kept without a stream offset yet */
    uint64_t kept_end[2];   /* the highest stream offset + 1 of the packets kept */
};

enum { EV_LIST_NONE = 0, EV_LIST_PRE, EV_LIST_ALERTED };

/* First: least recently fed. */
typedef TAILQ_HEAD(ev_list, dlp_evidence_flow) ev_list_t;

struct dlp_evidence_worker {
    dlp_evidence_limits_t l;
    dlp_stats_t *st;
    dlp_ring_t *events;
    bool wait;
    const atomic_int *stop;
    uint64_t buffered;         /* bytes of its flows' buffers (its thread) */
    ev_list_t lists[2];        /* [0] before their alert, [1] alerted */
    _Atomic uint64_t inflight; /* handed over, not yet freed (the writer subtracts) */
    atomic_uint refs;          /* the worker, and each flow handed over */
};

/* Iteration over a flow's records, oldest first. */
typedef struct ev_iter {
    ev_chunk_t *c;
    uint32_t pos;
} ev_iter_t;

void dlp_evidence__iter(const dlp_evidence_flow_t *f, ev_iter_t *it);
ev_rec_t *dlp_evidence__next(ev_iter_t *it);

/*
 * The stream offset of r's payload: recorded (UDP, or TCP with an anchor
 * known when it came), else from the direction's first anchor. False when
 * neither exists (a TCP direction never delivered from a packet).
 */
bool dlp_evidence__offset(const dlp_evidence_flow_t *f, const ev_rec_t *r, uint64_t *off);

/* Overwrites with 'X' every payload byte of f inside a range (module
 * comment), and sets the TCP/UDP checksum of each packet it changed to the
 * one of its new bytes (a wrong one if the old one was wrong; 0 when the
 * capture cut the segment short: the old one is a sum over the value).
 * Returns how many bytes it overwrote. */
uint64_t dlp_evidence__redact_all(dlp_evidence_flow_t *f);

/*
 * The pcap image of f: a 24-byte header, then each packet. Packets of another
 * link type than the first (rebuilt IP fragments are raw IP) are written as
 * their IP datagram, behind a made-up Ethernet header in an Ethernet file;
 * in other files they are left out.
 *
 * _size: its length (0: no packet in it). _render: the image in memory (the
 * tests), built without _size, so that they can check it; *out malloc'd;
 * the length, or 0 with *out NULL (no packet, out of memory). _write_file:
 * creates DIR/<flow_id>.pcap (0600, O_EXCL, O_NOFOLLOW) under dirfd and
 * writes the image through buf[0, cap); DLP_OK, or DLP_EIO with errno set
 * (the partial file removed).
 */
size_t dlp_evidence__size(const dlp_evidence_flow_t *f);
size_t dlp_evidence__render(const dlp_evidence_flow_t *f, uint8_t **out);
dlp_rc_t dlp_evidence__write_file(int dirfd, const dlp_evidence_flow_t *f, uint8_t *buf,
                                  size_t cap);

#endif
