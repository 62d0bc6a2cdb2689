/*
 * test_http.c - the HTTP/1.x parser: request target, meta and header
 * streams; body framing (Content-Length, chunked with extensions and
 * trailers, until close, HEAD/1xx/204/304 without body); content codings
 * and content types (form, JSON, gzip, deflate, unsupported codings, the
 * chain bound, multipart CSV upload); keep-alive and pipelining; 100
 * Continue, 101 and CONNECT tunnels; folded headers; the line, header block
 * and pipeline bounds; EOF inside a message; gaps inside and outside bodies;
 * resynchronisation after garbage, the skipped bytes scanned raw;
 * conflicting and invalid Content-Length;
 * the request sniffer; memory accounting.
 *
 * Every script is run with each write in one piece, with each write split
 * in two at every offset, and as 1-byte writes; the recorded output (both
 * directions), DLP_DONE and the bytes consumed must be identical.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>

#include <zlib.h>

#include "app_test_sink.h"
#include "dlp/http.h"
#include "dlp/limits.h"
#include "../../../sensor/app/http_int.h"

#define F_URI DLP_FIELD_HTTP_URI
#define F_HDR DLP_FIELD_HTTP_HEADER
#define F_BODY DLP_FIELD_HTTP_BODY
#define F_RAW DLP_FIELD_RAW
#define M_HOST DLP_META_HTTP_HOST
#define M_METHOD DLP_META_HTTP_METHOD
#define M_PATH DLP_META_HTTP_URI_PATH

/* --- scripts ------------------------------------------------------------- */

typedef struct step {
    char op; /* 'w' write, 'g' gap, 'e' end */
    int dir;
    const uint8_t *p;
    size_t n; /* bytes written, or the gap length */
} step_t;

/* clang-format off */
#define W(d, s) {'w', (d), (const uint8_t *)(s), sizeof(s) - 1}
#define WB(d, p, n) {'w', (d), (p), (n)}
#define G(d, len) {'g', (d), NULL, (len)}
#define E(d) {'e', (d), NULL, 0}
/* clang-format on */
#define NSTEPS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct run {
    ts_sink_t t[2];
    int done[2];      /* DLP_DONE returned */
    uint64_t used[2]; /* bytes the parser took as HTTP */
} run_t;

static void feed(dlp_http_t *h, run_t *r, int dir, const uint8_t *p, size_t n)
{
    size_t used = 12345;
    dlp_rc_t rc;

    ts_sec_write(dir, p, n);
    rc = dlp_http_write(h, dir, p, n, &used);
    ts_sec_done();

    if (r->done[dir]) {
        assert_int_equal(rc, DLP_DONE);
        assert_int_equal(used, 0);
        return;
    }
    if (rc == DLP_DONE) {
        r->done[dir] = 1;
        assert_true(used <= n);
    } else {
        assert_int_equal(rc, DLP_OK);
        assert_int_equal(used, n);
    }
    r->used[dir] += used;
}

/* split: index of the write cut in two at 'at' (none if out of range); step 1: 1-byte writes */
static run_t *run_script(const step_t *s, size_t ns, const dlp_app_limits_t *l, size_t split,
                         size_t at, int bytewise)
{
    run_t *r = calloc(1, sizeof(*r));
    void *ctx[2];
    dlp_http_t *h;

    assert_non_null(r);
    ctx[0] = &r->t[0];
    ctx[1] = &r->t[1];
    r->t[1].dir = 1;
    ts_sec_reset();
    h = dlp_http_new(&ts_sink_ops, ctx, l);
    assert_non_null(h);
    for (size_t i = 0; i < ns; i++) {
        if (s[i].op == 'g') {
            ts_sec_gap(s[i].dir, s[i].n);
            dlp_http_gap(h, s[i].dir, s[i].n);
        } else if (s[i].op == 'e') {
            dlp_http_end(h, s[i].dir);
        } else if (bytewise) {
            for (size_t k = 0; k < s[i].n; k++)
                feed(h, r, s[i].dir, s[i].p + k, 1);
        } else if (i == split) {
            feed(h, r, s[i].dir, s[i].p, at);
            feed(h, r, s[i].dir, s[i].p + at, s[i].n - at);
        } else {
            feed(h, r, s[i].dir, s[i].p, s[i].n);
        }
    }
    dlp_http_free(h);
    return r;
}

static void run_free(run_t *r)
{
    if (r != NULL) {
        ts_reset(&r->t[0]);
        ts_reset(&r->t[1]);
        free(r);
    }
}

static int run_equal(const run_t *a, const run_t *b)
{
    return ts_equal(&a->t[0], &b->t[0]) && ts_equal(&a->t[1], &b->t[1]) &&
           a->done[0] == b->done[0] && a->done[1] == b->done[1] && a->used[0] == b->used[0] &&
           a->used[1] == b->used[1];
}

static void run_dump(const char *what, const run_t *r)
{
    fprintf(stderr, "%s: done %d/%d used %llu/%llu\n dir 0:\n", what, r->done[0], r->done[1],
            (unsigned long long)r->used[0], (unsigned long long)r->used[1]);
    ts_dump(&r->t[0]);
    fprintf(stderr, " dir 1:\n");
    ts_dump(&r->t[1]);
}

/* Runs the script in one piece per write, split at every offset, bytewise; returns the first. */
static run_t *check(const step_t *s, size_t ns, const dlp_app_limits_t *l)
{
    run_t *ref = run_script(s, ns, l, SIZE_MAX, 0, 0), *r;

    for (size_t i = 0; i < ns; i++) {
        for (size_t at = 1; s[i].op == 'w' && at < s[i].n; at++) {
            r = run_script(s, ns, l, i, at, 0);
            if (!run_equal(ref, r)) {
                run_dump("one write per step", ref);
                run_dump("split", r);
                fail_msg("step %zu split at %zu differs", i, at);
            }
            run_free(r);
        }
    }
    r = run_script(s, ns, l, SIZE_MAX, 0, 1);
    if (!run_equal(ref, r)) {
        run_dump("one write per step", ref);
        run_dump("1-byte writes", r);
        fail_msg("1-byte writes differ");
    }
    run_free(r);
    return ref;
}

/*
 * Credentials (secret(), for evidence captures), one piece per write, split at every
 * offset, bytewise: each of sec0 (requests) and sec1 (responses) covered; 'exact': no
 * line holding none of them.
 */
static void check_secrets(const step_t *s, size_t ns, const dlp_app_limits_t *l,
                          const char *const *sec0, size_t n0, const char *const *sec1, size_t n1,
                          int exact)
{
    char what[64];

    for (size_t i = 0; i <= ns; i++) {
        size_t last = i < ns && s[i].op == 'w' ? s[i].n : 0;
        for (size_t at = 0; at <= last; at++) {
            /* i == ns: one piece per write */
            run_t *r = run_script(s, ns, l, i < ns ? i : SIZE_MAX, at, 0);
            snprintf(what, sizeof(what), "step %zu split at %zu", i, at);
            ts_sec_check(0, sec0, n0, exact, what);
            ts_sec_check(1, sec1, n1, exact, what);
            run_free(r);
        }
    }
    run_free(run_script(s, ns, l, SIZE_MAX, 0, 1));
    ts_sec_check(0, sec0, n0, exact, "1-byte writes");
    ts_sec_check(1, sec1, n1, exact, "1-byte writes");
}

/* --- expected output -------------------------------------------------------- */

typedef struct xp {
    char kind;
    int field;
    const char *s; /* stream, block or meta bytes */
    size_t n;
    uint64_t bytes; /* note */
    const char *name;
} xp_t;

/* clang-format off */
#define XS(f, str) {'S', (f), (str), sizeof(str) - 1, 0, ""}
#define XSN(f, nm, str) {'S', (f), (str), sizeof(str) - 1, 0, (nm)}
#define XB(f, str) {'B', (f), (str), sizeof(str) - 1, 0, ""}
#define XM(k, str) {'M', (k), (str), sizeof(str) - 1, 0, ""}
#define XN(k, b) {'N', (k), "", 0, (b), ""}
/* clang-format on */

/* Exactly these items, every stream closed. */
static void expect(const ts_sink_t *t, const xp_t *x, size_t n)
{
    int ok = t->n == n;

    for (size_t i = 0; ok && i < n; i++) {
        const ts_item_t *it = &t->item[i];
        ok = it->kind == x[i].kind && it->field == x[i].field && it->len == x[i].n &&
             (x[i].n == 0 || memcmp(it->data, x[i].s, x[i].n) == 0) && it->bytes == x[i].bytes &&
             strcmp(it->name, x[i].name) == 0 && it->open == 0;
        if (!ok)
            fprintf(stderr, "item %zu differs (expected %c field %d \"%.*s\" bytes %llu)\n", i,
                    x[i].kind, x[i].field, (int)x[i].n, x[i].s, (unsigned long long)x[i].bytes);
    }
    if (!ok) {
        fprintf(stderr, "got %zu items, expected %zu:\n", t->n, n);
        ts_dump(t);
        fail_msg("recorded output differs");
    }
}

#define EXPECT(t, ...)                                                                             \
    do {                                                                                           \
        const xp_t x_[] = {__VA_ARGS__};                                                           \
        expect((t), x_, sizeof(x_) / sizeof(x_[0]));                                               \
    } while (0)
#define EXPECT_NONE(t) assert_int_equal((t)->n, 0)

static size_t gz(const uint8_t *in, size_t n, uint8_t *out, size_t cap, int window_bits)
{
    z_stream z;

    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    deflateEnd(&z);
    return cap - z.avail_out;
}

/* --- requests ---------------------------------------------------------------- */

