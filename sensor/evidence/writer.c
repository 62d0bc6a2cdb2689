/*
 * writer.c - evidence captures, the writer's side: the thread that turns a
 * finished flow's buffer into DIR/<flow_id>.pcap (evidence.h).
 *
 * Design: the output thread submits flows on an SPSC queue; the writer
 * thread overwrites the ranges' bytes (unless raw), computes the file's
 * size, checks the run's total bound, then creates the file with O_CREAT|
 * O_EXCL|O_NOFOLLOW and mode 0600 (so it never follows a planted link nor
 * replaces a file, and umask cannot widen it) and writes the records
 * through one fixed buffer of EV_WBUF bytes: the flow's buffer, already
 * charged to its worker's memcap, is not copied whole again. A failed write
 * removes the partial file. Once the total bound refuses a file, no file is
 * written any more this run (counted, one warning a minute).
 *
 * Threading: dlp_evidence_new/free by the control thread, submit/settle by
 * the output thread (the first submit starts the writer thread), everything
 * else in the writer thread. The counters
 * are the writer thread's alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlp/evidence.h"
#include "dlp/log.h"
#include "dlp/mem.h"
#include "dlp/timefmt.h"
#include "evidence_int.h"

#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_SNAPLEN 262144u
#define LINKTYPE_ETHERNET 1u
#define LINKTYPE_RAW 101u /* DLT_RAW (12 on Linux) in files */
#define ETH_HDR 14u
#define EV_WBUF (64u * 1024) /* the writer's output buffer */
#define EV_START_RETRY_S 10u /* after a failed start, the next attempt no sooner */

struct dlp_evidence {
    dlp_stats_t st; /* first: cache-line aligned */
    dlp_evidence_limits_t l;
    int dirfd;
    char dir[256];
    bool wait;
    dlp_ring_t *q; /* dlp_evidence_flow_t *, output thread -> writer */
    pthread_t th;
    bool running;
    atomic_int quit;
    uint64_t submitted; /* the submitting thread's */
    _Atomic uint64_t done;
    uint64_t total; /* file bytes written (writer thread) */
    bool full;      /* the total bound refused a file */
    dlp_ratelimit_t rl_full, rl_err;
    uint8_t *wbuf; /* EV_WBUF bytes (writer thread) */
    /* The failed starts of the writer thread (the submitting thread's). */
    uint64_t start_fails;   /* attempts since the last success */
    uint64_t start_drops;   /* flows dropped since the first failed attempt */
    uint64_t start_next_ns; /* no attempt before (monotonic) */
    dlp_ratelimit_t rl_start;
};

/* --- redaction ---------------------------------------------------------------- */

/* The first of the n sorted, disjoint ranges that ends after 'off'. */
static uint16_t first_range(const ev_range_t *r, uint16_t n, uint64_t off)
{
    uint16_t lo = 0, hi = n;

    while (lo < hi) {
        uint16_t mid = (uint16_t)(lo + (hi - lo) / 2);
        if (r[mid].hi <= off)
            lo = (uint16_t)(mid + 1);
        else
            hi = mid;
    }
    return lo;
}

/* Overwrites r's payload bytes inside f's ranges; returns how many. */
static uint64_t redact_rec(const dlp_evidence_flow_t *f, ev_rec_t *r)
{
    int d = r->dir & 1;
    uint8_t *pl = ev_rec_frame(r) + r->payload_off;
    uint64_t n = 0, off, end, len = r->payload_len;

    if (!dlp_evidence__offset(f, r, &off) || f->all[d]) {
        memset(pl, 'X', r->payload_len);
        return r->payload_len;
    }
    /* A packet that starts before the stream's first byte (picked up
     * midstream, then an older retransmission) wraps: its bytes before
     * offset 0 never reached detection (nothing known of them: overwritten,
     * as a value may have started there); the rest as the ranges say. */
    if ((int64_t)off < 0) {
        uint64_t before = (uint64_t)0 - off;
        if (before >= len) {
            memset(pl, 'X', len);
            return len;
        }
        memset(pl, 'X', (size_t)before);
        n = before;
        pl += before;
        len -= before;
        off = 0;
    }
    end = off + len;
    for (uint16_t i = first_range(f->r[d], f->nr[d], off); i < f->nr[d] && f->r[d][i].lo < end;
         i++) {
        uint64_t a = f->r[d][i].lo > off ? f->r[d][i].lo : off;
        uint64_t b = f->r[d][i].hi < end ? f->r[d][i].hi : end;
        if (a >= b)
            continue;
        if (!r->tcp) { /* a datagram is overwritten whole */
            memset(ev_rec_frame(r) + r->payload_off, 'X', r->payload_len);
            return r->payload_len;
        }
        memset(pl + (a - off), 'X', (size_t)(b - a));
        n += b - a;
    }
    return n;
}

