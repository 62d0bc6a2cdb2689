/*
 * test_output.c - event records -> JSON lines: a dlp event, a flow event
 * assembled from its rule records, a stats event with grouped counters and
 * per-rule counts; output files are created 0600; a failed write, flush or
 * close of the JSON file counts the events it lost and fails the run.
 */
#include "dlp_test.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlp/alert.h"
#include "dlp/config.h"
#include "dlp/flow.h"
#include "dlp/output.h"

/*
 * Freed memory is overwritten (the sanitizer's fill, or glibc's perturb byte
 * without it), so that a use of the JSON file after dlp_output_free closed
 * it crashes instead of reading what fclose left there.
 */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_free_fill_size=4096"; }
#endif

/*
 * Linked with --wrap=fflush,--wrap=fclose: a failure the kernel gives only
 * on some file systems (EIO, a quota at close on NFS), made on demand. The
 * failing fflush writes nothing and keeps what stdio holds; 'g_lines_out'
 * says how many lines the file had then, the events that did reach it.
 */
int __real_fflush(FILE *f);
int __wrap_fflush(FILE *f);
int __real_fclose(FILE *f);
int __wrap_fclose(FILE *f);
static const char *g_fail_flush_of; /* the file whose flush fails, or NULL */
static bool g_fail_close;
static size_t g_lines_out;

static size_t lines_in(const char *path)
{
    FILE *in = fopen(path, "r");
    size_t n = 0;
    int c;

    assert_non_null(in);
    while ((c = fgetc(in)) != EOF)
        n += c == '\n';
    __real_fclose(in);
    return n;
}

int __wrap_fflush(FILE *f)
{
    if (g_fail_flush_of == NULL || f == NULL)
        return __real_fflush(f);
    g_lines_out = lines_in(g_fail_flush_of);
    errno = EIO;
    return EOF;
}

int __wrap_fclose(FILE *f)
{
    int rc = __real_fclose(f);

    if (!g_fail_close)
        return rc;
    errno = EIO;
    return EOF;
}

typedef struct fx {
    char dir[32], path[64];
    dlp_config_t cfg;
    dlp_ring_t *ring;
    dlp_output_t *out;
} fx_t;

/* JSON events to 'json_path', or to a fresh file when NULL; 'live' as the sensor's. */
static fx_t *fx_new_mode(const char *json_path, bool live)
{
    fx_t *f = calloc(1, sizeof(*f));
    char err[256];

    snprintf(f->dir, sizeof(f->dir), "/tmp/dlp-out-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ev.json", f->dir);
    assert_int_equal(dlp_config_init(&f->cfg), DLP_OK);
    f->cfg.json_path = strdup(json_path != NULL ? json_path : f->path);
    f->ring = dlp_ring_new(sizeof(dlp_event_t), 16);
    f->out = dlp_output_new(&f->cfg, false, live, err, sizeof(err));
    assert_non_null(f->out);
    assert_int_equal(dlp_output_add_ring(f->out, f->ring), DLP_OK);
    return f;
}

static fx_t *fx_new_json(const char *json_path)
{
    return fx_new_mode(json_path, false);
}

static fx_t *fx_new(void)
{
    return fx_new_json(NULL);
}

/* Closes the output and returns the events written, one JSON value each. */
static json_t *fx_events(fx_t *f)
{
    json_t *arr = json_array();
    char line[8192];
    FILE *in;

    dlp_output_free(f->out);
    f->out = NULL;
    in = fopen(f->path, "r");
    assert_non_null(in);
    while (fgets(line, sizeof(line), in) != NULL) {
        json_error_t e;
        json_t *v = json_loads(line, 0, &e);
        assert_non_null(v);
        json_array_append_new(arr, v);
    }
    fclose(in);
    return arr;
}

static void fx_free(fx_t *f)
{
    dlp_output_free(f->out);
    dlp_ring_free(f->ring);
    unlink(f->path);
    rmdir(f->dir);
    dlp_config_fini(&f->cfg);
    free(f);
}

static void flowinfo(dlp_ev_flowinfo_t *fl)
{
    fl->flow_id = 1234567;
    fl->src[10] = fl->src[11] = 0xff;
    fl->src[12] = 10, fl->src[13] = 1, fl->src[14] = 2, fl->src[15] = 3;
    fl->dst[10] = fl->dst[11] = 0xff;
    fl->dst[12] = 198, fl->dst[13] = 51, fl->dst[14] = 100, fl->dst[15] = 7;
    fl->sport = 51234;
    fl->dport = 80;
    fl->proto = 6;
    fl->ipver = 4;
}

