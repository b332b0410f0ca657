/*
 * test_pool.c - tp_pool: every allocation is 8-byte aligned, never NULL and disjoint
 * from every other (each is filled whole and read back after the others were made, so
 * overlap shows as changed bytes and overflow as an ASan report); many small, block-sized
 * and bigger-than-a-block allocations mixed; strndup copies exactly n bytes and ends
 * them; cleanups run once each, newest first, while the pool's memory is still readable.
 */
#include "tp_pool.h"
#include "tp_test.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    unsigned char *p;
    size_t n;
    unsigned char fill;
} chunk_t;

static int aligned(const void *p)
{
    return ((uintptr_t)p & 7) == 0;
}

/* allocate n bytes, fill them all with a byte of their own and remember them */
static unsigned char *take(tp_pool_t *pool, chunk_t *c, size_t n, unsigned char fill)
{
    c->p = tp_pool_alloc(pool, n);
    c->n = n;
    c->fill = fill;
    memset(c->p, fill, n);
    return c->p;
}

/* how many chunks lost a byte to a neighbour */
static int damaged(const chunk_t *c, int count)
{
    int bad = 0;
    for (int i = 0; i < count; i++)
        for (size_t k = 0; k < c[i].n; k++)
            if (c[i].p[k] != c[i].fill) {
                bad++;
                break;
            }
    return bad;
}

static int misaligned(const chunk_t *c, int count)
{
    int bad = 0;
    for (int i = 0; i < count; i++)
        bad += c[i].p == NULL || !aligned(c[i].p);
    return bad;
}

static void test_alignment_of_every_size(void)
{
    tp_pool_t *pool = tp_pool_new();
    static chunk_t c[300];
    for (int i = 0; i < 300; i++)
        take(pool, &c[i], (size_t)(i % 100) + 1, (unsigned char)(i + 1));
    TP_CHECK(misaligned(c, 300) == 0);
    TP_CHECK(damaged(c, 300) == 0);
    tp_pool_destroy(pool);
}

/* in a fresh block, sizes are rounded up to the next multiple of 8 */
static void test_sizes_round_up_to_8(void)
{
    tp_pool_t *pool = tp_pool_new();
    char *a = tp_pool_alloc(pool, 1);
    char *b = tp_pool_alloc(pool, 9);
    char *c = tp_pool_alloc(pool, 16);
    char *d = tp_pool_alloc(pool, 1);
    TP_CHECK(b - a == 8 && c - b == 16 && d - c == 16);
    tp_pool_destroy(pool);
}

static void test_zero_bytes(void)
{
    tp_pool_t *pool = tp_pool_new();
    void *p = tp_pool_alloc(pool, 0);
    TP_CHECK(p != NULL && aligned(p));
    chunk_t c;
    take(pool, &c, 16, 0x5a);
    TP_CHECK(aligned(c.p) && damaged(&c, 1) == 0);
    tp_pool_destroy(pool);
}

static void test_many_small(void)
{
    enum { N = 20000 };
    tp_pool_t *pool = tp_pool_new();
    static chunk_t c[N];
    for (int i = 0; i < N; i++)
        take(pool, &c[i], 24, (unsigned char)(i * 7 + 1));
    TP_CHECK(misaligned(c, N) == 0);
    TP_CHECK(damaged(c, N) == 0);
    tp_pool_destroy(pool);
}

static void test_big_allocations(void)
{
    tp_pool_t *pool = tp_pool_new();
    chunk_t c[8];
    take(pool, &c[0], 100, 1);
    take(pool, &c[1], 1 << 20, 2);   /* far larger than a block */
    take(pool, &c[2], 4072, 3);      /* a whole block's worth */
    take(pool, &c[3], 4073, 4);      /* just over */
    take(pool, &c[4], 1025, 5);      /* just over a quarter block */
    take(pool, &c[5], 1024, 6);      /* a quarter block: a new shared block */
    take(pool, &c[6], 3 << 20, 7);
    take(pool, &c[7], 40, 8);
    TP_CHECK(misaligned(c, 8) == 0);
    TP_CHECK(damaged(c, 8) == 0);
    tp_pool_destroy(pool);
}

/* A big allocation gets its own block: the block in use keeps taking small ones. */
static void test_big_does_not_retire_the_current_block(void)
{
    tp_pool_t *pool = tp_pool_new();
    char *fill = tp_pool_alloc(pool, 3000); /* leaves about 1 KB in the first block */
    char *a = tp_pool_alloc(pool, 16);
    char *big = tp_pool_alloc(pool, 2000); /* does not fit in what is left */
    char *b = tp_pool_alloc(pool, 16);
    TP_CHECK(a == fill + 3000 && b == a + 16);
    TP_CHECK(big != NULL && (big + 2000 <= fill || big >= b + 16));
    memset(a, 'a', 16);
    memset(b, 'b', 16);
    memset(big, 'B', 2000);
    memset(fill, 'f', 3000);
    TP_CHECK(a[0] == 'a' && a[15] == 'a' && b[0] == 'b' && b[15] == 'b');
    TP_CHECK(big[0] == 'B' && big[1999] == 'B');
    tp_pool_destroy(pool);
}

