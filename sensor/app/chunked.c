/*
 * chunked.c - the HTTP chunked transfer coding stage (RFC 9112 7.1).
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *
 * A byte-at-a-time state machine for the framing; chunk data is passed on
 * straight from the input (no copy). Accepted beyond the grammar: a bare LF
 * for CRLF, spaces or tabs after the size. Refused (DLP_NOTE_DECODER_ERROR,
 * DLP_EPROTO): anything but a hex digit where a size starts ("-1", " 1",
 * "0x1"), more than 16 digits, a size over 2^40, a chunk not followed by
 * CRLF, a CR not followed by LF. Bounded (DLP_NOTE_HEADER_CAP, DLP_ELIMIT):
 * a size line (size + extensions, CR and LF not counted) over line_max, the
 * trailer section (line ends counted) over header_block_max. Trailer fields
 * are read and dropped. Notes carry bytes 0: how much is lost is not known.
 *
 * Invariants: 'status' is DLP_AGAIN until the final CRLF (DLP_DONE) or an
 * error; 'consumed' is how many bytes of the last write were body bytes.
 * Once the body ended, the stage consumes nothing. An error of a later stage
 * does not stop the framing: data is then no longer passed on, but sizes are
 * still read, so the HTTP parser learns where the body ends.
 *
 * Thread: owned by the worker that owns the flow.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "dlp/stage.h"
#include "stage_int.h"

#define SIZE_DIGITS_MAX 16
#define SIZE_MAX_VALUE (1ULL << 40)

enum {
    C_SIZE_START = 0, /* first hex digit of a size */
    C_SIZE,           /* more hex digits */
    C_SIZE_WS,        /* spaces after the size */
    C_EXT,            /* chunk extensions: skipped to the LF */
    C_SIZE_LF,        /* a CR ended the size line */
    C_DATA,           /* 'remaining' data bytes */
    C_DATA_CR,        /* CRLF after the data */
    C_DATA_LF,
    C_TRL_START, /* start of a trailer line, or the final CRLF */
    C_TRL_LINE,  /* a trailer field: skipped to the LF */
    C_FINAL_LF,
    C_DONE,
};

typedef struct chunked_stage {
    dlp_stage_t base;
    uint64_t size;      /* size being read */
    uint64_t remaining; /* data bytes left in the chunk */
    uint32_t line;      /* bytes of the current size line */
    uint32_t trailer;   /* bytes of the trailer section */
    uint32_t line_max;
    uint32_t block_max;
    uint8_t state;
    uint8_t digits;
    dlp_rc_t status;
    size_t consumed;
} chunked_stage_t;

static const dlp_stage_ops_t chunked_ops;

/* Passes chunk data on; a later stage's failure only stops the data. */
static void pass_data(chunked_stage_t *c, const uint8_t *p, size_t n)
{
    dlp_stage_t *st = &c->base;

    if (st->next->failed == 0) {
        dlp_rc_t rc = dlp_stage_emit(st, p, n);
        (void)rc; /* the stage that failed noted it; the framing goes on */
    }
}

/* One byte of a size line; returns false on a malformed line. */
static bool size_byte(chunked_stage_t *c, uint8_t b)
{
    int v = dlp_hexval(b);

    switch (c->state) {
    case C_SIZE_START:
        if (v < 0)
            return false;
        c->size = (uint64_t)v;
        c->digits = 1;
        c->state = C_SIZE;
        return true;
    case C_SIZE:
        if (v >= 0) {
            c->size = c->size << 4 | (uint64_t)v;
            return ++c->digits <= SIZE_DIGITS_MAX && c->size <= SIZE_MAX_VALUE;
        }
        /* fall through */
    case C_SIZE_WS:
        if (b == ' ' || b == '\t')
            c->state = C_SIZE_WS;
        else if (b == ';')
            c->state = C_EXT;
        else if (b == '\r')
            c->state = C_SIZE_LF;
        else
            return false;
        return true;
    case C_EXT:
        return true;
    default:
        return false;
    }
}

static void size_line_end(chunked_stage_t *c)
{
    c->line = 0;
    if (c->size == 0) {
        c->state = C_TRL_START;
    } else {
        c->remaining = c->size;
        c->state = C_DATA;
    }
}

