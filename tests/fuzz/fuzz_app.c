/*
 * fuzz_app.c - libFuzzer target for the application decoders (sensor/app):
 * HTTP (with chunked, gzip/deflate, forms, multipart through the MIME
 * walker, and WebSocket after an upgrade), SMTP (MIME, base64, quoted-
 * printable), FTP control, DNS over TCP and UDP; every content stream they
 * open also goes through textnorm and, when it starts like a ZIP archive,
 * through the ZIP walker (as the worker does).
 *
 * Why the decoders' public API and not flowapp (sensor/dispatch): flowapp
 * needs the matcher, detection and the flow's packets, and its extra
 * behaviour (sniffing, evidence maps, joins) is not the decoders'. The
 * only flowapp logic copied here is the HTTP -> WebSocket / h2c / raw
 * hand-over (flowapp.c ws_run, h2_frames, http_upgraded), which is what makes
 * ws.c and h2.c reachable (h2c by an upgrade only: prior knowledge is
 * flowapp's sniffing).
 *
 * Input:
 *   byte 0: bits 0-2 protocol: 0 HTTP (+WebSocket, h2c), 1 SMTP, 2 FTP control,
 *           3 DNS over TCP (direction 0 only), 4 DNS over UDP (each
 *           direction-0 write is one datagram), 5-7 a chunked body
 *           (direction 0 only, gaps ignored: stages have none) through the
 *           content stages: 5 chunked, 6 chunked + gzip, 7 chunked + form
 *           (the HTTP parser frames chunked bodies itself: the chunked
 *           stage is reached only so);
 *           bits 3-4 limits: 0 defaults (decomp_max 64 KiB), 1 small,
 *           2 tiny, 3 defaults; bits 5-6 WebSocket and h2c frame_max: 0 default,
 *           1: 100, 2: 10, 3: 3; bit 7 end direction 1 before direction 0.
 *   byte 1: k-1, the number of script entries (1..64, bits 0-5).
 *   k entries of 2 bytes: e0 bit 7 direction, bit 6 gap, bits 0-5 and e1
 *           a length L (14 bits). A write is the next min(L, rest) data
 *           bytes (L = 0: 1 byte) to that direction; a gap is L+1 missing
 *           bytes (at most 16 gaps, later ones are skipped). The script
 *           repeats until the data is used up.
 *   the rest: the data, cut into the writes in order.
 * Then each direction ends (dlp_<p>_end) and the decoder is freed.
 *
 * Checked (beyond ASan/UBSan and the leak check):
 *  - split invariance: the script's cut, every write cut into 1-byte
 *    writes, consecutive writes of one direction merged, and every write
 *    cut at pseudo-random points must report, per direction, the same
 *    items in the same order: streams (field, name, bytes, bytes after
 *    textnorm, closed), blocks, notes (with their byte counts), meta,
 *    expectations, ZIP members. The interleaving of the two directions is
 *    the script's in every variant (a response depends on its request).
 *    Not for DNS over UDP: a datagram is a message, not a cut of a stream.
 *    After a DNS-over-TCP framing error the decoder stops (as in flowapp,
 *    the bytes of the failing write are then lost: which depends on the
 *    cut; here nothing after the error is looked at);
 *    For a chunked body, where it ended or its framing failed (an offset
 *    of the stream: dlp_stage_chunked_status' consumed) is compared too, and
 *    the status must not change after it (consumed is only checked where it
 *    is defined: not for writes after an error, which the stage never sees);
 *  - sink calls: fields, notes, meta keys in range; writes and closes only
 *    to open streams of that direction; names NUL-terminated and bounded;
 *    every stream closed once the flow ends;
 *  - bounds: consumed <= n (http, ws), held bytes <= bytes fed (ws); a
 *    stream not longer than twice its direction's bytes plus the
 *    decompression cap; the byte count of a decoder's note not above its
 *    direction's bytes (gaps included) plus the decompression cap (a MIME
 *    part's note counts the part's decoded bytes, inflated when the HTTP
 *    body was gzip; ZIP notes are not checked: they carry sizes from the
 *    archive's headers); what the decoders hold (dlp_<p>_mem) under 4 MiB;
 *  - a ZIP member not longer than decomp_max, unless stored: then not
 *    longer than its archive (zip.h's per-member decomp_max bounds the
 *    inflated output; a stored member is the wire's own bytes);
 *  - a block not longer than line_max, header_block_max or a DNS name's
 *    text (+64), or than a DNS message (reported whole when it holds more
 *    than names); textnorm's output not longer than its input;
 *  - media: a sniff verdict on fewer bytes is MORE or the final one; ZIP
 *    and gzip files are media.
 * FUZZ_APP_DUMP set in the environment prints what the script's cut reported.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/dns.h"
#include "dlp/ftp.h"
#include "dlp/h2.h"
#include "dlp/http.h"
#include "dlp/limits.h"
#include "dlp/media.h"
#include "dlp/smtp.h"
#include "dlp/stage.h"
#include "dlp/ws.h"
#include "dlp/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 64
#define MAX_GAPS 16
#define MAX_ITEMS 20000
#define NAME_MAX_LEN 300

enum { P_HTTP, P_SMTP, P_FTP, P_DNS_TCP, P_DNS_UDP, P_CHUNKED, P_CHUNKED_GZIP, P_CHUNKED_FORM };
enum { M_HTTP, M_WS, M_RAW, M_DONE, M_H2 }; /* HTTP flow: what each direction is now */

