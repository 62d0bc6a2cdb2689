/*
 * json.c - the JSON string unescape stage (RFC 8259 7): what every JSON
 * parser hands the application, so "\u0034\u0035..." or "jane\u0040x.com"
 * is matched as the digits or the address it is.
 *
 * Definition (on the whole stream; any split gives the same output). At a
 * backslash:
 *  - \" \\ \/ \b \f \n \r \t: the character (2 bytes consumed);
 *  - \uXXXX (any case), not a surrogate: its UTF-8 (1 to 3 bytes; \u0000
 *    is a NUL, as a parser gives it);
 *  - \uD800-\uDBFF followed by \uDC00-\uDFFF: the pair's code point in
 *    UTF-8 (4 bytes, 12 consumed);
 *  - a lone surrogate (high without its low, or a low): its 6 bytes as they
 *    are (no parser agrees on what they are; U+FFFD would hide nothing more);
 *  - anything else (a bad escape, "\u12x", the end): the backslash as it is,
 *    and what follows is looked at again as ordinary bytes.
 * Every other byte passes as is. Escapes are decoded wherever they are, in
 * strings or not: outside strings a backslash is not JSON, and a lenient
 * reader can only take it the same way. "\\u0034" stays "\u0034".
 *
 * Which streams (dlp_stage_json_mode): a JSON media type decodes from the
 * first byte; a body with no type, text/plain, or a WebSocket text message
 * is sniffed: decoded when, after a UTF-8 BOM, its first byte other than
 * whitespace is '"' (a top-level string), or a '{' or '[' comes within its
 * first SNIFF_PREFIX bytes with only printable ASCII and whitespace, no
 * backslash, before it: the prefixes JSON travels behind (Socket.IO's "42[",
 * "42/ns,17[", "451-[", Engine.IO v3's "97:42[" in text/plain polling, a
 * STOMP frame's headers before its JSON body); passed as is otherwise. A
 * prefix that only allowed digits let "42/chat,[...]" pass undecoded.
 * Sniffed bytes are passed on as they come (without a backslash they are the
 * same either way), so nothing is held for the verdict.
 *
 * Speed: a stream without a backslash costs one memchr per write and is
 * passed on without a copy. A run after an escape is passed on from the input
 * too when it has DIRECT_MIN bytes or more; a shorter one is copied after the
 * decoded bytes, so a string of escapes does not become a write per character.
 *
 * State across writes: the mode, the sniff's progress, and up to HOLD_MAX - 1
 * bytes of an escape not yet decidable (a high surrogate and part of the
 * escape after it), finished with the next write's first bytes in a small
 * stitch buffer, or decided as they are at the end.
 *
 * Thread: owned by the worker that owns the flow.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/stage.h"
#include "stage_int.h"

#define HOLD_MAX 12 /* "\uD83D\uDE00": the longest escape */
#define STITCH HOLD_MAX
#define SNIFF_PREFIX 256
#define DIRECT_MIN 64

enum { J_SNIFF = 0, J_DECODE, J_PASS };

typedef struct json_stage {
    dlp_stage_t base;
    uint8_t mode;
    uint8_t nbom;    /* sniff: BOM bytes seen at the start */
    uint8_t other;   /* sniff: a byte other than a BOM's was seen */
    uint8_t lead;    /* sniff: a byte other than whitespace was seen */
    uint16_t nseen;  /* sniff: bytes looked at after the BOM */
    uint8_t nhold;
    uint8_t hold[HOLD_MAX];
} json_stage_t;

static const uint8_t bom[3] = {0xef, 0xbb, 0xbf};

/* clang-format off */
static const uint8_t simple[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f', ['n'] = '\n',
    ['r'] = '\r', ['t'] = '\t',
};
/* clang-format on */

/*
 * "\uXXXX" at b[0]: its value in *u, or -1 if it is not one, -2 if a < 6
 * and it is one as far as a goes.
 */
