/*
 * syslog.c - non-blocking syslog sender (local unix datagram, UDP, TCP).
 *
 * Design: every socket is O_NONBLOCK and every send() uses MSG_DONTWAIT |
 * MSG_NOSIGNAL, so no call here waits on a peer (the one exception is the
 * DNS lookup in dlp_syslog_new(); later lookups of a host name run through
 * getaddrinfo_a() and are polled). Datagram transports (local, UDP) send a
 * message whole or drop it and count it. TCP appends each frame
 * ("LEN SP MSG", RFC 6587 octet counting) to a byte ring that
 * dlp_syslog_poll() drains.
 *
 * Invariants (TCP):
 *  - the ring holds only whole frames, oldest at head; a frame is parsed
 *    back from its own ASCII length prefix, so no side index is needed;
 *  - a frame the socket took only part of moves whole into 'inflight' with
 *    'inflight_off' bytes written; it is never dropped while connected and
 *    is resent from its first byte after a reconnect, so the collector never
 *    sees a frame split between a dropped and a kept part;
 *  - when a new frame does not fit, the oldest frames in the ring are
 *    dropped (counted), never the one in flight.
 *
 * Connection states (UDP and TCP): IDLE (waiting for next_try_ns) ->
 * RESOLVING (async lookup) -> CONNECTING (TCP only) -> CONNECTED. A failed
 * attempt tries the next resolved address at once; after the last one the
 * backoff doubles (backoff_min .. backoff_max) and the host is resolved
 * again. A lost connection also resolves again. The local socket is
 * connected at most once per local_retry_ms.
 *
 * Thread: one owner thread (the output thread); it is the only writer of
 * the syslog counters in 'st'.
 */
#include "dlp/syslog.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dlp/config.h"
#include "dlp/log.h"
#include "dlp/timefmt.h"

#define FRAME_ROOM 12 /* "LEN SP" in front of a TCP message */
#define HOST_MAX 255  /* RFC 5424 HOSTNAME */
#define APP_MAX 48    /* RFC 5424 APP-NAME */
#define MSGID_MAX 32  /* RFC 5424 MSGID */
#define SDNAME_MAX 32 /* RFC 5424 SD-NAME */
#define NS_PER_MS 1000000ULL

typedef enum { TR_LOCAL, TR_UDP, TR_TCP } transport_t;
typedef enum { ST_IDLE, ST_RESOLVING, ST_CONNECTING, ST_CONNECTED } conn_state_t;

typedef struct byte_ring {
    char *b;
    size_t cap, head, len;
} byte_ring_t;

/* Owned by glibc's resolver thread while in progress: freed, or leaked on purpose. */
typedef struct resolve_req {
    struct gaicb cb;
    struct gaicb *list[1];
    struct addrinfo hints;
    char node[HOST_MAX + 1];
    char port[8];
} resolve_req_t;

struct dlp_syslog {
    transport_t tr;
    dlp_syslog_format_t fmt;
    int facility;
    char app[APP_MAX + 1];
    char host[HOST_MAX + 1];
    char procid[24];
    char target[HOST_MAX + 16];
    char node[HOST_MAX + 1];
    char port[8];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    bool numeric;
    size_t max_msg;
    dlp_stats_t *st;

    int fd;
    conn_state_t state;
    uint64_t next_try_ns;
    uint64_t connect_deadline_ns;
    uint64_t connects;
    uint32_t backoff_ms, backoff_min_ms, backoff_max_ms, local_retry_ms, connect_timeout_ms;
    uint32_t full_wait_ms;
    bool stalled;             /* a wait for room timed out: no more waits until a send works */
    struct sockaddr_storage addrs[DLP_SYSLOG_MAX_ADDRS];
    socklen_t alens[DLP_SYSLOG_MAX_ADDRS];
    size_t naddr, ai;
    resolve_req_t *req;
    dlp_ratelimit_t rl;
    dlp_ratelimit_t drop_rl; /* "messages are being dropped", apart from connection news */
    uint64_t dropped;        /* by this sender, for that line */

    char *scratch; /* FRAME_ROOM + max_msg + 1 */
    byte_ring_t q;
    char *inflight;
    size_t inflight_len, inflight_off;
    uint64_t gauge; /* what this sender added to SYSLOG_BUFFERED */
};

/* --- small helpers -------------------------------------------------------- */

