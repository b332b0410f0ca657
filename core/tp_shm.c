/*
 * tp_shm.c - the shared-memory zone: striped hash dicts with robust process-shared
 * locks, lazy expiry, LRU eviction, and the worker status table.
 *
 * Layout of the zone (one anonymous MAP_SHARED mapping, inherited by fork, so every
 * process sees it at the same address and plain pointers inside it stay valid):
 *
 *   [tp_shm_t header: magic, worker slots, dict descriptors]
 *   [dict 0: stripe 0 | stripe 1 | ...] [dict 1: ...] ...
 *   stripe = [stripe_t header][uint32 buckets[nbuckets]][entries[per_stripe]]
 *
 * A key hashes to one stripe and one bucket inside it; the stripe's mutex guards all
 * of the stripe's state, so every operation takes exactly one lock.
 */
#include "tp_shm.h"

#include "tp_log.h"
#include "tp_util.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>

#define NONE UINT32_MAX
#define SHM_MAGIC 0x74707368u /* "tpsh" */
#define NDICTS 4
#define MAX_STRIPES 64
#define SWEEP_ON_INSERT 2

typedef struct {
    uint32_t next;               /* bucket chain */
    uint32_t lru_prev, lru_next; /* LRU list, head = most recent */
    uint32_t hash;
    uint8_t type, klen;
    uint16_t _pad;
    uint32_t vlen;
    int64_t expires_at; /* ms, 0 = never */
    double num;
    char key[TP_SHM_KEY_MAX];
    /* value bytes follow */
} entry_t;

typedef struct {
    pthread_mutex_t lock;
    /* Set while the stripe's lists are being relinked: a process that dies with it set
     * left them inconsistent, so the next locker wipes the stripe. */
    uint32_t dirty;
    uint32_t free_head;
    uint32_t lru_head, lru_tail;
    uint64_t used, evictions, expired;
} stripe_t;

struct tp_shm_dict_s {
    char name[16];
    char *base; /* first stripe */
    uint32_t nstripes, per_stripe, nbuckets, value_size;
    size_t entry_size, stripe_size;
};

struct tp_shm_s {
    uint32_t magic;
    size_t size;
    tp_shm_worker_t workers[TP_SHM_MAX_WORKERS];
    tp_shm_dict_t dicts[NDICTS];
};

/* The fixed dicts: name, share of the zone (percent), value bytes per entry. */
static const struct {
    const char *name;
    unsigned share;
    uint32_t value_size;
} dict_specs[NDICTS] = {
    {"ratelimit", 25, 128},
    {"breaker", 10, 128},
    {"cache_meta", 25, 256},
    {"kv", 40, 512},
};

/* The zone the tp_ffi_* functions use in this process: set by tp_shm_attach (the
 * master, before fork) or created lazily by tp_shm_current. */
static tp_shm_t *current_zone;

