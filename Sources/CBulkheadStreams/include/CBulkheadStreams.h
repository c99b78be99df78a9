#ifndef CBULKHEAD_STREAMS_H
#define CBULKHEAD_STREAMS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Capture streams for libpcap (pcap_fopen_offline reads a FILE): a gzip file decompressed ahead, and a stream whose
   bytes are read by functions of the caller's own (standard input passed through a tap on its way to libpcap). And
   zlib's raw inflate for compressed data inside captured flows. */

/// Reads up to `size` bytes into `buffer`: how many were read, 0 at the end, -1 on an error (errno set).
typedef ssize_t (*bh_stream_read_function)(void *context, char *buffer, size_t size);
/// Called once when the stream is closed; 0 on success.
typedef int (*bh_stream_close_function)(void *context);

/// A read-only stdio stream whose bytes come from `read`, called with `context`; closing it calls `close`. NULL (errno
/// set) when it cannot be made: `close` is then not called.
FILE *bh_cookie_stream(void *context, bh_stream_read_function read, bh_stream_close_function close);

/* A gzip-compressed file read as a stdio stream of its decompressed bytes (for libpcap's pcap_fopen_offline),
   decompressed ahead by a thread of its own: reading a capture and analysing it then share two cores, as
   `zcat cap.pcap.gz | bulkhead analyze -` does, instead of taking turns on one. */

typedef struct bh_gzip_reader bh_gzip_reader;

/// Starts decompressing `fd` (a file opened for reading; owned from now on, closed with the stream). Returns NULL,
/// with errno set, when the reader cannot be made (no memory, no thread); `fd` is then closed.
bh_gzip_reader *bh_gzip_open(int fd);

/// The stream of decompressed bytes (call once). Closing it (fclose, or pcap_close of the handle given it) stops the
/// thread and frees the reader: do not use `reader` after that. NULL (errno set) when the stream cannot be made; the
/// reader is then freed.
FILE *bh_gzip_stream(bh_gzip_reader *reader);

/// Whether the compressed data was found damaged or cut short; when so, its description (zlib's words) is copied
/// into `message` (at most `size` bytes, NUL-terminated). Valid until the stream is closed.
int bh_gzip_failed(bh_gzip_reader *reader, char *message, size_t size);

/// Compressed bytes consumed so far (for progress against the file's size).
uint64_t bh_gzip_compressed_offset(bh_gzip_reader *reader);

/// Decompresses the first bytes of `fd` (owned, closed before it returns) into `buffer`, at most `size`: how a file
/// is recognised and its first packet's time read without starting a reader. Returns how many bytes it gave (fewer
/// when the file is shorter, or damaged past them), or -1 when it gave none because the data is damaged, with
/// zlib's words in `message` (at most `message_size` bytes, NUL-terminated).
long bh_gzip_peek(int fd, void *buffer, size_t size, char *message, size_t message_size);

/* A raw DEFLATE stream (no zlib or gzip wrapper) inflated in pieces as they come, its window kept between them
   (WebSocket's permessage-deflate, RFC 7692). */

typedef struct bh_raw_inflater bh_raw_inflater;

/// A new inflater, or NULL when there is no memory for one. Free it with `bh_raw_inflater_free`.
bh_raw_inflater *bh_raw_inflater_new(void);

/// Inflates from `input` into `output`, as far as either goes: how many bytes of each were used are set in `consumed`
/// and `produced`. Call again with the rest when `output` filled. Returns 0; 1 when a final block ended the stream
/// (`consumed` stops there; the next bytes given begin a new stream); or -1 when the data is damaged (from then on
/// every call returns -1).
int bh_raw_inflate(bh_raw_inflater *inflater, const void *input, size_t input_size, void *output, size_t output_size,
                   size_t *consumed, size_t *produced);

void bh_raw_inflater_free(bh_raw_inflater *inflater);

#endif
