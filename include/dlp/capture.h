/*
 * capture.h - where frames come from: capture files (pcap, pcapng, or
 * directories of them, in name order) or live interfaces. An opaque handle
 * with an ops table inside (libpcap's own shape). The only user of libpcap.
 *
 * Threading: one thread uses a handle; dlp_capture_break() may be called
 * from any thread (a signal handler included).
 */
#ifndef DLP_CAPTURE_H
#define DLP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/rc.h"
#include "dlp/stats.h"

typedef struct dlp_frame {
    const uint8_t *data; /* borrowed until the next dlp_capture_next() */
    uint32_t caplen;
    uint32_t wirelen;
    uint64_t ts_us;
    uint16_t linktype;   /* DLP_LINK_* (libpcap DLT_*) */
    uint16_t source;     /* index of the interface (live) */
} dlp_frame_t;

/* Live defaults (dlp_capture_live_opts_default) and the one bound of open_live. */
#define DLP_CAPTURE_BUFFER_BYTES (64u * 1024 * 1024) /* kernel ring per interface */
#define DLP_CAPTURE_TIMEOUT_MS 100                   /* TPACKET_V3 block timeout and poll() */
#define DLP_CAPTURE_MAX_IFACES 64                    /* interfaces per live handle */

typedef struct dlp_capture_live_opts {
    uint32_t snaplen;       /* DLP_SNAPLEN */
    uint32_t buffer_bytes;  /* kernel ring per handle */
    int timeout_ms;         /* packet buffer timeout */
    bool promisc;
} dlp_capture_live_opts_t;

typedef struct dlp_capture dlp_capture_t;

/*
 * Opens capture files. Each path is a file or a directory (its regular
 * files that start with a pcap or pcapng magic, in name order; other files
 * are skipped with a note on stderr). Every file is checked before this
 * returns, so a bad file is reported before any packet is processed.
 * 'bpf' (may be NULL) filters every file.
 * Returns an owned handle, or NULL with a one-line "PATH: reason" in err.
 * Borrows 'st' (counts CAP_*).
 */
dlp_capture_t *dlp_capture_open_files(const char *const *paths, size_t n, const char *bpf,
                                       dlp_stats_t *st, char *err, size_t errlen);

/*
 * Opens live interfaces (all polled by the one calling thread; a frame's
 * 'source' is the index of its interface in 'ifaces'). 'o' may be NULL for
 * the defaults. At most DLP_CAPTURE_MAX_IFACES. A warning from activation is
 * logged; an error returns NULL with "IFACE: reason" in err.
 */
dlp_capture_t *dlp_capture_open_live(const char *const *ifaces, size_t n, const char *bpf,
                                      const dlp_capture_live_opts_t *o, dlp_stats_t *st,
                                      char *err, size_t errlen);

void dlp_capture_live_opts_default(dlp_capture_live_opts_t *o);

/*
 * Next frame into *f. Returns DLP_OK; DLP_AGAIN when no frame arrived within
 * the timeout (live only); DLP_DONE at the end of all input or after
 * dlp_capture_break(); DLP_EIO on a fatal error (logged). A truncated or
 * unreadable record in a file is counted and ends that file, not the run.
 */
DLP_MUST_CHECK dlp_rc_t dlp_capture_next(dlp_capture_t *c, dlp_frame_t *f);

void dlp_capture_break(dlp_capture_t *c);
bool dlp_capture_is_live(const dlp_capture_t *c);
/* Live: folds kernel/interface drop counters into the stats block. */
void dlp_capture_poll_stats(dlp_capture_t *c);
size_t dlp_capture_file_count(const dlp_capture_t *c);
void dlp_capture_close(dlp_capture_t *c);

#endif
