/*
 * test_mime.c - the MIME walker and its stage (mime.h).
 *
 * Each input is walked in one write, checked item by item against what a
 * reader of the message expects, then walked again split in two at every
 * offset and in 1-byte writes: the recorded output must be identical.
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "app_test_sink.h"
#include "dlp/limits.h"
#include "dlp/mime.h"

#define HDR DLP_FIELD_SMTP_HEADER
#define BODY DLP_FIELD_SMTP_BODY
#define ATT DLP_FIELD_SMTP_ATTACHMENT
#define NONE DLP_FIELD__COUNT

/* clang-format off */
#define E_S(f, nm, s) {'S', (f), (nm), (s), sizeof(s) - 1, 0}
#define E_B(f, s) {'B', (f), "", (s), sizeof(s) - 1, 0}
#define E_N(k, b) {'N', (k), "", "", 0, (b)}
/* clang-format on */

static ts_sink_t base_ts, split_ts;

static dlp_app_limits_t limits(void)
{
    dlp_app_limits_t l;

    dlp_app_limits_default(&l);
    return l;
}

static dlp_mime_params_t mail_params(const dlp_app_limits_t *l)
{
    dlp_mime_params_t p = {
        .limits = l, .header_field = HDR, .body_field = BODY, .attach_field = ATT};
    return p;
}

/* Walks in[0, n): first write of k bytes then the rest, or 1-byte writes. */
static void walk(dlp_mime_params_t p, const uint8_t *in, size_t n, size_t k, int bytewise,
                 ts_sink_t *t)
{
    dlp_mime_t *m;

    ts_reset(t);
    p.sink = &ts_sink_ops;
    p.ctx = t;
    m = dlp_mime_new(&p);
    assert_non_null(m);
    if (bytewise) {
        for (size_t i = 0; i < n; i++)
            assert_int_equal(dlp_mime_write(m, in + i, 1), DLP_OK);
    } else {
        assert_int_equal(dlp_mime_write(m, in, k), DLP_OK);
        assert_int_equal(dlp_mime_write(m, in + k, n - k), DLP_OK);
    }
    assert_int_equal(dlp_mime_end(m), DLP_OK);
    assert_true(dlp_mime_mem(m) >= sizeof(void *));
    dlp_mime_free(m);
}

/* Every split in two and 1-byte writes give what one write gave. */
static void check_splits(dlp_mime_params_t p, const uint8_t *in, size_t n)
{
    for (size_t k = 0; k <= n; k++) {
        walk(p, in, n, k, 0, &split_ts);
        if (!ts_equal(&base_ts, &split_ts)) {
            fprintf(stderr, "split at %zu differs:\n", k);
            ts_dump(&split_ts);
            fail();
        }
    }
    walk(p, in, n, 0, 1, &split_ts);
    if (!ts_equal(&base_ts, &split_ts)) {
        fprintf(stderr, "1-byte writes differ:\n");
        ts_dump(&split_ts);
        fail();
    }
}

static void check(dlp_mime_params_t p, const char *in, const exp_t *e, size_t ne)
{
    size_t n = strlen(in);

    walk(p, (const uint8_t *)in, n, n, 0, &base_ts);
    ts_check_items(&base_ts, e, ne);
    check_splits(p, (const uint8_t *)in, n);
}

#define CHECK(p, in, ...)                                                                          \
    do {                                                                                           \
        static const exp_t e_[] = {__VA_ARGS__};                                                   \
        check((p), (in), e_, DLP_ARRAY_LEN(e_));                                                   \
    } while (0)

/* --- tests ------------------------------------------------------------------- */

static const char csv[] = "name,dob,zip\r\n"
                          "John Smith,1980-04-12,94105\r\n"
                          "Maria Garcia,1975-11-30,10001\r\n"
                          "Wei Chen,1990-01-05,60614\r\n";

static void test_qp_body_and_b64_csv(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] =
        "From: Alice Example <alice@example.com>\r\n"
        "To: Bob <bob@example.org>, carol@example.net\r\n"
        "Subject: Customer list\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed;\r\n"
        " boundary=\"==b1==\"\r\n"
        "\r\n"
        "This is a multi-part message in MIME format.\r\n"
        "--==b1==\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Hi Bob, the list is attached. Total =3D 3 rows, see the long li=\r\n"
        "ne.\r\n"
        "--==b1==\r\n"
        "Content-Type: text/csv; name=\"customers.csv\"\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"customers.csv\"\r\n"
        "\r\n"
        "bmFtZSxkb2IsemlwDQpKb2huIFNtaXRoLDE5ODAtMDQtMTIsOTQxMDUNCk1hcmlhIEdhcmNpYSwx\r\n"
        "OTc1LTExLTMwLDEwMDAxDQpXZWkgQ2hlbiwxOTkwLTAxLTA1LDYwNjE0DQo=\r\n"
        "--==b1==--\r\n"
        "epilogue, scanned\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "From: Alice Example <alice@example.com>"),
          E_B(HDR, "To: Bob <bob@example.org>, carol@example.net"),
          E_B(HDR, "Subject: Customer list"), E_B(HDR, "MIME-Version: 1.0"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=\"==b1==\""),
          E_S(BODY, "", "This is a multi-part message in MIME format."),
          E_B(HDR, "Content-Type: text/plain; charset=utf-8"),
          E_B(HDR, "Content-Transfer-Encoding: quoted-printable"),
          E_S(BODY, "", "Hi Bob, the list is attached. Total = 3 rows, see the long line."),
          E_B(HDR, "Content-Type: text/csv; name=\"customers.csv\""),
          E_B(HDR, "Content-Transfer-Encoding: base64"),
          E_B(HDR, "Content-Disposition: attachment; filename=\"customers.csv\""),
          E_S(ATT, "customers.csv", csv), E_S(BODY, "", "epilogue, scanned\r\n"));
    /* the decoded attachment, byte for byte */
    assert_int_equal(base_ts.item[12].len, sizeof(csv) - 1);
    assert_memory_equal(base_ts.item[12].data, csv, sizeof(csv) - 1);
}

