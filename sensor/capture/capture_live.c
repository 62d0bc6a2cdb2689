/*
 * capture_live.c - frames from network interfaces, one libpcap handle per
 * interface, all polled by the calling thread.
 *
 * Design: each handle is activated without immediate mode (libpcap 1.10
 * would then fall back from TPACKET_V3 to V2), with a large ring and a block
 * timeout, and put in non-blocking mode. next() drains the current handle
 * for up to LIVE_BURST frames before moving to the next one, so one busy
 * interface cannot starve another; when every handle is empty it poll()s
 * their selectable descriptors plus an eventfd that dlp_capture_break()
 * writes, so a break wakes a waiting next() at once.
 *
 * Invariants: ifs[], pfds[] and wake_fd are fixed from open to close, so
 * break() may read them from another thread or a signal handler.
 * Thread: the owning thread, except break().
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
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
    u_int last_drop; /* libpcap's running totals at the last poll_stats */
    u_int last_ifdrop;
} live_if_t;

typedef struct live_capture {
    dlp_capture_t base;
    live_if_t *ifs;
    size_t n;
    struct pollfd *pfds; /* n interfaces, then wake_fd */
    int wake_fd;
    int timeout_ms;
    size_t cur;     /* handle being drained */
    unsigned burst; /* frames taken from it in a row */
} live_capture_t;

void dlp_capture_live_opts_default(dlp_capture_live_opts_t *o)
{
    o->snaplen = DLP_SNAPLEN;
    o->buffer_bytes = DLP_CAPTURE_BUFFER_BYTES;
    o->timeout_ms = DLP_CAPTURE_TIMEOUT_MS;
    o->promisc = true;
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

/* pcap_create .. pcap_setnonblock for ifs[i]; errors as "IFACE: reason". */
static dlp_rc_t open_one(live_if_t *li, const char *bpf, const dlp_capture_live_opts_t *o,
                         char *err, size_t errlen)
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
    if (bpf != NULL && dlp_capture__filter(li->p, bpf, true, msg, sizeof(msg)) != DLP_OK)
        goto fail;
    if (pcap_setnonblock(li->p, 1, ebuf) != 0) {
        snprintf(msg, sizeof(msg), "cannot set non-blocking mode: %s", ebuf);
        goto fail;
    }
    li->linktype = pcap_datalink(li->p);
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

static void live_poll_stats(dlp_capture_t *c)
{
    live_capture_t *lc = (live_capture_t *)c;

    for (size_t i = 0; i < lc->n; i++) {
        live_if_t *li = &lc->ifs[i];
        struct pcap_stat ps;
        if (pcap_stats(li->p, &ps) != 0)
            continue;
        /* u_int running totals: unsigned subtraction is right across a wrap. */
        u_int drop = ps.ps_drop - li->last_drop;
        u_int ifdrop = ps.ps_ifdrop - li->last_ifdrop;
        li->last_drop = ps.ps_drop;
        li->last_ifdrop = ps.ps_ifdrop;
        dlp_capture__count(c, DLP_STAT_CAP_KERNEL_DROPS, drop);
        dlp_capture__count(c, DLP_STAT_DROPPED, drop);
        dlp_capture__count(c, DLP_STAT_CAP_IF_DROPS, ifdrop);
    }
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
    .close = live_close,
};

static dlp_rc_t live_alloc(live_capture_t *lc, const char *const *ifaces, size_t n)
{
    lc->ifs = calloc(n, sizeof(*lc->ifs));
    lc->pfds = calloc(n + 1, sizeof(*lc->pfds));
    if (lc->ifs == NULL || lc->pfds == NULL)
        return DLP_ENOMEM;
    lc->n = n;
    for (size_t i = 0; i < n; i++) {
        lc->ifs[i].name = strdup(ifaces[i]);
        if (lc->ifs[i].name == NULL)
            return DLP_ENOMEM;
    }
    return DLP_OK;
}

dlp_capture_t *dlp_capture_open_live(const char *const *ifaces, size_t n, const char *bpf,
                                     const dlp_capture_live_opts_t *o, dlp_stats_t *st, char *err,
                                     size_t errlen)
{
    dlp_capture_live_opts_t defaults;
    live_capture_t *lc = NULL;

    if (o == NULL) {
        dlp_capture_live_opts_default(&defaults);
        o = &defaults;
    }
    if (ifaces == NULL || check_opts(o, n, err, errlen) != DLP_OK)
        return NULL;
    if (bpf != NULL && bpf[0] == '\0')
        bpf = NULL;
    lc = calloc(1, sizeof(*lc));
    if (lc == NULL)
        goto nomem;
    dlp_capture__init(&lc->base, &live_ops, st, true);
    lc->wake_fd = -1;
    lc->timeout_ms = o->timeout_ms;
    if (live_alloc(lc, ifaces, n) != DLP_OK)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (open_one(&lc->ifs[i], bpf, o, err, errlen) != DLP_OK)
            goto fail;
        lc->pfds[i].fd = pcap_get_selectable_fd(lc->ifs[i].p);
        lc->pfds[i].events = POLLIN;
    }
    lc->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (lc->wake_fd < 0) {
        dlp_capture__err(err, errlen, "capture: eventfd: %s", strerror(errno));
        goto fail;
    }
    lc->pfds[n].fd = lc->wake_fd;
    lc->pfds[n].events = POLLIN;
    return &lc->base;
nomem:
    dlp_capture__err(err, errlen, "capture: out of memory");
fail:
    if (lc != NULL)
        live_close(&lc->base);
    return NULL;
}
