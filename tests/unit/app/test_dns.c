/*
 * test_dns.c - DNS names: queries (A, AAAA, TXT), compression pointers
 * (backwards only, loops, forward and header targets, the jump bound),
 * label and name length bounds, escaping of binary bytes, what is skipped
 * (root names, responses, repeated names) and the per-message name bound,
 * messages holding more than names (records' data, trailing bytes) reported whole,
 * messages truncated at every length (run under ASan), not-DNS input, and
 * TCP framing split at every offset.
 */
#include "dlp_test.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "app_test_sink.h"
#include "dlp/dns.h"

#define T_A 1
#define T_TXT 16
#define T_AAAA 28
#define T_OPT 41
#define F_RD 0x0100   /* a query with recursion desired */
#define F_RESP 0x8180 /* a response */

typedef struct msg {
    uint8_t b[70000];
    size_t n;
} msg_t;

static void put8(msg_t *m, uint8_t v)
{
    m->b[m->n++] = v;
}
static void put16(msg_t *m, uint16_t v)
{
    put8(m, (uint8_t)(v >> 8));
    put8(m, (uint8_t)v);
}
static void put(msg_t *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static msg_t *hdr(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
    msg_t *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    put16(m, 0x1234);
    put16(m, flags);
    put16(m, qd);
    put16(m, an);
    put16(m, ns);
    put16(m, ar);
    return m;
}

static void label(msg_t *m, const void *p, size_t n)
{
    put8(m, (uint8_t)n);
    put(m, p, n);
}

/* "www.example.com" as labels, without the root byte. */
static void labels(msg_t *m, const char *dotted)
{
    while (*dotted != '\0') {
        const char *dot = strchr(dotted, '.');
        size_t n = dot != NULL ? (size_t)(dot - dotted) : strlen(dotted);
        label(m, dotted, n);
        dotted += n + (dot != NULL ? 1 : 0);
    }
}

static void name(msg_t *m, const char *dotted)
{
    labels(m, dotted);
    put8(m, 0);
}

static void ptr(msg_t *m, uint16_t off)
{
    put16(m, (uint16_t)(0xc000 | off));
}

static void qfix(msg_t *m, uint16_t type)
{
    put16(m, type);
    put16(m, 1);
}

/* type, class IN, ttl 60, rdata */
static void rrfix(msg_t *m, uint16_t type, const void *rdata, uint16_t rdlen)
{
    put16(m, type);
    put16(m, type == T_OPT ? 1232 : 1);
    put16(m, 0);
    put16(m, type == T_OPT ? 0 : 60);
    put16(m, rdlen);
    put(m, rdata, rdlen);
}

/* dig's text of a name back to its raw labels joined by '.' (\DDD and \c undone). */
static size_t unescape(const uint8_t *t, size_t n, uint8_t *out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (t[i] != '\\')
            out[k++] = t[i];
        else if (i + 3 < n && t[i + 1] >= '0' && t[i + 1] <= '9') {
            out[k++] = (uint8_t)((t[i + 1] - '0') * 100 + (t[i + 2] - '0') * 10 + (t[i + 3] - '0'));
            i += 3;
        } else {
            out[k++] = t[++i];
        }
    }
    return k;
}

/* The joined form (dns.c): every '.' dropped but one between a digit and a letter. */
static size_t joined(const uint8_t *r, size_t n, uint8_t *out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        bool d0 = i > 0 && isdigit(r[i - 1]), a0 = i > 0 && isalpha(r[i - 1]);
        bool d1 = i + 1 < n && isdigit(r[i + 1]), a1 = i + 1 < n && isalpha(r[i + 1]);
        if (r[i] == '.' && i > 0 && i + 1 < n && !(d0 && a1) && !(a0 && d1))
            continue;
        out[k++] = r[i];
    }
    return k;
}

static bool item_is(const ts_sink_t *s, size_t i, const uint8_t *p, size_t n)
{
    return i < s->n && s->item[i].kind == 'B' && s->item[i].len == n &&
           memcmp(s->item[i].data, p, n) == 0;
}

/*
 * Drops the extra blocks each name brings (its raw labels when its text escapes a byte,
 * its joined form when that differs): the tests below check the names' text; test_forms
 * checks the extra blocks.
 */
