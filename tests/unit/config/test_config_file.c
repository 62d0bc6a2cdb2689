/*
 * test_config_file.c - the YAML configuration file: every key reaches its
 * field, every error has its exact message and line, lists replace, the
 * bounds of the file (size, number of errors) hold, and the example config
 * shipped in dist/ loads and states the true defaults.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlp/config.h"
#include "dlp/limits.h"

typedef struct fx {
    char dir[64];
    char path[96];
    dlp_config_t c;
    dlp_strv_t errs;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/dlp-cfgtest-XXXXXX");
    if (mkdtemp(f->dir) == NULL || dlp_config_init(&f->c) != DLP_OK)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/dlpsensor.yaml", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;

    dlp_config_fini(&f->c);
    dlp_strv_fini(&f->errs);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Writes 'yaml' and loads it over the fixture's config (errors collected). */
static dlp_rc_t load(fx_t *f, const char *yaml)
{
    write_file(f->path, yaml, strlen(yaml));
    return dlp_config_load_file(&f->c, f->path, &f->errs);
}

/* errs[i] is "PATH:" + tail. */
static void assert_err(const fx_t *f, size_t i, const char *tail)
{
    char want[1024];

    assert_true(i < f->errs.n);
    snprintf(want, sizeof(want), "%s:%s", f->path, tail);
    assert_string_equal(f->errs.v[i], want);
}

