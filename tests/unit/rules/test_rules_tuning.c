/*
 * test_rules_tuning.c - the tuning keys of the rule format: context,
 * exclude_context, protocols, fields, allow (per rule and global),
 * test_values, combination, overrides; each parsed to exact values, each
 * error with its exact message and line, each bound hit.
 */
#include "rules_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "dlp/alert.h"

/* A linked rule with a luhn validator (digits normalization); lines 2-8. */
#define RULE_CARD                                                                                  \
    "  - id: 1\n"                                                                                  \
    "    name: t.a\n"                                                                              \
    "    description: d\n"                                                                         \
    "    category: linked\n"                                                                       \
    "    severity: low\n"                                                                          \
    "    patterns: ['abc']\n"                                                                      \
    "    validator: luhn\n"

static const uint8_t v4_10_8[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 0};

/* ---- every new key, parsed ------------------------------------------------- */

static const char keys_yaml[] =
    "rules:\n"
    "  - id: 1\n"
    "    name: t.card\n"
    "    description: d\n"
    "    category: linked\n"
    "    severity: high\n"
    "    patterns: ['4[0-9]{15}']\n"
    "    validator: luhn\n"
    "    context:\n" /* 9 */
    "      words: [card, 'credit card', Visa]\n"
    "      window: 128\n"
    "      required: true\n"
    "    exclude_context: {words: [test, example], window: 1}\n" /* 13 */
    "    protocols: [HTTP, SMTP, FTP-DATA, TLS.Google, dns_x]\n"
    "    fields: [http.body, smtp.attachment, dns.query, raw]\n"
    "    allow:\n" /* 16 */
    "      values: ['4111 1111 1111 1111', '5500-0000-0000-0004']\n"
    "      hmacs: ['00112233445566778899aabbccddeeff']\n"
    "      src: [10.0.0.0/8, 'fd00::/8', 192.168.1.7]\n"
    "      dst:\n"
    "        - 203.0.113.0/24\n"
    "      hosts: [pay.example.com, '*.example.org']\n"
    "    test_values: true\n"
    "    flags: [dotall]\n"
    "  - {id: 2, name: t.min, description: d, category: linkable, severity: low, patterns: [x]}\n";

static void keys_parsed(void **state)
{
    (void)state;
    write_file("k.yaml", keys_yaml);
    dlp_ruleset_t *rs = load_ok("k.yaml");
    assert_int_equal(rs->n, 2);
    const dlp_rule_t *r = &rs->rules[0];

    assert_int_equal(r->context.nwords, 3);
    assert_string_equal(r->context.words[0], "card");
    assert_string_equal(r->context.words[1], "credit card");
    assert_string_equal(r->context.words[2], "Visa");
    assert_int_equal(r->context.window, DLP_RULE_CONTEXT_WINDOW_MAX);
    assert_true(r->context.required);
    assert_string_equal(r->context.file, "k.yaml");
    assert_int_equal(r->context.line, 9);

    assert_int_equal(r->exclude.nwords, 2);
    assert_string_equal(r->exclude.words[0], "test");
    assert_string_equal(r->exclude.words[1], "example");
    assert_int_equal(r->exclude.window, 1);
    assert_false(r->exclude.required);
    assert_int_equal(r->exclude.line, 13);

    static const char *const protos[] = {"HTTP", "SMTP", "FTP-DATA", "TLS.Google", "dns_x"};
    assert_int_equal(r->nprotocols, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(r->protocols[i], protos[i]);
    assert_int_equal(r->fields, (1u << DLP_FIELD_HTTP_BODY) | (1u << DLP_FIELD_SMTP_ATTACHMENT) |
                                    (1u << DLP_FIELD_DNS_QUERY) | (1u << DLP_FIELD_RAW));

    const dlp_rule_allow_t *a = &r->allow;
    assert_int_equal(a->nvalues, 2); /* normalized as the rule normalizes: digits */
    assert_string_equal(a->values[0], "4111111111111111");
    assert_string_equal(a->values[1], "5500000000000004");
    static const uint8_t h[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    assert_int_equal(a->nhmacs, 1);
    assert_memory_equal(a->hmacs[0], h, 16);
    assert_int_equal(a->src.n, 3);
    assert_memory_equal(a->src.v[0].addr, v4_10_8, 16);
    assert_int_equal(a->src.v[0].bits, 96 + 8);
    assert_int_equal(a->src.v[1].addr[0], 0xfd);
    assert_int_equal(a->src.v[1].bits, 8);
    assert_int_equal(a->src.v[2].addr[15], 7);
    assert_int_equal(a->src.v[2].bits, 128);
    assert_int_equal(a->dst.n, 1);
    assert_int_equal(a->dst.v[0].bits, 96 + 24);
    assert_int_equal(a->nhosts, 2);
    assert_string_equal(a->hosts[0], "pay.example.com");
    assert_string_equal(a->hosts[1], "*.example.org");
    assert_string_equal(a->file, "k.yaml");
    assert_int_equal(a->line, 16);
    assert_true(r->test_values);
    assert_int_equal(r->flags, DLP_RULE_F_DOTALL);
    assert_int_equal(r->combination.min_weight, 0);

    /* Defaults: none of it. */
    r = &rs->rules[1];
    assert_int_equal(r->context.nwords, 0);
    assert_null(r->context.words);
    assert_int_equal(r->exclude.nwords, 0);
    assert_int_equal(r->nprotocols, 0);
    assert_null(r->protocols);
    assert_int_equal(r->fields, 0);
    assert_int_equal(
        r->allow.nvalues + r->allow.nhmacs + r->allow.src.n + r->allow.dst.n + r->allow.nhosts, 0);
    assert_null(r->allow.file);
    assert_false(r->test_values);
    assert_int_equal(r->combination.min_weight, 0);
    assert_int_equal(r->combination.nrules, 0);
    assert_int_equal(rs->allow.nhosts, 0);
    dlp_ruleset_free(rs);
}

/* Every field dlp_field_name() names is accepted, and sets its own bit. */
static void fields_all_names(void **state)
{
    (void)state;
    char text[1024];
    size_t o = (size_t)snprintf(text, sizeof(text), HEAD RULE_A "    fields: [");
    for (unsigned f = 0; f < DLP_FIELD__COUNT; f++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s", f ? ", " : "",
                              dlp_field_name((dlp_field_t)f));
    snprintf(text + o, sizeof(text) - o, "]\n");
    write_file("f.yaml", text);
    dlp_ruleset_t *rs = load_ok("f.yaml");
    assert_int_equal(rs->rules[0].fields, (1u << DLP_FIELD__COUNT) - 1);
    dlp_ruleset_free(rs);
    EXPECT(HEAD RULE_A "    fields: [smtp.body]\n    protocols: [SMTP]\n    test_values: false\n"
                       "    fields: [raw]\n",
           "e.yaml:11: rule t.a: duplicate key 'fields'");
}

static void ucp_refused(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    flags: [dotall, ucp]\n",
           "e.yaml:8: rule t.a: flags: ucp is not supported: it needs UTF-8 mode, which is "
           "undefined on binary traffic; write non-ASCII text as bytes");
}

/* ---- context --------------------------------------------------------------- */

static void context_errors(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    context:\n"
                       "      words: []\n"
                       "      window: 0\n"
                       "      required: maybe\n"
                       "      colour: red\n"
                       "    exclude_context:\n"
                       "      words: [' lead', 'trail ', \"tab\\there\", ok, OK]\n"
                       "      window: 129\n"
                       "      required: false\n",
           "e.yaml:9: rule t.a: context: words: expected at least one word",
           "e.yaml:10: rule t.a: context: window: expected an integer from 1 to 128, got '0'",
           "e.yaml:11: rule t.a: context: required: expected true or false, got 'maybe'",
           "e.yaml:12: rule t.a: context: unknown key 'colour'",
           "e.yaml:14: rule t.a: exclude_context: words: ' lead' starts or ends with a space",
           "e.yaml:14: rule t.a: exclude_context: words: 'trail ' starts or ends with a space",
           "e.yaml:14: rule t.a: exclude_context: words: 'tab?here' has characters outside "
           "printable ASCII",
           "e.yaml:14: rule t.a: exclude_context: words: duplicate word 'OK'",
           "e.yaml:15: rule t.a: exclude_context: window: expected an integer from 1 to 128, got "
           "'129'",
           "e.yaml:16: rule t.a: exclude_context: 'required' is not allowed here (a word of "
           "exclude_context always suppresses)");
    EXPECT(HEAD RULE_A "    context: {window: 5}\n",
           "e.yaml:8: rule t.a: context: missing required key 'words'");
    EXPECT(HEAD RULE_A "    context: [ssn]\n",
           "e.yaml:8: rule t.a: context: expected a mapping, got a sequence");
    EXPECT(HEAD RULE_A "    context: {words: ssn}\n",
           "e.yaml:8: rule t.a: context: words: expected a sequence, got 'ssn'");
}