static uint64_t sum16(uint64_t s, const uint8_t *p, size_t n)
{
    for (; n > 1; n -= 2, p += 2)
        s += (uint32_t)p[0] << 8 | p[1];
    if (n > 0)
        s += (uint32_t)p[0] << 8;
    return s;
}

/* Where r's TCP/UDP checksum is (0: no header to rewrite). */
static uint32_t csum_at(const ev_rec_t *r)
{
    uint32_t at = r->proto == 6 ? 16 : 6;

    if ((r->proto != 6 && r->proto != 17) || (r->ipver != 4 && r->ipver != 6) ||
        r->l4_off < r->l3_off || r->payload_off < r->l4_off || r->payload_off - r->l4_off < at + 2)
        return 0;
    return r->l4_off + at;
}

/* The folded sum of r's pseudo header and segment (0xffff: its checksum is
 * right); 0 when the capture does not hold all of the segment. */
static uint16_t seg_sum(ev_rec_t *r)
{
    const uint8_t *fr = ev_rec_frame(r), *ip = fr + r->l3_off;
    uint32_t l4len = r->payload_off - r->l4_off + r->payload_len;
    uint64_t s;

    if (r->payload_wire > r->payload_len)
        return 0;
    s = sum16(0, ip + (r->ipver == 4 ? 12 : 8), r->ipver == 4 ? 8 : 32);
    s += r->proto + (l4len >> 16) + (l4len & 0xffff);
    s = sum16(s, fr + r->l4_off, l4len);
    while (s > 0xffff)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)s;
}

/*
 * The TCP/UDP checksum of r after its payload was overwritten ('at' from
 * csum_at). The old one must not stay: a sum over the segment, with every
 * other byte known it tells 16 bits of the value (and marks the packet bad).
 * Recomputed when the capture holds all of the segment, else 0. 'was_bad':
 * the old one was wrong (an insertion's junk copy the receiver dropped), so
 * the new one is wrong too, by one bit: the evidence still shows which copy
 * a receiver kept. A wrong field of 0 (UDP/IPv4 "none", a generator, an
 * offloading NIC) is left 0: it says nothing of the value.
 */
static void l4_checksum(ev_rec_t *r, uint32_t at, bool was_bad)
{
    uint8_t *c = ev_rec_frame(r) + at;
    bool unset = was_bad && c[0] == 0 && c[1] == 0;
    uint16_t v;

    c[0] = c[1] = 0;
    if (unset || r->payload_wire > r->payload_len)
        return;
    v = (uint16_t)~seg_sum(r);
    if (v == 0 && r->proto == 17)
        v = 0xffff; /* UDP: 0 would mean none */
    if (was_bad) /* +-1: never 0 <-> 0xffff, the same in ones' complement */
        v ^= v == 1 && r->proto == 17 ? 3 : 1;
    c[0] = (uint8_t)(v >> 8);
    c[1] = (uint8_t)v;
}

/* A TCP packet with bytes before its direction's first stream byte. */
static bool before_start(const dlp_evidence_flow_t *f, const ev_rec_t *r)
{
    uint64_t off;

    return r->tcp && dlp_evidence__offset(f, r, &off) && (int64_t)off < 0;
}

