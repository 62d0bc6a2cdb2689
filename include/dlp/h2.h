/*
 * h2.h - cleartext HTTP/2 (h2c, RFC 9113) frames of one direction.
 *
 * A dlp_h2_t reads the frames of one direction of an h2c connection (prior
 * knowledge: the client's preface opens the connection; or after an HTTP/1
 * "Upgrade: h2c" answered by 101) and reports:
 *  - the DATA of each HTTP/2 stream, padding stripped, as one content stream
 *    DLP_FIELD_HTTP_BODY per HTTP/2 stream, ended by END_STREAM or
 *    RST_STREAM; a body starting with a gzip (1f 8b) or zlib header is
 *    inflated first (HPACK is not decoded, so content-encoding is not seen:
 *    the body is sniffed);
 *  - notes: UNSUPPORTED for header blocks (HEADERS, CONTINUATION,
 *    PUSH_PROMISE), GOAWAY debug data and unknown frame types, whose bytes
 *    are not inspected (dlp_h2_take_uninspected() counts them); DECODER_ERROR
 *    when the framing is lost or the direction ends inside a frame; the
 *    inflate stage's own notes.
 * Framing errors (not HTTP/2 after all, or a frame RFC 9113 calls malformed
 * by its header alone) end the decoder: dlp_h2_write() returns DLP_EPROTO,
 * and the caller scans the rest of the direction raw, starting with the
 * bytes dlp_h2_held() returns.
 *
 * Results do not depend on how the bytes are cut into writes.
 *
 * Threading: a dlp_h2_t belongs to the worker that owns the flow.
 */
#ifndef DLP_H2_H
#define DLP_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/rc.h"

typedef struct dlp_h2 dlp_h2_t;

/* The client connection preface (RFC 9113 3.4). */
#define DLP_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define DLP_H2_PREFACE_LEN 24

struct dlp_h2_opts {
    /* The client's direction: the preface comes first. Either way the first
     * frame must be a SETTINGS frame (RFC 9113 3.4). */
    bool client;
    /* A longer frame is a framing error; 0: DLP_H2_FRAME_MAX. Payloads are
     * streamed, never held. */
    uint32_t frame_max;
    /* HTTP/2 streams with an open content stream; 0: DLP_H2_STREAMS_MAX. */
    uint32_t streams_max;
};
typedef struct dlp_h2_opts dlp_h2_opts_t;

/* Whether p[0, n) starts like the client preface: DLP_OK (all n bytes match,
 * n >= 16), DLP_AGAIN (they match so far, fewer than 16), DLP_EINVAL. */
dlp_rc_t dlp_h2_sniff(const uint8_t *p, size_t n);

/* NULL when out of memory. l: decompression bounds (NULL: defaults). */
dlp_h2_t *dlp_h2_new(const dlp_content_sink_t *sink, void *ctx, const dlp_app_limits_t *l,
                     const dlp_h2_opts_t *o);
void dlp_h2_free(dlp_h2_t *h);

/*
 * Feeds n bytes. DLP_OK, or DLP_EPROTO when the framing is lost (noted
 * DECODER_ERROR once): the frame (or preface) that failed began *consumed
 * bytes into p, or before p with the dlp_h2_held() bytes; every later call
 * returns DLP_EPROTO with *consumed 0.
 */
DLP_MUST_CHECK dlp_rc_t dlp_h2_write(dlp_h2_t *h, const uint8_t *p, size_t n, size_t *consumed);
/* After DLP_EPROTO: the start of the failed frame held from earlier writes. */
size_t dlp_h2_held(const dlp_h2_t *h, const uint8_t **p);
/*
 * len bytes are missing. Inside a frame's payload the framing is kept (a
 * DATA frame's stream goes on in a new content stream: no value spans the
 * gap); anywhere else it is lost: DLP_EPROTO, the rest is the caller's (raw).
 */
DLP_MUST_CHECK dlp_rc_t dlp_h2_gap(dlp_h2_t *h, uint64_t len);
/* End of the direction: ends the open content streams (noted if cut short). */
void dlp_h2_end(dlp_h2_t *h);
/* Payload bytes not inspected (header blocks...: noted UNSUPPORTED) since the
 * last call: the caller counts them as the direction's uninspected bytes. */
uint64_t dlp_h2_take_uninspected(dlp_h2_t *h);
/* Bytes held, inflaters included (charged to the flow). */
size_t dlp_h2_mem(const dlp_h2_t *h);

#endif
