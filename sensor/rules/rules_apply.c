/*
 * rules_apply.c - what a load does once every file has been read: the
 * overrides, applied in load order, then the names each combination counts.
 * Also the merging of allow-lists (global blocks, overrides).
 *
 * Semantics of an override: each key it gives replaces the rule's value
 * entirely (context, exclude_context, protocols, fields, edm, description...),
 * except allow, whose lists are appended to the rule's. Later overrides
 * apply over earlier ones. The rule keeps its own file and line.
 *
 * An override of a rule, or a combination naming a rule, that had errors
 * of its own is not reported again as "no such rule": the rule's errors
 * already fail the load.
 *
 * Thread: the control thread (the loader).
 */
#include "rules_int.h"

#include <stdlib.h>

int dlp_rules__normalize(loader_t *ld, char **s, dlp_norm_t how)
{
    size_t n = strlen(*s);
    char *out = malloc(n + 1); /* no normalization lengthens a value */

    if (out == NULL) {
        dlp_rules__oom(ld);
        return -1;
    }
    dlp_normalize(how, (const uint8_t *)*s, n, out, n + 1);
    if (out[0] == '\0') {
        free(out);
        return 0;
    }
    free(*s);
    *s = out;
    return 1;
}

/* ---- allow-lists ---------------------------------------------------------- */

static bool grow_strs(char ***dst, size_t n, size_t add)
{
    void *a = dlp_rules__grow(*dst, n, add, sizeof(char *));

    if (a == NULL)
        return false;
    *dst = a;
    return true;
}

static bool grow_cidrs(dlp_cidr_set_t *dst, size_t add)
{
    if (add == 0)
        return true;
    void *a = realloc(dst->v, (dst->n + add) * sizeof(*dst->v));
    if (a == NULL)
        return false;
    dst->v = a;
    return true;
}

/* Room in dst for every item of src; nothing is moved yet. */
static bool allow_reserve(dlp_rule_allow_t *dst, const dlp_rule_allow_t *src)
{
    void *h = NULL;

    if (src->nhmacs > 0) {
        h = dlp_rules__grow(dst->hmacs, dst->nhmacs, src->nhmacs, sizeof(*dst->hmacs));
        if (h == NULL)
            return false;
        dst->hmacs = h;
    }
    return (src->nvalues == 0 || grow_strs(&dst->values, dst->nvalues, src->nvalues)) &&
           (src->nhosts == 0 || grow_strs(&dst->hosts, dst->nhosts, src->nhosts)) &&
           grow_cidrs(&dst->src, src->src.n) && grow_cidrs(&dst->dst, src->dst.n);
}

/* Appends src's n items of 'size' bytes to dst's; src's array is freed. */
static void move_items(void *dst, size_t *dn, void *src, size_t *sn, size_t size)
{
    if (*sn > 0)
        memcpy((char *)dst + *dn * size, src, *sn * size);
    *dn += *sn;
    *sn = 0;
    free(src);
}

bool dlp_rules__allow_merge(dlp_rule_allow_t *dst, dlp_rule_allow_t *src, const char **which)
{
    static const char *const names[] = {"values", "hmacs", "src", "dst", "hosts"};
    const size_t have[] = {dst->nvalues, dst->nhmacs, dst->src.n, dst->dst.n, dst->nhosts};
    const size_t add[] = {src->nvalues, src->nhmacs, src->src.n, src->dst.n, src->nhosts};

    *which = NULL;
    for (size_t i = 0; i < DLP_ARRAY_LEN(names); i++) {
        if (have[i] + add[i] > DLP_RULE_ALLOW_MAX) {
            *which = names[i];
            return false;
        }
    }
    if (!allow_reserve(dst, src))
        return false;
    move_items(dst->values, &dst->nvalues, src->values, &src->nvalues, sizeof(char *));
    move_items(dst->hmacs, &dst->nhmacs, src->hmacs, &src->nhmacs, sizeof(*dst->hmacs));
    move_items(dst->src.v, &dst->src.n, src->src.v, &src->src.n, sizeof(dlp_cidr_t));
    move_items(dst->dst.v, &dst->dst.n, src->dst.v, &src->dst.n, sizeof(dlp_cidr_t));
    move_items(dst->hosts, &dst->nhosts, src->hosts, &src->nhosts, sizeof(char *));
    src->values = src->hosts = NULL;
    src->hmacs = NULL;
    src->src.v = src->dst.v = NULL;
    if (dst->file == NULL) {
        dst->file = src->file;
        dst->line = src->line;
    }
    return true;
}

/* ---- overrides ------------------------------------------------------------ */

/* The loader's own set, so writable. */
static dlp_rule_t *find_rule(dlp_ruleset_t *rs, const char *name)
{
    return (dlp_rule_t *)dlp_ruleset_find(rs, name);
}

