/*
 * tp_upstream.c - owns the upstream exchange: connecting (a pooled connection from
 * tp_upstream_pool.c or a new one, with the TLS handshake (tp_tls_client) for https
 * services), sending the head (tp_upstream_head.c) and streaming the body with
 * back-pressure, parsing the response with http-parser and streaming it back,
 * enforcing connect/write/read timeouts and retrying connect failures on the next
 * target.
 */
#include "tp_upstream.h"
#include "tp_bridge.h"
#include "tp_http.h"
#include "tp_log.h"
#include "tp_tls.h"
#include "tp_tunnel.h"
#include "tp_upstream_int.h"
#include "tp_util.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>

#define UP_READ_CHUNK 65536
#define UP_OUT_HIGH_WATER (256 * 1024)

static void fail(tp_req_t *r, int status, const char *msg, int retryable);
static void upconn_flush(tp_upconn_t *u);
static void note_attempt(tp_req_t *r, int outcome);
static void tls_step(tp_upconn_t *u);

/* ---- connection basics ----------------------------------------------------- */

static void set_timer(tp_upconn_t *u, int kind, int ms)
{
    ev_timer_stop(u->w->loop, &u->timer);
    u->timer_kind = kind;
    if (ms > 0) {
        ev_timer_set(&u->timer, ms / 1000.0, 0.0);
        ev_timer_start(u->w->loop, &u->timer);
    }
}

void tp_upstream_abort(tp_req_t *r)
{
    tp_upconn_t *u = r->up;
    if (u == NULL)
        return;
    r->up = NULL;
    u->req = NULL;
    if (u->in_parser) {
        /* called back from inside this connection's parser: free it once
         * http_parser_execute has returned (feed) */
        u->dead = 1;
        http_parser_pause(&u->parser, 1);
        return;
    }
    tp_upstream__conn_free(u);
}

/* ---- request body ---------------------------------------------------------- */

int tp_upstream_ready_for_body(tp_req_t *r)
{
    return r->up && r->up->head_queued && r->up->connected;
}

int tp_upstream_send_body(tp_req_t *r, const char *data, size_t n)
{
    tp_upconn_t *u = r->up;
    if (u == NULL || n == 0)
        return 0;
    if (u->chunked_body)
    {
        tp_buf_put_hex(&u->out, n);
        TP_BUF_LIT(&u->out, "\r\n");
    }
    tp_buf_append(&u->out, data, n);
    if (u->chunked_body)
        tp_buf_append(&u->out, "\r\n", 2);
    if (tp_buf_size(&u->out) > UP_OUT_HIGH_WATER / 4)
        upconn_flush(u);
    return r->up != NULL && tp_buf_size(&r->up->out) > UP_OUT_HIGH_WATER;
}

void tp_upstream_push_body(tp_req_t *r)
{
    tp_upconn_t *u = r->up;
    if (u == NULL || !u->head_queued || !u->connected || u->in_parser ||
        tp_buf_size(&u->out) == 0 || ev_is_active(&u->wio))
        return; /* nothing to send, or a flush already waits for the socket */
    upconn_flush(u);
}

void tp_upstream_body_done(tp_req_t *r)
{
    tp_upconn_t *u = r->up;
    if (u == NULL || u->body_finished)
        return;
    if (u->chunked_body)
        tp_buf_append(&u->out, "0\r\n\r\n", 5);
    u->body_finished = 1;
    upconn_flush(u);
}

/* ---- writing --------------------------------------------------------------- */

/* send(2), or through the TLS engine on an https connection */
static ssize_t up_send(tp_upconn_t *u, const char *p, size_t n)
{
    if (u->tls)
        return tp_tls_send(u->tls, u->fd, p, n);
    return send(u->fd, p, n, MSG_NOSIGNAL);
}

