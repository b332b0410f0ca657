/*
 * tp_worker.c - owns a worker process: its event loop, the inherited listening
 * sockets, generation swaps on reload, graceful drain on stop.
 */
#include "tp_worker.h"
#include "tp_bridge.h"
#include "tp_http.h"
#include "tp_log.h"
#include "tp_upstream.h"
#include "tp_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

tp_worker_status_t *tp_worker_status(tp_worker_t *w)
{
    tp_ctl_t *ctl = tp_ctl();
    if (ctl == NULL || w->index < 0 || w->index >= TP_MAX_WORKERS)
        return NULL;
    return &ctl->workers[w->index];
}

static void publish_generation(tp_worker_t *w)
{
    tp_worker_status_t *st = tp_worker_status(w);
    if (st == NULL)
        return;
    st->pid = getpid();
    st->generation = w->gen->number;
    st->loaded_at_ms = w->gen->loaded_at_ms;
}

int tp_worker_reload(tp_worker_t *w, char *err, size_t errlen)
{
    tp_ctl_t *ctl = tp_ctl();
    uint64_t number = ctl ? ctl->generation : w->gen->number + 1;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", ctl ? ctl->config_path : "");
    if (w->gen && w->gen->number == number)
        return 0;
    tp_gen_t *g = tp_gen_load(w, path, number, err, errlen);
    if (g == NULL)
        return -1;
    tp_gen_t *old = w->gen;
    w->gen = g;
    publish_generation(w);
    tp_gen_activate(g);
    tp_log(TP_LOG_NOTICE, "generation %llu serving (config %s)", (unsigned long long)number, path);
    tp_gen_release(old);
    return 0;
}

static void on_sighup(struct ev_loop *loop, ev_signal *s, int revents)
{
    tp_worker_t *w = tp_container_of(s, tp_worker_t, sig_hup);
    char err[1024];
    if (tp_worker_reload(w, err, sizeof(err)) < 0)
        tp_log(TP_LOG_ERR, "reload refused, generation %llu keeps serving: %s",
               (unsigned long long)w->gen->number, err);
}

void tp_worker_check_drained(tp_worker_t *w)
{
    if (w->draining && w->conns == NULL)
        ev_break(w->loop, EVBREAK_ALL);
}

static void on_drain_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_log(TP_LOG_WARN, "drain timeout: closing the connections left");
    ev_break(loop, EVBREAK_ALL);
}

static void on_drain_check(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_worker_t *w = tp_container_of(t, tp_worker_t, drain_check);
    tp_http_drain(w);
    tp_worker_check_drained(w);
}

static void start_drain(tp_worker_t *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    for (int i = 0; i < w->nlisteners; i++) {
        ev_io_stop(w->loop, &w->listeners[i].io);
        close(w->listeners[i].fd);
    }
    tp_upstream_close_idle(w);
    tp_http_drain(w);
    ev_timer_init(&w->drain_timer, on_drain_timeout, w->node.drain_timeout_ms / 1000.0, 0.0);
    ev_timer_start(w->loop, &w->drain_timer);
    /* connections that finish their request close themselves; poll for the rest */
    ev_timer_init(&w->drain_check, on_drain_check, 0.2, 0.2);
    ev_timer_start(w->loop, &w->drain_check);
    tp_worker_check_drained(w);
}

static void on_sigterm(struct ev_loop *loop, ev_signal *s, int revents)
{
    tp_worker_t *w = s->signum == SIGTERM ? tp_container_of(s, tp_worker_t, sig_term)
                                          : tp_container_of(s, tp_worker_t, sig_int);
    start_drain(w);
}

/* After every loop iteration: free the connections closed during it. */
static void on_reap(struct ev_loop *loop, ev_check *chk, int revents)
{
    tp_worker_t *w = tp_container_of(chk, tp_worker_t, reaper);
    if (w->dead_conns)
        tp_http_reap(w);
}

static void on_sigquit(struct ev_loop *loop, ev_signal *s, int revents)
{
    _exit(0);
}

void tp_worker_main(tp_node_t *node, int *fds, int nfds, int index, const char *config_path)
{
    tp_worker_t *w = tp_calloc(1, sizeof(*w));
    w->node = *node;
    w->index = index;
    w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    char role[32];
    snprintf(role, sizeof(role), "worker %d", index);
    tp_log_set_role(role);
    signal(SIGPIPE, SIG_IGN);

    tp_ctl_t *ctl = tp_ctl();
    char err[1024];
    w->gen = tp_gen_load(w, config_path, ctl ? ctl->generation : 1, err, sizeof(err));
    if (w->gen == NULL) {
        tp_log(TP_LOG_ERR, "cannot load config: %s", err);
        _exit(2);
    }
    publish_generation(w);
    tp_gen_activate(w->gen);

    for (int i = 0; i < nfds; i++) {
        tp_listener_t *l = &w->listeners[w->nlisteners++];
        l->fd = fds[i];
        l->conf = node->listen[i];
        l->w = w;
        ev_io_init(&l->io, tp_http_on_accept, l->fd, EV_READ);
        ev_io_start(w->loop, &l->io);
    }
    ev_check_init(&w->reaper, on_reap);
    ev_check_start(w->loop, &w->reaper);
    ev_signal_init(&w->sig_hup, on_sighup, SIGHUP);
    ev_signal_init(&w->sig_term, on_sigterm, SIGTERM);
    ev_signal_init(&w->sig_int, on_sigterm, SIGINT);
    ev_signal_init(&w->sig_quit, on_sigquit, SIGQUIT);
    ev_signal_start(w->loop, &w->sig_hup);
    ev_signal_start(w->loop, &w->sig_term);
    ev_signal_start(w->loop, &w->sig_int);
    ev_signal_start(w->loop, &w->sig_quit);
    /* a reload may have happened between fork and now */
    if (ctl && ctl->generation != w->gen->number && tp_worker_reload(w, err, sizeof(err)) < 0)
        tp_log(TP_LOG_ERR, "reload refused: %s", err);

    tp_evorder_attach(&w->evorder, w->loop);
    ev_run(w->loop, 0);
    tp_log(TP_LOG_INFO, "worker exiting");
    _exit(0);
}
