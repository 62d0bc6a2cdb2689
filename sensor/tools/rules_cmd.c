/*
 * rules_cmd.c - the command line of `dlpsensor rules check|test`, and what
 * its subcommands share: loading the rules as the sensor does, reading
 * inputs and keys, quoting, tables, JSON lines.
 *
 * Options may come before or after the rule paths (GNU getopt permutes);
 * -R PATH is accepted as well as a bare PATH, as the sensor spells it.
 * Results go to stdout, usage errors to stderr; the exit status is the
 * sensor's (0 success, 1 runtime failure, 2 bad usage or input).
 *
 * Thread: main's.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/rulescmd.h"
#include "rulescmd_int.h"
#include "runtime_int.h" /* dlp_default_rules_dir, dlp_protonames_*: the sensor's own */

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: dlpsensor rules check [--strict] [--hmac-key-file KEY] [PATH...]\n"
    "       dlpsensor rules test [PATH...] --text FILE|- [--field F] [--app-proto P]\n"
    "                            [--json] [--hmac-key-file KEY]\n"
    "       dlpsensor rules test [PATH...] -r CAPTURE [-r CAPTURE...] [--samples N]\n"
    "                            [--json] [--hmac-key-file KEY] [--home-net CIDRS]\n"
    "                            [--scan-inbound] [--scan-internal]\n"
    "\n"
    "  PATH (or -R PATH)     rule file or directory of *.yaml, loaded together as the\n"
    "                        sensor's -R (default: the bundled rules/)\n"
    "\n"
    "check: load the rules, compile them (no cache), run every rule's examples\n"
    "  through the real matcher, validators and detect stage, and lint them;\n"
    "  one line per problem, FILE:LINE: rule NAME: REASON, then a summary\n"
    "  --strict              warnings count as errors\n"
    "  --hmac-key-file KEY   the sensor has this key (without it: a warning for each\n"
    "                        edm: list and allow: hmacs, which need the key)\n"
    "\n"
    "test: what the rules find; values are shown masked, never raw\n"
    "  --text FILE|-         scan a text (- = standard input): each value, each\n"
    "                        suppressed value and why, the counters of each rule;\n"
    "                        the bytes as they are, not decoded as the sensor decodes\n"
    "                        a field (forms, base64, UTF-16...): give the decoded text\n"
    "  --field F             the text is field F (http.body, smtp.body...): rules'\n"
    "                        fields: lists apply (default: they are not applied)\n"
    "  --app-proto P         the text travels in protocol P (HTTP, SMTP...): rules'\n"
    "                        protocols: lists apply (default: they are not applied)\n"
    "  -r CAPTURE            run the sensor on a capture file or directory;\n"
    "                        repeatable: per-rule counters and masked samples\n"
    "  --samples N           masked samples per rule (default 3, at most 100)\n"
    "  --home-net CIDRS, --scan-inbound, --scan-internal   as for the sensor\n"
    "  --rules-cache DIR     use this compiled-rules cache (default: compile)\n"
    "  --hmac-key-file KEY   the sensor's key file: show each value's hmac (and let\n"
    "                        allow: hmacs lists match)\n"
    "  --json                one JSON object per line instead of tables\n"
    "\n"
    "Exit status: 0 success (check: no error; with --strict, no warning either),\n"
    "1 runtime failure, 2 bad usage, rules that do not load or compile, an\n"
    "unreadable input, or check errors.\n";

enum {
    OPT_STRICT = 256,
    OPT_JSON,
    OPT_TEXT,
    OPT_FIELD,
    OPT_APP_PROTO,
    OPT_SAMPLES,
    OPT_KEY,
    OPT_HOME_NET,
    OPT_SCAN_INBOUND,
    OPT_SCAN_INTERNAL,
    OPT_RULES_CACHE,
};

