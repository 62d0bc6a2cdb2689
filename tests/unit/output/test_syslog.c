/*
 * test_syslog.c - dlp_syslog against sockets the test owns: a unix datagram
 * "syslog daemon" in a temporary directory, a UDP socket and a TCP listener
 * on 127.0.0.1. Messages are compared byte for byte (TZ=UTC makes the RFC
 * 3164 local time exact). Loops that wait for the network give up after
 * WAIT_MS; that bound makes a broken sender fail, it measures nothing.
 */
#include "dlp_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dlp/stats.h"
#include "dlp/config.h"
#include "dlp/syslog.h"

#define WAIT_MS 5000
#define TS 1795934060123456ULL /* 2026-11-29T06:34:20.123456Z */
#define SDID "dlp@32473"

static dlp_stats_t g_st;
static char g_dir[64];
static char g_err[512];
static int g_pid;

/* --- helpers -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static uint64_t st(dlp_stat_id_t id)
{
    return dlp_stat_get(&g_st, id);
}

static void path_in_dir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    dlp_stats_init(&g_st);
    snprintf(g_dir, sizeof(g_dir), "/tmp/dlpsl-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    setenv("TZ", "UTC", 1);
    tzset();
    g_pid = (int)getpid();
    g_err[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int unix_server(const char *path, int rcvbuf)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* One datagram, waiting up to WAIT_MS; returns its length (-1 if none). */
static ssize_t recv_dgram(int fd, char *buf, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, WAIT_MS) <= 0)
        return -1;
    n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static int inet_socket(int type, const char *addr, uint16_t port, uint16_t *bound)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fam = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
    int fd = socket(fam, type | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&ss, 0, sizeof(ss));
    if (fam == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        inet_pton(AF_INET, addr, &a->sin_addr);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        len = sizeof(*a);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *bound = ntohs(fam == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int tcp_listener(uint16_t port, int rcvbuf, int backlog, uint16_t *bound)
{
    int fd = inet_socket(SOCK_STREAM, "127.0.0.1", port, bound);

    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

/* A port nothing listens on (bound once, then released). */
static uint16_t free_port(void)
{
    uint16_t port;
    int fd = inet_socket(SOCK_STREAM, "127.0.0.1", 0, &port);

    assert_true(fd >= 0);
    close(fd);
    return port;
}

typedef struct collector {
    int lfd, cfd;
    int accepted;
    char *buf;
    size_t len, cap;
} collector_t;

static void collector_open(collector_t *c, uint16_t port, int rcvbuf, size_t cap, uint16_t *bound)
{
    memset(c, 0, sizeof(*c));
    c->lfd = tcp_listener(port, rcvbuf, 16, bound);
    c->cfd = -1;
    c->cap = cap;
    c->buf = malloc(cap + 1);
    assert_non_null(c->buf);
}

static void collector_close(collector_t *c)
{
    if (c->cfd >= 0)
        close(c->cfd);
    if (c->lfd >= 0)
        close(c->lfd);
    free(c->buf);
}

/* One non-blocking round: accept a (new) connection, read what is there. */
static bool collector_step(collector_t *c)
{
    bool progress = false;
    int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd >= 0) {
        if (c->cfd >= 0)
            close(c->cfd);
        c->cfd = fd;
        c->accepted++;
        progress = true;
    }
    while (c->cfd >= 0 && c->len < c->cap) {
        ssize_t r = recv(c->cfd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (r <= 0)
            break;
        c->len += (size_t)r;
        progress = true;
    }
    c->buf[c->len] = '\0';
    return progress;
}

/* Polls the sender and the collector until 'want' bytes arrived or WAIT_MS passed. */
static void collect(dlp_syslog_t *s, collector_t *c, size_t want)
{
    uint64_t end = now_ms() + WAIT_MS;

    while (c->len < want && now_ms() < end) {
        bool busy = s != NULL && dlp_syslog_poll(s);
        if (!collector_step(c) && !busy)
            sleep_ms(1);
    }
}

static dlp_syslog_t *new_sender(const dlp_syslog_config_t *c)
{
    dlp_syslog_t *s = dlp_syslog_new(c, &g_st, g_err, sizeof(g_err));

    if (s == NULL)
        fail_msg("dlp_syslog_new: %s", g_err);
    return s;
}

static void tcp_target(char *buf, size_t cap, const char *host, uint16_t port)
{
    snprintf(buf, cap, "tcp://%s:%u", host, port);
}

/* --- local socket (RFC 3164 by default) ----------------------------------- */

static void test_local_3164_exact(void **state)
{
    char path[128], buf[1024], want[1024];
    dlp_syslog_config_t c = {.target = path};
    dlp_syslog_t *s;
    int srv;

    (void)state;
    path_in_dir(path, sizeof(path), "log");
    srv = unix_server(path, 0);
    s = new_sender(&c);

    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, "DLP_ALERT",
                                     "[" SDID " rule=\"pii.credit_card\"]", "2 values"),
                     DLP_OK);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    /* <local4*8+warning> Mmm dd hh:mm:ss TAG[pid]: MSGID SD MSG */
    snprintf(want, sizeof(want),
             "<164>Nov 29 06:34:20 dlpsensor[%d]: DLP_ALERT [" SDID
             " rule=\"pii.credit_card\"] 2 values",
             g_pid);
    assert_string_equal(buf, want);

    /* no msgid, no SD; a single-digit day is space-padded */
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_INFO, 1772323205000000ULL, NULL, NULL, "hi"),
                     DLP_OK);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    snprintf(want, sizeof(want), "<166>Mar  1 00:00:05 dlpsensor[%d]: hi", g_pid);
    assert_string_equal(buf, want);

    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 2);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 0);
    assert_int_equal(st(DLP_STAT_SYSLOG_RECONNECTS), 0);
    assert_false(dlp_syslog_poll(s));
    dlp_syslog_free(s);
    close(srv);
}

