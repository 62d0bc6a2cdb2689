/*
 * test_aggregate.c - distinct values per rule, sender and receiver across
 * flows: counting, repeats, the window, starting over after an event, the
 * flows counted (also when their sort buffer cannot be had: malloc is
 * wrapped at link time, -Wl,--wrap=malloc), pairs kept apart, and the
 * memory bound.
 */
#include "dlp_test.h"

#include <stdbool.h>
#include <string.h>

#include "detect_int.h"

#define S 1000000ULL /* one second in microseconds */

static uint8_t g_a[16], g_b[16], g_c[16];
static bool g_malloc_fails;
static unsigned g_malloc_failed;

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n)
{
    if (g_malloc_fails) {
        g_malloc_failed++;
        return NULL;
    }
    return __real_malloc(n);
}

static bool add(dlp_agg_t *a, const uint8_t *src, const uint8_t *dst, uint64_t fp, uint64_t flow,
                uint64_t ts, uint32_t *flows)
{
    dlp_agg_value_t v = {.rule = 7, .src = src, .dst = dst, .fp = fp, .flow = flow, .ts_us = ts,
                         .values = 3, .window_us = 600 * S};
    uint64_t evicted = 0;
    dlp_agg_rc_t rc = dlp_agg_add(a, &v, flows, &evicted);

    assert_int_equal(evicted, 0);
    assert_int_not_equal(rc, DLP_AGG_NOMEM);
    return rc == DLP_AGG_MET;
}

static void counts_distinct_values_across_flows(void **state)
{
    dlp_agg_t *a = dlp_agg_new(1 << 20, 1);
    uint32_t flows = 0;

    (void)state;
    assert_non_null(a);
    assert_false(add(a, g_a, g_b, 11, 1, 0, &flows));
    assert_false(add(a, g_a, g_b, 11, 2, 1 * S, &flows)); /* the same value again */
    assert_false(add(a, g_a, g_c, 12, 3, 2 * S, &flows)); /* another receiver */
    assert_false(add(a, g_b, g_a, 13, 4, 3 * S, &flows)); /* the reverse pair */
    assert_false(add(a, g_a, g_b, 14, 5, 4 * S, &flows));
    assert_true(add(a, g_a, g_b, 15, 5, 5 * S, &flows));
    assert_int_equal(flows, 2); /* flows 1 and 5 */
    /* it starts over: three new values for the next event; one already counted
     * in the window, sent again, is not new */
    assert_false(add(a, g_a, g_b, 11, 6, 6 * S, &flows));
    assert_false(add(a, g_a, g_b, 15, 6, 6 * S, &flows));
    assert_false(add(a, g_a, g_b, 16, 7, 7 * S, &flows));
    assert_false(add(a, g_a, g_b, 17, 8, 8 * S, &flows));
    assert_true(add(a, g_a, g_b, 18, 8, 9 * S, &flows));
    assert_int_equal(flows, 2); /* flows 7 and 8 brought 16, 17, 18 */
    assert_true(dlp_agg_mem(a) > 0);
    dlp_agg_free(a);
}

static void values_leave_the_window(void **state)
{
    dlp_agg_t *a = dlp_agg_new(1 << 20, 2);
    uint32_t flows = 0;

    (void)state;
    assert_false(add(a, g_a, g_b, 21, 1, 0, &flows));
    assert_false(add(a, g_a, g_b, 22, 2, 300 * S, &flows));
    /* 601 s after the first: it has left the window; 22 has not */
    assert_false(add(a, g_a, g_b, 23, 3, 601 * S, &flows));
    assert_true(add(a, g_a, g_b, 24, 4, 700 * S, &flows));
    assert_int_equal(flows, 3);
    /* exactly at the edge a value still counts */
    assert_false(add(a, g_a, g_b, 31, 5, 1000 * S, &flows));
    assert_false(add(a, g_a, g_b, 32, 5, 1000 * S, &flows));
    assert_true(add(a, g_a, g_b, 33, 5, 1600 * S, &flows));
    assert_int_equal(flows, 1);
    dlp_agg_free(a);
}

/*
 * Against a plain model (a list scanned whole): random values from a small
 * range, so that the set sees collisions, repeats, and removals as values
 * leave the window, over many events.
 */