static uint64_t hash_key(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    size_t i;
    for (i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static stripe_t *stripe_at(tp_shm_dict_t *d, uint32_t i)
{
    return (stripe_t *)(d->base + (size_t)i * d->stripe_size);
}

static uint32_t *buckets_of(stripe_t *s)
{
    return (uint32_t *)(s + 1);
}

static entry_t *entry_at(tp_shm_dict_t *d, stripe_t *s, uint32_t i)
{
    char *first = (char *)(buckets_of(s) + d->nbuckets);
    first = (char *)(((uintptr_t)first + 7) & ~(uintptr_t)7);
    return (entry_t *)(first + (size_t)i * d->entry_size);
}

static void mark_dirty(stripe_t *s, uint32_t v)
{
    __atomic_store_n(&s->dirty, v, __ATOMIC_SEQ_CST);
}

/* Empty the stripe: all buckets empty, all entries on the free list. */
static void stripe_reset(tp_shm_dict_t *d, stripe_t *s)
{
    uint32_t i;
    for (i = 0; i < d->nbuckets; i++)
        buckets_of(s)[i] = NONE;
    for (i = 0; i < d->per_stripe; i++) {
        entry_t *e = entry_at(d, s, i);
        e->type = TP_SHM_NIL;
        e->next = i + 1 < d->per_stripe ? i + 1 : NONE;
    }
    s->free_head = 0;
    s->lru_head = s->lru_tail = NONE;
    s->used = 0;
    mark_dirty(s, 0);
}

static int stripe_init(tp_shm_dict_t *d, stripe_t *s, char *err)
{
    pthread_mutexattr_t a;
    int rc;

    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    rc = pthread_mutex_init(&s->lock, &a);
    pthread_mutexattr_destroy(&a);
    if (rc != 0) {
        snprintf(err, TP_ERR_LEN, "shm mutex init: %s", strerror(rc));
        return -rc;
    }
    s->evictions = s->expired = 0;
    stripe_reset(d, s);
    return 0;
}

/* Lock a stripe. If the previous owner died, recover: its half-made change (if any)
 * cannot be trusted, so the stripe is emptied before it is marked consistent. */
static void stripe_lock(tp_shm_dict_t *d, stripe_t *s)
{
    int rc = pthread_mutex_lock(&s->lock);
    if (rc == EOWNERDEAD) {
        if (__atomic_load_n(&s->dirty, __ATOMIC_SEQ_CST)) {
            tp_log(TP_LOG_WARN, "shm dict %s: a process died mid-update, stripe wiped",
                   d->name);
            stripe_reset(d, s);
        }
        pthread_mutex_consistent(&s->lock);
        rc = 0;
    }
    if (rc != 0) {
        /* Only ENOTRECOVERABLE is possible here, and we never leave a mutex in that
         * state; continuing unlocked would corrupt the zone. */
        tp_log(TP_LOG_ERR, "shm dict %s: lock: %s", d->name, strerror(rc));
        abort();
    }
}

static void stripe_unlock(stripe_t *s)
{
    pthread_mutex_unlock(&s->lock);
}

static int is_expired(const entry_t *e, int64_t now_ms)
{
    return e->expires_at != 0 && e->expires_at <= now_ms;
}

static void lru_unlink(tp_shm_dict_t *d, stripe_t *s, uint32_t i)
{
    entry_t *e = entry_at(d, s, i);
    if (e->lru_prev != NONE)
        entry_at(d, s, e->lru_prev)->lru_next = e->lru_next;
    else
        s->lru_head = e->lru_next;
    if (e->lru_next != NONE)
        entry_at(d, s, e->lru_next)->lru_prev = e->lru_prev;
    else
        s->lru_tail = e->lru_prev;
}

static void lru_push(tp_shm_dict_t *d, stripe_t *s, uint32_t i)
{
    entry_t *e = entry_at(d, s, i);
    e->lru_prev = NONE;
    e->lru_next = s->lru_head;
    if (s->lru_head != NONE)
        entry_at(d, s, s->lru_head)->lru_prev = i;
    s->lru_head = i;
    if (s->lru_tail == NONE)
        s->lru_tail = i;
}

static void lru_touch(tp_shm_dict_t *d, stripe_t *s, uint32_t i)
{
    if (s->lru_head == i)
        return;
    mark_dirty(s, 1);
    lru_unlink(d, s, i);
    lru_push(d, s, i);
    mark_dirty(s, 0);
}

/* Unlink entry i from its bucket and the LRU list and put it on the free list. */
static void entry_free(tp_shm_dict_t *d, stripe_t *s, uint32_t i)
{
    entry_t *e = entry_at(d, s, i);
    uint32_t *link = &buckets_of(s)[e->hash % d->nbuckets];

    mark_dirty(s, 1);
    while (*link != NONE && *link != i)
        link = &entry_at(d, s, *link)->next;
    if (*link == i)
        *link = e->next;
    lru_unlink(d, s, i);
    e->type = TP_SHM_NIL;
    e->next = s->free_head;
    s->free_head = i;
    s->used--;
    mark_dirty(s, 0);
}

static uint32_t entry_find(tp_shm_dict_t *d, stripe_t *s, const char *key, size_t klen,
                           uint32_t h)
{
    uint32_t i = buckets_of(s)[h % d->nbuckets];
    while (i != NONE) {
        entry_t *e = entry_at(d, s, i);
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return i;
        i = e->next;
    }
    return NONE;
}

/* Find a live entry; an expired one is freed on the way (lazy expiry). */
static uint32_t entry_lookup(tp_shm_dict_t *d, stripe_t *s, const char *key, size_t klen,
                             uint32_t h, int64_t now_ms)
{
    uint32_t i = entry_find(d, s, key, klen, h);
    if (i != NONE && is_expired(entry_at(d, s, i), now_ms)) {
        entry_free(d, s, i);
        s->expired++;
        return NONE;
    }
    return i;
}

/* Free up to max expired entries, looking only at the LRU tail (bounded work). */
static int stripe_sweep(tp_shm_dict_t *d, stripe_t *s, int64_t now_ms, int max)
{
    int n = 0, looked = 0;
    uint32_t i = s->lru_tail;
    while (i != NONE && looked < max * 4 && n < max) {
        uint32_t prev = entry_at(d, s, i)->lru_prev;
        if (is_expired(entry_at(d, s, i), now_ms)) {
            entry_free(d, s, i);
            s->expired++;
            n++;
        }
        looked++;
        i = prev;
    }
    return n;
}

/* Make a new, linked entry for key (which must not exist); evicts the LRU if full. */
static uint32_t entry_insert(tp_shm_dict_t *d, stripe_t *s, const char *key, size_t klen,
                             uint32_t h, int64_t now_ms)
{
    uint32_t i, *bucket;
    entry_t *e;

    stripe_sweep(d, s, now_ms, SWEEP_ON_INSERT);
    if (s->free_head == NONE) {
        i = s->lru_tail;
        if (is_expired(entry_at(d, s, i), now_ms))
            s->expired++;
        else
            s->evictions++;
        entry_free(d, s, i);
    }
    mark_dirty(s, 1);
    i = s->free_head;
    e = entry_at(d, s, i);
    s->free_head = e->next;
    memcpy(e->key, key, klen);
    e->klen = (uint8_t)klen;
    e->hash = h;
    e->type = TP_SHM_NIL;
    e->vlen = 0;
    e->num = 0;
    e->expires_at = 0;
    bucket = &buckets_of(s)[h % d->nbuckets];
    e->next = *bucket;
    *bucket = i;
    lru_push(d, s, i);
    s->used++;
    mark_dirty(s, 0);
    return i;
}

static stripe_t *stripe_for(tp_shm_dict_t *d, const char *key, size_t klen, uint32_t *h)
{
    uint64_t full = hash_key(key, klen);
    *h = (uint32_t)(full >> 32);
    return stripe_at(d, (uint32_t)(full % d->nstripes));
}

static int bad_key(size_t klen)
{
    return klen == 0 || klen > TP_SHM_KEY_MAX;
}

static char *value_of(entry_t *e)
{
    return (char *)(e + 1);
}

int tp_shm_get(tp_shm_dict_t *d, const char *key, size_t klen, int64_t now_ms, char *buf,
               size_t *len, double *num)
{
    uint32_t h, i;
    stripe_t *s;
    int type = TP_SHM_NIL;

    if (bad_key(klen))
        return TP_SHM_NIL;
    s = stripe_for(d, key, klen, &h);
    stripe_lock(d, s);
    i = entry_lookup(d, s, key, klen, h, now_ms);
    if (i != NONE) {
        entry_t *e = entry_at(d, s, i);
        type = e->type;
        if (type == TP_SHM_STRING || type == TP_SHM_RAW) {
            memcpy(buf, value_of(e), e->vlen < *len ? e->vlen : *len);
            *len = e->vlen;
        } else {
            *num = e->num;
        }
        lru_touch(d, s, i);
    }
    stripe_unlock(s);
    return type;
}

int tp_shm_set(tp_shm_dict_t *d, const char *key, size_t klen, int type, const void *val,
               size_t vlen, double num, int64_t ttl_ms, int64_t now_ms)
{
    uint32_t h, i;
    stripe_t *s;
    entry_t *e;

    if (bad_key(klen))
        return -ENAMETOOLONG;
    if (type < TP_SHM_NIL || type > TP_SHM_RAW)
        return -EINVAL;
    if ((type == TP_SHM_STRING || type == TP_SHM_RAW) && vlen > d->value_size)
        return -E2BIG;
    s = stripe_for(d, key, klen, &h);
    stripe_lock(d, s);
    i = entry_lookup(d, s, key, klen, h, now_ms);
    if (type == TP_SHM_NIL) {
        if (i != NONE)
            entry_free(d, s, i);
        stripe_unlock(s);
        return 0;
    }
    if (i == NONE)
        i = entry_insert(d, s, key, klen, h, now_ms);
    else
        lru_touch(d, s, i);
    e = entry_at(d, s, i);
    e->type = (uint8_t)type;
    e->num = num;
    e->vlen = (type == TP_SHM_STRING || type == TP_SHM_RAW) ? (uint32_t)vlen : 0;
    if (e->vlen)
        memcpy(value_of(e), val, vlen);
    e->expires_at = ttl_ms > 0 ? now_ms + ttl_ms : 0;
    stripe_unlock(s);
    return 0;
}

int tp_shm_incr(tp_shm_dict_t *d, const char *key, size_t klen, double by, double init,
                int64_t ttl_ms, int64_t now_ms, double *out)
{
    uint32_t h, i;
    stripe_t *s;
    entry_t *e;
    int rc = 0;

    if (bad_key(klen))
        return -ENAMETOOLONG;
    s = stripe_for(d, key, klen, &h);
    stripe_lock(d, s);
    i = entry_lookup(d, s, key, klen, h, now_ms);
    if (i == NONE) {
        i = entry_insert(d, s, key, klen, h, now_ms);
        e = entry_at(d, s, i);
        e->type = TP_SHM_NUMBER;
        e->num = init;
        e->expires_at = ttl_ms > 0 ? now_ms + ttl_ms : 0;
    } else {
        e = entry_at(d, s, i);
        lru_touch(d, s, i);
    }
    if (e->type == TP_SHM_NUMBER) {
        e->num += by;
        *out = e->num;
    } else {
        rc = -EINVAL;
    }
    stripe_unlock(s);
    return rc;
}

int tp_shm_delete(tp_shm_dict_t *d, const char *key, size_t klen)
{
    return tp_shm_set(d, key, klen, TP_SHM_NIL, NULL, 0, 0, 0, 0);
}

int tp_shm_update(tp_shm_dict_t *d, const char *key, size_t klen, int64_t ttl_ms,
                  int64_t now_ms, int create, tp_shm_update_fn fn, void *arg)
{
    uint32_t h, i;
    stripe_t *s;
    entry_t *e;
    tp_shm_slot_t slot;
    int rc;

    if (bad_key(klen))
        return -ENAMETOOLONG;
    s = stripe_for(d, key, klen, &h);
    stripe_lock(d, s);
    i = entry_lookup(d, s, key, klen, h, now_ms);
    slot.fresh = i == NONE;
    if (i == NONE && !create) {
        stripe_unlock(s);
        return -ENOENT;
    }
    if (i == NONE) {
        i = entry_insert(d, s, key, klen, h, now_ms);
        e = entry_at(d, s, i);
        e->type = TP_SHM_RAW;
        e->vlen = d->value_size;
        memset(value_of(e), 0, d->value_size);
        e->expires_at = ttl_ms > 0 ? now_ms + ttl_ms : 0;
    } else {
        e = entry_at(d, s, i);
        lru_touch(d, s, i);
    }
    if (e->type != TP_SHM_RAW) {
        stripe_unlock(s);
        return -EINVAL;
    }
    e->vlen = d->value_size;
    slot.data = value_of(e);
    slot.cap = d->value_size;
    slot.expires_at = e->expires_at;
    rc = fn(&slot, arg);
    e->expires_at = slot.expires_at;
    stripe_unlock(s);
    return rc;
}

void tp_shm_stats(tp_shm_dict_t *d, tp_shm_stats_t *out)
{
    uint32_t i;
    memset(out, 0, sizeof(*out));
    out->capacity = (uint64_t)d->nstripes * d->per_stripe;
    out->value_size = d->value_size;
    for (i = 0; i < d->nstripes; i++) {
        stripe_t *s = stripe_at(d, i);
        stripe_lock(d, s);
        out->used += s->used;
        out->evictions += s->evictions;
        out->expired += s->expired;
        stripe_unlock(s);
    }
}

void tp_shm_flush(tp_shm_dict_t *d)
{
    uint32_t i;
    for (i = 0; i < d->nstripes; i++) {
        stripe_t *s = stripe_at(d, i);
        stripe_lock(d, s);
        mark_dirty(s, 1);
        stripe_reset(d, s);
        stripe_unlock(s);
    }
}

int tp_shm_sweep(tp_shm_t *shm, int64_t now_ms, int max)
{
    int n = 0, k;
    uint32_t i;
    for (k = 0; k < NDICTS; k++) {
        tp_shm_dict_t *d = &shm->dicts[k];
        for (i = 0; i < d->nstripes; i++) {
            stripe_t *s = stripe_at(d, i);
            stripe_lock(d, s);
            n += stripe_sweep(d, s, now_ms, max);
            stripe_unlock(s);
        }
    }
    return n;
}

tp_shm_dict_t *tp_shm_dict(tp_shm_t *shm, const char *name, size_t len)
{
    int k;
    for (k = 0; k < NDICTS; k++) {
        if (strlen(shm->dicts[k].name) == len && memcmp(shm->dicts[k].name, name, len) == 0)
            return &shm->dicts[k];
    }
    return NULL;
}

tp_shm_worker_t *tp_shm_worker(tp_shm_t *shm, int idx)
{
    if (idx < 0 || idx >= TP_SHM_MAX_WORKERS)
        return NULL;
    return &shm->workers[idx];
}

/* Size one dict for `bytes` of the zone: as many stripes as make sense, one bucket per
 * entry. Returns the bytes it will use, or 0 when it does not fit. */
static size_t dict_layout(tp_shm_dict_t *d, size_t bytes)
{
    size_t per_entry, n;

    d->entry_size = (sizeof(entry_t) + d->value_size + 7) & ~(size_t)7;
    per_entry = d->entry_size + sizeof(uint32_t);
    n = bytes / per_entry;
    d->nstripes = n >= MAX_STRIPES * 16 ? MAX_STRIPES : (uint32_t)(n / 16);
    if (d->nstripes == 0)
        return 0;
    d->stripe_size = bytes / d->nstripes;
    d->stripe_size &= ~(size_t)63;
    if (d->stripe_size < sizeof(stripe_t) + 64)
        return 0;
    n = (d->stripe_size - sizeof(stripe_t) - 8) / per_entry;
    if (n < 2)
        return 0;
    d->per_stripe = d->nbuckets = (uint32_t)n;
    return d->stripe_size * d->nstripes;
}

tp_shm_t *tp_shm_create(size_t bytes, char *err)
{
    size_t head = (sizeof(tp_shm_t) + 63) & ~(size_t)63, off, room;
    tp_shm_t *shm;
    char *p;
    int k;
    uint32_t i;

    if (bytes < head + 64 * 1024) {
        snprintf(err, TP_ERR_LEN, "shm_size %zu is too small (minimum 64k)", bytes);
        return NULL;
    }
    p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, TP_ERR_LEN, "mmap %zu bytes of shared memory: %s", bytes, strerror(errno));
        return NULL;
    }
    shm = (tp_shm_t *)p;
    shm->magic = SHM_MAGIC;
    shm->size = bytes;
    room = bytes - head;
    off = head;
    for (k = 0; k < NDICTS; k++) {
        tp_shm_dict_t *d = &shm->dicts[k];
        size_t used;
        snprintf(d->name, sizeof(d->name), "%s", dict_specs[k].name);
        d->value_size = dict_specs[k].value_size;
        d->base = p + off;
        used = dict_layout(d, room / 100 * dict_specs[k].share);
        if (used == 0) {
            snprintf(err, TP_ERR_LEN, "shm_size %zu is too small for dict %s", bytes, d->name);
            goto fail;
        }
        for (i = 0; i < d->nstripes; i++) {
            if (stripe_init(d, stripe_at(d, i), err) != 0)
                goto fail;
        }
        off += used;
    }
    return shm;

fail:
    munmap(p, bytes);
    return NULL;
}