/* A rule whose context has n words of 'len' bytes each ('w' then digits then 'x's). */
static void write_words(const char *path, unsigned n, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, HEAD RULE_A "    context:\n      words:\n");
    for (unsigned i = 0; i < n; i++) {
        char w[128];
        int k = snprintf(w, sizeof(w), "w%u", i);
        while ((size_t)k < len)
            w[k++] = 'x';
        w[len] = '\0';
        fprintf(f, "        - %s\n", w);
    }
    assert_int_equal(fclose(f), 0);
}

static void bound_context(void **state)
{
    (void)state;
    write_words("w.yaml", DLP_RULE_CONTEXT_WORDS_MAX, DLP_RULE_CONTEXT_WORD_MAX);
    dlp_ruleset_t *rs = load_ok("w.yaml");
    assert_int_equal(rs->rules[0].context.nwords, DLP_RULE_CONTEXT_WORDS_MAX);
    assert_int_equal(strlen(rs->rules[0].context.words[63]), DLP_RULE_CONTEXT_WORD_MAX);
    assert_int_equal(rs->rules[0].context.window, DLP_RULE_CONTEXT_WINDOW);
    dlp_ruleset_free(rs);

    write_words("w.yaml", DLP_RULE_CONTEXT_WORDS_MAX + 2, 4);
    const char *const paths[] = {"w.yaml"};
    const char *const want[] = {"w.yaml:74: rule t.a: context: words: more than 64 words"};
    expect_errors_n(paths, 1, want, 1);

    write_words("w.yaml", 1, DLP_RULE_CONTEXT_WORD_MAX + 1);
    const char *const want2[] = {"w.yaml:10: rule t.a: context: words: longer than 48 bytes"};
    expect_errors_n(paths, 1, want2, 1);
}

/* ---- protocols, fields, test_values ---------------------------------------- */

static void protocols_fields_errors(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_A "    protocols: [HTTP, 'SM TP', http, '']\n"
                       "    fields: [http.body, http.bod, http.body]\n"
                       "    test_values: 1\n",
           "e.yaml:8: rule t.a: protocols: 'SM TP' has characters outside [A-Za-z0-9._-]",
           "e.yaml:8: rule t.a: protocols: duplicate protocol 'http'",
           "e.yaml:8: rule t.a: protocols: expected a non-empty string, got an empty string",
           "e.yaml:9: rule t.a: fields: unknown field 'http.bod' (known: raw, http.uri, "
           "http.header, http.body, smtp.header, smtp.body, smtp.attachment, ftp.data, "
           "dns.query, ws.message, smtp.command, ftp.command)",
           "e.yaml:9: rule t.a: fields: duplicate field 'http.body'",
           "e.yaml:10: rule t.a: test_values: expected true or false, got '1'");
    /* the detect stage's comparison: '-' and '_' are the same */
    EXPECT(HEAD RULE_A "    protocols: [FTP-DATA, ftp_data]\n",
           "e.yaml:8: rule t.a: protocols: duplicate protocol 'ftp_data'");
    EXPECT(HEAD RULE_A "    protocols: []\n"
                       "    fields: []\n",
           "e.yaml:8: rule t.a: protocols: expected at least one protocol",
           "e.yaml:9: rule t.a: fields: expected at least one field");
    EXPECT(HEAD RULE_A "    protocols: HTTP\n"
                       "    fields: {http.body: 1}\n",
           "e.yaml:8: rule t.a: protocols: expected a sequence, got 'HTTP'",
           "e.yaml:9: rule t.a: fields: expected a sequence, got a mapping");
}

static void bound_protocols(void **state)
{
    (void)state;
    char name[DLP_RULE_PROTOCOL_NAME_MAX + 2];
    char text[8192];
    size_t o;

    memset(name, 'P', sizeof(name) - 1);
    name[DLP_RULE_PROTOCOL_NAME_MAX] = '\0';
    snprintf(text, sizeof(text), HEAD RULE_A "    protocols: [%s]\n", name);
    write_file("p.yaml", text);
    dlp_ruleset_t *rs = load_ok("p.yaml");
    assert_int_equal(strlen(rs->rules[0].protocols[0]), DLP_RULE_PROTOCOL_NAME_MAX);
    dlp_ruleset_free(rs);
    name[DLP_RULE_PROTOCOL_NAME_MAX] = 'P';
    name[DLP_RULE_PROTOCOL_NAME_MAX + 1] = '\0';
    snprintf(text, sizeof(text), HEAD RULE_A "    protocols: [%s]\n", name);
    EXPECT(text, "e.yaml:8: rule t.a: protocols: longer than 32 bytes");

    o = (size_t)snprintf(text, sizeof(text), HEAD RULE_A "    protocols:\n");
    for (unsigned i = 0; i < DLP_RULE_PROTOCOLS_MAX; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "      - P%u\n", i);
    write_file("p.yaml", text);
    rs = load_ok("p.yaml");
    assert_int_equal(rs->rules[0].nprotocols, DLP_RULE_PROTOCOLS_MAX);
    dlp_ruleset_free(rs);
    snprintf(text + o, sizeof(text) - o, "      - P64\n      - P65\n");
    EXPECT(text, "e.yaml:73: rule t.a: protocols: more than 64 protocols");
}

/* ---- allow ------------------------------------------------------------------ */

