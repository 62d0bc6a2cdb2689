/*
 * validate.c - the validator table (name, function, default normalization
 * and mask), the names of normalizations and masks, and the boundary
 * helpers the number validators share.
 *
 * Invariants: the table is const and indexed by dlp_validator_t; every
 * function here is pure (no allocation, no globals written), so any thread
 * may call it. The checks themselves live in one file per family (card.c,
 * ssn.c, iban.c, email.c, aadhaar.c, nino.c, phone.c); normalize and mask
 * in mask.c.
 */
#include <string.h>

#include "dlp/validate.h"
#include "validate_int.h"

static const dlp_validator_info_t validators[DLP_VAL__COUNT] = {
    [DLP_VAL_NONE] = {"none", NULL, DLP_NORM_NONE, DLP_MASK_PREFIX4},
    [DLP_VAL_LUHN] = {"luhn", dlp_val__card, DLP_NORM_DIGITS, DLP_MASK_NUMBER},
    [DLP_VAL_US_SSN] = {"us_ssn", dlp_val__ssn, DLP_NORM_DIGITS, DLP_MASK_LAST4},
    [DLP_VAL_IBAN] = {"iban", dlp_val__iban, DLP_NORM_UPPER_NOSPACE, DLP_MASK_NUMBER},
    [DLP_VAL_EMAIL] = {"email", dlp_val__email, DLP_NORM_LOWER, DLP_MASK_EMAIL},
    [DLP_VAL_AADHAAR] = {"aadhaar", dlp_val__aadhaar, DLP_NORM_DIGITS, DLP_MASK_LAST4},
    [DLP_VAL_UK_NINO] = {"uk_nino", dlp_val__nino, DLP_NORM_UPPER_NOSPACE, DLP_MASK_LAST4},
    [DLP_VAL_PHONE] = {"phone", dlp_val__phone, DLP_NORM_DIGITS, DLP_MASK_LAST4},
};

static const char *const norm_names[DLP_NORM__COUNT] = {
    [DLP_NORM_NONE] = "none",
    [DLP_NORM_DIGITS] = "digits",
    [DLP_NORM_UPPER_NOSPACE] = "upper_nospace",
    [DLP_NORM_LOWER] = "lower",
};

static const char *const mask_names[DLP_MASK__COUNT] = {
    [DLP_MASK_NUMBER] = "number",   [DLP_MASK_LAST4] = "last4", [DLP_MASK_EMAIL] = "email",
    [DLP_MASK_PREFIX4] = "prefix4", [DLP_MASK_FIRST] = "first", [DLP_MASK_CLEAR] = "clear",
    [DLP_MASK_HIDDEN] = "hidden",
};

const dlp_validator_info_t *dlp_validator_find(const char *name, dlp_validator_t *id)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < DLP_VAL__COUNT; i++) {
        if (strcmp(validators[i].name, name) == 0) {
            if (id != NULL)
                *id = (dlp_validator_t)i;
            return &validators[i];
        }
    }
    return NULL;
}

const dlp_validator_info_t *dlp_validator_get(dlp_validator_t id)
{
    if ((unsigned)id >= DLP_VAL__COUNT)
        return NULL;
    return &validators[id];
}

const char *dlp_norm_name(dlp_norm_t n)
{
    return (unsigned)n < DLP_NORM__COUNT ? norm_names[n] : NULL;
}

const char *dlp_mask_name(dlp_mask_t m)
{
    return (unsigned)m < DLP_MASK__COUNT ? mask_names[m] : NULL;
}

bool dlp_norm_from_name(const char *s, dlp_norm_t *out)
{
    for (size_t i = 0; s != NULL && i < DLP_NORM__COUNT; i++) {
        if (strcmp(norm_names[i], s) == 0) {
            *out = (dlp_norm_t)i;
            return true;
        }
    }
    return false;
}

bool dlp_mask_from_name(const char *s, dlp_mask_t *out)
{
    for (size_t i = 0; s != NULL && i < DLP_MASK__COUNT; i++) {
        if (strcmp(mask_names[i], s) == 0) {
            *out = (dlp_mask_t)i;
            return true;
        }
    }
    return false;
}

bool dlp_validate(dlp_validator_t id, const uint8_t *win, size_t len, size_t start, size_t end,
                  size_t *vstart, size_t *vend)
{
    const dlp_validator_info_t *v = dlp_validator_get(id);
    if (v == NULL || !vd_span_ok(win, len, start, end))
        return false;
    if (v->fn == NULL) {
        *vstart = start;
        *vend = end;
        return true;
    }
    return v->fn(win, len, start, end, vstart, vend);
}

void dlp_val__trim(const uint8_t *win, size_t *s, size_t *e, const char *set)
{
    while (*s < *e && strchr(set, win[*s]) != NULL && win[*s] != '\0')
        (*s)++;
    while (*e > *s && strchr(set, win[*e - 1]) != NULL && win[*e - 1] != '\0')
        (*e)--;
}

bool dlp_val__isolated(const uint8_t *win, size_t len, size_t s, size_t e, uint8_t sep)
{
    if (s > 0 && vd_digit(win[s - 1]))
        return false;
    if (e < len && vd_digit(win[e]))
        return false;
    if (sep == 0)
        return true;
    if (s > 1 && win[s - 1] == sep && vd_digit(win[s - 2]))
        return false;
    if (e + 1 < len && win[e] == sep && vd_digit(win[e + 1]))
        return false;
    return true;
}

uint8_t dlp_val__joiner(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '-' || p[i] == '.')
            return p[i];
    }
    return 0;
}
