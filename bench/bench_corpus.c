/*
 * bench_corpus.c - corpora for the matching benchmarks (bench_corpus.h): the egress payload
 * bytes of a capture, concatenated without reassembly, and a generated text corpus.
 *
 * The capture decoder is deliberately minimal (Ethernet, one 802.1Q tag, raw IPv4; IPv4
 * without fragments; TCP, UDP): enough for bench/gen_capture output and ordinary captures,
 * and independent of the sensor's decoder so the figure is matching alone.
 */
#include "bench_corpus.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void bench_buf_free(bench_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int buf_put(bench_buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : (1u << 20);
        uint8_t *q;

        while (cap - b->len < n)
            cap *= 2;
        q = realloc(b->p, cap);
        if (q == NULL) {
            b->oom = 1;
            return -1;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void buf_str(bench_buf_t *b, const char *s)
{
    (void)buf_put(b, s, strlen(s));
}

double bench_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bench_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0.0;
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* --- the home network --------------------------------------------------------------------- */

static int parse_octets(const char *s, uint32_t *val, unsigned *count, const char **end)
{
    uint32_t v = 0;
    unsigned n = 0;

    while (*s >= '0' && *s <= '9' && n < 4) {
        unsigned o = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            o = o * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (o > 255 || digits > 3)
            return -1;
        v = (v << 8) | o;
        n++;
        if (*s != '.')
            break;
        s++;
    }
    *val = v;
    *count = n;
    *end = s;
    return n > 0 ? 0 : -1;
}

int bench_homenet_parse(const char *s, bench_homenet_t *h)
{
    uint32_t v;
    unsigned n;
    const char *end;

    if (s == NULL || parse_octets(s, &v, &n, &end) != 0)
        return -1;
    if (*end == '/') {
        char *e = NULL;
        long bits = strtol(end + 1, &e, 10);
        if (n != 4 || e == end + 1 || *e != '\0' || bits < 0 || bits > 32)
            return -1;
        h->mask = bits == 0 ? 0 : ~0u << (32 - bits);
        h->net = v & h->mask;
        return 0;
    }
    /* "10.", "10", "192.168.": that many whole octets */
    if (*end != '\0')
        return -1;
    h->mask = n == 4 ? ~0u : ~0u << (32 - 8 * n);
    h->net = n == 4 ? v : v << (32 - 8 * n);
    return 0;
}

/* --- the capture ---------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned be16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static int is_text(const uint8_t *p, size_t n, unsigned min_pct)
{
    size_t ok = 0;

    for (size_t i = 0; i < n; i++)
        ok += (p[i] >= 0x20 && p[i] < 0x7f) || p[i] == '\t' || p[i] == '\r' || p[i] == '\n';
    return ok * 100 >= (size_t)min_pct * n;
}

/* The IPv4 packet at p[0, n): its egress TCP/UDP payload in *pl, or *pl_len = 0. */
static void ipv4_payload(const uint8_t *p, size_t n, const bench_homenet_t *home,
                         const uint8_t **pl, size_t *pl_len, int *is_tcp)
{
    size_t ihl, tot, l4;
    unsigned proto;

    *pl_len = 0;
    if (n < 20 || (p[0] >> 4) != 4)
        return;
    ihl = (size_t)(p[0] & 0x0f) * 4;
    tot = be16(p + 2);
    proto = p[9];
    if (ihl < 20 || tot < ihl || tot > n)
        return;
    if ((be16(p + 6) & 0x3fff) != 0) /* MF or a fragment offset */
        return;
    if ((be32(p + 12) & home->mask) != home->net || (be32(p + 16) & home->mask) == home->net)
        return;
    p += ihl;
    n = tot - ihl;
    if (proto == 6) {
        if (n < 20 || (l4 = (size_t)(p[12] >> 4) * 4) < 20 || l4 > n)
            return;
        *is_tcp = 1;
    } else if (proto == 17) {
        if (n < 8)
            return;
        l4 = 8;
        *is_tcp = 0;
    } else {
        return;
    }
    *pl = p + l4;
    *pl_len = n - l4;
}

/* The IPv4 header of a frame, or NULL. */
static const uint8_t *frame_ipv4(int dlt, const uint8_t *p, size_t n, size_t *ip_len)
{
    size_t l2 = 14;
    unsigned et;

    if (dlt == DLT_RAW) {
        *ip_len = n;
        return p;
    }
    if (n < 14)
        return NULL;
    et = be16(p + 12);
    if (et == 0x8100) {
        if (n < 18)
            return NULL;
        et = be16(p + 16);
        l2 = 18;
    }
    if (et != 0x0800)
        return NULL;
    *ip_len = n - l2;
    return p + l2;
}

int bench_egress_load(const char *path, const bench_homenet_t *home, unsigned text_min_pct,
                      bench_buf_t *out, bench_egress_info_t *info)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h = NULL;
    const uint8_t *data = NULL;
    pcap_t *pc = pcap_open_offline(path, err);
    int rc, dlt;

    memset(info, 0, sizeof(*info));
    if (pc == NULL) {
        fprintf(stderr, "%s: %s\n", path, err);
        return -1;
    }
    dlt = pcap_datalink(pc);
    if (dlt != DLT_EN10MB && dlt != DLT_RAW) {
        fprintf(stderr, "%s: link type %d: only Ethernet and raw IPv4 are read\n", path, dlt);
        pcap_close(pc);
        return -1;
    }
    while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
        size_t ip_len = 0, pl_len = 0;
        const uint8_t *ip = frame_ipv4(dlt, data, h->caplen, &ip_len), *pl = NULL;
        int is_tcp = 0;

        info->packets++;
        if (ip == NULL) {
            info->skipped++;
            continue;
        }
        info->ipv4++;
        ipv4_payload(ip, ip_len, home, &pl, &pl_len, &is_tcp);
        if (pl_len == 0)
            continue;
        if (text_min_pct > 0 && !is_text(pl, pl_len, text_min_pct)) {
            info->text_dropped += pl_len;
            continue;
        }
        if (buf_put(out, pl, pl_len) != 0) {
            fprintf(stderr, "%s: out of memory at %zu bytes\n", path, out->len);
            pcap_close(pc);
            return -1;
        }
        info->egress_pkts++;
        *(is_tcp ? &info->tcp_bytes : &info->udp_bytes) += pl_len;
    }
    if (rc != PCAP_ERROR_BREAK) {
        fprintf(stderr, "%s: %s\n", path, pcap_geterr(pc));
        pcap_close(pc);
        return -1;
    }
    pcap_close(pc);
    return 0;
}

