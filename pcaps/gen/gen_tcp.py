#!/usr/bin/python3
"""gen_tcp.py OUTDIR - the TCP behaviour captures (see pcaps/README.md for each file's
contents and the counters it should produce)."""
import random
import sys

from scapy.layers.inet import TCP

from tcpgen import (Capture, TcpSession, http_post, http_response, l3_ip, out_path,
                    seeded_bytes, udp_send)

C, S = "10.0.0.5", "198.51.100.7"


def form_body(n, seed):
    """A URL-encoded form of about n bytes: readable fields, then deterministic filler."""
    head = b"name=Alex+Example&city=Springfield&comment="
    filler = seeded_bytes(seed, n).hex().encode()[: max(0, n - len(head))]
    return head + filler


def sized_post(path, total, seed):
    """An HTTP POST of exactly 'total' bytes, headers included (Content-Length consistent)."""
    n = total
    for _ in range(4):
        req = http_post(S, path, form_body(n, seed))
        n -= len(req) - total
    assert len(req) == total, len(req)
    return req


def tcp_http_basic(outdir):
    cap = Capture()
    s = TcpSession(cap, C, S, 40001, 80)
    s.handshake()
    body = b"name=Alex+Example&email=alex%40example.com&message=hello+from+dlpsensor+tests"
    s.send("c", http_post("198.51.100.7", "/submit", body))
    s.send("s", http_response(b"<html><body>Thanks, received.</body></html>\n"))
    s.close()
    cap.write_pcap(out_path(outdir, "tcp-http-basic.pcap"))


def tcp_ooo_retrans_overlap(outdir):
    cap = Capture()
    s = TcpSession(cap, C, S, 40010, 80, mss=1000)
    s.handshake()
    req = sized_post("/upload", 5000, seed=10)
    base = s.nxt["c"]
    segs = s.plan("c", req)  # 5 segments of 1000 bytes: offsets 0,1000,...,4000
    end = lambda i: segs[i][0] + len(segs[i][1])
    s.emit_seg("c", *segs[0], flags="A")
    s.ack("s", ack=end(0))
    s.emit_seg("c", *segs[2], flags="A")      # out of order: 2 before 1
    s.ack("s", ack=end(0))                     # duplicate ACK
    s.emit_seg("c", *segs[1], flags="A")      # fills the hole
    s.ack("s", ack=end(2))
    s.emit_seg("c", *segs[1], flags="A")      # exact retransmission of segment 1
    s.ack("s", ack=end(2))
    s.emit_seg("c", *segs[3], flags="A")
    s.ack("s", ack=end(3))
    # partial retransmission: stream offsets 3500..4300, same bytes (500 old, 300 new)
    s.emit_seg("c", base + 3500, req[3500:4300], flags="A")
    s.ack("s", ack=base + 4300)
    s.emit_seg("c", base + 4300, req[4300:5000], flags="PA")
    s.ack("s", ack=base + 5000)
    # overlap with different bytes: offsets 4600..4800 again, but 'Z's
    s.emit_seg("c", base + 4600, b"Z" * 200, flags="PA")
    s.ack("s", ack=base + 5000)
    s.send("s", http_response(b"<html><body>stored</body></html>\n"))
    s.close()
    cap.write_pcap(out_path(outdir, "tcp-ooo-retrans-overlap.pcap"))


def tcp_gap_acked(outdir):
    cap = Capture()
    s = TcpSession(cap, C, S, 40020, 80, mss=1000)
    s.handshake()
    req = sized_post("/gap", 6000, seed=20)
    segs = s.plan("c", req)  # 6 segments of 1000 bytes
    for i in (0, 1):
        s.emit_seg("c", *segs[i], flags="A")
    # segment 2 (stream offsets 2000..3000) is never captured ...
    s.emit_seg("c", *segs[3], flags="A")
    s.ack("s", ack=segs[3][0] + 1000)         # ... but the receiver got it: it ACKs past the gap
    s.emit_seg("c", *segs[4], flags="A")
    s.emit_seg("c", *segs[5], flags="PA")
    s.ack("s")
    s.send("s", http_response(b"<html><body>ok</body></html>\n"))
    s.close()
    cap.write_pcap(out_path(outdir, "tcp-gap-acked.pcap"))


def tcp_midstream(outdir):
    cap = Capture()
    s = TcpSession(cap, C, S, 40030, 80, cisn=7_000_000, sisn=9_000_000)
    s.skip_handshake()
    s.send("c", http_post("198.51.100.7", "/mid", form_body(2000, seed=30)))
    s.send("s", http_response(b"<html><body>mid-stream reply</body></html>\n"))
    s.close()
    cap.write_pcap(out_path(outdir, "tcp-midstream.pcap"))


