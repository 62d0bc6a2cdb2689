#!/usr/bin/python3
"""gen_tunnel.py OUTDIR - HTTP through forward proxies (tests/integration/test_app.py).

Plain HTTP sent through a proxy's tunnel reaches the origin server as an ordinary HTTP/1.1
request, which decodes its gzip and chunked bodies: an HTTP CONNECT to port 80 (tinyproxy,
3proxy, a Squid without the SSL_ports rule), SOCKS5 with and without username/password
authentication (RFC 1928, RFC 1929: Dante, ssh -D, microsocks) and SOCKS4a. A CONNECT to
port 443 carrying TLS stays encrypted, and a SOCKS5 greeting followed by bytes that are no
SOCKS request is scanned as it is. pcaps/README.md lists what each flow must produce."""
import gzip
import sys

from tcpgen import Capture, TcpSession, http_response, out_path

IN, PROXY = "10.0.0.41", "198.51.100.60"
CARD = b"4556 0172 9380 4435"     # Luhn-valid synthetic Visa, in no other capture
CARD2 = b"5204730081225505"       # Luhn-valid synthetic Mastercard, in no other capture
SSN = b"523-41-7786"
EMAIL = b"tunnel.leak@example.org"
OK = http_response(b"ok\n", "text/plain")
SOCKS5_REQ = b"\x05\x01\x00\x03\x0fapi.example.com\x00\x50"       # CONNECT api.example.com:80
SOCKS5_OK = b"\x05\x00\x00\x01\xc6\x33\x64\x3c\x9c\x41"            # bound 198.51.100.60:40001
PASSWORD = b"Tr0ub4dor&3-proxy"


def session(cap, cport, sport, turns):
    """turns: [("c"|"s", bytes)] in order."""
    s = TcpSession(cap, IN, PROXY, cport, sport)
    s.handshake()
    for who, data in turns:
        s.send(who, data)
    s.close()
    cap.clock.advance(0.1)


def chunked(pieces):
    return b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


def request(headers, body):
    return (b"POST /v1/upload HTTP/1.1\r\nHost: api.example.com\r\n"
            b"Content-Type: application/json\r\n" + headers + b"\r\n" + body)


def main():
    cap = Capture()
    # CONNECT to port 80, then a gzip'd body in chunks: the card lies in the gzip stream,
    # which is cut across chunk boundaries
    z = gzip.compress(b'{"note":"card ' + CARD + b' end"}', mtime=0)
    inner = request(b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
                    chunked([z[:9], z[9:20], z[20:]]))
    session(cap, 48001, 3128, [
        ("c", b"CONNECT api.example.com:80 HTTP/1.1\r\nHost: api.example.com:80\r\n\r\n"),
        ("s", b"HTTP/1.1 200 Connection established\r\n\r\n"),
        ("c", inner), ("s", OK)])
    # SOCKS5 without authentication, then a gzip'd body
    body = gzip.compress(b'{"ssn":"' + SSN + b'"}', mtime=0)
    inner = request(b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(body), body)
    session(cap, 48002, 1080, [("c", b"\x05\x01\x00"), ("s", b"\x05\x00"),
                               ("c", SOCKS5_REQ), ("s", SOCKS5_OK), ("c", inner), ("s", OK)])
    # SOCKS5 offering no-auth and username/password, the server choosing the latter
    # (RFC 1929: ver 1, user "alice", the password), then the card cut across two chunks
    auth = b"\x01\x05alice" + bytes([len(PASSWORD)]) + PASSWORD
    inner = request(b"Transfer-Encoding: chunked\r\n",
                    chunked([b'{"card":"' + CARD2[:7], CARD2[7:] + b'"}']))
    session(cap, 48003, 1080, [("c", b"\x05\x02\x00\x02"), ("s", b"\x05\x02"),
                               ("c", auth), ("s", b"\x01\x00"),
                               ("c", SOCKS5_REQ), ("s", SOCKS5_OK), ("c", inner), ("s", OK)])
    # SOCKS4a: the address 0.0.0.1 and the name after the user id; greeting and request in
    # one write, the server's 0x5a (granted), then a gzip'd e-mail address
    body = gzip.compress(b'{"mail":"' + EMAIL + b'"}', mtime=0)
    inner = request(b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(body), body)
    session(cap, 48004, 1080, [("c", b"\x04\x01\x00\x50\x00\x00\x00\x01bob\x00api.example.com\x00"),
                               ("s", b"\x00\x5a\x00\x00\x00\x00\x00\x00"),
                               ("c", inner), ("s", OK)])
    # control: CONNECT to port 443, then TLS (a ClientHello, application data whose bytes
    # happen to spell a card): encrypted, not scanned
    sni = b"secure.example.com"
    ext = (b"\x00\x00" + (len(sni) + 5).to_bytes(2, "big") + (len(sni) + 3).to_bytes(2, "big") +
           b"\x00" + len(sni).to_bytes(2, "big") + sni + b"\x00\x2b\x00\x03\x02\x03\x04")
    hello = (b"\x03\x03" + b"\x22" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" +
             len(ext).to_bytes(2, "big") + ext)
    hs = b"\x01" + len(hello).to_bytes(3, "big") + hello
    session(cap, 48005, 3128, [
        ("c", b"CONNECT secure.example.com:443 HTTP/1.1\r\nHost: secure.example.com:443\r\n\r\n"),
        ("s", b"HTTP/1.1 200 Connection established\r\n\r\n"),
        ("c", b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs),
        ("s", b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00"),
        ("c", b"\x17\x03\x03\x00\x19card " + CARD2 + b" end")])
    # control: a SOCKS5 greeting, then no request but text: scanned raw, nothing lost
    session(cap, 48006, 1080, [("c", b"\x05\x01\x00"), ("s", b"\x05\x00"),
                               ("c", b"note: ssn " + SSN + b" end\n")])
    cap.write_pcap(out_path(sys.argv[1], "proxy-tunnels.pcap"))


if __name__ == "__main__":
    main()
