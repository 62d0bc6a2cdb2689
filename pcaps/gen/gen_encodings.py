#!/usr/bin/python3
"""gen_encodings.py OUTDIR - values the receiver reads only after an encoding the sensor must
undo too, and one value shaped like an address that is a file name (tests/integration/
test_app.py, class Encodings; pcaps/README.md lists the values and what each must produce):

* ftp-mode-z.pcap: FTP uploads in MODE Z (deflate transfer mode: ProFTPD mod_deflate,
  FileZilla Server), then in MODE S again, and a MODE Z upload whose bytes are no zlib stream;
* dns-label-split.pcap: values split over DNS labels, or spaced and dotted inside one label;
* http-multipart-filename-star.pcap: an RFC 2231 / 5987 percent-encoded multipart file name;
* http-retina-asset.pcap: retina image requests ("logo@2x.png"), no addresses."""
import struct
import sys
import zlib

from tcpgen import Capture, TcpSession, http_response, out_path, udp_l3

IN, OUT = "10.0.0.43", "198.51.100.52"
MZ_CARD = b"4024007181241232"      # Luhn-valid synthetic cards, only in these captures
MZ_CARD2 = b"4716912345671237"
MZ_CARD3 = b"4485123456781232"
DNS_CARD = b"4916882301441230"
DNS_CARD2 = b"4556730219931237"
DNS_CARD3 = b"4532017664101238"
FN_SSN = b"536-22-8417"
OK = http_response(b"ok\n", "text/plain")


def session(cap, cport, sport, turns):
    s = TcpSession(cap, IN, OUT, cport, sport)
    s.handshake()
    for who, data in turns:
        s.send(who, data)
    s.close()
    cap.clock.advance(0.1)


def ftp_upload(cap, ctl, commands, dport, data, cport):
    """Control lines, then the data connection :cport -> OUT:dport carrying 'data'."""
    for who, line in commands:
        ctl.send(who, line)
    d = TcpSession(cap, IN, OUT, cport, dport)
    d.handshake()
    d.send("c", data)
    d.close()
    ctl.send("s", b"226 Transfer complete\r\n")


def pasv(port):
    return b"227 Entering Passive Mode (198,51,100,52,%d,%d).\r\n" % (port >> 8, port & 0xff)


def csv(card):
    return b"name,email,card\r\nJane Roe,jane.roe@example.org," + card + b"\r\n"


def ftp_mode_z_capture(outdir):
    cap = Capture()
    login = [("s", b"220 ProFTPD Server ready\r\n"), ("c", b"USER alice\r\n"),
             ("s", b"331 Password required\r\n"), ("c", b"PASS secret\r\n"),
             ("s", b"230 Logged in\r\n"), ("c", b"TYPE I\r\n"), ("s", b"200 Type set to I\r\n")]
    # MODE Z accepted: the upload is a zlib stream; then MODE S: a plain one
    ctl = TcpSession(cap, IN, OUT, 47100, 21)
    ctl.handshake()
    for who, line in login:
        ctl.send(who, line)
    ftp_upload(cap, ctl, [("c", b"MODE Z\r\n"), ("s", b"200 OK\r\n"), ("c", b"PASV\r\n"),
                          ("s", pasv(50100)), ("c", b"STOR customers.csv\r\n"),
                          ("s", b"150 Opening BINARY mode data connection\r\n")],
               50100, zlib.compress(csv(MZ_CARD)), 47101)
    ftp_upload(cap, ctl, [("c", b"MODE S\r\n"), ("s", b"200 OK\r\n"), ("c", b"PASV\r\n"),
                          ("s", pasv(50101)), ("c", b"STOR plain.csv\r\n"),
                          ("s", b"150 Opening BINARY mode data connection\r\n")],
               50101, csv(MZ_CARD2), 47103)
    ctl.send("c", b"QUIT\r\n")
    ctl.send("s", b"221 Goodbye\r\n")
    ctl.close()
    cap.clock.advance(0.1)
    # MODE Z accepted, but the data is plain text: scanned as it is, noted decoder_error
    ctl = TcpSession(cap, IN, OUT, 47110, 21)
    ctl.handshake()
    for who, line in login:
        ctl.send(who, line)
    ftp_upload(cap, ctl, [("c", b"MODE Z\r\n"), ("s", b"200 OK\r\n"), ("c", b"PASV\r\n"),
                          ("s", pasv(50110)), ("c", b"STOR notz.csv\r\n"),
                          ("s", b"150 Opening BINARY mode data connection\r\n")],
               50110, csv(MZ_CARD3), 47111)
    ctl.close()
    cap.write_pcap(out_path(outdir, "ftp-mode-z.pcap"))


