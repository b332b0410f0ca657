/*
 * tp_breaker.h - a per-target circuit breaker kept in the "breaker" shm dict, so all
 * workers share one view of a target's health.
 *
 * States and transitions (thresholds named as Kong's passive health checks):
 *   closed    -> open       after `http_failures` consecutive HTTP failures (statuses the
 *                          caller classed as failures, Kong's unhealthy.http_statuses), or
 *                          `tcp_failures` consecutive TCP failures, or `timeouts`
 *                          consecutive timeouts (each 0 = that counter is off); or when
 *                          `error_ratio` > 0 and, within the current fixed window of
 *                          `window_ms`, at least `min_requests` outcomes were reported of
 *                          which failures / requests >= error_ratio. A success resets the
 *                          consecutive counters (not the window).
 *   open      -> half-open  once the open time is over. The open time is `open_ms` on the
 *                          first trip and doubles on every trip that follows without a
 *                          close in between, capped at `max_open_ms`.
 *   half-open -> closed     after `successes` successful probes (Kong's healthy.successes);
 *   half-open -> open       on any failed probe (a repeated trip: the open time doubles).
 * Half-open admits at most `half_open_probes` requests in flight; a probe that never
 * reports (its worker died) stops counting after `open_ms`. Outcomes reported while
 * open (requests that started before the trip) are ignored.
 */
#ifndef TP_BREAKER_H
#define TP_BREAKER_H

#include "tp_shm.h"

#include <stdint.h>

enum { TP_BREAKER_CLOSED = 0, TP_BREAKER_OPEN = 1, TP_BREAKER_HALF_OPEN = 2 };
enum {
    TP_BREAKER_SUCCESS = 0,
    TP_BREAKER_TCP_FAILURE = 1,
    TP_BREAKER_TIMEOUT = 2,
    TP_BREAKER_HTTP_FAILURE = 3
};

/* Plain C types only: the Lua side declares the same struct with ffi.cdef. */
typedef struct {
    double error_ratio;       /* 0 = off */
    int32_t http_failures;    /* consecutive, 0 = off */
    int32_t tcp_failures;     /* consecutive, 0 = off */
    int32_t timeouts;         /* consecutive, 0 = off */
    int32_t successes;        /* probe successes that close; < 1 counts as 1 */
    int32_t min_requests;     /* for error_ratio */
    int32_t window_ms;        /* for error_ratio */
    int32_t open_ms;          /* first open time */
    int32_t max_open_ms;      /* cap of the doubling */
    int32_t half_open_probes; /* probes in flight; < 1 counts as 1 */
} tp_breaker_conf_t;

typedef struct {
    int32_t state;
    int32_t trips; /* consecutive trips since the last close */
    int32_t http_failures, tcp_failures, timeouts; /* consecutive counters */
    int32_t successes;                             /* probe successes so far */
    int32_t probes;                                /* probes in flight */
    int32_t window_requests, window_failures;
    int64_t retry_after_ms; /* while open: ms until half-open */
    int64_t changed_at_ms;  /* last state change (0 = never) */
} tp_breaker_info_t;

/**
 * May a request go to this target now? Returns 1 (allowed; in half-open it counts as a
 * probe, which the caller must report), 0 (denied, *retry_after_ms set), or -errno.
 * A target never seen is closed.
 */
int tp_breaker_allow(tp_shm_dict_t *d, const char *key, size_t klen,
                     const tp_breaker_conf_t *conf, int64_t now_ms, int64_t *retry_after_ms);

/** Record the outcome of a request. Returns the state after it, or -errno. */
int tp_breaker_report(tp_shm_dict_t *d, const char *key, size_t klen,
                      const tp_breaker_conf_t *conf, int64_t now_ms, int outcome);

/**
 * Fill *info for the admin API without changing anything (an open breaker whose open
 * time is over reads as half-open). Returns the state, or -errno.
 */
int tp_breaker_state(tp_shm_dict_t *d, const char *key, size_t klen, int64_t now_ms,
                     tp_breaker_info_t *info);

/* ---- LuaJIT FFI entry points (the "breaker" dict of tp_shm_current()) ---- */

int tp_ffi_breaker_allow(const char *key, size_t klen, const tp_breaker_conf_t *conf,
                         int64_t now_ms, int64_t *retry_after_ms);
int tp_ffi_breaker_report(const char *key, size_t klen, const tp_breaker_conf_t *conf,
                          int64_t now_ms, int outcome);
int tp_ffi_breaker_state(const char *key, size_t klen, int64_t now_ms, tp_breaker_info_t *info);

#endif
