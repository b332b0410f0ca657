/*
 * tp_shm.h - the shared-memory zone: named dicts of fixed-size entries shared by
 * the master and every worker, plus a small table of per-worker status slots.
 *
 * The master creates one zone before fork (an anonymous shared mapping) and every
 * worker inherits it. Each dict is a hash table split into stripes; a stripe owns a
 * range of buckets, its own entries, free list and LRU list, and one robust
 * process-shared mutex. A worker that dies while holding a stripe lock does not
 * wedge the others: the next locker gets EOWNERDEAD, and if the dead process was in
 * the middle of a change the stripe is wiped (its keys are lost, nothing else).
 *
 * Expiry is lazy (checked on access) plus a bounded sweep of the LRU tail on every
 * insert; when a stripe is full its least recently used entry is evicted.
 *
 * Times are milliseconds on the wall clock (tp_wall_ms()); the functions below take
 * `now_ms` explicitly so callers and tests control time. The tp_ffi_* functions in
 * tp_shm.c use tp_wall_ms() themselves.
 */
#ifndef TP_SHM_H
#define TP_SHM_H

#include <stddef.h>
#include <stdint.h>

#define TP_SHM_KEY_MAX 128
#define TP_SHM_MAX_WORKERS 128
/* Size of the zone created lazily when nothing was attached (specs, tools). */
#define TP_SHM_DEFAULT_SIZE (8u << 20)

/* Value types stored in an entry (also the `type` out-param of tp_ffi_shm_get). */
enum {
    TP_SHM_NIL = 0,    /* not found / expired */
    TP_SHM_BOOLEAN = 1,
    TP_SHM_NUMBER = 2,
    TP_SHM_STRING = 3,
    TP_SHM_RAW = 4     /* a C struct owned by tp_ratelimit / tp_breaker */
};

typedef struct tp_shm_s tp_shm_t;
typedef struct tp_shm_dict_s tp_shm_dict_t;

typedef struct {
    uint64_t capacity;  /* entries the dict can hold */
    uint64_t used;      /* live entries (may include expired ones not yet swept) */
    uint64_t evictions; /* live entries dropped to make room */
    uint64_t expired;   /* entries dropped because their TTL passed */
    uint64_t value_size; /* bytes of value an entry holds */
} tp_shm_stats_t;

/* One worker's slot in the status table. The core writes it with __atomic stores; the
 * admin API reads it. A slot with pid 0 is unused. */
typedef struct {
    int64_t pid;
    int64_t generation;
    int64_t loaded_at_ms;
    int64_t requests;
    int64_t active;
} tp_shm_worker_t;

/* A locked entry handed to a tp_shm_update callback. `data` has `cap` bytes, zeroed
 * when `fresh` (the key did not exist or had expired); `expires_at` (ms, 0 = never)
 * may be changed by the callback. */
typedef struct {
    void *data;
    size_t cap;
    int fresh;
    int64_t expires_at;
} tp_shm_slot_t;

/* Runs with the stripe lock held: must not block, allocate or call back into tp_shm.
 * Its return value is returned by tp_shm_update. */
typedef int (*tp_shm_update_fn)(tp_shm_slot_t *slot, void *arg);

/**
 * Map a zone of about `bytes` bytes and carve the fixed dicts from it ("ratelimit",
 * "breaker", "cache_meta", "kv"). Returns the zone (owned by the caller, released
 * with tp_shm_destroy) or NULL with a reason in err[TP_ERR_LEN].
 */
tp_shm_t *tp_shm_create(size_t bytes, char *err);

/** Unmap the zone. Other processes that inherited it keep their mapping. */
void tp_shm_destroy(tp_shm_t *shm);

/**
 * Make `shm` the zone of this process: the one the tp_ffi_* functions use. The master
 * calls it right after tp_shm_create, so workers inherit it across fork.
 */
void tp_shm_attach(tp_shm_t *shm);

/** The attached zone; if none was attached, creates (once) a private zone of
 * TP_SHM_DEFAULT_SIZE bytes so specs and tools work. Never NULL (aborts on failure). */
tp_shm_t *tp_shm_current(void);

