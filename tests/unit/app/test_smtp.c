/*
 * test_smtp.c - SMTP conversations (smtp.h).
 *
 * A conversation is a list of steps (client bytes, server bytes, a gap).
 * It is played once with one write per step and checked item by item, then
 * again with each step in turn split in two at every offset, and with
 * 1-byte writes: the recorded output (one sink for both directions, so the
 * order across directions is checked too) must be identical, and so must
 * the return code of each step's last write.
 */
#include "dlp_test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_test_sink.h"
#include "dlp/limits.h"
#include "dlp/smtp.h"

#define HDR DLP_FIELD_SMTP_HEADER
#define BODY DLP_FIELD_SMTP_BODY
#define ATT DLP_FIELD_SMTP_ATTACHMENT
#define CMD DLP_FIELD_SMTP_COMMAND
#define FROM_DOM DLP_META_SMTP_MAIL_FROM_DOMAIN
#define RCPT_DOM DLP_META_SMTP_RCPT_DOMAIN

/* clang-format off */
#define E_S(f, nm, s) {'S', (f), (nm), (s), sizeof(s) - 1, 0}
#define E_B(f, s) {'B', (f), "", (s), sizeof(s) - 1, 0}
#define E_M(k, s) {'M', (k), "", (s), sizeof(s) - 1, 0}
#define E_N(k, b) {'N', (k), "", "", 0, (b)}
/* the block and the domain meta of one address */
#define E_FROM(a, d) E_B(HDR, "MAIL FROM:<" a ">"), E_M(FROM_DOM, d)
#define E_RCPT(a, d) E_B(HDR, "RCPT TO:<" a ">"), E_M(RCPT_DOM, d)
/* a command line, as the server reads it (CR LF removed) */
#define E_C(s) E_B(CMD, s)
/* a credential line kept from the scan: its bytes before the LF (s: with its CR) */
#define E_CRED(s) E_N(DLP_NOTE_CREDENTIAL, sizeof(s) - 1)
/* clang-format on */

typedef struct step {
    char kind; /* 'C' client, 'S' server, 'G' client gap, 'H' server gap */
    const char *data;
    size_t len;
    dlp_rc_t rc; /* of the step's last write */
} step_t;

/* clang-format off */
#define CL(s) {'C', (s), sizeof(s) - 1, DLP_OK}
#define SV(s) {'S', (s), sizeof(s) - 1, DLP_OK}
#define CL_DONE(s) {'C', (s), sizeof(s) - 1, DLP_DONE}
#define SV_DONE(s) {'S', (s), sizeof(s) - 1, DLP_DONE}
#define GAP0(n) {'G', NULL, (n), DLP_OK}
#define GAP1(n) {'H', NULL, (n), DLP_OK}
/* clang-format on */

#define NO_SPLIT ((size_t)-1)

static ts_sink_t base_ts, split_ts, shown_ts;

static dlp_app_limits_t limits(void)
{
    dlp_app_limits_t l;

    dlp_app_limits_default(&l);
    return l;
}

/* One write, told to the credential recorder (ts_sec) around it. */
static dlp_rc_t wr(dlp_smtp_t *s, int dir, const uint8_t *p, size_t n)
{
    dlp_rc_t rc;

    ts_sec_write(dir, p, n);
    rc = dlp_smtp_write(s, dir, p, n);
    ts_sec_done();
    return rc;
}

static dlp_rc_t put(dlp_smtp_t *s, int dir, const uint8_t *p, size_t n, size_t k, int bytewise)
{
    dlp_rc_t rc = DLP_OK;

    if (bytewise) {
        for (size_t i = 0; i < n; i++)
            rc = wr(s, dir, p + i, 1);
        return n > 0 ? rc : wr(s, dir, p, 0);
    }
    if (k > n)
        return wr(s, dir, p, n);
    rc = wr(s, dir, p, k);
    if (rc != DLP_OK && rc != DLP_DONE)
        return rc;
    return wr(s, dir, p + k, n - k);
}

/* Plays the steps; step 'split' is cut at k, or all are 1-byte writes. */
static void converse(const step_t *st, size_t ns, const dlp_app_limits_t *l, size_t split, size_t k,
                     int bytewise, ts_sink_t *t)
{
    void *ctx[2] = {t, t};
    dlp_smtp_t *s;

    ts_reset(t);
    ts_sec_reset();
    s = dlp_smtp_new(&ts_sink_ops, ctx, l);
    assert_non_null(s);
    for (size_t i = 0; i < ns; i++) {
        const uint8_t *p = (const uint8_t *)st[i].data;
        dlp_rc_t rc;
        if (st[i].kind == 'G' || st[i].kind == 'H') {
            ts_sec_gap(st[i].kind == 'H', st[i].len);
            dlp_smtp_gap(s, st[i].kind == 'H', st[i].len);
            continue;
        }
        rc = put(s, st[i].kind == 'S', p, st[i].len, i == split ? k : NO_SPLIT, bytewise);
        if (rc != st[i].rc)
            fprintf(stderr, "step %zu: rc %d, want %d\n", i, rc, st[i].rc);
        assert_int_equal(rc, st[i].rc);
    }
    assert_true(dlp_smtp_mem(s) >= sizeof(void *));
    dlp_smtp_end(s, 0);
    dlp_smtp_end(s, 1);
    dlp_smtp_free(s);
}

static void check_splits(const step_t *st, size_t ns, const dlp_app_limits_t *l)
{
    for (size_t i = 0; i < ns; i++) {
        if (st[i].kind == 'G' || st[i].kind == 'H')
            continue;
        for (size_t k = 0; k <= st[i].len; k++) {
            converse(st, ns, l, i, k, 0, &split_ts);
            if (!ts_equal(&base_ts, &split_ts)) {
                fprintf(stderr, "step %zu split at %zu differs:\n", i, k);
                ts_dump(&split_ts);
                fail();
            }
        }
    }
    converse(st, ns, l, NO_SPLIT, 0, 1, &split_ts);
    if (!ts_equal(&base_ts, &split_ts)) {
        fprintf(stderr, "1-byte writes differ:\n");
        ts_dump(&split_ts);
        fail();
    }
}

/* t without its command lines, nor the notes of credential lines, which take their place
 * (borrowed items: out is never reset). */
static const ts_sink_t *without_commands(const ts_sink_t *t, ts_sink_t *out)
{
    out->n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const ts_item_t *it = &t->item[i];
        if (it->kind == 'N' ? it->field != DLP_NOTE_CREDENTIAL
                            : it->field != CMD || (it->kind != 'B' && it->kind != 'S'))
            out->item[out->n++] = *it;
    }
    return out;
}

/* The splits are compared whole; 'commands' false: e lists all but the command lines. */
static void check_what(const step_t *st, size_t ns, const dlp_app_limits_t *l, const exp_t *e,
                       size_t ne, bool commands)
{
    converse(st, ns, l, NO_SPLIT, 0, 0, &base_ts);
    ts_check_items(commands ? &base_ts : without_commands(&base_ts, &shown_ts), e, ne);
    check_splits(st, ns, l);
}

static void check(const step_t *st, size_t ns, const dlp_app_limits_t *l, const exp_t *e, size_t ne)
{
    check_what(st, ns, l, e, ne, false);
}

