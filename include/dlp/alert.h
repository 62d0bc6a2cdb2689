/*
 * alert.h - the records workers hand to the output thread.
 *
 * A record is a fixed-size value with no pointers (rule names are copied
 * in, so a rules reload cannot pull anything from under the output thread).
 * Each worker pushes onto its own bounded SPSC ring; the output thread is
 * the only consumer. When the ring is full, a live sensor drops the record
 * and counts it (capture never waits); a file replay waits instead, so a
 * replay is complete and deterministic.
 *
 * A flow event is a sequence on one ring: zero or more DLP_EV_FLOW_RULE
 * records (one per rule that matched in the flow), then DLP_EV_FLOW, which
 * the output thread joins into one JSON object.
 */
#ifndef DLP_ALERT_H
#define DLP_ALERT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dlp/rc.h"
#include "dlp/ring.h"
#include "dlp/stats.h"

#define DLP_EV_MAX_MATCHES 16
#define DLP_EV_NAME_LEN 64

/*
 * Where in the application a value was found (INTERFACE.md "field").
 * NOTE: when adding one, add its name to dlp_field_name().
 */
typedef enum {
    DLP_FIELD_RAW = 0,          /* "raw": a stream no decoder claimed */
    DLP_FIELD_HTTP_URI,         /* "http.uri" */
    DLP_FIELD_HTTP_HEADER,      /* "http.header" */
    DLP_FIELD_HTTP_BODY,        /* "http.body" (parts of multipart bodies too) */
    DLP_FIELD_SMTP_HEADER,      /* "smtp.header" */
    DLP_FIELD_SMTP_BODY,        /* "smtp.body" */
    DLP_FIELD_SMTP_ATTACHMENT,  /* "smtp.attachment" */
    DLP_FIELD_FTP_DATA,         /* "ftp.data" */
    DLP_FIELD_DNS_QUERY,        /* "dns.query" */
    DLP_FIELD_WS_MESSAGE,       /* "ws.message": a WebSocket message or control payload */
    DLP_FIELD_SMTP_COMMAND,     /* "smtp.command": a client command line (not AUTH's) */
    DLP_FIELD_FTP_COMMAND,      /* "ftp.command": a client command line (not PASS's argument) */
    DLP_FIELD__COUNT
} dlp_field_t;

const char *dlp_field_name(dlp_field_t f);

/*
 * Why some bytes were not (fully) inspected; reported once per occurrence,
 * summed per direction in the flow event ("inspection"), counted in stats.
 * NOTE: when adding one, add its name to dlp_app_note_name() (alert/alert.c).
 */
typedef enum {
    DLP_NOTE_GAP = 0,         /* bytes missing from the capture */
    DLP_NOTE_ENCRYPTED,       /* TLS, STARTTLS, SSH...: content not inspectable */
    DLP_NOTE_DECODER_ERROR,   /* malformed content: the decoder gave up on it */
    DLP_NOTE_DECOMP_CAP,      /* decompressed output reached its cap */
    DLP_NOTE_DECOMP_RATIO,    /* decompression ratio above the bomb bound */
    DLP_NOTE_HEADER_CAP,      /* a header line or block over its bound */
    DLP_NOTE_DEPTH_CAP,       /* MIME nesting or decoder chain too deep */
    DLP_NOTE_UNSUPPORTED,     /* an encoding we do not decode (br, zstd, uuencode...) */
    DLP_NOTE_MEDIA,           /* compressed media: only its runs of text scanned (media.h) */
    DLP_NOTE_CREDENTIAL,      /* a credential line (SMTP AUTH, FTP PASS...) kept unscanned */
    DLP_NOTE__COUNT
} dlp_app_note_t;

/* "gap", "encrypted", "decoder_error", ... */
const char *dlp_app_note_name(dlp_app_note_t n);

/* Per-rule counters, one block per worker, summed for the stats event. */
typedef enum {
    DLP_RSTAT_CANDIDATES = 0, /* pattern matches */
    DLP_RSTAT_REJECTED,       /* ... the validator refused */
    DLP_RSTAT_FILTERED,       /* ... in a protocol or field the rule is not for */
    DLP_RSTAT_CONTEXT,        /* ... required context missing, or excluding context present */
    DLP_RSTAT_ALLOWED,        /* ... on an allow-list (value, hmac, address, host) */
    DLP_RSTAT_TEST_VALUES,    /* ... a published test value (4111 1111 1111 1111 ...) */
    DLP_RSTAT_UNLISTED,       /* ... not on the rule's edm list */
    DLP_RSTAT_VALUES,         /* distinct values in a flow */
    DLP_RSTAT_ALERTS,         /* dlp events raised */
    DLP_RSTAT__COUNT
} dlp_rstat_t;

