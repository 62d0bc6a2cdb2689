/*
 * dns.c - DNS messages (dns.h): the names a query carries, as text.
 *
 * A message is accepted as DNS when its header is a standard query
 * (opcode 0) with 1..16 questions, or a standard response with at most 16
 * (mDNS announcements have none), and every section it walks stays inside
 * the message. For a query (QR=0) the question names, then
 * the owner names of the answer, authority and additional records, are
 * reported with sink->block(DLP_FIELD_DNS_QUERY) as they are decoded; a
 * response is checked (header and questions) but reports nothing: its
 * question is the one the query already carried. A malformed part ends
 * the walk with DLP_EPROTO, after the names decoded before it were
 * reported (an exfiltration channel need not be well-formed past its
 * payload); nothing is noted for it, the caller decides.
 *
 * Names: labels of up to 63 bytes (the two length bits 01 and 10 are
 * refused), at most 255 bytes in wire form, compression pointers that
 * never point into the header and always point before the start of the
 * stretch of labels they end (so the walk strictly moves backwards and
 * cannot loop), at most 16 of them per name. Text is dotted, labels as raw
 * bytes: '.' and '\' inside a label are backslash-escaped and bytes
 * outside 0x21..0x7e become \DDD (as dig prints them). Two more blocks of
 * the same field follow it, because the server reads labels, not that
 * text: the labels' raw bytes joined by '.' (only when a byte was escaped:
 * "4539 1488 0343 6467" in one label, which the text spells with \032),
 * and the name joined (when that differs): every '.', between labels or
 * inside one, dropped, except one that stands between a digit and a letter,
 * so that "4539.1488.0343.6467.x.example.net", a value split over labels
 * (the usual shape of DNS exfiltration), reads "4539148803436467.xexamplenet"
 * and the value still ends at a word boundary. The validators (Luhn...)
 * keep digits joined by chance out. A value split between a letter and a
 * digit ("DE.89370400...") stays split. Empty names (the
 * root, EDNS OPT owners) are skipped; a name reached again through a
 * pointer to the same labels is reported once per message; at most 64
 * names per message are reported, the rest is noted
 * (DLP_NOTE_HEADER_CAP, the message bytes left).
 *
 * What a message holds besides its header and questions (the records'
 * data, bytes after the last section, a response's answers: a client may
 * send a "response" too) is no name, but the server receives it: a message
 * with any is also reported whole, as it is, as one more block of
 * DLP_FIELD_DNS_QUERY (after its names), so a value put there is scanned.
 * One block per message, whatever its records, bounds the cost (an EDNS
 * query, the common case, pays one short scan).
 *
 * TCP: each message has a 2-byte length prefix. A message whole in one write
 * is parsed where it is; one split across writes (or whole but not DNS) is
 * copied whole (length first) into a buffer that grows with its bytes up to
 * its size (at most 65537 bytes, charged to the flow: dlp_dns_stream_mem),
 * then parsed.
 * After a malformed message the stream stops: that write returns
 * DLP_EPROTO, every later one DLP_DONE.
 *
 * Thread: the flow's worker; dlp_dns_message and dlp_dns_is_query are pure.
 */
#include "dlp/dns.h"
#include "dlp/limits.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_WIRE_MAX 255                /* RFC 1035 3.1, length bytes and root included */
#define DNS_TEXT_MAX (DNS_NAME_WIRE_MAX * 4) /* every byte as \DDD */
#define DNS_RAW_MAX DNS_NAME_WIRE_MAX        /* labels and the dots between them */
#define DNS_RR_FIXED 10                      /* type, class, ttl, rdlength */
#define DNS_Q_FIXED 4                        /* qtype, qclass */

/* A decoded name: its text (dig's form), its raw labels joined by '.', and whether the
 * two differ. */
typedef struct dns_name {
    char text[DNS_TEXT_MAX];
    size_t tlen;
    uint8_t raw[DNS_RAW_MAX];
    size_t rlen;
    bool escaped;
} dns_name_t;

