/*
 * test_socks.c - the SOCKS handshake decoder: SOCKS5 without and with the
 * RFC 1929 username/password sub-negotiation (the password a credential,
 * never held, placed exactly), domain, IPv4 and IPv6 addresses, SOCKS4 and
 * SOCKS4a, a client that sends its request before the reply; handshakes that
 * fail (no SOCKS, a refused method or request, a user id over the bound, a
 * gap, a failure after the password) hand back the bytes they held; the
 * sniff of a client's first bytes.
 *
 * Every handshake is fed in one write per direction, split in two at every
 * offset, and in 1-byte writes: the outcome (return code, the bytes after the
 * handshake, the bytes held at a failure, the blocks and notes) and the
 * credential's place must be identical.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_test_sink.h"
#include "dlp/limits.h"
#include "dlp/socks.h"

#define F_RAW DLP_FIELD_RAW
#define N_CRED DLP_NOTE_CREDENTIAL

/* What one direction came to. */
typedef struct outcome {
    dlp_rc_t rc;
    uint8_t rest[512]; /* the bytes after the handshake (DONE) or the failure (EPROTO) */
    size_t nrest;
    uint8_t held[1024]; /* EPROTO: dlp_socks_held() */
    size_t nheld;
} outcome_t;

typedef struct run {
    outcome_t o[2];
    ts_sink_t s[2];
} run_t;

static void feed(dlp_socks_t *s, outcome_t *o, int dir, const uint8_t *p, size_t n)
{
    size_t used = 0;

    ts_sec_write(dir, p, n);
    o->rc = dlp_socks_write(s, dir, p, n, &used);
    ts_sec_done();
    assert_true(used <= n);
    if (o->rc == DLP_OK) {
        assert_int_equal(used, n);
        return;
    }
    assert_true(o->rc == DLP_DONE || o->rc == DLP_EPROTO);
    assert_true(o->nrest + n - used <= sizeof(o->rest));
    memcpy(o->rest + o->nrest, p + used, n - used);
    o->nrest += n - used;
}

/* split: SIZE_MAX one write, SIZE_MAX - 1 bytes one by one, else two writes cut at it
 * (of the direction 'sdir'; the other in one write). The client's bytes go first. */
static void play(run_t *r, const char *c, size_t nc, const char *sv, size_t ns, int sdir,
                 size_t split)
{
    ts_sink_t *ctx[2] = {&r->s[0], &r->s[1]};
    dlp_socks_t *s;

    memset(r->o, 0, sizeof(r->o));
    ts_reset(&r->s[0]);
    ts_reset(&r->s[1]);
    r->s[1].dir = 1;
    ts_sec_reset();
    s = dlp_socks_new(&ts_sink_ops, (void *const *)ctx);
    assert_non_null(s);
    for (int d = 0; d < 2; d++) {
        const uint8_t *p = (const uint8_t *)(d == 0 ? c : sv);
        size_t n = d == 0 ? nc : ns;
        if (d != sdir || split == SIZE_MAX || (split != SIZE_MAX - 1 && split > n)) {
            feed(s, &r->o[d], d, p, n);
        } else if (split == SIZE_MAX - 1) {
            for (size_t i = 0; i < n; i++)
                feed(s, &r->o[d], d, p + i, 1);
        } else {
            feed(s, &r->o[d], d, p, split);
            feed(s, &r->o[d], d, p + split, n - split);
        }
        if (r->o[d].rc == DLP_EPROTO) {
            const uint8_t *h;
            r->o[d].nheld = dlp_socks_held(s, d, &h);
            memcpy(r->o[d].held, h, r->o[d].nheld);
        }
    }
    dlp_socks_free(s);
}

static void same(const run_t *a, const run_t *b, const char *what)
{
    for (int d = 0; d < 2; d++) {
        const outcome_t *x = &a->o[d], *y = &b->o[d];
        if (x->rc != y->rc || x->nrest != y->nrest || memcmp(x->rest, y->rest, x->nrest) != 0 ||
            x->nheld != y->nheld || memcmp(x->held, y->held, x->nheld) != 0 ||
            !ts_equal(&a->s[d], &b->s[d])) {
            fprintf(stderr, "%s: direction %d differs (rc %d/%d)\n", what, d, x->rc, y->rc);
            ts_dump(&a->s[d]);
            ts_dump(&b->s[d]);
            fail();
        }
    }
}

