/*
 * test_redis.c - tp_redis against a real redis-server this test starts on a
 * free loopback port (with a password) and kills by PID at the end: AUTH and
 * SELECT, every reply type through the serializer, the keep-alive pool, wrong
 * password, refused connections, command timeouts, an idle connection the
 * server drops, and the FFI handle (including cancellation by the pool).
 */
#include "tp_pool.h"
#include "tp_redis.h"
#include "tp_req.h"
#include "tp_test.h"
#include "tp_util.h"
#include "tp_worker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PASSWORD "s3cret"

static struct ev_loop *loop;
static int port;
static pid_t server_pid;

static int free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static int can_connect(int p)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)p);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static int start_server(void)
{
    char portstr[16];
    port = free_port();
    snprintf(portstr, sizeof(portstr), "%d", port);
    server_pid = fork();
    if (server_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--requirepass", PASSWORD, "--loglevel",
               "warning", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        if (can_connect(port))
            return 0;
        usleep(10000);
    }
    return -1;
}

static void stop_server(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
}

/* ---- helpers ---------------------------------------------------------------- */

typedef struct {
    int done, failed;
    char err[TP_ERR_LEN];
} result_t;

static void on_done(tp_redis_conn_t *c, const char *errstr, void *arg)
{
    result_t *res = arg;
    res->done = 1;
    res->failed = errstr != NULL;
    snprintf(res->err, sizeof(res->err), "%s", errstr ? errstr : "");
}

static void wait_for(result_t *res)
{
    while (!res->done)
        ev_run(loop, EVRUN_ONCE);
}

/* Connect and wait; NULL with err on failure (the connection is released). */
static tp_redis_conn_t *connect_to(int p, const char *pw, int db, int timeout_ms, int *pooled,
                                   char *err)
{
    tp_redis_opts_t o = {"127.0.0.1", p, pw, pw ? strlen(pw) : 0, db, timeout_ms};
    result_t res = {0};
    tp_redis_conn_t *c = NULL;
    int rc = tp_redis_connect(loop, &o, on_done, &res, &c, err, TP_ERR_LEN);
    if (pooled)
        *pooled = rc == 0;
    if (rc < 0)
        return NULL;
    if (rc == TP_AGAIN)
        wait_for(&res);
    if (res.failed) {
        snprintf(err, TP_ERR_LEN, "%s", res.err);
        tp_redis_release(c, 0);
        return NULL;
    }
    return c;
}

/* Run a command of argc words; the serialized reply lands in out. */
static int cmd(tp_redis_conn_t *c, tp_buf_t *out, char *err, int argc, ...)
{
    const char *argv[16];
    size_t lens[16];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, const char *);
        lens[i] = strlen(argv[i]);
    }
    va_end(ap);
    result_t res = {0};
    if (tp_redis_command(c, argc, argv, lens, out, on_done, &res, err, TP_ERR_LEN) < 0)
        return -1;
    wait_for(&res);
    if (res.failed) {
        snprintf(err, TP_ERR_LEN, "%s", res.err);
        return -1;
    }
    return 0;
}

static int reply_is(tp_buf_t *b, const char *want, size_t n)
{
    return tp_buf_size(b) == n && memcmp(tp_buf_data(b), want, n) == 0;
}
#define REPLY_IS(b, lit) reply_is((b), (lit), sizeof(lit) - 1)

/* ---- tests ------------------------------------------------------------------ */

