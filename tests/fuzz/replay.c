/*
 * replay.c - a main() for a fuzz target without libFuzzer, so every tree
 * (gcc too) compiles the targets and ctest exercises them.
 *
 * Usage: fuzz_<t>_replay [-n N] [-s SEED] [-m MAXLEN] [-g] [-v] [-w FILE] PATH...
 * Feeds LLVMFuzzerTestOneInput every regular file of each PATH (a file, or
 * a directory read in name order), then N inputs (default 300) from a
 * fixed-seed generator: half random bytes, half a corpus file with bytes
 * overwritten, inserted, truncated or repeated. Each input sits in a buffer
 * of its exact size, so ASan sees any over-read; with -g each input is run
 * a second time from a buffer that ends where an inaccessible page starts,
 * so an over-read by a library ASan does not instrument faults too. A target reports a broken
 * invariant by aborting; the exit status is then non-zero. -v names each
 * input on stderr before running it; -w FILE writes each input to FILE
 * first, so after a crash FILE holds the input that caused it (replay it
 * with "-n 0 FILE", or give it to the libFuzzer binary).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob_t;

static blob_t *g_corpus;
static size_t g_ncorpus, g_cap;
static uint64_t g_rng;
static int g_verbose;
static int g_guard;        /* -g */
static const char *g_last; /* -w */

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic for a seed, the same on every platform */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1DULL;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static void save_last(const uint8_t *p, size_t n)
{
    FILE *f = fopen(g_last, "wb");

    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(g_last);
        exit(1);
    }
}

/*
 * n bytes that end where an inaccessible page starts: an over-read faults
 * even in code ASan does not instrument (Hyperscan, libyaml, libcrypto).
 */
static uint8_t *guarded_new(size_t n, size_t *maplen)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), data_pages = (n + pg - 1) / pg;
    uint8_t *base;

    if (data_pages == 0)
        data_pages = 1;
    *maplen = (data_pages + 1) * pg;
    base = mmap(NULL, *maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED || mprotect(base + data_pages * pg, pg, PROT_NONE) != 0) {
        perror("replay: mmap");
        exit(1);
    }
    return base + data_pages * pg - n;
}

static void guarded_free(uint8_t *p, size_t n, size_t maplen)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *end = p + n;

    munmap(end - (maplen - pg), maplen);
}

static void run(const char *what, unsigned long i, const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    size_t maplen = 0;

    if (g_verbose) {
        fprintf(stderr, "replay: %s %lu (%zu bytes)\n", what, i, n);
        fflush(stderr);
    }
    if (g_last != NULL)
        save_last(p, n);
    if (copy == NULL) {
        fputs("replay: out of memory\n", stderr);
        exit(1);
    }
    if (n)
        memcpy(copy, p, n);
    (void)LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    if (!g_guard)
        return;
    copy = guarded_new(n, &maplen);
    if (n)
        memcpy(copy, p, n);
    (void)LLVMFuzzerTestOneInput(copy, n);
    guarded_free(copy, n, maplen);
}

static int add_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    blob_t b = {NULL, 0};
    size_t cap = 0, got;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    do {
        if (b.n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *np = realloc(b.p, cap);
            if (np == NULL)
                break;
            b.p = np;
        }
        got = fread(b.p + b.n, 1, cap - b.n, f);
        b.n += got;
    } while (got > 0);
    fclose(f);
    if (g_ncorpus == g_cap) {
        g_cap = g_cap ? 2 * g_cap : 64;
        blob_t *nc = realloc(g_corpus, g_cap * sizeof(*nc));
        if (nc == NULL) {
            free(b.p);
            return -1;
        }
        g_corpus = nc;
    }
    g_corpus[g_ncorpus++] = b;
    run(path, 0, b.p, b.n);
    return 0;
}

static int add_path(const char *path)
{
    struct dirent **ents = NULL;
    struct stat st;
    char sub[4096];
    int n, rc = 0;

    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(path);
    n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) {
        perror(path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
        if (ents[i]->d_name[0] != '.' && stat(sub, &st) == 0 && S_ISREG(st.st_mode) &&
            add_file(sub) != 0)
            rc = -1;
        free(ents[i]);
    }
    free(ents);
    return rc;
}

/* A corpus file with a few random edits, into buf (room for maxlen); returns its length. */
static size_t mutate(uint8_t *buf, size_t maxlen)
{
    const blob_t *b = &g_corpus[rnd_below(g_ncorpus)];
    size_t n = b->n < maxlen ? b->n : maxlen;
    int edits = 1 + (int)rnd_below(8);

    if (n)
        memcpy(buf, b->p, n);
    for (int e = 0; e < edits; e++) {
        size_t at = rnd_below(n + 1), len = 1 + rnd_below(16);
        switch (rnd_below(5)) {
        case 0:
            if (at < n)
                buf[at] ^= (uint8_t)(1u << rnd_below(8));
            break;
        case 1:
            if (at < n)
                buf[at] = (uint8_t)rnd();
            break;
        case 2:
            n = at;
            break;
        case 3:
            if (n + len <= maxlen) {
                memmove(buf + at + len, buf + at, n - at);
                for (size_t i = 0; i < len; i++)
                    buf[at + i] = (uint8_t)rnd();
                n += len;
            }
            break;
        default:
            if (at < n && n + len <= maxlen) {
                size_t k = n - at < len ? n - at : len;
                memmove(buf + at + k, buf + at, n - at);
                n += k;
            }
            break;
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned long count = 300, maxlen = 4096;
    int opt, rc = 0;

    g_rng = 0x5eed5eedULL;
    while ((opt = getopt(argc, argv, "n:s:m:gvw:")) != -1) {
        switch (opt) {
        case 'n':
            count = strtoul(optarg, NULL, 10);
            break;
        case 's':
            g_rng = strtoull(optarg, NULL, 0) | 1;
            break;
        case 'm':
            maxlen = strtoul(optarg, NULL, 10);
            break;
        case 'g':
            g_guard = 1;
            break;
        case 'v':
            g_verbose = 1;
            break;
        case 'w':
            g_last = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-n N] [-s SEED] [-m MAXLEN] [-g] [-v] [-w FILE] PATH...\n",
                    argv[0]);
            return 2;
        }
    }
    if (maxlen == 0)
        maxlen = 1;
    for (int i = optind; i < argc; i++)
        if (add_path(argv[i]) != 0)
            rc = 1;
    uint8_t *buf = malloc(maxlen);
    if (buf == NULL)
        return 1;
    for (unsigned long i = 0; i < count; i++) {
        size_t n;
        if (g_ncorpus != 0 && (i & 1))
            n = mutate(buf, maxlen);
        else {
            n = rnd_below(maxlen + 1);
            for (size_t j = 0; j < n; j++)
                buf[j] = (uint8_t)rnd();
        }
        run("generated", i, buf, n);
    }
    printf("%s: %zu corpus files, %lu generated inputs\n", argv[0], g_ncorpus, count);
    free(buf);
    for (size_t i = 0; i < g_ncorpus; i++)
        free(g_corpus[i].p);
    free(g_corpus);
    return rc;
}