/* What the decoder is about here, its command lines aside (tests of commands: CHECK_ALL). */
#define CHECK(l, steps, ...)                                                                       \
    do {                                                                                           \
        static const exp_t e_[] = {__VA_ARGS__};                                                   \
        check((steps), DLP_ARRAY_LEN(steps), (l), e_, DLP_ARRAY_LEN(e_));                          \
    } while (0)

/* Everything, command lines included. */
#define CHECK_ALL(l, steps, ...)                                                                   \
    do {                                                                                           \
        static const exp_t e_[] = {__VA_ARGS__};                                                   \
        check_what((steps), DLP_ARRAY_LEN(steps), (l), e_, DLP_ARRAY_LEN(e_), true);               \
    } while (0)

/* --- a whole mail ------------------------------------------------------------ */

#define MAIL_MSG                                                                                   \
    "From: Alice Example <alice@example.com>\r\n"                                                  \
    "To: Bob <bob@example.org>\r\n"                                                                \
    "Subject: =?utf-8?Q?Customer_list?=\r\n"                                                       \
    "MIME-Version: 1.0\r\n"                                                                        \
    "Content-Type: multipart/mixed; boundary=\"----=_Part_0_1\"\r\n"                               \
    "\r\n"                                                                                         \
    "------=_Part_0_1\r\n"                                                                         \
    "Content-Type: text/plain; charset=utf-8\r\n"                                                  \
    "Content-Transfer-Encoding: quoted-printable\r\n"                                              \
    "\r\n"                                                                                         \
    "Hi Bob, the list is attached =E2=80=94 3 rows.\r\n"                                           \
    "..and a line that starts with a dot.\r\n"                                                     \
    "------=_Part_0_1\r\n"                                                                         \
    "Content-Type: text/csv; name=\"customers.csv\"\r\n"                                           \
    "Content-Transfer-Encoding: base64\r\n"                                                        \
    "Content-Disposition: attachment; filename=\"customers.csv\"\r\n"                              \
    "\r\n"                                                                                         \
    "bmFtZSxkb2IsemlwDQpKb2huIFNtaXRoLDE5ODAtMDQtMTIsOTQxMDUNCk1hcmlhIEdhcmNpYSwx\r\n"             \
    "OTc1LTExLTMwLDEwMDAxDQpXZWkgQ2hlbiwxOTkwLTAxLTA1LDYwNjE0DQo=\r\n"                             \
    "------=_Part_0_1--\r\n"

static void test_mail_with_csv_attachment(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        SV("220 mx.example.org ESMTP\r\n"),
        CL("EHLO client.example.com\r\n"),
        SV("250-mx.example.org\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SIZE 10240000\r\n"),
        CL("MAIL FROM:<Alice@Example.COM> SIZE=1234 BODY=8BITMIME\r\n"),
        SV("250 2.1.0 OK\r\n"),
        CL("RCPT TO:<bob@example.org>\r\n"),
        SV("250 2.1.5 OK\r\n"),
        CL("DATA\r\n"),
        SV("354 End data with <CR><LF>.<CR><LF>\r\n"),
        CL(MAIL_MSG ".\r\n"),
        SV("250 2.0.0 Ok: queued as 4F1D2\r\n"),
        CL("QUIT\r\n"),
        SV("221 2.0.0 Bye\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("Alice@Example.COM", "example.com"),
          E_RCPT("bob@example.org", "example.org"),
          E_B(HDR, "From: Alice Example <alice@example.com>"),
          E_B(HDR, "To: Bob <bob@example.org>"), E_B(HDR, "Subject: Customer list"),
          E_B(HDR, "MIME-Version: 1.0"),
          E_B(HDR, "Content-Type: multipart/mixed; boundary=\"----=_Part_0_1\""),
          E_B(HDR, "Content-Type: text/plain; charset=utf-8"),
          E_B(HDR, "Content-Transfer-Encoding: quoted-printable"),
          E_S(BODY, "",
              "Hi Bob, the list is attached \xe2\x80\x94 3 rows.\r\n"
              ".and a line that starts with a dot."),
          E_B(HDR, "Content-Type: text/csv; name=\"customers.csv\""),
          E_B(HDR, "Content-Transfer-Encoding: base64"),
          E_B(HDR, "Content-Disposition: attachment; filename=\"customers.csv\""),
          E_S(ATT, "customers.csv",
              "name,dob,zip\r\n"
              "John Smith,1980-04-12,94105\r\n"
              "Maria Garcia,1975-11-30,10001\r\n"
              "Wei Chen,1990-01-05,60614\r\n"));
}

/* A part's own headers (not only the message's) are reported, unfolded and decoded. */
static void test_mail_part_custom_header(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("250 ok\r\n"),
        CL("RCPT TO:<b@y.example>\r\n"),
        SV("250 ok\r\n"),
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: notes\r\n"
           "Content-Type: multipart/mixed; boundary=\"p1\"\r\n"
           "\r\n"
           "--p1\r\n"
           "Content-Type: text/plain\r\n"
           "X-Note: card\r\n"
           " 4539148803436467\r\n"
           "X-Ref: =?utf-8?Q?536-22-8417?=\r\n"
           "\r\n"
           "see note\r\n"
           "--p1--\r\n"
           ".\r\n"),
        SV("250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("a@x.example", "x.example"), E_RCPT("b@y.example", "y.example"),
          E_B(HDR, "Subject: notes"), E_B(HDR, "Content-Type: multipart/mixed; boundary=\"p1\""),
          E_B(HDR, "Content-Type: text/plain"), E_B(HDR, "X-Note: card 4539148803436467"),
          E_B(HDR, "X-Ref: 536-22-8417"), E_S(BODY, "", "see note"));
}

static void test_dot_unstuffing(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("250 ok\r\n"),
        CL("RCPT TO:<b@y.example>\r\n"),
        SV("250 ok\r\n"),
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: dots\r\n"
           "\r\n"
           "..leading dot\r\n"
           ".single\r\n"
           "...\r\n"
           "a\n.\nb\r\n"
           ".\rX\r\n"
           ". \r\n"
           "end\r\n"
           ".\r\n"
           "QUIT\r\n"),
        SV("250 ok\r\n221 bye\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("a@x.example", "x.example"), E_RCPT("b@y.example", "y.example"),
          E_B(HDR, "Subject: dots"),
          E_S(BODY, "", ".leading dot\r\nsingle\r\n..\r\na\n.\nb\r\n\rX\r\n \r\nend\r\n"));
}

static void test_bdat_binary(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("EHLO c.example\r\n"),
        SV("250-mx\r\n250 CHUNKING\r\n"),
        CL("MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\n"),
        SV("250 ok\r\n250 ok\r\n"),
        /* 23 bytes: "Subject: bin\r\n" "\r\n" "A\r\n.\r\nB" */
        CL("BDAT 23\r\nSubject: bin\r\n\r\nA\r\n.\r\nB"),
        /* 10 bytes, a NUL and a CRLF.CRLF among them: not an end */
        CL("BDAT 10 LAST\r\n\x00\xff\r\n.\r\nend"),
        SV("250 23 bytes\r\n250 10 bytes, message ok\r\n"),
        CL("MAIL FROM:<c@x.example>\r\nRCPT TO:<d@y.example>\r\n"
           "BDAT 12\r\nSubject: z\r\nbdat 0 last\r\n"),
        SV("250 ok\r\n250 ok\r\n250 12 bytes\r\n250 message ok\r\n"),
        CL("QUIT\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("a@x.example", "x.example"), E_RCPT("b@y.example", "y.example"),
          E_B(HDR, "Subject: bin"), E_S(BODY, "", "A\r\n.\r\nB\x00\xff\r\n.\r\nend"),
          E_FROM("c@x.example", "x.example"), E_RCPT("d@y.example", "y.example"),
          E_B(HDR, "Subject: z"));
}

