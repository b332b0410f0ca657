/*
 * fuzz_rsa.c - libFuzzer target: tp_rsa_public against BearSSL's br_rsa_i31_public on
 * attacker-chosen inputs (a JWT signature is the x of the public operation). Two keys made
 * once from a fixed seed (2048 bits e = 65537, 1024 bits e = 3); the first input byte picks
 * one, the rest, cut or left-padded with zeros to the modulus length, is x. tp_rsa runs on
 * both of its paths (the MULX/ADX one when this CPU has it, and the portable C one); any
 * difference in the result, or in whether x is refused, stops the fuzzer.
 */
#include "tp_rsa.h"

#include <bearssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    br_rsa_public_key pk;
    tp_rsa_pub_t k;          /* as tp_rsa_pub_init made it */
    tp_rsa_pub_t k_portable; /* the same with adx cleared */
    unsigned char kbuf_priv[BR_RSA_KBUF_PRIV_SIZE(2048)];
    unsigned char kbuf_pub[BR_RSA_KBUF_PUB_SIZE(2048)];
} fuzz_key_t;

static fuzz_key_t keys[2];

static void make_keys(void)
{
    static const unsigned bits[2] = {2048, 1024};
    static const uint32_t exps[2] = {65537, 3};
    br_hmac_drbg_context rng;
    br_rsa_private_key sk;

    br_hmac_drbg_init(&rng, &br_sha256_vtable, "turnpike fuzz_rsa", 17);
    for (int i = 0; i < 2; i++) {
        if (br_rsa_i31_keygen(&rng.vtable, &sk, keys[i].kbuf_priv, &keys[i].pk, keys[i].kbuf_pub,
                              bits[i], exps[i]) != 1 ||
            tp_rsa_pub_init(&keys[i].k, keys[i].pk.n, keys[i].pk.nlen, keys[i].pk.e,
                            keys[i].pk.elen) != 0)
            abort();
        keys[i].k_portable = keys[i].k;
        keys[i].k_portable.adx = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    unsigned char a[512], b[512], c[512];

    if (!ready) {
        make_keys();
        ready = 1;
    }
    if (size == 0)
        return 0;
    const fuzz_key_t *key = &keys[data[0] & 1];
    size_t nlen = key->pk.nlen, take = size - 1 < nlen ? size - 1 : nlen;
    memset(a, 0, nlen);
    memcpy(a + nlen - take, data + 1, take);
    memcpy(b, a, nlen);
    memcpy(c, a, nlen);
    int ra = tp_rsa_public(&key->k, a, nlen);
    int rb = (int)br_rsa_i31_public(b, nlen, &key->pk);
    int rc = tp_rsa_public(&key->k_portable, c, nlen);
    if (ra != rb || rc != rb || (ra && (memcmp(a, b, nlen) != 0 || memcmp(c, b, nlen) != 0)))
        __builtin_trap();
    return 0;
}
