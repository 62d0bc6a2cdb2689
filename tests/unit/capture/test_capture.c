/*
 * test_capture.c - dlp_capture over files written by the test itself into a
 * temporary directory (pcap in both byte orders and both time resolutions,
 * hand-built pcapng, directories, bad files, filters), and over the "lo"
 * interface when running as root (skipped otherwise).
 */
#include "dlp_test.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dlp/capture.h"
#include "dlp/log.h"
#include "dlp/stats.h"

#define TS0 1700000000u
#define LT_EN10MB 1
#define LT_RAW_FILE 101 /* LINKTYPE_RAW in the file ... */
#define LT_RAW_DLT 12   /* ... is DLT_RAW to the reader on Linux */

typedef struct fixture {
    char dir[64];
    char path[256];
    dlp_stats_t st;
    char err[512];
} fixture_t;

/* --- writing captures ------------------------------------------------------ */

typedef struct wbuf {
    uint8_t b[16384];
    size_t n;
    int be; /* big-endian fields */
} wbuf_t;

static void put(wbuf_t *w, const void *p, size_t n)
{
    assert_true(w->n + n <= sizeof(w->b));
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void put16(wbuf_t *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    if (w->be) {
        b[0] = (uint8_t)(v >> 8);
        b[1] = (uint8_t)v;
    }
    put(w, b, 2);
}
static void put32(wbuf_t *w, uint32_t v)
{
    if (w->be) {
        put16(w, (uint16_t)(v >> 16));
        put16(w, (uint16_t)v);
    } else {
        put16(w, (uint16_t)v);
        put16(w, (uint16_t)(v >> 16));
    }
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n > 0)
        assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* pcap global header; 'ns' selects the nanosecond magic. */
static void pcap_header(wbuf_t *w, int be, int ns, uint32_t linktype)
{
    w->n = 0;
    w->be = be;
    put32(w, ns ? 0xa1b23c4du : 0xa1b2c3d4u);
    put16(w, 2);
    put16(w, 4);
    put32(w, 0);
    put32(w, 0);
    put32(w, 65535);
    put32(w, linktype);
}

static void pcap_record(wbuf_t *w, uint32_t sec, uint32_t frac, const uint8_t *data,
                        uint32_t caplen, uint32_t wirelen)
{
    put32(w, sec);
    put32(w, frac);
    put32(w, caplen);
    put32(w, wirelen);
    put(w, data, caplen);
}

/* Ethernet + IPv4 + UDP to 'dport', 'plen' payload bytes of value 'tag'. */
static size_t udp_frame(uint8_t *out, uint16_t dport, uint8_t tag, size_t plen)
{
    /* 02:00:00:00:00:01 -> 02:00:00:00:00:02, IPv4; 10.0.0.5 -> 198.51.100.7, UDP 40000 */
    static const uint8_t eth[] = "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00";
    static const uint8_t ip4[] = "\x45\x00\x00\x00\x00\x01\x00\x00\x40\x11\x00\x00"
                                 "\x0a\x00\x00\x05\xc6\x33\x64\x07";
    uint8_t ip[20], udp[8] = {0x9c, 0x40};
    memcpy(ip, ip4, sizeof(ip));
    ip[2] = (uint8_t)((20 + 8 + plen) >> 8);
    ip[3] = (uint8_t)(20 + 8 + plen);
    udp[2] = (uint8_t)(dport >> 8);
    udp[3] = (uint8_t)dport;
    udp[4] = (uint8_t)((8 + plen) >> 8);
    udp[5] = (uint8_t)(8 + plen);
    memcpy(out, eth, 14);
    memcpy(out + 14, ip, 20);
    memcpy(out + 34, udp, 8);
    memset(out + 42, tag, plen);
    return 42 + plen;
}

/* A pcap of n UDP frames to port 'dport' tagged tag0, tag0+1, ... one second apart. */
static void write_udp_pcap(const char *path, int n, uint16_t dport, uint8_t tag0)
{
    wbuf_t w;
    uint8_t fr[128];
    pcap_header(&w, 0, 0, LT_EN10MB);
    for (int i = 0; i < n; i++) {
        size_t len = udp_frame(fr, dport, (uint8_t)(tag0 + i), 10);
        pcap_record(&w, TS0 + (uint32_t)i, 250000, fr, (uint32_t)len, (uint32_t)len);
    }
    write_file(path, w.b, w.n);
}

static void pcapng_block_start(wbuf_t *w, uint32_t type, uint32_t total)
{
    put32(w, type);
    put32(w, total);
}

/* SHB + IDB (optionally if_tsresol=9) + one EPB per frame. */
static void write_udp_pcapng(const char *path, int n, uint8_t tag0, int ns)
{
    wbuf_t w = {.n = 0, .be = 0};
    uint8_t fr[128];

    pcapng_block_start(&w, 0x0a0d0d0a, 28);
    put32(&w, 0x1a2b3c4d);
    put16(&w, 1);
    put16(&w, 0);
    put32(&w, 0xffffffffu);
    put32(&w, 0xffffffffu);
    put32(&w, 28);

    pcapng_block_start(&w, 1, ns ? 32 : 20);
    put16(&w, LT_EN10MB);
    put16(&w, 0);
    put32(&w, 65535);
    if (ns) {
        const uint8_t tsresol[8] = {9, 0, 1, 0, 9, 0, 0, 0}; /* if_tsresol = 10^-9 */
        put(&w, tsresol, sizeof(tsresol));
        put32(&w, 0); /* opt_endofopt */
    }
    put32(&w, ns ? 32 : 20);

    for (int i = 0; i < n; i++) {
        size_t len = udp_frame(fr, 53, (uint8_t)(tag0 + i), 10); /* 52: padded to 52 */
        uint64_t ts = ns ? ((uint64_t)(TS0 + i) * 1000000000u + 123456789u)
                         : ((uint64_t)(TS0 + i) * 1000000u + 654321u);
        uint32_t total = (uint32_t)(32 + ((len + 3) & ~(size_t)3));
        pcapng_block_start(&w, 6, total);
        put32(&w, 0);
        put32(&w, (uint32_t)(ts >> 32));
        put32(&w, (uint32_t)ts);
        put32(&w, (uint32_t)len);
        put32(&w, (uint32_t)len);
        put(&w, fr, len);
        while (w.n % 4 != 0)
            put(&w, "", 1);
        put32(&w, total);
    }
    write_file(path, w.b, w.n);
}

/* --- fixture ----------------------------------------------------------------- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/dlp-capture-XXXXXX");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    dlp_stats_init(&fx->st);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static const char *tpath(fixture_t *fx, const char *name)
{
    snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, name);
    return fx->path;
}

static char *tpath_dup(fixture_t *fx, const char *name)
{
    return strdup(tpath(fx, name));
}

static dlp_capture_t *open1(fixture_t *fx, const char *path, const char *bpf)
{
    const char *paths[] = {path};
    fx->err[0] = '\0';
    return dlp_capture_open_files(paths, 1, bpf, &fx->st, fx->err, sizeof(fx->err));
}

static uint64_t stat_of(fixture_t *fx, dlp_stat_id_t id)
{
    return dlp_stat_get(&fx->st, id);
}

/* Reads every frame, records the tag byte (last payload byte) of each. */
static int read_tags(dlp_capture_t *c, uint8_t *tags, int max)
{
    dlp_frame_t f;
    int n = 0;
    dlp_rc_t rc;
    while ((rc = dlp_capture_next(c, &f)) == DLP_OK) {
        assert_true(n < max);
        tags[n++] = f.data[f.caplen - 1];
    }
    assert_int_equal(rc, DLP_DONE);
    return n;
}

/* --- files: formats ------------------------------------------------------- */

static void pcap_us_frames_and_end(void **state)
{
    fixture_t *fx = *state;
    char *p = tpath_dup(fx, "a.pcap");
    dlp_frame_t f;
    uint8_t expect[64];
    write_udp_pcap(p, 3, 53, 0x41);
    dlp_capture_t *c = open1(fx, p, NULL);
    assert_non_null(c);
    assert_false(dlp_capture_is_live(c));
    assert_int_equal(dlp_capture_file_count(c), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 0); /* validation is not reading */
    dlp_capture_iface_stats_t is;
    assert_int_equal(dlp_capture_iface_count(c), 0);
    assert_int_equal(dlp_capture_iface_stats(c, 0, &is), DLP_EINVAL);
    assert_int_equal(dlp_capture_fanout_group(c, 0), -1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
        assert_int_equal(f.caplen, 52);
        assert_int_equal(f.wirelen, 52);
        assert_int_equal(f.linktype, LT_EN10MB);
        assert_int_equal(f.source, 0);
        assert_int_equal(f.ts_us, (uint64_t)(TS0 + i) * 1000000u + 250000u);
        udp_frame(expect, 53, (uint8_t)(0x41 + i), 10);
        assert_memory_equal(f.data, expect, 52);
    }
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_TRUNCATED), 0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_SNAP_TRUNCATED), 0);
    dlp_capture_close(c);
    free(p);
}

