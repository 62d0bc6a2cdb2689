/*
 * rules.c - rule files (YAML) -> an immutable dlp_ruleset_t: the shape of a
 * file (rules, allow, overrides), when a rule or an override is complete,
 * the files and directories of a load, and the public functions.
 *
 * A file is read by a recursive-descent reader over libyaml events
 * (rules_read.c), one function per shape of the format; the keys of a rule
 * are in rules_keys.c; what needs every file (overrides, the names of
 * combinations) is in rules_apply.c.
 *
 * Invariants: a rule enters the set only if it had no error; an override
 * is kept (to be applied) only if it had none. Any error, anywhere, fails
 * the whole load; the reader keeps going to report every error, until
 * DLP_RULES_ERRORS_MAX. Everything allocated belongs to the set or to the
 * loader, so dlp_ruleset_free() and loader_fini() free it on every path.
 *
 * Thread: the control thread loads; the set is then immutable and shared.
 */
#include "rules_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define OVERRIDE_KEY_NAMES                                                                         \
    "name, description, severity, threshold, enabled, context, exclude_context, protocols, "       \
    "fields, allow, test_values, edm, aggregate, examples"

/* ---- rules and overrides -------------------------------------------------- */

/* Reads the keys of a rule or override (current event: its MAPPING_START) up to its end. */
static bool read_keys(reader_t *rd, rule_ctx_t *rc, uint32_t allowed)
{
    char q[QUOTE_BUF];

    for (bool first = true;; first = false) {
        if (!dlp_rules__next(rd))
            return false;
        if (rd->ev.type == YAML_MAPPING_END_EVENT)
            return true;
        unsigned line = ev_line(rd);
        if (first)
            rc->r.line = line;
        if (!ev_is_scalar(rd)) {
            if (rd->ev.type != YAML_ALIAS_EVENT)
                dlp_rules__error(rd, line, "keys must be strings");
            if (!dlp_rules__skip(rd) || !dlp_rules__skip_value(rd))
                return false;
            continue;
        }
        unsigned k = 0;
        while (k < K__COUNT && !ev_is(rd, dlp_rules__keys[k].name))
            k++;
        const char *key = dlp_rules__quote(ev_str(rd), ev_len(rd), q);
        if (k < K__COUNT && !(allowed & KBIT(k)))
            dlp_rules__error(rd, line, "key %s cannot be overridden (only: %s)", key,
                             OVERRIDE_KEY_NAMES);
        else if (k == K__COUNT || (rc->keys & KBIT(k)))
            dlp_rules__error(rd, line, "%s key %s", k == K__COUNT ? "unknown" : "duplicate", key);
        if (k == K__COUNT || (rc->keys & KBIT(k)) || !(allowed & KBIT(k))) {
            if (!dlp_rules__skip_value(rd))
                return false;
            continue;
        }
        rc->keys |= KBIT(k);
        rc->key_line[k] = line;
        rd->key_line = line;
        if (!dlp_rules__next(rd) || !dlp_rules__keys[k].fn(rd, rc))
            return false;
    }
}

seen_t *dlp_rules__seen_find(const loader_t *ld, uint32_t id, const char *name)
{
    for (size_t i = 0; i < ld->nseen; i++) {
        seen_t *s = &ld->seen[i];
        if ((id != 0 && s->id == id) || (name != NULL && s->name && strcmp(s->name, name) == 0))
            return s;
    }
    return NULL;
}

/* Reports a duplicate id or name against every rule read before; remembers this one. */
static void check_unique(reader_t *rd, rule_ctx_t *rc)
{
    loader_t *ld = rd->ld;
    seen_t *s;

    if (rc->id_ok && (s = dlp_rules__seen_find(ld, rc->r.id, NULL)) != NULL)
        dlp_rules__error(rd, rc->key_line[K_ID], "duplicate id %u (first used at %s:%u)",
                         (unsigned)rc->r.id, s->file, s->id_line);
    if (rc->name_ok && (s = dlp_rules__seen_find(ld, 0, rc->r.name)) != NULL)
        dlp_rules__error(rd, rc->key_line[K_NAME], "duplicate name (first used at %s:%u)", s->file,
                         s->name_line);
    if (!rc->id_ok && !rc->name_ok)
        return;
    void *a = dlp_rules__grow(ld->seen, ld->nseen, 1, sizeof(*ld->seen));
    if (a == NULL) {
        dlp_rules__oom(ld);
        return;
    }
    ld->seen = a;
    s = &ld->seen[ld->nseen];
    *s = (seen_t){.id = rc->id_ok ? rc->r.id : 0,
                  .file = rd->file,
                  .id_line = rc->key_line[K_ID],
                  .name_line = rc->key_line[K_NAME]};
    if (rc->name_ok && (s->name = strdup(rc->r.name)) == NULL) {
        dlp_rules__oom(ld);
        return;
    }
    ld->nseen++;
}