static void every_key(void **state)
{
    fx_t *f = *state;
    dlp_cidr_t a;

    assert_int_equal(load(f, "capture:\n"
                             "  interfaces: [eth1, eth2]\n"
                             "  filter: 'tcp port 80'\n"
                             "  snaplen: 64k\n"
                             "  buffer: 128m\n"
                             "  timeout: 250ms\n"
                             "  promisc: false\n"
                             "  threads: 3\n"
                             "  cluster_id: 65535\n"
                             "  fanout: hash\n"
                             "  file_readers: each\n"
                             "home_net: [10.1.0.0/16, '2001:db8::/32']\n"
                             "scan: {inbound: yes, internal: on, media: true}\n"
                             "workers: 7\n"
                             "user: nobody:nogroup\n"
                             "rules:\n"
                             "  paths: [/a, /b]\n"
                             "  cache_dir: /var/cache/x\n"
                             "  cache: false\n"
                             "outputs:\n"
                             "  json: /tmp/x.json\n"
                             "  log_flows: true\n"
                             "  stats_interval: 5m\n"
                             "  hmac_key_file: /etc/k\n"
                             "  event_ring_slots: 1024\n"
                             "  syslog:\n"
                             "    enabled: true\n"
                             "    socket: unix:///run/log\n"
                             "    facility: local3\n"
                             "    remote: tcp://[2001:db8::1]:6514\n"
                             "flow:\n"
                             "  memcap: 2g\n"
                             "  vlan_in_key: false\n"
                             "  timeouts: {tcp_new: 30s, tcp_established: 1h, tcp_closing: 90,\n"
                             "             tcp_closed: 5s, udp: 2m}\n"
                             "reassembly:\n"
                             "  memcap: 512m\n"
                             "  ooo_bytes_per_direction: 1m\n"
                             "  ooo_segments_per_direction: 100\n"
                             "  retain_bytes: 4k\n"
                             "defrag:\n"
                             "  memcap: 8m\n"
                             "  timeout: 1m\n"),
                     DLP_OK);
    assert_int_equal(f->errs.n, 0);
    dlp_config_t *c = &f->c;
    assert_int_equal(c->ifaces.n, 2);
    assert_string_equal(c->ifaces.v[0], "eth1");
    assert_string_equal(c->ifaces.v[1], "eth2");
    assert_string_equal(c->bpf, "tcp port 80");
    assert_int_equal(c->snaplen, 65536);
    assert_int_equal(c->pcap_buffer_bytes, 128u * 1024 * 1024);
    assert_int_equal(c->pcap_timeout_ms, 250);
    assert_false(c->promisc);
    assert_int_equal(c->capture_threads, 3);
    assert_true(c->cluster_id_set);
    assert_int_equal(c->cluster_id, 65535);
    assert_int_equal(c->fanout_mode, DLP_FANOUT_HASH);
    assert_int_equal(c->file_readers, DLP_FILE_READERS_EACH);
    assert_int_equal(c->home_net.n, 2);
    assert_int_equal(dlp_cidr_parse("10.1.200.3", &a), DLP_OK);
    assert_true(dlp_cidr_set_contains(&c->home_net, a.addr));
    assert_int_equal(dlp_cidr_parse("10.2.0.1", &a), DLP_OK);
    assert_false(dlp_cidr_set_contains(&c->home_net, a.addr));
    assert_int_equal(dlp_cidr_parse("2001:db8::7", &a), DLP_OK);
    assert_true(dlp_cidr_set_contains(&c->home_net, a.addr));
    assert_true(c->scan_inbound);
    assert_true(c->scan_internal);
    assert_true(c->scan_media);
    assert_int_equal(c->workers, 7);
    assert_string_equal(c->user, "nobody:nogroup");
    assert_int_equal(c->rule_paths.n, 2);
    assert_string_equal(c->rule_paths.v[1], "/b");
    assert_string_equal(c->rules_cache_dir, "/var/cache/x");
    assert_true(c->no_rules_cache);
    assert_string_equal(c->json_path, "/tmp/x.json");
    assert_true(c->log_all_flows);
    assert_int_equal(c->stats_interval_s, 300);
    assert_true(c->stats_interval_set);
    assert_string_equal(c->hmac_key_file, "/etc/k");
    assert_int_equal(c->event_ring_slots, 1024);
    assert_int_equal(c->syslog, 1);
    assert_string_equal(c->syslog_socket, "unix:///run/log");
    assert_string_equal(c->syslog_facility, "local3");
    assert_string_equal(c->syslog_remote, "tcp://[2001:db8::1]:6514");
    assert_int_equal(c->flow_memcap, 2ULL << 30);
    assert_false(c->vlan_in_key);
    assert_int_equal(c->flow_timeout_us[0], 30000000ULL);
    assert_int_equal(c->flow_timeout_us[1], 3600000000ULL);
    assert_int_equal(c->flow_timeout_us[2], 90000000ULL);
    assert_int_equal(c->flow_timeout_us[3], 5000000ULL);
    assert_int_equal(c->flow_timeout_us[4], 120000000ULL);
    assert_int_equal(c->reasm_ooo_bytes_worker, 512ULL << 20);
    assert_int_equal(c->reasm_ooo_bytes_dir, 1u << 20);
    assert_int_equal(c->reasm_ooo_segs_dir, 100);
    assert_int_equal(c->reasm_retain_bytes, 4096);
    assert_int_equal(c->defrag_memcap, 8ULL << 20);
    assert_int_equal(c->defrag_timeout_us, 60000000ULL);
}

/* The other spellings each kind accepts. */
static void alternative_forms(void **state)
{
    fx_t *f = *state;
    dlp_cidr_t a;

    f->c.workers = 99;
    assert_int_equal(load(f, "capture:\n  interfaces: eth3\n"           /* one string */
                             "home_net: 192.0.2.0/24,198.51.100.0/24\n" /* comma list */
                             "workers: auto\n"
                             "rules: {paths: /r.yaml}\n"
                             "outputs:\n  syslog: {enabled: auto, facility: 23}\n"
                             "flow: {vlan_in_key: TRUE, memcap: 1048576}\n"),
                     DLP_OK);
    assert_int_equal(f->c.ifaces.n, 1);
    assert_string_equal(f->c.ifaces.v[0], "eth3");
    assert_int_equal(f->c.home_net.n, 2);
    assert_int_equal(dlp_cidr_parse("198.51.100.9", &a), DLP_OK);
    assert_true(dlp_cidr_set_contains(&f->c.home_net, a.addr));
    assert_int_equal(f->c.workers, dlp_config_auto_workers(dlp_config_cpus()));
    assert_int_equal(f->c.rule_paths.n, 1);
    assert_int_equal(f->c.syslog, -1);
    assert_string_equal(f->c.syslog_facility, "23");
    assert_true(f->c.vlan_in_key);
    assert_int_equal(f->c.flow_memcap, 1048576);
    assert_false(f->c.stats_interval_set);
}

