"""Live end-to-end tests: network namespaces, veth pairs, servers, clients and
sensor processes that a test creates and always removes (python3 standard
library only; needs root, as a sensor on a tap does).

Topology of Lab (two namespaces joined by one veth pair, point to point):

    client ns  <cif> 10.61.0.1  ----  198.51.100.7 <sif>  server ns
    (the protected network:          (outside: a documentation address)
     --home-net 10.61.0.0/24)

Every namespace and interface name carries the pid of the test process, so
runs never collide; what a crashed run left (a pid no longer alive) is
removed at the next start. Every process a test starts is recorded and
killed with its process group at the end, also after a failure.
"""

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DLP_SRC", os.path.abspath(os.path.join(HERE, "../../..")))
BUILD = os.environ.get("DLP_BUILD", os.path.join(SRC, "build"))
BINARY = os.environ.get("DLP_BINARY", os.path.join(BUILD, "dlpsensor"))
PCAPS = os.path.join(SRC, "pcaps")
KEY_FILE = os.path.join(SRC, "tests", "integration", "hmac-test.key")
CACHE = os.path.join(BUILD, "test-rules-cache")
IP = shutil.which("ip") or "/usr/sbin/ip"
PY = sys.executable or "/usr/bin/python3"

PREFIXES = ("dlpc", "dlps", "dlpr")  # namespaces: client, server, replay
CARD = "4539148803436467"             # synthetic, Luhn-valid
CARD_MASKED = "453914******6467"
EMAIL = "jane.doe@example.com"
EMAIL_MASKED = "j***@example.com"

_serial = itertools.count(1)


def need_root(cls):
    return unittest.skipUnless(os.geteuid() == 0, "live capture in network namespaces "
                               "needs root")(cls)


def ip(*args, check=True):
    r = subprocess.run([IP] + list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale():
    """Namespaces of earlier runs whose process is gone (a crash skipped the teardown)."""
    r = ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIXES):
            continue
        digits = name[4:].split("x")[0]
        if digits.isdigit() and not _alive(int(digits)):
            ip("netns", "del", name, check=False)


class Procs:
    """Processes started in namespaces (ip netns exec execs the program: same pid)."""

    def __init__(self):
        self.procs = []

    def spawn(self, ns, argv, **kw):
        kw.setdefault("start_new_session", True)
        p = subprocess.Popen([IP, "netns", "exec", ns] + [str(a) for a in argv], **kw)
        self.procs.append(p)
        return p

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                except PermissionError:
                    p.kill()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdin, p.stdout, p.stderr):
                if f is not None:
                    f.close()
        self.procs = []


