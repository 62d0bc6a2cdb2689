/*
 * policy.c - what happens to a validated value: the rule's protocol and
 * field restrictions, its context words (required, boosting, excluding),
 * allow-lists (rule and global: values, keyed hashes, addresses, host
 * names), published test values, the exact-data list (edm: only listed
 * keyed hashes are reported), and the confidence of what is reported.
 *
 * Context words match case-insensitively on word boundaries: a word must
 * not continue into letters or digits on either side ("lic" never matches
 * inside "public"), and a space inside a word matches any run of spaces,
 * '_' or '-', so "card number" also finds card_number= and "Card-Number:".
 * That is also how a field name carrying the value counts as context.
 *
 * Pure functions; any thread.
 */
#include <ctype.h>
#include <string.h>

#include "detect_int.h"

static bool alnum(uint8_t c) { return isalnum(c) != 0; }
static bool sep(uint8_t c) { return c == ' ' || c == '\t' || c == '_' || c == '-'; }

/* Length of word w matched at p[0..), or 0. lim: bytes available. */
static size_t word_at(const char *w, const uint8_t *p, size_t lim)
{
    size_t i = 0;

    for (; *w != '\0'; w++) {
        if (*w == ' ') {
            if (i >= lim || !sep(p[i]))
                return 0;
            while (i < lim && sep(p[i]))
                i++;
            continue;
        }
        if (i >= lim || tolower(p[i]) != tolower((unsigned char)*w))
            return 0;
        i++;
    }
    return i;
}

/* A word of c in win[lo, hi), bounded by non-alphanumerics (window edges included). */
static bool word_in(const dlp_rule_context_t *c, const uint8_t *win, size_t len, size_t lo,
                    size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        if (i > 0 && alnum(win[i - 1]))
            continue;
        for (size_t k = 0; k < c->nwords; k++) {
            size_t n = word_at(c->words[k], win + i, hi - i);
            if (n > 0 && (i + n >= len || !alnum(win[i + n])))
                return true;
        }
    }
    return false;
}

bool dlp_detect__context(const dlp_rule_context_t *c, const uint8_t *win, size_t len, size_t vs,
                         size_t ve)
{
    size_t lo = vs > c->window ? vs - c->window : 0;
    size_t hi = ve + c->window < len ? ve + c->window : len;

    if (c->nwords == 0)
        return false;
    return word_in(c, win, len, lo, vs) || word_in(c, win, len, ve, hi);
}

bool dlp_detect__host_allowed(const dlp_rule_allow_t *a, const char *host)
{
    size_t hl = strlen(host);

    for (size_t i = 0; i < a->nhosts; i++) {
        const char *p = a->hosts[i];
        size_t pl = strlen(p);
        if (pl > 2 && p[0] == '*' && p[1] == '.') {
            /* "*.example.com": a subdomain of example.com, or example.com itself */
            if ((hl > pl - 1 && strcasecmp(host + hl - (pl - 1), p + 1) == 0) ||
                strcasecmp(host, p + 2) == 0)
                return true;
        } else if (strcasecmp(host, p) == 0) {
            return true;
        }
    }
    return false;
}

static bool value_listed(const dlp_rule_allow_t *a, const dlp_value_t *v, bool values)
{
    for (size_t i = 0; values && i < a->nvalues; i++)
        if (strlen(a->values[i]) == v->nl && memcmp(a->values[i], v->norm, v->nl) == 0)
            return true;
    for (size_t i = 0; v->hmac16 != NULL && i < a->nhmacs; i++)
        if (memcmp(a->hmacs[i], v->hmac16, 16) == 0)
            return true;
    return false;
}

/* Every destination host known for the flow is allowed (and there is one). */
static bool hosts_allowed(const dlp_rule_allow_t *a, const dlp_value_t *v)
{
    if (a->nhosts == 0 || v->nhosts == 0)
        return false;
    for (size_t i = 0; i < v->nhosts; i++)
        if (!dlp_detect__host_allowed(a, v->hosts[i]))
            return false;
    return true;
}

/* The sender, the receiver or the destination host is allowed. */
static bool where_allowed(const dlp_rule_allow_t *a, const dlp_value_t *v)
{
    return (a->src.n > 0 && dlp_cidr_set_contains(&a->src, v->src)) ||
           (a->dst.n > 0 && dlp_cidr_set_contains(&a->dst, v->dst)) || hosts_allowed(a, v);
}

/* The global list's values are kept as written: normalized here the rule's way. */
static bool global_value_listed(const dlp_rule_allow_t *a, const dlp_value_t *v)
{
    char norm[DLP_RULE_ALLOW_VALUE_MAX + 1];

    for (size_t i = 0; i < a->nvalues; i++) {
        size_t n = dlp_normalize(v->r->norm, (const uint8_t *)a->values[i],
                                 strlen(a->values[i]), norm, sizeof(norm));
        if (n == v->nl && memcmp(norm, v->norm, n) == 0)
            return true;
    }
    return false;
}

