/*
 * test_upstream_head.c - the request head the gateway sends upstream (tp_upstream_head.c),
 * read back line by line: the request line (the client's method, path and query, or the
 * plugins' overrides, always HTTP/1.1), Host (the target's host[:port], the client's with
 * preserve_host, a plugin's above both), the client's headers minus hop-by-hop ones, those
 * its Connection header names, deleted ones and those the gateway writes itself,
 * X-Forwarded-For/-Proto/-Host/-Port, X-Real-IP and Via, an upgrade request's Upgrade, and
 * the body framing with the connection flags it sets (Content-Length, re-chunking, a
 * replaced or buffered body sent whole).
 */
#include "tp_http.h"
#include "tp_test.h"
#include "tp_upstream_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static tp_pool_t *pool;
static tp_upconn_t up; /* the connection of the last head built; the next build frees it */

static void free_body(void *body)
{
    tp_buf_free(body);
}

static void add_target(tp_req_t *r, const char *host, int port)
{
    r->targets[r->ntargets].host = tp_pool_strndup(pool, host, strlen(host));
    r->targets[r->ntargets].port = port;
    r->ntargets++;
}

/* A request as tp_http.c and the router leave it: 192.0.2.7 on plain HTTP/1.1 to listener
 * port 8000, no body, no Host, one target a.internal:8080; url is origin-form, split here. */
static tp_req_t *req(enum http_method method, const char *url)
{
    tp_req_t *r = tp_pool_alloc(pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->pool = pool;
    r->method = (int)method;
    r->method_name = http_method_str(method);
    r->url = tp_pool_strndup(pool, url, strlen(url));
    r->url_len = strlen(url);
    char *q = strchr(r->url, '?');
    r->path = r->url;
    r->path_len = q ? (size_t)(q - r->url) : r->url_len;
    r->query = q ? q + 1 : NULL;
    r->query_len = q ? strlen(q + 1) : 0;
    r->http_major = r->http_minor = 1;
    r->host = "";
    r->body_done = 1;
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", "192.0.2.7");
    r->client_port = 40000;
    r->listen_port = 8000;
    r->targets = tp_pool_alloc(pool, sizeof(tp_target_t) * TP_MAX_TARGETS);
    memset(r->targets, 0, sizeof(tp_target_t) * TP_MAX_TARGETS);
    add_target(r, "a.internal", 8080);
    tp_pool_on_free(pool, free_body, &r->body);
    return r;
}

static void hdr(tp_req_t *r, const char *name, const char *value)
{
    tp_headers_add(pool, &r->headers, name, strlen(name), value, strlen(value));
}

/* the client's Host header, and r->host as tp_http_take_host makes it */
static void client_host(tp_req_t *r, const char *value, const char *host)
{
    hdr(r, "Host", value);
    r->host = tp_pool_strndup(pool, host, strlen(host));
}

/* a body of n bytes announced by Content-Length (on_headers_complete's flags) */
static void fixed_body(tp_req_t *r, int64_t n)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)n);
    hdr(r, "Content-Length", v);
    r->has_body = 1;
    r->content_length = n;
    r->body_done = 0;
}

static void chunked_body(tp_req_t *r)
{
    hdr(r, "Transfer-Encoding", "chunked");
    r->has_body = 1;
    r->content_length = -1;
    r->body_done = 0;
}

/* the head queued for r, NUL-terminated in the pool; up holds the flags it set */
static const char *head(tp_req_t *r)
{
    tp_buf_free(&up.out);
    memset(&up, 0, sizeof(up));
    tp_upstream__queue_head(&up, r);
    return tp_pool_strndup(pool, tp_buf_data(&up.out), tp_buf_size(&up.out));
}

/* the head's first line is want */
static int request_line_is(const char *h, const char *want)
{
    const char *e = strstr(h, "\r\n");
    return e != NULL && (size_t)(e - h) == strlen(want) && memcmp(h, want, strlen(want)) == 0;
}

/* The value of the nth (from 0) header line called name (any case) in the head, not the
 * body; NULL when there are fewer. */
