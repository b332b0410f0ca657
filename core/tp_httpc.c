/*
 * tp_httpc.c - owns the exchange of an outbound HTTP/1.1 call made by a plugin:
 * starting it on a pooled or new connection (tp_httpc_pool.c) with the request
 * bytes of tp_httpc_head.c, the TLS handshake for https (tp_tls_client's engine,
 * driven by tp_tls.c's record pump), writing the request, the response parsed
 * with http-parser in response mode (Content-Length, chunked or read-until-close),
 * one timer bounding the connect phase and then the whole exchange, one retry of
 * an idempotent request on a stale pooled connection, and completion. The FFI
 * wrappers at the end tie a call to a request.
 */
#include "tp_httpc.h"
#include "tp_bridge.h"
#include "tp_httpc_int.h"
#include "tp_util.h"

#include <http_parser.h>
#include <stdio.h>
#include <sys/socket.h>

#define READ_CHUNK 65536
#define MAX_BODY (16 * 1024 * 1024)
#define MAX_HEAD (64 * 1024)
#define DEFAULT_TIMEOUT_MS 60000

static void on_conn_read(struct ev_loop *loop, ev_io *io, int revents);
static void on_conn_write(struct ev_loop *loop, ev_io *io, int revents);

/* ---- connections -------------------------------------------------------------- */

/* Attach k to c and start sending the request from its first byte (a new TLS
 * connection first connects, then shakes hands: on_conn_write drives both). */
static void conn_attach(tp_httpc_call_t *c, conn_t *k)
{
    c->conn = k;
    k->call = c;
    c->sent = 0;
    c->handshaking = k->tls != NULL && !c->reused;
    ev_io_init(&k->wio, on_conn_write, k->fd, EV_WRITE);
    ev_io_init(&k->rio, on_conn_read, k->fd, EV_READ);
    ev_io_start(c->loop, &k->wio);
}

/* ---- the response ------------------------------------------------------------- */

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    tp_httpc_call_t *c = p->data;
    if (c->hbuf.len + n > MAX_HEAD)
        return -1;
    if (c->in_value || c->nhdrs == 0) {
        if (c->nhdrs == c->hcap) {
            c->hcap = c->hcap ? c->hcap * 2 : 16;
            c->hdrs = tp_realloc(c->hdrs, sizeof(hdr_t) * (size_t)c->hcap);
        }
        hdr_t *h = &c->hdrs[c->nhdrs++];
        memset(h, 0, sizeof(*h));
        h->noff = c->hbuf.len;
        c->in_value = 0;
    }
    tp_buf_append(&c->hbuf, at, n);
    c->hdrs[c->nhdrs - 1].nlen += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    tp_httpc_call_t *c = p->data;
    if (c->nhdrs == 0 || c->hbuf.len + n > MAX_HEAD)
        return -1;
    hdr_t *h = &c->hdrs[c->nhdrs - 1];
    if (!c->in_value) {
        h->voff = c->hbuf.len;
        c->in_value = 1;
    }
    tp_buf_append(&c->hbuf, at, n);
    h->vlen += n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    tp_httpc_call_t *c = p->data;
    c->status = p->status_code;
    /* a HEAD response has no body whatever its framing says (RFC 9110 9.3.2);
     * 1 tells http-parser to skip it */
    return c->is_head ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    tp_httpc_call_t *c = p->data;
    if (tp_buf_size(&c->body) + n > MAX_BODY) {
        c->too_large = 1;
        return -1;
    }
    tp_buf_append(&c->body, at, n);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    tp_httpc_call_t *c = p->data;
    c->complete = 1;
    http_parser_pause(p, 1); /* bytes after the response are not ours */
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void response_reset(tp_httpc_call_t *c)
{
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->complete = 0;
    c->got_bytes = 0;
    c->status = 0;
    c->nhdrs = 0;
    c->in_value = 0;
    tp_buf_reset(&c->hbuf);
    tp_buf_reset(&c->body);
}

/* ---- completion --------------------------------------------------------------- */

/* The exchange is over: keep or close the connection, then tell the owner.
 * The callback may free c, so nothing touches c after it. */
