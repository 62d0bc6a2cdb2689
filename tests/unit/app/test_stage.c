/*
 * test_stage.c - the stage framework (stage.c): write/emit/end/free on a
 * chain, failure swallowing, notes reaching the sink through every stage,
 * the sink stage (lazy open, close at end, name bound), note names and the
 * default limits.
 */
#include "stage_test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/limits.h"

/* --- a sink that counts calls and forwards them to the recording sink ------------ */

typedef struct csink {
    ts_sink_t *t;
    int opens, writes, closes, notes;
    int open_null; /* open() returns NULL: not inspected */
} csink_t;

static void *c_open(void *ctx, dlp_field_t field, const char *name)
{
    csink_t *c = ctx;
    c->opens++;
    if (c->open_null)
        return NULL;
    return ts_sink_ops.open(c->t, field, name);
}

static void c_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    csink_t *c = ctx;
    c->writes++;
    assert_non_null(h);
    assert_true(n > 0);
    ts_sink_ops.write(c->t, h, p, n);
}

static void c_close(void *ctx, void *h)
{
    csink_t *c = ctx;
    c->closes++;
    ts_sink_ops.close(c->t, h);
}

static void c_note(void *ctx, dlp_app_note_t note, uint64_t bytes)
{
    csink_t *c = ctx;
    c->notes++;
    ts_sink_ops.note(c->t, note, bytes);
}

static const dlp_content_sink_t csink_ops = {
    .open = c_open,
    .write = c_write,
    .close = c_close,
    .block = NULL,
    .note = c_note,
    .meta = NULL,
    .expect = NULL,
};

/* --- a test stage: passes bytes on; fails on a byte 'X' -------------------------- */

typedef struct xstage {
    dlp_stage_t base;
    int writes, ends, frees;
    int end_next; /* its end() ends st->next itself (the header's wording) */
    int *freed;
} xstage_t;

static dlp_rc_t x_write(dlp_stage_t *st, const uint8_t *p, size_t n)
{
    xstage_t *x = (xstage_t *)st;
    const uint8_t *bad = memchr(p, 'X', n);

    x->writes++;
    if (bad != NULL) {
        dlp_rc_t rc = dlp_stage_emit(st, p, (size_t)(bad - p));
        if (rc < 0)
            return rc;
        dlp_stage_note(st, DLP_NOTE_DECODER_ERROR, 7);
        return DLP_EPROTO;
    }
    return dlp_stage_emit(st, p, n);
}

static dlp_rc_t x_end(dlp_stage_t *st)
{
    xstage_t *x = (xstage_t *)st;
    x->ends++;
    if (x->end_next)
        return dlp_stage_end(st->next);
    return DLP_OK;
}

static void x_free(dlp_stage_t *st)
{
    xstage_t *x = (xstage_t *)st;
    if (x->freed != NULL)
        (*x->freed)++;
    free(st);
}

static const dlp_stage_ops_t x_ops = {"x", x_write, x_end, x_free};
static const dlp_stage_ops_t x_ops_nofree = {"x", x_write, x_end, NULL};

static xstage_t *x_new(dlp_stage_t *next, int *freed)
{
    xstage_t *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    x->base.ops = &x_ops;
    x->base.next = next;
    x->base.sink = next->sink;
    x->base.sink_ctx = next->sink_ctx;
    x->freed = freed;
    return x;
}

/* ------------------------------------------------------------------------------ */

static void note_names(void **state)
{
    (void)state;
    assert_string_equal(dlp_app_note_name(DLP_NOTE_GAP), "gap");
    assert_string_equal(dlp_app_note_name(DLP_NOTE_ENCRYPTED), "encrypted");
    assert_string_equal(dlp_app_note_name(DLP_NOTE_DECODER_ERROR), "decoder_error");
    assert_string_equal(dlp_app_note_name(DLP_NOTE_DECOMP_CAP), "decomp_cap");
    assert_string_equal(dlp_app_note_name(DLP_NOTE_DECOMP_RATIO), "decomp_ratio");
    assert_string_equal(dlp_app_note_name(DLP_NOTE_HEADER_CAP), "header_cap");
    assert_string_equal(dlp_app_note_name(DLP_NOTE_DEPTH_CAP), "depth_cap");
    assert_string_equal(dlp_app_note_name(DLP_NOTE_UNSUPPORTED), "unsupported");
    assert_string_equal(dlp_app_note_name(DLP_NOTE__COUNT), "unknown");
    assert_string_equal(dlp_app_note_name((dlp_app_note_t)-1), "unknown");
    for (int i = 0; i < DLP_NOTE__COUNT; i++)
        assert_string_not_equal(dlp_app_note_name((dlp_app_note_t)i), "unknown");
}

