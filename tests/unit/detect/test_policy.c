/*
 * test_policy.c - what happens to a validated value: context words on word
 * boundaries and at the window's edges, exclusion, allow-lists (values,
 * keyed hashes, addresses, host names; per rule and global), published
 * test values, exact data match (edm), protocol and field restrictions, and
 * confidence.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <string.h>

#include "detect_int.h"

typedef struct pfx {
    dlp_rule_t r;
    dlp_ruleset_t rs;
    char *words[4];
    char *xwords[2];
    char *values[2];
    char *gvalues[2];
    char *hosts[3];
    char *protos[2];
    uint8_t hmacs[1][16];
    uint8_t src[16], dst[16];
} pfx_t;

static void addr4(uint8_t a[16], uint8_t x, uint8_t y, uint8_t z, uint8_t w)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = x;
    a[13] = y;
    a[14] = z;
    a[15] = w;
}

/* A card rule (Luhn, digits) with nothing configured. */
static void pfx_init(pfx_t *f)
{
    memset(f, 0, sizeof(*f));
    f->r.name = "pii.credit_card";
    f->r.category = DLP_CAT_LINKED;
    f->r.validator = DLP_VAL_LUHN;
    f->r.norm = DLP_NORM_DIGITS;
    f->r.context.window = DLP_RULE_CONTEXT_WINDOW;
    f->r.exclude.window = DLP_RULE_CONTEXT_WINDOW;
    f->rs.rules = &f->r;
    f->rs.n = 1;
    addr4(f->src, 10, 0, 0, 5);
    addr4(f->dst, 203, 0, 113, 9);
}

/* The value is the first run of digits in 'text' (as the validator would find it). */
static dlp_policy_t run(pfx_t *f, const char *text, const char *app, dlp_field_t field,
                        const char *const *hosts, size_t nhosts, dlp_confidence_t *conf)
{
    static char norm[64];
    size_t len = strlen(text), vs = strcspn(text, "0123456789"), ve = vs;
    dlp_value_t v = {.r = &f->r, .win = (const uint8_t *)text, .len = len, .field = field,
                     .app_proto = app, .src = f->src, .dst = f->dst, .hosts = hosts,
                     .nhosts = nhosts};

    while (ve < len && text[ve] >= '0' && text[ve] <= '9')
        ve++;
    v.vs = vs;
    v.ve = ve;
    v.nl = dlp_normalize(f->r.norm, v.win + vs, ve - vs, norm, sizeof(norm));
    v.norm = norm;
    v.hmac16 = f->hmacs[0][0] == 0xab ? f->hmacs[0] : NULL; /* "its hash" = the listed one */
    *conf = (dlp_confidence_t)-1;
    return dlp_detect__policy(&f->rs, &v, conf);
}

static dlp_policy_t plain(pfx_t *f, const char *text, dlp_confidence_t *conf)
{
    return run(f, text, "HTTP", DLP_FIELD_HTTP_BODY, NULL, 0, conf);
}

static void context_words_on_boundaries(void **state)
{
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    pfx_init(&f);
    f.words[0] = "card number";
    f.words[1] = "lic";
    f.r.context.words = f.words;
    f.r.context.nwords = 2;
    f.r.context.required = true;
    assert_int_equal(plain(&f, "card number: 4539148803436467", &c), DLP_POL_REPORT);
    assert_int_equal(c, DLP_CONF_HIGH);
    /* a space in a word matches runs of spaces, '_' and '-' in any case */
    assert_int_equal(plain(&f, "{\"Card_Number\":\"4539148803436467\"}", &c), DLP_POL_REPORT);
    assert_int_equal(plain(&f, "Card-- -Number=4539148803436467", &c), DLP_POL_REPORT);
    assert_int_equal(plain(&f, "4539148803436467 is the CARD NUMBER", &c), DLP_POL_REPORT);
    /* inside a longer word it is not the word */
    assert_int_equal(plain(&f, "public 4539148803436467", &c), DLP_POL_CONTEXT);
    assert_int_equal(plain(&f, "licence 4539148803436467", &c), DLP_POL_CONTEXT);
    assert_int_equal(plain(&f, "cardnumber 4539148803436467", &c), DLP_POL_CONTEXT);
    assert_int_equal(plain(&f, "xcard number 4539148803436467", &c), DLP_POL_CONTEXT);
    assert_int_equal(plain(&f, "lic_4539148803436467", &c), DLP_POL_REPORT);
}

