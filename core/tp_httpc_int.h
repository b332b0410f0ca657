/*
 * tp_httpc_int.h - what tp_httpc.c (the exchange), tp_httpc_pool.c (connections,
 * the idle pool and the DNS cache) and tp_httpc_head.c (the request bytes) share;
 * not for the rest of the core.
 */
#ifndef TP_HTTPC_INT_H
#define TP_HTTPC_INT_H

#include "tp_httpc.h"
#include "tp_tls.h"
#include "tp_util.h"

#include <ev.h>
#include <http_parser.h>

typedef struct conn_s {
    struct ev_loop *loop;
    int fd;
    ev_io rio, wio;
    ev_timer idle_timer;
    char host[256];
    int port;
    /* https: the engine, and what the pool keys on besides host:port. An
     * unverified connection (akey 0, verify 0) never serves a verifying call. */
    tp_tls_conn_t *tls;
    int verify;
    uint64_t akey;
    char sni[256];
    struct conn_s *prev, *next; /* idle list */
    tp_httpc_call_t *call;      /* owner while in use */
} conn_t;

typedef struct {
    size_t noff, nlen, voff, vlen;
} hdr_t;

struct tp_httpc_call_s {
    struct ev_loop *loop;
    tp_httpc_cb cb;
    void *arg;
    conn_t *conn;
    char host[256];
    int port;
    int idempotent, is_head, keepalive;
    int is_tls, verify, handshaking;
    tp_tls_anchors_t *anchors; /* one reference while verifying, for new connections */
    char sni[256];             /* "" = none (an IP literal) */
    uint64_t deadline_ms;      /* end of the whole exchange */
    uint64_t akey_want;        /* the anchors' content key (0 when not verifying) */
    int connecting;            /* the timer bounds the connect phase (connect_timeout_ms) */
    tp_buf_t out; /* the whole request, kept for one retry on a stale connection */
    size_t sent;
    ev_timer timer;
    http_parser parser;
    int reused, retried, got_bytes, complete, finished, too_large;
    int status;
    tp_buf_t hbuf; /* header names and values, back to back */
    hdr_t *hdrs;
    int nhdrs, hcap, in_value;
    tp_buf_t body;
    char err[TP_ERR_LEN];
};

/** A fresh non-blocking connection for c (address from the DNS cache, TLS engine
 *  for https); 0, or -errno with err filled. */
int tp_httpc__conn_open(tp_httpc_call_t *c, conn_t **out, char *err, size_t errlen);
/** Stop k's watchers, close its socket, free its TLS engine and k. */
void tp_httpc__conn_close(conn_t *k);
/** Park k in the idle pool (closed instead when its pool is full). */
void tp_httpc__idle_put(conn_t *k);
/** An idle connection that can serve c, taken out of the pool; NULL when none. */
conn_t *tp_httpc__idle_take(tp_httpc_call_t *c);
/** Split o->url into c->host, c->port, c->is_tls and the request-target; 0 or -1 with err. */
int tp_httpc__parse_url(tp_httpc_call_t *c, const tp_httpc_opts_t *o, const char **target,
                        size_t *tlen, char *err, size_t errlen);
/** Append the whole request (line, headers, body) to c->out. */
void tp_httpc__build_request(tp_httpc_call_t *c, const tp_httpc_opts_t *o, const char *target,
                             size_t tlen);

#endif