static void matches_a_model(void **state)
{
    enum { OPS = 20000, RANGE = 300, K = 7 };
    static uint64_t mfp[OPS], mts[OPS];
    dlp_agg_t *a = dlp_agg_new(1 << 24, 4);
    size_t head = 0, n = 0, counted = 0, met = 0;
    uint64_t x = 88172645463325252ULL, ts = 0;

    (void)state;
    for (int op = 0; op < OPS; op++) {
        uint32_t flows = 0;
        uint64_t fp;
        bool seen = false, want;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        fp = 2 + x % RANGE;
        ts += x % 3 * S;
        while (n > 0 && mts[head] + 60 * S < ts) {
            head++;
            n--;
            if (counted > n)
                counted = n;
        }
        for (size_t i = head; i < head + n && !seen; i++)
            seen = mfp[i] == fp;
        want = false;
        if (!seen) {
            mfp[head + n] = fp;
            mts[head + n] = ts;
            n++;
            if (++counted >= K) {
                counted = 0;
                want = true;
                met++;
            }
        }
        dlp_agg_value_t v = {.rule = 9, .src = g_a, .dst = g_b, .fp = fp, .flow = 1,
                             .ts_us = ts, .values = K, .window_us = 60 * S};
        uint64_t evicted = 0;
        assert_int_equal(dlp_agg_add(a, &v, &flows, &evicted) == DLP_AGG_MET, want);
    }
    assert_true(met > 100);
    dlp_agg_free(a);
}

/* Interleaved flows, with and without memory for the sort: the same count. */
static void flows_counted_without_memory(void **state)
{
    (void)state;
    for (int fails = 0; fails < 2; fails++) {
        dlp_agg_t *a = dlp_agg_new(1 << 20, 5);
        uint64_t evicted = 0;
        uint32_t flows = 0;
        dlp_agg_rc_t rc = DLP_AGG_COUNTED;

        assert_non_null(a);
        for (uint64_t i = 0; i < 100; i++) {
            dlp_agg_value_t v = {.rule = 2, .src = g_a, .dst = g_b, .fp = 100 + i,
                                 .flow = 40 + i * 5 % 7, .ts_us = i, .values = 100,
                                 .window_us = 600 * S};
            g_malloc_fails = fails;
            rc = dlp_agg_add(a, &v, &flows, &evicted);
            g_malloc_fails = false;
        }
        assert_int_equal(rc, DLP_AGG_MET);
        assert_int_equal(flows, 7);
        assert_int_equal(g_malloc_failed > 0, fails); /* the buffer was refused */
        dlp_agg_free(a);
    }
}

/* Past the memory bound the pairs touched least recently are dropped. */
static void memory_bound_drops_old_pairs(void **state)
{
    dlp_agg_t *a = dlp_agg_new(16 * 1024, 3);
    uint64_t evicted = 0;
    uint32_t flows = 0;
    uint8_t dst[16];

    (void)state;
    memset(dst, 0, sizeof(dst));
    for (uint32_t i = 0; i < 1000; i++) {
        memcpy(dst + 12, &i, 4);
        dlp_agg_value_t v = {.rule = 1, .src = g_a, .dst = dst, .fp = i, .flow = i, .ts_us = i,
                             .values = 3, .window_us = 600 * S};
        assert_int_equal(dlp_agg_add(a, &v, &flows, &evicted), DLP_AGG_COUNTED);
        assert_true(dlp_agg_mem(a) <= 16 * 1024);
    }
    assert_true(evicted > 900);
    /* the most recent pair is still counted */
    dlp_agg_value_t v = {.rule = 1, .src = g_a, .dst = dst, .fp = 5000, .flow = 1, .ts_us = 2000,
                         .values = 2, .window_us = 600 * S};
    assert_int_equal(dlp_agg_add(a, &v, &flows, &evicted), DLP_AGG_MET);
    dlp_agg_free(a);
}

int main(void)
{
    memset(g_a, 0, 16);
    memset(g_b, 0, 16);
    memset(g_c, 0, 16);
    g_a[15] = 1;
    g_b[15] = 2;
    g_c[15] = 3;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_distinct_values_across_flows),
        cmocka_unit_test(values_leave_the_window),
        cmocka_unit_test(matches_a_model),
        cmocka_unit_test(flows_counted_without_memory),
        cmocka_unit_test(memory_bound_drops_old_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