static void test_pipelined_transaction(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250-mx\r\n250 PIPELINING\r\n"),
        CL("MAIL FROM:<@relay.example:a@X.Example>\r\n"
           "RCPT TO:<b@y.example>\r\n"
           "RCPT TO: <c@z.example> NOTIFY=NEVER\r\n"
           "DATA\r\n"),
        SV("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n"),
        CL("Subject: p\r\n\r\nhello\r\n.\r\nQUIT\r\n"),
        SV("250 ok\r\n221 bye\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("a@X.Example", "x.example"), E_RCPT("b@y.example", "y.example"),
          E_RCPT("c@z.example", "z.example"), E_B(HDR, "Subject: p"), E_S(BODY, "", "hello\r\n"));
}

static void test_data_rejected(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"),
        SV("250 ok\r\n550 no\r\n554 5.5.1 no valid recipients\r\n"),
        CL("RSET\r\nSubject: not a message\r\n\r\nbody\r\n.\r\nQUIT\r\n"),
        SV("250 ok\r\n500 what\r\n500 what\r\n500 what\r\n500 what\r\n221 bye\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("a@x.example", "x.example"), E_RCPT("b@y.example", "y.example"));
}

/* Client bytes fed before the reply to DATA are held until it comes. */
static void test_data_reply_late(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t accepted[] = {
        CL("MAIL FROM:<a@x.example>\r\n"),         SV("250 ok\r\n"),           CL("DATA\r\n"),
        CL("Subject: early\r\n\r\nbody\r\n.\r\n"), SV("354 go\r\n250 ok\r\n"),
    };
    static const step_t refused[] = {
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("250 ok\r\n"),
        CL("DATA\r\n"),
        CL("RCPT TO:<b@y.example>\r\n"),
        SV("503 need RCPT\r\n250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, accepted, E_FROM("a@x.example", "x.example"), E_B(HDR, "Subject: early"),
          E_S(BODY, "", "body\r\n"));
    /* the held line is a command after all: reported once the 503 is seen */
    CHECK(&l, refused, E_FROM("a@x.example", "x.example"), E_RCPT("b@y.example", "y.example"));
}

static void test_starttls(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t accepted[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250-mx\r\n250 STARTTLS\r\n"),
        CL("STARTTLS\r\n"),
        SV("220 2.0.0 Ready to start TLS\r\n"),
        CL_DONE("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        SV_DONE("\x16\x03\x03\x00\x5a\x02"),
    };
    static const step_t refused[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250 mx\r\n"),
        CL("STARTTLS\r\n"),
        SV("454 4.7.0 TLS not available\r\n"),
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, accepted, E_N(DLP_NOTE_ENCRYPTED, 0), E_N(DLP_NOTE_ENCRYPTED, 0));
    CHECK(&l, refused, E_FROM("a@x.example", "x.example"));
}

/*
 * A 220 to STARTTLS is the server's word only: a colluding server can say it
 * and go on reading plain text, which the sensor would never look at. So the
 * client's first bytes after it decide: a TLS handshake record ends
 * inspection, anything else is read as commands (and a message) again.
 */
static void test_starttls_without_tls(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t fake[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250-mx\r\n250 STARTTLS\r\n"),
        CL("STARTTLS\r\n"),
        SV("220 2.0.0 Ready to start TLS\r\n"),
        CL("MAIL FROM:<a@x.example>\r\nDATA\r\n"),
        SV("250 ok\r\n354 go\r\n"),
        CL("Subject: s\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
    };
    static const step_t pipelined[] = {
        SV("220 mx ESMTP\r\n"),
        CL("STARTTLS\r\nMAIL FROM:<a@x.example>\r\n"),
        SV("220 go ahead\r\n250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, fake, E_FROM("a@x.example", "x.example"), E_B(HDR, "Subject: s"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, pipelined, E_FROM("a@x.example", "x.example"));
}

static void test_auth_not_reported(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
        CL("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"),
        SV("535 5.7.8 bad credentials\r\n"),
        CL("AUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("YWxpY2VAZXhhbXBsZS5jb20=\r\n"),
        SV("334 UGFzc3dvcmQ6\r\n"),
        CL("MAIL FROM:<looks-like-a-command@example.com>\r\n"),
        SV("535 5.7.8 bad\r\n"),
        CL("AUTH PLAIN\r\n"),
        SV("334 \r\n"),
        CL("AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"),
        SV("235 2.7.0 ok\r\n"),
        CL("MAIL FROM:<alice@example.com>\r\n"),
        SV("250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("alice@example.com", "example.com"));
}

/* AUTH with an initial response may be followed by pipelined commands (RFC 4954 section 4,
 * RFC 2920): they are commands, and the message after DATA is scanned. A 334 to such an AUTH
 * makes only the next line its continuation. */
static void test_auth_pipelined_initial_response(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t data[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n"),
        CL("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"
           "MAIL FROM:<alice@example.com>\r\n"
           "RCPT TO:<bob@example.org>\r\n"
           "DATA\r\n"
           "Subject: q3\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
        SV("235 2.7.0 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"),
        CL("QUIT\r\n"),
        SV("221 bye\r\n"),
    };
    static const step_t bdat[] = {
        CL("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"
           "MAIL FROM:<alice@example.com>\r\n"
           "BDAT 40 LAST\r\n"
           "Subject: b\r\n\r\ncard 4556 7375 8689 9855\r\n"),
        SV("235 ok\r\n250 ok\r\n250 ok\r\n"),
    };
    static const step_t challenged[] = {
        CL("AUTH PLAIN AGFsaWNl\r\n"),
        SV("334 \r\n"),
        CL("MAIL FROM:<continuation@example.com>\r\n"), /* the answer to the 334 */
        SV("535 5.7.8 bad\r\n"),
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, data, E_FROM("alice@example.com", "example.com"),
          E_RCPT("bob@example.org", "example.org"), E_B(HDR, "Subject: q3"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, bdat, E_FROM("alice@example.com", "example.com"), E_B(HDR, "Subject: b"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, challenged, E_FROM("a@x.example", "x.example"));
}

/* AUTH without an initial response, the client sending everything before any reply: the
 * lines wait for the replies; each 334 takes one line, the final reply hands back the rest
 * as commands. */
static void test_auth_pipelined_login(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("AUTH LOGIN\r\n"
           "YWxpY2U=\r\n"
           "c2VjcmV0\r\n"
           "MAIL FROM:<alice@example.com>\r\n"
           "RCPT TO:<bob@example.org>\r\n"
           "DATA\r\n"
           "Subject: q3\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
        SV("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"
           "250 queued\r\n"),
    };
    /* no reply at all (one direction captured): at its end the lines are commands */
    static const step_t unanswered[] = {
        CL("AUTH LOGIN\r\n"
           "YWxpY2U=\r\n"
           "MAIL FROM:<alice@example.com>\r\n"
           "BDAT 40 LAST\r\n"
           "Subject: b\r\n\r\ncard 4556 7375 8689 9855\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("alice@example.com", "example.com"),
          E_RCPT("bob@example.org", "example.org"), E_B(HDR, "Subject: q3"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, unanswered, E_FROM("alice@example.com", "example.com"), E_B(HDR, "Subject: b"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
}

/* A 334 is answered by one line: a message sent as more "answers" is not swallowed, and a
 * DATA taken by a 334 leaves the lines after it to the next reply. */
static void test_auth_continuation_is_one_line(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t more_lines[] = {
        CL("AUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("YWxpY2U=\r\n"
           "MAIL FROM:<a@x.example>\r\n"
           "DATA\r\n"
           "Subject: s\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
        SV("235 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n"),
    };
    static const step_t each_challenged[] = {
        CL("AUTH LOGIN\r\n"
           "YWxpY2U=\r\n"
           "MAIL FROM:<hidden@x.example>\r\n"
           "DATA\r\n"
           "Subject: s\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
        SV("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 no\r\n354 go\r\n250 ok\r\n"),
    };
    /* a 334 to an AUTH with an initial response: the server reads the next line as the answer */
    static const step_t ir_challenged[] = {
        CL("AUTH PLAIN AGFsaWNl\r\n"
           "MAIL FROM:<answer@x.example>\r\n"
           "DATA\r\n"
           "Subject: s\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
        SV("334 \r\n535 no\r\n354 go\r\n250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, more_lines, E_FROM("a@x.example", "x.example"), E_B(HDR, "Subject: s"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, each_challenged, E_B(HDR, "Subject: s"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, ir_challenged, E_B(HDR, "Subject: s"), E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
}

/* Lines held for AUTH's reply past line_max: the exchange is taken as over, they are
 * commands (the message after DATA is then held, and assumed accepted, as always). */
static void test_auth_hold_cap(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"
           "MAIL FROM:<alice@example.com>\r\n"
           "DATA\r\n"
           "Subject: over the hold bound\r\n\r\ncard 4556 7375 8689 9855 and more text\r\n"
           ".\r\n"),
        SV("235 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"),
    };
    (void)state;
    l.line_max = 64;
    CHECK(&l, steps, E_FROM("alice@example.com", "example.com"),
          E_B(HDR, "Subject: over the hold bound"),
          E_S(BODY, "", "card 4556 7375 8689 9855 and more text\r\n"));
}

static void test_gap_in_data(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("250 ok\r\n"),
        CL("RCPT TO:<b@y.example>\r\n"),
        SV("250 ok\r\n"),
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: first\r\n\r\nline one\r\nline tw"),
        GAP0(1000),
        CL("o lost\r\n.more lost\r\n.\r\n"),
        SV("250 ok\r\n"),
        CL("MAIL FROM:<c@x.example>\r\nRCPT TO:<d@y.example>\r\nDATA\r\n"),
        SV("250 ok\r\n250 ok\r\n354 go\r\n"),
        CL("Subject: second\r\n\r\nkept\r\n.\r\n"),
        SV("250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("a@x.example", "x.example"), E_RCPT("b@y.example", "y.example"),
          E_B(HDR, "Subject: first"), E_S(BODY, "", "line one\r\nline tw"), E_N(DLP_NOTE_GAP, 1000),
          E_FROM("c@x.example", "x.example"), E_RCPT("d@y.example", "y.example"),
          E_B(HDR, "Subject: second"), E_S(BODY, "", "kept\r\n"));
}

static void test_gap_in_commands(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("MAIL FROM:<e@x.exa"),
        GAP0(10),
        CL("mple>\r\ngarbage after the gap\r\nRCPT TO:<f@y.example>\r\n"),
        SV("250 ok\r\n"),
        GAP1(7),
        SV("0 ok\r\n"),
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: after\r\n\r\n.\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_N(DLP_NOTE_GAP, 10), E_RCPT("f@y.example", "y.example"),
          E_N(DLP_NOTE_GAP, 7), E_B(HDR, "Subject: after"));
}

/* The greeting answers no command, even when a command was seen before it. */
static void test_greeting_early_command(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("EHLO c\r\n"),
        SV("220 mx ESMTP\r\n"),
        CL("AUTH LOGIN\r\n"),
        SV("250 mx\r\n334 VXNlcm5hbWU6\r\n"),
        CL("MAIL FROM:<username-response@example.com>\r\n"),
        SV("235 ok\r\n"),
        CL("MAIL FROM:<real@example.com>\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("real@example.com", "example.com"));
}

/* After a gap, lines are commands again only from a known verb on. */
static void test_resync_ignores_garbage(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("NOOP"),
        GAP0(3),
        CL("\r\ngarbage\r\nAUTH PLAIN\r\n"),
        SV("334 \r\n"),
        CL("AGFsaWNlAHNlY3JldA==\r\n"),
        SV("235 ok\r\n"),
        CL("MAIL FROM:<m@x.example>\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_N(DLP_NOTE_GAP, 3), E_FROM("m@x.example", "x.example"));
}

/* A client gap while DATA waits on its reply: the bytes held before it are the message's
 * start (the client did not wait), read as at the client's end; the rest is skipped to the
 * message's end. With nothing held, the message is skipped whole. */
static void test_client_gap_while_waiting(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t held[] = {
        CL("DATA\r\n"),
        CL("Subject: a\r\n\r\nbody start"),
        GAP0(20),
        CL(".\r\nRCPT TO:<in-message@x.example>\r\n.\r\nMAIL FROM:<z@x.example>\r\n"),
        SV("354 go\r\n250 ok\r\n250 ok\r\n"),
    };
    static const step_t none_held[] = {
        CL("DATA\r\n"),
        GAP0(20),
        CL(".\r\nRCPT TO:<in-message@x.example>\r\n.\r\nMAIL FROM:<z@x.example>\r\n"),
        SV("354 go\r\n250 ok\r\n250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, held, E_B(HDR, "Subject: a"), E_S(BODY, "", "body start"), E_N(DLP_NOTE_GAP, 20),
          E_FROM("z@x.example", "x.example"));
    CHECK(&l, none_held, E_N(DLP_NOTE_GAP, 20), E_FROM("z@x.example", "x.example"));
}

/* A client gap while commands pipelined behind AUTH wait on its reply: they came before the
 * lost bytes, so they are read as commands (AUTH taken as over), not dropped. */
static void test_client_gap_while_auth_waits(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"
           "MAIL FROM:<alice@example.com>\r\n"
           "RCPT TO:<bob@example.org>\r\n"),
        GAP0(30),
        CL("QUIT\r\n"),
        SV("235 ok\r\n250 ok\r\n250 ok\r\n221 bye\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("alice@example.com", "example.com"),
          E_RCPT("bob@example.org", "example.org"), E_N(DLP_NOTE_GAP, 30));
}

/* A reply lost in a gap while the client waits on DATA: assumed accepted. */
static void test_server_gap_while_waiting(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("MAIL FROM:<a@x.example>\r\n"), SV("250 ok\r\n"), CL("DATA\r\n"),
        CL("Subject: s\r\n\r\nx"),         GAP1(50),         CL("\r\n.\r\nQUIT\r\n"),
        SV("250 ok\r\n221 bye\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_FROM("a@x.example", "x.example"), E_N(DLP_NOTE_GAP, 50),
          E_B(HDR, "Subject: s"), E_S(BODY, "", "x\r\n"));
}

static void test_gap_in_bdat(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("BDAT 20\r\n0123456789"),
        GAP0(5),
        CL("56789"),
        CL("BDAT 5 LAST\r\nabcde"),
        CL("BDAT 12 LAST\r\nSubject: n\r\n"),
        CL("BDAT 4\r\nab"),
        GAP0(10),
        CL("xx\r\nRCPT TO:<g@y.example>\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_S(BODY, "", "0123456789"), E_N(DLP_NOTE_GAP, 5), E_B(HDR, "Subject: n"),
          E_S(BODY, "", "ab"), E_N(DLP_NOTE_GAP, 10), E_RCPT("g@y.example", "y.example"));
}

/* DATA after a BDAT chunk without LAST: the BDAT message is ended, not leaked. */
static void test_data_after_unfinished_bdat(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("BDAT 16\r\nSubject: a\r\n\r\nAB"),
        SV("250 16 bytes\r\n"),
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: b\r\n\r\nCD\r\n.\r\n"),
        SV("250 ok\r\n"),
    };
    (void)state;
    CHECK(&l, steps, E_B(HDR, "Subject: a"), E_S(BODY, "", "AB"), E_B(HDR, "Subject: b"),
          E_S(BODY, "", "CD\r\n"));
}

static void test_message_ends_with_connection(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: cut\r\n\r\npartial"),
    };
    (void)state;
    CHECK(&l, steps, E_B(HDR, "Subject: cut"), E_S(BODY, "", "partial"));
}

/* No reply to DATA came before the client's end (lost, or only the client's side seen): the
 * held messages are read as accepted. */
static void test_message_held_at_client_end(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t one[] = {
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("250 ok\r\n"),
        CL("DATA\r\n"),
        CL("Subject: s\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
    };
    static const step_t two[] = {
        CL("DATA\r\n"
           "Subject: a\r\n\r\nfirst\r\n.\r\n"
           "MAIL FROM:<b@x.example>\r\n"
           "DATA\r\n"
           "Subject: b\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
    };
    (void)state;
    CHECK(&l, one, E_FROM("a@x.example", "x.example"), E_B(HDR, "Subject: s"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, two, E_B(HDR, "Subject: a"), E_S(BODY, "", "first\r\n"),
          E_FROM("b@x.example", "x.example"), E_B(HDR, "Subject: b"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
}

/*
 * Bytes held after STARTTLS when the client's side ends (its reply lost, or
 * only the client's side seen) are what they look like: a TLS handshake,
 * or commands and a message, which are read.
 */
static void test_starttls_held_at_client_end(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t plain[] = {
        CL("EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@x.example>\r\nDATA\r\n"
           "Subject: s\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
    };
    static const step_t tls[] = {
        CL("EHLO c\r\nSTARTTLS\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
    };
    (void)state;
    CHECK(&l, plain, E_FROM("a@x.example", "x.example"), E_B(HDR, "Subject: s"),
          E_S(BODY, "", "card 4556 7375 8689 9855\r\n"));
    CHECK(&l, tls, E_N(DLP_NOTE_ENCRYPTED, 0), E_N(DLP_NOTE_ENCRYPTED, 0));
}

static void test_command_line_cap(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("EHLO xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"),
        CL("MAIL FROM:<a@x.example>\r\n"),
        SV("500 line too long\r\n250 ok\r\n"),
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: "
           "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n\r\nb\r\n.\r\n"),
    };
    (void)state;
    l.line_max = 64;
    /* "EHLO " + 70 + CR: streamed whole (not interpreted, not dropped); the Subject, a MIME
     * header, keeps 64 of its 71 + CR */
    CHECK_ALL(&l, steps,
              E_S(CMD, "",
                  "EHLO xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r"),
              E_FROM("a@x.example", "x.example"), E_C("MAIL FROM:<a@x.example>"), E_C("DATA"),
              E_B(HDR, "Subject: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"),
              E_N(DLP_NOTE_HEADER_CAP, 8), E_S(BODY, "", "b\r\n"));
}

/* An address block shows at most 320 bytes of it (RFC 5321 allows 256). */
static void test_address_bound(void **state)
{
    dlp_app_limits_t l = limits();
    static char cmd[512], want[512];
    static step_t steps[] = {{'C', cmd, 0, DLP_OK}};
    char local[400];
    (void)state;
    memset(local, 'u', 390);
    local[390] = '\0';
    steps[0].len = (size_t)snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s@d.example>\r\n", local);
    snprintf(want, sizeof(want), "MAIL FROM:<%.320s>", local);
    converse(steps, 1, &l, NO_SPLIT, 0, 0, &base_ts);
    assert_int_equal(base_ts.n, 3);
    assert_string_equal(ts_str(&base_ts, 0), want);
    assert_string_equal(ts_str(&base_ts, 1), "d.example"); /* from the whole address */
    /* the whole line is scanned as a command: nothing past the shown 320 bytes escapes */
    cmd[steps[0].len - 2] = '\0';
    assert_int_equal(base_ts.item[2].field, CMD);
    assert_string_equal(ts_str(&base_ts, 2), cmd);
    cmd[steps[0].len - 2] = '\r';
    check_splits(steps, 1, &l);
}

/* Held client bytes past line_max: DATA assumed accepted, STARTTLS refused. */
static void test_wait_hold_cap(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t data[] = {
        CL("DATA\r\n"),
        CL("Subject: over the hold bound\r\n\r\n0123456789012345678901234567890123456789\r\n"
           ".\r\n"),
        SV("354 go\r\n250 ok\r\n"),
    };
    static const step_t tls[] = {
        CL("STARTTLS\r\n"),
        CL("MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@z.example>\r\n"),
        SV("454 no\r\n250 ok\r\n250 ok\r\n250 ok\r\n"),
    };
    (void)state;
    l.line_max = 64;
    CHECK(&l, data, E_B(HDR, "Subject: over the hold bound"),
          E_S(BODY, "", "0123456789012345678901234567890123456789\r\n"));
    CHECK(&l, tls, E_FROM("a@x.example", "x.example"), E_RCPT("b@y.example", "y.example"),
          E_RCPT("c@z.example", "z.example"));
}

/* More pipelined commands than the queue holds, then DATA. */
static void test_pipeline_cap(void **state)
{
    dlp_app_limits_t l = limits();
    enum { N = DLP_SMTP_PIPELINE_MAX + 6 };
    static char cmds[N * 6 + 8], replies[N * 8 + 16];
    static step_t steps[] = {
        {'C', cmds, 0, DLP_OK},
        {'S', replies, 0, DLP_OK},
        CL("Subject: q\r\n\r\nz\r\n.\r\n"),
        SV("250 ok\r\n"),
    };
    static const exp_t e[] = {E_B(HDR, "Subject: q"), E_S(BODY, "", "z\r\n")};
    size_t c = 0, r = 0;
    (void)state;
    for (int i = 0; i < N; i++) {
        memcpy(cmds + c, "NOOP\r\n", 6);
        c += 6;
        memcpy(replies + r, "250 ok\r\n", 8);
        r += 8;
    }
    memcpy(cmds + c, "DATA\r\n", 6);
    memcpy(replies + r, "354 go\r\n", 8);
    steps[0].len = c + 6;
    steps[1].len = r + 8;
    check(steps, DLP_ARRAY_LEN(steps), &l, e, DLP_ARRAY_LEN(e));
}

/* More pipelined commands than the queue holds; one not queued is refused before DATA's 354:
 * that refusal is not DATA's. */
static void test_pipeline_cap_refused_rcpt(void **state)
{
    dlp_app_limits_t l = limits();
    enum { N = DLP_SMTP_PIPELINE_MAX };
    static const char rcpt[] = "RCPT TO:<no@y.example>\r\nDATA\r\n";
    static const char tail[] = "550 no such user\r\n354 go\r\n";
    static char cmds[N * 6 + sizeof(rcpt)], replies[N * 8 + sizeof(tail)];
    static step_t steps[] = {
        {'C', cmds, 0, DLP_OK},
        {'S', replies, 0, DLP_OK},
        CL("Subject: q\r\n\r\nz\r\n.\r\n"),
        SV("250 ok\r\n"),
    };
    static const exp_t e[] = {E_RCPT("no@y.example", "y.example"), E_B(HDR, "Subject: q"),
                              E_S(BODY, "", "z\r\n")};
    size_t c = 0, r = 0;
    (void)state;
    for (int i = 0; i < N; i++) {
        memcpy(cmds + c, "NOOP\r\n", 6);
        c += 6;
        memcpy(replies + r, "250 ok\r\n", 8);
        r += 8;
    }
    memcpy(cmds + c, rcpt, sizeof(rcpt) - 1);
    memcpy(replies + r, tail, sizeof(tail) - 1);
    steps[0].len = c + sizeof(rcpt) - 1;
    steps[1].len = r + sizeof(tail) - 1;
    check(steps, DLP_ARRAY_LEN(steps), &l, e, DLP_ARRAY_LEN(e));
}

/* --- command lines --------------------------------------------------------------- */

/* Every line the server reads as a command is scanned, whatever its verb: NOOP takes a
 * string (RFC 5321 4.1.1.9), and the server may log any of them. */
static void test_commands_scanned(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO 4556737586899855\r\n"),
        SV("250 mx\r\n"),
        CL("NOOP 4556737586899855\r\n"),
        SV("250 ok\r\n"),
        /* pipelined, and an unknown verb */
        CL("VRFY 078-05-1120\r\nEXPN staff\r\nHELP me\r\nXEXF alice@example.com\r\n"),
        SV("252 x\r\n250 x\r\n214 x\r\n500 unknown\r\n"),
        CL("MAIL FROM:<a@x.example> ENVID=4556737586899855\r\n"),
        SV("250 ok\r\n"),
        CL("RCPT TO:<b@y.example>\r\n"),
        SV("250 ok\r\n"),
        CL("DATA\r\n"),
        SV("354 go\r\n"),
        CL("Subject: s\r\n\r\nbody\r\n.\r\n"),
        SV("250 ok\r\n"),
        CL("\r\nQUIT\r\n"),
        SV("221 bye\r\n"),
    };
    (void)state;
    /* the envelope's address block first: the address is still found in smtp.header */
    CHECK_ALL(&l, steps, E_C("EHLO 4556737586899855"), E_C("NOOP 4556737586899855"),
              E_C("VRFY 078-05-1120"), E_C("EXPN staff"), E_C("HELP me"),
              E_C("XEXF alice@example.com"), E_FROM("a@x.example", "x.example"),
              E_C("MAIL FROM:<a@x.example> ENVID=4556737586899855"),
              E_RCPT("b@y.example", "y.example"), E_C("RCPT TO:<b@y.example>"), E_C("DATA"),
              E_B(HDR, "Subject: s"), E_S(BODY, "", "body\r\n"), E_C("QUIT"));
}

/* Lines held while the client waits on a reply are commands when the reply says so. */
static void test_commands_replayed(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t data_refused[] = {
        CL("DATA\r\nNOOP 4556737586899855\r\n"),
        SV("554 no valid recipients\r\n250 ok\r\n"),
    };
    static const step_t tls_refused[] = {
        CL("STARTTLS\r\nHELO 078-05-1120\r\n"),
        SV("454 not now\r\n250 ok\r\n"),
    };
    static const step_t tls_plain[] = {
        CL("STARTTLS\r\n"),
        SV("220 go ahead\r\n"),
        CL("NOOP plain after the 220\r\n"),
    };
    (void)state;
    CHECK_ALL(&l, data_refused, E_C("DATA"), E_C("NOOP 4556737586899855"));
    CHECK_ALL(&l, tls_refused, E_C("STARTTLS"), E_C("HELO 078-05-1120"));
    CHECK_ALL(&l, tls_plain, E_C("STARTTLS"), E_C("NOOP plain after the 220"));
}

/* AUTH lines and the answers to its 334s are credentials: not scanned, noted; but a line
 * over line_max is none (it is streamed as a command), though the exchange goes on. */
static void test_auth_lines_not_commands(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
        CL("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"),
        SV("535 5.7.8 bad credentials\r\n"),
        CL("AUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("YWxpY2VAZXhhbXBsZS5jb20=\r\n"),
        SV("334 UGFzc3dvcmQ6\r\n"),
        CL("MAIL FROM:<looks-like-a-command@example.com>\r\n"),
        SV("535 5.7.8 bad\r\n"),
        CL("AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nNOOP after\r\n"),
        SV("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n250 ok\r\n"),
        CL("MAIL FROM:<alice@example.com>\r\n"),
        SV("250 ok\r\n"),
    };
    /* over line_max (64): an AUTH line with its initial response, and an answer to a 334 */
    static const step_t overlong[] = {
        CL("AUTH PLAIN QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"),
        SV("535 no\r\n"),
        CL("AUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC\r\n"),
        SV("334 UGFzc3dvcmQ6\r\n"),
        CL("c2VjcmV0\r\n"),
        SV("235 ok\r\n"),
        CL("NOOP 4556737586899855\r\n"),
    };
    (void)state;
    CHECK_ALL(&l, steps, E_C("EHLO c"),
              E_CRED("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r"), E_CRED("AUTH LOGIN\r"),
              E_CRED("YWxpY2VAZXhhbXBsZS5jb20=\r"),
              E_CRED("MAIL FROM:<looks-like-a-command@example.com>\r"), E_CRED("AUTH LOGIN\r"),
              E_CRED("YWxpY2U=\r"), E_CRED("c2VjcmV0\r"), E_C("NOOP after"),
              E_FROM("alice@example.com", "example.com"), E_C("MAIL FROM:<alice@example.com>"));
    l.line_max = 64;
    CHECK_ALL(&l, overlong,
              E_S(CMD, "",
                  "AUTH PLAIN QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
                  "QUFBQUFBQUFBQUFB\r"),
              E_CRED("AUTH LOGIN\r"),
              E_S(CMD, "",
                  "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC\r"),
              E_CRED("c2VjcmV0\r"), E_C("NOOP 4556737586899855"));
}

/* A long AUTH exchange is a channel a colluding server can keep open: answers past
 * DLP_SMTP_AUTH_ANSWERS_MAX in one exchange, AUTH lines past DLP_SMTP_AUTH_MAX per connection
 * and lines over DLP_APP_CRED_MAX are no credentials: scanned as commands, not noted. */
static void test_auth_bounds(void **state)
{
    dlp_app_limits_t l = limits();
    static char long_auth[DLP_APP_CRED_MAX + 32], long_step[DLP_APP_CRED_MAX + 64];
    static const step_t answers[] = {
        CL("AUTH LOGIN\r\n"),
        SV("334 a\r\n"),
        CL("YQ==\r\n"),
        SV("334 b\r\n"),
        CL("Yg==\r\n"),
        SV("334 c\r\n"),
        CL("Yw==\r\n"),
        SV("334 d\r\n"),
        CL("ZA==\r\n"),
        SV("334 e\r\n"),
        CL("card 4556 7375 8689 9855\r\n"), /* the fifth answer: data, not a credential */
        SV("334 f\r\n"),
        CL("ssn 078-05-1120\r\n"),
        SV("235 ok\r\n"),
        CL("NOOP\r\n"),
    };
    static const step_t exchanges[] = {
        CL("AUTH PLAIN AGE=\r\n"),
        SV("535 no\r\n"),
        CL("AUTH PLAIN AGI=\r\n"),
        SV("535 no\r\n"),
        CL("AUTH PLAIN AGM=\r\n"),
        SV("535 no\r\n"),
        CL("AUTH PLAIN 4556737586899855\r\n"), /* the fourth: scanned */
        SV("334 \r\n"),
        CL("078-05-1120\r\n"), /* its answer too */
        SV("535 no\r\n"),
    };
    step_t long_line[3] = {
        CL("EHLO c\r\n"),
        {'C', long_step, 0, DLP_OK},
        SV("500 too long\r\n"),
    };
    exp_t long_exp[] = {
        E_C("EHLO c"),
        {'B', CMD, "", long_auth, DLP_APP_CRED_MAX + 1, 0},
    };
    (void)state;
    CHECK_ALL(&l, answers, E_CRED("AUTH LOGIN\r"), E_CRED("YQ==\r"), E_CRED("Yg==\r"),
              E_CRED("Yw==\r"), E_CRED("ZA==\r"), E_C("card 4556 7375 8689 9855"),
              E_C("ssn 078-05-1120"), E_C("NOOP"));
    CHECK_ALL(&l, exchanges, E_CRED("AUTH PLAIN AGE=\r"), E_CRED("AUTH PLAIN AGI=\r"),
              E_CRED("AUTH PLAIN AGM=\r"), E_C("AUTH PLAIN 4556737586899855"),
              E_C("078-05-1120"));
    /* one byte over the bound, within line_max: held whole, then scanned */
    memset(long_auth, 'Q', DLP_APP_CRED_MAX + 1);
    memcpy(long_auth, "AUTH PLAIN ", 11);
    memcpy(long_auth + 100, "4556737586899855", 16);
    memcpy(long_step, long_auth, DLP_APP_CRED_MAX + 1);
    memcpy(long_step + DLP_APP_CRED_MAX + 1, "\r\n", 2);
    long_line[1].len = DLP_APP_CRED_MAX + 3;
    converse(long_line, 3, &l, NO_SPLIT, 0, 0, &base_ts);
    ts_check_items(&base_ts, long_exp, DLP_ARRAY_LEN(long_exp));
    converse(long_line, 3, &l, NO_SPLIT, 0, 1, &split_ts);
    assert_true(ts_equal(&base_ts, &split_ts));
}

/*
 * Where the credentials are (secret(), for evidence captures), one write per step, each
 * step split at every offset, and 1-byte writes: every byte of each of secrets[0, nsec)
 * covered; with 'exact', nothing of the other client lines.
 */
static void check_secrets(const step_t *st, size_t ns, const dlp_app_limits_t *l,
                          const char *const *secrets, size_t nsec, int exact)
{
    char what[64];

    converse(st, ns, l, NO_SPLIT, 0, 0, &split_ts);
    ts_sec_check(0, secrets, nsec, exact, "one write per step");
    assert_int_not_equal(ts_sec.exact + ts_sec.wide, 0);
    for (size_t i = 0; i < ns; i++) {
        if (st[i].kind == 'G' || st[i].kind == 'H')
            continue;
        for (size_t k = 0; k <= st[i].len; k++) {
            converse(st, ns, l, i, k, 0, &split_ts);
            snprintf(what, sizeof(what), "step %zu split at %zu", i, k);
            ts_sec_check(0, secrets, nsec, exact, what);
        }
    }
    converse(st, ns, l, NO_SPLIT, 0, 1, &split_ts);
    ts_sec_check(0, secrets, nsec, exact, "1-byte writes");
}

#define CHECK_SECRETS(l, steps, exact, ...)                                                        \
    do {                                                                                           \
        static const char *const sec_[] = {__VA_ARGS__};                                           \
        check_secrets(steps, DLP_ARRAY_LEN(steps), l, sec_, DLP_ARRAY_LEN(sec_), exact);           \
    } while (0)

/* AUTH lines and the answers to its 334s are told as secrets where they are in the client's
 * bytes: exactly when read from the caller's bytes (also overlong, also collected across
 * writes), among the held bytes when replayed, and up to a gap or the end when cut. */
static void test_auth_secret_placed(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t plain[] = {
        SV("220 mx ESMTP\r\n"),
        CL("EHLO c\r\n"),
        SV("250-mx\r\n250 AUTH PLAIN LOGIN\r\n"),
        CL("AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==\r\n"),
        SV("535 5.7.8 bad credentials\r\n"),
        CL("AUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("YWxpY2VAZXhhbXBsZS5jb20=\r\n"),
        SV("334 UGFzc3dvcmQ6\r\n"),
        CL("MAIL FROM:<looks-like-a-command@example.com>\r\n"),
        SV("535 5.7.8 bad\r\n"),
        CL("NOOP between\r\nAUTH PLAIN\r\n"),
        SV("334 \r\n"),
        CL("NDAyNDg4MDAwMDAwMDAwMQ==\r\nMAIL FROM:<alice@example.com>\r\n"),
        SV("235 2.7.0 ok\r\n250 ok\r\n"),
        CL("QUIT\r\n"),
    };
    static const step_t overlong[] = {
        CL("AUTH PLAIN QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n"),
        SV("535 no\r\n"),
        CL("AUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC\r\n"),
        SV("334 UGFzc3dvcmQ6\r\n"),
        CL("c2VjcmV0\r\n"),
        SV("235 ok\r\n"),
        CL("NOOP 4556737586899855\r\n"),
    };
    static const step_t after_gap[] = {
        CL("NOOP 4556737586"),
        GAP0(3),
        CL("899855 tail\r\ngarbage 078-05-1120\r\nAUTH PLAIN\r\n"),
        SV("334 \r\n"),
        CL("AGFsaWNlAHNlY3JldA==\r\n"),
        SV("235 ok\r\n"),
        CL("MAIL FROM:<m@x.example>\r\n"),
    };
    /* past the answers' bound: the fifth answer is not kept out of evidence */
    static const step_t bounds[] = {
        CL("AUTH LOGIN\r\n"),
        SV("334 a\r\n"),
        CL("YQ==\r\n"),
        SV("334 b\r\n"),
        CL("Yg==\r\n"),
        SV("334 c\r\n"),
        CL("Yw==\r\n"),
        SV("334 d\r\n"),
        CL("ZA==\r\n"),
        SV("334 e\r\n"),
        CL("card 4556 7375 8689 9855\r\n"),
        SV("235 ok\r\n"),
    };
    /* replayed: the lines waited for the replies */
    static const step_t pipelined[] = {
        CL("EHLO c\r\n"),
        CL("AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\nMAIL FROM:<alice@example.com>\r\n"),
        SV("250 mx\r\n334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 ok\r\n250 ok\r\n"),
    };
    static const step_t ir_challenged[] = {
        CL("AUTH PLAIN AGFsaWNl\r\nMAIL FROM:<answer@x.example>\r\nDATA\r\n"
           "Subject: s\r\n\r\ncard 4556 7375 8689 9855\r\n.\r\n"),
        SV("334 \r\n535 no\r\n354 go\r\n250 ok\r\n"),
    };
    /* an answer cut by a gap, and one the client never ended */
    static const step_t cut[] = {
        CL("AUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("YWxpY2VAZXhhbXBsZS5jb20="),
        GAP0(5),
        CL("NOOP after\r\nAUTH LOGIN\r\n"),
        SV("334 VXNlcm5hbWU6\r\n"),
        CL("bm8gZW5kIGluIHNpZ2h0"),
    };
    (void)state;
    CHECK_SECRETS(&l, plain, 1, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==", "AUTH LOGIN",
                  "YWxpY2VAZXhhbXBsZS5jb20=", "MAIL FROM:<looks-like-a-command@example.com>",
                  "AUTH PLAIN\r", "NDAyNDg4MDAwMDAwMDAwMQ==");
    CHECK_SECRETS(&l, bounds, 1, "AUTH LOGIN", "YQ==", "Yg==", "Yw==", "ZA==");
    CHECK_SECRETS(&l, after_gap, 1, "AUTH PLAIN", "AGFsaWNlAHNlY3JldA==");
    CHECK_SECRETS(&l, pipelined, 0, "AUTH LOGIN", "YWxpY2U=", "c2VjcmV0");
    CHECK_SECRETS(&l, ir_challenged, 0, "AUTH PLAIN AGFsaWNl", "MAIL FROM:<answer@x.example>");
    CHECK_SECRETS(&l, cut, 0, "AUTH LOGIN", "YWxpY2VAZXhhbXBsZS5jb20=", "bm8gZW5kIGluIHNpZ2h0");
    l.line_max = 64;
    /* lines over line_max are no credentials: exactly the others are secrets */
    CHECK_SECRETS(&l, overlong, 1, "AUTH LOGIN", "c2VjcmV0");
}

/* Around a gap: the part of the line before it and the rest after it are what the server
 * received; so are the lines skipped until a known verb (not read as commands). */
static void test_gap_lines_scanned(void **state)
{
    dlp_app_limits_t l = limits();
    static const step_t steps[] = {
        CL("NOOP 4556737586"),
        GAP0(3),
        CL("899855 tail\r\ngarbage 078-05-1120\r\nAUTH PLAIN\r\n"),
        SV("334 \r\n"),
        CL("AGFsaWNlAHNlY3JldA==\r\n"),
        SV("235 ok\r\n"),
        CL("MAIL FROM:<m@x.example>\r\n"),
        CL("NOOP unterminated 078-05-1120"),
    };
    (void)state;
    CHECK_ALL(&l, steps, E_C("NOOP 4556737586"), E_N(DLP_NOTE_GAP, 3), E_C("899855 tail"),
              E_C("garbage 078-05-1120"), E_CRED("AUTH PLAIN\r"), E_CRED("AGFsaWNlAHNlY3JldA==\r"),
              E_FROM("m@x.example", "x.example"),
              E_C("MAIL FROM:<m@x.example>"), E_C("NOOP unterminated 078-05-1120"));
}

/* A line over line_max is streamed whole, so a value across any piece boundary is found; the
 * lines after it are read as usual. */
static void test_overlong_command_streamed(void **state)
{
    dlp_app_limits_t l = limits();
#define LONG_NOOP                                                                                  \
    "NOOP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4556737586899855"                  \
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" \
    "bbbbbbbb 078-05-1120"
    static const step_t steps[] = {
        CL(LONG_NOOP "\r\nMAIL FROM:<a@x.example>\r\n"),
        SV("500 too long\r\n250 ok\r\n"),
        CL("NOOP ok\r\n"),
        CL(LONG_NOOP),
        GAP0(9),
        CL(LONG_NOOP "\nNOOP after\n"),
    };
    (void)state;
    l.line_max = 64;
    CHECK_ALL(&l, steps, E_S(CMD, "", LONG_NOOP "\r"), E_FROM("a@x.example", "x.example"),
              E_C("MAIL FROM:<a@x.example>"), E_C("NOOP ok"), E_S(CMD, "", LONG_NOOP),
              E_N(DLP_NOTE_GAP, 9), E_S(CMD, "", LONG_NOOP), E_C("NOOP after"));
#undef LONG_NOOP
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mail_with_csv_attachment),
        cmocka_unit_test(test_mail_part_custom_header),
        cmocka_unit_test(test_dot_unstuffing),
        cmocka_unit_test(test_bdat_binary),
        cmocka_unit_test(test_pipelined_transaction),
        cmocka_unit_test(test_data_rejected),
        cmocka_unit_test(test_data_reply_late),
        cmocka_unit_test(test_starttls),
        cmocka_unit_test(test_auth_not_reported),
        cmocka_unit_test(test_auth_pipelined_initial_response),
        cmocka_unit_test(test_auth_pipelined_login),
        cmocka_unit_test(test_auth_continuation_is_one_line),
        cmocka_unit_test(test_auth_hold_cap),
        cmocka_unit_test(test_gap_in_data),
        cmocka_unit_test(test_gap_in_commands),
        cmocka_unit_test(test_greeting_early_command),
        cmocka_unit_test(test_resync_ignores_garbage),
        cmocka_unit_test(test_client_gap_while_waiting),
        cmocka_unit_test(test_client_gap_while_auth_waits),
        cmocka_unit_test(test_server_gap_while_waiting),
        cmocka_unit_test(test_gap_in_bdat),
        cmocka_unit_test(test_data_after_unfinished_bdat),
        cmocka_unit_test(test_message_ends_with_connection),
        cmocka_unit_test(test_message_held_at_client_end),
        cmocka_unit_test(test_starttls_without_tls),
        cmocka_unit_test(test_starttls_held_at_client_end),
        cmocka_unit_test(test_command_line_cap),
        cmocka_unit_test(test_address_bound),
        cmocka_unit_test(test_wait_hold_cap),
        cmocka_unit_test(test_pipeline_cap),
        cmocka_unit_test(test_pipeline_cap_refused_rcpt),
        cmocka_unit_test(test_commands_scanned),
        cmocka_unit_test(test_commands_replayed),
        cmocka_unit_test(test_auth_lines_not_commands),
        cmocka_unit_test(test_auth_secret_placed),
        cmocka_unit_test(test_gap_lines_scanned),
        cmocka_unit_test(test_auth_bounds),
        cmocka_unit_test(test_overlong_command_streamed),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    ts_reset(&base_ts);
    ts_reset(&split_ts);
    return rc;
}
