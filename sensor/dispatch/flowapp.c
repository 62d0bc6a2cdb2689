/*
 * flowapp.c - a flow's application layer in its worker.
 *
 * Design: each packet feeds nDPI (classify/) until its verdict: the label
 * (app_proto), the host, the risks, and whether the content is encrypted.
 * Which decoder reads the reassembled bytes is decided by the sensor itself,
 * from the first bytes of the connection (and the ports), so it is known
 * before the first byte must be handed on (nDPI often needs the reply first):
 * HTTP on any port, SMTP and FTP by their greetings and ports, DNS over TCP
 * on port 53 (the client's messages; a server's answers, when they leave the
 * home network, as a raw stream, as are FTP replies besides their decoder;
 * SMTP replies are not scanned, see run_decoder), TLS/SSH records as
 * encrypted, an announced FTP data connection as ftp.data, anything else as a
 * raw stream; after an HTTP upgrade to WebSocket, the frame decoder (ws.h). Up to
 * DLP_APP_SNIFF_BYTES are held back per direction until the choice is
 * made (1-byte segments exist). Through a proxy (HTTP CONNECT, SOCKS: px_*
 * below), the same choice is made again for the tunnel's first bytes.
 *
 * Decoders report through a dlp_content_sink_t per direction (content_*
 * below): a content stream of a direction that leaves the home network
 * becomes a chain [text normalisation -> detection stream]; other
 * directions are parsed (a response needs its request) but not inspected.
 * Bytes not inspected and why are counted per direction for the flow event.
 *
 * Evidence captures (evidence.h), when on: every value detection validates
 * comes back through ev_value() as stream offsets of its direction to
 * overwrite. Exact where the content bytes are the stream's own: a write to
 * detection that points into the bytes of the decode() call in progress
 * (the raw stream, bodies passed through, plain text runs of textnorm) is
 * remembered in the content stream's map. Otherwise conservative: the whole
 * span [lo, fed) its content can come from, lo being the direction's mark
 * when it opened; the mark moves (from the next decode() call on) past an
 * HTTP request line or header block and an SMTP envelope command, after
 * which a message's content starts. Offsets: fed counts the stream bytes
 * handed in, dpos those decode() took (sniffed bytes wait), both with gaps.
 * Credentials are no values (the decoders swallow AUTH exchanges and FTP
 * passwords; Authorization and cookie headers are scanned as any header),
 * so the decoders tell them apart (sink secret(), app.h) and c_secret()
 * overwrites them too: exactly when the decoder says where they end in the
 * decode() call in progress, else the whole span they can lie in, from 'at'
 * less what the decoder says it may hold to the call's end. Urgent bytes
 * and gaps, offsets no decoder took, widen a span they fall in.
 *
 * Two things outside the decoders: the other versions of conflicting TCP
 * bytes (fapp_conflict, "the other version" below; an urgent byte, which the
 * decoders never see, is one: fapp_urgent), and the settling of a
 * raw stream whose sender waits (raw_settle: the peer answers, or its FIN).
 *
 * Threading: the worker that owns the flow.
 */
#include "flowapp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/dns.h"
#include "dlp/evidence.h"
#include "dlp/ftp.h"
#include "dlp/h2.h"
#include "dlp/http.h"
#include "dlp/limits.h"
#include "dlp/media.h"
#include "dlp/smtp.h"
#include "dlp/socks.h"
#include "dlp/stage.h"
#include "dlp/ws.h"
#include "dlp/zip.h"

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
    KIND_H2,   /* h2c: prior knowledge, or HTTP upgraded (each direction from its own 101 on) */
    KIND_WS,   /* HTTP upgraded to WebSocket: each direction from its own upgrade on */
    KIND_SOCKS, /* a SOCKS handshake (px, never the flow's kind) */
} kind_t;

/* fapp.px_dir: where a direction's bytes go in a flow through a proxy (px_* below). */
enum {
    PX_INNER = 0, /* the flow's decoder (kind, p): no proxy, or the tunnel's bytes */
    PX_OUTER,     /* the proxy's handshake decoder */
    PX_RAW,       /* the handshake failed: the rest of the direction is raw */
};

/* A content stream a decoder opened: its chain ends in a detection stream. */
typedef struct cstream {
    struct fdir *fd;
    dlp_stage_t *chain;        /* textnorm -> sink stage writing to 'ds' */
    dlp_detect_stream_t *ds;
    dlp_field_t field;
    char name[DLP_APP_NAME_MAX]; /* a decoder's whole name; masked by detection */
    uint8_t keep_ds;           /* raw stream: the detection stream outlives chains */
    bool dw_started;           /* detection has its first byte (gaps count from then) */
    bool ds_started;           /* ... and has scanned it (joined writes wait: join()) */
    uint64_t dw;               /* detection's offset: bytes written, gaps included */
    uint64_t lo;               /* evidence: its content comes from stream offsets >= lo */
    struct emap *map;          /* evidence: content offsets -> stream offsets; or NULL */
    uint8_t media;             /* dlp_media_t of its first bytes (MORE: not told yet) */
    uint8_t nsniff;            /* a copy of its first bytes, to tell media */
    uint8_t sniff[DLP_MEDIA_SNIFF_BYTES];
    uint64_t skipped;          /* media bytes passed over since the last write scanned */
    struct dlp_zip *zip;       /* unpacking (at most one of the two): a ZIP archive's walk, */
    dlp_stage_t *gz;           /* or a gzip file's inflate stage, into the stream inside */
    uint8_t depth;             /* 1: inside an archive (archives in it are not unpacked) */
} cstream_t;

/* Evidence: recent writes to detection whose bytes are the stream's own. */
#define EMAP_N 16
typedef struct emap {
    struct {
        uint64_t c, r, n; /* content [c, c + n) is stream [r, r + n) */
    } e[EMAP_N];
    uint8_t next, count;
    uint8_t pending; /* slots taken by writes not scanned yet (det_write) */
} emap_t;

/* What the detection call in progress scans, for ev_value(). */
enum { VK_NONE = 0, VK_STREAM, VK_EXACT, VK_SPAN };
typedef struct vctx {
    uint8_t vk;
    cstream_t *cs; /* VK_STREAM */
    uint64_t lo, hi; /* VK_SPAN */
} vctx_t;

/* One direction of the flow. */
typedef struct fdir {
    fapp_t *a;
    int dir;
    bool egress;
    uint8_t sniff[DLP_APP_SNIFF_BYTES];
    uint8_t nsniff;
    bool inexact;              /* offsets of the decode() call in progress are not exact */
    uint32_t sniff_skips;      /* urgent bytes left out among the held first bytes */
    cstream_t *raw;            /* KIND_RAW / KIND_FTP_DATA: the direction's stream */
    dlp_stage_t *mz;           /* KIND_FTP_DATA in MODE Z: inflating into 'raw' */
    bool mz_raw;               /* ... it failed (or never started): 'raw' takes the bytes */
    bool raw_unsettled;        /* written since the peer last answered (raw_settle) */
    struct fdir *idle_prev, *idle_next; /* in env's list while raw_unsettled */
    uint64_t raw_last_us;      /* packet time of its last write */
    uint64_t inspected;        /* bytes written to detection */
    uint64_t uninspected;
    uint32_t notes[DLP_NOTE__COUNT];
    /* stream offsets (evidence) */
    uint64_t fed;              /* bytes handed in, data and gaps */
    uint64_t dpos;             /* offset of the next byte decode() takes */
    uint64_t mark, mark_next;  /* content opened from here on comes from offsets >= mark */
    const uint8_t *buf;        /* the decode() call in progress: its bytes, at offset 'at' */
    size_t bufn;
    uint64_t at;
    uint64_t skip_total;       /* urgent and gap bytes: offsets the decoders never took */
    uint64_t skip_end;         /* the offset after the last of them */
    /* The other version of conflicting bytes, as one raw stream (fapp_conflict) */
    dlp_detect_stream_t *alt;
    struct alt_ov *ov;         /* other versions it has not taken yet */
    uint64_t alt_pos;          /* stream offset of the next byte it takes */
    uint64_t alt_last;         /* end of the last conflicting bytes placed */
} fdir_t;

struct fapp {
    fapp_env_t *env;
    dlp_detect_t *detect;      /* the rules the flow started under, for its life */
    const dlp_flow_t *f;
    dlp_classify_flow_t *cls;
    dlp_classify_result_t res;
    bool classified;
    bool labelled_last;        /* fapp_last_label: nDPI's final answer is the label */
    bool dns_dgrams;           /* a datagram decoded as DNS */
    bool ftp_z;                /* KIND_FTP_DATA announced in MODE Z: a zlib stream */
    kind_t kind;
    kind_t dec;                /* which decoder 'p' holds (kind moves on, dec stays) */
    bool tcp;
    dlp_h2_t *h2[2];           /* KIND_H2: each egress direction's frames (NULL: raw) */
    bool h2_http[2];           /* KIND_H2 after an upgrade: the direction is HTTP until its own ends */
    dlp_detect_flow_t *det;
    union {
        dlp_http_t *http;
        dlp_smtp_t *smtp;
        dlp_ftp_t *ftp;
        dlp_dns_stream_t *dns;
    } p;
    fdir_t d[2];
    dlp_ws_t *ws[2];           /* KIND_WS: each egress direction's frames (NULL: raw) */
    kind_t px;                 /* the proxy handshake before a tunnel (HTTP CONNECT, SOCKS) */
    uint8_t px_dir[2];         /* PX_*: each direction, from its own handshake's end on */
    dlp_http_t *px_http;       /* the handshake's decoder while a direction reads it */
    dlp_socks_t *px_socks;
    bool ws_http[2];           /* KIND_WS: the direction is HTTP until its upgrade ends */
    size_t unpack_mem;         /* archives being unpacked (zip.h, gzip files) */
    char host[96];
    char risks[160];
    dlp_evidence_flow_t *evf;  /* evidence captures, or NULL */
    const uint8_t *pkt_pl;     /* evidence: the packet in progress, its payload's first seq */
    uint32_t pkt_len, pkt_seq;
    vctx_t v;
    fapp_retained_fn retained;  /* TCP: the delivered bytes the reassembler still holds */
    void *retained_ctx;
};

static const dlp_content_sink_t content_sink;
static const dlp_content_sink_t detect_sink;
static void ev_value(void *ctx, int dir, uint64_t off, size_t len);
static bool prefix(const uint8_t *p, size_t n, const char *s, bool nocase);
static void h2_start(fapp_t *a, int dir);

/* --- evidence: where values are in the stream ------------------------------ */

static vctx_t ev_begin(fapp_t *a, uint8_t vk, cstream_t *cs, uint64_t lo, uint64_t hi)
{
    vctx_t old = a->v;

    a->v = (vctx_t){.vk = vk, .cs = cs, .lo = lo, .hi = hi};
    return old;
}

