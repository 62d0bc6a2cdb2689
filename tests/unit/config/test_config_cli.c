/*
 * test_config_cli.c - the real binary (DLP_BINARY) with -c and -T: the
 * precedence defaults < file < command line (also when the flag comes
 * before -c), lists replaced rather than merged, every file error printed
 * with its line and exit 2, -T's summary, -u checks. -T opens no capture,
 * so this runs anywhere; the rules cache goes to a temporary directory.
 */
#include "dlp_test.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARGS_MAX 32
#define OUT_MAX 16384

typedef struct fx {
    char dir[64];
    char conf[128];
    char cache[128];
    char rules[512];
    char out[OUT_MAX], err[OUT_MAX];
} fx_t;

static const char *binary(void)
{
    const char *b = getenv("DLP_BINARY");
    return b != NULL ? b : "./dlpsensor";
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    const char *src = getenv("DLP_SRC");

    if (f == NULL || src == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/dlp-clitest-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->conf, sizeof(f->conf), "%s/c.yaml", f->dir);
    snprintf(f->cache, sizeof(f->cache), "%s/cache", f->dir);
    snprintf(f->rules, sizeof(f->rules), "%s/rules", src);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void write_conf(const fx_t *f, const char *text)
{
    FILE *fp = fopen(f->conf, "w");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "r");
    size_t n = fp != NULL ? fread(buf, 1, cap - 1, fp) : 0;

    buf[n] = '\0';
    if (fp != NULL)
        fclose(fp);
}

