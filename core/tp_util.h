/*
 * tp_util.h - small shared helpers: allocation that aborts on OOM, container_of,
 * error codes and time. Nothing here owns state.
 */
#ifndef TP_UTIL_H
#define TP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#define TP_ERR_LEN 256

/* Results: 0 ok, negative errno on failure; TP_AGAIN asks Lua to yield and wait. */
#define TP_OK 0
#define TP_AGAIN 1

#define tp_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#define tp_countof(a) (sizeof(a) / sizeof((a)[0]))

/** Allocate or abort: running out of memory is not an error we pass up. */
void *tp_malloc(size_t n);
void *tp_calloc(size_t count, size_t n);
void *tp_realloc(void *p, size_t n);
char *tp_strndup(const char *s, size_t n);

/** Monotonic clock in milliseconds / microseconds, and wall clock in ms. */
uint64_t tp_now_ms(void);
uint64_t tp_now_us(void);
uint64_t tp_wall_ms(void);

/** Case-insensitive compare of a (p, n) string with a NUL-terminated lower-case name. */
int tp_strieq(const char *p, size_t n, const char *lower);

/* printf into a caller's error buffer (err may be NULL or errlen 0: nothing is written). */
__attribute__((format(printf, 3, 4))) void tp_errf(char *err, size_t errlen, const char *fmt,
                                                   ...);

#endif
