#!/usr/bin/python3
"""gen_udp.py OUTDIR - udp-dns.pcap: DNS queries and answers over UDP (IPv4 and IPv6);
udp-quic.pcap: a QUIC connection's datagrams (not scanned) beside plain datagrams (scanned)."""
import random
import sys

from scapy.layers.dns import DNS, DNSQR, DNSRR

from tcpgen import Capture, out_path, udp_send

# (client, resolver, client port, query name, type, answer or None for NXDOMAIN)
QUERIES = [
    ("10.0.0.5", "203.0.113.53", 53001, "www.example.com", "A", "198.51.100.80"),
    ("10.0.0.5", "203.0.113.53", 53002, "www.example.com", "AAAA", "2001:db8::80"),
    ("10.0.0.6", "203.0.113.53", 53003, "example.org", "TXT", "v=spf1 -all"),
    ("10.0.0.6", "203.0.113.53", 53004, "nosuch.example.net", "A", None),
    ("fd00::5", "2001:db8::53", 53005, "mail.example.com", "A", "198.51.100.25"),
]


def dns_pair(i, name, qtype, answer):
    qid = 0x1000 + i
    q = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    if answer is None:
        r = DNS(id=qid, qr=1, rd=1, ra=1, rcode=3, qd=DNSQR(qname=name, qtype=qtype))
    else:
        r = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype),
                an=DNSRR(rrname=name, type=qtype, ttl=300, rdata=answer))
    return bytes(q), bytes(r)


def udp_dns(outdir):
    cap = Capture()
    for i, (cli, res, port, name, qtype, answer) in enumerate(QUERIES):
        q, r = dns_pair(i, name, qtype, answer)
        udp_send(cap, cli, res, port, 53, q, ipid=0x2000 + i)
        udp_send(cap, res, cli, 53, port, r, ipid=0x3000 + i)
    cap.write_pcap(out_path(outdir, "udp-dns.pcap"))


def quic_long(rnd, first, dcid, scid, payload_len):
    """A QUIC v1 long-header packet: header fields as RFC 9000 17.2, the rest random
    (header protection and AEAD make a real one look the same to anyone without keys)."""
    hdr = bytes([first]) + b"\x00\x00\x00\x01" + bytes([len(dcid)]) + dcid
    hdr += bytes([len(scid)]) + scid
    if first & 0x30 == 0:  # Initial: an empty token
        hdr += b"\x00"
    return hdr + (0x4000 | payload_len).to_bytes(2, "big") + rnd.randbytes(payload_len)


def udp_quic(outdir):
    """nDPI names the flow QUIC from its client Initial (random bytes after a valid
    header). Its short-header datagrams are ciphertext: one holds an address-shaped
    string, which a scan of ciphertext would report (as random bytes of a real QUIC call
    did on a public capture); it is not scanned. A plain UDP flow beside it is."""
    rnd = random.Random(9000)
    cap = Capture()
    cli, srv, port = "10.0.0.5", "198.51.100.30", 51000
    dcid, scid = rnd.randbytes(8), rnd.randbytes(8)
    udp_send(cap, cli, srv, port, 443, quic_long(rnd, 0xc3, dcid, b"", 1182), ipid=1)
    udp_send(cap, srv, cli, 443, port, quic_long(rnd, 0xc1, b"", scid, 128), ipid=2)
    for i in range(5):
        p = bytearray([0x40 | rnd.randrange(16)]) + scid + rnd.randbytes(300)
        if i == 2:
            p[100:121] = b"jane.doe@example.com "
        udp_send(cap, cli, srv, port, 443, bytes(p), ipid=3 + i)
    udp_send(cap, cli, "198.51.100.31", 51001, 5140,
             b"<13>Nov 30 03:00:00 app: user mark.lee@example.org logged in\n", ipid=9)
    cap.write_pcap(out_path(outdir, "udp-quic.pcap"))


if __name__ == "__main__":
    udp_dns(sys.argv[1])
    udp_quic(sys.argv[1])
