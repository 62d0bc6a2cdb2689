/*
 * test_syslog_rsyslog.c - dlp_syslog against a real, private rsyslogd: a
 * unix socket input (imuxsock on a path in a temporary directory, not
 * /dev/log), imtcp and imudp on free 127.0.0.1 ports, and an omfile whose
 * template prints the fields rsyslog parsed (technical.md 5.3). Skipped
 * when /usr/sbin/rsyslogd is not installed.
 */
#include "dlp_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dlp/stats.h"
#include "dlp/syslog.h"

#define RSYSLOGD "/usr/sbin/rsyslogd"
#define WAIT_MS 5000
#define TS 1795934060123456ULL /* 2026-11-29T06:34:20.123456Z */

static dlp_stats_t g_st;
static char g_dir[64];
static pid_t g_rs = -1;

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

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    return remove(p);
}

static uint16_t free_port(int type)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, type, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static bool tcp_accepts(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;

    if (f != NULL) {
        n = fread(buf, 1, cap - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return n;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* The line that starts with 'prefix', copied without its LF. */
static void line_of(const char *all, const char *prefix, char *out, size_t cap)
{
    const char *p = all;

    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *e = strchr(p, '\n');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            snprintf(out, cap, "%.*s", (int)n, p);
            return;
        }
        p = e != NULL ? e + 1 : NULL;
    }
}

static void write_conf(const char *path, uint16_t tport, uint16_t uport)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f,
            "global(workDirectory=\"%s\" maxMessageSize=\"64k\")\n"
            "module(load=\"imuxsock\" SysSock.Use=\"off\")\n"
            "module(load=\"imtcp\" MaxSessions=\"16\")\n"
            "module(load=\"imudp\")\n"
            "input(type=\"imuxsock\" Socket=\"%s/log\" Ruleset=\"dlp\")\n"
            "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%u\" ruleset=\"dlp\")\n"
            "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%u\" ruleset=\"dlp\")\n"
            "template(name=\"dlpfields\" type=\"list\") {\n"
            "  property(name=\"inputname\") constant(value=\" time=\")\n"
            "  property(name=\"timereported\" dateFormat=\"rfc3339\")\n"
            "  constant(value=\" host=\") property(name=\"hostname\")\n"
            "  constant(value=\" app=\") property(name=\"app-name\")\n"
            "  constant(value=\" procid=\") property(name=\"procid\")\n"
            "  constant(value=\" msgid=\") property(name=\"msgid\")\n"
            "  constant(value=\" pri=\") property(name=\"pri\")\n"
            "  constant(value=\" sd=\") property(name=\"structured-data\")\n"
            "  constant(value=\" msg=\") property(name=\"msg\") constant(value=\"\\n\")\n"
            "}\n"
            "ruleset(name=\"dlp\") {\n"
            "  action(type=\"omfile\" file=\"%s/fields.log\" template=\"dlpfields\")\n"
            "}\n",
            g_dir, g_dir, tport, uport, g_dir);
    fclose(f);
}

static void start_rsyslogd(uint16_t tport)
{
    char conf[128], pidf[128], out[128], sock[128], log[4096];
    uint64_t end;

    snprintf(conf, sizeof(conf), "%s/rsyslog.conf", g_dir);
    snprintf(pidf, sizeof(pidf), "%s/rsyslogd.pid", g_dir);
    snprintf(out, sizeof(out), "%s/rsyslogd.out", g_dir);
    snprintf(sock, sizeof(sock), "%s/log", g_dir);
    g_rs = fork();
    assert_true(g_rs >= 0);
    if (g_rs == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(RSYSLOGD, "rsyslogd", "-n", "-f", conf, "-i", pidf, (char *)NULL);
        _exit(127);
    }
    end = now_ms() + WAIT_MS;
    while (now_ms() < end && (access(sock, F_OK) != 0 || !tcp_accepts(tport)))
        sleep_ms(20);
    if (access(sock, F_OK) != 0 || !tcp_accepts(tport)) {
        read_file(out, log, sizeof(log));
        fail_msg("rsyslogd did not start:\n%s", log);
    }
}