static void test_nested_alternative(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=outer\r\n"
                             "\r\n"
                             "--outer\r\n"
                             "Content-Type: multipart/alternative; boundary=inner\r\n"
                             "\r\n"
                             "inner preamble\r\n"
                             "--inner\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "plain text\r\n"
                             "--inner\r\n"
                             "Content-Type: text/html\r\n"
                             "\r\n"
                             "<p>html text</p>\r\n"
                             "--inner--\r\n"
                             "inner epilogue\r\n"
                             "--outer\r\n"
                             "Content-Type: application/pdf\r\n"
                             "Content-Disposition: attachment; filename=report.pdf\r\n"
                             "Content-Transfer-Encoding: BASE64\r\n"
                             "\r\n"
                             "UXVhcnRlcmx5IG51bWJlcnMNCg==\r\n"
                             "--outer--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=outer"),
          E_B(HDR, "Content-Type: multipart/alternative; boundary=inner"),
          E_S(BODY, "", "inner preamble"), E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "plain text"), E_B(HDR, "Content-Type: text/html"),
          E_S(BODY, "", "<p>html text</p>"), E_S(BODY, "", "inner epilogue"),
          E_B(HDR, "Content-Type: application/pdf"),
          E_B(HDR, "Content-Disposition: attachment; filename=report.pdf"),
          E_B(HDR, "Content-Transfer-Encoding: BASE64"),
          E_S(ATT, "report.pdf", "Quarterly numbers\r\n"));
}

static void test_rfc2047_headers(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Subject: =?utf-8?B?UsOpc3Vtw6kg4oCUIGNvbmZpZGVudGlhbA==?=\r\n"
                             "X-Note: =?iso-8859-1?Q?Caf=E9_au_lait?= ok\r\n"
                             "From: =?UTF-8?q?Jos=C3=A9?= <jose@example.com>\r\n"
                             "Thread-Topic: =?utf-8?Q?part_one?=\r\n"
                             "\t=?utf-8?Q?_two?=\r\n"
                             "\r\n"
                             "body\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Subject: R\xc3\xa9sum\xc3\xa9 \xe2\x80\x94 confidential"),
          E_B(HDR, "X-Note: Caf\xe9 au lait ok"), E_B(HDR, "From: Jos\xc3\xa9 <jose@example.com>"),
          E_B(HDR, "Thread-Topic: part one two"), E_S(BODY, "", "body\r\n"));
}

static void test_message_rfc822(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "From: a@example.com\r\n"
                             "Subject: Fwd: data\r\n"
                             "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
                             "\r\n"
                             "--XX\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "see attached\r\n"
                             "--XX\r\n"
                             "Content-Type: message/rfc822\r\n"
                             "Content-Disposition: attachment; filename=\"orig.eml\"\r\n"
                             "\r\n"
                             "From: b@example.com\r\n"
                             "Subject: =?utf-8?Q?Original?=\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "SSN 123-45-6789\r\n"
                             "--XX--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "From: a@example.com"), E_B(HDR, "Subject: Fwd: data"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=\"XX\""),
          E_B(HDR, "Content-Type: text/plain"), E_S(BODY, "", "see attached"),
          E_B(HDR, "Content-Type: message/rfc822"),
          E_B(HDR, "Content-Disposition: attachment; filename=\"orig.eml\""),
          E_B(HDR, "From: b@example.com"), E_B(HDR, "Subject: Original"),
          E_B(HDR, "Content-Type: text/plain"), E_S(BODY, "", "SSN 123-45-6789"));
}

static void test_digest_default_rfc822(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/digest; boundary=d\r\n"
                             "\r\n"
                             "--d\r\n"
                             "\r\n"
                             "Subject: one\r\n"
                             "\r\n"
                             "first message\r\n"
                             "--d--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/digest; boundary=d"),
          E_B(HDR, "Subject: one"), E_S(BODY, "", "first message"));
}

static void test_boundary_never_closed(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=b\r\n"
                             "\r\n"
                             "--b\r\n"
                             "\r\n"
                             "first\r\n"
                             "--b\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "never closed\r\n"
                             "tail\r\n"
                             "--";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=b"),
          E_S(BODY, "", "first"), E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "never closed\r\ntail\r\n--"));
}

static void test_outer_boundary_closes_inner(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=out\r\n"
                             "\r\n"
                             "--out\r\n"
                             "Content-Type: multipart/alternative; boundary=in\r\n"
                             "\r\n"
                             "--in\r\n"
                             "\r\n"
                             "inner one\r\n"
                             "--out\r\n"
                             "\r\n"
                             "after\r\n"
                             "--out--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=out"),
          E_B(HDR, "Content-Type: multipart/alternative; boundary=in"), E_S(BODY, "", "inner one"),
          E_S(BODY, "", "after"));
}

/* Inner boundary "=_a_b" starts with the outer one "=_a": the longer match waits. */
static void test_prefix_boundaries(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=\"=_a\"\r\n"
                             "\r\n"
                             "--=_a\r\n"
                             "Content-Type: multipart/alternative; boundary=\"=_a_b\"\r\n"
                             "\r\n"
                             "--=_a_b\r\n"
                             "\r\n"
                             "one\r\n"
                             "--=_a_b\r\n"
                             "\r\n"
                             "two\r\n"
                             "--=_a_b--\r\n"
                             "inner epilogue\r\n"
                             "--=_a\r\n"
                             "Content-Type: multipart/alternative; boundary=\"=_a_b\"\r\n"
                             "\r\n"
                             "--=_a_b\r\n"
                             "\r\n"
                             "three\r\n"
                             "--=_a--\r\n"
                             "--=_a\r\n"
                             "\r\n"
                             "the outer multipart was closed: its epilogue\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=\"=_a\""),
          E_B(HDR, "Content-Type: multipart/alternative; boundary=\"=_a_b\""), E_S(BODY, "", "one"),
          E_S(BODY, "", "two"), E_S(BODY, "", "inner epilogue"),
          E_B(HDR, "Content-Type: multipart/alternative; boundary=\"=_a_b\""),
          E_S(BODY, "", "three"),
          E_S(BODY, "", "--=_a\r\n\r\nthe outer multipart was closed: its epilogue\r\n"));
}

static void test_depth_cap(void **state)
{
    dlp_app_limits_t l = limits();
    static const char raw[] = "--L3\r\n"
                              "Content-Type: text/plain\r\n"
                              "\r\n"
                              "deep\r\n"
                              "--L3--";
    static const char in[] = "Content-Type: multipart/mixed; boundary=L1\r\n"
                             "\r\n"
                             "--L1\r\n"
                             "Content-Type: multipart/mixed; boundary=L2\r\n"
                             "\r\n"
                             "--L2\r\n"
                             "Content-Type: multipart/mixed; boundary=L3\r\n"
                             "\r\n"
                             "--L3\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "deep\r\n"
                             "--L3--\r\n"
                             "--L2\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "level two\r\n"
                             "--L2--\r\n"
                             "--L1--\r\n";
    (void)state;
    l.mime_depth_max = 2;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=L1"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=L2"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=L3"),
          E_S(BODY, "", "--L3\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--L3--"),
          E_N(DLP_NOTE_DEPTH_CAP, sizeof(raw) - 1), E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "level two"));
    /* within the bound, the same message gives the innermost part alone */
    l.mime_depth_max = 3;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=L1"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=L2"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=L3"),
          E_B(HDR, "Content-Type: text/plain"), E_S(BODY, "", "deep"),
          E_B(HDR, "Content-Type: text/plain"), E_S(BODY, "", "level two"));
}

