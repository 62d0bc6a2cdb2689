/*
 * log.c - one line per message on stderr, with a level prefix.
 * The sensor's users read stderr for configuration and runtime problems;
 * traffic anomalies are counters, not log lines.
 */
#include "dlp/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "dlp/timefmt.h"

static _Atomic int g_level = DLP_LOG_INFO;

void dlp_log_set_level(dlp_log_level_t lvl) { atomic_store(&g_level, (int)lvl); }

__attribute__((format(printf, 3, 0))) static void vlog(dlp_log_level_t lvl, const char *suffix,
                                                      const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[1024];

    if ((int)lvl > atomic_load(&g_level))
        return;
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "dlpsensor: %s: %s%s\n", names[lvl], line, suffix);
}

void dlp_log(dlp_log_level_t lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, "", fmt, ap);
    va_end(ap);
}

void dlp_log_limited(dlp_ratelimit_t *rl, dlp_log_level_t lvl, const char *fmt, ...)
{
    uint64_t now = dlp_time_mono_ns();
    char suffix[64] = "";
    va_list ap;

    if (rl->last_ns != 0 && now - rl->last_ns < (uint64_t)rl->interval_s * 1000000000ULL) {
        rl->suppressed++;
        return;
    }
    if (rl->suppressed > 0)
        snprintf(suffix, sizeof(suffix), " (%llu more suppressed)",
                 (unsigned long long)rl->suppressed);
    rl->last_ns = now;
    rl->suppressed = 0;
    va_start(ap, fmt);
    vlog(lvl, suffix, fmt, ap);
    va_end(ap);
}
