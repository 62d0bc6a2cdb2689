/*
 * hpack.c - HPACK header block decoder (RFC 7541).
 *
 * Design: a block arrives whole (h2.c bounds it by DLP_H2_HBLOCK_MAX), so
 * the decoder is a plain loop over it, not a resumable one. Strings are
 * decoded into a scratch buffer of 2 * n bytes (Huffman codes are 5 bits or
 * more: n bytes give at most 8n/5). The dynamic table is a ring of entries,
 * each one allocation (name then value); its size counts 32 per entry
 * (RFC 7541 4.1). It starts at 4096 bytes, the protocol default; the
 * decoder's SETTINGS_HEADER_TABLE_SIZE travels in the other direction, so a
 * size update is trusted up to 'cap' (DLP_HPACK_TABLE_CAP), not up to the
 * announced value. Huffman: the code is canonical (RFC 7541 Appendix B is
 * ordered by length, then symbol), so the table is the 257 code lengths and
 * decoding walks the bits with a first code and count per length.
 *
 * After any error the table is unknown for good: every later call fails.
 *
 * Thread: a dlp_hpack_t belongs to the worker that owns the flow.
 */
#include "dlp/hpack.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/limits.h"

#define ENTRY_OVERHEAD 32
#define TABLE_DEFAULT 4096
#define STATIC_N 61
#define HUFF_SYMS 257
#define HUFF_EOS 256
#define HUFF_LEN_MAX 30

typedef struct entry {
    uint32_t nlen, vlen;
    uint8_t b[]; /* name, then value */
} entry_t;

struct dlp_hpack {
    uint32_t cap, max; /* the hard cap; the current maximum size */
    size_t size;       /* RFC 7541 4.1 */
    entry_t **ring;    /* slots: cap / 32 + 1 */
    size_t nslot, head, count; /* head: the newest entry's slot */
    bool failed;
};

