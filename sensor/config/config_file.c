/*
 * config_file.c - the YAML configuration file (-c) -> the settings snapshot.
 *
 * The file is read whole (at most DLP_CONFIG_FILE_MAX bytes), loaded with
 * libyaml's document API and walked against one table of known keys
 * (k_top and the tables it points to): the layout, the type, the range and
 * the destination field of every key live in that table and nowhere else.
 * Every problem is collected with its line, and the walk goes on after it,
 * so one run reports them all. Nothing is guessed: an unknown key, a
 * duplicate key, a value of the wrong type or out of range is an error.
 *
 * A node reached twice is a YAML alias; aliases are refused (they only
 * make a configuration harder to read, and a node is applied once).
 *
 * Thread: called by main before any other thread exists.
 */
#include "dlp/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "dlp/limits.h"

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)
#define US_MS 1000ULL
#define US_S 1000000ULL
#define US_MIN (60 * US_S)
#define US_H (60 * US_MIN)
#define US_D (24 * US_H)

#define PATH_BUF 96     /* dotted key path, e.g. "flow.timeouts.tcp_established" */
#define KEYS_MAX 16     /* keys in one table */
#define IFNAME_MAX 15   /* IFNAMSIZ - 1 */
#define SHOW_MAX 40     /* characters of a bad value quoted in a message */

typedef enum {
    K_MAP,      /* a nested table of keys */
    K_BOOL,     /* true/false (yes/no, on/off) */
    K_NOT_BOOL, /* a boolean stored negated (rules.cache -> no_rules_cache) */
    K_COUNT,    /* a plain integer */
    K_SIZE,     /* bytes: 64k, 1g */
    K_DURATION, /* 30s, 100ms, 10m; stored in 'unit' microseconds */
    K_STR,      /* an optional string; null = unset */
    K_STRV,     /* a list of strings, or one string */
    K_IFACES,   /* K_STRV of interface names */
    K_HOME_NET, /* a list of CIDRs, or one comma-separated string */
    K_WORKERS,  /* 1..256 or auto */
    K_TRISTATE, /* true, false or auto (-1) */
    K_FACILITY, /* a syslog facility name or 0..23 */
    K_SOCKET,   /* a local syslog socket: /PATH or unix:///PATH */
    K_REMOTE,   /* a syslog target: udp://, tcp://, /PATH, unix:///PATH */
    K_FANOUT,   /* ippair or hash (dlp_fanout_mode_t) */
    K_READERS,  /* auto, one or each (dlp_file_readers_t) */
} kind_t;

typedef struct cfg_key {
    const char *name;
    kind_t kind;
    size_t off, size;          /* the field in dlp_config_t */
    uint64_t min, max;         /* K_COUNT: value; K_SIZE: bytes; K_DURATION: microseconds */
    uint64_t unit;             /* K_DURATION: microseconds per stored unit (NUM: 1) */
    size_t mark;               /* offset of a bool set when the key is given; 0 = none */
    const struct cfg_key *sub; /* K_MAP */
} cfg_key_t;

#define FIELD_SIZE(f) sizeof(((dlp_config_t *)NULL)->f)
#define FIELD(f) .off = offsetof(dlp_config_t, f), .size = FIELD_SIZE(f)

/*
 * The field and range of a K_COUNT or K_SIZE row (NUM), or of a K_DURATION
 * row stored in 'unit' microseconds (DURATION). store_uint() writes 8 bytes,
 * or 4 (uint32_t, unsigned, int) when the largest value stored fits
 * INT32_MAX; each row checks that at compile time: C11 allows a
 * _Static_assert among a struct's members, and the sizeof of that struct
 * puts it inside the row's initializer.
 */
