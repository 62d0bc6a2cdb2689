"""tcpgen.py - deterministic building blocks for the test captures in pcaps/.

Everything here is a pure function of its arguments: timestamps come from a
Clock that starts at 1700000000.000000 and moves by fixed steps, MACs are
derived from IP addresses, IP ids are per-session counters, and the pcap and
pcapng files are written byte by byte (not through scapy's writers), so running
a generator twice gives byte-identical files. Scapy builds the IP/TCP/UDP/DNS
layers (with their checksums); the link layers are written here.

Addresses: inside hosts are 10.0.0.0/8 and fd00::/8; outside hosts are the
documentation ranges 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.

Run with /usr/bin/python3 (the Debian python has scapy 2.5).
"""
import ipaddress
import os
import random
import struct

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

T0_US = 1_700_000_000 * 1_000_000  # 2023-11-14T22:13:20Z
STEP_US = 1000                      # one packet per millisecond unless told otherwise
SNAPLEN = 262144

# libpcap LINKTYPE_ values written in file headers
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8
GW_MAC = bytes.fromhex("0200000000fe")  # the router every outside host is behind

SEQ_MOD = 1 << 32


class Clock:
    """Packet time in integer microseconds: no float drift, exact reruns."""

    def __init__(self, start_us=T0_US, step_us=STEP_US):
        self.now = start_us
        self.step = step_us

    def stamp(self):
        t = self.now
        self.now += self.step
        return t

    def advance(self, seconds):
        self.now += int(round(seconds * 1_000_000))


def is_inside(ip):
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return a in ipaddress.ip_network("10.0.0.0/8") or a in ipaddress.ip_network(
            "172.16.0.0/12") or a in ipaddress.ip_network("192.168.0.0/16") or a.is_loopback
    return a in ipaddress.ip_network("fc00::/7") or a.is_loopback


def mac_for(ip):
    """Inside hosts get 02:00 + the last 4 address bytes; outside hosts are behind GW_MAC."""
    if not is_inside(ip):
        return GW_MAC
    return b"\x02\x00" + ipaddress.ip_address(ip).packed[-4:]


def ip_version(l3):
    return l3[0] >> 4


# --- link layers -------------------------------------------------------------------

class Link:
    """Wraps an IP packet into a frame for one link type."""

    def __init__(self, kind="ether", vlans=(), tpids=None, ifindex=2):
        self.kind = kind
        self.vlans = tuple(vlans)  # outermost first
        if tpids is None:
            tpids = [TPID_8021Q] * len(self.vlans)
        self.tpids = tuple(tpids)
        self.ifindex = ifindex
        self.linktype = {
            "ether": LINKTYPE_ETHERNET, "sll": LINKTYPE_LINUX_SLL, "sll2": LINKTYPE_LINUX_SLL2,
            "raw": LINKTYPE_RAW, "null": LINKTYPE_NULL, "loop": LINKTYPE_LOOP,
        }[kind]

    def wrap(self, l3, src, dst):
        ethertype = ETH_IPV4 if ip_version(l3) == 4 else ETH_IPV6
        # Linux SLL packet type: 4 = sent by this host (inside), 0 = to this host.
        pkt_type = 4 if is_inside(src) else 0
        if self.kind == "ether":
            hdr = mac_for(dst) + mac_for(src)
            for vid, tpid in zip(self.vlans, self.tpids):
                hdr += struct.pack(">HH", tpid, vid & 0x0FFF)
            return hdr + struct.pack(">H", ethertype) + l3
        if self.kind == "sll":
            return struct.pack(">HHH", pkt_type, 1, 6) + mac_for(src) + b"\0\0" + \
                struct.pack(">H", ethertype) + l3
        if self.kind == "sll2":
            return struct.pack(">HHIHBB", ethertype, 0, self.ifindex, 1, pkt_type, 6) + \
                mac_for(src) + b"\0\0" + l3
        if self.kind == "raw":
            return l3
        af = 2 if ip_version(l3) == 4 else 24  # AF_INET; AF_INET6 as on NetBSD/OpenBSD
        if self.kind == "null":
            return struct.pack("<I", af) + l3  # host order of a little-endian capturer
        return struct.pack(">I", af) + l3      # DLT_LOOP: network order


# --- the capture being built, and its writers -----------------------------------------

class Capture:
    def __init__(self, link=None, clock=None):
        self.link = link or Link()
        self.clock = clock or Clock()
        self.frames = []  # (ts_us, frame bytes, interface id)

    def add_l3(self, l3, src, dst, ts=None, iface=0):
        ts = self.clock.stamp() if ts is None else ts
        self.frames.append((ts, self.link.wrap(l3, src, dst), iface))
        return ts

    def add_frame(self, frame, ts=None, iface=0):
        ts = self.clock.stamp() if ts is None else ts
        self.frames.append((ts, frame, iface))

    def write_pcap(self, path, ns=False):
        write_pcap(path, self.frames, self.link.linktype, ns=ns)


