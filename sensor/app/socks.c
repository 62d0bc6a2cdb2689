/*
 * socks.c - SOCKS4/4a and SOCKS5 handshakes (RFC 1928, RFC 1929), push
 * style, one byte at a time (a handshake is a few hundred bytes at most).
 *
 * Design: each direction is a state machine of its own. The client's
 * version byte (4 or 5) sets the protocol; a SOCKS5 client's message after
 * its greeting is told by its first byte (1: the RFC 1929 sub-negotiation,
 * only if the greeting offered method 2; 5: the request), so the client's
 * side never waits for the server's. The server's side needs the version,
 * which the client's first byte gave (the flow is SOCKS because of it).
 *
 * Invariants, per direction: every byte taken is copied to 'held' except
 * the password's; held never overflows: a SOCKS5 client sends at most
 * 257 + 257 + 262 bytes (greeting, sub-negotiation without the password,
 * request), a SOCKS4a client 8 + 2 * (DLP_SOCKS_NAME_MAX + 1), a server
 * 2 + 2 + 262. The free-form fields (names, IPv6 addresses, a long methods
 * list; either direction's) are reported only when the handshake ends: a
 * failed one is scanned raw from 'held', so nothing is scanned twice.
 *
 * Thread: a dlp_socks_t belongs to the worker that owns the flow.
 */
#include "dlp/socks.h"

#include <stdbool.h>
#include <stdlib.h>

#include "dlp/limits.h"
#include "stage_int.h"

#define HELD_MAX 1024
#define NAMES_MAX 3 /* client: methods, user, destination; server: its address */
#define METHODS_SCANNED 8 /* a greeting offering this many methods has them scanned */

enum {
    /* client */
    C_VER,
    C5_NMETH,
    C5_METH,
    C5_NEXT,
    C5_ULEN,
    C5_UNAME,
    C5_PLEN,
    C5_PASS,
    C5_RVER,
    C5_CMD,
    C5_RSV,
    C4_CMD,
    C4_FIXED,
    C4_USER,
    C4_HOST,
    /* server */
    S_VER,
    S5_METHOD,
    S5_AVER,
    S5_ASTAT,
    S5_RVER,
    S5_REP,
    S5_RSV,
    S4_CD,
    S4_FIXED,
    /* either */
    A_TYPE,
    A_LEN,
    A_BYTES,
    A_PORT,
    X_DONE,
    X_FAIL,
};

typedef struct sdir {
    uint8_t state;
    uint8_t atyp;
    uint8_t offered_up; /* client: the greeting offered username/password */
    uint16_t cnt;       /* bytes still due in the current field */
    uint16_t nheld;
    uint16_t name_off[NAMES_MAX], name_len[NAMES_MAX];
    uint8_t nnames;
    uint8_t held[HELD_MAX];
} sdir_t;

struct dlp_socks {
    const dlp_content_sink_t *sink;
    void *ctx[2];
    uint8_t ver; /* 4 or 5: the client's first byte */
    sdir_t d[2];
};

dlp_socks_sniff_t dlp_socks_sniff(const uint8_t *p, size_t n)
{
    size_t need;

    if (n == 0)
        return DLP_SOCKS_SNIFF_MORE;
    if (p[0] == 4) {
        /* VN 4, CD 1 (CONNECT) or 2 (BIND), DSTPORT (not 0), DSTIP, USERID NUL */
        if (n >= 2 && p[1] != 1 && p[1] != 2)
            return DLP_SOCKS_SNIFF_NO;
        if (n >= 4 && p[2] == 0 && p[3] == 0)
            return DLP_SOCKS_SNIFF_NO;
        return n >= 9 ? DLP_SOCKS_SNIFF_YES : DLP_SOCKS_SNIFF_MORE;
    }
    if (p[0] != 5)
        return DLP_SOCKS_SNIFF_NO;
    /* VER 5, NMETHODS (1..255), METHODS; no 0xFF (no acceptable methods: a reply) */
    if (n < 2)
        return DLP_SOCKS_SNIFF_MORE;
    if (p[1] == 0)
        return DLP_SOCKS_SNIFF_NO;
    need = 2 + (size_t)p[1];
    for (size_t i = 2; i < n && i < need; i++)
        if (p[i] == 0xFF)
            return DLP_SOCKS_SNIFF_NO;
    if (n < need)
        return DLP_SOCKS_SNIFF_MORE;
    /* a request (5) or a sub-negotiation (1) sent at once */
    if (n > need && p[need] != 5 && p[need] != 1)
        return DLP_SOCKS_SNIFF_NO;
    return DLP_SOCKS_SNIFF_YES;
}

