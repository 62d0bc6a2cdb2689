#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
from the repo's own pcaps/ and rules/, byte for byte the same on every run.
The files are committed; run this again when a target's input format or the
sources change, and review the diff. --check writes nothing and exits 1 when
a committed corpus differs from what the sources make now (ctest
fuzz_corpus_current). Standard library only.

  decode: one frame per file: byte 0 = index of the link type in the
          target's table (fuzz_decode.c), then the frame.
  reasm:  segment scripts in fuzz_reasm.c's format.
  rules:  one rule per file, cut from rules/*.yaml, and a few broken ones.
  detect: texts from the rules' examples behind fuzz_detect.c's header.
  app:    the TCP connections (and DNS datagrams) of the HTTP, WebSocket,
          SMTP, FTP and DNS captures as fuzz_app.c's write scripts.
"""

import gzip
import io
import os
import re
import struct
import sys
import zipfile

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


# ---- app --------------------------------------------------------------------
# fuzz_app.c's protocol numbers, by the server's port.
APP_TCP_PORTS = {80: 0, 8080: 0, 25: 1, 587: 1, 21: 2, 53: 3}
APP_UDP_DNS = 4
APP_CAPTURES = ["tcp-http-basic.pcap", "http-chunked-card.pcap", "http-evasions.pcap",
                "http-form-pct40.pcap", "http-gzip-body.pcap", "http-gzip-bomb.pcap",
                "http-ipv6.pcap", "http-keepalive-three.pcap", "http-media-uploads.pcap",
                "http-multipart-csv.pcap", "http-utf16-upload.pcap", "http-websocket.pcap",
                "smtp-auth-pipelining.pcap", "smtp-mime-evasions.pcap",
                "smtp-mime-preamble.pcap", "smtp-mime-qp-base64.pcap",
                "ftp-passive-upload.pcap", "udp-dns.pcap", "dns-tls.pcap",
                "evidence-credentials.pcap", "smtp-commands.pcap", "ftp-commands.pcap",
                "ftp-telnet-iac.pcap", "credential-channel.pcap", "dns-tcp-not-dns.pcap",
                "dns-hidden-bytes.pcap", "http2-h2c.pcap"]
APP_DATA_MAX = 12000   # bytes of a seed's data (ctest replays each 4 times, 1-byte writes too)
APP_FLOWS_MAX = 4      # connections taken from one capture


def l4(linktype, frame):
    """(src, dst, proto, sport, dport, seq, flags, payload) of an Ethernet or
    raw IPv4/IPv6 frame, or None."""
    off = 0
    if linktype == 1:
        etype, off = struct.unpack(">H", frame[12:14])[0], 14
        while etype in (0x8100, 0x88a8):
            etype, off = struct.unpack(">H", frame[off + 2:off + 4])[0], off + 4
        if etype not in (0x0800, 0x86dd):
            return None
    elif linktype != 101:
        return None
    if frame[off] >> 4 == 4:
        ihl, proto = (frame[off] & 15) * 4, frame[off + 9]
        total = struct.unpack(">H", frame[off + 2:off + 4])[0]
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        ip, end = off + ihl, off + total
    elif frame[off] >> 4 == 6:
        proto, plen = frame[off + 6], struct.unpack(">H", frame[off + 4:off + 6])[0]
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        ip, end = off + 40, off + 40 + plen
    else:
        return None
    if proto == 6:
        sport, dport, seq = struct.unpack(">HHI", frame[ip:ip + 8])
        doff, flags = (frame[ip + 12] >> 4) * 4, frame[ip + 13]
        return src, dst, 6, sport, dport, seq, flags, frame[ip + doff:end]
    if proto == 17:
        sport, dport = struct.unpack(">HH", frame[ip:ip + 4])
        return src, dst, 17, sport, dport, 0, 0, frame[ip + 8:end]
    return None


def tcp_flows(linktype, frs):
    """Per connection, in order of first packet: the server port and the
    (dir, bytes) writes, each byte once (retransmissions dropped)."""
    flows, order = {}, []
    for fr in frs:
        p = l4(linktype, fr)
        if p is None or p[2] != 6:
            continue
        src, dst, _, sport, dport, seq, flags, pay = p
        key = tuple(sorted([(src, sport), (dst, dport)]))
        if key not in flows:
            client = (src, sport) if not (flags & 0x12 == 0x12) else (dst, dport)
            flows[key] = {"client": client, "next": {}, "writes": []}
            order.append(key)
        f = flows[key]
        d = 0 if (src, sport) == f["client"] else 1
        if flags & 2:
            f["next"][d] = (seq + 1) & 0xffffffff
            continue
        nxt = f["next"].setdefault(d, seq)
        skip = (nxt - seq) & 0xffffffff
        if skip >= len(pay) or skip > 0x7fffffff:
            continue
        f["writes"].append((d, pay[skip:]))
        f["next"][d] = (seq + len(pay)) & 0xffffffff
    out = []
    for key in order:
        f = flows[key]
        port = f["client"][1] ^ key[0][1] ^ key[1][1]
        if f["writes"]:
            out.append((port, f["writes"]))
    return out


def app_script(header, writes):
    """fuzz_app.c's input for these writes (at most 64 entries, APP_DATA_MAX bytes)."""
    merged = []
    for d, b in writes:
        if merged and merged[-1][0] == d and len(merged[-1][1]) + len(b) <= 0x3fff:
            merged[-1] = (d, merged[-1][1] + b)
        else:
            while len(b) > 0x3fff:
                merged.append((d, b[:0x3fff]))
                b = b[0x3fff:]
            merged.append((d, b))
    entries, data = [], b""
    for d, b in merged[:64]:
        b = b[:APP_DATA_MAX - len(data)]
        if not b:
            break
        entries.append(bytes([d << 7 | len(b) >> 8, len(b) & 0xff]))
        data += b
    return bytes([header, len(entries) - 1]) + b"".join(entries) + data


def app_corpus():
    files = {}
    for cap in APP_CAPTURES:
        linktype, frs = frames(os.path.join(SRC, "pcaps", cap))
        base = cap[:-5]
        taken = 0
        for port, writes in tcp_flows(linktype, frs):
            if port not in APP_TCP_PORTS or taken == APP_FLOWS_MAX:
                continue
            files["%s-%d" % (base, taken)] = app_script(APP_TCP_PORTS[port], writes)
            taken += 1
        dns = [p[7] for p in (l4(linktype, fr) for fr in frs)
               if p is not None and p[2] == 17 and 53 in (p[3], p[4])]
        if dns:
            files["%s-udp" % base] = app_script(APP_UDP_DNS, [(0, b) for b in dns[:8]])
            # the same messages over TCP, each behind its 2-byte length
            tcp = [(0, struct.pack(">H", len(b)) + b) for b in dns[:8]]
            files["%s-tcp" % base] = app_script(3, tcp)
    # small limits (header bits 3-4 = 1) and WebSocket frame_max 100 (bits 5-6 = 1)
    for name in ("http-chunked-card-0", "http-gzip-body-0", "http-multipart-csv-0",
                 "smtp-mime-qp-base64-0", "http-websocket-0"):
        if name in files:
            files[name + "-small"] = bytes([files[name][0] | 0x08 | 0x20]) + files[name][1:]
    files.update(app_chunked())
    files.update(app_regressions())
    return files


def chunked(body, sizes):
    out, pos = b"", 0
    for n in sizes + [len(body)]:
        piece = body[pos:pos + n]
        if piece:
            out += b"%x;ext=1\r\n" % len(piece) + piece + b"\r\n"
        pos += len(piece)
    return out + b"0\r\nTrailer: x\r\n\r\n"


def app_chunked():
    """Chunked bodies for the content stages (fuzz_app.c protocols 5-7),
    with the next message's first bytes after the end."""
    text = b"card 4539 1488 0343 6467 for jane.doe@example.com\n"
    gz = gzip.compress(text * 4, mtime=0)
    form = b"name=Jane+Doe&email=jane.doe%40example.com&card=4539148803436467"
    after = b"GET /next HTTP/1.1\r\n"
    return {
        "chunked-plain": app_script(5, [(0, chunked(text, [7, 20]) + after)]),
        "chunked-gzip": app_script(6, [(0, chunked(gz, [10, 30])[:40]),
                                       (0, chunked(gz, [10, 30])[40:] + after)]),
        "chunked-form": app_script(7, [(0, chunked(form, [5, 5, 5]) + after)]),
    }


def app_regressions():
    """Inputs fuzz_app found bugs with (minimised), one per bug."""
    req = b"GET / HTTP/1.1\r\n\r\n"
    return {
        # http.c: a direction ended before its first byte passed NULL + 0
        # (its unallocated line buffer) to the raw stream (clang UBSan).
        "regress-http-end-null-buffer": app_script(0, [(0, req)]),
        # not a bug: a multipart body without a boundary is noted with its
        # decoded bytes, here more than the direction's (gzip)
        "regress-mime-note-inflated-bytes": app_script(0, [(0, post_gzip_no_boundary())]),
        # not a bug: a stored ZIP member is not bounded by decomp_max (2000
        # with the small limits of header bit 3): its bytes are the wire's
        "regress-zip-stored-member-over-decomp-max": app_script(0x08, [(0, post_stored_zip())]),
        # not a decoder bug: the harness bounded a DNS block by a name's text, but a
        # message holding more than names is reported whole (up to 65535 bytes); DNS
        # over TCP under the small limits, one write whose entry claims 0x3fff bytes
        # and gets what the file has
        "regress-dns-whole-message-block": bytes([0x13, 0, 0x3f, 0xff]) + dns_trailing_cards(),
    }


def dns_trailing_cards():
    """A query for t.example followed by 100 cards, with its TCP length prefix."""
    msg = (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01t\x07example\x00"
           b"\x00\x01\x00\x01" + b"card 4539148803436467 " * 100)
    return struct.pack(">H", len(msg)) + msg


def post_stored_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("staff.csv", date_time=(2020, 1, 1, 0, 0, 0))
        z.writestr(info, b"name,ssn\nJohn,078-05-1120\n" * 120, zipfile.ZIP_STORED)
    body = buf.getvalue()
    return (b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def post_gzip_no_boundary():
    body = gzip.compress(b"name=a b c d e f g h i j\n" * 20, mtime=0)
    return (b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def write(target, files):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        os.remove(os.path.join(d, old))
    for name, data in sorted(files.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%s: %d files" % (target, len(files)))


def check(target, files):
    """The differences between the committed corpus of 'target' and 'files'."""
    d = os.path.join(HERE, target)
    have = set(os.listdir(d)) if os.path.isdir(d) else set()
    bad = ["%s/%s: committed, not made" % (target, n) for n in sorted(have - set(files))]
    for name, data in sorted(files.items()):
        path = os.path.join(d, name)
        if name not in have:
            bad.append("%s/%s: made, not committed" % (target, name))
            continue
        with open(path, "rb") as f:
            if f.read() != data:
                bad.append("%s/%s: differs from what the script makes" % (target, name))
    return bad


def main():
    """--check: compares, writes nothing; exit 1 when a corpus is not what its
    sources make now (a rule example or capture changed without a rerun)."""
    corpora = [("decode", decode_corpus), ("reasm", reasm_corpus), ("rules", rules_corpus),
               ("detect", detect_corpus), ("app", app_corpus)]
    if sys.argv[1:] == ["--check"]:
        bad = [b for target, make in corpora for b in check(target, make())]
        for b in bad:
            print("make-corpus: %s" % b, file=sys.stderr)
        if bad:
            print("make-corpus: rerun tests/fuzz/corpus/make-corpus.py and review the diff",
                  file=sys.stderr)
            return 1
        print("make-corpus: all corpora match their sources")
        return 0
    if sys.argv[1:]:
        print("usage: make-corpus.py [--check]", file=sys.stderr)
        return 2
    for target, make in corpora:
        write(target, make())
    return 0


if __name__ == "__main__":
    sys.exit(main())
