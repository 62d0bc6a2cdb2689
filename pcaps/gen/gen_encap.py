#!/usr/bin/python3
"""gen_encap.py OUTDIR - what rides on IP protocols other than TCP and UDP (audit F6): ICMP
and ICMPv6 echo data, and TCP/UDP carried in GRE (plain, with checksum+key+sequence, with an
Ethernet frame inside), IP in IP (4in4, 6in4, 4in6, 6in6), nested tunnels at and over
DLP_ENCAP_DEPTH_MAX, a fragmented GRE datagram and fragments inside IPIP, inner flows whose
own addresses say inbound or internal in tunnels that leave the network. Each case carries
its own card; pcaps/README.md lists which must alert and which must stay quiet."""
import struct
import sys

from scapy.layers.inet import ICMP, IP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.packet import Raw

from tcpgen import (Capture, TcpSession, frag_ipv4, http_post, http_response, mac_for,
                    out_path, udp_l3)

CARDS = {  # Luhn-valid synthetic numbers, in no other capture
    "icmp4": b"4539463744817273", "icmp6": b"4716152678081627", "icmp_in": b"5425003793597436",
    "gre": b"5425135561416405", "gre_ks": b"4539579606819659", "teb": b"4024553205404751",
    "ipip": b"4024509824515054", "6in4": b"4539060228218612", "4in6": b"4539469931071285",
    "6in6": b"4024539146346151", "depth3": b"4716623293101966", "depth4": b"4539892948866316",
    "gre_frag": b"5425544401678589", "gre_in": b"4539333684593863", "ipip_frag": b"4539817263540915",
    "gre_internal": b"4539645792104691", "ipip_frag_internal": b"4539415185323757",
    "gre_mixed_frag": b"4539302541695716",
}

# Tunnel end points: an inside router and an outside broker.
T4_IN, T4_OUT = "10.0.0.70", "198.51.100.70"
T6_IN, T6_OUT = "fd00::70", "2001:db8::70"
PROTO_IPIP, PROTO_IPV6, PROTO_GRE = 4, 41, 47
ETH_IPV4, ETH_IPV6, ETH_TEB, TPID_8021Q = 0x0800, 0x86DD, 0x6558, 0x8100


def ip_outer(src, dst, proto, payload, ipid=0x4000):
    """An IPv4 or IPv6 (by address) header of protocol 'proto' around raw bytes."""
    if ":" in src:
        return bytes(IPv6(src=src, dst=dst, nh=proto, hlim=64, fl=0) / Raw(payload))
    return bytes(IP(src=src, dst=dst, proto=proto, id=ipid, ttl=64) / Raw(payload))


def gre(ptype, payload, csum=False, key=None, seq=None):
    """GRE version 0 (RFC 2784/2890)."""
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | \
        (0x1000 if seq is not None else 0)
    opt = b""
    if csum:
        opt += b"\0\0\0\0"  # checksum + reserved1: the decoder does not verify it
    if key is not None:
        opt += struct.pack(">I", key)
    if seq is not None:
        opt += struct.pack(">I", seq)
    return struct.pack(">HH", flags, ptype) + opt + payload


def ethertype(l3):
    return ETH_IPV4 if l3[0] >> 4 == 4 else ETH_IPV6


class TunnelSession(TcpSession):
    """A TcpSession whose packets ride in a tunnel: wrap(l3, who) gives the outer packet and
    its two addresses."""

    def __init__(self, cap, cip, sip, cport, sport, wrap):
        super().__init__(cap, cip, sip, cport, sport)
        self.wrap = wrap

    def emit_l3(self, who, l3):
        outer, src, dst = self.wrap(l3, who)
        return self.cap.add_l3(outer, src, dst)


def tunnel(outer_in, outer_out, proto, encode=lambda l3, who: l3):
    """wrap() for a tunnel between outer_in and outer_out; encode() makes its payload."""
    def wrap(l3, who):
        src, dst = (outer_in, outer_out) if who == "c" else (outer_out, outer_in)
        return ip_outer(src, dst, proto, encode(l3, who)), src, dst
    return wrap


def http_upload(cap, cip, sip, cport, wrap, path, card):
    s = TunnelSession(cap, cip, sip, cport, 80, wrap)
    s.handshake()
    host = f"[{sip}]" if ":" in sip else sip
    s.send("c", http_post(host, path, b"name=Tunnel+Example&card=" + card))
    s.send("s", http_response(b"ok\n", ctype="text/plain"))
    s.close()