static void context_window_edges(void **state)
{
    pfx_t f;
    dlp_confidence_t c;
    char text[160];

    (void)state;
    pfx_init(&f);
    f.words[0] = "card";
    f.r.context.words = f.words;
    f.r.context.nwords = 1;
    f.r.context.required = true;
    f.r.context.window = 10;
    /* the word's first byte exactly 10 bytes before the value: inside */
    snprintf(text, sizeof(text), "card%6s4539148803436467", "");
    assert_int_equal(plain(&f, text, &c), DLP_POL_REPORT);
    /* 11 bytes before: outside */
    snprintf(text, sizeof(text), "card%7s4539148803436467", "");
    assert_int_equal(plain(&f, text, &c), DLP_POL_CONTEXT);
    /* after the value: the word must end within the window */
    snprintf(text, sizeof(text), "4539148803436467%6scard", "");
    assert_int_equal(plain(&f, text, &c), DLP_POL_REPORT);
    snprintf(text, sizeof(text), "4539148803436467%7scard", "");
    assert_int_equal(plain(&f, text, &c), DLP_POL_CONTEXT);
    /* a word cut by the window's edge is not the word */
    snprintf(text, sizeof(text), "4539148803436467%6scards", "");
    assert_int_equal(plain(&f, text, &c), DLP_POL_CONTEXT);
}

static void optional_context_raises_confidence(void **state)
{
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    pfx_init(&f);
    f.r.validator = DLP_VAL_NONE;
    f.r.category = DLP_CAT_LINKABLE;
    f.words[0] = "dob";
    f.r.context.words = f.words;
    f.r.context.nwords = 1;
    assert_int_equal(plain(&f, "born 19700101", &c), DLP_POL_REPORT);
    assert_int_equal(c, DLP_CONF_LOW);
    assert_int_equal(plain(&f, "dob=19700101", &c), DLP_POL_REPORT);
    assert_int_equal(c, DLP_CONF_MEDIUM);
    f.r.category = DLP_CAT_SECRET;
    assert_int_equal(plain(&f, "x 19700101", &c), DLP_POL_REPORT);
    assert_int_equal(c, DLP_CONF_MEDIUM);
    f.r.validator = DLP_VAL_US_SSN;
    assert_int_equal(plain(&f, "x 19700101", &c), DLP_POL_REPORT);
    assert_int_equal(c, DLP_CONF_MEDIUM);
}

static void exclude_context_suppresses(void **state)
{
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    pfx_init(&f);
    f.xwords[0] = "order id";
    f.r.exclude.words = f.xwords;
    f.r.exclude.nwords = 1;
    assert_int_equal(plain(&f, "order-id: 4539148803436467", &c), DLP_POL_CONTEXT);
    assert_int_equal(plain(&f, "reorder id 4539148803436467", &c), DLP_POL_REPORT);
    assert_int_equal(plain(&f, "card 4539148803436467", &c), DLP_POL_REPORT);
}

static void test_values_suppressed_unless_asked(void **state)
{
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    pfx_init(&f);
    assert_int_equal(plain(&f, "pan 4111111111111111", &c), DLP_POL_TEST_VALUE);
    assert_int_equal(plain(&f, "pan 5555555555554444", &c), DLP_POL_TEST_VALUE);
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_REPORT);
    f.r.test_values = true;
    assert_int_equal(plain(&f, "pan 4111111111111111", &c), DLP_POL_REPORT);
    /* only the validator's own test values */
    pfx_init(&f);
    f.r.validator = DLP_VAL_NONE;
    assert_int_equal(plain(&f, "pan 4111111111111111", &c), DLP_POL_REPORT);
}

static void allow_by_value_and_hash(void **state)
{
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    pfx_init(&f);
    f.values[0] = "4539148803436467"; /* rule lists are normalized at load */
    f.r.allow.values = f.values;
    f.r.allow.nvalues = 1;
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_ALLOWED);
    assert_int_equal(plain(&f, "pan 4916338506082832", &c), DLP_POL_REPORT);
    /* global values are kept as written and normalized the rule's way */
    pfx_init(&f);
    f.gvalues[0] = "4916 3385-0608 2832";
    f.rs.allow.values = f.gvalues;
    f.rs.allow.nvalues = 1;
    assert_int_equal(plain(&f, "pan 4916338506082832", &c), DLP_POL_ALLOWED);
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_REPORT);
    /* by keyed hash: needs the value's hash */
    pfx_init(&f);
    memset(f.hmacs[0], 0xab, 16);
    f.r.allow.hmacs = f.hmacs;
    f.r.allow.nhmacs = 1;
    assert_true(dlp_detect__needs_hmac(&f.rs, &f.r));
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_ALLOWED);
    f.hmacs[0][0] = 0xac; /* run() now passes no hash: not allowed */
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_REPORT);
}

