"""robust_garbage: mutated captures made from the repo's own pcaps/*.pcap
(and the pcapng, byte-level mutations only) with a fixed seed, each run
through the sensor in its own process. Pass criteria: robust.py.

Mutations, one to three per file: bit flips (mostly in the first bytes of
a record, where the headers are), truncation at a random point, random
caplen/len fields of a record, duplicated records, two records swapped,
a random link type or snaplen in the file header.

Environment: DLP_GARBAGE_SEED (default 20240611), DLP_GARBAGE_COUNT
(default 200), DLP_ROBUST_JOBS (default 3), DLP_ROBUST_TIMEOUT (default 60).
Usage: run_garbage.py [--out DIR]  (--out: write the captures to DIR and
keep them, e.g. to reproduce a failure; otherwise a temporary directory).
"""

import glob
import os
import random
import shutil
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import robust  # noqa: E402

SEED = robust.env_int("DLP_GARBAGE_SEED", 20240611)
COUNT = robust.env_int("DLP_GARBAGE_COUNT", 200)
PCAPS = os.path.join(robust.SRC, "pcaps")

MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">",
          b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}
# Decoded, related or unknown link types; 0x0400_0000 and up carry FCS bits.
LINKTYPES = [0, 1, 9, 12, 14, 101, 104, 105, 108, 113, 127, 147, 192, 220, 228, 229, 276,
             4096, 0xFFFF, 0x10000001, 0x04000001, 0xFFFFFFFF]
CAPLENS = [0, 1, 13, 14, 20, 33, 54, 65535, 65536, 262144, 262145, 0x7FFFFFFF, 0xFFFFFFFF]


class Pcap:
    """A classic pcap file: header fields and records [ts_sec, ts_frac, caplen, len, data]."""

    def __init__(self, raw):
        self.end = MAGICS[raw[:4]]
        self.head = list(struct.unpack(self.end + "4sHHiIII", raw[:24]))
        self.recs = []
        off = 24
        while off + 16 <= len(raw):
            ts, frac, cap, wire = struct.unpack(self.end + "IIII", raw[off:off + 16])
            self.recs.append([ts, frac, cap, wire, raw[off + 16:off + 16 + cap]])
            off += 16 + cap

    def bytes(self):
        out = [struct.pack(self.end + "4sHHiIII", *self.head)]
        for ts, frac, cap, wire, data in self.recs:
            out.append(struct.pack(self.end + "IIII", ts, frac, cap, wire))
            out.append(data)
        return b"".join(out)


def mut_linktype(rng, p):
    p.head[6] = rng.choice(LINKTYPES) if rng.random() < 0.8 else rng.getrandbits(32)
    return "linktype%d" % p.head[6]


def mut_snaplen(rng, p):
    p.head[5] = rng.choice(CAPLENS)
    return "snaplen%d" % p.head[5]


def mut_lengths(rng, p):
    if not p.recs:
        return None
    i = rng.randrange(len(p.recs))
    r = p.recs[i]
    what = rng.randrange(4)
    if what == 0:
        r[2] = rng.choice(CAPLENS)          # data no longer where caplen says
    elif what == 1:
        r[3] = rng.choice([0, 1, r[2] - 1 if r[2] else 0, rng.getrandbits(32)])
    elif what == 2:                         # consistent short caplen: a snapped frame
        cut = rng.randrange(len(r[4]) + 1)
        r[2], r[4] = cut, r[4][:cut]
    else:
        r[2], r[3] = rng.getrandbits(16), rng.getrandbits(32)
    return "len%d.%d" % (i, what)


def mut_duplicate(rng, p):
    if not p.recs:
        return None
    i = rng.randrange(len(p.recs))
    for _ in range(rng.randint(1, 20)):
        p.recs.insert(rng.randrange(len(p.recs) + 1), list(p.recs[i]))
    return "dup%d" % i


def mut_swap(rng, p):
    if len(p.recs) < 2:
        return None
    i, j = rng.sample(range(len(p.recs)), 2)
    p.recs[i], p.recs[j] = p.recs[j], p.recs[i]
    return "swap%d.%d" % (i, j)