static void apply_defaults(rule_ctx_t *rc)
{
    const dlp_validator_info_t *v = dlp_validator_get(rc->r.validator);
    dlp_norm_t norm = DLP_NORM_NONE;
    dlp_mask_t mask = DLP_MASK_PREFIX4;

    if (rc->r.validator != DLP_VAL_NONE && v != NULL) {
        norm = v->norm;
        mask = v->mask;
    }
    if (!(rc->keys & KBIT(K_NORMALIZE)))
        rc->r.norm = norm;
    if (!(rc->keys & KBIT(K_MASK)))
        rc->r.mask = mask;
}

/* The rule's allowed values, normalized as the rule normalizes its matches. */
static void normalize_allow(reader_t *rd, rule_ctx_t *rc)
{
    dlp_rule_allow_t *a = &rc->r.allow;
    char q[QUOTE_BUF];
    int r = 1;

    for (size_t i = 0; i < a->nvalues && r >= 0; i++) {
        if ((r = dlp_rules__normalize(rd->ld, &a->values[i], rc->r.norm)) == 0)
            dlp_rules__error(rd, a->line, "allow: values: %s is empty once normalized (%s)",
                             dlp_rules__quote(a->values[i], strlen(a->values[i]), q),
                             dlp_norm_name(rc->r.norm));
    }
}

/* A combination rule has no value of its own: no key that describes one. */
static void check_combination(reader_t *rd, rule_ctx_t *rc)
{
    const dlp_rule_t *r = &rc->r;

    for (unsigned k = 0; k < K__COUNT; k++) {
        if ((rc->keys & KBIT(k)) && (VALUE_KEYS & KBIT(k)))
            dlp_rules__error(rd, rc->key_line[k], "%s: not allowed in a combination rule",
                             dlp_rules__keys[k].name);
    }
    if (r->allow.nvalues > 0)
        dlp_rules__error(rd, r->allow.line, "allow: values: not allowed in a combination rule");
    if (r->allow.nhmacs > 0)
        dlp_rules__error(rd, r->allow.line, "allow: hmacs: not allowed in a combination rule");
    if ((rc->keys & KBIT(K_CATEGORY)) && r->category != DLP_CAT_LINKABLE)
        dlp_rules__error(rd, rc->key_line[K_CATEGORY],
                         "category: a combination rule must be linkable, not %s",
                         dlp_rules__cat_names[r->category]);
}

static void check_rule(reader_t *rd, rule_ctx_t *rc)
{
    bool comb = rc->keys & KBIT(K_COMBINATION);

    for (unsigned k = 0; k < K__COUNT; k++) {
        if (dlp_rules__keys[k].required && !(rc->keys & KBIT(k)) && !(comb && k == K_PATTERNS))
            dlp_rules__error(rd, rc->r.line, "missing required key '%s'", dlp_rules__keys[k].name);
    }
    apply_defaults(rc);
    if (comb)
        check_combination(rd, rc);
    else
        normalize_allow(rd, rc);
}

/* The names of an accepted combination rule wait for every file to be read. */
static void add_comb_refs(loader_t *ld, const rule_ctx_t *rc, size_t rule)
{
    const dlp_rule_combination_t *c = &rc->r.combination;
    void *a;

    if (c->nrules == 0)
        return;
    if ((a = dlp_rules__grow(ld->refs, ld->nrefs, c->nrules, sizeof(*ld->refs))) == NULL) {
        dlp_rules__oom(ld);
        return;
    }
    ld->refs = a;
    for (size_t i = 0; i < c->nrules; i++)
        ld->refs[ld->nrefs++] = (comb_ref_t){.rule = rule, .item = i, .line = rc->comb_lines[i]};
}

