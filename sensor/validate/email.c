/*
 * email.c - e-mail addresses, in the form people and programs write them
 * (not the full RFC 5322 grammar: no quoted local parts, no IP literals).
 *
 * local part: 1-64 of [A-Za-z0-9._%+-], not starting or ending with '.',
 *             no "..";
 * domain:     labels of 1-63 [A-Za-z0-9-], not starting or ending with '-',
 *             at least two labels, the last (TLD) 2-24 letters;
 * whole:      at most 254 bytes.
 *
 * The pattern anchors on "c@domain" with one local-part character (a bounded
 * class repeat at the start of a pattern is slow, research/technical.md
 * 2.3); the window validator widens left over the local part, drops an
 * ellipsis's leading dots, and takes the domain as the whole run of domain
 * characters after '@' (past the match when the window has the bytes),
 * without trailing '.' or '-' (end of a sentence). A run that is not a valid
 * domain as a whole is refused rather than cut to a prefix: "x@mail.ex.c0m"
 * must not become "x@mail.ex".
 *
 * The userinfo of a URL is not an address: "https://user:SECRET@host" is a
 * password and a host (reporting it would hash the password), and
 * "https://user@host/", "ssh://git@host/" a login name. A local part that
 * follows "//" and userinfo characters (RFC 3986: unreserved, sub-delims,
 * '%', ':') after "scheme://" is refused; "mailto:x@example.io" has no "//"
 * and stays an address, and so does one after "//" with no scheme (a code
 * comment: url_userinfo). When the window does not reach back to where that
 * run of characters starts, the address is taken.
 */
#include <string.h>

#include "dlp/validate.h"
#include "validate_int.h"

#define EMAIL_LOCAL_MAX 64
#define EMAIL_LABEL_MAX 63
#define EMAIL_TLD_MIN 2
#define EMAIL_TLD_MAX 24
#define EMAIL_MAX 254
#define EMAIL_USERINFO_MAX 256 /* how far back "//" is looked for */
#define EMAIL_SCHEME_MAX 32    /* and the scheme before it */

static bool local_char(uint8_t c)
{
    return vd_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static bool domain_char(uint8_t c)
{
    return vd_alnum(c) || c == '-' || c == '.';
}

static bool local_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > EMAIL_LOCAL_MAX || p[0] == '.' || p[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!local_char(p[i]) || (p[i] == '.' && p[i - 1] == '.'))
            return false;
    }
    return true;
}

static bool label_ok(const uint8_t *p, size_t n, bool tld)
{
    if (n == 0 || n > EMAIL_LABEL_MAX || p[0] == '-' || p[n - 1] == '-')
        return false;
    if (tld && (n < EMAIL_TLD_MIN || n > EMAIL_TLD_MAX))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (tld ? !vd_alpha(p[i]) : !(vd_alnum(p[i]) || p[i] == '-'))
            return false;
    }
    return true;
}

/*
 * File extensions that are not delegated top-level domains (checked against
 * the IANA root zone: none of these is in it). Extensions that ARE TLDs stay
 * out of this list and keep their addresses: zip, mov, app, dev, py, sh, rs,
 * md, pl, ps, ai, io, so (Somalia), ... Extensions with a digit (mp3, mp4,
 * woff2, bz2, 7z) need no entry: a TLD is letters only.
 */
#define EXT2(a, b) ((uint32_t)(a) | (uint32_t)(b) << 8)
#define EXT3(a, b, c) (EXT2(a, b) | (uint32_t)(c) << 16)
#define EXT4(a, b, c, d) (EXT3(a, b, c) | (uint32_t)(d) << 24)

/* Lower-case letters packed as EXTn() packs them, looked up by their first
 * letter: each e-mail candidate asks twice (domain_ok, before_extension), so
 * a common TLD ("com") costs a switch and two compares, not a list. */
