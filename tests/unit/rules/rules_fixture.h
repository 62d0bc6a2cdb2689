/*
 * rules_fixture.h - what the rule loader's tests share: a fresh temporary
 * directory per test binary (chdir'd into, so messages carry short exact
 * paths), writing files, and loading with exact expected messages.
 */
#ifndef DLP_RULES_FIXTURE_H
#define DLP_RULES_FIXTURE_H

#include "dlp_test.h"

#include <stdbool.h>
#include <stdio.h>

#include "dlp/rules.h"

/* cmocka group setup/teardown: create and enter, then leave and remove, the directory. */
int rules_fixture_setup(void **state);
int rules_fixture_teardown(void **state);

void write_file(const char *path, const char *text);
/* Loads 'paths' expecting failure with exactly the messages 'want'. */
void expect_errors_n(const char *const *paths, size_t n, const char *const *want, size_t nwant);
/* Loads 'paths' expecting success and no message. */
dlp_ruleset_t *load_ok_n(const char *const *paths, size_t n);
dlp_ruleset_t *load_ok(const char *path);

/* One file with 'text', expecting exactly the messages 'want'. */
#define EXPECT(text, ...)                                                                          \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__};                                                 \
        const char *const path_[] = {"e.yaml"};                                                    \
        write_file("e.yaml", text);                                                                \
        expect_errors_n(path_, 1, want_, DLP_ARRAY_LEN(want_));                                    \
    } while (0)

/* The head of a rule with every required key; lines 2-7 of a file. */
#define HEAD "rules:\n"
#define RULE_A                                                                                     \
    "  - id: 1\n"                                                                                  \
    "    name: t.a\n"                                                                              \
    "    description: test rule a\n"                                                               \
    "    category: linked\n"                                                                       \
    "    severity: low\n"                                                                          \
    "    patterns: ['abc']\n"
#define RULE_B                                                                                     \
    "  - id: 2\n"                                                                                  \
    "    name: t.b\n"                                                                              \
    "    description: test rule b\n"                                                               \
    "    category: secret\n"                                                                       \
    "    severity: critical\n"                                                                     \
    "    patterns: ['def']\n"

#endif