typedef struct dns_walk {
    const uint8_t *m;
    size_t n;
    size_t off;
    const dlp_content_sink_t *sink; /* NULL: check only */
    void *ctx;
    uint16_t seen[DLP_DNS_NAMES_MAX]; /* offset of the first label of each reported name */
    unsigned nseen;
    bool capped;
    size_t qend; /* where the questions end */
} dns_walk_t;

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static size_t escape(uint8_t c, char *out)
{
    if (c == '.' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c >= 0x21 && c <= 0x7e) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = '\\';
    out[1] = (char)('0' + c / 100);
    out[2] = (char)('0' + c / 10 % 10);
    out[3] = (char)('0' + c % 10);
    return 4;
}

/*
 * Decodes the name at w->off into nm and moves w->off past it. *first is
 * the offset of its first label (or of its root byte). Returns false when
 * the name is malformed.
 */
static bool name(dns_walk_t *w, dns_name_t *nm, size_t *first)
{
    size_t pos = w->off, seg = w->off, wire = 1, t = 0, r = 0;
    unsigned jumps = 0;
    bool jumped = false;

    *first = SIZE_MAX;
    for (;;) {
        uint8_t len;

        if (pos >= w->n)
            return false;
        len = w->m[pos];
        if ((len & 0xc0) == 0xc0) {
            size_t target;

            if (pos + 1 >= w->n || ++jumps > DLP_DNS_POINTERS_MAX)
                return false;
            target = (size_t)(len & 0x3f) << 8 | w->m[pos + 1];
            if (target < DNS_HDR_LEN || target >= seg)
                return false;
            if (!jumped)
                w->off = pos + 2;
            jumped = true;
            pos = seg = target;
            continue;
        }
        if (len & 0xc0)
            return false;
        if (*first == SIZE_MAX)
            *first = pos;
        if (len == 0)
            break;
        wire += (size_t)len + 1;
        if (wire > DNS_NAME_WIRE_MAX || pos + 1 + len > w->n)
            return false;
        if (t > 0) {
            nm->text[t++] = '.';
            nm->raw[r++] = '.';
        }
        for (size_t i = 0; i < len; i++) {
            size_t k = escape(w->m[pos + 1 + i], nm->text + t);
            nm->escaped |= k > 1;
            t += k;
        }
        memcpy(nm->raw + r, w->m + pos + 1, len); /* wire <= 255 bounds r */
        r += len;
        pos += 1 + (size_t)len;
    }
    if (!jumped)
        w->off = pos + 1;
    nm->tlen = t;
    nm->rlen = r;
    return true;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* The name joined (see the top) into out (at least nm->rlen bytes); its length. */
static size_t join(const dns_name_t *nm, uint8_t *out)
{
    const uint8_t *p = nm->raw;
    size_t n = nm->rlen, k = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '.' && i > 0 && i + 1 < n && !(is_digit(p[i - 1]) && is_alpha(p[i + 1])) &&
            !(is_alpha(p[i - 1]) && is_digit(p[i + 1])))
            continue;
        out[k++] = p[i];
    }
    return k;
}

/* Reports a decoded name unless empty, already reported, or over the cap. */
static void report(dns_walk_t *w, const dns_name_t *nm, size_t first)
{
    uint8_t joined[DNS_RAW_MAX];
    size_t jlen;

    if (w->sink == NULL || w->capped || nm->tlen == 0)
        return;
    for (unsigned i = 0; i < w->nseen; i++)
        if (w->seen[i] == first)
            return;
    if (w->nseen == DLP_DNS_NAMES_MAX) {
        w->capped = true;
        if (w->sink->note != NULL)
            w->sink->note(w->ctx, DLP_NOTE_HEADER_CAP, w->n - w->off);
        return;
    }
    w->seen[w->nseen++] = (uint16_t)first;
    if (w->sink->block == NULL)
        return;
    w->sink->block(w->ctx, DLP_FIELD_DNS_QUERY, (const uint8_t *)nm->text, nm->tlen);
    if (nm->escaped)
        w->sink->block(w->ctx, DLP_FIELD_DNS_QUERY, nm->raw, nm->rlen);
    jlen = join(nm, joined);
    if (jlen < nm->rlen)
        w->sink->block(w->ctx, DLP_FIELD_DNS_QUERY, joined, jlen);
}

