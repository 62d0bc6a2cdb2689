/*
 * packet.h - the decoder: a captured frame -> a dlp_packet_t view of its
 * layers (offsets, addresses, ports, TCP fields), and the flow key and
 * symmetric hash derived from it.
 *
 * Tunnels (IPv4/IPv6 in IPv4/IPv6, GRE version 0 with IPv4, IPv6 or an
 * Ethernet frame inside) are decapsulated, up to DLP_ENCAP_DEPTH_MAX nested:
 * the view is the innermost packet's (its addresses, ports and offsets, the
 * VLAN tags of the outer frame), as Suricata keys the inner flow. ICMP and
 * ICMPv6 echo request/reply decode like a datagram whose two ports are the
 * echo identifier; other ICMP messages are DLP_DEC_OTHER_L4.
 *
 * Pure: no allocation, no globals, no I/O; callable from any thread. The
 * view borrows the frame bytes. A frame that cannot be decoded yields a
 * dlp_decode_result_t naming why; the caller counts it (Suricata's decoder
 * events) and skips the packet. Never crashes on any input.
 */
#ifndef DLP_PACKET_H
#define DLP_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/limits.h"

/* Link types, as libpcap's DLT_ values for the ones we decode. */
enum {
    DLP_LINK_NULL = 0,        /* BSD loopback, host-order AF */
    DLP_LINK_EN10MB = 1,      /* Ethernet, 802.1Q/802.1ad/QinQ tags */
    DLP_LINK_RAW = 12,        /* raw IPv4/IPv6 (LINKTYPE_RAW 101 maps here) */
    DLP_LINK_LOOP = 108,      /* OpenBSD loopback, network-order AF */
    DLP_LINK_LINUX_SLL = 113, /* Linux cooked v1 */
    DLP_LINK_IPV4 = 228,
    DLP_LINK_IPV6 = 229,
    DLP_LINK_LINUX_SLL2 = 276, /* Linux cooked v2 */
};

/*
 * NOTE: when adding a result, add its name to dlp_decode_result_str() and
 * keep DLP_DEC_ERR_FIRST..DLP_DEC__COUNT the errors.
 */
typedef enum {
    DLP_DEC_OK = 0,        /* TCP, UDP or ICMP echo packet, fully decoded */
    DLP_DEC_NOT_IP,        /* ARP, LLDP, ... : not an error, nothing to do */
    DLP_DEC_OTHER_L4,      /* ICMP errors, ESP, SCTP, ...: IP, but no flow to scan */
    DLP_DEC_FRAGMENT,      /* an IP fragment: hand it to dlp_defrag */
    DLP_DEC_ERR_FIRST,
    DLP_DEC_ERR_LINKTYPE = DLP_DEC_ERR_FIRST, /* link type not supported */
    DLP_DEC_ERR_L2,        /* link header short or malformed */
    DLP_DEC_ERR_VLAN,      /* more than DLP_VLAN_MAX tags, or short tag */
    DLP_DEC_ERR_IP4,       /* bad IPv4 header (version, IHL, length, options) */
    DLP_DEC_ERR_IP6,       /* bad IPv6 header */
    DLP_DEC_ERR_IP6_EXT,   /* bad or too long IPv6 extension chain */
    DLP_DEC_ERR_FRAG,      /* inconsistent fragment (offset+len > 65535 ...) */
    DLP_DEC_ERR_TCP,       /* TCP header short or bad data offset */
    DLP_DEC_ERR_UDP,       /* UDP header short or bad length */
    DLP_DEC_ERR_ICMP,      /* ICMP/ICMPv6 echo header short */
    DLP_DEC_ERR_GRE,       /* GRE header short, routing present, or version > 1 */
    DLP_DEC_ERR_ENCAP_DEPTH, /* more than DLP_ENCAP_DEPTH_MAX nested tunnels */
    DLP_DEC__COUNT
} dlp_decode_result_t;

const char *dlp_decode_result_str(dlp_decode_result_t r);

