/*
 * test_match.c - the matcher: stream scans split every way, late \b,
 * gaps, block scans, compile errors, the width bound, the cache, and a
 * randomized differential test against a whole-buffer block SOM scan
 * compiled here, independently of the matcher.
 *
 * Rulesets are built by hand (only the struct is needed). Rule i sits at
 * line 10*i+1 of "t.yaml", its pattern j at line 10*i+2+j.
 */
#include "dlp_test.h"

#include <errno.h>
#include <fcntl.h>
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlp/match.h"
#include "dlp/rules.h"

/* ---- hand-built rulesets ------------------------------------------------ */

typedef struct rspec {
    const char *name;
    const char *pats[3];
    unsigned flags;
    bool disabled;
} rspec_t;

static dlp_ruleset_t *rs_new(const rspec_t *sp, size_t n)
{
    dlp_ruleset_t *rs = calloc(1, sizeof(*rs));

    assert_non_null(rs);
    rs->rules = calloc(n ? n : 1, sizeof(*rs->rules));
    assert_non_null(rs->rules);
    rs->n = n;
    for (size_t i = 0; i < n; i++) {
        dlp_rule_t *r = &rs->rules[i];
        size_t np = 0;
        while (np < 3 && sp[i].pats[np] != NULL)
            np++;
        r->id = (uint32_t)(1000 + i);
        r->name = strdup(sp[i].name);
        r->patterns = calloc(np ? np : 1, sizeof(*r->patterns));
        assert_non_null(r->patterns);
        for (size_t j = 0; j < np; j++) {
            r->patterns[j].expr = strdup(sp[i].pats[j]);
            r->patterns[j].line = (unsigned)(10 * i + 2 + j);
        }
        r->npatterns = np;
        r->flags = sp[i].flags;
        r->enabled = !sp[i].disabled;
        r->threshold = 1;
        r->file = "t.yaml";
        r->line = (unsigned)(10 * i + 1);
    }
    return rs;
}

static void rs_free(dlp_ruleset_t *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        for (size_t j = 0; j < rs->rules[i].npatterns; j++)
            free(rs->rules[i].patterns[j].expr);
        free(rs->rules[i].patterns);
        free(rs->rules[i].name);
    }
    free(rs->rules);
    free(rs);
}

/* The main set: 10 enabled patterns in 9 enabled rules. */
enum { R_CARD, R_SSN, R_EMAIL, R_AWS, R_CONF, R_MULTI, R_OFF, R_DATE, R_TOKEN, R_PRIV, R__N };

static const rspec_t MAIN_SET[R__N] = {
    [R_CARD] = {"card", {"\\b4[0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}\\b"}, 0, false},
    [R_SSN] = {"ssn", {"\\b[0-9]{3}-[0-9]{2}-[0-9]{4}\\b"}, 0, false},
    [R_EMAIL] = {"email",
                 {"[A-Za-z0-9._%+-]@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,4}"
                  "\\.[A-Za-z]{2,24}\\b"},
                 0,
                 false},
    [R_AWS] = {"aws", {"\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b"}, 0, false},
    [R_CONF] = {"conf", {"\\bconfidential\\b"}, DLP_RULE_F_CASELESS, false},
    [R_MULTI] = {"multi", {"secret[0-9]{2}", "SECRET[0-9]{2}"}, DLP_RULE_F_CASELESS, false},
    [R_OFF] = {"off", {"Card"}, 0, true},
    [R_DATE] = {"date",
                {"\\b(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])\\b"},
                0,
                false},
    [R_TOKEN] = {"token", {"^token=[a-z]{4}$"}, DLP_RULE_F_MULTILINE, false},
    [R_PRIV] = {"priv", {"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----"}, 0, false},
};

static const char TEXT1[] = "Card: 4111 1111 1111 1111, ssn 078-05-1120; mail bob@example.com "
                            "key AKIAIOSFODNN7EXAMPLE CONFIDENTIAL secret12 date 2023-01-31\n"
                            "token=abcd\n-----BEGIN RSA PRIVATE KEY-----";

/* ---- collecting matches ------------------------------------------------- */

typedef struct hit {
    uint32_t rule;
    uint64_t start, end;
} hit_t;

typedef struct hitlog {
    hit_t *h;
    size_t n, cap;
    const uint8_t *ref; /* the stream's bytes from offset ref_off, to check windows */
    size_t ref_len;
    uint64_t ref_off;
    size_t bad;       /* windows that break the contract */
    size_t lookahead; /* windows holding the byte after the match */
    size_t wsum;      /* the windows' lengths, added up */
    uint8_t last_win[DLP_MATCH_TAIL + DLP_MATCH_AFTER];
    size_t last_wl, last_start, last_end;
} hitlog_t;

static void check_window(hitlog_t *l, const uint8_t *win, size_t wl, size_t start, size_t end,
                         uint64_t off)
{
    uint64_t w0 = off - start, eabs = off + (end - start);
    uint64_t want_w0 = eabs > l->ref_off + DLP_MATCH_TAIL ? eabs - DLP_MATCH_TAIL : l->ref_off;

    if (w0 != want_w0 || w0 + wl > l->ref_off + l->ref_len ||
        memcmp(win, l->ref + (w0 - l->ref_off), wl) != 0)
        l->bad++;
}

static void on_hit(void *ctx, uint32_t rule, const uint8_t *win, size_t wl, size_t start,
                   size_t end, uint64_t off)
{
    hitlog_t *l = ctx;

    if (!(start < end && end <= wl && wl <= end + DLP_MATCH_AFTER && end <= DLP_MATCH_TAIL))
        l->bad++;
    if (wl > end)
        l->lookahead++;
    l->wsum += wl;
    if (l->ref != NULL)
        check_window(l, win, wl, start, end, off);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->h = realloc(l->h, l->cap * sizeof(*l->h));
        if (l->h == NULL)
            abort();
    }
    l->h[l->n++] = (hit_t){rule, off, off + (end - start)};
    memcpy(l->last_win, win, wl);
    l->last_wl = wl;
    l->last_start = start;
    l->last_end = end;
}

static int hit_cmp(const void *a, const void *b)
{
    const hit_t *x = a, *y = b;

    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static void log_sort(hitlog_t *l)
{
    qsort(l->h, l->n, sizeof(*l->h), hit_cmp);
}

static void log_reset(hitlog_t *l)
{
    l->n = 0;
    l->bad = 0;
    l->lookahead = 0;
}

static void assert_hits(hitlog_t *l, const hit_t *want, size_t n)
{
    log_sort(l);
    if (l->n != n) {
        for (size_t i = 0; i < l->n; i++)
            fprintf(stderr, "  got rule %u [%llu,%llu)\n", l->h[i].rule,
                    (unsigned long long)l->h[i].start, (unsigned long long)l->h[i].end);
    }
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(l->h[i].rule, want[i].rule);
        assert_int_equal(l->h[i].start, want[i].start);
        assert_int_equal(l->h[i].end, want[i].end);
    }
    assert_int_equal(l->bad, 0);
}

