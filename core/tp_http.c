/*
 * tp_http.c - owns client connections: accepting, reading and parsing HTTP/1.1
 * requests with http-parser (limits, smuggling checks, keep-alive, pipelining,
 * bodies) and flushing output with back-pressure. Responses are built in
 * tp_http_resp.c.
 *
 * A connection carries at most one request at a time. Pipelined requests stay
 * unparsed in `in` until the current one is finished, so responses go out in
 * order (RFC 9112 section 9.3.2).
 */
#include "tp_http.h"
#include "tp_bridge.h"
#include "tp_cache.h"
#include "tp_http_head.h"
#include "tp_http_int.h"
#include "tp_log.h"
#include "tp_tls.h"
#include "tp_tunnel.h"
#include "tp_upstream.h"
#include "tp_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define IN_HIGH_WATER (256 * 1024)

#define MAX_URI 8192
#define DISCARD_LIMIT (1024 * 1024)
#define IDLE_BUF_MAX 4096 /* buffers larger than this are given back between requests */

static void conn_close(tp_conn_t *c);

/* ---- connection lifetime ------------------------------------------------ */

static void conn_unlink(tp_conn_t *c)
{
    tp_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* Closing a connection ends its socket and watchers at once, but its memory is
 * freed only after the current loop iteration (tp_http_reap): whoever is still
 * on the stack with a pointer to it (a parse loop, a flush) sees c->dead and stops. */
static void conn_free(tp_conn_t *c)
{
    tp_worker_t *w = c->w;
    tp_evorder_forget(&w->evorder, &c->rio);
    ev_io_stop(w->loop, &c->rio);
    ev_io_stop(w->loop, &c->wio);
    ev_timer_stop(w->loop, &c->timer);
    ev_timer_stop(w->loop, &c->send_timer);
    close(c->fd);
    c->fd = -1;
    conn_unlink(c);
    c->dead = 1;
    c->dead_next = w->dead_conns;
    w->dead_conns = c;
    w->connections--;
    tp_worker_status_t *st = tp_worker_status(w);
    if (st)
        st->connections = w->connections;
    if (w->draining)
        tp_worker_check_drained(w);
}

void tp_http_reap(tp_worker_t *w)
{
    while (w->dead_conns) {
        tp_conn_t *c = w->dead_conns;
        w->dead_conns = c->dead_next;
        tp_buf_free(&c->in);
        tp_buf_free(&c->out);
        tp_buf_free(&c->hname);
        tp_buf_free(&c->hvalue);
        tp_tls_conn_free(c->tls);
        free(c);
    }
}

/* The client is gone (or we give up on it): detach the request, which finishes
 * on its own (Lua may still be waiting), then free the connection. */
static void conn_close(tp_conn_t *c)
{
    if (c->dead)
        return;
    if (c->tunnel) {
        tp_tunnel_close(c->tunnel); /* closes both sides, then this connection */
        return;
    }
    tp_req_t *r = c->req;
    c->req = NULL;
    if (r) {
        r->conn = NULL;
        r->aborted = 1;
        r->keepalive = 0;
        if (r->up)
            tp_upstream_abort(r);
        if (r->state == TP_REQ_UPSTREAM || r->state == TP_REQ_RESPONDING ||
            r->state == TP_REQ_HEADERS)
            tp_http__request_done(r);
        else if (r->state == TP_REQ_READ_BODY && r->wait == TP_WAIT_BODY) {
            r->state = TP_REQ_LUA;
            tp_bridge_body_ready(r); /* read_body returns an error; Lua finishes */
        }
        /* TP_REQ_LUA / READ_BODY: the bridge finishes it when Lua returns */
    }
    conn_free(c);
}

void tp_http__set_timer(tp_conn_t *c, int ms)
{
    if (c->dead)
        return;
    ev_timer_stop(c->w->loop, &c->timer);
    if (ms > 0) {
        ev_timer_set(&c->timer, ms / 1000.0, 0.0);
        ev_timer_start(c->w->loop, &c->timer);
    }
}

/* ---- writing ------------------------------------------------------------- */

/* write(2), or through the TLS engine on an ssl listener */
static ssize_t conn_send(tp_conn_t *c, const char *p, size_t n)
{
    if (c->tls)
        return tp_tls_send(c->tls, c->fd, p, n);
    return write(c->fd, p, n);
}

/* TLS records encrypted but not yet sent: 1 while the socket is full. */
static int tls_pending(tp_conn_t *c)
{
    int rc = tp_tls_flush(c->tls, c->fd);
    if (rc > 0) {
        ev_io_start(c->w->loop, &c->wio);
        return 1;
    }
    if (rc < 0) {
        conn_close(c);
        return 1;
    }
    return 0;
}

/* send_timeout_ms runs between two writes while output waits for the client (NGINX's
 * send_timeout); progress starts it again, an empty buffer stops it */
static void send_wait(tp_conn_t *c, int progress)
{
    int ms = c->w->node.send_timeout_ms;
    if (ms <= 0 || (ev_is_active(&c->send_timer) && !progress))
        return;
    ev_timer_stop(c->w->loop, &c->send_timer);
    ev_timer_set(&c->send_timer, ms / 1000.0, 0.0);
    ev_timer_start(c->w->loop, &c->send_timer);
}

static void on_send_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_conn_t *c = tp_container_of(t, tp_conn_t, send_timer);
    tp_log(TP_LOG_INFO, "client %s:%d took no byte for %d ms: closing", c->client_ip,
           c->client_port, c->w->node.send_timeout_ms);
    conn_close(c);
}