def tcp_seq_wrap(outdir):
    cap = Capture()
    # data starts at 2^32 - 1999: the client stream wraps after 1999 bytes, the server's
    # after 99
    s = TcpSession(cap, C, S, 40040, 80, cisn=(1 << 32) - 2000, sisn=(1 << 32) - 100)
    s.handshake()
    s.send("c", http_post("198.51.100.7", "/wrap", form_body(5000, seed=40)))
    s.send("s", http_response(b"<html>" + b"w" * 2900 + b"</html>\n"))
    s.close()
    cap.write_pcap(out_path(outdir, "tcp-seq-wrap.pcap"))


def many_flows(outdir):
    cap = Capture()
    # 50 short HTTP flows, FIN-closed
    for i in range(50):
        cip = f"10.0.1.{10 + i % 20}"
        sip = f"203.0.113.{1 + i % 10}"
        s = TcpSession(cap, cip, sip, 41000 + i, 80, cisn=100_000 * (i + 1), sisn=5_000_000 + i)
        s.handshake()
        s.send("c", http_post(sip, f"/f/{i}", b"id=%d&v=short" % i))
        s.send("s", http_response(b"ok %d\n" % i))
        s.close()
    # 5 flows reset after the request (3 by the server, 2 by the client)
    for i in range(5):
        s = TcpSession(cap, "10.0.2.10", "198.51.100.50", 42000 + i, 443, cisn=77 + i,
                       sisn=99 + i)
        s.handshake()
        s.send("c", b"\x16\x03\x01\x00\x05hello")
        s.rst("s" if i < 3 else "c")
    # 3 established TCP flows and 3 UDP flows that then go quiet
    idle = []
    for i in range(3):
        s = TcpSession(cap, "10.0.3.10", "198.51.100.60", 43000 + i, 8080, cisn=1234 + i,
                       sisn=4321 + i)
        s.handshake()
        s.send("c", b"PING before idle %d\r\n" % i)
        s.send("s", b"PONG before idle %d\r\n" % i)
        idle.append(s)
    for i in range(3):
        udp_send(cap, "10.0.4.10", "203.0.113.99", 44000 + i, 9999, b"udp hello %d" % i)
        udp_send(cap, "203.0.113.99", "10.0.4.10", 9999, 44000 + i, b"udp reply %d" % i)
    # +90 s: past the UDP timeout (60 s), each UDP flow starts again
    cap.clock.advance(90)
    for i in range(3):
        udp_send(cap, "10.0.4.10", "203.0.113.99", 44000 + i, 9999, b"udp again %d" % i)
        udp_send(cap, "203.0.113.99", "10.0.4.10", 9999, 44000 + i, b"udp reply2 %d" % i)
    # +700 s after the idle TCP flows' last packet (timeout 600 s): they resume mid-stream
    cap.clock.advance(610)
    for i, s in enumerate(idle):
        s.send("c", b"PING after idle %d\r\n" % i)
        s.send("s", b"PONG after idle %d\r\n" % i)
        s.close()
    cap.write_pcap(out_path(outdir, "tcp-many-flows-timeouts.pcap"))


def syn_flood_evict(outdir):
    """Flood first, leak second: an established upload, a SYN flood, the rest of the upload."""
    cap = Capture()
    srv = "198.51.100.9"
    s = TcpSession(cap, C, srv, 40600, 80)
    s.handshake()
    req = http_post(srv, "/u", b"card=4539 1488 0343 6467&x=1")
    cut = req.index(b"0343")  # the card number is cut in two: neither half is a card
    base = s.nxt["c"]
    s.nxt["c"] += len(req)
    s.emit_seg("c", base, req[:cut], flags="A")
    s.ack("s", ack=base + cut)
    r = random.Random(60)
    for i in range(3000):
        # half-open SYNs, never answered: inside hosts out to 203.0.113.7:443, alternating
        # with an Internet scan of 10.1.2.3:22 (traffic the sensor does not inspect)
        if i % 2 == 0:
            src, dst, dport = f"10.2.{i >> 8 & 255}.{i & 255}", "203.0.113.7", 443
        else:
            src, dst, dport = f"203.0.113.{1 + i % 200}", "10.1.2.3", 22
        syn = TCP(sport=1024 + r.randrange(60000), dport=dport, flags="S",
                  seq=r.randrange(1 << 32), window=64240)
        cap.add_l3(l3_ip(src, dst, syn, ipid=i & 0xFFFF), src, dst)
    s.emit_seg("c", base + cut, req[cut:], flags="PA")
    s.ack("s")
    s.send("s", http_response(b"<html><body>ok</body></html>\n"))
    s.close()
    cap.write_pcap(out_path(outdir, "tcp-syn-flood-evict.pcap"))


def main():
    outdir = sys.argv[1]
    tcp_http_basic(outdir)
    tcp_ooo_retrans_overlap(outdir)
    tcp_gap_acked(outdir)
    tcp_midstream(outdir)
    tcp_seq_wrap(outdir)
    many_flows(outdir)
    syn_flood_evict(outdir)


if __name__ == "__main__":
    main()
