/*
 * smtp.c - SMTP, both directions of one connection (smtp.h).
 *
 * Client bytes are, by state:
 *  - C_CMD: command lines (LF, an optional CR before it stripped). Each line
 *    the server reads as a command, whatever its verb (NOOP, VRFY, HELO take
 *    strings the server may log; unknown verbs too), is reported whole as a
 *    block of DLP_FIELD_SMTP_COMMAND, except the AUTH line and the answers to
 *    its 334 challenges (credentials), which are swallowed, never passed on,
 *    and noted (DLP_NOTE_CREDENTIAL, their bytes before the LF: not
 *    inspected), but only within bounds, as an unscanned line is a channel a
 *    colluding server could keep open: a line of at most DLP_APP_CRED_MAX
 *    bytes (and line_max), at most DLP_SMTP_AUTH_ANSWERS_MAX answers per
 *    exchange and DLP_SMTP_AUTH_MAX AUTH exchanges per connection. Beyond
 *    them the line is no credential a server takes: it is scanned as a
 *    command (the exchange still goes on as the server reads it). An empty
 *    answer is neither. MAIL FROM / RCPT TO addresses are reported besides,
 *    before their line, as blocks of DLP_FIELD_SMTP_HEADER ("MAIL
 *    FROM:<a@b>", "RCPT TO:<c@d>", ESMTP parameters dropped, at most ADDR_MAX
 *    bytes shown) so e-mail rules see them there as they always did (the same
 *    value found again in the command line is the same value of the flow:
 *    counted once), and the domains of the whole addresses (lower-cased) as
 *    meta. A line is held up to line_max bytes; a longer one is streamed
 *    (DLP_FIELD_SMTP_COMMAND, from its first byte to the LF, a CR kept), so
 *    nothing of it escapes the scan and memory stays bounded, but it is not
 *    interpreted (an unknown command; RFC 5321 allows 512 bytes): no note, as
 *    nothing is left uninspected. An overlong AUTH line or answer is past the
 *    credential bound too: scanned, told by where it stands and its first
 *    bytes only to follow the exchange. Swallowed lines (whole, or cut by a
 *    gap or the end) are told to sink->secret (their bytes before the LF, a
 *    CR included) so evidence captures overwrite them: where they end in the
 *    caller's bytes, or, read from held bytes (a replay), as somewhere among
 *    the replayed ones. Each command is queued (up to DLP_SMTP_PIPELINE_MAX)
 *    until its final reply. One client line answers one 334, as the server
 *    reads it; after AUTH's final reply every line is a command again. So
 *    nothing but those lines is swallowed: a client that pipelines MAIL,
 *    RCPT, DATA and the message behind AUTH (allowed after an initial
 *    response, RFC 4954 section 4), or answers a 334 with more lines, has
 *    them read as commands.
 *  - C_WAIT: after DATA, STARTTLS, AUTH or an answer to a 334 the client
 *    waits for the reply; bytes seen before the reply was (pipelining,
 *    feeding order, lost replies) are held, up to line_max, then replayed
 *    in the state the reply chose (AUTH: a 334 makes the first held line
 *    its answer, a final reply makes them commands). Past that bound the
 *    reply is assumed: DATA accepted, STARTTLS refused, AUTH over (all keep
 *    inspecting); at the client's end (a reply lost, or only the client's
 *    side seen) DATA is accepted and AUTH over, so the held message is
 *    read, and STARTTLS accepted, so the held bytes go to C_TLS, which reads
 *    them unless they are TLS; a client gap first resolves a wait the
 *    same way (the held bytes came before the lost ones, so they are read,
 *    not dropped), and AUTH is taken as over at a gap on either side.
 *  - C_DATA: the message, dot-unstuffed, until CRLF "." CRLF (strictly: a
 *    bare LF neither starts a line nor ends the message, so a lone "\n.\n"
 *    cannot end inspection early); only the dot at a line start and a CR
 *    after it are ever held back.
 *  - C_BDAT: exactly the announced number of bytes, as they are.
 *  - C_TLS: STARTTLS was accepted (220): the client's next byte decides.
 *    A TLS handshake record (0x16) ends inspection: DLP_NOTE_ENCRYPTED on
 *    both directions, and every write returns DLP_DONE. Anything else is
 *    read as commands again: a 220 is only the server's word, and a server
 *    in league with the client could say it and read plain text on. (When
 *    that byte is lost in a gap, commands are read from the next known
 *    verb on, as after any gap.)
 * Each message goes to a MIME walker (headers SMTP_HEADER, text SMTP_BODY,
 * named parts SMTP_ATTACHMENT). BDAT chunks of one message share a walker,
 * ended by LAST, RSET or MAIL.
 *
 * Server bytes are reply lines; only their first four bytes matter (code
 * and '-' for a continuation), so they are never buffered. A final reply
 * pops the oldest queued command; 334 never does (AUTH continues: while a
 * queued AUTH awaits its final reply each 334 owes one more client line as
 * its answer; a 334 to nothing is ignored). A waiting DATA or STARTTLS
 * (always the last queued) is resolved by the reply that fits it even when
 * the queue is out of step: 354 accepts DATA, 220 accepts STARTTLS (then
 * C_TLS), 4xx/5xx refuses it when it is the oldest; emptying the queue so ends an
 * AUTH exchange. A waiting AUTH is resolved by a 334 or by AUTH's final
 * reply. A first 220 is the greeting.
 *
 * Gaps (noted DLP_NOTE_GAP on their direction): the message in progress is
 * ended (its streams closed); in DATA the rest up to CRLF.CRLF is skipped;
 * in BDAT the rest of the message's chunks is skipped (the byte counts are
 * kept when the gap ends inside the chunk); in commands lines are not read
 * as commands until one starts with a known verb, but every byte the
 * server received is still scanned as DLP_FIELD_SMTP_COMMAND: the part of
 * the line before the gap, the rest of it after, the lines skipped (after
 * a gap an answer to a 334 cannot be told from a command: such lines are
 * scanned too; a line still open at the client's end is also reported). A
 * server gap empties the queue and resolves a wait (DATA accepted, STARTTLS
 * refused), and ends an AUTH exchange; so does a client gap (the lost bytes
 * may have held the answer: no later line is taken for one).
 *
 * Thread: the flow's worker.
 */
