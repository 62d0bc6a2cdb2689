/*
 * uue.c - uuencoded files inside text (a mail body holding "begin 644
 * cards.txt" ... "end"). Outlook and Thunderbird show such a block as an
 * attachment, so its decoded bytes are what the recipient gets.
 *
 * The stage passes its input on unchanged (the text is scanned as it is,
 * as before) and writes each block it decodes to a content stream of its
 * own, of 'field', named after the file of the begin line (the sink's name
 * handling masks values in it), so the file gets its own matcher state.
 *
 * Definition (line by line; a line ends at LF, a CR before it is dropped):
 *  - a block starts at a line "begin NNN name": at the line's start, NNN 3
 *    or 4 octal digits, one space, a name of one byte or more (trailing
 *    spaces dropped; kept up to DLP_APP_NAME_MAX - 1 bytes);
 *  - each following line is a length character c (' ' to '`'), giving
 *    (c - ' ') & 63 bytes, then at least the characters that carry them
 *    (4 characters give 3 bytes; ' ' and '`' are 0); more characters after
 *    them (padding, a checksum) are allowed;
 *  - a line of length 0 ("`" or " "), or a line "end", ends the block; so
 *    does any other line (empty, too short, a byte out of range, over
 *    LINE_MAX): that line is text again and may start a block itself. The
 *    input's end closes an open block;
 *  - bounds: DLP_APP_UUE_BLOCKS_MAX blocks and decomp_max decoded bytes per
 *    stage (one body or part); past them the text is still scanned as it
 *    is, noted DLP_NOTE_DECOMP_CAP once.
 *
 * State across writes: the current line's first LINE_MAX bytes (a text line
 * only while it can still be a begin line), so any split of the input gives
 * the same output.
 *
 * Thread: owned by the worker that owns the flow.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/stage.h"
#include "stage_int.h"

#define LINE_MAX (16 + DLP_APP_NAME_MAX) /* "begin 0644 " and a kept name; data lines are < 90 */

enum { U_TEXT = 0, U_DATA };

typedef struct uue_stage {
    dlp_stage_t base;
    dlp_field_t field;
    uint64_t decomp_max; /* decoded bytes in all; 0: no cap */
    uint64_t decoded;
    uint32_t blocks;
    uint8_t state;
    uint8_t capped;   /* a bound was reached (noted) */
    uint8_t over;     /* the current line is longer than LINE_MAX, or no begin line */
    uint16_t n;       /* bytes of the current line held */
    dlp_stage_t *out; /* the block's sink stage; NULL: not decoded */
    uint8_t line[LINE_MAX];
} uue_stage_t;

static void note_cap(uue_stage_t *s)
{
    if (!s->capped)
        dlp_stage_note(&s->base, DLP_NOTE_DECOMP_CAP, 0);
    s->capped = 1;
}

static void out_close(uue_stage_t *s)
{
    dlp_rc_t rc;

    if (s->out == NULL)
        return;
    rc = dlp_stage_end(s->out); /* the sink stage swallows when not inspected */
    (void)rc;
    dlp_stage_free_chain(s->out);
    s->out = NULL;
}

static bool is_octal(uint8_t c)
{
    return c >= '0' && c <= '7';
}

/* "begin NNN name" in l[0, n): the name's offset, or 0. */
static size_t begin_name(const uint8_t *l, size_t n)
{
    size_t i = 6, d;

    if (n < 6 || memcmp(l, "begin ", 6) != 0)
        return 0;
    for (d = 0; i < n && is_octal(l[i]); i++)
        d++;
    if (d < 3 || d > 4 || i + 1 >= n || l[i] != ' ')
        return 0;
    return i + 1;
}

static void block_open(uue_stage_t *s, const uint8_t *name, size_t nn)
{
    char nm[DLP_APP_NAME_MAX];
    const uint8_t *nul = memchr(name, '\0', nn);

    if (nul != NULL)
        nn = (size_t)(nul - name);
    while (nn > 0 && (name[nn - 1] == ' ' || name[nn - 1] == '\t'))
        nn--;
    if (nn == 0)
        return;
    s->state = U_DATA;
    if (s->blocks >= DLP_APP_UUE_BLOCKS_MAX ||
        (s->decomp_max != 0 && s->decoded >= s->decomp_max)) {
        note_cap(s);
        return; /* the block's lines are read, not decoded */
    }
    if (nn > sizeof(nm) - 1)
        nn = sizeof(nm) - 1;
    memcpy(nm, name, nn);
    nm[nn] = '\0';
    s->blocks++;
    s->out = dlp_stage_sink_new(s->base.sink, s->base.sink_ctx, s->field, nm);
}

