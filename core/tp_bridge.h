/*
 * tp_bridge.h - the C side of the Lua runtime: generations (one lua_State with
 * the whole module tree and a validated config each), running a request's
 * phases in coroutines, and resuming them when their I/O completes.
 */
#ifndef TP_BRIDGE_H
#define TP_BRIDGE_H

#include "tp_buf.h"
#include "tp_req.h"
#include "tp_tls.h"
#include "tp_worker.h"

#include <lua.h>

#define TP_GEN_PARKED_MAX 256

struct tp_gen_s {
    lua_State *L;
    uint64_t number;
    uint64_t loaded_at_ms;
    int refs;          /* requests pinned to it, +1 while it is the current one */
    int fn_handle, fn_header_filter, fn_body_filter, fn_log, fn_timer, fn_activate; /* registry refs */
    int has_header_filter, has_body_filter, has_log;
    int fn_trampoline, fn_failed;
    int parked[TP_GEN_PARKED_MAX]; /* registry refs of coroutines waiting for a job */
    int nparked;
    tp_worker_t *w;
    tp_tls_store_t *tls; /* the config's certificates (NULL without any); one reference */
};

/** Build a generation from a config file: a fresh Lua state, config validated,
 *  router and plugins loaded, init_worker run. NULL with err on failure. */
tp_gen_t *tp_gen_load(tp_worker_t *w, const char *config_path, uint64_t number, char *err,
                      size_t errlen);
/** Drop one reference; the state is closed when none are left. */
void tp_gen_release(tp_gen_t *g);

/** Start rewrite/access for a request whose head was parsed. */
void tp_bridge_start(tp_req_t *r);
/** Resume the request's coroutine (its I/O completed). */
void tp_bridge_resume(tp_req_t *r);
/** The body a plugin asked for is complete. */
void tp_bridge_body_ready(tp_req_t *r);
/** header_filter phase (synchronous). */
void tp_bridge_header_filter(tp_req_t *r);
int tp_bridge_has_body_filter(tp_req_t *r);
/** body_filter phase for one chunk; the (possibly changed) chunk is appended to out. */
void tp_bridge_body_filter(tp_req_t *r, const char *data, size_t n, int eof, tp_buf_t *out);
/** Log phase, then the request is freed (possibly later, when Lua waits). */
void tp_bridge_log(tp_req_t *r);

/** Make g the worker's current generation and start its timers (Lua `activate`). */
void tp_gen_activate(tp_gen_t *g);

/** Run Lua `run_timer(r, id)` in a coroutine of r's generation; r is a pseudo-request. */
void tp_bridge_run_timer(tp_req_t *r, int id);
/** Free a request (its arena, buffers and generation reference). */
void tp_req_free(tp_req_t *r);

#endif