/* mime_depth_max above the walker's own ceiling (64 levels) is clamped. */
static void test_depth_ceiling(void **state)
{
    dlp_app_limits_t l = limits();
    size_t cap = 70 * 64 + 256, n = 0;
    char *in = malloc(cap);
    (void)state;
    assert_non_null(in);
    l.mime_depth_max = 1000;
    n += (size_t)snprintf(in + n, cap - n, "Content-Type: multipart/mixed; boundary=b000\r\n\r\n");
    for (int i = 0; i < 70; i++)
        n += (size_t)snprintf(in + n, cap - n,
                              "--b%03d\r\nContent-Type: multipart/mixed; boundary=b%03d\r\n\r\n", i,
                              i + 1);
    n += (size_t)snprintf(in + n, cap - n, "--b070\r\n\r\nleaf\r\n");
    walk(mail_params(&l), (const uint8_t *)in, n, n, 0, &base_ts);
    /* the message's header, the headers of the 64 parts read, the 64th part's body raw */
    assert_int_equal(base_ts.n, 1 + 64 + 2);
    for (int i = 0; i <= 64; i++) {
        char want[64];
        snprintf(want, sizeof(want), "Content-Type: multipart/mixed; boundary=b%03d", i);
        assert_int_equal(base_ts.item[i].kind, 'B');
        assert_string_equal(ts_str(&base_ts, (size_t)i), want);
    }
    assert_int_equal(base_ts.item[65].kind, 'S');
    assert_memory_equal(base_ts.item[65].data, "--b064\r\n", 8);
    assert_int_equal(base_ts.item[66].kind, 'N');
    assert_int_equal(base_ts.item[66].field, DLP_NOTE_DEPTH_CAP);
    assert_int_equal(base_ts.item[66].bytes, base_ts.item[65].len);
    walk(mail_params(&l), (const uint8_t *)in, n, 0, 1, &split_ts);
    assert_true(ts_equal(&base_ts, &split_ts));
    free(in);
}

static void test_invalid_base64(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=z\r\n"
                             "\r\n"
                             "--z\r\n"
                             "Content-Transfer-Encoding: base64\r\n"
                             "\r\n"
                             "aGVs!!!!bG8g\r\n"
                             "--z\r\n"
                             "Content-Transfer-Encoding: base64\r\n"
                             "\r\n"
                             "aGVsbG8gd29ybGQNCg==\r\n"
                             "--z--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=z"),
          E_B(HDR, "Content-Transfer-Encoding: base64"), E_S(BODY, "", "hello "),
          E_N(DLP_NOTE_DECODER_ERROR, 0), E_B(HDR, "Content-Transfer-Encoding: base64"),
          E_S(BODY, "", "hello world\r\n"));
}

/* A base64 body written as separately padded chunks: every chunk is decoded. */
static void test_base64_chunks_after_padding(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=z\r\n"
                             "\r\n"
                             "--z\r\n"
                             "Content-Transfer-Encoding: base64\r\n"
                             "\r\n"
                             "Y2FyZCA=NDU1Ng==IDczNw==\r\n" /* "card ", "4556", " 737" */
                             "NSA4Njg5IA==OTg1NQ==\r\n"     /* "5 8689 ", "9855" */
                             "--z--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=z"),
          E_B(HDR, "Content-Transfer-Encoding: base64"), E_S(BODY, "", "card 4556 7375 8689 9855"));
}

/*
 * What follows the boundary on a boundary line (past a closing "--", and
 * past the whitespace RFC 2046 allows there) is content to a strict reader:
 * it is scanned as the multipart's body, one stream per line.
 */
static void test_boundary_line_rest(void **state)
{
    static char in_cap[256];
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);
    static const char in[] = "Content-Type: multipart/mixed; boundary=BND\r\n"
                             "\r\n"
                             "--BND 4556 7375 8689 9855\r\n"
                             "Content-Type: text/plain\r\n"
                             "\r\n"
                             "first\r\n"
                             "--BND4556737586899855 \r\n"
                             "\r\n"
                             "second\r\n"
                             "--BND  \t\r\n"
                             "\r\n"
                             "third\r\n"
                             "--BND-x\r\n"
                             "X-In-Headers: yes\r\n"
                             "--BND-\r\n"
                             "\r\n"
                             "fourth\r\n"
                             "--BND\tjunk\r\tmore\r\n"
                             "\r\n"
                             "fifth\r\n"
                             "--BND--closing 4556\r\n"
                             "epilogue\r\n";
    (void)state;
    CHECK(p, in, E_B(HDR, "Content-Type: multipart/mixed; boundary=BND"),
          E_S(BODY, "", "4556 7375 8689 9855"), E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "first"), E_S(BODY, "", "4556737586899855 "), E_S(BODY, "", "second"),
          E_S(BODY, "", "third"), E_S(BODY, "", "-x"), E_B(HDR, "X-In-Headers: yes"),
          E_S(BODY, "", "-"), E_S(BODY, "", "fourth"), E_S(BODY, "", "junk\r\tmore"),
          E_S(BODY, "", "fifth"), E_S(BODY, "", "closing 4556"), E_S(BODY, "", "epilogue\r\n"));
    /* a boundary line found among a part's headers is read as a header line: past
     * line_max its bytes are not kept, and that is noted */
    {
        dlp_app_limits_t small = limits();
        dlp_mime_params_t ps = mail_params(&small);
        char ys[41], want[61];
        exp_t e[5] = {E_B(HDR, "Content-Type: multipart/mixed; boundary=b"),
                      E_B(HDR, "X-A: 1"),
                      {'S', BODY, "", want, 60, 0},
                      E_N(DLP_NOTE_HEADER_CAP, 21),
                      E_S(BODY, "", "body")};
        small.line_max = 64;
        memset(ys, 'y', 40);
        ys[40] = '\0';
        snprintf(want, sizeof(want), "4556 7375 8689 9855 %s", ys);
        snprintf(in_cap, sizeof(in_cap),
                 "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-A: 1\r\n"
                 "--b %syyyyyyyyyyyyyyyyyyyy\r\n\r\nbody\r\n--b--\r\n",
                 want);
        check(ps, in_cap, e, DLP_ARRAY_LEN(e));
    }
    /* the input ends inside a boundary line: what came of it is scanned */
    CHECK(p, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b 4556\r",
          E_B(HDR, "Content-Type: multipart/mixed; boundary=b"), E_S(BODY, "", "x"),
          E_S(BODY, "", "4556"));
    CHECK(p, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b-",
          E_B(HDR, "Content-Type: multipart/mixed; boundary=b"), E_S(BODY, "", "x"),
          E_S(BODY, "", "-"));
}

