/*
 * capture_live.c - frames from network interfaces, one libpcap handle per
 * interface, all polled by the calling thread; with fanout, each of those
 * sockets also joins its interface's PACKET_FANOUT group (capture_fanout.c)
 * after activation and before the filter.
 *
 * Design: each handle is activated without immediate mode (libpcap 1.10
 * would then fall back from TPACKET_V3 to V2), with a large ring and a block
 * timeout, and put in non-blocking mode. next() drains the current handle
 * for up to LIVE_BURST frames before moving to the next one, so one busy
 * interface cannot starve another; when every handle is empty it poll()s
 * their selectable descriptors plus an eventfd that dlp_capture_break()
 * writes, so a break wakes a waiting next() at once.
 *
 * Statistics: libpcap keeps 32-bit running totals; poll_stats() turns their
 * increments into 64-bit totals (atomics with one writer, the owning thread),
 * which iface_stats() reads from any thread.
 *
 * Invariants: ifs[] (except the totals), pfds[] and wake_fd are fixed from open
 * to close, so break(), iface_stats() and fanout_group() may read them from
 * another thread (break() from a signal handler too).
 * Thread: the owning thread, except break(), iface_stats(), fanout_group().
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "capture_int.h"
#include "dlp/limits.h"
#include "dlp/log.h"

enum { LIVE_BURST = 64 };

typedef struct live_if {
    pcap_t *p;
    char *name;
    int linktype;
    int32_t group;   /* fanout group (the kernel's pick once joined if AUTO) */
    u_int last_recv; /* libpcap's running totals at the last poll_stats */
    u_int last_drop;
    u_int last_ifdrop;
    _Atomic uint64_t recv, drop, ifdrop; /* 64-bit totals; written by poll_stats only */
} live_if_t;

typedef struct live_capture {
    dlp_capture_t base;
    live_if_t *ifs;
    size_t n;
    bool fanout;
    dlp_fanout_mode_t mode;
    bool count_if_drops;
    struct pollfd *pfds; /* n interfaces, then wake_fd */
    int wake_fd;
    int timeout_ms;
    size_t cur;     /* handle being drained */
    unsigned burst; /* frames taken from it in a row */
    bool held_waited; /* after a stop: the last block's timeout was waited for */
} live_capture_t;

void dlp_capture_live_opts_default(dlp_capture_live_opts_t *o)
{
    o->snaplen = DLP_SNAPLEN;
    o->buffer_bytes = DLP_CAPTURE_BUFFER_BYTES;
    o->timeout_ms = DLP_CAPTURE_TIMEOUT_MS;
    o->promisc = true;
    o->count_if_drops = true;
}

static void activate_reason(pcap_t *p, int status, char *buf, size_t len)
{
    const char *detail = pcap_geterr(p);

    const char *what = pcap_statustostr(status);

    if (status == PCAP_ERROR || status == PCAP_WARNING || detail[0] == '\0' ||
        strcmp(detail, what) == 0)
        snprintf(buf, len, "%s", detail[0] != '\0' ? detail : what);
    else
        snprintf(buf, len, "%s (%s)", what, detail);
}

static dlp_rc_t configure(pcap_t *p, const dlp_capture_live_opts_t *o, char *msg, size_t len)
{
    if (pcap_set_snaplen(p, (int)o->snaplen) != 0 || pcap_set_promisc(p, o->promisc) != 0 ||
        pcap_set_buffer_size(p, (int)o->buffer_bytes) != 0 ||
        pcap_set_timeout(p, o->timeout_ms) != 0) {
        snprintf(msg, len, "cannot set capture options: %s", pcap_geterr(p));
        return DLP_EIO;
    }
    return DLP_OK;
}

