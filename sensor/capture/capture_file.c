/*
 * capture_file.c - frames from capture files: pcap (µs or ns, either byte
 * order) and pcapng, given as files or directories of them.
 *
 * Design: open expands directories (their regular files with a capture
 * magic or a capture's name, sorted by name with strcmp, not recursive) into
 * one list of paths, then opens every file once with libpcap and compiles the
 * filter for its link type, so any unusable input is reported before a packet
 * is read.
 * Reading re-opens the files one after the other: one pcap_t at a time. A
 * pipe (stdin, a FIFO) cannot be opened twice: it is opened at open, its
 * header read and its filter compiled there, and that handle is read later.
 * A read error inside a file (a truncated last record, a corrupt length, a
 * pcapng interface of another link type) is counted, logged once for that
 * file, and ends only that file; all but a truncated last record also fail
 * the run (read_failed()). A handle made
 * by dlp_capture_files_again() reads the same list again for another worker;
 * it is quiet (logs nothing, counts into a block of its own), since the
 * first handle meets and reports the same problems.
 *
 * Invariants: 'cur' is NULL or the open handle of paths[idx]; frames borrow
 * libpcap's buffer of 'cur', valid until the next call.
 * Thread: the owning thread; dlp_capture_break() only sets the stop flag,
 * checked between records.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture_int.h"
#include "dlp/log.h"
#include "dlp/mem.h"

typedef struct file_capture {
    dlp_capture_t base;
    char **paths; /* owned; base.nfiles of them */
    size_t cap;
    char *bpf;  /* owned copy, or NULL */
    size_t idx; /* file being read, or next to open */
    pcap_t *cur;
    char *iobuf; /* stdio buffer of cur's file */
    int linktype;
    /* A second reader of the same files (dlp_capture_files_again), which logs
     * nothing: its counters, which nobody reads. NULL for the first reader. */
    dlp_stats_t *own_st;
    /* Per path: a pipe's handle, opened (its header read) by the open call and
     * taken by open_current(); NULL for files, and for the second reader. */
    struct stream_pre {
        pcap_t *p;
        char *iobuf;
    } *pre;
} file_capture_t;

/*
 * libpcap reads files through stdio, whose default buffer is 4 KiB: a
 * system call per 4 KiB. A large buffer cuts the reader's time noticeably.
 */
#define FILE_IOBUF (1u << 20)

enum { MAGIC_LEN = 4 };

static bool magic_is_capture(const uint8_t m[MAGIC_LEN])
{
    static const uint8_t magics[][MAGIC_LEN] = {
        {0xa1, 0xb2, 0xc3, 0xd4}, {0xd4, 0xc3, 0xb2, 0xa1}, /* pcap, µs */
        {0xa1, 0xb2, 0x3c, 0x4d}, {0x4d, 0x3c, 0xb2, 0xa1}, /* pcap, ns */
        {0x0a, 0x0d, 0x0d, 0x0a},                           /* pcapng SHB */
    };
    for (size_t i = 0; i < DLP_ARRAY_LEN(magics); i++) {
        if (memcmp(m, magics[i], MAGIC_LEN) == 0)
            return true;
    }
    return false;
}

