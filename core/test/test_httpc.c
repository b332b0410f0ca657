/*
 * test_httpc.c - tp_httpc against a tiny HTTP server living on the same libev
 * loop: Content-Length, chunked and read-until-close bodies, request bytes,
 * keep-alive reuse and Connection: close, the stale-connection retry, timeouts,
 * refused connections, https/bad urls, and the FFI handle (completion and
 * cancellation when the request's pool is freed). https runs against the same
 * server behind tp_tls's server engine: verification against the right and a
 * wrong CA, the server name, pools kept apart by verification, and a handshake
 * bounded by connect_timeout_ms.
 */
#include "tp_httpc.h"
#include "tp_pool.h"
#include "tp_req.h"
#include "tp_test.h"
#include "tp_test_certs.h"
#include "tp_tls.h"
#include "tp_util.h"
#include "tp_worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the test server ---------------------------------------------------------- */

#define MAX_PEERS 16

typedef struct {
    ev_io io;
    int fd;
    tp_buf_t in;
    tp_tls_conn_t *tls; /* peers accepted on the TLS listener */
} peer_t;

static struct ev_loop *loop;
static int srv_fd, srv_port, accepts;
static ev_io srv_io;
static int tls_fd, tls_port; /* the same server behind TLS (up.test, signed by TEST_CA) */
static ev_io tls_io;
static tp_tls_store_t *tls_store;
static peer_t *peers[MAX_PEERS];
static char last_request[4096];

static void peer_close(peer_t *p)
{
    for (int i = 0; i < MAX_PEERS; i++)
        if (peers[i] == p)
            peers[i] = NULL;
    ev_io_stop(loop, &p->io);
    tp_tls_conn_free(p->tls);
    close(p->fd);
    tp_buf_free(&p->in);
    free(p);
}

