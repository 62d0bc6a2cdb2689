/*
 * test_decode.c - the packet decoder: every link type, IPv4 options and
 * fragments, the IPv6 extension chain and its bound, TCP/UDP checks, ICMP
 * echo, tunnels (IP in IP, GRE) with their depth bound and malformed headers,
 * truncation at every length, snaplen and padding, flow key and hash
 * symmetry, and a seeded mutation loop (run under ASan+UBSan).
 */
#include "dlp_test.h"

#include "dlp/defrag.h"
#include "dlp/packet.h"
#include "dlp/stats.h"
#include "frame_build.h"

/* Ethernet / IPv4 / TCP "hello", written out byte by byte. */
/* clang-format off */
static const uint8_t eth_ip4_tcp[] = {
    /* Ethernet: dst 02:00:00:00:00:02, src 02:00:00:00:00:01, type 0x0800 IPv4 */
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
    /* IPv4: ver 4 IHL 5, tos 0, total length 45, id 0x1234, DF, TTL 64, proto 6 TCP,
     * checksum (unchecked), 10.0.0.1 -> 192.168.1.2 */
    0x45, 0x00, 0x00, 0x2d, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
    10, 0, 0, 1, 192, 168, 1, 2,
    /* TCP: 40000 -> 443, seq 0x01020304, ack 0x0a0b0c0d, data offset 5, PSH|ACK,
     * window 65535, checksum, urgent */
    0x9c, 0x40, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d,
    0x50, 0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    /* payload */
    'h', 'e', 'l', 'l', 'o',
};
/* clang-format on */

static const uint8_t mapped_10_0_0_1[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
static const uint8_t mapped_192_168_1_2[16] = {0, 0, 0,    0,    0,   0,   0, 0,
                                               0, 0, 0xff, 0xff, 192, 168, 1, 2};

static int teardown_heap(void **state)
{
    (void)state;
    heap_release();
    return 0;
}

/* IPv4/UDP 10.0.0.1:1234 -> 10.0.0.2:53 with n payload bytes 'A'. */
static void ip4_udp(frame_t *f, uint32_t n)
{
    ip4(f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 8 + n, 7, 0, 0);
    udp(f, 1234, 53, (uint16_t)(8 + n));
    memset(f->b + f->n, 'A', n);
    f->n += n;
}

/* IPv6/TCP 2001:db8::1:40000 -> 2001:db8::2:80 with payload "data". */
static void ip6_tcp(frame_t *f)
{
    ip6(f, DLP_PROTO_TCP, 24, 1, 2);
    tcp(f, 40000, 80, 100, 0, DLP_TCP_SYN, 0);
    put_bytes(f, "data", 4);
}

/* ---------------------------------------------------------------------------------- */

static void ethernet_ipv4_tcp_all_fields(void **state)
{
    (void)state;
    dlp_packet_t p;
    memset(&p, 0xa5, sizeof(p)); /* the decoder must not rely on a zeroed packet */
    assert_int_equal(
        decode_bytes(&p, DLP_LINK_EN10MB, eth_ip4_tcp, sizeof(eth_ip4_tcp), sizeof(eth_ip4_tcp)),
        DLP_DEC_OK);
    assert_int_equal(p.ts_us, 1000);
    assert_int_equal(p.caplen, 59);
    assert_int_equal(p.wirelen, 59);
    assert_int_equal(p.linktype, DLP_LINK_EN10MB);
    assert_int_equal(p.ipver, 4);
    assert_int_equal(p.proto, DLP_PROTO_TCP);
    assert_int_equal(p.ttl, 64);
    assert_int_equal(p.vlan_count, 0);
    assert_int_equal(p.l3_off, 14);
    assert_int_equal(p.l3_len, 45);
    assert_int_equal(p.l4_off, 34);
    assert_int_equal(p.payload_off, 54);
    assert_int_equal(p.payload_len, 5);
    assert_int_equal(p.payload_wire, 5);
    assert_memory_equal(dlp_packet_payload(&p), "hello", 5);
    assert_ptr_equal(dlp_packet_l3(&p), p.data + 14);
    assert_memory_equal(p.src, mapped_10_0_0_1, 16);
    assert_memory_equal(p.dst, mapped_192_168_1_2, 16);
    assert_int_equal(p.sport, 40000);
    assert_int_equal(p.dport, 443);
    assert_int_equal(p.tcp_seq, 0x01020304);
    assert_int_equal(p.tcp_ack, 0x0a0b0c0d);
    assert_int_equal(p.tcp_flags, DLP_TCP_PSH | DLP_TCP_ACK);
    assert_int_equal(p.tcp_win, 65535);
    assert_int_equal(p.frag_more, 0);
    assert_int_equal(p.frag_off, 0);
    assert_int_equal(p.frag_id, 0);
    assert_int_equal(p.frag_hdr_len, 0);
}

/* Tag TPIDs: 0x8100 802.1Q, 0x88a8 802.1ad, 0x9100 old QinQ. */
static void ethernet_vlan_tags(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x8100); /* one tag: PCP 5, VID 100 */
    vlan_tag(&f, 0xa000 | 100, 0x0800);
    ip4_udp(&f, 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_int_equal(p.vlan_count, 1);
    assert_int_equal(p.vlan[0], 100);
    assert_int_equal(p.l3_off, 18);
    assert_int_equal(p.payload_len, 4);

    static const uint16_t outer_tpids[] = {0x88a8, 0x9100, 0x8100};
    for (unsigned i = 0; i < DLP_ARRAY_LEN(outer_tpids); i++) {
        f.n = 0;
        eth(&f, outer_tpids[i]); /* outer: VID 200 (S-tag), inner 802.1Q VID 4095 */
        vlan_tag(&f, 200, 0x8100);
        vlan_tag(&f, 0xf000 | 4095, 0x86dd);
        ip6_tcp(&f);
        assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
        assert_int_equal(p.vlan_count, 2);
        assert_int_equal(p.vlan[0], 200);
        assert_int_equal(p.vlan[1], 4095);
        assert_int_equal(p.l3_off, 22);
        assert_int_equal(p.ipver, 6);
        assert_int_equal(p.dport, 80);
    }

    f.n = 0; /* a third tag exceeds DLP_VLAN_MAX */
    eth(&f, 0x88a8);
    vlan_tag(&f, 1, 0x8100);
    vlan_tag(&f, 2, 0x8100);
    vlan_tag(&f, 3, 0x0800);
    ip4_udp(&f, 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_VLAN);
    assert_int_equal(p.vlan_count, DLP_VLAN_MAX);

    f.n = 0; /* a tag cut short */
    eth(&f, 0x8100);
    put16(&f, 5);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_VLAN);
}

