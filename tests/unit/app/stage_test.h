/*
 * stage_test.h - helpers of the content stage tests: build a chain ending in
 * a sink stage over the recording sink, feed it an input in one write, in
 * two writes split at every offset, and in 1-byte writes, and compare what
 * the sink recorded.
 */
#ifndef STAGE_TEST_H
#define STAGE_TEST_H

#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "app_test_sink.h"
#include "dlp/stage.h"

/* Builds a chain whose last stage writes to 't'. */
typedef dlp_stage_t *(*st_build_fn)(ts_sink_t *t, void *arg);

typedef struct st_run {
    ts_sink_t *t;
    dlp_rc_t first_err; /* first error a write or end returned, else DLP_OK */
    int chunked;        /* the head is a chunked stage: stop at its end */
    dlp_rc_t status;    /* its dlp_stage_chunked_status() after the last write */
    uint64_t consumed;  /* bytes the chunked stage said were the body */
    uint64_t in_bytes;  /* head->in_bytes at the end */
} st_run_t;

static inline ts_sink_t *st_sink_new(void)
{
    ts_sink_t *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    return t;
}

static inline void st_sink_free(ts_sink_t *t)
{
    if (t != NULL) {
        ts_reset(t);
        free(t);
    }
}

static inline void st_run_fini(st_run_t *r)
{
    st_sink_free(r->t);
    r->t = NULL;
}

/*
 * Feeds p[0, n) in pieces: cut[] lists the piece ends (ncut of them, the
 * last n), or step > 0 for pieces of 'step' bytes.
 */
static inline st_run_t st_feed(st_build_fn build, void *arg, int chunked, const uint8_t *p,
                               size_t n, const size_t *cut, size_t ncut, size_t step)
{
    st_run_t r = {.t = st_sink_new(), .chunked = chunked, .status = DLP_AGAIN};
    dlp_stage_t *head = build(r.t, arg);
    size_t at = 0, k = 0;
    dlp_rc_t rc;

    assert_non_null(head);
    while (at < n) {
        size_t end = step > 0 ? (at + step < n ? at + step : n) : cut[k++];
        size_t used = 0;
        rc = dlp_stage_write(head, p + at, end - at);
        if (rc < 0 && r.first_err == DLP_OK)
            r.first_err = rc;
        if (chunked) {
            r.status = dlp_stage_chunked_status(head, &used);
            r.consumed += used;
            if (r.status != DLP_AGAIN)
                break;
            assert_int_equal(used, end - at);
        }
        at = end;
        (void)ncut;
    }
    r.in_bytes = head->in_bytes;
    rc = dlp_stage_end(head);
    if (rc < 0 && r.first_err == DLP_OK)
        r.first_err = rc;
    dlp_stage_free_chain(head);
    return r;
}

static inline st_run_t st_feed_one(st_build_fn build, void *arg, int chunked, const uint8_t *p,
                                   size_t n)
{
    size_t cut[1] = {n};
    return st_feed(build, arg, chunked, p, n, cut, n > 0 ? 1 : 0, 0);
}

static inline void st_expect_same(const st_run_t *a, const st_run_t *b, const char *what, size_t at)
{
    if (!ts_equal(a->t, b->t) || a->status != b->status || a->consumed != b->consumed) {
        fprintf(stderr, "%s at %zu differs; one write (status %d consumed %llu):\n", what, at,
                a->status, (unsigned long long)a->consumed);
        ts_dump(a->t);
        fprintf(stderr, "split (status %d consumed %llu):\n", b->status,
                (unsigned long long)b->consumed);
        ts_dump(b->t);
        fail();
    }
}

/*
 * The one-write result of p[0, n) (the caller checks it and st_run_fini()s
 * it), after checking that splits at every offset (every 'stride'-th) and
 * 1-byte writes give the same.
 */
static inline st_run_t st_check_splits(st_build_fn build, void *arg, int chunked, const uint8_t *p,
                                       size_t n, size_t stride)
{
    st_run_t one = st_feed_one(build, arg, chunked, p, n), r;

    if (stride == 0)
        stride = 1;
    for (size_t k = 1; k < n; k += stride) {
        size_t cut[2] = {k, n};
        r = st_feed(build, arg, chunked, p, n, cut, 2, 0);
        st_expect_same(&one, &r, "split", k);
        st_run_fini(&r);
    }
    r = st_feed(build, arg, chunked, p, n, NULL, 0, 1);
    st_expect_same(&one, &r, "1-byte writes", 1);
    st_run_fini(&r);
    return one;
}

/* The only stream of a run: its bytes (NUL-terminated) and length. */
static inline const char *st_stream(const st_run_t *r, size_t *len)
{
    int i = ts_find(r->t, 'S', DLP_FIELD_HTTP_BODY, 0);
    if (i < 0) {
        *len = 0;
        return NULL;
    }
    assert_int_equal(ts_find(r->t, 'S', DLP_FIELD_HTTP_BODY, (size_t)i + 1), -1);
    *len = r->t->item[i].len;
    return ts_str(r->t, (size_t)i);
}

/* Number of notes of a kind in a run. */
static inline int st_notes(const st_run_t *r, dlp_app_note_t note)
{
    int c = 0;
    for (size_t i = 0; i < r->t->n; i++)
        c += r->t->item[i].kind == 'N' && r->t->item[i].field == (int)note;
    return c;
}

static inline int st_all_notes(const st_run_t *r)
{
    int c = 0;
    for (size_t i = 0; i < r->t->n; i++)
        c += r->t->item[i].kind == 'N';
    return c;
}

static inline dlp_stage_t *st_sink_stage(ts_sink_t *t)
{
    dlp_stage_t *s = dlp_stage_sink_new(&ts_sink_ops, t, DLP_FIELD_HTTP_BODY, NULL);
    assert_non_null(s);
    return s;
}

/* Exact output: the stream equals want[0, wn) (no stream at all if wn == 0). */
static inline void st_assert_stream(const st_run_t *r, const void *want, size_t wn)
{
    size_t len = 0;
    const char *s = st_stream(r, &len);

    if (wn == 0) {
        assert_null(s);
        return;
    }
    assert_non_null(s);
    assert_int_equal(len, wn);
    assert_memory_equal(s, want, wn);
}

#endif
