/*
 * capture_fanout.c - joins an activated libpcap socket to a PACKET_FANOUT
 * group (libpcap 1.10 has no API for it: setsockopt on pcap_fileno()), and
 * builds the classic BPF program of DLP_FANOUT_IPPAIR.
 *
 * Modes: HASH is PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG (the kernel's
 * symmetric flow hash after IPv4 reassembly). IPPAIR is PACKET_FANOUT_CBPF
 * without DEFRAG: every fragment carries both addresses, so fragments need no
 * kernel reassembly to meet, and the sensor's own defragmenter sees them as
 * sent (the kernel's defragmenter drops overlapping fragments without a
 * trace: measured).
 *
 * What the IPPAIR program is handed (measured on Linux 6.18, veth): the kernel
 * runs it once per packet for the whole group (the program belongs to the
 * group; each member sets the same one, the last one set is used) and sends
 * the packet to member (return value % members), in join order. skb->data is
 * at the network header for a received packet but at the MAC header for a
 * transmitted one (PACKET_OUTGOING: the host's own traffic), so the program
 * reads the packet only relative to the network header (SKF_NET_OFF), and the
 * ethertype from skb->protocol (SKF_AD_PROTOCOL). A received 802.1Q tag is
 * already stripped into metadata and skb->protocol is the inner type; of two
 * received tags only the outer is stripped: skb->protocol is then 0x8100 (or
 * 0x88a8) and the network header is the inner tag's TCI, so the ethertype is
 * at +2 and the IP header at +4. A transmitted frame with its tags in the data
 * has skb->protocol 0x8100 (0x88a8) too but its network header at the IP
 * header, both when a tagged frame is written to a packet socket (tcpreplay on
 * the sensor host; measured: packet_parse_headers() moves it there in recent
 * kernels, older ones leave it at the first tag and such frames go to member
 * 0) and, by the kernel source, when the stack inserts a tag in software (a
 * VLAN device on a NIC without tx-vlan offload: validate_xmit_vlan; not
 * measured, the test host has no 8021q module): there the IP version comes
 * from the header's first nibble. Measured: received with 0 to 3 tags,
 * transmitted (written to a packet socket) with 0 to 3. A load past the
 * end of the packet ends the program with 0. The program (X = offset of the IP
 * header from the network header), 80 instructions:
 *
 *     ldx #0; ld proto
 *     if A is 0x8100 or 0x88a8:
 *         outgoing: by (b[0] >> 4): 4 is IPv4, 6 is IPv6, else return 0
 *         received: up to twice: if A is 0x8100 or 0x88a8: A = h[x+2]; x += 4
 *     IPv4: A = w[x+12] + w[x+16]
 *     IPv6: M1..M8 = the 8 address words at x+8..x+36;
 *           A = P(M1..M4) + P(M5..M8), P(a,b,c,d) = ((a*K + b)*K + c)*K + d
 *     other: return 0
 *     A = fmix32(A); return A
 *
 * Invariants: the program is a pure function of the addresses, symmetric in
 * source and destination. Thread: any (no state).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "capture_int.h"

#define ETH_P_QINQ_AD 0x88a8u
#define POLY_K 0x9e3779b1u
#define FMIX_C1 0x85ebca6bu
#define FMIX_C2 0xc2b2ae35u
#define NET(off) ((uint32_t)(SKF_NET_OFF + (off)))

enum {
    PROG_MAX = 96, /* the program is 80 instructions */
    M_SUM = 0,     /* scratch memory slots */
    M_ADDR = 1,    /* M_ADDR..M_ADDR+7: the IPv6 address words */
};

typedef struct cbpf {
    struct sock_filter ins[PROG_MAX + 1]; /* the last one a scratch slot once full */
    unsigned short n;
    bool full;
} cbpf_t;

/* Appends an instruction, or marks the program full (set_program then refuses it). */
static unsigned short op(cbpf_t *p, uint16_t code, uint32_t k)
{
    unsigned short at = p->n < PROG_MAX ? p->n++ : PROG_MAX;

    p->full |= at == PROG_MAX;
    p->ins[at] = (struct sock_filter){.code = code, .jt = 0, .jf = 0, .k = k};
    return at;
}