static int u_escape(const uint8_t *b, size_t a, unsigned *u)
{
    unsigned v = 0;

    for (size_t k = 0; k < 6; k++) {
        int h;
        if (k == a)
            return -2;
        if (k < 2) {
            if (b[k] != (k == 0 ? '\\' : 'u'))
                return -1;
            continue;
        }
        h = dlp_hexval(b[k]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *u = v;
    return 0;
}

static void put_utf8(dlp_obuf_t *o, unsigned cp)
{
    if (cp < 0x80) {
        ob_put(o, (uint8_t)cp);
    } else if (cp < 0x800) {
        ob_put(o, (uint8_t)(0xc0 | cp >> 6));
        ob_put(o, (uint8_t)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        ob_put(o, (uint8_t)(0xe0 | cp >> 12));
        ob_put(o, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
        ob_put(o, (uint8_t)(0x80 | (cp & 0x3f)));
    } else {
        ob_put(o, (uint8_t)(0xf0 | cp >> 18));
        ob_put(o, (uint8_t)(0x80 | (cp >> 12 & 0x3f)));
        ob_put(o, (uint8_t)(0x80 | (cp >> 6 & 0x3f)));
        ob_put(o, (uint8_t)(0x80 | (cp & 0x3f)));
    }
}

/* "\uXXXX" with value u at b[0], a >= 6; returns what esc_step() returns. */
static int u_step(const uint8_t *b, size_t a, unsigned u, bool final, dlp_obuf_t *o)
{
    unsigned lo = 0;
    int r;

    if (u < 0xd800 || u > 0xdfff) {
        put_utf8(o, u);
        return 6;
    }
    if (u <= 0xdbff) {
        r = u_escape(b + 6, a - 6, &lo);
        if (r == -2 && !final)
            return -1;
        if (r == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
            put_utf8(o, 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00));
            return 12;
        }
    }
    ob_put_n(o, b, 6); /* a lone surrogate */
    return 6;
}

/*
 * The escape at b[0] ('\\', a > 0 bytes available, 'final': no more will
 * come). Returns the bytes consumed, or -1 when more are needed to decide.
 */
static int esc_step(const uint8_t *b, size_t a, bool final, dlp_obuf_t *o)
{
    unsigned u = 0;
    int r;

    if (a < 2 && !final)
        return -1;
    if (a >= 2 && simple[b[1]] != 0) {
        ob_put(o, simple[b[1]]);
        return 2;
    }
    r = u_escape(b, a, &u);
    if (r == -2 && !final)
        return -1;
    if (r == 0)
        return u_step(b, a, u, final, o);
    ob_put(o, '\\');
    return 1;
}

/* One decision at b[0] in decode mode: an escape, or one ordinary byte. */
static int dec_step(const uint8_t *b, size_t a, bool final, dlp_obuf_t *o)
{
    if (b[0] == '\\')
        return esc_step(b, a, final, o);
    ob_put(o, b[0]);
    return 1;
}

static void run_out(dlp_obuf_t *o, const uint8_t *p, size_t n)
{
    if (n >= DIRECT_MIN || o->n == 0)
        ob_direct(o, p, n);
    else
        ob_put_n(o, p, n);
}

/* Decode mode over p[i, n); an escape cut by the end goes to the hold. */
static void dec_scan(json_stage_t *s, const uint8_t *p, size_t n, size_t i, dlp_obuf_t *o)
{
    while (i < n) {
        const uint8_t *bs = memchr(p + i, '\\', n - i);
        size_t at = bs != NULL ? (size_t)(bs - p) : n;
        int r;

        if (at > i)
            run_out(o, p + i, at - i);
        if (bs == NULL)
            return;
        r = esc_step(p + at, n - at, false, o);
        if (r < 0) {
            memcpy(s->hold, p + at, n - at); /* < HOLD_MAX: see esc_step */
            s->nhold = (uint8_t)(n - at);
            return;
        }
        i = at + (size_t)r;
    }
}

/* Sniff mode: looks at p[0, n) until the verdict, which the mode then tells. */
static void sniff(json_stage_t *s, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n && s->mode == J_SNIFF; i++) {
        uint8_t c = p[i];
        if (!s->other && s->nbom < sizeof(bom) && c == bom[s->nbom]) {
            s->nbom++;
            continue;
        }
        s->other = 1;
        bool ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (s->nbom > 0 && s->nbom < sizeof(bom))
            s->mode = J_PASS; /* half a BOM */
        else if (c == '{' || c == '[' || (c == '"' && !s->lead))
            s->mode = J_DECODE;
        else if (s->nseen >= SNIFF_PREFIX || c == '\\' || (!ws && (c < 0x20 || c > 0x7e)))
            s->mode = J_PASS;
        s->nseen++;
        s->lead |= !ws;
    }
}

_Static_assert(HOLD_MAX + STITCH <= DLP_STITCH_MAX, "the stitch fits");

static int dec_step_hold(void *st, const uint8_t *b, size_t a, bool final, dlp_obuf_t *o)
{
    (void)st;
    return dec_step(b, a, final, o);
}

static dlp_rc_t json_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    json_stage_t *s = (json_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    if (s->mode == J_PASS)
        return dlp_stage_emit(st, p, n);
    if (s->mode == J_SNIFF) {
        sniff(s, p, n); /* what it looked at has no backslash: decoded from 0 */
        if (s->mode != J_DECODE)
            return dlp_stage_emit(st, p, n);
    }
    ob_init(&o, st);
    if (s->nhold > 0)
        i = dlp_hold_stitch(s->hold, &s->nhold, STITCH, p, n, dec_step_hold, s, &o);
    dec_scan(s, p, n, i, &o);
    return ob_done(&o);
}

static dlp_rc_t json_end(dlp_stage_t *st)
{
    json_stage_t *s = (json_stage_t *)st;
    dlp_obuf_t o;
    size_t i = 0;

    ob_init(&o, st);
    while (i < s->nhold)
        i += (size_t)dec_step(s->hold + i, s->nhold - i, true, &o);
    s->nhold = 0;
    return ob_done(&o);
}

static void json_free(dlp_stage_t *st)
{
    free(st);
}

static const dlp_stage_ops_t json_ops = {
    .name = "json",
    .write = json_write,
    .end = json_end,
    .free = json_free,
};

dlp_stage_t *dlp_stage_json_new(dlp_stage_t *next, dlp_json_mode_t mode)
{
    json_stage_t *s;

    if (mode != DLP_JSON_DECODE && mode != DLP_JSON_SNIFF)
        return NULL;
    s = (json_stage_t *)dlp_stage_alloc(sizeof(json_stage_t), &json_ops, next);
    if (s == NULL)
        return NULL;
    s->mode = mode == DLP_JSON_DECODE ? J_DECODE : J_SNIFF;
    return &s->base;
}

/* --- which media types are JSON ------------------------------------------------- */

static bool ci_eq(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);

    if (n != k)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + ('a' - 'A'));
        if (c != lit[i])
            return false;
    }
    return true;
}

