/*
 * rules_lint.c - `rules check`'s warnings: rules that load and compile but
 * are likely to misbehave. Each finding is one line "FILE:LINE: rule NAME:
 * warning: REASON", at the line of the pattern, context or rule at fault.
 *
 * Widths come from the matcher (dlp_match_expr_widths), with the flags it
 * compiles the rule with. Duplicates
 * compare expressions byte for byte with the flags that change a match.
 * The context-word lint is a tuning hint only: the matcher finds words on
 * word boundaries, so a fragment such as "lic" never fires inside "public";
 * a word that is part of a common word may be a truncated word that was
 * meant to match inside longer ones.
 *
 * Pure functions of the rule set; any thread.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rulescmd_int.h"

/* Common English words of five letters or more (context words shorter than
 * a word can only be part of it; shorter common words rarely contain one). */
static const char *const common_words[] = {
    "access",      "account",    "across",      "action",     "active",        "actually",
    "address",     "against",    "agency",      "already",    "always",        "amount",
    "another",     "answer",     "anyone",      "anything",   "around",        "article",
    "available",   "balance",    "because",     "become",     "before",        "between",
    "billing",     "birth",      "board",       "business",   "called",        "certain",
    "change",      "charge",     "children",    "class",      "clear",         "close",
    "common",      "company",    "complete",    "consider",   "contact",       "continue",
    "control",     "country",    "course",      "credit",     "current",       "customer",
    "delivery",    "department", "description", "design",     "detail",        "development",
    "different",   "direction",  "during",      "education",  "either",        "employee",
    "employment",  "enough",     "entire",      "evening",    "example",       "experience",
    "family",      "father",     "field",       "figure",     "financial",     "first",
    "follow",      "following",  "found",       "friend",     "further",       "general",
    "government",  "group",      "happen",      "health",     "history",       "hospital",
    "however",     "human",      "important",   "include",    "including",     "income",
    "information", "inside",     "instead",     "interest",   "international", "issue",
    "itself",      "language",   "large",       "later",      "letter",        "level",
    "license",     "little",     "local",       "management", "market",        "material",
    "medical",     "member",     "message",     "method",     "middle",        "million",
    "minute",      "model",      "money",       "month",      "morning",       "mother",
    "music",       "nation",     "national",    "nature",     "network",       "nothing",
    "notice",      "number",     "office",      "order",      "other",         "paper",
    "parent",      "party",      "password",    "patient",    "payment",       "people",
    "period",      "person",     "personal",    "phone",      "place",         "point",
    "policy",      "political",  "position",    "possible",   "power",         "present",
    "president",   "price",      "private",     "problem",    "process",       "product",
    "program",     "provide",    "public",      "purpose",    "question",      "quite",
    "rather",      "reason",     "receive",     "record",     "reference",     "region",
    "related",     "remember",   "report",      "request",    "require",       "research",
    "resource",    "result",     "return",      "right",      "school",        "second",
    "section",     "security",   "service",     "session",    "several",       "shipping",
    "should",      "single",     "social",      "society",    "someone",       "something",
    "source",      "special",    "statement",   "street",     "student",       "subject",
    "support",     "system",     "though",      "thought",    "through",       "together",
    "toward",      "training",   "travel",      "treatment",  "whether",       "within",
    "without",
};

static const char *file_of(const dlp_rule_t *r)
{
    return r->file != NULL ? r->file : "(rules)";
}

/* 'common' is 'word' with an inflection ("call" -> "called"): the same word, no hint. */
static bool inflection(const char *common, const char *word, size_t n)
{
    static const char *const suffixes[] = {"s", "es", "d", "ed", "ing", "er", "ers", "ly"};

    if (strncmp(common, word, n) != 0)
        return false;
    for (size_t i = 0; i < DLP_ARRAY_LEN(suffixes); i++)
        if (strcmp(common + n, suffixes[i]) == 0)
            return true;
    return false;
}