/* Both byte orders, µs and ns magics: the reader always gives microseconds. */
static void pcap_byte_orders_and_ns(void **state)
{
    fixture_t *fx = *state;
    uint8_t fr[128];
    dlp_frame_t f;
    for (int be = 0; be <= 1; be++) {
        for (int ns = 0; ns <= 1; ns++) {
            wbuf_t w;
            size_t len = udp_frame(fr, 80, 0x7a, 4);
            pcap_header(&w, be, ns, LT_EN10MB);
            pcap_record(&w, TS0 + 5, ns ? 123456789u : 123456u, fr, (uint32_t)len, (uint32_t)len);
            write_file(tpath(fx, "t.pcap"), w.b, w.n);
            dlp_capture_t *c = open1(fx, fx->path, NULL);
            assert_non_null(c);
            assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
            assert_int_equal(f.ts_us, (uint64_t)(TS0 + 5) * 1000000u + 123456u);
            assert_int_equal(f.caplen, len);
            assert_memory_equal(f.data, fr, len);
            assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
            dlp_capture_close(c);
        }
    }
}

static void pcapng_us_and_ns(void **state)
{
    fixture_t *fx = *state;
    dlp_frame_t f;
    uint8_t expect[64];
    for (int ns = 0; ns <= 1; ns++) {
        write_udp_pcapng(tpath(fx, "x.pcapng"), 2, 0x30, ns);
        dlp_capture_t *c = open1(fx, fx->path, NULL);
        assert_non_null(c);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
            assert_int_equal(f.linktype, LT_EN10MB);
            assert_int_equal(f.caplen, 52);
            assert_int_equal(f.ts_us, (uint64_t)(TS0 + i) * 1000000u + (ns ? 123456u : 654321u));
            udp_frame(expect, 53, (uint8_t)(0x30 + i), 10);
            assert_memory_equal(f.data, expect, 52);
        }
        assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
        dlp_capture_close(c);
    }
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 2);
}

static void header_only_is_valid_and_empty(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    dlp_frame_t f;
    pcap_header(&w, 0, 0, LT_EN10MB);
    assert_int_equal(w.n, 24);
    write_file(tpath(fx, "h.pcap"), w.b, w.n);
    dlp_capture_t *c = open1(fx, fx->path, NULL);
    assert_non_null(c);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 0);
    dlp_capture_close(c);
}

static void snaplen_truncated_frames_counted(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128];
    dlp_frame_t f;
    size_t len = udp_frame(fr, 80, 1, 40);
    pcap_header(&w, 0, 0, LT_EN10MB);
    pcap_record(&w, TS0, 0, fr, 34, (uint32_t)len);
    pcap_record(&w, TS0, 1, fr, (uint32_t)len, (uint32_t)len);
    pcap_record(&w, TS0, 2, fr, 50, (uint32_t)len);
    write_file(tpath(fx, "s.pcap"), w.b, w.n);
    dlp_capture_t *c = open1(fx, fx->path, NULL);
    assert_non_null(c);
    assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
    assert_int_equal(f.caplen, 34);
    assert_int_equal(f.wirelen, len);
    assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
    assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_SNAP_TRUNCATED), 2);
    dlp_capture_close(c);
}

/* --- files: directories and lists ----------------------------------------- */

static void directory_in_name_order_skips_others(void **state)
{
    fixture_t *fx = *state;
    uint8_t tags[16];
    wbuf_t w;
    assert_int_equal(mkdir(tpath(fx, "d"), 0755), 0);
    write_udp_pcap(tpath(fx, "d/b.pcap"), 2, 53, 0x20);
    write_udp_pcap(tpath(fx, "d/a.pcap"), 1, 53, 0x10);
    write_udp_pcapng(tpath(fx, "d/c.pcapng"), 1, 0x30, 0);
    write_udp_pcap(tpath(fx, "d/B.cap"), 1, 53, 0x05); /* 'B' < 'a' in strcmp */
    write_file(tpath(fx, "d/notes.txt"), "not a capture\n", 14);
    write_file(tpath(fx, "d/empty"), "", 0);
    pcap_header(&w, 1, 1, LT_EN10MB); /* big-endian ns magic, no extension */
    write_file(tpath(fx, "d/zz-ns-be"), w.b, w.n);
    assert_int_equal(mkdir(tpath(fx, "d/sub"), 0755), 0);
    write_udp_pcap(tpath(fx, "d/sub/inner.pcap"), 1, 53, 0x99); /* not recursive */

    char *dir = tpath_dup(fx, "d/"); /* a trailing slash is fine */
    dlp_capture_t *c = open1(fx, dir, NULL);
    assert_non_null(c);
    assert_int_equal(dlp_capture_file_count(c), 5);
    int n = read_tags(c, tags, 16);
    const uint8_t expect[] = {0x05, 0x10, 0x20, 0x21, 0x30};
    assert_int_equal(n, 5);
    assert_memory_equal(tags, expect, 5);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 5);
    dlp_capture_close(c);
    free(dir);
}

