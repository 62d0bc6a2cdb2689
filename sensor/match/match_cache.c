/*
 * match_cache.c - compiled databases saved on disk, keyed by their inputs.
 *
 * Compiling a rule set takes 100+ ms per database; deserialising takes
 * 0.1 ms (research/technical.md 2.6). The key is a SHA-256 over a format
 * string (which names DLP_MATCH_TAIL, since it decides which patterns are
 * accepted), hs_version(), every expression's bytes, flags and id in
 * order, the modes, and the host's tune and CPU features: databases are
 * compiled for the host (platform NULL) and would not load elsewhere.
 *
 * File cache_dir/<hex key>.hsdb, native byte order:
 *   magic "DLPHSDB\n" | u32 format | u32 npat | key[32] | u32 ndb | u32 0 |
 *   sha256[32] over the rest | u64 len[ndb] | u32 max_width[npat] |
 *   the ndb serialized databases (match_int.h gives their order)
 * Every check failing (size, magic, key, digest, deserialise) means
 * "not cached": the caller compiles and rewrites the file. Files are
 * written to a temp name and renamed, so a reader never sees half a file.
 *
 * Thread: called by dlp_matcher_new only (control thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlp/log.h"
#include "match_int.h"

#define CACHE_MAGIC "DLPHSDB\n"
#define CACHE_FORMAT 3u
/* Far above any rule set the loader accepts (4 096 rules: tens of MB of databases). */
#define DLP_MATCH_CACHE_MAX_BYTES ((off_t)512 << 20)
#define STR_(x) #x
#define STR(x) STR_(x)
#define KEY_FORMAT                                                                                 \
    "dlpsensor-match-cache/3 tail=" STR(DLP_MATCH_TAIL) " stream-som-small+block-som"

typedef struct cache_hdr {
    char magic[8];
    uint32_t format;
    uint32_t npat;
    uint8_t key[32];
    uint32_t ndb;
    uint32_t zero;
    uint8_t digest[32];
} cache_hdr_t;

static bool sha_update(EVP_MD_CTX *c, const void *p, size_t n)
{
    return EVP_DigestUpdate(c, p, n) == 1;
}

static bool key_inputs(EVP_MD_CTX *c, const dlp_match_input_t *in, const hs_platform_info_t *plat)
{
    const char *ver = hs_version();
    unsigned modes[2] = {HS_MODE_STREAM, HS_MODE_BLOCK};
    uint64_t feat = plat->cpu_features;
    bool ok = sha_update(c, KEY_FORMAT, sizeof(KEY_FORMAT)) &&
              sha_update(c, ver, strlen(ver) + 1) && sha_update(c, modes, sizeof(modes)) &&
              sha_update(c, &plat->tune, sizeof(plat->tune)) &&
              sha_update(c, &feat, sizeof(feat)) && sha_update(c, &in->n, sizeof(in->n));

    for (unsigned i = 0; ok && i < in->n; i++) {
        uint64_t len = strlen(in->expr[i]);
        ok = sha_update(c, &len, sizeof(len)) && sha_update(c, in->expr[i], len) &&
             sha_update(c, &in->flags[i], sizeof(in->flags[i])) &&
             sha_update(c, &in->ids[i], sizeof(in->ids[i]));
    }
    return ok;
}

