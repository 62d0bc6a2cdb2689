/*
 * ftp.h - the FTP control connection (RFC 959, 2428), both directions.
 *
 * Client commands and server replies are parsed line by line to learn the
 * data connections: PORT and EPRT (active: the server will connect to the
 * client's address and port), PASV (reply 227 "(h1,h2,h3,h4,p1,p2)") and
 * EPSV (reply 229 "(|||port|)"), and what they carry: STOR, APPE, STOU
 * (uploads: client -> server), RETR (downloads). Each announced data
 * connection is reported with sink->expect() (on the client direction's
 * sink), with 'upload' set when a store command follows and 'deflate'
 * while MODE Z is in force (a zlib stream on the data connection). File names of
 * STOR/APPE/STOU go to meta. Every client command line is reported as
 * DLP_FIELD_FTP_COMMAND blocks (longer than the line bound: in
 * overlapping blocks), except the lines of PASS, ACCT and
 * AUTH/ADAT/MIC/CONF/ENC (credentials, never reported).
 * AUTH TLS accepted (234) and the client's next byte a TLS handshake
 * record: DLP_NOTE_ENCRYPTED, then DLP_DONE (anything else: read on).
 */
#ifndef DLP_FTP_H
#define DLP_FTP_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"
#include "dlp/rc.h"

typedef struct dlp_ftp dlp_ftp_t;

/*
 * client/server: the control connection's addresses (16 bytes, IPv4
 * mapped): PASV replies may name another address (or a private one behind
 * NAT); EPSV has none: the server's own address is used.
 */
dlp_ftp_t *dlp_ftp_new(const dlp_content_sink_t *sink, void *const ctx[2],
                       const uint8_t client[16], const uint8_t server[16],
                       const dlp_app_limits_t *l);
void dlp_ftp_free(dlp_ftp_t *f);
DLP_MUST_CHECK dlp_rc_t dlp_ftp_write(dlp_ftp_t *f, int dir, const uint8_t *p, size_t n);
void dlp_ftp_gap(dlp_ftp_t *f, int dir, uint64_t len);
/* The direction's bytes are over: the client's last line without LF is reported. */
void dlp_ftp_end(dlp_ftp_t *f, int dir);
/* Bytes the decoder holds (the flow table charges them); 0 for NULL. */
size_t dlp_ftp_mem(const dlp_ftp_t *f);

#endif