static const char *nth_header(const char *h, const char *name, int nth)
{
    const char *end = strstr(h, "\r\n\r\n");
    size_t n = strlen(name);
    if (end == NULL)
        return NULL;
    for (const char *line = strstr(h, "\r\n") + 2; line <= end; line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, name, n) == 0 && line[n] == ':' && line[n + 1] == ' ' &&
            nth-- == 0) {
            const char *v = line + n + 2;
            return tp_pool_strndup(pool, v, (size_t)(strstr(v, "\r\n") - v));
        }
    }
    return NULL;
}

static int nth_is(const char *h, const char *name, int nth, const char *want)
{
    const char *v = nth_header(h, name, nth);
    return v != NULL && strcmp(v, want) == 0;
}

static int header_is(const char *h, const char *name, const char *want)
{
    return nth_is(h, name, 0, want);
}

static int count(const char *h, const char *name)
{
    int n = 0;
    while (nth_header(h, name, n))
        n++;
    return n;
}

/* the header names of the head in order, joined with ',' */
static const char *names(const char *h)
{
    tp_buf_t b = {0};
    const char *end = strstr(h, "\r\n\r\n");
    for (const char *line = strstr(h, "\r\n") + 2; end && line <= end;
         line = strstr(line, "\r\n") + 2) {
        if (b.len)
            TP_BUF_LIT(&b, ",");
        const char *colon = strchr(line, ':'), *eol = strstr(line, "\r\n");
        tp_buf_append(&b, line, (size_t)((colon && colon < eol ? colon : eol) - line));
    }
    const char *out = tp_pool_strndup(pool, b.base ? b.base : "", b.len);
    tp_buf_free(&b);
    return out;
}

/* what follows the empty line is want */
static int body_is(const char *h, const char *want)
{
    const char *end = strstr(h, "\r\n\r\n");
    return end != NULL && strcmp(end + 4, want) == 0;
}

/* the gateway's own lines after the client's for a plain request (no client Host) */
#define GATEWAY_NAMES "X-Forwarded-For,X-Forwarded-Proto,X-Forwarded-Port,X-Real-IP,Via"

/* --- the whole head --- */

static void test_whole_head_of_a_plain_get(void)
{
    tp_req_t *r = req(HTTP_GET, "/p?q=1");
    client_host(r, "Example.com", "example.com");
    hdr(r, "Accept", "*/*");
    TP_CHECK(strcmp(head(r), "GET /p?q=1 HTTP/1.1\r\n"
                             "Host: a.internal:8080\r\n"
                             "Accept: */*\r\n"
                             "X-Forwarded-For: 192.0.2.7\r\n"
                             "X-Forwarded-Proto: http\r\n"
                             "X-Forwarded-Host: example.com\r\n"
                             "X-Forwarded-Port: 8000\r\n"
                             "X-Real-IP: 192.0.2.7\r\n"
                             "Via: 1.1 turnpike\r\n"
                             "\r\n") == 0);
    TP_CHECK(up.head_queued == 1 && up.body_finished == 1 && up.chunked_body == 0);
}

/* --- request line --- */

static void test_request_line_is_the_clients(void)
{
    TP_CHECK(request_line_is(head(req(HTTP_POST, "/a/b?x=1&y=2")), "POST /a/b?x=1&y=2 HTTP/1.1"));
    TP_CHECK(request_line_is(head(req(HTTP_DELETE, "/items/7")), "DELETE /items/7 HTTP/1.1"));
    TP_CHECK(request_line_is(head(req(HTTP_OPTIONS, "/")), "OPTIONS / HTTP/1.1"));
    /* "/p?" has an empty query, which is kept */
    TP_CHECK(request_line_is(head(req(HTTP_GET, "/p?")), "GET /p? HTTP/1.1"));
}

static void test_request_line_is_http11_for_an_http10_client(void)
{
    tp_req_t *r = req(HTTP_GET, "/old");
    r->http_minor = 0;
    TP_CHECK(request_line_is(head(r), "GET /old HTTP/1.1"));
}

static void test_request_line_plugin_method(void)
{
    tp_req_t *r = req(HTTP_GET, "/m?k=v");
    r->up_method = "PUT";
    TP_CHECK(request_line_is(head(r), "PUT /m?k=v HTTP/1.1"));
    /* the response parser goes by the method sent: a HEAD made GET has a body to read,
     * a GET made HEAD has none */
    TP_CHECK(tp_upstream__sent_head(r) == 0);
    r = req(HTTP_HEAD, "/h");
    TP_CHECK(tp_upstream__sent_head(r) == 1);
    r->up_method = "GET";
    TP_CHECK(request_line_is(head(r), "GET /h HTTP/1.1"));
    TP_CHECK(tp_upstream__sent_head(r) == 0);
    r = req(HTTP_GET, "/g");
    r->up_method = "HEAD";
    TP_CHECK(tp_upstream__sent_head(r) == 1);
}

