/*
 * codec.c - the transfer-encoding stages (base64, quoted-printable,
 * application/x-www-form-urlencoded) and two one-shot decoders for header
 * values (percent escapes, RFC 2047 encoded words).
 *
 * Stages keep at most a few bytes between writes (a partial base64 quantum,
 * a '%' or '=' escape, QP whitespace that may turn out to be trailing), so
 * any split of the input gives the same output. Output is built in a buffer
 * on the stack (OBUF) and emitted when it fills and at the end of a write.
 *
 * base64 (RFC 2045 6.8): CR, LF, space and tab are skipped. '=' ends the
 * current quantum (its partial bytes are decoded), not the data: decoding
 * goes on with a new quantum at the next character of the alphabet, so
 * chunks encoded separately and written one after the other ("QUJD" "RA=="
 * "NDEx...") decode to their concatenation. Recipients' decoders differ
 * here, and one that resumes after padding would show the rest to the
 * recipient alone if the sensor stopped. Other bytes outside the alphabet
 * are skipped and counted: when more than 10% of the bytes seen are invalid
 * (checked at each invalid byte once B64_CHECK_MIN bytes were seen, and at
 * end), DLP_NOTE_DECODER_ERROR and the stage stops. Four characters at a
 * time through one table while no quantum is pending. The B encoding of
 * RFC 2047 words is decoded the same way.
 *
 * quoted-printable (RFC 2045 6.7): "=XX" (either case) decoded, "=" then
 * optional spaces then CRLF or LF is a soft line break, spaces and tabs
 * before a line break (or the end) are dropped; any other "=" sequence is
 * passed on as it is. Whitespace is held up to QP_WS_MAX bytes, then passed.
 *
 * form: '+' -> ' ', "%XX" decoded, '&' -> '\n'; an invalid escape is passed
 * on as it is.
 *
 * Thread: stages are owned by the worker that owns the flow; the one-shot
 * decoders are pure.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/stage.h"
#include "stage_int.h"

#define B64_CHECK_MIN 256
#define QP_WS_MAX 128

#define BD 0x80 /* not base64 */
#define SK 0x81 /* skipped whitespace */
#define PD 0x82 /* '=' */

/* clang-format off */
static const uint8_t b64_val[256] = {
    BD, BD, BD, BD, BD, BD, BD, BD, BD, SK, SK, BD, BD, SK, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    SK, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, 62, BD, BD, BD, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, BD, BD, BD, PD, BD, BD,
    BD, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, BD, BD, BD, BD, BD,
    BD, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
    BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD, BD,
};
/* clang-format on */

static void generic_free(dlp_stage_t *st)
{
    free(st);
}

/* --- base64 ------------------------------------------------------------------ */

typedef struct b64_stage {
    dlp_stage_t base;
    uint64_t seen;    /* bytes before this write */
    uint64_t invalid; /* bytes outside the alphabet */
    uint32_t acc;
    uint8_t nacc;
} b64_stage_t;

/* The bytes of a partial quantum of nacc characters: 2 give one, 3 give two. */
static size_t b64_partial(uint32_t acc, unsigned nacc, uint8_t out[2])
{
    if (nacc == 2) {
        out[0] = (uint8_t)(acc >> 4);
        return 1;
    }
    if (nacc == 3) {
        out[0] = (uint8_t)(acc >> 10);
        out[1] = (uint8_t)(acc >> 2);
        return 2;
    }
    return 0;
}

static void b64_tail(b64_stage_t *s, dlp_obuf_t *o)
{
    uint8_t t[2];
    size_t k = b64_partial(s->acc, s->nacc, t);

    for (size_t i = 0; i < k; i++)
        ob_put(o, t[i]);
    s->nacc = 0;
    s->acc = 0;
}

/* Decodes whole quanta from p[*i, n) while no quantum is pending. */
static inline void b64_fast(const uint8_t *p, size_t n, size_t *i, dlp_obuf_t *o)
{
    size_t k = *i;

    while (k + 4 <= n) {
        uint32_t a = b64_val[p[k]], b = b64_val[p[k + 1]], c = b64_val[p[k + 2]],
                 d = b64_val[p[k + 3]], v;
        if ((a | b | c | d) & 0x80)
            break;
        if (o->n > DLP_OBUF - 3)
            ob_flush(o);
        v = a << 18 | b << 12 | c << 6 | d;
        o->b[o->n] = (uint8_t)(v >> 16);
        o->b[o->n + 1] = (uint8_t)(v >> 8);
        o->b[o->n + 2] = (uint8_t)v;
        o->n += 3;
        k += 4;
    }
    *i = k;
}

