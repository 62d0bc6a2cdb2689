/*
 * log.h - process log lines on stderr, for humans. Never called per packet;
 * anything that can repeat goes through a dlp_ratelimit_t.
 * Thread-safe (one fprintf per line). Never give it raw payload bytes.
 */
#ifndef DLP_LOG_H
#define DLP_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { DLP_LOG_ERR, DLP_LOG_WARN, DLP_LOG_INFO, DLP_LOG_DEBUG } dlp_log_level_t;

void dlp_log_set_level(dlp_log_level_t lvl);
void dlp_log(dlp_log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * One message per 'interval_s' seconds (monotonic clock); the occurrences
 * suppressed in between are counted and reported with the next line.
 */
typedef struct dlp_ratelimit {
    uint64_t last_ns;
    uint64_t suppressed;
    unsigned interval_s;
} dlp_ratelimit_t;

#define DLP_RATELIMIT_INIT(sec) {0, 0, (sec)}
void dlp_log_limited(dlp_ratelimit_t *rl, dlp_log_level_t lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