static void names_only(ts_sink_t *s)
{
    uint8_t raw[1024], join[1024];
    size_t k = 0, i = 0;

    while (i < s->n) {
        ts_item_t it = s->item[i++];
        s->item[k++] = it;
        if (it.kind != 'B' || it.len > sizeof(raw)) /* a whole message: no name */
            continue;
        size_t rn = unescape(it.data, it.len, raw), jn;
        if (rn != it.len && item_is(s, i, raw, rn))
            free(s->item[i++].data);
        jn = joined(raw, rn, join);
        if (jn < rn && item_is(s, i, join, jn))
            free(s->item[i++].data);
    }
    s->n = k;
}

/* dlp_dns_message on an exact-size heap copy (ASan sees any over-read). */
static dlp_rc_t parse_all(const uint8_t *p, size_t n, ts_sink_t *s)
{
    uint8_t *c = malloc(n ? n : 1);
    dlp_rc_t rc;

    assert_non_null(c);
    memcpy(c, p, n);
    rc = dlp_dns_message(c, n, s != NULL ? &ts_sink_ops : NULL, s);
    free(c);
    return rc;
}

/* ... the names' text only */
static dlp_rc_t parse(const uint8_t *p, size_t n, ts_sink_t *s)
{
    dlp_rc_t rc = parse_all(p, n, s);

    if (s != NULL)
        names_only(s);
    return rc;
}

static bool is_query(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    bool q;

    assert_non_null(c);
    memcpy(c, p, n);
    q = dlp_dns_is_query(c, n);
    free(c);
    return q;
}

static void assert_block(const ts_sink_t *s, size_t i, const char *text)
{
    assert_true(i < s->n);
    assert_int_equal(s->item[i].kind, 'B');
    assert_int_equal(s->item[i].field, DLP_FIELD_DNS_QUERY);
    assert_int_equal(s->item[i].len, strlen(text));
    assert_string_equal(ts_str(s, i), text);
}

/* Item i is the whole message m[0, n), reported as it is (it holds more than names). */
static void assert_whole(const ts_sink_t *s, size_t i, const uint8_t *m, size_t n)
{
    assert_true(i < s->n);
    assert_int_equal(s->item[i].kind, 'B');
    assert_int_equal(s->item[i].field, DLP_FIELD_DNS_QUERY);
    assert_int_equal(s->item[i].len, n);
    assert_memory_equal(s->item[i].data, m, n);
}

/* m parses as DNS: its names[0, nn) are reported, then the message whole; m is freed. */
static void check_whole(msg_t *m, const char *const *names, size_t nn)
{
    ts_sink_t s = {0};

    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, nn + 1);
    for (size_t i = 0; i < nn; i++)
        assert_block(&s, i, names[i]);
    assert_whole(&s, nn, m->b, m->n);
    ts_reset(&s);
    free(m);
}

static void test_queries(void **state)
{
    static const struct {
        uint16_t type;
        const char *name;
    } q[] = {{T_A, "www.example.com"}, {T_AAAA, "ipv6.example.org"}, {T_TXT, "_dmarc.example.net"}};
    (void)state;

    for (size_t i = 0; i < DLP_ARRAY_LEN(q); i++) {
        ts_sink_t s = {0};
        msg_t *m = hdr(F_RD, 1, 0, 0, 0);

        name(m, q[i].name);
        qfix(m, q[i].type);
        assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
        assert_int_equal(s.n, 1);
        assert_block(&s, 0, q[i].name);
        assert_true(is_query(m->b, m->n));
        ts_reset(&s);
        free(m);
    }
}

/*
 * The extra blocks: the raw labels when the text escapes a byte, and the name joined
 * (every '.' dropped but one between a digit and a letter), so a value split over
 * labels, or spaced inside one, reads as the server's labels hold it.
 */
