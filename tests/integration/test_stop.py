"""Integration: how a run ends when something around it stalls or stops: a JSON
reader (pipe) that does not read, SIGTERM while the input is a pipe or while a
JSON FIFO waits for its reader, a remote syslog collector that is down at exit.
Timeouts here only bound a failure (a hang); no test asserts a duration."""

import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from sensor import BINARY, CACHE, KEY_FILE, pcap

BASE = [BINARY, "--hmac-key-file", KEY_FILE, "--rules-cache", CACHE]


def small_pipe():
    """A pipe of one page (4 KiB): a few events fill it."""
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    return r, w


def wait_readable(fd, timeout=60):
    """Blocks until fd has data (the sensor is writing); the timeout bounds a failure."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        raise AssertionError("the sensor wrote nothing")


def stop_unread(t, p, rfd, sig=signal.SIGTERM):
    """Signals p while nobody reads its stdout; p must end without a reader."""
    p.send_signal(sig)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        os.close(rfd)
        t.fail("the sensor did not end on SIGTERM while its JSON reader was not reading")
    os.close(rfd)
    err = p.stderr.read()
    p.stderr.close()
    return err


class StalledJsonReader(unittest.TestCase):
    def test_files_sigterm_ends_the_wait_for_the_reader(self):
        # reading files, a slow reader is waited for (the rings wait too), but a stop
        # must not wait for it without end: the grace, then the rest is counted lost
        r, w = small_pipe()
        p = subprocess.Popen(BASE + ["-r", pcap("demo.pcap"), "--no-syslog", "--log-flows",
                                     "--json", "-"],
                             stdout=w, stderr=subprocess.PIPE, text=True)
        os.close(w)
        wait_readable(r)
        time.sleep(0.5)  # lets it fill the pipe: the signal finds it waiting
        err = stop_unread(self, p, r)
        self.assertEqual(p.returncode, 1, err)  # events were lost: said and counted
        self.assertIn("json output: events are being lost", err)
        self.assertRegex(err, r"json output: \d+ events lost in all")

    @unittest.skipUnless(os.geteuid() == 0, "live capture needs root")
    def test_live_stats_go_on_and_sigterm_ends_the_run(self):
        # live, the output thread does not wait for a reader that does not read: the
        # stats cadence goes on (their events are lost meanwhile, and counted), and the
        # ones after the reader comes back are there
        r, w = small_pipe()
        p = subprocess.Popen(BASE + ["-i", "lo", "--no-syslog", "--stats-interval", "1",
                                     "--json", "-", "udp", "port", "47914"],
                             stdout=w, stderr=subprocess.PIPE)
        os.close(w)
        wait_readable(r)
        time.sleep(2.5)  # a stalled reader, several stats intervals
        got = b""
        deadline = time.time() + 30
        stats = []
        while time.time() < deadline:  # the reader is back: stats events come again
            ready, _, _ = select.select([r], [], [], 1)
            if ready:
                got += os.read(r, 65536)
            stats = [json.loads(l) for l in got.split(b"\n")[:-1]
                     if l.startswith(b'{"timestamp"') and l.endswith(b"}") and b'"stats"' in l]
            if any(s["output"]["events_dropped"] > 0 for s in stats):
                break
        self.assertTrue(stats and stats[-1]["output"]["events_dropped"] > 0, got[-2000:])
        err = stop_unread(self, p, r).decode()
        self.assertIn(p.returncode, (0, 1), err)



def wchan_of(pid):
    """The kernel functions the process's threads wait in."""
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/wchan" % (pid, t)) as f:
                out.append(f.read())
        except OSError:
            pass
    return out


def wait_blocked_in(t, p, names, timeout=60):
    """Until a thread of p waits in one of the kernel functions 'names' (the
    timeout bounds a failure)."""
    end = time.time() + timeout
    while time.time() < end:
        if p.poll() is not None:
            t.fail("the sensor ended early: %s" % p.communicate()[1])
        if any(w in names for w in wchan_of(p.pid)):
            return
        time.sleep(0.05)
    t.fail("the sensor never blocked in %s" % (names,))


PIPE_READ = ("pipe_read", "pipe_wait_readable", "anon_pipe_read")


class StopWhileBlocked(unittest.TestCase):
    """SIGTERM interrupting a blocking read or open is the stop asked for: exit 0,
    no read error (exit 2 would keep a systemd unit down: RestartPreventExitStatus=2)."""

    def test_sigterm_while_reading_stdin(self):
        with open(pcap("demo.pcap"), "rb") as f:
            head = f.read(3000)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "ev.json")
            p = subprocess.Popen(BASE + ["-r", "-", "--no-syslog", "--json", out],
                                 stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=False)
            p.stdin.write(head)
            p.stdin.flush()
            wait_blocked_in(self, p, PIPE_READ)  # the reader waits for the rest of it
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=30)
            p.stdin.close()
            err = err.decode()
            self.assertEqual(p.returncode, 0, err)
            self.assertNotIn("Interrupted system call", err)
            with open(out) as f:
                stats = [json.loads(l) for l in f if '"stats"' in l]
        self.assertEqual(stats[-1]["capture"]["read_errors"], 0)
        self.assertGreater(stats[-1]["packets"], 0)

    def test_sigterm_before_the_capture_header(self):
        p = subprocess.Popen(BASE + ["-r", "-", "--no-syslog", "--json", "/dev/null"],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_blocked_in(self, p, PIPE_READ)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("Interrupted system call", err)
        self.assertIn("stopped by a signal before the input was opened", err)

    def test_sigterm_while_a_json_fifo_waits_for_its_reader(self):
        with tempfile.TemporaryDirectory() as tmp:
            fifo = os.path.join(tmp, "ev.fifo")
            os.mkfifo(fifo)
            p = subprocess.Popen(BASE + ["-r", pcap("demo.pcap"), "--no-syslog", "--json", fifo],
                                 stderr=subprocess.PIPE, text=True)
            wait_blocked_in(self, p, ("wait_for_partner", "fifo_open"))
            p.send_signal(signal.SIGTERM)
            _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("a FIFO: waiting for its reader", err)
        self.assertNotIn("Interrupted system call", err)
        self.assertIn("stopped by a signal before the outputs were opened", err)


if __name__ == "__main__":
    from sensor import main
    main()
