#!/usr/bin/python3
"""gen_policy.py OUTDIR - captures for the rule-policy tests (tests/integration/test_tuning.py).

policy-test-cards.pcap: one HTTP upload carrying two published test card numbers (suppressed
by default), one synthetic card that is not a test number, and a second synthetic card right
after the words "order id" (for exclude_context). Every value is synthetic (pcaps/README.md)."""
import sys

from tcpgen import Capture, TcpSession, http_post, http_response, out_path

IN1 = "10.0.0.61"
OUT1 = "198.51.100.62"
OK = http_response(b"ok\n", "text/plain")


def test_cards(outdir):
    cap = Capture()
    body = (b"checkout test: 4111 1111 1111 1111 and 5555555555554444\n"
            b"customer card: 4539148803436467 (visa, expires soon)\n"
            b"order id: 4916338506082832\n")
    s = TcpSession(cap, IN1, OUT1, 46201, 80)
    s.handshake()
    s.send("c", http_post("shop.example.org", "/checkout", body, "text/plain"))
    s.send("s", OK)
    s.close()
    cap.write_pcap(out_path(outdir, "policy-test-cards.pcap"))


def main():
    test_cards(sys.argv[1])


if __name__ == "__main__":
    main()
