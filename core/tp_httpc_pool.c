/*
 * tp_httpc_pool.c - owns the connections of the outbound client: opening one
 * (socket, non-blocking connect, a TLS client engine for https), closing one,
 * the per-process idle keep-alive pool (per loop, host, port, TLS, server name
 * and trust anchors; idle connections time out or are dropped when the server
 * closes them) and the small DNS cache.
 */
#include "tp_httpc.h"
#include "tp_httpc_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_IDLE_PER_HOST 32
#define IDLE_TIMEOUT_S 60.0
#define DNS_TTL_MS 30000
#define DNS_SLOTS 16

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

void tp_httpc__conn_close(conn_t *k)
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
    tp_httpc__conn_close(k);
}

static void on_idle_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    conn_t *k = tp_container_of(t, conn_t, idle_timer);
    idle_unlink(k);
    tp_httpc__conn_close(k);
}

void tp_httpc__idle_put(conn_t *k)
{
    int same = 0;
    for (conn_t *i = idle_head; i; i = i->next)
        same += conn_same_pool(i, k);
    if (same >= MAX_IDLE_PER_HOST) {
        tp_httpc__conn_close(k);
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

conn_t *tp_httpc__idle_take(tp_httpc_call_t *c)
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
            tp_httpc__conn_close(k);
        }
        k = next;
    }
    memset(dns_cache, 0, sizeof(dns_cache));
}

/* A fresh non-blocking connection; 0, or -errno with err filled. */
int tp_httpc__conn_open(tp_httpc_call_t *c, conn_t **out, char *err, size_t errlen)
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
            tp_httpc__conn_close(k);
            return -EPROTO;
        }
        k->verify = c->verify;
        k->akey = c->akey_want;
        snprintf(k->sni, sizeof(k->sni), "%s", c->sni);
    }
    *out = k;
    return 0;
}