/* One name then 'fixed' bytes; for records, rdlength more. */
static bool entry(dns_walk_t *w, size_t fixed, bool rr)
{
    dns_name_t nm;
    size_t first;
    size_t start;

    nm.escaped = false;
    if (!name(w, &nm, &first))
        return false;
    start = w->off;
    if (w->n - w->off < fixed)
        return false;
    w->off += fixed;
    if (rr) {
        size_t rdlen = be16(w->m + start + 8);
        if (w->n - w->off < rdlen)
            return false;
        w->off += rdlen;
    }
    report(w, &nm, first);
    return true;
}

/*
 * Walks a message; reports through w->sink when it is a query. *is_query
 * tells what the header said. Returns false when it is not DNS.
 */
static bool walk(dns_walk_t *w, bool *is_query)
{
    const uint8_t *m = w->m;
    unsigned qd;
    uint32_t rrs;

    if (w->n < DNS_HDR_LEN || ((m[2] >> 3) & 0x0f) != 0)
        return false;
    qd = be16(m + 4);
    *is_query = (m[2] & 0x80) == 0;
    if (qd > DLP_DNS_QUESTIONS_MAX || (qd == 0 && *is_query))
        return false;
    if (!*is_query)
        w->sink = NULL;
    w->off = DNS_HDR_LEN;
    for (unsigned i = 0; i < qd; i++)
        if (!entry(w, DNS_Q_FIXED, false))
            return false;
    w->qend = w->off;
    if (!*is_query)
        return true;
    rrs = (uint32_t)be16(m + 6) + be16(m + 8) + be16(m + 10);
    for (uint32_t i = 0; i < rrs; i++)
        if (!entry(w, DNS_RR_FIXED, true))
            return false;
    return true;
}

dlp_rc_t dlp_dns_message(const uint8_t *p, size_t n, const dlp_content_sink_t *sink, void *ctx)
{
    dns_walk_t w;
    bool q;

    if (p == NULL || n > UINT16_MAX)
        return DLP_EPROTO;
    memset(&w, 0, sizeof(w));
    w.m = p;
    w.n = n;
    w.sink = sink;
    w.ctx = ctx;
    if (!walk(&w, &q))
        return DLP_EPROTO;
    /* more than names: the whole message, as the server receives it */
    if (w.qend < n && sink != NULL && sink->block != NULL)
        sink->block(ctx, DLP_FIELD_DNS_QUERY, p, n);
    return DLP_OK;
}

bool dlp_dns_is_query(const uint8_t *p, size_t n)
{
    dns_walk_t w;
    bool q = false;

    if (p == NULL || n > UINT16_MAX)
        return false;
    memset(&w, 0, sizeof(w));
    w.m = p;
    w.n = n;
    return walk(&w, &q) && q && w.off == n;
}

/* --- TCP --------------------------------------------------------------- */

struct dlp_dns_stream {
    const dlp_content_sink_t *sink;
    void *ctx;
    uint8_t *buf;  /* the message in progress, its 2-byte length first; or the one that failed */
    uint32_t cap;  /* bytes allocated for buf */
    uint32_t have; /* bytes of it in buf */
    uint8_t failed;
};

dlp_dns_stream_t *dlp_dns_stream_new(const dlp_content_sink_t *sink, void *ctx)
{
    dlp_dns_stream_t *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->sink = sink;
    d->ctx = ctx;
    return d;
}

void dlp_dns_stream_free(dlp_dns_stream_t *d)
{
    if (d == NULL)
        return;
    free(d->buf);
    free(d);
}

