"""Integration: alerts to syslog. The real binary sends RFC 5424 messages to a
collector (a UDP socket here; tests/unit/output has a private rsyslogd), with the
alert's fields as structured data and masked values only."""

import re
import socket
import unittest

from sensor import pcap, run


class Syslog(unittest.TestCase):
    def collect(self, *args):
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind(("127.0.0.1", 0))
        srv.settimeout(2.0)
        port = srv.getsockname()[1]
        r = run("-r", pcap("demo.pcap"), "--syslog-remote", "udp://127.0.0.1:%d" % port, *args)
        msgs = []
        try:
            while True:
                msgs.append(srv.recv(65536).decode())
        except socket.timeout:
            pass
        srv.close()
        return r, msgs

    def test_rfc5424_alerts_over_udp(self):
        r, msgs = self.collect()
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(len(msgs), r.stats["alerts"])
        self.assertEqual(r.stats["syslog"]["sent"], len(msgs))
        card = [m for m in msgs if 'rule="pii.credit_card"' in m and '45004' in m]
        self.assertEqual(len(card), 1)
        m = card[0]
        # <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG ; local0 (16) * 8 + err (3)
        self.assertRegex(m, r"^<131>1 2023-11-14T22:13:20\.\d{6}Z \S+ dlpsensor \d+ DLP_ALERT "
                            r"\[dlp@32473 ")
        for k, v in (("rule_id", "1001"), ("severity", "high"), ("count", "1"),
                     ("src", "10.0.0.21"), ("src_port", "45004"), ("dest", "198.51.100.22"),
                     ("dest_port", "80"), ("proto", "TCP")):
            self.assertIn('%s="%s"' % (k, v), m)
        self.assertRegex(m, r'flow_id="\d+"\] pii\.credit_card severity=high 10\.0\.0\.21:45004 '
                            r'-> 198\.51\.100\.22:80 app_proto=HTTP count=1 '
                            r'values=453914\*{6}6467 flow_id=\d+$')
        for raw in ("4539148803436467", "536-22-8417", "jane.doe@example.com"):
            self.assertFalse(any(raw in x for x in msgs), raw)
        # a combination event has no values: it names the linkable rules it found
        (reid,) = [m for m in msgs if 'rule="pii.reidentification_risk"' in m]
        self.assertRegex(reid, r" count=3 rules=pii\.date_of_birth,pii\.postal_code,"
                               r"pii\.gender flow_id=\d+$")

    def test_bad_target_is_a_usage_error(self):
        r = run("-r", pcap("demo.pcap"), "--syslog-remote", "ftp://nowhere")
        self.assertEqual(r.status, 2)
        self.assertTrue(r.stderr.strip())
        self.assertEqual(r.events, [])

    def test_no_collector_never_blocks_and_counts(self):
        # A TCP collector that is not there: the replay finishes, the alerts are counted
        # as dropped (buffered, then given up at exit), none is lost silently.
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = run("-r", pcap("demo.pcap"), "--syslog-remote", "tcp://127.0.0.1:%d" % port)
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(r.stats["syslog"]["sent"], 0)
        self.assertEqual(r.stats["alerts"], 14)  # pcaps/README.md, demo: 14 dlp events
        # the final stats count what the collector never got, and stderr says so
        self.assertEqual(r.stats["syslog"]["dropped"], 14)
        self.assertEqual(r.stats["syslog"]["buffered_bytes"], 0)
        self.assertIn("syslog tcp://127.0.0.1:%d: 14 messages never reached the collector"
                      % port, r.stderr)


if __name__ == "__main__":
    from sensor import main
    main()
