/*
 * http.c - HTTP/1.x request and response parsers of one connection
 * (RFC 9110, RFC 9112), push style.
 *
 * Design: each direction is a message-level state machine (START, HEADER,
 * BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER, CLOSE, TUNNEL, ENDED).
 * Line states collect one line at a time into the direction's line buffer
 * (memchr for the LF, one copy per write); counted body states pass whole
 * slices to the content chain with no per-byte work. Chunked framing is
 * done here (the end of a message must be exact for keep-alive), so the
 * chain receives de-chunked bytes: [inflate...] -> [form | MIME] -> sink.
 * The request parser queues each request's method flags (HEAD, CONNECT);
 * the response parser pops one per final status (1xx other than 101 do not
 * pop), so pipelined responses know whether they carry a body.
 *
 * Header lines: a completed line is normalised in place ("Name: value",
 * OWS around the value trimmed) and held until the first byte of the next line shows it is
 * not an obs-fold continuation; it is then interpreted and written with
 * "\n" to the HTTP_HEADER stream (opened at the first header, closed at the
 * blank line). Trailers go to their own HTTP_HEADER stream. The values of
 * credential headers (Authorization, Proxy-Authorization, Cookie,
 * Set-Cookie: cred_names) are scanned as any header and also told to
 * sink->secret, line by line where they end in the caller's bytes, so
 * evidence captures overwrite them (a line over a bound, cut by a gap or
 * the end: the whole line).
 *
 * Invariants, per direction:
 *  - the line buffer holds at most line_max + 2 bytes: a held header is no
 *    longer than its raw lines + 1, and raw lines of one header total at
 *    most line_max (folds included); the block at most header_block_max;
 *  - every decision depends only on the bytes, never on how they were split:
 *    the start-line prefix check looks at the first min(64, line_max) bytes
 *    before any bound can be hit, bounds are checked on raw byte counts;
 *  - skipping (after garbage, a bound or a gap) counts the skipped bytes from
 *    the start of the offending line and reports them in one note (the
 *    DECODER_ERROR or HEADER_CAP that started it; none after a gap) when a
 *    start line is found or the direction ends or has a gap;
 *  - skipped bytes are not HTTP but may still carry data (a request is no
 *    licence to send anything after it unseen): from the first rejected line
 *    on, they go in order to one DLP_FIELD_RAW stream, closed where skipping
 *    ends. So the stream holds the bytes the note counts; empty lines before
 *    any rejected line are legal (RFC 9112 2.2) and stay out of it.
 *
 * Policies where the RFCs leave a choice: conflicting Content-Length values
 * (or a list with different values) use the first valid value, noted once
 * (DECODER_ERROR); only invalid values (or > 2^40) frame the body until the
 * end of the direction, noted; Transfer-Encoding whose last coding is not
 * chunked frames until the end of the direction (noted for requests); other
 * transfer codings are undone like content codings. A gap inside a counted
 * body keeps the framing (the remaining count drops by the gap) and the rest
 * of the body goes to a new chain (none if it is compressed); anywhere else
 * the message is abandoned and the direction resynchronises on the next
 * start line. After a CONNECT or an Upgrade request, request bytes that do
 * not start with A-Z end HTTP (the tunnel's client bytes often come before
 * its response is seen, or the response is never seen on egress taps).
 * Where browsers and servers read a message differently (HTTP evader), the
 * reading that sees the content wins: a field name with whitespace before
 * its colon is reported but not acted on (RFC 9112 5.1, as browsers do);
 * Transfer-Encoding in an HTTP/1.0 message is ignored and the body runs to
 * the end of the direction (RFC 9112 6.1), noted; chunk sizes are read
 * leniently (whitespace before the digits, anything after them, blank lines
 * where a size is expected); a status line may carry any HTTP/d.d version,
 * "HTTP" in any case.
 *
 * Thread: a dlp_http_t belongs to the worker that owns the flow.
 */
#include "dlp/http.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/limits.h"
#include "dlp/mime.h"
#include "dlp/stage.h"
#include "http_int.h"
#include "stage_int.h"

#define LINE_INIT 256
#define PREFIX_MAX 64 /* bytes of a start line checked before it is collected whole */
#define METHOD_MAX 32
#define CODINGS_MAX 8                  /* codings remembered per header kind */
#define STAGE_MEM_MIME (8u * 1024)     /* walker, entity, boundary levels */
#define STAGE_MEM_OTHER 256u
#define NO_NOTE DLP_NOTE__COUNT

enum {
    ST_START,
    ST_HEADER,
    ST_BODY,
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA,
    ST_CHUNK_END,
    ST_TRAILER,
    ST_CLOSE,
    ST_TUNNEL,
    ST_ENDED,
};

enum { LINE_DONE, LINE_MORE, LINE_OVER };
enum { DROP_NONE, DROP_LINE, DROP_TO_LF }; /* hdir_t.drop */
enum { CL_NONE, CL_VALID, CL_INVALID };
enum { CODING_GZIP = 1, CODING_DEFLATE, CODING_CHUNKED, CODING_OTHER };
enum { Q_HEAD = 1, Q_CONNECT = 2 };

typedef struct msg {
    uint64_t cl;
    char *ctype; /* first Content-Type value, NUL-terminated */
    uint16_t status;
    uint8_t cl_state;
    uint8_t req_flags; /* response: Q_* of its request */
    uint8_t nte, nce, te_seen, te_last, codings_over;
    uint8_t te[CODINGS_MAX], ce[CODINGS_MAX];
    uint8_t host_done, error_noted, discard;
    uint8_t http10; /* HTTP/1.0 or older: Transfer-Encoding is not honoured */
} msg_t;

typedef struct hdir {
    uint8_t *buf; /* held header, then the current line */
    uint32_t cap, len;
    uint32_t held, held_raw; /* held header: normalised bytes, raw line bytes */
    uint64_t lraw;           /* raw bytes of the current line consumed (CR, LF too) */
    uint64_t block;          /* header block bytes so far */
    uint64_t remain;         /* counted body or chunk bytes still to come */
    uint64_t skipped;
    uint8_t dir, state;
    uint8_t skipping, skip_note, drop, tunnel_pending, hopened, ropened;
    uint8_t hsecret; /* the held header is a credential (cred_name) */
    uint8_t dsecret; /* the line being dropped (over a bound) is one */
    void *hstream;
    void *rstream; /* skipped bytes, scanned raw */
    dlp_stage_t *chain;
    msg_t m;
} hdir_t;

struct dlp_http {
    const dlp_content_sink_t *sink;
    void *ctx[2];
    dlp_app_limits_t lim;
    hdir_t d[2];
    uint8_t q[DLP_HTTP_PIPELINE_MAX];
    uint32_t qhead, qlen, qlost;
    uint8_t tunnel, enomem;
    uint8_t connect; /* the tunnel follows a CONNECT (until it starts: the last request is one) */
    /* WebSocket: what the last request asked (Upgrade token) and what the
     * last status line and its headers answered */
    uint8_t ws_req, ws_101, ws_nct[2];
    uint8_t h2c_req; /* the last request asked "Upgrade: h2c" (RFC 9113 3.2) */
};

/* --- sink -------------------------------------------------------------- */

static void s_note(dlp_http_t *h, const hdir_t *d, dlp_app_note_t n, uint64_t bytes)
{
    if (h->sink->note != NULL)
        h->sink->note(h->ctx[d->dir], n, bytes);
}