static void rule(dlp_ev_rule_t *r)
{
    r->rule_id = 1001;
    snprintf(r->name, sizeof(r->name), "pii.credit_card");
    r->category = DLP_CAT_LINKED;
    r->severity = DLP_SEV_HIGH;
    r->count = 2;
    r->nmatches = 2;
    snprintf(r->m[0].masked, sizeof(r->m[0].masked), "453914******6467");
    snprintf(r->m[0].hmac, sizeof(r->m[0].hmac), "3f0c0000000000000000000000000032");
    r->m[0].offset = 118;
    snprintf(r->m[1].masked, sizeof(r->m[1].masked), "411111******1111");
    r->m[1].offset = 300;
}

/* ev cleared to a record of flow flow_id (flowinfo() otherwise) at ts_us; a
 * DLP_EV_FLOW_RULE or DLP_EV_DLP one carries rule(). */
static void flow_record(dlp_event_t *ev, dlp_event_type_t type, uint64_t flow_id, uint64_t ts_us)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = (uint8_t)type;
    ev->ts_us = ts_us;
    flowinfo(&ev->fl);
    ev->fl.flow_id = flow_id;
    if (type == DLP_EV_FLOW_RULE || type == DLP_EV_DLP)
        rule(&ev->u.rule);
}

#define DLP_TS 1795933460123456ULL /* 2026-11-29T06:24:20.123456Z */

static void dlp_event_json(void **state)
{
    fx_t *f = fx_new();
    static dlp_event_t ev;
    json_t *all, *e, *d, *m;

    (void)state;
    flow_record(&ev, DLP_EV_DLP, 1234567, DLP_TS);
    assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), 1);
    all = fx_events(f);
    assert_int_equal(json_array_size(all), 1);
    e = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(e, "timestamp")),
                        "2026-11-29T06:24:20.123456+0000");
    assert_string_equal(json_string_value(json_object_get(e, "event_type")), "dlp");
    assert_int_equal(json_integer_value(json_object_get(e, "flow_id")), 1234567);
    assert_string_equal(json_string_value(json_object_get(e, "src_ip")), "10.1.2.3");
    assert_int_equal(json_integer_value(json_object_get(e, "src_port")), 51234);
    assert_string_equal(json_string_value(json_object_get(e, "dest_ip")), "198.51.100.7");
    assert_int_equal(json_integer_value(json_object_get(e, "dest_port")), 80);
    assert_string_equal(json_string_value(json_object_get(e, "proto")), "TCP");
    assert_string_equal(json_string_value(json_object_get(e, "app_proto")), "Unknown");
    d = json_object_get(e, "dlp");
    assert_string_equal(json_string_value(json_object_get(d, "rule")), "pii.credit_card");
    assert_int_equal(json_integer_value(json_object_get(d, "rule_id")), 1001);
    assert_string_equal(json_string_value(json_object_get(d, "category")), "linked");
    assert_string_equal(json_string_value(json_object_get(d, "severity")), "high");
    assert_int_equal(json_integer_value(json_object_get(d, "count")), 2);
    assert_int_equal(json_array_size(json_object_get(d, "matches")), 2);
    m = json_array_get(json_object_get(d, "matches"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "masked")), "453914******6467");
    assert_string_equal(json_string_value(json_object_get(m, "hmac")),
                        "3f0c0000000000000000000000000032");
    assert_int_equal(json_integer_value(json_object_get(m, "offset")), 118);
    assert_string_equal(json_string_value(json_object_get(m, "field")), "raw");
    assert_null(json_object_get(d, "aggregate")); /* only when met across flows */
    json_decref(all);
    fx_free(f);
}