static void empty_files_and_sections(void **state)
{
    fx_t *f = *state;
    static const char *const ok[] = {"", "# only a comment\n", "{}\n", "---\n",
                                     "outputs:\nflow:\n  timeouts:\n"};

    for (size_t i = 0; i < DLP_ARRAY_LEN(ok); i++) {
        assert_int_equal(load(f, ok[i]), DLP_OK);
        assert_int_equal(f->errs.n, 0);
    }
    assert_int_equal(f->c.flow_memcap, DLP_FLOW_MEMCAP);
    assert_int_equal(f->c.flow_timeout_us[0], DLP_FLOW_TIMEOUT_TCP_NEW_US);
}

/* A list in the file replaces the list held, it does not append. */
static void lists_replace_and_null_unsets(void **state)
{
    fx_t *f = *state;

    assert_int_equal(dlp_strv_push(&f->c.ifaces, "old0"), DLP_OK);
    assert_int_equal(dlp_strv_push(&f->c.rule_paths, "old.yaml"), DLP_OK);
    f->c.json_path = strdup("/old.json");
    assert_int_equal(load(f, "capture: {interfaces: [eth1]}\nrules: {paths: [/n.yaml]}\n"
                             "outputs: {json: null, hmac_key_file: ~}\n"),
                     DLP_OK);
    assert_int_equal(f->c.ifaces.n, 1);
    assert_string_equal(f->c.ifaces.v[0], "eth1");
    assert_int_equal(f->c.rule_paths.n, 1);
    assert_string_equal(f->c.rule_paths.v[0], "/n.yaml");
    assert_null(f->c.json_path);
    assert_null(f->c.hmac_key_file);
    assert_int_equal(load(f, "capture: {interfaces: []}\n"), DLP_OK);
    assert_int_equal(f->c.ifaces.n, 0);
}

typedef struct bad_case {
    const char *yaml;
    const char *err; /* after "PATH:" */
} bad_case_t;

