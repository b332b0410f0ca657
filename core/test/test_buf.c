/*
 * test_buf.c - tp_buf: appends on the inline and the slow path (and of zero bytes),
 * reserve (with compaction of consumed bytes), appendf, puts, put_uint, put_hex and
 * TP_BUF_LIT; consume, reset and free (and reuse afterwards); a megabyte appended in
 * odd-sized pieces and streamed through with interleaved consumes, byte for byte.
 */
#include "tp_buf.h"
#include "tp_test.h"

#include <stdint.h>
#include <string.h>

/* the buffer holds exactly the n bytes at s, and its fields agree with each other */
static int holds(const tp_buf_t *b, const char *s, size_t n)
{
    if (b->off > b->len || b->len > b->cap)
        return 0;
    if (tp_buf_size(b) != n || tp_buf_data(b) != b->base + b->off)
        return 0;
    return n == 0 || memcmp(tp_buf_data(b), s, n) == 0;
}

#define HOLDS(b, lit) holds((b), (lit), sizeof(lit) - 1)

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 131 + 7) ^ (i >> 9));
}

static void test_zero_initialised_is_empty(void)
{
    tp_buf_t b = {0};
    TP_CHECK(tp_buf_size(&b) == 0);
    TP_CHECK(b.base == NULL && b.cap == 0);
    tp_buf_free(&b);
    TP_CHECK(b.base == NULL && b.cap == 0);
}

static void test_append_slow_then_inline(void)
{
    tp_buf_t b = {0};
    tp_buf_append(&b, "abc", 3); /* no room yet: the slow path allocates */
    TP_CHECK(b.base != NULL && b.cap == 256);
    TP_CHECK(HOLDS(&b, "abc"));
    char *base = b.base;
    tp_buf_append(&b, "defg", 4); /* fits: inline, no reallocation */
    TP_CHECK(b.base == base && b.cap == 256);
    TP_CHECK(HOLDS(&b, "abcdefg"));

    /* 300 more bytes do not fit in 256: the capacity doubles once */
    char big[300];
    memset(big, 'x', sizeof(big));
    tp_buf_append(&b, big, sizeof(big));
    TP_CHECK(b.cap == 512 && tp_buf_size(&b) == 307);
    TP_CHECK(memcmp(tp_buf_data(&b), "abcdefg", 7) == 0);
    TP_CHECK(memcmp(tp_buf_data(&b) + 7, big, sizeof(big)) == 0);
    tp_buf_free(&b);
}

static void test_append_exact_fit_stays_inline(void)
{
    tp_buf_t b = {0};
    char block[256];
    memset(block, 'q', sizeof(block));
    tp_buf_append(&b, block, 200);
    char *base = b.base;
    tp_buf_append(&b, block, 56); /* exactly the room left */
    TP_CHECK(b.base == base && b.cap == 256 && b.len == 256);
    tp_buf_append(&b, "z", 1); /* one more byte grows it */
    TP_CHECK(b.cap == 512 && tp_buf_size(&b) == 257);
    TP_CHECK(tp_buf_data(&b)[255] == 'q' && tp_buf_data(&b)[256] == 'z');
    tp_buf_free(&b);
}

static void test_append_zero_bytes(void)
{
    tp_buf_t b = {0};
    /* on an empty, unallocated buffer: nothing is allocated */
    tp_buf_append(&b, NULL, 0);
    tp_buf_append_slow(&b, NULL, 0);
    TP_CHECK(b.base == NULL && b.len == 0 && b.cap == 0);

    tp_buf_append(&b, "xy", 2);
    tp_buf_append(&b, "ignored", 0);
    tp_buf_append_slow(&b, "ignored", 0);
    TP_CHECK(HOLDS(&b, "xy"));
    tp_buf_free(&b);
}

