/*
 * ftp.c - the FTP control connection (ftp.h): which data connections are
 * coming, whether they carry an upload, the uploaded file names, and the
 * client's command lines as content.
 *
 * Each direction is cut into lines (LF, an optional CR before it is
 * stripped). A complete line is parsed straight from the caller's bytes; a
 * line that spans writes is collected in a per-direction buffer of
 * l->line_max bytes, allocated on first need.
 *
 * Every client line is content: a block of DLP_FIELD_FTP_COMMAND (MKD,
 * CWD, SITE, USER, RNFR/RNTO, AUTH's mechanism name, the RFC 2228
 * protected commands MIC/CONF/ENC, unknown verbs: any argument can carry
 * data the server receives and may log), except credential lines, of
 * which nothing is reported: credentials are no leak to alert on, and a
 * value found in one would reach the alert and the evidence capture. But
 * an unscanned line is a channel a colluding server could take any amount
 * of data through, so a line is a credential only where a login puts one:
 * PASS right after USER, ACCT right after USER or PASS, ADAT (the RFC 2228
 * security data) right after AUTH or ADAT; of at most DLP_APP_CRED_MAX
 * bytes (and line_max); and at most DLP_FTP_CRED_LINES_MAX of them per
 * connection. Any other line is scanned, whatever its verb.
 *
 * The control connection speaks Telnet (RFC 959), and servers differ in
 * how they read it: vsftpd and Pure-FTPd take a line's bytes as sent; BSD
 * ftpd (and wu-ftpd) read Telnet: IAC IAC is one 0xFF, IAC WILL/WONT/DO/
 * DONT and its option byte are dropped, and so is any other IAC and the
 * byte after it; ProFTPD (pr_netio_telnet_gets2) does the same but drops
 * only IP and DM of the other commands, and keeps any other IAC pair. So a
 * client line holding IAC (0xFF) is read each way a server reads it
 * (telnet_read, reading()): each reading is scanned, a line is a
 * credential only if it is one in every reading (an IAC in "PASS" cannot
 * hide a line from the scan), the previous verb only counts where the
 * readings agree, and commands (PORT, STOR...) are taken from BSD's
 * reading. The readings are made in a buffer of line_max bytes, allocated
 * on first need; a line holding no 0xFF is read as before. Servers also
 * differ on where a line ends: ProFTPD only at CRLF (a bare LF is data),
 * BSD ftpd at any LF except one that an IAC or IAC WILL/WONT/DO/DONT takes
 * as its command or option byte. So after a line ended by a bare LF the
 * next one may continue it: it is no credential and places none (as if its
 * verb were unknown). Credential
 * lines (also cut by a gap or the end) are told to sink->secret, whole,
 * verb included, so evidence captures overwrite them, and noted
 * (DLP_NOTE_CREDENTIAL, their bytes: not inspected). A client line longer
 * than line_max (no credential) is reported in blocks of line_max bytes
 * that overlap by FTP_CMD_OVERLAP (a CR before the LF kept; each read as
 * Telnet from where a Telnet command begins, telnet_resume), so nothing of
 * it escapes the scan in bounded memory; it is not interpreted (as an
 * unknown command) and not noted, as nothing of it is left uninspected. A
 * reply line longer than line_max is discarded and noted
 * (DLP_NOTE_HEADER_CAP, with its length once the LF is seen). After a gap,
 * the server direction drops everything up to the next LF and
 * resynchronises on the line after it; the client direction scans what the
 * server received (the part of the line before the gap, its rest after
 * the gap, whose verb is lost, so it is not read and is scanned even if it
 * was a password's end) and reads the next line, which is no credential
 * (the USER before it may be lost). A client line without LF
 * at dlp_ftp_end() is reported too.
 *
 * Expectations (sink->expect on ctx[0]):
 *  - PORT/EPRT (client): active, announced at once;
 *  - PASV/EPSV (client) then 227/229 (server): passive, announced at the
 *    reply (EPSV has no address: the control connection's server is used);
 *  - a store command (STOR/APPE/STOU) after the announcement emits the same
 *    expectation again with upload=1 (the worker keeps the latest); one
 *    that came before the reply (pipelined) makes the reply's expectation
 *    upload=1 directly. Each new PORT/EPRT/PASV/EPSV starts a new
 *    transfer; 226 (transfer complete) and REIN end the current one;
 *    150/125 (transfer starting) add nothing: the connection was
 *    announced already.
 *  - MODE Z (deflate transfer mode: ProFTPD mod_deflate, FileZilla Server)
 *    accepted: every later data connection carries a zlib stream (deflate
 *    set on the expectation) until MODE S (or any other mode) is accepted
 *    or REIN. The mode asked for is taken at the next final reply, if that
 *    is 2xx (pipelined commands may shift which reply that is; a wrong
 *    guess only makes the data stream fail to inflate, and such a stream
 *    is scanned as it is). A mode accepted after the announcement emits the
 *    expectation again with the new mode, as a store command does.
 * Announced addresses are taken as written, except that an unspecified
 * one (0.0.0.0, ::) and a private one while the control connection's
 * matching address is public (NAT: the sensor sees the public side) are
 * replaced by that control connection address.
 * Replies are acted on in their final form only ("ddd text"): the lines
 * of a multi-line reply are ignored. After 234 (AUTH accepted) the
 * client's next byte decides, as after SMTP's STARTTLS: a TLS handshake
 * record (0x16) notes DLP_NOTE_ENCRYPTED (0 bytes: the rest is unknown) on
 * both directions and that write and every later one return DLP_DONE;
 * anything else is read as commands again (234 is only the server's word: a
 * server in league with the client could say it and read plain text on; a
 * client gap first loses that byte, and lines are read as after any gap).
 * Gaps are noted (DLP_NOTE_GAP) on their direction.
 *
 * Thread: the flow's worker.
 */