dlp_socks_t *dlp_socks_new(const dlp_content_sink_t *sink, void *const ctx[2])
{
    dlp_socks_t *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->sink = sink;
    s->ctx[0] = ctx[0];
    s->ctx[1] = ctx[1];
    s->d[0].state = C_VER;
    s->d[1].state = S_VER;
    return s;
}

void dlp_socks_free(dlp_socks_t *s)
{
    free(s);
}

/* A name (user, destination) starts after the byte being read, cnt bytes long. */
static void name_start(sdir_t *d, size_t cnt)
{
    if (d->nnames < NAMES_MAX) {
        d->name_off[d->nnames] = (uint16_t)(d->nheld + 1);
        d->name_len[d->nnames] = (uint16_t)cnt;
        d->nnames++;
    }
}

/* A direction's handshake ended: its free-form fields are scanned. */
static void dir_done(dlp_socks_t *s, int dir)
{
    const sdir_t *d = &s->d[dir];

    if (s->sink->block == NULL)
        return;
    for (int i = 0; i < d->nnames; i++)
        if (d->name_len[i] > 0)
            s->sink->block(s->ctx[dir], DLP_FIELD_RAW, d->held + d->name_off[i], d->name_len[i]);
}

/* DST.ADDR and DST.PORT (SOCKS5 request; BND.* in the reply): ATYP first. A domain
 * name or an IPv6 address is 16 to 255 bytes the sender chooses freely, either way
 * (an inside server's reply is egress too): scanned. */
static int addr_byte(sdir_t *d, uint8_t c)
{
    switch (d->state) {
    case A_TYPE:
        d->atyp = c;
        if (c == 1 || c == 4) {
            d->cnt = c == 1 ? 4 : 16;
            if (c == 4)
                name_start(d, 16);
            return A_BYTES;
        }
        return c == 3 ? A_LEN : X_FAIL;
    case A_LEN:
        if (c == 0)
            return X_FAIL;
        d->cnt = c;
        name_start(d, c);
        return A_BYTES;
    case A_BYTES:
        if (--d->cnt > 0)
            return A_BYTES;
        d->cnt = 2;
        return A_PORT;
    default: /* A_PORT */
        return --d->cnt > 0 ? A_PORT : X_DONE;
    }
}

/* A NUL-terminated SOCKS4 field (user id, host). */
static int c4_string(sdir_t *d, uint8_t c, int next)
{
    if (c == 0) {
        d->name_len[d->nnames - 1] = d->cnt;
        return next;
    }
    if (d->cnt++ >= DLP_SOCKS_NAME_MAX)
        return X_FAIL;
    return d->state;
}

static int client_byte(dlp_socks_t *s, sdir_t *d, uint8_t c)
{
    switch (d->state) {
    case C_VER:
        s->ver = c;
        return c == 5 ? C5_NMETH : c == 4 ? C4_CMD : X_FAIL;
    case C5_NMETH:
        d->cnt = c;
        /* real clients offer one to three; a long list is 254 bytes of anything but 0xFF */
        if (c >= METHODS_SCANNED)
            name_start(d, c);
        return c > 0 ? C5_METH : X_FAIL;
    case C5_METH:
        if (c == 0xFF)
            return X_FAIL;
        d->offered_up |= c == 2;
        return --d->cnt > 0 ? C5_METH : C5_NEXT;
    case C5_NEXT:
        if (c == 1 && d->offered_up)
            return C5_ULEN;
        return c == 5 ? C5_CMD : X_FAIL;
    case C5_ULEN:
        d->cnt = c;
        name_start(d, c);
        return c > 0 ? C5_UNAME : X_FAIL;
    case C5_UNAME:
        return --d->cnt > 0 ? C5_UNAME : C5_PLEN;
    case C5_PLEN:
        d->cnt = c;
        return c > 0 ? C5_PASS : C5_RVER;
    case C5_RVER:
        return c == 5 ? C5_CMD : X_FAIL;
    case C5_CMD:
        return c >= 1 && c <= 3 ? C5_RSV : X_FAIL; /* CONNECT, BIND, UDP ASSOCIATE */
    case C5_RSV:
        return c == 0 ? A_TYPE : X_FAIL;
    case C4_CMD:
        d->cnt = 6;
        return c == 1 || c == 2 ? C4_FIXED : X_FAIL;
    case C4_FIXED:
        if (--d->cnt > 0)
            return C4_FIXED;
        /* SOCKS4a: DSTIP 0.0.0.x, x != 0, and the host name after the user id */
        d->atyp = d->nheld >= 7 && d->held[4] == 0 && d->held[5] == 0 && d->held[6] == 0 && c != 0;
        name_start(d, 0);
        return C4_USER;
    case C4_USER:
        if (c == 0 && d->atyp) {
            d->name_len[0] = d->cnt;
            d->cnt = 0;
            name_start(d, 0);
            return C4_HOST;
        }
        return c4_string(d, c, X_DONE);
    case C4_HOST:
        return c4_string(d, c, X_DONE);
    default:
        return addr_byte(d, c);
    }
}

