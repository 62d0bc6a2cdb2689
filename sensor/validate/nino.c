/*
 * nino.c - UK National Insurance numbers: "AB123456C", in print form
 * "AB 12 34 56 C". Upper case, or all lower case ("ab123456c": forms and
 * free text lower-case what is printed upper case); never mixed.
 *
 * Prefix (HMRC): first letter not D F I Q U V; second not D F I O Q U V;
 * not BG GB KN NK NT TN ZZ (never issued). Six digits, written bare or as
 * pairs with single spaces (both spaces or neither); a single space may
 * follow the prefix and precede the suffix. Suffix A-D (required: without
 * it, two letters and six digits is too common a shape).
 */
#include <string.h>

#include "dlp/validate.h"
#include "validate_int.h"

static bool nino_prefix_ok(uint8_t a, uint8_t b)
{
    static const char *const never[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    if (!vd_upper(a) || !vd_upper(b))
        return false;
    if (strchr("DFIQUV", a) != NULL || strchr("DFIOQUV", b) != NULL)
        return false;
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (never[i][0] == a && never[i][1] == b)
            return false;
    }
    return true;
}

static bool pair_at(const uint8_t *p, size_t n, size_t i)
{
    return i + 2 <= n && vd_digit(p[i]) && vd_digit(p[i + 1]);
}

static bool nino_upper_ok(const uint8_t *p, size_t n);

/* All lower case is checked as its upper case; a mixed case is refused. */
bool dlp_nino_ok(const uint8_t *p, size_t n)
{
    uint8_t up[16];

    if (p == NULL || n < 9 || n > sizeof(up))
        return false;
    if (p[0] < 'a' || p[0] > 'z')
        return nino_upper_ok(p, n);
    for (size_t i = 0; i < n; i++) {
        if (vd_upper(p[i]))
            return false;
        up[i] = p[i] >= 'a' && p[i] <= 'z' ? (uint8_t)(p[i] - 'a' + 'A') : p[i];
    }
    return nino_upper_ok(up, n);
}

static bool nino_upper_ok(const uint8_t *p, size_t n)
{
    if (!nino_prefix_ok(p[0], p[1]))
        return false;
    size_t i = 2;
    if (p[i] == ' ')
        i++;
    bool paired = i + 2 < n && p[i + 2] == ' ';
    for (int k = 0; k < 3; k++) {
        if (!pair_at(p, n, i))
            return false;
        i += 2;
        if (paired && k < 2) {
            if (i >= n || p[i] != ' ')
                return false;
            i++;
        }
    }
    if (i < n && p[i] == ' ')
        i++;
    return i + 1 == n && p[i] >= 'A' && p[i] <= 'D';
}

bool dlp_val__nino(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs, size_t *ve)
{
    size_t s = start, e = end;
    if (!vd_span_ok(win, len, start, end))
        return false;
    dlp_val__trim(win, &s, &e, " ");
    if (!dlp_nino_ok(win + s, e - s))
        return false;
    if ((s > 0 && vd_alnum(win[s - 1])) || (e < len && vd_alnum(win[e])))
        return false;
    *vs = s;
    *ve = e;
    return true;
}