#include "dlp/ftp.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/limits.h"
#include "stage_int.h"

#define FTP_ADDR_TEXT_MAX 64 /* longest address text tried in an EPRT */
/* bytes each block of an overlong command repeats of the one before (at most line_max / 2):
 * longer than any value a rule matches in a command line (an e-mail address is <= 254) */
#define FTP_CMD_OVERLAP 512

/* Telnet (RFC 854) bytes a server may interpret on the control connection */
#define TEL_IAC 0xff
#define TEL_WILL 0xfb /* WILL, WONT, DO, DONT: 0xfb..0xfe, each followed by an option byte */
#define TEL_IP 0xf4
#define TEL_DM 0xf2

enum { MODE_LINE, MODE_OVERLONG, MODE_RESYNC };
enum { XFER_NONE, XFER_STORE, XFER_OTHER };
/* The client's previous command line, which tells where a credential may follow */
enum { PREV_OTHER, PREV_USER, PREV_PASS, PREV_AUTH, PREV_ADAT };

typedef struct ftp_dir {
    uint8_t *buf; /* partial line, line_max bytes */
    uint32_t len;
    uint8_t mode;
    uint8_t tail;     /* client: the line in progress began in a gap: scanned, not read */
    uint8_t last;     /* client: the last byte of the line in progress ('\r' before a CRLF) */
    uint8_t cont;     /* client: the line before ended in a bare LF: this one may continue it */
    uint8_t scan;     /* client, MODE_OVERLONG: the line is scanned (not credentials) */
    uint8_t tskip;    /* ... bytes at buf's start that end a Telnet command begun before it */
    uint32_t fresh;   /* ... bytes at the end of buf not reported yet */
    uint64_t skipped; /* bytes of the overlong line so far */
} ftp_dir_t;

struct dlp_ftp {
    const dlp_content_sink_t *sink;
    void *ctx[2];
    uint8_t client[16], server[16];
    uint32_t line_max;
    ftp_dir_t d[2];
    dlp_app_expect_t exp; /* the latest announced data connection */
    uint8_t exp_valid;
    uint8_t xfer;     /* the transfer command of the current data connection */
    uint8_t mode_z;   /* MODE Z accepted: data connections carry zlib streams */
    uint8_t mode_req; /* a MODE command's letter, until its reply ('Z', other: S/B/C) */
    uint8_t tls;      /* 234 seen: the client's next byte tells TLS from plain text */
    uint8_t done;
    uint8_t prev;   /* PREV_*: the client's previous command line */
    uint32_t creds; /* credential lines so far (DLP_FTP_CRED_LINES_MAX) */
    uint8_t *tel;   /* a client line as a Telnet server reads it: line_max bytes, on need */
};

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

dlp_ftp_t *dlp_ftp_new(const dlp_content_sink_t *sink, void *const ctx[2], const uint8_t client[16],
                       const uint8_t server[16], const dlp_app_limits_t *l)
{
    dlp_ftp_t *f;

    if (sink == NULL || client == NULL || server == NULL)
        return NULL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->sink = sink;
    f->ctx[0] = ctx != NULL ? ctx[0] : NULL;
    f->ctx[1] = ctx != NULL ? ctx[1] : NULL;
    memcpy(f->client, client, 16);
    memcpy(f->server, server, 16);
    f->line_max = l != NULL && l->line_max > 0 ? l->line_max : DLP_APP_LINE_MAX;
    return f;
}