/* Returns 0 and whether the file starts with a capture magic, or an errno. */
static int sniff_magic(const char *path, bool *is_capture)
{
    uint8_t m[MAGIC_LEN];
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *is_capture = false;
    if (fd < 0)
        return errno;
    while (got < MAGIC_LEN) {
        ssize_t r = read(fd, m + got, MAGIC_LEN - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *is_capture = got == MAGIC_LEN && magic_is_capture(m);
    return 0;
}

static dlp_rc_t paths_push(file_capture_t *fc, const char *path)
{
    char *copy = NULL;

    if (fc->base.nfiles == fc->cap) {
        size_t ncap = fc->cap ? fc->cap * 2 : 16;
        char **np = realloc(fc->paths, ncap * sizeof(*np));
        if (np == NULL)
            return DLP_ENOMEM;
        fc->paths = np;
        fc->cap = ncap;
    }
    copy = strdup(path);
    if (copy == NULL)
        return DLP_ENOMEM;
    fc->paths[fc->base.nfiles++] = copy;
    return DLP_OK;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    char *p = malloc(dl + nl + 2);

    if (p != NULL)
        snprintf(p, dl + nl + 2, "%s%s%s", dir, slash ? "" : "/", name);
    return p;
}

/*
 * Whether a file's name says it is a capture: the extensions of pcap, pcapng
 * and the tools that write them (tcpdump, Wireshark, Network Monitor), in any
 * case. Such a file in a directory is checked as if given alone.
 */
static bool name_is_capture(const char *name)
{
    static const char *const exts[] = {".pcap", ".pcapng", ".cap", ".ntar", ".dmp"};
    const char *dot = strrchr(name, '.');

    for (size_t i = 0; dot != NULL && dot != name && i < DLP_ARRAY_LEN(exts); i++) {
        if (strcasecmp(dot, exts[i]) == 0)
            return true;
    }
    return false;
}

/*
 * Adds dir/name if it is a regular file that starts with a capture magic or
 * whose name says it is a capture (name_is_capture): check_file() then fails
 * the open on one that is not a valid capture (empty, no magic, a bad
 * header), naming it, as when it is given alone; a forensic run does not go
 * on without it. Any other file without a capture magic is skipped. A regular
 * file that cannot be read may be a capture: an error ("PATH: reason" in
 * err), as when it is given alone.
 */
static dlp_rc_t dir_consider(file_capture_t *fc, const char *dir, const char *name, char *err,
                             size_t errlen)
{
    struct stat sb;
    bool is_cap = false;
    int e;
    dlp_rc_t rc = DLP_OK;
    char *full = join_path(dir, name);

    if (full == NULL)
        return DLP_ENOMEM;
    if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode))
        dlp_log(DLP_LOG_INFO, "%s: skipped, a directory (not read recursively)", full);
    else if (stat(full, &sb) != 0 || !S_ISREG(sb.st_mode))
        dlp_log(DLP_LOG_INFO, "%s: skipped, not a regular file", full);
    else if ((e = sniff_magic(full, &is_cap)) != 0) {
        dlp_capture__err(err, errlen, "%s: %s", full, strerror(e));
        rc = DLP_EIO;
    } else if (!is_cap && !name_is_capture(name))
        dlp_log(DLP_LOG_INFO, "%s: skipped, not a pcap or pcapng capture", full);
    else
        rc = paths_push(fc, full);
    free(full);
    return rc;
}

static dlp_rc_t add_dir(file_capture_t *fc, const char *dir, char *err, size_t errlen)
{
    size_t first = fc->base.nfiles;
    dlp_rc_t rc = DLP_OK;
    struct dirent *de;
    DIR *d = opendir(dir);

    if (d == NULL) {
        dlp_capture__err(err, errlen, "%s: %s", dir, strerror(errno));
        return DLP_EIO;
    }
    for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = dir_consider(fc, dir, de->d_name, err, errlen);
        if (rc != DLP_OK)
            goto out;
    }
    if (errno != 0) {
        dlp_capture__err(err, errlen, "%s: %s", dir, strerror(errno));
        rc = DLP_EIO;
        goto out;
    }
    if (fc->base.nfiles == first) {
        dlp_capture__err(err, errlen, "%s: no capture files in directory", dir);
        rc = DLP_EINVAL;
        goto out;
    }
    /* One directory: every entry has the same prefix, so this is name order. */
    qsort(fc->paths + first, fc->base.nfiles - first, sizeof(char *), cmp_path);
out:
    if (rc == DLP_ENOMEM)
        dlp_capture__err(err, errlen, "%s: out of memory", dir);
    closedir(d);
    return rc;
}

/* "-" (standard input) or a named pipe: read once, as it comes. */
bool dlp_capture_path_is_stream(const char *path)
{
    struct stat sb;

    return strcmp(path, "-") == 0 || (stat(path, &sb) == 0 && S_ISFIFO(sb.st_mode));
}

