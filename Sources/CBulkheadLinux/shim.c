#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (see Package.swift cSettings)"
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <malloc.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "CBulkheadLinux.h"

const int BH_IP_RECVERR = IP_RECVERR;
const int BH_IPV6_RECVERR = IPV6_RECVERR;
const uint32_t BH_EPOLLIN = EPOLLIN;
const uint32_t BH_EPOLLOUT = EPOLLOUT;
const uint32_t BH_EPOLLERR = EPOLLERR;
const uint32_t BH_EPOLLHUP = EPOLLHUP;
const int BH_RTN_UNICAST = RTN_UNICAST;
const int BH_RTN_LOCAL = RTN_LOCAL;
const int BH_RTN_BROADCAST = RTN_BROADCAST;
const int BH_RTN_ANYCAST = RTN_ANYCAST;
const int BH_RTN_MULTICAST = RTN_MULTICAST;
const int BH_NUD_INCOMPLETE = NUD_INCOMPLETE;
const int BH_NUD_FAILED = NUD_FAILED;

int bh_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}

pid_t bh_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}

int bh_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

static int bh_epoll_control(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = events;
    event.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &event);
}

int bh_epoll_add(int epfd, int fd, uint32_t events, uint64_t token) {
    return bh_epoll_control(epfd, EPOLL_CTL_ADD, fd, events, token);
}

int bh_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token) {
    return bh_epoll_control(epfd, EPOLL_CTL_MOD, fd, events, token);
}

int bh_epoll_remove(int epfd, int fd) {
    struct epoll_event unused;
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused);
}

int bh_epoll_wait(int epfd, bh_epoll_event *out, int capacity, int timeout_ms) {
    struct epoll_event events[256];
    if (capacity > 256) capacity = 256;
    int count = epoll_wait(epfd, events, capacity, timeout_ms);
    for (int index = 0; index < count; index++) {
        out[index].token = events[index].data.u64;
        out[index].events = events[index].events;
    }
    return count;
}

int bh_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int bh_read_icmp_error(int fd, int *icmp_type, int *icmp_code, int *error_number, char *offender, int offender_len) {
    char control[512];
    char data[64];
    struct iovec iov = { data, sizeof data };
    struct sockaddr_storage peer;
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_name = &peer;
    message.msg_namelen = sizeof peer;
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    if (recvmsg(fd, &message, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return -1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL; header = CMSG_NXTHDR(&message, header)) {
        int is_v4 = header->cmsg_level == SOL_IP && header->cmsg_type == IP_RECVERR;
        int is_v6 = header->cmsg_level == SOL_IPV6 && header->cmsg_type == IPV6_RECVERR;
        if (!is_v4 && !is_v6) continue;
        struct sock_extended_err *error = (struct sock_extended_err *)CMSG_DATA(header);
        if (error->ee_origin != SO_EE_ORIGIN_ICMP && error->ee_origin != SO_EE_ORIGIN_ICMP6) return 0;
        *icmp_type = error->ee_type;
        *icmp_code = error->ee_code;
        *error_number = (int)error->ee_errno;
        if (offender != NULL && offender_len > 0) {
            offender[0] = 0;
            struct sockaddr *from = SO_EE_OFFENDER(error);
            if (from->sa_family == AF_INET) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)from)->sin_addr, offender, (socklen_t)offender_len);
            } else if (from->sa_family == AF_INET6) {
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)from)->sin6_addr, offender, (socklen_t)offender_len);
            }
        }
        return 1;
    }
    return 0;
}

int bh_malloc_top_pad(int bytes) { return mallopt(M_TOP_PAD, bytes); }

/* A NETLINK_ROUTE socket of the calling thread's network namespace, with a receive timeout so that a kernel that
   never answers cannot hang the caller. Returns the descriptor or -errno. */
