#ifndef CBULKHEAD_LINUX_H
#define CBULKHEAD_LINUX_H

#include <stdint.h>
#include <sys/types.h>

/* Linux calls Swift's Glibc module does not expose (they need _GNU_SOURCE). Thin wrappers, no policy. */

/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace `fd` refers to.
int bh_setns_net(int fd);

/// The thread id of the calling thread (gettid).
pid_t bh_gettid(void);

/// One ready file descriptor from bh_epoll_wait: the 64-bit token it was registered with and its events.
typedef struct {
    uint64_t token;
    uint32_t events;
} bh_epoll_event;

/// IP_RECVERR and IPV6_RECVERR (in <linux/in.h> and <linux/in6.h>, which Swift's Glibc module does not expose):
/// a socket option that queues ICMP errors for MSG_ERRQUEUE.
extern const int BH_IP_RECVERR;
extern const int BH_IPV6_RECVERR;

/// Event bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP), as plain constants for Swift.
extern const uint32_t BH_EPOLLIN;
extern const uint32_t BH_EPOLLOUT;
extern const uint32_t BH_EPOLLERR;
extern const uint32_t BH_EPOLLHUP;

/// epoll_create1(EPOLL_CLOEXEC).
int bh_epoll_create(void);
/// epoll_ctl(EPOLL_CTL_ADD) with `events` and a token handed back by bh_epoll_wait.
int bh_epoll_add(int epfd, int fd, uint32_t events, uint64_t token);
/// epoll_ctl(EPOLL_CTL_MOD).
int bh_epoll_modify(int epfd, int fd, uint32_t events, uint64_t token);
/// epoll_ctl(EPOLL_CTL_DEL).
int bh_epoll_remove(int epfd, int fd);
/// epoll_wait into `out` (at most `capacity`), converting to bh_epoll_event; returns the count or -1.
int bh_epoll_wait(int epfd, bh_epoll_event *out, int capacity, int timeout_ms);

/// pidfd_open(pid, 0): a descriptor that becomes readable when the process exits (Linux ≥ 5.3); -1 otherwise.
int bh_pidfd_open(pid_t pid);

/// Reads one entry of the socket's error queue (IP_RECVERR / IPV6_RECVERR, MSG_ERRQUEUE): the ICMP origin,
/// type and code, the errno, and the address that sent the ICMP error (IPv4 or IPv6, as text, into
/// `offender`). Returns 1 when an ICMP error was read, 0 when the queue held something else, -1 when empty.
int bh_read_icmp_error(int fd, int *icmp_type, int *icmp_code, int *error_number, char *offender, int offender_len);

/// Route types (RTN_*, <linux/rtnetlink.h>) and neighbour states (NUD_*, <linux/neighbour.h>) that the prober tells
/// apart, as plain constants for Swift.
extern const int BH_RTN_UNICAST;
extern const int BH_RTN_LOCAL;
extern const int BH_RTN_BROADCAST;
extern const int BH_RTN_ANYCAST;
extern const int BH_RTN_MULTICAST;
extern const int BH_NUD_INCOMPLETE;
extern const int BH_NUD_FAILED;

/// The route the calling thread's network namespace takes to `address` (`family` AF_INET or AF_INET6; 4 or 16 bytes,
/// network order), as `ip route get` asks for it (RTM_GETROUTE): its type (RTN_*), output interface index, and
/// next-hop gateway when there is one (copied into `gateway`, room for 16 bytes; `*has_gateway` set to 1).
/// Returns 0, or -errno: the kernel's own answer (-ENETUNREACH when there is no route) or a failed socket call.
int bh_route_get(int family, const uint8_t *address, int *type, int *oif, uint8_t *gateway, int *has_gateway);

/// The neighbour entry (ARP, IPv6 neighbour discovery) of `address` on interface `ifindex` (any when 0) in the
/// calling thread's network namespace (an RTM_GETNEIGH dump): its NUD_* state into `*state`. Returns 1 when found,
/// 0 when there is no entry, -errno when the table could not be read.
int bh_neighbour_state(int family, const uint8_t *address, int ifindex, int *state);

/// mallopt(M_TOP_PAD, bytes): glibc's heaps grow and shrink in steps of at least `bytes`. Returns 1 when taken.
int bh_malloc_top_pad(int bytes);

#endif
