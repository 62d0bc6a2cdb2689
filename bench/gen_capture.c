/*
 * gen_capture - writes a large, deterministic synthetic egress capture for `make bench`:
 * classic pcap (microsecond timestamps, linktype Ethernet), IPv4, TCP and UDP.
 *
 * Model: --flows slots run concurrently; each slot plays one flow at a time and starts the
 * next one a short gap after the previous one closed. Every flow keeps its own simulated
 * clock; a binary min-heap over the slots picks the earliest event, so the packets of all
 * flows interleave and timestamps never go backwards. A TCP flow is a handshake, one to
 * four request/response messages, then a FIN (rarely RST) close. Data is paced per flow and
 * limited by a window of unacknowledged segments; the receiver acks every second segment
 * after the delay it shows at the capture point, which sits at the inside edge: a full RTT
 * when the outside server acks, well under a millisecond when the inside client does.
 *
 * Invariants: per flow and direction, sequence numbers are contiguous (except for the
 * deliberate out-of-order pairs and duplicate retransmissions, about 0.5 % of data
 * segments), acks never pass what the peer sent, every IPv4, TCP and UDP checksum is
 * correct. New flows stop starting once the bytes written plus the bytes the open flows
 * still have to send reach the target, so every flow in the file runs to its close.
 * Single thread; all randomness comes from one xorshift64* stream seeded by --seed.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GEN_MSS 1448u
#define GEN_RING 256u
#define GEN_WND_MAX 180u
#define GEN_HDR_MAX 1024u
#define GEN_STAGE_MAX 512u
#define GEN_EXCH_MAX 4u
#define GEN_CLIENTS 4096u
#define GEN_FLOWS_MAX 50000u
#define GEN_MB_MAX 100000u
#define GEN_OUTBUF (8u << 20)
#define GEN_FRAME_MAX 1600u
#define GEN_T_INF UINT64_MAX
#define GEN_EPOCH_US (1705309200ull * 1000000ull) /* 2024-01-15 09:00:00 UTC */
#define GEN_DELACK_US 40000u
#define GEN_HDR_EST 350u

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

enum { CLI = 0, SRV = 1 };
enum { FT_DNS, FT_BROWSE, FT_API, FT_UPLOAD, FT_DOWNLOAD, FT_OPAQUE, FT_COUNT };
enum { B_NONE, B_LOREM, B_JSON, B_CSV, B_HTML, B_FORM, B_BIN, B_TLS };
enum { S_IDLE, S_GAP, S_SYN, S_SYNACK, S_ACK, S_MSG, S_FIN_A, S_FIN_B, S_FIN_C, S_DNS_Q, S_DNS_R };
enum { MAGIC_RAW, MAGIC_PNG, MAGIC_JPEG, MAGIC_ZIP, MAGIC_COUNT };

static const char *const type_name[FT_COUNT] = {"dns",    "http-get", "http-api",
                                                "upload", "download", "opaque-443"};
/* Per mille of new flows. */
static const unsigned type_weight[FT_COUNT] = {180, 640, 120, 10, 8, 42};

static const char *const words[64] = {
    "lorem",    "ipsum",    "dolor",     "sit",     "amet",      "consectetur", "adipiscing",
    "elit",     "sed",      "do",        "eiusmod", "tempor",    "incididunt",  "ut",
    "labore",   "et",       "dolore",    "magna",   "aliqua",    "enim",        "ad",
    "minim",    "veniam",   "quis",      "nostrud", "ullamco",   "laboris",     "nisi",
    "aliquip",  "ex",       "ea",        "commodo", "consequat", "duis",        "aute",
    "irure",    "in",       "voluptate", "velit",   "esse",      "cillum",      "fugiat",
    "nulla",    "pariatur", "excepteur", "sint",    "occaecat",  "cupidatat",   "non",
    "proident", "sunt",     "culpa",     "qui",     "officia",   "deserunt",    "mollit",
    "anim",     "id",       "est",       "laborum", "invoice",   "report",      "account",
    "order"};
static const char *const first_names[16] = {"anna",  "ben",  "clara", "david", "emma",  "felix",
                                            "greta", "hugo", "ines",  "jonas", "karin", "lukas",
                                            "mia",   "noah", "olga",  "paul"};
static const char *const last_names[16] = {
    "schmidt",  "mueller", "garcia", "rossi", "dubois", "novak",   "jensen", "smith",
    "kowalski", "silva",   "nguyen", "kim",   "meyer",  "fischer", "weber",  "lopez"};
static const char *const cities[16] = {"Berlin", "Madrid", "Rome",   "Paris",  "Prague", "Oslo",
                                       "Lisbon", "Vienna", "Dublin", "Warsaw", "Seoul",  "Austin",
                                       "Lyon",   "Munich", "Porto",  "Zurich"};
static const char *const tlds[4] = {"example.com", "example.net", "example.org", "example"};
static const char *const agents[4] = {
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36"),
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "curl/7.88.1",
    "python-requests/2.31.0"};

typedef struct {
    uint64_t s;
} rng_t;

typedef struct {
    uint8_t *p;
    uint32_t len, cap;
} sbuf_t;

typedef struct {
    uint64_t t;
    uint32_t ackv; /* cumulative ack the receiver may send once it holds this segment */
} ring_ent_t;

typedef struct {
    uint32_t len;
    uint8_t body;
} part_t;

typedef struct {
    part_t req, resp;
} exch_t;

typedef struct {
    uint8_t dir, body, magic;
    uint32_t hdr_len, hdr_off;
    uint64_t body_left, body_pos;
    uint32_t st_len, st_off, rec_left;
    uint8_t hdr[GEN_HDR_MAX];
    uint8_t stage[GEN_STAGE_MAX];
} msg_t;

typedef struct {
    uint32_t ip, nxt, ackv, ts_off, ts_last;
    uint32_t gap_us, wnd_segs, delay_us; /* pacing, window, reaction seen at the sensor */
    uint16_t port, ipid, win;
    uint8_t ttl;
    uint8_t mac[6];
} side_t;

typedef struct {
    uint64_t next_t, data_t, est_left;
    uint8_t type, state, closer, rst, nexch, cur;
    side_t side[2];
    exch_t ex[GEN_EXCH_MAX];
    uint32_t ring_head, ring_len, proc_us;
    ring_ent_t ring[GEN_RING];
    uint32_t held_len, held_seq, held_ackv;
    uint8_t held[GEN_MSS];
    char host[48];
    msg_t msg;
} flow_t;

typedef struct {
    uint32_t ip;
    uint16_t next_port;
} client_t;

typedef struct {
    uint64_t target, mb, seed;
    uint32_t nflows;
    const char *path;
} opts_t;

