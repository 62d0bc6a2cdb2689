/*
 * test_stats.c - counter blocks: single-writer updates, names and groups,
 * summing the blocks of several threads.
 */
#include "dlp_test.h"

#include "dlp/stats.h"

static void add_set_sub_and_accumulate(void **state)
{
    dlp_stats_t a, b, sum;

    (void)state;
    dlp_stats_init(&a);
    dlp_stats_init(&b);
    dlp_stats_init(&sum);
    dlp_stat_inc(&a, DLP_STAT_PACKETS);
    dlp_stat_add(&a, DLP_STAT_BYTES, 1500);
    dlp_stat_add(&b, DLP_STAT_BYTES, 500);
    dlp_stat_set(&b, DLP_STAT_FLOW_ACTIVE, 7);
    dlp_stat_sub(&b, DLP_STAT_FLOW_ACTIVE, 2);
    dlp_stats_accumulate(&sum, &a);
    dlp_stats_accumulate(&sum, &b);
    assert_int_equal(dlp_stat_get(&sum, DLP_STAT_PACKETS), 1);
    assert_int_equal(dlp_stat_get(&sum, DLP_STAT_BYTES), 2000);
    assert_int_equal(dlp_stat_get(&sum, DLP_STAT_FLOW_ACTIVE), 5);
    assert_int_equal(dlp_stat_get(&sum, DLP_STAT_ALERTS), 0);
}

static void interface_names_are_top_level(void **state)
{
    static const dlp_stat_id_t top[] = {DLP_STAT_PACKETS,      DLP_STAT_BYTES,
                                        DLP_STAT_FLOWS,        DLP_STAT_DROPPED,
                                        DLP_STAT_DECODE_ERRORS, DLP_STAT_REASM_GAPS,
                                        DLP_STAT_ALERTS};
    static const char *const names[] = {"packets", "bytes",         "flows",  "dropped",
                                        "decode_errors", "reassembly_gaps", "alerts"};

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(top); i++) {
        assert_string_equal(dlp_stat_name(top[i]), names[i]);
        assert_string_equal(dlp_stat_group(top[i]), "");
    }
    assert_string_equal(dlp_stat_group(DLP_STAT_TCP_OOO), "tcp");
    /* (group, name) pairs are unique: they become JSON keys */
    for (int i = 0; i < DLP_STAT__COUNT; i++)
        for (int j = i + 1; j < DLP_STAT__COUNT; j++)
            assert_false(strcmp(dlp_stat_name(i), dlp_stat_name(j)) == 0 &&
                         strcmp(dlp_stat_group(i), dlp_stat_group(j)) == 0);
}

/* "dropped" is the sum of the places that lose packets, whatever the counter itself holds. */
static void dropped_is_derived(void **state)
{
    dlp_stats_t s;

    (void)state;
    dlp_stats_init(&s);
    assert_int_equal(dlp_stats_dropped(&s), 0);
    dlp_stat_add(&s, DLP_STAT_CAP_KERNEL_DROPS, 5);
    dlp_stat_add(&s, DLP_STAT_CAP_IF_DROPS, 7);
    dlp_stat_add(&s, DLP_STAT_CAP_RING_DROPS, 11);
    dlp_stat_add(&s, DLP_STAT_DROPPED, 100);
    dlp_stat_add(&s, DLP_STAT_EVENTS_DROPPED, 1000); /* events, not packets */
    assert_int_equal(dlp_stats_dropped(&s), 23);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_set_sub_and_accumulate),
        cmocka_unit_test(interface_names_are_top_level),
        cmocka_unit_test(dropped_is_derived),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
