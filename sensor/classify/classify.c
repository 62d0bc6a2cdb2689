/*
 * classify.c - application protocol identification with nDPI 4.2
 * (classify.h); the only file that includes nDPI.
 *
 * One nDPI detection module per dlp_classify_t (per worker). Creating and
 * destroying modules is serialised by a process-wide mutex: nDPI's
 * ndpi_init_detection_module() must not run in parallel (ndpi_api.h), and
 * it initialises libgcrypt. Nothing else is shared between modules.
 *
 * Per flow, an nDPI flow struct (ndpi_flow_malloc does not zero it) is fed
 * the IP datagram of each packet, both directions, in capture order, until
 * nDPI names a protocol (app or master): the label and the host (HTTP
 * Host, TLS SNI, DNS query name) are known by then, so nDPI's extra
 * dissection (certificates, responses, SMTP AUTH, which may never end) is
 * not waited for. After max_packets fed packets without a verdict, or when
 * the caller asks for a final answer, nDPI gives up and may guess (by port
 * or address). Either way the verdict is copied out and the nDPI state is
 * freed at once; afterwards a flow costs sizeof(dlp_classify_flow_t).
 *
 * dlp_classify_flow_mem() is nDPI's heap for a live flow: the struct, a
 * small estimate for its strings, and the buffers that can grow, read from
 * the flow (the TLS record buffer reaches tens of KB on payload nDPI
 * cannot name). It changes as packets are fed and drops to 0 at the
 * verdict, so callers account the difference around each call. Checked
 * with counting allocation hooks over every public capture: never below
 * the real heap, at most the estimate above it.
 *
 * 'encrypted' is set only for a protocol nDPI actually detected (not
 * guessed) that it marks as not clear text (ndpi_is_encrypted_proto: TLS,
 * DTLS, QUIC, SSH, their sub-protocols, VPNs...): a guess by port 443 must
 * not turn plaintext on port 443 into "not inspectable".
 *
 * Packets that are IP fragments (not reassembled) are not fed: nDPI drops
 * them anyway, and they must not use up the packet budget.
 *
 * Thread: a dlp_classify_t and its flows belong to one worker;
 * dlp_classify_new/free may be called from any thread.
 */
#include "dlp/classify.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ndpi_api.h>

#include "dlp/limits.h"
#include "dlp/log.h"

/*
 * nDPI heap owned by a live flow besides its struct and the buffers
 * counted below (strings: HTTP URL and User-Agent, TLS ALPN...): at most
 * 29 bytes were measured; the estimate errs high.
 */
#define CLASSIFY_FLOW_HEAP_EST 256u
/* The QUIC reassembly buffer of a ClientHello split over packets (nDPI quic.c) */
#define CLASSIFY_QUIC_REASM_BYTES 4096u
#define CLASSIFY_IP_MAX 65535u

struct dlp_classify {
    struct ndpi_detection_module_struct *nd;
    unsigned max_packets;
};

struct dlp_classify_flow {
    struct ndpi_flow_struct *nf; /* NULL once the verdict is final */
    ndpi_protocol proto;
    uint32_t fed;
    dlp_classify_result_t r;
};

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;

static const dlp_classify_result_t unknown_result = {
    .app_proto = DLP_APP_UNKNOWN,
    .done = 1,
};

dlp_classify_t *dlp_classify_new(unsigned max_packets)
{
    dlp_classify_t *c = calloc(1, sizeof(*c));
    NDPI_PROTOCOL_BITMASK all;

    if (c == NULL) {
        dlp_log(DLP_LOG_ERR, "classify: out of memory");
        return NULL;
    }
    c->max_packets = max_packets > 0 ? max_packets : DLP_CLASSIFY_MAX_PACKETS;
    if (ndpi_get_api_version() != NDPI_API_VERSION) {
        dlp_log(DLP_LOG_ERR, "classify: nDPI API version %u, built against %u",
                (unsigned)ndpi_get_api_version(), (unsigned)NDPI_API_VERSION);
        goto fail;
    }
    pthread_mutex_lock(&module_lock);
    c->nd = ndpi_init_detection_module(ndpi_no_prefs);
    if (c->nd != NULL) {
        NDPI_BITMASK_SET_ALL(all);
        ndpi_set_protocol_detection_bitmask2(c->nd, &all);
        ndpi_finalize_initialization(c->nd);
    }
    pthread_mutex_unlock(&module_lock);
    if (c->nd == NULL) {
        dlp_log(DLP_LOG_ERR, "classify: nDPI module initialisation failed");
        goto fail;
    }
    return c;
fail:
    free(c);
    return NULL;
}

void dlp_classify_free(dlp_classify_t *c)
{
    if (c == NULL)
        return;
    if (c->nd != NULL) {
        pthread_mutex_lock(&module_lock);
        ndpi_exit_detection_module(c->nd);
        pthread_mutex_unlock(&module_lock);
    }
    free(c);
}

bool dlp_classify_proto_names(void (*fn)(const char *name, void *arg), void *arg)
{
    dlp_classify_t *c = dlp_classify_new(1);

    if (c == NULL)
        return false;
    u_int n = ndpi_get_num_supported_protocols(c->nd);
    for (u_int i = 0; i < n && i <= UINT16_MAX; i++) {
        const char *name = ndpi_get_proto_name(c->nd, (u_int16_t)i);
        if (name != NULL && name[0] != '\0')
            fn(name, arg);
    }
    dlp_classify_free(c);
    return true;
}

