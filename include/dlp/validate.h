/*
 * validate.h - validators, normalizers and maskers of matched values.
 *
 * Pure functions: no allocation, no globals, any thread. A validator sees
 * the candidate a rule's pattern matched, inside a window of the bytes that
 * precede it, and says whether it is a real value and where exactly it is:
 * it may narrow the span (drop separators at the edges) or widen it to the
 * left (an email pattern anchors on "x@domain"; the validator walks back
 * over the local part). This keeps the patterns cheap (anchored on rare
 * literals) and the checks exact (research/technical.md 2.2-2.3).
 */
#ifndef DLP_VALIDATE_H
#define DLP_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* NOTE: when adding a validator, add it to the table in validate.c. */
typedef enum {
    DLP_VAL_NONE = 0,
    DLP_VAL_LUHN,     /* payment card: 13-19 digits, IIN ranges, Luhn */
    DLP_VAL_US_SSN,   /* area/group/serial rules, known fakes */
    DLP_VAL_IBAN,     /* ISO 13616 country length + ISO 7064 mod 97-10 */
    DLP_VAL_EMAIL,    /* local part (widened left), domain with a dot, alpha TLD */
    DLP_VAL_AADHAAR,  /* 12 digits, first 2-9, Verhoeff */
    DLP_VAL_UK_NINO,  /* prefix rules, suffix A-D */
    DLP_VAL_PHONE,    /* E.164 length 8-15 / NANP area and exchange rules */
    DLP_VAL__COUNT
} dlp_validator_t;

/* How a value is normalized before it is hashed (INTERFACE.md table). */
typedef enum {
    DLP_NORM_NONE = 0,    /* the matched text unchanged */
    DLP_NORM_DIGITS,      /* digits only */
    DLP_NORM_UPPER_NOSPACE, /* upper case, spaces removed */
    DLP_NORM_LOWER,       /* lower case */
    DLP_NORM__COUNT
} dlp_norm_t;

/*
 * How a value is shown in events. Never the whole value (except CLEAR).
 * Lengths count characters (a UTF-8 sequence is one character, so a mask
 * never splits one); every hidden character is one '*', at most
 * DLP_MASK_STARS_MAX of them, so a long value does not reveal its length.
 */
typedef enum {
    DLP_MASK_NUMBER = 0,  /* first 6 and last 4 characters of the normalized
                           * value when it has 14 or more, else the last 4
                           * when it has 8 or more, else nothing; '*' between */
    DLP_MASK_LAST4,       /* last 4 only, when it has 8 or more, else nothing */
    DLP_MASK_EMAIL,       /* first character of the local part + "***@" + domain
                           * (always three '*'); without an '@' as FIRST */
    DLP_MASK_PREFIX4,     /* first 4 characters, the rest '*' (secrets, keys),
                           * when it has 8 or more, else nothing */
    DLP_MASK_FIRST,       /* first character, the rest '*' (names, free text),
                           * when it has 2 or more, else nothing */
    DLP_MASK_CLEAR,       /* shown as is: only for values that are not data,
                           * e.g. a "-----BEGIN RSA PRIVATE KEY-----" line */
    DLP_MASK_HIDDEN,      /* nothing but '*' (passwords) */
    DLP_MASK__COUNT
} dlp_mask_t;

/* Most '*' a mask writes for the hidden characters. */
#define DLP_MASK_STARS_MAX 12
#define DLP_MASK_HIDDEN_STARS 8 /* mask: hidden, whatever the value's length */

/*
 * Validates the candidate win[start, end) (end <= len; the window ends at or
 * after the match and holds the bytes before it). On success sets
 * [*vstart, *vend) to the value and returns true; otherwise leaves them
 * untouched. A span that does not fit the window is refused. The value may
 * extend past 'end' when the window has the bytes (an e-mail domain the
 * match stopped inside), never past 'len'.
 */
typedef bool (*dlp_validate_fn)(const uint8_t *win, size_t len, size_t start, size_t end,
                                size_t *vstart, size_t *vend);

typedef struct dlp_validator_info {
    const char *name;       /* as written in rule files: "luhn" */
    dlp_validate_fn fn;     /* NULL for DLP_VAL_NONE */
    dlp_norm_t norm;        /* default normalization of its values */
    dlp_mask_t mask;        /* default mask */
} dlp_validator_info_t;

