/*
 * stage.c - the content stage framework (curl's content writers) and the
 * sink stage that ends every chain.
 *
 * A chain is a singly linked list from its head (the stage the decoder
 * writes to) to a sink stage (or another stage without next, such as the
 * MIME stage). Invariants:
 *  - every stage's sink/sink_ctx are those of the stage at the end of its
 *    chain: a constructor copies them from 'next', which copied them from
 *    its own next (dlp_stage_alloc); dlp_stage_note() also walks the chain
 *    when a stage has none;
 *  - a stage whose write() or end() returned an error is 'failed': it
 *    passes nothing on and the framework swallows what is written to it.
 *    Only the stage that found a problem notes it; a stage that got the
 *    error back from dlp_stage_emit() stops without a note, so a problem is
 *    noted exactly once. The chunked stage keeps reading its framing when a
 *    later stage failed (the HTTP parser needs the body's end);
 *  - dlp_stage_end() ends each stage once, head first: a failed stage is not
 *    flushed, but the stages after it are still ended, so the sink stream is
 *    always closed. It is idempotent (an ops->end() that ends st->next
 *    itself is harmless), and a stage that was ended swallows writes;
 *  - ops->free() frees its own stage only; dlp_stage_free_chain() walks;
 *  - the notes of the content stages carry bytes = 0: a stage that gives up
 *    does not know how much of the body is still to come (and a count of
 *    the rest of the current write would depend on how the input was split).
 * The sink stage opens its stream at the first byte (an empty body opens
 * nothing) and closes it at end; when open() returns NULL the stream is not
 * inspected and the sink stage swallows the rest (a 'failed' state without a
 * note), which lets the stages before it skip work.
 *
 * Thread: a chain belongs to the worker that owns the flow.
 */
#include "dlp/stage.h"

#include <stdlib.h>
#include <string.h>

#include "dlp/limits.h"
#include "stage_int.h"

/* Values of dlp_stage_t.failed: bits, any of them swallows writes. */
#define ST_FAILED 1u
#define ST_ENDED 2u

/* The whole name a decoder kept: the sink's consumer masks the values in it
 * before it cuts it to what events show (a cut value would no longer be one). */
#define SINK_NAME_MAX (DLP_APP_NAME_MAX - 1)

void dlp_app_limits_default(dlp_app_limits_t *l)
{
    if (l == NULL)
        return;
    l->line_max = DLP_APP_LINE_MAX;
    l->header_block_max = DLP_APP_HEADER_BLOCK_MAX;
    l->mime_depth_max = DLP_APP_MIME_DEPTH_MAX;
    l->decomp_max = DLP_APP_DECOMP_MAX;
    l->decomp_ratio_max = DLP_APP_DECOMP_RATIO_MAX;
    l->chain_max = DLP_APP_CHAIN_MAX;
}

dlp_stage_t *dlp_stage_alloc(size_t size, const dlp_stage_ops_t *ops, dlp_stage_t *next)
{
    dlp_stage_t *st;

    if (next == NULL || size < sizeof(dlp_stage_t))
        return NULL;
    st = calloc(1, size);
    if (st == NULL)
        return NULL;
    st->ops = ops;
    st->next = next;
    st->sink = next->sink;
    st->sink_ctx = next->sink_ctx;
    return st;
}

dlp_rc_t dlp_stage_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    dlp_rc_t rc;

    if (st == NULL || st->failed != 0 || n == 0)
        return DLP_OK;
    st->in_bytes += n;
    rc = st->ops->write(st, p, n);
    if (rc < 0)
        st->failed |= ST_FAILED;
    return rc;
}

dlp_rc_t dlp_stage_emit(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    if (st == NULL || n == 0)
        return DLP_OK;
    st->out_bytes += n;
    return dlp_stage_write(st->next, p, n);
}

dlp_rc_t dlp_stage_end(dlp_stage_t *st)
{
    dlp_rc_t rc = DLP_OK;

    for (; st != NULL; st = st->next) {
        if (st->failed & ST_ENDED)
            continue;
        if (st->failed == 0 && st->ops->end != NULL) {
            dlp_rc_t r = st->ops->end(st);
            if (r < 0) {
                st->failed |= ST_FAILED;
                if (rc == DLP_OK)
                    rc = r;
            }
        }
        st->failed |= ST_ENDED;
    }
    return rc;
}

void dlp_stage_free_chain(dlp_stage_t *st)
{
    while (st != NULL) {
        dlp_stage_t *next = st->next;
        if (st->ops != NULL && st->ops->free != NULL)
            st->ops->free(st);
        else
            free(st);
        st = next;
    }
}

void dlp_stage_note(dlp_stage_t *st, dlp_app_note_t note, uint64_t bytes)
{
    while (st != NULL && st->sink == NULL)
        st = st->next;
    if (st != NULL && st->sink->note != NULL)
        st->sink->note(st->sink_ctx, note, bytes);
}

/* --- the sink stage ---------------------------------------------------------- */

typedef struct sink_stage {
    dlp_stage_t base;
    dlp_field_t field;
    void *h;
    uint8_t opened;
    uint8_t has_name;
    char name[SINK_NAME_MAX + 1];
} sink_stage_t;

static dlp_rc_t sink_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    sink_stage_t *s = (sink_stage_t *)st;
    const dlp_content_sink_t *k = st->sink;

    if (!s->opened) {
        s->opened = 1;
        if (k->open != NULL)
            s->h = k->open(st->sink_ctx, s->field, s->has_name ? s->name : NULL);
        if (s->h == NULL) {
            st->failed |= ST_FAILED; /* not inspected: not an error, no note */
            return DLP_OK;
        }
    }
    if (k->write != NULL)
        k->write(st->sink_ctx, s->h, p, n);
    return DLP_OK;
}

static dlp_rc_t sink_end(dlp_stage_t *st)
{
    sink_stage_t *s = (sink_stage_t *)st;

    if (s->h != NULL && st->sink->close != NULL)
        st->sink->close(st->sink_ctx, s->h);
    s->h = NULL;
    return DLP_OK;
}

static void sink_free(dlp_stage_t *st)
{
    free(st);
}

static const dlp_stage_ops_t sink_ops = {
    .name = "sink",
    .write = sink_write,
    .end = sink_end,
    .free = sink_free,
};

dlp_stage_t *dlp_stage_sink_new(const dlp_content_sink_t *sink, void *ctx, dlp_field_t field,
                                const char *name)
{
    sink_stage_t *s;

    if (sink == NULL)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->base.ops = &sink_ops;
    s->base.sink = sink;
    s->base.sink_ctx = ctx;
    s->field = field;
    if (name != NULL) {
        size_t len = strnlen(name, SINK_NAME_MAX);
        memcpy(s->name, name, len);
        s->name[len] = '\0';
        s->has_name = 1;
    }
    return &s->base;
}
