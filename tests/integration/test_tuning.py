#!/usr/bin/python3
"""Tuning, end to end: a local override file (-R rules/ -R local.yaml) changes shipped rules;
allow-lists by destination host (HTTP Host, SMTP recipient domain), by address, by keyed hash;
published test cards suppressed and counted; exclude_context and protocol/field restrictions;
the per-rule counters that tell a tuner why a value was not reported; exact data match (edm:
only the listed keyed hashes are reported); distinct values counted across flows (aggregate:);
no rule enabled: the sensor runs, and warns."""
import hashlib
import json
import hmac
import os
import tempfile
import unittest

from sensor import KEY_FILE, SRC, pcap, run

RULES = os.path.join(SRC, "rules")


def hmac32(norm):
    with open(KEY_FILE, "rb") as f:
        key = f.read().rstrip(b"\n")
    return hmac.new(key, norm.encode(), hashlib.sha256).hexdigest()[:32]


def with_local(local_yaml, *args):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "local.yaml")
        with open(path, "w") as f:
            f.write(local_yaml)
        return run("-R", RULES, "-R", path, *args)


def cards(r):
    return [m["masked"] for e in r.of("dlp") if e["dlp"]["rule"] == "pii.credit_card"
            for m in e["dlp"]["matches"]]


def card_stats(r):
    return r.stats["rules"]["pii.credit_card"]


