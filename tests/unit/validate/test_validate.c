/*
 * test_validate.c - every validator: the value checks on exact bytes, and
 * the window validators (boundaries, trimming, narrowing, widening) with
 * the resulting span asserted exactly.
 *
 * Window cases are written "text |candidate| text": the window is the text
 * without the two '|', the candidate is what lies between them.
 */
#include "dlp_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "dlp/rc.h"
#include "dlp/validate.h"

#define WIN_MAX 1024

typedef bool (*ok_fn)(const uint8_t *p, size_t n);

typedef struct win {
    uint8_t b[WIN_MAX];
    size_t len, start, end;
} win_t;

static void parse(const char *marked, win_t *w)
{
    size_t marks = 0;
    w->len = 0;
    for (const char *c = marked; *c != '\0'; c++) {
        if (*c == '|') {
            if (marks++ == 0)
                w->start = w->len;
            else
                w->end = w->len;
            continue;
        }
        assert_true(w->len + 1 < WIN_MAX);
        w->b[w->len++] = (uint8_t)*c;
    }
    w->b[w->len] = '\0';
    assert_int_equal(marks, 2);
}

/* Accepted, and the value is exactly 'expect' at its first occurrence in the window. */
static void accept_at(dlp_validator_t id, const char *marked, const char *expect, bool cut)
{
    win_t w;
    size_t vs = SIZE_MAX, ve = SIZE_MAX;
    parse(marked, &w);
    size_t len = cut ? w.end : w.len;
    if (!dlp_validate(id, w.b, len, w.start, w.end, &vs, &ve))
        fail_msg("validator %d rejected \"%s\"%s", (int)id, marked, cut ? " (cut)" : "");
    const char *at = strstr((const char *)w.b, expect);
    assert_non_null(at);
    char got[WIN_MAX];
    memcpy(got, w.b + vs, ve - vs);
    got[ve - vs] = '\0';
    assert_string_equal(got, expect);
    assert_int_equal(vs, (size_t)(at - (const char *)w.b));
    assert_int_equal(ve, vs + strlen(expect));
}

static void accept(dlp_validator_t id, const char *marked, const char *expect)
{
    accept_at(id, marked, expect, false);
}

static void reject_at(dlp_validator_t id, const char *marked, bool cut)
{
    win_t w;
    size_t vs = 7, ve = 9;
    parse(marked, &w);
    size_t len = cut ? w.end : w.len;
    if (dlp_validate(id, w.b, len, w.start, w.end, &vs, &ve))
        fail_msg("validator %d accepted \"%s\" as [%zu,%zu)", (int)id, marked, vs, ve);
    assert_int_equal(vs, 7); /* outputs untouched on refusal */
    assert_int_equal(ve, 9);
}

static void reject(dlp_validator_t id, const char *marked)
{
    reject_at(id, marked, false);
}

static void expect_list(ok_fn fn, const char *const *list, size_t n, bool want, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        bool got = fn((const uint8_t *)list[i], strlen(list[i]));
        if (got != want)
            fail_msg("%s(\"%s\") = %d, want %d", what, list[i], got, want);
    }
}

#define EXPECT_ALL(fn, list, want) expect_list(fn, list, DLP_ARRAY_LEN(list), want, #fn)

/* ------------------------------------------------------------------ cards */

static void luhn_core(void **state)
{
    (void)state;
    assert_true(dlp_luhn_ok("79927398713", 11)); /* the textbook example */
    assert_false(dlp_luhn_ok("79927398710", 11));
    assert_true(dlp_luhn_ok("0", 1));
    assert_false(dlp_luhn_ok("", 0));
    assert_false(dlp_luhn_ok(NULL, 3));
    assert_false(dlp_luhn_ok("4111a11111111111", 16));
}

static void card_true(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "4111111111111111",    "5555555555554444",    "378282246310005",
        "6011111111111117",    "3530111333300000",    "4539148803436467",
        "5105105105105100",    "4012888888881881",    "371449635398431",
        "6011000990139424",    "3566002020360505",    "30569309025904",   /* Diners 14 */
        "38520000023237",      "2223003122003222",    "2221000000000009", /* MC 2221 */
        "2720990000000007",    "6200000000000005",    "4222222222222",    /* Visa 13 */
        "4111111111111111110", "6011000000000000001", "6440000000000005", /* Discover */
        "6490000000000004",    "3528000000000007",    "3589000000000003", /* JCB bounds */
        "30950000000000",      "3600000000000000004", "30000000000004",   /* Diners */
        "4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005",
        "4111 1111-1111 1111", "41111 11111 111111",
    };
    EXPECT_ALL(dlp_card_ok, ok, true);
}