static void allow_errors(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_CARD "    allow:\n"
                          "      values: ['4111 1111 1111 1111', abc]\n"
                          "      hmacs:\n"
                          "        - 00112233445566778899aabbccddeeff\n"
                          "        - 00112233445566778899AABBCCDDEEFF\n"
                          "        - 0011\n"
                          "        - 0011223344556677889900112233445g\n"
                          "      src:\n"
                          "        - 10.0.0.0/8\n"
                          "        - 10.0.0.256/8\n"
                          "        - '10.1.0.0/16, 10.2.0.0/16'\n"
                          "        - 10.0.0.0/33\n"
                          "      dst:\n"
                          "        - 'fd00::/129'\n"
                          "      hosts: [Mail.Example.com, 'a..b', '*.', '*', ok.example, "
                          "'x_y-z.example']\n"
                          "      bogus: 1\n",
           "e.yaml:9: rule t.a: allow: values: 'abc' is empty once normalized (digits)",
           "e.yaml:13: rule t.a: allow: hmacs: the item has characters outside [0-9a-f] (32 "
           "characters)",
           "e.yaml:14: rule t.a: allow: hmacs: the item is not 32 hex digits (4 characters)",
           "e.yaml:15: rule t.a: allow: hmacs: the item has characters outside [0-9a-f] (32 "
           "characters)",
           "e.yaml:18: rule t.a: allow: src: '10.0.0.256/8' is not an address or prefix (such as "
           "10.0.0.0/8 or fd00::/8)",
           "e.yaml:19: rule t.a: allow: src: one address or prefix per item, got '10.1.0.0/16, "
           "10.2.0.0/16'",
           "e.yaml:20: rule t.a: allow: src: '10.0.0.0/33' is not an address or prefix (such as "
           "10.0.0.0/8 or fd00::/8)",
           "e.yaml:22: rule t.a: allow: dst: 'fd00::/129' is not an address or prefix (such as "
           "10.0.0.0/8 or fd00::/8)",
           "e.yaml:23: rule t.a: allow: hosts: 'Mail.Example.com' must be lower case",
           "e.yaml:23: rule t.a: allow: hosts: 'a..b' is not a host name ('mail.example.com') or "
           "'*.' and a domain ('*.example.com')",
           "e.yaml:23: rule t.a: allow: hosts: '*.' is not a host name ('mail.example.com') or "
           "'*.' and a domain ('*.example.com')",
           "e.yaml:23: rule t.a: allow: hosts: '*' is not a host name ('mail.example.com') or "
           "'*.' and a domain ('*.example.com')",
           "e.yaml:24: rule t.a: allow: unknown key 'bogus'");
    EXPECT(HEAD RULE_A "    allow: [a]\n",
           "e.yaml:8: rule t.a: allow: expected a mapping, got a sequence");
    EXPECT(HEAD RULE_A "    allow: {hmacs: [''], values: [~]}\n",
           "e.yaml:8: rule t.a: allow: hmacs: expected a non-empty string, got an empty string",
           "e.yaml:8: rule t.a: allow: values: expected a non-empty string, got null");
}

/* edm: inline hashes and a file beside the rule file, merged sorted and unique. */
static void edm_parsed_and_errors(void **state)
{
    const char *a = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a", *b = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
               *c = "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", *d = "0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d";
    char text[512], file[512];
    dlp_ruleset_t *rs;
    uint8_t h[16];

    (void)state;
    snprintf(file, sizeof(file), "# customers\n\n%s\n%s\n\t %s  # trailing\r\n%s\n", b, a, c, a);
    write_file("h.hmac", file);
    snprintf(text, sizeof(text), HEAD RULE_A "    edm: {hmacs: [%s, %s], hmacs_file: h.hmac}\n", c,
             d);
    write_file("r.yaml", text);
    rs = load_ok("r.yaml");
    assert_true(rs->rules[0].edm.on);
    assert_int_equal(rs->rules[0].edm.nhmacs, 4);
    for (size_t i = 1; i < 4; i++)
        assert_true(memcmp(rs->rules[0].edm.hmacs[i - 1], rs->rules[0].edm.hmacs[i], 16) < 0);
    memset(h, 0x0d, 16);
    assert_true(dlp_rule_edm_has(&rs->rules[0].edm, h));
    memset(h, 0x0e, 16);
    assert_false(dlp_rule_edm_has(&rs->rules[0].edm, h));
    dlp_ruleset_free(rs);

    EXPECT(HEAD RULE_A "    edm: [a]\n", "e.yaml:8: rule t.a: edm: expected a mapping, got a sequence");
    EXPECT(HEAD RULE_A "    edm: {}\n",
           "e.yaml:8: rule t.a: edm: expected hmacs, hmacs_file or both");
    EXPECT(HEAD RULE_A "    edm: {hmacs: ['0011']}\n",
           "e.yaml:8: rule t.a: edm: hmacs: the item is not 32 hex digits (4 characters)");
    EXPECT(HEAD RULE_A "    edm: {hmacs_file: missing.hmac}\n",
           "e.yaml:8: rule t.a: edm: hmacs_file: missing.hmac: No such file or directory");
    EXPECT(HEAD RULE_A "    edm: {hmacs_file: /dev/zero}\n",
           "e.yaml:8: rule t.a: edm: hmacs_file: /dev/zero: not a regular file of at most "
           "1073741824 bytes");
    /* a bad line is never quoted: the file may be the customer list itself */
    write_file("bad.hmac", "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\n\n0a0a-not-a-hash\nzz\n");
    EXPECT(HEAD RULE_A "    edm:\n      hmacs_file: bad.hmac\n",
           "e.yaml:9: rule t.a: edm: hmacs_file: bad.hmac:3: the line is not 32 hex digits "
           "(15 characters)");
    write_file("bad.hmac", "Jane Doe,4539148803436467\n");
    EXPECT(HEAD RULE_A "    edm:\n      hmacs_file: bad.hmac\n",
           "e.yaml:9: rule t.a: edm: hmacs_file: bad.hmac:1: the line is not 32 hex digits "
           "(25 characters)");
    /* a long comment line keeps the next lines' numbers right */
    {
        char big[700] = "# ";
        memset(big + 2, 'a', 600);
        snprintf(big + 602, sizeof(big) - 602, "\n0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\nzz\n");
        write_file("bad.hmac", big);
    }
    EXPECT(HEAD RULE_A "    edm:\n      hmacs_file: bad.hmac\n",
           "e.yaml:9: rule t.a: edm: hmacs_file: bad.hmac:3: the line is not 32 hex digits "
           "(2 characters)");
    /* a NUL byte is an error, not the line's end: a hash cut there never matches */
    {
        static const char nul[] = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a\n"
                                  "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b\0"
                                  "0c0c\r\n";
        FILE *f = fopen("bad.hmac", "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(nul, 1, sizeof(nul) - 1, f), sizeof(nul) - 1);
        assert_int_equal(fclose(f), 0);
    }
    EXPECT(HEAD RULE_A "    edm:\n      hmacs_file: bad.hmac\n",
           "e.yaml:9: rule t.a: edm: hmacs_file: bad.hmac:2: the line has a NUL byte "
           "(37 characters)");
}

/* aggregate: {values, window}: both required; durations 1s..1d. */
static void aggregate_parsed_and_errors(void **state)
{
    static const struct {
        const char *window;
        uint32_t s;
    } ok[] = {{"90", 90}, {"90s", 90}, {"10m", 600}, {"2h", 7200}, {"1d", 86400}};
    char text[256];
    dlp_ruleset_t *rs;

    (void)state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(ok); i++) {
        snprintf(text, sizeof(text), HEAD RULE_A "    aggregate: {values: 50, window: %s}\n",
                 ok[i].window);
        write_file("r.yaml", text);
        rs = load_ok("r.yaml");
        assert_int_equal(rs->rules[0].aggregate.values, 50);
        assert_int_equal(rs->rules[0].aggregate.window_s, ok[i].s);
        dlp_ruleset_free(rs);
    }
    EXPECT(HEAD RULE_A "    aggregate: {values: 1, window: 10m}\n",
           "e.yaml:8: rule t.a: aggregate: values: expected an integer from 2 to 10000, got '1'");
    EXPECT(HEAD RULE_A "    aggregate: {values: 5, window: 2d}\n",
           "e.yaml:8: rule t.a: aggregate: window: expected a duration from 1s to 1d (90, 90s, "
           "10m, 2h, 1d), got '2d'");
    EXPECT(HEAD RULE_A "    aggregate: {values: 5, window: 10 m}\n",
           "e.yaml:8: rule t.a: aggregate: window: expected a duration from 1s to 1d (90, 90s, "
           "10m, 2h, 1d), got '10 m'");
    EXPECT(HEAD RULE_A "    aggregate: {window: 0s}\n",
           "e.yaml:8: rule t.a: aggregate: window: expected a duration from 1s to 1d (90, 90s, "
           "10m, 2h, 1d), got '0s'",
           "e.yaml:8: rule t.a: aggregate: missing required key 'values'");
    EXPECT(HEAD RULE_A "    aggregate: 50\n",
           "e.yaml:8: rule t.a: aggregate: expected a mapping, got '50'");
}

