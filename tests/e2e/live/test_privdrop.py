"""Least privilege, live: started as root with -u nobody, the sensor has opened its
capture handles (two capture threads) and its outputs, then given up root before
starting any thread: the process and every one of its threads run as uid/gid 65534
with no capability, capture goes on (an alert arrives), and its evidence capture is
written (the directory given to nobody). An evidence directory nobody cannot write
is refused at start. The rules cache directory the sensor makes is given to nobody
with the compiled rules in it, and a SIGHUP reload, as nobody, loads them from it;
a cache nobody cannot write is said once at start, and reloads compile without it
(no warning at each)."""

import os
import pwd
import signal
import unittest

from netlab import CARD_MASKED, Lab, Sensor, main, need_root, wait_for


def cache_files(cache):
    """{name: (inode, uid)} of the compiled rules in the cache."""
    return {f: (os.stat(os.path.join(cache, f)).st_ino, os.stat(os.path.join(cache, f)).st_uid)
            for f in os.listdir(cache)}


def reload_once(s):
    os.kill(s.pid, signal.SIGHUP)
    return wait_for(lambda: (s.last_stats() or {}).get("ruleset", {}).get("reloads") == 1, 60)


def root_dir(lab, name):
    """A directory of root's (mode 0700) under the lab's: nobody cannot write it."""
    d = os.path.join(lab.tmp, name)
    os.mkdir(d, 0o700)
    return d


def status_fields(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


@need_root
class PrivDrop(unittest.TestCase):
    def nobody(self):
        """The user nobody's entry, or the test is skipped."""
        try:
            return pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")

    def test_user_nobody_every_thread(self):
        nobody = self.nobody()
        uid, gid = str(nobody.pw_uid), str(nobody.pw_gid)
        with Lab() as lab:
            lab.http_server()
            # made by the sensor as root, given to nobody: the writer thread can fill it
            ev = os.path.join(lab.tmp, "evidence")
            # the same for the rules cache; nobody must reach it after the drop
            cache = os.path.join(lab.tmp, "rules-cache")
            os.chmod(lab.tmp, 0o711)
            s = Sensor(lab, lab.cns, ["-i", lab.cif, "--capture-threads", "2", "-u", "nobody",
                                      "--home-net", lab.HOME_NET, "--no-syslog",
                                      "--evidence-dir", ev, "--rules-cache", cache], lab.tmp)
            s.wait_ready()
            self.assertEqual(os.stat(cache).st_uid, nobody.pw_uid)
            compiled = cache_files(cache)
            self.assertTrue(compiled and all(u == nobody.pw_uid for _, u in compiled.values()),
                            compiled)
            tasks = os.listdir("/proc/%d/task" % s.pid)
            names = set()
            # main, output, control and two capture threads
            self.assertGreaterEqual(len(tasks), 5, tasks)
            for t in [None] + tasks:
                path = "/proc/%d/status" % s.pid if t is None else \
                    "/proc/%d/task/%s/status" % (s.pid, t)
                st = status_fields(path)
                names.add(st["Name"][0])
                self.assertEqual(st["Uid"], [uid] * 4, (t, st["Uid"]))
                self.assertEqual(st["Gid"], [gid] * 4, (t, st["Gid"]))
                self.assertEqual(st["Groups"], [gid] if st["Groups"] else [], st["Groups"])
                for cap in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
                    self.assertEqual(int(st[cap][0], 16), 0, (t, cap, st[cap]))
            self.assertTrue({"dlp-capture0", "dlp-capture1"} <= names, names)
            lab.post(1)
            self.assertTrue(wait_for(lambda: any(
                e["dlp"]["rule"] == "pii.credit_card" and
                e["dlp"]["matches"][0]["masked"] == CARD_MASKED for e in s.events("dlp")), 15),
                s.events())
            # a reload as nobody finds the rules in the cache: the file is not rewritten
            self.assertTrue(reload_once(s), s.stderr())
            self.assertEqual(cache_files(cache), compiled)
            self.assertEqual(s.stop(), 0, s.stderr())
            self.assertNotIn("cache", s.stderr())
            final = s.last_stats()
            files = os.listdir(ev)
            self.assertEqual(os.stat(ev).st_uid, nobody.pw_uid)
            # the writer thread, started after the drop, ran as nobody too
            self.assertTrue(files and all(os.stat(os.path.join(ev, f)).st_uid == nobody.pw_uid
                                          for f in files), files)
        self.assertGreater(final["interfaces"][lab.cif]["received"], 0)
        self.assertEqual(final["evidence"]["write_errors"], 0)
        self.assertEqual(final["evidence"]["files"], len(files))

    def test_existing_evidence_dir_not_writable_refused(self):
        self.nobody()
        with Lab() as lab:
            ev = root_dir(lab, "root-evidence")
            s = Sensor(lab, lab.cns, ["-i", lab.cif, "-u", "nobody", "--home-net", lab.HOME_NET,
                                      "--no-syslog", "--evidence-dir", ev], lab.tmp)
            self.assertEqual(s.proc.wait(timeout=20), 2, s.stderr())
            self.assertIn("evidence directory %s: not writable by nobody" % ev, s.stderr())

    def test_cache_nobody_cannot_write_said_once(self):
        self.nobody()
        with Lab() as lab:
            cache = root_dir(lab, "root-cache")  # not made by the sensor: left as it is
            os.chmod(lab.tmp, 0o711)
            s = Sensor(lab, lab.cns, ["-i", lab.cif, "-u", "nobody", "--home-net", lab.HOME_NET,
                                      "--no-syslog", "--rules-cache", cache], lab.tmp)
            s.wait_ready()
            self.assertIn("rules cache %s: not usable by nobody (Permission denied): reloads "
                          "compile without it" % cache, s.stderr())
            self.assertTrue(reload_once(s), s.stderr())
            self.assertEqual(s.stop(), 0, s.stderr())
            self.assertNotIn("matcher cache", s.stderr())
            self.assertEqual(s.stderr().count("rules cache"), 1, s.stderr())
            self.assertEqual(os.stat(cache).st_uid, 0)


if __name__ == "__main__":
    main()
