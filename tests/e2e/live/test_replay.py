"""Captures replayed with tcpreplay onto a veth pair at a fixed rate while the sensor
captures the other end (two capture threads): the alerts are those of the same
captures read as files. Then the sensor is made too slow - stopped (SIGSTOP) while a
burst is replayed into a 1 MiB kernel ring - and the drops are reported: "dropped"
and the interface's kernel_drops in the stats event."""

import json
import os
import signal
import subprocess
import unittest

from netlab import (BINARY, CACHE, KEY_FILE, PCAPS, ReplayLab, Sensor, main, need_root,
                    wait_for)

# Distinct 5-tuples in every capture (no flow of one meets a flow of another).
CAPTURES = ["demo.pcap", "http-chunked-card.pcap", "smtp-mime-qp-base64.pcap",
            "detect-ten-cards.pcap", "http-keepalive-three.pcap", "ftp-passive-upload.pcap",
            "detect-secrets-and-threshold.pcap", "http-gzip-body.pcap",
            "http-multipart-csv.pcap"]


def alerts(events):
    """What must match between a file run and a live run: per alert, the flow's
    endpoints, the rule and the masked values."""
    return sorted((e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"], e["dlp"]["rule"],
                   tuple(sorted(str(m.get("masked", m.get("rule"))) for m in e["dlp"]["matches"])))
                  for e in events if e.get("event_type") == "dlp")


def file_run(tmp, paths):
    out = os.path.join(tmp, "file.json")
    r = subprocess.run([BINARY, "--json", out, "--hmac-key-file", KEY_FILE, "--rules-cache",
                        CACHE] + sum((["-r", p] for p in paths), []),
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    with open(out) as f:
        return [json.loads(l) for l in f]


@need_root
class Replay(unittest.TestCase):
    def test_replay_matches_files_then_drops(self):
        if not os.access("/usr/bin/tcpreplay", os.X_OK):
            self.skipTest("tcpreplay not installed")
        paths = [os.path.join(PCAPS, c) for c in CAPTURES]
        with ReplayLab() as lab:
            want = alerts(file_run(lab.tmp, paths))
            self.assertGreaterEqual(len(want), 20)
            conf = os.path.join(lab.tmp, "small-ring.yaml")
            with open(conf, "w") as f:
                f.write("capture:\n  buffer: 1m\n")
            s = Sensor(lab, lab.ns, ["-c", conf, "-i", lab.rx, "--capture-threads", "2",
                                     "--no-syslog"], lab.tmp)
            s.wait_ready()
            sent = lab.replay(paths, "--pps", "1000")
            self.assertIn("Failed packets:            0", sent)
            self.assertTrue(wait_for(lambda: alerts(s.events()) == want, 15),
                            "live %r\n!= files %r" % (alerts(s.events()), want))
            st = s.last_stats()
            self.assertEqual(st["dropped"], 0, st)

            # too slow: nothing read while the burst arrives
            os.kill(s.pid, signal.SIGSTOP)
            try:
                lab.replay([os.path.join(PCAPS, "demo.pcap")], "--topspeed", "--loop", "200")
            finally:
                os.kill(s.pid, signal.SIGCONT)

            def dropped():
                st = s.last_stats()
                return st if st["dropped"] > 0 and st["interfaces"][lab.rx]["kernel_drops"] > 0 \
                    else None
            st = wait_for(dropped, 15)
            self.assertTrue(st, s.last_stats())

            def caught_up():   # every frame kept in the rings has been read
                st = s.last_stats()
                i = st["interfaces"][lab.rx]
                return st["packets"] == i["received"] - i["kernel_drops"]
            self.assertTrue(wait_for(caught_up, 30), s.last_stats())
            self.assertEqual(s.stop(), 0, s.stderr())
            final = s.last_stats()
        iface = final["interfaces"][lab.rx]
        self.assertEqual(final["dropped"], iface["kernel_drops"] + iface["if_drops"])
        self.assertEqual(final["capture"]["kernel_drops"], iface["kernel_drops"])
        # every frame written was received by one of the two sockets, kept or dropped
        self.assertEqual(iface["received"], final["capture"]["received"])
        self.assertGreaterEqual(iface["received"], 200 * 128)
        self.assertEqual(final["packets"], iface["received"] - iface["kernel_drops"])


if __name__ == "__main__":
    main()