/* A rule with n items in its allow: list 'key', each a distinct valid item of 'len' bytes. */
static void write_allow(const char *path, const char *key, unsigned n, size_t len, bool global)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (global)
        fprintf(f, "allow:\n  %s:\n", key);
    else
        fprintf(f, HEAD RULE_A "    allow:\n      %s:\n", key);
    for (unsigned i = 0; i < n; i++) {
        char v[300];
        if (strcmp(key, "src") == 0) {
            snprintf(v, sizeof(v), "10.%u.%u.0/24", i >> 8, i & 0xff);
        } else {
            int k = snprintf(v, sizeof(v), "h%u", i);
            while ((size_t)k < len)
                v[k++] = 'x';
            v[len] = '\0';
        }
        fprintf(f, "%s- %s\n", global ? "    " : "        ", v);
    }
    assert_int_equal(fclose(f), 0);
}

static void bound_allow(void **state)
{
    (void)state;
    const char *const paths[] = {"a.yaml"};
    char want[128];
    const char *const w[] = {want};

    write_allow("a.yaml", "values", DLP_RULE_ALLOW_MAX, 8, false);
    dlp_ruleset_t *rs = load_ok("a.yaml");
    assert_int_equal(rs->rules[0].allow.nvalues, DLP_RULE_ALLOW_MAX);
    dlp_ruleset_free(rs);
    write_allow("a.yaml", "values", DLP_RULE_ALLOW_MAX + 1, 8, false);
    snprintf(want, sizeof(want), "a.yaml:%u: rule t.a: allow: values: more than 4096 values",
             9 + DLP_RULE_ALLOW_MAX + 1);
    expect_errors_n(paths, 1, w, 1);

    write_allow("a.yaml", "src", DLP_RULE_ALLOW_MAX + 1, 0, false);
    snprintf(want, sizeof(want), "a.yaml:%u: rule t.a: allow: src: more than 4096 prefixes",
             9 + DLP_RULE_ALLOW_MAX + 1);
    expect_errors_n(paths, 1, w, 1);

    write_allow("a.yaml", "values", 1, DLP_RULE_ALLOW_VALUE_MAX, false);
    rs = load_ok("a.yaml");
    assert_int_equal(strlen(rs->rules[0].allow.values[0]), DLP_RULE_ALLOW_VALUE_MAX);
    dlp_ruleset_free(rs);
    write_allow("a.yaml", "values", 1, DLP_RULE_ALLOW_VALUE_MAX + 1, false);
    snprintf(want, sizeof(want), "a.yaml:10: rule t.a: allow: values: longer than 256 bytes");
    expect_errors_n(paths, 1, w, 1);

    /* 253 bytes: three labels of 63, one of 61. */
    char host[DLP_RULE_HOST_MAX + 2], text[512];
    memset(host, 'a', sizeof(host));
    host[63] = host[127] = host[191] = '.';
    host[DLP_RULE_HOST_MAX] = '\0';
    snprintf(text, sizeof(text), HEAD RULE_A "    allow: {hosts: ['%s']}\n", host);
    write_file("a.yaml", text);
    rs = load_ok("a.yaml");
    assert_int_equal(strlen(rs->rules[0].allow.hosts[0]), DLP_RULE_HOST_MAX);
    dlp_ruleset_free(rs);
    host[DLP_RULE_HOST_MAX] = 'a';
    host[DLP_RULE_HOST_MAX + 1] = '\0';
    snprintf(text, sizeof(text), HEAD RULE_A "    allow: {hosts: ['%s']}\n", host);
    EXPECT(text, "e.yaml:8: rule t.a: allow: hosts: longer than 253 bytes");
    /* A label of 64 bytes. */
    memset(host, 'a', 70);
    host[64] = '\0';
    snprintf(text, sizeof(text), HEAD RULE_A "    allow: {hosts: ['%s.com']}\n", host);
    snprintf(want, sizeof(want), "e.yaml:8: rule t.a: allow: hosts: '%.48s...' is not a host name",
             host);
    char full[512];
    snprintf(full, sizeof(full), "%s ('mail.example.com') or '*.' and a domain ('*.example.com')",
             want);
    EXPECT(text, full);
}

/* ---- the global allow-list -------------------------------------------------- */

static void global_allow(void **state)
{
    (void)state;
    write_file("g1.yaml", "allow:\n"
                          "  values: ['4111 1111 1111 1111']\n"
                          "  src: [10.0.0.0/8]\n");
    write_file("g2.yaml", HEAD RULE_A "allow:\n"
                                      "  src: ['fd00::/8']\n"
                                      "  hosts: [a.example.com]\n"
                                      "  hmacs: ['ffeeddccbbaa99887766554433221100']\n");
    const char *const paths[] = {"g1.yaml", "g2.yaml"};
    dlp_ruleset_t *rs = load_ok_n(paths, 2);
    assert_int_equal(rs->n, 1);
    assert_int_equal(rs->allow.nvalues, 1);
    assert_string_equal(rs->allow.values[0], "4111 1111 1111 1111"); /* as written */
    assert_int_equal(rs->allow.src.n, 2);
    assert_memory_equal(rs->allow.src.v[0].addr, v4_10_8, 16);
    assert_int_equal(rs->allow.src.v[1].bits, 8);
    assert_int_equal(rs->allow.nhosts, 1);
    assert_int_equal(rs->allow.nhmacs, 1);
    assert_int_equal(rs->allow.hmacs[0][0], 0xff);
    assert_int_equal(rs->allow.hmacs[0][15], 0x00);
    assert_string_equal(rs->allow.file, "g1.yaml");
    assert_int_equal(rs->allow.line, 1);
    assert_int_equal(rs->rules[0].allow.nhosts, 0); /* global stays global */
    dlp_ruleset_free(rs);

    EXPECT("allow:\n  hmacs: [xyz]\n",
           "e.yaml:2: allow: hmacs: the item is not 32 hex digits (3 characters)");
    /* never quoted: a value pasted where its hash belongs stays out of the error
     * (and of a refused reload's ruleset.last_reload_error in the stats) */
    EXPECT("allow:\n  hmacs: ['4539148803436467']\n",
           "e.yaml:2: allow: hmacs: the item is not 32 hex digits (16 characters)");
    EXPECT("allow: {}\nallow: {}\n", "e.yaml:2: duplicate key 'allow'");
    EXPECT("allow: [a]\n", "e.yaml:1: allow: expected a mapping, got a sequence");
    EXPECT("allow:\n  hosts: [x]\n  colour: red\n", "e.yaml:3: allow: unknown key 'colour'");
    write_file("e.yaml", "allow: {}\n");
    rs = load_ok("e.yaml");
    assert_int_equal(rs->n, 0);
    dlp_ruleset_free(rs);
}

static void bound_global_allow(void **state)
{
    (void)state;
    const char *const paths[] = {"g1.yaml", "g2.yaml"};
    write_allow("g1.yaml", "hosts", DLP_RULE_ALLOW_MAX / 2, 8, true);
    write_allow("g2.yaml", "hosts", DLP_RULE_ALLOW_MAX / 2, 8, true);
    dlp_ruleset_t *rs = load_ok_n(paths, 2);
    assert_int_equal(rs->allow.nhosts, DLP_RULE_ALLOW_MAX);
    assert_string_equal(rs->allow.hosts[0], "h0xxxxxx");
    assert_string_equal(rs->allow.hosts[DLP_RULE_ALLOW_MAX / 2], "h0xxxxxx");
    dlp_ruleset_free(rs);
    write_allow("g2.yaml", "hosts", DLP_RULE_ALLOW_MAX / 2 + 1, 8, true);
    const char *const want[] = {"g2.yaml:1: allow: hosts: more than 4096 in the global "
                                "allow-lists"};
    expect_errors_n(paths, 2, want, 1);
}

/* ---- combination ------------------------------------------------------------ */

