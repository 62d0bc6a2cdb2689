/*
 * stats.h - counters. Each thread (reader, worker) owns one dlp_stats_t and
 * is its only writer; the output thread reads every block relaxed and sums
 * them. A single writer means an increment is a relaxed load and store, a
 * plain add on x86-64, with no locked instruction (Suricata's thread-local
 * counters).
 *
 * NOTE: a counter added to DLP_STATS_LIST appears in the "stats" event under
 * its group ("" = top level) with its name; INTERFACE.md names the top-level
 * ones that must stay. DROPPED is not counted where packets are lost: the
 * reporter sets it on the summed snapshot to dlp_stats_dropped().
 */
#ifndef DLP_STATS_H
#define DLP_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dlp/rc.h"

/* X(ID, group, name, kind) ; kind: C = counter (summed), G = gauge (summed, current),
 * W = one worker's own (listed per worker under "workers", not summed) */
#define DLP_STATS_LIST(X)                                                      \
    X(PACKETS, "", "packets", C)                                               \
    X(BYTES, "", "bytes", C)                                                   \
    X(FLOWS, "", "flows", C)                                                   \
    X(DROPPED, "", "dropped", C)                                               \
    X(DECODE_ERRORS, "", "decode_errors", C)                                   \
    X(REASM_GAPS, "", "reassembly_gaps", C)                                    \
    X(ALERTS, "", "alerts", C)                                                 \
    X(CAP_FILES, "capture", "files", C)                                        \
    X(CAP_TRUNCATED, "capture", "truncated_records", C)                        \
    X(CAP_READ_ERRORS, "capture", "read_errors", C)                            \
    X(CAP_KERNEL_DROPS, "capture", "kernel_drops", C)                          \
    X(CAP_IF_DROPS, "capture", "interface_drops", C)                           \
    X(CAP_RING_DROPS, "capture", "ring_drops", C)                              \
    X(CAP_SNAP_TRUNCATED, "capture", "snaplen_truncated", C)                   \
    X(CAP_CAPLEN_OVER_WIRELEN, "capture", "caplen_over_wirelen", C)            \
    X(CAP_RECEIVED, "capture", "received", C)                                  \
    X(DEC_NOT_IP, "decode", "not_ip", C)                                       \
    X(DEC_OTHER_L4, "decode", "other_l4", C)                                   \
    X(DEC_IPV4, "decode", "ipv4", C)                                           \
    X(DEC_IPV6, "decode", "ipv6", C)                                           \
    X(DEC_TCP, "decode", "tcp", C)                                             \
    X(DEC_UDP, "decode", "udp", C)                                             \
    X(DEC_ICMP, "decode", "icmp_echo", C)                                      \
    X(DEC_TUN_GRE, "decode", "gre", C)                                         \
    X(DEC_TUN_IPIP, "decode", "ipip", C)                                       \
    X(DEC_TUN_IP6, "decode", "ipv6_in_ip", C)                                  \
    X(DEC_TUN_ETH, "decode", "ethernet_in_gre", C)                             \
    X(DEC_VLAN, "decode", "vlan", C)                                           \
    X(DEC_ERR_LINKTYPE, "decode", "unsupported_linktype", C)                   \
    X(DEC_ERR_L2, "decode", "bad_l2", C)                                       \
    X(DEC_ERR_VLAN, "decode", "bad_vlan", C)                                   \
    X(DEC_ERR_IP4, "decode", "bad_ipv4", C)                                    \
    X(DEC_ERR_IP6, "decode", "bad_ipv6", C)                                    \
    X(DEC_ERR_IP6_EXT, "decode", "bad_ipv6_ext", C)                            \
    X(DEC_ERR_FRAG, "decode", "bad_fragment", C)                               \
    X(DEC_ERR_TCP, "decode", "bad_tcp", C)                                     \
    X(DEC_ERR_UDP, "decode", "bad_udp", C)                                     \
    X(DEC_ERR_ICMP, "decode", "bad_icmp", C)                                   \
    X(DEC_ERR_GRE, "decode", "bad_gre", C)                                     \
    X(DEC_ERR_ENCAP_DEPTH, "decode", "tunnel_too_deep", C)                     \
    X(FRAG_FRAGMENTS, "defrag", "fragments", C)                                \
    X(FRAG_REASSEMBLED, "defrag", "reassembled", C)                            \
    X(FRAG_OVERLAPS, "defrag", "overlaps", C)                                  \
    X(FRAG_OVERLAP_DIFF, "defrag", "overlap_different_data", C)                \
    X(FRAG_TIMEOUTS, "defrag", "timeouts", C)                                  \
    X(FRAG_EVICTED, "defrag", "memcap_drops", C)                               \
    X(FRAG_INVALID, "defrag", "invalid", C)                                    \
    X(FRAG_MEM, "defrag", "memory", G)                                         \
    X(FLOW_TCP, "flow", "tcp", C)                                              \
    X(FLOW_UDP, "flow", "udp", C)                                              \
    X(FLOW_ICMP, "flow", "icmp", C)                                            \
    X(FLOW_ACTIVE, "flow", "active", G)                                        \
    X(FLOW_MEM, "flow", "memory", G)                                           \
    X(FLOW_END_FIN, "flow", "end_fin", C)                                      \
    X(FLOW_END_RST, "flow", "end_rst", C)                                      \
    X(FLOW_END_TIMEOUT, "flow", "end_timeout", C)                              \
    X(FLOW_END_SHUTDOWN, "flow", "end_shutdown", C)                            \
    X(FLOW_EVICTED, "flow", "memcap_evictions", C)                             \
    X(FLOW_EVICTED_EST, "flow", "memcap_evictions_established", C)             \
    X(FLOW_REUSED, "flow", "port_reuse", C)                                    \
    X(FLOW_ALLOC_FAIL, "flow", "alloc_failures", C)                            \
    X(TCP_MIDSTREAM, "tcp", "midstream", C)                                    \
    X(TCP_SEGMENTS, "tcp", "segments", C)                                      \
    X(TCP_RETRANS, "tcp", "retransmissions", C)                                \
    X(TCP_OVERLAPS, "tcp", "overlaps", C)                                      \
    X(TCP_OVERLAP_DIFF, "tcp", "overlap_different_data", C)                    \
    X(TCP_OOO, "tcp", "out_of_order", C)                                       \
    X(TCP_GAP_BYTES, "tcp", "gap_bytes", C)                                    \
    X(TCP_OOO_DIR_LIMIT, "tcp", "ooo_flow_limit", C)                           \
    X(TCP_OOO_WORKER_LIMIT, "tcp", "ooo_memcap", C)                            \
    X(TCP_OUT_OF_WINDOW, "tcp", "out_of_window", C)                            \
    X(TCP_RST_IGNORED, "tcp", "rst_ignored", C)                                \
    X(TCP_FIN_IGNORED, "tcp", "fin_ignored", C)                                \
    X(TCP_URGENT, "tcp", "urgent_bytes", C)                                    \
    X(TCP_LATE, "tcp", "late_segments", C)                                     \
    X(TCP_TRUNCATED, "tcp", "truncated_segments", C)                           \
    X(TCP_OOO_MEM, "tcp", "ooo_memory", G)                                     \
    X(TCP_STREAM_BYTES, "tcp", "stream_bytes", C)                              \
    X(EGRESS_BYTES, "egress", "stream_bytes", C)                               \
    X(EGRESS_DGRAM_BYTES, "egress", "datagram_bytes", C)                       \
    X(EGRESS_FLOWS, "egress", "flows", C)                                      \
    X(APP_FLOWS_HTTP, "app_flows", "http", C)                                  \
    X(APP_FLOWS_SMTP, "app_flows", "smtp", C)                                  \
    X(APP_FLOWS_FTP, "app_flows", "ftp", C)                                    \
    X(APP_FLOWS_FTP_DATA, "app_flows", "ftp_data", C)                          \
    X(APP_FLOWS_DNS, "app_flows", "dns", C)                                    \
    X(APP_FLOWS_ENCRYPTED, "app_flows", "encrypted", C)                        \
    X(APP_FLOWS_UNDECODED, "app_flows", "undecoded", C)                        \
    X(APP_UNINSPECTED_BYTES, "app", "uninspected_bytes", C)                    \
    X(APP_NOTE_GAP, "app", "gap", C)                                           \
    X(APP_NOTE_ENCRYPTED, "app", "encrypted", C)                               \
    X(APP_NOTE_DECODER_ERROR, "app", "decoder_error", C)                       \
    X(APP_NOTE_DECOMP_CAP, "app", "decomp_cap", C)                             \
    X(APP_NOTE_DECOMP_RATIO, "app", "decomp_ratio", C)                         \
    X(APP_NOTE_HEADER_CAP, "app", "header_cap", C)                             \
    X(APP_NOTE_DEPTH_CAP, "app", "depth_cap", C)                               \
    X(APP_NOTE_UNSUPPORTED, "app", "unsupported", C)                           \
    X(APP_NOTE_MEDIA, "app", "media", C)                                       \
    X(APP_NOTE_CREDENTIAL, "app", "credentials", C)                            \
    X(DETECT_SCAN_ERRORS, "detect", "scan_errors", C)                          \
    X(DETECT_ALLOC_FAIL, "detect", "alloc_failures", C)                        \
    X(DETECT_PENDING_FULL, "detect", "pending_full", C)                        \
    X(DETECT_AGG_EVICTIONS, "detect", "aggregate_evictions", C)                \
    X(RULES_RELOADS, "ruleset", "reloads", C)                                  \
    X(RULES_RELOAD_FAILURES, "ruleset", "reload_failures", C)                  \
    X(RULES_GENERATION, "ruleset", "generation", G)                            \
    X(RULES_LOADED, "ruleset", "rules", G)                                     \
    X(EVENTS_DROPPED, "output", "events_dropped", C)                           \
    X(OUTPUT_CPU_MS, "output", "cpu_ms", G)                                    \
    X(SYSLOG_SENT, "syslog", "sent", C)                                        \
    X(SYSLOG_DROPPED, "syslog", "dropped", C)                                  \
    X(SYSLOG_TRUNCATED, "syslog", "truncated", C)                              \
    X(SYSLOG_RECONNECTS, "syslog", "reconnects", C)                            \
    X(SYSLOG_BUFFERED, "syslog", "buffered_bytes", G)                          \
    X(SYSLOG_LOCAL_SENT, "syslog", "local_sent", C)                            \
    X(SYSLOG_LOCAL_DROPPED, "syslog", "local_dropped", C)                      \
    X(SYSLOG_REMOTE_SENT, "syslog", "remote_sent", C)                          \
    X(SYSLOG_REMOTE_DROPPED, "syslog", "remote_dropped", C)                    \
    X(EVIDENCE_FILES, "evidence", "files", C)                                  \
    X(EVIDENCE_BYTES, "evidence", "bytes", C)                                  \
    X(EVIDENCE_REDACTED, "evidence", "redacted_bytes", C)                      \
    X(EVIDENCE_FLOW_TRUNCATED, "evidence", "flow_truncated", C)                \
    X(EVIDENCE_TOTAL_CAP, "evidence", "total_cap_reached", C)                  \
    X(EVIDENCE_PREBUF_DROPS, "evidence", "dropped_prebuffer", C)               \
    X(EVIDENCE_MEMCAP_DROPS, "evidence", "memcap_drops", C)                    \
    X(EVIDENCE_QUEUE_DROPS, "evidence", "queue_drops", C)                      \
    X(EVIDENCE_WRITE_ERRORS, "evidence", "write_errors", C)                    \
    X(EVIDENCE_MEM, "evidence", "memory", G)                                   \
    X(WORKER_PACKETS, "workers", "packets", W)                                 \
    X(WORKER_CPU_MS, "workers", "cpu_ms", W)