void dlp_ftp_free(dlp_ftp_t *f)
{
    if (f == NULL)
        return;
    free(f->d[0].buf);
    free(f->d[1].buf);
    free(f->tel);
    free(f);
}

static void note(dlp_ftp_t *f, int dir, dlp_app_note_t n, uint64_t bytes)
{
    if (f->sink->note != NULL)
        f->sink->note(f->ctx[dir], n, bytes);
}

/* --- addresses ---------------------------------------------------------- */

static bool addr_unspecified(const uint8_t a[16])
{
    static const uint8_t zero[16];

    if (memcmp(a, v4_mapped, 12) == 0)
        return memcmp(a + 12, zero, 4) == 0;
    return memcmp(a, zero, 16) == 0;
}

static bool addr_private(const uint8_t a[16])
{
    if (memcmp(a, v4_mapped, 12) == 0) {
        const uint8_t *b = a + 12;
        return b[0] == 10 || b[0] == 127 || (b[0] == 172 && (b[1] & 0xf0) == 16) ||
               (b[0] == 192 && b[1] == 168) || (b[0] == 169 && b[1] == 254) ||
               (b[0] == 100 && (b[1] & 0xc0) == 64);
    }
    if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
        return true;
    for (int i = 0; i < 15; i++)
        if (a[i] != 0)
            return false;
    return a[15] == 1;
}

/* The address to report for 'announced', given the control connection's 'control'. */
static const uint8_t *addr_pick(const uint8_t announced[16], const uint8_t control[16])
{
    if (addr_unspecified(announced))
        return control;
    if (addr_private(announced) && !addr_private(control) && !addr_unspecified(control))
        return control;
    return announced;
}

static void addr_v4(uint8_t out[16], const unsigned h[4])
{
    memcpy(out, v4_mapped, 12);
    for (int i = 0; i < 4; i++)
        out[12 + i] = (uint8_t)h[i];
}

/* --- expectations ------------------------------------------------------- */

static void emit(dlp_ftp_t *f)
{
    if (f->sink->expect != NULL)
        f->sink->expect(f->ctx[0], &f->exp);
}

static void announce(dlp_ftp_t *f, const uint8_t addr[16], uint16_t port, bool active)
{
    memset(&f->exp, 0, sizeof(f->exp));
    if (active) {
        memcpy(f->exp.client, addr_pick(addr, f->client), 16);
        memcpy(f->exp.server, f->server, 16);
    } else {
        memcpy(f->exp.client, f->client, 16);
        memcpy(f->exp.server, addr_pick(addr, f->server), 16);
    }
    f->exp.port = port;
    f->exp.active = active ? 1 : 0;
    f->exp.upload = f->xfer == XFER_STORE ? 1 : 0;
    f->exp.deflate = f->mode_z;
    f->exp_valid = 1;
    emit(f);
}

/* The transfer mode a 2xx accepted: the current data connection takes it too. */
static void set_mode(dlp_ftp_t *f, bool z)
{
    f->mode_z = z ? 1 : 0;
    if (f->exp_valid && f->exp.deflate != f->mode_z) {
        f->exp.deflate = f->mode_z;
        emit(f);
    }
}

/* --- number parsing ------------------------------------------------------ */

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* A decimal number of 1..max_digits digits at s[*i], at most 'max'. */
static bool parse_num(const uint8_t *s, size_t n, size_t *i, unsigned max_digits, unsigned max,
                      unsigned *out)
{
    unsigned v = 0, k = 0;

    while (*i < n && is_digit(s[*i]) && k < max_digits) {
        v = v * 10 + (unsigned)(s[*i] - '0');
        (*i)++;
        k++;
    }
    if (k == 0 || (*i < n && is_digit(s[*i])) || v > max)
        return false;
    *out = v;
    return true;
}

/* "h1,h2,h3,h4,p1,p2" at s[0] (spaces allowed after commas); *used: its length. */
static bool parse_tuple6(const uint8_t *s, size_t n, uint8_t addr[16], uint16_t *port, size_t *used)
{
    unsigned v[6];
    size_t i = 0;

    for (int k = 0; k < 6; k++) {
        if (k > 0) {
            if (i >= n || s[i] != ',')
                return false;
            i++;
            while (i < n && s[i] == ' ')
                i++;
        }
        if (!parse_num(s, n, &i, 3, 255, &v[k]))
            return false;
    }
    addr_v4(addr, v);
    *port = (uint16_t)(v[4] << 8 | v[5]);
    *used = i;
    return *port != 0;
}