static void several_paths_in_given_order(void **state)
{
    fixture_t *fx = *state;
    uint8_t tags[16];
    assert_int_equal(mkdir(tpath(fx, "d"), 0755), 0);
    write_udp_pcap(tpath(fx, "d/1.pcap"), 1, 53, 0x11);
    write_udp_pcap(tpath(fx, "d/2.pcap"), 1, 53, 0x12);
    write_udp_pcap(tpath(fx, "z.pcap"), 2, 53, 0x01);
    write_udp_pcapng(tpath(fx, "y.pcapng"), 1, 0x40, 1);
    char *a = tpath_dup(fx, "z.pcap"), *b = tpath_dup(fx, "d"), *d = tpath_dup(fx, "y.pcapng");
    const char *paths[] = {a, b, d};
    dlp_capture_t *c = dlp_capture_open_files(paths, 3, NULL, &fx->st, fx->err, sizeof(fx->err));
    assert_non_null(c);
    assert_int_equal(dlp_capture_file_count(c), 4);
    const uint8_t expect[] = {0x01, 0x02, 0x11, 0x12, 0x40};
    assert_int_equal(read_tags(c, tags, 16), 5);
    assert_memory_equal(tags, expect, 5);
    dlp_capture_close(c);
    free(a);
    free(b);
    free(d);
}

/* A file's link type comes with each of its frames. */
static void link_type_per_file(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128];
    dlp_frame_t f;
    size_t len = udp_frame(fr, 53, 1, 4);
    pcap_header(&w, 0, 0, LT_RAW_FILE);
    pcap_record(&w, TS0, 0, fr + 14, (uint32_t)len - 14, (uint32_t)len - 14);
    write_file(tpath(fx, "b-raw.pcap"), w.b, w.n);
    write_udp_pcap(tpath(fx, "a-eth.pcap"), 1, 53, 1);
    dlp_capture_t *c = open1(fx, fx->dir, NULL);
    assert_non_null(c);
    assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
    assert_int_equal(f.linktype, LT_EN10MB);
    assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
    assert_int_equal(f.linktype, LT_RAW_DLT);
    assert_int_equal(f.data[0], 0x45);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    dlp_capture_close(c);
}

/* --- files: errors at open ---------------------------------------------------- */

static void error_nonexistent(void **state)
{
    fixture_t *fx = *state;
    char expect[600];
    char *p = tpath_dup(fx, "missing.pcap");
    assert_null(open1(fx, p, NULL));
    snprintf(expect, sizeof(expect), "%s: No such file or directory", p);
    assert_string_equal(fx->err, expect);
    free(p);
}

static void error_empty_file(void **state)
{
    fixture_t *fx = *state;
    char expect[600];
    write_file(tpath(fx, "e.pcap"), "", 0);
    snprintf(expect, sizeof(expect), "%s: empty file", fx->path);
    assert_null(open1(fx, fx->path, NULL));
    assert_string_equal(fx->err, expect);
}

static void error_garbage_file(void **state)
{
    fixture_t *fx = *state;
    char expect[600];
    uint8_t junk[200];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (uint8_t)(x >> 16);
    }
    write_file(tpath(fx, "g.pcap"), junk, sizeof(junk));
    snprintf(expect, sizeof(expect), "%s: not a pcap or pcapng capture (unknown file format)",
             fx->path);
    assert_null(open1(fx, fx->path, NULL));
    assert_string_equal(fx->err, expect);
}

static void error_not_a_regular_file(void **state)
{
    fixture_t *fx = *state;
    assert_null(open1(fx, "/dev/null", NULL));
    assert_string_equal(fx->err, "/dev/null: not a regular file or directory");
}

static void error_empty_directory(void **state)
{
    fixture_t *fx = *state;
    char expect[600];
    assert_int_equal(mkdir(tpath(fx, "none"), 0755), 0);
    snprintf(expect, sizeof(expect), "%s: no capture files in directory", fx->path);
    char *d = strdup(fx->path);
    assert_null(open1(fx, d, NULL));
    assert_string_equal(fx->err, expect);
    write_file(tpath(fx, "none/README.txt"), "hi\n", 3);
    assert_null(open1(fx, d, NULL));
    assert_string_equal(fx->err, expect);
    free(d);
}

/*
 * A file in a directory that cannot be read may be a capture: it fails the
 * open like the same file given alone, rather than being skipped as "not a
 * pcap or pcapng capture" (and the run going on without it, exit 0). Root
 * reads any file, so as root the check runs in a child that is not.
 */
