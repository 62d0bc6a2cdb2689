"""Integration: the application layer end to end, the real binary over the captures of
pcaps/gen/gen_app.py (pcaps/README.md): decoded HTTP, SMTP, FTP and DNS content is
inspected, every match says where it was found, app_proto comes from nDPI, and what
could not be inspected (TLS, STARTTLS, a decompression bomb) is reported as such."""

import json
import unittest

from sensor import pcap, run


def dlp(r):
    return r.of("dlp")


def found(r):
    """{(rule, field, filename)} over dlp events and flow events."""
    out = set()
    for e in dlp(r):
        for m in e["dlp"]["matches"]:
            out.add((e["dlp"]["rule"], m["field"], m.get("filename")))
    for f in r.of("flow"):
        for rr in f["dlp_rules"]:
            for m in rr["matches"]:
                out.add((rr["rule"], m["field"], m.get("filename")))
    return out


def events_text(r):
    """Every event as JSON text."""
    return "\n".join(json.dumps(e) for e in r.events)


def flow_of(r, port):
    return [f for f in r.of("flow") if port in (f["src_port"], f["dest_port"])][0]


class Http(unittest.TestCase):
    def check(self, name, want, app="HTTP"):
        r = run("-r", pcap(name), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(found(r), want, name)
        for e in dlp(r) + r.of("flow"):
            self.assertEqual(e["app_proto"], app, name)
        return r

    def test_chunked_value_across_chunks(self):
        r = self.check("http-chunked-card.pcap", {("pii.credit_card", "http.body", None)})
        self.assertEqual(r.of("flow")[0]["http"]["hostname"], "chunks.example.com")

    def test_gzip_request_body(self):
        self.check("http-gzip-body.pcap", {("pii.us_ssn", "http.body", None)})

    def test_form_urlencoded_percent40(self):
        r = self.check("http-form-pct40.pcap", {("pii.email", "http.body", None)})
        self.assertEqual(dlp(r)[0]["dlp"]["matches"][0]["masked"], "j***@example.com")

    def test_multipart_csv_upload(self):
        self.check("http-multipart-csv.pcap", {("pii.credit_card", "http.body", "customers.csv"),
                                               ("pii.email", "http.body", "customers.csv")})

    def test_ipv6(self):
        r = self.check("http-ipv6.pcap", {("pii.email", "http.body", None)})
        self.assertEqual(dlp(r)[0]["src_ip"], "fd00::41")

    def test_utf16le_document(self):
        r = self.check("http-utf16-upload.pcap", {("pii.credit_card", "http.body", None)})
        self.assertEqual(dlp(r)[0]["dlp"]["matches"][0]["masked"], "453914******6467")

    def test_keep_alive_three_requests(self):
        self.check("http-keepalive-three.pcap", {("pii.us_ssn", "http.body", None),
                                                 ("pii.credit_card", "http.body", None)})

    def test_websocket_masked_deflated_fragmented(self):
        # masked frames, permessage-deflate with context takeover, fragments around a ping
        r = self.check("http-websocket.pcap", {("pii.credit_card", "ws.message", None),
                                               ("pii.email", "ws.message", None),
                                               ("pii.us_ssn", "ws.message", None)})
        masked = {e["dlp"]["matches"][0]["masked"] for e in dlp(r)}
        self.assertEqual(masked, {"412796******2484", "l***@example.org", "*****8417"})
        ins = r.of("flow")[0]["inspection"]["toserver"]
        self.assertEqual(ins["not_inspected"], {})
        self.assertTrue(ins["complete"])
        self.assertEqual(r.of("flow")[0]["http"]["hostname"], "ws.example.net")

    def test_decompression_bomb_is_reported_not_inspected(self):
        r = self.check("http-gzip-bomb.pcap", set())
        ins = r.of("flow")[0]["inspection"]["toserver"]
        self.assertEqual(ins["not_inspected"], {"decomp_ratio": 1})
        self.assertFalse(ins["complete"])
        self.assertLess(ins["inspected_bytes"], 4 << 20)
        # the run's totals say the same, for whoever reads only stats
        app = r.of("stats")[-1]["app"]
        self.assertEqual(app["decomp_ratio"], 1)
        self.assertEqual(app["encrypted"], 0)


class Evasions(unittest.TestCase):
    """HTTP connections shaped to slip past the decoder (pcaps/README.md,
    http-evasions.pcap): each value must still be found."""

    def test_each_value_found(self):
        r = run("-r", pcap("http-evasions.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((e["src_port"], e["dlp"]["rule"], m["field"])
                     for e in dlp(r) for m in e["dlp"]["matches"])
        self.assertEqual(got, [(48001, "pii.credit_card", "raw"),
                               (48002, "pii.us_ssn", "http.body"),
                               (48003, "pii.us_ssn", "http.body"),
                               (48004, "pii.credit_card", "raw"),
                               (48006, "pii.us_ssn", "http.header"),
                               (48007, "pii.credit_card", "http.body")])
        # the bytes after the request were not HTTP: noted, and scanned all the same
        self.assertEqual(flow_of(r, 48001)["inspection"]["toserver"]["not_inspected"],
                         {"decoder_error": 1})
        # empty lines told one byte at a time still lead to the HTTP decoder
        self.assertEqual(flow_of(r, 48005)["http"], {"hostname": "api.example.com"})


class OtherPorts(unittest.TestCase):
    """http-other-ports.pcap: HTTP after empty lines on ports 25, 3306 and 6379, which
    nDPI 4.2 detects as SMTP, MySQL and Redis: the flows keep nDPI's names, the HTTP
    decoder reads them (test_tuning: a rule limited to HTTP counts their values)."""

    def test_read_by_the_http_decoder(self):
        r = run("-r", pcap("http-other-ports.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((e["dest_port"], e["app_proto"], m["field"])
                     for e in dlp(r) for m in e["dlp"]["matches"])
        self.assertEqual(got, [(25, "SMTP", "http.body"), (3306, "MySQL", "http.body"),
                               (6379, "Redis", "http.body")])


class TextForms(unittest.TestCase):
    """Values written as every reader takes them for the plain value (pcaps/README.md,
    gen/gen_escapes.py); each flow must yield exactly these values."""

    def values(self, name):
        r = run("-r", pcap(name), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = set()
        for f in r.of("flow"):
            self.assertEqual(f["inspection"]["toserver"]["not_inspected"], {}, f["src_port"])
            for rr in f["dlp_rules"]:
                for m in rr["matches"]:
                    got.add((f["src_port"], rr["rule"], m["field"], m["masked"]))
        return r, got

    def test_unicode_spaces_between_groups(self):
        """U+00A0, U+3000 (between full-width digits), U+202F, U+2009, U+2007, in UTF-8 and
        in a UTF-16LE document. The binary before found none of them."""
        r, got = self.values("http-unicode-spaces.pcap")
        self.assertEqual(got, {
            (48201, "pii.credit_card", "http.body", "471622******9135"),
            (48202, "pii.credit_card", "http.body", "455670******1375"),
            (48203, "pii.credit_card", "http.body", "471622******9135"),
            (48203, "pii.us_ssn", "http.body", "*****8417"),
            (48204, "pii.credit_card", "http.body", "455670******1375"),
            (48204, "pii.us_ssn", "http.body", "*****8417")})

    def test_json_string_escapes(self):
        """\\u escapes in JSON bodies (application/json, +json, NDJSON, JSON sniffed in a
        text/plain body), in a key, across segments, and in a WebSocket text message cut
        inside an escape; an escaped backslash and a lone surrogate are no value. The
        binary before found none of them."""
        r, got = self.values("http-json-escapes.pcap")
        self.assertEqual(got, {
            (48211, "pii.credit_card", "http.body", "471622******9135"),
            (48212, "pii.email", "http.body", "a***@example.net"),
            (48213, "pii.us_ssn", "http.body", "*****8417"),
            (48214, "secret.password_field", "http.body", "********"),
            (48215, "pii.credit_card", "http.body", "455670******1375"),
            (48216, "pii.credit_card", "http.body", "471622******9135"),
            (48217, "pii.email", "ws.message", "a***@example.net")})
        self.assertNotIn("Hunter2-secret", events_text(r))


class Base64InApis(unittest.TestCase):
    """http-base64-api.pcap (pcaps/README.md, gen/gen_b64api.py; FINDINGS.md F5): files in
    base64 inside API bodies (b64run.c) are decoded to streams of their own: a mail-send
    attachment cut across segments, Gmail's base64url "raw" without padding, a form's data:
    URI, a WebSocket text message, a gzip file (inflated, passed over as media); a JWT, a
    hash, a random signature and a short base64 value are no file. The binary before found
    only the plain envelope addresses of 48301."""

    def test_decoded_files(self):
        r = run("-r", pcap("http-base64-api.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = {}
        for f in r.of("flow"):
            got[f["src_port"]] = {(rr["rule"], m["field"], m["masked"])
                                  for rr in f["dlp_rules"] for m in rr["matches"]}
            self.assertEqual(f["inspection"]["toserver"]["not_inspected"],
                             {"media": 1} if f["src_port"] == 48305 else {}, f["src_port"])
        card = ("pii.credit_card", "492918******6617")
        card2 = ("pii.credit_card", "540400******0001")
        ssn, mail = ("pii.us_ssn", "*****3390"), ("pii.email", "o***@example.org")
        csv = lambda field: {(v[0], field, v[1]) for v in (card, ssn, mail)}
        self.assertEqual(got[48301], csv("http.body") | {
            ("pii.email", "http.body", "b***@example.com"),
            ("pii.email", "http.body", "r***@example.com")})
        self.assertEqual(got[48302], {(card2[0], "http.body", card2[1]),
                                      (ssn[0], "http.body", ssn[1]),
                                      ("pii.email", "http.body", "o***@example.com"),
                                      ("pii.email", "http.body", "x***@example.net")})
        self.assertEqual(got[48303], csv("http.body"))
        self.assertEqual(got[48304], csv("ws.message"))
        self.assertEqual(got[48305], {(card2[0], "http.body", card2[1])})
        self.assertEqual(got[48306], set())


class Media(unittest.TestCase):
    """Uploads of compressed media (pcaps/README.md, http-media-uploads.pcap): a chance
    address in a photo's compressed bytes is passed over, text in media is not."""

    def events(self, *extra):
        r = run("-r", pcap("http-media-uploads.pcap"), "--log-flows", *extra)
        self.assertEqual(r.status, 0, r.stderr)
        return r, {(e["src_port"], e["dlp"]["rule"]) for e in dlp(r)}

    def test_only_the_text_of_media_is_scanned(self):
        r, got = self.events()
        self.assertEqual(got, {(47102, "pii.email"), (47103, "pii.credit_card"),
                               (47104, "pii.us_ssn"), (47105, "pii.email"),
                               (47105, "pii.credit_card"), (47106, "pii.email"),
                               (47106, "pii.credit_card"), (47108, "pii.email"),
                               (47108, "pii.credit_card")})
        photo = flow_of(r, 47101)["inspection"]["toserver"]
        self.assertEqual(photo["not_inspected"], {"media": 1})
        self.assertGreater(photo["uninspected_bytes"], 5900)
        self.assertFalse(photo["complete"])
        self.assertEqual(r.stats["app"]["media"], 9)
        self.assertEqual(r.stats["app"]["uninspected_bytes"],
                         sum(f["inspection"]["toserver"]["uninspected_bytes"]
                             for f in r.of("flow")))

    def test_scan_media_scans_them_whole(self):
        r, got = self.events("--scan-media")
        self.assertEqual(got, {(47101, "pii.email"), (47102, "pii.email"),
                               (47103, "pii.credit_card"), (47104, "pii.us_ssn"),
                               (47105, "pii.email"), (47105, "pii.credit_card"),
                               (47106, "pii.email"), (47106, "pii.credit_card"),
                               (47108, "pii.email"), (47108, "pii.credit_card")})
        self.assertEqual(r.stats["app"]["media"], 0)
        self.assertEqual(r.stats["app"]["uninspected_bytes"], 0)

    def test_archive_members_unpacked(self):
        """An xlsx (a ZIP of deflated XML): the values are only in the inflated member,
        which the events name; a ZIP member stored as is, likewise."""
        for extra in ((), ("--scan-media",)):
            r, _ = self.events(*extra)
            files = {(e["src_port"], e["dlp"]["rule"], m.get("filename"))
                     for e in dlp(r) for m in e["dlp"]["matches"]}
            self.assertIn((47105, "pii.credit_card", "xl/sharedStrings.xml"), files)
            self.assertIn((47105, "pii.email", "xl/sharedStrings.xml"), files)
            self.assertIn((47104, "pii.us_ssn", "staff.csv"), files)
            self.assertIn((47106, "pii.credit_card", "customers.csv.gz"), files)
            self.assertIn((47106, "pii.email", "customers.csv.gz"), files)
            self.assertIn((47108, "pii.credit_card", "customers.csv.gz"), files)

    def test_gzip_file_unpacked_once(self):
        """A .csv.gz upload: the file inside is scanned whole (its bytes count as
        inspected, more than came on the wire); a gzip file inside it is not unpacked."""
        r, _ = self.events()
        csv = flow_of(r, 47106)["inspection"]["toserver"]
        self.assertGreater(csv["inspected_bytes"], csv["stream_bytes"])
        self.assertEqual(csv["not_inspected"], {"media": 1})  # the compressed bytes
        nested = flow_of(r, 47107)
        self.assertEqual(nested["inspection"]["toserver"]["not_inspected"], {"media": 2})
        self.assertFalse([e for e in dlp(r) if e["src_port"] == 47107])

    def test_no_app_layer_scans_every_byte(self):
        r, got = self.events("--no-app-layer")
        self.assertIn((47101, "pii.email"), got)
        self.assertEqual(r.stats["app"]["media"], 0)


class Mail(unittest.TestCase):
    def test_smtp_mime_quoted_printable_base64(self):
        r = run("-r", pcap("smtp-mime-qp-base64.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = found(r)
        # the SSN is cut by a quoted-printable soft line break; the attachment's card is
        # only in base64; the addresses are in the headers and the envelope
        for want in (("pii.us_ssn", "smtp.body", None), ("pii.credit_card", "smtp.body", None),
                     ("pii.credit_card", "smtp.attachment", "cards.csv"),
                     ("pii.email", "smtp.header", None)):
            self.assertIn(want, got)
        mail = flow_of(r, 47010)
        self.assertEqual(mail["app_proto"], "SMTP")
        self.assertTrue(mail["inspection"]["toserver"]["complete"])
        tls = flow_of(r, 47011)
        self.assertEqual(tls["dlp_rules"], [])
        self.assertIn("encrypted", tls["inspection"]["toserver"]["not_inspected"])
        self.assertFalse(tls["inspection"]["toserver"]["complete"])

    def test_smtp_auth_pipelining(self):
        r = run("-r", pcap("smtp-auth-pipelining.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        # :47016 MAIL, RCPT, DATA and the message pipelined behind AUTH PLAIN's initial
        # response, before any reply: they are commands and a message, not AUTH lines
        got = {(e["dlp"]["rule"], m["field"]) for e in dlp(r) if e["src_port"] == 47016
               for m in e["dlp"]["matches"]}
        self.assertIn(("pii.credit_card", "smtp.body"), got)
        mail = flow_of(r, 47016)
        self.assertEqual(mail["app_proto"], "SMTP")
        # all but the AUTH line, a credential: not inspected, so not complete
        self.assertEqual(mail["inspection"]["toserver"]["not_inspected"], {"credentials": 1})
        self.assertFalse(mail["inspection"]["toserver"]["complete"])
        # :47017 AUTH LOGIN answered after each 334: the base64 credentials (an address and
        # a password) are never scanned
        login = flow_of(r, 47017)
        self.assertEqual(login["app_proto"], "SMTP")
        self.assertEqual(login["dlp_rules"], [])
        self.assertFalse([e for e in dlp(r) if e["src_port"] == 47017])


class MailEvasions(unittest.TestCase):
    """smtp-mime-evasions.pcap: one mail per flow, each hiding the card from a MIME
    decoder that stops early; the card must be found in that mail's body."""

    @classmethod
    def setUpClass(cls):
        cls.r = run("-r", pcap("smtp-mime-evasions.pcap"), "--log-flows")

    def card_in_body(self, port):
        self.assertEqual(self.r.status, 0, self.r.stderr)
        got = {(e["dlp"]["rule"], m["field"]) for e in dlp(self.r) if e["src_port"] == port
               for m in e["dlp"]["matches"]}
        self.assertIn(("pii.credit_card", "smtp.body"), got, port)
        self.assertEqual(flow_of(self.r, port)["app_proto"], "SMTP")

    def test_base64_chunks_after_padding(self):
        # "card " then the card then CRLF, each base64-encoded and padded on its own
        self.card_in_body(47012)

    def test_boundary_line_rest(self):
        # "--b2 card 4556 7375 8689 9855": a boundary to a lenient reader, text to a strict one
        self.card_in_body(47013)

    def test_preamble_and_epilogue(self):
        # smtp-mime-preamble.pcap: the card before the first boundary (:47014), after the
        # closing one (:47015); a reader of the raw message sees both
        r = run("-r", pcap("smtp-mime-preamble.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((e["src_port"], e["dlp"]["rule"], m["field"], m["masked"])
                     for e in dlp(r) for m in e["dlp"]["matches"]
                     if e["dlp"]["rule"] == "pii.credit_card")
        self.assertEqual(got, [(47014, "pii.credit_card", "smtp.body", "492915******9052"),
                               (47015, "pii.credit_card", "smtp.body", "492915******9052")])


class MailUuencode(unittest.TestCase):
    """smtp-uuencode.pcap: a uuencoded file inline in a text/plain body (:47018), shown as
    an attachment by Outlook and Thunderbird, and a part encoded x-uuencode (:47019): each
    card is found decoded, in smtp.attachment under the file's name, nothing left over."""

    def test_blocks_decoded_as_attachments(self):
        r = run("-r", pcap("smtp-uuencode.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((e["src_port"], m["field"], m.get("filename"), m["masked"])
                     for e in dlp(r) for m in e["dlp"]["matches"]
                     if e["dlp"]["rule"] == "pii.credit_card")
        self.assertEqual(got, [(47018, "smtp.attachment", "cards.txt", "455673******7131"),
                               (47019, "smtp.attachment", "export.csv", "448512******8052")])
        for port in (47018, 47019):
            ts = flow_of(r, port)["inspection"]["toserver"]
            self.assertEqual(ts["not_inspected"], {}, port)
            self.assertTrue(ts["complete"], port)


class RawOnly(unittest.TestCase):
    """--no-app-layer: no nDPI, no decoders; what travels encoded is not found, what
    travels as plain text still is, always as field raw."""

    def test_encoded_body_not_found_plain_text_still_is(self):
        args = ("-r", pcap("http-gzip-body.pcap"), "-r", pcap("http-chunked-card.pcap"),
                "-r", pcap("http-keepalive-three.pcap"))
        full = run(*args)
        raw = run("--no-app-layer", *args)
        self.assertEqual(raw.status, 0, raw.stderr)
        self.assertIn(("pii.us_ssn", "http.body", None), found(full))
        got = found(raw)
        self.assertTrue(got)
        self.assertEqual({f for _, f, _ in got}, {"raw"})
        # the gzip'd SSN (47002) and the card cut by chunk headers (47001) are not seen
        # raw; the plain forms' card and SSN (47007) are (the SSN's context ends where the
        # server answers: the next request's "ka.example.com" is not its context)
        self.assertEqual(sorted((e["src_port"], e["dlp"]["rule"]) for e in dlp(raw)),
                         [(47007, "pii.credit_card"), (47007, "pii.us_ssn")])
        self.assertEqual(sorted(e["src_port"] for e in dlp(full)
                                if e["dlp"]["rule"] == "pii.credit_card"), [47001, 47007])
        self.assertEqual({e["app_proto"] for e in dlp(raw)}, {"Unknown"})
        # stats: no flow went through a decoder
        flows = raw.of("stats")[-1]["app_flows"]
        self.assertEqual(flows["undecoded"], raw.of("stats")[-1]["flows"])
        self.assertEqual(full.of("stats")[-1]["app_flows"]["http"], 3)


class FtpDnsTls(unittest.TestCase):
    def test_ftp_passive_upload(self):
        r = run("-r", pcap("ftp-passive-upload.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(found(r), {("pii.us_ssn", "ftp.data", None),
                                    ("pii.email", "ftp.data", None)})
        for e in dlp(r):
            self.assertEqual(e["app_proto"], "FTP_DATA")
            self.assertEqual(e["dest_port"], 195 * 256 + 80)
        flows = r.of("stats")[-1]["app_flows"]
        self.assertEqual((flows["ftp"], flows["ftp_data"], flows["undecoded"]), (1, 1, 0))

    def test_dns_query_and_tls(self):
        r = run("-r", pcap("dns-tls.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        (e,) = dlp(r)
        self.assertEqual((e["app_proto"], e["proto"]), ("DNS", "UDP"))
        self.assertEqual(e["dlp"]["matches"][0]["field"], "dns.query")
        tls = flow_of(r, 443)
        self.assertTrue(tls["app_proto"].startswith("TLS"), tls["app_proto"])
        self.assertEqual(tls["tls"]["sni"], "secure.example.com")
        self.assertEqual(tls["dlp_rules"], [])
        self.assertGreater(tls["inspection"]["toserver"]["uninspected_bytes"], 0)
        self.assertEqual(tls["inspection"]["toserver"]["inspected_bytes"], 0)
        # stats: egress directions only (the server's answer is not counted)
        flows = r.of("stats")[-1]["app_flows"]
        self.assertEqual((flows["dns"], flows["encrypted"], flows["undecoded"]), (1, 1, 0))
        app = r.of("stats")[-1]["app"]
        self.assertEqual(app["encrypted"], 1)
        self.assertEqual(app["uninspected_bytes"],
                         tls["inspection"]["toserver"]["uninspected_bytes"])
        self.assertEqual(app["decomp_ratio"], 0)


class ProxyTunnels(unittest.TestCase):
    """proxy-tunnels.pcap (pcaps/README.md): HTTP through an HTTP CONNECT tunnel or a SOCKS
    proxy reaches its server as a new connection's bytes, and is decoded as one (gzip,
    chunked); the flows keep nDPI's name for the proxy; TLS through CONNECT stays encrypted;
    a SOCKS greeting followed by no request is scanned raw. The binary before scanned every
    tunnel raw: it found nothing in the first four, and the card the TLS record spells."""

    @classmethod
    def setUpClass(cls):
        cls.r = run("-r", pcap("proxy-tunnels.pcap"), "--log-flows")

    def check(self, port, app, want, not_inspected=None):
        self.assertEqual(self.r.status, 0, self.r.stderr)
        f = flow_of(self.r, port)
        got = {(rr["rule"], m["field"], m["masked"]) for rr in f["dlp_rules"]
               for m in rr["matches"]}
        self.assertEqual(got, want, port)
        self.assertEqual(f["app_proto"], app, port)
        for e in dlp(self.r):
            if e["src_port"] == port:
                self.assertEqual(e["app_proto"], app, port)
        ts = f["inspection"]["toserver"]
        self.assertEqual(ts["not_inspected"], not_inspected or {}, port)
        self.assertEqual(ts["complete"], not not_inspected, port)
        return f

    def test_connect_then_gzip_chunked_post(self):
        self.check(48001, "HTTP_Connect",
                   {("pii.credit_card", "http.body", "455601******4435")})

    def test_socks5_then_gzip_post(self):
        self.check(48002, "SOCKS", {("pii.us_ssn", "http.body", "*****7786")})

    def test_socks5_password_is_a_credential(self):
        self.check(48003, "SOCKS", {("pii.credit_card", "http.body", "520473******5505")},
                   {"credentials": 1})
        self.assertNotIn("Tr0ub4dor", events_text(self.r))

    def test_socks4a_then_gzip_post(self):
        self.check(48004, "SOCKS", {("pii.email", "http.body", "t***@example.org")})

    def test_connect_then_tls_not_inspected(self):
        f = self.check(48005, "HTTP_Connect", set(), {"encrypted": 1})
        self.assertGreater(f["inspection"]["toserver"]["uninspected_bytes"], 0)

    def test_failed_socks_handshake_scanned_raw(self):
        self.check(48006, "SOCKS", {("pii.us_ssn", "raw", "*****7786")})

    def test_stats(self):
        flows = self.r.of("stats")[-1]["app_flows"]
        self.assertEqual((flows["http"], flows["encrypted"], flows["undecoded"]), (4, 1, 1))
        self.assertEqual(self.r.of("stats")[-1]["app"]["credentials"], 1)


class EncryptedDatagrams(unittest.TestCase):
    """udp-quic.pcap: datagrams of a flow nDPI names as an encrypted protocol are not
    scanned (what ciphertext spells is chance), a plain datagram flow beside it is."""

    def test_quic_ciphertext_not_scanned(self):
        r = run("-r", pcap("udp-quic.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual([(e["src_port"], e["dlp"]["rule"]) for e in dlp(r)],
                         [(51001, "pii.email")])
        quic = flow_of(r, 51000)
        self.assertEqual(quic["app_proto"], "QUIC")
        out = quic["inspection"]["toserver"]
        self.assertEqual(out["not_inspected"], {"encrypted": 1})
        self.assertEqual((out["inspected_bytes"], out["uninspected_bytes"]), (0, 2745))
        self.assertFalse(out["complete"])


class DnsTcp(unittest.TestCase):
    def test_not_dns_to_port_53_is_scanned(self):
        """TCP to port 53: a real query, then a length-prefixed "message" that is not DNS
        (the card), then more bytes (the SSN); a connection that ends inside a 65535-byte
        "message" (the Mastercard). What the server received is scanned as raw bytes."""
        r = run("-r", pcap("dns-tcp-not-dns.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((e["src_port"], e["dlp"]["rule"], e["dlp"]["matches"][0]["masked"],
                      e["dlp"]["matches"][0]["field"]) for e in dlp(r))
        self.assertEqual(got, [(47060, "pii.credit_card", "453914******6467", "raw"),
                               (47060, "pii.us_ssn", "*****8417", "raw"),
                               (47061, "pii.credit_card", "542523******9903", "raw")])
        cut = flow_of(r, 47061)["inspection"]["toserver"]
        self.assertEqual(cut["inspected_bytes"], cut["stream_bytes"])

    def test_values_outside_names_are_scanned(self):
        """Port 53, messages that parse as DNS with a value outside their names: TCP a
        query's additional TXT record, then a "response" the client sends (its answer);
        UDP bytes after a query's question. Each message is scanned whole as dns.query."""
        r = run("-r", pcap("dns-hidden-bytes.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        got = sorted((port, d["rule"], m["masked"], m["field"]) for port in (47062, 53334)
                     for d in flow_of(r, port)["dlp_rules"] for m in d["matches"])
        self.assertEqual(got, [(47062, "pii.credit_card", "453201******1006", "dns.query"),
                               (47062, "pii.credit_card", "552742******1007", "dns.query"),
                               (53334, "pii.credit_card", "491688******1008", "dns.query")])
        self.assertEqual({e["app_proto"] for e in dlp(r)}, {"DNS"})

    def test_inside_server_answers_are_scanned(self):
        """An outside client queries an inside host on TCP port 53: the answer leaves
        the network (egress toclient), so it is scanned: its TXT data holds a card."""
        r = run("-r", pcap("dns-tcp-inside-server.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        f = flow_of(r, 47063)
        out = f["inspection"]["toclient"]
        self.assertTrue(out["egress"])
        self.assertEqual(out["inspected_bytes"], out["stream_bytes"])
        got = [(d["rule"], m["masked"], m["field"]) for d in f["dlp_rules"] for m in d["matches"]]
        self.assertEqual(got, [("pii.credit_card", "455673******1005", "raw")])


class InsideServers(unittest.TestCase):
    def test_inside_smtp_ftp_server_replies(self):
        """Outside clients of an inside SMTP and an inside FTP server: their reply lines
        leave the network (egress toclient). The FTP server's are scanned as raw bytes;
        the SMTP server's are counted as not inspected (they echo the client's envelope:
        an inbound mail server would raise an alert per delivery)."""
        r = run("-r", pcap("smtp-ftp-inside-server.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        ftp = flow_of(r, 47065)
        out = ftp["inspection"]["toclient"]
        self.assertEqual(ftp["app_proto"], "FTP_CONTROL")
        self.assertTrue(out["egress"])
        self.assertEqual(out["inspected_bytes"], out["stream_bytes"])
        got = [(d["rule"], m["masked"], m["field"]) for d in ftp["dlp_rules"]
               for m in d["matches"]]
        self.assertEqual(got, [("pii.credit_card", "402400******1002", "raw")])
        smtp = flow_of(r, 47064)
        out = smtp["inspection"]["toclient"]
        self.assertEqual(smtp["app_proto"], "SMTP")
        self.assertEqual(smtp["dlp_rules"], [])
        self.assertEqual(out["inspected_bytes"], 0)
        self.assertEqual(out["uninspected_bytes"], out["stream_bytes"])
        self.assertFalse(out["complete"])


class Commands(unittest.TestCase):
    """smtp-commands.pcap, ftp-commands.pcap: values in command lines (NOOP, HELO, VRFY,
    MKD, CWD, SITE, unknown verbs, a 9000-byte line), credentials in AUTH, PASS, ACCT;
    credential-channel.pcap: lines past the bounds of a credential."""

    def values(self, r, port):
        """{(rule, field, masked)} of the flow's dlp_rules."""
        return {(rr["rule"], m["field"], m["masked"]) for rr in flow_of(r, port)["dlp_rules"]
                for m in rr["matches"]}

    def test_smtp_command_lines(self):
        r = run("-r", pcap("smtp-commands.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r, 47040), {
            ("pii.credit_card", "smtp.command", "448547******7893"),  # NOOP
            ("pii.credit_card", "smtp.command", "491635******6194"),  # an unknown verb
            ("pii.credit_card", "smtp.command", "516871******9105"),  # across byte 8192
            ("pii.us_ssn", "smtp.command", "*****2093"),              # VRFY
            ("pii.email", "smtp.command", "c***@example.org")})       # HELO
        self.assertEqual(sorted(e["dlp"]["rule"] for e in dlp(r)),
                         ["pii.credit_card", "pii.email", "pii.us_ssn"])
        flow = flow_of(r, 47040)
        self.assertEqual(flow["app_proto"], "SMTP")
        # no header_cap for the 9000-byte line; the AUTH line is told as not inspected
        self.assertEqual(flow["inspection"]["toserver"]["not_inspected"], {"credentials": 1})
        self.assertFalse(flow["inspection"]["toserver"]["complete"])
        # the AUTH PLAIN response (47040) and the AUTH LOGIN answers (47041) are credentials
        login = flow_of(r, 47041)
        self.assertEqual(login["dlp_rules"], [])
        self.assertFalse([e for e in dlp(r) if e["src_port"] == 47041])
        self.assertNotIn("402488******4789", events_text(r) + r.stderr)

    def test_ftp_command_lines(self):
        r = run("-r", pcap("ftp-commands.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r, 47045), {
            ("pii.credit_card", "ftp.command", "528987******9214"),  # MKD
            ("pii.credit_card", "ftp.command", "453214******5474"),  # across byte 8192
            ("pii.us_ssn", "ftp.command", "*****7759"),              # CWD
            ("pii.email", "ftp.command", "f***@example.org")})       # SITE
        flow = flow_of(r, 47045)
        self.assertEqual(flow["app_proto"], "FTP_CONTROL")
        self.assertEqual(flow["inspection"]["toserver"]["not_inspected"], {"credentials": 2})
        # PASS and ACCT arguments are credentials: never scanned
        self.assertNotIn("492982******0995", events_text(r) + r.stderr)
        # a last line without LF, read at the client's end
        self.assertEqual(self.values(r, 47046), {("pii.us_ssn", "ftp.command", "*****7759")})

    def test_ftp_telnet_iac(self):
        """ftp-telnet-iac.pcap: Telnet IAC sequences inside command lines, which a server
        that reads Telnet (BSD ftpd, ProFTPD) removes: the values are found as it reads them;
        an IAC inside PASS makes no credential. A sensor that scans the bytes as sent finds
        only the card after PA<IAC IP>SS."""
        r = run("-r", pcap("ftp-telnet-iac.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r, 47080), {
            ("pii.credit_card", "ftp.command", "519055******1357"),  # IAC NOP inside
            ("pii.credit_card", "ftp.command", "556419******6532"),  # IAC IP, two segments
            ("pii.credit_card", "ftp.command", "511335******2192"),  # PA<IAC IP>SS
            ("pii.us_ssn", "ftp.command", "*****4093")})             # IAC WILL, IAC DO
        flow = flow_of(r, 47080)
        self.assertEqual(flow["app_proto"], "FTP_CONTROL")
        self.assertEqual(flow["inspection"]["toserver"]["not_inspected"], {"credentials": 1})

    def test_credential_channel(self):
        """credential-channel.pcap: lines dressed as credentials past the bounds of a real
        login (a sixth answer to 334, a fourth AUTH, an AUTH line over 4096 bytes, PASS
        without USER or after PASS, MIC) are scanned; the bytes swallowed within the bounds
        are told as not inspected. A sensor that swallows them finds nothing here."""
        r = run("-r", pcap("credential-channel.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r, 47070), {
            ("pii.credit_card", "smtp.command", "534563******0877"),  # the fifth answer
            ("pii.us_ssn", "smtp.command", "*****3086"),              # the sixth
            ("pii.email", "smtp.command", "c***@example.org"),        # the seventh
            ("pii.credit_card", "smtp.command", "444044******7379")})  # the fourth AUTH
        self.assertEqual(self.values(r, 47071),
                         {("pii.credit_card", "smtp.command", "539755******8938")})
        self.assertEqual(self.values(r, 47072), {
            ("pii.credit_card", "ftp.command", "447119******7374"),  # PASS without USER
            ("pii.us_ssn", "ftp.command", "*****2047"),              # PASS after PASS
            ("pii.email", "ftp.command", "m***@example.org")})       # MIC
        # AUTH LOGIN, its four answers and two AUTH PLAIN lines; the PASS after USER
        for port, n in ((47070, 7), (47072, 1)):
            insp = flow_of(r, port)["inspection"]["toserver"]
            self.assertEqual(insp["not_inspected"], {"credentials": n}, port)
            self.assertGreater(insp["uninspected_bytes"], 0, port)
            self.assertFalse(insp["complete"], port)
        self.assertEqual(flow_of(r, 47071)["inspection"]["toserver"]["not_inspected"], {})
        self.assertEqual(r.stats["app"]["credentials"], 8)
        # the password within the bounds is still a credential: never scanned
        self.assertNotIn("488803******3639", events_text(r) + r.stderr)


class Encodings(unittest.TestCase):
    """pcaps/gen/gen_encodings.py (pcaps/README.md): values the receiver reads only once it
    undoes an encoding, and look-alikes that are none."""

    def values(self, r):
        return sorted((e["src_port"], e["dlp"]["rule"], m["field"], m["masked"])
                      for e in dlp(r) for m in e["dlp"]["matches"])

    def test_ftp_mode_z(self):
        """MODE Z: the upload is inflated before it is scanned; MODE S undoes it; a MODE Z
        upload that is no zlib stream is scanned as it is, noted decoder_error."""
        r = run("-r", pcap("ftp-mode-z.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r), [
            (47101, "pii.credit_card", "ftp.data", "402400******1232"),
            (47101, "pii.email", "ftp.data", "j***@example.org"),
            (47103, "pii.credit_card", "ftp.data", "471691******1237"),
            (47103, "pii.email", "ftp.data", "j***@example.org"),
            (47111, "pii.credit_card", "ftp.data", "448512******1232"),
            (47111, "pii.email", "ftp.data", "j***@example.org")])
        notes = {p: flow_of(r, p)["inspection"]["toserver"].get("not_inspected", {})
                 for p in (47101, 47103, 47111)}
        self.assertEqual(notes, {47101: {}, 47103: {}, 47111: {"decoder_error": 1}})
        self.assertEqual({e["app_proto"] for e in dlp(r)}, {"FTP_DATA"})

    def test_dns_label_split(self):
        """A card over four labels, spaced or dotted inside one label: found, as dns.query,
        masked; sixteen digits over labels that fail Luhn, a reverse lookup and a CDN name
        with digits: nothing."""
        r = run("-r", pcap("dns-label-split.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r), [
            (47120, "pii.credit_card", "dns.query", "491688******1230"),
            (47121, "pii.credit_card", "dns.query", "455673******1237"),
            (47122, "pii.credit_card", "dns.query", "453201******1238")])
        self.assertNotIn("4916882301441230", events_text(r))

    def test_multipart_filename_star(self):
        """filename*=UTF-8''%35%33%36... (RFC 5987): scanned decoded, as a part header."""
        r = run("-r", pcap("http-multipart-filename-star.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r), [(47130, "pii.us_ssn", "http.header", "*****8417")])

    def test_retina_asset_no_email(self):
        """logo@2x.png, icon@3x.webp, hero@2x.jpg are file names; the address beside them
        in the same connection still alerts."""
        r = run("-r", pcap("http-retina-asset.pcap"), "--log-flows")
        self.assertEqual(r.status, 0, r.stderr)
        self.assertEqual(self.values(r), [(47140, "pii.email", "http.uri", "j***@example.org")])


class H2c(unittest.TestCase):
    """pcaps/gen/gen_h2.py (pcaps/README.md): cleartext HTTP/2, by prior knowledge or after
    "Upgrade: h2c"; DATA frames are joined per stream, padding stripped, gzip sniffed;
    header blocks decoded (HPACK), pcaps/gen/gen_h2.py's http2-hpack.pcap."""

    @classmethod
    def setUpClass(cls):
        cls.r = run("-r", pcap("http2-h2c.pcap"), "--log-flows")
        cls.hp = run("-r", pcap("http2-hpack.pcap"), "--log-flows")

    def cards(self, port):
        f = flow_of(self.r, port)
        return sorted(m["masked"] for rr in f["dlp_rules"] for m in rr["matches"]
                      if m["field"] == "http.body")

    def test_card_across_data_frames(self):
        """The audit's F3: the 9-byte frame header inside the number, both ways in."""
        self.assertEqual(self.r.status, 0, self.r.stderr)
        self.assertEqual(self.cards(48101), ["453278******4431"])
        self.assertEqual(self.cards(48102), ["402400******2210"])

    def test_gzip_body_in_padded_frames(self):
        self.assertEqual(self.cards(48103), ["471602******3345"])

    def test_interleaved_streams(self):
        self.assertEqual(self.cards(48104), ["453201******0366", "455694******7051"])

    def test_header_blocks_decoded(self):
        """HPACK: the header blocks are decoded, so nothing is left uninspected."""
        for port in (48101, 48102, 48103, 48104):
            d = flow_of(self.r, port)["inspection"]["toserver"]
            self.assertEqual(d["not_inspected"], {}, port)
            self.assertEqual(d["uninspected_bytes"], 0, port)
            self.assertTrue(d["complete"], port)

    def hpack_cards(self, port):
        f = flow_of(self.hp, port)
        return sorted((m["field"], m["masked"]) for rr in f["dlp_rules"] for m in rr["matches"])

    def test_card_in_huffman_header_value(self):
        """http2-hpack.pcap: the value Huffman-coded, cut between HEADERS and CONTINUATION."""
        self.assertEqual(self.hp.status, 0, self.hp.stderr)
        self.assertEqual(self.hpack_cards(48105), [("http.header", "491761******1598")])
        self.assertTrue(flow_of(self.hp, 48105)["inspection"]["toserver"]["complete"])

    def test_card_in_path(self):
        self.assertEqual(self.hpack_cards(48106), [("http.uri", "453912******6136")])

    def test_block_that_does_not_decode(self):
        """Scanned raw, noted decoder_error; the next block (table unknown) noted, counted."""
        self.assertEqual(self.hpack_cards(48107), [("raw", "402612******3900")])
        d = flow_of(self.hp, 48107)["inspection"]["toserver"]
        self.assertEqual(d["not_inspected"], {"decoder_error": 1, "unsupported": 1})
        self.assertGreater(d["uninspected_bytes"], 0)
        self.assertFalse(d["complete"])

if __name__ == "__main__":
    from sensor import main
    main()
