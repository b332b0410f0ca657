/*
 * tp_http_head.c - owns the request-head checks that are not http-parser's
 * (see tp_http_head.h). RFC 9112 rules are cited where they apply.
 */
#include "tp_http_head.h"
#include "tp_util.h"

#include <strings.h>

/* RFC 9112 section 6.3: a message with both Transfer-Encoding and
 * Content-Length, several differing Content-Lengths, or a transfer coding we
 * do not implement is rejected rather than forwarded (request smuggling). */
int tp_http_framing_is_safe(tp_req_t *r)
{
    tp_header_t *cl = NULL;
    int te = 0;
    for (int i = 0; i < r->headers.n; i++) {
        tp_header_t *h = &r->headers.items[i];
        if (tp_strieq(h->name, h->nlen, "content-length")) {
            if (cl && (cl->vlen != h->vlen || memcmp(cl->value, h->value, h->vlen) != 0))
                return 0;
            if (h->vlen == 0 || strspn(h->value, "0123456789") != h->vlen)
                return 0;
            cl = h;
        } else if (tp_strieq(h->name, h->nlen, "transfer-encoding")) {
            if (te || !tp_strieq(h->value, h->vlen, "chunked"))
                return 0;
            te = 1;
        }
        for (uint32_t k = 0; k < h->vlen; k++)
            if (h->value[k] == '\r' || h->value[k] == '\n' || h->value[k] == '\0')
                return 0;
    }
    return !(cl && te);
}

void tp_http_split_url(tp_req_t *r)
{
    char *u = r->url;
    size_t n = r->url_len;
    /* absolute-form (RFC 9112 section 3.2.2): keep only path and query; a
     * target with no path ("http://h" or "http://h?q") gets "/" */
    size_t skip = 0;
    if (n >= 8 && strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else if (n >= 7 && strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    if (skip) {
        char *end = u + n, *p = u + skip;
        while (p < end && *p != '/' && *p != '?' && *p != '#')
            p++;
        if (p < end && *p == '/') {
            n = (size_t)(end - p);
            u = p;
        } else {
            size_t rest = (size_t)(end - p);
            char *t = tp_pool_alloc(r->pool, rest + 2);
            t[0] = '/';
            memcpy(t + 1, p, rest);
            t[rest + 1] = '\0';
            r->url = u = t;
            r->url_len = n = rest + 1;
        }
    }
    char *q = memchr(u, '?', n);
    r->path = u;
    r->path_len = q ? (size_t)(q - u) : n;
    if (q) {
        r->query = q + 1;
        r->query_len = n - r->path_len - 1;
    }
    char *hash = memchr(r->path, '#', r->path_len);
    if (hash)
        r->path_len = (size_t)(hash - r->path);
}

void tp_http_take_host(tp_req_t *r)
{
    tp_header_t *h = tp_headers_find(&r->headers, "host", 4);
    if (h == NULL) {
        r->host = "";
        return;
    }
    size_t n = h->vlen;
    const char *v = h->value;
    if (n > 0 && v[0] != '[') {
        const char *colon = memchr(v, ':', n);
        if (colon)
            n = (size_t)(colon - v);
    }
    r->host = tp_pool_strndup(r->pool, v, n);
    for (char *s = r->host; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

/* obs-fold, bare CR and NUL in a request head are rejected (RFC 9112
 * sections 2.2 and 5.2); http-parser tolerates some of them. */
int tp_http_head_bytes_ok(const char *p, size_t n)
{
    int line = 0;      /* 0: the request line; then header lines */
    int in_name = 0;   /* before the colon of a header line */
    size_t start = 0;
    /* line ends left over from the previous message (or sent before a request,
     * RFC 9112 section 2.2) come before the request line */
    while (start < n && (p[start] == '\r' || p[start] == '\n'))
        start++;
    for (size_t i = start; i < n; i++) {
        char ch = p[i];
        if (ch == '\0')
            return 0;
        if (ch == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
            return i + 1 >= n; /* a CR at the end may be completed by the next read */
        if (ch == '\n') {
            if (i + 1 < n && (p[i + 1] == ' ' || p[i + 1] == '\t'))
                return 0; /* obs-fold */
            if ((i > start && p[i - 1] == '\n') ||
                (i >= start + 2 && p[i - 1] == '\r' && p[i - 2] == '\n'))
                return 1; /* end of the head */
            line++;
            in_name = 1;
            continue;
        }
        if (line > 0 && in_name) {
            if (ch == ':')
                in_name = 0;
            else if ((ch == ' ' || ch == '\t') && !(i >= 1 && (p[i - 1] == '\n')))
                return 0; /* RFC 9112 section 5.1: no whitespace before the colon */
        }
    }
    return 1;
}