static void s_meta(dlp_http_t *h, const hdir_t *d, dlp_app_meta_t k, const uint8_t *v, size_t n)
{
    if (h->sink->meta != NULL)
        h->sink->meta(h->ctx[d->dir], k, v, n);
}

static void s_block(dlp_http_t *h, const hdir_t *d, dlp_field_t f, const uint8_t *v, size_t n)
{
    if (h->sink->block != NULL)
        h->sink->block(h->ctx[d->dir], f, v, n);
}

/* The n input bytes before 'stop' (NULL: among the last n taken) hold a credential. */
static void s_secret(dlp_http_t *h, const hdir_t *d, const uint8_t *stop, uint64_t n)
{
    dlp_app_secret(h->sink, h->ctx[d->dir], stop, (size_t)n);
}

static void note_error(dlp_http_t *h, hdir_t *d)
{
    if (!d->m.error_noted) {
        d->m.error_noted = 1;
        s_note(h, d, DLP_NOTE_DECODER_ERROR, 0);
    }
}

/* --- bytes ------------------------------------------------------------- */

static bool is_tchar(uint8_t c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr(extra, c) != NULL;
}

static bool is_ctl(uint8_t c)
{
    return c < 0x20 || c == 0x7f;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c;
}

/* s[0, n) equals the lowercase literal, ignoring case */
static bool ieq(const uint8_t *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);

    if (n != k)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != (uint8_t)lit[i])
            return false;
    return true;
}

static void trim(const uint8_t *s, size_t *b, size_t *e)
{
    while (*b < *e && is_ws(s[*b]))
        (*b)++;
    while (*e > *b && is_ws(s[*e - 1]))
        (*e)--;
}

/* --- request queue ------------------------------------------------------- */

static void q_push(dlp_http_t *h, uint8_t flags)
{
    if (h->qlost > 0 || h->qlen == DLP_HTTP_PIPELINE_MAX) {
        if (h->qlost++ == 0)
            s_note(h, &h->d[0], DLP_NOTE_DEPTH_CAP, 0);
        return;
    }
    h->q[(h->qhead + h->qlen) % DLP_HTTP_PIPELINE_MAX] = flags;
    h->qlen++;
}

static uint8_t q_pop(dlp_http_t *h)
{
    uint8_t f;

    if (h->qlen == 0) {
        if (h->qlost > 0)
            h->qlost--;
        return 0;
    }
    f = h->q[h->qhead];
    h->qhead = (h->qhead + 1) % DLP_HTTP_PIPELINE_MAX;
    h->qlen--;
    return f;
}

/* --- line buffer --------------------------------------------------------- */

/*
 * Room for 'need' bytes plus 2 (normalising "Name:value" adds a byte, the
 * emitted line a "\n"), within line_max + 2, which the bounds never pass.
 */
static bool buf_reserve(dlp_http_t *h, hdir_t *d, size_t need)
{
    size_t max = (size_t)h->lim.line_max + 2, cap = d->cap;
    uint8_t *b;

    if (need > max)
        return false;
    need = need + 2 < max ? need + 2 : max;
    if (need <= d->cap)
        return true;
    if (cap < LINE_INIT)
        cap = LINE_INIT;
    while (cap < need)
        cap *= 2;
    if (cap > max)
        cap = max;
    b = realloc(d->buf, cap);
    if (b == NULL) {
        h->enomem = 1;
        return false;
    }
    d->buf = b;
    d->cap = (uint32_t)cap;
    return true;
}

static void line_reset(hdir_t *d)
{
    d->len = d->held = d->held_raw = 0;
    d->lraw = 0;
}

/*
 * Collects the current line from p[0, n) up to its LF into buf[held, len)
 * (CR LF removed). 'limit' bounds the line without its terminator, 'budget'
 * the raw bytes with it. LINE_OVER: the line is over a bound (d->drop set
 * when its LF is still to come); its bytes are counted in lraw, not kept.
 */
static int line_take(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n, uint64_t limit,
                     uint64_t budget, size_t *used)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t k = lf != NULL ? (size_t)(lf - p) : n;
    uint64_t cur = d->len - d->held, raw = d->lraw + k + (lf != NULL);
    bool over;

    *used = k + (lf != NULL);
    if (lf == NULL) {
        over = cur + k >= limit + 2 || raw > budget;
    } else {
        uint64_t real = cur + k;
        uint8_t last = k > 0 ? p[k - 1] : (cur > 0 ? d->buf[d->len - 1] : 0);

        if (last == '\r')
            real--;
        over = real > limit || raw > budget;
    }
    d->lraw = raw;
    if (over || !buf_reserve(h, d, d->len + k)) {
        /* once the tunnel is known, the line is read to its LF whatever the split (one
         * write holding the LF consumes it): the tunnel starts after it */
        d->drop = lf != NULL ? DROP_NONE : d->dir == 0 && h->tunnel ? DROP_TO_LF : DROP_LINE;
        return LINE_OVER;
    }
    memcpy(d->buf + d->len, p, k);
    d->len += (uint32_t)k;
    if (lf == NULL)
        return LINE_MORE;
    if (d->len > d->held && d->buf[d->len - 1] == '\r')
        d->len--;
    return LINE_DONE;
}

/* --- skipping ------------------------------------------------------------ */

static void raw_write(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (!d->ropened) {
        d->ropened = 1;
        d->rstream = h->sink->open(h->ctx[d->dir], DLP_FIELD_RAW, NULL);
    }
    if (d->rstream != NULL)
        h->sink->write(h->ctx[d->dir], d->rstream, p, n);
}

static void raw_close(dlp_http_t *h, hdir_t *d)
{
    if (d->rstream != NULL)
        h->sink->close(h->ctx[d->dir], d->rstream);
    d->rstream = NULL;
    d->ropened = 0;
}

/*
 * The raw bytes of the current line so far (lraw of them) go to the raw
 * stream: those collected in buf[held, len), then tail[0, ntail), what
 * line_take consumed without keeping (LINE_OVER); a complete line gets back
 * the CR LF or LF line_take removed.
 */
static void line_to_raw(dlp_http_t *h, hdir_t *d, const uint8_t *tail, size_t ntail)
{
    uint64_t kept = d->len - d->held, lost = d->lraw - kept - ntail;

    if (kept > 0) /* buf is NULL until a line is first collected: no NULL + 0 */
        raw_write(h, d, d->buf + d->held, (size_t)kept);
    raw_write(h, d, tail, ntail);
    if (lost > 0 && lost <= 2)
        raw_write(h, d, (const uint8_t *)"\r\n" + (2 - lost), (size_t)lost);
}

/* The current line (and what follows up to a start line) is skipped. */
static void reject(hdir_t *d, dlp_app_note_t note)
{
    d->state = ST_START;
    if (!d->skipping) {
        d->skipping = 1;
        d->skip_note = (uint8_t)note;
        d->skipped = 0;
    }
    d->skipped += d->lraw;
    line_reset(d);
}

static void skip_end(dlp_http_t *h, hdir_t *d)
{
    raw_close(h, d);
    if (d->skipping && d->skip_note != NO_NOTE)
        s_note(h, d, (dlp_app_note_t)d->skip_note, d->skipped);
    d->skipping = 0;
    d->skip_note = NO_NOTE;
    d->skipped = 0;
}