uint64_t dlp_evidence__redact_all(dlp_evidence_flow_t *f)
{
    ev_iter_t it;
    ev_rec_t *r;
    uint64_t n = 0;

    dlp_evidence__iter(f, &it);
    while ((r = dlp_evidence__next(&it)) != NULL)
        if (r->payload_len > 0 &&
            (f->nr[r->dir & 1] > 0 || f->all[r->dir & 1] || before_start(f, r))) {
            uint32_t at = csum_at(r);
            bool was_bad = at > 0 && seg_sum(r) != 0xffff;
            uint64_t k = redact_rec(f, r);
            if (k > 0 && at > 0)
                l4_checksum(r, at, was_bad);
            n += k;
        }
    return n;
}

/* --- the pcap image ----------------------------------------------------------- */

static uint32_t file_linktype(uint16_t dlt)
{
    return dlt == DLP_LINK_RAW ? LINKTYPE_RAW : dlt;
}

/* Bytes of r in a file of link type 'lt' (0: left out); *skip: frame bytes
 * not written, *eth: a made-up Ethernet header goes first. */
static uint32_t rec_len(const ev_rec_t *r, uint16_t lt, uint32_t *skip, bool *eth)
{
    *skip = 0;
    *eth = false;
    if (r->linktype == lt)
        return r->caplen;
    if (r->l3_off > r->caplen || (lt != DLP_LINK_RAW && lt != DLP_LINK_EN10MB))
        return 0;
    *skip = r->l3_off;
    *eth = lt == DLP_LINK_EN10MB;
    return r->caplen - r->l3_off + (*eth ? ETH_HDR : 0);
}

/* Where the image goes: buf[0, cap), written to fd each time it fills
 * (fd -1: in memory, b grown as needed, malloc'd). */
typedef struct wbuf {
    uint8_t *b;
    size_t n, cap;
    int fd;
    int err; /* errno of the first failed write; nothing is written after it */
} wbuf_t;

static void wb_flush(wbuf_t *w)
{
    const uint8_t *p = w->b;

    while (w->n > 0 && w->err == 0) {
        ssize_t k = write(w->fd, p, w->n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->err = k == 0 ? EIO : errno;
            break;
        }
        p += k;
        w->n -= (size_t)k;
    }
    w->n = 0;
}

/* In memory: room for n more bytes (the capacity doubled); false with
 * err ENOMEM. */
static bool wb_grow(wbuf_t *w, size_t n)
{
    size_t cap = w->cap > 0 ? w->cap : 4096;
    uint8_t *b;

    while (cap - w->n < n) {
        if (cap > SIZE_MAX / 2) {
            w->err = ENOMEM;
            return false;
        }
        cap *= 2;
    }
    if ((b = realloc(w->b, cap)) == NULL) {
        w->err = ENOMEM;
        return false;
    }
    w->b = b;
    w->cap = cap;
    return true;
}

static void wb_put(wbuf_t *w, const void *p, size_t n)
{
    const uint8_t *q = p;

    while (n > 0 && w->err == 0) {
        size_t k = w->cap - w->n < n ? w->cap - w->n : n;
        if (k == 0 && w->fd >= 0) { /* no buffer to write through */
            w->err = ENOSPC;
            break;
        }
        if (k == 0) {
            if (!wb_grow(w, n))
                break;
            continue;
        }
        memcpy(w->b + w->n, q, k);
        w->n += k;
        q += k;
        n -= k;
        if (w->n == w->cap && w->fd >= 0)
            wb_flush(w);
    }
}

static void wb_put32(wbuf_t *w, uint32_t v)
{
    wb_put(w, &v, 4);
}

static void put_header(wbuf_t *w, uint32_t linktype)
{
    uint16_t ver[2] = {2, 4};

    wb_put32(w, PCAP_MAGIC_US);
    wb_put(w, ver, sizeof(ver));
    wb_put32(w, 0); /* thiszone */
    wb_put32(w, 0); /* sigfigs */
    wb_put32(w, PCAP_SNAPLEN);
    wb_put32(w, linktype);
}

