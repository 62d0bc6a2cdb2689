/*
 * test_ftp.c - the FTP control connection decoder: passive (PASV with and
 * without parentheses, EPSV) and active (PORT, EPRT v4 and v6) sessions,
 * uploads and their file names, pipelined STOR, AUTH TLS, the NAT rule for
 * announced addresses, the line bound, gaps, and every session written
 * split at every offset (same output as one write per turn). Client command
 * lines (ftp.command) are checked by the tests about them; the others look
 * at the rest of the output (fx_t.commands).
 */
#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "app_test_sink.h"
#include "dlp/ftp.h"
#include "dlp/limits.h"

typedef struct turn {
    int dir; /* 0 client -> server, 1 server -> client */
    const char *text;
} turn_t;

typedef struct fx {
    ts_sink_t s[2];
    uint8_t client[16], server[16];
    dlp_app_limits_t lim;
    int commands; /* keep the ftp.command items (else play() removes them) */
} fx_t;

#define FCMD DLP_FIELD_FTP_COMMAND

static void v4(uint8_t a[16], uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = b0;
    a[13] = b1;
    a[14] = b2;
    a[15] = b3;
}

static void v6_db8(uint8_t a[16], uint8_t last)
{
    memset(a, 0, 16);
    a[0] = 0x20;
    a[1] = 0x01;
    a[2] = 0x0d;
    a[3] = 0xb8;
    a[15] = last;
}

static fx_t *fx_new(void)
{
    fx_t *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    v4(x->client, 10, 0, 0, 5);
    v4(x->server, 198, 51, 100, 7);
    x->lim.line_max = DLP_APP_LINE_MAX;
    return x;
}

static void fx_free(fx_t *x)
{
    ts_reset(&x->s[0]);
    ts_reset(&x->s[1]);
    free(x);
}

static dlp_ftp_t *ftp_new(fx_t *x)
{
    void *ctx[2] = {&x->s[0], &x->s[1]};
    dlp_ftp_t *f = dlp_ftp_new(&ts_sink_ops, ctx, x->client, x->server, &x->lim);
    assert_non_null(f);
    return f;
}

/* Drops the command lines, and the notes of credential lines, which take their place. */
static void drop_commands(ts_sink_t *t)
{
    size_t k = 0;

    for (size_t i = 0; i < t->n; i++) {
        ts_item_t *it = &t->item[i];
        if (it->kind == 'N' ? it->field == DLP_NOTE_CREDENTIAL
                            : it->field == FCMD && (it->kind == 'B' || it->kind == 'S'))
            free(it->data);
        else
            t->item[k++] = *it;
    }
    t->n = k;
}

/*
 * Plays the turns; turn 'split_turn' is written in two pieces cut at
 * 'split_at' (or byte by byte when split_at is SIZE_MAX). Returns the rc of
 * the last write.
 */
static dlp_rc_t play(fx_t *x, const turn_t *t, size_t nt, size_t split_turn, size_t split_at)
{
    dlp_ftp_t *f = ftp_new(x);
    dlp_rc_t rc = DLP_OK;

    for (size_t i = 0; i < nt; i++) {
        const uint8_t *p = (const uint8_t *)t[i].text;
        size_t n = strlen(t[i].text);

        if (i == split_turn && split_at == SIZE_MAX) {
            for (size_t k = 0; k < n; k++)
                rc = dlp_ftp_write(f, t[i].dir, p + k, 1);
        } else if (i == split_turn) {
            rc = dlp_ftp_write(f, t[i].dir, p, split_at);
            if (rc == DLP_OK)
                rc = dlp_ftp_write(f, t[i].dir, p + split_at, n - split_at);
        } else {
            rc = dlp_ftp_write(f, t[i].dir, p, n);
        }
    }
    dlp_ftp_end(f, 0);
    dlp_ftp_end(f, 1);
    dlp_ftp_free(f);
    if (!x->commands)
        drop_commands(&x->s[0]);
    return rc;
}

/* Every split of every turn gives the output of one write per turn (lines of line_max). */
static void check_splits_at(const turn_t *t, size_t nt, uint32_t line_max)
{
    fx_t *ref = fx_new(), *x = fx_new();
    dlp_rc_t rc_ref;

    ref->commands = x->commands = 1;
    ref->lim.line_max = x->lim.line_max = line_max;
    rc_ref = play(ref, t, nt, SIZE_MAX, 0);

    for (size_t i = 0; i < nt; i++) {
        size_t n = strlen(t[i].text);
        for (size_t k = 0; k <= n + 1; k++) {
            dlp_rc_t rc = play(x, t, nt, i, k == n + 1 ? SIZE_MAX : k);
            if (rc != rc_ref || !ts_equal(&ref->s[0], &x->s[0]) ||
                !ts_equal(&ref->s[1], &x->s[1])) {
                fprintf(stderr, "turn %zu split at %zu differs; expected:\n", i, k);
                ts_dump(&ref->s[0]);
                fprintf(stderr, "got:\n");
                ts_dump(&x->s[0]);
                fail();
            }
            ts_reset(&x->s[0]);
            ts_reset(&x->s[1]);
        }
    }
    fx_free(ref);
    fx_free(x);
}

static void check_splits(const turn_t *t, size_t nt)
{
    check_splits_at(t, nt, DLP_APP_LINE_MAX);
}

static void assert_expect(const ts_sink_t *s, size_t i, const uint8_t client[16],
                          const uint8_t server[16], uint16_t port, int active, int upload)
{
    assert_true(i < s->n);
    assert_int_equal(s->item[i].kind, 'E');
    assert_memory_equal(s->item[i].expect.client, client, 16);
    assert_memory_equal(s->item[i].expect.server, server, 16);
    assert_int_equal(s->item[i].expect.port, port);
    assert_int_equal(s->item[i].expect.active, active);
    assert_int_equal(s->item[i].expect.upload, upload);
}

static void assert_meta(const ts_sink_t *s, size_t i, int key, const char *v)
{
    assert_true(i < s->n);
    assert_int_equal(s->item[i].kind, 'M');
    assert_int_equal(s->item[i].field, key);
    assert_string_equal(ts_str(s, i), v);
}

static void assert_no_text(const ts_sink_t *s, const char *needle)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->item[i].data != NULL)
            assert_null(strstr((const char *)s->item[i].data, needle));
}

/* clang-format off */
static const turn_t pasv_session[] = {
    {1, "220 FTP server ready\r\n"},
    {0, "USER alice\r\n"},
    {1, "331 Password required\r\n"},
    {0, "PASS s3cr3t-pw\r\n"},
    {1, "230 Logged in\r\n"},
    {0, "TYPE I\r\n"},
    {1, "200 Type set to I\r\n"},
    {0, "PASV\r\n"},
    {1, "227 Entering Passive Mode (198,51,100,7,19,137).\r\n"},
    {0, "STOR report 2024.csv\r\n"},
    {1, "150 Ok to send data.\r\n"},
    {1, "226 Transfer complete.\r\n"},
    {0, "QUIT\r\n"},
    {1, "221 Goodbye.\r\n"},
};
/* clang-format on */