static void test_reserve(void)
{
    tp_buf_t b = {0};
    char *w = tp_buf_reserve(&b, 100);
    TP_CHECK(w != NULL && w == b.base && b.cap >= 100);
    TP_CHECK(tp_buf_size(&b) == 0); /* reserving writes nothing */
    memcpy(w, "hello", 5);
    b.len += 5;
    TP_CHECK(HOLDS(&b, "hello"));

    /* room already there: the write position, no reallocation */
    char *base = b.base;
    TP_CHECK(tp_buf_reserve(&b, 10) == tp_buf_data(&b) + 5);
    TP_CHECK(tp_buf_reserve(&b, 0) == tp_buf_data(&b) + 5);
    TP_CHECK(b.base == base);

    /* more than the capacity: grows to a power of two times 256, data kept */
    w = tp_buf_reserve(&b, 1000);
    TP_CHECK(b.cap == 1024 && w == b.base + 5);
    TP_CHECK(HOLDS(&b, "hello"));
    tp_buf_free(&b);
}

static void test_reserve_compacts_consumed_bytes(void)
{
    tp_buf_t b = {0};
    char block[200];
    for (size_t i = 0; i < sizeof(block); i++)
        block[i] = (char)('a' + i % 26);
    tp_buf_append(&b, block, sizeof(block)); /* cap 256 */
    tp_buf_consume(&b, 150);
    TP_CHECK(b.off == 150 && tp_buf_size(&b) == 50);

    /* 56 bytes free at the end, 150 consumed at the front: compacting makes room */
    char *w = tp_buf_reserve(&b, 200);
    TP_CHECK(b.cap == 256 && b.off == 0 && b.len == 50);
    TP_CHECK(w == b.base + 50);
    TP_CHECK(holds(&b, block + 150, 50));

    /* compacting is not enough: grows as well, the unread bytes first */
    tp_buf_consume(&b, 10);
    w = tp_buf_reserve(&b, 300);
    TP_CHECK(b.off == 0 && b.len == 40 && b.cap == 512 && w == b.base + 40);
    TP_CHECK(holds(&b, block + 160, 40));
    tp_buf_free(&b);
}

static void test_appendf(void)
{
    tp_buf_t b = {0};
    tp_buf_appendf(&b, "%d-%s-%zu", 42, "x", (size_t)7);
    TP_CHECK(HOLDS(&b, "42-x-7"));
    tp_buf_appendf(&b, "|%c|", 'Z');
    TP_CHECK(HOLDS(&b, "42-x-7|Z|"));

    /* an empty result appends nothing (and allocates nothing on a fresh buffer) */
    tp_buf_t e = {0};
    tp_buf_appendf(&e, "%s", "");
    TP_CHECK(e.base == NULL && tp_buf_size(&e) == 0);
    tp_buf_appendf(&b, "%s", "");
    TP_CHECK(tp_buf_size(&b) == 9);

    /* longer than the first capacity: the slow path, every byte in place */
    tp_buf_reset(&b);
    tp_buf_appendf(&b, "<%0298d>", 5);
    TP_CHECK(tp_buf_size(&b) == 300);
    TP_CHECK(tp_buf_data(&b)[0] == '<' && tp_buf_data(&b)[1] == '0');
    TP_CHECK(tp_buf_data(&b)[298] == '5' && tp_buf_data(&b)[299] == '>');
    tp_buf_free(&b);
}

static void test_appendf_after_consume(void)
{
    tp_buf_t b = {0};
    tp_buf_puts(&b, "0123456789");
    tp_buf_consume(&b, 4);
    tp_buf_appendf(&b, "[%u]", 99u);
    TP_CHECK(HOLDS(&b, "456789[99]"));
    tp_buf_free(&b);
}

static void test_puts(void)
{
    tp_buf_t b = {0};
    tp_buf_puts(&b, "hello");
    tp_buf_puts(&b, "");
    tp_buf_puts(&b, ", world");
    TP_CHECK(HOLDS(&b, "hello, world"));
    tp_buf_free(&b);
}