void tp_http__conn_flush(tp_conn_t *c)
{
    if (c->dead)
        return;
    int progress = 0;
    while (tp_buf_size(&c->out) > 0) {
        ssize_t n = conn_send(c, tp_buf_data(&c->out), tp_buf_size(&c->out));
        if (n > 0) {
            tp_buf_consume(&c->out, (size_t)n);
            progress = 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* a TLS engine that neither takes data nor has records to send waits
             * for the peer (mid-handshake): the read side goes on */
            if (c->tls == NULL || tp_tls_want_write(c->tls))
                ev_io_start(c->w->loop, &c->wio);
            send_wait(c, progress);
            return;
        }
        c->closing = 1;
        tp_buf_reset(&c->out);
        conn_close(c);
        return;
    }
    if (c->tls && tls_pending(c)) {
        if (!c->dead)
            send_wait(c, progress); /* records wait for the socket */
        return;
    }
    ev_timer_stop(c->w->loop, &c->send_timer);
    ev_io_stop(c->w->loop, &c->wio);
    if (c->req == NULL && c->out.cap > IDLE_BUF_MAX)
        tp_buf_free(&c->out); /* idle: do not keep a big buffer */
    if (c->req && c->req->up && c->req->state == TP_REQ_UPSTREAM)
        tp_upstream_resume_read(c->req);
    if (c->closing && c->req == NULL) {
        if (c->tls)
            tp_tls_close(c->tls, c->fd); /* close_notify, if the socket takes it */
        shutdown(c->fd, SHUT_WR);
        conn_close(c);
    }
}

static void on_conn_write(struct ev_loop *loop, ev_io *io, int revents)
{
    tp_conn_t *c = tp_container_of(io, tp_conn_t, wio);
    tp_http__conn_flush(c);
}









/* An error found while parsing: answer and close (RFC 9112 section 11: never
 * guess at message framing after a protocol error). */
static void reject(tp_conn_t *c, int status, const char *msg)
{
    tp_req_t *r = c->req;
    if (r == NULL) {
        tp_buf_appendf(&c->out,
                       "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n{\"message\":\"%s\"}",
                       status, tp_http__status_text(status), strlen(msg) + 14, msg);
        c->closing = 1;
        tp_buf_reset(&c->in);
        tp_http__conn_flush(c);
        return;
    }
    r->keepalive = 0;
    c->closing = 1;
    tp_buf_reset(&c->in);
    if (r->state == TP_REQ_READ_BODY && r->wait == TP_WAIT_BODY) {
        /* Lua waits for the body: wake it (read_body fails), answer when it returns */
        r->body_error = status;
        r->state = TP_REQ_LUA;
        tp_bridge_body_ready(r);
        return;
    }
    if (r->state == TP_REQ_HEADERS || r->state == TP_REQ_READ_BODY ||
        (r->state == TP_REQ_UPSTREAM && !r->resp_head_sent)) {
        if (r->http_major == 0) {
            r->http_major = 1;
            r->http_minor = 1;
        }
        if (r->up)
            tp_upstream_abort(r);
        tp_http_send_error(r, status, msg);
    } else {
        /* mid-stream: the response may be under way; just stop */
        if (r->up)
            tp_upstream_abort(r);
        conn_close(c);
    }
}