/* A rule has been read: checks what needs all its keys, then keeps it or reports it. */
static void finish_rule(reader_t *rd, rule_ctx_t *rc)
{
    loader_t *ld = rd->ld;
    dlp_ruleset_t *rs = ld->rs;

    check_rule(rd, rc);
    check_unique(rd, rc);
    if (rc->npend == 0 && rs->n >= DLP_RULES_MAX && !ld->too_many_rules) {
        dlp_rules__error(rd, rc->r.line, "too many rules (max %u)", (unsigned)DLP_RULES_MAX);
        ld->too_many_rules = true;
    }
    if (rc->npend > 0 || ld->stop || ld->too_many_rules) {
        dlp_rules__flush(rd, rc);
        return;
    }
    void *a = dlp_rules__grow(rs->rules, rs->n, 1, sizeof(*rs->rules));
    if (a == NULL) {
        dlp_rules__oom(ld);
        return;
    }
    rs->rules = a;
    add_comb_refs(ld, rc, rs->n);
    rc->r.file = rd->file;
    rs->rules[rs->n++] = rc->r;
    memset(&rc->r, 0, sizeof(rc->r));
}

/* An override has been read: kept, to be applied once every file is read. */
static void finish_override(reader_t *rd, rule_ctx_t *rc)
{
    loader_t *ld = rd->ld;

    if (!(rc->keys & KBIT(K_NAME)))
        dlp_rules__error(rd, rc->r.line, "missing required key 'name'");
    if (rc->npend == 0 && ld->novr >= DLP_RULES_OVERRIDES_MAX && !ld->too_many_overrides) {
        dlp_rules__error(rd, rc->r.line, "too many overrides (max %u)",
                         (unsigned)DLP_RULES_OVERRIDES_MAX);
        ld->too_many_overrides = true;
    }
    if (rc->npend > 0 || ld->stop || ld->too_many_overrides) {
        dlp_rules__flush(rd, rc);
        return;
    }
    void *a = dlp_rules__grow(ld->ovr, ld->novr, 1, sizeof(*ld->ovr));
    if (a == NULL) {
        dlp_rules__oom(ld);
        return;
    }
    ld->ovr = a;
    override_t *o = &ld->ovr[ld->novr++];
    *o = (override_t){.r = rc->r, .keys = rc->keys, .file = rd->file};
    memcpy(o->key_line, rc->key_line, sizeof(o->key_line));
    memset(&rc->r, 0, sizeof(rc->r));
}

/* Current event: the MAPPING_START of a rule or an override. */
static bool read_rule(reader_t *rd, bool is_override)
{
    rule_ctx_t rc = {.r = {.threshold = 1, .enabled = true, .line = ev_line(rd)},
                     .is_override = is_override};
    bool go;

    rd->rc = &rc;
    go = read_keys(rd, &rc, is_override ? OVERRIDE_KEYS : ~0u);
    if (go && is_override)
        finish_override(rd, &rc);
    else if (go)
        finish_rule(rd, &rc);
    else {
        /* Cut short (a YAML error): the rule exists, with errors of its own, so
         * an override or a combination naming it is not "no such rule". */
        if (!is_override && !rd->ld->stop)
            check_unique(rd, &rc);
        dlp_rules__flush(rd, &rc);
    }
    rd->rc = NULL;
    for (size_t i = 0; i < rc.npend; i++)
        free(rc.pend[i].msg);
    free(rc.pend);
    free(rc.comb_lines);
    dlp_rules__rule_fini(&rc.r);
    return go && !rd->ld->stop;
}

/* ---- files ---------------------------------------------------------------- */

/* rules: or overrides: (current event: its value), a sequence of mappings. */
static bool read_rule_list(reader_t *rd, bool is_override)
{
    const char *key = is_override ? "overrides" : "rules";
    const char *item = is_override ? "an override" : "a rule";
    char q[KIND_BUF];

    if (rd->ev.type == YAML_ALIAS_EVENT)
        return true;
    if (rd->ev.type != YAML_SEQUENCE_START_EVENT) {
        dlp_rules__error(rd, ev_line(rd), "%s: expected a sequence of %ss, got %s", key,
                         is_override ? "override" : "rule", dlp_rules__kind(rd, q));
        return dlp_rules__skip(rd);
    }
    for (;;) {
        if (!dlp_rules__next(rd))
            return false;
        if (rd->ev.type == YAML_SEQUENCE_END_EVENT)
            return true;
        if (rd->ev.type == YAML_MAPPING_START_EVENT) {
            if (!read_rule(rd, is_override))
                return false;
            continue;
        }
        if (rd->ev.type != YAML_ALIAS_EVENT)
            dlp_rules__error(rd, ev_line(rd), "%s: expected %s (a mapping), got %s", key, item,
                             dlp_rules__kind(rd, q));
        if (!dlp_rules__skip(rd))
            return false;
    }
}

