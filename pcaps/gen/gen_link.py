#!/usr/bin/python3
"""gen_link.py OUTDIR - one small TCP session under each link type the decoder supports:
Ethernet with 802.1Q, QinQ (802.1ad outer + 802.1Q inner), Linux cooked v1 and v2, raw IP
(IPv4 and IPv6), BSD loopback (DLT_NULL, little-endian AF) and DLT_LOOP (network order)."""
import sys

from tcpgen import TPID_8021AD, TPID_8021Q, Capture, Link, TcpSession, http_post, \
    http_response, out_path


def small_session(cap, cip="10.0.0.5", sip="198.51.100.7", cport=40100):
    s = TcpSession(cap, cip, sip, cport, 80)
    s.handshake()
    s.send("c", http_post(sip if ":" not in sip else f"[{sip}]", "/lt", b"field=link-type-test"))
    s.send("s", http_response(b"link ok\n", ctype="text/plain"))
    s.close()


def main():
    outdir = sys.argv[1]
    variants = [
        ("linktype-vlan.pcap", Link("ether", vlans=[100])),
        ("linktype-qinq.pcap", Link("ether", vlans=[200, 100], tpids=[TPID_8021AD, TPID_8021Q])),
        ("linktype-sll.pcap", Link("sll")),
        ("linktype-sll2.pcap", Link("sll2", ifindex=2)),
        ("linktype-raw.pcap", Link("raw")),
        ("linktype-null.pcap", Link("null")),
        ("linktype-loop.pcap", Link("loop")),
    ]
    for name, link in variants:
        cap = Capture(link=link)
        small_session(cap)
        if link.kind == "raw":
            small_session(cap, cip="fd00::5", sip="2001:db8::7", cport=40101)
        cap.write_pcap(out_path(outdir, name))


if __name__ == "__main__":
    main()
