/*
 * tp_worker.h - a worker process: its event loop, listeners, connections,
 * current Lua generation and upstream keep-alive pools.
 */
#ifndef TP_WORKER_H
#define TP_WORKER_H

#include "tp_evorder.h"
#include "tp_node.h"

#include <ev.h>
#include <stdint.h>

typedef struct tp_gen_s tp_gen_t;
typedef struct tp_conn_s tp_conn_t;
typedef struct tp_uppool_s tp_uppool_t;

typedef struct {
    ev_io io;
    int fd;
    tp_listen_t conf;
    struct tp_worker_s *w;
} tp_listener_t;

typedef struct tp_worker_s {
    struct ev_loop *loop;
    int index; /* 0-based slot in the control area */
    tp_node_t node;
    tp_listener_t listeners[TP_MAX_LISTEN];
    int nlisteners;
    tp_gen_t *gen; /* current generation; older ones live while requests use them */
    ev_signal sig_hup, sig_term, sig_int, sig_quit;
    ev_timer drain_timer;
    ev_timer drain_check;
    int draining;
    tp_conn_t *conns; /* every open client connection (for draining) */
    tp_conn_t *dead_conns; /* closed this loop iteration, freed by the reaper */
    ev_check reaper;
    int64_t connections;
    uint64_t requests;
    uint32_t next_req_id;
    tp_uppool_t *pools; /* upstream keep-alive pools, one per target */
    tp_evorder_t evorder; /* socket reads run in epoll's order */
} tp_worker_t;

/** Run a worker: loads the generation, serves until stopped. Never returns. */
void tp_worker_main(tp_node_t *node, int *fds, int nfds, int index, const char *config_path);

/** Build a new generation from the control area's config and swap it in.
 *  Returns 0 or -1 (the old generation keeps serving). */
int tp_worker_reload(tp_worker_t *w, char *err, size_t errlen);

/** The worker's status slot in the control area (NULL when there is none). */
tp_worker_status_t *tp_worker_status(tp_worker_t *w);

/** Called when a connection closes while draining: exits when nothing is left. */
void tp_worker_check_drained(tp_worker_t *w);

#endif