static void test_local_facility_app_and_5424(void **state)
{
    char path[128], target[160], buf[1024], want[1024];
    dlp_syslog_config_t c = {.target = target,
                             .facility = "auth",
                             .app_name = "dlp-test",
                             .hostname = "sensor1",
                             .format = DLP_SYSLOG_FMT_5424};
    dlp_syslog_t *s;
    int srv;

    (void)state;
    path_in_dir(path, sizeof(path), "log5");
    snprintf(target, sizeof(target), "unix://%s", path);
    srv = unix_server(path, 0);
    s = new_sender(&c);
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_CRIT, TS, "ID1", NULL, "x"), DLP_OK);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    /* auth(4)*8 + crit(2) = 34 */
    snprintf(want, sizeof(want), "<34>1 2026-11-29T06:34:20.123456Z sensor1 dlp-test %d ID1 - x",
             g_pid);
    assert_string_equal(buf, want);
    dlp_syslog_free(s);
    close(srv);
}

/* What the code under test wrote to stderr meanwhile (begin, then end). */
static int g_saved_err = -1;
static char g_err_path[128];

static void stderr_begin(void)
{
    int fd;

    path_in_dir(g_err_path, sizeof(g_err_path), "stderr");
    fd = open(g_err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    g_saved_err = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

static void stderr_end(char *buf, size_t cap)
{
    FILE *in;
    size_t n;

    dup2(g_saved_err, STDERR_FILENO);
    close(g_saved_err);
    in = fopen(g_err_path, "r");
    assert_non_null(in);
    n = fread(buf, 1, cap - 1, in);
    buf[n] = '\0';
    fclose(in);
    unlink(g_err_path);
}

/* The reader never reads: once its queue is full, send() drops instead of
 * waiting, counted as the local target's, and said (once a minute). */
static void test_local_stalled_reader(void **state)
{
    char path[128], buf[256], text[4096];
    dlp_syslog_config_t c = {.target = path};
    dlp_syslog_t *s;
    unsigned ok = 0, full = 0;
    int srv;

    (void)state;
    path_in_dir(path, sizeof(path), "stall");
    srv = unix_server(path, 1024);
    s = new_sender(&c);
    stderr_begin();
    for (int i = 0; i < 200; i++) {
        dlp_rc_t rc = dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "stalled");
        assert_true(rc == DLP_OK || rc == DLP_ELIMIT);
        ok += rc == DLP_OK;
        full += rc == DLP_ELIMIT;
    }
    assert_true(ok >= 1);
    assert_true(full >= 1);
    assert_int_equal(ok + full, 200);
    stderr_end(text, sizeof(text));
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), ok);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), full);
    assert_int_equal(st(DLP_STAT_SYSLOG_LOCAL_SENT), ok);
    assert_int_equal(st(DLP_STAT_SYSLOG_LOCAL_DROPPED), full);
    assert_int_equal(st(DLP_STAT_SYSLOG_REMOTE_SENT) + st(DLP_STAT_SYSLOG_REMOTE_DROPPED), 0);
    assert_non_null(strstr(text, "messages are being dropped: the receiver is full"));
    assert_null(strstr(strstr(text, "being dropped") + 1, "being dropped")); /* once */
    /* the daemon reads one: there is room again */
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "again"), DLP_OK);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), ok + 1);
    dlp_syslog_free(s);
    close(srv);
}

typedef struct late_reader {
    int fd;
    unsigned delay_ms;
} late_reader_t;

static void *read_one_late(void *arg)
{
    late_reader_t *r = arg;
    char buf[256];

    sleep_ms(r->delay_ms);
    (void)recv_dgram(r->fd, buf, sizeof(buf));
    return NULL;
}

/* Reading files (full_wait_ms): a full queue is waited for, boundedly; once a
 * wait ran out, not again until the receiver takes a datagram. */
static void test_local_full_waits(void **state)
{
    char path[128];
    dlp_syslog_config_t c = {.target = path, .full_wait_ms = 150};
    late_reader_t lr;
    pthread_t t;
    dlp_syslog_t *s;
    uint64_t t0;
    unsigned ok = 0;
    int srv;

    (void)state;
    path_in_dir(path, sizeof(path), "waits");
    srv = unix_server(path, 1024);
    s = new_sender(&c);
    /* fill the queue: the first refusal has waited the whole bound, then dropped */
    for (;;) {
        t0 = now_ms();
        if (dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "fill") != DLP_OK)
            break;
        ok++;
        assert_true(ok < 100000);
    }
    assert_true(now_ms() - t0 >= 140);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 1);
    /* the receiver is stuck: the next datagram is dropped without another wait */
    t0 = now_ms();
    assert_int_not_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "stuck"), DLP_OK);
    assert_true(now_ms() - t0 < 100);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 2);
    /* it reads again: the next datagram goes, and waits are back */
    {
        char buf[256];
        assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    }
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "room"), DLP_OK);
    ok++;
    /* the daemon catches up while the sender waits: nothing is lost */
    lr = (late_reader_t){.fd = srv, .delay_ms = 30};
    assert_int_equal(pthread_create(&t, NULL, read_one_late, &lr), 0);
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "late"), DLP_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), ok + 1);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 2);
    dlp_syslog_free(s);
    close(srv);
}

/* No daemon: count and retry at most once per local_retry_ms; then it appears and restarts. */
static void test_local_no_daemon_then_restart(void **state)
{
    char path[128], buf[512], want[512];
    dlp_syslog_config_t c = {.target = path, .local_retry_ms = 50};
    dlp_syslog_t *s;
    uint64_t t0, elapsed, end;
    int srv;

    (void)state;
    path_in_dir(path, sizeof(path), "later");
    s = new_sender(&c);
    t0 = now_ms();
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "lost"), DLP_EIO);
    dlp_syslog_poll(s);
    elapsed = now_ms() - t0;
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 1000);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 0);
    /* attempts are rate limited: one per 50 ms at most (the first is not a reconnect) */
    assert_true(st(DLP_STAT_SYSLOG_RECONNECTS) <= elapsed / 50 + 1);

    srv = unix_server(path, 0);
    end = now_ms() + WAIT_MS;
    while (dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "found") != DLP_OK &&
           now_ms() < end)
        sleep_ms(5);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    snprintf(want, sizeof(want), "<164>Nov 29 06:34:20 dlpsensor[%d]: found", g_pid);
    assert_string_equal(buf, want);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 1);

    /* the daemon restarts: a new socket at the same path; the next message is not lost */
    uint64_t dropped = st(DLP_STAT_SYSLOG_DROPPED), rec = st(DLP_STAT_SYSLOG_RECONNECTS);
    close(srv);
    unlink(path);
    srv = unix_server(path, 0);
    sleep_ms(60);
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "after"), DLP_OK);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    snprintf(want, sizeof(want), "<164>Nov 29 06:34:20 dlpsensor[%d]: after", g_pid);
    assert_string_equal(buf, want);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), dropped);
    assert_int_equal(st(DLP_STAT_SYSLOG_RECONNECTS), rec + 1);
    dlp_syslog_free(s);
    close(srv);
}