static dlp_rc_t add_path(file_capture_t *fc, const char *path, char *err, size_t errlen)
{
    struct stat sb;

    if (strcmp(path, "-") == 0) {
        for (size_t i = 0; i < fc->base.nfiles; i++)
            if (strcmp(fc->paths[i], "-") == 0) {
                /* its header was checked at open: a second read would find neither */
                dlp_capture__err(err, errlen, "-: standard input can be read once");
                return DLP_EINVAL;
            }
        return paths_push(fc, path) == DLP_OK ? DLP_OK : DLP_ENOMEM;
    }
    if (stat(path, &sb) != 0) {
        dlp_capture__err(err, errlen, "%s: %s", path, strerror(errno));
        return DLP_EIO;
    }
    if (S_ISDIR(sb.st_mode))
        return add_dir(fc, path, err, errlen);
    if (paths_push(fc, path) != DLP_OK) {
        dlp_capture__err(err, errlen, "%s: out of memory", path);
        return DLP_ENOMEM;
    }
    return DLP_OK;
}

/* Everything that can make a file unusable, checked before any packet is read. */
static dlp_rc_t check_file(const file_capture_t *fc, const char *path, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    char msg[PCAP_ERRBUF_SIZE + 256];
    struct stat sb;
    bool is_cap = false;
    int e;
    pcap_t *p = NULL;
    dlp_rc_t rc = DLP_EINVAL;

    if (stat(path, &sb) != 0) {
        dlp_capture__err(err, errlen, "%s: %s", path, strerror(errno));
        return DLP_EIO;
    }
    if (!S_ISREG(sb.st_mode)) {
        dlp_capture__err(err, errlen, "%s: not a regular file or directory", path);
        return DLP_EINVAL;
    }
    if (sb.st_size == 0) {
        dlp_capture__err(err, errlen, "%s: empty file", path);
        return DLP_EINVAL;
    }
    if ((e = sniff_magic(path, &is_cap)) != 0) {
        dlp_capture__err(err, errlen, "%s: %s", path, strerror(e));
        return DLP_EIO;
    }
    p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (p == NULL) {
        if (is_cap)
            dlp_capture__err(err, errlen, "%s: %s", path, ebuf);
        else
            dlp_capture__err(err, errlen, "%s: not a pcap or pcapng capture (%s)", path, ebuf);
        return DLP_EINVAL;
    }
    if (fc->bpf != NULL && dlp_capture__filter(p, fc->bpf, false, msg, sizeof(msg)) != DLP_OK) {
        dlp_capture__err(err, errlen, "%s: %s", path, msg);
        goto out;
    }
    dlp_capture__check_linktype(path, pcap_datalink(p));
    rc = DLP_OK;
out:
    pcap_close(p);
    return rc;
}

static void end_file(file_capture_t *fc)
{
    if (fc->cur != NULL)
        pcap_close(fc->cur); /* closes the FILE: its buffer is free after */
    fc->cur = NULL;
    free(fc->iobuf);
    fc->iobuf = NULL;
    fc->idx++;
}