static const struct option check_opts[] = {
    {"strict", no_argument, NULL, OPT_STRICT},
    {"hmac-key-file", required_argument, NULL, OPT_KEY},
    {"rules", required_argument, NULL, 'R'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option test_opts[] = {
    {"rules", required_argument, NULL, 'R'},
    {"read", required_argument, NULL, 'r'},
    {"text", required_argument, NULL, OPT_TEXT},
    {"field", required_argument, NULL, OPT_FIELD},
    {"app-proto", required_argument, NULL, OPT_APP_PROTO},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"json", no_argument, NULL, OPT_JSON},
    {"hmac-key-file", required_argument, NULL, OPT_KEY},
    {"home-net", required_argument, NULL, OPT_HOME_NET},
    {"scan-inbound", no_argument, NULL, OPT_SCAN_INBOUND},
    {"scan-internal", no_argument, NULL, OPT_SCAN_INTERNAL},
    {"rules-cache", required_argument, NULL, OPT_RULES_CACHE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
    va_list ap;

    fputs("dlpsensor rules: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(dlpsensor rules --help for usage)\n", stderr);
    return EXIT_USAGE;
}

static int parse_samples(const char *s, unsigned *out)
{
    if (dlp_config_parse_uint(s, 0, DLP_RULESCMD_SAMPLES_MAX, out) != DLP_OK)
        return bad("--samples: expected 0..%d, got '%s'", DLP_RULESCMD_SAMPLES_MAX, s);
    return -1;
}

/* A name no flow carries would filter out every rule that has protocols:,
 * silently: the check the loader makes of the rules' own lists. */
static int check_app_proto(const char *s)
{
    dlp_protonames_t *t = dlp_protonames_new();
    char near[256];
    bool ok;

    if (t == NULL) {
        fprintf(stderr, "dlpsensor rules: --app-proto: cannot check the name: nDPI could not "
                        "be set up\n");
        return 1;
    }
    ok = dlp_protonames_known(t, s, near, sizeof(near));
    dlp_protonames_free(t);
    if (ok)
        return -1;
    if (near[0] != '\0')
        return bad("--app-proto: unknown protocol '%s': no flow is named so (did you mean %s?)",
                   s, near);
    return bad("--app-proto: unknown protocol '%s': no flow is named so (names are nDPI's: "
               "HTTP, SMTP, DNS, TLS, FTP_DATA...)", s);
}

static int parse_field(const char *s, int *out)
{
    char names[256];

    if (dlp_rules_field_parse(s, out))
        return -1;
    dlp_rules_field_names(names, sizeof(names));
    return bad("--field: unknown field '%s' (known: %s)", s, names);
}

static int push(dlp_strv_t *sv, const char *s)
{
    return dlp_strv_push(sv, s) == DLP_OK ? -1 : 1;
}

/* One option: -1 to go on, else an exit status. */
static int parse_opt(dlp_rulescmd_opts_t *o, int opt, const char *arg)
{
    switch (opt) {
    case 'R':
        return push(&o->paths, arg);
    case 'r':
        return push(&o->captures, arg);
    case OPT_STRICT:
        o->strict = true;
        return -1;
    case OPT_JSON:
        o->json = true;
        return -1;
    case OPT_TEXT:
        o->text = arg;
        return -1;
    case OPT_FIELD:
        return parse_field(arg, &o->field);
    case OPT_APP_PROTO:
        o->app_proto = arg;
        return -1;
    case OPT_SAMPLES:
        return parse_samples(arg, &o->samples);
    case OPT_KEY:
        o->key_file = arg;
        return -1;
    case OPT_HOME_NET:
        o->home_net = arg;
        return -1;
    case OPT_SCAN_INBOUND:
        o->scan_inbound = true;
        return -1;
    case OPT_SCAN_INTERNAL:
        o->scan_internal = true;
        return -1;
    case OPT_RULES_CACHE:
        o->cache_dir = arg;
        return -1;
    case 'h':
        fputs(usage_text, stdout);
        return 0;
    default:
        return bad("%s", "bad option");
    }
}

/* argv[0] is the subcommand. -1 to go on, else an exit status. */
static int parse_args(dlp_rulescmd_opts_t *o, bool check, int argc, char **argv)
{
    const struct option *lo = check ? check_opts : test_opts;
    const char *so = check ? "R:h" : "R:r:h";
    int opt, st;

    optind = 0; /* glibc: re-initialise (dlp_rules_cmd may run more than once) */
    while ((opt = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        st = parse_opt(o, opt, optarg);
        if (st >= 0)
            return st;
    }
    for (int i = optind; i < argc; i++)
        if (push(&o->paths, argv[i]) >= 0)
            return 1;
    if (check)
        return -1;
    if ((o->text != NULL) == (o->captures.n > 0))
        return bad("%s", "rules test: give either --text FILE or -r CAPTURE");
    if (o->text != NULL && (o->home_net || o->scan_inbound || o->scan_internal))
        return bad("%s", "--home-net, --scan-inbound and --scan-internal are for -r");
    if (o->captures.n > 0 && (o->field >= 0 || o->app_proto != NULL))
        return bad("%s", "--field and --app-proto are for --text");
    if (o->app_proto != NULL)
        return check_app_proto(o->app_proto);
    return -1;
}

int dlp_rules_cmd(int argc, char **argv)
{
    dlp_rulescmd_opts_t o = {.samples = 3, .field = -1};
    bool check;
    int st;

    if (argc < 2)
        return bad("%s", "expected a subcommand: check or test");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "test") != 0)
        return bad("unknown subcommand '%s' (expected check or test)", argv[1]);
    check = strcmp(argv[1], "check") == 0;
    st = parse_args(&o, check, argc - 1, argv + 1);
    if (st < 0)
        st = check            ? dlp_rulescmd__check(&o)
             : o.text != NULL ? dlp_rulescmd__text(&o)
                              : dlp_rulescmd__capture(&o);
    dlp_strv_fini(&o.paths);
    dlp_strv_fini(&o.captures);
    fflush(stdout);
    return st;
}

/* --- shared ------------------------------------------------------------------- */

/* The set as the sensor would load it: the loader's checks, then the
 * protocol names against nDPI's (which the loader cannot make). */
static dlp_ruleset_t *load_checked(const char *const *paths, size_t n, dlp_rules_errors_t *err)
{
    dlp_ruleset_t *rs = dlp_rules_load(paths, n, err);

    if (rs != NULL && !dlp_protonames_check(rs, err)) {
        dlp_ruleset_free(rs);
        return NULL;
    }
    return rs;
}

dlp_ruleset_t *dlp_rulescmd__load(const dlp_rulescmd_opts_t *o, dlp_rules_errors_t *err)
{
    char buf[PATH_MAX], real[PATH_MAX];
    const char *def[1];

    if (o->paths.n > 0)
        return load_checked((const char *const *)o->paths.v, o->paths.n, err);
    def[0] = dlp_default_rules_dir(buf, sizeof(buf));
    if (def[0] == NULL) {
        dlp_rules_errors_add(err, "%s: no such directory (the default rules): give the rules "
                                  "with -R PATH", buf);
        return NULL;
    }
    if (realpath(def[0], real) != NULL) /* "/usr/share/dlpsensor/rules", not "bin/../share" */
        def[0] = real;
    return load_checked(def, 1, err);
}

int dlp_rulescmd__read_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
    bool in = strcmp(path, "-") == 0;
    FILE *f = in ? stdin : fopen(path, "rb");
    uint8_t *b = NULL;
    size_t n = 0, got;
    int st = 2;

    if (f == NULL) {
        fprintf(stderr, "dlpsensor rules: %s: %s\n", path, strerror(errno));
        return 2;
    }
    b = malloc(max + 1);
    if (b == NULL) {
        st = 1;
        fprintf(stderr, "dlpsensor rules: out of memory\n");
        goto out;
    }
    while ((got = fread(b + n, 1, max + 1 - n, f)) > 0 && n + got <= max)
        n += got;
    if (ferror(f)) {
        fprintf(stderr, "dlpsensor rules: %s: %s\n", in ? "standard input" : path, strerror(errno));
    } else if (got > 0) {
        fprintf(stderr, "dlpsensor rules: %s: larger than %zu bytes\n",
                in ? "standard input" : path, max);
    } else {
        *buf = b;
        *len = n;
        b = NULL;
        st = 0;
    }
out:
    free(b);
    if (!in)
        fclose(f);
    return st;
}

