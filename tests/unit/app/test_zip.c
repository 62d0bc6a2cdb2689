/*
 * test_zip.c - ZIP members unpacked from a stream, split anywhere.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dlp/zip.h"

/* --- building archives ---------------------------------------------------- */

typedef struct buf {
    uint8_t b[1 << 18];
    size_t n;
} buf_t;

static void put(buf_t *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof(w->b));
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void put16(buf_t *w, unsigned v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(w, b, 2);
}

static void put32(buf_t *w, uint32_t v)
{
    put16(w, v & 0xffff);
    put16(w, v >> 16);
}

static size_t deflate_raw(const char *in, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)strlen(in);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t n = zs.total_out;
    deflateEnd(&zs);
    return n;
}

/* A member: method 0 (stored), 8 (deflate) or another; flags as given; with a
 * data descriptor (flag 8) the header's sizes are 0 and the descriptor has a
 * signature if 'sig'. */
static void member(buf_t *w, const char *name, const char *content, unsigned method,
                   unsigned flags, int sig)
{
    static uint8_t data[1 << 16];
    size_t n = strlen(content);
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)content, (uInt)n);

    if (method == 8)
        n = deflate_raw(content, data, sizeof(data));
    else
        memcpy(data, content, n);
    put32(w, 0x04034b50);
    put16(w, 20);
    put16(w, flags);
    put16(w, method);
    put32(w, 0);
    put32(w, flags & 8 ? 0 : crc);
    put32(w, flags & 8 ? 0 : (uint32_t)n);
    put32(w, flags & 8 ? 0 : (uint32_t)strlen(content));
    put16(w, (unsigned)strlen(name));
    put16(w, 4);
    put(w, name, strlen(name));
    put(w, "\x01\x02\x00\x00", 4); /* an extra field */
    put(w, data, n);
    if (flags & 8) {
        if (sig)
            put32(w, 0x08074b50);
        put32(w, crc);
        put32(w, (uint32_t)n);
        put32(w, (uint32_t)strlen(content));
    }
}

static void central(buf_t *w)
{
    put32(w, 0x02014b50);
    put(w, "central directory follows; not read", 35);
}

/* --- collecting members --------------------------------------------------- */

typedef struct got {
    char text[8192];
    size_t n;
    int open, notes[DLP_NOTE__COUNT];
} got_t;

static void *g_open(void *ctx, const char *name)
{
    got_t *g = ctx;
    g->n += (size_t)snprintf(g->text + g->n, sizeof(g->text) - g->n, "[%s]", name);
    g->open++;
    return g;
}

static void g_write(void *ctx, void *m, const uint8_t *p, size_t n)
{
    got_t *g = ctx;
    assert_ptr_equal(m, g);
    assert_int_equal(g->open, 1);
    assert_true(g->n + n < sizeof(g->text));
    memcpy(g->text + g->n, p, n);
    g->n += n;
}

static void g_close(void *ctx, void *m)
{
    got_t *g = ctx;
    (void)m;
    g->open--;
    g->n += (size_t)snprintf(g->text + g->n, sizeof(g->text) - g->n, "|");
}

static void g_note(void *ctx, dlp_app_note_t n, uint64_t bytes)
{
    (void)bytes;
    ((got_t *)ctx)->notes[n]++;
}

static const dlp_zip_ops_t ops = {g_open, g_write, g_close, g_note};

/* The archive fed in pieces of 'step' bytes (0: whole), then ended. */
static void unpack(const buf_t *w, size_t step, const dlp_app_limits_t *l, got_t *g)
{
    dlp_zip_t *z = dlp_zip_new(&ops, g, l);
    assert_non_null(z);
    memset(g, 0, sizeof(*g));
    for (size_t off = 0; off < w->n;) {
        size_t k = step == 0 || w->n - off < step ? w->n - off : step;
        dlp_zip_write(z, w->b + off, k);
        off += k;
    }
    dlp_zip_end(z);
    assert_int_equal(g->open, 0);
    g->text[g->n] = '\0';
    dlp_zip_free(z);
}

static const char *sheet =
    "<sst><si><t>Jane Doe</t></si><si><t>4539 1488 0343 6467</t></si>"
    "<si><t>jane.doe@example.com</t></si><si><t>padding padding padding padding</t></si></sst>";

static void members_stored_deflated_described(void **state)
{
    static buf_t w;
    got_t g;
    dlp_app_limits_t l;

    (void)state;
    dlp_app_limits_default(&l);
    w.n = 0;
    member(&w, "[Content_Types].xml", "<Types/>", 0, 0, 0);
    member(&w, "xl/sharedStrings.xml", sheet, 8, 0, 0);
    member(&w, "docProps/app.xml", "<Properties>Company: Example Ltd</Properties>", 8, 8, 1);
    member(&w, "notes.txt", "no signature before this descriptor", 8, 8, 0);
    member(&w, "last.txt", "after them", 0, 0, 0);
    central(&w);
    unpack(&w, 0, &l, &g);
    char want[4096];
    snprintf(want, sizeof(want),
             "[[Content_Types].xml]<Types/>|[xl/sharedStrings.xml]%s|"
             "[docProps/app.xml]<Properties>Company: Example Ltd</Properties>|"
             "[notes.txt]no signature before this descriptor|[last.txt]after them|",
             sheet);
    assert_string_equal(g.text, want);
    for (int n = 0; n < DLP_NOTE__COUNT; n++)
        assert_int_equal(g.notes[n], 0);
    /* any split gives the same */
    for (size_t step = 1; step < 80; step++) {
        got_t h;
        unpack(&w, step, &l, &h);
        assert_string_equal(h.text, want);
    }
}

