/*
 * card.c - payment card numbers: Luhn, brand prefix (IIN) and length.
 *
 * Accepted brands and lengths (features.md (b); Maestro, Mir, RuPay and
 * other ranges are refused on purpose, they are where look-alike ids land):
 *   Visa 4: 13, 16, 19            Mastercard 51-55, 2221-2720: 16
 *   Amex 34, 37: 15               Discover 6011, 644-649, 65: 16-19
 *   JCB 3528-3589: 16-19          Diners 300-305, 3095, 36, 38-39: 14-19
 *   UnionPay 62: 16-19
 * Separators ' ' and '-' may appear between digits, singly, in any
 * grouping. The digits are copied to a stack array; nothing allocates.
 */
#include <string.h>

#include "dlp/validate.h"
#include "validate_int.h"

#define CARD_MIN_DIGITS 13
#define CARD_MAX_DIGITS 19

bool dlp_luhn_ok(const char *digits, size_t n)
{
    if (digits == NULL || n == 0)
        return false;
    unsigned sum = 0;
    bool dbl = false;
    for (size_t i = n; i-- > 0;) {
        uint8_t c = (uint8_t)digits[i];
        if (!vd_digit(c))
            return false;
        unsigned d = c - '0';
        if (dbl) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

static unsigned lead(const char *d, size_t k)
{
    unsigned v = 0;
    for (size_t i = 0; i < k; i++)
        v = v * 10 + (unsigned)(d[i] - '0');
    return v;
}

/* d holds n >= CARD_MIN_DIGITS digits. */
static bool card_brand_ok(const char *d, size_t n)
{
    unsigned p2 = lead(d, 2), p3 = lead(d, 3), p4 = lead(d, 4);
    bool long_ok = n >= 16 && n <= 19;

    if (d[0] == '4')
        return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
        return n == 16;
    if (p2 == 34 || p2 == 37)
        return n == 15;
    if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65)
        return long_ok;
    if (p4 >= 3528 && p4 <= 3589)
        return long_ok;
    if ((p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
        return n >= 14 && n <= 19;
    if (p2 == 62)
        return long_ok;
    return false;
}

bool dlp_card_ok(const uint8_t *p, size_t n)
{
    char d[CARD_MAX_DIGITS];
    size_t nd = 0;

    if (p == NULL || n == 0 || !vd_digit(p[0]) || !vd_digit(p[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (vd_digit(p[i])) {
            if (nd == CARD_MAX_DIGITS)
                return false;
            d[nd++] = (char)p[i];
        } else if (p[i] != ' ' && p[i] != '-') {
            return false;
        } else if (!vd_digit(p[i - 1])) {
            return false; /* doubled separator; p[0] is a digit so i > 0 */
        }
    }
    if (nd < CARD_MIN_DIGITS)
        return false;
    return card_brand_ok(d, nd) && dlp_luhn_ok(d, nd);
}

/*
 * Digits grouped by spaces right after a group of four with a digit in it
 * ("DE48 4539 1488 ...", "1234 4539 ..."): a run of groups that goes on, as
 * a grouped IBAN, 16 of whose digits pass Luhn one time in ten (3 % of random
 * grouped IBANs gave a card). A word ("Visa"), a token of another length, or a
 * group after the number (a year, a CVV) does not refuse it.
 */
static bool after_group(const uint8_t *win, size_t s, size_t e)
{
    size_t k = 0;
    bool digit = false;

    if (s < 2 || win[s - 1] != ' ' || memchr(win + s, ' ', e - s) == NULL)
        return false;
    for (size_t i = s - 1; i > 0 && vd_alnum(win[i - 1]); i--) {
        if (++k > 4)
            return false;
        digit = digit || vd_digit(win[i - 1]);
    }
    return k == 4 && digit;
}

bool dlp_val__card(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs, size_t *ve)
{
    size_t s = start, e = end;
    if (!vd_span_ok(win, len, start, end))
        return false;
    dlp_val__trim(win, &s, &e, " -");
    if (!dlp_card_ok(win + s, e - s))
        return false;
    if (!dlp_val__isolated(win, len, s, e, dlp_val__joiner(win + s, e - s)))
        return false;
    if (after_group(win, s, e))
        return false;
    *vs = s;
    *ve = e;
    return true;
}