/* ---- recording sink ------------------------------------------------------ */

typedef struct item {
    char kind;          /* S stream, B block, N note, M meta, E expect, Z zip member */
    int field;
    char name[NAME_MAX_LEN];
    uint64_t len, hash; /* bytes and FNV-1a of a stream, block or meta value */
    uint64_t tn_len, tn_hash; /* a stream after textnorm */
    uint64_t bytes;     /* note */
    bool open, tn_open;
    dlp_app_expect_t expect;
    dlp_stage_t *tn;    /* textnorm -> tn_sink */
    uint8_t sniff[DLP_MEDIA_SNIFF_BYTES];
    size_t nsniff;
    bool decided;
    dlp_zip_t *zip;
    struct item *zip_parent; /* Z: the stream the archive is in */
    struct rec *rec;
} item_t;

typedef struct rec {
    item_t *it[MAX_ITEMS];
    size_t n;
    uint64_t in;        /* bytes and gaps fed to this direction */
    const uint8_t *cur; /* the write in progress (secret() points into it), or NULL */
    size_t curn;
    uint64_t decomp_max;
    const dlp_app_limits_t *l;
} rec_t;

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_app: %s\n", why);
    abort();
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static item_t *add(rec_t *r, char kind, int field)
{
    item_t *it;

    if (r->n == MAX_ITEMS)
        fail("too many items");
    it = calloc(1, sizeof(*it));
    if (it == NULL)
        fail("out of memory");
    it->kind = kind;
    it->field = field;
    it->hash = it->tn_hash = 0xcbf29ce484222325ULL;
    it->rec = r;
    r->it[r->n++] = it;
    return it;
}

static void set_name(item_t *it, const char *name)
{
    size_t len;

    if (name == NULL)
        return;
    len = strnlen(name, NAME_MAX_LEN);
    if (len >= NAME_MAX_LEN)
        fail("stream name not terminated or too long");
    memcpy(it->name, name, len + 1);
}

static void check_stream_len(const item_t *it)
{
    const rec_t *r = it->rec;

    if (it->len > 2 * r->in + r->decomp_max + 64)
        fail("stream longer than its direction's bytes allow");
}

/* A block is one bounded thing: a line, a header, a DNS name (1020 bytes as \DDD text),
 * or a DNS message holding more than names, reported whole (at most 65535 bytes). */
static void check_block_len(const item_t *it)
{
    const dlp_app_limits_t *l = it->rec->l;
    uint64_t max = l->line_max > l->header_block_max ? l->line_max : l->header_block_max;

    if (it->field == DLP_FIELD_DNS_QUERY && it->len <= UINT16_MAX)
        return;
    if (it->len > (max > 1020 ? max : 1020) + 64)
        fail("a block longer than a line, a header block or a DNS name");
}

static void *tn_open(void *ctx, dlp_field_t field, const char *name)
{
    (void)field;
    (void)name;
    ((item_t *)ctx)->tn_open = true;
    return ctx;
}

static void tn_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    item_t *it = h;

    if (ctx != h || !it->tn_open || (p == NULL && n > 0))
        fail("textnorm: write to a stream not open");
    it->tn_hash = fnv(it->tn_hash, p, n);
    it->tn_len += n;
}

static void tn_close(void *ctx, void *h)
{
    if (ctx != h || !((item_t *)h)->tn_open)
        fail("textnorm: close of a stream not open");
    ((item_t *)h)->tn_open = false;
}

static void tn_note(void *ctx, dlp_app_note_t note, uint64_t bytes)
{
    (void)ctx;
    (void)bytes;
    if ((unsigned)note >= DLP_NOTE__COUNT)
        fail("textnorm: note out of range");
}

static const dlp_content_sink_t tn_sink = {
    .open = tn_open, .write = tn_write, .close = tn_close, .note = tn_note,
};

/* ---- ZIP members of a stream --------------------------------------------- */

/* ctx: the stream item the archive is in. */
static void *zm_open(void *ctx, const char *name)
{
    item_t *it = add(((item_t *)ctx)->rec, 'Z', 0);

    set_name(it, name);
    it->open = true;
    it->zip_parent = ctx;
    return it;
}