/* A write to detection of bytes inside the decode() call in progress. */
static void emap_note(cstream_t *cs, const uint8_t *p, size_t n)
{
    const fdir_t *fd = cs->fd;
    uintptr_t b = (uintptr_t)fd->buf, q = (uintptr_t)p;
    emap_t *m = cs->map;
    unsigned last = (m->next + EMAP_N - 1) % EMAP_N;
    uint64_t r;

    if (fd->buf == NULL || fd->inexact || n == 0 || q < b || q - b > fd->bufn ||
        n > fd->bufn - (q - b))
        return;
    r = fd->at + (q - b);
    if (m->count > 0 && m->e[last].c + m->e[last].n == cs->dw &&
        m->e[last].r + m->e[last].n == r) {
        m->e[last].n += n;
        return;
    }
    m->e[m->next].c = cs->dw;
    m->e[m->next].r = r;
    m->e[m->next].n = n;
    m->next = (uint8_t)((m->next + 1) % EMAP_N);
    m->pending++;
    if (m->count < EMAP_N)
        m->count++;
}

static int emap_at(const emap_t *m, uint64_t x)
{
    for (int i = 0; i < m->count; i++)
        if (x >= m->e[i].c && x - m->e[i].c < m->e[i].n)
            return i;
    return -1;
}

/* Exact ranges of content [off, off + len), if every byte of it is mapped. */
static bool emap_redact(fapp_t *a, const cstream_t *cs, int dir, uint64_t off, size_t len)
{
    const emap_t *m = cs->map;

    if (m == NULL)
        return false;
    for (int pass = 0; pass < 2; pass++) {
        for (uint64_t x = off; x < off + len;) {
            int i = emap_at(m, x);
            uint64_t stop;
            if (i < 0)
                return false;
            stop = m->e[i].c + m->e[i].n < off + len ? m->e[i].c + m->e[i].n : off + len;
            if (pass == 1)
                dlp_evidence_redact(a->evf, dir, m->e[i].r + (x - m->e[i].c),
                                    m->e[i].r + (stop - m->e[i].c));
            x = stop;
        }
    }
    return true;
}

/* Detection validated a value at 'off' of what a->v says is being scanned. */
static void ev_value(void *ctx, int dir, uint64_t off, size_t len)
{
    fapp_t *a = ctx;
    uint64_t fed = a->d[dir & 1].fed;

    switch (a->v.vk) {
    case VK_STREAM:
        if (!emap_redact(a, a->v.cs, dir, off, len))
            dlp_evidence_redact(a->evf, dir, a->v.cs->lo, fed);
        break;
    case VK_EXACT: dlp_evidence_redact(a->evf, dir, off, off + len); break;
    case VK_SPAN: dlp_evidence_redact(a->evf, dir, a->v.lo, a->v.hi); break;
    default: dlp_evidence_redact(a->evf, dir, 0, UINT64_MAX); break;
    }
}

/*
 * A decoder's credential (dlp_content_sink_t.secret): the n bytes it took
 * before 'end'. Taken bytes and stream offsets differ by the offsets it never
 * took (urgent bytes, gaps; both skip it between decode() calls): when one
 * lies after where the credential would start, the span widens by all of
 * them, as their places are not remembered (rare; over-redaction is safe,
 * the other way round is a leak). Held first bytes read without their urgent
 * bytes (inexact) may sit up to sniff_skips further on.
 */
static void c_secret(void *ctx, const uint8_t *end, size_t n)
{
    fdir_t *fd = ctx;
    uintptr_t b = (uintptr_t)fd->buf, q = (uintptr_t)end;
    uint64_t slack = fd->inexact ? fd->sniff_skips : 0, base, hi, lo;

    if (fd->a->evf == NULL || n == 0)
        return;
    if (fd->buf != NULL && end != NULL && q >= b && q - b <= fd->bufn) {
        base = fd->at + (q - b); /* where the decoder stands, exactly */
        hi = base + slack;
    } else if (fd->buf != NULL) {
        base = fd->at; /* somewhere in the write: from its start to its end */
        hi = fd->at + fd->bufn + slack;
    } else {
        base = hi = fd->dpos; /* outside a write: after everything it took */
    }
    lo = base > n ? base - n : 0;
    if (fd->skip_end > lo)
        lo = lo > fd->skip_total ? lo - fd->skip_total : 0;
    dlp_evidence_redact(fd->a->evf, fd->dir, lo, hi);
}

/* The bytes after the decode() call in progress start a new message part:
 * content opened from the next call on comes from offsets >= its start, less
 * 'back' bytes a decoder reads again from what it held (SMTP replaying a wait:
 * the envelope, and the message after it, came in earlier calls). */
static void mark_after(fdir_t *fd, uint64_t back)
{
    uint64_t x = fd->at > back ? fd->at - back : 0;

    if (fd->buf != NULL && x > fd->mark_next)
        fd->mark_next = x;
}

/* A request line (its URI), or an SMTP envelope command: a message follows. */
static bool block_starts_message(dlp_field_t field, const uint8_t *p, size_t n)
{
    return field == DLP_FIELD_HTTP_URI ||
           (field == DLP_FIELD_SMTP_HEADER &&
            (prefix(p, n, "MAIL FROM:", false) || prefix(p, n, "RCPT TO:", false)));
}

/* --- detection ------------------------------------------------------------ */

/*
 * The protocol events name (nDPI's names): an FTP data connection's; what
 * nDPI detected; else the protocol a decoder of ours reads, which a parse
 * proved: nDPI may name it only packets after the values (or, with an
 * evasion, never) and guesses by port at the end; else nDPI's guess, or
 * DLP_APP_UNKNOWN. So a flow's dlp events and its flow event carry one name,
 * and a rule's protocols see it from the flow's first value.
 */
static const char *label(const fapp_t *a)
{
    static const char *const decoded[] = {[KIND_HTTP] = "HTTP",       [KIND_SMTP] = "SMTP",
                                          [KIND_FTP] = "FTP_CONTROL", [KIND_DNS] = "DNS",
                                          [KIND_SOCKS] = "SOCKS", [KIND_H2] = "HTTP"};
    /* through a proxy: the proxy's protocol, as nDPI names such flows (HTTP_Connect,
     * SOCKS); not when the client's handshake proved to be none */
    kind_t dec = a->px != KIND_UNDECIDED && a->px_dir[0] != PX_RAW ? a->px : a->dec;

    if (a->kind == KIND_FTP_DATA)
        return DLP_APP_FTP_DATA;
    if ((!a->res.done || a->res.guessed || strcmp(a->res.app_proto, DLP_APP_UNKNOWN) == 0) &&
        (size_t)dec < DLP_ARRAY_LEN(decoded) && decoded[dec] != NULL)
        return decoded[dec];
    return a->res.app_proto;
}

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
    snprintf(fi.app_proto, sizeof(fi.app_proto), "%s", label(a));
    snprintf(fi.risks, sizeof(fi.risks), "%s", a->risks);
    a->det = dlp_detect_flow_new(a->detect, &fi);
    if (a->det != NULL && a->evf != NULL)
        dlp_detect_flow_set_value_hook(a->det, ev_value, a);
    return a->det;
}

static void set_label(fapp_t *a)
{
    if (a->det != NULL)
        dlp_detect_flow_set_app(a->det, label(a), a->risks);
}

static void uninspected(fdir_t *fd, uint64_t bytes)
{
    fd->uninspected += bytes;
    if (fd->egress)
        dlp_stat_add(fd->a->env->stats, DLP_STAT_APP_UNINSPECTED_BYTES, bytes);
}

/* The flow event's notes per direction, and the run's egress totals in
 * stats "app" (same order as dlp_app_note_t). */
static void note(fdir_t *fd, dlp_app_note_t n, uint64_t bytes)
{
    _Static_assert(DLP_STAT_APP_NOTE_CREDENTIAL - DLP_STAT_APP_NOTE_GAP ==
                       DLP_NOTE_CREDENTIAL - DLP_NOTE_GAP,
                   "stats app.* follow dlp_app_note_t");
    if ((unsigned)n >= DLP_NOTE__COUNT)
        return;
    fd->notes[n]++;
    if (fd->egress)
        dlp_stat_inc(fd->a->env->stats, (dlp_stat_id_t)(DLP_STAT_APP_NOTE_GAP + n));
    /* credentials: lines a decoder kept from the scan, within its bounds (smtp.c, ftp.c) */
    if (n == DLP_NOTE_ENCRYPTED || n == DLP_NOTE_DEPTH_CAP || n == DLP_NOTE_DECOMP_CAP ||
        n == DLP_NOTE_CREDENTIAL)
        uninspected(fd, bytes);
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

/* Detection scans p[0, n), the next bytes of cs's content. */
static void det_scan(cstream_t *cs, const uint8_t *p, size_t n)
{
    fapp_t *a = cs->fd->a;
    size_t m0 = cs->ds_started ? 0 : dlp_detect_stream_mem(cs->ds);
    vctx_t old = ev_begin(a, VK_STREAM, cs, 0, 0);

    cs->ds_started = true;
    if (cs->map != NULL)
        cs->map->pending = 0;
    dlp_detect_write(a->detect, cs->ds, p, n, *a->env->now_us);
    a->v = old;
    if (m0 != 0 && dlp_detect_stream_mem(cs->ds) == m0) {
        /* Detection could not start the stream: it counts from 0 again. */
        cs->dw = 0;
        cs->dw_started = false;
        cs->ds_started = false;
        if (cs->map != NULL)
            memset(cs->map, 0, sizeof(*cs->map));
    }
}

/* Scans what waits to be joined. */
static void join_flush(fapp_env_t *env)
{
    cstream_t *cs = env->join_cs;
    size_t n = env->join_n;

    env->join_cs = NULL;
    env->join_n = 0;
    if (n > 0)
        det_scan(cs, env->join_buf, n);
}

/*
 * Writes to detection (det_write): each scan is a Hyperscan call, whose fixed
 * cost is most of it for a 40-byte header line or a run of text between two
 * NULs. So within a decoder call (decode_at), writes of up to
 * DLP_APP_JOIN_PIECE bytes to one stream wait in the worker's buffer and are
 * scanned together; whatever touches detection otherwise (another stream, a
 * close, a gap, a block, a longer write, the end of the call) scans them
 * first, so order and packet time stay as they were.
 */
static void det_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    cstream_t *cs = h;
    fapp_env_t *env = cs->fd->a->env;
    bool wait = cs->fd->buf != NULL && n <= DLP_APP_JOIN_PIECE; /* in decode_at() */

    (void)ctx;
    cs->fd->inspected += n;
    dlp_stat_add(env->stats, DLP_STAT_EGRESS_BYTES, n);
    if (n == 0)
        return;
    /* What waits goes first: if it cannot start the stream, the counting
     * starts over (det_scan) before this write is counted. It goes too before
     * its slots of the evidence map are half of them: a value in it must
     * still be mapped when it is scanned (and the writes before it, as an
     * unjoined scan would find them). */
    if (env->join_cs != cs || !wait || n > sizeof(env->join_buf) - env->join_n ||
        (cs->map != NULL && cs->map->pending >= EMAP_N / 2))
        join_flush(env);
    if (cs->map != NULL)
        emap_note(cs, p, n); /* by address: before the bytes are copied */
    cs->dw += n;
    cs->dw_started = true;
    if (!wait) {
        det_scan(cs, p, n);
        return;
    }
    memcpy(env->join_buf + env->join_n, p, n);
    env->join_n += n;
    env->join_cs = cs;
}