/* ---- responses from the upstream ---------------------------------------- */








/* ---- access log and request end ------------------------------------------ */



/* The response is out (or the client is gone): log it, then run the log phase,
 * which frees the request when it ends. */
void tp_http__request_done(tp_req_t *r)
{
    if (r->state == TP_REQ_LOG || r->state == TP_REQ_DONE)
        return;
    r->state = TP_REQ_LOG;
    /* nothing may still fire for the request (a deferred upstream error, a cache
     * poll): the log phase may use the timer for its own waits */
    ev_timer_stop(r->w->loop, &r->sleep_timer);
    if (r->up)
        tp_upstream_abort(r);
    tp_http__access_log(r);
    tp_bridge_log(r);
}

/* ---- parsing -------------------------------------------------------------- */

static tp_req_t *req_new(tp_conn_t *c)
{
    tp_pool_t *pool = tp_pool_new();
    tp_req_t *r = tp_pool_alloc(pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->pool = pool;
    r->conn = c;
    r->w = c->w;
    r->id = ++c->w->next_req_id;
    r->start_us = tp_now_us();
    r->start_wall_ms = tp_wall_ms();
    r->content_length = -1;
    r->co_ref = -2; /* LUA_NOREF */
    r->connect_timeout_ms = r->write_timeout_ms = r->read_timeout_ms = 60000;
    r->retries = 5;
    r->status = 0;
    r->lua_ctx = 0;
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", c->client_ip);
    r->client_port = c->client_port;
    r->listen_port = c->listener->conf.port;
    r->is_admin = c->listener->conf.admin;
    r->tls = c->tls != NULL;
    return r;
}

static int on_message_begin(http_parser *p)
{
    tp_conn_t *c = p->data;
    if (c->discard_body)
        return 0;
    c->req = req_new(c);
    c->head_bytes = 0;
    c->in_value = 0;
    tp_buf_reset(&c->hname);
    tp_buf_reset(&c->hvalue);
    c->w->requests++;
    tp_worker_status_t *st = tp_worker_status(c->w);
    if (st)
        st->requests = c->w->requests;
    tp_http__set_timer(c, c->w->node.client_header_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    tp_conn_t *c = p->data;
    tp_buf_append(&c->hvalue, at, n);
    if (tp_buf_size(&c->hvalue) > MAX_URI) {
        c->req->status = 414;
        return 1;
    }
    return 0;
}

static int check_head_size(tp_conn_t *c, size_t n)
{
    c->head_bytes += (int)n;
    if ((size_t)c->head_bytes > c->w->node.client_max_header_size) {
        c->req->status = 431;
        return 1;
    }
    return 0;
}

static void commit_header(tp_conn_t *c)
{
    tp_req_t *r = c->req;
    tp_headers_add(r->pool, &r->headers, tp_buf_data(&c->hname), tp_buf_size(&c->hname),
                   tp_buf_data(&c->hvalue), tp_buf_size(&c->hvalue));
    tp_buf_reset(&c->hname);
    tp_buf_reset(&c->hvalue);
    c->in_value = 0;
}

static int take_url(tp_conn_t *c)
{
    tp_req_t *r = c->req;
    r->url = tp_pool_strndup(r->pool, tp_buf_data(&c->hvalue), tp_buf_size(&c->hvalue));
    r->url_len = tp_buf_size(&c->hvalue);
    tp_buf_reset(&c->hvalue);
    return 0;
}

/* Fields after the head are a chunked body's trailers: not the request's headers, and never
 * left in hname/hvalue, where the next request's target would be appended to them. */
static int in_trailers(const tp_conn_t *c)
{
    return c->discard_body || c->req == NULL || c->req->state != TP_REQ_HEADERS;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    tp_conn_t *c = p->data;
    if (in_trailers(c))
        return 0;
    if (c->req->url == NULL)
        take_url(c);
    if (c->in_value)
        commit_header(c);
    tp_buf_append(&c->hname, at, n);
    return check_head_size(c, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    tp_conn_t *c = p->data;
    if (in_trailers(c))
        return 0;
    c->in_value = 1;
    tp_buf_append(&c->hvalue, at, n);
    return check_head_size(c, n);
}




static int on_headers_complete(http_parser *p)
{
    tp_conn_t *c = p->data;
    tp_req_t *r = c->req;
    if (r->url == NULL)
        take_url(c);
    if (c->in_value || tp_buf_size(&c->hname))
        commit_header(c);
    r->method = (int)p->method;
    r->method_name = http_method_str((enum http_method)p->method);
    /* header names and values, the request line and the line ends (an estimate
     * within a few bytes: http-parser does not report the head's exact size) */
    r->head_bytes = (uint32_t)c->head_bytes + (uint32_t)r->url_len + 16 +
                    (uint32_t)r->headers.n * 4;
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->keepalive = http_should_keep_alive(p);
    if (r->url_len == 0 || (r->url[0] != '/' && strncasecmp(r->url, "http", 4) != 0) ||
        !tp_http_framing_is_safe(r) || p->method == HTTP_CONNECT) {
        r->status = 400;
        return -1; /* any value but 0, 1 and 2 is an error for http-parser */
    }
    if (!tp_http_host_count_ok(r)) {
        r->status = 400;
        return -1;
    }
    tp_http_take_host(r); /* before the split: an absolute-form target names the host */
    tp_http_split_url(r);
    if (r->path_len == 0 || r->path[0] != '/') {
        r->status = 400; /* a scheme other than http(s), or "http:/x" */
        return -1;
    }
    if (p->flags & F_CHUNKED) {
        r->has_body = 1;
        c->chunks_on = 1;
        memset(&c->chunks_scan, 0, sizeof(c->chunks_scan));
    } else if (p->content_length > 0 && p->content_length != ULLONG_MAX) {
        r->has_body = 1;
        r->content_length = (int64_t)p->content_length;
    } else {
        r->content_length = 0;
    }
    if (!r->has_body)
        r->body_done = 1;
    /* RFC 9110 section 7.8: http-parser saw Upgrade and a Connection naming it.
     * Only a bodiless GET is tunnelled (RFC 6455 section 4.1). */
    if (p->upgrade && p->method == HTTP_GET && !r->has_body)
        r->upgrade = 1;
    size_t max = c->w->node.client_max_body_size;
    if (max && r->content_length > 0 && (uint64_t)r->content_length > max) {
        r->status = 413;
        return -1;
    }
    tp_headers_mark_conn_listed(&r->headers); /* before any plugin adds a header */
    /* RFC 9110 section 10.1.1: an HTTP/1.0 client's expectation is ignored */
    tp_header_t *ex = tp_headers_find(&r->headers, "expect", 6);
    if (ex && tp_strieq(ex->value, ex->vlen, "100-continue") && r->http_minor >= 1)
        r->expect_continue = 1;
    tp_headers_clear(&r->headers, "expect", 6);
    tp_http__set_timer(c, 0);
    r->state = TP_REQ_LUA;
    http_parser_pause(p, 1);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    tp_conn_t *c = p->data;
    tp_req_t *r = c->req;
    if (r == NULL || c->discard_body)
        return 0;
    r->body_received += n;
    size_t max = c->w->node.client_max_body_size;
    if (max && r->body_received > max) {
        r->status = 413;
        return 1;
    }
    if (r->state == TP_REQ_READ_BODY || r->body_buffered) {
        tp_buf_append(&r->body, at, n);
        return 0;
    }
    if (r->body_replaced)
        return 0; /* a plugin replaced the body: the client's bytes are dropped */
    if (r->up && tp_upstream_send_body(r, at, n)) {
        c->reading_paused = 1;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    tp_conn_t *c = p->data;
    if (c->discard_body) {
        c->discard_body = 0;
        http_parser_pause(p, 1);
        return 0;
    }
    tp_req_t *r = c->req;
    if (r == NULL)
        return 0;
    r->body_done = 1;
    tp_http__set_timer(c, 0);
    http_parser_pause(p, 1);
    return 0;
}

static http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};


/* May the parser consume more input right now? */
static int parser_may_run(tp_conn_t *c)
{
    tp_req_t *r = c->req;
    if (c->closing)
        return 0;
    if (r == NULL || c->discard_body)
        return 1;
    if (r->state == TP_REQ_HEADERS)
        return 1;
    if (r->body_done || c->reading_paused)
        return 0;
    if (r->state == TP_REQ_READ_BODY)
        return 1;
    return r->state == TP_REQ_UPSTREAM && r->up != NULL && tp_upstream_ready_for_body(r);
}

static void dispatch_head(tp_conn_t *c)
{
    tp_req_t *r = c->req;
    tp_bridge_start(r);
}

/* The chunked framing of the bytes http-parser just consumed, checked beside it: 0 when
 * they break RFC 9112 (http-parser, built lenient, would take them) or when the two
 * disagree on where the body ends (the parser pauses at a message's end: the bytes it
 * consumed in a body are body bytes only). */
static int chunks_agree(tp_conn_t *c, size_t used)
{
    size_t end = 0;
    int v = tp_http_chunks_scan(&c->chunks_scan, tp_buf_data(&c->in), used, &end);
    int parser_done = c->discard_body == 0 && c->req ? c->req->body_done : 0;
    if (v == TP_CHUNKS_BAD)
        return 0;
    if (v == TP_CHUNKS_END) {
        c->chunks_on = 0;
        return end == used;
    }
    return !parser_done;
}

void tp_http__parse(tp_conn_t *c)
{
    while (!c->dead && tp_buf_size(&c->in) > 0 && parser_may_run(c)) {
        tp_req_t *before = c->req;
        int in_head = before == NULL || before->state == TP_REQ_HEADERS;
        size_t head_end;
        if (in_head && !c->discard_body &&
            tp_http_head_scan(&c->head_scan, tp_buf_data(&c->in), tp_buf_size(&c->in), &head_end) ==
                TP_HEAD_BAD) {
            tp_log(TP_LOG_INFO, "bad request head from %s (NUL, bare CR, obs-fold or space "
                   "before a colon)", c->client_ip);
            if (c->req == NULL)
                c->req = req_new(c);
            c->req->http_major = 1;
            c->req->http_minor = 1;
            reject(c, 400, "Bad request");
            return;
        }
        size_t n = tp_buf_size(&c->in);
        int in_chunks = c->chunks_on; /* set when a head ends: its body comes in later calls */
        c->in_parser = 1;
        size_t used = http_parser_execute(&c->parser, &settings, tp_buf_data(&c->in), n);
        c->in_parser = 0;
        int framing_ok = !in_chunks || chunks_agree(c, used);
        tp_buf_consume(&c->in, used);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (!framing_ok) {
            tp_log(TP_LOG_INFO, "bad chunked body from %s (framing)", c->client_ip);
            reject(c, 400, "Bad request");
            return;
        }
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            tp_log(TP_LOG_INFO, "bad request from %s: %s", c->client_ip, http_errno_name(e));
            int status = 400;
            /* http-parser's description says what was wrong ("invalid character in
             * Content-Length header"); our own refusals set r->status */
            char why[160];
            snprintf(why, sizeof(why), "Bad request: %s", http_errno_description(e));
            const char *msg = e <= HPE_CB_chunk_complete ? "Bad request" : why;
            if (c->req && c->req->status == 414) {
                status = 414;
                msg = "Request-URI Too Long";
            } else if (c->req && c->req->status == 431) {
                status = 431;
                msg = "Request Header Fields Too Large";
            } else if (c->req && c->req->status == 413) {
                status = 413;
                msg = "Request body too large";
            }
            if (c->req == NULL)
                c->req = req_new(c);
            if (c->req->http_major == 0) {
                c->req->http_major = 1;
                c->req->http_minor = 1;
            }
            reject(c, status, msg);
            return;
        }
        tp_req_t *r = c->req;
        if (r && in_head && r->state == TP_REQ_LUA) {
            dispatch_head(c);
            continue;
        }
        if (r && r->body_done && r->state == TP_REQ_READ_BODY) {
            r->state = TP_REQ_LUA;
            tp_bridge_body_ready(r);
            continue;
        }
        if (r && r->body_done && r->state == TP_REQ_UPSTREAM && r->up)
            tp_upstream_body_done(r);
        if (used == 0)
            break;
    }
    if (c->dead)
        return;
    if (tp_buf_size(&c->in) > IN_HIGH_WATER && !c->reading_paused) {
        c->reading_paused = 1;
        ev_io_stop(c->w->loop, &c->rio);
    }
    if (tp_buf_size(&c->in) == 0 && c->in.cap > IDLE_BUF_MAX && !c->closing)
        tp_buf_free(&c->in);
}

void tp_http_read_body(tp_req_t *r)
{
    tp_conn_t *c = r->conn;
    if (c == NULL || c->dead)
        return;
    if (r->expect_continue && r->body_received == 0 && !r->body_done) {
        r->expect_continue = 0;
        tp_buf_appendf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        tp_http__conn_flush(c);
        if (r->conn == NULL)
            return;
    }
    if (!r->body_done)
        tp_http__set_timer(c, c->w->node.client_body_timeout_ms);
    if (c->reading_paused)
        tp_http__resume_read(c);
    if (c->in_parser)
        return; /* called back from inside on_body: the running parse loop goes on */
    if (r->body_done && r->state == TP_REQ_READ_BODY) {
        r->state = TP_REQ_LUA;
        tp_bridge_body_ready(r);
        return;
    }
    if (r->body_done && r->state == TP_REQ_UPSTREAM && r->up) {
        tp_upstream_body_done(r);
        return;
    }
    tp_http__parse(c);
}

void tp_http__resume_read(tp_conn_t *c)
{
    c->reading_paused = 0;
    ev_io_start(c->w->loop, &c->rio);
    /* plaintext the TLS engine decrypted before the pause: the socket will not
     * say so, so the read callback is called by hand */
    if (c->tls && tp_tls_has_plaintext(c->tls))
        ev_feed_event(c->w->loop, &c->rio, EV_READ);
}

/* read(2), or the plaintext of the TLS records that arrived (several records per
 * wake-up, as a plain read takes what the socket has) */
static ssize_t conn_recv(tp_conn_t *c, char *buf, size_t len)
{
    if (c->tls == NULL)
        return read(c->fd, buf, len);
    ssize_t n = tp_tls_recv(c->tls, c->fd, buf, len);
    if (n < 0 && errno == EAGAIN && tp_tls_want_write(c->tls))
        ev_io_start(c->w->loop, &c->wio); /* handshake records wait for the socket */
    if (n < 0 && errno == EPROTO)
        tp_log(TP_LOG_INFO, "tls from %s:%d: bearssl error %d", c->client_ip, c->client_port,
               tp_tls_last_error(c->tls));
    return n;
}

static void on_conn_read(struct ev_loop *loop, ev_io *io, int revents)
{
    tp_conn_t *c = tp_container_of(io, tp_conn_t, rio);
    if (tp_evorder_defer(&c->w->evorder, io, revents))
        return;
    if (tp_buf_size(&c->in) >= IN_HIGH_WATER) {
        c->reading_paused = 1;
        ev_io_stop(loop, io);
        return;
    }
    /* read into the stack, keep only what arrived: a connection's buffers grow
     * with what it really sends (an idle keep-alive client holds about 1 KB) */
    char chunk[READ_CHUNK];
    ssize_t n = conn_recv(c, chunk, sizeof(chunk));
    if (n > 0) {
        tp_buf_append(&c->in, chunk, (size_t)n);
        if (c->req && !c->req->body_done && c->req->state != TP_REQ_HEADERS)
            tp_http__set_timer(c, c->w->node.client_body_timeout_ms);
        tp_http__parse(c);
        if (!c->dead && c->req && c->req->state == TP_REQ_UPSTREAM && c->req->up)
            tp_upstream_push_body(c->req);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    /* EOF or error: the client is gone */
    conn_close(c);
}

static void on_conn_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_conn_t *c = tp_container_of(t, tp_conn_t, timer);
    tp_req_t *r = c->req;
    if (r && r->state == TP_REQ_HEADERS && c->head_bytes + tp_buf_size(&c->in) > 0) {
        reject(c, 408, "Request timeout");
        return;
    }
    if (r && (r->state == TP_REQ_READ_BODY || r->state == TP_REQ_UPSTREAM) && !r->body_done) {
        reject(c, 408, "Request timeout");
        return;
    }
    if (r == NULL || r->state == TP_REQ_HEADERS)
        conn_close(c); /* idle keep-alive connection */
}


void tp_http_on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    tp_listener_t *l = tp_container_of(io, tp_listener_t, io);
    tp_worker_t *w = l->w;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                tp_log(TP_LOG_WARN, "accept on port %d: %s", l->conf.port, strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        tp_tls_conn_t *tls = NULL;
        if (l->conf.ssl) {
            /* new connections use the newest generation's certificates */
            tls = tp_tls_conn_new(w->gen ? w->gen->tls : NULL);
            if (tls == NULL) {
                tp_log(TP_LOG_ERR, "ssl listener on port %d: no certificate to serve, connection "
                       "closed", l->conf.port);
                close(fd);
                continue;
            }
        }
        tp_conn_t *c = tp_calloc(1, sizeof(*c));
        c->w = w;
        c->listener = l;
        c->fd = fd;
        c->tls = tls;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &sin->sin_addr, c->client_ip, sizeof(c->client_ip));
            c->client_port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &sin6->sin6_addr, c->client_ip, sizeof(c->client_ip));
            c->client_port = ntohs(sin6->sin6_port);
        }
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
        ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
        ev_init(&c->timer, on_conn_timer);
        ev_init(&c->send_timer, on_send_timeout);
        c->next = w->conns;
        if (w->conns)
            w->conns->prev = c;
        w->conns = c;
        w->connections++;
        tp_worker_status_t *st = tp_worker_status(w);
        if (st)
            st->connections = w->connections;
        ev_io_start(loop, &c->rio);
        tp_http__set_timer(c, w->node.client_header_timeout_ms);
    }
}