static void test_request_line_plugin_path_keeps_client_query(void)
{
    tp_req_t *r = req(HTTP_GET, "/old/path?q=1");
    r->up_path = "/new";
    TP_CHECK(request_line_is(head(r), "GET /new?q=1 HTTP/1.1"));
    r = req(HTTP_GET, "/old");
    r->up_path = "/new/deeper";
    TP_CHECK(request_line_is(head(r), "GET /new/deeper HTTP/1.1"));
}

static void test_request_line_plugin_query(void)
{
    tp_req_t *r = req(HTTP_GET, "/s?old=1");
    r->up_query = "a=b&c=d";
    r->up_query_set = 1;
    TP_CHECK(request_line_is(head(r), "GET /s?a=b&c=d HTTP/1.1"));
    /* a query set on a request that had none */
    r = req(HTTP_GET, "/s");
    r->up_query = "z=9";
    r->up_query_set = 1;
    TP_CHECK(request_line_is(head(r), "GET /s?z=9 HTTP/1.1"));
    /* path, query and method all at once */
    r = req(HTTP_GET, "/s?old=1");
    r->up_method = "POST";
    r->up_path = "/t";
    r->up_query = "n=1";
    r->up_query_set = 1;
    TP_CHECK(request_line_is(head(r), "POST /t?n=1 HTTP/1.1"));
}

/* a query emptied by a plugin goes out without its '?' */
static void test_request_line_plugin_emptied_query(void)
{
    tp_req_t *r = req(HTTP_GET, "/s?secret=1");
    r->up_query = "";
    r->up_query_set = 1;
    TP_CHECK(request_line_is(head(r), "GET /s HTTP/1.1"));
    r = req(HTTP_GET, "/s?secret=1");
    r->up_query = NULL;
    r->up_query_set = 1;
    TP_CHECK(request_line_is(head(r), "GET /s HTTP/1.1"));
    /* up_query without up_query_set is not looked at */
    r = req(HTTP_GET, "/s?kept=1");
    r->up_query = "ignored=1";
    TP_CHECK(request_line_is(head(r), "GET /s?kept=1 HTTP/1.1"));
}

/* --- Host --- */

/* the target's port is said unless it is the scheme's default (80, or 443 with TLS) */
static void test_host_is_the_target(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    TP_CHECK(header_is(head(r), "Host", "a.internal:8080"));
    r->targets[0].port = 80;
    TP_CHECK(header_is(head(r), "Host", "a.internal"));
    r->targets[0].port = 443;
    TP_CHECK(header_is(head(r), "Host", "a.internal:443"));
    r->up_tls = 1;
    TP_CHECK(header_is(head(r), "Host", "a.internal"));
    r->targets[0].port = 80;
    TP_CHECK(header_is(head(r), "Host", "a.internal:80"));
}

static void test_host_is_the_chosen_target(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    add_target(r, "b.internal", 9090);
    r->target_idx = 1;
    TP_CHECK(header_is(head(r), "Host", "b.internal:9090"));
    TP_CHECK(count(head(r), "Host") == 1);
}

static void test_host_ipv6_target(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    r->targets[0].host = "[2001:db8::1]";
    TP_CHECK(header_is(head(r), "Host", "[2001:db8::1]:8080"));
    /* config.lua strips the brackets from a "[v6]:port" target: Host puts them back
     * (RFC 3986 IP-literal) */
    r->targets[0].host = "2001:db8::1";
    TP_CHECK(header_is(head(r), "Host", "[2001:db8::1]:8080"));
    r->targets[0].port = 80;
    TP_CHECK(header_is(head(r), "Host", "[2001:db8::1]"));
}

/* preserve_host: the client's Host as it sent it (case and port kept) */
static void test_host_preserved(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    client_host(r, "Shop.Example:8443", "shop.example");
    r->preserve_host = 1;
    const char *h = head(r);
    TP_CHECK(header_is(h, "Host", "Shop.Example:8443") && count(h, "Host") == 1);
    r->preserve_host = 0;
    h = head(r);
    TP_CHECK(header_is(h, "Host", "a.internal:8080") && count(h, "Host") == 1);
}