static void test_get_query(void **state)
{
    const step_t s[] = {
        W(0, "GET /search%20x/a?q=John+Smith&ssn=123%2D45%2D6789 HTTP/1.1\r\n"
             "Host: example.com\r\n"
             "User-Agent:   t/1.0  \r\n"
             "Cookie: sid=abc\r\n"
             "\r\n"),
        W(1, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/search x/a"),
           XB(F_URI, "/search x/a?q=John Smith&ssn=123-45-6789"),
           XS(F_HDR, "Host: example.com\nUser-Agent: t/1.0\nCookie: sid=abc\n"),
           XM(M_HOST, "example.com"));
    EXPECT(&r->t[1], XS(F_HDR, "Content-Length: 5\nContent-Type: text/plain\n"),
           XS(F_BODY, "hello"));
    run_free(r);
}

/* A request's Cookie with a '%' is written again percent-decoded (PHP, Rails, Express read it
 * so); a response's Set-Cookie and other headers are not. */
static void test_cookie_percent_decoded(void **state)
{
    const step_t s[] = {
        W(0, "GET / HTTP/1.1\r\n"
             "Cookie: sid=abc; cc=%34%35%33%39%20%31%34%38%38\r\n"
             "X-Note: a%20b\r\n"
             "\r\n"),
        W(1, "HTTP/1.1 200 OK\r\nSet-Cookie: t=%41\r\nContent-Length: 0\r\n\r\n"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"),
           XS(F_HDR, "Cookie: sid=abc; cc=%34%35%33%39%20%31%34%38%38\n"
                     "Cookie: sid=abc; cc=4539 1488\n"
                     "X-Note: a%20b\n"));
    EXPECT(&r->t[1], XS(F_HDR, "Set-Cookie: t=%41\nContent-Length: 0\n"));
    run_free(r);
}

static void test_target_forms(void **state)
{
    const step_t s[] = {
        W(0, "GET http://user:pw@proxy.example:8080/p%61th?x=%41+b HTTP/1.1\r\n"
             "Host: other.example\r\n\r\n"
             "GET http://bare.example HTTP/1.0\r\n\r\n"
             "OPTIONS * HTTP/1.1\r\n\r\n"
             "M-SEARCH / HTTP/1.1\r\n\r\n"
             "GET /a b HTTP/1.1  \n\n"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_HOST, "proxy.example:8080"), XM(M_PATH, "/path"),
           XB(F_URI, "http://user:pw@proxy.example:8080/path?x=A b"),
           XS(F_HDR, "Host: other.example\n"),
           /* the Host header does not override the absolute form */
           XM(M_METHOD, "GET"), XM(M_HOST, "bare.example"), XM(M_PATH, "/"),
           XB(F_URI, "http://bare.example"), XM(M_METHOD, "OPTIONS"), XM(M_PATH, "*"),
           XB(F_URI, "*"), XM(M_METHOD, "M-SEARCH"), XM(M_PATH, "/"), XB(F_URI, "/"),
           /* a raw space inside the target, bare LF line ends */
           XM(M_METHOD, "GET"), XM(M_PATH, "/a b"), XB(F_URI, "/a b"));
    run_free(r);
}

static void test_post_form(void **state)
{
    const step_t s[] = {
        W(0, "POST /login HTTP/1.1\r\n"
             "Host: h\r\n"
             "Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8\r\n"
             "Content-Length: 14\r\n"
             "\r\n"
             "a=b&c=d%21+x&e"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/login"), XB(F_URI, "/login"),
           XS(F_HDR, "Host: h\n"
                     "Content-Type: Application/X-WWW-Form-Urlencoded; charset=utf-8\n"
                     "Content-Length: 14\n"),
           XM(M_HOST, "h"), XS(F_BODY, "a=b\nc=d! x\ne"));
    run_free(r);
}

/* JSON in UTF-16 (Jackson and .NET detect it; RFC 7159 allowed it): its escapes are
 * undone too, the body made UTF-8 first. */
static void test_post_json_utf16(void **state)
{
    const step_t s[] = {
        W(0, "POST /api HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
             "{\0\"\0c\0\"\0:\0\"\0\\\0u\0000\0000\0003\0004\0\\\0u\0000\0000\0003\0005\0\"\0}\0"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/api"), XB(F_URI, "/api"),
           XS(F_HDR, "Content-Type: application/json\nContent-Length: 40\n"),
           XS(F_BODY, "{\"c\":\"45\"}"));
    run_free(r);
}

static void test_post_json_and_others(void **state)
{
    const step_t s[] = {
        W(0, "POST /api HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n"
             "{\"ssn\":\"123-45-6789\"}"
             "PUT /x HTTP/1.1\r\nContent-Type: application/octet-stream\r\n"
             "Content-Length: 4\r\n\r\n\x00\x01\x02\x03"
             "POST /y HTTP/1.1\r\nContent-Length: 3\r\n\r\na&b"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/api"), XB(F_URI, "/api"),
           XS(F_HDR, "Content-Type: application/json\nContent-Length: 21\n"),
           XS(F_BODY, "{\"ssn\":\"123-45-6789\"}"), XM(M_METHOD, "PUT"), XM(M_PATH, "/x"),
           XB(F_URI, "/x"),
           XS(F_HDR, "Content-Type: application/octet-stream\nContent-Length: 4\n"),
           XS(F_BODY, "\x00\x01\x02\x03"),
           /* no Content-Type: as is */
           XM(M_METHOD, "POST"), XM(M_PATH, "/y"), XB(F_URI, "/y"),
           XS(F_HDR, "Content-Length: 3\n"), XS(F_BODY, "a&b"));
    run_free(r);
}

static void test_chunked_ext_trailers(void **state)
{
    const step_t s[] = {
        W(0, "POST /up HTTP/1.1\r\n"
             "Transfer-Encoding: chunked\r\n"
             "\r\n"
             "5;name=val\r\n"
             "hello\r\n"
             "6 ; x=\"y z\"\r\n"
             " world\r\n"
             "00\r\n"
             "X-Trailer: t1\r\n"
             "X-Sum:abc\r\n"
             "\r\n"
             "GET /next HTTP/1.1\r\n\r\n"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/up"), XB(F_URI, "/up"),
           XS(F_HDR, "Transfer-Encoding: chunked\n"), XS(F_BODY, "hello world"),
           XS(F_HDR, "X-Trailer: t1\nX-Sum: abc\n"), XM(M_METHOD, "GET"), XM(M_PATH, "/next"),
           XB(F_URI, "/next"));
    run_free(r);
}

static void test_chunked_split_value(void **state)
{
    const step_t s[] = {
        W(1, "HTTP/1.1 200 OK\r\n"
             "Transfer-Encoding: chunked\r\n"
             "\r\n"
             "7\r\ncard=41\r\n"
             "A\r\n11 1111 11\r\n"
             "7\n11 1111\n"
             "0\r\n\r\n"
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT_NONE(&r->t[0]);
    EXPECT(&r->t[1], XS(F_HDR, "Transfer-Encoding: chunked\n"),
           XS(F_BODY, "card=4111 1111 1111 1111"), XS(F_HDR, "Content-Length: 2\n"),
           XS(F_BODY, "ok"));
    run_free(r);
}

static void test_gzip_request(void **state)
{
    static const char text[] = "{\"name\":\"John Smith\",\"card\":\"4111 1111 1111 1111\"}";
    static uint8_t buf[4096];
    char head[256];
    size_t zn = gz((const uint8_t *)text, sizeof(text) - 1, buf, sizeof(buf), 31);
    size_t hn = (size_t)snprintf(head, sizeof(head),
                                 "POST /g HTTP/1.1\r\nContent-Encoding: gzip\r\n"
                                 "Content-Length: %zu\r\n\r\n",
                                 zn);
    const step_t s[] = {WB(0, (const uint8_t *)head, hn), WB(0, buf, zn), E(0)};
    run_t *r;
    char hdr[128];

    (void)state;
    r = check(s, NSTEPS(s), NULL);
    snprintf(hdr, sizeof(hdr), "Content-Encoding: gzip\nContent-Length: %zu\n", zn);
    assert_int_equal(r->t[0].n, 5);
    assert_string_equal(ts_str(&r->t[0], 3), hdr);
    assert_int_equal(r->t[0].item[4].kind, 'S');
    assert_int_equal(r->t[0].item[4].field, F_BODY);
    assert_string_equal(ts_str(&r->t[0], 4), text);
    run_free(r);
}

/* Transfer codings before chunked, deflate, unsupported codings, the chain bound. */
static void test_codings(void **state)
{
    static const char text[] = "name=Jane&ssn=123-45-6789";
    static uint8_t z1[512], z2[512], z3[512], body[4096];
    dlp_app_limits_t l;
    size_t n1 = gz((const uint8_t *)text, sizeof(text) - 1, z1, sizeof(z1), 31);
    size_t n2 = gz(z1, n1, z2, sizeof(z2), 15);
    size_t n3 = gz(z2, n2, z3, sizeof(z3), 31), bn;
    run_t *r;

    (void)state;
    /* a chunked response: Transfer-Encoding gzip, chunked; then Content-Encoding deflate,
     * gzip (3 layers) with chain_max 2; then br */
    bn = (size_t)snprintf((char *)body, sizeof(body),
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
                          "Content-Type: application/x-www-form-urlencoded\r\n\r\n%zx\r\n",
                          n1);
    memcpy(body + bn, z1, n1);
    bn += n1;
    bn += (size_t)snprintf((char *)body + bn, sizeof(body) - bn,
                           "\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Encoding: gzip, deflate\r\n"
                           "Content-Length: %zu\r\n\r\n",
                           n2);
    memcpy(body + bn, z2, n2);
    bn += n2;
    bn += (size_t)snprintf((char *)body + bn, sizeof(body) - bn,
                           "HTTP/1.1 200 OK\r\nContent-Encoding: gzip,deflate , x-gzip\r\n"
                           "Content-Length: %zu\r\n\r\n",
                           n3);
    memcpy(body + bn, z3, n3);
    bn += n3;
    bn += (size_t)snprintf((char *)body + bn, sizeof(body) - bn,
                           "HTTP/1.1 200 OK\r\nContent-Encoding: gzip, br\r\n"
                           "Content-Length: 4\r\n\r\n\xce\xb2\x72\x21");
    {
        const step_t s[] = {WB(1, body, bn), E(1)};

        dlp_app_limits_default(&l);
        l.chain_max = 2;
        r = check(s, NSTEPS(s), &l);
    }
    assert_int_equal(r->t[1].n, 10);
    /* gzip transfer coding undone, then the form decoded */
    assert_int_equal(r->t[1].item[1].kind, 'S');
    assert_string_equal(ts_str(&r->t[1], 1), "name=Jane\nssn=123-45-6789");
    /* deflate (zlib) inside gzip */
    assert_string_equal(ts_str(&r->t[1], 3), text);
    /* three codings, two undone: the innermost gzip is passed on, noted */
    assert_int_equal(r->t[1].item[5].kind, 'N');
    assert_int_equal(r->t[1].item[5].field, DLP_NOTE_DEPTH_CAP);
    assert_int_equal(r->t[1].item[6].len, n1);
    assert_memory_equal(r->t[1].item[6].data, z1, n1);
    /* br: nothing undone, raw, noted */
    assert_int_equal(r->t[1].item[8].kind, 'N');
    assert_int_equal(r->t[1].item[8].field, DLP_NOTE_UNSUPPORTED);
    assert_string_equal(ts_str(&r->t[1], 9), "\xce\xb2\x72\x21");
    run_free(r);
}

/* --- connections ----------------------------------------------------------- */

static void test_keepalive(void **state)
{
    const step_t s[] = {
        W(0, "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n"),
        W(1, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        W(0, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
        W(1, "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"),
        W(0, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
        W(1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"),
        W(0, "GET /d HTTP/1.1\r\nHost: h\r\n\r\n"),
        W(1, "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"
             "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "HEAD"), XM(M_PATH, "/a"), XB(F_URI, "/a"),
           XS(F_HDR, "Host: h\n"), XM(M_HOST, "h"), XM(M_METHOD, "GET"), XM(M_PATH, "/b"),
           XB(F_URI, "/b"), XS(F_HDR, "Host: h\n"), XM(M_HOST, "h"), XM(M_METHOD, "GET"),
           XM(M_PATH, "/c"), XB(F_URI, "/c"), XS(F_HDR, "Host: h\n"), XM(M_HOST, "h"),
           XM(M_METHOD, "GET"), XM(M_PATH, "/d"), XB(F_URI, "/d"), XS(F_HDR, "Host: h\n"),
           XM(M_HOST, "h"));
    EXPECT(&r->t[1], XS(F_HDR, "Content-Length: 1000\n"), XS(F_HDR, "Content-Length: 7\n"),
           XS(F_HDR, "Transfer-Encoding: chunked\n"), XS(F_BODY, "body"),
           XS(F_HDR, "Content-Length: 9\n"), XS(F_HDR, "Content-Length: 0\n"));
    run_free(r);
}

static void test_pipelined(void **state)
{
    const step_t s[] = {
        W(0, "GET /1 HTTP/1.1\r\n\r\n"
             "HEAD /2 HTTP/1.1\r\n\r\n"
             "POST /3 HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd"),
        W(1, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"
             "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"
             "HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nthree"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/1"), XB(F_URI, "/1"), XM(M_METHOD, "HEAD"),
           XM(M_PATH, "/2"), XB(F_URI, "/2"), XM(M_METHOD, "POST"), XM(M_PATH, "/3"),
           XB(F_URI, "/3"), XS(F_HDR, "Content-Length: 4\n"), XS(F_BODY, "abcd"));
    EXPECT(&r->t[1], XS(F_HDR, "Content-Length: 3\n"), XS(F_BODY, "one"),
           XS(F_HDR, "Content-Length: 50\n"), XS(F_HDR, "Content-Length: 5\n"),
           XS(F_BODY, "three"));
    run_free(r);
}

static void test_response_until_close(void **state)
{
    const step_t s[] = {
        W(0, "GET / HTTP/1.0\r\n\r\n"),
        W(1, "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>"),
        W(1, "4111-1111-1111-1111</html>\r\n\r\nHTTP/1.1 200 OK\r\n"),
        E(1),
        W(1, "ignored after the end"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"));
    EXPECT(&r->t[1], XS(F_HDR, "Content-Type: text/html\n"),
           XS(F_BODY, "<html>4111-1111-1111-1111</html>\r\n\r\nHTTP/1.1 200 OK\r\n"));
    run_free(r);
}

static void test_continue_100(void **state)
{
    const step_t s[] = {
        W(0, "POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
        W(1, "HTTP/1.1 100 Continue\r\n\r\n"),
        W(0, "dataHEAD /h HTTP/1.1\r\n\r\n"),
        W(1, "HTTP/1.1 102 Processing\r\nX-P: 1\r\n\r\n"
             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
             "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
             "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/u"), XB(F_URI, "/u"),
           XS(F_HDR, "Expect: 100-continue\nContent-Length: 4\n"), XS(F_BODY, "data"),
           XM(M_METHOD, "HEAD"), XM(M_PATH, "/h"), XB(F_URI, "/h"));
    /* 1xx do not take the request: 200 is the POST's, the next one the HEAD's (no body),
     * the 404 answers nothing queued and is framed by its headers */
    EXPECT(&r->t[1], XS(F_HDR, "X-P: 1\n"), XS(F_HDR, "Content-Length: 2\n"), XS(F_BODY, "ok"),
           XS(F_HDR, "Content-Length: 10\n"), XS(F_HDR, "Content-Length: 1\n"), XS(F_BODY, "x"));
    run_free(r);
}

#define UPG_REQ "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
#define UPG_RESP "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"

static void test_upgrade_101(void **state)
{
    const step_t s[] = {
        W(0, UPG_REQ),
        W(1, UPG_RESP "\x81\x05hello"),
        W(1, "\x81\x02hi"),
        W(0, "GET /not-http-any-more HTTP/1.1\r\n\r\n"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    assert_true(r->done[0] && r->done[1]);
    assert_int_equal(r->used[0], sizeof(UPG_REQ) - 1);
    assert_int_equal(r->used[1], sizeof(UPG_RESP) - 1);
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/chat"), XB(F_URI, "/chat"),
           XS(F_HDR, "Upgrade: websocket\nConnection: Upgrade\n"));
    EXPECT(&r->t[1], XS(F_HDR, "Upgrade: websocket\n"));
    run_free(r);
}

/* The client's websocket frames come before the 101 is seen: binary bytes end HTTP. */
static void test_upgrade_client_first(void **state)
{
    const step_t s[] = {
        W(0, UPG_REQ "\x81\x85\x01\x02\x03\x04xxxxx"),
        W(1, UPG_RESP),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    assert_true(r->done[0] && r->done[1]);
    assert_int_equal(r->used[0], sizeof(UPG_REQ) - 1);
    assert_int_equal(r->used[1], sizeof(UPG_RESP) - 1);
    run_free(r);
}

/* Client bytes after the Upgrade request start like a method but are not a request line; the
 * 101 then ends HTTP in the middle of that "line". */
static void test_upgrade_while_skipping(void **state)
{
    const step_t s[] = {
        W(0, UPG_REQ "Zz\x01 binary"), W(1, UPG_RESP), W(0, "more binary, no line end"), E(0), E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    assert_true(r->done[0] && r->done[1]);
    assert_int_equal(r->used[0], sizeof(UPG_REQ "Zz\x01 binary") - 1);
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/chat"), XB(F_URI, "/chat"),
           XS(F_HDR, "Upgrade: websocket\nConnection: Upgrade\n"), XS(F_RAW, "Zz\x01 binary"),
           XN(DLP_NOTE_DECODER_ERROR, 10));
    run_free(r);
}

/* A direction that ends before its first byte: its line buffer was never allocated, and the
 * end has no line to pass on (found by fuzz_app: clang's UBSan saw NULL + 0 there). */
static void test_end_before_any_byte(void **state)
{
    const step_t s[] = {W(0, "GET / HTTP/1.1\r\n\r\n"), E(1), E(0)};
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"));
    EXPECT_NONE(&r->t[1]);
    run_free(r);
}

/* A 101 seen while a header line of the request is being read, and the line then goes over
 * line_max: the line is skipped to its end whatever the split, then HTTP ends. */
#define UPG_PART "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n"
#define UPG_LONG "X-Long: 0123456789012345678901234567890123456789\r\n"

static void test_upgrade_then_line_cap(void **state)
{
    const step_t s[] = {
        W(0, UPG_PART), W(1, UPG_RESP), W(0, UPG_LONG "\x81\x02hi"), E(0), E(1),
    };
    dlp_app_limits_t l;
    run_t *r;

    (void)state;
    dlp_app_limits_default(&l);
    l.line_max = 32;
    r = check(s, NSTEPS(s), &l);
    assert_true(r->done[0] && r->done[1]);
    assert_int_equal(r->used[0], sizeof(UPG_PART UPG_LONG) - 1);
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/chat"), XB(F_URI, "/chat"),
           XS(F_HDR, "Upgrade: websocket\n"), XS(F_RAW, UPG_LONG),
           XN(DLP_NOTE_HEADER_CAP, sizeof(UPG_LONG) - 1));
    run_free(r);
}

#define CONN_REQ "CONNECT example.com:443 HTTP/1.1\r\nHost: ignored.example:443\r\n\r\n"
#define CONN_RESP "HTTP/1.1 200 Connection established\r\n\r\n"
#define TLS_HELLO "\x16\x03\x01\x00\x05hello"

static void test_connect_200(void **state)
{
    const step_t s[] = {
        W(0, CONN_REQ), W(1, CONN_RESP TLS_HELLO), W(0, TLS_HELLO), E(0), E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    assert_true(r->done[0] && r->done[1]);
    assert_int_equal(r->used[0], sizeof(CONN_REQ) - 1);
    assert_int_equal(r->used[1], sizeof(CONN_RESP) - 1);
    EXPECT(&r->t[0], XM(M_METHOD, "CONNECT"), XM(M_HOST, "example.com:443"),
           XB(F_URI, "example.com:443"), XS(F_HDR, "Host: ignored.example:443\n"));
    EXPECT_NONE(&r->t[1]);
    run_free(r);
}

/* A proxy asks for credentials, the client tries again; only the 200 opens the tunnel. */
static void test_connect_407_then_200(void **state)
{
    const step_t s[] = {
        W(0, "CONNECT a.example:443 HTTP/1.1\r\n\r\n"),
        W(1, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\ndeny"),
        W(0, "CONNECT a.example:443 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n"),
        W(1, CONN_RESP TLS_HELLO),
        W(0, TLS_HELLO),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    assert_true(r->done[0] && r->done[1]);
    EXPECT(&r->t[0], XM(M_METHOD, "CONNECT"), XM(M_HOST, "a.example:443"),
           XB(F_URI, "a.example:443"), XM(M_METHOD, "CONNECT"), XM(M_HOST, "a.example:443"),
           XB(F_URI, "a.example:443"), XS(F_HDR, "Proxy-Authorization: Basic dTpw\n"));
    EXPECT(&r->t[1], XS(F_HDR, "Content-Length: 4\n"), XS(F_BODY, "deny"));
    run_free(r);
}

/* One-sided capture: the client's TLS bytes follow the CONNECT, no response is seen. */
static void test_connect_one_sided(void **state)
{
    const step_t s[] = {W(0, CONN_REQ TLS_HELLO), E(0)};
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    assert_true(r->done[0]);
    assert_int_equal(r->used[0], sizeof(CONN_REQ) - 1);
    run_free(r);
}

/* --- headers ------------------------------------------------------------------ */

static void test_folded_header(void **state)
{
    const step_t s[] = {
        W(0, "GET / HTTP/1.1\r\n"
             "X-Long: part one\r\n"
             "   part two  \r\n"
             "\tpart three\r\n"
             " \r\n"
             "Host :  h.example\r\n"
             "NoColonLine\r\n"
             "Empty:\r\n"
             "\r\n"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"),
           /* whitespace before a colon: reported, not acted on */
           XS(F_HDR, "X-Long: part one part two part three\nHost : h.example\nNoColonLine\n"
                     "Empty: \n"));
    run_free(r);
}

/* Authorization, Proxy-Authorization, Cookie and Set-Cookie values (folded too) are told as
 * secrets where they are in the bytes, their names and the other headers not; an overlong
 * one as a whole line, one cut by a gap or the end among the last bytes taken. Still
 * scanned as headers. */
static void test_credential_headers_secret(void **state)
{
    const step_t s[] = {
        W(0, "GET /a HTTP/1.1\r\nHost: h.example\r\nAuthorization: Basic YWxpY2U6czNjcjN0\r\n"
             "X-After: 1\r\n\r\n"),
        W(1, "HTTP/1.1 200 OK\r\nSet-Cookie: sid=c2Vzc2lvbi10b2tlbg; HttpOnly\r\n"
             "Content-Length: 2\r\n\r\nok"),
        W(0, "POST /b HTTP/1.1\r\nproxy-authorization:Bearer eyJhbGciOiJub25lIn0\n"
             "Cookie: sid=c2Vzc2lvbi10b2tlbg\r\nX-Fold: a\r\n"
             "Authorization: Negotiate\r\n  YIIBfAYGKwYBBQUCoIIBcDCCAWyg\r\n\tMIIBaA==\r\n"
             "Content-Length: 4\r\n\r\nbody"),
        E(0),
        E(1),
    };
    static const char *const sec0[] = {"Basic YWxpY2U6czNjcjN0", "Bearer eyJhbGciOiJub25lIn0",
                                       "sid=c2Vzc2lvbi10b2tlbg", "Negotiate",
                                       "YIIBfAYGKwYBBQUCoIIBcDCCAWyg", "MIIBaA=="};
    static const char *const sec1[] = {"sid=c2Vzc2lvbi10b2tlbg; HttpOnly"};
    const step_t over[] = {
        W(0, "GET /c HTTP/1.1\r\nAuthorization: Negotiate "
             "YIIBfAYGKwYBBQUCoIIBcDCCAWygMIIBaAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n"
             "X-After: 1\r\n\r\n"),
        W(0, "GET /d HTTP/1.1\r\nX-Ok: 1\r\n\r\n"),
        E(0),
    };
    static const char *const sec_over[] = {
        "Authorization: Negotiate "
        "YIIBfAYGKwYBBQUCoIIBcDCCAWygMIIBaAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    const step_t cut[] = {
        W(0, "GET /d HTTP/1.1\r\nAuthorization: Basic cut-"),
        G(0, 4),
        W(0, "GET /e HTTP/1.1\r\nCookie: at-the-end"),
        E(0),
    };
    static const char *const sec_cut[] = {"Basic cut-", "at-the-end"};
    dlp_app_limits_t l;
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    assert_non_null(strstr(ts_str(&r->t[0], 3), "Authorization: Basic YWxpY2U6czNjcjN0\n"));
    run_free(r);
    check_secrets(s, NSTEPS(s), NULL, sec0, DLP_ARRAY_LEN(sec0), sec1, DLP_ARRAY_LEN(sec1), 1);
    dlp_app_limits_default(&l);
    l.line_max = 64;
    check_secrets(over, NSTEPS(over), &l, sec_over, 1, NULL, 0, 1);
    check_secrets(cut, NSTEPS(cut), NULL, sec_cut, 2, NULL, 0, 0);
}

#define CAP_OVER                                                                                   \
    "X-Big: "                                                                                      \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
#define CAP_REST "X-After: 1\r\nContent-Length: 5\r\n\r\nbody\n"

/* line_max 64: a 67-byte header line (its message is skipped, body included); a 63-byte one. */
static void test_header_line_cap(void **state)
{
    const step_t s[] = {
        W(0, "GET /a HTTP/1.1\r\nX-Ok: 1\r\n" CAP_OVER CAP_REST),
        W(0, "GET /c HTTP/1.1\r\n"
             "X-Max: 01234567890123456789012345678901234567890123456789012345\r\n\r\n"),
        E(0),
    };
    dlp_app_limits_t l;
    run_t *r;

    (void)state;
    dlp_app_limits_default(&l);
    l.line_max = 64;
    r = check(s, NSTEPS(s), &l);
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/a"), XB(F_URI, "/a"), XS(F_HDR, "X-Ok: 1\n"),
           XS(F_RAW, CAP_OVER CAP_REST), XN(DLP_NOTE_HEADER_CAP, sizeof(CAP_OVER CAP_REST) - 1), XM(M_METHOD, "GET"),
           XM(M_PATH, "/c"), XB(F_URI, "/c"),
           XS(F_HDR, "X-Max: 01234567890123456789012345678901234567890123456789012345\n"));
    run_free(r);
}

/* "Name:value" lines grow by one byte when normalised: lines ending at the buffer's growth
 * steps (256, 512), with bare LF; a last line at EOF one byte over the bound. */
static void test_header_sizes(void **state)
{
    static const size_t len[] = {254, 255, 256, 257, 510, 511, 512, 513};
    static char in[700], want[700];
    dlp_app_limits_t l;

    (void)state;
    for (size_t i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
        size_t n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\nX:"), wn;
        run_t *r;

        memset(in + n, 'v', len[i] - 2);
        n += len[i] - 2;
        memcpy(in + n, "\n\n", 2);
        n += 2;
        wn = (size_t)snprintf(want, sizeof(want), "X: %.*s\n", (int)(len[i] - 2), in + 17);
        {
            const step_t s[] = {WB(0, (const uint8_t *)in, n), E(0)};
            r = check(s, NSTEPS(s), NULL);
        }
        assert_int_equal(r->t[0].n, 4);
        assert_int_equal(r->t[0].item[3].len, wn);
        assert_memory_equal(r->t[0].item[3].data, want, wn);
        run_free(r);
    }
    dlp_app_limits_default(&l);
    l.line_max = 64;
    {
        const step_t s[] = {
            W(0, "GET / HTTP/1.1\r\nA: 1\r\n"
                 "X:012345678901234567890123456789012345678901234567890123456789012"),
            E(0),
            W(1, "HTTP/1.1 200 OK\r\n"
                 "X:01234567890123456789012345678901234567890123456789012345678901\r"),
            E(1),
        };
        run_t *r = check(s, NSTEPS(s), &l);

        EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"), XS(F_HDR, "A: 1\n"),
               XS(F_RAW, "X:012345678901234567890123456789012345678901234567890123456789012"),
               XN(DLP_NOTE_HEADER_CAP, 65));
        EXPECT(&r->t[1],
               XS(F_HDR, "X: 01234567890123456789012345678901234567890123456789012345678901\n"));
        run_free(r);
    }
}

/* The fold case alone: 41 + 27 raw bytes > 64. */
static void test_header_fold_cap(void **state)
{
    const step_t s[] = {
        W(0, "GET /b HTTP/1.1\r\nX-Fold: 0123456789012345678901234567890123456789\r\n"
             " 0123456789012345678901234\r\n"
             "\r\n"
             "GET /c HTTP/1.1\r\n\r\n"),
        E(0),
    };
    dlp_app_limits_t l;
    run_t *r;

    (void)state;
    dlp_app_limits_default(&l);
    l.line_max = 64;
    r = check(s, NSTEPS(s), &l);
    /* the continuation is scanned raw before its header is emitted */
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/b"), XB(F_URI, "/b"),
           XS(F_RAW, " 0123456789012345678901234\r\n\r\n"),
           XS(F_HDR, "X-Fold: 0123456789012345678901234567890123456789\n"),
           XN(DLP_NOTE_HEADER_CAP, 28 + 2), XM(M_METHOD, "GET"), XM(M_PATH, "/c"), XB(F_URI, "/c"));
    run_free(r);
}

/* header_block_max 40: headers fit until the third line; a start line over line_max. */
static void test_header_block_cap(void **state)
{
    const step_t s[] = {
        W(1, "HTTP/1.1 200 OK\r\n"
             "A: 0123456789\r\n" /* 15 */
             "B: 0123456789\r\n" /* 30 */
             "C: 0123456789\r\n" /* 45 > 40 */
             "D: x\r\n\r\nbody\r\n"
             "HTTP/1.1 200 OK\r\n"
             "A: 0123456789\r\n"
             "B: 0123456789\r\n"
             "C: 012\r\n" /* exactly 40 with the blank line */
             "\r\n"),
        E(1),
    };
    dlp_app_limits_t l;
    run_t *r;

    (void)state;
    dlp_app_limits_default(&l);
    l.header_block_max = 40;
    r = check(s, NSTEPS(s), &l);
    EXPECT_NONE(&r->t[0]);
    EXPECT(&r->t[1], XS(F_HDR, "A: 0123456789\nB: 0123456789\n"),
           XS(F_RAW, "C: 0123456789\r\nD: x\r\n\r\nbody\r\n"),
           XN(DLP_NOTE_HEADER_CAP, 15 + 6 + 2 + 6),
           XS(F_HDR, "A: 0123456789\nB: 0123456789\nC: 012\n"));
    run_free(r);
}

#define LONG_URI "/0123456789012345678901234567890123456789012345678901234567890123456789"

static void test_start_line_cap(void **state)
{
    const step_t s[] = {
        W(0, "GET " LONG_URI " HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\n\r\n"),
        E(0),
    };
    dlp_app_limits_t l;
    run_t *r;

    (void)state;
    dlp_app_limits_default(&l);
    l.line_max = 64;
    r = check(s, NSTEPS(s), &l);
    EXPECT(&r->t[0], XS(F_RAW, "GET " LONG_URI " HTTP/1.1\r\nHost: a\r\n\r\n"),
           XN(DLP_NOTE_HEADER_CAP, sizeof("GET " LONG_URI " HTTP/1.1\r\nHost: a\r\n\r\n") - 1),
           XM(M_METHOD, "GET"), XM(M_PATH, "/ok"), XB(F_URI, "/ok"));
    run_free(r);
}

/* 66 pipelined HEADs: the 65th and 66th are not queued (one note), their responses are
 * framed by their headers (and carry a body); the pairing then resumes. */
static void test_pipeline_cap(void **state)
{
    static uint8_t req[66 * 32], resp[67 * 48];
    size_t rn = 0, sn = 0;
    run_t *r;

    (void)state;
    for (int i = 0; i < 66; i++)
        rn +=
            (size_t)snprintf((char *)req + rn, sizeof(req) - rn, "HEAD /%02d HTTP/1.1\r\n\r\n", i);
    for (int i = 0; i < 66; i++)
        sn += (size_t)snprintf((char *)resp + sn, sizeof(resp) - sn,
                               "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", i < 64 ? 3 : 1,
                               i < 64 ? "" : "z");
    {
        const step_t s[] = {WB(0, req, rn),
                            WB(1, resp, sn),
                            W(0, "HEAD /x HTTP/1.1\r\n\r\n"),
                            W(1, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"),
                            E(0),
                            E(1)};
        run_t *b = run_script(s, NSTEPS(s), NULL, SIZE_MAX, 0, 1);

        r = run_script(s, NSTEPS(s), NULL, SIZE_MAX, 0, 0);
        assert_true(run_equal(r, b));
        run_free(b);
    }
    /* 66 requests x 3 items + the note + HEAD /x */
    assert_int_equal(r->t[0].n, 66 * 3 + 1 + 3);
    assert_int_equal(r->t[0].item[64 * 3].kind, 'N');
    assert_int_equal(r->t[0].item[64 * 3].field, DLP_NOTE_DEPTH_CAP);
    assert_string_equal(ts_str(&r->t[0], 64 * 3 + 1), "HEAD");
    assert_string_equal(ts_str(&r->t[0], 66 * 3 + 2), "/x");
    assert_int_equal(r->t[1].n, 66 + 2 + 1);
    for (int i = 0; i < 64; i++)
        assert_string_equal(ts_str(&r->t[1], (size_t)i), "Content-Length: 3\n");
    assert_string_equal(ts_str(&r->t[1], 64), "Content-Length: 1\n");
    assert_string_equal(ts_str(&r->t[1], 65), "z");
    assert_string_equal(ts_str(&r->t[1], 67), "z");
    assert_string_equal(ts_str(&r->t[1], 68), "Content-Length: 3\n");
    run_free(r);
}

#define CHUNK_LONG_EXT                                                                             \
    "5;"                                                                                           \
    "0123456789012345678901234567890123456789012345678901234567890123\r\n"
#define METHOD_33 "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG"

/* Chunk framing errors resynchronise; the size line, trailer, method and codings bounds. */
static void test_chunk_errors_and_bounds(void **state)
{
    const step_t s[] = {
        /* not a size */
        W(0, "POST /1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n"
             "GET /a HTTP/1.1\r\n\r\n"),
        /* a size over 2^40 */
        W(0, "POST /2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000001\r\n"
             "GET /b HTTP/1.1\r\n\r\n"),
        /* data not followed by CRLF */
        W(0, "POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n"
             "GET /c HTTP/1.1\r\n\r\n"),
        /* a size line over line_max (64) */
        W(0, "POST /4 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" CHUNK_LONG_EXT
             "hello\r\n0\r\n\r\nGET /d HTTP/1.1\r\n\r\n"),
        /* trailers over header_block_max (48) */
        W(0, "POST /5 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n"
             "T1: 0123456789012345678901\r\nT2: 0123456789012345678901\r\n\r\n"
             "GET /e HTTP/1.1\r\n\r\n"),
        /* a 33-character method is no request line */
        W(0, METHOD_33 " / HTTP/1.1\r\n\r\nGET /f HTTP/1.1\r\n\r\n"),
        E(0),
    };
    dlp_app_limits_t l;
    run_t *r;

    (void)state;
    dlp_app_limits_default(&l);
    l.line_max = 64;
    l.header_block_max = 48;
    r = check(s, NSTEPS(s), &l);
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/1"), XB(F_URI, "/1"),
           XS(F_HDR, "Transfer-Encoding: chunked\n"), XS(F_RAW, "zz\r\nab\r\n"),
           XN(DLP_NOTE_DECODER_ERROR, 4 + 4),
           XM(M_METHOD, "GET"), XM(M_PATH, "/a"), XB(F_URI, "/a"), XM(M_METHOD, "POST"),
           XM(M_PATH, "/2"), XB(F_URI, "/2"), XS(F_HDR, "Transfer-Encoding: chunked\n"),
           XS(F_RAW, "10000000001\r\n"), XN(DLP_NOTE_DECODER_ERROR, 13), XM(M_METHOD, "GET"), XM(M_PATH, "/b"), XB(F_URI, "/b"),
           XM(M_METHOD, "POST"), XM(M_PATH, "/3"), XB(F_URI, "/3"),
           XS(F_HDR, "Transfer-Encoding: chunked\n"), XS(F_BODY, "ab"),
           XS(F_RAW, "XY\r\n"), XN(DLP_NOTE_DECODER_ERROR, 4), XM(M_METHOD, "GET"), XM(M_PATH, "/c"), XB(F_URI, "/c"),
           XM(M_METHOD, "POST"), XM(M_PATH, "/4"), XB(F_URI, "/4"),
           XS(F_HDR, "Transfer-Encoding: chunked\n"),
           XS(F_RAW, CHUNK_LONG_EXT "hello\r\n0\r\n\r\n"),
           XN(DLP_NOTE_HEADER_CAP, sizeof(CHUNK_LONG_EXT "hello\r\n0\r\n\r\n") - 1),
           XM(M_METHOD, "GET"), XM(M_PATH, "/d"), XB(F_URI, "/d"), XM(M_METHOD, "POST"),
           XM(M_PATH, "/5"), XB(F_URI, "/5"), XS(F_HDR, "Transfer-Encoding: chunked\n"),
           XS(F_BODY, "z"), XS(F_HDR, "T1: 0123456789012345678901\n"),
           XS(F_RAW, "T2: 0123456789012345678901\r\n\r\n"), XN(DLP_NOTE_HEADER_CAP, 28 + 2), XM(M_METHOD, "GET"), XM(M_PATH, "/e"), XB(F_URI, "/e"),
           XS(F_RAW, METHOD_33 " / HTTP/1.1\r\n\r\n"),
           XN(DLP_NOTE_DECODER_ERROR, sizeof(METHOD_33) - 1 + 13 + 2), XM(M_METHOD, "GET"),
           XM(M_PATH, "/f"), XB(F_URI, "/f"));
    run_free(r);
}

/* --- ends and gaps --------------------------------------------------------------- */

static void test_eof_in_message(void **state)
{
    const step_t s[] = {
        W(0, "GET / HTTP/1.1\r\nHost: a\r\nX-Partial: yes"),
        E(0),
        W(1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"),
           XS(F_HDR, "Host: a\nX-Partial: yes\n"), XM(M_HOST, "a"));
    EXPECT(&r->t[1], XS(F_HDR, "Content-Length: 10\n"), XS(F_BODY, "abc"));
    run_free(r);
}

static void test_header_then_eof(void **state)
{
    const step_t s[] = {
        W(0, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        E(0),
        W(1, "HTTP/1.1 200 OK\r\nServer: s\r\n\r\n"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/x"), XB(F_URI, "/x"), XS(F_HDR, "Host: a\n"),
           XM(M_HOST, "a"));
    /* a response without framing is read until the end: an empty body opens nothing */
    EXPECT(&r->t[1], XS(F_HDR, "Server: s\n"));
    run_free(r);
}

/* A gap inside a counted body keeps the framing: the rest is a new body stream. */
static void test_gap_in_body(void **state)
{
    const step_t s[] = {
        W(0, "POST /p HTTP/1.1\r\nContent-Length: 20\r\n\r\nfirst 8."),
        G(0, 5),
        W(0, "last 7!GET /next HTTP/1.1\r\n\r\n"),
        W(1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nab"),
        G(1, 6),
        W(1, "\r\n3\r\ncde\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/p"), XB(F_URI, "/p"),
           XS(F_HDR, "Content-Length: 20\n"), XS(F_BODY, "first 8."), XN(DLP_NOTE_GAP, 5),
           XS(F_BODY, "last 7!"), XM(M_METHOD, "GET"), XM(M_PATH, "/next"), XB(F_URI, "/next"));
    EXPECT(&r->t[1], XS(F_HDR, "Transfer-Encoding: chunked\n"), XS(F_BODY, "ab"),
           XN(DLP_NOTE_GAP, 6), XS(F_BODY, "cde"), XS(F_HDR, "Content-Length: 1\n"),
           XS(F_BODY, "z"));
    run_free(r);
}

/* A gap past the end of a body: the direction resynchronises on the next start line; what
 * comes before it is not HTTP, scanned raw (not noted: the gap explains it), as is a header
 * line the gap cut. */
static void test_gap_resync(void **state)
{
    const step_t s[] = {
        W(0, "POST /p HTTP/1.1\r\nContent-Length: 10\r\n\r\nabcd"),
        G(0, 20),
        W(0, "/1.1\r\nHost: lost\r\n\r\nGET /found HTTP/1.1\r\n\r\n"),
        W(0, "GET /h HTTP/1.1\r\nHost: a\r\nX-A: 1"),
        G(0, 3),
        W(0, "x\r\n\r\nPUT /after HTTP/1.1\r\n\r\n"),
        W(1, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil"),
        G(1, 100),
        W(1, " close"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/p"), XB(F_URI, "/p"),
           XS(F_HDR, "Content-Length: 10\n"), XS(F_BODY, "abcd"), XN(DLP_NOTE_GAP, 20),
           XS(F_RAW, "/1.1\r\nHost: lost\r\n\r\n"), XM(M_METHOD, "GET"), XM(M_PATH, "/found"), XB(F_URI, "/found"), XM(M_METHOD, "GET"),
           XM(M_PATH, "/h"), XB(F_URI, "/h"), XS(F_HDR, "Host: a\n"), XM(M_HOST, "a"),
           XS(F_RAW, "X-A: 1"), XN(DLP_NOTE_GAP, 3), XS(F_RAW, "x\r\n\r\n"), XM(M_METHOD, "PUT"), XM(M_PATH, "/after"), XB(F_URI, "/after"));
    /* until close: the body goes on after the gap in a new stream */
    EXPECT(&r->t[1], XS(F_HDR, "Content-Type: text/plain\n"), XS(F_BODY, "until"),
           XN(DLP_NOTE_GAP, 100), XS(F_BODY, " close"));
    run_free(r);
}

/* A gap in a compressed body: the rest cannot be inflated and is dropped. */
static void test_gap_in_gzip_body(void **state)
{
    static const char text[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789";
    static uint8_t z[256], head[128];
    size_t zn = gz((const uint8_t *)text, sizeof(text) - 1, z, sizeof(z), 31);
    size_t hn = (size_t)snprintf((char *)head, sizeof(head),
                                 "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                                 "Content-Length: %zu\r\n\r\n",
                                 zn);
    const step_t s[] = {WB(1, head, hn),
                        WB(1, z, 10),
                        G(1, 5),
                        WB(1, z + 15, zn - 15),
                        W(1, "HTTP/1.1 204 No Content\r\nA: b\r\n\r\n"),
                        E(1)};
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    /* the first 10 bytes are the gzip header: no output before the gap */
    assert_int_equal(r->t[1].n, 3);
    assert_int_equal(r->t[1].item[1].kind, 'N');
    assert_int_equal(r->t[1].item[1].field, DLP_NOTE_GAP);
    assert_int_equal(r->t[1].item[1].bytes, 5);
    assert_string_equal(ts_str(&r->t[1], 2), "A: b\n");
    run_free(r);
}

#define JUNK "\x00\x01garbage line\r\nmore junk\r\n\r\nget lowercase / HTTP/2.0\r\n"

static void test_garbage_then_request(void **state)
{
    const step_t s[] = {
        W(0, JUNK "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"),
        W(1, "\r\n\r\nSSH-2.0-x\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
        W(0, "\x16\x03\x01 binary\n"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XS(F_RAW, JUNK), XN(DLP_NOTE_DECODER_ERROR, sizeof(JUNK) - 1),
           XM(M_METHOD, "GET"), XM(M_PATH, "/ok"), XB(F_URI, "/ok"), XS(F_HDR, "Host: x\n"),
           XM(M_HOST, "x"),
           /* garbage at the end: noted at the end */
           XS(F_RAW, "\x16\x03\x01 binary\n"), XN(DLP_NOTE_DECODER_ERROR, 11));
    /* empty lines before a start line are not garbage */
    EXPECT(&r->t[1], XS(F_RAW, "SSH-2.0-x\r\n"), XN(DLP_NOTE_DECODER_ERROR, 11),
           XS(F_HDR, "Content-Length: 2\n"),
           XS(F_BODY, "hi"));
    run_free(r);
}

static void test_truncated_start_line(void **state)
{
    const step_t s[] = {W(0, "GET /?card=4111"), E(0)};
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XS(F_RAW, "GET /?card=4111"), XN(DLP_NOTE_DECODER_ERROR, 15));
    run_free(r);
}

/* --- bytes that are not HTTP: scanned raw ----------------------------------------- */

#define SMUGGLED "hello card 4539148803436467 bye\r\n"

/* A line after a request that is no start line is not HTTP: its bytes are scanned raw. */
static void test_raw_after_request(void **state)
{
    const step_t s[] = {
        W(0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n" SMUGGLED),
        E(0),
        W(1, "HTTP/1.1 204 No Content\r\n\r\nsecret 4539148803436467"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"), XS(F_HDR, "Host: x\n"),
           XM(M_HOST, "x"), XS(F_RAW, SMUGGLED),
           XN(DLP_NOTE_DECODER_ERROR, sizeof(SMUGGLED) - 1));
    /* cut short by the end of the direction: still scanned */
    EXPECT(&r->t[1], XS(F_RAW, "secret 4539148803436467"), XN(DLP_NOTE_DECODER_ERROR, 23));
    run_free(r);
}

#define LONG_JUNK                                                                                  \
    "hello there 4539148803436467 0123456789012345678901234567890123456789"                        \
    "0123456789012345678901234567890123456789 4539148803436467 end\r\n"

/* A line over line_max that could have been a start line: every byte of it is scanned. */
static void test_raw_long_line(void **state)
{
    const step_t s[] = {W(0, "GET / HTTP/1.1\r\n\r\n" LONG_JUNK "x\r\n"), E(0)};
    dlp_app_limits_t l;
    run_t *r;

    (void)state;
    dlp_app_limits_default(&l);
    l.line_max = 64;
    r = check(s, NSTEPS(s), &l);
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"),
           XS(F_RAW, LONG_JUNK "x\r\n"), XN(DLP_NOTE_HEADER_CAP, sizeof(LONG_JUNK "x\r\n") - 1));
    run_free(r);
}

#define RAW_JUNK "\x00\x01junk 4539148803436467\r\nmore junk\r\n\r\n"

/* Garbage, then a request: HTTP resumes, its body is a body again. */
static void test_raw_then_request(void **state)
{
    const step_t s[] = {
        W(0, RAW_JUNK "POST /u HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
        E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XS(F_RAW, RAW_JUNK), XN(DLP_NOTE_DECODER_ERROR, sizeof(RAW_JUNK) - 1),
           XM(M_METHOD, "POST"), XM(M_PATH, "/u"), XB(F_URI, "/u"), XS(F_HDR, "Content-Length: 5\n"),
           XS(F_BODY, "hello"));
    run_free(r);
}

/* Empty lines before a start line are legal (RFC 9112 2.2): not scanned, not noted. */
static void test_raw_not_empty_lines(void **state)
{
    const step_t s[] = {
        W(0, "\r\n\n\r\nbad line\r\nGET / HTTP/1.1\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
        E(0),
        W(1, "\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XS(F_RAW, "bad line\r\n"), XN(DLP_NOTE_DECODER_ERROR, 10), XM(M_METHOD, "GET"),
           XM(M_PATH, "/"), XB(F_URI, "/"), XM(M_METHOD, "GET"), XM(M_PATH, "/b"), XB(F_URI, "/b"));
    EXPECT_NONE(&r->t[1]);
    run_free(r);
}

/* A line cut by a gap can no longer be told a start line: scanned raw, not noted. */
static void test_raw_line_cut_by_gap(void **state)
{
    const step_t s[] = {
        W(0, "GET /?card=4111"), G(0, 4), W(0, "1111\r\nGET /b HTTP/1.1\r\n\r\n"), E(0),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XS(F_RAW, "GET /?card=4111"), XN(DLP_NOTE_GAP, 4), XS(F_RAW, "1111\r\n"),
           XM(M_METHOD, "GET"), XM(M_PATH, "/b"), XB(F_URI, "/b"));
    run_free(r);
}

/* --- Content-Length -------------------------------------------------------------- */

static void test_content_length(void **state)
{
    const step_t s[] = {
        /* conflicting: the first value frames the body, noted once */
        W(0, "POST /c HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n"
             "Content-Length: 6\r\n\r\nabcGET /n HTTP/1.1\r\n\r\n"),
        /* a list of equal values is one value; repeated equal headers too */
        W(0, "POST /l HTTP/1.1\r\nContent-Length: 2 , 2\r\nContent-Length: 2\r\n\r\nxy"),
        /* a list with different values */
        W(0, "POST /d HTTP/1.1\r\nContent-Length: 1,2\r\n\r\nqGET /e HTTP/1.1\r\n\r\n"),
        /* Transfer-Encoding wins over Content-Length */
        W(0, "POST /t HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
             "1\r\nk\r\n0\r\n\r\n"),
        /* an invalid value, and nothing else: the body runs to the end */
        W(0, "POST /i HTTP/1.1\r\nContent-Length: -1\r\n\r\nrest GET /z HTTP/1.1\r\n\r\n"),
        E(0),
        /* over 2^40: invalid; Transfer-Encoding not ending in chunked: until close */
        W(1, "HTTP/1.1 200 OK\r\nContent-Length: 1099511627777\r\n\r\nbig"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(
        &r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/c"), XB(F_URI, "/c"),
        XS(F_HDR, "Content-Length: 3\nContent-Length: 5\nContent-Length: 6\n"),
        XN(DLP_NOTE_DECODER_ERROR, 0), XS(F_BODY, "abc"), XM(M_METHOD, "GET"), XM(M_PATH, "/n"),
        XB(F_URI, "/n"), XM(M_METHOD, "POST"), XM(M_PATH, "/l"), XB(F_URI, "/l"),
        XS(F_HDR, "Content-Length: 2 , 2\nContent-Length: 2\n"), XS(F_BODY, "xy"),
        XM(M_METHOD, "POST"), XM(M_PATH, "/d"), XB(F_URI, "/d"), XS(F_HDR, "Content-Length: 1,2\n"),
        XN(DLP_NOTE_DECODER_ERROR, 0), XS(F_BODY, "q"), XM(M_METHOD, "GET"), XM(M_PATH, "/e"),
        XB(F_URI, "/e"), XM(M_METHOD, "POST"), XM(M_PATH, "/t"), XB(F_URI, "/t"),
        XS(F_HDR, "Content-Length: 100\nTransfer-Encoding: chunked\n"), XS(F_BODY, "k"),
        XM(M_METHOD, "POST"), XM(M_PATH, "/i"), XB(F_URI, "/i"), XS(F_HDR, "Content-Length: -1\n"),
        XN(DLP_NOTE_DECODER_ERROR, 0), XS(F_BODY, "rest GET /z HTTP/1.1\r\n\r\n"));
    EXPECT(&r->t[1], XS(F_HDR, "Content-Length: 1099511627777\n"), XN(DLP_NOTE_DECODER_ERROR, 0),
           XS(F_BODY, "big"));
    run_free(r);
}

static void test_transfer_encoding_not_chunked(void **state)
{
    const step_t s[] = {
        /* nine codings: more than are remembered, passed raw */
        W(0, "POST /6 HTTP/1.1\r\nContent-Encoding: gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,"
             "gzip\r\nContent-Length: 3\r\n\r\nraw"),
        W(0, "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked, br\r\n\r\nraw"),
        E(0),
        W(1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\n"
             "1HTTP/1.1 200 OK\r\nTransfer-Encoding: compress\r\n\r\nzz"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    /* chunked not last: the request body runs to the end, noted; br cannot be undone:
     * passed raw, noted */
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/6"), XB(F_URI, "/6"),
           XS(F_HDR, "Content-Encoding: gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip,gzip\n"
                     "Content-Length: 3\n"),
           XN(DLP_NOTE_DEPTH_CAP, 0), XS(F_BODY, "raw"), XM(M_METHOD, "POST"), XM(M_PATH, "/t"),
           XB(F_URI, "/t"), XS(F_HDR, "Transfer-Encoding: chunked, br\n"),
           XN(DLP_NOTE_DECODER_ERROR, 0), XN(DLP_NOTE_UNSUPPORTED, 0), XS(F_BODY, "raw"));
    EXPECT(&r->t[1], XS(F_HDR, "Transfer-Encoding: identity\nContent-Length: 1\n"), XS(F_BODY, "1"),
           XS(F_HDR, "Transfer-Encoding: compress\n"), XN(DLP_NOTE_UNSUPPORTED, 0),
           XS(F_BODY, "zz"));
    run_free(r);
}

/* Readings chosen where browsers and servers differ (HTTP evader cases). */
static void test_evasions(void **state)
{
    const step_t s[] = {
        W(0, "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        E(0),
        W(1, "HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\nraw!"
             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             " 3\r\nabc\r\n"
             "3x\r\ndef\r\n"
             "\r\n\r\n"
             "3\r\r\nghi\r\n"
             "\t2;e\r\njk\r\n"
             "0\r\n\r\n"
             "http/1.1 200 OK\r\nContent-Length: 1\r\n\r\nl"
             "HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nm"
             "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"
             "X5O!P%@AP"),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/a"), XB(F_URI, "/a"),
           XS(F_HDR, "Transfer-Encoding: chunked\n"), XN(DLP_NOTE_DECODER_ERROR, 0),
           XS(F_BODY, "5\r\nhello\r\n0\r\n\r\n"));
    EXPECT(&r->t[1], XS(F_HDR, "Transfer-Encoding : chunked\nContent-Length: 4\n"),
           XS(F_BODY, "raw!"), XS(F_HDR, "Transfer-Encoding: chunked\n"), XS(F_BODY, "abcdefghijk"),
           XS(F_HDR, "Content-Length: 1\n"), XS(F_BODY, "l"), XS(F_HDR, "Content-Length: 1\n"),
           XS(F_BODY, "m"), XS(F_HDR, "Transfer-Encoding: chunked\nContent-Length: 2\n"),
           XN(DLP_NOTE_DECODER_ERROR, 0), XS(F_BODY, "X5O!P%@AP"));
    run_free(r);
}

/* --- multipart ------------------------------------------------------------------ */

#define CSV "name,ssn\r\nJohn Smith,123-45-6789\r\nJane Roe,987-65-4320\r\n"
#define MP_BODY                                                                                    \
    "--XyZ\r\n"                                                                                    \
    "Content-Disposition: form-data; name=\"comment\"\r\n"                                         \
    "\r\n"                                                                                         \
    "see attached\r\n"                                                                             \
    "--XyZ\r\n"                                                                                    \
    "Content-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\n"                   \
    "Content-Type: text/csv\r\n"                                                                   \
    "\r\n" CSV "\r\n"                                                                              \
    "--XyZ--\r\n"

/*
 * POSTs a multipart/form-data body (boundary bnd) to target with the Content-Length it
 * needs, after a Host header if host is not NULL, then 'after'; checked in every split.
 * hdr gets the header stream the request's headers make.
 */
static run_t *mp_post(const char *target, const char *host, const char *bnd, const char *body,
                      const char *after, char *hdr, size_t cap)
{
    static char req[1024];
    size_t n = (size_t)snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\n", target);
    size_t h = 0;

    if (host != NULL) {
        n += (size_t)snprintf(req + n, sizeof(req) - n, "Host: %s\r\n", host);
        h = (size_t)snprintf(hdr, cap, "Host: %s\n", host);
    }
    n += (size_t)snprintf(req + n, sizeof(req) - n,
                          "Content-Type: multipart/form-data; boundary=%s\r\n"
                          "Content-Length: %zu\r\n\r\n%s%s",
                          bnd, strlen(body), body, after);
    snprintf(hdr + h, cap - h,
             "Content-Type: multipart/form-data; boundary=%s\nContent-Length: %zu\n", bnd,
             strlen(body));
    assert_true(n < sizeof(req));
    {
        const step_t s[] = {WB(0, (const uint8_t *)req, n), E(0)};
        return check(s, NSTEPS(s), NULL);
    }
}

static void test_multipart_csv(void **state)
{
    char hdr[256];
    run_t *r = mp_post("/upload", "files.example", "XyZ", MP_BODY, "GET /after HTTP/1.1\r\n\r\n",
                       hdr, sizeof(hdr));

    (void)state;
    /* text fields and files are both bodies, named by field or file name; the parts'
     * headers are blocks of the header field */
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/upload"), XB(F_URI, "/upload"),
           {'S', F_HDR, hdr, strlen(hdr), 0, ""}, XM(M_HOST, "files.example"),
           XB(F_HDR, "Content-Disposition: form-data; name=\"comment\""),
           XSN(F_BODY, "comment", "see attached"),
           XB(F_HDR, "Content-Disposition: form-data; name=\"file\"; filename=\"people.csv\""),
           XB(F_HDR, "Content-Type: text/csv"), XSN(F_BODY, "people.csv", CSV),
           XM(M_METHOD, "GET"), XM(M_PATH, "/after"), XB(F_URI, "/after"));
    run_free(r);
}

/* A part's headers are reported in the header field: its file name may be the value itself. */
#define MP_NAMED                                                                                   \
    "--b7\r\n"                                                                                     \
    "Content-Disposition: form-data; name=\"file\"; filename=\"536-22-8417 Jane Doe.pdf\"\r\n"     \
    "X-Note: 4539148803436467\r\n"                                                                 \
    "\r\n"                                                                                         \
    "%PDF-1.4\r\n"                                                                                 \
    "--b7--\r\n"

static void test_multipart_part_headers(void **state)
{
    char hdr[128];
    run_t *r = mp_post("/u", NULL, "b7", MP_NAMED, "", hdr, sizeof(hdr));

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "POST"), XM(M_PATH, "/u"), XB(F_URI, "/u"),
           {'S', F_HDR, hdr, strlen(hdr), 0, ""},
           XB(F_HDR,
              "Content-Disposition: form-data; name=\"file\"; filename=\"536-22-8417 Jane Doe.pdf\""),
           XB(F_HDR, "X-Note: 4539148803436467"),
           XSN(F_BODY, "536-22-8417 Jane Doe.pdf", "%PDF-1.4"));
    run_free(r);
}

/* --- generated traffic ------------------------------------------------------------- */

typedef struct gen {
    uint64_t seed;
    uint8_t buf[2][8192];
    size_t n[2];
    step_t st[64];
    size_t nst;
} gen_t;

static uint32_t rnd(gen_t *g, uint32_t m)
{
    g->seed = g->seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return m == 0 ? 0 : (uint32_t)(g->seed >> 33) % m;
}

static void put(gen_t *g, int dir, const char *s, size_t n)
{
    if (g->n[dir] + n <= sizeof(g->buf[dir])) {
        memcpy(g->buf[dir] + g->n[dir], s, n);
        g->n[dir] += n;
    }
}

static void puts_(gen_t *g, int dir, const char *s)
{
    put(g, dir, s, strlen(s));
}

/* v in decimal, or in hex (upper case when 'upper') */
static void put_num(gen_t *g, int dir, size_t v, int hex, int upper)
{
    char b[32];
    int k = hex ? (upper ? snprintf(b, sizeof(b), "%zX", v) : snprintf(b, sizeof(b), "%zx", v))
                : snprintf(b, sizeof(b), "%zu", v);

    put(g, dir, b, (size_t)k);
}

static void put_run(gen_t *g, int dir, size_t n)
{
    static const char al[] = "abcdefghij0123456789 +%:;,=&\t";

    for (size_t i = 0; i < n; i++)
        put(g, dir, &al[rnd(g, sizeof(al) - 1)], 1);
}

/* Ends the current write step of 'dir' (what was put since the last one). */
static size_t mark[2];

static void cut(gen_t *g, int dir)
{
    if (g->n[dir] > mark[dir] && g->nst < 60) {
        g->st[g->nst++] = (step_t){'w', dir, g->buf[dir] + mark[dir], g->n[dir] - mark[dir]};
        mark[dir] = g->n[dir];
    }
}

static void gen_headers(gen_t *g, int dir, int *chunked, size_t *cl)
{
    static const char *const ce[] = {"gzip", "deflate", "br", "gzip, gzip", "identity"};
    static const char *const ct[] = {"application/x-www-form-urlencoded", "text/plain",
                                     "multipart/form-data; boundary=b"};
    uint32_t nh = rnd(g, 6);

    *chunked = 0;
    *cl = SIZE_MAX;
    for (uint32_t i = 0; i < nh; i++) {
        switch (rnd(g, 9)) {
        case 0:
            *cl = rnd(g, 40);
            puts_(g, dir, "Content-Length: ");
            put_num(g, dir, *cl, 0, 0);
            puts_(g, dir, "\r\n");
            break;
        case 1:
            puts_(g, dir, "Transfer-Encoding: chunked\r\n");
            *chunked = 1;
            break;
        case 2:
            puts_(g, dir, "Content-Encoding: ");
            puts_(g, dir, ce[rnd(g, 5)]);
            puts_(g, dir, "\r\n");
            break;
        case 3:
            puts_(g, dir, "Content-Type:");
            puts_(g, dir, ct[rnd(g, 3)]);
            puts_(g, dir, "\r\n");
            break;
        case 4:
            puts_(g, dir, "X-Fold: a\r\n");
            for (uint32_t k = rnd(g, 3); k > 0; k--) {
                puts_(g, dir, rnd(g, 2) ? " " : "\t");
                put_run(g, dir, rnd(g, 40));
                puts_(g, dir, "\r\n");
            }
            break;
        case 5:
            puts_(g, dir, "X-Long:");
            put_run(g, dir, rnd(g, 4) ? rnd(g, 120) : 240 + rnd(g, 300));
            puts_(g, dir, rnd(g, 4) ? "\r\n" : "\n");
            break;
        case 6:
            puts_(g, dir, dir == 0 ? "Host: h.example\r\n" : "Server: s\r\n");
            break;
        case 7:
            puts_(g, dir, "Upgrade: x\r\n");
            break;
        default:
            put_run(g, dir, rnd(g, 10));
            puts_(g, dir, "\r\n");
            break;
        }
    }
    puts_(g, dir, "\r\n");
}

static void gen_body(gen_t *g, int dir, int chunked, size_t cl)
{
    if (chunked) {
        for (uint32_t k = rnd(g, 4); k > 0; k--) {
            size_t n = rnd(g, 20) + 1;
            int ext = (int)rnd(g, 2);

            put_num(g, dir, n, 1, ext);
            puts_(g, dir, ext ? ";e=1\r\n" : "\r\n");
            put_run(g, dir, n);
            puts_(g, dir, "\r\n");
        }
        puts_(g, dir, rnd(g, 3) ? "0\r\n\r\n" : "0\r\nT: 1\r\n\r\n");
    } else if (cl != SIZE_MAX) {
        put_run(g, dir, cl);
    } else if (dir == 1 && rnd(g, 4) == 0) {
        put_run(g, dir, rnd(g, 30));
    }
}

static void gen_message(gen_t *g, int dir)
{
    static const char *const meth[] = {"GET", "POST", "HEAD", "CONNECT", "PUT", "OPTIONS"};
    static const unsigned status[] = {200, 204, 304, 100, 101, 404, 200, 201};
    int chunked;
    size_t cl;

    if (dir == 0) {
        puts_(g, 0, meth[rnd(g, 6)]);
        puts_(g, 0, rnd(g, 8) ? " /" : " http://a.example/");
        put_run(g, 0, rnd(g, 30));
        puts_(g, 0, rnd(g, 10) ? " HTTP/1.1\r\n" : " HTTP/1.0\n");
    } else {
        puts_(g, 1, "HTTP/1.1 ");
        put_num(g, 1, status[rnd(g, 8)], 0, 0);
        puts_(g, 1, " X\r\n");
    }
    gen_headers(g, dir, &chunked, &cl);
    gen_body(g, dir, chunked, cl);
}

static void gen_script(gen_t *g)
{
    g->n[0] = g->n[1] = g->nst = 0;
    mark[0] = mark[1] = 0;
    for (uint32_t i = rnd(g, 10) + 1; i > 0; i--) {
        int dir = (int)rnd(g, 2);
        uint32_t what = rnd(g, 20);

        if (what == 0) {
            put_run(g, dir, rnd(g, 30));
            puts_(g, dir, "\r\n");
        } else if (what == 1 && g->nst < 60) {
            cut(g, dir);
            g->st[g->nst++] = (step_t){'g', dir, NULL, rnd(g, 50) + 1};
        } else {
            gen_message(g, dir);
        }
        if (rnd(g, 3) == 0)
            cut(g, dir);
    }
    cut(g, 0);
    cut(g, 1);
    for (int dir = 0; dir < 2; dir++)
        for (uint32_t k = rnd(g, 4); k > 0 && g->n[dir] > 0; k--)
            g->buf[dir][rnd(g, (uint32_t)g->n[dir])] = (uint8_t)rnd(g, 256);
    g->st[g->nst++] = (step_t){'e', 0, NULL, 0};
    g->st[g->nst++] = (step_t){'e', 1, NULL, 0};
}

/* Any split gives the same output, within bounds (ASan), for generated traffic. */
static void test_generated(void **state)
{
    gen_t *g = calloc(1, sizeof(*g));
    dlp_app_limits_t l;

    (void)state;
    assert_non_null(g);
    g->seed = 20240611;
    for (int it = 0; it < 400; it++) {
        run_t *ref, *r;

        gen_script(g);
        dlp_app_limits_default(&l);
        if (rnd(g, 4) != 0) {
            l.line_max = 16 + rnd(g, 100);
            l.header_block_max = 32 + rnd(g, 300);
            l.chain_max = rnd(g, 3);
        }
        ref = run_script(g->st, g->nst, &l, SIZE_MAX, 0, 0);
        for (int k = 0; k < 24; k++) {
            size_t i = rnd(g, (uint32_t)g->nst);

            if (g->st[i].op != 'w' || g->st[i].n < 2)
                continue;
            r = run_script(g->st, g->nst, &l, i, 1 + rnd(g, (uint32_t)g->st[i].n - 1), 0);
            if (!run_equal(ref, r)) {
                run_dump("one write per step", ref);
                run_dump("split", r);
                fail_msg("script %d differs when split", it);
            }
            run_free(r);
        }
        r = run_script(g->st, g->nst, &l, SIZE_MAX, 0, 1);
        if (!run_equal(ref, r)) {
            run_dump("one write per step", ref);
            run_dump("1-byte writes", r);
            fail_msg("script %d differs in 1-byte writes", it);
        }
        run_free(r);
        run_free(ref);
    }
    free(g);
}

/* --- sniffing, memory ---------------------------------------------------------------- */

static void test_sniff(void **state)
{
    static const struct {
        const char *s;
        dlp_http_sniff_t want;
    } c[] = {
        {"GET / HTTP/1.1\r\n", DLP_HTTP_SNIFF_YES},
        {"POST /api/v1/upload", DLP_HTTP_SNIFF_YES},
        {"OPTIONS * HTTP/1.1", DLP_HTTP_SNIFF_YES},
        {"GET http://a/ HTTP/1.1", DLP_HTTP_SNIFF_YES},
        {"CONNECT a.example:443 HTTP/1.1", DLP_HTTP_SNIFF_YES},
        {"M-SEARCH * HTTP/1.1", DLP_HTTP_SNIFF_YES},
        {"BASELINE-CONTROL /", DLP_HTTP_SNIFF_YES},
        {"", DLP_HTTP_SNIFF_MORE},
        {"G", DLP_HTTP_SNIFF_MORE},
        {"GET", DLP_HTTP_SNIFF_MORE},
        {"GET ", DLP_HTTP_SNIFF_MORE},
        {"GET ht", DLP_HTTP_SNIFF_MORE},
        {"GET /x HTTP/1", DLP_HTTP_SNIFF_YES},
        {"GE /", DLP_HTTP_SNIFF_NO},
        {"get / HTTP/1.1", DLP_HTTP_SNIFF_NO},
        {"GET x HTTP/1.1", DLP_HTTP_SNIFF_NO},
        {"GET ftp://x", DLP_HTTP_SNIFF_NO},
        {"GET /x HTTP/2.0", DLP_HTTP_SNIFF_NO},
        {"GET /x\tHTTP/1.1", DLP_HTTP_SNIFF_NO},
        {"GET /x  HTTP/1.1", DLP_HTTP_SNIFF_NO},
        {"PRI * HTTP/2.0\r\n", DLP_HTTP_SNIFF_NO},
        {"ABCDEFGHIJKLMNOPQ /", DLP_HTTP_SNIFF_NO},
        {"ABCDEFGHIJKLMNOP /", DLP_HTTP_SNIFF_YES},
        {"-GET /", DLP_HTTP_SNIFF_NO},
        {"HTTP/1.1 200 OK", DLP_HTTP_SNIFF_NO},
        {"\x16\x03\x01", DLP_HTTP_SNIFF_NO},
        {"SSH-2.0-OpenSSH", DLP_HTTP_SNIFF_NO},
        {"EHLO mail.example", DLP_HTTP_SNIFF_NO},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        size_t n = strlen(c[i].s);
        dlp_http_sniff_t got = dlp_http_sniff_request((const uint8_t *)c[i].s, n);
        if (got != c[i].want)
            fail_msg("sniff \"%s\": %d, want %d", c[i].s, got, c[i].want);
        assert_int_equal(dlp_http_is_request((const uint8_t *)c[i].s, n),
                         c[i].want != DLP_HTTP_SNIFF_NO);
    }
}

#define GZ_RESP "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b"

static void test_mem_and_args(void **state)
{
    ts_sink_t *t = calloc(2, sizeof(*t));
    void *ctx[2] = {&t[0], &t[1]};
    dlp_app_limits_t l;
    dlp_http_t *h;
    size_t base, used;
    static uint8_t big[600];

    (void)state;
    assert_non_null(t);
    dlp_app_limits_default(&l);
    l.line_max = 512;
    assert_null(dlp_http_new(NULL, ctx, &l));
    h = dlp_http_new(&ts_sink_ops, ctx, &l);
    assert_non_null(h);
    base = dlp_http_mem(h);
    assert_true(base > 0);
    assert_int_equal(dlp_http_write(h, 2, big, 1, &used), DLP_EINVAL);
    assert_int_equal(dlp_http_write(h, 0, NULL, 1, &used), DLP_EINVAL);
    assert_int_equal(dlp_http_write(h, 0, big, 0, &used), DLP_OK);
    assert_int_equal(used, 0);
    /* a 600-byte header line: over line_max; the buffer never exceeds line_max + 2 */
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', sizeof(big) - 19);
    assert_int_equal(dlp_http_write(h, 0, big, sizeof(big), NULL), DLP_OK);
    assert_true(dlp_http_mem(h) <= base + l.line_max + 2);
    assert_true(dlp_http_mem(h) > base);
    /* an open gzip chain counts */
    assert_int_equal(dlp_http_write(h, 1, DLP_STR_BYTES(GZ_RESP), &used), DLP_OK);
    assert_true(dlp_http_mem(h) > base + 32 * 1024);
    dlp_http_gap(h, 3, 1);
    dlp_http_end(NULL, 0);
    dlp_http_free(h);
    dlp_http_free(NULL);
    assert_int_equal(dlp_http_mem(NULL), 0);
    ts_reset(&t[0]);
    ts_reset(&t[1]);
    free(t);
}

/* PHP's $_COOKIE decodes '+' as a space too (php_url_decode): a card written
 * "4539+1488+..." in a cookie, without any '%', is the card to it. */
static void test_cookie_plus_decoded(void **state)
{
    const step_t s[] = {
        W(0, "GET / HTTP/1.1\r\n"
             "Cookie: cc=4539+1488+0343+6467\r\n"
             "\r\n"),
        E(0),
        E(1),
    };
    run_t *r = check(s, NSTEPS(s), NULL);

    (void)state;
    EXPECT(&r->t[0], XM(M_METHOD, "GET"), XM(M_PATH, "/"), XB(F_URI, "/"),
           XS(F_HDR, "Cookie: cc=4539+1488+0343+6467\n"
                     "Cookie: cc=4539 1488 0343 6467\n"));
    run_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credential_headers_secret),
        cmocka_unit_test(test_get_query),
        cmocka_unit_test(test_cookie_percent_decoded),
        cmocka_unit_test(test_cookie_plus_decoded),
        cmocka_unit_test(test_target_forms),
        cmocka_unit_test(test_post_form),
        cmocka_unit_test(test_post_json_and_others),
        cmocka_unit_test(test_post_json_utf16),
        cmocka_unit_test(test_chunked_ext_trailers),
        cmocka_unit_test(test_chunked_split_value),
        cmocka_unit_test(test_gzip_request),
        cmocka_unit_test(test_codings),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_response_until_close),
        cmocka_unit_test(test_continue_100),
        cmocka_unit_test(test_upgrade_101),
        cmocka_unit_test(test_upgrade_client_first),
        cmocka_unit_test(test_upgrade_while_skipping),
        cmocka_unit_test(test_end_before_any_byte),
        cmocka_unit_test(test_upgrade_then_line_cap),
        cmocka_unit_test(test_connect_200),
        cmocka_unit_test(test_connect_407_then_200),
        cmocka_unit_test(test_connect_one_sided),
        cmocka_unit_test(test_folded_header),
        cmocka_unit_test(test_header_line_cap),
        cmocka_unit_test(test_header_sizes),
        cmocka_unit_test(test_header_fold_cap),
        cmocka_unit_test(test_header_block_cap),
        cmocka_unit_test(test_start_line_cap),
        cmocka_unit_test(test_pipeline_cap),
        cmocka_unit_test(test_chunk_errors_and_bounds),
        cmocka_unit_test(test_eof_in_message),
        cmocka_unit_test(test_header_then_eof),
        cmocka_unit_test(test_gap_in_body),
        cmocka_unit_test(test_gap_resync),
        cmocka_unit_test(test_gap_in_gzip_body),
        cmocka_unit_test(test_garbage_then_request),
        cmocka_unit_test(test_truncated_start_line),
        cmocka_unit_test(test_raw_after_request),
        cmocka_unit_test(test_raw_long_line),
        cmocka_unit_test(test_raw_then_request),
        cmocka_unit_test(test_raw_not_empty_lines),
        cmocka_unit_test(test_raw_line_cut_by_gap),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding_not_chunked),
        cmocka_unit_test(test_evasions),
        cmocka_unit_test(test_multipart_csv),
        cmocka_unit_test(test_multipart_part_headers),
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_mem_and_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
