/*
 * tp_redis.c - owns Redis connections: hiredis async contexts attached to the
 * loop with hiredis's libev adapter, the connect sequence (TCP, AUTH, SELECT),
 * commands sent with redisAsyncCommandArgv, reply serialization, timeouts, and
 * the keep-alive pool. The FFI wrappers at the end tie a connection to a request.
 *
 * Re-entrancy: hiredis calls us from inside its read handler and while it frees
 * a context. We never hand a result to the owner from there: the result is
 * recorded and delivered from the connection's timer on the next loop turn, so
 * an owner may send, release or close without hiredis on the stack.
 */
#include "tp_redis.h"
#include "tp_bridge.h"
#include "tp_log.h"
#include "tp_util.h"

#include <hiredis.h>
#include <async.h>
#include <adapters/libev.h>
#include <stdio.h>

#define DEFAULT_TIMEOUT_MS 1000
#define IDLE_TIMEOUT_S 60.0
#define MAX_IDLE_PER_KEY 32

enum { ST_CONNECTING = 0, ST_AUTH, ST_SELECT, ST_READY, ST_BROKEN };
enum { T_NONE = 0, T_OP, T_DELIVER, T_IDLE };

struct tp_redis_conn_s {
    struct ev_loop *loop;
    redisAsyncContext *ac; /* NULL once hiredis let go of it */
    char host[256];
    int port;
    char *password;
    size_t pwlen;
    int db;
    int timeout_ms;
    int state;
    int busy; /* an operation is pending; cb/arg/out describe it */
    tp_redis_cb cb;
    void *arg;
    tp_buf_t *out;
    ev_timer timer;
    int timer_kind;
    int failed;
    char err[TP_ERR_LEN];
    struct tp_redis_conn_s *prev, *next; /* idle list */
    int idle;
};

/* Idle pooled connections. Per process: a worker process runs one loop, and
 * each entry remembers its loop. */
static tp_redis_conn_t *idle_head;

static void conn_destroy(tp_redis_conn_t *c);

/* ---- reply serialization ---------------------------------------------------- */

static void put_string(tp_buf_t *b, char tag, const char *s, size_t n)
{
    tp_buf_appendf(b, "%c%zu\n", tag, n);
    tp_buf_append(b, s, n);
}

static void serialize(tp_buf_t *b, const redisReply *r)
{
    switch (r->type) {
    case REDIS_REPLY_STATUS:
        put_string(b, '+', r->str, r->len);
        break;
    case REDIS_REPLY_ERROR:
        put_string(b, '-', r->str, r->len);
        break;
    case REDIS_REPLY_STRING:
        put_string(b, '$', r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        tp_buf_appendf(b, ":%lld\n", r->integer);
        break;
    case REDIS_REPLY_ARRAY:
        tp_buf_appendf(b, "*%zu\n", r->elements);
        for (size_t i = 0; i < r->elements; i++)
            serialize(b, r->element[i]);
        break;
    default:
        tp_buf_append(b, "_", 1);
        break;
    }
}

/* ---- the idle pool ---------------------------------------------------------- */

static int same_key(const tp_redis_conn_t *c, struct ev_loop *loop, const tp_redis_opts_t *o)
{
    size_t pwlen = o->password ? o->password_len : 0;
    return c->loop == loop && c->port == o->port && c->db == o->database &&
           strcmp(c->host, o->host) == 0 && c->pwlen == pwlen &&
           (pwlen == 0 || memcmp(c->password, o->password, pwlen) == 0);
}

static void idle_unlink(tp_redis_conn_t *c)
{
    if (!c->idle)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    c->idle = 0;
    ev_timer_stop(c->loop, &c->timer);
    c->timer_kind = T_NONE;
}

static void set_timer(tp_redis_conn_t *c, int kind, double seconds)
{
    ev_timer_stop(c->loop, &c->timer);
    c->timer_kind = kind;
    ev_timer_set(&c->timer, seconds, 0.0);
    ev_timer_start(c->loop, &c->timer);
}

static void idle_put(tp_redis_conn_t *c)
{
    c->idle = 1;
    c->prev = NULL;
    c->next = idle_head;
    if (idle_head)
        idle_head->prev = c;
    idle_head = c;
    set_timer(c, T_IDLE, IDLE_TIMEOUT_S);
}

int tp_redis_idle_count(struct ev_loop *loop)
{
    int n = 0;
    for (tp_redis_conn_t *c = idle_head; c; c = c->next)
        n += c->loop == loop;
    return n;
}

void tp_redis_close_idle(struct ev_loop *loop)
{
    tp_redis_conn_t *c = idle_head;
    while (c) {
        tp_redis_conn_t *next = c->next;
        if (c->loop == loop) {
            idle_unlink(c);
            conn_destroy(c);
        }
        c = next;
    }
}

/* ---- state changes ---------------------------------------------------------- */

/* Record the outcome of the pending operation; the timer delivers it. */
static void complete(tp_redis_conn_t *c, const char *errstr)
{
    if (!c->busy || c->timer_kind == T_DELIVER)
        return;
    c->failed = errstr != NULL;
    if (errstr != NULL)
        snprintf(c->err, sizeof(c->err), "%s", errstr);
    set_timer(c, T_DELIVER, 0.0);
}

/* The connection cannot be used any more: drop the hiredis context. Safe from
 * our own callbacks only when hiredis already let go (c->ac == NULL). */
static void mark_broken(tp_redis_conn_t *c)
{
    c->state = ST_BROKEN;
    redisAsyncContext *ac = c->ac;
    if (ac != NULL) {
        c->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac); /* runs our callbacks with NULL replies: they see ST_BROKEN */
    }
}

