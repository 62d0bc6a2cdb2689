/*
 * test_hpack.c - the HPACK decoder (RFC 7541): every example of Appendix C
 * (C.3 and C.5 without Huffman coding, C.4 and C.6 with it), each header
 * list and the dynamic table after each block as the RFC lists them; every
 * symbol of the Huffman code; and what must fail: a bad index, bad Huffman
 * padding, EOS in a string, an integer overflow, a truncated block, a table
 * size update over the cap; after a failure every later block fails.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/hpack.h"

typedef struct vec {
    const char *name;
    uint32_t max; /* SETTINGS_HEADER_TABLE_SIZE: 256 in C.5 and C.6 */
    const char *block;
    size_t len;
    const char *headers; /* "name: value\n" each */
    const char *table;   /* the dynamic table, newest first */
    size_t count, size;
} vec_t;

/* RFC 7541 Appendix C.3 to C.6, three blocks each on one connection. */
static const vec_t VEC[] = {
    {"C.3.1", 4096, "\x82\x86\x84\x41\x0f\x77\x77\x77\x2e\x65\x78\x61\x6d\x70\x6c\x65\x2e\x63\x6f\x6d", 20, ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n", ":authority: www.example.com\n", 1, 57},
    {"C.3.2", 4096, "\x82\x86\x84\xbe\x58\x08\x6e\x6f\x2d\x63\x61\x63\x68\x65", 14, ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\ncache-control: no-cache\n", "cache-control: no-cache\n:authority: www.example.com\n", 2, 110},
    {"C.3.3", 4096, "\x82\x87\x85\xbf\x40\x0a\x63\x75\x73\x74\x6f\x6d\x2d\x6b\x65\x79\x0c\x63\x75\x73\x74\x6f\x6d\x2d\x76\x61\x6c\x75\x65", 29, ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\ncustom-key: custom-value\n", "custom-key: custom-value\ncache-control: no-cache\n:authority: www.example.com\n", 3, 164},
    {"C.4.1", 4096, "\x82\x86\x84\x41\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff", 17, ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n", ":authority: www.example.com\n", 1, 57},
    {"C.4.2", 4096, "\x82\x86\x84\xbe\x58\x86\xa8\xeb\x10\x64\x9c\xbf", 12, ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\ncache-control: no-cache\n", "cache-control: no-cache\n:authority: www.example.com\n", 2, 110},
    {"C.4.3", 4096, "\x82\x87\x85\xbf\x40\x88\x25\xa8\x49\xe9\x5b\xa9\x7d\x7f\x89\x25\xa8\x49\xe9\x5b\xb8\xe8\xb4\xbf", 24, ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\ncustom-key: custom-value\n", "custom-key: custom-value\ncache-control: no-cache\n:authority: www.example.com\n", 3, 164},
    {"C.5.1", 256, "\x48\x03\x33\x30\x32\x58\x07\x70\x72\x69\x76\x61\x74\x65\x61\x1d\x4d\x6f\x6e\x2c\x20\x32\x31\x20\x4f\x63\x74\x20\x32\x30\x31\x33\x20\x32\x30\x3a\x31\x33\x3a\x32\x31\x20\x47\x4d\x54\x6e\x17\x68\x74\x74\x70\x73\x3a\x2f\x2f\x77\x77\x77\x2e\x65\x78\x61\x6d\x70\x6c\x65\x2e\x63\x6f\x6d", 70, ":status: 302\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n", "location: https://www.example.com\ndate: Mon, 21 Oct 2013 20:13:21 GMT\ncache-control: private\n:status: 302\n", 4, 222},
    {"C.5.2", 256, "\x48\x03\x33\x30\x37\xc1\xc0\xbf", 8, ":status: 307\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n", ":status: 307\nlocation: https://www.example.com\ndate: Mon, 21 Oct 2013 20:13:21 GMT\ncache-control: private\n", 4, 222},
    {"C.5.3", 256, "\x88\xc1\x61\x1d\x4d\x6f\x6e\x2c\x20\x32\x31\x20\x4f\x63\x74\x20\x32\x30\x31\x33\x20\x32\x30\x3a\x31\x33\x3a\x32\x32\x20\x47\x4d\x54\xc0\x5a\x04\x67\x7a\x69\x70\x77\x38\x66\x6f\x6f\x3d\x41\x53\x44\x4a\x4b\x48\x51\x4b\x42\x5a\x58\x4f\x51\x57\x45\x4f\x50\x49\x55\x41\x58\x51\x57\x45\x4f\x49\x55\x3b\x20\x6d\x61\x78\x2d\x61\x67\x65\x3d\x33\x36\x30\x30\x3b\x20\x76\x65\x72\x73\x69\x6f\x6e\x3d\x31", 98, ":status: 200\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:22 GMT\nlocation: https://www.example.com\ncontent-encoding: gzip\nset-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n", "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\ncontent-encoding: gzip\ndate: Mon, 21 Oct 2013 20:13:22 GMT\n", 3, 215},
    {"C.6.1", 256, "\x48\x82\x64\x02\x58\x85\xae\xc3\x77\x1a\x4b\x61\x96\xd0\x7a\xbe\x94\x10\x54\xd4\x44\xa8\x20\x05\x95\x04\x0b\x81\x66\xe0\x82\xa6\x2d\x1b\xff\x6e\x91\x9d\x29\xad\x17\x18\x63\xc7\x8f\x0b\x97\xc8\xe9\xae\x82\xae\x43\xd3", 54, ":status: 302\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n", "location: https://www.example.com\ndate: Mon, 21 Oct 2013 20:13:21 GMT\ncache-control: private\n:status: 302\n", 4, 222},
    {"C.6.2", 256, "\x48\x83\x64\x0e\xff\xc1\xc0\xbf", 8, ":status: 307\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com\n", ":status: 307\nlocation: https://www.example.com\ndate: Mon, 21 Oct 2013 20:13:21 GMT\ncache-control: private\n", 4, 222},
    {"C.6.3", 256, "\x88\xc1\x61\x96\xd0\x7a\xbe\x94\x10\x54\xd4\x44\xa8\x20\x05\x95\x04\x0b\x81\x66\xe0\x84\xa6\x2d\x1b\xff\xc0\x5a\x83\x9b\xd9\xab\x77\xad\x94\xe7\x82\x1d\xd7\xf2\xe6\xc7\xb3\x35\xdf\xdf\xcd\x5b\x39\x60\xd5\xaf\x27\x08\x7f\x36\x72\xc1\xab\x27\x0f\xb5\x29\x1f\x95\x87\x31\x60\x65\xc0\x03\xed\x4e\xe5\xb1\x06\x3d\x50\x07", 79, ":status: 200\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:22 GMT\nlocation: https://www.example.com\ncontent-encoding: gzip\nset-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n", "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\ncontent-encoding: gzip\ndate: Mon, 21 Oct 2013 20:13:22 GMT\n", 3, 215},
};

typedef struct text {
    char s[1024];
    size_t n;
} text_t;

static void add_line(text_t *t, const uint8_t *nm, size_t nl, const uint8_t *v, size_t vl)
{
    assert_true(t->n + nl + vl + 3 < sizeof(t->s));
    memcpy(t->s + t->n, nm, nl);
    t->n += nl;
    memcpy(t->s + t->n, ": ", 2);
    t->n += 2;
    memcpy(t->s + t->n, v, vl);
    t->n += vl;
    t->s[t->n++] = '\n';
    t->s[t->n] = 0;
}

static void on_field(void *ctx, const uint8_t *nm, size_t nl, const uint8_t *v, size_t vl)
{
    add_line(ctx, nm, nl, v, vl);
}

static void table_text(const dlp_hpack_t *d, text_t *t)
{
    const uint8_t *nm, *v;
    size_t nl, vl;

    t->n = 0;
    t->s[0] = 0;
    for (size_t i = 1; i <= dlp_hpack_count(d); i++) {
        assert_int_equal(dlp_hpack_entry(d, i, &nm, &nl, &v, &vl), 0);
        add_line(t, nm, nl, v, vl);
    }
}

static void rfc_examples(void **state)
{
    dlp_hpack_t *d = NULL;
    text_t got, tab;

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(VEC); i++) {
        const vec_t *e = &VEC[i];
        if (i % 3 == 0) {
            dlp_hpack_free(d);
            d = dlp_hpack_new(0);
            assert_non_null(d);
            dlp_hpack_set_max(d, e->max);
        }
        got.n = 0;
        got.s[0] = 0;
        assert_int_equal(dlp_hpack_decode(d, (const uint8_t *)e->block, e->len, on_field, &got),
                         DLP_OK);
        printf("# %s\n", e->name);
        assert_string_equal(got.s, e->headers);
        table_text(d, &tab);
        assert_string_equal(tab.s, e->table);
        assert_int_equal(dlp_hpack_count(d), e->count);
        assert_int_equal(dlp_hpack_size(d), e->size);
    }
    dlp_hpack_free(d);
}

/* Bytes 0 to 255 in order, Huffman-coded with the codes (not the lengths) of
 * RFC 7541 Appendix B, padded with ones: every symbol of the table. */
static const char ALL[] =
    "\xff\xc7\xff\xfd\x8f\xff\xff\xe2\xff\xff\xfe\x3f\xff\xff\xe4\xff"
    "\xff\xfe\x5f\xff\xff\xe6\xff\xff\xfe\x7f\xff\xff\xe8\xff\xff\xea"
    "\xff\xff\xff\xf3\xff\xff\xfa\x7f\xff\xff\xab\xff\xff\xff\xdf\xff"
    "\xff\xeb\xff\xff\xfe\xcf\xff\xff\xed\xff\xff\xfe\xef\xff\xff\xef"
    "\xff\xff\xff\x0f\xff\xff\xf1\xff\xff\xff\x2f\xff\xff\xff\xbf\xff"
    "\xff\xcf\xff\xff\xfd\x3f\xff\xff\xd7\xff\xff\xfd\xbf\xff\xff\xdf"
    "\xff\xff\xfe\x3f\xff\xff\xe7\xff\xff\xfe\xbf\xff\xff\xed\x4f\xe3"
    "\xf9\xff\xaf\xfc\xab\xf1\xfe\xbf\xaf\xef\xe7\xfd\xfd\x2c\xbb\x00"
    "\x08\x99\x69\xb7\x1d\x79\xfb\x9f\x7f\xff\x20\xff\xbf\xf3\xff\x50"
    "\xdd\xbd\x7f\x06\x1c\x58\xf2\x65\xcd\x9f\x46\x9d\x5a\xf6\x6d\xdd"
    "\xbf\x87\x1e\x5f\x9c\xff\x7f\xf7\xff\xfc\x3f\xf9\xff\xe4\x5f\xff"
    "\x47\x19\x24\x2c\xb3\x4e\x6e\x9d\x68\xa6\xa3\xd7\xda\xc4\x26\xde"
    "\xfe\x3c\xfa\xf7\xff\xfb\xfe\x7f\xfb\xff\xdf\xff\xff\xfc\xff\xfe"
    "\x6f\xff\xf4\xbf\xff\x9f\xff\xfa\x3f\xff\xd3\xff\xff\x53\xff\xfd"
    "\x5f\xff\xfb\x3f\xff\xeb\x7f\xff\xda\xff\xff\xb7\xff\xff\x73\xff"
    "\xfe\xef\xff\xfd\xef\xff\xfe\xbf\xff\xfb\xff\xff\xfd\x9f\xff\xfd"
    "\xbf\xff\xeb\xff\xff\xe0\xff\xff\xee\xff\xff\xc3\xff\xff\x8b\xff"
    "\xff\x1f\xff\xfe\x4f\xff\xee\x7f\xff\xb1\xff\xff\x97\xff\xfd\x9f"
    "\xff\xfc\xdf\xff\xf9\xff\xff\xfb\xff\xff\xda\xff\xfe\xef\xff\xf4"
    "\xff\xff\xb7\xff\xfe\xe7\xff\xfe\x8f\xff\xfd\x3f\xff\xde\xff\xff"
    "\xd5\xff\xfe\xef\xff\xfb\xdf\xff\xfe\x1f\xff\xdf\xff\xff\x7f\xff"
    "\xff\x5f\xff\xfe\xcf\xff\xf0\x7f\xff\x87\xff\xfe\x0f\xff\xf1\x7f"
    "\xff\xed\xff\xff\x87\xff\xff\x77\xff\xfe\xff\xff\xea\xff\xff\x8b"
    "\xff\xfe\x3f\xff\xf9\x3f\xff\xf8\x7f\xff\xcb\xff\xff\x37\xff\xff"
    "\x1f\xff\xff\x83\xff\xff\xe1\xff\xfe\xbf\xff\xe3\xff\xff\x3f\xff"
    "\xff\x2f\xff\xfa\x3f\xff\xfd\x9f\xff\xff\x17\xff\xff\xc7\xff\xff"
    "\xf2\x7f\xff\xfd\xef\xff\xff\xbf\xff\xff\xf2\xff\xff\xf8\xff\xff"
    "\xfb\x7f\xff\x97\xff\xf8\xff\xff\xfe\x6f\xff\xff\xc1\xff\xff\xf8"
    "\x7f\xff\xfe\x7f\xff\xff\xc5\xff\xff\xe5\xff\xfe\x4f\xff\xf2\xff"
    "\xff\xfd\x1f\xff\xff\x4f\xff\xff\xfe\xff\xff\xfe\x3f\xff\xff\xc9"
    "\xff\xff\xf9\x7f\xff\xb3\xff\xff\xcf\xff\xfb\x7f\xff\xcd\xff\xff"
    "\x4f\xff\xf9\xff\xff\xd1\xff\xff\xcf\xff\xfe\xaf\xff\xfa\xff\xff"
    "\xfd\xdf\xff\xfe\xff\xff\xff\x4f\xff\xff\x5f\xff\xff\xab\xff\xff"
    "\xa7\xff\xff\xd7\xff\xff\xf9\xbf\xff\xfe\xcf\xff\xff\xb7\xff\xff"
    "\xf3\xff\xff\xfe\x8f\xff\xff\xd3\xff\xff\xfa\xbf\xff\xff\x5f\xff"
    "\xff\xff\x7f\xff\xfe\xcf\xff\xff\xdb\xff\xff\xfb\xbf\xff\xff\x7f"
    "\xff\xff\xf0\xff\xff\xfb\xbf";

static void huffman_every_symbol(void **state)
{
    uint8_t out[512];
    long k;

    (void)state;
    k = dlp_hpack_huffman((const uint8_t *)ALL, sizeof(ALL) - 1, out);
    assert_int_equal(k, 256);
    for (int i = 0; i < 256; i++)
        assert_int_equal(out[i], i);
    /* cut anywhere but at a symbol's end followed by ones, it fails or is shorter */
    k = dlp_hpack_huffman((const uint8_t *)"\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff",
                          12, out);
    assert_int_equal(k, 15);
    assert_memory_equal(out, "www.example.com", 15);
}

static dlp_rc_t dec1(dlp_hpack_t *d, const char *p, size_t n)
{
    text_t t = {.n = 0};

    return dlp_hpack_decode(d, (const uint8_t *)p, n, on_field, &t);
}

static void bad_inputs(void **state)
{
    static const struct {
        const char *what, *p;
        size_t n;
    } BAD[] = {
        {"index 0", "\x80", 1},
        {"index 62, empty table", "\xbe", 1},
        {"name index 62", "\x7e\x01x", 3},
        {"padding of zeros", "\x41\x81\x00", 3}, /* '0' then 3 zero bits */
        {"padding over 7 bits", "\x41\x82\x1f\xff", 4},
        {"EOS in a string", "\x41\x84\xff\xff\xff\xff", 6},
        {"integer overflow", "\xff\xff\xff\xff\xff\xff\x7f", 7},
        {"integer cut", "\xff\x80", 2},
        {"string cut", "\x41\x05" "ab", 4},
        {"name cut", "\x40\x05" "ab", 4},
        {"size update over the cap", "\x3f\xe2\xff\x03", 4}, /* 65537 */
    };
    dlp_hpack_t *d;

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(BAD); i++) {
        d = dlp_hpack_new(0);
        assert_non_null(d);
        printf("# %s\n", BAD[i].what);
        assert_int_equal(dec1(d, BAD[i].p, BAD[i].n), DLP_EPROTO);
        assert_int_equal(dec1(d, "\x82", 1), DLP_EPROTO); /* the table is unknown */
        dlp_hpack_free(d);
    }
}

static void table_bounds(void **state)
{
    dlp_hpack_t *d = dlp_hpack_new(0);
    char big[300];

    (void)state;
    assert_non_null(d);
    /* size update to 65536 (the cap): 3f e1 ff 03 */
    assert_int_equal(dec1(d, "\x3f\xe1\xff\x03", 4), DLP_OK);
    assert_int_equal(dec1(d, "\x40\x01" "a\x01" "b", 5), DLP_OK);
    assert_int_equal(dlp_hpack_count(d), 1);
    assert_int_equal(dlp_hpack_size(d), 34);
    /* size update to 0 evicts everything; an entry over the size is not added */
    assert_int_equal(dec1(d, "\x20\x40\x01" "a\x01" "b", 6), DLP_OK);
    assert_int_equal(dlp_hpack_count(d), 0);
    assert_int_equal(dlp_hpack_size(d), 0);
    /* back to 64 bytes: a 33-byte entry fits, a second evicts the first */
    assert_int_equal(dec1(d, "\x3f\x21\x40\x01" "a\x00\x40\x01" "c\x00", 10), DLP_OK);
    assert_int_equal(dlp_hpack_count(d), 1);
    assert_int_equal(dlp_hpack_size(d), 33);
    /* a field larger than the table empties it */
    big[0] = 0x40;
    big[1] = 0x01;
    big[2] = 'x';
    big[3] = 0x7f;
    big[4] = 0x01; /* 128 */
    memset(big + 5, 'v', 128);
    assert_int_equal(dec1(d, big, 133), DLP_OK);
    assert_int_equal(dlp_hpack_count(d), 0);
    /* a reference into the emptied table fails */
    assert_int_equal(dec1(d, "\xbe", 1), DLP_EPROTO);
    dlp_hpack_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_examples),
        cmocka_unit_test(huffman_every_symbol),
        cmocka_unit_test(bad_inputs),
        cmocka_unit_test(table_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
