/*
 * tp_cache.c - owns the shared response-cache region: an entry table with hash
 * chains and an LRU list, and a pool of fixed-size data blocks chained per entry.
 * One robust process-shared mutex guards it all; a worker that dies while
 * holding it makes the next locker wipe the cache if a change was half done
 * (cached responses are only an optimisation: losing them is safe).
 *
 * Entry life: FILLING (linked, invisible to readers, marks the key as being
 * fetched) -> READY on commit (an older READY copy of the key is dropped) ->
 * gone on expiry, purge or eviction. At most one FILLING entry per key: that is
 * the coalescing lock; other requests poll until it turns READY or goes away.
 */
#include "tp_cache.h"
#include "tp_bridge.h"
#include "tp_http.h"
#include "tp_log.h"
#include "tp_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define NONE UINT32_MAX
#define BLOCK_DATA 4088
#define WAIT_POLL_MS 5
#define FILL_ABANDON_MS 120000 /* a fill older than this is presumed lost */

enum { E_FREE = 0, E_FILLING, E_READY };

typedef struct {
    uint32_t next;
    uint32_t used;
    char data[BLOCK_DATA];
} block_t;

typedef struct {
    uint8_t state;
    uint16_t klen;
    char key[TP_CACHE_KEY_MAX];
    uint32_t hnext;          /* hash chain, or free list */
    uint32_t lprev, lnext;   /* LRU list (READY entries only) */
    int32_t status;
    uint32_t hdr_len;
    uint64_t size;           /* headers + body bytes */
    uint32_t first, last;    /* data blocks */
    int64_t stored_ms, fresh_until, swr_until, sie_until, keep_until;
    int32_t fill_pid;
    int64_t fill_started;
    int32_t refresh_pid;     /* a background refresh of this READY entry runs */
    int64_t refresh_started;
} entry_t;

typedef struct {
    pthread_mutex_t lock;
    int dirty;
    uint32_t nbuckets, nentries, nblocks;
    uint32_t free_entry, free_block, nfree_blocks;
    uint32_t lru_head, lru_tail; /* head = most recent */
    uint64_t max_entry_size;
    uint64_t hits, misses, stale, evictions, bytes_used, entries_used;
} cache_hdr_t;

/* The process's view of the region (mapped once by the master, inherited). */
static struct {
    cache_hdr_t *h;
    uint32_t *buckets;
    entry_t *entries;
    block_t *blocks;
} C;

/* ---- region --------------------------------------------------------------------- */

static void reset_region(void)
{
    cache_hdr_t *h = C.h;
    for (uint32_t i = 0; i < h->nbuckets; i++)
        C.buckets[i] = NONE;
    for (uint32_t i = 0; i < h->nentries; i++) {
        C.entries[i].state = E_FREE;
        C.entries[i].hnext = i + 1 < h->nentries ? i + 1 : NONE;
    }
    for (uint32_t i = 0; i < h->nblocks; i++)
        C.blocks[i].next = i + 1 < h->nblocks ? i + 1 : NONE;
    h->free_entry = 0;
    h->free_block = 0;
    h->nfree_blocks = h->nblocks;
    h->lru_head = h->lru_tail = NONE;
    h->bytes_used = h->entries_used = 0;
    h->dirty = 0;
}

