/*
 * test_rsa.c - tp_rsa against BearSSL: for keys BearSSL generates (1024 to 4096 bits, with
 * e = 3, 65537 and a multi-byte odd e), x^e mod n from tp_rsa_public must equal
 * br_rsa_i31_public's for random x and for the edge values 0, 1, n - 1; so must it for moduli
 * whose limbs are all ones or mostly zeros (every carry taken, or none); x >= n and wrong
 * lengths are refused; bad keys are refused by tp_rsa_pub_init. Every check runs on each
 * arithmetic path this CPU supports (AVX-512 IFMA, MULX/ADX, portable C: the same key with its
 * path lowered), and the paths exercised are printed.
 */
#include "tp_rsa.h"
#include "tp_test.h"

#include <bearssl.h>
#include <string.h>

#define MAX_BYTES 512

static br_hmac_drbg_context rng;

static void random_bytes(unsigned char *p, size_t n)
{
    br_hmac_drbg_generate(&rng, p, n);
}

/* x := random value below n (same length), with the top byte kept under n's */
static void random_below(unsigned char *x, const br_rsa_public_key *pk)
{
    random_bytes(x, pk->nlen);
    x[0] = (unsigned char)(x[0] % (pk->n[0] ? pk->n[0] : 1));
}

#define PATHS 3 /* tp_rsa_path_t values */

static const char *const path_names[PATHS] = {"portable", "MULX/ADX", "AVX-512 IFMA"};
static unsigned compared_on[PATHS]; /* comparisons with BearSSL made on each path */

/* the key on every path this CPU supports: as tp_rsa_pub_init made it, and lowered */
typedef struct {
    tp_rsa_pub_t path[PATHS];
    int count;
} all_paths_t;

static int init_paths(all_paths_t *k, const br_rsa_public_key *pk)
{
    tp_rsa_pub_t made;
    if (tp_rsa_pub_init(&made, pk->n, pk->nlen, pk->e, pk->elen) != 0)
        return -1;
    k->count = 0;
    for (int p = 0; p < PATHS; p++) {
        if (!tp_rsa_path_supported((tp_rsa_path_t)p))
            continue;
        if (p > (int)made.path) /* tp_rsa_pub_init must pick the best one */
            return -1;
        k->path[k->count] = made;
        k->path[k->count++].path = (tp_rsa_path_t)p;
    }
    return 0;
}

/* one comparison: tp_rsa_public(x) == br_rsa_i31_public(x), on every path */
static int same_as_bearssl(const all_paths_t *k, const br_rsa_public_key *pk,
                           const unsigned char *x)
{
    unsigned char a[MAX_BYTES], b[MAX_BYTES];
    memcpy(b, x, pk->nlen);
    int rb = (int)br_rsa_i31_public(b, pk->nlen, pk);
    for (int i = 0; i < k->count; i++) {
        memcpy(a, x, pk->nlen);
        int ra = tp_rsa_public(&k->path[i], a, pk->nlen);
        compared_on[k->path[i].path]++;
        if (ra != rb || (ra && memcmp(a, b, pk->nlen) != 0))
            return 0;
    }
    return 1;
}

/* x >= n and a wrong length are refused, on every path */
static int refused(const all_paths_t *k, const unsigned char *x, size_t xlen)
{
    unsigned char a[MAX_BYTES];
    for (int i = 0; i < k->count; i++) {
        memcpy(a, x, xlen);
        if (tp_rsa_public(&k->path[i], a, xlen) != 0)
            return 0;
    }
    return 1;
}

static void check_key(unsigned bits, uint32_t pubexp)
{
    static unsigned char kbuf_priv[BR_RSA_KBUF_PRIV_SIZE(4096)];
    static unsigned char kbuf_pub[BR_RSA_KBUF_PUB_SIZE(4096)];
    br_rsa_private_key sk;
    br_rsa_public_key pk;
    all_paths_t k;
    unsigned char x[MAX_BYTES];

    TP_CHECK(br_rsa_i31_keygen(&rng.vtable, &sk, kbuf_priv, &pk, kbuf_pub, bits, pubexp) == 1);
    TP_CHECK(init_paths(&k, &pk) == 0);
    TP_CHECK(k.path[0].nlen == pk.nlen);

    int all_same = 1;
    for (int i = 0; i < 40; i++) {
        random_below(x, &pk);
        all_same &= same_as_bearssl(&k, &pk, x);
    }
    TP_CHECK(all_same);

    memset(x, 0, pk.nlen); /* 0 */
    TP_CHECK(same_as_bearssl(&k, &pk, x));
    x[pk.nlen - 1] = 1; /* 1 */
    TP_CHECK(same_as_bearssl(&k, &pk, x));
    memcpy(x, pk.n, pk.nlen); /* n - 1 (n is odd: clear the low bit) */
    x[pk.nlen - 1] &= 0xfe;
    TP_CHECK(same_as_bearssl(&k, &pk, x));

    memcpy(x, pk.n, pk.nlen); /* n itself, and above: refused */
    TP_CHECK(refused(&k, x, pk.nlen));
    memset(x, 0xff, pk.nlen);
    TP_CHECK(refused(&k, x, pk.nlen));
    memset(x, 0, pk.nlen);
    TP_CHECK(refused(&k, x, pk.nlen - 1)); /* wrong length */
}

static void test_against_bearssl(void)
{
    check_key(1024, 65537);
    check_key(1537, 3);
    check_key(2048, 65537);
    check_key(2048, 0x40000003); /* a multi-byte odd exponent */
    check_key(3072, 65537);
    check_key(4096, 65537);
}