STRUCT_MUTATIONS = [mut_linktype, mut_snaplen, mut_lengths, mut_lengths, mut_duplicate,
                    mut_duplicate, mut_swap]


def flip_bits(rng, raw, record_starts):
    if not raw:
        return raw, "flip0"
    raw = bytearray(raw)
    n = rng.randint(1, 8)
    for _ in range(n):
        if record_starts and rng.random() < 0.7:
            pos = rng.choice(record_starts) + 16 + rng.randrange(64)
        else:
            pos = rng.randrange(len(raw))
        if pos < len(raw):
            if rng.random() < 0.25:
                raw[pos] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x01])
            else:
                raw[pos] ^= 1 << rng.randrange(8)
    return bytes(raw), "flip%d" % n


def record_starts(raw, end):
    starts, off = [], 24
    while off + 16 <= len(raw):
        starts.append(off)
        off += 16 + struct.unpack(end + "I", raw[off + 8:off + 12])[0]
    return starts


def mutate(rng, raw):
    """Returns (mutated bytes, name of the mutations)."""
    names = []
    classic = raw[:4] in MAGICS
    k = rng.randint(1, 3)
    if classic and rng.random() < 0.75:
        p = Pcap(raw)
        for _ in range(k):
            name = rng.choice(STRUCT_MUTATIONS)(rng, p)
            if name:
                names.append(name)
        raw = p.bytes()
        k = 1 if rng.random() < 0.4 else 0
    for _ in range(k):
        if rng.random() < 0.6:
            starts = record_starts(raw, MAGICS[raw[:4]]) if raw[:4] in MAGICS else []
            raw, name = flip_bits(rng, raw, starts)
        else:
            cut = rng.randrange(min(len(raw), 48) + 1 if rng.random() < 0.1 else len(raw) + 1)
            raw, name = raw[:cut], "cut%d" % cut
        names.append(name)
    return raw, "-".join(names) or "none"


def generate(outdir):
    sources = sorted(glob.glob(os.path.join(PCAPS, "*.pcap")) +
                     glob.glob(os.path.join(PCAPS, "*.pcapng")))
    if not sources:
        raise SystemExit("robust_garbage: no captures in %s" % PCAPS)
    blobs = []
    for s in sources:
        with open(s, "rb") as f:
            blobs.append(os.path.splitext(os.path.basename(s)) + (f.read(),))
    rng = random.Random(SEED)
    items = []
    for n in range(COUNT):
        stem, ext, raw = blobs[n % len(blobs)]
        data, what = mutate(rng, raw)
        name = "g%03d-%s-%s%s" % (n, stem, what[:60], ext)
        path = os.path.join(outdir, name)
        with open(path, "wb") as f:
            f.write(data)
        items.append((path, name))
    return items


def keep(results):
    """Copies failing captures into the build tree, where the summary points."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    dest = os.path.join(robust.BUILD, "robust-garbage-failures")
    os.makedirs(dest, exist_ok=True)
    for r in failed:
        path = os.path.join(dest, os.path.basename(r.path))
        shutil.copyfile(r.path, path)
        r.path = path
    print("robust_garbage: failing captures copied to %s (all of them: %s --out DIR)"
          % (dest, os.path.abspath(__file__)))


def main():
    out = None
    if len(sys.argv) == 3 and sys.argv[1] == "--out":
        out = os.path.abspath(sys.argv[2])
    elif len(sys.argv) != 1:
        print(__doc__)
        return 2
    robust.require_binary()
    jobs = robust.env_int("DLP_ROBUST_JOBS", 3)
    timeout = robust.env_int("DLP_ROBUST_TIMEOUT", 60)
    tmp = None
    if out is None:
        tmp = tempfile.mkdtemp(prefix="dlp-garbage-")
        out = tmp
    else:
        os.makedirs(out, exist_ok=True)
    try:
        items = generate(out)
        print("robust_garbage: %d captures (seed %d) in %s, %d at a time"
              % (len(items), SEED, out, jobs), flush=True)
        t0 = time.monotonic()
        results = robust.run_all(items, jobs, timeout, progress_every=0)
        if tmp is not None:
            keep(results)
        return robust.summarize("robust_garbage", results, time.monotonic() - t0, jobs)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
