"""SIGTERM during traffic: a client keeps four HTTP uploads open, each sending a line
with a card number every 0.1 s, while the sensor (two capture threads) is told to
stop. It exits 0 within a bound, every open flow has its flow event with reason
"shutdown" (carrying the values found), and the final stats event is the last line."""

import os
import signal
import subprocess
import time
import unittest

from netlab import (CARD, CARD_MASKED, Lab, PY, HERE, Sensor, main, need_root, wait_for)

BOUND_S = 5.0


@need_root
class Shutdown(unittest.TestCase):
    def test_sigterm_ends_open_flows(self):
        with Lab() as lab:
            lab.http_server()
            s = Sensor(lab, lab.cns, ["-i", lab.cif, "--capture-threads", "2", "--home-net",
                                      lab.HOME_NET, "--no-syslog"], lab.tmp)
            s.wait_ready()
            client = lab.spawn(lab.cns, [PY, os.path.join(HERE, "traffic.py"), "stream",
                                         "http://%s:8080/upload" % lab.SERVER_IP, 4, CARD, 60],
                               stdout=subprocess.PIPE, text=True)
            ports = sorted(int(p) for p in client.stdout.readline().split())
            self.assertEqual(len(ports), 4)

            def alerted():
                return sorted({e["src_port"] for e in s.events("dlp")
                               if e["dlp"]["rule"] == "pii.credit_card"}) == ports
            self.assertTrue(wait_for(alerted, 15), s.events("dlp"))
            time.sleep(0.3)
            self.assertIsNone(client.poll())   # still streaming
            self.assertEqual(s.stop(signal.SIGTERM, timeout=30), 0, s.stderr())
            self.assertLess(s.elapsed, BOUND_S)
            self.assertIsNone(client.poll())   # the traffic went on to the end
            events = s.events()
        flows = {e["src_port"]: e for e in events if e["event_type"] == "flow"}
        self.assertEqual(sorted(flows), ports)
        for port, f in flows.items():
            self.assertEqual(f["flow"]["reason"], "shutdown", f)
            rules = {r["rule"]: r for r in f["dlp_rules"]}
            self.assertEqual(sorted(rules), ["pii.credit_card", "pii.email"])
            self.assertEqual(rules["pii.credit_card"]["matches"][0]["masked"], CARD_MASKED)
            self.assertGreaterEqual(rules["pii.credit_card"]["count"], 1)
        self.assertEqual(events[-1]["event_type"], "stats")
        final = events[-1]
        self.assertGreaterEqual(final["flow"]["end_shutdown"], 4)
        self.assertEqual(final["flow"]["active"], 0)
        self.assertEqual(final["alerts"], 8)


if __name__ == "__main__":
    main()
