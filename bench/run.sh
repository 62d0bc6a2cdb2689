#!/usr/bin/env bash
# run.sh BUILD_DIR - the benchmark behind `make bench` (bench/README.md).
#
# Generates the synthetic capture once into bench/out/ (again only when gen_capture.c or
# the parameters change), warms the page cache, then runs each command BENCH_RUNS times
# and reports the median wall time: cat (the disk/page-cache floor), pcapread (the libpcap
# floor), matchonly (the sensor's matcher alone over the capture's egress payload, timed
# inside; it also warms the rule cache) and dlpsensor with --workers 1 and 2: without
# rules, with the shipped rules, and with them under --no-app-layer, the six taking turns.
# Then the targets: the 1-worker
# rules run against matching alone, 2 workers against 1.
# Each run is timed (CLOCK_MONOTONIC) by a fresh /usr/bin/python3 process, its CPU time
# (user + sys) by the rusage of wait4() there; peak RSS comes from /usr/bin/time -f %M when
# installed.
#
# Environment: BENCH_MB (400) BENCH_FLOWS (4000) BENCH_SEED (1) BENCH_RUNS (5)
#              BENCH_WORKERS ("1 2") BENCH_TIMEOUT (150 s per run) BENCH_SLOW (40 s: a
#              command slower than this on its first run is not repeated)
#              BENCH_SOM (0; 1 also runs som_vs_tail, ~40 s more: bench/README.md)
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
RUNS=${BENCH_RUNS:-5}
WORKERS=${BENCH_WORKERS:-"1 2"}
TIMEOUT=${BENCH_TIMEOUT:-150}
SLOW=${BENCH_SLOW:-40}
SOM=${BENCH_SOM:-0}
GEN=$BUILD/bench/gen_capture
PCAPREAD=$BUILD/bench/pcapread
MATCHONLY=$BUILD/bench/matchonly
SOMVSTAIL=$BUILD/bench/som_vs_tail
RULES=$HERE/../rules
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
# The matching tools link the sensor's matcher: if they do not build, their figures are
# left out (an old binary would measure an old matcher).
match_tools="matchonly"
[ "$SOM" = 1 ] && match_tools="$match_tools som_vs_tail"
match_built=yes
# shellcheck disable=SC2086
if ! cmake --build "$BUILD" --target $match_tools >"$OUT/build-match.log" 2>&1; then
    echo "bench: building $match_tools failed (see $OUT/build-match.log): no matching figures" >&2
    match_built=no
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
# argv: timeout stdout-file|- stderr-file cmd...  ->  "wall_s maxrss_kb exit user_s sys_s"
# The child is reaped with a blocking wait4() (Popen.wait(timeout) polls with sleeps of up to
# 50 ms, which showed as 50 ms steps in the wall times); a timer kills its process group at
# the timeout. CPU time (user, sys) is the rusage wait4() returns: the command, every thread,
# plus /usr/bin/time around it (about a millisecond). Peak RSS comes from /usr/bin/time when
# it is there: the rusage alone would report at least this Python's own RSS, because Linux
# keeps a forked child's pre-exec peak.
MEASURE_PY='
import os, signal, subprocess, sys, tempfile, threading, time
timeout, out, err, cmd = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
gnu_time = os.access("/usr/bin/time", os.X_OK)
rss_file = tempfile.NamedTemporaryFile(prefix="bench-rss.", delete=False).name
if gnu_time:
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file, "--"] + cmd
killed = []
def kill(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
        killed.append(1)
    except ProcessLookupError:
        pass
with open(out if out != "-" else "/dev/null", "wb") as o, open(err, "wb") as e:
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=o, stderr=e, start_new_session=True)
    timer = threading.Timer(timeout, kill, (p.pid,))
    timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
rc = "timeout" if killed else str(p.returncode)
rss = ru.ru_maxrss
if gnu_time:
    lines = open(rss_file).read().split()
    rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
os.unlink(rss_file)
print("%.6f %d %s %.6f %.6f" % (wall, rss, rc, ru.ru_utime, ru.ru_stime))
'
if [ -x /usr/bin/time ]; then
    RSS_HOW="/usr/bin/time -f %M"
