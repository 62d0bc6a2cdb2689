/*
 * config.h - the sensor's settings: one immutable snapshot, built by main
 * from defaults, the configuration file and the command line (in that
 * order of precedence, lowest first), then shared read-only by all threads.
 */
#ifndef DLP_CONFIG_H
#define DLP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/capture.h"
#include "dlp/cidr.h"
#include "dlp/rc.h"

typedef struct dlp_strv {
    char **v;
    size_t n;
} dlp_strv_t;

DLP_MUST_CHECK dlp_rc_t dlp_strv_push(dlp_strv_t *sv, const char *s);
void dlp_strv_fini(dlp_strv_t *sv);
/* Whether 's' is in the list already. */
bool dlp_strv_has(const dlp_strv_t *sv, const char *s);

/*
 * Who reads capture files (-r). ONE: a reader thread decodes every packet
 * and hands it to its worker in batches. EACH: every worker reads all of the
 * input itself and keeps the packets of its own address pairs (dispatch.h):
 * no thread beside the workers, no copy. AUTO: EACH when the workers leave
 * no CPU free for a reader (workers + 1 > CPUs), else ONE. Pipes and FIFOs
 * can be read only once: always ONE.
 */
typedef enum dlp_file_readers {
    DLP_FILE_READERS_AUTO = 0,
    DLP_FILE_READERS_ONE,
    DLP_FILE_READERS_EACH,
} dlp_file_readers_t;

typedef struct dlp_config {
    /* inputs */
    dlp_strv_t read_paths;       /* -r */
    dlp_strv_t ifaces;           /* -i */
    char *bpf;                   /* trailing arguments, joined */
    dlp_strv_t rule_paths;       /* -R */
    char *rules_cache_dir;       /* compiled-rules cache; NULL = the default */
    bool no_rules_cache;
    /* what is scanned */
    dlp_cidr_set_t home_net;
    bool scan_inbound;           /* also outside -> inside */
    bool scan_media;             /* compressed media scanned whole, not only its text (media.h) */
    bool scan_internal;          /* also inside -> inside */
    bool no_app_layer;           /* raw streams and datagrams only: no nDPI, no decoders */
    /* threads */
    unsigned workers;
    /* outputs */
    char *json_path;             /* "-" = stdout; NULL = stdout */
    int syslog;                  /* -1 default (on live, off files), 0, 1 */
    char *syslog_remote;         /* --syslog-remote URL (RFC 5424 collector); NULL = none */
    char *hmac_key_file;
    char *syslog_socket;         /* local syslog socket; NULL = /dev/log */
    char *syslog_facility;       /* "local0" by default */
    unsigned stats_interval_s;   /* 0 = only at exit */
    bool stats_interval_set;     /* by the file or the command line; else main's live default */
    bool log_all_flows;          /* a flow event for every flow, not only alerted ones */
    /* evidence captures (evidence.h): outputs.evidence, --evidence-dir, --evidence-raw */
    char *evidence_dir;          /* NULL: none */
    bool evidence_raw;           /* keep the values (a warning is logged) */
    uint64_t evidence_max_flow_bytes;
    uint64_t evidence_max_total_bytes;
    uint64_t evidence_prealert_bytes;
    uint32_t evidence_prealert_pkts;
    uint64_t evidence_memcap;    /* all workers together, split evenly */
    /* limits (limits.h defaults) */
    uint64_t flow_memcap;
    uint64_t flow_timeout_us[5]; /* per dlp_flow_tclass_t */
    bool vlan_in_key;
    uint32_t reasm_ooo_bytes_dir;
    uint32_t reasm_ooo_segs_dir;
    uint64_t reasm_ooo_bytes_worker;
    uint32_t reasm_retain_bytes;
    uint64_t defrag_memcap;
    uint64_t defrag_timeout_us;
    uint32_t event_ring_slots;
    /* live capture */
    uint32_t snaplen;
    uint32_t pcap_buffer_bytes;
    int pcap_timeout_ms;
    bool promisc;
    unsigned capture_threads;    /* live pipelines (fanout members); 0 = as many as workers */
    int32_t cluster_id;          /* fanout group of interface i: (cluster_id + i) & 0xffff */
    bool cluster_id_set;         /* else the groups are the kernel's pick (AUTO) */
    dlp_fanout_mode_t fanout_mode; /* --fanout-mode, capture.fanout */
    dlp_file_readers_t file_readers; /* --file-readers, capture.file_readers */
    /* process */
    char *user;                  /* -u USER[:GROUP]: drop root after start-up; NULL = stay */
} dlp_config_t;

/* Fills *c with the defaults (limits.h, INTERFACE.md). */
DLP_MUST_CHECK dlp_rc_t dlp_config_init(dlp_config_t *c);
void dlp_config_fini(dlp_config_t *c);

/* The default home network of INTERFACE.md. */
#define DLP_DEFAULT_HOME_NET "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

/* --- the configuration file (config_file.c; layout: dist/dlpsensor.yaml) --- */

