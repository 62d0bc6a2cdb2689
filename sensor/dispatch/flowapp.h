/*
 * flowapp.h - a flow's application layer, in its worker (private to
 * dispatch/): which decoder each direction's bytes go through, the content
 * streams they end in (detection), what the flow event says about them.
 *
 * Threading: the worker that owns the flow.
 */
#ifndef DLP_FLOWAPP_H
#define DLP_FLOWAPP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/alert.h"
#include "dlp/app.h"
#include "dlp/classify.h"
#include "dlp/detect.h"
#include "dlp/evidence.h"
#include "dlp/flow.h"
#include "dlp/limits.h"
#include "dlp/stats.h"


typedef struct fapp_expect {
    dlp_app_expect_t e;
    uint64_t until_us;
} fapp_expect_t;

/* What the flows of one worker share. */
typedef struct fapp_env {
    dlp_detect_t *detect;           /* of the rules in force: new flows take it */
    dlp_classify_t *classify;       /* NULL: no nDPI (disabled) */
    bool raw_only;                  /* no decoders, no nDPI: every byte scanned raw */
    bool gate_media;                /* compressed media: only its text is scanned (media.h) */
    bool unzip;                     /* archives unpacked and scanned: ZIP (zip.h), gzip files */
    dlp_stats_t *stats;
    dlp_app_limits_t limits;
    const uint64_t *now_us;         /* the worker's packet clock */
    fapp_expect_t expect[DLP_FTP_EXPECT_MAX];
    /* flowapp.c: raw streams written and not settled since, oldest write first */
    struct fdir *idle_head, *idle_tail;
    /* flowapp.c: small writes to one detection stream during a decoder call */
    struct cstream *join_cs;
    size_t join_n;
    uint8_t join_buf[DLP_APP_JOIN_BYTES];
} fapp_env_t;

typedef struct fapp fapp_t;

/* egress[d]: direction d is inspected. */
fapp_t *fapp_new(fapp_env_t *env, const dlp_flow_t *f, const bool egress[2]);
void fapp_free(fapp_t *a);

/* Every packet of the flow, before reassembly (classification). */
void fapp_packet(fapp_t *a, const dlp_packet_t *p);
/* TCP: the ordered bytes of direction 'dir', gaps, the end of a direction. */
void fapp_data(fapp_t *a, int dir, const uint8_t *p, size_t n);
void fapp_gap(fapp_t *a, int dir, uint64_t len);
void fapp_end(fapp_t *a, int dir);
/* TCP: direction 'dir' reached a FIN its peer has not acknowledged yet. */
void fapp_fin(fapp_t *a, int dir);
/* Every packet-time tick of the worker: raw streams silent for DLP_SETTLE_IDLE_US are
 * settled (flowapp.c, raw_settle). */
void fapp_idle_settle(fapp_env_t *env, uint64_t now_us);
/* The other version of bytes at 'off' (overlapping segments that differ): scanned
 * with the stream's bytes around it (flowapp.c, "the other version"). */
void fapp_conflict(fapp_t *a, int dir, uint64_t off, const uint8_t *p, size_t n);
/* TCP: the urgent byte at 'off' (reasm.h, urgent()): left out of the stream the
 * decoders read, scanned in place as the other version (flowapp.c). */
void fapp_urgent(fapp_t *a, int dir, uint64_t off, uint8_t b);
/* TCP: how fapp_conflict() reads the delivered bytes still retained (reasm.h,
 * dlp_reasm_retained); without it a conflict is scanned with no bytes around it. */
typedef bool (*fapp_retained_fn)(void *ctx, int dir, uint64_t from, uint64_t to, uint8_t *out);
void fapp_set_retained(fapp_t *a, fapp_retained_fn fn, void *ctx);
/* UDP: one datagram; off = the direction's datagram bytes before it. */
void fapp_dgram(fapp_t *a, int dir, const uint8_t *p, size_t n, uint64_t off);

/* Evidence captures: where the flow's values are goes to 'evf' (borrowed, it
 * outlives a; NULL: off). */
void fapp_set_evidence(fapp_t *a, dlp_evidence_flow_t *evf);

/* The flow ends, or both its FINs are in (the worker's sink_closing): nDPI's
 * last word labels what is still to be found, before the reassembly flushes
 * what it held; then, at the end, fapp_finish(). Idempotent. */
void fapp_last_label(fapp_t *a);
/* At flow end: closes what is open. Then the summary, then fapp_free. */
void fapp_finish(fapp_t *a);
uint16_t fapp_alerts(const fapp_t *a);
/* Fills the flow event's application fields and per-direction inspection. */
void fapp_report(fapp_t *a, dlp_event_t *ev, uint64_t ts_us);
size_t fapp_mem(const fapp_t *a);

#endif