def pcap_bytes(frames, linktype, ns=False, snaplen=SNAPLEN):
    out = [struct.pack("<IHHiIII", 0xA1B23C4D if ns else 0xA1B2C3D4, 2, 4, 0, 0, snaplen,
                       linktype)]
    for ts, data, *_ in frames:
        frac = (ts % 1_000_000) * (1000 if ns else 1)
        out.append(struct.pack("<IIII", ts // 1_000_000, frac, len(data), len(data)))
        out.append(data)
    return b"".join(out)


def write_pcap(path, frames, linktype, ns=False):
    with open(path, "wb") as f:
        f.write(pcap_bytes(frames, linktype, ns=ns))


def _pad4(b):
    return b + b"\0" * (-len(b) % 4)


def pcapng_option(code, value):
    return struct.pack("<HH", code, len(value)) + _pad4(value)


def pcapng_options(opts):
    if not opts:
        return b""
    return b"".join(pcapng_option(c, v) for c, v in opts) + struct.pack("<HH", 0, 0)


def pcapng_block(btype, body):
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def pcapng_shb(opts=()):
    return pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) +
                        pcapng_options(opts))


def pcapng_idb(linktype, opts=(), snaplen=SNAPLEN):
    return pcapng_block(1, struct.pack("<HHI", linktype, 0, snaplen) + pcapng_options(opts))


def pcapng_epb(iface, ts_units, data, opts=()):
    body = struct.pack("<IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data),
                       len(data)) + _pad4(data) + pcapng_options(opts)
    return pcapng_block(6, body)


# --- IP helpers -------------------------------------------------------------------------

def l3_ip(src, dst, payload_layer, ipid=1, ttl=64, ext=None):
    """IPv4 or IPv6 (by address) around a scapy L4 layer; 'ext' are IPv6 extension headers."""
    if ":" in src:
        pkt = IPv6(src=src, dst=dst, hlim=ttl, fl=0)
        for e in ext or ():
            pkt = pkt / e.copy()
        return bytes(pkt / payload_layer)
    return bytes(IP(src=src, dst=dst, id=ipid & 0xFFFF, ttl=ttl, flags="DF") / payload_layer)


def udp_l3(src, dst, sport, dport, payload, ipid=1, df=False):
    if ":" in src:
        return bytes(IPv6(src=src, dst=dst, hlim=64, fl=0) / UDP(sport=sport, dport=dport) /
                     Raw(payload))
    return bytes(IP(src=src, dst=dst, id=ipid & 0xFFFF, ttl=64, flags="DF" if df else 0) /
                 UDP(sport=sport, dport=dport) / Raw(payload))