static void upconn_flush(tp_upconn_t *u)
{
    tp_req_t *r = u->req;
    for (;;) {
        ssize_t n = -1;
        if (tp_buf_size(&u->out) > 0) {
            n = up_send(u, tp_buf_data(&u->out), tp_buf_size(&u->out));
        } else if (u->tls) {
            /* the engine took every byte: its last records may still wait */
            int rc = tp_tls_flush(u->tls, u->fd);
            if (rc == 0)
                break;
            if (rc > 0)
                errno = EAGAIN;
        } else {
            break;
        }
        if (n > 0) {
            tp_buf_consume(&u->out, (size_t)n);
            u->request_sent = 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* an engine that takes no data and has no records to send waits for
             * the peer: the read side goes on */
            if (u->tls == NULL || tp_tls_want_write(u->tls))
                ev_io_start(u->w->loop, &u->wio);
            if (u->timer_kind != 2 && r)
                set_timer(u, 2, r->write_timeout_ms);
            return;
        }
        if (r)
            fail(r, 502, "An invalid response was received from the upstream server",
                 u->reused && !u->got_response && r->body_received == 0);
        return;
    }
    ev_io_stop(u->w->loop, &u->wio);
    if (r == NULL)
        return;
    if (u->body_finished && u->timer_kind != 3)
        set_timer(u, 3, r->read_timeout_ms);
    else if (!u->body_finished && u->timer_kind == 2)
        set_timer(u, 0, 0); /* the upstream took it all: now the client is waited for */
    /* the upstream took what we had: let the client's body flow again */
    if (!u->body_finished && r->conn)
        tp_http_read_body(r);
}

/* ---- response parsing ------------------------------------------------------ */

static void commit_header(tp_upconn_t *u)
{
    tp_req_t *r = u->req;
    if (r == NULL)
        return;
    tp_headers_add(r->pool, &r->svc_headers, tp_buf_data(&u->hname), tp_buf_size(&u->hname),
                   tp_buf_data(&u->hvalue), tp_buf_size(&u->hvalue));
    tp_buf_reset(&u->hname);
    tp_buf_reset(&u->hvalue);
    u->in_value = 0;
}

/* Fields after the final head are a chunked body's trailers: dropped (the client's head
 * went out already), and never left over for the next exchange on this connection. */
static int on_resp_header_field(http_parser *p, const char *at, size_t n)
{
    tp_upconn_t *u = p->data;
    if (u->head_done)
        return 0;
    if (u->in_value)
        commit_header(u);
    tp_buf_append(&u->hname, at, n);
    return 0;
}

static int on_resp_header_value(http_parser *p, const char *at, size_t n)
{
    tp_upconn_t *u = p->data;
    if (u->head_done)
        return 0;
    u->in_value = 1;
    tp_buf_append(&u->hvalue, at, n);
    return 0;
}

static int on_resp_headers_complete(http_parser *p)
{
    tp_upconn_t *u = p->data;
    tp_req_t *r = u->req;
    if (r == NULL)
        return 0;
    if (u->in_value || tp_buf_size(&u->hname))
        commit_header(u);
    if (p->status_code == 101) {
        /* RFC 9110 section 15.2.2: a switch only answers a request that asked for it */
        if (!r->upgrade || !p->upgrade)
            return -1;
        u->upgraded = 1;
    } else if (p->status_code >= 100 && p->status_code < 200) {
        /* interim responses (100 Continue, 103 Early Hints) are not forwarded: the
         * message ends with its head, and the final response follows */
        r->svc_headers.n = 0;
        u->interim = 1;
        return 1;
    }
    u->head_done = 1;
    r->up_header_us = tp_now_us();
    note_attempt(r, TP_OUTCOME_SUCCESS);
    r->status = p->status_code;
    r->svc_status = p->status_code;
    /* what the upstream's Connection header names stays with this hop (plugins still
     * read it as the service's response), before any plugin sets a header */
    tp_headers_mark_conn_listed(&r->svc_headers);
    for (int i = 0; i < r->svc_headers.n; i++) {
        tp_header_t *h = &r->svc_headers.items[i];
        /* a 101's "Connection: Upgrade" names the protocol switched to: that one goes on */
        int switched = u->upgraded && tp_strieq(h->name, h->nlen, "upgrade");
        if (!h->conn_listed || switched)
            tp_headers_add(r->pool, &r->resp_headers, h->name, h->nlen, h->value, h->vlen);
    }
    tp_http_response_head(r);
    /* RFC 9112 section 6.3: the answer to a HEAD, a 204 and a 304 end with their head,
     * whatever Content-Length they state */
    int no_body = tp_upstream__sent_head(r) || p->status_code == 204 || p->status_code == 304;
    return no_body ? 1 : 0;
}