static void test_forms(void **state)
{
    static const uint8_t spaced[] = "4539 1488 0343 6467";
    static const uint8_t dotted[] = "4539.1488.0343.6467";
    ts_sink_t s = {0};
    msg_t *m = hdr(F_RD, 1, 0, 0, 0);
    (void)state;

    name(m, "4539.1488.0343.6467.x.example.net");
    qfix(m, T_A);
    assert_int_equal(parse_all(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, 2);
    assert_block(&s, 0, "4539.1488.0343.6467.x.example.net");
    assert_block(&s, 1, "4539148803436467.xexamplenet");
    ts_reset(&s);
    free(m);

    for (int k = 0; k < 2; k++) { /* one label: spaces (\032), dots (\.) inside it */
        m = hdr(F_RD, 1, 0, 0, 0);
        label(m, k == 0 ? spaced : dotted, sizeof(spaced) - 1);
        name(m, "x.example.net");
        qfix(m, T_TXT);
        assert_int_equal(parse_all(m->b, m->n, &s), DLP_OK);
        assert_int_equal(s.n, 3);
        assert_block(&s, 0, k == 0 ? "4539\\0321488\\0320343\\0326467.x.example.net"
                                   : "4539\\.1488\\.0343\\.6467.x.example.net");
        assert_block(&s, 1, k == 0 ? "4539 1488 0343 6467.x.example.net"
                                   : "4539.1488.0343.6467.x.example.net");
        assert_block(&s, 2, k == 0 ? "4539 1488 0343 6467.xexamplenet"
                                   : "4539148803436467.xexamplenet");
        ts_reset(&s);
        free(m);
    }

    /* one label, nothing escaped: the text alone */
    m = hdr(F_RD, 1, 0, 0, 0);
    name(m, "localhost");
    qfix(m, T_A);
    assert_int_equal(parse_all(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, 1);
    ts_reset(&s);
    free(m);
}

/*
 * Two questions (the second compressed), an answer whose owner points at
 * the first question (reported once), an authority record with its own
 * name, and EDNS OPT (root owner, skipped).
 */
static msg_t *rich_query(void)
{
    static const uint8_t a[4] = {192, 0, 2, 1};
    static const uint8_t opt[4] = {0, 10, 0, 0};
    msg_t *m = hdr(F_RD, 2, 1, 1, 1);

    name(m, "mail.example.com"); /* 12: "mail" 17: "example" */
    qfix(m, T_A);
    label(m, "ftp", 3); /* "ftp" + pointer to "example.com" */
    ptr(m, 17);
    qfix(m, T_AAAA);
    ptr(m, 12); /* answer: owner = first question */
    rrfix(m, T_A, a, sizeof(a));
    labels(m, "ns1"); /* authority: "ns1" + pointer to "ftp.example.com" */
    ptr(m, 34);
    rrfix(m, T_A, a, sizeof(a));
    put8(m, 0); /* OPT: root */
    rrfix(m, T_OPT, opt, sizeof(opt));
    return m;
}

static void test_compression(void **state)
{
    ts_sink_t s = {0};
    msg_t *m = rich_query();
    (void)state;

    assert_int_equal(m->b[34], 3); /* the "ftp" label sits where the authority name points */
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, 4);
    assert_block(&s, 0, "mail.example.com");
    assert_block(&s, 1, "ftp.example.com");
    assert_block(&s, 2, "ns1.ftp.example.com");
    assert_whole(&s, 3, m->b, m->n); /* it has records */
    assert_true(is_query(m->b, m->n));
    ts_reset(&s);
    free(m);
}

static void test_pointer_loop(void **state)
{
    ts_sink_t s = {0};
    msg_t *m;
    (void)state;

    /* a name that points at its own start */
    m = hdr(F_RD, 1, 0, 0, 0);
    label(m, "a", 1);
    ptr(m, 12);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    assert_false(is_query(m->b, m->n));
    free(m);

    /* a pointer to itself */
    m = hdr(F_RD, 1, 0, 0, 0);
    ptr(m, 12);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);

    /*
     * A pointer back into its own name (into a label's bytes, here a 0
     * that would read as the root): backwards, but not before the labels
     * it ends.
     */
    m = hdr(F_RD, 1, 0, 0, 0);
    label(m, "\0z", 2);
    ptr(m, 13);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);

    /*
     * A loop entered from outside: an answer's rdata holds "y" + a pointer
     * back to that "y"; the next record's owner points at the pointer.
     */
    m = hdr(F_RD, 1, 2, 0, 0);
    name(m, "q");
    qfix(m, T_A);
    ptr(m, 12);
    {
        uint16_t r = (uint16_t)(m->n + 10);
        uint8_t rd[4] = {1, 'y', (uint8_t)(0xc0 | r >> 8), (uint8_t)r};
        rrfix(m, T_A, rd, sizeof(rd));
        ptr(m, (uint16_t)(r + 2));
        rrfix(m, T_A, rd, 0);
    }
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    assert_false(is_query(m->b, m->n));
    free(m);
    assert_int_equal(s.n, 1);
    assert_block(&s, 0, "q");
    ts_reset(&s);
    assert_int_equal(s.n, 0);
}

