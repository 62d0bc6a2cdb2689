/*
 * main.c - the command line (INTERFACE.md; tcpdump and Suricata
 * conventions) and exit codes: 0 success, 1 runtime failure, 2 bad usage
 * or bad input.
 *
 * Precedence: defaults < the -c file < the command line. argv is read
 * twice: first for -c (and -h/-V, which skip the file), then, after the
 * file is applied, for every option, so a flag wins wherever it stands.
 */
#include <getopt.h>
#include <stdarg.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlp/config.h"
#include "dlp/log.h"
#include "dlp/privdrop.h"
#include "dlp/rulescmd.h"
#include "dlp/runtime.h"

#define EXIT_USAGE 2
#define SHORT_OPTS "+r:i:R:c:Tu:vqhV"

enum {
    OPT_HOME_NET = 256,
    OPT_WORKERS,
    OPT_JSON,
    OPT_SYSLOG,
    OPT_NO_SYSLOG,
    OPT_SYSLOG_REMOTE,
    OPT_SYSLOG_SOCKET,
    OPT_SYSLOG_FACILITY,
    OPT_HMAC_KEY,
    OPT_STATS_INTERVAL,
    OPT_LOG_FLOWS,
    OPT_EVIDENCE_DIR,
    OPT_EVIDENCE_RAW,
    OPT_SCAN_INBOUND,
    OPT_SCAN_INTERNAL,
    OPT_NO_APP_LAYER,
    OPT_NO_VLAN_KEY,
    OPT_RULES_CACHE,
    OPT_NO_RULES_CACHE,
    OPT_CAPTURE_THREADS,
    OPT_CLUSTER_ID,
    OPT_FANOUT_MODE,
    OPT_FILE_READERS,
    OPT_SCAN_MEDIA,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"check-config", no_argument, NULL, 'T'},
    {"user", required_argument, NULL, 'u'},
    {"read", required_argument, NULL, 'r'},
    {"interface", required_argument, NULL, 'i'},
    {"rules", required_argument, NULL, 'R'},
    {"rules-cache", required_argument, NULL, OPT_RULES_CACHE},
    {"no-rules-cache", no_argument, NULL, OPT_NO_RULES_CACHE},
    {"home-net", required_argument, NULL, OPT_HOME_NET},
    {"workers", required_argument, NULL, OPT_WORKERS},
    {"capture-threads", required_argument, NULL, OPT_CAPTURE_THREADS},
    {"cluster-id", required_argument, NULL, OPT_CLUSTER_ID},
    {"fanout-mode", required_argument, NULL, OPT_FANOUT_MODE},
    {"file-readers", required_argument, NULL, OPT_FILE_READERS},
    {"json", required_argument, NULL, OPT_JSON},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"no-syslog", no_argument, NULL, OPT_NO_SYSLOG},
    {"syslog-remote", required_argument, NULL, OPT_SYSLOG_REMOTE},
    {"syslog-socket", required_argument, NULL, OPT_SYSLOG_SOCKET},
    {"syslog-facility", required_argument, NULL, OPT_SYSLOG_FACILITY},
    {"hmac-key-file", required_argument, NULL, OPT_HMAC_KEY},
    {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
    {"log-flows", no_argument, NULL, OPT_LOG_FLOWS},
    {"evidence-dir", required_argument, NULL, OPT_EVIDENCE_DIR},
    {"evidence-raw", no_argument, NULL, OPT_EVIDENCE_RAW},
    {"scan-inbound", no_argument, NULL, OPT_SCAN_INBOUND},
    {"scan-media", no_argument, NULL, OPT_SCAN_MEDIA},
    {"scan-internal", no_argument, NULL, OPT_SCAN_INTERNAL},
    {"no-app-layer", no_argument, NULL, OPT_NO_APP_LAYER},
    {"no-vlan-in-flow-key", no_argument, NULL, OPT_NO_VLAN_KEY},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fputs("usage: dlpsensor (-r PATH ... | -i IFACE ...) [options] [BPF filter]\n"
          "       dlpsensor -T [-c FILE] [options]\n"
          "       dlpsensor rules check|test ...  (check and tune rules: rules --help)\n"
          "\n"
          "  -c, --config FILE        configuration file (YAML); flags override it\n"
          "  -T, --check-config       load the configuration and the rules, compile them,\n"
          "                           print a summary and exit (0 valid, 2 not)\n"
          "  -u, --user USER[:GROUP]  drop root for USER once interfaces and outputs are open\n"
          "  -r, --read PATH          capture file (pcap/pcapng) or directory; repeatable\n"
          "  -i, --interface IFACE    capture live on an interface; repeatable\n"
          "  -R, --rules PATH         rule file or directory of *.yaml; repeatable\n"
          "                           (default: the bundled rules/)\n"
          "      --rules-cache DIR    compiled-rules cache (default ~/.cache/dlpsensor)\n"
          "      --no-rules-cache     always compile the rules\n"
          "      --home-net CIDRS     protected networks (default " DLP_DEFAULT_HOME_NET ")\n"
          "      --workers N          worker threads (default: the CPUs it may run on)\n"
          "      --capture-threads N  live: capture threads, each its own worker, sharing\n"
          "                           each -i in a fanout group (default: --workers)\n"
          "      --cluster-id ID      live: fanout group ID (+1 per further -i, 0..65535);\n"
          "                           processes with the same ID share the interfaces\n"
          "      --fanout-mode M      live: ippair (address pair, default) or hash (flow)\n"
          "      --file-readers M     -r: one reader thread feeds the workers (one), each\n"
          "                           worker reads the files itself (each), or auto: each\n"
          "                           when there is no CPU left for a reader (default)\n"
          "      --json PATH          JSON-lines events to PATH ('-' = stdout, the default)\n"
          "      --syslog/--no-syslog alerts to the local syslog (default: on for -i, off for -r)\n"
          "      --syslog-remote URL  alerts also to a collector, RFC 5424: tcp://HOST[:PORT]\n"
          "                           (octet-counted), udp://HOST[:PORT] (port 514 by default),\n"
          "                           or a local socket, /PATH or unix:///PATH\n"
          "      --syslog-socket PATH the local syslog socket (default /dev/log)\n"
          "      --syslog-facility F  syslog facility (default local0)\n"
          "      --hmac-key-file PATH key of the 'hmac' field (default: random per run)\n"
          "      --stats-interval S   a stats event every S seconds (default: 60 live, only at\n"
          "                           exit for files); SIGUSR1 asks for one now\n"
          "      --log-flows          a flow event for every flow, not only alerted ones\n"
          "      --evidence-dir DIR   the packets of each alerted flow to DIR/<flow_id>.pcap\n"
          "                           (mode 0600), the values found and credentials\n"
          "                           overwritten with X\n"
          "      --evidence-raw       evidence captures keep the values and credentials\n"
          "                           (personal data!)\n"
          "      --scan-inbound       also inspect traffic entering the home network\n"
          "      --scan-internal      also inspect traffic inside the home network\n"
          "      --scan-media         scan compressed media and archives (JPEG, PNG, ZIP...)\n"
          "                           whole, not only the runs of text in them\n"
          "      --no-app-layer       no protocol decoding (nDPI, HTTP, SMTP, FTP, DNS):\n"
          "                           every egress byte scanned as it travels\n"
          "      --no-vlan-in-flow-key  ignore VLAN ids when tracking flows\n"
          "  -v, --verbose / -q, --quiet   more / fewer log lines on stderr\n"
          "  -h, --help / -V, --version\n"
          "\n"
          "Exit status: 0 success, 1 runtime failure, 2 bad usage or input.\n",
          f);
}

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
    va_list ap;

    fputs("dlpsensor: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(dlpsensor --help for usage)\n", stderr);
    return EXIT_USAGE;
}

