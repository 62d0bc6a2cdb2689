/*
 * output.c - event records -> JSON lines (jansson) and local syslog.
 *
 * Design: the output thread drains each worker's ring in turn. A flow event
 * arrives as a run of DLP_EV_FLOW_RULE records followed by its DLP_EV_FLOW
 * record on the same ring (rings are FIFO), so per-ring state collects the
 * rule totals until the flow record closes them. Field names follow
 * INTERFACE.md; where it is silent, Suricata's EVE names are used so
 * existing pipelines read them without mapping.
 *
 * Threading: the output thread only (and the control thread when no output
 * thread runs). Nothing here is on the packet path.
 */
#include "dlp/output.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlp/alert.h"
#include "dlp/cidr.h"
#include "dlp/classify.h"
#include "dlp/evidence.h"
#include "dlp/flow.h"
#include "dlp/limits.h"
#include "dlp/log.h"
#include "dlp/mem.h"
#include "dlp/reasm.h"
#include "dlp/rules.h"
#include "dlp/syslog.h"
#include "dlp/timefmt.h"

/* RFC 5424 SD-ID of alerts. 32473 is the documentation PEN (RFC 5612). */
#define DLP_SYSLOG_SD_ID "dlp@32473"

typedef struct ring_src {
    dlp_ring_t *ring;
    json_t *pending_rules; /* DLP_EV_FLOW_RULE objects of the flow in progress */
    uint64_t pending_flow; /* ... its flow_id */
} ring_src_t;

/*
 * The JSON file under stdio (fopencookie): every byte stdio writes goes
 * through sink_write, so the sensor knows where the output stands when a
 * write fails part-way (a full disk): a line cut there is cut off the file
 * (a regular file), or ended with a newline before the next event (a pipe),
 * never left for the next event to be glued onto.
 */
/*
 * A reader that does not read (a pipe, a FIFO, a socket: a stopped log
 * shipper) is never waited for without end: live, a write waits
 * DLP_JSON_LIVE_WAIT_MS, then fails (the events are counted lost) and the
 * following ones fail at once until one goes through; reading files it is
 * waited for, as the rings are, until SIGINT/SIGTERM. After a stop signal,
 * writes wait DLP_JSON_STOP_GRACE_MS in all, then fail at once. So the
 * output thread keeps its stats cadence (live) and always reaches the end.
 */
typedef struct json_sink {
    int fd;
    bool own_fd;   /* closed with the stream (not stdout) */
    bool regular;  /* a regular file: a cut line can be truncated away; never waited on */
    bool torn;     /* the output ends inside a line it could not cut off */
    bool live;
    bool stalled;  /* live: the last write timed out; the next ones do not wait */
    const atomic_int *stop; /* the run's stop flag, or NULL */
    uint64_t stop_ns;       /* when the writes first saw it set */
    size_t tail;   /* bytes written since the last newline */
    char buf[];    /* stdio's buffer, the file's block as fdopen's would be */
} json_sink_t;

struct dlp_output {
    FILE *json;
    json_sink_t *sink;       /* what o->json writes through (its cookie) */
    bool json_is_stdout;
    dlp_syslog_t *syslog[2]; /* [0] local (--syslog), [1] remote (--syslog-remote) */
    dlp_stats_t *st;         /* the output thread's counters (syslog.*) */
    dlp_ratelimit_t syslog_rl;
    dlp_ratelimit_t json_rl;
    bool json_failed;        /* a write, flush or the close of the JSON file failed this run */
    size_t json_unflushed;   /* events stdio holds, not yet written out */
    ring_src_t *src;
    size_t nsrc;
    dlp_evidence_t *ev;      /* evidence captures: the writer thread, or NULL */
    char *line;              /* the JSON line being written, grown as needed */
    size_t line_cap;
};

/* --- JSON building blocks ------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlong form, no
 * surrogate, at most U+10FFFF), 0 when p does not start one. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3, lo = p[0] == 0xE0 ? 0xA0 : 0x80, hi = p[0] == 0xED ? 0x9F : 0xBF;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4, lo = p[0] == 0xF0 ? 0x90 : 0x80, hi = p[0] == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/*
 * A JSON string of text that may come from the wire (a Host header, an SNI,
 * a file name cut to its field, maybe inside a character): jansson refuses
 * a string that is not UTF-8 (NULL: the field would be left out), so each
 * byte that does not start a valid sequence becomes U+FFFD.
 */
static json_t *text(const char *s)
{
    json_t *j = json_string(s);
    char *buf;
    size_t len = 0;

    if (j != NULL || s == NULL)
        return j;
    buf = malloc(strlen(s) * 3 + 1);
    if (buf == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0';) {
        size_t n = utf8_seq(p);
        if (n == 0) {
            memcpy(buf + len, "\xEF\xBF\xBD", 3);
            len += 3;
            p++;
            continue;
        }
        memcpy(buf + len, p, n);
        len += n;
        p += n;
    }
    j = json_stringn(buf, len);
    free(buf);
    return j;
}

static json_t *iso(uint64_t ts_us)
{
    char buf[40];
    return json_string(dlp_time_iso(ts_us, buf, sizeof(buf)));
}

static json_t *ip(const uint8_t a[16])
{
    char buf[64];
    return json_string(dlp_addr_str(a, buf, sizeof(buf)));
}

