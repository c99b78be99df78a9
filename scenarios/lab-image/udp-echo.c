/* udp-echo PORT: answers every UDP datagram with the same bytes (the lab's UDP service: busybox has none).
   Built into the lab image by build.sh; IPv4 and IPv6 (dual-stack socket). */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udp-echo PORT\n");
        return 2;
    }
    int port = atoi(argv[1]);
    if (port < 1 || port > 65535) {
        fprintf(stderr, "udp-echo: bad port %s\n", argv[1]);
        return 2;
    }
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    int off = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_in6 address;
    memset(&address, 0, sizeof address);
    address.sin6_family = AF_INET6;
    address.sin6_port = htons((unsigned short)port);
    address.sin6_addr = in6addr_any;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) { perror("bind"); return 1; }
    for (;;) {
        char buffer[2048];
        struct sockaddr_storage peer;
        socklen_t length = sizeof peer;
        ssize_t count = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *)&peer, &length);
        if (count < 0) continue;
        sendto(fd, buffer, (size_t)count, 0, (struct sockaddr *)&peer, length);
    }
}