/* The first "h1,h2,h3,h4,p1,p2" anywhere in s (227 replies vary in wording). */
static bool find_tuple6(const uint8_t *s, size_t n, uint8_t addr[16], uint16_t *port)
{
    size_t used;

    for (size_t i = 0; i < n; i++)
        if (is_digit(s[i]) && (i == 0 || !is_digit(s[i - 1])) &&
            parse_tuple6(s + i, n - i, addr, port, &used))
            return true;
    return false;
}

/* PORT's argument: the tuple and nothing else but trailing spaces. */
static bool parse_port(const uint8_t *s, size_t n, uint8_t addr[16], uint16_t *port)
{
    size_t used;

    if (!parse_tuple6(s, n, addr, port, &used))
        return false;
    while (used < n && s[used] == ' ')
        used++;
    return used == n;
}

/* "<d><d><d>port<d>" anywhere in s (229 "(|||6446|)"). */
static bool find_epsv_port(const uint8_t *s, size_t n, uint16_t *port)
{
    for (size_t i = 0; i + 4 < n; i++) {
        uint8_t d = s[i];
        size_t j = i + 3;
        unsigned v;

        if (d < 33 || d > 126 || is_digit(d) || s[i + 1] != d || s[i + 2] != d)
            continue;
        if (parse_num(s, n, &j, 5, 65535, &v) && j < n && s[j] == d && v != 0) {
            *port = (uint16_t)v;
            return true;
        }
    }
    return false;
}

/* EPRT "<d>1<d>a.b.c.d<d>port<d>" or "<d>2<d>v6addr<d>port<d>". */
static bool parse_eprt(const uint8_t *s, size_t n, uint8_t addr[16], uint16_t *port)
{
    char text[FTP_ADDR_TEXT_MAX];
    size_t i = 3, a0;
    unsigned v;
    uint8_t d;

    if (n < 7)
        return false;
    d = s[0];
    if (d < 33 || d > 126 || is_digit(d) || (s[1] != '1' && s[1] != '2') || s[2] != d)
        return false;
    for (a0 = i; i < n && s[i] != d; i++)
        ;
    if (i >= n || i - a0 == 0 || i - a0 >= sizeof(text))
        return false;
    memcpy(text, s + a0, i - a0);
    text[i - a0] = '\0';
    i++;
    if (!parse_num(s, n, &i, 5, 65535, &v) || i >= n || s[i] != d || v == 0)
        return false;
    if (s[1] == '1') {
        memcpy(addr, v4_mapped, 12);
        if (inet_pton(AF_INET, text, addr + 12) != 1)
            return false;
    } else if (inet_pton(AF_INET6, text, addr) != 1) {
        return false;
    }
    *port = (uint16_t)v;
    return true;
}

/* --- commands and replies ----------------------------------------------- */

static bool verb_is(const uint8_t *s, size_t vlen, const char *verb)
{
    size_t k = strlen(verb);

    if (vlen != k)
        return false;
    for (size_t i = 0; i < k; i++)
        if ((s[i] & ~0x20) != (uint8_t)verb[i])
            return false;
    return true;
}

/* The verb's length: the line up to its first blank. */
static size_t verb_len(const uint8_t *s, size_t n)
{
    size_t vlen = 0;

    while (vlen < n && s[vlen] != ' ')
        vlen++;
    return vlen;
}

static void store(dlp_ftp_t *f, const uint8_t *arg, size_t alen)
{
    if (alen > 0 && f->sink->meta != NULL)
        f->sink->meta(f->ctx[0], DLP_META_FTP_FILENAME, arg, alen);
    f->xfer = XFER_STORE;
    if (f->exp_valid && !f->exp.upload) {
        f->exp.upload = 1;
        emit(f);
    }
}

