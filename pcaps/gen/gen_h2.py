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
Header blocks are HPACK bytes the sensor does not decode (noted unsupported)."""
import gzip
import struct
import sys

from tcpgen import Capture, TcpSession, out_path

IN, OUT = "10.0.0.44", "198.51.100.53"
CARD1 = b"4532781055664431"  # Luhn-valid synthetic cards, only in this capture
CARD2 = b"4024007133842210"
CARD3 = b"4716025581903345"
CARD4 = b"4556942288177051"
CARD5 = b"4532015112830366"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# HPACK (RFC 7541): :method POST, :scheme http, :path /upload (literal), :authority api.example
HB_POST = b"\x83\x86\x44\x07/upload\x41\x0bapi.example"
HB_200 = b"\x88"  # :status 200


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


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


def server_reply(sid):
    return settings((3, 100)) + SETTINGS_ACK + headers(sid, HB_200) + data(sid, b"ok\n", True)


def session(cap, cport, turns, mss=None):
    s = TcpSession(cap, IN, OUT, cport, 80)
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


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