/* -1 to go on, else an exit status: the option's value copied into *dst. */
static int set_str(char **dst, const char *s)
{
    return dlp_config_set_str(dst, s) == DLP_OK ? -1 : 1;
}

static int parse_home_net(dlp_config_t *c, const char *s)
{
    const char *badp = NULL;

    if (dlp_config_set_home_net(c, s, &badp) != DLP_OK)
        return bad("--home-net: bad network '%s'", badp ? badp : s);
    return 0;
}

/* A trailing argument that is one of our options ("--json", "--workers=2", "-v"): getopt
 * stops at the filter, so an option after it would end up in the expression. A minus sign
 * ("-", "-1") is the filter's arithmetic. */
static bool is_option(const char *a)
{
    size_t n;

    if (a[0] != '-')
        return false;
    if (a[1] != '-')
        return a[1] != '\0' && a[1] != ':' && a[1] != '+' && strchr(SHORT_OPTS, a[1]) != NULL;
    n = strcspn(a + 2, "=");
    for (const struct option *o = long_opts; n > 0 && o->name != NULL; o++)
        if (strlen(o->name) == n && strncmp(o->name, a + 2, n) == 0)
            return true;
    return false;
}

/* Joins the trailing arguments into one BPF expression, as tcpdump does.
 * Returns 0, -1 (out of memory) or an exit status. */
