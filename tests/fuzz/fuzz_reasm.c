/*
 * fuzz_reasm.c - libFuzzer target for TCP reassembly (include/dlp/reasm.h).
 *
 * Input: byte 0 chooses the bounds (tiny ones, so every cap is hit, or the
 * defaults), the payload mode and the ISNs; then segments, each a 6-byte
 * header and, in raw mode, its payload bytes:
 *   h[0] bit 0 direction, bits 1-4 SYN ACK FIN RST, bit 5 session slot,
 *        bits 6-7 how seq is chosen (near the sender's next seq; a 16-bit
 *        jump either way; a jump of up to 2^32; from its ISN)
 *   h[1], h[2] seq operands; h[3] ack, near what the peer sent (0x80: far)
 *   h[4] + h[5] bits 0-2: payload length; h[5] bits 3-5: bytes missing from
 *        the capture (payload_wire > payload_len); bit 6: URG, its pointer
 *        from h[2] ^ h[4], up to 3 bytes past the payload; bit 7: close the
 *        slot's session first.
 * Payload mode "seq": byte i of a segment is (its sequence number) & 0xff,
 * so any two copies of a byte agree: data must then satisfy
 * byte - offset == constant (mod 256) and conflict() must never come.
 * Two session slots share one dlp_reasm_t, so the per-worker cap is hit.
 *
 * Checked (the sink contract): every offset of a direction reported exactly
 * once, in order, as data(), gap() or urgent() (its byte retained by then);
 * no call after end(); end() once per
 * direction, always by the close; the session's dir_info agrees with the
 * sink; held bytes never exceed the worker bound and are 0 at the end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/reasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 6

typedef struct ksink {
    uint64_t reported[2], delivered[2], gap_bytes[2];
    uint32_t gaps[2];
    int ends[2];
    int delta[2]; /* seq mode: byte - offset, -1 until the first byte */
    bool seq_mode;
    uint32_t sum;
    const dlp_tcp_session_t *s;
} ksink_t;

typedef struct slot {
    dlp_tcp_session_t *s;
    ksink_t k;
    uint32_t isn[2], next[2]; /* the sender's side, as the generator sees it */
} slot_t;

static void k_data(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    ksink_t *k = ctx;

    if ((dir != 0 && dir != 1) || k->ends[dir] || off != k->reported[dir] || n == 0 || !p)
        abort();
    for (size_t i = 0; i < n; i++) {
        k->sum += p[i]; /* every byte read: ASan checks the whole range */
        if (k->seq_mode) {
            int d = (p[i] - (int)((off + i) & 0xff)) & 0xff;
            if (k->delta[dir] < 0)
                k->delta[dir] = d;
            else if (k->delta[dir] != d)
                abort();
        }
    }
    k->reported[dir] += n;
    k->delivered[dir] += n;
}

static void k_gap(void *ctx, int dir, uint64_t off, uint64_t len)
{
    ksink_t *k = ctx;

    if ((dir != 0 && dir != 1) || k->ends[dir] || off != k->reported[dir] || len == 0)
        abort();
    k->reported[dir] += len;
    k->gap_bytes[dir] += len;
    k->gaps[dir]++;
}

static void k_conflict(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n)
{
    ksink_t *k = ctx;

    (void)off;
    if ((dir != 0 && dir != 1) || k->ends[dir] || n == 0 || !p || k->seq_mode)
        abort();
    for (size_t i = 0; i < n; i++)
        k->sum += p[i];
}

static void k_end(void *ctx, int dir)
{
    ksink_t *k = ctx;

    if ((dir != 0 && dir != 1) || ++k->ends[dir] > 1)
        abort();
}

static void k_fin(void *ctx, int dir)
{
    const ksink_t *k = ctx;

    if ((dir != 0 && dir != 1) || k->ends[dir] != 0)
        abort();
}

static void k_urgent(void *ctx, int dir, uint64_t off, uint8_t b)
{
    ksink_t *k = ctx;
    uint8_t back;

    if ((dir != 0 && dir != 1) || k->ends[dir] || off != k->reported[dir])
        abort();
    if (!dlp_reasm_retained(k->s, dir, off, off + 1, &back) || back != b)
        abort();
    if (k->seq_mode) {
        int d = (b - (int)(off & 0xff)) & 0xff;
        if (k->delta[dir] < 0)
            k->delta[dir] = d;
        else if (k->delta[dir] != d)
            abort();
    }
    k->reported[dir]++;
    k->delivered[dir]++;
}

static const dlp_reasm_sink_t ops = {k_data, k_gap, k_conflict, k_end, k_fin, k_urgent, NULL};

static void check_info(const slot_t *sl)
{
    for (int dir = 0; dir < 2; dir++) {
        dlp_reasm_dir_info_t in;
        dlp_reasm_dir_info(sl->s, dir, &in);
        if (in.delivered != sl->k.delivered[dir] || in.gap_bytes != sl->k.gap_bytes[dir] ||
            in.gaps != sl->k.gaps[dir] || in.ended != sl->k.ends[dir] ||
            sl->k.reported[dir] != sl->k.delivered[dir] + sl->k.gap_bytes[dir])
            abort();
    }
}

static void slot_open(dlp_reasm_t *r, slot_t *sl, bool seq_mode)
{
    sl->s = dlp_reasm_session_new(r);
    if (sl->s == NULL)
        abort();
    memset(&sl->k, 0, sizeof(sl->k));
    sl->k.s = sl->s;
    sl->k.delta[0] = sl->k.delta[1] = -1;
    sl->k.seq_mode = seq_mode;
}

