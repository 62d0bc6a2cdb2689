/*
 * aadhaar.c - Indian Aadhaar numbers: 12 digits, bare or grouped 4-4-4 with
 * one separator (' ' or '-', the same both times), first digit 2-9, the
 * last digit a Verhoeff check digit, not one repeated digit.
 *
 * Verhoeff (dihedral group D5): from the rightmost digit, c = d[c][p[i % 8]
 * [digit]]; valid when c ends at 0. It catches every single-digit error and
 * every swap of adjacent digits, which Luhn does not.
 */
#include "dlp/validate.h"
#include "validate_int.h"

static const uint8_t verhoeff_d[10][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5}, {2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
    {3, 4, 0, 1, 2, 8, 9, 5, 6, 7}, {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
    {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3}, {8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
    {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
};

static const uint8_t verhoeff_p[8][10] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4}, {5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
    {8, 9, 1, 6, 0, 4, 3, 5, 2, 7}, {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
    {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
};

bool dlp_verhoeff_ok(const char *digits, size_t n)
{
    if (digits == NULL || n == 0)
        return false;
    unsigned c = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)digits[n - 1 - i];
        if (!vd_digit(ch))
            return false;
        c = verhoeff_d[c][verhoeff_p[i % 8][ch - '0']];
    }
    return c == 0;
}

bool dlp_aadhaar_ok(const uint8_t *p, size_t n)
{
    char d[12];
    size_t nd = 0;
    if (p == NULL)
        return false;
    if (n == 14) {
        if ((p[4] != ' ' && p[4] != '-') || p[9] != p[4])
            return false;
    } else if (n != 12) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (n == 14 && (i == 4 || i == 9))
            continue;
        if (!vd_digit(p[i]))
            return false;
        d[nd++] = (char)p[i];
    }
    if (d[0] < '2')
        return false;
    bool same = true;
    for (size_t i = 1; i < 12; i++)
        same = same && d[i] == d[0];
    return !same && dlp_verhoeff_ok(d, 12);
}

bool dlp_val__aadhaar(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                      size_t *ve)
{
    size_t s = start, e = end;
    if (!vd_span_ok(win, len, start, end))
        return false;
    dlp_val__trim(win, &s, &e, " ");
    if (!dlp_aadhaar_ok(win + s, e - s))
        return false;
    /* Grouped 4-4-4: its own separator, a space too, may not go on into more
     * digits ("5814 3861 8109 5354" is a 16-digit VID or card, not this). */
    if (!dlp_val__isolated(win, len, s, e, e - s == 14 ? win[s + 4] : 0))
        return false;
    *vs = s;
    *ve = e;
    return true;
}