int tp_http_conn_is_admin(const tp_conn_t *c)
{
    return c->listener->conf.admin;
}

int tp_http_conn_port(const tp_conn_t *c)
{
    return c->listener->conf.port;
}

void tp_http_drain(tp_worker_t *w)
{
    tp_conn_t *c = w->conns;
    while (c) {
        tp_conn_t *next = c->next;
        if (c->tunnel || (c->req == NULL && tp_buf_size(&c->out) == 0))
            conn_close(c); /* a tunnel has no request to finish: it ends now */
        else
            c->closing = 1; /* finish the request in flight, then close */
        c = next;
    }
}

ssize_t tp_http__conn_recv(tp_conn_t *c, char *buf, size_t len)
{
    return conn_recv(c, buf, len);
}

ssize_t tp_http__conn_send(tp_conn_t *c, const char *p, size_t n)
{
    return conn_send(c, p, n);
}

void tp_http__conn_close(tp_conn_t *c)
{
    conn_close(c);
}

/* The parser stopped on the last line feed of the upgrade request's head (paused in
 * on_headers_complete); run it over that byte, so that what follows in `in` is the
 * new protocol's first bytes. http-parser ends an upgrade message there and takes
 * nothing after it. */
void tp_http__end_upgrade_head(tp_conn_t *c)
{
    if (tp_buf_size(&c->in) == 0 || !c->parser.upgrade)
        return;
    c->in_parser = 1;
    size_t used =
        http_parser_execute(&c->parser, &settings, tp_buf_data(&c->in), tp_buf_size(&c->in));
    c->in_parser = 0;
    if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED)
        http_parser_pause(&c->parser, 0);
    tp_buf_consume(&c->in, used);
}
