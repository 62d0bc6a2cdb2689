#!/usr/bin/python3
"""gen_tuning.py OUTDIR - the capture of the rule-tuning walkthrough (rules/README.md,
"Tuning walkthrough"; tests/integration/test_rules_cmd.py).

A site where pii.phone is noisy: a stock update whose part numbers have the 3-3-4 shape of
North American phone numbers, and helpdesk replies that all end with the company's own
switchboard number; among them, one real leak (a customer record with a mobile number).
Every value is synthetic (pcaps/README.md)."""
import sys
from urllib.parse import urlencode

from tcpgen import Capture, TcpSession, http_post, http_response, out_path

OK = http_response(b"ok\n", "text/plain")

SKUS = [b"212-736-4101", b"212-736-4102", b"415-824-3107", b"415-824-3108",
        b"303-861-5220", b"303-861-5221", b"646-209-7730", b"646-209-7731"]
SWITCHBOARD = b"+1 720 863 4100"    # the company's own number, in every reply's signature


def exchange(cap, cip, sip, cport, request):
    s = TcpSession(cap, cip, sip, cport, 80)
    s.handshake()
    s.send("c", request)
    s.send("s", OK)
    s.close()
    cap.clock.advance(0.1)


def stock_update():
    items = b",".join(b'{"sku":"%s","qty":%d}' % (sku, 1 + (i * 5) % 12)
                      for i, sku in enumerate(SKUS))
    return b'{"warehouse":"north","items":[' + items + b"]}"


def reply(ticket):
    text = b"Hello, your ticket has been updated. Kind regards, ACME Support. Call us: "
    return urlencode({"ticket": ticket, "status": "answered",
                      "text": text + SWITCHBOARD}).encode()


def tuning(outdir):
    cap = Capture()
    exchange(cap, "10.0.0.61", "198.51.100.70", 48101,
             http_post("inventory.example.net", "/api/stock", stock_update(), "application/json"))
    for i, ticket in enumerate((48213, 48214, 48215)):
        exchange(cap, "10.0.0.62", "203.0.113.80", 48102 + i,
                 http_post("helpdesk.example.org", "/tickets/%d/reply" % ticket, reply(ticket)))
    record = b'{"customer":"Ana Ruiz","mobile":"+44 7700 900123","plan":"gold"}'
    exchange(cap, "10.0.0.63", "198.51.100.90", 48105,
             http_post("crm-export.example.com", "/upload", record, "application/json"))
    cap.write_pcap(out_path(outdir, "tuning-phone-noise.pcap"))


def main():
    tuning(sys.argv[1])


if __name__ == "__main__":
    main()