static const bad_case_t k_bad[] = {
    {"nope: 1\n", "1: nope: unknown key (top level takes: capture, home_net, scan, workers, "
                  "user, rules, outputs, flow, reassembly, defrag)"},
    {"flow:\n  timeouts:\n    tcp_est: 1s\n",
     "3: flow.timeouts.tcp_est: unknown key (flow.timeouts takes: tcp_new, tcp_established, "
     "tcp_closing, tcp_closed, udp)"},
    {"capture:\n  snaplen: 64k\n  iface: eth0\n",
     "3: capture.iface: unknown key (capture takes: interfaces, filter, snaplen, buffer, "
     "timeout, promisc, threads, cluster_id, fanout, file_readers)"},
    {"capture:\n  fanout: flow\n", "2: capture.fanout: expected ippair or hash, got 'flow'"},
    {"capture:\n  file_readers: all\n",
     "2: capture.file_readers: expected auto, one or each, got 'all'"},
    {"capture:\n  cluster_id: 65536\n",
     "2: capture.cluster_id: 65536 is out of range (0..65535)"},
    {"capture:\n  threads: 257\n", "2: capture.threads: 257 is out of range (0..256)"},
    {"workers: 2\nworkers: 3\n", "2: workers: duplicate key (first at line 1)"},
    {"flow: 3\n", "1: flow: expected a mapping, got '3'"},
    {"- a\n", "1: expected a mapping, got a sequence"},
    {"? [a]\n: 1\n", "1: keys must be strings"},
    {"capture:\n  promisc: maybe\n",
     "2: capture.promisc: expected true or false, got 'maybe'"},
    {"capture:\n  promisc: [true]\n",
     "2: capture.promisc: expected true or false, got a sequence"},
    {"scan:\n  inbound:\n", "2: scan.inbound: expected true or false, got null"},
    {"outputs:\n  event_ring_slots: 12x\n",
     "2: outputs.event_ring_slots: expected a whole number, got '12x'"},
    {"outputs:\n  event_ring_slots: 8\n",
     "2: outputs.event_ring_slots: 8 is out of range (16..65536)"},
    {"outputs:\n  event_ring_slots: 65537\n",
     "2: outputs.event_ring_slots: 65537 is out of range (16..65536)"},
    {"flow:\n  memcap: 512k\n", "2: flow.memcap: 512k is out of range (1m..1t)"},
    {"flow:\n  memcap: 2t\n", "2: flow.memcap: 2t is out of range (1m..1t)"},
    {"flow:\n  memcap: 64MB\n",
     "2: flow.memcap: expected a size (bytes, or a number with k, m, g or t), got '64MB'"},
    {"flow:\n  memcap: 1.5g\n",
     "2: flow.memcap: expected a size (bytes, or a number with k, m, g or t), got '1.5g'"},
    {"flow:\n  memcap: 99999999999999999999\n",
     "2: flow.memcap: expected a size (bytes, or a number with k, m, g or t), got "
     "'99999999999999999999'"},
    {"flow:\n  memcap: 16777216t\n", /* 2^64 bytes */
     "2: flow.memcap: expected a size (bytes, or a number with k, m, g or t), got "
     "'16777216t'"},
    {"capture:\n  snaplen: 32\n", "2: capture.snaplen: 32 is out of range (64..256k)"},
    {"capture:\n  buffer: 2g\n", "2: capture.buffer: 2g is out of range (1m..1g)"},
    {"capture:\n  timeout: 0\n", "2: capture.timeout: 0 is out of range (1ms..10s)"},
    {"capture:\n  timeout: 1500us\n",
     "2: capture.timeout: expected a duration (a number with ms, s, m, h or d; plain = "
     "seconds), got '1500us'"},
    {"capture:\n  timeout: -5\n",
     "2: capture.timeout: expected a duration (a number with ms, s, m, h or d; plain = "
     "seconds), got '-5'"},
    {"outputs:\n  stats_interval: 1500ms\n",
     "2: outputs.stats_interval: 1500ms is not a whole number of seconds"},
    {"outputs:\n  stats_interval: 2d\n",
     "2: outputs.stats_interval: 2d is out of range (0s..1d)"},
    {"flow:\n  timeouts:\n    udp: 0\n", "3: flow.timeouts.udp: 0 is out of range (1s..1d)"},
    {"flow:\n  timeouts:\n    tcp_established: 25h\n",
     "3: flow.timeouts.tcp_established: 25h is out of range (1s..1d)"},
    {"defrag:\n  timeout: 11m\n", "2: defrag.timeout: 11m is out of range (1s..10m)"},
    {"defrag:\n  memcap: 32k\n", "2: defrag.memcap: 32k is out of range (64k..64g)"},
    {"reassembly:\n  retain_bytes: 65k\n",
     "2: reassembly.retain_bytes: 65k is out of range (0..64k)"},
    {"reassembly:\n  ooo_bytes_per_direction: 2g\n",
     "2: reassembly.ooo_bytes_per_direction: 2g is out of range (0..1g)"},
    {"reassembly:\n  ooo_segments_per_direction: 70000\n",
     "2: reassembly.ooo_segments_per_direction: 70000 is out of range (0..65536)"},
    {"reassembly:\n  memcap: 2t\n", "2: reassembly.memcap: 2t is out of range (0..1t)"},
    {"workers: 0\n", "1: workers: expected 1..256 or auto, got '0'"},
    {"workers: 257\n", "1: workers: expected 1..256 or auto, got '257'"},
    {"workers:\n", "1: workers: expected a number of threads or auto, got null"},
    {"outputs:\n  json: ''\n",
     "2: outputs.json: empty string (leave the key out, or write null, for none)"},
    {"outputs:\n  json: {a: 1}\n", "2: outputs.json: expected a string, got a mapping"},
    {"user: \"a\\0b\"\n", "1: user: the value contains a NUL byte"},
    {"home_net: [10.0.0.0/8, 300.1.1.1/8]\n", "1: home_net: bad network '300.1.1.1/8'"},
    {"home_net: 10.0.0.0/33\n", "1: home_net: bad network '10.0.0.0/33'"},
    {"home_net: []\n", "1: home_net: empty: at least one network is needed"},
    {"home_net: {a: b}\n", "1: home_net: expected a list, got a mapping"},
    {"capture:\n  interfaces: [eth1, averyveryverylongname0]\n",
     "2: capture.interfaces: interface name 'averyveryverylongname0' is longer than 15 "
     "characters"},
    {"capture:\n  interfaces:\n    - eth1\n    - [x]\n",
     "4: capture.interfaces: expected a string, got a sequence"},
    {"capture:\n  interfaces:\n    - eth1\n    - eth2\n    - eth1\n",
     "5: capture.interfaces: interface 'eth1' given twice"},
    {"rules:\n  paths: ['']\n", "2: rules.paths: empty string in the list"},
    {"rules:\n  cache: sometimes\n", "2: rules.cache: expected true or false, got 'sometimes'"},
    {"outputs:\n  syslog:\n    facility: local8\n",
     "3: outputs.syslog.facility: unknown facility 'local8' (kern .. local7, or 0..23)"},
    {"outputs:\n  syslog:\n    facility: 24\n",
     "3: outputs.syslog.facility: unknown facility '24' (kern .. local7, or 0..23)"},
    {"outputs:\n  syslog:\n    remote: http://x\n",
     "3: outputs.syslog.remote: expected udp://HOST[:PORT], tcp://HOST[:PORT], /PATH or "
     "unix:///PATH, got 'http://x'"},
    {"outputs:\n  syslog:\n    remote: 'tcp://'\n",
     "3: outputs.syslog.remote: expected udp://HOST[:PORT], tcp://HOST[:PORT], /PATH or "
     "unix:///PATH, got 'tcp://'"},
    {"outputs:\n  syslog:\n    socket: tcp://x:1\n",
     "3: outputs.syslog.socket: expected /PATH or unix:///PATH, got 'tcp://x:1'"},
    {"outputs:\n  syslog:\n    enabled: sometimes\n",
     "3: outputs.syslog.enabled: expected true, false or auto, got 'sometimes'"},
    {"capture:\n  snaplen: &s 64k\n  buffer: *s\n",
     "3: capture.buffer: YAML aliases are not allowed"},
    {"home_net: &n 10.0.0.0/8\nrules:\n  paths: [*n]\n",
     "3: rules.paths: YAML aliases are not allowed"},
    {"workers: 2\n---\nworkers: 3\n", "2: only one YAML document per file is allowed"},
    {"capture:\n  snaplen: 64k\n bad\n",
     "3: YAML error: did not find expected key (while parsing a block mapping)"},
    {"capture: [a\n", "2: YAML error: did not find expected ',' or ']' (while parsing a "
                      "flow sequence)"},
    {"workers: 2\nuser: \xff\n", "2: YAML error: invalid leading UTF-8 octet"},
};