static void ethernet_not_ip(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x0806); /* ARP request */
    put_zero(&f, 28);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_NOT_IP);
    assert_int_equal(p.ipver, 0);

    f.n = 0;
    eth(&f, 0x88cc); /* LLDP */
    put_zero(&f, 32);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_NOT_IP);

    f.n = 0;
    eth(&f, 46); /* 802.3 length field + LLC (STP) */
    put_bytes(&f, "\x42\x42\x03", 3);
    put_zero(&f, 43);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_NOT_IP);

    f.n = 0;
    eth(&f, 0x8100); /* ARP inside a VLAN */
    vlan_tag(&f, 9, 0x0806);
    put_zero(&f, 28);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_NOT_IP);
    assert_int_equal(p.vlan[0], 9);

    assert_int_equal(decode_bytes(&p, DLP_LINK_EN10MB, eth_ip4_tcp, 13, 13), DLP_DEC_ERR_L2);
    assert_int_equal(decode_bytes(&p, 147, eth_ip4_tcp, 59, 59), DLP_DEC_ERR_LINKTYPE);
    assert_int_equal(decode_bytes(&p, 9999, eth_ip4_tcp, 59, 59), DLP_DEC_ERR_LINKTYPE);
    /* what capture warns about at open: the link types dlp_decode() refuses */
    static const int yes[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276};
    static const int no[] = {-1, 2, 105, 127, 147, 9999};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(dlp_decode_linktype_supported(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(dlp_decode_linktype_supported(no[i]));
}

static void linux_cooked_v1_v2(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    /* SLL v1: packet type 4 (outgoing), ARPHRD_ETHER 1, addr len 6, addr, protocol IPv4 */
    put16(&f, 4);
    put16(&f, 1);
    put16(&f, 6);
    put_bytes(&f, "\x02\x00\x00\x00\x00\x01\x00\x00", 8);
    put16(&f, 0x0800);
    ip4_udp(&f, 10);
    assert_int_equal(decode_frame(&p, DLP_LINK_LINUX_SLL, &f), DLP_DEC_OK);
    assert_int_equal(p.l3_off, 16);
    assert_int_equal(p.linktype, DLP_LINK_LINUX_SLL);
    assert_int_equal(p.payload_len, 10);
    assert_int_equal(decode_bytes(&p, DLP_LINK_LINUX_SLL, f.b, 15, 15), DLP_DEC_ERR_L2);

    /* SLL v1 with the VLAN tag libpcap re-inserts at the protocol field */
    f.n = 14;
    put16(&f, 0x8100);
    vlan_tag(&f, 42, 0x86dd);
    ip6_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_LINUX_SLL, &f), DLP_DEC_OK);
    assert_int_equal(p.vlan_count, 1);
    assert_int_equal(p.vlan[0], 42);
    assert_int_equal(p.l3_off, 20);

    /* SLL v1, protocol 0x0004 (802.2 LLC frames): not IP */
    f.n = 14;
    put16(&f, 0x0004);
    put_zero(&f, 20);
    assert_int_equal(decode_frame(&p, DLP_LINK_LINUX_SLL, &f), DLP_DEC_NOT_IP);

    /* SLL v2: protocol IPv6, reserved, ifindex 3, ARPHRD_ETHER, outgoing, addr len 6, addr */
    f.n = 0;
    put16(&f, 0x86dd);
    put16(&f, 0);
    put32(&f, 3);
    put16(&f, 1);
    put8(&f, 4);
    put8(&f, 6);
    put_bytes(&f, "\x02\x00\x00\x00\x00\x01\x00\x00", 8);
    ip6_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_LINUX_SLL2, &f), DLP_DEC_OK);
    assert_int_equal(p.l3_off, 20);
    assert_int_equal(p.ipver, 6);
    assert_int_equal(p.payload_len, 4);
    assert_int_equal(decode_bytes(&p, DLP_LINK_LINUX_SLL2, f.b, 19, 19), DLP_DEC_ERR_L2);

    f.b[0] = 0x08; /* SLL v2 protocol ARP */
    f.b[1] = 0x06;
    assert_int_equal(decode_frame(&p, DLP_LINK_LINUX_SLL2, &f), DLP_DEC_NOT_IP);
}

static void raw_ip_link_types(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f4 = {.n = 0}, f6 = {.n = 0};
    ip4_udp(&f4, 3);
    ip6_tcp(&f6);

    static const uint16_t raw_types[] = {DLP_LINK_RAW, 14, 101};
    for (unsigned i = 0; i < DLP_ARRAY_LEN(raw_types); i++) {
        assert_int_equal(decode_frame(&p, raw_types[i], &f4), DLP_DEC_OK);
        assert_int_equal(p.linktype, DLP_LINK_RAW);
        assert_int_equal(p.ipver, 4);
        assert_int_equal(p.l3_off, 0);
        assert_int_equal(decode_frame(&p, raw_types[i], &f6), DLP_DEC_OK);
        assert_int_equal(p.ipver, 6);
        assert_int_equal(p.l4_off, 40);
    }
    assert_int_equal(decode_frame(&p, DLP_LINK_IPV4, &f4), DLP_DEC_OK);
    assert_int_equal(p.linktype, DLP_LINK_IPV4);
    assert_int_equal(decode_frame(&p, DLP_LINK_IPV6, &f6), DLP_DEC_OK);
    assert_int_equal(decode_frame(&p, DLP_LINK_IPV4, &f6), DLP_DEC_ERR_IP4); /* wrong version */
    assert_int_equal(decode_frame(&p, DLP_LINK_IPV6, &f4), DLP_DEC_ERR_IP6);

    f4.b[0] = 0x55; /* version 5 on a raw link: neither v4 nor v6 */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f4), DLP_DEC_ERR_L2);
    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f4.b, 0, 0), DLP_DEC_ERR_L2);
}

/* BSD loopback: a 4-byte address family, then the IP packet. */
static void loopback_null_and_loop(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    put_bytes(&f, "\x02\x00\x00\x00", 4); /* DLT_NULL, AF_INET from a little-endian host */
    ip4_udp(&f, 1);
    assert_int_equal(decode_frame(&p, DLP_LINK_NULL, &f), DLP_DEC_OK);
    assert_int_equal(p.l3_off, 4);
    memcpy(f.b, "\x00\x00\x00\x02", 4); /* AF_INET from a big-endian host */
    assert_int_equal(decode_frame(&p, DLP_LINK_NULL, &f), DLP_DEC_OK);
    assert_int_equal(decode_frame(&p, DLP_LINK_LOOP, &f), DLP_DEC_OK); /* LOOP: network order */
    memcpy(f.b, "\x02\x00\x00\x00", 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_LOOP, &f), DLP_DEC_NOT_IP);

    static const uint8_t af6[] = {24, 28, 30}; /* AF_INET6: NetBSD/OpenBSD, FreeBSD, Darwin */
    for (unsigned i = 0; i < DLP_ARRAY_LEN(af6); i++) {
        f.n = 0;
        put8(&f, af6[i]); /* little-endian host */
        put_zero(&f, 3);
        ip6_tcp(&f);
        assert_int_equal(decode_frame(&p, DLP_LINK_NULL, &f), DLP_DEC_OK);
        assert_int_equal(p.ipver, 6);
        assert_int_equal(p.l3_off, 4);
        memset(f.b, 0, 4); /* big-endian host, and DLT_LOOP */
        f.b[3] = af6[i];
        assert_int_equal(decode_frame(&p, DLP_LINK_NULL, &f), DLP_DEC_OK);
        assert_int_equal(decode_frame(&p, DLP_LINK_LOOP, &f), DLP_DEC_OK);
    }
    memcpy(f.b, "\x07\x00\x00\x00", 4); /* AF 7: not IP */
    assert_int_equal(decode_frame(&p, DLP_LINK_NULL, &f), DLP_DEC_NOT_IP);
    assert_int_equal(decode_bytes(&p, DLP_LINK_NULL, f.b, 3, 3), DLP_DEC_ERR_L2);
    assert_int_equal(decode_bytes(&p, DLP_LINK_LOOP, f.b, 3, 3), DLP_DEC_ERR_L2);
}

static void ipv4_options_and_header_errors(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    for (uint32_t opt = 0; opt <= 40; opt += 4) { /* IHL 5 .. 15 */
        f.n = 0;
        eth(&f, 0x0800);
        ip4(&f, DLP_PROTO_TCP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 20 + 3, 1, 0, opt);
        tcp(&f, 1, 2, 3, 4, DLP_TCP_ACK, 0);
        put_bytes(&f, "abc", 3);
        assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
        assert_int_equal(p.l4_off, 14 + 20 + opt);
        assert_int_equal(p.l3_len, 20 + opt + 23);
        assert_int_equal(p.payload_len, 3);
        assert_memory_equal(dlp_packet_payload(&p), "abc", 3);
    }

    f.n = 0;
    eth(&f, 0x0800);
    ip4_udp(&f, 4);
    f.b[14] = 0x44; /* IHL 4 */
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_IP4);
    f.b[14] = 0x65; /* version 6 behind an IPv4 Ethertype */
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_IP4);
    f.b[14] = 0x4f; /* IHL 15 (60 bytes) but only 32 bytes of IP captured */
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_IP4);
    f.b[14] = 0x45;
    f.b[16] = 0;
    f.b[17] = 19; /* total length < header length */
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_IP4);
    f.b[17] = 20; /* total length = header only: UDP header missing */
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_UDP);
}

