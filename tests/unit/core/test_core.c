/*
 * test_core.c - ring, hash, cidr, time formatting.
 */
#include "dlp_test.h"

#include <pthread.h>

#include "dlp/cidr.h"
#include "dlp/hash.h"
#include "dlp/ring.h"
#include "dlp/timefmt.h"

static void ring_fifo_and_bounds(void **state)
{
    (void)state;
    dlp_ring_t *r = dlp_ring_new(sizeof(uint64_t), 5); /* rounds up to 8 */
    assert_non_null(r);
    assert_int_equal(dlp_ring_capacity(r), 8);
    uint64_t v;
    assert_false(dlp_ring_pop(r, &v));
    for (uint64_t i = 0; i < 8; i++)
        assert_true(dlp_ring_push(r, &i));
    uint64_t extra = 99;
    assert_false(dlp_ring_push(r, &extra)); /* full: refused, not overwritten */
    assert_int_equal(dlp_ring_count(r), 8);
    for (uint64_t i = 0; i < 8; i++) {
        assert_true(dlp_ring_pop(r, &v));
        assert_int_equal(v, i);
    }
    assert_false(dlp_ring_pop(r, &v));
    dlp_ring_free(r);
}

#define N_ITEMS 1000000
static void *producer(void *arg)
{
    dlp_ring_t *r = arg;
    dlp_backoff_t b;
    dlp_backoff_init(&b, 100);
    for (uint64_t i = 1; i <= N_ITEMS; i++) {
        while (!dlp_ring_push(r, &i))
            dlp_backoff_wait(&b);
        dlp_backoff_reset(&b);
    }
    return NULL;
}

static void ring_two_threads(void **state)
{
    (void)state;
    dlp_ring_t *r = dlp_ring_new(sizeof(uint64_t), 64);
    pthread_t t;
    dlp_backoff_t b;
    uint64_t expect = 1, v;

    dlp_backoff_init(&b, 100);
    assert_int_equal(pthread_create(&t, NULL, producer, r), 0);
    while (expect <= N_ITEMS) {
        if (!dlp_ring_pop(r, &v)) {
            dlp_backoff_wait(&b);
            continue;
        }
        dlp_backoff_reset(&b);
        assert_int_equal(v, expect);
        expect++;
    }
    pthread_join(t, NULL);
    dlp_ring_free(r);
}

static void hash_differs_by_seed_and_input(void **state)
{
    (void)state;
    const char a[] = "abcdefghijklmnopq";
    assert_int_equal(dlp_hash_bytes(a, 17, 1), dlp_hash_bytes(a, 17, 1));
    assert_int_not_equal(dlp_hash_bytes(a, 17, 1), dlp_hash_bytes(a, 17, 2));
    assert_int_not_equal(dlp_hash_bytes(a, 17, 1), dlp_hash_bytes(a, 16, 1));
    assert_int_not_equal(dlp_hash_bytes(a, 3, 1), dlp_hash_bytes("abd", 3, 1));
}

static void cidr_sets(void **state)
{
    (void)state;
    dlp_cidr_set_t s = {0};
    const char *bad = NULL;
    dlp_cidr_t c;
    assert_int_equal(dlp_cidr_set_parse(&s, "10.0.0.0/8, 192.168.1.0/24,fc00::/7", &bad), DLP_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(dlp_cidr_parse("10.1.2.3", &c), DLP_OK);
    assert_true(dlp_cidr_set_contains(&s, c.addr));
    assert_int_equal(dlp_cidr_parse("11.1.2.3", &c), DLP_OK);
    assert_false(dlp_cidr_set_contains(&s, c.addr));
    assert_int_equal(dlp_cidr_parse("192.168.1.255", &c), DLP_OK);
    assert_true(dlp_cidr_set_contains(&s, c.addr));
    assert_int_equal(dlp_cidr_parse("192.168.2.1", &c), DLP_OK);
    assert_false(dlp_cidr_set_contains(&s, c.addr));
    assert_int_equal(dlp_cidr_parse("fd12::1", &c), DLP_OK);
    assert_true(dlp_cidr_set_contains(&s, c.addr));
    assert_int_equal(dlp_cidr_parse("2001:db8::1", &c), DLP_OK);
    assert_false(dlp_cidr_set_contains(&s, c.addr));
    /* An IPv4 prefix never covers an IPv6 address and vice versa. */
    assert_int_equal(dlp_cidr_parse("::a00:1", &c), DLP_OK);
    assert_false(dlp_cidr_set_contains(&s, c.addr));
    assert_int_equal(dlp_cidr_set_parse(&s, "10.0.0.0/33", &bad), DLP_EINVAL);
    assert_string_equal(bad, "10.0.0.0/33");
    assert_int_equal(dlp_cidr_set_parse(&s, "1.2.3.4,nonsense", &bad), DLP_EINVAL);
    assert_string_equal(bad, "nonsense");
    /* An empty item is a mistake (an unset variable, a stray comma), wherever it is:
     * an empty home network would make nothing egress, and say nothing. */
    assert_int_equal(dlp_cidr_set_parse(&s, "10.0.0.0/8,", &bad), DLP_EINVAL);
    assert_string_equal(bad, "");
    assert_int_equal(dlp_cidr_set_parse(&s, "10.0.0.0/8, ,1.2.3.4", &bad), DLP_EINVAL);
    assert_string_equal(bad, ",1.2.3.4");
    assert_int_equal(dlp_cidr_set_parse(&s, "", &bad), DLP_EINVAL);
    assert_int_equal(dlp_cidr_set_parse(&s, " ", &bad), DLP_EINVAL);
    assert_int_equal(dlp_cidr_parse("0.0.0.0/0", &c), DLP_OK);
    assert_int_equal(c.bits, 96);
    dlp_cidr_set_fini(&s);
}

static void addr_format(void **state)
{
    (void)state;
    dlp_cidr_t c;
    char buf[64];
    assert_int_equal(dlp_cidr_parse("198.51.100.7", &c), DLP_OK);
    assert_string_equal(dlp_addr_str(c.addr, buf, sizeof(buf)), "198.51.100.7");
    assert_int_equal(dlp_cidr_parse("2001:db8::7", &c), DLP_OK);
    assert_string_equal(dlp_addr_str(c.addr, buf, sizeof(buf)), "2001:db8::7");
}

static void iso_time(void **state)
{
    (void)state;
    char buf[40];
    assert_string_equal(dlp_time_iso(1795933460123456ULL, buf, sizeof(buf)),
                        "2026-11-29T06:24:20.123456+0000");
    assert_string_equal(dlp_time_iso(0, buf, sizeof(buf)), "1970-01-01T00:00:00.000000+0000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_fifo_and_bounds), cmocka_unit_test(ring_two_threads),
        cmocka_unit_test(hash_differs_by_seed_and_input), cmocka_unit_test(cidr_sets),
        cmocka_unit_test(addr_format), cmocka_unit_test(iso_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