typedef struct {
    rng_t rng;
    opts_t o;
    FILE *out;
    uint8_t *buf;
    size_t buf_len;
    flow_t *flows;
    uint32_t *heap;
    client_t clients[GEN_CLIENTS];
    uint64_t written, pending, pkts, payload, last_t, stop_at;
    uint64_t started[FT_COUNT], done[FT_COUNT], ooo, retx, data_segs;
    int stopping, io_err;
    uint8_t seg[GEN_MSS];
} gen_t;

/* ---- randomness --------------------------------------------------------------------- */

static uint64_t rnd64(gen_t *g)
{
    g->rng.s ^= g->rng.s >> 12;
    g->rng.s ^= g->rng.s << 25;
    g->rng.s ^= g->rng.s >> 27;
    return g->rng.s * 0x2545F4914F6CDD1Dull;
}

static uint32_t rnd_below(gen_t *g, uint32_t n)
{
    return (uint32_t)(((rnd64(g) >> 32) * (uint64_t)n) >> 32);
}

static double rnd_unit(gen_t *g)
{
    return (double)(rnd64(g) >> 11) * (1.0 / 9007199254740992.0);
}

static uint64_t rnd_logu(gen_t *g, double lo, double hi)
{
    return (uint64_t)(lo * exp(rnd_unit(g) * log(hi / lo)));
}

static uint64_t rnd_exp(gen_t *g, double mean)
{
    return (uint64_t)(-mean * log(1.0 - rnd_unit(g)));
}

static uint64_t jitter(gen_t *g, uint32_t us)
{
    return (uint64_t)us * (768u + rnd_below(g, 512u)) / 1024u;
}

static const char *pick(gen_t *g, const char *const *a, uint32_t n)
{
    return a[rnd_below(g, n)];
}

/* ---- byte buffers --------------------------------------------------------------------- */

static void sb_mem(sbuf_t *b, const void *s, size_t n)
{
    if (n > b->cap - b->len)
        n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += (uint32_t)n;
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_mem(b, s, strlen(s));
}

static void sb_ch(sbuf_t *b, char c)
{
    if (b->len < b->cap)
        b->p[b->len++] = (uint8_t)c;
}

static void sb_num(sbuf_t *b, uint64_t v, unsigned width)
{
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < sizeof(tmp));
    while (n < width && n < sizeof(tmp))
        tmp[n++] = '0';
    while (n > 0)
        sb_ch(b, tmp[--n]);
}

static void sb_hex(sbuf_t *b, uint64_t v, unsigned digits)
{
    static const char hx[] = "0123456789abcdef";
    while (digits-- > 0)
        sb_ch(b, hx[(v >> (digits * 4)) & 15u]);
}

static void sb_be16(sbuf_t *b, uint32_t v)
{
    sb_ch(b, (char)(v >> 8));
    sb_ch(b, (char)v);
}

/* ---- text that looks like what people upload ------------------------------------------ */

static void sb_words(gen_t *g, sbuf_t *b, unsigned n, char sep)
{
    for (unsigned i = 0; i < n; i++) {
        if (i > 0)
            sb_ch(b, sep);
        if (rnd_below(g, 7) == 0)
            sb_num(b, rnd64(g) % 100000u, 0);
        else
            sb_str(b, words[rnd64(g) & 63u]);
    }
}

static void sb_email(gen_t *g, sbuf_t *b, const char *first, const char *last)
{
    sb_str(b, first);
    sb_ch(b, '.');
    sb_str(b, last);
    sb_num(b, rnd_below(g, 100), 0);
    sb_str(b, "@mail.");
    sb_str(b, pick(g, tlds, 4));
}