/* edm: only values whose keyed hash is listed are reported, with high confidence. */
static void exact_data_match(void **state)
{
    uint8_t list[3][16];
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    memset(list[0], 0x11, 16);
    memset(list[1], 0xab, 16); /* the hash run() passes (f.hmacs[0]) */
    memset(list[2], 0xcd, 16);
    pfx_init(&f);
    memset(f.hmacs[0], 0xab, 16);
    f.r.edm = (dlp_rule_edm_t){.on = true, .hmacs = list, .nhmacs = 3};
    assert_true(dlp_detect__needs_hmac(&f.rs, &f.r));
    assert_true(dlp_rule_edm_has(&f.r.edm, list[2]));
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_REPORT);
    assert_int_equal(c, DLP_CONF_HIGH);
    /* listed: context cannot make it more or less certain */
    f.words[0] = "card";
    f.r.context.words = f.words;
    f.r.context.nwords = 1;
    f.r.context.required = true;
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_REPORT);
    /* not listed (another hash), or no hash: held back */
    f.hmacs[0][0] = 0xac;
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_UNLISTED);
    f.hmacs[0][0] = 0xab;
    f.r.edm.nhmacs = 1; /* {0x11...}: an edm list without it */
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_UNLISTED);
    f.r.edm.nhmacs = 0; /* given, empty: nothing is reported */
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_UNLISTED);
    /* allow-lists and test values come first */
    f.r.edm.nhmacs = 3;
    f.values[0] = "4539148803436467";
    f.r.allow.values = f.values;
    f.r.allow.nvalues = 1;
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_ALLOWED);
    assert_int_equal(plain(&f, "pan 4111111111111111", &c), DLP_POL_TEST_VALUE);
}

static void allow_by_address(void **state)
{
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    pfx_init(&f);
    assert_int_equal(dlp_cidr_set_parse(&f.r.allow.dst, "203.0.113.0/24", NULL), DLP_OK);
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_ALLOWED);
    addr4(f.dst, 198, 51, 100, 1);
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_REPORT);
    dlp_cidr_set_fini(&f.r.allow.dst);
    assert_int_equal(dlp_cidr_set_parse(&f.rs.allow.src, "10.0.0.5", NULL), DLP_OK);
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_ALLOWED);
    addr4(f.src, 10, 0, 0, 6);
    assert_int_equal(plain(&f, "pan 4539148803436467", &c), DLP_POL_REPORT);
    dlp_cidr_set_fini(&f.rs.allow.src);
}

static void allow_by_host(void **state)
{
    pfx_t f;
    dlp_confidence_t c;
    const char *one[] = {"pay.example.com"};
    const char *apex[] = {"EXAMPLE.com"};
    const char *lookalike[] = {"badexample.com"};
    const char *two[] = {"pay.example.com", "evil.example.net"};
    const char *exact[] = {"api.partner.org"};

    (void)state;
    pfx_init(&f);
    f.hosts[0] = "*.example.com";
    f.hosts[1] = "api.partner.org";
    f.r.allow.hosts = f.hosts;
    f.r.allow.nhosts = 2;
    assert_int_equal(run(&f, "4539148803436467", "TLS", DLP_FIELD_RAW, one, 1, &c),
                     DLP_POL_ALLOWED);
    assert_int_equal(run(&f, "4539148803436467", "TLS", DLP_FIELD_RAW, apex, 1, &c),
                     DLP_POL_ALLOWED);
    assert_int_equal(run(&f, "4539148803436467", "TLS", DLP_FIELD_RAW, exact, 1, &c),
                     DLP_POL_ALLOWED);
    assert_int_equal(run(&f, "4539148803436467", "TLS", DLP_FIELD_RAW, lookalike, 1, &c),
                     DLP_POL_REPORT);
    /* every host named in the flow must be allowed, and one must be known */
    assert_int_equal(run(&f, "4539148803436467", "TLS", DLP_FIELD_RAW, two, 2, &c),
                     DLP_POL_REPORT);
    assert_int_equal(run(&f, "4539148803436467", "TLS", DLP_FIELD_RAW, NULL, 0, &c),
                     DLP_POL_REPORT);
    assert_true(dlp_detect__host_allowed(&f.r.allow, "a.b.example.com"));
    assert_false(dlp_detect__host_allowed(&f.r.allow, "example.com.evil"));
    assert_false(dlp_detect__host_allowed(&f.r.allow, "x.api.partner.org"));
}

