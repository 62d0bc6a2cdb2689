/*
 * test_capture_fanout.c - dlp_capture_open_fanout on veth pairs whose other
 * ends are in a network namespace the test creates (root only: skipped
 * otherwise). Frames are crafted and sent with AF_PACKET sockets, from the
 * namespace end (received by the captured end, as from a tap) or on the
 * captured end itself (transmitted: the host's own traffic). Every namespace
 * and interface is named after the pid and removed by the teardown, also
 * after a failed test.
 *
 * The IPPAIR tests recompute the member of every frame with an independent
 * implementation of the documented hash (capture.h) and compare.
 */
#include "dlp_test.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "dlp/capture.h"
#include "dlp/log.h"
#include "dlp/stats.h"

extern char **environ;

#define FILTER "ether src 02:00:00:00:00:01"
#define MAGIC 0xd1f0
#define TRAILER 8 /* magic(2) flow(2) dir(1) seq(1) handle-independent pad(2) */
#define MAX_FRAMES 4096
#define NH 2 /* handles per group in most tests */

typedef struct fixture {
    bool root;
    char ns[32];
    char a[IFNAMSIZ], b[IFNAMSIZ], c[IFNAMSIZ], d[IFNAMSIZ]; /* a, c here; b, d in ns */
    int to_a, to_c;         /* in ns on b and d: what they send, a and c receive */
    int on_a;               /* here on a: what it sends, a transmits */
    int32_t group;          /* a group id for this run */
    dlp_capture_t *open[8]; /* closed by the teardown if a failed test left them */
    dlp_stats_t st;
    char err[512];
} fixture_t;

/*
 * IP identification of the datagrams built: new for each fragmented one, and
 * from the pid, so no run meets what the kernel keeps of an earlier run's
 * fragments (30 s).
 */
static uint32_t g_frag_id;

/* --- namespace and interfaces ---------------------------------------------------- */

static const char *ip_path(void)
{
    static const char *const cand[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};
    for (size_t i = 0; i < DLP_ARRAY_LEN(cand); i++) {
        if (access(cand[i], X_OK) == 0)
            return cand[i];
    }
    return "ip";
}

/* Runs ip with the NULL-terminated arguments, output discarded; returns its exit status. */
static int ip_run(const char *arg0, ...)
{
    const char *argv[24];
    size_t n = 0;
    va_list ap;
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1;

    argv[n++] = "ip";
    argv[n++] = arg0;
    va_start(ap, arg0);
    while (n < DLP_ARRAY_LEN(argv) - 1 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid, ip_path(), &fa, NULL, (char *const *)argv, environ) == 0)
        waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    return status;
}

/* Enters namespace 'ns'; returns the fd of the one to go back to, or -1. */
static int enter_ns(const char *ns)
{
    char path[96];
    snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (self < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        if (self >= 0)
            close(self);
        self = -1;
    }
    if (fd >= 0)
        close(fd);
    return self;
}

static void leave_ns(int self)
{
    if (setns(self, CLONE_NEWNET) != 0)
        abort(); /* the rest of the run would be in the wrong namespace */
    close(self);
}

/* No IPv6 router solicitations or MLD reports on the test interfaces. */
static void no_ipv6(const char *ifname)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1) {
            /* IPv6 may be off entirely: nothing to silence */
        }
        close(fd);
    }
}

static int raw_socket(const char *ifname, int *ifindex)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: sends only */
    *ifindex = (int)if_nametoindex(ifname);
    if (s >= 0 && *ifindex == 0) {
        close(s);
        s = -1;
    }
    return s;
}

static int g_idx_a, g_idx_b, g_idx_c, g_idx_d;

static int make_net(fixture_t *fx)
{
    if (ip_run("netns", "add", fx->ns, NULL) != 0 ||
        ip_run("link", "add", fx->a, "type", "veth", "peer", "name", fx->b, "netns", fx->ns,
               NULL) != 0 ||
        ip_run("link", "add", fx->c, "type", "veth", "peer", "name", fx->d, "netns", fx->ns,
               NULL) != 0)
        return -1;
    no_ipv6(fx->a);
    no_ipv6(fx->c);
    int self = enter_ns(fx->ns);
    if (self < 0)
        return -1;
    no_ipv6(fx->b);
    no_ipv6(fx->d);
    fx->to_a = raw_socket(fx->b, &g_idx_b);
    fx->to_c = raw_socket(fx->d, &g_idx_d);
    leave_ns(self);
    fx->on_a = raw_socket(fx->a, &g_idx_a);
    g_idx_c = (int)if_nametoindex(fx->c);
    if (fx->to_a < 0 || fx->to_c < 0 || fx->on_a < 0 || g_idx_c == 0)
        return -1;
    if (ip_run("link", "set", fx->a, "up", NULL) != 0 ||
        ip_run("link", "set", fx->c, "up", NULL) != 0 ||
        ip_run("-n", fx->ns, "link", "set", fx->b, "up", NULL) != 0 ||
        ip_run("-n", fx->ns, "link", "set", fx->d, "up", NULL) != 0)
        return -1;
    return 0;
}

static void remove_net(fixture_t *fx)
{
    if (fx->to_a >= 0)
        close(fx->to_a);
    if (fx->to_c >= 0)
        close(fx->to_c);
    if (fx->on_a >= 0)
        close(fx->on_a);
    fx->to_a = fx->to_c = fx->on_a = -1;
    ip_run("link", "del", fx->a, NULL); /* takes its peer b along */
    ip_run("link", "del", fx->c, NULL);
    ip_run("netns", "del", fx->ns, NULL);
}

