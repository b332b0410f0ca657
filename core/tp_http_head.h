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

/** 0 when the bytes of a (possibly partial) request head must be refused. */
int tp_http_head_bytes_ok(const char *p, size_t n);
/** 0 when Content-Length / Transfer-Encoding / header values make framing unsafe. */
int tp_http_framing_is_safe(tp_req_t *r);
/** Split r->url into r->path and r->query (absolute-form reduced to its path). */
void tp_http_split_url(tp_req_t *r);
/** r->host from the Host header: lower case, without the port. */
void tp_http_take_host(tp_req_t *r);

#endif
