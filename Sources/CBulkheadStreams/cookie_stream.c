#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "CBulkheadStreams.h"

#include <stdio.h>

FILE *bh_cookie_stream(void *context, bh_stream_read_function read, bh_stream_close_function close) {
    /* fopencookie(3) is a GNU extension: Swift's Glibc module does not declare it. */
    cookie_io_functions_t functions = {.read = read, .write = NULL, .seek = NULL, .close = close};
    return fopencookie(context, "r", functions);
}