static void jeq(cbpf_t *p, uint32_t k, uint8_t jt, uint8_t jf)
{
    unsigned short at = op(p, BPF_JMP | BPF_JEQ | BPF_K, k);
    p->ins[at].jt = jt;
    p->ins[at].jf = jf;
}

/* Points a branch of the jump at 'site' to the next instruction emitted. */
static void land_jt(cbpf_t *p, unsigned short site)
{
    p->ins[site].jt = (uint8_t)(p->n - site - 1);
}

static void land_jf(cbpf_t *p, unsigned short site)
{
    p->ins[site].jf = (uint8_t)(p->n - site - 1);
}

static void land_ja(cbpf_t *p, unsigned short site)
{
    p->ins[site].k = (uint32_t)(p->n - site - 1);
}

static void emit_ipv4(cbpf_t *p)
{
    op(p, BPF_LD | BPF_W | BPF_IND, NET(12));
    op(p, BPF_ST, M_SUM);
    op(p, BPF_LD | BPF_W | BPF_IND, NET(16));
    op(p, BPF_LDX | BPF_MEM, M_SUM);
    op(p, BPF_ALU | BPF_ADD | BPF_X, 0);
}

static void emit_ipv6(cbpf_t *p)
{
    for (uint32_t w = 0; w < 8; w++) {
        op(p, BPF_LD | BPF_W | BPF_IND, NET(8 + 4 * w));
        op(p, BPF_ST, M_ADDR + w);
    }
    for (uint32_t a = 0; a < 2; a++) {
        op(p, BPF_LD | BPF_MEM, M_ADDR + 4 * a);
        for (uint32_t w = 1; w < 4; w++) {
            op(p, BPF_ALU | BPF_MUL | BPF_K, POLY_K);
            op(p, BPF_LDX | BPF_MEM, M_ADDR + 4 * a + w);
            op(p, BPF_ALU | BPF_ADD | BPF_X, 0);
        }
        if (a == 0)
            op(p, BPF_ST, M_SUM);
    }
    op(p, BPF_LDX | BPF_MEM, M_SUM);
    op(p, BPF_ALU | BPF_ADD | BPF_X, 0);
}

/* A ^= A >> shift */
static void emit_xorshift(cbpf_t *p, uint32_t shift)
{
    op(p, BPF_MISC | BPF_TAX, 0);
    op(p, BPF_ALU | BPF_RSH | BPF_K, shift);
    op(p, BPF_ALU | BPF_XOR | BPF_X, 0);
}

static void emit_fmix32(cbpf_t *p)
{
    emit_xorshift(p, 16);
    op(p, BPF_ALU | BPF_MUL | BPF_K, FMIX_C1);
    emit_xorshift(p, 13);
    op(p, BPF_ALU | BPF_MUL | BPF_K, FMIX_C2);
    emit_xorshift(p, 16);
    op(p, BPF_RET | BPF_A, 0);
}

/*
 * If A is a VLAN ethertype, skips the tag at X (the network header + X - 4):
 * A = the ethertype after it, X += 4. Else jumps to the site returned.
 */
static unsigned short emit_skip_tag(cbpf_t *p, uint32_t x)
{
    unsigned short untagged;

    jeq(p, ETH_P_8021Q, 1, 0);
    untagged = op(p, BPF_JMP | BPF_JEQ | BPF_K, ETH_P_QINQ_AD);
    op(p, BPF_LD | BPF_H | BPF_ABS, NET(x + 2));
    op(p, BPF_LDX | BPF_IMM, x + 4);
    return untagged;
}

/* Sites of the jumps to the IPv4 and IPv6 blocks, patched when those are emitted. */
typedef struct ip_jumps {
    unsigned short v4[2], v6[2];
} ip_jumps_t;

