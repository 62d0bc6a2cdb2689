"""Shared by the robustness runners: run the real dlpsensor binary on one
capture in its own process and judge the outcome; run many in parallel;
print a summary. Standard library only (runs with /usr/bin/python3).

Pass criteria for one capture (the same for every runner):
  * exit 0: every line of the JSON output is a JSON object with an
    "event_type", and exactly one of them is a "stats" event;
  * exit 2: stderr holds exactly one non-empty line, and it names the file
    (libpcap could not read it);
  * never: another exit status, death by a signal, a sanitizer report on
    stderr, or the per-file timeout.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("DLP_SRC", os.path.abspath(os.path.join(HERE, "..", "..")))
BUILD = os.environ.get("DLP_BUILD", os.path.join(SRC, "build"))
BINARY = os.environ.get("DLP_BINARY", os.path.join(BUILD, "dlpsensor"))
KEY_FILE = os.path.join(HERE, "hmac-test.key")
CACHE = os.path.join(BUILD, "test-rules-cache")

SKIP = 77  # ctest SKIP_RETURN_CODE of these tests
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")
EXCERPT_LINES = 40


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


def sensor_env():
    """The environment of every run: stacks for UBSan, leaks checked by ASan."""
    env = dict(os.environ)
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return env


def command(path, json_path):
    """Every direction inspected (public captures rarely leave an RFC 1918 network) and
    evidence written for every alerted flow, so that decoders, detection and the evidence
    writer all meet the hostile bytes."""
    evidence = os.path.join(os.path.dirname(json_path), "evidence")
    return [BINARY, "-r", path, "--workers", "2", "--log-flows", "--json", json_path,
            "--hmac-key-file", KEY_FILE, "--rules-cache", CACHE,
            "--scan-inbound", "--scan-internal", "--evidence-dir", evidence]


class Result:
    def __init__(self, path, label):
        self.path = path
        self.label = label    # how the summary names the file
        self.status = None    # exit status; -N for signal N; None for a timeout
        self.stderr = ""
        self.wall = 0.0
        self.problems = []    # empty: pass

    @property
    def ok(self):
        return not self.problems


def check_json(res, json_path):
    try:
        with open(json_path, "rb") as f:
            lines = f.read().split(b"\n")
    except OSError as e:
        res.problems.append("exit 0 but no JSON output (%s)" % e)
        return
    if lines and lines[-1] == b"":
        lines.pop()
    else:
        res.problems.append("JSON output does not end with a newline")
    stats = 0
    for n, line in enumerate(lines, 1):
        try:
            ev = json.loads(line.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            res.problems.append("JSON line %d does not parse (%s): %r" % (n, e, line[:200]))
            return
        if not isinstance(ev, dict) or not isinstance(ev.get("event_type"), str):
            res.problems.append("JSON line %d is not an event object: %r" % (n, line[:200]))
            return
        if ev["event_type"] == "stats":
            stats += 1
    if stats != 1:
        res.problems.append("%d stats events, expected exactly 1" % stats)


def judge(res, json_path):
    err = res.stderr
    for mark in SANITIZER_MARKS:
        if mark in err:
            res.problems.append("sanitizer report (%s)" % mark)
            break
    if res.status is None:
        res.problems.append("timeout")
    elif res.status < 0:
        try:
            name = signal.Signals(-res.status).name
        except ValueError:
            name = str(-res.status)
        res.problems.append("killed by signal %s" % name)
    elif res.status == 0:
        check_json(res, json_path)
    elif res.status == 2:
        # one error naming the file; warnings about the same file may come first (a link
        # type the decoder does not read, a truncated record before the bad one)
        lines = [ln for ln in err.splitlines() if ln.strip() and "warning: " not in ln]
        if len(lines) != 1:
            res.problems.append("exit 2 with %d stderr lines but warnings, expected exactly 1"
                                % len(lines))
        elif res.path not in lines[0]:
            res.problems.append("exit 2 but the error line does not name the file")
    else:
        res.problems.append("exit status %d" % res.status)


def run_one(path, label, timeout):
    """Runs the sensor on 'path' (its own process group) and judges it."""
    res = Result(path, label)
    with tempfile.TemporaryDirectory(prefix="dlp-robust-") as tmp:
        out = os.path.join(tmp, "events.json")
        t0 = time.monotonic()
        proc = subprocess.Popen(command(path, out), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=sensor_env(), start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
            res.status = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            res.status = None
        res.wall = time.monotonic() - t0
        res.stderr = err.decode("utf-8", "replace")
        judge(res, out)
    return res


def run_all(items, jobs, timeout, progress_every=250):
    """items: (path, label) pairs. Returns the results in the order given."""
    done = [0]
    lock = threading.Lock()

    def task(item):
        r = run_one(item[0], item[1], timeout)
        with lock:
            done[0] += 1
            if progress_every and done[0] % progress_every == 0:
                print("... %d/%d" % (done[0], len(items)), flush=True)
        return r

    if not items:
        return []
    first = task(items[0])  # alone: a fresh tree compiles the rules into the cache once
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return [first] + list(pool.map(task, items[1:]))


def excerpt(text):
    lines = text.rstrip("\n").splitlines()
    if len(lines) > EXCERPT_LINES:
        lines = lines[:EXCERPT_LINES] + ["    [... %d more lines]" % (len(lines) - EXCERPT_LINES)]
    return "\n".join("    | " + ln for ln in lines)


def summarize(title, results, elapsed, jobs, extra_failures=()):
    """Prints the summary; returns the process exit status (0 all passed, 1 not)."""
    failures = [r for r in results if not r.ok]
    n0 = sum(1 for r in results if r.status == 0)
    n2 = sum(1 for r in results if r.status == 2)
    noisy = sum(1 for r in results if r.status == 0 and r.stderr.strip())
    print("== %s ==" % title)
    print("binary:   %s" % BINARY)
    print("files:    %d   (%d at a time, %.1f s wall)" % (len(results), jobs, elapsed))
    print("exit 0:   %d   (%d of them wrote something on stderr)" % (n0, noisy))
    print("exit 2:   %d   (not a readable capture)" % n2)
    print("failures: %d" % (len(failures) + len(extra_failures)))
    print("slowest:")
    for r in sorted(results, key=lambda x: x.wall, reverse=True)[:5]:
        print("  %7.2f s  exit %s  %s" % (r.wall, r.status, r.label))
    for msg in extra_failures:
        print("FAIL %s" % msg)
    for r in failures:
        print("FAIL %s: %s" % (r.label, "; ".join(r.problems)))
        print("  reproduce: %s" % " ".join(command(r.path, "/tmp/events.json")))
        if r.stderr.strip():
            print(excerpt(r.stderr))
    sys.stdout.flush()
    return 1 if failures or extra_failures else 0


def require_binary():
    if not os.access(BINARY, os.X_OK):
        print("robustness: sensor binary %s not found (set DLP_BINARY)" % BINARY)
        sys.exit(1)