/* preserve_host without a (live) client Host: the target's */
static void test_host_preserved_without_client_host(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    r->preserve_host = 1;
    TP_CHECK(header_is(head(r), "Host", "a.internal:8080"));
    client_host(r, "gone.example", "gone.example");
    r->headers.items[0].deleted = 1; /* a plugin cleared it */
    TP_CHECK(header_is(head(r), "Host", "a.internal:8080"));
}

static void test_host_from_plugin_wins(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    client_host(r, "client.example", "client.example");
    r->up_host_header = "plugin.example";
    const char *h = head(r);
    TP_CHECK(header_is(h, "Host", "plugin.example") && count(h, "Host") == 1);
    r->preserve_host = 1;
    h = head(r);
    TP_CHECK(header_is(h, "Host", "plugin.example") && count(h, "Host") == 1);
    /* set_header("Host") also puts the value in the list: still one Host */
    hdr(r, "Host", "plugin.example");
    TP_CHECK(count(head(r), "Host") == 1);
}

static void test_host_value_contract(void)
{
    size_t n = 99;
    tp_req_t *r = req(HTTP_GET, "/");
    client_host(r, "c.example:81", "c.example");
    TP_CHECK(tp_upstream__host_value(r, &n) == NULL && n == 99);
    r->preserve_host = 1;
    const char *v = tp_upstream__host_value(r, &n);
    TP_CHECK(v != NULL && n == 12 && memcmp(v, "c.example:81", 12) == 0);
    r->up_host_header = "p.example";
    v = tp_upstream__host_value(r, &n);
    TP_CHECK(v == r->up_host_header && n == 9);
}

/* RFC 9112 section 3.2.2: with an absolute-form target the Host header is ignored for the
 * target's authority, which tp_http_take_host also puts in the headers at parse time: what
 * routing matched and what preserve_host sends agree */
static void test_host_preserved_with_absolute_form(void)
{
    tp_req_t *r = req(HTTP_GET, "/x");
    r->url = "http://Public.example:8080/x";
    r->url_len = strlen(r->url);
    r->path = r->url + 26;
    hdr(r, "Host", "internal.example");
    tp_http_take_host(r); /* as on_headers_complete does */
    TP_CHECK(strcmp(r->host, "public.example") == 0);
    r->preserve_host = 1;
    const char *h = head(r);
    TP_CHECK(request_line_is(h, "GET /x HTTP/1.1"));
    TP_CHECK(header_is(h, "Host", "Public.example:8080") && count(h, "Host") == 1);
    TP_CHECK(header_is(h, "X-Forwarded-Host", "public.example"));
    TP_CHECK(strstr(h, "internal.example") == NULL);
}

/* --- the client's headers --- */

static void test_end_to_end_headers_in_order_with_repeats(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "Accept", "text/html");
    hdr(r, "X-A", "1");
    hdr(r, "Cookie", "s=1");
    hdr(r, "x-a", "2");
    hdr(r, "Authorization", "Bearer t");
    const char *h = head(r);
    TP_CHECK(strcmp(names(h), "Host,Accept,X-A,Cookie,x-a,Authorization," GATEWAY_NAMES) == 0);
    TP_CHECK(nth_is(h, "X-A", 0, "1") && nth_is(h, "X-A", 1, "2"));
    TP_CHECK(header_is(h, "Authorization", "Bearer t"));
}

static void test_hop_by_hop_headers_dropped(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "Connection", "keep-alive");
    hdr(r, "Keep-Alive", "timeout=5");
    hdr(r, "Proxy-Connection", "keep-alive");
    hdr(r, "TE", "trailers");
    hdr(r, "Trailer", "X-Sum");
    hdr(r, "Upgrade", "h2c"); /* not an upgrade request: no Upgrade goes out */
    hdr(r, "Proxy-Authorization", "Basic eDp5");
    hdr(r, "Proxy-Authenticate", "Basic");
    hdr(r, "X-Kept", "yes");
    TP_CHECK(strcmp(names(head(r)), "Host,X-Kept," GATEWAY_NAMES) == 0);
    /* names compare exactly: an underscore spelling is not hop-by-hop */
    TP_CHECK(tp_http_is_hop_by_hop("KEEP-ALIVE", 10) == 1);
    TP_CHECK(tp_http_is_hop_by_hop("Keep_Alive", 10) == 0);
    TP_CHECK(tp_http_is_hop_by_hop("Expect", 6) == 0 && tp_http_is_hop_by_hop("Via", 3) == 0);
}

