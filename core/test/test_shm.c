/*
 * test_shm.c - tp_shm: get/set/incr/delete, expiry, LRU eviction, stats, the FFI
 * entry points, and recovery from a process that died holding a stripe lock.
 */
#include "tp_shm.h"
#include "tp_test.h"
#include "tp_util.h"

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOW 1700000000000LL

static tp_shm_t *zone(size_t bytes)
{
    char err[TP_ERR_LEN];
    tp_shm_t *shm = tp_shm_create(bytes, err);
    if (shm == NULL)
        fprintf(stderr, "tp_shm_create: %s\n", err);
    return shm;
}

static void test_create(void)
{
    char err[TP_ERR_LEN] = "";
    tp_shm_t *shm = tp_shm_create(1024, err);
    TP_CHECK(shm == NULL);
    TP_CHECK(strstr(err, "too small") != NULL);

    shm = zone(1 << 20);
    TP_CHECK(shm != NULL);
    TP_CHECK(tp_shm_dict(shm, "ratelimit", 9) != NULL);
    TP_CHECK(tp_shm_dict(shm, "breaker", 7) != NULL);
    TP_CHECK(tp_shm_dict(shm, "cache_meta", 10) != NULL);
    TP_CHECK(tp_shm_dict(shm, "kv", 2) != NULL);
    TP_CHECK(tp_shm_dict(shm, "nope", 4) == NULL);
    TP_CHECK(tp_shm_dict(shm, "k", 1) == NULL);
    tp_shm_destroy(shm);
}

static void test_get_set(void)
{
    tp_shm_t *shm = zone(1 << 20);
    tp_shm_dict_t *d = tp_shm_dict(shm, "kv", 2);
    char buf[600];
    size_t len = sizeof(buf);
    double num = 0;
    char big[600];

    TP_CHECK(tp_shm_get(d, "a", 1, NOW, buf, &len, &num) == TP_SHM_NIL);
    TP_CHECK(tp_shm_set(d, "a", 1, TP_SHM_STRING, "hello", 5, 0, 0, NOW) == 0);
    len = sizeof(buf);
    TP_CHECK(tp_shm_get(d, "a", 1, NOW, buf, &len, &num) == TP_SHM_STRING);
    TP_CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);

    /* overwrite with another type */
    TP_CHECK(tp_shm_set(d, "a", 1, TP_SHM_NUMBER, NULL, 0, 42.5, 0, NOW) == 0);
    TP_CHECK(tp_shm_get(d, "a", 1, NOW, buf, &len, &num) == TP_SHM_NUMBER);
    TP_CHECK(num == 42.5);
    TP_CHECK(tp_shm_set(d, "b", 1, TP_SHM_BOOLEAN, NULL, 0, 1, 0, NOW) == 0);
    TP_CHECK(tp_shm_get(d, "b", 1, NOW, buf, &len, &num) == TP_SHM_BOOLEAN && num == 1);

    /* a short buffer gets the prefix and the full length */
    TP_CHECK(tp_shm_set(d, "s", 1, TP_SHM_STRING, "0123456789", 10, 0, 0, NOW) == 0);
    len = 4;
    TP_CHECK(tp_shm_get(d, "s", 1, NOW, buf, &len, &num) == TP_SHM_STRING);
    TP_CHECK(len == 10 && memcmp(buf, "0123", 4) == 0);

    /* limits */
    memset(big, 'x', sizeof(big));
    TP_CHECK(tp_shm_set(d, "big", 3, TP_SHM_STRING, big, 513, 0, 0, NOW) == -E2BIG);
    TP_CHECK(tp_shm_set(d, "big", 3, TP_SHM_STRING, big, 512, 0, 0, NOW) == 0);
    TP_CHECK(tp_shm_set(d, big, 129, TP_SHM_STRING, "v", 1, 0, 0, NOW) == -ENAMETOOLONG);
    TP_CHECK(tp_shm_set(d, big, 128, TP_SHM_STRING, "v", 1, 0, 0, NOW) == 0);
    TP_CHECK(tp_shm_set(d, "", 0, TP_SHM_STRING, "v", 1, 0, 0, NOW) == -ENAMETOOLONG);

    /* delete */
    TP_CHECK(tp_shm_delete(d, "a", 1) == 0);
    TP_CHECK(tp_shm_get(d, "a", 1, NOW, buf, &len, &num) == TP_SHM_NIL);
    TP_CHECK(tp_shm_delete(d, "a", 1) == 0);
    tp_shm_destroy(shm);
}

