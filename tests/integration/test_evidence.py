"""Integration: evidence captures (--evidence-dir), the real binary over pcaps/. One
file DIR/<flow_id>.pcap per flow that raised a dlp event and none for the others, mode
0600, a pcap any reader takes (parsed here by hand), the flow's handshake in it, the
values found overwritten with 'X' wherever and however they travelled (raw, split and
retransmitted, gzip'd, base64'd, percent-encoded, in datagrams) while the rest stays
readable, and so the credentials that are no values (SMTP AUTH, FTP PASS/ACCT, HTTP
Authorization and cookies); --evidence-raw keeps them; an existing file is never replaced; the bounds and
the configuration keys (outputs.evidence) work."""

import base64
import gzip
import hashlib
import json
import os
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time
import unittest

from sensor import BINARY, CACHE, KEY_FILE, run, pcap

CARD = b"4539148803436467"
CARD_SPACED = b"4539 1488 0343 6467"
CARD2 = b"5425233430109903"
SSN = b"536-22-8417"
AWS = b"AKIAIOSFODNN7EXAMPLE"
EMAIL1, EMAIL2 = b"jane.doe@example.com", b"john.smith@example.org"
IBAN = b"GB82WEST12345698765432"


def slurp(path):
    with open(path, "rb") as f:
        return f.read()


def sha(path):
    return hashlib.sha256(slurp(path)).hexdigest()