static void test_replies(void)
{
    char err[TP_ERR_LEN] = "";
    tp_buf_t out = {0};
    tp_redis_conn_t *c = connect_to(port, PASSWORD, 2, 1000, NULL, err);
    TP_CHECK(c != NULL && tp_redis_ok(c));
    if (c == NULL) {
        fprintf(stderr, "  connect: %s\n", err);
        return;
    }
    TP_CHECK(cmd(c, &out, err, 1, "FLUSHDB") == 0 && REPLY_IS(&out, "+2\nOK"));
    TP_CHECK(cmd(c, &out, err, 3, "SET", "k", "v\nx") == 0 && REPLY_IS(&out, "+2\nOK"));
    TP_CHECK(cmd(c, &out, err, 2, "GET", "k") == 0 && REPLY_IS(&out, "$3\nv\nx"));
    TP_CHECK(cmd(c, &out, err, 2, "GET", "missing") == 0 && REPLY_IS(&out, "_"));
    TP_CHECK(cmd(c, &out, err, 3, "INCRBY", "n", "-7") == 0 && REPLY_IS(&out, ":-7\n"));
    TP_CHECK(cmd(c, &out, err, 4, "RPUSH", "l", "a", "bc") == 0 && REPLY_IS(&out, ":2\n"));
    TP_CHECK(cmd(c, &out, err, 4, "LRANGE", "l", "0", "-1") == 0 &&
             REPLY_IS(&out, "*2\n$1\na$2\nbc"));
    TP_CHECK(cmd(c, &out, err, 3, "EVAL", "return {1, {'x', false}, redis.status_reply('FINE')}",
                 "0") == 0 &&
             REPLY_IS(&out, "*3\n:1\n*2\n$1\nx_+4\nFINE"));
    TP_CHECK(cmd(c, &out, err, 3, "LPUSH", "k", "x") == 0);
    TP_CHECK(tp_buf_size(&out) > 10 && memcmp(tp_buf_data(&out), "-", 1) == 0 &&
             memmem(tp_buf_data(&out), tp_buf_size(&out), "WRONGTYPE", 9) != NULL);
    TP_CHECK(tp_redis_ok(c)); /* an error reply leaves the connection usable */
    TP_CHECK(cmd(c, &out, err, 1, "PING") == 0 && REPLY_IS(&out, "+4\nPONG"));
    tp_redis_release(c, 0);

    /* SELECT took effect: db 0 does not see db 2's key */
    c = connect_to(port, PASSWORD, 0, 1000, NULL, err);
    TP_CHECK(c != NULL && cmd(c, &out, err, 2, "GET", "k") == 0 && REPLY_IS(&out, "_"));
    tp_redis_release(c, 0);
    tp_buf_free(&out);
}