static void test_pasv_upload(void **state)
{
    fx_t *x = fx_new();
    (void)state;

    assert_int_equal(play(x, pasv_session, DLP_ARRAY_LEN(pasv_session), SIZE_MAX, 0), DLP_OK);
    assert_int_equal(x->s[0].n, 3);
    assert_expect(&x->s[0], 0, x->client, x->server, 19 * 256 + 137, 0, 0);
    assert_meta(&x->s[0], 1, DLP_META_FTP_FILENAME, "report 2024.csv");
    assert_expect(&x->s[0], 2, x->client, x->server, 19 * 256 + 137, 0, 1);
    assert_int_equal(x->s[1].n, 0);
    fx_free(x);
    x = fx_new();
    x->commands = 1;
    assert_int_equal(play(x, pasv_session, DLP_ARRAY_LEN(pasv_session), SIZE_MAX, 0), DLP_OK);
    assert_no_text(&x->s[0], "s3cr3t");
    fx_free(x);
    check_splits(pasv_session, DLP_ARRAY_LEN(pasv_session));
}

static void test_pasv_without_parentheses(void **state)
{
    static const char *replies[] = {
        "227 Entering Passive Mode 198,51,100,7,19,137\r\n",
        "227 =198,51,100,7,19,137\n",
        "227 Passive: 198, 51, 100, 7, 19, 137 (ok)\r\n",
        "227 Entering Passive Mode (1234,5) 198,51,100,7,19,137\r\n",
    };
    (void)state;

    for (size_t i = 0; i < DLP_ARRAY_LEN(replies); i++) {
        fx_t *x = fx_new();
        turn_t t[] = {{0, "PASV\r\n"}, {1, replies[i]}, {0, "RETR data.bin\r\n"}};
        assert_int_equal(play(x, t, 3, SIZE_MAX, 0), DLP_OK);
        assert_int_equal(x->s[0].n, 1);
        assert_expect(&x->s[0], 0, x->client, x->server, 5001, 0, 0);
        fx_free(x);
    }
}

static void test_pasv_malformed(void **state)
{
    static const char *replies[] = {
        "227 Entering Passive Mode (198,51,100,7,19)\r\n",     /* five numbers */
        "227 Entering Passive Mode (198,51,100,256,19,1)\r\n", /* 256 */
        "227 Entering Passive Mode (198,51,100,7,0,0)\r\n",    /* port 0 */
        "227-Entering Passive Mode (198,51,100,7,19,137)\r\n", /* not a final reply line */
        "2270 Entering Passive Mode (198,51,100,7,19,137)\r\n",
        "229 Entering Extended Passive Mode (|||0|)\r\n",
        "229 Entering Extended Passive Mode (|||70000|)\r\n",
        "229 Entering Extended Passive Mode (||6446|)\r\n",
    };
    (void)state;

    for (size_t i = 0; i < DLP_ARRAY_LEN(replies); i++) {
        fx_t *x = fx_new();
        turn_t t[] = {{0, "PASV\r\n"}, {1, replies[i]}};
        assert_int_equal(play(x, t, 2, SIZE_MAX, 0), DLP_OK);
        assert_int_equal(x->s[0].n, 0);
        fx_free(x);
    }
}

/* clang-format off */
static const turn_t epsv_session[] = {
    {0, "EPSV\r\n"},
    {1, "229 Entering Extended Passive Mode (|||6446|)\r\n"},
    {0, "APPE log.txt\r\n"},
    {1, "150 Ok\r\n226 Done\r\n"},
    {0, "EPSV\r\n"},
    {1, "229 Entering Extended Passive Mode (!!!6447!)\r\n"},
    {0, "RETR other.txt\r\n"},
};
/* clang-format on */

static void test_epsv(void **state)
{
    fx_t *x = fx_new();
    (void)state;

    assert_int_equal(play(x, epsv_session, DLP_ARRAY_LEN(epsv_session), SIZE_MAX, 0), DLP_OK);
    assert_int_equal(x->s[0].n, 4);
    assert_expect(&x->s[0], 0, x->client, x->server, 6446, 0, 0);
    assert_meta(&x->s[0], 1, DLP_META_FTP_FILENAME, "log.txt");
    assert_expect(&x->s[0], 2, x->client, x->server, 6446, 0, 1);
    assert_expect(&x->s[0], 3, x->client, x->server, 6447, 0, 0);
    fx_free(x);
    check_splits(epsv_session, DLP_ARRAY_LEN(epsv_session));
}

/* clang-format off */
static const turn_t port_session[] = {
    {0, "PORT 10,0,0,5,200,10\r\n"},
    {1, "200 PORT command successful\r\n"},
    {0, "stor secret.xlsx\r\n"},
    {1, "150 Opening BINARY mode data connection\r\n"},
    {1, "226 Transfer complete\r\n"},
    {0, "STOR again.txt\r\n"},
    {0, "EPRT |1|10.0.0.5|6275|\r\n"},
    {0, "RETR in.txt\r\n"},
    {0, "EPRT |1|10.0.0.5|6276|\r\n"},
    {0, "STOU\r\n"},
};
/* clang-format on */

static void test_port_eprt_v4(void **state)
{
    fx_t *x = fx_new();
    (void)state;

    assert_int_equal(play(x, port_session, DLP_ARRAY_LEN(port_session), SIZE_MAX, 0), DLP_OK);
    assert_int_equal(x->s[0].n, 7);
    assert_expect(&x->s[0], 0, x->client, x->server, 200 * 256 + 10, 1, 0);
    assert_meta(&x->s[0], 1, DLP_META_FTP_FILENAME, "secret.xlsx");
    assert_expect(&x->s[0], 2, x->client, x->server, 200 * 256 + 10, 1, 1);
    /* after 226 the data connection is gone: the next STOR has nothing to re-announce */
    assert_meta(&x->s[0], 3, DLP_META_FTP_FILENAME, "again.txt");
    assert_expect(&x->s[0], 4, x->client, x->server, 6275, 1, 0);
    assert_expect(&x->s[0], 5, x->client, x->server, 6276, 1, 0);
    /* STOU without a name: no meta, but an upload */
    assert_expect(&x->s[0], 6, x->client, x->server, 6276, 1, 1);
    fx_free(x);
    check_splits(port_session, DLP_ARRAY_LEN(port_session));
}

static void test_eprt_v6(void **state)
{
    fx_t *x = fx_new();
    uint8_t want[16];
    turn_t t[] = {
        {0, "EPRT |2|2001:db8::5|5282|\r\n"},
        {0, "STOR v6.bin\r\n"},
        {0, "EPRT |2|2001:db8::zz|5283|\r\n"},
        {0, "EPRT |3|2001:db8::5|5284|\r\n"},
        {0, "EPRT |2|2001:db8::5|0|\r\n"},
        {0, "EPSV\r\n"},
        {1, "229 Entering Extended Passive Mode (|||50000|)\r\n"},
    };
    (void)state;

    v6_db8(x->client, 5);
    v6_db8(x->server, 9);
    v6_db8(want, 5);
    assert_int_equal(play(x, t, DLP_ARRAY_LEN(t), SIZE_MAX, 0), DLP_OK);
    assert_int_equal(x->s[0].n, 4);
    assert_expect(&x->s[0], 0, want, x->server, 5282, 1, 0);
    assert_meta(&x->s[0], 1, DLP_META_FTP_FILENAME, "v6.bin");
    assert_expect(&x->s[0], 2, want, x->server, 5282, 1, 1);
    assert_expect(&x->s[0], 3, x->client, x->server, 50000, 0, 0);
    fx_free(x);
}

/* A STOR sent before the 227 arrived: the reply's expectation is an upload already. */
static void test_pipelined_stor(void **state)
{
    fx_t *x = fx_new();
    turn_t t[] = {
        {0, "PASV\r\nSTOR early.dat\r\n"},
        {1, "227 Entering Passive Mode (198,51,100,7,4,1)\r\n"},
    };
    (void)state;

    assert_int_equal(play(x, t, 2, SIZE_MAX, 0), DLP_OK);
    assert_int_equal(x->s[0].n, 2);
    assert_meta(&x->s[0], 0, DLP_META_FTP_FILENAME, "early.dat");
    assert_expect(&x->s[0], 1, x->client, x->server, 1025, 0, 1);
    fx_free(x);
}