static void put_rec(wbuf_t *w, ev_rec_t *r, uint32_t len, uint32_t skip, bool eth)
{
    static const uint8_t mac[12] = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
    uint32_t orig = (r->wirelen > skip ? r->wirelen - skip : 0) + (eth ? ETH_HDR : 0);
    uint8_t type[2] = {r->ipver == 6 ? 0x86 : 0x08, r->ipver == 6 ? 0xdd : 0x00};

    wb_put32(w, (uint32_t)(r->ts_us / 1000000));
    wb_put32(w, (uint32_t)(r->ts_us % 1000000));
    wb_put32(w, len);
    wb_put32(w, orig > len ? orig : len);
    if (eth) {
        wb_put(w, mac, sizeof(mac));
        wb_put(w, type, sizeof(type));
    }
    wb_put(w, ev_rec_frame(r) + skip, r->caplen - skip);
}

/* The file's link type: its first packet's. */
static uint16_t first_linktype(const dlp_evidence_flow_t *f)
{
    ev_iter_t it;
    const ev_rec_t *r;

    dlp_evidence__iter(f, &it);
    r = dlp_evidence__next(&it);
    return r != NULL ? r->linktype : 0;
}

size_t dlp_evidence__size(const dlp_evidence_flow_t *f)
{
    ev_iter_t it;
    ev_rec_t *r;
    uint16_t lt = first_linktype(f);
    size_t size = 24;
    uint32_t skip;
    bool eth;

    dlp_evidence__iter(f, &it);
    while ((r = dlp_evidence__next(&it)) != NULL) {
        uint32_t len = rec_len(r, lt, &skip, &eth);
        size += len > 0 ? 16 + len : 0;
    }
    return size == 24 ? 0 : size;
}

static void put_image(const dlp_evidence_flow_t *f, wbuf_t *w)
{
    ev_iter_t it;
    ev_rec_t *r;
    uint16_t lt = first_linktype(f);
    uint32_t skip;
    bool eth;

    put_header(w, file_linktype(lt));
    dlp_evidence__iter(f, &it);
    while ((r = dlp_evidence__next(&it)) != NULL) {
        uint32_t len = rec_len(r, lt, &skip, &eth);
        if (len > 0)
            put_rec(w, r, len, skip, eth);
    }
}

/* The buffer grows with the image rather than being sized by _size: the
 * tests compare the two, and an image that disagreed with _size came out
 * cut short, or with uninitialised bytes at its end, as if whole. */
size_t dlp_evidence__render(const dlp_evidence_flow_t *f, uint8_t **out)
{
    wbuf_t w = {.fd = -1};

    *out = NULL;
    put_image(f, &w);
    if (w.err != 0 || w.n <= 24) { /* out of memory, or no packet in it */
        free(w.b);
        return 0;
    }
    *out = w.b;
    return w.n;
}

dlp_rc_t dlp_evidence__write_file(int dirfd, const dlp_evidence_flow_t *f, uint8_t *buf,
                                  size_t cap)
{
    char name[32];
    wbuf_t w = {.b = buf, .cap = cap};

    snprintf(name, sizeof(name), "%" PRIu64 ".pcap", f->flow_id);
    w.fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w.fd < 0)
        return DLP_EIO;
    put_image(f, &w);
    wb_flush(&w);
    if (close(w.fd) != 0 && w.err == 0)
        w.err = errno;
    if (w.err == 0)
        return DLP_OK;
    unlinkat(dirfd, name, 0);
    errno = w.err;
    return DLP_EIO;
}

/* --- the thread ------------------------------------------------------------------- */