static int join_filter(dlp_config_t *c, int argc, char **argv)
{
    size_t len = 0;
    int opt = -1;

    for (int i = 0; i < argc; i++) {
        len += strlen(argv[i]) + 1;
        if (opt < 0 && is_option(argv[i]))
            opt = i;
    }
    if (len == 0)
        return 0;
    free(c->bpf); /* the file's filter: the command line's replaces it */
    c->bpf = calloc(1, len);
    if (c->bpf == NULL)
        return -1;
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            strncat(c->bpf, " ", len - strlen(c->bpf) - 1);
        strncat(c->bpf, argv[i], len - strlen(c->bpf) - 1);
    }
    if (opt >= 0)
        return bad("bad filter '%s': options must come before the filter expression ('%s')",
                   c->bpf, argv[opt]);
    return 0;
}

/* What the command line itself says, apart from the settings. */
typedef struct cli {
    const char *conf; /* -c */
    bool check;       /* -T */
    bool early;       /* -h or -V: answered without reading the file */
    bool ifaces;      /* -i given: replaces the file's interfaces */
    bool rules;       /* -R given: replaces the file's rule paths */
    dlp_privdrop_target_t user; /* -u resolved, once (valid when the config has a user) */
} cli_t;

/* A list flag: its first use replaces what the file put in the list. */
static int push_cli(dlp_strv_t *sv, bool *seen, const char *arg)
{
    if (!*seen) {
        dlp_strv_fini(sv);
        *seen = true;
    }
    return dlp_strv_push(sv, arg) == DLP_OK ? -1 : 1;
}