/* Both sorted; 'text' (may be NULL) is the scanned buffer, to show a difference. */
static void assert_same_hits(const hitlog_t *got, const hitlog_t *want, const uint8_t *text)
{
    assert_int_equal(got->n, want->n);
    for (size_t i = 0; i < want->n; i++) {
        const hit_t *g = &got->h[i], *w = &want->h[i];
        if (hit_cmp(g, w) == 0)
            continue;
        fprintf(stderr, "hit %zu: rule %u [%llu,%llu), want rule %u [%llu,%llu)\n", i, g->rule,
                (unsigned long long)g->start, (unsigned long long)g->end, w->rule,
                (unsigned long long)w->start, (unsigned long long)w->end);
        if (text != NULL)
            fprintf(stderr, "  around: %.*s\n", (int)(w->end - w->start + 20),
                    (const char *)text + (w->start > 10 ? w->start - 10 : 0));
        fail();
    }
}

static size_t pos(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);

    assert_non_null(p);
    return (size_t)(p - hay);
}

/* TEXT1's matches at stream offset 'base', sorted like log_sort. */
static size_t text1_hits(hit_t *h, uint64_t base)
{
    static const struct {
        uint32_t rule;
        const char *s;
    } v[] = {
        {R_CARD, "4111 1111 1111 1111"}, {R_SSN, "078-05-1120"},
        {R_EMAIL, "b@example.com"},      {R_AWS, "AKIAIOSFODNN7EXAMPLE"},
        {R_CONF, "CONFIDENTIAL"},        {R_MULTI, "secret12"},
        {R_MULTI, "secret12"},           {R_DATE, "2023-01-31"},
        {R_TOKEN, "token=abcd"},         {R_PRIV, "-----BEGIN RSA PRIVATE KEY-----"},
    };

    for (size_t i = 0; i < DLP_ARRAY_LEN(v); i++) {
        size_t p = pos(TEXT1, v[i].s);
        h[i] = (hit_t){v[i].rule, base + p, base + p + strlen(v[i].s)};
    }
    return DLP_ARRAY_LEN(v);
}

/* ---- fixture ------------------------------------------------------------- */

typedef struct fx {
    dlp_ruleset_t *rs;
    dlp_matcher_t *m;
    dlp_match_scratch_t *s;
    hitlog_t log;
} fx_t;

static fx_t *fx_new(const rspec_t *sp, size_t n, const char *cache_dir)
{
    fx_t *f = calloc(1, sizeof(*f));
    dlp_rules_errors_t err = {0};

    assert_non_null(f);
    f->rs = rs_new(sp, n);
    f->m = dlp_matcher_new(f->rs, cache_dir, &err);
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "unexpected: %s\n", err.msg[i]);
    assert_int_equal(err.n, 0);
    dlp_rules_errors_fini(&err);
    assert_non_null(f->m);
    f->s = dlp_match_scratch_new(f->m);
    assert_non_null(f->s);
    return f;
}

static void fx_free(fx_t *f)
{
    dlp_match_scratch_free(f->s);
    dlp_matcher_free(f->m);
    rs_free(f->rs);
    free(f->log.h);
    free(f);
}

/* Scans buf as writes of the given sizes (the last one takes the rest), then closes. */
static void scan_split(fx_t *f, const uint8_t *buf, size_t n, const size_t *cuts, size_t ncuts)
{
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    size_t at = 0;

    assert_non_null(st);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        assert_int_equal(dlp_match_stream_scan(st, f->s, buf + at, to - at, on_hit, &f->log),
                         DLP_OK);
        at = to;
    }
    assert_int_equal(dlp_match_stream_offset(st), n);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
}

static void use_ref(fx_t *f, const void *buf, size_t n, uint64_t off)
{
    f->log.ref = buf;
    f->log.ref_len = n;
    f->log.ref_off = off;
}

/* ---- stream scans -------------------------------------------------------- */

static void test_one_write(void **state)
{
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    hit_t want[16];
    size_t nw = text1_hits(want, 0);

    (void)state;
    assert_int_equal(dlp_matcher_info(f->m)->patterns, 10);
    use_ref(f, TEXT1, sizeof(TEXT1) - 1, 0);
    scan_split(f, (const uint8_t *)TEXT1, sizeof(TEXT1) - 1, NULL, 0);
    assert_hits(&f->log, want, nw);
    fx_free(f);
}

static void test_split_two_writes_every_offset(void **state)
{
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    const size_t n = sizeof(TEXT1) - 1;
    hit_t want[16];
    size_t nw = text1_hits(want, 0);

    (void)state;
    use_ref(f, TEXT1, n, 0);
    for (size_t k = 0; k <= n; k++) {
        log_reset(&f->log);
        scan_split(f, (const uint8_t *)TEXT1, n, &k, 1);
        assert_hits(&f->log, want, nw);
    }
    fx_free(f);
}

static void test_split_three_writes_every_offset(void **state)
{
    static const char text[] = "x 4111-1111-1111-1111 y 078-05-1120\n";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    const size_t n = sizeof(text) - 1;
    const size_t c = pos(text, "4111"), s = pos(text, "078");
    const hit_t want[] = {{R_CARD, c, c + 19}, {R_SSN, s, s + 11}};

    (void)state;
    use_ref(f, text, n, 0);
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            size_t cuts[2] = {a, b};
            log_reset(&f->log);
            scan_split(f, (const uint8_t *)text, n, cuts, 2);
            assert_hits(&f->log, want, DLP_ARRAY_LEN(want));
        }
    }
    fx_free(f);
}

/*
 * A write ending near a page boundary is scanned by Hyperscan in two calls
 * (see scan_safe in match.c). The windows must not see the cut: the same
 * bytes anywhere in memory give the same windows, or what a validator sees,
 * and when an event goes out, would depend on where a packet landed in a
 * batch (and so on the number of workers).
 */
static void test_window_same_near_page_end(void **state)
{
    enum { PAGE = 4096, N = 240 };
    uint8_t *mem = aligned_alloc(PAGE, 3 * PAGE);
    uint8_t text[N];
    const char *mail = "bob@example.com";
    size_t wl_far, wsum_far, n_far;
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);

    (void)state;
    assert_non_null(mem);
    memset(text, ' ', N);
    memcpy(text + 100, mail, strlen(mail)); /* ends 125 bytes before the write's end */
    _Static_assert(DLP_MATCH_TAIL >= 115 && DLP_MATCH_AFTER >= 125, "one window holds all of it");
    memcpy(mem + 300, text, N);             /* far from a page end */
    scan_split(f, mem + 300, N, NULL, 0);
    n_far = f->log.n;
    wl_far = f->log.last_wl;
    wsum_far = f->log.wsum;
    assert_int_equal(n_far, 1);
    assert_int_equal(wl_far, N); /* from the write's start (tail empty) to its end */
    for (size_t before = 0; before < 64; before += 7) {
        uint8_t *p = mem + 2 * PAGE - N - before; /* ends 'before' bytes before a page */
        memcpy(p, text, N);
        log_reset(&f->log);
        f->log.wsum = 0;
        scan_split(f, p, N, NULL, 0);
        assert_int_equal(f->log.n, n_far);
        assert_int_equal(f->log.last_wl, wl_far);
        assert_int_equal(f->log.wsum, wsum_far);
    }
    fx_free(f);
    free(mem);
}

