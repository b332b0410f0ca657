/*
 * tp_httpc_head.c - owns the request bytes of an outbound call: the url split
 * into scheme, host, port and request-target, the request line, the caller's
 * headers minus framing and connection ones, Host, User-Agent, Content-Length,
 * Connection: close, and the body after the head.
 */
#include "tp_httpc.h"
#include "tp_httpc_int.h"

#include <stdio.h>

/* Header lines the client writes itself: framing (RFC 9112 6.1-6.3: we always
 * send a Content-Length) and connection management (RFC 9112 9.3). */
static int own_header(const char *name, size_t n)
{
    return tp_strieq(name, n, "content-length") || tp_strieq(name, n, "transfer-encoding") ||
           tp_strieq(name, n, "connection") || tp_strieq(name, n, "keep-alive");
}

static void copy_user_headers(tp_httpc_call_t *c, const tp_httpc_opts_t *o, int *has_host,
                              int *has_ua)
{
    const char *p = o->headers, *end = o->headers ? o->headers + o->headers_len : NULL;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *colon = memchr(p, ':', (size_t)(next - p));
        if (colon != NULL && colon > p) {
            size_t n = (size_t)(colon - p);
            *has_host |= tp_strieq(p, n, "host");
            *has_ua |= tp_strieq(p, n, "user-agent");
            if (!own_header(p, n)) {
                size_t linelen = (size_t)((eol ? eol : end) - p);
                if (linelen > 0 && p[linelen - 1] == '\r')
                    linelen--;
                tp_buf_append(&c->out, p, linelen);
                tp_buf_append(&c->out, "\r\n", 2);
            }
        }
        p = next;
    }
}

void tp_httpc__build_request(tp_httpc_call_t *c, const tp_httpc_opts_t *o, const char *target,
                             size_t tlen)
{
    int has_host = 0, has_ua = 0;
    tp_buf_appendf(&c->out, "%s %s", o->method, target[0] == '/' ? "" : "/");
    tp_buf_append(&c->out, target, tlen);
    tp_buf_append(&c->out, " HTTP/1.1\r\n", 11);
    copy_user_headers(c, o, &has_host, &has_ua);
    if (!has_host) {
        int v6 = strchr(c->host, ':') != NULL;
        tp_buf_appendf(&c->out, "Host: %s%s%s", v6 ? "[" : "", c->host, v6 ? "]" : "");
        if (c->port != (c->is_tls ? 443 : 80))
            tp_buf_appendf(&c->out, ":%d", c->port);
        tp_buf_append(&c->out, "\r\n", 2);
    }
    if (!has_ua)
        tp_buf_appendf(&c->out, "User-Agent: turnpike\r\n");
    /* RFC 9110 8.6: a body (or a method whose semantics expect one) gets a length */
    if (o->body_len > 0 || strcmp(o->method, "POST") == 0 || strcmp(o->method, "PUT") == 0 ||
        strcmp(o->method, "PATCH") == 0)
        tp_buf_appendf(&c->out, "Content-Length: %zu\r\n", o->body_len);
    if (!c->keepalive)
        tp_buf_appendf(&c->out, "Connection: close\r\n");
    tp_buf_append(&c->out, "\r\n", 2);
    if (o->body_len > 0)
        tp_buf_append(&c->out, o->body, o->body_len);
}

/* Split the url into host, port and request-target; 0 or -1 with err. */
int tp_httpc__parse_url(tp_httpc_call_t *c, const tp_httpc_opts_t *o, const char **target,
                        size_t *tlen, char *err, size_t errlen)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(o->url, o->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST))) {
        snprintf(err, errlen, "bad url: %.*s", (int)(o->url_len > 200 ? 200 : o->url_len),
                 o->url);
        return -1;
    }
    const char *schema = o->url + u.field_data[UF_SCHEMA].off;
    size_t slen = u.field_data[UF_SCHEMA].len;
    c->is_tls = tp_strieq(schema, slen, "https");
    if (!c->is_tls && !tp_strieq(schema, slen, "http")) {
        snprintf(err, errlen, "unsupported scheme: %.*s", (int)slen, schema);
        return -1;
    }
    size_t hlen = u.field_data[UF_HOST].len;
    if (hlen >= sizeof(c->host)) {
        snprintf(err, errlen, "bad url: host too long");
        return -1;
    }
    memcpy(c->host, o->url + u.field_data[UF_HOST].off, hlen);
    c->host[hlen] = '\0';
    c->port = (u.field_set & (1 << UF_PORT)) ? u.port : c->is_tls ? 443 : 80;
    if (u.field_set & (1 << UF_PATH)) {
        *target = o->url + u.field_data[UF_PATH].off;
        *tlen = o->url_len - u.field_data[UF_PATH].off;
    } else if (u.field_set & (1 << UF_QUERY)) {
        *target = o->url + u.field_data[UF_QUERY].off - 1; /* "?q": tp_httpc__build_request adds "/" */
        *tlen = o->url_len - u.field_data[UF_QUERY].off + 1;
    } else {
        *target = "/";
        *tlen = 1;
    }
    /* the fragment never goes on the wire (RFC 9110 7.1) */
    const char *hash = memchr(*target, '#', *tlen);
    if (hash)
        *tlen = (size_t)(hash - *target);
    return 0;
}