static void write_flow(dlp_evidence_t *e, dlp_evidence_flow_t *f)
{
    size_t n;

    if (!e->l.raw)
        dlp_stat_add(&e->st, DLP_STAT_EVIDENCE_REDACTED, dlp_evidence__redact_all(f));
    n = dlp_evidence__size(f);
    if (n == 0) {
        dlp_stat_inc(&e->st, DLP_STAT_EVIDENCE_WRITE_ERRORS);
        return;
    }
    if (e->full || e->total + n > e->l.max_total_bytes) {
        e->full = true;
        dlp_stat_inc(&e->st, DLP_STAT_EVIDENCE_TOTAL_CAP);
        dlp_log_limited(&e->rl_full, DLP_LOG_WARN,
                        "evidence: the run's bound of %" PRIu64 " bytes is reached: "
                        "no more capture files are written",
                        e->l.max_total_bytes);
    } else if (dlp_evidence__write_file(e->dirfd, f, e->wbuf, EV_WBUF) != DLP_OK) {
        int err = errno;
        dlp_stat_inc(&e->st, DLP_STAT_EVIDENCE_WRITE_ERRORS);
        dlp_log_limited(&e->rl_err, DLP_LOG_WARN, "evidence: %s/%" PRIu64 ".pcap: %s", e->dir,
                        f->flow_id, strerror(err));
    } else {
        e->total += n;
        dlp_stat_inc(&e->st, DLP_STAT_EVIDENCE_FILES);
        dlp_stat_add(&e->st, DLP_STAT_EVIDENCE_BYTES, n);
    }
}

static void *writer_main(void *arg)
{
    dlp_evidence_t *e = arg;
    dlp_evidence_flow_t *f;
    dlp_backoff_t b;

    dlp_backoff_init(&b, 2000);
    for (;;) {
        if (dlp_ring_pop(e->q, &f)) {
            write_flow(e, f);
            dlp_evidence_flow_free(f);
            atomic_fetch_add_explicit(&e->done, 1, memory_order_release);
            dlp_backoff_reset(&b);
            continue;
        }
        if (atomic_load(&e->quit))
            return NULL;
        dlp_backoff_wait(&b);
    }
}

/*
 * The writer thread starts with the first flow, on the output thread: after
 * the privilege drop (-u), which a thread started earlier would escape
 * (no_new_privs and the capability sets are per thread).
 *
 * A start that fails (EAGAIN: out of threads or memory) is tried again at
 * most once per EV_START_RETRY_S, not at each submit: a retry per flow would
 * cost a clone() and a log line per flow just when the system is short of
 * both. The first failure is logged; the next ones, rate-limited, with the
 * counts. Flows submitted meanwhile are dropped: submit returns false, and
 * its caller counts evidence.queue_drops.
 */
static bool start(dlp_evidence_t *e)
{
    uint64_t now;
    int rc;

    if (e->running)
        return true;
    now = dlp_time_mono_ns();
    if (e->start_fails > 0 && now < e->start_next_ns) {
        e->start_drops++;
        return false;
    }
    rc = pthread_create(&e->th, NULL, writer_main, e);
    if (rc != 0) {
        e->start_fails++;
        e->start_drops++;
        e->start_next_ns = now + EV_START_RETRY_S * 1000000000ull;
        if (e->start_fails == 1)
            dlp_log(DLP_LOG_ERR,
                    "evidence: cannot start the writer thread: %s; evidence is dropped "
                    "(evidence.queue_drops), tried again every %u s",
                    strerror(rc), EV_START_RETRY_S);
        else
            dlp_log_limited(&e->rl_start, DLP_LOG_ERR,
                            "evidence: still cannot start the writer thread: %s "
                            "(%" PRIu64 " attempts, %" PRIu64 " flows dropped)",
                            strerror(rc), e->start_fails, e->start_drops);
        return false;
    }
    if (e->start_fails > 0)
        dlp_log(DLP_LOG_WARN,
                "evidence: the writer thread started after %" PRIu64 " failed attempts "
                "(%" PRIu64 " flows dropped)",
                e->start_fails, e->start_drops);
    e->start_fails = 0;
    e->start_drops = 0;
    e->running = true;
    pthread_setname_np(e->th, "dlp-evidence");
    return true;
}