static void card_false(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "4111111111111112",     /* Luhn */
        "1000000000000008",     /* Luhn-valid, IIN 1 */
        "7000000000000005",     /* IIN 7 */
        "9000000000000001",     /* IIN 9 */
        "0000000000000000",     /* IIN 0 */
        "5600000000000003",     /* Maestro 56 */
        "6759649826438453",     /* Maestro 6759 */
        "6304000000000000",     /* Laser */
        "2721000000000004",     /* just above Mastercard 2720 */
        "2220000000000000",     /* just below Mastercard 2221 */
        "6430000000000007",     /* 643 is not Discover */
        "3527000000000008",     /* below JCB */
        "3590000000000000",     /* above JCB */
        "30600000000001",       /* 306 is not Diners */
        "411111111111116",      /* Visa, 15 digits */
        "411111111111111118",   /* Visa, 18 digits */
        "3400000000000000",     /* Amex, 16 digits */
        "3782822463105",        /* Amex, 13 digits */
        "62000000000000000005", /* 20 digits */
        "411111111117",         /* 12 digits, Luhn-valid */
        "2023101214305513",     /* timestamp 2023-10-12 14:30:55, Luhn-valid */
        "1600000000000002",     /* epoch-like */
        "4111  1111 1111 1111", /* doubled separator */
        "4111--1111-1111-1111", "4111 1111 1111 111a",
        "4111.1111.1111.1111",  " 4111111111111111", /* not exactly the value */
        "4111111111111111-",    "",
    };
    EXPECT_ALL(dlp_card_ok, bad, false);
}

static void card_window(void **state)
{
    (void)state;
    accept(DLP_VAL_LUHN, "card: |4111 1111 1111 1111| exp 12/27", "4111 1111 1111 1111");
    accept(DLP_VAL_LUHN, "pan=|4111111111111111 |&x=1", "4111111111111111");
    accept(DLP_VAL_LUHN, "n:| 4539-1488-0343-6467-|;", "4539-1488-0343-6467");
    accept(DLP_VAL_LUHN, "|378282246310005|", "378282246310005");
    accept(DLP_VAL_LUHN, "order |4111-1111-1111-1111|.", "4111-1111-1111-1111");
    accept(DLP_VAL_LUHN, "x |4111 1111 1111 1111| 2027", "4111 1111 1111 1111");
    /* a digit touching either end: part of a longer number */
    reject(DLP_VAL_LUHN, "1|4111111111111111|");
    reject(DLP_VAL_LUHN, "|4111111111111111|2");
    /* the window ends at the match: nothing to see after it */
    accept_at(DLP_VAL_LUHN, "|4111111111111111|2", "4111111111111111", true);
    /* a dashed run that goes on: a part number, not a card */
    reject(DLP_VAL_LUHN, "|4111-1111-1111-1111|-2025");
    reject(DLP_VAL_LUHN, "12-|4111-1111-1111-1111|");
    /* phone-like run: +1 415 555 0123 4567 is 14 digits starting with 4 */
    reject(DLP_VAL_LUHN, "+1 |415 555 0123 4567|");
    reject(DLP_VAL_LUHN, "id |2023101214305513|");
    reject(DLP_VAL_LUHN, "|  |");
    /* groups of four that go on before it: a grouped IBAN (DE48 + 18 digits whose
     * 16 after the first group pass Luhn), a 20-digit grouped number */
    reject(DLP_VAL_LUHN, "IBAN DE48 |4539 1488 0343 6467| 12");
    reject(DLP_VAL_LUHN, "ref 1234 |4539 1488 0343 6467|");
    reject(DLP_VAL_LUHN, "IT60 X054 |4539 1488 0343 6467| 123");
    /* a word, a shorter or longer token, or another separator before it is no group */
    accept(DLP_VAL_LUHN, "Visa |4539 1488 0343 6467|", "4539 1488 0343 6467");
    accept(DLP_VAL_LUHN, "card 12 |4539 1488 0343 6467|", "4539 1488 0343 6467");
    accept(DLP_VAL_LUHN, "id=A1234 |4539 1488 0343 6467|", "4539 1488 0343 6467");
    accept(DLP_VAL_LUHN, "2027: |4539 1488 0343 6467|", "4539 1488 0343 6467");
    accept(DLP_VAL_LUHN, "1234 |4539148803436467|", "4539148803436467");
    accept(DLP_VAL_LUHN, "|4539 1488 0343 6467| 123 09/27", "4539 1488 0343 6467");
}

/* ------------------------------------------------------------------- SSN */

static void ssn_cases(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "536-22-8541", "536 22 8541", "536228541",   "001-01-0001", "665-12-3456",
        "667-12-3456", "899-99-9999", "772-45-1234", "734-12-9876", "078-05-1121",
        "087-65-4320", "219-09-9998", "123-45-6788", "078-05-1119",
    };
    static const char *const bad[] = {
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "536-00-8541",
        "536-22-0000",
        "078-05-1120",
        "219-09-9999",
        "987-65-4320",
        "987-65-4325",
        "987-65-4329",
        "123-45-6789",
        "111-11-1111",
        "222222222",
        "888-88-8888",
        "536-22 8541",
        "536.22.8541",
        "5362-2-8541",
        "53622854",
        "5362285410",
        "536-22-854a",
        "536--228541",
        "",
    };
    EXPECT_ALL(dlp_ssn_ok, ok, true);
    EXPECT_ALL(dlp_ssn_ok, bad, false);
}

