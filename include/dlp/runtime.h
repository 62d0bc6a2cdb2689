/*
 * runtime.h - runs the sensor: threads, signals, the output loop, and the
 * order of start-up and shutdown.
 */
#ifndef DLP_RUNTIME_H
#define DLP_RUNTIME_H

#include "dlp/config.h"

/*
 * Runs the sensor as 'cfg' says until the input ends or SIGINT/SIGTERM.
 * Returns the process exit status: 0 success, 1 runtime failure, 2 bad
 * input (an unreadable capture, an output that cannot be opened), with a
 * one-line message on stderr.
 */
int dlp_runtime_run(const dlp_config_t *cfg);

#endif
