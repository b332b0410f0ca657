/*
 * fuzz_jwt_keys.c - libFuzzer target for the public-key parsers in tp_crypto.c
 * (PEM, DER, JWK components) and for verification with whatever key came out.
 *
 * Not built by the Makefile. Build and run from the repository root:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icore -o build/fuzz_jwt_keys \
 *       core/fuzz/fuzz_jwt_keys.c core/tp_crypto.c core/tp_util.c -lbearssl
 *   build/fuzz_jwt_keys -max_len=8192 corpus_dir/
 *
 * The first input byte picks the parser; for JWK the rest is split at the first
 * '.' into the two members (n/e or x/y) and byte 1 picks the curve.
 */
#include "tp_crypto.h"

#include <stdint.h>
#include <string.h>

static void exercise(tp_crypto_key_t *key, const uint8_t *data, size_t size)
{
    /* Use the tail of the input as a "signature" for each algorithm: verification
     * must never read outside it, whatever its length. */
    size_t half = size / 2;

    for (int alg = TP_CRYPTO_RS256; alg <= TP_CRYPTO_ES512; alg++)
        (void)tp_ffi_crypto_verify(key, alg, (const char *)data, half,
                                   (const char *)data + half, size - half);
    tp_ffi_crypto_key_free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int curves[] = {256, 384, 521, 0};
    char err[128];
    tp_crypto_key_t *key = NULL;

    if (size < 2)
        return 0;
    switch (data[0] % 4) {
    case 0:
        key = tp_ffi_crypto_key_from_pem((const char *)data + 1, size - 1, err, sizeof(err));
        break;
    case 1:
        key = tp_ffi_crypto_key_from_der(data + 1, size - 1, err, sizeof(err));
        break;
    default: {
        const char *a = (const char *)data + 2, *dot = memchr(a, '.', size - 2);
        size_t alen = dot ? (size_t)(dot - a) : size - 2;
        const char *b = dot ? dot + 1 : a + alen;
        size_t blen = size - 2 - alen - (dot ? 1 : 0);
        int kty = data[0] % 4 == 2 ? TP_CRYPTO_KEY_RSA : TP_CRYPTO_KEY_EC;
        key = tp_ffi_crypto_key_from_jwk(kty, curves[data[1] % 4], a, alen, b, blen, err,
                                         sizeof(err));
        break;
    }
    }
    if (key != NULL)
        exercise(key, data, size);
    return 0;
}
