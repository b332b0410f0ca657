/*
 * tp_upstream_head.c - owns the request head sent upstream: request line (the
 * plugins' method, path and query, else the client's), Host, the client's headers
 * minus hop-by-hop ones and those the gateway sets itself, X-Forwarded-*,
 * X-Real-IP and Via, and the body framing (Content-Length or chunked).
 */
#include "tp_upstream.h"
#include "tp_http.h"
#include "tp_upstream_int.h"

const char *tp_upstream__host_value(tp_req_t *r, size_t *n)
{
    if (r->up_host_header) {
        *n = strlen(r->up_host_header);
        return r->up_host_header;
    }
    tp_header_t *host = r->preserve_host ? tp_headers_find(&r->headers, "host", 4) : NULL;
    if (host) {
        *n = host->vlen;
        return host->value;
    }
    return NULL;
}

static void add_header_line(tp_buf_t *b, const char *name, size_t nlen, const char *v, size_t vlen)
{
    tp_buf_append(b, name, nlen);
    tp_buf_append(b, ": ", 2);
    tp_buf_append(b, v, vlen);
    tp_buf_append(b, "\r\n", 2);
}

/* Client headers the gateway replaces or never forwards. Names compare as header lookups
 * do, "_" as "-": an upstream that maps both to one variable (CGI's HTTP_X_REAL_IP) must
 * not get a client's X_Real_IP beside the gateway's X-Real-IP. */
static int own_name(const tp_header_t *h, const char *name)
{
    return tp_header_name_eq(h->name, h->nlen, name, strlen(name));
}

static int skip_client_header(const tp_header_t *h)
{
    if (h->deleted || h->conn_listed || tp_http_is_hop_by_hop(h->name, h->nlen))
        return 1;
    switch (h->nlen) {
    case 4: return own_name(h, "host");
    case 9: return own_name(h, "x-real-ip");
    case 14: return own_name(h, "content-length");
    case 15: return own_name(h, "x-forwarded-for");
    case 16: return own_name(h, "x-forwarded-host") || own_name(h, "x-forwarded-port");
    case 17: return own_name(h, "x-forwarded-proto");
    default: return 0;
    }
}

/* The method sent upstream: a plugin's, else the client's. */
static const char *sent_method(const tp_req_t *r)
{
    return r->up_method ? r->up_method : r->method_name;
}

int tp_upstream__sent_head(const tp_req_t *r)
{
    return r->up_method ? strcmp(r->up_method, "HEAD") == 0 : r->method == HTTP_HEAD;
}

int tp_upstream__sent_idempotent(const tp_req_t *r)
{
    const char *m = sent_method(r);
    return strcmp(m, "POST") != 0 && strcmp(m, "PATCH") != 0 && strcmp(m, "LOCK") != 0;
}

/* "METHOD /path?query HTTP/1.1": the plugins' method, path and query, else the client's */
static void put_request_line(tp_buf_t *b, tp_req_t *r)
{
    const char *method = sent_method(r);
    const char *path = r->up_path ? r->up_path : r->path;
    size_t plen = r->up_path ? strlen(r->up_path) : r->path_len;
    tp_buf_puts(b, method);
    TP_BUF_LIT(b, " ");
    tp_buf_append(b, path, plen);
    if (r->up_query_set) {
        if (r->up_query && r->up_query[0]) {
            TP_BUF_LIT(b, "?");
            tp_buf_puts(b, r->up_query);
        }
    } else if (r->query) {
        tp_buf_append(b, "?", 1);
        tp_buf_append(b, r->query, r->query_len);
    }
    TP_BUF_LIT(b, " HTTP/1.1\r\n");
}

static void put_host(tp_buf_t *b, tp_req_t *r, const tp_target_t *t)
{
    size_t hlen;
    const char *up_host = tp_upstream__host_value(r, &hlen);
    if (up_host) {
        add_header_line(b, "Host", 4, up_host, hlen);
    } else {
        /* an IPv6 literal is bracketed in Host (config takes the brackets off targets) */
        int v6 = t->host[0] != '[' && strchr(t->host, ':') != NULL;
        TP_BUF_LIT(b, "Host: ");
        if (v6)
            TP_BUF_LIT(b, "[");
        tp_buf_puts(b, t->host);
        if (v6)
            TP_BUF_LIT(b, "]");
        if (t->port != (r->up_tls ? 443 : 80)) { /* the scheme's default port goes unsaid */
            TP_BUF_LIT(b, ":");
            tp_buf_put_uint(b, (uint64_t)t->port);
        }
        TP_BUF_LIT(b, "\r\n");
    }
}