/* Bytes the message in progress takes in all: its length, then the message. */
static uint32_t stream_want(const dlp_dns_stream_t *d)
{
    return d->have < 2 ? 2 : 2 + (uint32_t)be16(d->buf);
}

/*
 * Room for n bytes of a message of 'want' in all: grown with the bytes that
 * came (doubling, at most to 'want'), not to the length a client announces,
 * so a connection that sends a length of 65535 and a byte holds a byte.
 */
static bool stream_reserve(dlp_dns_stream_t *d, uint32_t n, uint32_t want)
{
    uint32_t cap = d->cap < 256 ? 256 : d->cap * 2;
    uint8_t *b;

    if (d->cap >= n)
        return true;
    cap = cap < n ? n : cap > want ? want : cap;
    b = realloc(d->buf, cap);
    if (b == NULL)
        return false;
    d->buf = b;
    d->cap = cap;
    return true;
}

/*
 * A message whole in the caller's bytes at p (len bytes, its length first) is parsed
 * there, not copied: the common case, one message per segment. Only if it is not DNS is
 * it copied, for dlp_dns_stream_held(); DLP_ENOMEM if it cannot be (nothing held then:
 * the caller scans it with the rest).
 */
static dlp_rc_t stream_whole(dlp_dns_stream_t *d, const uint8_t *p, uint32_t len)
{
    if (dlp_dns_message(p + 2, len - 2, d->sink, d->ctx) == DLP_OK)
        return DLP_OK;
    if (!stream_reserve(d, len, len))
        return DLP_ENOMEM;
    memcpy(d->buf, p, len);
    d->have = len;
    return DLP_EPROTO;
}

/*
 * A message split across writes is copied whole (length included) before it is
 * parsed, so that one which is not DNS, or which the connection ends inside, can still
 * be handed on as the bytes the server received (dlp_dns_stream_held).
 */
dlp_rc_t dlp_dns_stream_write(dlp_dns_stream_t *d, const uint8_t *p, size_t n, size_t *used)
{
    size_t off = 0;
    dlp_rc_t rc = DLP_OK;

    if (d == NULL || (p == NULL && n > 0))
        return DLP_EINVAL;
    if (d->failed)
        return DLP_DONE;
    while (off < n && rc == DLP_OK) {
        uint32_t want = stream_want(d);
        size_t k = want - d->have < n - off ? want - d->have : n - off;
        if (d->have == 0 && n - off > 2 && n - off - 2 >= be16(p + off) && be16(p + off) > 0) {
            want = 2 + (uint32_t)be16(p + off);
            rc = stream_whole(d, p + off, want);
            if (rc != DLP_ENOMEM)
                off += want;
            continue;
        }
        if (!stream_reserve(d, d->have + (uint32_t)k, want)) {
            rc = DLP_ENOMEM;
            break;
        }
        memcpy(d->buf + d->have, p + off, k);
        d->have += (uint32_t)k;
        off += k;
        if (d->have == 2 && stream_want(d) == 2) {
            d->have = 0; /* an empty message: nothing to read */
            continue;
        }
        if (d->have < 2 || d->have < stream_want(d))
            continue;
        rc = dlp_dns_message(d->buf + 2, d->have - 2, d->sink, d->ctx);
        if (rc == DLP_OK)
            d->have = 0;
    }
    if (rc != DLP_OK && rc != DLP_ENOMEM)
        rc = DLP_EPROTO;
    if (rc != DLP_OK)
        d->failed = 1;
    if (used != NULL)
        *used = off;
    return rc;
}

size_t dlp_dns_stream_held(const dlp_dns_stream_t *d, const uint8_t **p)
{
    *p = d != NULL ? d->buf : NULL;
    return d != NULL ? d->have : 0;
}

size_t dlp_dns_stream_mem(const dlp_dns_stream_t *d)
{
    return d != NULL ? sizeof(*d) + d->cap : 0;
}
