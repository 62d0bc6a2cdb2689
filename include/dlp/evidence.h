/*
 * evidence.h - evidence captures (--evidence-dir): the packets of every flow
 * that raised a dlp alert, written to DIR/<flow_id>.pcap with the bytes of
 * each value found in it overwritten with 'X' (unless --evidence-raw), and
 * so the credentials the decoders tell apart (app.h, sink secret(): SMTP
 * AUTH, FTP PASS, HTTP Authorization and cookies), which are no values but
 * must not leak from a capture either: to this module both are ranges.
 *
 * Three parts, three threads, no I/O on the packet path:
 *  - per flow, in its worker (dlp_evidence_flow_t): a copy of every packet of
 *    a flow that has an egress direction. Before the flow's first alert the
 *    copies sit in a bounded pre-alert buffer (oldest dropped first, counted);
 *    after it they are kept until the flow ends or its bound is hit. With them:
 *    where the values are, as ranges of stream offsets per direction
 *    (dlp_evidence_redact), and how TCP sequence numbers map to stream offsets
 *    (dlp_evidence_anchor). Ranges are only ever widened, never dropped.
 *  - per worker (dlp_evidence_worker_t): the worker's memory bound over its
 *    flows' buffers plus those handed over and not yet written (oldest flows'
 *    buffers dropped beyond it, those before their alert first); at the end of
 *    an alerted flow its buffer leaves as a DLP_EV_EVIDENCE record on the
 *    worker's event ring (alert.h): a file replay waits for room, live drops
 *    and counts it, as for events.
 *  - the writer (dlp_evidence_t), its own thread: takes the flows the output
 *    thread passes on (dlp_evidence_submit), overwrites every payload byte at
 *    a stream offset inside a range (the whole payload for a UDP datagram, or
 *    for a TCP direction whose sequence mapping is unknown; and a TCP
 *    packet's bytes before its direction's first stream byte, which detection
 *    never saw), and writes the file: created 0600 with O_EXCL|O_NOFOLLOW
 *    (an existing file is never replaced), pcap with microsecond timestamps
 *    and the capture's link type, within the run's total bound.
 *
 * A flow is written once, at its end, when every range is known: a value
 * found late in a flow can still lie in a packet buffered early (its
 * retransmission, its lookahead, a compressed body). The price is memory
 * (bounded per flow and per worker) and latency (the file appears when the
 * flow ends).
 */
#ifndef DLP_EVIDENCE_H
#define DLP_EVIDENCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/config.h"
#include "dlp/limits.h"
#include "dlp/packet.h"
#include "dlp/rc.h"
#include "dlp/ring.h"
#include "dlp/stats.h"

typedef struct dlp_evidence_limits {
    uint64_t max_flow_bytes;  /* packet (frame) bytes kept per flow */
    uint64_t max_total_bytes; /* file bytes written per run */
    uint64_t prealert_bytes;  /* frame bytes kept per flow before its first alert */
    uint32_t prealert_pkts;   /* frames kept per flow before its first alert */
    uint64_t memcap;          /* per worker: buffered + handed over, not yet written */
    bool raw;                 /* keep the values (no redaction) */
} dlp_evidence_limits_t;

void dlp_evidence_limits_default(dlp_evidence_limits_t *l);
/* Those of cfg for one of 'nworkers' workers (memcap split; the pre-alert
 * bound at most the flow bound). */
void dlp_evidence_limits_from(const dlp_config_t *cfg, unsigned nworkers, dlp_evidence_limits_t *l);

typedef struct dlp_evidence_worker dlp_evidence_worker_t;
typedef struct dlp_evidence_flow dlp_evidence_flow_t;
typedef struct dlp_evidence dlp_evidence_t;

/* --- the worker's side (its thread only) ------------------------------------ */