/* Opens path for reading with a FILE_IOBUF stdio buffer (fc->iobuf). */
static pcap_t *open_buffered(file_capture_t *fc, const char *path, char *ebuf)
{
    int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : strcmp(path, "-") == 0 ? NULL : fopen(path, "rb");
    pcap_t *p;

    if (f == NULL) {
        snprintf(ebuf, PCAP_ERRBUF_SIZE, "%s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    fc->iobuf = malloc(FILE_IOBUF);
    if (fc->iobuf != NULL)
        setvbuf(f, fc->iobuf, _IOFBF, FILE_IOBUF);
    p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, ebuf);
    if (p == NULL) {
        fclose(f);
        free(fc->iobuf);
        fc->iobuf = NULL;
    }
    return p;
}

/*
 * check_file() of a pipe, which can be opened once: opens it (reads its
 * header) into fc->pre[i], kept for reading, and compiles the filter.
 */
static dlp_rc_t open_stream(file_capture_t *fc, size_t i, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    char msg[PCAP_ERRBUF_SIZE + 256];
    pcap_t *p = open_buffered(fc, fc->paths[i], ebuf);

    if (p == NULL) {
        dlp_capture__err(err, errlen, "%s: %s", fc->paths[i], ebuf);
        return DLP_EINVAL;
    }
    fc->pre[i].p = p;
    fc->pre[i].iobuf = fc->iobuf;
    fc->iobuf = NULL;
    if (fc->bpf != NULL && dlp_capture__filter(p, fc->bpf, false, msg, sizeof(msg)) != DLP_OK) {
        dlp_capture__err(err, errlen, "%s: %s", fc->paths[i], msg);
        return DLP_EINVAL;
    }
    dlp_capture__check_linktype(fc->paths[i], pcap_datalink(p));
    return DLP_OK;
}

/* A file that passed check_file() may still have changed since: not fatal. */
static bool open_current(file_capture_t *fc)
{
    const char *path = fc->paths[fc->idx];
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    char msg[PCAP_ERRBUF_SIZE + 256];
    struct stream_pre *pre = fc->pre != NULL ? &fc->pre[fc->idx] : NULL;
    pcap_t *p;

    if (pre != NULL && pre->p != NULL) { /* a pipe, opened by open_stream() */
        p = pre->p;
        fc->iobuf = pre->iobuf;
        pre->p = NULL;
        pre->iobuf = NULL;
    } else {
        p = open_buffered(fc, path, ebuf);
    }

    if (p == NULL) { /* checked at open: it changed since, and is not read */
        if (fc->own_st == NULL)
            dlp_log(DLP_LOG_ERR, "%s: %s", path, ebuf);
        dlp_capture__count(&fc->base, DLP_STAT_CAP_READ_ERRORS, 1);
        return false;
    }
    if (fc->bpf != NULL && dlp_capture__filter(p, fc->bpf, true, msg, sizeof(msg)) != DLP_OK) {
        if (fc->own_st == NULL)
            dlp_log(DLP_LOG_ERR, "%s: %s", path, msg);
        dlp_capture__count(&fc->base, DLP_STAT_CAP_READ_ERRORS, 1);
        pcap_close(p);
        free(fc->iobuf);
        fc->iobuf = NULL;
        return false;
    }
    fc->cur = p;
    fc->linktype = pcap_datalink(p);
    dlp_capture__count(&fc->base, DLP_STAT_CAP_FILES, 1);
    if (fc->own_st == NULL)
        dlp_log(DLP_LOG_DEBUG, "%s: reading, link type %d", path, fc->linktype);
    return true;
}

/*
 * Where libpcap stopped in cur's file, and the file's size, into *pos and
 * *size: false for a pipe (no position) or if either is unknown.
 */
static bool read_position(file_capture_t *fc, uint64_t *pos, uint64_t *size)
{
    FILE *f = pcap_file(fc->cur);
    struct stat sb;
    off_t at;

    if (f == NULL || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
        return false;
    at = ftello(f); /* stdio's position: what libpcap consumed, not what was buffered */
    if (at < 0)
        return false;
    *pos = (uint64_t)at;
    *size = (uint64_t)sb.st_size;
    return true;
}

/*
 * A record cut short by the end of the file (the capture was stopped while
 * writing) loses only that record: counted, a warning, the run goes on as a
 * success. Any other error (a corrupt length, a pcapng interface of another
 * link type, which libpcap 1.10 cannot read past) leaves the rest of the
 * file unread: a read error, logged as an error with how much was not read,
 * and the run's exit status says the input was not read whole (runtime.c).
 */
static void read_failed(file_capture_t *fc)
{
    const char *why = pcap_geterr(fc->cur);
    const char *path = fc->paths[fc->idx];
    uint64_t pos = 0, size = 0;

    if (strstr(why, "truncated") != NULL) {
        dlp_capture__count(&fc->base, DLP_STAT_CAP_TRUNCATED, 1);
        if (fc->own_st == NULL)
            dlp_log(DLP_LOG_WARN, "%s: %s", path, why);
        return;
    }
    dlp_capture__count(&fc->base, DLP_STAT_CAP_READ_ERRORS, 1);
    if (fc->own_st != NULL)
        return;
    if (!read_position(fc, &pos, &size))
        dlp_log(DLP_LOG_ERR, "%s: %s; stopped reading: the rest of the input is not read", path,
                why);
    else if (size > pos)
        dlp_log(DLP_LOG_ERR,
                "%s: %s; stopped reading at byte %" PRIu64 " of %" PRIu64 ": the last %" PRIu64
                " bytes of the file are not read",
                path, why, pos, size, size - pos);
    else
        dlp_log(DLP_LOG_ERR, "%s: %s (at the end of the file)", path, why);
}

static dlp_rc_t file_next(dlp_capture_t *c, dlp_frame_t *f)
{
    file_capture_t *fc = (file_capture_t *)c;
    struct pcap_pkthdr *h;
    const u_char *data;

    while (!dlp_capture__stopped(c)) {
        if (fc->cur == NULL) {
            if (fc->idx >= c->nfiles)
                return DLP_DONE;
            if (!open_current(fc)) {
                fc->idx++;
                continue;
            }
        }
        int r = pcap_next_ex(fc->cur, &h, &data);
        if (r == 1) {
            dlp_capture__frame(c, f, h, data, fc->linktype, 0);
            return DLP_OK;
        }
        /* a stop signal interrupts a blocking read (a pipe on stdin): the
         * end the operator asked for, not a damaged input */
        if (r == PCAP_ERROR && !dlp_capture__stopped(c))
            read_failed(fc);
        end_file(fc);
    }
    return DLP_DONE;
}

static void file_close(dlp_capture_t *c)
{
    file_capture_t *fc = (file_capture_t *)c;

    if (fc->cur != NULL)
        pcap_close(fc->cur);
    free(fc->iobuf);
    for (size_t i = 0; i < c->nfiles; i++)
        free(fc->paths[i]);
    free(fc->paths);
    for (size_t i = 0; fc->pre != NULL && i < c->nfiles; i++) {
        if (fc->pre[i].p != NULL)
            pcap_close(fc->pre[i].p);
        free(fc->pre[i].iobuf);
    }
    free(fc->pre);
    free(fc->bpf);
    free(fc->own_st);
    free(fc);
}

static const dlp_capture_ops_t file_ops = {
    .next = file_next,
    .brk = NULL,
    .poll_stats = NULL,
    .close = file_close,
    .iface_count = NULL,
    .iface_stats = NULL,
    .fanout_group = NULL,
};

dlp_capture_t *dlp_capture_open_files(const char *const *paths, size_t n, const char *bpf,
                                      dlp_stats_t *st, char *err, size_t errlen)
{
    file_capture_t *fc = NULL;

    if (paths == NULL || n == 0) {
        dlp_capture__err(err, errlen, "no capture file given");
        return NULL;
    }
    fc = calloc(1, sizeof(*fc));
    if (fc == NULL)
        goto nomem;
    dlp_capture__init(&fc->base, &file_ops, st, false);
    if (bpf != NULL && bpf[0] != '\0' && (fc->bpf = strdup(bpf)) == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (add_path(fc, paths[i], err, errlen) != DLP_OK)
            goto fail;
    }
    if ((fc->pre = calloc(fc->base.nfiles, sizeof(*fc->pre))) == NULL)
        goto nomem;
    for (size_t i = 0; i < fc->base.nfiles; i++) {
        dlp_rc_t rc = dlp_capture_path_is_stream(fc->paths[i])
                          ? open_stream(fc, i, err, errlen)
                          : check_file(fc, fc->paths[i], err, errlen);
        if (rc != DLP_OK)
            goto fail;
    }
    return &fc->base;
nomem:
    dlp_capture__err(err, errlen, "capture: out of memory");
fail:
    if (fc != NULL)
        file_close(&fc->base);
    return NULL;
}

dlp_capture_t *dlp_capture_files_again(const dlp_capture_t *c)
{
    const file_capture_t *orig = (const file_capture_t *)c;
    file_capture_t *fc = calloc(1, sizeof(*fc));

    if (fc == NULL)
        return NULL;
    fc->own_st = dlp_calloc_aligned(sizeof(*fc->own_st));
    dlp_capture__init(&fc->base, &file_ops, fc->own_st, false);
    if (fc->own_st == NULL || (orig->bpf != NULL && (fc->bpf = strdup(orig->bpf)) == NULL))
        goto fail;
    dlp_stats_init(fc->own_st);
    for (size_t i = 0; i < c->nfiles; i++)
        if (paths_push(fc, orig->paths[i]) != DLP_OK)
            goto fail;
    return &fc->base;
fail:
    file_close(&fc->base);
    return NULL;
}