static void sb_card(gen_t *g, sbuf_t *b)
{
    uint8_t d[16];
    unsigned sum = 0;
    d[0] = 4;
    for (unsigned i = 1; i < 15; i++)
        d[i] = (uint8_t)rnd_below(g, 10);
    for (unsigned i = 0; i < 15; i++) {
        unsigned v = d[14 - i];
        if (i % 2 == 0)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    d[15] = (uint8_t)((10 - sum % 10) % 10);
    int spaced = rnd_below(g, 4) == 0;
    for (unsigned i = 0; i < 16; i++) {
        if (spaced && i > 0 && i % 4 == 0)
            sb_ch(b, ' ');
        sb_ch(b, (char)('0' + d[i]));
    }
}

static void sb_ssn(gen_t *g, sbuf_t *b)
{
    uint32_t area = 1 + rnd_below(g, 898);
    if (area == 666)
        area = 667;
    sb_num(b, area, 3);
    sb_ch(b, '-');
    sb_num(b, 1 + rnd_below(g, 99), 2);
    sb_ch(b, '-');
    sb_num(b, 1 + rnd_below(g, 9999), 4);
}

static void sb_iban_de(gen_t *g, sbuf_t *b)
{
    char bban[18];
    unsigned mod = 0;
    for (unsigned i = 0; i < 18; i++) {
        bban[i] = (char)('0' + rnd_below(g, 10));
        mod = (mod * 10 + (unsigned)(bban[i] - '0')) % 97;
    }
    static const unsigned tail[6] = {1, 3, 1, 4, 0, 0}; /* "DE00" as digits */
    for (unsigned i = 0; i < 6; i++)
        mod = (mod * 10 + tail[i]) % 97;
    sb_str(b, "DE");
    sb_num(b, 98 - mod, 2);
    sb_mem(b, bban, sizeof(bban));
}

/* About one record in 400 carries something a DLP rule is written for. */
static void sb_sensitive(gen_t *g, sbuf_t *b, int json)
{
    uint32_t k = rnd_below(g, 3);
    static const char *const keys[3] = {"card", "ssn", "iban"};
    if (json) {
        sb_str(b, ",\"");
        sb_str(b, keys[k]);
        sb_str(b, "\":\"");
    } else {
        sb_str(b, keys[k]);
        sb_ch(b, ' ');
    }
    if (k == 0)
        sb_card(g, b);
    else if (k == 1)
        sb_ssn(g, b);
    else
        sb_iban_de(g, b);
    if (json)
        sb_ch(b, '"');
}

static void line_json(gen_t *g, sbuf_t *b)
{
    const char *first = pick(g, first_names, 16), *last = pick(g, last_names, 16);
    sb_str(b, "{\"id\":");
    sb_num(b, rnd64(g) % 10000000u, 0);
    sb_str(b, ",\"name\":\"");
    sb_str(b, first);
    sb_ch(b, ' ');
    sb_str(b, last);
    sb_str(b, "\",\"email\":\"");
    sb_email(g, b, first, last);
    sb_str(b, "\",\"city\":\"");
    sb_str(b, pick(g, cities, 16));
    sb_str(b, "\",\"amount\":");
    sb_num(b, rnd_below(g, 100000), 0);
    sb_ch(b, '.');
    sb_num(b, rnd_below(g, 100), 2);
    sb_str(b, ",\"created\":\"2024-01-");
    sb_num(b, 1 + rnd_below(g, 28), 2);
    sb_ch(b, 'T');
    sb_num(b, rnd_below(g, 24), 2);
    sb_ch(b, ':');
    sb_num(b, rnd_below(g, 60), 2);
    sb_str(b, ":00Z\",\"note\":\"");
    sb_words(g, b, 3 + rnd_below(g, 10), ' ');
    sb_ch(b, '"');
    if (rnd_below(g, 400) == 0)
        sb_sensitive(g, b, 1);
    sb_str(b, "}\n");
}

static void line_csv(gen_t *g, sbuf_t *b, uint64_t pos)
{
    const char *first = pick(g, first_names, 16), *last = pick(g, last_names, 16);
    if (pos == 0)
        sb_str(b, "id,first_name,last_name,email,phone,amount,city,comment\n");
    sb_num(b, rnd64(g) % 10000000u, 0);
    sb_ch(b, ',');
    sb_str(b, first);
    sb_ch(b, ',');
    sb_str(b, last);
    sb_ch(b, ',');
    sb_email(g, b, first, last);
    sb_str(b, ",+1-555-");
    sb_num(b, rnd_below(g, 10000), 4);
    sb_ch(b, ',');
    sb_num(b, rnd_below(g, 5000), 0);
    sb_ch(b, '.');
    sb_num(b, rnd_below(g, 100), 2);
    sb_ch(b, ',');
    sb_str(b, pick(g, cities, 16));
    sb_ch(b, ',');
    sb_words(g, b, 2 + rnd_below(g, 6), ' ');
    if (rnd_below(g, 400) == 0) {
        sb_ch(b, ' ');
        sb_sensitive(g, b, 0);
    }
    sb_ch(b, '\n');
}

static void line_lorem(gen_t *g, sbuf_t *b)
{
    unsigned start = b->len;
    sb_words(g, b, 6 + rnd_below(g, 12), ' ');
    if (b->p[start] >= 'a' && b->p[start] <= 'z')
        b->p[start] = (uint8_t)(b->p[start] - 'a' + 'A');
    sb_str(b, rnd_below(g, 4) == 0 ? ".\n" : ". ");
}

static void line_html(gen_t *g, sbuf_t *b, uint64_t pos)
{
    if (pos == 0)
        sb_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<title>Lorem ipsum</title></head>\n<body>\n");
    sb_str(b, "<div class=\"item\"><h2><a href=\"/");
    sb_str(b, words[rnd64(g) & 63u]);
    sb_ch(b, '/');
    sb_num(b, rnd_below(g, 100000), 0);
    sb_str(b, "\">");
    sb_words(g, b, 2 + rnd_below(g, 4), ' ');
    sb_str(b, "</a></h2><p>");
    sb_words(g, b, 8 + rnd_below(g, 20), ' ');
    sb_str(b, "</p></div>\n");
}

static void line_form(gen_t *g, sbuf_t *b)
{
    const char *first = pick(g, first_names, 16), *last = pick(g, last_names, 16);
    sb_str(b, "name=");
    sb_str(b, first);
    sb_ch(b, '+');
    sb_str(b, last);
    sb_str(b, "&email=");
    sb_str(b, first);
    sb_str(b, "%40mail.example.com&comment=");
    sb_words(g, b, 4 + rnd_below(g, 12), '+');
    if (rnd_below(g, 400) == 0) {
        sb_str(b, "&ref=");
        uint32_t from = b->len;
        sb_sensitive(g, b, 0);
        for (uint32_t i = from; i < b->len; i++)
            b->p[i] = b->p[i] == ' ' ? '+' : b->p[i];
    }
    sb_ch(b, '&');
}

static void fill_random(gen_t *g, sbuf_t *b, uint32_t n)
{
    while (n >= 8 && b->cap - b->len >= 8) {
        uint64_t r = rnd64(g);
        memcpy(b->p + b->len, &r, 8);
        b->len += 8;
        n -= 8;
    }
}

static void chunk_binary(gen_t *g, msg_t *m, sbuf_t *b)
{
    static const uint8_t png[16] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                    0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    static const uint8_t jpeg[12] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1};
    static const uint8_t zip[10] = {'P', 'K', 3, 4, 20, 0, 8, 0, 8, 0};
    if (m->body_pos == 0 && m->magic == MAGIC_PNG)
        sb_mem(b, png, sizeof(png));
    else if (m->body_pos == 0 && m->magic == MAGIC_JPEG)
        sb_mem(b, jpeg, sizeof(jpeg));
    else if (m->body_pos == 0 && m->magic == MAGIC_ZIP)
        sb_mem(b, zip, sizeof(zip));
    fill_random(g, b, 256);
}

/* TLS-looking application data: a record header every 16 KB, random inside. */
static void chunk_tls(gen_t *g, msg_t *m, sbuf_t *b)
{
    if (m->rec_left == 0) {
        uint64_t rest = m->body_left > 5 ? m->body_left - 5 : 0;
        m->rec_left = (uint32_t)(rest < 16384 ? rest : 16384);
        sb_ch(b, 0x17);
        sb_be16(b, 0x0303);
        sb_be16(b, m->rec_left);
        if (m->rec_left == 0)
            return;
    }
    uint32_t n = m->rec_left < 256 ? m->rec_left : 256;
    uint64_t r = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            r = rnd64(g);
        sb_ch(b, (char)(r >> (8 * (i % 8))));
    }
    m->rec_left -= n;
}

static void body_refill(gen_t *g, msg_t *m)
{
    sbuf_t b = {m->stage, 0, GEN_STAGE_MAX};
    switch (m->body) {
    case B_JSON:
        line_json(g, &b);
        break;
    case B_CSV:
        line_csv(g, &b, m->body_pos);
        break;
    case B_HTML:
        line_html(g, &b, m->body_pos);
        break;
    case B_FORM:
        line_form(g, &b);
        break;
    case B_BIN:
        chunk_binary(g, m, &b);
        break;
    case B_TLS:
        chunk_tls(g, m, &b);
        break;
    default:
        line_lorem(g, &b);
        break;
    }
    m->st_len = b.len;
    m->st_off = 0;
}

static uint64_t msg_left(const msg_t *m)
{
    return (uint64_t)(m->hdr_len - m->hdr_off) + m->body_left;
}

