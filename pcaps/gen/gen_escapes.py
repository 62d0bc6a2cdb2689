#!/usr/bin/python3
"""gen_escapes.py OUTDIR - values written in forms every reader takes for the plain value
(tests/integration/test_app.py): Unicode spaces between digit groups (no-break, ideographic,
thin...), which spreadsheets and word processors export, and JSON string escapes
(RFC 8259 7: "\u0034", "\u0040"), which every JSON parser decodes and some encoders write
for any character. pcaps/README.md lists what each flow must produce."""
import base64
import hashlib
import random
import struct
import sys

from tcpgen import Capture, TcpSession, http_response, out_path

IN, OUT = "10.0.0.44", "198.51.100.54"
CARD = "4716223104589135"         # Luhn-valid synthetic Visa, in no other capture
CARD2 = "4556702140981375"        # Luhn-valid synthetic Visa, in no other capture
SSN = "536-22-8417"
EMAIL = "anna.lind@example.net"
PASSWORD = "Hunter2-secret"
OK = http_response(b"ok\n", "text/plain")


def post(path, body, ctype):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: api.example.net\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def session(cap, cport, turns, mss=1460):
    """turns: [("c"|"s", bytes)] in order."""
    s = TcpSession(cap, IN, OUT, cport, 80, mss=mss)
    s.handshake()
    for who, data in turns:
        s.send(who, data)
    s.close()
    cap.clock.advance(0.1)


def groups(number, sep):
    return sep.join(number[i:i + 4] for i in range(0, len(number), 4))


def fullwidth(s):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def spaces_capture(outdir):
    cap = Capture()
    # U+00A0 between the groups, as a spreadsheet exports a formatted number
    session(cap, 48201, [("c", post(b"/notes", ("card " + groups(CARD, "\u00a0") + "\n").encode(),
                                     b"text/plain; charset=utf-8")), ("s", OK)])
    # full-width digits and U+3000 (FINDINGS.md F11, flow 51028)
    session(cap, 48202, [("c", post(b"/notes", ("card " + fullwidth(groups(CARD2, "\u3000")) +
                                                "\n").encode(), b"text/plain; charset=utf-8")),
                         ("s", OK)])
    # a UTF-16LE document (BOM): U+00A0 between the groups, U+202F in the SSN
    doc = "\ufeffcard " + groups(CARD, "\u00a0") + "\r\nssn " + SSN.replace("-", "\u202f") + "\r\n"
    session(cap, 48203, [("c", post(b"/upload", doc.encode("utf-16-le"),
                                     b"text/plain; charset=utf-16")), ("s", OK)])
    # U+2009 (thin) and U+2007 (figure space) in 9-byte segments: a sequence cut across them
    session(cap, 48204, [("c", post(b"/notes", ("ssn " + SSN.replace("-", "\u2009") + " card " +
                                                groups(CARD2, "\u2007") + "\n").encode(),
                                    b"text/plain; charset=utf-8"))], mss=9)
    cap.write_pcap(out_path(outdir, "http-unicode-spaces.pcap"))


def jesc(s, which=str.isdigit):
    """Every character 'which' accepts as a JSON \\u escape (lower-case hex)."""
    return "".join("\\u%04x" % ord(c) if which(c) else c for c in s)


def ws_frame(rng, opcode, payload, fin=True):
    """One masked client frame (RFC 6455), the key from rng (seeded)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    head += bytes([0x80 | len(payload)]) if len(payload) < 126 else \
        bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    key = bytes(rng.randrange(256) for _ in range(4))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def websocket(rng, frames):
    key = base64.b64encode(bytes(rng.randrange(256) for _ in range(16)))
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    req = (b"GET /live HTTP/1.1\r\nHost: api.example.net\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
           b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    return [("c", req), ("s", resp)] + [("c", f) for f in frames]


def json_capture(outdir):
    cap = Capture()
    rng = random.Random(8259)
    j = b"application/json"
    # the audit's four (FINDINGS.md F4, flows 51001-51004)
    session(cap, 48211, [("c", post(b"/v1/pay", ('{"cc":"' + jesc(CARD) + '","note":"card"}').encode(),
                                     j)), ("s", OK)])
    session(cap, 48212, [("c", post(b"/v1/users", ('{"mail":"' + jesc(EMAIL, "@".__eq__) + '"}').encode(),
                                     j)), ("s", OK)])
    # a +json type, every character escaped (upper-case hex), in 7-byte segments
    session(cap, 48213, [("c", post(b"/v1/people", ('{"ssn":"' + jesc(SSN, bool).upper().replace("\\U", "\\u") +
                                                    '"}').encode(), b"application/vnd.api+json"))],
            mss=7)
    session(cap, 48214, [("c", post(b"/v1/login", ('{"user":"anna","\\u0070assword":"' + PASSWORD +
                                                   '"}').encode(), j)), ("s", OK)])
    # JSON sent as text/plain (a no-preflight browser request): sniffed
    session(cap, 48215, [("c", post(b"/beacon", ('{"cc":"' + jesc(CARD2) + '"}').encode(),
                                     b"text/plain;charset=UTF-8")), ("s", OK)])
    # NDJSON: U+00A0 between the groups, itself escaped: the JSON stage, then textnorm
    session(cap, 48216, [("c", post(b"/bulk", ('{"n":1}\n{"cc":"' + groups(CARD, "\\u00a0") +
                                               '"}\n').encode(), b"application/x-ndjson")),
                         ("s", OK)])
    # a WebSocket text message in two fragments, cut inside an escape
    msg = ('{"type":"profile","mail":"' + jesc(EMAIL, "@".__eq__) + '"}').encode()
    cut = msg.index(b"\\u0040") + 3
    session(cap, 48217, websocket(rng, [ws_frame(rng, 1, msg[:cut], fin=False) +
                                        ws_frame(rng, 0, msg[cut:])]))
    # not values: an escaped backslash makes "\\u0034..." text; a lone surrogate stays
    session(cap, 48218, [("c", post(b"/v1/doc", ('{"doc":"see ' + jesc(CARD2).replace("\\", "\\\\") +
                                                 ' and \\ud834x"}').encode(), j)), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-json-escapes.pcap"))


def main():
    outdir = sys.argv[1]
    spaces_capture(outdir)
    json_capture(outdir)


if __name__ == "__main__":
    main()