int tp_cache_create(size_t bytes, char *err, size_t errlen)
{
    if (bytes < 256 * 1024)
        bytes = 256 * 1024;
    uint32_t nblocks = (uint32_t)(bytes / sizeof(block_t));
    uint32_t nentries = nblocks < 1024 ? 1024 : nblocks;
    uint32_t nbuckets = nentries;
    size_t total = sizeof(cache_hdr_t) + nbuckets * sizeof(uint32_t) + nentries * sizeof(entry_t) +
                   (size_t)nblocks * sizeof(block_t) + 64;
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap cache (%zu bytes): %s", total, strerror(errno));
        return -1;
    }
    C.h = p;
    C.buckets = (uint32_t *)(C.h + 1);
    C.entries = (entry_t *)(((uintptr_t)(C.buckets + nbuckets) + 7) & ~(uintptr_t)7);
    C.blocks = (block_t *)(((uintptr_t)(C.entries + nentries) + 7) & ~(uintptr_t)7);
    C.h->nbuckets = nbuckets;
    C.h->nentries = nentries;
    C.h->nblocks = nblocks;
    /* one entry may take at most an eighth of the cache */
    C.h->max_entry_size = (uint64_t)nblocks * BLOCK_DATA / 8;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&C.h->lock, &a);
    pthread_mutexattr_destroy(&a);
    reset_region();
    return 0;
}

static int lock(void)
{
    if (C.h == NULL)
        return -1;
    int rc = pthread_mutex_lock(&C.h->lock);
    if (rc == EOWNERDEAD) {
        if (C.h->dirty) {
            tp_log(TP_LOG_WARN, "cache: a worker died while changing the cache; emptying it");
            reset_region();
        }
        pthread_mutex_consistent(&C.h->lock);
    } else if (rc != 0) {
        return -1;
    }
    C.h->dirty = 1;
    return 0;
}

static void unlock(void)
{
    C.h->dirty = 0;
    pthread_mutex_unlock(&C.h->lock);
}

static uint32_t hash_key(const char *k, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h % C.h->nbuckets;
}

/* ---- entries and blocks (lock held) ------------------------------------------------ */

static void lru_unlink(uint32_t i)
{
    entry_t *e = &C.entries[i];
    if (e->lprev != NONE)
        C.entries[e->lprev].lnext = e->lnext;
    else
        C.h->lru_head = e->lnext;
    if (e->lnext != NONE)
        C.entries[e->lnext].lprev = e->lprev;
    else
        C.h->lru_tail = e->lprev;
    e->lprev = e->lnext = NONE;
}

static void lru_push(uint32_t i)
{
    entry_t *e = &C.entries[i];
    e->lprev = NONE;
    e->lnext = C.h->lru_head;
    if (C.h->lru_head != NONE)
        C.entries[C.h->lru_head].lprev = i;
    C.h->lru_head = i;
    if (C.h->lru_tail == NONE)
        C.h->lru_tail = i;
}

static void free_blocks(entry_t *e)
{
    uint32_t b = e->first;
    while (b != NONE) {
        uint32_t next = C.blocks[b].next;
        C.blocks[b].next = C.h->free_block;
        C.h->free_block = b;
        C.h->nfree_blocks++;
        b = next;
    }
    e->first = e->last = NONE;
    C.h->bytes_used -= e->size;
    e->size = 0;
}

static void remove_entry(uint32_t i)
{
    entry_t *e = &C.entries[i];
    uint32_t *pp = &C.buckets[hash_key(e->key, e->klen)];
    while (*pp != NONE && *pp != i)
        pp = &C.entries[*pp].hnext;
    if (*pp == i)
        *pp = e->hnext;
    if (e->state == E_READY)
        lru_unlink(i);
    free_blocks(e);
    e->state = E_FREE;
    e->hnext = C.h->free_entry;
    C.h->free_entry = i;
    C.h->entries_used--;
}

/* Drop the least recently used READY entry; 0 when there was none. */
static int evict_one(void)
{
    uint32_t i = C.h->lru_tail;
    if (i == NONE)
        return 0;
    remove_entry(i);
    C.h->evictions++;
    return 1;
}

static uint32_t new_entry(const char *key, size_t klen, int64_t now)
{
    if (C.h->free_entry == NONE && !evict_one())
        return NONE;
    uint32_t i = C.h->free_entry;
    entry_t *e = &C.entries[i];
    C.h->free_entry = e->hnext;
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, klen);
    e->klen = (uint16_t)klen;
    e->first = e->last = NONE;
    e->lprev = e->lnext = NONE;
    e->state = E_FILLING;
    e->fill_pid = getpid();
    e->fill_started = now;
    uint32_t *bucket = &C.buckets[hash_key(key, klen)];
    e->hnext = *bucket;
    *bucket = i;
    C.h->entries_used++;
    return i;
}