class Lab(Procs):
    """Client and server namespaces on one veth pair (module docstring)."""

    CLIENT_IP = "10.61.0.1"
    SERVER_IP = "198.51.100.7"
    HOME_NET = "10.61.0.0/24"

    def __init__(self):
        super().__init__()
        tag = "%dx%d" % (os.getpid(), next(_serial))
        self.cns, self.sns = "dlpc" + tag, "dlps" + tag
        self.cif, self.sif = "c" + tag, "s" + tag  # at most 15 characters
        self.tmp = None

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def up(self):
        remove_stale()
        self.tmp = tempfile.mkdtemp(prefix="dlp-e2e-")
        ip("netns", "add", self.cns)
        ip("netns", "add", self.sns)
        ip("link", "add", self.cif, "netns", self.cns, "type", "veth", "peer", "name", self.sif,
           "netns", self.sns)
        for ns, dev, mine, peer in ((self.cns, self.cif, self.CLIENT_IP, self.SERVER_IP),
                                    (self.sns, self.sif, self.SERVER_IP, self.CLIENT_IP)):
            quiet_ipv6(ns)
            ip("-n", ns, "addr", "add", mine, "peer", peer, "dev", dev)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")

    def down(self):
        self.kill_all()
        for ns in (self.cns, self.sns):
            ip("netns", "del", ns, check=False)  # takes the veth pair along
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # --- traffic -------------------------------------------------------------

    def http_server(self, port=8080):
        """A threaded HTTP server in the server namespace that takes POSTs (and reads
        a body of any announced length, however slowly it comes)."""
        p = self.spawn(self.sns, [PY, os.path.join(HERE, "traffic.py"), "serve",
                                  self.SERVER_IP, port],
                       stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("HTTP server did not start: %r" % line)
        return p

    def add_client_addresses(self, n):
        """n more client addresses, 10.61.0.10 and up (the server routes the /24 back)."""
        addrs = ["10.61.0.%d" % (10 + i) for i in range(n)]
        for a in addrs:
            ip("-n", self.cns, "addr", "add", a + "/32", "dev", self.cif)
        ip("-n", self.sns, "route", "add", self.HOME_NET, "dev", self.sif)
        return addrs

    def post(self, n=1, port=8080, card=CARD, tag="", sources=(), timeout=60, endpoints=False):
        """n POSTs, each on its own connection, from the client namespace (from the
        'sources' addresses in turn); returns the client ports used, or with 'endpoints'
        the (address, port) pairs (two source addresses may get the same port)."""
        r = subprocess.run([IP, "netns", "exec", self.cns, PY, os.path.join(HERE, "traffic.py"),
                            "post", "http://%s:%d/upload" % (self.SERVER_IP, port), str(n),
                            card, tag, ",".join(sources)],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("client failed: " + r.stderr)
        pairs = [(x.rsplit(":", 1)[0], int(x.rsplit(":", 1)[1])) for x in r.stdout.split()]
        return pairs if endpoints else [p for _, p in pairs]


class ReplayLab(Procs):
    """One namespace holding both ends of a veth pair: tcpreplay writes captures on
    <tx>, the sensor captures <rx> (the frames arrive there as from a tap)."""

    def __init__(self):
        super().__init__()
        tag = "%dx%d" % (os.getpid(), next(_serial))
        self.ns = "dlpr" + tag
        self.tx, self.rx = "t" + tag, "r" + tag
        self.tmp = None

    __enter__ = Lab.__enter__
    __exit__ = Lab.__exit__

    def up(self):
        remove_stale()
        self.tmp = tempfile.mkdtemp(prefix="dlp-e2e-")
        ip("netns", "add", self.ns)
        quiet_ipv6(self.ns)
        ip("-n", self.ns, "link", "add", self.tx, "type", "veth", "peer", "name", self.rx)
        for dev in (self.tx, self.rx):
            ip("-n", self.ns, "link", "set", dev, "up")

    def down(self):
        self.kill_all()
        ip("netns", "del", self.ns, check=False)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def replay(self, files, *opts, timeout=120):
        """tcpreplay on <tx>; returns its output (it prints what it sent)."""
        r = subprocess.run([IP, "netns", "exec", self.ns, shutil.which("tcpreplay") or
                            "/usr/bin/tcpreplay", "-i", self.tx] + [str(o) for o in opts] +
                           list(files), capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("tcpreplay: " + r.stderr + r.stdout)
        return r.stdout


def quiet_ipv6(ns):
    """No router solicitations or MLD reports in the captures."""
    for key in ("all", "default"):
        subprocess.run([IP, "netns", "exec", ns, "sysctl", "-q", "-w",
                        "net.ipv6.conf.%s.disable_ipv6=1" % key],
                       capture_output=True, timeout=30)


class Sensor:
    """One dlpsensor process, run in a namespace, writing JSON lines to a file."""

    def __init__(self, procs, ns, args, tmp, name="sensor", stats_interval=1):
        self.path = os.path.join(tmp, name + ".json")
        self.errpath = os.path.join(tmp, name + ".err")
        self.err = open(self.errpath, "w")
        argv = [BINARY, "--json", self.path, "--hmac-key-file", KEY_FILE,
                "--rules-cache", CACHE, "--stats-interval", str(stats_interval)]
        argv += [str(a) for a in args]
        self.proc = procs.spawn(ns, argv, stdout=subprocess.DEVNULL, stderr=self.err)
        self.pid = self.proc.pid
        self.status = None
        self.elapsed = None

    def events(self, event_type=None):
        out = []
        try:
            with open(self.path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        break  # being written
                    e = json.loads(line)
                    if event_type is None or e.get("event_type") == event_type:
                        out.append(e)
        except FileNotFoundError:
            pass
        return out

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.errpath) as f:
            return f.read()

    def wait_ready(self, timeout=20):
        """Capturing: a first periodic stats event is written after the handles are open."""
        ok = wait_for(lambda: self.events("stats") or self.proc.poll() is not None, timeout)
        if self.proc.poll() is not None or not ok:
            raise AssertionError("sensor not ready (status %s): %s"
                                 % (self.proc.poll(), self.stderr()))

    def last_stats(self):
        s = self.events("stats")
        return s[-1] if s else None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.status = self.proc.wait(timeout=timeout)
        finally:
            self.elapsed = time.monotonic() - t0
            self.err.close()
        return self.status


def dlp_values(events):
    """{(rule, masked), ...} of dlp events."""
    return {(e["dlp"]["rule"], m.get("masked"))
            for e in events if e.get("event_type") == "dlp"
            for m in e["dlp"].get("matches", [])}


def main():
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:], verbosity=2)
