/*
 * syslog.h - a syslog sender that never blocks its caller: the local
 * syslog daemon over a unix datagram socket (/dev/log), or a remote
 * collector over UDP or TCP (RFC 5424, RFC 6587 octet counting on TCP).
 *
 * Replaces glibc syslog(3), whose send() blocks under a process-wide lock
 * when the /dev/log reader stalls. Every socket here is non-blocking: what
 * cannot be written now is dropped and counted (datagrams) or queued in a
 * bounded buffer that drops its oldest messages first (TCP).
 * dlp_syslog_poll() makes progress on TCP (connect, flush, reconnect).
 *
 * Threading: one thread (the output thread) owns a sender and is the only
 * writer of the counters it is given. Not for the packet path.
 *
 * Counters (group "syslog"): sent, dropped (any reason), truncated,
 * reconnects (connection attempts after the first, local or TCP),
 * buffered_bytes (gauge: queued TCP bytes; several senders may share one
 * dlp_stats_t, their values add up).
 */
#ifndef DLP_SYSLOG_H
#define DLP_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/limits.h"
#include "dlp/rc.h"
#include "dlp/stats.h"

/* Defaults and bounds (0 in a config field means the default). */
#define DLP_SYSLOG_DEFAULT_TARGET "/dev/log"
#define DLP_SYSLOG_DEFAULT_FACILITY 20 /* local4 */
#define DLP_SYSLOG_DEFAULT_PORT 514
#define DLP_SYSLOG_BACKOFF_MIN_MS 100           /* TCP reconnect: first wait ... */
#define DLP_SYSLOG_BACKOFF_MAX_MS 30000         /* ... doubling up to this */
#define DLP_SYSLOG_LOCAL_RETRY_MS 1000          /* local socket: reconnect at most this often */
#define DLP_SYSLOG_CONNECT_TIMEOUT_MS 5000      /* TCP connect in progress: give up after */
#define DLP_SYSLOG_CLOSE_FLUSH_MS 200           /* dlp_syslog_free: TCP flush budget */
#define DLP_SYSLOG_MAX_ADDRS 8                  /* resolved addresses tried per round */

/* Severities (RFC 5424 6.2.1; the values of <syslog.h> LOG_*). */
typedef enum {
    DLP_SYSLOG_EMERG = 0,
    DLP_SYSLOG_ALERT,
    DLP_SYSLOG_CRIT,
    DLP_SYSLOG_ERR,
    DLP_SYSLOG_WARNING,
    DLP_SYSLOG_NOTICE,
    DLP_SYSLOG_INFO,
    DLP_SYSLOG_DEBUG,
} dlp_syslog_severity_t;

typedef enum {
    DLP_SYSLOG_FMT_AUTO = 0, /* RFC 3164 for the local socket, RFC 5424 for UDP/TCP */
    DLP_SYSLOG_FMT_3164,     /* "<PRI>Mmm dd hh:mm:ss APP[PID]: MSGID SD MSG" (local time) */
    DLP_SYSLOG_FMT_5424,     /* "<PRI>1 TIMESTAMP HOST APP PID MSGID SD MSG" (UTC) */
} dlp_syslog_format_t;

typedef struct dlp_syslog_config {
    /*
     * Where to: NULL or "" = DLP_SYSLOG_DEFAULT_TARGET; "/path" or
     * "unix:///path" = a local unix datagram socket; "udp://HOST[:PORT]" or
     * "tcp://HOST[:PORT]" with HOST a name, an IPv4 address or a bracketed
     * IPv6 address ("tcp://[2001:db8::1]:6514"); PORT defaults to 514.
     */
    const char *target;
    const char *facility; /* NULL = "local4"; a name ("auth", "local0") or 0..23 */
    const char *app_name; /* NULL = "dlpsensor"; 1..48 printable ASCII */
    const char *hostname; /* NULL = gethostname(); RFC 5424 only */
    dlp_syslog_format_t format;
    size_t max_msg_bytes; /* DLP_SYSLOG_MIN_MSG_BYTES..DLP_SYSLOG_LIMIT_MSG_BYTES */
    size_t buffer_bytes;  /* TCP queue, >= max_msg_bytes + 16 (+ one frame being written) */
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    uint32_t local_retry_ms;
    uint32_t connect_timeout_ms;
    /*
     * A datagram (local, UDP) the receiver has no room for: wait up to this
     * long for room before dropping it. 0 (live) = drop at once. Reading
     * files nothing is lost by waiting: a local daemon holds only
     * net.unix.max_dgram_qlen (10) datagrams, fewer than one burst of alerts.
     */
    uint32_t full_wait_ms;
} dlp_syslog_config_t;

