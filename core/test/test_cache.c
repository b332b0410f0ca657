/*
 * test_cache.c - the shared response cache: fill and hit, coalescing, expiry
 * windows, eviction, the per-entry limit, purge, and several processes.
 */
#include "tp_test.h"

#include "tp_cache.h"
#include "tp_worker.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tp_worker_t worker;

static tp_req_t *new_req(void)
{
    tp_pool_t *pool = tp_pool_new();
    tp_req_t *r = tp_pool_alloc(pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->pool = pool;
    r->w = &worker;
    return r;
}

static void free_req(tp_req_t *r)
{
    ev_timer_stop(worker.loop, &r->sleep_timer);
    tp_cache_release(r);
    tp_pool_destroy(r->pool);
}

static int lookup(tp_req_t *r, const char *key, double swr, double sie)
{
    int age;
    return tp_ffi_cache_lookup(r, key, strlen(key), swr, sie, 1000, &age);
}

/* Fill key with a 200 response of body_len bytes of 'x' and commit it. */
static int fill(const char *key, size_t body_len, double ttl, double swr, double sie)
{
    tp_req_t *r = new_req();
    int rc = lookup(r, key, swr, sie);
    if (rc != TP_CACHE_MISS_FILL && rc != TP_CACHE_MISS_STALE_OK) {
        free_req(r);
        return -1;
    }
    r->svc_status = 200;
    tp_headers_add(r->pool, &r->svc_headers, "Content-Type", 12, "text/plain", 10);
    tp_headers_add(r->pool, &r->svc_headers, "Connection", 10, "keep-alive", 10);
    int src = tp_ffi_cache_store(r, ttl, swr, sie);
    char *body = malloc(body_len + 1);
    memset(body, 'x', body_len);
    for (size_t off = 0; off < body_len; off += 1000)
        tp_cache_append(r, body + off, body_len - off < 1000 ? body_len - off : 1000);
    free(body);
    tp_cache_finish(r, 1);
    free_req(r);
    return src;
}

static void test_fill_then_hit(void)
{
    TP_CHECK(fill("k1", 10000, 60000, 0, 0) == 0);
    tp_req_t *r = new_req();
    TP_CHECK(lookup(r, "k1", 0, 0) == TP_CACHE_HIT);
    TP_CHECK(r->cache->copy_status == 200);
    TP_CHECK(tp_buf_size(&r->cache->copy) - r->cache->copy_hdr_len == 10000);
    tp_cache_copy_to_response(r);
    TP_CHECK(r->status == 200);
    TP_CHECK(tp_headers_find(&r->resp_headers, "content-type", 12) != NULL);
    /* hop-by-hop headers are never stored */
    TP_CHECK(tp_headers_find(&r->resp_headers, "connection", 10) == NULL);
    free_req(r);
}

static void test_coalescing(void)
{
    tp_req_t *a = new_req(), *b = new_req();
    TP_CHECK(lookup(a, "k2", 0, 0) == TP_CACHE_MISS_FILL);
    TP_CHECK(lookup(b, "k2", 0, 0) == TP_CACHE_AGAIN);
    /* the filler gives up (response not storable): the waiter may fill */
    tp_ffi_cache_skip(a);
    tp_req_t *c = new_req();
    TP_CHECK(lookup(c, "k2", 0, 0) == TP_CACHE_MISS_FILL);
    free_req(a);
    free_req(b);
    free_req(c);
}

static void test_unfinished_fill_is_dropped(void)
{
    tp_req_t *a = new_req();
    TP_CHECK(lookup(a, "k3", 0, 0) == TP_CACHE_MISS_FILL);
    a->svc_status = 200;
    TP_CHECK(tp_ffi_cache_store(a, 60000, 0, 0) == 0);
    tp_cache_append(a, "partial", 7);
    free_req(a); /* the response never completed */
    tp_req_t *b = new_req();
    TP_CHECK(lookup(b, "k3", 0, 0) == TP_CACHE_MISS_FILL);
    free_req(b);
}

static void test_stale_windows(void)
{
    TP_CHECK(fill("k4", 100, 1, 60000, 0) == 0);
    usleep(5000);
    tp_req_t *a = new_req();
    TP_CHECK(lookup(a, "k4", 60000, 0) == TP_CACHE_STALE);
    TP_CHECK(a->cache->serve == 1 && a->cache->filling == 1); /* a refreshes */
    tp_req_t *b = new_req();
    TP_CHECK(lookup(b, "k4", 60000, 0) == TP_CACHE_STALE);
    TP_CHECK(b->cache->filling == 0); /* only one refresh at a time */
    free_req(a);
    free_req(b);

    TP_CHECK(fill("k5", 100, 1, 0, 60000) == 0);
    usleep(5000);
    tp_req_t *c = new_req();
    TP_CHECK(lookup(c, "k5", 0, 60000) == TP_CACHE_MISS_STALE_OK);
    TP_CHECK(c->cache->stale_ok == 1 && tp_buf_size(&c->cache->copy) > 0);
    free_req(c);
}

static void test_entry_limit_and_eviction(void)
{
    double st[7];
    tp_ffi_cache_stats(st);
    double total = st[5];
    /* one entry may not take more than an eighth of the cache */
    tp_req_t *r = new_req();
    TP_CHECK(lookup(r, "big", 0, 0) == TP_CACHE_MISS_FILL);
    r->svc_status = 200;
    tp_ffi_cache_store(r, 60000, 0, 0);
    size_t n = (size_t)(total / 8) + 10;
    char *body = calloc(1, n);
    tp_cache_append(r, body, n);
    TP_CHECK(r->cache->failed == 1);
    free(body);
    free_req(r);
    /* filling far more than the cache holds evicts the oldest entries */
    char key[32];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "ev%d", i);
        fill(key, (size_t)(total / 10), 60000, 0, 0);
    }
    tp_ffi_cache_stats(st);
    TP_CHECK(st[3] > 0);
    TP_CHECK(st[4] <= total);
    tp_req_t *last = new_req();
    TP_CHECK(lookup(last, "ev39", 0, 0) == TP_CACHE_HIT);
    free_req(last);
    tp_req_t *first = new_req();
    TP_CHECK(lookup(first, "ev0", 0, 0) == TP_CACHE_MISS_FILL);
    free_req(first);
}