/* A rule met by aggregate: says how many values, in how many flows, in what window. */
static void dlp_event_aggregate(void **state)
{
    fx_t *f = fx_new();
    static dlp_event_t ev;
    json_t *all, *a;

    (void)state;
    flow_record(&ev, DLP_EV_DLP, 1234567, DLP_TS);
    ev.u.rule.agg_values = 50;
    ev.u.rule.agg_flows = 12;
    ev.u.rule.agg_window_s = 600;
    assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), 1);
    all = fx_events(f);
    a = json_object_get(json_object_get(json_array_get(all, 0), "dlp"), "aggregate");
    assert_int_equal(json_integer_value(json_object_get(a, "values")), 50);
    assert_int_equal(json_integer_value(json_object_get(a, "flows")), 12);
    assert_int_equal(json_integer_value(json_object_get(a, "window_s")), 600);
    json_decref(all);
    fx_free(f);
}

static void flow_event_joins_its_rule_records(void **state)
{
    fx_t *f = fx_new();
    static dlp_event_t ev;
    json_t *all, *e, *fo, *rules;
    struct stat st;

    (void)state;
    flow_record(&ev, DLP_EV_FLOW_RULE, 1234567, 0);
    assert_true(dlp_ring_push(f->ring, &ev));
    flow_record(&ev, DLP_EV_FLOW, 1234567, 2000000);
    ev.u.flow.start_us = 1000000;
    ev.u.flow.reason = DLP_FLOW_END_FIN;
    ev.u.flow.alerts = 1;
    ev.u.flow.tcp_state = 5;
    ev.u.flow.dir[0] = (dlp_ev_dir_t){.pkts = 6, .bytes = 561, .stream_bytes = 233,
                                      .inspected_bytes = 233, .egress = 1};
    ev.u.flow.dir[1] = (dlp_ev_dir_t){.pkts = 4, .bytes = 379, .stream_bytes = 159,
                                      .gap_bytes = 10, .gaps = 1};
    assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), 2);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    all = fx_events(f);
    assert_int_equal(json_array_size(all), 1);
    e = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(e, "event_type")), "flow");
    fo = json_object_get(e, "flow");
    assert_int_equal(json_integer_value(json_object_get(fo, "pkts_toserver")), 6);
    assert_int_equal(json_integer_value(json_object_get(fo, "bytes_toclient")), 379);
    assert_string_equal(json_string_value(json_object_get(fo, "reason")), "fin");
    assert_string_equal(json_string_value(json_object_get(fo, "tcp_state")), "closed");
    assert_string_equal(json_string_value(json_object_get(fo, "start")),
                        "1970-01-01T00:00:01.000000+0000");
    assert_true(json_is_true(json_object_get(fo, "alerted")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(e, "inspection"), "toclient"),
                         "gap_bytes")),
                     10);
    rules = json_object_get(e, "dlp_rules");
    assert_int_equal(json_array_size(rules), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(rules, 0), "count")), 2);
    json_decref(all);
    fx_free(f);
}

/*
 * A live sensor drops a record when the ring is full (alert.h): a flow's
 * rule records can be queued and its flow record dropped. Those totals
 * (masked values, hmacs) belong to that flow only: the next flow event on
 * the ring must not take them as its own.
 */
static void flow_event_without_its_flow_record(void **state)
{
    fx_t *f = fx_new();
    static dlp_event_t ev;
    json_t *all, *rules;

    (void)state;
    /* flow 1111: its rule, then its flow record was dropped */
    flow_record(&ev, DLP_EV_FLOW_RULE, 1111, 0);
    assert_true(dlp_ring_push(f->ring, &ev));
    flow_record(&ev, DLP_EV_FLOW, 2222, 2000000); /* flow 2222 ended without a rule */
    assert_true(dlp_ring_push(f->ring, &ev));
    /* flow 4444's rule, its flow record dropped too */
    flow_record(&ev, DLP_EV_FLOW_RULE, 4444, 0);
    assert_true(dlp_ring_push(f->ring, &ev));
    ev.fl.flow_id = 3333; /* flow 3333: a rule of its own */
    snprintf(ev.u.rule.name, sizeof(ev.u.rule.name), "pii.us_ssn");
    assert_true(dlp_ring_push(f->ring, &ev));
    flow_record(&ev, DLP_EV_FLOW, 3333, 3000000);
    assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), 5);
    all = fx_events(f);
    assert_int_equal(json_array_size(all), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 0), "flow_id")), 2222);
    assert_int_equal(json_array_size(json_object_get(json_array_get(all, 0), "dlp_rules")), 0);
    rules = json_object_get(json_array_get(all, 1), "dlp_rules");
    assert_int_equal(json_array_size(rules), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rules, 0), "rule")),
                        "pii.us_ssn");
    json_decref(all);
    fx_free(f);
}