static void test_pool(void)
{
    char err[TP_ERR_LEN] = "";
    tp_buf_t out = {0};
    int pooled = -1;
    tp_redis_close_idle(loop);
    tp_redis_conn_t *a = connect_to(port, PASSWORD, 3, 1000, &pooled, err);
    TP_CHECK(a != NULL && pooled == 0);
    tp_redis_release(a, 1);
    TP_CHECK(tp_redis_idle_count(loop) == 1);

    tp_redis_conn_t *b = connect_to(port, PASSWORD, 3, 1000, &pooled, err);
    TP_CHECK(b == a && pooled == 1);
    TP_CHECK(tp_redis_idle_count(loop) == 0);
    TP_CHECK(cmd(b, &out, err, 1, "PING") == 0 && REPLY_IS(&out, "+4\nPONG"));

    /* another database is another pool key */
    tp_redis_conn_t *d = connect_to(port, PASSWORD, 4, 1000, &pooled, err);
    TP_CHECK(d != NULL && d != b && pooled == 0);
    tp_redis_release(d, 1);
    tp_redis_release(b, 1);
    TP_CHECK(tp_redis_idle_count(loop) == 2);

    /* the server drops idle connections: they leave the pool, the next connect is new */
    tp_redis_conn_t *k = connect_to(port, PASSWORD, 5, 1000, &pooled, err);
    TP_CHECK(cmd(k, &out, err, 6, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes") == 0 &&
             REPLY_IS(&out, ":2\n"));
    uint64_t until = tp_now_ms() + 2000;
    while (tp_redis_idle_count(loop) > 0 && tp_now_ms() < until)
        ev_run(loop, EVRUN_ONCE);
    TP_CHECK(tp_redis_idle_count(loop) == 0);
    tp_redis_release(k, 0);
    a = connect_to(port, PASSWORD, 3, 1000, &pooled, err);
    TP_CHECK(a != NULL && pooled == 0);
    TP_CHECK(cmd(a, &out, err, 1, "PING") == 0 && REPLY_IS(&out, "+4\nPONG"));
    tp_redis_release(a, 0);
    tp_buf_free(&out);
}

static void test_errors(void)
{
    char err[TP_ERR_LEN] = "";
    tp_buf_t out = {0};
    TP_CHECK(connect_to(port, "wrong", 0, 1000, NULL, err) == NULL);
    TP_CHECK(strncmp(err, "auth: ", 6) == 0);

    int dead = free_port();
    TP_CHECK(connect_to(dead, NULL, 0, 1000, NULL, err) == NULL);
    TP_CHECK(strstr(err, "refused") != NULL);

    /* a command that outlives its timeout: "timeout", and the connection is gone */
    tp_redis_conn_t *c = connect_to(port, PASSWORD, 0, 100, NULL, err);
    TP_CHECK(c != NULL);
    uint64_t t0 = tp_now_ms();
    TP_CHECK(cmd(c, &out, err, 3, "BLPOP", "nothing-here", "5") == -1);
    uint64_t took = tp_now_ms() - t0;
    TP_CHECK(strcmp(err, "timeout") == 0 && took >= 90 && took < 1000);
    TP_CHECK(!tp_redis_ok(c));
    TP_CHECK(cmd(c, &out, err, 1, "PING") == -1 && strcmp(err, "timeout") == 0);
    tp_redis_release(c, 1); /* broken: closed, not pooled */
    TP_CHECK(tp_redis_idle_count(loop) == 0);
    c = connect_to(port, PASSWORD, 0, 100, NULL, err);
    TP_CHECK(c != NULL && cmd(c, &out, err, 1, "PING") == 0);
    tp_redis_release(c, 0);

    /* release while a command is pending: cancelled, the callback never runs */
    c = connect_to(port, PASSWORD, 0, 1000, NULL, err);
    const char *argv[] = {"BLPOP", "nothing-here", "1"};
    size_t lens[] = {5, 12, 1};
    result_t res = {0};
    TP_CHECK(tp_redis_command(c, 3, argv, lens, &out, on_done, &res, err, sizeof(err)) ==
             TP_AGAIN);
    TP_CHECK(tp_redis_command(c, 3, argv, lens, &out, on_done, &res, err, sizeof(err)) == -1);
    ev_run(loop, EVRUN_NOWAIT);
    tp_redis_release(c, 1);
    TP_CHECK(tp_redis_idle_count(loop) == 0);
    uint64_t until = tp_now_ms() + 50;
    while (tp_now_ms() < until)
        ev_run(loop, EVRUN_NOWAIT);
    TP_CHECK(res.done == 0);
    tp_buf_free(&out);
}

static void spin(int ms)
{
    uint64_t until = tp_now_ms() + (uint64_t)ms;
    while (tp_now_ms() < until)
        ev_run(loop, EVRUN_NOWAIT);
}

static void test_ffi(void)
{
    tp_worker_t w;
    tp_req_t r;
    char err[TP_ERR_LEN] = "";
    tp_redis_handle_t *h = NULL;
    memset(&w, 0, sizeof(w));
    memset(&r, 0, sizeof(r));
    w.loop = loop;
    r.w = &w;
    r.co_ref = LUA_NOREF; /* no coroutine: tp_bridge_resume is a no-op */
    r.pool = tp_pool_new();
    tp_redis_close_idle(loop);

    int rc = tp_ffi_redis_connect(&r, "127.0.0.1", port, PASSWORD, strlen(PASSWORD), 6, 500, &h,
                                  err, sizeof(err));
    TP_CHECK(rc == TP_AGAIN && r.wait == TP_WAIT_IO);
    spin(100);
    TP_CHECK(tp_ffi_redis_connected(h, err, sizeof(err)) == 0);
    const char *argv[] = {"SET", "f", "1"};
    size_t lens[] = {3, 1, 1}, len = 0;
    TP_CHECK(tp_ffi_redis_command(h, 3, argv, lens, err, sizeof(err)) == TP_AGAIN);
    spin(50);
    const char *p = tp_ffi_redis_reply(h, &len, err, sizeof(err));
    TP_CHECK(p != NULL && len == 5 && memcmp(p, "+2\nOK", 5) == 0);
    tp_ffi_redis_release(h, 1);
    TP_CHECK(tp_ffi_redis_command(h, 3, argv, lens, err, sizeof(err)) == -1);
    TP_CHECK(tp_redis_idle_count(loop) == 1);

    /* pooled: ready at once */
    rc = tp_ffi_redis_connect(&r, "127.0.0.1", port, PASSWORD, strlen(PASSWORD), 6, 500, &h, err,
                              sizeof(err));
    TP_CHECK(rc == 0 && tp_redis_idle_count(loop) == 0);

    /* the request ends with a command in flight: the pool cleanup closes it */
    const char *blpop[] = {"BLPOP", "none", "1"};
    size_t blens[] = {5, 4, 1};
    TP_CHECK(tp_ffi_redis_command(h, 3, blpop, blens, err, sizeof(err)) == TP_AGAIN);
    spin(10);
    tp_pool_destroy(r.pool);
    spin(50);
    TP_CHECK(tp_redis_idle_count(loop) == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (start_server() < 0) {
        fprintf(stderr, "redis-server did not start\n");
        stop_server();
        printf("0 passed, 1 failed\n");
        return 1;
    }
    loop = ev_loop_new(EVFLAG_AUTO);
    TP_RUN(test_replies);
    TP_RUN(test_pool);
    TP_RUN(test_errors);
    TP_RUN(test_ffi);
    tp_redis_close_idle(loop);
    ev_loop_destroy(loop);
    stop_server();
    return TP_TEST_REPORT();
}