static const char *const static_tab[STATIC_N][2] = {
    {":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
    {":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"},
    {":status", "200"}, {":status", "204"}, {":status", "206"}, {":status", "304"},
    {":status", "400"}, {":status", "404"}, {":status", "500"}, {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"}, {"accept-language", ""}, {"accept-ranges", ""},
    {"accept", ""}, {"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""},
    {"authorization", ""}, {"cache-control", ""}, {"content-disposition", ""},
    {"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
    {"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
    {"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
    {"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""}, {"if-range", ""},
    {"if-unmodified-since", ""}, {"last-modified", ""}, {"link", ""}, {"location", ""},
    {"max-forwards", ""}, {"proxy-authenticate", ""}, {"proxy-authorization", ""},
    {"range", ""}, {"referer", ""}, {"refresh", ""}, {"retry-after", ""}, {"server", ""},
    {"set-cookie", ""}, {"strict-transport-security", ""}, {"transfer-encoding", ""},
    {"user-agent", ""}, {"vary", ""}, {"via", ""}, {"www-authenticate", ""},
};

/* RFC 7541 Appendix B: the code length of each symbol (256: EOS). */
static const uint8_t huff_len[HUFF_SYMS] = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,
};

/* Canonical decoding tables, built once from huff_len (worker threads race
 * to build identical bytes: the flag is set last, with release order). */
static uint32_t huff_first[HUFF_LEN_MAX + 1], huff_count[HUFF_LEN_MAX + 1];
static uint16_t huff_off[HUFF_LEN_MAX + 1], huff_sym[HUFF_SYMS];
static int huff_ready;

static void huff_build(void)
{
    uint32_t code = 0;
    uint16_t k = 0;

    if (__atomic_load_n(&huff_ready, __ATOMIC_ACQUIRE))
        return;
    for (unsigned l = 1; l <= HUFF_LEN_MAX; l++) {
        huff_first[l] = code;
        huff_off[l] = k;
        huff_count[l] = 0;
        for (unsigned s = 0; s < HUFF_SYMS; s++) {
            if (huff_len[s] == l) {
                huff_sym[k++] = (uint16_t)s;
                huff_count[l]++;
            }
        }
        code = (code + huff_count[l]) << 1;
    }
    __atomic_store_n(&huff_ready, 1, __ATOMIC_RELEASE);
}

long dlp_hpack_huffman(const uint8_t *p, size_t n, uint8_t *out)
{
    uint32_t code = 0;
    unsigned len = 0;
    long k = 0;

    huff_build();
    for (size_t i = 0; i < n; i++) {
        for (int b = 7; b >= 0; b--) {
            code = (code << 1) | ((p[i] >> b) & 1u);
            len++;
            if (code - huff_first[len] < huff_count[len]) {
                uint16_t s = huff_sym[huff_off[len] + (code - huff_first[len])];
                if (s == HUFF_EOS)
                    return -1; /* RFC 7541 5.2: EOS in a string is an error */
                out[k++] = (uint8_t)s;
                code = 0;
                len = 0;
            } else if (len >= HUFF_LEN_MAX) {
                return -1;
            }
        }
    }
    /* padding: under 8 bits, the most significant bits of EOS (all ones) */
    if (len > 7 || code != (1u << len) - 1)
        return -1;
    return k;
}

/* --- the dynamic table ------------------------------------------------------ */

static size_t entry_size(const entry_t *e)
{
    return (size_t)e->nlen + e->vlen + ENTRY_OVERHEAD;
}

static void evict_to(dlp_hpack_t *d, size_t limit)
{
    while (d->size > limit && d->count > 0) {
        size_t old = (d->head + d->nslot - (d->count - 1)) % d->nslot;
        d->size -= entry_size(d->ring[old]);
        free(d->ring[old]);
        d->ring[old] = NULL;
        d->count--;
    }
}

/* RFC 7541 4.4: an entry larger than the table empties it and is not added. */
static dlp_rc_t table_add(dlp_hpack_t *d, const uint8_t *nm, size_t nl, const uint8_t *v,
                          size_t vl)
{
    size_t sz = nl + vl + ENTRY_OVERHEAD;
    entry_t *e;

    if (sz > d->max) {
        evict_to(d, 0);
        return DLP_OK;
    }
    evict_to(d, d->max - sz);
    e = malloc(sizeof(*e) + nl + vl);
    if (e == NULL)
        return DLP_ENOMEM;
    e->nlen = (uint32_t)nl;
    e->vlen = (uint32_t)vl;
    memcpy(e->b, nm, nl);
    memcpy(e->b + nl, v, vl);
    d->head = (d->head + 1) % d->nslot;
    d->ring[d->head] = e; /* max <= cap: at most cap / 32 entries, nslot > that */
    d->count++;
    d->size += sz;
    return DLP_OK;
}

int dlp_hpack_entry(const dlp_hpack_t *d, size_t i, const uint8_t **name, size_t *nlen,
                    const uint8_t **value, size_t *vlen)
{
    const entry_t *e;

    if (d == NULL || i == 0 || i > d->count)
        return -1;
    e = d->ring[(d->head + d->nslot - (i - 1)) % d->nslot];
    *name = e->b;
    *nlen = e->nlen;
    *value = e->b + e->nlen;
    *vlen = e->vlen;
    return 0;
}

/* Index space (RFC 7541 2.3.3): 1..61 static, then dynamic, newest first. */
static int lookup(const dlp_hpack_t *d, uint64_t idx, const uint8_t **nm, size_t *nl,
                  const uint8_t **v, size_t *vl)
{
    if (idx == 0)
        return -1;
    if (idx <= STATIC_N) {
        *nm = (const uint8_t *)static_tab[idx - 1][0];
        *nl = strlen(static_tab[idx - 1][0]);
        *v = (const uint8_t *)static_tab[idx - 1][1];
        *vl = strlen(static_tab[idx - 1][1]);
        return 0;
    }
    return dlp_hpack_entry(d, (size_t)(idx - STATIC_N), nm, nl, v, vl);
}

/* --- primitives ------------------------------------------------------------- */

/* RFC 7541 5.1, with an N-bit prefix; values over 2^32 are refused. */
static int get_int(const uint8_t *p, size_t n, size_t *i, unsigned bits, uint64_t *out)
{
    uint64_t mask = (1u << bits) - 1, v;
    unsigned shift = 0;

    if (*i >= n)
        return -1;
    v = p[(*i)++] & mask;
    if (v < mask) {
        *out = v;
        return 0;
    }
    for (;;) {
        uint8_t b;
        if (*i >= n || shift > 28)
            return -1;
        b = p[(*i)++];
        v += (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) == 0)
            break;
    }
    if (v > UINT32_MAX)
        return -1;
    *out = v;
    return 0;
}

/* RFC 7541 5.2: a string literal into out (room for 2x its length). */
static int get_str(const uint8_t *p, size_t n, size_t *i, uint8_t *out, size_t *len)
{
    bool huff;
    uint64_t l;
    long k;

    if (*i >= n)
        return -1;
    huff = (p[*i] & 0x80) != 0;
    if (get_int(p, n, i, 7, &l) != 0 || l > n - *i)
        return -1;
    if (huff) {
        k = dlp_hpack_huffman(p + *i, (size_t)l, out);
        if (k < 0)
            return -1;
        *len = (size_t)k;
    } else {
        memcpy(out, p + *i, (size_t)l);
        *len = (size_t)l;
    }
    *i += (size_t)l;
    return 0;
}

/* --- representations -------------------------------------------------------- */

/* A literal (RFC 7541 6.2): indexed or new name, then the value; added to the
 * table when 'add'. */
static dlp_rc_t literal(dlp_hpack_t *d, const uint8_t *p, size_t n, size_t *i, unsigned bits,
                        bool add, uint8_t *scratch, dlp_hpack_field_fn fn, void *ctx)
{
    const uint8_t *nm, *v;
    size_t nl, vl;
    uint64_t idx;
    uint8_t *vout;

    if (get_int(p, n, i, bits, &idx) != 0)
        return DLP_EPROTO;
    if (idx == 0) {
        if (get_str(p, n, i, scratch, &nl) != 0)
            return DLP_EPROTO;
        nm = scratch;
    } else {
        if (lookup(d, idx, &nm, &nl, &v, &vl) != 0)
            return DLP_EPROTO;
    }
    vout = idx == 0 ? scratch + nl : scratch;
    if (get_str(p, n, i, vout, &vl) != 0)
        return DLP_EPROTO;
    fn(ctx, nm, nl, vout, vl);
    return add ? table_add(d, nm, nl, vout, vl) : DLP_OK;
}

static dlp_rc_t one(dlp_hpack_t *d, const uint8_t *p, size_t n, size_t *i, uint8_t *scratch,
                    dlp_hpack_field_fn fn, void *ctx)
{
    const uint8_t *nm, *v;
    size_t nl, vl;
    uint64_t x;
    uint8_t b = p[*i];

    if (b & 0x80) { /* 6.1 indexed */
        if (get_int(p, n, i, 7, &x) != 0 || lookup(d, x, &nm, &nl, &v, &vl) != 0)
            return DLP_EPROTO;
        fn(ctx, nm, nl, v, vl);
        return DLP_OK;
    }
    if (b & 0x40) /* 6.2.1 incremental indexing */
        return literal(d, p, n, i, 6, true, scratch, fn, ctx);
    if (b & 0x20) { /* 6.3 dynamic table size update */
        if (get_int(p, n, i, 5, &x) != 0 || x > d->cap)
            return DLP_EPROTO;
        d->max = (uint32_t)x;
        evict_to(d, d->max);
        return DLP_OK;
    }
    return literal(d, p, n, i, 4, false, scratch, fn, ctx); /* 6.2.2, 6.2.3 */
}

dlp_rc_t dlp_hpack_decode(dlp_hpack_t *d, const uint8_t *p, size_t n, dlp_hpack_field_fn fn,
                          void *ctx)
{
    uint8_t *scratch;
    size_t i = 0;
    dlp_rc_t rc = DLP_OK;

    if (d == NULL || d->failed)
        return DLP_EPROTO;
    scratch = malloc(2 * n + 1);
    if (scratch == NULL) {
        rc = DLP_ENOMEM;
        goto out;
    }
    while (i < n && rc == DLP_OK)
        rc = one(d, p, n, &i, scratch, fn, ctx);
out:
    free(scratch);
    if (rc != DLP_OK)
        d->failed = true;
    return rc;
}

size_t dlp_hpack_count(const dlp_hpack_t *d)
{
    return d != NULL ? d->count : 0;
}

size_t dlp_hpack_size(const dlp_hpack_t *d)
{
    return d != NULL ? d->size : 0;
}

size_t dlp_hpack_mem(const dlp_hpack_t *d)
{
    if (d == NULL)
        return 0;
    return sizeof(*d) + d->nslot * sizeof(entry_t *) + d->size;
}

void dlp_hpack_set_max(dlp_hpack_t *d, uint32_t max)
{
    if (d == NULL)
        return;
    d->max = max < d->cap ? max : d->cap;
    evict_to(d, d->max);
}

dlp_hpack_t *dlp_hpack_new(uint32_t cap)
{
    dlp_hpack_t *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    d->cap = cap != 0 ? cap : DLP_HPACK_TABLE_CAP;
    d->max = d->cap < TABLE_DEFAULT ? d->cap : TABLE_DEFAULT;
    d->nslot = d->cap / ENTRY_OVERHEAD + 1;
    d->ring = calloc(d->nslot, sizeof(entry_t *));
    if (d->ring == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void dlp_hpack_free(dlp_hpack_t *d)
{
    if (d == NULL)
        return;
    evict_to(d, 0);
    free(d->ring);
    free(d);
}