static void conn_destroy(tp_redis_conn_t *c)
{
    mark_broken(c);
    ev_timer_stop(c->loop, &c->timer);
    free(c->password);
    free(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_redis_conn_t *c = tp_container_of(t, tp_redis_conn_t, timer);
    int kind = c->timer_kind;
    c->timer_kind = T_NONE;
    if (kind == T_IDLE) {
        idle_unlink(c);
        conn_destroy(c);
        return;
    }
    if (kind == T_OP) {
        /* a late reply would be taken for the next command's: the connection goes */
        mark_broken(c);
        c->failed = 1;
        snprintf(c->err, sizeof(c->err), "timeout");
    }
    if (!c->busy)
        return;
    c->busy = 0;
    c->cb(c, c->failed ? c->err : NULL, c->arg); /* may send, release or free c */
}

/* ---- hiredis callbacks ------------------------------------------------------ */

static const char *ac_error(const redisAsyncContext *ac)
{
    return ac && ac->errstr[0] ? ac->errstr : "closed";
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    tp_redis_conn_t *c = ac->data;
    if (c == NULL)
        return; /* we freed it ourselves */
    c->ac = NULL; /* hiredis frees it after this returns */
    c->state = ST_BROKEN;
    if (c->idle) {
        idle_unlink(c);
        conn_destroy(c);
        return;
    }
    complete(c, status == REDIS_OK ? "closed" : ac_error(ac));
}

static void send_setup(tp_redis_conn_t *c);

static void on_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    tp_redis_conn_t *c = privdata;
    redisReply *r = reply;
    if (c->state == ST_BROKEN)
        return;
    if (r == NULL) {
        complete(c, ac_error(ac));
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char msg[TP_ERR_LEN];
        snprintf(msg, sizeof(msg), "%s: %.*s", c->state == ST_AUTH ? "auth" : "select",
                 (int)r->len, r->str);
        complete(c, msg);
        c->state = ST_BROKEN; /* released by the owner after it hears about it */
        return;
    }
    c->state = c->state == ST_AUTH && c->db > 0 ? ST_SELECT : ST_READY;
    send_setup(c);
}