/* RFC 9110 section 7.6.1: what the client's Connection header names is hop-by-hop */
static void test_headers_named_in_connection_dropped(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "Connection", "keep-alive, X-Trace ,Foo");
    hdr(r, "X-Trace", "1");
    hdr(r, "foo", "2");
    hdr(r, "X-Other", "3");
    tp_headers_mark_conn_listed(&r->headers); /* as on_headers_complete does */
    TP_CHECK(strcmp(names(head(r)), "Host,X-Other," GATEWAY_NAMES) == 0);
    /* only close or keep-alive: nothing else goes */
    r = req(HTTP_GET, "/");
    hdr(r, "Connection", "close");
    hdr(r, "Close", "x");
    tp_headers_mark_conn_listed(&r->headers);
    TP_CHECK(strcmp(names(head(r)), "Host,Close," GATEWAY_NAMES) == 0);
}

/* Connection tokens are resolved when the request arrives, so a client cannot strip a
 * header a plugin sets later ("Connection: X-Anonymous-Consumer" against the marker
 * auth.lua sets for the anonymous fallback); a client's own copy still goes */
static void test_connection_cannot_strip_plugin_set_header(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "Connection", "X-Anonymous-Consumer");
    hdr(r, "X-Anonymous-Consumer", "forged");  /* the client's */
    tp_headers_mark_conn_listed(&r->headers);  /* the request arrived */
    tp_headers_clear(&r->headers, "x-anonymous-consumer", 20); /* a plugin's set_header */
    hdr(r, "X-Consumer-ID", "anon-id");
    hdr(r, "X-Anonymous-Consumer", "true");
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Consumer-ID", "anon-id"));
    TP_CHECK(header_is(h, "X-Anonymous-Consumer", "true") && count(h, "X-Anonymous-Consumer") == 1);
}

static void test_deleted_headers_not_sent(void)
{
    tp_req_t *r = req(HTTP_POST, "/");
    hdr(r, "X-Secret", "s");
    hdr(r, "Expect", "100-continue");
    hdr(r, "X-Open", "o");
    fixed_body(r, 3);
    r->headers.items[0].deleted = 1;
    r->headers.items[1].deleted = 1; /* tp_http.c clears Expect after reading it */
    const char *h = head(r);
    TP_CHECK(strcmp(names(h), "Host,X-Open," GATEWAY_NAMES ",Content-Length") == 0);
    /* queue_head does not strip a live Expect itself (one set by a plugin goes out) */
    r->headers.items[1].deleted = 0;
    TP_CHECK(header_is(head(r), "Expect", "100-continue"));
}

/* --- X-Forwarded-*, X-Real-IP, Via --- */

static void test_xff_alone_or_appended(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    TP_CHECK(header_is(head(r), "X-Forwarded-For", "192.0.2.7"));
    hdr(r, "X-Forwarded-For", "203.0.113.1, 198.51.100.2");
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-For", "203.0.113.1, 198.51.100.2, 192.0.2.7"));
    TP_CHECK(count(h, "X-Forwarded-For") == 1);
    /* an empty one is as none */
    r = req(HTTP_GET, "/");
    hdr(r, "x-forwarded-for", "");
    h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-For", "192.0.2.7") && count(h, "X-Forwarded-For") == 1);
}

/* of several client X-Forwarded-For lines only the first is kept; a cleared one is ignored */
static void test_xff_repeated_or_cleared(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "X-Forwarded-For", "203.0.113.1");
    hdr(r, "X-Forwarded-For", "203.0.113.2");
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-For", "203.0.113.1, 192.0.2.7"));
    TP_CHECK(count(h, "X-Forwarded-For") == 1);
    r->headers.items[0].deleted = r->headers.items[1].deleted = 1;
    TP_CHECK(header_is(head(r), "X-Forwarded-For", "192.0.2.7"));
}

static void test_xff_ipv6_peer(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    snprintf(r->client_ip, sizeof(r->client_ip), "%s", "2001:db8::7");
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-For", "2001:db8::7"));
    TP_CHECK(header_is(h, "X-Real-IP", "2001:db8::7"));
}