/* The top-level allow: of a file (current event: its value), merged into the set's. */
static bool read_global_allow(reader_t *rd, unsigned line)
{
    loader_t *ld = rd->ld;
    dlp_rule_allow_t a = {0};
    size_t nerr = ld->nerr;
    const char *which = NULL;
    bool go = dlp_rules__read_allow(rd, "allow", &a, line);

    if (go && ld->nerr == nerr && !dlp_rules__allow_merge(&ld->rs->allow, &a, &which)) {
        if (which == NULL)
            dlp_rules__oom(ld);
        else
            dlp_rules__error(rd, line, "allow: %s: more than %u in the global allow-lists", which,
                             (unsigned)DLP_RULE_ALLOW_MAX);
    }
    dlp_rules__allow_fini(&a);
    return go;
}

enum { TOP_RULES, TOP_ALLOW, TOP_OVERRIDES, TOP__COUNT };

static bool read_top_value(reader_t *rd, unsigned k, unsigned line)
{
    if (k == TOP_RULES)
        return read_rule_list(rd, false);
    if (k == TOP_OVERRIDES)
        return read_rule_list(rd, true);
    return read_global_allow(rd, line);
}

/* Current event: the document's root node. */
static bool read_top(reader_t *rd)
{
    static const char *const names[TOP__COUNT] = {"rules", "allow", "overrides"};
    char q[KIND_BUF];
    unsigned line0 = ev_line(rd), seen = 0;

    if (rd->ev.type != YAML_MAPPING_START_EVENT) {
        if (rd->ev.type != YAML_ALIAS_EVENT)
            dlp_rules__error(rd, line0, "expected a mapping with the key 'rules', got %s",
                             dlp_rules__kind(rd, q));
        return dlp_rules__skip(rd);
    }
    for (;;) {
        if (!dlp_rules__next(rd))
            return false;
        if (rd->ev.type == YAML_MAPPING_END_EVENT)
            break;
        unsigned k = 0, line = ev_line(rd);
        while (k < TOP__COUNT && !ev_is(rd, names[k]))
            k++;
        if (k < TOP__COUNT && !(seen & (1u << k))) {
            seen |= 1u << k;
            if (!dlp_rules__next(rd) || !read_top_value(rd, k, line))
                return false;
            continue;
        }
        if (k < TOP__COUNT)
            dlp_rules__error(rd, line, "duplicate key '%s'", names[k]);
        else if (ev_is_scalar(rd))
            dlp_rules__error(rd, line, "unknown top-level key %s (known: rules, allow, overrides)",
                             dlp_rules__quote(ev_str(rd), ev_len(rd), q));
        else if (rd->ev.type != YAML_ALIAS_EVENT)
            dlp_rules__error(rd, line, "keys must be strings");
        if (!dlp_rules__skip(rd) || !dlp_rules__skip_value(rd))
            return false;
    }
    if (seen == 0)
        dlp_rules__error(rd, line0,
                         "missing top-level key: expected 'rules', 'allow' or "
                         "'overrides'");
    return true;
}

static void read_stream(reader_t *rd)
{
    /* STREAM-START, then DOCUMENT-START or STREAM-END */
    if (!dlp_rules__next(rd) || !dlp_rules__next(rd))
        return;
    if (rd->ev.type == YAML_STREAM_END_EVENT) {
        dlp_rules__error(rd, ev_line(rd), "empty file: expected a mapping with the key 'rules'");
        return;
    }
    if (!dlp_rules__next(rd) || !read_top(rd))
        return;
    /* DOCUMENT-END, then STREAM-END or DOCUMENT-START */
    if (!dlp_rules__next(rd) || !dlp_rules__next(rd))
        return;
    if (rd->ev.type == YAML_DOCUMENT_START_EVENT)
        dlp_rules__error(rd, ev_line(rd), "only one YAML document per file is allowed");
}

static void parse_buffer(loader_t *ld, const char *file, const unsigned char *buf, size_t len)
{
    reader_t rd = {.ld = ld, .file = file, .buf = buf, .len = len};

    if (!yaml_parser_initialize(&rd.parser)) {
        dlp_rules__oom(ld);
        return;
    }
    yaml_parser_set_input_string(&rd.parser, buf, len);
    read_stream(&rd);
    if (rd.has_ev)
        yaml_event_delete(&rd.ev);
    yaml_parser_delete(&rd.parser);
}

