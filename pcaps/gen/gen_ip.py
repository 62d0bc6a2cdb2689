#!/usr/bin/python3
"""gen_ip.py OUTDIR - IP-layer captures: IPv6 extension headers, IPv4 and IPv6 fragments
(in order, reversed, overlapping with different bytes, incomplete; UDP and TCP)."""
import sys

from scapy.layers.inet6 import IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, PadN

from tcpgen import (Capture, TcpSession, even_pieces, frag_ipv4, frag_ipv6, http_post,
                    http_response, out_path, seeded_bytes, udp_l3, udp_send)


def ipv6_ext_headers(outdir):
    cap = Capture()
    ext = [IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0\0\0\0")]),
           IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0\0\0\0")]),
           IPv6ExtHdrRouting(type=0, segleft=0, addresses=[])]
    s = TcpSession(cap, "fd00::5", "2001:db8::7", 40300, 80, ext=ext)
    s.handshake()
    s.send("c", http_post("[2001:db8::7]", "/ext", b"field=ipv6-extension-headers"))
    s.send("s", http_response(b"ext ok\n", ctype="text/plain"))
    s.close()
    cap.write_pcap(out_path(outdir, "ipv6-ext-headers.pcap"))


def overlap_pieces(payload, size, overlap, marker):
    """Three pieces: [0,size); then one starting 'overlap' bytes early whose overlapped bytes
    are 'marker' (different from the first piece's) and ending at 2*size-overlap; the rest."""
    assert len(marker) == overlap and payload[size - overlap:size] != marker
    end2 = 2 * size - overlap
    return [(0, size), (size - overlap, marker + payload[size:end2]), (end2, len(payload) - end2)]


def fragments(outdir, v6):
    cap = Capture()
    cip, sip = ("fd00::5", "2001:db8::10") if v6 else ("10.0.0.5", "203.0.113.10")
    size = 1232 if v6 else 1480  # fragment payload for a 1280 / 1500 MTU
    ident = [0x60000001 if v6 else 0x0A01]

    def frag(l3, pieces):
        ident[0] += 1
        if v6:
            return frag_ipv6(l3, pieces, ident[0])
        h = bytearray(l3)
        h[4:6] = (ident[0] & 0xFFFF).to_bytes(2, "big")
        return frag_ipv4(bytes(h), pieces)

    def emit(l3s, src, dst):
        for f in l3s:
            cap.add_l3(f, src, dst)

    hl = 40 if v6 else 20
    for port, kind in ((50001, "in-order"), (50002, "reversed"), (50003, "overlap"),
                       (50004, "incomplete")):
        dgram = udp_l3(cip, sip, port, 5000 + port % 100, seeded_bytes(port, 3000))
        payload = dgram[hl:]
        pieces = even_pieces(len(payload), size)
        if kind == "reversed":
            pieces = pieces[::-1]
        elif kind == "overlap":
            pieces = overlap_pieces(payload, size, 16, b"OVERLAPPED-BYTES")
        elif kind == "incomplete":
            pieces = [pieces[0], pieces[-1]]
        emit(frag(dgram, pieces), cip, sip)

    s = TcpSession(cap, cip, sip, 40200, 80, mss=2000)
    s.handshake()
    head = http_post(sip, "/frag", b"")
    body = b"f=" + b"9" * (4000 - len(head) - 5)  # Content-Length gains 3 digits
    req = http_post(sip, "/frag", body)
    assert len(req) == 4000, len(req)
    segs = s.plan("c", req)  # two 2000-byte segments
    for (seq, chunk), order in zip(segs, (1, -1)):  # the first's fragments in order, then reversed
        l3 = s.build("c", "PA", seq=seq, payload=chunk)
        emit(frag(l3, even_pieces(len(l3) - hl, size)[::order]), cip, sip)
        s.ack("s", ack=seq + len(chunk))
    s.send("s", http_response(b"frag ok\n", ctype="text/plain"))
    s.close()

    cap.clock.advance(35)  # past the 30 s reassembly timeout of the incomplete datagram
    udp_send(cap, cip, sip, 50009, 5009, b"late datagram, not fragmented")
    cap.write_pcap(out_path(outdir, "frag-ipv6.pcap" if v6 else "frag-ipv4.pcap"))


def main():
    outdir = sys.argv[1]
    ipv6_ext_headers(outdir)
    fragments(outdir, v6=False)
    fragments(outdir, v6=True)


if __name__ == "__main__":
    main()
