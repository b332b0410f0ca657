/*
 * tp_http_resp.c - owns the response side of a client connection: status line
 * and headers (hop-by-hop rules, queued plugin header operations), gateway-made
 * responses, streaming a service's response (chunked re-framing, body_filter),
 * cached copies, the end of a response (keep-alive, pipelining) and the JSON
 * access log line.
 */
#include "tp_bridge.h"
#include "tp_cache.h"
#include "tp_http.h"
#include "tp_http_int.h"
#include "tp_log.h"
#include "tp_upstream.h"
#include "tp_util.h"

#include <stdio.h>
#include <time.h>

#define OUT_HIGH_WATER (256 * 1024)
#define DISCARD_LIMIT (1024 * 1024)

static void send_exit_response(tp_req_t *r);
static void serve_cached(tp_req_t *r, const char *cache_status);

const char *tp_http__status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static void append_date(tp_buf_t *b)
{
    /* the Date header changes once a second: format it once per second */
    static time_t cached_at;
    static char cached[64];
    time_t now = time(NULL);
    if (now != cached_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof(cached), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        cached_at = now;
    }
    tp_buf_append(b, cached, strlen(cached));
}

/* Hop-by-hop headers (RFC 9110 section 7.6.1) never cross the gateway. */
int tp_http_is_hop_by_hop(const char *name, size_t n)
{
    /* by length first: most headers are rejected with one switch */
    switch (n) {
    case 2: return tp_strieq(name, n, "te");
    case 7: return tp_strieq(name, n, "trailer") || tp_strieq(name, n, "upgrade");
    case 10: return tp_strieq(name, n, "connection") || tp_strieq(name, n, "keep-alive");
    case 16: return tp_strieq(name, n, "proxy-connection");
    case 17: return tp_strieq(name, n, "transfer-encoding");
    case 18: return tp_strieq(name, n, "proxy-authenticate");
    case 19: return tp_strieq(name, n, "proxy-authorization");
    default: return 0;
    }
}