static void protocols_and_fields(void **state)
{
    pfx_t f;
    dlp_confidence_t c;

    (void)state;
    pfx_init(&f);
    f.protos[0] = "TLS";
    f.protos[1] = "smtp";
    f.r.protocols = f.protos;
    f.r.nprotocols = 2;
    assert_int_equal(run(&f, "4539148803436467", "TLS.Google", DLP_FIELD_RAW, NULL, 0, &c),
                     DLP_POL_REPORT);
    assert_int_equal(run(&f, "4539148803436467", "SMTP", DLP_FIELD_SMTP_BODY, NULL, 0, &c),
                     DLP_POL_REPORT);
    assert_int_equal(run(&f, "4539148803436467", "TLSX", DLP_FIELD_RAW, NULL, 0, &c),
                     DLP_POL_FILTERED);
    assert_int_equal(run(&f, "4539148803436467", "HTTP", DLP_FIELD_HTTP_BODY, NULL, 0, &c),
                     DLP_POL_FILTERED);
    assert_int_equal(run(&f, "4539148803436467", "", DLP_FIELD_RAW, NULL, 0, &c),
                     DLP_POL_FILTERED);
    /* rules written FTP-DATA (the sensor's old name) still name nDPI's FTP_DATA */
    f.protos[0] = "FTP-DATA";
    f.protos[1] = "ftp";
    assert_int_equal(run(&f, "4539148803436467", "FTP_DATA", DLP_FIELD_FTP_DATA, NULL, 0, &c),
                     DLP_POL_REPORT);
    assert_int_equal(run(&f, "4539148803436467", "FTP_CONTROL", DLP_FIELD_FTP_COMMAND, NULL, 0,
                         &c),
                     DLP_POL_FILTERED);
    assert_int_equal(run(&f, "4539148803436467", "FTP-DAT", DLP_FIELD_RAW, NULL, 0, &c),
                     DLP_POL_FILTERED);
    f.protos[0] = "ftp_data";
    assert_int_equal(run(&f, "4539148803436467", "FTP_DATA", DLP_FIELD_FTP_DATA, NULL, 0, &c),
                     DLP_POL_REPORT);
    /* what a decoder found counts for its protocol, whatever nDPI named the flow */
    f.protos[0] = "HTTP";
    f.r.nprotocols = 1;
    assert_int_equal(run(&f, "4539148803436467", "SMTP", DLP_FIELD_HTTP_BODY, NULL, 0, &c),
                     DLP_POL_REPORT);
    assert_int_equal(run(&f, "4539148803436467", "MySQL", DLP_FIELD_WS_MESSAGE, NULL, 0, &c),
                     DLP_POL_REPORT);
    assert_int_equal(run(&f, "4539148803436467", "SMTP", DLP_FIELD_SMTP_BODY, NULL, 0, &c),
                     DLP_POL_FILTERED);
    assert_int_equal(run(&f, "4539148803436467", "MySQL", DLP_FIELD_RAW, NULL, 0, &c),
                     DLP_POL_FILTERED);
    f.r.nprotocols = 0;
    f.r.fields = 1u << DLP_FIELD_SMTP_ATTACHMENT | 1u << DLP_FIELD_FTP_DATA;
    assert_int_equal(run(&f, "4539148803436467", "FTP", DLP_FIELD_FTP_DATA, NULL, 0, &c),
                     DLP_POL_REPORT);
    assert_int_equal(run(&f, "4539148803436467", "SMTP", DLP_FIELD_SMTP_BODY, NULL, 0, &c),
                     DLP_POL_FILTERED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(context_words_on_boundaries),
        cmocka_unit_test(context_window_edges),
        cmocka_unit_test(optional_context_raises_confidence),
        cmocka_unit_test(exclude_context_suppresses),
        cmocka_unit_test(test_values_suppressed_unless_asked),
        cmocka_unit_test(allow_by_value_and_hash),
        cmocka_unit_test(exact_data_match),
        cmocka_unit_test(allow_by_address),
        cmocka_unit_test(allow_by_host),
        cmocka_unit_test(protocols_and_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