static bool printable_ascii(const char *p, size_t maxlen)
{
    size_t n = 0;

    for (; p[n] != '\0'; n++)
        if (n >= maxlen || (unsigned char)p[n] < 33 || (unsigned char)p[n] > 126)
            return false;
    return n > 0;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

static uint64_t ms_ns(uint32_t ms)
{
    return (uint64_t)ms * NS_PER_MS;
}

static void gauge_update(dlp_syslog_t *s)
{
    uint64_t cur = s->q.len + (s->inflight_len - s->inflight_off);

    if (cur > s->gauge)
        dlp_stat_add(s->st, DLP_STAT_SYSLOG_BUFFERED, cur - s->gauge);
    else if (cur < s->gauge)
        dlp_stat_sub(s->st, DLP_STAT_SYSLOG_BUFFERED, s->gauge - cur);
    s->gauge = cur;
}

/* --- byte ring of whole TCP frames ---------------------------------------- */

static void ring_push(byte_ring_t *q, const char *p, size_t n)
{
    size_t tail = (q->head + q->len) % q->cap;
    size_t first = n < q->cap - tail ? n : q->cap - tail;

    memcpy(q->b + tail, p, first);
    memcpy(q->b, p + first, n - first);
    q->len += n;
}

static void ring_copy_out(const byte_ring_t *q, char *dst, size_t n)
{
    size_t first = n < q->cap - q->head ? n : q->cap - q->head;

    memcpy(dst, q->b + q->head, first);
    memcpy(dst + first, q->b, n - first);
}

static void ring_pop(byte_ring_t *q, size_t n)
{
    q->head = (q->head + n) % q->cap;
    q->len -= n;
    if (q->len == 0)
        q->head = 0;
}

/* Bytes of the frame at the head, prefix included (the ring holds whole frames). */
static size_t ring_frame_len(const byte_ring_t *q)
{
    size_t i = 0, n = 0, pos = q->head;

    for (;;) {
        char c = q->b[pos];
        i++;
        pos = pos + 1 == q->cap ? 0 : pos + 1;
        if (c == ' ')
            return i + n;
        n = n * 10 + (size_t)(c - '0');
    }
}

static size_t ring_frames(const byte_ring_t *q)
{
    byte_ring_t t = *q;
    size_t n = 0;

    while (t.len > 0) {
        ring_pop(&t, ring_frame_len(&t));
        n++;
    }
    return n;
}

/* --- message format ------------------------------------------------------- */

static size_t put(char *out, size_t len, size_t max, const char *p, size_t n)
{
    if (len + n > max)
        n = max - len;
    memcpy(out + len, p, n);
    return len + n;
}

/* How many bytes of 'm' (longer than 'room') fit without splitting a UTF-8 character. */
static size_t utf8_cut(const char *m, size_t room)
{
    size_t n = room;

    for (int back = 0; back < 3 && n > 0 && ((unsigned char)m[n] & 0xC0) == 0x80; back++)
        n--;
    return ((unsigned char)m[n] & 0xC0) == 0x80 ? room : n;
}

static size_t header_5424(const dlp_syslog_t *s, int pri, uint64_t ts_us, const char *msgid,
                          char *out)
{
    time_t sec = (time_t)(ts_us / DLP_US_PER_S);
    struct tm tm;
    int n;

    if (gmtime_r(&sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    n = snprintf(out, s->max_msg + 1, "<%d>1 %04d-%02d-%02dT%02d:%02d:%02d.%06uZ %s %s %s %s", pri,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)(ts_us % DLP_US_PER_S), s->host, s->app, s->procid,
                 msgid != NULL ? msgid : "-");
    return n < 0 ? 0 : (size_t)n;
}

static size_t header_3164(const dlp_syslog_t *s, int pri, uint64_t ts_us, const char *msgid,
                          char *out)
{
    static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t sec = (time_t)(ts_us / DLP_US_PER_S);
    struct tm tm;
    int n;

    if (localtime_r(&sec, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    n = snprintf(out, s->max_msg + 1, "<%d>%s %2d %02d:%02d:%02d %s[%s]:%s%s", pri,
                 mon[tm.tm_mon % 12], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, s->app,
                 s->procid, msgid != NULL ? " " : "", msgid != NULL ? msgid : "");
    return n < 0 ? 0 : (size_t)n;
}

/*
 * Writes the message (at most max_msg bytes, not terminated) to 'out' and
 * returns its length; *trunc tells whether SD or MSG had to be shortened.
 * The headers always fit: max_msg >= DLP_SYSLOG_MIN_MSG_BYTES.
 */
static size_t format_msg(const dlp_syslog_t *s, int sev, uint64_t ts_us, const char *msgid,
                         const char *sd, const char *msg, char *out, bool *trunc)
{
    int pri = s->facility * 8 + sev;
    bool is5424 = s->fmt == DLP_SYSLOG_FMT_5424;
    size_t max = s->max_msg;
    size_t len =
        is5424 ? header_5424(s, pri, ts_us, msgid, out) : header_3164(s, pri, ts_us, msgid, out);
    size_t sdlen = sd != NULL ? strlen(sd) : 0;

    *trunc = false;
    if (sdlen > 0 && len + 1 + sdlen > max) {
        *trunc = true;
        sdlen = 0;
    }
    if (sdlen > 0 || is5424) {
        len = put(out, len, max, " ", 1);
        len = sdlen > 0 ? put(out, len, max, sd, sdlen) : put(out, len, max, "-", 1);
    }
    if (msg != NULL && msg[0] != '\0') {
        size_t mlen = strlen(msg);
        if (len + 1 + mlen > max) {
            *trunc = true;
            mlen = len + 1 < max ? utf8_cut(msg, max - len - 1) : 0;
        }
        if (mlen > 0) {
            len = put(out, len, max, " ", 1);
            len = put(out, len, max, msg, mlen);
        }
    }
    return len;
}

static bool sd_arg_ok(const char *sd)
{
    size_t n;

    if (sd == NULL || strcmp(sd, "-") == 0)
        return true;
    n = strlen(sd);
    return n >= 2 && sd[0] == '[' && sd[n - 1] == ']';
}

/* --- connecting ----------------------------------------------------------- */

static void close_fd(dlp_syslog_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void count_connect(dlp_syslog_t *s)
{
    if (s->connects++ > 0)
        dlp_stat_inc(s->st, DLP_STAT_SYSLOG_RECONNECTS);
}

/* Connects the local socket unless it was tried less than local_retry_ms ago; 0 or errno. */
static int local_connect(dlp_syslog_t *s, uint64_t now)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int err;

    if (s->state == ST_CONNECTED || now < s->next_try_ns)
        return 0;
    s->next_try_ns = now + ms_ns(s->local_retry_ms);
    count_connect(s);
    close_fd(s);
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return errno;
    memcpy(sa.sun_path, s->path, sizeof(s->path));
    if (connect(s->fd, (const struct sockaddr *)&sa, sizeof(sa)) == 0) {
        s->state = ST_CONNECTED;
        return 0;
    }
    err = errno;
    close_fd(s);
    dlp_log_limited(&s->rl, DLP_LOG_WARN, "syslog %s: %s", s->path, strerror(err));
    return err;
}

static void copy_addrs(dlp_syslog_t *s, const struct addrinfo *res)
{
    s->naddr = 0;
    s->ai = 0;
    for (const struct addrinfo *a = res; a != NULL && s->naddr < DLP_SYSLOG_MAX_ADDRS;
         a = a->ai_next) {
        if (a->ai_addrlen > sizeof(s->addrs[0]))
            continue;
        memcpy(&s->addrs[s->naddr], a->ai_addr, a->ai_addrlen);
        s->alens[s->naddr++] = a->ai_addrlen;
    }
}

static void fill_hints(const dlp_syslog_t *s, struct addrinfo *h, bool numeric)
{
    memset(h, 0, sizeof(*h));
    h->ai_family = AF_UNSPEC;
    h->ai_socktype = s->tr == TR_TCP ? SOCK_STREAM : SOCK_DGRAM;
    h->ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
}

/* Blocking lookup: dlp_syslog_new(), and numeric hosts (no DNS) later. Returns an EAI_ code. */
static int resolve_sync(dlp_syslog_t *s, bool numeric)
{
    struct addrinfo h, *res = NULL;
    int rc;

    fill_hints(s, &h, numeric);
    rc = getaddrinfo(s->node, s->port, &h, &res);
    if (rc == 0) {
        copy_addrs(s, res);
        freeaddrinfo(res);
        if (s->naddr == 0)
            rc = EAI_FAMILY;
    }
    return rc;
}

static bool resolve_async_start(dlp_syslog_t *s)
{
    resolve_req_t *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return false;
    fill_hints(s, &r->hints, false);
    copy_str(r->node, sizeof(r->node), s->node);
    copy_str(r->port, sizeof(r->port), s->port);
    r->cb.ar_name = r->node;
    r->cb.ar_service = r->port;
    r->cb.ar_request = &r->hints;
    r->list[0] = &r->cb;
    if (getaddrinfo_a(GAI_NOWAIT, r->list, 1, NULL) != 0) {
        free(r);
        return false;
    }
    s->req = r;
    return true;
}

/* 1: resolved, 0: in progress, -1: failed. */
static int resolve_async_poll(dlp_syslog_t *s)
{
    int e = gai_error(&s->req->cb);

    if (e == EAI_INPROGRESS)
        return 0;
    if (e == 0) {
        copy_addrs(s, s->req->cb.ar_result);
        freeaddrinfo(s->req->cb.ar_result);
    } else {
        dlp_log_limited(&s->rl, DLP_LOG_WARN, "syslog %s: %s", s->target, gai_strerror(e));
    }
    free(s->req);
    s->req = NULL;
    return e == 0 && s->naddr > 0 ? 1 : -1;
}

/* Gives an unfinished lookup up to 'ms' to finish or cancel; leaks it if it cannot. */
static void resolve_async_cancel(dlp_syslog_t *s, long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

    if (s->req == NULL)
        return;
    if (gai_error(&s->req->cb) == EAI_INPROGRESS && gai_cancel(&s->req->cb) == EAI_NOTCANCELED)
        gai_suspend((const struct gaicb *const *)s->req->list, 1, &t);
    if (gai_error(&s->req->cb) == EAI_INPROGRESS) {
        s->req = NULL;
        return;
    }
    if (gai_error(&s->req->cb) == 0)
        freeaddrinfo(s->req->cb.ar_result);
    free(s->req);
    s->req = NULL;
}

/* A failed attempt: the next address at once, or after the backoff when all failed. */
static void attempt_failed(dlp_syslog_t *s, int err, uint64_t now)
{
    close_fd(s);
    s->state = ST_IDLE;
    if (err != 0)
        dlp_log_limited(&s->rl, DLP_LOG_WARN, "syslog %s: %s", s->target, strerror(err));
    if (++s->ai < s->naddr) {
        s->next_try_ns = now;
        return;
    }
    s->next_try_ns = now + ms_ns(s->backoff_ms);
    s->backoff_ms = s->backoff_ms >= s->backoff_max_ms / 2 ? s->backoff_max_ms : s->backoff_ms * 2;
}

/* The connection broke: resend the frame in flight from its start, resolve again. */
static void connection_lost(dlp_syslog_t *s, int err, uint64_t now)
{
    close_fd(s);
    s->inflight_off = 0;
    s->state = ST_IDLE;
    s->ai = s->naddr;
    s->next_try_ns = now + ms_ns(s->backoff_ms);
    dlp_log_limited(&s->rl, DLP_LOG_WARN, "syslog %s: connection lost: %s", s->target,
                    err != 0 ? strerror(err) : "closed by peer");
}

static void connect_addr(dlp_syslog_t *s, uint64_t now)
{
    const struct sockaddr_storage *a = &s->addrs[s->ai];
    int type = s->tr == TR_TCP ? SOCK_STREAM : SOCK_DGRAM;

    count_connect(s);
    s->fd = socket(a->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        attempt_failed(s, errno, now);
        return;
    }
    if (connect(s->fd, (const struct sockaddr *)a, s->alens[s->ai]) == 0) {
        s->state = ST_CONNECTED;
        s->backoff_ms = s->backoff_min_ms;
    } else if (errno == EINPROGRESS) {
        s->state = ST_CONNECTING;
        s->connect_deadline_ns = now + ms_ns(s->connect_timeout_ms);
    } else {
        attempt_failed(s, errno, now);
    }
}

static void connecting_check(dlp_syslog_t *s, uint64_t now)
{
    struct pollfd p = {.fd = s->fd, .events = POLLOUT};
    int err = 0;
    socklen_t len = sizeof(err);

    if (poll(&p, 1, 0) <= 0) {
        if (now >= s->connect_deadline_ns)
            attempt_failed(s, ETIMEDOUT, now);
        return;
    }
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err != 0) {
        attempt_failed(s, err, now);
        return;
    }
    s->state = ST_CONNECTED;
    s->backoff_ms = s->backoff_min_ms;
}

/* Starts a round: resolve again when every address was tried, then connect. */
static void attempt_start(dlp_syslog_t *s, uint64_t now)
{
    if (s->ai < s->naddr) {
        connect_addr(s, now);
        return;
    }
    if (s->numeric) {
        if (resolve_sync(s, true) == 0) {
            connect_addr(s, now);
            return;
        }
    } else if (resolve_async_start(s)) {
        s->state = ST_RESOLVING;
        return;
    }
    s->ai = s->naddr;
    attempt_failed(s, 0, now);
}

static void net_step(dlp_syslog_t *s, uint64_t now)
{
    int r;

    if (s->state == ST_IDLE && now >= s->next_try_ns)
        attempt_start(s, now);
    if (s->state == ST_RESOLVING) {
        r = resolve_async_poll(s);
        if (r > 0) {
            s->state = ST_IDLE;
            connect_addr(s, now);
        } else if (r < 0) {
            s->ai = s->naddr;
            attempt_failed(s, 0, now);
        }
    }
    if (s->state == ST_CONNECTING)
        connecting_check(s, now);
}

/* --- counters -------------------------------------------------------------- */

/* The shared totals (syslog.sent/dropped) and this target's own: a local
 * socket's (syslog.local_*) or a collector's (syslog.remote_*). */
static void count_sent(dlp_syslog_t *s)
{
    dlp_stat_inc(s->st, DLP_STAT_SYSLOG_SENT);
    dlp_stat_inc(s->st, s->tr == TR_LOCAL ? DLP_STAT_SYSLOG_LOCAL_SENT
                                          : DLP_STAT_SYSLOG_REMOTE_SENT);
}

/* 'why' NULL: the caller says it (the end of the run); otherwise once a minute. */
static void count_dropped(dlp_syslog_t *s, uint64_t n, const char *why)
{
    dlp_stat_add(s->st, DLP_STAT_SYSLOG_DROPPED, n);
    dlp_stat_add(s->st, s->tr == TR_LOCAL ? DLP_STAT_SYSLOG_LOCAL_DROPPED
                                          : DLP_STAT_SYSLOG_REMOTE_DROPPED, n);
    s->dropped += n;
    if (why != NULL && n > 0)
        dlp_log_limited(&s->drop_rl, DLP_LOG_WARN,
                        "syslog %s: messages are being dropped: %s (%llu so far)", s->target,
                        why, (unsigned long long)s->dropped);
}

/* --- TCP queue ------------------------------------------------------------ */

static void drop_oldest(dlp_syslog_t *s, size_t need)
{
    while (s->q.cap - s->q.len < need && s->q.len > 0) {
        ring_pop(&s->q, ring_frame_len(&s->q));
        count_dropped(s, 1, "the queue for the collector is full, the oldest go");
    }
}

/* The socket took 'w' bytes from the ring head: retire whole frames, park a partial one. */
static void ring_consumed(dlp_syslog_t *s, size_t w)
{
    while (w > 0) {
        size_t f = ring_frame_len(&s->q);
        if (w < f) {
            ring_copy_out(&s->q, s->inflight, f);
            s->inflight_len = f;
            s->inflight_off = w;
            ring_pop(&s->q, f);
            return;
        }
        ring_pop(&s->q, f);
        count_sent(s);
        w -= f;
    }
}

/* Returns false when the socket is full or the connection broke. */
static bool write_some(dlp_syslog_t *s, const char *p, size_t n, size_t *w, uint64_t now)
{
    ssize_t r = send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

    if (r >= 0) {
        *w = (size_t)r;
        return true;
    }
    *w = 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS)
        connection_lost(s, errno, now);
    return false;
}

static void tcp_flush(dlp_syslog_t *s, uint64_t now)
{
    size_t w;

    while (s->state == ST_CONNECTED) {
        if (s->inflight_off < s->inflight_len) {
            if (!write_some(s, s->inflight + s->inflight_off, s->inflight_len - s->inflight_off, &w,
                            now))
                return;
            s->inflight_off += w;
            if (s->inflight_off < s->inflight_len)
                return;
            s->inflight_off = s->inflight_len = 0;
            count_sent(s);
            continue;
        }
        if (s->q.len == 0)
            return;
        size_t span = s->q.len < s->q.cap - s->q.head ? s->q.len : s->q.cap - s->q.head;
        if (!write_some(s, s->q.b + s->q.head, span, &w, now))
            return;
        ring_consumed(s, w);
        if (w < span)
            return;
    }
}

/* Readable on a syslog connection means the collector closed it (or talks, which it should not). */
static void tcp_check_peer(dlp_syslog_t *s, uint64_t now)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    char buf[256];
    ssize_t r;
    int err = 0;
    socklen_t len = sizeof(err);

    if (poll(&p, 1, 0) <= 0)
        return;
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        connection_lost(s, err, now);
        return;
    }
    r = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r == 0)
        connection_lost(s, 0, now);
    else if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        connection_lost(s, errno, now);
}