#define DLP_TCP_FIN 0x01
#define DLP_TCP_SYN 0x02
#define DLP_TCP_RST 0x04
#define DLP_TCP_PSH 0x08
#define DLP_TCP_ACK 0x10
#define DLP_TCP_URG 0x20

#define DLP_PROTO_ICMP 1
#define DLP_PROTO_IPIP 4 /* IPv4 inside */
#define DLP_PROTO_TCP 6
#define DLP_PROTO_UDP 17
#define DLP_PROTO_IPV6 41 /* IPv6 inside */
#define DLP_PROTO_GRE 47
#define DLP_PROTO_ICMPV6 58

#define DLP_ICMP_ECHO_REPLY 0
#define DLP_ICMP_ECHO_REQUEST 8
#define DLP_ICMPV6_ECHO_REQUEST 128
#define DLP_ICMPV6_ECHO_REPLY 129

/* dlp_packet_t.encap: the kinds of tunnel the packet was carried in. */
#define DLP_ENCAP_GRE 0x01 /* GRE, whatever it carries */
#define DLP_ENCAP_IPIP 0x02 /* IPv4 in IPv4/IPv6 (protocol 4) */
#define DLP_ENCAP_IP6 0x04 /* IPv6 in IPv4/IPv6 (protocol 41) */
#define DLP_ENCAP_ETH 0x08 /* GRE carrying an Ethernet frame (0x6558) */

/* dlp_packet_t.tun_dir: how the IP packets carrying it travel against --home-net. The
 * inner addresses are the sender's to choose: a tunnel from inside to outside carries its
 * inner packet out whatever they say (docs/design.md "Decode: tunnels and ICMP"). */
#define DLP_TUN_OUT 0x01 /* some carrying packet goes from inside to outside */
#define DLP_TUN_IN 0x02  /* some carrying packet goes from outside to inside */

/*
 * A decoded packet. Addresses are 16 bytes, IPv4 stored IPv4-mapped.
 * Layers are offsets into 'data' so a packet can be copied with its view.
 */
typedef struct dlp_packet {
    uint64_t ts_us;         /* capture time, microseconds since the epoch */
    uint64_t clock_us;      /* the input's clock here: the largest ts_us so far (0: ts_us) */
    const uint8_t *data;    /* the frame, borrowed */
    uint32_t caplen;        /* bytes present in data */
    uint32_t wirelen;       /* bytes on the wire */
    uint16_t linktype;      /* DLP_LINK_* */
    uint8_t ipver;          /* 4 or 6; 0 if not IP */
    uint8_t proto;          /* L4 protocol number (after IPv6 extensions) */
    uint32_t l3_off;        /* start of the IP header */
    uint32_t l3_len;        /* IP header + payload per the IP length field,
                             * clipped to what was captured */
    uint32_t l4_off;        /* start of TCP/UDP header (valid if DLP_DEC_OK) */
    uint32_t payload_off;   /* start of the L4 payload */
    uint32_t payload_len;   /* payload bytes present (captured) */
    uint32_t payload_wire;  /* payload bytes per the headers (>= payload_len
                             * when the capture truncated the packet) */
    uint8_t src[16], dst[16];
    uint16_t sport, dport;  /* host order */
    uint16_t vlan[DLP_VLAN_MAX];
    uint8_t vlan_count;
    uint8_t ttl;            /* IPv4 TTL or IPv6 hop limit */
    uint8_t tcp_flags;
    uint8_t frag_more;      /* fragment: more fragments follow */
    uint32_t tcp_seq, tcp_ack;
    uint16_t tcp_win;
    uint16_t tcp_urp;       /* urgent pointer (meaningful with DLP_TCP_URG) */
    uint16_t frag_off;      /* fragment: offset of this fragment's data, bytes */
    uint32_t frag_id;       /* fragment: IPv4 id or IPv6 identification */
    uint32_t frag_hdr_len;  /* fragment: bytes from l3_off to the fragment data */
    uint8_t frag_nexthdr;   /* IPv6 fragment: next header after the fragment header */
    uint8_t icmp_type;      /* ICMP/ICMPv6 echo: the message type */
    uint8_t encap_depth;    /* tunnels decapsulated to reach l3_off (0: none) */
    uint8_t encap;          /* DLP_ENCAP_* of those tunnels */
    uint8_t tun_dir;        /* DLP_TUN_*: set by the dispatcher (--home-net), not the decoder */
    uint64_t disp_hash;     /* dispatcher: its tunnel's address pair hash when the packet no
                             * longer shows it (an inner datagram rebuilt); 0: none */
    uint32_t encap_l3[DLP_ENCAP_DEPTH_MAX]; /* each tunnel's carrying IP header: its offset in
                                             * data, outermost first (encap_depth valid) */
} dlp_packet_t;

