#!/usr/bin/python3
"""gen_policy.py OUTDIR - captures for the rule-policy tests (tests/integration/test_tuning.py).

policy-test-cards.pcap: one HTTP upload carrying two published test card numbers (suppressed
by default), one synthetic card that is not a test number, and a second synthetic card right
after the words "order id" (for exclude_context).

policy-aggregate.pcap: one card per connection, so that no flow ever holds more than one:
sender 10.0.0.41 posts to 198.51.100.50 seven flows of seven distinct cards 30 s apart, then
an eighth with the first card again, then, 20 minutes later, a ninth with a new card; sender
10.0.0.42 posts three distinct cards to the same server; 10.0.0.41 posts two cards to
203.0.113.60. Counted per sender and receiver (a rule's aggregate:) the leak shows; per
flow it never does. Every value is synthetic (pcaps/README.md)."""
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


def luhn_complete(prefix15):
    """prefix15 + the check digit that makes it Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(prefix15)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the check digit will stand right of it
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return prefix15 + str((10 - total % 10) % 10)


def upload(cap, cip, sip, cport, host, card):
    s = TcpSession(cap, cip, sip, cport, 80)
    s.handshake()
    s.send("c", http_post(host, "/sync", b"record=%s&ok=1\n" % card.encode(), "text/plain"))
    s.send("s", OK)
    s.close()


def aggregate(outdir):
    cap = Capture()
    cards = [luhn_complete("45391488%07d" % (345679 * (i + 1))) for i in range(12)]
    port = 47100
    for i in range(7):
        upload(cap, "10.0.0.41", "198.51.100.50", port, "sync.example.net", cards[i])
        port += 1
        cap.clock.advance(30)
    upload(cap, "10.0.0.41", "198.51.100.50", port, "sync.example.net", cards[0])
    port += 1
    for i in range(3):
        upload(cap, "10.0.0.42", "198.51.100.50", port, "sync.example.net", cards[7 + i])
        port += 1
        cap.clock.advance(5)
    for i in range(2):
        upload(cap, "10.0.0.41", "203.0.113.60", port, "other.example.com", cards[10 + i])
        port += 1
    cap.clock.advance(20 * 60)
    upload(cap, "10.0.0.41", "198.51.100.50", port, "sync.example.net", cards[11])
    cap.write_pcap(out_path(outdir, "policy-aggregate.pcap"))


def main():
    test_cards(sys.argv[1])
    aggregate(sys.argv[1])


if __name__ == "__main__":
    main()