static void ipv4_fragments(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x0800); /* first fragment: MF, offset 0, 16 bytes of a UDP datagram */
    ip4(&f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 16, 0xbeef, 0x2000, 4);
    udp(&f, 1234, 53, 100);
    put_zero(&f, 8);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_FRAGMENT);
    assert_int_equal(p.frag_more, 1);
    assert_int_equal(p.frag_off, 0);
    assert_int_equal(p.frag_id, 0xbeef);
    assert_int_equal(p.frag_hdr_len, 24);
    assert_int_equal(p.proto, DLP_PROTO_UDP);
    assert_int_equal(p.sport, 0); /* L4 not parsed */
    assert_int_equal(p.payload_off, 14 + 24);
    assert_int_equal(p.payload_len, 16);
    assert_int_equal(p.payload_wire, 16);

    f.n = 0; /* last fragment at offset 8184 * 8 */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 8, 0xbeef, 8184, 0);
    put_zero(&f, 8);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_FRAGMENT);
    assert_int_equal(p.frag_more, 0);
    assert_int_equal(p.frag_off, 65472);

    f.n = 0; /* offset 8186 * 8 + total length 36 = 65524 <= 65535 */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 16, 0xbeef, 8186, 0);
    put_zero(&f, 16);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_FRAGMENT);
    f.n = 0; /* offset 8190 * 8 + 36 = 65556: ping of death */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 16, 0xbeef, 8190, 0);
    put_zero(&f, 16);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_FRAG);

    f.n = 0; /* DF alone is not a fragment */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 8, 1, 0x4000, 0);
    udp(&f, 1, 2, 8);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_int_equal(p.payload_len, 0);
}

/* IPv6 with hop-by-hop, routing, destination options, then TCP. */
static void ipv6_extension_chain(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x86dd);
    ip6(&f, 0, 8 + 24 + 16 + 20 + 4, 1, 2);
    ip6_ext(&f, 43, 0); /* hop-by-hop, 8 bytes, next: routing */
    ip6_ext(&f, 60, 2); /* routing, 24 bytes, next: destination options */
    ip6_ext(&f, 6, 1);  /* destination options, 16 bytes, next: TCP */
    tcp(&f, 5000, 25, 1, 2, DLP_TCP_ACK, 0);
    put_bytes(&f, "MAIL", 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_int_equal(p.proto, DLP_PROTO_TCP);
    assert_int_equal(p.l3_len, 40 + 72);
    assert_int_equal(p.l4_off, 14 + 40 + 48);
    assert_int_equal(p.payload_len, 4);
    assert_int_equal(p.sport, 5000);
    assert_int_equal(p.ttl, 64);
    assert_int_equal(p.src[0], 0x20);
    assert_int_equal(p.src[15], 1);
    assert_int_equal(p.dst[15], 2);

    f.n = 0; /* AH (length in 4-byte units + 2): 24 bytes, then mobility (other), then UDP */
    ip6(&f, 51, 24 + 8 + 8 + 2, 1, 2);
    put8(&f, 135);
    put8(&f, 4);
    put_zero(&f, 22);
    ip6_ext(&f, 17, 0);
    udp(&f, 1, 2, 10);
    put_bytes(&f, "hi", 2);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.l4_off, 40 + 32);
    assert_memory_equal(dlp_packet_payload(&p), "hi", 2);

    f.n = 0; /* an atomic fragment (offset 0, M 0) is a whole packet */
    ip6(&f, 44, 8 + 8 + 1, 1, 2);
    ip6_frag(&f, 17, 0, 0, 0x11223344);
    udp(&f, 7, 9, 9);
    put8(&f, 'x');
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.frag_id, 0);
    assert_int_equal(p.payload_len, 1);

    f.n = 0; /* no next header */
    ip6(&f, 60, 8, 1, 2);
    ip6_ext(&f, 59, 0);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OTHER_L4);
    assert_int_equal(p.proto, 59);
    assert_int_equal(p.payload_len, 0);
}

static void ipv6_chain_bound_and_overruns(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    for (int n = DLP_IP6_EXT_MAX; n <= DLP_IP6_EXT_MAX + 1; n++) {
        f.n = 0;
        ip6(&f, 60, (uint16_t)(8 * n + 8), 1, 2);
        for (int i = 0; i < n; i++)
            ip6_ext(&f, i == n - 1 ? 17 : 60, 0);
        udp(&f, 1, 2, 8);
        assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f),
                         n == DLP_IP6_EXT_MAX ? DLP_DEC_OK : DLP_DEC_ERR_IP6_EXT);
    }

    f.n = 0; /* an extension header longer than the payload length */
    ip6(&f, 0, 16, 1, 2);
    ip6_ext(&f, 17, 2); /* claims 24 bytes */
    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f.b, 56, 56), DLP_DEC_ERR_IP6_EXT);

    f.n = 0; /* payload length 1: not even the 2 bytes of an extension header */
    ip6(&f, 0, 1, 1, 2);
    put8(&f, 0);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_IP6_EXT);

    f.n = 0; /* fragment header cut: 6 of its 8 bytes */
    ip6(&f, 44, 6, 1, 2);
    put_zero(&f, 6);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_IP6_EXT);

    f.n = 0; /* payload length 0: jumbogram */
    ip6(&f, 0, 0, 1, 2);
    ip6_ext(&f, 17, 0);
    udp(&f, 1, 2, 8);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_IP6);

    f.n = 0;
    ip6_tcp(&f);
    f.b[0] = 0x40; /* version 4 in an IPv6 Ethertype/link */
    assert_int_equal(decode_frame(&p, DLP_LINK_IPV6, &f), DLP_DEC_ERR_IP6);
    assert_int_equal(decode_bytes(&p, DLP_LINK_IPV6, f.b, 39, 39), DLP_DEC_ERR_IP6);
}

static void ipv6_fragments(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x86dd); /* hop-by-hop, then fragment offset 1448, M, id 0xdeadbeef, UDP */
    ip6(&f, 0, 8 + 8 + 16, 1, 2);
    ip6_ext(&f, 44, 0);
    ip6_frag(&f, 17, 1448, 1, 0xdeadbeef);
    put_zero(&f, 16);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_FRAGMENT);
    assert_int_equal(p.ipver, 6);
    assert_int_equal(p.frag_off, 1448);
    assert_int_equal(p.frag_more, 1);
    assert_int_equal(p.frag_id, 0xdeadbeef);
    assert_int_equal(p.frag_hdr_len, 40 + 8 + 8);
    assert_int_equal(p.frag_nexthdr, 17);
    assert_int_equal(p.proto, 17);
    assert_int_equal(p.payload_off, 14 + 56);
    assert_int_equal(p.payload_len, 16);

    f.n = 0; /* last fragment at 65528 with 8 bytes: 65536 > 65535 */
    ip6(&f, 44, 16, 1, 2);
    ip6_frag(&f, 17, 65528, 0, 1);
    put_zero(&f, 8);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_FRAG);
    f.b[40 + 2] = 0xff; /* offset 65520: fits exactly */
    f.b[40 + 3] = 0xf0;
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_FRAGMENT);
    assert_int_equal(p.frag_off, 65520);
}

static void tcp_udp_checks(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    ip4(&f, DLP_PROTO_TCP, IP4(1, 1, 1, 1), IP4(2, 2, 2, 2), 20 + 12, 1, 0, 0);
    tcp(&f, 1, 2, 3, 4, DLP_TCP_SYN, 12); /* 12 bytes of options */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.payload_off, 20 + 32);
    assert_int_equal(p.payload_len, 0);
    f.b[20 + 12] = 0x40; /* data offset 4 */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_TCP);
    f.b[20 + 12] = 0xf0; /* data offset 15 = 60 bytes > 32 present */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_TCP);

    f.n = 0; /* UDP length 12 with 4 payload bytes: exact */
    ip4(&f, DLP_PROTO_UDP, IP4(1, 1, 1, 1), IP4(2, 2, 2, 2), 8 + 6, 1, 0, 0);
    udp(&f, 1, 2, 12);
    put_bytes(&f, "abcdXY", 6); /* 2 bytes inside IP but after the UDP length */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.payload_len, 4);
    assert_int_equal(p.payload_wire, 4);
    assert_int_equal(p.l3_len, 34);
    f.b[25] = 14; /* = IP payload */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.payload_len, 6);
    f.b[25] = 15; /* longer than the IP payload */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_UDP);
    f.b[25] = 7; /* shorter than its own header */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_UDP);
    f.b[25] = 8;
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.payload_len, 0);
    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f.b, 27, f.n), DLP_DEC_ERR_UDP); /* snaplen */

    /* ICMP destination unreachable (an error: quotes a header), GRE of protocol 0, ESP,
     * SCTP, ICMPv6 in IPv4 */
    static const uint8_t other[] = {1, 47, 50, 132, 58};
    for (unsigned i = 0; i < DLP_ARRAY_LEN(other); i++) {
        f.n = 0;
        ip4(&f, other[i], IP4(1, 1, 1, 1), IP4(2, 2, 2, 2), 8, 1, 0, 0);
        put_zero(&f, 8);
        f.b[20] = other[i] == 1 ? 3 : 0;
        assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OTHER_L4);
        assert_int_equal(p.proto, other[i]);
        assert_int_equal(p.l4_off, 20);
        assert_int_equal(p.payload_len, 8);
        assert_int_equal(p.sport, 0);
        f.n = 0;
        ip6(&f, other[i], 8, 1, 2);
        put_zero(&f, 8);
        assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OTHER_L4);
        assert_int_equal(p.l4_off, 40);
    }
}