/*
 * Decodes 'caplen' bytes of a frame of link type 'linktype' into *p.
 * 'data' is borrowed and must outlive *p. Fills every field it reaches even
 * on error (for diagnostics). For DLP_DEC_FRAGMENT, the L3 fields and frag_*
 * are valid and L4 is not parsed.
 *
 * Details: fields not reached are 0, except src/dst, which are valid only
 * when ipver != 0. For DLP_DEC_FRAGMENT, proto is the upper-layer protocol
 * (IPv4 protocol, IPv6 fragment header's next header) and payload_off/_len/
 * _wire describe the fragment data (payload_off == l3_off + frag_hdr_len).
 * For DLP_DEC_OTHER_L4, l4_off == payload_off is the first byte after the IP
 * headers and payload_len/_wire count the rest. Link types 14 and 101 are
 * accepted as raw IP and stored as DLP_LINK_RAW. In a tunnel, every field
 * is the innermost IP packet's that was reached (an inner fragment is a
 * DLP_DEC_FRAGMENT of the inner datagram; an outer fragment one of the outer:
 * decapsulation waits for its reassembly); encap_depth and encap say which
 * tunnels were crossed. ICMP echo: sport == dport == the echo identifier,
 * icmp_type is set, and the payload is what follows the 8-byte echo header.
 */
dlp_decode_result_t dlp_decode(dlp_packet_t *p, uint16_t linktype, const uint8_t *data,
                               uint32_t caplen, uint32_t wirelen, uint64_t ts_us);

/* Whether dlp_decode() reads frames of this link type (libpcap DLT_*); the
 * frames of any other give DLP_DEC_ERR_LINKTYPE. For warnings at open. */
bool dlp_decode_linktype_supported(int linktype);

/*
 * Decodes a bare IP datagram (e.g. one dlp_defrag rebuilt) into *p while
 * keeping the VLAN tags of 'outer' (may be NULL). linktype becomes DLP_LINK_RAW.
 */
dlp_decode_result_t dlp_decode_ip(dlp_packet_t *p, const uint8_t *data, uint32_t len,
                                  uint64_t ts_us, const dlp_packet_t *outer);

static inline const uint8_t *dlp_packet_payload(const dlp_packet_t *p)
{
    return p->data + p->payload_off;
}
static inline const uint8_t *dlp_packet_l3(const dlp_packet_t *p)
{
    return p->data + p->l3_off;
}

/*
 * Flow identity. Canonical: endpoint 0 is the lower of (addr, port), so both
 * directions give the same key. Padding is zeroed: compare with memcmp.
 */
typedef struct dlp_flow_key {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint16_t vlan[DLP_VLAN_MAX];
    uint8_t proto;
    uint8_t ipver;
    uint8_t pad_[2];
} dlp_flow_key_t;

/*
 * Builds the canonical key of *p. Returns 0 if the packet's source is
 * endpoint 0 of the key, 1 if it is endpoint 1. 'with_vlan' false leaves
 * the VLAN ids out (SPAN ports that tag the two directions differently).
 */
int dlp_flow_key_make(const dlp_packet_t *p, bool with_vlan, dlp_flow_key_t *k);

/* Symmetric hash of the 5-tuple (VLANs ignored): both directions agree. */
uint64_t dlp_packet_flow_hash(const dlp_packet_t *p);

#endif
