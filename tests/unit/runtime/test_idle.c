/*
 * test_idle.c - the output thread's sleep while the rings stay empty: 1 ms,
 * doubling up to DLP_OUTPUT_IDLE_MAX_MS, back to 1 ms after work (audit F7:
 * an idle sensor woke 1000 times a second).
 */
#include "dlp_test.h"

#include "runtime_int.h"

static void idle_sleep_backs_off_and_resets(void **state)
{
    unsigned ms = 0, sum = 0, n = 0;

    (void)state;
    assert_int_equal(dlp_runtime__idle_ms(0), 1);
    assert_int_equal(dlp_runtime__idle_ms(1), 2);
    assert_int_equal(dlp_runtime__idle_ms(8), 16);
    assert_int_equal(dlp_runtime__idle_ms(16), DLP_OUTPUT_IDLE_MAX_MS);
    assert_int_equal(dlp_runtime__idle_ms(DLP_OUTPUT_IDLE_MAX_MS), DLP_OUTPUT_IDLE_MAX_MS);
    /* a second of idling: tens of wake-ups, not a thousand */
    while (sum < 1000) {
        ms = dlp_runtime__idle_ms(ms);
        sum += ms;
        n++;
    }
    assert_true(n <= 1000 / DLP_OUTPUT_IDLE_MAX_MS + 5);
    assert_true(DLP_OUTPUT_IDLE_MAX_MS >= 16 && DLP_OUTPUT_IDLE_MAX_MS <= 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_sleep_backs_off_and_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
