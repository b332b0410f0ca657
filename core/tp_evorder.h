/*
 * tp_evorder.h - runs a loop iteration's socket reads in the order the kernel
 * reported them (libev alone runs them newest first).
 */
#ifndef TP_EVORDER_H
#define TP_EVORDER_H

#include <ev.h>

typedef struct {
    ev_io *w; /* NULL once forgotten */
    int revents;
} tp_evorder_event_t;

typedef struct {
    int collecting; /* 1 while libev runs the iteration's pending watchers */
    int n, cap;
    tp_evorder_event_t *events; /* in the order libev ran them: newest first */
} tp_evorder_t;

/** Make the loop run its pending watchers through q. q owns the loop's userdata
 *  and must outlive the loop's use. */
void tp_evorder_attach(tp_evorder_t *q, struct ev_loop *loop);

/** Release q's memory (the loop must not run again with q attached). */
void tp_evorder_free(tp_evorder_t *q);

int tp_evorder__push(tp_evorder_t *q, ev_io *w, int revents);

/** Called first by a read callback: while libev runs its watchers, records the
 *  event and returns 1 (the callback returns at once and is called again, in
 *  order, after libev's pass); otherwise returns 0 and the callback does its work. */
static inline int tp_evorder_defer(tp_evorder_t *q, ev_io *w, int revents)
{
    return q->collecting ? tp_evorder__push(q, w, revents) : 0;
}

/** Drop w's recorded event, if any: call before w's memory is freed. */
void tp_evorder_forget(tp_evorder_t *q, const ev_io *w);

#endif
