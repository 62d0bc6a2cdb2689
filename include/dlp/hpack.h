/*
 * hpack.h - HPACK header block decoder (RFC 7541), one per direction of an
 * HTTP/2 connection: the dynamic table is the encoder's, mirrored.
 *
 * A block is decoded whole (h2.c collects HEADERS + CONTINUATION first); each
 * field goes to a callback. A block that fails (bad index, bad Huffman code
 * or padding, an integer or size out of bounds, a table size update over the
 * cap) returns DLP_EPROTO: the table is then unknown and the decoder refuses
 * every later block (DLP_EPROTO) so the caller stops trusting it.
 *
 * Thread: a dlp_hpack_t belongs to the worker that owns the flow.
 */
#ifndef DLP_HPACK_H
#define DLP_HPACK_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/rc.h"

typedef struct dlp_hpack dlp_hpack_t;

typedef void (*dlp_hpack_field_fn)(void *ctx, const uint8_t *name, size_t nlen,
                                   const uint8_t *value, size_t vlen);

/* 'cap': the largest table size an update may set (0: DLP_HPACK_TABLE_CAP);
 * the table starts at 4096 bytes (RFC 9113 6.5.2 SETTINGS_HEADER_TABLE_SIZE). */
dlp_hpack_t *dlp_hpack_new(uint32_t cap);
void dlp_hpack_free(dlp_hpack_t *d);

/* The decoder's SETTINGS_HEADER_TABLE_SIZE, when known (at most 'cap'): the
 * table shrinks to it at once. */
void dlp_hpack_set_max(dlp_hpack_t *d, uint32_t max);

DLP_MUST_CHECK dlp_rc_t dlp_hpack_decode(dlp_hpack_t *d, const uint8_t *p, size_t n,
                                  dlp_hpack_field_fn fn, void *ctx);

/* The dynamic table, for tests: entries (1 = newest) and size (RFC 7541 4.1). */
size_t dlp_hpack_count(const dlp_hpack_t *d);
size_t dlp_hpack_size(const dlp_hpack_t *d);
int dlp_hpack_entry(const dlp_hpack_t *d, size_t i, const uint8_t **name, size_t *nlen,
                    const uint8_t **value, size_t *vlen);
size_t dlp_hpack_mem(const dlp_hpack_t *d);

/* Huffman string decoding (RFC 7541 5.2, Appendix B): bytes written to out
 * (room for n * 8 / 5), or -1 on EOS, padding over 7 bits or not all ones. */
long dlp_hpack_huffman(const uint8_t *p, size_t n, uint8_t *out);

#endif
