/*
 * fuzz_rsa.c - libFuzzer target: tp_rsa_public against BearSSL's br_rsa_i31_public on
 * attacker-chosen inputs (a JWT signature is the x of the public operation). Two keys made
 * once from a fixed seed (2048 bits e = 65537, 1024 bits e = 3); the first input byte picks
 * one, the rest, cut or left-padded with zeros to the modulus length, is x. tp_rsa runs on
 * every path this CPU supports (AVX-512 IFMA, MULX/ADX, portable C: the key as
 * tp_rsa_pub_init made it, with its path lowered); any difference from BearSSL in the result,
 * or in whether x is refused, stops the fuzzer.
 */
#include "tp_rsa.h"

#include <bearssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PATHS 3 /* tp_rsa_path_t values */

typedef struct {
    br_rsa_public_key pk;
    tp_rsa_pub_t k[PATHS]; /* one per supported path, `paths` of them */
    int paths;
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
    tp_rsa_pub_t made;

    br_hmac_drbg_init(&rng, &br_sha256_vtable, "turnpike fuzz_rsa", 17);
    for (int i = 0; i < 2; i++) {
        const br_rsa_public_key *pk = &keys[i].pk;
        if (br_rsa_i31_keygen(&rng.vtable, &sk, keys[i].kbuf_priv, &keys[i].pk, keys[i].kbuf_pub,
                              bits[i], exps[i]) != 1 ||
            tp_rsa_pub_init(&made, pk->n, pk->nlen, pk->e, pk->elen) != 0)
            abort();
        for (int p = 0; p < PATHS; p++) {
            if (tp_rsa_path_supported((tp_rsa_path_t)p)) {
                keys[i].k[keys[i].paths] = made;
                keys[i].k[keys[i].paths++].path = (tp_rsa_path_t)p;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    unsigned char x[512], want[512], got[512];

    if (!ready) {
        make_keys();
        ready = 1;
    }
    if (size == 0)
        return 0;
    const fuzz_key_t *key = &keys[data[0] & 1];
    size_t nlen = key->pk.nlen, take = size - 1 < nlen ? size - 1 : nlen;
    memset(x, 0, nlen);
    memcpy(x + nlen - take, data + 1, take);
    memcpy(want, x, nlen);
    int rb = (int)br_rsa_i31_public(want, nlen, &key->pk);
    for (int p = 0; p < key->paths; p++) {
        memcpy(got, x, nlen);
        int ra = tp_rsa_public(&key->k[p], got, nlen);
        if (ra != rb || (ra && memcmp(got, want, nlen) != 0))
            __builtin_trap();
    }
    return 0;
}