/*
 * Odd moduli made to stress the carries rather than to be RSA keys (BearSSL takes any odd
 * n): all bytes 0xff (every limb all ones), 0x80 0 ... 0 1 (limbs of zeros), and odd byte
 * lengths (a partial top limb). x runs over n - 1, n - 2, all ones below n's top byte, and
 * random values.
 */
static void check_modulus(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen)
{
    br_rsa_public_key pk = {(unsigned char *)n, nlen, (unsigned char *)e, elen};
    all_paths_t k;
    unsigned char x[MAX_BYTES];

    TP_CHECK(init_paths(&k, &pk) == 0);
    memcpy(x, n, nlen);
    x[nlen - 1] ^= 1; /* n - 1 */
    TP_CHECK(same_as_bearssl(&k, &pk, x));
    x[nlen - 1] ^= 3; /* n - 2, when n ends in binary 11 */
    if ((n[nlen - 1] & 2) != 0)
        TP_CHECK(same_as_bearssl(&k, &pk, x));
    memset(x, 0xff, nlen);
    x[0] = (unsigned char)(n[0] - 1);
    TP_CHECK(same_as_bearssl(&k, &pk, x));
    int all_same = 1;
    for (int i = 0; i < 10; i++) {
        random_below(x, &pk);
        all_same &= same_as_bearssl(&k, &pk, x);
    }
    TP_CHECK(all_same);
}

static void test_carry_heavy_moduli(void)
{
    static unsigned char n[MAX_BYTES];
    static const size_t lens[] = {8, 9, 255, 256, 383, 512};
    unsigned char e3[1] = {3}, e65537[3] = {1, 0, 1};

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memset(n, 0xff, lens[i]);
        check_modulus(n, lens[i], e65537, sizeof(e65537));
        check_modulus(n, lens[i], e3, sizeof(e3));
        memset(n, 0, lens[i]);
        n[0] = 0x80;
        n[lens[i] - 1] = 1;
        check_modulus(n, lens[i], e65537, sizeof(e65537));
        n[lens[i] / 2] = 0xff; /* a few ones in the middle */
        check_modulus(n, lens[i], e3, sizeof(e3));
    }
}

/*
 * The IFMA path works on D = 8 V 52-bit digits, the least V with 2^(416 V) >= 4n. Moduli of
 * 416 V - 2 bits (the largest for V) and 416 V - 1 bits (the smallest for V + 1), all ones or
 * a lone top bit, run each size up to 4096 bits at its edges, among them sizes for which
 * tp_rsa_pub_init gets 2^(104 D) mod n by doubling from 1 rather than from the limbs' R^2.
 */
static void test_digit_boundaries(void)
{
    static unsigned char n[MAX_BYTES];
    unsigned char e65537[3] = {1, 0, 1};

    for (unsigned v = 1; v <= 10; v++) {
        for (unsigned bits = 416 * v - 2; bits <= 416 * v - 1 && bits <= 8 * MAX_BYTES; bits++) {
            size_t len = (bits + 7) / 8;
            unsigned char top = (unsigned char)((1u << (bits - 8 * (len - 1))) - 1);
            memset(n, 0xff, len);
            n[0] = top;
            check_modulus(n, len, e65537, sizeof(e65537));
            memset(n, 0, len);
            n[0] = (unsigned char)(top / 2 + 1);
            n[len - 1] = 1;
            check_modulus(n, len, e65537, sizeof(e65537));
        }
    }
}

static void test_bad_keys(void)
{
    tp_rsa_pub_t k;
    unsigned char n[8] = {0xc3, 1, 2, 3, 4, 5, 6, 7}, e[3] = {1, 0, 1};
    unsigned char even_e[1] = {4}, big_e[9] = {1, 0, 0, 0, 0, 0, 0, 0, 1};
    static unsigned char huge[TP_RSA_MAX_LIMBS * 8 + 1];

    TP_CHECK(tp_rsa_pub_init(&k, n, sizeof(n), e, sizeof(e)) == 0);
    n[7] = 8; /* even modulus */
    TP_CHECK(tp_rsa_pub_init(&k, n, sizeof(n), e, sizeof(e)) == -1);
    n[7] = 7;
    TP_CHECK(tp_rsa_pub_init(&k, n, sizeof(n), even_e, sizeof(even_e)) == -1);
    TP_CHECK(tp_rsa_pub_init(&k, n, sizeof(n), big_e, sizeof(big_e)) == -1);
    TP_CHECK(tp_rsa_pub_init(&k, n, sizeof(n), e, 0) == -1);
    TP_CHECK(tp_rsa_pub_init(&k, n, 0, e, sizeof(e)) == -1);
    huge[0] = 1;
    huge[sizeof(huge) - 1] = 1;
    TP_CHECK(tp_rsa_pub_init(&k, huge, sizeof(huge), e, sizeof(e)) == -1);
    unsigned char one[1] = {1};
    TP_CHECK(tp_rsa_pub_init(&k, one, 1, e, sizeof(e)) == -1);
}

/* which paths the checks ran on; every supported one must have been */
static void report_paths(void)
{
    for (int p = PATHS - 1; p >= 0; p--) {
        if (tp_rsa_path_supported((tp_rsa_path_t)p)) {
            printf("  %s path: %u comparisons with BearSSL\n", path_names[p], compared_on[p]);
            TP_CHECK(compared_on[p] > 0);
        } else {
            printf("  %s path: not available on this CPU\n", path_names[p]);
        }
    }
}

int main(void)
{
    br_hmac_drbg_init(&rng, &br_sha256_vtable, "turnpike test_rsa", 17);
    TP_RUN(test_against_bearssl);
    TP_RUN(test_carry_heavy_moduli);
    TP_RUN(test_digit_boundaries);
    TP_RUN(test_bad_keys);
    report_paths();
    return TP_TEST_REPORT();
}
