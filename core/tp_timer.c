/*
 * tp_timer.c - Lua timers (turnpike.timer.at / every): work that runs in a
 * worker without a client request, such as active health checks or flushing a
 * log queue. Each firing runs in a pseudo-request (a tp_req_t with no
 * connection), so sleep, HTTP and Redis from a timer suspend and resume it
 * exactly as they do for requests. A timer belongs to a generation: once its
 * generation is no longer current it does not fire again.
 */
#include "tp_bridge.h"
#include "tp_log.h"
#include "tp_util.h"
#include "tp_worker.h"

#include <stdio.h>
#include <unistd.h>

typedef struct tp_timer_s {
    ev_timer ev;
    tp_gen_t *gen;   /* holds a reference while the timer is armed or running */
    int id;          /* the Lua side's handle for the callback */
    double every_ms; /* 0: fires once */
    int running;
} tp_timer_t;

static void timer_release(tp_timer_t *t)
{
    tp_gen_release(t->gen);
    free(t);
}

static void on_timer(struct ev_loop *loop, ev_timer *ev, int revents)
{
    tp_timer_t *t = tp_container_of(ev, tp_timer_t, ev);
    tp_worker_t *w = t->gen->w;
    if (w->gen != t->gen || w->draining) {
        timer_release(t); /* the generation was replaced: its timers end */
        return;
    }
    tp_pool_t *pool = tp_pool_new();
    tp_req_t *r = tp_pool_alloc(pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->pool = pool;
    r->w = w;
    r->gen = t->gen;
    t->gen->refs++;
    r->id = ++w->next_req_id;
    snprintf(r->id_hex, sizeof(r->id_hex), "timer-%d-%u", t->id, (unsigned)r->id);
    r->start_us = tp_now_us();
    r->start_wall_ms = tp_wall_ms();
    r->co_ref = -2; /* LUA_NOREF */
    r->state = TP_REQ_LUA;
    r->method_name = "TIMER";
    r->path = "";
    r->timer = t;
    t->running = 1;
    tp_bridge_run_timer(r, t->id);
}

/* The timer's coroutine ended: free the pseudo-request, re-arm a periodic timer. */
void tp_timer_done(tp_req_t *r)
{
    tp_timer_t *t = r->timer;
    r->timer = NULL;
    tp_req_free(r);
    t->running = 0;
    tp_worker_t *w = t->gen->w;
    if (t->every_ms > 0 && w->gen == t->gen && !w->draining) {
        ev_timer_set(&t->ev, t->every_ms / 1000.0, 0.0);
        ev_timer_start(w->loop, &t->ev);
        return;
    }
    timer_release(t);
}

/* Arm a timer for generation g (the lightuserdata Lua got in `activate`). */
int tp_ffi_timer_start(void *gen, double delay_ms, double every_ms, int id)
{
    tp_gen_t *g = gen;
    if (g == NULL || g->w == NULL)
        return -EINVAL;
    tp_timer_t *t = tp_calloc(1, sizeof(*t));
    t->gen = g;
    g->refs++;
    t->id = id;
    t->every_ms = every_ms;
    ev_timer_init(&t->ev, on_timer, delay_ms > 0 ? delay_ms / 1000.0 : 0.0, 0.0);
    ev_timer_start(g->w->loop, &t->ev);
    return 0;
}