static dlp_rc_t chunked_fail(chunked_stage_t *c, dlp_app_note_t note, dlp_rc_t rc, size_t at,
                             size_t n)
{
    c->status = rc;
    c->consumed = at;
    c->base.in_bytes -= n - at;
    dlp_stage_note(&c->base, note, 0);
    return rc;
}

static dlp_rc_t chunked_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    chunked_stage_t *c = (chunked_stage_t *)st;
    size_t i = 0;

    if (c->state == C_DONE) {
        c->consumed = 0;
        st->in_bytes -= n;
        return DLP_DONE;
    }
    while (i < n) {
        uint8_t b = p[i];
        switch (c->state) {
        case C_DATA: {
            size_t take = n - i;
            if (take > c->remaining)
                take = (size_t)c->remaining;
            pass_data(c, p + i, take);
            c->remaining -= take;
            i += take;
            if (c->remaining == 0)
                c->state = C_DATA_CR;
            continue;
        }
        case C_DATA_CR:
            if (b == '\r')
                c->state = C_DATA_LF;
            else if (b == '\n')
                c->state = C_SIZE_START;
            else
                return chunked_fail(c, DLP_NOTE_DECODER_ERROR, DLP_EPROTO, i, n);
            break;
        case C_DATA_LF:
        case C_SIZE_LF:
            if (b != '\n')
                return chunked_fail(c, DLP_NOTE_DECODER_ERROR, DLP_EPROTO, i, n);
            if (c->state == C_DATA_LF)
                c->state = C_SIZE_START;
            else
                size_line_end(c);
            break;
        case C_TRL_START:
            if (b == '\r') {
                c->state = C_FINAL_LF;
                break;
            }
            if (b == '\n')
                goto done;
            c->state = C_TRL_LINE;
            /* fall through */
        case C_TRL_LINE:
            if (++c->trailer > c->block_max)
                return chunked_fail(c, DLP_NOTE_HEADER_CAP, DLP_ELIMIT, i, n);
            if (b == '\n')
                c->state = C_TRL_START;
            break;
        case C_FINAL_LF:
            if (b != '\n')
                return chunked_fail(c, DLP_NOTE_DECODER_ERROR, DLP_EPROTO, i, n);
            goto done;
        default: /* the size line */
            if (b == '\n' && c->state != C_SIZE_START) {
                size_line_end(c);
                break;
            }
            if (b != '\r' && ++c->line > c->line_max)
                return chunked_fail(c, DLP_NOTE_HEADER_CAP, DLP_ELIMIT, i, n);
            if (!size_byte(c, b))
                return chunked_fail(c, DLP_NOTE_DECODER_ERROR, DLP_EPROTO, i, n);
            break;
        }
        i++;
    }
    c->consumed = n;
    return DLP_OK;
done:
    c->state = C_DONE;
    c->status = DLP_DONE;
    c->consumed = i + 1;
    st->in_bytes -= n - (i + 1);
    return DLP_DONE;
}

static void chunked_free(dlp_stage_t *st)
{
    free(st);
}

static const dlp_stage_ops_t chunked_ops = {
    .name = "chunked",
    .write = chunked_write,
    .end = NULL,
    .free = chunked_free,
};

dlp_stage_t *dlp_stage_chunked_new(dlp_stage_t *next, const dlp_app_limits_t *l)
{
    chunked_stage_t *c;
    dlp_app_limits_t def;

    if (l == NULL) {
        dlp_app_limits_default(&def);
        l = &def;
    }
    c = (chunked_stage_t *)dlp_stage_alloc(sizeof(*c), &chunked_ops, next);
    if (c == NULL)
        return NULL;
    c->line_max = l->line_max;
    c->block_max = l->header_block_max;
    c->state = C_SIZE_START;
    c->status = DLP_AGAIN;
    return &c->base;
}

dlp_rc_t dlp_stage_chunked_status(const dlp_stage_t *st, size_t *consumed)
{
    const chunked_stage_t *c = (const chunked_stage_t *)st;

    if (st == NULL || st->ops != &chunked_ops)
        return DLP_EINVAL;
    if (consumed != NULL)
        *consumed = c->consumed;
    return c->status;
}