typedef enum {
#define DLP_STAT_ENUM_(id, g, n, k) DLP_STAT_##id,
    DLP_STATS_LIST(DLP_STAT_ENUM_)
#undef DLP_STAT_ENUM_
    DLP_STAT__COUNT
} dlp_stat_id_t;

typedef struct dlp_stats {
    _Alignas(DLP_CACHELINE) _Atomic uint64_t c[DLP_STAT__COUNT];
} dlp_stats_t;

/* Owner thread only. */
static inline void dlp_stat_add(dlp_stats_t *s, dlp_stat_id_t id, uint64_t n)
{
    uint64_t v = atomic_load_explicit(&s->c[id], memory_order_relaxed);
    atomic_store_explicit(&s->c[id], v + n, memory_order_relaxed);
}
static inline void dlp_stat_inc(dlp_stats_t *s, dlp_stat_id_t id) { dlp_stat_add(s, id, 1); }
static inline void dlp_stat_sub(dlp_stats_t *s, dlp_stat_id_t id, uint64_t n)
{
    uint64_t v = atomic_load_explicit(&s->c[id], memory_order_relaxed);
    atomic_store_explicit(&s->c[id], v - n, memory_order_relaxed);
}
static inline void dlp_stat_set(dlp_stats_t *s, dlp_stat_id_t id, uint64_t v)
{
    atomic_store_explicit(&s->c[id], v, memory_order_relaxed);
}
/* Any thread. */
static inline uint64_t dlp_stat_get(const dlp_stats_t *s, dlp_stat_id_t id)
{
    return atomic_load_explicit(&s->c[id], memory_order_relaxed);
}

void dlp_stats_init(dlp_stats_t *s);
/* dst += src, every counter (dst is a private snapshot, not shared). */
void dlp_stats_accumulate(dlp_stats_t *dst, const dlp_stats_t *src);
const char *dlp_stat_name(dlp_stat_id_t id);
const char *dlp_stat_group(dlp_stat_id_t id);
/* Kind W: a worker's own figure, reported per worker, meaningless summed. */
bool dlp_stat_per_worker(dlp_stat_id_t id);
/* "dropped": every packet lost before inspection, from the counters of each
 * place that loses them: the kernel's socket buffer, the NIC (interface_drops),
 * the reader's rings. Any thread, on a summed snapshot. */
uint64_t dlp_stats_dropped(const dlp_stats_t *s);

#endif