/* --- UDP (RFC 5424) ------------------------------------------------------- */

static void udp_exact(const char *addr, const char *host_in_url)
{
    char target[128], buf[1024], want[1024], sd[256];
    dlp_syslog_config_t c = {.target = target, .hostname = "sensor1"};
    dlp_syslog_sd_t b;
    dlp_syslog_t *s;
    uint16_t port;
    int srv = inet_socket(SOCK_DGRAM, addr, 0, &port);

    if (srv < 0) {
        print_message("no %s here, skipped\n", addr);
        return;
    }
    snprintf(target, sizeof(target), "udp://%s:%u", host_in_url, port);
    s = new_sender(&c);
    dlp_syslog_sd_init(&b, sd, sizeof(sd));
    dlp_syslog_sd_begin(&b, SDID);
    dlp_syslog_sd_param(&b, "rule", "pii.credit_card");
    dlp_syslog_sd_param(&b, "q", "quote\" back\\ br]");
    dlp_syslog_sd_param_u64(&b, "count", 2);
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_OK);
    assert_int_equal(
        dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, "DLP_ALERT", sd, "pii.credit_card: 2 values"),
        DLP_OK);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    snprintf(want, sizeof(want),
             "<164>1 2026-11-29T06:34:20.123456Z sensor1 dlpsensor %d DLP_ALERT "
             "[" SDID " rule=\"pii.credit_card\" q=\"quote\\\" back\\\\ br\\]\" count=\"2\"] "
             "pii.credit_card: 2 values",
             g_pid);
    assert_string_equal(buf, want);
    /* no SD and no MSG: "-" for SD, MSG omitted */
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_DEBUG, TS, NULL, "-", NULL), DLP_OK);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    snprintf(want, sizeof(want), "<167>1 2026-11-29T06:34:20.123456Z sensor1 dlpsensor %d - -",
             g_pid);
    assert_string_equal(buf, want);
    dlp_syslog_free(s);
    close(srv);
}

static void test_udp_5424_exact(void **state)
{
    (void)state;
    udp_exact("127.0.0.1", "127.0.0.1");
    udp_exact("::1", "[::1]");
    udp_exact("127.0.0.1", "localhost");
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 0);
}

/* Nobody listens: ICMP port unreachable makes a later send() fail; it is counted, never waits. */
static void test_udp_no_listener(void **state)
{
    char target[64];
    dlp_syslog_config_t c = {.target = target};
    dlp_syslog_t *s;
    unsigned ok = 0;

    (void)state;
    snprintf(target, sizeof(target), "udp://127.0.0.1:%u", free_port());
    s = new_sender(&c);
    for (int i = 0; i < 50; i++) {
        dlp_rc_t rc = dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "void");
        assert_true(rc == DLP_OK || rc == DLP_EIO);
        ok += rc == DLP_OK;
    }
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT) + st(DLP_STAT_SYSLOG_DROPPED), 50);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), ok);
    assert_int_equal(st(DLP_STAT_SYSLOG_REMOTE_SENT), ok);
    assert_int_equal(st(DLP_STAT_SYSLOG_REMOTE_DROPPED), 50 - ok);
    assert_int_equal(st(DLP_STAT_SYSLOG_LOCAL_SENT) + st(DLP_STAT_SYSLOG_LOCAL_DROPPED), 0);
    dlp_syslog_free(s);
}

/* --- truncation ----------------------------------------------------------- */

/* Sends 'msg' through UDP with max_msg_bytes 480 and returns what arrived. */
static void udp_roundtrip(int srv, dlp_syslog_t *s, const char *sd, const char *msg, char *buf,
                          size_t cap)
{
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, sd, msg), DLP_OK);
    assert_true(recv_dgram(srv, buf, cap) > 0);
}

static void test_truncation_utf8(void **state)
{
    char target[64], head[128], msg[1024], buf[1024];
    dlp_syslog_config_t c = {.target = target, .hostname = "h", .max_msg_bytes = 480};
    /* € is E2 82 AC, U+1F600 is F0 9F 98 80 */
    static const struct {
        const char *ch;
        int at;   /* the character starts this many bytes before the cut */
        int keep; /* bytes of MSG kept, relative to the room */
    } cases[] = {{"\xe2\x82\xac", 0, 0},      {"\xe2\x82\xac", 1, -1},
                 {"\xe2\x82\xac", 2, -2},     {"\xe2\x82\xac", 3, 0},
                 {"\xf0\x9f\x98\x80", 1, -1}, {"\xf0\x9f\x98\x80", 2, -2},
                 {"\xf0\x9f\x98\x80", 3, -3}, {"\xc3\xa9", 1, -1}};
    dlp_syslog_t *s;
    uint16_t port;
    size_t hlen, room;
    int srv = inet_socket(SOCK_DGRAM, "127.0.0.1", 0, &port);

    (void)state;
    assert_true(srv >= 0);
    snprintf(target, sizeof(target), "udp://127.0.0.1:%u", port);
    s = new_sender(&c);
    hlen = (size_t)snprintf(head, sizeof(head),
                            "<164>1 2026-11-29T06:34:20.123456Z h dlpsensor %d - -", g_pid);
    room = 480 - hlen - 1;

    /* exactly the maximum fits; one byte more is cut */
    memset(msg, 'a', room);
    msg[room] = '\0';
    udp_roundtrip(srv, s, NULL, msg, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 480);
    assert_int_equal(st(DLP_STAT_SYSLOG_TRUNCATED), 0);
    msg[room] = 'b';
    msg[room + 1] = '\0';
    udp_roundtrip(srv, s, NULL, msg, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 480);
    assert_int_equal(buf[479], 'a');
    assert_int_equal(st(DLP_STAT_SYSLOG_TRUNCATED), 1);

    for (size_t i = 0; i < DLP_ARRAY_LEN(cases); i++) {
        size_t pre = room - (size_t)cases[i].at, keep = room + (size_t)(long)cases[i].keep;
        memset(msg, 'a', pre);
        snprintf(msg + pre, sizeof(msg) - pre, "%stail", cases[i].ch);
        udp_roundtrip(srv, s, NULL, msg, buf, sizeof(buf));
        assert_int_equal(strlen(buf), hlen + 1 + keep);
        assert_memory_equal(buf, head, hlen);
        assert_memory_equal(buf + hlen + 1, msg, keep);
        assert_int_equal(st(DLP_STAT_SYSLOG_TRUNCATED), 2 + i);
    }

    /* not UTF-8 at all (continuation bytes only): cut at the byte limit */
    memset(msg, 0x80, 600);
    msg[600] = '\0';
    udp_roundtrip(srv, s, NULL, msg, buf, sizeof(buf));
    assert_int_equal(strlen(buf), 480);

    /* SD that cannot fit is replaced by "-" */
    char sd[600];
    memset(sd, 'x', sizeof(sd) - 1);
    sd[0] = '[';
    sd[sizeof(sd) - 2] = ']';
    sd[sizeof(sd) - 1] = '\0';
    udp_roundtrip(srv, s, sd, "m", buf, sizeof(buf));
    assert_int_equal(strlen(buf), hlen + 2);
    assert_memory_equal(buf, head, hlen);
    assert_string_equal(buf + hlen, " m");
    assert_int_equal(st(DLP_STAT_SYSLOG_TRUNCATED), 3 + DLP_ARRAY_LEN(cases));
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 0);
    dlp_syslog_free(s);
    close(srv);
}