static dlp_rc_t tcp_send(dlp_syslog_t *s, const char *frame, size_t n, uint64_t now)
{
    drop_oldest(s, n);
    ring_push(&s->q, frame, n);
    tcp_flush(s, now);
    gauge_update(s);
    return DLP_OK;
}

/* --- datagrams ------------------------------------------------------------ */

/*
 * Waits up to full_wait_ms for the receiver to have room (a connected unix
 * datagram socket polls writable when its peer's queue does). After one wait
 * ran out the receiver is stuck: the next datagrams are dropped at once
 * instead of each waiting as long, until one is taken again.
 */
static bool dgram_room(dlp_syslog_t *s)
{
    struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};

    if (s->full_wait_ms == 0 || s->stalled)
        return false;
    if (poll(&pfd, 1, (int)s->full_wait_ms) == 1 && (pfd.revents & POLLOUT))
        return true;
    s->stalled = true;
    return false;
}

static dlp_rc_t dgram_send(dlp_syslog_t *s, const char *m, size_t n, uint64_t now)
{
    bool waited = false;

    if (s->tr == TR_LOCAL)
        (void)local_connect(s, now);
    for (int tries = 0; s->state == ST_CONNECTED && tries < 2; tries++) {
        if (send(s->fd, m, n, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
            count_sent(s);
            s->stalled = false;
            return DLP_OK;
        }
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && !waited) {
            waited = true;
            if (dgram_room(s)) {
                tries--; /* room now: the same attempt again */
                continue;
            }
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EMSGSIZE) {
            count_dropped(s, 1, errno == EMSGSIZE ? strerror(errno) : "the receiver is full");
            return DLP_ELIMIT;
        }
        if (s->tr == TR_LOCAL) {
            /* the daemon restarted or went away: a new socket, at most once per retry period */
            dlp_log_limited(&s->rl, DLP_LOG_WARN, "syslog %s: %s", s->path, strerror(errno));
            close_fd(s);
            s->state = ST_IDLE;
            (void)local_connect(s, now);
        } else if (errno != ECONNREFUSED && errno != EINTR) {
            /* ECONNREFUSED reports an earlier datagram's ICMP error: this one was not sent */
            break;
        }
    }
    count_dropped(s, 1, s->state == ST_CONNECTED ? strerror(errno) : "not connected");
    return DLP_EIO;
}

