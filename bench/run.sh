#!/usr/bin/env bash
# run.sh BUILD_DIR - the benchmark behind `make bench` (bench/README.md).
#
# Generates the synthetic capture once into bench/out/ (again only when gen_capture.c or
# the parameters change), warms the page cache, then runs each command BENCH_RUNS times
# and reports the median wall time: cat (the disk/page-cache floor), pcapread (the libpcap
# floor) and dlpsensor with --workers 1 and 2. Each run is timed (CLOCK_MONOTONIC) by a
# fresh /usr/bin/python3 process; peak RSS comes from /usr/bin/time -f %M when installed.
#
# Environment: BENCH_MB (400) BENCH_FLOWS (4000) BENCH_SEED (1) BENCH_RUNS (3)
#              BENCH_WORKERS ("1 2") BENCH_TIMEOUT (150 s per run) BENCH_SLOW (40 s: a
#              command slower than this on its first run is not repeated)
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR   (a configured CMake build tree, e.g. build)" >&2
    exit 2
fi
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/out
PY=/usr/bin/python3
MB=${BENCH_MB:-400}
FLOWS=${BENCH_FLOWS:-4000}
SEED=${BENCH_SEED:-1}
RUNS=${BENCH_RUNS:-3}
WORKERS=${BENCH_WORKERS:-"1 2"}
TIMEOUT=${BENCH_TIMEOUT:-150}
SLOW=${BENCH_SLOW:-40}
GEN=$BUILD/bench/gen_capture
PCAPREAD=$BUILD/bench/pcapread
SENSOR=$BUILD/dlpsensor
CAP=$OUT/capture.pcap
RESULTS=$OUT/results.tsv

mkdir -p "$OUT"

# Build (or bring up to date) the two bench tools; cheap when nothing changed.
tools_fresh=yes
if ! cmake --build "$BUILD" --target gen_capture pcapread >"$OUT/build.log" 2>&1; then
    if [ ! -x "$GEN" ] || [ ! -x "$PCAPREAD" ]; then
        echo "bench: building gen_capture/pcapread failed, see $OUT/build.log" >&2
        exit 1
    fi
    echo "bench: rebuilding the bench tools failed (see $OUT/build.log); using the old ones" >&2
    tools_fresh=no
fi

# --- the capture ------------------------------------------------------------------------
# A capture made by a possibly stale generator gets a stamp that never matches.
stamp="$(sha256sum "$HERE/gen_capture.c" | cut -d' ' -f1) mb=$MB flows=$FLOWS seed=$SEED"
[ "$tools_fresh" = yes ] || stamp="$stamp stale-generator"
if [ -f "$CAP" ] && [ -f "$CAP.stamp" ] && [ "$(cat "$CAP.stamp")" = "$stamp" ]; then
    echo "bench: reusing $CAP"
else
    echo "bench: generating $CAP (${MB} MB, ${FLOWS} concurrent flows, seed $SEED)"
    rm -f "$CAP" "$CAP.stamp"
    "$GEN" "$CAP.tmp" --mb "$MB" --flows "$FLOWS" --seed "$SEED" | sed 's/^/  /'
    mv "$CAP.tmp" "$CAP"
    echo "$stamp" >"$CAP.stamp"
fi
FILE_BYTES=$(stat -c %s "$CAP")

# Warm the page cache so every measured run reads from memory.
cat "$CAP" >/dev/null

# --- measuring -----------------------------------------------------------------------------
# argv: timeout stdout-file|- stderr-file cmd...  ->  "wall_s maxrss_kb exit"
# Peak RSS comes from /usr/bin/time when it is there: getrusage(RUSAGE_CHILDREN) alone would
# report at least this Python's own RSS, because Linux keeps a forked child's pre-exec peak.
MEASURE_PY='
import os, resource, signal, subprocess, sys, tempfile, time
timeout, out, err, cmd = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
gnu_time = os.access("/usr/bin/time", os.X_OK)
rss_file = tempfile.NamedTemporaryFile(prefix="bench-rss.", delete=False).name
if gnu_time:
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file, "--"] + cmd
with open(out if out != "-" else "/dev/null", "wb") as o, open(err, "wb") as e:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=o, stderr=e, start_new_session=True)
    try:
        rc = str(p.wait(timeout=timeout))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        rc = "timeout"
    wall = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if gnu_time:
    lines = open(rss_file).read().split()
    rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
os.unlink(rss_file)
print("%.6f %d %s" % (wall, rss, rc))
'
if [ -x /usr/bin/time ]; then
    RSS_HOW="/usr/bin/time -f %M"
else
    RSS_HOW="getrusage(RUSAGE_CHILDREN), includes ~10 MB of the timing Python"
fi