/** The dict called (name, len), or NULL when there is no such dict. */
tp_shm_dict_t *tp_shm_dict(tp_shm_t *shm, const char *name, size_t len);

/**
 * Look up key. Returns the type (TP_SHM_NIL when absent or expired). For strings and
 * raw values up to *len bytes are copied into buf and *len is set to the value's full
 * length; for numbers and booleans *num receives the value. A hit refreshes the LRU.
 */
int tp_shm_get(tp_shm_dict_t *d, const char *key, size_t klen, int64_t now_ms, char *buf,
               size_t *len, double *num);

/**
 * Store a value (type TP_SHM_NIL deletes). ttl_ms <= 0 means no expiry. Evicts the
 * stripe's LRU entry when full. Returns 0, -ENAMETOOLONG (key > TP_SHM_KEY_MAX, or empty),
 * -E2BIG (value larger than the dict's value size) or -EINVAL (bad type).
 */
int tp_shm_set(tp_shm_dict_t *d, const char *key, size_t klen, int type, const void *val,
               size_t vlen, double num, int64_t ttl_ms, int64_t now_ms);

/**
 * Add `by` to a number; a missing key starts at `init` (and gets ttl_ms, if > 0; an
 * existing key keeps its expiry). Returns 0 with *out set, -EINVAL when the value is
 * not a number, or -ENAMETOOLONG.
 */
int tp_shm_incr(tp_shm_dict_t *d, const char *key, size_t klen, double by, double init,
                int64_t ttl_ms, int64_t now_ms, double *out);

/** Remove key. Returns 0 (also when absent) or -ENAMETOOLONG. */
int tp_shm_delete(tp_shm_dict_t *d, const char *key, size_t klen);

/**
 * Read-modify-write of a raw entry under its stripe lock: the entry is created
 * (zeroed, with ttl_ms if > 0) when missing and `create` is set; `fn` then runs on
 * it. Returns fn's result, -ENOENT (missing and !create), -ENAMETOOLONG, or -EINVAL
 * (the key holds a non-raw value).
 */
int tp_shm_update(tp_shm_dict_t *d, const char *key, size_t klen, int64_t ttl_ms,
                  int64_t now_ms, int create, tp_shm_update_fn fn, void *arg);

/** Fill stats for the dict. */
void tp_shm_stats(tp_shm_dict_t *d, tp_shm_stats_t *out);

/** Remove every entry of the dict (stats counters are kept). */
void tp_shm_flush(tp_shm_dict_t *d);

/** Drop up to `max` expired entries from each stripe of every dict. Returns how many. */
int tp_shm_sweep(tp_shm_t *shm, int64_t now_ms, int max);

/** Worker slot `idx` (0 <= idx < TP_SHM_MAX_WORKERS), or NULL. */
tp_shm_worker_t *tp_shm_worker(tp_shm_t *shm, int idx);

/* ---- LuaJIT FFI entry points (operate on tp_shm_current()) ---- */

/** tp_shm_get on dict (dict, dlen); *type receives the type; returns 0 or -errno
 * (-ENOENT for an unknown dict). For strings, if *len on return exceeds the buffer
 * size passed in, call again with a larger buffer. */
int tp_ffi_shm_get(const char *dict, size_t dlen, const char *key, size_t klen, char *buf,
                   size_t *len, double *num, int *type);
int tp_ffi_shm_set(const char *dict, size_t dlen, const char *key, size_t klen, int type,
                   const char *val, size_t vlen, double num, int64_t ttl_ms);
int tp_ffi_shm_incr(const char *dict, size_t dlen, const char *key, size_t klen, double by,
                    double init, int64_t ttl_ms, double *out);
int tp_ffi_shm_delete(const char *dict, size_t dlen, const char *key, size_t klen);
int tp_ffi_shm_stats(const char *dict, size_t dlen, tp_shm_stats_t *out);
int tp_ffi_shm_flush(const char *dict, size_t dlen);
/** Copy up to `max` worker slots into out; returns the number of used slots copied. */
int tp_ffi_shm_workers(tp_shm_worker_t *out, int max);

#endif
