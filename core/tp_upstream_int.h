/*
 * tp_upstream_int.h - what tp_upstream.c (the exchange), tp_upstream_pool.c
 * (keep-alive pools and pooled connections) and tp_upstream_head.c (the request
 * head sent upstream) share; not for the rest of the core.
 */
#ifndef TP_UPSTREAM_INT_H
#define TP_UPSTREAM_INT_H

#include "tp_req.h"
#include "tp_tls.h"
#include "tp_util.h"
#include "tp_worker.h"

#include <http_parser.h>
#include <sys/socket.h>

struct tp_uppool_s {
    struct tp_uppool_s *next;
    char host[256];
    int port;
    int tls;
    char sni[256];        /* TLS name ("" = none: an IP literal) */
    uint64_t anchors_key; /* what TLS connections were verified against; 0 = nothing */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint64_t resolved_at;
    tp_upconn_t *idle;
    int nidle;
};

struct tp_upconn_s {
    tp_uppool_t *pool;
    tp_worker_t *w;
    int fd;
    tp_tls_conn_t *tls;  /* https: the engine, kept while pooled */
    int handshaking;
    ev_io rio, wio;
    ev_timer timer;
    http_parser parser;
    tp_buf_t out;
    tp_req_t *req;
    tp_upconn_t *next_idle;
    int connected;
    int reused;
    int head_queued;
    int chunked_body;   /* re-chunking the client's chunked body */
    int body_finished;  /* the whole request body was queued */
    int got_response;   /* some response bytes arrived */
    int resp_done;
    int interim;        /* the message being parsed is a 1xx before the final response */
    int head_done;      /* the final response's head was handed on: later fields are trailers */
    int request_sent;   /* some of this exchange's request reached the socket */
    int leftover;       /* bytes came after the response's end: never reused */
    int last_read_full; /* the last read filled its buffer: more may wait in the socket */
    int paused;         /* client side is full */
    int timer_kind;     /* 0 none, 1 connect, 2 write, 3 read */
    int in_parser;      /* inside http_parser_execute: never re-enter it */
    int dead;           /* let go of from inside the parser: free after it returns */
    ev_timer resume;    /* feeds bytes held back while the client was full */
    tp_buf_t hname, hvalue;
    int in_value;
    int upgraded;       /* answered 101 to an upgrade: becomes a tunnel, never pooled */
};

/** The pool of a target (host:port, and for TLS the name and anchors key); made on first use. */
tp_uppool_t *tp_upstream__pool_find(tp_worker_t *w, const tp_target_t *t, int tls, const char *sni,
                                    uint64_t anchors_key);
/** Take an idle connection out of the pool; NULL when it has none. */
tp_upconn_t *tp_upstream__pool_take(tp_uppool_t *p);
/** Unlink an idle connection from its pool (it was closed or timed out). */
void tp_upstream__pool_remove(tp_uppool_t *p, tp_upconn_t *u);
/** Park a connection whose exchange ended cleanly; frees it when the pool is full. */
void tp_upstream__pool_release(tp_upconn_t *u);
/** Fill p->addr (cached RESOLVE_TTL_MS). Returns 0, or -1 with the reason in err. */
int tp_upstream__resolve(tp_uppool_t *p, char *err, size_t errlen);
/** Stop the connection's watchers, close it (TLS close_notify first) and free it. */
void tp_upstream__conn_free(tp_upconn_t *u);
/** Append the request head for r to u->out and set u's body framing flags. */
void tp_upstream__queue_head(tp_upconn_t *u, tp_req_t *r);
/** The Host value sent upstream when it is not the target's own: the one a plugin set, else
 * the client's with preserve_host; NULL (the target's host[:port]) otherwise. */
const char *tp_upstream__host_value(tp_req_t *r, size_t *n);
/** 1 when the method sent upstream (a plugin's, else the client's) is HEAD. */
int tp_upstream__sent_head(const tp_req_t *r);
/** 1 when it may be sent again after reaching an upstream: not POST, PATCH or LOCK (as NGINX). */
int tp_upstream__sent_idempotent(const tp_req_t *r);
/** up_send: send(2), or through the TLS engine. */
ssize_t tp_upstream__send(tp_upconn_t *u, const char *p, size_t n);
/** up_recv: recv(2), or the plaintext of the TLS records that arrived. */
ssize_t tp_upstream__recv(tp_upconn_t *u, char *buf, size_t len);

#endif