static void test_incr(void)
{
    tp_shm_t *shm = zone(1 << 20);
    tp_shm_dict_t *d = tp_shm_dict(shm, "kv", 2);
    double out = 0;

    TP_CHECK(tp_shm_incr(d, "n", 1, 1, 10, 0, NOW, &out) == 0 && out == 11);
    TP_CHECK(tp_shm_incr(d, "n", 1, 2.5, 10, 0, NOW, &out) == 0 && out == 13.5);
    TP_CHECK(tp_shm_incr(d, "n", 1, -3.5, 10, 0, NOW, &out) == 0 && out == 10);
    TP_CHECK(tp_shm_set(d, "s", 1, TP_SHM_STRING, "x", 1, 0, 0, NOW) == 0);
    TP_CHECK(tp_shm_incr(d, "s", 1, 1, 0, 0, NOW, &out) == -EINVAL);

    /* the ttl is set when the key is created, and kept by later increments */
    TP_CHECK(tp_shm_incr(d, "t", 1, 1, 0, 100, NOW, &out) == 0 && out == 1);
    TP_CHECK(tp_shm_incr(d, "t", 1, 1, 0, 100, NOW + 99, &out) == 0 && out == 2);
    TP_CHECK(tp_shm_incr(d, "t", 1, 1, 0, 100, NOW + 100, &out) == 0 && out == 1);
    tp_shm_destroy(shm);
}

static void test_expiry(void)
{
    tp_shm_t *shm = zone(1 << 20);
    tp_shm_dict_t *d = tp_shm_dict(shm, "kv", 2);
    tp_shm_stats_t st;
    char buf[16];
    size_t len = sizeof(buf);
    double num;
    int i;

    TP_CHECK(tp_shm_set(d, "e", 1, TP_SHM_STRING, "v", 1, 0, 50, NOW) == 0);
    TP_CHECK(tp_shm_get(d, "e", 1, NOW + 49, buf, &len, &num) == TP_SHM_STRING);
    TP_CHECK(tp_shm_get(d, "e", 1, NOW + 50, buf, &len, &num) == TP_SHM_NIL);
    tp_shm_stats(d, &st);
    TP_CHECK(st.used == 0 && st.expired == 1);

    /* the sweep drops expired entries nobody reads again */
    for (i = 0; i < 20; i++) {
        char k[8];
        int n = snprintf(k, sizeof(k), "k%d", i);
        tp_shm_set(d, k, (size_t)n, TP_SHM_NUMBER, NULL, 0, i, i < 10 ? 10 : 0, NOW);
    }
    tp_shm_stats(d, &st);
    TP_CHECK(st.used == 20);
    TP_CHECK(tp_shm_sweep(shm, NOW + 10, 100) == 10);
    tp_shm_stats(d, &st);
    TP_CHECK(st.used == 10 && st.expired == 11);
    tp_shm_destroy(shm);
}