/* pcap_create .. pcap_setnonblock for one interface; errors as "IFACE: reason". */
static dlp_rc_t open_one(const live_capture_t *lc, live_if_t *li, const char *bpf,
                         const dlp_capture_live_opts_t *o, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    char msg[PCAP_ERRBUF_SIZE + 256];
    int status;

    li->p = pcap_create(li->name, ebuf);
    if (li->p == NULL) {
        dlp_capture__err(err, errlen, "%s: %s", li->name, ebuf);
        return DLP_EIO;
    }
    if (configure(li->p, o, msg, sizeof(msg)) != DLP_OK)
        goto fail;
    status = pcap_activate(li->p);
    if (status != 0)
        activate_reason(li->p, status, msg, sizeof(msg));
    if (status < 0)
        goto fail;
    if (status > 0)
        dlp_log(DLP_LOG_WARN, "%s: %s", li->name, msg);
    if (lc->fanout && dlp_capture__fanout_join(pcap_fileno(li->p), lc->mode, &li->group, msg,
                                               sizeof(msg)) != DLP_OK)
        goto fail;
    if (bpf != NULL && dlp_capture__filter(li->p, bpf, true, msg, sizeof(msg)) != DLP_OK)
        goto fail;
    if (pcap_setnonblock(li->p, 1, ebuf) != 0) {
        snprintf(msg, sizeof(msg), "cannot set non-blocking mode: %s", ebuf);
        goto fail;
    }
    li->linktype = pcap_datalink(li->p);
    dlp_capture__check_linktype(li->name, li->linktype);
    return DLP_OK;
fail:
    dlp_capture__err(err, errlen, "%s: %s", li->name, msg);
    return DLP_EIO;
}

static dlp_rc_t check_opts(const dlp_capture_live_opts_t *o, size_t n, char *err, size_t errlen)
{
    if (n == 0) {
        dlp_capture__err(err, errlen, "no interface given");
        return DLP_EINVAL;
    }
    if (n > DLP_CAPTURE_MAX_IFACES) {
        dlp_capture__err(err, errlen, "too many interfaces: %zu (at most %d)", n,
                         DLP_CAPTURE_MAX_IFACES);
        return DLP_ELIMIT;
    }
    if (o->snaplen == 0 || o->snaplen > INT_MAX || o->buffer_bytes == 0 ||
        o->buffer_bytes > INT_MAX || o->timeout_ms <= 0) {
        dlp_capture__err(err, errlen, "capture: snaplen, buffer and timeout must be positive");
        return DLP_EINVAL;
    }
    return DLP_OK;
}

static dlp_rc_t live_try(live_capture_t *lc, dlp_frame_t *f)
{
    size_t tried = 0;
    struct pcap_pkthdr *h;
    const u_char *data;

    while (tried < lc->n) {
        live_if_t *li = &lc->ifs[lc->cur];
        if (lc->burst < LIVE_BURST) {
            int r = pcap_next_ex(li->p, &h, &data);
            if (r == 1) {
                lc->burst++;
                dlp_capture__frame(&lc->base, f, h, data, li->linktype, (uint16_t)lc->cur);
                return DLP_OK;
            }
            if (r == PCAP_ERROR_BREAK)
                return DLP_DONE;
            if (r < 0) {
                dlp_log(DLP_LOG_ERR, "%s: %s", li->name, pcap_geterr(li->p));
                return DLP_EIO;
            }
            tried++;
        }
        lc->cur = (lc->cur + 1) % lc->n;
        lc->burst = 0;
    }
    return DLP_AGAIN;
}

static dlp_rc_t live_wait(live_capture_t *lc)
{
    int r = poll(lc->pfds, (nfds_t)lc->n + 1, lc->timeout_ms);

    if (dlp_capture__stopped(&lc->base))
        return DLP_DONE;
    if (r < 0 && errno == EINTR)
        return DLP_AGAIN;
    if (r < 0) {
        dlp_log(DLP_LOG_ERR, "capture: poll: %s", strerror(errno));
        return DLP_EIO;
    }
    return r == 0 ? DLP_AGAIN : DLP_OK;
}

static dlp_rc_t live_next(dlp_capture_t *c, dlp_frame_t *f)
{
    live_capture_t *lc = (live_capture_t *)c;
    dlp_rc_t rc = live_try(lc, f);

    if (rc != DLP_AGAIN)
        return rc;
    rc = live_wait(lc);
    if (rc != DLP_OK)
        return rc;
    return live_try(lc, f);
}

/* After a stop: what the kernel rings already hold. pcap_breakloop() made
 * each handle's next read return PCAP_ERROR_BREAK once (and clear it). The
 * block the kernel was filling is handed over only when its timeout ends
 * (TPACKET_V3): waited for once, at most twice that timeout. */
static dlp_rc_t live_held(dlp_capture_t *c, dlp_frame_t *f)
{
    live_capture_t *lc = (live_capture_t *)c;

    for (;;) {
        dlp_rc_t rc = DLP_DONE;
        for (size_t i = 0; i <= lc->n && rc == DLP_DONE; i++)
            rc = live_try(lc, f);
        if (rc == DLP_OK)
            return DLP_OK;
        if (rc != DLP_AGAIN || lc->held_waited)
            return DLP_DONE;
        lc->held_waited = true;
        (void)poll(lc->pfds, (nfds_t)lc->n, 2 * lc->timeout_ms); /* not the wake fd: set */
    }
}

