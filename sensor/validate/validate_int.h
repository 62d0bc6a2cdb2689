/*
 * validate_int.h - what the validator files share inside sensor/validate/:
 * byte classes, the boundary checks every number validator makes, and the
 * window-level validator functions the table in validate.c points to.
 * Not installed; nothing outside this area includes it.
 */
#ifndef DLP_VALIDATE_INT_H
#define DLP_VALIDATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool vd_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline bool vd_upper(uint8_t c)
{
    return c >= 'A' && c <= 'Z';
}

static inline bool vd_alpha(uint8_t c)
{
    return vd_upper(c) || (c >= 'a' && c <= 'z');
}

static inline bool vd_alnum(uint8_t c)
{
    return vd_digit(c) || vd_alpha(c);
}

/* The candidate fits its window: start <= end <= len. */
static inline bool vd_span_ok(const uint8_t *win, size_t len, size_t start, size_t end)
{
    return win != NULL && start <= end && end <= len;
}

/* Drops leading and trailing bytes that are in 'set' from [*s, *e). */
void dlp_val__trim(const uint8_t *win, size_t *s, size_t *e, const char *set);

/*
 * The number win[s, e) stands alone in the window: no digit touches either
 * end and, when 'sep' is not 0, no "sep digit" continues it on either side
 * (a longer run grouped with the same separator, e.g. a part number).
 */
bool dlp_val__isolated(const uint8_t *win, size_t len, size_t s, size_t e, uint8_t sep);

/* The first of '-' or '.' in p[0, n), or 0: the separator a run continues with. */
uint8_t dlp_val__joiner(const uint8_t *p, size_t n);

/* Window-level validators (dlp_validate_fn), each checking its span. */
bool dlp_val__card(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                   size_t *ve);
bool dlp_val__ssn(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs, size_t *ve);
bool dlp_val__iban(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                   size_t *ve);
bool dlp_val__email(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                    size_t *ve);
bool dlp_val__aadhaar(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                      size_t *ve);
bool dlp_val__nino(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                   size_t *ve);
bool dlp_val__phone(const uint8_t *win, size_t len, size_t start, size_t end, size_t *vs,
                    size_t *ve);

#endif
