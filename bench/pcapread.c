/*
 * pcapread - the floor for `make bench`: libpcap reads a capture file and does nothing with
 * the packets but sum their captured lengths. Whatever the sensor costs beyond this is the
 * sensor's own work. Prints one line of key=value pairs (run.sh parses it).
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h = NULL;
    const unsigned char *data = NULL;
    uint64_t pkts = 0, bytes = 0;
    int rc;
    if (argc != 2) {
        fprintf(stderr, "usage: pcapread FILE.pcap\n");
        return 2;
    }
    double t0 = now_s();
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (p == NULL) {
        fprintf(stderr, "pcapread: %s\n", err);
        return 1;
    }
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        pkts++;
        bytes += h->caplen;
    }
    double secs = now_s() - t0;
    if (rc != PCAP_ERROR_BREAK) {
        fprintf(stderr, "pcapread: %s\n", pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    printf("packets=%llu caplen_bytes=%llu seconds=%.6f mb_per_s=%.1f pkts_per_s=%.0f\n",
           (unsigned long long)pkts, (unsigned long long)bytes, secs,
           secs > 0 ? (double)bytes / 1e6 / secs : 0.0, secs > 0 ? (double)pkts / secs : 0.0);
    return 0;
}