/* --- the generated text --------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    /* splitmix64: deterministic and fast */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rnd_below(uint64_t *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

/* clang-format off */
static const char *const words[] = {
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua",
    "enim", "ad", "minim", "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris",
    "nisi", "aliquip", "ex", "ea", "commodo", "consequat", "duis", "aute", "irure", "in",
    "reprehenderit", "voluptate", "velit", "esse", "cillum", "fugiat", "nulla", "pariatur",
    "excepteur", "sint", "occaecat", "cupidatat", "non", "proident", "sunt", "culpa", "qui",
    "officia", "deserunt", "mollit", "anim", "id", "est", "laborum", "the", "report", "meeting",
    "customer", "invoice", "project", "team", "review", "budget", "quarter", "account",
    "delivery", "order", "please", "find", "attached", "regards", "thanks", "update", "status",
};
/* clang-format on */

/* One ordinary number: a year, a count, an amount, a date, a time (digit noise, not PII). */
static void put_number(bench_buf_t *b, uint64_t *s, char *tmp, size_t tl)
{
    switch (rnd_below(s, 5)) {
    case 0:
        snprintf(tmp, tl, "%u", 1990 + rnd_below(s, 40));
        break;
    case 1:
        snprintf(tmp, tl, "%u", rnd_below(s, 1000));
        break;
    case 2:
        snprintf(tmp, tl, "%u.%02u", rnd_below(s, 100000), rnd_below(s, 100));
        break;
    case 3:
        snprintf(tmp, tl, "%04u-%02u-%02u", 2015 + rnd_below(s, 12), 1 + rnd_below(s, 12),
                 1 + rnd_below(s, 28));
        break;
    default:
        snprintf(tmp, tl, "%02u:%02u", rnd_below(s, 24), rnd_below(s, 60));
        break;
    }
    buf_str(b, tmp);
}

static void card(uint64_t *s, char out[20])
{
    unsigned sum = 0;

    out[0] = '4';
    for (int i = 1; i < 15; i++)
        out[i] = (char)('0' + rnd_below(s, 10));
    /* Luhn over the 15 digits with the check digit still to come (it is doubled last) */
    for (int i = 14, dbl = 1; i >= 0; i--, dbl = !dbl) {
        unsigned d = (unsigned)(out[i] - '0') * (dbl ? 2u : 1u);
        sum += d > 9 ? d - 9 : d;
    }
    out[15] = (char)('0' + (10 - sum % 10) % 10);
    out[16] = '\0';
}

static void iban_de(uint64_t *s, char out[24])
{
    char bban[19];
    unsigned rem = 0;

    for (int i = 0; i < 18; i++)
        bban[i] = (char)('0' + rnd_below(s, 10));
    bban[18] = '\0';
    /* mod 97 of BBAN + "DE" as 1314 + "00" */
    for (int i = 0; i < 18; i++)
        rem = (rem * 10 + (unsigned)(bban[i] - '0')) % 97;
    rem = (rem * 10000 + 1314) % 97;
    rem = (rem * 100) % 97;
    snprintf(out, 24, "DE%02u%s", 98 - rem, bban);
}

static void put_pii(bench_buf_t *b, uint64_t *s, long k, char *tmp, size_t tl)
{
    static const char *const names[] = {"anna", "ben", "carla", "dmitri", "elena", "farid"};
    static const char *const doms[] = {"example.com", "mail.example.org", "corp.example.net"};
    char v[24];

    switch (k % 4) {
    case 0:
        snprintf(tmp, tl, "contact %s.%s%u@%s for details", names[rnd_below(s, 6)],
                 words[rnd_below(s, 20)], rnd_below(s, 100), doms[rnd_below(s, 3)]);
        break;
    case 1:
        card(s, v);
        snprintf(tmp, tl, "card on file %s", v);
        break;
    case 2:
        snprintf(tmp, tl, "SSN %03u-%02u-%04u", 100 + rnd_below(s, 560), 1 + rnd_below(s, 98),
                 1 + rnd_below(s, 9998));
        break;
    default:
        iban_de(s, v);
        snprintf(tmp, tl, "IBAN %s", v);
        break;
    }
    buf_str(b, tmp);
}

long bench_lorem(bench_buf_t *out, size_t bytes, uint64_t seed)
{
    uint64_t s = seed;
    size_t goal = out->len + bytes, next_pii = out->len + 5000 + rnd_below(&s, 10000);
    long npii = 0;
    char tmp[160];

    while (out->len < goal) {
        unsigned nw = 6 + rnd_below(&s, 14);
        for (unsigned i = 0; i < nw; i++) {
            const char *w = words[rnd_below(&s, (unsigned)(sizeof(words) / sizeof(words[0])))];
            if (i > 0)
                buf_str(out, " ");
            if (rnd_below(&s, 25) == 0)
                put_number(out, &s, tmp, sizeof(tmp));
            else if (i == 0) {
                snprintf(tmp, sizeof(tmp), "%c%s", w[0] - 'a' + 'A', w + 1);
                buf_str(out, tmp);
            } else
                buf_str(out, w);
        }
        if (out->len >= next_pii) {
            buf_str(out, " ");
            put_pii(out, &s, npii++, tmp, sizeof(tmp));
            next_pii = out->len + 5000 + rnd_below(&s, 10000);
        }
        buf_str(out, rnd_below(&s, 6) == 0 ? ".\n\n" : ". ");
        if (out->oom)
            return -1;
    }
    return npii;
}