/* A rule of that name was read, with errors (so it is not in the set). */
static bool was_seen(const loader_t *ld, const char *name)
{
    return dlp_rules__seen_find(ld, 0, name) != NULL;
}

/* What a combination rule cannot take; true if the override gives none of it. */
static bool override_fits(loader_t *ld, const override_t *o, const dlp_rule_t *r)
{
    const dlp_rule_allow_t *a = &o->r.allow;
    uint32_t bad = o->keys & VALUE_KEYS;

    if (r->combination.min_weight == 0)
        return true;
    if (a->nvalues > 0 || a->nhmacs > 0)
        bad |= KBIT(K_ALLOW);
    for (uint32_t left = bad; left != 0;) { /* by line, as the errors of a rule are */
        unsigned k = K__COUNT;
        for (unsigned j = 0; j < K__COUNT; j++) {
            if ((left & KBIT(j)) && (k == K__COUNT || o->key_line[j] < o->key_line[k]))
                k = j;
        }
        left &= ~KBIT(k);
        dlp_rules__lerror(ld, "%s:%u: override %s: %s%s: not allowed on a combination rule",
                          o->file, o->key_line[k], o->r.name, dlp_rules__keys[k].name,
                          k != K_ALLOW     ? ""
                          : a->nvalues > 0 ? ": values"
                                           : ": hmacs");
    }
    return bad == 0;
}

/* The override's allowed values, normalized as the rule it changes normalizes. */
static bool override_normalize(loader_t *ld, override_t *o, dlp_norm_t norm)
{
    dlp_rule_allow_t *a = &o->r.allow;
    char q[QUOTE_BUF];
    bool ok = true;

    for (size_t i = 0; i < a->nvalues; i++) {
        int r = dlp_rules__normalize(ld, &a->values[i], norm);
        if (r < 0)
            return false;
        if (r > 0)
            continue;
        dlp_rules__lerror(ld, "%s:%u: override %s: allow: values: %s is empty once normalized (%s)",
                          o->file, a->line, o->r.name,
                          dlp_rules__quote(a->values[i], strlen(a->values[i]), q),
                          dlp_norm_name(norm));
        ok = false;
    }
    return ok;
}

/* The keys that replace the rule's value: moved from the override into the rule. */
/* A site's own examples replace the rule author's: a rule narrowed on purpose
 * (a required context) would otherwise never pass rules check again. */
static void override_examples(dlp_rule_t *v, dlp_rule_t *r)
{
    dlp_rules__free_strs(r->ex_match, r->nex_match);
    dlp_rules__free_strs(r->ex_no_match, r->nex_no_match);
    free(r->ex_match_line);
    free(r->ex_no_match_line);
    r->ex_match = v->ex_match;
    r->nex_match = v->nex_match;
    r->ex_no_match = v->ex_no_match;
    r->nex_no_match = v->nex_no_match;
    r->ex_match_line = v->ex_match_line;
    r->ex_no_match_line = v->ex_no_match_line;
    r->examples_file = v->examples_file;
    r->examples_line = v->examples_line;
    v->ex_match = v->ex_no_match = NULL;
    v->nex_match = v->nex_no_match = 0;
    v->ex_match_line = v->ex_no_match_line = NULL;
}

static void override_replace(override_t *o, dlp_rule_t *r)
{
    dlp_rule_t *v = &o->r;

    if (o->keys & KBIT(K_EXAMPLES))
        override_examples(v, r);

    if (o->keys & KBIT(K_DESCRIPTION)) {
        free(r->description);
        r->description = v->description;
        v->description = NULL;
    }
    if (o->keys & KBIT(K_SEVERITY))
        r->severity = v->severity;
    if (o->keys & KBIT(K_THRESHOLD))
        r->threshold = v->threshold;
    if (o->keys & KBIT(K_ENABLED))
        r->enabled = v->enabled;
    if (o->keys & KBIT(K_TEST_VALUES))
        r->test_values = v->test_values;
    if (o->keys & KBIT(K_FIELDS))
        r->fields = v->fields;
    if (o->keys & KBIT(K_CONTEXT)) {
        dlp_rules__context_fini(&r->context);
        r->context = v->context;
        memset(&v->context, 0, sizeof(v->context));
    }
    if (o->keys & KBIT(K_EXCLUDE)) {
        dlp_rules__context_fini(&r->exclude);
        r->exclude = v->exclude;
        memset(&v->exclude, 0, sizeof(v->exclude));
    }
    if (o->keys & KBIT(K_AGGREGATE))
        r->aggregate = v->aggregate;
    if (o->keys & KBIT(K_EDM)) {
        free(r->edm.hmacs);
        r->edm = v->edm;
        memset(&v->edm, 0, sizeof(v->edm));
    }
    if (o->keys & KBIT(K_PROTOCOLS)) {
        dlp_rules__free_strs(r->protocols, r->nprotocols);
        free(r->protocols_line);
        r->protocols = v->protocols;
        r->nprotocols = v->nprotocols;
        r->protocols_line = v->protocols_line;
        r->protocols_file = v->protocols_file;
        r->protocols_override = true;
        v->protocols = NULL;
        v->nprotocols = 0;
        v->protocols_line = NULL;
    }
}

