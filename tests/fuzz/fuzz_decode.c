/*
 * fuzz_decode.c - libFuzzer target for the decoder and IP defragmentation.
 *
 * Input: byte 0 selects the link type, the rest is the frame. Fragments go
 * into one persistent defrag table (small memcap, so eviction runs), and
 * every rebuilt datagram is decoded again. Checks the decoder's invariants
 * (offsets within caplen) and the table's memcap; ASan/UBSan do the rest.
 *
 * Built by tests/fuzz/CMakeLists.txt: fuzz_decode_replay in every tree
 * (ctest), the libFuzzer binary fuzz_decode with clang and -DDLP_FUZZ=ON:
 *   build-fuzz/tests/fuzz/fuzz_decode -max_len=2048 NEW_DIR tests/fuzz/corpus/decode
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlp/defrag.h"
#include "dlp/packet.h"
#include "dlp/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t links[] = {
    DLP_LINK_EN10MB, DLP_LINK_LINUX_SLL, DLP_LINK_LINUX_SLL2, DLP_LINK_RAW,  14,   101,
    DLP_LINK_NULL,   DLP_LINK_LOOP,      DLP_LINK_IPV4,       DLP_LINK_IPV6, 9999,
};

static void check(const dlp_packet_t *p, dlp_decode_result_t r)
{
    if ((unsigned)r >= DLP_DEC__COUNT || p->l3_off + (uint64_t)p->l3_len > p->caplen)
        abort();
    if ((r == DLP_DEC_OK || r == DLP_DEC_OTHER_L4 || r == DLP_DEC_FRAGMENT) &&
        (p->payload_off + (uint64_t)p->payload_len > p->caplen || p->payload_len > p->payload_wire))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static dlp_stats_t st;
    static dlp_defrag_t *d;
    static uint64_t clock_us;
    static dlp_defrag_config_t cfg;
    dlp_packet_t p, q;

    if (d == NULL) {
        dlp_stats_init(&st);
        dlp_defrag_config_default(&cfg);
        cfg.memcap = 256 * 1024;
        cfg.max_datagrams = 64;
        cfg.max_frags = 16;
        d = dlp_defrag_new(&cfg, &st);
        if (d == NULL)
            abort();
    }
    if (size < 1 || size > UINT32_MAX)
        return 0;
    uint16_t lt = links[data[0] % (sizeof(links) / sizeof(links[0]))];
    uint8_t *frame = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees over-reads */
    if (frame == NULL)
        return 0;
    memcpy(frame, data + 1, size - 1);
    clock_us += 1000 + (data[0] & 0xf0) * 100000ULL;
    dlp_decode_result_t r =
        dlp_decode(&p, lt, frame, (uint32_t)(size - 1), (uint32_t)size, clock_us);
    check(&p, r);
    if (r == DLP_DEC_FRAGMENT) {
        const uint8_t *out;
        uint32_t out_len;
        if (dlp_defrag_add(d, &p, &out, &out_len) == DLP_OK)
            check(&q, dlp_decode_ip(&q, out, out_len, clock_us, &p));
        if (dlp_defrag_mem(d) > cfg.memcap)
            abort();
    }
    (void)dlp_packet_flow_hash(&p);
    free(frame);
    return 0;
}
