#!/usr/bin/python3
"""Check a (small) gen_capture output with scapy, independently of the generator's code.

usage: /usr/bin/python3 bench/verify_capture.py FILE.pcap     (use --mb 5 or so: scapy is slow)

Checks: the file is classic pcap, microsecond, linktype Ethernet; timestamps never go back;
every frame is Ethernet/IPv4/TCP or UDP with the IPv4 and L4 checksums scapy recomputes;
inside hosts are in 10/8, outside ones in 198.51.100/24 or 203.0.113/24. For every TCP flow:
handshake first, each direction's data reassembles without a hole from ISN+1 to its FIN,
overlapping copies (retransmissions) carry identical bytes, acks never decrease and never
pass data the peer has sent; HTTP messages in the reassembled streams have the header block
and exactly the Content-Length body they announce. Exits 1 on the first class of failure.
"""
import ipaddress
import re
import struct
import sys
from collections import defaultdict

from scapy.all import IP, TCP, UDP, Ether, PcapReader, Raw  # noqa: E402

INSIDE = ipaddress.ip_network("10.0.0.0/8")
OUTSIDE = [ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24")]
MOD = 1 << 32


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_file_header(path):
    with open(path, "rb") as f:
        magic, vmaj, vmin, _, _, _, link = struct.unpack("<IHHiIII", f.read(24))
    if magic != 0xA1B2C3D4 or (vmaj, vmin) != (2, 4) or link != 1:
        fail("pcap header magic=%x version=%d.%d linktype=%d" % (magic, vmaj, vmin, link))


def check_checksums(pkt, n):
    ip = pkt[IP]
    l4 = TCP if pkt.haslayer(TCP) else UDP
    got_ip, got_l4 = ip.chksum, pkt[l4].chksum
    fresh = Ether(bytes(pkt))
    del fresh[IP].chksum
    del fresh[l4].chksum
    fresh = Ether(bytes(fresh))
    if fresh[IP].chksum != got_ip or fresh[l4].chksum != got_l4:
        fail("packet %d: checksum ip %04x/%04x l4 %04x/%04x"
             % (n, got_ip, fresh[IP].chksum, got_l4, fresh[l4].chksum))


def check_addresses(ip, n):
    a, b = ipaddress.ip_address(ip.src), ipaddress.ip_address(ip.dst)
    inside, outside = (a, b) if a in INSIDE else (b, a)
    if inside not in INSIDE or not any(outside in net for net in OUTSIDE):
        fail("packet %d: addresses %s -> %s" % (n, ip.src, ip.dst))


class Dir:
    def __init__(self):
        self.isn = None
        self.fin = None
        self.segs = {}      # offset from ISN+1 -> bytes
        self.sent_end = 0   # highest offset sent so far
        self.last_ack = None
        self.saw_rst = False


def off(seq, isn):
    return (seq - isn - 1) % MOD


def tcp_packet(flows, pkt, n):
    ip, tcp = pkt[IP], pkt[TCP]
    key = (ip.src, tcp.sport, ip.dst, tcp.dport)
    rkey = (ip.dst, tcp.dport, ip.src, tcp.sport)
    fkey = key if ipaddress.ip_address(ip.src) in INSIDE else rkey
    flow = flows[fkey]
    mine = 0 if key == fkey else 1
    me, peer = flow[mine], flow[1 - mine]
    flags = int(tcp.flags)
    payload = bytes(tcp.payload)
    if flags & 0x02:
        me.isn = tcp.seq
        if not flags & 0x10 and key != fkey:
            fail("packet %d: SYN from outside" % n)
        return
    if me.isn is None:
        fail("packet %d: data before SYN in %s" % (n, key))
    o = off(tcp.seq, me.isn)
    if payload:
        prev = me.segs.get(o)
        if prev is not None and prev != payload[: len(prev)]:
            fail("packet %d: retransmission with different bytes" % n)
        me.segs[o] = payload
        me.sent_end = max(me.sent_end, o + len(payload))
    if flags & 0x01:
        me.fin = o + len(payload)
    if flags & 0x04:
        me.saw_rst = True
    if flags & 0x10 and peer.isn is not None:
        a = off(tcp.ack, peer.isn)
        limit = peer.sent_end + (1 if peer.fin is not None else 0)
        if a > limit:
            fail("packet %d: ack %d beyond sent %d" % (n, a, limit))
        if me.last_ack is not None and a < me.last_ack:
            fail("packet %d: ack went back %d < %d" % (n, a, me.last_ack))
        me.last_ack = a


def reassemble(d, what):
    out = bytearray()
    for o in sorted(d.segs):
        seg = d.segs[o]
        if o > len(out):
            fail("%s: hole at offset %d" % (what, len(out)))
        if o < len(out):
            overlap = bytes(out[o:o + len(seg)])
            if overlap != seg[: len(overlap)]:
                fail("%s: overlapping bytes differ at %d" % (what, o))
            seg = seg[len(out) - o:]
        out += seg
    if d.fin is not None and d.fin != len(out):
        fail("%s: FIN at %d but data ends at %d" % (what, d.fin, len(out)))
    return bytes(out)


def http_messages(stream, what):
    count, pos = 0, 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            fail("%s: no header end at %d" % (what, pos))
        head = stream[pos:end].decode("ascii")
        if not re.match(r"^(GET|POST) \S+ HTTP/1\.1|^HTTP/1\.1 \d{3} ", head):
            fail("%s: bad start line %r" % (what, head[:60]))
        m = re.search(r"\r\nContent-Length: (\d+)", head)
        pos = end + 4 + (int(m.group(1)) if m else 0)
        count += 1
    if pos != len(stream):
        fail("%s: body overruns the stream" % what)
    return count


def main():
    path = sys.argv[1]
    check_file_header(path)
    flows = defaultdict(lambda: (Dir(), Dir()))
    last_t, n, udp = 0, 0, 0
    for n, pkt in enumerate(PcapReader(path), 1):
        if pkt.time < last_t:
            fail("packet %d: time goes back" % n)
        last_t = pkt.time
        if not pkt.haslayer(Ether) or not pkt.haslayer(IP) or pkt.haslayer("Padding"):
            fail("packet %d: not Ethernet/IPv4 or trailing bytes" % n)
        if not (pkt.haslayer(TCP) or pkt.haslayer(UDP)):
            fail("packet %d: neither TCP nor UDP" % n)
        check_checksums(pkt, n)
        check_addresses(pkt[IP], n)
        if pkt.haslayer(TCP):
            tcp_packet(flows, pkt, n)
        else:
            udp += 1
            if not pkt.haslayer("DNS"):
                fail("packet %d: UDP that is not DNS" % n)
    http, closed, data = 0, 0, 0
    for key, (c2s, s2c) in flows.items():
        name = "%s:%d->%s:%d" % key
        streams = [reassemble(c2s, name + " c2s"), reassemble(s2c, name + " s2c")]
        data += sum(len(s) for s in streams)
        closed += (c2s.fin is not None and s2c.fin is not None) or c2s.saw_rst or s2c.saw_rst
        if key[3] in (80, 8080):
            http += http_messages(streams[0], name) + http_messages(streams[1], name)
    print("OK: %d packets, %d TCP flows (%d closed), %d UDP/DNS packets, %d HTTP messages, "
          "%d reassembled bytes" % (n, len(flows), closed, udp, http, data))


if __name__ == "__main__":
    main()