/* Append bytes to an entry, taking blocks (evicting others) as needed. */
static int entry_write(uint32_t i, const char *data, size_t n)
{
    entry_t *e = &C.entries[i];
    if (e->size + n > C.h->max_entry_size)
        return -E2BIG;
    while (n > 0) {
        block_t *last = e->last != NONE ? &C.blocks[e->last] : NULL;
        if (last == NULL || last->used == BLOCK_DATA) {
            while (C.h->free_block == NONE) {
                if (!evict_one())
                    return -ENOSPC;
            }
            uint32_t b = C.h->free_block;
            C.h->free_block = C.blocks[b].next;
            C.h->nfree_blocks--;
            C.blocks[b].next = NONE;
            C.blocks[b].used = 0;
            if (last)
                last->next = b;
            else
                e->first = b;
            e->last = b;
            last = &C.blocks[b];
        }
        size_t room = BLOCK_DATA - last->used;
        size_t take = n < room ? n : room;
        memcpy(last->data + last->used, data, take);
        last->used += (uint32_t)take;
        e->size += take;
        C.h->bytes_used += take;
        data += take;
        n -= take;
    }
    return 0;
}

static void entry_copy_out(const entry_t *e, tp_buf_t *out)
{
    tp_buf_reset(out);
    char *dst = tp_buf_reserve(out, e->size);
    for (uint32_t b = e->first; b != NONE; b = C.blocks[b].next) {
        memcpy(dst, C.blocks[b].data, C.blocks[b].used);
        dst += C.blocks[b].used;
    }
    out->len += e->size;
}