static int on_resp_body(http_parser *p, const char *at, size_t n)
{
    tp_upconn_t *u = p->data;
    tp_req_t *r = u->req;
    if (r == NULL)
        return 0;
    if (tp_http_response_body(r, at, n)) {
        u->paused = 1;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_resp_message_complete(http_parser *p)
{
    tp_upconn_t *u = p->data;
    if (u->interim) {
        /* a 1xx ended: parse on, into the final response */
        u->interim = 0;
        return 0;
    }
    u->resp_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

static http_parser_settings resp_settings = {
    .on_header_field = on_resp_header_field,
    .on_header_value = on_resp_header_value,
    .on_headers_complete = on_resp_headers_complete,
    .on_body = on_resp_body,
    .on_message_complete = on_resp_message_complete,
};

static void finish_response(tp_upconn_t *u)
{
    tp_req_t *r = u->req;
    /* a read that filled its buffer may have left more in the socket (or the TLS engine):
     * pooling would hand those bytes to the next request as its answer */
    int more_unread = u->last_read_full || (u->tls && tp_tls_has_plaintext(u->tls));
    int reusable = http_should_keep_alive(&u->parser) && u->body_finished &&
                   tp_buf_size(&u->out) == 0 && !(u->tls && tp_tls_want_write(u->tls)) &&
                   !u->leftover && !more_unread;
    r->up = NULL;
    r->up_complete = 1;
    if (reusable)
        tp_upstream__pool_release(u);
    else
        tp_upstream__conn_free(u);
    tp_http_response_end(r);
}

/* 101 Switching Protocols: the head is queued for the client; both connections
 * become a byte tunnel (tp_tunnel.c), starting with what followed the head. */
static void switch_protocols(tp_upconn_t *u, const char *rest, size_t n)
{
    tp_req_t *r = u->req;
    if (r->conn == NULL) {
        r->up = NULL;
        tp_upstream__conn_free(u);
        tp_http_response_end(r);
        return;
    }
    tp_tunnel_start(r, u, rest, n);
}

/* Feed bytes (n == 0 means EOF) to the response parser. Returns 1 when the
 * exchange ended (u is gone, and r may be), 0 while it goes on. */
static int feed(tp_upconn_t *u, const char *data, size_t n)
{
    tp_req_t *r = u->req;
    u->in_parser = 1;
    size_t used = http_parser_execute(&u->parser, &resp_settings, data, n);
    u->in_parser = 0;
    if (u->dead) {
        /* the request let go of this connection from inside a callback */
        tp_upstream__conn_free(u);
        return 1;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&u->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&u->parser, 0);
        if (u->upgraded && u->resp_done) {
            switch_protocols(u, data + used, n - used);
            return 1;
        }
        if (u->resp_done) {
            /* bytes past the response's end answer nothing we asked: the connection is
             * out of step, never pooled (NGINX: "upstream sent more data than specified") */
            if (used < n)
                u->leftover = 1;
            finish_response(u);
            return 1;
        }
        if (u->paused)
            set_timer(u, 0, 0); /* the client is slow, not the upstream: no read timeout */
        if (u->paused && used < n) {
            /* keep what the parser did not take for later */
            tp_buf_t *rest = &u->hvalue; /* unused once headers are parsed */
            tp_buf_reset(rest);
            tp_buf_append(rest, data + used, n - used);
            ev_io_stop(u->w->loop, &u->rio);
        } else if (u->paused) {
            ev_io_stop(u->w->loop, &u->rio);
        }
        return 0;
    }
    if (e != HPE_OK) {
        fail(r, 502, "An invalid response was received from the upstream server", 0);
        return 1;
    }
    if (n == 0 && !u->resp_done) {
        /* a pooled connection the upstream had closed: worth an info line (it is retried) */
        int stale = u->reused && !u->got_response;
        tp_log(stale ? TP_LOG_INFO : TP_LOG_ERR, "upstream %s:%d closed the connection %s",
               u->pool->host, u->pool->port,
               u->got_response ? "before the response ended" : "without answering");
        fail(r, 502, "An invalid response was received from the upstream server",
             stale && r->body_received == 0);
        return 1;
    }
    if (u->resp_done) {
        finish_response(u);
        return 1;
    }
    return 0;
}

/* recv(2), or the plaintext of the TLS records that arrived */
static ssize_t up_recv(tp_upconn_t *u, char *buf, size_t len)
{
    if (u->tls == NULL)
        return recv(u->fd, buf, len, 0);
    ssize_t n = tp_tls_recv(u->tls, u->fd, buf, len);
    if (n < 0 && errno == EAGAIN && tp_tls_want_write(u->tls))
        ev_io_start(u->w->loop, &u->wio); /* an alert waits for the socket */
    if (n < 0 && errno == EPROTO)
        tp_log(TP_LOG_ERR, "tls from %s:%d: bearssl error %d %s", u->pool->host, u->pool->port,
               tp_tls_last_error(u->tls), tp_tls_error_name(tp_tls_last_error(u->tls)));
    return n;
}

static void on_up_read(struct ev_loop *loop, ev_io *io, int revents)
{
    tp_upconn_t *u = tp_container_of(io, tp_upconn_t, rio);
    if (tp_evorder_defer(&u->w->evorder, io, revents))
        return;
    tp_req_t *r = u->req;
    if (r == NULL) {
        /* an idle pooled connection became readable: the upstream closed it (or
         * sent bytes nobody asked for); either way it is no longer reusable */
        tp_upstream__pool_remove(u->pool, u);
        tp_upstream__conn_free(u);
        return;
    }
    if (u->handshaking) {
        tls_step(u);
        return;
    }
    char buf[UP_READ_CHUNK];
    ssize_t n = up_recv(u, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        fail(r, 502, "An invalid response was received from the upstream server",
             u->reused && !u->got_response && r->body_received == 0);
        return;
    }
    if (n > 0) {
        u->got_response = 1;
        u->last_read_full = (size_t)n == sizeof(buf);
        set_timer(u, 3, r->read_timeout_ms);
    }
    /* one write to the client per upstream read: head and body go out together
     * (a finished exchange was flushed by the response's end) */
    if (feed(u, buf, (size_t)n) == 0 && r->conn)
        tp_http_flush(r);
}

/* Bytes read before the client's buffer filled up are fed from the loop, never
 * from inside the client's flush that asked to resume (which may be unwinding). */
static void on_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_upconn_t *u = tp_container_of(t, tp_upconn_t, resume);
    tp_req_t *r = u->req;
    if (r == NULL || u->paused)
        return;
    if (tp_buf_size(&u->hvalue) > 0) {
        tp_buf_t rest = u->hvalue;
        memset(&u->hvalue, 0, sizeof(u->hvalue));
        int ended = feed(u, tp_buf_data(&rest), tp_buf_size(&rest));
        tp_buf_free(&rest);
        if (ended)
            return;
        if (r->conn)
            tp_http_flush(r);
        if (u->paused)
            return;
    }
    set_timer(u, 3, r->read_timeout_ms);
    ev_io_start(u->w->loop, &u->rio);
    if (u->tls && tp_tls_has_plaintext(u->tls))
        ev_feed_event(u->w->loop, &u->rio, EV_READ); /* the socket will not say so */
}

void tp_upstream_resume_read(tp_req_t *r)
{
    tp_upconn_t *u = r->up;
    if (u == NULL || !u->paused || u->in_parser)
        return;
    u->paused = 0;
    ev_timer_set(&u->resume, 0.0, 0.0);
    ev_timer_start(u->w->loop, &u->resume);
}

/* ---- connecting ------------------------------------------------------------ */

static void start_exchange(tp_upconn_t *u)
{
    tp_req_t *r = u->req;
    u->connected = 1;
    ev_io_stop(u->w->loop, &u->wio);
    if (!ev_is_active(&u->rio))
        ev_io_start(u->w->loop, &u->rio);
    http_parser_init(&u->parser, HTTP_RESPONSE);
    u->parser.data = u;
    u->interim = u->head_done = u->in_value = 0;
    u->request_sent = u->leftover = u->last_read_full = 0;
    tp_buf_reset(&u->hname);
    tp_buf_reset(&u->hvalue);
    r->up_start_us = tp_now_us();
    tp_upstream__queue_head(u, r);
    /* read_timeout runs once the whole request is out: while a body still comes from the
     * client, client_body_timeout_ms watches the client, write_timeout the upstream */
    if (u->body_finished)
        set_timer(u, 3, r->read_timeout_ms);
    else
        set_timer(u, 0, 0);
    /* once the head is out, the flush lets the client's body flow: a body that turns out
     * bad there ends the request and frees u and r, so nothing of them is touched after */
    upconn_flush(u);
}

/* The TLS handshake, as far as the socket allows; it runs under the connect timer. A
 * failure (a certificate that does not verify, a peer that does not speak TLS) is a
 * failed connect: retried on the next target, else 502. */
static void tls_step(tp_upconn_t *u)
{
    int rc = tp_tls_handshake(u->tls, u->fd);
    if (rc == 0) {
        u->handshaking = 0;
        start_exchange(u);
        return;
    }
    if (rc > 0) {
        if (tp_tls_want_write(u->tls))
            ev_io_start(u->w->loop, &u->wio);
        else
            ev_io_stop(u->w->loop, &u->wio);
        if (!ev_is_active(&u->rio))
            ev_io_start(u->w->loop, &u->rio);
        return;
    }
    int e = tp_tls_last_error(u->tls);
    if (e == 0)
        tp_log(TP_LOG_ERR, "tls handshake with %s:%d (sni \"%s\"): closed by the upstream",
               u->pool->host, u->pool->port, u->pool->sni);
    else
        tp_log(TP_LOG_ERR, "tls handshake with %s:%d (sni \"%s\"): bearssl error %d %s",
               u->pool->host, u->pool->port, u->pool->sni, e, tp_tls_error_name(e));
    fail(u->req, 502, "An invalid response was received from the upstream server", 1);
}

/* TCP is up: go on with the TLS handshake, or straight to the exchange. */
static void connected(tp_upconn_t *u)
{
    if (u->tls == NULL) {
        start_exchange(u);
        return;
    }
    u->handshaking = 1;
    tls_step(u);
}

static void on_up_write(struct ev_loop *loop, ev_io *io, int revents)
{
    tp_upconn_t *u = tp_container_of(io, tp_upconn_t, wio);
    if (u->handshaking) {
        tls_step(u);
        return;
    }
    if (!u->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            tp_log(TP_LOG_ERR, "connect to %s:%d: %s", u->pool->host, u->pool->port, strerror(err));
            fail(u->req, 502, "An invalid response was received from the upstream server", 1);
            return;
        }
        connected(u);
        return;
    }
    upconn_flush(u);
}