static dlp_rc_t b64_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    b64_stage_t *s = (b64_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    ob_init(&o, st);
    while (i < n) {
        uint8_t v;
        if (s->nacc == 0) {
            b64_fast(p, n, &i, &o);
            if (i == n)
                break;
        }
        v = b64_val[p[i++]];
        if (v < 64) {
            s->acc = s->acc << 6 | v;
            if (++s->nacc == 4) {
                ob_put(&o, (uint8_t)(s->acc >> 16));
                ob_put(&o, (uint8_t)(s->acc >> 8));
                ob_put(&o, (uint8_t)s->acc);
                s->nacc = 0;
                s->acc = 0;
            }
        } else if (v == PD) {
            b64_tail(s, &o);
        } else if (v == BD) {
            uint64_t seen = s->seen + i;
            if (++s->invalid * 10 > seen && seen >= B64_CHECK_MIN) {
                dlp_rc_t rc = ob_done(&o);
                if (rc < 0)
                    return rc;
                dlp_stage_note(st, DLP_NOTE_DECODER_ERROR, 0);
                return DLP_EPROTO;
            }
        }
    }
    s->seen += i;
    return ob_done(&o);
}

static dlp_rc_t b64_end(dlp_stage_t *st)
{
    b64_stage_t *s = (b64_stage_t *)st;
    dlp_obuf_t o;
    dlp_rc_t rc;

    ob_init(&o, st);
    b64_tail(s, &o);
    rc = ob_done(&o);
    if (rc < 0)
        return rc;
    if (s->invalid * 10 > s->seen) {
        dlp_stage_note(st, DLP_NOTE_DECODER_ERROR, 0);
        return DLP_EPROTO;
    }
    return DLP_OK;
}

static const dlp_stage_ops_t b64_ops = {
    .name = "base64",
    .write = b64_write,
    .end = b64_end,
    .free = generic_free,
};

dlp_stage_t *dlp_stage_base64_new(dlp_stage_t *next)
{
    return dlp_stage_alloc(sizeof(b64_stage_t), &b64_ops, next);
}

/* --- quoted-printable ---------------------------------------------------------- */

enum {
    Q_TEXT = 0,
    Q_CR,       /* a CR: a line break if LF follows */
    Q_EQ,       /* '=' */
    Q_EQ_HEX,   /* '=' and one hex digit */
    Q_EQ_CR,    /* '=' CR */
    Q_EQ_WS,    /* '=' and spaces (held in ws) */
    Q_EQ_WS_CR, /* '=' spaces CR */
};

typedef struct qp_stage {
    dlp_stage_t base;
    uint8_t state;
    uint8_t hex1;
    uint8_t nws;
    uint8_t ws[QP_WS_MAX];
} qp_stage_t;

static const uint8_t qp_special[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1, ['='] = 1,
};

static void qp_put_ws(qp_stage_t *s, dlp_obuf_t *o)
{
    ob_put_n(o, s->ws, s->nws);
    s->nws = 0;
}

/* Q_TEXT: one byte (or a run of plain ones); returns the bytes consumed. */
static size_t qp_text(qp_stage_t *s, const uint8_t *p, size_t n, dlp_obuf_t *o)
{
    uint8_t c = p[0];
    size_t k = 0;

    if (c == ' ' || c == '\t') {
        if (s->nws == QP_WS_MAX)
            qp_put_ws(s, o);
        s->ws[s->nws++] = c;
        return 1;
    }
    if (c == '\r') {
        s->state = Q_CR;
    } else if (c == '\n') {
        s->nws = 0;
        ob_put(o, '\n');
    } else {
        qp_put_ws(s, o);
        if (c == '=') {
            s->state = Q_EQ;
            return 1;
        }
        while (k < n && !qp_special[p[k]])
            k++;
        ob_put_n(o, p, k);
        return k;
    }
    return 1;
}