static void det_close(void *ctx, void *h)
{
    cstream_t *cs = h;
    vctx_t old;

    (void)ctx;
    if (cs->keep_ds)
        return;
    join_flush(cs->fd->a->env);
    old = ev_begin(cs->fd->a, VK_STREAM, cs, 0, 0);
    dlp_detect_close(cs->fd->a->detect, cs->ds, *cs->fd->a->env->now_us);
    cs->fd->a->v = old;
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

/* Fields that carry files, where compressed media can be (media.h). */
static bool file_like(dlp_field_t f)
{
    return f == DLP_FIELD_RAW || f == DLP_FIELD_HTTP_BODY || f == DLP_FIELD_SMTP_ATTACHMENT ||
           f == DLP_FIELD_SMTP_BODY || f == DLP_FIELD_FTP_DATA;
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
    cs->media = (fd->a->env->gate_media || fd->a->env->unzip) && file_like(field)
                    ? DLP_MEDIA_MORE
                    : DLP_MEDIA_NO;
    /* The raw stream takes the call's bytes as they are; decoders may hold some. */
    cs->lo = keep_ds && fd->buf != NULL ? fd->at : fd->mark;
    if (fd->a->evf != NULL)
        cs->map = calloc(1, sizeof(*cs->map)); /* NULL: conservative spans only */
    /* kept whole: the detection stream masks the values in it before it cuts
     * it to what events show (a value cut here would no longer be one) */
    if (name != NULL)
        snprintf(cs->name, sizeof(cs->name), "%s", name);
    if (!chain_new(cs)) {
        free(cs->map);
        free(cs);
        return NULL;
    }
    return cs;
}

static void chain_write(cstream_t *cs, const uint8_t *p, size_t n)
{
    if (cs->chain != NULL && dlp_stage_write(cs->chain, p, n) != DLP_OK)
        note(cs->fd, DLP_NOTE_DECODER_ERROR, 0);
}

static void detect_skip(cstream_t *cs, uint64_t len);
static void cstream_free(cstream_t *cs);
static void cstream_write(cstream_t *cs, const uint8_t *p, size_t n);

/* --- archives: each member a content stream of its own (zip.h) --- */

static void *zip_open(void *ctx, const char *name)
{
    cstream_t *cs = ctx, *m;
    char full[2 * sizeof(cs->name)]; /* cstream_new() keeps what fits its name */

    snprintf(full, sizeof(full), "%s%s%s", cs->name, cs->name[0] ? "/" : "", name);
    m = cstream_new(cs->fd, cs->field, full, false);
    if (m != NULL)
        m->depth = (uint8_t)(cs->depth + 1);
    return m;
}

static void zip_write(void *ctx, void *m, const uint8_t *p, size_t n)
{
    (void)ctx;
    cstream_write(m, p, n);
}

static void zip_close(void *ctx, void *m)
{
    (void)ctx;
    cstream_free(m);
}

static void zip_note(void *ctx, dlp_app_note_t n, uint64_t bytes)
{
    note(((cstream_t *)ctx)->fd, n, bytes);
}

static const dlp_zip_ops_t zip_ops = {zip_open, zip_write, zip_close, zip_note};

static void zip_feed(cstream_t *cs, const uint8_t *p, size_t n)
{
    fapp_t *a = cs->fd->a;
    size_t before = dlp_zip_mem(cs->zip);

    dlp_zip_write(cs->zip, p, n);
    a->unpack_mem += dlp_zip_mem(cs->zip) - before; /* the flow's memory (fapp_mem) */
}

/* A ZIP archive: its members are unpacked. 'prior' of the bytes copied to tell media
 * came in earlier writes. */
static void zip_start(cstream_t *cs, size_t prior)
{
    fapp_t *a = cs->fd->a;

    cs->zip = dlp_zip_new(&zip_ops, cs, &a->env->limits);
    if (cs->zip == NULL)
        return;
    a->unpack_mem += dlp_zip_mem(cs->zip);
    if (prior > 0)
        zip_feed(cs, cs->sniff, prior);
}

static void zip_stop(cstream_t *cs)
{
    if (cs->zip == NULL)
        return;
    cs->fd->a->unpack_mem -= dlp_zip_mem(cs->zip);
    dlp_zip_free(cs->zip); /* closes a member still open */
    cs->zip = NULL;
}

/* --- gzip files: the file inside, a stream of its own --- */

/* The end of a gzip file's chain: the inflated bytes go to the stream inside. */
typedef struct gz_inner {
    dlp_stage_t base;
    cstream_t *m;
} gz_inner_t;

static dlp_rc_t gz_inner_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    cstream_write(((gz_inner_t *)st)->m, p, n);
    return DLP_OK;
}

static void gz_inner_free(dlp_stage_t *st)
{
    cstream_free(((gz_inner_t *)st)->m); /* its end-of-stream matches come now */
    free(st);
}

static const dlp_stage_ops_t gz_inner_ops = {"gzip file", gz_inner_write, NULL, gz_inner_free};

static void gz_feed(cstream_t *cs, const uint8_t *p, size_t n)
{
    /* A corrupt or capped file is noted by the stage, which then takes nothing more. */
    dlp_rc_t rc = dlp_stage_write(cs->gz, p, n);

    (void)rc;
}

/* A gzip file: the stream inside keeps the file's name. 'prior' as for zip_start(). */
static void gz_start(cstream_t *cs, size_t prior)
{
    gz_inner_t *in = calloc(1, sizeof(*in));

    if (in == NULL)
        return;
    in->base.ops = &gz_inner_ops;
    in->base.sink = &content_sink; /* the inflate stage's notes go to the flow */
    in->base.sink_ctx = cs->fd;
    in->m = cstream_new(cs->fd, cs->field, cs->name, false);
    if (in->m == NULL) {
        free(in);
        return;
    }
    in->m->depth = (uint8_t)(cs->depth + 1);
    cs->gz = dlp_stage_inflate_new(&in->base, &cs->fd->a->env->limits, 1);
    if (cs->gz == NULL) {
        gz_inner_free(&in->base);
        return;
    }
    cs->fd->a->unpack_mem += DLP_STAGE_INFLATE_MEM;
    if (prior > 0)
        gz_feed(cs, cs->sniff, prior);
}

/* The file ends (or bytes are missing): what was inflated is scanned to its end,
 * and a file cut short is noted (decoder_error). */
static void gz_stop(cstream_t *cs)
{
    if (cs->gz == NULL)
        return;
    dlp_rc_t rc = dlp_stage_end(cs->gz);
    (void)rc;
    dlp_stage_free_chain(cs->gz);
    cs->gz = NULL;
    cs->fd->a->unpack_mem -= DLP_STAGE_INFLATE_MEM;
}

/* --- archives at the top (not inside another: depth 1) --- */

static void unpack_start(cstream_t *cs, size_t prior)
{
    if (cs->depth > 0)
        return;
    if (dlp_media_zip(cs->sniff, cs->nsniff))
        zip_start(cs, prior);
    else if (dlp_media_gzip(cs->sniff, cs->nsniff))
        gz_start(cs, prior);
}

static void unpack_feed(cstream_t *cs, const uint8_t *p, size_t n)
{
    if (cs->zip != NULL)
        zip_feed(cs, p, n);
    else if (cs->gz != NULL)
        gz_feed(cs, p, n);
}

/* The archive ends, or bytes are missing (its walk would read them as headers). */
static void unpack_stop(cstream_t *cs)
{
    zip_stop(cs);
    gz_stop(cs);
}

/*
 * Compressed media (media.h): a write with a run of text is scanned, the
 * rest passed over. What was passed over is a gap to detection, so no match
 * joins the text on both sides of it.
 */
static void media_write(cstream_t *cs, const uint8_t *p, size_t n)
{
    if (!dlp_media_has_text(p, n)) {
        cs->skipped += n;
        uninspected(cs->fd, n);
        return;
    }
    if (cs->skipped > 0)
        detect_skip(cs, cs->skipped);
    cs->skipped = 0;
    chain_write(cs, p, n);
}

/* The stream is media (m YES) or not (anything else). */
static void media_decide(cstream_t *cs, dlp_media_t m)
{
    cs->media = (uint8_t)(m == DLP_MEDIA_YES ? DLP_MEDIA_YES : DLP_MEDIA_NO);
    if (cs->media == DLP_MEDIA_YES) {
        note(cs->fd, DLP_NOTE_MEDIA, 0);
        /* Its detection stream outlives chains: media_write() restarts them at gaps. */
        cs->keep_ds = 1;
    }
}

/*
 * The first bytes of a file-like stream tell compressed media. A copy of
 * them is kept to tell when they come in pieces (a body's first bytes may
 * end a header's segment); the pieces themselves are scanned meanwhile, so
 * nothing is held back and the evidence map keeps every write's place.
 */
static void cstream_write(cstream_t *cs, const uint8_t *p, size_t n)
{
    if (cs->media == DLP_MEDIA_MORE && n > 0) {
        size_t prior = cs->nsniff, take = DLP_MEDIA_SNIFF_BYTES - prior;
        take = take < n ? take : n;
        memcpy(cs->sniff + cs->nsniff, p, take);
        cs->nsniff = (uint8_t)(cs->nsniff + take);
        dlp_media_t m = dlp_media_sniff(cs->sniff, cs->nsniff);
        if (m != DLP_MEDIA_MORE || cs->nsniff == DLP_MEDIA_SNIFF_BYTES) {
            if (m == DLP_MEDIA_YES && cs->fd->a->env->unzip)
                unpack_start(cs, prior);
            media_decide(cs, cs->fd->a->env->gate_media ? m : DLP_MEDIA_NO);
        }
    }
    unpack_feed(cs, p, n);
    if (cs->media == DLP_MEDIA_YES)
        media_write(cs, p, n);
    else
        chain_write(cs, p, n);
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
    vctx_t old;

    if (cs == NULL)
        return;
    unpack_stop(cs);
    chain_end(cs);
    join_flush(cs->fd->a->env);
    if (cs->ds != NULL) {
        old = ev_begin(cs->fd->a, VK_STREAM, cs, 0, 0);
        dlp_detect_close(cs->fd->a->detect, cs->ds, *cs->fd->a->env->now_us);
        cs->fd->a->v = old;
    }
    free(cs->map);
    free(cs);
}

/* Detection skips len bytes of cs's content (missing, or media passed over):
 * the normalisation restarts, and no match joins the two sides. */
static void detect_skip(cstream_t *cs, uint64_t len)
{
    vctx_t old;

    chain_end(cs);
    join_flush(cs->fd->a->env);
    if (cs->ds != NULL) {
        if (cs->dw_started) /* as detection: a gap before its first byte is not counted */
            cs->dw += len;
        old = ev_begin(cs->fd->a, VK_STREAM, cs, 0, 0);
        dlp_detect_gap(cs->fd->a->detect, cs->ds, len, *cs->fd->a->env->now_us);
        cs->fd->a->v = old;
    }
    chain_new(cs);
}

/* A raw stream's gap: bytes are missing. An archive is not followed across them (its
 * walk would read them as headers); passed-over media are not missing (detect_skip). */
static void cstream_gap(cstream_t *cs, uint64_t len)
{
    unpack_stop(cs);
    detect_skip(cs, len);
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
    cstream_t *cs = h;

    (void)ctx;
    if (cs != NULL && cs->field == DLP_FIELD_HTTP_HEADER)
        mark_after(cs->fd, 0); /* a header block ended: its body or the next message follows */
    cstream_free(cs);
}