/* Returns -1 to go on, else an exit status. */
static int parse_opt(dlp_config_t *c, cli_t *cli, int opt, const char *arg)
{
    switch (opt) {
    case 'c':
    case 'T': return -1; /* read by prescan() */
    case 'u': return set_str(&c->user, arg);
    case 'r': return dlp_strv_push(&c->read_paths, arg) == DLP_OK ? -1 : 1;
    case 'i':
        /* a second handle on it would read every packet again */
        if (cli->ifaces && dlp_strv_has(&c->ifaces, arg))
            return bad("-i %s: interface given twice", arg);
        return push_cli(&c->ifaces, &cli->ifaces, arg);
    case 'R': return push_cli(&c->rule_paths, &cli->rules, arg);
    case OPT_RULES_CACHE: return set_str(&c->rules_cache_dir, arg);
    case OPT_NO_RULES_CACHE: c->no_rules_cache = true; return -1;
    case OPT_HOME_NET: return parse_home_net(c, arg) == 0 ? -1 : EXIT_USAGE;
    case OPT_WORKERS:
        return dlp_config_parse_uint(arg, 1, DLP_CONFIG_THREADS_MAX, &c->workers) == DLP_OK
                   ? -1
                   : bad("--workers: expected 1..%d, got '%s'", DLP_CONFIG_THREADS_MAX, arg);
    case OPT_CAPTURE_THREADS:
        return dlp_config_parse_uint(arg, 1, DLP_CONFIG_THREADS_MAX, &c->capture_threads) == DLP_OK
                   ? -1
                   : bad("--capture-threads: expected 1..%d, got '%s'", DLP_CONFIG_THREADS_MAX, arg);
    case OPT_CLUSTER_ID: {
        unsigned id;
        if (dlp_config_parse_uint(arg, 0, 65535, &id) != DLP_OK)
            return bad("--cluster-id: expected 0..65535, got '%s'", arg);
        c->cluster_id = (int32_t)id;
        c->cluster_id_set = true;
        return -1;
    }
    case OPT_FANOUT_MODE:
        return dlp_config_parse_fanout(arg, &c->fanout_mode) == DLP_OK
                   ? -1
                   : bad("--fanout-mode: expected " DLP_CONFIG_FANOUT_NAMES ", got '%s'", arg);
    case OPT_FILE_READERS:
        return dlp_config_parse_file_readers(arg, &c->file_readers) == DLP_OK
                   ? -1
                   : bad("--file-readers: expected " DLP_CONFIG_FILE_READERS_NAMES ", got '%s'",
                         arg);
    case OPT_JSON: return set_str(&c->json_path, arg);
    case OPT_SYSLOG: c->syslog = 1; return -1;
    case OPT_NO_SYSLOG: c->syslog = 0; return -1;
    /* checked as the file's outputs.syslog keys are, so that -T sees what a start refuses */
    case OPT_SYSLOG_REMOTE:
        if (!dlp_config_syslog_target_ok(arg, true))
            return bad("--syslog-remote: expected " DLP_CONFIG_SYSLOG_REMOTE_FORMS ", got '%s'",
                       arg);
        return set_str(&c->syslog_remote, arg);
    case OPT_SYSLOG_SOCKET:
        if (!dlp_config_syslog_target_ok(arg, false))
            return bad("--syslog-socket: expected " DLP_CONFIG_SYSLOG_SOCKET_FORMS ", got '%s'",
                       arg);
        return set_str(&c->syslog_socket, arg);
    case OPT_SYSLOG_FACILITY:
        if (dlp_config_facility(arg) < 0)
            return bad("--syslog-facility: unknown facility '%s' (kern .. local7, or 0..23)", arg);
        return set_str(&c->syslog_facility, arg);
    case OPT_HMAC_KEY: return set_str(&c->hmac_key_file, arg);
    case OPT_STATS_INTERVAL:
        c->stats_interval_set = true;
        return dlp_config_parse_uint(arg, 0, 86400, &c->stats_interval_s) == DLP_OK
                   ? -1
                   : bad("--stats-interval: expected seconds (0..86400), got '%s'", arg);
    case OPT_LOG_FLOWS: c->log_all_flows = true; return -1;
    case OPT_EVIDENCE_DIR: return set_str(&c->evidence_dir, arg);
    case OPT_EVIDENCE_RAW: c->evidence_raw = true; return -1;
    case OPT_SCAN_INBOUND: c->scan_inbound = true; return -1;
    case OPT_SCAN_MEDIA: c->scan_media = true; return -1;
    case OPT_SCAN_INTERNAL: c->scan_internal = true; return -1;
    case OPT_NO_APP_LAYER: c->no_app_layer = true; return -1;
    case OPT_NO_VLAN_KEY: c->vlan_in_key = false; return -1;
    case 'v': dlp_log_set_level(DLP_LOG_DEBUG); return -1;
    case 'q': dlp_log_set_level(DLP_LOG_ERR); return -1;
    case 'h': usage(stdout); return 0;
    case 'V': puts("dlpsensor " DLP_VERSION); return 0;
    default: usage(stderr); return EXIT_USAGE;
    }
}

/* First pass over argv: -c, -T, -h, -V only (errors are the second pass's). */
static void prescan(int argc, char **argv, cli_t *cli)
{
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, SHORT_OPTS, long_opts, NULL)) != -1) {
        if (opt == 'c')
            cli->conf = optarg;
        else if (opt == 'T')
            cli->check = true;
        else if (opt == 'h' || opt == 'V')
            cli->early = true;
    }
    opterr = 1;
    optind = 0; /* glibc: 0 re-initialises getopt for the second pass */
}

