/*
 * tp_pool.c - request arenas: a chain of blocks; big allocations get their own block.
 */
#include "tp_pool.h"
#include "tp_util.h"

#define BLOCK_SIZE 4096

typedef struct block_s {
    struct block_s *next;
    size_t used, cap;
    char data[];
} block_t;

typedef struct cleanup_s {
    struct cleanup_s *next;
    void (*fn)(void *);
    void *arg;
} cleanup_t;

struct tp_pool_s {
    block_t *blocks;
    cleanup_t *cleanups;
};

static block_t *new_block(size_t cap)
{
    block_t *b = tp_malloc(sizeof(block_t) + cap);
    b->next = NULL;
    b->used = 0;
    b->cap = cap;
    return b;
}

tp_pool_t *tp_pool_new(void)
{
    tp_pool_t *p = tp_calloc(1, sizeof(*p));
    p->blocks = new_block(BLOCK_SIZE - sizeof(block_t));
    return p;
}

void *tp_pool_alloc(tp_pool_t *pool, size_t n)
{
    if (n > SIZE_MAX / 2)
        n = SIZE_MAX / 2; /* no block can hold it: tp_malloc reports the failure (no wrap to 0) */
    n = (n + 7) & ~(size_t)7;
    block_t *b = pool->blocks;
    if (b->cap - b->used >= n) {
        void *p = b->data + b->used;
        b->used += n;
        return p;
    }
    if (n > BLOCK_SIZE / 4) {
        /* a big allocation: its own block, linked behind the current one */
        block_t *big = new_block(n);
        big->used = n;
        big->next = b->next;
        b->next = big;
        return big->data;
    }
    block_t *nb = new_block(BLOCK_SIZE - sizeof(block_t));
    nb->next = b;
    pool->blocks = nb;
    nb->used = n;
    return nb->data;
}

char *tp_pool_strndup(tp_pool_t *pool, const char *s, size_t n)
{
    char *p = tp_pool_alloc(pool, n + 1);
    if (n)
        memcpy(p, s, n); /* s may be NULL when n is 0 (an empty buffer's data) */
    p[n] = '\0';
    return p;
}

void tp_pool_on_free(tp_pool_t *pool, void (*fn)(void *), void *arg)
{
    cleanup_t *c = tp_pool_alloc(pool, sizeof(*c));
    c->fn = fn;
    c->arg = arg;
    c->next = pool->cleanups;
    pool->cleanups = c;
}

void tp_pool_destroy(tp_pool_t *pool)
{
    if (pool == NULL)
        return;
    for (cleanup_t *c = pool->cleanups; c; c = c->next)
        c->fn(c->arg);
    block_t *b = pool->blocks;
    while (b) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(pool);
}