static void live_break(dlp_capture_t *c)
{
    live_capture_t *lc = (live_capture_t *)c;
    uint64_t one = 1;

    for (size_t i = 0; i < lc->n; i++)
        pcap_breakloop(lc->ifs[i].p);
    if (write(lc->wake_fd, &one, sizeof(one)) < 0) {
        /* Already signalled (counter full) or closing: next() sees the flag anyway. */
    }
}

/* Adds the increment of a u_int running total (right across its wrap) to a 64-bit total. */
static u_int advance(u_int now, u_int *last, _Atomic uint64_t *total)
{
    u_int inc = now - *last;

    *last = now;
    atomic_store_explicit(total, atomic_load_explicit(total, memory_order_relaxed) + inc,
                          memory_order_relaxed);
    return inc;
}

static void live_poll_stats(dlp_capture_t *c)
{
    live_capture_t *lc = (live_capture_t *)c;

    for (size_t i = 0; i < lc->n; i++) {
        live_if_t *li = &lc->ifs[i];
        struct pcap_stat ps;
        if (pcap_stats(li->p, &ps) != 0)
            continue;
        u_int recv = advance(ps.ps_recv, &li->last_recv, &li->recv);
        u_int drop = advance(ps.ps_drop, &li->last_drop, &li->drop);
        u_int ifdrop = advance(ps.ps_ifdrop, &li->last_ifdrop, &li->ifdrop);
        dlp_capture__count(c, DLP_STAT_CAP_RECEIVED, recv);
        dlp_capture__count(c, DLP_STAT_CAP_KERNEL_DROPS, drop);
        if (lc->count_if_drops)
            dlp_capture__count(c, DLP_STAT_CAP_IF_DROPS, ifdrop);
    }
}

static size_t live_iface_count(const dlp_capture_t *c)
{
    return ((const live_capture_t *)c)->n;
}

static dlp_rc_t live_iface_stats(const dlp_capture_t *c, size_t i, dlp_capture_iface_stats_t *out)
{
    const live_capture_t *lc = (const live_capture_t *)c;
    const live_if_t *li;

    if (i >= lc->n)
        return DLP_EINVAL;
    li = &lc->ifs[i];
    out->name = li->name;
    out->received = atomic_load_explicit(&li->recv, memory_order_relaxed);
    out->kernel_drops = atomic_load_explicit(&li->drop, memory_order_relaxed);
    out->if_drops = atomic_load_explicit(&li->ifdrop, memory_order_relaxed);
    return DLP_OK;
}

static int32_t live_fanout_group(const dlp_capture_t *c, size_t i)
{
    const live_capture_t *lc = (const live_capture_t *)c;

    return lc->fanout && i < lc->n ? lc->ifs[i].group : -1;
}

static void live_close(dlp_capture_t *c)
{
    live_capture_t *lc = (live_capture_t *)c;

    for (size_t i = 0; lc->ifs != NULL && i < lc->n; i++) {
        if (lc->ifs[i].p != NULL)
            pcap_close(lc->ifs[i].p);
        free(lc->ifs[i].name);
    }
    if (lc->wake_fd >= 0)
        close(lc->wake_fd);
    free(lc->pfds);
    free(lc->ifs);
    free(lc);
}

static const dlp_capture_ops_t live_ops = {
    .next = live_next,
    .brk = live_break,
    .poll_stats = live_poll_stats,
    .held = live_held,
    .close = live_close,
    .iface_count = live_iface_count,
    .iface_stats = live_iface_stats,
    .fanout_group = live_fanout_group,
};

static dlp_rc_t live_alloc(live_capture_t *lc, const char *const *ifaces, const int32_t *groups,
                           size_t n)
{
    lc->ifs = calloc(n, sizeof(*lc->ifs));
    lc->pfds = calloc(n + 1, sizeof(*lc->pfds));
    if (lc->ifs == NULL || lc->pfds == NULL)
        return DLP_ENOMEM;
    lc->n = n;
    for (size_t i = 0; i < n; i++) {
        live_if_t *li = &lc->ifs[i];
        li->group = groups != NULL ? groups[i] : -1;
        atomic_init(&li->recv, 0);
        atomic_init(&li->drop, 0);
        atomic_init(&li->ifdrop, 0);
        li->name = strdup(ifaces[i]);
        if (li->name == NULL)
            return DLP_ENOMEM;
    }
    return DLP_OK;
}