static void limits_default(void **state)
{
    dlp_app_limits_t l;

    (void)state;
    memset(&l, 0xff, sizeof(l));
    dlp_app_limits_default(&l);
    assert_int_equal(l.line_max, DLP_APP_LINE_MAX);
    assert_int_equal(l.line_max, 8192);
    assert_int_equal(l.header_block_max, DLP_APP_HEADER_BLOCK_MAX);
    assert_int_equal(l.mime_depth_max, DLP_APP_MIME_DEPTH_MAX);
    assert_int_equal(l.decomp_max, DLP_APP_DECOMP_MAX);
    assert_int_equal(l.decomp_max, 64ULL * 1024 * 1024);
    assert_int_equal(l.decomp_ratio_max, DLP_APP_DECOMP_RATIO_MAX);
    assert_int_equal(l.chain_max, DLP_APP_CHAIN_MAX);
    dlp_app_limits_default(NULL);
}

static void sink_stage_lazy_open(void **state)
{
    ts_sink_t *t = st_sink_new();
    csink_t c = {.t = t};
    dlp_stage_t *s;

    (void)state;
    /* an empty body opens nothing */
    s = dlp_stage_sink_new(&csink_ops, &c, DLP_FIELD_SMTP_ATTACHMENT, "a.txt");
    assert_non_null(s);
    assert_null(s->next);
    assert_ptr_equal(s->sink, &csink_ops);
    assert_ptr_equal(s->sink_ctx, &c);
    assert_int_equal(dlp_stage_write(s, (const uint8_t *)"", 0), DLP_OK);
    assert_int_equal(dlp_stage_end(s), DLP_OK);
    dlp_stage_free_chain(s);
    assert_int_equal(c.opens, 0);
    assert_int_equal(c.closes, 0);
    assert_int_equal(t->n, 0);

    /* opened at the first byte, written, closed once at end */
    s = dlp_stage_sink_new(&csink_ops, &c, DLP_FIELD_SMTP_ATTACHMENT, "a.txt");
    assert_int_equal(dlp_stage_write(s, DLP_STR_BYTES("abc")), DLP_OK);
    assert_int_equal(c.opens, 1);
    assert_int_equal(dlp_stage_write(s, DLP_STR_BYTES("def")), DLP_OK);
    assert_int_equal(c.opens, 1);
    assert_int_equal(c.writes, 2);
    assert_int_equal(s->in_bytes, 6);
    assert_int_equal(t->item[0].open, 1);
    assert_int_equal(dlp_stage_end(s), DLP_OK);
    assert_int_equal(dlp_stage_end(s), DLP_OK); /* idempotent */
    assert_int_equal(c.closes, 1);
    /* after end: swallowed */
    assert_int_equal(dlp_stage_write(s, DLP_STR_BYTES("ghi")), DLP_OK);
    assert_int_equal(c.writes, 2);
    dlp_stage_free_chain(s);
    assert_int_equal(t->n, 1);
    assert_int_equal(t->item[0].kind, 'S');
    assert_int_equal(t->item[0].field, DLP_FIELD_SMTP_ATTACHMENT);
    assert_string_equal(t->item[0].name, "a.txt");
    assert_string_equal(ts_str(t, 0), "abcdef");
    assert_int_equal(t->item[0].open, 0);
    st_sink_free(t);
}

static void sink_stage_name(void **state)
{
    ts_sink_t *t = st_sink_new();
    char longname[101];
    char name[32] = "report.pdf";
    dlp_stage_t *s;

    (void)state;
    memset(longname, 'n', 100);
    longname[100] = '\0';
    longname[62] = 'Y';
    longname[63] = 'Z';
    s = dlp_stage_sink_new(&ts_sink_ops, t, DLP_FIELD_HTTP_BODY, longname);
    assert_int_equal(dlp_stage_write(s, DLP_STR_BYTES("x")), DLP_OK);
    assert_int_equal(dlp_stage_end(s), DLP_OK);
    dlp_stage_free_chain(s);
    assert_int_equal(strlen(t->item[0].name), 63);
    assert_int_equal(t->item[0].name[62], 'Y');

    /* the name is copied: the caller's buffer may change */
    s = dlp_stage_sink_new(&ts_sink_ops, t, DLP_FIELD_HTTP_BODY, name);
    memcpy(name, "changed", 8);
    assert_int_equal(dlp_stage_write(s, DLP_STR_BYTES("x")), DLP_OK);
    assert_int_equal(dlp_stage_end(s), DLP_OK);
    dlp_stage_free_chain(s);
    assert_string_equal(t->item[1].name, "report.pdf");

    /* no name */
    s = dlp_stage_sink_new(&ts_sink_ops, t, DLP_FIELD_HTTP_BODY, NULL);
    assert_int_equal(dlp_stage_write(s, DLP_STR_BYTES("x")), DLP_OK);
    assert_int_equal(dlp_stage_end(s), DLP_OK);
    dlp_stage_free_chain(s);
    assert_string_equal(t->item[2].name, "");
    assert_int_equal(t->n, 3);

    assert_null(dlp_stage_sink_new(NULL, t, DLP_FIELD_HTTP_BODY, NULL));
    st_sink_free(t);
}

