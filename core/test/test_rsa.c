/*
 * test_rsa.c - tp_rsa against BearSSL: for keys BearSSL generates (1024 to 4096 bits, with
 * e = 3, 65537 and a multi-byte odd e), x^e mod n from tp_rsa_public must equal
 * br_rsa_i31_public's for random x and for the edge values 0, 1, n - 1; so must it for moduli
 * whose limbs are all ones or mostly zeros (every carry taken, or none); x >= n and wrong
 * lengths are refused; bad keys are refused by tp_rsa_pub_init. Every check runs on both
 * arithmetic paths: the MULX/ADX one (when tp_rsa_pub_init picked it on this CPU) and the
 * portable C one (the same key with adx cleared).
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

/* the key as tp_rsa_pub_init made it, and the same key on the portable path */
typedef struct {
    tp_rsa_pub_t path[2];
} both_paths_t;

static int init_both(both_paths_t *k, const br_rsa_public_key *pk)
{
    if (tp_rsa_pub_init(&k->path[0], pk->n, pk->nlen, pk->e, pk->elen) != 0)
        return -1;
    k->path[1] = k->path[0];
    k->path[1].adx = 0;
    return 0;
}

/* one comparison: tp_rsa_public(x) == br_rsa_i31_public(x), on both paths */
static int same_as_bearssl(const both_paths_t *k, const br_rsa_public_key *pk,
                           const unsigned char *x)
{
    unsigned char a[MAX_BYTES], b[MAX_BYTES];
    memcpy(b, x, pk->nlen);
    int rb = (int)br_rsa_i31_public(b, pk->nlen, pk);
    for (int i = 0; i < 2; i++) {
        memcpy(a, x, pk->nlen);
        int ra = tp_rsa_public(&k->path[i], a, pk->nlen);
        if (ra != rb || (ra && memcmp(a, b, pk->nlen) != 0))
            return 0;
    }
    return 1;
}

/* x >= n and a wrong length are refused, on both paths */
static int refused(const both_paths_t *k, const unsigned char *x, size_t xlen)
{
    unsigned char a[MAX_BYTES];
    for (int i = 0; i < 2; i++) {
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
    both_paths_t k;
    unsigned char x[MAX_BYTES];

    TP_CHECK(br_rsa_i31_keygen(&rng.vtable, &sk, kbuf_priv, &pk, kbuf_pub, bits, pubexp) == 1);
    TP_CHECK(init_both(&k, &pk) == 0);
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
    both_paths_t k;
    unsigned char x[MAX_BYTES];

    TP_CHECK(init_both(&k, &pk) == 0);
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

/* says whether the MULX/ADX path is among the two checked */
static void report_paths(void)
{
    tp_rsa_pub_t k;
    unsigned char n[1] = {0xc3}, e[1] = {3};
    TP_CHECK(tp_rsa_pub_init(&k, n, sizeof(n), e, sizeof(e)) == 0);
    printf("  (MULX/ADX path %s)\n", k.adx ? "checked" : "not available on this CPU");
}

int main(void)
{
    br_hmac_drbg_init(&rng, &br_sha256_vtable, "turnpike test_rsa", 17);
    report_paths();
    TP_RUN(test_against_bearssl);
    TP_RUN(test_carry_heavy_moduli);
    TP_RUN(test_bad_keys);
    return TP_TEST_REPORT();
}
