#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (see Package.swift cSettings)"
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <malloc.h>
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
