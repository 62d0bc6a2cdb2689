"""Integration: `dlpsensor rules check|test`, the rule tuner's tools (include/dlp/rulescmd.h,
rules/README.md "Tuning walkthrough"). The real binary: check on the shipped pack and on one
broken file per error kind (exact lines, exit 2), the lints (exact lines, --strict), test
--text (exact tables and JSON lines, from stdin and from a file, masked values only), test -r
on pcaps/ (exact per-rule counters, through the real sensor pipeline), and the bounds."""

import hashlib
import hmac
import json
import os
import re
import subprocess
import tempfile
import unittest

from sensor import BINARY, BUILD, KEY_FILE, SRC, main, pcap

CACHE = os.path.join(BUILD, "test-rules-cache")
SUMMARY = re.compile(r"^(\d+) rules?, (\d+) examples?, (\d+) errors?, (\d+) warnings?, "
                     r"(compiled in \d+ ms|not compiled), digest ([0-9a-f]{64})$")


def rules(*args, stdin=None, cwd=None, timeout=600):
    return subprocess.run([BINARY, "rules"] + [str(a) for a in args], input=stdin,
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)


def key():
    with open(KEY_FILE, "rb") as f:
        k = f.read()
    return k[:-1] if k.endswith(b"\n") else k


def hmac32(norm):
    return hmac.new(key(), norm.encode(), hashlib.sha256).hexdigest()[:32]