static void load_file(loader_t *ld, const char *file, EVP_MD_CTX *md)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    struct stat st;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */

    if (fd < 0) {
        dlp_rules__lerror(ld, "%s: %s", file, strerror(errno));
        return;
    }
    if (fstat(fd, &st) != 0) {
        dlp_rules__lerror(ld, "%s: %s", file, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        dlp_rules__lerror(ld, "%s: not a regular file", file);
        goto out;
    }
    if ((uint64_t)st.st_size > DLP_RULES_FILE_MAX_BYTES)
        goto too_large;
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        dlp_rules__oom(ld);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            dlp_rules__lerror(ld, "%s: %s", file, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > (size_t)st.st_size) /* grew while we read */
            goto too_large;
    }
    if (EVP_DigestUpdate(md, buf, len) != 1) {
        dlp_rules__lerror(ld, "%s: SHA-256 failed", file);
        goto out;
    }
    parse_buffer(ld, file, buf, len);
    goto out;
too_large:
    dlp_rules__lerror(ld, "%s: larger than %u bytes", file, (unsigned)DLP_RULES_FILE_MAX_BYTES);
out:
    free(buf);
    close(fd);
}

/* ---- paths ---------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Whether file is one already in the load under another path (rules/ and
 * rules/local.yaml; ./a.yaml and a.yaml; a link): read twice, its rules
 * would clash with themselves and its overrides apply twice. Said once,
 * naming both paths; the file is not added again.
 */
static bool loaded_twice(loader_t *ld, const char *file, file_id_t *id)
{
    struct stat st;

    *id = (file_id_t){0, 0};
    if (stat(file, &st) != 0) /* load_file says why */
        return false;
    *id = (file_id_t){st.st_dev, st.st_ino};
    for (size_t i = 0; i < ld->rs->nfiles; i++) {
        if (ld->ids[i].ino == st.st_ino && ld->ids[i].dev == st.st_dev &&
            (st.st_ino != 0 || st.st_dev != 0)) {
            dlp_rules__lerror(ld, "%s: loaded twice (also as %s)", file, ld->rs->files[i]);
            return true;
        }
    }
    return false;
}

static bool add_file(loader_t *ld, const char *origin, char *file)
{
    dlp_ruleset_t *rs = ld->rs;
    file_id_t id;

    if (loaded_twice(ld, file, &id)) {
        free(file);
        return true;
    }
    if (rs->nfiles >= DLP_RULES_FILES_MAX) {
        if (!ld->too_many_files)
            dlp_rules__lerror(ld, "%s: too many rule files (max %u)", origin,
                              (unsigned)DLP_RULES_FILES_MAX);
        ld->too_many_files = true;
        free(file);
        return true;
    }
    void *a = dlp_rules__grow(rs->files, rs->nfiles, 1, sizeof(*rs->files));
    void *b = a != NULL ? dlp_rules__grow(ld->ids, rs->nfiles, 1, sizeof(*ld->ids)) : NULL;
    if (a != NULL)
        rs->files = a;
    if (b == NULL) {
        free(file);
        dlp_rules__oom(ld);
        return false;
    }
    ld->ids = b;
    ld->ids[rs->nfiles] = id;
    rs->files[rs->nfiles++] = file;
    return true;
}

static bool is_rule_file_name(const char *n)
{
    size_t len = strlen(n);
    return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".yaml") == 0;
}

/*
 * Whether a *.yaml entry of a directory is a rule file to read: a regular
 * file or a link to one. A *.yaml entry that cannot be stat()ed (a dangling
 * or looping link, a target behind a directory we may not search) was meant
 * to be read and cannot be: an error, as for a file named on the command
 * line, or the sensor would run with fewer rules than it was given. Only an
 * entry that vanished since readdir() is passed over.
 */
static bool rule_file_in_dir(loader_t *ld, const char *path)
{
    struct stat st;

    if (stat(path, &st) == 0)
        return S_ISREG(st.st_mode);
    int e = errno;
    if (e == ENOENT && lstat(path, &st) != 0 && errno == ENOENT)
        return false;
    dlp_rules__lerror(ld, "%s: %s", path, strerror(e));
    return false;
}