/* Next step of the connect sequence: AUTH, SELECT, or done. */
static void send_setup(tp_redis_conn_t *c)
{
    char dbstr[16];
    const char *argv[2];
    size_t lens[2];
    if (c->state == ST_AUTH) {
        argv[0] = "AUTH", lens[0] = 4;
        argv[1] = c->password, lens[1] = c->pwlen;
    } else if (c->state == ST_SELECT) {
        snprintf(dbstr, sizeof(dbstr), "%d", c->db);
        argv[0] = "SELECT", lens[0] = 6;
        argv[1] = dbstr, lens[1] = strlen(dbstr);
    } else {
        ev_timer_stop(c->loop, &c->timer);
        c->timer_kind = T_NONE;
        complete(c, NULL);
        return;
    }
    if (redisAsyncCommandArgv(c->ac, on_setup_reply, c, 2, argv, lens) != REDIS_OK)
        complete(c, ac_error(c->ac));
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    tp_redis_conn_t *c = ac->data;
    if (c == NULL || c->state == ST_BROKEN)
        return;
    if (status != REDIS_OK) {
        char msg[TP_ERR_LEN];
        snprintf(msg, sizeof(msg), "connect to %s:%d: %s", c->host, c->port, ac_error(ac));
        c->ac = NULL; /* hiredis frees it after this returns */
        c->state = ST_BROKEN;
        complete(c, msg);
        return;
    }
    c->state = c->pwlen > 0 ? ST_AUTH : c->db > 0 ? ST_SELECT : ST_READY;
    send_setup(c);
}

static void on_command_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    tp_redis_conn_t *c = privdata;
    if (c->state == ST_BROKEN && c->ac == NULL)
        return; /* we dropped the context ourselves (timeout, release) */
    if (reply == NULL) {
        complete(c, ac_error(ac)); /* hiredis is failing the connection */
        return;
    }
    ev_timer_stop(c->loop, &c->timer);
    c->timer_kind = T_NONE;
    serialize(c->out, reply);
    complete(c, NULL);
}

/* ---- public API ------------------------------------------------------------- */

static void begin(tp_redis_conn_t *c, tp_redis_cb cb, void *arg, tp_buf_t *out)
{
    c->busy = 1;
    c->failed = 0;
    c->err[0] = '\0';
    c->cb = cb;
    c->arg = arg;
    c->out = out;
    set_timer(c, T_OP, c->timeout_ms / 1000.0);
}

static tp_redis_conn_t *idle_take(struct ev_loop *loop, const tp_redis_opts_t *o)
{
    for (tp_redis_conn_t *c = idle_head; c; c = c->next) {
        if (same_key(c, loop, o) && c->state == ST_READY) {
            idle_unlink(c);
            return c;
        }
    }
    return NULL;
}

