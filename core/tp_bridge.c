/*
 * tp_bridge.c - owns generations (lua_States) and the coroutines that run a
 * request's Lua phases. Lua entry points live in lua/turnpike/worker.lua:
 *   init(config_path, generation, worker_index) -> true | nil, err
 *   handle(r)        rewrite + access (coroutine; may yield)
 *   header_filter(r) body_filter(r, chunk, eof) -> chunk   (plain calls; no yield)
 *   log(r)           log phase and release of the request's Lua state (coroutine)
 *   has_phase(name)  does any plugin implement it
 *   failed(r, stage, err) -> 0 | 1 | 2  an error escaped one of the above (see phase_failed)
 * A coroutine that waits for I/O yields; whoever completes the I/O calls
 * tp_bridge_resume(r).
 */
#include "tp_bridge.h"
#include "tp_cache.h"
#include "tp_http.h"
#include "tp_log.h"
#include "tp_lua.h"
#include "tp_util.h"

#include <lauxlib.h>
#include <stdio.h>

static void req_free(tp_req_t *r);

/* Requests go to Lua as numbers (their address): LuaJIT compiles a cast from a
 * number to tp_req_t*, but not one from a lightuserdata. */
static void push_req(lua_State *L, tp_req_t *r)
{
    lua_pushnumber(L, (lua_Number)(uintptr_t)r);
}

/* The request whose Lua runs right now (set around every resume and filter call;
 * one worker runs one Lua call at a time). Lua asks for it with tp_ffi_current. */
static tp_req_t *current_req;

double tp_ffi_current(void)
{
    return (double)(uintptr_t)current_req;
}

/* What the trampoline yields when a job is over: its address is the sentinel. */
static const char job_done = 0;
#define DONE_ADDR ((void *)&job_done)
void tp_timer_done(tp_req_t *r);

static int ref_field(lua_State *L, int tbl, const char *name)
{
    lua_getfield(L, tbl, name);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1);
        return LUA_NOREF;
    }
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int call_has_phase(lua_State *L, int tbl, const char *phase)
{
    lua_getfield(L, tbl, "has_phase");
    lua_pushstring(L, phase);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        lua_pop(L, 1);
        return 1;
    }
    int yes = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return yes;
}

/* String field `name` of the table on top of the stack (NULL when absent). */
static const char *opt_lstring(lua_State *L, const char *name, size_t *len)
{
    lua_getfield(L, -1, name);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
    lua_pop(L, 1); /* the string stays alive in the table */
    if (s == NULL)
        *len = 0;
    return s;
}

