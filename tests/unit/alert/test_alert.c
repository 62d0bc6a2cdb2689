/*
 * test_alert.c - the hand-off of records to the output thread: a live
 * worker drops and counts when the ring is full, a replaying one waits
 * (until told to stop); field names.
 */
#include "dlp_test.h"

#include <pthread.h>

#include "dlp/alert.h"

static void full_ring_drops_and_counts_when_live(void **state)
{
    dlp_ring_t *r = dlp_ring_new(sizeof(dlp_event_t), 2);
    dlp_stats_t st;
    dlp_event_t ev;

    (void)state;
    dlp_stats_init(&st);
    memset(&ev, 0, sizeof(ev));
    ev.type = DLP_EV_DLP;
    assert_true(dlp_alert_push(r, &ev, false, NULL, &st));
    assert_true(dlp_alert_push(r, &ev, false, NULL, &st));
    assert_false(dlp_alert_push(r, &ev, false, NULL, &st));
    assert_int_equal(dlp_stat_get(&st, DLP_STAT_EVENTS_DROPPED), 1);
    dlp_ring_free(r);
}

typedef struct drainer {
    dlp_ring_t *r;
    int got;
} drainer_t;

static void *drain_later(void *arg)
{
    drainer_t *d = arg;
    dlp_event_t ev;
    struct timespec ts = {0, 20 * 1000 * 1000};

    nanosleep(&ts, NULL);
    while (d->got < 3)
        if (dlp_ring_pop(d->r, &ev))
            d->got++;
    return NULL;
}

static void full_ring_waits_when_replaying(void **state)
{
    dlp_ring_t *r = dlp_ring_new(sizeof(dlp_event_t), 2);
    drainer_t d = {r, 0};
    atomic_int stop = 0;
    dlp_stats_t st;
    dlp_event_t ev;
    pthread_t t;

    (void)state;
    dlp_stats_init(&st);
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(pthread_create(&t, NULL, drain_later, &d), 0);
    for (int i = 0; i < 3; i++)
        assert_true(dlp_alert_push(r, &ev, true, &stop, &st));
    pthread_join(t, NULL);
    assert_int_equal(d.got, 3);
    assert_int_equal(dlp_stat_get(&st, DLP_STAT_EVENTS_DROPPED), 0);
    /* told to stop, a waiting push gives up (and counts the record) */
    assert_true(dlp_alert_push(r, &ev, true, &stop, &st));
    assert_true(dlp_alert_push(r, &ev, true, &stop, &st));
    atomic_store(&stop, 1);
    assert_false(dlp_alert_push(r, &ev, true, &stop, &st));
    assert_int_equal(dlp_stat_get(&st, DLP_STAT_EVENTS_DROPPED), 1);
    dlp_ring_free(r);
}

static void field_names(void **state)
{
    (void)state;
    assert_string_equal(dlp_field_name(DLP_FIELD_RAW), "raw");
    assert_string_equal(dlp_field_name((dlp_field_t)200), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_ring_drops_and_counts_when_live),
        cmocka_unit_test(full_ring_waits_when_replaying),
        cmocka_unit_test(field_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