/* One byte in a state after '=' or CR; returns 1 if consumed, 0 to look at it again. */
static size_t qp_escape(qp_stage_t *s, uint8_t c, dlp_obuf_t *o)
{
    switch (s->state) {
    case Q_CR:
        if (c == '\n')
            s->nws = 0;
        else
            qp_put_ws(s, o);
        ob_put(o, '\r');
        s->state = Q_TEXT;
        if (c != '\n')
            return 0;
        ob_put(o, '\n');
        return 1;
    case Q_EQ:
        if (dlp_hexval(c) >= 0) {
            s->hex1 = c;
            s->state = Q_EQ_HEX;
        } else if (c == '\r') {
            s->state = Q_EQ_CR;
        } else if (c == '\n') {
            s->state = Q_TEXT;
        } else if (c == ' ' || c == '\t') {
            s->ws[0] = c;
            s->nws = 1;
            s->state = Q_EQ_WS;
        } else {
            ob_put(o, '=');
            s->state = Q_TEXT;
            return 0;
        }
        return 1;
    case Q_EQ_HEX:
        s->state = Q_TEXT;
        if (dlp_hexval(c) >= 0) {
            ob_put(o, (uint8_t)(dlp_hexval(s->hex1) << 4 | dlp_hexval(c)));
            return 1;
        }
        ob_put(o, '=');
        ob_put(o, s->hex1);
        return 0;
    case Q_EQ_CR:
    case Q_EQ_WS_CR:
        if (c == '\n') {
            s->nws = 0;
            s->state = Q_TEXT;
            return 1;
        }
        ob_put(o, '=');
        qp_put_ws(s, o);
        s->state = Q_CR;
        return 0;
    default: /* Q_EQ_WS */
        if ((c == ' ' || c == '\t') && s->nws < QP_WS_MAX) {
            s->ws[s->nws++] = c;
        } else if (c == '\r') {
            s->state = Q_EQ_WS_CR;
        } else if (c == '\n') {
            s->nws = 0;
            s->state = Q_TEXT;
        } else {
            ob_put(o, '=');
            qp_put_ws(s, o);
            s->state = Q_TEXT;
            return 0;
        }
        return 1;
    }
}

static dlp_rc_t qp_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    qp_stage_t *s = (qp_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    ob_init(&o, st);
    while (i < n) {
        if (s->state == Q_TEXT)
            i += qp_text(s, p + i, n - i, &o);
        else
            i += qp_escape(s, p[i], &o);
    }
    return ob_done(&o);
}

static dlp_rc_t qp_end(dlp_stage_t *st)
{
    qp_stage_t *s = (qp_stage_t *)st;
    dlp_obuf_t o;

    ob_init(&o, st);
    if (s->state == Q_CR) { /* a lone CR: not a line break */
        qp_put_ws(s, &o);
        ob_put(&o, '\r');
    } else if (s->state == Q_EQ_HEX) {
        ob_put(&o, '=');
        ob_put(&o, s->hex1);
    }
    /* trailing whitespace and a final soft line break are dropped */
    s->nws = 0;
    s->state = Q_TEXT;
    return ob_done(&o);
}

static const dlp_stage_ops_t qp_ops = {
    .name = "quoted-printable",
    .write = qp_write,
    .end = qp_end,
    .free = generic_free,
};

dlp_stage_t *dlp_stage_qp_new(dlp_stage_t *next)
{
    return dlp_stage_alloc(sizeof(qp_stage_t), &qp_ops, next);
}

/* --- form-urlencoded ------------------------------------------------------------ */

typedef struct form_stage {
    dlp_stage_t base;
    uint8_t npct; /* 1: after '%', 2: after '%' and hex1 */
    uint8_t hex1;
} form_stage_t;

static dlp_rc_t form_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    form_stage_t *s = (form_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    ob_init(&o, st);
    while (i < n) {
        uint8_t c = p[i];
        if (s->npct != 0) {
            bool hex = dlp_hexval(c) >= 0;
            if (hex && s->npct == 1) {
                s->hex1 = c;
                s->npct = 2;
                i++;
                continue;
            }
            if (hex) {
                ob_put(&o, (uint8_t)(dlp_hexval(s->hex1) << 4 | dlp_hexval(c)));
                s->npct = 0;
                i++;
                continue;
            }
            ob_put(&o, '%');
            if (s->npct == 2)
                ob_put(&o, s->hex1);
            s->npct = 0;
        }
        i++;
        if (c == '+')
            ob_put(&o, ' ');
        else if (c == '&')
            ob_put(&o, '\n');
        else if (c == '%')
            s->npct = 1;
        else
            ob_put(&o, c);
    }
    return ob_done(&o);
}

static dlp_rc_t form_end(dlp_stage_t *st)
{
    form_stage_t *s = (form_stage_t *)st;
    dlp_obuf_t o;

    ob_init(&o, st);
    if (s->npct != 0) {
        ob_put(&o, '%');
        if (s->npct == 2)
            ob_put(&o, s->hex1);
        s->npct = 0;
    }
    return ob_done(&o);
}

static const dlp_stage_ops_t form_ops = {
    .name = "form",
    .write = form_write,
    .end = form_end,
    .free = generic_free,
};

dlp_stage_t *dlp_stage_form_new(dlp_stage_t *next)
{
    return dlp_stage_alloc(sizeof(form_stage_t), &form_ops, next);
}