/* RFC 3164: an SD that does not fit is left out, MSG still goes. */
static void test_truncation_3164_sd(void **state)
{
    char path[128], buf[1024], want[1024], sd[600];
    dlp_syslog_config_t c = {.target = path, .max_msg_bytes = 480};
    dlp_syslog_t *s;
    int srv;

    (void)state;
    path_in_dir(path, sizeof(path), "t3164");
    srv = unix_server(path, 0);
    s = new_sender(&c);
    memset(sd, 'x', sizeof(sd) - 1);
    sd[0] = '[';
    sd[sizeof(sd) - 2] = ']';
    sd[sizeof(sd) - 1] = '\0';
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, "ID", sd, "msg"), DLP_OK);
    assert_true(recv_dgram(srv, buf, sizeof(buf)) > 0);
    snprintf(want, sizeof(want), "<164>Nov 29 06:34:20 dlpsensor[%d]: ID msg", g_pid);
    assert_string_equal(buf, want);
    assert_int_equal(st(DLP_STAT_SYSLOG_TRUNCATED), 1);
    dlp_syslog_free(s);
    close(srv);
}

/* --- TCP (RFC 6587 octet counting) ---------------------------------------- */

static size_t frame_5424(char *out, size_t cap, int pri, const char *msgid, const char *sd,
                         const char *msg)
{
    char m[4200];
    int n =
        snprintf(m, sizeof(m), "<%d>1 2026-11-29T06:34:20.123456Z sensor1 dlpsensor %d %s %s%s%s",
                 pri, g_pid, msgid, sd, msg[0] ? " " : "", msg);
    return (size_t)snprintf(out, cap, "%d %s", n, m);
}

static void test_tcp_framing_exact(void **state)
{
    char target[64], want[1024];
    dlp_syslog_config_t c = {.target = target, .hostname = "sensor1"};
    collector_t col;
    dlp_syslog_t *s;
    uint16_t port;
    size_t n;

    (void)state;
    collector_open(&col, 0, 0, 1 << 16, &port);
    tcp_target(target, sizeof(target), "127.0.0.1", port);
    s = new_sender(&c);
    assert_int_equal(
        dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, "DLP_ALERT", "[" SDID " a=\"1\"]", "first"),
        DLP_OK);
    /* an embedded LF is safe with octet counting */
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_NOTICE, TS, NULL, NULL, "second\nline"), DLP_OK);
    n = frame_5424(want, sizeof(want), 164, "DLP_ALERT", "[" SDID " a=\"1\"]", "first");
    n += frame_5424(want + n, sizeof(want) - n, 165, "-", "-", "second\nline");
    collect(s, &col, n);
    assert_int_equal(col.len, n);
    assert_memory_equal(col.buf, want, n);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 2);
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), 0);
    assert_int_equal(st(DLP_STAT_SYSLOG_RECONNECTS), 0);
    assert_int_equal(col.accepted, 1);
    dlp_syslog_free(s);
    collector_close(&col);
}

static void test_tcp_down_at_start(void **state)
{
    char target[64], want[2048], msg[32];
    dlp_syslog_config_t c = {
        .target = target, .hostname = "sensor1", .backoff_min_ms = 5, .backoff_max_ms = 20};
    collector_t col;
    dlp_syslog_t *s;
    uint16_t port = free_port(), bound;
    size_t n = 0;

    (void)state;
    tcp_target(target, sizeof(target), "127.0.0.1", port);
    s = new_sender(&c);
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg), "queued %d", i);
        assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, msg), DLP_OK);
        n += frame_5424(want + n, sizeof(want) - n, 164, "-", "-", msg);
    }
    for (int i = 0; i < 20; i++) {
        assert_true(dlp_syslog_poll(s));
        sleep_ms(2);
    }
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), n);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 0);
    assert_true(st(DLP_STAT_SYSLOG_RECONNECTS) >= 1);

    collector_open(&col, port, 0, 1 << 16, &bound);
    assert_int_equal(bound, port);
    collect(s, &col, n);
    assert_int_equal(col.len, n);
    assert_memory_equal(col.buf, want, n);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 5);
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), 0);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 0);
    assert_false(dlp_syslog_poll(s));
    dlp_syslog_free(s);
    collector_close(&col);
}

