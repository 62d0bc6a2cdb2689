/*
 * limits.h - every bound the sensor enforces, with its default. Each one is
 * documented with its policy in docs/limits.md, counted in stats when hit,
 * and forced by a unit test. Configuration can override the runtime ones.
 *
 * NOTE: when adding a limit here, add its row to docs/limits.md.
 */
#ifndef DLP_LIMITS_H
#define DLP_LIMITS_H

/* --- capture and dispatch ------------------------------------------------ */
#define DLP_SNAPLEN (256 * 1024)           /* live capture: never truncate */
#define DLP_BATCH_BYTES (256 * 1024)       /* one batch of packets to a worker */
#define DLP_BATCHES_PER_WORKER 8           /* batches in flight per worker (2 MiB) */
#define DLP_TICK_US 1000000ULL             /* packet-time clock tick to workers */
#define DLP_SETTLE_IDLE_US 2000000ULL      /* a raw stream this quiet is settled (flowapp.c) */
#define DLP_LIVE_FLUSH_US 2000             /* live: partial batch age before hand-off */

/* --- decode ---------------------------------------------------------------- */
#define DLP_VLAN_MAX 2                     /* 802.1Q + QinQ; a third tag is an error */
#define DLP_IP6_EXT_MAX 8                  /* IPv6 extension headers per packet */
#define DLP_ENCAP_DEPTH_MAX 3              /* nested tunnels decapsulated (GRE, IP in IP) */

/* --- IP fragment reassembly (one table per reader thread) ----------------- */
#define DLP_DEFRAG_MEMCAP (32u * 1024 * 1024)
#define DLP_DEFRAG_MAX_DATAGRAMS 4096      /* datagrams being reassembled */
#define DLP_DEFRAG_MAX_FRAGS 256           /* fragments per datagram */
#define DLP_DEFRAG_TIMEOUT_US (30ULL * 1000000) /* as Linux ipfrag_time */

/* --- flows (one table per worker; the memcap is split between workers) ---- */
#define DLP_FLOW_MEMCAP (1024ULL * 1024 * 1024)
#define DLP_FLOW_TIMEOUT_TCP_NEW_US (60ULL * 1000000)
#define DLP_FLOW_TIMEOUT_TCP_EST_US (600ULL * 1000000)
#define DLP_FLOW_TIMEOUT_TCP_CLOSING_US (120ULL * 1000000)
#define DLP_FLOW_TIMEOUT_TCP_CLOSED_US (10ULL * 1000000)
#define DLP_FLOW_TIMEOUT_UDP_US (60ULL * 1000000)

/* --- TCP reassembly --------------------------------------------------------- */
#define DLP_REASM_OOO_BYTES_DIR (256u * 1024)   /* held out-of-order bytes per direction */
#define DLP_REASM_OOO_SEGS_DIR 512              /* held out-of-order segments per direction */
#define DLP_REASM_OOO_BYTES_WORKER (256u * 1024 * 1024) /* held bytes per worker */
#define DLP_REASM_RETAIN_BYTES 2048             /* delivered bytes kept to compare retransmissions */
#define DLP_REASM_WINDOW (16u * 1024 * 1024)    /* accept segments this far ahead of the stream */

/* --- detection ------------------------------------------------------------- */
#define DLP_DETECT_PRE 128            /* bytes before a value kept for validators and context */
#define DLP_DETECT_LOOKAHEAD 128      /* bytes after a match awaited before it is validated (>= the largest context window) */
#define DLP_DETECT_PENDING 64         /* candidates awaiting their lookahead, per stream */
#define DLP_DETECT_MAX_DISTINCT 1024  /* distinct values remembered per (flow, rule) */
#define DLP_DETECT_AGG_MEMCAP (16u * 1024 * 1024) /* aggregate: state per worker, all rule generations */
#define DLP_DETECT_VALUE_MAX 256      /* longest value normalized and hashed */
#define DLP_DETECT_HOSTS_MAX 8        /* destination host names remembered per flow (host
                                       * allow-lists apply only while all are known) */
#define DLP_MATCH_TAIL 512            /* stream bytes kept before a match: > the widest pattern */
#define DLP_MATCH_KEEP 768            /* stream bytes kept: widest match + PRE + LOOKAHEAD room */
#define DLP_MATCH_AFTER 128           /* bytes after a match its window carries when known */

