/*
 * tp_rsa_int.h - what tp_rsa.c (64-bit limbs, portable and MULX/ADX; keys; the public
 * operation) shares with tp_rsa_ifma.c (the AVX-512 IFMA path). Only for those two files.
 */
#ifndef TP_RSA_INT_H
#define TP_RSA_INT_H

#include "tp_rsa.h"

/* A Montgomery multiplication, out = a b / R mod n (or, for IFMA, that plus n), over the
 * key's limbs or digits; out may alias a or b. */
typedef void tp_rsa_mont_fn(uint64_t *out, const uint64_t *a, const uint64_t *b,
                            const tp_rsa_pub_t *k);

/* a >= b over n limbs or digits */
int tp_rsa__geq(const uint64_t *a, const uint64_t *b, size_t n);

/* x = x 2^count mod n, for x < n (64-bit limbs) */
void tp_rsa__double_mod_times(uint64_t *x, size_t count, const tp_rsa_pub_t *k);

/* acc = x^e (len limbs or digits) given xm = x R, by square-and-multiply with mul and sqr */
void tp_rsa__pow_e(uint64_t *acc, const uint64_t *x, const uint64_t *xm, size_t len,
                   const tp_rsa_pub_t *k, tp_rsa_mont_fn *mul, tp_rsa_mont_fn *sqr);

/* tp_rsa_ifma.c: can this CPU and OS run the IFMA path; the key's radix-2^52 form; v = v^e
 * mod n (v < n, in k->limbs limbs) through it */
int tp_rsa__cpu_has_ifma(void);
void tp_rsa__ifma_setup(tp_rsa_pub_t *k);
void tp_rsa__public_ifma(const tp_rsa_pub_t *k, uint64_t *v);

#endif
