/*
 * zip.c - a ZIP archive's members, unpacked from the stream (zip.h).
 *
 * Design: a state machine over the local file headers; fixed-size parts
 * (a signature, a header, a data descriptor) are gathered in 'hdr' across
 * writes, variable ones (name, extra field, data) are counted down in
 * 'left'. After a member's data comes, if its flags say so, a data
 * descriptor, then the next signature. Deflated members go through one raw
 * inflate stream, reset for each member.
 */
#include "dlp/zip.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dlp/limits.h"
#include "stage_int.h"

enum {
    S_SIG,     /* 4 bytes: a local header's signature, or the end */
    S_LOCAL,   /* the header's 26 fixed bytes */
    S_NAME,    /* its name */
    S_EXTRA,   /* its extra field */
    S_STORED,  /* a stored member's data */
    S_DEFLATE, /* a deflated member's data */
    S_SKIP,    /* data passed over, then 'after' */
    S_DESC,    /* a data descriptor's first 4 bytes: its signature or the CRC */
    S_DONE,    /* the walk is over: the rest is not looked at */
};

#define LOCAL_LEN 26
#define FLAG_ENCRYPTED 0x0001u
#define FLAG_DESCRIPTOR 0x0008u /* sizes and CRC follow the data */
#define METHOD_STORED 0
#define METHOD_DEFLATE 8
#define SIZE_ZIP64 0xffffffffu
#define OUT_CHUNK 16384

struct dlp_zip {
    const dlp_zip_ops_t *ops;
    void *ctx;
    const dlp_app_limits_t *l;
    int state, after;
    uint8_t hdr[LOCAL_LEN];
    size_t have;                /* bytes of hdr gathered */
    uint16_t flags, method, xlen;
    uint32_t csize;
    uint64_t left;              /* bytes of the current variable part still to come */
    bool sized;                 /* a deflated member's compressed size is known */
    char name[DLP_ZIP_NAME_MAX + 1];
    size_t namelen;
    void *member;
    unsigned members;
    uint64_t in, out;           /* the member's compressed bytes read, bytes inflated */
    z_stream zs;
    bool zinit;
    uint8_t buf[OUT_CHUNK];
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }

/* Gathers up to 'want' bytes into hdr; true when they are all there. */
static bool gather(dlp_zip_t *z, const uint8_t **p, size_t *n, size_t want)
{
    size_t take = want - z->have < *n ? want - z->have : *n;

    memcpy(z->hdr + z->have, *p, take);
    z->have += take;
    *p += take;
    *n -= take;
    return z->have == want;
}

static void close_member(dlp_zip_t *z)
{
    if (z->member != NULL)
        z->ops->close(z->ctx, z->member);
    z->member = NULL;
}

static void note(dlp_zip_t *z, dlp_app_note_t n, uint64_t bytes)
{
    if (z->ops->note != NULL)
        z->ops->note(z->ctx, n, bytes);
}

/* Passes 'left' bytes over, then goes to 'after'. */
static void skip_then(dlp_zip_t *z, uint64_t left, int after)
{
    z->left = left;
    z->after = after;
    z->state = left > 0 ? S_SKIP : after;
}

/* Where the walk goes after a member's data. */
static int after_data(const dlp_zip_t *z)
{
    return z->flags & FLAG_DESCRIPTOR ? S_DESC : S_SIG;
}

static void start_member(dlp_zip_t *z)
{
    bool descriptor = z->flags & FLAG_DESCRIPTOR;
    bool inflatable = z->method == METHOD_DEFLATE;

    if (++z->members > DLP_ZIP_MEMBERS_MAX) {
        z->state = S_DONE;
        return;
    }
    if ((z->flags & FLAG_ENCRYPTED) || (z->method != METHOD_STORED && !inflatable) ||
        z->csize == SIZE_ZIP64 || (descriptor && !inflatable)) {
        note(z, DLP_NOTE_UNSUPPORTED, 0);
        /* Without its size in the header, where the member ends is unknown. */
        if (descriptor)
            z->state = S_DONE;
        else
            skip_then(z, z->csize, S_SIG);
        return;
    }
    z->member = z->ops->open(z->ctx, z->name);
    z->left = z->csize;
    z->in = z->out = 0;
    z->sized = !descriptor;
    if (!inflatable) {
        z->state = S_STORED;
        if (z->left == 0) {
            close_member(z);
            z->state = S_SIG;
        }
        return;
    }
    if (z->zinit ? inflateReset(&z->zs) != Z_OK : inflateInit2(&z->zs, -MAX_WBITS) != Z_OK) {
        close_member(z);
        z->state = S_DONE;
        return;
    }
    z->zinit = true;
    z->state = S_DEFLATE;
}

/* Hands inflated bytes on within the member's bounds (those of the inflate
 * stage: dlp_decomp_allow); false once one is reached. */
static bool emit_inflated(dlp_zip_t *z, size_t n)
{
    dlp_app_note_t stop;
    size_t ok = dlp_decomp_allow(z->l, z->in, z->out, n, &stop);

    if (ok > 0 && z->member != NULL)
        z->ops->write(z->ctx, z->member, z->buf, ok);
    z->out += ok;
    if (stop == DLP_NOTE__COUNT)
        return true;
    note(z, stop, 0);
    return false;
}

/* The member ends early (a bound, bad data): what is left of it is passed over. */
static void abandon_member(dlp_zip_t *z)
{
    close_member(z);
    if (z->sized)
        skip_then(z, z->left, after_data(z));
    else
        z->state = S_DONE; /* its end could only be found by inflating it */
}