static void on_up_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_upconn_t *u = tp_container_of(t, tp_upconn_t, timer);
    tp_req_t *r = u->req;
    if (u->timer_kind == 1) {
        tp_log(TP_LOG_ERR, "%s %s:%d: timed out", u->handshaking ? "tls handshake with" : "connect to",
               u->pool->host, u->pool->port);
        fail(r, 504, "The upstream server is timing out", 1);
    } else {
        tp_log(TP_LOG_ERR, "%s to %s:%d: timed out", u->timer_kind == 2 ? "write" : "read",
               u->pool->host, u->pool->port);
        fail(r, 504, "The upstream server is timing out", 0);
    }
}

static tp_upconn_t *upconn_new(tp_req_t *r, tp_uppool_t *p)
{
    tp_upconn_t *u = tp_calloc(1, sizeof(*u));
    u->pool = p;
    u->w = r->w;
    u->fd = -1;
    u->req = r;
    ev_init(&u->timer, on_up_timer);
    ev_init(&u->resume, on_resume);
    return u;
}

static int connect_new(tp_upconn_t *u, char *err, size_t errlen)
{
    tp_uppool_t *p = u->pool;
    tp_req_t *r = u->req;
    if (tp_upstream__resolve(p, err, errlen) < 0)
        return -1;
    int fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    u->fd = fd;
    ev_io_init(&u->rio, on_up_read, fd, EV_READ);
    ev_io_init(&u->wio, on_up_write, fd, EV_WRITE);
    if (p->tls) {
        u->tls = tp_tls_client_new(p->sni[0] ? p->sni : NULL, r->up_anchors);
        if (u->tls == NULL) {
            snprintf(err, errlen, "tls to %s:%d: the engine would not start", p->host, p->port);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&p->addr, p->addrlen) == 0) {
        set_timer(u, 1, r->connect_timeout_ms);
        connected(u);
        return 0;
    }
    if (errno != EINPROGRESS) {
        snprintf(err, errlen, "connect to %s:%d: %s", p->host, p->port, strerror(errno));
        return -1;
    }
    ev_io_start(u->w->loop, &u->wio);
    set_timer(u, 1, r->connect_timeout_ms);
    return 0;
}

