/*
 * dlp_test.h - what every cmocka unit test includes: cmocka in the order it
 * needs, and helpers to build test inputs.
 */
#ifndef DLP_TEST_H
#define DLP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Readable byte strings in tests: BYTES("GET / HTTP/1.1\r\n") */
#define DLP_STR_BYTES(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

#endif