static int uint_is(uint64_t v, const char *want)
{
    tp_buf_t b = {0};
    tp_buf_puts(&b, "<");
    tp_buf_put_uint(&b, v);
    tp_buf_puts(&b, ">");
    char exp[32];
    size_t n = (size_t)snprintf(exp, sizeof(exp), "<%s>", want);
    int ok = holds(&b, exp, n);
    tp_buf_free(&b);
    return ok;
}

static void test_put_uint(void)
{
    TP_CHECK(uint_is(0, "0"));
    TP_CHECK(uint_is(1, "1"));
    TP_CHECK(uint_is(9, "9"));
    TP_CHECK(uint_is(10, "10"));
    TP_CHECK(uint_is(100, "100"));
    TP_CHECK(uint_is(1234567890, "1234567890"));
    TP_CHECK(uint_is(UINT64_MAX, "18446744073709551615"));
    TP_CHECK(!uint_is(10, "1"));
}

static int hex_is(uint64_t v, const char *want)
{
    tp_buf_t b = {0};
    tp_buf_put_hex(&b, v);
    int ok = holds(&b, want, strlen(want));
    tp_buf_free(&b);
    return ok;
}

static void test_put_hex(void)
{
    TP_CHECK(hex_is(0, "0"));
    TP_CHECK(hex_is(9, "9"));
    TP_CHECK(hex_is(10, "a"));
    TP_CHECK(hex_is(15, "f"));
    TP_CHECK(hex_is(16, "10"));
    TP_CHECK(hex_is(255, "ff"));
    TP_CHECK(hex_is(0xdeadbeefULL, "deadbeef"));
    TP_CHECK(hex_is(0x1000000000ULL, "1000000000"));
    TP_CHECK(hex_is(UINT64_MAX, "ffffffffffffffff"));
}

static void test_lit(void)
{
    tp_buf_t b = {0};
    TP_BUF_LIT(&b, "HTTP/1.1 ");
    TP_CHECK(tp_buf_size(&b) == 9); /* no terminating NUL */
    TP_BUF_LIT(&b, "");
    TP_CHECK(tp_buf_size(&b) == 9);
    TP_BUF_LIT(&b, "a\0b"); /* an embedded NUL is part of the literal */
    TP_CHECK(holds(&b, "HTTP/1.1 a\0b", 12));
    tp_buf_free(&b);
}

static void test_consume_partial(void)
{
    tp_buf_t b = {0};
    tp_buf_puts(&b, "abcdef");
    tp_buf_consume(&b, 2);
    TP_CHECK(HOLDS(&b, "cdef") && b.off == 2 && b.len == 6);
    tp_buf_consume(&b, 0);
    TP_CHECK(HOLDS(&b, "cdef"));
    tp_buf_consume(&b, 3);
    TP_CHECK(HOLDS(&b, "f"));
    tp_buf_free(&b);
}

static void test_consume_all_resets(void)
{
    tp_buf_t b = {0};
    tp_buf_puts(&b, "abcdef");
    char *base = b.base;
    tp_buf_consume(&b, 6);
    TP_CHECK(b.off == 0 && b.len == 0 && tp_buf_size(&b) == 0);
    TP_CHECK(b.base == base && b.cap == 256); /* the memory is kept for reuse */

    /* the next append starts at the front again */
    tp_buf_puts(&b, "xyz");
    TP_CHECK(HOLDS(&b, "xyz") && tp_buf_data(&b) == base);

    /* consuming more than is there also empties it */
    tp_buf_consume(&b, 100);
    TP_CHECK(b.off == 0 && b.len == 0);
    tp_buf_free(&b);
}

static void test_reset_keeps_memory(void)
{
    tp_buf_t b = {0};
    tp_buf_puts(&b, "some bytes");
    tp_buf_consume(&b, 3);
    char *base = b.base;
    tp_buf_reset(&b);
    TP_CHECK(b.off == 0 && b.len == 0 && b.cap == 256 && b.base == base);
    tp_buf_puts(&b, "new");
    TP_CHECK(HOLDS(&b, "new") && b.base == base);
    tp_buf_free(&b);
}