static void test_purge(void)
{
    fill("p1", 10, 60000, 0, 0);
    fill("p2", 10, 60000, 0, 0);
    TP_CHECK(tp_ffi_cache_purge("p1", 2) == 1);
    TP_CHECK(tp_ffi_cache_purge("p1", 2) == 0);
    TP_CHECK(tp_ffi_cache_purge_all() >= 1);
    tp_req_t *r = new_req();
    TP_CHECK(lookup(r, "p2", 0, 0) == TP_CACHE_MISS_FILL);
    free_req(r);
}

/* Forked processes share the region: what one stores, the others hit. */
static void test_processes(void)
{
    fill("shared", 500, 60000, 0, 0);
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            tp_req_t *r = new_req();
            int rc = lookup(r, "shared", 0, 0);
            _exit(rc == TP_CACHE_HIT ? 0 : 1);
        }
        int st;
        waitpid(pid, &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    TP_CHECK(ok == 3);
}

int main(void)
{
    char err[256];
    worker.loop = ev_default_loop(0);
    if (tp_cache_create(1 << 20, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    TP_RUN(test_fill_then_hit);
    TP_RUN(test_coalescing);
    TP_RUN(test_unfinished_fill_is_dropped);
    TP_RUN(test_stale_windows);
    TP_RUN(test_entry_limit_and_eviction);
    TP_RUN(test_purge);
    TP_RUN(test_processes);
    return TP_TEST_REPORT();
}
