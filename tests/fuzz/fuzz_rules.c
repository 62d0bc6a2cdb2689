/*
 * fuzz_rules.c - libFuzzer target for the YAML rule loader (include/dlp/rules.h).
 *
 * Input: the bytes of one rule file, written to a file of a private
 * temporary directory (removed at exit) and loaded. The loader must return
 * either a ruleset and no errors, or NULL and at least one error (each one
 * non-empty line, at most DLP_RULES_ERRORS_MAX plus the "too many" line);
 * a ruleset must respect the documented bounds and uniqueness. Leaks are
 * LeakSanitizer's part.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlp/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[] = "/tmp/dlp-fuzz-rules-XXXXXX";
static char g_path[sizeof(g_dir) + 16];

static void cleanup(void)
{
    unlink(g_path);
    rmdir(g_dir);
}

static void check_rule(const dlp_ruleset_t *rs, size_t i)
{
    const dlp_rule_t *r = &rs->rules[i];

    if (r->name == NULL || r->name[0] == '\0' || strlen(r->name) >= DLP_RULE_NAME_MAX ||
        (r->combination.min_weight == 0 && (r->npatterns == 0 || r->patterns == NULL)) ||
        (r->combination.min_weight > 0 && (r->npatterns != 0 || r->combination.nrules == 0)) ||
        r->npatterns > DLP_RULE_PATTERNS_MAX ||
        (unsigned)r->category >= DLP_CAT__COUNT || (unsigned)r->severity >= DLP_SEV__COUNT ||
        r->threshold < 1 || r->threshold > DLP_RULE_THRESHOLD_MAX || r->file == NULL)
        abort();
    for (size_t j = 0; j < r->npatterns; j++)
        if (r->patterns[j].expr == NULL || strlen(r->patterns[j].expr) > DLP_RULE_PATTERN_MAX_LEN)
            abort();
    for (size_t j = 0; j < r->nex_match; j++)
        if (r->ex_match[j] == NULL)
            abort();
    for (size_t j = 0; j < r->nex_no_match; j++)
        if (r->ex_no_match[j] == NULL)
            abort();
    for (size_t j = 0; j < i; j++)
        if (rs->rules[j].id == r->id || strcmp(rs->rules[j].name, r->name) == 0)
            abort();
    if (dlp_ruleset_find(rs, r->name) != r)
        abort();
}

static void check_errors(const dlp_rules_errors_t *err)
{
    if (err->n > DLP_RULES_ERRORS_MAX + 1)
        abort();
    for (size_t i = 0; i < err->n; i++)
        if (err->msg[i] == NULL || err->msg[i][0] == '\0' || strchr(err->msg[i], '\n'))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dlp_rules_errors_t err = {0};
    const char *paths[1] = {g_path};
    FILE *f;

    if (g_path[0] == '\0') {
        if (mkdtemp(g_dir) == NULL)
            abort();
        snprintf(g_path, sizeof(g_path), "%s/fuzz.yaml", g_dir);
        atexit(cleanup);
    }
    f = fopen(g_path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    dlp_ruleset_t *rs = dlp_rules_load(paths, 1, &err);
    check_errors(&err);
    if (rs == NULL) {
        if (err.n == 0)
            abort();
    } else {
        if (err.n != 0 || rs->n > DLP_RULES_MAX || rs->nfiles != 1 || rs->files == NULL)
            abort();
        for (size_t i = 0; i < rs->n; i++)
            check_rule(rs, i);
    }
    dlp_ruleset_free(rs);
    dlp_rules_errors_fini(&err);
    return 0;
}