static uint32_t msg_take(gen_t *g, msg_t *m, uint8_t *dst, uint32_t want)
{
    uint32_t n = 0;
    if (m->hdr_off < m->hdr_len) {
        uint32_t k = m->hdr_len - m->hdr_off < want ? m->hdr_len - m->hdr_off : want;
        memcpy(dst, m->hdr + m->hdr_off, k);
        m->hdr_off += k;
        n = k;
    }
    while (n < want && m->body_left > 0) {
        if (m->st_off == m->st_len)
            body_refill(g, m);
        uint64_t k = m->st_len - m->st_off;
        if (k > want - n)
            k = want - n;
        if (k > m->body_left)
            k = m->body_left;
        memcpy(dst + n, m->stage + m->st_off, (size_t)k);
        m->st_off += (uint32_t)k;
        m->body_left -= k;
        m->body_pos += k;
        n += (uint32_t)k;
    }
    return n;
}

/* ---- HTTP and DNS messages ------------------------------------------------------------ */

static const char *content_type(const msg_t *m)
{
    static const char *const bin[MAGIC_COUNT] = {"application/octet-stream", "image/png",
                                                 "image/jpeg", "application/zip"};
    switch (m->body) {
    case B_JSON:
        return "application/json";
    case B_CSV:
        return "text/csv";
    case B_HTML:
        return "text/html; charset=utf-8";
    case B_FORM:
        return "application/x-www-form-urlencoded";
    case B_BIN:
        return bin[m->magic];
    default:
        return "text/plain; charset=utf-8";
    }
}

static void sb_body_headers(sbuf_t *b, const msg_t *m)
{
    if (m->body == B_NONE)
        return;
    sb_str(b, "Content-Type: ");
    sb_str(b, content_type(m));
    sb_str(b, "\r\nContent-Length: ");
    sb_num(b, m->body_left, 0);
    sb_str(b, "\r\n");
}

static void http_request(gen_t *g, flow_t *f, sbuf_t *b)
{
    static const char *const upload_paths[4] = {"/upload", "/api/v2/files", "/sync/push",
                                                "/backup/put"};
    const msg_t *m = &f->msg;
    sb_str(b, m->body == B_NONE ? "GET " : "POST ");
    if (f->type == FT_UPLOAD) {
        sb_str(b, pick(g, upload_paths, 4));
    } else {
        sb_str(b, f->type == FT_API ? "/api/v1/" : "/");
        sb_str(b, words[rnd64(g) & 63u]);
        sb_ch(b, '/');
        sb_str(b, words[rnd64(g) & 63u]);
    }
    sb_str(b, f->type == FT_DOWNLOAD ? ".bin?id=" : "?id=");
    sb_num(b, rnd64(g) % 1000000u, 0);
    sb_str(b, " HTTP/1.1\r\nHost: ");
    sb_str(b, f->host);
    sb_str(b, "\r\nUser-Agent: ");
    sb_str(b, agents[f->side[CLI].ip & 3u]);
    sb_str(b, "\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: sid=");
    sb_hex(b, rnd64(g), 16);
    sb_hex(b, rnd64(g), 16);
    sb_str(b, "\r\nConnection: keep-alive\r\n");
    sb_body_headers(b, m);
    sb_str(b, "\r\n");
}

