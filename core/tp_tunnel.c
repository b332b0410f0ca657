/*
 * tp_tunnel.c - owns upgraded connections. Once the upstream answered a client's
 * Upgrade request with 101 Switching Protocols (RFC 9110 section 7.8, RFC 6455
 * section 4), neither connection speaks HTTP any more: the client connection
 * (tp_http.c) and the upstream connection (tp_upstream.c) are taken over here and
 * bytes are copied both ways as they come, through either side's TLS engine.
 *
 * Back-pressure: a side is not read while what is queued for the other side is
 * above TUNNEL_HIGH_WATER; it is read again once that drained. The tunnel ends
 * when either side closes or fails (what is queued for the other side is written
 * first, as far as it goes), when no byte moved either way for the service's
 * read_timeout, or when the worker drains. Then both connections are closed (an
 * upgraded upstream connection is never pooled) and the request finishes: access
 * log and log phase, once, with status 101.
 */
#include "tp_tunnel.h"
#include "tp_http_int.h"
#include "tp_log.h"
#include "tp_tls.h"
#include "tp_upstream_int.h"

#include <sys/socket.h>

#define TUNNEL_CHUNK 65536
#define TUNNEL_HIGH_WATER (256 * 1024)

/* The two sides, as indexes: where bytes come from / go to. */
enum { CLIENT = 0, UPSTREAM = 1 };

struct tp_tunnel_s {
    tp_worker_t *w;
    tp_req_t *r;
    tp_conn_t *c;
    tp_upconn_t *u;
    ev_timer idle;
    int eof[2];    /* the side sent EOF: nothing more to read from it */
    int paused[2]; /* not reading the side: the other side's output is full */
};

static tp_buf_t *out_of(tp_tunnel_t *t, int side)
{
    return side == CLIENT ? &t->c->out : &t->u->out;
}

static ev_io *rio_of(tp_tunnel_t *t, int side)
{
    return side == CLIENT ? &t->c->rio : &t->u->rio;
}

static ev_io *wio_of(tp_tunnel_t *t, int side)
{
    return side == CLIENT ? &t->c->wio : &t->u->wio;
}

static tp_tls_conn_t *tls_of(tp_tunnel_t *t, int side)
{
    return side == CLIENT ? t->c->tls : t->u->tls;
}

static int fd_of(tp_tunnel_t *t, int side)
{
    return side == CLIENT ? t->c->fd : t->u->fd;
}

void tp_tunnel_close(tp_tunnel_t *t)
{
    tp_conn_t *c = t->c;
    tp_req_t *r = t->r;
    ev_timer_stop(t->w->loop, &t->idle);
    c->tunnel = NULL;
    if (c->tls)
        tp_tls_close(c->tls, c->fd); /* close_notify, if the socket takes it */
    tp_http__conn_close(c);
    tp_upstream__conn_free(t->u);
    free(t);
    tp_http__request_done(r);
}

/* Write what is queued for a side. Returns 0 when all is out, 1 while its socket
 * is full (the write watcher is on), -1 when the side failed. */
