#!/usr/bin/python3
"""gen_b64api.py OUTDIR - files carried base64-encoded inside HTTP API bodies, as web APIs
carry them (tests/integration/test_app.py, FINDINGS.md F5): a mail-send API's
attachments[].content, a Gmail-style {"raw": base64url(RFC 822 message)}, a form field
holding a data: URI, a WebSocket text message, a gzip file in base64; and tokens that are
no file (a JWT, a hash, a signature, a short base64 value). pcaps/README.md lists what each
flow must produce."""
import base64
import gzip
import json
import random
import sys
import urllib.parse

from gen_escapes import websocket, ws_frame
from tcpgen import Capture, TcpSession, http_response, out_path

IN, OUT = "10.0.0.45", "198.51.100.55"
CARD = "4929183205746617"         # Luhn-valid synthetic Visa, in no other capture
CARD2 = "5404000000000001"        # Luhn-valid synthetic Mastercard, in no other capture
SSN = "412-71-3390"
EMAIL = "olle.berg@example.org"
OK = http_response(b"ok\n", "text/plain")
CSV = ("name,card,ssn,email\nOlle Berg," + CARD + "," + SSN + "," + EMAIL + "\n").encode()


def post(path, body, ctype):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: api.example.org\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def session(cap, cport, turns, mss=1460):
    s = TcpSession(cap, IN, OUT, cport, 80, mss=mss)
    s.handshake()
    for who, data in turns:
        s.send(who, data)
    s.close()
    cap.clock.advance(0.1)


def main():
    outdir = sys.argv[1]
    cap = Capture()
    rng = random.Random(2045)
    j = b"application/json"
    b64 = lambda b: base64.b64encode(b).decode()
    # FINDINGS.md F5 58001: SendGrid-style /v3/mail/send, the CSV as an attachment; in
    # 50-byte segments (the run cut across them)
    mail = {"personalizations": [{"to": [{"email": "board@example.com"}]}],
            "from": {"email": "reports@example.com"}, "subject": "Q3",
            "content": [{"type": "text/plain", "value": "See attached."}],
            "attachments": [{"content": b64(CSV), "type": "text/csv", "filename": "q3.csv"}]}
    session(cap, 48301, [("c", post(b"/v3/mail/send", json.dumps(mail).encode(), j)),
                         ("s", OK)], mss=50)
    # 58002: Gmail-style {"raw": base64url(message)}, no padding
    msg = ("From: olle.berg@example.com\r\nTo: x@example.net\r\nSubject: cards\r\n\r\n"
           "card " + CARD2 + "\r\nssn " + SSN + "\r\n").encode()
    raw = base64.urlsafe_b64encode(msg).decode().rstrip("=")
    session(cap, 48302, [("c", post(b"/gmail/v1/users/me/messages/send",
                                    json.dumps({"raw": raw}).encode(), j)), ("s", OK)])
    # 58003: a form field holding a data: URI (percent-encoded as a browser sends it)
    form = urllib.parse.urlencode({"title": "export", "file": "data:text/csv;base64," + b64(CSV)})
    session(cap, 48303, [("c", post(b"/import", form.encode(),
                                    b"application/x-www-form-urlencoded")), ("s", OK)])
    # a WebSocket text message with a base64 file
    wsmsg = json.dumps({"type": "upload", "name": "q3.csv", "data": b64(CSV)}).encode()
    session(cap, 48304, websocket(rng, [ws_frame(rng, 1, wsmsg)]))
    # a gzip file in base64 (mtime 0: the same bytes at every run)
    gz = gzip.compress(b"".join(b"line %d: card %s\n" % (i, CARD2.encode()) for i in range(8)),
                       mtime=0)
    session(cap, 48305, [("c", post(b"/v1/files", json.dumps({"file": b64(gz)}).encode(), j)),
                         ("s", OK)])
    # no file: a JWT (parts under 64), a SHA-256 in hex, a 64-byte signature in base64
    # (random bytes decoded), the card in base64 under the threshold
    sig = bytes(rng.randrange(256) for _ in range(64))
    tok = {"jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
                  "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
           "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
           "sig": b64(sig), "ref": b64(CARD.encode())}
    session(cap, 48306, [("c", post(b"/v1/verify", json.dumps(tok).encode(), j)), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-base64-api.pcap"))


if __name__ == "__main__":
    main()