static int pid_alive(int32_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* ---- lookup ------------------------------------------------------------------------- */

static tp_cache_req_t *req_cache(tp_req_t *r)
{
    if (r->cache == NULL) {
        r->cache = tp_pool_alloc(r->pool, sizeof(tp_cache_req_t));
        memset(r->cache, 0, sizeof(tp_cache_req_t));
    }
    return r->cache;
}

static void find(const char *key, size_t klen, uint32_t *ready, uint32_t *filling)
{
    *ready = *filling = NONE;
    for (uint32_t i = C.buckets[hash_key(key, klen)]; i != NONE; i = C.entries[i].hnext) {
        entry_t *e = &C.entries[i];
        if (e->klen != klen || memcmp(e->key, key, klen) != 0)
            continue;
        if (e->state == E_READY)
            *ready = i;
        else if (e->state == E_FILLING)
            *filling = i;
    }
}

static void take_copy(tp_cache_req_t *cr, const entry_t *e, int64_t now)
{
    entry_copy_out(e, &cr->copy);
    cr->copy_status = e->status;
    cr->copy_hdr_len = e->hdr_len;
    cr->copy_fresh_ms = (double)(e->fresh_until - now);
    cr->age_s = (int)((now - e->stored_ms) / 1000);
}

static void start_fill(tp_cache_req_t *cr, const char *key, size_t klen, int64_t now)
{
    uint32_t f = new_entry(key, klen, now);
    if (f != NONE) {
        cr->filling = 1;
        cr->fill_entry = f;
    }
}

/* Someone else is fetching this key: wait for it (AGAIN), within the bound. */
static int wait_for_fill(tp_cache_req_t *cr, double lock_timeout_ms, int64_t now)
{
    if (cr->wait_started_ms == 0)
        cr->wait_started_ms = (uint64_t)now;
    if ((double)(now - (int64_t)cr->wait_started_ms) >= lock_timeout_ms) {
        C.h->misses++;
        return TP_CACHE_MISS_NOFILL;
    }
    return TP_CACHE_AGAIN;
}

/* The decision for one key, lock held. */
static int decide(tp_req_t *r, tp_cache_req_t *cr, const char *key, size_t klen,
                  double lock_timeout_ms, int64_t now)
{
    uint32_t ri, fi;
    find(key, klen, &ri, &fi);
    if (fi != NONE) {
        entry_t *f = &C.entries[fi];
        if (!pid_alive(f->fill_pid) || now - f->fill_started > FILL_ABANDON_MS) {
            remove_entry(fi);
            fi = NONE;
        }
    }
    if (ri != NONE && C.entries[ri].keep_until <= now) {
        remove_entry(ri);
        ri = NONE;
    }
    if (ri != NONE) {
        entry_t *e = &C.entries[ri];
        lru_unlink(ri);
        lru_push(ri);
        if (now < e->fresh_until) {
            take_copy(cr, e, now);
            cr->serve = 1;
            C.h->hits++;
            return TP_CACHE_HIT;
        }
        if (now < e->swr_until) {
            take_copy(cr, e, now);
            cr->serve = 1;
            C.h->stale++;
            int refreshing = pid_alive(e->refresh_pid) && now - e->refresh_started < FILL_ABANDON_MS;
            if (!refreshing && fi == NONE) {
                e->refresh_pid = getpid();
                e->refresh_started = now;
                start_fill(cr, key, klen, now);
            }
            return TP_CACHE_STALE;
        }
        if (now < e->sie_until && fi == NONE) {
            take_copy(cr, e, now);
            cr->stale_ok = 1;
            start_fill(cr, key, klen, now);
            C.h->misses++;
            return cr->filling ? TP_CACHE_MISS_STALE_OK : TP_CACHE_MISS_NOFILL;
        }
    }
    if (fi != NONE)
        return wait_for_fill(cr, lock_timeout_ms, now);
    start_fill(cr, key, klen, now);
    C.h->misses++;
    return cr->filling ? TP_CACHE_MISS_FILL : TP_CACHE_MISS_NOFILL;
}

/* A refresh (request Cache-Control: no-cache): the stored copy is not used, but
 * the answer is stored. Coalesced with other fills of the key like a miss. */
static int decide_refresh(tp_req_t *r, tp_cache_req_t *cr, const char *key, size_t klen,
                          double lock_timeout_ms, int64_t now)
{
    uint32_t ri, fi;
    find(key, klen, &ri, &fi);
    if (fi != NONE && pid_alive(C.entries[fi].fill_pid) &&
        now - C.entries[fi].fill_started < FILL_ABANDON_MS)
        return wait_for_fill(cr, lock_timeout_ms, now);
    if (fi != NONE)
        remove_entry(fi);
    start_fill(cr, key, klen, now);
    C.h->misses++;
    return cr->filling ? TP_CACHE_MISS_FILL : TP_CACHE_MISS_NOFILL;
}

static void on_wait_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_req_t *r = tp_container_of(t, tp_req_t, sleep_timer);
    tp_bridge_resume(r);
}

typedef int (*decide_fn)(tp_req_t *r, tp_cache_req_t *cr, const char *key, size_t klen,
                         double lock_timeout_ms, int64_t now);

/* Look a key up under the lock with `decide`; on AGAIN arm a short poll that
 * resumes the request (the filler may be another worker: nothing to wait on). */
static int consult(tp_req_t *r, const char *key, size_t klen, double lock_timeout_ms,
                   decide_fn decide_with)
{
    if (klen == 0 || klen > TP_CACHE_KEY_MAX)
        return -EINVAL;
    tp_cache_req_t *cr = req_cache(r);
    if (cr->filling || cr->serve)
        return -EALREADY;
    memcpy(cr->key, key, klen);
    cr->klen = (uint16_t)klen;
    if (lock() < 0)
        return TP_CACHE_MISS_NOFILL;
    int rc = decide_with(r, cr, key, klen, lock_timeout_ms, (int64_t)tp_wall_ms());
    unlock();
    if (rc == TP_CACHE_AGAIN) {
        ev_timer_init(&r->sleep_timer, on_wait_poll, WAIT_POLL_MS / 1000.0, 0.0);
        ev_timer_start(r->w->loop, &r->sleep_timer);
        r->wait = TP_WAIT_SLEEP;
    }
    return rc;
}

