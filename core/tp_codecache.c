/*
 * tp_codecache.c - owns the process's cache of compiled Lua chunks (LuaJIT bytecode by file
 * path), so that a reload, which builds a whole new Lua state, does not parse again the files
 * that did not change. An entry is valid while the file's device, inode, size, mtime and ctime
 * (nanoseconds) are those it was compiled from; any edit, rename over or touch misses it.
 * Lua side: lua/turnpike/codecache.lua. One entry per path, replaced in place: the cache holds
 * at most one chunk per Lua file the process ever loaded.
 */
#include "tp_util.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#define CODECACHE_BUCKETS 256
#define CODECACHE_MAX_ENTRIES 4096 /* a runaway caller cannot grow it without bound */

/* What identifies one version of a file (filled by tp_ffi_codecache_get). */
typedef struct {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
} tp_codekey_t;

typedef struct codecache_entry_s {
    struct codecache_entry_s *next;
    char *path;
    tp_codekey_t key;
    char *chunk;
    size_t len;
} codecache_entry_t;

/* The worker is single-threaded: one table per process. */
static struct {
    codecache_entry_t *buckets[CODECACHE_BUCKETS];
    int entries;
    uint64_t hits;
} cache;

static unsigned bucket_of(const char *path)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % CODECACHE_BUCKETS;
}

static codecache_entry_t *find(const char *path)
{
    for (codecache_entry_t *e = cache.buckets[bucket_of(path)]; e; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

/* tp_ffi_codecache_get(path, key, len) -> the cached chunk for the file as it is now (and
 * *len), or NULL. key is always filled (zeros when the file cannot be stat'ed): pass it to
 * tp_ffi_codecache_put with the chunk compiled after this call. */
const char *tp_ffi_codecache_get(const char *path, tp_codekey_t *key, size_t *len)
{
    struct stat st;
    memset(key, 0, sizeof(*key));
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    key->dev = (uint64_t)st.st_dev;
    key->ino = (uint64_t)st.st_ino;
    key->size = (uint64_t)st.st_size;
    key->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    key->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
    codecache_entry_t *e = find(path);
    if (e == NULL || memcmp(&e->key, key, sizeof(*key)) != 0)
        return NULL;
    *len = e->len;
    cache.hits++;
    return e->chunk;
}

/* Chunks served from the cache so far (tests, the admin status). */
uint64_t tp_ffi_codecache_hits(void)
{
    return cache.hits;
}

/* tp_ffi_codecache_put(path, key, chunk, len): remember the chunk compiled from the file
 * version key names (a zero key, from a file that could not be stat'ed, is not kept). */
void tp_ffi_codecache_put(const char *path, const tp_codekey_t *key, const char *chunk,
                          size_t len)
{
    if (key->ino == 0 && key->size == 0 && key->mtime_ns == 0)
        return;
    codecache_entry_t *e = find(path);
    if (e == NULL) {
        if (cache.entries >= CODECACHE_MAX_ENTRIES)
            return;
        e = tp_calloc(1, sizeof(*e));
        e->path = tp_strndup(path, strlen(path));
        unsigned b = bucket_of(path);
        e->next = cache.buckets[b];
        cache.buckets[b] = e;
        cache.entries++;
    }
    free(e->chunk);
    e->chunk = tp_malloc(len ? len : 1);
    memcpy(e->chunk, chunk, len);
    e->len = len;
    e->key = *key;
}