def dns_query(cap, sport, qid, labels, qtype=1):
    """A query whose name is the given raw labels (bytes), sent as written."""
    head = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD, one question
    wire = b"".join(bytes([len(lb)]) + lb for lb in labels) + b"\x00"
    m = head + wire + struct.pack(">HH", qtype, 1)
    cap.add_l3(udp_l3(IN, "203.0.113.53", sport, 53, m), IN, "203.0.113.53")


def dns_label_split_capture(outdir):
    cap = Capture()
    tail = [b"x", b"example", b"net"]
    # a card split over four labels (the usual shape of DNS exfiltration)
    dns_query(cap, 47120, 0x4701, [DNS_CARD[i:i + 4] for i in range(0, 16, 4)] + tail)
    # one label "4556 7302 1993 1237" (dig writes \032) and one "4532.0176.6410.1238" (\.)
    dns_query(cap, 47121, 0x4702, [b" ".join(DNS_CARD2[i:i + 4] for i in range(0, 16, 4))] + tail,
              qtype=16)
    dns_query(cap, 47122, 0x4703, [b".".join(DNS_CARD3[i:i + 4] for i in range(0, 16, 4))] + tail,
              qtype=16)
    # look-alikes: sixteen digits over labels that fail Luhn, a reverse lookup, a CDN name
    dns_query(cap, 47123, 0x4704, [b"4916", b"8823", b"0144", b"1231"] + tail)
    dns_query(cap, 47124, 0x4705, [b"4", b"3", b"2", b"1", b"in-addr", b"arpa"], qtype=12)
    dns_query(cap, 47125, 0x4706, [b"e1234", b"a", b"akamaiedge", b"net"])
    cap.write_pcap(out_path(outdir, "dns-label-split.pcap"))


def pct(b):
    return b"".join(b"%%%02X" % c for c in b)


def multipart_filename_star_capture(outdir):
    cap = Capture()
    body = (b"--fb\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''" + pct(FN_SSN) +
            b"%20Jane.pdf\r\nContent-Type: application/octet-stream\r\n\r\nnothing here\r\n"
            b"--fb--\r\n")
    req = (b"POST /upload HTTP/1.1\r\nHost: files.example.com\r\n"
           b"Content-Type: multipart/form-data; boundary=fb\r\nContent-Length: " +
           str(len(body)).encode() + b"\r\n\r\n" + body)
    session(cap, 47130, 80, [("c", req), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-multipart-filename-star.pcap"))


def retina_asset_capture(outdir):
    cap = Capture()
    img = http_response(b"\x89PNG\r\n\x1a\n", "image/png")
    reqs = [b"/static/img/logo@2x.png", b"/static/img/icon@3x.webp?v=2", b"/i/hero@2x.jpg",
            b"/unsubscribe?u=jane.roe@example.org"]
    turns = []
    for path in reqs:
        turns += [("c", b"GET " + path + b" HTTP/1.1\r\nHost: www.example.com\r\n\r\n"),
                  ("s", img)]
    session(cap, 47140, 80, turns)
    cap.write_pcap(out_path(outdir, "http-retina-asset.pcap"))


def main():
    outdir = sys.argv[1]
    ftp_mode_z_capture(outdir)
    dns_label_split_capture(outdir)
    multipart_filename_star_capture(outdir)
    retina_asset_capture(outdir)


if __name__ == "__main__":
    main()