/* Frame on the wire longer than captured: IP says more than we have. */
static void snaplen_truncated_payload(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_TCP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 20 + 1000, 1, 0, 0);
    tcp(&f, 1, 2, 3, 4, DLP_TCP_ACK, 0);
    put_zero(&f, 1000);
    assert_int_equal(decode_bytes(&p, DLP_LINK_EN10MB, f.b, 96, f.n), DLP_DEC_OK);
    assert_int_equal(p.caplen, 96);
    assert_int_equal(p.wirelen, 14 + 1040);
    assert_int_equal(p.l3_len, 82);
    assert_int_equal(p.payload_len, 42);
    assert_int_equal(p.payload_wire, 1000);
    /* cut inside the TCP header: an error, not a short packet */
    assert_int_equal(decode_bytes(&p, DLP_LINK_EN10MB, f.b, 50, f.n), DLP_DEC_ERR_TCP);

    f.n = 0; /* UDP: captured 10 payload bytes of 500 */
    ip4(&f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 508, 1, 0, 0);
    udp(&f, 1, 2, 508);
    put_zero(&f, 500);
    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f.b, 38, f.n), DLP_DEC_OK);
    assert_int_equal(p.payload_len, 10);
    assert_int_equal(p.payload_wire, 500);

    f.n = 0; /* IPv6 TCP cut after 2 payload bytes */
    ip6_tcp(&f);
    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f.b, 62, f.n), DLP_DEC_OK);
    assert_int_equal(p.l3_len, 62);
    assert_int_equal(p.payload_len, 2);
    assert_int_equal(p.payload_wire, 4);
}

/*
 * An IP datagram that says it is longer than the frame on the wire (or than
 * the tunnel payload carrying it) is not a truncated capture but a packet its
 * receiver drops: decoded as truncated, its missing bytes became a gap, and
 * the real segment sent next at the same sequence number was taken for a
 * retransmission of it (first copy wins) and never scanned.
 */
static void gre_hdr(frame_t *f, uint16_t flags, uint16_t type, unsigned opts);

static void ip_longer_than_its_carrier(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x0800); /* whole frame on the wire (caplen == wirelen), IP says 1000 more */
    ip4(&f, DLP_PROTO_TCP, IP4(10, 0, 0, 1), IP4(198, 51, 100, 2), 20 + 1000, 1, 0, 0);
    tcp(&f, 1, 2, 3, 4, DLP_TCP_ACK, 0);
    put_bytes(&f, "junk", 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_IP4);

    f.n = 0; /* IPv6 likewise */
    ip6_tcp(&f);
    f.b[4] = 0x10; /* payload length 4096 + what it was */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_IP6);

    f.n = 0; /* IPIP: the outer packet is whole, the inner one claims 1000 bytes more */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_IPIP, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 44, 1, 0, 0);
    ip4(&f, DLP_PROTO_TCP, IP4(10, 9, 0, 1), IP4(203, 0, 113, 9), 24 + 1000, 3, 0, 0);
    tcp(&f, 40000, 80, 100, 0, DLP_TCP_ACK, 0);
    put_bytes(&f, "data", 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_IP4);

    f.n = 0; /* GRE: the same */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_GRE, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 48, 1, 0, 0);
    gre_hdr(&f, 0, 0x0800, 0);
    ip4(&f, DLP_PROTO_TCP, IP4(10, 9, 0, 1), IP4(203, 0, 113, 9), 24 + 1000, 3, 0, 0);
    tcp(&f, 40000, 80, 100, 0, DLP_TCP_ACK, 0);
    put_bytes(&f, "data", 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_ERR_IP4);

    f.n = 0; /* a snaplen cut of the same tunnel is still a truncated capture */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_IPIP, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 44 + 1000, 1, 0, 0);
    ip4(&f, DLP_PROTO_TCP, IP4(10, 9, 0, 1), IP4(203, 0, 113, 9), 24 + 1000, 3, 0, 0);
    tcp(&f, 40000, 80, 100, 0, DLP_TCP_ACK, 0);
    put_bytes(&f, "data", 4);
    assert_int_equal(decode_bytes(&p, DLP_LINK_EN10MB, f.b, f.n, f.n + 1000), DLP_DEC_OK);
    assert_int_equal(p.payload_len, 4);
    assert_int_equal(p.payload_wire, 1004);
}

/* A 60-byte minimum Ethernet frame carrying a 40-byte IP packet. */
static void ethernet_padding_stripped(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_TCP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 20, 1, 0, 0);
    tcp(&f, 1, 2, 3, 4, DLP_TCP_ACK, 0);
    memset(f.b + f.n, 0xee, 6); /* padding */
    f.n += 6;
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_int_equal(p.caplen, 60);
    assert_int_equal(p.l3_len, 40);
    assert_int_equal(p.payload_len, 0);
    assert_int_equal(p.payload_wire, 0);

    f.n = 0;
    eth(&f, 0x0800);
    ip4_udp(&f, 2);
    memset(f.b + f.n, 0xee, 16);
    f.n += 16;
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_int_equal(p.l3_len, 30);
    assert_int_equal(p.payload_len, 2);

    f.n = 0;
    eth(&f, 0x86dd);
    ip6_tcp(&f);
    memset(f.b + f.n, 0xee, 8);
    f.n += 8;
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_int_equal(p.l3_len, 64);
    assert_int_equal(p.payload_len, 4);
}

/* ---------------------------------------------------------------------------------- */

/* GRE version 0 header: flags word, protocol type, then 'opts' zero option words. */
static void gre_hdr(frame_t *f, uint16_t flags, uint16_t type, unsigned opts)
{
    put16(f, flags);
    put16(f, type);
    put_zero(f, 4 * opts);
}

/* IPv4/TCP 10.9.0.1:40000 -> 203.0.113.9:80 with payload "data" (44 bytes). */
static void inner_ip4_tcp(frame_t *f)
{
    ip4(f, DLP_PROTO_TCP, IP4(10, 9, 0, 1), IP4(203, 0, 113, 9), 24, 3, 0, 0);
    tcp(f, 40000, 80, 100, 0, DLP_TCP_ACK, 0);
    put_bytes(f, "data", 4);
}

/* The decoded packet is the inner IPv4 TCP one of inner_ip4_tcp() at 'l3'. */
static void assert_inner_ip4_tcp(const dlp_packet_t *p, uint32_t l3)
{
    static const uint8_t in_src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 9, 0, 1};

    assert_int_equal(p->ipver, 4);
    assert_int_equal(p->proto, DLP_PROTO_TCP);
    assert_int_equal(p->l3_off, l3);
    assert_int_equal(p->l3_len, 44);
    assert_memory_equal(p->src, in_src, 16);
    assert_int_equal(p->sport, 40000);
    assert_int_equal(p->dport, 80);
    assert_int_equal(p->payload_off, l3 + 40);
    assert_int_equal(p->payload_len, 4);
    assert_memory_equal(dlp_packet_payload(p), "data", 4);
}