/* Finds the IP header: X = its offset from the network header; jumps by its version. */
static void emit_find_l3(cbpf_t *p, ip_jumps_t *j)
{
    unsigned short untagged, outgoing, inner[2];

    op(p, BPF_LDX | BPF_IMM, 0);
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL));
    jeq(p, ETH_P_8021Q, 1, 0);
    untagged = op(p, BPF_JMP | BPF_JEQ | BPF_K, ETH_P_QINQ_AD);
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE));
    outgoing = op(p, BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING);
    op(p, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL));
    inner[0] = emit_skip_tag(p, 0); /* received: tags left in the data */
    inner[1] = emit_skip_tag(p, 4);
    land_jf(p, untagged);
    land_jf(p, inner[0]);
    land_jf(p, inner[1]);
    j->v4[0] = op(p, BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP);
    j->v6[0] = op(p, BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6);
    op(p, BPF_RET | BPF_K, 0);
    land_jt(p, outgoing); /* transmitted: at the IP header already */
    op(p, BPF_LD | BPF_B | BPF_ABS, NET(0));
    op(p, BPF_ALU | BPF_RSH | BPF_K, 4);
    j->v4[1] = op(p, BPF_JMP | BPF_JEQ | BPF_K, 4);
    j->v6[1] = op(p, BPF_JMP | BPF_JEQ | BPF_K, 6);
    op(p, BPF_RET | BPF_K, 0);
}

static void build_ippair(cbpf_t *p)
{
    ip_jumps_t j;
    unsigned short to_mix;

    p->n = 0;
    p->full = false;
    emit_find_l3(p, &j);
    land_jt(p, j.v4[0]);
    land_jt(p, j.v4[1]);
    emit_ipv4(p);
    to_mix = op(p, BPF_JMP | BPF_JA, 0);
    land_jt(p, j.v6[0]);
    land_jt(p, j.v6[1]);
    emit_ipv6(p);
    land_ja(p, to_mix);
    emit_fmix32(p);
}

static void join_failed(int e, int32_t group, char *msg, size_t len)
{
    if (e == EINVAL && group != DLP_FANOUT_GROUP_AUTO)
        snprintf(msg, len,
                 "fanout group %d is in use with another interface or mode "
                 "(by this or another process): choose another group id",
                 (int)group);
    else if (group == DLP_FANOUT_GROUP_AUTO)
        snprintf(msg, len, "cannot create a fanout group: %s", strerror(e));
    else
        snprintf(msg, len, "cannot join fanout group %d: %s", (int)group, strerror(e));
}

static dlp_rc_t set_program(int fd, char *msg, size_t len)
{
    cbpf_t prog;
    struct sock_fprog fp;

    build_ippair(&prog);
    if (prog.full) {
        snprintf(msg, len, "the fanout program does not fit");
        return DLP_EIO;
    }
    fp.len = prog.n;
    fp.filter = prog.ins;
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof(fp)) != 0) {
        snprintf(msg, len, "cannot set the fanout program: %s", strerror(errno));
        return DLP_EIO;
    }
    return DLP_OK;
}

dlp_rc_t dlp_capture__fanout_join(int fd, dlp_fanout_mode_t mode, int32_t *group, char *msg,
                                  size_t len)
{
    bool aut = *group == DLP_FANOUT_GROUP_AUTO;
    unsigned type = mode == DLP_FANOUT_HASH ? PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG
                                            : PACKET_FANOUT_CBPF;
    int val;
    socklen_t vlen = sizeof(val);

    if (aut)
        type |= PACKET_FANOUT_FLAG_UNIQUEID;
    /* the kernel reads an int: id in the low 16 bits, type and flags above */
    val = (int)(type << 16 | (aut ? 0u : (unsigned)*group));
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &val, sizeof(val)) != 0) {
        join_failed(errno, *group, msg, len);
        return DLP_EIO;
    }
    if (mode == DLP_FANOUT_IPPAIR && set_program(fd, msg, len) != DLP_OK)
        return DLP_EIO;
    if (aut) {
        if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &val, &vlen) != 0) {
            snprintf(msg, len, "cannot read the fanout group id: %s", strerror(errno));
            return DLP_EIO;
        }
        *group = val & DLP_FANOUT_GROUP_MAX;
    }
    return DLP_OK;
}