def echo(cap, src, dst, ident, seq, payload, reply=True):
    """An echo request from src and, if 'reply', its echo reply returning the same data."""
    if ":" in src:
        req = IPv6(src=src, dst=dst, hlim=64, fl=0) / ICMPv6EchoRequest(id=ident, seq=seq)
        rep = IPv6(src=dst, dst=src, hlim=64, fl=0) / ICMPv6EchoReply(id=ident, seq=seq)
    else:
        req = IP(src=src, dst=dst, id=seq, ttl=64) / ICMP(type=8, id=ident, seq=seq)
        rep = IP(src=dst, dst=src, id=seq, ttl=64) / ICMP(type=0, id=ident, seq=seq)
    cap.add_l3(bytes(req / Raw(payload)), src, dst)
    if reply:
        cap.add_l3(bytes(rep / Raw(payload)), dst, src)


def icmp_cases(cap):
    # ping -p style: the card in the echo data, answered by the outside host.
    echo(cap, "10.0.0.61", "203.0.113.61", 0x0f61, 1, b"card " + CARDS["icmp4"] + b" end")
    echo(cap, "fd00::61", "2001:db8::61", 0x0f62, 1, b"card " + CARDS["icmp6"] + b" end")
    # Inbound: an outside host pings in with a card; the inside host's reply returns the same
    # data, which is not the inside host's to leak: quiet.
    echo(cap, "203.0.113.62", "10.0.0.62", 0x0f63, 1, b"card " + CARDS["icmp_in"] + b" end")


def gre_cases(cap):
    ip4 = tunnel(T4_IN, T4_OUT, PROTO_GRE, lambda l3, who: gre(ethertype(l3), l3))
    http_upload(cap, "10.200.0.63", "203.0.113.63", 41063, ip4, "/gre", CARDS["gre"])
    seqs = {"c": 0, "s": 0}

    def keyed(l3, who):
        seqs[who] += 1
        return gre(ethertype(l3), l3, csum=True, key=0x00010064, seq=seqs[who])
    http_upload(cap, "10.200.0.64", "203.0.113.64", 41064, tunnel(T4_IN, T4_OUT, PROTO_GRE, keyed),
                "/gre-key", CARDS["gre_ks"])

    def teb(l3, who):  # an Ethernet frame with an 802.1Q tag (VLAN 300) inside GRE
        src, dst = ("10.200.0.65", "203.0.113.65") if who == "c" else ("203.0.113.65", "10.200.0.65")
        eth = mac_for(dst) + mac_for(src) + struct.pack(">HHH", TPID_8021Q, 300, ethertype(l3))
        return gre(ETH_TEB, eth + l3)
    http_upload(cap, "10.200.0.65", "203.0.113.65", 41065, tunnel(T4_IN, T4_OUT, PROTO_GRE, teb),
                "/gre-teb", CARDS["teb"])
    # The tunnel leaves the network but its inner flow says it comes in: the inner addresses
    # are the inside sender's to write, and the tunnel delivers them outside: egress.
    http_upload(cap, "203.0.113.66", "10.200.0.66", 41066, ip4, "/gre-in", CARDS["gre_in"])


def ip_in_ip_cases(cap):
    http_upload(cap, "10.200.0.67", "203.0.113.67", 41067, tunnel(T4_IN, T4_OUT, PROTO_IPIP),
                "/ipip", CARDS["ipip"])
    http_upload(cap, "fd00:200::68", "2001:db8::68", 41068, tunnel(T4_IN, T4_OUT, PROTO_IPV6),
                "/6in4", CARDS["6in4"])
    http_upload(cap, "10.200.0.69", "203.0.113.69", 41069, tunnel(T6_IN, T6_OUT, PROTO_IPIP),
                "/4in6", CARDS["4in6"])
    inner = udp_l3("fd00:200::71", "2001:db8::71", 41071, 9000, b"card " + CARDS["6in6"] + b" end")
    cap.add_l3(ip_outer(T6_IN, T6_OUT, PROTO_IPV6, inner), T6_IN, T6_OUT)


def nested(depth, inner):
    """'inner' in IPIP in GRE in IPIP ... 'depth' tunnels, the outermost an IPIP."""
    l3 = inner
    for i in range(depth):
        if i % 2 == 0 and i != depth - 1:
            l3 = ip_outer(T4_IN, T4_OUT, PROTO_GRE, gre(ETH_IPV4, l3))
        else:
            l3 = ip_outer(T4_IN, T4_OUT, PROTO_IPIP, l3)
    return l3


