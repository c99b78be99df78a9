#ifndef _GNU_SOURCE
#error "_GNU_SOURCE must be defined (see Package.swift cSettings)"
#endif
#include <sched.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "CBulkheadLinux.h"

int bh_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}

pid_t bh_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}
