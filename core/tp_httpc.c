/*
 * tp_httpc.c - owns outbound HTTP/1.1 calls made by plugins: URL parsing, the
 * request bytes, a non-blocking TCP connection (with a TLS client engine for
 * https: tp_tls_client's, driven by tp_tls.c's record pump), the response
 * parsed with http-parser in response mode (Content-Length, chunked or
 * read-until-close), one timer bounding the connect phase and then the whole
 * exchange, the keep-alive pool (per host, port, TLS, server name and trust
 * anchors) and a small DNS cache. The FFI wrappers at the end tie a call to a
 * request.
 */
#include "tp_httpc.h"
#include "tp_bridge.h"
#include "tp_log.h"
#include "tp_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define MAX_BODY (16 * 1024 * 1024)
#define MAX_HEAD (64 * 1024)
#define MAX_IDLE_PER_HOST 32
#define IDLE_TIMEOUT_S 60.0
#define DNS_TTL_MS 30000
#define DNS_SLOTS 16
#define DEFAULT_TIMEOUT_MS 60000

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

/* Idle keep-alive connections and resolved addresses. Per process: a worker
 * process runs one loop, and every entry remembers its loop so tests with
 * several loops stay correct. */
static conn_t *idle_head;

typedef struct {
    char host[256];
    int port;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint64_t expires_ms;
} dns_slot_t;

static dns_slot_t dns_cache[DNS_SLOTS];
static int dns_next;

static void on_conn_read(struct ev_loop *loop, ev_io *io, int revents);
static void on_conn_write(struct ev_loop *loop, ev_io *io, int revents);

/* ---- DNS ---------------------------------------------------------------------- */

static int resolve_numeric(const char *host, int port, struct sockaddr_storage *ss,
                           socklen_t *len)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
        return 0;
    }
    return -1;
}

/* Numeric addresses never touch the resolver; names go through getaddrinfo
 * (blocking, hence the cache) and are remembered for DNS_TTL_MS. */
static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len,
                   char *err, size_t errlen)
{
    if (resolve_numeric(host, port, ss, len) == 0)
        return 0;
    uint64_t now = tp_now_ms();
    for (int i = 0; i < DNS_SLOTS; i++) {
        dns_slot_t *d = &dns_cache[i];
        if (d->port == port && d->expires_ms > now && strcmp(d->host, host) == 0) {
            *ss = d->addr;
            *len = d->addrlen;
            return 0;
        }
    }
    struct addrinfo hints = {0}, *res = NULL;
    char portstr[16];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "could not resolve host %s: %s", host, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    dns_slot_t *d = &dns_cache[dns_next];
    dns_next = (dns_next + 1) % DNS_SLOTS;
    snprintf(d->host, sizeof(d->host), "%s", host);
    d->port = port;
    d->addr = *ss;
    d->addrlen = *len;
    d->expires_ms = now + DNS_TTL_MS;
    return 0;
}

/* ---- connections and the idle pool -------------------------------------------- */

static void conn_close(conn_t *k)
{
    ev_io_stop(k->loop, &k->rio);
    ev_io_stop(k->loop, &k->wio);
    ev_timer_stop(k->loop, &k->idle_timer);
    if (k->fd >= 0)
        close(k->fd);
    tp_tls_conn_free(k->tls);
    free(k);
}

/* Can k serve c? Same loop, host and port, and for TLS the same server name and
 * trust anchors (a verifying call never gets an unverified connection). */
static int conn_fits(const conn_t *k, const tp_httpc_call_t *c)
{
    if (k->loop != c->loop || k->port != c->port || strcmp(k->host, c->host) != 0)
        return 0;
    if ((k->tls != NULL) != c->is_tls)
        return 0;
    return k->tls == NULL || (k->verify == c->verify && k->akey == c->akey_want &&
                              strcmp(k->sni, c->sni) == 0);
}

/* Same pool as k (for the per-pool idle limit). */
static int conn_same_pool(const conn_t *a, const conn_t *b)
{
    return a->loop == b->loop && a->port == b->port && strcmp(a->host, b->host) == 0 &&
           (a->tls != NULL) == (b->tls != NULL) && a->verify == b->verify &&
           a->akey == b->akey && strcmp(a->sni, b->sni) == 0;
}

static void idle_unlink(conn_t *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        idle_head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    k->prev = k->next = NULL;
}

/* An idle connection that becomes readable was closed by the server (or sent
 * bytes nobody asked for): either way it cannot be reused. */