static bool not_tld(const uint8_t *p, size_t n)
{
    uint32_t w = 0;

    if (n < 2 || n > 4)
        return false;
    for (size_t i = 0; i < n; i++)
        w |= (uint32_t)(p[i] | 0x20) << (8 * i);
    switch (w & 0xff) {
    case 'a':
        return w == EXT3('a', 's', 'p') || w == EXT4('a', 's', 'p', 'x') ||
               w == EXT3('a', 'v', 'i');
    case 'b':
        return w == EXT3('b', 'm', 'p');
    case 'c':
        return w == EXT3('c', 's', 's') || w == EXT3('c', 's', 'v');
    case 'd':
        return w == EXT3('d', 'l', 'l') || w == EXT3('d', 'o', 'c') ||
               w == EXT4('d', 'o', 'c', 'x');
    case 'e':
        return w == EXT3('e', 'o', 't') || w == EXT3('e', 'x', 'e');
    case 'g':
        return w == EXT3('g', 'i', 'f') || w == EXT2('g', 'z');
    case 'h':
        return w == EXT4('h', 't', 'm', 'l') || w == EXT3('h', 't', 'm');
    case 'i':
        return w == EXT3('i', 'c', 'o');
    case 'j':
        return w == EXT3('j', 'p', 'g') || w == EXT4('j', 'p', 'e', 'g') || w == EXT2('j', 's') ||
               w == EXT4('j', 's', 'o', 'n') || w == EXT3('j', 's', 'p');
    case 'm':
        return w == EXT3('m', 'j', 's') || w == EXT3('m', 'a', 'p');
    case 'o':
        return w == EXT3('o', 't', 'f') || w == EXT3('o', 'g', 'g');
    case 'p':
        return w == EXT3('p', 'n', 'g') || w == EXT3('p', 'h', 'p') || w == EXT3('p', 'd', 'f') ||
               w == EXT3('p', 'p', 't') || w == EXT4('p', 'p', 't', 'x');
    case 'r':
        return w == EXT3('r', 'a', 'r');
    case 's':
        return w == EXT3('s', 'v', 'g');
    case 't':
        return w == EXT3('t', 'i', 'f') || w == EXT4('t', 'i', 'f', 'f') ||
               w == EXT3('t', 't', 'f') || w == EXT3('t', 'x', 't') || w == EXT3('t', 'g', 'z');
    case 'w':
        return w == EXT4('w', 'e', 'b', 'p') || w == EXT4('w', 'o', 'f', 'f') ||
               w == EXT4('w', 'e', 'b', 'm') || w == EXT3('w', 'a', 'v');
    case 'x':
        return w == EXT3('x', 'm', 'l') || w == EXT2('x', 'z') || w == EXT3('x', 'l', 's') ||
               w == EXT4('x', 'l', 's', 'x');
    default:
        return false;
    }
}

static size_t before_extension(const uint8_t *win, size_t d, size_t e)
{
    size_t k = e;

    while (k > d && win[k - 1] != '.')
        k--;
    return k > d + 1 && not_tld(win + k, e - k) ? k - 1 : e;
}

static bool domain_ok(const uint8_t *p, size_t n)
{
    size_t labels = 0, i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '.')
            j++;
        if (!label_ok(p + i, j - i, j == n) || (j == n && not_tld(p + i, j - i)))
            return false;
        labels++;
        i = j + 1;
    }
    return labels >= 2;
}

static bool userinfo_char(uint8_t c)
{
    return vd_alnum(c) || (c != '\0' && strchr("-._~%!$&'()*+,;=:", c) != NULL);
}

static bool scheme_char(uint8_t c)
{
    return vd_alnum(c) || c == '+' || c == '-' || c == '.';
}

/*
 * win[s, at) is the user or the password in "scheme://user[:password]@". The
 * scheme is required: "//" alone opens a comment in C, C++, Java, JS, Go...
 * ("//author:jane.doe@example.com", "//TODO(jane.doe@example.com)"), far more
 * often than a scheme-relative URL with a login, and those addresses must not
 * go unreported. Both walks are bounded.
 */
static bool url_userinfo(const uint8_t *win, size_t s)
{
    size_t k = s, j;

    while (k > 0 && s - k < EMAIL_USERINFO_MAX && userinfo_char(win[k - 1]))
        k--;
    if (k < 4 || win[k - 1] != '/' || win[k - 2] != '/' || win[k - 3] != ':')
        return false;
    j = k - 3;
    while (j > 0 && k - 3 - j < EMAIL_SCHEME_MAX && scheme_char(win[j - 1]))
        j--;
    return j < k - 3 && vd_alpha(win[j]) && (j == 0 || !scheme_char(win[j - 1]));
}

bool dlp_email_ok(const uint8_t *p, size_t n)
{
    if (p == NULL || n > EMAIL_MAX)
        return false;
    const uint8_t *at = memchr(p, '@', n);
    if (at == NULL)
        return false;
    size_t ln = (size_t)(at - p);
    return local_ok(p, ln) && domain_ok(at + 1, n - ln - 1);
}

bool dlp_val__email(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                    size_t *ve)
{
    if (!vd_span_ok(win, len, start, end) || start == end)
        return false;
    const uint8_t *atp = memchr(win + start, '@', end - start);
    if (atp == NULL)
        return false;
    size_t at = (size_t)(atp - win);
    size_t s = at;
    while (s > 0 && at - s <= EMAIL_LOCAL_MAX && local_char(win[s - 1]))
        s--;
    if (at - s > EMAIL_LOCAL_MAX || (s > 0 && win[s - 1] == '@') || url_userinfo(win, s))
        return false;
    while (s < at && win[s] == '.')
        s++;
    size_t e = at + 1;
    while (e < len && e - s <= EMAIL_MAX && domain_char(win[e]))
        e++;
    if (e - s > EMAIL_MAX)
        return false;
    while (e > at + 1 && (win[e - 1] == '.' || win[e - 1] == '-'))
        e--;
    e = before_extension(win, at + 1, e);
    if (!dlp_email_ok(win + s, e - s))
        return false;
    *vs = s;
    *ve = e;
    return true;
}