/* X-Real-IP is the peer, never what the client says, whatever the case of its name */
static void test_x_real_ip_not_spoofable(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "X-Real-IP", "6.6.6.6");
    hdr(r, "x-real-ip", "6.6.6.7");
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Real-IP", "192.0.2.7") && count(h, "X-Real-IP") == 1);
    TP_CHECK(strstr(h, "6.6.6.") == NULL);
}

/* The gateway's own names compare as lookups do, "_" as "-": "X_Real_IP: 6.6.6.6" never goes
 * upstream beside the real X-Real-IP (a CGI/WSGI upstream maps both to HTTP_X_REAL_IP);
 * X_Forwarded_For counts as the client's X-Forwarded-For and is not sent as itself */
static void test_underscore_spellings_of_own_headers_dropped(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "X_Real_IP", "6.6.6.6");
    hdr(r, "X_Forwarded_For", "6.6.6.8");
    hdr(r, "X_Forwarded_Proto", "https");
    const char *h = head(r);
    TP_CHECK(count(h, "X_Real_IP") == 0 && count(h, "X_Forwarded_Proto") == 0);
    TP_CHECK(header_is(h, "X-Real-IP", "192.0.2.7"));
    TP_CHECK(count(h, "X_Forwarded_For") == 0);
    TP_CHECK(header_is(h, "X-Forwarded-For", "6.6.6.8, 192.0.2.7"));
    TP_CHECK(header_is(h, "X-Forwarded-Proto", "http"));
}

static void test_x_forwarded_proto(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "X-Forwarded-Proto", "https"); /* the client's claim is replaced */
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-Proto", "http") && count(h, "X-Forwarded-Proto") == 1);
    r->tls = 1;
    h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-Proto", "https") && count(h, "X-Forwarded-Proto") == 1);
}

/* X-Forwarded-Host is r->host (lower case, no port), and only when the client sent a Host */
static void test_x_forwarded_host(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "X-Forwarded-Host", "evil.example");
    TP_CHECK(count(head(r), "X-Forwarded-Host") == 0);
    client_host(r, "WWW.Example.com:8443", "www.example.com");
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-Host", "www.example.com"));
    TP_CHECK(count(h, "X-Forwarded-Host") == 1);
    /* an empty r->host falls back to the Host value as sent */
    r->host = "";
    TP_CHECK(header_is(head(r), "X-Forwarded-Host", "WWW.Example.com:8443"));
}

static void test_x_forwarded_port(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "X-Forwarded-Port", "1");
    r->listen_port = 8443;
    const char *h = head(r);
    TP_CHECK(header_is(h, "X-Forwarded-Port", "8443") && count(h, "X-Forwarded-Port") == 1);
}

/* Via: the client's is forwarded and the gateway's goes after it (RFC 9110 section 7.6.3) */
static void test_via_appended(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "Via", "1.0 edge");
    const char *h = head(r);
    TP_CHECK(count(h, "Via") == 2);
    TP_CHECK(nth_is(h, "Via", 0, "1.0 edge"));
    TP_CHECK(nth_is(h, "Via", 1, "1.1 turnpike"));
}

/* RFC 7239 Forwarded is neither written nor dropped: the client's goes through as sent */
static void test_forwarded_passes_unchanged(void)
{
    tp_req_t *r = req(HTTP_GET, "/");
    hdr(r, "Forwarded", "for=6.6.6.6;proto=https");
    const char *h = head(r);
    TP_CHECK(header_is(h, "Forwarded", "for=6.6.6.6;proto=https") && count(h, "Forwarded") == 1);
}

/* --- upgrade --- */