/*
 * Names and hosts come from the wire, and fixed-size fields cut them where
 * they end: a Latin-1 Host header, an SNI with a stray byte, a file name cut
 * inside a multi-byte character are not UTF-8. jansson refuses such strings,
 * so the field must still be there, its bad bytes replaced (U+FFFD).
 */
static void invalid_utf8_keeps_the_field(void **state)
{
    fx_t *f = fx_new();
    static dlp_event_t ev;
    json_t *all, *d, *m, *e;

    (void)state;
    flow_record(&ev, DLP_EV_DLP, 1234567, DLP_TS);
    /* "r\xc3\xa9sum\xc3" : the last character cut after its first byte */
    snprintf(ev.u.rule.m[0].name, sizeof(ev.u.rule.m[0].name), "r\xc3\xa9sum\xc3");
    assert_true(dlp_ring_push(f->ring, &ev));
    flow_record(&ev, DLP_EV_FLOW, 1234567, 2000000);
    ev.u.flow.start_us = 1000000;
    snprintf(ev.u.flow.http_host, sizeof(ev.u.flow.http_host), "caf\xe9.example");
    snprintf(ev.u.flow.tls_sni, sizeof(ev.u.flow.tls_sni), "a\xed\xa0\x80" "b.example");
    assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), 2);
    all = fx_events(f);
    assert_int_equal(json_array_size(all), 2);
    d = json_object_get(json_array_get(all, 0), "dlp");
    m = json_array_get(json_object_get(d, "matches"), 0);
    assert_non_null(json_object_get(m, "filename"));
    assert_string_equal(json_string_value(json_object_get(m, "filename")),
                        "r\xc3\xa9sum\xef\xbf\xbd");
    e = json_array_get(all, 1);
    assert_non_null(json_object_get(e, "http"));
    assert_non_null(json_object_get(e, "tls"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "http"), "hostname")),
                        "caf\xef\xbf\xbd.example");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "tls"), "sni")),
                        "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b.example");
    json_decref(all);
    fx_free(f);
}

/*
 * A mask shows characters of the value as they came: a custom rule's value
 * may hold control bytes ("last4" of "token=...\r\n"). In a syslog message
 * they would split it or forge a line at the receiver; each becomes '?'.
 */
static void syslog_message_without_control_bytes(void **state)
{
    fx_t *f = fx_new();
    static dlp_event_t ev;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int srv = socket(AF_INET, SOCK_DGRAM, 0);
    char target[64], err[256], buf[4096];
    ssize_t n;

    (void)state;
    assert_true(srv >= 0);
    assert_int_equal(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(srv, (struct sockaddr *)&sa, &sl), 0);
    snprintf(target, sizeof(target), "udp://127.0.0.1:%u", ntohs(sa.sin_port));
    dlp_output_free(f->out);
    f->cfg.syslog_remote = strdup(target);
    f->out = dlp_output_new(&f->cfg, false, false, err, sizeof(err));
    assert_non_null(f->out);
    assert_int_equal(dlp_output_add_ring(f->out, f->ring), DLP_OK);
    flow_record(&ev, DLP_EV_DLP, 1234567, DLP_TS);
    snprintf(ev.u.rule.m[1].masked, sizeof(ev.u.rule.m[1].masked), "****\x01" "a\r\n\x7f");
    assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), 1);
    n = recv(srv, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, " values=453914******6467,****?a??? flow_id="));
    for (ssize_t i = 0; i < n; i++)
        assert_true((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
    close(srv);
    fx_free(f);
}

static void stats_event_json(void **state)
{
    fx_t *f = fx_new();
    dlp_stats_t st;
    dlp_rule_t r[1];
    dlp_ruleset_t rs = {.rules = r, .n = 1};
    uint64_t rstats[DLP_RSTAT__COUNT] = {[DLP_RSTAT_CANDIDATES] = 5, [DLP_RSTAT_REJECTED] = 1,
                                         [DLP_RSTAT_VALUES] = 4, [DLP_RSTAT_ALERTS] = 2};
    json_t *all, *e, *rule0;

    (void)state;
    memset(r, 0, sizeof(r));
    r[0].id = 1003;
    r[0].name = (char *)"pii.email";
    r[0].enabled = true;
    dlp_stats_init(&st);
    dlp_stat_add(&st, DLP_STAT_PACKETS, 10);
    dlp_stat_add(&st, DLP_STAT_TCP_OOO, 3);
    dlp_output_stats_event(f->out, &(dlp_output_stats_in_t){.total = &st,
                                                            .rs = &rs,
                                                            .rstats = rstats,
                                                            .ts_us = 5000000,
                                                            .elapsed_s = 1.25});
    all = fx_events(f);
    e = json_array_get(all, 0);
    assert_string_equal(json_string_value(json_object_get(e, "event_type")), "stats");
    assert_int_equal(json_integer_value(json_object_get(e, "packets")), 10);
    for (const char *k = "bytes flows dropped decode_errors reassembly_gaps alerts"; *k;) {
        char key[32];
        size_t n = strcspn(k, " ");
        snprintf(key, sizeof(key), "%.*s", (int)n, k);
        assert_non_null(json_object_get(e, key));
        k += n + (k[n] == ' ');
    }
    assert_true(json_real_value(json_object_get(e, "elapsed_s")) == 1.25);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(e, "tcp"), "out_of_order")), 3);
    rule0 = json_object_get(json_object_get(e, "rules"), "pii.email");
    assert_int_equal(json_integer_value(json_object_get(rule0, "candidates")), 5);
    assert_int_equal(json_integer_value(json_object_get(rule0, "alerts")), 2);
    json_decref(all);
    fx_free(f);
}