static size_t drop_line(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t k = lf != NULL ? (size_t)(lf - p) + 1 : n;

    raw_write(h, d, p, k);
    d->skipped += k;
    if (d->dsecret)
        s_secret(h, d, p + k, k);
    if (lf != NULL)
        d->drop = d->dsecret = 0;
    return k;
}

/* --- content chain ------------------------------------------------------- */

/*
 * Ends the body chain. !flush (the body was abandoned): the decoding stages
 * are marked failed so they neither flush nor note a truncated stream; the
 * last stage is still ended, which closes its content stream(s).
 */
static void chain_end(hdir_t *d, bool flush)
{
    dlp_rc_t rc;

    if (d->chain == NULL)
        return;
    if (!flush)
        for (dlp_stage_t *st = d->chain; st->next != NULL; st = st->next)
            st->failed |= 1;
    rc = dlp_stage_end(d->chain);
    (void)rc; /* a failing stage has noted it */
    dlp_stage_free_chain(d->chain);
    d->chain = NULL;
}

/* The body has codings to undo besides the final chunked. */
static bool encoded(const msg_t *m)
{
    return m->nce > 0 || m->codings_over || m->nte > 1 ||
           (m->nte == 1 && m->te[0] != CODING_CHUNKED);
}

/* The media type of a Content-Type value is 'type' ("multipart/" matches a prefix). */
static bool media_is(const char *ct, const char *type)
{
    size_t n = strlen(type), i = 0;

    while (is_ws((uint8_t)ct[i]))
        i++;
    ct += i;
    for (i = 0; i < n; i++)
        if (ct[i] == '\0' || lower((uint8_t)ct[i]) != (uint8_t)type[i])
            return false;
    return type[n - 1] == '/' || ct[n] == '\0' || ct[n] == ';' || is_ws((uint8_t)ct[n]);
}

/*
 * The stage after the decodings: MIME walker, form or JSON decoder + sink, or
 * sink. JSON escapes are undone in JSON bodies and in bodies without a type or
 * typed text/plain that start like JSON (json.c: no-preflight browser
 * requests and many APIs send JSON so).
 */
static dlp_stage_t *chain_tail(dlp_http_t *h, hdir_t *d, bool raw)
{
    const char *ct = d->m.ctype;
    dlp_json_mode_t jm = DLP_JSON_OFF;
    dlp_stage_t *st, *b, *f;
    bool form;

    if (!raw && ct != NULL && media_is(ct, "multipart/")) {
        dlp_mime_params_t mp = {
            .sink = h->sink,
            .ctx = h->ctx[d->dir],
            .limits = &h->lim,
            .header_field = DLP_FIELD_HTTP_HEADER,
            .body_field = DLP_FIELD_HTTP_BODY,
            .attach_field = DLP_FIELD_HTTP_BODY,
            .content_type = ct,
        };
        return dlp_stage_mime_new(&mp);
    }
    st = dlp_stage_sink_new(h->sink, h->ctx[d->dir], DLP_FIELD_HTTP_BODY, NULL);
    if (st == NULL || raw)
        return st;
    form = ct != NULL && media_is(ct, "application/x-www-form-urlencoded");
    if (!form && (jm = dlp_stage_json_mode(ct)) == DLP_JSON_OFF)
        return st;
    /* base64 files in the decoded values (API attachments, data: URIs) */
    b = dlp_stage_b64run_new(st, DLP_FIELD_HTTP_BODY, &h->lim);
    f = b == NULL ? NULL : form ? dlp_stage_form_new(b) : dlp_stage_json_new(b, jm);
    if (f == NULL) {
        dlp_stage_free_chain(b != NULL ? b : st);
        return NULL;
    }
    /* JSON in UTF-16 (RFC 7159 allowed it; Jackson and .NET detect it): made UTF-8
     * first, or its escapes ('\\' NUL 'u' NUL) are not seen. Identity on UTF-8 text. */
    if (!form) {
        dlp_stage_t *t = dlp_stage_textnorm_new(f);
        if (t == NULL)
            dlp_stage_free_chain(f);
        f = t;
    }
    return f;
}

/*
 * Codings are undone outermost first: transfer codings (but the final
 * chunked, done here) in reverse order, then content codings in reverse.
 * An unsupported coding, or more than chain_max of them, leaves the rest
 * encoded: passed raw to the sink, noted.
 */
static dlp_stage_t *chain_build(dlp_http_t *h, hdir_t *d)
{
    const msg_t *m = &d->m;
    uint8_t undo[2 * CODINGS_MAX];
    size_t nu = 0, ninf, nte = m->nte;
    bool raw = m->codings_over;
    dlp_stage_t *st, *nx;

    if (nte > 0 && m->te[nte - 1] == CODING_CHUNKED)
        nte--;
    for (size_t i = nte; i-- > 0;)
        undo[nu++] = m->te[i];
    for (size_t i = m->nce; i-- > 0;)
        undo[nu++] = m->ce[i];
    if (raw) {
        s_note(h, d, DLP_NOTE_DEPTH_CAP, 0);
        nu = 0;
    }
    for (ninf = 0; ninf < nu; ninf++) {
        if (undo[ninf] != CODING_GZIP && undo[ninf] != CODING_DEFLATE) {
            s_note(h, d, DLP_NOTE_UNSUPPORTED, 0);
            raw = true;
            break;
        }
        if (ninf == h->lim.chain_max) {
            s_note(h, d, DLP_NOTE_DEPTH_CAP, 0);
            raw = true;
            break;
        }
    }
    st = chain_tail(h, d, raw);
    for (size_t i = ninf; st != NULL && i-- > 0;) {
        nx = dlp_stage_inflate_new(st, &h->lim, undo[i] == CODING_GZIP);
        if (nx == NULL)
            dlp_stage_free_chain(st);
        st = nx;
    }
    if (st == NULL)
        h->enomem = 1;
    return st;
}

static void body_write(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n)
{
    if (d->m.discard || n == 0)
        return;
    if (d->chain == NULL) {
        d->chain = chain_build(h, d);
        if (d->chain == NULL) {
            d->m.discard = 1;
            return;
        }
    }
    if (dlp_stage_write(d->chain, p, n) == DLP_ENOMEM)
        h->enomem = 1;
}

/* --- messages -------------------------------------------------------------- */

static void hstream_close(dlp_http_t *h, hdir_t *d)
{
    if (d->hstream != NULL)
        h->sink->close(h->ctx[d->dir], d->hstream);
    d->hstream = NULL;
    d->hopened = 0;
}

static void msg_reset(hdir_t *d)
{
    free(d->m.ctype);
    memset(&d->m, 0, sizeof(d->m));
}

/* The message is complete: flush its body, wait for the next start line. */
static void msg_end(dlp_http_t *h, hdir_t *d)
{
    hstream_close(h, d);
    chain_end(d, true);
    msg_reset(d);
    line_reset(d);
    d->state = ST_START;
}

static void msg_abandon(dlp_http_t *h, hdir_t *d)
{
    hstream_close(h, d);
    chain_end(d, false);
    msg_reset(d);
}

/* --- start lines ----------------------------------------------------------- */

typedef struct start {
    size_t mlen, tstart, tlen;
    unsigned status;
    bool http10;
} start_t;

/*
 * METHOD 1*SP target 1*SP HTTP/1.x *SP. The target is what lies between
 * (it may hold spaces: some clients send them raw). !complete: s is the
 * beginning of a line; returns false only if no line starting so can pass.
 */