/* --- public --------------------------------------------------------------- */

dlp_rc_t dlp_syslog_send(dlp_syslog_t *s, int severity, uint64_t ts_us, const char *msgid,
                         const char *sd, const char *msg)
{
    char *out = s->scratch + FRAME_ROOM;
    uint64_t now = dlp_time_mono_ns();
    bool trunc;
    size_t n;

    if (severity < 0 || severity > 7 || (msgid != NULL && !printable_ascii(msgid, MSGID_MAX)) ||
        !sd_arg_ok(sd)) {
        count_dropped(s, 1, NULL); /* a bug: the caller says it */
        return DLP_EINVAL;
    }
    if (sd != NULL && strcmp(sd, "-") == 0)
        sd = NULL;
    n = format_msg(s, severity, ts_us != 0 ? ts_us : dlp_time_now_us(), msgid, sd, msg, out,
                   &trunc);
    if (trunc)
        dlp_stat_inc(s->st, DLP_STAT_SYSLOG_TRUNCATED);
    if (s->tr != TR_TCP)
        return dgram_send(s, out, n, now);

    char pre[FRAME_ROOM + 1];
    int pn = snprintf(pre, sizeof(pre), "%zu ", n);
    memcpy(out - pn, pre, (size_t)pn);
    return tcp_send(s, out - pn, n + (size_t)pn, now);
}