static void test_one_byte_writes(void **state)
{
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    const size_t n = sizeof(TEXT1) - 1;
    size_t cuts[sizeof(TEXT1)];
    hit_t want[16];
    size_t nw = text1_hits(want, 0);

    (void)state;
    for (size_t i = 0; i + 1 < n; i++)
        cuts[i] = i + 1;
    use_ref(f, TEXT1, n, 0);
    scan_split(f, (const uint8_t *)TEXT1, n, cuts, n - 1);
    assert_hits(&f->log, want, nw);
    fx_free(f);
}

/* A \b at the very end of a write is decided by the next write's first byte. */
static void test_late_word_boundary_next_write(void **state)
{
    static const char a[] = "pay 4111111111111111", b[] = " now";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    const hit_t want[] = {{R_CARD, 4, 20}};

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 0);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(b), on_hit, &f->log), DLP_OK);
    assert_hits(&f->log, want, 1);
    /* the window is the 20 bytes so far plus the bytes of the write that decided it */
    assert_int_equal(f->log.last_wl, 24);
    assert_int_equal(f->log.last_start, 4);
    assert_int_equal(f->log.last_end, 20);
    assert_memory_equal(f->log.last_win, "pay 4111111111111111 now", 24);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_int_equal(f->log.n, 1);
    fx_free(f);
}

static void test_late_word_boundary_by_close(void **state)
{
    static const char a[] = "pay 4111111111111111";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    const hit_t want[] = {{R_CARD, 4, 20}};

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 0);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_hits(&f->log, want, 1);
    assert_int_equal(f->log.last_wl, 20);
    assert_memory_equal(f->log.last_win, a, 20);
    fx_free(f);
}

/* A following digit is not a boundary: nothing, whichever write brings it. */
static void test_late_word_boundary_refuted(void **state)
{
    static const char a[] = "pay 4111111111111111", b[] = "2 now";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(b), on_hit, &f->log), DLP_OK);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_int_equal(f->log.n, 0);
    fx_free(f);
}

/* A settle delivers the match waiting for its \b now, once; the stream goes on. */
static void test_settle_delivers_pending_once(void **state)
{
    static const char a[] = "pay 4111111111111111", b[] = " now", c[] = " and 4000 0000 0000 0002 ok";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    const hit_t want[] = {{R_CARD, 4, 20}, {R_CARD, 29, 48}};

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 0);
    assert_int_equal(dlp_match_stream_settle(st, f->s, on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 1);
    assert_int_equal(f->log.last_wl, 20);
    assert_int_equal(dlp_match_stream_settle(st, f->s, on_hit, &f->log), DLP_OK); /* no news */
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(b), on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 1); /* " now" confirms it: not delivered twice */
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(c), on_hit, &f->log), DLP_OK);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_hits(&f->log, want, 2);
    fx_free(f);
}

/* A value that spans a settle is found as if there had been none. */
static void test_settle_value_spans_it(void **state)
{
    static const char a[] = "pay 4111 1111 ", b[] = "1111 1111 now";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    const hit_t want[] = {{R_CARD, 4, 23}};

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_settle(st, f->s, on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 0);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(b), on_hit, &f->log), DLP_OK);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_hits(&f->log, want, 1);
    fx_free(f);
}

/*
 * A match whose trailing assertion fails at the end of data but holds with the
 * next byte (a \B after a word character, a \b after a space) is not
 * delivered by a settle, so the byte that confirms it later must deliver it.
 * (The settle reports "word", whose \b holds at the end of data and not
 * before the X: a value cut by the settle is reported as it stood.)
 */
static void test_settle_keeps_what_it_did_not_deliver(void **state)
{
    static const char a[] = "ref ab1234", b[] = "X and key: ", c[] = "z";
    const rspec_t set[] = {{"ref", {"ab[0-9]{4}\\B"}, 0, false},
                           {"word", {"ab[0-9]{4}\\b"}, 0, false},
                           {"key", {"key: \\b"}, 0, false}};
    const hit_t want[] = {{0, 4, 10}, {1, 4, 10}, {2, 16, 21}};
    fx_t *f = fx_new(set, DLP_ARRAY_LEN(set), NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_settle(st, f->s, on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(b), on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_settle(st, f->s, on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(c), on_hit, &f->log), DLP_OK);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_hits(&f->log, want, DLP_ARRAY_LEN(want));
    fx_free(f);
}

static void test_gap(void **state)
{
    static const char a[] = "pay 4111 1111 ", b[] = "1111 1111 and 4000 0000 0000 0002 ok";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    const uint64_t boff = sizeof(a) - 1 + 7;
    const hit_t want[] = {{R_CARD, boff + 14, boff + 14 + 19}};

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_gap(st, f->s, 7, on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_offset(st), boff);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(b), on_hit, &f->log), DLP_OK);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    /* "4111 1111 | 1111 1111" across the gap is not a card; the one after is, at its offset */
    assert_hits(&f->log, want, 1);
    assert_int_equal(f->log.last_start, 14);
    assert_memory_equal(f->log.last_win, b, f->log.last_end);
    fx_free(f);
}

/* A match waiting for its \b is delivered by the gap, with no byte after it. */
static void test_gap_delivers_pending(void **state)
{
    static const char a[] = "pay 4111111111111111";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    const hit_t want[] = {{R_CARD, 4, 20}};

    (void)state;
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 0);
    assert_int_equal(dlp_match_stream_gap(st, f->s, 100, on_hit, &f->log), DLP_OK);
    assert_hits(&f->log, want, 1);
    assert_int_equal(f->log.last_wl, 20);
    assert_int_equal(dlp_match_stream_offset(st), 120);
    /* the stream restarted: ^ anchors again at its new start */
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES("token=wxyz"), on_hit, &f->log),
                     DLP_OK);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_int_equal(f->log.n, 2);
    assert_int_equal(f->log.h[1].rule, R_TOKEN);
    assert_int_equal(f->log.h[1].start, 120);
    assert_int_equal(f->log.h[1].end, 130);
    fx_free(f);
}

/*
 * Hyperscan fails on a stream call made while the scratch is busy (inside a
 * block scan's callback): the only way a test can make it fail. op says
 * which call on_hit_reenter makes.
 */
enum { RE_SCAN, RE_GAP, RE_CLOSE };

typedef struct reenter {
    fx_t *f;
    dlp_match_stream_t *st;
    dlp_rc_t rc;
    int calls, op;
} reenter_t;

static void on_hit_reenter(void *ctx, uint32_t rule, const uint8_t *win, size_t wl, size_t start,
                           size_t end, uint64_t off)
{
    reenter_t *r = ctx;

    (void)rule, (void)win, (void)wl, (void)start, (void)end, (void)off;
    r->calls++;
    switch (r->op) {
    case RE_SCAN:
        r->rc = dlp_match_stream_scan(r->st, r->f->s, DLP_STR_BYTES("zzzzzzz"), on_hit, &r->f->log);
        break;
    case RE_GAP:
        r->rc = dlp_match_stream_gap(r->st, r->f->s, 7, on_hit, &r->f->log);
        break;
    default:
        dlp_match_stream_close(r->st, r->f->s, on_hit, &r->f->log);
        r->st = NULL;
        break;
    }
}