static void c_block(void *ctx, dlp_field_t field, const uint8_t *p, size_t n)
{
    fdir_t *fd = ctx;
    fapp_t *a = fd->a;
    vctx_t old;

    if (a->tcp && block_starts_message(field, p, n))
        mark_after(fd, a->dec == KIND_SMTP ? dlp_smtp_replaying(a->p.smtp) : 0);
    if (!fd->egress || n == 0 || det_flow(a) == NULL)
        return;
    join_flush(a->env);
    fd->inspected += n;
    /* A copy made by a decoder: its bytes came from the message so far.
     * In a datagram (fapp_dgram set the span): the datagram. */
    old = a->tcp ? ev_begin(a, VK_SPAN, NULL, fd->mark, fd->fed) : a->v;
    dlp_detect_block(a->detect, a->det, fd->dir, field, p, n, 0, *a->env->now_us);
    a->v = old;
}

static void c_note(void *ctx, dlp_app_note_t n, uint64_t bytes)
{
    note(ctx, n, bytes);
}

/* A destination name for host allow-lists: "name[:port]" or "[v6]:port" -> name. */
static void add_host(fapp_t *a, const uint8_t *v, size_t n)
{
    const uint8_t *colon = memchr(v, ':', n);

    if (n > 0 && v[0] == '[')
        return; /* an address literal: address allow-lists cover it */
    if (colon != NULL)
        n = (size_t)(colon - v);
    if (n == 0 || det_flow(a) == NULL)
        return;
    dlp_detect_flow_add_host(a->det, (const char *)v, n);
}

static void c_meta(void *ctx, dlp_app_meta_t key, const uint8_t *v, size_t n)
{
    fapp_t *a = ((fdir_t *)ctx)->a;

    /* A host name too long to keep is masked before it is cut (a cut value
     * would no longer be one); one that fits is masked in fapp_report(),
     * for the few flows that have a flow event. */
    if (key == DLP_META_HTTP_HOST && a->host[0] == '\0') {
        if (n < sizeof(a->host) || a->detect == NULL)
            snprintf(a->host, sizeof(a->host), "%.*s", (int)n, (const char *)v);
        else
            dlp_detect_redact(a->detect, (const char *)v, n, a->host, sizeof(a->host));
    }
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
    .secret = c_secret,
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

/* ICMP echo flows have the echo identifier for ports (packet.h): no service. */
static bool port_is(const fapp_t *a, uint16_t port)
{
    if (a->f->key.proto != DLP_PROTO_TCP && a->f->key.proto != DLP_PROTO_UDP)
        return false;
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
        a->ftp_z = x->e.deflate != 0;
        return true;
    }
    return false;
}

/* From the first bytes of direction dir (0 client, 1 server): KIND_UNDECIDED
 * while too few bytes say nothing yet. Also the first bytes of a tunnel
 * (px): the ports are then the proxy's, and a proxy inside is not read. */
static kind_t sniff(const fapp_t *a, int dir, const uint8_t *p, size_t n, bool final)
{
    bool tunnel = a->px != KIND_UNDECIDED;
    size_t lead = 0;

    if (a->env->raw_only)
        return KIND_RAW;
    /* Empty lines before a request line are ignored by servers (RFC 9112 2.2; nginx
     * takes any number) and by the HTTP decoder: "\r\nPOST" must not make an HTTP flow
     * raw, its bodies undecoded. Nothing but empty lines in all the bytes looked at: HTTP
     * too, since what the HTTP decoder cannot parse it scans as raw. */
    while (dir == 0 && !port_is(a, 53) && lead < n && (p[lead] == '\r' || p[lead] == '\n'))
        lead++;
    if (lead > 0 && lead == n)
        return n == DLP_APP_SNIFF_BYTES ? KIND_HTTP : final ? KIND_RAW : KIND_UNDECIDED;
    if (lead > 0 && dlp_http_is_request(p + lead, n - lead))
        return final || memchr(p + lead, '\n', n - lead) != NULL ? KIND_HTTP : KIND_UNDECIDED;
    bool enough = final || n >= DLP_APP_SNIFF_BYTES || memchr(p, '\n', n) != NULL;

    if (n >= 2 && p[0] == 0x16 && p[1] == 0x03)
        return KIND_ENCRYPTED; /* a TLS handshake record, on any port */
    /* h2c with prior knowledge (RFC 9113 3.3): the preface's first 16 bytes; h2.c checks
     * the rest and scans the direction raw if it is no HTTP/2 after all */
    if (dir == 0 && n > 0 && dlp_h2_sniff(p, n) != DLP_EINVAL)
        return dlp_h2_sniff(p, n) == DLP_OK ? KIND_H2 : final ? KIND_RAW : KIND_UNDECIDED;
    if (prefix(p, n, "SSH-", false))
        return KIND_ENCRYPTED;
    /* a SOCKS client's first message has no LF and waits for its reply */
    if (dir == 0 && !tunnel && !port_is(a, 53)) {
        dlp_socks_sniff_t socks = dlp_socks_sniff(p, n);
        if (socks == DLP_SOCKS_SNIFF_YES)
            return KIND_SOCKS;
        if (socks == DLP_SOCKS_SNIFF_MORE && !final)
            return KIND_UNDECIDED;
    }
    if (!enough)
        return KIND_UNDECIDED;
    if (port_is(a, 53) && !tunnel)
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

static void px_socks_start(fapp_t *a, void *const ctx[2]);

static void start_decoder(fapp_t *a, kind_t k)
{
    void *const ctx[2] = {&a->d[0], &a->d[1]};
    const dlp_app_limits_t *l = &a->env->limits;

    a->kind = k;
    if (k == KIND_SOCKS) {
        px_socks_start(a, ctx);
        return;
    }
    /* TLS in a tunnel: nDPI names the proxy, and says nothing of what it carries */
    if (k == KIND_ENCRYPTED && a->px != KIND_UNDECIDED)
        for (int d = 0; d < 2; d++)
            note(&a->d[d], DLP_NOTE_ENCRYPTED, 0);
    if (k == KIND_HTTP)
        a->p.http = dlp_http_new(&content_sink, ctx, l);
    else if (k == KIND_SMTP)
        a->p.smtp = dlp_smtp_new(&content_sink, ctx, l);
    else if (k == KIND_FTP)
        a->p.ftp = dlp_ftp_new(&content_sink, ctx, dlp_flow_addr(a->f, 0), dlp_flow_addr(a->f, 1),
                               l);
    else if (k == KIND_DNS)
        a->p.dns = dlp_dns_stream_new(&content_sink, &a->d[0]);
    else if (k == KIND_H2)
        for (int d = 0; d < 2; d++)
            h2_start(a, d);
    else
        return;
    a->dec = k;
    if (a->p.http == NULL && k != KIND_H2) { /* any member: the union's pointer */
        a->kind = KIND_RAW;
        a->dec = KIND_UNDECIDED;
    }
    set_label(a);
}

/* --- feeding ------------------------------------------------------------------ */

static void idle_unlink(fdir_t *fd)
{
    fapp_env_t *env = fd->a->env;

    if (!fd->raw_unsettled)
        return;
    if (fd->idle_prev != NULL)
        fd->idle_prev->idle_next = fd->idle_next;
    else
        env->idle_head = fd->idle_next;
    if (fd->idle_next != NULL)
        fd->idle_next->idle_prev = fd->idle_prev;
    else
        env->idle_tail = fd->idle_prev;
    fd->idle_prev = fd->idle_next = NULL;
    fd->raw_unsettled = false;
}

/* Written now: the youngest of the worker's unsettled raw streams. */
static void idle_touch(fdir_t *fd)
{
    fapp_env_t *env = fd->a->env;

    idle_unlink(fd);
    fd->raw_unsettled = true;
    fd->raw_last_us = *env->now_us;
    fd->idle_prev = env->idle_tail;
    if (env->idle_tail != NULL)
        env->idle_tail->idle_next = fd;
    else
        env->idle_head = fd;
    env->idle_tail = fd;
}

static void raw_write(fdir_t *fd, dlp_field_t field, const uint8_t *p, size_t n)
{
    if (!fd->egress)
        return;
    if (fd->raw == NULL)
        fd->raw = cstream_new(fd, field, NULL, true);
    if (fd->raw != NULL) {
        cstream_write(fd->raw, p, n);
        idle_touch(fd);
    }
}

/*
 * FTP data in MODE Z (ftp.h): the egress bytes are a zlib stream, inflated
 * into the direction's raw stream. A stream that does not inflate (another
 * format, corrupt, bytes after its end, a cap, a gap) is scanned as it is
 * from the write that failed on, and noted (decoder_error, or the cap's
 * note): what came before was scanned inflated, so no byte goes unscanned.
 */
typedef struct mz_out {
    dlp_stage_t base;
    fdir_t *fd;
} mz_out_t;

static dlp_rc_t mz_out_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    raw_write(((mz_out_t *)st)->fd, DLP_FIELD_FTP_DATA, p, n);
    return DLP_OK;
}

static void mz_out_free(dlp_stage_t *st)
{
    free(st);
}

static const dlp_stage_ops_t mz_out_ops = {"MODE Z data", mz_out_write, NULL, mz_out_free};

static void mz_start(fdir_t *fd)
{
    mz_out_t *out = calloc(1, sizeof(*out));

    fd->mz_raw = true; /* unless the stage starts */
    if (out == NULL)
        return;
    out->base.ops = &mz_out_ops;
    out->base.sink = &content_sink; /* the stage's notes go to the flow */
    out->base.sink_ctx = fd;
    out->fd = fd;
    fd->mz = dlp_stage_zlib_new(&out->base, &fd->a->env->limits);
    if (fd->mz == NULL) {
        free(out);
        return;
    }
    fd->mz_raw = false;
    fd->a->unpack_mem += DLP_STAGE_INFLATE_MEM;
}

/* The stream ends, or fails: 'end' says whether it ended (a stream cut short is noted). */
static void mz_stop(fdir_t *fd, bool end)
{
    if (fd->mz == NULL)
        return;
    if (end) {
        dlp_rc_t rc = dlp_stage_end(fd->mz);
        (void)rc; /* noted by the stage */
    }
    dlp_stage_free_chain(fd->mz);
    fd->mz = NULL;
    fd->a->unpack_mem -= DLP_STAGE_INFLATE_MEM;
}

static void ftp_data_write(fdir_t *fd, const uint8_t *p, size_t n)
{
    if (!fd->a->ftp_z || !fd->egress || n == 0) {
        raw_write(fd, DLP_FIELD_FTP_DATA, p, n);
        return;
    }
    if (fd->mz == NULL && !fd->mz_raw)
        mz_start(fd);
    if (fd->mz != NULL && dlp_stage_write(fd->mz, p, n) == DLP_OK)
        return;
    mz_stop(fd, false);
    fd->mz_raw = true;
    raw_write(fd, DLP_FIELD_FTP_DATA, p, n);
}

/* A gap in MODE Z data: the zlib stream cannot go on; the rest is scanned as it is. */
static void ftp_data_gap(fdir_t *fd)
{
    if (fd->mz == NULL)
        return;
    note(fd, DLP_NOTE_DECODER_ERROR, 0);
    mz_stop(fd, false);
    fd->mz_raw = true;
}