/* buffer_bytes hit while disconnected: the oldest whole frames go, the newest arrive intact. */
static void test_tcp_buffer_bound(void **state)
{
    char target[64], want[4096], one[256], msg[32];
    dlp_syslog_config_t c = {.target = target,
                             .hostname = "sensor1",
                             .max_msg_bytes = 480,
                             .buffer_bytes = 1000,
                             .backoff_min_ms = 5,
                             .backoff_max_ms = 20};
    collector_t col;
    dlp_syslog_t *s;
    uint16_t port = free_port(), bound;
    size_t f, kept, n = 0;

    (void)state;
    tcp_target(target, sizeof(target), "127.0.0.1", port);
    s = new_sender(&c);
    f = frame_5424(one, sizeof(one), 164, "-", "-", "message 00");
    kept = 1000 / f;
    for (int i = 0; i < 30; i++) {
        snprintf(msg, sizeof(msg), "message %02d", i);
        assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, msg), DLP_OK);
        if (i >= 30 - (int)kept)
            n += frame_5424(want + n, sizeof(want) - n, 164, "-", "-", msg);
    }
    dlp_syslog_poll(s);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 30 - kept);
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), kept * f);
    assert_true(kept * f <= 1000);

    collector_open(&col, port, 0, 1 << 16, &bound);
    collect(s, &col, n);
    assert_int_equal(col.len, n);
    assert_memory_equal(col.buf, want, n);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), kept);
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), 0);
    dlp_syslog_free(s);
    collector_close(&col);
}

/*
 * The collector stops reading: the socket fills, writes become partial, the
 * queue overflows and drops. Afterwards every frame that arrives is whole,
 * in order, and sent + dropped = what the test sent.
 */
static void test_tcp_backpressure_frames_intact(void **state)
{
    enum { N = 2000, BODY = 3000 };
    char target[64], *msg = malloc(BODY + 64), want[4200];
    dlp_syslog_config_t c = {.target = target, .hostname = "sensor1", .buffer_bytes = 64 * 1024};
    collector_t col;
    dlp_syslog_t *s;
    uint16_t port;
    size_t pos = 0;
    unsigned got = 0;
    int last = -1;

    (void)state;
    assert_non_null(msg);
    collector_open(&col, 0, 4096, 32u << 20, &port);
    tcp_target(target, sizeof(target), "127.0.0.1", port);
    s = new_sender(&c);
    for (int i = 0; i < N; i++) {
        int h = snprintf(msg, 64, "seq=%05d ", i);
        memset(msg + h, 'a' + i % 26, BODY);
        msg[h + BODY] = '\0';
        assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, msg), DLP_OK);
        dlp_syslog_poll(s);
        if (i == 0)
            collect(s, &col, 1); /* accept, read the first bytes, then stall */
    }
    assert_true(st(DLP_STAT_SYSLOG_DROPPED) > 0);
    uint64_t end = now_ms() + WAIT_MS;
    while (dlp_syslog_poll(s) && now_ms() < end)
        collector_step(&col);
    for (int i = 0; i < 50; i++)
        collector_step(&col);
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), 0);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT) + st(DLP_STAT_SYSLOG_DROPPED), N);

    while (pos < col.len) {
        char *sp = memchr(col.buf + pos, ' ', col.len - pos);
        int seq;
        assert_non_null(sp);
        size_t len = strtoul(col.buf + pos, NULL, 10);
        assert_true((size_t)(sp + 1 - col.buf) + len <= col.len);
        assert_int_equal(sscanf(sp + 1, "%*s %*s %*s %*s %*s - - seq=%d", &seq), 1);
        assert_true(seq > last && seq < N);
        int h = snprintf(msg, 64, "seq=%05d ", seq);
        memset(msg + h, 'a' + seq % 26, BODY);
        msg[h + BODY] = '\0';
        size_t fl = frame_5424(want, sizeof(want), 164, "-", "-", msg);
        assert_int_equal((size_t)(sp + 1 - (col.buf + pos)) + len, fl);
        assert_memory_equal(col.buf + pos, want, fl);
        pos += fl;
        last = seq;
        got++;
    }
    assert_int_equal(got, st(DLP_STAT_SYSLOG_SENT));
    assert_int_equal(last, N - 1);
    free(msg);
    dlp_syslog_free(s);
    collector_close(&col);
}

/*
 * The collector drops the connection, with a FIN or a RST (by name: "localhost"
 * goes through the resolver again on the reconnect).
 */
static void collector_closes(bool rst)
{
    char target[64], want[512];
    dlp_syslog_config_t c = {.target = target, .hostname = "sensor1", .backoff_min_ms = 5};
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    collector_t col;
    dlp_syslog_t *s;
    uint16_t port;
    size_t n;
    uint64_t end;

    dlp_stats_init(&g_st);
    collector_open(&col, 0, 0, 1 << 16, &port);
    tcp_target(target, sizeof(target), "localhost", port);
    s = new_sender(&c);
    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "one"), DLP_OK);
    n = frame_5424(want, sizeof(want), 164, "-", "-", "one");
    collect(s, &col, n);
    assert_int_equal(col.len, n);
    assert_memory_equal(col.buf, want, n);

    if (rst)
        assert_int_equal(setsockopt(col.cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(col.cfd);
    col.cfd = -1;
    col.len = 0;
    end = now_ms() + WAIT_MS;
    while (col.accepted < 2 && now_ms() < end) {
        dlp_syslog_poll(s);
        collector_step(&col);
        sleep_ms(1);
    }
    assert_int_equal(col.accepted, 2);
    assert_int_equal(st(DLP_STAT_SYSLOG_RECONNECTS), 1);

    assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "two"), DLP_OK);
    n = frame_5424(want, sizeof(want), 164, "-", "-", "two");
    collect(s, &col, n);
    assert_int_equal(col.len, n);
    assert_memory_equal(col.buf, want, n);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 2);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 0);
    dlp_syslog_free(s);
    collector_close(&col);
}

static void test_tcp_collector_closes(void **state)
{
    (void)state;
    collector_closes(false);
    collector_closes(true);
}

/* Parses whole frames of 'seq' messages from buf[0..len); returns where the first incomplete one
 * starts. */
