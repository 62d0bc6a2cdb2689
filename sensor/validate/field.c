/*
 * field.c - the value of a named field inside a match (rule key
 * 'value: field'; the rules in linkable.yaml, passports, passwords).
 *
 * Hyperscan has no capture groups, so a pattern that anchors on a field
 * name matches the name too; this finds what the field holds. Pure; any
 * thread.
 */
#include <string.h>
#include <strings.h>

#include "dlp/validate.h"
#include "validate_int.h"

static const char *const span_names[DLP_VALUE__COUNT] = {
    [DLP_VALUE_MATCH] = "match",
    [DLP_VALUE_FIELD] = "field",
};

const char *dlp_value_span_name(dlp_value_span_t v)
{
    return (unsigned)v < DLP_VALUE__COUNT ? span_names[v] : "?";
}

bool dlp_value_span_from_name(const char *s, dlp_value_span_t *out)
{
    for (unsigned i = 0; s != NULL && i < DLP_VALUE__COUNT; i++)
        if (strcmp(s, span_names[i]) == 0) {
            *out = (dlp_value_span_t)i;
            return true;
        }
    return false;
}

/* What surrounds a field's value without being part of it. */
static const char trim_set[] = " \t\"',;<\r\n";

static bool trim_char(uint8_t c)
{
    return c != '\0' && strchr(trim_set, c) != NULL;
}

static const uint8_t *find(const uint8_t *p, size_t n, const char *s)
{
    return memmem(p, n, s, strlen(s));
}

/* A pattern may end on the one byte that ends an unquoted value (the
 * password pattern's terminator: '&', '>', a control or a non-ASCII byte). */
static bool terminator(uint8_t c)
{
    return c == '&' || c == '>' || c < 0x20 || c >= 0x7f;
}

/* "scheme://user:SECRET@": SECRET's span, or false. */
static bool url_password(const uint8_t *p, size_t n, size_t *s, size_t *e)
{
    const uint8_t *sl = find(p, n, "://"), *colon, *at;

    if (sl == NULL)
        return false;
    sl += 3;
    at = memchr(sl, '@', n - (size_t)(sl - p));
    if (at == NULL)
        return false;
    colon = memchr(sl, ':', (size_t)(at - sl));
    if (colon == NULL)
        return false;
    *s = (size_t)(colon + 1 - p);
    *e = (size_t)(at - p);
    return true;
}

/* After the first ':', '=' or '>' (an HTTP auth scheme skipped), or false. */
static bool after_separator(const uint8_t *p, size_t n, size_t *s)
{
    static const char *const schemes[] = {"Basic ", "Bearer "};
    size_t i = 0;

    while (i < n && p[i] != ':' && p[i] != '=' && p[i] != '>')
        i++;
    if (i == n)
        return false;
    i++;
    while (i < n && trim_char(p[i]))
        i++;
    for (size_t k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
        size_t l = strlen(schemes[k]);
        if (n - i > l && strncasecmp((const char *)p + i, schemes[k], l) == 0)
            i += l;
    }
    *s = i;
    return true;
}

/* No separator: a label and its value ("passport no X1234567") end with the
 * value, its last word; a CSV header's column ends with a separator. */
static size_t last_word(const uint8_t *p, size_t n)
{
    size_t i = n;

    if (trim_char(p[n - 1]))
        return 0;
    while (i > 0 && p[i - 1] != ' ' && p[i - 1] != '\t' && p[i - 1] != '#')
        i--;
    return i;
}

void dlp_value_narrow(dlp_value_span_t how, const uint8_t *win, size_t *vs, size_t *ve)
{
    const uint8_t *p = win + *vs;
    size_t n = *ve - *vs, s = 0, e = n;

    if (how != DLP_VALUE_FIELD || n == 0)
        return;
    /* A URL's password ends at the '@' the pattern ended on; other values may
     * end on their pattern's terminator byte. */
    if (!url_password(p, n, &s, &e)) {
        if (!after_separator(p, n, &s))
            s = last_word(p, n);
        if (e > s && terminator(p[e - 1]) && !trim_char(p[e - 1]))
            e--;
    }
    dlp_val__trim(p, &s, &e, trim_set);
    if (s == e)
        return;
    *ve = *vs + e;
    *vs += s;
}