/* Suricata's names: the ICMP ones are echo flows (packet.h). */
static const char *proto_name(uint8_t p)
{
    switch (p) {
    case 6:
        return "TCP";
    case 17:
        return "UDP";
    case 1:
        return "ICMP";
    case 58:
        return "IPv6-ICMP";
    default:
        return "other";
    }
}

/* "a,b,c" -> ["a","b","c"] */
static json_t *risk_list(const char *s)
{
    json_t *a = json_array();

    while (*s != '\0') {
        size_t n = strcspn(s, ",");
        if (n > 0)
            json_array_append_new(a, json_stringn(s, n));
        s += n + (s[n] == ',');
    }
    return a;
}

/* The head every event shares: timestamp, event_type, the 5-tuple. */
static json_t *event_head(uint64_t ts_us, const char *type, const dlp_ev_flowinfo_t *fl)
{
    json_t *o = json_object();

    json_object_set_new(o, "timestamp", iso(ts_us));
    json_object_set_new(o, "event_type", json_string(type));
    if (fl == NULL)
        return o;
    json_object_set_new(o, "flow_id", json_integer((json_int_t)fl->flow_id));
    json_object_set_new(o, "src_ip", ip(fl->src));
    json_object_set_new(o, "src_port", json_integer(fl->sport));
    json_object_set_new(o, "dest_ip", ip(fl->dst));
    json_object_set_new(o, "dest_port", json_integer(fl->dport));
    json_object_set_new(o, "proto", json_string(proto_name(fl->proto)));
    json_object_set_new(o, "app_proto",
                        text(fl->app_proto[0] ? fl->app_proto : DLP_APP_UNKNOWN));
    if (fl->risks[0] != '\0')
        json_object_set_new(o, "ndpi_risks", risk_list(fl->risks));
    if (fl->vlan[0] != 0) {
        json_t *v = json_array();
        json_array_append_new(v, json_integer(fl->vlan[0]));
        if (fl->vlan[1] != 0)
            json_array_append_new(v, json_integer(fl->vlan[1]));
        json_object_set_new(o, "vlan", v);
    }
    return o;
}

