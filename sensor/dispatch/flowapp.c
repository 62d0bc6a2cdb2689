/*
 * flowapp.c - a flow's application layer in its worker.
 *
 * Design: each packet feeds nDPI (classify/) until its verdict: the label
 * (app_proto), the host, the risks, and whether the content is encrypted.
 * Which decoder reads the reassembled bytes is decided by the sensor itself,
 * from the first bytes of the connection (and the ports), so it is known
 * before the first byte must be handed on (nDPI often needs the reply first):
 * HTTP on any port, SMTP and FTP by their greetings and ports, DNS over TCP
 * on port 53, TLS/SSH records as encrypted, an announced FTP data
 * connection as ftp.data, anything else as a raw stream. Up to
 * DLP_APP_SNIFF_BYTES are held back per direction until the choice is
 * made (1-byte segments exist).
 *
 * Decoders report through a dlp_content_sink_t per direction (content_*
 * below): a content stream of a direction that leaves the home network
 * becomes a chain [text normalisation -> detection stream]; other
 * directions are parsed (a response needs its request) but not inspected.
 * Bytes not inspected and why are counted per direction for the flow event.
 *
 * Threading: the worker that owns the flow.
 */
#include "flowapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/dns.h"
#include "dlp/ftp.h"
#include "dlp/http.h"
#include "dlp/limits.h"
#include "dlp/smtp.h"
#include "dlp/stage.h"

typedef enum {
    KIND_UNDECIDED = 0,
    KIND_RAW,
    KIND_HTTP,
    KIND_SMTP,
    KIND_FTP,
    KIND_FTP_DATA,
    KIND_DNS,
    KIND_ENCRYPTED,
    KIND_DONE, /* a decoder finished (STARTTLS): the rest is not inspected */
} kind_t;

/* A content stream a decoder opened: its chain ends in a detection stream. */
typedef struct cstream {
    struct fdir *fd;
    dlp_stage_t *chain;        /* textnorm -> sink stage writing to 'ds' */
    dlp_detect_stream_t *ds;
    dlp_field_t field;
    char name[64];
    uint8_t keep_ds;           /* raw stream: the detection stream outlives chains */
} cstream_t;

/* One direction of the flow. */
typedef struct fdir {
    fapp_t *a;
    int dir;
    bool egress;
    uint8_t sniff[DLP_APP_SNIFF_BYTES];
    uint8_t nsniff;
    cstream_t *raw;            /* KIND_RAW / KIND_FTP_DATA: the direction's stream */
    uint64_t inspected;        /* bytes written to detection */
    uint64_t uninspected;
    uint32_t notes[DLP_NOTE__COUNT];
} fdir_t;

struct fapp {
    fapp_env_t *env;
    dlp_detect_t *detect;      /* the rules the flow started under, for its life */
    const dlp_flow_t *f;
    dlp_classify_flow_t *cls;
    dlp_classify_result_t res;
    bool classified;
    kind_t kind;
    kind_t dec;                /* which decoder 'p' holds (kind moves on, dec stays) */
    bool tcp;
    dlp_detect_flow_t *det;
    union {
        dlp_http_t *http;
        dlp_smtp_t *smtp;
        dlp_ftp_t *ftp;
        dlp_dns_stream_t *dns;
    } p;
    fdir_t d[2];
    char host[96];
    char risks[160];
};

static const dlp_content_sink_t content_sink;
static const dlp_content_sink_t detect_sink;

/* --- detection ------------------------------------------------------------ */

static dlp_detect_flow_t *det_flow(fapp_t *a)
{
    dlp_ev_flowinfo_t fi;

    if (a->det != NULL)
        return a->det;
    memset(&fi, 0, sizeof(fi));
    fi.flow_id = a->f->flow_id;
    memcpy(fi.src, dlp_flow_addr(a->f, 0), 16);
    memcpy(fi.dst, dlp_flow_addr(a->f, 1), 16);
    fi.sport = dlp_flow_port(a->f, 0);
    fi.dport = dlp_flow_port(a->f, 1);
    fi.proto = a->f->key.proto;
    fi.ipver = a->f->key.ipver;
    fi.vlan[0] = a->f->key.vlan[0];
    fi.vlan[1] = a->f->key.vlan[1];
    snprintf(fi.app_proto, sizeof(fi.app_proto), "%s",
             a->kind == KIND_FTP_DATA ? "FTP-DATA" : a->res.app_proto);
    snprintf(fi.risks, sizeof(fi.risks), "%s", a->risks);
    a->det = dlp_detect_flow_new(a->detect, &fi);
    return a->det;
}