const char *dlp_rulescmd__common_word(const char *word)
{
    char low[DLP_RULE_CONTEXT_WORD_MAX + 1];
    size_t n = strlen(word);

    /* Three letters or fewer: an acronym or abbreviation ('pan', 'tin', 'ssn'),
     * written whole on purpose, not a stem meant to match inside words. */
    if (n <= 3 || n > DLP_RULE_CONTEXT_WORD_MAX || strchr(word, ' ') != NULL)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)word[i]);
    for (size_t i = 0; i < DLP_ARRAY_LEN(common_words); i++)
        if (strlen(common_words[i]) > n && strstr(common_words[i], low) != NULL &&
            !inflection(common_words[i], low, n))
            return common_words[i];
    return NULL;
}

unsigned dlp_rulescmd__lint_widths(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out)
{
    const dlp_rule_t *r = &rs->rules[i];
    unsigned n = 0;

    for (size_t k = 0; k < r->npatterns; k++) {
        const char *e = r->patterns[k].expr ? r->patterns[k].expr : "";
        uint32_t minw, maxw;

        if (dlp_match_expr_widths(e, r->flags, &minw, &maxw) != DLP_OK)
            continue; /* the matcher reports it as an error */
        if (minw == 0) {
            dlp_rules_errors_add(out,
                                 "%s:%u: rule %s: warning: pattern %zu can match the "
                                 "empty string: it would fire everywhere",
                                 file_of(r), r->patterns[k].line, r->name, k + 1);
            n++;
        } else if (minw < DLP_RULESCMD_MIN_WIDTH) {
            dlp_rules_errors_add(out,
                                 "%s:%u: rule %s: warning: pattern %zu can match as few "
                                 "as %u byte%s: a match that short fires on almost any "
                                 "traffic",
                                 file_of(r), r->patterns[k].line, r->name, k + 1, minw,
                                 minw == 1 ? "" : "s");
            n++;
        }
    }
    return n;
}

static unsigned lint_few(const dlp_rule_t *r, const char *kind, size_t have,
                         dlp_rules_errors_t *out)
{
    /* an override's examples replace the rule's: the warning is about them */
    const char *file = r->examples_file != NULL ? r->examples_file : file_of(r);
    unsigned line = r->examples_file != NULL ? r->examples_line : r->line;

    if (have >= DLP_RULESCMD_MIN_EXAMPLES)
        return 0;
    if (have == 0)
        dlp_rules_errors_add(out,
                             "%s:%u: rule %s: warning: no %s examples (at least %d "
                             "recommended)",
                             file, line, r->name, kind, DLP_RULESCMD_MIN_EXAMPLES);
    else
        dlp_rules_errors_add(out,
                             "%s:%u: rule %s: warning: only %zu %s example%s (at least "
                             "%d recommended)",
                             file, line, r->name, have, kind, have == 1 ? "" : "s",
                             DLP_RULESCMD_MIN_EXAMPLES);
    return 1;
}

unsigned dlp_rulescmd__lint_examples(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out)
{
    const dlp_rule_t *r = &rs->rules[i];

    if (r->combination.min_weight > 0) /* a combination has no value, so no examples */
        return 0;
    if (r->nex_match == 0 && r->nex_no_match == 0) {
        dlp_rules_errors_add(out,
                             "%s:%u: rule %s: warning: no examples (at least %d match "
                             "and %d no_match recommended)",
                             file_of(r), r->line, r->name, DLP_RULESCMD_MIN_EXAMPLES,
                             DLP_RULESCMD_MIN_EXAMPLES);
        return 1;
    }
    return lint_few(r, "match", r->nex_match, out) + lint_few(r, "no_match", r->nex_no_match, out);
}

#define MATCH_FLAGS (DLP_RULE_F_CASELESS | DLP_RULE_F_MULTILINE)

/* The first pattern before pattern k of rule i with the same expression and flags. */
static bool earlier_same(const dlp_ruleset_t *rs, size_t i, size_t k, size_t *ri, size_t *rk)
{
    const dlp_rule_t *r = &rs->rules[i];
    const char *e = r->patterns[k].expr;

    for (size_t a = 0; a <= i; a++) {
        const dlp_rule_t *o = &rs->rules[a];
        if ((o->flags & MATCH_FLAGS) != (r->flags & MATCH_FLAGS))
            continue;
        for (size_t b = 0; b < o->npatterns && (a < i || b < k); b++) {
            if (o->patterns[b].expr != NULL && e != NULL && strcmp(o->patterns[b].expr, e) == 0) {
                *ri = a;
                *rk = b;
                return true;
            }
        }
    }
    return false;
}