def write(d, name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def digest(*paths):
    """The rule set's digest: SHA-256 of the files' bytes, in load order."""
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def rule(rid, name, extra="", patterns="['\\bACME-[0-9]{8}\\b']"):
    return ("  - id: %d\n    name: %s\n    description: test rule\n    category: linked\n"
            "    severity: low\n    patterns: %s\n%s" % (rid, name, patterns, extra))


# One file per error kind: (file, content, exact lines before the summary). Each file has its
# own ids and names, so the whole directory loads with only these errors.
BROKEN = [
    ("a-syntax.yaml", "rules:\n  - id: 100001\n    name: acme.syntax\n\tdescription: tab\n",
     ["a-syntax.yaml:4: YAML error: found a tab character that violates indentation"]),
    ("b-unknown-key.yaml", "rules:\n" + rule(100002, "acme.unknown", "    treshold: 2\n"),
     ["b-unknown-key.yaml:8: rule acme.unknown: unknown key 'treshold'"]),
    ("c-wrong-type.yaml", "rules:\n" + rule(100003, "acme.type", "    threshold: two\n"),
     ["c-wrong-type.yaml:8: rule acme.type: threshold: expected an integer from 1 to 1000, "
      "got 'two'"]),
    ("d-duplicate-id.yaml", "rules:\n" + rule(100004, "acme.dup_a") + rule(100004, "acme.dup_b"),
     ["d-duplicate-id.yaml:8: rule acme.dup_b: duplicate id 100004 (first used at "
      "d-duplicate-id.yaml:2)"]),
    ("e-duplicate-name.yaml",
     "rules:\n" + rule(100005, "acme.dup_name") + rule(100006, "acme.dup_name"),
     ["e-duplicate-name.yaml:9: rule acme.dup_name: duplicate name (first used at "
      "e-duplicate-name.yaml:3)"]),
    ("f-validator.yaml", "rules:\n" + rule(100007, "acme.validator", "    validator: crc\n"),
     ["f-validator.yaml:8: rule acme.validator: validator: unknown validator 'crc' (known: "
      "none, luhn, us_ssn, iban, email, aadhaar, uk_nino, phone)"]),
    ("g-window.yaml",
     "rules:\n" + rule(100008, "acme.window", "    context:\n      words: [badge]\n"
                                              "      window: 500\n"),
     ["g-window.yaml:10: rule acme.window: context: window: expected an integer from 1 to "
      "128, got '500'"]),
    ("g2-mask-clear.yaml", "rules:\n" + rule(100012, "acme.clear", "    mask: clear\n"),
     ["g2-mask-clear.yaml:8: rule acme.clear: mask 'clear' would put raw values in events, "
      "which the sensor never does; use number (the first 6 and last 4 characters) or prefix4 "
      "(the first 4)"]),
    ("h-combination.yaml",
     "rules:\n  - id: 100009\n    name: acme.risk\n    description: test rule\n"
     "    category: linkable\n    severity: high\n    combination:\n      min_weight: 2\n"
     "      rules: [acme.dob, acme.zip]\n",
     ["h-combination.yaml:9: rule acme.risk: combination: no such rule 'acme.dob'",
      "h-combination.yaml:9: rule acme.risk: combination: no such rule 'acme.zip'"]),
]

# Errors found after loading: the set loads, so each file is checked alone.
EXAMPLE_EXTRA = ("    normalize: digits\n    mask: last4\n    examples:\n"
                 "      match: ['badge ACME-12345678', 'ACME-1234567']\n"
                 "      no_match: ['ACME-1234', 'id ACME-87654321 here']\n")
AFTER_LOAD = [
    ("i-hyperscan.yaml",
     "rules:\n" + rule(100010, "acme.hs", "", "\n      - '\\bACME-[0-9]{8}\\b'\n"
                                              "      - 'ACME-(?<=x)[0-9]{8}'\n"),
     ["i-hyperscan.yaml:9: rule acme.hs: pattern 2: Zero-width assertions are not supported.",
      "i-hyperscan.yaml:2: rule acme.hs: warning: no examples (at least 8 match and 8 "
      "no_match recommended)"],
     "1 rule, 0 examples, 1 error, 1 warning, not compiled"),
    ("j-examples.yaml", "rules:\n" + rule(100011, "acme.examples", EXAMPLE_EXTRA),
     ["j-examples.yaml:11: rule acme.examples: match example 2 does not fire: "
      "no pattern matches it",
      "j-examples.yaml:12: rule acme.examples: no_match example 2 fires: 1 value (****4321)",
      "j-examples.yaml:2: rule acme.examples: warning: only 2 match examples (at least 8 "
      "recommended)",
      "j-examples.yaml:2: rule acme.examples: warning: only 2 no_match examples (at least 8 "
      "recommended)"],
     None),
]


class Check(unittest.TestCase):
    def test_shipped_rules_pass(self):
        # --strict too: the shipped pack gives no warning, so a site's own rules
        # added to it can be held to warnings-as-errors
        for args in ([], [os.path.join(SRC, "rules")], ["--strict"]):
            p = rules("check", *args)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            lines = p.stdout.splitlines()
            m = SUMMARY.match(lines[-1])
            self.assertIsNotNone(m, lines[-1])
            self.assertGreaterEqual(int(m.group(1)), 6)
            self.assertGreater(int(m.group(2)), 0)
            self.assertEqual(int(m.group(3)), 0)
            self.assertTrue(m.group(5).startswith("compiled in"))
            shipped = os.path.join(SRC, "rules")
            self.assertEqual(m.group(6), digest(*[os.path.join(shipped, f) for f in
                                                  sorted(os.listdir(shipped))
                                                  if f.endswith(".yaml")]))
            # anything else is a warning in the loader's line format
            for line in lines[:-1]:
                self.assertRegex(line, r"^/.+\.yaml:\d+: rule [a-z0-9_.]+: warning: ")
            self.assertEqual(len(lines) - 1, int(m.group(4)))
            strict = rules("check", "--strict", *args)
            self.assertEqual(strict.returncode, 2 if int(m.group(4)) > 0 else 0)
            self.assertEqual(strict.stdout.splitlines()[:-1], lines[:-1])

    def test_digest_same_in_check_and_minus_t(self):
        # which rules a sensor runs: -T says it as rules check does
        shipped = os.path.join(SRC, "rules")
        files = [os.path.join(shipped, f) for f in sorted(os.listdir(shipped))
                 if f.endswith(".yaml")]
        t = subprocess.run([BINARY, "-T", "-R", shipped], capture_output=True, text=True)
        self.assertEqual(t.returncode, 0, t.stderr)
        self.assertIn("dlpsensor: rules digest %s (SHA-256 of %d files in load order)\n"
                      % (digest(*files), len(files)), t.stdout)

    def test_keyed_lists_without_the_key(self):
        # an edm: list the sensor refuses without --hmac-key-file, and allow: hmacs that
        # never match without it: warnings of rules check, gone with the key file
        local = ("overrides:\n  - name: pii.credit_card\n    edm:\n"
                 "      hmacs: ['6b4d70a0c639109e85a814711300c4da']\n"
                 "  - name: pii.iban\n    allow:\n"
                 "      hmacs: ['6b4d70a0c639109e85a814711300c4da']\n"
                 "allow:\n  hmacs: ['00112233445566778899aabbccddeeff']\n")
        shipped = os.path.join(SRC, "rules")
        want = ["local.yaml:3: rule pii.credit_card: warning: edm: the sensor refuses this set "
                "without --hmac-key-file (the hashes are keyed; give rules check the key file "
                "too)",
                "local.yaml:8: warning: allow: hmacs never match without --hmac-key-file (the key "
                "is random per run)",
                "local.yaml:6: rule pii.iban: warning: allow: hmacs never match without "
                "--hmac-key-file (the key is random per run)"]
        with tempfile.TemporaryDirectory() as d:
            write(d, "local.yaml", local)
            p = rules("check", shipped, "local.yaml", cwd=d)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertEqual(p.stdout.splitlines()[:-1], want)
            self.assertEqual(rules("check", "--strict", shipped, "local.yaml", cwd=d).returncode, 2)
            p = rules("check", "--hmac-key-file", KEY_FILE, "--strict", shipped, "local.yaml",
                      cwd=d)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertEqual(len(p.stdout.splitlines()), 1, p.stdout)
            p = rules("check", "--hmac-key-file", "missing.key", shipped, cwd=d)
            self.assertEqual(p.returncode, 2)
            # the sensor: allow: hmacs without the key is a warning at -T (and at start, reload)
            write(d, "allow.yaml", local.replace("edm", "allow"))
            t = subprocess.run([BINARY, "-T", "-R", shipped, "-R", "allow.yaml"],
                               capture_output=True, text=True, cwd=d)
            self.assertEqual(t.returncode, 0, t.stderr)
            self.assertIn("allow.yaml:3: rule pii.credit_card: allow: hmacs never match without "
                          "--hmac-key-file (the key is random per run)", t.stderr)
            self.assertIn("allow.yaml:8: allow: hmacs never match", t.stderr)
            t = subprocess.run([BINARY, "-T", "-R", shipped, "-R", "allow.yaml",
                                "--hmac-key-file", KEY_FILE], capture_output=True, text=True,
                               cwd=d)
            self.assertEqual(t.returncode, 0, t.stderr)
            self.assertNotIn("never match", t.stderr)

    def test_override_examples_replace_the_shipped_ones(self):
        # a site that narrows a rule on purpose gives its own cases: rules check passes again,
        # and a failing one is named at its line in the override's file
        narrow = ("overrides:\n  - name: pii.phone\n    context:\n"
                  "      words: [phone, tel, call]\n      required: true\n")
        examples = ("    examples:\n      match:\n        - 'call +1 720 863 4100'\n"
                    "        - 'tel: +44 7700 900123'\n      no_match:\n"
                    "        - 'Kontakt +49 30 901820'\n")
        shipped = os.path.join(SRC, "rules")
        with tempfile.TemporaryDirectory() as d:
            write(d, "narrow.yaml", narrow)
            p = rules("check", shipped, "narrow.yaml", cwd=d)
            self.assertEqual(p.returncode, 2, p.stdout)
            write(d, "local.yaml", narrow + examples)
            p = rules("check", shipped, "local.yaml", cwd=d)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertEqual(p.stdout.splitlines()[:-1], [
                "local.yaml:6: rule pii.phone: warning: only 2 match examples (at least 8 "
                "recommended)",
                "local.yaml:6: rule pii.phone: warning: only 1 no_match example (at least 8 "
                "recommended)"])
            write(d, "bad.yaml", narrow + examples.replace("'call +1", "'+1"))
            p = rules("check", shipped, "bad.yaml", cwd=d)
            self.assertEqual(p.returncode, 2, p.stdout)
            self.assertIn("bad.yaml:8: rule pii.phone: match example 1 does not fire: 1 "
                          "candidate: 1 without a required context word (context at "
                          "bad.yaml:3)", p.stdout)

    def test_broken_files_one_per_error_kind(self):
        with tempfile.TemporaryDirectory() as d:
            for name, text, want in BROKEN:
                write(d, name, text)
                p = rules("check", name, cwd=d)
                self.assertEqual(p.returncode, 2, name)
                self.assertEqual(p.stdout.splitlines(),
                                 want + ["0 rules, 0 examples, %d error%s, 0 warnings, not compiled"
                                         % (len(want), "" if len(want) == 1 else "s")], name)
            # the whole directory: every loader error, the cross-file ones last
            p = rules("check", ".", cwd=d)
            self.assertEqual(p.returncode, 2)
            want = [l.replace(n, "./" + n) for n, _, w in BROKEN for l in w]
            self.assertEqual(p.stdout.splitlines(),
                             want + ["0 rules, 0 examples, %d errors, 0 warnings, not compiled"
                                     % len(want)])

    def test_errors_after_loading(self):
        with tempfile.TemporaryDirectory() as d:
            for name, text, want, summary in AFTER_LOAD:
                write(d, name, text)
                p = rules("check", name, cwd=d)
                self.assertEqual(p.returncode, 2, name)
                lines = p.stdout.splitlines()
                self.assertEqual(lines[:-1], want, name)
                if summary is not None:
                    self.assertEqual(lines[-1], summary + ", digest " +
                                     digest(os.path.join(d, name)))
                else:
                    self.assertRegex(lines[-1], r"^1 rule, 4 examples, 2 errors, 2 warnings, "
                                                r"compiled in \d+ ms, digest %s$"
                                     % digest(os.path.join(d, name)))

    def test_bad_rules_of_two_stages_skipped_others_run(self):
        # The matcher stops at its first failing stage: acme.lookbehind is named (the only
        # error shown), acme.som (too large with start of match) only once it is dropped.
        # Both are left out, and the examples of the two good rules still run.
        som = ("'\\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,4}"
               "\\.[A-Za-z]{2,24}\\b'")
        text = ("rules:\n" +
                rule(100030, "acme.good", "    examples:\n      match: ['badge ACME-12345678']\n"
                     "      no_match: ['ACME-1234', 'id ACME-87654321 here']\n") +
                rule(100031, "acme.lookbehind", "    examples:\n      match: ['ACME-12345678']\n",
                     "['ACME-(?<=x)[0-9]{8}']") +
                rule(100032, "acme.som", "    examples:\n      match: ['mail a@b.example']\n"
                     "      no_match: ['no mail']\n", "[%s]" % som) +
                rule(100033, "acme.other", "    examples:\n      match: ['ZED-123456']\n"
                     "      no_match: ['ZED-12345']\n", "['\\bZED-[0-9]{6}\\b']"))
        with tempfile.TemporaryDirectory() as d:
            write(d, "multi.yaml", text)
            p = rules("check", "multi.yaml", cwd=d)
            self.assertEqual(p.returncode, 2)
            lines = p.stdout.splitlines()
            self.assertEqual(lines[:2], [
                "multi.yaml:16: rule acme.lookbehind: pattern 1: Zero-width assertions are not "
                "supported.",
                "multi.yaml:10: rule acme.good: no_match example 2 fires: 1 value (ACME*********)"])
            self.assertNotIn("acme.som: pattern", p.stdout)
            self.assertEqual(lines[-1], "4 rules, 5 examples, 2 errors, 8 warnings, not compiled, "
                                        "digest " + digest(os.path.join(d, "multi.yaml")))

    def test_example_suppressed_by_an_override_names_the_cause(self):
        with tempfile.TemporaryDirectory() as d:
            write(d, "badge.yaml", "rules:\n" + rule(100020, "acme.badge", (
                "    normalize: digits\n    mask: last4\n    examples:\n"
                "      match: ['badge ACME-12345678', 'ACME-87654321']\n"
                "      no_match: ['ACME-1234']\n")))
            write(d, "local.yaml", "overrides:\n  - name: acme.badge\n    context:\n"
                                   "      words: [badge]\n      required: true\n")
            p = rules("check", "badge.yaml", "local.yaml", cwd=d)
            self.assertEqual(p.returncode, 2)
            self.assertEqual(p.stdout.splitlines()[0],
                             "badge.yaml:11: rule acme.badge: match example 2 does not fire: "
                             "1 candidate: 1 without a required context word "
                             "(context at local.yaml:3)")
            # an example is named by its line, never quoted (it may be a real value)
            self.assertNotIn("87654321", p.stdout + p.stderr)


LINT = ("rules:\n" + rule(100101, "acme.badge", (
    "    normalize: digits\n    mask: last4\n"
    "    context:\n      words: [badge, licen]\n"
    "    examples:\n      match: [" + ", ".join("'badge ACME-1234567%d'" % i for i in range(8)) +
    "]\n      no_match: [" + ", ".join("'ACME-%d'" % (1000 + i) for i in range(8)) + "]\n")) +
    rule(100102, "acme.code", (
        "    examples:\n      match: ['code Q7', 'ACME-87654321 Q1']\n"
        "      no_match: ['Q77']\n"), "['\\bQ[0-9]\\b', '\\bACME-[0-9]{8}\\b']"))

LINT_LINES = [
    "lint.yaml:11: rule acme.badge: warning: context word 'licen' is part of the common word "
    "'license': words are matched whole, so 'license' does not count (a tuning hint)",
    "lint.yaml:20: rule acme.code: warning: pattern 1 can match as few as 2 bytes: a match that "
    "short fires on almost any traffic",
    "lint.yaml:15: rule acme.code: warning: only 2 match examples (at least 8 recommended)",
    "lint.yaml:15: rule acme.code: warning: only 1 no_match example (at least 8 recommended)",
    "lint.yaml:20: rule acme.code: warning: pattern 2 is identical to pattern 1 of rule "
    "acme.badge (lint.yaml:7)",
    "lint.yaml:15: rule acme.code: warning: overlaps rule acme.badge (lint.yaml:2): its match "
    "example 2 also fires acme.badge, and match example 1 of acme.badge fires this rule "
    "(judged from the examples only)",
]


class ProtocolNames(unittest.TestCase):
    """A protocols: name no flow is ever named (nDPI's names, alone or MASTER.APP) would
    filter out every value of the rule: refused by rules check and the sensor alike."""

    def test_unknown_names_refused_at_their_line(self):
        local = ("rules:\n" + rule(100020, "acme.proto", "    protocols:\n      - HTTP\n"
                                                        "      - TLS.Gogle\n      - '.'\n")
                 + "overrides:\n  - name: pii.credit_card\n    protocols: [SMTP, HTPP]\n")
        # in the order of the rules (the shipped ones first)
        want = ["local.yaml:14: override pii.credit_card: protocols: unknown protocol 'HTPP': no "
                "flow is named so (did you mean HTTP?)",
                "local.yaml:10: rule acme.proto: protocols: unknown protocol 'TLS.Gogle': no "
                "flow is named so (did you mean TLS.Google?)",
                "local.yaml:11: rule acme.proto: protocols: unknown protocol '.': no flow is "
                "named so (names are nDPI's: HTTP, SMTP, DNS, TLS, FTP_DATA...)"]
        with tempfile.TemporaryDirectory() as d:
            write(d, "local.yaml", local)
            p = rules("check", os.path.join(SRC, "rules"), "local.yaml", cwd=d)
            self.assertEqual(p.returncode, 2)
            self.assertEqual(p.stdout.splitlines(),
                             want + ["0 rules, 0 examples, 3 errors, 0 warnings, not compiled"])
            t = subprocess.run([BINARY, "-T", "-R", os.path.join(SRC, "rules"), "-R",
                                "local.yaml"], capture_output=True, text=True, cwd=d)
            self.assertEqual(t.returncode, 2)
            self.assertEqual(t.stderr.splitlines(), ["dlpsensor: " + w for w in want])

    def test_known_names_in_any_writing(self):
        # every name the sensor itself gives a flow: its decoders', nDPI's alone and as
        # MASTER.APP, and nDPI's one name with a dot in it (Z39.50)
        local = "overrides:\n  - name: pii.credit_card\n    protocols: [http, FTP-DATA, " \
                "tls.google, Unknown, FTP_CONTROL, HTTP_Connect, SOCKS, " \
                "TLS.YouTube, DNS.Google, SMTP, DNS, Z39.50, TLS.Z39.50]\n"
        with tempfile.TemporaryDirectory() as d:
            write(d, "local.yaml", local)
            p = rules("check", os.path.join(SRC, "rules"), "local.yaml", cwd=d)
            self.assertEqual(p.returncode, 0, p.stdout)


class Lint(unittest.TestCase):
    def test_warnings_exact_and_strict(self):
        with tempfile.TemporaryDirectory() as d:
            write(d, "lint.yaml", LINT)
            p = rules("check", "lint.yaml", cwd=d)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            lines = p.stdout.splitlines()
            self.assertEqual(lines[:-1], LINT_LINES)
            self.assertRegex(lines[-1], r"^2 rules, 19 examples, 0 errors, 6 warnings, "
                                        r"compiled in \d+ ms, digest %s$"
                             % digest(os.path.join(d, "lint.yaml")))
            p = rules("check", "--strict", "lint.yaml", cwd=d)
            self.assertEqual(p.returncode, 2)
            self.assertEqual(p.stdout.splitlines()[:-1], LINT_LINES)


TEXT_RULES = r"""rules:
  - id: 100201
    name: acme.card
    description: Visa numbers for the rules tool test.
    category: linked
    severity: high
    patterns: ['\b4[0-9]{3}(?:[ -]?[0-9]{4}){3}\b']
    validator: luhn
    context:
      words: [card]
    exclude_context:
      words: [sample]
      window: 16
    allow:
      values: ['4526 0181 5908 3012']
  - id: 100202
    name: acme.ssn
    description: SSNs next to the word ssn, in HTTP bodies.
    category: linked
    severity: high
    patterns: ['\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b']
    validator: us_ssn
    context:
      words: [ssn]
      required: true
    fields: [http.body]
"""

TEXT = ("order 1: card 4539 1488 0343 6467 exp 12/27\n"
        "order 2: 4716301661318609\n"
        "ref 4526018159083012, 4111 1111 1111 1111\n"
        "sample 4929421333281119\n"
        "ssn 536-22-8417\n" + "." * 70 + " id 536-22-8418\n"
        "bad 4539148803436468\n")

RAW = ["4539 1488 0343 6467", "4539148803436467", "4716301661318609", "4526018159083012",
       "4929421333281119", "536-22-8417", "536228417", "536-22-8418", "4539148803436468"]

TEXT_TABLE = """\
OFFSET  LINE:COL  RULE       VALUE             CONFIDENCE  FIELD
14      1:15      acme.card  453914******6467  high        raw
53      2:10      acme.card  471630******8609  high        raw
140     5:5       acme.ssn   *****8417         high        raw

suppressed (counted, not reported):
OFFSET  LINE:COL  RULE       VALUE             REASON            FIELD
74      3:5       acme.card  452601******3012  allowed           raw
92      3:23      acme.card  411111******1111  test_value        raw
119     4:8       acme.card  492942******1119  context_excluded  raw
226     6:75      acme.ssn   *****8418         context_missing   raw

counters:
RULE       CANDIDATES  REJECTED  FILTERED  CONTEXT  ALLOWED  TEST_VALUES  VALUES  ALERTS
acme.card  6           1         0         1        1        1            2       1
acme.ssn   2           0         0         1        0        0            1       1

3 values reported, 4 suppressed, 1 candidate rejected by validators
"""


class Text(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        write(self.d, "r.yaml", TEXT_RULES)
        write(self.d, "t.txt", TEXT)

    def tearDown(self):
        self.tmp.cleanup()

    def run_text(self, *args, stdin=None):
        p = rules("test", "r.yaml", "--rules-cache", CACHE, *args, stdin=stdin, cwd=self.d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, "")
        for raw in RAW:
            self.assertNotIn(raw, p.stdout)
        return p.stdout

    def test_values_below_the_threshold_are_said_to_raise_no_event(self):
        write(self.d, "t2.yaml", "overrides:\n  - name: acme.ssn\n    threshold: 3\n")
        p = rules("test", "r.yaml", "t2.yaml", "--rules-cache", CACHE, "--text", "t.txt",
                  cwd=self.d)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("note: acme.ssn: 1 value, below its threshold of 3: no dlp event would "
                      "be raised\n", p.stdout)
        self.assertNotIn("note: acme.card", p.stdout)
        p = rules("test", "r.yaml", "t2.yaml", "--rules-cache", CACHE, "--text", "t.txt",
                  "--json", cwd=self.d)
        objs = {o["rule"]: o for o in map(json.loads, p.stdout.splitlines())
                if o["kind"] == "rule"}
        self.assertEqual((objs["acme.ssn"]["threshold"], objs["acme.ssn"]["below_threshold"]),
                         (3, True))
        self.assertEqual((objs["acme.card"]["threshold"], objs["acme.card"]["below_threshold"]),
                         (1, False))

    def test_table_from_file_and_stdin(self):
        self.assertEqual(self.run_text("--text", "t.txt"), TEXT_TABLE)
        self.assertEqual(self.run_text("--text", "-", stdin=TEXT), TEXT_TABLE)

    def test_offsets_are_the_values_own(self):
        for off, raw in ((14, "4539 1488 0343 6467"), (53, "4716301661318609"),
                         (140, "536-22-8417"), (74, "4526018159083012"), (119, "4929421333281119"),
                         (226, "536-22-8418")):
            self.assertEqual(TEXT[off:off + len(raw)], raw)

    def test_json_with_keyed_hashes(self):
        out = self.run_text("--json", "--hmac-key-file", KEY_FILE, "--text", "t.txt")
        objs = [json.loads(l) for l in out.splitlines()]
        values = [(o["kind"], o["offset"], o["line"], o["column"], o["rule"], o["masked"],
                   o.get("confidence", o.get("reason")), o["field"], o["hmac"])
                  for o in objs if o["kind"] in ("value", "suppressed")]
        self.assertEqual(values, [
            ("value", 14, 1, 15, "acme.card", "453914******6467", "high", "raw",
             hmac32("4539148803436467")),
            ("value", 53, 2, 10, "acme.card", "471630******8609", "high", "raw",
             hmac32("4716301661318609")),
            ("value", 140, 5, 5, "acme.ssn", "*****8417", "high", "raw", hmac32("536228417")),
            ("suppressed", 74, 3, 5, "acme.card", "452601******3012", "allowed", "raw",
             hmac32("4526018159083012")),
            ("suppressed", 92, 3, 23, "acme.card", "411111******1111", "test_value", "raw",
             hmac32("4111111111111111")),
            ("suppressed", 119, 4, 8, "acme.card", "492942******1119", "context_excluded", "raw",
             hmac32("4929421333281119")),
            ("suppressed", 226, 6, 75, "acme.ssn", "*****8418", "context_missing", "raw",
             hmac32("536228418")),
        ])
        rulesj = {o["rule"]: o for o in objs if o["kind"] == "rule"}
        self.assertEqual({k: rulesj["acme.card"][k] for k in (
            "rule_id", "candidates", "rejected", "filtered", "context_suppressed", "allowed",
            "test_values", "values")},
            {"rule_id": 100201, "candidates": 6, "rejected": 1, "filtered": 0,
             "context_suppressed": 1, "allowed": 1, "test_values": 1, "values": 2})
        self.assertEqual(objs[-1], {"kind": "summary", "values": 3, "suppressed": 4,
                                    "rejected": 1})

    def test_edm_unlisted_values_named(self):
        # one card of the text on the rule's exact-data list: the other is "unlisted"
        write(self.d, "ours.hmac", hmac32("4539148803436467") + "\n")
        write(self.d, "edm.yaml", "overrides:\n  - name: acme.card\n"
                                  "    edm: {hmacs_file: ours.hmac}\n")
        p = rules("test", "r.yaml", "edm.yaml", "--rules-cache", CACHE, "--json",
                  "--hmac-key-file", KEY_FILE, "--text", "t.txt", cwd=self.d)
        self.assertEqual(p.returncode, 0, p.stderr)
        objs = [json.loads(l) for l in p.stdout.splitlines()]
        cards = sorted((o["kind"], o["masked"], o.get("confidence", o.get("reason")))
                       for o in objs if o.get("rule") == "acme.card" and "masked" in o)
        self.assertEqual(cards, [
            ("suppressed", "411111******1111", "test_value"),
            ("suppressed", "452601******3012", "allowed"),
            ("suppressed", "471630******8609", "unlisted"),
            ("suppressed", "492942******1119", "unlisted"),  # edm is decided before context
            ("value", "453914******6467", "high")])
        (card,) = [o for o in objs if o["kind"] == "rule" and o["rule"] == "acme.card"]
        self.assertEqual((card["unlisted"], card["context_suppressed"]), (2, 0))
        # the table grows an UNLISTED column only when a rule has an edm: list
        p = rules("test", "r.yaml", "edm.yaml", "--rules-cache", CACHE, "--hmac-key-file",
                  KEY_FILE, "--text", "t.txt", cwd=self.d)
        self.assertIn("UNLISTED", p.stdout)
        self.assertNotIn("UNLISTED", self.run_text("--text", "t.txt"))
        # without the key the list was made with, refused as the sensor refuses it
        # (a random key would put every value off the list, silently)
        p = rules("test", "r.yaml", "edm.yaml", "--rules-cache", CACHE, "--text", "t.txt",
                  cwd=self.d)
        self.assertEqual(p.returncode, 2)
        self.assertIn("rule acme.card: edm: its hashes are keyed", p.stderr)

    def test_field_applies_the_fields_lists(self):
        out = self.run_text("--field", "http.header", "--text", "t.txt").splitlines()
        self.assertIn("140     5:5       acme.ssn   *****8417         filtered          "
                      "http.header", out)
        self.assertIn("226     6:75      acme.ssn   *****8418         filtered          "
                      "http.header", out)
        self.assertEqual(out[-1], "2 values reported, 5 suppressed, 1 candidate rejected by "
                                  "validators")
        out = self.run_text("--field", "http.body", "--text", "t.txt").splitlines()
        self.assertEqual(out[-1], "3 values reported, 4 suppressed, 1 candidate rejected by "
                                  "validators")

    def test_nothing_found(self):
        self.assertEqual(self.run_text("--text", "-", stdin="nothing here\n"),
                         "0 values reported, 0 suppressed, 0 candidates rejected by validators\n")

    def test_text_size_bound(self):
        limit = 16 * 1024 * 1024
        with open(os.path.join(self.d, "big.txt"), "wb") as f:
            f.write(b"x" * limit)
        self.assertEqual(self.run_text("--text", "big.txt"),
                         "0 values reported, 0 suppressed, 0 candidates rejected by validators\n")
        with open(os.path.join(self.d, "big.txt"), "ab") as f:
            f.write(b"x")
        p = rules("test", "r.yaml", "--text", "big.txt", cwd=self.d)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "dlpsensor rules: big.txt: larger than 16777216 bytes\n")
        p = rules("test", "r.yaml", "--text", "-", stdin="x" * (limit + 1), cwd=self.d)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr,
                         "dlpsensor rules: standard input: larger than 16777216 bytes\n")

    def test_unreadable_inputs(self):
        p = rules("test", "r.yaml", "--text", "missing.txt", cwd=self.d)
        self.assertEqual((p.returncode, p.stderr),
                         (2, "dlpsensor rules: missing.txt: No such file or directory\n"))
        p = rules("test", "missing.yaml", "--text", "t.txt", cwd=self.d)
        self.assertEqual((p.returncode, p.stderr),
                         (2, "dlpsensor rules: missing.yaml: No such file or directory\n"))