static void every_error(void **state)
{
    fx_t *f = *state;

    for (size_t i = 0; i < DLP_ARRAY_LEN(k_bad); i++) {
        dlp_strv_fini(&f->errs);
        dlp_rc_t rc = load(f, k_bad[i].yaml);
        if (rc != DLP_EINVAL || f->errs.n != 1) {
            print_error("case %zu (%s): rc %d, %zu errors, first: %s\n", i, k_bad[i].yaml,
                        (int)rc, f->errs.n, f->errs.n ? f->errs.v[0] : "-");
            fail();
        }
        assert_err(f, 0, k_bad[i].err);
    }
}

/* A bad value leaves the field as it was; the good keys around it still apply. */
static void all_errors_reported_good_keys_applied(void **state)
{
    fx_t *f = *state;
    unsigned workers = f->c.workers;

    assert_int_equal(load(f, "workers: 0\n"
                             "flow:\n"
                             "  memcap: 2g\n"
                             "  timeouts:\n"
                             "    udp: soon\n"
                             "defrag: {timeout: 5s}\n"
                             "bogus: true\n"),
                     DLP_EINVAL);
    assert_int_equal(f->errs.n, 3);
    assert_err(f, 0, "1: workers: expected 1..256 or auto, got '0'");
    assert_err(f, 1, "5: flow.timeouts.udp: expected a duration (a number with ms, s, m, h or "
                     "d; plain = seconds), got 'soon'");
    assert_err(f, 2, "7: bogus: unknown key (top level takes: capture, home_net, scan, "
                     "workers, user, rules, outputs, flow, reassembly, defrag)");
    assert_int_equal(f->c.workers, workers);
    assert_int_equal(f->c.flow_timeout_us[4], DLP_FLOW_TIMEOUT_UDP_US);
    assert_int_equal(f->c.flow_memcap, 2ULL << 30);
    assert_int_equal(f->c.defrag_timeout_us, 5000000ULL);
}