/* Returns -1 to go on, else an exit status (every error printed). */
static int load_config(dlp_config_t *c, const char *path)
{
    dlp_strv_t errs = {0};
    dlp_rc_t rc = dlp_config_load_file(c, path, &errs);

    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "dlpsensor: %s\n", errs.v[i]);
    dlp_strv_fini(&errs);
    if (rc == DLP_ENOMEM) {
        fputs("dlpsensor: out of memory\n", stderr);
        return 1;
    }
    return rc == DLP_OK ? -1 : EXIT_USAGE;
}

/* -u: the user must exist now, and (unless only checking) we must be root to leave it.
 * The run is given what is resolved here, so that a lookup cannot differ later. */
static int check_user(const dlp_config_t *c, cli_t *cli)
{
    char err[256];

    if (c->user == NULL)
        return -1;
    if (dlp_privdrop_resolve(c->user, &cli->user, err, sizeof(err)) != DLP_OK)
        return bad("-u %s: %s", c->user, err);
    if (!cli->check && geteuid() != 0)
        return bad("-u %s: only root can change user (running as uid %u)", c->user,
                   (unsigned)geteuid());
    return -1;
}

static int parse_args(dlp_config_t *c, cli_t *cli, int argc, char **argv)
{
    int opt, st;

    while ((opt = getopt_long(argc, argv, SHORT_OPTS, long_opts, NULL)) != -1) {
        /* every option argument names something: "" would only fail later, namelessly */
        if (optarg != NULL && optarg[0] == '\0')
            return bad("%s: an empty argument", argv[optind - 1][0] != '\0'
                                                     ? argv[optind - 1]
                                                     : argv[optind - 2]);
        st = parse_opt(c, cli, opt, optarg);
        if (st >= 0)
            return st;
    }
    st = join_filter(c, argc - optind, argv + optind);
    if (st != 0)
        return st < 0 ? 1 : st;
    /* -r on the command line is a replay: the file's interfaces do not apply. */
    if (c->read_paths.n > 0 && !cli->ifaces)
        dlp_strv_fini(&c->ifaces);
    if (!cli->check && c->read_paths.n == 0 && c->ifaces.n == 0)
        return bad("%s", "nothing to read: give -r PATH or -i IFACE");
    if (c->read_paths.n > 0 && c->ifaces.n > 0)
        return bad("%s", "-r and -i cannot be used together");
    return check_user(c, cli);
}

int main(int argc, char **argv)
{
    dlp_config_t cfg;
    cli_t cli = {0};
    int status = -1;

    /* Workers allocate and free flow state all the time in their own arenas;
     * glibc gives a thread heap's top back (mprotect) as soon as 128 KiB are
     * free, and takes it again a moment later: 2 % of a worker in perf, about
     * 0.03 s of system time over the bench capture. */
    (void)mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
    (void)mallopt(M_TOP_PAD, 4 * 1024 * 1024);
    if (argc > 1 && strcmp(argv[1], "rules") == 0)
        return dlp_rules_cmd(argc - 1, argv + 1);
    if (dlp_config_init(&cfg) != DLP_OK) {
        fputs("dlpsensor: out of memory\n", stderr);
        return 1;
    }
    prescan(argc, argv, &cli);
    if (cli.conf != NULL && !cli.early)
        status = load_config(&cfg, cli.conf);
    if (status < 0)
        status = parse_args(&cfg, &cli, argc, argv);
    if (status < 0) {
        if (!cfg.stats_interval_set && cfg.ifaces.n > 0)
            cfg.stats_interval_s = 60;
        const dlp_privdrop_target_t *user = cfg.user != NULL ? &cli.user : NULL;
        status = cli.check ? dlp_runtime_check(&cfg, user) : dlp_runtime_run(&cfg, user);
    }
    dlp_config_fini(&cfg);
    return status;
}