static void on_idle_read(struct ev_loop *loop, ev_io *io, int revents)
{
    conn_t *k = tp_container_of(io, conn_t, rio);
    idle_unlink(k);
    conn_close(k);
}

static void on_idle_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    conn_t *k = tp_container_of(t, conn_t, idle_timer);
    idle_unlink(k);
    conn_close(k);
}

static void idle_put(conn_t *k)
{
    int same = 0;
    for (conn_t *i = idle_head; i; i = i->next)
        same += conn_same_pool(i, k);
    if (same >= MAX_IDLE_PER_HOST) {
        conn_close(k);
        return;
    }
    k->call = NULL;
    ev_io_stop(k->loop, &k->wio);
    ev_io_stop(k->loop, &k->rio);
    ev_io_init(&k->rio, on_idle_read, k->fd, EV_READ);
    ev_io_start(k->loop, &k->rio);
    ev_timer_init(&k->idle_timer, on_idle_timeout, IDLE_TIMEOUT_S, 0.0);
    ev_timer_start(k->loop, &k->idle_timer);
    k->prev = NULL;
    k->next = idle_head;
    if (idle_head)
        idle_head->prev = k;
    idle_head = k;
}

static conn_t *idle_take(tp_httpc_call_t *c)
{
    for (conn_t *k = idle_head; k; k = k->next) {
        if (conn_fits(k, c)) {
            idle_unlink(k);
            ev_io_stop(c->loop, &k->rio);
            ev_timer_stop(c->loop, &k->idle_timer);
            return k;
        }
    }
    return NULL;
}

int tp_httpc_idle_count(struct ev_loop *loop)
{
    int n = 0;
    for (conn_t *k = idle_head; k; k = k->next)
        n += k->loop == loop;
    return n;
}

void tp_httpc_close_idle(struct ev_loop *loop)
{
    conn_t *k = idle_head;
    while (k) {
        conn_t *next = k->next;
        if (k->loop == loop) {
            idle_unlink(k);
            conn_close(k);
        }
        k = next;
    }
    memset(dns_cache, 0, sizeof(dns_cache));
}

/* A fresh non-blocking connection; 0, or -errno with err filled. */
static int conn_open(tp_httpc_call_t *c, conn_t **out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int rc = resolve(c->host, c->port, &ss, &sslen, err, errlen);
    if (rc < 0)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return rc;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&ss, sslen) < 0 && errno != EINPROGRESS) {
        rc = -errno;
        snprintf(err, errlen, "connect to %s:%d: %s", c->host, c->port, strerror(errno));
        close(fd);
        return rc;
    }
    conn_t *k = tp_calloc(1, sizeof(*k));
    k->loop = c->loop;
    k->fd = fd;
    snprintf(k->host, sizeof(k->host), "%s", c->host);
    k->port = c->port;
    ev_init(&k->idle_timer, on_idle_timeout);
    if (c->is_tls) {
        k->tls = tp_tls_client_new(c->sni[0] ? c->sni : NULL, c->verify ? c->anchors : NULL);
        if (k->tls == NULL) {
            snprintf(err, errlen, "tls to %s:%d: the engine would not start", c->host, c->port);
            conn_close(k);
            return -EPROTO;
        }
        k->verify = c->verify;
        k->akey = c->akey_want;
        snprintf(k->sni, sizeof(k->sni), "%s", c->sni);
    }
    *out = k;
    return 0;
}

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

/* ---- the request bytes -------------------------------------------------------- */

/* Header lines the client writes itself: framing (RFC 9112 6.1-6.3: we always
 * send a Content-Length) and connection management (RFC 9112 9.3). */
static int own_header(const char *name, size_t n)
{
    return tp_strieq(name, n, "content-length") || tp_strieq(name, n, "transfer-encoding") ||
           tp_strieq(name, n, "connection") || tp_strieq(name, n, "keep-alive");
}

static void copy_user_headers(tp_httpc_call_t *c, const tp_httpc_opts_t *o, int *has_host,
                              int *has_ua)
{
    const char *p = o->headers, *end = o->headers ? o->headers + o->headers_len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *colon = memchr(p, ':', (size_t)(next - p));
        if (colon != NULL && colon > p) {
            size_t n = (size_t)(colon - p);
            *has_host |= tp_strieq(p, n, "host");
            *has_ua |= tp_strieq(p, n, "user-agent");
            if (!own_header(p, n)) {
                size_t linelen = (size_t)((eol ? eol : end) - p);
                if (linelen > 0 && p[linelen - 1] == '\r')
                    linelen--;
                tp_buf_append(&c->out, p, linelen);
                tp_buf_append(&c->out, "\r\n", 2);
            }
        }
        p = next;
    }
}