/* DLP_CONFIG_ERRORS_MAX messages, then one "too many errors". */
static void error_limit(void **state)
{
    fx_t *f = *state;
    char yaml[4096];
    size_t used = 0;

    for (int i = 0; i < DLP_CONFIG_ERRORS_MAX + 10; i++)
        used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, "k%d: 1\n", i);
    assert_int_equal(load(f, yaml), DLP_EINVAL);
    assert_int_equal(f->errs.n, DLP_CONFIG_ERRORS_MAX + 1);
    assert_string_equal(f->errs.v[DLP_CONFIG_ERRORS_MAX - 1] + strlen(f->path),
                        ":64: k63: unknown key (top level takes: capture, home_net, scan, "
                        "workers, user, rules, outputs, flow, reassembly, defrag)");
    assert_err(f, DLP_CONFIG_ERRORS_MAX, " too many errors, stopping");
}

static void file_errors(void **state)
{
    fx_t *f = *state;
    char want[256];
    size_t big = DLP_CONFIG_FILE_MAX + 1;
    char *text = malloc(big);

    assert_int_equal(dlp_config_load_file(&f->c, "/nonexistent/dlp.yaml", &f->errs),
                     DLP_EINVAL);
    assert_string_equal(f->errs.v[0], "/nonexistent/dlp.yaml: No such file or directory");
    assert_int_equal(dlp_config_load_file(&f->c, f->dir, &f->errs), DLP_EINVAL);
    snprintf(want, sizeof(want), "%s: not a regular file", f->dir);
    assert_string_equal(f->errs.v[1], want);
    assert_non_null(text);
    memset(text, '#', big);
    text[big - 1] = '\n';
    write_file(f->path, text, big);
    free(text);
    assert_int_equal(dlp_config_load_file(&f->c, f->path, &f->errs), DLP_EINVAL);
    snprintf(want, sizeof(want), "%s: larger than 1 MiB", f->path);
    assert_string_equal(f->errs.v[2], want);
    assert_int_equal(f->errs.n, 3);
    /* exactly the bound is accepted */
    assert_int_equal(truncate(f->path, DLP_CONFIG_FILE_MAX), 0);
    assert_int_equal(dlp_config_load_file(&f->c, f->path, &f->errs), DLP_OK);
    assert_int_equal(f->errs.n, 3);
}