COUNTERS = ("alerts", "values", "candidates", "rejected", "filtered", "context_suppressed",
            "allowed", "test_values")


def capture_rules(*args):
    p = rules("test", "--json", "--rules-cache", CACHE, *args)
    if p.returncode != 0:
        raise AssertionError("exit %d: %s" % (p.returncode, p.stderr))
    objs = [json.loads(l) for l in p.stdout.splitlines()]
    return {o["rule"]: o for o in objs if o["kind"] == "rule"}, objs[-1], p.stdout


def active(by_rule):
    return {n: tuple(o[k] for k in COUNTERS) for n, o in by_rule.items()
            if o["candidates"] or o["alerts"]}


class Capture(unittest.TestCase):
    def test_ten_cards(self):
        by_rule, summary, out = capture_rules("-r", pcap("detect-ten-cards.pcap"), "--samples",
                                              "100", "--hmac-key-file", KEY_FILE)
        # 12 candidates: the ten, and two of them again after the request (scanned raw)
        self.assertEqual(active(by_rule), {"pii.credit_card": (1, 10, 12, 0, 0, 0, 0, 0)})
        self.assertEqual(summary, {"kind": "summary", "packets": 12, "flows": 1, "alerts": 1})
        samples = by_rule["pii.credit_card"]["samples"]
        self.assertEqual([s["masked"] for s in samples], [
            "452601******3012", "466131******9090", "539603******8190", "223148******1815",
            "379093*****9753", "601143******7574", "354149******2764", "360189****7976",
            "621211*********5072", "452917******6718"])
        for s in samples:
            self.assertEqual((s["field"], s["src_ip"], s["dest_ip"], s["dest_port"],
                              s["app_proto"], s["host"], s["flows"]),
                             ("http.body", "10.0.0.31", "198.51.100.40", 80, "HTTP",
                              "shop.example.com", 1))
            self.assertRegex(s["hmac"], r"^[0-9a-f]{32}$")

    def test_ten_cards_table(self):
        nrules = len(capture_rules("-r", pcap("detect-ten-cards.pcap"))[0])
        p = rules("test", "-r", pcap("detect-ten-cards.pcap"), "--rules-cache", CACHE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, """\
RULE             ALERTS  VALUES  CANDIDATES  REJECTED  FILTERED  CONTEXT  ALLOWED  TEST_VALUES
pii.credit_card  1       10      12          0         0         0        0        0

samples (masked, at most 3 per rule):
RULE             VALUE             FLOWS  FIELD      FROM       TO                APP   HOST
pii.credit_card  452601******3012  1      http.body  10.0.0.31  198.51.100.40:80  HTTP  shop.example.com
pii.credit_card  466131******9090  1      http.body  10.0.0.31  198.51.100.40:80  HTTP  shop.example.com
pii.credit_card  539603******8190  1      http.body  10.0.0.31  198.51.100.40:80  HTTP  shop.example.com

12 packets, 1 flows, 1 alerts; %d rules, %d found nothing
""" % (nrules, nrules - 1))

    def test_demo(self):
        by_rule, summary, out = capture_rules("-r", pcap("demo.pcap"))
        got = active(by_rule)
        # pcaps/README.md "Demo": card (flows 2, 5, 10), SSN (3, 10), IBAN (4, 10), e-mail
        # (2, 3, 6); nothing of the inbound and internal flows
        self.assertEqual(got["pii.credit_card"], (3, 3, 3, 0, 0, 0, 0, 0))
        self.assertEqual(got["pii.us_ssn"], (2, 2, 2, 0, 0, 0, 0, 0))
        self.assertEqual(got["pii.iban"], (2, 2, 5, 3, 0, 0, 0, 0))
        # the mail's MAIL FROM and RCPT TO addresses are matched twice, in their smtp.header
        # block and in the whole command line (smtp.command): two more candidates, the same
        # values and alerts
        self.assertEqual(got["pii.email"], (3, 5, 9, 0, 0, 0, 0, 0))
        self.assertEqual(summary, {"kind": "summary", "packets": 128, "flows": 11,
                                   "alerts": sum(o["alerts"] for o in by_rule.values())})
        self.assertEqual([s["masked"] for s in by_rule["pii.credit_card"]["samples"]],
                         ["453914******6467"])
        self.assertEqual([s["flows"] for s in by_rule["pii.credit_card"]["samples"]], [3])
        self.assertEqual([s["masked"] for s in by_rule["pii.email"]["samples"]],
                         ["j***@example.com", "j***@example.org", "p***@example.net"])
        for raw in ("4539148803436467", "4539 1488 0343 6467", "536-22-8417",
                    "jane.doe@example.com", "GB82WEST12345698765432"):
            self.assertNotIn(raw, out)
        # the inbound flows count with --scan-inbound
        by_in, _, _ = capture_rules("-r", pcap("demo.pcap"), "--scan-inbound")
        self.assertGreater(by_in["pii.credit_card"]["alerts"], 3)
        # and nothing is inside a home network that covers every address
        by_all, summary, _ = capture_rules("-r", pcap("demo.pcap"), "--home-net", "0.0.0.0/0")
        self.assertEqual(summary["alerts"], 0)

    def test_tuning_walkthrough(self):
        """rules/README.md "Tuning walkthrough": the noisy run, the check, the tuned run."""
        noisy, summary, _ = capture_rules("-r", pcap("tuning-phone-noise.pcap"), "--samples",
                                          "10")
        self.assertEqual(active(noisy), {"pii.phone": (5, 12, 12, 0, 0, 0, 0, 0)})
        self.assertEqual([(s["masked"], s["flows"], s["host"])
                          for s in noisy["pii.phone"]["samples"]][-2:],
                         [("*******4100", 3, "helpdesk.example.org"),
                          ("********0123", 1, "crm-export.example.com")])
        with tempfile.TemporaryDirectory() as d:
            local = write(d, "local.yaml", WALK_LOCAL)
            shipped = os.path.join(SRC, "rules")
            tuned, summary, _ = capture_rules(shipped, local, "-r",
                                              pcap("tuning-phone-noise.pcap"))
            self.assertEqual(active(tuned), {"pii.phone": (1, 1, 12, 0, 0, 8, 3, 0)})
            self.assertEqual([s["masked"] for s in tuned["pii.phone"]["samples"]],
                             ["********0123"])
            p = rules("check", shipped, local)
            self.assertEqual(p.returncode, 0, p.stdout)

    def test_samples_bound_and_bad_inputs(self):
        p = rules("test", "-r", pcap("detect-ten-cards.pcap"), "--samples", "101")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0],
                         "dlpsensor rules: --samples: expected 0..100, got '101'")
        by_rule, _, _ = capture_rules("-r", pcap("detect-ten-cards.pcap"), "--samples", "0")
        self.assertEqual(by_rule["pii.credit_card"]["samples"], [])
        p = rules("test", "-r", pcap("bad/does-not-exist.pcap"), "--rules-cache", CACHE)
        self.assertEqual(p.returncode, 2)
        p = rules("test", "-r", pcap("demo.pcap"), "--home-net", "10.0.0.0/33")
        self.assertEqual((p.returncode, p.stderr),
                         (2, "dlpsensor rules: --home-net: bad network '10.0.0.0/33'\n"))

    def test_no_temporary_file_left(self):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, TMPDIR=d)
            p = subprocess.run([BINARY, "rules", "test", "-r", pcap("detect-ten-cards.pcap"),
                                "--rules-cache", CACHE], capture_output=True, text=True,
                               env=env, timeout=600)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(os.listdir(d), [])