static size_t parse_frames(const char *buf, size_t len, char *msg, int body, int *first, int *last,
                           unsigned *count)
{
    char want[4200];
    size_t pos = 0;

    *first = -1;
    while (pos < len) {
        const char *sp = memchr(buf + pos, ' ', len - pos);
        int seq;
        if (sp == NULL)
            break;
        size_t flen = (size_t)(sp + 1 - (buf + pos)) + strtoul(buf + pos, NULL, 10);
        if (pos + flen > len)
            break;
        assert_int_equal(sscanf(sp + 1, "%*s %*s %*s %*s %*s - - seq=%d", &seq), 1);
        assert_true(seq > *last);
        int h = snprintf(msg, 64, "seq=%05d ", seq);
        memset(msg + h, 'a' + seq % 26, (size_t)body);
        msg[h + body] = '\0';
        assert_int_equal(frame_5424(want, sizeof(want), 164, "-", "-", msg), flen);
        assert_memory_equal(buf + pos, want, flen);
        if (*first < 0)
            *first = seq;
        *last = seq;
        (*count)++;
        pos += flen;
    }
    return pos;
}

/*
 * The connection breaks while a frame is half written: the collector saw
 * its first part on the old connection, and gets it whole, first, on the
 * new one (never a tail without its head).
 */
static void test_tcp_reconnect_resends_partial_frame(void **state)
{
    enum { BODY = 3000 };
    char target[64], *msg = malloc(BODY + 64);
    dlp_syslog_config_t c = {
        .target = target, .hostname = "sensor1", .buffer_bytes = 64 * 1024, .backoff_min_ms = 5};
    collector_t col;
    dlp_syslog_t *s;
    uint16_t port;
    int i, first, last = -1, tail_seq;
    unsigned got = 0;
    size_t old_len, whole;
    uint64_t end, idle_since;

    (void)state;
    assert_non_null(msg);
    collector_open(&col, 0, 4096, 32u << 20, &port);
    tcp_target(target, sizeof(target), "127.0.0.1", port);
    s = new_sender(&c);
    for (i = 0; st(DLP_STAT_SYSLOG_DROPPED) == 0 && i < 20000; i++) {
        int h = snprintf(msg, 64, "seq=%05d ", i);
        memset(msg + h, 'a' + i % 26, BODY);
        msg[h + BODY] = '\0';
        assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, msg), DLP_OK);
        dlp_syslog_poll(s);
        if (i == 0)
            collect(s, &col, 1);
    }
    assert_true(st(DLP_STAT_SYSLOG_DROPPED) > 0);
    /* drain the old connection without letting the sender write more */
    end = now_ms() + WAIT_MS;
    idle_since = now_ms();
    while (now_ms() < end && now_ms() - idle_since < 100) {
        if (collector_step(&col))
            idle_since = now_ms();
        else
            sleep_ms(1);
    }
    old_len = col.len;
    whole = parse_frames(col.buf, old_len, msg, BODY, &first, &last, &got);
    /* the 4 KiB receive buffer cuts the stream inside a frame (it did on every run here) */
    assert_true(whole < old_len);
    tail_seq = last + 1;
    close(col.cfd);
    col.cfd = -1;

    end = now_ms() + WAIT_MS;
    while ((col.accepted < 2 || dlp_syslog_poll(s)) && now_ms() < end) {
        dlp_syslog_poll(s);
        if (!collector_step(&col))
            sleep_ms(1);
    }
    for (int k = 0; k < 50; k++)
        collector_step(&col);
    assert_int_equal(col.accepted, 2);
    /* the new connection starts with the half-written frame, whole */
    int prev_last = last;
    assert_int_equal(
        parse_frames(col.buf + old_len, col.len - old_len, msg, BODY, &first, &last, &got),
        col.len - old_len);
    assert_int_equal(first, tail_seq);
    assert_true(first > prev_last);
    assert_int_equal(got, st(DLP_STAT_SYSLOG_SENT));
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT) + st(DLP_STAT_SYSLOG_DROPPED), (uint64_t)i);
    assert_int_equal(last, i - 1);
    free(msg);
    dlp_syslog_free(s);
    collector_close(&col);
}

/* Reconnect attempts back off: min, doubling, capped at max (an upper bound on attempts). */
static void test_tcp_backoff(void **state)
{
    char target[64];
    dlp_syslog_config_t c = {.target = target, .backoff_min_ms = 10, .backoff_max_ms = 40};
    dlp_syslog_t *s;
    uint64_t t0, elapsed, attempts, bound = 1, waited = 0, wait = 10;

    (void)state;
    tcp_target(target, sizeof(target), "127.0.0.1", free_port());
    t0 = now_ms();
    s = new_sender(&c);
    while (now_ms() - t0 < 300) {
        dlp_syslog_poll(s);
        sleep_ms(1);
    }
    elapsed = now_ms() - t0;
    attempts = st(DLP_STAT_SYSLOG_RECONNECTS) + 1;
    /* the most attempts a correct backoff allows in 'elapsed': waits 10, 20, 40, 40, ... */
    while (waited + wait <= elapsed) {
        waited += wait;
        bound++;
        wait = wait * 2 > 40 ? 40 : wait * 2;
    }
    assert_true(attempts >= 2);
    if (attempts > bound)
        fail_msg("%llu attempts in %llu ms, at most %llu allowed", (unsigned long long)attempts,
                 (unsigned long long)elapsed, (unsigned long long)bound);
    dlp_syslog_free(s);
}

/* A connect that never completes (the listener's accept queue is full) gives up after the timeout.
 */
static void test_tcp_connect_timeout(void **state)
{
    char target[64];
    dlp_syslog_config_t c = {
        .target = target, .backoff_min_ms = 5, .backoff_max_ms = 5, .connect_timeout_ms = 50};
    struct sockaddr_in sa = {.sin_family = AF_INET};
    dlp_syslog_t *s;
    uint16_t port;
    uint64_t t0, end;
    int lfd = tcp_listener(0, 0, 0, &port), filler = socket(AF_INET, SOCK_STREAM, 0);

    (void)state;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(filler, (struct sockaddr *)&sa, sizeof(sa)), 0);
    tcp_target(target, sizeof(target), "127.0.0.1", port);
    t0 = now_ms();
    s = new_sender(&c);
    end = t0 + WAIT_MS;
    while (st(DLP_STAT_SYSLOG_RECONNECTS) == 0 && now_ms() < end) {
        dlp_syslog_poll(s);
        sleep_ms(1);
    }
    assert_int_equal(st(DLP_STAT_SYSLOG_RECONNECTS), 1);
    assert_true(now_ms() - t0 >= 50);
    dlp_syslog_free(s);
    close(filler);
    close(lfd);
}

