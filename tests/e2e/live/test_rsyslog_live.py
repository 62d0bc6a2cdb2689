"""Live capture with the alerts going to a real rsyslogd (the configuration of
tests/integration/test_rsyslog.py: imuxsock on a private socket, imtcp with RFC 5424
and octet counting, fields written to a file), run in the client's namespace. The
collector is stopped mid-run while traffic goes on, then started again: the sensor
keeps capturing (alerts in its JSON output all along), counts the local messages it
could not deliver (syslog.dropped), reconnects (syslog.reconnects) and the alerts
raised after the restart reach the collector over TCP."""

import os
import re
import signal
import subprocess
import sys
import unittest

from netlab import Lab, Sensor, SRC, main, need_root, wait_for

sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from test_rsyslog import CONF, RSYSLOGD, free_port  # noqa: E402

FLOW_ID_RE = re.compile(r'flow_id="(\d+)"')


class Collector:
    """rsyslogd in a namespace; start() and stop() as often as needed."""

    def __init__(self, lab, ns):
        self.lab, self.ns, self.dir = lab, ns, os.path.join(lab.tmp, "rsyslog")
        os.makedirs(self.dir)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(d=self.dir, port=self.port))
        self.proc = None
        self.err = None
        self.socket = os.path.join(self.dir, "log")

    def start(self):
        self.err = open(os.path.join(self.dir, "rsyslogd.err"), "a")
        self.proc = self.lab.spawn(self.ns, [RSYSLOGD, "-n", "-f", self.conf, "-i",
                                             os.path.join(self.dir, "pid")],
                                   stdout=subprocess.DEVNULL, stderr=self.err)
        ok = wait_for(lambda: os.path.exists(self.socket) and self.listening(), 15)
        if not ok:
            raise AssertionError("rsyslogd did not start")

    def listening(self):
        r = subprocess.run(["ip", "netns", "exec", self.ns, "ss", "-Hltn",
                            "sport = :%d" % self.port], capture_output=True, text=True)
        return str(self.port) in r.stdout

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)
        self.close()

    def close(self):
        if self.err is not None:
            self.err.close()
            self.err = None

    def lines(self):
        try:
            with open(os.path.join(self.dir, "fields.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def tcp_flow_ids(self):
        return {int(m.group(1)) for l in self.lines() if l.startswith("imtcp ")
                for m in [FLOW_ID_RE.search(l)] if m}


@need_root
@unittest.skipUnless(os.access(RSYSLOGD, os.X_OK), "rsyslogd not installed")
class RsyslogLive(unittest.TestCase):
    def test_collector_restart_mid_run(self):
        with Lab() as lab:
            lab.http_server()
            col = Collector(lab, lab.cns)
            self.addCleanup(col.close)
            col.start()
            s = Sensor(lab, lab.cns, ["-i", lab.cif, "--capture-threads", "2", "--home-net",
                                      lab.HOME_NET, "--syslog", "--syslog-socket", col.socket,
                                      "--syslog-remote", "tcp://127.0.0.1:%d" % col.port],
                       lab.tmp)
            s.wait_ready()

            def flow_ids(n):
                ok = wait_for(lambda: len(s.events("dlp")) >= n, 15)
                self.assertTrue(ok, s.events("dlp"))
                return {e["flow_id"] for e in s.events("dlp")}

            lab.post(2, tag="before")
            before = flow_ids(4)
            self.assertTrue(wait_for(lambda: before <= col.tcp_flow_ids(), 15), col.lines())
            local = [l for l in col.lines() if l.startswith("imuxsock ")]
            self.assertEqual(len(local), 4, local)

            col.stop()
            lab.post(2, tag="down")
            down = flow_ids(8) - before
            self.assertEqual(len(down), 2)
            self.assertTrue(wait_for(lambda: s.last_stats()["syslog"]["dropped"] >= 4, 10),
                            s.last_stats()["syslog"])

            col.start()
            lab.post(2, tag="after")
            after = flow_ids(12) - before - down
            self.assertEqual(len(after), 2)
            self.assertTrue(wait_for(lambda: after <= col.tcp_flow_ids(), 40),
                            (after, col.lines()))
            self.assertTrue(wait_for(lambda: s.last_stats()["syslog"]["reconnects"] >= 1, 10),
                            s.last_stats()["syslog"])
            self.assertEqual(s.stop(), 0, s.stderr())
            final = s.last_stats()
            lines = col.lines()
        self.assertEqual(final["alerts"], 12)
        self.assertGreaterEqual(final["syslog"]["dropped"], 4)
        self.assertGreaterEqual(final["syslog"]["reconnects"], 1)
        self.assertGreater(final["interfaces"][lab.cif]["received"], 0)
        for l in lines:
            self.assertNotIn("4539148803436467", l)
            self.assertNotIn("jane.doe@example.com", l)


if __name__ == "__main__":
    main()