dlp_classify_flow_t *dlp_classify_flow_new(dlp_classify_t *c)
{
    dlp_classify_flow_t *cf;

    if (c == NULL)
        return NULL;
    cf = calloc(1, sizeof(*cf));
    if (cf == NULL)
        return NULL;
    cf->nf = ndpi_flow_malloc(SIZEOF_FLOW_STRUCT);
    if (cf->nf == NULL) {
        free(cf);
        return NULL;
    }
    memset(cf->nf, 0, SIZEOF_FLOW_STRUCT);
    memcpy(cf->r.app_proto, DLP_APP_UNKNOWN, sizeof(DLP_APP_UNKNOWN));
    return cf;
}

void dlp_classify_flow_free(dlp_classify_flow_t *cf)
{
    if (cf == NULL)
        return;
    if (cf->nf != NULL)
        ndpi_free_flow(cf->nf);
    free(cf);
}

size_t dlp_classify_flow_mem(const dlp_classify_flow_t *cf)
{
    const struct ndpi_flow_struct *nf;
    size_t m;

    if (cf == NULL || cf->nf == NULL)
        return 0;
    nf = cf->nf;
    m = SIZEOF_FLOW_STRUCT + CLASSIFY_FLOW_HEAP_EST;
    /*
     * The TLS dissector's record buffer grows with every TCP segment until a
     * record is complete: on payload that is not TLS, up to max_packets
     * segments' worth (~35 KB measured for 32 segments of 600 bytes).
     */
    if (nf->l4_proto == DLP_PROTO_TCP && nf->l4.tcp.tls.message.buffer != NULL)
        m += nf->l4.tcp.tls.message.buffer_len;
    else if (nf->l4_proto == DLP_PROTO_UDP && nf->l4.udp.quic_reasm_buf != NULL)
        m += CLASSIFY_QUIC_REASM_BYTES;
    return m;
}

static bool proto_known(ndpi_protocol p)
{
    return p.app_protocol != NDPI_PROTOCOL_UNKNOWN || p.master_protocol != NDPI_PROTOCOL_UNKNOWN;
}

/* Copies nDPI's host name, bounded, non-printable bytes as '?'. */
/* Returns whether src may have been cut: nDPI keeps what fits its buffer (the end of
 * a longer SNI), and dst keeps cap - 1. */
static bool copy_host(char *dst, size_t cap, const char *src, size_t src_cap)
{
    size_t n = strnlen(src, src_cap);
    bool cut = n + 1 >= src_cap || n >= cap;

    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    dst[n] = '\0';
    return cut;
}

/* Takes the verdict out of the nDPI flow, then frees it. */
static void finish(dlp_classify_t *c, dlp_classify_flow_t *cf, bool guessed)
{
    dlp_classify_result_t *r = &cf->r;

    if (proto_known(cf->proto))
        ndpi_protocol2name(c->nd, cf->proto, r->app_proto, sizeof(r->app_proto));
    r->host_cut = copy_host(r->host, sizeof(r->host), cf->nf->host_server_name,
                            sizeof(cf->nf->host_server_name));
    r->risks = cf->nf->risk;
    r->guessed = guessed && proto_known(cf->proto);
    r->encrypted =
        !r->guessed && proto_known(cf->proto) && ndpi_is_encrypted_proto(c->nd, cf->proto) != 0;
    r->done = 1;
    ndpi_free_flow(cf->nf);
    cf->nf = NULL;
}

static void give_up(dlp_classify_t *c, dlp_classify_flow_t *cf)
{
    uint8_t guessed = 0;

    cf->proto = ndpi_detection_giveup(c->nd, cf->nf, 1, &guessed);
    finish(c, cf, guessed != 0);
}

bool dlp_classify_packet(dlp_classify_t *c, dlp_classify_flow_t *cf, const dlp_packet_t *p)
{
    uint32_t len;

    if (c == NULL || cf == NULL || cf->nf == NULL)
        return true;
    if (p == NULL || (p->ipver != 4 && p->ipver != 6) || p->frag_more || p->frag_off != 0 ||
        p->l3_len == 0 || p->l3_off > p->caplen || p->l3_len > p->caplen - p->l3_off)
        return false;
    len = p->l3_len < CLASSIFY_IP_MAX ? p->l3_len : CLASSIFY_IP_MAX;
    cf->proto = ndpi_detection_process_packet(c->nd, cf->nf, dlp_packet_l3(p), (unsigned short)len,
                                              p->ts_us / 1000);
    cf->fed++;
    if (proto_known(cf->proto)) {
        finish(c, cf, false);
        return true;
    }
    if (cf->fed >= c->max_packets) {
        give_up(c, cf);
        return true;
    }
    return false;
}

const dlp_classify_result_t *dlp_classify_result(dlp_classify_t *c, dlp_classify_flow_t *cf,
                                                 bool final)
{
    if (cf == NULL)
        return &unknown_result;
    if (final && cf->nf != NULL && c != NULL)
        give_up(c, cf);
    return &cf->r;
}

size_t dlp_classify_risk_names(dlp_classify_t *c, uint64_t risks, char *buf, size_t len)
{
    size_t n = 0;

    (void)c;
    if (buf == NULL || len == 0)
        return 0;
    buf[0] = '\0';
    for (int i = 1; i < NDPI_MAX_RISK && i < 64; i++) {
        const char *name;
        size_t k;

        if (!(risks & (1ULL << i)))
            continue;
        name = ndpi_risk2str((ndpi_risk_enum)i);
        k = strlen(name) + (n > 0 ? 1 : 0);
        if (n + k >= len)
            break;
        snprintf(buf + n, len - n, "%s%s", n > 0 ? "," : "", name);
        n += k;
    }
    return n;
}