/*
 * A decoder that gave up (DNS or WebSocket framing lost): the nh bytes it
 * held from earlier writes, maybe across a gap, then rest[0, n), scanned as
 * the raw bytes they are. Their offsets are not kept, so evidence covers the
 * direction from its start for a value in them: set before they are written,
 * as a value may be decided during that write.
 */
static void raw_takeover(fdir_t *fd, const uint8_t *held, size_t nh, const uint8_t *rest,
                         size_t n)
{
    if (nh > 0) {
        if (fd->raw == NULL && fd->egress)
            fd->raw = cstream_new(fd, DLP_FIELD_RAW, NULL, true);
        if (fd->raw != NULL)
            fd->raw->lo = 0;
        raw_write(fd, DLP_FIELD_RAW, held, nh);
    }
    if (n > 0)
        raw_write(fd, DLP_FIELD_RAW, rest, n);
}

/*
 * The peer answers, so the sender is waiting: it has said what it had to say.
 * What detection holds back of its raw stream, waiting for bytes after a
 * value, is decided now instead of at its next write or at the flow's end,
 * which on an idle connection may be minutes away (a request-response
 * protocol sends nothing more until it has its answer).
 */
static void raw_settle(fapp_t *a, fdir_t *fd)
{
    vctx_t old;

    if (!fd->raw_unsettled)
        return;
    idle_unlink(fd);
    if (fd->raw == NULL || fd->raw->ds == NULL)
        return;
    join_flush(a->env);
    old = ev_begin(a, VK_STREAM, fd->raw, 0, 0);
    dlp_detect_settle(a->detect, fd->raw->ds, *a->env->now_us);
    a->v = old;
}

/*
 * h2c (h2.h): a direction's HTTP/2 frames, from its first byte (prior
 * knowledge: the client's preface opens the flow) or from the end of its own
 * part of an HTTP/1 "Upgrade: h2c" answered by 101 (the server's frames follow
 * its 101, the client's preface follows its request). As for WebSocket, only
 * egress directions are decoded; when the framing is lost, the rest of the
 * direction is scanned raw from the failed frame's first byte. Header blocks
 * are not decoded (no HPACK): their bytes count as uninspected.
 */
static void h2_start(fapp_t *a, int dir)
{
    dlp_h2_opts_t o = {.client = dir == 0};

    if (a->d[dir].egress && a->h2[dir] == NULL)
        a->h2[dir] = dlp_h2_new(&content_sink, &a->d[dir], &a->env->limits, &o);
}

static void h2_account(fapp_t *a, int dir)
{
    uint64_t u = dlp_h2_take_uninspected(a->h2[dir]);

    if (u > 0)
        uninspected(&a->d[dir], u);
}

static void h2_frames(fapp_t *a, int dir, const uint8_t *p, size_t n)
{
    fdir_t *fd = &a->d[dir];
    const uint8_t *held;
    size_t k = 0, nh;
    dlp_rc_t rc;

    if (a->h2[dir] == NULL) {
        raw_write(fd, DLP_FIELD_RAW, p, n);
        return;
    }
    rc = dlp_h2_write(a->h2[dir], p, n, &k);
    h2_account(a, dir);
    if (rc != DLP_EPROTO)
        return;
    nh = dlp_h2_held(a->h2[dir], &held);
    raw_takeover(fd, held, nh, p + k, n - k);
    dlp_h2_free(a->h2[dir]);
    a->h2[dir] = NULL;
}

static void h2_run(fapp_t *a, int dir, const uint8_t *p, size_t n)
{
    size_t k = n;

    if (a->h2_http[dir]) {
        if (dlp_http_write(a->p.http, dir, p, n, &k) != DLP_DONE)
            return;
        a->h2_http[dir] = false;
        h2_start(a, dir);
        p += k;
        n -= k;
    }
    if (n > 0)
        h2_frames(a, dir, p, n);
}

/* HTTP let direction dir go after a 101 answering "Upgrade: h2c". */
static void h2_upgraded(fapp_t *a, int dir)
{
    if (a->kind == KIND_HTTP) {
        a->kind = KIND_H2;
        a->h2_http[0] = a->h2_http[1] = true;
    }
    a->h2_http[dir] = false;
    h2_start(a, dir);
}

static void h2_gap(fapp_t *a, int dir, uint64_t len)
{
    if (a->h2_http[dir]) {
        dlp_http_gap(a->p.http, dir, len);
    } else if (a->h2[dir] != NULL && dlp_h2_gap(a->h2[dir], len) == DLP_EPROTO) {
        h2_account(a, dir);
        dlp_h2_free(a->h2[dir]); /* framing lost: raw from here */
        a->h2[dir] = NULL;
    }
}

static void h2_end(fapp_t *a, int dir)
{
    if (a->h2_http[dir]) {
        dlp_http_end(a->p.http, dir);
    } else if (a->h2[dir] != NULL) {
        dlp_h2_end(a->h2[dir]);
        h2_account(a, dir);
    }
}

/*
 * A direction of a connection upgraded to WebSocket: HTTP until its own
 * upgrade ends (a response is parsed up to its 101 even when the client's
 * frames came first), then frames; when they turn out not to be frames, the
 * rest is scanned raw from the failed frame's first byte.
 */
static dlp_rc_t ws_run(fapp_t *a, int dir, const uint8_t *p, size_t n, size_t *used)
{
    fdir_t *fd = &a->d[dir];
    const uint8_t *held;
    size_t k = 0, nh;

    if (a->ws_http[dir])
        return dlp_http_write(a->p.http, dir, p, n, used);
    if (a->ws[dir] == NULL) {
        raw_write(fd, DLP_FIELD_RAW, p, n);
        return DLP_OK;
    }
    if (dlp_ws_write(a->ws[dir], p, n, &k) != DLP_EPROTO)
        return DLP_OK; /* DLP_ENOMEM: a message went uninflated, noted; it goes on */
    nh = dlp_ws_held(a->ws[dir], &held);
    raw_takeover(fd, held, nh, p + k, n - k);
    dlp_ws_free(a->ws[dir]);
    a->ws[dir] = NULL;
    return DLP_OK;
}

/* HTTP let direction dir go: to WebSocket (RFC 6455 4), or raw (CONNECT, h2c...). */
static void http_upgraded(fapp_t *a, int dir)
{
    dlp_http_ws_t u;
    dlp_ws_opts_t o = {0};

    if (dlp_http_h2c(a->p.http)) {
        h2_upgraded(a, dir);
        return;
    }
    if (!dlp_http_websocket(a->p.http, &u)) {
        if (a->kind == KIND_HTTP)
            a->kind = KIND_RAW;
        a->ws_http[dir] = false;
        return;
    }
    if (a->kind == KIND_HTTP) {
        a->kind = KIND_WS;
        a->ws_http[0] = a->ws_http[1] = true;
    }
    a->ws_http[dir] = false;
    o.no_context_takeover = u.no_context_takeover[dir];
    if (a->d[dir].egress)
        a->ws[dir] = dlp_ws_new(&content_sink, &a->d[dir], &a->env->limits, &o);
}

static void ws_gap(fapp_t *a, int dir, uint64_t len)
{
    if (a->ws_http[dir]) {
        dlp_http_gap(a->p.http, dir, len);
    } else if (a->ws[dir] != NULL) {
        if (dlp_ws_gap(a->ws[dir], len) == DLP_EPROTO) {
            dlp_ws_free(a->ws[dir]); /* framing lost: raw from here */
            a->ws[dir] = NULL;
        }
    } else if (a->d[dir].raw != NULL) {
        cstream_gap(a->d[dir].raw, len);
    }
}

/*
 * DNS over TCP that stops being DNS (a message that does not parse, framing
 * lost in a gap): a client may send anything to port 53, so the message held
 * (length first) and all that follows are scanned as the raw bytes the
 * server received.
 */
static void dns_to_raw(fapp_t *a, fdir_t *fd, const uint8_t *rest, size_t n)
{
    const uint8_t *h;
    size_t held = dlp_dns_stream_held(a->p.dns, &h);

    a->kind = KIND_RAW;
    raw_takeover(fd, h, held, rest, n);
}

/* The connection ends inside a message: what the server got of it. */
static void dns_flush(fapp_t *a, fdir_t *fd)
{
    const uint8_t *h;

    if (dlp_dns_stream_held(a->p.dns, &h) > 0)
        dns_to_raw(a, fd, NULL, 0);
}

static void dns_run(fapp_t *a, fdir_t *fd, const uint8_t *p, size_t n)
{
    size_t used = n;

    if (dlp_dns_stream_write(a->p.dns, p, n, &used) != DLP_OK)
        dns_to_raw(a, fd, p + used, n - used);
}

/*
 * Proxies: an HTTP CONNECT tunnel, or a SOCKS connection (socks.h). The
 * proxy forwards the tunnel's bytes as they are, so the destination reads
 * a new connection: its first bytes are sniffed as a new connection's
 * (kind back to KIND_UNDECIDED, sniff_feed), HTTP decoded, TLS encrypted,
 * anything else raw. Each direction reads the handshake (px_http, moved
 * from p when CONNECT's tunnel starts; or px_socks) until its own part
 * ends (px_dir), as the client's tunnel bytes may come before or after the
 * proxy's answer; the handshake decoder is freed when neither reads it.
 * One proxy per flow: a proxy inside the tunnel is read as the flow's
 * decoder reads it (a CONNECT inside: raw). A SOCKS handshake that fails
 * (not SOCKS after all, refused, a gap) leaves its direction raw from its
 * first byte on (the bytes the decoder held first), nothing lost.
 */
static void decode_at(fapp_t *a, int dir, const uint8_t *p, size_t n, uint64_t at);
static void sniff_feed(fapp_t *a, int dir, const uint8_t *p, size_t n, bool final);

static void px_socks_start(fapp_t *a, void *const ctx[2])
{
    a->px_socks = dlp_socks_new(&content_sink, ctx);
    if (a->px_socks == NULL) {
        a->kind = KIND_RAW;
        return;
    }
    a->px = KIND_SOCKS;
    a->px_dir[0] = a->px_dir[1] = PX_OUTER;
    a->kind = KIND_UNDECIDED; /* the tunnel's */
    set_label(a);
}

/* The flow's HTTP decoder let direction dir go after a CONNECT: the handshake's now. */
static void px_connect(fapp_t *a, int dir)
{
    a->px = KIND_HTTP;
    a->px_http = a->p.http;
    a->p.http = NULL;
    a->px_dir[dir] = PX_INNER;
    a->px_dir[!dir] = PX_OUTER;
    a->kind = KIND_UNDECIDED;
    a->dec = KIND_UNDECIDED;
}

static void px_release(fapp_t *a)
{
    if (a->px_dir[0] == PX_OUTER || a->px_dir[1] == PX_OUTER)
        return;
    dlp_http_free(a->px_http);
    a->px_http = NULL;
    dlp_socks_free(a->px_socks);
    a->px_socks = NULL;
}

