/*
 * testvalues.c - published test values: card numbers that payment
 * processors and card brands document for testing. They are valid by
 * every check (Luhn, IIN) yet belong to nobody, and they are everywhere in
 * test traffic, documentation and monitoring probes: a DLP sensor that
 * alerts on them is switched off by its users. Suppressed by default
 * (rule key test_values: true reports them), and counted.
 */
#include <stdlib.h>
#include <string.h>

#include "dlp/validate.h"

/* Normalized (digits only). Sources: Visa, Mastercard, Amex, Discover, JCB,
 * Diners developer documentation and the Stripe, Braintree, PayPal and
 * Adyen test card lists. Sorted for bsearch. */
static const char *const cards[] = {
    "2222400010000008", "2223000048400011", "2223003122003222", "3056930009020004",
    "30569309025904", "3566002020360505", "3566111111111113", "36006666333344",
    "36227206271667", "371449635398431", "378282246310005", "378734493671000",
    "38520000023237", "4000000000000002", "4000000000000077", "4000000000003220",
    "4000000000009995", "4000002500003155", "4000056655665556", "4012888888881881",
    "4111111111111111", "4222222222222", "4242424242424242", "4444333322221111",
    "4917610000000000", "5105105105105100", "5200828282828210", "5454545454545454",
    "5500000000000004", "5555555555554444", "6011000990139424", "6011111111111117",
    "6011981111111113", "6200000000000005", "6250941006528599", "6555900000604105",
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool dlp_is_test_value(dlp_validator_t v, const char *norm)
{
    if (v != DLP_VAL_LUHN || norm == NULL)
        return false;
    return bsearch(&norm, cards, sizeof(cards) / sizeof(cards[0]), sizeof(cards[0]), cmp) !=
           NULL;
}