#define DLP_CONFIG_FILE_MAX (1024u * 1024) /* bytes: a larger file is refused */
#define DLP_CONFIG_ERRORS_MAX 64           /* messages kept, then "too many errors" */

/*
 * Reads the YAML configuration file 'path' over *c (which holds the
 * defaults): each key present replaces the field it names, lists included
 * (capture.interfaces, rules.paths, home_net). The command line is applied
 * afterwards by the caller, so it wins.
 * Every problem is appended to 'errs' as "PATH:LINE: key.path: reason"
 * ("PATH: reason" when the file cannot be read), at most
 * DLP_CONFIG_ERRORS_MAX of them plus a last "PATH: too many errors".
 * Unknown keys, duplicate keys, wrong types, values out of range, YAML
 * aliases and more than one document are errors.
 * Returns DLP_OK; DLP_EINVAL when errs got messages (*c may then be partly
 * updated and must not be used to run); DLP_ENOMEM.
 */
DLP_MUST_CHECK dlp_rc_t dlp_config_load_file(dlp_config_t *c, const char *path,
                                             dlp_strv_t *errs);

/*
 * A size in bytes: digits with an optional suffix k, m, g or t (powers of
 * 1024, either case): "65536", "64k", "1G". DLP_EINVAL on anything else or
 * on overflow.
 */
DLP_MUST_CHECK dlp_rc_t dlp_config_parse_size(const char *s, uint64_t *bytes);

/*
 * A duration in microseconds: digits with an optional unit ms, s, m, h or
 * d; no unit means seconds: "30", "30s", "100ms", "10m". DLP_EINVAL on
 * anything else or on overflow.
 */
DLP_MUST_CHECK dlp_rc_t dlp_config_parse_duration(const char *s, uint64_t *us);

/*
 * The live fanout mode named 's' ("ippair" or "hash": DLP_CONFIG_FANOUT_NAMES)
 * into *mode; DLP_EINVAL on any other name. The config file and the command
 * line both parse it here; dlp_config_fanout_name() is the reverse.
 */
#define DLP_CONFIG_FANOUT_NAMES "ippair or hash"
DLP_MUST_CHECK dlp_rc_t dlp_config_parse_fanout(const char *s, dlp_fanout_mode_t *mode);
const char *dlp_config_fanout_name(dlp_fanout_mode_t mode);

/* Who reads capture files ("auto", "one" or "each"), as dlp_config_parse_fanout
 * (-T says it in words of its own: no name of a value is needed). */
#define DLP_CONFIG_FILE_READERS_NAMES "auto, one or each"
DLP_MUST_CHECK dlp_rc_t dlp_config_parse_file_readers(const char *s, dlp_file_readers_t *r);

/*
 * Helpers for the settings that command lines set (main's options and
 * `rules test -r`, which runs the sensor), so both read a value the same way.
 *
 * dlp_config_parse_uint: a whole decimal string (strtoul's syntax, but no
 * leading '-') in min..max into *out; DLP_EINVAL on anything else.
 * dlp_config_set_str: *dst (freed) becomes a copy of 's', or NULL when 's'
 * is NULL; DLP_ENOMEM leaves *dst NULL.
 * dlp_config_set_home_net: c->home_net is replaced by the list 's'
 * (dlp_cidr_set_parse(), which sets *bad on DLP_EINVAL: the caller
 * starts it at NULL).
 */
DLP_MUST_CHECK dlp_rc_t dlp_config_parse_uint(const char *s, unsigned long min, unsigned long max,
                                              unsigned *out);
DLP_MUST_CHECK dlp_rc_t dlp_config_set_str(char **dst, const char *s);
DLP_MUST_CHECK dlp_rc_t dlp_config_set_home_net(dlp_config_t *c, const char *s,
                                                const char **bad);

/* Worker and capture thread counts accepted, by flag or file. */
#define DLP_CONFIG_THREADS_MAX 256

/* The CPUs this process may run on (its affinity; else the online ones), >= 1. */
unsigned dlp_config_cpus(void);

/* The worker count by default and for "auto": 'ncpu' CPUs (dlp_config_cpus()),
 * within 1..DLP_CONFIG_THREADS_MAX. */
unsigned dlp_config_auto_workers(long ncpu);

/* syslog facility number of a name ("local4") or of "0".."23"; -1 if unknown
 * (the config file checks it, the syslog sender uses it). */
int dlp_config_facility(const char *name);

/*
 * Whether 's' has the form of a syslog target: the local socket /PATH or
 * unix:///PATH; a remote collector (remote true) also udp://HOST[:PORT] or
 * tcp://HOST[:PORT]. The file and the command line check it here.
 */
#define DLP_CONFIG_SYSLOG_SOCKET_FORMS "/PATH or unix:///PATH"
#define DLP_CONFIG_SYSLOG_REMOTE_FORMS "udp://HOST[:PORT], tcp://HOST[:PORT], /PATH or unix:///PATH"
bool dlp_config_syslog_target_ok(const char *s, bool remote);

#endif
