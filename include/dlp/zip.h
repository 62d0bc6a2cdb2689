/*
 * zip.h - the members of a ZIP archive, unpacked as they stream by.
 *
 * Why: an Office document (docx, xlsx, pptx), an OpenDocument file or a
 * .zip is compressed text; a spreadsheet of card numbers uploaded as xlsx
 * can only be inspected by unpacking it. The parser walks the local file
 * headers in order (it never seeks to the central directory: a stream has
 * no end to seek from) and hands each member's content, inflated, to the
 * caller as a stream named after the member.
 *
 * Handled: stored and deflated members, sizes in the local header or (for
 * deflate) in a data descriptor after the data. Not handled, noted
 * unsupported and passed over: encrypted members, other methods (bzip2,
 * LZMA, zstd...), ZIP64 sizes; a stored member whose size comes only
 * after it ends the walk, as does anything that is not a header where one
 * is due (the central directory ends it normally).
 *
 * Bounds: per member, at most decomp_max bytes of output and
 * decomp_ratio_max times its input (DLP_NOTE_DECOMP_CAP / _RATIO, the rest
 * of the member passed over); at most DLP_ZIP_MEMBERS_MAX members; names
 * cut to DLP_ZIP_NAME_MAX bytes. A push parser: any split of the input
 * gives the same members and content.
 *
 * Threading: the owner's thread.
 */
#ifndef DLP_ZIP_H
#define DLP_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "dlp/app.h"

#define DLP_ZIP_MEMBERS_MAX 4096
#define DLP_ZIP_NAME_MAX 63

typedef struct dlp_zip dlp_zip_t;

typedef struct dlp_zip_ops {
    /* A member starts: a handle for its content, or NULL to pass it over. */
    void *(*open)(void *ctx, const char *name);
    void (*write)(void *ctx, void *member, const uint8_t *p, size_t n);
    void (*close)(void *ctx, void *member);
    void (*note)(void *ctx, dlp_app_note_t note, uint64_t bytes);
} dlp_zip_ops_t;

/* Owned, or NULL (out of memory). 'ops' and 'l' are borrowed. */
dlp_zip_t *dlp_zip_new(const dlp_zip_ops_t *ops, void *ctx, const dlp_app_limits_t *l);
/* The archive's next bytes. */
void dlp_zip_write(dlp_zip_t *z, const uint8_t *p, size_t n);
/* The archive ends (or breaks): a member still open is closed. */
void dlp_zip_end(dlp_zip_t *z);
void dlp_zip_free(dlp_zip_t *z);
/* Bytes it holds (its buffer, and the inflate state once a member was deflated). */
size_t dlp_zip_mem(const dlp_zip_t *z);

#endif