/* the client's end-to-end headers, and the Upgrade it asked for */
static void put_client_headers(tp_buf_t *b, tp_req_t *r)
{
    for (int i = 0; i < r->headers.n; i++) {
        tp_header_t *h = &r->headers.items[i];
        if (!skip_client_header(h))
            add_header_line(b, h->name, h->nlen, h->value, h->vlen);
    }
    if (r->upgrade) {
        /* RFC 9110 section 7.8: Upgrade is hop-by-hop, so the gateway asks the upstream
         * itself, with the protocols the client named */
        tp_header_t *up = tp_headers_find(&r->headers, "upgrade", 7);
        if (up) {
            add_header_line(b, "Upgrade", 7, up->value, up->vlen);
            TP_BUF_LIT(b, "Connection: Upgrade\r\n");
        }
    }
}

/* X-Forwarded-*, X-Real-IP and Via. X-Forwarded-For keeps what the client sent and appends
 * the peer address; X-Real-IP is always the peer, never what the client claims. */
static void put_forwarded(tp_buf_t *b, tp_req_t *r)
{
    tp_header_t *xff = tp_headers_find(&r->headers, "x-forwarded-for", 15);
    if (xff && xff->vlen) {
        TP_BUF_LIT(b, "X-Forwarded-For: ");
        tp_buf_append(b, xff->value, xff->vlen);
        TP_BUF_LIT(b, ", ");
        tp_buf_puts(b, r->client_ip);
        TP_BUF_LIT(b, "\r\n");
    } else {
        add_header_line(b, "X-Forwarded-For", 15, r->client_ip, strlen(r->client_ip));
    }
    if (r->tls)
        TP_BUF_LIT(b, "X-Forwarded-Proto: https\r\n");
    else
        TP_BUF_LIT(b, "X-Forwarded-Proto: http\r\n");
    tp_header_t *host = tp_headers_find(&r->headers, "host", 4);
    if (host) {
        const char *hv = r->host && r->host[0] ? r->host : host->value;
        add_header_line(b, "X-Forwarded-Host", 16, hv, strlen(hv));
    }
    TP_BUF_LIT(b, "X-Forwarded-Port: ");
    tp_buf_put_uint(b, (uint64_t)r->listen_port);
    TP_BUF_LIT(b, "\r\n");
    add_header_line(b, "X-Real-IP", 9, r->client_ip, strlen(r->client_ip));
    TP_BUF_LIT(b, "Via: 1.1 turnpike\r\n");
}

/* the body's framing and the end of the head (a replaced or buffered body goes in whole) */
static void put_framing(tp_buf_t *b, tp_upconn_t *u, tp_req_t *r)
{
    if (r->body_replaced || r->body_buffered) {
        tp_buf_appendf(b, "Content-Length: %zu\r\n\r\n", tp_buf_size(&r->body));
        tp_buf_append(b, tp_buf_data(&r->body), tp_buf_size(&r->body));
        u->body_finished = 1;
    } else if (r->has_body && r->content_length >= 0) {
        TP_BUF_LIT(b, "Content-Length: ");
        tp_buf_put_uint(b, (uint64_t)r->content_length);
        TP_BUF_LIT(b, "\r\n\r\n");
    } else if (r->has_body) {
        TP_BUF_LIT(b, "Transfer-Encoding: chunked\r\n\r\n");
        u->chunked_body = 1;
    } else {
        /* RFC 9110 section 8.6: methods that expect a body say when it is empty */
        const char *m = sent_method(r);
        if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0)
            TP_BUF_LIT(b, "Content-Length: 0\r\n");
        tp_buf_append(b, "\r\n", 2);
        u->body_finished = 1;
    }
}

void tp_upstream__queue_head(tp_upconn_t *u, tp_req_t *r)
{
    tp_buf_t *b = &u->out;
    put_request_line(b, r);
    put_host(b, r, &r->targets[r->target_idx]);
    put_client_headers(b, r);
    put_forwarded(b, r);
    put_framing(b, u, r);
    u->head_queued = 1;
}