static void finish(tp_httpc_call_t *c, const char *errstr)
{
    conn_t *k = c->conn;
    c->finished = 1;
    ev_timer_stop(c->loop, &c->timer);
    c->conn = NULL;
    if (k != NULL) {
        /* a TLS connection with records still unsent is not in a state to reuse */
        int reuse = errstr == NULL && c->keepalive && http_should_keep_alive(&c->parser) &&
                    !(k->tls && tp_tls_want_write(k->tls));
        if (reuse)
            tp_httpc__idle_put(k);
        else
            tp_httpc__conn_close(k);
    }
    if (errstr != NULL && errstr != c->err)
        snprintf(c->err, sizeof(c->err), "%s", errstr);
    c->cb(c, errstr ? c->err : NULL, c->arg);
}

/* A reused connection that failed before any response byte was most likely
 * closed by the server while idle; RFC 9112 9.3.1 allows retrying an
 * idempotent request on a new connection once. Returns 1 when retrying. */
static int retry_stale(tp_httpc_call_t *c)
{
    if (!c->reused || c->retried || c->got_bytes || !c->idempotent)
        return 0;
    tp_httpc__conn_close(c->conn);
    c->conn = NULL;
    c->retried = 1;
    c->reused = 0;
    conn_t *k;
    if (tp_httpc__conn_open(c, &k, c->err, sizeof(c->err)) < 0)
        return 0;
    response_reset(c);
    conn_attach(c, k);
    return 1;
}

static void fail_io(tp_httpc_call_t *c, const char *what, int err)
{
    if (retry_stale(c))
        return;
    if (err == 0)
        snprintf(c->err, sizeof(c->err), "%s", what);
    else if (err == ECONNREFUSED)
        snprintf(c->err, sizeof(c->err), "connection refused");
    else
        snprintf(c->err, sizeof(c->err), "%s %s:%d: %s", what, c->host, c->port, strerror(err));
    finish(c, c->err);
}

/* The connect phase (TCP, then the TLS handshake) is over: the timer now bounds
 * what is left of the whole exchange. */
static void connected(tp_httpc_call_t *c)
{
    if (!c->connecting)
        return;
    c->connecting = 0;
    uint64_t now = tp_now_ms();
    double left = c->deadline_ms > now ? (double)(c->deadline_ms - now) / 1000.0 : 0.001;
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_set(&c->timer, left, 0.0);
    ev_timer_start(c->loop, &c->timer);
}

static void on_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_httpc_call_t *c = tp_container_of(t, tp_httpc_call_t, timer);
    if (c->handshaking)
        snprintf(c->err, sizeof(c->err), "tls handshake with %s:%d: timeout", c->host, c->port);
    else if (c->connecting)
        snprintf(c->err, sizeof(c->err), "connect to %s:%d: timeout", c->host, c->port);
    else
        snprintf(c->err, sizeof(c->err), "timeout");
    finish(c, c->err);
}

/* ---- socket I/O --------------------------------------------------------------- */

/* The TLS handshake, as far as the socket allows (it runs under the connect
 * timer). Returns 1 when it is done and the request may be written, 0 to wait;
 * a failure ends the call. */
static int tls_step(tp_httpc_call_t *c)
{
    conn_t *k = c->conn;
    int rc = tp_tls_handshake(k->tls, k->fd);
    if (rc == 0) {
        c->handshaking = 0;
        connected(c);
        ev_io_start(c->loop, &k->wio);
        return 1;
    }
    if (rc > 0) {
        if (tp_tls_want_write(k->tls))
            ev_io_start(c->loop, &k->wio);
        else
            ev_io_stop(c->loop, &k->wio);
        ev_io_start(c->loop, &k->rio);
        return 0;
    }
    int e = tp_tls_last_error(k->tls);
    if (e == 0)
        snprintf(c->err, sizeof(c->err), "tls handshake with %s:%d: closed by the server",
                 c->host, c->port);
    else
        snprintf(c->err, sizeof(c->err), "tls handshake with %s:%d: bearssl error %d %s",
                 c->host, c->port, e, tp_tls_error_name(e));
    finish(c, c->err);
    return 0;
}

/* send(2), or into the TLS engine (which sends what the socket takes) */
static ssize_t conn_send(conn_t *k, const char *p, size_t n)
{
    if (k->tls)
        return tp_tls_send(k->tls, k->fd, p, n);
    return send(k->fd, p, n, MSG_NOSIGNAL);
}