/* The TLS name of an exchange: the host of the Host header that goes upstream (a
 * plugin's, the client's with preserve_host, else the target's), as Kong's
 * proxy_ssl_name $upstream_host. "" when that is an IP literal. */
static void tls_name(tp_req_t *r, const tp_target_t *t, char *out, size_t outlen)
{
    size_t n;
    const char *h = tp_upstream__host_value(r, &n);
    if (h == NULL) {
        h = t->host;
        n = strlen(h);
    }
    if (!tp_tls_sni_name(h, n, out, outlen))
        out[0] = 0;
}

void tp_upstream_start(tp_req_t *r)
{
    tp_target_t *t = &r->targets[r->target_idx % r->ntargets];
    char sni[256] = "";
    if (r->up_tls) {
        tls_name(r, t, sni, sizeof(sni));
        if (sni[0] == 0 && r->up_anchors) {
            /* BearSSL checks DNS names only: verifying an address would accept any
             * certificate the anchors signed, so it is refused */
            tp_log(TP_LOG_ERR, "tls to %s:%d: tls_verify needs a host name, not an IP address",
                   t->host, t->port);
            fail(r, 502, "An invalid response was received from the upstream server", 0);
            return;
        }
    }
    tp_uppool_t *p = tp_upstream__pool_find(r->w, t, r->up_tls, sni,
                               r->up_tls ? tp_tls_anchors_key(r->up_anchors) : 0);
    tp_upconn_t *u = tp_upstream__pool_take(p);
    if (u) {
        ev_timer_stop(r->w->loop, &u->timer);
        ev_set_cb(&u->timer, on_up_timer);
        u->req = r;
        u->reused = 1;
        u->connected = 0;
        u->head_queued = u->chunked_body = u->body_finished = 0;
        u->got_response = u->resp_done = u->paused = 0;
        r->up = u;
        start_exchange(u);
        return;
    }
    u = upconn_new(r, p);
    r->up = u;
    char err[TP_ERR_LEN];
    if (connect_new(u, err, sizeof(err)) < 0) {
        tp_log(TP_LOG_ERR, "%s", err);
        fail(r, 502, "An invalid response was received from the upstream server", 1);
    }
}

