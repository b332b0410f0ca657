/*
 * tp_pool.h - a per-request arena: many small allocations, freed at once when
 * the request ends; cleanups registered with tp_pool_on_free run first.
 */
#ifndef TP_POOL_H
#define TP_POOL_H

#include <stddef.h>

typedef struct tp_pool_s tp_pool_t;

tp_pool_t *tp_pool_new(void);
/** Allocate n bytes (8-byte aligned) owned by the pool. Never NULL. */
void *tp_pool_alloc(tp_pool_t *pool, size_t n);
char *tp_pool_strndup(tp_pool_t *pool, const char *s, size_t n);
/** Run fn(arg) when the pool is destroyed (last registered runs first). */
void tp_pool_on_free(tp_pool_t *pool, void (*fn)(void *), void *arg);
void tp_pool_destroy(tp_pool_t *pool);

#endif