#define NUM_ROW(f, lo, hi, u)                                                                      \
    .off = offsetof(dlp_config_t, f), .min = (lo), .max = (hi), .unit = (u),                       \
    .size = FIELD_SIZE(f) + 0 * sizeof(struct {                                                    \
        _Static_assert(FIELD_SIZE(f) == 8 || (FIELD_SIZE(f) == 4 && (hi) / (u) <= INT32_MAX),      \
                       #f ": a number field is 8 bytes, or 4 with values within INT32_MAX");       \
        char ok_;                                                                                  \
    })
#define NUM(f, lo, hi) NUM_ROW(f, lo, hi, 1)
#define DURATION(f, lo, hi, u) NUM_ROW(f, lo, hi, u)

static const cfg_key_t k_capture[] = {
    {.name = "interfaces", .kind = K_IFACES, FIELD(ifaces)},
    {.name = "filter", .kind = K_STR, FIELD(bpf)},
    {.name = "snaplen", .kind = K_SIZE, NUM(snaplen, 64, DLP_SNAPLEN)},
    {.name = "buffer", .kind = K_SIZE, NUM(pcap_buffer_bytes, MIB, GIB)},
    {.name = "timeout", .kind = K_DURATION, DURATION(pcap_timeout_ms, US_MS, 10 * US_S, US_MS)},
    {.name = "promisc", .kind = K_BOOL, FIELD(promisc)},
    {.name = "threads", .kind = K_COUNT, NUM(capture_threads, 0, DLP_CONFIG_THREADS_MAX)},
    {.name = "cluster_id", .kind = K_COUNT, NUM(cluster_id, 0, 65535),
     .mark = offsetof(dlp_config_t, cluster_id_set)},
    {.name = "fanout", .kind = K_FANOUT, FIELD(fanout_mode)},
    {.name = "file_readers", .kind = K_READERS, FIELD(file_readers)},
    {.name = NULL},
};

static const cfg_key_t k_scan[] = {
    {.name = "inbound", .kind = K_BOOL, FIELD(scan_inbound)},
    {.name = "internal", .kind = K_BOOL, FIELD(scan_internal)},
    {.name = "raw_only", .kind = K_BOOL, FIELD(no_app_layer)},
    {.name = "media", .kind = K_BOOL, FIELD(scan_media)},
    {.name = NULL},
};

static const cfg_key_t k_rules[] = {
    {.name = "paths", .kind = K_STRV, FIELD(rule_paths)},
    {.name = "cache_dir", .kind = K_STR, FIELD(rules_cache_dir)},
    {.name = "cache", .kind = K_NOT_BOOL, FIELD(no_rules_cache)},
    {.name = NULL},
};

static const cfg_key_t k_syslog[] = {
    {.name = "enabled", .kind = K_TRISTATE, FIELD(syslog)},
    {.name = "socket", .kind = K_SOCKET, FIELD(syslog_socket)},
    {.name = "facility", .kind = K_FACILITY, FIELD(syslog_facility)},
    {.name = "remote", .kind = K_REMOTE, FIELD(syslog_remote)},
    {.name = NULL},
};

static const cfg_key_t k_evidence[] = {
    {.name = "dir", .kind = K_STR, FIELD(evidence_dir)},
    {.name = "raw", .kind = K_BOOL, FIELD(evidence_raw)},
    {.name = "max_flow_bytes", .kind = K_SIZE, NUM(evidence_max_flow_bytes, 4 * KIB, GIB)},
    {.name = "max_total_bytes", .kind = K_SIZE, NUM(evidence_max_total_bytes, 64 * KIB, 64 * TIB)},
    {.name = "prealert_bytes", .kind = K_SIZE, NUM(evidence_prealert_bytes, 0, GIB)},
    {.name = "prealert_packets", .kind = K_COUNT, NUM(evidence_prealert_pkts, 0, 1000000)},
    {.name = "memcap", .kind = K_SIZE, NUM(evidence_memcap, MIB, TIB)},
    {.name = NULL},
};

static const cfg_key_t k_outputs[] = {
    {.name = "json", .kind = K_STR, FIELD(json_path)},
    {.name = "log_flows", .kind = K_BOOL, FIELD(log_all_flows)},
    {.name = "stats_interval", .kind = K_DURATION, DURATION(stats_interval_s, 0, US_D, US_S),
     .mark = offsetof(dlp_config_t, stats_interval_set)},
    {.name = "hmac_key_file", .kind = K_STR, FIELD(hmac_key_file)},
    {.name = "event_ring_slots", .kind = K_COUNT, NUM(event_ring_slots, 16, 65536)},
    {.name = "syslog", .kind = K_MAP, .sub = k_syslog},
    {.name = "evidence", .kind = K_MAP, .sub = k_evidence},
    {.name = NULL},
};

#define TIMEOUT(n, i)                                                                        \
    {.name = n, .kind = K_DURATION, DURATION(flow_timeout_us[i], US_S, US_D, 1)}

static const cfg_key_t k_timeouts[] = {
    TIMEOUT("tcp_new", 0),     TIMEOUT("tcp_established", 1), TIMEOUT("tcp_closing", 2),
    TIMEOUT("tcp_closed", 3),  TIMEOUT("udp", 4),             {.name = NULL},
};

static const cfg_key_t k_flow[] = {
    {.name = "memcap", .kind = K_SIZE, NUM(flow_memcap, MIB, TIB)},
    {.name = "vlan_in_key", .kind = K_BOOL, FIELD(vlan_in_key)},
    {.name = "timeouts", .kind = K_MAP, .sub = k_timeouts},
    {.name = NULL},
};

static const cfg_key_t k_reasm[] = {
    {.name = "memcap", .kind = K_SIZE, NUM(reasm_ooo_bytes_worker, 0, TIB)},
    {.name = "ooo_bytes_per_direction", .kind = K_SIZE, NUM(reasm_ooo_bytes_dir, 0, GIB)},
    {.name = "ooo_segments_per_direction", .kind = K_COUNT, NUM(reasm_ooo_segs_dir, 0, 65536)},
    {.name = "retain_bytes", .kind = K_SIZE, NUM(reasm_retain_bytes, 0, 64 * KIB)},
    {.name = NULL},
};

static const cfg_key_t k_defrag[] = {
    {.name = "memcap", .kind = K_SIZE, NUM(defrag_memcap, 64 * KIB, 64 * GIB)},
    {.name = "timeout", .kind = K_DURATION, DURATION(defrag_timeout_us, US_S, 10 * US_MIN, 1)},
    {.name = NULL},
};

static const cfg_key_t k_top[] = {
    {.name = "capture", .kind = K_MAP, .sub = k_capture},
    {.name = "home_net", .kind = K_HOME_NET, FIELD(home_net)},
    {.name = "scan", .kind = K_MAP, .sub = k_scan},
    {.name = "workers", .kind = K_WORKERS, FIELD(workers)},
    {.name = "user", .kind = K_STR, FIELD(user)},
    {.name = "rules", .kind = K_MAP, .sub = k_rules},
    {.name = "outputs", .kind = K_MAP, .sub = k_outputs},
    {.name = "flow", .kind = K_MAP, .sub = k_flow},
    {.name = "reassembly", .kind = K_MAP, .sub = k_reasm},
    {.name = "defrag", .kind = K_MAP, .sub = k_defrag},
    {.name = NULL},
};

/* Each table's keys fit the loader's duplicate check (seen[KEYS_MAX]). */
#define TABLE_FITS(t) _Static_assert(DLP_ARRAY_LEN(t) - 1 <= KEYS_MAX, #t ": more than KEYS_MAX keys")
TABLE_FITS(k_capture);
TABLE_FITS(k_scan);
TABLE_FITS(k_rules);
TABLE_FITS(k_syslog);
TABLE_FITS(k_evidence);
TABLE_FITS(k_outputs);
TABLE_FITS(k_timeouts);
TABLE_FITS(k_flow);
TABLE_FITS(k_reasm);
TABLE_FITS(k_defrag);
TABLE_FITS(k_top);
#undef TABLE_FITS

typedef struct loader {
    dlp_config_t *c;
    const char *path;
    dlp_strv_t *errs;
    const unsigned char *buf;
    size_t len;
    yaml_document_t doc;
    unsigned char *visited; /* per node: reached once already */
    size_t nnodes;
    bool oom, full;
} loader_t;

/* ---- errors ---------------------------------------------------------------- */

static void add_msg(loader_t *ld, const char *msg)
{
    if (ld->oom || ld->full)
        return;
    if (ld->errs->n >= DLP_CONFIG_ERRORS_MAX) {
        char m[512];
        snprintf(m, sizeof(m), "%s: too many errors, stopping", ld->path);
        ld->full = true;
        msg = m;
        if (dlp_strv_push(ld->errs, msg) != DLP_OK)
            ld->oom = true;
        return;
    }
    if (dlp_strv_push(ld->errs, msg) != DLP_OK)
        ld->oom = true;
}

__attribute__((format(printf, 4, 5))) static void err_line(loader_t *ld, unsigned line,
                                                          const char *key, const char *fmt, ...)
{
    char msg[768];
    int n;
    va_list ap;

    if (key != NULL && key[0] != '\0')
        n = snprintf(msg, sizeof(msg), "%s:%u: %s: ", ld->path, line, key);
    else
        n = snprintf(msg, sizeof(msg), "%s:%u: ", ld->path, line);
    if (n < 0 || (size_t)n >= sizeof(msg))
        n = 0;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    add_msg(ld, msg);
}

static unsigned node_line(const yaml_node_t *n)
{
    return (unsigned)n->start_mark.line + 1;
}

#define ERR(ld, node, key, ...) err_line((ld), node_line(node), (key), __VA_ARGS__)

/* ---- value parsers (public: also for the command line) -------------------- */

/* Leading decimal digits of s into *v; returns the first byte after them, NULL on overflow
 * or when there is no digit. */
static const char *parse_digits(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    const char *p = s;

    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return NULL;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return NULL;
    *v = x;
    return p;
}

static dlp_rc_t scaled(uint64_t v, uint64_t mul, uint64_t *out)
{
    if (mul != 0 && v > UINT64_MAX / mul)
        return DLP_EINVAL;
    *out = v * mul;
    return DLP_OK;
}

dlp_rc_t dlp_config_parse_size(const char *s, uint64_t *bytes)
{
    uint64_t v, mul = 1;
    const char *p = parse_digits(s, &v);

    if (p == NULL)
        return DLP_EINVAL;
    if (*p != '\0') {
        switch (*p) {
        case 'k': case 'K': mul = KIB; break;
        case 'm': case 'M': mul = MIB; break;
        case 'g': case 'G': mul = GIB; break;
        case 't': case 'T': mul = TIB; break;
        default: return DLP_EINVAL;
        }
        if (p[1] != '\0')
            return DLP_EINVAL;
    }
    return scaled(v, mul, bytes);
}

dlp_rc_t dlp_config_parse_duration(const char *s, uint64_t *us)
{
    static const struct {
        const char *unit;
        uint64_t us;
    } units[] = {{"", US_S}, {"ms", US_MS}, {"s", US_S}, {"m", US_MIN}, {"h", US_H}, {"d", US_D}};
    uint64_t v;
    const char *p = parse_digits(s, &v);

    if (p == NULL)
        return DLP_EINVAL;
    for (size_t i = 0; i < DLP_ARRAY_LEN(units); i++)
        if (strcmp(p, units[i].unit) == 0)
            return scaled(v, units[i].us, us);
    return DLP_EINVAL;
}

static int parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};

    for (size_t i = 0; i < DLP_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* The largest exact unit: 1048576 -> "1m", 1536 -> "1536". */
static const char *fmt_size(uint64_t b, char *buf, size_t len)
{
    static const struct {
        char suffix;
        uint64_t mul;
    } u[] = {{'t', TIB}, {'g', GIB}, {'m', MIB}, {'k', KIB}};

    for (size_t i = 0; i < DLP_ARRAY_LEN(u); i++) {
        if (b != 0 && b % u[i].mul == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(b / u[i].mul), u[i].suffix);
            return buf;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)b);
    return buf;
}