/* swr_ms / sie_ms are the plugin's windows; they matter when storing (an entry
 * carries its own windows), so a lookup only passes them through the API. */
int tp_ffi_cache_lookup(tp_req_t *r, const char *key, size_t klen, double swr_ms, double sie_ms,
                        double lock_timeout_ms, int *age_s)
{
    int rc = consult(r, key, klen, lock_timeout_ms, decide);
    *age_s = r->cache ? r->cache->age_s : 0;
    return rc;
}

int tp_ffi_cache_refresh(tp_req_t *r, const char *key, size_t klen, double lock_timeout_ms)
{
    return consult(r, key, klen, lock_timeout_ms, decide_refresh);
}

/* How long the copy this request took stays fresh, in ms from now (negative:
 * already stale), so a plugin can honour request max-age / min-fresh. */
double tp_ffi_cache_copy_ttl(tp_req_t *r)
{
    tp_cache_req_t *cr = r->cache;
    return cr ? cr->copy_fresh_ms : 0;
}

/* ---- storing ------------------------------------------------------------------------ */

static void serialize_headers(tp_req_t *r, tp_buf_t *out)
{
    for (int i = 0; i < r->svc_headers.n; i++) {
        tp_header_t *h = &r->svc_headers.items[i];
        if (h->deleted || h->conn_listed || tp_http_is_hop_by_hop(h->name, h->nlen) ||
            tp_strieq(h->name, h->nlen, "content-length") || tp_strieq(h->name, h->nlen, "date") ||
            tp_strieq(h->name, h->nlen, "age"))
            continue;
        tp_buf_append(out, h->name, h->nlen);
        tp_buf_append(out, "", 1);
        tp_buf_append(out, h->value, h->vlen);
        tp_buf_append(out, "", 1);
    }
}

int tp_ffi_cache_store(tp_req_t *r, double ttl_ms, double swr_ms, double sie_ms)
{
    tp_cache_req_t *cr = r->cache;
    if (cr == NULL || !cr->filling)
        return -ENOENT;
    tp_buf_t hdrs = {0};
    serialize_headers(r, &hdrs);
    int64_t now = (int64_t)tp_wall_ms();
    int rc = -1;
    if (lock() == 0) {
        entry_t *e = &C.entries[cr->fill_entry];
        if (e->state == E_FILLING && e->fill_pid == getpid()) {
            e->status = r->svc_status;
            e->hdr_len = (uint32_t)tp_buf_size(&hdrs);
            e->stored_ms = now;
            e->fresh_until = now + (int64_t)ttl_ms;
            e->swr_until = e->fresh_until + (int64_t)swr_ms;
            e->sie_until = e->fresh_until + (int64_t)sie_ms;
            e->keep_until = e->swr_until > e->sie_until ? e->swr_until : e->sie_until;
            rc = entry_write(cr->fill_entry, tp_buf_data(&hdrs), tp_buf_size(&hdrs));
        }
        unlock();
    }
    tp_buf_free(&hdrs);
    if (rc < 0) {
        tp_ffi_cache_skip(r);
        return rc;
    }
    cr->storing = 1;
    return 0;
}