/* Removes what a run that crashed (no teardown) left: names with the pid of a dead process. */
static void remove_stale(void)
{
    DIR *d = opendir("/var/run/netns");
    struct dirent *e;
    char a[IFNAMSIZ], c[IFNAMSIZ];
    while (d != NULL && (e = readdir(d)) != NULL) {
        int pid;
        char end;
        if (sscanf(e->d_name, "dlpfo%d%c", &pid, &end) != 1 || pid <= 0 || kill(pid, 0) == 0 ||
            errno != ESRCH)
            continue;
        snprintf(a, sizeof(a), "dlpfa%d", pid);
        snprintf(c, sizeof(c), "dlpfc%d", pid);
        ip_run("link", "del", a, NULL);
        ip_run("link", "del", c, NULL);
        ip_run("netns", "del", e->d_name, NULL);
    }
    if (d != NULL)
        closedir(d);
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    int pid = (int)getpid();
    if (fx == NULL)
        return -1;
    *state = fx;
    dlp_stats_init(&fx->st);
    fx->to_a = fx->to_c = fx->on_a = -1;
    fx->root = geteuid() == 0;
    if (!fx->root)
        return 0;
    snprintf(fx->ns, sizeof(fx->ns), "dlpfo%d", pid);
    snprintf(fx->a, sizeof(fx->a), "dlpfa%d", pid);
    snprintf(fx->b, sizeof(fx->b), "dlpfb%d", pid);
    snprintf(fx->c, sizeof(fx->c), "dlpfc%d", pid);
    snprintf(fx->d, sizeof(fx->d), "dlpfd%d", pid);
    fx->group = 1000 + (int32_t)((unsigned)pid % 60000u);
    g_frag_id = (uint32_t)pid << 12;
    remove_stale();
    if (make_net(fx) != 0) {
        fprintf(stderr, "setup: cannot create the namespace and veth pairs\n");
        remove_net(fx);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    for (size_t i = 0; i < DLP_ARRAY_LEN(fx->open); i++)
        dlp_capture_close(fx->open[i]);
    if (fx->root)
        remove_net(fx);
    free(fx);
    return 0;
}

/* Remembers h (may be NULL) for the teardown; returns it. */
static dlp_capture_t *track(fixture_t *fx, dlp_capture_t *h)
{
    for (size_t i = 0; h != NULL && i < DLP_ARRAY_LEN(fx->open); i++) {
        if (fx->open[i] == NULL) {
            fx->open[i] = h;
            return h;
        }
    }
    assert_null(h); /* no room left: a test opens too many */
    return h;
}

static void fx_close(fixture_t *fx, dlp_capture_t *h)
{
    for (size_t i = 0; i < DLP_ARRAY_LEN(fx->open); i++) {
        if (fx->open[i] == h)
            fx->open[i] = NULL;
    }
    dlp_capture_close(h);
}

/* open_fanout, the handle tracked; the error in fx->err. */
static dlp_capture_t *fx_open(fixture_t *fx, const char *const *ifs, const int32_t *groups,
                              size_t n, dlp_fanout_mode_t mode, const char *bpf,
                              const dlp_capture_live_opts_t *o)
{
    fx->err[0] = '\0';
    return track(fx, dlp_capture_open_fanout(ifs, groups, n, mode, bpf, o, &fx->st, fx->err,
                                             sizeof(fx->err)));
}

/* --- frames ------------------------------------------------------------------------ */

typedef struct flow {
    bool v6;
    uint8_t cli[16], srv[16];
    uint16_t cport, sport;
    uint8_t proto; /* IPPROTO_UDP or IPPROTO_TCP */
    int tags;      /* VLAN tags: 0 to 3 (802.1ad outside 802.1Q if more than one) */
    uint16_t pad;  /* payload bytes before the trailer, beyond the usual 16 */
} flow_t;

typedef struct frame {
    uint8_t b[2048];
    size_t n;
    uint16_t ethertype; /* outermost */
} frame_t;

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t ip4_checksum(const uint8_t *h)
{
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2)
        sum += get16(h + i);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet + tags; returns the offset of the L3 header. */
static size_t put_l2(frame_t *f, int tags, uint16_t l3type)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
    size_t o = 12;
    memcpy(f->b, macs, sizeof(macs));
    for (int t = 0; t < tags; t++) {
        put16(f->b + o, t == 0 && tags >= 2 ? 0x88a8 : 0x8100);
        put16(f->b + o + 2, (uint16_t)(100 + t));
        o += 4;
    }
    put16(f->b + o, l3type);
    f->ethertype = tags > 0 ? (tags >= 2 ? 0x88a8 : 0x8100) : l3type;
    return o + 2;
}

/* IP header at o for 'l4len' bytes of payload, fragment fields given; returns its length. */
static size_t put_ip(frame_t *f, size_t o, const flow_t *fl, int dir, size_t l4len,
                     uint16_t frag_off, bool more, uint8_t next)
{
    const uint8_t *src = dir == 0 ? fl->cli : fl->srv, *dst = dir == 0 ? fl->srv : fl->cli;
    uint8_t *h = f->b + o;
    if (!fl->v6) {
        memset(h, 0, 20);
        h[0] = 0x45;
        put16(h + 2, (uint16_t)(20 + l4len));
        put16(h + 4, (uint16_t)g_frag_id);
        put16(h + 6, (uint16_t)((more ? 0x2000 : 0) | frag_off / 8));
        h[8] = 64;
        h[9] = next;
        memcpy(h + 12, src, 4);
        memcpy(h + 16, dst, 4);
        put16(h + 10, ip4_checksum(h));
        return 20;
    }
    bool frag = frag_off != 0 || more;
    memset(h, 0, 40);
    h[0] = 0x60;
    put16(h + 4, (uint16_t)(l4len + (frag ? 8 : 0)));
    h[6] = frag ? 44 : next;
    h[7] = 64;
    memcpy(h + 8, src, 16);
    memcpy(h + 24, dst, 16);
    if (!frag)
        return 40;
    memset(h + 40, 0, 8);
    h[40] = next;
    put16(h + 42, (uint16_t)(frag_off | (more ? 1 : 0)));
    put16(h + 44, (uint16_t)(g_frag_id >> 16));
    put16(h + 46, (uint16_t)g_frag_id);
    return 48;
}

