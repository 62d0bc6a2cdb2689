/*
 * reasm.h - TCP tracking and reassembly: an ordered byte stream per
 * direction, pushed to a sink.
 *
 * Policy (docs/design.md, research/technical.md 4.4):
 *  - in-order bytes go to the sink straight from the packet (no copy);
 *  - out-of-order segments are copied and held, bounded per direction
 *    (bytes, segments) and per worker (bytes);
 *  - overlaps resolve first-wins; an overlap whose bytes differ from what
 *    was delivered or held is counted and its bytes handed to the sink's
 *    conflict() so they can be scanned too (the receiver may keep either);
 *  - a hole is skipped, reported as gap(), counted, and the stream goes on,
 *    when the peer acknowledges past it, when a bound is hit, or when the
 *    session is closed; it never stalls a flow;
 *  - a direction seen without its SYN is picked up at its first segment
 *    (midstream); sequence numbers wrap (offsets are 64-bit);
 *  - a segment far outside the window (DLP_REASM_WINDOW) is ignored, counted.
 *
 * Threading: a dlp_reasm_t and its sessions belong to one worker.
 * Must not depend on: app/, match/, detect/, output/.
 */
#ifndef DLP_REASM_H
#define DLP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/packet.h"
#include "dlp/rc.h"
#include "dlp/stats.h"

/*
 * Receives one session's streams. 'dir' 0 is from the flow's initiator.
 * 'off' is the stream offset of the first byte: bytes since the start of
 * the direction's stream, counting skipped gaps. Every byte offset of a
 * direction is reported exactly once, as data(), gap() or urgent(), in order.
 * Bytes passed in are borrowed for the duration of the call.
 * The first four callbacks are required, fin() and urgent() optional; they
 * must not call back into dlp_reasm_* for the same session, except
 * dlp_reasm_retained() (it only reads). end() comes once per direction,
 * after its last data()/gap(): when the FIN is reached and the peer has
 * acknowledged it, or at close (also for a direction that never sent
 * anything); an RST ends no direction. fin() comes when the FIN is reached
 * before the peer acknowledged it: the sender says it is done, but bytes
 * past the FIN (its receiver dropped it) revoke it and the stream goes on.
 * conflict() never comes after end().
 *
 * urgent() (optional) takes the place of data() for an urgent byte: the one
 * before a segment's urgent pointer (seq + pointer - 1, as BSD, Linux and
 * Windows read it; seq for a pointer 0, as Linux reads it). A receiving
 * application that does not set SO_OOBINLINE (nearly every server) never
 * reads that byte in the stream (send(MSG_OOB) puts it there, no privilege
 * needed), so a byte inserted so would split a value the sensor reads whole.
 * One pointer is awaited at a time, as the receiver keeps one urgent mark: a
 * later pointer replaces it, and the byte of a pointer replaced before that
 * byte came is data. Each urgent byte reached is reported this way (a
 * receiver that reads as data arrives removes each; one that lags keeps all
 * but the last inline); without
 * urgent() it is data. When urgent() comes the byte is already retained
 * (dlp_reasm_retained() covers it).
 */
typedef struct dlp_reasm_sink {
    void (*data)(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n);
    void (*gap)(void *ctx, int dir, uint64_t off, uint64_t len);
    void (*conflict)(void *ctx, int dir, uint64_t off, const uint8_t *p, size_t n);
    void (*end)(void *ctx, int dir); /* at most once per direction */
    void (*fin)(void *ctx, int dir); /* may be NULL */
    void (*urgent)(void *ctx, int dir, uint64_t off, uint8_t byte); /* may be NULL */
    /* May be NULL. Both directions' FINs are accepted (DLP_TCP_CLOSED): called
     * once, before what the same segment's ACK flushes from behind a gap. */
    void (*closing)(void *ctx);
} dlp_reasm_sink_t;

typedef enum {
    DLP_TCP_NONE = 0,
    DLP_TCP_SYN_SENT,
    DLP_TCP_SYN_RECV,
    DLP_TCP_ESTABLISHED, /* handshake done, or midstream data seen */
    DLP_TCP_CLOSING,     /* one FIN seen */
    DLP_TCP_CLOSED,      /* both FINs seen */
    DLP_TCP_RESET,       /* an RST at its sender's next sequence number seen, and no
                            new bytes from that sender since */
} dlp_tcp_state_t;

/* The OOO bounds count payload bytes held; per-piece overhead is in session_mem. */
typedef struct dlp_reasm_config {
    uint32_t ooo_bytes_dir;     /* DLP_REASM_OOO_BYTES_DIR */
    uint32_t ooo_segs_dir;      /* DLP_REASM_OOO_SEGS_DIR */
    uint64_t ooo_bytes_worker;  /* DLP_REASM_OOO_BYTES_WORKER */
    uint32_t retain_bytes;      /* DLP_REASM_RETAIN_BYTES */
    uint32_t window;            /* DLP_REASM_WINDOW; at most 2^30 */
} dlp_reasm_config_t;