static void zm_write(void *ctx, void *m, const uint8_t *p, size_t n)
{
    item_t *it = m;

    if (it->zip_parent != ctx || !it->open || it->kind != 'Z' || (p == NULL && n > 0))
        fail("zip: write to a member not open");
    it->hash = fnv(it->hash, p, n);
    it->len += n;
    /* decomp_max bounds what is inflated; a stored member is the archive's own bytes */
    if (it->len > it->rec->decomp_max && it->len > it->zip_parent->len)
        fail("zip: member over decomp_max and longer than its archive");
}

static void zm_close(void *ctx, void *m)
{
    item_t *it = m;

    if (it->zip_parent != ctx || !it->open || it->kind != 'Z')
        fail("zip: close of a member not open");
    it->open = false;
}

static void zm_note(void *ctx, dlp_app_note_t note, uint64_t bytes)
{
    if ((unsigned)note >= DLP_NOTE__COUNT)
        fail("zip: note out of range");
    add(((item_t *)ctx)->rec, 'N', (int)note)->bytes = bytes;
}

static const dlp_zip_ops_t zip_ops = {
    .open = zm_open, .write = zm_write, .close = zm_close, .note = zm_note,
};

/* A verdict on fewer bytes is MORE or the same as on all DLP_MEDIA_SNIFF_BYTES (flowapp
 * decides once it has them; a verdict must not change with more bytes), and a ZIP or gzip
 * file is media. */
static void check_sniff(const uint8_t *p, size_t n)
{
    dlp_media_t all = dlp_media_sniff(p, n);

    for (size_t k = 0; k < n; k++) {
        dlp_media_t some = dlp_media_sniff(p, k);
        if (some != DLP_MEDIA_MORE && some != all)
            fail("media: the verdict on a prefix differs");
    }
    if ((dlp_media_zip(p, n) || dlp_media_gzip(p, n)) && all != DLP_MEDIA_YES)
        fail("media: a ZIP or gzip file is not media");
}

/* Streams starting like a ZIP archive are walked, as flowapp does (it sniffs
 * DLP_MEDIA_SNIFF_BYTES first, so the decision does not depend on the cut). */
static void zip_feed(item_t *it, const uint8_t *p, size_t n, bool last)
{
    size_t take;

    if (!it->decided) {
        take = DLP_MEDIA_SNIFF_BYTES - it->nsniff;
        take = take < n ? take : n;
        if (take > 0) {
            memcpy(it->sniff + it->nsniff, p, take);
            it->nsniff += take;
            p += take;
            n -= take;
        }
        if (it->nsniff < DLP_MEDIA_SNIFF_BYTES && !last)
            return;
        it->decided = true;
        check_sniff(it->sniff, it->nsniff);
        if (dlp_media_zip(it->sniff, it->nsniff)) {
            it->zip = dlp_zip_new(&zip_ops, it, it->rec->l);
            if (it->zip == NULL)
                fail("zip: out of memory");
            dlp_zip_write(it->zip, it->sniff, it->nsniff);
        }
    }
    if (it->zip != NULL && n > 0)
        dlp_zip_write(it->zip, p, n);
}

/* ---- the decoders' sink ---------------------------------------------------- */

static void *s_open(void *ctx, dlp_field_t field, const char *name)
{
    item_t *it;

    if ((unsigned)field >= DLP_FIELD__COUNT)
        fail("open: field out of range");
    it = add(ctx, 'S', (int)field);
    set_name(it, name);
    it->open = true;
    it->tn = dlp_stage_textnorm_new(dlp_stage_sink_new(&tn_sink, it, field, name));
    if (it->tn == NULL)
        fail("textnorm: out of memory");
    return it;
}

static void s_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    item_t *it = h;

    if (it == NULL || it->rec != ctx || it->kind != 'S' || !it->open)
        fail("write to a stream not open in this direction");
    if (p == NULL && n > 0)
        fail("write of NULL");
    it->hash = fnv(it->hash, p, n);
    it->len += n;
    check_stream_len(it);
    (void)dlp_media_has_text(p, n);
    if (dlp_stage_write(it->tn, p, n) != DLP_OK)
        fail("textnorm write failed");
    zip_feed(it, p, n, false);
}

static void s_close(void *ctx, void *h)
{
    item_t *it = h;

    if (it == NULL || it->rec != ctx || it->kind != 'S' || !it->open)
        fail("close of a stream not open in this direction");
    it->open = false;
    if (dlp_stage_end(it->tn) != DLP_OK)
        fail("textnorm end failed");
    dlp_stage_free_chain(it->tn);
    it->tn = NULL;
    if (it->tn_len > it->len || it->tn_open)
        fail("textnorm: more bytes out than in, or its stream left open");
    zip_feed(it, NULL, 0, true);
    if (it->zip != NULL) {
        dlp_zip_end(it->zip);
        dlp_zip_free(it->zip);
        it->zip = NULL;
    }
}