bool dlp_syslog_poll(dlp_syslog_t *s)
{
    uint64_t now = dlp_time_mono_ns();

    if (s->tr == TR_LOCAL) {
        (void)local_connect(s, now);
        return false;
    }
    net_step(s, now);
    if (s->tr == TR_TCP && s->state == ST_CONNECTED) {
        tcp_check_peer(s, now);
        tcp_flush(s, now);
    }
    gauge_update(s);
    return s->q.len > 0 || s->inflight_len > 0;
}

/* --- configuration -------------------------------------------------------- */

static bool parse_port(dlp_syslog_t *s, const char *p)
{
    char *end;
    long v;

    if (p[0] < '0' || p[0] > '9')
        return false;
    errno = 0;
    v = strtol(p, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
        return false;
    snprintf(s->port, sizeof(s->port), "%ld", v);
    return true;
}

/* "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" -> node, port; NULL or a reason. */
static const char *parse_hostport(dlp_syslog_t *s, const char *hp)
{
    const char *host = hp, *port = NULL, *hend;

    if (hp[0] == '[') {
        host = hp + 1;
        hend = strchr(host, ']');
        if (hend == NULL)
            return "missing ']' after the IPv6 address";
        if (hend[1] != '\0' && hend[1] != ':')
            return "expected ':PORT' after ']'";
        port = hend[1] == ':' ? hend + 2 : NULL;
    } else {
        hend = strchr(hp, ':');
        if (hend != NULL && strchr(hend + 1, ':') != NULL)
            return "an IPv6 address needs brackets: [ADDR]:PORT";
        port = hend != NULL ? hend + 1 : NULL;
        if (hend == NULL)
            hend = hp + strlen(hp);
    }
    if (hend == host)
        return "missing host";
    if ((size_t)(hend - host) > HOST_MAX)
        return "host name too long";
    memcpy(s->node, host, (size_t)(hend - host));
    s->node[hend - host] = '\0';
    if (port == NULL)
        snprintf(s->port, sizeof(s->port), "%d", DLP_SYSLOG_DEFAULT_PORT);
    else if (!parse_port(s, port))
        return "port must be 1..65535";
    return NULL;
}

static bool parse_target(dlp_syslog_t *s, const char *t, char *err, size_t errlen)
{
    const char *why = NULL;

    if (t == NULL || t[0] == '\0')
        t = DLP_SYSLOG_DEFAULT_TARGET;
    copy_str(s->target, sizeof(s->target), t);
    if (strncmp(t, "unix://", 7) == 0 || t[0] == '/') {
        const char *p = t[0] == '/' ? t : t + 7;
        s->tr = TR_LOCAL;
        if (p[0] != '/')
            why = "the socket path must be absolute";
        else if (strlen(p) >= sizeof(s->path))
            why = "the socket path is too long";
        else
            copy_str(s->path, sizeof(s->path), p);
    } else if (strncmp(t, "udp://", 6) == 0 || strncmp(t, "tcp://", 6) == 0) {
        s->tr = t[0] == 'u' ? TR_UDP : TR_TCP;
        why = parse_hostport(s, t + 6);
    } else {
        why = "expected /PATH, unix:///PATH, udp://HOST[:PORT] or tcp://HOST[:PORT]";
    }
    if (why != NULL)
        snprintf(err, errlen, "syslog target \"%s\": %s", t, why);
    return why == NULL;
}

static bool apply_config(dlp_syslog_t *s, const dlp_syslog_config_t *c, char *err, size_t errlen)
{
    const char *app = c->app_name != NULL ? c->app_name : "dlpsensor";
    size_t min_buf;

    if (!parse_target(s, c->target, err, errlen))
        return false;
    s->facility =
        c->facility != NULL ? dlp_config_facility(c->facility) : DLP_SYSLOG_DEFAULT_FACILITY;
    if (s->facility < 0) {
        snprintf(err, errlen, "syslog facility \"%s\": unknown (kern .. local7 or 0..23)",
                 c->facility);
        return false;
    }
    if (!printable_ascii(app, APP_MAX)) {
        snprintf(err, errlen, "syslog app name \"%s\": 1..48 printable ASCII characters", app);
        return false;
    }
    copy_str(s->app, sizeof(s->app), app);
    s->fmt = c->format != DLP_SYSLOG_FMT_AUTO ? c->format
             : s->tr == TR_LOCAL              ? DLP_SYSLOG_FMT_3164
                                              : DLP_SYSLOG_FMT_5424;
    s->max_msg = c->max_msg_bytes != 0 ? c->max_msg_bytes : DLP_SYSLOG_MAX_MSG_BYTES;
    if (s->max_msg < DLP_SYSLOG_MIN_MSG_BYTES || s->max_msg > DLP_SYSLOG_LIMIT_MSG_BYTES) {
        snprintf(err, errlen, "syslog max message size %zu: must be %u..%u", s->max_msg,
                 DLP_SYSLOG_MIN_MSG_BYTES, DLP_SYSLOG_LIMIT_MSG_BYTES);
        return false;
    }
    s->q.cap = c->buffer_bytes != 0 ? c->buffer_bytes : DLP_SYSLOG_BUFFER_BYTES;
    min_buf = s->max_msg + 16;
    if (s->q.cap < min_buf) {
        snprintf(err, errlen, "syslog buffer %zu bytes: must be at least %zu", s->q.cap, min_buf);
        return false;
    }
    s->backoff_min_ms = c->backoff_min_ms != 0 ? c->backoff_min_ms : DLP_SYSLOG_BACKOFF_MIN_MS;
    s->backoff_max_ms = c->backoff_max_ms != 0 ? c->backoff_max_ms : DLP_SYSLOG_BACKOFF_MAX_MS;
    if (s->backoff_max_ms < s->backoff_min_ms)
        s->backoff_max_ms = s->backoff_min_ms;
    s->backoff_ms = s->backoff_min_ms;
    s->local_retry_ms = c->local_retry_ms != 0 ? c->local_retry_ms : DLP_SYSLOG_LOCAL_RETRY_MS;
    s->connect_timeout_ms =
        c->connect_timeout_ms != 0 ? c->connect_timeout_ms : DLP_SYSLOG_CONNECT_TIMEOUT_MS;
    s->full_wait_ms = c->full_wait_ms;
    return true;
}

static void set_hostname(dlp_syslog_t *s, const char *h)
{
    char buf[HOST_MAX + 1] = "";

    if (h == NULL && gethostname(buf, sizeof(buf) - 1) == 0)
        h = buf;
    copy_str(s->host, sizeof(s->host), h != NULL ? h : "");
    for (char *p = s->host; *p != '\0'; p++)
        if ((unsigned char)*p < 33 || (unsigned char)*p > 126)
            *p = '_';
    if (s->host[0] == '\0')
        copy_str(s->host, sizeof(s->host), "-");
}

/* The first lookup may wait on DNS; a temporary failure leaves it to dlp_syslog_poll(). */
static bool first_resolve(dlp_syslog_t *s, char *err, size_t errlen)
{
    int rc;

    s->numeric = resolve_sync(s, true) == 0;
    rc = s->numeric ? 0 : resolve_sync(s, false);
    if (rc == EAI_AGAIN) {
        s->ai = s->naddr = 0;
        return true;
    }
    if (rc != 0) {
        snprintf(err, errlen, "syslog target \"%s\": %s", s->target,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return false;
    }
    return true;
}

static bool first_local(dlp_syslog_t *s, char *err, size_t errlen)
{
    int e = local_connect(s, dlp_time_mono_ns());

    if (e == 0 || e == ENOENT || e == ECONNREFUSED)
        return true;
    snprintf(err, errlen, "syslog target \"%s\": %s", s->path, strerror(e));
    return false;
}

dlp_syslog_t *dlp_syslog_new(const dlp_syslog_config_t *c, dlp_stats_t *st, char *err,
                             size_t errlen)
{
    static const dlp_syslog_config_t defaults;
    dlp_syslog_t *s = calloc(1, sizeof(*s));

    if (s == NULL || st == NULL) {
        snprintf(err, errlen, s == NULL ? "out of memory" : "syslog: no stats block");
        goto fail;
    }
    s->fd = -1;
    s->st = st;
    s->rl = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(60);
    s->drop_rl = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(60);
    if (!apply_config(s, c != NULL ? c : &defaults, err, errlen))
        goto fail;
    set_hostname(s, c != NULL ? c->hostname : NULL);
    snprintf(s->procid, sizeof(s->procid), "%ld", (long)getpid());
    tzset();
    s->scratch = malloc(FRAME_ROOM + s->max_msg + 1);
    if (s->tr == TR_TCP) {
        s->q.b = malloc(s->q.cap);
        s->inflight = malloc(FRAME_ROOM + s->max_msg);
    } else {
        s->q.cap = 0;
    }
    if (s->scratch == NULL || (s->tr == TR_TCP && (s->q.b == NULL || s->inflight == NULL))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (s->tr == TR_LOCAL ? !first_local(s, err, errlen) : !first_resolve(s, err, errlen))
        goto fail;
    if (s->tr != TR_LOCAL)
        net_step(s, dlp_time_mono_ns());
    return s;
fail:
    dlp_syslog_free(s);
    return NULL;
}

/* Up to DLP_SYSLOG_CLOSE_FLUSH_MS to connect and write what is queued;
 * returns how many messages were left, dropped and counted. */
static size_t tcp_drain(dlp_syslog_t *s)
{
    size_t left;

    uint64_t deadline = dlp_time_mono_ns() + ms_ns(DLP_SYSLOG_CLOSE_FLUSH_MS);

    while ((s->q.len > 0 || s->inflight_len > 0) && dlp_syslog_poll(s)) {
        uint64_t now = dlp_time_mono_ns();
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        if (now >= deadline)
            break;
        int ms = (int)((deadline - now) / NS_PER_MS) + 1;
        if (ms > 10)
            ms = 10;
        if (s->fd >= 0 && s->state != ST_RESOLVING) {
            (void)poll(&p, 1, ms);
        } else {
            struct timespec t = {0, (long)ms * 1000000L};
            nanosleep(&t, NULL);
        }
    }
    left = ring_frames(&s->q) + (s->inflight_len > 0);
    count_dropped(s, left, NULL); /* dlp_syslog_drain says it */
    s->q.len = s->q.head = 0;
    s->inflight_len = s->inflight_off = 0;
    gauge_update(s);
    return left;
}

size_t dlp_syslog_drain(dlp_syslog_t *s)
{
    size_t left;

    if (s == NULL || s->tr != TR_TCP || s->q.b == NULL || s->inflight == NULL)
        return 0;
    left = tcp_drain(s);
    if (left > 0) /* the collector is away: nothing else would tell the operator */
        dlp_log(DLP_LOG_WARN, "syslog %s: %zu message%s never reached the collector "
                              "(counted in syslog.dropped)",
                s->target, left, left == 1 ? "" : "s");
    return left;
}

void dlp_syslog_free(dlp_syslog_t *s)
{
    if (s == NULL)
        return;
    if (s->tr == TR_TCP && s->st != NULL && s->q.b != NULL && s->inflight != NULL)
        (void)tcp_drain(s); /* after dlp_syslog_drain, nothing is left */
    resolve_async_cancel(s, DLP_SYSLOG_CLOSE_FLUSH_MS / 2);
    close_fd(s);
    free(s->inflight);
    free(s->q.b);
    free(s->scratch);
    free(s);
}

/* --- STRUCTURED-DATA builder ---------------------------------------------- */

void dlp_syslog_sd_init(dlp_syslog_sd_t *b, char *buf, size_t cap)
{
    b->buf = buf;
    b->cap = cap;
    b->len = 0;
    b->open = false;
    b->rc = cap > 0 ? DLP_OK : DLP_ELIMIT;
    if (cap > 0)
        buf[0] = '\0';
}

static void sd_fail(dlp_syslog_sd_t *b, dlp_rc_t rc)
{
    if (b->rc == DLP_OK)
        b->rc = rc;
    b->len = 0;
    if (b->cap > 0)
        b->buf[0] = '\0';
}

static void sd_put(dlp_syslog_sd_t *b, const char *p, size_t n)
{
    if (b->rc != DLP_OK)
        return;
    if (n >= b->cap - b->len) {
        sd_fail(b, DLP_ELIMIT);
        return;
    }
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

/* SD-NAME: 1..32 of PRINTUSASCII except '=', ' ', ']', '"'; an SD-ID may be NAME@DIGITS. */
static bool sd_name_ok(const char *n, bool id)
{
    const char *at = id ? strchr(n, '@') : NULL;

    if (n == NULL || !printable_ascii(n, SDNAME_MAX) || strpbrk(n, "=]\"") != NULL)
        return false;
    if (at == NULL)
        return true;
    if (at == n || at[1] == '\0')
        return false;
    for (const char *p = at + 1; *p != '\0'; p++)
        if ((*p < '0' || *p > '9') && *p != '.')
            return false;
    return true;
}

void dlp_syslog_sd_begin(dlp_syslog_sd_t *b, const char *sd_id)
{
    if (b->rc != DLP_OK)
        return;
    if (b->open || sd_id == NULL || !sd_name_ok(sd_id, true)) {
        sd_fail(b, DLP_EINVAL);
        return;
    }
    sd_put(b, "[", 1);
    sd_put(b, sd_id, strlen(sd_id));
    b->open = true;
}

void dlp_syslog_sd_param(dlp_syslog_sd_t *b, const char *name, const char *value)
{
    if (b->rc != DLP_OK)
        return;
    if (!b->open || name == NULL || value == NULL || !sd_name_ok(name, false)) {
        sd_fail(b, DLP_EINVAL);
        return;
    }
    sd_put(b, " ", 1);
    sd_put(b, name, strlen(name));
    sd_put(b, "=\"", 2);
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\' || *p == ']')
            sd_put(b, "\\", 1);
        sd_put(b, p, 1);
    }
    sd_put(b, "\"", 1);
}

void dlp_syslog_sd_param_u64(dlp_syslog_sd_t *b, const char *name, uint64_t value)
{
    char v[24];

    snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
    dlp_syslog_sd_param(b, name, v);
}

dlp_rc_t dlp_syslog_sd_end(dlp_syslog_sd_t *b)
{
    if (b->rc == DLP_OK && !b->open)
        sd_fail(b, DLP_EINVAL);
    sd_put(b, "]", 1);
    b->open = false;
    return b->rc;
}