static void http_response(const flow_t *f, sbuf_t *b, uint64_t t)
{
    char date[64];
    time_t secs = (time_t)(t / 1000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        date[0] = '\0';
    sb_str(b, f->type == FT_UPLOAD ? "HTTP/1.1 201 Created\r\n" : "HTTP/1.1 200 OK\r\n");
    sb_str(b, "Date: ");
    sb_str(b, date);
    sb_str(b, "\r\nServer: nginx/1.24.0\r\nCache-Control: no-store\r\n");
    sb_body_headers(b, &f->msg);
    sb_str(b, "Connection: keep-alive\r\n\r\n");
}

static void dns_name(gen_t *g, sbuf_t *b)
{
    const char *labels[4] = {NULL, NULL, "example", "com"};
    labels[0] = words[rnd64(g) & 63u];
    labels[1] = words[rnd64(g) & 63u];
    unsigned first = rnd_below(g, 2);
    for (unsigned i = first; i < 4; i++) {
        size_t n = strlen(labels[i]);
        sb_ch(b, (char)n);
        sb_mem(b, labels[i], n);
    }
    sb_ch(b, 0);
}

/* The query is kept in msg.hdr; the response reuses it. */
static void dns_query(gen_t *g, flow_t *f)
{
    sbuf_t b = {f->msg.hdr, 0, GEN_HDR_MAX};
    sb_be16(&b, rnd_below(g, 65536));
    sb_be16(&b, 0x0100);
    sb_be16(&b, 1);
    sb_be16(&b, 0);
    sb_be16(&b, 0);
    sb_be16(&b, 0);
    dns_name(g, &b);
    f->msg.magic = rnd_below(g, 5) == 0; /* AAAA */
    sb_be16(&b, f->msg.magic ? 28 : 1);
    sb_be16(&b, 1);
    f->msg.hdr_len = b.len;
}

static uint32_t dns_response(gen_t *g, flow_t *f, uint8_t *out)
{
    sbuf_t b = {out, 0, GEN_MSS};
    uint32_t n = 1 + rnd_below(g, 3);
    sb_mem(&b, f->msg.hdr, f->msg.hdr_len);
    out[2] = 0x81;
    out[3] = 0x80;
    out[7] = (uint8_t)n;
    for (uint32_t i = 0; i < n; i++) {
        sb_be16(&b, 0xc00c);
        sb_be16(&b, f->msg.magic ? 28 : 1);
        sb_be16(&b, 1);
        sb_be16(&b, 0);
        sb_be16(&b, 60 + rnd_below(g, 3600));
        sb_be16(&b, f->msg.magic ? 16 : 4);
        if (f->msg.magic) {
            static const uint8_t pfx[15] = {0x20, 0x01, 0x0d, 0xb8};
            sb_mem(&b, pfx, sizeof(pfx));
        } else {
            sb_ch(&b, (char)(rnd_below(g, 2) ? 198 : 203));
            sb_ch(&b, (char)(rnd_below(g, 2) ? 51 : 0));
            sb_ch(&b, (char)(rnd_below(g, 2) ? 100 : 113));
        }
        sb_ch(&b, (char)(1 + rnd_below(g, 254)));
    }
    return b.len;
}

/* ---- pcap output ------------------------------------------------------------------------ */

static void out_flush(gen_t *g)
{
    if (g->buf_len > 0 && fwrite(g->buf, 1, g->buf_len, g->out) != g->buf_len)
        g->io_err = errno != 0 ? errno : EIO;
    g->buf_len = 0;
}

static uint8_t *frame_begin(gen_t *g)
{
    if (GEN_OUTBUF - g->buf_len < GEN_FRAME_MAX + 16)
        out_flush(g);
    return g->buf + g->buf_len + 16;
}

static void frame_end(gen_t *g, uint64_t t, uint32_t len)
{
    uint64_t abs_t = GEN_EPOCH_US + t;
    uint32_t rec[4] = {(uint32_t)(abs_t / 1000000u), (uint32_t)(abs_t % 1000000u), len, len};
    memcpy(g->buf + g->buf_len, rec, sizeof(rec));
    g->buf_len += 16u + len;
    g->written += 16u + len;
    g->pkts++;
    g->last_t = t;
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

/* Native-order 32-bit words summed into 64 bits fold to the same one's complement sum. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
    for (; n >= 4; n -= 4, p += 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        sum += w;
    }
    if (n >= 2) {
        uint16_t h;
        memcpy(&h, p, 2);
        sum += h;
        p += 2;
        n -= 2;
    }
    if (n == 1) {
        uint16_t h = 0;
        memcpy(&h, p, 1);
        sum += h;
    }
    return sum;
}

static void csum_store(uint8_t *at, uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffffu) + (sum >> 16);
    uint16_t c = (uint16_t)~sum;
    memcpy(at, &c, 2);
}

/* Ethernet + IPv4 header from side `from` to the other side; returns the L4 offset. */
static uint32_t put_eth_ip(uint8_t *p, flow_t *f, int from, uint8_t proto, uint32_t l4len)
{
    side_t *s = &f->side[from], *d = &f->side[1 - from];
    memcpy(p, d->mac, 6);
    memcpy(p + 6, s->mac, 6);
    put16(p + 12, 0x0800);
    uint8_t *ip = p + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, 20 + l4len);
    put16(ip + 4, s->ipid++);
    put16(ip + 6, 0x4000);
    ip[8] = s->ttl;
    ip[9] = proto;
    put16(ip + 10, 0);
    put32(ip + 12, s->ip);
    put32(ip + 16, d->ip);
    csum_store(ip + 10, csum_add(0, ip, 20));
    return 34;
}

static uint64_t pseudo_sum(const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
    uint8_t ph[12];
    memcpy(ph, ip + 12, 8);
    ph[8] = 0;
    ph[9] = proto;
    put16(ph + 10, l4len);
    return csum_add(0, ph, sizeof(ph));
}

static uint32_t tcp_options(uint8_t *o, flow_t *f, int from, uint64_t t, int syn)
{
    side_t *s = &f->side[from];
    uint32_t tsval = s->ts_off + (uint32_t)(t / 1000u);
    uint32_t tsecr = (syn && from == CLI) ? 0 : f->side[1 - from].ts_last;
    uint32_t n = 0;
    s->ts_last = tsval;
    if (syn) {
        static const uint8_t mss_sack[6] = {2, 4, 0x05, 0xb4, 4, 2};
        memcpy(o, mss_sack, 6);
        n = 6;
    } else {
        o[0] = 1;
        o[1] = 1;
        n = 2;
    }
    o[n] = 8;
    o[n + 1] = 10;
    put32(o + n + 2, tsval);
    put32(o + n + 6, tsecr);
    n += 10;
    if (syn) {
        static const uint8_t ws[4] = {1, 3, 3, 7};
        memcpy(o + n, ws, 4);
        n += 4;
    }
    return n;
}

static void emit_tcp(gen_t *g, flow_t *f, int from, uint64_t t, uint8_t flags, uint32_t seq,
                     const uint8_t *pl, uint32_t len)
{
    uint8_t *p = frame_begin(g);
    side_t *s = &f->side[from];
    int syn = (flags & TH_SYN) != 0;
    uint8_t *th = p + 34;
    uint32_t optlen = tcp_options(th + 20, f, from, t, syn);
    uint32_t thlen = 20 + optlen, l4len = thlen + len;
    put_eth_ip(p, f, from, 6, l4len);
    put16(th, s->port);
    put16(th + 2, f->side[1 - from].port);
    put32(th + 4, seq);
    put32(th + 8, (flags & TH_ACK) ? s->ackv : 0);
    th[12] = (uint8_t)((thlen / 4) << 4);
    th[13] = flags;
    put16(th + 14, syn ? (from == CLI ? 64240 : 65160) : s->win);
    put16(th + 16, 0);
    put16(th + 18, 0);
    if (len > 0)
        memcpy(th + thlen, pl, len);
    csum_store(th + 16, csum_add(pseudo_sum(p + 14, 6, l4len), th, l4len));
    frame_end(g, t, 34 + l4len);
    g->payload += len;
}

static void emit_udp(gen_t *g, flow_t *f, int from, uint64_t t, const uint8_t *pl, uint32_t len)
{
    uint8_t *p = frame_begin(g);
    uint8_t *uh = p + 34;
    uint32_t l4len = 8 + len;
    put_eth_ip(p, f, from, 17, l4len);
    put16(uh, f->side[from].port);
    put16(uh + 2, f->side[1 - from].port);
    put16(uh + 4, l4len);
    put16(uh + 6, 0);
    memcpy(uh + 8, pl, len);
    csum_store(uh + 6, csum_add(pseudo_sum(p + 14, 17, l4len), uh, l4len));
    if (uh[6] == 0 && uh[7] == 0)
        uh[6] = uh[7] = 0xff;
    frame_end(g, t, 34 + l4len);
    g->payload += len;
}

/* ---- flow setup --------------------------------------------------------------------------- */

static uint8_t pick_type(gen_t *g)
{
    uint32_t r = rnd_below(g, 1000);
    for (uint8_t i = 0; i < FT_COUNT; i++) {
        if (r < type_weight[i])
            return i;
        r -= type_weight[i];
    }
    return FT_BROWSE;
}

static uint8_t pick_text(gen_t *g)
{
    static const uint8_t kinds[8] = {B_JSON, B_JSON,  B_JSON,  B_CSV,
                                     B_CSV,  B_LOREM, B_LOREM, B_FORM};
    return kinds[rnd_below(g, 8)];
}

static part_t part(gen_t *g, double lo, double hi, uint8_t body)
{
    part_t p = {(uint32_t)rnd_logu(g, lo, hi), body};
    return p;
}

static void plan_exchange(gen_t *g, flow_t *f, exch_t *e)
{
    static const part_t none = {0, B_NONE};
    uint32_t r = rnd_below(g, 100);
    switch (f->type) {
    case FT_BROWSE:
        e->req = none;
        e->resp = part(g, 200, 24000, r < 55 ? B_HTML : r < 80 ? B_JSON : B_BIN);
        break;
    case FT_API:
        e->req = part(g, 100, 8000, r < 85 ? B_JSON : B_FORM);
        e->resp = part(g, 50, 1500, B_JSON);
        break;
    case FT_UPLOAD:
        e->req = part(g, 50e3, 5e6, r < 70 ? pick_text(g) : B_BIN);
        e->resp = part(g, 60, 400, B_JSON);
        break;
    case FT_DOWNLOAD:
        e->req = none;
        e->resp = part(g, 100e3, 2e6, r < 60 ? B_BIN : B_CSV);
        break;
    default:
        e->req = part(g, 200, 2000, B_TLS);
        e->resp = part(g, 500, 64000, B_TLS);
        break;
    }
}

static void make_host(gen_t *g, flow_t *f)
{
    sbuf_t b = {(uint8_t *)f->host, 0, sizeof(f->host) - 1};
    static const char *const sub[4] = {"www", "api", "cdn", "files"};
    sb_str(&b, sub[f->type == FT_API ? 1 : f->type == FT_UPLOAD ? 3 : rnd_below(g, 4)]);
    sb_ch(&b, '.');
    sb_str(&b, words[rnd64(g) & 63u]);
    sb_ch(&b, '.');
    sb_str(&b, pick(g, tlds, 3));
    f->host[b.len] = '\0';
}

static uint32_t outside_ip(gen_t *g)
{
    uint32_t net = rnd_below(g, 2) ? 0xC6336400u : 0xCB007100u; /* 198.51.100/24 203.0.113/24 */
    return net | (1 + rnd_below(g, 254));
}

static void setup_sides(gen_t *g, flow_t *f)
{
    static const uint8_t router[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x01};
    client_t *c = &g->clients[rnd_below(g, GEN_CLIENTS)];
    side_t *cs = &f->side[CLI], *ss = &f->side[SRV];
    uint32_t rtt = (uint32_t)rnd_logu(g, 2000, 180000);
    memset(f->side, 0, sizeof(f->side));
    cs->ip = c->ip;
    cs->port = c->next_port;
    c->next_port = c->next_port >= 60999 ? 32768 : (uint16_t)(c->next_port + 1);
    cs->mac[0] = 0x02;
    put32(cs->mac + 2, c->ip);
    memcpy(ss->mac, router, 6);
    ss->ip = f->type == FT_DNS ? (rnd_below(g, 2) ? 0xC6336435u : 0xCB007135u) : outside_ip(g);
    ss->port = f->type == FT_DNS ? 53 : f->type == FT_OPAQUE ? 443 : rnd_below(g, 8) ? 80 : 8080;
    cs->ttl = 64;
    ss->ttl = (uint8_t)(rnd_below(g, 2) ? 64 - 6 - rnd_below(g, 14) : 128 - 8 - rnd_below(g, 10));
    cs->delay_us = (uint32_t)rnd_logu(g, 30, 400);
    ss->delay_us = rtt;
    cs->gap_us = (uint32_t)rnd_logu(g, 15, 1500);
    ss->gap_us = (uint32_t)rnd_logu(g, 12, 1000);
    cs->wnd_segs = (uint32_t)rnd_logu(g, 8, GEN_WND_MAX);
    ss->wnd_segs = (uint32_t)rnd_logu(g, 8, GEN_WND_MAX);
    for (int i = 0; i < 2; i++) {
        side_t *s = &f->side[i];
        /* one flow in a hundred starts just below 2^32, so sequence numbers wrap */
        if (rnd_below(g, 100) == 0)
            s->nxt = 0u - (uint32_t)rnd_logu(g, 1000, 4e6);
        else
            s->nxt = (uint32_t)rnd64(g);
        s->ts_off = (uint32_t)rnd64(g);
        s->ipid = (uint16_t)rnd64(g);
        s->win = (uint16_t)(256 + rnd_below(g, 1800));
    }
}

static void flow_start(gen_t *g, flow_t *f, uint64_t t)
{
    f->type = pick_type(g);
    f->ring_head = f->ring_len = 0;
    f->held_len = 0;
    f->cur = 0;
    setup_sides(g, f);
    make_host(g, f);
    f->est_left = 0;
    if (f->type == FT_DNS) {
        f->side[CLI].port = (uint16_t)(1024 + rnd_below(g, 64511));
        f->nexch = 0;
        f->est_left = 200;
        f->state = S_DNS_Q;
    } else {
        f->nexch = (uint8_t)(f->type == FT_UPLOAD || f->type == FT_DOWNLOAD
                                 ? 1
                                 : 1 + rnd_below(g, f->type == FT_API ? 3 : GEN_EXCH_MAX));
        for (uint8_t i = 0; i < f->nexch; i++) {
            plan_exchange(g, f, &f->ex[i]);
            f->est_left += f->ex[i].req.len + f->ex[i].resp.len + 2 * GEN_HDR_EST;
        }
        f->state = S_SYN;
    }
    g->pending += f->est_left;
    g->started[f->type]++;
    f->next_t = t;
}

static void flow_done(gen_t *g, flow_t *f, uint64_t t)
{
    g->pending -= f->est_left;
    f->est_left = 0;
    g->done[f->type]++;
    f->state = S_GAP;
    f->next_t = t + rnd_exp(g, 50000.0);
}

static void slot_gap(gen_t *g, flow_t *f, uint64_t t)
{
    if (!g->stopping && g->written + g->pending >= g->o.target) {
        g->stopping = 1;
        g->stop_at = g->written;
    }
    if (g->stopping) {
        f->state = S_IDLE;
        f->next_t = GEN_T_INF;
        return;
    }
    flow_start(g, f, t);
}

/* ---- messages: data, acks, window ------------------------------------------------------------ */

static void msg_begin(gen_t *g, flow_t *f, int dir, uint64_t t)
{
    msg_t *m = &f->msg;
    const part_t *p = dir == CLI ? &f->ex[f->cur].req : &f->ex[f->cur].resp;
    sbuf_t b = {m->hdr, 0, GEN_HDR_MAX};
    m->dir = (uint8_t)dir;
    m->body = p->body;
    m->magic = (uint8_t)rnd_below(g, MAGIC_COUNT);
    m->body_left = p->len;
    m->body_pos = 0;
    m->hdr_off = 0;
    m->st_len = m->st_off = m->rec_left = 0;
    if (f->type != FT_OPAQUE && dir == CLI)
        http_request(g, f, &b);
    else if (f->type != FT_OPAQUE)
        http_response(f, &b, GEN_EPOCH_US + t);
    m->hdr_len = b.len;
    f->data_t = t;
    f->state = S_MSG;
}

static void ring_push(flow_t *f, uint64_t t, uint32_t ackv)
{
    ring_ent_t *e = &f->ring[(f->ring_head + f->ring_len) % GEN_RING];
    e->t = t;
    e->ackv = ackv;
    f->ring_len++;
}

static int data_pending(const flow_t *f)
{
    return msg_left(&f->msg) > 0 || f->held_len > 0;
}

static uint64_t ack_time(const flow_t *f)
{
    uint32_t d = f->side[1 - f->msg.dir].delay_us;
    if (f->ring_len >= 2)
        return f->ring[(f->ring_head + 1) % GEN_RING].t + d;
    if (f->ring_len == 1)
        return f->ring[f->ring_head].t + d + (data_pending(f) ? GEN_DELACK_US : 0);
    return GEN_T_INF;
}

static uint64_t data_time(const flow_t *f)
{
    if (!data_pending(f) || f->ring_len >= f->side[f->msg.dir].wnd_segs)
        return GEN_T_INF;
    return f->data_t;
}

static void send_ack(gen_t *g, flow_t *f, uint64_t t)
{
    int rcv = 1 - f->msg.dir;
    uint32_t n = f->ring_len >= 2 ? 2 : 1;
    uint32_t ackv = f->ring[(f->ring_head + n - 1) % GEN_RING].ackv;
    f->ring_head = (f->ring_head + n) % GEN_RING;
    f->ring_len -= n;
    f->side[rcv].ackv = ackv;
    emit_tcp(g, f, rcv, t, TH_ACK, f->side[rcv].nxt, NULL, 0);
    if (f->data_t < t)
        f->data_t = t;
}

static void emit_data(gen_t *g, flow_t *f, uint64_t t, uint32_t seq, const uint8_t *pl,
                      uint32_t len)
{
    side_t *s = &f->side[f->msg.dir];
    int last = seq + len == s->nxt && msg_left(&f->msg) == 0;
    emit_tcp(g, f, f->msg.dir, t, (uint8_t)(TH_ACK | (last ? TH_PSH : 0)), seq, pl, len);
    g->data_segs++;
}

static uint32_t take_new(gen_t *g, flow_t *f, uint8_t *dst)
{
    uint32_t n = msg_take(g, &f->msg, dst, GEN_MSS);
    uint64_t dec = n < f->est_left ? n : f->est_left;
    f->est_left -= dec;
    g->pending -= dec;
    f->side[f->msg.dir].nxt += n;
    return n;
}

/*
 * One data event: the held segment if any, else a new one; about 0.25 % of new segments are
 * sent after their successor (out of order) and 0.25 % are repeated right after (retransmit).
 */
static void send_data(gen_t *g, flow_t *f, uint64_t t)
{
    side_t *s = &f->side[f->msg.dir];
    uint32_t r = rnd_below(g, 2000);
    if (f->held_len > 0) {
        emit_data(g, f, t, f->held_seq, f->held, f->held_len);
        ring_push(f, t, f->held_ackv);
        f->held_len = 0;
    } else if (r < 5 && msg_left(&f->msg) > GEN_MSS) {
        uint32_t seq_k = s->nxt;
        f->held_len = take_new(g, f, f->held);
        uint32_t seq_k1 = s->nxt;
        uint32_t n = take_new(g, f, g->seg);
        emit_data(g, f, t, seq_k1, g->seg, n);
        ring_push(f, t, seq_k);
        f->held_seq = seq_k;
        f->held_ackv = s->nxt;
        g->ooo++;
    } else {
        uint32_t seq = s->nxt;
        uint32_t n = take_new(g, f, g->seg);
        emit_data(g, f, t, seq, g->seg, n);
        ring_push(f, t, s->nxt);
        if (r >= 5 && r < 10 && n > 0) {
            memcpy(f->held, g->seg, n);
            f->held_len = n;
            f->held_seq = seq;
            f->held_ackv = s->nxt;
            g->retx++;
        }
    }
    f->data_t = t + jitter(g, s->gap_us);
}

/* A message is over once all its data is sent and acked; then the next one or the close. */
static void msg_over(gen_t *g, flow_t *f, uint64_t t)
{
    if (f->msg.dir == CLI) {
        msg_begin(g, f, SRV, t + rnd_logu(g, 200, 40000));
        f->next_t = f->data_t;
        return;
    }
    if (++f->cur < f->nexch) {
        msg_begin(g, f, CLI, t + rnd_logu(g, 5000, 2e6));
        f->next_t = f->data_t;
        return;
    }
    uint32_t r = rnd_below(g, 100);
    f->closer = r < 70 ? CLI : SRV;
    f->rst = r >= 98;
    f->state = S_FIN_A;
    f->next_t = t + rnd_logu(g, 1000, 500000);
}

static void msg_step(gen_t *g, flow_t *f, uint64_t t)
{
    uint64_t at = ack_time(f), dt = data_time(f);
    if (at <= dt)
        send_ack(g, f, t);
    else
        send_data(g, f, t);
    at = ack_time(f);
    dt = data_time(f);
    if (at == GEN_T_INF && dt == GEN_T_INF) {
        msg_over(g, f, t);
        return;
    }
    f->next_t = at < dt ? at : dt;
    if (f->next_t < t)
        f->next_t = t;
}

/* ---- the per-slot state machine ------------------------------------------------------------- */

static void close_step(gen_t *g, flow_t *f, uint64_t t)
{
    int c = f->closer, o = 1 - c;
    side_t *sc = &f->side[c], *so = &f->side[o];
    if (f->state == S_FIN_A && f->rst) {
        emit_tcp(g, f, c, t, TH_RST | TH_ACK, sc->nxt, NULL, 0);
        flow_done(g, f, t);
    } else if (f->state == S_FIN_A) {
        emit_tcp(g, f, c, t, TH_FIN | TH_ACK, sc->nxt++, NULL, 0);
        f->state = S_FIN_B;
        f->next_t = t + so->delay_us + rnd_below(g, 200);
    } else if (f->state == S_FIN_B) {
        so->ackv = sc->nxt;
        emit_tcp(g, f, o, t, TH_FIN | TH_ACK, so->nxt++, NULL, 0);
        f->state = S_FIN_C;
        f->next_t = t + sc->delay_us;
    } else {
        sc->ackv = so->nxt;
        emit_tcp(g, f, c, t, TH_ACK, sc->nxt, NULL, 0);
        flow_done(g, f, t);
    }
}

static void open_step(gen_t *g, flow_t *f, uint64_t t)
{
    side_t *c = &f->side[CLI], *s = &f->side[SRV];
    if (f->state == S_SYN) {
        emit_tcp(g, f, CLI, t, TH_SYN, c->nxt++, NULL, 0);
        f->state = S_SYNACK;
        f->next_t = t + s->delay_us;
    } else if (f->state == S_SYNACK) {
        s->ackv = c->nxt;
        emit_tcp(g, f, SRV, t, TH_SYN | TH_ACK, s->nxt++, NULL, 0);
        f->state = S_ACK;
        f->next_t = t + c->delay_us;
    } else {
        c->ackv = s->nxt;
        emit_tcp(g, f, CLI, t, TH_ACK, c->nxt, NULL, 0);
        msg_begin(g, f, CLI, t + rnd_logu(g, 20, 2000));
        f->next_t = f->data_t;
    }
}

static void dns_step(gen_t *g, flow_t *f, uint64_t t)
{
    if (f->state == S_DNS_Q) {
        dns_query(g, f);
        emit_udp(g, f, CLI, t, f->msg.hdr, f->msg.hdr_len);
        f->state = S_DNS_R;
        f->next_t = t + rnd_logu(g, 300, 40000);
    } else {
        uint32_t n = dns_response(g, f, g->seg);
        emit_udp(g, f, SRV, t, g->seg, n);
        flow_done(g, f, t);
    }
}

static void flow_step(gen_t *g, flow_t *f)
{
    uint64_t t = f->next_t;
    switch (f->state) {
    case S_GAP:
        slot_gap(g, f, t);
        break;
    case S_SYN:
    case S_SYNACK:
    case S_ACK:
        open_step(g, f, t);
        break;
    case S_MSG:
        msg_step(g, f, t);
        break;
    case S_FIN_A:
    case S_FIN_B:
    case S_FIN_C:
        close_step(g, f, t);
        break;
    case S_DNS_Q:
    case S_DNS_R:
        dns_step(g, f, t);
        break;
    default:
        f->next_t = GEN_T_INF;
        break;
    }
}

/* ---- scheduler ------------------------------------------------------------------------------- */

static void heap_down(gen_t *g, uint32_t i)
{
    uint32_t n = g->o.nflows;
    uint32_t *h = g->heap;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && g->flows[h[l]].next_t < g->flows[h[m]].next_t)
            m = l;
        if (r < n && g->flows[h[r]].next_t < g->flows[h[m]].next_t)
            m = r;
        if (m == i)
            return;
        uint32_t tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

static void run(gen_t *g)
{
    for (uint32_t i = 0; i < g->o.nflows; i++) {
        g->flows[i].state = S_GAP;
        g->flows[i].next_t = rnd_below(g, 1000000);
        g->heap[i] = i;
    }
    for (uint32_t i = g->o.nflows / 2 + 1; i-- > 0;)
        heap_down(g, i);
    while (g->flows[g->heap[0]].next_t != GEN_T_INF && g->io_err == 0) {
        flow_step(g, &g->flows[g->heap[0]]);
        heap_down(g, 0);
    }
}

/* ---- command line and report -------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    uint64_t flows = 4000;
    o->mb = 400;
    o->seed = 1;
    o->path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--mb") == 0 && has_val) {
            if (parse_u64(argv[++i], 1, GEN_MB_MAX, &o->mb) != 0)
                return -1;
        } else if (strcmp(a, "--flows") == 0 && has_val) {
            if (parse_u64(argv[++i], 1, GEN_FLOWS_MAX, &flows) != 0)
                return -1;
        } else if (strcmp(a, "--seed") == 0 && has_val) {
            if (parse_u64(argv[++i], 0, UINT64_MAX, &o->seed) != 0)
                return -1;
        } else if (a[0] != '-' && o->path == NULL) {
            o->path = a;
        } else {
            return -1;
        }
    }
    o->nflows = (uint32_t)flows;
    o->target = o->mb * 1000000u;
    return o->path != NULL ? 0 : -1;
}

static void init_clients(gen_t *g)
{
    for (uint32_t i = 0; i < GEN_CLIENTS; i++) {
        uint32_t hi = 1 + rnd_below(g, 32), mid = rnd_below(g, 256), lo = 1 + rnd_below(g, 254);
        g->clients[i].ip = 0x0A000000u | (hi << 16) | (mid << 8) | lo;
        g->clients[i].next_port = (uint16_t)(32768 + rnd_below(g, 28232));
    }
}

static int write_file_header(gen_t *g)
{
    uint32_t h[6] = {0xa1b2c3d4u, 0, 0, 0, 262144u, 1};
    uint16_t ver[2] = {2, 4};
    memcpy(&h[1], ver, sizeof(ver));
    if (fwrite(h, 1, sizeof(h), g->out) != sizeof(h))
        return -1;
    g->written = sizeof(h);
    return 0;
}

static void report(const gen_t *g, double secs)
{
    uint64_t started = 0, done = 0;
    for (int i = 0; i < FT_COUNT; i++) {
        started += g->started[i];
        done += g->done[i];
    }
    printf("wrote %s: %llu packets, %llu bytes (%.1f MB), %llu payload bytes\n", g->o.path,
           (unsigned long long)g->pkts, (unsigned long long)g->written, g->written / 1e6,
           (unsigned long long)g->payload);
    printf("flows: %llu started, %llu closed, %u concurrent slots; new flows stopped at %.1f MB\n",
           (unsigned long long)started, (unsigned long long)done, g->o.nflows, g->stop_at / 1e6);
    for (int i = 0; i < FT_COUNT; i++)
        printf("  %-10s %8llu\n", type_name[i], (unsigned long long)g->started[i]);
    printf("data segments: %llu, out-of-order: %llu, retransmitted: %llu\n",
           (unsigned long long)g->data_segs, (unsigned long long)g->ooo,
           (unsigned long long)g->retx);
    printf("capture spans %.2f s; generated in %.2f s (%.0f MB/s), seed %llu\n", g->last_t / 1e6,
           secs, secs > 0 ? g->written / 1e6 / secs : 0.0, (unsigned long long)g->o.seed);
}

int main(int argc, char **argv)
{
    int rc = 1;
    struct timespec t0, t1;
    gen_t *g = calloc(1, sizeof(*g));
    if (g == NULL || parse_args(argc, argv, &g->o) != 0) {
        fprintf(stderr, "usage: gen_capture OUT.pcap [--mb N] [--flows N] [--seed N]\n");
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g->rng.s = g->o.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    g->buf = malloc(GEN_OUTBUF);
    g->flows = calloc(g->o.nflows, sizeof(*g->flows));
    g->heap = calloc(g->o.nflows, sizeof(*g->heap));
    g->out = fopen(g->o.path, "wb");
    if (g->buf == NULL || g->flows == NULL || g->heap == NULL || g->out == NULL) {
        perror(g->o.path);
        goto out;
    }
    init_clients(g);
    if (write_file_header(g) != 0)
        g->io_err = errno != 0 ? errno : EIO;
    run(g);
    out_flush(g);
    if (fclose(g->out) != 0 && g->io_err == 0)
        g->io_err = errno != 0 ? errno : EIO;
    g->out = NULL;
    if (g->io_err != 0) {
        fprintf(stderr, "gen_capture: writing %s: %s\n", g->o.path, strerror(g->io_err));
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    report(g, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    rc = 0;
out:
    if (g != NULL) {
        if (g->out != NULL)
            fclose(g->out);
        free(g->heap);
        free(g->flows);
        free(g->buf);
    }
    free(g);
    return rc;
}