static void s_block(void *ctx, dlp_field_t field, const uint8_t *p, size_t n)
{
    item_t *it;

    if ((unsigned)field >= DLP_FIELD__COUNT || (p == NULL && n > 0))
        fail("block: bad field or pointer");
    it = add(ctx, 'B', (int)field);
    it->hash = fnv(it->hash, p, n);
    it->len = n;
    check_stream_len(it);
    check_block_len(it);
}

static void s_note(void *ctx, dlp_app_note_t note, uint64_t bytes)
{
    rec_t *r = ctx;

    if ((unsigned)note >= DLP_NOTE__COUNT)
        fail("note out of range");
    /* a MIME part's note counts its decoded bytes: a gzip body's are inflated */
    if (bytes > r->in + r->decomp_max)
        fail("note counts more bytes than the direction had");
    add(r, 'N', (int)note)->bytes = bytes;
}

static void s_meta(void *ctx, dlp_app_meta_t key, const uint8_t *v, size_t n)
{
    item_t *it;

    if ((unsigned)key >= DLP_META__COUNT || (v == NULL && n > 0))
        fail("meta: bad key or pointer");
    it = add(ctx, 'M', (int)key);
    it->hash = fnv(it->hash, v, n);
    it->len = n;
}

static void s_expect(void *ctx, const dlp_app_expect_t *e)
{
    if (e == NULL || e->active > 1 || e->upload > 1)
        fail("expect: bad expectation");
    add(ctx, 'E', 0)->expect = *e;
}

/* A credential's place: inside (or just past) the write in progress, after as many bytes
 * as it counts; or, NULL, among the bytes fed. Not recorded: where a decoder stands when it
 * tells (a replay, a write) depends on the split, the output must not. */
static void s_secret(void *ctx, const uint8_t *end, size_t n)
{
    const rec_t *r = ctx;
    uintptr_t b = (uintptr_t)r->cur, q = (uintptr_t)end;

    if (n == 0)
        fail("secret: empty");
    if (end == NULL) {
        if (n > r->in)
            fail("secret: more bytes than fed");
        return;
    }
    if (r->cur == NULL || q < b || q - b > r->curn)
        fail("secret: end outside the write in progress");
    if (n > r->in - r->curn + (q - b))
        fail("secret: more bytes than fed before its end");
}

static const dlp_content_sink_t rec_sink = {
    .open = s_open, .write = s_write, .close = s_close, .block = s_block,
    .note = s_note, .meta = s_meta, .expect = s_expect, .secret = s_secret,
};

static void rec_free(rec_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        dlp_stage_free_chain(r->it[i]->tn);
        dlp_zip_free(r->it[i]->zip);
        free(r->it[i]);
    }
    r->n = 0;
}

static bool item_equal(const item_t *a, const item_t *b)
{
    return a->kind == b->kind && a->field == b->field && strcmp(a->name, b->name) == 0 &&
           a->len == b->len && a->hash == b->hash && a->tn_len == b->tn_len &&
           a->tn_hash == b->tn_hash && a->bytes == b->bytes && a->open == b->open &&
           memcmp(&a->expect, &b->expect, sizeof(a->expect)) == 0;
}

static void dump(const char *what, const rec_t *r)
{
    fprintf(stderr, "%s: %zu items\n", what, r->n);
    for (size_t i = 0; i < r->n; i++) {
        const item_t *it = r->it[i];
        fprintf(stderr, "  [%zu] %c field=%d name=\"%s\" len=%llu hash=%016llx tn=%llu/%016llx "
                "bytes=%llu open=%d\n", i, it->kind, it->field, it->name,
                (unsigned long long)it->len, (unsigned long long)it->hash,
                (unsigned long long)it->tn_len, (unsigned long long)it->tn_hash,
                (unsigned long long)it->bytes, it->open);
    }
}

static void compare(const rec_t *a, const rec_t *b, const char *variant, int dir)
{
    bool same = a->n == b->n;

    for (size_t i = 0; same && i < a->n; i++)
        same = item_equal(a->it[i], b->it[i]);
    if (same)
        return;
    fprintf(stderr, "fuzz_app: direction %d: the %s split reports differently\n", dir, variant);
    dump("script cut", a);
    dump(variant, b);
    abort();
}

/* ---- the flow ---------------------------------------------------------------- */

typedef struct write_op {
    uint8_t dir, gap;
    uint32_t len; /* write or gap bytes */
    const uint8_t *p;
} write_op_t;

