/*
 * iban.c - International Bank Account Numbers (ISO 13616, ISO 7064).
 *
 * An IBAN is two letters (country), two check digits (02-98) and the BBAN,
 * exactly as long as the country's entry in the SWIFT IBAN registry says.
 * It is written without spaces or in the print form, a single space after
 * every four characters. Letters may be either case. The check is
 * ISO 7064 MOD 97-10 (the first four characters moved to the end, letters
 * as 10..35, the number mod 97 == 1) computed one character at a time,
 * no big integers.
 *
 * The window validator narrows: patterns repeat groups greedily, so a
 * candidate may run past the IBAN; it keeps exactly the country length,
 * which must end where the token ends (at a space or a non-alphanumeric).
 *
 * Lower-case hex tokens (trace and span ids, hashes, object ids) can begin
 * with a country code made of the letters a-f and two digits, and 1 in 97 of
 * those at the country's length passes mod 97. The registry's BBAN of those
 * countries is all digits (AE 3n16n, BA 3n3n8n2n, BE 3n7n2n, DE 8n10n,
 * EE 2n2n11n1n) or begins with 8 (AD 4n4n12c): a hex letter there is not an
 * IBAN.
 */
#include "dlp/validate.h"
#include "validate_int.h"

#define IBAN_MAX 34

/* The SWIFT IBAN registry as of 2025 (89 countries), sorted by code. */
static const struct {
    char cc[2];
    uint8_t len;
} iban_countries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25},
    {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
    {"YE", 30},
};

static uint8_t upper(uint8_t c)
{
    return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
}

/* Registry length of country a b (upper case), 0 when not in the registry. */
static size_t iban_country_len(uint8_t a, uint8_t b)
{
    size_t lo = 0, hi = sizeof(iban_countries) / sizeof(iban_countries[0]);
    unsigned key = (unsigned)a << 8 | b;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        unsigned k =
            (unsigned)(uint8_t)iban_countries[mid].cc[0] << 8 | (uint8_t)iban_countries[mid].cc[1];
        if (k == key)
            return iban_countries[mid].len;
        if (k < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* How many BBAN characters of country a b (upper case) must be digits, for
 * the countries whose code is made of hex letters (see the top). */
static size_t iban_bban_digits(uint8_t a, uint8_t b, size_t len)
{
    static const struct {
        char cc[2];
        uint8_t digits; /* 0: the whole BBAN */
    } numeric[] = {{"AD", 8}, {"AE", 0}, {"BA", 0}, {"BE", 0}, {"DE", 0}, {"EE", 0}};

    for (size_t i = 0; i < sizeof(numeric) / sizeof(numeric[0]); i++)
        if ((uint8_t)numeric[i].cc[0] == a && (uint8_t)numeric[i].cc[1] == b)
            return numeric[i].digits != 0 ? numeric[i].digits : len - 4;
    return 0;
}

/*
 * Reads one IBAN at the start of p[0, n) into out (upper case, no spaces).
 * Returns its length and sets *used to the bytes it spans, or returns 0.
 */
static size_t iban_take(const uint8_t *p, size_t n, char out[IBAN_MAX], size_t *used)
{
    if (n < 4 || !vd_alpha(p[0]) || !vd_alpha(p[1]) || !vd_digit(p[2]) || !vd_digit(p[3]))
        return 0;
    size_t want = iban_country_len(upper(p[0]), upper(p[1]));
    if (want == 0)
        return 0;
    bool spaced = n > 4 && p[4] == ' ';
    size_t got = 0, i = 0;
    while (got < want) {
        if (spaced && got > 0 && got % 4 == 0) {
            if (i >= n || p[i] != ' ')
                return 0;
            i++;
        }
        if (i >= n || !vd_alnum(p[i]))
            return 0;
        out[got++] = (char)upper(p[i++]);
    }
    for (size_t k = 0, d = iban_bban_digits((uint8_t)out[0], (uint8_t)out[1], want); k < d; k++)
        if (!vd_digit((uint8_t)out[4 + k]))
            return 0;
    *used = i;
    return got;
}

/* out[0, n): country, check digits, BBAN; upper case. */
static bool iban_mod97_ok(const char *s, size_t n)
{
    unsigned check = (unsigned)(s[2] - '0') * 10 + (unsigned)(s[3] - '0');
    if (check < 2 || check > 98)
        return false;
    unsigned r = 0;
    for (size_t k = 0; k < n; k++) {
        uint8_t c = (uint8_t)s[(k + 4) % n];
        if (vd_digit(c))
            r = (r * 10 + (unsigned)(c - '0')) % 97;
        else
            r = (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
    }
    return r == 1;
}

bool dlp_iban_ok(const uint8_t *p, size_t n)
{
    char v[IBAN_MAX];
    size_t used = 0;
    if (p == NULL)
        return false;
    size_t got = iban_take(p, n, v, &used);
    return got > 0 && used == n && iban_mod97_ok(v, got);
}

bool dlp_val__iban(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs, size_t *ve)
{
    char v[IBAN_MAX];
    size_t s = start, e = end, used = 0;
    if (!vd_span_ok(win, len, start, end))
        return false;
    dlp_val__trim(win, &s, &e, " ");
    size_t got = iban_take(win + s, e - s, v, &used);
    if (got == 0 || !iban_mod97_ok(v, got))
        return false;
    if ((s > 0 && vd_alnum(win[s - 1])) || (s + used < len && vd_alnum(win[s + used])))
        return false;
    *vs = s;
    *ve = s + used;
    return true;
}