: >"$RESULTS"
rm -f "$OUT"/*.run*.out "$OUT"/*.run*.err
failed=0

# measure NAME STDOUT(-|file-prefix) CMD...: up to RUNS runs, one result line each.
measure() {
    local name=$1 out=$2 i res wall rc
    shift 2
    for i in $(seq 1 "$RUNS"); do
        local o=-
        if [ "$out" != - ]; then
            o="$out.run$i.out"
        fi
        res=$("$PY" -c "$MEASURE_PY" "$TIMEOUT" "$o" "$OUT/$name.run$i.err" "$@")
        read -r wall _ rc <<<"$res"
        printf '%s\t%s\t%s\n' "$name" "$i" "$res" >>"$RESULTS"
        printf '  %-18s run %d: %8.3f s  exit %s\n' "$name" "$i" "$wall" "$rc"
        if [ "$rc" != 0 ]; then
            echo "bench: $name failed (exit $rc); stderr: $OUT/$name.run$i.err" >&2
            tail -n 5 "$OUT/$name.run$i.err" | sed 's/^/    /' >&2
            failed=1
            return
        fi
        if awk -v w="$wall" -v s="$SLOW" 'BEGIN { exit !(w > s) }'; then
            echo "  ($name took over ${SLOW} s: not repeated)"
            return
        fi
    done
}

echo "bench: $RUNS runs each, median reported"
measure cat - cat "$CAP"
measure pcapread "$OUT/pcapread" "$PCAPREAD" "$CAP"

sensor_ran=0
if [ -x "$SENSOR" ]; then
    # "path": capture, decode, flows, reassembly, no rule (the packet path alone);
    # "rules": the shipped rules (Hyperscan, validators, alerts). The compiled rules
    # come from a cache warmed by the first run, so compilation is not timed.
    for set in path rules; do
        rules_dir="$HERE/../rules"
        [ "$set" = path ] && rules_dir="$HERE/empty-rules.yaml"
        for n in $WORKERS; do
            measure "sensor-$set-w$n" "$OUT/sensor-$set-w$n" \
                "$SENSOR" -r "$CAP" --workers "$n" --json - --no-syslog -R "$rules_dir" \
                --rules-cache "$OUT/rules-cache"
        done
    done
    sensor_ran=1
else
    echo "bench: $SENSOR does not exist (sensor not built yet?): measured the baselines only"
fi

# --- report ---------------------------------------------------------------------------------
"$PY" - "$RESULTS" "$OUT" "$FILE_BYTES" "$sensor_ran" "$WORKERS" "$RSS_HOW" <<'EOF'
import glob, json, os, statistics, sys

results, out, file_bytes, sensor_ran, workers, rss_how = sys.argv[1:7]
file_bytes = int(file_bytes)
runs = {}
for line in open(results):
    name, _, wall, rss, rc = line.split()
    runs.setdefault(name, []).append((float(wall), int(rss), rc))


def pcapread_packets():
    for path in sorted(glob.glob(os.path.join(out, "pcapread.run*.out"))):
        for kv in open(path).read().split():
            if kv.startswith("packets="):
                return int(kv.split("=")[1])
    return None


def stats_line(name):
    """The last JSON object line the sensor wrote (stdout first, then stderr)."""
    last = sorted(glob.glob(os.path.join(out, name + ".run*.out")))
    for path in (last[-1:] + [p[:-4] + ".err" for p in last[-1:]]):
        for line in reversed(open(path, errors="replace").read().splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
    return None


def find(obj, key):
    if isinstance(obj, dict):
        if key in obj and not isinstance(obj[key], (dict, list)):
            return obj[key]
        for v in obj.values():
            got = find(v, key)
            if got is not None:
                return got
    return None


packets = pcapread_packets()
print()
print("capture: %s, %.1f MB, %s packets; %d CPUs; peak RSS by %s"
      % (os.path.join(out, "capture.pcap"), file_bytes / 1e6,
         packets if packets is not None else "?", os.cpu_count(), rss_how))
print()
hdr = "%-18s %5s %9s %12s %9s %10s  %s" % ("command", "runs", "wall s", "packets/s", "MB/s",
                                          "peak RSS", "sensor/pcapread")
print(hdr)
print("-" * len(hdr))
base = None
if "pcapread" in runs and all(r[2] == "0" for r in runs["pcapread"]):
    base = statistics.median(r[0] for r in runs["pcapread"])
for name in ["cat", "pcapread"] + ["sensor-%s-w%s" % (k, w) for k in ("path", "rules") for w in workers.split()]:
    if name not in runs:
        continue
    ok = [r for r in runs[name] if r[2] == "0"]
    if not ok:
        print("%-18s %5d  FAILED (exit %s)" % (name, len(runs[name]), runs[name][-1][2]))
        continue
    wall = statistics.median(r[0] for r in ok)
    rss = max(r[1] for r in ok) / 1024.0
    pps = "%12.0f" % (packets / wall) if packets else "%12s" % "?"
    ratio = ""
    if base and name.startswith("sensor"):
        ratio = "%.2fx the time, %.1f %% of the speed" % (wall / base, 100.0 * base / wall)
    print("%-18s %5d %9.3f %s %9.1f %7.1f MB  %s"
          % (name, len(ok), wall, pps, file_bytes / 1e6 / wall, rss, ratio))

if sensor_ran == "1":
    print()
    for name in ["sensor-%s-w%s" % (k, w) for k in ("path", "rules") for w in workers.split()]:
        if not any(r[2] == "0" for r in runs.get(name, [])):
            continue
        st = stats_line(name)
        if st is None:
            print("%s: no JSON stats line found in its stdout/stderr" % name)
            continue
        keys = ["packets", "bytes", "flows", "dropped", "decode_errors", "reassembly_gaps",
                "alerts"]
        got = {k: find(st, k) for k in keys}
        print("%s stats: %s" % (name, ", ".join("%s=%s" % (k, v) for k, v in got.items()
                                                 if v is not None)))
        if packets is not None and got["packets"] is not None and got["packets"] != packets:
            print("  WARNING: sensor counted %s packets, pcapread %d" % (got["packets"], packets))
        for k in ("dropped", "decode_errors", "reassembly_gaps"):
            if got[k]:
                print("  NOTE: %s=%s (the generated capture has none)" % (k, got[k]))
EOF
exit $failed
