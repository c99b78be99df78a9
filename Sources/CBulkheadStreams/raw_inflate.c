#include "CBulkheadStreams.h"

#include <stdlib.h>
#include <zlib.h>

/* A raw DEFLATE stream (RFC 1951, no zlib or gzip wrapper) inflated in pieces, its 32 kB window kept between them:
   what WebSocket's permessage-deflate (RFC 7692) needs, where each message continues the sender's stream unless it
   agreed to start afresh (a decompressor that keeps its window reads both). */

struct bh_raw_inflater {
    z_stream stream;
    int failed;
};

bh_raw_inflater *bh_raw_inflater_new(void) {
    bh_raw_inflater *inflater = calloc(1, sizeof *inflater);
    if (!inflater) return NULL;
    /* Negative window bits: raw DEFLATE; 15, the largest window, reads streams made with any smaller one. */
    if (inflateInit2(&inflater->stream, -15) != Z_OK) {
        free(inflater);
        return NULL;
    }
    return inflater;
}

int bh_raw_inflate(bh_raw_inflater *inflater, const void *input, size_t input_size, void *output,
                   size_t output_size, size_t *consumed, size_t *produced) {
    *consumed = 0;
    *produced = 0;
    if (inflater->failed) return -1;
    /* zlib counts in uInt: larger pieces are taken a part at a time by the caller's loop. */
    uInt in = input_size > 0x40000000u ? 0x40000000u : (uInt)input_size;
    uInt out = output_size > 0x40000000u ? 0x40000000u : (uInt)output_size;
    inflater->stream.next_in = (Bytef *)input;
    inflater->stream.avail_in = in;
    inflater->stream.next_out = output;
    inflater->stream.avail_out = out;
    int status = inflate(&inflater->stream, Z_SYNC_FLUSH);
    *consumed = in - inflater->stream.avail_in;
    *produced = out - inflater->stream.avail_out;
    switch (status) {
    case Z_OK:
    case Z_BUF_ERROR: /* no progress possible: all input taken, or no room left */
        return 0;
    case Z_STREAM_END:
        /* A final block ended the DEFLATE stream (RFC 7692 §7.2.3.4 lets a sender end each message so). The caller
           drops what follows in the message; the next bytes given begin a new stream, with no window. */
        if (inflateReset(&inflater->stream) != Z_OK) {
            inflater->failed = 1;
            return -1;
        }
        return 1;
    default: /* Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR, Z_STREAM_ERROR */
        inflater->failed = 1;
        return -1;
    }
}

void bh_raw_inflater_free(bh_raw_inflater *inflater) {
    if (!inflater) return;
    inflateEnd(&inflater->stream);
    free(inflater);
}
