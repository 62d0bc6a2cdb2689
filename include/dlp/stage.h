/*
 * stage.h - content decoding stages, chained (curl's content writers):
 *   body bytes -> [chunked] -> [gzip|deflate] -> [form|multipart] -> sink
 * A stage takes bytes, decodes what it can, pushes its output to the next
 * stage, and keeps only bounded state between calls. The last stage of a
 * chain writes to a dlp_content_sink_t stream.
 *
 * Every stage is a resumable push decoder: any split of the input gives the
 * same output (unit tests feed it split at every offset).
 */
#ifndef DLP_STAGE_H
#define DLP_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/rc.h"

typedef struct dlp_stage dlp_stage_t;

typedef struct dlp_stage_ops {
    const char *name;
    /* Decodes p[0, n); output goes to st->next. DLP_OK, or an error after
     * which the stage passes nothing more on (it has reported a note). */
    dlp_rc_t (*write)(dlp_stage_t *st, const uint8_t *p, size_t n);
    /* End of input: flushes, then ends st->next. */
    dlp_rc_t (*end)(dlp_stage_t *st);
    void (*free)(dlp_stage_t *st);
} dlp_stage_ops_t;

/* Common head of every stage (embedded first in each stage's struct). */
struct dlp_stage {
    const dlp_stage_ops_t *ops;
    dlp_stage_t *next;                /* NULL only for the sink stage */
    const dlp_content_sink_t *sink;   /* for notes */
    void *sink_ctx;
    uint64_t in_bytes, out_bytes;
    uint8_t failed;                   /* after an error: swallow the rest */
};

/* Calls for any stage (NULL-safe). end() and free() act on the whole chain
 * that starts at st. */
DLP_MUST_CHECK dlp_rc_t dlp_stage_write(dlp_stage_t *st, const uint8_t *p, size_t n);
DLP_MUST_CHECK dlp_rc_t dlp_stage_end(dlp_stage_t *st);
void dlp_stage_free_chain(dlp_stage_t *st);

/* Used by stages to pass output on and to report notes. */
DLP_MUST_CHECK dlp_rc_t dlp_stage_emit(dlp_stage_t *st, const uint8_t *p, size_t n);
void dlp_stage_note(dlp_stage_t *st, dlp_app_note_t note, uint64_t bytes);

/*
 * Constructors: each returns an owned stage whose output goes to 'next'
 * (ownership of 'next' passes to it: freeing a chain frees every stage),
 * or NULL when out of memory (then 'next' is NOT freed).
 */
/* The end of a chain: writes into a content stream of the sink. */
dlp_stage_t *dlp_stage_sink_new(const dlp_content_sink_t *sink, void *ctx, dlp_field_t field,
                                const char *name);
/* HTTP chunked transfer coding (RFC 9112 7.1): sizes, extensions, trailers. */
dlp_stage_t *dlp_stage_chunked_new(dlp_stage_t *next, const dlp_app_limits_t *l);
/*
 * Where a chunked body ends, for the HTTP parser (keep-alive and pipelined
 * messages follow it on the same stream). dlp_stage_write() on a chunked
 * stage returns DLP_DONE for the write in which the body ended (and for any
 * write after it). After any write this tells how the framing stands:
 *   DLP_AGAIN  the body goes on: all bytes of the last write were part of it;
 *   DLP_DONE   the body ended (last chunk, trailer section, final CRLF) and
 *              the first *consumed bytes of the last write were its end; the
 *              rest starts the next message (*consumed is 0 for writes after
 *              the end);
 *   DLP_EPROTO (bad size line, missing CRLF) or DLP_ELIMIT (a size, size line
 *              or trailer section over its bound): framing lost, noted once;
 *              *consumed bytes of the failing write came before the bad byte;
 *              where the body ends is unknown.
 * Errors of later stages do not stop the framing (the chunked stage goes on
 * reading sizes and stops passing data on). consumed may be NULL. Returns
 * DLP_EINVAL if st is not a chunked stage. st->in_bytes counts only the
 * bytes that were part of the body (framing included).
 */
DLP_MUST_CHECK dlp_rc_t dlp_stage_chunked_status(const dlp_stage_t *st, size_t *consumed);
/* What an inflate stage holds at most (zlib's state and 32 KiB window, its output
 * buffer): the memory a flow is charged for one. */
#define DLP_STAGE_INFLATE_MEM (48u * 1024)
/* gzip (RFC 1952) or zlib/raw deflate (auto-detected), caps from l. */
dlp_stage_t *dlp_stage_inflate_new(dlp_stage_t *next, const dlp_app_limits_t *l, int gzip);
/* zlib only (RFC 1950; FTP MODE Z): another header, or bytes after the stream's end, are
 * corrupt data (DLP_NOTE_DECODER_ERROR, DLP_EPROTO); same caps and memory as inflate. */