/* One whole packet of flow 'id' in direction 'dir' (0: client to server), with a trailer. */
static void make_packet(frame_t *f, const flow_t *fl, uint16_t id, int dir, uint8_t seq)
{
    size_t l3 = put_l2(f, fl->tags, fl->v6 ? ETH_P_IPV6 : ETH_P_IP);
    size_t l4len = (fl->proto == IPPROTO_TCP ? 20 : 8) + 16u + fl->pad + TRAILER;
    size_t iph = put_ip(f, l3, fl, dir, l4len, 0, false, fl->proto);
    uint8_t *l4 = f->b + l3 + iph;
    memset(l4, 0, l4len);
    put16(l4, dir == 0 ? fl->cport : fl->sport);
    put16(l4 + 2, dir == 0 ? fl->sport : fl->cport);
    if (fl->proto == IPPROTO_TCP) {
        l4[12] = 5 << 4;
        l4[13] = 0x18; /* PSH ACK */
    } else {
        put16(l4 + 4, (uint16_t)l4len);
    }
    f->n = l3 + iph + l4len;
    uint8_t *t = f->b + f->n - TRAILER;
    put16(t, MAGIC);
    put16(t + 2, id);
    t[4] = (uint8_t)dir;
    t[5] = seq;
}

static void send_on(int s, int ifindex, const frame_t *f)
{
    struct sockaddr_ll to = {.sll_family = AF_PACKET,
                             .sll_ifindex = ifindex,
                             .sll_protocol = htons(f->ethertype),
                             .sll_halen = 6,
                             .sll_addr = {2, 0, 0, 0, 0, 2}};
    ssize_t r = sendto(s, f->b, f->n, 0, (struct sockaddr *)&to, sizeof(to));
    assert_int_equal(r, (ssize_t)f->n);
}

/* --- the documented IPPAIR hash, reimplemented --------------------------------------- */

static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static uint32_t poly(const uint8_t *a)
{
    uint32_t h = get32(a);
    for (int w = 1; w < 4; w++)
        h = h * 0x9e3779b1u + get32(a + 4 * w);
    return h;
}

static uint32_t ippair_member(const flow_t *fl, uint32_t members)
{
    uint32_t h = fl->v6 ? poly(fl->cli) + poly(fl->srv) : get32(fl->cli) + get32(fl->srv);
    return fmix32(h) % members;
}

/* --- flows -------------------------------------------------------------------------- */

enum { NPAIRS = 18, FLOWS_PER_PAIR = 3, NFLOWS = NPAIRS * FLOWS_PER_PAIR, PKTS_PER_DIR = 4 };

/* Fixed address pairs: 12 IPv4, 6 IPv6, with 0 to max_tags VLAN tags in turn; 3 flows each. */
static void make_flows(flow_t *fl, int max_tags)
{
    uint32_t x = 12345; /* fixed seed */
    for (int p = 0; p < NPAIRS; p++) {
        flow_t base;
        memset(&base, 0, sizeof(base));
        base.v6 = p >= 12;
        base.tags = max_tags == 0 ? 0 : p % (max_tags + 1);
        for (int i = 0; i < 16; i++) {
            x = x * 1103515245u + 12345u;
            base.cli[i] = (uint8_t)(x >> 16);
            x = x * 1103515245u + 12345u;
            base.srv[i] = (uint8_t)(x >> 16);
        }
        if (!base.v6) {
            base.cli[0] = 10;
            base.srv[0] = 192;
            base.srv[1] = 0;
            base.srv[2] = 2;
        } else {
            base.cli[0] = 0xfd;
            put16(base.srv, 0x2001);
            put16(base.srv + 2, 0x0db8);
        }
        for (int k = 0; k < FLOWS_PER_PAIR; k++) {
            flow_t *f = &fl[p * FLOWS_PER_PAIR + k];
            *f = base;
            f->proto = k == 1 ? IPPROTO_TCP : IPPROTO_UDP;
            f->cport = (uint16_t)(40000 + p * 10 + k);
            f->sport = k == 1 ? 80 : (uint16_t)(5000 + k);
        }
    }
}

typedef struct seen {
    int handle[NFLOWS][2][PKTS_PER_DIR]; /* -1: not seen */
    int source[NFLOWS][2][PKTS_PER_DIR];
    int per_handle[NH];
    int total;
} seen_t;

