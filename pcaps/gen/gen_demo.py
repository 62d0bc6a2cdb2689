#!/usr/bin/python3
"""gen_demo.py OUTDIR - demo.pcap: a small, realistic mix for `make demo` and detection tests.

Egress (inside host -> outside server) traffic carrying synthetic personal data, an SMTP
mail with a base64 CSV attachment, a DNS lookup, a harmless POST, and inbound traffic that
carries the same kinds of data but must NOT alert (it enters the network). Every value is
synthetic; pcaps/README.md lists them."""
import base64
import json
import sys

from scapy.layers.dns import DNS, DNSQR, DNSRR

from tcpgen import Capture, TcpSession, http_get, http_post, http_response, out_path, udp_send

CARD_SPACED = "4539 1488 0343 6467"  # Luhn-valid test Visa number
CARD = CARD_SPACED.replace(" ", "")
SSN = "536-22-8417"                   # valid-format SSN, synthetic
IBAN = "GB82 WEST 1234 5698 7654 32"  # the IBAN standard's example (checksum valid)
EMAIL1, EMAIL2 = "jane.doe@example.com", "john.smith@example.org"

CSV_ROWS = [
    "name,dob,zip,gender",
    "Jane Doe,1984-03-12,94107,F",
    "John Smith,1979-11-02,10001,M",
    "Maria Garcia,1990-06-25,60614,F",
    "Wei Chen,1985-01-30,98101,M",
    "Aisha Khan,1993-09-14,30301,F",
]
OK_HTML = b"<html><body>OK</body></html>\n"


def dns_lookup(cap, cli, port, name, answer):
    q = DNS(id=0x5151, rd=1, qd=DNSQR(qname=name, qtype="A"))
    r = DNS(id=0x5151, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"),
            an=DNSRR(rrname=name, type="A", ttl=300, rdata=answer))
    udp_send(cap, cli, "203.0.113.53", port, 53, bytes(q), ipid=0x5001)
    udp_send(cap, "203.0.113.53", cli, 53, port, bytes(r), ipid=0x5002)


def http_exchange(cap, cip, sip, cport, sport, request, response, isn=1000):
    s = TcpSession(cap, cip, sip, cport, sport, cisn=isn, sisn=isn * 7 + 13)
    s.handshake()
    s.send("c", request)
    s.send("s", response)
    s.close()
    cap.clock.advance(0.25)


def notes_request():
    """A text/plain POST of ~3 KB whose compact card number straddles the end of the first
    1460-byte TCP segment (8 digits in each segment)."""
    host, path, ctype = "notes.example.com", "/upload", "text/plain"
    tail = b"Action items: none of importance, just filler text for the demo capture.\n" * 20
    lead = b"card on file "
    head_len = len(http_post(host, path, b"x" * 3000, ctype)) - 3000
    fill_len = 1460 - 8 - head_len - len(lead)
    filler = (b"Meeting notes, synthetic.\n" + b"Agenda item: quarterly planning review.\n" * 40)
    body = filler[:fill_len] + lead + CARD.encode() + b" (customer asked to update)\n" + tail
    req = http_post(host, path, body, ctype)
    assert len(req) - len(body) == head_len and req[1452:1468] == CARD.encode()
    return req


def smtp_message():
    csv = ("\r\n".join(CSV_ROWS) + "\r\n").encode()
    b64 = base64.encodebytes(csv).decode().replace("\n", "\r\n")
    return ("From: Jane Doe <" + EMAIL1 + ">\r\n"
            "To: Partner <partner@example.net>\r\n"
            "Subject: customer list\r\n"
            "Date: Tue, 14 Nov 2023 22:13:30 +0000\r\n"
            "Message-ID: <demo-0001@corp.example>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"=_demo_boundary\"\r\n"
            "\r\n"
            "--=_demo_boundary\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "Hi, the customer list is attached.\r\n"
            "\r\n"
            "--=_demo_boundary\r\n"
            "Content-Type: text/csv; name=\"customers.csv\"\r\n"
            "Content-Disposition: attachment; filename=\"customers.csv\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n" + b64 +
            "\r\n--=_demo_boundary--\r\n"
            ".\r\n").encode()


