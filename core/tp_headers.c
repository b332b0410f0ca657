/*
 * tp_headers.c - header lists kept in a request's arena.
 */
#include "tp_req.h"
#include "tp_util.h"

#include <stdio.h>
#include <strings.h>
#include <unistd.h>
#include "tp_worker.h"

/* a new slot at the end of h (the array grows in the pool) */
static tp_header_t *append_slot(tp_pool_t *pool, tp_headers_t *h)
{
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 16;
        tp_header_t *items = tp_pool_alloc(pool, sizeof(tp_header_t) * (size_t)cap);
        if (h->n)
            memcpy(items, h->items, sizeof(tp_header_t) * (size_t)h->n);
        h->items = items;
        h->cap = cap;
    }
    return &h->items[h->n++];
}

void tp_headers_add(tp_pool_t *pool, tp_headers_t *h, const char *name, size_t nlen,
                    const char *value, size_t vlen)
{
    tp_header_t *x = append_slot(pool, h);
    x->name = tp_pool_strndup(pool, name, nlen);
    x->value = tp_pool_strndup(pool, value, vlen);
    x->nlen = (uint32_t)nlen;
    x->vlen = (uint32_t)vlen;
    x->deleted = 0;
    x->conn_listed = 0;
    x->op = TP_HOP_SET;
}

static void headers_push(tp_pool_t *pool, tp_headers_t *h, const tp_header_t *from)
{
    tp_header_t *x = append_slot(pool, h);
    *x = *from;
    x->deleted = 0;
    x->conn_listed = 0;
    x->op = TP_HOP_SET;
}

void tp_headers_apply_ops(tp_pool_t *pool, tp_headers_t *dst, tp_headers_t *ops)
{
    for (int i = 0; i < ops->n; i++) {
        tp_header_t *op = &ops->items[i];
        if (op->op != TP_HOP_ADD)
            tp_headers_clear(dst, op->name, op->nlen);
        if (op->op != TP_HOP_CLEAR)
            headers_push(pool, dst, op); /* name and value already live in the pool */
    }
    ops->n = 0;
}

/* Header names compare case-insensitively, and "_" in the asked name matches "-"
 * (Kong's get_header("x_foo") finds X-Foo). */
static int name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x == '_')
            x = '-';
        if (y == '_')
            y = '-';
        if (x != y)
            return 0;
    }
    return 1;
}

tp_header_t *tp_headers_find(tp_headers_t *h, const char *name, size_t nlen)
{
    for (int i = 0; i < h->n; i++) {
        tp_header_t *x = &h->items[i];
        if (!x->deleted && name_eq(x->name, x->nlen, name, nlen))
            return x;
    }
    return NULL;
}

int tp_headers_clear(tp_headers_t *h, const char *name, size_t nlen)
{
    int n = 0;
    for (int i = 0; i < h->n; i++) {
        tp_header_t *x = &h->items[i];
        if (!x->deleted && name_eq(x->name, x->nlen, name, nlen)) {
            x->deleted = 1;
            n++;
        }
    }
    return n;
}

/* Is `name` one of the tokens of a Connection header in h? Such headers are
 * hop-by-hop for this message (RFC 9110 section 7.6.1). */
int tp_headers_conn_listed(tp_headers_t *h, const char *name, size_t nlen)
{
    for (int i = 0; i < h->n; i++) {
        tp_header_t *x = &h->items[i];
        if (x->deleted || !name_eq(x->name, x->nlen, "connection", 10))
            continue;
        const char *p = x->value, *end = x->value + x->vlen;
        while (p < end) {
            while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
                p++;
            const char *tok = p;
            while (p < end && *p != ',' && *p != ' ' && *p != '\t')
                p++;
            if (p > tok && name_eq(tok, (size_t)(p - tok), name, nlen))
                return 1;
        }
    }
    return 0;
}

void tp_headers_mark_conn_listed(tp_headers_t *h)
{
    if (!tp_headers_conn_tokens(h))
        return;
    for (int i = 0; i < h->n; i++) {
        tp_header_t *x = &h->items[i];
        x->conn_listed = tp_headers_conn_listed(h, x->name, x->nlen);
    }
}

/* The request id, made the first time someone asks (most requests never do):
 * pid, start time, worker and counter, as 32 hex digits. */
const char *tp_req_id(tp_req_t *r)
{
    if (r->id_hex[0] == '\0')
        snprintf(r->id_hex, sizeof(r->id_hex), "%08x%08x%08x%08x", (unsigned)getpid(),
                 (unsigned)(r->start_wall_ms & 0xffffffff), (unsigned)r->w->index,
                 (unsigned)r->id);
    return r->id_hex;
}

/* Does a Connection header of h name anything besides keep-alive and close?
 * (Then tp_headers_conn_listed must be asked for each header.) */
int tp_headers_conn_tokens(tp_headers_t *h)
{
    for (int i = 0; i < h->n; i++) {
        tp_header_t *x = &h->items[i];
        if (x->deleted || x->nlen != 10 || !name_eq(x->name, x->nlen, "connection", 10))
            continue;
        if (!tp_strieq(x->value, x->vlen, "keep-alive") && !tp_strieq(x->value, x->vlen, "close"))
            return 1;
    }
    return 0;
}

int tp_header_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return name_eq(a, alen, b, blen);
}
