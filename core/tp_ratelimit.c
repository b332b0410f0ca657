/*
 * tp_ratelimit.c - token bucket and fixed-window counters as tp_shm_update callbacks.
 *
 * Keys are namespaced ("b:" bucket, "w:" windows) so the two kinds never collide in
 * the dict. A key too long for the dict keeps its head and ends in a 64-bit hash of
 * the whole key, so distinct long keys still (almost surely) map to distinct entries.
 */
#include "tp_ratelimit.h"

#include "tp_util.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

typedef struct {
    double debt; /* tokens owed: burst - tokens in the bucket */
    int64_t last_ms;
} bucket_t;

typedef struct {
    int32_t window_s[TP_RL_MAX_WINDOWS]; /* 0 = free slot */
    int64_t start_ms[TP_RL_MAX_WINDOWS];
    int64_t count[TP_RL_MAX_WINDOWS];
} windows_t;

typedef struct {
    double rate, burst, cost;
    int nodelay;
    int64_t now_ms;
    double remaining;
    int64_t wait_ms;
} bucket_op_t;

typedef struct {
    const int64_t *window_s, *limit;
    int n;
    int64_t cost, now_ms;
    int64_t *count, *reset_ms;
} windows_op_t;

/* Key bytes: prefix + key, or prefix + head of key + 16 hex digits of its hash. */
static size_t make_key(char *out, char prefix, const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull;
    size_t i, head;

    out[0] = prefix;
    out[1] = ':';
    if (klen + 2 <= TP_SHM_KEY_MAX) {
        memcpy(out + 2, key, klen);
        return klen + 2;
    }
    for (i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    head = TP_SHM_KEY_MAX - 2 - 17;
    memcpy(out + 2, key, head);
    snprintf(out + 2 + head, 18, "#%016llx", (unsigned long long)h);
    return TP_SHM_KEY_MAX;
}

static int64_t ceil_ms(double ms)
{
    double c = ceil(ms - 1e-6); /* absorb float noise: 999.9999999 -> 1000 */
    return c < 0 ? 0 : (int64_t)c;
}

int tp_ratelimit_period(int64_t window_s, int64_t now_ms, int64_t *start_ms, int64_t *end_ms)
{
    time_t now_s = (time_t)(now_ms / 1000);
    struct tm tm;

    if (window_s <= 0)
        return -EINVAL;
    if (window_s != TP_RL_MONTH && window_s != TP_RL_YEAR) {
        int64_t len = window_s * 1000;
        *start_ms = now_ms - ((now_ms % len) + len) % len;
        *end_ms = *start_ms + len;
        return 0;
    }
    gmtime_r(&now_s, &tm);
    tm.tm_sec = tm.tm_min = tm.tm_hour = 0;
    tm.tm_mday = 1;
    if (window_s == TP_RL_YEAR)
        tm.tm_mon = 0;
    *start_ms = (int64_t)timegm(&tm) * 1000;
    if (window_s == TP_RL_YEAR)
        tm.tm_year++;
    else
        tm.tm_mon++; /* timegm normalizes December + 1 */
    *end_ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int on_bucket(tp_shm_slot_t *slot, void *arg)
{
    bucket_op_t *op = arg;
    bucket_t *b = slot->data;
    double elapsed = op->now_ms > b->last_ms ? (double)(op->now_ms - b->last_ms) : 0;
    int allowed;

    if (slot->fresh)
        b->debt = 0;
    else
        b->debt = fmax(0, b->debt - op->rate * elapsed / 1000.0);
    b->last_ms = op->now_ms > b->last_ms ? op->now_ms : b->last_ms;

    allowed = b->debt + op->cost <= op->burst + 1e-9;
    if (allowed) {
        op->wait_ms = op->nodelay ? 0 : ceil_ms(b->debt / op->rate * 1000.0);
        b->debt += op->cost;
    } else {
        op->wait_ms = ceil_ms((b->debt + op->cost - op->burst) / op->rate * 1000.0);
        if (op->wait_ms < 1)
            op->wait_ms = 1;
    }
    op->remaining = fmax(0, op->burst - b->debt);
    /* the entry can go once the debt has drained: a missing key is a full bucket */
    slot->expires_at = op->now_ms + ceil_ms(b->debt / op->rate * 1000.0) + 1000;
    return allowed;
}

int tp_ratelimit_bucket_take(tp_shm_dict_t *d, const char *key, size_t klen, double rate,
                             double burst, double cost, int nodelay, int64_t now_ms,
                             double *remaining, int64_t *wait_ms)
{
    char k[TP_SHM_KEY_MAX + 1]; /* + 1: make_key writes a NUL after a hashed key */
    bucket_op_t op = {rate, burst, cost, nodelay, now_ms, 0, 0};
    int rc;

    if (!(rate > 0) || !(cost > 0) || !(cost <= burst))
        return -EINVAL;
    if (klen == 0)
        return -ENAMETOOLONG;
    rc = tp_shm_update(d, k, make_key(k, 'b', key, klen), 0, now_ms, 1, on_bucket, &op);
    if (rc >= 0) {
        *remaining = op.remaining;
        *wait_ms = op.wait_ms;
    }
    return rc;
}

/* The slot index holding window w, assigning a free or stale slot when there is none.
 * `wanted` lists the windows of this call, whose slots must not be reused. */
static int window_slot(windows_t *ws, const windows_op_t *op, int32_t w)
{
    int i, j, taken;
    for (i = 0; i < TP_RL_MAX_WINDOWS; i++) {
        if (ws->window_s[i] == w)
            return i;
    }
    for (i = 0; i < TP_RL_MAX_WINDOWS; i++) {
        taken = 0;
        for (j = 0; j < op->n; j++)
            taken |= ws->window_s[i] != 0 && ws->window_s[i] == op->window_s[j];
        if (!taken) {
            ws->window_s[i] = w;
            ws->start_ms[i] = 0;
            ws->count[i] = 0;
            return i;
        }
    }
    return -1; /* unreachable: n <= TP_RL_MAX_WINDOWS */
}

static int on_windows(tp_shm_slot_t *slot, void *arg)
{
    windows_op_t *op = arg;
    windows_t *ws = slot->data;
    int idx[TP_RL_MAX_WINDOWS], i, allowed = 1;
    int64_t start, end, last_end = 0;

    for (i = 0; i < op->n; i++) {
        idx[i] = window_slot(ws, op, (int32_t)op->window_s[i]);
        if (idx[i] < 0)
            return -ENOSPC;
        tp_ratelimit_period(op->window_s[i], op->now_ms, &start, &end);
        if (ws->start_ms[idx[i]] != start) {
            ws->start_ms[idx[i]] = start;
            ws->count[idx[i]] = 0;
        }
        if (ws->count[idx[i]] + op->cost > op->limit[i])
            allowed = 0;
        op->reset_ms[i] = end - op->now_ms;
        if (end > last_end)
            last_end = end;
    }
    for (i = 0; i < op->n; i++) {
        if (allowed)
            ws->count[idx[i]] += op->cost;
        op->count[i] = ws->count[idx[i]];
    }
    /* keep the entry until its longest current period is over */
    if (last_end + 1000 > slot->expires_at)
        slot->expires_at = last_end + 1000;
    return allowed;
}

int tp_ratelimit_windows_incr(tp_shm_dict_t *d, const char *key, size_t klen,
                              const int64_t *window_s, const int64_t *limit, int n, int64_t cost,
                              int64_t now_ms, int64_t *count, int64_t *reset_ms)
{
    char k[TP_SHM_KEY_MAX + 1]; /* + 1: make_key writes a NUL after a hashed key */
    windows_op_t op = {window_s, limit, n, cost, now_ms, count, reset_ms};
    int i, j;

    if (n < 1 || n > TP_RL_MAX_WINDOWS || cost < 0)
        return -EINVAL;
    for (i = 0; i < n; i++) {
        if (window_s[i] <= 0 || window_s[i] > INT32_MAX)
            return -EINVAL;
        for (j = 0; j < i; j++) {
            if (window_s[j] == window_s[i])
                return -EINVAL;
        }
    }
    if (klen == 0)
        return -ENAMETOOLONG;
    return tp_shm_update(d, k, make_key(k, 'w', key, klen), 0, now_ms, 1, on_windows, &op);
}

static tp_shm_dict_t *rl_dict(void)
{
    return tp_shm_dict(tp_shm_current(), "ratelimit", 9);
}

int tp_ffi_rl_bucket_take(const char *key, size_t klen, double rate, double burst, double cost,
                          int nodelay, int64_t now_ms, double *remaining, int64_t *wait_ms)
{
    return tp_ratelimit_bucket_take(rl_dict(), key, klen, rate, burst, cost, nodelay, now_ms,
                                    remaining, wait_ms);
}

int tp_ffi_rl_period(int64_t window_s, int64_t now_ms, int64_t *start_ms, int64_t *end_ms)
{
    return tp_ratelimit_period(window_s, now_ms, start_ms, end_ms);
}

int tp_ffi_rl_window_incr(const char *key, size_t klen, int64_t window_s, int64_t limit,
                          int64_t cost, int64_t now_ms, int64_t *count_after, int64_t *reset_ms)
{
    return tp_ratelimit_windows_incr(rl_dict(), key, klen, &window_s, &limit, 1, cost, now_ms,
                                     count_after, reset_ms);
}

int tp_ffi_rl_windows_incr(const char *key, size_t klen, const int64_t *window_s,
                           const int64_t *limit, int n, int64_t cost, int64_t now_ms,
                           int64_t *count, int64_t *reset_ms)
{
    return tp_ratelimit_windows_incr(rl_dict(), key, klen, window_s, limit, n, cost, now_ms, count,
                                     reset_ms);
}
