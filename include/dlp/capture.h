/*
 * capture.h - where frames come from: capture files (pcap, pcapng, or
 * directories of them, in name order) or live interfaces. An opaque handle
 * with an ops table inside (libpcap's own shape). The only user of libpcap.
 *
 * Threading: one thread uses a handle; dlp_capture_break() may be called
 * from any thread (a signal handler included).
 */
#ifndef DLP_CAPTURE_H
#define DLP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dlp/rc.h"
#include "dlp/stats.h"

typedef struct dlp_frame {
    const uint8_t *data; /* borrowed until the next dlp_capture_next() */
    uint32_t caplen;
    /* >= caplen: a record with more captured than on the wire is counted
     * (capture.caplen_over_wirelen) and given caplen */
    uint32_t wirelen;
    uint64_t ts_us;
    uint16_t linktype;   /* DLP_LINK_* (libpcap DLT_*) */
    uint16_t source;     /* index of the interface (live) */
} dlp_frame_t;

/*
 * Live defaults (dlp_capture_live_opts_default) and the one bound of open_live
 * and open_fanout.
 *
 * The timeout: libpcap 1.10 cuts the ring into 256 KiB TPACKET_V3 blocks and the
 * kernel hands a block over when it is full or when the timeout expires. Below
 * 256 KiB per timeout per socket (5 MB/s at 50 ms; with fanout each socket has
 * 1/N of the traffic) the timeout is the latency of a packet, and every block
 * holds only one timeout's worth of packets: a reader that stalls keeps
 * (buffer / 256 KiB) x timeout of traffic before the kernel drops (64 MiB, 50 ms:
 * 12.8 s; 10 ms: 2.6 s. Measured on veth with 4 MiB, 16 blocks, a frame about
 * every 2.2 ms, nothing read: 72 frames kept at 10 ms, 358 at 50 ms). 50 ms keeps the
 * latency well under a second and a stalled worker's margin in seconds.
 */
#define DLP_CAPTURE_BUFFER_BYTES (64u * 1024 * 1024) /* kernel ring per socket */
#define DLP_CAPTURE_TIMEOUT_MS 50                    /* TPACKET_V3 block timeout and poll() */
#define DLP_CAPTURE_MAX_IFACES 64                    /* interfaces per live handle */
#define DLP_CAPTURE_HELD_MAX (1u << 20) /* frames processed after a stop, per handle */

typedef struct dlp_capture_live_opts {
    uint32_t snaplen;      /* DLP_SNAPLEN */
    uint32_t buffer_bytes; /* kernel ring per socket (per interface of a handle) */
    int timeout_ms;        /* packet buffer timeout */
    bool promisc;
    /*
     * Fold each interface's ps_ifdrop (NIC drops; promiscuous mode only) into
     * CAP_IF_DROPS at dlp_capture_poll_stats(). They are the interface's, not
     * the socket's: with fanout set this on one handle per interface only.
     */
    bool count_if_drops;
} dlp_capture_live_opts_t;

typedef struct dlp_capture dlp_capture_t;

/*
 * Opens capture files. Each path is a file or a directory (its regular
 * files that start with a pcap or pcapng magic, in name order; other files
 * are skipped with a note on stderr, and a regular file that cannot be read
 * is an error). Every file is checked before this
 * returns, so a bad file is reported before any packet is processed.
 * 'bpf' (may be NULL) filters every file.
 * Returns an owned handle, or NULL with a one-line "PATH: reason" in err.
 * Borrows 'st' (counts CAP_*).
 */
dlp_capture_t *dlp_capture_open_files(const char *const *paths, size_t n, const char *bpf,
                                       dlp_stats_t *st, char *err, size_t errlen);

/*
 * Another handle over the files of 'c' (from dlp_capture_open_files): the
 * same paths in the same order, the same filter, read from the start. For
 * workers that each read the whole input (dispatch.h): it counts and logs
 * nothing, as 'c' reads the same records and reports them. 'c' must read no
 * pipe (dlp_capture_path_is_stream). Returns an owned handle, or NULL (out
 * of memory).
 */
dlp_capture_t *dlp_capture_files_again(const dlp_capture_t *c);