/* The label events carry: nDPI's, an FTP data connection's, or "unknown". */
static void set_label(fapp_t *a)
{
    if (a->det != NULL)
        dlp_detect_flow_set_app(a->det,
                                a->kind == KIND_FTP_DATA ? "FTP-DATA" : a->res.app_proto,
                                a->risks);
}

static void note(fdir_t *fd, dlp_app_note_t n, uint64_t bytes)
{
    if ((unsigned)n >= DLP_NOTE__COUNT)
        return;
    fd->notes[n]++;
    if (n == DLP_NOTE_ENCRYPTED || n == DLP_NOTE_DEPTH_CAP || n == DLP_NOTE_DECOMP_CAP)
        fd->uninspected += bytes;
}

/* --- content streams: [textnorm] -> detection ------------------------------- */

static void *det_open(void *ctx, dlp_field_t field, const char *name)
{
    cstream_t *cs = ctx;
    fapp_t *a = cs->fd->a;

    (void)field;
    (void)name;
    if (cs->ds == NULL && det_flow(a) != NULL)
        cs->ds = dlp_detect_stream_new(a->detect, a->det, cs->fd->dir, cs->field,
                                       cs->name[0] ? cs->name : NULL);
    return cs->ds != NULL ? cs : NULL;
}

static void det_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    cstream_t *cs = h;

    (void)ctx;
    cs->fd->inspected += n;
    dlp_stat_add(cs->fd->a->env->stats, DLP_STAT_EGRESS_BYTES, n);
    dlp_detect_write(cs->fd->a->detect, cs->ds, p, n, *cs->fd->a->env->now_us);
}

static void det_close(void *ctx, void *h)
{
    cstream_t *cs = h;

    (void)ctx;
    if (cs->keep_ds)
        return;
    dlp_detect_close(cs->fd->a->detect, cs->ds, *cs->fd->a->env->now_us);
    cs->ds = NULL;
}

static void det_note(void *ctx, dlp_app_note_t n, uint64_t bytes)
{
    note(((cstream_t *)ctx)->fd, n, bytes);
}

static const dlp_content_sink_t detect_sink = {
    .open = det_open,
    .write = det_write,
    .close = det_close,
    .note = det_note,
};

static bool chain_new(cstream_t *cs)
{
    dlp_stage_t *last = dlp_stage_sink_new(&detect_sink, cs, cs->field, NULL);

    cs->chain = last != NULL ? dlp_stage_textnorm_new(last) : NULL;
    if (cs->chain == NULL) {
        dlp_stage_free_chain(last);
        dlp_stat_inc(cs->fd->a->env->stats, DLP_STAT_DETECT_ALLOC_FAIL);
        return false;
    }
    return true;
}

static cstream_t *cstream_new(fdir_t *fd, dlp_field_t field, const char *name, bool keep_ds)
{
    cstream_t *cs;

    if (!fd->egress)
        return NULL;
    cs = calloc(1, sizeof(*cs));
    if (cs == NULL)
        return NULL;
    cs->fd = fd;
    cs->field = field;
    cs->keep_ds = keep_ds;
    if (name != NULL)
        snprintf(cs->name, sizeof(cs->name), "%s", name);
    if (!chain_new(cs)) {
        free(cs);
        return NULL;
    }
    return cs;
}

static void cstream_write(cstream_t *cs, const uint8_t *p, size_t n)
{
    if (cs->chain != NULL && dlp_stage_write(cs->chain, p, n) != DLP_OK)
        note(cs->fd, DLP_NOTE_DECODER_ERROR, 0);
}

static void chain_end(cstream_t *cs)
{
    if (cs->chain == NULL)
        return;
    if (dlp_stage_end(cs->chain) != DLP_OK)
        note(cs->fd, DLP_NOTE_DECODER_ERROR, 0);
    dlp_stage_free_chain(cs->chain);
    cs->chain = NULL;
}

static void cstream_free(cstream_t *cs)
{
    if (cs == NULL)
        return;
    chain_end(cs);
    if (cs->ds != NULL)
        dlp_detect_close(cs->fd->a->detect, cs->ds, *cs->fd->a->env->now_us);
    free(cs);
}

