/*
 * tp_breaker.c - the three-state circuit breaker as tp_shm_update callbacks: each
 * allow/report is one atomic read-modify-write of the target's state in shm.
 */
#include "tp_breaker.h"

#include "tp_util.h"

typedef struct {
    int32_t state, trips;
    int32_t http_fail, tcp_fail, timeouts;
    int32_t successes, probes;
    int32_t win_total, win_fail;
    int64_t open_until_ms, win_start_ms, probe_at_ms, changed_at_ms;
} bstate_t;

typedef struct {
    const tp_breaker_conf_t *conf;
    int64_t now_ms;
    int outcome;
    int64_t retry_after_ms;
    tp_breaker_info_t *info;
} bop_t;

static int32_t at_least_one(int32_t v)
{
    return v < 1 ? 1 : v;
}

static void set_state(bstate_t *b, int32_t state, int64_t now_ms)
{
    b->state = state;
    b->changed_at_ms = now_ms;
    b->http_fail = b->tcp_fail = b->timeouts = 0;
    b->successes = b->probes = 0;
    b->win_total = b->win_fail = 0;
    b->win_start_ms = now_ms;
}

/* Open the breaker; every trip since the last close doubles the open time. */
static void trip(bstate_t *b, const tp_breaker_conf_t *conf, int64_t now_ms)
{
    int64_t dur = conf->open_ms > 0 ? conf->open_ms : 1;
    int64_t cap = conf->max_open_ms > dur ? conf->max_open_ms : dur;
    int32_t i;

    set_state(b, TP_BREAKER_OPEN, now_ms);
    b->trips++;
    for (i = 1; i < b->trips && dur < cap; i++)
        dur *= 2;
    b->open_until_ms = now_ms + (dur < cap ? dur : cap);
}

/* open -> half-open once the open time is over; forget probes that never reported. */
static void advance(bstate_t *b, const tp_breaker_conf_t *conf, int64_t now_ms)
{
    int64_t probe_timeout = conf->open_ms > 0 ? conf->open_ms : 1;

    if (b->state == TP_BREAKER_OPEN && now_ms >= b->open_until_ms) {
        int32_t trips = b->trips;
        set_state(b, TP_BREAKER_HALF_OPEN, now_ms);
        b->trips = trips;
    }
    if (b->state == TP_BREAKER_HALF_OPEN && b->probes > 0 &&
        now_ms - b->probe_at_ms >= probe_timeout)
        b->probes = 0;
}

static int on_allow(tp_shm_slot_t *slot, void *arg)
{
    bop_t *op = arg;
    bstate_t *b = slot->data;

    advance(b, op->conf, op->now_ms);
    switch (b->state) {
    case TP_BREAKER_OPEN:
        op->retry_after_ms = b->open_until_ms - op->now_ms;
        return 0;
    case TP_BREAKER_HALF_OPEN:
        if (b->probes >= at_least_one(op->conf->half_open_probes)) {
            int64_t left = b->probe_at_ms + op->conf->open_ms - op->now_ms;
            op->retry_after_ms = left > 0 ? left : 1;
            return 0;
        }
        b->probes++;
        b->probe_at_ms = op->now_ms;
        return 1;
    default:
        return 1;
    }
}

static int tripped(const bstate_t *b, const tp_breaker_conf_t *c)
{
    if (c->http_failures > 0 && b->http_fail >= c->http_failures)
        return 1;
    if (c->tcp_failures > 0 && b->tcp_fail >= c->tcp_failures)
        return 1;
    if (c->timeouts > 0 && b->timeouts >= c->timeouts)
        return 1;
    return c->error_ratio > 0 && b->win_total >= c->min_requests && b->win_total > 0 &&
           (double)b->win_fail / b->win_total >= c->error_ratio;
}

static void report_closed(bstate_t *b, const tp_breaker_conf_t *conf, int64_t now, int outcome)
{
    if (conf->window_ms > 0 && now - b->win_start_ms >= conf->window_ms) {
        b->win_total = b->win_fail = 0;
        b->win_start_ms = now;
    }
    b->win_total++;
    switch (outcome) {
    case TP_BREAKER_SUCCESS:
        b->http_fail = b->tcp_fail = b->timeouts = 0;
        return;
    case TP_BREAKER_TCP_FAILURE:
        b->tcp_fail++;
        break;
    case TP_BREAKER_TIMEOUT:
        b->timeouts++;
        break;
    default:
        b->http_fail++;
        break;
    }
    b->win_fail++;
    if (tripped(b, conf))
        trip(b, conf, now);
}