/* Opens every interface of lc (allocated) and the wake-up eventfd. */
static dlp_rc_t live_open_all(live_capture_t *lc, const char *bpf, const dlp_capture_live_opts_t *o,
                              char *err, size_t errlen)
{
    for (size_t i = 0; i < lc->n; i++) {
        if (open_one(lc, &lc->ifs[i], bpf, o, err, errlen) != DLP_OK)
            return DLP_EIO;
        lc->pfds[i].fd = pcap_get_selectable_fd(lc->ifs[i].p);
        lc->pfds[i].events = POLLIN;
    }
    lc->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (lc->wake_fd < 0) {
        dlp_capture__err(err, errlen, "capture: eventfd: %s", strerror(errno));
        return DLP_EIO;
    }
    lc->pfds[lc->n].fd = lc->wake_fd;
    lc->pfds[lc->n].events = POLLIN;
    return DLP_OK;
}

/* Common to open_live (groups NULL) and open_fanout; arguments already checked. */
static dlp_capture_t *live_open(const char *const *ifaces, const int32_t *groups, size_t n,
                                dlp_fanout_mode_t mode, const char *bpf,
                                const dlp_capture_live_opts_t *o, dlp_stats_t *st, char *err,
                                size_t errlen)
{
    live_capture_t *lc = calloc(1, sizeof(*lc));

    if (lc == NULL)
        goto nomem;
    dlp_capture__init(&lc->base, &live_ops, st, true);
    lc->wake_fd = -1;
    lc->timeout_ms = o->timeout_ms;
    lc->fanout = groups != NULL;
    lc->mode = mode;
    lc->count_if_drops = o->count_if_drops;
    if (live_alloc(lc, ifaces, groups, n) != DLP_OK)
        goto nomem;
    if (live_open_all(lc, bpf != NULL && bpf[0] != '\0' ? bpf : NULL, o, err, errlen) != DLP_OK)
        goto fail;
    return &lc->base;
nomem:
    dlp_capture__err(err, errlen, "capture: out of memory");
fail:
    if (lc != NULL)
        live_close(&lc->base);
    return NULL;
}

dlp_capture_t *dlp_capture_open_live(const char *const *ifaces, size_t n, const char *bpf,
                                     const dlp_capture_live_opts_t *o, dlp_stats_t *st, char *err,
                                     size_t errlen)
{
    dlp_capture_live_opts_t defaults;

    if (o == NULL) {
        dlp_capture_live_opts_default(&defaults);
        o = &defaults;
    }
    if (ifaces == NULL || check_opts(o, n, err, errlen) != DLP_OK)
        return NULL;
    return live_open(ifaces, NULL, n, DLP_FANOUT_IPPAIR, bpf, o, st, err, errlen);
}

static dlp_rc_t check_fanout(const char *const *ifaces, const int32_t *groups, size_t n,
                             dlp_fanout_mode_t mode, char *err, size_t errlen)
{
    if (mode != DLP_FANOUT_IPPAIR && mode != DLP_FANOUT_HASH) {
        dlp_capture__err(err, errlen, "capture: unknown fanout mode %d", (int)mode);
        return DLP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (groups[i] != DLP_FANOUT_GROUP_AUTO &&
            (groups[i] < 0 || groups[i] > DLP_FANOUT_GROUP_MAX)) {
            dlp_capture__err(err, errlen, "%s: fanout group %ld out of range (0..%d)", ifaces[i],
                             (long)groups[i], DLP_FANOUT_GROUP_MAX);
            return DLP_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(ifaces[i], ifaces[j]) == 0) {
                dlp_capture__err(err, errlen, "%s: interface given twice", ifaces[i]);
                return DLP_EINVAL;
            }
        }
    }
    return DLP_OK;
}

dlp_capture_t *dlp_capture_open_fanout(const char *const *ifaces, const int32_t *groups, size_t n,
                                       dlp_fanout_mode_t mode, const char *bpf,
                                       const dlp_capture_live_opts_t *o, dlp_stats_t *st, char *err,
                                       size_t errlen)
{
    dlp_capture_live_opts_t defaults;

    if (o == NULL) {
        dlp_capture_live_opts_default(&defaults);
        o = &defaults;
    }
    if (ifaces == NULL || groups == NULL) {
        dlp_capture__err(err, errlen, "no interface given");
        return NULL;
    }
    if (check_opts(o, n, err, errlen) != DLP_OK ||
        check_fanout(ifaces, groups, n, mode, err, errlen) != DLP_OK)
        return NULL;
    return live_open(ifaces, groups, n, mode, bpf, o, st, err, errlen);
}
