/*
 * decode.c - a captured frame -> dlp_packet_t (packet.h): link layer
 * (Ethernet with up to DLP_VLAN_MAX tags, Linux cooked v1/v2, raw IP, BSD and
 * OpenBSD loopback), IPv4, IPv6 and its extension chain, TCP, UDP, ICMP and
 * ICMPv6 echo; the tunnels IP in IP (4in4, 6in4, 4in6, 6in6) and GRE version
 * 0 (RFC 2784/2890: IPv4, IPv6, or an Ethernet frame with its VLAN tags); and
 * the canonical flow key and symmetric flow hash derived from a packet.
 *
 * Tunnels: the inner IP packet is decoded over the same packet view, so the
 * view ends as the innermost packet's (addresses, L4, offsets): the inner
 * flow is the one carrying the data. Each layer is bounded by the captured
 * and declared length of the layer around it (a tunnel payload cannot reach
 * into the outer frame's padding), and at most DLP_ENCAP_DEPTH_MAX tunnels
 * are entered. The VLAN tags stay the outer frame's: a tunnelled Ethernet
 * frame's own tags are checked and skipped (they are the tunnel's business,
 * and the flow key's VLAN ids say where the sensor saw the packet).
 *
 * Invariants: every read is preceded by a check against caplen, so nothing
 * past data[caplen - 1] is ever touched whatever the bytes say; every offset
 * stored in the packet is <= caplen and every offset + captured length too.
 * Lengths read from headers are only trusted after they are checked against
 * the enclosing layer (IP total length against what was captured, UDP length
 * against the IP payload).
 *
 * The packet is not memset as a whole (it is rewritten at >1 Mpps): the
 * scalar fields are zeroed as two ranges and the addresses are written only
 * when an IP header is reached (ipver != 0 says they are valid).
 *
 * Thread: pure (no allocation, no globals, no I/O); any thread.
 */
#include "dlp/packet.h"

#include <string.h>

#include "dlp/hash.h"
#include "dlp/rc.h"

#define ETYPE_IP4 0x0800
#define ETYPE_IP6 0x86dd
#define ETYPE_8021Q 0x8100
#define ETYPE_8021AD 0x88a8
#define ETYPE_QINQ 0x9100
#define ETYPE_MIN 0x0600 /* below: an 802.3 length field, not a type */

#define ETH_HLEN 14
#define SLL_HLEN 16
#define SLL2_HLEN 20
#define LOOP_HLEN 4
#define IP4_HLEN 20
#define IP6_HLEN 40
#define TCP_HLEN 20
#define UDP_HLEN 8
#define ICMP_ECHO_HLEN 8 /* type, code, checksum, identifier, sequence */
#define GRE_HLEN 4
#define ETYPE_TEB 0x6558 /* GRE: transparent Ethernet bridging */

/* GRE flags and version (RFC 2784, 2890; the routing bit of RFC 1701). */
#define GRE_F_CSUM 0x8000
#define GRE_F_ROUTING 0x4000
#define GRE_F_KEY 0x2000
#define GRE_F_SEQ 0x1000
#define GRE_VERSION 0x0007
#define GRE_V1_PPTP 1 /* enhanced GRE (RFC 2637): PPP inside, not decoded */
#define IP_MAXPACKET 65535u

/* Raw IP link types on other platforms (DLT_RAW's value varies; 101 is LINKTYPE_RAW). */
#define LINK_RAW_ALT1 14
#define LINK_RAW_ALT2 101

/* BSD AF_INET6 differs per OS: NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30. */
#define BSD_AF_INET 2
#define BSD_AF_INET6_A 24
#define BSD_AF_INET6_B 28
#define BSD_AF_INET6_C 30

#define IP6_NH_HOPOPTS 0
#define IP6_NH_ROUTING 43
#define IP6_NH_FRAGMENT 44
#define IP6_NH_AH 51
#define IP6_NH_NONE 59
#define IP6_NH_DSTOPTS 60
#define IP6_NH_MOBILITY 135
#define IP6_NH_HIP 139
#define IP6_NH_SHIM6 140

#define FLOW_HASH_SEED 0x6a09e667f3bcc908ULL