/* dlp_syslog_free() writes what is queued (connected) or counts it as dropped (down). */
static void test_tcp_free_flushes(void **state)
{
    char target[64], want[2048], msg[32];
    dlp_syslog_config_t c = {.target = target, .hostname = "sensor1"};
    collector_t col;
    dlp_syslog_t *s;
    uint16_t port;
    size_t n = 0;

    (void)state;
    collector_open(&col, 0, 0, 1 << 16, &port);
    tcp_target(target, sizeof(target), "127.0.0.1", port);
    s = new_sender(&c);
    for (int i = 0; i < 10; i++) {
        snprintf(msg, sizeof(msg), "bye %d", i);
        assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, msg), DLP_OK);
        n += frame_5424(want + n, sizeof(want) - n, 164, "-", "-", msg);
    }
    dlp_syslog_free(s);
    collect(NULL, &col, n);
    assert_int_equal(col.len, n);
    assert_memory_equal(col.buf, want, n);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 10);
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), 0);
    collector_close(&col);

    tcp_target(target, sizeof(target), "127.0.0.1", free_port());
    c.backoff_min_ms = 1000;
    s = new_sender(&c);
    for (int i = 0; i < 3; i++)
        assert_int_equal(dlp_syslog_send(s, DLP_SYSLOG_WARNING, TS, NULL, NULL, "x"), DLP_OK);
    dlp_syslog_free(s);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 3);
    assert_int_equal(st(DLP_STAT_SYSLOG_BUFFERED), 0);
}

/* --- configuration and arguments ------------------------------------------ */

static void expect_bad(const dlp_syslog_config_t *c, const char *why)
{
    dlp_syslog_t *s;

    g_err[0] = '\0';
    s = dlp_syslog_new(c, &g_st, g_err, sizeof(g_err));
    assert_null(s);
    if (strstr(g_err, why) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", g_err, why);
}

static void test_invalid_config(void **state)
{
    static const struct {
        const char *target, *why;
    } bad[] = {
        {"syslog.example", "expected /PATH, unix:///PATH, udp://HOST[:PORT] or tcp://HOST[:PORT]"},
        {"http://127.0.0.1:514", "expected /PATH"},
        {"dev/log", "expected /PATH"},
        {"unix://dev/log", "the socket path must be absolute"},
        {"udp://", "missing host"},
        {"tcp://:514", "missing host"},
        {"tcp://127.0.0.1:", "port must be 1..65535"},
        {"tcp://127.0.0.1:0", "port must be 1..65535"},
        {"tcp://127.0.0.1:65536", "port must be 1..65535"},
        {"tcp://127.0.0.1:51x", "port must be 1..65535"},
        {"udp://127.0.0.1:-5", "port must be 1..65535"},
        {"tcp://::1:514", "an IPv6 address needs brackets"},
        {"tcp://[::1", "missing ']'"},
        {"tcp://[::1]514", "expected ':PORT' after ']'"},
        {"tcp://[]:514", "missing host"},
    };
    char longpath[200];
    dlp_syslog_config_t c = {0};

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(bad); i++) {
        c.target = bad[i].target;
        expect_bad(&c, bad[i].why);
    }
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    c.target = longpath;
    expect_bad(&c, "the socket path is too long");

    c = (dlp_syslog_config_t){.target = "udp://127.0.0.1", .facility = "local8"};
    expect_bad(&c, "syslog facility \"local8\": unknown");
    c = (dlp_syslog_config_t){.target = "udp://127.0.0.1", .app_name = "dlp sensor"};
    expect_bad(&c, "syslog app name \"dlp sensor\"");
    c = (dlp_syslog_config_t){.target = "udp://127.0.0.1", .max_msg_bytes = 479};
    expect_bad(&c, "syslog max message size 479: must be 480..65536");
    c = (dlp_syslog_config_t){.target = "udp://127.0.0.1", .max_msg_bytes = 65537};
    expect_bad(&c, "syslog max message size 65537");
    c = (dlp_syslog_config_t){.target = "tcp://127.0.0.1", .buffer_bytes = 4111};
    expect_bad(&c, "syslog buffer 4111 bytes: must be at least 4112");
    /* a name that does not resolve (DNS may also answer "try again": then it is accepted) */
    c = (dlp_syslog_config_t){.target = "tcp://no-such-host.invalid:514"};
    dlp_syslog_t *s = dlp_syslog_new(&c, &g_st, g_err, sizeof(g_err));
    if (s == NULL)
        assert_string_equal(g_err, "syslog target \"tcp://no-such-host.invalid:514\": "
                                   "Name or service not known");
    dlp_syslog_free(s);
    assert_null(dlp_syslog_new(NULL, NULL, g_err, sizeof(g_err)));
    assert_string_equal(g_err, "syslog: no stats block");

    /* defaults: NULL config = /dev/log (absent here: not an error) */
    s = dlp_syslog_new(NULL, &g_st, g_err, sizeof(g_err));
    assert_non_null(s);
    dlp_syslog_free(s);
    dlp_syslog_free(NULL);
}

static void test_invalid_send_args(void **state)
{
    char path[128], too_long[40];
    dlp_syslog_config_t c = {.target = path};
    dlp_syslog_t *s;
    int srv;

    (void)state;
    path_in_dir(path, sizeof(path), "args");
    srv = unix_server(path, 0);
    s = new_sender(&c);
    memset(too_long, 'I', 33);
    too_long[33] = '\0';
    assert_int_equal(dlp_syslog_send(s, 8, TS, NULL, NULL, "x"), DLP_EINVAL);
    assert_int_equal(dlp_syslog_send(s, -1, TS, NULL, NULL, "x"), DLP_EINVAL);
    assert_int_equal(dlp_syslog_send(s, 4, TS, "DLP ALERT", NULL, "x"), DLP_EINVAL);
    assert_int_equal(dlp_syslog_send(s, 4, TS, "", NULL, "x"), DLP_EINVAL);
    assert_int_equal(dlp_syslog_send(s, 4, TS, too_long, NULL, "x"), DLP_EINVAL);
    assert_int_equal(dlp_syslog_send(s, 4, TS, NULL, "rule=x", "x"), DLP_EINVAL);
    assert_int_equal(dlp_syslog_send(s, 4, TS, NULL, "[", "x"), DLP_EINVAL);
    assert_int_equal(st(DLP_STAT_SYSLOG_DROPPED), 7);
    too_long[32] = '\0';
    assert_int_equal(dlp_syslog_send(s, 4, TS, too_long, NULL, "x"), DLP_OK);
    assert_int_equal(st(DLP_STAT_SYSLOG_SENT), 1);
    assert_true(readable(srv));
    dlp_syslog_free(s);
    close(srv);
}

