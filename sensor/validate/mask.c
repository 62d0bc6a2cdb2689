/*
 * mask.c - normalizing a value (the input of the event's HMAC) and masking
 * it (what an event shows, INTERFACE.md "JSON events").
 *
 * Invariants: output is always NUL-terminated within 'cap' and truncated
 * from the end only, so a short buffer shows less, never more (a mask cut
 * inside a UTF-8 sequence drops the partial sequence). Masks count
 * characters, not bytes: a UTF-8 sequence is kept or hidden whole, so the
 * output stays valid UTF-8 when the input is; an invalid byte counts as one
 * character. At most DLP_MASK_STARS_MAX '*' stand for the hidden part.
 */
#include <string.h>

#include "dlp/validate.h"
#include "validate_int.h"

size_t dlp_normalize(dlp_norm_t how, const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (out == NULL || cap == 0)
        return 0;
    if ((unsigned)how >= DLP_NORM__COUNT || p == NULL)
        n = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        uint8_t c = p[i];
        switch (how) {
        case DLP_NORM_DIGITS:
            if (!vd_digit(c))
                continue;
            break;
        case DLP_NORM_UPPER_NOSPACE:
            if (c == ' ' || c == '\t')
                continue;
            if (c >= 'a' && c <= 'z')
                c = (uint8_t)(c - 'a' + 'A');
            break;
        case DLP_NORM_LOWER:
            if (vd_upper(c))
                c = (uint8_t)(c - 'A' + 'a');
            break;
        default:
            break;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o;
}

/* Bytes of the character at s[i] (1 for an invalid or truncated sequence). */
static size_t u8_len(const uint8_t *s, size_t n, size_t i)
{
    uint8_t c = s[i];
    size_t k = c < 0xC2 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 1;
    if (i + k > n)
        return 1;
    for (size_t j = 1; j < k; j++) {
        if ((s[i + j] & 0xC0) != 0x80)
            return 1;
    }
    return k;
}

/* Byte offset of character number 'k' (n when there are fewer). */
static size_t u8_offset(const uint8_t *s, size_t n, size_t k)
{
    size_t i = 0;
    while (k-- > 0 && i < n)
        i += u8_len(s, n, i);
    return i;
}

static size_t u8_count(const uint8_t *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i += u8_len(s, n, i))
        c++;
    return c;
}

typedef struct mout {
    char *p;
    size_t cap, n;
    bool cut; /* something did not fit */
} mout_t;

static void put(mout_t *o, const void *src, size_t k)
{
    const char *s = src;
    for (size_t i = 0; i < k; i++) {
        if (o->n + 1 >= o->cap) {
            o->cut = true;
            return;
        }
        o->p[o->n++] = s[i];
    }
}

static void stars(mout_t *o, size_t k)
{
    if (k > DLP_MASK_STARS_MAX)
        k = DLP_MASK_STARS_MAX;
    for (size_t i = 0; i < k; i++)
        put(o, "*", 1);
}

/* After a cut: drops a UTF-8 sequence the cut left incomplete at the end. */
static void drop_partial(mout_t *o)
{
    size_t i = o->n, cont = 0;
    while (i > 0 && cont < 3 && ((uint8_t)o->p[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0)
        return;
    uint8_t lead = (uint8_t)o->p[i - 1];
    if (lead < 0xC2 || lead >= 0xF5)
        return;
    size_t need = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (cont + 1 < need)
        o->n = i - 1;
}

/* Shows the first 'head' and last 'tail' characters of s, '*' between. */
static void keep_ends(mout_t *o, const uint8_t *s, size_t n, size_t head, size_t tail)
{
    size_t chars = u8_count(s, n);
    size_t h = u8_offset(s, n, head), t = u8_offset(s, n, chars - tail);
    put(o, s, h);
    stars(o, chars - head - tail);
    put(o, s + t, n - t);
}

static void mask_email(mout_t *o, const uint8_t *s, size_t n)
{
    const uint8_t *at = NULL;
    for (size_t i = n; i-- > 0;) {
        if (s[i] == '@') {
            at = s + i;
            break;
        }
    }
    if (at == NULL) {
        keep_ends(o, s, n, u8_count(s, n) >= 2 ? 1 : 0, 0);
        return;
    }
    size_t local = (size_t)(at - s);
    if (local > 0)
        put(o, s, u8_len(s, local, 0));
    put(o, "***", 3);
    put(o, at, n - local);
}

size_t dlp_mask(dlp_mask_t how, const char *norm, size_t n, char *out, size_t cap)
{
    mout_t o = {out, cap, 0, false};
    const uint8_t *s = (const uint8_t *)norm;
    if (out == NULL || cap == 0)
        return 0;
    out[0] = '\0';
    if (s == NULL)
        return 0;
    size_t chars = u8_count(s, n);
    switch (how) {
    case DLP_MASK_NUMBER:
        keep_ends(&o, s, n, chars >= 14 ? 6 : 0, chars >= 8 ? 4 : 0);
        break;
    case DLP_MASK_LAST4:
        keep_ends(&o, s, n, 0, chars >= 8 ? 4 : 0);
        break;
    case DLP_MASK_EMAIL:
        mask_email(&o, s, n);
        break;
    case DLP_MASK_PREFIX4:
        keep_ends(&o, s, n, chars >= 8 ? 4 : 0, 0);
        break;
    case DLP_MASK_FIRST:
        keep_ends(&o, s, n, chars >= 2 ? 1 : 0, 0);
        break;
    case DLP_MASK_CLEAR:
        put(&o, s, n);
        break;
    case DLP_MASK_HIDDEN:
        /* Always as many stars: a password's length narrows a guess too. */
        stars(&o, DLP_MASK_HIDDEN_STARS);
        break;
    default:
        break;
    }
    if (o.cut)
        drop_partial(&o);
    out[o.n] = '\0';
    return o.n;
}
