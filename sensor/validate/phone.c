/*
 * phone.c - telephone numbers in two written forms.
 *
 * International (E.164): '+', an assigned ITU country code, the rest; 8-15
 * digits in all, single ' ', '-' or '.' allowed between digits. "+1" is
 * the North American plan and must also pass its rules below.
 *
 * North American (NANP): "(AAA) EEE-NNNN", "AAA-EEE-NNNN", "AAA.EEE.NNNN",
 * "AAA EEE NNNN" (the same separator twice), optionally after "+1" (with or
 * without one separator; "+1" may also precede ten bare digits) or "1-",
 * "1.", "1 ". Area code: first digit 2-9, second not 9 (N9X is reserved),
 * not N11 (service codes), not 555 (never assigned). Exchange: first digit
 * 2-9, not N11. 555-0100..555-0199 are reserved for fiction and refused.
 * Ten bare digits without "+1" are not a phone number here: too many ids
 * look like that.
 *
 * The window validator widens left over a "+1" / "1-" / "1." the pattern
 * left out, so the same number always gives the same digits.
 */
#include <string.h>

#include "dlp/validate.h"
#include "validate_int.h"

#define E164_MIN_DIGITS 8
#define E164_MAX_DIGITS 15

/* Assigned 3-digit country codes, as inclusive ranges (ITU-T E.164 list). */
static const uint16_t cc3_ranges[][2] = {
    {211, 213}, {216, 216}, {218, 218}, {220, 258}, {260, 269}, {290, 291}, {297, 299},
    {350, 359}, {370, 383}, {385, 387}, {389, 389}, {420, 421}, {423, 423}, {500, 509},
    {590, 599}, {670, 670}, {672, 683}, {685, 692}, {800, 800}, {808, 808}, {850, 850},
    {852, 853}, {855, 856}, {870, 870}, {878, 878}, {880, 883}, {886, 886}, {888, 888},
    {960, 968}, {970, 977}, {979, 979}, {992, 996}, {998, 998},
};

/* Assigned 2-digit country codes. */
static const uint8_t cc2[] = {20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46,
                              47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63,
                              64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98};

/* Length of the country code that d (>= 3 digits) starts with, 0 if none. */
static size_t country_code_len(const char *d)
{
    if (d[0] == '1' || d[0] == '7')
        return 1;
    unsigned two = (unsigned)(d[0] - '0') * 10 + (unsigned)(d[1] - '0');
    for (size_t i = 0; i < sizeof(cc2); i++) {
        if (cc2[i] == two)
            return 2;
    }
    unsigned three = two * 10 + (unsigned)(d[2] - '0');
    for (size_t i = 0; i < sizeof(cc3_ranges) / sizeof(cc3_ranges[0]); i++) {
        if (three >= cc3_ranges[i][0] && three <= cc3_ranges[i][1])
            return 3;
    }
    return 0;
}

static bool is_sep(uint8_t c)
{
    return c == ' ' || c == '-' || c == '.';
}

/* p[0, n) after the '+': digits with single separators between them. */
static bool e164_ok(const uint8_t *p, size_t n)
{
    char d[E164_MAX_DIGITS];
    size_t nd = 0;
    if (n == 0 || !vd_digit(p[0]) || !vd_digit(p[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (vd_digit(p[i])) {
            if (nd == E164_MAX_DIGITS)
                return false;
            d[nd++] = (char)p[i];
        } else if (!is_sep(p[i]) || !vd_digit(p[i - 1])) {
            return false;
        }
    }
    return nd >= E164_MIN_DIGITS && d[0] != '1' && country_code_len(d) != 0;
}

static bool n11(const uint8_t *x)
{
    return x[1] == '1' && x[2] == '1';
}

/* a: area code, x: exchange, l: line number (digits). */
static bool nanp_digits_ok(const uint8_t *a, const uint8_t *x, const uint8_t *l)
{
    if (a[0] < '2' || a[1] == '9' || n11(a) || memcmp(a, "555", 3) == 0)
        return false;
    if (x[0] < '2' || n11(x))
        return false;
    return !(memcmp(x, "555", 3) == 0 && l[0] == '0' && l[1] == '1');
}

static bool digits_at(const uint8_t *p, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (!vd_digit(p[i]))
            return false;
    }
    return true;
}

/* "(AAA) EEE-NNNN" or "AAA-EEE-NNNN" with one separator kind; ten bare digits if 'bare'. */
static bool nanp_ok(const uint8_t *p, size_t n, bool bare)
{
    if (bare && n == 10 && digits_at(p, 10))
        return nanp_digits_ok(p, p + 3, p + 6);
    if (n >= 13 && p[0] == '(' && p[4] == ')') {
        size_t i = p[5] == ' ' ? 6 : 5;
        if (n != i + 8 || !digits_at(p + 1, 3) || !digits_at(p + i, 3) || !is_sep(p[i + 3]) ||
            !digits_at(p + i + 4, 4))
            return false;
        return nanp_digits_ok(p + 1, p + i, p + i + 4);
    }
    if (n != 12 || !is_sep(p[3]) || p[7] != p[3])
        return false;
    if (!digits_at(p, 3) || !digits_at(p + 4, 3) || !digits_at(p + 8, 4))
        return false;
    return nanp_digits_ok(p, p + 4, p + 8);
}

bool dlp_phone_ok(const uint8_t *p, size_t n)
{
    if (p == NULL || n < 2)
        return false;
    if (p[0] == '+' && p[1] == '1') {
        size_t i = 2;
        if (i < n && is_sep(p[i]))
            i++;
        return nanp_ok(p + i, n - i, true);
    }
    if (p[0] == '+')
        return e164_ok(p + 1, n - 1);
    if (p[0] == '1' && is_sep(p[1]))
        return nanp_ok(p + 2, n - 2, false);
    return nanp_ok(p, n, false);
}

/* Start of a "+1", "+1 ", "1-" or "1." written just before a NANP number at s. */
static size_t nanp_prefix_start(const uint8_t *win, size_t s)
{
    size_t i = s;
    if (i > 0 && is_sep(win[i - 1]))
        i--;
    if (i == 0 || win[i - 1] != '1')
        return s;
    if (i > 1 && win[i - 2] == '+')
        return i - 2;
    if (i < s && win[i] != ' ' && (i < 2 || !vd_digit(win[i - 2])))
        return i - 1;
    return s;
}

bool dlp_val__phone(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                    size_t *ve)
{
    size_t s = start, e = end;
    if (!vd_span_ok(win, len, start, end))
        return false;
    dlp_val__trim(win, &s, &e, " ");
    if (!dlp_phone_ok(win + s, e - s))
        return false;
    if (win[s] != '+' && !(win[s] == '1' && e - s > 1 && is_sep(win[s + 1]))) {
        size_t w = nanp_prefix_start(win, s);
        if (w < s && dlp_phone_ok(win + w, e - w))
            s = w;
    }
    uint8_t sep = dlp_val__joiner(win + s, e - s);
    if (!dlp_val__isolated(win, len, s, e, sep))
        return false;
    /* Grouped with spaces, a number's end is known only where no group follows:
     * "+33 1 42 68 53 01 22" is not a French number with something after it. */
    if (sep == 0 && memchr(win + s, ' ', e - s) != NULL && e + 1 < len && win[e] == ' ' &&
        vd_digit(win[e + 1]))
        return false;
    if (s > 0 && win[s - 1] == '+')
        return false;
    *vs = s;
    *ve = e;
    return true;
}