/* An expectation's transfer mode: deflate while MODE Z is in force. */
static void assert_deflate(const ts_sink_t *s, size_t i, int deflate)
{
    assert_true(i < s->n);
    assert_int_equal(s->item[i].kind, 'E');
    assert_int_equal(s->item[i].expect.deflate, deflate);
}

/* clang-format off */
static const turn_t mode_z_session[] = {
    {1, "220 ProFTPD Server ready\r\n"},
    {0, "MODE Z\r\n"},
    {1, "200 OK\r\n"},
    {0, "PASV\r\n"},
    {1, "227 Entering Passive Mode (198,51,100,7,4,1)\r\n"},
    {0, "STOR a.csv\r\n"},
    {1, "150 Opening data connection\r\n"},
    {1, "226 Transfer complete\r\n"},
    {0, "mode s\r\n"},
    {1, "200 OK\r\n"},
    {0, "EPSV\r\n"},
    {1, "229 Entering Extended Passive Mode (|||1026|)\r\n"},
};
/* clang-format on */

/* MODE Z accepted (ProFTPD mod_deflate): the data connections carry zlib, until MODE S. */
static void test_mode_z(void **state)
{
    fx_t *x = fx_new();
    (void)state;

    assert_int_equal(play(x, mode_z_session, DLP_ARRAY_LEN(mode_z_session), SIZE_MAX, 0),
                     DLP_OK);
    assert_int_equal(x->s[0].n, 4);
    assert_expect(&x->s[0], 0, x->client, x->server, 1025, 0, 0);
    assert_deflate(&x->s[0], 0, 1);
    assert_expect(&x->s[0], 2, x->client, x->server, 1025, 0, 1);
    assert_deflate(&x->s[0], 2, 1);
    assert_expect(&x->s[0], 3, x->client, x->server, 1026, 0, 0);
    assert_deflate(&x->s[0], 3, 0);
    check_splits(mode_z_session, DLP_ARRAY_LEN(mode_z_session));
    fx_free(x);
}

/* MODE Z refused, or undone by REIN; accepted after PASV: the announcement is emitted again. */
static void test_mode_z_refused_rein_late(void **state)
{
    fx_t *x = fx_new();
    turn_t t[] = {
        {0, "MODE Z\r\n"},
        {1, "504 Command not implemented for that parameter\r\n"},
        {0, "PASV\r\n"},
        {1, "227 Entering Passive Mode (198,51,100,7,4,1)\r\n"},
        {0, "MODE Z\r\n"},
        {1, "200 OK\r\n"},
        {0, "REIN\r\n"},
        {1, "220 ready\r\n"},
        {0, "PASV\r\n"},
        {1, "227 Entering Passive Mode (198,51,100,7,4,2)\r\n"},
    };
    (void)state;

    assert_int_equal(play(x, t, DLP_ARRAY_LEN(t), SIZE_MAX, 0), DLP_OK);
    assert_int_equal(x->s[0].n, 3);
    assert_expect(&x->s[0], 0, x->client, x->server, 1025, 0, 0);
    assert_deflate(&x->s[0], 0, 0);
    assert_expect(&x->s[0], 1, x->client, x->server, 1025, 0, 0);
    assert_deflate(&x->s[0], 1, 1);
    assert_expect(&x->s[0], 2, x->client, x->server, 1026, 0, 0);
    assert_deflate(&x->s[0], 2, 0);
    fx_free(x);
}

/* clang-format off */
static const turn_t tls_session[] = {
    {1, "220 ready\r\n"},
    {0, "AUTH TLS\r\n"},
    {1, "234 AUTH TLS successful\r\n\x16\x03\x01"},
    {0, "\x16\x03\x01\x02\x01\x01STOR hidden.txt\r\n"},
};
/* clang-format on */

/* clang-format off */
static const turn_t tls_said_not_done[] = {
    {1, "220 ready\r\n"},
    {0, "AUTH TLS\r\n"},
    {1, "234 AUTH TLS successful\r\n"},
    {0, "MKD 4556737586899855\r\n"},
    {1, "257 created\r\n"},
    {0, "AUTH TLS\r\n"},
    {1, "234 AUTH TLS successful\r\n"},
    {0, "\x16\x03\x01\x02\x01\x01MKD hidden\r\n"},
};
/* clang-format on */

/*
 * 234 is only the server's word: a server in league with the client could say it and
 * read plain text on. So the client's next byte decides, as after SMTP's STARTTLS: a
 * TLS handshake record (0x16) ends inspection, anything else is read as commands.
 */
static void test_auth_tls_said_but_plain(void **state)
{
    static const exp_t want0[] = {
        {'B', DLP_FIELD_FTP_COMMAND, "", "AUTH TLS", 8, 0}, /* a mechanism: no secret */
        {'B', DLP_FIELD_FTP_COMMAND, "", "MKD 4556737586899855", 20, 0},
        {'B', DLP_FIELD_FTP_COMMAND, "", "AUTH TLS", 8, 0},
        {'N', DLP_NOTE_ENCRYPTED, "", NULL, 0, 0},
    };
    fx_t *x = fx_new();
    (void)state;

    x->commands = 1;
    assert_int_equal(play(x, tls_said_not_done, DLP_ARRAY_LEN(tls_said_not_done), SIZE_MAX, 0),
                     DLP_DONE);
    ts_check_items(&x->s[0], want0, DLP_ARRAY_LEN(want0));
    assert_int_equal(x->s[1].n, 1);
    assert_int_equal(x->s[1].item[0].field, DLP_NOTE_ENCRYPTED);
    fx_free(x);
    check_splits(tls_said_not_done, DLP_ARRAY_LEN(tls_said_not_done));
}