/* Give up the fill of this request: waiting requests go on without it. */
void tp_ffi_cache_skip(tp_req_t *r)
{
    tp_cache_req_t *cr = r->cache;
    if (cr == NULL)
        return;
    /* a copy the plugin refused (request max-age, min-fresh) is not served either */
    cr->serve = 0;
    cr->stale_ok = 0;
    if (!cr->filling)
        return;
    cr->filling = 0;
    cr->storing = 0;
    if (lock() < 0)
        return;
    entry_t *e = &C.entries[cr->fill_entry];
    if (e->state == E_FILLING && e->fill_pid == getpid() &&
        e->klen == cr->klen && memcmp(e->key, cr->key, cr->klen) == 0)
        remove_entry(cr->fill_entry);
    uint32_t ri, fi;
    find(cr->key, cr->klen, &ri, &fi);
    if (ri != NONE && C.entries[ri].refresh_pid == getpid())
        C.entries[ri].refresh_pid = 0;
    unlock();
}

void tp_cache_append(tp_req_t *r, const char *data, size_t n)
{
    tp_cache_req_t *cr = r->cache;
    if (cr == NULL || !cr->storing || n == 0)
        return;
    int rc = -1;
    if (lock() == 0) {
        entry_t *e = &C.entries[cr->fill_entry];
        if (e->state == E_FILLING && e->fill_pid == getpid())
            rc = entry_write(cr->fill_entry, data, n);
        unlock();
    }
    if (rc < 0) {
        cr->failed = 1;
        tp_ffi_cache_skip(r);
    }
}

void tp_cache_finish(tp_req_t *r, int complete)
{
    tp_cache_req_t *cr = r->cache;
    if (cr == NULL || !cr->filling)
        return;
    if (!complete || !cr->storing) {
        tp_ffi_cache_skip(r);
        return;
    }
    if (lock() == 0) {
        uint32_t i = cr->fill_entry;
        entry_t *e = &C.entries[i];
        if (e->state == E_FILLING && e->fill_pid == getpid()) {
            uint32_t ri, fi;
            find(cr->key, cr->klen, &ri, &fi);
            if (ri != NONE)
                remove_entry(ri); /* the new copy replaces the old one */
            e->state = E_READY;
            e->fill_pid = 0;
            lru_push(i);
        }
        unlock();
    }
    cr->filling = 0;
    cr->storing = 0;
}

void tp_cache_release(tp_req_t *r)
{
    if (r->cache == NULL)
        return;
    tp_cache_finish(r, 0);
    tp_buf_free(&r->cache->copy);
}

void tp_cache_copy_to_response(tp_req_t *r)
{
    tp_cache_req_t *cr = r->cache;
    r->status = cr->copy_status;
    r->resp_headers.n = 0;
    const char *p = tp_buf_data(&cr->copy);
    const char *end = p + cr->copy_hdr_len;
    while (p < end) {
        size_t nlen = strlen(p);
        const char *v = p + nlen + 1;
        size_t vlen = strlen(v);
        tp_headers_add(r->pool, &r->resp_headers, p, nlen, v, vlen);
        p = v + vlen + 1;
    }
}

/* ---- admin --------------------------------------------------------------------------- */

int tp_ffi_cache_purge(const char *key, size_t klen)
{
    if (lock() < 0)
        return -ENOENT;
    uint32_t ri, fi;
    find(key, klen, &ri, &fi);
    int n = 0;
    if (ri != NONE) {
        remove_entry(ri);
        n = 1;
    }
    unlock();
    return n;
}

int tp_ffi_cache_purge_all(void)
{
    if (lock() < 0)
        return -ENOENT;
    int n = 0;
    for (uint32_t i = 0; i < C.h->nentries; i++) {
        if (C.entries[i].state == E_READY) {
            remove_entry(i);
            n++;
        }
    }
    unlock();
    return n;
}

int tp_ffi_cache_stats(double *out)
{
    if (lock() < 0)
        return -ENOENT;
    out[0] = (double)C.h->hits;
    out[1] = (double)C.h->misses;
    out[2] = (double)C.h->stale;
    out[3] = (double)C.h->evictions;
    out[4] = (double)C.h->bytes_used;
    out[5] = (double)C.h->nblocks * BLOCK_DATA;
    out[6] = (double)C.h->entries_used;
    unlock();
    return 0;
}
