/*
 * stats.c - names of the counters and summing of per-thread blocks.
 */
#include "dlp/stats.h"

static const char *const names[] = {
#define N_(id, g, n, k) n,
    DLP_STATS_LIST(N_)
#undef N_
};
static const char *const groups[] = {
#define G_(id, g, n, k) g,
    DLP_STATS_LIST(G_)
#undef G_
};

enum { KIND_C, KIND_G, KIND_W };
static const unsigned char kinds[] = {
#define K_(id, g, n, k) KIND_##k,
    DLP_STATS_LIST(K_)
#undef K_
};

void dlp_stats_init(dlp_stats_t *s)
{
    for (int i = 0; i < DLP_STAT__COUNT; i++)
        atomic_init(&s->c[i], 0);
}

void dlp_stats_accumulate(dlp_stats_t *dst, const dlp_stats_t *src)
{
    for (int i = 0; i < DLP_STAT__COUNT; i++)
        dlp_stat_add(dst, (dlp_stat_id_t)i, dlp_stat_get(src, (dlp_stat_id_t)i));
}

const char *dlp_stat_name(dlp_stat_id_t id) { return names[id]; }
const char *dlp_stat_group(dlp_stat_id_t id) { return groups[id]; }
bool dlp_stat_per_worker(dlp_stat_id_t id) { return kinds[id] == KIND_W; }

uint64_t dlp_stats_dropped(const dlp_stats_t *s)
{
    return dlp_stat_get(s, DLP_STAT_CAP_KERNEL_DROPS) + dlp_stat_get(s, DLP_STAT_CAP_IF_DROPS) +
           dlp_stat_get(s, DLP_STAT_CAP_RING_DROPS);
}
