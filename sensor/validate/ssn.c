/*
 * ssn.c - US Social Security numbers.
 *
 * Forms: "AAA-GG-SSSS", "AAA GG SSSS" (the same separator both times) or
 * nine bare digits. Rules (SSA, since the 2011 randomisation only these
 * hold): area not 000, 666 or 900-999; group not 00; serial not 0000.
 * Numbers printed in advertising and documentation are refused (features.md
 * (b)): 078-05-1120, 219-09-9999, 123-45-6789, 987-65-4320..4329, and
 * numbers of one repeated digit. No per-area group table: it froze in 2011.
 */
#include <string.h>

#include "dlp/validate.h"
#include "validate_int.h"

static bool ssn_digits(const uint8_t *p, size_t n, char d[9])
{
    size_t nd = 0;
    if (n == 11) {
        uint8_t sep = p[3];
        if ((sep != '-' && sep != ' ') || p[6] != sep)
            return false;
    } else if (n != 9) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (n == 11 && (i == 3 || i == 6))
            continue;
        if (!vd_digit(p[i]))
            return false;
        d[nd++] = (char)p[i];
    }
    return nd == 9;
}

static bool ssn_known_fake(const char d[9])
{
    static const char *const fakes[] = {"078051120", "219099999", "123456789"};
    for (size_t i = 0; i < sizeof(fakes) / sizeof(fakes[0]); i++) {
        if (memcmp(d, fakes[i], 9) == 0)
            return true;
    }
    if (memcmp(d, "98765432", 8) == 0)
        return true;
    for (size_t i = 1; i < 9; i++) {
        if (d[i] != d[0])
            return false;
    }
    return true;
}

bool dlp_ssn_ok(const uint8_t *p, size_t n)
{
    char d[9];
    if (p == NULL || !ssn_digits(p, n, d))
        return false;
    unsigned area =
        (unsigned)(d[0] - '0') * 100 + (unsigned)(d[1] - '0') * 10 + (unsigned)(d[2] - '0');
    if (area == 0 || area == 666 || area >= 900)
        return false;
    if (d[3] == '0' && d[4] == '0')
        return false;
    if (memcmp(d + 5, "0000", 4) == 0)
        return false;
    return !ssn_known_fake(d);
}

bool dlp_val__ssn(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs, size_t *ve)
{
    size_t s = start, e = end;
    if (!vd_span_ok(win, len, start, end))
        return false;
    dlp_val__trim(win, &s, &e, " ");
    if (!dlp_ssn_ok(win + s, e - s))
        return false;
    if (!dlp_val__isolated(win, len, s, e, dlp_val__joiner(win + s, e - s)))
        return false;
    *vs = s;
    *ve = e;
    return true;
}