typedef struct dlp_syslog dlp_syslog_t;

/*
 * Parses and checks 'c' (NULL = all defaults), resolves a remote host
 * (the only call that may wait, on DNS; a temporary DNS failure is not
 * an error, the sender resolves again later) and starts connecting.
 * A local socket that does not exist yet is not an error either (no
 * syslog daemon: messages are dropped and counted until one appears).
 * 'st' (required) receives the syslog counters. Returns owned, or NULL
 * with a one-line reason in err.
 */
dlp_syslog_t *dlp_syslog_new(const dlp_syslog_config_t *c, dlp_stats_t *st, char *err,
                             size_t errlen);

/*
 * Flushes queued TCP messages for at most DLP_SYSLOG_CLOSE_FLUSH_MS,
 * counts what is left as dropped, closes. Accepts NULL.
 */
void dlp_syslog_free(dlp_syslog_t *s);

/*
 * The end of a run, before its last counters are read: flushes queued TCP
 * messages for at most DLP_SYSLOG_CLOSE_FLUSH_MS, counts what is left as
 * dropped and says how many on stderr. Returns that count (datagram
 * senders, which queue nothing: 0). The sender stays usable.
 */
size_t dlp_syslog_drain(dlp_syslog_t *s);

/*
 * Formats one message and hands it to the socket without waiting.
 * 'severity' 0..7; 'ts_us' the message time (0 = now); 'msgid' NULL or
 * 1..32 printable ASCII; 'sd' NULL/"-" or STRUCTURED-DATA as built by
 * dlp_syslog_sd_*; 'msg' NULL or text (UTF-8, no control characters; sent
 * without a BOM). A message longer than max_msg_bytes loses the end of
 * MSG at a UTF-8 character boundary; if even the header and SD do not
 * fit, SD is replaced by "-" (both count as truncated).
 * Returns DLP_OK when the socket took the message or it was queued (TCP);
 * otherwise the message was dropped and counted: DLP_ELIMIT (socket or
 * receiver full), DLP_EIO (no receiver or not connected, UDP/local),
 * DLP_EINVAL (bad severity, msgid or sd).
 */
DLP_MUST_CHECK dlp_rc_t dlp_syslog_send(dlp_syslog_t *s, int severity, uint64_t ts_us,
                                        const char *msgid, const char *sd, const char *msg);

/*
 * Makes progress without waiting: finishes a TCP connect, writes queued
 * messages, notices a closed or broken connection and reconnects after
 * the backoff; retries a missing local socket. Call it every output loop
 * iteration. Returns true while TCP messages are still queued.
 */
bool dlp_syslog_poll(dlp_syslog_t *s);

/*
 * STRUCTURED-DATA builder over a caller buffer:
 *   dlp_syslog_sd_t b;
 *   dlp_syslog_sd_init(&b, buf, sizeof(buf));
 *   dlp_syslog_sd_begin(&b, "dlp@32473");
 *   dlp_syslog_sd_param(&b, "rule", name);
 *   dlp_syslog_sd_param_u64(&b, "count", n);
 *   if (dlp_syslog_sd_end(&b) == DLP_OK) ... buf holds [dlp@32473 rule="..." count="2"]
 * begin/param/end may repeat for several elements. Errors are sticky and
 * reported by dlp_syslog_sd_end(): DLP_EINVAL for an invalid SD-ID or
 * PARAM-NAME (1..32 printable ASCII without '=', ' ', ']', '"'; an SD-ID
 * with '@' must be NAME@DIGITS), or calls out of order; DLP_ELIMIT when
 * the buffer is too small. PARAM-VALUEs are escaped ('"', '\\', ']').
 * The buffer always holds a terminated string; after an error it is "".
 */
typedef struct dlp_syslog_sd {
    char *buf;
    size_t cap;
    size_t len;
    bool open;
    dlp_rc_t rc;
} dlp_syslog_sd_t;

void dlp_syslog_sd_init(dlp_syslog_sd_t *b, char *buf, size_t cap);
void dlp_syslog_sd_begin(dlp_syslog_sd_t *b, const char *sd_id);
void dlp_syslog_sd_param(dlp_syslog_sd_t *b, const char *name, const char *value);
void dlp_syslog_sd_param_u64(dlp_syslog_sd_t *b, const char *name, uint64_t value);
DLP_MUST_CHECK dlp_rc_t dlp_syslog_sd_end(dlp_syslog_sd_t *b);

#endif
