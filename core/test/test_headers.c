/*
 * test_headers.c - header lists in a pool (tp_headers.c): add copies name and value,
 * find and clear compare names ignoring case with "_" matching "-", clear marks every
 * live occurrence and counts them, lists grow past their first 16 slots keeping their
 * contents, Connection tokens (comma lists, whitespace, case, several Connection
 * headers) for tp_headers_conn_listed and tp_headers_conn_tokens, and queued set/add/
 * clear operations applied in order by tp_headers_apply_ops.
 */
#include "tp_req.h"
#include "tp_test.h"

#include <stdio.h>
#include <string.h>

static tp_pool_t *pool;

static void add(tp_headers_t *h, const char *name, const char *value)
{
    tp_headers_add(pool, h, name, strlen(name), value, strlen(value));
}

static tp_header_t *find(tp_headers_t *h, const char *name)
{
    return tp_headers_find(h, name, strlen(name));
}

/* the value of the first live header called name, or NULL */
static const char *value_of(tp_headers_t *h, const char *name)
{
    tp_header_t *x = find(h, name);
    return x ? x->value : NULL;
}

static int value_is(tp_headers_t *h, const char *name, const char *want)
{
    const char *v = value_of(h, name);
    return v != NULL && strcmp(v, want) == 0;
}

static int listed(tp_headers_t *h, const char *name)
{
    return tp_headers_conn_listed(h, name, strlen(name));
}

/* live headers in h */
static int live(const tp_headers_t *h)
{
    int n = 0;
    for (int i = 0; i < h->n; i++)
        n += !h->items[i].deleted;
    return n;
}

static void test_add_copies(void)
{
    tp_headers_t h = {0};
    char name[] = "X-Trace", value[] = "abc123";
    tp_headers_add(pool, &h, name, 7, value, 6);
    name[0] = 'Y';
    value[0] = 'Z';
    TP_CHECK(h.n == 1 && h.cap == 16);
    tp_header_t *x = &h.items[0];
    TP_CHECK(x->name != name && x->value != value);
    TP_CHECK(strcmp(x->name, "X-Trace") == 0 && x->nlen == 7);
    TP_CHECK(strcmp(x->value, "abc123") == 0 && x->vlen == 6);
    TP_CHECK(x->deleted == 0 && x->op == TP_HOP_SET);
}

static void test_add_takes_lengths_not_terminators(void)
{
    tp_headers_t h = {0};
    tp_headers_add(pool, &h, "Hostname", 4, "example.com:80", 11);
    TP_CHECK(strcmp(h.items[0].name, "Host") == 0 && h.items[0].nlen == 4);
    TP_CHECK(strcmp(h.items[0].value, "example.com") == 0 && h.items[0].vlen == 11);
    /* an embedded NUL is kept: vlen, not strlen, is the value's length */
    tp_headers_add(pool, &h, "X-Bin", 5, "a\0b", 3);
    TP_CHECK(h.items[1].vlen == 3 && memcmp(h.items[1].value, "a\0b", 4) == 0);
}

static void test_empty_name_and_value(void)
{
    tp_headers_t h = {0};
    add(&h, "X-Empty", "");
    add(&h, "", "nameless");
    TP_CHECK(value_is(&h, "x-empty", ""));
    TP_CHECK(h.items[0].vlen == 0);
    /* an empty name is a name like any other: found by an empty name only */
    TP_CHECK(value_is(&h, "", "nameless"));
    TP_CHECK(find(&h, "x") == NULL);
    TP_CHECK(tp_headers_clear(&h, "", 0) == 1);
    TP_CHECK(find(&h, "") == NULL);
}

static void test_find_ignores_case(void)
{
    tp_headers_t h = {0};
    add(&h, "Content-Type", "text/plain");
    add(&h, "x-lower", "l");
    TP_CHECK(value_is(&h, "content-type", "text/plain"));
    TP_CHECK(value_is(&h, "CONTENT-TYPE", "text/plain"));
    TP_CHECK(value_is(&h, "cOnTeNt-TyPe", "text/plain"));
    TP_CHECK(value_is(&h, "X-LOWER", "l"));
    TP_CHECK(find(&h, "content-typ") == NULL);
    TP_CHECK(find(&h, "content-types") == NULL);
    TP_CHECK(find(&h, "accept") == NULL);
    tp_headers_t empty = {0};
    TP_CHECK(find(&empty, "content-type") == NULL);
}

