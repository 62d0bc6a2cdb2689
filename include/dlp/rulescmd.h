/*
 * rulescmd.h - `dlpsensor rules ...`: the rule tuner's tools.
 *
 *   dlpsensor rules check [--strict] [PATH...]
 *       loads and compiles the rules (no cache), runs every rule's examples
 *       through the real matcher, validators and detect stage, and lints
 *       them; one line per problem, "FILE:LINE: rule NAME: REASON".
 *   dlpsensor rules test [PATH...] --text FILE|-
 *       what the rules find in a text: each value (masked), each value that
 *       was suppressed and why, the per-rule counters.
 *   dlpsensor rules test [PATH...] -r CAPTURE [-r ...]
 *       runs the real sensor pipeline on captures and summarises the events
 *       per rule: counters and masked samples.
 *
 * rules/README.md ("Tuning walkthrough") shows them in use. Raw values are
 * never printed: masks, and keyed hashes when a key file is given.
 */
#ifndef DLP_RULESCMD_H
#define DLP_RULESCMD_H

/* Bounds of the tools (each refused with a message, exit status 2). */
#define DLP_RULESCMD_TEXT_MAX (16u * 1024 * 1024) /* bytes of a --text input */
#define DLP_RULESCMD_SAMPLES_MAX 100              /* --samples N: masked samples per rule */
#define DLP_RULESCMD_SPLIT_MAX                                                                     \
    128                                /* check: an example is also written in writes of every     \
                                        * size from 1 to this many bytes (or its length - 1) */
#define DLP_RULESCMD_STREAM_CHUNK 1460 /* test --text: bytes per write of the stream scan */

/* check's lints: warnings (errors with --strict). */
#define DLP_RULESCMD_MIN_WIDTH 4    /* a pattern that can match fewer bytes is too short */
#define DLP_RULESCMD_MIN_EXAMPLES 8 /* match and no_match examples each rule should have */

/*
 * Runs `dlpsensor rules ARGS`: argv[0] is "rules", argv[1] the subcommand.
 * Returns the exit status: 0 success (check: no error, and no warning with
 * --strict); 1 a runtime failure; 2 bad usage, rules that do not load or
 * compile, an unreadable input, or check errors (warnings with --strict).
 * Prints results on stdout, usage errors on stderr.
 */
int dlp_rules_cmd(int argc, char **argv);

#endif