static const char *fmt_duration(uint64_t us, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        uint64_t us;
    } u[] = {{"d", US_D}, {"h", US_H}, {"m", US_MIN}, {"s", US_S}, {"ms", US_MS}};

    for (size_t i = 0; i < DLP_ARRAY_LEN(u); i++) {
        if (us != 0 && us % u[i].us == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(us / u[i].us), u[i].unit);
            return buf;
        }
    }
    snprintf(buf, len, "%llus", (unsigned long long)(us / US_S));
    return buf;
}

/* ---- nodes ------------------------------------------------------------------ */

/*
 * The node 'id'; NULL (reported at 'line', where it is used: the document
 * keeps no position for an alias) when it was reached before.
 */
static yaml_node_t *node_get(loader_t *ld, int id, const char *key, unsigned line)
{
    yaml_node_t *n = yaml_document_get_node(&ld->doc, id);

    if (n == NULL)
        return NULL;
    if (ld->visited[id - 1]) {
        err_line(ld, line, key, "YAML aliases are not allowed");
        return NULL;
    }
    ld->visited[id - 1] = 1;
    return n;
}

static bool is_null(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* "a mapping", "a sequence", "null" or the quoted text, for "expected X, got Y". */
static const char *kind_of(const yaml_node_t *n, char *buf, size_t len)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a sequence";
    if (is_null(n))
        return "null";
    snprintf(buf, len, "'%.*s%s'", SHOW_MAX, (const char *)n->data.scalar.value,
             n->data.scalar.length > SHOW_MAX ? "..." : "");
    return buf;
}

