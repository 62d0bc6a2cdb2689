/*
 * smtp.h - SMTP, both directions of one connection (RFC 5321, 3030).
 *
 * Client side: commands (EHLO, MAIL FROM, RCPT TO, DATA, BDAT n [LAST],
 * RSET, QUIT, STARTTLS, AUTH ...), the message after DATA (dot-unstuffed,
 * ended by CRLF.CRLF) or the BDAT chunks, each message walked by the MIME
 * walker: headers as DLP_FIELD_SMTP_HEADER blocks (RFC 2047 decoded), text
 * parts as DLP_FIELD_SMTP_BODY, parts with a file name as
 * DLP_FIELD_SMTP_ATTACHMENT with the name. MAIL FROM / RCPT TO addresses
 * are reported as DLP_FIELD_SMTP_HEADER blocks ("MAIL FROM:<a@b>",
 * "RCPT TO:<c@d>", so e-mail rules see them) and their domains go to meta.
 * Every command line the server reads (any verb, pipelined, held for a
 * reply, after a gap; longer than line_max: streamed) is reported as
 * DLP_FIELD_SMTP_COMMAND, except the AUTH line and the one client line
 * that answers each 334 (base64 of credentials: scanned as raw would be a
 * leak of its own; counted); every other line is a command, also when
 * pipelined behind AUTH before its reply.
 * Server side: replies, to know whether DATA was accepted (354), BDAT and
 * STARTTLS (220): once STARTTLS is accepted and the client's next bytes
 * are a TLS handshake, the rest of the connection is encrypted: note
 * DLP_NOTE_ENCRYPTED and stop (dlp_smtp_write returns DLP_DONE); plain text
 * after the 220 is read on. Pipelining (RFC 2920) works: commands are queued until their
 * replies arrive.
 */
#ifndef DLP_SMTP_H
#define DLP_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/limits.h"
#include "dlp/rc.h"

typedef struct dlp_smtp dlp_smtp_t;

/*
 * Commands awaiting their reply (RFC 2920 pipelining). Past this, further
 * commands are not queued: their replies find the queue empty and are
 * ignored, except the one that answers a DATA or STARTTLS the client is
 * waiting on.
 */

/* dir 0 = client -> server, 1 = server -> client. */
dlp_smtp_t *dlp_smtp_new(const dlp_content_sink_t *sink, void *const ctx[2],
                         const dlp_app_limits_t *l);
void dlp_smtp_free(dlp_smtp_t *s);
/* DLP_OK, or DLP_DONE once TLS follows an accepted STARTTLS (nothing more to read). */
DLP_MUST_CHECK dlp_rc_t dlp_smtp_write(dlp_smtp_t *s, int dir, const uint8_t *p, size_t n);
void dlp_smtp_gap(dlp_smtp_t *s, int dir, uint64_t len);
void dlp_smtp_end(dlp_smtp_t *s, int dir);
size_t dlp_smtp_mem(const dlp_smtp_t *s);
/* While the client's held bytes are read again (a reply, or the bound, resolved a
 * wait), how many: what is read now lies among the last that many the client sent,
 * maybe before the write in progress. 0 otherwise, or for NULL. */
size_t dlp_smtp_replaying(const dlp_smtp_t *s);

#endif