def smtp_session(cap):
    s = TcpSession(cap, "10.0.0.24", "203.0.113.25", 45005, 25, cisn=250_000, sisn=750_000)
    s.handshake()
    turns = [
        ("s", b"220 mx.example.net ESMTP ready\r\n"),
        ("c", b"EHLO ws24.corp.example\r\n"),
        ("s", b"250-mx.example.net\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"),
        ("c", ("MAIL FROM:<" + EMAIL1 + ">\r\n").encode()),
        ("s", b"250 2.1.0 Ok\r\n"),
        ("c", b"RCPT TO:<partner@example.net>\r\n"),
        ("s", b"250 2.1.5 Ok\r\n"),
        ("c", b"DATA\r\n"),
        ("s", b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        ("c", smtp_message()),
        ("s", b"250 2.0.0 Ok: queued as 4A2B3C\r\n"),
        ("c", b"QUIT\r\n"),
        ("s", b"221 2.0.0 Bye\r\n"),
    ]
    for who, data in turns:
        s.send(who, data)
    s.close()
    cap.clock.advance(0.25)


def main():
    outdir = sys.argv[1]
    cap = Capture()
    # egress: DNS, then a checkout form with a card number and an email address
    dns_lookup(cap, "10.0.0.21", 53201, "shop.example.com", "198.51.100.20")
    form = ("name=Jane+Doe&email=" + EMAIL1.replace("@", "%40") + "&card=" +
            CARD_SPACED.replace(" ", "+") + "&exp=12%2F27").encode()
    http_exchange(cap, "10.0.0.21", "198.51.100.20", 45001, 80,
                  http_post("shop.example.com", "/checkout", form),
                  http_response(b"<html><body>Order confirmed</body></html>\n"), isn=11_000)
    # egress: JSON with an SSN, an email address and a phone number
    profile = json.dumps({"name": "John Smith", "ssn": SSN, "email": EMAIL2,
                          "phone": "+1-202-555-0143"}).encode()
    http_exchange(cap, "10.0.0.22", "198.51.100.21", 45002, 80,
                  http_post("api.example.net", "/v1/profile", profile, "application/json"),
                  http_response(b'{"status":"saved"}\n', "application/json"), isn=22_000)
    # egress: a payment form with an IBAN
    transfer = ("beneficiary=Example+Ltd&iban=" + IBAN.replace(" ", "+") +
                "&amount=2500.00&currency=GBP").encode()
    http_exchange(cap, "10.0.0.23", "203.0.113.30", 45003, 8080,
                  http_post("pay.example.org:8080", "/transfer", transfer),
                  http_response(OK_HTML), isn=33_000)
    # egress: plain text whose card number is split across two TCP segments
    http_exchange(cap, "10.0.0.21", "198.51.100.22", 45004, 80,
                  notes_request(),
                  http_response(OK_HTML), isn=44_000)
    # egress: mail with a base64 CSV of names, dates of birth, ZIP codes and genders
    smtp_session(cap)
    # egress, harmless: a search form
    http_exchange(cap, "10.0.0.23", "198.51.100.7", 45007, 80,
                  http_post("search.example.com", "/search", b"q=weather+tomorrow"),
                  http_response(b"<html><body>Sunny</body></html>\n"), isn=77_000)
    # inbound, must not alert: an outside client posts personal data to an inside server
    apply = ("name=Jane+Doe&ssn=" + SSN + "&card=" + CARD + "&email=" +
             EMAIL1.replace("@", "%40")).encode()
    http_exchange(cap, "203.0.113.40", "10.0.0.80", 51000, 80,
                  http_post("www.corp.example", "/apply", apply),
                  http_response(b"<html><body>Application received</body></html>\n"),
                  isn=88_000)
    # inbound, must not alert: an outside server's response to an inside host carries data
    statement = ("<html><body>Statement for Jane Doe, card " + CARD_SPACED + ", IBAN " +
                 IBAN + ", SSN " + SSN + "</body></html>\n").encode()
    http_exchange(cap, "10.0.0.22", "198.51.100.23", 45006, 80,
                  http_get("bank.example.com", "/statement"), http_response(statement),
                  isn=66_000)
    # egress, raw TCP (no application protocol): a line-based export to a partner
    export = ("EXPORT customer=\"Jane Doe\" ssn=" + SSN + " card=" + CARD_SPACED +
              " iban=" + IBAN.replace(" ", "") + "\r\nEND\r\n").encode()
    http_exchange(cap, "10.0.0.25", "203.0.113.60", 45008, 9000, export, b"ACK\r\n",
                  isn=99_000)
    # inside to inside, must not alert: an internal HR service receives the same data
    http_exchange(cap, "10.0.0.21", "10.0.0.90", 45009, 8080,
                  http_post("hr.corp.example", "/employees", apply),
                  http_response(OK_HTML), isn=111_000)
    cap.write_pcap(out_path(outdir, "demo.pcap"))


if __name__ == "__main__":
    main()
