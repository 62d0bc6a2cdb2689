/*
 * capture_int.h - private to sensor/capture: the handle every kind of
 * capture starts with, and the ops table that dlp_capture_* dispatch through
 * (libpcap's own pcap_t shape). Not installed, not included outside capture/.
 */
#ifndef DLP_CAPTURE_INT_H
#define DLP_CAPTURE_INT_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <pcap/pcap.h>

#include "dlp/capture.h"

typedef struct dlp_capture_ops {
    dlp_rc_t (*next)(dlp_capture_t *c, dlp_frame_t *f);
    /* Async-signal-safe wake-up of a next() in progress; the stop flag is already set. */
    void (*brk)(dlp_capture_t *c);
    void (*poll_stats)(dlp_capture_t *c);
    /* After a stop: a frame already received (a kernel ring), never waiting;
     * DLP_DONE when none is left. NULL: nothing is held (files). */
    dlp_rc_t (*held)(dlp_capture_t *c, dlp_frame_t *f);
    void (*close)(dlp_capture_t *c);
    /* Live kinds only (NULL for files); any thread. */
    size_t (*iface_count)(const dlp_capture_t *c);
    dlp_rc_t (*iface_stats)(const dlp_capture_t *c, size_t i, dlp_capture_iface_stats_t *out);
    int32_t (*fanout_group)(const dlp_capture_t *c, size_t i);
} dlp_capture_ops_t;

/* The first member of every kind of capture handle. */
struct dlp_capture {
    const dlp_capture_ops_t *ops;
    dlp_stats_t *st;
    atomic_bool stop;
    bool live;
    size_t nfiles;
};

void dlp_capture__init(dlp_capture_t *c, const dlp_capture_ops_t *ops, dlp_stats_t *st, bool live);

/* Writes one "PATH: reason" line into err (if err is not NULL). */
void dlp_capture__err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A warning when a capture file or interface ('what') is of a link type the
 * decoder does not read (dlp_decode_linktype_supported): the input is valid,
 * but its packets will only be counted (decode.unsupported_linktype).
 */
void dlp_capture__check_linktype(const char *what, int linktype);

/*
 * Compiles 'bpf' for p's link type and, if 'set', installs it. On failure
 * writes the reason ("bad filter 'EXPR': ...") into msg.
 */
dlp_rc_t dlp_capture__filter(pcap_t *p, const char *bpf, bool set, char *msg, size_t len);

/*
 * capture_fanout.c: joins packet socket fd (activated) to fanout group *group
 * (0..DLP_FANOUT_GROUP_MAX) in 'mode'; DLP_FANOUT_GROUP_AUTO takes an unused
 * id from the kernel and writes it back. On failure writes the reason into msg.
 */
dlp_rc_t dlp_capture__fanout_join(int fd, dlp_fanout_mode_t mode, int32_t *group, char *msg,
                                  size_t len);

/* Fills *f from a libpcap record; counts CAP_SNAP_TRUNCATED. */
void dlp_capture__frame(dlp_capture_t *c, dlp_frame_t *f, const struct pcap_pkthdr *h,
                        const u_char *data, int linktype, uint16_t source);

static inline void dlp_capture__count(dlp_capture_t *c, dlp_stat_id_t id, uint64_t n)
{
    if (c->st != NULL)
        dlp_stat_add(c->st, id, n);
}

static inline bool dlp_capture__stopped(const dlp_capture_t *c)
{
    return atomic_load_explicit(&c->stop, memory_order_relaxed);
}

#endif
