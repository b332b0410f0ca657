/*
 * tp_buf.c - growable byte buffers used for socket input and output.
 */
#include "tp_buf.h"
#include "tp_util.h"

#include <stdarg.h>
#include <stdio.h>

char *tp_buf_reserve(tp_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n)
        return b->base + b->len;
    /* compact before growing: consumed bytes at the front are reusable */
    if (b->off > 0) {
        memmove(b->base, b->base + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n)
            return b->base + b->len;
    }
    size_t cap = b->cap ? b->cap : 256; /* small first: most buffers stay small */
    while (cap - b->len < n)
        cap *= 2;
    b->base = tp_realloc(b->base, cap);
    b->cap = cap;
    return b->base + b->len;
}

void tp_buf_append_slow(tp_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(tp_buf_reserve(b, n), p, n);
    b->len += n;
}

void tp_buf_appendf(tp_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need <= 0)
        return;
    char *dst = tp_buf_reserve(b, (size_t)need + 1);
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

void tp_buf_consume(tp_buf_t *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void tp_buf_reset(tp_buf_t *b)
{
    b->off = b->len = 0;
}

void tp_buf_free(tp_buf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->off = b->len = b->cap = 0;
}

void tp_buf_puts(tp_buf_t *b, const char *s)
{
    tp_buf_append(b, s, strlen(s));
}

void tp_buf_put_uint(tp_buf_t *b, uint64_t v)
{
    char tmp[24];
    int i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tp_buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void tp_buf_put_hex(tp_buf_t *b, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[24];
    int i = sizeof(tmp);
    do {
        tmp[--i] = digits[v & 15];
        v >>= 4;
    } while (v);
    tp_buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}