void dlp_rulescmd__json_line(FILE *f, void *json_obj)
{
    json_t *o = json_obj;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

    if (s != NULL) {
        fprintf(f, "%s\n", s);
        free(s);
    }
    json_decref(o);
}

/* --- tables --------------------------------------------------------------------- */

void dlp_rulescmd__table_init(dlp_rulescmd_table_t *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
}

bool dlp_rulescmd__table_row(dlp_rulescmd_table_t *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **c = realloc(t->cell, cap * t->ncols * sizeof(*c));
        if (c == NULL)
            return false;
        t->cell = c;
        t->cap = cap;
    }
    for (size_t k = 0; k < t->ncols; k++) {
        t->cell[t->nrows * t->ncols + k] = strdup(cells[k] ? cells[k] : "");
        if (t->cell[t->nrows * t->ncols + k] == NULL) {
            while (k-- > 0)
                free(t->cell[t->nrows * t->ncols + k]);
            return false;
        }
    }
    t->nrows++;
    return true;
}

void dlp_rulescmd__table_print(const dlp_rulescmd_table_t *t, FILE *f, const char *indent)
{
    size_t w[16] = {0};

    for (size_t r = 0; r < t->nrows; r++)
        for (size_t k = 0; k < t->ncols && k < DLP_ARRAY_LEN(w); k++)
            if (strlen(t->cell[r * t->ncols + k]) > w[k])
                w[k] = strlen(t->cell[r * t->ncols + k]);
    for (size_t r = 0; r < t->nrows; r++) {
        fputs(indent, f);
        for (size_t k = 0; k < t->ncols && k < DLP_ARRAY_LEN(w); k++) {
            const char *c = t->cell[r * t->ncols + k];
            if (k + 1 == t->ncols)
                fprintf(f, "%s\n", c);
            else
                fprintf(f, "%-*s  ", (int)w[k], c);
        }
    }
}

