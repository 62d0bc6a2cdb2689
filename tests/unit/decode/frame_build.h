/*
 * frame_build.h - builds test frames field by field, in wire order, so a
 * test reads like the packet it makes. Static helpers for test_decode.c and
 * test_defrag.c only.
 */
#ifndef FRAME_BUILD_H
#define FRAME_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/packet.h"

typedef struct frame {
    uint8_t b[70000];
    uint32_t n;
} frame_t;

static inline void put8(frame_t *f, uint8_t v)
{
    f->b[f->n++] = v;
}
static inline void put16(frame_t *f, uint16_t v)
{
    put8(f, (uint8_t)(v >> 8));
    put8(f, (uint8_t)v);
}
static inline void put32(frame_t *f, uint32_t v)
{
    put16(f, (uint16_t)(v >> 16));
    put16(f, (uint16_t)v);
}
static inline void put_bytes(frame_t *f, const void *p, uint32_t n)
{
    memcpy(f->b + f->n, p, n);
    f->n += n;
}
static inline void put_zero(frame_t *f, uint32_t n)
{
    memset(f->b + f->n, 0, n);
    f->n += n;
}

/* Ethernet: dst 02:00:00:00:00:02, src 02:00:00:00:00:01, then 'type'. */
static inline void eth(frame_t *f, uint16_t type)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    put_bytes(f, macs, 12);
    put16(f, type);
}

/* One VLAN tag after the MACs: TPID was already written as the type; TCI then inner type. */
static inline void vlan_tag(frame_t *f, uint16_t vid, uint16_t inner_type)
{
    put16(f, vid);
    put16(f, inner_type);
}

static inline uint16_t ip_checksum(const uint8_t *h, uint32_t len)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/*
 * IPv4 header, with 'optlen' bytes of NOP options (multiple of 4),
 * total length = header + l4_len, flags/offset word 'frag', TTL 64.
 */
static inline void ip4(frame_t *f, uint8_t proto, uint32_t src, uint32_t dst, uint32_t l4_len,
                       uint16_t id, uint16_t frag, uint32_t optlen)
{
    uint32_t start = f->n, hl = 20 + optlen;
    put8(f, (uint8_t)(0x40 | hl / 4));
    put8(f, 0);
    put16(f, (uint16_t)(hl + l4_len));
    put16(f, id);
    put16(f, frag);
    put8(f, 64);
    put8(f, proto);
    put16(f, 0);
    put32(f, src);
    put32(f, dst);
    for (uint32_t i = 0; i < optlen; i++)
        put8(f, 1); /* NOP */
    uint16_t cs = ip_checksum(f->b + start, hl);
    f->b[start + 10] = (uint8_t)(cs >> 8);
    f->b[start + 11] = (uint8_t)cs;
}

/* IPv6 fixed header, hop limit 64; src 2001:db8::<s>, dst 2001:db8::<d>. */
static inline void ip6(frame_t *f, uint8_t nh, uint16_t plen, uint8_t s, uint8_t d)
{
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
    put32(f, 0x60000000);
    put16(f, plen);
    put8(f, nh);
    put8(f, 64);
    a[15] = s;
    put_bytes(f, a, 16);
    a[15] = d;
    put_bytes(f, a, 16);
}

/* A generic IPv6 extension header (hop-by-hop, routing, dst opts) of 8 * (1 + len8) bytes. */
static inline void ip6_ext(frame_t *f, uint8_t nh, uint8_t len8)
{
    put8(f, nh);
    put8(f, len8);
    put_zero(f, 6 + 8u * len8);
}

static inline void ip6_frag(frame_t *f, uint8_t nh, uint16_t off, int more, uint32_t id)
{
    put8(f, nh);
    put8(f, 0);
    put16(f, (uint16_t)(off | (more ? 1 : 0)));
    put32(f, id);
}

/* TCP with 'optlen' bytes of NOP options (multiple of 4). */
static inline void tcp(frame_t *f, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
                       uint8_t flags, uint32_t optlen)
{
    put16(f, sport);
    put16(f, dport);
    put32(f, seq);
    put32(f, ack);
    put8(f, (uint8_t)(((20 + optlen) / 4) << 4));
    put8(f, flags);
    put16(f, 8192);
    put16(f, 0);
    put16(f, 0);
    for (uint32_t i = 0; i < optlen; i++)
        put8(f, 1);
}

static inline void udp(frame_t *f, uint16_t sport, uint16_t dport, uint16_t ulen)
{
    put16(f, sport);
    put16(f, dport);
    put16(f, ulen);
    put16(f, 0);
}

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

/*
 * Decodes an exact-size heap copy of f (ASan then sees any read past
 * caplen). The copy lives until the next call or heap_release().
 */
static uint8_t *heap_copy_;
static inline void heap_release(void)
{
    free(heap_copy_);
    heap_copy_ = NULL;
}
static inline dlp_decode_result_t decode_bytes(dlp_packet_t *p, uint16_t linktype, const uint8_t *b,
                                               uint32_t caplen, uint32_t wirelen)
{
    heap_release();
    heap_copy_ = malloc(caplen ? caplen : 1);
    memcpy(heap_copy_, b, caplen);
    return dlp_decode(p, linktype, heap_copy_, caplen, wirelen, 1000);
}
static inline dlp_decode_result_t decode_frame(dlp_packet_t *p, uint16_t linktype, const frame_t *f)
{
    return decode_bytes(p, linktype, f->b, f->n, f->n);
}

#endif
