/*
 * timefmt.c - clocks and the ISO 8601 timestamp of events.
 */
#include "dlp/timefmt.h"

#include <stdio.h>
#include <time.h>

const char *dlp_time_iso(uint64_t ts_us, char *buf, size_t len)
{
    time_t sec = (time_t)(ts_us / DLP_US_PER_S);
    struct tm tm;
    char base[24];

    gmtime_r(&sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06u+0000", base, (unsigned)(ts_us % DLP_US_PER_S));
    return buf;
}

uint64_t dlp_time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * DLP_US_PER_S + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t dlp_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}