/* A raw stream's gap: the normalisation restarts, detection skips len bytes. */
static void cstream_gap(cstream_t *cs, uint64_t len)
{
    chain_end(cs);
    if (cs->ds != NULL)
        dlp_detect_gap(cs->fd->a->detect, cs->ds, len, *cs->fd->a->env->now_us);
    chain_new(cs);
}

/* --- the decoders' sink ------------------------------------------------------ */

static void *c_open(void *ctx, dlp_field_t field, const char *name)
{
    return cstream_new(ctx, field, name, false);
}

static void c_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    (void)ctx;
    cstream_write(h, p, n);
}

static void c_close(void *ctx, void *h)
{
    (void)ctx;
    cstream_free(h);
}

static void c_block(void *ctx, dlp_field_t field, const uint8_t *p, size_t n)
{
    fdir_t *fd = ctx;
    fapp_t *a = fd->a;

    if (!fd->egress || n == 0 || det_flow(a) == NULL)
        return;
    fd->inspected += n;
    dlp_detect_block(a->detect, a->det, fd->dir, field, p, n, 0, *a->env->now_us);
}

static void c_note(void *ctx, dlp_app_note_t n, uint64_t bytes)
{
    note(ctx, n, bytes);
}

/* A destination name for host allow-lists: "name[:port]" or "[v6]:port" -> name. */
static void add_host(fapp_t *a, const uint8_t *v, size_t n)
{
    char h[DLP_RULE_HOST_MAX + 1];
    const uint8_t *colon = memchr(v, ':', n);

    if (n > 0 && v[0] == '[')
        return; /* an address literal: address allow-lists cover it */
    if (colon != NULL)
        n = (size_t)(colon - v);
    if (n == 0 || n > DLP_RULE_HOST_MAX || det_flow(a) == NULL)
        return;
    memcpy(h, v, n);
    h[n] = '\0';
    dlp_detect_flow_add_host(a->det, h);
}

static void c_meta(void *ctx, dlp_app_meta_t key, const uint8_t *v, size_t n)
{
    fapp_t *a = ((fdir_t *)ctx)->a;

    if (key == DLP_META_HTTP_HOST && a->host[0] == '\0')
        snprintf(a->host, sizeof(a->host), "%.*s", (int)n, (const char *)v);
    if (key == DLP_META_HTTP_HOST || key == DLP_META_SMTP_RCPT_DOMAIN)
        add_host(a, v, n);
}

/* An announced data connection: kept until it comes or expires. */
static void c_expect(void *ctx, const dlp_app_expect_t *e)
{
    fapp_env_t *env = ((fdir_t *)ctx)->a->env;
    fapp_expect_t *slot = &env->expect[0];

    for (size_t i = 0; i < DLP_FTP_EXPECT_MAX; i++) {
        fapp_expect_t *x = &env->expect[i];
        bool same = memcmp(&x->e.client, e->client, 16) == 0 &&
                    memcmp(&x->e.server, e->server, 16) == 0 && x->e.port == e->port;
        if (same || x->until_us < slot->until_us)
            slot = x;
        if (same)
            break;
    }
    slot->e = *e;
    slot->until_us = *env->now_us + DLP_FTP_EXPECT_TTL_US;
}

static const dlp_content_sink_t content_sink = {
    .open = c_open,
    .write = c_write,
    .close = c_close,
    .block = c_block,
    .note = c_note,
    .meta = c_meta,
    .expect = c_expect,
};

/* --- choosing the decoder ------------------------------------------------------ */

static bool prefix(const uint8_t *p, size_t n, const char *s, bool nocase)
{
    size_t k = strlen(s);

    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++) {
        uint8_t c = p[i];
        if (nocase && c >= 'a' && c <= 'z')
            c = (uint8_t)(c - 32);
        if (c != (uint8_t)s[i])
            return false;
    }
    return true;
}

static bool port_is(const fapp_t *a, uint16_t port)
{
    return dlp_flow_port(a->f, 1) == port || dlp_flow_port(a->f, 0) == port;
}

/* An FTP data connection someone announced: client -> server:port (PASV)
 * or server -> client:port (PORT). Consumes the expectation. */