static void apply_override(loader_t *ld, override_t *o)
{
    dlp_rule_t *r = find_rule(ld->rs, o->r.name);
    const char *which = NULL;

    if (r == NULL) {
        if (!was_seen(ld, o->r.name))
            dlp_rules__lerror(ld, "%s:%u: override %s: no such rule", o->file, o->key_line[K_NAME],
                              o->r.name);
        return;
    }
    if (!override_fits(ld, o, r) || !override_normalize(ld, o, r->norm))
        return;
    if ((o->keys & KBIT(K_ALLOW)) && !dlp_rules__allow_merge(&r->allow, &o->r.allow, &which)) {
        if (which == NULL)
            dlp_rules__oom(ld);
        else
            dlp_rules__lerror(ld, "%s:%u: override %s: allow: %s: more than %u for the rule",
                              o->file, o->key_line[K_ALLOW], o->r.name, which,
                              (unsigned)DLP_RULE_ALLOW_MAX);
        return;
    }
    override_replace(o, r);
}

/* ---- combinations --------------------------------------------------------- */

static void check_ref(loader_t *ld, const comb_ref_t *ref)
{
    const dlp_rule_t *c = &ld->rs->rules[ref->rule];
    const char *name = c->combination.rules[ref->item];
    const dlp_rule_t *t = find_rule(ld->rs, name);

    if (t == NULL) {
        if (!was_seen(ld, name))
            dlp_rules__lerror(ld, "%s:%u: rule %s: combination: no such rule '%s'", c->file,
                              ref->line, c->name, name);
    } else if (t->combination.min_weight != 0) {
        dlp_rules__lerror(ld, "%s:%u: rule %s: combination: '%s' is itself a combination rule",
                          c->file, ref->line, c->name, name);
    } else if (t->category != DLP_CAT_LINKABLE) {
        dlp_rules__lerror(ld, "%s:%u: rule %s: combination: rule '%s' is %s, not linkable", c->file,
                          ref->line, c->name, name, dlp_category_name(t->category));
    }
}

/*
 * An enabled combination whose enabled rules cannot reach min_weight once
 * the overrides are applied could never fire: the error the loader gives
 * when the rule itself says so, since an override disabling its rules is
 * the same mistake made elsewhere. A combination naming an unknown rule has
 * its error already.
 */
static void check_reachable(loader_t *ld, const dlp_rule_t *c)
{
    const dlp_rule_combination_t *k = &c->combination;
    char off[512] = "";
    size_t used = 0;
    bool full = false;
    uint32_t sum = 0;

    if (k->min_weight == 0 || !c->enabled)
        return;
    for (size_t i = 0; i < k->nrules; i++) {
        const dlp_rule_t *t = find_rule(ld->rs, k->rules[i]);
        if (t == NULL)
            return;
        if (t->enabled) {
            sum += k->weights[i];
            continue;
        }
        if (full)
            continue;
        /* whole names only, with room left for ", ..." */
        int w = snprintf(off + used, sizeof(off) - used, "%s%s", used > 0 ? ", " : "", t->name);
        if (w > 0 && (size_t)w < sizeof(off) - 6 - used) {
            used += (size_t)w;
        } else {
            snprintf(off + used, sizeof(off) - used, "%s...", used > 0 ? ", " : "");
            full = true;
        }
    }
    if (sum < k->min_weight)
        dlp_rules__lerror(ld,
                          "%s:%u: rule %s: combination: min_weight %u is more than the weights "
                          "of its enabled rules add up to (%u; disabled: %s): the rule could "
                          "never fire (disable it too, or enable them)",
                          c->file, k->line, c->name, (unsigned)k->min_weight, (unsigned)sum, off);
}

void dlp_rules__finish_load(loader_t *ld)
{
    size_t nerr = ld->nerr;

    for (size_t i = 0; i < ld->novr && !ld->stop; i++)
        apply_override(ld, &ld->ovr[i]);
    for (size_t i = 0; i < ld->nrefs && !ld->stop; i++)
        check_ref(ld, &ld->refs[i]);
    for (size_t i = 0; i < ld->rs->n && !ld->stop && ld->nerr == nerr; i++)
        check_reachable(ld, &ld->rs->rules[i]);
}
