#!/usr/bin/python3
"""gen_pcapng.py OUTDIR - pcapng-mixed.pcapng: a DNS lookup then an HTTP POST session, written
as pcapng by hand with the block kinds a reader meets in the wild: SHB with options, two
Ethernet interfaces (eth0 with nanosecond timestamps, eth1 with the default microseconds),
a Name Resolution Block, EPBs (one with a comment) and a closing Interface Statistics Block.
Also bad/pcapng-linktype-change.pcapng: a second interface of another link type part-way
through the file, which libpcap 1.10 refuses when it meets it."""
import struct
import sys

from scapy.layers.dns import DNS, DNSQR, DNSRR

from tcpgen import (LINKTYPE_ETHERNET, LINKTYPE_RAW, Capture, Link, TcpSession, http_post,
                    http_response, out_path, pcapng_block, pcapng_epb, pcapng_idb,
                    pcapng_options, pcapng_shb, udp_send)

OPT_COMMENT, IF_NAME, IF_TSRESOL, SHB_USERAPPL = 1, 2, 9, 4
ISB_IFRECV, ISB_IFDROP = 4, 5


def nrb(entries):
    body = b""
    for ip4, name in entries:
        rec = bytes(int(x) for x in ip4.split(".")) + name.encode() + b"\0"
        body += struct.pack("<HH", 1, len(rec)) + rec + b"\0" * (-len(rec) % 4)
    body += struct.pack("<HH", 0, 0)
    return pcapng_block(4, body)


def isb(iface, ts_units, recv, drop):
    opts = [(ISB_IFRECV, struct.pack("<Q", recv)), (ISB_IFDROP, struct.pack("<Q", drop))]
    return pcapng_block(5, struct.pack("<III", iface, ts_units >> 32, ts_units & 0xFFFFFFFF) +
                        pcapng_options(opts))


def linktype_change(outdir):
    """eth0 (Ethernet): a whole HTTP session posting a card; then the IDB of tun0 (raw IP),
    an HTTP session on tun0 posting an SSN, and after it another Ethernet session on eth0
    posting the Mastercard. libpcap returns the first session's frames, then fails at the
    second IDB: everything after it is what a reader must not pass over in silence."""
    eth = Capture()
    s = TcpSession(eth, "10.0.0.5", "198.51.100.7", 40410, 80)
    s.handshake()
    s.send("c", http_post("198.51.100.7", "/eth0", b"card=4539148803436467"))
    s.send("s", http_response(b"ok\n", ctype="text/plain"))
    s.close()
    first = len(eth.frames)
    tun = Capture(link=Link("raw"), clock=eth.clock)
    s = TcpSession(tun, "10.0.0.6", "198.51.100.8", 40411, 80)
    t = TcpSession(eth, "10.0.0.5", "198.51.100.7", 40412, 80)
    for sess, host, body in ((s, "198.51.100.8", b"ssn=536-22-8417"),
                             (t, "198.51.100.7", b"card=5425233430109903")):
        sess.handshake()
        sess.send("c", http_post(host, "/after", body))
        sess.send("s", http_response(b"ok\n", ctype="text/plain"))
        sess.close()
    later = sorted([(ts, 0, f) for ts, f, _ in eth.frames[first:]] +
                   [(ts, 1, f) for ts, f, _ in tun.frames])
    out = [pcapng_shb([(SHB_USERAPPL, b"dlpsensor pcaps/gen/gen_pcapng.py")]),
           pcapng_idb(LINKTYPE_ETHERNET, [(IF_NAME, b"eth0")])]
    out += [pcapng_epb(0, ts, f) for ts, f, _ in eth.frames[:first]]
    out.append(pcapng_idb(LINKTYPE_RAW, [(IF_NAME, b"tun0")]))
    out += [pcapng_epb(iface, ts, f) for ts, iface, f in later]
    with open(out_path(outdir, "bad/pcapng-linktype-change.pcapng"), "wb") as f:
        f.write(b"".join(out))


def main():
    outdir = sys.argv[1]
    cap = Capture()
    q = DNS(id=0x4242, rd=1, qd=DNSQR(qname="www.example.com", qtype="A"))
    r = DNS(id=0x4242, qr=1, rd=1, ra=1, qd=DNSQR(qname="www.example.com", qtype="A"),
            an=DNSRR(rrname="www.example.com", type="A", ttl=300, rdata="198.51.100.7"))
    udp_send(cap, "10.0.0.5", "203.0.113.53", 53100, 53, bytes(q), ipid=0x4001)
    udp_send(cap, "203.0.113.53", "10.0.0.5", 53, 53100, bytes(r), ipid=0x4002)
    dns_frames = len(cap.frames)
    s = TcpSession(cap, "10.0.0.5", "198.51.100.7", 40400, 80)
    s.handshake()
    s.send("c", http_post("www.example.com", "/ng", b"format=pcapng&note=mixed+blocks"))
    s.send("s", http_response(b"pcapng ok\n", ctype="text/plain"))
    s.close()

    out = [pcapng_shb([(SHB_USERAPPL, b"dlpsensor pcaps/gen/gen_pcapng.py"),
                       (OPT_COMMENT, b"synthetic test capture")]),
           pcapng_idb(LINKTYPE_ETHERNET, [(IF_NAME, b"eth0"), (IF_TSRESOL, b"\x09")]),
           pcapng_idb(LINKTYPE_ETHERNET, [(IF_NAME, b"eth1")]),
           nrb([("198.51.100.7", "www.example.com")])]
    for i, (ts, frame, _) in enumerate(cap.frames):
        if i < dns_frames:  # the DNS exchange was seen on eth1 (µs)
            out.append(pcapng_epb(1, ts, frame))
        else:               # the TCP session on eth0 (ns)
            opts = [(OPT_COMMENT, b"first packet of the HTTP session")] if i == dns_frames else []
            out.append(pcapng_epb(0, ts * 1000, frame, opts))
    last_ns = cap.frames[-1][0] * 1000
    out.append(isb(0, last_ns, len(cap.frames) - dns_frames, 0))
    with open(out_path(outdir, "pcapng-mixed.pcapng"), "wb") as f:
        f.write(b"".join(out))
    linktype_change(outdir)


if __name__ == "__main__":
    main()