static bool expected_data(fapp_t *a)
{
    const uint8_t *ini = dlp_flow_addr(a->f, 0), *resp = dlp_flow_addr(a->f, 1);
    uint16_t rport = dlp_flow_port(a->f, 1);
    uint64_t now = *a->env->now_us;

    for (size_t i = 0; i < DLP_FTP_EXPECT_MAX; i++) {
        fapp_expect_t *x = &a->env->expect[i];
        const uint8_t *from = x->e.active ? x->e.server : x->e.client;
        const uint8_t *to = x->e.active ? x->e.client : x->e.server;
        if (x->until_us < now || x->e.port != rport || memcmp(from, ini, 16) != 0 ||
            memcmp(to, resp, 16) != 0)
            continue;
        x->until_us = 0;
        return true;
    }
    return false;
}

/* From the first bytes of direction dir (0 client, 1 server): KIND_UNDECIDED
 * while too few bytes say nothing yet. */
static kind_t sniff(const fapp_t *a, int dir, const uint8_t *p, size_t n, bool final)
{
    bool enough = final || n >= DLP_APP_SNIFF_BYTES || memchr(p, '\n', n) != NULL;

    if (a->env->raw_only)
        return KIND_RAW;
    if (n >= 2 && p[0] == 0x16 && p[1] == 0x03)
        return KIND_ENCRYPTED; /* a TLS handshake record, on any port */
    if (prefix(p, n, "SSH-", false))
        return KIND_ENCRYPTED;
    if (!enough)
        return KIND_UNDECIDED;
    if (port_is(a, 53))
        return KIND_DNS;
    if (dir == 0 && dlp_http_is_request(p, n))
        return KIND_HTTP;
    if (dir == 1 && prefix(p, n, "HTTP/1.", false))
        return KIND_HTTP;
    if (dir == 0 && (prefix(p, n, "EHLO", true) || prefix(p, n, "HELO", true)))
        return KIND_SMTP;
    if (dir == 1 && prefix(p, n, "220", false))
        return port_is(a, 21) || memmem(p, n, "FTP", 3) != NULL ? KIND_FTP : KIND_SMTP;
    if (dir == 0 && port_is(a, 21) && (prefix(p, n, "USER", true) || prefix(p, n, "AUTH", true)))
        return KIND_FTP;
    return KIND_RAW;
}

static void start_decoder(fapp_t *a, kind_t k)
{
    void *const ctx[2] = {&a->d[0], &a->d[1]};
    const dlp_app_limits_t *l = &a->env->limits;

    a->kind = k;
    if (k == KIND_HTTP)
        a->p.http = dlp_http_new(&content_sink, ctx, l);
    else if (k == KIND_SMTP)
        a->p.smtp = dlp_smtp_new(&content_sink, ctx, l);
    else if (k == KIND_FTP)
        a->p.ftp = dlp_ftp_new(&content_sink, ctx, dlp_flow_addr(a->f, 0), dlp_flow_addr(a->f, 1),
                               l);
    else if (k == KIND_DNS)
        a->p.dns = dlp_dns_stream_new(&content_sink, &a->d[0]);
    else
        return;
    a->dec = k;
    if (a->p.http == NULL) { /* any member: the union's pointer */
        a->kind = KIND_RAW;
        a->dec = KIND_UNDECIDED;
    }
}

/* --- feeding ------------------------------------------------------------------ */

static void raw_write(fdir_t *fd, dlp_field_t field, const uint8_t *p, size_t n)
{
    if (!fd->egress)
        return;
    if (fd->raw == NULL)
        fd->raw = cstream_new(fd, field, NULL, true);
    if (fd->raw != NULL)
        cstream_write(fd->raw, p, n);
}

static void decode(fapp_t *a, int dir, const uint8_t *p, size_t n)
{
    fdir_t *fd = &a->d[dir];
    size_t used = n;
    dlp_rc_t rc = DLP_OK;

    switch (a->kind) {
    case KIND_HTTP: rc = dlp_http_write(a->p.http, dir, p, n, &used); break;
    case KIND_SMTP: rc = dlp_smtp_write(a->p.smtp, dir, p, n); break;
    case KIND_FTP: rc = dlp_ftp_write(a->p.ftp, dir, p, n); break;
    case KIND_DNS:
        if (dir == 0 && dlp_dns_stream_write(a->p.dns, p, n) != DLP_OK)
            a->kind = KIND_RAW;
        return;
    case KIND_FTP_DATA: raw_write(fd, DLP_FIELD_FTP_DATA, p, n); return;
    case KIND_RAW: raw_write(fd, DLP_FIELD_RAW, p, n); return;
    default: /* encrypted, or a decoder handed the connection over */
        if (fd->egress)
            fd->uninspected += n;
        return;
    }
    if (rc != DLP_DONE)
        return;
    /* HTTP upgraded (raw from here), SMTP/FTP went TLS (nothing to see). */
    a->kind = a->kind == KIND_HTTP ? KIND_RAW : KIND_DONE;
    if (used < n)
        decode(a, dir, p + used, n - used);
}

