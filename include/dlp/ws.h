/*
 * ws.h - WebSocket (RFC 6455) messages of one direction, after an HTTP
 * upgrade, with permessage-deflate (RFC 7692).
 *
 * A dlp_ws_t reads the frames of one direction: it unmasks them (client
 * frames are always masked), joins the fragments of each text or binary
 * message, inflates the messages marked compressed (RSV1 on a message's
 * first frame), and reports:
 *  - each message as one content stream DLP_FIELD_WS_MESSAGE (an empty
 *    message opens none);
 *  - each control frame's payload (ping, pong, close: at most 125 bytes,
 *    which a client may fill with anything) as a block of the same field;
 *  - notes: DECODER_ERROR (framing lost, or a compressed message that does
 *    not inflate), DECOMP_CAP / DECOMP_RATIO (a message's inflated size over
 *    the decomp_max / decomp_ratio_max bounds of dlp_app_limits_t).
 * Framing errors (what follows the upgrade is not WebSocket after all) end
 * the decoder: dlp_ws_write() returns DLP_EPROTO, and the caller scans the
 * rest of the direction raw, starting with the bytes dlp_ws_held() returns.
 *
 * Results do not depend on how the bytes are cut into writes.
 *
 * Threading: a dlp_ws_t belongs to the worker that owns the flow.
 */
#ifndef DLP_WS_H
#define DLP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/rc.h"

typedef struct dlp_ws dlp_ws_t;

/* What the upgrade agreed for this direction's sender. */
typedef struct dlp_ws_opts {
    /* The sender resets its compressor at every message (RFC 7692 7.1.1: the
     * server's answer had client_/server_no_context_takeover): the inflater
     * is freed between messages. Otherwise it is kept, which also decodes a
     * sender that resets (such messages never refer to earlier ones). */
    bool no_context_takeover;
    /* Frames announcing a longer payload are taken for garbage (framing
     * error); 0: DLP_WS_FRAME_MAX. Payloads are streamed, never held. */
    uint64_t frame_max;
} dlp_ws_opts_t;

/* NULL when out of memory. l: decompression bounds (NULL: defaults). */
dlp_ws_t *dlp_ws_new(const dlp_content_sink_t *sink, void *ctx, const dlp_app_limits_t *l,
                     const dlp_ws_opts_t *o);
void dlp_ws_free(dlp_ws_t *w);

/*
 * Feeds n bytes. DLP_OK, or DLP_EPROTO when the framing is lost (noted
 * DECODER_ERROR once): the frame that failed began *consumed bytes into p,
 * or before p, with the dlp_ws_held() bytes; every later call returns
 * DLP_EPROTO with *consumed 0. DLP_ENOMEM: a message could not be inflated
 * (noted DECODER_ERROR, passed on as it is, unmasked); decoding goes on.
 */
DLP_MUST_CHECK dlp_rc_t dlp_ws_write(dlp_ws_t *w, const uint8_t *p, size_t n, size_t *consumed);
/* After DLP_EPROTO: the start of the failed frame held from earlier writes. */
size_t dlp_ws_held(const dlp_ws_t *w, const uint8_t **p);
/*
 * len bytes are missing. Inside the payload of a data frame the framing is
 * kept (the message goes on in a new stream: no value spans the gap; a
 * compressed one is lost, noted, and the inflater restarts); anywhere else
 * it is lost: DLP_EPROTO, the rest of the direction is the caller's (raw).
 */
DLP_MUST_CHECK dlp_rc_t dlp_ws_gap(dlp_ws_t *w, uint64_t len);
/* End of the direction: closes a message in progress (noted if cut short). */
void dlp_ws_end(dlp_ws_t *w);
/* Bytes held, zlib's state included (charged to the flow). */
size_t dlp_ws_mem(const dlp_ws_t *w);

#endif
