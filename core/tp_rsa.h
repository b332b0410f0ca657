/*
 * tp_rsa.h - the RSA public-key operation (x^e mod n) for signature verification.
 *
 * BearSSL's RSA code is constant-time for every exponent, which makes a 2048-bit public
 * operation cost about as much as a private one would with a short exponent (~130 us here).
 * Verification handles only public values (the key, the signature, the message hash), so
 * timing leaks nothing; this file does the operation with plain 64-bit Montgomery
 * arithmetic and square-and-multiply over the (short) public exponent instead, with its inner
 * loops in MULX/ADCX/ADOX assembly on x86-64 CPUs that have them (portable C elsewhere).
 */
#ifndef TP_RSA_H
#define TP_RSA_H

#include <stddef.h>
#include <stdint.h>

/* Largest modulus handled: 4096 bits, as BearSSL. */
#define TP_RSA_MAX_LIMBS 64

/* A public key made ready for tp_rsa_public: n as little-endian 64-bit limbs, the
 * Montgomery constant and R^2 mod n, computed once per key. */
typedef struct {
    uint64_t n[TP_RSA_MAX_LIMBS];
    uint64_t rr[TP_RSA_MAX_LIMBS]; /* R^2 mod n, R = 2^(64 * limbs) */
    uint64_t n0inv;                /* -n^-1 mod 2^64 */
    uint64_t e;
    size_t limbs;
    size_t nlen; /* modulus length in bytes (leading zeros stripped) */
    int adx;     /* 1: the inner loops use MULX/ADCX/ADOX, set by tp_rsa_pub_init when the CPU
                    has BMI2 and ADX; tests clear it to check the portable C path */
} tp_rsa_pub_t;

/* tp_rsa_pub_init(k, n, nlen, e, elen) -> 0, or -1 when n is even, below 3, over 4096 bits,
 * or e is zero, even, or over 8 bytes. n and e are big-endian. */
int tp_rsa_pub_init(tp_rsa_pub_t *k, const unsigned char *n, size_t nlen, const unsigned char *e,
                    size_t elen);

/* tp_rsa_public(k, x, xlen) -> 1 with x replaced by x^e mod n, or 0 (x left unspecified)
 * when xlen is not the modulus length or x >= n. x is big-endian, like br_rsa_public. */
int tp_rsa_public(const tp_rsa_pub_t *k, unsigned char *x, size_t xlen);

#endif