static void error_unreadable_file_in_directory(void **state)
{
    fixture_t *fx = *state;
    char expect[600];
    int st = 0;
    assert_int_equal(chmod(fx->dir, 0755), 0);
    assert_int_equal(mkdir(tpath(fx, "d"), 0755), 0);
    write_udp_pcap(tpath(fx, "d/a.pcap"), 1, 53, 1);
    write_udp_pcap(tpath(fx, "d/b.pcap"), 1, 53, 2);
    assert_int_equal(chmod(fx->path, 0), 0);
    char *d = tpath_dup(fx, "d");
    snprintf(expect, sizeof(expect), "%s/b.pcap: Permission denied", d);
    bool forked = geteuid() == 0;
    pid_t pid = forked ? fork() : 0;
    assert_true(pid >= 0);
    if (pid == 0) {
        if (forked && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        dlp_capture_t *c = open1(fx, d, NULL);
        bool ok = c == NULL && strcmp(fx->err, expect) == 0;
        if (!ok)
            print_error("got %s\n", c != NULL ? "a handle" : fx->err);
        dlp_capture_close(c);
        if (forked)
            _exit(ok ? 0 : 1);
        assert_true(ok);
    } else {
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    free(d);
}

/*
 * A file in a directory whose name says it is a capture (.pcap, .pcapng,
 * .cap, .ntar, .dmp, any case) but is not a valid one fails the open, named,
 * as when it is given alone: a forensic run must not go on without it. Other
 * files without a capture magic are skipped.
 */
static void error_capture_named_file_in_directory(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *name;
        const char *data;
        size_t len;
        const char *reason;
    } bad[] = {
        {"z.pcap", "junk\n", 5, "not a pcap or pcapng capture (unknown file format)"},
        {"f.pcap", "", 0, "empty file"},
        {"g.PcapNG", "\0\0\0\0\0\0\0\0", 8, "not a pcap or pcapng capture (unknown file format)"},
        {"h.cap", "junk junk", 9, "not a pcap or pcapng capture (unknown file format)"},
        {"i.ntar", "junk junk", 9, "not a pcap or pcapng capture (unknown file format)"},
        {"j.DMP", "junk junk", 9, "not a pcap or pcapng capture (unknown file format)"},
    };
    char expect[600];
    for (size_t i = 0; i < DLP_ARRAY_LEN(bad); i++) {
        char sub[32], file[64];
        snprintf(sub, sizeof(sub), "d%zu", i);
        assert_int_equal(mkdir(tpath(fx, sub), 0755), 0);
        snprintf(file, sizeof(file), "d%zu/a.pcap", i);
        write_udp_pcap(tpath(fx, file), 1, 53, 1);
        snprintf(file, sizeof(file), "d%zu/%s", i, bad[i].name);
        write_file(tpath(fx, file), bad[i].data, bad[i].len);
        snprintf(expect, sizeof(expect), "%s: %s", fx->path, bad[i].reason);
        char *d = tpath_dup(fx, sub);
        assert_null(open1(fx, d, NULL));
        assert_string_equal(fx->err, expect);
        free(d);
    }
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 0);
    /* not named as a capture: skipped */
    assert_int_equal(mkdir(tpath(fx, "ok"), 0755), 0);
    write_udp_pcap(tpath(fx, "ok/a.pcap"), 1, 53, 1);
    write_file(tpath(fx, "ok/README.txt"), "junk\n", 5);
    write_file(tpath(fx, "ok/.DS_Store"), "junk\n", 5);
    write_file(tpath(fx, "ok/alerts.json"), "{}\n", 3);
    write_file(tpath(fx, "ok/pcap"), "junk\n", 5);
    write_file(tpath(fx, "ok/x.pcap.txt"), "junk\n", 5);
    char *d = tpath_dup(fx, "ok");
    dlp_capture_t *c = open1(fx, d, NULL);
    assert_non_null(c);
    assert_int_equal(dlp_capture_file_count(c), 1);
    dlp_capture_close(c);
    free(d);
}

/* The second path is bad: nothing is read, the handle is never returned. */
static void error_in_any_file_fails_open(void **state)
{
    fixture_t *fx = *state;
    char *good = tpath_dup(fx, "good.pcap"), *bad = tpath_dup(fx, "bad.pcap");
    write_udp_pcap(good, 1, 53, 1);
    write_file(bad, "0123456789", 10);
    const char *paths[] = {good, bad};
    assert_null(dlp_capture_open_files(paths, 2, NULL, &fx->st, fx->err, sizeof(fx->err)));
    assert_true(strncmp(fx->err, bad, strlen(bad)) == 0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 0);
    assert_null(dlp_capture_open_files(paths, 0, NULL, &fx->st, fx->err, sizeof(fx->err)));
    assert_string_equal(fx->err, "no capture file given");
    free(good);
    free(bad);
}

/* A small error buffer gets a truncated, terminated message. */
static void error_message_fits_buffer(void **state)
{
    fixture_t *fx = *state;
    char small[8];
    const char *paths[] = {"/nonexistent/dir/x.pcap"};
    memset(small, 'x', sizeof(small));
    assert_null(dlp_capture_open_files(paths, 1, NULL, &fx->st, small, sizeof(small)));
    assert_string_equal(small, "/nonexi");
    assert_null(dlp_capture_open_files(paths, 1, NULL, &fx->st, NULL, 0));
}

/* --- files: read errors ---------------------------------------------------------- */

/* The cut record ends its file, counted; the next file is still read. */
static void truncated_last_record_not_fatal(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128], tags[16];
    assert_int_equal(mkdir(tpath(fx, "d"), 0755), 0);
    pcap_header(&w, 0, 0, LT_EN10MB);
    for (int i = 0; i < 3; i++) {
        size_t len = udp_frame(fr, 53, (uint8_t)(0x50 + i), 10);
        pcap_record(&w, TS0 + (uint32_t)i, 0, fr, (uint32_t)len, (uint32_t)len);
    }
    w.n -= 20;
    write_file(tpath(fx, "d/1-cut.pcap"), w.b, w.n);
    write_udp_pcap(tpath(fx, "d/2-ok.pcap"), 1, 53, 0x60);
    char *d = tpath_dup(fx, "d");
    dlp_capture_t *c = open1(fx, d, NULL);
    assert_non_null(c);
    const uint8_t expect[] = {0x50, 0x51, 0x60};
    assert_int_equal(read_tags(c, tags, 16), 3);
    assert_memory_equal(tags, expect, 3);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_TRUNCATED), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 2);
    dlp_capture_close(c);
    free(d);
}

/* A record header cut short is "truncated" too; an absurd length is a read error. */
static void cut_header_and_bad_length(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128], tags[16];
    size_t len = udp_frame(fr, 53, 0x70, 10);
    pcap_header(&w, 0, 0, LT_EN10MB);
    pcap_record(&w, TS0, 0, fr, (uint32_t)len, (uint32_t)len);
    put32(&w, TS0 + 1); /* 8 of the 16 header bytes */
    put32(&w, 0);
    write_file(tpath(fx, "a.pcap"), w.b, w.n);

    pcap_header(&w, 0, 0, LT_EN10MB);
    pcap_record(&w, TS0, 0, fr, (uint32_t)len, (uint32_t)len);
    put32(&w, TS0 + 1);
    put32(&w, 0);
    put32(&w, 0x7fffffffu); /* caplen */
    put32(&w, 60);
    put(&w, fr, len);
    write_file(tpath(fx, "b.pcap"), w.b, w.n);

    dlp_capture_t *c = open1(fx, fx->dir, NULL);
    assert_non_null(c);
    assert_int_equal(read_tags(c, tags, 16), 2);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_TRUNCATED), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 1);
    dlp_capture_close(c);
}

/*
 * A record holding more bytes than it says were on the wire: libpcap passes it
 * on; it is counted and its wire length raised to what was captured.
 */