static void test_mixed_sizes(void)
{
    enum { N = 3000 };
    tp_pool_t *pool = tp_pool_new();
    static chunk_t c[N];
    size_t sz = 1;
    for (int i = 0; i < N; i++) {
        take(pool, &c[i], sz, (unsigned char)(i * 13 + 5));
        sz = (sz * 31 + 17) % 5000; /* spans small, quarter-block and over-block */
    }
    TP_CHECK(misaligned(c, N) == 0);
    TP_CHECK(damaged(c, N) == 0);
    tp_pool_destroy(pool);
}

static void test_strndup(void)
{
    tp_pool_t *pool = tp_pool_new();
    const char *src = "hello world";
    char *s = tp_pool_strndup(pool, src, 5);
    TP_CHECK(s != src && aligned(s));
    TP_CHECK(strcmp(s, "hello") == 0);

    char *e = tp_pool_strndup(pool, src, 0);
    TP_CHECK(e != NULL && e[0] == '\0');

    /* an empty buffer's data is NULL: with n = 0 nothing is read from it */
    char *z = tp_pool_strndup(pool, NULL, 0);
    TP_CHECK(z != NULL && z[0] == '\0');
    /* unlike POSIX strndup, n bytes are copied whatever they are */
    char *m = tp_pool_strndup(pool, "a\0b", 3);
    TP_CHECK(memcmp(m, "a\0b", 4) == 0);

    /* copies, not aliases: changing the source does not change the copy */
    char buf[8] = "abcdefg";
    char *c = tp_pool_strndup(pool, buf, 7);
    buf[0] = 'X';
    TP_CHECK(strcmp(c, "abcdefg") == 0);

    /* a long one goes through the big-allocation path */
    static char longsrc[10000];
    memset(longsrc, 'L', sizeof(longsrc));
    char *l = tp_pool_strndup(pool, longsrc, sizeof(longsrc));
    TP_CHECK(strlen(l) == sizeof(longsrc) && l[9999] == 'L');
    tp_pool_destroy(pool);
}

/* cleanup log: which cleanups ran, in what order */
static char ran[16];
static int nran;

static void on_free(void *arg)
{
    const char *tag = arg;
    if (nran < (int)sizeof(ran) - 1)
        ran[nran++] = tag[0];
}

static void test_cleanups_run_newest_first_once(void)
{
    memset(ran, 0, sizeof(ran));
    nran = 0;
    tp_pool_t *pool = tp_pool_new();
    tp_pool_on_free(pool, on_free, "1");
    tp_pool_alloc(pool, 100000); /* registrations across block boundaries */
    tp_pool_on_free(pool, on_free, "2");
    for (int i = 0; i < 500; i++)
        tp_pool_alloc(pool, 40);
    tp_pool_on_free(pool, on_free, "3");
    tp_pool_on_free(pool, on_free, "4");
    TP_CHECK(nran == 0); /* nothing runs before destroy */
    tp_pool_destroy(pool);
    TP_CHECK(nran == 4);
    TP_CHECK(strcmp(ran, "4321") == 0);
}

/* A cleanup may read what lives in the pool: blocks are freed after all cleanups. */
static char seen[32];

static void on_free_read(void *arg)
{
    strncpy(seen, arg, sizeof(seen) - 1);
}

static void test_cleanup_sees_pool_memory(void)
{
    memset(seen, 0, sizeof(seen));
    tp_pool_t *pool = tp_pool_new();
    char *s = tp_pool_strndup(pool, "still here", 10);
    tp_pool_on_free(pool, on_free_read, s);
    for (int i = 0; i < 300; i++) /* push s's block down the chain */
        tp_pool_alloc(pool, 64);
    tp_pool_destroy(pool);
    TP_CHECK(strcmp(seen, "still here") == 0);
}

static void test_destroy_null_is_a_no_op(void)
{
    memset(ran, 0, sizeof(ran));
    nran = 0;
    tp_pool_t *pool = tp_pool_new();
    tp_pool_on_free(pool, on_free, "x");
    tp_pool_destroy(NULL);
    TP_CHECK(nran == 0);
    tp_pool_destroy(pool);
    TP_CHECK(nran == 1 && ran[0] == 'x');
}

static void test_destroy_fresh_pool(void)
{
    memset(ran, 0, sizeof(ran));
    nran = 0;
    tp_pool_destroy(tp_pool_new()); /* only its first block; LSan reports a leak */
    TP_CHECK(nran == 0);
}

static void test_pools_are_independent(void)
{
    tp_pool_t *a = tp_pool_new(), *b = tp_pool_new();
    chunk_t ca[50], cb[50];
    for (int i = 0; i < 50; i++) {
        take(a, &ca[i], 200, 0xaa);
        take(b, &cb[i], 200, 0xbb);
    }
    tp_pool_destroy(a);
    TP_CHECK(damaged(cb, 50) == 0);
    tp_pool_destroy(b);
}

int main(void)
{
    TP_RUN(test_alignment_of_every_size);
    TP_RUN(test_sizes_round_up_to_8);
    TP_RUN(test_zero_bytes);
    TP_RUN(test_many_small);
    TP_RUN(test_big_allocations);
    TP_RUN(test_big_does_not_retire_the_current_block);
    TP_RUN(test_mixed_sizes);
    TP_RUN(test_strndup);
    TP_RUN(test_cleanups_run_newest_first_once);
    TP_RUN(test_cleanup_sees_pool_memory);
    TP_RUN(test_destroy_null_is_a_no_op);
    TP_RUN(test_destroy_fresh_pool);
    TP_RUN(test_pools_are_independent);
    return TP_TEST_REPORT();
}
