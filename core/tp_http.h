/*
 * tp_http.h - client connections: HTTP/1.1 parsing with http-parser, limits,
 * keep-alive and pipelining, request bodies, writing responses, access log.
 */
#ifndef TP_HTTP_H
#define TP_HTTP_H

#include "tp_buf.h"
#include "tp_http_chunks.h"
#include "tp_http_head.h"
#include "tp_req.h"
#include "tp_tls.h"
#include "tp_worker.h"

#include <ev.h>
#include <http_parser.h>

struct tp_conn_s {
    tp_worker_t *w;
    tp_listener_t *listener;
    int fd;
    tp_tls_conn_t *tls; /* the TLS engine on an ssl listener, else NULL */
    ev_io rio, wio;
    ev_timer timer;
    ev_timer send_timer; /* runs while output waits for a client that does not read */
    http_parser parser;
    http_parser_settings *settings;
    tp_buf_t in, out;
    tp_req_t *req;
    char client_ip[64];
    int client_port;
    int closing;       /* close once out is flushed */
    int reading_paused;
    int head_bytes;    /* bytes of the current request head seen so far */
    tp_head_scan_t head_scan; /* the raw-byte checks of the current head, across reads */
    tp_chunks_scan_t chunks_scan; /* the framing check of a chunked body, across reads */
    int chunks_on;                /* the current request's body is chunked: check it */
    int discard_body;  /* response done early: drop the rest of the body */
    int in_parser;     /* inside http_parser_execute: never re-enter it */
    int dead;          /* closed; freed by tp_http_reap after this loop iteration */
    tp_conn_t *dead_next;
    struct tp_tunnel_s *tunnel; /* set once the connection is an upgraded tunnel (tp_tunnel.c) */
    tp_conn_t *prev, *next;
    /* header being parsed */
    tp_buf_t hname, hvalue;
    int in_value;
};

/** Accept callback for a listener. */
void tp_http_on_accept(struct ev_loop *loop, ev_io *io, int revents);

/** Lua finished rewrite/access: exit response or proxy. */
void tp_http_on_lua_done(tp_req_t *r);

/** A gateway-made JSON error ({"message": msg}) when nothing was sent yet, else close. */
void tp_http_send_error(tp_req_t *r, int status, const char *msg);

/** Write the response head (status + resp_headers); runs header_filter first. */
void tp_http_response_head(tp_req_t *r);
/** Forward response body bytes. Returns 1 when the client buffer is full (pause the source). */
int tp_http_response_body(tp_req_t *r, const char *data, size_t n);
/** Write out what is buffered for the client now. */
void tp_http_flush(tp_req_t *r);
/** The response is complete. */
void tp_http_response_end(tp_req_t *r);

/** Start reading (or resume) the client's body towards the upstream / buffer. */
void tp_http_read_body(tp_req_t *r);

/** Free the connections closed during this loop iteration (an ev_check). */
void tp_http_reap(tp_worker_t *w);

/** Close every idle keep-alive connection and stop accepting (graceful stop). */
void tp_http_drain(tp_worker_t *w);

/** Is this header hop-by-hop (never forwarded either way)? Defined in tp_http_resp.c. */
int tp_http_is_hop_by_hop(const char *name, size_t n);

#endif