/* "candidates", "rejected", ... */
const char *dlp_rstat_name(dlp_rstat_t k);

typedef enum { DLP_CONF_LOW = 0, DLP_CONF_MEDIUM, DLP_CONF_HIGH } dlp_confidence_t;
const char *dlp_confidence_name(dlp_confidence_t c);

typedef enum {
    DLP_EV_DLP = 1,   /* a rule's threshold met in a flow */
    DLP_EV_FLOW_RULE, /* a rule's totals, part of the flow event that follows */
    DLP_EV_FLOW,      /* end of a flow */
    DLP_EV_EVIDENCE,  /* a flow's evidence capture (evidence.h): the record owns
                       * u.evidence.flow; whoever takes it submits or frees it */
} dlp_event_type_t;

struct dlp_evidence_flow;

typedef struct dlp_ev_match {
    uint64_t offset;                 /* in the decoded stream */
    char masked[48];
    char hmac[33];                   /* 32 hex digits */
    uint8_t field;                   /* where it was found (dlp_field_t) */
    uint8_t dir;                     /* 0 from the initiator */
    uint8_t confidence;              /* dlp_confidence_t */
    char name[64];                   /* file name of the attachment or part, or "" */
} dlp_ev_match_t;

typedef struct dlp_ev_flowinfo {
    uint64_t flow_id;
    uint8_t src[16], dst[16];        /* dlp: the sender of the leaking bytes */
    uint16_t sport, dport;
    uint8_t proto, ipver;
    uint16_t vlan[2];
    char app_proto[32];
    char risks[160];                 /* nDPI flow risks, comma separated, or "" */
} dlp_ev_flowinfo_t;

typedef struct dlp_ev_rule {
    uint32_t rule_id;
    char name[DLP_EV_NAME_LEN];
    uint8_t category, severity;
    uint8_t confidence;              /* the highest of its matches */
    uint8_t combination;             /* matches[].name are rule names, no values */
    uint32_t count;                  /* distinct values (combination: categories) */
    uint32_t agg_values, agg_flows;  /* aggregate: met by agg_values distinct values from
                                      * the sender to the receiver in agg_flows flows */
    uint32_t agg_window_s;           /* ... within this window; 0: not by aggregation */
    uint8_t nmatches;
    dlp_ev_match_t m[DLP_EV_MAX_MATCHES];
} dlp_ev_rule_t;

typedef struct dlp_ev_dir {
    uint32_t notes[DLP_NOTE__COUNT]; /* why bytes were not inspected: occurrences */
    uint64_t uninspected_bytes;      /* bytes known not inspected (encrypted, skipped...) */
    uint64_t pkts, bytes;            /* frames, wire bytes */
    uint64_t stream_bytes;           /* reassembled (TCP) or datagram (UDP) bytes */
    uint64_t inspected_bytes;        /* bytes handed to detection */
    uint64_t gap_bytes;
    uint32_t gaps;
    uint32_t overlap_diff;
    uint8_t egress;                  /* this direction leaves the home network */
    uint8_t midstream;
} dlp_ev_dir_t;

typedef struct dlp_ev_flow {
    char http_host[96];              /* Host header of the first request */
    char tls_sni[96];                /* server name of a TLS/QUIC handshake (nDPI) */
    uint64_t start_us;
    uint8_t reason;                  /* dlp_flow_end_t */
    uint8_t flags;                   /* DLP_FLOW_F_* */
    uint8_t tcp_state;               /* dlp_tcp_state_t at the end */
    uint16_t alerts;                 /* dlp events raised for this flow */
    dlp_ev_dir_t dir[2];             /* [0] toserver (from the initiator) */
} dlp_ev_flow_t;

typedef struct dlp_event {
    uint8_t type;                    /* dlp_event_type_t */
    uint64_t ts_us;
    dlp_ev_flowinfo_t fl;
    union {
        dlp_ev_rule_t rule;          /* DLP_EV_DLP, DLP_EV_FLOW_RULE */
        dlp_ev_flow_t flow;          /* DLP_EV_FLOW */
        struct {
            struct dlp_evidence_flow *flow;
        } evidence;                  /* DLP_EV_EVIDENCE */
    } u;
} dlp_event_t;

/*
 * Pushes *ev onto 'ring'. 'wait' true (file replay): waits for room, giving
 * up only when *stop becomes true. Otherwise drops when full, counting
 * DLP_STAT_EVENTS_DROPPED in 'st' (NULL: the caller counts its own). Returns
 * true if the record was queued.
 */
bool dlp_alert_push(dlp_ring_t *ring, const dlp_event_t *ev, bool wait,
                    const atomic_int *stop, dlp_stats_t *st);

#endif
