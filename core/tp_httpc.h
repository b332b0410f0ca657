/*
 * tp_httpc.h - the outbound HTTP/1.1 client plugins use (turnpike.http): one
 * request/response exchange at a time per call, on the caller's libev loop,
 * over a per-process keep-alive pool (a worker process runs one loop) and a
 * small DNS cache. http and https (TLS 1.2 through tp_tls_client, verified
 * against a trust-anchor set by default); redirects are not followed.
 *
 * Two layers: tp_httpc_* is a callback API (used by the C tests), and the
 * tp_ffi_http_* functions wrap it for a request's Lua coroutine (declared in
 * lua/turnpike/ffi/io.lua): start returns TP_AGAIN, the coroutine yields, and
 * the completion resumes it with tp_bridge_resume.
 */
#ifndef TP_HTTPC_H
#define TP_HTTPC_H

#include "tp_req.h"
#include "tp_tls.h"

#include <ev.h>
#include <stddef.h>

typedef struct tp_httpc_call_s tp_httpc_call_t;
typedef struct tp_httpc_handle_s tp_httpc_handle_t;

/** Completion: errstr is NULL when a whole response arrived (any status). The
 *  callback owns the call from then on and frees it with tp_httpc_free. */
typedef void (*tp_httpc_cb)(tp_httpc_call_t *c, const char *errstr, void *arg);

typedef struct {
    const char *method; /* NUL-terminated, e.g. "GET" */
    const char *url;    /* http[s]://host[:port]/path?query */
    size_t url_len;
    const char *headers; /* "Name: value\r\n" lines, may be NULL; Content-Length,
                            Transfer-Encoding and Connection lines are replaced */
    size_t headers_len;
    const char *body; /* may be NULL */
    size_t body_len;
    int timeout_ms; /* for the whole exchange; <= 0 means 60 s */
    int keepalive;  /* pool the connection afterwards when the server allows it */
    int connect_timeout_ms; /* connect plus TLS handshake; <= 0: timeout_ms alone bounds them */
    /* https only. tls_verify: the chain must lead to one of `anchors` (NULL: trust
     * nothing, so every handshake fails) and name the server; the call holds its own
     * reference. server_name: sent as SNI and verified (NULL or "": the url's host);
     * an IP literal is never sent, and with tls_verify it is refused (BearSSL matches
     * DNS names only). Pooled connections are kept apart by TLS, name and anchors. */
    int tls_verify;
    tp_tls_anchors_t *anchors;
    const char *server_name;
} tp_httpc_opts_t;

/** Start a request on loop. Returns the call (cb runs later, never from inside
 *  this function), or NULL with a reason in err when the request cannot start
 *  (bad url, unresolvable host, connect refused at once, tls_verify for an IP
 *  address). Everything in o is copied. A TLS handshake failure completes the
 *  call with "tls handshake with HOST:PORT: bearssl error N NAME". */
tp_httpc_call_t *tp_httpc_start(struct ev_loop *loop, const tp_httpc_opts_t *o, tp_httpc_cb cb,
                                void *arg, char *err, size_t errlen);

/** Free a call. A call still in flight is cancelled (its connection is closed,
 *  its callback never runs). */
void tp_httpc_free(tp_httpc_call_t *c);

/** The response of a completed call: status, headers in arrival order, body
 *  (valid until tp_httpc_free). */
int tp_httpc_status(const tp_httpc_call_t *c);
int tp_httpc_header_count(const tp_httpc_call_t *c);
/** Header i: 0, or -1 when i is out of range. */
int tp_httpc_header_at(const tp_httpc_call_t *c, int i, const char **name, size_t *nlen,
                       const char **value, size_t *vlen);
const char *tp_httpc_body(const tp_httpc_call_t *c, size_t *len);
/** 1 when the call ran on a pooled (reused) connection. */
int tp_httpc_reused(const tp_httpc_call_t *c);

/** Idle pooled connections on loop (all hosts). */
int tp_httpc_idle_count(struct ev_loop *loop);
/** Close every idle pooled connection on loop and drop the DNS cache. */
void tp_httpc_close_idle(struct ev_loop *loop);

/* ---- FFI (one pending call per request; the handle lives in r->pool) ---- */

/** Start a request for r. Returns TP_AGAIN with *out set (yield; r is resumed
 *  when it completes), or -1 with err filled. */
int tp_ffi_http_request(tp_req_t *r, const char *method, const char *url, size_t url_len,
                        const char *headers, size_t headers_len, const char *body,
                        size_t body_len, int timeout_ms, int keepalive, tp_httpc_handle_t **out,
                        char *err, size_t errlen);
/** As tp_ffi_http_request with the connect timeout and the https settings of
 *  tp_httpc_opts_t (server_name may be NULL). */
int tp_ffi_http_request_tls(tp_req_t *r, const char *method, const char *url, size_t url_len,
                            const char *headers, size_t headers_len, const char *body,
                            size_t body_len, int timeout_ms, int connect_timeout_ms,
                            int keepalive, int tls_verify, tp_tls_anchors_t *anchors,
                            const char *server_name, tp_httpc_handle_t **out, char *err,
                            size_t errlen);
/** After the resume: the status (> 0), or -1 with err filled. */
int tp_ffi_http_status(tp_httpc_handle_t *h, char *err, size_t errlen);
int tp_ffi_http_header_count(tp_httpc_handle_t *h);
int tp_ffi_http_header_at(tp_httpc_handle_t *h, int i, const char **name, size_t *nlen,
                          const char **value, size_t *vlen);
const char *tp_ffi_http_body(tp_httpc_handle_t *h, size_t *len);
/** Free the response now (the request's pool would free it at the latest). */
void tp_ffi_http_done(tp_httpc_handle_t *h);

#endif