/* True for a -r path that can be read only once: "-" (stdin) or a FIFO. */
bool dlp_capture_path_is_stream(const char *path);

/*
 * Opens live interfaces (all polled by the one calling thread; a frame's
 * 'source' is the index of its interface in 'ifaces'). 'o' may be NULL for
 * the defaults. At most DLP_CAPTURE_MAX_IFACES. A warning from activation is
 * logged; an error returns NULL with "IFACE: reason" in err.
 */
dlp_capture_t *dlp_capture_open_live(const char *const *ifaces, size_t n, const char *bpf,
                                      const dlp_capture_live_opts_t *o, dlp_stats_t *st,
                                      char *err, size_t errlen);

void dlp_capture_live_opts_default(dlp_capture_live_opts_t *o);

/*
 * Fanout (Linux PACKET_FANOUT): several handles share an interface's traffic,
 * each packet going to exactly one of them. Open one handle per capture thread;
 * every handle on an interface joins that interface's fanout group, and the
 * kernel sends a packet to member (hash % members), members numbered in join
 * order. The kernel keeps a group per network namespace, not per process:
 * handles of several processes with the same group id share the traffic.
 *
 * DLP_FANOUT_IPPAIR: by address pair, like the file-mode dispatcher (with
 *   another hash), so an FTP control connection and its data connections
 *   meet; by a classic BPF program the kernel runs per packet:
 *     IPv4: h = saddr + daddr
 *     IPv6: h = P(saddr) + P(daddr), P(w0..w3) = ((w0*K + w1)*K + w2)*K + w3
 *     h = fmix32(h) (MurmurHash3's finaliser); member h % members
 *   with the addresses read as big-endian 32-bit words, K = 0x9e3779b1,
 *   arithmetic mod 2^32; non-IP frames (and ones too short) go to member 0.
 *   Symmetric by construction. Received and transmitted frames (the host's
 *   own traffic) alike, with up to three 802.1Q/802.1ad tags (details and
 *   limits in capture_fanout.c). IPv4 and IPv6 fragments carry both
 *   addresses: they arrive as sent, with their datagram's pair, for the
 *   sensor's own reassembly.
 * DLP_FANOUT_HASH: by the kernel's symmetric flow hash (addresses, ports,
 *   protocol), IPv4 defragmented by the kernel first (PACKET_FANOUT_FLAG_DEFRAG:
 *   the handle receives whole datagrams; overlapping fragments are discarded by
 *   the kernel and never seen). IPv6 fragments are hashed without ports and
 *   may go to another member than the rest of their flow; so may transmitted
 *   VLAN-tagged frames (measured on 6.18). Flows, not pairs: FTP data may go
 *   to another member than its control connection.
 *
 * Both modes give a flow's two directions the same member, also when they are
 * seen on two interfaces (a tap's two outputs) whose groups have the same
 * number of members joined in the same order: open handle k on every
 * interface before handle k+1.
 */
typedef enum dlp_fanout_mode {
    DLP_FANOUT_IPPAIR = 0,
    DLP_FANOUT_HASH = 1,
} dlp_fanout_mode_t;

/*
 * Group ids are 0..65535. DLP_FANOUT_GROUP_AUTO asks the kernel for one not in
 * use (read it back with dlp_capture_fanout_group()); the kernel's first pick
 * after boot is 0 (net/packet/af_packet.c), so 0 cannot mean "auto".
 */
#define DLP_FANOUT_GROUP_AUTO (-1)
#define DLP_FANOUT_GROUP_MAX 0xffff

/*
 * Opens live interfaces like dlp_capture_open_live() (frame 'source' = index
 * in 'ifaces', all polled by the calling thread) and joins ifaces[i] to fanout
 * group groups[i] in 'mode', after pcap_activate() and before the filter.
 * DLP_FANOUT_GROUP_AUTO takes an unused id from the kernel: read it with
 * dlp_capture_fanout_group() and pass it to the next handles. A group belongs
 * to one interface and one mode: ids must differ per interface, and joining a
 * group that exists with another interface or mode fails ("IFACE: fanout group
 * G is in use ..."). Every handle of a group must use the same mode and the
 * same 'bpf' (the filter runs after the kernel picks the member, so a packet
 * sent to a member whose filter rejects it is lost). An interface may appear
 * once; group ids out of range are refused. 'o' may be NULL for the defaults;
 * at most DLP_CAPTURE_MAX_IFACES interfaces. Until all members have joined,
 * the kernel shares among fewer of them, and a socket sees every packet
 * between its activation and its join: open all the handles before reading
 * any, and expect the first milliseconds of traffic to be split or doubled.
 * Returns an owned handle, or NULL with "IFACE: reason".
 */