static void test_auth_tls(void **state)
{
    fx_t *x = fx_new();
    dlp_ftp_t *f;
    (void)state;

    assert_int_equal(play(x, tls_session, DLP_ARRAY_LEN(tls_session), SIZE_MAX, 0), DLP_DONE);
    assert_int_equal(x->s[0].n, 1);
    assert_int_equal(x->s[0].item[0].kind, 'N');
    assert_int_equal(x->s[0].item[0].field, DLP_NOTE_ENCRYPTED);
    assert_int_equal(x->s[1].n, 1);
    assert_int_equal(x->s[1].item[0].field, DLP_NOTE_ENCRYPTED);
    fx_free(x);
    check_splits(tls_session, DLP_ARRAY_LEN(tls_session));

    /* the client write that starts TLS returns DLP_DONE, later ones too; a client gap
     * after 234 loses the byte that tells: the next line is read as after any gap */
    x = fx_new();
    f = ftp_new(x);
    assert_int_equal(dlp_ftp_write(f, 1, DLP_STR_BYTES("234 Proceed\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("\x16\x03\x01")), DLP_DONE);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("STOR x\r\n")), DLP_DONE);
    dlp_ftp_gap(f, 0, 10);
    assert_int_equal(x->s[0].n, 1);
    dlp_ftp_free(f);
    fx_free(x);

    x = fx_new();
    f = ftp_new(x);
    assert_int_equal(dlp_ftp_write(f, 1, DLP_STR_BYTES("234 Proceed\r\n")), DLP_OK);
    dlp_ftp_gap(f, 0, 10);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("\x16 tail\r\nSTOR y\r\n")), DLP_OK);
    /* the gap, the rest of the line it cut, then STOR y read: its file name */
    assert_int_equal(x->s[0].n, 4);
    assert_int_equal(x->s[0].item[0].field, DLP_NOTE_GAP);
    assert_int_equal(ts_find(&x->s[0], 'M', DLP_META_FTP_FILENAME, 0), 3);
    dlp_ftp_free(f);
    fx_free(x);
}

/* NAT: the announced address is replaced only when it cannot be the right one. */
static void test_nat_rule(void **state)
{
    static const struct {
        uint8_t ctl[4], ann[4], want[4];
        const char *reply;
    } c[] = {
        /* private announced, public control server: the control server */
        {{203, 0, 113, 10},
         {192, 168, 1, 10},
         {203, 0, 113, 10},
         "227 Entering Passive Mode (192,168,1,10,10,0)\r\n"},
        {{203, 0, 113, 10},
         {10, 1, 2, 3},
         {203, 0, 113, 10},
         "227 Entering Passive Mode (10,1,2,3,10,0)\r\n"},
        {{203, 0, 113, 10},
         {172, 20, 0, 1},
         {203, 0, 113, 10},
         "227 Entering Passive Mode (172,20,0,1,10,0)\r\n"},
        /* 0.0.0.0: the control server, whatever it is */
        {{192, 168, 1, 1},
         {0, 0, 0, 0},
         {192, 168, 1, 1},
         "227 Entering Passive Mode (0,0,0,0,10,0)\r\n"},
        /* both private (LAN): as announced */
        {{192, 168, 1, 1},
         {192, 168, 1, 10},
         {192, 168, 1, 10},
         "227 Entering Passive Mode (192,168,1,10,10,0)\r\n"},
        /* another public address (server farm): as announced */
        {{203, 0, 113, 10},
         {198, 51, 100, 99},
         {198, 51, 100, 99},
         "227 Entering Passive Mode (198,51,100,99,10,0)\r\n"},
        /* 172.32 is not private */
        {{203, 0, 113, 10},
         {172, 32, 0, 1},
         {172, 32, 0, 1},
         "227 Entering Passive Mode (172,32,0,1,10,0)\r\n"},
    };
    (void)state;

    for (size_t i = 0; i < DLP_ARRAY_LEN(c); i++) {
        fx_t *x = fx_new();
        uint8_t want[16];
        turn_t t[] = {{0, "PASV\r\n"}, {1, c[i].reply}};

        v4(x->server, c[i].ctl[0], c[i].ctl[1], c[i].ctl[2], c[i].ctl[3]);
        v4(want, c[i].want[0], c[i].want[1], c[i].want[2], c[i].want[3]);
        assert_int_equal(play(x, t, 2, SIZE_MAX, 0), DLP_OK);
        assert_int_equal(x->s[0].n, 1);
        assert_expect(&x->s[0], 0, x->client, want, 2560, 0, 0);
        fx_free(x);
    }
}

/* Active mode behind NAT: the PORT address is private, the control client public. */
static void test_nat_rule_port(void **state)
{
    fx_t *x = fx_new();
    uint8_t pub[16];
    turn_t t[] = {{0, "PORT 192,168,0,20,7,208\r\n"}, {0, "PORT 0,0,0,0,7,209\r\n"}};
    (void)state;

    v4(pub, 198, 18, 0, 1);
    memcpy(x->client, pub, 16);
    assert_int_equal(play(x, t, 2, SIZE_MAX, 0), DLP_OK);
    assert_int_equal(x->s[0].n, 2);
    assert_expect(&x->s[0], 0, pub, x->server, 2000, 1, 0);
    assert_expect(&x->s[0], 1, pub, x->server, 2001, 1, 0);
    fx_free(x);
}

/* clang-format off */
static const turn_t long_session[] = {
    /* 40 bytes before the LF: at the bound */
    {0, "STOR 0123456789012345678901234567890123\r\n"},
    /* 41 bytes: over it */
    {0, "STOR 01234567890123456789012345678901234\r\n"},
    {0, "STOR ok.txt\r\n"},
    /* over the bound without CR, then one more line in the same write */
    {0, "STOR 0123456789012345678901234567890123456789\nSTOR last.txt\n"},
};
/* clang-format on */

static void test_line_bound(void **state)
{
    fx_t *x = fx_new();
    (void)state;

    x->lim.line_max = 40;
    x->commands = 1;
    assert_int_equal(play(x, long_session, DLP_ARRAY_LEN(long_session), SIZE_MAX, 0), DLP_OK);
    /* an overlong command is scanned whole in blocks overlapping by line_max / 2 (CR kept),
     * not interpreted, not noted */
    {
        static const exp_t e[] = {
            {'B', FCMD, "", "STOR 0123456789012345678901234567890123", 39, 0},
            {'M', DLP_META_FTP_FILENAME, "", "0123456789012345678901234567890123", 34, 0},
            {'B', FCMD, "", "STOR 01234567890123456789012345678901234", 40, 0},
            {'B', FCMD, "", "56789012345678901234\r", 21, 0},
            {'B', FCMD, "", "STOR ok.txt", 11, 0},
            {'M', DLP_META_FTP_FILENAME, "", "ok.txt", 6, 0},
            {'B', FCMD, "", "STOR 01234567890123456789012345678901234", 40, 0},
            {'B', FCMD, "", "5678901234567890123456789", 25, 0},
            {'B', FCMD, "", "STOR last.txt", 13, 0},
            {'M', DLP_META_FTP_FILENAME, "", "last.txt", 8, 0},
        };
        ts_check_items(&x->s[0], e, DLP_ARRAY_LEN(e));
    }
    fx_free(x);

    /* the same bound whatever the split (the buffer path and the direct path) */
    check_splits_at(long_session, DLP_ARRAY_LEN(long_session), 40);
}

/* After a gap, the rest of the line is dropped; the next line is parsed. */
static void test_gap_resync(void **state)
{
    fx_t *x = fx_new();
    dlp_ftp_t *f = ftp_new(x);
    (void)state;

    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("STOR first.txt\r\nSTO")), DLP_OK);
    dlp_ftp_gap(f, 0, 100);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("R lost.txt\r")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("\nSTOR second.txt\r\n")), DLP_OK);
    /* a gap in the server direction does not disturb the client's */
    dlp_ftp_gap(f, 1, 7);
    assert_int_equal(dlp_ftp_write(f, 1, DLP_STR_BYTES("227 (198,51,100,7,1,1)\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 1, DLP_STR_BYTES("227 (198,51,100,7,1,2)\r\n")), DLP_OK);
    dlp_ftp_free(f);
    drop_commands(&x->s[0]);

    assert_int_equal(x->s[0].n, 4);
    assert_meta(&x->s[0], 0, DLP_META_FTP_FILENAME, "first.txt");
    assert_int_equal(x->s[0].item[1].kind, 'N');
    assert_int_equal(x->s[0].item[1].field, DLP_NOTE_GAP);
    assert_int_equal(x->s[0].item[1].bytes, 100);
    assert_meta(&x->s[0], 2, DLP_META_FTP_FILENAME, "second.txt");
    /* the pending store makes the announced connection an upload */
    assert_expect(&x->s[0], 3, x->client, x->server, 258, 0, 1);
    assert_int_equal(x->s[1].n, 1);
    assert_int_equal(x->s[1].item[0].field, DLP_NOTE_GAP);
    assert_int_equal(x->s[1].item[0].bytes, 7);
    fx_free(x);

    /* what the server received around the gap is scanned: the line's part before it, the
     * rest after it (not read: its verb is lost) */
    x = fx_new();
    x->commands = 1;
    f = ftp_new(x);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("MKD a\r\nSTO")), DLP_OK);
    dlp_ftp_gap(f, 0, 100);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("R lost.txt\r\nNOOP\r\nNOOP 1")), DLP_OK);
    dlp_ftp_free(f); /* not dlp_ftp_end(): freeing reports nothing (the flow is over) */
    {
        static const exp_t e[] = {
            {'B', FCMD, "", "MKD a", 5, 0},      {'B', FCMD, "", "STO", 3, 0},
            {'N', DLP_NOTE_GAP, "", "", 0, 100}, {'B', FCMD, "", "R lost.txt", 10, 0},
            {'B', FCMD, "", "NOOP", 4, 0},
        };
        ts_check_items(&x->s[0], e, DLP_ARRAY_LEN(e));
    }
    fx_free(x);
}

