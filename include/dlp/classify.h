/*
 * classify.h - application protocol identification; the only user of nDPI.
 *
 * One dlp_classify_t per worker (an nDPI detection module: not thread-safe,
 * and creating modules must not run in parallel: dlp_classify_new
 * serialises it). Each flow gets a dlp_classify_flow_t and is fed its raw
 * packets (both directions, capture order, L3 bytes) until nDPI reaches a
 * verdict, or gives up after a bounded number of packets; then the nDPI
 * state is freed at once and only the result is kept (a few dozen bytes).
 * No nDPI type appears in this header.
 */
#ifndef DLP_CLASSIFY_H
#define DLP_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/packet.h"
#include "dlp/rc.h"

/* nDPI's own names (INTERFACE.md: app_proto is nDPI's name): for a flow it
 * could not name, and for an FTP data connection, which the sensor names
 * from the control connection it parsed. */
#define DLP_APP_UNKNOWN "Unknown"
#define DLP_APP_FTP_DATA "FTP_DATA"

typedef struct dlp_classify dlp_classify_t;
typedef struct dlp_classify_flow dlp_classify_flow_t;

/* The verdict, kept for the whole flow. */
typedef struct dlp_classify_result {
    char app_proto[32];      /* nDPI's name: "HTTP", "TLS.Google", "SMTP", "DNS", DLP_APP_UNKNOWN */
    char host[96];           /* HTTP Host, TLS SNI or DNS query name, when nDPI saw it */
    uint64_t risks;          /* nDPI risk bits (see dlp_classify_risk_names) */
    uint8_t done;            /* no more packets are needed */
    uint8_t guessed;         /* nDPI gave up and guessed (by port) */
    uint8_t encrypted;       /* TLS, QUIC, SSH...: content is not inspectable */
    uint8_t host_cut;        /* host filled nDPI's buffer: it may have been cut (at either end) */
} dlp_classify_result_t;

/* Returns owned or NULL (with a log line). 'max_packets': per flow, then give up. */
dlp_classify_t *dlp_classify_new(unsigned max_packets);
void dlp_classify_free(dlp_classify_t *c);

/* Per flow: NULL when out of memory (the flow stays DLP_APP_UNKNOWN). */
dlp_classify_flow_t *dlp_classify_flow_new(dlp_classify_t *c);
/*
 * Feeds one decoded packet (p->l3_off/l3_len are the IP datagram). Returns
 * true once the result is final (then the nDPI state has been freed and
 * further calls do nothing).
 */
bool dlp_classify_packet(dlp_classify_t *c, dlp_classify_flow_t *cf, const dlp_packet_t *p);
/* At flow end (or when the caller wants an answer now): gives up if needed. */
const dlp_classify_result_t *dlp_classify_result(dlp_classify_t *c, dlp_classify_flow_t *cf,
                                                 bool final);
void dlp_classify_flow_free(dlp_classify_flow_t *cf);
size_t dlp_classify_flow_mem(const dlp_classify_flow_t *cf);

/*
 * Calls fn once with each protocol name nDPI knows (what app_proto may be,
 * alone or as "MASTER.APP" of two of them), from a detection module made
 * for the purpose: for checking names before any flow (a rule's protocols:
 * list). Returns false (with a log line) when nDPI could not be set up.
 * Control thread; it takes tens of milliseconds.
 */
bool dlp_classify_proto_names(void (*fn)(const char *name, void *arg), void *arg);

/* Writes the names of the risk bits set in 'risks', comma separated. Returns its length. */
size_t dlp_classify_risk_names(dlp_classify_t *c, uint64_t risks, char *buf, size_t len);

#endif