static void tunnels_decapsulate(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    /* 4in4 (IPIP), behind a VLAN tag the packet keeps */
    eth(&f, 0x8100);
    vlan_tag(&f, 42, 0x0800);
    ip4(&f, DLP_PROTO_IPIP, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 44, 1, 0, 0);
    inner_ip4_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_inner_ip4_tcp(&p, 18 + 20);
    assert_int_equal(p.encap_depth, 1);
    assert_int_equal(p.encap, DLP_ENCAP_IPIP);
    assert_int_equal(p.vlan_count, 1);
    assert_int_equal(p.vlan[0], 42);

    f.n = 0; /* 4in6 */
    ip6(&f, DLP_PROTO_IPIP, 44, 1, 2);
    inner_ip4_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_inner_ip4_tcp(&p, 40);
    assert_int_equal(p.encap, DLP_ENCAP_IPIP);

    f.n = 0; /* 6in4 */
    ip4(&f, DLP_PROTO_IPV6, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 64, 1, 0, 0);
    ip6_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.ipver, 6);
    assert_int_equal(p.l3_off, 20);
    assert_int_equal(p.sport, 40000);
    assert_memory_equal(dlp_packet_payload(&p), "data", 4);
    assert_int_equal(p.encap, DLP_ENCAP_IP6);

    f.n = 0; /* 6in6, after a destination options header */
    ip6(&f, 60, 8 + 64, 1, 2);
    ip6_ext(&f, DLP_PROTO_IPV6, 0);
    ip6_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.l3_off, 48);
    assert_int_equal(p.dport, 80);
    assert_int_equal(p.encap_depth, 1);

    f.n = 0; /* GRE, IPv4 inside */
    ip4(&f, DLP_PROTO_GRE, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 4 + 44, 1, 0, 0);
    gre_hdr(&f, 0, 0x0800, 0);
    inner_ip4_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_inner_ip4_tcp(&p, 24);
    assert_int_equal(p.encap, DLP_ENCAP_GRE);

    f.n = 0; /* GRE with checksum, key and sequence number (RFC 2890), IPv6 inside */
    ip4(&f, DLP_PROTO_GRE, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 16 + 64, 1, 0, 0);
    gre_hdr(&f, 0xb000, 0x86dd, 3);
    ip6_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.ipver, 6);
    assert_int_equal(p.l3_off, 36);
    assert_memory_equal(dlp_packet_payload(&p), "data", 4);

    f.n = 0; /* GRE key only, then transparent Ethernet bridging with two VLAN tags */
    eth(&f, 0x0800);
    ip4(&f, DLP_PROTO_GRE, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 8 + 22 + 44, 1, 0, 0);
    gre_hdr(&f, 0x2000, 0x6558, 1);
    eth(&f, 0x88a8);
    vlan_tag(&f, 7, 0x8100);
    vlan_tag(&f, 8, 0x0800);
    inner_ip4_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_inner_ip4_tcp(&p, 14 + 20 + 8 + 22);
    assert_int_equal(p.encap, DLP_ENCAP_GRE | DLP_ENCAP_ETH);
    assert_int_equal(p.vlan_count, 0); /* the tunnelled frame's tags are not the link's */

    f.n = 0; /* an inner fragment: a fragment of the inner datagram */
    ip4(&f, DLP_PROTO_IPIP, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 20 + 16, 1, 0, 0);
    ip4(&f, DLP_PROTO_UDP, IP4(10, 9, 0, 1), IP4(203, 0, 113, 9), 16, 77, 0x2000, 0);
    udp(&f, 1, 2, 40);
    put_bytes(&f, "abcdefgh", 8);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_FRAGMENT);
    assert_int_equal(p.l3_off, 20);
    assert_int_equal(p.frag_id, 77);
    assert_int_equal(p.src[12], 10);
    assert_int_equal(p.src[13], 9);

    f.n = 0; /* an outer fragment: not decapsulated before reassembly */
    ip4(&f, DLP_PROTO_GRE, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 16, 78, 0x2000, 0);
    gre_hdr(&f, 0, 0x0800, 0);
    put_zero(&f, 12);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_FRAGMENT);
    assert_int_equal(p.l3_off, 0);
    assert_int_equal(p.encap_depth, 0);
}

/* 'depth' IPIP headers (the outermost first) around inner_ip4_tcp(). */
static void nested_ipip(frame_t *f, int depth)
{
    f->n = 0;
    for (int i = 0; i < depth; i++)
        ip4(f, DLP_PROTO_IPIP, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70),
            (uint32_t)(20 * (depth - i - 1) + 44), 1, 0, 0);
    inner_ip4_tcp(f);
}

static void tunnel_depth_bound(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    nested_ipip(&f, DLP_ENCAP_DEPTH_MAX);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_inner_ip4_tcp(&p, 20 * DLP_ENCAP_DEPTH_MAX);
    assert_int_equal(p.encap_depth, DLP_ENCAP_DEPTH_MAX);

    nested_ipip(&f, DLP_ENCAP_DEPTH_MAX + 1);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_ENCAP_DEPTH);
    assert_string_equal(dlp_decode_result_str(DLP_DEC_ERR_ENCAP_DEPTH), "tunnel_too_deep");
}

/* GRE after an IPv4 header whose payload is 'n' bytes: the header and n bytes of 'g'. */
static dlp_decode_result_t decode_gre_bytes(dlp_packet_t *p, const uint8_t *g, uint32_t n)
{
    frame_t f = {.n = 0};

    ip4(&f, DLP_PROTO_GRE, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), n, 1, 0, 0);
    put_bytes(&f, g, n);
    return decode_frame(p, DLP_LINK_RAW, &f);
}

static void gre_malformed_counted(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    /* clang-format off */
    static const uint8_t shortest[] = {0x00, 0x00, 0x08};               /* 3 of 4 bytes */
    static const uint8_t key_cut[] = {0x20, 0x00, 0x08, 0x00, 0, 0, 0}; /* key: 3 of 4 */
    static const uint8_t all_cut[] = {0xb0, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t routing[] = {0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0};
    static const uint8_t version2[] = {0x00, 0x02, 0x08, 0x00};
    static const uint8_t pptp[] = {0x30, 0x01, 0x88, 0x0b, 0, 8, 0, 1, 0, 0, 0, 1};
    static const uint8_t mpls[] = {0x00, 0x00, 0x88, 0x47, 0, 0, 0, 0};
    static const uint8_t inner_cut[] = {0x00, 0x00, 0x08, 0x00, 0x45, 0, 0, 40, 0, 0};
    static const uint8_t inner_bad[] = {0x00, 0x00, 0x86, 0xdd, 0x45, 0, 0, 20, 0, 0, 0, 0,
                                        64, 6, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2};
    static const uint8_t teb_cut[] = {0x00, 0x00, 0x65, 0x58, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0};
    /* clang-format on */
    assert_int_equal(decode_gre_bytes(&p, shortest, sizeof(shortest)), DLP_DEC_ERR_GRE);
    assert_int_equal(decode_gre_bytes(&p, key_cut, sizeof(key_cut)), DLP_DEC_ERR_GRE);
    assert_int_equal(decode_gre_bytes(&p, all_cut, sizeof(all_cut)), DLP_DEC_ERR_GRE);
    assert_int_equal(decode_gre_bytes(&p, routing, sizeof(routing)), DLP_DEC_ERR_GRE);
    assert_int_equal(decode_gre_bytes(&p, version2, sizeof(version2)), DLP_DEC_ERR_GRE);
    /* PPTP's enhanced GRE and protocols we do not read are not errors: not decoded */
    assert_int_equal(decode_gre_bytes(&p, pptp, sizeof(pptp)), DLP_DEC_OTHER_L4);
    assert_int_equal(p.proto, DLP_PROTO_GRE);
    assert_int_equal(decode_gre_bytes(&p, mpls, sizeof(mpls)), DLP_DEC_OTHER_L4);
    /* truncated or wrong inner headers are the inner layer's errors */
    assert_int_equal(decode_gre_bytes(&p, inner_cut, sizeof(inner_cut)), DLP_DEC_ERR_IP4);
    assert_true(p.l3_off + p.l3_len <= p.caplen);
    assert_int_equal(decode_gre_bytes(&p, inner_bad, sizeof(inner_bad)), DLP_DEC_ERR_IP6);
    assert_int_equal(decode_gre_bytes(&p, teb_cut, sizeof(teb_cut)), DLP_DEC_ERR_L2);
    assert_int_equal(dlp_decode_result_str(DLP_DEC_ERR_GRE)[0], 'b');

    /* Three tags in a tunnelled Ethernet frame: over DLP_VLAN_MAX, like the link's. */
    ip4(&f, DLP_PROTO_GRE, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 4 + 26 + 44, 1, 0, 0);
    gre_hdr(&f, 0, 0x6558, 0);
    eth(&f, 0x8100);
    vlan_tag(&f, 1, 0x8100);
    vlan_tag(&f, 2, 0x8100);
    vlan_tag(&f, 3, 0x0800);
    inner_ip4_tcp(&f);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_VLAN);

    /* The inner packet ends with the outer payload, not at the frame's padding: one
     * longer than the outer payload is dropped by the tunnel's end, and so here (its
     * last 4 bytes are not a gap of the stream: ip_longer_than_its_carrier). */
    f.n = 0;
    ip4(&f, DLP_PROTO_IPIP, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 40, 1, 0, 0);
    inner_ip4_tcp(&f); /* declares 44 bytes, the outer holds 40 */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_ERR_IP4);
    assert_int_equal(p.l3_len, 0);
    f.n = 0; /* the inner one shorter than the outer payload: the rest is padding */
    ip4(&f, DLP_PROTO_IPIP, IP4(10, 0, 0, 70), IP4(198, 51, 100, 70), 48, 1, 0, 0);
    inner_ip4_tcp(&f);
    put_zero(&f, 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_inner_ip4_tcp(&p, 20);
    assert_int_equal(p.payload_wire, 4);
}