int tp_redis_connect(struct ev_loop *loop, const tp_redis_opts_t *o, tp_redis_cb cb, void *arg,
                     tp_redis_conn_t **out, char *err, size_t errlen)
{
    int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    tp_redis_conn_t *c = idle_take(loop, o);
    if (c != NULL) {
        c->timeout_ms = timeout_ms;
        *out = c;
        return 0;
    }
    if (strlen(o->host) >= sizeof(c->host)) {
        snprintf(err, errlen, "redis host too long");
        return -1;
    }
    redisAsyncContext *ac = redisAsyncConnect(o->host, o->port);
    if (ac == NULL || ac->err) {
        snprintf(err, errlen, "connect to %s:%d: %s", o->host, o->port,
                 ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return -1;
    }
    c = tp_calloc(1, sizeof(*c));
    c->loop = loop;
    c->ac = ac;
    snprintf(c->host, sizeof(c->host), "%s", o->host);
    c->port = o->port;
    c->pwlen = o->password ? o->password_len : 0;
    c->password = c->pwlen ? tp_strndup(o->password, c->pwlen) : NULL;
    c->db = o->database;
    c->timeout_ms = timeout_ms;
    c->state = ST_CONNECTING;
    ev_init(&c->timer, on_timer);
    ac->data = c;
    redisLibevAttach(loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    begin(c, cb, arg, NULL);
    *out = c;
    return TP_AGAIN;
}

int tp_redis_command(tp_redis_conn_t *c, int argc, const char **argv, const size_t *lens,
                     tp_buf_t *out, tp_redis_cb cb, void *arg, char *err, size_t errlen)
{
    if (c->busy) {
        snprintf(err, errlen, "connection busy");
        return -1;
    }
    if (c->state != ST_READY || c->ac == NULL) {
        snprintf(err, errlen, "%s", c->err[0] ? c->err : "closed");
        return -1;
    }
    if (argc < 1) {
        snprintf(err, errlen, "empty command");
        return -1;
    }
    tp_buf_reset(out);
    if (redisAsyncCommandArgv(c->ac, on_command_reply, c, argc, argv, lens) != REDIS_OK) {
        snprintf(err, errlen, "%s", ac_error(c->ac));
        mark_broken(c);
        return -1;
    }
    begin(c, cb, arg, out);
    return TP_AGAIN;
}

void tp_redis_release(tp_redis_conn_t *c, int keepalive)
{
    if (c == NULL)
        return;
    tp_redis_opts_t key = {c->host, c->port, c->password, c->pwlen, c->db, 0};
    int same = 0;
    for (tp_redis_conn_t *i = idle_head; i; i = i->next)
        same += same_key(i, c->loop, &key);
    if (keepalive && !c->busy && c->state == ST_READY && c->ac != NULL &&
        same < MAX_IDLE_PER_KEY) {
        idle_put(c);
        return;
    }
    conn_destroy(c);
}

int tp_redis_ok(const tp_redis_conn_t *c)
{
    return c->state == ST_READY && c->ac != NULL;
}

/* ---- FFI: a connection tied to a request ------------------------------------ */

/* Lives in the request's pool: Lua's pointer stays valid for the request's life. */
struct tp_redis_handle_s {
    tp_req_t *r;
    tp_redis_conn_t *c;
    tp_buf_t reply;
    int failed;
    char err[TP_ERR_LEN];
};

static void on_ffi_done(tp_redis_conn_t *c, const char *errstr, void *arg)
{
    tp_redis_handle_t *h = arg;
    h->failed = errstr != NULL;
    if (errstr != NULL)
        snprintf(h->err, sizeof(h->err), "%s", errstr);
    /* resumed even when the client left: its Lua finishes normally */
    tp_bridge_resume(h->r);
}

/* The request is being freed: a connection Lua did not give back is pooled
 * when it is idle and healthy, closed otherwise (cancelling what is pending). */
static void on_pool_free(void *arg)
{
    tp_redis_handle_t *h = arg;
    tp_redis_release(h->c, 1);
    h->c = NULL;
    tp_buf_free(&h->reply);
}

int tp_ffi_redis_connect(tp_req_t *r, const char *host, int port, const char *password,
                         size_t password_len, int database, int timeout_ms,
                         tp_redis_handle_t **out, char *err, size_t errlen)
{
    tp_redis_handle_t *h = tp_pool_alloc(r->pool, sizeof(*h));
    memset(h, 0, sizeof(*h));
    h->r = r;
    tp_redis_opts_t o = {host, port, password, password_len, database, timeout_ms};
    int rc = tp_redis_connect(r->w->loop, &o, on_ffi_done, h, &h->c, err, errlen);
    if (rc < 0)
        return -1;
    tp_pool_on_free(r->pool, on_pool_free, h);
    *out = h;
    if (rc == TP_AGAIN)
        r->wait = TP_WAIT_IO;
    return rc;
}

int tp_ffi_redis_connected(tp_redis_handle_t *h, char *err, size_t errlen)
{
    if (h->c == NULL || h->failed) {
        snprintf(err, errlen, "%s", h->failed ? h->err : "closed");
        return -1;
    }
    return 0;
}

int tp_ffi_redis_command(tp_redis_handle_t *h, int argc, const char **argv, const size_t *lens,
                         char *err, size_t errlen)
{
    if (h->c == NULL) {
        snprintf(err, errlen, "closed");
        return -1;
    }
    h->failed = 0;
    int rc = tp_redis_command(h->c, argc, argv, lens, &h->reply, on_ffi_done, h, err, errlen);
    if (rc == TP_AGAIN)
        h->r->wait = TP_WAIT_IO;
    return rc;
}

const char *tp_ffi_redis_reply(tp_redis_handle_t *h, size_t *len, char *err, size_t errlen)
{
    if (h->failed) {
        snprintf(err, errlen, "%s", h->err);
        return NULL;
    }
    *len = tp_buf_size(&h->reply);
    return tp_buf_data(&h->reply);
}

void tp_ffi_redis_release(tp_redis_handle_t *h, int keepalive)
{
    tp_redis_release(h->c, keepalive);
    h->c = NULL;
}