typedef struct flow {
    int proto;
    const dlp_app_limits_t *l;
    uint64_t frame_max;
    rec_t rec[2];
    void *ctx[2];
    dlp_http_t *http;
    dlp_smtp_t *smtp;
    dlp_ftp_t *ftp;
    dlp_dns_stream_t *dns;
    int mode[2];             /* HTTP: M_* */
    dlp_ws_t *ws[2];
    uint64_t ws_fed[2];
    dlp_h2_t *h2[2];
    uint64_t h2_fed[2];
    item_t *raw[2];          /* HTTP handed over: the rest of a direction, raw */
    dlp_stage_t *chain;      /* P_CHUNKED*: chunked -> [inflate | form] -> sink */
    uint64_t chain_in;       /* bytes written to it */
    dlp_rc_t chain_status;   /* DLP_AGAIN until the body ended or its framing failed */
} flow_t;

static void raw_write(flow_t *f, int dir, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (f->raw[dir] == NULL)
        f->raw[dir] = s_open(&f->rec[dir], DLP_FIELD_RAW, NULL);
    s_write(&f->rec[dir], f->raw[dir], p, n);
}

static void raw_gap(flow_t *f, int dir, uint64_t len)
{
    uint8_t mark[9] = {0xff};

    if (f->raw[dir] == NULL)
        return;
    memcpy(mark + 1, &len, sizeof(len));
    f->raw[dir]->hash = fnv(f->raw[dir]->hash, mark, sizeof(mark));
}

/* HTTP let direction dir go (flowapp.c http_upgraded): WebSocket, or raw. */
static void http_upgraded(flow_t *f, int dir)
{
    dlp_http_ws_t u;
    dlp_ws_opts_t o = {0};
    dlp_h2_opts_t o2 = {.client = dir == 0, .frame_max = (uint32_t)f->frame_max};

    if (dlp_http_h2c(f->http)) {
        f->mode[dir] = M_H2;
        f->h2[dir] = dlp_h2_new(&rec_sink, &f->rec[dir], f->l, &o2);
        if (f->h2[dir] == NULL)
            fail("h2: out of memory");
        return;
    }
    if (!dlp_http_websocket(f->http, &u)) {
        f->mode[0] = f->mode[1] = M_RAW;
        return;
    }
    f->mode[dir] = M_WS;
    o.no_context_takeover = u.no_context_takeover[dir];
    o.frame_max = f->frame_max;
    f->ws[dir] = dlp_ws_new(&rec_sink, &f->rec[dir], f->l, &o);
    if (f->ws[dir] == NULL)
        fail("ws: out of memory");
}

/* flowapp.c ws_run: frames until they turn out not to be, then raw. */
static void ws_run(flow_t *f, int dir, const uint8_t *p, size_t n)
{
    const uint8_t *held = NULL;
    size_t k = 0, nh;

    if (f->ws[dir] == NULL) {
        raw_write(f, dir, p, n);
        return;
    }
    f->ws_fed[dir] += n;
    if (dlp_ws_write(f->ws[dir], p, n, &k) != DLP_EPROTO)
        return;
    nh = dlp_ws_held(f->ws[dir], &held);
    if (k > n || nh > f->ws_fed[dir] || (nh > 0 && held == NULL))
        fail("ws: consumed or held out of bounds");
    raw_write(f, dir, held, nh);
    dlp_ws_free(f->ws[dir]);
    f->ws[dir] = NULL;
    raw_write(f, dir, p + k, n - k);
}

/* flowapp.c h2_frames: frames until they turn out not to be, then raw. */
static void h2_run(flow_t *f, int dir, const uint8_t *p, size_t n)
{
    const uint8_t *held = NULL;
    size_t k = 0, nh;

    if (f->h2[dir] == NULL) {
        raw_write(f, dir, p, n);
        return;
    }
    f->h2_fed[dir] += n;
    if (dlp_h2_write(f->h2[dir], p, n, &k) != DLP_EPROTO)
        return;
    nh = dlp_h2_held(f->h2[dir], &held);
    if (k > n || nh > f->h2_fed[dir] || nh > DLP_H2_PREFACE_LEN || (nh > 0 && held == NULL))
        fail("h2: consumed or held out of bounds");
    raw_write(f, dir, held, nh);
    dlp_h2_free(f->h2[dir]);
    f->h2[dir] = NULL;
    raw_write(f, dir, p + k, n - k);
}

static void http_write(flow_t *f, int dir, const uint8_t *p, size_t n)
{
    size_t used = n;

    switch (f->mode[dir]) {
    case M_WS: ws_run(f, dir, p, n); return;
    case M_H2: h2_run(f, dir, p, n); return;
    case M_RAW: raw_write(f, dir, p, n); return;
    case M_DONE: return;
    }
    if (dlp_http_write(f->http, dir, p, n, &used) != DLP_DONE)
        return;
    if (used > n)
        fail("http: consumed more than written");
    http_upgraded(f, dir);
    if (used < n)
        http_write(f, dir, p + used, n - used);
}

