/*
 * timefmt.h - time values used across the sensor: microseconds since the
 * Unix epoch in a uint64_t (packet time when reading files, the wall clock
 * live), and their ISO 8601 form for events.
 */
#ifndef DLP_TIMEFMT_H
#define DLP_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define DLP_US_PER_S 1000000ULL

/* "2026-11-29T06:34:20.123456+0000" (UTC). Returns buf. len >= 32. */
const char *dlp_time_iso(uint64_t ts_us, char *buf, size_t len);
uint64_t dlp_time_now_us(void);  /* CLOCK_REALTIME */
uint64_t dlp_time_mono_ns(void); /* CLOCK_MONOTONIC */

#endif
