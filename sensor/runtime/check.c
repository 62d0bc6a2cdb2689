/*
 * check.c - -T: the configuration and the rules are loaded and compiled
 * exactly as a run would (same functions, same cache), and a one-line
 * summary is printed, and a line saying where events would go; no capture
 * or output is opened, so it can run on any machine, as any user, before a
 * restart. The JSON file is checked as the start would open it (without
 * creating it): a path the start refuses is refused here too.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "dlp/capture.h"
#include "dlp/cidr.h"
#include "dlp/output.h"
#include "dlp/runtime.h"
#include "runtime_int.h"

/* "10.0.0.0/8,fc00::/7" (IPv4 prefixes are stored IPv4-mapped: /(96+n)). */
static const char *home_net_str(const dlp_cidr_set_t *s, char *buf, size_t len)
{
    size_t used = 0;
    char a[64];

    buf[0] = '\0';
    for (size_t i = 0; i < s->n && used < len; i++) {
        const dlp_cidr_t *c = &s->v[i];
        unsigned bits = dlp_addr_is_v4(c->addr) && c->bits >= 96 ? c->bits - 96u : c->bits;
        int w = snprintf(buf + used, len - used, "%s%s/%u", i ? "," : "",
                         dlp_addr_str(c->addr, a, sizeof(a)), bits);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* "live on eth1,eth2" or "reading 2 paths" or "no input given". */
static const char *inputs_str(const dlp_config_t *cfg, char *buf, size_t len)
{
    size_t used;

    if (cfg->read_paths.n > 0) {
        snprintf(buf, len, "reading %zu path%s", cfg->read_paths.n,
                 cfg->read_paths.n == 1 ? "" : "s");
        return buf;
    }
    if (cfg->ifaces.n == 0) {
        snprintf(buf, len, "no input given");
        return buf;
    }
    used = (size_t)snprintf(buf, len, "live on ");
    for (size_t i = 0; i < cfg->ifaces.n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", cfg->ifaces.v[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* Where events would go: "json events.json; syslog /dev/log (local0); ..." */
static void print_outputs(const dlp_config_t *cfg, bool live)
{
    const char *json = cfg->json_path != NULL && strcmp(cfg->json_path, "-") != 0
                           ? cfg->json_path
                           : "stdout";
    bool local = dlp_runtime__syslog_local(cfg, live);

    printf("dlpsensor: outputs: json %s; syslog %s%s%s%s", json,
           local ? (cfg->syslog_socket != NULL ? cfg->syslog_socket : "/dev/log") : "off",
           local ? " (" : "", local ? (cfg->syslog_facility ? cfg->syslog_facility : "local0") : "",
           local ? ")" : "");
    if (cfg->syslog_remote != NULL)
        printf("; remote %s", cfg->syslog_remote);
    if (cfg->evidence_dir != NULL)
        printf("; evidence %s%s", cfg->evidence_dir, cfg->evidence_raw ? " (raw: values kept)" : "");
    if (cfg->hmac_key_file == NULL)
        printf("; hmac key random per run");
    printf("\n");
}

/* Which rules a start would run: the digest the stats and reload log lines show too. */
static void print_rules_digest(const dlp_ruleset_t *rs)
{
    char hex[DLP_RULES_DIGEST_HEX];

    dlp_ruleset_digest_hex(rs, hex);
    printf("dlpsensor: rules digest %s (SHA-256 of %zu file%s in load order)\n", hex, rs->nfiles,
           rs->nfiles == 1 ? "" : "s");
}

int dlp_runtime_check(const dlp_config_t *cfg, const dlp_privdrop_target_t *user)
{
    dlp_detection_t det;
    const dlp_matcher_info_t *mi;
    size_t enabled = 0;
    char net[1024], in[512], cache[PATH_MAX];
    int status;

    memset(&det, 0, sizeof(det));
    status = dlp_detection_load(cfg, dlp_detection_cache_dir(cfg, cache, sizeof(cache)), user, &det);
    if (status != 0)
        return status;
    /* what the start would refuse with exit 2 (RestartPreventExitStatus=2 keeps
     * the service down): the JSON file must be one it can open */
    bool later;
    if (!dlp_output_check_json(cfg->json_path, &later, in, sizeof(in))) {
        fprintf(stderr, "dlpsensor: %s\n", in);
        dlp_detection_fini(&det);
        return 2;
    }
    if (later)
        fprintf(stderr,
                "dlpsensor: warning: %s: the start refuses it unless the directory exists by "
                "then (the systemd unit's LogsDirectory= makes /var/log/dlpsensor)\n",
                in);
    mi = dlp_matcher_info(det.matcher);
    for (size_t i = 0; i < det.rules->n; i++)
        enabled += det.rules->rules[i].enabled;
    /* Live, each capture thread is a worker (docs/design.md). */
    bool live = dlp_runtime__live(cfg);
    unsigned threads = live ? dlp_runtime__capture_threads(cfg) : cfg->workers;

    char group[64] = "", id[16] = "auto";
    int32_t g0 = dlp_runtime__fanout_group(cfg, 0);
    if (g0 != DLP_FANOUT_GROUP_AUTO)
        snprintf(id, sizeof(id), "%d", (int)g0);
    if (live && dlp_runtime__fanout(cfg, threads))
        snprintf(group, sizeof(group), " (fanout %s, group %s)",
                 dlp_config_fanout_name(cfg->fanout_mode), id);
    else if (!live)
        snprintf(group, sizeof(group), dlp_runtime__file_readers(cfg, dlp_runtime__cpus()) > 1
                                           ? " (each reads the input)"
                                           : " (fed by one reader)");
    printf("dlpsensor: configuration OK: %zu rules (%zu enabled), %u patterns, %s %.1f ms; "
           "%u %s%s; home net %s; %s%s%s\n",
           det.rules->n, enabled, mi->patterns,
           mi->from_cache ? "loaded from the cache in" : "compiled in",
           mi->from_cache ? mi->load_ms : mi->compile_ms, threads,
           live ? "capture threads" : "workers", group,
           home_net_str(&cfg->home_net, net, sizeof(net)), inputs_str(cfg, in, sizeof(in)),
           cfg->user != NULL ? "; user " : "", cfg->user != NULL ? cfg->user : "");
    print_outputs(cfg, live);
    print_rules_digest(det.rules);
    dlp_detection_fini(&det);
    return fflush(stdout) == 0 ? 0 : 1;
}