/*
 * Rules a reload removed keep their counters under "rules", in the shape of
 * every other entry (rule_id, enabled, the counters) plus "loaded": false;
 * ruleset.last_reload_error is there even when the error names a path that
 * is not UTF-8.
 */
static void stats_event_gone_rules(void **state)
{
    fx_t *f = fx_new();
    dlp_stats_t st;
    dlp_rule_t r[1];
    dlp_ruleset_t rs = {.rules = r, .n = 1};
    uint64_t rstats[DLP_RSTAT__COUNT] = {[DLP_RSTAT_ALERTS] = 1};
    const char *gone[] = {"acme.badge"};
    const uint32_t gone_ids[] = {100001};
    uint64_t gstats[DLP_RSTAT__COUNT] = {[DLP_RSTAT_ALERTS] = 2};
    json_t *all, *e, *rules, *g, *loaded;
    const char *k;
    json_t *v;

    (void)state;
    memset(r, 0, sizeof(r));
    r[0].id = 100001;
    r[0].name = (char *)"acme.badge_v2";
    r[0].enabled = true;
    dlp_stats_init(&st);
    dlp_output_stats_event(f->out, &(dlp_output_stats_in_t){.total = &st,
                                                            .rs = &rs,
                                                            .rstats = rstats,
                                                            .gone = gone,
                                                            .gone_ids = gone_ids,
                                                            .gone_stats = gstats,
                                                            .ngone = 1,
                                                            .reload_error =
                                                                "r/\xe9t\xe9.yaml: No such file",
                                                            .ts_us = 1});
    all = fx_events(f);
    e = json_array_get(all, 0);
    rules = json_object_get(e, "rules");
    loaded = json_object_get(rules, "acme.badge_v2");
    g = json_object_get(rules, "acme.badge");
    assert_non_null(loaded);
    assert_non_null(g);
    assert_true(json_is_false(json_object_get(g, "loaded")));
    assert_int_equal(json_integer_value(json_object_get(g, "alerts")), 2);
    json_object_foreach(loaded, k, v) /* every field a loaded rule has */
        assert_non_null(json_object_get(g, k));
    assert_int_equal(json_integer_value(json_object_get(g, "rule_id")), 100001);
    assert_true(json_is_false(json_object_get(g, "enabled")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(e, "ruleset"), "last_reload_error")),
        "r/\xEF\xBF\xBDt\xEF\xBF\xBD.yaml: No such file");
    json_decref(all);
    fx_free(f);
}