/* packet_reset() zeroes [ipver, src) and [sport, end): the frame fields come first. */
_Static_assert(offsetof(dlp_packet_t, ts_us) < offsetof(dlp_packet_t, ipver) &&
                   offsetof(dlp_packet_t, clock_us) < offsetof(dlp_packet_t, ipver) &&
                   offsetof(dlp_packet_t, data) < offsetof(dlp_packet_t, ipver) &&
                   offsetof(dlp_packet_t, caplen) < offsetof(dlp_packet_t, ipver) &&
                   offsetof(dlp_packet_t, wirelen) < offsetof(dlp_packet_t, ipver) &&
                   offsetof(dlp_packet_t, linktype) < offsetof(dlp_packet_t, ipver) &&
                   offsetof(dlp_packet_t, ipver) < offsetof(dlp_packet_t, src) &&
                   offsetof(dlp_packet_t, dst) + 16 == offsetof(dlp_packet_t, sport),
               "dlp_packet_t field order changed: update packet_reset()");

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static inline uint16_t rd16(const uint8_t *b)
{
    return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint32_t rd32le(const uint8_t *b)
{
    return (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
}

static inline uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static void packet_reset(dlp_packet_t *p, const uint8_t *data, uint32_t caplen, uint32_t wirelen,
                         uint64_t ts_us)
{
    p->ts_us = ts_us;
    p->clock_us = 0;
    p->data = data;
    p->caplen = caplen;
    p->wirelen = wirelen;
    memset(&p->ipver, 0, offsetof(dlp_packet_t, src) - offsetof(dlp_packet_t, ipver));
    memset(&p->sport, 0, sizeof(*p) - offsetof(dlp_packet_t, sport));
}

/* The frame's end on the wire: never before its captured end (capture.c
 * already takes caplen for a record claiming less). */
static inline uint32_t wire_end(const dlp_packet_t *p)
{
    return p->wirelen > p->caplen ? p->wirelen : p->caplen;
}

/* Sets the L4 view of a payload that is not parsed (OTHER_L4 and fragments). */
static void set_opaque_payload(dlp_packet_t *p, uint32_t off, uint32_t cap, uint32_t wire)
{
    p->payload_off = off;
    p->payload_len = cap;
    p->payload_wire = wire;
}

static dlp_decode_result_t decode_tcp(dlp_packet_t *p, uint32_t off, uint32_t cap, uint32_t wire)
{
    const uint8_t *t = p->data + off;

    if (cap < TCP_HLEN)
        return DLP_DEC_ERR_TCP;
    p->sport = rd16(t);
    p->dport = rd16(t + 2);
    p->tcp_seq = rd32(t + 4);
    p->tcp_ack = rd32(t + 8);
    p->tcp_flags = t[13];
    p->tcp_win = rd16(t + 14);
    p->tcp_urp = rd16(t + 18);
    uint32_t hl = (uint32_t)(t[12] >> 4) * 4;
    if (hl < TCP_HLEN || hl > cap)
        return DLP_DEC_ERR_TCP;
    p->payload_off = off + hl;
    p->payload_len = cap - hl;
    p->payload_wire = wire - hl;
    return DLP_DEC_OK;
}

static dlp_decode_result_t decode_udp(dlp_packet_t *p, uint32_t off, uint32_t cap, uint32_t wire)
{
    const uint8_t *u = p->data + off;

    if (cap < UDP_HLEN)
        return DLP_DEC_ERR_UDP;
    p->sport = rd16(u);
    p->dport = rd16(u + 2);
    uint32_t ulen = rd16(u + 4);
    if (ulen < UDP_HLEN || ulen > wire)
        return DLP_DEC_ERR_UDP;
    p->payload_off = off + UDP_HLEN;
    p->payload_len = min_u32(cap, ulen) - UDP_HLEN;
    p->payload_wire = ulen - UDP_HLEN;
    return DLP_DEC_OK;
}

/*
 * ICMP (v4 type 0/8) and ICMPv6 (128/129) echo: a datagram keyed by its
 * identifier, both ports; its data is free-form (ping -p, ICMP tunnels).
 * Other messages are not scanned: errors quote an earlier packet's header,
 * the rest carry fixed fields.
 */
static dlp_decode_result_t decode_icmp(dlp_packet_t *p, uint32_t off, uint32_t cap, uint32_t wire)
{
    const uint8_t *c = p->data + off;
    bool v6 = p->proto == DLP_PROTO_ICMPV6;

    if (cap < 1)
        return DLP_DEC_ERR_ICMP;
    if (v6 ? p->ipver != 6 : p->ipver != 4)
        goto other;
    if (v6 ? c[0] != DLP_ICMPV6_ECHO_REQUEST && c[0] != DLP_ICMPV6_ECHO_REPLY
           : c[0] != DLP_ICMP_ECHO_REQUEST && c[0] != DLP_ICMP_ECHO_REPLY)
        goto other;
    if (cap < ICMP_ECHO_HLEN)
        return DLP_DEC_ERR_ICMP;
    p->icmp_type = c[0];
    p->sport = p->dport = rd16(c + 4);
    p->payload_off = off + ICMP_ECHO_HLEN;
    p->payload_len = cap - ICMP_ECHO_HLEN;
    p->payload_wire = wire - ICMP_ECHO_HLEN;
    return DLP_DEC_OK;
other:
    set_opaque_payload(p, off, cap, wire);
    return DLP_DEC_OTHER_L4;
}

static dlp_decode_result_t decode_ip4(dlp_packet_t *p, uint32_t off, uint32_t end,
                                      uint32_t wend);
static dlp_decode_result_t decode_ip6(dlp_packet_t *p, uint32_t off, uint32_t end,
                                      uint32_t wend);
static dlp_decode_result_t decode_ethertype(dlp_packet_t *p, uint16_t type, uint32_t off,
                                            uint32_t end, uint32_t wend);

/* Enters one more tunnel, or says the packet nests too deep. */
static bool encap_enter(dlp_packet_t *p, uint8_t kind)
{
    if (p->encap_depth == DLP_ENCAP_DEPTH_MAX)
        return false;
    p->encap_l3[p->encap_depth++] = p->l3_off; /* the carrying header, checked */
    p->encap |= kind;
    p->l3_len = 0; /* the outer one's would overrun an inner header that fails */
    return true;
}

/* IPv4 (proto 4) or IPv6 (proto 41) in the 'cap' captured, 'wire' declared bytes at 'off'. */
static dlp_decode_result_t decode_ip_in_ip(dlp_packet_t *p, uint32_t off, uint32_t cap,
                                           uint32_t wire, bool v6)
{
    if (!encap_enter(p, v6 ? DLP_ENCAP_IP6 : DLP_ENCAP_IPIP))
        return DLP_DEC_ERR_ENCAP_DEPTH;
    return v6 ? decode_ip6(p, off, off + cap, off + wire) : decode_ip4(p, off, off + cap, off + wire);
}

/* An Ethernet frame inside GRE: its tags are checked and skipped (see top). */
static dlp_decode_result_t decode_teb(dlp_packet_t *p, uint32_t off, uint32_t end,
                                      uint32_t wend)
{
    if (!encap_enter(p, DLP_ENCAP_GRE | DLP_ENCAP_ETH))
        return DLP_DEC_ERR_ENCAP_DEPTH;
    if (end - off < ETH_HLEN)
        return DLP_DEC_ERR_L2;
    uint16_t type = rd16(p->data + off + 12);
    off += ETH_HLEN;
    for (int n = 0; type == ETYPE_8021Q || type == ETYPE_8021AD || type == ETYPE_QINQ; n++) {
        if (n == DLP_VLAN_MAX || end - off < 4)
            return DLP_DEC_ERR_VLAN;
        type = rd16(p->data + off + 2);
        off += 4;
    }
    return decode_ethertype(p, type, off, end, wend);
}

/* GRE version 0: the optional checksum, key and sequence words are skipped. */
static dlp_decode_result_t decode_gre(dlp_packet_t *p, uint32_t off, uint32_t cap, uint32_t wire)
{
    const uint8_t *g = p->data + off;

    if (cap < GRE_HLEN)
        return DLP_DEC_ERR_GRE;
    uint16_t flags = rd16(g), type = rd16(g + 2);
    if ((flags & GRE_VERSION) == GRE_V1_PPTP) {
        set_opaque_payload(p, off, cap, wire);
        return DLP_DEC_OTHER_L4;
    }
    /* Routing (RFC 1701 source routes) is deprecated by RFC 2784: no peer sends it. */
    if ((flags & GRE_VERSION) != 0 || (flags & GRE_F_ROUTING))
        return DLP_DEC_ERR_GRE;
    uint32_t hl = GRE_HLEN + ((flags & GRE_F_CSUM) ? 4 : 0) + ((flags & GRE_F_KEY) ? 4 : 0) +
                  ((flags & GRE_F_SEQ) ? 4 : 0);
    if (cap < hl)
        return DLP_DEC_ERR_GRE;
    if (type == ETYPE_TEB)
        return decode_teb(p, off + hl, off + cap, off + wire);
    if (type != ETYPE_IP4 && type != ETYPE_IP6) { /* PPP, MPLS, ERSPAN, ...: not decoded */
        set_opaque_payload(p, off, cap, wire);
        return DLP_DEC_OTHER_L4;
    }
    if (!encap_enter(p, DLP_ENCAP_GRE))
        return DLP_DEC_ERR_ENCAP_DEPTH;
    return decode_ethertype(p, type, off + hl, off + cap, off + wire);
}

/* 'cap' bytes of the L4 part are captured, 'wire' declared by IP (cap <= wire). */
static dlp_decode_result_t decode_l4(dlp_packet_t *p, uint32_t off, uint32_t cap, uint32_t wire)
{
    p->l4_off = off;
    /* TCP and UDP first: the rest is rare, and a switch over all cost them a compare tree. */
    if (DLP_LIKELY(p->proto == DLP_PROTO_TCP))
        return decode_tcp(p, off, cap, wire);
    if (p->proto == DLP_PROTO_UDP)
        return decode_udp(p, off, cap, wire);
    switch (p->proto) {
    case DLP_PROTO_ICMP:
    case DLP_PROTO_ICMPV6:
        return decode_icmp(p, off, cap, wire);
    case DLP_PROTO_IPIP:
        return decode_ip_in_ip(p, off, cap, wire, false);
    case DLP_PROTO_IPV6:
        return decode_ip_in_ip(p, off, cap, wire, true);
    case DLP_PROTO_GRE:
        return decode_gre(p, off, cap, wire);
    default:
        set_opaque_payload(p, off, cap, wire);
        return DLP_DEC_OTHER_L4;
    }
}

/*
 * The IPv4 packet at 'off'; 'end' is the captured end of the enclosing layer
 * (caplen outermost), 'wend' its end on the wire (wirelen outermost; a
 * tunnel's declared payload). A datagram longer than what carries it is
 * dropped by its receiver: decoding it as a truncated capture would take the
 * bytes it lacks for a gap, and the real segment sent next for a
 * retransmission of it (never scanned).
 */
static dlp_decode_result_t decode_ip4(dlp_packet_t *p, uint32_t off, uint32_t end,
                                      uint32_t wend)
{
    const uint8_t *h = p->data + off;
    uint32_t cap = end - off;

    p->l3_off = off;
    if (cap < IP4_HLEN || (h[0] >> 4) != 4)
        return DLP_DEC_ERR_IP4;
    uint32_t hl = (uint32_t)(h[0] & 0x0f) * 4;
    uint32_t tot = rd16(h + 2);
    if (hl < IP4_HLEN || hl > cap || tot < hl || tot > wend - off)
        return DLP_DEC_ERR_IP4;
    p->ipver = 4;
    p->ttl = h[8];
    p->proto = h[9];
    memcpy(p->src, v4mapped_prefix, 12);
    memcpy(p->src + 12, h + 12, 4);
    memcpy(p->dst, v4mapped_prefix, 12);
    memcpy(p->dst + 12, h + 16, 4);
    p->l3_len = min_u32(tot, cap);

    uint16_t frag = rd16(h + 6);
    if (DLP_LIKELY((frag & 0x3fff) == 0))
        return decode_l4(p, off + hl, p->l3_len - hl, tot - hl);

    p->frag_more = (frag & 0x2000) != 0;
    p->frag_off = (uint16_t)((frag & 0x1fff) * 8);
    p->frag_id = rd16(h + 4);
    p->frag_hdr_len = hl;
    p->frag_nexthdr = p->proto;
    set_opaque_payload(p, off + hl, p->l3_len - hl, tot - hl);
    if ((uint32_t)p->frag_off + tot > IP_MAXPACKET)
        return DLP_DEC_ERR_FRAG;
    return DLP_DEC_FRAGMENT;
}

/* The fragment header at l3_off + pos (8 bytes, in bounds) of a real fragment. */
static dlp_decode_result_t ip6_fragment(dlp_packet_t *p, uint32_t pos, uint32_t wire)
{
    const uint8_t *f = p->data + p->l3_off + pos;
    uint16_t offm = rd16(f + 2);

    p->frag_nexthdr = f[0];
    p->proto = f[0];
    p->frag_off = offm & 0xfff8;
    p->frag_more = offm & 1;
    p->frag_id = rd32(f + 4);
    pos += 8;
    p->frag_hdr_len = pos;
    set_opaque_payload(p, p->l3_off + pos, p->l3_len - pos, wire - pos);
    if ((uint32_t)p->frag_off + (wire - pos) > IP_MAXPACKET)
        return DLP_DEC_ERR_FRAG;
    return DLP_DEC_FRAGMENT;
}

/*
 * Walks the extension chain from 'nh' at l3_off + 40 within the captured
 * and declared datagram (l3_len), then decodes L4. 'wire' is 40 + payload length.
 */
static dlp_decode_result_t ip6_chain(dlp_packet_t *p, uint8_t nh, uint32_t wire)
{
    uint32_t pos = IP6_HLEN, end = p->l3_len, hlen;

    for (int n = 0;; n++) {
        const uint8_t *e = p->data + p->l3_off + pos;
        switch (nh) {
        case IP6_NH_HOPOPTS:
        case IP6_NH_ROUTING:
        case IP6_NH_DSTOPTS:
        case IP6_NH_MOBILITY:
        case IP6_NH_HIP:
        case IP6_NH_SHIM6:
            if (n == DLP_IP6_EXT_MAX || end - pos < 2)
                return DLP_DEC_ERR_IP6_EXT;
            hlen = ((uint32_t)e[1] + 1) * 8;
            break;
        case IP6_NH_AH:
            if (n == DLP_IP6_EXT_MAX || end - pos < 2)
                return DLP_DEC_ERR_IP6_EXT;
            hlen = ((uint32_t)e[1] + 2) * 4;
            break;
        case IP6_NH_FRAGMENT:
            if (n == DLP_IP6_EXT_MAX || end - pos < 8)
                return DLP_DEC_ERR_IP6_EXT;
            if (rd16(e + 2) & 0xfff9)
                return ip6_fragment(p, pos, wire);
            hlen = 8; /* atomic fragment (RFC 6946): a whole packet */
            break;
        default:
            p->proto = nh;
            if (nh == IP6_NH_NONE) {
                p->l4_off = p->l3_off + pos;
                set_opaque_payload(p, p->l4_off, end - pos, wire - pos);
                return DLP_DEC_OTHER_L4;
            }
            return decode_l4(p, p->l3_off + pos, end - pos, wire - pos);
        }
        if (end - pos < hlen)
            return DLP_DEC_ERR_IP6_EXT;
        nh = e[0];
        pos += hlen;
    }
}

/* The IPv6 packet at 'off', within 'end' captured and 'wend' on the wire (decode_ip4). */
static dlp_decode_result_t decode_ip6(dlp_packet_t *p, uint32_t off, uint32_t end,
                                      uint32_t wend)
{
    const uint8_t *h = p->data + off;
    uint32_t cap = end - off;

    p->l3_off = off;
    if (cap < IP6_HLEN || (h[0] >> 4) != 6)
        return DLP_DEC_ERR_IP6;
    uint32_t plen = rd16(h + 4);
    p->ipver = 6;
    p->ttl = h[7];
    memcpy(p->src, h + 8, 16);
    memcpy(p->dst, h + 24, 16);
    if (plen == 0) /* jumbogram (RFC 2675) or bogus: never on an egress link */
        return DLP_DEC_ERR_IP6;
    if (IP6_HLEN + plen > wend - off) /* longer than what carries it: dropped */
        return DLP_DEC_ERR_IP6;
    p->l3_len = min_u32(IP6_HLEN + plen, cap);
    return ip6_chain(p, h[6], IP6_HLEN + plen);
}

/* Raw IP: the version nibble decides. */
static dlp_decode_result_t decode_raw(dlp_packet_t *p, uint32_t off)
{
    if (p->caplen <= off)
        return DLP_DEC_ERR_L2;
    switch (p->data[off] >> 4) {
    case 4:
        return decode_ip4(p, off, p->caplen, wire_end(p));
    case 6:
        return decode_ip6(p, off, p->caplen, wire_end(p));
    default:
        return DLP_DEC_ERR_L2;
    }
}

/* The packet of Ethertype 'type' at 'off', within 'end' (after any VLAN tags). */
static dlp_decode_result_t decode_ethertype(dlp_packet_t *p, uint16_t type, uint32_t off,
                                            uint32_t end, uint32_t wend)
{
    switch (type) {
    case ETYPE_IP4:
        return decode_ip4(p, off, end, wend);
    case ETYPE_IP6:
        return decode_ip6(p, off, end, wend);
    default:
        return DLP_DEC_NOT_IP; /* ARP, LLDP, an 802.3 length (< ETYPE_MIN), ... */
    }
}

/* The link header's Ethertype 'type', read just before 'off'; VLAN tags may follow. */
static dlp_decode_result_t decode_link_type(dlp_packet_t *p, uint16_t type, uint32_t off)
{
    while (type == ETYPE_8021Q || type == ETYPE_8021AD || type == ETYPE_QINQ) {
        if (p->vlan_count == DLP_VLAN_MAX || p->caplen - off < 4)
            return DLP_DEC_ERR_VLAN;
        p->vlan[p->vlan_count++] = rd16(p->data + off) & 0x0fff;
        type = rd16(p->data + off + 2);
        off += 4;
    }
    return decode_ethertype(p, type, off, p->caplen, wire_end(p));
}

static dlp_decode_result_t decode_af(dlp_packet_t *p, uint32_t af)
{
    switch (af) {
    case BSD_AF_INET:
        return decode_ip4(p, LOOP_HLEN, p->caplen, wire_end(p));
    case BSD_AF_INET6_A:
    case BSD_AF_INET6_B:
    case BSD_AF_INET6_C:
        return decode_ip6(p, LOOP_HLEN, p->caplen, wire_end(p));
    default:
        return DLP_DEC_NOT_IP;
    }
}

/* DLT_NULL: the AF is in the capturing host's byte order, which the file does not say. */
static dlp_decode_result_t decode_null(dlp_packet_t *p)
{
    if (p->caplen < LOOP_HLEN)
        return DLP_DEC_ERR_L2;
    uint32_t af = rd32le(p->data);
    if (af > 0xffff)
        af = rd32(p->data);
    return decode_af(p, af);
}

dlp_decode_result_t dlp_decode(dlp_packet_t *p, uint16_t linktype, const uint8_t *data,
                               uint32_t caplen, uint32_t wirelen, uint64_t ts_us)
{
    packet_reset(p, data, caplen, wirelen, ts_us);
    p->linktype = linktype;
    switch (linktype) {
    case DLP_LINK_EN10MB:
        if (caplen < ETH_HLEN)
            return DLP_DEC_ERR_L2;
        return decode_link_type(p, rd16(data + 12), ETH_HLEN);
    case DLP_LINK_LINUX_SLL:
        if (caplen < SLL_HLEN)
            return DLP_DEC_ERR_L2;
        return decode_link_type(p, rd16(data + 14), SLL_HLEN);
    case DLP_LINK_LINUX_SLL2:
        if (caplen < SLL2_HLEN)
            return DLP_DEC_ERR_L2;
        return decode_link_type(p, rd16(data), SLL2_HLEN);
    case DLP_LINK_RAW:
    case LINK_RAW_ALT1:
    case LINK_RAW_ALT2:
        p->linktype = DLP_LINK_RAW;
        return decode_raw(p, 0);
    case DLP_LINK_IPV4:
        return decode_ip4(p, 0, caplen, wire_end(p));
    case DLP_LINK_IPV6:
        return decode_ip6(p, 0, caplen, wire_end(p));
    case DLP_LINK_NULL:
        return decode_null(p);
    case DLP_LINK_LOOP:
        if (caplen < LOOP_HLEN)
            return DLP_DEC_ERR_L2;
        return decode_af(p, rd32(data));
    default:
        return DLP_DEC_ERR_LINKTYPE;
    }
}

bool dlp_decode_linktype_supported(int linktype)
{
    switch (linktype) {
    case DLP_LINK_EN10MB:
    case DLP_LINK_LINUX_SLL:
    case DLP_LINK_LINUX_SLL2:
    case DLP_LINK_RAW:
    case LINK_RAW_ALT1:
    case LINK_RAW_ALT2:
    case DLP_LINK_IPV4:
    case DLP_LINK_IPV6:
    case DLP_LINK_NULL:
    case DLP_LINK_LOOP:
        return true;
    default:
        return false;
    }
}

dlp_decode_result_t dlp_decode_ip(dlp_packet_t *p, const uint8_t *data, uint32_t len,
                                  uint64_t ts_us, const dlp_packet_t *outer)
{
    packet_reset(p, data, len, len, ts_us);
    p->linktype = DLP_LINK_RAW;
    if (outer != NULL) {
        p->vlan_count = outer->vlan_count < DLP_VLAN_MAX ? outer->vlan_count : DLP_VLAN_MAX;
        for (int i = 0; i < p->vlan_count; i++)
            p->vlan[i] = outer->vlan[i];
    }
    return decode_raw(p, 0);
}

const char *dlp_decode_result_str(dlp_decode_result_t r)
{
    static const char *const names[DLP_DEC__COUNT] = {
        [DLP_DEC_OK] = "ok",
        [DLP_DEC_NOT_IP] = "not_ip",
        [DLP_DEC_OTHER_L4] = "other_l4",
        [DLP_DEC_FRAGMENT] = "fragment",
        [DLP_DEC_ERR_LINKTYPE] = "unsupported_linktype",
        [DLP_DEC_ERR_L2] = "bad_l2",
        [DLP_DEC_ERR_VLAN] = "bad_vlan",
        [DLP_DEC_ERR_IP4] = "bad_ipv4",
        [DLP_DEC_ERR_IP6] = "bad_ipv6",
        [DLP_DEC_ERR_IP6_EXT] = "bad_ipv6_ext",
        [DLP_DEC_ERR_FRAG] = "bad_fragment",
        [DLP_DEC_ERR_TCP] = "bad_tcp",
        [DLP_DEC_ERR_UDP] = "bad_udp",
        [DLP_DEC_ERR_ICMP] = "bad_icmp",
        [DLP_DEC_ERR_GRE] = "bad_gre",
        [DLP_DEC_ERR_ENCAP_DEPTH] = "tunnel_too_deep",
    };
    if ((unsigned)r >= DLP_DEC__COUNT || names[r] == NULL)
        return "unknown";
    return names[r];
}

int dlp_flow_key_make(const dlp_packet_t *p, bool with_vlan, dlp_flow_key_t *k)
{
    memset(k, 0, sizeof(*k));
    k->proto = p->proto;
    k->ipver = p->ipver;
    if (with_vlan) {
        for (int i = 0; i < p->vlan_count && i < DLP_VLAN_MAX; i++)
            k->vlan[i] = p->vlan[i];
    }
    if (p->ipver == 0) /* addresses were not written */
        return 0;
    int c = memcmp(p->src, p->dst, 16);
    int s = c > 0 || (c == 0 && p->sport > p->dport);
    memcpy(k->addr[s], p->src, 16);
    memcpy(k->addr[!s], p->dst, 16);
    k->port[s] = p->sport;
    k->port[!s] = p->dport;
    return s;
}

static inline uint64_t ld64(const uint8_t *b)
{
    uint64_t v;
    memcpy(&v, b, 8);
    return v;
}

/*
 * Endpoints in the key's canonical order, then one splitmix round per
 * address half: the same hash as both directions, 2.5x cheaper than
 * building the key and hashing its 44 bytes.
 */
uint64_t dlp_packet_flow_hash(const dlp_packet_t *p)
{
    const uint8_t *a = p->src, *b = p->dst;
    uint64_t pa = p->sport, pb = p->dport;

    if (p->ipver == 0) /* addresses were not written */
        return dlp_hash_mix64(FLOW_HASH_SEED);
    int c = memcmp(a, b, 16);
    if (c > 0 || (c == 0 && pa > pb)) {
        const uint8_t *t = a;
        uint64_t tp = pa;
        a = b;
        b = t;
        pa = pb;
        pb = tp;
    }
    uint64_t h =
        FLOW_HASH_SEED ^ ((uint64_t)p->proto << 40 | (uint64_t)p->ipver << 32 | pa << 16 | pb);
    h = dlp_hash_mix64(h ^ ld64(a));
    h = dlp_hash_mix64(h ^ ld64(a + 8));
    h = dlp_hash_mix64(h ^ ld64(b));
    return dlp_hash_mix64(h ^ ld64(b + 8));
}