static void caplen_over_wirelen_counted(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128];
    dlp_frame_t f;
    size_t len = udp_frame(fr, 53, 0x80, 10);
    pcap_header(&w, 0, 0, LT_EN10MB);
    pcap_record(&w, TS0, 0, fr, (uint32_t)len, (uint32_t)len);
    pcap_record(&w, TS0 + 1, 0, fr, (uint32_t)len, 20);
    pcap_record(&w, TS0 + 2, 0, fr, (uint32_t)len, 0);
    pcap_record(&w, TS0 + 3, 0, fr, 40, (uint32_t)len); /* snaplen-truncated */
    write_file(tpath(fx, "a.pcap"), w.b, w.n);

    dlp_capture_t *c = open1(fx, tpath(fx, "a.pcap"), NULL);
    assert_non_null(c);
    const uint32_t caplen[] = {(uint32_t)len, (uint32_t)len, (uint32_t)len, 40};
    for (size_t i = 0; i < DLP_ARRAY_LEN(caplen); i++) {
        assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
        assert_int_equal(f.caplen, caplen[i]);
        assert_int_equal(f.wirelen, len);
    }
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_CAPLEN_OVER_WIRELEN), 2);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_SNAP_TRUNCATED), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 0);
    dlp_capture_close(c);
}

/* pcapng: SHB, an Ethernet IDB, 'n0' EPBs, a raw-IP IDB, an EPB on each interface. */
static void write_linktype_change_pcapng(const char *path, int n0, uint8_t tag0)
{
    wbuf_t w = {.n = 0, .be = 0};
    uint8_t fr[128];

    pcapng_block_start(&w, 0x0a0d0d0a, 28);
    put32(&w, 0x1a2b3c4d);
    put16(&w, 1);
    put16(&w, 0);
    put32(&w, 0xffffffffu);
    put32(&w, 0xffffffffu);
    put32(&w, 28);
    for (int i = 0; i < n0 + 3; i++) {
        if (i == 0 || i == n0 + 1) { /* IDB: Ethernet, then raw IP */
            pcapng_block_start(&w, 1, 20);
            put16(&w, i == 0 ? LT_EN10MB : LT_RAW_FILE);
            put16(&w, 0);
            put32(&w, 65535);
            put32(&w, 20);
            continue;
        }
        size_t len = udp_frame(fr, 53, (uint8_t)(tag0 + i), 10); /* 52: no padding */
        uint64_t ts = (uint64_t)(TS0 + i) * 1000000u;
        pcapng_block_start(&w, 6, (uint32_t)(32 + len));
        put32(&w, i == n0 + 2 ? 1 : 0);
        put32(&w, (uint32_t)(ts >> 32));
        put32(&w, (uint32_t)ts);
        put32(&w, (uint32_t)len);
        put32(&w, (uint32_t)len);
        put(&w, fr, len);
        put32(&w, (uint32_t)(32 + len));
    }
    write_file(path, w.b, w.n);
}

/*
 * libpcap 1.10 cannot read a pcapng past an interface of another link type:
 * the frames before it are returned, then a read error (not a truncation)
 * ends that file, and the next file is read.
 */
static void pcapng_link_type_change_is_read_error(void **state)
{
    fixture_t *fx = *state;
    uint8_t tags[16];
    write_linktype_change_pcapng(tpath(fx, "a.pcapng"), 2, 0x90);
    write_udp_pcap(tpath(fx, "b.pcap"), 1, 53, 0xb0);
    dlp_capture_t *c = open1(fx, fx->dir, NULL);
    assert_non_null(c);
    const uint8_t expect[] = {0x91, 0x92, 0xb0};
    assert_int_equal(read_tags(c, tags, 16), 3);
    assert_memory_equal(tags, expect, 3);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_TRUNCATED), 0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 2);
    dlp_capture_close(c);
}

/* A file that disappears between validation and reading is counted and skipped. */
static void file_gone_before_reading(void **state)
{
    fixture_t *fx = *state;
    uint8_t tags[16];
    write_udp_pcap(tpath(fx, "a.pcap"), 1, 53, 0xa0);
    write_udp_pcap(tpath(fx, "b.pcap"), 1, 53, 0xb0);
    dlp_capture_t *c = open1(fx, fx->dir, NULL);
    assert_non_null(c);
    assert_int_equal(unlink(tpath(fx, "a.pcap")), 0);
    assert_int_equal(read_tags(c, tags, 16), 1);
    assert_int_equal(tags[0], 0xb0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 1);
    dlp_capture_close(c);
}

/* --- files: filters ------------------------------------------------------------ */

static void bpf_bad_expression(void **state)
{
    fixture_t *fx = *state;
    char prefix[600];
    write_udp_pcap(tpath(fx, "x.pcap"), 1, 80, 1);
    assert_null(open1(fx, fx->path, "tcp porty 80"));
    snprintf(prefix, sizeof(prefix), "%s: bad filter 'tcp porty 80': ", fx->path);
    assert_true(strncmp(fx->err, prefix, strlen(prefix)) == 0);
    assert_true(strlen(fx->err) > strlen(prefix));
}

/* The filter is compiled for each file's link type: "ether" has no meaning on raw IP. */
static void bpf_checked_per_link_type(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128];
    char prefix[600];
    size_t len = udp_frame(fr, 53, 1, 4);
    write_udp_pcap(tpath(fx, "a-eth.pcap"), 1, 53, 1);
    pcap_header(&w, 0, 0, LT_RAW_FILE);
    pcap_record(&w, TS0, 0, fr + 14, (uint32_t)len - 14, (uint32_t)len - 14);
    write_file(tpath(fx, "b-raw.pcap"), w.b, w.n);
    dlp_capture_t *c = open1(fx, tpath(fx, "a-eth.pcap"), "ether host 02:00:00:00:00:01");
    assert_non_null(c);
    dlp_capture_close(c);
    assert_null(open1(fx, fx->dir, "ether host 02:00:00:00:00:01"));
    snprintf(prefix, sizeof(prefix),
             "%s/b-raw.pcap: bad filter 'ether host 02:00:00:00:00:01': ", fx->dir);
    assert_true(strncmp(fx->err, prefix, strlen(prefix)) == 0);
}

static void bpf_filters_frames(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128], tags[16];
    pcap_header(&w, 0, 0, LT_EN10MB);
    for (int i = 0; i < 6; i++) {
        size_t len = udp_frame(fr, i % 2 ? 80 : 53, (uint8_t)i, 8);
        pcap_record(&w, TS0 + (uint32_t)i, 0, fr, (uint32_t)len, (uint32_t)len);
    }
    write_file(tpath(fx, "m.pcap"), w.b, w.n);
    dlp_capture_t *c = open1(fx, fx->path, "udp dst port 53");
    assert_non_null(c);
    const uint8_t expect[] = {0, 2, 4};
    assert_int_equal(read_tags(c, tags, 16), 3);
    assert_memory_equal(tags, expect, 3);
    dlp_capture_close(c);
    c = open1(fx, fx->path, ""); /* empty: no filter */
    assert_non_null(c);
    assert_int_equal(read_tags(c, tags, 16), 6);
    dlp_capture_close(c);
}