#include "dlp/smtp.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlp/mime.h"
#include "stage_int.h"

#define ADDR_MAX 320 /* RFC 5321 paths are at most 256 bytes */

enum { C_CMD, C_WAIT, C_DATA, C_BDAT, C_TLS };
enum { K_NONE, K_OTHER, K_DATA, K_BDAT, K_STARTTLS, K_AUTH };
enum { D_BOL, D_MID, D_CR, D_DOT, D_DOTCR };
/* What a line over line_max (scanned, as no credential is that long) is to the exchange */
enum { L_CMD, L_TAIL, L_ANSWER, L_AUTH };

struct dlp_smtp {
    const dlp_content_sink_t *sink;
    void *ctx[2];
    dlp_app_limits_t lim;
    dlp_rc_t rc; /* ENOMEM, returned by the next write */
    uint8_t done, ended[2];

    /* client */
    uint8_t cst, wait, wait_gap;
    uint8_t cdrop;   /* the line in progress began in a gap: scanned, not read */
    uint8_t cresync; /* lines are not read as commands until a known verb */
    uint8_t cover;   /* the current line is over line_max: streamed, not held */
    uint8_t ckind;   /* L_*, of the line over line_max */
    uint8_t copen;   /* its stream was opened (ch: NULL when not inspected) */
    void *ch;
    uint8_t *cbuf;
    uint32_t clen;
    uint8_t *pend;
    size_t plen, pcap;
    dlp_mime_t *msg;
    uint8_t dst;
    uint8_t in_auth; /* a queued AUTH awaits its final reply */
    uint8_t msg_skip, bdat_last;
    uint32_t auth_owed; /* client lines owed as AUTH continuations: one per 334 */
    uint64_t bdat_left;
    uint32_t auth_n;       /* AUTH lines so far: past DLP_SMTP_AUTH_MAX they are scanned */
    uint32_t auth_answers; /* answers in this exchange: past DLP_SMTP_AUTH_ANSWERS_MAX, scanned */
    const uint8_t *lstop; /* the line being read ends here, in the input being fed (its LF) */
    size_t lraw;          /* ... and has that many bytes before its LF */
    uint8_t replay;       /* held bytes are being fed again (nested replays count) */
    size_t rlen;          /* the outermost replay's bytes: they end where the client stands */
    uint64_t q_over;     /* commands not queued, their replies still to come */
    uint8_t q[DLP_SMTP_PIPELINE_MAX];
    uint32_t qhead, qn;

    /* server */
    uint8_t sdrop, greeted, sn;
    uint8_t scode[4];
};

static void client_feed(dlp_smtp_t *s, const uint8_t *p, size_t n);

static void note(dlp_smtp_t *s, int dir, dlp_app_note_t k, uint64_t bytes)
{
    if (s->sink->note != NULL)
        s->sink->note(s->ctx[dir], k, bytes);
}

/*
 * Swallowed credential bytes (an AUTH line, an answer to a 334): the n bytes taken
 * before 'stop', a pointer into the bytes being fed, for the sink to keep them out of
 * evidence. Replayed bytes are no longer the caller's: they lie among the last rlen
 * taken (a line read in a replay starts in it: the line buffer is empty when the client
 * starts to wait), so that is what the sink is told.
 */