static void combination_parsed(void **state)
{
    (void)state;
    write_file("c1.yaml", "rules:\n"
                          "  - id: 3001\n"
                          "    name: t.dob\n"
                          "    description: d\n"
                          "    category: linkable\n"
                          "    severity: low\n"
                          "    patterns: ['dob']\n"
                          "  - id: 3100\n"
                          "    name: t.risk\n"
                          "    description: d\n"
                          "    category: linkable\n"
                          "    severity: high\n"
                          "    protocols: [HTTP]\n"
                          "    allow: {hosts: [hr.example.com], src: [10.1.2.0/24]}\n"
                          "    combination:\n" /* 15 */
                          "      min_weight: 3\n"
                          "      rules: {t.dob: 1, t.zip: 2}\n"
                          "  - id: 3101\n"
                          "    name: t.risk2\n"
                          "    description: d\n"
                          "    category: linkable\n"
                          "    severity: medium\n"
                          "    combination: {min_weight: 2, rules: [t.dob, t.zip]}\n");
    /* Named before it is defined, in a later file. */
    write_file("c2.yaml", "rules:\n"
                          "  - {id: 3002, name: t.zip, description: d, category: linkable,\n"
                          "     severity: low, patterns: ['zip']}\n");
    const char *const paths[] = {"c1.yaml", "c2.yaml"};
    dlp_ruleset_t *rs = load_ok_n(paths, 2);
    const dlp_rule_t *r = dlp_ruleset_find(rs, "t.risk");
    assert_non_null(r);
    assert_int_equal(r->npatterns, 0);
    assert_int_equal(r->combination.min_weight, 3);
    assert_int_equal(r->combination.nrules, 2);
    assert_string_equal(r->combination.rules[0], "t.dob");
    assert_string_equal(r->combination.rules[1], "t.zip");
    assert_int_equal(r->combination.weights[0], 1);
    assert_int_equal(r->combination.weights[1], 2);
    assert_int_equal(r->combination.line, 15);
    assert_int_equal(r->nprotocols, 1);
    assert_int_equal(r->allow.nhosts, 1);
    assert_int_equal(r->allow.src.n, 1);
    assert_int_equal(r->norm, DLP_NORM_NONE);
    assert_int_equal(r->mask, DLP_MASK_PREFIX4);
    r = dlp_ruleset_find(rs, "t.risk2");
    assert_non_null(r);
    assert_int_equal(r->combination.min_weight, 2);
    assert_int_equal(r->combination.nrules, 2);
    assert_int_equal(r->combination.weights[0], 1);
    assert_int_equal(r->combination.weights[1], 1);
    assert_int_equal(r->combination.line, 23);
    dlp_ruleset_free(rs);
}

static void combination_errors(void **state)
{
    (void)state;
    /* A combination rule has no value of its own. */
    EXPECT("rules:\n"
           "  - id: 3100\n"
           "    name: t.risk\n"
           "    description: d\n"
           "    category: linked\n"
           "    severity: high\n"
           "    patterns: [x]\n"
           "    validator: luhn\n"
           "    examples: {match: [x]}\n"
           "    context: {words: [dob]}\n"
           "    threshold: 2\n"
           "    allow: {values: ['1'], hmacs: ['00112233445566778899aabbccddeeff']}\n"
           "    combination: {min_weight: 2, rules: {t.a: 2}}\n",
           "e.yaml:5: rule t.risk: category: a combination rule must be linkable, not linked",
           "e.yaml:7: rule t.risk: patterns: not allowed in a combination rule",
           "e.yaml:8: rule t.risk: validator: not allowed in a combination rule",
           "e.yaml:9: rule t.risk: examples: not allowed in a combination rule",
           "e.yaml:10: rule t.risk: context: not allowed in a combination rule",
           "e.yaml:11: rule t.risk: threshold: not allowed in a combination rule",
           "e.yaml:12: rule t.risk: allow: values: not allowed in a combination rule",
           "e.yaml:12: rule t.risk: allow: hmacs: not allowed in a combination rule");
    /* The names, checked once every file is read. */
    EXPECT("rules:\n"
           "  - id: 1\n"
           "    name: t.lnk\n"
           "    description: d\n"
           "    category: linked\n"
           "    severity: low\n"
           "    patterns: [x]\n"
           "  - id: 2\n"
           "    name: t.risk\n"
           "    description: d\n"
           "    category: linkable\n"
           "    severity: low\n"
           "    combination:\n"
           "      min_weight: 2\n"
           "      rules:\n"
           "        - t.lnk\n"
           "        - t.nope\n"
           "        - t.risk\n",
           "e.yaml:16: rule t.risk: combination: rule 't.lnk' is linked, not linkable",
           "e.yaml:17: rule t.risk: combination: no such rule 't.nope'",
           "e.yaml:18: rule t.risk: combination: 't.risk' is itself a combination rule");
    /* A named rule that has errors of its own is not reported again. */
    EXPECT("rules:\n"
           "  - {id: 1, name: t.a, description: d, category: linkable, severity: bad,"
           " patterns: [x]}\n"
           "  - {id: 2, name: t.r, description: d, category: linkable, severity: low,\n"
           "     combination: {min_weight: 2, rules: {t.a: 2}}}\n",
           "e.yaml:2: rule t.a: severity: expected low, medium, high or critical, got 'bad'");
}

/* Overrides that disable a combination's rules below its min_weight: the
 * error the rule itself gets when its weights cannot reach it. */
static void combination_unreachable_after_overrides(void **state)
{
    (void)state;
    write_file("u.yaml", "rules:\n"
                         "  - {id: 1, name: t.dob, description: d, category: linkable,\n"
                         "     severity: low, patterns: [dob]}\n"
                         "  - {id: 2, name: t.zip, description: d, category: linkable,\n"
                         "     severity: low, patterns: [zip]}\n"
                         "  - {id: 3, name: t.sex, description: d, category: linkable,\n"
                         "     severity: low, patterns: [sex]}\n"
                         "  - id: 4\n"
                         "    name: t.risk\n"
                         "    description: d\n"
                         "    category: linkable\n"
                         "    severity: high\n"
                         "    combination:\n" /* 13 */
                         "      min_weight: 2\n"
                         "      rules: [t.dob, t.zip, t.sex]\n");
    write_file("o1.yaml", "overrides:\n"
                          "  - {name: t.zip, enabled: false}\n");
    const char *const one[] = {"u.yaml", "o1.yaml"};
    dlp_ruleset_free(load_ok_n(one, 2)); /* 1 + 1 still reach 2 */
    write_file("o2.yaml", "overrides:\n"
                          "  - {name: t.zip, enabled: false}\n"
                          "  - {name: t.sex, enabled: false}\n");
    const char *const two[] = {"u.yaml", "o2.yaml"};
    const char *const want[] = {
        "u.yaml:13: rule t.risk: combination: min_weight 2 is more than the weights of its "
        "enabled rules add up to (1; disabled: t.zip, t.sex): the rule could never fire "
        "(disable it too, or enable them)"};
    expect_errors_n(two, 2, want, 1);
    /* disabled with them: nothing to say */
    write_file("o3.yaml", "overrides:\n"
                          "  - {name: t.zip, enabled: false}\n"
                          "  - {name: t.sex, enabled: false}\n"
                          "  - {name: t.risk, enabled: false}\n");
    const char *const three[] = {"u.yaml", "o3.yaml"};
    dlp_ruleset_free(load_ok_n(three, 2));
}

/* Many long names disabled: the list in the error is cut after whole names
 * and says so (", ..."), never cut inside a name or silently short of one. */
