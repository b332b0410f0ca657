/*
 * tp_ratelimit.h - rate-limiting hot paths over the "ratelimit" shm dict: a token
 * bucket (rate/burst, NGINX limit_req-like) and Kong's fixed-window counters. Every
 * operation is one read-modify-write under one stripe lock, so it is atomic across
 * all worker processes.
 *
 * Token bucket, per key (exact semantics):
 *   The bucket holds up to `burst` tokens and refills at `rate` tokens per second
 *   (fractional rates are fine: 0.5 = one token every 2 s). A new key starts full.
 *   Internally it stores the debt D = burst - tokens, which drains at `rate`.
 *   A request of `cost` tokens is allowed iff D + cost <= burst:
 *     - nodelay (the default in the plugin): allowed requests go at once, so up to
 *       `burst` back-to-back requests pass, then `rate` per second;
 *     - delay mode (nodelay = 0): the request is still admitted, but must wait
 *       ceil(D / rate * 1000) ms (the time for the requests ahead of it to drain),
 *       so admitted requests reach the upstream spaced at `rate` - NGINX limit_req
 *       without nodelay, where our `burst` counts every admitted request (NGINX's
 *       burst=N admits N+1, i.e. our burst = NGINX burst + 1).
 *   A denied request takes nothing; its wait is ceil((D + cost - burst) / rate * 1000) ms,
 *   the exact time after which the same request would be allowed.
 *
 * Fixed windows, per key (Kong's rate-limiting "local" policy):
 *   Windows of 1, 60, 3600, 86400 s (any other positive length works too) start at
 *   multiples of their length since the Unix epoch, i.e. on UTC boundaries. The two
 *   special lengths TP_RL_MONTH and TP_RL_YEAR mean the calendar month and year in
 *   UTC (Kong's month/year). A call names up to TP_RL_MAX_WINDOWS windows with their
 *   limits, and either adds `cost` to every one of them (all were under their limit
 *   by at least cost) or to none: a denied request never counts, so exactly `limit`
 *   requests pass per window, whatever the concurrency.
 */
#ifndef TP_RATELIMIT_H
#define TP_RATELIMIT_H

#include "tp_shm.h"

#include <stdint.h>

#define TP_RL_SECOND 1
#define TP_RL_MINUTE 60
#define TP_RL_HOUR 3600
#define TP_RL_DAY 86400
#define TP_RL_MONTH 2592000 /* calendar month (UTC), not 30 days */
#define TP_RL_YEAR 31536000 /* calendar year (UTC), not 365 days */
#define TP_RL_MAX_WINDOWS 6

/**
 * The period of a window containing now_ms: [*start_ms, *end_ms). Returns 0 or
 * -EINVAL for window_s <= 0.
 */
int tp_ratelimit_period(int64_t window_s, int64_t now_ms, int64_t *start_ms, int64_t *end_ms);

/**
 * Token bucket take on dict d (see above). Returns 1 allowed, 0 denied, or -EINVAL
 * (rate <= 0, cost <= 0 or cost > burst) / -ENAMETOOLONG (empty key). *remaining gets
 * the tokens left; *wait_ms the delay before proxying when allowed (0 with nodelay),
 * or the Retry-After time when denied.
 */
int tp_ratelimit_bucket_take(tp_shm_dict_t *d, const char *key, size_t klen, double rate,
                             double burst, double cost, int nodelay, int64_t now_ms,
                             double *remaining, int64_t *wait_ms);

/**
 * Fixed-window check-and-count of n windows (window_s[i] with limit[i]) on dict d.
 * Returns 1 when counted in all, 0 when some window would exceed its limit (nothing
 * counted), -EINVAL (n out of 1..TP_RL_MAX_WINDOWS, a window <= 0, a duplicate
 * window, cost < 0) or -ENAMETOOLONG (empty key). count[i] receives the window's count
 * after the call and reset_ms[i] the milliseconds until the window's period ends.
 */
int tp_ratelimit_windows_incr(tp_shm_dict_t *d, const char *key, size_t klen,
                              const int64_t *window_s, const int64_t *limit, int n, int64_t cost,
                              int64_t now_ms, int64_t *count, int64_t *reset_ms);

/* ---- LuaJIT FFI entry points (the "ratelimit" dict of tp_shm_current()) ---- */

int tp_ffi_rl_bucket_take(const char *key, size_t klen, double rate, double burst, double cost,
                          int nodelay, int64_t now_ms, double *remaining, int64_t *wait_ms);
/** tp_ratelimit_period, for policies that keep counters elsewhere (Redis). */
int tp_ffi_rl_period(int64_t window_s, int64_t now_ms, int64_t *start_ms, int64_t *end_ms);
/** One window: tp_ratelimit_windows_incr with n = 1. */
int tp_ffi_rl_window_incr(const char *key, size_t klen, int64_t window_s, int64_t limit,
                          int64_t cost, int64_t now_ms, int64_t *count_after, int64_t *reset_ms);
int tp_ffi_rl_windows_incr(const char *key, size_t klen, const int64_t *window_s,
                           const int64_t *limit, int n, int64_t cost, int64_t now_ms,
                           int64_t *count, int64_t *reset_ms);

#endif
