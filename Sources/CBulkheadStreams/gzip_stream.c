#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "CBulkheadStreams.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

/* The decompressing thread fills a ring of chunks; the stream's read function empties them in order. Four chunks
   of 1 MiB keep the thread ahead of the reader without holding much: memory is bounded whatever the file expands
   to (a gzip bomb streams through the same 4 MiB). */
enum { CHUNK_SIZE = 1 << 20, CHUNK_COUNT = 4, MESSAGE_SIZE = 256 };

struct bh_gzip_reader {
    gzFile gz;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char *chunks[CHUNK_COUNT];
    size_t lengths[CHUNK_COUNT];
    /* Guarded by `lock`: the chunk read next, how many are filled, how far into the first one the reader is. */
    unsigned head;
    unsigned filled;
    size_t consumed;
    /* Set by the thread (under `lock`) when it has decompressed the last byte it will: the end, or damage. */
    int finished;
    int failed;
    char message[MESSAGE_SIZE];
    /* Set by the reader (under `lock`) when it closes the stream: the thread stops at its next chunk. */
    int stopping;
    _Atomic uint64_t compressed_offset;
};

/* zlib's words for what went wrong, without the "<fd:3>: " it puts before them for a gzFile made from a descriptor. */
static const char *zlib_words(gzFile gz, int *code) {
    const char *text = gzerror(gz, code);
    if (!text || !*text) return "damaged compressed data";
    if (strncmp(text, "<fd:", 4) == 0) {
        const char *colon = strstr(text, ": ");
        if (colon) return colon + 2;
    }
    return text;
}

static void *decompress(void *argument) {
    struct bh_gzip_reader *reader = argument;
    for (;;) {
        pthread_mutex_lock(&reader->lock);
        while (reader->filled == CHUNK_COUNT && !reader->stopping) pthread_cond_wait(&reader->changed, &reader->lock);
        if (reader->stopping) {
            pthread_mutex_unlock(&reader->lock);
            return NULL;
        }
        /* The slot after the filled ones: the reader does not touch it until it is counted as filled. */
        unsigned slot = (reader->head + reader->filled) % CHUNK_COUNT;
        pthread_mutex_unlock(&reader->lock);

        int length = gzread(reader->gz, reader->chunks[slot], CHUNK_SIZE);
        /* Short means the end, or damage: zlib reports a cut-short file (Z_BUF_ERROR, "unexpected end of file") with
           the bytes it could still decompress, and corrupt data as -1. */
        int code = Z_OK;
        const char *problem = NULL;
        if (length < CHUNK_SIZE) {
            const char *text = zlib_words(reader->gz, &code);
            if (code != Z_OK) problem = text;
        }
        z_off_t offset = gzoffset(reader->gz);
        if (offset >= 0) atomic_store(&reader->compressed_offset, (uint64_t)offset);

        pthread_mutex_lock(&reader->lock);
        if (length > 0) {
            reader->lengths[slot] = (size_t)length;
            reader->filled += 1;
        }
        int done = length < CHUNK_SIZE;
        if (problem) {
            reader->failed = 1;
            snprintf(reader->message, MESSAGE_SIZE, "%s", problem);
        }
        reader->finished = done;
        pthread_cond_broadcast(&reader->changed);
        pthread_mutex_unlock(&reader->lock);
        if (done) return NULL;
    }
}

static ssize_t stream_read(void *cookie, char *buffer, size_t size) {
    struct bh_gzip_reader *reader = cookie;
    size_t copied = 0;
    pthread_mutex_lock(&reader->lock);
    while (copied < size) {
        /* Wait only while nothing has been copied: a short read is fine for stdio. */
        while (reader->filled == 0 && !reader->finished && copied == 0)
            pthread_cond_wait(&reader->changed, &reader->lock);
        if (reader->filled == 0) break;
        unsigned slot = reader->head;
        size_t available = reader->lengths[slot] - reader->consumed;
        size_t count = available < size - copied ? available : size - copied;
        const char *from = reader->chunks[slot] + reader->consumed;
        /* The head chunk is the reader's until it is handed back below: copy without holding the lock. */
        pthread_mutex_unlock(&reader->lock);
        memcpy(buffer + copied, from, count);
        pthread_mutex_lock(&reader->lock);
        copied += count;
        reader->consumed += count;
        if (reader->consumed == reader->lengths[slot]) {
            reader->head = (slot + 1) % CHUNK_COUNT;
            reader->filled -= 1;
            reader->consumed = 0;
            pthread_cond_broadcast(&reader->changed);
        }
    }
    /* Every byte decompressed has been read: damage is now a read error (stdio's ferror), not an end of file. */
    int failed = copied == 0 && reader->failed;
    pthread_mutex_unlock(&reader->lock);
    if (failed) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)copied;
}