static int on_report(tp_shm_slot_t *slot, void *arg)
{
    bop_t *op = arg;
    bstate_t *b = slot->data;

    if (slot->fresh)
        b->win_start_ms = op->now_ms;
    advance(b, op->conf, op->now_ms);
    if (b->state == TP_BREAKER_CLOSED) {
        report_closed(b, op->conf, op->now_ms, op->outcome);
    } else if (b->state == TP_BREAKER_HALF_OPEN) {
        if (b->probes > 0)
            b->probes--;
        if (op->outcome != TP_BREAKER_SUCCESS) {
            trip(b, op->conf, op->now_ms);
        } else if (++b->successes >= at_least_one(op->conf->successes)) {
            set_state(b, TP_BREAKER_CLOSED, op->now_ms);
            b->trips = 0;
        }
    }
    return b->state;
}

static int on_state(tp_shm_slot_t *slot, void *arg)
{
    bop_t *op = arg;
    const bstate_t *b = slot->data;
    tp_breaker_info_t *in = op->info;

    in->state = b->state;
    in->retry_after_ms = 0;
    if (b->state == TP_BREAKER_OPEN) {
        if (op->now_ms >= b->open_until_ms)
            in->state = TP_BREAKER_HALF_OPEN;
        else
            in->retry_after_ms = b->open_until_ms - op->now_ms;
    }
    in->trips = b->trips;
    in->http_failures = b->http_fail;
    in->tcp_failures = b->tcp_fail;
    in->timeouts = b->timeouts;
    in->successes = b->successes;
    in->probes = b->probes;
    in->window_requests = b->win_total;
    in->window_failures = b->win_fail;
    in->changed_at_ms = b->changed_at_ms;
    return in->state;
}

int tp_breaker_allow(tp_shm_dict_t *d, const char *key, size_t klen,
                     const tp_breaker_conf_t *conf, int64_t now_ms, int64_t *retry_after_ms)
{
    bop_t op = {conf, now_ms, 0, 0, NULL};
    /* a target with no entry is closed: don't create one just to say yes */
    int rc = tp_shm_update(d, key, klen, 0, now_ms, 0, on_allow, &op);

    if (rc == -ENOENT)
        rc = 1;
    *retry_after_ms = rc == 0 ? op.retry_after_ms : 0;
    return rc;
}

int tp_breaker_report(tp_shm_dict_t *d, const char *key, size_t klen,
                      const tp_breaker_conf_t *conf, int64_t now_ms, int outcome)
{
    bop_t op = {conf, now_ms, outcome, 0, NULL};

    if (outcome < TP_BREAKER_SUCCESS || outcome > TP_BREAKER_HTTP_FAILURE)
        return -EINVAL;
    return tp_shm_update(d, key, klen, 0, now_ms, 1, on_report, &op);
}

int tp_breaker_state(tp_shm_dict_t *d, const char *key, size_t klen, int64_t now_ms,
                     tp_breaker_info_t *info)
{
    bop_t op = {NULL, now_ms, 0, 0, info};
    int rc = tp_shm_update(d, key, klen, 0, now_ms, 0, on_state, &op);

    if (rc == -ENOENT) {
        memset(info, 0, sizeof(*info));
        rc = TP_BREAKER_CLOSED;
    }
    return rc;
}

static tp_shm_dict_t *breaker_dict(void)
{
    return tp_shm_dict(tp_shm_current(), "breaker", 7);
}

int tp_ffi_breaker_allow(const char *key, size_t klen, const tp_breaker_conf_t *conf,
                         int64_t now_ms, int64_t *retry_after_ms)
{
    return tp_breaker_allow(breaker_dict(), key, klen, conf, now_ms, retry_after_ms);
}

int tp_ffi_breaker_report(const char *key, size_t klen, const tp_breaker_conf_t *conf,
                          int64_t now_ms, int outcome)
{
    return tp_breaker_report(breaker_dict(), key, klen, conf, now_ms, outcome);
}

int tp_ffi_breaker_state(const char *key, size_t klen, int64_t now_ms, tp_breaker_info_t *info)
{
    return tp_breaker_state(breaker_dict(), key, klen, now_ms, info);
}