bool dlp_evidence_submit(dlp_evidence_t *e, dlp_evidence_flow_t *f)
{
    dlp_backoff_t b;

    if (!start(e)) {
        dlp_evidence_flow_free(f);
        return false;
    }
    if (!dlp_ring_push(e->q, &f)) {
        if (!e->wait) {
            dlp_evidence_flow_free(f);
            return false;
        }
        dlp_backoff_init(&b, 1000);
        while (!dlp_ring_push(e->q, &f))
            dlp_backoff_wait(&b);
    }
    e->submitted++;
    return true;
}

void dlp_evidence_settle(dlp_evidence_t *e)
{
    dlp_backoff_t b;

    if (e == NULL || !e->running)
        return;
    dlp_backoff_init(&b, 1000);
    while (atomic_load_explicit(&e->done, memory_order_acquire) < e->submitted)
        dlp_backoff_wait(&b);
}

const dlp_stats_t *dlp_evidence_counters(const dlp_evidence_t *e)
{
    return &e->st;
}

bool dlp_evidence_writable(const dlp_evidence_t *e)
{
    return faccessat(e->dirfd, ".", W_OK | X_OK, AT_EACCESS) == 0;
}

/* --- life cycle --------------------------------------------------------------------- */

/* Opens (or makes) the directory; false with the reason in err. */
static bool open_dir(dlp_evidence_t *e, const char *dir, char *err, size_t errlen)
{
    struct stat st;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "evidence directory %s: %s", dir, strerror(errno));
        return false;
    }
    e->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (e->dirfd < 0 || fstat(e->dirfd, &st) != 0) {
        snprintf(err, errlen, "evidence directory %s: %s", dir,
                 errno == ENOTDIR ? "not a directory" : strerror(errno));
        return false;
    }
    if (st.st_mode & 077)
        dlp_log(DLP_LOG_WARN,
                "evidence directory %s is open to other users (mode %03o): "
                "its captures are sensitive",
                dir, (unsigned)(st.st_mode & 0777));
    return true;
}

dlp_evidence_t *dlp_evidence_new(const char *dir, const dlp_evidence_limits_t *l, bool wait,
                                 char *err, size_t errlen)
{
    dlp_evidence_t *e = dlp_calloc_aligned(sizeof(*e));

    if (e == NULL) {
        snprintf(err, errlen, "evidence: out of memory");
        return NULL;
    }
    dlp_stats_init(&e->st);
    e->dirfd = -1;
    e->l = *l;
    e->wait = wait;
    e->rl_full = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(60);
    e->rl_err = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(10);
    e->rl_start = (dlp_ratelimit_t)DLP_RATELIMIT_INIT(60);
    snprintf(e->dir, sizeof(e->dir), "%s", dir);
    if (!open_dir(e, dir, err, errlen))
        goto fail;
    e->q = dlp_ring_new(sizeof(dlp_evidence_flow_t *), DLP_EVIDENCE_QUEUE);
    e->wbuf = malloc(EV_WBUF);
    if (e->q == NULL || e->wbuf == NULL) {
        snprintf(err, errlen, "evidence: out of memory");
        goto fail;
    }
    if (l->raw)
        dlp_log(DLP_LOG_WARN,
                "evidence captures keep raw values: the evidence directory holds personal data");
    return e;
fail:
    dlp_evidence_free(e);
    return NULL;
}

void dlp_evidence_free(dlp_evidence_t *e)
{
    dlp_evidence_flow_t *f;

    if (e == NULL)
        return;
    if (e->running) {
        dlp_evidence_settle(e);
        atomic_store(&e->quit, 1);
        pthread_join(e->th, NULL);
    }
    while (e->q != NULL && dlp_ring_pop(e->q, &f))
        dlp_evidence_flow_free(f);
    dlp_ring_free(e->q);
    free(e->wbuf);
    if (e->dirfd >= 0)
        close(e->dirfd);
    free(e);
}