static void test_pointer_forward_or_header(void **state)
{
    ts_sink_t s = {0};
    msg_t *m;
    (void)state;

    /* forward: to a name later in the message */
    m = hdr(F_RD, 2, 0, 0, 0);
    ptr(m, 18);
    qfix(m, T_A);
    name(m, "later.example");
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    assert_int_equal(s.n, 0);
    free(m);

    /* into the header */
    for (uint16_t t = 0; t < 12; t++) {
        m = hdr(F_RD, 2, 0, 0, 0);
        name(m, "a");
        qfix(m, T_A);
        ptr(m, t);
        qfix(m, T_A);
        assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
        free(m);
    }
    /* past the end */
    m = hdr(F_RD, 1, 0, 0, 0);
    ptr(m, 0x3fff);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);
    /* each "a" question was reported before its broken neighbour */
    assert_int_equal(s.n, 12);
    assert_block(&s, 11, "a");
    ts_reset(&s);
}

/*
 * 'jumps' pointers in a row: the last record's owner points at a chain of
 * pointers laid in an earlier record's rdata, ending at the question.
 */
static msg_t *chain(unsigned jumps)
{
    uint8_t rd[64];
    uint16_t base;
    msg_t *m = hdr(F_RD, 1, 2, 0, 0);

    name(m, "chain.example"); /* 12 */
    qfix(m, T_A);
    ptr(m, 12); /* answer 1, rdata = the chain */
    base = (uint16_t)(m->n + 10);
    for (unsigned k = 0; k + 1 < jumps; k++) {
        uint16_t to = k == 0 ? 12 : (uint16_t)(base + 2 * (k - 1));
        rd[2 * k] = (uint8_t)(0xc0 | to >> 8);
        rd[2 * k + 1] = (uint8_t)to;
    }
    rrfix(m, T_A, rd, (uint16_t)(2 * (jumps - 1)));
    ptr(m, (uint16_t)(base + 2 * (jumps - 2))); /* answer 2 */
    rrfix(m, T_A, rd, 0);
    return m;
}

static void test_pointer_jump_bound(void **state)
{
    ts_sink_t s = {0};
    msg_t *m = chain(16);
    (void)state;

    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, 2); /* the same labels: reported once; then the message */
    assert_block(&s, 0, "chain.example");
    assert_whole(&s, 1, m->b, m->n);
    free(m);
    ts_reset(&s);
    m = chain(17);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    assert_int_equal(s.n, 1);
    free(m);
    ts_reset(&s);
}

static void test_label_length(void **state)
{
    char l63[64], l64[65];
    ts_sink_t s = {0};
    msg_t *m;
    (void)state;

    memset(l63, 'a', 63);
    l63[63] = '\0';
    memset(l64, 'b', 64);
    l64[64] = '\0';

    m = hdr(F_RD, 1, 0, 0, 0);
    label(m, l63, 63);
    put8(m, 0);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_block(&s, 0, l63);
    free(m);

    /* 64 and 128 set the reserved length bits */
    m = hdr(F_RD, 1, 0, 0, 0);
    label(m, l64, 64);
    put8(m, 0);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);
    m = hdr(F_RD, 1, 0, 0, 0);
    put8(m, 0x80);
    put(m, l64, 64);
    put(m, l64, 64);
    put8(m, 0);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);
    assert_int_equal(s.n, 1);
    ts_reset(&s);
}

