/*
 * match.h - multi-pattern matching of every enabled rule at once; the only
 * user of Hyperscan.
 *
 * Design (research/technical.md 2.2, bench/README.md "Start of match"): one
 * streaming database compiled with SOM_LEFTMOST (small horizon) reports where
 * each match starts and ends; each stream keeps a tail of its last
 * DLP_MATCH_TAIL bytes, so a match that began in an earlier write still has
 * its bytes and the context before them in one window. A block database of
 * the same patterns scans whole blocks (dlp_match_block). The caller gets the
 * window, the match span in it, and the stream offset: enough for a
 * validator to check (and widen) the value and for context words before it.
 * A value split across writes is found (the stream carries state); after a
 * gap the stream is restarted so no match spans missing bytes.
 *
 * Threads: dlp_matcher_t is immutable once built and shared by all workers;
 * each worker has its own dlp_match_scratch_t; each stream belongs to the
 * worker that owns its flow.
 */
#ifndef DLP_MATCH_H
#define DLP_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/limits.h"
#include "dlp/rc.h"
#include "dlp/rules.h"

/*
 * Widest match a pattern may have (hs_expression_info max_width): wider or
 * unbounded patterns are rejected, since the start of their matches could
 * not be recovered from the tail.
 */
#define DLP_MATCH_MAX_WIDTH (DLP_MATCH_TAIL - 1)

typedef struct dlp_matcher dlp_matcher_t;
typedef struct dlp_match_scratch dlp_match_scratch_t;
typedef struct dlp_match_stream dlp_match_stream_t;

/*
 * A match of rule rs->rules[rule]: the bytes win[start, end), with
 * win[0..start) the bytes before it (up to DLP_MATCH_TAIL in all).
 * 'off' is the stream offset of win[start]. Borrowed for the call.
 * The window goes on after the match with the bytes already known (those
 * of the current write, or of the block), up to DLP_MATCH_AFTER of them:
 * end <= win_len <= end + DLP_MATCH_AFTER; the first of them decided a
 * trailing \b or $. win_len <= DLP_MATCH_TAIL + DLP_MATCH_AFTER. Several
 * patterns of one rule may report the same span: each is delivered.
 * The callback must not call the matcher with the same scratch.
 */
typedef void (*dlp_match_cb)(void *ctx, uint32_t rule, const uint8_t *win, size_t win_len,
                             size_t start, size_t end, uint64_t off);

typedef struct dlp_matcher_info {
    double compile_ms;    /* 0 when loaded from the cache */
    double load_ms;       /* deserialising from the cache */
    int from_cache;
    int cache_saved;      /* 1 when the databases were just written to the cache */
    size_t db_bytes;      /* all databases: stream, block, one per pattern */
    size_t stream_bytes;  /* Hyperscan state per stream */
    size_t scratch_bytes; /* Hyperscan scratch per worker */
    unsigned patterns;    /* expressions compiled (patterns of enabled rules) */
} dlp_matcher_info_t;

/*
 * Compiles the enabled rules of 'rs' (borrowed; must outlive the matcher).
 * 'cache_dir' (may be NULL) holds serialized databases keyed by a SHA-256
 * of the compile inputs, hs_version() and the CPU features; a cached
 * database that fails to load is ignored and rebuilt. The directory is
 * created (0700) if missing; if it cannot be written, a warning is logged
 * and the matcher works without it. On an expression Hyperscan rejects,
 * or one that can match the empty string, is wider than
 * DLP_MATCH_MAX_WIDTH (or unbounded), or cannot report where its matches
 * start, appends "file:line: rule NAME: pattern N: reason" to 'err' (may
 * be NULL) and returns NULL (every bad expression is reported). The flag
 * ucp is refused (it needs UTF-8 mode). No enabled rule: a matcher that
 * never matches.
 */
dlp_matcher_t *dlp_matcher_new(const dlp_ruleset_t *rs, const char *cache_dir,
                               dlp_rules_errors_t *err);

/*
 * dlp_matcher_new, and each rule an error names gets bad_rule[i] = true
 * (bad_rule: rs->n entries, or NULL; nothing is cleared), so that a caller
 * can drop those rules and compile the others without compiling each rule
 * alone (`rules check`). A failure that names no rule ("does not compile
 * as a whole") marks none. The checks stop at the first stage with an
 * error, so a rule may be named only once the rules named before it are
 * dropped.
 */