void dlp_rulescmd__counters_init(dlp_rulescmd_table_t *t, const dlp_rstat_t *cols, size_t n)
{
    static const char *const names[DLP_RSTAT__COUNT] = {
        [DLP_RSTAT_CANDIDATES] = "CANDIDATES", [DLP_RSTAT_REJECTED] = "REJECTED",
        [DLP_RSTAT_FILTERED] = "FILTERED",     [DLP_RSTAT_CONTEXT] = "CONTEXT",
        [DLP_RSTAT_ALLOWED] = "ALLOWED",       [DLP_RSTAT_TEST_VALUES] = "TEST_VALUES",
        [DLP_RSTAT_VALUES] = "VALUES",         [DLP_RSTAT_ALERTS] = "ALERTS",
        [DLP_RSTAT_UNLISTED] = "UNLISTED",
    };
    const char *head[1 + DLP_RSTAT__COUNT] = {"RULE"};

    n = n < DLP_RSTAT__COUNT ? n : DLP_RSTAT__COUNT;
    for (size_t k = 0; k < n; k++)
        head[1 + k] = (unsigned)cols[k] < DLP_RSTAT__COUNT ? names[cols[k]] : "?";
    dlp_rulescmd__table_init(t, 1 + n);
    dlp_rulescmd__table_row(t, head);
}

bool dlp_rulescmd__any_edm(const dlp_ruleset_t *rs)
{
    for (size_t i = 0; rs != NULL && i < rs->n; i++)
        if (rs->rules[i].edm.on)
            return true;
    return false;
}

void dlp_rulescmd__counters_row(dlp_rulescmd_table_t *t, const char *rule, const uint64_t *c,
                                const dlp_rstat_t *cols, size_t n)
{
    char num[DLP_RSTAT__COUNT][24];
    const char *row[1 + DLP_RSTAT__COUNT] = {rule};

    if (c[DLP_RSTAT_CANDIDATES] == 0 && c[DLP_RSTAT_ALERTS] == 0)
        return;
    n = n < DLP_RSTAT__COUNT ? n : DLP_RSTAT__COUNT;
    for (size_t k = 0; k < n; k++) {
        snprintf(num[k], sizeof(num[k]), "%" PRIu64, c[cols[k]]);
        row[1 + k] = num[k];
    }
    dlp_rulescmd__table_row(t, row);
}

void dlp_rulescmd__table_fini(dlp_rulescmd_table_t *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cell[i]);
    free(t->cell);
    memset(t, 0, sizeof(*t));
}