static void test_name_length(void **state)
{
    char l63[63], l61[61], want[300];
    ts_sink_t s = {0};
    msg_t *m;
    (void)state;

    memset(l63, 'c', sizeof(l63));
    memset(l61, 'd', sizeof(l61));
    /* 3 * (1 + 63) + (1 + 61) + 1 = 255 bytes: the longest name */
    m = hdr(F_RD, 1, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        label(m, l63, 63);
    label(m, l61, 61);
    put8(m, 0);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    snprintf(want, sizeof(want), "%.63s.%.63s.%.63s.%.61s", l63, l63, l63, l61);
    assert_block(&s, 0, want);
    assert_int_equal(s.item[0].len, 253);
    free(m);

    /* one byte more */
    m = hdr(F_RD, 1, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        label(m, l63, 63);
    label(m, l63, 62);
    put8(m, 0);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);

    /* the same length reached through a pointer: the suffix counts too */
    m = hdr(F_RD, 2, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        label(m, l63, 63);
    put8(m, 0); /* 12: 193 bytes */
    qfix(m, T_A);
    label(m, l61, 61); /* 61 + 1 + 193 = 255 */
    ptr(m, 12);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    free(m);
    m = hdr(F_RD, 2, 0, 0, 0);
    for (int i = 0; i < 3; i++)
        label(m, l63, 63);
    put8(m, 0);
    qfix(m, T_A);
    label(m, l63, 62); /* 256 */
    ptr(m, 12);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);
    assert_int_equal(s.n, 4);
    ts_reset(&s);
}

/* Exfiltration: a card number in a label; binary labels escaped like dig. */
static void test_label_contents(void **state)
{
    static const uint8_t bin[] = {0x00, 0x01, 'a', ' ', 'b', 0xff, '.', '\\', 0x7f, '~', '!'};
    ts_sink_t s = {0};
    msg_t *m = hdr(F_RD, 2, 0, 0, 0);
    (void)state;

    name(m, "4111111111111111.exp0331.exfil.example");
    qfix(m, T_TXT);
    label(m, bin, sizeof(bin));
    label(m, "tail", 4);
    put8(m, 0);
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, 2);
    assert_block(&s, 0, "4111111111111111.exp0331.exfil.example");
    assert_block(&s, 1, "\\000\\001a\\032b\\255\\.\\\\\\127~!.tail");
    ts_reset(&s);
    free(m);
}

static void test_skipped(void **state)
{
    ts_sink_t s = {0};
    msg_t *m;
    (void)state;

    /* a response: DNS, its names not reported (its answer: the message, test_hidden_bytes) */
    m = hdr(F_RESP, 1, 1, 0, 0);
    name(m, "www.example.com");
    qfix(m, T_A);
    ptr(m, 12);
    rrfix(m, T_A, "\xc0\x00\x02\x01", 4);
    assert_false(is_query(m->b, m->n));
    check_whole(m, NULL, 0);

    /* a response without a question (an mDNS announcement) is DNS too */
    m = hdr(0x8400, 0, 1, 0, 0);
    name(m, "printer.local");
    rrfix(m, T_A, "\xc0\x00\x02\x07", 4);
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_false(is_query(m->b, m->n));
    assert_int_equal(s.n, 1);
    assert_whole(&s, 0, m->b, m->n);
    ts_reset(&s);
    m->b[5] = 17;
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);

    /* a root question (". NS") */
    m = hdr(F_RD, 1, 0, 0, 0);
    put8(m, 0);
    qfix(m, 2);
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_true(is_query(m->b, m->n));
    free(m);
    assert_int_equal(s.n, 0);

    /* trailing bytes: accepted as a message (reported whole), not as a query to sniff */
    m = hdr(F_RD, 1, 0, 0, 0);
    name(m, "t.example");
    qfix(m, T_A);
    put8(m, 0xee);
    assert_false(is_query(m->b, m->n));
    check_whole(m, (const char *const[]){"t.example"}, 1);
}

/*
 * Whatever a message carries besides its header and questions (records' data,
 * bytes after the last record, a response's answers) is no name, but the server
 * receives it: the message is reported whole as one block besides its names, so
 * a value hidden there is scanned. A message with questions only is not.
 */
static void test_hidden_bytes(void **state)
{
    static const char card[] = "card 4539148803436467 exp 03/31";
    ts_sink_t s = {0};
    msg_t *m;
    (void)state;

    /* a query with an additional TXT record holding the value */
    m = hdr(F_RD, 1, 0, 0, 1);
    name(m, "q.example");
    qfix(m, T_A);
    name(m, "r.example");
    rrfix(m, T_TXT, card, sizeof(card) - 1);
    check_whole(m, (const char *const[]){"q.example", "r.example"}, 2);

    /* bytes after the last section */
    m = hdr(F_RD, 1, 0, 0, 0);
    name(m, "t.example");
    qfix(m, T_A);
    put(m, card, sizeof(card) - 1);
    check_whole(m, (const char *const[]){"t.example"}, 1);

    /* a "response" (a client may send one), its answer holding the value */
    m = hdr(F_RESP, 0, 1, 0, 0);
    name(m, "a.example");
    rrfix(m, T_TXT, card, sizeof(card) - 1);
    check_whole(m, NULL, 0);

    /* questions only: the names are all there is */
    m = hdr(F_RESP, 1, 0, 0, 0);
    name(m, "www.example.com");
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, 0);
    free(m);
}

