#!/usr/bin/python3
"""gen_h2.py OUTDIR - cleartext HTTP/2 (h2c, RFC 9113), as nginx, Apache mod_http2, Envoy, Go
and gRPC servers accept it (tests/integration/test_app.py, class H2c; pcaps/README.md lists the
values and what each must produce). http2-h2c.pcap holds four uploads from 10.0.0.44 to port 80:

* 48101: prior knowledge (the client's preface first): a card split across two DATA frames, the
  9-byte frame header inside the number; the frames cut across TCP segments;
* 48102: the same after "Upgrade: h2c" answered by 101 (the server's SETTINGS and its answer on
  stream 1 follow the 101, the client's preface and its request on stream 3 follow its request);
* 48103: a gzip body (HPACK says content-encoding: gzip; the sensor sniffs 1f 8b) in padded DATA
  frames, the padding full of digits that are no card;
* 48104: two streams interleaved frame by frame, a card split across stream 1's frames with
  stream 3's frames between its halves, and another in stream 3.
Their header blocks are HPACK (RFC 7541) the sensor decodes (http.header, :path as http.uri).

http2-hpack.pcap holds cards in header blocks only (bodies are clean), 10.0.0.45 to port 80:

* 48105: the card in the value of "x-account-number", name and value Huffman-coded, the block
  split between HEADERS and CONTINUATION inside the value; the table then used by index;
* 48106: the card in :path (/cards/<card>/verify, literal, not Huffman-coded);
* 48107: a block that does not decode (index 70, the table empty) holding a card in a literal,
  then a block on stream 3 the sensor cannot read any more (the table is unknown)."""
import gzip
import struct
import sys

from tcpgen import Capture, TcpSession, out_path

IN, OUT = "10.0.0.44", "198.51.100.53"
IN2 = "10.0.0.45"
CARD1 = b"4532781055664431"  # Luhn-valid synthetic cards, only in this capture
CARD2 = b"4024007133842210"
CARD3 = b"4716025581903345"
CARD4 = b"4556942288177051"
CARD5 = b"4532015112830366"
CARD6 = b"4917615260181598"  # http2-hpack.pcap
CARD7 = b"4539120830166136"
CARD8 = b"4026121860913900"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HPACK (RFC 7541): :method POST, :scheme http, :path /upload (literal), :authority api.example
HB_POST = b"\x83\x86\x44\x07/upload\x41\x0bapi.example"
HB_200 = b"\x88"  # :status 200


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


# RFC 7541 Appendix B: the code length of each symbol (256: EOS); the code is canonical.
HUFF_LEN = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,
]


def huffman(text):
    """RFC 7541 5.2: canonical codes from their lengths, padded with the most significant bits of EOS."""
    code, codes, prev = 0, {}, None
    for sym in sorted(range(257), key=lambda x: (HUFF_LEN[x], x)):
        if prev is not None:
            code = (code + 1) << (HUFF_LEN[sym] - prev)
        codes[sym], prev = code, HUFF_LEN[sym]
    bits = "".join(format(codes[c], "0%db" % HUFF_LEN[c]) for c in text)
    bits += "1" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


assert huffman(b"www.example.com").hex() == "f1e3c2e5f23a6ba0ab90f4ff"  # RFC 7541 C.4.1


def hstr(text, huff=True):
    """An HPACK string literal under 127 bytes."""
    b = huffman(text) if huff else text
    assert len(b) < 127
    return bytes([(0x80 if huff else 0) | len(b)]) + b