static void command(dlp_ftp_t *f, const uint8_t *s, size_t n)
{
    size_t vlen = verb_len(s, n), a = 0;
    uint8_t addr[16];
    uint16_t port;

    a = vlen < n ? vlen + 1 : n;
    if (verb_is(s, vlen, "PORT") || verb_is(s, vlen, "EPRT")) {
        bool port_cmd = verb_is(s, vlen, "PORT");

        f->exp_valid = 0;
        f->xfer = XFER_NONE;
        while (a < n && s[a] == ' ')
            a++;
        if (port_cmd ? parse_port(s + a, n - a, addr, &port)
                     : parse_eprt(s + a, n - a, addr, &port))
            announce(f, addr, port, true);
    } else if (verb_is(s, vlen, "PASV") || verb_is(s, vlen, "EPSV")) {
        f->exp_valid = 0;
        f->xfer = XFER_NONE;
    } else if (verb_is(s, vlen, "STOR") || verb_is(s, vlen, "APPE") || verb_is(s, vlen, "STOU")) {
        store(f, s + a, n - a);
    } else if (verb_is(s, vlen, "RETR") || verb_is(s, vlen, "LIST") || verb_is(s, vlen, "NLST") ||
               verb_is(s, vlen, "MLSD")) {
        f->xfer = XFER_OTHER;
    } else if (verb_is(s, vlen, "MODE")) {
        while (a < n && s[a] == ' ')
            a++;
        f->mode_req = a < n && (s[a] & ~0x20) == 'Z' ? 'Z' : 'S';
    } else if (verb_is(s, vlen, "REIN")) {
        f->exp_valid = 0;
        f->xfer = XFER_NONE;
        f->mode_z = 0; /* RFC 959: every transfer parameter back to its default */
        f->mode_req = 0;
    }
}

/* A reply line: 234 makes the client's next byte tell whether TLS starts. */
static void reply(dlp_ftp_t *f, const uint8_t *s, size_t n)
{
    uint8_t addr[16];
    uint16_t port;
    unsigned code;

    if (n < 3 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]) || (n > 3 && s[3] != ' '))
        return;
    code = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
    if (f->mode_req != 0) {
        if (code / 100 == 2)
            set_mode(f, f->mode_req == 'Z');
        f->mode_req = 0;
    }
    switch (code) {
    case 227:
        if (find_tuple6(s + 3, n - 3, addr, &port))
            announce(f, addr, port, false);
        break;
    case 229:
        if (find_epsv_port(s + 3, n - 3, &port))
            announce(f, f->server, port, false);
        break;
    case 226:
        f->exp_valid = 0;
        f->xfer = XFER_NONE;
        break;
    case 234:
        f->tls = 1;
        break;
    default:
        break;
    }
}

/* --- client lines as content -------------------------------------------- */

/* The verb of a client line, as PREV_* (PREV_PASS also for ACCT: a credential either way). */
static uint8_t line_verb(const uint8_t *s, size_t n)
{
    size_t vlen = verb_len(s, n);

    if (verb_is(s, vlen, "USER"))
        return PREV_USER;
    if (verb_is(s, vlen, "PASS") || verb_is(s, vlen, "ACCT"))
        return PREV_PASS;
    if (verb_is(s, vlen, "AUTH"))
        return PREV_AUTH;
    if (verb_is(s, vlen, "ADAT"))
        return PREV_ADAT;
    return PREV_OTHER;
}

/*
 * Whether a client line of n bytes is a credential (RFC 959 PASS/ACCT, RFC 2228 ADAT: base64
 * security tokens): only where a login puts one, and a few per connection (three password
 * tries, as servers allow, an account, the tokens of a GSSAPI exchange). AUTH names a
 * mechanism, MIC/CONF/ENC carry protected commands: none is a credential.
 */
static bool is_credential(const dlp_ftp_t *f, const uint8_t *s, size_t n)
{
    size_t vlen = verb_len(s, n);
    bool placed;

    if (verb_is(s, vlen, "PASS"))
        placed = f->prev == PREV_USER;
    else if (verb_is(s, vlen, "ACCT"))
        placed = f->prev == PREV_USER || f->prev == PREV_PASS;
    else if (verb_is(s, vlen, "ADAT"))
        placed = f->prev == PREV_AUTH || f->prev == PREV_ADAT;
    else
        return false;
    return placed && !f->d[0].tail && f->creds < DLP_FTP_CRED_LINES_MAX && n <= DLP_APP_CRED_MAX &&
           n <= f->line_max;
}

static void report(dlp_ftp_t *f, const uint8_t *s, size_t n)
{
    if (n > 0 && f->sink->block != NULL)
        f->sink->block(f->ctx[0], DLP_FIELD_FTP_COMMAND, s, n);
}

/*
 * Line s (CR and LF removed) as a server that reads Telnet takes it, into out (at most n
 * bytes): IAC IAC is one 0xFF; IAC WILL/WONT/DO/DONT and its option byte are dropped; any
 * other IAC and the byte after it are dropped (BSD ftpd) or, 'keep' (ProFTPD), kept unless
 * that byte is IP or DM. A lone IAC at the end met the CR: dropped or kept the same way.
 * The first 'skip' bytes end a command begun before s (a block of an overlong line): not
 * read. *other: such a pair was seen, so the two servers read the line differently.
 */