/* Collects dir's *.yaml regular files (not hidden, not recursive) in name order. */
static void add_dir(loader_t *ld, const char *dir)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    size_t dlen = strlen(dir);
    const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
    struct dirent *de;
    size_t nerr = ld->nerr;

    if (d == NULL) {
        dlp_rules__lerror(ld, "%s: %s", dir, strerror(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char *path = NULL;
        if (!is_rule_file_name(de->d_name))
            continue;
        void *a = dlp_rules__grow(names, n, 1, sizeof(*names));
        if (a != NULL)
            names = a;
        if (a == NULL || asprintf(&path, "%s%s%s", dir, sep, de->d_name) < 0) {
            dlp_rules__oom(ld);
            goto out;
        }
        if (!rule_file_in_dir(ld, path)) {
            free(path);
            continue;
        }
        names[n++] = path;
        if (n > DLP_RULES_FILES_MAX) /* enough to fail the load: add_file reports it */
            break;
    }
    if (n == 0) {
        if (ld->nerr == nerr) /* else its *.yaml entries were named: enough */
            dlp_rules__lerror(ld, "%s: no *.yaml files in directory", dir);
        goto out;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *f = names[i];
        names[i] = NULL;
        if (!add_file(ld, dir, f))
            break;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
}

static void add_path(loader_t *ld, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        dlp_rules__lerror(ld, "%s: %s", path, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        add_dir(ld, path);
        return;
    }
    char *f = strdup(path);
    if (f == NULL) {
        dlp_rules__oom(ld);
        return;
    }
    add_file(ld, path, f);
}

/* ---- public --------------------------------------------------------------- */

void dlp_ruleset_free(dlp_ruleset_t *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++)
        dlp_rules__rule_fini(&rs->rules[i]);
    free(rs->rules);
    dlp_rules__allow_fini(&rs->allow);
    dlp_rules__free_strs(rs->files, rs->nfiles);
    free(rs);
}

static void loader_fini(loader_t *ld)
{
    for (size_t i = 0; i < ld->nseen; i++)
        free(ld->seen[i].name);
    free(ld->seen);
    for (size_t i = 0; i < ld->novr; i++)
        dlp_rules__rule_fini(&ld->ovr[i].r);
    free(ld->ovr);
    free(ld->refs);
    free(ld->ids);
}

dlp_ruleset_t *dlp_rules_load(const char *const *paths, size_t n, dlp_rules_errors_t *err)
{
    loader_t ld = {.err = err};
    EVP_MD_CTX *md = NULL;

    ld.rs = calloc(1, sizeof(*ld.rs));
    md = EVP_MD_CTX_new();
    if (ld.rs == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        dlp_rules__oom(&ld);
        goto out;
    }
    if (n == 0)
        dlp_rules__lerror(&ld, "no rule files given");
    for (size_t i = 0; i < n && !ld.stop; i++)
        add_path(&ld, paths[i]);
    for (size_t i = 0; i < ld.rs->nfiles && !ld.stop; i++)
        load_file(&ld, ld.rs->files[i], md);
    if (!ld.stop)
        dlp_rules__finish_load(&ld);
    if (ld.nerr == 0 && EVP_DigestFinal_ex(md, ld.rs->digest, NULL) != 1)
        dlp_rules__lerror(&ld, "SHA-256 failed");
out:
    EVP_MD_CTX_free(md);
    loader_fini(&ld);
    if (ld.nerr > 0 || ld.stop) {
        dlp_ruleset_free(ld.rs);
        return NULL;
    }
    return ld.rs;
}

void dlp_ruleset_digest_hex(const dlp_ruleset_t *rs, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < sizeof(rs->digest); i++) {
        out[2 * i] = hex[rs->digest[i] >> 4];
        out[2 * i + 1] = hex[rs->digest[i] & 15];
    }
    out[2 * sizeof(rs->digest)] = '\0';
}

const dlp_rule_t *dlp_ruleset_find(const dlp_ruleset_t *rs, const char *name)
{
    for (size_t i = 0; rs != NULL && i < rs->n; i++) {
        if (strcmp(rs->rules[i].name, name) == 0)
            return &rs->rules[i];
    }
    return NULL;
}

const char *dlp_category_name(dlp_category_t c)
{
    return (unsigned)c < DLP_CAT__COUNT ? dlp_rules__cat_names[c] : "?";
}

const char *dlp_severity_name(dlp_severity_t s)
{
    return (unsigned)s < DLP_SEV__COUNT ? dlp_rules__sev_names[s] : "?";
}
