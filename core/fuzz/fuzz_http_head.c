/*
 * fuzz_http_head.c - libFuzzer target for the request-head path of untrusted
 * input: our raw-byte scan (which must give the same verdict however the bytes are
 * split into reads), http-parser driven with the same callbacks shape
 * as tp_http.c (header pieces accumulated into a request's header list), then
 * the framing checks, target splitting and Host parsing.
 */
#include "tp_buf.h"
#include "tp_http_head.h"
#include "tp_req.h"

#include "test/tp_test_split.h"

#include <http_parser.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    tp_req_t *r;
    tp_buf_t name, value, url;
    int in_value;
    int done;
} state_t;

static void commit(state_t *st)
{
    tp_headers_add(st->r->pool, &st->r->headers, tp_buf_data(&st->name), tp_buf_size(&st->name),
                   tp_buf_data(&st->value), tp_buf_size(&st->value));
    tp_buf_reset(&st->name);
    tp_buf_reset(&st->value);
    st->in_value = 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    state_t *st = p->data;
    tp_buf_append(&st->url, at, n);
    return tp_buf_size(&st->url) > 8192;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    state_t *st = p->data;
    if (st->in_value)
        commit(st);
    tp_buf_append(&st->name, at, n);
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    state_t *st = p->data;
    st->in_value = 1;
    tp_buf_append(&st->value, at, n);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    state_t *st = p->data;
    if (st->in_value || tp_buf_size(&st->name))
        commit(st);
    st->done = 1;
    return -1; /* stop here: the rest is the body */
}

static http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_headers_complete = on_headers_complete,
};

/* the verdict of scanning p in two reads split at `at` (the end offset in *end) */
static tp_head_scan_t state;

static int scan(void *s, const char *p, size_t n, size_t *end)
{
    return tp_http_head_scan(s, p, n, end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t end;
    int verdict = tp_scan_fuzz_check(scan, &state, sizeof(state), data, size, &end);
    if (verdict == TP_HEAD_BAD)
        return 0;
    state_t st;
    memset(&st, 0, sizeof(st));
    tp_pool_t *pool = tp_pool_new();
    tp_req_t *r = tp_pool_alloc(pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->pool = pool;
    st.r = r;
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = &st;
    http_parser_execute(&parser, &settings, p, size);
    if (st.done && tp_buf_size(&st.url) > 0) {
        r->url = tp_pool_strndup(pool, tp_buf_data(&st.url), tp_buf_size(&st.url));
        r->url_len = tp_buf_size(&st.url);
        if (tp_http_framing_is_safe(r)) {
            tp_http_take_host(r);
            tp_http_split_url(r);
            /* what the split produced must stay inside the URL */
            if (r->path < r->url || r->path + r->path_len > r->url + r->url_len)
                __builtin_trap();
        }
    }
    tp_buf_free(&st.name);
    tp_buf_free(&st.value);
    tp_buf_free(&st.url);
    tp_pool_destroy(pool);
    return 0;
}
