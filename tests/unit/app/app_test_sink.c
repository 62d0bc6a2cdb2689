/*
 * app_test_sink.c - the recording sink of decoder tests.
 */
#include "dlp_test.h"

#include "app_test_sink.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ts_item_t *add(ts_sink_t *t, char kind, int field)
{
    ts_item_t *it;

    if (t->n == TS_MAX_ITEMS) {
        fprintf(stderr, "ts_sink: too many items\n");
        abort();
    }
    it = &t->item[t->n++];
    memset(it, 0, sizeof(*it));
    it->kind = kind;
    it->field = field;
    return it;
}

static void append(ts_item_t *it, const uint8_t *p, size_t n)
{
    uint8_t *d = realloc(it->data, it->len + n + 1);

    if (d == NULL)
        abort();
    if (n > 0)
        memcpy(d + it->len, p, n);
    it->len += n;
    d[it->len] = '\0';
    it->data = d;
}

static void *ts_open(void *ctx, dlp_field_t field, const char *name)
{
    ts_item_t *it = add(ctx, 'S', (int)field);

    if (name != NULL)
        snprintf(it->name, sizeof(it->name), "%s", name);
    it->open = 1;
    append(it, NULL, 0);
    return it;
}

static void ts_write(void *ctx, void *h, const uint8_t *p, size_t n)
{
    (void)ctx;
    append(h, p, n);
}

static void ts_close(void *ctx, void *h)
{
    (void)ctx;
    ((ts_item_t *)h)->open = 0;
}

static void ts_block(void *ctx, dlp_field_t field, const uint8_t *p, size_t n)
{
    append(add(ctx, 'B', (int)field), p, n);
}

static void ts_note(void *ctx, dlp_app_note_t note, uint64_t bytes)
{
    add(ctx, 'N', (int)note)->bytes = bytes;
}

static void ts_meta(void *ctx, dlp_app_meta_t key, const uint8_t *v, size_t n)
{
    append(add(ctx, 'M', (int)key), v, n);
}

static void ts_expect(void *ctx, const dlp_app_expect_t *e)
{
    add(ctx, 'E', 0)->expect = *e;
}

ts_sec_t ts_sec;

static void cover(int d, uint64_t lo, uint64_t hi)
{
    for (uint64_t i = lo; i < hi && i < TS_SEC_MAX; i++)
        ts_sec.cov[d][i] = 1;
}

static void ts_secret(void *ctx, const uint8_t *end, size_t n)
{
    ts_sec_t *s = &ts_sec;
    int d = ((const ts_sink_t *)ctx)->dir;
    uintptr_t b = (uintptr_t)s->buf, q = (uintptr_t)end;
    bool in_write = s->buf != NULL && s->wdir == d;
    uint64_t base, hi, lo;

    if (in_write && end != NULL && q >= b && q - b <= s->bufn) {
        base = hi = s->pos[d] + (q - b);
        s->exact++;
    } else {
        base = s->pos[d];
        hi = in_write ? s->pos[d] + s->bufn : s->pos[d];
        s->wide++;
    }
    lo = base > n ? base - n : 0;
    if (s->gap_end[d] > lo)
        lo = lo > s->gaps[d] ? lo - s->gaps[d] : 0;
    cover(d, lo, hi);
}

void ts_sec_reset(void)
{
    memset(&ts_sec, 0, sizeof(ts_sec));
}

void ts_sec_write(int dir, const uint8_t *p, size_t n)
{
    ts_sec_t *s = &ts_sec;

    for (size_t i = 0; i < n && s->pos[dir] + i < TS_SEC_MAX; i++)
        s->data[dir][s->pos[dir] + i] = p[i];
    s->wdir = dir;
    s->buf = p;
    s->bufn = n;
}

void ts_sec_done(void)
{
    if (ts_sec.buf != NULL)
        ts_sec.pos[ts_sec.wdir] += ts_sec.bufn;
    ts_sec.buf = NULL;
}

void ts_sec_gap(int dir, uint64_t len)
{
    ts_sec.pos[dir] += len;
    ts_sec.gaps[dir] += len;
    ts_sec.gap_end[dir] = ts_sec.pos[dir];
}