static void test_upgrade_asks_upstream_itself(void)
{
    tp_req_t *r = req(HTTP_GET, "/ws");
    hdr(r, "Connection", "keep-alive, Upgrade");
    hdr(r, "Upgrade", "websocket");
    hdr(r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    r->upgrade = 1;
    const char *h = head(r);
    TP_CHECK(strcmp(names(h), "Host,Sec-WebSocket-Key,Upgrade,Connection," GATEWAY_NAMES) == 0);
    TP_CHECK(header_is(h, "Upgrade", "websocket") && header_is(h, "Connection", "Upgrade"));
    TP_CHECK(up.body_finished == 1);
    /* the same head without the upgrade flag: neither goes out */
    r->upgrade = 0;
    TP_CHECK(strcmp(names(head(r)), "Host,Sec-WebSocket-Key," GATEWAY_NAMES) == 0);
}

/* an upgrade request whose Upgrade a plugin cleared asks for nothing */
static void test_upgrade_without_upgrade_header(void)
{
    tp_req_t *r = req(HTTP_GET, "/ws");
    hdr(r, "Upgrade", "websocket");
    r->headers.items[0].deleted = 1;
    r->upgrade = 1;
    const char *h = head(r);
    TP_CHECK(count(h, "Upgrade") == 0 && count(h, "Connection") == 0);
}

/* --- framing --- */

static void test_framing_no_body(void)
{
    const char *h = head(req(HTTP_GET, "/"));
    TP_CHECK(count(h, "Content-Length") == 0 && count(h, "Transfer-Encoding") == 0);
    TP_CHECK(body_is(h, "") && up.body_finished == 1 && up.chunked_body == 0);
    h = head(req(HTTP_DELETE, "/"));
    TP_CHECK(count(h, "Content-Length") == 0);
}

/* POST, PUT and PATCH without a body say Content-Length: 0 (RFC 9110 section 8.6) */
static void test_framing_bodiless_post_put_patch(void)
{
    const enum http_method ms[] = {HTTP_POST, HTTP_PUT, HTTP_PATCH};
    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        tp_req_t *r = req(ms[i], "/");
        hdr(r, "Content-Length", "0"); /* the client's is replaced */
        const char *h = head(r);
        TP_CHECK(header_is(h, "Content-Length", "0") && count(h, "Content-Length") == 1);
        TP_CHECK(body_is(h, "") && up.body_finished == 1);
    }
    /* the method sent decides: a GET made POST says Content-Length: 0, a POST made GET not */
    tp_req_t *r = req(HTTP_GET, "/");
    r->up_method = "POST";
    TP_CHECK(header_is(head(r), "Content-Length", "0"));
    r = req(HTTP_POST, "/");
    r->up_method = "GET";
    TP_CHECK(count(head(r), "Content-Length") == 0);
}

static void test_framing_fixed_length(void)
{
    tp_req_t *r = req(HTTP_POST, "/upload");
    fixed_body(r, 11);
    const char *h = head(r);
    TP_CHECK(header_is(h, "Content-Length", "11") && count(h, "Content-Length") == 1);
    TP_CHECK(count(h, "Transfer-Encoding") == 0);
    TP_CHECK(body_is(h, "")); /* the body streams after the head */
    TP_CHECK(up.body_finished == 0 && up.chunked_body == 0);
    /* the client's length is dropped; the gateway's comes last, right before the empty line */
    TP_CHECK(strcmp(names(h), "Host," GATEWAY_NAMES ",Content-Length") == 0);
}

/* a chunked client body is re-chunked: the gateway's Transfer-Encoding, once */
static void test_framing_chunked_rechunked(void)
{
    tp_req_t *r = req(HTTP_PUT, "/stream");
    chunked_body(r);
    const char *h = head(r);
    TP_CHECK(header_is(h, "Transfer-Encoding", "chunked") && count(h, "Transfer-Encoding") == 1);
    TP_CHECK(count(h, "Content-Length") == 0);
    TP_CHECK(strcmp(names(h), "Host," GATEWAY_NAMES ",Transfer-Encoding") == 0);
    TP_CHECK(up.chunked_body == 1 && up.body_finished == 0);
    /* the client's spelling is not copied: the gateway writes its own line */
    r = req(HTTP_POST, "/");
    hdr(r, "TRANSFER-ENCODING", "CHUNKED");
    r->has_body = 1;
    r->content_length = -1;
    h = head(r);
    TP_CHECK(strstr(h, "CHUNKED") == NULL);
    TP_CHECK(count(h, "Transfer-Encoding") == 1 && header_is(h, "Transfer-Encoding", "chunked"));
}