unsigned dlp_rulescmd__lint_duplicates(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out)
{
    const dlp_rule_t *r = &rs->rules[i];
    unsigned n = 0;
    size_t oi, ok;

    for (size_t k = 0; k < r->npatterns; k++) {
        if (!earlier_same(rs, i, k, &oi, &ok))
            continue;
        const dlp_rule_t *o = &rs->rules[oi];
        dlp_rules_errors_add(out,
                             "%s:%u: rule %s: warning: pattern %zu is identical to "
                             "pattern %zu of rule %s (%s:%u)",
                             file_of(r), r->patterns[k].line, r->name, k + 1, ok + 1, o->name,
                             file_of(o), o->patterns[ok].line);
        n++;
    }
    return n;
}

static unsigned lint_words(const dlp_rule_t *r, const dlp_rule_context_t *c, const char *what,
                           dlp_rules_errors_t *out)
{
    unsigned n = 0;

    for (size_t k = 0; k < c->nwords; k++) {
        const char *w = dlp_rulescmd__common_word(c->words[k]);
        if (w == NULL)
            continue;
        dlp_rules_errors_add(out,
                             "%s:%u: rule %s: warning: %s word '%s' is part of the "
                             "common word '%s': words are matched whole, so '%s' does "
                             "not count (a tuning hint)",
                             c->file ? c->file : file_of(r),
                             !c->file ? r->line : c->word_line ? c->word_line[k] : c->line, r->name,
                             what, c->words[k], w, w);
        n++;
    }
    return n;
}

unsigned dlp_rulescmd__lint_context(const dlp_ruleset_t *rs, size_t i, dlp_rules_errors_t *out)
{
    const dlp_rule_t *r = &rs->rules[i];

    return lint_words(r, &r->context, "context", out) +
           lint_words(r, &r->exclude, "exclude_context", out);
}

static int fire_cmp(const void *pa, const void *pb)
{
    const dlp_rulescmd_fire_t *a = pa, *b = pb;

    if (a->from != b->from)
        return a->from < b->from ? -1 : 1;
    return a->to < b->to ? -1 : a->to > b->to;
}

unsigned dlp_rulescmd__lint_overlaps(const dlp_ruleset_t *rs, dlp_rulescmd_fire_t *fires,
                                     size_t n, dlp_rules_errors_t *out)
{
    unsigned nw = 0;

    /* Sorted by (from, to), the entries b -> a with a < b come by b, then a:
     * each pair once, at its later rule, in rule order whatever order the
     * examples were run in. */
    if (n > 1)
        qsort(fires, n, sizeof(*fires), fire_cmp);
    for (size_t e = 0; e < n; e++) {
        size_t b = fires[e].from, a = fires[e].to;
        dlp_rulescmd_fire_t key = {.from = (uint32_t)a, .to = (uint32_t)b};
        const dlp_rulescmd_fire_t *back;
        const dlp_rule_t *ra, *rb;

        if (a >= b || b >= rs->n)
            continue;
        back = bsearch(&key, fires, n, sizeof(*fires), fire_cmp);
        if (back == NULL)
            continue;
        ra = &rs->rules[a];
        rb = &rs->rules[b];
        /* Linkable rules are meant to meet in one record (a CSV header names
         * several fields) and be counted together by a combination rule. */
        if (ra->category == DLP_CAT_LINKABLE && rb->category == DLP_CAT_LINKABLE)
            continue;
        dlp_rules_errors_add(out,
                             "%s:%u: rule %s: warning: overlaps rule %s (%s:%u): its "
                             "match example %u also fires %s, and match example %u "
                             "of %s fires this rule (judged from the examples only)",
                             file_of(rb), rb->line, rb->name, ra->name, file_of(ra), ra->line,
                             fires[e].example, ra->name, back->example, ra->name);
        nw++;
    }
    return nw;
}
