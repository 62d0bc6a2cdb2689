/*
 * config.c - defaults of the settings snapshot, and the name tables and
 * value helpers the file and the command lines share (the file is
 * config_file.c).
 */
#include "dlp/config.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlp/capture.h"
#include "dlp/limits.h"

dlp_rc_t dlp_strv_push(dlp_strv_t *sv, const char *s)
{
    char *dup = strdup(s);
    char **v;

    if (dup == NULL)
        return DLP_ENOMEM;
    v = realloc(sv->v, (sv->n + 1) * sizeof(*v));
    if (v == NULL) {
        free(dup);
        return DLP_ENOMEM;
    }
    sv->v = v;
    sv->v[sv->n++] = dup;
    return DLP_OK;
}

bool dlp_strv_has(const dlp_strv_t *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], s) == 0)
            return true;
    return false;
}

void dlp_strv_fini(dlp_strv_t *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

unsigned dlp_config_cpus(void)
{
    cpu_set_t set;
    long n;

    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

unsigned dlp_config_auto_workers(long ncpu)
{
    if (ncpu < 1)
        return 1;
    return ncpu > DLP_CONFIG_THREADS_MAX ? DLP_CONFIG_THREADS_MAX : (unsigned)ncpu;
}

dlp_rc_t dlp_config_init(dlp_config_t *c)
{
    dlp_rc_t rc;

    memset(c, 0, sizeof(*c));
    rc = dlp_cidr_set_parse(&c->home_net, DLP_DEFAULT_HOME_NET, NULL);
    if (rc != DLP_OK)
        return rc;
    c->workers = dlp_config_auto_workers(dlp_config_cpus());
    c->syslog = -1;
    c->syslog_facility = strdup("local0");
    if (c->syslog_facility == NULL)
        return DLP_ENOMEM;
    c->flow_memcap = DLP_FLOW_MEMCAP;
    c->flow_timeout_us[0] = DLP_FLOW_TIMEOUT_TCP_NEW_US;
    c->flow_timeout_us[1] = DLP_FLOW_TIMEOUT_TCP_EST_US;
    c->flow_timeout_us[2] = DLP_FLOW_TIMEOUT_TCP_CLOSING_US;
    c->flow_timeout_us[3] = DLP_FLOW_TIMEOUT_TCP_CLOSED_US;
    c->flow_timeout_us[4] = DLP_FLOW_TIMEOUT_UDP_US;
    c->vlan_in_key = true;
    c->reasm_ooo_bytes_dir = DLP_REASM_OOO_BYTES_DIR;
    c->reasm_ooo_segs_dir = DLP_REASM_OOO_SEGS_DIR;
    c->reasm_ooo_bytes_worker = DLP_REASM_OOO_BYTES_WORKER;
    c->reasm_retain_bytes = DLP_REASM_RETAIN_BYTES;
    c->defrag_memcap = DLP_DEFRAG_MEMCAP;
    c->defrag_timeout_us = DLP_DEFRAG_TIMEOUT_US;
    c->event_ring_slots = DLP_EVENT_RING_SLOTS;
    c->snaplen = DLP_SNAPLEN;
    c->pcap_buffer_bytes = 64u * 1024 * 1024;
    c->pcap_timeout_ms = DLP_CAPTURE_TIMEOUT_MS;
    c->promisc = true;
    c->evidence_max_flow_bytes = DLP_EVIDENCE_MAX_FLOW_BYTES;
    c->evidence_max_total_bytes = DLP_EVIDENCE_MAX_TOTAL_BYTES;
    c->evidence_prealert_bytes = DLP_EVIDENCE_PREALERT_BYTES;
    c->evidence_prealert_pkts = DLP_EVIDENCE_PREALERT_PKTS;
    c->evidence_memcap = DLP_EVIDENCE_MEMCAP;
    return DLP_OK;
}

void dlp_config_fini(dlp_config_t *c)
{
    dlp_strv_fini(&c->read_paths);
    dlp_strv_fini(&c->ifaces);
    dlp_strv_fini(&c->rule_paths);
    free(c->bpf);
    free(c->rules_cache_dir);
    free(c->json_path);
    free(c->syslog_remote);
    free(c->hmac_key_file);
    free(c->syslog_socket);
    free(c->syslog_facility);
    free(c->user);
    free(c->evidence_dir);
    dlp_cidr_set_fini(&c->home_net);
    memset(c, 0, sizeof(*c));
}

/* syslog(3)'s facilities, in number order. */
static const char *const facilities[24] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
    "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7"};

int dlp_config_facility(const char *name)
{
    char *end;
    long v;

    if (name == NULL || name[0] == '\0')
        return -1;
    for (int i = 0; i < (int)DLP_ARRAY_LEN(facilities); i++)
        if (strcmp(name, facilities[i]) == 0)
            return i;
    if (name[0] < '0' || name[0] > '9')
        return -1;
    errno = 0;
    v = strtol(name, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > 23)
        return -1;
    return (int)v;
}

bool dlp_config_syslog_target_ok(const char *s, bool remote)
{
    if (s[0] == '/' || (strncmp(s, "unix:///", 8) == 0))
        return true;
    return remote && (strncmp(s, "udp://", 6) == 0 || strncmp(s, "tcp://", 6) == 0) &&
           s[6] != '\0';
}

/* Names of an enum's values, for the file, the command line and -T: one table both ways. */
typedef struct named {
    const char *name;
    int v;
} named_t;

static const named_t fanouts[] = {{"ippair", DLP_FANOUT_IPPAIR}, {"hash", DLP_FANOUT_HASH}};
static const named_t file_readers[] = {
    {"auto", DLP_FILE_READERS_AUTO}, {"one", DLP_FILE_READERS_ONE}, {"each", DLP_FILE_READERS_EACH}};

/* The entry named s, or NULL. */
static const named_t *by_name(const named_t *t, size_t n, const char *s)
{
    for (size_t i = 0; s != NULL && i < n; i++)
        if (strcmp(s, t[i].name) == 0)
            return &t[i];
    return NULL;
}

static const char *name_of(const named_t *t, size_t n, int v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].v == v)
            return t[i].name;
    return "?";
}