static void secret(dlp_smtp_t *s, const uint8_t *stop, size_t n)
{
    if (n == 0)
        return;
    if (s->replay)
        dlp_app_secret(s->sink, s->ctx[0], NULL, s->rlen > n ? s->rlen : n);
    else
        dlp_app_secret(s->sink, s->ctx[0], stop, n);
}

/* --- the message ------------------------------------------------------------ */

static void msg_end(dlp_smtp_t *s);

/* A message still open (BDAT chunks without LAST, then DATA) ends first. */
static void msg_start(dlp_smtp_t *s)
{
    dlp_mime_params_t p = {
        .sink = s->sink,
        .ctx = s->ctx[0],
        .limits = &s->lim,
        .header_field = DLP_FIELD_SMTP_HEADER,
        .body_field = DLP_FIELD_SMTP_BODY,
        .attach_field = DLP_FIELD_SMTP_ATTACHMENT,
    };

    msg_end(s);
    s->msg = dlp_mime_new(&p);
    if (s->msg == NULL)
        s->rc = DLP_ENOMEM;
}

static void msg_write(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    if (s->msg != NULL && n > 0 && dlp_mime_write(s->msg, p, n) == DLP_ENOMEM)
        s->rc = DLP_ENOMEM;
}

static void msg_end(dlp_smtp_t *s)
{
    if (s->msg == NULL)
        return;
    if (dlp_mime_end(s->msg) == DLP_ENOMEM)
        s->rc = DLP_ENOMEM;
    dlp_mime_free(s->msg);
    s->msg = NULL;
}

/* --- the command queue ------------------------------------------------------- */

/* True when the command is queued, so that its reply is known as its own. */
static bool push(dlp_smtp_t *s, uint8_t kind)
{
    /* once one is not queued, the later ones are not either: their replies come after it */
    if (s->qn == DLP_SMTP_PIPELINE_MAX || s->q_over > 0) {
        s->q_over++;
        return false;
    }
    s->q[(s->qhead + s->qn) % DLP_SMTP_PIPELINE_MAX] = kind;
    s->qn++;
    return true;
}

static void pop(dlp_smtp_t *s)
{
    s->qhead = (s->qhead + 1) % DLP_SMTP_PIPELINE_MAX;
    s->qn--;
}

/* No line is taken as an answer to a 334 any more (auth_owed > 0 implies in_auth). */
static void auth_stop(dlp_smtp_t *s)
{
    s->in_auth = 0;
    s->auth_owed = 0;
}

/* A queued AUTH goes with the queue: no line is swallowed for a reply that will not come. */
static void queue_clear(dlp_smtp_t *s)
{
    s->qn = 0;
    s->q_over = 0;
    auth_stop(s);
}

/* The reply to the DATA, STARTTLS or AUTH the client waits on: replays held bytes. */
static void wait_resolve(dlp_smtp_t *s, bool accepted)
{
    uint8_t *held = s->pend;
    size_t n = s->plen;
    bool gap = s->wait_gap;

    s->pend = NULL;
    s->plen = s->pcap = 0;
    s->wait_gap = 0;
    s->cst = C_CMD;
    if (s->wait == K_AUTH && !accepted)
        auth_stop(s);
    if (accepted && s->wait == K_STARTTLS && !gap) {
        s->cst = C_TLS;
    } else if (accepted && s->wait == K_DATA) {
        s->cst = C_DATA;
        s->dst = gap ? D_MID : D_BOL;
        if (!gap && !s->ended[0])
            msg_start(s);
    } else if (gap) {
        s->cdrop = 1;
        s->cresync = 1;
    }
    if (!s->replay)
        s->rlen = n;
    s->replay++;
    client_feed(s, held, n);
    s->replay--;
    free(held);
}

/* --- AUTH ----------------------------------------------------------------------- */

/* The client sent an AUTH line (or its answer to a 334): its next lines wait for the reply. */
static void auth_wait(dlp_smtp_t *s)
{
    s->cst = C_WAIT;
    s->wait = K_AUTH;
}

/* The exchange is over (final reply, or no longer followed): every line is a command again. */
static void auth_end(dlp_smtp_t *s)
{
    if (s->cst == C_WAIT && s->wait == K_AUTH) {
        wait_resolve(s, false);
        return;
    }
    auth_stop(s);
}

/* A 334: the next client line answers it, so a held line becomes that answer. */
static void auth_challenge(dlp_smtp_t *s)
{
    if (!s->in_auth)
        return;
    if (s->auth_owed < UINT32_MAX)
        s->auth_owed++;
    if (s->cst == C_WAIT && s->wait == K_AUTH)
        wait_resolve(s, true);
}

/* True when the line is the answer to a 334 (a credential, if within the bounds). */
static bool auth_continuation(dlp_smtp_t *s)
{
    if (s->auth_owed == 0)
        return false;
    if (s->auth_answers < UINT32_MAX)
        s->auth_answers++;
    if (--s->auth_owed == 0)
        auth_wait(s);
    return true;
}