/* Record the outcome of the attempt on the current target (health reports, breakers). */
static void note_attempt(tp_req_t *r, int outcome)
{
    if (r->nattempts < TP_MAX_TARGETS) {
        r->attempt_target[r->nattempts] = r->target_idx;
        r->attempt_outcome[r->nattempts] = outcome;
        r->nattempts++;
    }
}

static void on_deferred_error(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_req_t *r = tp_container_of(t, tp_req_t, sleep_timer);
    if (r->conn == NULL)
        tp_http_response_end(r);
    else
        tp_http_send_error(r, r->up_error_status, r->up_error_msg);
}

/* The answer to a failed exchange is written from the loop, not from the call that
 * found the failure: that caller (a flush inside the client's parser, the start of
 * an exchange) may still use the request, which answering could free. */
static void defer_error(tp_req_t *r, int status, const char *msg)
{
    r->up_error_status = status;
    r->up_error_msg = msg;
    ev_timer_init(&r->sleep_timer, on_deferred_error, 0.0, 0.0);
    ev_timer_start(r->w->loop, &r->sleep_timer);
}

/* Give up on this connection. A failure before anything of the request body was
 * consumed may be retried on the next target (connect failures count against
 * `retries`; a dead pooled connection is retried once for free). */
static void fail(tp_req_t *r, int status, const char *msg, int retryable)
{
    tp_upconn_t *u = r->up;
    int stale_conn = u && u->reused && !u->got_response && retryable;
    note_attempt(r, stale_conn ? TP_OUTCOME_STALE
                               : status == 504 ? TP_OUTCOME_TIMEOUT : TP_OUTCOME_TCP_FAILURE);
    int was_reused = u && u->reused;
    int nothing_sent = u == NULL || !u->got_response;
    /* NGINX's rule: POST, PATCH and LOCK are never sent again once some of them went out
     * (the upstream may have acted on it before the connection died) */
    if (u && u->request_sent && !tp_upstream__sent_idempotent(r))
        retryable = 0;
    r->up = NULL;
    if (u) {
        u->req = NULL;
        tp_upstream__conn_free(u);
    }
    if (r->conn == NULL) {
        defer_error(r, 0, NULL);
        return;
    }
    if (retryable && nothing_sent && !r->resp_head_sent &&
        (r->body_received == 0 || r->body_buffered || r->body_replaced)) {
        if (was_reused) {
            tp_upstream_start(r);
            return;
        }
        if (r->tries < r->retries) {
            r->tries++;
            r->target_idx = (r->target_idx + 1) % r->ntargets;
            tp_upstream_start(r);
            return;
        }
    }
    defer_error(r, status, msg);
}

ssize_t tp_upstream__send(tp_upconn_t *u, const char *p, size_t n)
{
    return up_send(u, p, n);
}

ssize_t tp_upstream__recv(tp_upconn_t *u, char *buf, size_t len)
{
    return up_recv(u, buf, len);
}
