/*
 * media.h - compressed media and archives, told by their first bytes, and
 * whether a piece of them carries text.
 *
 * Why: an upload of a photo, a video or an archive is compressed bytes, in
 * which a rule can only match by chance: random bytes spell an e-mail
 * address like "g7@3.urd" now and then (the bench capture: 4 such events
 * in 55 MB of binary uploads), and scanning them costs as much as
 * scanning text. A content stream that starts with such a format's magic is
 * scanned only where a piece of it holds a run of text (a metadata block,
 * an uncompressed archive member, or text sent after a forged header: the
 * magic alone never hides anything). The run is long enough that compressed
 * bytes almost never hold one: 16 text bytes in a row ((98/256)^16) come by
 * chance once in about 5 million places.
 *
 * Pure functions; no state.
 */
#ifndef DLP_MEDIA_H
#define DLP_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLP_MEDIA_SNIFF_BYTES 8 /* the longest magic reaches this far */
#define DLP_MEDIA_TEXT_RUN 16   /* printable characters in a row that make text */

typedef enum {
    DLP_MEDIA_NO = 0, /* not a format whose content is compressed */
    DLP_MEDIA_YES,    /* JPEG, PNG, GIF, WebP/RIFF, MP4/QuickTime, Matroska, Ogg, FLAC,
                         MP3 (ID3), ZIP, gzip, bzip2, xz, 7z, RAR, zstd */
    DLP_MEDIA_MORE,   /* too few bytes to tell: may still be one */
} dlp_media_t;

/* What the first n bytes of a content stream say. */
dlp_media_t dlp_media_sniff(const uint8_t *p, size_t n);

/*
 * True if p[0, n) holds DLP_MEDIA_TEXT_RUN or more printable ASCII
 * characters in a row (space to '~', tab, CR, LF), as bytes or as UTF-16
 * code units of either byte order.
 */
bool dlp_media_has_text(const uint8_t *p, size_t n);

/* The first n bytes start a ZIP archive (a local file header): zip.h unpacks it. */
bool dlp_media_zip(const uint8_t *p, size_t n);

/* The first n bytes start a gzip file (RFC 1952, deflate): its content is unpacked
 * as a stream of its own (a .csv.gz, a .tar.gz, a database dump). */
bool dlp_media_gzip(const uint8_t *p, size_t n);

#endif