/*
 * A second handle (each worker reading the files) gives the same frames from
 * the start, through the same filter and files, while counting nothing into
 * the first handle's block; it outlives the first. Pipes are the inputs that
 * cannot be read twice.
 */
static void files_again_same_frames_counted_once(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128], tags[16], tags2[16];
    assert_int_equal(mkdir(tpath(fx, "d"), 0755), 0);
    pcap_header(&w, 0, 0, LT_EN10MB);
    for (int i = 0; i < 6; i++) {
        size_t len = udp_frame(fr, i % 2 ? 80 : 53, (uint8_t)(0x30 + i), 8);
        pcap_record(&w, TS0 + (uint32_t)i, 0, fr, (uint32_t)len, (uint32_t)len);
    }
    w.n -= 5; /* the last record cut short */
    write_file(tpath(fx, "d/1.pcap"), w.b, w.n);
    write_udp_pcap(tpath(fx, "d/2.pcap"), 2, 53, 0x60);
    char *d = tpath_dup(fx, "d");
    dlp_capture_t *c = open1(fx, d, "udp dst port 53");
    assert_non_null(c);
    dlp_capture_t *again = dlp_capture_files_again(c);
    assert_non_null(again);
    assert_int_equal(dlp_capture_file_count(again), 2);
    const uint8_t expect[] = {0x30, 0x32, 0x34, 0x60, 0x61};
    assert_int_equal(read_tags(c, tags, 16), 5);
    assert_memory_equal(tags, expect, 5);
    dlp_capture_close(c);
    assert_int_equal(read_tags(again, tags2, 16), 5);
    assert_memory_equal(tags2, expect, 5);
    dlp_capture_close(again);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 2);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_TRUNCATED), 1);
    assert_true(dlp_capture_path_is_stream("-"));
    assert_false(dlp_capture_path_is_stream(d));
    assert_int_equal(mkfifo(tpath(fx, "fifo"), 0600), 0);
    assert_true(dlp_capture_path_is_stream(fx->path));
    free(d);
}

/* Standard input becomes the bytes of 'b' (a pipe, written and closed); returns the old fd 0. */
static int stdin_from(const void *b, size_t n)
{
    int pfd[2], saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(write(pfd[1], b, n), (ssize_t)n);
    assert_int_equal(close(pfd[1]), 0);
    assert_true(dup2(pfd[0], STDIN_FILENO) >= 0);
    assert_int_equal(close(pfd[0]), 0);
    return saved;
}

static void stdin_restore(int saved)
{
    assert_true(dup2(saved, STDIN_FILENO) >= 0);
    assert_int_equal(close(saved), 0);
}

/*
 * A pipe is read once, but its header is read at open like a file's: what is
 * not a capture, or does not take the filter, fails the open (the run's exit
 * 2), not the read (a warning and an exit 0 with nothing read).
 */
static void stream_checked_at_open(void **state)
{
    fixture_t *fx = *state;
    wbuf_t w;
    uint8_t fr[128], tags[16];
    size_t len = udp_frame(fr, 53, 1, 4);
    int saved = stdin_from("garbage, not a capture file at all\n", 35);
    assert_null(open1(fx, "-", NULL));
    assert_true(strncmp(fx->err, "-: ", 3) == 0);
    stdin_restore(saved);

    pcap_header(&w, 0, 0, LT_RAW_FILE);
    pcap_record(&w, TS0, 0, fr + 14, (uint32_t)len - 14, (uint32_t)len - 14);
    saved = stdin_from(w.b, w.n);
    assert_null(open1(fx, "-", "ether host 02:00:00:00:00:01"));
    assert_true(strncmp(fx->err, "-: bad filter 'ether host", 25) == 0);
    stdin_restore(saved);

    saved = stdin_from(w.b, w.n);
    dlp_capture_t *c = open1(fx, "-", "udp");
    assert_non_null(c);
    assert_int_equal(read_tags(c, tags, 16), 1);
    assert_int_equal(tags[0], 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 0);
    dlp_capture_close(c);
    stdin_restore(saved);
}

static void break_stops_file_reading(void **state)
{
    fixture_t *fx = *state;
    dlp_frame_t f;
    write_udp_pcap(tpath(fx, "a.pcap"), 5, 53, 1);
    dlp_capture_t *c = open1(fx, fx->path, NULL);
    assert_non_null(c);
    assert_int_equal(dlp_capture_next(c, &f), DLP_OK);
    dlp_capture_break(c);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    dlp_capture_poll_stats(c); /* no-op on files */
    dlp_capture_close(c);
    dlp_capture_close(NULL);
}

/* --- the committed captures of pcaps/ (pcaps/README.md) ------------------------ */

static const char *src_path(fixture_t *fx, const char *rel)
{
    const char *src = getenv("DLP_SRC");
    snprintf(fx->path, sizeof(fx->path), "%s/pcaps/%s", src ? src : ".", rel);
    return fx->path;
}

static void committed_captures_frames_and_link_types(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *name;
        int frames;
        int linktype;
    } files[] = {
        {"tcp-http-basic.pcap", 10, 1},
        {"linktype-vlan.pcap", 10, 1},
        {"linktype-qinq.pcap", 10, 1},
        {"linktype-sll.pcap", 10, 113},
        {"linktype-sll2.pcap", 10, 276},
        {"linktype-raw.pcap", 20, 12},
        {"linktype-null.pcap", 10, 0},
        {"linktype-loop.pcap", 10, 108},
        {"ipv6-ext-headers.pcap", 10, 1},
        {"frag-ipv4.pcap", 26, 1},
        {"frag-ipv6.pcap", 26, 1},
        {"tcp-ooo-retrans-overlap.pcap", 24, 1},
        {"tcp-gap-acked.pcap", 15, 1},
        {"tcp-midstream.pcap", 9, 1},
        {"tcp-seq-wrap.pcap", 20, 1},
        {"tcp-many-flows-timeouts.pcap", 584, 1},
        {"udp-dns.pcap", 10, 1},
        {"pcapng-mixed.pcapng", 12, 1},
        {"demo.pcap", 128, 1},
        {"bad/header-only.pcap", 0, 1},
    };
    dlp_frame_t f;
    for (size_t i = 0; i < DLP_ARRAY_LEN(files); i++) {
        dlp_capture_t *c = open1(fx, src_path(fx, files[i].name), NULL);
        assert_non_null(c);
        int n = 0;
        uint64_t last = 0;
        dlp_rc_t rc;
        while ((rc = dlp_capture_next(c, &f)) == DLP_OK) {
            assert_int_equal(f.linktype, files[i].linktype);
            assert_int_equal(f.caplen, f.wirelen);
            assert_true(f.ts_us >= last && f.ts_us >= (uint64_t)TS0 * 1000000u);
            last = f.ts_us;
            n++;
        }
        assert_int_equal(rc, DLP_DONE);
        if (n != files[i].frames)
            fail_msg("%s: %d frames, expected %d", files[i].name, n, files[i].frames);
        dlp_capture_close(c);
    }
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_TRUNCATED), 0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 0);
}