static void ssn_window(void **state)
{
    (void)state;
    accept(DLP_VAL_US_SSN, "SSN: |536-22-8541|.", "536-22-8541");
    accept(DLP_VAL_US_SSN, "ssn=| 536228541|&", "536228541");
    accept(DLP_VAL_US_SSN, "|536 22 8541| 12", "536 22 8541");
    reject(DLP_VAL_US_SSN, "1|536-22-8541|");
    reject(DLP_VAL_US_SSN, "|536-22-8541|0");
    reject(DLP_VAL_US_SSN, "|536-22-8541|-12");
    reject(DLP_VAL_US_SSN, "call 555-|536-22-8541|");
    reject(DLP_VAL_US_SSN, "|078-05-1120|");
}

/* ------------------------------------------------------------------ IBAN */

static void iban_cases(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "DE89 3704 0044 0532 0130 00",
        "GB29 NWBK 6016 1331 9268 19",
        "NL91ABNA0417164300",
        "NO9386011117947",                         /* shortest: 15 */
        "LC55 HEMM 0001 0001 0012 0012 0002 3015", /* 32 */
        "RU0204452560040702810412345678901",       /* longest: 33 */
        "MT84MALT011000012345MTLCAST001S",
        "FR1420041010050500013M02606",
        "BE68539007547034",
        "YE15CBYE0001018861234567891234",
        "gb29nwbk60161331926819",
        "BR18 0036 0305 0000 1000 9795 493C 1",
        "KW81CBKU0000000000001234560101",
        "HN54PISA00000000000000123124",
        "DE02000000000000000030", /* check digits 02, the lowest */
        "de89370400440532013000", /* lower case */
        "de89 3704 0044 0532 0130 00",
        "De89 3704 0044 0532 0130 00", /* mixed case */
        "GB29nwbk60161331926819",
        "ad1200012030200359100100", /* AD: 4n4n12c, letters allowed at the end */
        "AD1200012030200359100100",
    };
    static const char *const bad[] = {
        "DE89 3704 0044 0532 0130 01",  /* wrong check */
        "DE88 3704 0044 0532 0130 00",  /* wrong check digits */
        "DE89 3704 0044 0532 0130 0",   /* 21 long, DE is 22 */
        "DE89 3704 0044 0532 0130 000", /* 23 long */
        "US12 3456 7890 1234 5678 90",  /* no IBAN in the US */
        "XX89370400440532013000",       /* unknown country */
        "GB29NWBK6016133192681",
        "DE89 37040044 0532 0130 00", /* inconsistent spacing */
        "DE89  3704 0044 0532 0130 00",
        "DE99000000000000000030", /* mod 97 holds, check digits 99 */
        "DE01000000000000005092", /* mod 97 holds, check digits 01 */
        "1E89370400440532013000",
        "DEAB370400440532013000",
        "DE8937040044053201300!",
        "",
        "DE89",
        /* hex tokens (trace ids, hashes) that pass mod 97 at the country length: the
         * registry's BBAN of AE, BA, BE, DE, EE is all digits, AD's first 8 */
        "be03a4c123b1612d",
        "BE03A4C123B1612D",
        "de94d272d1371c17149d43",
        "ee209fae923d5a4fd12a",
        "ad699536b3216fdaeeb97572",
    };
    EXPECT_ALL(dlp_iban_ok, ok, true);
    EXPECT_ALL(dlp_iban_ok, bad, false);
}

/* The registry, written out independently of iban.c: code and length. */
static const struct {
    const char *cc;
    size_t len;
} registry[] = {
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

/* An IBAN of country a b and length n with correct check digits, into out. */
static void make_iban(char a, char b, size_t n, char *out)
{
    unsigned r = 0;
    out[0] = a;
    out[1] = b;
    for (size_t i = 4; i < n; i++) {
        out[i] = (char)('0' + (i * 7) % 10);
        r = (r * 10 + (unsigned)(out[i] - '0')) % 97;
    }
    r = (r * 100 + (unsigned)(a - 'A' + 10)) % 97;
    r = (r * 100 + (unsigned)(b - 'A' + 10)) % 97;
    r = (r * 100) % 97;
    unsigned check = 98 - r;
    out[2] = (char)('0' + check / 10);
    out[3] = (char)('0' + check % 10);
    out[n] = '\0';
}

static size_t registry_len(char a, char b)
{
    for (size_t i = 0; i < DLP_ARRAY_LEN(registry); i++) {
        if (registry[i].cc[0] == a && registry[i].cc[1] == b)
            return registry[i].len;
    }
    return 0;
}

/* Every code of two letters: only registry countries, only at their length. */
static void iban_every_country(void **state)
{
    (void)state;
    char v[40];
    size_t countries = 0;
    assert_int_equal(DLP_ARRAY_LEN(registry), 89);
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            size_t want = registry_len(a, b);
            for (size_t n = 5; n <= 34; n++) {
                make_iban(a, b, n, v);
                bool got = dlp_iban_ok((const uint8_t *)v, n);
                if (got != (n == want))
                    fail_msg("dlp_iban_ok(\"%s\") = %d", v, got);
                countries += got;
            }
        }
    }
    assert_int_equal(countries, 89);
}