def ipv4_checksum(hdr):
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) | hdr[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frag_ipv4(l3, pieces):
    """IPv4 fragments of datagram l3. pieces: [(offset, length)] or [(offset, bytes)] over the
    IP payload; the last piece of the datagram (offset + len == payload length) has MF=0.
    Returns the fragments' bytes in the order given."""
    ihl = (l3[0] & 0x0F) * 4
    hdr, payload = bytearray(l3[:ihl]), l3[ihl:]
    out = []
    for off, what in pieces:
        data = payload[off:off + what] if isinstance(what, int) else what
        assert off % 8 == 0
        mf = off + len(data) < len(payload)
        h = bytearray(hdr)
        struct.pack_into(">H", h, 2, ihl + len(data))
        struct.pack_into(">H", h, 6, (0x2000 if mf else 0) | (off // 8))
        struct.pack_into(">H", h, 10, 0)
        struct.pack_into(">H", h, 10, ipv4_checksum(bytes(h)))
        out.append(bytes(h) + data)
    return out


def frag_ipv6(l3, pieces, ident):
    """IPv6 fragments (a Fragment header after the fixed header) of datagram l3, whose fixed
    header must be followed directly by the fragmentable part. Same 'pieces' as frag_ipv4."""
    base, payload = bytearray(l3[:40]), l3[40:]
    nh = base[6]
    out = []
    for off, what in pieces:
        data = payload[off:off + what] if isinstance(what, int) else what
        assert off % 8 == 0
        mf = off + len(data) < len(payload)
        h = bytearray(base)
        h[6] = 44
        struct.pack_into(">H", h, 4, 8 + len(data))
        fh = struct.pack(">BBHI", nh, 0, off | (1 if mf else 0), ident)
        out.append(bytes(h) + fh + data)
    return out


def even_pieces(total, size):
    """[(offset, length)] cutting 'total' payload bytes into 'size'-byte pieces (size % 8 == 0)."""
    return [(o, min(size, total - o)) for o in range(0, total, size)]


# --- TCP sessions ---------------------------------------------------------------------------

class TcpSession:
    """One TCP connection with correct sequence and acknowledgement numbers.

    Sides are 'c' (client, opened the connection) and 's'. nxt[side] is the next sequence
    number that side will send, as an unbounded integer; it is reduced mod 2^32 only on the
    wire, so ISNs close to 2^32 wrap naturally. Lower-level calls (plan/emit_seg/ack) let a
    script send segments in any order, drop, repeat or overlap them.
    """

    def __init__(self, cap, cip, sip, cport, sport, cisn=1000, sisn=50000, mss=1460,
                 window=64240, ext=None, ttl=64):
        self.cap = cap
        self.addr = {"c": (cip, cport), "s": (sip, sport)}
        self.isn = {"c": cisn, "s": sisn}
        self.nxt = {"c": cisn, "s": sisn}
        self.mss = mss
        self.window = window
        self.ext = ext           # IPv6 extension headers on every packet
        self.ttl = ttl
        self.ipid = {"c": (cport * 7) & 0xFFFF, "s": (sport * 13 + cport) & 0xFFFF}
        self.sent = {"c": 0, "s": 0}

    @staticmethod
    def peer(who):
        return "s" if who == "c" else "c"

    def build(self, who, flags, seq=None, ack=None, payload=b"", options=None, urgptr=0):
        """The IP packet bytes of one segment (not added to the capture)."""
        (src, sp), (dst, dp) = self.addr[who], self.addr[self.peer(who)]
        seq = self.nxt[who] if seq is None else seq
        if ack is None and "A" in flags:
            ack = self.nxt[self.peer(who)]
        tcp = TCP(sport=sp, dport=dp, flags=flags, seq=seq % SEQ_MOD, ack=(ack or 0) % SEQ_MOD,
                  window=self.window, options=options or [], urgptr=urgptr)
        if payload:
            tcp = tcp / Raw(payload)
        self.ipid[who] = (self.ipid[who] + 1) & 0xFFFF
        return l3_ip(src, dst, tcp, ipid=self.ipid[who], ttl=self.ttl, ext=self.ext)

    def emit_l3(self, who, l3):
        return self.cap.add_l3(l3, self.addr[who][0], self.addr[self.peer(who)][0])

    def packet(self, who, flags, seq=None, ack=None, payload=b"", options=None, urgptr=0):
        return self.emit_l3(who, self.build(who, flags, seq, ack, payload, options, urgptr))

    def handshake(self):
        mss = [("MSS", self.mss)]
        self.packet("c", "S", options=mss)
        self.nxt["c"] += 1
        self.packet("s", "SA", options=mss)
        self.nxt["s"] += 1
        self.packet("c", "A")

    def skip_handshake(self):
        """For mid-stream flows: as if the SYNs had been exchanged before the capture began."""
        self.nxt["c"] += 1
        self.nxt["s"] += 1

    def plan(self, who, data, mss=None):
        """Cuts data into segments [(seq, bytes)] from nxt[who] and advances nxt; sends nothing."""
        mss = mss or self.mss
        segs = []
        for off in range(0, len(data), mss):
            segs.append((self.nxt[who] + off, data[off:off + mss]))
        self.nxt[who] += len(data)
        self.sent[who] += len(data)
        return segs

    def emit_seg(self, who, seq, chunk, flags="PA", ack=None):
        return self.packet(who, flags, seq=seq, ack=ack, payload=chunk)

    def ack(self, who, ack=None):
        """A pure ACK from 'who' (for everything the peer sent, unless told otherwise)."""
        return self.packet(who, "A", ack=ack)

    def send(self, who, data, ack_every=1, mss=None):
        """Data in order, each write's last segment with PSH; the peer ACKs every n segments."""
        segs = self.plan(who, data, mss)
        for i, (seq, chunk) in enumerate(segs):
            last = i == len(segs) - 1
            self.emit_seg(who, seq, chunk, "PA" if last else "A")
            if ack_every and ((i + 1) % ack_every == 0 or last):
                self.ack(self.peer(who), ack=seq + len(chunk))
        return segs

    def fin(self, who):
        self.packet(who, "FA")
        self.nxt[who] += 1

    def close(self, first="c"):
        """FIN from 'first', FIN+ACK back, final ACK."""
        other = self.peer(first)
        self.fin(first)
        self.fin(other)
        self.ack(first)

    def rst(self, who):
        self.packet(who, "RA")


def udp_send(cap, src, dst, sport, dport, payload, ipid=1):
    return cap.add_l3(udp_l3(src, dst, sport, dport, payload, ipid=ipid), src, dst)


def seeded_bytes(seed, n):
    """Deterministic filler bytes (random.Random is stable for a given seed)."""
    r = random.Random(seed)
    return bytes(r.getrandbits(8) for _ in range(n))


def http_post(host, path, body, ctype="application/x-www-form-urlencoded", extra=()):
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "User-Agent: dlp-testgen/1.0",
            "Accept: */*", f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    head += list(extra)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def http_get(host, path):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dlp-testgen/1.0\r\n"
            "Accept: */*\r\n\r\n").encode()


def http_response(body, ctype="text/html; charset=utf-8", status="200 OK"):
    return (f"HTTP/1.1 {status}\r\nServer: testgen\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def out_path(outdir, name):
    path = os.path.join(outdir, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path
