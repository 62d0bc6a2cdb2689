#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
from the repo's own pcaps/ and rules/, byte for byte the same on every run.
The files are committed; run this again when a target's input format or the
sources change, and review the diff. Standard library only.

  decode: one frame per file: byte 0 = index of the link type in the
          target's table (fuzz_decode.c), then the frame.
  reasm:  segment scripts in fuzz_reasm.c's format.
  rules:  one rule per file, cut from rules/*.yaml, and a few broken ones.
  detect: texts from the rules' examples behind fuzz_detect.c's header.
"""

import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# fuzz_decode.c's links[] (index -> DLT), for the link types of pcaps/.
DECODE_LINK_INDEX = {1: 0, 113: 1, 276: 2, 12: 3, 101: 5, 0: 6, 108: 7}
# (capture, frame index, name): TCP with data, VLAN tags, IPv6 extension
# headers, fragments, UDP, and each link type.
DECODE_FRAMES = [
    ("tcp-http-basic.pcap", 0, "eth-tcp-syn"),
    ("tcp-http-basic.pcap", 3, "eth-tcp-http-post"),
    ("linktype-vlan.pcap", 3, "vlan-tcp-data"),
    ("linktype-qinq.pcap", 3, "qinq-tcp-data"),
    ("linktype-sll.pcap", 3, "sll-tcp-data"),
    ("linktype-sll2.pcap", 3, "sll2-tcp-data"),
    ("linktype-raw.pcap", 3, "raw-ipv4-tcp-data"),
    ("linktype-raw.pcap", 13, "raw-ipv6-tcp-data"),
    ("linktype-null.pcap", 3, "null-tcp-data"),
    ("linktype-loop.pcap", 3, "loop-tcp-data"),
    ("ipv6-ext-headers.pcap", 3, "eth-ipv6-ext-headers"),
    ("frag-ipv4.pcap", 0, "eth-ipv4-fragment-0"),
    ("frag-ipv4.pcap", 1, "eth-ipv4-fragment-1"),
    ("frag-ipv6.pcap", 0, "eth-ipv6-fragment-0"),
    ("frag-ipv6.pcap", 1, "eth-ipv6-fragment-1"),
    ("udp-dns.pcap", 0, "eth-udp-dns"),
]


def frames(path):
    raw = open(path, "rb").read()
    end = "<" if raw[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(end + "I", raw[20:24])[0]
    out, off = [], 24
    while off + 16 <= len(raw):
        cap = struct.unpack(end + "I", raw[off + 8:off + 12])[0]
        out.append(raw[off + 16:off + 16 + cap])
        off += 16 + cap
    return linktype, out


def decode_corpus():
    files = {}
    for cap, i, name in DECODE_FRAMES:
        linktype, fr = frames(os.path.join(SRC, "pcaps", cap))
        files[name] = bytes([DECODE_LINK_INDEX[linktype]]) + fr[i]
    return files


# ---- reasm ------------------------------------------------------------------
SYN, ACK, FIN, RST = 2, 4, 8, 16


def seg(dir_, flags, mode=0, s1=0, s2=0, ack=0, length=0, missing=0, slot=0, close=False,
        payload=b""):
    h0 = dir_ | flags | slot << 5 | mode << 6
    h5 = (length >> 8) & 7 | missing << 3 | (0x80 if close else 0)
    return bytes([h0, s1 & 0xff, s2 & 0xff, ack & 0xff, length & 0xff, h5]) + payload


def reasm_corpus():
    # byte 0: bit 0 small bounds, bit 1 seq-pattern payload, bits 2-5 ISNs
    hs = [seg(0, SYN), seg(1, SYN | ACK), seg(0, ACK)]
    data = [seg(0, ACK, length=40), seg(1, ACK, length=30), seg(0, ACK, length=40)]
    fin = [seg(0, FIN | ACK), seg(1, FIN | ACK), seg(0, ACK)]
    ooo = [seg(0, ACK, mode=1, s1=0, s2=100, length=50),  # ahead: held
           seg(0, ACK, mode=1, s1=0, s2=50, length=50),
           seg(0, ACK, length=50),                         # fills the hole
           seg(0, ACK, mode=3, s1=0, s2=1, length=120)]    # retransmits from the ISN
    overlap = [seg(0, ACK, length=60), seg(0, ACK, mode=0, s1=-30, length=60),
               seg(0, ACK, mode=0, s1=-10, length=5, missing=2)]
    gap_acked = [seg(0, ACK, mode=1, s1=4, s2=0, length=80),
                 seg(1, ACK, ack=0x80), seg(1, ACK, ack=0)]
    wrap = [seg(0, ACK, length=200) for _ in range(4)]
    two = [seg(0, SYN, slot=0), seg(0, SYN, slot=1), seg(0, ACK, slot=1, length=100),
           seg(0, ACK, mode=1, s2=200, slot=0, length=200),
           seg(0, ACK, mode=1, s2=200, slot=1, length=200), seg(0, ACK, slot=0, close=True),
           seg(0, RST, slot=1)]
    reuse = hs + data + fin + [seg(0, SYN, mode=1, s1=0x10), seg(1, SYN | ACK)] + data
    raw_payload = [seg(0, ACK, length=8, payload=b"GET / HT"),
                   seg(0, ACK, mode=0, s1=-4, length=8, payload=b"XXXXP/1.")]
    return {
        "handshake-data-fin": b"\x02" + b"".join(hs + data + fin),
        "ooo-small-bounds": b"\x03" + b"".join(hs + ooo + fin),
        "overlap-truncated": b"\x02" + b"".join(hs + overlap + fin),
        "gap-acked-midstream": b"\x02" + b"".join(data + gap_acked),
        "seq-wrap": b"\x0a" + b"".join(hs + wrap + fin),
        "two-sessions-worker-cap": b"\x03" + b"".join(two + ooo),
        "port-reuse": b"\x02" + b"".join(reuse),
        "raw-conflict": b"\x00" + b"".join(hs + raw_payload + fin),
    }


# ---- rules ------------------------------------------------------------------
BROKEN_RULES = {
    "err-unknown-key.yaml": "rules:\n  - id: 1\n    name: a.b\n    treshold: 2\n",
    "err-duplicate-id.yaml": (
        "rules:\n"
        "  - {id: 7, name: a.one, description: d, category: secret, severity: low,"
        " patterns: ['abc']}\n"
        "  - {id: 7, name: a.two, description: d, category: secret, severity: low,"
        " patterns: ['abd']}\n"),
    "err-types.yaml": (
        "rules:\n  - id: \"12\"\n    name: A-B\n    description: ~\n    category: public\n"
        "    severity: 3\n    patterns: []\n    threshold: 1001\n    enabled: yes\n"),
    "err-alias.yaml": "x: &a [1, 2]\nrules:\n  - *a\n",
    "err-two-docs.yaml": "rules: []\n---\nrules: []\n",
    "ok-flags-validator.yaml": (
        "rules:\n  - id: 100001\n    name: local.test_card\n    description: >-\n"
        "      folded\n      text\n    category: linkable\n    severity: critical\n"
        "    patterns:\n      - '\\bT[0-9]{16}\\b'\n    flags: [caseless, multiline]\n"
        "    validator: luhn\n    threshold: 3\n    enabled: false\n"
        "    examples: {match: ['T4539526018159083'], no_match: ['x']}\n"),
}


def rules_corpus():
    files = dict(BROKEN_RULES)
    for name in ("pii.yaml", "secrets.yaml"):
        text = open(os.path.join(SRC, "rules", name), encoding="utf-8").read()
        body = text[text.index("\nrules:\n") + len("\nrules:\n"):]
        for i, rule in enumerate(re.split(r"\n(?=  - id:)", body)):
            files["%s-%d.yaml" % (name[:-5], i)] = "rules:\n" + rule.rstrip("\n") + "\n"
    return {k: v.encode("utf-8") for k, v in files.items()}


# ---- detect -----------------------------------------------------------------
def detect_corpus():
    texts = []
    for name in ("pii.yaml", "secrets.yaml"):
        text = open(os.path.join(SRC, "rules", name), encoding="utf-8").read()
        block = re.findall(r"\n      match:\n((?:        - .*\n)+)", text)
        for b in block:
            for line in b.splitlines():
                s = line.strip()[2:]
                if s[:1] in "'\"":
                    s = s[1:-1].replace("''", "'")
                texts.append(s)
    files = {}
    # byte 0: bits 0-2 = chunk-size bytes - 1, bit 7 = block scan too
    headers = [bytes([0x00, 0xf9]), bytes([0x00, 0x01]), bytes([0x82, 0x07, 0x00, 0x03]),
               bytes([0x01, 0x05, 0x0b])]
    for i, t in enumerate(texts[::max(1, len(texts) // 12)][:12]):
        files["example-%02d" % i] = headers[i % len(headers)] + t.encode("utf-8")
    joined = " | ".join(texts).encode("utf-8")
    files["all-examples-chunked"] = bytes([0x83, 0x0d, 0x40, 0x00, 0x09]) + joined
    # Regression (found by fuzz_detect): one 30-byte write; Hyperscan 5.4.0's
    # AVX512VBMI runtime reads past its end (faults when a page ends there).
    files["regress-hs-avx512vbmi-overread"] = (b"\x00\xf9" + b"\x00\x00\x00A" + b"\x00" * 14 +
                                               b"`771-00-9916")
    return files


def write(target, files):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for name, data in sorted(files.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%s: %d files" % (target, len(files)))


def main():
    write("decode", decode_corpus())
    write("reasm", reasm_corpus())
    write("rules", rules_corpus())
    write("detect", detect_corpus())
    return 0


if __name__ == "__main__":
    sys.exit(main())