void tp_shm_destroy(tp_shm_t *shm)
{
    if (shm == NULL)
        return;
    if (shm == current_zone)
        current_zone = NULL;
    munmap(shm, shm->size);
}

void tp_shm_attach(tp_shm_t *shm)
{
    current_zone = shm;
}

tp_shm_t *tp_shm_current(void)
{
    char err[TP_ERR_LEN];
    if (current_zone == NULL) {
        current_zone = tp_shm_create(TP_SHM_DEFAULT_SIZE, err);
        if (current_zone == NULL) {
            tp_log(TP_LOG_ERR, "%s", err);
            abort();
        }
    }
    return current_zone;
}

/* ---- FFI entry points ---- */

static tp_shm_dict_t *ffi_dict(const char *dict, size_t dlen)
{
    return tp_shm_dict(tp_shm_current(), dict, dlen);
}

int tp_ffi_shm_get(const char *dict, size_t dlen, const char *key, size_t klen, char *buf,
                   size_t *len, double *num, int *type)
{
    tp_shm_dict_t *d = ffi_dict(dict, dlen);
    if (d == NULL)
        return -ENOENT;
    *type = tp_shm_get(d, key, klen, (int64_t)tp_wall_ms(), buf, len, num);
    return 0;
}

int tp_ffi_shm_set(const char *dict, size_t dlen, const char *key, size_t klen, int type,
                   const char *val, size_t vlen, double num, int64_t ttl_ms)
{
    tp_shm_dict_t *d = ffi_dict(dict, dlen);
    if (d == NULL)
        return -ENOENT;
    if (type == TP_SHM_RAW)
        return -EINVAL; /* raw entries belong to C modules */
    return tp_shm_set(d, key, klen, type, val, vlen, num, ttl_ms, (int64_t)tp_wall_ms());
}

