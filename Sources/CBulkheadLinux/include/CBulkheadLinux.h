#ifndef CBULKHEAD_LINUX_H
#define CBULKHEAD_LINUX_H

#include <sys/types.h>

/* Linux calls Swift's Glibc module does not expose (they need _GNU_SOURCE). Thin wrappers, no policy. */

/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace `fd` refers to.
int bh_setns_net(int fd);

/// The thread id of the calling thread (gettid).
pid_t bh_gettid(void);

#endif