/*
 * 7 bytes lost by a failed scan or gap (op) in the middle of a card number:
 * the stream moves past them and restarts, so the bytes before and after
 * never make a match together and later offsets stay right.
 */
static void check_lost_like_a_gap(int op)
{
    static const char a[] = "pay 4111 1111 ", b[] = "1111 1111 and 4000 0000 0000 0002 ok";
    static const char key[] = "key AKIAIOSFODNN7EXAMPLE ok";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    reenter_t r = {.f = f, .st = dlp_match_stream_open(f->m), .op = op};
    const uint64_t boff = sizeof(a) - 1 + 7;
    const hit_t want[] = {{R_CARD, boff + 14, boff + 14 + 19}};

    assert_non_null(r.st);
    assert_int_equal(dlp_match_stream_scan(r.st, f->s, DLP_STR_BYTES(a), on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_block(f->m, f->s, DLP_STR_BYTES(key), 0, on_hit_reenter, &r),
                     DLP_OK);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.rc, DLP_EIO);
    assert_int_equal(dlp_match_stream_offset(r.st), boff);
    assert_int_equal(dlp_match_stream_scan(r.st, f->s, DLP_STR_BYTES(b), on_hit, &f->log), DLP_OK);
    dlp_match_stream_close(r.st, f->s, on_hit, &f->log);
    /* "4111 1111 | 1111 1111" around the lost bytes is not a card */
    assert_hits(&f->log, want, 1);
    assert_int_equal(f->log.last_start, 14);
    assert_memory_equal(f->log.last_win, b, f->log.last_end);
    fx_free(f);
}

static void test_scan_error_is_a_gap(void **state)
{
    (void)state;
    check_lost_like_a_gap(RE_SCAN);
}

/* A gap Hyperscan fails on still restarts the stream. */
static void test_gap_error_restarts(void **state)
{
    (void)state;
    check_lost_like_a_gap(RE_GAP);
}

/* A close Hyperscan fails on (its scratch busy) still frees the stream. */
static size_t g_streams_live;

static void *count_stream_alloc(size_t n)
{
    g_streams_live++;
    return malloc(n);
}

static void count_stream_free(void *p)
{
    if (p != NULL)
        g_streams_live--;
    free(p);
}

static void test_close_error_frees(void **state)
{
    static const char key[] = "key AKIAIOSFODNN7EXAMPLE ok";
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    reenter_t r = {.f = f, .op = RE_CLOSE};

    (void)state;
    assert_int_equal(hs_set_stream_allocator(count_stream_alloc, count_stream_free), HS_SUCCESS);
    g_streams_live = 0;
    r.st = dlp_match_stream_open(f->m);
    assert_non_null(r.st);
    assert_int_equal(
        dlp_match_stream_scan(r.st, f->s, DLP_STR_BYTES("pay 4111111111111111"), on_hit, &f->log),
        DLP_OK);
    assert_int_equal(dlp_match_block(f->m, f->s, DLP_STR_BYTES(key), 0, on_hit_reenter, &r), DLP_OK);
    assert_int_equal(r.calls, 1);
    assert_null(r.st);
    assert_int_equal(g_streams_live, 0);
    assert_int_equal(hs_set_stream_allocator(NULL, NULL), HS_SUCCESS);
    fx_free(f);
}

static void test_stream_mem_and_close_null(void **state)
{
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);
    const dlp_matcher_info_t *info = dlp_matcher_info(f->m);

    (void)state;
    assert_non_null(st);
    assert_true(info->stream_bytes > 0);
    assert_true(dlp_match_stream_mem(st) > info->stream_bytes + DLP_MATCH_KEEP);
    assert_true(dlp_match_stream_mem(st) < info->stream_bytes + DLP_MATCH_KEEP + 128);
    assert_int_equal(
        dlp_match_stream_scan(st, f->s, DLP_STR_BYTES("pay 4111111111111111"), on_hit, &f->log),
        DLP_OK);
    /* closing without a callback drops the pending match */
    dlp_match_stream_close(st, f->s, NULL, NULL);
    dlp_match_stream_close(NULL, f->s, on_hit, &f->log);
    assert_int_equal(f->log.n, 0);
    fx_free(f);
}

/* ---- the width bound (DLP_MATCH_MAX_WIDTH) ------------------------------- */

static char *wide_literal(size_t width)
{
    char *s = malloc(width + 1);

    assert_non_null(s);
    memset(s, 'w', width);
    s[0] = 'W';
    s[width - 1] = 'Z';
    s[width] = '\0';
    return s;
}

static void test_width_bound_accepted(void **state)
{
    char *lit = wide_literal(DLP_MATCH_MAX_WIDTH);
    const rspec_t set[] = {{"wide", {lit}, 0, false}};
    fx_t *f = fx_new(set, 1, NULL);
    const size_t pre = 600, n = pre + DLP_MATCH_MAX_WIDTH + 5;
    uint8_t *buf = malloc(n);
    const hit_t want[] = {{0, pre, pre + DLP_MATCH_MAX_WIDTH}};
    const size_t cuts[] = {
        0, 1, pre, pre + 1, pre + 300, pre + DLP_MATCH_MAX_WIDTH - 1, pre + DLP_MATCH_MAX_WIDTH};

    (void)state;
    assert_non_null(buf);
    memset(buf, 'w', n);
    memcpy(buf + pre, lit, DLP_MATCH_MAX_WIDTH);
    use_ref(f, buf, n, 0);
    for (size_t i = 0; i < DLP_ARRAY_LEN(cuts); i++) {
        log_reset(&f->log);
        scan_split(f, buf, n, &cuts[i], 1);
        assert_hits(&f->log, want, 1);
        /* the full tail before the end: the match starts at the window's second byte */
        assert_int_equal(f->log.last_start, 1);
        assert_int_equal(f->log.last_end, DLP_MATCH_TAIL);
    }
    log_reset(&f->log);
    assert_int_equal(dlp_match_block(f->m, f->s, buf, n, 0, on_hit, &f->log), DLP_OK);
    assert_hits(&f->log, want, 1);
    assert_int_equal(f->log.last_start, 1);
    free(buf);
    fx_free(f);
    free(lit);
}

/*
 * The re-scan window is one byte longer than the widest match: its first
 * byte is context. Here a window of exactly max_width (5) bytes would start
 * at "qab x" and see a false \b before 'q'; the real leftmost start is
 * the space.
 */
static void test_window_first_byte_is_context(void **state)
{
    static const char text[] = "12zqab x.";
    const rspec_t set[] = {{"ctx", {"\\b[a-z ]{0,4}x"}, 0, false}};
    fx_t *f = fx_new(set, 1, NULL);
    const size_t n = sizeof(text) - 1, p = pos(text, " x");
    const hit_t want[] = {{0, p, p + 2}};

    (void)state;
    use_ref(f, text, n, 0);
    for (size_t k = 0; k <= n; k++) {
        log_reset(&f->log);
        scan_split(f, (const uint8_t *)text, n, &k, 1);
        assert_hits(&f->log, want, 1);
    }
    log_reset(&f->log);
    assert_int_equal(dlp_match_block(f->m, f->s, DLP_STR_BYTES(text), 0, on_hit, &f->log),
                     DLP_OK);
    assert_hits(&f->log, want, 1);
    fx_free(f);
}

