/*
 * bench_corpus.h - the byte corpora matchonly and som_vs_tail scan, and their timing helpers.
 * Bench tools only: not sensor code, not installed.
 */
#ifndef DLP_BENCH_CORPUS_H
#define DLP_BENCH_CORPUS_H

#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer (the concatenated corpus). */
typedef struct bench_buf {
    uint8_t *p;
    size_t len, cap;
    int oom; /* an append failed: the buffer is short */
} bench_buf_t;

/* What the capture held and what was kept. */
typedef struct bench_egress_info {
    uint64_t packets;      /* records read */
    uint64_t ipv4;         /* IPv4 packets decoded */
    uint64_t egress_pkts;  /* packets with payload kept (source home, destination outside) */
    uint64_t tcp_bytes;    /* kept TCP payload bytes */
    uint64_t udp_bytes;    /* kept UDP payload bytes */
    uint64_t text_dropped; /* payload bytes dropped by the text filter */
    uint64_t skipped;      /* not Ethernet/IPv4/TCP|UDP, fragments, truncated headers */
} bench_egress_info_t;

/*
 * A home network: 'net'/'mask' in host byte order. Parsed from "10." (a prefix of whole
 * octets, the trailing dot optional: 10.0.0.0/8; "192.168." is /16) or "A.B.C.D/N".
 */
typedef struct bench_homenet {
    uint32_t net, mask;
} bench_homenet_t;

/* 0, or -1 when malformed. */
int bench_homenet_parse(const char *s, bench_homenet_t *h);

/*
 * Reads a capture (Ethernet, optionally 802.1Q, or raw IPv4) and appends to 'out' the
 * TCP and UDP payload of every unfragmented IPv4 packet whose source is inside 'home'
 * and whose destination is not, in file order: no reassembly (retransmitted bytes are
 * kept twice, out-of-order segments stay out of order). With text_min_pct > 0, a
 * packet's payload is kept only when at least that percentage of its bytes are printable
 * ASCII, tab, CR or LF (a text-only corpus). Returns 0, or -1 with a message on stderr.
 */
int bench_egress_load(const char *path, const bench_homenet_t *home, unsigned text_min_pct,
                      bench_buf_t *out, bench_egress_info_t *info);

/*
 * Appends about 'bytes' of generated English-like text (lorem-ipsum words, sentences,
 * paragraphs, a few ordinary numbers and dates) with one PII value (an e-mail address,
 * a card number, a US SSN or a German IBAN, in turn) every 5-15 KB. Deterministic for a
 * seed. Returns the number of PII values written, or -1 when out of memory.
 */
long bench_lorem(bench_buf_t *out, size_t bytes, uint64_t seed);

void bench_buf_free(bench_buf_t *b);

/* Seconds of CLOCK_MONOTONIC and of CLOCK_PROCESS_CPUTIME_ID. */
double bench_wall_s(void);
double bench_cpu_s(void);

/* Median of n values (sorts v in place). */
double bench_median(double *v, size_t n);

#endif