static void http_gap(flow_t *f, int dir, uint64_t len)
{
    if (f->mode[dir] == M_HTTP) {
        dlp_http_gap(f->http, dir, len);
    } else if (f->mode[dir] == M_WS && f->ws[dir] != NULL) {
        if (dlp_ws_gap(f->ws[dir], len) == DLP_EPROTO) {
            dlp_ws_free(f->ws[dir]);
            f->ws[dir] = NULL;
        }
    } else if (f->mode[dir] == M_H2 && f->h2[dir] != NULL) {
        if (dlp_h2_gap(f->h2[dir], len) == DLP_EPROTO) {
            dlp_h2_free(f->h2[dir]);
            f->h2[dir] = NULL;
        }
    } else {
        raw_gap(f, dir, len);
    }
}

/* ---- a chunked body through the content stages ----------------------------- */

static void chain_new(flow_t *f)
{
    dlp_stage_t *st = dlp_stage_sink_new(&rec_sink, &f->rec[0], DLP_FIELD_HTTP_BODY, NULL);

    if (st != NULL && f->proto == P_CHUNKED_GZIP)
        st = dlp_stage_inflate_new(st, f->l, 1);
    else if (st != NULL && f->proto == P_CHUNKED_FORM)
        st = dlp_stage_form_new(st);
    if (st != NULL)
        st = dlp_stage_chunked_new(st, f->l);
    if (st == NULL)
        fail("stages: out of memory");
    f->chain = st;
    f->chain_status = DLP_AGAIN;
}

/*
 * Where the body ended (or its framing failed) is a stream offset, the same
 * for every cut: recorded as an item 'C' (field: the status, bytes: the
 * offset). After that the status stays, with nothing more consumed.
 */
static void chain_write(flow_t *f, const uint8_t *p, size_t n)
{
    size_t used = SIZE_MAX;
    dlp_rc_t rc = dlp_stage_write(f->chain, p, n), st;

    st = dlp_stage_chunked_status(f->chain, &used);
    if (st != DLP_AGAIN && st != DLP_DONE && st != DLP_EPROTO && st != DLP_ELIMIT)
        fail("chunked: status out of range");
    /* consumed is defined for the write that ended or broke the framing, and 0 for writes
     * after the end; after an error the stage is skipped and it keeps its old value */
    if (used > n && !(f->chain_status != DLP_AGAIN && st != DLP_DONE))
        fail("chunked: consumed more than written");
    if (f->chain_status != DLP_AGAIN) {
        if (st != f->chain_status || (st == DLP_DONE && used != 0))
            fail("chunked: the status changed after the body ended");
    } else if (st != DLP_AGAIN) {
        item_t *it = add(&f->rec[0], 'C', (int)st);
        it->bytes = f->chain_in + used;
        f->chain_status = st;
    }
    if (st == DLP_DONE && rc != DLP_DONE)
        fail("chunked: the body ended but the write did not say so");
    f->chain_in += n;
}

static void chain_end(flow_t *f)
{
    if (f->chain == NULL)
        return;
    if (dlp_stage_end(f->chain) == DLP_ENOMEM)
        fail("stages: out of memory");
    dlp_stage_free_chain(f->chain);
    f->chain = NULL;
}

/* What a decoder holds stays bounded: its lines and header blocks, two inflaters per body
 * (content coding, a ZIP or gzip inside), a MIME walker; 4 MiB is far above all of it. */
static void check_mem(const flow_t *f)
{
    size_t m = dlp_http_mem(f->http) + dlp_smtp_mem(f->smtp) + dlp_ws_mem(f->ws[0]) +
               dlp_ws_mem(f->ws[1]) + dlp_h2_mem(f->h2[0]) + dlp_h2_mem(f->h2[1]);

    if (m > 4u * 1024 * 1024)
        fail("a decoder holds more than 4 MiB");
}

static void flow_write(flow_t *f, int dir, const uint8_t *p, size_t n)
{
    f->rec[dir].in += n;
    f->rec[dir].cur = p;
    f->rec[dir].curn = n;
    switch (f->proto) {
    case P_HTTP: http_write(f, dir, p, n); break;
    case P_SMTP:
        if (f->mode[0] != M_DONE && dlp_smtp_write(f->smtp, dir, p, n) == DLP_DONE)
            f->mode[0] = M_DONE;
        break;
    case P_FTP:
        if (f->mode[0] != M_DONE && dlp_ftp_write(f->ftp, dir, p, n) == DLP_DONE)
            f->mode[0] = M_DONE;
        break;
    case P_DNS_TCP:
        if (dir == 0 && f->mode[0] != M_DONE && dlp_dns_stream_write(f->dns, p, n, NULL) != DLP_OK)
            f->mode[0] = M_DONE;
        break;
    case P_CHUNKED:
    case P_CHUNKED_GZIP:
    case P_CHUNKED_FORM:
        if (dir == 0)
            chain_write(f, p, n);
        break;
    case P_DNS_UDP:
        if (dir == 0) {
            dlp_rc_t rc = dlp_dns_message(p, n, &rec_sink, &f->rec[0]);
            if (rc != DLP_OK && rc != DLP_EPROTO)
                fail("dns: neither OK nor EPROTO");
            (void)dlp_dns_is_query(p, n);
        }
        break;
    }
    f->rec[dir].cur = NULL;
    check_mem(f);
}

