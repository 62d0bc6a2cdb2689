/*
 * mem.h - allocation helpers.
 */
#ifndef DLP_MEM_H
#define DLP_MEM_H

#include <stdlib.h>
#include <string.h>

#include "dlp/rc.h"

/* Zeroed memory aligned to a cache line (aligned_alloc wants a size that is
 * a multiple of the alignment). Release with free(). */
static inline void *dlp_calloc_aligned(size_t size)
{
    size_t n = (size + DLP_CACHELINE - 1) & ~(size_t)(DLP_CACHELINE - 1);
    void *p = aligned_alloc(DLP_CACHELINE, n);

    if (p != NULL)
        memset(p, 0, n);
    return p;
}

#endif