static void test_eviction(void)
{
    tp_shm_t *shm = zone(256 * 1024);
    tp_shm_dict_t *d = tp_shm_dict(shm, "kv", 2);
    tp_shm_stats_t st;
    char buf[16];
    size_t len = sizeof(buf);
    double num;
    uint64_t i, n, live = 0;

    tp_shm_stats(d, &st);
    TP_CHECK(st.capacity > 16 && st.value_size == 512);
    n = st.capacity * 3;
    for (i = 0; i < n; i++) {
        char k[24];
        int kl = snprintf(k, sizeof(k), "key-%llu", (unsigned long long)i);
        TP_CHECK(tp_shm_set(d, k, (size_t)kl, TP_SHM_NUMBER, NULL, 0, (double)i, 0, NOW) == 0);
        /* keep key-0 hot: it must survive LRU eviction */
        TP_CHECK(tp_shm_get(d, "key-0", 5, NOW, buf, &len, &num) == TP_SHM_NUMBER);
    }
    tp_shm_stats(d, &st);
    TP_CHECK(st.used == st.capacity);
    TP_CHECK(st.evictions == n - st.capacity);
    for (i = 0; i < n; i++) {
        char k[24];
        int kl = snprintf(k, sizeof(k), "key-%llu", (unsigned long long)i);
        if (tp_shm_get(d, k, (size_t)kl, NOW, buf, &len, &num) == TP_SHM_NUMBER) {
            TP_CHECK(num == (double)i);
            live++;
        }
    }
    TP_CHECK(live == st.capacity);
    /* the newest key is always there */
    {
        char k[24];
        int kl = snprintf(k, sizeof(k), "key-%llu", (unsigned long long)(n - 1));
        TP_CHECK(tp_shm_get(d, k, (size_t)kl, NOW, buf, &len, &num) == TP_SHM_NUMBER);
    }
    tp_shm_destroy(shm);
}

static int bump(tp_shm_slot_t *slot, void *arg)
{
    int64_t *v = slot->data;
    (void)arg;
    (*v)++;
    return (int)*v;
}

static int die_holding_lock(tp_shm_slot_t *slot, void *arg)
{
    (void)slot;
    (void)arg;
    _exit(0);
}