/* A gap inside an overlong line reports the bytes of it seen so far. */
static void test_gap_in_overlong_line(void **state)
{
    fx_t *x = fx_new();
    dlp_ftp_t *f;
    (void)state;

    x->lim.line_max = 8;
    x->commands = 1;
    f = ftp_new(x);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("STOR abcdefgh")), DLP_OK);
    dlp_ftp_gap(f, 0, 5);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("xyz\r\nSTOR a\r\n")), DLP_OK);
    /* a reply line over the bound is still dropped and noted: replies are not scanned */
    assert_int_equal(dlp_ftp_write(f, 1, DLP_STR_BYTES("200 abcdefghij")), DLP_OK);
    dlp_ftp_gap(f, 1, 5);
    dlp_ftp_free(f);
    {
        static const exp_t e[] = {
            {'B', FCMD, "", "STOR abc", 8, 0},    {'B', FCMD, "", " abcdefg", 8, 0},
            {'B', FCMD, "", "defgh", 5, 0},       {'N', DLP_NOTE_GAP, "", "", 0, 5},
            {'B', FCMD, "", "xyz", 3, 0},         {'B', FCMD, "", "STOR a", 6, 0},
            {'M', DLP_META_FTP_FILENAME, "", "a", 1, 0},
        };
        ts_check_items(&x->s[0], e, DLP_ARRAY_LEN(e));
    }
    assert_int_equal(x->s[1].n, 2);
    assert_int_equal(x->s[1].item[0].field, DLP_NOTE_HEADER_CAP);
    assert_int_equal(x->s[1].item[0].bytes, 14);
    assert_int_equal(x->s[1].item[1].field, DLP_NOTE_GAP);
    fx_free(x);
}

static void test_bad_arguments(void **state)
{
    fx_t *x = fx_new();
    dlp_ftp_t *f = ftp_new(x);
    void *ctx[2] = {&x->s[0], &x->s[1]};
    (void)state;

    assert_int_equal(dlp_ftp_write(f, 2, DLP_STR_BYTES("x")), DLP_EINVAL);
    assert_int_equal(dlp_ftp_write(f, 0, NULL, 0), DLP_OK);
    assert_int_equal(dlp_ftp_write(NULL, 0, DLP_STR_BYTES("x")), DLP_EINVAL);
    dlp_ftp_gap(f, 5, 1);
    dlp_ftp_gap(NULL, 0, 1);
    dlp_ftp_free(f);
    dlp_ftp_free(NULL);
    assert_null(dlp_ftp_new(NULL, ctx, x->client, x->server, &x->lim));
    /* no limits: defaults */
    f = dlp_ftp_new(&ts_sink_ops, ctx, x->client, x->server, NULL);
    assert_non_null(f);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("PORT 1,2,3,4,5,6,7\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("PORT 1,2,3,4,5\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("PORTX 1,2,3,4,5,6\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("EPRT 1|1.2.3.4|5|\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("EPRT |1|1.2.3.4|5\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("EPRT |1||5|\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 1, DLP_STR_BYTES("22\r\n2\n\r\n\n")), DLP_OK);
    dlp_ftp_free(f);
    drop_commands(&x->s[0]);
    assert_int_equal(x->s[0].n, 0);
    fx_free(x);
}

/* --- command lines ------------------------------------------------------- */

/* clang-format off */
static const turn_t cmd_session[] = {
    {1, "220 FTP server ready\r\n"},
    {0, "USER alice\r\n"},
    {1, "331 Password required\r\n"},
    {0, "PASS 4556737586899855\r\n"},
    {1, "230 Logged in\r\n"},
    {0, "acct 078-05-1120\r\n"},
    {1, "202 Not needed\r\n"},
    {0, "MKD 4556737586899855\r\n"},
    {1, "257 created\r\n"},
    /* pipelined, and an unknown verb */
    {0, "CWD 078-05-1120\r\nSITE CHMOD 600 bob@example.com\r\nRNFR a\r\nRNTO b\r\nXFOO data\r\n"},
    {1, "250 ok\r\n250 ok\r\n350 ok\r\n250 ok\r\n500 unknown\r\n"},
    {0, "PASV\r\n"},
    {1, "227 Entering Passive Mode (198,51,100,7,4,1).\r\n"},
    {0, "STOR report.csv\r\n"},
    {0, "\r\nQUIT\r\n"},
    /* the security exchange (RFC 2228): ADAT after AUTH is a credential; the mechanism
     * and the protected commands are not */
    {0, "AUTH GSSAPI\r\n"},
    {1, "334 ADAT=YWJj\r\n"},
    {0, "ADAT 4556737586899855\r\nMIC 078-05-1120\r\nCONF c2VjcmV0\r\nENC c2VjcmV0\r\n"},
    {0, "NOOP 4556737586899855"},
};
/* clang-format on */

/* Every client line is scanned but credentials (PASS after USER, ACCT, ADAT after AUTH):
 * they are no leak to alert on, and must never reach an alert or evidence; they are noted
 * as not inspected. */
static void test_commands_scanned(void **state)
{
    fx_t *x = fx_new();
    static const exp_t e[] = {
        {'B', FCMD, "", "USER alice", 10, 0},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 22}, /* "PASS 4556737586899855\r" */
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 17}, /* "acct 078-05-1120\r" */
        {'B', FCMD, "", "MKD 4556737586899855", 20, 0},
        {'B', FCMD, "", "CWD 078-05-1120", 15, 0},
        {'B', FCMD, "", "SITE CHMOD 600 bob@example.com", 30, 0},
        {'B', FCMD, "", "RNFR a", 6, 0},
        {'B', FCMD, "", "RNTO b", 6, 0},
        {'B', FCMD, "", "XFOO data", 9, 0},
        {'B', FCMD, "", "PASV", 4, 0},
        {'E', 0, "", "", 0, 0},
        {'B', FCMD, "", "STOR report.csv", 15, 0},
        {'M', DLP_META_FTP_FILENAME, "", "report.csv", 10, 0},
        {'E', 0, "", "", 0, 0},
        {'B', FCMD, "", "QUIT", 4, 0},
        {'B', FCMD, "", "AUTH GSSAPI", 11, 0},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 22}, /* "ADAT 4556737586899855\r" */
        {'B', FCMD, "", "MIC 078-05-1120", 15, 0},
        {'B', FCMD, "", "CONF c2VjcmV0", 13, 0},
        {'B', FCMD, "", "ENC c2VjcmV0", 12, 0},
        /* a line without LF when the connection ends (dlp_ftp_end): the server got it */
        {'B', FCMD, "", "NOOP 4556737586899855", 21, 0},
    };
    (void)state;
    x->commands = 1;
    assert_int_equal(play(x, cmd_session, DLP_ARRAY_LEN(cmd_session), SIZE_MAX, 0), DLP_OK);
    ts_check_items(&x->s[0], e, DLP_ARRAY_LEN(e));
    fx_free(x);
    check_splits(cmd_session, DLP_ARRAY_LEN(cmd_session));
}