/* The text of a scalar node, or NULL (reported "expected WHAT"). */
static const char *scalar(loader_t *ld, const yaml_node_t *n, const char *key, const char *what)
{
    char kb[SHOW_MAX + 8];

    if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        ERR(ld, n, key, "expected %s, got %s", what, kind_of(n, kb, sizeof(kb)));
        return NULL;
    }
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
        ERR(ld, n, key, "the value contains a NUL byte");
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

/* ---- storing into the snapshot --------------------------------------------- */

static void *field(loader_t *ld, const cfg_key_t *k)
{
    return (char *)ld->c + k->off;
}

/* The row's NUM() or DURATION() checked the width at compile time; a number
 * row written with FIELD() instead is still refused here rather than written
 * at a width its field does not have. */
static void store_uint(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key,
                       uint64_t v)
{
    if (k->size == sizeof(uint64_t)) {
        uint64_t x = v;
        memcpy(field(ld, k), &x, sizeof(x));
    } else if (k->size == sizeof(uint32_t) && k->max / (k->unit ? k->unit : 1) <= INT32_MAX) {
        /* uint32_t, unsigned or int: a non-negative value within INT32_MAX has the
         * same representation in the signed type. */
        uint32_t x = (uint32_t)v;
        memcpy(field(ld, k), &x, sizeof(x));
    } else {
        ERR(ld, n, key, "internal error: a %zu-byte field for a number up to %llu", k->size,
            (unsigned long long)k->max);
    }
}