static size_t telnet_read(const uint8_t *s, size_t n, size_t skip, uint8_t *out, bool keep,
                          bool *other)
{
    size_t i = skip < n ? skip : n, k = 0;

    *other = false;
    while (i < n) {
        uint8_t c = s[i++];

        if (c != TEL_IAC) {
            out[k++] = c;
            continue;
        }
        if (i == n) { /* the CR was the byte after it */
            *other = true;
            if (keep)
                out[k++] = TEL_IAC;
            break;
        }
        c = s[i++];
        if (c == TEL_IAC) {
            out[k++] = TEL_IAC;
        } else if (c >= TEL_WILL) {
            i += i < n; /* the option byte (at the end, the CR was it) */
        } else if (c != TEL_IP && c != TEL_DM) {
            *other = true;
            if (keep) {
                out[k++] = TEL_IAC;
                out[k++] = c;
            }
        }
    }
    return k;
}

/*
 * Where the Telnet command that holds byte 'mark' of s ends, read from byte i (where one
 * begins): how many bytes from 'mark' on belong to a command begun before it (0..2). Both
 * servers that read Telnet cut the bytes into the same commands (IAC IAC, IAC WILL..DONT x,
 * any other IAC x, or one byte), so the next block of an overlong line is read from there.
 */
static size_t telnet_resume(const uint8_t *s, size_t n, size_t i, size_t mark)
{
    while (i < mark) {
        size_t k = 1;

        if (s[i] == TEL_IAC)
            k = i + 1 < n && s[i + 1] >= TEL_WILL && s[i + 1] != TEL_IAC ? 3 : 2;
        i += k;
    }
    return i - mark;
}

/*
 * Reading r of client line s (n bytes, the first 'skip' the end of a Telnet command begun
 * before it): 0 as sent (vsftpd, Pure-FTPd), 1 as ProFTPD reads it, 2 as BSD ftpd reads it,
 * in f->tel (the last reading made stays there). NULL: no such reading (no IAC in the line,
 * ProFTPD's is BSD's or the line as sent, or no memory).
 */
static const uint8_t *reading(dlp_ftp_t *f, int r, const uint8_t *s, size_t n, size_t skip,
                              size_t *rn)
{
    bool other;

    *rn = n;
    if (r == 0)
        return s;
    if (memchr(s, TEL_IAC, n) == NULL)
        return NULL;
    if (f->tel == NULL && (f->tel = malloc(f->line_max)) == NULL)
        return NULL;
    *rn = telnet_read(s, n, skip, f->tel, r == 1, &other);
    if (r == 1 && (!other || (*rn == n && memcmp(f->tel, s, n) == 0)))
        return NULL; /* the same as BSD's, or as sent */
    return f->tel;
}

/* Client bytes, scanned as each server reads them (skip: as in reading()); without memory
 * for the Telnet readings, only as sent, and noted. */
static void report_read(dlp_ftp_t *f, const uint8_t *s, size_t n, size_t skip)
{
    for (int r = 0; r < 3; r++) {
        size_t rn;
        const uint8_t *v = reading(f, r, s, n, skip, &rn);

        if (v != NULL)
            report(f, v, rn);
    }
    if (f->tel == NULL && memchr(s, TEL_IAC, n) != NULL)
        note(f, 0, DLP_NOTE_HEADER_CAP, n);
}

/*
 * Whether client line s is a credential as every server reads it (is_credential); *verb:
 * its PREV_* where all readings agree, else PREV_OTHER. Without memory for the readings, a
 * line holding IAC is none.
 */
static bool read_credential(dlp_ftp_t *f, const uint8_t *s, size_t n, uint8_t *verb)
{
    bool cred = true;

    if (f->d[0].cont) { /* a continuation to some server: its verb is the line's before */
        *verb = PREV_OTHER;
        return false;
    }
    *verb = line_verb(s, n);
    for (int r = 0; r < 3; r++) {
        size_t rn;
        const uint8_t *v = reading(f, r, s, n, 0, &rn);

        if (v == NULL)
            continue;
        cred = cred && is_credential(f, v, rn);
        if (line_verb(v, rn) != *verb)
            *verb = PREV_OTHER;
    }
    if (f->tel == NULL && memchr(s, TEL_IAC, n) != NULL) {
        *verb = PREV_OTHER;
        return false;
    }
    return cred;
}