static bool request_line_check(const uint8_t *s, size_t n, bool complete, start_t *r)
{
    size_t i = 0, e, v, te;

    if (!complete && n > 0 && s[n - 1] == '\r')
        n--;
    while (i < n && i <= METHOD_MAX && is_tchar(s[i]))
        i++;
    if (i > METHOD_MAX || (i == n && complete))
        return false;
    if (i == n)
        return true;
    if (i == 0 || s[i] != ' ')
        return false;
    r->mlen = i;
    while (i < n && s[i] == ' ')
        i++;
    r->tstart = i;
    for (size_t j = i; j < n; j++)
        if (is_ctl(s[j]))
            return false;
    if (!complete)
        return true;
    e = n;
    while (e > i && s[e - 1] == ' ')
        e--;
    if (e < i + 10)
        return false;
    v = e - 8;
    if (memcmp(s + v, "HTTP/1.", 7) != 0 || !is_digit(s[v + 7]) || s[v - 1] != ' ')
        return false;
    te = v;
    while (te > i && s[te - 1] == ' ')
        te--;
    r->tlen = te - i;
    r->http10 = s[v + 7] == '0';
    return r->tlen > 0;
}

/* HTTP/d.d 1*SP 3DIGIT [SP reason]; "HTTP" in any case (as browsers read it) */
static bool status_line_check(const uint8_t *s, size_t n, bool complete, start_t *r)
{
    static const char ver[] = "http/0.0";
    size_t i;

    if (!complete && n > 0 && s[n - 1] == '\r')
        n--;
    for (i = 0; i < 8 && i < n; i++)
        if (ver[i] == '0' ? !is_digit(s[i]) : lower(s[i]) != (uint8_t)ver[i])
            return false;
    if (n > 8 && s[8] != ' ')
        return false;
    i = 9;
    while (i < n && s[i] == ' ')
        i++;
    for (size_t k = 0; k < 3 && i + k < n; k++)
        if (!is_digit(s[i + k]))
            return false;
    if (i + 3 < n && s[i + 3] != ' ')
        return false;
    for (size_t j = i + 3; j < n; j++)
        if (is_ctl(s[j]) && s[j] != '\t')
            return false;
    if (!complete)
        return true;
    if (n < i + 3)
        return false;
    r->status = (unsigned)((s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0'));
    r->http10 = s[5] < '1' || (s[5] == '1' && s[7] == '0');
    return true;
}

static bool start_line_check(const hdir_t *d, bool complete, start_t *r)
{
    if (d->dir == 0)
        return request_line_check(d->buf, d->len, complete, r);
    return status_line_check(d->buf, d->len, complete, r);
}

/* Offsets of a request target: [hs, he) the authority if it names one, [ps, pe) the path. */
typedef struct target {
    size_t hs, he, ps, pe;
} target_t;

static void target_split(const uint8_t *t, size_t n, bool connect, target_t *x)
{
    size_t i = 0;

    memset(x, 0, sizeof(*x));
    if (connect) {
        x->he = x->ps = x->pe = n;
        return;
    }
    while (i < n && (is_tchar(t[i]) && t[i] != '/' && t[i] != '?'))
        i++;
    if (i > 0 && i + 3 <= n && memcmp(t + i, "://", 3) == 0 && t[0] != '/') {
        x->hs = i + 3;
        x->he = x->hs;
        while (x->he < n && t[x->he] != '/' && t[x->he] != '?' && t[x->he] != '#')
            x->he++;
        for (size_t j = x->hs; j < x->he; j++)
            if (t[j] == '@')
                x->hs = j + 1;
        x->ps = x->he;
    }
    x->pe = x->ps;
    while (x->pe < n && t[x->pe] != '?' && t[x->pe] != '#')
        x->pe++;
}

/*
 * Reports the target: meta HOST (absolute or authority form), URI_PATH
 * (decoded, query removed) and block(URI): the path percent-decoded, the
 * query decoded as a form ('+' is a space).
 */
static void uri_report(dlp_http_t *h, hdir_t *d, const uint8_t *t, size_t n, bool connect)
{
    target_t x;
    uint8_t *out = malloc(n);
    size_t a, b, c;

    target_split(t, n, connect, &x);
    if (x.he > x.hs) {
        s_meta(h, d, DLP_META_HTTP_HOST, t + x.hs, x.he - x.hs);
        d->m.host_done = 1;
    }
    if (out == NULL) {
        h->enomem = 1;
        s_block(h, d, DLP_FIELD_HTTP_URI, t, n);
        return;
    }
    a = dlp_percent_decode(t, x.ps, out, n, false);
    b = dlp_percent_decode(t + x.ps, x.pe - x.ps, out + a, n - a, false);
    c = dlp_percent_decode(t + x.pe, n - x.pe, out + a + b, n - a - b, true);
    if (b > 0)
        s_meta(h, d, DLP_META_HTTP_URI_PATH, out + a, b);
    else if (x.hs > 0)
        s_meta(h, d, DLP_META_HTTP_URI_PATH, (const uint8_t *)"/", 1);
    s_block(h, d, DLP_FIELD_HTTP_URI, out, a + b + c);
    free(out);
}

static void on_request_line(dlp_http_t *h, hdir_t *d, const start_t *r)
{
    const uint8_t *s = d->buf;
    uint8_t flags = 0;

    if (r->mlen == 4 && memcmp(s, "HEAD", 4) == 0)
        flags = Q_HEAD;
    else if (r->mlen == 7 && memcmp(s, "CONNECT", 7) == 0)
        flags = Q_CONNECT;
    q_push(h, flags);
    h->ws_req = 0;
    h->h2c_req = 0;
    d->m.http10 = r->http10;
    d->tunnel_pending = flags == Q_CONNECT;
    if (!h->tunnel)
        h->connect = flags == Q_CONNECT;
    s_meta(h, d, DLP_META_HTTP_METHOD, s, r->mlen);
    uri_report(h, d, s + r->tstart, r->tlen, flags == Q_CONNECT);
}

static void on_status_line(dlp_http_t *h, hdir_t *d, const start_t *r)
{
    d->m.status = (uint16_t)r->status;
    d->m.http10 = r->http10;
    h->ws_101 = r->status == 101;
    h->ws_nct[0] = h->ws_nct[1] = 0;
    if (r->status >= 200 || r->status == 101)
        d->m.req_flags = q_pop(h);
}

/* Request bytes after a CONNECT or Upgrade request that cannot start a request line. */
static bool tunnel_starts(const hdir_t *d, uint8_t c)
{
    return d->dir == 0 && d->tunnel_pending && !(c >= 'A' && c <= 'Z') && c != '\r' && c != '\n';
}

/*
 * START: a request or status line (empty lines before it are ignored).
 * The first PREFIX_MAX bytes are collected in small steps and checked, so a
 * line that cannot be a start line is rejected before it is buffered.
 */
static size_t feed_start(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n, bool *done)
{
    size_t prefix = h->lim.line_max < PREFIX_MAX ? h->lim.line_max : PREFIX_MAX;
    size_t take = n, used;
    bool in_prefix = d->lraw < prefix;
    start_t sl = {0};
    int r;

    if (d->drop == DROP_TO_LF)
        return drop_line(h, d, p, n);
    /* A line begun before CONNECT's 2xx was seen is read on as the request it starts (a
     * client may send its first tunnel bytes at once): its first bytes are taken. */
    if ((d->dir == 0 && h->tunnel && !(h->connect && d->lraw > 0)) ||
        (d->lraw == 0 && !d->drop && tunnel_starts(d, p[0]))) {
        skip_end(h, d);
        d->state = ST_TUNNEL;
        *done = true;
        return 0;
    }
    if (d->drop)
        return drop_line(h, d, p, n);
    if (in_prefix && take > prefix - d->lraw)
        take = prefix - d->lraw;
    r = line_take(h, d, p, take, h->lim.line_max, UINT64_MAX, &used);
    if (r == LINE_OVER) {
        line_to_raw(h, d, p, used);
        reject(d, DLP_NOTE_HEADER_CAP);
        return used;
    }
    if (r == LINE_DONE && d->len == 0) {
        if (d->skipping)
            d->skipped += d->lraw;
        if (d->ropened)
            line_to_raw(h, d, NULL, 0);
        line_reset(d);
        return used;
    }
    if ((in_prefix || r == LINE_DONE) && !start_line_check(d, r == LINE_DONE, &sl)) {
        d->drop = r == LINE_MORE;
        line_to_raw(h, d, NULL, 0);
        reject(d, DLP_NOTE_DECODER_ERROR);
        return used;
    }
    if (r == LINE_MORE)
        return used;
    skip_end(h, d);
    if (d->dir == 0)
        on_request_line(h, d, &sl);
    else
        on_status_line(h, d, &sl);
    line_reset(d);
    d->block = 0;
    d->state = ST_HEADER;
    return used;
}

/* --- headers --------------------------------------------------------------- */

static void codings_add(msg_t *m, uint8_t *list, uint8_t *n, const uint8_t *v, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t b = i, e;
        uint8_t c;

        while (i < len && v[i] != ',')
            i++;
        e = i++;
        for (size_t j = b; j < e; j++)
            if (v[j] == ';')
                e = j;
        trim(v, &b, &e);
        if (b == e || ieq(v + b, e - b, "identity"))
            continue;
        if (ieq(v + b, e - b, "gzip") || ieq(v + b, e - b, "x-gzip"))
            c = CODING_GZIP;
        else if (ieq(v + b, e - b, "deflate"))
            c = CODING_DEFLATE;
        else if (ieq(v + b, e - b, "chunked"))
            c = CODING_CHUNKED;
        else
            c = CODING_OTHER;
        if (list == m->te) {
            m->te_seen = 1;
            m->te_last = c;
        }
        if (*n == CODINGS_MAX)
            m->codings_over = 1;
        else
            list[(*n)++] = c;
    }
}

/* One Content-Length value: a list of decimals that must all agree. */
static void content_length(dlp_http_t *h, hdir_t *d, const uint8_t *v, size_t len)
{
    msg_t *m = &d->m;
    size_t i = 0;
    bool bad = false, any = false;

    while (i <= len) {
        size_t b = i, e;
        uint64_t x = 0;

        while (i < len && v[i] != ',')
            i++;
        e = i++;
        trim(v, &b, &e);
        if (b == e)
            continue;
        any = true;
        for (size_t j = b; j < e && x <= DLP_HTTP_BODY_LEN_MAX; j++)
            x = is_digit(v[j]) ? x * 10 + (uint64_t)(v[j] - '0') : DLP_HTTP_BODY_LEN_MAX + 1;
        if (x > DLP_HTTP_BODY_LEN_MAX || (m->cl_state == CL_VALID && x != m->cl)) {
            bad = true;
        } else if (m->cl_state != CL_VALID) {
            m->cl = x;
            m->cl_state = CL_VALID;
        }
    }
    if (bad || !any) {
        if (m->cl_state == CL_NONE)
            m->cl_state = CL_INVALID;
        note_error(h, d);
    }
}

/* Calls fn on each element of a list "a, b;x=1, c" (RFC 9110 5.6.1), trimmed;
 * quoted strings are not special (a ',' inside one splits it: harmless here). */
static void list_each(const uint8_t *v, size_t n, char sep,
                      void (*fn)(void *arg, const uint8_t *e, size_t len), void *arg)
{
    size_t b = 0;

    while (b <= n) {
        const uint8_t *c = memchr(v + b, sep, n - b);
        size_t e = c != NULL ? (size_t)(c - v) : n, tb = b, te = e;

        trim(v, &tb, &te);
        if (te > tb)
            fn(arg, v + tb, te - tb);
        b = e + 1;
    }
}

/* Upgrade: a protocol token, "websocket" in any case (RFC 6455 4.1), maybe "/version". */
static void ws_token(void *arg, const uint8_t *e, size_t len)
{
    const uint8_t *slash = memchr(e, '/', len);

    if (ieq(e, slash != NULL ? (size_t)(slash - e) : len, "websocket"))
        ((dlp_http_t *)arg)->ws_req = 1;
    else if (ieq(e, len, "h2c"))
        ((dlp_http_t *)arg)->h2c_req = 1;
}

static void ws_upgrade(dlp_http_t *h, const uint8_t *v, size_t n)
{
    list_each(v, n, ',', ws_token, h);
}

/* One ';'-separated parameter of the permessage-deflate the 101 agreed. */
static void ws_param(void *arg, const uint8_t *e, size_t len)
{
    dlp_http_t *h = arg;
    const uint8_t *eq = memchr(e, '=', len);
    size_t b = 0, k = eq != NULL ? (size_t)(eq - e) : len;

    trim(e, &b, &k);
    if (ieq(e + b, k - b, "client_no_context_takeover"))
        h->ws_nct[0] = 1;
    else if (ieq(e + b, k - b, "server_no_context_takeover"))
        h->ws_nct[1] = 1;
}

/* One extension of the 101's Sec-WebSocket-Extensions (RFC 7692 5): its name, then
 * parameters. Whether deflate was agreed is not kept: ws.c inflates by RSV1 alone. */
static void ws_element(void *arg, const uint8_t *e, size_t len)
{
    const uint8_t *semi = memchr(e, ';', len);
    size_t b = 0, k = semi != NULL ? (size_t)(semi - e) : len;

    trim(e, &b, &k);
    if (semi != NULL && ieq(e + b, k - b, "permessage-deflate"))
        list_each(semi + 1, len - (size_t)(semi - e) - 1, ';', ws_param, arg);
}

static void header_interpret(dlp_http_t *h, hdir_t *d, const uint8_t *s, size_t n)
{
    const uint8_t *colon = memchr(s, ':', n);
    size_t nl, vs;
    msg_t *m = &d->m;

    if (colon == NULL)
        return;
    nl = (size_t)(colon - s);
    vs = nl + 2 <= n ? nl + 2 : n;
    if (ieq(s, nl, "content-length")) {
        content_length(h, d, s + vs, n - vs);
    } else if (ieq(s, nl, "transfer-encoding")) {
        codings_add(m, m->te, &m->nte, s + vs, n - vs);
    } else if (ieq(s, nl, "content-encoding")) {
        codings_add(m, m->ce, &m->nce, s + vs, n - vs);
    } else if (ieq(s, nl, "content-type")) {
        if (m->ctype == NULL && (m->ctype = malloc(n - vs + 1)) != NULL) {
            memcpy(m->ctype, s + vs, n - vs);
            m->ctype[n - vs] = '\0';
        } else if (m->ctype == NULL) {
            h->enomem = 1;
        }
    } else if (d->dir == 0 && ieq(s, nl, "host")) {
        if (!m->host_done && n > vs)
            s_meta(h, d, DLP_META_HTTP_HOST, s + vs, n - vs);
        m->host_done = 1;
    } else if (d->dir == 0 && ieq(s, nl, "upgrade")) {
        d->tunnel_pending = 1;
        ws_upgrade(h, s + vs, n - vs);
    } else if (d->dir == 1 && ieq(s, nl, "sec-websocket-extensions")) {
        list_each(s + vs, n - vs, ',', ws_element, h);
    }
}

/*
 * A request's Cookie header holding a '%' or a '+' is also written
 * percent-decoded, '+' as a space: PHP ($_COOKIE, php_url_decode: '+' too),
 * Rails and Express decode cookie values, so "cc=%34%35%33..." or
 * "cc=4539+1488+..." is a card to the application. Only that header: other
 * values are not URL-coded.
 */
static void cookie_decoded(dlp_http_t *h, hdir_t *d)
{
    const uint8_t *s = d->buf;
    size_t n = d->held, k;
    uint8_t *out;

    if (d->dir != 0 || n < 8 || !ieq(s, 6, "cookie") || s[6] != ':' ||
        (!memchr(s, '%', n) && !memchr(s, '+', n)))
        return;
    out = malloc(n + 1);
    if (out == NULL)
        return; /* the header was scanned as sent */
    k = dlp_percent_decode(s, n, out, n, true);
    out[k] = '\n';
    h->sink->write(h->ctx[d->dir], d->hstream, out, k + 1);
    free(out);
}

/* The held header is complete: interpret it and write it to the header stream. */
static void header_emit(dlp_http_t *h, hdir_t *d)
{
    if (!d->hopened) {
        d->hopened = 1;
        d->hstream = h->sink->open(h->ctx[d->dir], DLP_FIELD_HTTP_HEADER, NULL);
    }
    if (d->state == ST_HEADER)
        header_interpret(h, d, d->buf, d->held);
    d->buf[d->held] = '\n';
    if (d->hstream != NULL)
        h->sink->write(h->ctx[d->dir], d->hstream, d->buf, d->held + 1);
    if (d->hstream != NULL && d->state == ST_HEADER)
        cookie_decoded(h, d);
    line_reset(d);
    d->hsecret = 0;
}

/*
 * A complete physical header line is at buf[held, len): a continuation is
 * joined to the held header with one SP, anything else becomes the held
 * header "Name: value" (OWS around the value removed; whitespace before the
 * colon is kept, so such a name matches nothing; a line without a colon is
 * kept trimmed).
 */
static void header_line(hdir_t *d)
{
    uint8_t *s = d->buf + d->held;
    size_t n = d->len - d->held, b = 0, e = n, ne;
    const uint8_t *colon;

    d->held_raw += (uint32_t)n;
    if (d->held > 0) {
        trim(s, &b, &e);
        if (e > b) {
            s[0] = ' ';
            memmove(s + 1, s + b, e - b);
            d->held += (uint32_t)(e - b + 1);
        }
        d->len = d->held;
        return;
    }
    colon = memchr(s, ':', n);
    if (colon == NULL) {
        trim(s, &b, &e);
        memmove(s, s + b, e - b);
        d->held = d->len = (uint32_t)(e - b);
        return;
    }
    ne = (size_t)(colon - s);
    b = ne + 1;
    trim(s, &b, &e);
    memmove(s + ne + 2, s + b, e - b);
    s[ne] = ':';
    s[ne + 1] = ' ';
    d->held = d->len = (uint32_t)(ne + 2 + e - b);
}

/*
 * Headers whose value is a credential: kept out of evidence captures (still
 * scanned as http.header, as any header). Authorization and
 * Proxy-Authorization (Basic is the password itself, Bearer a token), and the
 * session cookies, Cookie and Set-Cookie: bearer tokens as good as a password
 * while the session lasts. An analyst still sees that they were sent, and
 * every other header.
 */
static const char *const cred_names[] = {"authorization", "proxy-authorization", "cookie",
                                         "set-cookie"};

/*
 * Whether a header line starting with s[0, n) may be one of those: its name,
 * blanks around it ignored (a lenient server's reading), is one; with no
 * colon yet, begins one (at a gap or a bound: the rest is unknown).
 */
static bool cred_name(const uint8_t *s, size_t n)
{
    const uint8_t *colon = memchr(s, ':', n);
    size_t b = 0, e = colon != NULL ? (size_t)(colon - s) : n;

    trim(s, &b, &e);
    for (size_t i = 0; i < DLP_ARRAY_LEN(cred_names); i++) {
        size_t k = strlen(cred_names[i]), j = 0;
        if (colon != NULL) {
            if (ieq(s + b, e - b, cred_names[i]))
                return true;
            continue;
        }
        while (j < e - b && j < k && lower(s[b + j]) == (uint8_t)cred_names[i][j])
            j++;
        if (j == e - b && j <= k)
            return true;
    }
    return false;
}

/*
 * The line in progress (its kept bytes buf[held, len), then p[0, n)) is part
 * of a credential header: a continuation of a held one (it starts with a
 * blank, or the held header would have been emitted), or one by its name.
 */
static bool cred_line(const hdir_t *d, const uint8_t *p, size_t n)
{
    uint8_t w[64];
    size_t k = 0;

    if (d->held > 0)
        return d->hsecret;
    for (size_t i = d->held; i < d->len && k < sizeof(w); i++)
        w[k++] = d->buf[i];
    for (size_t i = 0; i < n && k < sizeof(w); i++)
        w[k++] = p[i];
    return cred_name(w, k);
}

/*
 * A complete header line at buf[held, len), its LF at p[used - 1]: of a
 * credential header, the value (after the colon and its blanks), or all of a
 * continuation line, is a secret, ending before the CR LF (before the LF,
 * the CR counted in, when the CR came in an earlier write).
 */
static void cred_report(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t used)
{
    const uint8_t *s = d->buf + d->held, *stop = p + used - 1;
    size_t n = d->len - d->held, v = 0;

    if (d->held == 0) {
        const uint8_t *colon = memchr(s, ':', n);
        d->hsecret = cred_name(s, n);
        if (colon != NULL)
            for (v = (size_t)(colon - s) + 1; v < n && is_ws(s[v]);)
                v++;
    }
    if (!d->hsecret)
        return;
    if (d->lraw - (d->len - d->held) == 2) {
        if (used >= 2)
            stop--;
        else
            n++;
    }
    s_secret(h, d, stop, n - v);
}

static void headers_end(dlp_http_t *h, hdir_t *d, bool *done)
{
    msg_t *m = &d->m;

    hstream_close(h, d);
    if (d->state == ST_TRAILER) {
        msg_end(h, d);
        return;
    }
    if (d->dir == 1) {
        if (m->status == 101 || ((m->req_flags & Q_CONNECT) && m->status / 100 == 2)) {
            h->tunnel = 1;
            h->connect = m->status != 101; /* a CONNECT's 2xx, whatever was sent after it */
            msg_reset(d);
            d->state = ST_TUNNEL;
            *done = true;
            return;
        }
        if ((m->req_flags & Q_HEAD) || m->status < 200 || m->status == 204 || m->status == 304) {
            msg_end(h, d);
            return;
        }
    }
    if (m->te_seen && m->http10) {
        /* RFC 9112 6.1: faulty framing; browsers ignore it below 1.1 */
        note_error(h, d);
        m->te_seen = m->nte = 0;
        d->state = ST_CLOSE;
    } else if (m->te_seen) {
        if (m->te_last == CODING_CHUNKED) {
            d->state = ST_CHUNK_SIZE;
            return;
        }
        if (d->dir == 0)
            note_error(h, d);
        d->state = ST_CLOSE;
    } else if (m->cl_state == CL_VALID && m->cl > 0) {
        d->remain = m->cl;
        d->state = ST_BODY;
    } else if (m->cl_state == CL_INVALID || (m->cl_state == CL_NONE && d->dir == 1)) {
        d->state = ST_CLOSE;
    } else {
        msg_end(h, d);
    }
}

/* HEADER and TRAILER: header lines up to the blank line. */
static size_t feed_header(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n, bool *done)
{
    uint64_t budget = h->lim.header_block_max - d->block;
    size_t used;
    int r;

    if (d->lraw == 0 && d->held > 0 && !is_ws(p[0]))
        header_emit(h, d);
    r = line_take(h, d, p, n, h->lim.line_max - d->held_raw, budget, &used);
    if (r == LINE_MORE)
        return used;
    if (r == LINE_OVER) {
        uint64_t raw = d->lraw;

        if (cred_line(d, p, used)) { /* the whole line so far; its rest, dropped, too */
            s_secret(h, d, p + used, raw);
            d->dsecret = d->drop != DROP_NONE;
        }
        line_to_raw(h, d, p, used);
        if (d->held > 0) {
            d->len = d->held;
            header_emit(h, d);
        }
        d->lraw = raw;
        msg_abandon(h, d);
        reject(d, DLP_NOTE_HEADER_CAP);
        return used;
    }
    if (d->len > 0)
        cred_report(h, d, p, used);
    d->block += d->lraw;
    d->lraw = 0;
    if (d->len == 0) {
        headers_end(h, d, done);
        return used;
    }
    header_line(d);
    return used;
}

/* --- chunked framing ------------------------------------------------------- */

/*
 * 1*HEXDIG [BWS] [";" extensions], read as leniently as the most lenient
 * browser: whitespace before the digits and anything after them accepted.
 */
static bool chunk_size(const uint8_t *s, size_t n, uint64_t *sz)
{
    uint64_t x = 0;
    size_t i = 0, b;

    while (i < n && (is_ws(s[i]) || s[i] == '\r' || s[i] == '\v' || s[i] == '\f'))
        i++;
    for (b = i; i < n && x <= DLP_HTTP_BODY_LEN_MAX; i++) {
        uint8_t c = lower(s[i]);

        if (is_digit(c))
            x = x * 16 + (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x = x * 16 + (uint64_t)(c - 'a' + 10);
        else
            break;
    }
    *sz = x;
    return i > b && x <= DLP_HTTP_BODY_LEN_MAX;
}

static bool blank(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_ws(s[i]) && s[i] != '\r' && s[i] != '\v' && s[i] != '\f')
            return false;
    return true;
}

/* CHUNK_SIZE (size line) and CHUNK_END (the CRLF after chunk data). */
static size_t feed_chunk_line(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n)
{
    uint64_t sz = 0;
    size_t used;
    int r = line_take(h, d, p, n, h->lim.line_max, UINT64_MAX, &used);

    if (r == LINE_MORE)
        return used;
    if (r == LINE_OVER) {
        line_to_raw(h, d, p, used);
        msg_abandon(h, d);
        reject(d, DLP_NOTE_HEADER_CAP);
        return used;
    }
    if (d->state == ST_CHUNK_SIZE && blank(d->buf, d->len)) {
        line_reset(d);
        return used;
    }
    if (d->state == ST_CHUNK_END ? d->len != 0 : !chunk_size(d->buf, d->len, &sz)) {
        line_to_raw(h, d, NULL, 0);
        msg_abandon(h, d);
        reject(d, DLP_NOTE_DECODER_ERROR);
        return used;
    }
    line_reset(d);
    if (d->state == ST_CHUNK_END) {
        d->state = ST_CHUNK_SIZE;
    } else if (sz == 0) {
        chain_end(d, true);
        d->block = 0;
        d->state = ST_TRAILER;
    } else {
        d->remain = sz;
        d->state = ST_CHUNK_DATA;
    }
    return used;
}

/* BODY and CHUNK_DATA: 'remain' bytes of content, passed as one slice. */
static size_t feed_counted(dlp_http_t *h, hdir_t *d, const uint8_t *p, size_t n)
{
    size_t k = n < d->remain ? n : (size_t)d->remain;

    body_write(h, d, p, k);
    d->remain -= k;
    if (d->remain > 0)
        return k;
    if (d->state == ST_BODY) {
        msg_end(h, d);
    } else {
        line_reset(d);
        d->state = ST_CHUNK_END;
    }
    return k;
}

/* --- public ---------------------------------------------------------------- */

dlp_http_t *dlp_http_new(const dlp_content_sink_t *sink, void *const ctx[2],
                         const dlp_app_limits_t *l)
{
    dlp_http_t *h;

    if (sink == NULL || sink->open == NULL || sink->write == NULL || sink->close == NULL)
        return NULL;
    h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->sink = sink;
    if (ctx != NULL) {
        h->ctx[0] = ctx[0];
        h->ctx[1] = ctx[1];
    }
    if (l != NULL) {
        h->lim = *l;
    } else {
        h->lim.line_max = DLP_APP_LINE_MAX;
        h->lim.header_block_max = DLP_APP_HEADER_BLOCK_MAX;
        h->lim.mime_depth_max = DLP_APP_MIME_DEPTH_MAX;
        h->lim.decomp_max = DLP_APP_DECOMP_MAX;
        h->lim.decomp_ratio_max = DLP_APP_DECOMP_RATIO_MAX;
        h->lim.chain_max = DLP_APP_CHAIN_MAX;
    }
    if (h->lim.line_max == 0)
        h->lim.line_max = 1;
    for (int i = 0; i < 2; i++) {
        h->d[i].dir = (uint8_t)i;
        h->d[i].skip_note = NO_NOTE;
    }
    return h;
}

void dlp_http_free(dlp_http_t *h)
{
    if (h == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        msg_abandon(h, &h->d[i]);
        raw_close(h, &h->d[i]);
        free(h->d[i].buf);
    }
    free(h);
}

dlp_rc_t dlp_http_write(dlp_http_t *h, int dir, const uint8_t *p, size_t n, size_t *consumed)
{
    size_t off = 0, k = 0;
    bool done = false;
    hdir_t *d;

    if (consumed != NULL)
        *consumed = 0;
    if (h == NULL || dir < 0 || dir > 1 || (p == NULL && n > 0))
        return DLP_EINVAL;
    d = &h->d[dir];
    h->enomem = 0;
    while (off < n && !done) {
        switch (d->state) {
        case ST_START:
            k = feed_start(h, d, p + off, n - off, &done);
            break;
        case ST_HEADER:
        case ST_TRAILER:
            k = feed_header(h, d, p + off, n - off, &done);
            break;
        case ST_CHUNK_SIZE:
        case ST_CHUNK_END:
            k = feed_chunk_line(h, d, p + off, n - off);
            break;
        case ST_BODY:
        case ST_CHUNK_DATA:
            k = feed_counted(h, d, p + off, n - off);
            break;
        case ST_CLOSE:
            k = n - off;
            body_write(h, d, p + off, k);
            break;
        case ST_TUNNEL:
            k = 0;
            done = true;
            break;
        default:
            k = n - off;
            break;
        }
        off += k;
    }
    if (consumed != NULL)
        *consumed = off;
    if (done)
        return DLP_DONE;
    return h->enomem ? DLP_ENOMEM : DLP_OK;
}

void dlp_http_gap(dlp_http_t *h, int dir, uint64_t len)
{
    hdir_t *d;

    if (h == NULL || dir < 0 || dir > 1)
        return;
    d = &h->d[dir];
    if (d->state == ST_TUNNEL || d->state == ST_ENDED)
        return;
    if (((d->state == ST_BODY || d->state == ST_CHUNK_DATA) && len <= d->remain) ||
        d->state == ST_CLOSE) {
        chain_end(d, false);
        if (encoded(&d->m))
            d->m.discard = 1;
        s_note(h, d, DLP_NOTE_GAP, len);
        if (d->state != ST_CLOSE && (d->remain -= len) == 0)
            (void)feed_counted(h, d, NULL, 0);
        return;
    }
    /* a line cut by the gap can no longer prove to be a start line, a header
     * or a chunk size: what came of it is scanned raw (a credential's part kept
     * out of evidence: the gap is behind it, so the last lraw bytes taken) */
    if ((d->state == ST_HEADER || d->state == ST_TRAILER) && d->lraw > 0 && cred_line(d, NULL, 0))
        s_secret(h, d, NULL, d->lraw);
    line_to_raw(h, d, NULL, 0);
    if (d->state != ST_START) {
        if (d->held > 0) {
            d->len = d->held;
            header_emit(h, d);
        }
        msg_abandon(h, d);
    } else if (d->skipping) {
        d->skipped += d->lraw;
    }
    skip_end(h, d);
    line_reset(d);
    d->drop = d->dsecret = 0;
    s_note(h, d, DLP_NOTE_GAP, len);
    d->state = ST_START;
    d->skipping = 1;
}

/* The direction ends inside a header block: the last line counts if it is within bounds. */
static void end_in_header(dlp_http_t *h, hdir_t *d)
{
    uint64_t raw = d->lraw;
    uint32_t real = d->len - d->held;

    if (raw > 0 && cred_line(d, NULL, 0)) /* the last raw bytes taken */
        s_secret(h, d, NULL, raw);
    if (real > 0 && d->buf[d->len - 1] == '\r')
        real--;
    if (real > h->lim.line_max - d->held_raw) {
        /* too long to be a header: its bytes are still scanned */
        line_to_raw(h, d, NULL, 0);
        raw_close(h, d);
        d->len = d->held;
        if (d->held > 0)
            header_emit(h, d);
        s_note(h, d, DLP_NOTE_HEADER_CAP, raw);
    } else if (real > 0) {
        d->len = d->held + real;
        header_line(d);
    }
    if (d->held > 0)
        header_emit(h, d);
    msg_end(h, d);
}

void dlp_http_end(dlp_http_t *h, int dir)
{
    hdir_t *d;

    if (h == NULL || dir < 0 || dir > 1)
        return;
    d = &h->d[dir];
    switch (d->state) {
    case ST_START:
        line_to_raw(h, d, NULL, 0);
        if (d->skipping)
            d->skipped += d->lraw;
        else if (d->lraw > 0)
            s_note(h, d, DLP_NOTE_DECODER_ERROR, d->lraw);
        skip_end(h, d);
        break;
    case ST_HEADER:
    case ST_TRAILER:
        end_in_header(h, d);
        break;
    case ST_TUNNEL:
    case ST_ENDED:
        return;
    default:
        msg_end(h, d);
        break;
    }
    line_reset(d);
    d->state = ST_ENDED;
}

dlp_http_sniff_t dlp_http_sniff_request(const uint8_t *p, size_t n)
{
    static const char ver[] = " HTTP/1.";
    size_t i = 0, m;

    while (i < n && i <= 16 &&
           ((p[i] >= 'A' && p[i] <= 'Z') || (i > 0 && (p[i] == '-' || p[i] == '_'))))
        i++;
    if (i > 16)
        return DLP_HTTP_SNIFF_NO;
    if (i == n)
        return DLP_HTTP_SNIFF_MORE;
    if (i < 3 || p[i] != ' ')
        return DLP_HTTP_SNIFF_NO;
    m = i++;
    if (i == n)
        return DLP_HTTP_SNIFF_MORE;
    if (m == 7 && memcmp(p, "CONNECT", 7) == 0) {
        if (!is_tchar(p[i]) && p[i] != '[')
            return DLP_HTTP_SNIFF_NO;
    } else if (p[i] != '/' && p[i] != '*') {
        for (size_t k = 0; k < 4; k++) {
            if (i + k == n)
                return DLP_HTTP_SNIFF_MORE;
            if (lower(p[i + k]) != (uint8_t) "http"[k])
                return DLP_HTTP_SNIFF_NO;
        }
    }
    while (i < n && p[i] != ' ')
        if (is_ctl(p[i++]))
            return DLP_HTTP_SNIFF_NO;
    for (size_t k = 0; i + k < n && k < 8; k++)
        if (p[i + k] != (uint8_t)ver[k])
            return DLP_HTTP_SNIFF_NO;
    return DLP_HTTP_SNIFF_YES;
}

bool dlp_http_is_request(const uint8_t *p, size_t n)
{
    return p != NULL && dlp_http_sniff_request(p, n) != DLP_HTTP_SNIFF_NO;
}

/* Stages do not report their memory: an estimate by kind (inflate.c, mime.c). */
static size_t stage_mem(const dlp_stage_t *st)
{
    const char *name = st->ops != NULL ? st->ops->name : NULL;

    if (name != NULL && strcmp(name, "inflate") == 0)
        return DLP_STAGE_INFLATE_MEM;
    if (name != NULL && strcmp(name, "mime") == 0)
        return STAGE_MEM_MIME;
    return STAGE_MEM_OTHER;
}

bool dlp_http_websocket(const dlp_http_t *h, dlp_http_ws_t *ws)
{
    if (h == NULL || ws == NULL || !h->ws_req)
        return false;
    ws->answered = h->ws_101;
    ws->no_context_takeover[0] = h->ws_101 && h->ws_nct[0];
    ws->no_context_takeover[1] = h->ws_101 && h->ws_nct[1];
    return true;
}

bool dlp_http_connect(const dlp_http_t *h)
{
    return h != NULL && h->connect;
}

bool dlp_http_h2c(const dlp_http_t *h)
{
    return h != NULL && h->h2c_req && h->ws_101;
}

size_t dlp_http_mem(const dlp_http_t *h)
{
    size_t m;

    if (h == NULL)
        return 0;
    m = sizeof(*h);
    for (int i = 0; i < 2; i++) {
        const hdir_t *d = &h->d[i];

        m += d->cap;
        if (d->m.ctype != NULL)
            m += strlen(d->m.ctype) + 1;
        for (const dlp_stage_t *st = d->chain; st != NULL; st = st->next)
            m += stage_mem(st);
    }
    return m;
}