static json_t *matches_json(const dlp_ev_rule_t *r)
{
    json_t *a = json_array();

    for (unsigned i = 0; i < r->nmatches && i < DLP_EV_MAX_MATCHES; i++) {
        const dlp_ev_match_t *m = &r->m[i];
        json_t *o = json_object();
        if (r->combination) { /* the linkable rules found, never values */
            json_object_set_new(o, "rule", text(m->name));
            json_array_append_new(a, o);
            continue;
        }
        json_object_set_new(o, "masked", text(m->masked));
        json_object_set_new(o, "hmac", json_string(m->hmac));
        json_object_set_new(o, "offset", json_integer((json_int_t)m->offset));
        json_object_set_new(o, "field", json_string(dlp_field_name(m->field)));
        if (m->name[0] != '\0')
            json_object_set_new(o, "filename", text(m->name));
        json_object_set_new(o, "confidence",
                            json_string(dlp_confidence_name((dlp_confidence_t)m->confidence)));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *rule_json(const dlp_ev_rule_t *r)
{
    json_t *o = json_object();

    json_object_set_new(o, "rule", json_string(r->name));
    json_object_set_new(o, "rule_id", json_integer(r->rule_id));
    json_object_set_new(o, "category", json_string(dlp_category_name(r->category)));
    json_object_set_new(o, "severity", json_string(dlp_severity_name(r->severity)));
    json_object_set_new(o, "count", json_integer(r->count));
    json_object_set_new(o, "confidence",
                        json_string(dlp_confidence_name((dlp_confidence_t)r->confidence)));
    json_object_set_new(o, "matches", matches_json(r));
    if (r->agg_window_s > 0) /* met across flows: this many values from src to dest */
        json_object_set_new(o, "aggregate",
                            json_pack("{s:I,s:I,s:I}", "values", (json_int_t)r->agg_values, "flows",
                                      (json_int_t)r->agg_flows, "window_s",
                                      (json_int_t)r->agg_window_s));
    return o;
}

/*
 * What was inspected of one direction, and why anything was not: a quiet
 * flow that was only partly seen must never read as a clean one. "complete"
 * is true only for an inspected direction with no gap and no note.
 */
static json_t *dir_json(const dlp_ev_dir_t *d)
{
    json_t *o = json_object(), *notes = json_object();
    bool complete = d->egress && d->gaps == 0 && d->uninspected_bytes == 0;

    json_object_set_new(o, "egress", json_boolean(d->egress));
    json_object_set_new(o, "stream_bytes", json_integer((json_int_t)d->stream_bytes));
    json_object_set_new(o, "inspected_bytes", json_integer((json_int_t)d->inspected_bytes));
    json_object_set_new(o, "uninspected_bytes", json_integer((json_int_t)d->uninspected_bytes));
    json_object_set_new(o, "gap_bytes", json_integer((json_int_t)d->gap_bytes));
    json_object_set_new(o, "gaps", json_integer(d->gaps));
    json_object_set_new(o, "overlap_different_data", json_integer(d->overlap_diff));
    for (int i = 0; i < DLP_NOTE__COUNT; i++) {
        if (d->notes[i] == 0)
            continue;
        json_object_set_new(notes, dlp_app_note_name((dlp_app_note_t)i),
                            json_integer(d->notes[i]));
        complete = false;
    }
    json_object_set_new(o, "not_inspected", notes);
    if (d->egress)
        json_object_set_new(o, "complete", json_boolean(complete));
    if (d->midstream)
        json_object_set_new(o, "midstream", json_true());
    return o;
}

static const char *tcp_state_name(uint8_t s)
{
    static const char *const names[] = {"none",        "syn_sent", "syn_recv", "established",
                                        "closing",     "closed",   "reset"};
    return s < DLP_ARRAY_LEN(names) ? names[s] : "unknown";
}

static json_t *flow_json(const dlp_event_t *ev, json_t *rules)
{
    const dlp_ev_flow_t *f = &ev->u.flow;
    json_t *o = event_head(ev->ts_us, "flow", &ev->fl);
    json_t *fo = json_object();
    json_t *insp = json_object();

    json_object_set_new(fo, "pkts_toserver", json_integer((json_int_t)f->dir[0].pkts));
    json_object_set_new(fo, "pkts_toclient", json_integer((json_int_t)f->dir[1].pkts));
    json_object_set_new(fo, "bytes_toserver", json_integer((json_int_t)f->dir[0].bytes));
    json_object_set_new(fo, "bytes_toclient", json_integer((json_int_t)f->dir[1].bytes));
    json_object_set_new(fo, "start", iso(f->start_us));
    json_object_set_new(fo, "end", iso(ev->ts_us));
    json_object_set_new(fo, "reason", json_string(dlp_flow_end_str(f->reason)));
    json_object_set_new(fo, "alerted", json_boolean(f->alerts > 0));
    if (ev->fl.proto == 6)
        json_object_set_new(fo, "tcp_state", json_string(tcp_state_name(f->tcp_state)));
    if (f->flags & DLP_FLOW_F_EVICTED)
        json_object_set_new(fo, "evicted", json_true());
    if (f->flags & DLP_FLOW_F_REUSED)
        json_object_set_new(fo, "port_reused", json_true());
    json_object_set_new(o, "flow", fo);
    if (f->http_host[0] != '\0')
        json_object_set_new(o, "http", json_pack("{s:o}", "hostname", text(f->http_host)));
    if (f->tls_sni[0] != '\0')
        json_object_set_new(o, "tls", json_pack("{s:o}", "sni", text(f->tls_sni)));
    json_object_set_new(insp, "toserver", dir_json(&f->dir[0]));
    json_object_set_new(insp, "toclient", dir_json(&f->dir[1]));
    json_object_set_new(o, "inspection", insp);
    json_object_set_new(o, "dlp_rules", rules != NULL ? rules : json_array());
    return o;
}

/* --- sinks --------------------------------------------------------------- */

/* The event as one line in o->line; its length with the newline, 0 when out of memory. */
static size_t encode_line(dlp_output_t *o, const json_t *ev)
{
    const size_t flags = JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6);
    size_t n = json_dumpb(ev, o->line, o->line_cap, flags);

    if (n == 0)
        return 0;
    if (n + 1 > o->line_cap) { /* rare: a flow event with many long values */
        char *p = realloc(o->line, n + 1);
        if (p == NULL)
            return 0;
        o->line = p;
        o->line_cap = n + 1;
        n = json_dumpb(ev, o->line, o->line_cap, flags);
    }
    o->line[n] = '\n';
    return n + 1;
}

/* A write or flush of the JSON output failed (a full disk, a closed pipe):
 * 'events' counted, said once a minute, and the run ends with status 1. */
static void json_lost(dlp_output_t *o, size_t events)
{
    dlp_stat_add(o->st, DLP_STAT_EVENTS_DROPPED, events);
    dlp_log_limited(&o->json_rl, DLP_LOG_ERR, "json output: events are being lost: %s",
                    strerror(errno));
    o->json_failed = true;
    /* stdio drops its buffer when the write of it fails (glibc): every
     * event it held is gone, whether or not part of its bytes reached the file */
    o->json_unflushed = 0;
    clearerr(o->json);
}

static void json_flush(dlp_output_t *o)
{
    if (fflush(o->json) != 0)
        json_lost(o, o->json_unflushed);
    o->json_unflushed = 0;
}

/* One line handed to stdio. A line that made stdio write its buffer out
 * leaves at most its own tail behind: the events before it are written. */
static void put_line(dlp_output_t *o, size_t n)
{
    size_t before = __fpending(o->json);

    if (fwrite(o->line, 1, n, o->json) != n) {
        json_lost(o, o->json_unflushed + 1);
        return;
    }
    if (__fpending(o->json) == before + n)
        o->json_unflushed++;
    else
        o->json_unflushed = __fpending(o->json) > 0;
    if (o->json_is_stdout)
        json_flush(o);
}

/* Encoded whole, then one fwrite: jansson's own file writer hands stdio a
 * few bytes at a time (1.3 % of the bench run in _IO_fwrite alone). */
static void write_json(dlp_output_t *o, json_t *ev)
{
    size_t n;

    if (o->json != NULL && (n = encode_line(o, ev)) > 0) {
        put_line(o, n);
    } else if (o->json != NULL) {
        dlp_stat_inc(o->st, DLP_STAT_EVENTS_DROPPED); /* no memory to encode it */
    }
    json_decref(ev);
}

static int syslog_severity(uint8_t sev)
{
    switch (sev) {
    case DLP_SEV_CRITICAL: return DLP_SYSLOG_CRIT;
    case DLP_SEV_HIGH: return DLP_SYSLOG_ERR;
    case DLP_SEV_MEDIUM: return DLP_SYSLOG_WARNING;
    default: return DLP_SYSLOG_NOTICE;
    }
}

/* [dlp@32473 rule=".." rule_id=".." severity=".." count=".." src=".." ... flow_id=".."] */
static const char *syslog_sd(const dlp_event_t *ev, const char *src, const char *dst, char *buf,
                             size_t len)
{
    const dlp_ev_rule_t *r = &ev->u.rule;
    dlp_syslog_sd_t sd;

    dlp_syslog_sd_init(&sd, buf, len);
    dlp_syslog_sd_begin(&sd, DLP_SYSLOG_SD_ID);
    dlp_syslog_sd_param(&sd, "rule", r->name);
    dlp_syslog_sd_param_u64(&sd, "rule_id", r->rule_id);
    dlp_syslog_sd_param(&sd, "severity", dlp_severity_name(r->severity));
    dlp_syslog_sd_param_u64(&sd, "count", r->count);
    if (r->agg_window_s > 0) {
        dlp_syslog_sd_param_u64(&sd, "aggregate_values", r->agg_values);
        dlp_syslog_sd_param_u64(&sd, "aggregate_flows", r->agg_flows);
        dlp_syslog_sd_param_u64(&sd, "window_s", r->agg_window_s);
    }
    dlp_syslog_sd_param(&sd, "src", src);
    dlp_syslog_sd_param_u64(&sd, "src_port", ev->fl.sport);
    dlp_syslog_sd_param(&sd, "dest", dst);
    dlp_syslog_sd_param_u64(&sd, "dest_port", ev->fl.dport);
    dlp_syslog_sd_param(&sd, "proto", proto_name(ev->fl.proto));
    dlp_syslog_sd_param(&sd, "app_proto", ev->fl.app_proto[0] ? ev->fl.app_proto : DLP_APP_UNKNOWN);
    dlp_syslog_sd_param_u64(&sd, "flow_id", ev->fl.flow_id);
    return dlp_syslog_sd_end(&sd) == DLP_OK ? buf : NULL;
}

/* "pii.credit_card: 2 values from 10.1.2.3:51234 to 198.51.100.7:80: 453914******6467, ..." */
static void syslog_text(const dlp_event_t *ev, const char *src, const char *dst, char *buf,
                        size_t len)
{
    const dlp_ev_rule_t *r = &ev->u.rule;
    const char *lb = ev->fl.ipver == 6 ? "[" : "", *rb = ev->fl.ipver == 6 ? "]" : "";
    int w = snprintf(buf, len, "%s severity=%s %s%s%s:%u -> %s%s%s:%u app_proto=%s count=%u %s=",
                     r->name, dlp_severity_name(r->severity), lb, src, rb, ev->fl.sport, lb,
                     dst, rb, ev->fl.dport, ev->fl.app_proto[0] ? ev->fl.app_proto : DLP_APP_UNKNOWN,
                     r->count, r->combination ? "rules" : "values");
    size_t used = w > 0 ? (size_t)w : 0;

    /* a combination names the rules it found: it has no values */
    for (unsigned i = 0; i < r->nmatches && i < DLP_EV_MAX_MATCHES && used < len; i++) {
        w = snprintf(buf + used, len - used, "%s%s", i ? "," : "",
                     r->combination ? r->m[i].name : r->m[i].masked);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used < len)
        snprintf(buf + used, len - used, " flow_id=%llu", (unsigned long long)ev->fl.flow_id);
    /* A mask shows characters of the value as they came (a custom rule's
     * "token=..." may end in "\r\n"): a control byte would split or forge a
     * line at the receiver, and the message may hold none (syslog.h). */
    for (char *c = buf; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/* Masked values only: the event record never holds raw ones. */
static void syslog_dlp(dlp_output_t *o, const dlp_event_t *ev)
{
    char src[64], dst[64], sdbuf[1024], msg[2048];
    const char *sd;

    if (o->syslog[0] == NULL && o->syslog[1] == NULL)
        return; /* --no-syslog: formatting both lines cost the thread for nothing */
    dlp_addr_str(ev->fl.src, src, sizeof(src));
    dlp_addr_str(ev->fl.dst, dst, sizeof(dst));
    sd = syslog_sd(ev, src, dst, sdbuf, sizeof(sdbuf));
    syslog_text(ev, src, dst, msg, sizeof(msg));
    for (size_t i = 0; i < DLP_ARRAY_LEN(o->syslog); i++) {
        if (o->syslog[i] == NULL)
            continue;
        /* The local line is for people: everything is in its text. The
         * remote message carries the fields as structured data too. */
        bool local = i == 0;
        dlp_rc_t rc = dlp_syslog_send(o->syslog[i], syslog_severity(ev->u.rule.severity),
                                      ev->ts_us, local ? NULL : "DLP_ALERT", local ? NULL : sd,
                                      msg);
        if (rc == DLP_EINVAL) /* a bug here: every other failure is a counted drop */
            dlp_log_limited(&o->syslog_rl, DLP_LOG_WARN, "syslog: alert not sent: %s",
                            dlp_rc_str(rc));
    }
}

/* The rule records queued for flow_id, or NULL. Those of another flow are
 * dropped: its flow record was (a full ring, live), they are no part of this one. */
static json_t *pending_of(ring_src_t *s, uint64_t flow_id)
{
    if (s->pending_rules != NULL && s->pending_flow != flow_id) {
        json_decref(s->pending_rules);
        s->pending_rules = NULL;
    }
    return s->pending_rules;
}

static void handle(dlp_output_t *o, ring_src_t *s, const dlp_event_t *ev)
{
    json_t *j;

    switch (ev->type) {
    case DLP_EV_DLP:
        j = event_head(ev->ts_us, "dlp", &ev->fl);
        json_object_set_new(j, "dlp", rule_json(&ev->u.rule));
        write_json(o, j);
        syslog_dlp(o, ev);
        break;
    case DLP_EV_FLOW_RULE:
        if (pending_of(s, ev->fl.flow_id) == NULL) {
            s->pending_rules = json_array();
            s->pending_flow = ev->fl.flow_id;
        }
        json_array_append_new(s->pending_rules, rule_json(&ev->u.rule));
        break;
    case DLP_EV_FLOW:
        write_json(o, flow_json(ev, pending_of(s, ev->fl.flow_id)));
        s->pending_rules = NULL;
        break;
    case DLP_EV_EVIDENCE: /* the record owns the flow's capture: pass it on or free it */
        if (o->ev == NULL)
            dlp_evidence_flow_free(ev->u.evidence.flow);
        else if (!dlp_evidence_submit(o->ev, ev->u.evidence.flow))
            dlp_stat_inc(o->st, DLP_STAT_EVIDENCE_QUEUE_DROPS);
        break;
    default:
        break;
    }
}

/* The writer thread's counters, copied into the output thread's (their one writer). */
bool dlp_output_evidence_unwritable(const dlp_output_t *o)
{
    return o->ev != NULL && !dlp_evidence_writable(o->ev);
}

static void evidence_counters(dlp_output_t *o)
{
    static const dlp_stat_id_t ids[] = {DLP_STAT_EVIDENCE_FILES, DLP_STAT_EVIDENCE_BYTES,
                                        DLP_STAT_EVIDENCE_REDACTED, DLP_STAT_EVIDENCE_TOTAL_CAP,
                                        DLP_STAT_EVIDENCE_WRITE_ERRORS};

    if (o->ev == NULL)
        return;
    for (size_t i = 0; i < DLP_ARRAY_LEN(ids); i++)
        dlp_stat_set(o->st, ids[i], dlp_stat_get(dlp_evidence_counters(o->ev), ids[i]));
}

size_t dlp_output_drain(dlp_output_t *o)
{
    static _Thread_local dlp_event_t ev;
    size_t n = 0;

    for (size_t i = 0; i < DLP_ARRAY_LEN(o->syslog); i++)
        if (o->syslog[i] != NULL)
            (void)dlp_syslog_poll(o->syslog[i]);
    for (size_t i = 0; i < o->nsrc; i++) {
        while (dlp_ring_pop(o->src[i].ring, &ev)) {
            handle(o, &o->src[i], &ev);
            n++;
        }
    }
    if (n > 0 && o->json != NULL && !o->json_is_stdout)
        json_flush(o);
    evidence_counters(o);
    return n;
}

void dlp_output_settle(dlp_output_t *o)
{
    /* a collector away at the end: what it never got is counted in these stats */
    for (size_t i = 0; i < DLP_ARRAY_LEN(o->syslog); i++)
        (void)dlp_syslog_drain(o->syslog[i]);
    dlp_evidence_settle(o->ev);
    evidence_counters(o);
}

/* --- stats ----------------------------------------------------------------- */

/* "rules": {"pii.credit_card": {"rule_id": 1001, "candidates": ..}, ..} */
static json_t *rules_json(const dlp_ruleset_t *rs, const uint64_t *rstats)
{
    json_t *o = json_object();

    for (size_t i = 0; i < rs->n; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "rule_id", json_integer(rs->rules[i].id));
        json_object_set_new(r, "enabled", json_boolean(rs->rules[i].enabled));
        for (int k = 0; k < DLP_RSTAT__COUNT; k++)
            json_object_set_new(r, dlp_rstat_name((dlp_rstat_t)k),
                                json_integer((json_int_t)rstats[i * DLP_RSTAT__COUNT + k]));
        json_object_set_new(o, rs->rules[i].name, r);
    }
    return o;
}

/* The rules a reload removed or renamed: their counters, so the per-rule
 * counters still add up to the run's alerts (README: they carry on by name).
 * Each has the fields of a loaded rule's entry (rule_id: the one it had last;
 * enabled: false, as it is not in force), and "loaded": false. */
static void gone_json(json_t *o, const dlp_output_stats_in_t *in)
{
    for (size_t i = 0; i < in->ngone; i++) {
        json_t *r = json_object();
        json_object_set_new(r, "rule_id",
                            json_integer(in->gone_ids != NULL ? (json_int_t)in->gone_ids[i] : 0));
        json_object_set_new(r, "enabled", json_false());
        json_object_set_new(r, "loaded", json_false());
        for (int k = 0; k < DLP_RSTAT__COUNT; k++)
            json_object_set_new(r, dlp_rstat_name((dlp_rstat_t)k),
                                json_integer((json_int_t)in->gone_stats[i * DLP_RSTAT__COUNT + k]));
        json_object_set_new(o, in->gone[i], r);
    }
}

/* ruleset: which rules run (their digest), and why the last reload was refused. */
static void ruleset_json(json_t *ev, const dlp_output_stats_in_t *in)
{
    json_t *g = json_object_get(ev, "ruleset");
    char hex[DLP_RULES_DIGEST_HEX];

    if (g == NULL) {
        g = json_object();
        json_object_set_new(ev, "ruleset", g);
    }
    dlp_ruleset_digest_hex(in->rs, hex);
    json_object_set_new(g, "digest", json_string(hex));
    if (in->reload_error != NULL)
        json_object_set_new(g, "last_reload_error", text(in->reload_error)); /* a path may not be UTF-8 */
}

static json_t *ifaces_json(const dlp_capture_iface_stats_t *ifs, size_t n)
{
    json_t *all = json_object();

    for (size_t i = 0; i < n; i++) {
        json_t *one = json_object();
        json_object_set_new(one, "received", json_integer((json_int_t)ifs[i].received));
        json_object_set_new(one, "kernel_drops", json_integer((json_int_t)ifs[i].kernel_drops));
        json_object_set_new(one, "if_drops", json_integer((json_int_t)ifs[i].if_drops));
        json_object_set_new(all, ifs[i].name != NULL ? ifs[i].name : "?", one);
    }
    return all;
}

/* [{counter: value}] of each worker's kind-W counters. */
static json_t *workers_json(const dlp_stats_t *const *ws, size_t n)
{
    json_t *all = json_array();

    for (size_t w = 0; w < n; w++) {
        json_t *one = json_object();
        for (int i = 0; i < DLP_STAT__COUNT; i++)
            if (dlp_stat_per_worker((dlp_stat_id_t)i))
                json_object_set_new(
                    one, dlp_stat_name((dlp_stat_id_t)i),
                    json_integer((json_int_t)dlp_stat_get(ws[w], (dlp_stat_id_t)i)));
        json_array_append_new(all, one);
    }
    return all;
}

void dlp_output_stats_event(dlp_output_t *o, const dlp_output_stats_in_t *in)
{
    json_t *ev = event_head(in->ts_us, "stats", NULL);
    json_t *st = json_object();

    for (int i = 0; i < DLP_STAT__COUNT; i++) {
        const char *g = dlp_stat_group((dlp_stat_id_t)i);
        json_t *v;
        json_t *grp;
        if (dlp_stat_per_worker((dlp_stat_id_t)i))
            continue;
        v = json_integer((json_int_t)dlp_stat_get(in->total, (dlp_stat_id_t)i));
        if (g[0] == '\0') {
            json_object_set_new(ev, dlp_stat_name((dlp_stat_id_t)i), v);
            continue;
        }
        grp = json_object_get(st, g);
        if (grp == NULL) {
            grp = json_object();
            json_object_set_new(st, g, grp);
        }
        json_object_set_new(grp, dlp_stat_name((dlp_stat_id_t)i), v);
    }
    json_object_set_new(ev, "elapsed_s", json_real(in->elapsed_s));
    json_object_update(ev, st);
    json_decref(st);
    if (in->rs != NULL && in->rstats != NULL) {
        json_t *rules = rules_json(in->rs, in->rstats);
        if (in->gone_stats != NULL)
            gone_json(rules, in);
        json_object_set_new(ev, "rules", rules);
    }
    if (in->rs != NULL)
        ruleset_json(ev, in);
    if (in->nifs > 0)
        json_object_set_new(ev, "interfaces", ifaces_json(in->ifs, in->nifs));
    if (in->nworkers > 0)
        json_object_set_new(ev, "workers", workers_json(in->workers, in->nworkers));
    write_json(o, ev);
    dlp_output_flush(o);
}

/* --- life cycle ------------------------------------------------------------ */

/* A write failed after 'tail' bytes of a line: a regular file is cut back
 * to its last whole line; anything else gets a newline first next time
 * (that partial line is an event already counted lost). The cut is where
 * the writes ended, and the offset goes back there: stdout may be a file
 * opened without O_APPEND ('> file'), whose next write would otherwise
 * leave a hole of zeros where the cut bytes were. */
static void sink_cut(json_sink_t *s)
{
    int saved = errno; /* the failure json_lost reports */
    off_t end = s->regular ? lseek(s->fd, 0, SEEK_CUR) : -1;

    if (s->tail == 0)
        return;
    if (end < (off_t)s->tail || ftruncate(s->fd, end - (off_t)s->tail) != 0 ||
        lseek(s->fd, end - (off_t)s->tail, SEEK_SET) < 0)
        s->torn = true;
    s->tail = 0;
    errno = saved;
}

static int64_t ms_left(uint64_t deadline_ns, uint64_t now)
{
    return deadline_ns > now ? (int64_t)((deadline_ns - now + 999999) / 1000000) : 0;
}

/* How long the write begun at since_ns may still wait: ms, -1 without end. */
static int64_t sink_budget(json_sink_t *s, uint64_t since_ns)
{
    uint64_t now = dlp_time_mono_ns();

    if (s->stop != NULL && atomic_load_explicit(s->stop, memory_order_relaxed)) {
        if (s->stop_ns == 0)
            s->stop_ns = now;
        return ms_left(s->stop_ns + DLP_JSON_STOP_GRACE_MS * 1000000ULL, now);
    }
    if (!s->live)
        return -1;
    return s->stalled ? 0 : ms_left(since_ns + DLP_JSON_LIVE_WAIT_MS * 1000000ULL, now);
}

/* Until the reader can take PIPE_BUF bytes without blocking, within the budget;
 * false with errno EAGAIN when it is spent. Polled in slices: a stop is seen. */
static bool sink_wait(json_sink_t *s, uint64_t since_ns)
{
    for (;;) {
        int64_t left = sink_budget(s, since_ns);
        struct pollfd p = {.fd = s->fd, .events = POLLOUT};
        int r = poll(&p, 1, left < 0 || left > 100 ? 100 : (int)left);

        if (r > 0)
            return true; /* POLLERR/POLLHUP too: write says what */
        if (r < 0 && errno != EINTR)
            return false;
        if (r == 0 && left == 0) {
            s->stalled = s->live;
            errno = EAGAIN;
            return false;
        }
    }
}

static bool sink_all(json_sink_t *s, const char *buf, size_t n, size_t *done)
{
    uint64_t since = s->regular ? 0 : dlp_time_mono_ns();

    *done = 0;
    while (*done < n) {
        size_t chunk = n - *done;
        ssize_t w;
        if (!s->regular) { /* after POLLOUT, a pipe takes PIPE_BUF bytes without blocking */
            if (!sink_wait(s, since))
                return false;
            chunk = chunk < PIPE_BUF ? chunk : PIPE_BUF;
        }
        w = write(s->fd, buf + *done, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        *done += (size_t)w;
    }
    s->stalled = false;
    return true;
}

static void sink_account(json_sink_t *s, const char *buf, size_t done)
{
    const char *nl = done > 0 ? memrchr(buf, '\n', done) : NULL;

    s->tail = nl != NULL ? done - (size_t)(nl + 1 - buf) : s->tail + done;
}

/* stdio's write: all of buf, or -1 (a short count makes stdio fail as well). */
static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
    json_sink_t *s = cookie;
    size_t done;
    bool ok;

    if (s->torn) {
        if (!sink_all(s, "\n", 1, &done))
            return -1;
        s->torn = false;
    }
    ok = sink_all(s, buf, n, &done);
    sink_account(s, buf, done);
    if (ok)
        return (ssize_t)n;
    if (errno == 0)
        errno = EIO;
    sink_cut(s);
    return done > 0 ? (ssize_t)done : -1;
}

static int sink_close(void *cookie)
{
    json_sink_t *s = cookie;
    int rc = s->own_fd ? close(s->fd) : 0;

    free(s);
    return rc;
}

/* fd (owned when own_fd) as o->json, buffered as fdopen would buffer it. */
static bool sink_open(dlp_output_t *o, int fd, bool own_fd, bool live)
{
    static const cookie_io_functions_t io = {.write = sink_write, .close = sink_close};
    struct stat st = {0};
    size_t bufsize;
    json_sink_t *s;
    FILE *f;

    if (fstat(fd, &st) != 0)
        return false;
    bufsize = st.st_blksize > 0 ? (size_t)st.st_blksize : BUFSIZ;
    s = calloc(1, sizeof(*s) + bufsize);
    if (s == NULL)
        return false;
    s->fd = fd;
    s->own_fd = own_fd;
    s->regular = S_ISREG(st.st_mode);
    s->live = live;
    f = fopencookie(s, "a", io);
    if (f == NULL) {
        free(s);
        return false;
    }
    (void)setvbuf(f, s->buf, _IOFBF, bufsize); /* freed with s, after stdio's last use */
    o->json = f;
    o->sink = s;
    return true;
}

static bool open_json(dlp_output_t *o, const char *path, bool live, char *err, size_t errlen)
{
    struct stat st;
    int fd;

    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode)) /* open() waits for the reader */
        dlp_log(DLP_LOG_INFO, "json output %s: a FIFO: waiting for its reader", path);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    if (!sink_open(o, fd, true, live)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    return true;
}

/* Whether the directory of 'path' would take a new file: 0 or an errno. */
static int dir_takes_file(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    struct stat st;

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path) >=
             (int)sizeof(dir))
        return ENAMETOOLONG;
    if (stat(dir, &st) != 0)
        return errno;
    if (!S_ISDIR(st.st_mode))
        return ENOTDIR;
    return access(dir, W_OK | X_OK) == 0 ? 0 : errno;
}

