"""Live capture end to end: a real HTTP client in one namespace posts a form with a
card number and an email to a real server in another; the sensor, running in the
client's namespace with two capture threads (a PACKET_FANOUT group of two on the
client's veth end), reports both values masked, the flow, and the interface's
counters in its stats events."""

import unittest

from netlab import (CARD_MASKED, EMAIL_MASKED, Lab, Sensor, main, need_root, wait_for)


@need_root
class Capture(unittest.TestCase):
    def test_http_post_card_and_email(self):
        with Lab() as lab:
            lab.http_server()
            s = Sensor(lab, lab.cns, ["-i", lab.cif, "--capture-threads", "2", "--home-net",
                                      lab.HOME_NET, "--no-syslog"], lab.tmp)
            s.wait_ready()
            ports = lab.post(3)
            self.assertTrue(wait_for(lambda: len(s.events("dlp")) >= 6, 15),
                            s.events("dlp"))
            # the counters a capture thread polls reach a periodic stats event
            self.assertTrue(wait_for(lambda: (s.last_stats().get("interfaces", {})
                                              .get(lab.cif, {}).get("received", 0) > 0), 10),
                            s.last_stats())
            self.assertEqual(s.stop(), 0, s.stderr())
            self.assertIn("2 capture threads in fanout group", s.stderr())
            events = s.events()
        dlp = [e for e in events if e["event_type"] == "dlp"]
        got = sorted((e["src_port"], e["dlp"]["rule"], e["dlp"]["matches"][0]["masked"])
                     for e in dlp)
        want = sorted([(p, "pii.credit_card", CARD_MASKED) for p in ports] +
                      [(p, "pii.email", EMAIL_MASKED) for p in ports])
        self.assertEqual(got, want)
        for e in dlp:
            self.assertEqual((e["src_ip"], e["dest_ip"], e["dest_port"], e["proto"]),
                             (Lab.CLIENT_IP, Lab.SERVER_IP, 8080, "TCP"))
            self.assertEqual(e["app_proto"], "HTTP")
        flows = [e for e in events if e["event_type"] == "flow"]
        self.assertEqual(sorted(e["src_port"] for e in flows), sorted(ports))
        for f in flows:
            self.assertIn(f["flow"]["reason"], ("fin", "shutdown"))
            self.assertEqual(sorted(r["rule"] for r in f["dlp_rules"]),
                             ["pii.credit_card", "pii.email"])
        final = [e for e in events if e["event_type"] == "stats"][-1]
        iface = final["interfaces"][lab.cif]
        self.assertGreater(iface["received"], 0)
        self.assertEqual(iface["kernel_drops"], 0)
        self.assertEqual(final["dropped"], 0)
        self.assertEqual(final["capture"]["received"], iface["received"])
        self.assertGreaterEqual(final["packets"], 3 * 6)   # handshake, request, answer, close
        self.assertEqual(final["alerts"], 6)
        # one entry per capture thread's worker; the IP packets went to them (not ARP)
        self.assertEqual(len(final["workers"]), 2)
        handed = sum(w["packets"] for w in final["workers"])
        self.assertLessEqual(handed, final["packets"])
        self.assertGreaterEqual(handed, 3 * 6)


if __name__ == "__main__":
    main()
