"""Helpers for integration tests: run the real dlpsensor binary, parse its
JSON-lines events. Standard library only (runs with /usr/bin/python3)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("DLP_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILD = os.environ.get("DLP_BUILD", os.path.join(SRC, "build"))
BINARY = os.environ.get("DLP_BINARY", os.path.join(BUILD, "dlpsensor"))
PCAPS = os.path.join(SRC, "pcaps")
PUBLIC = os.environ.get("DLP_PUBLIC_PCAPS",
                        os.path.abspath(os.path.join(SRC, "..", "shared", "pcaps-public")))


class Run:
    """The outcome of one run: exit status, stderr, events by type."""

    def __init__(self, proc, events):
        self.status = proc.returncode
        self.stderr = proc.stderr
        self.events = events

    def of(self, event_type):
        return [e for e in self.events if e.get("event_type") == event_type]

    @property
    def stats(self):
        s = self.of("stats")
        if not s:
            raise AssertionError("no stats event; stderr:\n" + self.stderr)
        return s[-1]


def pcap(name):
    return os.path.join(PCAPS, name)


KEY_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hmac-test.key")
CACHE = os.path.join(BUILD, "test-rules-cache")


def run(*args, timeout=300, env=None, key=True):
    """Runs dlpsensor with args plus --json to a temp file (and, unless told
    otherwise, the test HMAC key and a rules cache in the build tree)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "events.json")
        cmd = [BINARY, "--json", out, "--rules-cache", CACHE]
        if key:
            cmd += ["--hmac-key-file", KEY_FILE]
        cmd += [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        events = []
        if os.path.exists(out):
            with open(out) as f:
                for n, line in enumerate(f, 1):
                    try:
                        events.append(json.loads(line))
                    except ValueError as e:
                        raise AssertionError("event line %d is not JSON (%s): %r" % (n, e, line))
        return Run(proc, events)


def canonical(events, drop=("timestamp",)):
    """Events as comparable strings, order-independent (for worker-count checks)."""
    out = []
    for e in events:
        e = dict(e)
        for k in drop:
            e.pop(k, None)
        out.append(json.dumps(e, sort_keys=True))
    return sorted(out)


def main():
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:], verbosity=2)
