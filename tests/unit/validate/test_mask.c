/*
 * test_mask.c - the validator table and names, normalization and masking:
 * exact outputs, truncation, and that no mask ever shows more of a value
 * than validate.h documents (checked over generated values, fixed seed).
 */
#include "dlp_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "dlp/validate.h"

static void table_and_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        dlp_validator_t id;
        dlp_norm_t norm;
        dlp_mask_t mask;
    } want[] = {
        {"none", DLP_VAL_NONE, DLP_NORM_NONE, DLP_MASK_PREFIX4},
        {"luhn", DLP_VAL_LUHN, DLP_NORM_DIGITS, DLP_MASK_NUMBER},
        {"us_ssn", DLP_VAL_US_SSN, DLP_NORM_DIGITS, DLP_MASK_LAST4},
        {"iban", DLP_VAL_IBAN, DLP_NORM_UPPER_NOSPACE, DLP_MASK_NUMBER},
        {"email", DLP_VAL_EMAIL, DLP_NORM_LOWER, DLP_MASK_EMAIL},
        {"aadhaar", DLP_VAL_AADHAAR, DLP_NORM_DIGITS, DLP_MASK_LAST4},
        {"uk_nino", DLP_VAL_UK_NINO, DLP_NORM_UPPER_NOSPACE, DLP_MASK_LAST4},
        {"phone", DLP_VAL_PHONE, DLP_NORM_DIGITS, DLP_MASK_LAST4},
    };
    assert_int_equal(sizeof(want) / sizeof(want[0]), DLP_VAL__COUNT);
    for (size_t i = 0; i < DLP_VAL__COUNT; i++) {
        dlp_validator_t id = DLP_VAL__COUNT;
        const dlp_validator_info_t *v = dlp_validator_find(want[i].name, &id);
        assert_non_null(v);
        assert_int_equal(id, want[i].id);
        assert_ptr_equal(v, dlp_validator_get(want[i].id));
        assert_string_equal(v->name, want[i].name);
        assert_int_equal(v->norm, want[i].norm);
        assert_int_equal(v->mask, want[i].mask);
        assert_true((v->fn == NULL) == (want[i].id == DLP_VAL_NONE));
        assert_non_null(dlp_validator_find(want[i].name, NULL));
    }
    dlp_validator_t id = DLP_VAL_EMAIL;
    assert_null(dlp_validator_find("Luhn", &id)); /* names are exact */
    assert_null(dlp_validator_find("", &id));
    assert_null(dlp_validator_find(NULL, &id));
    assert_int_equal(id, DLP_VAL_EMAIL);
    assert_null(dlp_validator_get(DLP_VAL__COUNT));
    assert_null(dlp_validator_get((dlp_validator_t)-1));
}

static void norm_mask_names(void **state)
{
    (void)state;
    static const char *const norms[] = {"none", "digits", "upper_nospace", "lower"};
    static const char *const masks[] = {"number", "last4", "email", "prefix4", "first", "clear",
                                          "hidden"};
    assert_int_equal(sizeof(norms) / sizeof(norms[0]), DLP_NORM__COUNT);
    assert_int_equal(sizeof(masks) / sizeof(masks[0]), DLP_MASK__COUNT);
    for (int i = 0; i < DLP_NORM__COUNT; i++) {
        dlp_norm_t n = DLP_NORM__COUNT;
        assert_string_equal(dlp_norm_name((dlp_norm_t)i), norms[i]);
        assert_true(dlp_norm_from_name(norms[i], &n));
        assert_int_equal(n, i);
    }
    for (int i = 0; i < DLP_MASK__COUNT; i++) {
        dlp_mask_t m = DLP_MASK__COUNT;
        assert_string_equal(dlp_mask_name((dlp_mask_t)i), masks[i]);
        assert_true(dlp_mask_from_name(masks[i], &m));
        assert_int_equal(m, i);
    }
    dlp_norm_t n = DLP_NORM_LOWER;
    dlp_mask_t m = DLP_MASK_EMAIL;
    assert_false(dlp_norm_from_name("Digits", &n));
    assert_false(dlp_norm_from_name(NULL, &n));
    assert_false(dlp_mask_from_name("last", &m));
    assert_false(dlp_mask_from_name("", &m));
    assert_int_equal(n, DLP_NORM_LOWER);
    assert_int_equal(m, DLP_MASK_EMAIL);
    assert_null(dlp_norm_name(DLP_NORM__COUNT));
    assert_null(dlp_mask_name(DLP_MASK__COUNT));
}