/* In direction 0, exactly the bytes of 'secret' (if any) are placed as a credential. */
static void check_secret(const char *c, size_t nc, const char *secret, const char *what)
{
    const char *at = secret != NULL ? memmem(c, nc, secret, strlen(secret)) : NULL;
    size_t lo = at != NULL ? (size_t)(at - c) : nc, hi = at != NULL ? lo + strlen(secret) : nc;

    for (size_t i = 0; i < nc; i++) {
        if (ts_sec.cov[0][i] != (i >= lo && i < hi)) {
            fprintf(stderr, "%s: byte %zu %scovered\n", what, i, ts_sec.cov[0][i] ? "" : "not ");
            fail();
        }
    }
}

/* One write per direction, then every split of each: the same outcome; returned: the first. */
static run_t *check(const char *c, size_t nc, const char *sv, size_t ns, const char *secret)
{
    run_t *want = calloc(1, sizeof(*want)), *got = calloc(1, sizeof(*got));
    char what[64];

    assert_non_null(want);
    assert_non_null(got);
    play(want, c, nc, sv, ns, 0, SIZE_MAX);
    check_secret(c, nc, secret, "one write");
    for (int d = 0; d < 2; d++) {
        size_t n = d == 0 ? nc : ns;
        for (size_t k = 0; k <= n + 1; k++) {
            size_t split = k == n + 1 ? SIZE_MAX - 1 : k;
            play(got, c, nc, sv, ns, d, split);
            snprintf(what, sizeof(what), "direction %d split at %zu", d, k);
            same(want, got, what);
            check_secret(c, nc, secret, what);
            for (int i = 0; i < 2; i++) {
                ts_reset(&got->s[i]);
            }
        }
    }
    free(got);
    return want;
}

static void run_free(run_t *r)
{
    ts_reset(&r->s[0]);
    ts_reset(&r->s[1]);
    free(r);
}

static void check_rest(const outcome_t *o, dlp_rc_t rc, const char *rest, size_t n)
{
    assert_int_equal(o->rc, rc);
    assert_int_equal(o->nrest, n);
    assert_memory_equal(o->rest, rest, n);
}

#define S(lit) lit, sizeof(lit) - 1

/* --- handshakes that succeed -------------------------------------------------- */

static void test_socks5_no_auth_domain(void **state)
{
    (void)state;
    /* greeting (no auth), CONNECT api.example.com:80; the method, the reply (bound to
     * 198.51.100.60:40001); then the tunnel's first bytes each way */
    run_t *r = check(S("\x05\x01\x00"
                       "\x05\x01\x00\x03\x0f"
                       "api.example.com\x00\x50"
                       "GET / HTTP/1.1\r\n"),
                     S("\x05\x00"
                       "\x05\x00\x00\x01\xc6\x33\x64\x3c\x9c\x41"
                       "HTTP/1.1 200 OK\r\n"),
                     NULL);
    const exp_t e[] = {{'B', F_RAW, "", S("api.example.com"), 0}};

    check_rest(&r->o[0], DLP_DONE, S("GET / HTTP/1.1\r\n"));
    check_rest(&r->o[1], DLP_DONE, S("HTTP/1.1 200 OK\r\n"));
    ts_check_items(&r->s[0], e, DLP_ARRAY_LEN(e));
    assert_int_equal(r->s[1].n, 0);
    run_free(r);
}

