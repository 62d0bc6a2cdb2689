/*
 * slice.h - a borrowed view of bytes. Never owns its memory.
 */
#ifndef DLP_SLICE_H
#define DLP_SLICE_H

#include <stddef.h>
#include <stdint.h>

typedef struct dlp_slice {
    const uint8_t *p;
    size_t n;
} dlp_slice_t;

static inline dlp_slice_t dlp_slice(const void *p, size_t n)
{
    dlp_slice_t s = {(const uint8_t *)p, n};
    return s;
}

#endif
