/*
 * match_int.h - what the files of the match area share: the matcher's
 * layout, the compile inputs, the cache. Not a public header.
 */
#ifndef DLP_MATCH_INT_H
#define DLP_MATCH_INT_H

#include <hs/hs.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/match.h"

/*
 * Largest piece handed to one Hyperscan call (its lengths are unsigned
 * int). Tests build a copy of the area with a tiny value to exercise the
 * chunked paths.
 */
#ifndef DLP_MATCH_CHUNK
#define DLP_MATCH_CHUNK (1u << 30)
#endif

/* One Hyperscan expression; its id is its index in the table. */
typedef struct dlp_match_pat {
    uint32_t rule;      /* index into rs->rules */
    uint32_t max_width; /* hs_expression_info(); <= DLP_MATCH_MAX_WIDTH */
} dlp_match_pat_t;

/*
 * db[] holds, in this order: the stream database and the block database
 * (dlp_match_block), both reporting where matches start (SOM_LEFTMOST;
 * the stream one with the small horizon: starts up to 2^16 bytes back).
 */
#define DLP_MATCH_DB_STREAM 0
#define DLP_MATCH_DB_BLOCK 1
#define DLP_MATCH_NDB 2
#define DLP_MATCH_STREAM_MODE (HS_MODE_STREAM | HS_MODE_SOM_HORIZON_SMALL)

struct dlp_matcher {
    const dlp_ruleset_t *rs;
    hs_database_t **db;  /* ndb = DLP_MATCH_NDB entries; NULL when no patterns */
    hs_database_t *sdb;  /* db[DLP_MATCH_DB_STREAM] */
    hs_database_t *bdb;  /* db[DLP_MATCH_DB_BLOCK] */
    unsigned ndb;
    hs_scratch_t *proto;    /* prototype cloned by dlp_match_scratch_new */
    dlp_match_pat_t *pat;
    unsigned npat;
    dlp_matcher_info_t info;
};

/* The compile inputs, in id order (the cache key hashes exactly these). */
typedef struct dlp_match_input {
    const char **expr;
    unsigned *flags; /* without HS_FLAG_SOM_LEFTMOST, added for the block DB */
    unsigned *ids;
    unsigned n;
} dlp_match_input_t;

/* The SHA-256 cache key of 'in' for this Hyperscan build and this CPU. */
bool dlp_match__cache_key(const dlp_match_input_t *in, const hs_platform_info_t *plat,
                          uint8_t key[32]);

/*
 * Loads cache_dir/<hex key>.hsdb: the m->ndb databases into m->db and the
 * patterns' widths into m->pat[].max_width. false (and m->db left all
 * NULL) when the file is missing, unreadable, truncated, corrupt or for
 * another platform.
 */
bool dlp_match__cache_load(dlp_matcher_t *m, const char *cache_dir, const uint8_t key[32]);

/* Writes the file atomically (temp file, rename), mode 0600. false + a warning on failure. */
bool dlp_match__cache_save(const dlp_matcher_t *m, const char *cache_dir, const uint8_t key[32]);

#endif