static void test_socks5_user_password(void **state)
{
    (void)state;
    /* RFC 1929: offered and chosen; user "alice", password "s3cr3t-pw"; an IPv6
     * destination; the server's status 0 */
    run_t *r = check(S("\x05\x02\x00\x02"
                       "\x01\x05"
                       "alice\x09s3cr3t-pw"
                       "\x05\x01\x00\x04"
                       "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbb"
                       "\x16\x03\x01"),
                     S("\x05\x02"
                       "\x01\x00"
                       "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
                     "s3cr3t-pw");
    const exp_t e[] = {
        {'N', N_CRED, "", NULL, 0, 9},
        {'B', F_RAW, "", S("alice"), 0},
        {'B', F_RAW, "", S("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"), 0}};

    check_rest(&r->o[0], DLP_DONE, S("\x16\x03\x01"));
    check_rest(&r->o[1], DLP_DONE, "", 0);
    ts_check_items(&r->s[0], e, DLP_ARRAY_LEN(e));
    run_free(r);
}

/* Free-form fields a sender fills as it likes are scanned, not only the names: a long
 * methods list (any byte but 0xFF), an IPv6 address (16 bytes), and the reply's own
 * bound address, domain or IPv6 (an inside server's answer is egress too). */
static void test_socks5_free_fields_scanned(void **state)
{
    (void)state;
    run_t *r = check(S("\x05\x10"
                       "4539148803436467"
                       "\x05\x01\x00\x04"
                       "536-22-8417 jane\x00\x50"),
                     S("\x05\x00"
                       "\x05\x00\x00\x03\x14jane.doe@example.com\x00\x50"),
                     NULL);
    const exp_t e0[] = {{'B', F_RAW, "", S("4539148803436467"), 0},
                        {'B', F_RAW, "", S("536-22-8417 jane"), 0}};
    const exp_t e1[] = {{'B', F_RAW, "", S("jane.doe@example.com"), 0}};

    check_rest(&r->o[0], DLP_DONE, "", 0);
    check_rest(&r->o[1], DLP_DONE, "", 0);
    ts_check_items(&r->s[0], e0, DLP_ARRAY_LEN(e0));
    ts_check_items(&r->s[1], e1, DLP_ARRAY_LEN(e1));
    run_free(r);
}

static void test_socks4a(void **state)
{
    (void)state;
    /* the client's request and its tunnel bytes before the reply is seen */
    run_t *r = check(S("\x04\x01\x00\x50\x00\x00\x00\x01"
                       "bob\x00"
                       "host.example\x00"
                       "POST"),
                     S("\x00\x5a\x00\x00\x00\x00\x00\x00"
                       "HTTP"),
                     NULL);
    const exp_t e[] = {{'B', F_RAW, "", S("bob"), 0}, {'B', F_RAW, "", S("host.example"), 0}};

    check_rest(&r->o[0], DLP_DONE, S("POST"));
    check_rest(&r->o[1], DLP_DONE, S("HTTP"));
    ts_check_items(&r->s[0], e, DLP_ARRAY_LEN(e));
    run_free(r);
}

static void test_socks4_address_empty_user(void **state)
{
    (void)state;
    run_t *r = check(S("\x04\x01\x00\x50\xc6\x33\x64\x3c\x00"
                       "x"),
                     S("\x04\x5a\x00\x50\xc6\x33\x64\x3c"), NULL);

    check_rest(&r->o[0], DLP_DONE, S("x"));
    check_rest(&r->o[1], DLP_DONE, "", 0);
    assert_int_equal(r->s[0].n, 0);
    run_free(r);
}

/* --- handshakes that fail: the bytes come back ------------------------------------ */

static void test_not_a_request_after_greeting(void **state)
{
    (void)state;
    run_t *r = check(S("\x05\x01\x00"
                       "note: ssn 523-41-7786\n"),
                     S("\x05\x00"), NULL);

    check_rest(&r->o[0], DLP_EPROTO, S("note: ssn 523-41-7786\n"));
    assert_int_equal(r->o[0].nheld, 3);
    assert_memory_equal(r->o[0].held, "\x05\x01\x00", 3);
    assert_int_equal(r->s[0].n, 0); /* nothing reported: the caller scans it all raw */
    /* the server chose a method: its side waits for the reply that never comes */
    assert_int_equal(r->o[1].rc, DLP_OK);
    run_free(r);
}

static void test_refused(void **state)
{
    (void)state;
    /* no acceptable method (0xFF); a request refused (REP 2, SOCKS4 0x5b) */
    run_t *r = check(S("\x05\x01\x00"),
                     S("\x05\xff"
                       "rest"),
                     NULL);

    check_rest(&r->o[1], DLP_EPROTO,
               S("\xff"
                 "rest"));
    assert_int_equal(r->o[1].nheld, 1);
    run_free(r);
    r = check(S("\x05\x01\x00"
                "\x05\x01\x00\x01\x01\x02\x03\x04\x00\x50"),
              S("\x05\x00"
                "\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00"),
              NULL);
    assert_int_equal(r->o[0].rc, DLP_DONE);
    check_rest(&r->o[1], DLP_EPROTO, S("\x02\x00\x01\x00\x00\x00\x00\x00\x00"));
    assert_int_equal(r->o[1].nheld, 3);
    run_free(r);
    r = check(S("\x04\x01\x00\x50\x01\x02\x03\x04\x00"), S("\x00\x5b\x00\x00\x00\x00\x00\x00"),
              NULL);
    check_rest(&r->o[1], DLP_EPROTO, S("\x5b\x00\x00\x00\x00\x00\x00"));
    run_free(r);
}

static void test_failure_after_password_holds_no_password(void **state)
{
    (void)state;
    /* the request's version byte is wrong: what comes back leaves the password out */
    run_t *r = check(S("\x05\x01\x02"
                       "\x01\x03"
                       "eve\x04pw42"
                       "\x07junk"),
                     "", 0, "pw42");
    const char held[] = "\x05\x01\x02\x01\x03"
                        "eve\x04";
    const exp_t e[] = {{'N', N_CRED, "", NULL, 0, 4}};

    check_rest(&r->o[0], DLP_EPROTO, S("\x07junk"));
    assert_int_equal(r->o[0].nheld, sizeof(held) - 1);
    assert_memory_equal(r->o[0].held, held, sizeof(held) - 1);
    ts_check_items(&r->s[0], e, DLP_ARRAY_LEN(e)); /* no block: the user name goes back raw */
    run_free(r);
}

static void test_socks4_user_id_bound(void **state)
{
    (void)state;
    char c[8 + DLP_SOCKS_NAME_MAX + 3];
    run_t *r;

    memcpy(c, "\x04\x01\x00\x50\x01\x02\x03\x04", 8);
    memset(c + 8, 'u', sizeof(c) - 9);
    c[sizeof(c) - 1] = '\0';
    r = check(c, sizeof(c), "", 0, NULL);
    /* DLP_SOCKS_NAME_MAX bytes are a user id, one more is no SOCKS */
    assert_int_equal(r->o[0].rc, DLP_EPROTO);
    assert_int_equal(r->o[0].nheld, 8 + DLP_SOCKS_NAME_MAX);
    assert_int_equal(r->o[0].nrest, 3);
    run_free(r);
    c[8 + DLP_SOCKS_NAME_MAX] = '\0';
    r = check(c, 8 + DLP_SOCKS_NAME_MAX + 1, "", 0, NULL);
    assert_int_equal(r->o[0].rc, DLP_DONE);
    run_free(r);
}

static void test_gap_and_bad_arguments(void **state)
{
    (void)state;
    ts_sink_t t[2];
    void *ctx[2] = {&t[0], &t[1]};
    dlp_socks_t *s = dlp_socks_new(&ts_sink_ops, ctx);
    const uint8_t *h;
    size_t used = 9;

    memset(t, 0, sizeof(t));
    assert_int_equal(dlp_socks_write(s, 0, (const uint8_t *)"\x05\x01", 2, &used), DLP_OK);
    dlp_socks_gap(s, 0);
    assert_int_equal(dlp_socks_write(s, 0, (const uint8_t *)"\x00", 1, &used), DLP_EPROTO);
    assert_int_equal(used, 0);
    assert_int_equal(dlp_socks_held(s, 0, &h), 2);
    /* the server's bytes without a client version: no SOCKS */
    assert_int_equal(dlp_socks_write(s, 2, (const uint8_t *)"x", 1, &used), DLP_EINVAL);
    dlp_socks_free(s);
    dlp_socks_free(NULL);
    assert_int_equal(dlp_socks_mem(NULL), 0);
    ts_reset(&t[0]);
    ts_reset(&t[1]);
}

static void test_sniff(void **state)
{
    (void)state;
    static const struct {
        const char *p;
        size_t n;
        dlp_socks_sniff_t want;
    } c[] = {
        {S("\x05"), DLP_SOCKS_SNIFF_MORE},
        {S("\x05\x01"), DLP_SOCKS_SNIFF_MORE},
        {S("\x05\x01\x00"), DLP_SOCKS_SNIFF_YES},
        {S("\x05\x02\x00\x02"), DLP_SOCKS_SNIFF_YES},
        {S("\x05\x01\x00\x05\x01"), DLP_SOCKS_SNIFF_YES}, /* the request at once */
        {S("\x05\x01\x00X"), DLP_SOCKS_SNIFF_NO},
        {S("\x05\x00"), DLP_SOCKS_SNIFF_NO},
        {S("\x05\x01\xff"), DLP_SOCKS_SNIFF_NO},
        {S("\x04\x01\x00\x50\x01\x02\x03"), DLP_SOCKS_SNIFF_MORE},
        {S("\x04\x01\x00\x50\x01\x02\x03\x04\x00"), DLP_SOCKS_SNIFF_YES},
        {S("\x04\x03"), DLP_SOCKS_SNIFF_NO},
        {S("\x04\x01\x00\x00"), DLP_SOCKS_SNIFF_NO},
        {S("GET / HTTP/1.1"), DLP_SOCKS_SNIFF_NO},
        {"", 0, DLP_SOCKS_SNIFF_MORE},
    };

    for (size_t i = 0; i < DLP_ARRAY_LEN(c); i++) {
        if (dlp_socks_sniff((const uint8_t *)c[i].p, c[i].n) != c[i].want) {
            fprintf(stderr, "sniff case %zu\n", i);
            fail();
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socks5_no_auth_domain),
        cmocka_unit_test(test_socks5_user_password),
        cmocka_unit_test(test_socks5_free_fields_scanned),
        cmocka_unit_test(test_socks4a),
        cmocka_unit_test(test_socks4_address_empty_user),
        cmocka_unit_test(test_not_a_request_after_greeting),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_failure_after_password_holds_no_password),
        cmocka_unit_test(test_socks4_user_id_bound),
        cmocka_unit_test(test_gap_and_bad_arguments),
        cmocka_unit_test(test_sniff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
