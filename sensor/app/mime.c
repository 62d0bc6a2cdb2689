/*
 * mime.c - the streaming MIME walker (mime.h) and its stage wrapper.
 *
 * One state machine over the entity's bytes:
 *  - M_HDR: header lines of an entity. A logical header (its first line
 *    plus continuation lines, CRLFs removed) is collected in 'line' (at most
 *    line_max bytes: the rest is dropped and noted DLP_NOTE_HEADER_CAP) and
 *    acted on when the next line starts with something other than a space
 *    or tab. Past header_block_max bytes in one block, headers are no
 *    longer acted on (noted once at the block's end) but lines are still
 *    read to find its end. A line that is neither a header, an empty line,
 *    nor a boundary ends the block and is the first line of the body.
 *  - M_BODY: body bytes, passed on as they arrive. Only bytes that may
 *    start a boundary line ("\r\n--b", "\n--b", or "--b" right at the body's
 *    start) are held back, in 'hold' (2 + 2 + DLP_MIME_BOUNDARY_MAX bytes).
 *    The boundaries of every open multipart are candidates (so an inner
 *    multipart left open is closed by its parent's boundary); a match is
 *    decided when no longer candidate can still match, the innermost full
 *    match winning, so the decision never depends on how input is split.
 *    A leaf part's bytes go through a stage chain ([base64|qp] -> sink).
 *    A multipart's preamble and epilogue (before its first boundary, after
 *    its closing one) are text a reader of the raw message sees, so an
 *    insider could hide a value there: each is one stream of body_field,
 *    unnamed, undecoded, opened at its first byte that is not white space or
 *    a line break (most are empty, or a line of "This is a multi-part
 *    message"), the line break before a boundary left out as for a part.
 *  - M_DELIM: the rest of a boundary line ("--" there closes the multipart).
 *    What a boundary is stays as above (a prefix match: "--bX" is boundary
 *    "b"); what follows it on the line, past a closing "--" and the leading
 *    whitespace RFC 2046 allows as transport padding, is content to a
 *    reader that does not take the line as a boundary, so it is scanned:
 *    one stream per line, field body_field unnamed, the line break (and a
 *    CR before it) left out. A boundary line met among a part's headers is
 *    read as a header line: past line_max its bytes are dropped, noted
 *    DLP_NOTE_HEADER_CAP.
 * message/rfc822 (and message/global) parts continue in M_HDR with the inner
 * message's headers, reported like the top-level ones (one with a base64 or
 * quoted-printable encoding, not allowed by RFC 2046, is a leaf instead).
 * They do not count as depth: they keep no state of their own. Multiparts
 * nest up to mime_depth_max (clamped to DLP_APP_MIME_LEVELS_MAX); a deeper multipart is
 * one leaf: its whole body (inner boundaries and headers included) is passed
 * on raw and noted DLP_NOTE_DEPTH_CAP with its byte count, so it is still
 * inspected. A multipart without a usable boundary (missing, longer than
 * DLP_MIME_BOUNDARY_MAX, or with a CR/LF) is a leaf noted
 * DLP_NOTE_DECODER_ERROR; an unknown Content-Transfer-Encoding passes the
 * body on undecoded, noted DLP_NOTE_UNSUPPORTED; both with the part's byte
 * count, at its end. Every leaf's bytes (after base64 or quoted-printable)
 * also go through the uuencode stage (uue.c): a block "begin 644 name" ...
 * "end" in them is decoded to an attachment stream of its own, named after
 * the file; x-uuencode, uuencode and x-uue are read that way too (the text
 * still goes to the part's stream, as for an identity encoding).
 * Smaller policies: the first Content-Type, Content-Disposition and
 * Content-Transfer-Encoding of an entity win; parts of multipart/digest
 * default to message/rfc822; "filename*" (RFC 2231) wins over "filename*0"..
 * (at most DLP_APP_RFC2231_SEGMENTS_MAX segments), which wins over "filename"; names are kept up
 * to DLP_APP_NAME_MAX bytes (events show 63, masked). A decoded name (filename, name, the
 * Content-Type name) that the header's own block does not hold as it is (RFC 2231
 * "filename*=UTF-8''%35%33%36...", continuations, encoded words) is reported too, as one
 * more block of header_field ("filename: 536-22-8417.pdf"): frameworks (Werkzeug, Django,
 * Go) decode it, so a value in it must be scanned decoded; the whole name, not the
 * DLP_APP_NAME_MAX bytes kept (300 bytes of padding would push a value out of the scan).
 *
 * Thread: the worker that owns the flow.
 */
#include "dlp/limits.h"
#include "dlp/mime.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MIN 256  /* first size of the header line buffer */
#define HOLD_CAP (4 + DLP_MIME_BOUNDARY_MAX)

enum { M_HDR, M_BODY, M_DELIM, M_END };
enum { CT_LEAF, CT_MULTI, CT_MESSAGE };
enum { ENC_IDENT, ENC_B64, ENC_QP, ENC_UU, ENC_UNKNOWN };
enum { SUB_OTHER, SUB_FORM, SUB_DIGEST };
enum { CHK_NO, CHK_NEED, CHK_MATCH };
enum { SEEN_CT = 1, SEEN_CD = 2, SEEN_CTE = 4 };
enum { PK_NONE, PK_PLAIN, PK_EXT, PK_CONT };