/* --- application layer ------------------------------------------------------- */
#define DLP_CLASSIFY_MAX_PACKETS 32       /* packets fed to nDPI per flow before it gives up */
#define DLP_APP_LINE_MAX 8192             /* request/status/command/header line */
#define DLP_APP_HEADER_BLOCK_MAX (64u * 1024) /* all headers of one message */
#define DLP_APP_MIME_DEPTH_MAX 8          /* nested multiparts */
#define DLP_APP_DECOMP_MAX (64ULL * 1024 * 1024) /* decompressed bytes per body */
#define DLP_APP_DECOMP_RATIO_MAX 100      /* decompressed / compressed bytes */
#define DLP_APP_CHAIN_MAX 5               /* stages in one decoding chain */
#define DLP_APP_SNIFF_BYTES 16            /* bytes of a direction looked at to choose a decoder */
#define DLP_APP_JOIN_BYTES 4096           /* small content writes joined into one scan (worker) */
#define DLP_APP_JOIN_PIECE 512            /* longest write that waits to be joined */
#define DLP_APP_DECOMP_RATIO_FLOOR (1024u * 1024) /* output before the ratio cap applies */
#define DLP_APP_MIME_LEVELS_MAX 64        /* ceiling on a configured MIME depth */
#define DLP_APP_NAME_MAX 256              /* decoded file and field names kept */
#define DLP_APP_B64_RUNS_MAX 256          /* base64 runs decoded per body or message */
#define DLP_APP_UUE_BLOCKS_MAX 64         /* uuencoded blocks decoded per mail part */
#define DLP_APP_RFC2231_SEGMENTS_MAX 16   /* continuations of one MIME parameter */
#define DLP_MIME_BOUNDARY_MAX 128         /* a longer boundary: the part is one leaf */
#define DLP_HTTP_PIPELINE_MAX 64          /* requests awaiting their response per connection */
#define DLP_HTTP_BODY_LEN_MAX (1ULL << 40) /* a larger Content-Length/chunk: decoder error */
#define DLP_WS_FRAME_MAX (1ULL << 40)     /* a longer WebSocket frame: not WebSocket, raw */
#define DLP_SMTP_PIPELINE_MAX 64          /* pipelined commands awaiting their reply */
#define DLP_H2_FRAME_MAX ((1u << 24) - 1) /* a longer HTTP/2 frame: not HTTP/2, raw */
#define DLP_H2_STREAMS_MAX 128            /* HTTP/2 streams with an open body per direction */
#define DLP_HPACK_TABLE_CAP 65536         /* HPACK dynamic table bytes a size update may set */
#define DLP_H2_HBLOCK_MAX 65536           /* one HTTP/2 header block, collected to be decoded */
#define DLP_H2_HEADERS_OUT_MAX (256u * 1024) /* one HTTP/2 header block decoded, as text */
#define DLP_APP_CRED_MAX 4096             /* a credential line (SMTP AUTH, FTP PASS): longer is data */
#define DLP_SMTP_AUTH_MAX 3               /* AUTH exchanges per connection kept from the scan */
#define DLP_SMTP_AUTH_ANSWERS_MAX 4       /* answers to 334 per AUTH exchange kept from the scan */
#define DLP_FTP_CRED_LINES_MAX 6          /* PASS/ACCT/ADAT lines per connection kept from the scan */
#define DLP_DNS_QUESTIONS_MAX 16          /* questions read per message */
#define DLP_DNS_POINTERS_MAX 16           /* compression pointers followed per name */
#define DLP_DNS_NAMES_MAX 64              /* names scanned per message */
#define DLP_FTP_EXPECT_MAX 64             /* announced FTP data connections per worker */
#define DLP_FTP_EXPECT_TTL_US (120ULL * 1000000) /* ... kept this long (packet time) */
#define DLP_SOCKS_NAME_MAX 255            /* SOCKS4 user id, SOCKS4a host: longer is no SOCKS */

/* --- rules ------------------------------------------------------------------- */
#define DLP_RULE_SLOTS_MAX 8192           /* distinct rule names over a run (reloads) */

/* --- syslog ------------------------------------------------------------------ */
#define DLP_SYSLOG_MAX_MSG_BYTES 4096           /* one message, without the TCP frame */
#define DLP_SYSLOG_MIN_MSG_BYTES 480            /* RFC 5424 6.1: receivers MUST take it */
#define DLP_SYSLOG_LIMIT_MSG_BYTES (64u * 1024) /* largest max_msg_bytes (API; no config key) */
#define DLP_SYSLOG_BUFFER_BYTES (1024u * 1024)  /* TCP queue while disconnected */
#define DLP_SYSLOG_FILE_WAIT_MS 2000            /* reading files: per datagram, a full receiver */

/* --- evidence captures (defaults of outputs.evidence) ----------------------------- */
#define DLP_EVIDENCE_MAX_FLOW_BYTES (1024u * 1024)           /* packet bytes per flow */
#define DLP_EVIDENCE_MAX_TOTAL_BYTES (1024ULL * 1024 * 1024) /* file bytes per run */
#define DLP_EVIDENCE_PREALERT_BYTES (256u * 1024)            /* per flow, before its alert */
#define DLP_EVIDENCE_PREALERT_PKTS 512                       /* per flow, before its alert */
#define DLP_EVIDENCE_MEMCAP (256ULL * 1024 * 1024)           /* all workers, split evenly */
#define DLP_EVIDENCE_RANGES_MAX 4096 /* value ranges per flow direction; beyond, holes fill */
#define DLP_EVIDENCE_QUEUE 256       /* flows waiting for the writer thread */

/* --- events ------------------------------------------------------------------ */
#define DLP_EVENT_RING_SLOTS 4096               /* worker -> output records */
#define DLP_JSON_LIVE_WAIT_MS 100   /* live: a JSON reader (pipe) not reading is waited for */
#define DLP_JSON_STOP_GRACE_MS 2000 /* after SIGINT/SIGTERM: ... at most this long in all */
#define DLP_OUTPUT_IDLE_MAX_MS 20   /* output thread: longest sleep while the rings stay empty */
#define DLP_STATS_CAPTURE_WAIT_MS 150 /* live stats event: waits for fresh capture counters */

#endif