def depth_cases(cap):
    at = udp_l3("10.200.0.72", "203.0.113.72", 41072, 9000, b"card " + CARDS["depth3"] + b" end")
    cap.add_l3(nested(3, at), T4_IN, T4_OUT)
    over = udp_l3("10.200.0.73", "203.0.113.73", 41073, 9000, b"card " + CARDS["depth4"] + b" end")
    cap.add_l3(nested(4, over), T4_IN, T4_OUT)


def fragment_cases(cap):
    # A GRE datagram larger than the tunnel path's MTU, fragmented by the outer IPv4: the card
    # sits in the second fragment, so only the reassembled datagram shows it.
    body = b"x" * 1600 + b" card " + CARDS["gre_frag"] + b" end"
    inner = udp_l3("10.200.0.74", "203.0.113.74", 41074, 9000, body)
    outer = ip_outer(T4_IN, T4_OUT, PROTO_GRE, gre(ETH_IPV4, inner), ipid=0x4074)
    for frag in frag_ipv4(outer, [(0, 1480), (1480, len(outer) - 20 - 1480)]):
        cap.add_l3(frag, T4_IN, T4_OUT)
    # Inner fragments in unfragmented IPIP packets: the inner datagram is reassembled (the
    # card straddles the two fragments).
    body = b"y" * 1450 + b" card " + CARDS["ipip_frag"] + b" end"
    inner = udp_l3("10.200.0.75", "203.0.113.75", 41075, 9000, body)
    for frag in frag_ipv4(inner, [(0, 1472), (1472, len(inner) - 20 - 1472)]):
        cap.add_l3(ip_outer(T4_IN, T4_OUT, PROTO_IPIP, frag), T4_IN, T4_OUT)


def direction_cases(cap):
    # An inner flow between two inside addresses in a tunnel that leaves the network: the
    # outside end reads it whatever its addresses say: egress.
    ip4 = tunnel(T4_IN, T4_OUT, PROTO_GRE, lambda l3, who: gre(ethertype(l3), l3))
    http_upload(cap, "10.200.0.76", "10.200.1.76", 41076, ip4, "/gre-internal",
                CARDS["gre_internal"])
    # The same with the inner datagram fragmented inside IPIP (reassembled before its flow).
    body = b"z" * 1450 + b" card " + CARDS["ipip_frag_internal"] + b" end"
    inner = udp_l3("10.200.0.77", "10.200.1.77", 41077, 9000, body)
    for frag in frag_ipv4(inner, [(0, 1472), (1472, len(inner) - 20 - 1472)]):
        cap.add_l3(ip_outer(T4_IN, T4_OUT, PROTO_IPIP, frag), T4_IN, T4_OUT)


class FragTunnelSession(TunnelSession):
    """A TunnelSession whose outer IPv4 packets over 1500 bytes are fragmented (the tunnel
    path's MTU), the rest sent whole."""

    def emit_l3(self, who, l3):
        outer, src, dst = self.wrap(l3, who)
        if len(outer) <= 1500:
            return self.cap.add_l3(outer, src, dst)
        for frag in frag_ipv4(outer, [(0, 1480), (1480, len(outer) - 20 - 1480)]):
            ts = self.cap.add_l3(frag, src, dst)
        return ts


def mixed_fragment_cases(cap):
    # One inner TCP flow in GRE whose full-sized segment is fragmented by the tunnel and
    # whose next one is not; the card straddles the two. Every worker choice must put both
    # in one worker (--workers, --file-readers one or each).
    wrap = tunnel(T4_IN, T4_OUT, PROTO_GRE, lambda l3, who: gre(ethertype(l3), l3))
    s = FragTunnelSession(cap, "10.200.0.78", "203.0.113.78", 41078, 80, wrap)
    s.handshake()
    card = CARDS["gre_mixed_frag"]
    pad = 0
    for _ in range(3):  # the Content-Length's digits move the card: settle
        body = b"name=Tunnel+Example&pad=" + b"p" * pad + b"&card=" + card
        req = http_post("203.0.113.78", "/gre-mixed", body)
        pad += 1460 - 8 - req.index(card)
    assert req.index(card) == 1460 - 8 and len(req) > 1460
    s.send("c", req)
    s.send("s", http_response(b"ok\n", ctype="text/plain"))
    s.close()


def main(outdir):
    cap = Capture()
    icmp_cases(cap)
    gre_cases(cap)
    ip_in_ip_cases(cap)
    depth_cases(cap)
    fragment_cases(cap)
    direction_cases(cap)
    mixed_fragment_cases(cap)
    cap.write_pcap(out_path(outdir, "encap.pcap"))


if __name__ == "__main__":
    main(sys.argv[1])