static void store_str(loader_t *ld, const cfg_key_t *k, const char *s)
{
    char **dst = field(ld, k);
    char *dup = NULL;

    if (s != NULL && (dup = strdup(s)) == NULL) {
        ld->oom = true;
        return;
    }
    free(*dst);
    *dst = dup;
}

/* ---- one value per kind ------------------------------------------------------ */

/* "1m..1t" in the key's own units. */
static const char *fmt_bounds(const cfg_key_t *k, char *buf, size_t len)
{
    char lo[32], hi[32];

    if (k->kind == K_SIZE) {
        fmt_size(k->min, lo, sizeof(lo));
        fmt_size(k->max, hi, sizeof(hi));
    } else if (k->kind == K_DURATION) {
        fmt_duration(k->min, lo, sizeof(lo));
        fmt_duration(k->max, hi, sizeof(hi));
    } else {
        snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
        snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
    }
    snprintf(buf, len, "%s..%s", lo, hi);
    return buf;
}

static dlp_rc_t parse_count(const char *s, uint64_t *v)
{
    const char *end = parse_digits(s, v);
    return end != NULL && *end == '\0' ? DLP_OK : DLP_EINVAL;
}

static void set_number(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key)
{
    static const char *const what[] = {
        [K_COUNT] = "a whole number",
        [K_SIZE] = "a size (bytes, or a number with k, m, g or t)",
        [K_DURATION] = "a duration (a number with ms, s, m, h or d; plain = seconds)",
    };
    const char *s = scalar(ld, n, key, what[k->kind]);
    uint64_t v;
    dlp_rc_t rc;
    char range[80];

    if (s == NULL)
        return;
    if (k->kind == K_SIZE)
        rc = dlp_config_parse_size(s, &v);
    else if (k->kind == K_DURATION)
        rc = dlp_config_parse_duration(s, &v);
    else
        rc = parse_count(s, &v);
    if (rc != DLP_OK) {
        ERR(ld, n, key, "expected %s, got '%.*s'", what[k->kind], SHOW_MAX, s);
        return;
    }
    if (v < k->min || v > k->max) {
        ERR(ld, n, key, "%s is out of range (%s)", s, fmt_bounds(k, range, sizeof(range)));
        return;
    }
    if (k->kind == K_DURATION && v % k->unit != 0) {
        ERR(ld, n, key, "%s is not a whole number of %s", s,
            k->unit == US_S ? "seconds" : "milliseconds");
        return;
    }
    store_uint(ld, k, n, key, k->kind == K_DURATION ? v / k->unit : v);
}

static void set_bool(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key)
{
    const char *s = scalar(ld, n, key, "true or false");
    int b = s != NULL ? parse_bool(s) : -1;

    if (s == NULL)
        return;
    if (b < 0) {
        ERR(ld, n, key, "expected true or false, got '%.*s'", SHOW_MAX, s);
        return;
    }
    *(bool *)field(ld, k) = k->kind == K_NOT_BOOL ? !b : b;
}

static void set_tristate(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n,
                         const char *key)
{
    const char *s = scalar(ld, n, key, "true, false or auto");
    int b;

    if (s == NULL)
        return;
    b = strcasecmp(s, "auto") == 0 ? -1 : parse_bool(s);
    if (b < 0 && strcasecmp(s, "auto") != 0) {
        ERR(ld, n, key, "expected true, false or auto, got '%.*s'", SHOW_MAX, s);
        return;
    }
    *(int *)field(ld, k) = b;
}