/* clang-format off */
static const turn_t overlong_session[] = {
    /* line_max 40: the card crosses the bound */
    {0, "MKD aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4556737586899855bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n"},
    {0, "PASS 4556737586899855ccccccccccccccccccccccccccccccccccccccccccccccccccc\r\n"},
    {0, "pass 4556737586899855ccccccccccccccccccccccccccccccccccccccccccccccccccc\n"},
    {0, "ADAT ccccccccccccccccccccccccccccccccccccccccccccccccccc4556737586899855\r\n"},
    {0, "CWD ok\r\n"},
};
/* clang-format on */

/* A line over line_max is scanned whole, whatever its verb: no credential is that long. */
static void test_overlong_command_streamed(void **state)
{
    fx_t *x = fx_new();
    static const exp_t e[] = {
        /* the card crosses the first boundary, and is whole in the second block */
        {'B', FCMD, "", "MKD aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa45567", 40, 0},
        {'B', FCMD, "", "aaaaaaaaaaaaaaa4556737586899855bbbbbbbbb", 40, 0},
        {'B', FCMD, "", "37586899855bbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 40, 0},
        {'B', FCMD, "", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r", 40, 0},
        {'B', FCMD, "", "PASS 4556737586899855ccccccccccccccccccc", 40, 0},
        {'B', FCMD, "", "5ccccccccccccccccccccccccccccccccccccccc", 40, 0},
        {'B', FCMD, "", "cccccccccccccccccccccccccccccccc\r", 33, 0},
        {'B', FCMD, "", "pass 4556737586899855ccccccccccccccccccc", 40, 0},
        {'B', FCMD, "", "5ccccccccccccccccccccccccccccccccccccccc", 40, 0},
        {'B', FCMD, "", "cccccccccccccccccccccccccccccccc", 32, 0},
        {'B', FCMD, "", "ADAT ccccccccccccccccccccccccccccccccccc", 40, 0},
        {'B', FCMD, "", "cccccccccccccccccccccccccccccccccccc4556", 40, 0},
        {'B', FCMD, "", "cccccccccccccccc4556737586899855\r", 33, 0},
        {'B', FCMD, "", "CWD ok", 6, 0},
    };
    (void)state;
    x->commands = 1;
    x->lim.line_max = 40;
    assert_int_equal(play(x, overlong_session, DLP_ARRAY_LEN(overlong_session), SIZE_MAX, 0),
                     DLP_OK);
    ts_check_items(&x->s[0], e, DLP_ARRAY_LEN(e));
    fx_free(x);
    check_splits_at(overlong_session, DLP_ARRAY_LEN(overlong_session), 40);
}

/* --- credentials (secret(), for evidence captures) ---------------------------- */

static void sec_write(dlp_ftp_t *f, int dir, const uint8_t *p, size_t n)
{
    dlp_rc_t rc;

    ts_sec_write(dir, p, n);
    rc = dlp_ftp_write(f, dir, p, n);
    ts_sec_done();
    assert_true(rc == DLP_OK || rc == DLP_DONE);
}

/* As play(), telling the recorder (ts_sec) of each write; a turn of direction 2 is a client
 * gap of its text's length. */
static void sec_play(fx_t *x, const turn_t *t, size_t nt, size_t split_turn, size_t split_at)
{
    dlp_ftp_t *f = ftp_new(x);

    ts_sec_reset();
    x->s[1].dir = 1;
    for (size_t i = 0; i < nt; i++) {
        const uint8_t *p = (const uint8_t *)t[i].text;
        size_t n = strlen(t[i].text);

        if (t[i].dir == 2) {
            ts_sec_gap(0, n);
            dlp_ftp_gap(f, 0, n);
        } else if (i == split_turn && split_at == SIZE_MAX) {
            for (size_t k = 0; k < n; k++)
                sec_write(f, t[i].dir, p + k, 1);
        } else if (i == split_turn) {
            sec_write(f, t[i].dir, p, split_at);
            sec_write(f, t[i].dir, p + split_at, n - split_at);
        } else {
            sec_write(f, t[i].dir, p, n);
        }
    }
    dlp_ftp_end(f, 0);
    dlp_ftp_end(f, 1);
    dlp_ftp_free(f);
    ts_reset(&x->s[0]);
    ts_reset(&x->s[1]);
}

/* Every split of every turn: each of sec[0, ns) covered; 'exact': no other client line. */
static void check_secrets(const turn_t *t, size_t nt, uint32_t line_max, const char *const *sec,
                          size_t ns, int exact)
{
    fx_t *x = fx_new();
    char what[64];

    x->lim.line_max = line_max;
    sec_play(x, t, nt, SIZE_MAX - 1, 0);
    ts_sec_check(0, sec, ns, exact, "one write per turn");
    for (size_t i = 0; i < nt; i++) {
        size_t n = strlen(t[i].text);
        for (size_t k = 0; t[i].dir != 2 && k <= n + 1; k++) {
            sec_play(x, t, nt, i, k == n + 1 ? SIZE_MAX : k);
            snprintf(what, sizeof(what), "turn %zu split at %zu", i, k);
            ts_sec_check(0, sec, ns, exact, what);
        }
    }
    fx_free(x);
}

/* clang-format off */
static const turn_t cut_session[] = {
    {0, "USER alice\r\nPASS hunter2-"},
    {2, "lost"},
    {0, "rest\r\nNOOP\r\nUSER bob\r\nPASS never-ended"},
};
/* clang-format on */

/* clang-format off */
static const turn_t bounds_session[] = {
    {1, "220 FTP server ready\r\n"},
    {0, "PASS 4556737586899855\r\n"},             /* no USER before it */
    {1, "503 Login with USER first\r\n"},
    {0, "ADAT 078-05-1120\r\n"},                  /* no AUTH before it */
    {0, "USER a\r\nPASS p1\r\nPASS 078-05-1120\r\n"}, /* a PASS after a PASS */
    {0, "USER a\r\nPASS p2\r\nUSER a\r\nPASS p3\r\nACCT a4\r\n"},
    {0, "AUTH GSSAPI\r\nADAT YTU=\r\nADAT YTY=\r\n"},
    {0, "USER a\r\nPASS bob@example.com\r\n"}, /* the seventh: past the bound */
    {0, "QUIT\r\n"},
};
/* clang-format on */

static const char *const bounds_secrets[] = {"PASS p1", "PASS p2", "PASS p3",
                                             "ACCT a4", "ADAT YTU=", "ADAT YTY="};

/*
 * An unscanned line is a channel a colluding server could take any data through: PASS is a
 * credential only right after USER, ACCT after USER or PASS, ADAT after AUTH or ADAT, at most
 * DLP_FTP_CRED_LINES_MAX of them per connection and of at most DLP_APP_CRED_MAX bytes; any
 * other line is scanned as a command.
 */
static void test_credential_bounds(void **state)
{
    static const exp_t e[] = {
        {'B', FCMD, "", "PASS 4556737586899855", 21, 0},
        {'B', FCMD, "", "ADAT 078-05-1120", 16, 0},
        {'B', FCMD, "", "USER a", 6, 0},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 8},
        {'B', FCMD, "", "PASS 078-05-1120", 16, 0},
        {'B', FCMD, "", "USER a", 6, 0},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 8},
        {'B', FCMD, "", "USER a", 6, 0},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 8},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 8},
        {'B', FCMD, "", "AUTH GSSAPI", 11, 0},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 10},
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 10},
        {'B', FCMD, "", "USER a", 6, 0},
        {'B', FCMD, "", "PASS bob@example.com", 20, 0},
        {'B', FCMD, "", "QUIT", 4, 0},
    };
    static char long_pass[DLP_APP_CRED_MAX + 8];
    fx_t *x = fx_new();
    dlp_ftp_t *f;
    (void)state;

    x->commands = 1;
    assert_int_equal(play(x, bounds_session, DLP_ARRAY_LEN(bounds_session), SIZE_MAX, 0),
                     DLP_OK);
    ts_check_items(&x->s[0], e, DLP_ARRAY_LEN(e));
    fx_free(x);
    check_splits(bounds_session, DLP_ARRAY_LEN(bounds_session));

    /* a PASS one byte over DLP_APP_CRED_MAX (within line_max): held whole, then scanned */
    x = fx_new();
    f = ftp_new(x);
    memset(long_pass, 'p', DLP_APP_CRED_MAX + 1);
    memcpy(long_pass, "PASS ", 5);
    memcpy(long_pass + 200, "4556737586899855", 16);
    memcpy(long_pass + DLP_APP_CRED_MAX + 1, "\r\n", 3);
    assert_int_equal(dlp_ftp_write(f, 0, DLP_STR_BYTES("USER a\r\n")), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 0, (const uint8_t *)long_pass, DLP_APP_CRED_MAX + 3),
                     DLP_OK);
    dlp_ftp_free(f);
    assert_int_equal(x->s[0].n, 2);
    assert_int_equal(x->s[0].item[1].kind, 'B');
    assert_int_equal(x->s[0].item[1].len, DLP_APP_CRED_MAX + 1);
    fx_free(x);
}

