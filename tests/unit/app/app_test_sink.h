/*
 * app_test_sink.h - a dlp_content_sink_t for decoder tests: records every
 * stream (field, name, bytes), block, note, meta and expectation, so a test
 * can compare what one write produced with what any split produced.
 */
#ifndef APP_TEST_SINK_H
#define APP_TEST_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"

#define TS_MAX_ITEMS 256

typedef struct ts_item {
    char kind;        /* 'S' stream, 'B' block, 'N' note, 'M' meta, 'E' expect */
    int field;        /* dlp_field_t, or the note / meta key */
    char name[64];    /* stream name */
    uint8_t *data;    /* stream bytes, block or meta value (NUL-terminated copy) */
    size_t len;
    uint64_t bytes;   /* note */
    int open;         /* stream still open */
    dlp_app_expect_t expect;
} ts_item_t;

typedef struct ts_sink {
    ts_item_t item[TS_MAX_ITEMS];
    size_t n;
    int dir; /* the direction whose credentials (secret()) it gets; 0 unless set */
} ts_sink_t;

extern const dlp_content_sink_t ts_sink_ops;

void ts_reset(ts_sink_t *t);
/* Stream/block/meta i as a NUL-terminated string (for assert_string_equal). */
const char *ts_str(const ts_sink_t *t, size_t i);
/* The first item of kind/field, or -1. */
int ts_find(const ts_sink_t *t, char kind, int field, size_t from);
/* Same recorded output (kinds, fields, names, bytes, notes)? */
int ts_equal(const ts_sink_t *a, const ts_sink_t *b);
/* Prints the items (for failing tests). */
void ts_dump(const ts_sink_t *t);

/* One expected item: kind, field, name, bytes (data/len) or note bytes. */
typedef struct exp {
    char kind;
    int field;
    const char *name;
    const char *data;
    size_t len;
    uint64_t bytes;
} exp_t;

/* Fails the test (after printing both) unless t holds exactly e[0, ne), all closed. */
void ts_check_items(const ts_sink_t *t, const exp_t *e, size_t ne);

/*
 * Credentials (secret()), placed in each direction's input as the worker
 * places them in the stream (flowapp.c: exact when 'end' is in the write in
 * progress, else the widest span it can be; widened by the gaps when one lies
 * after where it would start), over the bytes and gaps the test fed, which
 * the test reports around each write. One recorder for all sinks.
 */
#define TS_SEC_MAX 8192
typedef struct ts_sec {
    uint8_t data[2][TS_SEC_MAX]; /* the input (gaps as NUL) */
    uint8_t cov[2][TS_SEC_MAX];  /* 1: placed in a credential's span */
    uint64_t pos[2];             /* bytes and gaps so far */
    uint64_t gaps[2], gap_end[2];
    int wdir;                    /* the write in progress: direction, bytes */
    const uint8_t *buf;
    size_t bufn;
    unsigned exact, wide;        /* calls placed exactly, widened */
} ts_sec_t;

extern ts_sec_t ts_sec;

void ts_sec_reset(void);
void ts_sec_write(int dir, const uint8_t *p, size_t n); /* before the decoder's write */
void ts_sec_done(void);                                 /* after it */
void ts_sec_gap(int dir, uint64_t len);                 /* before the decoder's gap */
/*
 * Fails unless, in direction 'dir', every occurrence of each of secrets[0, ns)
 * is covered, and (exact) no byte of a line (up to its LF) holding none of
 * them is. 'what' names the run in the message.
 */
void ts_sec_check(int dir, const char *const *secrets, size_t ns, int exact, const char *what);

#endif