static void test_find_underscore_matches_dash(void)
{
    tp_headers_t h = {0};
    add(&h, "X-Api-Key", "k1");
    add(&h, "x_legacy", "k2");
    TP_CHECK(value_is(&h, "x_api_key", "k1"));
    TP_CHECK(value_is(&h, "X_API-KEY", "k1"));
    TP_CHECK(value_is(&h, "x-legacy", "k2")); /* both ways */
    TP_CHECK(find(&h, "xapikey") == NULL);
}

static void test_find_returns_first_live(void)
{
    tp_headers_t h = {0};
    add(&h, "Accept", "first");
    add(&h, "ACCEPT", "second");
    TP_CHECK(find(&h, "accept") == &h.items[0]);
    h.items[0].deleted = 1;
    TP_CHECK(find(&h, "accept") == &h.items[1]);
}

static void test_clear_counts_every_occurrence(void)
{
    tp_headers_t h = {0};
    add(&h, "Cookie", "a=1");
    add(&h, "Other", "x");
    add(&h, "cookie", "b=2");
    add(&h, "COOKIE", "c=3");
    TP_CHECK(tp_headers_clear(&h, "cookie", 6) == 3);
    TP_CHECK(find(&h, "cookie") == NULL);
    TP_CHECK(h.n == 4 && live(&h) == 1); /* cleared means marked, not removed */
    TP_CHECK(value_is(&h, "other", "x"));
    /* already deleted ones are not counted again */
    TP_CHECK(tp_headers_clear(&h, "cookie", 6) == 0);
    TP_CHECK(tp_headers_clear(&h, "missing", 7) == 0);
    /* a header added after a clear is live */
    add(&h, "Cookie", "d=4");
    TP_CHECK(value_is(&h, "cookie", "d=4"));
    TP_CHECK(tp_headers_clear(&h, "c_o_o_k_i_e", 11) == 0);
    TP_CHECK(tp_headers_clear(&h, "COOKIE", 6) == 1);
}

static void test_name_eq(void)
{
    TP_CHECK(tp_header_name_eq("Host", 4, "host", 4));
    TP_CHECK(tp_header_name_eq("X-A_B", 5, "x_a-b", 5));
    TP_CHECK(tp_header_name_eq("", 0, "", 0));
    TP_CHECK(tp_header_name_eq("host!", 4, "HOST?", 4)); /* only the lengths given count */
    TP_CHECK(!tp_header_name_eq("host", 4, "hos", 3));
    TP_CHECK(!tp_header_name_eq("host", 4, "hosts", 5));
    TP_CHECK(!tp_header_name_eq("host", 4, "post", 4));
    /* only A-Z fold: '@' (0x40) is not '`' (0x60), '[' is not '{' */
    TP_CHECK(!tp_header_name_eq("@", 1, "`", 1));
    TP_CHECK(!tp_header_name_eq("[", 1, "{", 1));
    TP_CHECK(!tp_header_name_eq("-", 1, ".", 1));
}

static void test_many_headers_grow(void)
{
    enum { N = 1000 };
    tp_headers_t h = {0};
    char name[32], value[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "X-H-%d", i);
        snprintf(value, sizeof(value), "v%d", i * 3);
        add(&h, name, value);
    }
    TP_CHECK(h.n == N && h.cap == 1024); /* 16 doubled six times */
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "x-h-%d", i);
        snprintf(value, sizeof(value), "v%d", i * 3);
        wrong += !value_is(&h, name, value);
    }
    TP_CHECK(wrong == 0);
    TP_CHECK(find(&h, "x-h-1000") == NULL);
}

/* Slots copy over when the array grows: a header's deleted mark survives growth. */
static void test_growth_keeps_deleted_marks(void)
{
    tp_headers_t h = {0};
    add(&h, "Gone", "1");
    tp_headers_clear(&h, "gone", 4);
    for (int i = 0; i < 40; i++)
        add(&h, "Filler", "f");
    TP_CHECK(h.cap == 64 && h.items[0].deleted == 1);
    TP_CHECK(find(&h, "gone") == NULL);
}

static void test_conn_listed(void)
{
    tp_headers_t h = {0};
    add(&h, "Connection", "keep-alive, X-Secret,Upgrade");
    TP_CHECK(listed(&h, "x-secret"));
    TP_CHECK(listed(&h, "X-SECRET"));
    TP_CHECK(listed(&h, "upgrade"));
    TP_CHECK(listed(&h, "keep-alive"));
    TP_CHECK(!listed(&h, "x-secre"));   /* whole tokens only */
    TP_CHECK(!listed(&h, "secret"));
    TP_CHECK(!listed(&h, "connection"));
    TP_CHECK(!listed(&h, ""));
}