static void test_free_then_reuse(void)
{
    tp_buf_t b = {0};
    tp_buf_puts(&b, "first life");
    tp_buf_consume(&b, 2);
    tp_buf_free(&b);
    TP_CHECK(b.base == NULL && b.off == 0 && b.len == 0 && b.cap == 0);
    tp_buf_free(&b); /* freeing twice is harmless */
    TP_CHECK(b.base == NULL && b.cap == 0);

    tp_buf_puts(&b, "second life");
    TP_CHECK(HOLDS(&b, "second life") && b.cap == 256);
    tp_buf_free(&b);
}

static void test_megabyte_in_odd_pieces(void)
{
    enum { TOTAL = 1 << 20 };
    static unsigned char src[TOTAL];
    for (size_t i = 0; i < TOTAL; i++)
        src[i] = pattern(i);
    tp_buf_t b = {0};
    size_t done = 0, piece = 1;
    while (done < TOTAL) {
        size_t n = piece < TOTAL - done ? piece : TOTAL - done;
        tp_buf_append(&b, src + done, n);
        done += n;
        piece = (piece * 7 + 3) % 1013; /* odd sizes, 0 included now and then */
    }
    TP_CHECK(tp_buf_size(&b) == TOTAL);
    TP_CHECK(b.cap == TOTAL); /* 256 doubled up to exactly 1 MB */
    TP_CHECK(memcmp(tp_buf_data(&b), src, TOTAL) == 0);
    tp_buf_free(&b);
}

/* a byte stream through the buffer: appends and consumes of unrelated odd sizes,
 * so compaction and growth interleave; what comes out is what went in, in order */
static void test_stream_through(void)
{
    tp_buf_t b = {0};
    size_t in = 0, out = 0, bad = 0, step = 0;
    unsigned char piece[997];
    while (in < (1u << 20)) {
        size_t n = 1 + (step * 37) % sizeof(piece);
        for (size_t i = 0; i < n; i++)
            piece[i] = pattern(in + i);
        tp_buf_append(&b, piece, n);
        in += n;
        size_t take = (step * 53) % 1201;
        if (take > tp_buf_size(&b))
            take = tp_buf_size(&b);
        for (size_t i = 0; i < take; i++)
            bad += (unsigned char)tp_buf_data(&b)[i] != pattern(out + i);
        tp_buf_consume(&b, take);
        out += take;
        step++;
    }
    TP_CHECK(bad == 0);
    TP_CHECK(tp_buf_size(&b) == in - out);
    for (size_t i = 0; i < tp_buf_size(&b); i++)
        bad += (unsigned char)tp_buf_data(&b)[i] != pattern(out + i);
    TP_CHECK(bad == 0);
    TP_CHECK(b.cap < (1u << 16)); /* consumed space is reused, not grown past */
    tp_buf_free(&b);
}

int main(void)
{
    TP_RUN(test_zero_initialised_is_empty);
    TP_RUN(test_append_slow_then_inline);
    TP_RUN(test_append_exact_fit_stays_inline);
    TP_RUN(test_append_zero_bytes);
    TP_RUN(test_reserve);
    TP_RUN(test_reserve_compacts_consumed_bytes);
    TP_RUN(test_appendf);
    TP_RUN(test_appendf_after_consume);
    TP_RUN(test_puts);
    TP_RUN(test_put_uint);
    TP_RUN(test_put_hex);
    TP_RUN(test_lit);
    TP_RUN(test_consume_partial);
    TP_RUN(test_consume_all_resets);
    TP_RUN(test_reset_keeps_memory);
    TP_RUN(test_free_then_reuse);
    TP_RUN(test_megabyte_in_odd_pieces);
    TP_RUN(test_stream_through);
    return TP_TEST_REPORT();
}
