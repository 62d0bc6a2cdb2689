"""SIGHUP in live mode: each capture thread is its own worker and takes up a new rule
generation between packets (and whenever its capture is idle). A rule added by a reload
fires on flows that start after it; the ones before saw only the old rules."""

import os
import signal
import sys
import unittest

from netlab import Lab, Sensor, SRC, main, need_root, wait_for

sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
from test_reload import CARD_RULE, MARKER_RULE  # noqa: E402


@need_root
class ReloadLive(unittest.TestCase):
    def test_rule_added_by_sighup(self):
        with Lab() as lab:
            lab.http_server()
            rules = os.path.join(lab.tmp, "rules")
            os.makedirs(rules)
            path = os.path.join(rules, "test.yaml")
            with open(path, "w") as f:
                f.write("rules:\n" + CARD_RULE)
            s = Sensor(lab, lab.cns, ["-i", lab.cif, "--capture-threads", "2", "-R", rules,
                                      "--no-rules-cache", "--home-net", lab.HOME_NET,
                                      "--no-syslog"], lab.tmp)
            s.wait_ready()
            first = lab.post(1, tag="RLD-12345678")
            self.assertTrue(wait_for(lambda: len(s.events("dlp")) >= 1, 15))
            with open(path, "w") as f:
                f.write("rules:\n" + CARD_RULE + MARKER_RULE)
            os.kill(s.pid, signal.SIGHUP)
            self.assertTrue(wait_for(lambda: s.last_stats()["ruleset"]["generation"] == 2, 15),
                            s.last_stats()["ruleset"])
            second = lab.post(1, tag="RLD-12345678")
            self.assertTrue(wait_for(lambda: len(s.events("dlp")) >= 3, 15), s.events("dlp"))
            self.assertEqual(s.stop(), 0, s.stderr())
            got = sorted((e["src_port"], e["dlp"]["rule"]) for e in s.events("dlp"))
            final = s.last_stats()
        self.assertEqual(got, sorted([(first[0], "test.card"), (second[0], "test.card"),
                                      (second[0], "test.reload_marker")]))
        self.assertEqual(final["ruleset"]["reloads"], 1)
        self.assertEqual(final["ruleset"]["reload_failures"], 0)


if __name__ == "__main__":
    main()