/* At most 64 names per message; the rest is noted. */
static void test_names_bound(void **state)
{
    ts_sink_t s = {0};
    msg_t *m = hdr(F_RD, 1, 0, 0, 70);
    size_t after64 = 0;
    char nm[16];
    (void)state;

    name(m, "q.example");
    qfix(m, T_A);
    for (int i = 0; i < 70; i++) {
        snprintf(nm, sizeof(nm), "r%d", i);
        name(m, nm);
        rrfix(m, T_A, "\x01\x02\x03\x04", 4);
        if (i == 63)
            after64 = m->n;
    }
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    assert_int_equal(s.n, 66);
    assert_block(&s, 0, "q.example");
    assert_block(&s, 63, "r62");
    assert_int_equal(s.item[64].kind, 'N');
    assert_int_equal(s.item[64].field, DLP_NOTE_HEADER_CAP);
    assert_int_equal(s.item[64].bytes, m->n - after64);
    assert_whole(&s, 65, m->b, m->n); /* the names not reported are in it */
    ts_reset(&s);
    free(m);
}

static void test_header_checks(void **state)
{
    ts_sink_t s = {0};
    msg_t *m;
    (void)state;

    for (unsigned qd = 0; qd <= 17; qd++) {
        m = hdr(F_RD, (uint16_t)qd, 0, 0, 0);
        for (unsigned i = 0; i < qd; i++) {
            name(m, "n.example");
            qfix(m, T_A);
        }
        assert_int_equal(parse(m->b, m->n, &s), qd >= 1 && qd <= 16 ? DLP_OK : DLP_EPROTO);
        assert_int_equal(is_query(m->b, m->n), qd >= 1 && qd <= 16);
        free(m);
    }
    /* questions spelled out separately are distinct names: 1 + 2 + ... + 16 */
    assert_int_equal(s.n, 136);
    ts_reset(&s);

    /* opcode 5 (UPDATE), 2 (STATUS) */
    m = hdr(5 << 11, 1, 0, 0, 0);
    name(m, "n.example");
    qfix(m, T_A);
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    m->b[2] = 2 << 3;
    assert_int_equal(parse(m->b, m->n, &s), DLP_EPROTO);
    free(m);
    assert_int_equal(s.n, 0);
}

static void test_not_dns(void **state)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
    ts_sink_t s = {0};
    uint8_t rnd[512];
    uint32_t x = 12345;
    int accepted = 0;
    (void)state;

    assert_int_equal(parse((const uint8_t *)http, strlen(http), &s), DLP_EPROTO);
    assert_int_equal(dlp_dns_message(NULL, 0, &ts_sink_ops, &s), DLP_EPROTO);
    assert_false(dlp_dns_is_query(NULL, 0));
    for (int r = 0; r < 2000; r++) {
        for (size_t i = 0; i < sizeof(rnd); i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            rnd[i] = (uint8_t)x;
        }
        accepted += parse(rnd, (size_t)(x % sizeof(rnd)), &s) == DLP_OK;
        ts_reset(&s);
    }
    assert_int_equal(accepted, 0);
    assert_int_equal(s.n, 0);
}

/* Every prefix of a message: no crash, no over-read (ASan), never accepted. */
static void test_truncated(void **state)
{
    msg_t *m = rich_query();
    ts_sink_t s = {0};
    (void)state;

    for (size_t k = 0; k < m->n; k++) {
        assert_int_equal(parse(m->b, k, &s), DLP_EPROTO);
        assert_false(is_query(m->b, k));
        assert_true(s.n <= 3);
        ts_reset(&s);
    }
    assert_int_equal(parse(m->b, m->n, &s), DLP_OK);
    ts_reset(&s);
    free(m);
}

/* --- TCP ------------------------------------------------------------------ */

static void frame(msg_t *out, const msg_t *m)
{
    put16(out, (uint16_t)m->n);
    put(out, m->b, m->n);
}