static int no_body_status(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/* Apply set/add/clear operations queued by plugins before the headers existed. */
static void apply_resp_ops(tp_req_t *r)
{
    tp_headers_apply_ops(r->pool, &r->resp_headers, &r->resp_ops);
}

/* Status line and headers. content_length >= 0: that Content-Length; LEN_UNKNOWN:
 * chunked if the client speaks HTTP/1.1, else close-delimited; LEN_UNSAID (the answer
 * to a HEAD whose length is not known): no framing header at all. */
enum { LEN_UNKNOWN = -1, LEN_UNSAID = -2 };

/* Will the unread rest of the request body close the connection (chunked, or more than
 * is worth reading to drop)? Decided before the head goes out, so that it says so. */
static int body_rest_closes(const tp_req_t *r)
{
    if (r->body_done)
        return 0;
    return r->content_length < 0 ||
           (uint64_t)r->content_length - r->body_received > DISCARD_LIMIT;
}

static void write_head(tp_conn_t *c, tp_req_t *r, int64_t content_length)
{
    tp_buf_t *b = &c->out;
    size_t before = tp_buf_size(b);
    int body_allowed = !no_body_status(r->status);
    TP_BUF_LIT(b, "HTTP/1.1 ");
    tp_buf_put_uint(b, (uint64_t)r->status);
    TP_BUF_LIT(b, " ");
    tp_buf_puts(b, tp_http__status_text(r->status));
    TP_BUF_LIT(b, "\r\n");
    int has_server = 0;
    /* RFC 9110 section 15.5.22: a 426 names the protocol to switch to in Upgrade; a
     * 101 (section 15.2.2) names the one switched to, with Connection: Upgrade */
    int switching = r->status == 101;
    int upgrade = switching || (r->status == 426 && r->resp_source != TP_SRC_SERVICE);
    for (int i = 0; i < r->resp_headers.n; i++) {
        tp_header_t *h = &r->resp_headers.items[i];
        int keep = upgrade && h->nlen == 7 && tp_strieq(h->name, h->nlen, "upgrade");
        /* headers the upstream's Connection named were never copied here */
        int hop = !keep && tp_http_is_hop_by_hop(h->name, h->nlen);
        if (h->deleted || hop ||
            (h->nlen == 14 && tp_strieq(h->name, h->nlen, "content-length")) ||
            (h->nlen == 4 && tp_strieq(h->name, h->nlen, "date")))
            continue;
        if (h->nlen == 6 && tp_strieq(h->name, h->nlen, "server"))
            has_server = 1;
        tp_buf_append(b, h->name, h->nlen);
        tp_buf_append(b, ": ", 2);
        tp_buf_append(b, h->value, h->vlen);
        tp_buf_append(b, "\r\n", 2);
    }
    append_date(b);
    if (!has_server && r->resp_source != TP_SRC_SERVICE)
        TP_BUF_LIT(b, "Server: turnpike\r\n");
    if (body_allowed) {
        if (content_length >= 0) {
            TP_BUF_LIT(b, "Content-Length: ");
            tp_buf_put_uint(b, (uint64_t)content_length);
            TP_BUF_LIT(b, "\r\n");
        } else if (content_length == LEN_UNSAID) {
            /* RFC 9110 section 8.6: no length rather than a wrong one */
        } else if (r->http_major == 1 && r->http_minor >= 1) {
            TP_BUF_LIT(b, "Transfer-Encoding: chunked\r\n");
            r->resp_chunked = 1;
        } else {
            r->keepalive = 0; /* close-delimited body */
        }
    }
    if (c->w->draining || body_rest_closes(r))
        r->keepalive = 0; /* RFC 9112 section 9.6: Connection: close says it */
    if (switching)
        TP_BUF_LIT(b, "Connection: Upgrade\r\n"); /* the connection becomes a tunnel */
    else if (!r->keepalive)
        tp_buf_puts(b, upgrade ? "Connection: Upgrade, close\r\n" : "Connection: close\r\n");
    else if (r->http_major == 1 && r->http_minor == 0)
        TP_BUF_LIT(b, "Connection: keep-alive\r\n");
    else if (upgrade)
        TP_BUF_LIT(b, "Connection: Upgrade\r\n");
    tp_buf_append(b, "\r\n", 2);
    r->head_sent_bytes = tp_buf_size(b) - before;
    r->resp_head_sent = 1;
}

static void send_exit_response(tp_req_t *r)
{
    tp_conn_t *c = r->conn;
    r->state = TP_REQ_RESPONDING;
    apply_resp_ops(r);
    if (tp_headers_find(&r->resp_headers, "content-type", 12) == NULL &&
        tp_buf_size(&r->exit_body) > 0)
        tp_headers_add(r->pool, &r->resp_headers, "Content-Type", 12,
                       "application/json; charset=utf-8", 31);
    tp_bridge_header_filter(r);
    if (r->conn == NULL)
        return;
    int head_only = r->method == HTTP_HEAD || no_body_status(r->status);
    tp_buf_t body = r->exit_body;
    if (!head_only && tp_bridge_has_body_filter(r)) {
        tp_buf_t out = {0};
        tp_bridge_body_filter(r, tp_buf_data(&body), tp_buf_size(&body), 1, &out);
        tp_buf_free(&r->exit_body);
        r->exit_body = out;
        body = out;
    }
    write_head(c, r, (int64_t)tp_buf_size(&body));
    if (!head_only) {
        tp_buf_append(&c->out, tp_buf_data(&body), tp_buf_size(&body));
        r->bytes_sent += tp_buf_size(&body);
    }
    tp_http_response_end(r);
}

void tp_http_send_error(tp_req_t *r, int status, const char *msg)
{
    tp_conn_t *c = r->conn;
    if (c == NULL) {
        tp_cache_finish(r, 0);
        tp_http__request_done(r);
        return;
    }
    if (r->cache && r->cache->stale_ok && !r->resp_head_sent && status >= 500) {
        tp_cache_finish(r, 0);
        serve_cached(r, "Stale"); /* stale-if-error */
        return;
    }
    if (r->resp_head_sent) {
        /* too late for a status: the connection closes without the body's end (no last
         * chunk), so the client can tell the response was cut */
        r->keepalive = 0;
        r->resp_aborted = 1;
        c->closing = 1;
        tp_http_response_end(r);
        return;
    }
    r->status = status;
    r->resp_source = TP_SRC_ERROR;
    r->resp_headers.n = 0;
    tp_buf_reset(&r->exit_body);
    tp_buf_appendf(&r->exit_body, "{\"message\":\"%s\"}", msg);
    tp_headers_add(r->pool, &r->resp_headers, "Content-Type", 12,
                   "application/json; charset=utf-8", 31);
    send_exit_response(r);
}

void tp_http_response_head(tp_req_t *r)
{
    tp_conn_t *c = r->conn;
    if (c && r->cache && r->cache->stale_ok && r->svc_status >= 500) {
        r->use_stale = 1; /* stale-if-error: the body is dropped, the copy served at the end */
        return;
    }
    if (c == NULL && !r->bg)
        return;
    r->resp_source = TP_SRC_SERVICE;
    apply_resp_ops(r);
    if (c == NULL) {
        tp_bridge_header_filter(r); /* a background refresh: plugins decide what is stored */
        return;
    }
    tp_bridge_header_filter(r);
    if (r->conn == NULL)
        return;
    int64_t len = LEN_UNKNOWN;
    tp_header_t *cl = tp_headers_find(&r->resp_headers, "content-length", 14);
    if (cl && (r->method == HTTP_HEAD || !tp_bridge_has_body_filter(r)))
        len = strtoll(cl->value, NULL, 10);
    if (r->method == HTTP_HEAD && len < 0)
        len = LEN_UNSAID;
    write_head(c, r, len);
    if (r->method == HTTP_HEAD)
        r->resp_chunked = 0;
    /* not flushed here: the upstream reader flushes once per read (tp_http_flush) */
}

void tp_http_flush(tp_req_t *r)
{
    if (r->conn && tp_buf_size(&r->conn->out) > 0)
        tp_http__conn_flush(r->conn);
}

static void write_body_bytes(tp_conn_t *c, tp_req_t *r, const char *data, size_t n)
{
    if (n == 0)
        return;
    if (r->resp_chunked)
    {
        tp_buf_put_hex(&c->out, n);
        TP_BUF_LIT(&c->out, "\r\n");
    }
    tp_buf_append(&c->out, data, n);
    if (r->resp_chunked)
        tp_buf_append(&c->out, "\r\n", 2);
    r->bytes_sent += n;
}

int tp_http_response_body(tp_req_t *r, const char *data, size_t n)
{
    tp_conn_t *c = r->conn;
    tp_cache_append(r, data, n);
    if (c == NULL || r->use_stale)
        return 0;
    if (r->method == HTTP_HEAD)
        return 0;
    if (tp_bridge_has_body_filter(r)) {
        tp_buf_t out = {0};
        tp_bridge_body_filter(r, data, n, 0, &out);
        write_body_bytes(c, r, tp_buf_data(&out), tp_buf_size(&out));
        tp_buf_free(&out);
    } else {
        write_body_bytes(c, r, data, n);
    }
    if (tp_buf_size(&c->out) > OUT_HIGH_WATER / 4)
        tp_http__conn_flush(c);
    return r->conn != NULL && tp_buf_size(&r->conn->out) > OUT_HIGH_WATER;
}

/* The client side of a response is complete: keep-alive bookkeeping, then the
 * next pipelined request. The request itself is detached, not finished. */
static void client_finished(tp_conn_t *c, tp_req_t *r)
{
    if (!r->keepalive)
        c->closing = 1;
    /* the rest of an unread request body: drop it if small, else close */
    if (!r->body_done && !c->closing) {
        if (body_rest_closes(r))
            c->closing = 1;
        else
            c->discard_body = 1;
    }
    c->req = NULL;
    r->conn = NULL;
    if (c->closing || c->dead) {
        tp_http__conn_flush(c);
        return;
    }
    tp_http__set_timer(c, c->w->node.keepalive_timeout_ms);
    c->head_bytes = 0;
    if (c->reading_paused)
        tp_http__resume_read(c);
    tp_http__conn_flush(c);
    /* a pipelined request may already be waiting */
    if (!c->dead && tp_buf_size(&c->in) > 0)
        tp_http__parse(c);
}

/* Serve the cached copy the cache lookup took (a hit, a stale copy, or a stale
 * copy replacing an upstream failure). With a refresh pending, the request then
 * goes on upstream in the background, without its client. */
static void serve_cached(tp_req_t *r, const char *cache_status)
{
    tp_conn_t *c = r->conn;
    tp_cache_req_t *cr = r->cache;
    r->state = TP_REQ_RESPONDING;
    r->resp_source = TP_SRC_EXIT;
    tp_cache_copy_to_response(r);
    cr->serve = 0;
    apply_resp_ops(r);
    if (cache_status) {
        tp_headers_clear(&r->resp_headers, "x-cache-status", 14);
        tp_headers_add(r->pool, &r->resp_headers, "X-Cache-Status", 14, cache_status,
                       strlen(cache_status));
    }
    tp_bridge_header_filter(r);
    if (r->conn == NULL)
        return;
    size_t body_len = tp_buf_size(&cr->copy) - cr->copy_hdr_len;
    int head_only = r->method == HTTP_HEAD || no_body_status(r->status);
    write_head(c, r, (int64_t)body_len);
    if (!head_only) {
        tp_buf_append(&c->out, tp_buf_data(&cr->copy) + cr->copy_hdr_len, body_len);
        r->bytes_sent += body_len;
    }
    if (cr->filling && r->ntargets > 0 && !r->use_stale) {
        client_finished(c, r);
        r->bg = 1;
        r->status = 0;
        r->resp_headers.n = 0;
        r->resp_source = TP_SRC_NONE;
        r->resp_head_sent = 0;
        r->resp_chunked = 0;
        r->state = TP_REQ_UPSTREAM;
        tp_upstream_start(r);
        return;
    }
    tp_http_response_end(r);
}

void tp_http_response_end(tp_req_t *r)
{
    tp_conn_t *c = r->conn;
    if (r->use_stale && c && !r->resp_head_sent) {
        r->use_stale = 0;
        r->up_complete = 0;
        tp_cache_finish(r, 0);
        serve_cached(r, "Stale");
        return;
    }
    tp_cache_finish(r, r->up_complete);
    if (c == NULL) {
        tp_http__request_done(r);
        return;
    }
    if (r->resp_source == TP_SRC_SERVICE && r->method != HTTP_HEAD && !r->resp_aborted) {
        if (tp_bridge_has_body_filter(r)) {
            tp_buf_t out = {0};
            tp_bridge_body_filter(r, NULL, 0, 1, &out);
            write_body_bytes(c, r, tp_buf_data(&out), tp_buf_size(&out));
            tp_buf_free(&out);
        }
        if (r->resp_chunked)
            tp_buf_append(&c->out, "0\r\n\r\n", 5);
    }
    client_finished(c, r);
    tp_http__request_done(r);
}

static void json_escape(tp_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            tp_buf_appendf(b, "\\%c", ch);
        else if (ch < 0x20 || ch >= 0x7f)
            tp_buf_appendf(b, "\\u%04x", ch);
        else
            tp_buf_append(b, &s[i], 1);
    }
}