static void reader_free(struct bh_gzip_reader *reader) {
    for (unsigned index = 0; index < CHUNK_COUNT; index++) free(reader->chunks[index]);
    if (reader->gz) gzclose_r(reader->gz);
    pthread_cond_destroy(&reader->changed);
    pthread_mutex_destroy(&reader->lock);
    free(reader);
}

static int stream_close(void *cookie) {
    struct bh_gzip_reader *reader = cookie;
    pthread_mutex_lock(&reader->lock);
    reader->stopping = 1;
    pthread_cond_broadcast(&reader->changed);
    pthread_mutex_unlock(&reader->lock);
    pthread_join(reader->thread, NULL);
    reader_free(reader);
    return 0;
}

bh_gzip_reader *bh_gzip_open(int fd) {
    struct bh_gzip_reader *reader = calloc(1, sizeof *reader);
    if (!reader) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&reader->lock, NULL);
    pthread_cond_init(&reader->changed, NULL);
    for (unsigned index = 0; index < CHUNK_COUNT; index++) {
        reader->chunks[index] = malloc(CHUNK_SIZE);
        if (!reader->chunks[index]) {
            close(fd);
            reader_free(reader);
            errno = ENOMEM;
            return NULL;
        }
    }
    reader->gz = gzdopen(fd, "rb");
    if (!reader->gz) {
        close(fd);
        reader_free(reader);
        errno = ENOMEM;
        return NULL;
    }
    gzbuffer(reader->gz, 256 * 1024);
    int error = pthread_create(&reader->thread, NULL, decompress, reader);
    if (error) {
        reader_free(reader);
        errno = error;
        return NULL;
    }
    return reader;
}

FILE *bh_gzip_stream(bh_gzip_reader *reader) {
    cookie_io_functions_t functions = {.read = stream_read, .write = NULL, .seek = NULL, .close = stream_close};
    FILE *stream = fopencookie(reader, "r", functions);
    if (!stream) {
        int error = errno;
        stream_close(reader);
        errno = error;
    }
    return stream;
}

int bh_gzip_failed(bh_gzip_reader *reader, char *message, size_t size) {
    pthread_mutex_lock(&reader->lock);
    int failed = reader->failed;
    if (failed && size > 0) snprintf(message, size, "%s", reader->message);
    pthread_mutex_unlock(&reader->lock);
    return failed;
}

uint64_t bh_gzip_compressed_offset(bh_gzip_reader *reader) { return atomic_load(&reader->compressed_offset); }

long bh_gzip_peek(int fd, void *buffer, size_t size, char *message, size_t message_size) {
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        if (message_size > 0) snprintf(message, message_size, "cannot decompress: out of memory");
        return -1;
    }
    /* Steps of 4 KiB, twice the buffer, so zlib decompresses each straight into `buffer` and no further: it gives
       nothing of a read that meets damage (-1), so the bytes before the damage are kept this way, and a file damaged
       past its first few kilobytes is accepted here and reported where the damage is, as a large one is. */
    gzbuffer(gz, 2048);
    size_t filled = 0;
    while (filled < size) {
        size_t step = size - filled < 4096 ? size - filled : 4096;
        int length = gzread(gz, (char *)buffer + filled, (unsigned)step);
        if (length > 0) filled += (size_t)length;
        if (length < (int)step) {
            int code = Z_OK;
            const char *text = zlib_words(gz, &code);
            if (code != Z_OK && filled == 0) {
                if (message_size > 0) snprintf(message, message_size, "%s", text);
                gzclose_r(gz);
                return -1;
            }
            break;
        }
    }
    gzclose_r(gz);
    return (long)filled;
}
