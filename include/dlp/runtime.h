/*
 * runtime.h - runs the sensor: threads, signals, the output loop, and the
 * order of start-up and shutdown.
 */
#ifndef DLP_RUNTIME_H
#define DLP_RUNTIME_H

#include "dlp/config.h"
#include "dlp/privdrop.h"

/*
 * Runs the sensor as 'cfg' says until the input ends or SIGINT/SIGTERM.
 * 'user': cfg->user as the caller resolved it (dlp_privdrop_resolve), root
 * is left for it once everything is open; NULL (cfg->user NULL) stays as is.
 * Returns the process exit status: 0 success, 1 runtime failure, 2 bad
 * input (an unreadable capture, an output that cannot be opened), with a
 * one-line message on stderr.
 */
int dlp_runtime_run(const dlp_config_t *cfg, const dlp_privdrop_target_t *user);

/*
 * -T: loads the rules and the HMAC key as dlp_runtime_run would, compiles
 * the rules (through the cache), and prints one summary line on stdout:
 * "dlpsensor: configuration OK: R rules (E enabled), P patterns, compiled
 * in X ms | loaded from the cache in X ms; W workers | N capture threads
 * (live)[ (fanout MODE, group G|auto)]; home net CIDRS; INPUTS[; user U]",
 * the threads and the fanout decided as a run would, and a second line with
 * the outputs. Opens no capture and no output. 'user' as dlp_runtime_run's:
 * a rules cache directory made as root is given to that user, as a run does.
 * Returns 0, or the exit status (2) after printing every problem on stderr.
 */
int dlp_runtime_check(const dlp_config_t *cfg, const dlp_privdrop_target_t *user);

#endif
