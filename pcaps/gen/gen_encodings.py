#!/usr/bin/python3
"""gen_encodings.py OUTDIR - values the receiver reads only after an encoding the sensor must
undo too (tests/integration/test_app.py, class Encodings; pcaps/README.md lists the values
and what each must produce):

* ftp-mode-z.pcap: FTP uploads in MODE Z (deflate transfer mode: ProFTPD mod_deflate,
  FileZilla Server), then in MODE S again, and a MODE Z upload whose bytes are no zlib stream."""
import sys
import zlib

from tcpgen import Capture, TcpSession, out_path

IN, OUT = "10.0.0.43", "198.51.100.52"
MZ_CARD = b"4024007181241232"      # Luhn-valid synthetic cards, only in these captures
MZ_CARD2 = b"4716912345671237"
MZ_CARD3 = b"4485123456781232"


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


def main():
    outdir = sys.argv[1]
    ftp_mode_z_capture(outdir)


if __name__ == "__main__":
    main()