static void build_request(tp_httpc_call_t *c, const tp_httpc_opts_t *o, const char *target,
                          size_t tlen)
{
    int has_host = 0, has_ua = 0;
    tp_buf_appendf(&c->out, "%s %s", o->method, target[0] == '/' ? "" : "/");
    tp_buf_append(&c->out, target, tlen);
    tp_buf_append(&c->out, " HTTP/1.1\r\n", 11);
    copy_user_headers(c, o, &has_host, &has_ua);
    if (!has_host) {
        int v6 = strchr(c->host, ':') != NULL;
        tp_buf_appendf(&c->out, "Host: %s%s%s", v6 ? "[" : "", c->host, v6 ? "]" : "");
        if (c->port != (c->is_tls ? 443 : 80))
            tp_buf_appendf(&c->out, ":%d", c->port);
        tp_buf_append(&c->out, "\r\n", 2);
    }
    if (!has_ua)
        tp_buf_appendf(&c->out, "User-Agent: turnpike\r\n");
    /* RFC 9110 8.6: a body (or a method whose semantics expect one) gets a length */
    if (o->body_len > 0 || strcmp(o->method, "POST") == 0 || strcmp(o->method, "PUT") == 0 ||
        strcmp(o->method, "PATCH") == 0)
        tp_buf_appendf(&c->out, "Content-Length: %zu\r\n", o->body_len);
    if (!c->keepalive)
        tp_buf_appendf(&c->out, "Connection: close\r\n");
    tp_buf_append(&c->out, "\r\n", 2);
    if (o->body_len > 0)
        tp_buf_append(&c->out, o->body, o->body_len);
}

/* Split the url into host, port and request-target; 0 or -1 with err. */
static int parse_url(tp_httpc_call_t *c, const tp_httpc_opts_t *o, const char **target,
                     size_t *tlen, char *err, size_t errlen)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(o->url, o->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST))) {
        snprintf(err, errlen, "bad url: %.*s", (int)(o->url_len > 200 ? 200 : o->url_len),
                 o->url);
        return -1;
    }
    const char *schema = o->url + u.field_data[UF_SCHEMA].off;
    size_t slen = u.field_data[UF_SCHEMA].len;
    c->is_tls = tp_strieq(schema, slen, "https");
    if (!c->is_tls && !tp_strieq(schema, slen, "http")) {
        snprintf(err, errlen, "unsupported scheme: %.*s", (int)slen, schema);
        return -1;
    }
    size_t hlen = u.field_data[UF_HOST].len;
    if (hlen >= sizeof(c->host)) {
        snprintf(err, errlen, "bad url: host too long");
        return -1;
    }
    memcpy(c->host, o->url + u.field_data[UF_HOST].off, hlen);
    c->host[hlen] = '\0';
    c->port = (u.field_set & (1 << UF_PORT)) ? u.port : c->is_tls ? 443 : 80;
    if (u.field_set & (1 << UF_PATH)) {
        *target = o->url + u.field_data[UF_PATH].off;
        *tlen = o->url_len - u.field_data[UF_PATH].off;
    } else if (u.field_set & (1 << UF_QUERY)) {
        *target = o->url + u.field_data[UF_QUERY].off - 1; /* "?q": build_request adds "/" */
        *tlen = o->url_len - u.field_data[UF_QUERY].off + 1;
    } else {
        *target = "/";
        *tlen = 1;
    }
    /* the fragment never goes on the wire (RFC 9110 7.1) */
    const char *hash = memchr(*target, '#', *tlen);
    if (hash)
        *tlen = (size_t)(hash - *target);
    return 0;
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
            idle_put(k);
        else
            conn_close(k);
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
    conn_close(c->conn);
    c->conn = NULL;
    c->retried = 1;
    c->reused = 0;
    conn_t *k;
    if (conn_open(c, &k, c->err, sizeof(c->err)) < 0)
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
    if (parse_url(c, o, &target, &tlen, err, errlen) < 0)
        goto fail;
    if (c->is_tls && tls_settings(c, o, err, errlen) < 0)
        goto fail;
    build_request(c, o, target, tlen);
    response_reset(c);

    conn_t *k = idle_take(c);
    if (k != NULL) {
        c->reused = 1;
    } else if (conn_open(c, &k, err, errlen) < 0) {
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
        conn_close(c->conn);
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
