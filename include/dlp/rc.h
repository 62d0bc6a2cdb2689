/*
 * rc.h - the one set of return codes every module uses (nginx NGX_OK/AGAIN,
 * curl CURLcode). Functions that return a dlp_rc_t are DLP_MUST_CHECK.
 */
#ifndef DLP_RC_H
#define DLP_RC_H

#define DLP_MUST_CHECK __attribute__((warn_unused_result))
#define DLP_LIKELY(x) __builtin_expect(!!(x), 1)
#define DLP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DLP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define DLP_CACHELINE 64

/* DLP_TESTABLE marks file-local functions unit tests reach (curl's UNITTEST). */
#ifdef DLP_UNIT_TEST
#define DLP_TESTABLE
#else
#define DLP_TESTABLE static
#endif

typedef enum {
    DLP_OK = 0,      /* done, go on */
    DLP_AGAIN = 1,   /* consumed everything, state saved: call again with more */
    DLP_DONE = 2,    /* finished; the caller should stop feeding this object */
    DLP_ENOMEM = -1, /* allocation failed */
    DLP_EINVAL = -2, /* bad argument or bad input from a user (rule, config) */
    DLP_ELIMIT = -3, /* a named bound was hit (see limits.h) */
    DLP_EPROTO = -4, /* malformed traffic */
    DLP_EIO = -5,    /* a system or library call failed */
} dlp_rc_t;

/* Returns a static, human-readable name for rc ("ENOMEM"). */
const char *dlp_rc_str(dlp_rc_t rc);

#endif
