/*
 * disp_test.h - what the dispatch tests share (static helpers, one copy per
 * test program): a real detection engine from a rules file written here,
 * TCP/UDP frames built field by field (tests/unit/decode/frame_build.h),
 * and a pcap file of them for the reader.
 *
 * Hosts: 10.0.0.1 is inside the home network (10.0.0.0/8), 198.51.100.7
 * outside, so a flow the inside host opens has an egress direction 0.
 */
#ifndef DISP_TEST_H
#define DISP_TEST_H

#include "dlp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../decode/frame_build.h"
#include "dlp/alert.h"
#include "dlp/engine.h"
#include "dlp/match.h"
#include "dlp/packet.h"
#include "dlp/ring.h"
#include "dlp/rules.h"

#define IN_HOST IP4(10, 0, 0, 1)
#define OUT_HOST IP4(198, 51, 100, 7)
#define OUT_HOST2 IP4(203, 0, 113, 9)

/* One rule: "tok-" and four digits, reported at the first value. */
static const char TOK_RULES[] = "rules:\n"
                                "  - id: 7\n"
                                "    name: t.tok\n"
                                "    description: a test token\n"
                                "    category: secret\n"
                                "    severity: high\n"
                                "    patterns: ['\\btok-[0-9]{4}\\b']\n";

/* The rules of 'yaml', compiled, as generation 1 (one reference, the caller's). */
static inline dlp_engine_t *engine_new(const char *yaml)
{
    char dir[] = "/tmp/dlp-disp-XXXXXX", path[64];
    dlp_rules_errors_t err = {0};
    const char *paths[1] = {path};
    dlp_ruleset_t *rs;
    dlp_matcher_t *m;
    uint32_t *slots;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/r.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    rs = dlp_rules_load(paths, 1, &err);
    remove(path);
    rmdir(dir);
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "%s\n", err.msg[i]);
    dlp_rules_errors_fini(&err);
    assert_non_null(rs);
    m = dlp_matcher_new(rs, NULL, &err);
    assert_non_null(m);
    slots = calloc(rs->n, sizeof(*slots));
    for (uint32_t i = 0; i < rs->n; i++)
        slots[i] = i;
    return dlp_engine_new(rs, m, slots, 1);
}

/* Ethernet + IPv4 + TCP (no options) + payload. */
static inline void tcp_frame(frame_t *f, uint32_t src, uint32_t dst, uint16_t sport,
                             uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                             const void *pl, size_t n)
{
    f->n = 0;
    eth(f, 0x0800);
    ip4(f, 6, src, dst, 20 + (uint32_t)n, 1, 0x4000, 0);
    tcp(f, sport, dport, seq, ack, flags, 0);
    if (n > 0) /* memcpy from NULL is undefined even for 0 bytes */
        put_bytes(f, pl, (uint32_t)n);
}

static inline void udp_frame(frame_t *f, uint32_t src, uint32_t dst, uint16_t sport,
                             uint16_t dport, const void *pl, size_t n)
{
    f->n = 0;
    eth(f, 0x0800);
    ip4(f, 17, src, dst, 8 + (uint32_t)n, 1, 0, 0);
    udp(f, sport, dport, (uint16_t)(8 + n));
    if (n > 0)
        put_bytes(f, pl, (uint32_t)n);
}

/*
 * A TCP connection as a script: one endpoint pair, both sequence spaces,
 * frames appended to a caller's list. The client is endpoint 0.
 */
typedef struct conn {
    uint32_t ip[2];
    uint16_t port[2];
    uint32_t seq[2];
} conn_t;

typedef struct frames {
    frame_t *f;  /* [cap] */
    uint64_t *ts;
    size_t n, cap;
    uint64_t now_us;
} frames_t;

static inline void frames_init(frames_t *fs, size_t cap)
{
    fs->f = calloc(cap, sizeof(*fs->f));
    fs->ts = calloc(cap, sizeof(*fs->ts));
    fs->n = 0;
    fs->cap = cap;
    fs->now_us = 1700000000000000ULL;
}

static inline void frames_fini(frames_t *fs)
{
    free(fs->f);
    free(fs->ts);
}

/* One segment from side 'from', 1 ms after the previous frame. */
static inline void seg(frames_t *fs, conn_t *c, int from, uint8_t flags, const char *pl)
{
    size_t n = pl != NULL ? strlen(pl) : 0;

    assert_true(fs->n < fs->cap);
    fs->now_us += 1000;
    tcp_frame(&fs->f[fs->n], c->ip[from], c->ip[!from], c->port[from], c->port[!from],
              c->seq[from], (flags & DLP_TCP_ACK) ? c->seq[!from] : 0, flags, pl, n);
    fs->ts[fs->n++] = fs->now_us;
    c->seq[from] += (uint32_t)n + ((flags & (DLP_TCP_SYN | DLP_TCP_FIN)) ? 1u : 0u);
}

/* Three-way handshake. */
static inline void handshake(frames_t *fs, conn_t *c)
{
    seg(fs, c, 0, DLP_TCP_SYN, NULL);
    seg(fs, c, 1, DLP_TCP_SYN | DLP_TCP_ACK, NULL);
    seg(fs, c, 0, DLP_TCP_ACK, NULL);
}

/* FIN from each side, each acknowledged. */
static inline void close_both(frames_t *fs, conn_t *c)
{
    seg(fs, c, 0, DLP_TCP_FIN | DLP_TCP_ACK, NULL);
    seg(fs, c, 1, DLP_TCP_FIN | DLP_TCP_ACK, NULL);
    seg(fs, c, 0, DLP_TCP_ACK, NULL);
}

static inline void data(frames_t *fs, conn_t *c, int from, const char *pl)
{
    seg(fs, c, from, DLP_TCP_ACK | DLP_TCP_PSH, pl);
}

/* The frames as a little-endian microsecond pcap file at 'path'. */
static inline void frames_write_pcap(const frames_t *fs, const char *path)
{
    const uint32_t hdr[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, DLP_LINK_EN10MB};
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    fwrite(hdr, sizeof(hdr), 1, f);
    for (size_t i = 0; i < fs->n; i++) {
        uint32_t rec[4] = {(uint32_t)(fs->ts[i] / 1000000), (uint32_t)(fs->ts[i] % 1000000),
                           fs->f[i].n, fs->f[i].n};
        fwrite(rec, sizeof(rec), 1, f);
        fwrite(fs->f[i].b, fs->f[i].n, 1, f);
    }
    fclose(f);
}

#endif
