/*
 * tp_buf.h - a growable byte buffer with a read offset: data lives in
 * [base + off, base + len). The owner frees it with tp_buf_free.
 */
#ifndef TP_BUF_H
#define TP_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *base;
    size_t off; /* first unread byte */
    size_t len; /* end of data */
    size_t cap;
} tp_buf_t;

/** Bytes not yet consumed. */
static inline size_t tp_buf_size(const tp_buf_t *b)
{
    return b->len - b->off;
}

static inline char *tp_buf_data(const tp_buf_t *b)
{
    return b->base ? b->base + b->off : NULL; /* never NULL + 0 */
}

/** Make room for at least n more bytes at the end; returns the write position. */
char *tp_buf_reserve(tp_buf_t *b, size_t n);
void tp_buf_append_slow(tp_buf_t *b, const void *p, size_t n);

/** Append n bytes (inline when they fit: heads are built from many small pieces). */
static inline void tp_buf_append(tp_buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len >= n) {
        if (n)
            memcpy(b->base + b->len, p, n);
        b->len += n;
        return;
    }
    tp_buf_append_slow(b, p, n);
}
void tp_buf_appendf(tp_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hot-path appends without printf. */
void tp_buf_puts(tp_buf_t *b, const char *s);
void tp_buf_put_uint(tp_buf_t *b, uint64_t v);
void tp_buf_put_hex(tp_buf_t *b, uint64_t v);
#define TP_BUF_LIT(b, lit) tp_buf_append((b), (lit), sizeof(lit) - 1)
/** Drop n consumed bytes from the front; resets to empty when all is consumed. */
void tp_buf_consume(tp_buf_t *b, size_t n);
void tp_buf_reset(tp_buf_t *b);
void tp_buf_free(tp_buf_t *b);

#endif