/* Each worker's own counters, in worker order; never summed among the totals. */
static void stats_event_workers(void **state)
{
    fx_t *f = fx_new();
    dlp_stats_t total, w[2];
    const dlp_stats_t *ws[2] = {&w[0], &w[1]};
    dlp_output_stats_in_t in = {.total = &total, .workers = ws, .nworkers = 2, .ts_us = 1};
    json_t *all, *e, *arr;

    (void)state;
    dlp_stats_init(&total);
    for (int i = 0; i < 2; i++) {
        dlp_stats_init(&w[i]);
        dlp_stat_add(&w[i], DLP_STAT_WORKER_PACKETS, 100u + (uint64_t)i);
        dlp_stat_set(&w[i], DLP_STAT_WORKER_CPU_MS, 7u * (uint64_t)(i + 1));
        dlp_stats_accumulate(&total, &w[i]);
    }
    dlp_output_stats_event(f->out, &in);
    all = fx_events(f);
    e = json_array_get(all, 0);
    arr = json_object_get(e, "workers");
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "packets")), 100);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "packets")), 101);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "cpu_ms")), 14);
    assert_int_equal(json_object_size(json_array_get(arr, 0)), 2);
    json_decref(all);
    fx_free(f);
}

/* output.cpu_ms: the calling thread's CPU time, as the output thread sees its own. */
static void stats_event_output_cpu(void **state)
{
    fx_t *f = fx_new();
    dlp_stats_t total;
    dlp_output_stats_in_t in = {.total = &total, .ts_us = 1};
    struct timespec t = {0, 0};
    volatile uint64_t spin = 0;
    json_t *all, *e;

    (void)state;
    while (t.tv_sec == 0 && t.tv_nsec < 30000000) { /* at least 30 ms of this thread's CPU */
        for (int i = 0; i < 100000; i++)
            spin += (uint64_t)i;
        assert_int_equal(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t), 0);
    }
    dlp_output_note_cpu(f->out);
    dlp_stats_init(&total);
    dlp_stats_accumulate(&total, dlp_output_counters(f->out));
    dlp_output_stats_event(f->out, &in);
    all = fx_events(f);
    e = json_object_get(json_array_get(all, 0), "output");
    assert_true(json_integer_value(json_object_get(e, "cpu_ms")) >= 30);
    json_decref(all);
    fx_free(f);
}

/* free() closes the file, and touches it no more after (the fill above makes a
 * flush of the closed FILE crash). */
static void free_closes_the_file(void **state)
{
    fx_t *f = fx_new();

    (void)state;
    dlp_output_free(f->out);
    f->out = NULL;
    fx_free(f);
}

/* Pushes n dlp events (about 450 bytes each as JSON) and drains them. */
static void drain_events(fx_t *f, size_t n)
{
    static dlp_event_t ev;

    flow_record(&ev, DLP_EV_DLP, 1234567, DLP_TS);
    for (size_t i = 0; i < n; i++)
        assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), n);
}

static uint64_t dropped(const fx_t *f)
{
    return dlp_stat_get(dlp_output_counters(f->out), DLP_STAT_EVENTS_DROPPED);
}

/* A full disk: every event is lost, whether its write failed or the flush of
 * the stdio buffer it sat in did (one drop per failed call is too few). */
static void full_disk_counts_every_event_lost(void **state)
{
    fx_t *f = fx_new_json("/dev/full");

    (void)state;
    drain_events(f, 12); /* more than one stdio buffer: writes and the flush fail */
    assert_int_equal(dropped(f), 12);
    assert_true(dlp_output_json_failed(f->out));
    fx_free(f);
}

/* A failed flush loses what stdio still held, not the events it wrote out
 * when its buffer filled. */
static void failed_flush_counts_what_stdio_held(void **state)
{
    fx_t *f = fx_new();

    (void)state;
    g_fail_flush_of = f->path;
    drain_events(f, 12);
    g_fail_flush_of = NULL;
    assert_true(g_lines_out > 0 && g_lines_out < 12); /* the buffer was written once */
    assert_int_equal(dropped(f), 12 - g_lines_out);
    assert_true(dlp_output_json_failed(f->out));
    fx_free(f);
}

/* A close that fails is known before the exit status is decided, and said. */
static void failed_close_fails_the_run(void **state)
{
    fx_t *f = fx_new();
    char log[64], text[512] = "";
    int fd, saved = dup(STDERR_FILENO);
    FILE *in;

    (void)state;
    snprintf(log, sizeof(log), "%s/stderr", f->dir);
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    drain_events(f, 2);
    assert_false(dlp_output_json_failed(f->out));
    g_fail_close = true;
    dup2(fd, STDERR_FILENO);
    dlp_output_close_json(f->out);
    dup2(saved, STDERR_FILENO);
    g_fail_close = false;
    close(saved);
    close(fd);
    assert_true(dlp_output_json_failed(f->out));
    in = fopen(log, "r");
    assert_non_null(in);
    assert_true(fread(text, 1, sizeof(text) - 1, in) > 0);
    fclose(in);
    unlink(log);
    assert_non_null(strstr(text, "json output: the last events are lost: Input/output error"));
    assert_int_equal(lines_in(f->path), 2);
    fx_free(f); /* closed once: free closes nothing more */
}