/* Sends every flow interleaved; direction d goes out on sock[d] (ifindex idx[d]). */
static void send_flows(const flow_t *fl, const int sock[2], const int idx[2])
{
    frame_t f;
    for (int seq = 0; seq < PKTS_PER_DIR; seq++) {
        for (int id = 0; id < NFLOWS; id++) {
            for (int dir = 0; dir < 2; dir++) {
                make_packet(&f, &fl[id], (uint16_t)id, dir, (uint8_t)seq);
                send_on(sock[dir], idx[dir], &f);
            }
        }
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads the handles in turn until 'want' frames or 5 s; records where each frame went. */
static void collect(dlp_capture_t *const *h, int nh, seen_t *s, int want)
{
    dlp_frame_t f;
    memset(s->handle, -1, sizeof(s->handle));
    memset(s->source, -1, sizeof(s->source));
    memset(s->per_handle, 0, sizeof(s->per_handle));
    s->total = 0;
    uint64_t t0 = mono_ms();
    while (s->total < want && mono_ms() - t0 < 5000) {
        for (int k = 0; k < nh; k++) {
            dlp_rc_t rc;
            while ((rc = dlp_capture_next(h[k], &f)) == DLP_OK) {
                assert_true(f.caplen >= TRAILER && f.caplen == f.wirelen);
                const uint8_t *t = f.data + f.caplen - TRAILER;
                assert_int_equal(get16(t), MAGIC);
                int id = get16(t + 2), dir = t[4], seq = t[5];
                assert_true(id < NFLOWS && dir < 2 && seq < PKTS_PER_DIR);
                assert_int_equal(s->handle[id][dir][seq], -1); /* exactly once */
                s->handle[id][dir][seq] = k;
                s->source[id][dir][seq] = f.source;
                s->per_handle[k]++;
                s->total++;
            }
            assert_int_equal(rc, DLP_AGAIN);
        }
    }
}

/* No flow split; with by_pair, no address pair split and every frame where the hash says. */
static void check_split(const flow_t *fl, const seen_t *s, bool by_pair)
{
    for (int id = 0; id < NFLOWS; id++) {
        int first = s->handle[id][0][0];
        int pair_first = s->handle[id - id % FLOWS_PER_PAIR][0][0];
        for (int dir = 0; dir < 2; dir++) {
            for (int seq = 0; seq < PKTS_PER_DIR; seq++) {
                assert_int_equal(s->handle[id][dir][seq], first);
                if (by_pair) {
                    assert_int_equal(s->handle[id][dir][seq], pair_first);
                    assert_int_equal(s->handle[id][dir][seq], (int)ippair_member(&fl[id], NH));
                }
            }
        }
    }
    for (int k = 0; k < NH; k++)
        assert_true(s->per_handle[k] > 0);
}

static void opts_for_test(dlp_capture_live_opts_t *o)
{
    dlp_capture_live_opts_default(o);
    o->buffer_bytes = 8u << 20;
    o->timeout_ms = 10;
}

/* Opens NH handles on n interfaces, handle k after handle k-1 on every interface. */
static void open_group(fixture_t *fx, const char *const *ifs, const int32_t *groups, size_t n,
                       dlp_fanout_mode_t mode, dlp_capture_t **h)
{
    dlp_capture_live_opts_t o;
    opts_for_test(&o);
    for (int k = 0; k < NH; k++) {
        o.count_if_drops = k == 0;
        h[k] = fx_open(fx, ifs, groups, n, mode, FILTER, &o);
        if (h[k] == NULL)
            fail_msg("open_fanout: %s", fx->err);
    }
}

static void close_all(fixture_t *fx, dlp_capture_t **h, int n)
{
    for (int k = 0; k < n; k++)
        fx_close(fx, h[k]);
}

/* --- tests: traffic ------------------------------------------------------------------- */

/* One traffic case: the handles' interfaces and groups, where each direction is written. */
typedef struct traffic {
    dlp_fanout_mode_t mode;
    int max_tags;
    const char *ifs[2];
    int32_t groups[2];
    int nifs;
    int sock[2], idx[2];
} traffic_t;

/*
 * Opens the group on t's interfaces, sends NFLOWS flows both ways, checks that
 * every packet came back once and that pairs (IPPAIR) or flows stay whole in
 * one handle. The handles stay open in h for the caller's own checks.
 */
static void run_traffic(fixture_t *fx, const traffic_t *t, seen_t *s, dlp_capture_t **h)
{
    static flow_t fl[NFLOWS];

    make_flows(fl, t->max_tags);
    open_group(fx, t->ifs, t->groups, t->nifs, t->mode, h);
    for (int k = 0; k < NH; k++)
        for (int i = 0; i < t->nifs; i++)
            assert_int_equal(dlp_capture_fanout_group(h[k], i), t->groups[i]);
    send_flows(fl, t->sock, t->idx);
    collect(h, NH, s, NFLOWS * 2 * PKTS_PER_DIR);
    assert_int_equal(s->total, NFLOWS * 2 * PKTS_PER_DIR);
    check_split(fl, s, t->mode == DLP_FANOUT_IPPAIR);
}

/* Both directions received (a tap): pairs and flows stay whole, per the documented hash. */
static void run_rx(fixture_t *fx, dlp_fanout_mode_t mode, int max_tags)
{
    static seen_t s;
    dlp_capture_t *h[NH];
    traffic_t t = {mode, max_tags, {fx->a}, {fx->group}, 1, {fx->to_a, fx->to_a},
                   {g_idx_b, g_idx_b}};

    run_traffic(fx, &t, &s, h);
    close_all(fx, h, NH);
}

static void ippair_rx_untagged(void **state)
{
    fixture_t *fx = *state;
    if (!fx->root)
        skip();
    run_rx(fx, DLP_FANOUT_IPPAIR, 0);
}

/* Pairs untagged, with one 802.1Q tag, with 802.1ad + 802.1Q and with 802.1ad + 2 x 802.1Q. */
static void ippair_rx_vlan_and_qinq(void **state)
{
    fixture_t *fx = *state;
    if (!fx->root)
        skip();
    run_rx(fx, DLP_FANOUT_IPPAIR, 3);
}

static void hash_rx_flows_whole(void **state)
{
    fixture_t *fx = *state;
    if (!fx->root)
        skip();
    run_rx(fx, DLP_FANOUT_HASH, 3);
}

/*
 * Client to server received, server to client transmitted by the captured
 * interface itself (written to a packet socket, like tcpreplay): the kernel
 * hands the program the frame at the network header in one case and at the
 * MAC header in the other; a received outer tag is stripped, a transmitted
 * one is not. IPPAIR: pairs with 0 to 3 tags.
 */
static void run_rx_tx(fixture_t *fx, dlp_fanout_mode_t mode, int max_tags)
{
    static seen_t s;
    dlp_capture_t *h[NH];
    traffic_t t = {mode, max_tags, {fx->a}, {fx->group}, 1, {fx->to_a, fx->on_a},
                   {g_idx_b, g_idx_a}};

    run_traffic(fx, &t, &s, h);
    close_all(fx, h, NH);
}

static void ippair_received_and_transmitted(void **state)
{
    fixture_t *fx = *state;
    if (!fx->root)
        skip();
    run_rx_tx(fx, DLP_FANOUT_IPPAIR, 3);
}

/*
 * Untagged only: the kernel's own hash splits transmitted tagged frames from
 * their received answers (measured on 6.18: its flow dissector looks for the
 * tag at the network header, which is already past the tags).
 */
static void hash_received_and_transmitted(void **state)
{
    fixture_t *fx = *state;
    if (!fx->root)
        skip();
    run_rx_tx(fx, DLP_FANOUT_HASH, 0);
}

/*
 * A tap with one output per direction: client to server arrives on a, server
 * to client on c. Each handle holds both interfaces (two groups); a flow's two
 * directions meet in one handle.
 */
static void run_two_ifaces(fixture_t *fx, dlp_fanout_mode_t mode)
{
    static seen_t s;
    dlp_capture_t *h[NH];
    traffic_t t = {mode, 1, {fx->a, fx->c}, {fx->group, fx->group + 1}, 2,
                   {fx->to_a, fx->to_c}, {g_idx_b, g_idx_d}};

    run_traffic(fx, &t, &s, h);
    assert_int_equal(dlp_capture_iface_count(h[0]), 2);
    for (int id = 0; id < NFLOWS; id++) {
        for (int dir = 0; dir < 2; dir++)
            assert_int_equal(s.source[id][dir][0], dir);
    }
    close_all(fx, h, NH);
}

static void ippair_two_interfaces_one_per_direction(void **state)
{
    fixture_t *fx = *state;
    if (!fx->root)
        skip();
    run_two_ifaces(fx, DLP_FANOUT_IPPAIR);
}

static void hash_two_interfaces_one_per_direction(void **state)
{
    fixture_t *fx = *state;
    if (!fx->root)
        skip();
    run_two_ifaces(fx, DLP_FANOUT_HASH);
}

/* --- tests: statistics and the ring bound ----------------------------------------------- */

/* Per-handle totals match what each handle returned; merged, received adds up, if_drops don't. */
static void stats_per_handle_and_merged(void **state)
{
    fixture_t *fx = *state;
    static flow_t fl[NFLOWS];
    static seen_t s;
    dlp_capture_t *h[NH];
    const char *ifs[] = {fx->a};
    int32_t groups[] = {fx->group};
    const int sock[2] = {fx->to_a, fx->to_a}, idx[2] = {g_idx_b, g_idx_b};
    dlp_capture_iface_stats_t one, acc = {0};
    if (!fx->root)
        skip();
    make_flows(fl, 0);
    open_group(fx, ifs, groups, 1, DLP_FANOUT_IPPAIR, h);
    send_flows(fl, sock, idx);
    collect(h, NH, &s, NFLOWS * 2 * PKTS_PER_DIR);
    assert_int_equal(s.total, NFLOWS * 2 * PKTS_PER_DIR);
    for (int k = 0; k < NH; k++) {
        assert_int_equal(dlp_capture_iface_stats(h[k], 0, &one), DLP_OK);
        assert_int_equal(one.received, 0); /* nothing before the first poll */
        dlp_capture_poll_stats(h[k]);
        assert_int_equal(dlp_capture_iface_stats(h[k], 0, &one), DLP_OK);
        assert_string_equal(one.name, fx->a);
        assert_int_equal(one.received, s.per_handle[k]);
        assert_int_equal(one.kernel_drops, 0);
        assert_int_equal(one.if_drops, 0);
        dlp_capture_iface_stats_merge(&acc, &one);
        assert_int_equal(dlp_capture_iface_stats(h[k], 1, &one), DLP_EINVAL);
    }
    assert_string_equal(acc.name, fx->a);
    assert_int_equal(acc.received, NFLOWS * 2 * PKTS_PER_DIR);
    assert_int_equal(dlp_stat_get(&fx->st, DLP_STAT_CAP_RECEIVED), NFLOWS * 2 * PKTS_PER_DIR);
    assert_int_equal(dlp_stat_get(&fx->st, DLP_STAT_CAP_KERNEL_DROPS), 0);
    assert_int_equal(dlp_stat_get(&fx->st, DLP_STAT_CAP_IF_DROPS), 0);
    dlp_capture_poll_stats(h[0]); /* again: nothing new, nothing counted twice */
    assert_int_equal(dlp_stat_get(&fx->st, DLP_STAT_CAP_RECEIVED), NFLOWS * 2 * PKTS_PER_DIR);
    close_all(fx, h, NH);
}

/* if_drops are the interface's: merged they are the largest, never the sum. */
static void merge_keeps_largest_if_drops(void **state)
{
    (void)state;
    dlp_capture_iface_stats_t acc = {0};
    const dlp_capture_iface_stats_t x = {"eth1", 10, 2, 7}, y = {"eth1", 5, 1, 9},
                                    z = {"eth1", 1, 0, 3};
    dlp_capture_iface_stats_merge(&acc, &x);
    dlp_capture_iface_stats_merge(&acc, &y);
    dlp_capture_iface_stats_merge(&acc, &z);
    assert_string_equal(acc.name, "eth1");
    assert_int_equal(acc.received, 16);
    assert_int_equal(acc.kernel_drops, 3);
    assert_int_equal(acc.if_drops, 9);
}

/* The ring (buffer_bytes) fills when nobody reads: the kernel drops and counts the rest. */
static void ring_full_drops_counted(void **state)
{
    fixture_t *fx = *state;
    const char *ifs[] = {fx->a};
    int32_t groups[] = {DLP_FANOUT_GROUP_AUTO};
    dlp_capture_live_opts_t o;
    dlp_capture_iface_stats_t st;
    static flow_t fl[NFLOWS];
    frame_t f;
    dlp_frame_t fr;
    enum { SENT = 3000 };
    int got = 0;
    if (!fx->root)
        skip();
    dlp_capture_live_opts_default(&o);
    o.buffer_bytes = 1u << 20;
    o.timeout_ms = 10;
    dlp_capture_t *h = fx_open(fx, ifs, groups, 1, DLP_FANOUT_IPPAIR, FILTER, &o);
    assert_non_null(h);
    make_flows(fl, 0); /* sends the first flow only */
    fl[0].pad = 1000;
    for (int i = 0; i < SENT; i++) {
        make_packet(&f, &fl[0], 0, 0, 0);
        send_on(fx->to_a, g_idx_b, &f);
    }
    uint64_t t0 = mono_ms();
    while (mono_ms() - t0 < 500) {
        dlp_rc_t rc = dlp_capture_next(h, &fr);
        assert_true(rc == DLP_OK || rc == DLP_AGAIN);
        got += rc == DLP_OK;
    }
    dlp_capture_poll_stats(h);
    assert_int_equal(dlp_capture_iface_stats(h, 0, &st), DLP_OK);
    assert_int_equal(st.received, SENT);
    assert_true(got > 0 && got < SENT);
    assert_int_equal(got + (int)st.kernel_drops, SENT);
    assert_int_equal(dlp_stat_get(&fx->st, DLP_STAT_CAP_KERNEL_DROPS), st.kernel_drops);
    assert_int_equal(dlp_stats_dropped(&fx->st), st.kernel_drops);
    /* 1 MiB holds at most 1 MiB of frames (each about 1.1 KB with its header) */
    assert_true(got < (1 << 20) / 1000);
    fx_close(fx, h);
}

/* --- tests: fragments ------------------------------------------------------------------- */

typedef struct rec {
    int handle;
    uint32_t caplen;
    uint8_t head[128];
} rec_t;

/* Reads every handle for 'ms' or until 'want' frames; returns the count. */
static int drain(dlp_capture_t *const *h, int nh, rec_t *out, int max, int want, uint64_t ms)
{
    dlp_frame_t f;
    int n = 0;
    uint64_t t0 = mono_ms();
    while (n < want && mono_ms() - t0 < ms) {
        for (int k = 0; k < nh; k++) {
            while (dlp_capture_next(h[k], &f) == DLP_OK) {
                assert_true(n < max);
                out[n].handle = k;
                out[n].caplen = f.caplen;
                memcpy(out[n].head, f.data, f.caplen < 128 ? f.caplen : 128);
                n++;
            }
        }
    }
    return n;
}

/* A fragment of flow fl's client-to-server datagram: data[off, off+len) of the L4 bytes. */
static void make_fragment(frame_t *f, const flow_t *fl, const uint8_t *l4, uint16_t off, size_t len,
                          bool more)
{
    size_t l3 = put_l2(f, 0, fl->v6 ? ETH_P_IPV6 : ETH_P_IP);
    size_t iph = put_ip(f, l3, fl, 0, len, off, more, IPPROTO_UDP);
    memcpy(f->b + l3 + iph, l4 + off, len);
    f->n = l3 + iph + len;
}

/* 72 bytes of UDP datagram, cut at 32 and 64 (or, overlapping, at 0-32, 16-48, 48-72). */
static void send_fragments(fixture_t *fx, const flow_t *fl, bool overlap)
{
    uint8_t l4[72];
    frame_t f;
    g_frag_id++;
    for (size_t i = 0; i < sizeof(l4); i++)
        l4[i] = (uint8_t)i;
    put16(l4, fl->cport);
    put16(l4 + 2, fl->sport);
    put16(l4 + 4, sizeof(l4));
    make_fragment(&f, fl, l4, 0, 32, true);
    send_on(fx->to_a, g_idx_b, &f);
    if (overlap) {
        l4[20] ^= 0xff; /* the overlapping copy differs */
        make_fragment(&f, fl, l4, 16, 32, true);
    } else {
        make_fragment(&f, fl, l4, 32, 32, true);
    }
    send_on(fx->to_a, g_idx_b, &f);
    make_fragment(&f, fl, l4, overlap ? 48 : 64, overlap ? 24 : 8, false);
    send_on(fx->to_a, g_idx_b, &f);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* IPPAIR: fragments arrive as sent (IPv4 and IPv6, overlaps too), with their pair. */
static void ippair_fragments_as_sent(void **state)
{
    fixture_t *fx = *state;
    static flow_t fl[NFLOWS];
    static rec_t r[64];
    dlp_capture_t *h[NH];
    const char *ifs[] = {fx->a};
    int32_t groups[] = {fx->group};
    const flow_t *v4 = &fl[0], *v6 = &fl[12 * FLOWS_PER_PAIR];
    if (!fx->root)
        skip();
    make_flows(fl, 0);
    open_group(fx, ifs, groups, 1, DLP_FANOUT_IPPAIR, h);
    send_fragments(fx, v4, false);
    send_fragments(fx, v4, true);
    send_fragments(fx, v6, false);
    int n = drain(h, NH, r, 64, 9, 3000);
    assert_int_equal(n, 9);
    for (int i = 0; i < n; i++) {
        bool is6 = get16(r[i].head + 12) == ETH_P_IPV6;
        assert_int_equal(r[i].handle, (int)ippair_member(is6 ? v6 : v4, NH));
        if (is6)
            assert_int_equal(r[i].head[14 + 6], 44); /* still a fragment */
        else
            assert_true((get16(r[i].head + 14 + 6) & 0x3fff) != 0);
    }
    /* sizes as sent: 14 + 20 + (32, 32, 8), overlapping (32, 32, 24); 14 + 48 + (32, 32, 8) */
    static const uint32_t sizes[] = {42, 58, 66, 66, 66, 66, 70, 94, 94};
    uint32_t got[9];
    for (int i = 0; i < n; i++)
        got[i] = r[i].caplen;
    qsort(got, 9, sizeof(got[0]), cmp_u32);
    assert_memory_equal(got, sizes, sizeof(sizes));
    close_all(fx, h, NH);
}

/* HASH: IPv4 fragments are reassembled by the kernel; overlapping ones never arrive. */
static void hash_defragments_ipv4(void **state)
{
    fixture_t *fx = *state;
    static flow_t fl[NFLOWS];
    static rec_t r[64];
    dlp_capture_t *h[NH];
    const char *ifs[] = {fx->a};
    int32_t groups[] = {fx->group};
    frame_t f;
    if (!fx->root)
        skip();
    make_flows(fl, 0);
    open_group(fx, ifs, groups, 1, DLP_FANOUT_HASH, h);
    send_fragments(fx, &fl[0], false);
    send_fragments(fx, &fl[3], true);
    make_packet(&f, &fl[6], 6, 0, 0); /* a marker after them */
    send_on(fx->to_a, g_idx_b, &f);
    int n = drain(h, NH, r, 64, 2, 3000);
    assert_int_equal(drain(h, NH, r + n, 64 - n, 64, 200), 0); /* nothing else comes */
    assert_int_equal(n, 2);
    const rec_t *whole = r[0].caplen == 14 + 20 + 72 ? &r[0] : &r[1];
    const rec_t *marker = whole == &r[0] ? &r[1] : &r[0];
    assert_int_equal(whole->caplen, 14 + 20 + 72);
    assert_int_equal(get16(whole->head + 14 + 6) & 0x3fff, 0); /* not a fragment */
    assert_int_equal(get16(whole->head + 14 + 2), 20 + 72);
    assert_int_equal(get16(whole->head + 14 + 20 + 2), fl[0].sport);
    assert_int_equal(get16(marker->head + 14 + 20 + 2), fl[6].sport);
    close_all(fx, h, NH);
}

/* --- tests: groups ------------------------------------------------------------------------ */

/* A group exists with one interface and mode: another mode or interface is refused. */
static void group_in_use_refused_other_id_works(void **state)
{
    fixture_t *fx = *state;
    const char *a[] = {fx->a}, *c[] = {fx->c};
    int32_t g[] = {fx->group}, g2[] = {fx->group + 1};
    char expect[256];
    if (!fx->root)
        skip();
    dlp_capture_t *h1 = fx_open(fx, a, g, 1, DLP_FANOUT_IPPAIR, FILTER, NULL);
    assert_non_null(h1);
    snprintf(expect, sizeof(expect),
             "%s: fanout group %d is in use with another interface or mode (by this or another "
             "process): choose another group id",
             fx->a, (int)fx->group);
    assert_null(fx_open(fx, a, g, 1, DLP_FANOUT_HASH, FILTER, NULL));
    assert_string_equal(fx->err, expect);
    snprintf(expect, sizeof(expect),
             "%s: fanout group %d is in use with another interface or mode (by this or another "
             "process): choose another group id",
             fx->c, (int)fx->group);
    assert_null(fx_open(fx, c, g, 1, DLP_FANOUT_IPPAIR, FILTER, NULL));
    assert_string_equal(fx->err, expect);
    dlp_capture_t *h2 = fx_open(fx, a, g2, 1, DLP_FANOUT_HASH, FILTER, NULL);
    assert_non_null(h2);
    assert_int_equal(dlp_capture_fanout_group(h2, 0), fx->group + 1);
    fx_close(fx, h2);
    fx_close(fx, h1);
    /* the group ends with its last member: the id is free for another mode now */
    h1 = fx_open(fx, a, g, 1, DLP_FANOUT_HASH, FILTER, NULL);
    assert_non_null(h1);
    fx_close(fx, h1);
}

/* AUTO takes a free id from the kernel; a second handle joins it and they share the traffic. */
static void auto_group_shared_by_id(void **state)
{
    fixture_t *fx = *state;
    static flow_t fl[NFLOWS];
    static seen_t s;
    dlp_capture_t *h[NH];
    const char *ifs[] = {fx->a};
    int32_t groups[] = {DLP_FANOUT_GROUP_AUTO};
    const int sock[2] = {fx->to_a, fx->to_a}, idx[2] = {g_idx_b, g_idx_b};
    dlp_capture_live_opts_t o;
    if (!fx->root)
        skip();
    opts_for_test(&o);
    h[0] = fx_open(fx, ifs, groups, 1, DLP_FANOUT_IPPAIR, FILTER, &o);
    assert_non_null(h[0]);
    groups[0] = dlp_capture_fanout_group(h[0], 0);
    assert_true(groups[0] >= 0 && groups[0] <= DLP_FANOUT_GROUP_MAX);
    h[1] = fx_open(fx, ifs, groups, 1, DLP_FANOUT_IPPAIR, FILTER, &o);
    assert_non_null(h[1]);
    assert_int_equal(dlp_capture_fanout_group(h[1], 0), groups[0]);
    make_flows(fl, 0);
    send_flows(fl, sock, idx);
    collect(h, NH, &s, NFLOWS * 2 * PKTS_PER_DIR);
    assert_int_equal(s.total, NFLOWS * 2 * PKTS_PER_DIR); /* shared, not each a copy */
    check_split(fl, &s, true);
    close_all(fx, h, NH);
}

/* --- tests: errors and break ---------------------------------------------------------------- */

static void argument_errors(void **state)
{
    fixture_t *fx = *state;
    const char *many[DLP_CAPTURE_MAX_IFACES + 1];
    int32_t g[DLP_CAPTURE_MAX_IFACES + 1];
    for (size_t i = 0; i < DLP_ARRAY_LEN(many); i++) {
        many[i] = "lo";
        g[i] = (int32_t)i;
    }
    assert_null(dlp_capture_open_fanout(many, g, DLP_ARRAY_LEN(many), DLP_FANOUT_IPPAIR, NULL, NULL,
                                        &fx->st, fx->err, sizeof(fx->err)));
    assert_string_equal(fx->err, "too many interfaces: 65 (at most 64)");
    assert_null(dlp_capture_open_fanout(many, g, 0, DLP_FANOUT_IPPAIR, NULL, NULL, &fx->st, fx->err,
                                        sizeof(fx->err)));
    assert_string_equal(fx->err, "no interface given");
    assert_null(dlp_capture_open_fanout(many, NULL, 1, DLP_FANOUT_IPPAIR, NULL, NULL, &fx->st,
                                        fx->err, sizeof(fx->err)));
    assert_string_equal(fx->err, "no interface given");
    assert_null(dlp_capture_open_fanout(many, g, 2, DLP_FANOUT_IPPAIR, NULL, NULL, &fx->st, fx->err,
                                        sizeof(fx->err)));
    assert_string_equal(fx->err, "lo: interface given twice");
    assert_null(dlp_capture_open_fanout(many, g, 1, (dlp_fanout_mode_t)7, NULL, NULL, &fx->st,
                                        fx->err, sizeof(fx->err)));
    assert_string_equal(fx->err, "capture: unknown fanout mode 7");
    g[0] = DLP_FANOUT_GROUP_MAX + 1;
    assert_null(dlp_capture_open_fanout(many, g, 1, DLP_FANOUT_HASH, NULL, NULL, &fx->st, fx->err,
                                        sizeof(fx->err)));
    assert_string_equal(fx->err, "lo: fanout group 65536 out of range (0..65535)");
    g[0] = -2;
    assert_null(dlp_capture_open_fanout(many, g, 1, DLP_FANOUT_HASH, NULL, NULL, &fx->st, fx->err,
                                        sizeof(fx->err)));
    assert_string_equal(fx->err, "lo: fanout group -2 out of range (0..65535)");
}

static void bad_interface_and_filter(void **state)
{
    fixture_t *fx = *state;
    const char *nosuch[] = {"dlpnosuch0"}, *a[] = {fx->a};
    int32_t g[] = {DLP_FANOUT_GROUP_AUTO};
    if (!fx->root)
        skip();
    assert_null(fx_open(fx, nosuch, g, 1, DLP_FANOUT_IPPAIR, NULL, NULL));
    assert_true(strncmp(fx->err, "dlpnosuch0: ", 12) == 0);
    assert_true(strlen(fx->err) > 12);
    assert_null(fx_open(fx, a, g, 1, DLP_FANOUT_IPPAIR, "udp porty 1", NULL));
    char expect[64];
    snprintf(expect, sizeof(expect), "%s: bad filter 'udp porty 1': ", fx->a);
    assert_true(strncmp(fx->err, expect, strlen(expect)) == 0);
}

static void *break_later(void *arg)
{
    struct timespec d = {0, 100 * 1000000};
    nanosleep(&d, NULL);
    dlp_capture_break(arg);
    return NULL;
}

static void break_wakes_fanout_handle(void **state)
{
    fixture_t *fx = *state;
    const char *a[] = {fx->a};
    int32_t g[] = {DLP_FANOUT_GROUP_AUTO};
    dlp_capture_live_opts_t o;
    dlp_frame_t f;
    pthread_t t;
    if (!fx->root)
        skip();
    dlp_capture_live_opts_default(&o);
    o.timeout_ms = 10000;
    o.buffer_bytes = 1u << 20;
    dlp_capture_t *h = fx_open(fx, a, g, 1, DLP_FANOUT_HASH, FILTER, &o);
    assert_non_null(h);
    assert_true(dlp_capture_is_live(h));
    uint64_t t0 = mono_ms();
    assert_int_equal(pthread_create(&t, NULL, break_later, h), 0);
    assert_int_equal(dlp_capture_next(h, &f), DLP_DONE);
    assert_true(mono_ms() - t0 < 3000);
    pthread_join(t, NULL);
    fx_close(fx, h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(ippair_rx_untagged),
        T(ippair_rx_vlan_and_qinq),
        T(hash_rx_flows_whole),
        T(ippair_received_and_transmitted),
        T(hash_received_and_transmitted),
        T(ippair_two_interfaces_one_per_direction),
        T(hash_two_interfaces_one_per_direction),
        T(stats_per_handle_and_merged),
        T(merge_keeps_largest_if_drops),
        T(ring_full_drops_counted),
        T(ippair_fragments_as_sent),
        T(hash_defragments_ipv4),
        T(group_in_use_refused_other_id_works),
        T(auto_group_shared_by_id),
        T(argument_errors),
        T(bad_interface_and_filter),
        T(break_wakes_fanout_handle),
#undef T
    };
    dlp_log_set_level(DLP_LOG_ERR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