/* One certificate entity (table on top of the stack) into the store. */
static int add_certificate(lua_State *L, tp_tls_store_t *s, int i, char *err, size_t errlen)
{
    size_t clen, klen, calen, kalen;
    const char *cert = opt_lstring(L, "cert", &clen);
    const char *key = opt_lstring(L, "key", &klen);
    const char *cert_alt = opt_lstring(L, "cert_alt", &calen);
    const char *key_alt = opt_lstring(L, "key_alt", &kalen);
    const char *snis[64];
    int nsnis = 0;
    lua_getfield(L, -1, "snis");
    int n = lua_istable(L, -1) ? (int)lua_objlen(L, -1) : 0;
    for (int j = 1; j <= n && nsnis < (int)tp_countof(snis); j++) {
        lua_rawgeti(L, -1, j);
        if (lua_type(L, -1) == LUA_TSTRING)
            snis[nsnis++] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    char why[TP_ERR_LEN];
    int rc = tp_tls_store_add(s, cert ? cert : "", clen, key ? key : "", klen, cert_alt, calen,
                              key_alt, kalen, snis, nsnis, why, sizeof(why));
    lua_pop(L, 1);
    if (rc < 0)
        snprintf(err, errlen, "certificates[%d]: %s", i, why);
    return rc < 0 ? -1 : 0;
}

/* The generation's certificate store, from Lua `certificates()` of turnpike.worker
 * (module table at index mod). NULL store and 0 when the config has none. */
static int load_certificates(lua_State *L, int mod, tp_gen_t *g, char *err, size_t errlen)
{
    lua_getfield(L, mod, "certificates");
    if (!lua_isfunction(L, -1) || lua_pcall(L, 0, 1, 0) != 0 || !lua_istable(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    int n = (int)lua_objlen(L, -1);
    for (int i = 1; i <= n; i++) {
        if (g->tls == NULL)
            g->tls = tp_tls_store_new();
        lua_rawgeti(L, -1, i);
        int rc = lua_istable(L, -1) ? add_certificate(L, g->tls, i, err, errlen) : 0;
        lua_pop(L, 1);
        if (rc < 0) {
            lua_pop(L, 1);
            return -1;
        }
    }
    lua_pop(L, 1);
    /* a config posted without a `turnpike:` block keeps the node's listeners */
    for (int i = 0; g->w && g->tls == NULL && i < g->w->node.nlisten; i++) {
        if (g->w->node.listen[i].ssl) {
            snprintf(err, errlen, "proxy_listen: '%s:%d ssl' needs at least one entry in "
                     "certificates", g->w->node.listen[i].host, g->w->node.listen[i].port);
            return -1;
        }
    }
    return 0;
}

tp_gen_t *tp_gen_load(tp_worker_t *w, const char *config_path, uint64_t number, char *err,
                      size_t errlen)
{
    lua_State *L = tp_lua_new_state(err, errlen);
    if (L == NULL)
        return NULL;
    lua_getglobal(L, "require");
    lua_pushstring(L, "turnpike.worker");
    if (lua_pcall(L, 1, 1, 0) != 0) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        lua_close(L);
        return NULL;
    }
    int mod = lua_gettop(L);
    lua_getfield(L, mod, "init");
    lua_pushstring(L, config_path);
    lua_pushnumber(L, (lua_Number)number);
    lua_pushinteger(L, w ? w->index : 0);
    lua_pushlightuserdata(L, DONE_ADDR);
    if (lua_pcall(L, 4, 2, 0) != 0 || lua_isnil(L, -2)) {
        snprintf(err, errlen, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "load failed");
        lua_close(L);
        return NULL;
    }
    lua_pop(L, 2);
    tp_gen_t *g = tp_calloc(1, sizeof(*g));
    g->L = L;
    g->w = w;
    g->number = number;
    g->loaded_at_ms = tp_wall_ms();
    g->refs = 1;
    g->fn_handle = ref_field(L, mod, "handle");
    g->fn_header_filter = ref_field(L, mod, "header_filter");
    g->fn_body_filter = ref_field(L, mod, "body_filter");
    g->fn_log = ref_field(L, mod, "log");
    g->fn_timer = ref_field(L, mod, "run_timer");
    g->fn_trampoline = ref_field(L, mod, "trampoline");
    g->fn_failed = ref_field(L, mod, "failed");
    lua_getfield(L, mod, "activate");
    g->fn_activate = luaL_ref(L, LUA_REGISTRYINDEX);
    g->has_header_filter = call_has_phase(L, mod, "header_filter");
    g->has_body_filter = call_has_phase(L, mod, "body_filter");
    g->has_log = call_has_phase(L, mod, "log");
    if (load_certificates(L, mod, g, err, errlen) < 0) {
        g->refs = 0;
        tp_tls_store_release(g->tls);
        lua_close(L);
        free(g);
        return NULL;
    }
    lua_settop(L, 0);
    return g;
}

void tp_gen_release(tp_gen_t *g)
{
    if (g == NULL || --g->refs > 0)
        return;
    tp_log(TP_LOG_INFO, "generation %llu released", (unsigned long long)g->number);
    lua_close(g->L);
    tp_tls_store_release(g->tls); /* connections still using it hold their own references */
    free(g);
}

/* ---- coroutines ------------------------------------------------------------ */

/* Give the request's coroutine back: parked for the next job when it finished one
 * cleanly, dropped after an error (a dead coroutine cannot be resumed). */
static void release_coroutine(tp_req_t *r, int reusable)
{
    if (r->co_ref == LUA_NOREF || r->co_ref == LUA_REFNIL)
        return;
    tp_gen_t *g = r->gen;
    if (reusable && g->nparked < TP_GEN_PARKED_MAX)
        g->parked[g->nparked++] = r->co_ref;
    else
        luaL_unref(g->L, LUA_REGISTRYINDEX, r->co_ref);
    r->co_ref = LUA_NOREF;
}

static void phase_finished(tp_req_t *r)
{
    if (r->timer) {
        tp_timer_done(r);
        return;
    }
    if (r->state == TP_REQ_LOG) {
        req_free(r);
        return;
    }
    tp_http_on_lua_done(r);
}

/* What to do after an error escaped a Lua entry point of r's (plugins run without a pcall of
 * their own: see lua/turnpike/runner.lua). worker.failed logs a plugin's error naming the
 * plugin and phase; anything else is logged here. Returns 1 when the phase is to be entered
 * again (the plugins after the failing one still run: header_filter, body_filter, log). */
enum { FAILED_UNHANDLED = 0, FAILED_LOGGED = 1, FAILED_AGAIN = 2 };

static int phase_failed(tp_req_t *r, const char *stage, const char *err)
{
    lua_State *L = r->gen->L;
    int top = lua_gettop(L);
    int verdict = FAILED_UNHANDLED;
    if (r->gen->fn_failed != LUA_NOREF) {
        tp_req_t *prev = current_req;
        current_req = r;
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->gen->fn_failed);
        push_req(L, r);
        lua_pushstring(L, stage);
        lua_pushstring(L, err);
        if (lua_pcall(L, 3, 1, 0) == 0)
            verdict = (int)lua_tointeger(L, -1);
        else
            tp_log(TP_LOG_ERR, "[request %s] worker.failed: %s", tp_req_id(r), lua_tostring(L, -1));
        current_req = prev;
    }
    lua_settop(L, top);
    if (verdict == FAILED_UNHANDLED)
        tp_log(TP_LOG_ERR, "[request %s] lua error in %s: %s", tp_req_id(r), stage, err);
    return verdict == FAILED_AGAIN;
}

static void start_coroutine(tp_req_t *r, int fn_ref);

/* Resume co with nargs already pushed; deal with waiting, a finished job, errors. */
static void run(tp_req_t *r, lua_State *co, int nargs)
{
    tp_req_t *prev = current_req;
    current_req = r;
    int rc = lua_resume(co, nargs);
    current_req = prev;
    if (rc == LUA_YIELD) {
        int done = lua_gettop(co) == 1 && lua_touserdata(co, 1) == DONE_ADDR;
        lua_settop(co, 0);
        if (!done)
            return; /* waiting: the I/O it started will resume it */
        release_coroutine(r, 1);
        phase_finished(r);
        return;
    }
    /* the trampoline never returns: this is an error, and the coroutine is dead */
    lua_State *L = r->gen->L;
    const char *msg = lua_tostring(co, -1);
    luaL_traceback(L, co, msg ? msg : "(error object is not a string)", 0);
    const char *stage = r->timer ? "timer" : r->state == TP_REQ_LOG ? "log" : "handle";
    int again = phase_failed(r, stage, lua_tostring(L, -1));
    lua_pop(L, 1);
    release_coroutine(r, 0);
    if (again && r->state == TP_REQ_LOG) {
        start_coroutine(r, r->gen->fn_log); /* the other plugins still log */
        return;
    }
    if (r->state != TP_REQ_LOG && !r->timer) {
        r->resp_source = TP_SRC_ERROR;
        r->status = 500;
        tp_buf_reset(&r->exit_body);
        tp_buf_appendf(&r->exit_body, "{\"message\":\"An unexpected error occurred\"}");
    }
    phase_finished(r);
}

/* A parked coroutine (or a new one, parked by running the trampoline once). */
static lua_State *take_coroutine(tp_req_t *r)
{
    tp_gen_t *g = r->gen;
    lua_State *L = g->L;
    if (g->nparked > 0) {
        r->co_ref = g->parked[--g->nparked];
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->co_ref);
        lua_State *co = lua_tothread(L, -1);
        lua_pop(L, 1);
        return co;
    }
    lua_State *co = lua_newthread(L);
    r->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_rawgeti(co, LUA_REGISTRYINDEX, g->fn_trampoline);
    if (lua_resume(co, 0) != LUA_YIELD) {
        tp_log(TP_LOG_ERR, "coroutine trampoline failed: %s", lua_tostring(co, -1));
        luaL_unref(L, LUA_REGISTRYINDEX, r->co_ref);
        r->co_ref = LUA_NOREF;
        return NULL;
    }
    lua_settop(co, 0);
    return co;
}