/*
 * A credential line of raw bytes before its LF (at stop; NULL: the last raw taken): kept
 * from the scan and out of evidence (the whole line, verb included: "PASS" alone tells
 * nothing, and its argument is what matters), and noted.
 */
static void credential(dlp_ftp_t *f, const uint8_t *stop, size_t raw)
{
    f->creds++;
    dlp_app_secret(f->sink, f->ctx[0], stop, raw);
    note(f, 0, DLP_NOTE_CREDENTIAL, raw);
}

/*
 * A client line over line_max is reported in blocks of line_max bytes, each
 * repeating the last FTP_CMD_OVERLAP bytes of the one before: a value up to
 * that long across a boundary is whole in one block (found twice, it is one
 * value of the flow). Blocks rather than a content stream: nothing stays
 * open when the connection ends (the worker ends FTP by freeing it, after
 * the flow's event and evidence are done).
 */
static void over_feed(dlp_ftp_t *f, ftp_dir_t *d, const uint8_t *p, size_t n)
{
    uint32_t ovl = f->line_max / 2 < FTP_CMD_OVERLAP ? f->line_max / 2 : FTP_CMD_OVERLAP;

    while (n > 0) {
        size_t k = f->line_max - d->len < n ? f->line_max - d->len : n;

        memcpy(d->buf + d->len, p, k);
        d->len += (uint32_t)k;
        d->fresh += (uint32_t)k;
        p += k;
        n -= k;
        if (d->len == f->line_max) {
            report_read(f, d->buf, d->len, d->tskip);
            /* the next block starts at ovl from the end, maybe inside a Telnet command */
            d->tskip = (uint8_t)telnet_resume(d->buf, d->len, d->tskip, d->len - ovl);
            memmove(d->buf, d->buf + d->len - ovl, ovl);
            d->len = ovl;
            d->fresh = 0;
        }
    }
}

static void over_done(dlp_ftp_t *f, ftp_dir_t *d)
{
    if (!d->scan) /* no memory for the blocks: skipped, so the flow must not read as scanned */
        note(f, 0, DLP_NOTE_HEADER_CAP, d->skipped);
    else if (d->fresh > 0)
        report_read(f, d->buf, d->len, d->tskip);
    d->len = 0;
    d->fresh = 0;
    d->scan = 0;
    d->tskip = 0;
}

/* The client line passes line_max: no credential is that long, so it is scanned in blocks. */
static dlp_rc_t client_overlong(dlp_ftp_t *f, ftp_dir_t *d)
{
    f->prev = PREV_OTHER;
    d->scan = 1;
    d->tskip = 0;
    if (d->buf == NULL && (d->buf = malloc(f->line_max)) == NULL) {
        d->scan = 0;
        d->len = 0;
        return DLP_ENOMEM; /* the line is skipped */
    }
    d->fresh = d->len;
    return DLP_OK;
}

/* The client line in progress will not end (gap, end): what the server got of it. */
static void client_flush(dlp_ftp_t *f, ftp_dir_t *d)
{
    uint8_t verb;

    if (d->mode == MODE_OVERLONG) {
        over_done(f, d);
    } else if (d->mode == MODE_LINE && d->len > 0) {
        if (read_credential(f, d->buf, d->len, &verb))
            credential(f, NULL, d->len); /* at a gap or the end: the last len taken */
        else
            report_read(f, d->buf, d->len, 0);
    }
    d->len = 0;
    f->prev = PREV_OTHER;
}

/* One line of direction 'dir', LF removed (at 'stop' in the caller's bytes). */
static void line(dlp_ftp_t *f, int dir, const uint8_t *s, size_t n, const uint8_t *stop)
{
    size_t raw = n, cn;
    const uint8_t *cmd;
    uint8_t verb;

    if (n > 0 && s[n - 1] == '\r')
        n--;
    if (n == 0)
        return;
    if (dir == 1) {
        reply(f, s, n);
        return;
    }
    if (f->d[0].tail) { /* its verb was lost: scanned, not read */
        report_read(f, s, n, 0);
        f->prev = PREV_OTHER;
        return;
    }
    if (read_credential(f, s, n, &verb))
        credential(f, stop, raw);
    else
        report_read(f, s, n, 0);
    f->prev = verb;
    cmd = reading(f, 2, s, n, 0, &cn);
    if (cmd == NULL)
        cmd = s;
    command(f, cmd, cn);
}