dlp_matcher_t *dlp_matcher_new_blame(const dlp_ruleset_t *rs, const char *cache_dir,
                                     dlp_rules_errors_t *err, bool *bad_rule);
void dlp_matcher_free(dlp_matcher_t *m);
const dlp_matcher_info_t *dlp_matcher_info(const dlp_matcher_t *m);

/*
 * The shortest and longest match of an expression compiled with a rule's
 * flags (DLP_RULE_F_*), for the rule linter; *max_width is UINT32_MAX when
 * unbounded. DLP_EINVAL when Hyperscan rejects it (dlp_matcher_new says why).
 */
DLP_MUST_CHECK dlp_rc_t dlp_match_expr_widths(const char *expr, unsigned rule_flags,
                                              uint32_t *min_width, uint32_t *max_width);

/* One per worker thread. */
dlp_match_scratch_t *dlp_match_scratch_new(const dlp_matcher_t *m);
void dlp_match_scratch_free(dlp_match_scratch_t *s);

/* Streams: opened lazily at a direction's first byte. NULL when no memory. */
dlp_match_stream_t *dlp_match_stream_open(const dlp_matcher_t *m);

/*
 * Scans the next n bytes of the stream; matches go to cb. DLP_EINVAL if s
 * belongs to another matcher, DLP_EIO if Hyperscan fails: the n bytes then
 * count as a gap (dlp_match_stream_gap, pending matches dropped).
 */
DLP_MUST_CHECK dlp_rc_t dlp_match_stream_scan(dlp_match_stream_t *st, dlp_match_scratch_t *s,
                                              const uint8_t *p, size_t n, dlp_match_cb cb,
                                              void *ctx);

/*
 * 'len' bytes will never come: matches pending at the end of what was
 * scanned are delivered, the stream restarts empty at offset + len (also on
 * DLP_EIO, when Hyperscan failed to deliver them: they are dropped).
 */
DLP_MUST_CHECK dlp_rc_t dlp_match_stream_gap(dlp_match_stream_t *st, dlp_match_scratch_t *s,
                                             uint64_t len, dlp_match_cb cb, void *ctx);

/*
 * The stream pauses (its sender waits for an answer): the matches held back
 * for a \b or $ at the end of what was scanned are delivered now, as at the
 * end of data, and the stream goes on; what it would have delivered for them
 * later is not delivered again (up to 8 patterns ending there; a further one
 * may be), while a match whose assertion fails at the end of data but holds
 * with the next byte (\B after a word character) is delivered with that byte.
 * On DLP_ENOMEM or DLP_EIO the stream goes on as it was (Hyperscan may have
 * delivered some of them; those it did not may come later).
 */
DLP_MUST_CHECK dlp_rc_t dlp_match_stream_settle(dlp_match_stream_t *st, dlp_match_scratch_t *s,
                                                dlp_match_cb cb, void *ctx);

/*
 * Ends the stream (end-of-data matches delivered) and frees it. Accepts
 * NULL; with s or cb NULL, pending matches are dropped.
 */
void dlp_match_stream_close(dlp_match_stream_t *st, dlp_match_scratch_t *s, dlp_match_cb cb,
                            void *ctx);

uint64_t dlp_match_stream_offset(const dlp_match_stream_t *st);

/*
 * Copies the stream bytes [from, to) still kept (the last DLP_MATCH_KEEP
 * bytes scanned, since the last gap) into out, which has room for
 * DLP_MATCH_KEEP bytes. Sets *first to the offset of out[0] and returns the
 * number of bytes copied (0 when none of the range is kept).
 */
size_t dlp_match_stream_window(const dlp_match_stream_t *st, uint64_t from, uint64_t to,
                               uint8_t *out, uint64_t *first);
size_t dlp_match_stream_mem(const dlp_match_stream_t *st);

/*
 * Scans one self-contained buffer (a datagram, a decoded field, conflicting
 * retransmitted bytes). 'off' is reported as the offset of p[0].
 */
DLP_MUST_CHECK dlp_rc_t dlp_match_block(const dlp_matcher_t *m, dlp_match_scratch_t *s,
                                        const uint8_t *p, size_t n, uint64_t off,
                                        dlp_match_cb cb, void *ctx);

#endif