bool dlp_output_check_json(const char *path, bool *later, char *err, size_t errlen)
{
    struct stat st;
    int e;

    *later = false;
    if (path == NULL || strcmp(path, "-") == 0)
        return true;
    if (stat(path, &st) == 0)
        e = S_ISDIR(st.st_mode) ? EISDIR : access(path, W_OK) == 0 ? 0 : errno;
    else
        e = errno == ENOENT ? dir_takes_file(path) : errno;
    snprintf(err, errlen, "%s: %s", path, strerror(e));
    /* -T before the service's first start: systemd makes its LogsDirectory=
     * then, so a missing directory is for the operator to read, not a failure */
    if (e == ENOENT) {
        *later = true;
        return true;
    }
    /* not root, -T may not be the user the service starts as: only what no
     * user could open is an error here */
    return e == 0 || (e == EACCES && geteuid() != 0);
}

/* The local syslog when 'local', the remote collector when cfg->syslog_remote is set. */
static bool open_syslog(dlp_output_t *o, const dlp_config_t *cfg, bool local, bool live,
                        char *err, size_t errlen)
{
    /* Reading files, a full receiver is waited for (a while), as the event rings are. */
    uint32_t wait_ms = live ? 0 : DLP_SYSLOG_FILE_WAIT_MS;
    dlp_syslog_config_t lc = {
        .target = cfg->syslog_socket, .facility = cfg->syslog_facility, .full_wait_ms = wait_ms};
    dlp_syslog_config_t rc = {
        .target = cfg->syslog_remote, .facility = cfg->syslog_facility, .full_wait_ms = wait_ms};

    if (local) {
        o->syslog[0] = dlp_syslog_new(&lc, o->st, err, errlen);
        if (o->syslog[0] == NULL)
            return false;
    }
    if (cfg->syslog_remote != NULL) {
        o->syslog[1] = dlp_syslog_new(&rc, o->st, err, errlen);
        if (o->syslog[1] == NULL)
            return false;
    }
    return true;
}

