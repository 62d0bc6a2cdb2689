/*
 * detect.h - the final stage: bytes -> rule matches -> validated values ->
 * per-(flow, rule) distinct values and thresholds -> alert records.
 *
 * A detect stream is one logical byte stream of a flow direction (the raw
 * reassembled egress stream; later also decoded bodies, attachments ...).
 * Matches are held until DLP_DETECT_LOOKAHEAD bytes after them have been
 * seen (or the stream ends), then validated on a window around them: a
 * validator can see the whole value (an e-mail's domain, an IBAN's length)
 * and a value reported at several ends by the matcher counts once.
 *
 * Values are never kept: a value is normalized, keyed-hashed
 * (HMAC-SHA256) and masked at once; only the hash prefix, the mask and the
 * offset survive. Distinct values are counted per (flow, rule) by hash.
 *
 * Threading: dlp_detect_t and everything made from it belong to one worker.
 */
#ifndef DLP_DETECT_H
#define DLP_DETECT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/alert.h"
#include "dlp/match.h"
#include "dlp/rules.h"
#include "dlp/stats.h"

typedef struct dlp_detect_params {
    const dlp_ruleset_t *rules;     /* borrowed, immutable */
    const dlp_matcher_t *matcher;   /* borrowed, immutable */
    const uint8_t *hmac_key;        /* borrowed */
    size_t hmac_key_len;
    dlp_ring_t *events;             /* this worker's ring to the output thread */
    bool wait;                      /* files: wait for room on the ring */
    const atomic_int *stop;
    dlp_stats_t *stats;             /* this worker's counters */
    /* Per-rule counters [slot][dlp_rstat_t] that outlive this object (reloads),
     * and each rule's slot; NULL: its own, rule index = slot. */
    _Atomic uint64_t *rstats;
    const uint32_t *slots;
    /* Distinct values counted across flows (rules with aggregate:), kept by
     * the caller so that a reload does not start them afresh: made at the
     * first rule generation that needs them, shared by the later ones (by
     * rule slot), freed with dlp_detect_agg_free(). NULL: its own. */
    struct dlp_agg **agg;
} dlp_detect_params_t;

typedef struct dlp_agg dlp_agg_t;
void dlp_detect_agg_free(dlp_agg_t *a);

typedef struct dlp_detect dlp_detect_t;
typedef struct dlp_detect_flow dlp_detect_flow_t;
typedef struct dlp_detect_stream dlp_detect_stream_t;

/* Per worker. Returns owned or NULL. */
dlp_detect_t *dlp_detect_new(const dlp_detect_params_t *p);
void dlp_detect_free(dlp_detect_t *d);

/*
 * The per-rule counters of a detector made without params.rstats (asserted:
 * those are indexed by slot, and their owner reads them): its own,
 * [rule][dlp_rstat_t], *nrules rows (its rule count); relaxed reads.
 */
const _Atomic uint64_t *dlp_detect_rule_stats(const dlp_detect_t *d, size_t *nrules);

/* Per flow; 'fi' in the flow's orientation (src = initiator). */
dlp_detect_flow_t *dlp_detect_flow_new(dlp_detect_t *d, const dlp_ev_flowinfo_t *fi);
/* The flow's application label and nDPI risk names (either may be NULL: unchanged). */
void dlp_detect_flow_set_app(dlp_detect_flow_t *df, const char *app_proto, const char *risks);
/*
 * A destination host name of the flow, host[0, n) (HTTP Host, TLS SNI, SMTP
 * recipient domain; copied) for allow-lists by host: a value is allowed by
 * host only when every host named in the flow so far is allowed. A name too
 * long to keep (over DLP_RULE_HOST_MAX), or holding a NUL byte, is not
 * remembered, and from then on no value of the flow is allowed by host.
 */
void dlp_detect_flow_add_host(dlp_detect_flow_t *df, const char *host, size_t n);
uint16_t dlp_detect_flow_alerts(const dlp_detect_flow_t *df);
/*
 * Evidence captures (evidence.h): fn(ctx, dir, off, len) is called for every
 * occurrence of a value a rule's validator accepted in the flow, whatever the
 * policy then decides (reported, allowed, out of context...): 'off' is where
 * it starts in the stream being written (in a block: the block's 'off' plus
 * its position), 'len' its length there. Nothing of the value is passed.
 */
typedef void (*dlp_detect_value_fn)(void *ctx, int dir, uint64_t off, size_t len);
void dlp_detect_flow_set_value_hook(dlp_detect_flow_t *df, dlp_detect_value_fn fn, void *ctx);
size_t dlp_detect_flow_mem(const dlp_detect_flow_t *df);
/*
 * Pushes one DLP_EV_FLOW_RULE record per rule that matched in the flow
 * (for the flow event that the caller pushes next). ts_us: event time.
 */
void dlp_detect_flow_report(dlp_detect_t *d, dlp_detect_flow_t *df, uint64_t ts_us);
/* Frees the flow state; its streams must be closed. Accepts NULL. */
void dlp_detect_flow_free(dlp_detect_t *d, dlp_detect_flow_t *df);

/*
 * A logical stream of direction 'dir' (0 from the initiator), of 'field'
 * ('name': the file name of an attachment or part, or NULL; copied).
 * NULL when no memory.
 */
dlp_detect_stream_t *dlp_detect_stream_new(dlp_detect_t *d, dlp_detect_flow_t *df, int dir,
                                           dlp_field_t field, const char *name);
/* The next n bytes; now_us is packet time (for events). */
void dlp_detect_write(dlp_detect_t *d, dlp_detect_stream_t *s, const uint8_t *p, size_t n,
                      uint64_t now_us);
/*
 * The stream's sender waits (its peer answers): what waits for bytes after it
 * (pending candidates, matches held back for a \b, events due) is decided now,
 * as at the end of the stream, so an idle connection's last value is reported
 * at once; the stream goes on.
 */
void dlp_detect_settle(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t now_us);
/* len bytes are missing: no value may span them. */
void dlp_detect_gap(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t len, uint64_t now_us);
/* End of the stream: pending matches are decided; frees s. Accepts NULL. */
void dlp_detect_close(dlp_detect_t *d, dlp_detect_stream_t *s, uint64_t now_us);
size_t dlp_detect_stream_mem(const dlp_detect_stream_t *s);

/*
 * Text an event carries beside its values (a file name, an HTTP Host, a TLS
 * server name) is chosen by the sender, who can write a card number into a
 * file name: in[0, n) is written to out (NUL-terminated, cut to cap - 1)
 * with every value a rule's validator accepts in it replaced by the rule's
 * mask, whatever the value's policy (allow-lists, thresholds, protocols)
 * would say; only a missing required context word, or an excluding one,
 * keeps a match as it is, as in the rule's own events. Text between the
 * values is shown only from in's first cap - 1 bytes (in may end in part of
 * a value a decoder's cut left, which a shorter mask must not pull into
 * view). Text the matcher cannot scan is written as '*'s. Returns the number of places masked
 * (values that overlap are one place, masked as '*'s).
 * Not from a matcher callback (it scans with the worker's scratch).
 */
size_t dlp_detect_redact(dlp_detect_t *d, const char *in, size_t n, char *out, size_t cap);

/*
 * A self-contained buffer of direction 'dir' (a datagram, the other version
 * of retransmitted bytes); 'off' is reported as the offset of p[0].
 */
void dlp_detect_block(dlp_detect_t *d, dlp_detect_flow_t *df, int dir, dlp_field_t field,
                      const uint8_t *p, size_t n, uint64_t off, uint64_t now_us);

#endif