/* A part encoded x-uuencode: its text as it is, its block decoded as an attachment. */
static void test_uuencode_part(void **state)
{
    dlp_app_limits_t l = limits();
    static const char *const cte[] = {"x-uuencode", "uuencode", "X-UUE"};
    char in[256];

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(cte); i++) {
        exp_t e[] = {E_B(HDR, "Content-Type: text/plain"), E_B(HDR, ""),
                     E_S(BODY, "", "begin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n"),
                     E_S(ATT, "a.txt", "abc")};
        char h[64];
        snprintf(h, sizeof(h), "Content-Transfer-Encoding: %s", cte[i]);
        e[1].data = h;
        e[1].len = strlen(h);
        snprintf(in, sizeof(in),
                 "Content-Type: text/plain\r\n%s\r\n\r\n"
                 "begin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n",
                 h);
        check(mail_params(&l), in, e, DLP_ARRAY_LEN(e));
    }
}

/* An unknown encoding: passed on undecoded, noted. */
static void test_unsupported_encoding(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: text/plain\r\n"
                             "Content-Transfer-Encoding: x-binhex\r\n"
                             "\r\n"
                             "(This file must be converted with BinHex 4.0)\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: text/plain"),
          E_B(HDR, "Content-Transfer-Encoding: x-binhex"),
          E_S(BODY, "", "(This file must be converted with BinHex 4.0)\r\n"),
          E_N(DLP_NOTE_UNSUPPORTED, 47));
}

/*
 * Inline uuencode in a text body ("card 4539148803436467\n" encoded): the
 * text is scanned as it is, the block decoded to an attachment stream.
 */
#define UU_CARD "68V%R9\"`T-3,Y,30X.#`S-#,V-#8W\"@``"
#define UU_MSG(body) "Content-Type: text/plain\r\n\r\n" body

static void test_inline_uuencode(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);

    (void)state;
    CHECK(p, UU_MSG("Hi,\r\nbegin 644 cards.txt\r\n" UU_CARD "\r\n`\r\nend\r\nbye\r\n"),
          E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "Hi,\r\nbegin 644 cards.txt\r\n" UU_CARD "\r\n`\r\nend\r\nbye\r\n"),
          E_S(ATT, "cards.txt", "card 4539148803436467\n"));
    /* LF only, four octal digits, a space as the zero length, two data lines */
    CHECK(p, UU_MSG("begin 0600 two words.txt  \n#86)C\n#86)C\n \nend\n"),
          E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "begin 0600 two words.txt  \n#86)C\n#86)C\n \nend\n"),
          E_S(ATT, "two words.txt", "abcabc"));
    /* no "end": the block ends with the part */
    CHECK(p, UU_MSG("begin 644 c.txt\r\n#86)C\r\n#86)C"), E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "begin 644 c.txt\r\n#86)C\r\n#86)C"), E_S(ATT, "c.txt", "abcabc"));
}

static void test_inline_uuencode_not_blocks(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);
    static const char *const no[] = {
        "begin 64 x.txt\r\n",   "begin 64444 x.txt\r\n",      "begin 648 x.txt\r\n",
        " begin 644 x.txt\r\n", "Begin 644 x.txt\r\n",        "begin 644 \r\n",
        "begin 644\r\n",        "begin-base64 644 x.txt\r\n", "xbegin 644 x.txt\r\n",
    };
    char in[256], body[128];

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(no); i++) {
        exp_t e[] = {E_B(HDR, "Content-Type: text/plain"), E_S(BODY, "", "")};
        snprintf(body, sizeof(body), "%s#86)C\r\n`\r\nend\r\n", no[i]);
        snprintf(in, sizeof(in), UU_MSG("%s"), body);
        e[1].data = body;
        e[1].len = strlen(body);
        check(p, in, e, DLP_ARRAY_LEN(e));
    }
}

/* A line that is not uuencode ends the block; it is text, and may start a block. */
static void test_inline_uuencode_garbage(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);

    (void)state;
    CHECK(p, UU_MSG("begin 644 d.txt\r\n#86)C\r\nhello world\r\n#86)C\r\n`\r\nend\r\n"),
          E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "begin 644 d.txt\r\n#86)C\r\nhello world\r\n#86)C\r\n`\r\nend\r\n"),
          E_S(ATT, "d.txt", "abc"));
    /* too short for its length; an empty line */
    CHECK(p, UU_MSG("begin 644 d.txt\r\n#86)C\r\nM86)C\r\n#86)C\r\n"),
          E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "begin 644 d.txt\r\n#86)C\r\nM86)C\r\n#86)C\r\n"),
          E_S(ATT, "d.txt", "abc"));
    CHECK(p, UU_MSG("begin 644 d.txt\r\n#86)C\r\n\r\n#86)C\r\n"),
          E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "begin 644 d.txt\r\n#86)C\r\n\r\n#86)C\r\n"), E_S(ATT, "d.txt", "abc"));
    CHECK(p, UU_MSG("begin 644 e.txt\r\n#86)C\r\nbegin 644 f.txt\r\n#86)C\r\nend\r\n"),
          E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "begin 644 e.txt\r\n#86)C\r\nbegin 644 f.txt\r\n#86)C\r\nend\r\n"),
          E_S(ATT, "e.txt", "abc"), E_S(ATT, "f.txt", "abc"));
}

/* Decoded bytes past decomp_max are not decoded (noted); in a quoted-printable part too. */
static void test_inline_uuencode_bounds(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);

    (void)state;
    l.decomp_max = 4;
    CHECK(p, UU_MSG("begin 644 g.txt\r\n#86)C\r\n#86)C\r\nend\r\n"),
          E_B(HDR, "Content-Type: text/plain"),
          E_S(BODY, "", "begin 644 g.txt\r\n#86)C\r\n#86)C\r\nend\r\n"), E_S(ATT, "g.txt", "abc"),
          E_N(DLP_NOTE_DECOMP_CAP, 0));
    l.decomp_max = DLP_APP_DECOMP_MAX;
    CHECK(p,
          "Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
          "begin 644 q.txt\r\n#86)C\r\n=60\r\nend\r\n",
          E_B(HDR, "Content-Type: text/plain"),
          E_B(HDR, "Content-Transfer-Encoding: quoted-printable"),
          E_S(BODY, "", "begin 644 q.txt\r\n#86)C\r\n`\r\nend\r\n"), E_S(ATT, "q.txt", "abc"));
}

