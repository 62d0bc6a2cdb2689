/*
 * capture.c - the kind-independent half of dlp_capture_t: every public call
 * goes through the handle's ops table (capture_file.c, capture_live.c).
 *
 * Invariants: a handle's ops never change after open; 'stop' only goes from
 * false to true. Thread: the owning thread for everything but
 * dlp_capture_break(), which is a lock-free store plus the kind's
 * async-signal-safe wake-up.
 */
#include "capture_int.h"

#include <stdio.h>

#include "dlp/log.h"
#include "dlp/packet.h"
#include "dlp/timefmt.h"

void dlp_capture__init(dlp_capture_t *c, const dlp_capture_ops_t *ops, dlp_stats_t *st, bool live)
{
    c->ops = ops;
    c->st = st;
    atomic_init(&c->stop, false);
    c->live = live;
    c->nfiles = 0;
}

void dlp_capture__err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void dlp_capture__frame(dlp_capture_t *c, dlp_frame_t *f, const struct pcap_pkthdr *h,
                        const u_char *data, int linktype, uint16_t source)
{
    uint64_t sec = h->ts.tv_sec < 0 ? 0 : (uint64_t)h->ts.tv_sec;
    uint64_t usec = h->ts.tv_usec < 0 ? 0 : (uint64_t)h->ts.tv_usec;

    f->data = data;
    f->caplen = h->caplen;
    f->wirelen = h->len;
    f->ts_us = sec * DLP_US_PER_S + usec;
    f->linktype = (uint16_t)linktype;
    f->source = source;
    if (h->caplen < h->len) {
        dlp_capture__count(c, DLP_STAT_CAP_SNAP_TRUNCATED, 1);
    } else if (h->caplen > h->len) {
        /* A record that claims more bytes captured than were on the wire
         * (libpcap passes it on): a writer's bug or a damaged file. The
         * caplen bytes are there and are all the decoder reads; taking them
         * as the wire length keeps 'bytes', the flows' byte counts and
         * evidence records (whose incl_len must not exceed orig_len) whole. */
        dlp_capture__count(c, DLP_STAT_CAP_CAPLEN_OVER_WIRELEN, 1);
        f->wirelen = h->caplen;
    }
}

void dlp_capture__check_linktype(const char *what, int linktype)
{
    const char *name = pcap_datalink_val_to_name(linktype);

    if (dlp_decode_linktype_supported(linktype))
        return;
    dlp_log(DLP_LOG_WARN,
            "%s: link type %d%s%s%s is not supported: its packets will not be decoded (counted "
            "as decode.unsupported_linktype)",
            what, linktype, name != NULL ? " (" : "", name != NULL ? name : "",
            name != NULL ? ")" : "");
}

dlp_rc_t dlp_capture__filter(pcap_t *p, const char *bpf, bool set, char *msg, size_t len)
{
    struct bpf_program prog;
    dlp_rc_t rc = DLP_OK;

    if (pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(msg, len, "bad filter '%s': %s", bpf, pcap_geterr(p));
        return DLP_EINVAL;
    }
    if (set && pcap_setfilter(p, &prog) != 0) {
        snprintf(msg, len, "cannot set filter '%s': %s", bpf, pcap_geterr(p));
        rc = DLP_EIO;
    }
    pcap_freecode(&prog);
    return rc;
}

dlp_rc_t dlp_capture_next(dlp_capture_t *c, dlp_frame_t *f)
{
    if (dlp_capture__stopped(c))
        return DLP_DONE;
    return c->ops->next(c, f);
}

dlp_rc_t dlp_capture_next_held(dlp_capture_t *c, dlp_frame_t *f)
{
    return c->ops->held != NULL ? c->ops->held(c, f) : DLP_DONE;
}

void dlp_capture_break(dlp_capture_t *c)
{
    atomic_store_explicit(&c->stop, true, memory_order_relaxed);
    if (c->ops->brk != NULL)
        c->ops->brk(c);
}

bool dlp_capture_is_live(const dlp_capture_t *c)
{
    return c->live;
}

void dlp_capture_poll_stats(dlp_capture_t *c)
{
    if (c->ops->poll_stats != NULL)
        c->ops->poll_stats(c);
}

size_t dlp_capture_iface_count(const dlp_capture_t *c)
{
    return c->ops->iface_count != NULL ? c->ops->iface_count(c) : 0;
}

dlp_rc_t dlp_capture_iface_stats(const dlp_capture_t *c, size_t i, dlp_capture_iface_stats_t *out)
{
    if (c->ops->iface_stats == NULL)
        return DLP_EINVAL;
    return c->ops->iface_stats(c, i, out);
}

void dlp_capture_iface_stats_merge(dlp_capture_iface_stats_t *acc,
                                   const dlp_capture_iface_stats_t *one)
{
    if (acc->name == NULL)
        acc->name = one->name;
    acc->received += one->received;
    acc->kernel_drops += one->kernel_drops;
    if (one->if_drops > acc->if_drops)
        acc->if_drops = one->if_drops;
}

int32_t dlp_capture_fanout_group(const dlp_capture_t *c, size_t i)
{
    return c->ops->fanout_group != NULL ? c->ops->fanout_group(c, i) : -1;
}

size_t dlp_capture_file_count(const dlp_capture_t *c)
{
    return c->nfiles;
}

void dlp_capture_close(dlp_capture_t *c)
{
    if (c != NULL)
        c->ops->close(c);
}
