/*
 * http_int.h - HTTP parser internals shared with its unit test, and the
 * tri-state request sniffer (to move into http.h if the worker wants it).
 */
#ifndef DLP_HTTP_INT_H
#define DLP_HTTP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/limits.h"

typedef enum {
    DLP_HTTP_SNIFF_NO = 0,   /* not an HTTP/1.x request */
    DLP_HTTP_SNIFF_YES = 1,  /* method, SP and the start of a target */
    DLP_HTTP_SNIFF_MORE = 2, /* consistent so far, too short to tell */
} dlp_http_sniff_t;

/*
 * Looks at p[0, n) (DLP_APP_SNIFF_BYTES is enough): an uppercase method
 * (A-Z, '-', '_', 3..16 chars), SP, a target starting with '/', '*',
 * "http" (or a host name after CONNECT), and " HTTP/1." after the target
 * when p holds it. dlp_http_is_request() is "not NO".
 */
dlp_http_sniff_t dlp_http_sniff_request(const uint8_t *p, size_t n);

#endif