static void test_file_names(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);
    static const char in[] =
        "Content-Type: multipart/mixed; boundary=n\r\n"
        "\r\n"
        "--n\r\n"
        "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.csv\r\n"
        "\r\n"
        "a\r\n"
        "--n\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*0*=utf-8''long%20;\r\n"
        " filename*1=\"name.txt\"\r\n"
        "\r\n"
        "b\r\n"
        "--n\r\n"
        "Content-Type: application/octet-stream;\r\n"
        "\tname=\"=?utf-8?Q?r=C3=A9sum=C3=A9.docx?=\"\r\n"
        "\r\n"
        "c\r\n"
        "--n\r\n"
        "Content-Disposition: attachment\r\n"
        "Content-Type: text/plain; NAME=\"Upper.TXT\"\r\n"
        "\r\n"
        "d\r\n"
        "--n\r\n"
        "content-disposition: inline; filename=\"a\\\"b.txt\"; size=3\r\n"
        "\r\n"
        "e\r\n"
        "--n\r\n"
        "Content-Disposition: attachment\r\n"
        "\r\n"
        "f\r\n"
        "--n--\r\n";
    (void)state;
    p.header_field = NONE;
    CHECK(p, in, E_S(ATT, "\xe2\x82\xac rates.csv", "a"), E_S(ATT, "long name.txt", "b"),
          E_S(ATT, "r\xc3\xa9sum\xc3\xa9.docx", "c"), E_S(ATT, "Upper.TXT", "d"),
          E_S(ATT, "a\"b.txt", "e"), E_S(BODY, "", "f"));
}

/* Names are kept decoded up to 255 bytes, 16 RFC 2231 segments; the sink stage keeps 63. */
static void test_name_bounds(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);
    char in[2048], name[301], want[64];
    size_t n = 0;
    (void)state;
    p.header_field = NONE;
    memset(name, 'n', 300);
    name[300] = '\0';
    n += (size_t)snprintf(in + n, sizeof(in) - n,
                          "Content-Type: multipart/mixed; boundary=n\r\n\r\n--n\r\n"
                          "Content-Disposition: attachment; filename=\"%s\"\r\n\r\na\r\n--n\r\n"
                          "Content-Disposition: attachment",
                          name);
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, ";\r\n filename*%d=%c", i, 'a' + i);
    n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n\r\nb\r\n--n--\r\n");
    walk(p, (const uint8_t *)in, n, n, 0, &base_ts);
    memset(want, 'n', 63);
    want[63] = '\0';
    assert_int_equal(base_ts.n, 2);
    assert_string_equal(base_ts.item[0].name, want);
    assert_string_equal(ts_str(&base_ts, 0), "a");
    assert_string_equal(base_ts.item[1].name, "abcdefghijklmnop");
    assert_string_equal(ts_str(&base_ts, 1), "b");
    check_splits(p, (const uint8_t *)in, n);
}

static void test_lf_only_and_near_misses(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=\"bnd\"\n"
                             "\n"
                             "--bnd\n"
                             "\n"
                             "line1\n"
                             "--bn\n"
                             "-\n"
                             "--x\n"
                             "\r\r\n"
                             "\r--bnd\n"
                             "--bnd  \n"
                             "\n"
                             "second\r\n"
                             "--bnd--   \n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=\"bnd\""),
          E_S(BODY, "", "line1\n--bn\n-\n--x\n\r\r\n\r--bnd"), E_S(BODY, "", "second"));
}

static void test_missing_blank_line_and_empty_part(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=q\r\n"
                             "\r\n"
                             "--q\r\n"
                             "Content-Type: text/plain\r\n"
                             "this line is not a header\r\n"
                             "more\r\n"
                             "--q\r\n"
                             "Content-Type: text/plain\r\n"
                             "--q\r\n"
                             "\r\n"
                             "\r\n"
                             "--q--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=q"),
          E_B(HDR, "Content-Type: text/plain"), E_S(BODY, "", "this line is not a header\r\nmore"),
          E_B(HDR, "Content-Type: text/plain"));
}

static void test_plain_message(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "From: x@example.com\r\n"
                             "Content-Disposition: attachment; filename=notes.txt\r\n"
                             "\r\n"
                             "hello\r\n"
                             "--not a boundary\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "From: x@example.com"),
          E_B(HDR, "Content-Disposition: attachment; filename=notes.txt"),
          E_S(ATT, "notes.txt", "hello\r\n--not a boundary\r\n"));
}

static void test_bad_boundaries(void **state)
{
    dlp_app_limits_t l = limits();
    char in[1024], b[DLP_MIME_BOUNDARY_MAX + 2];
    dlp_mime_params_t p = mail_params(&l);
    (void)state;
    p.header_field = NONE;
    CHECK(p, "Content-Type: multipart/mixed\r\n\r\nraw body\r\n", E_S(BODY, "", "raw body\r\n"),
          E_N(DLP_NOTE_DECODER_ERROR, 10));

    /* the longest boundary kept, then one byte more */
    memset(b, 'B', sizeof(b));
    b[DLP_MIME_BOUNDARY_MAX] = '\0';
    snprintf(in, sizeof(in),
             "Content-Type: multipart/mixed; boundary=%s\r\n\r\n--%s\r\n\r\nok\r\n--%s--\r\n", b, b,
             b);
    walk(p, (const uint8_t *)in, strlen(in), strlen(in), 0, &base_ts);
    assert_int_equal(base_ts.n, 1);
    assert_string_equal(ts_str(&base_ts, 0), "ok");
    check_splits(p, (const uint8_t *)in, strlen(in));

    b[DLP_MIME_BOUNDARY_MAX] = 'B';
    b[DLP_MIME_BOUNDARY_MAX + 1] = '\0';
    snprintf(in, sizeof(in),
             "Content-Type: multipart/mixed; boundary=%s\r\n\r\n--%s\r\n\r\nok\r\n--%s--\r\n", b, b,
             b);
    walk(p, (const uint8_t *)in, strlen(in), strlen(in), 0, &base_ts);
    assert_int_equal(base_ts.n, 2);
    assert_int_equal(base_ts.item[0].len, 2 * (DLP_MIME_BOUNDARY_MAX + 1) + 16);
    assert_int_equal(base_ts.item[1].field, DLP_NOTE_DECODER_ERROR);
    check_splits(p, (const uint8_t *)in, strlen(in));
}

static void test_header_line_cap(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Subject: 0123456789012345678901234567890123456789ABCDEF\r\n"
                             "To: a@example.com,\r\n"
                             " b@example.com, c@example.com\r\n"
                             "\r\n"
                             "x";
    (void)state;
    l.line_max = 40;
    /* 56 bytes before the LF, 40 kept; the folded To is 48 bytes unfolded, plus its CR */
    CHECK(mail_params(&l), in, E_B(HDR, "Subject: 0123456789012345678901234567890"),
          E_N(DLP_NOTE_HEADER_CAP, 16), E_B(HDR, "To: a@example.com, b@example.com, c@exam"),
          E_N(DLP_NOTE_HEADER_CAP, 8), E_S(BODY, "", "x"));
}