static void start_coroutine(tp_req_t *r, int fn_ref)
{
    lua_State *co = take_coroutine(r);
    if (co == NULL) {
        r->resp_source = TP_SRC_ERROR;
        r->status = 500;
        phase_finished(r);
        return;
    }
    lua_rawgeti(co, LUA_REGISTRYINDEX, fn_ref);
    push_req(co, r);
    run(r, co, 2);
}

void tp_bridge_start(tp_req_t *r)
{
    tp_gen_t *g = r->w->gen;
    r->gen = g;
    g->refs++;
    r->lua_ctx = 1;
    start_coroutine(r, g->fn_handle);
}

void tp_bridge_run_timer(tp_req_t *r, int id)
{
    lua_State *co = take_coroutine(r);
    if (co == NULL) {
        phase_finished(r);
        return;
    }
    lua_rawgeti(co, LUA_REGISTRYINDEX, r->gen->fn_timer);
    push_req(co, r);
    lua_pushinteger(co, id);
    run(r, co, 3);
}

void tp_gen_activate(tp_gen_t *g)
{
    lua_State *L = g->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, g->fn_activate);
    lua_pushlightuserdata(L, g);
    if (lua_pcall(L, 1, 0, 0) != 0)
        tp_log(TP_LOG_ERR, "generation %llu: starting timers: %s", (unsigned long long)g->number,
               lua_tostring(L, -1));
    lua_settop(L, 0);
}

