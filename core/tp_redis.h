/*
 * tp_redis.h - Redis connections for plugins (turnpike.redis): a hiredis async
 * context on the caller's libev loop, AUTH and SELECT done on connect, one
 * command at a time per connection, every wait bounded by an ev_timer, and a
 * per-process keep-alive pool keyed by (host, port, password, database) (a
 * worker process runs one loop). A connection that saw an error or a timeout
 * is never pooled again; the next connect makes a new one.
 *
 * Replies are serialized into a compact buffer the Lua side decodes
 * (lua/turnpike/backend/io.lua):
 *   "+<len>\n<bytes>" status   "-<len>\n<bytes>" error   ":<int>\n" integer
 *   "$<len>\n<bytes>" bulk     "_" nil                   "*<n>\n" then n elements
 */
#ifndef TP_REDIS_H
#define TP_REDIS_H

#include "tp_buf.h"
#include "tp_req.h"

#include <ev.h>
#include <stddef.h>

typedef struct tp_redis_conn_s tp_redis_conn_t;
typedef struct tp_redis_handle_s tp_redis_handle_t;

/** Completion of a connect or a command: errstr is NULL on success (a Redis
 *  error reply is a success here: it is in the reply buffer). Runs from the
 *  loop, never from inside tp_redis_connect / tp_redis_command. */
typedef void (*tp_redis_cb)(tp_redis_conn_t *c, const char *errstr, void *arg);

typedef struct {
    const char *host; /* NUL-terminated */
    int port;
    const char *password; /* NULL or empty: no AUTH */
    size_t password_len;
    int database;   /* SELECT when > 0 */
    int timeout_ms; /* bounds connect (+AUTH, SELECT) and each command; <= 0 means 1 s */
} tp_redis_opts_t;

/** A connection for o. Returns 0 with *out set when a pooled one is ready (cb
 *  is not called); TP_AGAIN with *out set when cb will report the outcome (on
 *  failure the caller still releases *out); -1 with err when it cannot start. */
int tp_redis_connect(struct ev_loop *loop, const tp_redis_opts_t *o, tp_redis_cb cb, void *arg,
                     tp_redis_conn_t **out, char *err, size_t errlen);

/** Send one command (argv copied). The reply is serialized into out (reset
 *  first; out must outlive the call). Returns TP_AGAIN, or -1 with err when the
 *  connection is broken or busy. */
int tp_redis_command(tp_redis_conn_t *c, int argc, const char **argv, const size_t *lens,
                     tp_buf_t *out, tp_redis_cb cb, void *arg, char *err, size_t errlen);

/** Give a connection back: pooled when keepalive is set and it is healthy and
 *  idle, closed otherwise. A pending operation is cancelled (its cb never runs). */
void tp_redis_release(tp_redis_conn_t *c, int keepalive);

/** 1 while the connection can take commands. */
int tp_redis_ok(const tp_redis_conn_t *c);

/** Idle pooled connections on loop. */
int tp_redis_idle_count(struct ev_loop *loop);
/** Close every idle pooled connection on loop. */
void tp_redis_close_idle(struct ev_loop *loop);

/* ---- FFI (one pending operation per request; the handle lives in r->pool) ---- */

/** Connect for r. 0: ready at once (pooled); TP_AGAIN: yield, then ask
 *  tp_ffi_redis_connected; -1 with err. *out is set unless -1. */
int tp_ffi_redis_connect(tp_req_t *r, const char *host, int port, const char *password,
                         size_t password_len, int database, int timeout_ms,
                         tp_redis_handle_t **out, char *err, size_t errlen);
/** After the resume of a connect: 0, or -1 with err. */
int tp_ffi_redis_connected(tp_redis_handle_t *h, char *err, size_t errlen);
/** Send a command: TP_AGAIN (yield, then tp_ffi_redis_reply) or -1 with err. */
int tp_ffi_redis_command(tp_redis_handle_t *h, int argc, const char **argv, const size_t *lens,
                         char *err, size_t errlen);
/** After the resume of a command: the serialized reply (valid until the next
 *  command), or NULL with err (timeout, closed). */
const char *tp_ffi_redis_reply(tp_redis_handle_t *h, size_t *len, char *err, size_t errlen);
/** Pool (keepalive) or close the handle's connection; the handle is dead after. */
void tp_ffi_redis_release(tp_redis_handle_t *h, int keepalive);

#endif
