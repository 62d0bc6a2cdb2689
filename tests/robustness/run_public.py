"""robust_public_pcaps: the sensor (a sanitizer build) over every capture
listed in the public corpus's MANIFEST.tsv, each in its own process, a few
at a time. Pass criteria: robust.py. The corpus is read in place
(DLP_PUBLIC_PCAPS, default <source>/../shared/pcaps-public) and never
copied; when it is missing the test is skipped, loudly.

Environment: DLP_ROBUST_JOBS (parallel runs, default 3), DLP_ROBUST_TIMEOUT
(seconds per file, default 60), DLP_ROBUST_FILTER (only manifest paths
containing this string; for reproducing).
"""

import csv
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import robust  # noqa: E402

def find_public():
    """DLP_PUBLIC_PCAPS, else ../shared/pcaps-public next to the source tree, else the
    workplace's shared directory (a clean clone may live elsewhere)."""
    if os.environ.get("DLP_PUBLIC_PCAPS"):
        return os.environ["DLP_PUBLIC_PCAPS"]
    for cand in (os.path.join(robust.SRC, "..", "shared", "pcaps-public"),
                 "/work/shared/pcaps-public"):
        if os.path.exists(os.path.join(cand, "MANIFEST.tsv")):
            return os.path.abspath(cand)
    return os.path.abspath(os.path.join(robust.SRC, "..", "shared", "pcaps-public"))


PUBLIC = find_public()


def manifest_paths(manifest):
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if rows.fieldnames is None or "path" not in rows.fieldnames:
            raise SystemExit("robust_public_pcaps: %s has no 'path' column" % manifest)
        return [row["path"] for row in rows if row["path"]]


def main():
    manifest = os.path.join(PUBLIC, "MANIFEST.tsv")
    if not os.path.isfile(manifest):
        print("*" * 72)
        print("SKIPPED: public captures not found: %s" % manifest)
        print("(set DLP_PUBLIC_PCAPS to the directory holding MANIFEST.tsv)")
        print("*" * 72)
        return robust.SKIP
    robust.require_binary()
    jobs = robust.env_int("DLP_ROBUST_JOBS", 3)
    timeout = robust.env_int("DLP_ROBUST_TIMEOUT", 60)
    only = os.environ.get("DLP_ROBUST_FILTER", "")

    items, missing = [], []
    for rel in manifest_paths(manifest):
        if only and only not in rel:
            continue
        path = os.path.join(PUBLIC, rel)
        if os.path.isfile(path):
            items.append((path, rel))
        else:
            missing.append("%s: listed in MANIFEST.tsv but missing" % rel)
    if not items:
        print("robust_public_pcaps: no captures to run (filter %r)" % only)
        return 1
    print("robust_public_pcaps: %d captures from %s, %d at a time, %d s timeout each"
          % (len(items), PUBLIC, jobs, timeout), flush=True)
    t0 = time.monotonic()
    results = robust.run_all(items, jobs, timeout)
    return robust.summarize("robust_public_pcaps", results, time.monotonic() - t0, jobs,
                            missing)


if __name__ == "__main__":
    sys.exit(main())