void tp_http__access_log(tp_req_t *r)
{
    if (!tp_access_log_enabled())
        return;
    tp_buf_t b = {0};
    uint64_t now = tp_now_us();
    double total_ms = (double)(now - r->start_us) / 1000.0;
    double up_ms = r->up_header_us ? (double)(r->up_header_us - r->up_start_us) / 1000.0 : -1;
    char ts[40];
    time_t secs = (time_t)(r->start_wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    tp_buf_appendf(&b, "{\"time\":\"%s.%03dZ\",\"request_id\":\"%s\",\"client_ip\":\"%s\",\"method\":\"%s\",\"path\":\"",
                   ts, (int)(r->start_wall_ms % 1000), tp_req_id(r), r->client_ip,
                   r->method_name ? r->method_name : "-");
    json_escape(&b, r->path ? r->path : "", r->path_len);
    tp_buf_appendf(&b, "\",\"status\":%d,\"bytes\":%llu,\"upstream_latency_ms\":%.3f,\"latency_ms\":%.3f}\n",
                   r->status, (unsigned long long)r->bytes_sent, up_ms, total_ms);
    tp_access_log_write(tp_buf_data(&b), tp_buf_size(&b));
    tp_buf_free(&b);
}

void tp_http_on_lua_done(tp_req_t *r)
{
    if (r->conn == NULL) {
        tp_http__request_done(r);
        return;
    }
    if (r->body_error) {
        tp_cache_finish(r, 0);
        r->resp_head_sent = 0;
        tp_http_send_error(r, r->body_error, r->body_error == 413 ? "Request body too large"
                                                                   : "Bad request");
        return;
    }
    if (r->resp_source == TP_SRC_EXIT || r->resp_source == TP_SRC_ERROR) {
        tp_cache_finish(r, 0);
        send_exit_response(r);
        return;
    }
    if (r->cache && r->cache->serve) {
        serve_cached(r, NULL);
        return;
    }
    if (r->ntargets == 0) {
        tp_http_send_error(r, 500, "An unexpected error occurred");
        return;
    }
    r->state = TP_REQ_UPSTREAM;
    tp_upstream_start(r);
}