/* set_body: its own length and the bytes right after the head, never chunked */
static void test_framing_replaced_body(void)
{
    tp_req_t *r = req(HTTP_POST, "/r");
    chunked_body(r);
    r->headers.items[0].deleted = 1; /* tp_ffi_req_set_body clears Transfer-Encoding */
    r->body_replaced = 1;
    TP_BUF_LIT(&r->body, "hello");
    const char *h = head(r);
    TP_CHECK(header_is(h, "Content-Length", "5") && count(h, "Content-Length") == 1);
    TP_CHECK(count(h, "Transfer-Encoding") == 0);
    TP_CHECK(body_is(h, "hello"));
    TP_CHECK(up.body_finished == 1 && up.chunked_body == 0);
}

/* a replaced body wins over the client's length, even when left live and even when empty */
static void test_framing_replaced_body_over_client_length(void)
{
    tp_req_t *r = req(HTTP_POST, "/r");
    fixed_body(r, 100);
    hdr(r, "Transfer-Encoding", "chunked"); /* live, as if set_body had not cleared it */
    r->body_replaced = 1;
    const char *h = head(r);
    TP_CHECK(header_is(h, "Content-Length", "0") && count(h, "Content-Length") == 1);
    TP_CHECK(count(h, "Transfer-Encoding") == 0 && body_is(h, ""));
    /* a GET given a body says so */
    r = req(HTTP_GET, "/g");
    r->body_replaced = 1;
    TP_BUF_LIT(&r->body, "{}");
    h = head(r);
    TP_CHECK(header_is(h, "Content-Length", "2") && body_is(h, "{}"));
}

/* a body read whole by a plugin (read_body) goes in whole, with its length */
static void test_framing_buffered_body(void)
{
    tp_req_t *r = req(HTTP_PATCH, "/b");
    chunked_body(r);
    r->body_buffered = 1;
    r->body_done = 1;
    TP_BUF_LIT(&r->body, "abc");
    const char *h = head(r);
    TP_CHECK(header_is(h, "Content-Length", "3") && count(h, "Transfer-Encoding") == 0);
    TP_CHECK(body_is(h, "abc"));
    TP_CHECK(up.body_finished == 1 && up.chunked_body == 0);
}

int main(void)
{
    pool = tp_pool_new();
    TP_RUN(test_whole_head_of_a_plain_get);
    TP_RUN(test_request_line_is_the_clients);
    TP_RUN(test_request_line_is_http11_for_an_http10_client);
    TP_RUN(test_request_line_plugin_method);
    TP_RUN(test_request_line_plugin_path_keeps_client_query);
    TP_RUN(test_request_line_plugin_query);
    TP_RUN(test_request_line_plugin_emptied_query);
    TP_RUN(test_host_is_the_target);
    TP_RUN(test_host_is_the_chosen_target);
    TP_RUN(test_host_ipv6_target);
    TP_RUN(test_host_preserved);
    TP_RUN(test_host_preserved_without_client_host);
    TP_RUN(test_host_from_plugin_wins);
    TP_RUN(test_host_value_contract);
    TP_RUN(test_host_preserved_with_absolute_form);
    TP_RUN(test_end_to_end_headers_in_order_with_repeats);
    TP_RUN(test_hop_by_hop_headers_dropped);
    TP_RUN(test_headers_named_in_connection_dropped);
    TP_RUN(test_connection_cannot_strip_plugin_set_header);
    TP_RUN(test_deleted_headers_not_sent);
    TP_RUN(test_xff_alone_or_appended);
    TP_RUN(test_xff_repeated_or_cleared);
    TP_RUN(test_xff_ipv6_peer);
    TP_RUN(test_x_real_ip_not_spoofable);
    TP_RUN(test_underscore_spellings_of_own_headers_dropped);
    TP_RUN(test_x_forwarded_proto);
    TP_RUN(test_x_forwarded_host);
    TP_RUN(test_x_forwarded_port);
    TP_RUN(test_via_appended);
    TP_RUN(test_forwarded_passes_unchanged);
    TP_RUN(test_upgrade_asks_upstream_itself);
    TP_RUN(test_upgrade_without_upgrade_header);
    TP_RUN(test_framing_no_body);
    TP_RUN(test_framing_bodiless_post_put_patch);
    TP_RUN(test_framing_fixed_length);
    TP_RUN(test_framing_chunked_rechunked);
    TP_RUN(test_framing_replaced_body);
    TP_RUN(test_framing_replaced_body_over_client_length);
    TP_RUN(test_framing_buffered_body);
    tp_buf_free(&up.out);
    tp_pool_destroy(pool);
    return TP_TEST_REPORT();
}