static void set_workers(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n,
                        const char *key)
{
    const char *s = scalar(ld, n, key, "a number of threads or auto");
    uint64_t v = 0;
    const char *end;

    if (s == NULL)
        return;
    if (strcasecmp(s, "auto") == 0) {
        *(unsigned *)field(ld, k) = dlp_config_auto_workers(dlp_config_cpus());
        return;
    }
    end = parse_digits(s, &v);
    if (end == NULL || *end != '\0' || v < 1 || v > DLP_CONFIG_THREADS_MAX) {
        ERR(ld, n, key, "expected 1..%d or auto, got '%.*s'", DLP_CONFIG_THREADS_MAX, SHOW_MAX, s);
        return;
    }
    *(unsigned *)field(ld, k) = (unsigned)v;
}

static void set_str(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key)
{
    const char *s;

    if (is_null(n)) {
        store_str(ld, k, NULL);
        return;
    }
    s = scalar(ld, n, key, "a string");
    if (s == NULL)
        return;
    if (s[0] == '\0') {
        ERR(ld, n, key, "empty string (leave the key out, or write null, for none)");
        return;
    }
    store_str(ld, k, s);
}

static void set_target(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key)
{
    const char *s = is_null(n) ? NULL : scalar(ld, n, key, "a syslog target");

    if (s != NULL && !dlp_config_syslog_target_ok(s, k->kind == K_REMOTE)) {
        ERR(ld, n, key, "expected %s, got '%.*s'",
            k->kind == K_REMOTE ? DLP_CONFIG_SYSLOG_REMOTE_FORMS : DLP_CONFIG_SYSLOG_SOCKET_FORMS,
            SHOW_MAX, s);
        return;
    }
    if (s != NULL || is_null(n))
        store_str(ld, k, s);
}

static void set_facility(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n,
                         const char *key)
{
    const char *s = scalar(ld, n, key, "a syslog facility");

    if (s == NULL)
        return;
    if (dlp_config_facility(s) < 0) {
        ERR(ld, n, key, "unknown facility '%.*s' (kern .. local7, or 0..23)", SHOW_MAX, s);
        return;
    }
    store_str(ld, k, s);
}

static void set_fanout(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key)
{
    const char *s = scalar(ld, n, key, DLP_CONFIG_FANOUT_NAMES);
    dlp_fanout_mode_t mode;

    if (s == NULL)
        return;
    if (dlp_config_parse_fanout(s, &mode) != DLP_OK) {
        ERR(ld, n, key, "expected " DLP_CONFIG_FANOUT_NAMES ", got '%.*s'", SHOW_MAX, s);
        return;
    }
    *(dlp_fanout_mode_t *)field(ld, k) = mode;
}

static void set_readers(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key)
{
    const char *s = scalar(ld, n, key, DLP_CONFIG_FILE_READERS_NAMES);
    dlp_file_readers_t r;

    if (s == NULL)
        return;
    if (dlp_config_parse_file_readers(s, &r) != DLP_OK) {
        ERR(ld, n, key, "expected " DLP_CONFIG_FILE_READERS_NAMES ", got '%.*s'", SHOW_MAX, s);
        return;
    }
    *(dlp_file_readers_t *)field(ld, k) = r;
}

/* ---- lists ------------------------------------------------------------------- */

/* Calls item() on each string of a sequence (or on a lone scalar); false if any failed. */
typedef bool (*item_fn)(loader_t *ld, const yaml_node_t *n, const char *key, const char *s,
                        void *acc);

static bool each_item(loader_t *ld, const yaml_node_t *n, const char *key, item_fn item,
                      void *acc)
{
    bool ok = true;
    const char *s;

    if (n->type == YAML_SCALAR_NODE && !is_null(n)) {
        s = scalar(ld, n, key, "a string");
        return s != NULL && item(ld, n, key, s, acc);
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        char kb[SHOW_MAX + 8];
        ERR(ld, n, key, "expected a list, got %s", kind_of(n, kb, sizeof(kb)));
        return false;
    }
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const yaml_node_t *in = node_get(ld, *it, key, node_line(n));
        s = in != NULL ? scalar(ld, in, key, "a string") : NULL;
        if (s == NULL || !item(ld, in, key, s, acc))
            ok = false;
    }
    return ok;
}

static bool item_str(loader_t *ld, const yaml_node_t *n, const char *key, const char *s,
                     void *acc)
{
    if (s[0] == '\0') {
        ERR(ld, n, key, "empty string in the list");
        return false;
    }
    if (dlp_strv_push(acc, s) != DLP_OK) {
        ld->oom = true;
        return false;
    }
    return true;
}

