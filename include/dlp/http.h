/*
 * http.h - HTTP/1.x, both directions of one connection (RFC 9110/9112).
 *
 * A dlp_http_t holds the request parser (client -> server bytes) and the
 * response parser (server -> client bytes) of one TCP connection; they share
 * the queue of outstanding requests, so a response knows whether it has a
 * body (HEAD, 1xx, 204, 304, CONNECT 2xx) and pipelined requests pair up.
 * Keep-alive connections carry any number of messages.
 *
 * What it reports through the sink of each direction:
 *  - request: the request target, percent-decoded (query included), as
 *    block(DLP_FIELD_HTTP_URI); meta METHOD, HOST, URI_PATH;
 *  - every header block as one content stream DLP_FIELD_HTTP_HEADER (one
 *    "Name: value\n" line per header, folds joined), Cookie and
 *    Authorization included;
 *  - the body as DLP_FIELD_HTTP_BODY, framed by Content-Length, chunked
 *    (RFC 9112 7.1), or until close (responses); Content-Encoding gzip,
 *    x-gzip and deflate undone (bounded); then by Content-Type:
 *    application/x-www-form-urlencoded decoded (dlp_stage_form),
 *    multipart/... walked by the MIME walker (parts with a file name as
 *    DLP_FIELD_HTTP_BODY with the name; each part's headers, file name
 *    included, as DLP_FIELD_HTTP_HEADER blocks), anything else as is.
 *  - notes: a line or header block over its bound (the message is then
 *    skipped to the next recognisable start line), an unsupported
 *    Content-Encoding (br, zstd: body passed raw, noted), a gap.
 *  - the bytes skipped so (garbage where a start line is due, an over-long
 *    line, what follows up to the next start line) as content streams
 *    DLP_FIELD_RAW, one per skipped run, besides their note.
 * After a gap the direction resynchronises on the next line that starts
 * like a request ("METHOD SP target SP HTTP/1.x") or a status line.
 * An upgrade (101 Switching Protocols, CONNECT 2xx) ends HTTP parsing; the
 * rest of the connection is handed back as raw (dlp_http_write returns
 * DLP_DONE with *consumed telling how much was HTTP), or to a WebSocket
 * decoder when dlp_http_websocket() says the upgrade was to one; after a
 * CONNECT (dlp_http_connect()), the caller reads it as a new connection.
 */
#ifndef DLP_HTTP_H
#define DLP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/rc.h"

typedef struct dlp_http dlp_http_t;

/*
 * dir 0 = client -> server (requests), 1 = server -> client (responses);
 * sink[dir]/ctx[dir] receive what each direction carries.
 */
dlp_http_t *dlp_http_new(const dlp_content_sink_t *sink, void *const ctx[2],
                         const dlp_app_limits_t *l);
void dlp_http_free(dlp_http_t *h);

/*
 * Feeds n bytes of direction 'dir'. Returns DLP_OK, or DLP_DONE when the
 * connection stopped being HTTP (upgrade): *consumed bytes of p were HTTP,
 * the rest and everything after is not. Never fails on bad input.
 */
DLP_MUST_CHECK dlp_rc_t dlp_http_write(dlp_http_t *h, int dir, const uint8_t *p, size_t n,
                                       size_t *consumed);
void dlp_http_gap(dlp_http_t *h, int dir, uint64_t len);
/* End of direction 'dir' (FIN, RST, flow end): a body read until close ends here. */
void dlp_http_end(dlp_http_t *h, int dir);

/*
 * What the upgrade that ended HTTP was to. False unless the last request
 * carried "Upgrade: websocket" (RFC 6455 4.1): an h2c or any other upgrade
 * stays raw. The server's 101 may never be seen (egress taps), so it is not
 * required; when it was, its Sec-WebSocket-Extensions decide.
 */
typedef struct dlp_http_ws {
    bool answered;                /* the 101 was seen */
    bool no_context_takeover[2];  /* agreed for the client's [0], server's [1] messages */
} dlp_http_ws_t;
bool dlp_http_websocket(const dlp_http_t *h, dlp_http_ws_t *ws);
/* Whether the tunnel that ended HTTP follows a CONNECT (RFC 9110 9.3.6): its bytes
 * are the destination's, a new connection's to it. */
bool dlp_http_connect(const dlp_http_t *h);

/* Whether the upgrade that ended HTTP is a 101 answering "Upgrade: h2c" (RFC 9113
 * 3.2): HTTP/2 frames follow (the client's after its preface; h2.h). */
bool dlp_http_h2c(const dlp_http_t *h);

/* True if p[0, n) starts like an HTTP/1.x request (method + target + version). */
bool dlp_http_is_request(const uint8_t *p, size_t n);
size_t dlp_http_mem(const dlp_http_t *h);

#endif