int tp_ffi_shm_incr(const char *dict, size_t dlen, const char *key, size_t klen, double by,
                    double init, int64_t ttl_ms, double *out)
{
    tp_shm_dict_t *d = ffi_dict(dict, dlen);
    if (d == NULL)
        return -ENOENT;
    return tp_shm_incr(d, key, klen, by, init, ttl_ms, (int64_t)tp_wall_ms(), out);
}

int tp_ffi_shm_delete(const char *dict, size_t dlen, const char *key, size_t klen)
{
    tp_shm_dict_t *d = ffi_dict(dict, dlen);
    if (d == NULL)
        return -ENOENT;
    return tp_shm_delete(d, key, klen);
}

int tp_ffi_shm_stats(const char *dict, size_t dlen, tp_shm_stats_t *out)
{
    tp_shm_dict_t *d = ffi_dict(dict, dlen);
    if (d == NULL)
        return -ENOENT;
    tp_shm_stats(d, out);
    return 0;
}

int tp_ffi_shm_flush(const char *dict, size_t dlen)
{
    tp_shm_dict_t *d = ffi_dict(dict, dlen);
    if (d == NULL)
        return -ENOENT;
    tp_shm_flush(d);
    return 0;
}

int tp_ffi_shm_workers(tp_shm_worker_t *out, int max)
{
    tp_shm_t *shm = tp_shm_current();
    int i, n = 0;
    for (i = 0; i < TP_SHM_MAX_WORKERS && n < max; i++) {
        tp_shm_worker_t *w = &shm->workers[i];
        if (__atomic_load_n(&w->pid, __ATOMIC_RELAXED) == 0)
            continue;
        out[n].pid = __atomic_load_n(&w->pid, __ATOMIC_RELAXED);
        out[n].generation = __atomic_load_n(&w->generation, __ATOMIC_RELAXED);
        out[n].loaded_at_ms = __atomic_load_n(&w->loaded_at_ms, __ATOMIC_RELAXED);
        out[n].requests = __atomic_load_n(&w->requests, __ATOMIC_RELAXED);
        out[n].active = __atomic_load_n(&w->active, __ATOMIC_RELAXED);
        n++;
    }
    return n;
}