static void iban_window(void **state)
{
    (void)state;
    /* greedy group repeats ran past the IBAN: narrowed to the country length */
    accept(DLP_VAL_IBAN, "IBAN: |DE89 3704 0044 0532 0130 00 1234| ok",
           "DE89 3704 0044 0532 0130 00");
    accept(DLP_VAL_IBAN, "|DE89370400440532013000 5678|", "DE89370400440532013000");
    accept(DLP_VAL_IBAN, "to | GB29 NWBK 6016 1331 9268 19|.", "GB29 NWBK 6016 1331 9268 19");
    accept(DLP_VAL_IBAN, "(|NO9386011117947|)", "NO9386011117947");
    accept(DLP_VAL_IBAN, "iban=|de89370400440532013000|&x=1", "de89370400440532013000");
    reject(DLP_VAL_IBAN, "span_id=|be03a4c123b1612d|,");
    /* the length ends inside a token: a longer string, not this IBAN */
    reject(DLP_VAL_IBAN, "|DE893704004405320130000|");
    reject(DLP_VAL_IBAN, "|DE89 3704 0044 0532 0130 0012 34|");
    reject(DLP_VAL_IBAN, "|DE89370400440532013000|X");
    reject(DLP_VAL_IBAN, "x|DE89 3704 0044 0532 0130 00|");
    /* too short for the country: never widened to the right */
    reject(DLP_VAL_IBAN, "|DE89 3704 0044 0532 0130| 00");
}

/* ----------------------------------------------------------------- email */

static void email_cases(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "john.doe@example.com",
        "a@b.co",
        "first.last+tag_1%x-y@sub.mail.example.org",
        "x@my-host.example.co.uk",
        "JOHN@EXAMPLE.COM",
        "u@xn--bcher-kva.example",
        "1@2.io",
        "a@abcdefghijklmnopqrstuvwx.abcdefghijklmnopqrstuvwx", /* TLD of 24 */
        "l@example.com",
        "-x-@example.com",
        /* file extensions that are TLDs too keep their addresses */
        "jane@example.zip",
        "jane@example.mov",
        "jane@example.app",
        "jane@example.dev",
        "jane@example.py",
        "jane@example.sh",
        "jane@example.rs",
        "jane@example.md",
        "jane@example.pl",
        "jane@example.ps",
        "jane@example.ai",
        "jane@example.so",
        "jane@pngs.example.com",
        "jane@png.example.com",
        "jane@example.jsx", /* not on the list: an extension is matched whole */
    };
    static const char *const bad[] = {
        "a@b",
        "user@localhost",
        "x@1.2.3.4",
        "foo@bar.c0m",
        ".john@example.com",
        "john.@example.com",
        "jo..hn@example.com",
        "john@-example.com",
        "john@example-.com",
        "john@example..com",
        "john@example.c",
        "john@example.com.",
        "john@exam_ple.com",
        "jo hn@example.com",
        "@example.com",
        "john@@example.com",
        "john@example.abcdefghijklmnopqrstuvwxy", /* TLD of 25 */
        "john",
        "",
        /* file names: the last label is an extension and no TLD */
        "logo@2x.png",
        "icon@3x.PNG",
        "photo@2x.jpg",
        "hero@2x.jpeg",
        "sprite@2x.webp",
        "arrow@2x.svg",
        "anim@2x.gif",
        "favicon@2x.ico",
        "bundle@1.min.js",
        "chunk@vendor.mjs",
        "style@2x.css",
        "app@v2.json",
        "font@latin.woff",
        "index@2x.html",
        "page@home.php",
        "report@final.pdf",
        "data@2024.csv",
        "setup@x64.exe",
        "sheet@q1.xlsx",
        "deck@v3.pptx",
    };
    EXPECT_ALL(dlp_email_ok, ok, true);
    EXPECT_ALL(dlp_email_ok, bad, false);
}

/* "x@" + 'labels' labels of 'label' 'd's + '.' + 'last' 'e's + ".com" into b. */
static size_t build_address(char *b, size_t local, size_t labels, size_t label, size_t last)
{
    size_t n = 0;
    memset(b, 'a', local);
    n += local;
    b[n++] = '@';
    for (size_t i = 0; i < labels; i++) {
        memset(b + n, 'd', label);
        n += label;
        b[n++] = '.';
    }
    memset(b + n, 'e', last);
    n += last;
    memcpy(b + n, ".com", 4);
    return n + 4;
}

static void email_limits(void **state)
{
    (void)state;
    char b[400];
    /* local part: 64 is the most */
    assert_true(dlp_email_ok((const uint8_t *)b, build_address(b, 64, 0, 0, 7)));
    assert_false(dlp_email_ok((const uint8_t *)b, build_address(b, 65, 0, 0, 7)));
    /* label: 63 is the most */
    assert_true(dlp_email_ok((const uint8_t *)b, build_address(b, 1, 0, 0, 63)));
    assert_false(dlp_email_ok((const uint8_t *)b, build_address(b, 1, 0, 0, 64)));
    assert_true(dlp_email_ok((const uint8_t *)b, build_address(b, 1, 1, 63, 3)));
    assert_false(dlp_email_ok((const uint8_t *)b, build_address(b, 1, 1, 64, 3)));
    /* whole address: 254 is the most */
    size_t n = build_address(b, 1, 3, 63, 56);
    assert_int_equal(n, 254);
    assert_true(dlp_email_ok((const uint8_t *)b, n));
    n = build_address(b, 1, 3, 63, 57);
    assert_int_equal(n, 255);
    assert_false(dlp_email_ok((const uint8_t *)b, n));
}