/* The request's bytes, then (TLS) the engine's last records. Returns 1 when all
 * left, 0 to wait for the socket, -1 when the call failed. */
static int write_request(tp_httpc_call_t *c)
{
    conn_t *k = c->conn;
    while (c->sent < tp_buf_size(&c->out)) {
        ssize_t n = conn_send(k, tp_buf_data(&c->out) + c->sent, tp_buf_size(&c->out) - c->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* an engine that takes nothing and has nothing to send waits for the peer */
            if (k->tls && !tp_tls_want_write(k->tls))
                ev_io_start(c->loop, &k->rio);
            return 0;
        }
        if (n < 0) {
            fail_io(c, "send to", errno);
            return -1;
        }
        c->sent += (size_t)n;
    }
    if (k->tls) {
        int rc = tp_tls_flush(k->tls, k->fd);
        if (rc > 0)
            return 0;
        if (rc < 0) {
            fail_io(c, "send to", EPIPE);
            return -1;
        }
    }
    return 1;
}

static void on_conn_write(struct ev_loop *loop, ev_io *io, int revents)
{
    conn_t *k = tp_container_of(io, conn_t, wio);
    tp_httpc_call_t *c = k->call;
    if (c->sent == 0 && !c->reused) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        if (soerr != 0) {
            fail_io(c, "connect to", soerr);
            return;
        }
    }
    if (c->handshaking) {
        tls_step(c);
        return;
    }
    connected(c);
    if (write_request(c) != 1)
        return;
    ev_io_stop(loop, &k->wio);
    ev_io_start(loop, &k->rio);
}

/* recv(2), or the plaintext of the TLS records that arrived (-1 with errno
 * EPROTO when a record fails; c->err says why) */
static ssize_t conn_recv(tp_httpc_call_t *c, conn_t *k, char *buf, size_t len)
{
    if (k->tls == NULL)
        return recv(k->fd, buf, len, 0);
    ssize_t n = tp_tls_recv(k->tls, k->fd, buf, len);
    if (n < 0 && errno == EAGAIN && tp_tls_want_write(k->tls))
        ev_io_start(c->loop, &k->wio); /* an alert (or the rest of the request) waits */
    if (n < 0 && errno == EPROTO)
        snprintf(c->err, sizeof(c->err), "tls from %s:%d: bearssl error %d %s", c->host,
                 c->port, tp_tls_last_error(k->tls), tp_tls_error_name(tp_tls_last_error(k->tls)));
    return n;
}

/* Feed bytes (n == 0: the server closed) to the parser; 1 when the call ended. */
static int feed(tp_httpc_call_t *c, const char *data, size_t n)
{
    size_t used = http_parser_execute(&c->parser, &parser_settings, data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->complete) {
        /* extra bytes after a complete response make the connection unusable */
        if (used < n)
            c->keepalive = 0;
        finish(c, NULL);
        return 1;
    }
    if (e != HPE_OK) {
        if (c->too_large)
            snprintf(c->err, sizeof(c->err), "response body too large");
        else
            snprintf(c->err, sizeof(c->err), "invalid response: %s", http_errno_name(e));
        finish(c, c->err);
        return 1;
    }
    if (n == 0) {
        fail_io(c, "closed", 0);
        return 1;
    }
    return 0;
}

static void on_conn_read(struct ev_loop *loop, ev_io *io, int revents)
{
    conn_t *k = tp_container_of(io, conn_t, rio);
    tp_httpc_call_t *c = k->call;
    char buf[READ_CHUNK];
    if (c->handshaking) {
        tls_step(c); /* when done, the write watcher sends the request */
        return;
    }
    for (;;) {
        ssize_t n = conn_recv(c, k, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0 && errno == EPROTO) {
            finish(c, c->err);
            return;
        }
        if (n < 0) {
            fail_io(c, "recv from", errno);
            return;
        }
        if (n > 0)
            c->got_bytes = 1;
        if (feed(c, buf, (size_t)n) || n == 0)
            return;
    }
}

/* ---- public API --------------------------------------------------------------- */