static void test_conn_listed_whitespace(void)
{
    tp_headers_t h = {0};
    add(&h, "connection", " \t close ,\t, X-A\t,  ,X-B  ");
    TP_CHECK(listed(&h, "close"));
    TP_CHECK(listed(&h, "x-a"));
    TP_CHECK(listed(&h, "x-b"));
    TP_CHECK(!listed(&h, " x-a"));
    TP_CHECK(!listed(&h, "x-a\t"));
}

static void test_conn_listed_several_headers(void)
{
    tp_headers_t h = {0};
    add(&h, "Connection", "close");
    add(&h, "X-Other", "x-hidden");
    add(&h, "CONNECTION", "x-hidden");
    TP_CHECK(listed(&h, "x-hidden"));
    /* a deleted Connection header lists nothing */
    h.items[2].deleted = 1;
    TP_CHECK(!listed(&h, "x-hidden"));
    TP_CHECK(listed(&h, "close"));
    /* a value in another header is not a Connection token */
    TP_CHECK(!listed(&h, "x-other"));
}

static void test_conn_listed_none(void)
{
    tp_headers_t h = {0};
    TP_CHECK(!listed(&h, "close"));
    add(&h, "Connection", "");
    add(&h, "Connection", " , ,, ");
    TP_CHECK(!listed(&h, "close"));
    TP_CHECK(!listed(&h, ""));
}

/* Tokens compare like header names, so "x_a" listed hides X-A. */
static void test_conn_listed_underscore(void)
{
    tp_headers_t h = {0};
    add(&h, "Connection", "x_a");
    TP_CHECK(listed(&h, "X-A"));
}

static void test_conn_tokens(void)
{
    tp_headers_t none = {0};
    TP_CHECK(tp_headers_conn_tokens(&none) == 0);

    tp_headers_t h = {0};
    add(&h, "Host", "example.com");
    add(&h, "Connection", "keep-alive");
    add(&h, "connection", "Close");
    add(&h, "CONNECTION", "KEEP-ALIVE");
    TP_CHECK(tp_headers_conn_tokens(&h) == 0);

    add(&h, "Connection", "upgrade");
    TP_CHECK(tp_headers_conn_tokens(&h) == 1);
    h.items[4].deleted = 1;
    TP_CHECK(tp_headers_conn_tokens(&h) == 0);
}

/* Only a value that is exactly keep-alive or close counts as "nothing else": lists and
 * padded values answer 1, which only sends the caller to tp_headers_conn_listed. */
static void test_conn_tokens_is_conservative(void)
{
    tp_headers_t a = {0}, b = {0}, c = {0};
    add(&a, "Connection", "keep-alive, close");
    add(&b, "Connection", " close");
    add(&c, "Connection", "");
    TP_CHECK(tp_headers_conn_tokens(&a) == 1);
    TP_CHECK(tp_headers_conn_tokens(&b) == 1);
    TP_CHECK(tp_headers_conn_tokens(&c) == 1);
}

/* an operation queued in ops: name and value in the pool, like tp_ffi_req.c makes them */
static void op(tp_headers_t *ops, int kind, const char *name, const char *value)
{
    add(ops, name, value);
    ops->items[ops->n - 1].op = kind;
}

static void test_apply_set(void)
{
    tp_headers_t dst = {0}, ops = {0};
    add(&dst, "X-A", "old1");
    add(&dst, "Other", "o");
    add(&dst, "x-a", "old2");
    op(&ops, TP_HOP_SET, "X-A", "new");
    op(&ops, TP_HOP_SET, "X-Fresh", "f"); /* set of a missing header adds it */
    tp_headers_apply_ops(pool, &dst, &ops);
    TP_CHECK(ops.n == 0);
    TP_CHECK(dst.n == 5 && live(&dst) == 3);
    TP_CHECK(value_is(&dst, "x-a", "new"));
    TP_CHECK(value_is(&dst, "x-fresh", "f"));
    TP_CHECK(value_is(&dst, "other", "o"));
    /* the pushed slot is live and a plain header */
    TP_CHECK(dst.items[3].deleted == 0 && dst.items[3].op == TP_HOP_SET);
}