dlp_output_t *dlp_output_new(const dlp_config_t *cfg, bool use_syslog, bool live, char *err,
                             size_t errlen)
{
    dlp_output_t *o = calloc(1, sizeof(*o));

    if (o == NULL || (o->st = dlp_calloc_aligned(sizeof(*o->st))) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    dlp_stats_init(o->st);
    o->syslog_rl = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(60);
    o->json_rl = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(60);
    if (cfg->json_path == NULL || strcmp(cfg->json_path, "-") == 0) {
        o->json_is_stdout = true;
        if (!sink_open(o, STDOUT_FILENO, false, live)) {
            snprintf(err, errlen, "stdout: %s", strerror(errno));
            goto fail;
        }
    } else if (!open_json(o, cfg->json_path, live, err, errlen)) {
        goto fail;
    }
    if (!open_syslog(o, cfg, use_syslog, live, err, errlen))
        goto fail;
    if (cfg->evidence_dir != NULL) {
        dlp_evidence_limits_t el;
        dlp_evidence_limits_from(cfg, 1, &el);
        o->ev = dlp_evidence_new(cfg->evidence_dir, &el, !live, err, errlen);
        if (o->ev == NULL)
            goto fail;
    }
    return o;
fail:
    dlp_output_free(o);
    return NULL;
}

void dlp_output_note_cpu(dlp_output_t *o)
{
    struct timespec t;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0)
        dlp_stat_set(o->st, DLP_STAT_OUTPUT_CPU_MS,
                     (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

const dlp_stats_t *dlp_output_counters(const dlp_output_t *o)
{
    return o->st;
}

dlp_rc_t dlp_output_add_ring(dlp_output_t *o, dlp_ring_t *r)
{
    ring_src_t *v = realloc(o->src, (o->nsrc + 1) * sizeof(*v));

    if (v == NULL)
        return DLP_ENOMEM;
    o->src = v;
    o->src[o->nsrc++] = (ring_src_t){.ring = r};
    return DLP_OK;
}

void dlp_output_flush(dlp_output_t *o)
{
    if (o->json != NULL)
        json_flush(o);
}

void dlp_output_close_json(dlp_output_t *o)
{
    if (o->json == NULL)
        return;
    json_flush(o); /* its failure is said and counted there, the file still open */
    if (o->json_failed) /* the stats events carrying the count may be among them */
        dlp_log(DLP_LOG_ERR, "json output: %llu events lost in all",
                (unsigned long long)dlp_stat_get(o->st, DLP_STAT_EVENTS_DROPPED));
    /* what the file system reports only at close (NFS, quotas) loses events
     * already written: how many is not known, the run fails all the same */
    if (fclose(o->json) != 0) { /* closed either way (stdout's descriptor stays open) */
        dlp_log(DLP_LOG_ERR, "json output: the last events are lost: %s", strerror(errno));
        o->json_failed = true;
    }
    o->json = NULL;
    o->sink = NULL; /* freed by fclose */
}

void dlp_output_watch_stop(dlp_output_t *o, const atomic_int *stop)
{
    if (o->sink != NULL)
        o->sink->stop = stop;
}

bool dlp_output_json_failed(const dlp_output_t *o)
{
    return o->json_failed;
}

void dlp_output_free(dlp_output_t *o)
{
    if (o == NULL)
        return;
    dlp_evidence_free(o->ev); /* writes what was handed over first */
    for (size_t i = 0; i < o->nsrc; i++)
        json_decref(o->src[i].pending_rules);
    free(o->src);
    dlp_output_close_json(o);
    for (size_t i = 0; i < DLP_ARRAY_LEN(o->syslog); i++)
        dlp_syslog_free(o->syslog[i]); /* TCP: up to 200 ms to flush */
    free(o->st);
    free(o->line);
    free(o);
}