static bool ci_ends(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);

    return n > k && ci_eq(s + n - k, k, lit);
}

dlp_json_mode_t dlp_stage_json_mode(const char *ctype)
{
    static const char *const subtypes[] = {"json",      "x-json",      "ndjson",
                                           "x-ndjson",  "jsonl",       "x-jsonl",
                                           "jsonlines", "x-jsonlines", "json-seq"};
    const char *t, *slash, *end;
    size_t tn, sn;

    if (ctype == NULL)
        return DLP_JSON_SNIFF;
    t = ctype;
    while (*t == ' ' || *t == '\t')
        t++;
    end = t;
    while (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t')
        end++;
    if (end == t)
        return DLP_JSON_SNIFF;
    slash = memchr(t, '/', (size_t)(end - t));
    if (slash == NULL)
        return DLP_JSON_OFF;
    tn = (size_t)(slash - t);
    sn = (size_t)(end - slash - 1);
    if (ci_ends(slash + 1, sn, "+json"))
        return DLP_JSON_DECODE;
    if (ci_eq(t, tn, "application") || ci_eq(t, tn, "text"))
        for (size_t k = 0; k < sizeof(subtypes) / sizeof(subtypes[0]); k++)
            if (ci_eq(slash + 1, sn, subtypes[k]))
                return DLP_JSON_DECODE;
    if (ci_eq(t, tn, "text") && ci_eq(slash + 1, sn, "plain"))
        return DLP_JSON_SNIFF;
    return DLP_JSON_OFF;
}