typedef struct entity {
    uint8_t ct, enc, sub, seen;
    uint8_t form; /* a part of multipart/form-data */
    uint8_t blen; /* 0: no usable boundary */
    char boundary[DLP_MIME_BOUNDARY_MAX];
    char filename[DLP_APP_NAME_MAX]; /* Content-Disposition filename */
    char ctname[DLP_APP_NAME_MAX];   /* Content-Type name */
    char field[DLP_APP_NAME_MAX];    /* Content-Disposition name (form field) */
} entity_t;

typedef struct level {
    uint8_t blen, sub;
    char b[DLP_MIME_BOUNDARY_MAX];
} level_t;

struct dlp_mime {
    const dlp_content_sink_t *sink;
    void *ctx;
    dlp_field_t header_field, body_field, attach_field;
    uint32_t line_max, block_max, depth_max;
    dlp_app_limits_t lim; /* decomp_max for the uuencode stage */
    uint8_t state;
    dlp_rc_t err; /* ENOMEM, reported by the next write/end */

    /* M_HDR */
    uint8_t *line;
    size_t llen, lcap, lstart; /* logical header; the physical line starts at lstart */
    uint8_t at_bol, pending, cont;
    uint64_t line_over;   /* bytes dropped from the current line or header */
    uint64_t block_bytes; /* of the current header block */
    uint8_t *scratch;
    size_t scap;
    entity_t ent;

    level_t *lv;
    uint32_t depth;

    /* M_BODY */
    dlp_stage_t *leaf; /* NULL: bytes go nowhere */
    uint64_t leaf_bytes;
    uint8_t leaf_depth_note, leaf_enc_note, leaf_bad_note;
    uint8_t filler; /* outside a multipart's parts: a preamble or epilogue (leaf opened by emit) */
    uint8_t cand; /* hold[0, hlen) may start a boundary line */
    uint8_t hlen, hnl;
    uint8_t hold[HOLD_CAP];

    /* M_DELIM */
    uint32_t dl_level;
    uint8_t dl_n;
    uint8_t dl_head[2];
    uint8_t dl_cr;        /* a CR held: dropped if it ends the line */
    dlp_stage_t *dl_rest; /* the line's content, from its first byte that is not padding */
};

static void feed(dlp_mime_t *m, const uint8_t *p, size_t n);

static void note(dlp_mime_t *m, dlp_app_note_t k, uint64_t bytes)
{
    if (m->sink->note != NULL)
        m->sink->note(m->ctx, k, bytes);
}

static bool ci_eq(const uint8_t *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp((const char *)s, lit, n) == 0;
}

static bool ci_prefix(const uint8_t *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);

    return n >= k && strncasecmp((const char *)s, lit, k) == 0;
}