def settings(*pairs):
    return frame(4, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


SETTINGS_ACK = frame(4, 1, 0, b"")
END_STREAM, END_HEADERS, PADDED = 0x1, 0x4, 0x8


def data(sid, payload, end=False):
    return frame(0, END_STREAM if end else 0, sid, payload)


def padded(sid, payload, pad, end=False):
    return frame(0, PADDED | (END_STREAM if end else 0), sid, bytes([len(pad)]) + payload + pad)


def headers(sid, block, end=False):
    return frame(1, END_HEADERS | (END_STREAM if end else 0), sid, block)


def continuation(sid, block, end_headers=True):
    return frame(9, END_HEADERS if end_headers else 0, sid, block)


def server_reply(sid):
    return settings((3, 100)) + SETTINGS_ACK + headers(sid, HB_200) + data(sid, b"ok\n", True)


def session(cap, cport, turns, mss=None, src=IN):
    s = TcpSession(cap, src, OUT, cport, 80)
    s.handshake()
    for who, payload in turns:
        s.send(who, payload, mss=mss)
    s.close()
    cap.clock.advance(0.1)


def main(outdir):
    cap = Capture()
    client = PREFACE + settings((2, 0), (4, 65535))
    body1 = b'{"name":"Lee","card":"' + CARD1 + b'","note":"renewal"}'
    cut = body1.index(CARD1) + 7
    session(cap, 48101, [
        ("c", client + headers(1, HB_POST) + data(1, body1[:cut]) + data(1, body1[cut:], True)),
        ("s", server_reply(1))], mss=40)

    upgrade = (b"POST /upload HTTP/1.1\r\nHost: api.example\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 5\r\n\r\n"
               b"hello")
    switched = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
    body2 = b"card=" + CARD2 + b"&exp=12/29"
    session(cap, 48102, [
        ("c", upgrade),
        ("s", switched + server_reply(1)),
        ("c", client + SETTINGS_ACK + headers(3, HB_POST) + data(3, body2[:9]) + data(3, body2[9:], True)),
        ("s", headers(3, HB_200) + data(3, b"ok\n", True))])

    body3 = gzip.compress(b"customer card " + CARD3 + b"\n" + b"lorem ipsum " * 40, mtime=0)
    pad = b"1234 5678 9012 3456 " * 3
    session(cap, 48103, [
        ("c", client + headers(1, HB_POST) + padded(1, body3[:30], pad) + padded(1, body3[30:], pad, True)),
        ("s", server_reply(1))])

    a, b = b"card " + CARD4 + b" ok", b"other " + CARD5 + b" ok"
    turns = client + headers(1, HB_POST) + headers(3, HB_POST)
    turns += data(1, a[:10]) + data(3, b[:9]) + data(3, b[9:14]) + data(1, a[10:], True) + data(3, b[14:], True)
    session(cap, 48104, [("c", turns), ("s", server_reply(1) + headers(3, HB_200, True))])
    cap.write_pcap(out_path(outdir, "http2-h2c.pcap"))
    hpack_capture(outdir, client)


def hpack_capture(outdir, client):
    cap = Capture()
    # :method POST, :scheme http, :path /account (literal), then x-account-number (indexed, new name)
    hb = b"\x83\x86\x04" + hstr(b"/account") + b"\x40" + hstr(b"x-account-number") + hstr(CARD6)
    cut = len(hb) - 4
    again = b"\x83\x86\x04" + hstr(b"/account") + b"\xbe"  # x-account-number from the table
    body = b'{"ok":true}'
    session(cap, 48105, [
        ("c", client + frame(1, 0, 1, hb[:cut]) + continuation(1, hb[cut:]) + data(1, body, True)
         + headers(3, again) + data(3, body, True)),
        ("s", server_reply(1))], src=IN2)

    hb = b"\x83\x86\x04" + hstr(b"/cards/" + CARD7 + b"/verify", False) + b"\x41" + hstr(b"api.example")
    session(cap, 48106, [("c", client + headers(1, hb) + data(1, body, True)), ("s", server_reply(1))], src=IN2)

    bad = b"\x83\x86\xc6\x40" + hstr(b"x-card", False) + hstr(CARD8, False)  # 0xc6: index 70
    session(cap, 48107, [
        ("c", client + headers(1, bad) + data(1, body, True) + headers(3, HB_POST) + data(3, body, True)),
        ("s", server_reply(1))], src=IN2)
    cap.write_pcap(out_path(outdir, "http2-hpack.pcap"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