/* Writes p in pieces cut at a and b (a <= b); returns the last rc not DLP_OK or DLP_OK. */
static dlp_rc_t stream3(ts_sink_t *s, const uint8_t *p, size_t n, size_t a, size_t b)
{
    dlp_dns_stream_t *d = dlp_dns_stream_new(&ts_sink_ops, s);
    dlp_rc_t rc = DLP_OK, r;

    assert_non_null(d);
    if ((r = dlp_dns_stream_write(d, p, a, NULL)) != DLP_OK)
        rc = r;
    if ((r = dlp_dns_stream_write(d, p + a, b - a, NULL)) != DLP_OK)
        rc = r;
    if ((r = dlp_dns_stream_write(d, p + b, n - b, NULL)) != DLP_OK)
        rc = r;
    dlp_dns_stream_free(d);
    names_only(s);
    return rc;
}

static void test_tcp_split(void **state)
{
    msg_t *q1 = hdr(F_RD, 1, 0, 0, 0), *tcp = calloc(1, sizeof(msg_t)), *q2 = rich_query();
    ts_sink_t ref = {0}, s = {0};
    (void)state;

    name(q1, "tcp.example.org");
    qfix(q1, T_AAAA);
    assert_non_null(tcp);
    frame(tcp, q1);
    put16(tcp, 0); /* an empty message: skipped */
    frame(tcp, q2);

    assert_int_equal(stream3(&ref, tcp->b, tcp->n, 0, 0), DLP_OK);
    assert_int_equal(ref.n, 5);
    assert_block(&ref, 0, "tcp.example.org");
    assert_block(&ref, 1, "mail.example.com");
    assert_whole(&ref, 4, q2->b, q2->n);
    for (size_t a = 0; a <= tcp->n; a++)
        for (size_t b = a; b <= tcp->n; b += 7) {
            assert_int_equal(stream3(&s, tcp->b, tcp->n, a, b), DLP_OK);
            assert_true(ts_equal(&ref, &s));
            ts_reset(&s);
        }
    /* byte by byte */
    {
        dlp_dns_stream_t *d = dlp_dns_stream_new(&ts_sink_ops, &s);
        for (size_t i = 0; i < tcp->n; i++)
            assert_int_equal(dlp_dns_stream_write(d, tcp->b + i, 1, NULL), DLP_OK);
        dlp_dns_stream_free(d);
        names_only(&s);
        assert_true(ts_equal(&ref, &s));
        ts_reset(&s);
    }
    ts_reset(&ref);
    free(q1);
    free(q2);
    free(tcp);
}

/* The largest message (65535 bytes) across many writes; then a malformed one stops the stream. */
/* A message that is not DNS, and one the connection ends inside, are held whole (length
 * first) for the caller to scan as plain bytes; '*used' stops at the failed message's end. */
static void test_tcp_held_bytes(void **state)
{
    static const uint8_t junk[] = "\x00\x09not a dnsXtail 4539148803436467";
    static const uint8_t part[] = "\x01\x00half of a message";
    ts_sink_t s = {0};
    const uint8_t *h;
    size_t used = 0;
    (void)state;

    dlp_dns_stream_t *d = dlp_dns_stream_new(&ts_sink_ops, &s);
    assert_int_equal(dlp_dns_stream_write(d, junk, 5, &used), DLP_OK);
    assert_int_equal(used, 5);
    assert_int_equal(dlp_dns_stream_held(d, &h), 5);
    assert_memory_equal(h, junk, 5);
    assert_int_equal(dlp_dns_stream_write(d, junk + 5, sizeof(junk) - 6, &used), DLP_EPROTO);
    assert_int_equal(used, 6); /* the message ends after "dns" */
    assert_int_equal(dlp_dns_stream_held(d, &h), 11);
    assert_memory_equal(h, junk, 11);
    assert_int_equal(dlp_dns_stream_write(d, junk, 4, &used), DLP_DONE);
    dlp_dns_stream_free(d);

    d = dlp_dns_stream_new(&ts_sink_ops, &s); /* the same message whole in one write */
    assert_int_equal(dlp_dns_stream_write(d, junk, sizeof(junk) - 1, &used), DLP_EPROTO);
    assert_int_equal(used, 11);
    assert_int_equal(dlp_dns_stream_held(d, &h), 11);
    assert_memory_equal(h, junk, 11);
    dlp_dns_stream_free(d);

    d = dlp_dns_stream_new(&ts_sink_ops, &s);
    assert_int_equal(dlp_dns_stream_write(d, part, sizeof(part) - 1, &used), DLP_OK);
    assert_int_equal(used, sizeof(part) - 1);
    assert_int_equal(dlp_dns_stream_held(d, &h), sizeof(part) - 1);
    assert_memory_equal(h, part, sizeof(part) - 1);
    assert_int_equal(s.n, 0);
    dlp_dns_stream_free(d);
    assert_int_equal(dlp_dns_stream_held(NULL, &h), 0);
}