static int bh_netlink_open(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct timeval timeout = { 1, 0 };
    struct sockaddr_nl local;
    memset(&local, 0, sizeof local);
    local.nl_family = AF_NETLINK;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0
        || bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

/* The receive buffer for netlink answers: a dump sends at most a page-sized or 32 KiB batch per read. */
enum { BH_NETLINK_BUFFER = 65536 };

/* Sends one request on a new NETLINK_ROUTE socket and allocates the buffer its answers are read into (`*buffer`,
   freed by the caller). Returns the socket, or -errno with nothing left open. */
static int bh_netlink_send(const void *request, size_t length, char **buffer) {
    int fd = bh_netlink_open();
    if (fd < 0) return fd;
    if (send(fd, request, length, 0) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    *buffer = malloc(BH_NETLINK_BUFFER);
    if (*buffer == NULL) {
        close(fd);
        return -ENOMEM;
    }
    return fd;
}

int bh_route_get(int family, const uint8_t *address, int *type, int *oif, uint8_t *gateway, int *has_gateway) {
    int length = family == AF_INET6 ? 16 : 4;
    struct {
        struct nlmsghdr header;
        struct rtmsg route;
        char attributes[64];
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    request.header.nlmsg_type = RTM_GETROUTE;
    request.header.nlmsg_flags = NLM_F_REQUEST;
    request.header.nlmsg_seq = 1;
    request.route.rtm_family = (unsigned char)family;
    request.route.rtm_dst_len = (unsigned char)(length * 8);
    struct rtattr *destination = (struct rtattr *)((char *)&request + NLMSG_ALIGN(request.header.nlmsg_len));
    destination->rta_type = RTA_DST;
    destination->rta_len = (unsigned short)RTA_LENGTH(length);
    memcpy(RTA_DATA(destination), address, (size_t)length);
    request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(destination->rta_len);
    *type = -1;
    *oif = 0;
    *has_gateway = 0;

    char *buffer = NULL;
    int fd = bh_netlink_send(&request, request.header.nlmsg_len, &buffer);
    if (fd < 0) return fd;
    ssize_t count = recv(fd, buffer, BH_NETLINK_BUFFER, 0);
    int result = count < 0 ? -errno : -EBADMSG;
    int left = count < 0 ? 0 : (int)count;
    for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, left);
         header = NLMSG_NEXT(header, left)) {
        if (header->nlmsg_type == NLMSG_ERROR) {
            if (header->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) break;
            result = ((struct nlmsgerr *)NLMSG_DATA(header))->error;
            if (result == 0) result = -EBADMSG; /* an acknowledgement without the route */
            break;
        }
        if (header->nlmsg_type != RTM_NEWROUTE || header->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg))) continue;
        struct rtmsg *route = NLMSG_DATA(header);
        *type = route->rtm_type;
        int remaining = (int)RTM_PAYLOAD(header);
        for (struct rtattr *attribute = RTM_RTA(route); RTA_OK(attribute, remaining);
             attribute = RTA_NEXT(attribute, remaining)) {
            if (attribute->rta_type == RTA_OIF && RTA_PAYLOAD(attribute) >= sizeof(int)) {
                memcpy(oif, RTA_DATA(attribute), sizeof(int));
            } else if (attribute->rta_type == RTA_GATEWAY && (int)RTA_PAYLOAD(attribute) == length) {
                memcpy(gateway, RTA_DATA(attribute), (size_t)length);
                *has_gateway = 1;
            }
        }
        result = 0;
        break;
    }
    free(buffer);
    close(fd);
    return result;
}

int bh_neighbour_state(int family, const uint8_t *address, int ifindex, int *state) {
    int length = family == AF_INET6 ? 16 : 4;
    struct {
        struct nlmsghdr header;
        struct ndmsg neighbour;
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg));
    request.header.nlmsg_type = RTM_GETNEIGH;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.header.nlmsg_seq = 2;
    request.neighbour.ndm_family = (unsigned char)family;

    char *buffer = NULL;
    int fd = bh_netlink_send(&request, request.header.nlmsg_len, &buffer);
    if (fd < 0) return fd;
    int result = 0;
    int done = 0;
    while (!done) {
        ssize_t count = recv(fd, buffer, BH_NETLINK_BUFFER, 0);
        if (count < 0) {
            result = -errno;
            break;
        }
        if (count == 0) {
            result = -EBADMSG;
            break;
        }
        int left = (int)count;
        for (struct nlmsghdr *header = (struct nlmsghdr *)buffer; NLMSG_OK(header, left);
             header = NLMSG_NEXT(header, left)) {
            if (header->nlmsg_type == NLMSG_DONE) {
                done = 1;
                break;
            }
            if (header->nlmsg_type == NLMSG_ERROR) {
                result = header->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))
                    ? ((struct nlmsgerr *)NLMSG_DATA(header))->error
                    : -EBADMSG;
                if (result == 0) result = -EBADMSG;
                done = 1;
                break;
            }
            if (header->nlmsg_type != RTM_NEWNEIGH || header->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg))) continue;
            struct ndmsg *neighbour = NLMSG_DATA(header);
            if (ifindex > 0 && neighbour->ndm_ifindex != ifindex) continue;
            int remaining = (int)(header->nlmsg_len - NLMSG_LENGTH(sizeof(struct ndmsg)));
            for (struct rtattr *attribute = (struct rtattr *)((char *)neighbour + NLMSG_ALIGN(sizeof(struct ndmsg)));
                 RTA_OK(attribute, remaining); attribute = RTA_NEXT(attribute, remaining)) {
                if (attribute->rta_type == NDA_DST && (int)RTA_PAYLOAD(attribute) == length
                    && memcmp(RTA_DATA(attribute), address, (size_t)length) == 0) {
                    *state = neighbour->ndm_state;
                    result = 1;
                    done = 1;
                    break;
                }
            }
            if (done) break;
        }
    }
    free(buffer);
    close(fd);
    return result;
}
