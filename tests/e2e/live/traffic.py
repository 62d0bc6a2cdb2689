"""Traffic for the live tests, run inside a namespace (ip netns exec):

  traffic.py serve ADDR PORT            HTTP server taking POSTs; prints "ready"
  traffic.py post URL N CARD [TAG [SRC,...]]
                                        N POSTs (a card and an email in a form), one
                                        connection each, from the source addresses in
                                        turn if given; prints the client ports
  traffic.py stream URL N CARD SECONDS  N connections that each announce a large
                                        body and send a line with the card every
                                        0.1 s for SECONDS (or until killed); prints
                                        the client ports once all are connected

Standard library only. The card is synthetic (Luhn-valid test number)."""

import http.client
import http.server
import socket
import sys
import threading
import time
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                return
            left -= len(chunk)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(addr, port):
    srv = http.server.ThreadingHTTPServer((addr, int(port)), Handler)
    srv.daemon_threads = True
    print("ready", flush=True)
    srv.serve_forever()


def post(url, n, card, tag="", sources=""):
    u = urllib.parse.urlsplit(url)
    srcs = [a for a in sources.split(",") if a]
    ports = []
    for i in range(int(n)):
        body = urllib.parse.urlencode({"name": "Jane Doe", "card": card,
                                       "email": "jane.doe@example.com",
                                       "note": "%s-%d" % (tag, i)}).encode()
        src = (srcs[i % len(srcs)], 0) if srcs else None
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=src)
        c.connect()
        ports.append("%s:%d" % c.sock.getsockname()[:2])
        c.request("POST", u.path, body=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded",
                           "Connection": "close"})
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200:
            sys.exit("status %d" % r.status)
    print(" ".join(map(str, ports)), flush=True)


def stream(url, n, card, seconds):
    u = urllib.parse.urlsplit(url)
    socks = []
    for _ in range(int(n)):
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\n"
                   "Content-Length: 100000000\r\n\r\n" % (u.path, u.hostname)).encode())
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
    end = time.monotonic() + float(seconds)
    i = 0
    while time.monotonic() < end:
        for s in socks:
            s.sendall(("line %d: paid with card %s, mail jane.doe@example.com\n"
                       % (i, card)).encode())
        i += 1
        time.sleep(0.1)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"serve": serve, "post": post, "stream": stream}[cmd](*args)
