/*
 * fuzz_jws.c - libFuzzer target: tp_ffi_jws_split on attacker-chosen tokens (an
 * Authorization header is the input). The buffer is exactly as large as the token (what
 * turnpike.jwt gives it at most) and the parts must fit it; when the split succeeds, each
 * part must equal decoding that part on its own, and the signing input must end at the
 * second dot. Any difference stops the fuzzer.
 */
#include "tp_crypto.h"
#include "tp_jws.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void same_as_alone(const char *part, size_t n, const unsigned char *got, size_t got_len)
{
    unsigned char *one = malloc(n + 1);
    size_t cap = n + 1;
    if (tp_ffi_crypto_b64_decode(TP_CRYPTO_B64_URL, part, n, one, &cap) != 0 || cap != got_len ||
        memcmp(one, got, got_len) != 0)
        abort();
    free(one);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *tok = (const char *)data;
    unsigned char *buf = malloc(size + 1);
    tp_jws_parts_t p;
    if (tp_ffi_jws_split(tok, size, buf, size, &p) == 0) {
        if (p.header_len + p.payload_len + p.sig_len > size || p.signing_len >= size)
            abort();
        const char *dot1 = memchr(tok, '.', size);
        const char *dot2 = memchr(dot1 + 1, '.', size - (size_t)(dot1 - tok) - 1);
        if (dot2 == NULL || (size_t)(dot2 - tok) != p.signing_len)
            abort();
        same_as_alone(tok, (size_t)(dot1 - tok), buf, p.header_len);
        same_as_alone(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf + p.header_len, p.payload_len);
        same_as_alone(dot2 + 1, size - p.signing_len - 1, buf + p.header_len + p.payload_len,
                      p.sig_len);
    }
    free(buf);
    return 0;
}