/* After 234, the client's first byte: a TLS handshake record ends inspection. */
static bool tls_starts(dlp_ftp_t *f, uint8_t first)
{
    f->tls = 0;
    if (first != 0x16)
        return false;
    note(f, 0, DLP_NOTE_ENCRYPTED, 0);
    note(f, 1, DLP_NOTE_ENCRYPTED, 0);
    f->done = 1;
    return true;
}

/* --- framing ------------------------------------------------------------- */

static dlp_rc_t buffer(dlp_ftp_t *f, ftp_dir_t *d, const uint8_t *p, size_t n)
{
    if (d->buf == NULL) {
        d->buf = malloc(f->line_max);
        if (d->buf == NULL)
            return DLP_ENOMEM;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += (uint32_t)n;
    return DLP_OK;
}

dlp_rc_t dlp_ftp_write(dlp_ftp_t *f, int dir, const uint8_t *p, size_t n)
{
    ftp_dir_t *d;

    if (f == NULL || (dir != 0 && dir != 1) || (p == NULL && n > 0))
        return DLP_EINVAL;
    if (f->done)
        return DLP_DONE;
    d = &f->d[dir];
    if (dir == 0 && n > 0 && f->tls && tls_starts(f, p[0]))
        return DLP_DONE;
    while (n > 0) {
        const uint8_t *lf = memchr(p, '\n', n);
        size_t take = lf != NULL ? (size_t)(lf - p) : n;

        if (d->mode == MODE_LINE && (uint64_t)d->len + take > f->line_max) {
            d->mode = MODE_OVERLONG;
            d->skipped = d->len;
            if (dir == 1)
                d->len = 0;
            else if (client_overlong(f, d) != DLP_OK)
                return DLP_ENOMEM;
        }
        if (take > 0)
            d->last = p[take - 1];
        if (d->mode == MODE_OVERLONG) {
            d->skipped += take;
            if (d->scan)
                over_feed(f, d, p, take);
        } else if (d->mode == MODE_LINE && (lf == NULL || d->len > 0)) {
            dlp_rc_t rc = buffer(f, d, p, take);
            if (rc != DLP_OK)
                return rc;
        }
        if (lf == NULL)
            return DLP_OK;
        if (d->mode == MODE_OVERLONG && dir == 0) {
            over_done(f, d); /* scanned whole, not read: an unknown command */
        } else if (d->mode == MODE_OVERLONG) {
            note(f, dir, DLP_NOTE_HEADER_CAP, d->skipped); /* a reply: not read */
            d->skipped = 0;
        } else if (d->mode == MODE_LINE) {
            if (d->len > 0)
                line(f, dir, d->buf, d->len, p + take);
            else
                line(f, dir, p, take, p + take);
            d->len = 0;
        }
        d->mode = MODE_LINE;
        d->tail = 0;
        d->cont = d->last != '\r'; /* a bare LF: not a line end to ProFTPD, nor after IAC to BSD */
        d->last = 0;
        p += take + 1;
        n -= take + 1;
    }
    return DLP_OK;
}

void dlp_ftp_gap(dlp_ftp_t *f, int dir, uint64_t len)
{
    ftp_dir_t *d;

    if (f == NULL || (dir != 0 && dir != 1) || f->done)
        return;
    d = &f->d[dir];
    if (dir == 0) {
        client_flush(f, d);
        f->tls = 0;  /* the byte that tells TLS may be lost: lines are read as after a gap */
        d->last = 0; /* whether a CR came before the next LF is lost too */
    } else if (d->mode == MODE_OVERLONG)
        note(f, dir, DLP_NOTE_HEADER_CAP, d->skipped);
    d->skipped = 0;
    d->len = 0;
    /* the server received the client's bytes after the gap: scanned; a reply's are not read */
    d->mode = dir == 0 ? MODE_LINE : MODE_RESYNC;
    d->tail = dir == 0;
    note(f, dir, DLP_NOTE_GAP, len);
}

void dlp_ftp_end(dlp_ftp_t *f, int dir)
{
    if (f == NULL || dir != 0 || f->done)
        return;
    client_flush(f, &f->d[0]);
    f->d[0].mode = MODE_LINE;
    f->d[0].tail = 0;
}

size_t dlp_ftp_mem(const dlp_ftp_t *f)
{
    if (f == NULL)
        return 0;
    return sizeof(*f) + (f->d[0].buf != NULL ? f->line_max : 0) +
           (f->d[1].buf != NULL ? f->line_max : 0) + (f->tel != NULL ? f->line_max : 0);
}