static int flush_to(tp_tunnel_t *t, int side)
{
    tp_buf_t *out = out_of(t, side);
    tp_tls_conn_t *tls = tls_of(t, side);
    struct ev_loop *loop = t->w->loop;
    while (tp_buf_size(out) > 0) {
        ssize_t n = side == CLIENT ? tp_http__conn_send(t->c, tp_buf_data(out), tp_buf_size(out))
                                   : tp_upstream__send(t->u, tp_buf_data(out), tp_buf_size(out));
        if (n > 0) {
            tp_buf_consume(out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* a TLS engine that takes nothing and has no records to send waits for
             * the peer's records: reading that side moves it on */
            if (tls == NULL || tp_tls_want_write(tls))
                ev_io_start(loop, wio_of(t, side));
            return 1;
        }
        return -1;
    }
    if (tls) {
        int rc = tp_tls_flush(tls, fd_of(t, side));
        if (rc < 0)
            return -1;
        if (rc > 0) {
            ev_io_start(loop, wio_of(t, side));
            return 1;
        }
    }
    ev_io_stop(loop, wio_of(t, side));
    return 0;
}

/* Read a side again; plaintext its TLS engine holds is fed by hand (the socket
 * will not say so). */
static void read_side(tp_tunnel_t *t, int side)
{
    t->paused[side] = 0;
    ev_io_start(t->w->loop, rio_of(t, side));
    tp_tls_conn_t *tls = tls_of(t, side);
    if (tls && tp_tls_has_plaintext(tls))
        ev_feed_event(t->w->loop, rio_of(t, side), EV_READ);
}

/* A side sent EOF or failed to read: stop reading it; the tunnel ends once what is
 * queued for the other side is out. */
static void side_ended(tp_tunnel_t *t, int side)
{
    t->eof[side] = 1;
    ev_io_stop(t->w->loop, rio_of(t, side));
    if (flush_to(t, !side) != 1)
        tp_tunnel_close(t);
}

/* Bytes from one side: queue them for the other and write them out. */
static void pump(tp_tunnel_t *t, int from)
{
    int to = !from;
    tp_buf_t *dst = out_of(t, to);
    if (tp_buf_size(dst) >= TUNNEL_HIGH_WATER) {
        t->paused[from] = 1;
        ev_io_stop(t->w->loop, rio_of(t, from));
        return;
    }
    char buf[TUNNEL_CHUNK];
    ssize_t n = from == CLIENT ? tp_http__conn_recv(t->c, buf, sizeof(buf))
                               : tp_upstream__recv(t->u, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        side_ended(t, from);
        return;
    }
    tp_buf_append(dst, buf, (size_t)n);
    if (from == CLIENT)
        t->r->body_received += (uint64_t)n;
    else
        t->r->bytes_sent += (uint64_t)n;
    ev_timer_again(t->w->loop, &t->idle);
    if (flush_to(t, to) < 0) {
        tp_tunnel_close(t);
        return;
    }
    if (tp_buf_size(dst) >= TUNNEL_HIGH_WATER) {
        t->paused[from] = 1;
        ev_io_stop(t->w->loop, rio_of(t, from));
    } else if (tls_of(t, from) && tp_tls_has_plaintext(tls_of(t, from))) {
        ev_feed_event(t->w->loop, rio_of(t, from), EV_READ); /* more than one chunk came */
    }
}

/* A side's socket takes bytes again. */
static void drain_to(tp_tunnel_t *t, int to)
{
    int rc = flush_to(t, to);
    if (rc < 0 || (rc == 0 && t->eof[!to])) {
        tp_tunnel_close(t); /* failed, or the last bytes of a side that closed are out */
        return;
    }
    if (t->paused[!to] && tp_buf_size(out_of(t, to)) < TUNNEL_HIGH_WATER)
        read_side(t, !to);
}

static void on_client_read(struct ev_loop *loop, ev_io *io, int revents)
{
    tp_conn_t *c = tp_container_of(io, tp_conn_t, rio);
    pump(c->tunnel, CLIENT);
}

static void on_client_write(struct ev_loop *loop, ev_io *io, int revents)
{
    tp_conn_t *c = tp_container_of(io, tp_conn_t, wio);
    drain_to(c->tunnel, CLIENT);
}

/* The upstream connection has no slot for the tunnel: its watchers' data pointer
 * carries it (tp_tunnel_start sets it). */
static void on_up_read(struct ev_loop *loop, ev_io *io, int revents)
{
    pump(io->data, UPSTREAM);
}

static void on_up_write(struct ev_loop *loop, ev_io *io, int revents)
{
    drain_to(io->data, UPSTREAM);
}

static void on_idle(struct ev_loop *loop, ev_timer *timer, int revents)
{
    tp_tunnel_t *t = tp_container_of(timer, tp_tunnel_t, idle);
    tp_log(TP_LOG_INFO, "tunnel from %s:%d to %s:%d: idle for %d ms, closed", t->r->client_ip,
           t->r->client_port, t->u->pool->host, t->u->pool->port, t->r->read_timeout_ms);
    tp_tunnel_close(t);
}

void tp_tunnel_start(tp_req_t *r, tp_upconn_t *u, const char *rest, size_t n)
{
    tp_conn_t *c = r->conn;
    struct ev_loop *loop = r->w->loop;
    tp_tunnel_t *t = tp_calloc(1, sizeof(*t));
    t->w = r->w;
    t->r = r;
    t->c = c;
    t->u = u;
    /* the request now belongs to the tunnel, not to either connection */
    r->up = NULL;
    u->req = NULL;
    c->req = NULL;
    r->conn = NULL;
    c->tunnel = t;

    tp_http__set_timer(c, 0);
    tp_http__end_upgrade_head(c);
    ev_set_cb(&c->rio, on_client_read);
    ev_set_cb(&c->wio, on_client_write);
    ev_timer_stop(loop, &u->timer);
    ev_timer_stop(loop, &u->resume);
    ev_set_cb(&u->rio, on_up_read);
    ev_set_cb(&u->wio, on_up_write);
    u->rio.data = t;
    u->wio.data = t;

    int ms = r->read_timeout_ms > 0 ? r->read_timeout_ms : 60000;
    ev_init(&t->idle, on_idle);
    t->idle.repeat = ms / 1000.0;
    ev_timer_again(loop, &t->idle);

    /* bytes that came right after either head go first */
    if (tp_buf_size(&c->in) > 0) {
        tp_buf_append(&u->out, tp_buf_data(&c->in), tp_buf_size(&c->in));
        r->body_received += tp_buf_size(&c->in);
        tp_buf_reset(&c->in);
    }
    if (n > 0) {
        tp_buf_append(&c->out, rest, n);
        r->bytes_sent += n;
    }
    c->reading_paused = 0;
    read_side(t, CLIENT);
    read_side(t, UPSTREAM);
    if (flush_to(t, UPSTREAM) < 0 || flush_to(t, CLIENT) < 0)
        tp_tunnel_close(t);
}