static void expect_errors(const rspec_t *set, size_t n, const char *const *want, size_t nwant)
{
    dlp_ruleset_t *rs = rs_new(set, n);
    dlp_rules_errors_t err = {0};
    dlp_matcher_t *m = dlp_matcher_new(rs, NULL, &err);

    assert_null(m);
    for (size_t i = 0; i < err.n; i++)
        fprintf(stderr, "  error: %s\n", err.msg[i]);
    assert_int_equal(err.n, nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_string_equal(err.msg[i], want[i]);
    dlp_rules_errors_fini(&err);
    rs_free(rs);
}

static void test_width_bound_rejected(void **state)
{
    char *lit = wide_literal(DLP_MATCH_MAX_WIDTH + 1);
    const rspec_t set[] = {{"ok", {"abc"}, 0, false},
                           {"wide", {"x", lit}, 0, false},
                           {"wider", {"[a-z]{600}"}, 0, false}};
    const char *want[] = {
        "t.yaml:13: rule wide: pattern 2: can match 512 bytes, more than 511: bound the "
        "repeats to fewer bytes",
        "t.yaml:22: rule wider: pattern 1: can match 600 bytes, more than 511: bound the "
        "repeats to fewer bytes",
    };

    (void)state;
    expect_errors(set, DLP_ARRAY_LEN(set), want, DLP_ARRAY_LEN(want));
    free(lit);
}

/* ---- compile errors ------------------------------------------------------ */

static void test_compile_errors_every_one(void **state)
{
    const rspec_t set[] = {{"good", {"abc"}, 0, false},
                           {"bad1", {"ok1", "a("}, 0, false},
                           {"bad2", {"(?<=x)y"}, 0, false}};
    const char *want[] = {
        "t.yaml:13: rule bad1: pattern 2: Missing close parenthesis for group started at "
        "index 1.",
        "t.yaml:22: rule bad2: pattern 1: Zero-width assertions are not supported.",
    };

    (void)state;
    expect_errors(set, DLP_ARRAY_LEN(set), want, DLP_ARRAY_LEN(want));
}

static void test_empty_match_rejected(void **state)
{
    const rspec_t set[] = {{"good", {"abc"}, 0, false}, {"empty", {"abc", "x*"}, 0, false}};
    const char *want[] = {"t.yaml:13: rule empty: pattern 2: can match the empty string"};

    (void)state;
    expect_errors(set, DLP_ARRAY_LEN(set), want, 1);
}

static void test_unbounded_rejected(void **state)
{
    const rspec_t set[] = {{"unb", {"ab+c"}, 0, false}};
    const char *want[] = {
        "t.yaml:2: rule unb: pattern 1: unbounded repeat: a match's start is recovered from "
        "the last 511 bytes only; bound the repeat (e.g. {1,64} instead of + or *)"};

    (void)state;
    expect_errors(set, 1, want, 1);
}

/* Patterns Hyperscan cannot compile with start-of-match: each one named. */
static void test_som_failures_every_one(void **state)
{
    const rspec_t set[] = {
        {"email",
         {"\\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,4}"
          "\\.[A-Za-z]{2,24}\\b"},
         0,
         false},
        {"fine", {"abc"}, 0, false},
        {"jwt",
         {"\\beyJ[A-Za-z0-9_-]{10,200}\\.eyJ[A-Za-z0-9_-]{10,200}\\.[A-Za-z0-9_-]{10,100}"},
         0,
         false}};
    const char *hint = " (when compiled to report where matches start; anchor the pattern on a "
                       "literal and let the validator widen the match)";
    char w0[512], w1[512];
    const char *want[] = {w0, w1};

    (void)state;
    snprintf(w0, sizeof(w0), "t.yaml:2: rule email: pattern 1: Pattern is too large.%s", hint);
    snprintf(w1, sizeof(w1), "t.yaml:22: rule jwt: pattern 1: Pattern is too large.%s", hint);
    expect_errors(set, DLP_ARRAY_LEN(set), want, 2);
}

static void test_ucp_rejected(void **state)
{
    const rspec_t set[] = {{"u", {"\\w{4}"}, DLP_RULE_F_UCP, false},
                           {"v", {"abc"}, DLP_RULE_F_UCP, true},
                           {"w", {"a{2,1}"}, 0, false}};
    const char *want[] = {"t.yaml:1: rule u: flag ucp is not supported: it needs UTF-8 mode, "
                          "which is undefined on binary traffic; write non-ASCII text as bytes",
                          "t.yaml:22: rule w: pattern 1: Invalid repeat at index 1."};

    (void)state;
    expect_errors(set, DLP_ARRAY_LEN(set), want, 2);
}

static void test_null_errors_list(void **state)
{
    const rspec_t set[] = {{"bad", {"a("}, 0, false}};
    dlp_ruleset_t *rs = rs_new(set, 1);

    (void)state;
    assert_null(dlp_matcher_new(rs, NULL, NULL));
    rs_free(rs);
}

/* ---- rule selection ------------------------------------------------------ */

static void test_zero_enabled_rules(void **state)
{
    const rspec_t set[] = {{"a", {"abc"}, 0, true}, {"b", {"(("}, 0, true}};
    fx_t *f = fx_new(set, DLP_ARRAY_LEN(set), NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);

    (void)state;
    assert_int_equal(dlp_matcher_info(f->m)->patterns, 0);
    assert_non_null(st);
    assert_int_equal(dlp_match_stream_scan(st, f->s, DLP_STR_BYTES("abc abc"), on_hit, &f->log),
                     DLP_OK);
    assert_int_equal(dlp_match_stream_gap(st, f->s, 3, on_hit, &f->log), DLP_OK);
    assert_int_equal(dlp_match_stream_offset(st), 10);
    assert_true(dlp_match_stream_mem(st) > 0);
    dlp_match_stream_close(st, f->s, on_hit, &f->log);
    assert_int_equal(dlp_match_block(f->m, f->s, DLP_STR_BYTES("abc"), 0, on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 0);
    fx_free(f);
}

static void test_empty_ruleset(void **state)
{
    fx_t *f = fx_new(NULL, 0, "/nonexistent/never-created");

    (void)state;
    assert_int_equal(dlp_matcher_info(f->m)->patterns, 0);
    assert_int_equal(dlp_match_block(f->m, f->s, DLP_STR_BYTES("abc"), 0, on_hit, &f->log), DLP_OK);
    assert_int_equal(f->log.n, 0);
    fx_free(f);
}

/* Disabled rules are not compiled (a bad pattern there is no error) and keep their index. */
static void test_disabled_not_compiled(void **state)
{
    const rspec_t set[] = {{"off", {"a(", "abc"}, 0, true}, {"on", {"abc"}, 0, false}};
    fx_t *f = fx_new(set, DLP_ARRAY_LEN(set), NULL);
    const hit_t want[] = {{1, 2, 5}};

    (void)state;
    assert_int_equal(dlp_matcher_info(f->m)->patterns, 1);
    scan_split(f, DLP_STR_BYTES("x abc"), NULL, 0);
    assert_hits(&f->log, want, 1);
    fx_free(f);
}

/* ---- block scans --------------------------------------------------------- */

static void test_block(void **state)
{
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    hit_t want[16];
    size_t nw = text1_hits(want, 1000);

    (void)state;
    use_ref(f, TEXT1, sizeof(TEXT1) - 1, 1000);
    assert_int_equal(dlp_match_block(f->m, f->s, (const uint8_t *)TEXT1, sizeof(TEXT1) - 1, 1000,
                                     on_hit, &f->log),
                     DLP_OK);
    assert_hits(&f->log, want, nw);
    fx_free(f);
}

static void test_block_window(void **state)
{
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    uint8_t buf[700];
    const hit_t want[] = {{R_SSN, 5 + 0, 5 + 11}, {R_CARD, 5 + 640, 5 + 656}};

    (void)state;
    memset(buf, '.', sizeof(buf));
    memcpy(buf, "078-05-1120", 11);
    memcpy(buf + 640, "4111111111111111", 16);
    use_ref(f, buf, sizeof(buf), 5);
    assert_int_equal(dlp_match_block(f->m, f->s, buf, sizeof(buf), 5, on_hit, &f->log), DLP_OK);
    assert_hits(&f->log, want, 2);
    /* the card was reported last: its window is TAIL bytes up to its end, plus the 44
     * bytes after it (fewer than DLP_MATCH_AFTER are left in the buffer) */
#if !defined(DLP_MATCH_CHUNK) || DLP_MATCH_CHUNK > 700
    assert_int_equal(f->log.last_wl, DLP_MATCH_TAIL + sizeof(buf) - 656);
#else
    /* chunked: only the bytes of the chunk that decided the match follow it */
    assert_in_range(f->log.last_wl, DLP_MATCH_TAIL + 1, DLP_MATCH_TAIL + sizeof(buf) - 656);
#endif
    assert_int_equal(f->log.last_start, DLP_MATCH_TAIL - 16);
    assert_int_equal(dlp_match_block(f->m, f->s, buf, 0, 0, on_hit, &f->log), DLP_OK);
    fx_free(f);
}

static void test_bad_arguments(void **state)
{
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    fx_t *g = fx_new(MAIN_SET, R__N, NULL);
    dlp_match_stream_t *st = dlp_match_stream_open(f->m);

    (void)state;
    assert_int_equal(dlp_match_stream_scan(st, g->s, DLP_STR_BYTES("x"), on_hit, &f->log),
                     DLP_EINVAL);
    assert_int_equal(dlp_match_stream_scan(st, NULL, DLP_STR_BYTES("x"), on_hit, &f->log),
                     DLP_EINVAL);
    assert_int_equal(dlp_match_block(f->m, g->s, DLP_STR_BYTES("x"), 0, on_hit, &f->log),
                     DLP_EINVAL);
    dlp_match_stream_close(st, g->s, on_hit, &f->log);
    fx_free(f);
    fx_free(g);
}

/* ---- cache --------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static size_t count_files(const char *dir, char *one, size_t cap)
{
    char cmd[600];
    FILE *p;
    size_t n = 0;

    snprintf(cmd, sizeof(cmd), "ls -1 '%s'", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(one, (int)cap, p) != NULL)
        n++;
    pclose(p);
    one[strcspn(one, "\n")] = '\0';
    return n;
}

/* Matches of TEXT1, stream (two writes) and block, for comparing matchers. */
static void sample_hits(fx_t *f)
{
    size_t cut = 40;

    log_reset(&f->log);
    scan_split(f, (const uint8_t *)TEXT1, sizeof(TEXT1) - 1, &cut, 1);
    assert_int_equal(
        dlp_match_block(f->m, f->s, (const uint8_t *)TEXT1, sizeof(TEXT1) - 1, 0, on_hit, &f->log),
        DLP_OK);
    log_sort(&f->log);
}

static void corrupt_file(const char *path, long at, bool truncate_it)
{
    int fd = open(path, O_RDWR);
    uint8_t c;

    assert_true(fd >= 0);
    if (truncate_it) {
        assert_int_equal(ftruncate(fd, at), 0);
    } else {
        assert_int_equal(pread(fd, &c, 1, at), 1);
        c ^= 0x5a;
        assert_int_equal(pwrite(fd, &c, 1, at), 1);
    }
    close(fd);
}

static const char *cache_file(const char *dir, char *file, size_t cap)
{
    char name[300];

    assert_int_equal(count_files(dir, name, sizeof(name)), 1);
    assert_int_equal(strlen(name), 64 + 5);
    assert_string_equal(name + 64, ".hsdb");
    snprintf(file, cap, "%s/%s", dir, name);
    return file;
}

static void rm_rf(const char *path)
{
    char cmd[400];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void test_cache(void **state)
{
    char root[] = "/tmp/dlp-match-cacheXXXXXX", dir[300], file[600];
    const dlp_matcher_info_t *ia, *ib;
    fx_t *a, *b;
    struct stat sb;
    double t0;

    (void)state;
    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof(dir), "%s/cache", root);
    t0 = now_ms();
    a = fx_new(MAIN_SET, R__N, dir);
    ia = dlp_matcher_info(a->m);
    printf("match: %u patterns: dlp_matcher_new compiling %.1f ms (compile_ms %.1f), "
           "db %zu B, stream state %zu B, scratch %zu B\n",
           ia->patterns, now_ms() - t0, ia->compile_ms, ia->db_bytes, ia->stream_bytes,
           ia->scratch_bytes);
    assert_int_equal(ia->from_cache, 0);
    assert_int_equal(ia->cache_saved, 1);
    assert_true(ia->compile_ms > 0);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_equal(stat(cache_file(dir, file, sizeof(file)), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    t0 = now_ms();
    b = fx_new(MAIN_SET, R__N, dir);
    ib = dlp_matcher_info(b->m);
    printf("match: dlp_matcher_new from the cache %.3f ms (load_ms %.3f)\n", now_ms() - t0,
           ib->load_ms);
    assert_int_equal(ib->from_cache, 1);
    assert_int_equal(ib->cache_saved, 0);
    assert_true(ib->compile_ms == 0.0);
    assert_true(ib->load_ms > 0.0);
    assert_int_equal(ib->db_bytes, ia->db_bytes);
    assert_int_equal(ib->scratch_bytes, ia->scratch_bytes);
    assert_int_equal(ib->patterns, ia->patterns);
    sample_hits(a);
    sample_hits(b);
    assert_int_equal(a->log.n, 20);
    assert_same_hits(&b->log, &a->log, NULL);
    fx_free(a);
    fx_free(b);
    rm_rf(root);
}

/*
 * With -u the cache directory is the sensor user's, and the next start as root
 * reads it: a FIFO (would hang the start), a link, or a file of another user's
 * in place of the cache file is not loaded; the rules compile anew.
 */
static void test_cache_only_own_regular_files(void **state)
{
    char root[] = "/tmp/dlp-match-cacheXXXXXX", file[600], moved[700];
    fx_t *f;

    (void)state;
    assert_non_null(mkdtemp(root));
    fx_free(fx_new(MAIN_SET, R__N, root));
    cache_file(root, file, sizeof(file));
    snprintf(moved, sizeof(moved), "%s.saved", file);
    assert_int_equal(rename(file, moved), 0);
    assert_int_equal(mkfifo(file, 0600), 0);
    f = fx_new(MAIN_SET, R__N, root);
    assert_int_equal(dlp_matcher_info(f->m)->from_cache, 0);
    fx_free(f);
    assert_int_equal(unlink(file), 0);
    assert_int_equal(symlink(moved, file), 0);
    f = fx_new(MAIN_SET, R__N, root);
    assert_int_equal(dlp_matcher_info(f->m)->from_cache, 0);
    fx_free(f);
    if (geteuid() == 0) {
        assert_int_equal(unlink(file), 0);
        assert_int_equal(rename(moved, file), 0);
        assert_int_equal(chown(file, 65534, 65534), 0);
        f = fx_new(MAIN_SET, R__N, root);
        assert_int_equal(dlp_matcher_info(f->m)->from_cache, 0);
        fx_free(f);
        f = fx_new(MAIN_SET, R__N, root); /* rewritten as ours by the compile */
        assert_int_equal(dlp_matcher_info(f->m)->from_cache, 1);
        fx_free(f);
    }
    rm_rf(root);
}

/* A byte flipped, then the file cut short: each time recompiled and rewritten. */
static void test_cache_corrupt(void **state)
{
    char root[] = "/tmp/dlp-match-cacheXXXXXX", file[600];
    fx_t *a, *c;
    struct stat sb;

    (void)state;
    assert_non_null(mkdtemp(root));
    a = fx_new(MAIN_SET, R__N, root);
    sample_hits(a);
    assert_int_equal(stat(cache_file(root, file, sizeof(file)), &sb), 0);
    corrupt_file(file, (long)(sb.st_size - 100), false);
    c = fx_new(MAIN_SET, R__N, root);
    assert_int_equal(dlp_matcher_info(c->m)->from_cache, 0);
    assert_int_equal(dlp_matcher_info(c->m)->cache_saved, 1);
    sample_hits(c);
    assert_same_hits(&c->log, &a->log, NULL);
    fx_free(c);
    corrupt_file(file, 200, true);
    c = fx_new(MAIN_SET, R__N, root);
    assert_int_equal(dlp_matcher_info(c->m)->from_cache, 0);
    assert_int_equal(dlp_matcher_info(c->m)->cache_saved, 1);
    fx_free(c);
    c = fx_new(MAIN_SET, R__N, root);
    assert_int_equal(dlp_matcher_info(c->m)->from_cache, 1);
    sample_hits(c);
    assert_same_hits(&c->log, &a->log, NULL);
    fx_free(c);
    cache_file(root, file, sizeof(file));
    fx_free(a);
    rm_rf(root);
}

/* Any change of the compile inputs is a new key: a flag, an expression. */
static void test_cache_key_inputs(void **state)
{
    char root[] = "/tmp/dlp-match-cacheXXXXXX", name[300];
    rspec_t set[R__N];
    fx_t *f;

    (void)state;
    assert_non_null(mkdtemp(root));
    memcpy(set, MAIN_SET, sizeof(set));
    f = fx_new(set, R__N, root);
    fx_free(f);
    set[R_CARD].flags = DLP_RULE_F_CASELESS;
    f = fx_new(set, R__N, root);
    assert_int_equal(dlp_matcher_info(f->m)->from_cache, 0);
    fx_free(f);
    set[R_SSN].pats[0] = "\\b[0-9]{3}-[0-9]{2}-[0-9]{3}\\b";
    f = fx_new(set, R__N, root);
    assert_int_equal(dlp_matcher_info(f->m)->from_cache, 0);
    fx_free(f);
    assert_int_equal(count_files(root, name, sizeof(name)), 3);
    f = fx_new(set, R__N, root);
    assert_int_equal(dlp_matcher_info(f->m)->from_cache, 1);
    fx_free(f);
    rm_rf(root);
}

/* Runs fn with stderr sent to a file; returns what was written (static buffer). */
static const char *capture_stderr(void (*fn)(void *), void *arg)
{
    static char out[4096];
    char path[] = "/tmp/dlp-match-stderrXXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    ssize_t n;

    assert_true(fd >= 0 && saved >= 0);
    fflush(stderr);
    assert_true(dup2(fd, 2) >= 0);
    fn(arg);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    n = pread(fd, out, sizeof(out) - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return out;
}

typedef struct unwritable {
    fx_t *f;
    const char *dir;
} unwritable_t;

static void build_unwritable(void *arg)
{
    unwritable_t *u = arg;

    u->f = fx_new(MAIN_SET, R__N, u->dir);
}

static void test_cache_unwritable(void **state)
{
    char root[] = "/tmp/dlp-match-cacheXXXXXX", file[300];
    unwritable_t u = {0};
    const char *err;
    fx_t *f;
    int fd;

    (void)state;
    assert_non_null(mkdtemp(root));
    /* a regular file where the directory should be: unwritable even for root */
    snprintf(file, sizeof(file), "%s/plainfile", root);
    fd = open(file, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    u.dir = file;
    err = capture_stderr(build_unwritable, &u);
    f = u.f;
    assert_non_null(strstr(err, "warning: matcher cache"));
    assert_non_null(strstr(err, "continuing without it"));
    assert_int_equal(dlp_matcher_info(f->m)->from_cache, 0);
    assert_int_equal(dlp_matcher_info(f->m)->cache_saved, 0);
    sample_hits(f);
    assert_int_equal(f->log.n, 20);
    fx_free(f);
    rm_rf(root);
}

/* ---- randomized differential test ----------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t append(uint8_t *buf, size_t at, size_t cap, const char *s)
{
    size_t n = strlen(s);

    if (at + n > cap)
        return at;
    memcpy(buf + at, s, n);
    return at + n;
}

static size_t gen_corpus(uint8_t *buf, size_t cap)
{
    static const char *const tok[] = {"the ",
                                      "data ",
                                      "1234 ",
                                      "42",
                                      "-",
                                      " ",
                                      "\n",
                                      "secret",
                                      "2023-",
                                      "12-",
                                      "31 ",
                                      "4111 1111 1111 1111",
                                      "4000-0000-0000-0002",
                                      "4111111111111111",
                                      "078-05-1120",
                                      "123-45-678",
                                      "bob@example.com",
                                      "x@y.co ",
                                      "@@",
                                      "AKIAIOSFODNN7EXAMPLE",
                                      "ASIA1234567890ABCDEF0",
                                      "confidential",
                                      "CONFIDENTIAL.",
                                      "Secret99",
                                      "secret1",
                                      "2020-02-29",
                                      "1999-13-01",
                                      "token=abcd\n",
                                      "\ntoken=abcde",
                                      "-----BEGIN ",
                                      "PRIVATE KEY-----",
                                      "-----BEGIN EC PRIVATE KEY-----",
                                      "4",
                                      "0",
                                      ".",
                                      "com",
                                      "Card"};
    size_t at = 0;

    while (at + 64 < cap) {
        if (rnd() % 20 == 0) {
            size_t n = 1 + rnd() % 48;
            for (size_t i = 0; i < n; i++)
                buf[at++] = (uint8_t)rnd();
        } else {
            at = append(buf, at, cap, tok[rnd() % DLP_ARRAY_LEN(tok)]);
        }
    }
    return at;
}

typedef struct oracle {
    hitlog_t *log;
    const uint32_t *rule_of;
} oracle_t;

static int on_oracle(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                     void *c)
{
    oracle_t *o = c;
    hitlog_t *l = o->log;

    (void)flags;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->h = realloc(l->h, l->cap * sizeof(*l->h));
        if (l->h == NULL)
            abort();
    }
    l->h[l->n++] = (hit_t){o->rule_of[id], from, to};
    return 0;
}

/* Whole-buffer block scan with SOM, compiled here from the rules directly. */
static void oracle_scan(const dlp_ruleset_t *rs, const uint8_t *buf, size_t n, hitlog_t *out)
{
    const char *expr[32];
    unsigned flags[32], ids[32], k = 0;
    uint32_t rule_of[32];
    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;
    hs_scratch_t *scr = NULL;
    oracle_t o = {out, rule_of};

    for (size_t i = 0; i < rs->n; i++) {
        const dlp_rule_t *r = &rs->rules[i];
        for (size_t j = 0; r->enabled && j < r->npatterns; j++, k++) {
            expr[k] = r->patterns[j].expr;
            flags[k] = HS_FLAG_DOTALL | HS_FLAG_SOM_LEFTMOST |
                       ((r->flags & DLP_RULE_F_CASELESS) ? HS_FLAG_CASELESS : 0) |
                       ((r->flags & DLP_RULE_F_MULTILINE) ? HS_FLAG_MULTILINE : 0);
            ids[k] = k;
            rule_of[k] = (uint32_t)i;
        }
    }
    assert_int_equal(hs_compile_multi(expr, flags, ids, k, HS_MODE_BLOCK, NULL, &db, &ce),
                     HS_SUCCESS);
    assert_int_equal(hs_alloc_scratch(db, &scr), HS_SUCCESS);
    assert_int_equal(hs_scan(db, (const char *)buf, (unsigned)n, 0, scr, on_oracle, &o),
                     HS_SUCCESS);
    hs_free_scratch(scr);
    hs_free_database(db);
    log_sort(out);
}

/* Random write sizes: up to 'max' bytes, a quarter of them 1-4 bytes. */
static size_t random_cuts(size_t *cuts, size_t cap, size_t n, size_t max)
{
    size_t k = 0, at = 0;

    while (k < cap) {
        size_t step = 1 + rnd() % (rnd() % 4 == 0 ? 4 : max);
        if (at + step >= n)
            break;
        at += step;
        cuts[k++] = at;
    }
    return k;
}

static size_t crossing_hits(const hitlog_t *l, const size_t *cuts, size_t ncut)
{
    size_t crossing = 0;

    for (size_t i = 0, c = 0; i < l->n; i++) {
        while (c < ncut && cuts[c] <= l->h[i].start)
            c++;
        crossing += c < ncut && cuts[c] < l->h[i].end;
    }
    return crossing;
}

static void test_differential_random(void **state)
{
    static const size_t max_write[] = {1460, 1460, 64, 8};
    const size_t cap = 256 * 1024;
    uint8_t *buf = malloc(cap);
    size_t *cuts = malloc(cap * sizeof(*cuts));
    fx_t *f = fx_new(MAIN_SET, R__N, NULL);
    hitlog_t want = {0};
    size_t n, ncut, crossing;
    double t0, ms;

    (void)state;
    assert_true(buf && cuts);
    n = gen_corpus(buf, cap);
    oracle_scan(f->rs, buf, n, &want);
    assert_true(want.n > 1000);
    use_ref(f, buf, n, 0);
    for (size_t round = 0; round < DLP_ARRAY_LEN(max_write); round++) {
        log_reset(&f->log);
        ncut = random_cuts(cuts, cap, n, max_write[round]);
        t0 = now_ms();
        scan_split(f, buf, n, cuts, ncut);
        ms = now_ms() - t0;
        log_sort(&f->log);
        assert_int_equal(f->log.bad, 0);
        assert_same_hits(&f->log, &want, buf);
        crossing = crossing_hits(&want, cuts, ncut);
        printf("match: differential: %zu bytes, %zu writes, %zu matches (%zu across a write "
               "boundary), stream scan %.1f ms\n",
               n, ncut + 1, want.n, crossing, ms);
        assert_true(crossing > 50);
    }
    log_reset(&f->log);
    assert_int_equal(dlp_match_block(f->m, f->s, buf, n, 0, on_hit, &f->log), DLP_OK);
    log_sort(&f->log);
    assert_int_equal(f->log.bad, 0);
    assert_same_hits(&f->log, &want, buf);
    free(want.h);
    free(buf);
    free(cuts);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_write),
        cmocka_unit_test(test_split_two_writes_every_offset),
        cmocka_unit_test(test_split_three_writes_every_offset),
        cmocka_unit_test(test_one_byte_writes),
        cmocka_unit_test(test_window_same_near_page_end),
        cmocka_unit_test(test_late_word_boundary_next_write),
        cmocka_unit_test(test_late_word_boundary_by_close),
        cmocka_unit_test(test_late_word_boundary_refuted),
        cmocka_unit_test(test_settle_delivers_pending_once),
        cmocka_unit_test(test_settle_value_spans_it),
        cmocka_unit_test(test_settle_keeps_what_it_did_not_deliver),
        cmocka_unit_test(test_gap),
        cmocka_unit_test(test_gap_delivers_pending),
        cmocka_unit_test(test_scan_error_is_a_gap),
        cmocka_unit_test(test_gap_error_restarts),
        cmocka_unit_test(test_close_error_frees),
        cmocka_unit_test(test_stream_mem_and_close_null),
        cmocka_unit_test(test_width_bound_accepted),
        cmocka_unit_test(test_window_first_byte_is_context),
        cmocka_unit_test(test_width_bound_rejected),
        cmocka_unit_test(test_compile_errors_every_one),
        cmocka_unit_test(test_empty_match_rejected),
        cmocka_unit_test(test_unbounded_rejected),
        cmocka_unit_test(test_som_failures_every_one),
        cmocka_unit_test(test_ucp_rejected),
        cmocka_unit_test(test_null_errors_list),
        cmocka_unit_test(test_zero_enabled_rules),
        cmocka_unit_test(test_empty_ruleset),
        cmocka_unit_test(test_disabled_not_compiled),
        cmocka_unit_test(test_block),
        cmocka_unit_test(test_block_window),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_cache_corrupt),
        cmocka_unit_test(test_cache_only_own_regular_files),
        cmocka_unit_test(test_cache_key_inputs),
        cmocka_unit_test(test_cache_unwritable),
        cmocka_unit_test(test_differential_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