dlp_stage_t *dlp_stage_zlib_new(dlp_stage_t *next, const dlp_app_limits_t *l);
/* base64 (RFC 2045: ignores line breaks and whitespace; stops at '=') */
dlp_stage_t *dlp_stage_base64_new(dlp_stage_t *next);
/* quoted-printable (RFC 2045: soft line breaks, =XX) */
dlp_stage_t *dlp_stage_qp_new(dlp_stage_t *next);
/* application/x-www-form-urlencoded: '+' -> ' ', %XX decoded, '&' and '='
 * become "\n" and "=" so each field is its own line ("name=value\n"). */
dlp_stage_t *dlp_stage_form_new(dlp_stage_t *next);
/*
 * Text normalisation before matching: UTF-16LE/BE text (ASCII code units
 * with NUL bytes between them) becomes ASCII, full-width digits and
 * letters (U+FF10-U+FF5A, UTF-8 EF BC 90 ...) become ASCII, and Unicode
 * spaces (U+00A0, U+2000-U+200A, U+202F, U+205F, U+3000; in UTF-8 and inside
 * UTF-16 runs) become ' '; other bytes pass unchanged. Used on every content
 * stream, so it must be cheap on plain text (ASCII words without NUL are
 * skipped eight bytes at a time).
 */
dlp_stage_t *dlp_stage_textnorm_new(dlp_stage_t *next);

/*
 * JSON string escapes (RFC 8259 7), as a JSON parser decodes them: \uXXXX
 * to UTF-8 (a surrogate pair to its code point; a lone surrogate and an
 * invalid escape stay as they are), \" \\ \/ \b \f \n \r \t to their
 * character; every other byte passes unchanged (json.c has the definition).
 * DLP_JSON_SNIFF decodes only a stream that starts like JSON ('"' first, or
 * '{' or '[' after a short prefix of printable ASCII without a backslash:
 * "42/ns,[" ...) and passes any other on as it is.
 * A stream without a backslash costs one memchr per write, without a copy.
 */
typedef enum { DLP_JSON_OFF = 0, DLP_JSON_DECODE, DLP_JSON_SNIFF } dlp_json_mode_t;
/* NULL when out of memory or mode is DLP_JSON_OFF (next is not freed then). */
dlp_stage_t *dlp_stage_json_new(dlp_stage_t *next, dlp_json_mode_t mode);
/*
 * How a body of this Content-Type value is read: DLP_JSON_DECODE for JSON
 * media types (application/json, any "+json" suffix, NDJSON and JSON Lines,
 * json-seq), DLP_JSON_SNIFF for none (NULL or empty) and text/plain, which
 * JSON APIs and browsers' no-preflight requests use, DLP_JSON_OFF for the rest.
 */
dlp_json_mode_t dlp_stage_json_mode(const char *ctype);

/*
 * Base64 runs in text (b64run.c has the definition): passes its input on
 * unchanged and writes each run of base64 or base64url characters long
 * enough to be a file (64, or 8 after a data: URI's ";base64,") decoded to a
 * content stream of its own of 'field' (opened through next's sink), so the
 * decoded bytes are matched apart from the text. Bounds: DLP_APP_B64_RUNS_MAX
 * runs, l->decomp_max decoded bytes (l NULL: the defaults).
 */
dlp_stage_t *dlp_stage_b64run_new(dlp_stage_t *next, dlp_field_t field,
                                  const dlp_app_limits_t *l);

/*
 * uuencoded files in text (uue.c has the definition): passes its input on
 * unchanged and writes each block "begin NNN name" ... "end" decoded to a
 * content stream of its own of 'field', named after the file. Bounds:
 * DLP_APP_UUE_BLOCKS_MAX blocks, l->decomp_max decoded bytes in all (l NULL:
 * the defaults).
 */
dlp_stage_t *dlp_stage_uue_new(dlp_stage_t *next, dlp_field_t field, const dlp_app_limits_t *l);

/*
 * Percent-decodes s[0, n) into out (cap bytes); '+' becomes ' ' when
 * 'plus' is true. Returns the decoded length. Invalid escapes stay as is.
 */
size_t dlp_percent_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap, bool plus);
/*
 * Decodes RFC 2047 encoded-words ("=?utf-8?B?...?=", "=?iso-8859-1?Q?...?=")
 * in a header value into out (bytes of the charset as given; not converted).
 * Returns the decoded length; text outside encoded words is copied.
 */
size_t dlp_rfc2047_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap);

#endif