/* Per-direction figures for the flow event and tests. */
typedef struct dlp_reasm_dir_info {
    uint64_t delivered;    /* bytes handed to data() */
    uint64_t gap_bytes;    /* bytes reported by gap() */
    uint32_t gaps;         /* gap() calls */
    uint32_t overlap_diff; /* conflicts reported */
    uint8_t midstream;     /* picked up without a SYN */
    uint8_t ended;         /* end() was called */
} dlp_reasm_dir_info_t;

typedef struct dlp_reasm dlp_reasm_t;
typedef struct dlp_tcp_session dlp_tcp_session_t;

void dlp_reasm_config_default(dlp_reasm_config_t *c);

/*
 * Per worker. Returns owned or NULL (no memory, or window > 2^30). Borrows
 * 'st' (counts TCP_*, REASM_GAPS).
 */
dlp_reasm_t *dlp_reasm_new(const dlp_reasm_config_t *c, dlp_stats_t *st);
/* Close every session first. Accepts NULL. */
void dlp_reasm_free(dlp_reasm_t *r);

/* Per flow. Returns owned or NULL when out of memory. */
dlp_tcp_session_t *dlp_reasm_session_new(dlp_reasm_t *r);

/*
 * Feeds one decoded TCP segment of direction 'dir'. Calls the sink for every
 * byte range it can now deliver. Returns DLP_OK, or DLP_DONE when *p is a
 * SYN (without ACK) opening a new connection on the tuple: the old one is
 * over (both FINs, or an RST at its sender's next sequence number that no
 * new byte from that sender followed, and, for a SYN from its receiver, no
 * new byte from the receiver either) or its sender, the SYN's direction,
 * has sent its FIN. The caller ends the flow, then feeds *p to a new session. A SYN with
 * another ISN in a direction that carried data and did not close is counted
 * out of window and ignored, as Suricata does: a forged one cannot end the
 * flow. The cost: a port reused while the capture missed the old
 * connection's end is not followed until the old flow times out. Never fails
 * on bad input (it is counted).
 */
DLP_MUST_CHECK dlp_rc_t dlp_reasm_segment(dlp_reasm_t *r, dlp_tcp_session_t *s, int dir,
                                          const dlp_packet_t *p, const dlp_reasm_sink_t *sink,
                                          void *ctx);

/*
 * Ends the session: for each direction, held data is delivered (holes
 * before it reported as gaps, and up to a FIN seen ahead) and end() is
 * called if not already. Then frees it. Accepts NULL. With 'sink' NULL the
 * session is freed without reporting anything.
 */
void dlp_reasm_session_close(dlp_reasm_t *r, dlp_tcp_session_t *s,
                             const dlp_reasm_sink_t *sink, void *ctx);

/*
 * Whether direction 'dir' keeps the last retain_bytes delivered bytes to
 * compare retransmissions with (default: yes). A direction nobody inspects
 * can do without: its conflicting retransmissions are then counted as
 * plain ones, and it costs no ring (a 2 KiB allocation per direction).
 */
void dlp_reasm_session_set_retain(dlp_tcp_session_t *s, int dir, bool retain);

/*
 * Copies the delivered bytes [from, to) of direction 'dir' into out, if the
 * ring still holds every one of them (none skipped as a gap since); false
 * otherwise, and nothing is copied. During a data() callback the ring holds
 * what came before that call's bytes.
 */
bool dlp_reasm_retained(const dlp_tcp_session_t *s, int dir, uint64_t from, uint64_t to,
                        uint8_t *out);

dlp_tcp_state_t dlp_reasm_state(const dlp_tcp_session_t *s);
/*
 * The connection is over, so a bare SYN on its tuple may open a new one:
 * DLP_TCP_CLOSED with each FIN acknowledged by its peer (or that peer's ACKs
 * never seen: a one-sided capture), or DLP_TCP_RESET with no new bytes from
 * the RST's receiver since. Short of that, a FIN may yet be revoked (its
 * receiver dropped it), or the receiver's half may be live (it did not take
 * the RST, or they crossed), whatever dlp_reasm_state() says.
 */
bool dlp_reasm_over(const dlp_tcp_session_t *s);
/* Bytes this session holds (struct, held segments, retained tails). */
size_t dlp_reasm_session_mem(const dlp_tcp_session_t *s);
void dlp_reasm_dir_info(const dlp_tcp_session_t *s, int dir, dlp_reasm_dir_info_t *out);

#endif