static void test_apply_add_keeps_existing(void)
{
    tp_headers_t dst = {0}, ops = {0};
    add(&dst, "Vary", "accept");
    op(&ops, TP_HOP_ADD, "vary", "origin");
    op(&ops, TP_HOP_ADD, "Vary", "cookie");
    tp_headers_apply_ops(pool, &dst, &ops);
    TP_CHECK(live(&dst) == 3);
    TP_CHECK(value_is(&dst, "vary", "accept"));
    TP_CHECK(strcmp(dst.items[1].value, "origin") == 0);
    TP_CHECK(strcmp(dst.items[2].value, "cookie") == 0);
    TP_CHECK(dst.items[1].op == TP_HOP_SET); /* no longer an ADD in the list itself */
}

static void test_apply_clear(void)
{
    tp_headers_t dst = {0}, ops = {0};
    add(&dst, "Server", "upstream");
    add(&dst, "server", "again");
    add(&dst, "Date", "d");
    op(&ops, TP_HOP_CLEAR, "SERVER", "");
    op(&ops, TP_HOP_CLEAR, "x-not-there", "");
    tp_headers_apply_ops(pool, &dst, &ops);
    TP_CHECK(dst.n == 3 && live(&dst) == 1); /* a clear pushes nothing */
    TP_CHECK(find(&dst, "server") == NULL);
    TP_CHECK(value_is(&dst, "date", "d"));
}

/* Operations apply in the order they were queued: the last word wins. */
static void test_apply_in_order(void)
{
    tp_headers_t dst = {0}, ops = {0};
    add(&dst, "X-A", "orig");
    op(&ops, TP_HOP_ADD, "X-A", "added");
    op(&ops, TP_HOP_SET, "X-A", "set");   /* replaces orig and added */
    op(&ops, TP_HOP_ADD, "X-A", "again");
    op(&ops, TP_HOP_CLEAR, "X-B", "");
    op(&ops, TP_HOP_ADD, "X-B", "b");     /* after its clear: stays */
    op(&ops, TP_HOP_ADD, "X-C", "c");
    op(&ops, TP_HOP_CLEAR, "X-C", "");    /* after its add: gone */
    tp_headers_apply_ops(pool, &dst, &ops);
    TP_CHECK(ops.n == 0);
    TP_CHECK(live(&dst) == 3);
    TP_CHECK(value_is(&dst, "x-a", "set"));
    int again = 0;
    for (int i = 0; i < dst.n; i++)
        again += !dst.items[i].deleted && strcmp(dst.items[i].value, "again") == 0;
    TP_CHECK(again == 1);
    TP_CHECK(value_is(&dst, "x-b", "b"));
    TP_CHECK(find(&dst, "x-c") == NULL);
}

static void test_apply_empty_ops_and_reuse(void)
{
    tp_headers_t dst = {0}, ops = {0};
    add(&dst, "A", "1");
    tp_headers_apply_ops(pool, &dst, &ops);
    TP_CHECK(dst.n == 1 && live(&dst) == 1);
    /* ops is emptied but keeps its array: it can queue again */
    op(&ops, TP_HOP_SET, "A", "2");
    tp_headers_apply_ops(pool, &dst, &ops);
    op(&ops, TP_HOP_ADD, "B", "3");
    TP_CHECK(ops.n == 1 && strcmp(ops.items[0].name, "B") == 0);
    tp_headers_apply_ops(pool, &dst, &ops);
    TP_CHECK(value_is(&dst, "a", "2") && value_is(&dst, "b", "3"));
}

int main(void)
{
    pool = tp_pool_new();
    TP_RUN(test_add_copies);
    TP_RUN(test_add_takes_lengths_not_terminators);
    TP_RUN(test_empty_name_and_value);
    TP_RUN(test_find_ignores_case);
    TP_RUN(test_find_underscore_matches_dash);
    TP_RUN(test_find_returns_first_live);
    TP_RUN(test_clear_counts_every_occurrence);
    TP_RUN(test_name_eq);
    TP_RUN(test_many_headers_grow);
    TP_RUN(test_growth_keeps_deleted_marks);
    TP_RUN(test_conn_listed);
    TP_RUN(test_conn_listed_whitespace);
    TP_RUN(test_conn_listed_several_headers);
    TP_RUN(test_conn_listed_none);
    TP_RUN(test_conn_listed_underscore);
    TP_RUN(test_conn_tokens);
    TP_RUN(test_conn_tokens_is_conservative);
    TP_RUN(test_apply_set);
    TP_RUN(test_apply_add_keeps_existing);
    TP_RUN(test_apply_clear);
    TP_RUN(test_apply_in_order);
    TP_RUN(test_apply_empty_ops_and_reuse);
    tp_pool_destroy(pool);
    return TP_TEST_REPORT();
}