static void test_facility_names(void **state)
{
    (void)state;
    assert_int_equal(dlp_config_facility("kern"), 0);
    assert_int_equal(dlp_config_facility("auth"), 4);
    assert_int_equal(dlp_config_facility("authpriv"), 10);
    assert_int_equal(dlp_config_facility("local0"), 16);
    assert_int_equal(dlp_config_facility("local4"), 20);
    assert_int_equal(dlp_config_facility("local7"), 23);
    assert_int_equal(dlp_config_facility("0"), 0);
    assert_int_equal(dlp_config_facility("23"), 23);
    assert_int_equal(dlp_config_facility("24"), -1);
    assert_int_equal(dlp_config_facility("-1"), -1);
    assert_int_equal(dlp_config_facility("4x"), -1);
    assert_int_equal(dlp_config_facility("LOCAL4"), -1);
    assert_int_equal(dlp_config_facility(""), -1);
    assert_int_equal(dlp_config_facility(NULL), -1);
}

/* --- STRUCTURED-DATA builder ---------------------------------------------- */

static void test_sd_builder(void **state)
{
    char buf[256];
    dlp_syslog_sd_t b;

    (void)state;
    dlp_syslog_sd_init(&b, buf, sizeof(buf));
    dlp_syslog_sd_begin(&b, SDID);
    dlp_syslog_sd_param(&b, "v", "a\"b\\c]d[e=f g");
    dlp_syslog_sd_param(&b, "empty", "");
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_OK);
    dlp_syslog_sd_begin(&b, "origin");
    dlp_syslog_sd_param_u64(&b, "n", 18446744073709551615ULL);
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_OK);
    /* [dlp@32473 v="a\"b\\c\]d[e=f g" empty=""][origin n="18446744073709551615"] */
    assert_string_equal(buf, "[" SDID " v=\"a\\\"b\\\\c\\]d[e=f g\" empty=\"\"]"
                             "[origin n=\"18446744073709551615\"]");
}

static void sd_expect(const char *id, const char *name, dlp_rc_t rc)
{
    char buf[128];
    dlp_syslog_sd_t b;

    dlp_syslog_sd_init(&b, buf, sizeof(buf));
    dlp_syslog_sd_begin(&b, id);
    dlp_syslog_sd_param(&b, name, "v");
    assert_int_equal(dlp_syslog_sd_end(&b), rc);
    if (rc != DLP_OK)
        assert_string_equal(buf, "");
}

static void test_sd_builder_rejects(void **state)
{
    char buf[16];
    dlp_syslog_sd_t b;

    (void)state;
    sd_expect("ok@32473", "ok", DLP_OK);
    sd_expect("abcdefghijklmnopqrstuvwxyz012345", "p", DLP_OK);      /* 32 */
    sd_expect("abcdefghijklmnopqrstuvwxyz0123456", "p", DLP_EINVAL); /* 33 */
    sd_expect("", "p", DLP_EINVAL);
    sd_expect(NULL, "p", DLP_EINVAL);
    sd_expect("bad id", "p", DLP_EINVAL);
    sd_expect("x=y", "p", DLP_EINVAL);
    sd_expect("x]", "p", DLP_EINVAL);
    sd_expect("x\"", "p", DLP_EINVAL);
    sd_expect("a@", "p", DLP_EINVAL);
    sd_expect("@1", "p", DLP_EINVAL);
    sd_expect("a@b", "p", DLP_EINVAL);
    sd_expect("a\x7f", "p", DLP_EINVAL);
    sd_expect("id", "", DLP_EINVAL);
    sd_expect("id", "a b", DLP_EINVAL);
    sd_expect("id", "a=b", DLP_EINVAL);
    sd_expect("id", "a]", DLP_EINVAL);
    sd_expect("id", "a\"", DLP_EINVAL);
    sd_expect("id", NULL, DLP_EINVAL);
    sd_expect("id", "abcdefghijklmnopqrstuvwxyz0123456", DLP_EINVAL);

    /* out of order: param before begin, begin twice, end without begin */
    dlp_syslog_sd_init(&b, buf, sizeof(buf));
    dlp_syslog_sd_param(&b, "a", "b");
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_EINVAL);
    dlp_syslog_sd_init(&b, buf, sizeof(buf));
    dlp_syslog_sd_begin(&b, "a");
    dlp_syslog_sd_begin(&b, "b");
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_EINVAL);
    dlp_syslog_sd_init(&b, buf, sizeof(buf));
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_EINVAL);
    assert_string_equal(buf, "");

    /* the buffer bound: [a b="1234567"] is 15 bytes + NUL = 16 fits; one more does not */
    dlp_syslog_sd_init(&b, buf, sizeof(buf));
    dlp_syslog_sd_begin(&b, "a");
    dlp_syslog_sd_param(&b, "b", "1234567");
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_OK);
    assert_string_equal(buf, "[a b=\"1234567\"]");
    dlp_syslog_sd_init(&b, buf, sizeof(buf));
    dlp_syslog_sd_begin(&b, "a");
    dlp_syslog_sd_param(&b, "b", "123456]"); /* escaped: 8 bytes */
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_ELIMIT);
    assert_string_equal(buf, "");
    dlp_syslog_sd_init(&b, buf, 0);
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_ELIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_3164_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_facility_app_and_5424, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_stalled_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_full_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_no_daemon_then_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_5424_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_udp_no_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_3164_sd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_framing_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_down_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_buffer_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_backpressure_frames_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_collector_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_reconnect_resends_partial_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_free_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_send_args, setup, teardown),
        cmocka_unit_test(test_facility_names),
        cmocka_unit_test(test_sd_builder),
        cmocka_unit_test(test_sd_builder_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