/* open() returning NULL: nothing written, nothing closed, the stages before stop. */
static void sink_stage_not_inspected(void **state)
{
    ts_sink_t *t = st_sink_new();
    csink_t c = {.t = t, .open_null = 1};
    dlp_stage_t *sink = dlp_stage_sink_new(&csink_ops, &c, DLP_FIELD_HTTP_BODY, NULL);
    dlp_stage_t *head = dlp_stage_base64_new(sink);

    (void)state;
    assert_non_null(head);
    assert_int_equal(dlp_stage_write(head, DLP_STR_BYTES("SGVsbG8g")), DLP_OK);
    assert_int_equal(dlp_stage_write(head, DLP_STR_BYTES("V29ybGQ=")), DLP_OK);
    assert_int_equal(c.opens, 1);
    assert_int_equal(c.writes, 0);
    assert_true(sink->failed != 0);
    assert_int_equal(dlp_stage_end(head), DLP_OK);
    assert_int_equal(c.closes, 0);
    assert_int_equal(c.notes, 0);
    dlp_stage_free_chain(head);
    assert_int_equal(t->n, 0);
    st_sink_free(t);
}

/* Every constructor takes the sink and context for notes from its next. */
static void sink_inherited(void **state)
{
    ts_sink_t *t = st_sink_new();
    csink_t c = {.t = t};
    dlp_app_limits_t l;
    dlp_stage_t *sink = dlp_stage_sink_new(&csink_ops, &c, DLP_FIELD_HTTP_BODY, NULL);
    dlp_stage_t *chain[8];
    size_t n = 0;

    (void)state;
    dlp_app_limits_default(&l);
    chain[n++] = sink;
    chain[n] = dlp_stage_textnorm_new(chain[n - 1]), n++;
    chain[n] = dlp_stage_form_new(chain[n - 1]), n++;
    chain[n] = dlp_stage_qp_new(chain[n - 1]), n++;
    chain[n] = dlp_stage_base64_new(chain[n - 1]), n++;
    chain[n] = dlp_stage_inflate_new(chain[n - 1], &l, 1), n++;
    chain[n] = dlp_stage_chunked_new(chain[n - 1], &l), n++;
    for (size_t i = 1; i < n; i++) {
        assert_non_null(chain[i]);
        assert_ptr_equal(chain[i]->next, chain[i - 1]);
        assert_ptr_equal(chain[i]->sink, &csink_ops);
        assert_ptr_equal(chain[i]->sink_ctx, &c);
        assert_int_equal(chain[i]->failed, 0);
        assert_int_equal(chain[i]->in_bytes, 0);
    }
    assert_string_equal(chain[6]->ops->name, "chunked");
    /* a note of any stage reaches the sink once */
    dlp_stage_note(chain[3], DLP_NOTE_UNSUPPORTED, 5);
    assert_int_equal(c.notes, 1);
    assert_int_equal(t->item[0].kind, 'N');
    assert_int_equal(t->item[0].field, DLP_NOTE_UNSUPPORTED);
    assert_int_equal(t->item[0].bytes, 5);
    /* a stage built without a sink: dlp_stage_note walks to the one that has it */
    chain[4]->sink = NULL;
    chain[4]->sink_ctx = NULL;
    dlp_stage_note(chain[4], DLP_NOTE_GAP, 9);
    assert_int_equal(c.notes, 2);
    assert_int_equal(t->item[1].bytes, 9);
    dlp_stage_note(NULL, DLP_NOTE_GAP, 1);
    assert_int_equal(c.notes, 2);
    dlp_stage_free_chain(chain[n - 1]);
    st_sink_free(t);
}