static int idempotent(const char *m)
{
    /* RFC 9110 9.2.2 */
    static const char *const list[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    for (size_t i = 0; i < tp_countof(list); i++)
        if (strcmp(m, list[i]) == 0)
            return 1;
    return 0;
}

/* The https side of a call: the SNI name (o->server_name or the url's host;
 * never an IP literal, RFC 6066 3) and what verifying trusts. 0, or -1 with err. */
static int tls_settings(tp_httpc_call_t *c, const tp_httpc_opts_t *o, char *err, size_t errlen)
{
    const char *name = o->server_name && o->server_name[0] ? o->server_name : c->host;
    if (!tp_tls_sni_name(name, strlen(name), c->sni, sizeof(c->sni)))
        c->sni[0] = '\0';
    c->verify = o->tls_verify != 0;
    if (!c->verify)
        return 0;
    if (c->sni[0] == '\0') {
        snprintf(err, errlen,
                 "tls to %s:%d: ssl_verify needs a host name, not an IP address (BearSSL "
                 "matches DNS names only; set ssl_server_name, or ssl_verify = false)",
                 c->host, c->port);
        return -1;
    }
    /* no anchors at all: an empty set, so every verification fails (never an open door) */
    c->anchors = o->anchors ? tp_tls_anchors_hold(o->anchors) : tp_tls_anchors_new();
    c->akey_want = tp_tls_anchors_key(c->anchors);
    return 0;
}

tp_httpc_call_t *tp_httpc_start(struct ev_loop *loop, const tp_httpc_opts_t *o, tp_httpc_cb cb,
                                void *arg, char *err, size_t errlen)
{
    tp_httpc_call_t *c = tp_calloc(1, sizeof(*c));
    const char *target;
    size_t tlen;
    c->loop = loop;
    c->cb = cb;
    c->arg = arg;
    c->keepalive = o->keepalive;
    c->is_head = strcmp(o->method, "HEAD") == 0;
    c->idempotent = idempotent(o->method);
    if (tp_httpc__parse_url(c, o, &target, &tlen, err, errlen) < 0)
        goto fail;
    if (c->is_tls && tls_settings(c, o, err, errlen) < 0)
        goto fail;
    tp_httpc__build_request(c, o, target, tlen);
    response_reset(c);

    conn_t *k = tp_httpc__idle_take(c);
    if (k != NULL) {
        c->reused = 1;
    } else if (tp_httpc__conn_open(c, &k, err, errlen) < 0) {
        goto fail;
    }
    int ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->deadline_ms = tp_now_ms() + (uint64_t)ms;
    c->connecting = !c->reused;
    if (c->connecting && o->connect_timeout_ms > 0 && o->connect_timeout_ms < ms)
        ms = o->connect_timeout_ms;
    ev_timer_init(&c->timer, on_timeout, ms / 1000.0, 0.0);
    ev_timer_start(loop, &c->timer);
    conn_attach(c, k);
    return c;

fail:
    tp_httpc_free(c);
    return NULL;
}

void tp_httpc_free(tp_httpc_call_t *c)
{
    if (c == NULL)
        return;
    ev_timer_stop(c->loop, &c->timer);
    if (c->conn != NULL)
        tp_httpc__conn_close(c->conn);
    tp_tls_anchors_release(c->anchors);
    tp_buf_free(&c->out);
    tp_buf_free(&c->hbuf);
    tp_buf_free(&c->body);
    free(c->hdrs);
    free(c);
}

int tp_httpc_status(const tp_httpc_call_t *c)
{
    return c->status;
}

int tp_httpc_header_count(const tp_httpc_call_t *c)
{
    return c->nhdrs;
}

int tp_httpc_header_at(const tp_httpc_call_t *c, int i, const char **name, size_t *nlen,
                       const char **value, size_t *vlen)
{
    if (i < 0 || i >= c->nhdrs)
        return -1;
    const hdr_t *h = &c->hdrs[i];
    *name = c->hbuf.base + h->noff;
    *nlen = h->nlen;
    *value = h->vlen ? c->hbuf.base + h->voff : "";
    *vlen = h->vlen;
    return 0;
}

const char *tp_httpc_body(const tp_httpc_call_t *c, size_t *len)
{
    *len = tp_buf_size(&c->body);
    return *len ? tp_buf_data(&c->body) : "";
}

int tp_httpc_reused(const tp_httpc_call_t *c)
{
    return c->reused;
}

/* ---- FFI: a call tied to a request ------------------------------------------- */

/* Lives in the request's pool, so Lua's pointer to it stays valid for the
 * request's life even after the call itself was freed. */
struct tp_httpc_handle_s {
    tp_req_t *r;
    tp_httpc_call_t *call;
    const char *errstr; /* NULL: a response arrived */
    char err[TP_ERR_LEN];
    int done;
};

static void on_ffi_done(tp_httpc_call_t *c, const char *errstr, void *arg)
{
    tp_httpc_handle_t *h = arg;
    h->done = 1;
    if (errstr != NULL) {
        snprintf(h->err, sizeof(h->err), "%s", errstr);
        h->errstr = h->err;
    }
    /* resumed even when the client left: its Lua finishes normally */
    tp_bridge_resume(h->r);
}

/* The request is being freed: cancel a call still in flight, free a response
 * Lua never collected. */
static void on_pool_free(void *arg)
{
    tp_httpc_handle_t *h = arg;
    tp_httpc_free(h->call);
    h->call = NULL;
}

int tp_ffi_http_request(tp_req_t *r, const char *method, const char *url, size_t url_len,
                        const char *headers, size_t headers_len, const char *body,
                        size_t body_len, int timeout_ms, int keepalive, tp_httpc_handle_t **out,
                        char *err, size_t errlen)
{
    return tp_ffi_http_request_tls(r, method, url, url_len, headers, headers_len, body, body_len,
                                   timeout_ms, 0, keepalive, 0, NULL, NULL, out, err, errlen);
}

int tp_ffi_http_request_tls(tp_req_t *r, const char *method, const char *url, size_t url_len,
                            const char *headers, size_t headers_len, const char *body,
                            size_t body_len, int timeout_ms, int connect_timeout_ms,
                            int keepalive, int tls_verify, tp_tls_anchors_t *anchors,
                            const char *server_name, tp_httpc_handle_t **out, char *err,
                            size_t errlen)
{
    tp_httpc_handle_t *h = tp_pool_alloc(r->pool, sizeof(*h));
    memset(h, 0, sizeof(*h));
    h->r = r;
    tp_httpc_opts_t o = {
        .method = method,
        .url = url,
        .url_len = url_len,
        .headers = headers,
        .headers_len = headers_len,
        .body = body,
        .body_len = body_len,
        .timeout_ms = timeout_ms,
        .keepalive = keepalive,
        .connect_timeout_ms = connect_timeout_ms,
        .tls_verify = tls_verify,
        .anchors = anchors,
        .server_name = server_name,
    };
    h->call = tp_httpc_start(r->w->loop, &o, on_ffi_done, h, err, errlen);
    if (h->call == NULL)
        return -1;
    tp_pool_on_free(r->pool, on_pool_free, h);
    r->wait = TP_WAIT_IO;
    *out = h;
    return TP_AGAIN;
}

int tp_ffi_http_status(tp_httpc_handle_t *h, char *err, size_t errlen)
{
    if (!h->done || h->call == NULL) {
        snprintf(err, errlen, "%s", h->done ? "response already freed" : "still pending");
        return -1;
    }
    if (h->errstr != NULL) {
        snprintf(err, errlen, "%s", h->errstr);
        return -1;
    }
    return tp_httpc_status(h->call);
}

int tp_ffi_http_header_count(tp_httpc_handle_t *h)
{
    return h->done && h->call ? tp_httpc_header_count(h->call) : 0;
}

int tp_ffi_http_header_at(tp_httpc_handle_t *h, int i, const char **name, size_t *nlen,
                          const char **value, size_t *vlen)
{
    if (!h->done || h->call == NULL)
        return -1;
    return tp_httpc_header_at(h->call, i, name, nlen, value, vlen);
}

const char *tp_ffi_http_body(tp_httpc_handle_t *h, size_t *len)
{
    if (!h->done || h->call == NULL) {
        *len = 0;
        return "";
    }
    return tp_httpc_body(h->call, len);
}

void tp_ffi_http_done(tp_httpc_handle_t *h)
{
    if (!h->done)
        return; /* still in flight: the pool cleanup cancels it */
    tp_httpc_free(h->call);
    h->call = NULL;
}