static void combination_unreachable_many_disabled(void **state)
{
    const size_t cap = 64 * 1024;
    char *y = malloc(cap);
    char comb[8192] = "";
    size_t used = 0, n = 0;

    (void)state;
    assert_non_null(y);
    n += (size_t)snprintf(y + n, cap - n, "rules:\n");
    for (int i = 0; i < 20; i++) {
        n += (size_t)snprintf(
            y + n, cap - n,
            "  - {id: %d, name: t.a_rather_long_linkable_rule_name_for_the_list_%02d,\n"
            "     description: d, category: linkable, severity: low,\n"
            "     patterns: [zz%02dzz], enabled: %s}\n",
            i + 1, i, i, i == 0 ? "true" : "false");
        used += (size_t)snprintf(comb + used, sizeof(comb) - used,
                                 "%st.a_rather_long_linkable_rule_name_for_the_list_%02d",
                                 i > 0 ? ", " : "", i);
    }
    snprintf(y + n, cap - n,
             "  - {id: 99, name: t.risk, description: d, category: linkable, severity: high,\n"
             "     combination: {min_weight: 2, rules: [%s]}}\n",
             comb);
    write_file("many.yaml", y);
    free(y);
    const char *const paths[] = {"many.yaml"};
    dlp_rules_errors_t err = {0};
    assert_null(dlp_rules_load(paths, 1, &err));
    assert_int_equal(err.n, 1);
    const char *m = strstr(err.msg[0], "disabled: ");
    const char *tail = "): the rule could never fire (disable it too, or enable them)";
    assert_non_null(m);
    m += strlen("disabled: ");
    n = strlen(m) - strlen(tail);
    assert_string_equal(m + n, tail);
    /* whole names from _01 on, in order, then ", ..." (19 do not fit in one line) */
    int k = 1;
    for (const char *q = m; q < m + n; k++) {
        char want[80];
        if (strncmp(q, "...", 3) == 0 && q + 3 == m + n)
            break;
        snprintf(want, sizeof(want), "t.a_rather_long_linkable_rule_name_for_the_list_%02d", k);
        assert_true(k < 20);
        assert_memory_equal(q, want, strlen(want));
        q += strlen(want);
        assert_memory_equal(q, ", ", 2);
        q += 2;
    }
    assert_true(k > 2 && k < 20);
    dlp_rules_errors_fini(&err);
}

#define RULE_RISK                                                                                  \
    "  - id: 2\n"                                                                                  \
    "    name: t.risk\n"                                                                           \
    "    description: d\n"                                                                         \
    "    category: linkable\n"                                                                     \
    "    severity: low\n"

static void combination_shape_errors(void **state)
{
    (void)state;
    EXPECT(HEAD RULE_RISK "    combination:\n"
                          "      min_weight: 1\n"
                          "      rules: {t.a: 0, t.b: 101, 'T.c': 1, t.d: x}\n"
                          "      extra: 1\n",
           "e.yaml:8: rule t.risk: combination: min_weight: expected an integer from 2 to 6400, "
           "got '1'",
           "e.yaml:9: rule t.risk: combination: rules: t.a: expected an integer from 1 to 100, "
           "got '0'",
           "e.yaml:9: rule t.risk: combination: rules: t.b: expected an integer from 1 to 100, "
           "got '101'",
           "e.yaml:9: rule t.risk: combination: rules: 'T.c' has characters outside [a-z0-9_.]",
           "e.yaml:9: rule t.risk: combination: rules: t.d: expected an integer from 1 to 100, "
           "got 'x'",
           "e.yaml:10: rule t.risk: combination: unknown key 'extra'");
    EXPECT(HEAD RULE_RISK "    combination: {rules: [t.a, t.a]}\n",
           "e.yaml:7: rule t.risk: combination: rules: duplicate rule 't.a'",
           "e.yaml:7: rule t.risk: combination: missing required key 'min_weight'");
    EXPECT(HEAD RULE_RISK "    combination: {min_weight: 5, rules: {t.a: 2, t.b: 2}}\n",
           "e.yaml:7: rule t.risk: combination: min_weight 5 is more than the weights add up to "
           "(4): the rule could never fire");
    EXPECT(HEAD RULE_RISK "    combination: {min_weight: 2, rules: []}\n",
           "e.yaml:7: rule t.risk: combination: rules: expected at least one rule");
    EXPECT(HEAD RULE_RISK "    combination: {min_weight: 2, rules: {}}\n",
           "e.yaml:7: rule t.risk: combination: rules: expected at least one rule");
    EXPECT(HEAD RULE_RISK "    combination: [t.a]\n",
           "e.yaml:7: rule t.risk: combination: expected a mapping, got a sequence");
    /* Without a combination, patterns are required. */
    EXPECT(HEAD RULE_RISK, "e.yaml:2: rule t.risk: missing required key 'patterns'");
}

/* n linkable rules r0..r<n-1>, and a combination of all of them with 'weight' each. */
static void write_combination(const char *path, unsigned n, unsigned weight, unsigned min)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "rules:\n");
    for (unsigned i = 0; i < n; i++)
        fprintf(f,
                "  - {id: %u, name: r%u, description: d, category: linkable, severity: low,"
                " patterns: [x]}\n",
                i + 1, i);
    fprintf(f,
            "  - id: 9999\n    name: t.risk\n    description: d\n    category: linkable\n"
            "    severity: low\n    combination:\n      min_weight: %u\n      rules:\n",
            min);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "        r%u: %u\n", i, weight);
    assert_int_equal(fclose(f), 0);
}

static void bound_combination(void **state)
{
    (void)state;
    const unsigned max_min = DLP_RULE_COMBINATION_MAX * DLP_RULE_WEIGHT_MAX;
    const char *const paths[] = {"c.yaml"};
    char want[160];
    const char *const w[] = {want};

    write_combination("c.yaml", DLP_RULE_COMBINATION_MAX, DLP_RULE_WEIGHT_MAX, max_min);
    dlp_ruleset_t *rs = load_ok("c.yaml");
    const dlp_rule_t *r = dlp_ruleset_find(rs, "t.risk");
    assert_int_equal(r->combination.nrules, DLP_RULE_COMBINATION_MAX);
    assert_int_equal(r->combination.min_weight, max_min);
    assert_int_equal(r->combination.weights[DLP_RULE_COMBINATION_MAX - 1], DLP_RULE_WEIGHT_MAX);
    dlp_ruleset_free(rs);

    write_combination("c.yaml", DLP_RULE_COMBINATION_MAX + 1, 1, 2);
    snprintf(want, sizeof(want), "c.yaml:%u: rule t.risk: combination: rules: more than 64 rules",
             2 + (DLP_RULE_COMBINATION_MAX + 1) + 8 + DLP_RULE_COMBINATION_MAX);
    expect_errors_n(paths, 1, w, 1);

    write_combination("c.yaml", DLP_RULE_COMBINATION_MAX, DLP_RULE_WEIGHT_MAX, max_min + 1);
    snprintf(want, sizeof(want),
             "c.yaml:%u: rule t.risk: combination: min_weight: expected an integer from 2 to "
             "6400, got '6401'",
             2 + DLP_RULE_COMBINATION_MAX + 6);
    expect_errors_n(paths, 1, w, 1);
}

/* ---- overrides -------------------------------------------------------------- */

static const char ovr_a[] = "rules:\n"
                            "  - id: 1\n"
                            "    name: t.card\n"
                            "    description: card\n"
                            "    category: linked\n"
                            "    severity: high\n"
                            "    patterns: ['4[0-9]{15}']\n"
                            "    validator: luhn\n"
                            "    protocols: [HTTP]\n"
                            "    context: {words: [card]}\n"
                            "    allow:\n" /* 11 */
                            "      values: ['4111 1111 1111 1111']\n"
                            "      hosts: [a.example.com]\n"
                            "  - id: 2\n"
                            "    name: t.key\n"
                            "    description: key\n"
                            "    category: secret\n"
                            "    severity: critical\n"
                            "    patterns: ['AKIA[0-9A-Z]{16}']\n"
                            "overrides:\n"
                            "  - name: t.late\n"
                            "    severity: low\n"
                            "  - {name: t.key, threshold: 3}\n"
                            "allow:\n" /* 24 */
                            "  hosts: [intranet.example.com]\n";