static void email_window(void **state)
{
    (void)state;
    /* the pattern matched one local-part character; widened to the whole part */
    accept(DLP_VAL_EMAIL, "Contact: john.do|e@example.com|.", "john.doe@example.com");
    accept(DLP_VAL_EMAIL, "<|a@b.co|>", "a@b.co");
    accept(DLP_VAL_EMAIL, "x: first.last+tag_1%x-y|z@sub.mail.example.org| ok",
           "first.last+tag_1%x-yz@sub.mail.example.org");
    accept(DLP_VAL_EMAIL, "see ...joh|n@example.com|", "john@example.com");
    accept(DLP_VAL_EMAIL, "to:Joh|n@Example.COM|\r\n", "John@Example.COM");
    /* ran past the domain: trailing dot dropped */
    accept(DLP_VAL_EMAIL, "write to jo|e@example.com.| Next", "joe@example.com");
    /* the window has the rest of the domain: the value is the whole address */
    accept(DLP_VAL_EMAIL, "mail j|o@mail.example|.com now", "jo@mail.example.com");
    accept_at(DLP_VAL_EMAIL, "mail j|o@mail.example|.com now", "jo@mail.example", true);
    /* the run after '@' is not a domain as a whole: refused, not cut */
    reject(DLP_VAL_EMAIL, "j|o@mail.example|.c0m");
    reject(DLP_VAL_EMAIL, "|a@b|");
    reject(DLP_VAL_EMAIL, "us|r@localhost| ok");
    reject(DLP_VAL_EMAIL, "x|@1.2.3.4|");
    reject(DLP_VAL_EMAIL, "foo|@bar.c0m|");
    reject(DLP_VAL_EMAIL, "a@|b@example.com|");
    reject(DLP_VAL_EMAIL, "jo.|.n@example.com|");
    reject(DLP_VAL_EMAIL, "|john|");
    reject(DLP_VAL_EMAIL, "||");
    /* a retina asset name in a URI is a file, not an address */
    reject(DLP_VAL_EMAIL, "GET /static/img/log|o@2x.png| HTTP/1.1");
    reject(DLP_VAL_EMAIL, "src=\"/i/ico|n@3x.webp|?v=2\"");
    accept(DLP_VAL_EMAIL, "dl: jan|e@example.zip| now", "jane@example.zip");
    /* a file named after an address: the address is before the extension */
    accept(DLP_VAL_EMAIL, "export jane.do|e@example.com|.csv", "jane.doe@example.com");
    accept(DLP_VAL_EMAIL, "ssn 536-22-8417 jane.do|e@example.co|m.txt", "jane.doe@example.com");
    reject(DLP_VAL_EMAIL, "|a@b.png|");
}

/* The userinfo of a URL is a login and a password, not an address. */
static void email_not_url_userinfo(void **state)
{
    (void)state;
    reject(DLP_VAL_EMAIL, "GET https://user:S3cretPas|s@example.com|/x");
    reject(DLP_VAL_EMAIL, "https://user:S3cret!Pa$|s@example.com|/x");
    reject(DLP_VAL_EMAIL, "ftp://anonymous:gues|t@ftp.example.com|");
    reject(DLP_VAL_EMAIL, "https://use|r@example.com|/");
    reject(DLP_VAL_EMAIL, "url=ssh://gi|t@git.example.com|/org/repo.git");
    reject(DLP_VAL_EMAIL, "https://jane.doe%40corp.example:pw|d@host.example.com|/");
    reject(DLP_VAL_EMAIL, "svn+ssh://jane.do|e@svn.example.com|/repo");
    /* no "//" before it: an address */
    accept(DLP_VAL_EMAIL, "mailto:|x@example.io|", "x@example.io");
    accept(DLP_VAL_EMAIL, "<a href=\"mailto:jan|e@example.com|\">", "jane@example.com");
    accept(DLP_VAL_EMAIL, "https://example.com/contact?to=jan|e@example.com|",
           "jane@example.com");
    accept(DLP_VAL_EMAIL, "https://example.com/u/jan|e@example.com|", "jane@example.com");
    accept(DLP_VAL_EMAIL, "see https://example.com/ or mai|l@example.com|", "mail@example.com");
    accept(DLP_VAL_EMAIL, "user:S3cretPas|s@example.com|", "S3cretPass@example.com");
    /* the window starts inside the run: not known to be a URL, taken */
    accept(DLP_VAL_EMAIL, "user:pas|s@example.com|", "pass@example.com");
    /* "//" with no scheme before it is a comment, not a URL: an address */
    accept(DLP_VAL_EMAIL, "see //x:jane.do|e@example.com|", "jane.doe@example.com");
    accept(DLP_VAL_EMAIL, "//author:jane.do|e@example.com|\n", "jane.doe@example.com");
    accept(DLP_VAL_EMAIL, "int x; //TODO(jane.do|e@example.com|): fix", "jane.doe@example.com");
    accept(DLP_VAL_EMAIL, "//cd|n@static.example.com|/a.js", "cdn@static.example.com");
    accept(DLP_VAL_EMAIL, "https://example.com//jane.do|e@example.com|", "jane.doe@example.com");
    /* a space is no userinfo: "a b:c" is not a URL's */
    accept(DLP_VAL_EMAIL, "http://a b:jane.do|e@example.com|", "jane.doe@example.com");
}