static void icmp_echo_datagrams(void **state)
{
    (void)state;
    dlp_packet_t p;
    frame_t f = {.n = 0};

    ip4(&f, DLP_PROTO_ICMP, IP4(10, 0, 0, 61), IP4(203, 0, 113, 61), 8 + 4, 1, 0, 0);
    put8(&f, DLP_ICMP_ECHO_REQUEST);
    put8(&f, 0);
    put16(&f, 0);
    put16(&f, 0x1234); /* identifier */
    put16(&f, 7);      /* sequence */
    put_bytes(&f, "card", 4);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.proto, DLP_PROTO_ICMP);
    assert_int_equal(p.icmp_type, DLP_ICMP_ECHO_REQUEST);
    assert_int_equal(p.sport, 0x1234);
    assert_int_equal(p.dport, 0x1234);
    assert_int_equal(p.l4_off, 20);
    assert_int_equal(p.payload_off, 28);
    assert_memory_equal(dlp_packet_payload(&p), "card", 4);
    /* both directions of an echo make one flow */
    dlp_flow_key_t k1, k2;
    int s1 = dlp_flow_key_make(&p, true, &k1);
    f.b[20] = DLP_ICMP_ECHO_REPLY;
    memcpy(f.b + 12, (const uint8_t[]){203, 0, 113, 61, 10, 0, 0, 61}, 8);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    int s2 = dlp_flow_key_make(&p, true, &k2);
    assert_memory_equal(&k1, &k2, sizeof(k1));
    assert_int_not_equal(s1, s2);

    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f.b, 26, f.n), DLP_DEC_ERR_ICMP);
    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f.b, 20, f.n), DLP_DEC_ERR_ICMP);
    /* cut on the wire, not by the snaplen: shorter than IP says, dropped */
    assert_int_equal(decode_bytes(&p, DLP_LINK_RAW, f.b, 26, 26), DLP_DEC_ERR_IP4);
    f.b[20] = 3; /* destination unreachable: quotes a header, not scanned */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OTHER_L4);
    f.b[20] = DLP_ICMPV6_ECHO_REQUEST; /* not an ICMPv4 echo */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OTHER_L4);

    f.n = 0;
    ip6(&f, DLP_PROTO_ICMPV6, 8 + 2, 1, 2);
    put8(&f, DLP_ICMPV6_ECHO_REPLY);
    put_zero(&f, 3);
    put16(&f, 0x0f62);
    put16(&f, 1);
    put_bytes(&f, "hi", 2);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    assert_int_equal(p.icmp_type, DLP_ICMPV6_ECHO_REPLY);
    assert_int_equal(p.sport, 0x0f62);
    assert_int_equal(p.payload_len, 2);
    f.b[40] = 1; /* ICMPv6 destination unreachable */
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OTHER_L4);
}

/* ---------------------------------------------------------------------------------- */

#define CUT_CASES_MAX 10

typedef struct cut_case {
    const char *name;
    uint16_t linktype;
    frame_t f;
} cut_case_t;

static void build_cut_cases(cut_case_t *c, unsigned *n)
{
    *n = 0;
    c[*n].name = "eth/ip4+opts/tcp+opts";
    c[*n].linktype = DLP_LINK_EN10MB;
    eth(&c[*n].f, 0x0800);
    ip4(&c[*n].f, DLP_PROTO_TCP, IP4(1, 2, 3, 4), IP4(5, 6, 7, 8), 28 + 10, 1, 0, 8);
    tcp(&c[*n].f, 1, 2, 3, 4, DLP_TCP_ACK, 8);
    put_bytes(&c[*n].f, "0123456789", 10);
    (*n)++;
    c[*n].name = "eth/2 vlans/ip6/hbh+rt+dst/udp";
    c[*n].linktype = DLP_LINK_EN10MB;
    eth(&c[*n].f, 0x88a8);
    vlan_tag(&c[*n].f, 1, 0x8100);
    vlan_tag(&c[*n].f, 2, 0x86dd);
    ip6(&c[*n].f, 0, 8 + 16 + 8 + 8 + 5, 1, 2);
    ip6_ext(&c[*n].f, 43, 0);
    ip6_ext(&c[*n].f, 60, 1);
    ip6_ext(&c[*n].f, 17, 0);
    udp(&c[*n].f, 53, 5353, 13);
    put_bytes(&c[*n].f, "abcde", 5);
    (*n)++;
    c[*n].name = "sll2/ip4/udp";
    c[*n].linktype = DLP_LINK_LINUX_SLL2;
    put16(&c[*n].f, 0x0800);
    put_zero(&c[*n].f, 18);
    ip4_udp(&c[*n].f, 7);
    (*n)++;
    c[*n].name = "sll/ip6/frag";
    c[*n].linktype = DLP_LINK_LINUX_SLL;
    put_zero(&c[*n].f, 14);
    put16(&c[*n].f, 0x86dd);
    ip6(&c[*n].f, 44, 8 + 16, 1, 2);
    ip6_frag(&c[*n].f, 6, 8, 1, 77);
    put_zero(&c[*n].f, 16);
    (*n)++;
    c[*n].name = "eth/ip4/first fragment"; /* with the next one, a datagram to rebuild */
    c[*n].linktype = DLP_LINK_EN10MB;
    eth(&c[*n].f, 0x0800);
    ip4(&c[*n].f, DLP_PROTO_UDP, IP4(1, 2, 3, 4), IP4(5, 6, 7, 8), 16, 42, 0x2000, 0);
    udp(&c[*n].f, 1, 2, 24);
    put_bytes(&c[*n].f, "abcdefgh", 8);
    (*n)++;
    c[*n].name = "eth/ip4/last fragment";
    c[*n].linktype = DLP_LINK_EN10MB;
    eth(&c[*n].f, 0x0800);
    ip4(&c[*n].f, DLP_PROTO_UDP, IP4(1, 2, 3, 4), IP4(5, 6, 7, 8), 8, 42, 2, 0);
    put_bytes(&c[*n].f, "ijklmnop", 8);
    (*n)++;
    c[*n].name = "null/ip4/icmp echo reply";
    c[*n].linktype = DLP_LINK_NULL;
    put_bytes(&c[*n].f, "\x02\x00\x00\x00", 4);
    ip4(&c[*n].f, 1, IP4(1, 2, 3, 4), IP4(5, 6, 7, 8), 12, 1, 0, 0);
    put_zero(&c[*n].f, 12);
    (*n)++;
    c[*n].name = "eth/ip4/gre csum+key+seq/ip4/udp";
    c[*n].linktype = DLP_LINK_EN10MB;
    eth(&c[*n].f, 0x0800);
    ip4(&c[*n].f, DLP_PROTO_GRE, IP4(1, 2, 3, 4), IP4(5, 6, 7, 8), 16 + 20 + 8 + 3, 1, 0, 0);
    put16(&c[*n].f, 0xb000);
    put16(&c[*n].f, 0x0800);
    put_zero(&c[*n].f, 12);
    ip4(&c[*n].f, DLP_PROTO_UDP, IP4(10, 0, 0, 1), IP4(9, 9, 9, 9), 8 + 3, 2, 0, 0);
    udp(&c[*n].f, 5, 6, 11);
    put_bytes(&c[*n].f, "abc", 3);
    (*n)++;
    c[*n].name = "raw/ip6/ip4 (4in6)/gre teb/eth+vlan/ip6 icmp echo";
    c[*n].linktype = DLP_LINK_RAW;
    ip6(&c[*n].f, DLP_PROTO_IPIP, 20 + 4 + 18 + 40 + 8 + 2, 1, 2);
    ip4(&c[*n].f, DLP_PROTO_GRE, IP4(1, 2, 3, 4), IP4(5, 6, 7, 8), 4 + 18 + 40 + 8 + 2, 1, 0, 0);
    put16(&c[*n].f, 0);
    put16(&c[*n].f, 0x6558);
    eth(&c[*n].f, 0x8100);
    vlan_tag(&c[*n].f, 300, 0x86dd);
    ip6(&c[*n].f, DLP_PROTO_ICMPV6, 8 + 2, 3, 4);
    put8(&c[*n].f, DLP_ICMPV6_ECHO_REQUEST);
    put_zero(&c[*n].f, 7);
    put_bytes(&c[*n].f, "hi", 2);
    (*n)++;
    assert_true(*n <= CUT_CASES_MAX);
}