static const char ovr_b[] = "rules:\n"
                            "  - id: 3\n"
                            "    name: t.late\n"
                            "    description: late\n"
                            "    category: linkable\n"
                            "    severity: medium\n"
                            "    patterns: ['x']\n"
                            "overrides:\n"
                            "  - name: t.card\n"
                            "    enabled: false\n"
                            "    threshold: 5\n"
                            "    severity: critical\n"
                            "    allow:\n"
                            "      values: ['5500-0000-0000-0004']\n"
                            "      src: [10.0.0.0/8]\n"
                            "    context: {words: [visa, mastercard], window: 32, required: true}\n"
                            "    description: overridden\n"
                            "  - name: t.card\n"
                            "    threshold: 7\n"
                            "    allow: {hosts: ['*.example.net']}\n"
                            "    protocols: [SMTP, HTTP]\n"
                            "    fields: [smtp.body]\n"
                            "    test_values: true\n"
                            "    exclude_context: {words: [test]}\n"
                            "  - {name: t.key, enabled: false, threshold: 4}\n"
                            "allow:\n" /* 26 */
                            "  hosts: [cdn.example.org]\n"
                            "  hmacs: ['ffeeddccbbaa99887766554433221100']\n";

static void check_card_overridden(const dlp_ruleset_t *rs)
{
    const dlp_rule_t *r = dlp_ruleset_find(rs, "t.card");
    assert_non_null(r);
    assert_string_equal(r->file, "a.yaml"); /* the rule's own place */
    assert_int_equal(r->line, 2);
    assert_false(r->enabled);
    assert_int_equal(r->threshold, 7); /* the later override wins */
    assert_int_equal(r->severity, DLP_SEV_CRITICAL);
    assert_string_equal(r->description, "overridden");
    /* allow: appended, the override's values normalized as the rule normalizes */
    assert_int_equal(r->allow.nvalues, 2);
    assert_string_equal(r->allow.values[0], "4111111111111111");
    assert_string_equal(r->allow.values[1], "5500000000000004");
    assert_int_equal(r->allow.nhosts, 2);
    assert_string_equal(r->allow.hosts[0], "a.example.com");
    assert_string_equal(r->allow.hosts[1], "*.example.net");
    assert_int_equal(r->allow.src.n, 1);
    assert_string_equal(r->allow.file, "a.yaml");
    assert_int_equal(r->allow.line, 11);
    /* context: replaced, and says where its words come from */
    assert_int_equal(r->context.nwords, 2);
    assert_string_equal(r->context.words[0], "visa");
    assert_string_equal(r->context.words[1], "mastercard");
    assert_int_equal(r->context.window, 32);
    assert_true(r->context.required);
    assert_string_equal(r->context.file, "b.yaml");
    assert_int_equal(r->context.line, 16);
    assert_int_equal(r->exclude.nwords, 1);
    assert_int_equal(r->exclude.window, DLP_RULE_CONTEXT_WINDOW);
    assert_int_equal(r->exclude.line, 24);
    assert_int_equal(r->nprotocols, 2);
    assert_string_equal(r->protocols[0], "SMTP");
    assert_string_equal(r->protocols[1], "HTTP");
    assert_int_equal(r->fields, 1u << DLP_FIELD_SMTP_BODY);
    assert_true(r->test_values);
    assert_int_equal(r->validator, DLP_VAL_LUHN);
    assert_int_equal(r->npatterns, 1);

    r = dlp_ruleset_find(rs, "t.late"); /* overridden by a file read before it */
    assert_int_equal(r->severity, DLP_SEV_LOW);
    assert_string_equal(r->description, "late");
}

static void overrides_in_order(void **state)
{
    (void)state;
    write_file("a.yaml", ovr_a);
    write_file("b.yaml", ovr_b);

    const char *const ab[] = {"a.yaml", "b.yaml"};
    dlp_ruleset_t *rs = load_ok_n(ab, 2);
    assert_int_equal(rs->n, 3);
    check_card_overridden(rs);
    const dlp_rule_t *key = dlp_ruleset_find(rs, "t.key");
    assert_false(key->enabled);
    assert_int_equal(key->threshold, 4); /* b.yaml's, applied after a.yaml's */
    assert_int_equal(key->severity, DLP_SEV_CRITICAL);
    assert_int_equal(rs->allow.nhosts, 2);
    assert_string_equal(rs->allow.hosts[0], "intranet.example.com");
    assert_string_equal(rs->allow.hosts[1], "cdn.example.org");
    assert_int_equal(rs->allow.nhmacs, 1);
    assert_string_equal(rs->allow.file, "a.yaml");
    assert_int_equal(rs->allow.line, 24);
    dlp_ruleset_free(rs);

    const char *const ba[] = {"b.yaml", "a.yaml"};
    rs = load_ok_n(ba, 2);
    key = dlp_ruleset_find(rs, "t.key");
    assert_int_equal(key->threshold, 3); /* now a.yaml's is the later one */
    assert_false(key->enabled);
    assert_string_equal(rs->allow.hosts[0], "cdn.example.org");
    assert_string_equal(rs->allow.hosts[1], "intranet.example.com");
    assert_string_equal(rs->allow.file, "b.yaml");
    assert_int_equal(rs->allow.line, 26);
    dlp_ruleset_free(rs);

    /* A directory: files in name order, so a local.yaml overrides the pack. */
    assert_int_equal(mkdir("pack", 0700), 0);
    write_file("pack/a.yaml", ovr_a);
    write_file("pack/b.yaml", ovr_b);
    write_file("pack/local.yaml", "overrides:\n  - {name: t.key, threshold: 9}\n");
    rs = load_ok("pack");
    assert_int_equal(dlp_ruleset_find(rs, "t.key")->threshold, 9);
    dlp_ruleset_free(rs);
}

static void override_errors(void **state)
{
    (void)state;
    EXPECT("rules:\n"
           "  - id: 1\n"
           "    name: t.a\n"
           "    description: d\n"
           "    category: linkable\n"
           "    severity: low\n"
           "    patterns: ['abc']\n"
           "    validator: luhn\n"
           "  - id: 2\n"
           "    name: t.risk\n"
           "    description: d\n"
           "    category: linkable\n"
           "    severity: low\n"
           "    combination: {min_weight: 2, rules: {t.a: 2}}\n"
           "  - id: 3\n"
           "    name: t.bad\n"
           "    description: d\n"
           "    category: nonsense\n"
           "    severity: low\n"
           "    patterns: ['abc']\n"
           "overrides:\n"
           "  - name: t.x\n"
           "    enabled: false\n"
           "  - enabled: false\n"
           "  - name: t.a\n"
           "    patterns: ['def']\n"
           "    colour: red\n"
           "    severity: extreme\n"
           "  - name: t.risk\n"
           "    context: {words: [dob]}\n"
           "    threshold: 2\n"
           "    allow: {values: ['1'], hosts: [a.example]}\n"
           "  - name: t.a\n"
           "    allow: {values: ['abc', '4111-1111-1111-1111']}\n"
           "  - name: t.bad\n"
           "    enabled: false\n"
           "  - 7\n"
           "  - {name: T.X, enabled: no}\n",
           "e.yaml:18: rule t.bad: category: expected linked, linkable or secret, got 'nonsense'",
           "e.yaml:24: override: missing required key 'name'",
           "e.yaml:26: override t.a: key 'patterns' cannot be overridden (only: name, "
           "description, severity, threshold, enabled, context, exclude_context, protocols, "
           "fields, allow, test_values, edm, aggregate, examples)",
           "e.yaml:27: override t.a: unknown key 'colour'",
           "e.yaml:28: override t.a: severity: expected low, medium, high or critical, got "
           "'extreme'",
           "e.yaml:37: overrides: expected an override (a mapping), got '7'",
           "e.yaml:38: override: name: 'T.X' has characters outside [a-z0-9_.]",
           "e.yaml:38: override: enabled: expected true or false, got 'no'",
           "e.yaml:22: override t.x: no such rule",
           "e.yaml:30: override t.risk: context: not allowed on a combination rule",
           "e.yaml:31: override t.risk: threshold: not allowed on a combination rule",
           "e.yaml:32: override t.risk: allow: values: not allowed on a combination rule",
           "e.yaml:34: override t.a: allow: values: 'abc' is empty once normalized (digits)");
    EXPECT("overrides: 5\n", "e.yaml:1: overrides: expected a sequence of overrides, got '5'");
    EXPECT("overrides: []\noverrides: []\n", "e.yaml:2: duplicate key 'overrides'");
    /* In another file: the override's file and line. */
    write_file("r.yaml", HEAD RULE_A);
    write_file("o.yaml", "overrides:\n  - name: t.b\n    enabled: false\n");
    const char *const paths[] = {"r.yaml", "o.yaml"};
    const char *const want[] = {"o.yaml:2: override t.b: no such rule"};
    expect_errors_n(paths, 2, want, 1);
}