/* Direction dir is no handshake: what the decoder held of it, then rest[0, n), raw. */
static void px_fail(fapp_t *a, int dir, const uint8_t *rest, size_t n)
{
    const uint8_t *held = NULL;
    size_t nh = a->px == KIND_SOCKS ? dlp_socks_held(a->px_socks, dir, &held) : 0;

    a->px_dir[dir] = PX_RAW;
    raw_takeover(&a->d[dir], held, nh, rest, n);
    px_release(a);
}

/* Bytes of a direction that is not (or not yet) the tunnel's: [at, at + n). */
static void px_decode(fapp_t *a, int dir, const uint8_t *p, size_t n, uint64_t at)
{
    fdir_t *fd = &a->d[dir];
    size_t used = n;
    dlp_rc_t rc;

    if (a->px_dir[dir] == PX_RAW) {
        raw_write(fd, DLP_FIELD_RAW, p, n);
        return;
    }
    fd->buf = p;
    fd->bufn = n;
    fd->at = at;
    if (a->px == KIND_HTTP)
        rc = dlp_http_write(a->px_http, dir, p, n, &used);
    else
        rc = dlp_socks_write(a->px_socks, dir, p, n, &used);
    join_flush(a->env);
    fd->buf = NULL;
    if (rc == DLP_EPROTO) {
        px_fail(a, dir, p + used, n - used);
        return;
    }
    if (rc != DLP_DONE)
        return;
    a->px_dir[dir] = PX_INNER;
    px_release(a);
    if (used < n)
        decode_at(a, dir, p + used, n - used, at + used);
}

static void px_gap(fapp_t *a, int dir, uint64_t len)
{
    if (a->px_dir[dir] == PX_OUTER && a->px == KIND_HTTP) {
        dlp_http_gap(a->px_http, dir, len);
        return;
    }
    if (a->px_dir[dir] == PX_OUTER) {
        dlp_socks_gap(a->px_socks, dir);
        px_fail(a, dir, NULL, 0);
    }
    if (a->d[dir].raw != NULL)
        cstream_gap(a->d[dir].raw, len);
}

/* The direction ends inside its handshake: a SOCKS one's bytes are scanned raw. */
static void px_end(fapp_t *a, int dir)
{
    if (a->px_dir[dir] != PX_OUTER)
        return;
    if (a->px == KIND_HTTP)
        dlp_http_end(a->px_http, dir);
    else
        px_fail(a, dir, NULL, 0);
}

/* The flow's decoder on p[0, n); DLP_DONE: it let the connection go after *used bytes. */
static dlp_rc_t run_decoder(fapp_t *a, int dir, const uint8_t *p, size_t n, size_t *used)
{
    fdir_t *fd = &a->d[dir];

    switch (a->kind) {
    case KIND_HTTP: return dlp_http_write(a->p.http, dir, p, n, used);
    case KIND_SMTP:
        /* An inside server's replies are read for their codes, not scanned: they echo
         * the outside client's own envelope (Sendmail: "250 <a@b>... Sender ok"), so an
         * inbound mail server would raise an alert per delivery. Counted as uninspected. */
        if (dir == 1 && fd->egress)
            uninspected(fd, n);
        return dlp_smtp_write(a->p.smtp, dir, p, n);
    case KIND_FTP:
        if (dir == 1)
            raw_write(fd, DLP_FIELD_RAW, p, n);
        return dlp_ftp_write(a->p.ftp, dir, p, n);
    case KIND_DNS:
        /* the server's answers: scanned as they are when they leave (an inside server) */
        if (dir == 0)
            dns_run(a, fd, p, n);
        else
            raw_write(fd, DLP_FIELD_RAW, p, n);
        return DLP_OK;
    case KIND_FTP_DATA: ftp_data_write(fd, p, n); return DLP_OK;
    case KIND_RAW: raw_write(fd, DLP_FIELD_RAW, p, n); return DLP_OK;
    case KIND_WS: return ws_run(a, dir, p, n, used);
    case KIND_H2: h2_run(a, dir, p, n); return DLP_OK;
    default: /* encrypted, or a decoder handed the connection over */
        if (fd->egress)
            uninspected(fd, n);
        return DLP_OK;
    }
}

/* p[0, n) is the stream at offsets [at, at + n). */
static void decode_at(fapp_t *a, int dir, const uint8_t *p, size_t n, uint64_t at)
{
    fdir_t *fd = &a->d[dir];
    size_t used = n;
    dlp_rc_t rc;

    if (a->px_dir[dir] != PX_INNER) {
        px_decode(a, dir, p, n, at);
        return;
    }
    if (a->kind == KIND_UNDECIDED) {
        /* A tunnel's first bytes: held to be sniffed. They wait, so decode() takes
         * them (and dpos counts them) when the choice is made. */
        fd->dpos = at;
        sniff_feed(a, dir, p, n, false);
        return;
    }
    fd->buf = p;
    fd->bufn = n;
    fd->at = at;
    rc = run_decoder(a, dir, p, n, &used);
    join_flush(a->env);
    fd->buf = NULL;
    if (rc != DLP_DONE)
        return;
    /* HTTP upgraded (WebSocket, or raw from here) or its CONNECT tunnel started,
     * SMTP/FTP went TLS (nothing to see). */
    if (a->kind == KIND_HTTP && a->px == KIND_UNDECIDED && dlp_http_connect(a->p.http))
        px_connect(a, dir);
    else if (a->kind == KIND_HTTP || a->kind == KIND_WS)
        http_upgraded(a, dir);
    else
        a->kind = KIND_DONE;
    if (used < n)
        decode_at(a, dir, p + used, n - used, at + used);
}

/* Every byte of a direction passes here once, in stream order. */
static void decode(fapp_t *a, int dir, const uint8_t *p, size_t n)
{
    fdir_t *fd = &a->d[dir];
    uint64_t at = fd->dpos;

    fd->dpos += n;
    if (fd->mark_next > fd->mark)
        fd->mark = fd->mark_next;
    decode_at(a, dir, p, n, at);
}

/* The held first bytes: urgent bytes left out among them (fapp_urgent) make
 * their offsets inexact, so evidence covers their whole span instead. */
static void decode_held(fapp_t *a, int dir, const uint8_t *p, size_t n)
{
    fdir_t *fd = &a->d[dir];

    fd->inexact = fd->sniff_skips > 0;
    if (n > 0)
        decode(a, dir, p, n);
    fd->inexact = false;
    fd->dpos += fd->sniff_skips;
    fd->sniff_skips = 0;
}

/* Holds the first bytes of a direction until the decoder is chosen. */
static void sniff_feed(fapp_t *a, int dir, const uint8_t *p, size_t n, bool final)
{
    fdir_t *fd = &a->d[dir];
    size_t take = n < sizeof(fd->sniff) - fd->nsniff ? n : sizeof(fd->sniff) - fd->nsniff;
    uint8_t held[2][DLP_APP_SNIFF_BYTES];
    size_t nh[2];
    kind_t k;

    if (take > 0)
        memcpy(fd->sniff + fd->nsniff, p, take);
    fd->nsniff = (uint8_t)(fd->nsniff + take);
    k = sniff(a, dir, fd->sniff, fd->nsniff, final || fd->nsniff == sizeof(fd->sniff));
    if (k == KIND_UNDECIDED)
        return;
    start_decoder(a, k);
    /* both taken before either is decoded: a handshake's end starts a tunnel, whose
     * own first bytes are held anew (sniff_feed again, from decode_at) */
    for (int d = 0; d < 2; d++) {
        nh[d] = a->d[d].nsniff;
        memcpy(held[d], a->d[d].sniff, nh[d]);
        a->d[d].nsniff = 0;
    }
    for (int d = 0; d < 2; d++)
        decode_held(a, d, held[d], nh[d]);
    if (take < n)
        decode(a, dir, p + take, n - take);
}

/* Evidence: bytes straight from the packet in progress tie its sequence
 * numbers to stream offsets. */
static void ev_anchor(const fapp_t *a, int dir, const uint8_t *p, uint64_t off)
{
    uintptr_t b = (uintptr_t)a->pkt_pl, q = (uintptr_t)p;

    if (a->pkt_pl != NULL && q >= b && q - b < a->pkt_len)
        dlp_evidence_anchor(a->evf, dir, a->pkt_seq + (uint32_t)(q - b), off);
}

/* --- the other version of conflicting bytes ------------------------------------ */

/*
 * Overlapping segments with different bytes: the first copy is the stream,
 * but the receiver may have kept the other (the first had a bad checksum, or
 * a TTL that ran out on the way: an insertion). Each other version is
 * scanned with the bytes around it, in one raw stream per direction that
 * takes the conflicting bytes in order, the stream's own bytes between and
 * after them, and the ALT_CTX bytes before the first. So a value is found
 * whether it lies in one conflicting segment, spans several (every segment
 * sent twice, junk first), or runs on into the stream. The stream ends
 * ALT_RUN bytes after its last conflict, at a gap, or when bytes it would
 * need are no longer retained (tail ring, reasm.h); it scans bytes as they
 * travel, not decoded (as the raw field).
 *
 * The stream is taken ALT_LAG bytes behind the direction's bytes (from the
 * reassembler's ring, which holds more): an other version is put in its
 * first copy's place (alt_ov) and taken with the bytes around it when the
 * stream gets there, so other versions that come after their first copies
 * (junk, real, next junk, next real...) or out of order, up to ALT_LAG on,
 * read as the receiver got them; before it took anything, the stream starts
 * ALT_CTX before the earliest one. A conflict partly behind what it took,
 * over another version placed first, or that does not fit (too far ahead of
 * the stream) is also block-scanned alone, whole; other versions left when it
 * ends are block-scanned run by run. Invariant while open: every placed byte
 * lies in [alt_pos, alt_pos + ALT_LAG), and alt_pos <= alt_last + ALT_RUN.
 * Cost: each stream byte is taken at most once per stream, each conflict
 * placed or block-scanned once more at most; alt_ov is 1.2 KiB (fapp_mem).
 */
#define ALT_CTX 128
#define ALT_RUN 2048
#define ALT_LAG 1024 /* < DLP_REASM_RETAIN_BYTES: what it still has to take is retained */

/* Other versions not taken yet: offset o of [alt_pos, alt_pos + ALT_LAG) at o % ALT_LAG. */
typedef struct alt_ov {
    uint8_t b[ALT_LAG];
    uint8_t set[ALT_LAG / 8];
    bool taken; /* the stream took bytes: alt_pos no longer moves back */
} alt_ov_t;

static uint64_t alt_min(uint64_t x, uint64_t y)
{
    return x < y ? x : y;
}

static bool ov_isset(const alt_ov_t *o, uint64_t off)
{
    size_t i = (size_t)(off % ALT_LAG);
    return (o->set[i / 8] >> (i % 8) & 1u) != 0;
}

/* Whether any of [off, off+n) holds another version already. */
static bool ov_any(const alt_ov_t *o, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ov_isset(o, off + i))
            return true;
    return false;
}

static void ov_put(alt_ov_t *o, uint64_t off, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)((off + i) % ALT_LAG);
        o->b[k] = p[i];
        o->set[k / 8] |= (uint8_t)(1u << (k % 8));
    }
}