static bool has_secret(const uint8_t *l, size_t n, const char *const *secrets, size_t ns)
{
    for (size_t k = 0; k < ns; k++) {
        size_t sl = strlen(secrets[k]);
        for (size_t i = 0; i + sl <= n; i++)
            if (memcmp(l + i, secrets[k], sl) == 0)
                return true;
    }
    return false;
}

void ts_sec_check(int dir, const char *const *secrets, size_t ns, int exact, const char *what)
{
    const ts_sec_t *s = &ts_sec;
    size_t len = s->pos[dir] < TS_SEC_MAX ? (size_t)s->pos[dir] : TS_SEC_MAX;
    const uint8_t *d = s->data[dir];

    for (size_t k = 0; k < ns; k++) {
        size_t sl = strlen(secrets[k]);
        for (size_t i = 0; i + sl <= len; i++) {
            if (memcmp(d + i, secrets[k], sl) != 0)
                continue;
            for (size_t j = i; j < i + sl; j++) {
                if (!s->cov[dir][j]) {
                    fprintf(stderr, "%s: byte %zu of \"%s\" (at %zu) not covered\n", what,
                            j - i, secrets[k], i);
                    fail();
                }
            }
        }
    }
    for (size_t b = 0; exact && b < len;) {
        const uint8_t *lf = memchr(d + b, '\n', len - b);
        size_t e = lf != NULL ? (size_t)(lf - d) + 1 : len;
        if (!has_secret(d + b, e - b, secrets, ns)) {
            for (size_t j = b; j < e; j++) {
                if (s->cov[dir][j]) {
                    fprintf(stderr, "%s: byte %zu of line \"%.*s\" covered\n", what, j - b,
                            (int)(e - b), (const char *)d + b);
                    fail();
                }
            }
        }
        b = e;
    }
}

const dlp_content_sink_t ts_sink_ops = {
    .open = ts_open,
    .write = ts_write,
    .close = ts_close,
    .block = ts_block,
    .note = ts_note,
    .meta = ts_meta,
    .expect = ts_expect,
    .secret = ts_secret,
};

void ts_reset(ts_sink_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->item[i].data);
    t->n = 0;
}

const char *ts_str(const ts_sink_t *t, size_t i)
{
    return i < t->n && t->item[i].data != NULL ? (const char *)t->item[i].data : "";
}

int ts_find(const ts_sink_t *t, char kind, int field, size_t from)
{
    for (size_t i = from; i < t->n; i++)
        if (t->item[i].kind == kind && t->item[i].field == field)
            return (int)i;
    return -1;
}

int ts_equal(const ts_sink_t *a, const ts_sink_t *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const ts_item_t *x = &a->item[i], *y = &b->item[i];
        if (x->kind != y->kind || x->field != y->field || strcmp(x->name, y->name) != 0 ||
            x->len != y->len || x->bytes != y->bytes || x->open != y->open ||
            (x->len > 0 && memcmp(x->data, y->data, x->len) != 0) ||
            memcmp(&x->expect, &y->expect, sizeof(x->expect)) != 0)
            return 0;
    }
    return 1;
}

void ts_dump(const ts_sink_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const ts_item_t *it = &t->item[i];
        fprintf(stderr, "  [%zu] %c field=%d name=\"%s\" len=%zu bytes=%llu open=%d: %.*s\n", i,
                it->kind, it->field, it->name, it->len, (unsigned long long)it->bytes, it->open,
                (int)(it->len > 200 ? 200 : it->len), it->data ? (char *)it->data : "");
    }
}

void ts_check_items(const ts_sink_t *t, const exp_t *e, size_t ne)
{
    int ok = t->n == ne;

    for (size_t i = 0; ok && i < ne; i++) {
        const ts_item_t *it = &t->item[i];
        ok = it->kind == e[i].kind && it->field == e[i].field && it->open == 0 &&
             strcmp(it->name, e[i].name) == 0 && it->len == e[i].len &&
             (e[i].len == 0 || memcmp(it->data, e[i].data, e[i].len) == 0) &&
             it->bytes == e[i].bytes;
        if (!ok)
            fprintf(stderr, "item %zu differs (want %c field=%d name=\"%s\" len=%zu bytes=%llu)\n",
                    i, e[i].kind, e[i].field, e[i].name, e[i].len, (unsigned long long)e[i].bytes);
    }
    if (!ok) {
        fprintf(stderr, "got %zu items, want %zu:\n", t->n, ne);
        ts_dump(t);
    }
    assert_true(ok);
}