bool dlp_match__cache_key(const dlp_match_input_t *in, const hs_platform_info_t *plat,
                          uint8_t key[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned len = 0;
    bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
              key_inputs(c, in, plat) && EVP_DigestFinal_ex(c, key, &len) == 1 && len == 32;

    EVP_MD_CTX_free(c);
    return ok;
}

/* SHA-256 over the pieces that follow the header. */
static bool pieces_digest(const void *const *p, const size_t *len, size_t n, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned dlen = 0;
    bool ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;

    for (size_t i = 0; ok && i < n; i++)
        ok = sha_update(c, p[i], len[i]);
    ok = ok && EVP_DigestFinal_ex(c, out, &dlen) == 1 && dlen == 32;
    EVP_MD_CTX_free(c);
    return ok;
}

static void cache_path(char *out, size_t cap, const char *dir, const uint8_t key[32])
{
    char hex[65];

    for (size_t i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    snprintf(out, cap, "%s/%s.hsdb", dir, hex);
}

/*
 * The whole file, or NULL. Only a regular file of this user's, not through a
 * link, and not huge: with -u the cache directory belongs to the user the
 * sensor runs as, and what it holds is read by the next start as root and
 * handed to Hyperscan's deserialiser, which is not built for hostile input
 * (and a FIFO there would hang the start). A file of another user's is
 * compiled anew instead.
 */
static uint8_t *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    uint8_t *buf = NULL;
    struct stat sb;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
        sb.st_size < (off_t)sizeof(cache_hdr_t) || sb.st_size > DLP_MATCH_CACHE_MAX_BYTES)
        goto fail;
    buf = malloc((size_t)sb.st_size);
    if (buf == NULL)
        goto fail;
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto fail;
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* Header checks, then the lengths add up to the file size exactly, then the digest. */
static bool file_ok(const uint8_t *file, size_t len, const dlp_matcher_t *m, const uint8_t key[32],
                    const uint64_t **lens)
{
    const cache_hdr_t *h = (const cache_hdr_t *)(const void *)file;
    size_t fixed = sizeof(*h) + m->ndb * sizeof(uint64_t) + m->npat * sizeof(uint32_t);
    const void *body = file + sizeof(*h);
    size_t body_len = len - sizeof(*h), total = fixed;
    uint8_t dig[32];

    if (len < fixed || memcmp(h->magic, CACHE_MAGIC, 8) != 0 || h->format != CACHE_FORMAT ||
        h->npat != m->npat || h->ndb != m->ndb || memcmp(h->key, key, 32) != 0)
        return false;
    *lens = (const uint64_t *)(const void *)body;
    for (unsigned i = 0; i < m->ndb; i++) {
        if ((*lens)[i] == 0 || (*lens)[i] > len - total)
            return false;
        total += (size_t)(*lens)[i];
    }
    return total == len && pieces_digest(&body, &body_len, 1, dig) &&
           memcmp(dig, h->digest, 32) == 0;
}

static void free_dbs(dlp_matcher_t *m)
{
    for (unsigned i = 0; i < m->ndb; i++) {
        hs_free_database(m->db[i]);
        m->db[i] = NULL;
    }
}

bool dlp_match__cache_load(dlp_matcher_t *m, const char *cache_dir, const uint8_t key[32])
{
    char path[4096];
    const uint64_t *lens = NULL;
    const uint8_t *p;
    size_t len = 0;
    uint8_t *file;

    cache_path(path, sizeof(path), cache_dir, key);
    file = read_all(path, &len);
    if (file == NULL)
        return false;
    if (!file_ok(file, len, m, key, &lens))
        goto fail;
    p = file + sizeof(cache_hdr_t) + m->ndb * sizeof(uint64_t);
    for (unsigned i = 0; i < m->npat; i++, p += sizeof(uint32_t)) {
        uint32_t w;
        memcpy(&w, p, sizeof(w));
        if (w == 0 || w > DLP_MATCH_MAX_WIDTH)
            goto fail;
        m->pat[i].max_width = w;
    }
    for (unsigned i = 0; i < m->ndb; p += lens[i], i++)
        if (hs_deserialize_database((const char *)p, (size_t)lens[i], &m->db[i]) != HS_SUCCESS)
            goto fail;
    free(file);
    return true;
fail:
    dlp_log(DLP_LOG_INFO, "matcher cache %s: unusable, recompiling", path);
    free_dbs(m);
    free(file);
    return false;
}

static bool write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n > 0) {
        ssize_t r = write(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

static bool write_pieces(int fd, const void *const *p, const size_t *len, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!write_all(fd, p[i], len[i]))
            return false;
    return fsync(fd) == 0;
}

/* mkdir -p cache_dir (0700 each) unless it exists; true when it is a directory. */
static bool ensure_dir(const char *dir)
{
    char path[4096];
    struct stat sb;
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path))
        return false;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return false;
    if (stat(dir, &sb) != 0)
        return false;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return false;
    }
    return true;
}