/*
 * Cuts each valid frame at every caplen 0..full (exact heap copies, so ASan
 * sees any read past caplen). Below the end of the last header the result
 * must be an error; from there on the same result as the whole frame, with
 * payload_len counting the captured payload bytes only.
 */
static void truncated_at_every_length(void **state)
{
    (void)state;
    static cut_case_t cases[CUT_CASES_MAX];
    unsigned n;
    memset(cases, 0, sizeof(cases));
    build_cut_cases(cases, &n);

    for (unsigned i = 0; i < n; i++) {
        const frame_t *f = &cases[i].f;
        dlp_packet_t full, p;
        dlp_decode_result_t want = decode_frame(&full, cases[i].linktype, f);
        assert_true(want == DLP_DEC_OK || want == DLP_DEC_FRAGMENT || want == DLP_DEC_OTHER_L4);
        assert_int_equal(full.payload_off + full.payload_len, f->n);
        for (uint32_t cut = 0; cut <= f->n; cut++) {
            dlp_decode_result_t r = decode_bytes(&p, cases[i].linktype, f->b, cut, f->n);
            if (cut < full.payload_off) {
                if (r < DLP_DEC_ERR_FIRST)
                    fail_msg("%s cut at %u: %s", cases[i].name, cut, dlp_decode_result_str(r));
                continue;
            }
            if (r != want)
                fail_msg("%s cut at %u: %s", cases[i].name, cut, dlp_decode_result_str(r));
            assert_int_equal(p.payload_off, full.payload_off);
            assert_int_equal(p.payload_len, cut - full.payload_off);
            assert_int_equal(p.payload_wire, full.payload_wire);
            assert_true(p.l3_off + p.l3_len <= cut);
        }
    }
}

/* Which error each cut of the Ethernet/IPv4/TCP frame gives. */
static void truncation_errors_name_the_layer(void **state)
{
    (void)state;
    dlp_packet_t p;
    for (uint32_t cut = 0; cut < 54; cut++) {
        dlp_decode_result_t want = cut < 14   ? DLP_DEC_ERR_L2
                                   : cut < 34 ? DLP_DEC_ERR_IP4
                                              : DLP_DEC_ERR_TCP;
        assert_int_equal(decode_bytes(&p, DLP_LINK_EN10MB, eth_ip4_tcp, cut, 59), want);
    }
}

/* ---------------------------------------------------------------------------------- */

static void flow_key_and_hash_symmetry(void **state)
{
    (void)state;
    dlp_packet_t a, b;
    dlp_flow_key_t ka, kb;
    frame_t f = {.n = 0};

    ip4(&f, DLP_PROTO_TCP, IP4(10, 0, 0, 9), IP4(10, 0, 0, 1), 20, 1, 0, 0);
    tcp(&f, 1000, 80, 0, 0, DLP_TCP_SYN, 0);
    assert_int_equal(decode_frame(&a, DLP_LINK_RAW, &f), DLP_DEC_OK);
    f.n = 0;
    ip4(&f, DLP_PROTO_TCP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 9), 20, 1, 0, 0);
    tcp(&f, 80, 1000, 0, 0, DLP_TCP_SYN | DLP_TCP_ACK, 0);
    assert_int_equal(decode_frame(&b, DLP_LINK_RAW, &f), DLP_DEC_OK);

    memset(&ka, 0xee, sizeof(ka)); /* padding must come out zeroed */
    memset(&kb, 0x11, sizeof(kb));
    assert_int_equal(dlp_flow_key_make(&a, true, &ka), 1); /* 10.0.0.9 is the higher address */
    assert_int_equal(dlp_flow_key_make(&b, true, &kb), 0);
    assert_memory_equal(&ka, &kb, sizeof(ka));
    assert_int_equal(ka.port[0], 80);
    assert_int_equal(ka.port[1], 1000);
    assert_int_equal(ka.addr[0][15], 1);
    assert_int_equal(ka.proto, DLP_PROTO_TCP);
    assert_int_equal(ka.ipver, 4);
    assert_int_equal(dlp_packet_flow_hash(&a), dlp_packet_flow_hash(&b));

    /* same address both ways: the port decides */
    memcpy(b.src, a.src, 16);
    memcpy(b.dst, a.src, 16);
    memcpy(a.dst, a.src, 16);
    assert_int_equal(dlp_flow_key_make(&a, false, &ka), 1);
    assert_int_equal(dlp_flow_key_make(&b, false, &kb), 0);
    assert_memory_equal(&ka, &kb, sizeof(ka));
    assert_int_equal(dlp_packet_flow_hash(&a), dlp_packet_flow_hash(&b));

    /* IPv6, with VLANs that the hash ignores and the key keeps only when asked */
    f.n = 0;
    eth(&f, 0x8100);
    vlan_tag(&f, 10, 0x86dd);
    ip6(&f, DLP_PROTO_UDP, 8, 7, 3);
    udp(&f, 5353, 53, 8);
    assert_int_equal(decode_frame(&a, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    f.n = 0;
    eth(&f, 0x8100);
    vlan_tag(&f, 20, 0x86dd);
    ip6(&f, DLP_PROTO_UDP, 8, 3, 7);
    udp(&f, 53, 5353, 8);
    assert_int_equal(decode_frame(&b, DLP_LINK_EN10MB, &f), DLP_DEC_OK);
    assert_int_equal(dlp_flow_key_make(&a, false, &ka), 1);
    assert_int_equal(dlp_flow_key_make(&b, false, &kb), 0);
    assert_memory_equal(&ka, &kb, sizeof(ka));
    assert_int_equal(dlp_flow_key_make(&a, true, &ka), 1);
    assert_int_equal(dlp_flow_key_make(&b, true, &kb), 0);
    assert_int_equal(ka.vlan[0], 10);
    assert_int_equal(kb.vlan[0], 20);
    assert_memory_not_equal(&ka, &kb, sizeof(ka));
    assert_int_equal(dlp_packet_flow_hash(&a), dlp_packet_flow_hash(&b));

    /* a different port is a different flow */
    uint64_t h = dlp_packet_flow_hash(&a);
    a.sport++;
    assert_int_not_equal(dlp_packet_flow_hash(&a), h);
    a.sport--;
    a.proto = DLP_PROTO_TCP;
    assert_int_not_equal(dlp_packet_flow_hash(&a), h);
}

/* Flows differing in one field spread evenly over low and high hash bits. */
static void flow_hash_spreads_and_ignores_non_ip_garbage(void **state)
{
    (void)state;
    dlp_packet_t p;
    unsigned low[16] = {0}, high[16] = {0};
    frame_t f = {.n = 0};

    ip4(&f, DLP_PROTO_TCP, IP4(10, 0, 0, 1), IP4(10, 0, 0, 2), 20, 1, 0, 0);
    tcp(&f, 1000, 443, 0, 0, DLP_TCP_SYN, 0);
    assert_int_equal(decode_frame(&p, DLP_LINK_RAW, &f), DLP_DEC_OK);
    for (unsigned i = 0; i < 4096; i++) {
        p.sport = (uint16_t)(1024 + (i & 255));
        p.src[14] = (uint8_t)(i >> 8);
        uint64_t h = dlp_packet_flow_hash(&p);
        low[h & 15]++;
        high[h >> 60]++;
    }
    for (int b = 0; b < 16; b++) {
        assert_in_range(low[b], 256 - 64, 256 + 64);
        assert_in_range(high[b], 256 - 64, 256 + 64);
    }

    /* not IP: the stale addresses in the packet do not leak into hash or key */
    dlp_flow_key_t k1, k2;
    f.n = 0;
    eth(&f, 0x0806);
    put_zero(&f, 28);
    memset(&p, 0x5a, sizeof(p));
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_NOT_IP);
    uint64_t h1 = dlp_packet_flow_hash(&p);
    assert_int_equal(dlp_flow_key_make(&p, true, &k1), 0);
    memset(&p, 0xc3, sizeof(p));
    assert_int_equal(decode_frame(&p, DLP_LINK_EN10MB, &f), DLP_DEC_NOT_IP);
    assert_int_equal(dlp_packet_flow_hash(&p), h1);
    assert_int_equal(dlp_flow_key_make(&p, true, &k2), 0);
    assert_memory_equal(&k1, &k2, sizeof(k1));
}