/*
 * The server takes as the answer to its 334 the line after AUTH (or after the previous
 * answer), whenever the client sent it. So the client's lines wait for AUTH's reply: a 334
 * makes the first of them the answer, a final reply hands them all back as commands. That
 * holds too when an initial response lets the client pipeline commands behind AUTH
 * (RFC 4954 section 4): the message after a pipelined DATA is never taken for an answer.
 */
static void cmd_auth(dlp_smtp_t *s)
{
    if (s->auth_n < UINT32_MAX)
        s->auth_n++;
    s->auth_answers = 0;
    if (!push(s, K_AUTH)) /* its reply cannot be told: no line is taken as an answer */
        return;
    s->in_auth = 1;
    s->auth_owed = 0;
    auth_wait(s);
}

/*
 * Whether the AUTH line (answer 0) or answer of this exchange is believable as a credential:
 * a server that keeps answering 334, or a client that keeps sending AUTH, would otherwise
 * carry any number of unscanned lines out. Real mechanisms need at most a few answers
 * (LOGIN, SCRAM, DIGEST-MD5: 2; GSSAPI, NTLM: 3) and clients retry AUTH once or twice.
 */
static bool auth_within(const dlp_smtp_t *s, uint64_t auth_n, uint64_t answers, size_t n)
{
    return auth_n <= DLP_SMTP_AUTH_MAX && answers <= DLP_SMTP_AUTH_ANSWERS_MAX &&
           n <= DLP_APP_CRED_MAX && n <= s->lim.line_max;
}

/* --- commands ------------------------------------------------------------------ */

static bool verb_is(const uint8_t *l, size_t n, const char *v)
{
    size_t k = strlen(v);

    return n >= k && strncasecmp((const char *)l, v, k) == 0 &&
           (n == k || l[k] == ' ' || l[k] == '\t');
}

static bool known_verb(const uint8_t *l, size_t n)
{
    static const char *const verbs[] = {"HELO",     "EHLO", "MAIL", "RCPT", "DATA", "BDAT",
                                        "RSET",     "NOOP", "QUIT", "VRFY", "EXPN", "HELP",
                                        "STARTTLS", "AUTH", "ETRN", "LHLO"};

    for (size_t i = 0; i < DLP_ARRAY_LEN(verbs); i++)
        if (verb_is(l, n, verbs[i]))
            return true;
    return false;
}

/* "MAIL FROM:<a@b> params" -> block "MAIL FROM:<a@b>" and meta "b". */
static void address(dlp_smtp_t *s, const char *prefix, const uint8_t *a, size_t n,
                    dlp_app_meta_t key)
{
    uint8_t out[ADDR_MAX + 16], dom[ADDR_MAX];
    size_t plen = strlen(prefix), k = 0, d = 0, shown;
    const uint8_t *at;

    while (n > 0 && (a[0] == ' ' || a[0] == '\t'))
        a++, n--;
    if (n > 0 && a[0] == '<') {
        const uint8_t *gt = memchr(a, '>', n);
        a++;
        n = gt != NULL ? (size_t)(gt - a) : n - 1;
    } else {
        while (k < n && a[k] != ' ' && a[k] != '\t')
            k++;
        n = k;
    }
    if (n > 0 && a[0] == '@') { /* source route "@a,@b:user@d" */
        const uint8_t *colon = memchr(a, ':', n);
        if (colon != NULL) {
            n -= (size_t)(colon + 1 - a);
            a = colon + 1;
        }
    }
    if (n == 0)
        return;
    shown = n < ADDR_MAX ? n : ADDR_MAX;
    memcpy(out, prefix, plen);
    out[plen] = '<';
    memcpy(out + plen + 1, a, shown);
    out[plen + 1 + shown] = '>';
    if (s->sink->block != NULL)
        s->sink->block(s->ctx[0], DLP_FIELD_SMTP_HEADER, out, plen + shown + 2);
    /* the domain of the whole address, even when the block was cut */
    at = memrchr(a, '@', n);
    if (at == NULL || s->sink->meta == NULL)
        return;
    for (const uint8_t *c = at + 1; c < a + n && d < sizeof(dom); c++)
        dom[d++] = (uint8_t)tolower(*c);
    if (d > 0)
        s->sink->meta(s->ctx[0], key, dom, d);
}

