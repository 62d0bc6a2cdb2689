#!/usr/bin/python3
"""gen_udp.py OUTDIR - udp-dns.pcap: DNS queries and answers over UDP (IPv4 and IPv6)."""
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


if __name__ == "__main__":
    udp_dns(sys.argv[1])