static void reply(peer_t *p, const char *s, int close_after)
{
    if (p->tls) {
        /* loopback takes these few bytes at once */
        for (size_t off = 0, len = strlen(s); off < len;) {
            ssize_t n = tp_tls_send(p->tls, p->fd, s + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        tp_tls_flush(p->tls, p->fd);
    } else {
        ssize_t n = send(p->fd, s, strlen(s), MSG_NOSIGNAL);
        (void)n;
    }
    if (close_after)
        peer_close(p);
}

/* One whole request is in p->in: answer according to its path. */
static void dispatch(peer_t *p, const char *req, size_t len)
{
    char path[128] = "";
    sscanf(req, "%*s %127[^? ]", path);
    snprintf(last_request, sizeof(last_request), "%.*s", (int)len, req);
    if (strcmp(path, "/cl") == 0)
        reply(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello", 0);
    else if (strcmp(path, "/chunked") == 0)
        reply(p, "HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 0);
    else if (strcmp(path, "/eof") == 0)
        reply(p, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close", 1);
    else if (strcmp(path, "/close") == 0)
        reply(p, "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno",
              0);
    else if (strcmp(path, "/head") == 0)
        reply(p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 0);
    else if (strcmp(path, "/bad") == 0)
        reply(p, "HTTP/1.1 2OO nope\r\n\r\n", 1);
    else if (strcmp(path, "/slow") == 0)
        return; /* never answers */
    else
        reply(p, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\necho", 0);
}

static void on_peer_read(struct ev_loop *l, ev_io *io, int revents)
{
    peer_t *p = tp_container_of(io, peer_t, io);
    char *w = tp_buf_reserve(&p->in, 16385);
    ssize_t n = p->tls ? tp_tls_recv(p->tls, p->fd, w, 16384) : recv(p->fd, w, 4096, 0);
    if (n < 0 && errno == EAGAIN)
        return; /* the handshake goes on */
    if (n <= 0) {
        peer_close(p);
        return;
    }
    p->in.len += (size_t)n;
    p->in.base[p->in.len] = '\0'; /* reserved above: strcasestr needs a terminator */
    char *data = tp_buf_data(&p->in);
    size_t size = tp_buf_size(&p->in);
    char *end = memmem(data, size, "\r\n\r\n", 4);
    if (end == NULL)
        return;
    size_t head = (size_t)(end - data) + 4, body = 0;
    char *cl = strcasestr(data, "content-length:");
    if (cl != NULL && cl < end)
        body = strtoul(cl + 15, NULL, 10);
    if (size < head + body)
        return;
    tp_buf_consume(&p->in, head + body);
    dispatch(p, data, head + body);
}

static void on_accept(struct ev_loop *l, ev_io *io, int revents)
{
    int fd = accept(io->fd, NULL, NULL);
    if (fd < 0)
        return;
    accepts++;
    peer_t *p = tp_calloc(1, sizeof(*p));
    p->fd = fd;
    if (io == &tls_io) {
        fcntl(fd, F_SETFL, O_NONBLOCK);
        p->tls = tp_tls_conn_new(tls_store);
    }
    for (int i = 0; i < MAX_PEERS; i++) {
        if (peers[i] == NULL) {
            peers[i] = p;
            break;
        }
    }
    ev_io_init(&p->io, on_peer_read, fd, EV_READ);
    ev_io_start(loop, &p->io);
}

static int listen_any(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    listen(fd, 16);
    getsockname(fd, (struct sockaddr *)&a, &len);
    srv_port = ntohs(a.sin_port);
    return fd;
}

static void close_all_peers(void)
{
    for (int i = 0; i < MAX_PEERS; i++)
        if (peers[i])
            peer_close(peers[i]);
}

/* ---- client helpers ----------------------------------------------------------- */

typedef struct {
    int done;
    char err[TP_ERR_LEN];
    int has_err;
} result_t;

static void on_done(tp_httpc_call_t *c, const char *errstr, void *arg)
{
    result_t *res = arg;
    res->done = 1;
    res->has_err = errstr != NULL;
    snprintf(res->err, sizeof(res->err), "%s", errstr ? errstr : "");
}

/* Run one request to completion; NULL with res->err when it could not start. */
static tp_httpc_call_t *run(const char *method, const char *path, const char *headers,
                            const char *body, int timeout_ms, int keepalive, result_t *res)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv_port, path);
    tp_httpc_opts_t o = {method, url, strlen(url), headers, headers ? strlen(headers) : 0,
                         body, body ? strlen(body) : 0, timeout_ms, keepalive, 0, 0, NULL, NULL};
    memset(res, 0, sizeof(*res));
    tp_httpc_call_t *c = tp_httpc_start(loop, &o, on_done, res, res->err, sizeof(res->err));
    if (c == NULL) {
        res->has_err = 1;
        return NULL;
    }
    while (!res->done)
        ev_run(loop, EVRUN_ONCE);
    return c;
}

static int body_is(tp_httpc_call_t *c, const char *want)
{
    size_t len;
    const char *b = tp_httpc_body(c, &len);
    return len == strlen(want) && memcmp(b, want, len) == 0;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_content_length_and_headers(void)
{
    result_t res;
    tp_httpc_call_t *c = run("GET", "/cl?x=1", NULL, NULL, 2000, 1, &res);
    TP_CHECK(c != NULL && !res.has_err);
    TP_CHECK(tp_httpc_status(c) == 200);
    TP_CHECK(body_is(c, "hello"));
    TP_CHECK(tp_httpc_header_count(c) == 3);
    const char *n, *v;
    size_t nl, vl;
    TP_CHECK(tp_httpc_header_at(c, 1, &n, &nl, &v, &vl) == 0);
    TP_CHECK(nl == 3 && memcmp(n, "X-A", 3) == 0 && vl == 1 && v[0] == '1');
    TP_CHECK(tp_httpc_header_at(c, 2, &n, &nl, &v, &vl) == 0 && v[0] == '2');
    TP_CHECK(tp_httpc_header_at(c, 3, &n, &nl, &v, &vl) == -1);
    TP_CHECK(strncmp(last_request, "GET /cl?x=1 HTTP/1.1\r\n", 22) == 0);
    TP_CHECK(strstr(last_request, "User-Agent: turnpike\r\n") != NULL);
    tp_httpc_free(c);
}

static void test_request_bytes(void)
{
    result_t res;
    char host[64];
    tp_httpc_call_t *c = run("POST", "/echo", "X-Key: k1\r\nContent-Length: 999\r\nConnection: up\r\n",
                             "a=b", 2000, 1, &res);
    TP_CHECK(c != NULL && tp_httpc_status(c) == 200 && body_is(c, "echo"));
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", srv_port);
    TP_CHECK(strncmp(last_request, "POST /echo HTTP/1.1\r\n", 21) == 0);
    TP_CHECK(strstr(last_request, host) != NULL);
    TP_CHECK(strstr(last_request, "X-Key: k1\r\n") != NULL);
    TP_CHECK(strstr(last_request, "Content-Length: 3\r\n") != NULL);
    TP_CHECK(strstr(last_request, "999") == NULL);
    TP_CHECK(strstr(last_request, "Connection") == NULL);
    TP_CHECK(strstr(last_request, "\r\n\r\na=b") != NULL);
    tp_httpc_free(c);

    /* a caller's Host wins; keepalive=false asks the server to close */
    c = run("GET", "/echo", "host: example.test\r\n", NULL, 2000, 0, &res);
    TP_CHECK(c != NULL && tp_httpc_status(c) == 200);
    TP_CHECK(strstr(last_request, "host: example.test\r\n") != NULL);
    TP_CHECK(strstr(last_request, "Host: 127") == NULL);
    TP_CHECK(strstr(last_request, "Connection: close\r\n") != NULL);
    tp_httpc_free(c);
}

static void test_chunked_eof_head(void)
{
    result_t res;
    tp_httpc_call_t *c = run("GET", "/chunked", NULL, NULL, 2000, 1, &res);
    TP_CHECK(c != NULL && tp_httpc_status(c) == 202 && body_is(c, "hello world"));
    tp_httpc_free(c);

    c = run("GET", "/eof", NULL, NULL, 2000, 1, &res);
    TP_CHECK(c != NULL && !res.has_err && tp_httpc_status(c) == 200);
    TP_CHECK(body_is(c, "until-close"));
    tp_httpc_free(c);

    c = run("HEAD", "/head", NULL, NULL, 2000, 1, &res);
    TP_CHECK(c != NULL && !res.has_err && tp_httpc_status(c) == 200 && body_is(c, ""));
    tp_httpc_free(c);

    c = run("GET", "/bad", NULL, NULL, 2000, 1, &res);
    TP_CHECK(c != NULL && res.has_err && strstr(res.err, "invalid response") != NULL);
    tp_httpc_free(c);
}

static void test_keepalive_pool(void)
{
    result_t res;
    tp_httpc_close_idle(loop);
    close_all_peers();
    accepts = 0;
    for (int i = 0; i < 3; i++) {
        tp_httpc_call_t *c = run("GET", "/cl", NULL, NULL, 2000, 1, &res);
        TP_CHECK(c != NULL && tp_httpc_status(c) == 200);
        TP_CHECK(tp_httpc_reused(c) == (i > 0));
        tp_httpc_free(c);
    }
    TP_CHECK(accepts == 1);
    TP_CHECK(tp_httpc_idle_count(loop) == 1);

    /* Connection: close from the server: not pooled */
    tp_httpc_call_t *c = run("GET", "/close", NULL, NULL, 2000, 1, &res);
    TP_CHECK(c != NULL && tp_httpc_status(c) == 404 && body_is(c, "no"));
    tp_httpc_free(c);
    TP_CHECK(tp_httpc_idle_count(loop) == 0);

    /* keepalive=false: not pooled either */
    c = run("GET", "/cl", NULL, NULL, 2000, 0, &res);
    TP_CHECK(c != NULL && tp_httpc_status(c) == 200);
    tp_httpc_free(c);
    TP_CHECK(tp_httpc_idle_count(loop) == 0);
}

static void test_idle_close_and_stale_retry(void)
{
    result_t res;
    tp_httpc_call_t *c = run("GET", "/cl", NULL, NULL, 2000, 1, &res);
    tp_httpc_free(c);
    TP_CHECK(tp_httpc_idle_count(loop) == 1);

    /* the server drops the idle connection while the loop runs: it leaves the pool */
    close_all_peers();
    for (int i = 0; i < 10 && tp_httpc_idle_count(loop) > 0; i++)
        ev_run(loop, EVRUN_NOWAIT);
    TP_CHECK(tp_httpc_idle_count(loop) == 0);

    /* dropped before the loop noticed: the GET is retried once on a new connection */
    c = run("GET", "/cl", NULL, NULL, 2000, 1, &res);
    tp_httpc_free(c);
    accepts = 0;
    close_all_peers();
    c = run("GET", "/chunked", NULL, NULL, 2000, 1, &res);
    TP_CHECK(c != NULL && !res.has_err && tp_httpc_status(c) == 202);
    TP_CHECK(accepts == 1);
    tp_httpc_free(c);
}

static void test_errors(void)
{
    result_t res;
    uint64_t t0 = tp_now_ms();
    tp_httpc_call_t *c = run("GET", "/slow", NULL, NULL, 150, 1, &res);
    uint64_t took = tp_now_ms() - t0;
    TP_CHECK(c != NULL && res.has_err && strcmp(res.err, "timeout") == 0);
    TP_CHECK(took >= 140 && took < 1000);
    tp_httpc_free(c);

    int saved = srv_port;
    int fd = listen_any(); /* a port nobody listens on once closed */
    close(fd);
    c = run("GET", "/", NULL, NULL, 1000, 1, &res);
    TP_CHECK(res.has_err && strstr(res.err, "refused") != NULL);
    tp_httpc_free(c);
    srv_port = saved;

    char err[TP_ERR_LEN];
    tp_httpc_opts_t o = {"GET", "https://127.0.0.1/", 18, NULL, 0, NULL, 0, 1000, 1, 0, 0, NULL, NULL};
    o.tls_verify = 1; /* BearSSL verifies DNS names only: refused before connecting */
    TP_CHECK(tp_httpc_start(loop, &o, on_done, &res, err, sizeof(err)) == NULL);
    TP_CHECK(strstr(err, "ssl_verify needs a host name") != NULL);
    o.tls_verify = 0;
    o.url = "ftp://x/";
    o.url_len = 8;
    TP_CHECK(tp_httpc_start(loop, &o, on_done, &res, err, sizeof(err)) == NULL);
    TP_CHECK(strncmp(err, "unsupported scheme", 18) == 0);
    o.url = "not a url";
    o.url_len = 9;
    TP_CHECK(tp_httpc_start(loop, &o, on_done, &res, err, sizeof(err)) == NULL);
    TP_CHECK(strncmp(err, "bad url", 7) == 0);
    o.url = "http://no-such-host.invalid/";
    o.url_len = strlen(o.url);
    TP_CHECK(tp_httpc_start(loop, &o, on_done, &res, err, sizeof(err)) == NULL);
    TP_CHECK(strstr(err, "resolve") != NULL);

    /* freeing a call in flight cancels it: the callback never runs */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv_port);
    tp_httpc_opts_t s = {"GET", url, strlen(url), NULL, 0, NULL, 0, 50, 1, 0, 0, NULL, NULL};
    memset(&res, 0, sizeof(res));
    c = tp_httpc_start(loop, &s, on_done, &res, err, sizeof(err));
    TP_CHECK(c != NULL);
    ev_run(loop, EVRUN_NOWAIT);
    tp_httpc_free(c);
    uint64_t until = tp_now_ms() + 120;
    while (tp_now_ms() < until)
        ev_run(loop, EVRUN_NOWAIT);
    TP_CHECK(res.done == 0);
}

static void test_ffi(void)
{
    tp_worker_t w;
    tp_req_t r;
    char err[TP_ERR_LEN], url[64];
    tp_httpc_handle_t *h = NULL;
    memset(&w, 0, sizeof(w));
    memset(&r, 0, sizeof(r));
    w.loop = loop;
    r.w = &w;
    r.co_ref = LUA_NOREF; /* no coroutine: tp_bridge_resume is a no-op */
    r.pool = tp_pool_new();

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/chunked", srv_port);
    int rc = tp_ffi_http_request(&r, "GET", url, strlen(url), "A: b\r\n", 6, NULL, 0, 1000, 1,
                                 &h, err, sizeof(err));
    TP_CHECK(rc == TP_AGAIN && h != NULL && r.wait == TP_WAIT_IO);
    TP_CHECK(tp_ffi_http_status(h, err, sizeof(err)) == -1 && strcmp(err, "still pending") == 0);
    for (int i = 0; i < 100 && tp_ffi_http_status(h, err, sizeof(err)) < 0; i++)
        ev_run(loop, EVRUN_ONCE);
    TP_CHECK(tp_ffi_http_status(h, err, sizeof(err)) == 202);
    size_t len;
    const char *b = tp_ffi_http_body(h, &len);
    TP_CHECK(len == 11 && memcmp(b, "hello world", 11) == 0);
    TP_CHECK(tp_ffi_http_header_count(h) == 1);
    tp_ffi_http_done(h);
    TP_CHECK(tp_ffi_http_status(h, err, sizeof(err)) == -1);

    rc = tp_ffi_http_request_tls(&r, "GET", "https://[::1]/", 14, NULL, 0, NULL, 0, 1000, 0, 1,
                                 1, NULL, NULL, &h, err, sizeof(err));
    TP_CHECK(rc == -1 && strstr(err, "ssl_verify needs a host name") != NULL);

    /* the request ends while a call is in flight: the pool cleanup cancels it */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/slow", srv_port);
    rc = tp_ffi_http_request(&r, "GET", url, strlen(url), NULL, 0, NULL, 0, 100, 1, &h, err,
                             sizeof(err));
    TP_CHECK(rc == TP_AGAIN);
    ev_run(loop, EVRUN_NOWAIT);
    tp_pool_destroy(r.pool);
    uint64_t until = tp_now_ms() + 150;
    while (tp_now_ms() < until)
        ev_run(loop, EVRUN_NOWAIT);
    TP_CHECK(1); /* reaching here without ASan reports is the check */
}

/* One https call to the TLS server; NULL with res->err when it could not start. */
static tp_httpc_call_t *run_tls(const char *path, const char *name, int verify,
                                tp_tls_anchors_t *anchors, int connect_ms, result_t *res)
{
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", tls_port, path);
    tp_httpc_opts_t o = {"GET", url, strlen(url), NULL, 0, NULL, 0, 3000, 1, 0, 0, NULL, NULL};
    o.connect_timeout_ms = connect_ms;
    o.tls_verify = verify;
    o.anchors = anchors;
    o.server_name = name;
    memset(res, 0, sizeof(*res));
    tp_httpc_call_t *c = tp_httpc_start(loop, &o, on_done, res, res->err, sizeof(res->err));
    if (c == NULL) {
        res->has_err = 1;
        return NULL;
    }
    while (!res->done)
        ev_run(loop, EVRUN_ONCE);
    return c;
}

static void test_https(void)
{
    char err[TP_ERR_LEN];
    result_t res;
    tp_tls_anchors_t *ca = tp_tls_anchors_new(), *other = tp_tls_anchors_new();
    TP_CHECK(tp_tls_anchors_add_pem(ca, TEST_CA_CRT, sizeof(TEST_CA_CRT) - 1, err, sizeof(err)) == 1);
    TP_CHECK(tp_tls_anchors_add_pem(other, TEST_OTHER_CRT, sizeof(TEST_OTHER_CRT) - 1, err,
                                    sizeof(err)) == 1);
    tp_httpc_close_idle(loop);
    close_all_peers();
    accepts = 0;

    /* verified against the CA by the name the certificate carries; then reused */
    for (int i = 0; i < 2; i++) {
        tp_httpc_call_t *c = run_tls("/chunked", "up.test", 1, ca, 0, &res);
        TP_CHECK(c != NULL && !res.has_err && tp_httpc_status(c) == 202);
        TP_CHECK(body_is(c, "hello world") && tp_httpc_reused(c) == i);
        tp_httpc_free(c);
    }
    TP_CHECK(accepts == 1 && strstr(last_request, "Host: 127.0.0.1:") != NULL);

    /* not verifying: a pool of its own (never the verified connection, and back) */
    tp_httpc_call_t *c = run_tls("/cl", NULL, 0, NULL, 0, &res);
    TP_CHECK(c != NULL && !res.has_err && tp_httpc_status(c) == 200 && !tp_httpc_reused(c));
    tp_httpc_free(c);
    TP_CHECK(accepts == 2 && tp_httpc_idle_count(loop) == 2);

    /* a CA that did not sign it, a name it does not carry */
    c = run_tls("/cl", "up.test", 1, other, 0, &res);
    TP_CHECK(c != NULL && res.has_err && strstr(res.err, "bearssl error 62 X509_NOT_TRUSTED"));
    TP_CHECK(strncmp(res.err, "tls handshake with 127.0.0.1:", 29) == 0);
    tp_httpc_free(c);
    c = run_tls("/cl", "other.test", 1, ca, 0, &res);
    TP_CHECK(c != NULL && res.has_err && strstr(res.err, "X509_BAD_SERVER_NAME") != NULL);
    tp_httpc_free(c);
    /* verifying with no anchors at all trusts nothing */
    c = run_tls("/cl", "up.test", 1, NULL, 0, &res);
    TP_CHECK(c != NULL && res.has_err && strstr(res.err, "X509_NOT_TRUSTED") != NULL);
    tp_httpc_free(c);

    /* a plain server never answers the ClientHello: connect_timeout_ms ends the wait */
    int saved = tls_port;
    tls_port = srv_port;
    uint64_t t0 = tp_now_ms();
    c = run_tls("/cl", NULL, 0, NULL, 100, &res);
    uint64_t took = tp_now_ms() - t0;
    TP_CHECK(c != NULL && res.has_err && strstr(res.err, "tls handshake with") != NULL);
    TP_CHECK(strstr(res.err, "timeout") != NULL && took >= 90 && took < 1000);
    tp_httpc_free(c);
    tls_port = saved;

    tp_tls_anchors_release(ca);
    tp_tls_anchors_release(other);
    tp_httpc_close_idle(loop);
    close_all_peers();
}

int main(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    srv_fd = listen_any();
    ev_io_init(&srv_io, on_accept, srv_fd, EV_READ);
    ev_io_start(loop, &srv_io);

    TP_RUN(test_content_length_and_headers);
    TP_RUN(test_request_bytes);
    TP_RUN(test_chunked_eof_head);
    TP_RUN(test_keepalive_pool);
    TP_RUN(test_idle_close_and_stale_retry);
    TP_RUN(test_errors);
    TP_RUN(test_ffi);

    char err[TP_ERR_LEN], chain[4096];
    snprintf(chain, sizeof(chain), "%s%s", TEST_UP_CRT, TEST_CA_CRT);
    tls_store = tp_tls_store_new();
    tp_tls_store_add(tls_store, chain, strlen(chain), TEST_UP_KEY, sizeof(TEST_UP_KEY) - 1, NULL,
                     0, NULL, 0, NULL, 0, err, sizeof(err));
    int saved = srv_port;
    tls_fd = listen_any();
    tls_port = srv_port;
    srv_port = saved;
    ev_io_init(&tls_io, on_accept, tls_fd, EV_READ);
    ev_io_start(loop, &tls_io);
    TP_RUN(test_https);
    ev_io_stop(loop, &tls_io);
    close(tls_fd);
    tp_tls_store_release(tls_store);

    tp_httpc_close_idle(loop);
    close_all_peers();
    ev_io_stop(loop, &srv_io);
    close(srv_fd);
    ev_loop_destroy(loop);
    return TP_TEST_REPORT();
}
