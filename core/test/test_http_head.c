/*
 * test_http_head.c - the request-head checks outside http-parser (tp_http_head.c): raw
 * head bytes scanned across reads (NUL, bare CR, obs-fold, whitespace before a colon;
 * good heads, every prefix of one, every split into two reads, pipelined heads), framing (Content-Length against Transfer-Encoding, repeated or
 * non-numeric lengths, codings other than chunked, CR/LF/NUL in values), splitting the
 * target into path and query (absolute-form reduced to its path), r->host (Host, or the
 * authority of an absolute-form target) and the number of Host headers.
 */
#include "tp_http_head.h"
#include "tp_test.h"
#include "tp_test_split.h"

#include <string.h>

static tp_pool_t *pool;

/* a request as tp_http.c leaves it before the checks: zeroed, in the pool, with its url */
static tp_req_t *req(const char *url)
{
    tp_req_t *r = tp_pool_alloc(pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->pool = pool;
    if (url) {
        r->url = tp_pool_strndup(pool, url, strlen(url));
        r->url_len = strlen(url);
    }
    return r;
}

static void hdr(tp_req_t *r, const char *name, const char *value)
{
    tp_headers_add(pool, &r->headers, name, strlen(name), value, strlen(value));
}

/* framing verdict for one or two headers (name2 NULL: just one) */
static int framing(const char *name1, const char *value1, const char *name2, const char *value2)
{
    tp_req_t *r = req("/");
    hdr(r, name1, value1);
    if (name2)
        hdr(r, name2, value2);
    return tp_http_framing_is_safe(r);
}

/* scan a literal (which may hold NULs) in one piece from a fresh state: the verdict,
 * and in *end where the head ended (TP_HEAD_END) */
#define SCAN(lit, end) scan_pieces((lit), sizeof(lit) - 1, sizeof(lit) - 1, (end))
#define VERDICT(lit) SCAN(lit, NULL)

static tp_head_scan_t head_state;

static int head_scan(void *s, const char *p, size_t n, size_t *end)
{
    return tp_http_head_scan(s, p, n, end);
}

/* scan p in two reads cut at `at`, as the connection's reads would come */
static int scan_pieces(const char *p, size_t n, size_t at, size_t *end)
{
    return tp_scan_in_two(head_scan, &head_state, sizeof(head_state), p, n, at, end);
}

#define SPLITS_AGREE(lit) \
    tp_scan_splits_agree(head_scan, &head_state, sizeof(head_state), (lit), sizeof(lit) - 1)

/* a request for url, split into path and query */
static tp_req_t *split(const char *url)
{
    tp_req_t *r = req(url);
    tp_http_split_url(r);
    return r;
}

static int path_is(const tp_req_t *r, const char *want)
{
    return r->path_len == strlen(want) && memcmp(r->path, want, r->path_len) == 0;
}

static int query_is(const tp_req_t *r, const char *want)
{
    return r->query != NULL && r->query_len == strlen(want) &&
           memcmp(r->query, want, r->query_len) == 0;
}

static const char *host_of(const char *value)
{
    tp_req_t *r = req("/");
    hdr(r, "Accept", "*/*");
    hdr(r, "Host", value);
    tp_http_take_host(r);
    return r->host;
}

/* --- raw head bytes --- */

static void test_bytes_good_heads(void)
{
    size_t end;
    TP_CHECK(SCAN("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &end) == TP_HEAD_END && end == 27);
    TP_CHECK(VERDICT("GET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-Y:  two words \r\n\r\n") == TP_HEAD_END);
    TP_CHECK(SCAN("GET / HTTP/1.1\nHost: a\n\n", &end) == TP_HEAD_END && end == 24); /* bare LFs */
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nX:\r\n\r\n") == TP_HEAD_END);  /* empty value */
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nX:\tv\r\n\r\n") == TP_HEAD_END); /* tab after the colon */
    TP_CHECK(SCAN("GET / HTTP/1.0\r\n\r\n", &end) == TP_HEAD_END && end == 18); /* no header */
    /* line ends before the request line (RFC 9112 section 2.2) are skipped */
    TP_CHECK(SCAN("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &end) == TP_HEAD_END && end == 31);
    TP_CHECK(VERDICT("\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == TP_HEAD_END);
    TP_CHECK(VERDICT("") == TP_HEAD_MORE);
    TP_CHECK(VERDICT("\r\n\r\n") == TP_HEAD_MORE);
}

/* While the head is arriving, every prefix of a good head is scanned as "more". */
static void test_bytes_every_prefix_of_a_good_head(void)
{
    static const char head[] = "\r\nPOST /p HTTP/1.1\r\nHost: example.com\r\n"
                               "Content-Length: 3\r\nX-A: b, c\r\n\r\nabc";
    const size_t head_len = sizeof(head) - 1 - 3;
    int wrong = 0;
    for (size_t n = 0; n < head_len; n++)
        wrong += scan_pieces(head, n, n, NULL) != TP_HEAD_MORE;
    TP_CHECK(wrong == 0);
    size_t end;
    TP_CHECK(scan_pieces(head, head_len, head_len, &end) == TP_HEAD_END && end == head_len);
    TP_CHECK(SCAN(head, &end) == TP_HEAD_END && end == head_len);
    /* a CR at the very end may still get its LF */
    TP_CHECK(VERDICT("GET / HTTP/1.1\r") == TP_HEAD_MORE);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost: a\r") == TP_HEAD_MORE);
}

static void test_bytes_nul(void)
{
    TP_CHECK(VERDICT("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("\0") == TP_HEAD_BAD);
    /* after the end of the head come body bytes, which are not looked at */
    size_t end;
    TP_CHECK(SCAN("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n\0\0", &end) == TP_HEAD_END &&
             end == 38);
}

static void test_bytes_bare_cr(void)
{
    TP_CHECK(VERDICT("GET / HTTP/1.1\rHost: a\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("POST / HTTP/1.1\r\nHost: a\r\n\r\n\rx") == TP_HEAD_END); /* body */
    /* a CR ending one read and a non-LF starting the next */
    static const char split[] = "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n";
    TP_CHECK(scan_pieces(split, sizeof(split) - 1, 24, NULL) == TP_HEAD_BAD);
}

static void test_bytes_obs_fold(void)
{
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\nX: a\n b\n\n") == TP_HEAD_BAD);
    /* a first header line starting with whitespace is refused as well */
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\n Host: a\r\n\r\n") == TP_HEAD_BAD);
    /* refused as soon as the byte after the LF arrives */
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nX: a\r\n") == TP_HEAD_MORE);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nX: a\r\n ") == TP_HEAD_BAD);
}

/* The scan keeps its place between reads: a continuation line that starts a new read
 * is still a fold (http-parser would join it to the previous value). */
static void test_bytes_fold_split_across_reads(void)
{
    static const char head[] = "GET / HTTP/1.1\r\nX: a\r\n folded\r\nHost: h\r\n\r\n";
    TP_CHECK(scan_pieces(head, sizeof(head) - 1, 22, NULL) == TP_HEAD_BAD);
    TP_CHECK(scan_pieces(head, sizeof(head) - 1, 21, NULL) == TP_HEAD_BAD);
    TP_CHECK(SPLITS_AGREE("GET / HTTP/1.1\r\nX: a\r\n folded\r\nHost: h\r\n\r\n"));
    TP_CHECK(SPLITS_AGREE("GET / HTTP/1.1\r\nX-A: 1\r\nX B: 2\r\n\r\n"));
    TP_CHECK(SPLITS_AGREE("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"));
    TP_CHECK(SPLITS_AGREE("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n body"));
    TP_CHECK(SPLITS_AGREE("GET / HTTP/1.1\nHost: a\n\n\tbody"));
}

static void test_bytes_space_before_colon(void)
{
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost : a\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nX-A: 1\r\nX B: 2\r\n\r\n") == TP_HEAD_BAD);
    TP_CHECK(VERDICT("GET / HTTP/1.1\r\nHost ") == TP_HEAD_BAD); /* partial, already wrong */
    /* spaces after the colon and in the request line are fine */
    TP_CHECK(VERDICT("GET  /  HTTP/1.1\r\nHost:   a : b\r\n\r\n") == TP_HEAD_END);
}

/* The body that follows the head in the same read is not part of the scan, even when
 * it starts with a space or a tab. */
static void test_bytes_body_starting_with_space(void)
{
    size_t end;
    TP_CHECK(SCAN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n abc", &end) ==
                 TP_HEAD_END && end == 47);
    TP_CHECK(VERDICT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n\tabc") == TP_HEAD_END);
    TP_CHECK(VERDICT("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabc ") == TP_HEAD_END);
}

/* Pipelined heads: each scan ends at its head's end and leaves the state fresh. */
static void test_bytes_pipelined_heads(void)
{
    static const char two[] = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n";
    tp_head_scan_t s;
    memset(&s, 0, sizeof(s));
    size_t end1 = 0, end2 = 0;
    TP_CHECK(tp_http_head_scan(&s, two, sizeof(two) - 1, &end1) == TP_HEAD_END && end1 == 28);
    TP_CHECK(s.started == 0 && s.line == 0 && s.prev == 0);
    TP_CHECK(tp_http_head_scan(&s, two + end1, sizeof(two) - 1 - end1, &end2) == TP_HEAD_END &&
             end1 + end2 == sizeof(two) - 1);
}

/* --- framing --- */

static void test_framing_plain(void)
{
    TP_CHECK(tp_http_framing_is_safe(req("/")) == 1); /* no headers at all */
    TP_CHECK(framing("Host", "a", NULL, NULL) == 1);
    TP_CHECK(framing("Content-Length", "10", NULL, NULL) == 1);
    TP_CHECK(framing("content-length", "0", NULL, NULL) == 1);
    TP_CHECK(framing("Transfer-Encoding", "chunked", NULL, NULL) == 1);
}

/* RFC 9112 section 6.3: both framings at once is refused, in either order */
static void test_framing_length_and_chunked(void)
{
    TP_CHECK(framing("Content-Length", "5", "Transfer-Encoding", "chunked") == 0);
    TP_CHECK(framing("Transfer-Encoding", "chunked", "Content-Length", "5") == 0);
    TP_CHECK(framing("CONTENT-LENGTH", "0", "transfer-encoding", "CHUNKED") == 0);
}

static void test_framing_repeated_length(void)
{
    TP_CHECK(framing("Content-Length", "5", "Content-Length", "6") == 0);
    TP_CHECK(framing("Content-Length", "5", "Content-Length", "05") == 0); /* bytes differ */
    TP_CHECK(framing("Content-Length", "5", "content-length", "5") == 1);  /* the same twice */
    TP_CHECK(framing("Content-Length", "5", "Content-Length", "") == 0);
}

static void test_framing_length_not_a_number(void)
{
    TP_CHECK(framing("Content-Length", "", NULL, NULL) == 0);
    TP_CHECK(framing("Content-Length", "abc", NULL, NULL) == 0);
    TP_CHECK(framing("Content-Length", "-1", NULL, NULL) == 0);
    TP_CHECK(framing("Content-Length", "+5", NULL, NULL) == 0);
    TP_CHECK(framing("Content-Length", "5 ", NULL, NULL) == 0);
    TP_CHECK(framing("Content-Length", " 5", NULL, NULL) == 0);
    TP_CHECK(framing("Content-Length", "5, 5", NULL, NULL) == 0);
    TP_CHECK(framing("Content-Length", "0x10", NULL, NULL) == 0);
    /* digits only, however many: the size limit is checked elsewhere */
    TP_CHECK(framing("Content-Length", "99999999999999999999999", NULL, NULL) == 1);
}

static void test_framing_length_with_nul(void)
{
    tp_req_t *r = req("/");
    tp_headers_add(pool, &r->headers, "Content-Length", 14, "5\0" "6", 3);
    TP_CHECK(tp_http_framing_is_safe(r) == 0);
}

static void test_framing_transfer_codings(void)
{
    TP_CHECK(framing("Transfer-Encoding", "Chunked", NULL, NULL) == 1);
    TP_CHECK(framing("transfer-encoding", "CHUNKED", NULL, NULL) == 1);
    /* only the exact word: no padding, no lists, no other coding */
    TP_CHECK(framing("Transfer-Encoding", " chunked", NULL, NULL) == 0);
    TP_CHECK(framing("Transfer-Encoding", "chunked ", NULL, NULL) == 0);
    TP_CHECK(framing("Transfer-Encoding", "gzip, chunked", NULL, NULL) == 0);
    TP_CHECK(framing("Transfer-Encoding", "chunked, chunked", NULL, NULL) == 0);
    TP_CHECK(framing("Transfer-Encoding", "gzip", NULL, NULL) == 0);
    TP_CHECK(framing("Transfer-Encoding", "identity", NULL, NULL) == 0);
    TP_CHECK(framing("Transfer-Encoding", "", NULL, NULL) == 0);
    TP_CHECK(framing("Transfer-Encoding", "chunke", NULL, NULL) == 0);
    /* twice, even both chunked */
    TP_CHECK(framing("Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked") == 0);
}

static void test_framing_line_breaks_in_values(void)
{
    TP_CHECK(framing("X-A", "a\rb", NULL, NULL) == 0);
    TP_CHECK(framing("X-A", "a\nb", NULL, NULL) == 0);
    TP_CHECK(framing("Host", "ok", "X-B", "\r") == 0);
    tp_req_t *r = req("/");
    tp_headers_add(pool, &r->headers, "X-C", 3, "a\0b", 3);
    TP_CHECK(tp_http_framing_is_safe(r) == 0);
    TP_CHECK(framing("X-A", "tabs\tand spaces", NULL, NULL) == 1);
}

/* Names compare exactly (ignoring case): "_" is not "-" here. */
static void test_framing_underscore_name_is_not_framing(void)
{
    TP_CHECK(framing("Content_Length", "5", "Transfer-Encoding", "chunked") == 1);
    TP_CHECK(framing("Transfer_Encoding", "gzip", NULL, NULL) == 1);
    TP_CHECK(framing("Content_Length", "x", NULL, NULL) == 1);
}

/* --- request target --- */

static void test_split_path_and_query(void)
{
    tp_req_t *r = split("/a/b?x=1&y=2");
    TP_CHECK(r->path == r->url && path_is(r, "/a/b"));
    TP_CHECK(query_is(r, "x=1&y=2") && r->query == r->url + 5);
    TP_CHECK(r->url_len == 12); /* origin-form: the url is left alone */
}

static void test_split_no_query(void)
{
    tp_req_t *r = split("/just/a/path");
    TP_CHECK(path_is(r, "/just/a/path"));
    TP_CHECK(r->query == NULL && r->query_len == 0);
}

static void test_split_empty_query(void)
{
    tp_req_t *r = split("/p?");
    TP_CHECK(path_is(r, "/p"));
    TP_CHECK(r->query == r->url + 3 && r->query_len == 0);

    r = req("/?a?b"); /* the first ? splits, later ones are query */
    tp_http_split_url(r);
    TP_CHECK(path_is(r, "/") && query_is(r, "a?b"));
}

static void test_split_absolute_form(void)
{
    tp_req_t *r = split("http://example.com/p/q?z=1");
    TP_CHECK(path_is(r, "/p/q") && query_is(r, "z=1"));
    TP_CHECK(r->path == r->url + 18); /* points into the url */

    r = split("HTTPS://user@Example.com:8443/x");
    TP_CHECK(path_is(r, "/x") && r->query == NULL);

    r = split("http://h:80/");
    TP_CHECK(path_is(r, "/"));
}

/* absolute-form without a path: the target becomes "/" (plus the query) */
static void test_split_absolute_form_without_path(void)
{
    tp_req_t *r = split("http://example.com");
    TP_CHECK(r->url_len == 1 && strcmp(r->url, "/") == 0);
    TP_CHECK(path_is(r, "/") && r->query == NULL);

    r = split("https://example.com?q=1");
    TP_CHECK(r->url_len == 5 && strcmp(r->url, "/?q=1") == 0);
    TP_CHECK(path_is(r, "/") && query_is(r, "q=1"));

    r = split("http://");
    TP_CHECK(strcmp(r->url, "/") == 0 && path_is(r, "/"));
}

/* Only http:// and https:// are absolute-form here; anything else stays a path. */
/* other forms keep a path that does not start with '/': tp_http.c answers them 400 */
static void test_split_other_schemes_stay(void)
{
    tp_req_t *r = split("httpx://h/p");
    TP_CHECK(path_is(r, "httpx://h/p"));

    r = split("http:/one-slash");
    TP_CHECK(path_is(r, "http:/one-slash"));

    r = split("*");
    TP_CHECK(path_is(r, "*"));
}

/* A fragment (which clients should not send) is cut from the target: from the path, or
 * from the query, and a '?' after a '#' starts no query. */
static void test_split_fragment(void)
{
    tp_req_t *r = split("/a#frag");
    TP_CHECK(path_is(r, "/a") && r->query == NULL);

    r = split("/a?x=1#frag");
    TP_CHECK(path_is(r, "/a") && query_is(r, "x=1"));

    r = split("/a#f?x");
    TP_CHECK(path_is(r, "/a") && r->query == NULL);

    r = split("http://h#f");
    TP_CHECK(path_is(r, "/"));
}

/* --- Host --- */

static void test_host_lower_case_without_port(void)
{
    TP_CHECK(strcmp(host_of("Example.COM"), "example.com") == 0);
    TP_CHECK(strcmp(host_of("Example.com:8080"), "example.com") == 0);
    TP_CHECK(strcmp(host_of("a.b:"), "a.b") == 0);
    TP_CHECK(strcmp(host_of("10.0.0.1:443"), "10.0.0.1") == 0);
    TP_CHECK(strcmp(host_of(""), "") == 0);
    TP_CHECK(strcmp(host_of(":80"), "") == 0);
}

static void test_host_ipv6(void)
{
    TP_CHECK(strcmp(host_of("[::1]"), "[::1]") == 0);
    TP_CHECK(strcmp(host_of("[FE80::A]"), "[fe80::a]") == 0);
    TP_CHECK(strcmp(host_of("[::1]:8080"), "[::1]") == 0);
    TP_CHECK(strcmp(host_of("[::1"), "[::1") == 0); /* no closing bracket: kept whole */
}

static void test_host_missing(void)
{
    tp_req_t *r = req("/");
    hdr(r, "X-Host", "nope");
    tp_http_take_host(r);
    TP_CHECK(r->host != NULL && r->host[0] == '\0');
}

static void test_host_header_name_and_copies(void)
{
    tp_req_t *r = req("/");
    hdr(r, "HOST", "First.example");
    hdr(r, "Host", "second.example");
    tp_http_take_host(r);
    TP_CHECK(strcmp(r->host, "first.example") == 0); /* the first Host */
    /* a copy: the header keeps its case */
    TP_CHECK(strcmp(r->headers.items[0].value, "First.example") == 0);
    /* a deleted Host is not used */
    r->headers.items[0].deleted = 1;
    tp_http_take_host(r);
    TP_CHECK(strcmp(r->host, "second.example") == 0);
}

/* RFC 9112 section 3.2.2: with an absolute-form target the Host header is ignored in
 * favour of the target's authority (take_host runs before the split, as in tp_http.c) */
static void test_host_from_absolute_form_authority(void)
{
    tp_req_t *r = req("http://A.example/x");
    hdr(r, "Host", "b.example");
    tp_http_take_host(r);
    tp_http_split_url(r);
    TP_CHECK(path_is(r, "/x"));
    TP_CHECK(strcmp(r->host, "a.example") == 0);
    r = req("https://user:pw@C.example:8443?q=1");
    hdr(r, "Host", "b.example");
    tp_http_take_host(r);
    TP_CHECK(strcmp(r->host, "c.example") == 0);
    r = req("http://[::1]:81/p");
    tp_http_take_host(r);
    TP_CHECK(strcmp(r->host, "[::1]") == 0);
    /* origin-form: the Host header */
    r = req("/x");
    hdr(r, "Host", "D.example:80");
    tp_http_take_host(r);
    TP_CHECK(strcmp(r->host, "d.example") == 0);
}

/* RFC 9112 section 3.2: exactly one Host in HTTP/1.1, at most one in HTTP/1.0 */
static void test_host_count(void)
{
    tp_req_t *r = req("/");
    r->http_major = 1, r->http_minor = 1;
    TP_CHECK(tp_http_host_count_ok(r) == 0);
    hdr(r, "Host", "a");
    TP_CHECK(tp_http_host_count_ok(r) == 1);
    hdr(r, "HOST", "b");
    TP_CHECK(tp_http_host_count_ok(r) == 0);
    r = req("/");
    r->http_major = 1, r->http_minor = 0;
    hdr(r, "X-Host", "a");
    TP_CHECK(tp_http_host_count_ok(r) == 1);
    hdr(r, "host", "a");
    hdr(r, "host", "a");
    TP_CHECK(tp_http_host_count_ok(r) == 0);
}

int main(void)
{
    pool = tp_pool_new();
    TP_RUN(test_bytes_good_heads);
    TP_RUN(test_bytes_every_prefix_of_a_good_head);
    TP_RUN(test_bytes_nul);
    TP_RUN(test_bytes_bare_cr);
    TP_RUN(test_bytes_obs_fold);
    TP_RUN(test_bytes_fold_split_across_reads);
    TP_RUN(test_bytes_space_before_colon);
    TP_RUN(test_bytes_body_starting_with_space);
    TP_RUN(test_bytes_pipelined_heads);
    TP_RUN(test_framing_plain);
    TP_RUN(test_framing_length_and_chunked);
    TP_RUN(test_framing_repeated_length);
    TP_RUN(test_framing_length_not_a_number);
    TP_RUN(test_framing_length_with_nul);
    TP_RUN(test_framing_transfer_codings);
    TP_RUN(test_framing_line_breaks_in_values);
    TP_RUN(test_framing_underscore_name_is_not_framing);
    TP_RUN(test_split_path_and_query);
    TP_RUN(test_split_no_query);
    TP_RUN(test_split_empty_query);
    TP_RUN(test_split_absolute_form);
    TP_RUN(test_split_absolute_form_without_path);
    TP_RUN(test_split_other_schemes_stay);
    TP_RUN(test_split_fragment);
    TP_RUN(test_host_lower_case_without_port);
    TP_RUN(test_host_ipv6);
    TP_RUN(test_host_missing);
    TP_RUN(test_host_header_name_and_copies);
    TP_RUN(test_host_from_absolute_form_authority);
    TP_RUN(test_host_count);
    tp_pool_destroy(pool);
    return TP_TEST_REPORT();
}