static void decode_ip_keeps_outer_vlans(void **state)
{
    (void)state;
    dlp_packet_t outer, p;
    frame_t f = {.n = 0};

    eth(&f, 0x88a8);
    vlan_tag(&f, 300, 0x8100);
    vlan_tag(&f, 301, 0x0806);
    put_zero(&f, 28);
    assert_int_equal(decode_frame(&outer, DLP_LINK_EN10MB, &f), DLP_DEC_NOT_IP);

    frame_t ip = {.n = 0};
    ip4_udp(&ip, 5);
    assert_int_equal(dlp_decode_ip(&p, ip.b, ip.n, 77, &outer), DLP_DEC_OK);
    assert_int_equal(p.linktype, DLP_LINK_RAW);
    assert_int_equal(p.ts_us, 77);
    assert_int_equal(p.caplen, ip.n);
    assert_int_equal(p.wirelen, ip.n);
    assert_int_equal(p.vlan_count, 2);
    assert_int_equal(p.vlan[0], 300);
    assert_int_equal(p.vlan[1], 301);
    assert_int_equal(p.payload_len, 5);
    assert_int_equal(dlp_decode_ip(&p, ip.b, ip.n, 77, NULL), DLP_DEC_OK);
    assert_int_equal(p.vlan_count, 0);
    assert_int_equal(dlp_decode_ip(&p, ip.b, 0, 77, NULL), DLP_DEC_ERR_L2);
}

static void result_names(void **state)
{
    (void)state;
    assert_string_equal(dlp_decode_result_str(DLP_DEC_OK), "ok");
    assert_string_equal(dlp_decode_result_str(DLP_DEC_ERR_IP6_EXT), "bad_ipv6_ext");
    assert_string_equal(dlp_decode_result_str(DLP_DEC__COUNT), "unknown");
    for (int i = 0; i < DLP_DEC__COUNT; i++) {
        const char *s = dlp_decode_result_str((dlp_decode_result_t)i);
        assert_string_not_equal(s, "unknown");
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, dlp_decode_result_str((dlp_decode_result_t)j));
    }
}

/*
 * Seeded mutations of valid frames (random bytes changed, random cut, random
 * link type) through the decoder and, for fragments, a defrag table. The
 * invariants hold for any input; ASan/UBSan catch the rest.
 */
static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static void mutated_frames_keep_invariants(void **state)
{
    (void)state;
    static cut_case_t cases[CUT_CASES_MAX];
    static const uint16_t links[] = {DLP_LINK_EN10MB, DLP_LINK_LINUX_SLL, DLP_LINK_LINUX_SLL2,
                                     DLP_LINK_RAW,    DLP_LINK_NULL,      DLP_LINK_LOOP,
                                     DLP_LINK_IPV4,   DLP_LINK_IPV6};
    static uint8_t buf[256];
    unsigned n;
    uint64_t seed = 20240601;
    dlp_stats_t st;
    dlp_defrag_config_t cfg;

    memset(cases, 0, sizeof(cases));
    build_cut_cases(cases, &n);
    dlp_stats_init(&st);
    dlp_defrag_config_default(&cfg);
    cfg.memcap = 64 * 1024;
    dlp_defrag_t *d = dlp_defrag_new(&cfg, &st);
    assert_non_null(d);

    for (int iter = 0; iter < 200000; iter++) {
        const cut_case_t *c = &cases[rng_next(&seed) % n];
        uint32_t len = c->f.n;
        memcpy(buf, c->f.b, len);
        for (uint64_t m = 1 + rng_next(&seed) % 4; m > 0; m--)
            buf[rng_next(&seed) % len] = (uint8_t)rng_next(&seed);
        uint32_t cut = rng_next(&seed) % 4 == 0 ? (uint32_t)(rng_next(&seed) % (len + 1)) : len;
        uint16_t lt = rng_next(&seed) % 4 == 0 ? links[rng_next(&seed) % 8] : c->linktype;
        dlp_packet_t p;
        dlp_decode_result_t r = decode_bytes(&p, lt, buf, cut, len);
        assert_true(r < DLP_DEC__COUNT);
        assert_true(p.l3_off <= cut);
        assert_true(p.l3_off + p.l3_len <= cut);
        if (r == DLP_DEC_OK || r == DLP_DEC_OTHER_L4 || r == DLP_DEC_FRAGMENT) {
            assert_true(p.payload_off + p.payload_len <= cut);
            assert_true(p.payload_len <= p.payload_wire);
        }
        if (r == DLP_DEC_FRAGMENT) {
            const uint8_t *out;
            uint32_t out_len;
            p.ts_us = (uint64_t)iter * 1000;
            if (dlp_defrag_add(d, &p, &out, &out_len) == DLP_OK) {
                dlp_packet_t q;
                assert_true(dlp_decode_ip(&q, out, out_len, p.ts_us, &p) < DLP_DEC__COUNT);
            }
            assert_true(dlp_defrag_mem(d) <= cfg.memcap);
        }
    }
    assert_true(dlp_stat_get(&st, DLP_STAT_FRAG_REASSEMBLED) > 100); /* the path was taken */
    dlp_defrag_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(ethernet_ipv4_tcp_all_fields, teardown_heap),
        cmocka_unit_test_teardown(ethernet_vlan_tags, teardown_heap),
        cmocka_unit_test_teardown(ethernet_not_ip, teardown_heap),
        cmocka_unit_test_teardown(linux_cooked_v1_v2, teardown_heap),
        cmocka_unit_test_teardown(raw_ip_link_types, teardown_heap),
        cmocka_unit_test_teardown(loopback_null_and_loop, teardown_heap),
        cmocka_unit_test_teardown(ipv4_options_and_header_errors, teardown_heap),
        cmocka_unit_test_teardown(ipv4_fragments, teardown_heap),
        cmocka_unit_test_teardown(ipv6_extension_chain, teardown_heap),
        cmocka_unit_test_teardown(ipv6_chain_bound_and_overruns, teardown_heap),
        cmocka_unit_test_teardown(ipv6_fragments, teardown_heap),
        cmocka_unit_test_teardown(tcp_udp_checks, teardown_heap),
        cmocka_unit_test_teardown(tunnels_decapsulate, teardown_heap),
        cmocka_unit_test_teardown(tunnel_depth_bound, teardown_heap),
        cmocka_unit_test_teardown(gre_malformed_counted, teardown_heap),
        cmocka_unit_test_teardown(icmp_echo_datagrams, teardown_heap),
        cmocka_unit_test_teardown(snaplen_truncated_payload, teardown_heap),
        cmocka_unit_test_teardown(ethernet_padding_stripped, teardown_heap),
        cmocka_unit_test_teardown(ip_longer_than_its_carrier, teardown_heap),
        cmocka_unit_test_teardown(truncated_at_every_length, teardown_heap),
        cmocka_unit_test_teardown(truncation_errors_name_the_layer, teardown_heap),
        cmocka_unit_test_teardown(flow_key_and_hash_symmetry, teardown_heap),
        cmocka_unit_test_teardown(flow_hash_spreads_and_ignores_non_ip_garbage, teardown_heap),
        cmocka_unit_test(decode_ip_keeps_outer_vlans),
        cmocka_unit_test(result_names),
        cmocka_unit_test_teardown(mutated_frames_keep_invariants, teardown_heap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