static void slot_close(dlp_reasm_t *r, slot_t *sl)
{
    check_info(sl);
    dlp_reasm_session_close(r, sl->s, &ops, &sl->k);
    sl->s = NULL;
    if (sl->k.ends[0] != 1 || sl->k.ends[1] != 1)
        abort();
}

static uint32_t pick_seq(const slot_t *sl, int dir, const uint8_t *h)
{
    uint32_t v16 = (uint32_t)h[1] << 8 | h[2];

    switch (h[0] >> 6) {
    case 0:
        return sl->next[dir] + (uint32_t)(int32_t)(int8_t)h[1];
    case 1:
        return sl->next[dir] + (uint32_t)(int32_t)(int16_t)v16;
    case 2:
        return sl->next[dir] + (v16 << 16 | v16);
    default:
        return sl->isn[dir] + v16;
    }
}

/* Builds and feeds one segment; returns the input bytes it used. */
static size_t feed(dlp_reasm_t *r, slot_t *sl, const uint8_t *h, const uint8_t *rest, size_t left,
                   bool seq_mode)
{
    static const uint8_t flag_of[4] = {DLP_TCP_SYN, DLP_TCP_ACK, DLP_TCP_FIN, DLP_TCP_RST};
    int dir = h[0] & 1;
    uint32_t len = h[4] | (uint32_t)(h[5] & 7) << 8, used = 0;
    dlp_packet_t p;

    memset(&p, 0, sizeof(p));
    for (int i = 0; i < 4; i++)
        if (h[0] & (2 << i))
            p.tcp_flags |= flag_of[i];
    p.proto = DLP_PROTO_TCP;
    p.tcp_seq = pick_seq(sl, dir, h);
    p.tcp_ack = h[3] == 0x80 ? sl->next[!dir] + 0x40000000u
                             : sl->next[!dir] + (uint32_t)(int32_t)(int8_t)h[3];
    if (!seq_mode) {
        len = left < len ? (uint32_t)left : len;
        used = len;
    }
    uint8_t *buf = malloc(len ? len : 1); /* exact size: ASan sees over-reads */
    if (buf == NULL)
        abort();
    uint32_t first = p.tcp_seq + ((p.tcp_flags & DLP_TCP_SYN) ? 1u : 0u);
    for (uint32_t i = 0; i < len; i++)
        buf[i] = seq_mode ? (uint8_t)(first + i) : rest[i];
    p.data = buf;
    p.caplen = p.wirelen = len;
    p.payload_len = len;
    p.payload_wire = len + ((h[5] >> 3) & 7) * 97u;
    if (h[5] & 0x40) {
        p.tcp_flags |= DLP_TCP_URG;
        p.tcp_urp = (uint16_t)(1 + (h[2] ^ h[4]) % (p.payload_wire + 3));
    }
    dlp_rc_t rc = dlp_reasm_segment(r, sl->s, dir, &p, &ops, &sl->k);
    if (rc == DLP_DONE) {
        slot_close(r, sl);
        slot_open(r, sl, seq_mode);
        rc = dlp_reasm_segment(r, sl->s, dir, &p, &ops, &sl->k);
    }
    if (rc != DLP_OK)
        abort();
    check_info(sl);
    uint32_t end = first + p.payload_wire + ((p.tcp_flags & DLP_TCP_FIN) ? 1u : 0u);
    if ((int32_t)(end - sl->next[dir]) > 0)
        sl->next[dir] = end;
    free(buf);
    return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t isns[4] = {0, 1000, 0xfffffff0u, 0x7fffffffu};
    dlp_reasm_config_t cfg;
    dlp_stats_t st;
    slot_t sl[2];

    if (size < 1)
        return 0;
    bool seq_mode = (data[0] & 2) != 0;
    dlp_reasm_config_default(&cfg);
    if (data[0] & 1) {
        cfg.ooo_bytes_dir = 3000;
        cfg.ooo_segs_dir = 6;
        cfg.ooo_bytes_worker = 4000;
        cfg.retain_bytes = 64;
        cfg.window = 1u << 16;
    }
    dlp_stats_init(&st);
    dlp_reasm_t *r = dlp_reasm_new(&cfg, &st);
    if (r == NULL)
        abort();
    for (int i = 0; i < 2; i++) {
        slot_open(r, &sl[i], seq_mode);
        sl[i].isn[0] = sl[i].next[0] = isns[(data[0] >> 2) & 3] + (uint32_t)i;
        sl[i].isn[1] = sl[i].next[1] = isns[(data[0] >> 4) & 3] + (uint32_t)i * 7;
    }
    size_t pos = 1;
    while (pos + HDR <= size) {
        const uint8_t *h = data + pos;
        slot_t *s = &sl[(h[0] >> 5) & 1];
        pos += HDR;
        if (h[5] & 0x80) {
            slot_close(r, s);
            slot_open(r, s, seq_mode);
        }
        pos += feed(r, s, h, data + pos, size - pos, seq_mode);
        if (dlp_stat_get(&st, DLP_STAT_TCP_OOO_MEM) > cfg.ooo_bytes_worker)
            abort();
    }
    slot_close(r, &sl[0]);
    slot_close(r, &sl[1]);
    if (dlp_stat_get(&st, DLP_STAT_TCP_OOO_MEM) != 0)
        abort();
    dlp_reasm_free(r);
    return 0;
}