else
    RSS_HOW="wait4() rusage, includes ~10 MB of the timing Python"
fi

: >"$RESULTS"
rm -f "$OUT"/*.run*.out "$OUT"/*.run*.err
failed=0

# measure_one NAME STDOUT(-|file-prefix) I CMD...: run I of NAME, one result line. Returns 1
# when NAME is not to be run again: it failed (failed=1), or was slower than SLOW.
measure_one() {
    local name=$1 out=$2 i=$3 res wall rc o=-
    shift 3
    [ "$out" != - ] && o="$out.run$i.out"
    res=$("$PY" -c "$MEASURE_PY" "$TIMEOUT" "$o" "$OUT/$name.run$i.err" "$@")
    read -r wall _ rc _ <<<"$res"
    printf '%s\t%s\t%s\n' "$name" "$i" "$res" >>"$RESULTS"
    printf '  %-18s run %d: %8.3f s  exit %s\n' "$name" "$i" "$wall" "$rc"
    if [ "$rc" != 0 ]; then
        echo "bench: $name failed (exit $rc); stderr: $OUT/$name.run$i.err" >&2
        tail -n 5 "$OUT/$name.run$i.err" | sed 's/^/    /' >&2
        failed=1
        return 1
    fi
    if awk -v w="$wall" -v s="$SLOW" 'BEGIN { exit !(w > s) }'; then
        echo "  ($name took over ${SLOW} s: not repeated)"
        return 1
    fi
    return 0
}

# measure NAME STDOUT(-|file-prefix) CMD...: up to RUNS runs in a row.
measure() {
    local name=$1 out=$2 i
    shift 2
    for i in $(seq 1 "$RUNS"); do
        measure_one "$name" "$out" "$i" "$@" || return 0
    done
}

# How many CPUs the bench can have right now: two processes spin for ~0.3 s of CPU each;
# their CPU time over the wall time of the pair is ~2 on an idle 2-CPU machine, ~1 when
# something else keeps one CPU busy (then 2 workers cannot beat 1).
CPUFREE_PY='
import os, subprocess, sys, time
spin = "x = 0\nfor i in range(8000000): x += i"
n = min(os.cpu_count() or 1, 2)
t0 = time.monotonic()
ps = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(n)]
cpu = 0.0
for p in ps:
    _, _, ru = os.wait4(p.pid, 0)
    cpu += ru.ru_utime + ru.ru_stime
print("%.2f" % (cpu / (time.monotonic() - t0)))
'
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg) ($("$PY" -c "$CPUFREE_PY") CPUs free)"
echo "bench: $RUNS runs each, median reported; load average $LOAD_BEFORE"
measure cat - cat "$CAP"
measure pcapread "$OUT/pcapread" "$PCAPREAD" "$CAP"

# Matching alone: one matchonly process times its own BENCH_RUNS repetitions (block, then
# SOM stream) and prints their medians; the capture load and the rules are not timed.
rm -f "$OUT/matchonly.out" "$OUT/matchonly.err" "$OUT/som_vs_tail.out"
if [ "$match_built" = yes ] && [ -x "$MATCHONLY" ]; then
    res=$("$PY" -c "$MEASURE_PY" "$TIMEOUT" "$OUT/matchonly.out" "$OUT/matchonly.err" \
        "$MATCHONLY" "$CAP" "$RULES" --home-net-prefix 10. --cache "$OUT/rules-cache" \
        --runs "$RUNS")
    read -r wall _ rc _ <<<"$res"
    printf '  %-18s %d runs inside: %8.3f s in all  exit %s\n' matchonly "$RUNS" "$wall" "$rc"
    if [ "$rc" != 0 ]; then
        echo "bench: matchonly failed (exit $rc); stderr: $OUT/matchonly.err" >&2
        tail -n 5 "$OUT/matchonly.err" | sed 's/^/    /' >&2
        failed=1
    fi
else
    echo "bench: $MATCHONLY is not built: no matching-alone figures"
fi
if [ "$SOM" = 1 ] && [ "$match_built" = yes ] && [ -x "$SOMVSTAIL" ]; then
    echo "  som_vs_tail (BENCH_SOM=1, 5 runs interleaved; about 40 s)"
    if ! timeout "$TIMEOUT" "$SOMVSTAIL" "$RULES" "$CAP" --runs 5 >"$OUT/som_vs_tail.out" \
        2>"$OUT/som_vs_tail.err"; then
        echo "bench: som_vs_tail failed; see $OUT/som_vs_tail.err" >&2
        failed=1
    fi
fi

sensor_ran=0
if [ -x "$SENSOR" ]; then
    # "path": capture, decode, flows, reassembly, no rule, no application layer (the
    # packet path alone: no nDPI, no decoders);
    # "rules": the shipped rules (Hyperscan, validators, alerts); "raw": the same with
    # --no-app-layer (no nDPI, no decoders), the baseline of the application layer's
    # cost; "onereader" (2 workers only): the rules with one reader thread feeding the
    # workers (--file-readers one), where the default on 2 CPUs is each worker reading
    # the capture itself; "scanmedia" (1 worker only): the rules with compressed media
    # scanned whole (--scan-media), as matching alone scans them. The compiled rules
    # come from the cache matchonly warmed (same key: same expressions, flags, Hyperscan
    # and CPU; else the first rules run compiles, ~0.2 s). The configurations take turns
    # (run 1 of each, then run 2...): load that comes and goes on the machine then hits
    # them alike, which the ratios below need.
    declare -A done_with=()
    for i in $(seq 1 "$RUNS"); do
        for set in path rules raw onereader scanmedia; do
            rules_dir=$RULES
            extra=()
            [ "$set" = path ] && rules_dir="$HERE/empty-rules.yaml" && extra=(--no-app-layer)
            [ "$set" = raw ] && extra=(--no-app-layer)
            [ "$set" = onereader ] && extra=(--file-readers one)
            [ "$set" = scanmedia ] && extra=(--scan-media)
            for n in $WORKERS; do
                [ "$set" = onereader ] && [ "$n" != 2 ] && continue
                [ "$set" = scanmedia ] && [ "$n" != 1 ] && continue
                name="sensor-$set-w$n"
                [ -n "${done_with[$name]:-}" ] && continue
                measure_one "$name" "$OUT/$name" "$i" \
                    "$SENSOR" -r "$CAP" --workers "$n" --json - --no-syslog -R "$rules_dir" \
                    --rules-cache "$OUT/rules-cache" "${extra[@]}" || done_with[$name]=1
            done
        done
    done
    sensor_ran=1
else
    echo "bench: $SENSOR does not exist (sensor not built yet?): measured the baselines only"
fi

# --- report ---------------------------------------------------------------------------------
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg) ($("$PY" -c "$CPUFREE_PY") CPUs free)"
"$PY" - "$RESULTS" "$OUT" "$FILE_BYTES" "$sensor_ran" "$WORKERS" "$RSS_HOW" "$LOAD_BEFORE" \
    "$LOAD_AFTER" <<'EOF'
import glob, json, os, statistics, sys

results, out, file_bytes, sensor_ran, workers, rss_how, load_before, load_after = sys.argv[1:9]
file_bytes = int(file_bytes)
workers = workers.split()
runs = {}
for line in open(results):
    name, _, wall, rss, rc, user, sys_s = line.split()
    runs.setdefault(name, []).append((float(wall), int(rss), rc, float(user) + float(sys_s)))


def kv_lines(path):
    """key=value lines of a file, as dicts (values as text)."""
    got = []
    if os.path.exists(path):
        for line in open(path, errors="replace"):
            d = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if d:
                got.append(d)
    return got


def pcapread_packets():
    for path in sorted(glob.glob(os.path.join(out, "pcapread.run*.out"))):
        for d in kv_lines(path):
            if "packets" in d:
                return int(d["packets"])
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


def median_of(name):
    """(wall, cpu, peak rss KB, runs, best wall) of the successful runs, or None."""
    ok = [r for r in runs.get(name, []) if r[2] == "0"]
    if not ok:
        return None
    return (statistics.median(r[0] for r in ok), statistics.median(r[3] for r in ok),
            max(r[1] for r in ok), len(ok), min(r[0] for r in ok))


def worker_split(a, b):
    """What the workers' own CPU time (stats "workers", last run) says about w2 over w1."""
    s1, s2 = stats_line("sensor-rules-w1"), stats_line("sensor-rules-w2")
    w1 = (s1 or {}).get("workers") or []
    w2 = (s2 or {}).get("workers") or []
    if len(w1) != 1 or len(w2) != 2:
        return
    c1 = w1[0]["cpu_ms"] / 1000.0
    c2 = [w["cpu_ms"] / 1000.0 for w in w2]
    p2 = [w["packets"] for w in w2]
    print("      worker threads (last runs' stats; reading included where workers read): "
          "1 worker %.2f CPU s; 2 workers %.2f + %.2f CPU s (%.0f/%.0f %% of the packets)" % (c1, c2[0], c2[1], 100.0 * p2[0] / sum(p2),
                                                  100.0 * p2[1] / sum(p2)))
    o1 = ((s1 or {}).get("output") or {}).get("cpu_ms")
    o2 = ((s2 or {}).get("output") or {}).get("cpu_ms")
    if o1 is not None and o2 is not None:
        print("      output thread (JSON lines): %.2f CPU s with 1 worker, %.2f with 2"
              % (o1 / 1000.0, o2 / 1000.0))
    other = b[1] - sum(c2)  # reader if any, output, start-up: the rest of the process's CPU
    print("      the second worker's limits here: its busier worker alone allows %.2fx; with "
          "%.2f CPU s of other threads and start-up sharing the %d CPUs, at most %.2fx"
          % (c1 / max(c2), other, os.cpu_count(),
             a[0] / max(max(c2), (sum(c2) + other) / max(1, os.cpu_count()))))


packets = pcapread_packets()
gb = file_bytes / 1e9
sensor_rows = ["sensor-%s-w%s" % (k, w) for k in ("path", "rules", "raw") for w in workers]
sensor_rows += ["sensor-onereader-w2", "sensor-scanmedia-w1"]
print()
print("capture: %s, %.1f MB, %s packets; %d CPUs; peak RSS by %s"
      % (os.path.join(out, "capture.pcap"), file_bytes / 1e6,
         packets if packets is not None else "?", os.cpu_count(), rss_how))
print("load average (1, 5, 15 min): before %s, after %s" % (load_before, load_after))
print("(CPUs free: what two spinning processes got; below ~1.8 on 2 CPUs, other work competes "
      "and the 2-worker figures mean little)")
print()
hdr = "%-19s %4s %7s %10s %8s %8s %5s %8s  %s" % ("command", "runs", "wall s", "packets/s",
                                                 "MB/s", "CPU s/GB", "CPUs", "peak RSS",
                                                 "sensor/pcapread")
print(hdr)
print("-" * len(hdr))
base = median_of("pcapread")
base = base[0] if base and all(r[2] == "0" for r in runs["pcapread"]) else None
for name in ["cat", "pcapread"] + sensor_rows:
    if name not in runs:
        continue
    m = median_of(name)
    if m is None:
        print("%-19s %4d  FAILED (exit %s)" % (name, len(runs[name]), runs[name][-1][2]))
        continue
    wall, cpu, rss, n, _ = m
    pps = "%10.0f" % (packets / wall) if packets else "%10s" % "?"
    ratio = ""
    if base and name.startswith("sensor"):
        ratio = "%.2fx the time, %.1f %% of the speed" % (wall / base, 100.0 * base / wall)
    print("%-19s %4d %7.3f %s %8.1f %8.2f %5.2f %5.1f MB  %s"
          % (name, n, wall, pps, file_bytes / 1e6 / wall, cpu / gb, cpu / wall, rss / 1024.0,
             ratio))

# --- matching alone and the targets ---
mo = kv_lines(os.path.join(out, "matchonly.out"))
head = next((d for d in mo if "capture" in d), None)
modes = {d["mode"]: d for d in mo if "mode" in d}
if head and "block" in modes and "stream" in modes:
    egress = int(head["egress_bytes"])
    print()
    print("matching alone (bench/matchonly): the sensor's matcher over the capture's egress "
          "payload, %.1f MB" % (egress / 1e6))
    print("(TCP+UDP payload from 10/8 to outside, concatenated, no reassembly); median of %s; "
          "MB/s and CPU s/GB per egress byte" % modes["block"]["runs"])
    for key, label in (("block", "block  (dlp_match_block, 64 KiB pieces)"),
                       ("stream", "stream (1448 B writes: SOM stream + tail)")):
        d = modes[key]
        print("  %-44s %7.3f s %8.1f MB/s %7.2f CPU s/GB %9s matches"
              % (label, float(d["wall_s"]), float(d["mb_per_s"]), float(d["cpu_s_per_gb"]),
                 d["matches"]))
    t_block, t_stream = float(modes["block"]["wall_s"]), float(modes["stream"]["wall_s"])
    c_block = float(modes["block"]["cpu_s"])
    r1 = median_of("sensor-rules-w%s" % workers[0]) if workers else None
    if sensor_ran == "1" and r1 and workers[0] == "1":
        wall, cpu = r1[0], r1[1]
        pct, pct_s, pct_cpu = 100 * t_block / wall, 100 * t_stream / wall, 100 * c_block / cpu
        print()
        print("targets (the full path's speed counted in the same %.1f MB of egress payload):"
              % (egress / 1e6))
        print("  sensor-rules-w1: %.1f MB/s of egress = %.1f %% of matching alone (block)  "
              "[target >= 50 %%: %s]" % (egress / 1e6 / wall, pct, "met" if pct >= 50 else
                                         "MISSED"))
        print("                   %.1f %% of the SOM stream; by CPU time %.1f %% "
              "(matcher block CPU / sensor user+sys)" % (pct_s, pct_cpu))
        sm = median_of("sensor-scanmedia-w1")
        if sm:
            print("                   with compressed media scanned whole (--scan-media, as "
                  "matching alone does): %.1f %%" % (100 * t_block / sm[0]))
        for kind in ("rules", "path"):
            a = median_of("sensor-%s-w1" % kind)
            b = median_of("sensor-%s-w2" % kind)
            if a and b:
                sp = a[0] / b[0]
                tgt = ("  [target >= 1.6x: %s]" % ("met" if sp >= 1.6 else "MISSED")
                       if kind == "rules" else "  (for reference)")
                print("  sensor-%s-w2 over w1: %.2fx faster%s" % (kind, sp, tgt))
                print("      CPUs busy %.2f with 1 worker, %.2f with 2; best runs: %.2fx"
                      % (a[1] / a[0], b[1] / b[0], a[4] / b[4]))
                if kind == "rules":
                    worker_split(a, b)
                    one = median_of("sensor-onereader-w2")
                    if one:
                        print("      with one reader thread feeding the 2 workers "
                              "(--file-readers one): %.3f s, %.2fx" % (one[0], a[0] / one[0]))
        print("  (best runs: sensor-rules-w1 %.1f %% of matching alone (block); medians are "
              "the figures, best runs show what load on the machine took away)"
              % (100 * t_block / r1[4]))
        raw = median_of("sensor-raw-w1")
        if raw:
            print("  application layer (nDPI + decoders): rules-w1 against raw-w1 (--no-app-layer):"
                  " %+.1f %% wall, %+.1f %% CPU" % (100 * (wall / raw[0] - 1),
                                                   100 * (cpu / raw[1] - 1)))
            print("  sensor-raw-w1 (reassembled streams scanned as they are, no decoders): "
                  "%.1f %% of matching alone (block)" % (100 * t_block / raw[0]))
elif os.path.exists(os.path.join(out, "matchonly.out")):
    print("\nmatchonly printed no figures: see %s" % os.path.join(out, "matchonly.err"))

som = os.path.join(out, "som_vs_tail.out")
if os.path.exists(som):
    print()
    print("som_vs_tail (bench/README.md):")
    sys.stdout.write("".join("  " + l for l in open(som)))

if sensor_ran == "1":
    print()
    for name in sensor_rows:
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