/* Holds the first bytes of a direction until the decoder is chosen. */
static void sniff_feed(fapp_t *a, int dir, const uint8_t *p, size_t n, bool final)
{
    fdir_t *fd = &a->d[dir];
    size_t take = n < sizeof(fd->sniff) - fd->nsniff ? n : sizeof(fd->sniff) - fd->nsniff;
    kind_t k;

    if (take > 0)
        memcpy(fd->sniff + fd->nsniff, p, take);
    fd->nsniff = (uint8_t)(fd->nsniff + take);
    k = sniff(a, dir, fd->sniff, fd->nsniff, final || fd->nsniff == sizeof(fd->sniff));
    if (k == KIND_UNDECIDED)
        return;
    start_decoder(a, k);
    for (int d = 0; d < 2; d++) {
        uint8_t held[DLP_APP_SNIFF_BYTES];
        size_t nh = a->d[d].nsniff;
        memcpy(held, a->d[d].sniff, nh);
        a->d[d].nsniff = 0;
        if (nh > 0)
            decode(a, d, held, nh);
    }
    if (take < n)
        decode(a, dir, p + take, n - take);
}

void fapp_data(fapp_t *a, int dir, const uint8_t *p, size_t n)
{
    if (a->kind == KIND_UNDECIDED)
        sniff_feed(a, dir, p, n, false);
    else
        decode(a, dir, p, n);
}

void fapp_gap(fapp_t *a, int dir, uint64_t len)
{
    fdir_t *fd = &a->d[dir];

    if (a->kind == KIND_UNDECIDED && fd->nsniff > 0)
        sniff_feed(a, dir, NULL, 0, true);
    note(fd, DLP_NOTE_GAP, len);
    if (a->kind == KIND_HTTP)
        dlp_http_gap(a->p.http, dir, len);
    else if (a->kind == KIND_SMTP)
        dlp_smtp_gap(a->p.smtp, dir, len);
    else if (a->kind == KIND_FTP)
        dlp_ftp_gap(a->p.ftp, dir, len);
    else if (fd->raw != NULL)
        cstream_gap(fd->raw, len);
}

void fapp_end(fapp_t *a, int dir)
{
    fdir_t *fd = &a->d[dir];

    if (a->kind == KIND_UNDECIDED && fd->nsniff > 0)
        sniff_feed(a, dir, NULL, 0, true);
    if (a->kind == KIND_HTTP)
        dlp_http_end(a->p.http, dir);
    else if (a->kind == KIND_SMTP)
        dlp_smtp_end(a->p.smtp, dir);
    cstream_free(fd->raw);
    fd->raw = NULL;
}

void fapp_conflict(fapp_t *a, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    fdir_t *fd = &a->d[dir];

    /* The receiver may have kept these bytes instead: scan them too. */
    if (fd->egress && det_flow(a) != NULL)
        dlp_detect_block(a->detect, a->det, dir, DLP_FIELD_RAW, p, n, off,
                         *a->env->now_us);
}

void fapp_dgram(fapp_t *a, int dir, const uint8_t *p, size_t n, uint64_t off)
{
    fdir_t *fd = &a->d[dir];

    if (!fd->egress || n == 0)
        return;
    if (!a->env->raw_only && (port_is(a, 53) || dlp_dns_is_query(p, n)) &&
        dlp_dns_message(p, n, &content_sink, fd) == DLP_OK)
        return;
    if (det_flow(a) == NULL)
        return;
    fd->inspected += n;
    dlp_stat_add(a->env->stats, DLP_STAT_EGRESS_DGRAM_BYTES, n);
    dlp_detect_block(a->detect, a->det, dir, DLP_FIELD_RAW, p, n, off, *a->env->now_us);
}

/* --- classification ------------------------------------------------------------ */

