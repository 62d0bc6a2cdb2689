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

#include "dlp/cidr.h"
#include "dlp/rc.h"

typedef struct dlp_strv {
    char **v;
    size_t n;
} dlp_strv_t;

DLP_MUST_CHECK dlp_rc_t dlp_strv_push(dlp_strv_t *sv, const char *s);
void dlp_strv_fini(dlp_strv_t *sv);

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
    bool scan_internal;          /* also inside -> inside */
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
    bool log_all_flows;          /* a flow event for every flow, not only alerted ones */
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
} dlp_config_t;

/* Fills *c with the defaults (limits.h, INTERFACE.md). */
DLP_MUST_CHECK dlp_rc_t dlp_config_init(dlp_config_t *c);
void dlp_config_fini(dlp_config_t *c);

/* The default home network of INTERFACE.md. */
#define DLP_DEFAULT_HOME_NET "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

#endif