/*
 * The pieces after the header: lengths, widths, then each serialized
 * database (owned: freed by free_pieces). p and len have 2 + ndb entries.
 */
typedef struct pieces {
    const void **p;
    size_t *len;
    size_t n;
    uint64_t *lens;
    uint32_t *widths;
    char **blobs;
} pieces_t;

static void free_pieces(pieces_t *pc, unsigned ndb)
{
    for (unsigned i = 0; pc->blobs != NULL && i < ndb; i++)
        free(pc->blobs[i]);
    free(pc->blobs);
    free(pc->lens);
    free(pc->widths);
    free(pc->p);
    free(pc->len);
}

static bool make_pieces(pieces_t *pc, const dlp_matcher_t *m)
{
    pc->n = 2 + m->ndb;
    pc->p = calloc(pc->n, sizeof(*pc->p));
    pc->len = calloc(pc->n, sizeof(*pc->len));
    pc->lens = calloc(m->ndb, sizeof(*pc->lens));
    pc->widths = calloc(m->npat, sizeof(*pc->widths));
    pc->blobs = calloc(m->ndb, sizeof(*pc->blobs));
    if (!pc->p || !pc->len || !pc->lens || !pc->widths || !pc->blobs)
        return false;
    for (unsigned i = 0; i < m->ndb; i++) {
        size_t l = 0;
        if (hs_serialize_database(m->db[i], &pc->blobs[i], &l) != HS_SUCCESS)
            return false;
        pc->lens[i] = l;
        pc->p[2 + i] = pc->blobs[i];
        pc->len[2 + i] = l;
    }
    for (unsigned i = 0; i < m->npat; i++)
        pc->widths[i] = m->pat[i].max_width;
    pc->p[0] = pc->lens;
    pc->len[0] = m->ndb * sizeof(*pc->lens);
    pc->p[1] = pc->widths;
    pc->len[1] = m->npat * sizeof(*pc->widths);
    return true;
}

static bool fill_hdr(cache_hdr_t *h, const dlp_matcher_t *m, const uint8_t key[32],
                     const pieces_t *pc)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->format = CACHE_FORMAT;
    h->npat = m->npat;
    h->ndb = m->ndb;
    memcpy(h->key, key, 32);
    return pieces_digest(pc->p, pc->len, pc->n, h->digest);
}

/* Writes header + pieces to a temp file in the directory and renames it to 'path'. */
static bool write_atomic(const char *path, const cache_hdr_t *h, const pieces_t *pc)
{
    char tmp[4200];
    int fd, err;

    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return false;
    if (fchmod(fd, 0600) != 0 || !write_all(fd, h, sizeof(*h)) ||
        !write_pieces(fd, pc->p, pc->len, pc->n)) {
        err = errno;
        close(fd);
        unlink(tmp);
        errno = err;
        return false;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        err = errno;
        unlink(tmp);
        errno = err;
        return false;
    }
    return true;
}

bool dlp_match__cache_save(const dlp_matcher_t *m, const char *cache_dir, const uint8_t key[32])
{
    char path[4096];
    pieces_t pc = {0};
    cache_hdr_t h;
    bool ok = false;

    errno = 0;
    cache_path(path, sizeof(path), cache_dir, key);
    if (make_pieces(&pc, m) && fill_hdr(&h, m, key, &pc) && ensure_dir(cache_dir))
        ok = write_atomic(path, &h, &pc);
    if (!ok)
        dlp_log(DLP_LOG_WARN, "matcher cache %s: cannot write (%s); continuing without it",
                cache_dir, errno ? strerror(errno) : "serialisation failed");
    free_pieces(&pc, m->ndb);
    return ok;
}
