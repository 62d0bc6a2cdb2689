/*
 * protonames.c - the application protocol names a rule's protocols: list
 * (and `rules test --app-proto`) may give: nDPI's names, as a flow's
 * app_proto carries them, alone or as "MASTER.APP". A name no flow can ever
 * carry ("HTPP", ".", "HTTP.") would silently filter every value of the
 * rule, so the runtime and the tools refuse it where they load a set, with
 * the closest known names as a hint.
 *
 * The rules module reads names without nDPI (it may not link it: classify/
 * is its only user); this file asks classify for the table once per check.
 * Names compare as the detect stage compares them: case ignored, '-' and
 * '_' the same (so the sensor's old "FTP-DATA" still names FTP_DATA).
 *
 * Thread: the control thread (a check builds an nDPI module: tens of ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/classify.h"
#include "runtime_int.h"

#define NEAR_MAX 3     /* names suggested */
#define NEAR_DIST 2    /* at most this many edits away */
#define COMPONENTS 2   /* "MASTER.APP" */
#define PROTO_NAME 64  /* bytes of a name or component, with the NUL */

struct dlp_protonames {
    char **v;
    size_t n;
    bool oom;
};

static int canon(int c)
{
    c = c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
    return c == '-' ? '_' : c;
}

static void add_name(const char *name, void *arg)
{
    dlp_protonames_t *t = arg;
    char *s = t->oom ? NULL : strdup(name);
    char **v = s != NULL ? realloc(t->v, (t->n + 1) * sizeof(*t->v)) : NULL;

    if (v == NULL) {
        free(s);
        t->oom = true;
        return;
    }
    t->v = v;
    t->v[t->n++] = s;
}

dlp_protonames_t *dlp_protonames_new(void)
{
    dlp_protonames_t *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    if (!dlp_classify_proto_names(add_name, t) || t->oom) {
        dlp_protonames_free(t);
        return NULL;
    }
    return t;
}

void dlp_protonames_free(dlp_protonames_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    free(t);
}

/* Edits (insert, delete, substitute, swap two neighbours) from a[0,na) to b. */
static size_t distance(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b), d[PROTO_NAME + 1][PROTO_NAME + 1];

    if (na >= PROTO_NAME || nb >= PROTO_NAME)
        return SIZE_MAX;
    for (size_t i = 0; i <= na; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= nb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= na; i++) {
        for (size_t j = 1; j <= nb; j++) {
            size_t sub = d[i - 1][j - 1] + (canon(a[i - 1]) != canon(b[j - 1]));
            size_t best = d[i - 1][j] + 1 < d[i][j - 1] + 1 ? d[i - 1][j] + 1 : d[i][j - 1] + 1;
            best = sub < best ? sub : best;
            if (i > 1 && j > 1 && canon(a[i - 1]) == canon(b[j - 2]) &&
                canon(a[i - 2]) == canon(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[na][nb];
}

/* Whether s[0,n) is one of the names (n > 0). */
static bool has(const dlp_protonames_t *t, const char *s, size_t n)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *v = t->v[i];
        size_t k = 0;
        while (k < n && v[k] != '\0' && canon((unsigned char)s[k]) == canon((unsigned char)v[k]))
            k++;
        if (k == n && v[k] == '\0')
            return true;
    }
    return false;
}

/* Appends to near the names closest to s[0,n), written in place of that
 * component of the whole name 'name' (so "TLS.Gogle" suggests "TLS.Google"). */
static void suggest(const dlp_protonames_t *t, const char *name, const char *s, size_t n,
                    char *near, size_t cap)
{
    size_t used = strlen(near), shown = 0;

    for (size_t d = 1; d <= NEAR_DIST && n > d && shown == 0; d++) { /* the nearest only */
        for (size_t i = 0; i < t->n && shown < NEAR_MAX; i++) {
            if (distance(s, n, t->v[i]) != d)
                continue;
            int w = snprintf(near + used, cap - used, "%s%.*s%s%s", used > 0 ? ", " : "",
                             (int)(s - name), name, t->v[i], s + n);
            if (w < 0 || (size_t)w >= cap - used)
                return;
            used += (size_t)w;
            shown++;
        }
    }
}

/* Whether name is one of the names, or MASTER.APP of two: split at any dot,
 * since a name may have one of its own (nDPI's "Z39.50"). */
static bool known(const dlp_protonames_t *t, const char *name)
{
    size_t len = strlen(name);

    if (len > 0 && has(t, name, len))
        return true;
    for (const char *d = strchr(name, '.'); d != NULL; d = strchr(d + 1, '.')) {
        if (d > name && d[1] != '\0' && has(t, name, (size_t)(d - name)) &&
            has(t, d + 1, strlen(d + 1)))
            return true;
    }
    return false;
}

bool dlp_protonames_known(const dlp_protonames_t *t, const char *name, char *near, size_t cap)
{
    const char *s = name;
    bool ok = true;

    if (cap > 0)
        near[0] = '\0';
    if (known(t, name))
        return true;
    /* unknown: the hints, per component */
    for (unsigned c = 0; ok && c < COMPONENTS; c++) {
        const char *dot = strchr(s, '.');
        size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);
        if (n == 0 || !has(t, s, n)) {
            if (n > 0 && cap > 0)
                suggest(t, name, s, n, near, cap);
            ok = false;
        }
        if (dot == NULL)
            break;
        s = dot + 1;
    }
    return false;
}

bool dlp_protonames_check(const dlp_ruleset_t *rs, dlp_rules_errors_t *err)
{
    dlp_protonames_t *t = NULL;
    bool ok = true;

    for (size_t i = 0; i < rs->n; i++) {
        const dlp_rule_t *r = &rs->rules[i];
        for (size_t k = 0; k < r->nprotocols; k++) {
            char near[256];
            if (t == NULL && (t = dlp_protonames_new()) == NULL) {
                dlp_rules_errors_add(err, "protocols: cannot check the names: nDPI could not "
                                          "be set up");
                return false;
            }
            if (dlp_protonames_known(t, r->protocols[k], near, sizeof(near)))
                continue;
            dlp_rules_errors_add(err,
                                 "%s:%u: %s %s: protocols: unknown protocol '%s': no flow is "
                                 "named so (%s%s%s)",
                                 r->protocols_file != NULL ? r->protocols_file : r->file,
                                 r->protocols_line != NULL ? r->protocols_line[k] : r->line,
                                 r->protocols_override ? "override" : "rule", r->name,
                                 r->protocols[k], near[0] ? "did you mean " : "names are nDPI's: ",
                                 near[0] ? near : "HTTP, SMTP, DNS, TLS, FTP_DATA...",
                                 near[0] ? "?" : "");
            ok = false;
        }
    }
    dlp_protonames_free(t);
    return ok;
}