/*
 * Per worker. 'st' (borrowed) gets the evidence.* counters of the packet
 * path; finished flows go to 'events' (borrowed), waiting for room when
 * 'wait' until *stop. Returns owned or NULL when out of memory.
 */
dlp_evidence_worker_t *dlp_evidence_worker_new(const dlp_evidence_limits_t *l, dlp_stats_t *st,
                                               dlp_ring_t *events, bool wait,
                                               const atomic_int *stop);
/* After every flow of the worker ended. Accepts NULL. Flows handed over keep
 * what they need of it until the writer is done with them. */
void dlp_evidence_worker_free(dlp_evidence_worker_t *w);

/* A flow with an egress direction. Returns owned (until _flow_end) or NULL. */
dlp_evidence_flow_t *dlp_evidence_flow_new(dlp_evidence_worker_t *w, uint64_t flow_id);

/*
 * Every decoded packet of the flow, in order, before it is processed
 * (copied). 'dir' 0 is from the initiator; 'alerted': the flow has raised a
 * dlp event (from then on packets are kept up to max_flow_bytes).
 */
void dlp_evidence_packet(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f, const dlp_packet_t *p,
                         int dir, bool alerted);

/* TCP: the byte with sequence number 'seq' of direction 'dir' is at stream
 * offset 'off' (reassembly delivered it straight from the packet). */
void dlp_evidence_anchor(dlp_evidence_flow_t *f, int dir, uint32_t seq, uint64_t off);

/*
 * Stream offsets [lo, hi) of direction 'dir' hold (part of) a value: their
 * bytes are overwritten in every packet carrying them. UDP offsets count the
 * direction's datagram payload bytes; a datagram touching a range is
 * overwritten whole.
 */
void dlp_evidence_redact(dlp_evidence_flow_t *f, int dir, uint64_t lo, uint64_t hi);

/* Every payload byte of direction 'dir' is overwritten (a direction that is not
 * inspected: nothing in it is known to hold no value). */
void dlp_evidence_redact_dir(dlp_evidence_flow_t *f, int dir);

/*
 * The flow ended: when 'alerted' and packets were kept, its buffer is handed
 * over (a DLP_EV_EVIDENCE record on the events ring), otherwise freed. f is
 * gone either way.
 */
void dlp_evidence_flow_end(dlp_evidence_worker_t *w, dlp_evidence_flow_t *f, bool alerted);

/* Frees a flow that was handed over (any thread: a consumer that drops the
 * record). Accepts NULL. */
void dlp_evidence_flow_free(dlp_evidence_flow_t *f);

/* --- the writer ------------------------------------------------------------------ */

/*
 * Opens the directory 'dir' (created 0700 when missing; its parent must
 * exist) and starts the writer thread. 'wait' (file replay): submit waits
 * for room. Logs the warning of raw captures. Returns owned, or NULL with a
 * one-line reason in err.
 */
dlp_evidence_t *dlp_evidence_new(const char *dir, const dlp_evidence_limits_t *l, bool wait,
                                 char *err, size_t errlen);
/* Waits for the queued flows to be written, stops the thread. Accepts NULL. */
void dlp_evidence_free(dlp_evidence_t *e);

/*
 * One caller thread (the output thread): takes f (from a DLP_EV_EVIDENCE
 * record). Returns false when it was dropped, f freed: the queue is full
 * (live), or the writer thread could not be started (tried again at most
 * every 10 s; logged once, then rate-limited). The caller counts the drop.
 */
bool dlp_evidence_submit(dlp_evidence_t *e, dlp_evidence_flow_t *f);
/* The submitting thread: waits until every flow submitted is written. */
void dlp_evidence_settle(dlp_evidence_t *e);
/* The writer's counters (evidence.files, bytes, ...), read relaxed. */
const dlp_stats_t *dlp_evidence_counters(const dlp_evidence_t *e);

/* Whether this process can create files in the directory (after -u). */
bool dlp_evidence_writable(const dlp_evidence_t *e);

#endif
