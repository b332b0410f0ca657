/*
 * tp_http_chunks.h - the framing of a chunked request body, checked byte by byte beside
 * http-parser (RFC 9112 section 7.1).
 */
#ifndef TP_HTTP_CHUNKS_H
#define TP_HTTP_CHUNKS_H

#include <stddef.h>
#include <stdint.h>

/* Where the scan of one chunked body stands between reads (zeroed: at its start). */
typedef struct {
    uint8_t state;
    uint8_t started; /* a byte of the first size line was seen */
    uint8_t digits; /* of the chunk size read so far (0: none yet) */
    uint64_t size;  /* the chunk size being read */
    uint64_t left;  /* data bytes still to come in the current chunk */
} tp_chunks_scan_t;

enum { TP_CHUNKS_BAD = -1, TP_CHUNKS_MORE = 0, TP_CHUNKS_END = 1 };

/** Scan the next n bytes of a chunked body, going on from where s stands. TP_CHUNKS_BAD:
 *  not RFC 9112 chunked framing (a size that is not hex or overflows, a line end that is
 *  not CRLF or LF, data longer than its size, a bare CR or NUL in a size line or trailer);
 *  TP_CHUNKS_MORE: all n bytes scanned, the body goes on; TP_CHUNKS_END: the body (last
 *  chunk and trailer section) ends after *end bytes. */
int tp_http_chunks_scan(tp_chunks_scan_t *s, const char *p, size_t n, size_t *end);

#endif