class AllowLists(unittest.TestCase):
    def test_http_host_wildcard(self):
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    allow: {hosts: ['*.example.com']}\n")
        r = with_local(local, "-r", pcap("detect-card-out-of-order.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(cards(r), [])
        self.assertEqual(card_stats(r)["allowed"], 1)
        self.assertEqual(card_stats(r)["alerts"], 0)

    def test_http_host_exact_leaves_other_hosts(self):
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    allow: {hosts: [pay.example.com]}\n")
        r = with_local(local, "-r", pcap("detect-card-out-of-order.pcap"),
                       "-r", pcap("http-chunked-card.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        hosts = sorted(f["http"]["hostname"] for f in r.of("flow"))
        self.assertEqual(hosts, ["chunks.example.com"])
        self.assertEqual(cards(r), ["453914******6467"])
        self.assertEqual(card_stats(r)["allowed"], 1)

    def test_host_too_long_to_keep_is_never_allowed(self):
        """http-evasions.pcap :48007 names a 300-byte Host ending in .example.com: too long
        to be kept, so no host allow-list can vouch for the flow; :48001's card, under
        x.example.com, is allowed."""
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    allow: {hosts: ['*.example.com']}\n")
        r = with_local(local, "-r", pcap("http-evasions.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        ports = sorted(e["src_port"] for e in r.of("dlp") if e["dlp"]["rule"] == "pii.credit_card")
        self.assertEqual(ports, [48004, 48007])
        self.assertEqual(card_stats(r)["allowed"], 1)

    def test_protocols_see_the_decoded_protocol_before_ndpi_names_it(self):
        """http-evasions.pcap :48002 and :48006 are requests nDPI names HTTP only after
        their values; read by the HTTP decoder, their values count for a rule limited to
        HTTP all the same."""
        local = ("overrides:\n  - name: pii.us_ssn\n    protocols: [HTTP]\n"
                 "  - name: pii.credit_card\n    protocols: [HTTP]\n")
        r = with_local(local, "-r", pcap("http-evasions.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((e["src_port"], e["app_proto"]) for e in r.of("dlp"))
        self.assertEqual(got, [(p, "HTTP") for p in (48001, 48002, 48003, 48004, 48006, 48007)])
        self.assertEqual(r.stats["rules"]["pii.us_ssn"]["filtered"], 0)
        # nDPI's wrong names (SMTP, MySQL, Redis) for HTTP on other ports: what the HTTP
        # decoder found counts for HTTP
        r = with_local(local, "-r", pcap("http-other-ports.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(len(r.of("dlp")), 3)
        self.assertEqual(r.stats["rules"]["pii.credit_card"]["filtered"], 0)

    def test_smtp_recipient_domain(self):
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    allow: {hosts: [example.net]}\n")
        r = with_local(local, "-r", pcap("smtp-mime-qp-base64.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(cards(r), [])
        self.assertGreaterEqual(card_stats(r)["allowed"], 1)
        # other rules are not affected by the card rule's list
        self.assertIn("pii.us_ssn", [e["dlp"]["rule"] for e in r.of("dlp")])

    def test_global_destination_address(self):
        local = "allow:\n  dst: [198.51.100.40/32]\n"
        r = with_local(local, "-r", pcap("detect-card-out-of-order.pcap"),
                       "-r", pcap("http-chunked-card.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual([e["dest_ip"] for e in r.of("dlp")], ["198.51.100.50"])

    def test_by_keyed_hash(self):
        # the list holds the value's hmac, not the value
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    allow: {hmacs: ['%s']}\n" % hmac32("4539148803436467"))
        r = with_local(local, "-r", pcap("policy-test-cards.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(cards(r), ["491633******2832"])
        self.assertEqual(card_stats(r)["allowed"], 1)

    def test_by_value_as_written(self):
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    allow: {values: ['4916-3385-0608-2832']}\n")
        r = with_local(local, "-r", pcap("policy-test-cards.pcap"))
        self.assertEqual(cards(r), ["453914******6467"])


def with_files(files, *args, key=True):
    """files: {name: text} written side by side; local.yaml among them."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        return run("-R", RULES, "-R", os.path.join(tmp, "local.yaml"), *args, key=key)


class ExactDataMatch(unittest.TestCase):
    """edm: a list of keyed hashes ("our customers' cards"): only those are reported."""

    LOCAL = ("overrides:\n  - name: pii.credit_card\n"
             "    edm: {hmacs_file: cards.hmac}\n")

    def all_cards(self):
        r = run("-r", pcap("detect-ten-cards.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        (rule,) = [x for f in r.of("flow") for x in f["dlp_rules"]
                   if x["rule"] == "pii.credit_card"]
        return {m["hmac"]: m["masked"] for m in rule["matches"]}

    def test_only_listed_values_reported(self):
        found = self.all_cards()
        self.assertEqual(len(found), 10)
        ours = sorted(found)[:3]
        listed = "# customers, keyed with the sensor's key\n%s\n\n%s  \n%s\n%s\n" % (
            ours[0], ours[1], ours[2], "0" * 32)
        r = with_files({"local.yaml": self.LOCAL, "cards.hmac": listed},
                       "-r", pcap("detect-ten-cards.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        (rule,) = [x for f in r.of("flow") for x in f["dlp_rules"]
                   if x["rule"] == "pii.credit_card"]
        self.assertEqual(sorted(m["hmac"] for m in rule["matches"]), ours)
        self.assertEqual({m["confidence"] for m in rule["matches"]}, {"high"})
        # occurrences: the 7 others in the body, and 2 of them again in the line after
        # the request (not HTTP: scanned raw), both unlisted with the test's key
        self.assertEqual(card_stats(r)["unlisted"], 9)
        self.assertEqual(card_stats(r)["values"], 3)

    def test_inline_list_and_empty_file(self):
        found = self.all_cards()
        one = sorted(found)[0]
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    edm: {hmacs: ['%s'], hmacs_file: empty.hmac}\n" % one)
        r = with_files({"local.yaml": local, "empty.hmac": "# nothing yet\n"},
                       "-r", pcap("detect-ten-cards.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(cards(r), [found[one]])

    def test_no_key_is_an_error(self):
        r = with_files({"local.yaml": self.LOCAL, "cards.hmac": "0" * 32 + "\n"},
                       "-r", pcap("detect-ten-cards.pcap"), key=False)
        self.assertEqual(r.status, 2)
        self.assertRegex(r.stderr, r"local\.yaml:3: rule pii\.credit_card: edm: its hashes are "
                                   r"keyed: give the sensor the key they were made with")

    def test_bad_hash_line_names_both_files(self):
        r = with_files({"local.yaml": self.LOCAL,
                        "cards.hmac": "0" * 32 + "\n" + "1dcb4b4f467e304c5f5e42615ce857bX\n"},
                       "-r", pcap("detect-ten-cards.pcap"))
        self.assertEqual(r.status, 2)
        self.assertRegex(r.stderr, r"local\.yaml:3: override pii\.credit_card: edm: hmacs_file: "
                                   r"\S*cards\.hmac:2: the line has characters outside "
                                   r"\[0-9a-f\] \(32 characters\)")
        self.assertNotIn("1dcb4b4f", r.stderr)  # the line is never quoted
        r = with_files({"local.yaml": self.LOCAL}, "-r", pcap("detect-ten-cards.pcap"))
        self.assertEqual(r.status, 2)
        self.assertRegex(r.stderr, r"edm: hmacs_file: \S*cards\.hmac: No such file")


class Aggregate(unittest.TestCase):
    """aggregate: one card per connection never meets a per-flow threshold; counted per
    sender and receiver over a window (pcaps/policy-aggregate.pcap), it does, once per
    'values' distinct values, whatever the number of workers."""

    LOCAL = ("overrides:\n  - name: pii.credit_card\n    threshold: 5\n"
             "    aggregate: {values: 3, window: 10m}\n")

    def events(self, workers):
        r = with_local(self.LOCAL, "-r", pcap("policy-aggregate.pcap"), "--workers", workers)
        self.assertEqual(r.status, 0, r.stderr)
        return r, sorted((e["src_ip"], e["src_port"], e["dest_ip"], e["dlp"]["count"],
                          json.dumps(e["dlp"].get("aggregate"), sort_keys=True))
                         for e in r.of("dlp"))

    def test_per_pair_across_flows(self):
        agg = json.dumps({"values": 3, "flows": 3, "window_s": 600}, sort_keys=True)
        r, got = self.events(1)
        # 10.0.0.41 -> .50: the 3rd and the 6th card (the 8th repeats the 1st after the
        # count started over, the 9th comes 20 minutes later); 10.0.0.42 -> .50: its 3rd;
        # 10.0.0.41 -> 203.0.113.60: two cards only
        self.assertEqual(got, [("10.0.0.41", 47102, "198.51.100.50", 1, agg),
                               ("10.0.0.41", 47105, "198.51.100.50", 1, agg),
                               ("10.0.0.42", 47110, "198.51.100.50", 1, agg)])
        self.assertEqual(card_stats(r)["alerts"], 3)
        self.assertEqual(card_stats(r)["values"], 14)
        self.assertEqual(r.stats["detect"]["aggregate_evictions"], 0)
        for w in (2, 5):
            self.assertEqual(self.events(w)[1], got, "workers %d" % w)

    def test_without_aggregate_nothing(self):
        r = with_local("overrides:\n  - name: pii.credit_card\n    threshold: 5\n",
                       "-r", pcap("policy-aggregate.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(r.of("dlp"), [])


class Suppression(unittest.TestCase):
    def test_published_test_cards_counted_not_reported(self):
        r = run("-r", pcap("policy-test-cards.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(cards(r), ["453914******6467", "491633******2832"])
        st = card_stats(r)
        self.assertEqual((st["test_values"], st["values"], st["alerts"]), (2, 2, 1))

    def test_test_values_reported_when_asked(self):
        local = "overrides:\n  - name: pii.credit_card\n    test_values: true\n"
        r = with_local(local, "-r", pcap("policy-test-cards.pcap"))
        self.assertEqual(sorted(cards(r)), ["411111******1111", "453914******6467",
                                            "491633******2832", "555555******4444"])
        self.assertEqual(card_stats(r)["test_values"], 0)

    def test_exclude_context(self):
        local = ("overrides:\n  - name: pii.credit_card\n"
                 "    exclude_context: {words: [order id], window: 12}\n")
        r = with_local(local, "-r", pcap("policy-test-cards.pcap"))
        self.assertEqual(cards(r), ["453914******6467"])
        self.assertEqual(card_stats(r)["context_suppressed"], 1)

    def test_protocols_and_fields(self):
        local = ("overrides:\n  - name: pii.credit_card\n    protocols: [SMTP]\n"
                 "  - name: pii.us_ssn\n    fields: [smtp.attachment]\n")
        r = with_local(local, "-r", pcap("http-keepalive-three.pcap"),
                       "-r", pcap("smtp-mime-qp-base64.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((e["app_proto"], e["dlp"]["rule"]) for e in r.of("dlp"))
        self.assertNotIn(("HTTP", "pii.credit_card"), got)
        self.assertIn(("SMTP", "pii.credit_card"), got)
        self.assertNotIn("pii.us_ssn", [g[1] for g in got])
        self.assertGreaterEqual(r.stats["rules"]["pii.us_ssn"]["filtered"], 2)


def with_rules(rules_yaml, *args):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "only.yaml")
        with open(path, "w") as f:
            f.write(rules_yaml)
        return path, run("-R", path, *args)


class NoRules(unittest.TestCase):
    """No rule enabled is allowed (flow logging alone, bench/empty-rules.yaml), but said."""
    WARNING = "dlpsensor: warning: no rules enabled in %s: no dlp events will be raised\n"

    def test_empty_list_runs_and_warns(self):
        path, r = with_rules("rules: []\n", "--log-flows", "-r", pcap("demo.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertIn(self.WARNING % path, r.stderr)
        self.assertEqual(r.of("dlp"), [])
        self.assertGreater(len(r.of("flow")), 0)

    def test_every_rule_disabled_warns(self):
        rules = ("rules:\n  - id: 9001\n    name: local.card\n    description: cards\n"
                 "    category: linked\n"
                 "    severity: high\n    enabled: false\n    patterns: ['4[0-9]{15}']\n")
        path, r = with_rules(rules, "-r", pcap("demo.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertIn(self.WARNING % path, r.stderr)
        path, r = with_rules(rules, "-T")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertIn(self.WARNING % path, r.stderr)

    def test_quiet_as_other_warnings(self):
        path, r = with_rules("rules: []\n", "-q", "-r", pcap("demo.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(r.stderr, "")

    def test_shipped_pack_says_nothing(self):
        r = run("-R", RULES, "-r", pcap("demo.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        self.assertNotIn("no rules enabled", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