dlp_capture_t *dlp_capture_open_fanout(const char *const *ifaces, const int32_t *groups, size_t n,
                                       dlp_fanout_mode_t mode, const char *bpf,
                                       const dlp_capture_live_opts_t *o, dlp_stats_t *st, char *err,
                                       size_t errlen);

/* The fanout group interface i joined (the kernel's pick for AUTO); -1 if none. Any thread. */
int32_t dlp_capture_fanout_group(const dlp_capture_t *c, size_t i);

/*
 * libpcap's counters of one interface of a live handle, 64-bit running totals
 * as of the last dlp_capture_poll_stats() (which must run at least once per
 * 2^32 packets per socket). received: packets the kernel delivered to this
 * socket after the filter, drops included (ps_recv); kernel_drops: ring full
 * (ps_drop); if_drops: the interface's rx_missed + rx_fifo errors since this
 * socket was activated, promiscuous mode only (ps_ifdrop).
 */
typedef struct dlp_capture_iface_stats {
    const char *name; /* borrowed from the handle, valid until close */
    uint64_t received;
    uint64_t kernel_drops;
    uint64_t if_drops;
} dlp_capture_iface_stats_t;

/* Interfaces of a live handle (0 for files). Any thread. */
size_t dlp_capture_iface_count(const dlp_capture_t *c);

/* Copies interface i's totals into *out. DLP_EINVAL for files or i out of range. Any thread. */
DLP_MUST_CHECK dlp_rc_t dlp_capture_iface_stats(const dlp_capture_t *c, size_t i,
                                                dlp_capture_iface_stats_t *out);

/*
 * Adds one socket's totals of an interface into 'acc' (name taken from 'one'
 * if acc's is NULL): received and kernel_drops are per socket and summed;
 * if_drops are the interface's and every socket reports them, so acc keeps the
 * largest (the earliest activated socket's), never the sum.
 */
void dlp_capture_iface_stats_merge(dlp_capture_iface_stats_t *acc,
                                   const dlp_capture_iface_stats_t *one);

/*
 * Next frame into *f. Returns DLP_OK; DLP_AGAIN when no frame arrived within
 * the timeout (live only); DLP_DONE at the end of all input or after
 * dlp_capture_break(); DLP_EIO on a fatal error (logged). A truncated or
 * unreadable record in a file is counted (CAP_TRUNCATED: the file ends inside
 * its last record; CAP_READ_ERRORS: libpcap stopped before the file's end,
 * logged as an error with the bytes left unread) and ends that file, not the
 * run; the next file is read.
 */
DLP_MUST_CHECK dlp_rc_t dlp_capture_next(dlp_capture_t *c, dlp_frame_t *f);

/*
 * After dlp_capture_break(): the next frame the handle had already received
 * (live: still in its kernel ring), without waiting; DLP_DONE when none is
 * left (files: at once). So a stop processes what was captured before it
 * instead of leaving it uncounted. The thread that called dlp_capture_next().
 */
DLP_MUST_CHECK dlp_rc_t dlp_capture_next_held(dlp_capture_t *c, dlp_frame_t *f);

void dlp_capture_break(dlp_capture_t *c);
bool dlp_capture_is_live(const dlp_capture_t *c);
/*
 * Live: reads libpcap's counters of every interface (pcap_stats) and folds the
 * increments into the stats block: CAP_RECEIVED, CAP_KERNEL_DROPS and DROPPED,
 * CAP_IF_DROPS if count_if_drops. The owning thread only.
 */
void dlp_capture_poll_stats(dlp_capture_t *c);
size_t dlp_capture_file_count(const dlp_capture_t *c);
void dlp_capture_close(dlp_capture_t *c);

#endif