/* Encrypted members and other methods are passed over (by their size), and
 * the walk goes on; one with neither size nor deflate ends it. */
static void unsupported_members(void **state)
{
    static buf_t w;
    got_t g;
    dlp_app_limits_t l;

    (void)state;
    dlp_app_limits_default(&l);
    w.n = 0;
    member(&w, "secret.txt", "encrypted, say", 0, 1, 0);
    member(&w, "b.bz2", "bzip2 data, say", 12, 0, 0);
    member(&w, "ok.txt", "read", 0, 0, 0);
    member(&w, "stream.txt", "stored with a descriptor", 0, 8, 1);
    member(&w, "never.txt", "not reached", 0, 0, 0);
    unpack(&w, 0, &l, &g);
    assert_string_equal(g.text, "[ok.txt]read|");
    assert_int_equal(g.notes[DLP_NOTE_UNSUPPORTED], 3);
}

/* Output beyond decomp_max is cut and noted; the next member is read. */
static void output_bound(void **state)
{
    static buf_t w;
    static char big[40000];
    got_t g;
    dlp_app_limits_t l;

    (void)state;
    dlp_app_limits_default(&l);
    l.decomp_max = 1000;
    memset(big, 'x', sizeof(big) - 1);
    w.n = 0;
    member(&w, "big.txt", big, 8, 0, 0);
    member(&w, "next.txt", "still read", 0, 0, 0);
    unpack(&w, 0, &l, &g);
    assert_int_equal(g.notes[DLP_NOTE_DECOMP_CAP], 1);
    assert_int_equal(strncmp(g.text, "[big.txt]xxxx", 13), 0);
    assert_int_equal(strlen(g.text), strlen("[big.txt]") + 1000 + strlen("|[next.txt]still read|"));
    assert_non_null(strstr(g.text, "|[next.txt]still read|"));
}

/* A bound of 0 is off, as for the inflate stage (the same dlp_decomp_allow). */
static void bounds_off(void **state)
{
    static buf_t w;
    static char flat[5001];
    got_t g;
    dlp_app_limits_t l;

    (void)state;
    dlp_app_limits_default(&l);
    l.decomp_max = 0;
    l.decomp_ratio_max = 0;
    memset(flat, 'x', sizeof(flat) - 1);
    w.n = 0;
    member(&w, "flat.txt", flat, 8, 0, 0);
    unpack(&w, 0, &l, &g);
    assert_int_equal(strlen(g.text), strlen("[flat.txt]|") + 5000);
    for (int n = 0; n < DLP_NOTE__COUNT; n++)
        assert_int_equal(g.notes[n], 0);
}

/* Not an archive, a cut archive, garbage in a member: no crash, what was read stands. */
static void broken_archives(void **state)
{
    static buf_t w;
    got_t g;
    dlp_app_limits_t l;

    (void)state;
    dlp_app_limits_default(&l);
    w.n = 0;
    put(&w, "GIF89a not a zip", 16);
    unpack(&w, 0, &l, &g);
    assert_string_equal(g.text, "");
    w.n = 0;
    member(&w, "a.txt", sheet, 8, 0, 0);
    size_t full = w.n;
    for (size_t cut = 0; cut < full; cut++) {
        w.n = cut;
        unpack(&w, 7, &l, &g);
        assert_true(g.n == 0 || strncmp(g.text, "[a.txt]", 7) == 0);
    }
    w.n = full;
    memset(w.b + 60, 0xff, 8); /* bad deflate data */
    unpack(&w, 0, &l, &g);
    assert_int_equal(g.notes[DLP_NOTE_DECODER_ERROR], 1);
}

/* Random bytes flipped in an archive, fed in random pieces: whatever comes out,
 * the parser stays within its buffers (the sanitizer build checks) and ends. */
static void mutated_archives(void **state)
{
    static buf_t w, m;
    got_t g;
    dlp_app_limits_t l;
    uint32_t seed = 12345;

    (void)state;
    dlp_app_limits_default(&l);
    w.n = 0;
    member(&w, "a.xml", sheet, 8, 0, 0);
    member(&w, "b.txt", "stored text", 0, 0, 0);
    member(&w, "c.xml", sheet, 8, 8, 1);
    central(&w);
    for (int round = 0; round < 3000; round++) {
        memcpy(m.b, w.b, w.n);
        m.n = w.n;
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            m.b[(seed >> 8) % m.n] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        }
        unpack(&m, 1 + (seed >> 20) % 97, &l, &g);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(members_stored_deflated_described),
        cmocka_unit_test(unsupported_members),
        cmocka_unit_test(output_bound),
        cmocka_unit_test(bounds_off),
        cmocka_unit_test(broken_archives),
        cmocka_unit_test(mutated_archives),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
