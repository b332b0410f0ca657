/*
 * test_http_chunks.c - the chunked-body framing check (tp_http_chunks.c): good bodies end
 * where they should (extensions, trailers, bare LF line ends, hex in either case, leading
 * zeros, an empty body, the head's LF handed back first), bytes after the end are not
 * scanned, every prefix is "more", every split into two reads gives the verdict of one;
 * bad framing is refused (other bytes for the CRLF after data, sizes that are not hex or
 * overflow, bare CR, NUL).
 */
#include "tp_http_chunks.h"
#include "tp_test.h"
#include "tp_test_split.h"

#include <string.h>

static tp_chunks_scan_t state;

static int chunks_scan(void *s, const char *p, size_t n, size_t *end)
{
    return tp_http_chunks_scan(s, p, n, end);
}

static int scan_pieces(const char *p, size_t n, size_t at, size_t *end)
{
    return tp_scan_in_two(chunks_scan, &state, sizeof(state), p, n, at, end);
}

#define SCAN(lit, end) scan_pieces((lit), sizeof(lit) - 1, sizeof(lit) - 1, (end))
#define VERDICT(lit) SCAN(lit, NULL)
#define SPLITS_AGREE(lit) tp_scan_splits_agree(chunks_scan, &state, sizeof(state), (lit), sizeof(lit) - 1)

static void test_good_bodies_end_where_they_should(void)
{
    size_t end;
    TP_CHECK(SCAN("3\r\nabc\r\n5\r\nhello\r\n0\r\n\r\n", &end) == TP_CHUNKS_END && end == 23);
    TP_CHECK(SCAN("0\r\n\r\n", &end) == TP_CHUNKS_END && end == 5);
    TP_CHECK(SCAN("5;name=val\r\nhello\r\n6 ; q=\"x\"\r\n world\r\n0;last\r\n\r\n", &end) ==
                 TP_CHUNKS_END && end == 48);
    TP_CHECK(SCAN("5\r\nhello\r\n0\r\nX-T1: one\r\nX-T2: two\r\n\r\n", &end) == TP_CHUNKS_END &&
             end == 37);
    TP_CHECK(SCAN("5\nhello\n0\nX: y\n\n", &end) == TP_CHUNKS_END && end == 16); /* bare LFs */
    TP_CHECK(VERDICT("A\r\n0123456789\r\na\r\nabcdefghij\r\n00000\r\n\r\n") == TP_CHUNKS_END);
    TP_CHECK(VERDICT("00000000000000000000005\r\nhello\r\n0\r\n\r\n") == TP_CHUNKS_END);
    /* the head's last LF, handed back by http-parser with the body */
    TP_CHECK(SCAN("\n3\r\nabc\r\n0\r\n\r\n", &end) == TP_CHUNKS_END && end == 14);
    /* data may hold anything, CR LF NUL included */
    TP_CHECK(SCAN("4\r\n\r\n\0\n\r\n0\r\n\r\n", &end) == TP_CHUNKS_END && end == 14);
}

static void test_bytes_after_the_end_are_not_scanned(void)
{
    size_t end;
    TP_CHECK(SCAN("0\r\n\r\nGET /next HTTP/1.1\r\n\0\r\r", &end) == TP_CHUNKS_END && end == 5);
}

static void test_every_prefix_is_more(void)
{
    static const char body[] = "\n5;x=1\r\nhello\r\n1\nX\n0\r\nT: 1\r\n\r\n";
    int wrong = 0;
    for (size_t n = 0; n < sizeof(body) - 1; n++)
        wrong += scan_pieces(body, n, n, NULL) != TP_CHUNKS_MORE;
    TP_CHECK(wrong == 0);
    TP_CHECK(VERDICT(body) == TP_CHUNKS_END);
}

static void test_every_split_agrees(void)
{
    TP_CHECK(SPLITS_AGREE("3\r\nabc\r\n5\r\nhello\r\n0\r\n\r\n"));
    TP_CHECK(SPLITS_AGREE("5;e\r\nhelloXX3\r\nabc\r\n0\r\n\r\n"));
    TP_CHECK(SPLITS_AGREE("\n10\r\n0123456789abcdef\r\n0\r\nA: b\r\n\r\ntail"));
    TP_CHECK(SPLITS_AGREE("5\r\nhello\rX0\r\n\r\n"));
}

static void test_other_bytes_for_the_crlf_after_data(void)
{
    TP_CHECK(VERDICT("5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("5\r\nhello0\r\n\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("5\r\nhello\rX") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("5\r\nhello\r") == TP_CHUNKS_MORE); /* the LF may come next */
}

static void test_bad_sizes(void)
{
    TP_CHECK(VERDICT("zz\r\nhello\r\n0\r\n\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("\r\nhello\r\n") == TP_CHUNKS_BAD);            /* an empty size line */
    TP_CHECK(VERDICT("-5\r\nhello\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("5x\r\nhello\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("10000000000000005\r\nhello\r\n") == TP_CHUNKS_BAD); /* 2^64 + 5 */
    TP_CHECK(VERDICT("FFFFFFFFFFFFFFFF\r\n") == TP_CHUNKS_MORE);      /* 2^64 - 1 fits */
    TP_CHECK(VERDICT("5\rhello") == TP_CHUNKS_BAD);                  /* a bare CR */
    TP_CHECK(VERDICT("3\r\nabc\r\n\n0\r\n\r\n") == TP_CHUNKS_BAD);   /* an extra LF later */
}

static void test_nul_and_bare_cr_outside_data(void)
{
    TP_CHECK(VERDICT("5;a\0b\r\nhello\r\n0\r\n\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("0\r\nX: a\0b\r\n\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("0\r\nX: a\rb\r\n\r\n") == TP_CHUNKS_BAD);
    TP_CHECK(VERDICT("0\r\n\rX") == TP_CHUNKS_BAD);
}

int main(void)
{
    TP_RUN(test_good_bodies_end_where_they_should);
    TP_RUN(test_bytes_after_the_end_are_not_scanned);
    TP_RUN(test_every_prefix_is_more);
    TP_RUN(test_every_split_agrees);
    TP_RUN(test_other_bytes_for_the_crlf_after_data);
    TP_RUN(test_bad_sizes);
    TP_RUN(test_nul_and_bare_cr_outside_data);
    return TP_TEST_REPORT();
}
