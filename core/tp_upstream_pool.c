/*
 * tp_upstream_pool.c - owns the per-worker keep-alive pools (one pool per target
 * host:port, and for https services per TLS name and trust anchors too, so plain,
 * unverified and verified connections never mix), the cached address of each
 * target, parking and reusing idle connections, and freeing a connection.
 */
#include "tp_upstream.h"
#include "tp_upstream_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <unistd.h>

#define RESOLVE_TTL_MS 30000

int tp_upstream__resolve(tp_uppool_t *p, char *err, size_t errlen)
{
    uint64_t now = tp_now_ms();
    if (p->addrlen && now - p->resolved_at < RESOLVE_TTL_MS)
        return 0;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    if (inet_pton(AF_INET, p->host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)p->port);
        memcpy(&p->addr, &sin, sizeof(sin));
        p->addrlen = sizeof(sin);
        p->resolved_at = now;
        return 0;
    }
    /* Names are resolved with the system resolver and cached; upstream hosts are
     * expected to be IPs or names in /etc/hosts (see README). */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16], host[sizeof(p->host)];
    snprintf(port, sizeof(port), "%d", p->port);
    /* "[::1]" as a service's host: the resolver takes the literal without brackets */
    size_t hlen = strlen(p->host);
    if (hlen >= 2 && p->host[0] == '[' && p->host[hlen - 1] == ']')
        snprintf(host, sizeof(host), "%.*s", (int)(hlen - 2), p->host + 1);
    else
        snprintf(host, sizeof(host), "%s", p->host);
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "resolve %s: %s", p->host, gai_strerror(rc));
        return -1;
    }
    memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
    p->addrlen = res->ai_addrlen;
    p->resolved_at = now;
    freeaddrinfo(res);
    return 0;
}

tp_uppool_t *tp_upstream__pool_find(tp_worker_t *w, const tp_target_t *t, int tls, const char *sni,
                                    uint64_t anchors_key)
{
    for (tp_uppool_t *p = w->pools; p; p = p->next)
        if (p->port == t->port && p->tls == tls && p->anchors_key == anchors_key &&
            strcmp(p->host, t->host) == 0 && strcmp(p->sni, sni) == 0)
            return p;
    tp_uppool_t *p = tp_calloc(1, sizeof(*p));
    snprintf(p->host, sizeof(p->host), "%s", t->host);
    snprintf(p->sni, sizeof(p->sni), "%s", sni);
    p->port = t->port;
    p->tls = tls;
    p->anchors_key = anchors_key;
    p->next = w->pools;
    w->pools = p;
    return p;
}

tp_upconn_t *tp_upstream__pool_take(tp_uppool_t *p)
{
    tp_upconn_t *u = p->idle;
    if (u) {
        p->idle = u->next_idle;
        p->nidle--;
    }
    return u;
}

void tp_upstream__pool_remove(tp_uppool_t *p, tp_upconn_t *u)
{
    tp_upconn_t **pp = &p->idle;
    while (*pp) {
        if (*pp == u) {
            *pp = u->next_idle;
            p->nidle--;
            return;
        }
        pp = &(*pp)->next_idle;
    }
}

static void on_idle_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_upconn_t *u = tp_container_of(t, tp_upconn_t, timer);
    tp_upstream__pool_remove(u->pool, u);
    tp_upstream__conn_free(u);
}

void tp_upstream__pool_release(tp_upconn_t *u)
{
    tp_worker_t *w = u->w;
    tp_uppool_t *p = u->pool;
    if (p->nidle >= w->node.upstream_keepalive || w->draining) {
        tp_upstream__conn_free(u);
        return;
    }
    /* the read watcher stays armed (no epoll change per request): on_up_read sees
     * that no request owns the connection and treats any event as its end */
    u->req = NULL;
    ev_io_stop(w->loop, &u->wio);
    ev_timer_stop(w->loop, &u->timer);
    tp_buf_reset(&u->out);
    ev_timer_stop(w->loop, &u->resume);
    if (!ev_is_active(&u->rio))
        ev_io_start(w->loop, &u->rio);
    ev_set_cb(&u->timer, on_idle_timeout);
    ev_timer_set(&u->timer, 60.0, 0.0);
    ev_timer_start(w->loop, &u->timer);
    u->next_idle = p->idle;
    p->idle = u;
    p->nidle++;
}

void tp_upstream_close_idle(tp_worker_t *w)
{
    for (tp_uppool_t *p = w->pools; p; p = p->next) {
        while (p->idle) {
            tp_upconn_t *u = p->idle;
            p->idle = u->next_idle;
            p->nidle--;
            tp_upstream__conn_free(u);
        }
    }
}

void tp_upstream__conn_free(tp_upconn_t *u)
{
    tp_worker_t *w = u->w;
    ev_timer_stop(w->loop, &u->resume);
    tp_evorder_forget(&w->evorder, &u->rio);
    ev_io_stop(w->loop, &u->rio);
    ev_io_stop(w->loop, &u->wio);
    ev_timer_stop(w->loop, &u->timer);
    if (u->tls && !u->handshaking && u->fd >= 0)
        tp_tls_close(u->tls, u->fd); /* close_notify, if the socket takes it */
    tp_tls_conn_free(u->tls);
    if (u->fd >= 0)
        close(u->fd);
    tp_buf_free(&u->out);
    tp_buf_free(&u->hname);
    tp_buf_free(&u->hvalue);
    free(u);
}
