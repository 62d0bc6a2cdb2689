/*
 * alert.c - hand-off of event records from a worker to the output thread.
 * Called by workers only; never blocks a live sensor.
 */
#include "dlp/alert.h"

const char *dlp_field_name(dlp_field_t f)
{
    static const char *const names[DLP_FIELD__COUNT] = {
        [DLP_FIELD_RAW] = "raw",
        [DLP_FIELD_HTTP_URI] = "http.uri",
        [DLP_FIELD_HTTP_HEADER] = "http.header",
        [DLP_FIELD_HTTP_BODY] = "http.body",
        [DLP_FIELD_SMTP_HEADER] = "smtp.header",
        [DLP_FIELD_SMTP_BODY] = "smtp.body",
        [DLP_FIELD_SMTP_ATTACHMENT] = "smtp.attachment",
        [DLP_FIELD_FTP_DATA] = "ftp.data",
        [DLP_FIELD_DNS_QUERY] = "dns.query",
        [DLP_FIELD_WS_MESSAGE] = "ws.message",
        [DLP_FIELD_SMTP_COMMAND] = "smtp.command",
        [DLP_FIELD_FTP_COMMAND] = "ftp.command",
    };
    return (unsigned)f < DLP_FIELD__COUNT ? names[f] : "unknown";
}

const char *dlp_app_note_name(dlp_app_note_t n)
{
    static const char *const names[DLP_NOTE__COUNT] = {
        [DLP_NOTE_GAP] = "gap",
        [DLP_NOTE_ENCRYPTED] = "encrypted",
        [DLP_NOTE_DECODER_ERROR] = "decoder_error",
        [DLP_NOTE_DECOMP_CAP] = "decomp_cap",
        [DLP_NOTE_DECOMP_RATIO] = "decomp_ratio",
        [DLP_NOTE_HEADER_CAP] = "header_cap",
        [DLP_NOTE_DEPTH_CAP] = "depth_cap",
        [DLP_NOTE_UNSUPPORTED] = "unsupported",
        [DLP_NOTE_MEDIA] = "media",
        [DLP_NOTE_CREDENTIAL] = "credentials",
    };

    if ((unsigned)n >= DLP_NOTE__COUNT || names[n] == NULL)
        return "unknown";
    return names[n];
}

const char *dlp_rstat_name(dlp_rstat_t k)
{
    static const char *const names[DLP_RSTAT__COUNT] = {
        [DLP_RSTAT_CANDIDATES] = "candidates",
        [DLP_RSTAT_REJECTED] = "rejected",
        [DLP_RSTAT_FILTERED] = "filtered",
        [DLP_RSTAT_CONTEXT] = "context_suppressed",
        [DLP_RSTAT_ALLOWED] = "allowed",
        [DLP_RSTAT_TEST_VALUES] = "test_values",
        [DLP_RSTAT_UNLISTED] = "unlisted",
        [DLP_RSTAT_VALUES] = "values",
        [DLP_RSTAT_ALERTS] = "alerts",
    };
    return (unsigned)k < DLP_RSTAT__COUNT ? names[k] : "unknown";
}

const char *dlp_confidence_name(dlp_confidence_t c)
{
    static const char *const names[] = {"low", "medium", "high"};
    return (unsigned)c < DLP_ARRAY_LEN(names) ? names[c] : "low";
}

bool dlp_alert_push(dlp_ring_t *ring, const dlp_event_t *ev, bool wait,
                    const atomic_int *stop, dlp_stats_t *st)
{
    dlp_backoff_t b;

    if (dlp_ring_push(ring, ev))
        return true;
    if (wait) {
        dlp_backoff_init(&b, 1000);
        while (!dlp_ring_push(ring, ev)) {
            if (stop != NULL && *stop)
                goto dropped;
            dlp_backoff_wait(&b);
        }
        return true;
    }
dropped:
    if (st != NULL)
        dlp_stat_inc(st, DLP_STAT_EVENTS_DROPPED);
    return false;
}