/* Runs the binary with the NULL-terminated arguments; returns its exit status. */
static int run(fx_t *f, ...)
{
    char *argv[ARGS_MAX] = {(char *)binary()};
    char op[160], ep[160];
    int argc = 1, st = 0;
    va_list ap;
    pid_t pid;

    va_start(ap, f);
    while (argc < ARGS_MAX - 1 && (argv[argc] = va_arg(ap, char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    snprintf(op, sizeof(op), "%s/out", f->dir);
    snprintf(ep, sizeof(ep), "%s/err", f->dir);
    pid = fork();
    if (pid == 0) {
        int o = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    slurp(op, f->out, sizeof(f->out));
    slurp(ep, f->err, sizeof(f->err));
    return WEXITSTATUS(st);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        print_error("expected to find:\n  %s\nin:\n  %s\n", needle, hay);
        fail();
    }
}

static const char k_base[] = "workers: 3\n"
                             "home_net: [10.1.0.0/16]\n"
                             "capture:\n"
                             "  interfaces: [eth9]\n";

static void file_applies(void **state)
{
    fx_t *f = *state;

    write_conf(f, k_base);
    assert_int_equal(run(f, "-T", "-c", f->conf, "-R", f->rules, "--rules-cache", f->cache,
                         NULL),
                     0);
    assert_contains(f->out, "dlpsensor: configuration OK: ");
    assert_contains(f->out, " rules (");
    assert_contains(f->out, " patterns, ");
    assert_contains(f->out, "; 3 capture threads (fanout ippair, group auto); home net 10.1.0.0/16; "
                            "live on eth9\n");
    assert_contains(f->out, "dlpsensor: outputs: json stdout; syslog /dev/log (local0); hmac key "
                            "random per run\n");
    assert_string_equal(f->err, "");
    /* the second run finds the compiled rules in the cache */
    assert_int_equal(run(f, "-T", "-c", f->conf, "-R", f->rules, "--rules-cache", f->cache,
                         NULL),
                     0);
    assert_contains(f->out, "loaded from the cache in ");
}

/* A flag wins over the file wherever it stands, before -c included. */
static void command_line_wins(void **state)
{
    fx_t *f = *state;

    write_conf(f, k_base);
    assert_int_equal(run(f, "--workers", "2", "--home-net", "192.168.7.0/24", "-c", f->conf,
                         "-T", "-R", f->rules, "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 2 capture threads (fanout ippair, group auto); home net "
                            "192.168.7.0/24; live on eth9\n");
    assert_int_equal(run(f, "-c", f->conf, "--workers", "5", "-T", "-R", f->rules,
                         "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 5 capture threads (fanout ippair, group auto); home net 10.1.0.0/16;");
}

/* -i replaces the file's interfaces; -r (a replay) sets them aside; -R replaces rules.paths. */
static void lists_replaced(void **state)
{
    fx_t *f = *state;
    char pcap[512];

    snprintf(pcap, sizeof(pcap), "%s/pcaps/demo.pcap", getenv("DLP_SRC"));
    write_conf(f, "capture:\n  interfaces: [eth9, eth8]\nrules:\n  paths: [/nonexistent/r]\n");
    assert_int_equal(run(f, "-T", "-c", f->conf, "-i", "lo", "-R", f->rules, "--rules-cache",
                         f->cache, NULL),
                     0);
    assert_contains(f->out, "; live on lo\n");
    assert_int_equal(run(f, "-T", "-c", f->conf, "-r", pcap, "-R", f->rules, "--rules-cache",
                         f->cache, NULL),
                     0);
    assert_contains(f->out, "; reading 1 path\n");
    /* without -R the file's rule path is used, and does not load */
    assert_int_equal(run(f, "-T", "-c", f->conf, "--rules-cache", f->cache, NULL), 2);
    assert_contains(f->err, "/nonexistent/r");
    assert_string_equal(f->out, "");
}

static void file_errors_exit_2(void **state)
{
    fx_t *f = *state;
    char want[512];

    write_conf(f, "workers: 3\nflow:\n  memcap: 10k\n  timeouts:\n    udp: 0\nbogus: 1\n");
    assert_int_equal(run(f, "-T", "-c", f->conf, "-R", f->rules, NULL), 2);
    snprintf(want, sizeof(want), "dlpsensor: %s:3: flow.memcap: 10k is out of range (1m..1t)\n",
             f->conf);
    assert_contains(f->err, want);
    snprintf(want, sizeof(want), "dlpsensor: %s:5: flow.timeouts.udp: 0 is out of range "
             "(1s..1d)\n", f->conf);
    assert_contains(f->err, want);
    snprintf(want, sizeof(want), "dlpsensor: %s:6: bogus: unknown key", f->conf);
    assert_contains(f->err, want);
    assert_string_equal(f->out, "");
    /* the same file stops a run, not only -T */
    assert_int_equal(run(f, "-c", f->conf, "-r", "/nonexistent.pcap", NULL), 2);
    assert_contains(f->err, "flow.memcap: 10k is out of range");
    /* a missing file */
    assert_int_equal(run(f, "-T", "-c", "/nonexistent/dlp.yaml", NULL), 2);
    assert_string_equal(f->err, "dlpsensor: /nonexistent/dlp.yaml: No such file or directory\n");
    /* -h and -V answer without reading the file */
    assert_int_equal(run(f, "-c", "/nonexistent/dlp.yaml", "-V", NULL), 0);
    assert_contains(f->out, "dlpsensor ");
}

static void bad_rules_exit_2(void **state)
{
    fx_t *f = *state;
    char rule[160];
    FILE *fp;

    snprintf(rule, sizeof(rule), "%s/bad.yaml", f->dir);
    fp = fopen(rule, "w");
    assert_non_null(fp);
    fputs("rules:\n  - id: 1\n    name: x.y\n    severity: extreme\n", fp);
    fclose(fp);
    assert_int_equal(run(f, "-T", "-R", rule, "--rules-cache", f->cache, NULL), 2);
    assert_contains(f->err, "bad.yaml:");
    assert_string_equal(f->out, "");
}

static void user_checks(void **state)
{
    fx_t *f = *state;

    write_conf(f, "user: nobody\n");
    assert_int_equal(run(f, "-T", "-c", f->conf, "-R", f->rules, "--rules-cache", f->cache,
                         NULL),
                     0);
    assert_contains(f->out, "; no input given; user nobody\n");
    assert_int_equal(run(f, "-T", "-c", f->conf, "-u", "65534:65534", "-R", f->rules,
                         "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; user 65534:65534\n");
    assert_int_equal(run(f, "-T", "-u", "no-such-user-dlp", NULL), 2);
    assert_contains(f->err, "dlpsensor: -u no-such-user-dlp: unknown user 'no-such-user-dlp'\n");
    assert_int_equal(run(f, "-T", "-u", "root", NULL), 2);
    assert_contains(f->err, "user 'root' is uid 0");
}

/* The capture-thread flags take only what they say; anything else is bad usage. */
static void capture_flags_checked(void **state)
{
    fx_t *f = *state;

    assert_int_equal(run(f, "-T", "--capture-threads", "0", NULL), 2);
    assert_contains(f->err, "dlpsensor: --capture-threads: expected 1..256, got '0'\n");
    assert_int_equal(run(f, "-T", "--capture-threads", "257", NULL), 2);
    assert_contains(f->err, "expected 1..256, got '257'\n");
    assert_int_equal(run(f, "-T", "--cluster-id", "65536", NULL), 2);
    assert_contains(f->err, "dlpsensor: --cluster-id: expected 0..65535, got '65536'\n");
    assert_int_equal(run(f, "-T", "--cluster-id", "-1", NULL), 2);
    assert_int_equal(run(f, "-T", "--fanout-mode", "flow", NULL), 2);
    assert_contains(f->err, "dlpsensor: --fanout-mode: expected ippair or hash, got 'flow'\n");
    assert_int_equal(run(f, "-T", "-i", "lo", "--capture-threads", "256", "--cluster-id", "0",
                         "--fanout-mode", "hash", "-R", f->rules, "--rules-cache", f->cache,
                         NULL),
                     0);
    assert_contains(f->out, "; 256 capture threads (fanout hash, group 0); ");
    assert_int_equal(run(f, "-T", "-i", "lo", "--capture-threads", "2", "-R", f->rules,
                         "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 2 capture threads (fanout ippair, group auto); ");
    /* what the runtime opens: one thread is a plain handle, unless a group is named */
    assert_int_equal(run(f, "-T", "-i", "lo", "--capture-threads", "1", "-R", f->rules,
                         "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 1 capture threads; home net ");
    assert_int_equal(run(f, "-T", "-i", "lo", "--capture-threads", "1", "--cluster-id", "7", "-R",
                         f->rules, "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 1 capture threads (fanout ippair, group 7); ");
}

/*
 * An interface named twice would be opened twice: with one capture thread
 * (a plain handle) every packet was read twice; with fanout the open failed.
 */
static void interface_given_twice(void **state)
{
    fx_t *f = *state;

    assert_int_equal(run(f, "-T", "-i", "lo", "-i", "lo", "--capture-threads", "1", "-R",
                         f->rules, "--rules-cache", f->cache, NULL),
                     2);
    assert_contains(f->err, "dlpsensor: -i lo: interface given twice\n");
    assert_string_equal(f->out, "");
    /* the file's list is replaced by the first -i, not added to */
    write_conf(f, "capture:\n  interfaces: [lo]\n");
    assert_int_equal(run(f, "-T", "-c", f->conf, "-i", "lo", "--capture-threads", "1", "-R",
                         f->rules, "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; live on lo\n");
}

/*
 * The syslog flags take what the file's outputs.syslog keys take: -T said
 * "configuration OK" for values that the start then refused (exit 2).
 */
static void syslog_flags_checked(void **state)
{
    fx_t *f = *state;

    assert_int_equal(run(f, "-T", "--syslog-remote", "garbage", "-R", f->rules, "--rules-cache",
                         f->cache, NULL),
                     2);
    assert_contains(f->err, "dlpsensor: --syslog-remote: expected udp://HOST[:PORT], "
                            "tcp://HOST[:PORT], /PATH or unix:///PATH, got 'garbage'\n");
    assert_string_equal(f->out, "");
    assert_int_equal(run(f, "-T", "--syslog-socket", "tcp://x:1", NULL), 2);
    assert_contains(f->err, "dlpsensor: --syslog-socket: expected /PATH or unix:///PATH, got "
                            "'tcp://x:1'\n");
    assert_int_equal(run(f, "-T", "--syslog-facility", "local8", NULL), 2);
    assert_contains(f->err, "dlpsensor: --syslog-facility: unknown facility 'local8' (kern .. "
                            "local7, or 0..23)\n");
    assert_int_equal(run(f, "-T", "--syslog-remote", "udp://127.0.0.1:514", "--syslog-socket",
                         "/dev/log", "--syslog-facility", "local4", "-R", f->rules,
                         "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; remote udp://127.0.0.1:514; ");
}

/* -T says who reads the files, as a start would: a pipe is read by one reader. */
static void file_readers_reported(void **state)
{
    fx_t *f = *state;
    char pcap[512];

    snprintf(pcap, sizeof(pcap), "%s/pcaps/demo.pcap", getenv("DLP_SRC"));
    assert_int_equal(run(f, "-T", "--file-readers", "some", NULL), 2);
    assert_contains(f->err, "dlpsensor: --file-readers: expected auto, one or each, got 'some'\n");
    assert_int_equal(run(f, "-T", "-r", pcap, "--workers", "3", "--file-readers", "each", "-R",
                         f->rules, "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 3 workers (each reads the input); ");
    assert_int_equal(run(f, "-T", "-r", pcap, "--workers", "3", "--file-readers", "one", "-R",
                         f->rules, "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 3 workers (fed by one reader); ");
    assert_int_equal(run(f, "-T", "-r", "-", "--workers", "3", "--file-readers", "each", "-R",
                         f->rules, "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 3 workers (fed by one reader); ");
    /* auto: each reads when the workers leave no CPU to a reader */
    assert_int_equal(run(f, "-T", "-r", pcap, "--workers", "256", "-R", f->rules,
                         "--rules-cache", f->cache, NULL),
                     0);
    assert_contains(f->out, "; 256 workers (each reads the input); ");
}

/* An empty option argument is named, not left to fail later as ": No such file". */
static void empty_arguments_named(void **state)
{
    fx_t *f = *state;

    assert_int_equal(run(f, "-r", "", NULL), 2);
    assert_contains(f->err, "dlpsensor: -r: an empty argument\n");
    assert_int_equal(run(f, "-r", "x.pcap", "--json", "", NULL), 2);
    assert_contains(f->err, "dlpsensor: --json: an empty argument\n");
    assert_int_equal(run(f, "-r", "x.pcap", "--hmac-key-file=", NULL), 2);
    assert_contains(f->err, "dlpsensor: --hmac-key-file=: an empty argument\n");
}

/* --help names every form --syslog-remote accepts, as its error message does. */
static void help_names_remote_forms(void **state)
{
    fx_t *f = *state;

    assert_int_equal(run(f, "--help", NULL), 0);
    assert_contains(f->out, "--syslog-remote URL  alerts also to a collector, RFC 5424: "
                            "tcp://HOST[:PORT]\n");
    assert_contains(f->out, "(octet-counted), udp://HOST[:PORT] (port 514 by default),\n");
    assert_contains(f->out, "or a local socket, /PATH or unix:///PATH\n");
    assert_string_equal(f->err, "");
}

/* getopt stops at the filter: an option after it would only make the filter fail to
 * compile ("bad filter 'tcp port 80 --json -'"), so it is named for what it is. */
static void options_after_filter(void **state)
{
    fx_t *f = *state;
    char pcap[512];

    snprintf(pcap, sizeof(pcap), "%s/pcaps/demo.pcap", getenv("DLP_SRC"));
    assert_int_equal(run(f, "-r", pcap, "tcp port 80", "--json", "-", NULL), 2);
    assert_contains(f->err, "dlpsensor: bad filter 'tcp port 80 --json -': options must come "
                            "before the filter expression ('--json')\n");
    assert_int_equal(run(f, "-r", pcap, "tcp", "port", "80", "-v", NULL), 2);
    assert_contains(f->err, "dlpsensor: bad filter 'tcp port 80 -v': options must come before "
                            "the filter expression ('-v')\n");
    assert_int_equal(run(f, "-T", "-r", pcap, "tcp", "--workers=2", NULL), 2);
    assert_contains(f->err, "options must come before the filter expression ('--workers=2')\n");
    /* a minus sign is no option: arithmetic stays the filter's */
    assert_int_equal(run(f, "-T", "-r", pcap, "-R", f->rules, "--rules-cache", f->cache,
                         "len", ">", "-1", "and", "len", "<", "2", "-", "1", NULL),
                     0);
    assert_string_equal(f->err, "");
}

/* -u without root is a usage error before anything is opened. */
static void user_needs_root(void **state)
{
    fx_t *f = *state;
    char op[160], cmd[512], err[1024];
    int st;

    if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
        skip();
    snprintf(op, sizeof(op), "%s/np", f->dir);
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups %s -u nobody "
             "-r /nonexistent.pcap 2>%s",
             binary(), op);
    st = system(cmd);
    assert_true(WIFEXITED(st));
    slurp(op, err, sizeof(err));
    if (WEXITSTATUS(st) == 126 || WEXITSTATUS(st) == 127)
        skip(); /* the binary is not reachable by nobody */
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_contains(err, "dlpsensor: -u nobody: only root can change user (running as uid "
                         "65534)\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(file_applies, setup, teardown),
        cmocka_unit_test_setup_teardown(command_line_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(lists_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(file_errors_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_rules_exit_2, setup, teardown),
        cmocka_unit_test_setup_teardown(user_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(user_needs_root, setup, teardown),
        cmocka_unit_test_setup_teardown(capture_flags_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(file_readers_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(interface_given_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(syslog_flags_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_arguments_named, setup, teardown),
        cmocka_unit_test_setup_teardown(options_after_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(help_names_remote_forms, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