static bool is_wsp(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static void trim(const uint8_t **s, size_t *n)
{
    while (*n > 0 && is_wsp((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && (is_wsp((*s)[*n - 1]) || (*s)[*n - 1] == '\r'))
        (*n)--;
}

/* --- parameters (RFC 2045 5.1, RFC 2231) ---------------------------------- */

typedef struct param {
    const uint8_t *a, *v;
    size_t an, vn;
    uint8_t quoted;
} param_t;

/* The next "attr=value" of a parameter list from *pos (after a ';'). */
static bool param_next(const uint8_t *s, size_t n, size_t *pos, param_t *pr)
{
    size_t i = *pos;

    while (i < n) {
        size_t a0 = i;
        while (i < n && s[i] != '=' && s[i] != ';')
            i++;
        pr->a = s + a0;
        pr->an = i - a0;
        trim(&pr->a, &pr->an);
        if (i == n || s[i] == ';') {
            i++;
            continue;
        }
        i++;
        while (i < n && is_wsp(s[i]))
            i++;
        pr->quoted = i < n && s[i] == '"';
        if (pr->quoted) {
            size_t v0 = ++i;
            while (i < n && s[i] != '"')
                i += s[i] == '\\' && i + 1 < n ? 2 : 1;
            pr->v = s + v0;
            pr->vn = (i < n ? i : n) - v0;
        } else {
            size_t v0 = i;
            while (i < n && s[i] != ';')
                i++;
            pr->v = s + v0;
            pr->vn = i - v0;
            trim(&pr->v, &pr->vn);
        }
        while (i < n && s[i] != ';')
            i++;
        *pos = i < n ? i + 1 : n;
        return true;
    }
    *pos = n;
    return false;
}

/* How attribute pr names 'attr': plain, "attr*", or "attr*N" / "attr*N*". */
static int param_kind(const param_t *pr, const char *attr, unsigned *idx, bool *enc)
{
    size_t k = strlen(attr), i;
    unsigned v = 0;

    if (pr->an < k || strncasecmp((const char *)pr->a, attr, k) != 0)
        return PK_NONE;
    if (pr->an == k)
        return PK_PLAIN;
    if (pr->a[k] != '*')
        return PK_NONE;
    if (pr->an == k + 1)
        return PK_EXT;
    for (i = k + 1; i < pr->an && pr->a[i] >= '0' && pr->a[i] <= '9' && v < 10000; i++)
        v = v * 10 + (unsigned)(pr->a[i] - '0');
    if (i == k + 1)
        return PK_NONE;
    *enc = i < pr->an && pr->a[i] == '*';
    if (i + *enc != pr->an)
        return PK_NONE;
    *idx = v;
    return PK_CONT;
}

/* Appends a value to out[*o, cap): unquoted, or percent-decoded (RFC 2231). */
static void param_put(const param_t *pr, bool pct, bool strip_charset, uint8_t *out, size_t *o,
                      size_t cap)
{
    const uint8_t *v = pr->v;
    size_t vn = pr->vn;

    if (strip_charset) {
        const uint8_t *q1 = memchr(v, '\'', vn);
        const uint8_t *q2 = q1 != NULL ? memchr(q1 + 1, '\'', vn - (size_t)(q1 + 1 - v)) : NULL;
        if (q2 != NULL) {
            vn -= (size_t)(q2 + 1 - v);
            v = q2 + 1;
        }
    }
    if (pct) {
        *o += dlp_percent_decode(v, vn, out + *o, cap - *o, false);
        return;
    }
    for (size_t i = 0; i < vn && *o < cap; i++) {
        if (pr->quoted && v[i] == '\\' && i + 1 < vn)
            i++;
        out[(*o)++] = v[i];
    }
}

/*
 * Parameter 'attr' of header value s[0, n): "attr*" (RFC 2231) wins over
 * "attr*0".. continuations, which win over a plain "attr". Writes at most
 * bigcap bytes (no NUL); returns their number, or -1 if absent. Decoding never
 * grows a value: bigcap n holds all of it.
 */
static long param_whole(const uint8_t *s, size_t n, const char *attr, uint8_t *big, size_t bigcap)
{
    const uint8_t *semi = memchr(s, ';', n);
    size_t start = semi != NULL ? (size_t)(semi - s) + 1 : n, pos, o = 0;
    param_t pr, plain = {0};
    bool have_plain = false, have_cont = false, enc;
    unsigned idx;

    for (pos = start; param_next(s, n, &pos, &pr);) {
        int k = param_kind(&pr, attr, &idx, &enc);
        if (k == PK_EXT) {
            param_put(&pr, true, true, big, &o, bigcap);
            return (long)o;
        }
        have_cont |= k == PK_CONT && idx == 0;
        if (k == PK_PLAIN && !have_plain) {
            plain = pr;
            have_plain = true;
        }
    }
    if (have_cont) {
        for (unsigned want = 0; want < DLP_APP_RFC2231_SEGMENTS_MAX && o < bigcap; want++) {
            bool found = false;
            for (pos = start; !found && param_next(s, n, &pos, &pr);) {
                found = param_kind(&pr, attr, &idx, &enc) == PK_CONT && idx == want;
                if (found)
                    param_put(&pr, enc, enc && want == 0, big, &o, bigcap);
            }
            if (!found)
                break;
        }
        return (long)o;
    }
    if (!have_plain)
        return -1;
    param_put(&plain, false, false, big, &o, bigcap);
    return (long)o;
}

/* param_whole() cut to out[0, cap - 1] and a NUL; returns the full length wanted, or -1. */
static long param_get(const uint8_t *s, size_t n, const char *attr, uint8_t *out, size_t cap)
{
    uint8_t big[DLP_APP_NAME_MAX + DLP_MIME_BOUNDARY_MAX];
    long r = param_whole(s, n, attr, big, sizeof(big));
    size_t o = r > 0 ? (size_t)r : 0;

    if (r < 0)
        return -1;
    if (cap > 0) {
        size_t k = o < cap - 1 ? o : cap - 1;
        memcpy(out, big, k);
        out[k] = '\0';
    }
    return (long)o;
}

/* A file or field name: parameter 'attr', RFC 2047 encoded words decoded. */
static void name_get(const uint8_t *s, size_t n, const char *attr, char *out)
{
    uint8_t raw[DLP_APP_NAME_MAX];
    long len = param_get(s, n, attr, raw, sizeof(raw));
    size_t k;

    if (len <= 0)
        return;
    k = strlen((const char *)raw);
    k = dlp_rfc2047_decode(raw, k, (uint8_t *)out, DLP_APP_NAME_MAX - 1);
    out[k] = '\0';
}

/* --- headers --------------------------------------------------------------- */

static void parse_ctype(dlp_mime_t *m, const uint8_t *v, size_t n)
{
    entity_t *e = &m->ent;
    const uint8_t *semi = memchr(v, ';', n), *t = v;
    size_t tn = semi != NULL ? (size_t)(semi - v) : n;
    uint8_t b[DLP_MIME_BOUNDARY_MAX + 1];
    long bl;

    trim(&t, &tn);
    if (ci_prefix(t, tn, "multipart/")) {
        e->ct = CT_MULTI;
        e->sub = ci_eq(t + 10, tn - 10, "form-data") ? SUB_FORM
                 : ci_eq(t + 10, tn - 10, "digest")  ? SUB_DIGEST
                                                     : SUB_OTHER;
        bl = param_get(v, n, "boundary", b, sizeof(b));
        e->blen = 0;
        if (bl > 0 && bl <= DLP_MIME_BOUNDARY_MAX && memchr(b, '\r', (size_t)bl) == NULL &&
            memchr(b, '\n', (size_t)bl) == NULL) {
            memcpy(e->boundary, b, (size_t)bl);
            e->blen = (uint8_t)bl;
        }
    } else if (ci_eq(t, tn, "message/rfc822") || ci_eq(t, tn, "message/global")) {
        e->ct = CT_MESSAGE;
    } else {
        e->ct = CT_LEAF;
    }
    name_get(v, n, "name", e->ctname);
}

static void parse_cte(dlp_mime_t *m, const uint8_t *v, size_t n)
{
    static const char *const ident[] = {"7bit", "8bit", "binary"};

    trim(&v, &n);
    m->ent.enc = ENC_UNKNOWN;
    if (n == 0)
        m->ent.enc = ENC_IDENT;
    else if (ci_eq(v, n, "base64"))
        m->ent.enc = ENC_B64;
    else if (ci_eq(v, n, "quoted-printable"))
        m->ent.enc = ENC_QP;
    else if (ci_eq(v, n, "x-uuencode") || ci_eq(v, n, "uuencode") || ci_eq(v, n, "x-uue"))
        m->ent.enc = ENC_UU;
    for (size_t i = 0; i < DLP_ARRAY_LEN(ident); i++)
        if (ci_eq(v, n, ident[i]))
            m->ent.enc = ENC_IDENT;
}

static uint8_t *scratch(dlp_mime_t *m, size_t n)
{
    if (m->scap < n) {
        uint8_t *s = realloc(m->scratch, n);
        if (s == NULL) {
            m->err = DLP_ENOMEM;
            return NULL;
        }
        m->scratch = s;
        m->scap = n;
    }
    return m->scratch;
}

static void report_header(dlp_mime_t *m, const uint8_t *name, size_t nn, const uint8_t *v,
                          size_t vn)
{
    uint8_t *b = scratch(m, nn + 2 + vn);
    size_t k;

    if (b == NULL || m->sink->block == NULL)
        return;
    memcpy(b, name, nn);
    b[nn] = ':';
    b[nn + 1] = ' ';
    k = dlp_rfc2047_decode(v, vn, b + nn + 2, vn);
    m->sink->block(m->ctx, m->header_field, b, nn + 2 + k);
}

/*
 * Parameter 'attr' decoded, unless the header value v[0, vn) shows it as it is (see
 * the top). The whole name, not the DLP_APP_NAME_MAX - 1 bytes kept ('kept', the
 * fallback without memory): frameworks read all of it, and a value past the cut
 * ("filename*=UTF-8''<300 bytes>%35%33%36...") would be scanned nowhere decoded.
 */
static void report_name(dlp_mime_t *m, const char *label, const char *attr, const char *kept,
                        const uint8_t *v, size_t vn)
{
    size_t ln = strlen(label), k = strlen(kept);
    uint8_t *whole = NULL, *b;
    const char *name = kept;
    long r;

    if (m->header_field == DLP_FIELD__COUNT || m->sink->block == NULL || k == 0)
        return;
    whole = malloc(2 * vn + 1);
    if (whole != NULL && (r = param_whole(v, vn, attr, whole, vn)) > 0) {
        /* encoded words decoded, after the raw value; stops at a NUL as name_get() does */
        size_t rn = strnlen((const char *)whole, (size_t)r);
        k = dlp_rfc2047_decode(whole, rn, whole + vn, vn);
        whole[vn + k] = '\0';
        k = strlen((const char *)whole + vn);
        name = (const char *)whole + vn;
    }
    if (k > 0 && memmem(v, vn, name, k) == NULL && (b = scratch(m, ln + 2 + k)) != NULL) {
        memcpy(b, label, ln);
        b[ln] = ':';
        b[ln + 1] = ' ';
        memcpy(b + ln + 2, name, k);
        m->sink->block(m->ctx, m->header_field, b, ln + 2 + k);
    }
    free(whole);
}

/* Length of the header name of line l (before ':'), or 0 if it is not a header. */
static size_t header_name(const uint8_t *l, size_t n)
{
    const uint8_t *colon = memchr(l, ':', n);
    size_t k;

    if (colon == NULL)
        return 0;
    k = (size_t)(colon - l);
    while (k > 0 && is_wsp(l[k - 1]))
        k--;
    for (size_t i = 0; i < k; i++)
        if (l[i] <= 32 || l[i] >= 127)
            return 0;
    return k;
}

static void header_act(dlp_mime_t *m, const uint8_t *h, size_t n)
{
    size_t nn = header_name(h, n);
    const uint8_t *v = memchr(h, ':', n);
    size_t vn;

    if (nn == 0 || v == NULL)
        return;
    v++;
    vn = n - (size_t)(v - h);
    trim(&v, &vn);
    /* Every entity's headers, a part's too: a file name, or any header of a part, can
     * carry the value itself ("filename=\"536-22-8417.pdf\"", "X-Note: ..."). */
    if (m->header_field != DLP_FIELD__COUNT)
        report_header(m, h, nn, v, vn);
    if (ci_eq(h, nn, "content-type") && !(m->ent.seen & SEEN_CT)) {
        m->ent.seen |= SEEN_CT;
        parse_ctype(m, v, vn);
        report_name(m, "name", "name", m->ent.ctname, v, vn);
    } else if (ci_eq(h, nn, "content-disposition") && !(m->ent.seen & SEEN_CD)) {
        m->ent.seen |= SEEN_CD;
        name_get(v, vn, "filename", m->ent.filename);
        name_get(v, vn, "name", m->ent.field);
        report_name(m, "filename", "filename", m->ent.filename, v, vn);
        report_name(m, "name", "name", m->ent.field, v, vn);
    } else if (ci_eq(h, nn, "content-transfer-encoding") && !(m->ent.seen & SEEN_CTE)) {
        m->ent.seen |= SEEN_CTE;
        parse_cte(m, v, vn);
    }
}

/* The logical header in 'line' is complete. */
static void header_done(dlp_mime_t *m)
{
    if (m->pending && m->block_bytes <= m->block_max) {
        header_act(m, m->line, m->llen);
        if (m->line_over > 0)
            note(m, DLP_NOTE_HEADER_CAP, m->line_over);
    }
    m->pending = 0;
    m->llen = 0;
    m->line_over = 0;
}

static void block_done(dlp_mime_t *m)
{
    if (m->block_bytes > m->block_max)
        note(m, DLP_NOTE_HEADER_CAP, m->block_bytes - m->block_max);
    m->block_bytes = 0;
}

static void ent_reset(dlp_mime_t *m, uint8_t parent_sub)
{
    memset(&m->ent, 0, sizeof(m->ent));
    m->ent.form = parent_sub == SUB_FORM;
    m->ent.ct = parent_sub == SUB_DIGEST ? CT_MESSAGE : CT_LEAF;
    m->state = M_HDR;
    m->at_bol = 1;
    m->pending = 0;
    m->llen = 0;
    m->line_over = 0;
    m->block_bytes = 0;
}

/* --- body ------------------------------------------------------------------ */

/*
 * Whether x[0, avail) (what follows a line break) starts a boundary line of
 * an open multipart: CHK_NEED while a candidate could still match ('final':
 * no more bytes will come), else the innermost full match or CHK_NO.
 */
static int delim_check(const dlp_mime_t *m, const uint8_t *x, size_t avail, bool final,
                       uint32_t *lvl, size_t *mlen)
{
    bool partial = false;
    long best = -1;

    if (avail < 2)
        return avail == 1 && x[0] != '-' ? CHK_NO : final ? CHK_NO : CHK_NEED;
    if (x[0] != '-' || x[1] != '-')
        return CHK_NO;
    for (long i = (long)m->depth - 1; i >= 0; i--) {
        const level_t *l = &m->lv[i];
        size_t k = avail - 2;
        if (k >= l->blen) {
            if (best < 0 && memcmp(x + 2, l->b, l->blen) == 0)
                best = i;
        } else if (!final && memcmp(x + 2, l->b, k) == 0) {
            partial = true;
        }
    }
    if (partial)
        return CHK_NEED;
    if (best < 0)
        return CHK_NO;
    *lvl = (uint32_t)best;
    *mlen = 2 + m->lv[best].blen;
    return CHK_MATCH;
}

/* A preamble's or epilogue's stream, at its first byte of text (p[0, *n) skipped up to it). */
static void filler_open(dlp_mime_t *m, const uint8_t **p, size_t *n)
{
    while (*n > 0 && (is_wsp((*p)[0]) || (*p)[0] == '\r' || (*p)[0] == '\n')) {
        (*p)++;
        (*n)--;
    }
    if (*n == 0)
        return;
    m->leaf = dlp_stage_sink_new(m->sink, m->ctx, m->body_field, NULL);
    m->leaf_bytes = 0;
    m->leaf_depth_note = m->leaf_bad_note = m->leaf_enc_note = 0;
    m->filler = 0;
    if (m->leaf == NULL)
        m->err = DLP_ENOMEM;
}

static void emit(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    if (m->leaf == NULL && m->filler)
        filler_open(m, &p, &n);
    if (n == 0 || m->leaf == NULL)
        return;
    m->leaf_bytes += n;
    if (dlp_stage_write(m->leaf, p, n) == DLP_ENOMEM)
        m->err = DLP_ENOMEM;
}

static void leaf_end(dlp_mime_t *m)
{
    if (m->leaf == NULL)
        return;
    if (dlp_stage_end(m->leaf) == DLP_ENOMEM)
        m->err = DLP_ENOMEM;
    dlp_stage_free_chain(m->leaf);
    m->leaf = NULL;
    if (m->leaf_bad_note)
        note(m, DLP_NOTE_DECODER_ERROR, m->leaf_bytes);
    if (m->leaf_depth_note)
        note(m, DLP_NOTE_DEPTH_CAP, m->leaf_bytes);
    if (m->leaf_enc_note)
        note(m, DLP_NOTE_UNSUPPORTED, m->leaf_bytes);
}

static void body_start(dlp_mime_t *m)
{
    m->state = M_BODY;
    m->cand = 1;
    m->hlen = 0;
    m->hnl = 0;
}

/*
 * A leaf's sink, after a uuencode stage: a text part may hold an inline
 * uuencoded file (Outlook and Thunderbird show it as an attachment), and a
 * part encoded x-uuencode is one; each block goes to an attachment stream
 * of its own, the part's bytes still to the part's stream.
 */
static dlp_stage_t *leaf_sink(dlp_mime_t *m, dlp_field_t field, const char *name)
{
    dlp_stage_t *st = dlp_stage_sink_new(m->sink, m->ctx, field, name), *uu;

    if (st == NULL)
        return NULL;
    uu = dlp_stage_uue_new(st, m->attach_field, &m->lim);
    if (uu == NULL)
        dlp_stage_free_chain(st);
    return uu;
}

static void leaf_begin(dlp_mime_t *m, bool depth_note, bool bad_note)
{
    const entity_t *e = &m->ent;
    const char *file = e->filename[0] ? e->filename : e->ctname[0] ? e->ctname : NULL;
    const char *name = file;
    dlp_field_t field = file != NULL ? m->attach_field : m->body_field;
    dlp_stage_t *st, *dec = NULL;

    if (file == NULL && e->form && e->field[0])
        name = e->field;
    st = leaf_sink(m, field, name);
    if (st != NULL && e->enc == ENC_B64)
        dec = dlp_stage_base64_new(st);
    else if (st != NULL && e->enc == ENC_QP)
        dec = dlp_stage_qp_new(st);
    if (dec != NULL) {
        st = dec;
    } else if (st != NULL && (e->enc == ENC_B64 || e->enc == ENC_QP)) {
        dlp_stage_free_chain(st);
        st = NULL;
    }
    if (st == NULL)
        m->err = DLP_ENOMEM;
    m->leaf = st;
    m->filler = 0;
    m->leaf_bytes = 0;
    m->leaf_depth_note = depth_note;
    m->leaf_bad_note = bad_note;
    m->leaf_enc_note = e->enc == ENC_UNKNOWN;
    body_start(m);
}

/* The header block ended with an empty line: what the body is. */
static void body_begin(dlp_mime_t *m)
{
    entity_t *e = &m->ent;

    if (e->ct == CT_MESSAGE && (e->enc == ENC_IDENT || e->enc == ENC_UU || e->enc == ENC_UNKNOWN)) {
        ent_reset(m, SUB_OTHER);
        return;
    }
    if (e->ct == CT_MULTI && e->blen > 0 && m->depth < m->depth_max) {
        level_t *l = &m->lv[m->depth++];
        memcpy(l->b, e->boundary, e->blen);
        l->blen = e->blen;
        l->sub = e->sub;
        m->leaf = NULL;
        m->filler = 1; /* the preamble */
        body_start(m);
        return;
    }
    leaf_begin(m, e->ct == CT_MULTI && e->blen > 0, e->ct == CT_MULTI && e->blen == 0);
}

static void delim_found(dlp_mime_t *m, uint32_t lvl)
{
    leaf_end(m);
    m->filler = 0;
    m->state = M_DELIM;
    m->dl_level = lvl;
    m->dl_n = 0;
    m->dl_cr = 0;
}

/*
 * The rest of a boundary line goes to the multipart's body field, not to
 * "raw": raw is for bytes no decoder claimed (http.c's skipped runs), and
 * these are inside a multipart body the walker parsed, where a strict reader
 * sees them as text of the part before. p[0, n) holds no LF.
 */
static void rest_put(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    if (m->dl_rest == NULL) {
        while (n > 0 && (is_wsp(p[0]) || p[0] == '\r')) {
            p++;
            n--;
        }
        if (n == 0)
            return;
        m->dl_rest = dlp_stage_sink_new(m->sink, m->ctx, m->body_field, NULL);
        if (m->dl_rest == NULL) {
            m->err = DLP_ENOMEM;
            return;
        }
    } else if (m->dl_cr && dlp_stage_write(m->dl_rest, (const uint8_t *)"\r", 1) == DLP_ENOMEM) {
        m->err = DLP_ENOMEM;
    }
    m->dl_cr = p[n - 1] == '\r';
    if (dlp_stage_write(m->dl_rest, p, n - m->dl_cr) == DLP_ENOMEM)
        m->err = DLP_ENOMEM;
}

/* End of a boundary line's bytes (its LF, or the input's end). */
static void rest_end(dlp_mime_t *m)
{
    if (m->dl_n == 1 && m->dl_head[0] == '-')
        rest_put(m, m->dl_head, 1); /* a lone '-', not a close mark */
    if (m->dl_rest != NULL && dlp_stage_end(m->dl_rest) == DLP_ENOMEM)
        m->err = DLP_ENOMEM;
    dlp_stage_free_chain(m->dl_rest);
    m->dl_rest = NULL;
    m->dl_cr = 0;
}

/* Bytes of a boundary line after the boundary, p[0, n) without a LF. */
static void delim_take(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    size_t i = 0;

    for (; i < n && m->dl_n < 2; i++) {
        uint8_t c = p[i];
        m->dl_head[m->dl_n++] = c;
        if (c == '-' && (m->dl_n == 1 || m->dl_head[0] == '-'))
            continue; /* held: it may be, or is, the close mark "--" */
        if (m->dl_n == 2 && m->dl_head[0] == '-')
            rest_put(m, m->dl_head, 1);
        rest_put(m, &c, 1);
    }
    if (i < n)
        rest_put(m, p + i, n - i);
}

/* End of a boundary line: the next part, or the end of a multipart. */
static void delim_line_end(dlp_mime_t *m)
{
    uint32_t lvl = m->dl_level;

    rest_end(m);

    if (m->dl_n == 2 && m->dl_head[0] == '-' && m->dl_head[1] == '-') {
        m->depth = lvl;
        m->leaf = NULL;
        m->filler = 1; /* the epilogue */
        body_start(m);
        return;
    }
    m->depth = lvl + 1;
    ent_reset(m, m->lv[lvl].sub);
}

static size_t delim_consume(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t k = lf != NULL ? (size_t)(lf - p) : n;

    delim_take(m, p, k);
    if (lf == NULL)
        return n;
    delim_line_end(m);
    return k + 1;
}

/* A possible boundary line is held: add bytes until it is decided. */
static size_t hold_consume(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    uint32_t lvl;
    size_t ml, i = 0;

    if (!m->cand) { /* a CR at the end of the last write */
        if (p[0] == '\n') {
            m->hold[m->hlen++] = '\n';
            m->hnl = 2;
            m->cand = 1;
            return 1;
        }
        emit(m, m->hold, m->hlen);
        m->hlen = 0;
        return 0;
    }
    while (i < n) {
        int r;
        m->hold[m->hlen++] = p[i++];
        r = delim_check(m, m->hold + m->hnl, m->hlen - m->hnl, false, &lvl, &ml);
        if (r == CHK_NEED)
            continue;
        if (r == CHK_NO) { /* the last byte may start a line break: look at it again */
            emit(m, m->hold, --m->hlen);
            m->hlen = 0;
            m->cand = 0;
            return i - 1;
        }
        {
            uint8_t rest[HOLD_CAP];
            size_t k = m->hlen - m->hnl - ml;
            memcpy(rest, m->hold + m->hnl + ml, k);
            m->hlen = 0;
            m->cand = 0;
            delim_found(m, lvl);
            feed(m, rest, k);
        }
        return i;
    }
    return n;
}

static size_t body_consume(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    size_t q = 0, ml;
    uint32_t lvl;

    if (m->depth == 0) {
        emit(m, p, n);
        return n;
    }
    if (m->cand || m->hlen > 0)
        return hold_consume(m, p, n);
    for (;;) {
        const uint8_t *lf = memchr(p + q, '\n', n - q);
        size_t at, ns;
        int r;
        if (lf == NULL)
            break;
        at = (size_t)(lf - p);
        r = delim_check(m, lf + 1, n - at - 1, false, &lvl, &ml);
        if (r == CHK_NO) {
            q = at + 1;
            continue;
        }
        ns = at > 0 && p[at - 1] == '\r' ? at - 1 : at;
        emit(m, p, ns);
        if (r == CHK_MATCH) {
            delim_found(m, lvl);
            return at + 1 + ml;
        }
        m->hlen = (uint8_t)(n - ns);
        memcpy(m->hold, p + ns, m->hlen);
        m->hnl = (uint8_t)(at + 1 - ns);
        m->cand = 1;
        return n;
    }
    if (p[n - 1] == '\r') {
        emit(m, p, n - 1);
        m->hold[0] = '\r';
        m->hlen = 1;
        return n;
    }
    emit(m, p, n);
    return n;
}

/* --- header lines ---------------------------------------------------------- */

static void line_append(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    size_t room = m->line_max - m->llen, k = n < room ? n : room;

    if (m->llen + k > m->lcap) {
        size_t cap = m->lcap;
        uint8_t *b;
        while (cap < m->llen + k)
            cap *= 2;
        if (cap > m->line_max)
            cap = m->line_max;
        b = realloc(m->line, cap);
        if (b == NULL) {
            m->err = DLP_ENOMEM;
            m->line_over += n;
            return;
        }
        m->line = b;
        m->lcap = cap;
    }
    memcpy(m->line + m->llen, p, k);
    m->llen += k;
    m->line_over += n - k;
}

/* A header line that is not a header: the body starts with it. */
static void line_is_body(dlp_mime_t *m, const uint8_t *l, size_t n, bool cr, bool lf)
{
    uint8_t *copy = malloc(n + 2);

    if (m->line_over > 0 && m->block_bytes <= m->block_max)
        note(m, DLP_NOTE_HEADER_CAP, m->line_over);
    m->line_over = 0;
    block_done(m);
    if (copy == NULL) {
        m->err = DLP_ENOMEM;
        body_begin(m);
        return;
    }
    memcpy(copy, l, n);
    if (cr)
        copy[n++] = '\r';
    if (lf)
        copy[n++] = '\n';
    m->llen = 0;
    body_begin(m);
    feed(m, copy, n);
    free(copy);
}

/* A physical header line is complete (lf: it ended with a LF). */
static void line_end(dlp_mime_t *m, bool lf)
{
    uint8_t *l = m->line + m->lstart;
    size_t n = m->llen - m->lstart, ml;
    bool cr = n > 0 && l[n - 1] == '\r';
    uint32_t lvl;

    if (cr)
        m->llen--, n--;
    m->at_bol = 1;
    if (m->cont)
        return;
    if (n == 0 && m->line_over == 0) {
        block_done(m);
        body_begin(m);
        return;
    }
    if (delim_check(m, l, n, true, &lvl, &ml) == CHK_MATCH) {
        block_done(m);
        delim_found(m, lvl);
        delim_take(m, l + ml, n - ml);
        if (m->line_over > 0) /* past line_max: not kept, so not scanned */
            note(m, DLP_NOTE_HEADER_CAP, m->line_over);
        m->llen = 0;
        m->line_over = 0;
        if (lf)
            delim_line_end(m);
        return;
    }
    if (header_name(l, n) > 0) {
        m->pending = 1;
        return;
    }
    line_is_body(m, l, n, cr, lf);
}

static size_t hdr_consume(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    const uint8_t *lf;
    size_t k;

    if (m->at_bol) {
        m->at_bol = 0;
        m->cont = m->pending && is_wsp(p[0]);
        if (!m->cont)
            header_done(m);
        m->lstart = m->llen;
    }
    lf = memchr(p, '\n', n);
    k = lf != NULL ? (size_t)(lf - p) : n;
    line_append(m, p, k);
    m->block_bytes += k + (lf != NULL);
    if (lf == NULL)
        return n;
    line_end(m, true);
    return k + 1;
}

/* --- the walker ------------------------------------------------------------ */

static void feed(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    while (n > 0 && m->state != M_END) {
        size_t used;
        switch (m->state) {
        case M_HDR:
            used = hdr_consume(m, p, n);
            break;
        case M_BODY:
            used = body_consume(m, p, n);
            break;
        default:
            used = delim_consume(m, p, n);
            break;
        }
        p += used;
        n -= used;
    }
}

dlp_mime_t *dlp_mime_new(const dlp_mime_params_t *p)
{
    dlp_mime_t *m;

    if (p == NULL || p->sink == NULL || p->limits == NULL)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->sink = p->sink;
    m->ctx = p->ctx;
    m->header_field = p->header_field;
    m->body_field = p->body_field;
    m->attach_field = p->attach_field;
    m->lim = *p->limits;
    m->line_max = p->limits->line_max > 0 ? p->limits->line_max : 1;
    m->block_max = p->limits->header_block_max;
    m->depth_max = p->limits->mime_depth_max < DLP_APP_MIME_LEVELS_MAX ? p->limits->mime_depth_max : DLP_APP_MIME_LEVELS_MAX;
    m->lcap = m->line_max < LINE_MIN ? m->line_max : LINE_MIN;
    m->line = malloc(m->lcap);
    m->lv = calloc(m->depth_max > 0 ? m->depth_max : 1, sizeof(level_t));
    if (m->line == NULL || m->lv == NULL) {
        free(m->line);
        free(m->lv);
        free(m);
        return NULL;
    }
    ent_reset(m, SUB_OTHER);
    if (p->content_type != NULL) {
        parse_ctype(m, (const uint8_t *)p->content_type, strlen(p->content_type));
        body_begin(m);
    }
    m->err = DLP_OK;
    return m;
}

dlp_rc_t dlp_mime_write(dlp_mime_t *m, const uint8_t *p, size_t n)
{
    dlp_rc_t rc;

    if (m == NULL || (p == NULL && n > 0))
        return DLP_EINVAL;
    feed(m, p, n);
    rc = m->err;
    m->err = DLP_OK;
    return rc;
}

dlp_rc_t dlp_mime_end(dlp_mime_t *m)
{
    dlp_rc_t rc;

    if (m == NULL)
        return DLP_OK;
    if (m->state == M_HDR && !m->at_bol)
        line_end(m, false);
    if (m->state == M_DELIM)
        rest_end(m);
    if (m->state == M_HDR) {
        header_done(m);
        block_done(m);
    }
    if (m->state == M_BODY) {
        emit(m, m->hold, m->hlen);
        m->hlen = 0;
    }
    leaf_end(m);
    m->state = M_END;
    m->depth = 0;
    rc = m->err;
    m->err = DLP_OK;
    return rc;
}

void dlp_mime_free(dlp_mime_t *m)
{
    if (m == NULL)
        return;
    dlp_stage_free_chain(m->leaf);
    dlp_stage_free_chain(m->dl_rest);
    free(m->line);
    free(m->scratch);
    free(m->lv);
    free(m);
}

size_t dlp_mime_mem(const dlp_mime_t *m)
{
    if (m == NULL)
        return 0;
    return sizeof(*m) + m->lcap + m->scap + (m->depth_max > 0 ? m->depth_max : 1) * sizeof(level_t);
}

/* --- the stage ------------------------------------------------------------- */

typedef struct mime_stage {
    dlp_stage_t base;
    dlp_mime_t *m;
} mime_stage_t;

static dlp_rc_t mime_stage_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    return dlp_mime_write(((mime_stage_t *)st)->m, p, n);
}

static dlp_rc_t mime_stage_end(dlp_stage_t *st)
{
    return dlp_mime_end(((mime_stage_t *)st)->m);
}

static void mime_stage_free(dlp_stage_t *st)
{
    dlp_mime_free(((mime_stage_t *)st)->m);
    free(st);
}

static const dlp_stage_ops_t mime_stage_ops = {
    .name = "mime",
    .write = mime_stage_write,
    .end = mime_stage_end,
    .free = mime_stage_free,
};

dlp_stage_t *dlp_stage_mime_new(const dlp_mime_params_t *p)
{
    mime_stage_t *s;

    if (p == NULL)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->m = dlp_mime_new(p);
    if (s->m == NULL) {
        free(s);
        return NULL;
    }
    s->base.ops = &mime_stage_ops;
    s->base.sink = p->sink;
    s->base.sink_ctx = p->ctx;
    return &s->base;
}
