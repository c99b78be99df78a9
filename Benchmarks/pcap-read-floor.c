/*
 * pcap-read-floor.c -- the practical floor for reading a capture: a bare
 * libpcap loop that touches every record and does nothing else.
 *
 * Build: gcc -O2 -o pcap-read-floor pcap-read-floor.c -lpcap
 * Usage: pcap-read-floor FILE.pcap[ng]
 * Prints: packets=<n> caplen_bytes=<sum of caplen> wire_bytes=<sum of len> checksum=<x>
 *
 * The checksum folds the first byte of every packet so the loop cannot be
 * optimised into nothing and the packet data is actually read once.
 */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "pcap_open_offline: %s\n", err);
        return 1;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    uint64_t packets = 0, caplen = 0, wire = 0, check = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        caplen += h->caplen;
        wire += h->len;
        if (h->caplen) check = check * 31 + data[0];
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "pcap_next_ex: %s\n", pcap_geterr(p));
        pcap_close(p);
        return 1;
    }
    pcap_close(p);
    printf("packets=%" PRIu64 " caplen_bytes=%" PRIu64 " wire_bytes=%" PRIu64 " checksum=%" PRIx64 "\n",
           packets, caplen, wire, check);
    return 0;
}
