/*
 * tp_rsa.c - the RSA public-key operation for signature verification (see tp_rsa.h):
 * x^e mod n with 64-bit limbs, Montgomery multiplication (CIOS), a separate squaring, and
 * left-to-right square-and-multiply. For e = 65537 that is 16 squarings, one product and two
 * conversions, against a full constant-time window exponentiation in BearSSL. Only public
 * values pass through here; nothing needs to be constant-time.
 */
#include "tp_rsa.h"

#include <string.h>

/* a >= b over n limbs */
static int geq(const uint64_t *a, const uint64_t *b, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (a[i] != b[i])
            return a[i] > b[i];
    }
    return 1;
}

/* a -= b over n limbs; returns the borrow */
static uint64_t sub_into(uint64_t *a, const uint64_t *b, size_t n)
{
    uint64_t borrow = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t bi = b[i] + borrow;
        uint64_t carry_in = bi < borrow; /* b[i] + borrow wrapped */
        borrow = (a[i] < bi) | carry_in;
        a[i] -= bi;
    }
    return borrow;
}

/* out = a * b / R mod n, for a, b < n. out may alias a or b. */
static void montmul(uint64_t *out, const uint64_t *a, const uint64_t *b, const tp_rsa_pub_t *k)
{
    size_t L = k->limbs;
    uint64_t t[TP_RSA_MAX_LIMBS + 2];
    memset(t, 0, (L + 2) * sizeof(t[0]));
    for (size_t i = 0; i < L; i++) {
        uint64_t ai = a[i], carry = 0;
        unsigned __int128 p;
        for (size_t j = 0; j < L; j++) {
            p = (unsigned __int128)ai * b[j] + t[j] + carry;
            t[j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        p = (unsigned __int128)t[L] + carry;
        t[L] = (uint64_t)p;
        t[L + 1] = (uint64_t)(p >> 64);

        /* add m * n so the lowest limb becomes zero, and shift it out */
        uint64_t m = t[0] * k->n0inv;
        p = (unsigned __int128)m * k->n[0] + t[0];
        carry = (uint64_t)(p >> 64);
        for (size_t j = 1; j < L; j++) {
            p = (unsigned __int128)m * k->n[j] + t[j] + carry;
            t[j - 1] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        p = (unsigned __int128)t[L] + carry;
        t[L - 1] = (uint64_t)p;
        t[L] = t[L + 1] + (uint64_t)(p >> 64);
    }
    /* t < 2n: one subtraction at most */
    if (t[L] != 0 || geq(t, k->n, L))
        sub_into(t, k->n, L);
    memcpy(out, t, L * sizeof(t[0]));
}

/* out = a^2 / R mod n, for a < n: the square (off-diagonal products once, doubled, plus the
 * diagonal: about half the multiplications of montmul's product) then Montgomery reduction
 * of the double-width result. out may alias a. */
static void montsqr(uint64_t *out, const uint64_t *a, const tp_rsa_pub_t *k)
{
    size_t L = k->limbs;
    uint64_t t[2 * TP_RSA_MAX_LIMBS + 1], carry;
    unsigned __int128 p;
    memset(t, 0, (2 * L + 1) * sizeof(t[0]));
    for (size_t i = 0; i + 1 < L; i++) {
        uint64_t ai = a[i];
        carry = 0;
        for (size_t j = i + 1; j < L; j++) {
            p = (unsigned __int128)ai * a[j] + t[i + j] + carry;
            t[i + j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        t[i + L] = carry;
    }
    for (size_t i = 2 * L; i-- > 1;) /* double (the sum of a_i a_j, i < j, is below a^2 / 2) */
        t[i] = (t[i] << 1) | (t[i - 1] >> 63);
    t[0] <<= 1;
    carry = 0;
    for (size_t i = 0; i < L; i++) {
        p = (unsigned __int128)a[i] * a[i] + t[2 * i] + carry;
        t[2 * i] = (uint64_t)p;
        p = (unsigned __int128)t[2 * i + 1] + (uint64_t)(p >> 64);
        t[2 * i + 1] = (uint64_t)p;
        carry = (uint64_t)(p >> 64);
    }
    /* reduction: add m * n * 2^(64 i) to clear limb i; what is left, t / R, is below 2n */
    for (size_t i = 0; i < L; i++) {
        uint64_t m = t[i] * k->n0inv;
        carry = 0;
        for (size_t j = 0; j < L; j++) {
            p = (unsigned __int128)m * k->n[j] + t[i + j] + carry;
            t[i + j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
        for (size_t j = i + L; carry != 0 && j <= 2 * L; j++) {
            p = (unsigned __int128)t[j] + carry;
            t[j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
    }
    if (t[2 * L] != 0 || geq(t + L, k->n, L))
        sub_into(t + L, k->n, L);
    memcpy(out, t + L, L * sizeof(t[0]));
}

/* x = 2x mod n, for x < n */
static void double_mod(uint64_t *x, const tp_rsa_pub_t *k)
{
    size_t L = k->limbs;
    uint64_t top = x[L - 1] >> 63;
    for (size_t i = L; i-- > 1;)
        x[i] = (x[i] << 1) | (x[i - 1] >> 63);
    x[0] <<= 1;
    if (top || geq(x, k->n, L))
        sub_into(x, k->n, L);
}

static void limbs_from_be(uint64_t *out, size_t limbs, const unsigned char *p, size_t len)
{
    memset(out, 0, limbs * sizeof(out[0]));
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i);
        out[bit / 64] |= (uint64_t)p[i] << (bit % 64);
    }
}

static void limbs_to_be(unsigned char *p, size_t len, const uint64_t *in)
{
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i);
        p[i] = (unsigned char)(in[bit / 64] >> (bit % 64));
    }
}

int tp_rsa_pub_init(tp_rsa_pub_t *k, const unsigned char *n, size_t nlen, const unsigned char *e,
                    size_t elen)
{
    while (nlen > 0 && n[0] == 0) {
        n++;
        nlen--;
    }
    while (elen > 0 && e[0] == 0) {
        e++;
        elen--;
    }
    if (nlen == 0 || nlen > TP_RSA_MAX_LIMBS * 8 || (n[nlen - 1] & 1) == 0 || elen == 0 ||
        elen > 8 || (e[elen - 1] & 1) == 0)
        return -1;
    memset(k, 0, sizeof(*k));
    k->nlen = nlen;
    k->limbs = (nlen + 7) / 8;
    limbs_from_be(k->n, k->limbs, n, nlen);
    for (size_t i = 0; i < elen; i++)
        k->e = (k->e << 8) | e[i];

    /* -n^-1 mod 2^64 by Newton's iteration (n odd: n is its own inverse mod 8) */
    uint64_t inv = k->n[0];
    for (int i = 0; i < 5; i++)
        inv *= 2 - k->n[0] * inv;
    k->n0inv = (uint64_t)0 - inv;

    if (k->limbs == 1 && k->n[0] < 3)
        return -1;
    /* R^2 mod n: 1 doubled 2 * 64 * limbs times */
    k->rr[0] = 1;
    for (size_t i = 0; i < 2 * 64 * k->limbs; i++)
        double_mod(k->rr, k);
    return 0;
}

int tp_rsa_public(const tp_rsa_pub_t *k, unsigned char *x, size_t xlen)
{
    uint64_t v[TP_RSA_MAX_LIMBS], xm[TP_RSA_MAX_LIMBS], acc[TP_RSA_MAX_LIMBS];
    size_t L = k->limbs;

    if (L == 0 || xlen != k->nlen)
        return 0;
    limbs_from_be(v, L, x, xlen);
    if (geq(v, k->n, L))
        return 0;
    montmul(xm, v, k->rr, k); /* x in Montgomery form */
    memcpy(acc, xm, L * sizeof(acc[0]));
    int top = 63;
    while (top > 0 && !((k->e >> top) & 1))
        top--;
    for (int bit = top - 1; bit >= 0; bit--) {
        montsqr(acc, acc, k);
        if ((k->e >> bit) & 1)
            montmul(acc, acc, xm, k);
    }
    memset(v, 0, L * sizeof(v[0]));
    v[0] = 1;
    montmul(acc, acc, v, k); /* out of Montgomery form */
    limbs_to_be(x, xlen, acc);
    return 1;
}