static void email_window_local_limit(void **state)
{
    (void)state;
    char m[200], want[100];
    memset(m, 'a', 63);
    memcpy(m + 63, "|b@example.com|", 16);
    memset(want, 'a', 63);
    memcpy(want + 63, "b@example.com", 14);
    accept(DLP_VAL_EMAIL, m, want); /* local part of 64 */
    memset(m, 'a', 64);
    memcpy(m + 64, "|b@example.com|", 16);
    reject(DLP_VAL_EMAIL, m); /* 65 */
}

/* --------------------------------------------------------------- Aadhaar */

static void verhoeff_core(void **state)
{
    (void)state;
    assert_true(dlp_verhoeff_ok("2363", 4)); /* the textbook example: 236 -> 3 */
    assert_false(dlp_verhoeff_ok("2364", 4));
    assert_false(dlp_verhoeff_ok("", 0));
    assert_false(dlp_verhoeff_ok("23a3", 4));
}

static void aadhaar_cases(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "234567890124", "2345 6789 0124", "2345-6789-0124", "499111222330", "876543210988",
        "200000000009", "374802615992",   "726018159082",   "501661318603", "339099603089",
        "446281948213", "551819093782",   "857975432313",
    };
    static const char *const bad[] = {
        "234567890125",    /* check digit */
        "234567890214",    /* adjacent digits swapped */
        "123456789010",    /* Verhoeff-valid, first digit 1 */
        "999999999999",    /* Verhoeff-valid, one repeated digit */
        "2345 6789-0124",  /* mixed separators */
        "2345678 90124",   /* wrong grouping */
        "2345  6789 0124", /* doubled separator */
        "23456789012",     /* 11 digits */
        "2345678901245",   /* 13 digits */
        "2345.6789.0124",  "23456789012a", "",
    };
    EXPECT_ALL(dlp_aadhaar_ok, ok, true);
    EXPECT_ALL(dlp_aadhaar_ok, bad, false);
}

static void aadhaar_window(void **state)
{
    (void)state;
    accept(DLP_VAL_AADHAAR, "Aadhaar: |2345 6789 0124|", "2345 6789 0124");
    accept(DLP_VAL_AADHAAR, "uid=|234567890124 |&", "234567890124");
    reject(DLP_VAL_AADHAAR, "9|234567890124|");
    reject(DLP_VAL_AADHAAR, "|234567890124|5");
    reject(DLP_VAL_AADHAAR, "|2345-6789-0124|-5");
    /* both 12-digit runs of a 16-digit Virtual ID (or card) in groups of four
     * pass Verhoeff: the space-grouped run goes on, it is not an Aadhaar number */
    accept(DLP_VAL_AADHAAR, "Aadhaar: |5814 3861 8109|", "5814 3861 8109");
    accept(DLP_VAL_AADHAAR, "Aadhaar: |3861 8109 5354|.", "3861 8109 5354");
    reject(DLP_VAL_AADHAAR, "VID: |5814 3861 8109| 5354");
    reject(DLP_VAL_AADHAAR, "VID: 5814 |3861 8109 5354|");
}

/* ------------------------------------------------------------------ NINO */

static void nino_cases(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "AB123456C", "AB 12 34 56 C", "AB 123456 C", "AB123456 C", "AB 12 34 56C", "CE123456D",
        "ZY123456A", "OA123456B",     "TW123456C",   "HN112233A",  "WX987654D",    "NA000000A",
    };
    static const char *const bad[] = {
        "DA123456A",  "FA123456A",    "IA123456A",   "QA123456A",  "UA123456A",
        "VA123456A",  "AD123456A",    "AO123456A",   "AF123456A",  "BG123456A",
        "GB123456A",  "KN123456A",    "NK123456A",   "NT123456A",  "TN123456A",
        "ZZ123456A",  "AB123456E",    "AB123456",    "Ab123456c",  "AB12345C",
        "AB1234567C", "AB 12 3456 C", "AB  123456C", "AB123456CC", "",
    };
    /* all lower case, with the same rules; never mixed */
    static const char *const lower_ok[] = {"ab123456c", "ab 12 34 56 c", "zy123456a",
                                           "ce 123456 d"};
    static const char *const case_bad[] = {"aB123456c", "ab123456C", "AB123456c",   "qq123456c",
                                           "bg123456a", "ab123456e", "ab 12 3456 c"};
    EXPECT_ALL(dlp_nino_ok, ok, true);
    EXPECT_ALL(dlp_nino_ok, bad, false);
    EXPECT_ALL(dlp_nino_ok, lower_ok, true);
    EXPECT_ALL(dlp_nino_ok, case_bad, false);
}

