#!/usr/bin/python3
"""gen_reload.py OUTDIR - captures for the live-reload tests (tests/integration/test_reload.py).

reload-before.pcap and reload-after.pcap are one capture cut in two: the test feeds the first
part through a pipe, swaps the rules (SIGHUP), then feeds the second (without its file header).
A connection opened in the first part goes on in the second, to show that an open flow keeps
the rules it started with. reload-traffic.pcap is many short flows for reloads under traffic.
Every value is synthetic (pcaps/README.md)."""
import sys

from tcpgen import Capture, TcpSession, http_post, http_response, out_path, write_pcap

IN1 = "10.0.0.51"
OUT1 = "198.51.100.52"
CARD = b"4539148803436467"      # Luhn-valid synthetic Visa
MARKER = b"RLD-48151623"        # what the rule added by the reload looks for
OK = http_response(b"ok\n", "text/plain")


def post(session, body):
    session.send("c", http_post("upload.example.com", "/r", body, "text/plain"))
    session.send("s", OK)


def before_after(outdir):
    cap = Capture()
    a = TcpSession(cap, IN1, OUT1, 46101, 80)      # before the reload, whole
    a.handshake()
    post(a, b"card " + CARD + b" ticket " + MARKER + b"\n")
    a.close()
    c = TcpSession(cap, IN1, OUT1, 46103, 80)      # opened before, goes on after
    c.handshake()
    post(c, b"first request, card " + CARD + b"\n")
    cut = len(cap.frames)
    cap.clock.advance(5)
    post(c, b"second request, ticket " + MARKER + b"\n")
    c.close()
    b = TcpSession(cap, IN1, OUT1, 46102, 80)      # after the reload, whole
    b.handshake()
    post(b, b"card " + CARD + b" ticket " + MARKER + b"\n")
    b.close()
    write_pcap(out_path(outdir, "reload-before.pcap"), cap.frames[:cut], cap.link.linktype)
    write_pcap(out_path(outdir, "reload-after.pcap"), cap.frames[cut:], cap.link.linktype)


def traffic(outdir):
    cap = Capture()
    for i in range(400):
        s = TcpSession(cap, IN1, OUT1, 20000 + i, 80)
        s.handshake()
        post(s, b"n=%d card %s ticket %s\n" % (i, CARD, MARKER))
        s.close()
        cap.clock.advance(0.01)
    cap.write_pcap(out_path(outdir, "reload-traffic.pcap"))


def main():
    outdir = sys.argv[1]
    before_after(outdir)
    traffic(outdir)


if __name__ == "__main__":
    main()