static void constructors_need_next(void **state)
{
    dlp_app_limits_t l;

    (void)state;
    dlp_app_limits_default(&l);
    assert_null(dlp_stage_chunked_new(NULL, &l));
    assert_null(dlp_stage_inflate_new(NULL, &l, 1));
    assert_null(dlp_stage_base64_new(NULL));
    assert_null(dlp_stage_qp_new(NULL));
    assert_null(dlp_stage_form_new(NULL));
    assert_null(dlp_stage_textnorm_new(NULL));
    /* NULL-safe calls */
    assert_int_equal(dlp_stage_write(NULL, DLP_STR_BYTES("x")), DLP_OK);
    assert_int_equal(dlp_stage_emit(NULL, DLP_STR_BYTES("x")), DLP_OK);
    assert_int_equal(dlp_stage_end(NULL), DLP_OK);
    dlp_stage_free_chain(NULL);
}

/* A failing stage: error once, then swallowed; one note; the rest of the chain ends. */
static void failed_stage_swallows(void **state)
{
    ts_sink_t *t = st_sink_new();
    csink_t c = {.t = t};
    int freed = 0;
    dlp_stage_t *sink = dlp_stage_sink_new(&csink_ops, &c, DLP_FIELD_HTTP_BODY, NULL);
    xstage_t *x = x_new(sink, &freed);
    dlp_stage_t *head = dlp_stage_form_new(&x->base);

    (void)state;
    assert_int_equal(dlp_stage_write(head, DLP_STR_BYTES("a+b")), DLP_OK);
    assert_int_equal(x->base.in_bytes, 3);
    assert_int_equal(x->base.out_bytes, 3);
    assert_int_equal(head->out_bytes, 3);
    /* 'X' fails x; form gets the error back from emit and stops too, without a note */
    assert_int_equal(dlp_stage_write(head, DLP_STR_BYTES("cdXef")), DLP_EPROTO);
    assert_true(x->base.failed != 0);
    assert_true(head->failed != 0);
    assert_int_equal(c.notes, 1);
    assert_int_equal(dlp_stage_write(head, DLP_STR_BYTES("more")), DLP_OK);
    assert_int_equal(dlp_stage_write(&x->base, DLP_STR_BYTES("more")), DLP_OK);
    assert_int_equal(x->writes, 1 + 1);
    assert_int_equal(head->in_bytes, 8);
    /* end: failed stages are not flushed, the sink is still closed */
    assert_int_equal(dlp_stage_end(head), DLP_OK);
    assert_int_equal(x->ends, 0);
    assert_int_equal(c.closes, 1);
    dlp_stage_free_chain(head);
    assert_int_equal(freed, 1);
    assert_int_equal(t->n, 2);
    assert_string_equal(ts_str(t, 0), "a bcd");
    assert_int_equal(t->item[1].kind, 'N');
    assert_int_equal(t->item[1].field, DLP_NOTE_DECODER_ERROR);
    assert_int_equal(t->item[1].bytes, 7);
    assert_int_equal(t->item[0].open, 0);
    st_sink_free(t);
}

/* An ops->end that ends st->next itself (as stage.h words it) ends each stage once. */
static void end_once_each(void **state)
{
    ts_sink_t *t = st_sink_new();
    csink_t c = {.t = t};
    dlp_stage_t *sink = dlp_stage_sink_new(&csink_ops, &c, DLP_FIELD_HTTP_BODY, NULL);
    xstage_t *x1 = x_new(sink, NULL);
    xstage_t *x2 = x_new(&x1->base, NULL);

    (void)state;
    x2->end_next = 1;
    x2->base.ops = &x_ops_nofree; /* freed by the framework with free() */
    assert_int_equal(dlp_stage_write(&x2->base, DLP_STR_BYTES("abc")), DLP_OK);
    assert_int_equal(dlp_stage_end(&x2->base), DLP_OK);
    assert_int_equal(dlp_stage_end(&x2->base), DLP_OK);
    assert_int_equal(x2->ends, 1);
    assert_int_equal(x1->ends, 1);
    assert_int_equal(c.closes, 1);
    assert_int_equal(dlp_stage_write(&x2->base, DLP_STR_BYTES("def")), DLP_OK);
    assert_int_equal(x2->writes, 1);
    dlp_stage_free_chain(&x2->base);
    assert_string_equal(ts_str(t, 0), "abc");
    st_sink_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(note_names),
        cmocka_unit_test(limits_default),
        cmocka_unit_test(sink_stage_lazy_open),
        cmocka_unit_test(sink_stage_name),
        cmocka_unit_test(sink_stage_not_inspected),
        cmocka_unit_test(sink_inherited),
        cmocka_unit_test(constructors_need_next),
        cmocka_unit_test(failed_stage_swallows),
        cmocka_unit_test(end_once_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
