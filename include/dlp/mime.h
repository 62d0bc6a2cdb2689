/*
 * mime.h - a streaming MIME entity walker (RFC 2045-2049, RFC 5322), used
 * for mail messages (SMTP DATA/BDAT) and HTTP multipart/form-data bodies.
 *
 * It reads an entity's headers, then its body: a multipart body is split
 * at its boundary into parts (recursively, up to limits.mime_depth_max);
 * a leaf part is decoded by its Content-Transfer-Encoding (base64,
 * quoted-printable, 7bit/8bit/binary) and written to a content stream of
 * the sink: field 'attach_field' for parts with a file name
 * (Content-Disposition filename, else Content-Type name; RFC 2231 and
 * RFC 2047 encodings undone), the name passed to open(); 'body_field' for
 * the others, named by the field's name (Content-Disposition name) for the
 * fields of multipart/form-data, unnamed otherwise. Header values (From,
 * To, Subject... for mail) go to block(header_field) after RFC 2047
 * decoding, when header_field is not DLP_FIELD__COUNT: one block
 * "Name: value" per header of the message itself, of every part and of
 * every message/rfc822 part inside it (a part's headers name its file, and
 * may carry anything). What a multipart holds besides its parts goes to
 * unnamed streams of the enclosing body's field: its preamble and epilogue,
 * and the rest of a boundary line after the boundary (a recipient reading
 * the raw message sees them).
 * Folded headers are unfolded; lines may be split across writes at any
 * byte. A boundary that never closes ends with the input. Bad input never
 * fails: it is noted (mime.c says how for each case).
 */
#ifndef DLP_MIME_H
#define DLP_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/limits.h"
#include "dlp/rc.h"
#include "dlp/stage.h"

typedef struct dlp_mime dlp_mime_t;

/*
 * Longest multipart boundary kept (RFC 2046 allows 70). A multipart whose
 * boundary is longer (or missing) is malformed: its body is passed on as
 * one leaf part, as is, and noted DLP_NOTE_DECODER_ERROR.
 */

typedef struct dlp_mime_params {
    const dlp_content_sink_t *sink;
    void *ctx;
    const dlp_app_limits_t *limits;
    dlp_field_t header_field; /* DLP_FIELD__COUNT: headers not reported */
    dlp_field_t body_field;
    dlp_field_t attach_field;
    /*
     * For an HTTP multipart body the entity's headers are already known:
     * its Content-Type (with the boundary) is given here and the walker
     * starts in the body. NULL for a full message (mail).
     */
    const char *content_type;
} dlp_mime_params_t;

/* Returns owned or NULL. */
dlp_mime_t *dlp_mime_new(const dlp_mime_params_t *p);
/* Feeds the next bytes of the entity. Never fails on bad input (noted). */
DLP_MUST_CHECK dlp_rc_t dlp_mime_write(dlp_mime_t *m, const uint8_t *p, size_t n);
/* End of the entity: open parts are decoded to their end and closed. */
DLP_MUST_CHECK dlp_rc_t dlp_mime_end(dlp_mime_t *m);
void dlp_mime_free(dlp_mime_t *m);
/* Bytes held by the walker (for the flow's memory accounting). */
size_t dlp_mime_mem(const dlp_mime_t *m);

/* A stage wrapping a walker (for HTTP bodies: after chunked/inflate). */
dlp_stage_t *dlp_stage_mime_new(const dlp_mime_params_t *p);

#endif
