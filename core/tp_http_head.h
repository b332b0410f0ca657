/*
 * tp_http_head.h - checks and splitting of a request head that come from the
 * network and are not http-parser's: raw head bytes (NUL, bare CR, obs-fold,
 * whitespace before a colon), framing headers (request smuggling), the
 * request target and the Host header. Pure functions, fuzzed by
 * core/fuzz/fuzz_http_head.c.
 */
#ifndef TP_HTTP_HEAD_H
#define TP_HTTP_HEAD_H

#include "tp_req.h"

#include <stddef.h>
#include <stdint.h>

/* Where the scan of one request head stands between reads (zeroed: at its start). */
typedef struct {
    uint8_t started; /* the request line began (line ends before it are skipped) */
    uint8_t in_name; /* within a header line, before its colon */
    uint8_t prev, prev2; /* the last two bytes scanned */
    uint32_t line; /* 0: the request line, then header lines */
} tp_head_scan_t;

enum { TP_HEAD_BAD = -1, TP_HEAD_MORE = 0, TP_HEAD_END = 1 };

/** Scan the next n bytes of a request head, going on from where s stands: NUL, bare
 *  CR, obs-fold and whitespace before a colon are refused (TP_HEAD_BAD); TP_HEAD_MORE:
 *  all n bytes scanned, the head goes on; TP_HEAD_END: the head ends after *end bytes
 *  (the rest is a body or the next request) and s is ready for the next head. */
int tp_http_head_scan(tp_head_scan_t *s, const char *p, size_t n, size_t *end);
/** 0 when Content-Length / Transfer-Encoding / header values make framing unsafe. */
int tp_http_framing_is_safe(tp_req_t *r);
/** 0 when the request has several Host headers, or none in HTTP/1.1 (RFC 9112 section 3.2). */
int tp_http_host_count_ok(tp_req_t *r);
/** Split r->url into r->path and r->query (absolute-form reduced to its path, a fragment
 *  dropped). Any other form leaves a path not starting with '/', which the caller refuses. */
void tp_http_split_url(tp_req_t *r);
/** r->host, lower case and without the port: from the target's authority when the
 *  target is in absolute-form, else from the Host header ("" when there is none). */
void tp_http_take_host(tp_req_t *r);

#endif