static void test_update_and_dead_owner(void)
{
    tp_shm_t *shm = zone(1 << 20);
    tp_shm_dict_t *d = tp_shm_dict(shm, "ratelimit", 9);
    pid_t pid;
    int status = 0;
    double out;

    TP_CHECK(tp_shm_update(d, "u", 1, 0, NOW, 0, bump, NULL) == -ENOENT);
    TP_CHECK(tp_shm_update(d, "u", 1, 0, NOW, 1, bump, NULL) == 1);
    TP_CHECK(tp_shm_update(d, "u", 1, 0, NOW, 1, bump, NULL) == 2);
    TP_CHECK(tp_shm_incr(d, "n", 1, 1, 0, 0, NOW, &out) == 0);
    TP_CHECK(tp_shm_update(d, "n", 1, 0, NOW, 1, bump, NULL) == -EINVAL);

    /* a child takes the stripe lock of "u" and exits without unlocking */
    pid = fork();
    if (pid == 0)
        tp_shm_update(d, "u", 1, 0, NOW, 1, die_holding_lock, NULL);
    waitpid(pid, &status, 0);
    TP_CHECK(WIFEXITED(status));

    /* a second child must get through (it would hang forever on a plain mutex) */
    pid = fork();
    if (pid == 0) {
        alarm(5);
        _exit(tp_shm_update(d, "u", 1, 0, NOW, 1, bump, NULL) == 3 ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    TP_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* and so does this process, with the data intact */
    TP_CHECK(tp_shm_update(d, "u", 1, 0, NOW, 1, bump, NULL) == 4);

    /* a SIGKILLed holder too */
    pid = fork();
    if (pid == 0) {
        tp_shm_update(d, "u", 1, 0, NOW, 1, die_holding_lock, NULL);
        _exit(1);
    }
    waitpid(pid, &status, 0);
    TP_CHECK(tp_shm_update(d, "u", 1, 0, NOW, 1, bump, NULL) == 5);
    tp_shm_destroy(shm);
}

static int hold_then_signal(tp_shm_slot_t *slot, void *arg)
{
    int *fd = arg;
    (void)slot;
    if (write(*fd, "x", 1) != 1)
        _exit(2);
    pause();
    return 0;
}

static void test_sigkill_holder(void)
{
    tp_shm_t *shm = zone(1 << 20);
    tp_shm_dict_t *d = tp_shm_dict(shm, "ratelimit", 9);
    int fds[2], status = 0;
    char c;
    pid_t pid;

    TP_CHECK(pipe(fds) == 0);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        tp_shm_update(d, "k", 1, 0, NOW, 1, hold_then_signal, &fds[1]);
        _exit(0);
    }
    close(fds[1]);
    TP_CHECK(read(fds[0], &c, 1) == 1); /* the child now holds the lock */
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    TP_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    close(fds[0]);
    TP_CHECK(tp_shm_update(d, "k", 1, 0, NOW, 1, bump, NULL) == 1);
    TP_CHECK(tp_shm_update(d, "k", 1, 0, NOW, 1, bump, NULL) == 2);
    tp_shm_destroy(shm);
}

static void test_ffi(void)
{
    char buf[8];
    size_t len = sizeof(buf);
    double num = 0, out = 0;
    int type = -1;
    tp_shm_stats_t st;
    tp_shm_worker_t ws[4];

    /* nothing attached: a private zone is created lazily */
    TP_CHECK(tp_ffi_shm_set("kv", 2, "f", 1, TP_SHM_STRING, "abc", 3, 0, 0) == 0);
    TP_CHECK(tp_ffi_shm_get("kv", 2, "f", 1, buf, &len, &num, &type) == 0);
    TP_CHECK(type == TP_SHM_STRING && len == 3 && memcmp(buf, "abc", 3) == 0);
    TP_CHECK(tp_ffi_shm_set("kv", 2, "f", 1, TP_SHM_RAW, "abc", 3, 0, 0) == -EINVAL);
    TP_CHECK(tp_ffi_shm_get("zz", 2, "f", 1, buf, &len, &num, &type) == -ENOENT);
    TP_CHECK(tp_ffi_shm_incr("kv", 2, "c", 1, 5, 0, 0, &out) == 0 && out == 5);
    TP_CHECK(tp_ffi_shm_delete("kv", 2, "c", 1) == 0);
    TP_CHECK(tp_ffi_shm_stats("kv", 2, &st) == 0 && st.used == 1);
    TP_CHECK(tp_ffi_shm_flush("kv", 2) == 0);
    TP_CHECK(tp_ffi_shm_stats("kv", 2, &st) == 0 && st.used == 0);
    TP_CHECK(tp_ffi_shm_get("kv", 2, "f", 1, buf, &len, &num, &type) == 0 && type == TP_SHM_NIL);
    TP_CHECK(tp_ffi_shm_set("kv", 2, "f", 1, TP_SHM_NUMBER, NULL, 0, 3, 0) == 0);
    TP_CHECK(tp_ffi_shm_workers(ws, 4) == 0);
    tp_shm_worker(tp_shm_current(), 3)->pid = 1234;
    tp_shm_worker(tp_shm_current(), 3)->requests = 7;
    TP_CHECK(tp_ffi_shm_workers(ws, 4) == 1 && ws[0].pid == 1234 && ws[0].requests == 7);
    TP_CHECK(tp_shm_worker(tp_shm_current(), TP_SHM_MAX_WORKERS) == NULL);
    tp_shm_destroy(tp_shm_current());
}

int main(void)
{
    TP_RUN(test_create);
    TP_RUN(test_get_set);
    TP_RUN(test_incr);
    TP_RUN(test_expiry);
    TP_RUN(test_eviction);
    TP_RUN(test_update_and_dead_owner);
    TP_RUN(test_sigkill_holder);
    TP_RUN(test_ffi);
    return TP_TEST_REPORT();
}