static void flow_gap(flow_t *f, int dir, uint64_t len)
{
    f->rec[dir].in += len;
    if (f->proto == P_HTTP)
        http_gap(f, dir, len);
    else if (f->proto == P_SMTP && f->mode[0] != M_DONE)
        dlp_smtp_gap(f->smtp, dir, len);
    else if (f->proto == P_FTP && f->mode[0] != M_DONE)
        dlp_ftp_gap(f->ftp, dir, len);
}

static void flow_end(flow_t *f, int dir)
{
    if (f->proto == P_HTTP) {
        if (f->mode[dir] == M_HTTP)
            dlp_http_end(f->http, dir);
        else if (f->ws[dir] != NULL)
            dlp_ws_end(f->ws[dir]);
        else if (f->h2[dir] != NULL)
            dlp_h2_end(f->h2[dir]);
        if (f->raw[dir] != NULL)
            s_close(&f->rec[dir], f->raw[dir]);
        f->raw[dir] = NULL;
    } else if (f->proto == P_SMTP && f->mode[0] != M_DONE) {
        dlp_smtp_end(f->smtp, dir);
    } else if (f->proto == P_FTP && f->mode[0] != M_DONE) {
        dlp_ftp_end(f->ftp, dir);
    } else if (f->proto == P_CHUNKED && dir == 0) {
        chain_end(f);
    }
}

static void flow_init(flow_t *f, int proto, const dlp_app_limits_t *l, uint64_t frame_max)
{
    static const uint8_t cli[16] = {[10] = 0xff, [11] = 0xff, 10, 0, 0, 1};
    static const uint8_t srv[16] = {[10] = 0xff, [11] = 0xff, 198, 51, 100, 7};

    memset(f, 0, sizeof(*f));
    f->proto = proto;
    f->l = l;
    f->frame_max = frame_max;
    for (int d = 0; d < 2; d++) {
        f->rec[d].decomp_max = l->decomp_max;
        f->rec[d].l = l;
        f->ctx[d] = &f->rec[d];
    }
    if (proto == P_HTTP)
        f->http = dlp_http_new(&rec_sink, f->ctx, l);
    else if (proto == P_SMTP)
        f->smtp = dlp_smtp_new(&rec_sink, f->ctx, l);
    else if (proto == P_FTP)
        f->ftp = dlp_ftp_new(&rec_sink, f->ctx, cli, srv, l);
    else if (proto == P_DNS_TCP)
        f->dns = dlp_dns_stream_new(&rec_sink, f->ctx[0]);
    else if (proto >= P_CHUNKED)
        chain_new(f);
    if (f->http == NULL && f->smtp == NULL && f->ftp == NULL && f->dns == NULL &&
        f->chain == NULL && proto != P_DNS_UDP)
        fail("decoder: out of memory");
}

static void flow_fini(flow_t *f)
{
    dlp_http_free(f->http);
    dlp_smtp_free(f->smtp);
    dlp_ftp_free(f->ftp);
    dlp_dns_stream_free(f->dns);
    dlp_ws_free(f->ws[0]);
    dlp_ws_free(f->ws[1]);
    dlp_h2_free(f->h2[0]);
    dlp_h2_free(f->h2[1]);
    chain_end(f);
    for (int d = 0; d < 2; d++)
        for (size_t i = 0; i < f->rec[d].n; i++)
            if (f->rec[d].it[i]->open)
                fail("a stream is still open after the flow ended");
}

/* ---- the script and its variants ------------------------------------------- */

enum { V_SCRIPT, V_BYTES, V_MERGED, V_RANDOM, V__COUNT };
static const char *const VNAME[V__COUNT] = {"script", "one-byte", "merged", "random"};

typedef struct script {
    write_op_t op[4096];
    size_t n;
} script_t;