/* --- one-shot decoders ----------------------------------------------------------- */

size_t dlp_percent_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap, bool plus)
{
    size_t i = 0, o = 0;

    if (s == NULL || out == NULL)
        return 0;
    while (i < n && o < cap) {
        uint8_t c = s[i];
        if (c == '%' && i + 2 < n && dlp_hexval(s[i + 1]) >= 0 && dlp_hexval(s[i + 2]) >= 0) {
            out[o++] = (uint8_t)(dlp_hexval(s[i + 1]) << 4 | dlp_hexval(s[i + 2]));
            i += 3;
            continue;
        }
        out[o++] = c == '+' && plus ? ' ' : c;
        i++;
    }
    return o;
}

typedef struct eword {
    size_t text, text_end; /* offsets of the encoded text */
    size_t len;            /* of the whole word, "=?" to "?=" */
    uint8_t enc;           /* 'B' or 'Q' */
} eword_t;

static bool is_lws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * "=?charset?B|Q?text?=" at s[0]. Every scan stops at the next '?' or space,
 * so trying this at each "=?" of a value costs linear time overall.
 */
static bool eword_parse(const uint8_t *s, size_t n, eword_t *w)
{
    size_t i = 2;

    if (n < 8 || s[0] != '=' || s[1] != '?')
        return false;
    while (i < n && s[i] != '?' && !is_lws(s[i]))
        i++;
    if (i == 2 || i + 3 >= n || s[i] != '?' || s[i + 2] != '?')
        return false;
    w->enc = (uint8_t)(s[i + 1] & ~0x20);
    if (w->enc != 'B' && w->enc != 'Q')
        return false;
    i += 3;
    w->text = i;
    while (i < n && s[i] != '?' && !is_lws(s[i]))
        i++;
    if (i + 1 >= n || s[i] != '?' || s[i + 1] != '=')
        return false;
    w->text_end = i;
    w->len = i + 2;
    return true;
}

/* b64_partial() into out[0, cap). */
static size_t eword_b_tail(uint32_t acc, unsigned nacc, uint8_t *out, size_t cap)
{
    uint8_t t[2];
    size_t k = b64_partial(acc, nacc, t);

    if (k > cap)
        k = cap;
    memcpy(out, t, k);
    return k;
}

static size_t eword_b(const uint8_t *t, size_t n, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    unsigned nacc = 0;
    size_t o = 0;

    for (size_t i = 0; i < n && o < cap; i++) {
        uint8_t v = b64_val[t[i]];
        if (v == PD) { /* a new quantum follows, as in the base64 stage */
            o += eword_b_tail(acc, nacc, out + o, cap - o);
            acc = 0;
            nacc = 0;
        }
        if (v >= 64)
            continue;
        acc = acc << 6 | v;
        if (++nacc == 4) {
            uint8_t q[3] = {(uint8_t)(acc >> 16), (uint8_t)(acc >> 8), (uint8_t)acc};
            for (unsigned k = 0; k < 3 && o < cap; k++)
                out[o++] = q[k];
            nacc = 0;
            acc = 0;
        }
    }
    return o + eword_b_tail(acc, nacc, out + o, cap - o);
}

static size_t eword_q(const uint8_t *t, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;

    while (i < n && o < cap) {
        if (t[i] == '=' && i + 2 < n && dlp_hexval(t[i + 1]) >= 0 && dlp_hexval(t[i + 2]) >= 0) {
            out[o++] = (uint8_t)(dlp_hexval(t[i + 1]) << 4 | dlp_hexval(t[i + 2]));
            i += 3;
            continue;
        }
        out[o++] = t[i] == '_' ? ' ' : t[i];
        i++;
    }
    return o;
}

size_t dlp_rfc2047_decode(const uint8_t *s, size_t n, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;
    bool after_word = false;
    eword_t w;

    if (s == NULL || out == NULL)
        return 0;
    while (i < n && o < cap) {
        if (after_word && is_lws(s[i])) {
            size_t j = i;
            while (j < n && is_lws(s[j]))
                j++;
            if (eword_parse(s + j, n - j, &w)) {
                i = j; /* RFC 2047 6.2: space between encoded words is dropped */
                continue;
            }
        }
        after_word = false;
        if (s[i] == '=' && eword_parse(s + i, n - i, &w)) {
            const uint8_t *t = s + i + w.text;
            size_t tn = w.text_end - w.text;
            o += w.enc == 'B' ? eword_b(t, tn, out + o, cap - o) : eword_q(t, tn, out + o, cap - o);
            i += w.len;
            after_word = true;
            continue;
        }
        out[o++] = s[i++];
    }
    return o;
}