static void committed_bad_inputs(void **state)
{
    fixture_t *fx = *state;
    static const struct {
        const char *name, *reason;
    } bad[] = {
        {"bad/empty.pcap", "empty file"},
        {"bad/garbage.pcap", "not a pcap or pcapng capture (unknown file format)"},
        {"bad/not-a-capture.txt", "not a pcap or pcapng capture (unknown file format)"},
        {"bad/no-captures-dir", "no capture files in directory"},
    };
    char expect[600];
    uint8_t tags[32];
    for (size_t i = 0; i < DLP_ARRAY_LEN(bad); i++) {
        char *p = strdup(src_path(fx, bad[i].name));
        assert_null(open1(fx, p, NULL));
        snprintf(expect, sizeof(expect), "%s: %s", p, bad[i].reason);
        assert_string_equal(fx->err, expect);
        free(p);
    }
    /* bad/ itself: empty.pcap and garbage.pcap are named as captures and are not
     * valid ones, so the open fails on the first of them in name order */
    char *dir = strdup(src_path(fx, "bad"));
    snprintf(expect, sizeof(expect), "%s/empty.pcap: empty file", dir);
    assert_null(open1(fx, dir, NULL));
    assert_string_equal(fx->err, expect);
    free(dir);
    /* the rest of bad/: caplen-over-wirelen.pcap (10 frames, 3 of them caplen > len),
     * header-only.pcap, pcapng-linktype-change.pcapng (10 frames, then a read error)
     * and truncated-record.pcap (5) have a capture magic; the text file and the
     * subdirectory are skipped */
    static const char *const rest[] = {"caplen-over-wirelen.pcap", "header-only.pcap",
                                       "not-a-capture.txt", "pcapng-linktype-change.pcapng",
                                       "truncated-record.pcap", "no-captures-dir"};
    char link[600];
    assert_int_equal(mkdir(tpath(fx, "bad"), 0755), 0);
    for (size_t i = 0; i < DLP_ARRAY_LEN(rest); i++) {
        char *target = strdup(src_path(fx, "bad"));
        snprintf(link, sizeof(link), "%s/bad/%s", fx->dir, rest[i]);
        snprintf(expect, sizeof(expect), "%s/%s", target, rest[i]);
        assert_int_equal(symlink(expect, link), 0);
        free(target);
    }
    dir = tpath_dup(fx, "bad");
    dlp_capture_t *c = open1(fx, dir, NULL);
    assert_non_null(c);
    assert_int_equal(dlp_capture_file_count(c), 4);
    assert_int_equal(read_tags(c, tags, 32), 25);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_TRUNCATED), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_READ_ERRORS), 1);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_CAPLEN_OVER_WIRELEN), 3);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_FILES), 4);
    dlp_capture_close(c);
    free(dir);
}

/* --- live (root) ----------------------------------------------------------------- */

#define LIVE_PORT 47391

static void live_defaults(void **state)
{
    (void)state;
    dlp_capture_live_opts_t o;
    dlp_capture_live_opts_default(&o);
    assert_int_equal(o.snaplen, 256 * 1024);
    assert_int_equal(o.buffer_bytes, 64u * 1024 * 1024);
    assert_int_equal(o.timeout_ms, 50);
    assert_true(o.promisc);
    assert_true(o.count_if_drops);
}

/* The one bound of open_live: the count of interfaces, checked before opening any. */
static void live_iface_limit(void **state)
{
    fixture_t *fx = *state;
    const char *many[DLP_CAPTURE_MAX_IFACES + 1];
    for (size_t i = 0; i < DLP_ARRAY_LEN(many); i++)
        many[i] = "lo";
    assert_null(dlp_capture_open_live(many, DLP_ARRAY_LEN(many), NULL, NULL, &fx->st, fx->err,
                                      sizeof(fx->err)));
    assert_string_equal(fx->err, "too many interfaces: 65 (at most 64)");
    assert_null(dlp_capture_open_live(many, 0, NULL, NULL, &fx->st, fx->err, sizeof(fx->err)));
    assert_string_equal(fx->err, "no interface given");
    dlp_capture_live_opts_t o;
    dlp_capture_live_opts_default(&o);
    o.timeout_ms = 0;
    assert_null(dlp_capture_open_live(many, 1, NULL, &o, &fx->st, fx->err, sizeof(fx->err)));
    assert_string_equal(fx->err, "capture: snaplen, buffer and timeout must be positive");
}

static void send_udp(int n, const char *prefix)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(LIVE_PORT)};
    char msg[32];
    assert_true(s >= 0);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < n; i++) {
        int len = snprintf(msg, sizeof(msg), "%s%d", prefix, i);
        assert_int_equal(sendto(s, msg, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)), len);
    }
    close(s);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define LIVE_FILTER "udp and dst host 127.0.0.1 and dst port 47391"

/* Two handles on "lo": each sees every datagram once, tagged with its index. */
static void live_lo_reads_datagrams(void **state)
{
    fixture_t *fx = *state;
    const char *ifs[] = {"lo", "lo"};
    int per_source[2] = {0, 0};
    dlp_frame_t f;
    if (geteuid() != 0)
        skip();
    dlp_capture_t *c =
        dlp_capture_open_live(ifs, 2, LIVE_FILTER, NULL, &fx->st, fx->err, sizeof(fx->err));
    assert_non_null(c);
    assert_true(dlp_capture_is_live(c));
    assert_int_equal(dlp_capture_file_count(c), 0);
    send_udp(5, "dlp-live-");
    uint64_t t0 = mono_ms(), now_us = (uint64_t)time(NULL) * 1000000u;
    while (per_source[0] + per_source[1] < 10 && mono_ms() - t0 < 5000) {
        dlp_rc_t rc = dlp_capture_next(c, &f);
        if (rc == DLP_AGAIN)
            continue;
        assert_int_equal(rc, DLP_OK);
        assert_true(f.source < 2);
        char expect[32];
        snprintf(expect, sizeof(expect), "dlp-live-%d", per_source[f.source]);
        per_source[f.source]++;
        assert_int_equal(f.linktype, LT_EN10MB);
        assert_int_equal(f.caplen, 42 + 10);
        assert_int_equal(f.wirelen, f.caplen);
        assert_memory_equal(f.data + 42, expect, 10);
        assert_true(f.ts_us + 60000000u > now_us && f.ts_us < now_us + 60000000u);
    }
    assert_int_equal(per_source[0], 5);
    assert_int_equal(per_source[1], 5);
    dlp_capture_poll_stats(c);
    /* lo: the kernel counts each datagram twice (sent and looped back) */
    assert_int_equal(dlp_capture_iface_count(c), 2);
    for (size_t i = 0; i < 2; i++) {
        dlp_capture_iface_stats_t is;
        assert_int_equal(dlp_capture_iface_stats(c, i, &is), DLP_OK);
        assert_string_equal(is.name, "lo");
        assert_int_equal(is.received, 10);
        assert_int_equal(is.kernel_drops, 0);
        assert_int_equal(is.if_drops, 0);
        assert_int_equal(dlp_capture_fanout_group(c, i), -1);
    }
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_RECEIVED), 20);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_KERNEL_DROPS), 0);
    /* promiscuous by default: the interface's own drops are counted too (none) */
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_IF_DROPS), 0);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_SNAP_TRUNCATED), 0);
    dlp_capture_close(c);
}