static bool item_iface(loader_t *ld, const yaml_node_t *n, const char *key, const char *s,
                       void *acc)
{
    if (dlp_strv_has(acc, s)) { /* it would be read twice */
        ERR(ld, n, key, "interface '%.*s' given twice", SHOW_MAX, s);
        return false;
    }
    if (strlen(s) > IFNAME_MAX) {
        ERR(ld, n, key, "interface name '%.*s' is longer than %d characters", SHOW_MAX, s,
            IFNAME_MAX);
        return false;
    }
    return item_str(ld, n, key, s, acc);
}

static bool item_cidrs(loader_t *ld, const yaml_node_t *n, const char *key, const char *s,
                       void *acc)
{
    const char *bad = NULL;

    if (dlp_cidr_set_parse(acc, s, &bad) != DLP_OK) {
        ERR(ld, n, key, "bad network '%.*s'", SHOW_MAX, bad != NULL ? bad : s);
        return false;
    }
    return true;
}

static void set_strv(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n, const char *key)
{
    dlp_strv_t sv = {0};
    dlp_strv_t *dst = field(ld, k);

    if (each_item(ld, n, key, k->kind == K_IFACES ? item_iface : item_str, &sv)) {
        dlp_strv_fini(dst);
        *dst = sv;
        return;
    }
    dlp_strv_fini(&sv);
}

static void set_home_net(loader_t *ld, const cfg_key_t *k, const yaml_node_t *n,
                         const char *key)
{
    dlp_cidr_set_t set = {0};
    dlp_cidr_set_t *dst = field(ld, k);

    if (!each_item(ld, n, key, item_cidrs, &set)) {
        dlp_cidr_set_fini(&set);
        return;
    }
    if (set.n == 0) {
        ERR(ld, n, key, "empty: at least one network is needed");
        return;
    }
    dlp_cidr_set_fini(dst);
    *dst = set;
}

/* ---- the walk ---------------------------------------------------------------- */

static void walk_map(loader_t *ld, const yaml_node_t *n, const cfg_key_t *tab,
                     const char *prefix);

static void apply(loader_t *ld, const cfg_key_t *k, const yaml_node_t *v, const char *key)
{
    switch (k->kind) {
    case K_MAP: walk_map(ld, v, k->sub, key); break;
    case K_BOOL:
    case K_NOT_BOOL: set_bool(ld, k, v, key); break;
    case K_COUNT:
    case K_SIZE:
    case K_DURATION: set_number(ld, k, v, key); break;
    case K_STR: set_str(ld, k, v, key); break;
    case K_STRV:
    case K_IFACES: set_strv(ld, k, v, key); break;
    case K_HOME_NET: set_home_net(ld, k, v, key); break;
    case K_WORKERS: set_workers(ld, k, v, key); break;
    case K_TRISTATE: set_tristate(ld, k, v, key); break;
    case K_FACILITY: set_facility(ld, k, v, key); break;
    case K_SOCKET:
    case K_REMOTE: set_target(ld, k, v, key); break;
    case K_FANOUT: set_fanout(ld, k, v, key); break;
    case K_READERS: set_readers(ld, k, v, key); break;
    }
    if (k->mark != 0)
        *(bool *)((char *)ld->c + k->mark) = true;
}