/* The credential lines are told as secrets where they are in the client's bytes: exactly
 * (the whole line, verb included, also collected across writes), and among the last bytes
 * taken when a gap or the end cuts one; the lines past the bounds are not. */
static void test_secrets_placed(void **state)
{
    static const char *const cmd_secrets[] = {
        "PASS 4556737586899855",
        "acct 078-05-1120",
        "ADAT 4556737586899855",
    };
    /* no line over line_max is a credential */
    static const char *const overlong_secrets[] = {NULL};
    static const char *const cut_secrets[] = {"PASS hunter2-", "PASS never-ended"};
    (void)state;
    check_secrets(pasv_session, DLP_ARRAY_LEN(pasv_session), DLP_APP_LINE_MAX,
                  (const char *const[]){"PASS s3cr3t-pw"}, 1, 1);
    check_secrets(cmd_session, DLP_ARRAY_LEN(cmd_session), DLP_APP_LINE_MAX, cmd_secrets,
                  DLP_ARRAY_LEN(cmd_secrets), 1);
    check_secrets(overlong_session, DLP_ARRAY_LEN(overlong_session), 40, overlong_secrets, 0, 1);
    check_secrets(bounds_session, DLP_ARRAY_LEN(bounds_session), DLP_APP_LINE_MAX, bounds_secrets,
                  DLP_ARRAY_LEN(bounds_secrets), 1);
    check_secrets(cut_session, DLP_ARRAY_LEN(cut_session), DLP_APP_LINE_MAX, cut_secrets,
                  DLP_ARRAY_LEN(cut_secrets), 0);
}

/* --- Telnet IAC on the control connection --------------------------------- */

/* A command line block, its length from the literal (they hold NUL-free 0xFF bytes). */
#define BLK(text) {'B', FCMD, "", text, sizeof(text) - 1, 0}

/* clang-format off */
static const turn_t iac_session[] = {
    {1, "220 FTP server ready\r\n"},
    {0, "USER alice\r\n"},
    /* IAC NOP inside a card: BSD ftpd drops it, ProFTPD keeps both bytes */
    {0, "SITE 4556" "\xff\xf1" "737586899855\r\n"},
    /* IAC IP: both drop it; a stored file's name is taken as they read it */
    {0, "STOR card 4556" "\xff\xf4" "737586899855.txt\r\n"},
    /* IAC IAC: one 0xFF */
    {0, "MKD a" "\xff\xff" "b\r\n"},
    /* IAC WILL ECHO, IAC DO SGA: three bytes each */
    {0, "CWD 078-" "\xff\xfb\x01" "05-" "\xff\xfd\x03" "1120\r\n"},
    /* ProFTPD and BSD ftpd each read a card the other does not see whole */
    {0, "SITE 1234" "\xff\xf1" "4556" "\xff\xf4" "737586899855\r\n"},
    /* an IAC inside the verb: PASS to a Telnet server, no verb to vsftpd: no credential */
    {0, "USER bob\r\n"},
    {0, "PA" "\xff\xf4" "SS 4556737586899855\r\n"},
    {0, "ACCT 078-05-1120\r\n"}, /* the readings did not agree on PASS: not after one */
    {0, "USER carol\r\n"},
    {0, "PA" "\xff\xf1" "SS 4556737586899855\r\n"},
    /* a credential in every reading stays one, IAC in its argument or not */
    {0, "USER dave\r\n"},
    {0, "PASS pw" "\xff\xf1" "x\r\n"},
    /* a lone IAC, a WILL without its option at the line's end (the CR was it) */
    {0, "SITE x" "\xff" "\r\nSITE y" "\xff\xfb" "\r\n"},
    {0, "NOOP plain\r\n"},
};
/* clang-format on */

/*
 * A client line holding IAC is scanned as each server reads it: as sent (vsftpd, Pure-FTPd),
 * as ProFTPD reads it where that differs, and as BSD ftpd reads it (which also gives the
 * command); it is a credential only if it is one in every reading. A line without 0xFF is
 * one block, as before. Split at every offset, also between IAC and its command.
 */
static void test_telnet_iac(void **state)
{
    fx_t *x = fx_new();
    static const exp_t e[] = {
        BLK("USER alice"),
        BLK("SITE 4556\xff\xf1" "737586899855"),
        BLK("SITE 4556737586899855"),
        BLK("STOR card 4556\xff\xf4" "737586899855.txt"),
        BLK("STOR card 4556737586899855.txt"),
        {'M', DLP_META_FTP_FILENAME, "", "card 4556737586899855.txt", 25, 0},
        BLK("MKD a\xff\xff" "b"),
        BLK("MKD a\xff" "b"),
        BLK("CWD 078-\xff\xfb\x01" "05-\xff\xfd\x03" "1120"),
        BLK("CWD 078-05-1120"),
        BLK("SITE 1234\xff\xf1" "4556\xff\xf4" "737586899855"),
        BLK("SITE 1234\xff\xf1" "4556737586899855"),
        BLK("SITE 12344556737586899855"),
        BLK("USER bob"),
        BLK("PA\xff\xf4" "SS 4556737586899855"),
        BLK("PASS 4556737586899855"),
        BLK("ACCT 078-05-1120"),
        BLK("USER carol"),
        BLK("PA\xff\xf1" "SS 4556737586899855"),
        BLK("PASS 4556737586899855"),
        BLK("USER dave"),
        {'N', DLP_NOTE_CREDENTIAL, "", NULL, 0, 11}, /* "PASS pw<IAC NOP>x\r" */
        BLK("SITE x\xff"),
        BLK("SITE x"),
        BLK("SITE y\xff\xfb"),
        BLK("SITE y"),
        BLK("NOOP plain"),
    };
    (void)state;
    x->commands = 1;
    assert_int_equal(play(x, iac_session, DLP_ARRAY_LEN(iac_session), SIZE_MAX, 0), DLP_OK);
    ts_check_items(&x->s[0], e, DLP_ARRAY_LEN(e));
    fx_free(x);
    check_splits(iac_session, DLP_ARRAY_LEN(iac_session));
    check_secrets(iac_session, DLP_ARRAY_LEN(iac_session), DLP_APP_LINE_MAX,
                  (const char *const[]){"PASS pw\xff\xf1x"}, 1, 1);
}