/* A small snaplen truncates frames (and counts them). */
static void live_snaplen_and_again(void **state)
{
    fixture_t *fx = *state;
    const char *ifs[] = {"lo"};
    dlp_capture_live_opts_t o;
    dlp_frame_t f;
    int got = 0;
    if (geteuid() != 0)
        skip();
    dlp_capture_live_opts_default(&o);
    o.snaplen = 46;
    o.timeout_ms = 20;
    o.promisc = false;
    o.buffer_bytes = 1u << 20;
    dlp_capture_t *c =
        dlp_capture_open_live(ifs, 1, LIVE_FILTER, &o, &fx->st, fx->err, sizeof(fx->err));
    assert_non_null(c);
    assert_int_equal(dlp_capture_next(c, &f), DLP_AGAIN); /* nothing sent yet */
    send_udp(3, "dlp-snap-");
    uint64_t t0 = mono_ms();
    while (got < 3 && mono_ms() - t0 < 5000) {
        dlp_rc_t rc = dlp_capture_next(c, &f);
        if (rc == DLP_AGAIN)
            continue;
        assert_int_equal(rc, DLP_OK);
        assert_int_equal(f.caplen, 46);
        assert_int_equal(f.wirelen, 52);
        got++;
    }
    assert_int_equal(got, 3);
    assert_int_equal(stat_of(fx, DLP_STAT_CAP_SNAP_TRUNCATED), 3);
    dlp_capture_close(c);
}

static void *break_later(void *arg)
{
    struct timespec d = {0, 100 * 1000000};
    nanosleep(&d, NULL);
    dlp_capture_break(arg);
    return NULL;
}

static dlp_capture_t *volatile g_sig_cap;
static void on_alarm(int sig)
{
    (void)sig;
    dlp_capture_break(g_sig_cap);
}

/* With a 10 s poll timeout, a break from a thread or a signal handler returns at once. */
static void live_break_wakes_poll(void **state)
{
    fixture_t *fx = *state;
    const char *ifs[] = {"lo"};
    dlp_capture_live_opts_t o;
    dlp_frame_t f;
    pthread_t t;
    if (geteuid() != 0)
        skip();
    dlp_capture_live_opts_default(&o);
    o.timeout_ms = 10000;
    o.buffer_bytes = 1u << 20;
    const char *quiet = "udp and dst port 47392 and dst host 127.0.0.9";

    dlp_capture_t *c = dlp_capture_open_live(ifs, 1, quiet, &o, &fx->st, fx->err, sizeof(fx->err));
    assert_non_null(c);
    uint64_t t0 = mono_ms();
    assert_int_equal(pthread_create(&t, NULL, break_later, c), 0);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_true(mono_ms() - t0 < 3000);
    pthread_join(t, NULL);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    dlp_capture_close(c);

    c = dlp_capture_open_live(ifs, 1, quiet, &o, &fx->st, fx->err, sizeof(fx->err));
    assert_non_null(c);
    g_sig_cap = c;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {.it_value = {0, 100000}};
    t0 = mono_ms();
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    assert_int_equal(dlp_capture_next(c, &f), DLP_DONE);
    assert_true(mono_ms() - t0 < 3000);
    signal(SIGALRM, SIG_DFL);
    dlp_capture_close(c);
}

static void live_errors(void **state)
{
    fixture_t *fx = *state;
    const char *nosuch[] = {"dlpnosuch0"};
    const char *lo[] = {"lo"};
    if (geteuid() != 0)
        skip();
    assert_null(dlp_capture_open_live(nosuch, 1, NULL, NULL, &fx->st, fx->err, sizeof(fx->err)));
    assert_true(strncmp(fx->err, "dlpnosuch0: ", 12) == 0);
    assert_true(strlen(fx->err) > 12);
    assert_null(
        dlp_capture_open_live(lo, 1, "udp porty 1", NULL, &fx->st, fx->err, sizeof(fx->err)));
    assert_true(strncmp(fx->err, "lo: bad filter 'udp porty 1': ", 30) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(pcap_us_frames_and_end),
        T(pcap_byte_orders_and_ns),
        T(pcapng_us_and_ns),
        T(header_only_is_valid_and_empty),
        T(snaplen_truncated_frames_counted),
        T(directory_in_name_order_skips_others),
        T(several_paths_in_given_order),
        T(link_type_per_file),
        T(error_nonexistent),
        T(error_empty_file),
        T(error_garbage_file),
        T(error_not_a_regular_file),
        T(error_empty_directory),
        T(error_unreadable_file_in_directory),
        T(error_capture_named_file_in_directory),
        T(error_in_any_file_fails_open),
        T(error_message_fits_buffer),
        T(truncated_last_record_not_fatal),
        T(cut_header_and_bad_length),
        T(caplen_over_wirelen_counted),
        T(pcapng_link_type_change_is_read_error),
        T(file_gone_before_reading),
        T(bpf_bad_expression),
        T(bpf_checked_per_link_type),
        T(bpf_filters_frames),
        T(files_again_same_frames_counted_once),
        T(stream_checked_at_open),
        T(break_stops_file_reading),
        T(committed_captures_frames_and_link_types),
        T(committed_bad_inputs),
        T(live_defaults),
        T(live_iface_limit),
        T(live_lo_reads_datagrams),
        T(live_snaplen_and_again),
        T(live_break_wakes_poll),
        T(live_errors),
#undef T
    };
    dlp_log_set_level(DLP_LOG_ERR); /* the skips and warnings are expected here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