static void test_header_block_cap(void **state)
{
    dlp_app_limits_t l = limits();
    static const char hdrs[] = "From: a@example.com\r\n"
                               "To: b@example.com\r\n"
                               "X-Pad: xxxxxxxxxxxxxxxxxxxx\r\n"
                               "Content-Type: multipart/mixed; boundary=zz\r\n"
                               "\r\n";
    static const char in[] = "From: a@example.com\r\n"
                             "To: b@example.com\r\n"
                             "X-Pad: xxxxxxxxxxxxxxxxxxxx\r\n"
                             "Content-Type: multipart/mixed; boundary=zz\r\n"
                             "\r\n"
                             "--zz\r\n\r\nraw\r\n--zz--\r\n";
    (void)state;
    l.header_block_max = 60;
    /* headers after the bound are not acted on: the body is not a multipart */
    CHECK(mail_params(&l), in, E_B(HDR, "From: a@example.com"), E_B(HDR, "To: b@example.com"),
          E_N(DLP_NOTE_HEADER_CAP, sizeof(hdrs) - 1 - 60),
          E_S(BODY, "", "--zz\r\n\r\nraw\r\n--zz--\r\n"));
}

/* A part's headers are reported like a message's: unfolded, RFC 2047 decoded, in order. */
static void test_mail_part_headers(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=p\r\n"
                             "\r\n"
                             "--p\r\n"
                             "Content-Type: text/plain\r\n"
                             "X-Note: 4539148803436467\r\n"
                             "\r\n"
                             "hello\r\n"
                             "--p\r\n"
                             "Content-Disposition: attachment;\r\n"
                             " filename=\"536-22-8417 Jane Doe.pdf\"\r\n"
                             "X-Card: =?utf-8?B?NDUzOSAxNDg4IDAzNDMgNjQ2Nw==?=\r\n"
                             "\r\n"
                             "pdf\r\n"
                             "--p--\r\n";
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=p"),
          E_B(HDR, "Content-Type: text/plain"), E_B(HDR, "X-Note: 4539148803436467"),
          E_S(BODY, "", "hello"),
          E_B(HDR, "Content-Disposition: attachment; filename=\"536-22-8417 Jane Doe.pdf\""),
          E_B(HDR, "X-Card: 4539 1488 0343 6467"), E_S(ATT, "536-22-8417 Jane Doe.pdf", "pdf"));
}

/* multipart/form-data (an HTTP body: its Content-Type given): a file name is a header value. */
static void test_form_data_part_headers(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = {.limits = &l,
                           .header_field = DLP_FIELD_HTTP_HEADER,
                           .body_field = DLP_FIELD_HTTP_BODY,
                           .attach_field = DLP_FIELD_HTTP_BODY,
                           .content_type = "multipart/form-data; boundary=fb"};
    static const char in[] =
        "--fb\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"536-22-8417 Jane Doe.pdf\"\r\n"
        "Content-Type: application/pdf\r\n"
        "\r\n"
        "%PDF-1.4\r\n"
        "--fb--\r\n";
    (void)state;
    CHECK(
        p, in,
        E_B(DLP_FIELD_HTTP_HEADER,
            "Content-Disposition: form-data; name=\"file\"; filename=\"536-22-8417 Jane Doe.pdf\""),
        E_B(DLP_FIELD_HTTP_HEADER, "Content-Type: application/pdf"),
        E_S(DLP_FIELD_HTTP_BODY, "536-22-8417 Jane Doe.pdf", "%PDF-1.4"));
    /* not reported when the header field is DLP_FIELD__COUNT */
    p.header_field = NONE;
    CHECK(p, in, E_S(DLP_FIELD_HTTP_BODY, "536-22-8417 Jane Doe.pdf", "%PDF-1.4"));
}

/* Names that only decoding spells (RFC 2231 percent-encoding, continuations, encoded
 * words: frameworks decode them) are reported decoded too, as part-header content. */
static void test_decoded_names_reported(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = {.limits = &l,
                           .header_field = DLP_FIELD_HTTP_HEADER,
                           .body_field = DLP_FIELD_HTTP_BODY,
                           .attach_field = DLP_FIELD_HTTP_BODY,
                           .content_type = "multipart/form-data; boundary=fb"};
    static const char in[] =
        "--fb\r\n"
        "Content-Disposition: form-data; name=\"f\"; "
        "filename*=UTF-8''%35%33%36%2D%32%32%2D%38%34%31%37%20Jane.pdf\r\n"
        "\r\n"
        "x\r\n"
        "--fb\r\n"
        "Content-Disposition: form-data; name*0=\"card 4539 1488\"; name*1=\" 0343 6467\"\r\n"
        "Content-Type: text/plain; name=\"=?utf-8?Q?536-22-8417?=\"\r\n"
        "\r\n"
        "y\r\n"
        "--fb--\r\n";
    (void)state;
    CHECK(p, in,
          E_B(DLP_FIELD_HTTP_HEADER,
              "Content-Disposition: form-data; name=\"f\"; "
              "filename*=UTF-8''%35%33%36%2D%32%32%2D%38%34%31%37%20Jane.pdf"),
          E_B(DLP_FIELD_HTTP_HEADER, "filename: 536-22-8417 Jane.pdf"),
          E_S(DLP_FIELD_HTTP_BODY, "536-22-8417 Jane.pdf", "x"),
          E_B(DLP_FIELD_HTTP_HEADER,
              "Content-Disposition: form-data; name*0=\"card 4539 1488\"; name*1=\" 0343 6467\""),
          E_B(DLP_FIELD_HTTP_HEADER, "name: card 4539 1488 0343 6467"),
          /* the encoded word holds the name as it is, and the header's block decodes it */
          E_B(DLP_FIELD_HTTP_HEADER, "Content-Type: text/plain; name=\"536-22-8417\""),
          E_S(DLP_FIELD_HTTP_BODY, "536-22-8417", "y"));
}

/* A part's header block has its own bound, as a message's: past it, headers are neither
 * reported nor acted on, and the excess is noted at the block's end. */