static void sizes(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(dlp_config_parse_size("0", &v), DLP_OK);
    assert_int_equal(v, 0);
    assert_int_equal(dlp_config_parse_size("65536", &v), DLP_OK);
    assert_int_equal(v, 65536);
    assert_int_equal(dlp_config_parse_size("64k", &v), DLP_OK);
    assert_int_equal(v, 65536);
    assert_int_equal(dlp_config_parse_size("64K", &v), DLP_OK);
    assert_int_equal(v, 65536);
    assert_int_equal(dlp_config_parse_size("3m", &v), DLP_OK);
    assert_int_equal(v, 3ULL << 20);
    assert_int_equal(dlp_config_parse_size("1G", &v), DLP_OK);
    assert_int_equal(v, 1ULL << 30);
    assert_int_equal(dlp_config_parse_size("2t", &v), DLP_OK);
    assert_int_equal(v, 2ULL << 40);
    assert_int_equal(dlp_config_parse_size("16777215t", &v), DLP_OK); /* 2^64 - 2^40 */
    assert_int_equal(v, 16777215ULL << 40);
    assert_int_equal(dlp_config_parse_size("18446744073709551615", &v), DLP_OK);
    assert_int_equal(v, UINT64_MAX);
    static const char *const bad[] = {"",    "k",   "-1",  "+1",  " 1",  "1 ",
                                      "1kb", "1KiB", "1.5", "0x10", "16777216t",
                                      "18446744073709551616"};
    for (size_t i = 0; i < DLP_ARRAY_LEN(bad); i++) {
        v = 77;
        assert_int_equal(dlp_config_parse_size(bad[i], &v), DLP_EINVAL);
        assert_int_equal(v, 77);
    }
}

static void durations(void **state)
{
    uint64_t v = 0;

    static const struct {
        const char *text;
        uint64_t us;
    } ok[] = {{"30", 30000000ULL},      {"30s", 30000000ULL}, {"100ms", 100000ULL},
              {"10m", 600000000ULL},    {"2h", 7200000000ULL}, {"1d", 86400000000ULL},
              {"0", 0}};

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(ok); i++) {
        assert_int_equal(dlp_config_parse_duration(ok[i].text, &v), DLP_OK);
        assert_int_equal(v, ok[i].us);
    }
    static const char *const bad[] = {"", "s", "5x", "5S", "5 s", "1.5s", "-1",
                                      "5us", "5min", "213503983d" /* > 2^64 us */};
    for (size_t i = 0; i < DLP_ARRAY_LEN(bad); i++) {
        v = 77;
        assert_int_equal(dlp_config_parse_duration(bad[i], &v), DLP_EINVAL);
        assert_int_equal(v, 77);
    }
}