def read_pcap(path):
    """[(ts, frame)] of a pcap with microsecond timestamps; checks the layout."""
    data = slurp(path)
    magic, vmaj, vmin, _, _, snap, lt = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xa1b2c3d4 and (vmaj, vmin) == (2, 4), path
    assert lt == 1, "link type %d" % lt
    out, off = [], 24
    while off < len(data):
        sec, usec, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        assert usec < 1000000 and incl <= orig and incl <= snap, path
        out.append((sec + usec / 1e6, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    assert off == len(data), "trailing bytes in " + path
    return out


def tcp_fields(frame):
    """(sport, dport, flags, seq, payload) of an Ethernet/IPv4|IPv6/TCP frame, or None."""
    et = struct.unpack("!H", frame[12:14])[0]
    if et == 0x0800:
        ihl = (frame[14] & 15) * 4
        proto, l4 = frame[23], 14 + ihl
        end = 14 + struct.unpack("!H", frame[16:18])[0]
    elif et == 0x86DD:
        proto, l4 = frame[20], 54
        end = l4 + struct.unpack("!H", frame[18:20])[0]
    else:
        return None
    if proto == 17:
        sport, dport = struct.unpack("!HH", frame[l4:l4 + 4])
        return sport, dport, 0, 0, frame[l4 + 8:end]
    if proto != 6:
        return None
    sport, dport, seq = struct.unpack("!HHI", frame[l4:l4 + 8])
    doff, flags = frame[l4 + 12] >> 4, frame[l4 + 13]
    return sport, dport, flags, seq, frame[l4 + doff * 4:end]


def initiator_stream(path):
    """The initiator's TCP payload in an evidence file, in sequence order, each byte once."""
    fields = [tcp_fields(f) for _, f in read_pcap(path)]
    client, segs = fields[0][0], {}
    for f in fields:
        if f[0] == client and f[4]:
            segs.setdefault(f[3], f[4])
    out, nxt = b"", None
    for seq in sorted(segs):
        data = segs[seq] if nxt is None else segs[seq][max(0, nxt - seq):]
        out += data
        nxt = seq + len(segs[seq]) if nxt is None else max(nxt, seq + len(segs[seq]))
    return out


# Credentials (pcaps/README.md, evidence-credentials.pcap), by the flow's client port: no
# rule finds them (but Basic), yet no evidence file may keep them (--evidence-raw does)
BEARER = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLTQy"
COOKIE2 = b"session=c2Vzc2lvbi10b2tlbi00Mg; theme=dark"
CREDENTIALS = {
    47050: [base64.b64encode(b"\0carol@example.com\0Spring-2024!"),
            base64.b64encode(b"carol@example.com"), base64.b64encode(b"Spring-2025!")],
    47051: [b"Autumn-2025!", b"Winter-2026!", b"acct-7781-billing"],
    47052: [base64.b64encode(b"alice:Tr0ub4dor&3"),
            base64.b64encode(b"bob:correct horse battery staple"), b"c2Vzc2lvbi10b2tlbi00MQ",
            BEARER, COOKIE2],
}


def encodings(v):
    """A value as it may travel: itself, percent-encoded, and base64 at each alignment."""
    out = {v, v.replace(b"@", b"%40"), v.replace(b" ", b"+")}
    for pad in range(3):
        b = base64.b64encode(b"\0" * pad + v)[4 if pad else 0:]
        out.add(b[4:-4] if len(b) > 12 else b)
    return out


def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    """An Ethernet/IPv4/TCP frame (checksums left 0: the sensor does not check them)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 1, 0, 64, 6, 0,
                     bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


def upload_frames():
    c, s, cp, sp = "10.0.0.50", "198.51.100.9", 43000, 9000
    out = [frame(c, s, cp, sp, 1000, 0, 0x02), frame(s, c, sp, cp, 5000, 1001, 0x12),
           frame(c, s, cp, sp, 1001, 5001, 0x10)]
    seq = 1001
    for i in range(20):
        data = (b"card=" + CARD + b"\n" if i == 0 else b"") + b"%03d " % i * 250
        data = data[:1000]
        out.append(frame(c, s, cp, sp, seq, 5001, 0x18, data))
        seq += len(data)
    out.append(frame(c, s, cp, sp, seq, 5001, 0x11))
    out.append(frame(s, c, sp, cp, 5001, seq + 1, 0x11))
    out.append(frame(c, s, cp, sp, seq + 1, 5002, 0x10))
    return out


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000, 1000 * i, len(fr), len(fr)) + fr)


def check_flow(tc, path, values, keep=()):
    """The file parses, opens with the TCP handshake (if TCP), holds none of the
    values in any form, holds X runs, still holds the bytes in 'keep', and the
    replies' payload (the direction not inspected) is all X."""
    pkts = read_pcap(path)
    fields = [tcp_fields(f) for _, f in pkts]
    blob = b"".join(f for _, f in pkts)
    if fields[0][2] != 0:  # TCP: SYN, SYN-ACK, ACK first
        tc.assertEqual([f[2] & 0x12 for f in fields[:3]], [0x02, 0x12, 0x10], path)
    client = fields[0][0]
    for f in fields:
        if f[0] != client:
            tc.assertEqual(f[4], b"X" * len(f[4]), "%s: a reply keeps its payload" % path)
    for v in values:
        for enc in encodings(v):
            tc.assertNotIn(enc, blob, "%s holds %r" % (path, enc))
    tc.assertIn(b"XXXXXXXX", blob)
    for k in keep:
        tc.assertIn(k, blob, path)
    return pkts


class Evidence(unittest.TestCase):
    def capture(self, name, *extra, expect_files=None):
        """Runs over pcaps/NAME with --evidence-dir; returns (run, dir, {flow_id: path})."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        d = os.path.join(tmp.name, "ev")
        r = run("-r", pcap(name), "--evidence-dir", d, "--log-flows", *extra)
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        files = {int(f[:-5]): os.path.join(d, f) for f in os.listdir(d)}
        self.assertTrue(all(f.endswith(".pcap") for f in os.listdir(d)))
        alerted = {e["flow_id"] for e in r.of("dlp")}
        quiet = {e["flow_id"] for e in r.of("flow")} - alerted
        self.assertEqual(set(files), alerted, name)
        self.assertFalse(quiet & set(files))
        if expect_files is not None:
            self.assertEqual(len(files), expect_files)
        st = r.stats["evidence"]
        self.assertEqual(st["files"], len(files))
        self.assertEqual(st["bytes"], sum(os.path.getsize(p) for p in files.values()))
        self.assertEqual(st["write_errors"], 0)
        for p in files.values():
            self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600, p)
        return r, d, files

    def test_split_out_of_order_retransmitted_card(self):
        r, d, files = self.capture("detect-card-out-of-order.pcap", expect_files=1)
        (path,) = files.values()
        pkts = check_flow(self, path, [CARD], keep=[b"POST /n HTTP/1.1", b"pay.example.com",
                                                   b" thanks "])
        self.assertEqual(len(pkts), 25)  # every packet, duplicate included
        # of the request, exactly the card's 16 bytes; the reply whole
        fields = [tcp_fields(p) for _, p in pkts]
        client = [f[4] for f in fields if f[1] == 80]
        reply = sum(len(f[4]) for f in fields if f[0] == 80)
        self.assertGreater(reply, 0)
        self.assertEqual(sum(c.count(b"X") for c in client), 16)
        self.assertIn(b" card " + b"X" * 16 + b" thanks", b"".join(client))
        self.assertEqual(r.stats["evidence"]["redacted_bytes"], 16 + reply)

    def test_gzip_body_compressed_bytes_overwritten(self):
        r, d, files = self.capture("http-gzip-body.pcap", expect_files=1)
        (path,) = files.values()
        check_flow(self, path, [SSN])  # the request as decoded: its span; the reply whole
        blob = slurp(path)
        body = [tcp_fields(f)[4] for _, f in read_pcap(pcap("http-gzip-body.pcap"))]
        (seg,) = [b for b in body if b"\x1f\x8b\x08" in b]
        z = seg[seg.index(b"\x1f\x8b\x08"):]
        self.assertEqual(gzip.decompress(z).count(SSN), 1)
        self.assertNotIn(b"\x1f\x8b\x08", blob)
        # not 12 bytes of the compressed body are left: nothing can be decoded from it
        for k in range(len(z) - 12):
            self.assertNotIn(z[k:k + 12], blob)

    def test_multipart_values_exact_rest_readable(self):
        r, d, files = self.capture("http-multipart-csv.pcap", expect_files=1)
        (path,) = files.values()
        pkts = check_flow(self, path, [CARD, EMAIL1],
                          keep=[b'filename="customers.csv"', b"name,email,card", b"Jane Doe,",
                                b"Content-Length: 287"])
        reply = sum(len(f[4]) for f in (tcp_fields(p) for _, p in pkts) if f[0] == 80)
        self.assertEqual(r.stats["evidence"]["redacted_bytes"], len(CARD) + len(EMAIL1) + reply)

    def test_smtp_qp_and_base64(self):
        r, d, files = self.capture("smtp-mime-qp-base64.pcap", expect_files=1)
        (path,) = files.values()
        att = base64.encodebytes(b"name,card\r\nJane Doe," + CARD2 + b"\r\n")
        vals = [SSN, SSN[:6] + b"=\r\n" + SSN[6:], CARD, CARD2] + att.split()
        check_flow(self, path, vals, keep=[b"QUIT\r\n"])

    def test_smtp_envelope_read_again_from_held_bytes(self):
        """The client pipelines a message, a second envelope and the second message's
        Subject (the card) behind DATA, no reply seen: the decoder holds them, then reads
        them again when the bound is passed, two writes later; the card, in bytes taken
        before the write in which the envelope was read, is still overwritten."""
        r, d, files = self.capture("evidence-smtp-held-envelope.pcap", expect_files=1)
        self.assertEqual([m["masked"] for e in r.of("dlp") for m in e["dlp"]["matches"]],
                         ["491761******1008"])
        (path,) = files.values()
        check_flow(self, path, [b"4917612345671008"], keep=[b"EHLO client.example", b"QUIT\r\n"])

    def test_udp_datagrams_whole(self):
        r, d, files = self.capture("detect-udp-datagrams.pcap", expect_files=1)
        (path,) = files.values()
        pkts = check_flow(self, path, [AWS, CARD])
        payloads = [tcp_fields(f)[4] for _, f in pkts]
        self.assertEqual(len(payloads), 2)
        self.assertEqual(payloads, [b"X" * len(p) for p in payloads])

    def test_demo_every_alerted_flow(self):
        r, d, files = self.capture("demo.pcap", expect_files=6)
        by_port = {e["src_port"]: e["flow_id"] for e in r.of("dlp")}
        for port, vals, keep in [
                (45001, [CARD_SPACED, EMAIL1], []),
                (45002, [SSN, EMAIL2], [b"POST /v1/profile HTTP/1.1", b'"John Smith"']),
                (45003, [b"GB82 WEST 1234 5698 7654 32"], []),
                (45004, [CARD], [b"POST /upload HTTP/1.1", b"Meeting notes, synthetic."]),
                (45005, [EMAIL1, b"1984-03-12", b"94107", b"Jane Doe,1984"],
                 [b"QUIT\r\n"]),
                (45008, [SSN, CARD_SPACED, IBAN], [b'EXPORT customer="Jane Doe" ssn='])]:
            check_flow(self, files[by_port[port]], vals, keep)

    def test_rescan_finds_nothing_raw_finds_all(self):
        for name in ("demo.pcap", "detect-card-out-of-order.pcap", "http-gzip-body.pcap",
                     "smtp-mime-qp-base64.pcap", "detect-udp-datagrams.pcap"):
            r, d, files = self.capture(name)
            again = run("-r", d)
            self.assertEqual(again.status, 0, again.stderr)
            self.assertEqual(again.of("dlp"), [], name)
            r2, d2, files2 = self.capture(name, "--evidence-raw")
            self.assertIn("evidence captures keep raw values", r2.stderr)
            self.assertEqual(r2.stats["evidence"]["redacted_bytes"], 0)
            again = run("-r", d2)
            self.assertEqual(sorted((e["flow_id"], e["dlp"]["rule"]) for e in again.of("dlp")),
                             sorted((e["flow_id"], e["dlp"]["rule"]) for e in r2.of("dlp")),
                             name)

    def test_credentials_overwritten(self):
        """SMTP AUTH lines and answers, FTP PASS and ACCT lines, HTTP Authorization,
        Proxy-Authorization and Cookie values, before and after each flow's value (which
        its own span does not reach): overwritten, the lines around them readable."""
        r, d, files = self.capture("evidence-credentials.pcap", expect_files=3)
        by_port = {e["src_port"]: e["flow_id"] for e in r.of("dlp")}
        self.assertEqual(sorted(by_port), sorted(CREDENTIALS))
        cards = {47050: b"4485923177450623", 47051: b"4556737586901230",
                 47052: b"4024007138567424"}
        # (a value found in a command line takes the lines before it along: its span)
        keep = {47050: [b"\nQUIT\r\n"],
                47051: [b"REIN\r\nUSER dave\r\n", b"\nQUIT\r\n"],
                47052: [b"GET /logout HTTP/1.1\r\nHost: creds.example.com\r\nAuthorization: " +
                        b"X" * len(b"Bearer " + BEARER) + b"\r\nCookie: " + b"X" * len(COOKIE2) +
                        b"\r\nAccept: */*\r\n\r\n"]}
        for port, creds in CREDENTIALS.items():
            path = files[by_port[port]]
            check_flow(self, path, [cards[port]] + creds)
            stream = initiator_stream(path)
            for c in creds:
                self.assertNotIn(c, stream, "%d keeps %r" % (port, c))
            for k in keep[port]:
                self.assertIn(k, stream, port)
        r2, d2, files2 = self.capture("evidence-credentials.pcap", "--evidence-raw")
        for port, creds in CREDENTIALS.items():
            stream = initiator_stream(files2[by_port[port]])
            for c in creds + [cards[port]]:
                self.assertIn(c, stream, "--evidence-raw: %d loses %r" % (port, c))

    def test_credentials_in_command_captures(self):
        """The AUTH PLAIN response that spells a card (smtp-commands.pcap) and the PASS and
        ACCT argument (ftp-commands.pcap) are in no evidence file."""
        for name, cred in (("smtp-commands.pcap", b"4024880984084789"),
                           ("ftp-commands.pcap", b"4929826464610995")):
            r, d, files = self.capture(name)
            self.assertTrue(files, name)
            for path in files.values():
                check_flow(self, path, [cred])
                self.assertNotIn(cred, initiator_stream(path), path)

    def test_socks5_password_overwritten(self):
        """proxy-tunnels.pcap :48003: the RFC 1929 password of a SOCKS5 handshake is a
        credential, in no evidence file; the user name and the request after it stay."""
        r, d, files = self.capture("proxy-tunnels.pcap")
        fid = [e["flow_id"] for e in r.of("dlp") if e["src_port"] == 48003][0]
        check_flow(self, files[fid], [b"5204730081225505", b"Tr0ub4dor&3-proxy"],
                   keep=[b"\x05alice\x11"])
        r2, d2, files2 = self.capture("proxy-tunnels.pcap", "--evidence-raw")
        self.assertIn(b"Tr0ub4dor&3-proxy", initiator_stream(files2[fid]))

    def test_raw_keeps_values(self):
        r, d, files = self.capture("detect-card-out-of-order.pcap", "--evidence-raw")
        (path,) = files.values()
        frames = read_pcap(path)
        self.assertIn(b" " + CARD + b" thanks", b"".join(f for _, f in frames))
        self.assertEqual(frames, read_pcap(pcap("detect-card-out-of-order.pcap")))

    def test_existing_files_never_replaced(self):
        r, d, files = self.capture("demo.pcap", expect_files=6)
        before = {p: sha(p) for p in files.values()}
        again = run("-r", pcap("demo.pcap"), "--evidence-dir", d, "--evidence-raw")
        self.assertEqual(again.status, 0, again.stderr)
        self.assertEqual(again.stats["evidence"]["write_errors"], 6)
        self.assertEqual(again.stats["evidence"]["files"], 0)
        self.assertIn("File exists", again.stderr)
        self.assertEqual(before, {p: sha(p) for p in files.values()})

    def test_bad_directory_is_usage_error(self):
        r = run("-r", pcap("demo.pcap"), "--evidence-dir", "/nonexistent-dlp/evidence")
        self.assertEqual(r.status, 2)
        self.assertIn("/nonexistent-dlp/evidence", r.stderr)

    def config(self, text):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "c.yaml")
        with open(path, "w") as f:
            f.write(text.replace("DIR", os.path.join(tmp.name, "ev")))
        return path, os.path.join(tmp.name, "ev")

    def test_config_keys_and_total_bound(self):
        c, d = self.config("outputs:\n  evidence:\n    dir: DIR\n    max_total_bytes: 64k\n"
                           "    max_flow_bytes: 1m\n    prealert_bytes: 128k\n"
                           "    prealert_packets: 256\n    memcap: 64m\n    raw: false\n")
        r = run("-c", c, "-r", pcap("reload-traffic.pcap"))
        self.assertEqual(r.status, 0, r.stderr)
        st = r.stats["evidence"]
        n = len(os.listdir(d))
        self.assertEqual(len(r.of("dlp")), 400)
        self.assertEqual(st["files"], n)
        self.assertGreater(n, 10)
        self.assertLess(n, 400)
        self.assertLessEqual(st["bytes"], 64 * 1024)
        self.assertEqual(st["total_cap_reached"], 400 - n)
        self.assertEqual(r.stderr.count("no more capture files are written"), 1)
        bad, _ = self.config("outputs:\n  evidence:\n    dir: DIR\n    bogus: 1\n")
        r = run("-c", bad, "-r", pcap("demo.pcap"))
        self.assertEqual(r.status, 2)
        self.assertIn("outputs.evidence.bogus: unknown key", r.stderr)

    def test_per_flow_bound_and_prealert_buffer(self):
        """A raw TCP upload: handshake, the card in the first of 20 data segments, FIN.
        Two packets of pre-alert buffer lose the handshake (oldest first); 4 KiB per
        flow keeps the packets up to the first that does not fit, and counts the rest."""
        c, d = self.config("outputs:\n  evidence:\n    dir: DIR\n    max_flow_bytes: 4k\n"
                           "    prealert_packets: 2\n")
        frames = upload_frames()
        src = os.path.join(os.path.dirname(c), "upload.pcap")
        write_pcap(src, frames)
        r = run("-c", c, "-r", src)
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(len(r.of("dlp")), 1)
        (name,) = os.listdir(d)
        got = [p for _, p in read_pcap(os.path.join(d, name))]
        # The event goes out once the value's lookahead is scanned (its segment or the
        # next): the two packets before it are what the pre-alert buffer still holds.
        k = frames.index(got[0].replace(b"card=" + b"X" * 16, b"card=" + CARD))
        self.assertIn(k, (2, 3))
        kept, size, truncated = frames[k:k + 2], len(frames[k]) + len(frames[k + 1]), 0
        for f in frames[k + 2:]:
            if truncated or size + len(f) > 4096:
                truncated += 1  # from the first packet that does not fit on, nothing
            else:
                kept.append(f)
                size += len(f)
        st = r.stats["evidence"]
        self.assertEqual(st["dropped_prebuffer"], k)
        self.assertEqual(st["flow_truncated"], truncated)
        self.assertGreater(truncated, 10)
        self.assertEqual(len(got), len(kept))
        self.assertEqual([g.replace(b"X", b"") for g in got],
                         [f.replace(CARD, b"") for f in kept])
        self.assertIn(b"card=" + b"X" * 16, b"".join(got))


def tcp_flow(cport, segments, skip=(), sport=9000, c="10.0.0.50", s="198.51.100.9"):
    """Handshake, the client's segments in order (those at the indexes in 'skip' left out
    of the capture: the receiver's loss, a gap), FINs. Returns (frames, client stream,
    {index: stream offset of segment index})."""
    out = [frame(c, s, cport, sport, 1000, 0, 0x02), frame(s, c, sport, cport, 5000, 1001, 0x12),
           frame(c, s, cport, sport, 1001, 5001, 0x10)]
    seq, at = 1001, {}
    for i, data in enumerate(segments):
        at[i] = seq - 1001
        if i not in skip:
            out.append(frame(c, s, cport, sport, seq, 5001, 0x18, data))
        seq += len(data)
    out += [frame(c, s, cport, sport, seq, 5001, 0x11), frame(s, c, sport, cport, 5001, seq + 1, 0x11),
            frame(c, s, cport, sport, seq + 1, 5002, 0x10)]
    return out, b"".join(segments), at


def client_stream(path, cport, size):
    """The client's stream as the evidence file holds it: a list of 'size' byte values,
    None where no packet of the file carries the offset."""
    got = [None] * size
    for _, fr in read_pcap(path):
        f = tcp_fields(fr)
        if f[0] != cport or not f[4]:
            continue
        off = f[3] - 1001
        for k, b in enumerate(f[4]):
            got[off + k] = b
    return got


class Redaction(unittest.TestCase):
    """Cases a review asked for, each over a capture made here and checked byte by byte
    in the evidence file: UTF-16 text before a value and values that are UTF-16 (the
    normaliser's output offsets are not the packets'), a value written to detection in
    more pieces than the evidence map of a content stream holds (16), and missing
    segments (gaps) in a raw stream around a value. The reported value, in every form it
    travelled, is in no file; each byte that carried it is 'X'; where detection saw the
    value's bytes as sent (a raw stream, a plain body), every other byte is intact."""

    def run_flows(self, flows):
        """flows: {client port: (frames, stream, values)}; one capture, one run. Returns
        {client port: (path, evidence stream)}, after the common checks."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        d, src = os.path.join(tmp.name, "ev"), os.path.join(tmp.name, "in.pcap")
        write_pcap(src, [fr for port in sorted(flows) for fr in flows[port][0]])
        r = run("-r", src, "--evidence-dir", d, "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(r.stats["evidence"]["write_errors"], 0)
        alerted = {e["src_port"] for e in r.of("dlp")}
        self.assertEqual(alerted, set(flows), "every flow raises its value")
        out = {}
        for name in os.listdir(d):
            path = os.path.join(d, name)
            port = tcp_fields(read_pcap(path)[0][1])[0]
            frames, stream, values = flows[port]
            blob = slurp(path)
            for v in values:
                self.assertFalse(v in blob, "port %d: the file holds %r" % (port, v))
            out[port] = (path, client_stream(path, port, len(stream)))
        self.assertEqual(set(out), set(flows))
        return out

    def assert_covered(self, port, got, stream, spans):
        """Every byte at the stream offsets in 'spans' [(lo, hi)] is in the file, as X."""
        for lo, hi in spans:
            self.assertEqual(bytes(b if b is not None else 0 for b in got[lo:hi]),
                             b"X" * (hi - lo), "port %d: [%d, %d) of %r" % (port, lo, hi, stream))

    def assert_exact(self, port, got, stream, spans, missing=()):
        """The file holds the stream (but the offsets in 'missing' [(lo, hi)]), X in
        'spans' and nowhere else."""
        want = bytearray(stream)
        for lo, hi in spans:
            want[lo:hi] = b"X" * (hi - lo)
        want = list(want)
        for lo, hi in missing:
            want[lo:hi] = [None] * (hi - lo)
        self.assertEqual(bytes(b if b is not None else 0x2a for b in got),
                         bytes(b if b is not None else 0x2a for b in want), "port %d" % port)

    def test_utf16_text_before_value_and_utf16_values(self):
        le, be = "Notes for this account: ".encode("utf-16-le"), "Notes: ".encode("utf-16-be")
        card_le, card_be = CARD.decode().encode("utf-16-le"), CARD.decode().encode("utf-16-be")
        ascii_tail = b"\ncard=" + CARD + b" thanks, see you\n"
        flows, exact, covered = {}, {}, {}

        def add(port, segs, values, spans, is_exact):
            frames, stream, _ = tcp_flow(port, segs)
            flows[port] = (frames, stream, values)
            (exact if is_exact else covered)[port] = spans(stream)

        def at(v):
            return lambda s: [(s.index(v), s.index(v) + len(v))]

        # UTF-16 text, then the value in ASCII: the value's raw bytes exactly
        add(46001, [le + ascii_tail], [CARD], at(CARD), True)
        add(46002, [be + ascii_tail], [CARD], at(CARD), True)
        add(46003, [le, ascii_tail], [CARD], at(CARD), True)
        add(46004, [b"x" + le + b"\0" + ascii_tail], [CARD], at(CARD), False)  # a stray NUL
        # split at every offset of the text's end and the value's start (the normaliser
        # holds undecided bytes from one write to the next)
        msg = le + ascii_tail
        for k in range(len(le) - 9, len(le) + 12):
            add(46100 + k, [msg[:k], msg[k:]], [CARD], at(CARD), False)
        # the value itself UTF-16: each of its raw bytes overwritten
        for i, (enc, cv) in enumerate([("utf-16-le", card_le), ("utf-16-be", card_be)]):
            whole = ("note: card=" + CARD.decode() + " thanks\n").encode(enc)
            add(46010 + i, [whole], [CARD, cv], at(cv), False)
            add(46012 + i, [le + whole if enc == "utf-16-le" else be + whole], [CARD, cv],
                at(cv), False)
            add(46014 + i, [b"ascii text: " + whole], [CARD, cv], at(cv), False)
            for k in (1, 2, 9, 21, 22, 23):  # split inside the value
                add(46200 + 50 * i + k, [whole[:whole.index(cv) + k], whole[whole.index(cv) + k:]],
                    [CARD, cv], at(cv), False)
        files = self.run_flows(flows)
        for port, spans in exact.items():  # the UTF-16 text is not a value: intact
            self.assert_exact(port, files[port][1], flows[port][1], spans)
        for port, spans in covered.items():
            self.assert_covered(port, files[port][1], flows[port][1], spans)

    def test_value_in_more_pieces_than_the_map_holds(self):
        """The evidence map of a content stream keeps its last 16 writes (EMAP_N in
        dispatch/flowapp.c): writes that continue the previous one in both the content
        and the stream extend it, others take a slot. A value written in more pieces
        than that must still be overwritten whole (the message's span instead)."""
        flows, exact, covered = {}, {}, {}
        card_le = CARD.decode().encode("utf-16-le")
        # a raw stream in 1-byte segments: contiguous writes, one entry: exact
        msg = b"note card=" + CARD + b" thanks\n"
        frames, stream, _ = tcp_flow(46301, [msg[i:i + 1] for i in range(len(msg))])
        flows[46301] = (frames, stream, [CARD])
        exact[46301] = [(stream.index(CARD), stream.index(CARD) + 16)]
        # the same, UTF-16LE, 1-byte segments (the normaliser's copies, in 1-byte writes)
        msg = ("note card=" + CARD.decode() + " thanks\n").encode("utf-16-le")
        frames, stream, _ = tcp_flow(46302, [msg[i:i + 1] for i in range(len(msg))])
        flows[46302] = (frames, stream, [CARD, card_le])
        covered[46302] = [(stream.index(card_le), stream.index(card_le) + 32)]
        # an HTTP body in 1-byte chunks: the value in 16 to 28 writes of the chunked
        # stage, each from the packet but not contiguous in it (the chunk lines between)
        for port, body, segsize in [(46303, b"card=" + CARD + b" thanks", 0),
                                    (46304, b"card " + CARD_SPACED + b" thanks", 0),
                                    (46305, b"card=" + CARD + b" thanks", 7),
                                    (46306, b"c=" + CARD, 0)]:
            chunks = b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(len(body)))
            req = (b"POST /upload HTTP/1.1\r\nHost: up.example\r\nContent-Type: text/plain\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
            segs = [req] if not segsize else [req[i:i + segsize] for i in
                                               range(0, len(req), segsize)]
            frames, stream, _ = tcp_flow(port, segs, sport=80)
            v = CARD if CARD in body else CARD_SPACED
            start = len(req) - len(chunks) - 5 + 6 * body.index(v)  # "1\r\nD\r\n" each
            digits = [(start + 6 * k + 3, start + 6 * k + 4) for k in range(len(v))]
            self.assertEqual(bytes(stream[lo] for lo, _ in digits), v)
            flows[port] = (frames, stream, [CARD, CARD_SPACED])
            # 16 pieces and nothing after them fit the map: exact; more: the span
            (exact if port == 46306 else covered)[port] = digits
        files = self.run_flows(flows)
        for port, spans in exact.items():
            self.assert_exact(port, files[port][1], flows[port][1], spans)
        for port, spans in covered.items():
            self.assert_covered(port, files[port][1], flows[port][1], spans)

    def test_gaps_in_raw_stream_around_value(self):
        """Segments missing from the capture before and after a value in a raw stream:
        the value's bytes exactly, every byte that was captured otherwise intact."""
        flows, spec = {}, {}
        a, b, e = b"first part, before the loss\n", b"LOST " * 40, b"after the second loss\n"
        cases = {
            46401: ([a, b, b"mid text card=" + CARD + b" thanks\n", b, e], {1, 3}),
            46402: ([a, b, b"card=" + CARD + b" thanks\n", b, e], {1, 3}),  # right after
            46403: ([a, b, b"text card=" + CARD, b, e], {1, 3}),  # right before the next
            46404: ([a, b"card=" + CARD, b, b" " + CARD2 + b" end\n"], {2}),  # both sides
            # the first bytes lost: nothing reaches detection from its packet (all is
            # delivered from reassembly's copies), so no sequence number is tied to a
            # stream offset and the direction's payload is overwritten whole
            46405: ([b, b"card=" + CARD + b"\n", b, e], {0, 2}),
            46406: ([a, b, "note: ".encode("utf-16-le") + b"card=" + CARD, b, e], {1, 3}),
        }
        for port, (segs, skip) in cases.items():
            frames, stream, at = tcp_flow(port, segs, skip=skip)
            vals = [v for v in (CARD, CARD2) if v in stream]
            flows[port] = (frames, stream, vals)
            spans = [(stream.index(v), stream.index(v) + len(v)) for v in vals]
            if port == 46405:
                spans = [(at[i], at[i] + len(segs[i])) for i in at if i not in skip]
            spec[port] = (spans, [(at[i], at[i] + len(segs[i])) for i in skip])
        files = self.run_flows(flows)
        for port, (spans, missing) in spec.items():
            self.assert_exact(port, files[port][1], flows[port][1], spans, missing)


def wait_for(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


@unittest.skipUnless(os.geteuid() == 0, "live capture needs root")
class Live(unittest.TestCase):
    PORT = 47931

    def test_live_tcp_post_on_loopback(self):
        """A real client posts a card to a real server on lo while the sensor captures it:
        at SIGINT the flow ends (shutdown) and its capture is written, redacted."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        out, d = os.path.join(tmp.name, "ev.json"), os.path.join(tmp.name, "ev")
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.2", self.PORT))
        srv.listen(1)
        self.addCleanup(srv.close)
        p = subprocess.Popen(
            [BINARY, "-i", "lo", "--json", out, "--hmac-key-file", KEY_FILE, "--rules-cache",
             CACHE, "--home-net", "127.0.0.1/32", "--no-syslog", "--stats-interval", "1",
             "--evidence-dir", d, "tcp", "port", str(self.PORT)],
            stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for(lambda: os.path.exists(out) and b"stats" in slurp(out)))
            c = socket.create_connection(("127.0.0.2", self.PORT),
                                         source_address=("127.0.0.1", 0))
            conn, _ = srv.accept()
            body = b"card=" + CARD + b" thanks.\n"
            c.sendall(b"POST /x HTTP/1.1\r\nHost: live.example\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body)
            got = b""
            while not got.endswith(body):
                got += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            c.recv(4096)
            c.close()
            conn.close()
            self.assertTrue(wait_for(lambda: b'"event_type":"dlp"' in slurp(out)), "no dlp event")
        finally:
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        events = [json.loads(l) for l in slurp(out).decode().splitlines()]
        (ev,) = [e for e in events if e["event_type"] == "dlp"]
        names = os.listdir(d)
        self.assertEqual(names, ["%d.pcap" % ev["flow_id"]])
        path = os.path.join(d, names[0])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        check_flow(self, path, [CARD], keep=[b"POST /x HTTP/1.1", b"live.example"])
        self.assertIn(b"card=" + b"X" * 16 + b" thanks", slurp(path))
        self.assertEqual(events[-1]["evidence"]["files"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
