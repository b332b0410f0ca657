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
    /* RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing */
    if (te && r->http_major == 1 && r->http_minor == 0)
        return 0;
    return !(cl && te);
}

int tp_http_host_count_ok(tp_req_t *r)
{
    int hosts = 0;
    for (int i = 0; i < r->headers.n; i++) {
        const tp_header_t *h = &r->headers.items[i];
        hosts += h->nlen == 4 && tp_strieq(h->name, h->nlen, "host");
    }
    int required = r->http_major == 1 && r->http_minor >= 1;
    return hosts == 1 || (hosts == 0 && !required);
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
    /* a fragment is no part of a request target (clients should not send one):
     * it ends both the path and the query */
    char *hash = memchr(u, '#', n);
    if (hash)
        n = (size_t)(hash - u);
    char *q = memchr(u, '?', n);
    r->path = u;
    r->path_len = q ? (size_t)(q - u) : n;
    if (q) {
        r->query = q + 1;
        r->query_len = n - r->path_len - 1;
    }
}

/* The authority of an absolute-form target ("http://user@Host:81/p" -> "Host:81"),
 * or NULL for origin-form. */
static const char *target_authority(const tp_req_t *r, size_t *n)
{
    const char *u = r->url, *end = r->url + r->url_len;
    size_t skip = 0;
    if (r->url_len >= 8 && strncasecmp(u, "https://", 8) == 0)
        skip = 8;
    else if (r->url_len >= 7 && strncasecmp(u, "http://", 7) == 0)
        skip = 7;
    if (skip == 0)
        return NULL;
    const char *a = u + skip, *p = a;
    while (p < end && *p != '/' && *p != '?' && *p != '#') {
        if (*p == '@')
            a = p + 1; /* userinfo is not part of the host */
        p++;
    }
    *n = (size_t)(p - a);
    return a;
}

/* "host:port" -> "host", "[v6]:port" -> "[v6]" */
static size_t without_port(const char *v, size_t n)
{
    if (n > 0 && v[0] == '[') {
        const char *close = memchr(v, ']', n);
        return close ? (size_t)(close - v) + 1 : n;
    }
    const char *colon = memchr(v, ':', n);
    return colon ? (size_t)(colon - v) : n;
}

/* RFC 9112 section 3.2.2: with an absolute-form target the Host header is ignored; the
 * target's authority takes its place in the headers too, so that what plugins read, what
 * routing matched and what preserve_host sends upstream agree */
void tp_http_take_host(tp_req_t *r)
{
    size_t n = 0;
    const char *v = r->url ? target_authority(r, &n) : NULL;
    if (v != NULL) {
        tp_headers_clear(&r->headers, "host", 4);
        tp_headers_add(r->pool, &r->headers, "Host", 4, v, n);
    } else {
        tp_header_t *h = tp_headers_find(&r->headers, "host", 4);
        if (h == NULL) {
            r->host = "";
            return;
        }
        v = h->value;
        n = h->vlen;
    }
    n = without_port(v, n);
    r->host = tp_pool_strndup(r->pool, v, n);
    for (char *s = r->host; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

/* obs-fold, bare CR and NUL in a request head are refused (RFC 9112 sections 2.2
 * and 5.2; http-parser tolerates some of them), and so is whitespace between a
 * header's name and its colon (section 5.1). The scan keeps its place between
 * reads: a fold or a bare CR split across two reads is seen as well. */
int tp_http_head_scan(tp_head_scan_t *s, const char *p, size_t n, size_t *end)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (!s->started) {
            /* line ends left over from the previous message (or sent before a
             * request, section 2.2) come before the request line */
            if (ch == '\r' || ch == '\n')
                continue;
            s->started = 1;
        }
        if (ch == '\0' || (s->prev == '\r' && ch != '\n'))
            return TP_HEAD_BAD;
        if (ch == '\n') {
            if (s->prev == '\n' || (s->prev == '\r' && s->prev2 == '\n')) {
                memset(s, 0, sizeof(*s)); /* an empty line: the end of the head */
                *end = i + 1;
                return TP_HEAD_END;
            }
            s->line++;
            s->in_name = 1;
        } else if (s->line > 0 && s->in_name) {
            if (ch == ':')
                s->in_name = 0;
            else if (ch == ' ' || ch == '\t')
                return TP_HEAD_BAD; /* at a line's start: obs-fold; else before the colon */
        }
        s->prev2 = s->prev;
        s->prev = ch;
    }
    return TP_HEAD_MORE;
}
