#!/bin/sh
# make demo: replays the bundled demo capture with the default rules and
# prints the alerts (one line each, then the JSON events themselves).
set -eu
bin=${1:-build/dlpsensor}
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "dlpsensor -r pcaps/demo.pcap  (rules: rules/, home network: the RFC 1918 + ULA defaults)"
"$bin" -r "$here/pcaps/demo.pcap" --json "$out" "$@"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
alerts = [e for e in events if e["event_type"] == "dlp"]
print("\n%d alerts:" % len(alerts))
for e in sorted(alerts, key=lambda e: e["timestamp"]):
    d = e["dlp"]
    # a combination event lists the rules it found, never values
    vals = ", ".join(m.get("masked") or m.get("rule", "?") for m in d["matches"])
    print("  %s  %-22s %-8s %s:%s -> %s:%s %s  %s" % (
        e["timestamp"][11:23], d["rule"], d["severity"], e["src_ip"], e["src_port"],
        e["dest_ip"], e["dest_port"], e["proto"], vals))
s = [e for e in events if e["event_type"] == "stats"][-1]
print("\nstats: %d packets, %d flows, %d alerts, %d decode errors, %d gaps, %.3f s"
      % (s["packets"], s["flows"], s["alerts"], s["decode_errors"], s["reassembly_gaps"],
         s["elapsed_s"]))
print("\nJSON events (dlp):")
for e in alerts:
    print(json.dumps(e))
PY
