"""Integration: the real binary's alerts as a private rsyslogd receives them, over the
local socket (imuxsock on a temporary path, as /dev/log would be) and over TCP (imtcp,
RFC 5424 with octet counting). rsyslog writes what it parsed to a file, field by field."""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from sensor import pcap, run

RSYSLOGD = "/usr/sbin/rsyslogd"

CONF = """global(workDirectory="{d}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
module(load="imtcp" MaxSessions="16")
input(type="imuxsock" Socket="{d}/log" Ruleset="dlp")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="dlp")
template(name="f" type="list") {{
  property(name="inputname") constant(value=" app=") property(name="app-name")
  constant(value=" msgid=") property(name="msgid") constant(value=" pri=")
  property(name="pri") constant(value=" sd=") property(name="structured-data")
  constant(value=" msg=") property(name="msg") constant(value="\\n")
}}
ruleset(name="dlp") {{ action(type="omfile" file="{d}/fields.log" template="f") }}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipUnless(os.access(RSYSLOGD, os.X_OK), "rsyslogd not installed")
class Rsyslog(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dlp-rsyslog-")
        self.port = free_port()
        with open(os.path.join(self.dir, "rsyslog.conf"), "w") as f:
            f.write(CONF.format(d=self.dir, port=self.port))
        self.err = open(os.path.join(self.dir, "rsyslogd.err"), "w")
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", os.path.join(self.dir, "rsyslog.conf"),
             "-i", os.path.join(self.dir, "pid")],
            stdout=subprocess.DEVNULL, stderr=self.err)
        end = time.time() + 10
        while time.time() < end:
            if os.path.exists(os.path.join(self.dir, "log")) and self.listening():
                return
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        self.err.close()
        with open(os.path.join(self.dir, "rsyslogd.err")) as f:
            self.fail("rsyslogd did not start: " + f.read())

    def listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def tearDown(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def lines(self, want):
        path = os.path.join(self.dir, "fields.log")
        end = time.time() + 10
        got = []
        while time.time() < end:
            if os.path.exists(path):
                with open(path) as f:
                    got = f.read().splitlines()
                if len(got) >= want:
                    break
            time.sleep(0.1)
        return got

    def test_local_socket_and_remote_tcp(self):
        r = run("-r", pcap("demo.pcap"), "--syslog", "--syslog-socket",
                os.path.join(self.dir, "log"), "--syslog-remote", "tcp://127.0.0.1:%d" % self.port)
        self.assertEqual(r.status, 0, r.stderr)
        alerts = r.stats["alerts"]
        self.assertEqual(alerts, 14)
        self.assertEqual(r.stats["syslog"]["sent"], 2 * alerts, r.stats["syslog"])
        lines = self.lines(2 * alerts)
        local = [l for l in lines if l.startswith("imuxsock ")]
        remote = [l for l in lines if l.startswith("imtcp ")]
        self.assertEqual((len(local), len(remote)), (alerts, alerts), lines)
        card = [l for l in local if "pii.credit_card" in l and ":45004 " in l]
        self.assertEqual(len(card), 1)
        # local0 (16) * 8 + err (3) = 131: one readable line, everything in its text
        self.assertRegex(card[0], r"^imuxsock app=dlpsensor msgid=- pri=131 sd=- msg= ?"
                                  r"pii\.credit_card severity=high 10\.0\.0\.21:45004 -> "
                                  r"198\.51\.100\.22:80 app_proto=\w+ count=1 "
                                  r"values=453914\*{6}6467 flow_id=\d+$")
        card = [l for l in remote if "pii.credit_card" in l and '"45004"' in l]
        self.assertEqual(len(card), 1)
        self.assertRegex(card[0], r'^imtcp app=dlpsensor msgid=DLP_ALERT pri=131 '
                                  r'sd=\[dlp@32473 rule="pii\.credit_card" rule_id="1001" '
                                  r'severity="high" count="1" src="10\.0\.0\.21" ')
        for raw in ("4539148803436467", "536-22-8417", "jane.doe@example.com"):
            self.assertFalse(any(raw in l for l in lines), raw)

    def test_facility(self):
        r = run("-r", pcap("detect-card-out-of-order.pcap"), "--syslog", "--syslog-socket",
                os.path.join(self.dir, "log"), "--syslog-facility", "auth")
        self.assertEqual(r.status, 0, r.stderr)
        (line,) = self.lines(1)
        self.assertIn(" pri=35 ", line)   # auth (4) * 8 + err (3)


if __name__ == "__main__":
    from sensor import main
    main()