# The walkthrough's local.yaml (rules/README.md), words added after `rules check`.
WALK_LOCAL = """\
overrides:
  - name: pii.phone
    context:
      words: [phone, telephone, tel, mobile, cell, fax, contact, call, whatsapp,
              kontakt, bureau, reception]
      required: true
    allow:
      values: ['+1 720 863 4100']
"""


class Usage(unittest.TestCase):
    def test_help(self):
        p = rules("--help")
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("usage: dlpsensor rules check [--strict] "
                                            "[--hmac-key-file KEY] [PATH...]\n"))
        self.assertEqual(rules("check", "--help").stdout, p.stdout)
        self.assertEqual(rules("test", "-h").stdout, p.stdout)
        # --text is scanned as it is: the help says so (a form body pasted as sent finds nothing)
        self.assertIn("the bytes as they are, not decoded as the sensor decodes\n", p.stdout)
        main_help = subprocess.run([BINARY, "--help"], capture_output=True, text=True)
        self.assertIn("dlpsensor rules check|test", main_help.stdout)

    def test_bad_usage(self):
        for args in ([], ["bogus"], ["test"], ["test", "--text", "-", "-r", "x.pcap"],
                     ["test", "--text", "-", "--home-net", "10.0.0.0/8"],
                     ["test", "-r", "x.pcap", "--field", "raw"],
                     ["test", "--text", "-", "--field", "body"], ["check", "--json"]):
            p = rules(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(p.stdout, "", args)
            self.assertIn("dlpsensor rules", p.stderr)

    def test_unknown_field_lists_the_known(self):
        p = rules("test", "--text", "-", "--field", "body")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0],
                         "dlpsensor rules: --field: unknown field 'body' (known: raw, http.uri, "
                         "http.header, http.body, smtp.header, smtp.body, smtp.attachment, "
                         "ftp.data, dns.query, ws.message, smtp.command, ftp.command)")

    def test_unknown_app_proto_is_refused_with_the_nearest(self):
        for name, hint in (("HTPP", "did you mean HTTP?"),
                           ("no such proto", "names are nDPI's: HTTP, SMTP, DNS, TLS, FTP_DATA...")):
            p = rules("test", "--text", "-", "--app-proto", name, stdin="x\n")
            self.assertEqual(p.returncode, 2, name)
            self.assertEqual(p.stderr.splitlines()[0],
                             "dlpsensor rules: --app-proto: unknown protocol '%s': no flow is "
                             "named so (%s)" % (name, hint))
        for name in ("http", "FTP-DATA", "TLS.Google", "Unknown", "Z39.50"):
            p = rules("test", "--text", "-", "--app-proto", name, stdin="x\n")
            self.assertEqual(p.returncode, 0, (name, p.stderr))

    def test_capture_bad_home_net(self):
        p = rules("test", "-r", "x.pcap", "--home-net", "10.0.0.0/8,zz")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "dlpsensor rules: --home-net: bad network 'zz'\n")


if __name__ == "__main__":
    main()