/* The stream's bytes at off, in buf: the other versions take their place (and leave). */
static void ov_apply(alt_ov_t *o, uint64_t off, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)((off + i) % ALT_LAG);
        if (o->set[k / 8] >> (k % 8) & 1u) {
            buf[i] = o->b[k];
            o->set[k / 8] &= (uint8_t)~(1u << (k % 8));
        }
    }
}

static void alt_write(fapp_t *a, fdir_t *fd, const uint8_t *p, size_t n)
{
    uint64_t lo = fd->alt_pos > ALT_CTX ? fd->alt_pos - ALT_CTX : 0;
    vctx_t old = ev_begin(a, VK_SPAN, NULL, lo, fd->alt_pos + n);

    join_flush(a->env); /* not counted as inspected: these are not the stream's bytes */
    dlp_detect_write(a->detect, fd->alt, p, n, *a->env->now_us);
    a->v = old;
    fd->alt_pos += n;
}

/* Conflicting bytes [off, off+n) on their own. */
static void alt_block(fapp_t *a, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    vctx_t old = ev_begin(a, VK_EXACT, NULL, 0, 0);

    join_flush(a->env);
    dlp_detect_block(a->detect, a->det, dir, DLP_FIELD_RAW, p, n, off, *a->env->now_us);
    a->v = old;
}

/*
 * Takes the stream's bytes [alt_pos, to), other versions in their place:
 * below 'fed' from the ring, above it from p (the data() call in progress,
 * n bytes at fed). False when the ring no longer holds them.
 */
static bool alt_take(fapp_t *a, fdir_t *fd, uint64_t to, const uint8_t *p, size_t n)
{
    uint8_t buf[ALT_LAG];

    while (fd->alt_pos < to) {
        uint64_t from = fd->alt_pos;
        size_t k = (size_t)alt_min(to - from, sizeof(buf));
        if (from < fd->fed) {
            k = (size_t)alt_min(k, fd->fed - from);
            if (a->retained == NULL || !a->retained(a->retained_ctx, fd->dir, from, from + k, buf))
                return false;
        } else {
            if (p == NULL || from + k > fd->fed + n)
                return false;
            memcpy(buf, p + (from - fd->fed), k);
        }
        ov_apply(fd->ov, from, buf, k);
        alt_write(a, fd, buf, k);
        fd->ov->taken = true;
    }
    return true;
}

/*
 * Ends the stream: 'take', after the stream's bytes it has yet to take (up
 * to ALT_RUN after its last conflict), if retained. Other versions it did
 * not take (ahead of the stream, or no longer retained around) are scanned
 * on their own, run by run.
 */
static void alt_stop(fapp_t *a, fdir_t *fd, bool take)
{
    vctx_t old;

    if (fd->alt == NULL)
        return;
    if (take)
        (void)alt_take(a, fd, alt_min(fd->fed, fd->alt_last + ALT_RUN), NULL, 0);
    for (uint64_t o = fd->alt_pos, end = fd->alt_pos + ALT_LAG; o < end; o++) {
        uint8_t run[ALT_LAG];
        size_t k = 0;
        while (o + k < end && ov_isset(fd->ov, o + k)) {
            run[k] = fd->ov->b[(o + k) % ALT_LAG];
            k++;
        }
        if (k > 0)
            alt_block(a, fd->dir, o, run, k);
        o += k;
    }
    join_flush(a->env);
    old = ev_begin(a, VK_SPAN, NULL, fd->alt_pos > ALT_RUN ? fd->alt_pos - ALT_RUN : 0,
                   fd->alt_pos);
    dlp_detect_close(a->detect, fd->alt, *a->env->now_us);
    a->v = old;
    fd->alt = NULL;
    free(fd->ov);
    fd->ov = NULL;
}

/* Where a stream for a conflict at 'off' starts: ALT_CTX bytes before it, if retained. */
static uint64_t alt_from(fapp_t *a, const fdir_t *fd, uint64_t off)
{
    uint8_t probe[ALT_CTX];
    uint64_t lo = off > ALT_CTX ? off - ALT_CTX : 0, hi = alt_min(off, fd->fed);

    if (lo < hi && (a->retained == NULL || !a->retained(a->retained_ctx, fd->dir, lo, hi, probe)))
        lo = hi; /* no context retained: from the conflict, or the stream's end, on */
    return lo;
}

/*
 * A conflict before where the stream starts, before it took anything (other
 * versions out of order): it starts earlier, if what it holds still fits.
 */
static void alt_rebase(fapp_t *a, fdir_t *fd, uint64_t off)
{
    uint64_t lo;

    if (fd->ov->taken || off >= fd->alt_pos)
        return;
    lo = alt_from(a, fd, off);
    if (lo < fd->alt_pos && fd->alt_last <= lo + ALT_LAG)
        fd->alt_pos = lo;
}

/* A new stream for a conflict at 'off'. */
static bool alt_start(fapp_t *a, fdir_t *fd, uint64_t off)
{
    uint64_t lo = alt_from(a, fd, off);

    fd->ov = calloc(1, sizeof(*fd->ov));
    if (fd->ov == NULL)
        return false;
    fd->alt = dlp_detect_stream_new(a->detect, a->det, fd->dir, DLP_FIELD_RAW, NULL);
    if (fd->alt == NULL) {
        free(fd->ov);
        fd->ov = NULL;
        return false;
    }
    fd->alt_pos = lo;
    fd->alt_last = lo;
    return true;
}

/*
 * The stream's own bytes [off, off+n) (fapp_data, before they are retained):
 * the alternative takes the stream up to ALT_LAG bytes behind their end, and
 * ends ALT_RUN bytes after its last conflict.
 */
static void alt_follow(fapp_t *a, fdir_t *fd, uint64_t off, const uint8_t *p, size_t n)
{
    uint64_t run_end = fd->alt_last + ALT_RUN;
    uint64_t to = alt_min(off + n > ALT_LAG ? off + n - ALT_LAG : 0, run_end);

    if (to > fd->alt_pos && !alt_take(a, fd, to, p, n)) {
        alt_stop(a, fd, false);
        return;
    }
    if (fd->alt_pos >= run_end)
        alt_stop(a, fd, false);
}

void fapp_data(fapp_t *a, int dir, const uint8_t *p, size_t n)
{
    if (a->evf != NULL)
        ev_anchor(a, dir, p, a->d[dir].fed);
    if (a->d[dir].alt != NULL)
        alt_follow(a, &a->d[dir], a->d[dir].fed, p, n);
    raw_settle(a, &a->d[!dir]);
    a->d[dir].fed += n;
    if (a->kind == KIND_UNDECIDED && a->px_dir[dir] == PX_INNER)
        sniff_feed(a, dir, p, n, false);
    else
        decode(a, dir, p, n);
}

/*
 * The alt stream runs over the stream's own byte at 'off' (an urgent byte,
 * retained inline), taking it from the ring with the bytes around it; nothing
 * is placed there, so a conflicting copy of it (the junk copy that marked it
 * urgent dropped by the receiver, the real one after) is still placed in it.
 */
static void alt_cover(fapp_t *a, fdir_t *fd, uint64_t off)
{
    if (!fd->egress || det_flow(a) == NULL)
        return;
    if (fd->alt != NULL && off > fd->alt_last + ALT_RUN)
        alt_stop(a, fd, true); /* too far on: a new one */
    if (fd->alt == NULL && !alt_start(a, fd, off))
        return;
    alt_rebase(a, fd, off);
    if (off + 1 > fd->alt_last)
        fd->alt_last = off + 1;
}

/*
 * An urgent byte: a receiver without SO_OOBINLINE (nearly every server) reads
 * the stream without it, and so do the decoders here; one that keeps it
 * inline reads the other version of this offset, the stream itself, which
 * the alt stream scans with the bytes around it ("the other version" below).
 */
void fapp_urgent(fapp_t *a, int dir, uint64_t off, uint8_t b)
{
    fdir_t *fd = &a->d[dir];

    if (fd->alt != NULL)
        alt_follow(a, fd, fd->fed, &b, 1);
    raw_settle(a, &a->d[!dir]);
    fd->fed++;
    fd->skip_total++;
    fd->skip_end = fd->fed;
    if (a->kind == KIND_UNDECIDED && a->px_dir[dir] == PX_INNER)
        fd->sniff_skips++;
    else
        fd->dpos++;
    alt_cover(a, fd, off);
}

void fapp_gap(fapp_t *a, int dir, uint64_t len)
{
    fdir_t *fd = &a->d[dir];

    alt_stop(a, fd, true); /* the bytes before the gap are still retained */
    fd->fed += len;
    fd->skip_total += len;
    fd->skip_end = fd->fed;
    if (a->kind == KIND_UNDECIDED && fd->nsniff > 0)
        sniff_feed(a, dir, NULL, 0, true);
    fd->dpos += len;
    note(fd, DLP_NOTE_GAP, len);
    if (a->px_dir[dir] != PX_INNER) {
        px_gap(a, dir, len);
        return;
    }
    if (a->kind == KIND_DNS && dir == 0)
        dns_to_raw(a, fd, NULL, 0); /* the framing is lost */
    if (a->kind == KIND_HTTP)
        dlp_http_gap(a->p.http, dir, len);
    else if (a->kind == KIND_SMTP)
        dlp_smtp_gap(a->p.smtp, dir, len);
    else if (a->kind == KIND_FTP)
        dlp_ftp_gap(a->p.ftp, dir, len);
    else if (a->kind == KIND_WS)
        ws_gap(a, dir, len);
    else if (a->kind == KIND_H2)
        h2_gap(a, dir, len);
    else if (a->kind == KIND_FTP_DATA)
        ftp_data_gap(fd);
    /* a raw stream: the direction's own, or an SMTP/FTP server's replies beside the decoder */
    if (fd->raw != NULL && a->kind != KIND_HTTP && a->kind != KIND_WS)
        cstream_gap(fd->raw, len);
}

/*
 * A raw stream silent for DLP_SETTLE_IDLE_US of packet time is settled as if
 * its peer had answered: on a one-sided tap the answer is never seen, and a
 * client that sent its last value and went quiet would otherwise have it
 * reported only with its next write or when the flow times out.
 */
void fapp_idle_settle(fapp_env_t *env, uint64_t now_us)
{
    while (env->idle_head != NULL && env->idle_head->raw_last_us + DLP_SETTLE_IDLE_US <= now_us)
        raw_settle(env->idle_head->a, env->idle_head);
}

void fapp_fin(fapp_t *a, int dir)
{
    raw_settle(a, &a->d[dir]); /* its sender is done: its last value need not wait */
}

void fapp_end(fapp_t *a, int dir)
{
    fdir_t *fd = &a->d[dir];

    alt_stop(a, fd, true); /* what came after its last conflict, if retained */
    if (a->kind == KIND_UNDECIDED && fd->nsniff > 0)
        sniff_feed(a, dir, NULL, 0, true);
    if (a->px_dir[dir] != PX_INNER)
        px_end(a, dir);
    else if (a->kind == KIND_HTTP || (a->kind == KIND_WS && a->ws_http[dir]))
        dlp_http_end(a->p.http, dir);
    else if (a->kind == KIND_SMTP)
        dlp_smtp_end(a->p.smtp, dir);
    else if (a->kind == KIND_FTP)
        dlp_ftp_end(a->p.ftp, dir);
    else if (a->kind == KIND_DNS && dir == 0)
        dns_flush(a, fd);
    else if (a->kind == KIND_WS)
        dlp_ws_end(a->ws[dir]);
    else if (a->kind == KIND_H2)
        h2_end(a, dir);
    mz_stop(fd, true);
    idle_unlink(fd);
    cstream_free(fd->raw);
    fd->raw = NULL;
}