void tp_bridge_resume(tp_req_t *r)
{
    if (r->co_ref == LUA_NOREF)
        return;
    r->wait = TP_WAIT_NONE;
    lua_State *L = r->gen->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->co_ref);
    lua_State *co = lua_tothread(L, -1);
    lua_pop(L, 1);
    run(r, co, 0);
}

void tp_bridge_body_ready(tp_req_t *r)
{
    if (r->wait == TP_WAIT_BODY)
        tp_bridge_resume(r);
}

/* ---- filters (plain calls in the generation's main thread) --------------------- */

static int pcall_traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* A plugin that fails in a filter is logged by phase_failed and the filter is entered again
 * for the plugins after it: at most once a plugin, with a bound for safety. */
#define FILTER_RETRIES_MAX 64

void tp_bridge_header_filter(tp_req_t *r)
{
    if (r->gen == NULL || !r->gen->has_header_filter)
        return;
    lua_State *L = r->gen->L;
    for (int attempt = 0; attempt < FILTER_RETRIES_MAX; attempt++) {
        lua_pushcfunction(L, pcall_traceback);
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->gen->fn_header_filter);
        push_req(L, r);
        tp_req_t *prev = current_req;
        current_req = r;
        int rc = lua_pcall(L, 1, 0, -3);
        current_req = prev;
        int again = rc != 0 && phase_failed(r, "header_filter", lua_tostring(L, -1));
        lua_settop(L, 0);
        if (!again)
            return;
    }
}

int tp_bridge_has_body_filter(tp_req_t *r)
{
    return r->gen != NULL && r->gen->has_body_filter;
}

void tp_bridge_body_filter(tp_req_t *r, const char *data, size_t n, int eof, tp_buf_t *out)
{
    lua_State *L = r->gen->L;
    for (int attempt = 0; attempt < FILTER_RETRIES_MAX; attempt++) {
        lua_pushcfunction(L, pcall_traceback);
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->gen->fn_body_filter);
        push_req(L, r);
        lua_pushlstring(L, data ? data : "", n);
        lua_pushboolean(L, eof);
        tp_req_t *prev = current_req;
        current_req = r;
        int rc = lua_pcall(L, 3, 1, -5);
        current_req = prev;
        if (rc == 0) {
            if (lua_isstring(L, -1)) {
                size_t len;
                const char *s = lua_tolstring(L, -1, &len);
                tp_buf_append(out, s, len);
            }
            lua_settop(L, 0);
            return;
        }
        int again = phase_failed(r, "body_filter", lua_tostring(L, -1));
        lua_settop(L, 0);
        if (!again)
            break;
    }
    tp_buf_append(out, data, n); /* the chunk as it came */
}

/* ---- end of a request ---------------------------------------------------------- */

void tp_bridge_log(tp_req_t *r)
{
    if (r->gen == NULL || !r->lua_ctx) {
        req_free(r);
        return;
    }
    if (r->co_ref != LUA_NOREF) {
        /* rewrite/access still waits on I/O (the client left): finish it first;
         * phase_finished -> tp_http_on_lua_done -> request_done will come back here */
        r->state = TP_REQ_LUA;
        return;
    }
    r->state = TP_REQ_LOG;
    if (!r->gen->has_log) {
        req_free(r); /* no plugin logs and nothing kept the request's ctx */
        return;
    }
    start_coroutine(r, r->gen->fn_log);
}

void tp_req_free(tp_req_t *r)
{
    req_free(r);
}

static void req_free(tp_req_t *r)
{
    r->state = TP_REQ_DONE;
    if (r->up)
        r->up = NULL;
    ev_timer_stop(r->w->loop, &r->sleep_timer);
    tp_gen_t *g = r->gen;
    tp_cache_release(r);
    tp_buf_free(&r->body);
    tp_buf_free(&r->exit_body);
    tp_pool_destroy(r->pool);
    tp_gen_release(g);
}