static void norm_is(dlp_norm_t how, const char *in, const char *want)
{
    char out[128];
    memset(out, 'Z', sizeof(out));
    size_t n = dlp_normalize(how, (const uint8_t *)in, strlen(in), out, sizeof(out));
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void normalize_exact(void **state)
{
    (void)state;
    norm_is(DLP_NORM_DIGITS, "4111 1111-1111 1111", "4111111111111111");
    norm_is(DLP_NORM_DIGITS, "+1 (212) 736-5000", "12127365000");
    norm_is(DLP_NORM_DIGITS, "536-22-8541", "536228541");
    norm_is(DLP_NORM_DIGITS, "no digits", "");
    norm_is(DLP_NORM_UPPER_NOSPACE, "gb29 nwbk\t6016 1331 9268 19", "GB29NWBK60161331926819");
    norm_is(DLP_NORM_UPPER_NOSPACE, "ab 12 34 56 c", "AB123456C");
    norm_is(DLP_NORM_LOWER, "John.Doe@Example.COM", "john.doe@example.com");
    norm_is(DLP_NORM_LOWER,
            "\xc3\x89"
            "COLE@X.FR",
            "\xc3\x89"
            "cole@x.fr"); /* ASCII only */
    norm_is(DLP_NORM_NONE, "Secret Value 1", "Secret Value 1");
    norm_is(DLP_NORM__COUNT, "abc", "");
}

static void normalize_bounds(void **state)
{
    (void)state;
    char out[8];
    memset(out, 'Z', sizeof(out));
    assert_int_equal(dlp_normalize(DLP_NORM_DIGITS, DLP_STR_BYTES("4111 1111 1111"), out, 5), 4);
    assert_string_equal(out, "4111");
    assert_int_equal(out[5], 'Z'); /* nothing written past cap */
    assert_int_equal(dlp_normalize(DLP_NORM_NONE, DLP_STR_BYTES("abc"), out, 1), 0);
    assert_string_equal(out, "");
    out[0] = 'Q';
    assert_int_equal(dlp_normalize(DLP_NORM_NONE, DLP_STR_BYTES("abc"), out, 0), 0);
    assert_int_equal(out[0], 'Q');
    assert_int_equal(dlp_normalize(DLP_NORM_NONE, NULL, 3, out, sizeof(out)), 0);
    assert_int_equal(dlp_normalize(DLP_NORM_NONE, DLP_STR_BYTES("abc"), NULL, 4), 0);
}

static void mask_is(dlp_mask_t how, const char *in, const char *want)
{
    char out[128];
    memset(out, 'Z', sizeof(out));
    size_t n = dlp_mask(how, in, strlen(in), out, sizeof(out));
    if (strcmp(out, want) != 0)
        fail_msg("mask %d of \"%s\" = \"%s\", want \"%s\"", (int)how, in, out, want);
    assert_int_equal(n, strlen(want));
}

static void mask_exact(void **state)
{
    (void)state;
    mask_is(DLP_MASK_NUMBER, "4539148803436467", "453914******6467"); /* INTERFACE.md */
    mask_is(DLP_MASK_NUMBER, "378282246310005", "378282*****0005");
    mask_is(DLP_MASK_NUMBER, "30569309025904", "305693****5904"); /* 14: first 6 + last 4 */
    mask_is(DLP_MASK_NUMBER, "4222222222222", "*********2222");   /* 13: last 4 only */
    mask_is(DLP_MASK_NUMBER, "12345678", "****5678");
    mask_is(DLP_MASK_NUMBER, "1234567", "*******"); /* 7: nothing */
    mask_is(DLP_MASK_NUMBER, "", "");
    mask_is(DLP_MASK_NUMBER, "DE89370400440532013000", "DE8937************3000");
    mask_is(DLP_MASK_NUMBER, "LC55HEMM000100010012001200023015", "LC55HE************3015");
    mask_is(DLP_MASK_LAST4, "536228541", "*****8541");
    mask_is(DLP_MASK_LAST4, "AB123456C", "*****456C");
    mask_is(DLP_MASK_LAST4, "12127365000", "*******5000");
    mask_is(DLP_MASK_LAST4, "1234567", "*******");
    mask_is(DLP_MASK_EMAIL, "john.doe@example.com", "j***@example.com"); /* INTERFACE.md */
    mask_is(DLP_MASK_EMAIL, "j@x.io", "j***@x.io");
    mask_is(DLP_MASK_EMAIL, "@example.com", "***@example.com");
    mask_is(DLP_MASK_EMAIL, "a@b@c.com", "a***@c.com"); /* the domain follows the last '@' */
    mask_is(DLP_MASK_EMAIL, "noat", "n***");
    mask_is(DLP_MASK_EMAIL, "\xc3\xa9mile@example.fr", "\xc3\xa9***@example.fr");
    mask_is(DLP_MASK_PREFIX4, "AKIAIOSFODNN7EXAMPLE", "AKIA************");
    mask_is(DLP_MASK_PREFIX4, "password", "pass****");
    mask_is(DLP_MASK_PREFIX4, "hunter2", "*******");
    mask_is(DLP_MASK_FIRST, "Alice", "A****");
    mask_is(DLP_MASK_FIRST, "Al", "A*");
    mask_is(DLP_MASK_FIRST, "X", "*");
    mask_is(DLP_MASK_FIRST, "\xc3\x89lodie", "\xc3\x89*****"); /* one character, two bytes */
    mask_is(DLP_MASK_FIRST,
            "\xff\xfe"
            "ab",
            "\xff***"); /* invalid bytes: one each */
    mask_is(DLP_MASK_FIRST, "\xe6\x9d\x8e\xe5\xb0\x8f\xe9\xbe\x99", "\xe6\x9d\x8e**");
    mask_is(DLP_MASK_CLEAR, "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----");
    /* whatever the length */
    mask_is(DLP_MASK_HIDDEN, "hunter2", "********");
    mask_is(DLP_MASK_HIDDEN, "correct horse battery staple", "********");
    mask_is(DLP_MASK_HIDDEN, "x", "********");
    mask_is(DLP_MASK__COUNT, "secret", "");
}

/* The value of a named field: what the field holds, trimmed, never its name. */
static void narrow_is(const char *match, const char *want)
{
    const uint8_t *w = (const uint8_t *)match;
    size_t vs = 0, ve = strlen(match);

    dlp_value_narrow(DLP_VALUE_FIELD, w, &vs, &ve);
    assert_true(vs <= ve && ve <= strlen(match));
    assert_int_equal(ve - vs, strlen(want));
    assert_memory_equal(match + vs, want, strlen(want));
}

static void value_field_narrowing(void **state)
{
    size_t vs = 2, ve = 9;

    (void)state;
    narrow_is("\"dob\": \"1984-03-12\"", "1984-03-12");
    narrow_is("dob=1984-03-12", "1984-03-12");
    narrow_is("password=hunter22&", "hunter22");
    narrow_is("<zip>94107<", "94107");
    narrow_is("<DateOfBirth>1984-03-12", "1984-03-12");
    narrow_is("DOB:  03/12/1984", "03/12/1984");
    narrow_is("password='s3cr:et'", "s3cr:et");            /* the first separator */
    narrow_is("https://ana:hunter22@db.example.com", "hunter22");
    /* a URL's password ends at its '@', whatever its last character */
    narrow_is("https://ana:hunter22&@db.example.com", "hunter22&");
    narrow_is("ftp://ana:pa>ss>@h", "pa>ss>");
    narrow_is("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz");
    narrow_is("authorization: bearer abc.def", "abc.def");
    narrow_is(",dob,", "dob");                                /* a CSV header's column */
    narrow_is("\r\n\"zip\";", "zip");
    narrow_is("Passport No. X1234567", "X1234567");           /* no separator: last word */
    narrow_is("passport #X1234567", "X1234567");
    narrow_is(",date of birth,", "date of birth");            /* a header ends in a separator */
    narrow_is("dob= \"\"", "dob= \"\"");                    /* nothing held: the match */
    /* a value ending in a non-ASCII character keeps it; one terminator byte goes */
    narrow_is("\"first_name\": \"Andr\xc3\xa9\"", "Andr\xc3\xa9");
    narrow_is("password=hunter22\xa0", "hunter22");
    /* only a last byte goes: a quoted value ending in '&' ("...&\"") keeps it,
     * as the shipped patterns match it (an unquoted one stops before the '&') */
    narrow_is("\"password\":\"Tr0ub4dor&\"", "Tr0ub4dor&");
    narrow_is("password='hunter22>'", "hunter22>");
    /* MATCH leaves the span alone */
    dlp_value_narrow(DLP_VALUE_MATCH, (const uint8_t *)"a dob=1 b", &vs, &ve);
    assert_int_equal(vs, 2);
    assert_int_equal(ve, 9);
    dlp_value_span_t v = DLP_VALUE_MATCH;
    assert_true(dlp_value_span_from_name("field", &v));
    assert_int_equal(v, DLP_VALUE_FIELD);
    assert_false(dlp_value_span_from_name("Field", &v));
    assert_string_equal(dlp_value_span_name(DLP_VALUE_MATCH), "match");
}

static void mask_star_cap(void **state)
{
    (void)state;
    /* FIRST on 13 characters hides 12: exactly the cap; on 14 still 12 */
    mask_is(DLP_MASK_FIRST, "abcdefghijklm", "a************");
    mask_is(DLP_MASK_FIRST, "abcdefghijklmn", "a************");
    mask_is(DLP_MASK_NUMBER, "1234567890123456789012", "123456************9012");  /* 12 hidden */
    mask_is(DLP_MASK_NUMBER, "12345678901234567890123", "123456************0123"); /* 13 */
    char big[300];
    memset(big, 'k', sizeof(big));
    char out[64];
    assert_int_equal(dlp_mask(DLP_MASK_PREFIX4, big, sizeof(big), out, sizeof(out)),
                     4 + DLP_MASK_STARS_MAX);
}

static void mask_truncation(void **state)
{
    (void)state;
    char out[32];
    memset(out, 'Z', sizeof(out));
    assert_int_equal(dlp_mask(DLP_MASK_NUMBER, "4539148803436467", 16, out, 8), 7);
    assert_string_equal(out, "453914*");
    assert_int_equal(out[8], 'Z');
    assert_int_equal(dlp_mask(DLP_MASK_EMAIL, "john@example.com", 16, out, 6), 5);
    assert_string_equal(out, "j***@");
    assert_int_equal(dlp_mask(DLP_MASK_CLEAR, "abc", 3, out, 1), 0);
    assert_string_equal(out, "");
    out[0] = 'Q';
    assert_int_equal(dlp_mask(DLP_MASK_CLEAR, "abc", 3, out, 0), 0);
    assert_int_equal(out[0], 'Q');
    /* a UTF-8 character is never split, by the mask or by the cut */
    assert_int_equal(dlp_mask(DLP_MASK_FIRST, "\xc3\x89lodie", 7, out, sizeof(out)), 7);
    assert_int_equal(dlp_mask(DLP_MASK_FIRST, "\xc3\x89lodie", 7, out, 2), 0);
    assert_string_equal(out, "");
    assert_int_equal(dlp_mask(DLP_MASK_FIRST, "\xc3\x89lodie", 7, out, 3), 2);
    assert_string_equal(out, "\xc3\x89");
    assert_int_equal(dlp_mask(DLP_MASK_CLEAR, "a\xe6\x9d\x8e", 4, out, 4), 1);
    assert_string_equal(out, "a");
    assert_int_equal(dlp_mask(DLP_MASK_CLEAR, "a\xe6\x9d\x8e", 4, out, 5), 4);
    assert_int_equal(dlp_mask(DLP_MASK_CLEAR, "a\xe6\x9d", 3, out, 5), 3); /* not cut: kept */
    assert_int_equal(dlp_mask(DLP_MASK_NUMBER, NULL, 5, out, sizeof(out)), 0);
}

/* Characters a mask may show for a value of 'chars' characters (validate.h). */
static size_t allowed(dlp_mask_t how, size_t chars, size_t *head, size_t *tail)
{
    *head = *tail = 0;
    switch (how) {
    case DLP_MASK_NUMBER:
        *head = chars >= 14 ? 6 : 0;
        *tail = chars >= 8 ? 4 : 0;
        break;
    case DLP_MASK_LAST4:
        *tail = chars >= 8 ? 4 : 0;
        break;
    case DLP_MASK_PREFIX4:
        *head = chars >= 8 ? 4 : 0;
        break;
    case DLP_MASK_FIRST:
        *head = chars >= 2 ? 1 : 0;
        break;
    default:
        break;
    }
    return *head + *tail;
}

/* Every mask over generated ASCII values: what shows is at most the documented head and tail. */
static void mask_never_reveals_more(void **state)
{
    (void)state;
    static const dlp_mask_t kinds[] = {DLP_MASK_NUMBER, DLP_MASK_LAST4, DLP_MASK_PREFIX4,
                                       DLP_MASK_FIRST};
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    srand(20241129);
    char v[64], out[96];
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rand() % 48);
        for (size_t i = 0; i < n; i++)
            v[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
        v[n] = '\0';
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            size_t head, tail;
            size_t shown = allowed(kinds[k], n, &head, &tail);
            size_t cap = (size_t)(rand() % 40);
            size_t m = dlp_mask(kinds[k], v, n, out, cap);
            size_t visible = 0;
            for (size_t i = 0; i < m; i++)
                visible += out[i] != '*';
            assert_true(visible <= shown);
            if (cap == 0) {
                assert_int_equal(m, 0);
                continue;
            }
            assert_true(m < cap);
            assert_int_equal(out[m], '\0');
            /* the head is the value's head; the tail is the value's tail */
            for (size_t i = 0; i < head && i < m; i++)
                assert_int_equal(out[i], v[i]);
            size_t hidden = n - shown;
            size_t stars = hidden > DLP_MASK_STARS_MAX ? DLP_MASK_STARS_MAX : hidden;
            if (m == head + stars + tail) {
                for (size_t i = 0; i < stars; i++)
                    assert_int_equal(out[head + i], '*');
                assert_memory_equal(out + head + stars, v + n - tail, tail);
            }
            if (n > 0)
                assert_null(strstr(out, v));
        }
        /* email: the local part shows one character at most, the domain all */
        char e[96];
        size_t ln = (size_t)(rand() % 20) + 1;
        memcpy(e, v, n < ln ? n : ln);
        if (n < ln)
            ln = n;
        memcpy(e + ln, "@example.com", 13);
        size_t m = dlp_mask(DLP_MASK_EMAIL, e, ln + 12, out, sizeof(out));
        const char *at = strchr(out, '@');
        assert_non_null(at);
        assert_string_equal(at, "@example.com");
        assert_int_equal((size_t)(at - out), (ln > 0 ? 1 : 0) + 3);
        assert_int_equal(m, strlen(out));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_and_names), cmocka_unit_test(norm_mask_names),
        cmocka_unit_test(normalize_exact), cmocka_unit_test(normalize_bounds),
        cmocka_unit_test(mask_exact),      cmocka_unit_test(mask_star_cap),
        cmocka_unit_test(mask_truncation), cmocka_unit_test(mask_never_reveals_more),
        cmocka_unit_test(value_field_narrowing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