/* Every line of 'text' is one JSON value; returns how many lines. */
static size_t parse_lines(char *text)
{
    size_t n = 0;

    for (char *l = text, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1, n++) {
        json_error_t e;
        json_t *v = json_loadb(l, (size_t)(nl - l), 0, &e);
        if (v == NULL)
            fail_msg("line %zu is not JSON: %.60s...", n + 1, l);
        json_decref(v);
    }
    return n;
}

/* A disk that fills and frees again (here: RLIMIT_FSIZE, lowered mid-line
 * and raised): the line cut by the failed write is cut off the file, and the
 * next event starts a line of its own. */
static void full_then_free_disk_leaves_no_cut_line(void **state)
{
    fx_t *f = fx_new();
    struct rlimit old, lim;
    struct stat st;
    char text[16384] = "";
    FILE *in;

    (void)state;
    drain_events(f, 2);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = (struct rlimit){.rlim_cur = (rlim_t)st.st_size + 100, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    drain_events(f, 1); /* 100 bytes of it fit */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(dropped(f), 1);
    drain_events(f, 1);
    dlp_output_close_json(f->out);
    in = fopen(f->path, "r");
    assert_non_null(in);
    assert_true(fread(text, 1, sizeof(text) - 1, in) > 0);
    fclose(in);
    assert_int_equal(parse_lines(text), 3);
    fx_free(f);
}

/* The same with stdout a file opened without O_APPEND ('> file'): the
 * next event starts where the cut line started, no hole of zeros before it. */
static void full_then_free_disk_on_stdout_file(void **state)
{
    int saved = dup(STDOUT_FILENO), fd;
    fx_t *f = fx_new(); /* its path, opened here as a shell would */
    struct rlimit old, lim;
    char text[16384] = "";
    ssize_t n;

    (void)state;
    dlp_output_free(f->out);
    fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0600); /* no O_APPEND */
    assert_true(fd >= 0);
    dup2(fd, STDOUT_FILENO);
    free(f->cfg.json_path);
    f->cfg.json_path = strdup("-");
    f->out = dlp_output_new(&f->cfg, false, false, text, sizeof(text));
    assert_non_null(f->out);
    assert_int_equal(dlp_output_add_ring(f->out, f->ring), DLP_OK);
    drain_events(f, 2);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = (struct rlimit){.rlim_cur = (rlim_t)lseek(fd, 0, SEEK_END) + 100,
                          .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    drain_events(f, 1);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    drain_events(f, 1);
    dlp_output_close_json(f->out);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    assert_true(n > 0);
    assert_int_equal(strlen(text), (size_t)n); /* no NUL byte */
    assert_int_equal(parse_lines(text), 3);
    fx_free(f);
}

/* A pipe cannot be cut back: the part of a line a failed write left in it is
 * ended with a newline before the next event, which stays a line of its own. */
static void cut_line_in_pipe_is_ended_before_the_next(void **state)
{
    int p[2], saved = dup(STDOUT_FILENO);
    static dlp_event_t ev;
    static char text[65536];
    fx_t *f;
    ssize_t got, n = 0;

    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_true(fcntl(p[1], F_SETPIPE_SZ, 8192) > 0); /* two pages */
    assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    memset(text, 'x', 4095); /* one page taken: 4096 bytes of the event fit */
    text[4095] = '\n';
    assert_int_equal(write(p[1], text, 4096), 4096);
    dup2(p[1], STDOUT_FILENO);
    f = fx_new_mode("-", true);
    for (int i = 0; i < 14; i++) { /* a flow event of 14 rules: a line > 4096 bytes */
        flow_record(&ev, DLP_EV_FLOW_RULE, 1234567, 0);
        assert_true(dlp_ring_push(f->ring, &ev));
    }
    flow_record(&ev, DLP_EV_FLOW, 1234567, DLP_TS);
    assert_true(dlp_ring_push(f->ring, &ev));
    assert_int_equal(dlp_output_drain(f->out), 15);
    assert_int_equal(dropped(f), 1); /* the pipe took 4096 bytes of it */
    while ((got = read(p[0], text + n, sizeof(text) - 1 - (size_t)n)) > 0)
        n += got;
    assert_int_equal(n, 8192);
    drain_events(f, 1);
    dlp_output_close_json(f->out);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(p[1]);
    got = read(p[0], text + n, sizeof(text) - 1 - (size_t)n);
    assert_true(got > 0 && text[n] == '\n'); /* the cut line ended first */
    close(p[0]);
    text[n + got] = '\0';
    assert_null(strstr(text + n + 1, "\n\n"));
    assert_int_equal(parse_lines(text + n + 1), 1);
    fx_free(f);
}

/* Live, a reader that never reads (a stopped log shipper on a pipe) does not
 * hold the output thread: the events it cannot take are counted lost. Without
 * the bound, the drain never returns (alarm: the failure bound). */
static void live_stalled_pipe_drops_and_counts(void **state)
{
    int p[2], saved = dup(STDOUT_FILENO);
    fx_t *f;

    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) > 0);
    dup2(p[1], STDOUT_FILENO);
    f = fx_new_mode("-", true);
    alarm(30);
    for (int i = 0; i < 4; i++)
        drain_events(f, 12); /* 48 lines of ~500 bytes into 4 KiB */
    dlp_output_close_json(f->out);
    alarm(0);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(p[1]);
    close(p[0]);
    assert_true(dropped(f) > 0 && dropped(f) < 48);
    assert_true(dlp_output_json_failed(f->out));
    fx_free(f);
}

