/*
 * app.h - what application decoders emit, and where it goes.
 *
 * Decoders (http, smtp, mime, ftp, dns and the content stages) are pure
 * resumable push parsers: they never see packets, only the ordered bytes
 * of one direction plus gap/end notices, keep bounded state, and report
 * what they decode through a dlp_content_sink_t that the worker binds to
 * detection streams. They do not include match/ or detect/ headers.
 *
 * Threading: every object here belongs to the worker that owns the flow.
 */
#ifndef DLP_APP_H
#define DLP_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/alert.h"
#include "dlp/rc.h"

/* (dlp_app_note_t, why bytes were not inspected, and its names are in
 * alert.h: flow events carry them.) */

/* Facts decoders learn about a flow, for events and allow-lists. */
typedef enum {
    DLP_META_HTTP_HOST = 0,   /* Host header of a request */
    DLP_META_HTTP_METHOD,
    DLP_META_HTTP_URI_PATH,   /* path only, query removed (queries carry data) */
    DLP_META_SMTP_MAIL_FROM_DOMAIN,
    DLP_META_SMTP_RCPT_DOMAIN,
    DLP_META_FTP_FILENAME,    /* STOR/APPE/STOU argument */
    DLP_META__COUNT
} dlp_app_meta_t;

/* An expected connection (FTP data): from 'client' to 'server':'port'. */
typedef struct dlp_app_expect {
    uint8_t client[16];       /* IPv4-mapped like every address */
    uint8_t server[16];
    uint16_t port;            /* the side that listens (server for PASV, client for PORT) */
    uint8_t active;           /* PORT/EPRT: the server connects to the client */
    uint8_t upload;           /* a STOR/APPE/STOU is (or will be) pending */
    uint8_t deflate;          /* MODE Z: the data is a zlib stream (inflated before scanning) */
} dlp_app_expect_t;

/*
 * The decoders' output. 'ctx' is the worker's per-direction context.
 * open() starts a content stream of 'field' (name: a file name or NULL;
 * borrowed) and returns a handle (NULL: not inspected, the decoder goes on
 * without writing); write() and close() continue it. block() is a small
 * self-contained value (a URI, a header value, a DNS name).
 *
 * secret() (may be NULL) says that input bytes of the direction hold a
 * credential (a password, an AUTH exchange, an Authorization header), which
 * the sensor must not keep in evidence captures although no rule matched
 * it. 'end' points into, or just past, the bytes of the write in progress
 * (the caller's buffer): the n bytes the decoder took just before 'end' are
 * the credential, whether it still has them there or copied them into its
 * own buffer in earlier writes. 'end' is NULL when the decoder no longer
 * stands in the caller's bytes (it replays bytes it held, or it reports at
 * a gap or at the end): then the credential lies somewhere among the last
 * n bytes it has taken, and the sink widens to every span that can be (it
 * does not know how far into the write in progress the decoder stands).
 * Credentials are still scanned, or not, as before: secret() only keeps
 * them out of evidence. A length ending at a pointer rather than a
 * pointer at the credential: a line collected across writes ends in the
 * caller's bytes even when it starts in an earlier write, so it is still
 * placed exactly.
 */
typedef struct dlp_content_sink {
    void *(*open)(void *ctx, dlp_field_t field, const char *name);
    void (*write)(void *ctx, void *h, const uint8_t *p, size_t n);
    void (*close)(void *ctx, void *h);
    void (*block)(void *ctx, dlp_field_t field, const uint8_t *p, size_t n);
    void (*note)(void *ctx, dlp_app_note_t note, uint64_t bytes);
    void (*meta)(void *ctx, dlp_app_meta_t key, const uint8_t *v, size_t n);
    void (*expect)(void *ctx, const dlp_app_expect_t *e);
    void (*secret)(void *ctx, const uint8_t *end, size_t n);
} dlp_content_sink_t;

/* Each decoder's limits: defaults in limits.h (DLP_APP_*), set from config. */
typedef struct dlp_app_limits {
    uint32_t line_max;        /* request/status/command/header line bytes */
    uint32_t header_block_max;/* all headers of one message */
    uint32_t mime_depth_max;  /* nested multiparts */
    uint64_t decomp_max;      /* decompressed bytes per body */
    uint32_t decomp_ratio_max;/* output/input bytes */
    uint32_t chain_max;       /* stages in one decoding chain */
} dlp_app_limits_t;

void dlp_app_limits_default(dlp_app_limits_t *l);

#endif