/* "BDAT <size> [LAST]": false if malformed. */
static bool bdat_parse(const uint8_t *l, size_t n, uint64_t *size, bool *last)
{
    size_t i = 4, d0;
    uint64_t v = 0;

    while (i < n && l[i] == ' ')
        i++;
    for (d0 = i; i < n && l[i] >= '0' && l[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(l[i] - '0');
    }
    if (i == d0)
        return false;
    while (i < n && l[i] == ' ')
        i++;
    *last = n - i == 4 && strncasecmp((const char *)l + i, "LAST", 4) == 0;
    if (!*last && i != n)
        return false;
    *size = v;
    return true;
}

static void bdat_chunk_done(dlp_smtp_t *s)
{
    s->cst = C_CMD;
    if (s->bdat_last) {
        msg_end(s);
        s->msg_skip = 0;
    }
}

static void transaction_reset(dlp_smtp_t *s)
{
    msg_end(s);
    s->msg_skip = 0;
}

static void cmd_bdat(dlp_smtp_t *s, const uint8_t *l, size_t n)
{
    uint64_t size;
    bool last;

    if (!bdat_parse(l, n, &size, &last)) {
        push(s, K_OTHER);
        return;
    }
    push(s, K_BDAT);
    if (s->msg == NULL && !s->msg_skip)
        msg_start(s);
    s->cst = C_BDAT;
    s->bdat_left = size;
    s->bdat_last = last;
    if (size == 0)
        bdat_chunk_done(s);
}

/* A command line as the server reads it: scanned, as any argument can carry data. */
static void report(dlp_smtp_t *s, const uint8_t *l, size_t n)
{
    if (n > 0 && s->sink->block != NULL)
        s->sink->block(s->ctx[0], DLP_FIELD_SMTP_COMMAND, l, n);
}

/*
 * An AUTH line or an answer (l, n; lraw bytes before its LF, at lstop): within the bounds
 * a credential, swallowed (kept out of evidence) and noted as not inspected, so the flow
 * does not read as wholly scanned; beyond them no server would take it as one: the bytes
 * are data leaving, scanned as a command.
 */
static void credential(dlp_smtp_t *s, const uint8_t *l, size_t n, bool within)
{
    if (!within) {
        report(s, l, n);
        return;
    }
    if (n == 0) /* an empty answer hides nothing */
        return;
    secret(s, s->lstop, s->lraw);
    note(s, 0, DLP_NOTE_CREDENTIAL, s->lraw);
}

static void command(dlp_smtp_t *s, const uint8_t *l, size_t n)
{
    if (s->cresync) {
        if (!known_verb(l, n)) {
            report(s, l, n); /* not a command we can place, but the server received it */
            return;
        }
        s->cresync = 0;
    }
    if (auth_continuation(s)) {
        credential(s, l, n, auth_within(s, s->auth_n, s->auth_answers, n));
        return;
    }
    if (verb_is(l, n, "AUTH")) {
        cmd_auth(s);
        credential(s, l, n, auth_within(s, s->auth_n, 0, n));
        return;
    }
    /* the address block first: the address is found in smtp.header, as it always was */
    if (n >= 10 && strncasecmp((const char *)l, "MAIL FROM:", 10) == 0) {
        transaction_reset(s);
        address(s, "MAIL FROM:", l + 10, n - 10, DLP_META_SMTP_MAIL_FROM_DOMAIN);
    } else if (n >= 8 && strncasecmp((const char *)l, "RCPT TO:", 8) == 0) {
        address(s, "RCPT TO:", l + 8, n - 8, DLP_META_SMTP_RCPT_DOMAIN);
    }
    report(s, l, n);
    if (verb_is(l, n, "DATA")) {
        push(s, K_DATA);
        s->cst = C_WAIT;
        s->wait = K_DATA;
    } else if (verb_is(l, n, "BDAT")) {
        cmd_bdat(s, l, n);
    } else if (verb_is(l, n, "STARTTLS")) {
        push(s, K_STARTTLS);
        s->cst = C_WAIT;
        s->wait = K_STARTTLS;
    } else {
        if (verb_is(l, n, "RSET"))
            transaction_reset(s);
        push(s, K_OTHER);
    }
}

/* A complete line, LF removed; the rest of one begun in a gap is only scanned. */
static void line(dlp_smtp_t *s, const uint8_t *l, size_t n)
{
    if (n > 0 && l[n - 1] == '\r')
        n--;
    if (s->cdrop) {
        s->cdrop = 0;
        report(s, l, n);
        return;
    }
    command(s, l, n);
}

/* "AUTH" and a blank, or as much of it as the first hn bytes show. */
static bool maybe_auth(const uint8_t *h, size_t hn)
{
    size_t k = hn < 4 ? hn : 4;

    return strncasecmp((const char *)h, "AUTH", k) == 0 && (hn < 5 || h[4] == ' ' || h[4] == '\t');
}

/* What the line in progress (cbuf, then p[0, k)) is, as far as its first bytes tell. */
static uint8_t line_kind(const dlp_smtp_t *s, const uint8_t *p, size_t k)
{
    uint8_t h[5];
    size_t hn = 0;

    if (s->cdrop)
        return L_TAIL;
    if (!s->cresync && s->auth_owed > 0)
        return L_ANSWER;
    for (size_t i = 0; i < s->clen && hn < sizeof(h); i++)
        h[hn++] = s->cbuf[i];
    for (size_t i = 0; i < k && hn < sizeof(h); i++)
        h[hn++] = p[i];
    return maybe_auth(h, hn) ? L_AUTH : L_CMD;
}

static void over_write(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;
    if (!s->copen) {
        s->copen = 1;
        s->ch = s->sink->open != NULL ? s->sink->open(s->ctx[0], DLP_FIELD_SMTP_COMMAND, NULL)
                                      : NULL;
    }
    if (s->ch != NULL && s->sink->write != NULL)
        s->sink->write(s->ctx[0], s->ch, p, n);
}

static void over_close(dlp_smtp_t *s)
{
    if (s->ch != NULL && s->sink->close != NULL)
        s->sink->close(s->ctx[0], s->ch);
    s->ch = NULL;
    s->copen = 0;
    s->cover = 0;
}

/*
 * The line in progress passes line_max: rather than dropped it is streamed from here on
 * (what was held first), so a value across any piece boundary is still found, in bounded
 * memory. An AUTH line or an answer to a 334 this long is no credential (DLP_APP_CRED_MAX
 * <= line_max by default): scanned too, but the exchange goes on as the server reads it.
 * Any other verb is not read: an overlong line is acted on as an unknown command.
 */
static void over_start(dlp_smtp_t *s, const uint8_t *p, size_t k)
{
    s->cover = 1;
    s->ckind = line_kind(s, p, k);
    over_write(s, s->cbuf, s->clen);
    s->clen = 0;
}

/* Its LF: the exchange goes on as for the line it was. */
static void over_end(dlp_smtp_t *s)
{
    uint8_t kind = s->ckind;

    over_close(s);
    if (kind == L_TAIL) {
        s->cdrop = 0;
    } else if (kind == L_AUTH) {
        s->cresync = 0;
        if (!auth_continuation(s))
            cmd_auth(s);
    } else if (kind == L_ANSWER) {
        if (!auth_continuation(s))
            push(s, K_OTHER);
    } else if (!s->cresync) {
        push(s, K_OTHER);
    }
}

/* The line in progress will not end (a gap, the client's end): what the server got of it. */
static void line_flush(dlp_smtp_t *s)
{
    uint8_t kind;

    if (s->cover) {
        over_close(s);
        return;
    }
    if (s->clen == 0)
        return;
    kind = line_kind(s, NULL, 0);
    if ((kind == L_AUTH && auth_within(s, (uint64_t)s->auth_n + 1, 0, s->clen)) ||
        (kind == L_ANSWER && auth_within(s, s->auth_n, (uint64_t)s->auth_answers + 1, s->clen))) {
        /* at a gap or the end, not in the caller's bytes: the last clen taken */
        secret(s, NULL, s->clen);
        note(s, 0, DLP_NOTE_CREDENTIAL, s->clen);
    } else {
        report(s, s->cbuf, s->clen);
    }
    s->clen = 0;
}

static bool line_hold(dlp_smtp_t *s, const uint8_t *p, size_t k)
{
    if (s->cbuf == NULL && (s->cbuf = malloc(s->lim.line_max)) == NULL) {
        s->rc = DLP_ENOMEM;
        return false;
    }
    memcpy(s->cbuf + s->clen, p, k);
    s->clen += (uint32_t)k;
    return true;
}

static size_t cmd_consume(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t k = lf != NULL ? (size_t)(lf - p) : n;

    if (!s->cover && s->clen + k > s->lim.line_max)
        over_start(s, p, k);
    /* no memory to hold the line: streamed rather than lost */
    if (!s->cover && (lf == NULL || s->clen > 0) && !line_hold(s, p, k))
        over_start(s, p, k);
    if (s->cover)
        over_write(s, p, k);
    if (lf == NULL)
        return n;
    s->lstop = p + k;
    if (s->cover) {
        over_end(s);
    } else if (s->clen > 0) {
        size_t len = s->clen;
        s->clen = 0;
        s->lraw = len;
        line(s, s->cbuf, len);
    } else {
        s->lraw = k;
        line(s, p, k);
    }
    return k + 1;
}

/* --- client states --------------------------------------------------------------- */

static size_t wait_consume(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    if (s->plen + n > s->lim.line_max) {
        wait_resolve(s, s->wait == K_DATA);
        return 0;
    }
    if (s->plen + n > s->pcap) {
        size_t cap = s->lim.line_max;
        uint8_t *b = realloc(s->pend, cap);
        if (b == NULL) {
            s->rc = DLP_ENOMEM;
            wait_resolve(s, s->wait == K_DATA);
            return 0;
        }
        s->pend = b;
        s->pcap = cap;
    }
    memcpy(s->pend + s->plen, p, n);
    s->plen += n;
    return n;
}

static void data_end(dlp_smtp_t *s)
{
    msg_end(s);
    s->cst = C_CMD;
    push(s, K_OTHER); /* the reply to the message */
}

/* The message after DATA: dot-unstuffed until CRLF.CRLF. */
static size_t data_consume(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    size_t i = 0, run = 0; /* p[run, i) not yet passed on */

    while (i < n) {
        uint8_t c = p[i];
        switch (s->dst) {
        case D_MID: {
            const uint8_t *cr = memchr(p + i, '\r', n - i);
            i = cr != NULL ? (size_t)(cr - p) + 1 : n;
            if (cr != NULL)
                s->dst = D_CR;
            break;
        }
        case D_CR:
            i++;
            s->dst = c == '\n' ? D_BOL : c == '\r' ? D_CR : D_MID;
            break;
        case D_BOL:
            if (c == '.') {
                msg_write(s, p + run, i - run);
                run = ++i;
                s->dst = D_DOT;
            } else {
                i++;
                s->dst = c == '\r' ? D_CR : D_MID;
            }
            break;
        case D_DOT:
            if (c == '\r') {
                run = ++i;
                s->dst = D_DOTCR;
            } else {
                s->dst = D_MID;
            }
            break;
        default: /* D_DOTCR */
            if (c == '\n') {
                data_end(s);
                return i + 1;
            }
            msg_write(s, (const uint8_t *)"\r", 1);
            s->dst = D_CR;
            break;
        }
    }
    msg_write(s, p + run, n - run);
    return n;
}

static size_t bdat_consume(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    size_t k = s->bdat_left < n ? (size_t)s->bdat_left : n;

    msg_write(s, p, k);
    s->bdat_left -= k;
    if (s->bdat_left == 0)
        bdat_chunk_done(s);
    return k;
}

/* After STARTTLS's 220: TLS (a handshake record), or more plain text to read. */
static size_t tls_consume(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    if (p[0] != 0x16) {
        s->cst = C_CMD;
        return 0;
    }
    note(s, 0, DLP_NOTE_ENCRYPTED, 0);
    note(s, 1, DLP_NOTE_ENCRYPTED, 0);
    s->done = 1;
    return n;
}

static void client_feed(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    while (n > 0 && !s->done) {
        size_t used;
        switch (s->cst) {
        case C_CMD:
            used = cmd_consume(s, p, n);
            break;
        case C_WAIT:
            used = wait_consume(s, p, n);
            break;
        case C_DATA:
            used = data_consume(s, p, n);
            break;
        case C_TLS:
            used = tls_consume(s, p, n);
            break;
        default:
            used = bdat_consume(s, p, n);
            break;
        }
        p += used;
        n -= used;
    }
}

/* --- replies ----------------------------------------------------------------------- */

static void reply(dlp_smtp_t *s, int code)
{
    int head = s->qn > 0 ? s->q[s->qhead] : K_NONE;
    bool waiting = s->cst == C_WAIT && s->wait != K_AUTH; /* on DATA or STARTTLS */

    if (!s->greeted) {
        s->greeted = 1;
        if (code == 220 && head != K_STARTTLS)
            return;
    }
    if (code == 334) {
        auth_challenge(s);
        return;
    }
    if (waiting && ((s->wait == K_DATA && code == 354) || (s->wait == K_STARTTLS && code == 220))) {
        queue_clear(s);
        wait_resolve(s, true);
        return;
    }
    /* not queued, the waiting command is the last of q_over: earlier replies are not its own */
    if (waiting && code >= 400 && (head == s->wait || (head == K_NONE && s->q_over <= 1))) {
        queue_clear(s);
        wait_resolve(s, false);
        return;
    }
    if (head == K_NONE) { /* a reply to a command not seen (gap) or not queued */
        if (s->q_over > 0)
            s->q_over--;
        return;
    }
    pop(s);
    if (head == K_AUTH)
        auth_end(s);
}

static void reply_line(dlp_smtp_t *s)
{
    const uint8_t *c = s->scode;

    if (s->sn < 3 || !isdigit(c[0]) || !isdigit(c[1]) || !isdigit(c[2]))
        return;
    if (s->sn == 4 && c[3] != ' ' && c[3] != '\r')
        return; /* '-': more lines follow */
    reply(s, (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0'));
}

static void server_feed(dlp_smtp_t *s, const uint8_t *p, size_t n)
{
    while (n > 0 && !s->done) {
        const uint8_t *lf = memchr(p, '\n', n);
        size_t k = lf != NULL ? (size_t)(lf - p) : n;

        for (size_t i = 0; i < k && s->sn < sizeof(s->scode); i++)
            s->scode[s->sn++] = p[i];
        if (lf == NULL)
            return;
        if (!s->sdrop)
            reply_line(s);
        s->sdrop = 0;
        s->sn = 0;
        p += k + 1;
        n -= k + 1;
    }
}

/* --- public ------------------------------------------------------------------------- */

dlp_smtp_t *dlp_smtp_new(const dlp_content_sink_t *sink, void *const ctx[2],
                         const dlp_app_limits_t *l)
{
    dlp_smtp_t *s;

    if (sink == NULL || ctx == NULL || l == NULL)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->sink = sink;
    s->ctx[0] = ctx[0];
    s->ctx[1] = ctx[1];
    s->lim = *l;
    if (s->lim.line_max == 0)
        s->lim.line_max = 1;
    return s;
}

void dlp_smtp_free(dlp_smtp_t *s)
{
    if (s == NULL)
        return;
    over_close(s); /* dlp_smtp_end() not called: its scan still ends */
    dlp_mime_free(s->msg);
    free(s->cbuf);
    free(s->pend);
    free(s);
}

dlp_rc_t dlp_smtp_write(dlp_smtp_t *s, int dir, const uint8_t *p, size_t n)
{
    dlp_rc_t rc;

    if (s == NULL || (dir != 0 && dir != 1) || (p == NULL && n > 0))
        return DLP_EINVAL;
    if (s->done)
        return DLP_DONE;
    if (s->ended[dir])
        return DLP_OK;
    if (dir == 0)
        client_feed(s, p, n);
    else
        server_feed(s, p, n);
    if (s->done)
        return DLP_DONE;
    rc = s->rc;
    s->rc = DLP_OK;
    return rc;
}

/*
 * No reply will tell what the held bytes were: AUTH is over, DATA accepted, STARTTLS
 * accepted (so the held bytes themselves tell TLS from plain text, C_TLS). Each replay
 * holds at most a suffix of the bytes it replays (a later DATA's message), so this ends.
 * Before ended[0] is set, which stops a message from starting.
 */
static void client_end_waits(dlp_smtp_t *s)
{
    while (!s->done && s->cst == C_WAIT &&
           (s->wait == K_AUTH || ((s->wait == K_DATA || s->wait == K_STARTTLS) && s->plen > 0)))
        wait_resolve(s, s->wait != K_AUTH);
}

static void client_gap(dlp_smtp_t *s, uint64_t len)
{
    /* held bytes came before the lost ones: read them first, as no reply can place them now */
    client_end_waits(s);
    if (s->done)
        return;
    if (s->cst == C_CMD) /* before auth_stop: a part of an answer is not scanned */
        line_flush(s);
    /* the lost bytes may have held an answer or a command: no later line is an answer */
    auth_stop(s);
    switch (s->cst) {
    case C_TLS: /* the byte that tells TLS from plain text may be lost: read on as after a gap */
        s->cst = C_CMD;
        /* fall through */
    case C_CMD:
        s->cdrop = 1;
        s->cresync = 1;
        break;
    case C_WAIT: /* DATA or STARTTLS, nothing held */
        s->wait_gap = 1;
        break;
    case C_DATA:
        msg_end(s);
        s->dst = D_MID;
        break;
    default: /* C_BDAT */
        msg_end(s);
        s->msg_skip = !s->bdat_last;
        if (len < s->bdat_left) {
            s->bdat_left -= len;
            break;
        }
        s->bdat_left = 0;
        s->msg_skip = 0;
        s->cst = C_CMD;
        s->cdrop = 1;
        s->cresync = 1;
        break;
    }
}

void dlp_smtp_gap(dlp_smtp_t *s, int dir, uint64_t len)
{
    if (s == NULL || (dir != 0 && dir != 1) || s->done || s->ended[dir])
        return;
    if (dir == 0) {
        client_gap(s, len);
        note(s, 0, DLP_NOTE_GAP, len);
        return;
    }
    note(s, 1, DLP_NOTE_GAP, len);
    s->sdrop = 1;
    s->sn = 0;
    queue_clear(s);
    if (s->cst == C_WAIT)
        wait_resolve(s, s->wait == K_DATA);
}

void dlp_smtp_end(dlp_smtp_t *s, int dir)
{
    if (s == NULL || (dir != 0 && dir != 1) || s->ended[dir])
        return;
    if (dir == 0 && !s->done) {
        client_end_waits(s);
        if (s->cst == C_CMD)
            line_flush(s);
        msg_end(s);
    }
    s->ended[dir] = 1;
}

size_t dlp_smtp_mem(const dlp_smtp_t *s)
{
    if (s == NULL)
        return 0;
    return sizeof(*s) + (s->cbuf != NULL ? s->lim.line_max : 0) + s->pcap + dlp_mime_mem(s->msg);
}

size_t dlp_smtp_replaying(const dlp_smtp_t *s)
{
    return s != NULL && s->replay ? s->rlen : 0;
}
