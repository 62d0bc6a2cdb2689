#!/usr/bin/python3
"""gen_app.py OUTDIR - application-layer captures (tests/integration/test_app.py).

Each capture carries synthetic personal data the way applications really send it:
chunked and gzip'd HTTP bodies, percent-encoded forms, multipart uploads, MIME mail with
base64 and quoted-printable parts, FTP uploads on a passive data connection, DNS names,
UTF-16 documents, SMTP and FTP command lines; plus TLS and STARTTLS flows that cannot be
inspected, and a decompression bomb. pcaps/README.md lists the values and what each must
produce."""
import base64
import binascii
import gzip
import hashlib
import io
import quopri
import random
import struct
import sys
import zipfile
import zlib

from scapy.layers.dns import DNS, DNSQR, DNSRR

from tcpgen import Capture, TcpSession, http_response, out_path, udp_send

IN, OUT = "10.0.0.41", "198.51.100.50"
CARD = b"4539148803436467"        # Luhn-valid synthetic Visa
CARD2 = b"5425233430109903"       # Luhn-valid synthetic Mastercard
SSN = b"536-22-8417"
EMAIL = b"jane.doe@example.com"
OK = http_response(b"ok\n", "text/plain")


def post(host, path, body, ctype, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def session(cap, cport, sport, turns, cip=IN, sip=OUT, mss=1460, close=True):
    """turns: [("c"|"s", bytes)] in order."""
    s = TcpSession(cap, cip, sip, cport, sport, mss=mss)
    s.handshake()
    for who, data in turns:
        s.send(who, data)
    if close:
        s.close()
    cap.clock.advance(0.1)
    return s


def chunked(pieces):
    out = b""
    for i, p in enumerate(pieces):
        out += b"%x;ext=%d\r\n" % (len(p), i) + p + b"\r\n"
    return out + b"0\r\nX-Trailer: done\r\n\r\n"


def http_captures(outdir):
    # chunked: the card number is cut across two chunk boundaries
    cap = Capture()
    body = chunked([b"note=card " + CARD[:5], CARD[5:11], CARD[11:] + b" end"])
    req = (b"POST /upload HTTP/1.1\r\nHost: chunks.example.com\r\nContent-Type: text/plain\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" + body)
    session(cap, 47001, 80, [("c", req), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-chunked-card.pcap"))

    # gzip request body (a JSON record with an SSN)
    cap = Capture()
    raw = b'{"employee":"John Smith","ssn":"' + SSN + b'","note":"' + b"x" * 400 + b'"}'
    z = gzip.compress(raw, mtime=0)
    session(cap, 47002, 80, [("c", post(b"api.example.com", b"/v1/hr", z, b"application/json",
                                        b"Content-Encoding: gzip\r\n")), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-gzip-body.pcap"))

    # form-urlencoded with the address written %40
    cap = Capture()
    form = b"name=Jane+Doe&contact=jane.doe%40example.com&ref=1"
    session(cap, 47003, 80, [("c", post(b"forms.example.com", b"/f", form,
                                        b"application/x-www-form-urlencoded")), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-form-pct40.pcap"))

    # multipart/form-data upload of a CSV file
    cap = Capture()
    csv = b"name,email,card\r\nJane Doe," + EMAIL + b"," + CARD + b"\r\n"
    b_ = b"----dlpboundary7"
    mp = (b"--" + b_ + b"\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nquarterly\r\n"
          b"--" + b_ + b"\r\nContent-Disposition: form-data; name=\"file\"; "
          b"filename=\"customers.csv\"\r\nContent-Type: text/csv\r\n\r\n" + csv +
          b"\r\n--" + b_ + b"--\r\n")
    session(cap, 47004, 80, [("c", post(b"files.example.com", b"/up", mp,
                                        b"multipart/form-data; boundary=" + b_)), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-multipart-csv.pcap"))

    # HTTP over IPv6
    cap = Capture()
    session(cap, 47005, 80, [("c", post(b"v6.example.com", b"/p", b"mail=" + EMAIL + b"\n",
                                        b"text/plain")), ("s", OK)],
            cip="fd00::41", sip="2001:db8::50")
    cap.write_pcap(out_path(outdir, "http-ipv6.pcap"))

    # a UTF-16LE document (with BOM) carrying a card number
    cap = Capture()
    doc = "\ufeffCustomer record\r\nCard: 4539 1488 0343 6467\r\n".encode("utf-16-le")
    session(cap, 47006, 80, [("c", post(b"docs.example.com", b"/doc", doc,
                                        b"text/plain; charset=utf-16")), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-utf16-upload.pcap"))

    # keep-alive: three requests on one connection, values in the 2nd and 3rd
    cap = Capture()
    r1 = b"GET /a HTTP/1.1\r\nHost: ka.example.com\r\n\r\n"
    r2 = post(b"ka.example.com", b"/b", b"ssn=" + SSN, b"application/x-www-form-urlencoded")
    r3 = post(b"ka.example.com", b"/c", b"card=" + CARD, b"application/x-www-form-urlencoded")
    session(cap, 47007, 80, [("c", r1), ("s", OK), ("c", r2), ("s", OK), ("c", r3), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-keepalive-three.pcap"))

    # a decompression bomb: 64 MiB of zeros gzip'd, then a card after it in the body
    cap = Capture()
    bomb = gzip.compress(b"\0" * (64 << 20) + b" card " + CARD, mtime=0, compresslevel=9)
    session(cap, 47008, 80, [("c", post(b"bomb.example.com", b"/z", bomb, b"text/plain",
                                        b"Content-Encoding: gzip\r\n")), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-gzip-bomb.pcap"))


def smtp_capture(outdir):
    cap = Capture()
    qp_text = (b"Hello,\r\nthe employee's SSN is " + SSN[:6] + b"=\r\n" + SSN[6:] +
               b" and his card " + CARD + b".\r\nRegards=\r\n\r\n")
    att = base64.encodebytes(b"name,card\r\nJane Doe," + CARD2 + b"\r\n").replace(b"\n", b"\r\n")
    msg = (b"From: Jane Doe <" + EMAIL + b">\r\nTo: partner@example.net\r\n"
           b"Subject: =?utf-8?B?" + base64.b64encode("Données clients".encode()) + b"?=\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp_text +
           b"--b1\r\nContent-Type: text/csv; name=\"cards.csv\"\r\n"
           b"Content-Disposition: attachment; filename=\"cards.csv\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + att + b"--b1--\r\n")
    smtp_send(cap, 47010, msg)
    # STARTTLS: nothing after it can be read
    turns = [("s", b"220 mx.example.net ESMTP\r\n"), ("c", b"EHLO ws41\r\n"),
             ("s", b"250-mx\r\n250 STARTTLS\r\n"), ("c", b"STARTTLS\r\n"),
             ("s", b"220 ready\r\n"), ("c", b"\x16\x03\x01\x00\x05hello" + b"\x17" * 300)]
    session(cap, 47011, 25, turns)
    cap.write_pcap(out_path(outdir, "smtp-mime-qp-base64.pcap"))


EVASION_CARD = b"4556 7375 8689 9855"   # Luhn-valid synthetic Visa, only in these mails


def smtp_send(cap, cport, msg):
    """One mail over SMTP from port cport, answered at every step."""
    turns = [("s", b"220 mx.example.net ESMTP\r\n"), ("c", b"EHLO ws41.corp.example\r\n"),
             ("s", b"250-mx.example.net\r\n250 8BITMIME\r\n"),
             ("c", b"MAIL FROM:<" + EMAIL + b">\r\n"), ("s", b"250 OK\r\n"),
             ("c", b"RCPT TO:<partner@example.net>\r\n"), ("s", b"250 OK\r\n"),
             ("c", b"DATA\r\n"), ("s", b"354 go ahead\r\n"),
             ("c", msg + b".\r\n"), ("s", b"250 queued\r\n"),
             ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")]
    session(cap, cport, 25, turns)


def mime_mail(parts):
    """A multipart/mixed mail (boundary "b2") around the given raw part texts."""
    return (b"From: Jane Doe <" + EMAIL + b">\r\nTo: partner@example.net\r\n"
            b"Subject: notes\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b2\"\r\n\r\n" + b"".join(parts))


def smtp_evasion_capture(outdir):
    """Mails shaped so that a decoder that stops early never sees the card (README)."""
    cap = Capture()
    # base64 in separately padded chunks: the card only after the first '='
    chunks = b"".join(base64.b64encode(c) for c in (b"card ", EVASION_CARD, b"\r\n"))
    smtp_send(cap, 47012, mime_mail([
        b"--b2\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
        chunks + b"\r\n--b2--\r\n"]))
    # the card on a boundary line, after the boundary and transport padding
    smtp_send(cap, 47013, mime_mail([
        b"--b2 card " + EVASION_CARD + b"\r\nContent-Type: text/plain\r\n\r\nnothing here\r\n"
        b"--b2--\r\n"]))
    cap.write_pcap(out_path(outdir, "smtp-mime-evasions.pcap"))


AUTH_CARD = b"4716 0922 1583 5400"  # Luhn-valid synthetic Visa, only in smtp-auth-pipelining.pcap


def smtp_auth_capture(outdir):
    """AUTH exchanges (README): a mail pipelined behind AUTH PLAIN, credentials after AUTH LOGIN."""
    cap = Capture()
    ehlo = [("s", b"220 mx.example.net ESMTP\r\n"), ("c", b"EHLO ws41.corp.example\r\n"),
            ("s", b"250-mx.example.net\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n")]
    # AUTH PLAIN with an initial response, then MAIL, RCPT, DATA and the message in one go
    # before any reply (RFC 4954 section 4 lets a client pipeline behind such an AUTH)
    plain = base64.b64encode(b"\0" + EMAIL + b"\0Winter-2024!")
    msg = (b"From: Jane Doe <" + EMAIL + b">\r\nTo: partner@example.net\r\nSubject: q3\r\n\r\n"
           b"the card is " + AUTH_CARD + b"\r\n")
    session(cap, 47016, 587, ehlo + [
        ("c", b"AUTH PLAIN " + plain + b"\r\nMAIL FROM:<" + EMAIL + b">\r\n"
              b"RCPT TO:<partner@example.net>\r\nDATA\r\n" + msg + b".\r\n"),
        ("s", b"235 2.7.0 accepted\r\n250 OK\r\n250 OK\r\n354 go ahead\r\n250 queued\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    # AUTH LOGIN answered line by line after each 334; the credentials alone, no mail
    session(cap, 47017, 587, ehlo + [
        ("c", b"AUTH LOGIN\r\n"), ("s", b"334 VXNlcm5hbWU6\r\n"),
        ("c", base64.b64encode(EMAIL) + b"\r\n"), ("s", b"334 UGFzc3dvcmQ6\r\n"),
        ("c", base64.b64encode(b"Winter-2024!") + b"\r\n"), ("s", b"235 2.7.0 accepted\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    cap.write_pcap(out_path(outdir, "smtp-auth-pipelining.pcap"))


PREAMBLE_CARD = b"4929 1543 6718 9052"  # Luhn-valid synthetic Visa, only in smtp-mime-preamble.pcap


def smtp_preamble_capture(outdir):
    """The card in a multipart's preamble (:47014) and epilogue (:47015), text a reader of
    the raw message sees outside every part (README)."""
    cap = Capture()
    smtp_send(cap, 47014, mime_mail([
        b"This is a multi-part message. card " + PREAMBLE_CARD + b"\r\n"
        b"--b2\r\nContent-Type: text/plain\r\n\r\nnothing here\r\n--b2--\r\n"]))
    smtp_send(cap, 47015, mime_mail([
        b"--b2\r\nContent-Type: text/plain\r\n\r\nnothing here\r\n--b2--\r\n"
        b"card " + PREAMBLE_CARD + b"\r\n"]))
    cap.write_pcap(out_path(outdir, "smtp-mime-preamble.pcap"))


UU_CARD = b"4556 7351 2094 7131"   # Luhn-valid synthetic Visa, only in smtp-uuencode.pcap
UU_CARD2 = b"4485120963728052"


def uuencode(name, data):
    """A uuencoded block as uuencode(1) writes it: 45 bytes a line, backquotes for zero."""
    lines = [binascii.b2a_uu(data[i:i + 45], backtick=True).rstrip(b"\n")
             for i in range(0, len(data), 45)]
    return b"begin 644 " + name + b"\r\n" + b"\r\n".join(lines) + b"\r\n`\r\nend\r\n"


def smtp_uuencode_capture(outdir):
    """A uuencoded file inline in a text/plain mail body (:47018), and a part whose
    Content-Transfer-Encoding is x-uuencode (:47019), each holding a card (README)."""
    cap = Capture()
    csv = b"name,card\r\nJane Doe," + UU_CARD + b"\r\nJohn Roe,none\r\n"
    smtp_send(cap, 47018, b"From: Jane Doe <" + EMAIL + b">\r\nTo: partner@example.net\r\n"
              b"Subject: the list\r\nContent-Type: text/plain\r\n\r\n"
              b"Hi,\r\n\r\nthe list as promised:\r\n\r\n" + uuencode(b"cards.txt", csv) +
              b"\r\nRegards\r\n")
    smtp_send(cap, 47019, mime_mail([
        b"--b2\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n"
        b"--b2\r\nContent-Type: application/octet-stream; name=\"export.csv\"\r\n"
        b"Content-Transfer-Encoding: x-uuencode\r\n\r\n" +
        uuencode(b"export.csv", b"card " + UU_CARD2 + b"\r\n") + b"--b2--\r\n"]))
    cap.write_pcap(out_path(outdir, "smtp-uuencode.pcap"))


def ftp_capture(outdir):
    cap = Capture()
    ctl = TcpSession(cap, IN, OUT, 47020, 21)
    ctl.handshake()
    for who, line in [("s", b"220 ftp.example.net FTP ready\r\n"), ("c", b"USER alice\r\n"),
                      ("s", b"331 password\r\n"), ("c", b"PASS secret\r\n"),
                      ("s", b"230 logged in\r\n"), ("c", b"TYPE I\r\n"), ("s", b"200 ok\r\n"),
                      ("c", b"PASV\r\n"),
                      ("s", b"227 Entering Passive Mode (198,51,100,50,195,80).\r\n"),
                      ("c", b"STOR customers.csv\r\n"), ("s", b"150 ok\r\n")]:
        ctl.send(who, line)
    data = TcpSession(cap, IN, OUT, 47021, 195 * 256 + 80)
    data.handshake()
    data.send("c", b"name,email,ssn\r\nJohn Smith,john.smith@example.org," + SSN + b"\r\n")
    data.close()
    ctl.send("s", b"226 transfer complete\r\n")
    ctl.send("c", b"QUIT\r\n")
    ctl.send("s", b"221 bye\r\n")
    ctl.close()
    cap.write_pcap(out_path(outdir, "ftp-passive-upload.pcap"))


# Values only in smtp-commands.pcap / ftp-commands.pcap (Luhn-valid synthetic cards)
CMD_CARD = b"4485474429847893"       # NOOP
CMD_CARD2 = b"4916350163596194"      # an unknown verb
CMD_CARD3 = b"5168718076999105"      # across byte 8192 of an overlong line
CMD_SSN = b"671-48-2093"
CMD_EMAIL = b"cmd.leak@example.org"
CRED_CARD = b"4024880984084789"      # SMTP credentials: base64 that spells a card
FTP_CARD = b"5289870738419214"       # MKD
FTP_CARD2 = b"4532147679875474"      # across byte 8192 of an overlong line
FTP_PASS_CARD = b"4929826464610995"  # FTP PASS and ACCT: credentials
FTP_SSN = b"604-31-7759"
FTP_EMAIL = b"ftp.leak@example.org"


def overlong(verb, value, cut=8192):
    """A 9000-byte command line (over the default line bound) with value across byte cut."""
    head = verb + b" " + b"a" * (cut - len(verb) - 2 - len(value) // 2) + b" "
    line = head + value + b" "
    assert len(head) < cut < len(head) + len(value)
    return line + b"b" * (9000 - len(line)) + b"\r\n"


def smtp_commands_capture(outdir):
    """Values in SMTP command lines, credentials in AUTH lines (README)."""
    cap = Capture()
    ehlo = [("s", b"220 mx.example.net ESMTP\r\n"), ("c", b"EHLO ws41.corp.example\r\n"),
            ("s", b"250-mx.example.net\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n")]
    cred = base64.b64decode(CRED_CARD)  # a password whose base64 spells the card
    assert base64.b64encode(cred) == CRED_CARD
    session(cap, 47040, 25, ehlo + [
        ("c", b"AUTH PLAIN " + CRED_CARD + b"\r\n"), ("s", b"235 2.7.0 accepted\r\n"),
        ("c", b"NOOP " + CMD_CARD + b"\r\n"), ("s", b"250 OK\r\n"),
        ("c", b"HELO " + CMD_EMAIL + b"\r\n"), ("s", b"250 mx.example.net\r\n"),
        # pipelined: a VRFY and an unknown verb
        ("c", b"VRFY ssn " + CMD_SSN + b"\r\nXEXF " + CMD_CARD2 + b"\r\n"),
        ("s", b"252 cannot verify\r\n500 unknown command\r\n"),
        ("c", overlong(b"NOOP", CMD_CARD3)), ("s", b"500 line too long\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    # AUTH LOGIN: the answers to the 334s are credentials, the password's base64 a card
    session(cap, 47041, 587, ehlo + [
        ("c", b"AUTH LOGIN\r\n"), ("s", b"334 VXNlcm5hbWU6\r\n"),
        ("c", base64.b64encode(b"jane") + b"\r\n"), ("s", b"334 UGFzc3dvcmQ6\r\n"),
        ("c", CRED_CARD + b"\r\n"), ("s", b"235 2.7.0 accepted\r\n"),
        ("c", b"NOOP\r\n"), ("s", b"250 OK\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    cap.write_pcap(out_path(outdir, "smtp-commands.pcap"))


def ftp_commands_capture(outdir):
    """Values in FTP command lines, a card as the password and the account (README)."""
    cap = Capture()
    session(cap, 47045, 21, [
        ("s", b"220 ftp.example.net FTP ready\r\n"), ("c", b"USER alice\r\n"),
        ("s", b"331 password\r\n"), ("c", b"PASS " + FTP_PASS_CARD + b"\r\n"),
        ("s", b"332 account\r\n"), ("c", b"ACCT " + FTP_PASS_CARD + b"\r\n"),
        ("s", b"230 logged in\r\n"),
        ("c", b"MKD " + FTP_CARD + b"\r\n"), ("s", b"257 created\r\n"),
        # pipelined: a CWD, a SITE command and an unknown verb
        ("c", b"CWD ssn " + FTP_SSN + b"\r\nSITE HELP " + FTP_EMAIL + b"\r\nXPRV note\r\n"),
        ("s", b"250 ok\r\n214 help\r\n500 unknown command\r\n"),
        ("c", overlong(b"MKD", FTP_CARD2)), ("s", b"500 line too long\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    # the client's last line has no LF: it is read when its direction ends
    session(cap, 47046, 21, [
        ("s", b"220 ftp.example.net FTP ready\r\n"), ("c", b"USER bob\r\n"),
        ("s", b"331 password\r\n"), ("c", b"PASS hunter2\r\n"), ("s", b"230 logged in\r\n"),
        ("c", b"SITE NOTE " + FTP_SSN)])
    cap.write_pcap(out_path(outdir, "ftp-commands.pcap"))


# Values only in ftp-telnet-iac.pcap (Luhn-valid synthetic cards)
IAC_CARD = b"5190554124031357"   # IAC NOP inside: BSD ftpd drops it
IAC_CARD2 = b"5564198990136532"  # IAC IP inside, IAC and IP in two segments
IAC_CARD3 = b"5113351494492192"  # the argument of PA<IAC IP>SS
IAC_SSN = b"618-27-4093"         # IAC WILL ECHO, IAC DO SGA inside
IAC, NOP, IP, WILL, DO = b"\xff", b"\xf1", b"\xf4", b"\xfb", b"\xfd"


def ftp_telnet_iac_capture(outdir):
    """Telnet IAC sequences inside FTP command lines, which a Telnet-reading server (BSD
    ftpd, ProFTPD) removes before it reads the line (README)."""
    cap = Capture()
    session(cap, 47080, 21, [
        ("s", b"220 ftp.example.net FTP ready\r\n"), ("c", b"USER alice\r\n"),
        ("s", b"331 password\r\n"), ("c", b"PASS hunter2\r\n"), ("s", b"230 logged in\r\n"),
        ("c", b"SITE NOTE " + IAC_CARD[:4] + IAC + NOP + IAC_CARD[4:] + b"\r\n"),
        ("s", b"200 ok\r\n"),
        ("c", b"MKD " + IAC_CARD2[:8] + IAC), ("c", IP + IAC_CARD2[8:] + b"\r\n"),
        ("s", b"257 created\r\n"),
        ("c", b"CWD ssn " + IAC_SSN[:4] + IAC + WILL + b"\x01" + IAC_SSN[4:7] + IAC + DO +
         b"\x03" + IAC_SSN[7:] + b"\r\n"),
        ("s", b"250 ok\r\n"),
        # PASS to a Telnet server, an unknown verb to vsftpd: no credential either way
        ("c", b"USER bob\r\n"), ("s", b"331 password\r\n"),
        ("c", b"PA" + IAC + IP + b"SS " + IAC_CARD3 + b"\r\n"), ("s", b"530 denied\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    cap.write_pcap(out_path(outdir, "ftp-telnet-iac.pcap"))


CRED_CARDS = (b"4485923177450623", b"4556737586901230", b"4024007138567424")  # only here


def credentials_capture(outdir):
    """Credentials before and after a value in one alerting flow each (README): SMTP AUTH,
    FTP PASS/ACCT, HTTP Authorization/Proxy-Authorization/Cookie. What a value's evidence
    span does not reach stays in a capture unless credentials are told apart."""
    cap = Capture()
    session(cap, 47050, 587, [
        ("s", b"220 mx.example.net ESMTP\r\n"), ("c", b"EHLO ws50.corp.example\r\n"),
        ("s", b"250-mx.example.net\r\n250 AUTH PLAIN LOGIN\r\n"),
        ("c", b"AUTH PLAIN " + base64.b64encode(b"\0carol@example.com\0Spring-2024!") + b"\r\n"),
        ("s", b"535 5.7.8 authentication failed\r\n"),
        ("c", b"NOOP " + CRED_CARDS[0] + b"\r\n"), ("s", b"250 OK\r\n"),
        ("c", b"AUTH LOGIN\r\n"), ("s", b"334 VXNlcm5hbWU6\r\n"),
        ("c", base64.b64encode(b"carol@example.com") + b"\r\n"), ("s", b"334 UGFzc3dvcmQ6\r\n"),
        ("c", base64.b64encode(b"Spring-2025!") + b"\r\n"), ("s", b"235 2.7.0 accepted\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    session(cap, 47051, 21, [
        ("s", b"220 FTP server ready\r\n"), ("c", b"USER carol\r\n"),
        ("s", b"331 Password required\r\n"), ("c", b"PASS Autumn-2025!\r\n"),
        ("s", b"230 Logged in\r\n"), ("c", b"MKD " + CRED_CARDS[1] + b"\r\n"),
        ("s", b"257 created\r\n"), ("c", b"REIN\r\n"), ("s", b"220 ready\r\n"),
        ("c", b"USER dave\r\n"), ("s", b"331 Password required\r\n"),
        ("c", b"PASS Winter-2026!\r\n"), ("s", b"332 Need account\r\n"),
        ("c", b"ACCT acct-7781-billing\r\n"), ("s", b"230 Logged in\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 Goodbye\r\n")])
    # 40-byte segments: header lines are collected across writes. Basic credentials are a
    # value too (secret.password_field); a bearer token and session cookies are not
    r1 = post(b"creds.example.com", b"/export", b"card=" + CRED_CARDS[2],
              b"application/x-www-form-urlencoded",
              b"Authorization: Basic " + base64.b64encode(b"alice:Tr0ub4dor&3") +
              b"\r\nProxy-Authorization: Basic " +
              base64.b64encode(b"bob:correct horse battery staple") +
              b"\r\nCookie: session=c2Vzc2lvbi10b2tlbi00MQ\r\n")
    r2 = (b"GET /logout HTTP/1.1\r\nHost: creds.example.com\r\nAuthorization: Bearer "
          b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLTQy\r\n"
          b"Cookie: session=c2Vzc2lvbi10b2tlbi00Mg; theme=dark\r\nAccept: */*\r\n\r\n")
    session(cap, 47052, 80, [("c", r1), ("s", OK), ("c", r2), ("s", OK)], mss=40)
    cap.write_pcap(out_path(outdir, "evidence-credentials.pcap"))


# Values only in credential-channel.pcap (Luhn-valid synthetic cards, valid SSNs)
CHAN_CARD = b"5345637964710877"   # the fifth answer to a 334
CHAN_CARD2 = b"4440446442747379"  # the fourth AUTH line of a connection
CHAN_CARD3 = b"5397551138568938"  # in an AUTH line longer than DLP_APP_CRED_MAX (4096)
CHAN_CARD4 = b"4471191964897374"  # FTP PASS without USER
CHAN_PASS = b"4888039581643639"   # FTP PASS after USER: a credential, never reported
CHAN_SSN = b"512-47-3086"
CHAN_SSN2 = b"538-61-2047"
CHAN_EMAIL = b"chan.leak@example.org"
CHAN_EMAIL2 = b"mic.leak@example.org"


def credential_channel_capture(outdir):
    """Lines a client dresses as credentials to a colluding server, past the bounds a real
    login keeps (README): scanned as commands; a real password within them is not."""
    cap = Capture()
    ehlo = [("s", b"220 mx.example.net ESMTP\r\n"), ("c", b"EHLO ws70.corp.example\r\n"),
            ("s", b"250-mx.example.net\r\n250 AUTH PLAIN LOGIN\r\n")]
    turns = [("c", b"AUTH LOGIN\r\n")]
    answers = [base64.b64encode(w) for w in (b"eve", b"pw-1", b"pw-2", b"pw-3")]
    answers += [b"card " + CHAN_CARD, b"ssn " + CHAN_SSN, b"mail " + CHAN_EMAIL]
    for a in answers:  # the server keeps asking
        turns += [("s", b"334 UGFzc3dvcmQ6\r\n"), ("c", a + b"\r\n")]
    turns += [("s", b"535 5.7.8 no\r\n")]
    for i in range(2):
        turns += [("c", b"AUTH PLAIN " + base64.b64encode(b"\0eve\0try-%d" % i) + b"\r\n"),
                  ("s", b"535 5.7.8 no\r\n")]
    turns += [("c", b"AUTH PLAIN " + CHAN_CARD2 + b"\r\n"), ("s", b"535 5.7.8 no\r\n"),
              ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")]
    session(cap, 47070, 587, ehlo + turns)
    line = b"AUTH PLAIN " + b"Q" * 3000 + b" " + CHAN_CARD3 + b" "
    line += b"Q" * (6000 - len(line))
    session(cap, 47071, 587, ehlo + [("c", line + b"\r\n"), ("s", b"500 5.5.6 too long\r\n"),
                                      ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    session(cap, 47072, 21, [
        ("s", b"220 FTP server ready\r\n"), ("c", b"PASS " + CHAN_CARD4 + b"\r\n"),
        ("s", b"503 Login with USER first\r\n"), ("c", b"USER eve\r\n"),
        ("s", b"331 Password required\r\n"), ("c", b"PASS " + CHAN_PASS + b"\r\n"),
        ("s", b"530 Login incorrect\r\n"), ("c", b"PASS ssn " + CHAN_SSN2 + b"\r\n"),
        ("s", b"503 Login with USER first\r\n"), ("c", b"MIC " + CHAN_EMAIL2 + b"\r\n"),
        ("s", b"500 unknown\r\n"), ("c", b"QUIT\r\n"), ("s", b"221 Goodbye\r\n")])
    cap.write_pcap(out_path(outdir, "credential-channel.pcap"))


def dns_tcp_capture(outdir):
    """TCP to port 53 that is not DNS, or stops being DNS (pcaps/README.md)."""
    cap = Capture()
    q = DNS(id=0x4243, rd=1, qd=DNSQR(qname="www.example.com", qtype="A"))
    msg = bytes(q)
    junk = b"export: card " + CARD + b" end"
    # a real query, then a "message" that is not DNS, then more bytes, one write each
    session(cap, 47060, 53, [("c", len(msg).to_bytes(2, "big") + msg),
                             ("s", len(msg).to_bytes(2, "big") + msg),
                             ("c", len(junk).to_bytes(2, "big") + junk),
                             ("c", b" and ssn " + SSN + b"\n")])
    # a length of 65535 and the connection ends inside the message
    session(cap, 47061, 53, [("c", b"\xff\xff" + b"leak card " + CARD2 + b" end\n")])
    cap.write_pcap(out_path(outdir, "dns-tcp-not-dns.pcap"))


DNS_HID_CARD = b"4532017664101006"   # TXT data of a query's additional record (TCP)
DNS_HID_CARD2 = b"5527423088111007"  # an answer of a "response" a client sends (TCP)
DNS_HID_CARD3 = b"4916882301441008"  # bytes after a query's question (UDP)


def dns_hidden_capture(outdir):
    """DNS messages to port 53 that carry values outside their names (pcaps/README.md)."""
    cap = Capture()
    q = DNS(id=0x4244, rd=1, qd=DNSQR(qname="q.example.com", qtype="A"),
            ar=DNSRR(rrname="r.example.com", type="TXT", rdata=b"card " + DNS_HID_CARD))
    r = DNS(id=0x4245, qr=1, qd=None,
            an=DNSRR(rrname="a.example.com", type="TXT", rdata=b"card " + DNS_HID_CARD2))
    session(cap, 47062, 53, [("c", len(bytes(q)).to_bytes(2, "big") + bytes(q)),
                             ("c", len(bytes(r)).to_bytes(2, "big") + bytes(r))])
    t = bytes(DNS(id=0x4246, rd=1, qd=DNSQR(qname="t.example.com", qtype="A")))
    udp_send(cap, IN, "203.0.113.53", 53334, 53, t + b"card " + DNS_HID_CARD3, ipid=0x0101)
    cap.write_pcap(out_path(outdir, "dns-hidden-bytes.pcap"))


DNS_SRV_CARD = b"4556730219931005"  # TXT answer of an inside DNS server (TCP)


def dns_tcp_server_capture(outdir):
    """An inside host answering on TCP port 53 to an outside client (pcaps/README.md)."""
    cap = Capture()
    q = bytes(DNS(id=0x4247, rd=1, qd=DNSQR(qname="data.example.com", qtype="TXT")))
    a = bytes(DNS(id=0x4247, qr=1, aa=1, qd=DNSQR(qname="data.example.com", qtype="TXT"),
                  an=DNSRR(rrname="data.example.com", type="TXT",
                           rdata=b"card " + DNS_SRV_CARD)))
    session(cap, 47063, 53, [("c", len(q).to_bytes(2, "big") + q),
                             ("s", len(a).to_bytes(2, "big") + a)], cip=OUT, sip=IN)
    cap.write_pcap(out_path(outdir, "dns-tcp-inside-server.pcap"))


SRV_SMTP_CARD = b"5371142600881007"  # a reply line of an inside SMTP server
SRV_FTP_CARD = b"4024007182131002"   # a reply line of an inside FTP server


def inside_servers_capture(outdir):
    """Outside clients, inside SMTP and FTP servers whose replies leave (pcaps/README.md)."""
    cap = Capture()
    session(cap, 47064, 25, [("s", b"220 mx.example.com ESMTP\r\n"),
                             ("c", b"EHLO client.example\r\n"),
                             ("s", b"250-mx.example.com note " + SRV_SMTP_CARD + b"\r\n250 OK\r\n"),
                             ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")], cip=OUT, sip=IN)
    session(cap, 47065, 21, [("s", b"220 FTP ready\r\n"), ("c", b"USER guest\r\n"),
                             ("s", b"331 note " + SRV_FTP_CARD + b"\r\n"),
                             ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")], cip=OUT, sip=IN)
    cap.write_pcap(out_path(outdir, "smtp-ftp-inside-server.pcap"))


HELD_CARD = b"4917612345671008"  # in a message the SMTP decoder holds, then reads again


def evidence_smtp_held_capture(outdir):
    """SMTP whose client pipelines past DATA with no reply seen (pcaps/README.md)."""
    cap = Capture()
    fill = b"".join(b"filler line %04d of the second message body\r\n" % i for i in range(200))
    env = b"MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\n"
    session(cap, 47066, 25, [("c", b"EHLO client.example\r\n" + env),
                             ("c", b"Subject: one\r\n\r\nhello\r\n.\r\n" + env +
                              b"Subject: card " + HELD_CARD + b"\r\n\r\n"),
                             ("c", fill[:7900]), ("c", fill[7900:8100]), ("c", fill[8100:8200]),
                             ("c", b"\r\n.\r\nQUIT\r\n")], mss=9000)
    cap.write_pcap(out_path(outdir, "evidence-smtp-held-envelope.pcap"))


def dns_tls_capture(outdir):
    cap = Capture()
    q = DNS(id=0x4242, rd=1, qd=DNSQR(qname=CARD.decode() + ".exfil.example.com", qtype="TXT"))
    udp_send(cap, IN, "203.0.113.53", 53333, 53, bytes(q), ipid=0x0100)
    # a TLS ClientHello with SNI, then application data: classified, not inspected
    sni = b"secure.example.com"
    ext = b"\x00\x00" + (len(sni) + 5).to_bytes(2, "big") + (len(sni) + 3).to_bytes(2, "big") + \
        b"\x00" + len(sni).to_bytes(2, "big") + sni + b"\x00\x2b\x00\x03\x02\x03\x04"
    hello = (b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" +
             len(ext).to_bytes(2, "big") + ext)
    hs = b"\x01" + len(hello).to_bytes(3, "big") + hello
    rec = b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs
    session(cap, 47030, 443, [("c", rec), ("s", b"\x16\x03\x03\x00\x04\x0e\x00\x00\x00"),
                               ("c", b"\x17\x03\x03\x00\x20" + CARD * 2)])
    cap.write_pcap(out_path(outdir, "dns-tls.pcap"))


def compressed_like(n, seed, plant=b""):
    """n bytes as compressed data looks (pseudo-random, fixed seed) with no run of 16 text
    characters in them, 'plant' put in the middle between two non-text bytes."""
    rnd = random.Random(seed)
    out = bytearray(rnd.getrandbits(8) for _ in range(n))
    run = 0
    for i, b in enumerate(out):
        run = run + 1 if 0x09 <= b <= 0x7e else 0
        if run >= 12:
            out[i] = 0xff
            run = 0
    if plant:
        mid = n // 2
        out[mid - 1:mid + len(plant) + 1] = b"\xff" + plant + b"\xfe"
    return bytes(out)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def evasion_captures(outdir):
    """HTTP connections shaped to slip past a decoder: what servers accept, or what leaves
    the network whatever a server makes of it, must still be scanned."""
    cap = Capture()
    # a request, then bytes that are not HTTP on the same connection, carrying the card
    session(cap, 48001, 80, [("c", b"GET / HTTP/1.1\r\nHost: x.example.com\r\n\r\n"
                                   b"hello card " + CARD + b" bye\r\n"), ("s", OK)])
    z = gzip.compress(b'{"ssn":"' + SSN + b'","pad":"' + b"y" * 300 + b'"}', mtime=0)
    gz_post = post(b"api.example.com", b"/v1", z, b"application/json",
                   b"Content-Encoding: gzip\r\n")
    # empty lines before the request line (RFC 9112 2.2: servers ignore them): two, then
    # ten (Apache's limit; more than the bytes a decoder is chosen on)
    session(cap, 48002, 80, [("c", b"\r\n" * 2 + gz_post), ("s", OK)])
    session(cap, 48003, 80, [("c", b"\r\n" * 10 + gz_post), ("s", OK)])
    # the two empty lines and the request in 1-byte segments: told only as they come
    session(cap, 48005, 80, [("c", b"\r\n" * 2 + gz_post[:80]), ("s", OK)], mss=1)
    # not HTTP at all, on another port, after empty lines: scanned as it is
    session(cap, 48004, 9999, [("c", b"\r\n" * 8 + b"card " + CARD2 + b"\r\n")])
    # the value only in a multipart part's header: the file's name
    b_ = b"----dlpboundary11"
    mp = (b"--" + b_ + b"\r\nContent-Disposition: form-data; name=\"file\"; "
          b"filename=\"" + SSN + b" John Smith.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
          b"%PDF-1.4 nothing to see\r\n--" + b_ + b"--\r\n")
    session(cap, 48006, 80, [("c", post(b"files.example.com", b"/up", mp,
                                        b"multipart/form-data; boundary=" + b_)), ("s", OK)])
    # a Host too long to keep (300 bytes) that ends like an allowed domain
    host = b"a" * 288 + b".example.com"
    session(cap, 48007, 80, [("c", post(host, b"/n", b"card " + CARD + b"\n", b"text/plain")),
                             ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-evasions.pcap"))


def http_other_ports_capture(outdir):
    """HTTP requests after two empty lines, on ports of other protocols: nDPI 4.2 names
    them as those protocols (SMTP on 25, MySQL on 3306, Redis on 6379), as a detection,
    not a guess; the HTTP decoder reads them, and their events say HTTP."""
    cap = Capture()
    body = b"card=" + CARD
    for i, port in enumerate((25, 3306, 6379)):
        req = b"\r\n" * 2 + post(b"api.example.com", b"/x", body,
                                  b"application/x-www-form-urlencoded")
        session(cap, 48101 + i, port, [("c", req), ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-other-ports.pcap"))


def media_captures(outdir):
    """Uploads of compressed media: only their runs of text are scanned (media.h)."""
    cap = Capture()
    # A photo whose compressed bytes happen to spell an address: scanned only with --scan-media.
    jpeg = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" +
            compressed_like(6000, 1, plant=b"kq7@xmail.com"))
    session(cap, 47101, 80, [("c", post(b"img.example.com", b"/photo", jpeg, b"image/jpeg")),
                             ("s", OK)])
    # A PNG whose text chunk names its author: metadata text is scanned.
    png = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)) +
           png_chunk(b"tEXt", b"Author\x00" + EMAIL) +
           png_chunk(b"IDAT", compressed_like(5000, 2)) + png_chunk(b"IEND", b""))
    session(cap, 47102, 80, [("c", post(b"img.example.com", b"/avatar", png, b"image/png")),
                             ("s", OK)])
    # Text sent behind a forged JPEG header: the header hides nothing.
    forged = b"\xff\xd8\xff\xe0" + b"name,card\r\nJane Doe," + CARD + b"\r\n" * 2
    session(cap, 47103, 80, [("c", post(b"img.example.com", b"/x", forged, b"image/jpeg")),
                             ("s", OK)])
    # A ZIP with a stored (uncompressed) member: its text is scanned.
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_STORED) as z:
        zi = zipfile.ZipInfo("staff.csv", date_time=(2024, 1, 15, 9, 0, 0))
        z.writestr(zi, b"name,ssn\r\nJohn Smith," + SSN + b"\r\n")
    session(cap, 47104, 80, [("c", post(b"files.example.com", b"/zip", zbuf.getvalue(),
                                        b"application/zip")), ("s", OK)])
    # A spreadsheet (xlsx: a ZIP of deflated XML): its members are unpacked and scanned.
    rnd = random.Random(4)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in ((b"[Content_Types].xml", b"<Types/>"),
                           (b"xl/workbook.xml", b"<workbook><sheets/></workbook>"),
                           # a picture several segments long before the strings: the
                           # walk must go on over what the media gate passes over
                           (b"xl/media/image1.png", compressed_like(8000, 3)),
                           # strings that deflate poorly, so the member spans segments,
                           # with the values at its end
                           (b"xl/sharedStrings.xml",
                            b"<sst>" + b"".join(b"<si><t>%032x</t></si>" % rnd.getrandbits(128)
                                                for _ in range(150)) +
                            b"<si><t>Card</t></si><si><t>" + CARD + b"</t></si>"
                            b"<si><t>" + EMAIL + b"</t></si></sst>")):
            zi = zipfile.ZipInfo(name.decode(), date_time=(2024, 1, 15, 9, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    xlsx = zbuf.getvalue()
    assert CARD not in xlsx and EMAIL not in xlsx  # only inflated do they show
    session(cap, 47105, 80, [("c", post(b"files.example.com", b"/report.xlsx", xlsx,
                                        b"application/vnd.openxmlformats-officedocument."
                                        b"spreadsheetml.sheet")), ("s", OK)])
    # A gzip file (customers.csv.gz, multipart): the file inside is unpacked and scanned,
    # under the upload's name; rows that compress poorly, so the file spans segments.
    rows = b"".join(b"%d,%032x\r\n" % (i, rnd.getrandbits(128)) for i in range(120))
    gz = gzip.compress(b"id,token\r\n" + rows + b"9999,Jane Doe," + EMAIL + b"," + CARD + b"\r\n",
                       mtime=0)
    assert CARD not in gz and EMAIL not in gz
    b_ = b"----dlpboundary9"
    mp = (b"--" + b_ + b"\r\nContent-Disposition: form-data; name=\"file\"; "
          b"filename=\"customers.csv.gz\"\r\nContent-Type: application/gzip\r\n\r\n" + gz +
          b"\r\n--" + b_ + b"--\r\n")
    session(cap, 47106, 80, [("c", post(b"files.example.com", b"/up", mp,
                                        b"multipart/form-data; boundary=" + b_)), ("s", OK)])
    # The same in 1-byte segments: the gzip magic is told across writes.
    session(cap, 47108, 80, [("c", post(b"files.example.com", b"/up", mp,
                                        b"multipart/form-data; boundary=" + b_)), ("s", OK)],
            mss=1)
    # A gzip file inside a gzip file: only the outer one is unpacked (archives inside
    # archives are not), so the SSN inside both stays unseen.
    inner = gzip.compress(b"name,ssn\r\nJohn Smith," + SSN + b"\r\n", mtime=0)
    session(cap, 47107, 80, [("c", post(b"files.example.com", b"/nested.gz",
                                        gzip.compress(inner, mtime=0), b"application/gzip")),
                             ("s", OK)])
    cap.write_pcap(out_path(outdir, "http-media-uploads.pcap"))


WS_CARD = b"4127 9691 4008 2484"  # Luhn-valid synthetic Visa, only in http-websocket.pcap
WS_EMAIL = b"lee.ws@example.org"


def ws_frame(rng, opcode, payload, fin=True, rsv1=False, mask=True):
    """One RFC 6455 frame; client frames are masked with a key from rng (seeded)."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    m = 0x80 if mask else 0
    if len(payload) < 126:
        head += bytes([m | len(payload)])
    elif len(payload) < 65536:
        head += bytes([m | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([m | 127]) + struct.pack("!Q", len(payload))
    if not mask:
        return head + payload
    key = bytes(rng.randrange(256) for _ in range(4))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def websocket_capture(outdir):
    """ws:// after an HTTP upgrade: masked frames, permessage-deflate, fragments (README)."""
    rng = random.Random(6455)
    cap = Capture()
    key = base64.b64encode(bytes(rng.randrange(256) for _ in range(16)))
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 4.2.2
    accept = base64.b64encode(hashlib.sha1(key + guid).digest())
    req = (b"GET /chat HTTP/1.1\r\nHost: ws.example.net\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
           b"Sec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
    resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
    # permessage-deflate (RFC 7692): one raw deflate stream for all messages (context
    # takeover), each message sync-flushed and its trailing 00 00 ff ff removed
    z = zlib.compressobj(6, zlib.DEFLATED, -15)

    def deflated(text):
        out = z.compress(text) + z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    hello = b'{"type":"hello","user":"lee","room":"support"}'
    contact = b'{"type":"contact","user":"lee","mail":"' + WS_EMAIL + b'"}'
    turns = [("c", req), ("s", resp),
             ("c", ws_frame(rng, 1, b'{"type":"note","text":"card ' + WS_CARD + b'"}')),
             ("s", ws_frame(rng, 1, b'{"type":"ack"}', mask=False)),
             ("c", ws_frame(rng, 1, deflated(hello), rsv1=True)),
             ("c", ws_frame(rng, 1, deflated(contact), rsv1=True)),
             # a text message in three fragments, the SSN cut across them, a ping between
             ("c", ws_frame(rng, 1, b'{"type":"form","ssn":"536-', fin=False) +
                   ws_frame(rng, 9, b"keepalive")),
             ("s", ws_frame(rng, 10, b"keepalive", mask=False)),
             ("c", ws_frame(rng, 0, b"22-", fin=False) + ws_frame(rng, 0, b'8417"}')),
             ("c", ws_frame(rng, 8, struct.pack("!H", 1000) + b"bye")),
             ("s", ws_frame(rng, 8, struct.pack("!H", 1000), mask=False))]
    session(cap, 47030, 80, turns)
    cap.write_pcap(out_path(outdir, "http-websocket.pcap"))


def main():
    outdir = sys.argv[1]
    http_captures(outdir)
    media_captures(outdir)
    evasion_captures(outdir)
    http_other_ports_capture(outdir)
    smtp_capture(outdir)
    smtp_evasion_capture(outdir)
    smtp_auth_capture(outdir)
    smtp_preamble_capture(outdir)
    smtp_uuencode_capture(outdir)
    ftp_capture(outdir)
    smtp_commands_capture(outdir)
    ftp_commands_capture(outdir)
    ftp_telnet_iac_capture(outdir)
    credentials_capture(outdir)
    credential_channel_capture(outdir)
    dns_tls_capture(outdir)
    dns_tcp_capture(outdir)
    dns_hidden_capture(outdir)
    dns_tcp_server_capture(outdir)
    inside_servers_capture(outdir)
    evidence_smtp_held_capture(outdir)
    websocket_capture(outdir)


if __name__ == "__main__":
    main()