/* "capture, home_net, scan, ..." for the unknown-key message. */
static const char *key_names(const cfg_key_t *tab, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; tab[i].name != NULL && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", tab[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

static void walk_pair(loader_t *ld, const yaml_node_t *map, const yaml_node_pair_t *p,
                      const cfg_key_t *tab, const char *prefix, unsigned seen[KEYS_MAX])
{
    const yaml_node_t *k = node_get(ld, p->key, prefix, node_line(map)), *v;
    char key[PATH_BUF], names[256];
    const char *name;
    size_t i;

    if (k == NULL)
        return;
    if (k->type != YAML_SCALAR_NODE) {
        ERR(ld, k, prefix, "keys must be strings");
        return;
    }
    name = (const char *)k->data.scalar.value;
    snprintf(key, sizeof(key), "%s%s%.*s", prefix, prefix[0] ? "." : "", SHOW_MAX, name);
    for (i = 0; tab[i].name != NULL && strcmp(tab[i].name, name) != 0; i++)
        ;
    if (tab[i].name == NULL) {
        ERR(ld, k, key, "unknown key (%s%s%s)", prefix[0] ? prefix : "top level",
            " takes: ", key_names(tab, names, sizeof(names)));
        return;
    }
    if (seen[i] != 0) {
        ERR(ld, k, key, "duplicate key (first at line %u)", seen[i]);
        return;
    }
    seen[i] = node_line(k);
    v = node_get(ld, p->value, key, node_line(k));
    if (v != NULL)
        apply(ld, &tab[i], v, key);
}

static void walk_map(loader_t *ld, const yaml_node_t *n, const cfg_key_t *tab,
                     const char *prefix)
{
    unsigned seen[KEYS_MAX] = {0};
    char kb[SHOW_MAX + 8];

    if (is_null(n))
        return; /* an empty document, or a section with every key commented out */
    if (n->type != YAML_MAPPING_NODE) {
        ERR(ld, n, prefix, "expected a mapping, got %s", kind_of(n, kb, sizeof(kb)));
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        if (ld->oom || ld->full)
            return;
        walk_pair(ld, n, p, tab, prefix, seen);
    }
}

/* ---- the file ---------------------------------------------------------------- */

static unsigned line_of_offset(const loader_t *ld, size_t off)
{
    unsigned line = 1;

    for (size_t i = 0; i < off && i < ld->len; i++)
        line += ld->buf[i] == '\n';
    return line;
}

static void yaml_error(loader_t *ld, const yaml_parser_t *p)
{
    unsigned line;

    if (p->error == YAML_MEMORY_ERROR) {
        ld->oom = true;
        return;
    }
    line = p->error == YAML_READER_ERROR ? line_of_offset(ld, p->problem_offset)
                                         : (unsigned)p->problem_mark.line + 1;
    err_line(ld, line, NULL, "YAML error: %s%s%s%s", p->problem ? p->problem : "unknown error",
             p->context ? " (" : "", p->context ? p->context : "", p->context ? ")" : "");
}

/* Loads the document and walks it; a second document is an error. */
static void parse(loader_t *ld)
{
    yaml_parser_t parser;
    yaml_document_t extra;
    yaml_node_t *root;

    if (!yaml_parser_initialize(&parser)) {
        ld->oom = true;
        return;
    }
    yaml_parser_set_input_string(&parser, ld->buf, ld->len);
    if (!yaml_parser_load(&parser, &ld->doc)) {
        yaml_error(ld, &parser);
        yaml_parser_delete(&parser);
        return;
    }
    ld->nnodes = (size_t)(ld->doc.nodes.top - ld->doc.nodes.start);
    ld->visited = calloc(ld->nnodes + 1, 1);
    root = ld->visited != NULL ? node_get(ld, 1, "", 1) : NULL;
    if (ld->visited == NULL)
        ld->oom = true;
    else if (root != NULL)
        walk_map(ld, root, k_top, "");
    if (!yaml_parser_load(&parser, &extra)) {
        yaml_error(ld, &parser);
    } else {
        if (yaml_document_get_root_node(&extra) != NULL)
            err_line(ld, (unsigned)extra.start_mark.line + 1, NULL,
                     "only one YAML document per file is allowed");
        yaml_document_delete(&extra);
    }
    free(ld->visited);
    yaml_document_delete(&ld->doc);
    yaml_parser_delete(&parser);
}

/* Reads the whole file into *buf (bounded). False with a message on failure. */
static bool read_file(loader_t *ld, unsigned char **buf, size_t *len)
{
    char msg[512];
    struct stat st;
    ssize_t n;
    int fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    const char *why = NULL;

    *buf = NULL;
    if (fd < 0 || fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if ((uint64_t)st.st_size > DLP_CONFIG_FILE_MAX)
        why = "larger than 1 MiB";
    else if ((*buf = malloc((size_t)st.st_size + 1)) == NULL)
        ld->oom = true;
    else if ((n = read(fd, *buf, (size_t)st.st_size + 1)) < 0)
        why = strerror(errno);
    else if ((size_t)n > (size_t)st.st_size)
        why = "changed while being read";
    else
        *len = (size_t)n;
    if (fd >= 0)
        close(fd);
    if (why == NULL && !ld->oom)
        return true;
    free(*buf);
    *buf = NULL;
    if (why != NULL) {
        snprintf(msg, sizeof(msg), "%s: %s", ld->path, why);
        add_msg(ld, msg);
    }
    return false;
}

dlp_rc_t dlp_config_load_file(dlp_config_t *c, const char *path, dlp_strv_t *errs)
{
    loader_t ld = {.c = c, .path = path, .errs = errs};
    unsigned char *buf = NULL;
    size_t before = errs->n;

    if (read_file(&ld, &buf, &ld.len)) {
        ld.buf = buf;
        parse(&ld);
    }
    free(buf);
    if (ld.oom)
        return DLP_ENOMEM;
    return errs->n > before ? DLP_EINVAL : DLP_OK;
}