static void test_part_header_block_cap(void **state)
{
    dlp_app_limits_t l = limits();
    static const char part_hdrs[] = "X-A: 0123456789\r\n"
                                    "Content-Disposition: attachment; filename=a.txt\r\n"
                                    "X-Late: 4539148803436467\r\n"
                                    "\r\n";
    static const char in[] = "Content-Type: multipart/mixed; boundary=zz\r\n"
                             "\r\n"
                             "--zz\r\n"
                             "X-A: 0123456789\r\n"
                             "Content-Disposition: attachment; filename=a.txt\r\n"
                             "X-Late: 4539148803436467\r\n"
                             "\r\n"
                             "one\r\n"
                             "--zz\r\n"
                             "X-B: 5\r\n"
                             "\r\n"
                             "two\r\n"
                             "--zz--\r\n";
    (void)state;
    l.header_block_max = 60;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=zz"),
          E_B(HDR, "X-A: 0123456789"), E_N(DLP_NOTE_HEADER_CAP, sizeof(part_hdrs) - 1 - 60),
          E_S(BODY, "", "one"), E_B(HDR, "X-B: 5"), E_S(BODY, "", "two"));
}

/* A multipart part past the depth bound: its own headers are reported; its body, inner
 * boundaries and headers included, is one raw leaf (the inner headers inspected there). */
static void test_depth_cap_part_headers(void **state)
{
    dlp_app_limits_t l = limits();
    static const char raw[] = "--i\r\n"
                              "Content-Type: text/plain\r\n"
                              "X-Inner: 4539148803436467\r\n"
                              "\r\n"
                              "deep\r\n"
                              "--i--";
    static const char in[] = "Content-Type: multipart/mixed; boundary=o\r\n"
                             "\r\n"
                             "--o\r\n"
                             "Content-Type: multipart/mixed; boundary=i\r\n"
                             "X-Outer: 536-22-8417\r\n"
                             "\r\n"
                             "--i\r\n"
                             "Content-Type: text/plain\r\n"
                             "X-Inner: 4539148803436467\r\n"
                             "\r\n"
                             "deep\r\n"
                             "--i--\r\n"
                             "--o--\r\n";
    (void)state;
    l.mime_depth_max = 1;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=o"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=i"), E_B(HDR, "X-Outer: 536-22-8417"),
          E_S(BODY, "",
              "--i\r\nContent-Type: text/plain\r\nX-Inner: 4539148803436467\r\n\r\ndeep\r\n--i--"),
          E_N(DLP_NOTE_DEPTH_CAP, sizeof(raw) - 1));
}

static void test_truncated_in_headers(void **state)
{
    dlp_app_limits_t l = limits();
    (void)state;
    CHECK(mail_params(&l), "Subject: cut\r\nX-Last: no newline", E_B(HDR, "Subject: cut"),
          E_B(HDR, "X-Last: no newline"));
    walk(mail_params(&l), (const uint8_t *)"", 0, 0, 0, &base_ts);
    assert_int_equal(base_ts.n, 0);
}

/* multipart/form-data through dlp_stage_mime_new (an HTTP body). */
static void stage_walk(const char *ct, const uint8_t *in, size_t n, size_t k, int bytewise,
                       ts_sink_t *t)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = {.sink = &ts_sink_ops,
                           .ctx = t,
                           .limits = &l,
                           .header_field = NONE,
                           .body_field = DLP_FIELD_HTTP_BODY,
                           .attach_field = DLP_FIELD_HTTP_BODY,
                           .content_type = ct};
    dlp_stage_t *st;

    ts_reset(t);
    st = dlp_stage_mime_new(&p);
    assert_non_null(st);
    if (bytewise) {
        for (size_t i = 0; i < n; i++)
            assert_int_equal(dlp_stage_write(st, in + i, 1), DLP_OK);
    } else {
        assert_int_equal(dlp_stage_write(st, in, k), DLP_OK);
        assert_int_equal(dlp_stage_write(st, in + k, n - k), DLP_OK);
    }
    assert_int_equal(dlp_stage_end(st), DLP_OK);
    dlp_stage_free_chain(st);
}

/* As check(), through dlp_stage_mime_new: one write, every split in two, 1-byte writes. */
static void check_stage(const char *ct, const char *in, size_t n, const exp_t *e, size_t ne)
{
    stage_walk(ct, (const uint8_t *)in, n, n, 0, &base_ts);
    ts_check_items(&base_ts, e, ne);
    for (size_t k = 0; k <= n; k++) {
        stage_walk(ct, (const uint8_t *)in, n, k, 0, &split_ts);
        assert_true(ts_equal(&base_ts, &split_ts));
    }
    stage_walk(ct, (const uint8_t *)in, n, 0, 1, &split_ts);
    assert_true(ts_equal(&base_ts, &split_ts));
}

static void test_form_data_stage(void **state)
{
    static const char ct[] = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
    static const char in[] =
        "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
        "Content-Disposition: form-data; name=\"user\"\r\n"
        "\r\n"
        "alice\r\n"
        "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
        "Content-Disposition: form-data; name=\"comment\"\r\n"
        "\r\n"
        "card 4111 1111 1111 1111\r\n"
        "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
        "Content-Disposition: form-data; name=\"upload\"; filename=\"cards.csv\"\r\n"
        "Content-Type: text/csv\r\n"
        "\r\n"
        "name,card\r\nbob,4111111111111111\r\n"
        "\r\n"
        "------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n";
    static const exp_t e[] = {
        E_S(DLP_FIELD_HTTP_BODY, "user", "alice"),
        E_S(DLP_FIELD_HTTP_BODY, "comment", "card 4111 1111 1111 1111"),
        E_S(DLP_FIELD_HTTP_BODY, "cards.csv", "name,card\r\nbob,4111111111111111\r\n"),
    };
    size_t n = sizeof(in) - 1;
    (void)state;
    check_stage(ct, in, n, e, DLP_ARRAY_LEN(e));
}

/* In an HTTP multipart body the rest of a boundary line is http.body, as the parts are. */
static void test_form_data_boundary_line_rest(void **state)
{
    static const char ct[] = "multipart/form-data; boundary=xyz";
    static const char in[] = "--xyz card 4556 7375 8689 9855\r\n"
                             "Content-Disposition: form-data; name=\"user\"\r\n"
                             "\r\n"
                             "alice\r\n"
                             "--xyz--\r\n";
    static const exp_t e[] = {
        E_S(DLP_FIELD_HTTP_BODY, "", "card 4556 7375 8689 9855"),
        E_S(DLP_FIELD_HTTP_BODY, "user", "alice"),
    };
    size_t n = sizeof(in) - 1;
    (void)state;
    check_stage(ct, in, n, e, DLP_ARRAY_LEN(e));
}

/*
 * A multipart's preamble (before its first boundary) and epilogue (after its
 * closing boundary) are text a reader of the raw message sees: scanned as the
 * enclosing body's field, unnamed, from their first byte that is not white
 * space or a line break; the line break before a boundary is left out, as
 * for a part.
 */