static void bound_overrides(void **state)
{
    (void)state;
    const char *const paths[] = {"o.yaml"};
    char want[128];
    const char *const w[] = {want};

    for (unsigned n = DLP_RULES_OVERRIDES_MAX; n <= DLP_RULES_OVERRIDES_MAX + 2; n += 2) {
        FILE *f = fopen("o.yaml", "w");
        assert_non_null(f);
        fprintf(f, HEAD RULE_A "overrides:\n");
        for (unsigned i = 0; i < n; i++)
            fprintf(f, "  - {name: t.a, threshold: %u}\n", i % 1000 + 1);
        assert_int_equal(fclose(f), 0);
        if (n == DLP_RULES_OVERRIDES_MAX) {
            dlp_ruleset_t *rs = load_ok("o.yaml");
            assert_int_equal(rs->rules[0].threshold, (DLP_RULES_OVERRIDES_MAX - 1) % 1000 + 1);
            dlp_ruleset_free(rs);
            continue;
        }
        snprintf(want, sizeof(want), "o.yaml:%u: override t.a: too many overrides (max 4096)",
                 8 + DLP_RULES_OVERRIDES_MAX + 1);
        expect_errors_n(paths, 1, w, 1);
    }

    /* Appending to a rule's allow-list: the bound holds for the merged list. */
    write_allow("r.yaml", "hosts", DLP_RULE_ALLOW_MAX, 8, false);
    write_file("o.yaml", "overrides:\n  - {name: t.a, allow: {hosts: [one.more]}}\n");
    const char *const two[] = {"r.yaml", "o.yaml"};
    const char *const want2[] = {"o.yaml:2: override t.a: allow: hosts: more than 4096 for the "
                                 "rule"};
    expect_errors_n(two, 2, want2, 1);
    write_file("o.yaml", "overrides:\n  - {name: t.a, allow: {src: [10.0.0.0/8]}}\n");
    dlp_ruleset_t *rs = load_ok_n(two, 2);
    assert_int_equal(rs->rules[0].allow.nhosts, DLP_RULE_ALLOW_MAX);
    assert_int_equal(rs->rules[0].allow.src.n, 1);
    dlp_ruleset_free(rs);
}

/* ---- the examples of rules/README.md ---------------------------------------- */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Writes 'head' then 'block' to path. */
static void write_block(const char *path, const char *head, const char *block, size_t n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(head, f);
    assert_int_equal(fwrite(block, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/*
 * Every ```yaml block of the format documentation loads: the full example
 * alone, the local.yaml with the shipped pack, the combination with the
 * rules it names, and the fragments of a rule inside a rule.
 */
static void readme_examples(void **state)
{
    (void)state;
    const char *src = getenv("DLP_SRC");
    char path[4096];
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/rules/README.md", src);
    char *text = read_text(path);
    unsigned nblocks = 0;
    dlp_ruleset_t *rs;

    for (char *p = strstr(text, "```yaml\n"); p != NULL; p = strstr(p, "```yaml\n")) {
        char *b = p + 8, *e = strstr(b, "```");
        assert_non_null(e);
        size_t n = (size_t)(e - b);
        nblocks++;
        if (strncmp(b, "rules:\n", 7) == 0) {
            write_block("x.yaml", "", b, n);
            rs = load_ok("x.yaml");
        } else if (strncmp(b, "# /etc/dlpsensor/local.yaml\n", 28) == 0) {
            char dir[4096];
            snprintf(dir, sizeof(dir), "%s/rules", src);
            write_block("local.yaml", "", b, n);
            const char *const paths[] = {dir, "local.yaml"};
            rs = load_ok_n(paths, 2);
            assert_false(dlp_ruleset_find(rs, "pii.email")->enabled);
            assert_true(rs->allow.src.n >= 1);
        } else if (strncmp(b, "  - id: 3100\n", 13) == 0) {
            write_block("x.yaml",
                        "rules:\n"
                        "  - {id: 93001, name: pii.date_of_birth, description: d,"
                        " category: linkable, severity: low, patterns: [x]}\n"
                        "  - {id: 93002, name: pii.postal_code, description: d,"
                        " category: linkable, severity: low, patterns: [x]}\n"
                        "  - {id: 93003, name: pii.gender, description: d,"
                        " category: linkable, severity: low, patterns: [x]}\n",
                        b, n);
            rs = load_ok("x.yaml");
            assert_int_equal(dlp_ruleset_find(rs, "pii.reidentification_risk")->combination.nrules,
                             3);
        } else if (strncmp(b, "overrides:\n", 11) == 0) { /* edm, aggregate: on the pack */
            char dir[4096];
            snprintf(dir, sizeof(dir), "%s/rules", src);
            write_file("customers-cards.hmac", "# exported nightly\n");
            write_block("ovr.yaml", "", b, n);
            const char *const paths[] = {dir, "ovr.yaml"};
            rs = load_ok_n(paths, 2);
            const dlp_rule_t *card = dlp_ruleset_find(rs, "pii.credit_card");
            /* each README block sets what it shows */
            if (memmem(b, n, "edm:", 4) != NULL)
                assert_true(card->edm.on);
            if (memmem(b, n, "aggregate:", 10) != NULL)
                assert_int_equal(card->aggregate.values, 50);
            assert_true(card->edm.on || card->aggregate.values == 50);
            if (card->edm.on)
                assert_int_equal(card->edm.nhmacs, 1);
        } else {
            write_block("x.yaml", HEAD RULE_A, b, n);
            rs = load_ok("x.yaml");
        }
        dlp_ruleset_free(rs);
        p = e + 3;
    }
    assert_int_equal(nblocks, 8);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_parsed),
        cmocka_unit_test(fields_all_names),
        cmocka_unit_test(ucp_refused),
        cmocka_unit_test(context_errors),
        cmocka_unit_test(bound_context),
        cmocka_unit_test(protocols_fields_errors),
        cmocka_unit_test(bound_protocols),
        cmocka_unit_test(allow_errors),
        cmocka_unit_test(edm_parsed_and_errors),
        cmocka_unit_test(aggregate_parsed_and_errors),
        cmocka_unit_test(bound_allow),
        cmocka_unit_test(global_allow),
        cmocka_unit_test(bound_global_allow),
        cmocka_unit_test(combination_parsed),
        cmocka_unit_test(combination_errors),
        cmocka_unit_test(combination_unreachable_after_overrides),
        cmocka_unit_test(combination_unreachable_many_disabled),
        cmocka_unit_test(combination_shape_errors),
        cmocka_unit_test(bound_combination),
        cmocka_unit_test(overrides_in_order),
        cmocka_unit_test(override_errors),
        cmocka_unit_test(bound_overrides),
        cmocka_unit_test(readme_examples),
    };
    return cmocka_run_group_tests(tests, rules_fixture_setup, rules_fixture_teardown);
}