/*
 * Places the other version [off, off+n) (off >= alt_pos) among those not taken
 * yet, taking the stream's bytes before it to make room; false if it does not
 * all fit (too far ahead of the stream, or no longer retained around).
 */
static bool alt_place(fapp_t *a, fdir_t *fd, uint64_t off, const uint8_t *p, size_t n)
{
    for (;;) {
        uint64_t lim = fd->alt_pos + ALT_LAG;
        size_t k = off < lim ? (size_t)alt_min(n, lim - off) : 0;
        ov_put(fd->ov, off, p, k);
        off += k;
        p += k;
        n -= k;
        if (k > 0 && off > fd->alt_last)
            fd->alt_last = off;
        if (n == 0)
            return true;
        /* room: take what is before the rest, never past it (not placed yet) */
        uint64_t want = alt_min(fd->fed, alt_min(off, off + n - ALT_LAG));
        if (want <= fd->alt_pos || !alt_take(a, fd, want, NULL, 0))
            return false;
    }
}

void fapp_conflict(fapp_t *a, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    fdir_t *fd = &a->d[dir];
    uint64_t at = off;
    size_t skip;
    bool alone;

    if (!fd->egress || n == 0 || det_flow(a) == NULL)
        return;
    if (fd->alt != NULL && off > fd->alt_last + ALT_RUN)
        alt_stop(a, fd, true); /* too far on: a new one */
    if (fd->alt == NULL && !alt_start(a, fd, off)) {
        alt_block(a, dir, off, p, n);
        return;
    }
    alt_rebase(a, fd, off);
    if (at < fd->alt_pos)
        at = fd->alt_pos;
    skip = at < off + n ? (size_t)(at - off) : n;
    /* Partly behind what it took, over another version placed first, or not all
     * placed: on its own too, whole. */
    alone = skip > 0;
    if (skip < n) {
        uint64_t win = fd->alt_pos + ALT_LAG;
        size_t m = n - skip, in = at < win ? (size_t)alt_min(m, win - at) : 0;
        if (ov_any(fd->ov, at, in) || !alt_place(a, fd, at, p + skip, m))
            alone = true;
    }
    if (alone)
        alt_block(a, dir, off, p, n);
}

static void dgram_scan(fapp_t *a, fdir_t *fd, const uint8_t *p, size_t n, uint64_t off)
{
    if (!a->env->raw_only && a->f->key.proto == DLP_PROTO_UDP &&
        (port_is(a, 53) || dlp_dns_is_query(p, n)) &&
        dlp_dns_message(p, n, &content_sink, fd) == DLP_OK) {
        a->dns_dgrams = true;
        return;
    }
    if (a->kind == KIND_ENCRYPTED) {
        /* QUIC, DTLS...: nDPI read the handshake. Scanning ciphertext only finds
         * what random bytes spell (an address in a QUIC call, public captures). */
        uninspected(fd, n);
        return;
    }
    if (det_flow(a) == NULL)
        return;
    fd->inspected += n;
    dlp_stat_add(a->env->stats, DLP_STAT_EGRESS_DGRAM_BYTES, n);
    dlp_detect_block(a->detect, a->det, fd->dir, DLP_FIELD_RAW, p, n, off, *a->env->now_us);
}

void fapp_dgram(fapp_t *a, int dir, const uint8_t *p, size_t n, uint64_t off)
{
    fdir_t *fd = &a->d[dir];
    vctx_t old;

    if (!fd->egress || n == 0)
        return;
    old = ev_begin(a, VK_SPAN, NULL, off, off + n); /* whatever is found: this datagram */
    dgram_scan(a, fd, p, n, off);
    a->v = old;
}

/* --- classification ------------------------------------------------------------ */

/* nDPI's answer r, with its risks' names, becomes the flow's. */
static void adopt_result(fapp_t *a, const dlp_classify_result_t *r)
{
    a->res = *r;
    if (r->risks != 0)
        dlp_classify_risk_names(a->env->classify, r->risks, a->risks, sizeof(a->risks));
}

static void take_verdict(fapp_t *a, const dlp_classify_result_t *r)
{
    adopt_result(a, r);
    a->classified = true;
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
    if (a->evf != NULL && a->tcp) {
        a->pkt_pl = dlp_packet_payload(p);
        a->pkt_len = p->payload_len;
        a->pkt_seq = p->tcp_seq + ((p->tcp_flags & DLP_TCP_SYN) ? 1u : 0u);
    }
    /* After fapp_last_label (both FINs in) nDPI has given up: the verdict waits for
     * fapp_finish, after the streams' ends, not the next packet (the last ACK). */
    if (a->cls == NULL || a->classified || a->labelled_last)
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
    snprintf(a->res.app_proto, sizeof(a->res.app_proto), DLP_APP_UNKNOWN);
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

void fapp_set_retained(fapp_t *a, fapp_retained_fn fn, void *ctx)
{
    a->retained = fn;
    a->retained_ctx = ctx;
}

void fapp_set_evidence(fapp_t *a, dlp_evidence_flow_t *evf)
{
    a->evf = evf;
    if (a->det != NULL && evf != NULL)
        dlp_detect_flow_set_value_hook(a->det, ev_value, a);
}

/*
 * nDPI's last word (a guess, often by port) labels, with its risks, what
 * the reassembly flushes from behind a gap and the streams' ends still find,
 * so the flow's last dlp events name what its flow event names. The verdict
 * itself is taken after the ends (fapp_finish), so a protocol nDPI calls
 * encrypted only now cannot drop bytes the streams hold.
 */
void fapp_last_label(fapp_t *a)
{
    if (a->cls == NULL || a->classified || a->labelled_last)
        return;
    adopt_result(a, dlp_classify_result(a->env->classify, a->cls, true));
    a->labelled_last = true;
    set_label(a);
}

void fapp_finish(fapp_t *a)
{
    a->pkt_pl = NULL; /* what is flushed from now on comes from held copies */
    fapp_last_label(a);
    for (int d = 0; d < 2; d++)
        fapp_end(a, d);
    if (a->cls != NULL && !a->classified)
        take_verdict(a, dlp_classify_result(a->env->classify, a->cls, true));
}

/* stats app_flows: which decoder had the flow (what the sensor could read of it). */
static void count_flow(const fapp_t *a)
{
    dlp_stat_id_t id = DLP_STAT_APP_FLOWS_UNDECODED;

    if (a->kind == KIND_FTP_DATA)
        id = DLP_STAT_APP_FLOWS_FTP_DATA;
    else if (a->dec == KIND_HTTP || a->dec == KIND_H2)
        id = DLP_STAT_APP_FLOWS_HTTP;
    else if (a->dec == KIND_SMTP)
        id = DLP_STAT_APP_FLOWS_SMTP;
    else if (a->dec == KIND_FTP)
        id = DLP_STAT_APP_FLOWS_FTP;
    else if (a->dec == KIND_DNS || a->dns_dgrams)
        id = DLP_STAT_APP_FLOWS_DNS;
    else if (a->kind == KIND_ENCRYPTED)
        id = DLP_STAT_APP_FLOWS_ENCRYPTED;
    dlp_stat_inc(a->env->stats, id);
}

void fapp_free(fapp_t *a)
{
    if (a == NULL)
        return;
    count_flow(a);
    for (int d = 0; d < 2; d++) {
        alt_stop(a, &a->d[d], false);
        idle_unlink(&a->d[d]);
        mz_stop(&a->d[d], false);
        cstream_free(a->d[d].raw);
    }
    switch (a->dec) {
    case KIND_HTTP: dlp_http_free(a->p.http); break;
    case KIND_SMTP: dlp_smtp_free(a->p.smtp); break;
    case KIND_FTP: dlp_ftp_free(a->p.ftp); break;
    case KIND_DNS: dlp_dns_stream_free(a->p.dns); break;
    default: break;
    }
    dlp_h2_free(a->h2[0]);
    dlp_h2_free(a->h2[1]);
    dlp_ws_free(a->ws[0]);
    dlp_ws_free(a->ws[1]);
    dlp_http_free(a->px_http);
    dlp_socks_free(a->px_socks);
    dlp_classify_flow_free(a->cls);
    dlp_detect_flow_free(a->detect, a->det);
    free(a);
}

uint16_t fapp_alerts(const fapp_t *a) { return dlp_detect_flow_alerts(a->det); }

/* Names the sender chose (Host, SNI) go out with their values masked. */
static void report_text(fapp_t *a, const char *in, char *out, size_t cap)
{
    if (a->detect != NULL)
        dlp_detect_redact(a->detect, in, strlen(in), out, cap);
    else
        snprintf(out, cap, "%s", in);
}

/*
 * A server name nDPI may have cut (it keeps the last 79 bytes of a longer one): the
 * label at either end may be part of a value, no value any more, which the masking
 * cannot find ("148803436467.aaa...", the end of a card): both are shown as '*'s.
 */
static void star_cut_ends(char *s)
{
    char *first = strchr(s, '.'), *last = strrchr(s, '.');

    if (first == NULL) {
        memset(s, '*', strlen(s));
        return;
    }
    memset(s, '*', (size_t)(first - s));
    memset(last + 1, '*', strlen(last + 1));
}

void fapp_report(fapp_t *a, dlp_event_t *ev, uint64_t ts_us)
{
    if (a->det != NULL)
        dlp_detect_flow_report(a->detect, a->det, ts_us);
    snprintf(ev->fl.app_proto, sizeof(ev->fl.app_proto), "%s", label(a));
    report_text(a, a->host, ev->u.flow.http_host, sizeof(ev->u.flow.http_host));
    if (a->res.encrypted) {
        char sni[sizeof(a->res.host)];
        snprintf(sni, sizeof(sni), "%s", a->res.host);
        if (a->res.host_cut)
            star_cut_ends(sni);
        report_text(a, sni, ev->u.flow.tls_sni, sizeof(ev->u.flow.tls_sni));
    }
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
    size_t m = sizeof(*a) + dlp_classify_flow_mem(a->cls) + dlp_detect_flow_mem(a->det) +
               a->unpack_mem;

    for (int d = 0; d < 2; d++)
        if (a->d[d].alt != NULL)
            m += dlp_detect_stream_mem(a->d[d].alt) + sizeof(*a->d[d].ov);

    if (a->dec == KIND_HTTP)
        m += dlp_http_mem(a->p.http);
    else if (a->dec == KIND_SMTP)
        m += dlp_smtp_mem(a->p.smtp);
    else if (a->dec == KIND_FTP)
        m += dlp_ftp_mem(a->p.ftp);
    else if (a->dec == KIND_DNS)
        m += dlp_dns_stream_mem(a->p.dns);
    m += dlp_h2_mem(a->h2[0]) + dlp_h2_mem(a->h2[1]);
    m += dlp_ws_mem(a->ws[0]) + dlp_ws_mem(a->ws[1]);
    m += dlp_http_mem(a->px_http) + dlp_socks_mem(a->px_socks);
    return m;
}