dlp_rc_t dlp_config_parse_fanout(const char *s, dlp_fanout_mode_t *mode)
{
    const named_t *e = by_name(fanouts, DLP_ARRAY_LEN(fanouts), s);

    if (e == NULL)
        return DLP_EINVAL;
    *mode = (dlp_fanout_mode_t)e->v;
    return DLP_OK;
}

const char *dlp_config_fanout_name(dlp_fanout_mode_t mode)
{
    return name_of(fanouts, DLP_ARRAY_LEN(fanouts), (int)mode);
}

dlp_rc_t dlp_config_parse_file_readers(const char *s, dlp_file_readers_t *r)
{
    const named_t *e = by_name(file_readers, DLP_ARRAY_LEN(file_readers), s);

    if (e == NULL)
        return DLP_EINVAL;
    *r = (dlp_file_readers_t)e->v;
    return DLP_OK;
}

dlp_rc_t dlp_config_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    /* strtoul negates "-1" (also after blanks: " -1") into a huge value instead of failing */
    if (errno != 0 || end == s || *end != '\0' || strchr(s, '-') != NULL || v < min || v > max)
        return DLP_EINVAL;
    *out = (unsigned)v;
    return DLP_OK;
}

dlp_rc_t dlp_config_set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = s != NULL ? strdup(s) : NULL;
    return s == NULL || *dst != NULL ? DLP_OK : DLP_ENOMEM;
}

dlp_rc_t dlp_config_set_home_net(dlp_config_t *c, const char *s, const char **bad)
{
    /* the list replaces the default (or the file's), it does not add to it */
    dlp_cidr_set_fini(&c->home_net);
    return dlp_cidr_set_parse(&c->home_net, s, bad);
}