/* Inflates what it can of p[0, n); returns the bytes taken. */
static size_t step_deflate(dlp_zip_t *z, const uint8_t *p, size_t n)
{
    size_t offer = z->sized && z->left < n ? (size_t)z->left : n, taken;
    int r;

    z->zs.next_in = (Bytef *)(uintptr_t)p;
    z->zs.avail_in = (uInt)offer;
    do {
        uInt before = z->zs.avail_in;
        z->zs.next_out = z->buf;
        z->zs.avail_out = OUT_CHUNK;
        r = inflate(&z->zs, Z_NO_FLUSH);
        z->in += before - z->zs.avail_in;
        if (!emit_inflated(z, OUT_CHUNK - z->zs.avail_out)) {
            taken = offer - z->zs.avail_in;
            if (z->sized)
                z->left -= taken;
            abandon_member(z);
            return taken;
        }
    } while (r == Z_OK && z->zs.avail_out == 0);
    taken = offer - z->zs.avail_in;
    if (z->sized)
        z->left -= taken;
    if (r == Z_STREAM_END) {
        close_member(z);
        skip_then(z, z->sized ? z->left : 0, after_data(z));
    } else if (r != Z_OK && r != Z_BUF_ERROR) {
        note(z, DLP_NOTE_DECODER_ERROR, 0);
        abandon_member(z);
    } else if (z->sized && z->left == 0) {
        note(z, DLP_NOTE_DECODER_ERROR, 0); /* the data ended before its deflate stream */
        close_member(z);
        z->state = after_data(z);
    }
    return taken;
}

static void name_done(dlp_zip_t *z)
{
    z->name[z->namelen] = '\0';
    z->left = z->xlen;
    z->state = S_EXTRA;
    if (z->left == 0)
        start_member(z);
}

static void parse_local(dlp_zip_t *z)
{
    z->flags = le16(z->hdr + 2);
    z->method = le16(z->hdr + 4);
    z->csize = le32(z->hdr + 14);
    z->xlen = le16(z->hdr + 24);
    z->left = le16(z->hdr + 22);
    z->have = 0;
    z->namelen = 0;
    z->state = S_NAME;
    if (z->left == 0)
        name_done(z);
}

static size_t take_of(const dlp_zip_t *z, size_t n)
{
    return z->left < n ? (size_t)z->left : n;
}

/* One step of the walk over p[0, n); returns the bytes taken. */
static size_t step(dlp_zip_t *z, const uint8_t *p, size_t n)
{
    const uint8_t *p0 = p;
    size_t take = take_of(z, n);

    switch (z->state) {
    case S_SIG:
        if (gather(z, &p, &n, 4)) {
            z->have = 0;
            z->state = le32(z->hdr) == 0x04034b50u ? S_LOCAL : S_DONE; /* "PK\3\4" */
        }
        return (size_t)(p - p0);
    case S_LOCAL:
        if (gather(z, &p, &n, LOCAL_LEN))
            parse_local(z);
        return (size_t)(p - p0);
    case S_NAME:
        for (size_t i = 0; i < take && z->namelen < DLP_ZIP_NAME_MAX; i++)
            z->name[z->namelen++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
        z->left -= take;
        if (z->left == 0)
            name_done(z);
        return take;
    case S_EXTRA:
        z->left -= take;
        if (z->left == 0)
            start_member(z);
        return take;
    case S_STORED:
        if (z->member != NULL)
            z->ops->write(z->ctx, z->member, p, take);
        z->left -= take;
        if (z->left == 0) {
            close_member(z);
            z->state = S_SIG;
        }
        return take;
    case S_DEFLATE:
        return step_deflate(z, p, n);
    case S_SKIP:
        z->left -= take;
        if (z->left == 0)
            z->state = z->after;
        return take;
    case S_DESC:
        if (gather(z, &p, &n, 4)) {
            z->have = 0;
            /* "PK\7\8", then CRC and sizes; or no signature: these were the CRC */
            skip_then(z, le32(z->hdr) == 0x08074b50u ? 12 : 8, S_SIG);
        }
        return (size_t)(p - p0);
    default:
        return n;
    }
}

dlp_zip_t *dlp_zip_new(const dlp_zip_ops_t *ops, void *ctx, const dlp_app_limits_t *l)
{
    dlp_zip_t *z = calloc(1, sizeof(*z));

    if (z == NULL)
        return NULL;
    z->ops = ops;
    z->ctx = ctx;
    z->l = l;
    z->state = S_SIG;
    return z;
}

void dlp_zip_write(dlp_zip_t *z, const uint8_t *p, size_t n)
{
    while (n > 0 && z->state != S_DONE) {
        size_t used = step(z, p, n);
        p += used;
        n -= used;
    }
}

void dlp_zip_end(dlp_zip_t *z)
{
    close_member(z);
    z->state = S_DONE;
}

void dlp_zip_free(dlp_zip_t *z)
{
    if (z == NULL)
        return;
    close_member(z);
    if (z->zinit)
        inflateEnd(&z->zs);
    free(z);
}

size_t dlp_zip_mem(const dlp_zip_t *z)
{
    /* zlib's inflate state (~7 KiB) and its 32 KiB window */
    return z == NULL ? 0 : sizeof(*z) + (z->zinit ? 7u * 1024 + 32u * 1024 : 0);
}