/* Reading files a slow reader is waited for, but no longer than the grace
 * once the run is stopping (SIGTERM). */
static void stop_bounds_the_wait_for_a_reader(void **state)
{
    int p[2], saved = dup(STDOUT_FILENO);
    static atomic_int stop;
    fx_t *f;

    (void)state;
    assert_int_equal(pipe(p), 0);
    assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) > 0);
    dup2(p[1], STDOUT_FILENO);
    f = fx_new_mode("-", false);
    dlp_output_watch_stop(f->out, &stop);
    atomic_store(&stop, 1);
    alarm(30);
    drain_events(f, 12);
    dlp_output_close_json(f->out);
    alarm(0);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(p[1]);
    close(p[0]);
    assert_true(dropped(f) > 0 && dropped(f) < 12);
    fx_free(f);
}

static void unwritable_json_path(void **state)
{
    dlp_config_t cfg;
    char err[256] = "";

    (void)state;
    assert_int_equal(dlp_config_init(&cfg), DLP_OK);
    cfg.json_path = strdup("/nonexistent-dir/ev.json");
    assert_null(dlp_output_new(&cfg, false, false, err, sizeof(err)));
    assert_string_equal(err, "/nonexistent-dir/ev.json: No such file or directory");
    dlp_config_fini(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dlp_event_json),
        cmocka_unit_test(dlp_event_aggregate),
        cmocka_unit_test(flow_event_joins_its_rule_records),
        cmocka_unit_test(flow_event_without_its_flow_record),
        cmocka_unit_test(invalid_utf8_keeps_the_field),
        cmocka_unit_test(syslog_message_without_control_bytes),
        cmocka_unit_test(stats_event_json),
        cmocka_unit_test(stats_event_gone_rules),
        cmocka_unit_test(stats_event_workers),
        cmocka_unit_test(stats_event_output_cpu),
        cmocka_unit_test(free_closes_the_file),
        cmocka_unit_test(unwritable_json_path),
        cmocka_unit_test(full_disk_counts_every_event_lost),
        cmocka_unit_test(failed_flush_counts_what_stdio_held),
        cmocka_unit_test(failed_close_fails_the_run),
        cmocka_unit_test(full_then_free_disk_leaves_no_cut_line),
        cmocka_unit_test(full_then_free_disk_on_stdout_file),
        cmocka_unit_test(cut_line_in_pipe_is_ended_before_the_next),
        cmocka_unit_test(live_stalled_pipe_drops_and_counts),
        cmocka_unit_test(stop_bounds_the_wait_for_a_reader),
    };
    (void)mallopt(M_PERTURB, 0xa5); /* see __asan_default_options */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