static void test_tcp_largest_and_malformed(void **state)
{
    msg_t *q = hdr(F_RD, 1, 0, 0, 0), *tcp = calloc(1, sizeof(msg_t));
    ts_sink_t s = {0};
    dlp_dns_stream_t *d;
    (void)state;

    assert_non_null(tcp);
    name(q, "big.example");
    qfix(q, T_A);
    q->n = 65535; /* zero padding after the question */
    frame(tcp, q);
    put16(tcp, 14); /* malformed: qdcount 0 */
    put(tcp, "\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 14);
    d = dlp_dns_stream_new(&ts_sink_ops, &s);
    for (size_t off = 0; off < 2 + 65535; off += 1000) {
        size_t k = 2 + 65535 - off < 1000 ? 2 + 65535 - off : 1000;
        assert_int_equal(dlp_dns_stream_write(d, tcp->b + off, k, NULL), DLP_OK);
    }
    names_only(&s);
    assert_int_equal(s.n, 2);
    assert_block(&s, 0, "big.example");
    assert_whole(&s, 1, q->b, q->n); /* the padding: bytes after the question */
    assert_int_equal(dlp_dns_stream_write(d, tcp->b + 2 + 65535, 16, NULL), DLP_EPROTO);
    assert_int_equal(dlp_dns_stream_write(d, tcp->b, 40, NULL), DLP_DONE);
    assert_int_equal(s.n, 2);
    assert_int_equal(dlp_dns_stream_write(NULL, tcp->b, 1, NULL), DLP_EINVAL);
    dlp_dns_stream_free(d);
    dlp_dns_stream_free(NULL);
    ts_reset(&s);
    free(q);
    free(tcp);
}

/* What the stream holds is told (the flow table charges it), and grows with the bytes
 * that came, not with the length a client announces. */
static void test_tcp_mem(void **state)
{
    static const uint8_t big[] = "\xff\xff" "a message announced as 65535 bytes";
    uint8_t *fill = calloc(1, 65535);
    ts_sink_t s = {0};
    dlp_dns_stream_t *d = dlp_dns_stream_new(&ts_sink_ops, &s);
    size_t m0 = dlp_dns_stream_mem(d);
    (void)state;

    assert_non_null(fill);
    assert_true(m0 > 0);
    assert_int_equal(dlp_dns_stream_write(d, big, sizeof(big) - 1, NULL), DLP_OK);
    assert_true(dlp_dns_stream_mem(d) < m0 + 4096);
    /* all but its last byte */
    assert_int_equal(dlp_dns_stream_write(d, fill, 65535 - (sizeof(big) - 3) - 1, NULL), DLP_OK);
    assert_int_equal(dlp_dns_stream_held(d, &(const uint8_t *){NULL}), 65535 + 1);
    assert_true(dlp_dns_stream_mem(d) >= m0 + 65535 + 1);
    assert_int_equal(dlp_dns_stream_mem(NULL), 0);
    dlp_dns_stream_free(d);
    free(fill);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_compression),
        cmocka_unit_test(test_pointer_loop),
        cmocka_unit_test(test_pointer_forward_or_header),
        cmocka_unit_test(test_pointer_jump_bound),
        cmocka_unit_test(test_label_length),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_label_contents),
        cmocka_unit_test(test_skipped),
        cmocka_unit_test(test_hidden_bytes),
        cmocka_unit_test(test_names_bound),
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_not_dns),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_tcp_split),
        cmocka_unit_test(test_tcp_largest_and_malformed),
        cmocka_unit_test(test_tcp_held_bytes),
        cmocka_unit_test(test_tcp_mem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
