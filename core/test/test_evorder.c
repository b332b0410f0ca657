/*
 * test_evorder.c - reads deferred by tp_evorder run in the order the sockets became
 * ready; a watcher stopped, forgotten or fed again meanwhile is handled; reads run
 * at once outside libev's pass.
 */
#include "tp_evorder.h"
#include "tp_test.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NSOCK 8

typedef struct {
    ev_io io;
    int index;
    int peer; /* the end the test writes to */
} reader_t;

static tp_evorder_t order;
static reader_t readers[NSOCK];
static int ran[NSOCK * 4], nran;
static int runs[NSOCK];
/* what the callback of reader `actor` does to reader `target` before its read */
static enum { NOTHING, STOP, FORGET, FEED } action;
static int actor = -1, target = -1;

static void on_read(struct ev_loop *loop, ev_io *io, int revents)
{
    if (tp_evorder_defer(&order, io, revents))
        return;
    reader_t *r = (reader_t *)io;
    ran[nran++] = r->index;
    runs[r->index]++;
    char buf[16];
    (void)!read(io->fd, buf, sizeof(buf));
    if (r->index != actor)
        return;
    ev_io *t = &readers[target].io;
    if (action == STOP)
        ev_io_stop(loop, t);
    else if (action == FORGET) {
        tp_evorder_forget(&order, t);
        ev_io_stop(loop, t); /* as a connection's free does */
    } else if (action == FEED)
        ev_feed_event(loop, t, EV_READ);
}

static struct ev_loop *setup(void)
{
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    memset(&order, 0, sizeof(order));
    tp_evorder_attach(&order, loop);
    for (int i = 0; i < NSOCK; i++) {
        int sv[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
        readers[i].index = i;
        readers[i].peer = sv[1];
        ev_io_init(&readers[i].io, on_read, sv[0], EV_READ);
        ev_io_start(loop, &readers[i].io);
    }
    ev_run(loop, EVRUN_NOWAIT); /* registers the sockets with epoll */
    nran = 0;
    memset(runs, 0, sizeof(runs));
    action = NOTHING;
    actor = target = -1;
    return loop;
}

static void teardown(struct ev_loop *loop)
{
    for (int i = 0; i < NSOCK; i++) {
        ev_io_stop(loop, &readers[i].io);
        close(readers[i].io.fd);
        close(readers[i].peer);
    }
    ev_loop_destroy(loop);
    tp_evorder_free(&order);
}

/* the sockets become ready in the order of `seq` */
static void make_ready(const int *seq, int n)
{
    for (int i = 0; i < n; i++)
        (void)!write(readers[seq[i]].peer, "x", 1);
}

static void test_in_ready_order(void)
{
    struct ev_loop *loop = setup();
    int seq[NSOCK] = {3, 0, 7, 1, 6, 2, 5, 4};
    make_ready(seq, NSOCK);
    ev_run(loop, EVRUN_ONCE);
    TP_CHECK(nran == NSOCK);
    for (int i = 0; i < NSOCK && i < nran; i++)
        TP_CHECK(ran[i] == seq[i]);
    TP_CHECK(order.n == 0 && order.collecting == 0);
    teardown(loop);
}

static void test_stopped_meanwhile_is_skipped(void)
{
    struct ev_loop *loop = setup();
    int seq[] = {0, 1, 2, 3};
    action = STOP, actor = 1, target = 3;
    make_ready(seq, 4);
    ev_run(loop, EVRUN_ONCE);
    TP_CHECK(nran == 3 && runs[3] == 0);
    TP_CHECK(runs[0] == 1 && runs[1] == 1 && runs[2] == 1);
    teardown(loop);
}

static void test_forgotten_is_skipped(void)
{
    struct ev_loop *loop = setup();
    int seq[] = {5, 4, 6};
    action = FORGET, actor = 5, target = 6;
    make_ready(seq, 3);
    ev_run(loop, EVRUN_ONCE);
    TP_CHECK(nran == 2 && ran[0] == 5 && ran[1] == 4 && runs[6] == 0);
    teardown(loop);
}

static void test_fed_again_runs_once_more_in_the_same_iteration(void)
{
    struct ev_loop *loop = setup();
    int seq[] = {0, 1, 2};
    action = FEED, actor = 0, target = 2;
    make_ready(seq, 3);
    ev_run(loop, EVRUN_ONCE);
    /* 2's recorded read is skipped (it is pending again) and runs in the next pass */
    TP_CHECK(nran == 3 && ran[0] == 0 && ran[1] == 1 && ran[2] == 2 && runs[2] == 1);
    teardown(loop);
}

static void test_outside_the_pass_runs_at_once(void)
{
    struct ev_loop *loop = setup();
    (void)!write(readers[2].peer, "x", 1);
    ev_invoke(loop, &readers[2].io, EV_READ); /* not from libev's pending pass */
    TP_CHECK(nran == 1 && ran[0] == 2 && order.n == 0);
    teardown(loop);
}

static void test_many_orders(void)
{
    /* fresh sockets each round: a level-triggered socket epoll reported lately keeps
     * its place in epoll's ready list, so only first readiness has a known order */
    for (int round = 0; round < 20; round++) {
        struct ev_loop *loop = setup();
        int seq[NSOCK];
        for (int i = 0; i < NSOCK; i++)
            seq[i] = (i * 5 + round) % NSOCK;
        make_ready(seq, NSOCK);
        ev_run(loop, EVRUN_ONCE);
        int in_order = nran == NSOCK;
        for (int i = 0; i < NSOCK && in_order; i++)
            in_order = ran[i] == seq[i];
        TP_CHECK(in_order);
        teardown(loop);
    }
}

static void test_record_grows_and_forgets(void)
{
    struct ev_loop *loop = setup();
    for (int i = 0; i < 100; i++)
        TP_CHECK(tp_evorder__push(&order, &readers[i % NSOCK].io, EV_READ) == 1);
    TP_CHECK(order.n == 100 && order.cap >= 100);
    tp_evorder_forget(&order, &readers[1].io);
    int left = 0;
    for (int i = 0; i < order.n; i++)
        left += order.events[i].w != NULL;
    TP_CHECK(left == 100 - 13);
    order.n = 0;
    teardown(loop);
}

int main(void)
{
    TP_RUN(test_in_ready_order);
    TP_RUN(test_stopped_meanwhile_is_skipped);
    TP_RUN(test_forgotten_is_skipped);
    TP_RUN(test_fed_again_runs_once_more_in_the_same_iteration);
    TP_RUN(test_outside_the_pass_runs_at_once);
    TP_RUN(test_many_orders);
    TP_RUN(test_record_grows_and_forgets);
    return TP_TEST_REPORT();
}
