/*
 * tp_rsa.h - the RSA public-key operation (x^e mod n) for signature verification.
 *
 * BearSSL's RSA code is constant-time for every exponent, which makes a 2048-bit public
 * operation cost about as much as a private one would with a short exponent (~130 us here).
 * Verification handles only public values (the key, the signature, the message hash), so
 * timing leaks nothing; this file does the operation with plain Montgomery arithmetic and
 * square-and-multiply over the (short) public exponent instead: with AVX-512 IFMA on 52-bit
 * digits where the CPU has it, else with 64-bit limbs in MULX/ADCX/ADOX assembly on x86-64 CPUs
 * that have them, else in portable C.
 */
#ifndef TP_RSA_H
#define TP_RSA_H

#include <stddef.h>
#include <stdint.h>

/* Largest modulus handled: 4096 bits, as BearSSL. */
#define TP_RSA_MAX_LIMBS 64

/* The same modulus in 52-bit digits for the AVX-512 IFMA path: 4096 + 2 bits (see tp_rsa.c)
 * need 79 digits, rounded up to whole 8-digit vectors. */
#define TP_RSA_MAX_DIGITS 80

/* How tp_rsa_public does its arithmetic. tp_rsa_pub_init picks the fastest one the CPU runs. */
typedef enum {
    TP_RSA_PORTABLE, /* 64-bit limbs, C */
    TP_RSA_ADX,      /* 64-bit limbs, MULX/ADCX/ADOX rows (x86-64 with BMI2 and ADX) */
    TP_RSA_IFMA      /* 52-bit digits, AVX-512 IFMA (AVX512F, VL and IFMA, and the OS saves
                        ZMM state) */
} tp_rsa_path_t;

/*
 * A public key made ready for tp_rsa_public, computed once per key: n as little-endian 64-bit
 * limbs with its Montgomery constant and R^2 mod n, and, when the IFMA path is picked, the same
 * in radix 2^52 (1.3 KB more, 2.3 KB in all).
 */
typedef struct {
    uint64_t n[TP_RSA_MAX_LIMBS];
    uint64_t rr[TP_RSA_MAX_LIMBS]; /* R^2 mod n, R = 2^(64 * limbs) */
    uint64_t n0inv;                /* -n^-1 mod 2^64 */
    uint64_t e;
    size_t limbs;
    size_t nlen;                      /* modulus length in bytes (leading zeros stripped) */
    uint64_t n52[TP_RSA_MAX_DIGITS];  /* IFMA only: n in 52-bit digits */
    uint64_t rr52[TP_RSA_MAX_DIGITS]; /* IFMA only: R'^2 mod n, R' = 2^(52 * digits) */
    uint64_t n0inv52;                 /* IFMA only: -n^-1 mod 2^52 */
    size_t digits;                    /* IFMA only: a multiple of 8 */
    tp_rsa_path_t path; /* set by tp_rsa_pub_init; tests lower it to any path for which
                           tp_rsa_path_supported says 1 */
} tp_rsa_pub_t;

/* tp_rsa_path_supported(path) -> 1 when this CPU (and OS) can run the path, else 0. */
int tp_rsa_path_supported(tp_rsa_path_t path);

/* tp_rsa_pub_init(k, n, nlen, e, elen) -> 0, or -1 when n is even, below 3, over 4096 bits,
 * or e is zero, even, or over 8 bytes. n and e are big-endian. */
int tp_rsa_pub_init(tp_rsa_pub_t *k, const unsigned char *n, size_t nlen, const unsigned char *e,
                    size_t elen);

/* tp_rsa_public(k, x, xlen) -> 1 with x replaced by x^e mod n, or 0 (x left unspecified)
 * when xlen is not the modulus length or x >= n. x is big-endian, like br_rsa_public. */
int tp_rsa_public(const tp_rsa_pub_t *k, unsigned char *x, size_t xlen);

#endif
