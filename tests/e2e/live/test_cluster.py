"""--cluster-id: two sensor processes given the same id on the same interface join
the same fanout group and share the traffic: each sees a part of the flows, together
all of them, and no flow is seen by both. By flow (--fanout-mode hash, one address
pair, three members: one process with one capture thread, one with two) and by
address pair (ippair, 24 client addresses, one member each)."""

import unittest

from netlab import Lab, Sensor, main, need_root, wait_for

CLUSTER = 4242


@need_root
class Cluster(unittest.TestCase):
    def share(self, mode, threads, flows, naddrs=0):
        with Lab() as lab:
            lab.http_server()
            sources = lab.add_client_addresses(naddrs) if naddrs else ()
            sensors = [Sensor(lab, lab.cns, ["-i", lab.cif, "--capture-threads", t,
                                             "--cluster-id", CLUSTER, "--fanout-mode", mode,
                                             "--home-net", lab.HOME_NET, "--no-syslog"],
                              lab.tmp, name="sensor%d" % i)
                       for i, t in enumerate(threads)]
            for s in sensors:
                s.wait_ready()
            conns = set(lab.post(flows, sources=sources, endpoints=True))
            self.assertEqual(len(conns), flows)

            def seen():
                return [{(e["src_ip"], e["src_port"]) for e in s.events("dlp")} for s in sensors]
            wait_for(lambda: sum(len(x) for x in seen()) >= flows, 15)
            for s in sensors:
                self.assertEqual(s.stop(), 0, s.stderr())
                self.assertIn("in fanout group %d (%s)" % (CLUSTER, mode), s.stderr())
            parts = seen()
            flow_parts = [{(e["src_ip"], e["src_port"]) for e in s.events("flow")}
                          for s in sensors]
        self.assertEqual(flow_parts, parts)
        a, b = parts
        self.assertTrue(a and b, (a, b))
        self.assertEqual(a & b, set())
        self.assertEqual(a | b, conns)
        return parts

    def test_hash_three_members_two_processes(self):
        self.share("hash", [1, 2], 40)

    def test_ippair_keeps_address_pairs_together(self):
        parts = self.share("ippair", [1, 1], 48, naddrs=24)
        addrs = [{ip for ip, _ in p} for p in parts]
        self.assertEqual(addrs[0] & addrs[1], set())
        self.assertEqual(len(addrs[0] | addrs[1]), 24)


if __name__ == "__main__":
    main()