static int server_byte(dlp_socks_t *s, sdir_t *d, uint8_t c)
{
    switch (d->state) {
    case S_VER:
        if (s->ver == 4)
            return c == 0 || c == 4 ? S4_CD : X_FAIL; /* VN 0 (some send 4) */
        return s->ver == 5 && c == 5 ? S5_METHOD : X_FAIL;
    case S5_METHOD:
        return c == 0 ? S5_RVER : c == 2 ? S5_AVER : X_FAIL;
    case S5_AVER:
        return c == 1 ? S5_ASTAT : X_FAIL;
    case S5_ASTAT:
        return c == 0 ? S5_RVER : X_FAIL;
    case S5_RVER:
        return c == 5 ? S5_REP : X_FAIL;
    case S5_REP:
        return c == 0 ? S5_RSV : X_FAIL; /* succeeded; anything else: refused */
    case S5_RSV:
        return c == 0 ? A_TYPE : X_FAIL;
    case S4_CD:
        d->cnt = 6;
        return c == 0x5A ? S4_FIXED : X_FAIL; /* granted */
    case S4_FIXED:
        return --d->cnt > 0 ? S4_FIXED : X_DONE;
    default:
        return addr_byte(d, c);
    }
}

/* The password's bytes: not held; the credential is told where it ends. */
static size_t take_password(dlp_socks_t *s, sdir_t *d, const uint8_t *p, size_t n)
{
    size_t k = n < d->cnt ? n : d->cnt;
    size_t plen;

    d->cnt = (uint16_t)(d->cnt - k);
    if (d->cnt > 0)
        return k;
    plen = d->held[d->nheld - 1]; /* PLEN, the last byte held */
    dlp_app_secret(s->sink, s->ctx[0], p + k, plen);
    if (s->sink->note != NULL)
        s->sink->note(s->ctx[0], DLP_NOTE_CREDENTIAL, plen);
    d->state = C5_RVER;
    return k;
}

dlp_rc_t dlp_socks_write(dlp_socks_t *s, int dir, const uint8_t *p, size_t n, size_t *consumed)
{
    sdir_t *d;
    size_t i = 0;

    *consumed = 0;
    if (s == NULL || dir < 0 || dir > 1 || (p == NULL && n > 0))
        return DLP_EINVAL;
    d = &s->d[dir];
    while (i < n && d->state != X_DONE && d->state != X_FAIL) {
        int next;
        if (d->state == C5_PASS) {
            i += take_password(s, d, p + i, n - i);
            continue;
        }
        next = dir == 0 ? client_byte(s, d, p[i]) : server_byte(s, d, p[i]);
        if (next == X_FAIL || d->nheld == HELD_MAX) {
            d->state = X_FAIL;
            break;
        }
        d->held[d->nheld++] = p[i++];
        d->state = (uint8_t)next;
        if (next == X_DONE)
            dir_done(s, dir);
    }
    *consumed = i;
    if (d->state == X_DONE)
        return DLP_DONE;
    return d->state == X_FAIL ? DLP_EPROTO : DLP_OK;
}

void dlp_socks_gap(dlp_socks_t *s, int dir)
{
    if (s != NULL && dir >= 0 && dir <= 1 && s->d[dir].state != X_DONE)
        s->d[dir].state = X_FAIL;
}

size_t dlp_socks_held(const dlp_socks_t *s, int dir, const uint8_t **p)
{
    if (s == NULL || dir < 0 || dir > 1) {
        *p = NULL;
        return 0;
    }
    *p = s->d[dir].held;
    return s->d[dir].nheld;
}

size_t dlp_socks_mem(const dlp_socks_t *s)
{
    return s != NULL ? sizeof(*s) : 0;
}