static size_t parse(const uint8_t *data, size_t size, script_t *s)
{
    size_t k, pos, e = 0, gaps = 0;

    if (size < 2)
        return 0;
    k = (size_t)(data[1] & 63) + 1;
    if (size < 2 + 2 * k)
        return 0;
    pos = 2 + 2 * k;
    s->n = 0;
    /* Each write takes a byte or more: a script of gaps only ends too. */
    while (pos < size && s->n < sizeof(s->op) / sizeof(s->op[0]) && e < size + k * MAX_GAPS) {
        const uint8_t *en = data + 2 + 2 * (e++ % k);
        uint32_t len = (uint32_t)(en[0] & 63) << 8 | en[1];
        write_op_t *op = &s->op[s->n];

        op->dir = en[0] >> 7;
        op->gap = (en[0] >> 6) & 1;
        if (op->gap && gaps++ >= MAX_GAPS)
            continue;
        if (op->gap) {
            op->len = len + 1;
        } else {
            op->len = len == 0 ? 1 : len;
            if (op->len > size - pos)
                op->len = (uint32_t)(size - pos);
            op->p = data + pos;
            pos += op->len;
        }
        s->n++;
    }
    return s->n;
}

static uint64_t g_rng;

static size_t rnd_cut(size_t left)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (size_t)((g_rng * 0x2545F4914F6CDD1DULL) >> 33) % left + 1;
}

static void feed(flow_t *f, const write_op_t *op, int variant)
{
    size_t off = 0;

    while (off < op->len) {
        size_t n = op->len - off;
        if (variant == V_BYTES)
            n = 1;
        else if (variant == V_RANDOM)
            n = rnd_cut(n);
        flow_write(f, op->dir, op->p + off, n);
        off += n;
    }
}

/* Merged: a run of writes of one direction (no gap between) in one write. */
static size_t feed_merged(flow_t *f, const script_t *s, size_t i)
{
    size_t j = i + 1;
    const write_op_t *op = &s->op[i];

    while (j < s->n && !s->op[j].gap && s->op[j].dir == op->dir &&
           s->op[j].p == s->op[j - 1].p + s->op[j - 1].len)
        j++;
    flow_write(f, op->dir, op->p, (size_t)(s->op[j - 1].p + s->op[j - 1].len - op->p));
    return j;
}

static void run(flow_t *f, const script_t *s, int variant, bool end1_first)
{
    for (size_t i = 0; i < s->n;) {
        const write_op_t *op = &s->op[i];
        if (op->gap) {
            flow_gap(f, op->dir, op->len);
            i++;
        } else if (variant == V_MERGED) {
            i = feed_merged(f, s, i);
        } else {
            feed(f, op, variant);
            i++;
        }
    }
    flow_end(f, end1_first ? 1 : 0);
    flow_end(f, end1_first ? 0 : 1);
}

static void limits_for(int profile, dlp_app_limits_t *l)
{
    dlp_app_limits_default(l);
    l->decomp_max = 64 * 1024;
    if (profile == 1) {
        *l = (dlp_app_limits_t){.line_max = 40, .header_block_max = 200, .mime_depth_max = 2,
                                .decomp_max = 2000, .decomp_ratio_max = 3, .chain_max = 3};
    } else if (profile == 2) {
        *l = (dlp_app_limits_t){.line_max = 8, .header_block_max = 16, .mime_depth_max = 1,
                                .decomp_max = 64, .decomp_ratio_max = 1, .chain_max = 1};
    }
}

static script_t g_script;
static flow_t g_flow[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t frame_max[4] = {0, 100, 10, 3};
    dlp_app_limits_t l;
    int proto, nvar;
    bool end1_first;

    if (parse(data, size, &g_script) == 0)
        return 0;
    proto = data[0] & 7;
    end1_first = data[0] & 0x80;
    limits_for((data[0] >> 3) & 3, &l);
    g_rng = fnv(0xcbf29ce484222325ULL, data, size) | 1;
    flow_init(&g_flow[0], proto, &l, frame_max[(data[0] >> 5) & 3]);
    run(&g_flow[0], &g_script, V_SCRIPT, end1_first);
    flow_fini(&g_flow[0]);
    if (getenv("FUZZ_APP_DUMP") != NULL) {
        dump("direction 0", &g_flow[0].rec[0]);
        dump("direction 1", &g_flow[0].rec[1]);
    }
    nvar = proto == P_DNS_UDP ? 1 : V__COUNT;
    for (int v = 1; v < nvar; v++) {
        flow_init(&g_flow[1], proto, &l, frame_max[(data[0] >> 5) & 3]);
        run(&g_flow[1], &g_script, v, end1_first);
        flow_fini(&g_flow[1]);
        for (int d = 0; d < 2; d++)
            compare(&g_flow[0].rec[d], &g_flow[1].rec[d], VNAME[v], d);
        rec_free(&g_flow[1].rec[0]);
        rec_free(&g_flow[1].rec[1]);
    }
    rec_free(&g_flow[0].rec[0]);
    rec_free(&g_flow[0].rec[1]);
    return 0;
}