/* Decodes len bytes from their need characters c[0, need) into the block's stream. */
static void data_decode(uue_stage_t *s, const uint8_t *c, size_t need, size_t len)
{
    uint8_t q[88], b[66];
    size_t o = 0;
    dlp_rc_t rc;

    memset(q, ' ', sizeof(q)); /* a missing last character of a quantum is 0 */
    memcpy(q, c, need);
    for (size_t i = 0; o < len; i += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++)
            v = v << 6 | (uint32_t)((q[i + k] - ' ') & 63);
        b[o++] = (uint8_t)(v >> 16);
        b[o++] = (uint8_t)(v >> 8);
        b[o++] = (uint8_t)v;
    }
    if (s->out == NULL)
        return;
    if (s->decomp_max != 0 && s->decoded + len > s->decomp_max) {
        note_cap(s);
        out_close(s);
        return;
    }
    s->decoded += len;
    rc = dlp_stage_write(s->out, b, len);
    (void)rc;
}

/* A line inside a block: false when it ends the block (it is then text). */
static bool data_line(uue_stage_t *s, const uint8_t *l, size_t n)
{
    size_t len, need;

    if (s->over || n == 0 || l[0] < ' ' || l[0] > '`')
        return false;
    len = (size_t)((l[0] - ' ') & 63);
    need = (len * 4 + 2) / 3; /* the characters that carry len bytes */
    if (len == 0 || n - 1 < need)
        return false;
    for (size_t i = 1; i <= need; i++)
        if (l[i] < ' ' || l[i] > '`')
            return false;
    data_decode(s, l + 1, need, len);
    return true;
}

static void line_done(uue_stage_t *s)
{
    const uint8_t *l = s->line;
    size_t n = s->n, at;

    if (n > 0 && l[n - 1] == '\r' && !s->over)
        n--;
    if (s->state == U_DATA) {
        if (data_line(s, l, n))
            goto out;
        out_close(s);
        s->state = U_TEXT;
        if (n == 3 && memcmp(l, "end", 3) == 0)
            goto out;
    }
    at = begin_name(l, n);
    if (at > 0)
        block_open(s, l + at, n - at);
out:
    s->n = 0;
    s->over = 0;
}

/* Bytes of the current line, p[0, k) without a LF. */
static void line_add(uue_stage_t *s, const uint8_t *p, size_t k)
{
    size_t room = LINE_MAX - s->n, c = k < room ? k : room;

    if (s->over && s->state == U_TEXT)
        return;
    memcpy(s->line + s->n, p, c);
    s->n = (uint16_t)(s->n + c);
    if (c < k)
        s->over = 1;
    /* a text line that cannot be a begin line is not kept; a long begin line is (its name cut) */
    if (s->state == U_TEXT && memcmp(s->line, "begin ", s->n < 6 ? s->n : 6) != 0) {
        s->over = 1;
        s->n = 0;
    }
}

static dlp_rc_t uue_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    uue_stage_t *s = (uue_stage_t *)st;
    dlp_rc_t rc = dlp_stage_emit(st, p, n); /* the text as it is */
    size_t i = 0;

    while (i < n) {
        const uint8_t *lf = memchr(p + i, '\n', n - i);
        size_t k = lf != NULL ? (size_t)(lf - (p + i)) : n - i;
        line_add(s, p + i, k);
        i += k;
        if (lf == NULL)
            break;
        line_done(s);
        i++;
    }
    return rc;
}

static dlp_rc_t uue_end(dlp_stage_t *st)
{
    uue_stage_t *s = (uue_stage_t *)st;

    if (s->n > 0 || s->over)
        line_done(s);
    out_close(s);
    s->state = U_TEXT;
    return DLP_OK;
}

static void uue_free(dlp_stage_t *st)
{
    out_close((uue_stage_t *)st); /* abandoned in a block: its stream is closed */
    free(st);
}

static const dlp_stage_ops_t uue_ops = {
    .name = "uuencode",
    .write = uue_write,
    .end = uue_end,
    .free = uue_free,
};

dlp_stage_t *dlp_stage_uue_new(dlp_stage_t *next, dlp_field_t field, const dlp_app_limits_t *l)
{
    uue_stage_t *s;

    s = (uue_stage_t *)dlp_stage_alloc(sizeof(uue_stage_t), &uue_ops, next);
    if (s == NULL)
        return NULL;
    s->field = field;
    s->decomp_max = l != NULL ? l->decomp_max : DLP_APP_DECOMP_MAX;
    return &s->base;
}