static int setup(void **state)
{
    (void)state;
    dlp_stats_init(&g_st);
    snprintf(g_dir, sizeof(g_dir), "/tmp/dlprs-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_rs > 0) {
        kill(g_rs, SIGTERM);
        waitpid(g_rs, NULL, 0);
        g_rs = -1;
    }
    return nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static dlp_syslog_t *sender(const char *target)
{
    char err[256];
    dlp_syslog_config_t c = {.target = target, .hostname = "sensor1"};
    dlp_syslog_t *s = dlp_syslog_new(&c, &g_st, err, sizeof(err));

    if (s == NULL)
        fail_msg("%s", err);
    return s;
}

static void test_rsyslog_parses_all_transports(void **state)
{
    char target[160], sd[256], fields[128], all[8192], line[2048], want[2048];
    uint16_t tport, uport;
    dlp_syslog_sd_t b;
    dlp_syslog_t *loc, *tcp, *udp;
    uint64_t end;

    (void)state;
    if (access(RSYSLOGD, X_OK) != 0)
        skip();
    tport = free_port(SOCK_STREAM);
    uport = free_port(SOCK_DGRAM);
    snprintf(fields, sizeof(fields), "%s/rsyslog.conf", g_dir);
    write_conf(fields, tport, uport);
    start_rsyslogd(tport);

    dlp_syslog_sd_init(&b, sd, sizeof(sd));
    dlp_syslog_sd_begin(&b, "dlp@32473");
    dlp_syslog_sd_param(&b, "rule", "pii.credit_card");
    dlp_syslog_sd_param_u64(&b, "count", 2);
    dlp_syslog_sd_param(&b, "q", "quote\" back\\ br]");
    assert_int_equal(dlp_syslog_sd_end(&b), DLP_OK);

    snprintf(target, sizeof(target), "%s/log", g_dir);
    loc = sender(target);
    snprintf(target, sizeof(target), "tcp://127.0.0.1:%u", tport);
    tcp = sender(target);
    snprintf(target, sizeof(target), "udp://127.0.0.1:%u", uport);
    udp = sender(target);
    assert_int_equal(dlp_syslog_send(loc, DLP_SYSLOG_WARNING, 0, "DLP_ALERT", sd, "via unix"),
                     DLP_OK);
    assert_int_equal(
        dlp_syslog_send(tcp, DLP_SYSLOG_WARNING, TS, "DLP_ALERT", sd, "via tcp\nsecond line"),
        DLP_OK);
    assert_int_equal(dlp_syslog_send(udp, DLP_SYSLOG_ERR, TS, "DLP_ALERT", sd, "via udp"), DLP_OK);
    end = now_ms() + WAIT_MS;
    while (dlp_syslog_poll(tcp) && now_ms() < end)
        sleep_ms(1);
    assert_int_equal(dlp_stat_get(&g_st, DLP_STAT_SYSLOG_SENT), 3);

    snprintf(fields, sizeof(fields), "%s/fields.log", g_dir);
    end = now_ms() + WAIT_MS;
    while (read_file(fields, all, sizeof(all)) == 0 || count_lines(all) < 3) {
        if (now_ms() >= end)
            fail_msg("rsyslog wrote:\n%s", all);
        sleep_ms(20);
    }
    dlp_syslog_free(loc);
    dlp_syslog_free(tcp);
    dlp_syslog_free(udp);

    const char *sd_seen = "[dlp@32473 rule=\"pii.credit_card\" count=\"2\" "
                          "q=\"quote\\\" back\\\\ br\\]\"]";
    line_of(all, "imtcp ", line, sizeof(line));
    snprintf(want, sizeof(want),
             "imtcp time=2026-11-29T06:34:20.123456Z host=sensor1 app=dlpsensor procid=%d "
             "msgid=DLP_ALERT pri=164 sd=%s msg=via tcp#012second line",
             (int)getpid(), sd_seen);
    assert_string_equal(line, want);
    line_of(all, "imudp ", line, sizeof(line));
    snprintf(want, sizeof(want),
             "imudp time=2026-11-29T06:34:20.123456Z host=sensor1 app=dlpsensor procid=%d "
             "msgid=DLP_ALERT pri=163 sd=%s msg=via udp",
             (int)getpid(), sd_seen);
    assert_string_equal(line, want);
    /* RFC 3164 from the unix socket: the time is the receive time; SD and MSGID are text */
    line_of(all, "imuxsock ", line, sizeof(line));
    char *host = strstr(line, " host=");
    assert_non_null(host);
    snprintf(want, sizeof(want),
             " app=dlpsensor procid=%d msgid=- pri=164 sd=- msg= DLP_ALERT %s via unix",
             (int)getpid(), sd_seen);
    assert_non_null(strstr(host, want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rsyslog_parses_all_transports, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