/* clang-format off */
static const turn_t iac_overlong_session[] = {
    /* line_max 40: over the bound as sent, the card whole in a block as BSD ftpd reads it */
    {0, "MKD aaaaaaaaaaaaaaaaaaaa4556" "\xff\xf1" "7375" "\xff\xf1" "86899855bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n"},
    {0, "CWD ok\r\n"},
};
/* clang-format on */

/* A line over line_max is scanned in blocks; each block holding IAC is read as well. */
static void test_telnet_iac_overlong(void **state)
{
    fx_t *x = fx_new();
    int found = 0;
    (void)state;

    x->commands = 1;
    x->lim.line_max = 40;
    assert_int_equal(
        play(x, iac_overlong_session, DLP_ARRAY_LEN(iac_overlong_session), SIZE_MAX, 0),
        DLP_OK);
    for (size_t i = 0; i < x->s[0].n; i++)
        found += x->s[0].item[i].kind == 'B' &&
                 memmem(x->s[0].item[i].data, x->s[0].item[i].len, "4556737586899855", 16);
    assert_true(found > 0);
    fx_free(x);
    check_splits_at(iac_overlong_session, DLP_ARRAY_LEN(iac_overlong_session), 40);
}

/* Whether a block of ftp.command holds 'needle'. */
static bool block_has(const ts_sink_t *t, const char *needle)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->item[i].kind == 'B' && t->item[i].field == FCMD &&
            memmem(t->item[i].data, t->item[i].len, needle, strlen(needle)) != NULL)
            return true;
    return false;
}

/* clang-format off */
static const turn_t iac_overlong_parity_session[] = {
    /* line_max 40, blocks of 40 overlapping by 20: the second block starts at byte 20, inside
     * a run of 16 IACs (bytes 11..26: eight IAC IAC pairs), seven IACs before the card. Read
     * from that block's start, the last IAC takes the card's '4' as its command. */
    {0, "MKD aaaaaaa" "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
        "4556" "\xff\xf1" "7375" "\xff\xf1" "86899855bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n"},
    {0, "CWD ok\r\n"},
};
/* clang-format on */

/*
 * Each block of an overlong line is read from where a Telnet sequence begins, not from its
 * first byte: BSD ftpd reads the card above whole (eight 0xFF, then the card), so a block
 * that holds it whole must read it so.
 */
static void test_telnet_iac_overlong_parity(void **state)
{
    fx_t *x = fx_new();
    (void)state;

    x->commands = 1;
    x->lim.line_max = 40;
    assert_int_equal(play(x, iac_overlong_parity_session,
                          DLP_ARRAY_LEN(iac_overlong_parity_session), SIZE_MAX, 0),
                     DLP_OK);
    assert_true(block_has(&x->s[0], "4556737586899855"));
    fx_free(x);
    check_splits_at(iac_overlong_parity_session, DLP_ARRAY_LEN(iac_overlong_parity_session), 40);
}

/* clang-format off */
static const turn_t bare_lf_session[] = {
    /* ProFTPD ends a line only at CRLF: "USER a\nPASS <card>" is one USER line to it */
    {0, "USER a\nPASS 4556737586899855\r\n"},
    /* BSD ftpd takes the LF after an IAC as its command: "USER b" and the PASS line are one */
    {0, "USER b\r\n"},
    {0, "USER b" "\xff" "\nPASS 5105105105105100\r\n"},
    /* the line after a bare LF has no verb of its own to ProFTPD: no AUTH for the ADAT */
    {0, "USER c\nAUTH GSSAPI\r\nADAT 4111111111111111\r\n"},
    /* a login in CRLF lines stays a credential */
    {0, "USER d\r\nPASS secret\r\n"},
};
/* clang-format on */

/*
 * A line ended by a bare LF (no CR) is not ended for every server: ProFTPD reads on to the
 * next CRLF, BSD ftpd takes an LF after IAC (or IAC WILL) as part of the Telnet command. The
 * next line is then part of it to that server: no credential, and no verb that places one.
 */
static void test_bare_lf_not_a_line_end(void **state)
{
    fx_t *x = fx_new();
    (void)state;

    x->commands = 1;
    assert_int_equal(play(x, bare_lf_session, DLP_ARRAY_LEN(bare_lf_session), SIZE_MAX, 0),
                     DLP_OK);
    assert_true(block_has(&x->s[0], "PASS 4556737586899855"));
    assert_true(block_has(&x->s[0], "PASS 5105105105105100"));
    assert_true(block_has(&x->s[0], "ADAT 4111111111111111"));
    assert_false(block_has(&x->s[0], "secret"));
    fx_free(x);
    check_splits(bare_lf_session, DLP_ARRAY_LEN(bare_lf_session));
    check_secrets(bare_lf_session, DLP_ARRAY_LEN(bare_lf_session), DLP_APP_LINE_MAX,
                  (const char *const[]){"PASS secret"}, 1, 1);
}

/* What the decoder holds is told (the flow table charges it): its line buffers. */
static void test_mem(void **state)
{
    fx_t *x = fx_new();
    dlp_ftp_t *f = ftp_new(x);
    size_t m0 = dlp_ftp_mem(f);
    (void)state;

    assert_true(m0 > 0);
    assert_int_equal(dlp_ftp_write(f, 0, (const uint8_t *)"MKD partial", 11), DLP_OK);
    assert_int_equal(dlp_ftp_write(f, 1, (const uint8_t *)"220 partial", 11), DLP_OK);
    assert_true(dlp_ftp_mem(f) >= m0 + 2 * (size_t)x->lim.line_max);
    assert_int_equal(dlp_ftp_mem(NULL), 0);
    dlp_ftp_free(f);
    fx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pasv_upload),
        cmocka_unit_test(test_pasv_without_parentheses),
        cmocka_unit_test(test_pasv_malformed),
        cmocka_unit_test(test_epsv),
        cmocka_unit_test(test_port_eprt_v4),
        cmocka_unit_test(test_eprt_v6),
        cmocka_unit_test(test_pipelined_stor),
        cmocka_unit_test(test_auth_tls),
        cmocka_unit_test(test_auth_tls_said_but_plain),
        cmocka_unit_test(test_nat_rule),
        cmocka_unit_test(test_nat_rule_port),
        cmocka_unit_test(test_line_bound),
        cmocka_unit_test(test_gap_resync),
        cmocka_unit_test(test_gap_in_overlong_line),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_commands_scanned),
        cmocka_unit_test(test_overlong_command_streamed),
        cmocka_unit_test(test_credential_bounds),
        cmocka_unit_test(test_secrets_placed),
        cmocka_unit_test(test_telnet_iac),
        cmocka_unit_test(test_telnet_iac_overlong),
        cmocka_unit_test(test_telnet_iac_overlong_parity),
        cmocka_unit_test(test_bare_lf_not_a_line_end),
        cmocka_unit_test(test_mode_z),
        cmocka_unit_test(test_mode_z_refused_rein_late),
        cmocka_unit_test(test_mem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