static void nino_window(void **state)
{
    (void)state;
    accept(DLP_VAL_UK_NINO, "NI: |AB 12 34 56 C|.", "AB 12 34 56 C");
    accept(DLP_VAL_UK_NINO, "|AB123456C |", "AB123456C");
    reject(DLP_VAL_UK_NINO, "X|AB123456C|");
    reject(DLP_VAL_UK_NINO, "|AB123456C|1");
    reject(DLP_VAL_UK_NINO, "|AB123456C|x");
    reject(DLP_VAL_UK_NINO, "7|AB123456C|");
    accept(DLP_VAL_UK_NINO, "ni: |ab 12 34 56 c|.", "ab 12 34 56 c");
    reject(DLP_VAL_UK_NINO, "x|ab123456c|");
}

/* ----------------------------------------------------------------- phone */

static void phone_cases(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "(212) 736-5000",
        "212-736-5000",
        "212.736.5000",
        "212 736 5000",
        "(212)736-5000",
        "+1 212 736 5000",
        "+1-212-736-5000",
        "+12127365000",
        "1-800-275-2273",
        "+44 20 7946 0958",
        "+33 1 23 45 67 89",
        "+49-30-1234567",
        "+91 98765 43210",
        "+7 495 123-45-67",
        "+353 1 234 5678",
        "+86 10 1234 5678",
        "212-555-0200",
        "+1 (212) 736-5000",
        "+4420794609",
        "+383 44 123 456",
        "+44207946" /* 8 digits: the fewest */,
        "+442079460958123" /* 15: the most */,
    };
    static const char *const bad[] = {
        "(415) 555-0123", /* 555-01xx: fiction */
        "212-555-0100",
        "212-555-0199",
        "555-212-3456",          /* area 555 */
        "123-456-7890",          /* area starts with 1 */
        "011-212-3456",          /* area starts with 0 */
        "411-234-5678",          /* area N11 */
        "292-234-5678",          /* area N9X */
        "212-111-2345",          /* exchange starts with 1 */
        "212-411-2345",          /* exchange N11 */
        "212-736.5000",          /* mixed separators */
        "2127365000",            /* bare digits without +1 */
        "+0 123 456 789",        /* country code 0 */
        "+28 1234 5678",         /* unassigned 28x */
        "+969 1234 5678",        /* unassigned 969 */
        "+44 20",                /* too short */
        "+4420794",              /* 7 digits */
        "+44 20 7946 0958 1234", /* 16 digits */
        "+44  20 7946 0958",     /* doubled separator */
        "+1 555 234 5678",       /* NANP rules apply to +1 */
        "+1 212 736 500",
        "212-736-50000",
        "+4420794609-",
        "+",
        "",
    };
    EXPECT_ALL(dlp_phone_ok, ok, true);
    EXPECT_ALL(dlp_phone_ok, bad, false);
}

static void phone_window(void **state)
{
    (void)state;
    accept(DLP_VAL_PHONE, "call |212-736-5000| now", "212-736-5000");
    accept(DLP_VAL_PHONE, "tel: |(212) 736-5000|", "(212) 736-5000");
    accept(DLP_VAL_PHONE, "x |+44 20 7946 0958|.", "+44 20 7946 0958");
    /* a "+1" or "1-" the pattern left out is part of the number */
    accept(DLP_VAL_PHONE, "call 1-|212-736-5000|", "1-212-736-5000");
    accept(DLP_VAL_PHONE, "tel:+1 |212 736 5000|", "+1 212 736 5000");
    accept(DLP_VAL_PHONE, "tel:+1|(212) 736-5000|", "+1(212) 736-5000");
    accept(DLP_VAL_PHONE, "room 1 |212 736 5000|", "212 736 5000");
    reject(DLP_VAL_PHONE, "21-|212-736-5000|");
    reject(DLP_VAL_PHONE, "4|212-736-5000|");
    reject(DLP_VAL_PHONE, "|212-736-5000|7");
    reject(DLP_VAL_PHONE, "|212-736-5000|-12");
    reject(DLP_VAL_PHONE, "version 10.|212.736.5000|");
    reject(DLP_VAL_PHONE, "+|212-736-5000|");
    reject(DLP_VAL_PHONE, "12|+44 20 7946 0958|");
    /* grouped with spaces: a group after it means the run is something longer */
    reject(DLP_VAL_PHONE, "tel |+33 1 42 68 53 01| 22");
    reject(DLP_VAL_PHONE, "tel:+1 |212 736 5000| 4");
    accept(DLP_VAL_PHONE, "tel |+33 1 42 68 53 01| or", "+33 1 42 68 53 01");
    accept(DLP_VAL_PHONE, "call |212-736-5000| 2 times", "212-736-5000");
}

/* ------------------------------------------------------------ dispatcher */