static void test_preamble_and_epilogue(void **state)
{
    dlp_app_limits_t l = limits();
    static const char in[] = "Content-Type: multipart/mixed; boundary=b\r\n"
                             "\r\n"
                             "Preamble 4556 7375 8689 9855\r\n"
                             "--b\r\n"
                             "Content-Type: multipart/alternative; boundary=c\r\n"
                             "\r\n"
                             " \r\n"
                             "inner preamble\r\n"
                             "--c\r\n"
                             "\r\n"
                             "one\r\n"
                             "--c--\r\n"
                             "inner epilogue\r\n"
                             "--b\r\n"
                             "\r\n"
                             "two\r\n"
                             "--b--\r\n"
                             "\r\n"
                             "Epilogue 4556 7375 8689 9855\r\n"
                             "--b\r\n"
                             "after the close\r\n";
    static const char ct[] = "multipart/form-data; boundary=xyz";
    static const char form[] = "pre 4556 7375 8689 9855\r\n"
                               "--xyz\r\n"
                               "Content-Disposition: form-data; name=\"user\"\r\n"
                               "\r\n"
                               "alice\r\n"
                               "--xyz--\r\n"
                               "epi";
    static const exp_t e[] = {
        E_S(DLP_FIELD_HTTP_BODY, "", "pre 4556 7375 8689 9855"),
        E_S(DLP_FIELD_HTTP_BODY, "user", "alice"),
        E_S(DLP_FIELD_HTTP_BODY, "", "epi"),
    };
    size_t n = sizeof(form) - 1;
    (void)state;
    CHECK(mail_params(&l), in, E_B(HDR, "Content-Type: multipart/mixed; boundary=b"),
          E_S(BODY, "", "Preamble 4556 7375 8689 9855"),
          E_B(HDR, "Content-Type: multipart/alternative; boundary=c"),
          E_S(BODY, "", "inner preamble"), E_S(BODY, "", "one"), E_S(BODY, "", "inner epilogue"),
          E_S(BODY, "", "two"),
          E_S(BODY, "", "Epilogue 4556 7375 8689 9855\r\n--b\r\nafter the close\r\n"));
    /* only white space: no stream */
    CHECK(mail_params(&l),
          "Content-Type: multipart/mixed; boundary=b\r\n\r\n \t\r\n\r\n--b\r\n\r\nx\r\n"
          "--b--\r\n\r\n",
          E_B(HDR, "Content-Type: multipart/mixed; boundary=b"), E_S(BODY, "", "x"));
    check_stage(ct, form, n, e, DLP_ARRAY_LEN(e));
}

static void test_given_content_type_leaf(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = mail_params(&l);
    (void)state;
    p.content_type = "text/plain; name=\"given.txt\"";
    CHECK(p, "body bytes", E_S(ATT, "given.txt", "body bytes"));
    p.content_type = "message/rfc822";
    CHECK(p, "Subject: inner\r\n\r\ntext", E_B(HDR, "Subject: inner"), E_S(BODY, "", "text"));
}

/* A decoded name is kept (and shown) cut to DLP_APP_NAME_MAX - 1 bytes, but a framework
 * reads all of it: a value after 300 bytes of padding is scanned decoded all the same. */
#define A50 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A300 A50 A50 A50 A50 A50 A50
static void test_long_decoded_name_reported_whole(void **state)
{
    dlp_app_limits_t l = limits();
    dlp_mime_params_t p = {.limits = &l,
                           .header_field = DLP_FIELD_HTTP_HEADER,
                           .body_field = DLP_FIELD_HTTP_BODY,
                           .attach_field = DLP_FIELD_HTTP_BODY,
                           .content_type = "multipart/form-data; boundary=fb"};
    static const char in[] = "--fb\r\n"
                             "Content-Disposition: form-data; name=\"f\"; "
                             "filename*=UTF-8''" A300 "%35%33%36%2D%32%32%2D%38%34%31%37.pdf\r\n"
                             "\r\n"
                             "x\r\n"
                             "--fb--\r\n";
    (void)state;
    CHECK(p, in,
          E_B(DLP_FIELD_HTTP_HEADER, "Content-Disposition: form-data; name=\"f\"; "
                                     "filename*=UTF-8''" A300
                                     "%35%33%36%2D%32%32%2D%38%34%31%37.pdf"),
          E_B(DLP_FIELD_HTTP_HEADER, "filename: " A300 "536-22-8417.pdf"),
          E_S(DLP_FIELD_HTTP_BODY, A50 "aaaaaaaaaaaaa", "x")); /* the test sink keeps 63 */
}
#undef A300
#undef A50

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qp_body_and_b64_csv),
        cmocka_unit_test(test_nested_alternative),
        cmocka_unit_test(test_rfc2047_headers),
        cmocka_unit_test(test_message_rfc822),
        cmocka_unit_test(test_digest_default_rfc822),
        cmocka_unit_test(test_boundary_never_closed),
        cmocka_unit_test(test_outer_boundary_closes_inner),
        cmocka_unit_test(test_prefix_boundaries),
        cmocka_unit_test(test_depth_cap),
        cmocka_unit_test(test_depth_ceiling),
        cmocka_unit_test(test_invalid_base64),
        cmocka_unit_test(test_base64_chunks_after_padding),
        cmocka_unit_test(test_boundary_line_rest),
        cmocka_unit_test(test_unsupported_encoding),
        cmocka_unit_test(test_uuencode_part),
        cmocka_unit_test(test_inline_uuencode),
        cmocka_unit_test(test_inline_uuencode_not_blocks),
        cmocka_unit_test(test_inline_uuencode_garbage),
        cmocka_unit_test(test_inline_uuencode_bounds),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_decoded_names_reported),
        cmocka_unit_test(test_long_decoded_name_reported_whole),
        cmocka_unit_test(test_name_bounds),
        cmocka_unit_test(test_lf_only_and_near_misses),
        cmocka_unit_test(test_missing_blank_line_and_empty_part),
        cmocka_unit_test(test_plain_message),
        cmocka_unit_test(test_bad_boundaries),
        cmocka_unit_test(test_header_line_cap),
        cmocka_unit_test(test_header_block_cap),
        cmocka_unit_test(test_mail_part_headers),
        cmocka_unit_test(test_form_data_part_headers),
        cmocka_unit_test(test_part_header_block_cap),
        cmocka_unit_test(test_depth_cap_part_headers),
        cmocka_unit_test(test_truncated_in_headers),
        cmocka_unit_test(test_form_data_stage),
        cmocka_unit_test(test_form_data_boundary_line_rest),
        cmocka_unit_test(test_given_content_type_leaf),
        cmocka_unit_test(test_preamble_and_epilogue),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    ts_reset(&base_ts);
    ts_reset(&split_ts);
    return rc;
}