/* The validator called 'name', or NULL. Sets *id when id is not NULL. */
const dlp_validator_info_t *dlp_validator_find(const char *name, dlp_validator_t *id);
/* NULL when id is out of range. */
const dlp_validator_info_t *dlp_validator_get(dlp_validator_t id);
/* Names as written in rule files; NULL when out of range. */
const char *dlp_norm_name(dlp_norm_t n);
const char *dlp_mask_name(dlp_mask_t m);
/* Exact (case-sensitive) names; false, *out untouched, when unknown. */
bool dlp_norm_from_name(const char *s, dlp_norm_t *out);
bool dlp_mask_from_name(const char *s, dlp_mask_t *out);

/*
 * Runs validator 'id' on the candidate (see dlp_validate_fn). DLP_VAL_NONE
 * accepts the candidate unchanged; an id out of range or a span that does
 * not fit the window (start > end or end > len) is refused.
 */
bool dlp_validate(dlp_validator_t id, const uint8_t *win, size_t len, size_t start, size_t end,
                  size_t *vstart, size_t *vend);

/* The checks themselves, on exactly the value's bytes (for tests and reuse). */
bool dlp_luhn_ok(const char *digits, size_t n);
bool dlp_card_ok(const uint8_t *p, size_t n);   /* separators ' ' '-' allowed */
bool dlp_ssn_ok(const uint8_t *p, size_t n);    /* "078-05-1120" or 9 digits */
bool dlp_iban_ok(const uint8_t *p, size_t n);   /* spaces allowed */
bool dlp_email_ok(const uint8_t *p, size_t n);
bool dlp_verhoeff_ok(const char *digits, size_t n);
bool dlp_aadhaar_ok(const uint8_t *p, size_t n);
bool dlp_nino_ok(const uint8_t *p, size_t n);
bool dlp_phone_ok(const uint8_t *p, size_t n);

/*
 * True if 'norm' (a normalized value) is a published test value for
 * validator v: the test card numbers of the card brands and payment
 * processors (4111 1111 1111 1111 ...). Nobody's data; suppressed by default.
 */
bool dlp_is_test_value(dlp_validator_t v, const char *norm);

/*
 * Writes the normalized form of p[0..n) into out (NUL-terminated, truncated
 * to cap-1). Returns its length. Writes nothing and returns 0 when cap is 0;
 * an unknown 'how' gives "".
 */
size_t dlp_normalize(dlp_norm_t how, const uint8_t *p, size_t n, char *out, size_t cap);

/*
 * Which part of a validated match is the value (rule key 'value').
 * FIELD: the patterns match a named field ("dob": "1984-03-12",
 * password=..., a CSV header's column name), and the value is what the
 * field holds, so the same date counts once whether it travelled as JSON
 * or as a form, and a mask shows nothing of the field's name:
 *   - "scheme://user:SECRET@..." -> SECRET;
 *   - else what follows the first ':', '=' or '>' (after spaces and
 *     quotes; an "Authorization: Basic " or "Bearer " scheme skipped);
 *   - else, when the match ends in a word, that last word (a label and its
 *     value: "passport no X1234567"), else (a CSV header) the match;
 * with spaces, quotes, ',', ';', '<' and line ends trimmed from both ends
 * (and at the end also '&', '>' and other control or non-ASCII bytes: what
 * ends an unquoted form or tag value).
 * An empty result keeps the match.
 */
typedef enum {
    DLP_VALUE_MATCH = 0,
    DLP_VALUE_FIELD,
    DLP_VALUE__COUNT
} dlp_value_span_t;

const char *dlp_value_span_name(dlp_value_span_t v);
bool dlp_value_span_from_name(const char *s, dlp_value_span_t *out);
/* Narrows the value win[*vs, *ve) as 'how' says. */
void dlp_value_narrow(dlp_value_span_t how, const uint8_t *win, size_t *vs, size_t *ve);

/*
 * Writes the masked form of a normalized value (NUL-terminated, truncated
 * to cap-1; truncation only drops characters from the end, so it never
 * reveals more). Returns its length. An unknown 'how' gives "".
 */
size_t dlp_mask(dlp_mask_t how, const char *norm, size_t n, char *out, size_t cap);

#endif