/* dist/dlpsensor.yaml loads, and the defaults it states are the real ones. */
static void shipped_example(void **state)
{
    fx_t *f = *state;
    const char *src = getenv("DLP_SRC");
    char path[512];
    dlp_config_t d;

    if (src == NULL)
        skip();
    snprintf(path, sizeof(path), "%s/dist/dlpsensor.yaml", src);
    assert_int_equal(dlp_config_load_file(&f->c, path, &f->errs), DLP_OK);
    assert_int_equal(f->errs.n, 0);
    assert_int_equal(dlp_config_init(&d), DLP_OK);
    const dlp_config_t *c = &f->c;
    assert_int_equal(c->snaplen, d.snaplen);
    assert_int_equal(c->pcap_buffer_bytes, d.pcap_buffer_bytes);
    assert_int_equal(c->pcap_timeout_ms, d.pcap_timeout_ms);
    assert_int_equal(c->promisc, d.promisc);
    assert_int_equal(c->capture_threads, d.capture_threads);
    assert_int_equal(c->cluster_id_set, d.cluster_id_set);
    assert_int_equal(c->fanout_mode, d.fanout_mode);
    assert_int_equal(c->home_net.n, d.home_net.n);
    assert_memory_equal(c->home_net.v, d.home_net.v, d.home_net.n * sizeof(*d.home_net.v));
    assert_int_equal(c->scan_inbound, d.scan_inbound);
    assert_int_equal(c->scan_internal, d.scan_internal);
    assert_int_equal(c->scan_media, d.scan_media);
    assert_int_equal(c->workers, d.workers);
    assert_int_equal(c->no_rules_cache, d.no_rules_cache);
    assert_int_equal(c->log_all_flows, d.log_all_flows);
    assert_int_equal(c->stats_interval_s, 60); /* main's live default */
    assert_int_equal(c->event_ring_slots, d.event_ring_slots);
    assert_int_equal(c->syslog, d.syslog);
    assert_string_equal(c->syslog_facility, "local0");
    assert_null(c->syslog_remote);
    assert_null(c->hmac_key_file);
    assert_int_equal(c->flow_memcap, d.flow_memcap);
    assert_int_equal(c->vlan_in_key, d.vlan_in_key);
    assert_memory_equal(c->flow_timeout_us, d.flow_timeout_us, sizeof(d.flow_timeout_us));
    assert_int_equal(c->reasm_ooo_bytes_worker, d.reasm_ooo_bytes_worker);
    assert_int_equal(c->reasm_ooo_bytes_dir, d.reasm_ooo_bytes_dir);
    assert_int_equal(c->reasm_ooo_segs_dir, d.reasm_ooo_segs_dir);
    assert_int_equal(c->reasm_retain_bytes, d.reasm_retain_bytes);
    assert_int_equal(c->defrag_memcap, d.defrag_memcap);
    assert_int_equal(c->defrag_timeout_us, d.defrag_timeout_us);
    assert_string_equal(c->user, "dlpsensor");
    assert_string_equal(c->json_path, "/var/log/dlpsensor/events.json");
    assert_string_equal(c->rules_cache_dir, "/var/cache/dlpsensor");
    dlp_config_fini(&d);
}

/* Mutated copies of the shipped example: always DLP_OK or DLP_EINVAL with messages, no
 * crash, no leak (the sanitizer build checks). Fixed seed. */
static void mutations(void **state)
{
    fx_t *f = *state;
    const char *src = getenv("DLP_SRC");
    char path[512], *base = NULL;
    size_t len = 0;
    uint32_t seed = 12345;
    FILE *fp;

    if (src == NULL)
        skip();
    snprintf(path, sizeof(path), "%s/dist/dlpsensor.yaml", src);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    base = malloc(DLP_CONFIG_FILE_MAX);
    assert_non_null(base);
    len = fread(base, 1, DLP_CONFIG_FILE_MAX - 64, fp);
    fclose(fp);
    static const char alphabet[] = ":-[]{}&*!|>'\"#\n \t,?%@`0k9m.";
    for (int iter = 0; iter < 1000; iter++) {
        char *m = malloc(len + 64);
        size_t n = len;
        assert_non_null(m);
        memcpy(m, base, len);
        for (int k = 0; k < 1 + iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            m[at] = (seed & 1) ? alphabet[(seed >> 8) % (sizeof(alphabet) - 1)]
                               : (char)(seed >> 16);
        }
        write_file(f->path, m, n);
        free(m);
        dlp_config_t c;
        dlp_strv_t errs = {0};
        assert_int_equal(dlp_config_init(&c), DLP_OK);
        dlp_rc_t rc = dlp_config_load_file(&c, f->path, &errs);
        assert_true((rc == DLP_OK && errs.n == 0) || (rc == DLP_EINVAL && errs.n > 0));
        dlp_strv_fini(&errs);
        dlp_config_fini(&c);
    }
    free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(alternative_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_files_and_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(lists_replace_and_null_unsets, setup, teardown),
        cmocka_unit_test_setup_teardown(every_error, setup, teardown),
        cmocka_unit_test_setup_teardown(all_errors_reported_good_keys_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(error_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(file_errors, setup, teardown),
        cmocka_unit_test(sizes),
        cmocka_unit_test(durations),
        cmocka_unit_test_setup_teardown(shipped_example, setup, teardown),
        cmocka_unit_test_setup_teardown(mutations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
