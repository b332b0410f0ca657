/*
 * tp_cache.h - the response cache: whole responses (status, headers, body) in
 * one shared-memory region created by the master before fork, shared by every
 * worker and kept across reloads. LRU eviction, per-entry size limit, TTL with
 * stale-while-revalidate and stale-if-error windows, and request coalescing
 * (one request fills a key while the others wait for it).
 *
 * The proxy-cache plugin decides *whether* and *under which key* to cache; this
 * module stores and serves. A hit is copied from shared memory straight into the
 * client's output: the body never passes through Lua.
 */
#ifndef TP_CACHE_H
#define TP_CACHE_H

#include "tp_buf.h"
#include "tp_req.h"
#include "tp_upstream.h"

#include <stddef.h>
#include <stdint.h>

#define TP_CACHE_KEY_MAX 128

/* Results of tp_ffi_cache_lookup. */
enum {
    TP_CACHE_MISS_FILL = 0,     /* this request goes upstream and may store the answer */
    TP_CACHE_AGAIN = 1,         /* another request fills the key: yield, then look up again */
    TP_CACHE_HIT = 2,           /* served from the cache after access */
    TP_CACHE_STALE = 3,         /* stale copy served now; refreshed in the background */
    TP_CACHE_MISS_NOFILL = 4,   /* go upstream without storing */
    TP_CACHE_MISS_STALE_OK = 5, /* like MISS_FILL; on upstream failure the stale copy is served */
};

/* What the request does with the cache (tp_req_t.cache). */
typedef struct tp_cache_req_s {
    char key[TP_CACHE_KEY_MAX];
    uint16_t klen;
    int serve;          /* a copy (status, headers, body) waits in `copy` to be served */
    int stale_ok;       /* `copy` may replace an upstream failure (stale-if-error) */
    int filling;        /* this request holds the fill of key (entry index in fill_entry) */
    uint32_t fill_entry;
    int storing;        /* header_filter said: store this response */
    int failed;         /* the fill was abandoned (too big, no room) */
    int age_s;
    uint64_t wait_started_ms;
    int copy_status;
    tp_buf_t copy;      /* serialized headers (name\0value\0...) then body */
    size_t copy_hdr_len;
    double copy_fresh_ms; /* freshness left on the copy when it was taken */
} tp_cache_req_t;

/** Map the cache region (about `bytes` bytes) before fork. Returns 0 or -1 with err. */
int tp_cache_create(size_t bytes, char *err, size_t errlen);

/** Body bytes of the response being filled (no-op unless storing). */
void tp_cache_append(tp_req_t *r, const char *data, size_t n);
/** The response ended: commit when complete, otherwise abandon. Releases the fill. */
void tp_cache_finish(tp_req_t *r, int complete);
/** Parse the copy's headers into r->resp_headers and set r->status. */
void tp_cache_copy_to_response(tp_req_t *r);
/* FFI (lua/turnpike/ffi/cache.lua) */
int tp_ffi_cache_lookup(tp_req_t *r, const char *key, size_t klen, double swr_ms, double sie_ms,
                        double lock_timeout_ms, int *age_s);
int tp_ffi_cache_store(tp_req_t *r, double ttl_ms, double swr_ms, double sie_ms);
void tp_ffi_cache_skip(tp_req_t *r);
int tp_ffi_cache_refresh(tp_req_t *r, const char *key, size_t klen, double lock_timeout_ms);
double tp_ffi_cache_copy_ttl(tp_req_t *r);
int tp_ffi_cache_purge(const char *key, size_t klen);
int tp_ffi_cache_purge_all(void);
int tp_ffi_cache_stats(double *out);

/** Free what the request holds (abandons an unfinished fill). */
void tp_cache_release(tp_req_t *r);

#endif