static void take_verdict(fapp_t *a, const dlp_classify_result_t *r)
{
    a->res = *r;
    a->classified = true;
    if (r->risks != 0)
        dlp_classify_risk_names(a->env->classify, r->risks, a->risks, sizeof(a->risks));
    /* TLS on a port our sniffing did not know: nothing readable follows. */
    if (r->encrypted && (a->kind == KIND_RAW || a->kind == KIND_UNDECIDED)) {
        for (int d = 0; d < 2; d++) {
            note(&a->d[d], DLP_NOTE_ENCRYPTED, 0);
            cstream_free(a->d[d].raw);
            a->d[d].raw = NULL;
        }
        a->kind = KIND_ENCRYPTED;
    }
    if (r->encrypted && r->host[0] != '\0')
        add_host(a, (const uint8_t *)r->host, strlen(r->host));
    set_label(a);
}

void fapp_packet(fapp_t *a, const dlp_packet_t *p)
{
    if (a->cls == NULL || a->classified)
        return;
    if (dlp_classify_packet(a->env->classify, a->cls, p))
        take_verdict(a, dlp_classify_result(a->env->classify, a->cls, true));
}

/* --- life cycle ------------------------------------------------------------------ */

fapp_t *fapp_new(fapp_env_t *env, const dlp_flow_t *f, const bool egress[2])
{
    fapp_t *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->env = env;
    a->detect = env->detect;
    a->f = f;
    a->tcp = f->key.proto == DLP_PROTO_TCP;
    snprintf(a->res.app_proto, sizeof(a->res.app_proto), "unknown");
    for (int d = 0; d < 2; d++) {
        a->d[d].a = a;
        a->d[d].dir = d;
        a->d[d].egress = egress[d];
    }
    if (env->classify != NULL && !env->raw_only)
        a->cls = dlp_classify_flow_new(env->classify);
    if (a->tcp && expected_data(a))
        a->kind = KIND_FTP_DATA;
    return a;
}

void fapp_finish(fapp_t *a)
{
    for (int d = 0; d < 2; d++)
        fapp_end(a, d);
    if (a->cls != NULL && !a->classified)
        take_verdict(a, dlp_classify_result(a->env->classify, a->cls, true));
}

void fapp_free(fapp_t *a)
{
    if (a == NULL)
        return;
    for (int d = 0; d < 2; d++)
        cstream_free(a->d[d].raw);
    switch (a->dec) {
    case KIND_HTTP: dlp_http_free(a->p.http); break;
    case KIND_SMTP: dlp_smtp_free(a->p.smtp); break;
    case KIND_FTP: dlp_ftp_free(a->p.ftp); break;
    case KIND_DNS: dlp_dns_stream_free(a->p.dns); break;
    default: break;
    }
    dlp_classify_flow_free(a->cls);
    dlp_detect_flow_free(a->detect, a->det);
    free(a);
}

uint16_t fapp_alerts(const fapp_t *a) { return dlp_detect_flow_alerts(a->det); }

void fapp_report(fapp_t *a, dlp_event_t *ev, uint64_t ts_us)
{
    if (a->det != NULL)
        dlp_detect_flow_report(a->detect, a->det, ts_us);
    snprintf(ev->fl.app_proto, sizeof(ev->fl.app_proto), "%s",
             a->kind == KIND_FTP_DATA ? "FTP-DATA" : a->res.app_proto);
    snprintf(ev->u.flow.http_host, sizeof(ev->u.flow.http_host), "%s", a->host);
    if (a->res.encrypted)
        snprintf(ev->u.flow.tls_sni, sizeof(ev->u.flow.tls_sni), "%s", a->res.host);
    snprintf(ev->fl.risks, sizeof(ev->fl.risks), "%s", a->risks);
    for (int d = 0; d < 2; d++) {
        dlp_ev_dir_t *ed = &ev->u.flow.dir[d];
        ed->inspected_bytes = a->d[d].inspected;
        ed->uninspected_bytes = a->d[d].uninspected;
        memcpy(ed->notes, a->d[d].notes, sizeof(ed->notes));
    }
}

size_t fapp_mem(const fapp_t *a)
{
    size_t m = sizeof(*a) + dlp_classify_flow_mem(a->cls) + dlp_detect_flow_mem(a->det);

    if (a->dec == KIND_HTTP)
        m += dlp_http_mem(a->p.http);
    else if (a->dec == KIND_SMTP)
        m += dlp_smtp_mem(a->p.smtp);
    return m;
}
