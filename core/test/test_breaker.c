/*
 * test_breaker.c - circuit breaker transitions: consecutive-failure trips per kind,
 * error-ratio trips, doubling open time with a cap, half-open probes, closing, and
 * sharing the state between processes.
 */
#include "tp_breaker.h"
#include "tp_test.h"
#include "tp_util.h"

#include <sys/wait.h>
#include <unistd.h>

#define NOW 1700000000000LL
#define K(s) s, strlen(s)

static tp_shm_t *shm;
static tp_shm_dict_t *dict;

static tp_breaker_conf_t conf(void)
{
    tp_breaker_conf_t c;
    memset(&c, 0, sizeof(c));
    c.http_failures = 3;
    c.tcp_failures = 2;
    c.timeouts = 2;
    c.successes = 2;
    c.open_ms = 1000;
    c.max_open_ms = 5000;
    c.half_open_probes = 1;
    return c;
}

static int allow(const char *key, const tp_breaker_conf_t *c, int64_t now, int64_t *retry)
{
    return tp_breaker_allow(dict, K(key), c, now, retry);
}

static int report(const char *key, const tp_breaker_conf_t *c, int64_t now, int outcome)
{
    return tp_breaker_report(dict, K(key), c, now, outcome);
}

static void test_consecutive(void)
{
    tp_breaker_conf_t c = conf();
    tp_breaker_info_t info;
    int64_t retry = -1;

    TP_CHECK(allow("a", &c, NOW, &retry) == 1 && retry == 0);
    TP_CHECK(tp_breaker_state(dict, K("a"), NOW, &info) == TP_BREAKER_CLOSED);
    TP_CHECK(report("a", &c, NOW, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(report("a", &c, NOW, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_CLOSED);
    /* a success resets the consecutive count */
    TP_CHECK(report("a", &c, NOW, TP_BREAKER_SUCCESS) == TP_BREAKER_CLOSED);
    TP_CHECK(report("a", &c, NOW, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(report("a", &c, NOW, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(tp_breaker_state(dict, K("a"), NOW, &info) == TP_BREAKER_CLOSED);
    TP_CHECK(info.http_failures == 2 && info.window_requests == 5);
    TP_CHECK(report("a", &c, NOW + 10, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_OPEN);
    TP_CHECK(allow("a", &c, NOW + 10, &retry) == 0 && retry == 1000);
    TP_CHECK(allow("a", &c, NOW + 500, &retry) == 0 && retry == 510);

    /* each kind has its own threshold */
    TP_CHECK(report("t", &c, NOW, TP_BREAKER_TCP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(report("t", &c, NOW, TP_BREAKER_TCP_FAILURE) == TP_BREAKER_OPEN);
    TP_CHECK(report("o", &c, NOW, TP_BREAKER_TIMEOUT) == TP_BREAKER_CLOSED);
    TP_CHECK(report("o", &c, NOW, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(report("o", &c, NOW, TP_BREAKER_TIMEOUT) == TP_BREAKER_OPEN);
    /* 0 turns a counter off */
    c.tcp_failures = 0;
    TP_CHECK(report("z", &c, NOW, TP_BREAKER_TCP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(report("z", &c, NOW, TP_BREAKER_TCP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(report("z", &c, NOW, TP_BREAKER_TCP_FAILURE) == TP_BREAKER_CLOSED);
    TP_CHECK(report("z", &c, NOW, 9) == -EINVAL);
}

static void test_half_open_and_doubling(void)
{
    tp_breaker_conf_t c = conf();
    tp_breaker_info_t info;
    int64_t retry, t = NOW;

    report("h", &c, t, TP_BREAKER_TCP_FAILURE);
    TP_CHECK(report("h", &c, t, TP_BREAKER_TCP_FAILURE) == TP_BREAKER_OPEN);
    /* outcomes of requests that started before the trip are ignored */
    TP_CHECK(report("h", &c, t + 1, TP_BREAKER_SUCCESS) == TP_BREAKER_OPEN);
    TP_CHECK(tp_breaker_state(dict, K("h"), t + 1000, &info) == TP_BREAKER_HALF_OPEN);
    /* half-open: one probe at a time */
    TP_CHECK(allow("h", &c, t + 1000, &retry) == 1);
    TP_CHECK(allow("h", &c, t + 1000, &retry) == 0 && retry == 1000);
    /* the probe fails: open again for twice as long */
    TP_CHECK(report("h", &c, t + 1100, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_OPEN);
    TP_CHECK(allow("h", &c, t + 1100, &retry) == 0 && retry == 2000);
    t += 3100;
    TP_CHECK(allow("h", &c, t, &retry) == 1);
    TP_CHECK(report("h", &c, t, TP_BREAKER_TIMEOUT) == TP_BREAKER_OPEN);
    TP_CHECK(allow("h", &c, t, &retry) == 0 && retry == 4000);
    t += 4000;
    TP_CHECK(allow("h", &c, t, &retry) == 1);
    TP_CHECK(report("h", &c, t, TP_BREAKER_TIMEOUT) == TP_BREAKER_OPEN);
    TP_CHECK(allow("h", &c, t, &retry) == 0 && retry == 5000); /* capped */
    TP_CHECK(tp_breaker_state(dict, K("h"), t, &info) == TP_BREAKER_OPEN && info.trips == 4);
    t += 5000;
    /* two successful probes close it */
    TP_CHECK(allow("h", &c, t, &retry) == 1);
    TP_CHECK(report("h", &c, t, TP_BREAKER_SUCCESS) == TP_BREAKER_HALF_OPEN);
    TP_CHECK(allow("h", &c, t, &retry) == 1);
    TP_CHECK(report("h", &c, t, TP_BREAKER_SUCCESS) == TP_BREAKER_CLOSED);
    TP_CHECK(tp_breaker_state(dict, K("h"), t, &info) == TP_BREAKER_CLOSED && info.trips == 0);
    TP_CHECK(info.changed_at_ms == t);
    /* after a close, the next trip starts from open_ms again */
    report("h", &c, t, TP_BREAKER_TCP_FAILURE);
    report("h", &c, t, TP_BREAKER_TCP_FAILURE);
    TP_CHECK(allow("h", &c, t, &retry) == 0 && retry == 1000);
}

static void test_lost_probe(void)
{
    tp_breaker_conf_t c = conf();
    int64_t retry;

    report("p", &c, NOW, TP_BREAKER_TCP_FAILURE);
    report("p", &c, NOW, TP_BREAKER_TCP_FAILURE);
    TP_CHECK(allow("p", &c, NOW + 1000, &retry) == 1);
    TP_CHECK(allow("p", &c, NOW + 1999, &retry) == 0 && retry == 1);
    /* the probe never reported: after open_ms another one may go */
    TP_CHECK(allow("p", &c, NOW + 2000, &retry) == 1);
}

static void test_error_ratio(void)
{
    tp_breaker_conf_t c = conf();
    int i;

    c.http_failures = c.tcp_failures = c.timeouts = 0;
    c.error_ratio = 0.5;
    c.min_requests = 10;
    c.window_ms = 10000;
    /* 4 failures of 8: ratio met but too few requests */
    for (i = 0; i < 8; i++)
        TP_CHECK(report("r", &c, NOW, i % 2 ? TP_BREAKER_HTTP_FAILURE : TP_BREAKER_SUCCESS) ==
                 TP_BREAKER_CLOSED);
    TP_CHECK(report("r", &c, NOW, TP_BREAKER_SUCCESS) == TP_BREAKER_CLOSED);
    TP_CHECK(report("r", &c, NOW, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_OPEN); /* 5/10 */

    /* the window restarts: old failures do not count */
    for (i = 0; i < 9; i++)
        report("q", &c, NOW, TP_BREAKER_HTTP_FAILURE);
    for (i = 0; i < 9; i++)
        TP_CHECK(report("q", &c, NOW + 10000, TP_BREAKER_SUCCESS) == TP_BREAKER_CLOSED);
    TP_CHECK(report("q", &c, NOW + 10000, TP_BREAKER_HTTP_FAILURE) == TP_BREAKER_CLOSED);
}

static void test_shared_between_processes(void)
{
    tp_breaker_conf_t c = conf();
    int64_t retry;
    int status = 0;
    pid_t pid = fork();

    if (pid == 0) {
        tp_ffi_breaker_report(K("x"), &c, NOW, TP_BREAKER_TCP_FAILURE);
        tp_ffi_breaker_report(K("x"), &c, NOW, TP_BREAKER_TCP_FAILURE);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    TP_CHECK(tp_ffi_breaker_allow(K("x"), &c, NOW + 1, &retry) == 0 && retry == 999);
}

int main(void)
{
    char err[TP_ERR_LEN];
    shm = tp_shm_create(1 << 20, err);
    dict = tp_shm_dict(shm, "breaker", 7);
    tp_shm_attach(shm);
    TP_RUN(test_consecutive);
    TP_RUN(test_half_open_and_doubling);
    TP_RUN(test_lost_probe);
    TP_RUN(test_error_ratio);
    TP_RUN(test_shared_between_processes);
    tp_shm_destroy(shm);
    return TP_TEST_REPORT();
}