static void validate_dispatch(void **state)
{
    (void)state;
    const uint8_t w[] = "abc 4111111111111111 def";
    size_t vs = 0, ve = 0;
    assert_true(dlp_validate(DLP_VAL_NONE, w, sizeof(w) - 1, 4, 20, &vs, &ve));
    assert_int_equal(vs, 4);
    assert_int_equal(ve, 20);
    assert_true(dlp_validate(DLP_VAL_LUHN, w, sizeof(w) - 1, 4, 20, &vs, &ve));
    assert_false(dlp_validate(DLP_VAL__COUNT, w, sizeof(w) - 1, 4, 20, &vs, &ve));
    assert_false(dlp_validate(DLP_VAL_LUHN, w, 10, 4, 20, &vs, &ve)); /* end > len */
    assert_false(dlp_validate(DLP_VAL_NONE, w, sizeof(w) - 1, 5, 4, &vs, &ve));
    assert_false(dlp_validate(DLP_VAL_NONE, NULL, 0, 0, 0, &vs, &ve));
    /* every validator refuses a bad span when called through its pointer */
    for (int id = 1; id < DLP_VAL__COUNT; id++) {
        const dlp_validator_info_t *v = dlp_validator_get((dlp_validator_t)id);
        assert_non_null(v->fn);
        assert_false(v->fn(w, 10, 4, 20, &vs, &ve));
        assert_false(v->fn(w, sizeof(w) - 1, 6, 5, &vs, &ve));
        assert_false(v->fn(NULL, 0, 0, 0, &vs, &ve));
        assert_false(v->fn(w, sizeof(w) - 1, 3, 3, &vs, &ve));
    }
}

/*
 * Random windows (fixed seed), each in a heap block of exactly its length so
 * the sanitizer catches any read outside it: an accepted span lies in the
 * window and is a value the exact-bytes check accepts.
 */
static void validators_random_windows(void **state)
{
    (void)state;
    static const ok_fn exact[DLP_VAL__COUNT] = {
        [DLP_VAL_LUHN] = dlp_card_ok,       [DLP_VAL_US_SSN] = dlp_ssn_ok,
        [DLP_VAL_IBAN] = dlp_iban_ok,       [DLP_VAL_EMAIL] = dlp_email_ok,
        [DLP_VAL_AADHAAR] = dlp_aadhaar_ok, [DLP_VAL_UK_NINO] = dlp_nino_ok,
        [DLP_VAL_PHONE] = dlp_phone_ok,
    };
    static const char *const seeds[] = {
        "4111 1111 1111 1111",  "536-22-8541",      "DE89 3704 0044 0532 0130 00",
        "john.doe@example.com", "2345 6789 0124",   "AB 12 34 56 C",
        "+1 (212) 736-5000",    "+44 20 7946 0958", "1-212-736-5000",
    };
    static const char noise[] = "0123456789      --..@@+()ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz_%";
    size_t accepted = 0;
    srand(1129);
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(rand() % 80);
        uint8_t *w = malloc(len > 0 ? len : 1);
        assert_non_null(w);
        for (size_t i = 0; i < len; i++)
            w[i] = (uint8_t)noise[rand() % (int)(sizeof(noise) - 1)];
        const char *seed = seeds[rand() % (int)DLP_ARRAY_LEN(seeds)];
        size_t sl = strlen(seed);
        if (len > sl && rand() % 2 == 0)
            memcpy(w + rand() % (int)(len - sl + 1), seed, sl);
        size_t start = len > 0 ? (size_t)(rand() % (int)(len + 1)) : 0;
        size_t end = start + (size_t)(rand() % (int)(len - start + 1));
        for (int id = 1; id < DLP_VAL__COUNT; id++) {
            size_t vs = 0, ve = 0;
            if (!dlp_validate((dlp_validator_t)id, w, len, start, end, &vs, &ve))
                continue;
            accepted++;
            assert_true(vs <= ve && ve <= len);
            assert_true(exact[id](w + vs, ve - vs));
        }
        free(w);
    }
    assert_true(accepted > 100); /* the seeds are found, so the checks ran */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(luhn_core),
        cmocka_unit_test(card_true),
        cmocka_unit_test(card_false),
        cmocka_unit_test(card_window),
        cmocka_unit_test(ssn_cases),
        cmocka_unit_test(ssn_window),
        cmocka_unit_test(iban_cases),
        cmocka_unit_test(iban_every_country),
        cmocka_unit_test(iban_window),
        cmocka_unit_test(email_cases),
        cmocka_unit_test(email_limits),
        cmocka_unit_test(email_window),
        cmocka_unit_test(email_not_url_userinfo),
        cmocka_unit_test(email_window_local_limit),
        cmocka_unit_test(verhoeff_core),
        cmocka_unit_test(aadhaar_cases),
        cmocka_unit_test(aadhaar_window),
        cmocka_unit_test(nino_cases),
        cmocka_unit_test(nino_window),
        cmocka_unit_test(phone_cases),
        cmocka_unit_test(phone_window),
        cmocka_unit_test(validate_dispatch),
        cmocka_unit_test(validators_random_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