static bool allowed(const dlp_rule_allow_t *a, const dlp_value_t *v, bool global)
{
    if (global && a->nvalues > 0 && global_value_listed(a, v))
        return true;
    return value_listed(a, v, !global) || where_allowed(a, v);
}

/* Whether name (n bytes) opens app: case and '-' against '_' ignored, so
 * rules written "FTP-DATA", as the sensor once named it, still name FTP_DATA. */
static bool proto_prefix(const char *app, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int a = (unsigned char)app[i], b = (unsigned char)name[i];
        if (a == '\0')
            return false;
        if (tolower(a) != tolower(b) && !((a == '-' || a == '_') && (b == '-' || b == '_')))
            return false;
    }
    return true;
}

/* "TLS" also names "TLS.Google". */
static bool names(const dlp_rule_t *r, const char *app)
{
    for (size_t i = 0; i < r->nprotocols; i++) {
        size_t n = strlen(r->protocols[i]);
        if (proto_prefix(app, r->protocols[i], n) && (app[n] == '\0' || app[n] == '.'))
            return true;
    }
    return false;
}

/* nDPI's name for the protocol whose decoder found a value in field f; NULL
 * for a stream no decoder read. */
static const char *decoded_protocol(dlp_field_t f)
{
    switch (f) {
    case DLP_FIELD_HTTP_URI:
    case DLP_FIELD_HTTP_HEADER:
    case DLP_FIELD_HTTP_BODY:
    case DLP_FIELD_WS_MESSAGE: return "HTTP";
    case DLP_FIELD_SMTP_HEADER:
    case DLP_FIELD_SMTP_BODY:
    case DLP_FIELD_SMTP_ATTACHMENT:
    case DLP_FIELD_SMTP_COMMAND: return "SMTP";
    case DLP_FIELD_FTP_COMMAND: return "FTP_CONTROL";
    case DLP_FIELD_FTP_DATA: return "FTP_DATA";
    case DLP_FIELD_DNS_QUERY: return "DNS";
    default: return NULL;
    }
}

/*
 * nDPI's name for the flow, or the protocol of the decoder that found the
 * value: nDPI 4.2 detects an HTTP request after empty lines as SMTP on port
 * 25, MySQL on 3306 (not a guess), and the flow keeps nDPI's name, but a rule
 * limited to HTTP must not lose what the HTTP decoder read.
 */
static bool protocol_ok(const dlp_rule_t *r, const dlp_value_t *v)
{
    const char *dec = decoded_protocol(v->field);

    return r->nprotocols == 0 || names(r, v->app_proto) || (dec != NULL && names(r, dec));
}

/* A checksum proves the most, a structure check less, a pattern least;
 * a context word near the value raises it one step. */
static dlp_confidence_t confidence(const dlp_rule_t *r, bool context)
{
    dlp_confidence_t c;

    switch (r->validator) {
    case DLP_VAL_LUHN:
    case DLP_VAL_IBAN:
    case DLP_VAL_AADHAAR: c = DLP_CONF_HIGH; break;
    case DLP_VAL_NONE: c = r->category == DLP_CAT_SECRET ? DLP_CONF_MEDIUM : DLP_CONF_LOW; break;
    default: c = DLP_CONF_MEDIUM; break;
    }
    if (context && c < DLP_CONF_HIGH)
        c++;
    return c;
}

bool dlp_detect__combination_counts(const dlp_ruleset_t *rs, const dlp_rule_t *c,
                                    const dlp_value_t *v)
{
    if ((c->fields != 0 && !(c->fields & (1u << v->field))) || !protocol_ok(c, v))
        return false;
    return !where_allowed(&c->allow, v) && !where_allowed(&rs->allow, v);
}

dlp_policy_t dlp_detect__policy(const dlp_ruleset_t *rs, const dlp_value_t *v,
                                dlp_confidence_t *conf)
{
    const dlp_rule_t *r = v->r;
    bool ctx;

    if ((r->fields != 0 && !(r->fields & (1u << v->field))) || !protocol_ok(r, v))
        return DLP_POL_FILTERED;
    if (!r->test_values && dlp_is_test_value(r->validator, v->norm))
        return DLP_POL_TEST_VALUE;
    if (allowed(&r->allow, v, false) || allowed(&rs->allow, v, true))
        return DLP_POL_ALLOWED;
    if (r->edm.on) {
        /* one of ours, known exactly: no context can make it more (or less) certain */
        if (v->hmac16 == NULL || !dlp_rule_edm_has(&r->edm, v->hmac16))
            return DLP_POL_UNLISTED;
        *conf = DLP_CONF_HIGH;
        return DLP_POL_REPORT;
    }
    if (dlp_detect__context(&r->exclude, v->win, v->len, v->vs, v->ve))
        return DLP_POL_CONTEXT;
    ctx = dlp_detect__context(&r->context, v->win, v->len, v->vs, v->ve);
    if (r->context.required && !ctx)
        return DLP_POL_CONTEXT;
    *conf = confidence(r, ctx);
    return DLP_POL_REPORT;
}
