#!/usr/bin/python3
"""gen_escapes.py OUTDIR - values written in forms every reader takes for the plain value
(tests/integration/test_app.py): Unicode spaces between digit groups (no-break, ideographic,
thin...), which spreadsheets and word processors export. pcaps/README.md lists what each
flow must produce."""
import sys

from tcpgen import Capture, TcpSession, http_response, out_path

IN, OUT = "10.0.0.44", "198.51.100.54"
CARD = "4716223104589135"         # Luhn-valid synthetic Visa, in no other capture
CARD2 = "4556702140981375"        # Luhn-valid synthetic Visa, in no other capture
SSN = "536-22-8417"
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


def main():
    outdir = sys.argv[1]
    spaces_capture(outdir)


if __name__ == "__main__":
    main()
