/*
 * tp_crypto.h - the cryptography JWT verification needs, over BearSSL: digests,
 * HMAC, constant-time compare, base64/base64url, public keys parsed from PEM, DER
 * or JWK components, and JWS signature verification (RS*, PS*, ES*).
 *
 * Everything here parses untrusted input: every length is checked before use and
 * no function reads outside the buffers it is given. The tp_ffi_crypto_* functions
 * are the surface lua/turnpike/ffi/crypto.lua binds; they use plain C types only.
 */
#ifndef TP_CRYPTO_H
#define TP_CRYPTO_H

#include <stddef.h>

/* Largest digest / HMAC output (SHA-512), largest RSA modulus BearSSL handles. */
#define TP_CRYPTO_MAX_DIGEST 64
#define TP_CRYPTO_RSA_MAX_BYTES 512
#define TP_CRYPTO_RSA_MIN_BITS 1024

/* Key types returned by tp_ffi_crypto_key_type(). */
enum { TP_CRYPTO_KEY_RSA = 1, TP_CRYPTO_KEY_EC = 2 };

/* Signature algorithms for tp_ffi_crypto_verify() (JWA names, RFC 7518 section 3). */
enum {
    TP_CRYPTO_RS256 = 1,
    TP_CRYPTO_RS384,
    TP_CRYPTO_RS512,
    TP_CRYPTO_PS256,
    TP_CRYPTO_PS384,
    TP_CRYPTO_PS512,
    TP_CRYPTO_ES256,
    TP_CRYPTO_ES384,
    TP_CRYPTO_ES512
};

/* base64 decoding modes: strict base64url (JWS, no padding, "-_" only), or lenient
 * (either alphabet, optional "=" padding, as Kong accepts for base64 secrets). */
enum { TP_CRYPTO_B64_URL = 0, TP_CRYPTO_B64_LENIENT = 1, TP_CRYPTO_B64_STD = 2 };

/** An immutable public key (RSA or EC on P-256/P-384/P-521). Owned by the caller. */
typedef struct tp_crypto_key_s tp_crypto_key_t;

/**
 * Digest `msg` with SHA-`alg` (alg is 256, 384 or 512) into `out`; `*outlen` holds
 * the capacity of `out` on entry and the digest length on return.
 * Returns 0, or -EINVAL for an unknown alg / -ENOSPC when `out` is too small.
 */
int tp_ffi_crypto_digest(int alg, const char *msg, size_t mlen, unsigned char *out,
                         size_t *outlen);

/** HMAC-SHA-`alg` (256, 384, 512) of `msg` under `key`; results as tp_ffi_crypto_digest. */
int tp_ffi_crypto_hmac(int alg, const char *key, size_t klen, const char *msg, size_t mlen,
                       unsigned char *out, size_t *outlen);

/**
 * Compare two byte strings in time that depends only on their lengths.
 * Returns 1 when equal, 0 otherwise (different lengths are never equal).
 */
int tp_ffi_crypto_ct_equal(const char *a, size_t alen, const char *b, size_t blen);

/**
 * Decode base64 text `in` in `mode` (TP_CRYPTO_B64_*) into `out` (capacity `*outlen`,
 * at least inlen * 3 / 4 + 3 is always enough); `*outlen` is the decoded length.
 * Returns 0, -EINVAL on malformed input (bad character, bad length, non-zero pad
 * bits) or -ENOSPC.
 */
int tp_ffi_crypto_b64_decode(int mode, const char *in, size_t inlen, unsigned char *out,
                             size_t *outlen);

/**
 * Encode `in` as base64url without padding (`url` = 1) or as padded standard base64
 * (`url` = 0) into `out` (capacity `*outlen`, (inlen + 2) / 3 * 4 is enough); no NUL
 * is written. Returns 0 or -ENOSPC.
 */
int tp_ffi_crypto_b64_encode(int url, const unsigned char *in, size_t inlen, char *out,
                             size_t *outlen);

/**
 * Parse the first "PUBLIC KEY" (SubjectPublicKeyInfo, RSA or EC) or "RSA PUBLIC KEY"
 * (PKCS#1) object in PEM text. Returns a key the caller frees with
 * tp_ffi_crypto_key_free(), or NULL with the reason written to `err` (NUL-terminated,
 * truncated to `errlen`).
 */
tp_crypto_key_t *tp_ffi_crypto_key_from_pem(const char *pem, size_t len, char *err,
                                            size_t errlen);

/** Same for a DER SubjectPublicKeyInfo or PKCS#1 RSAPublicKey. */
tp_crypto_key_t *tp_ffi_crypto_key_from_der(const unsigned char *der, size_t len, char *err,
                                            size_t errlen);

/**
 * Build a key from JWK members given as base64url text: for kty TP_CRYPTO_KEY_RSA,
 * `a` = n and `b` = e (crv ignored); for TP_CRYPTO_KEY_EC, crv is 256, 384 or 521
 * and `a` = x, `b` = y. Returns a key or NULL with `err` filled.
 */
tp_crypto_key_t *tp_ffi_crypto_key_from_jwk(int kty, int crv, const char *a, size_t alen,
                                            const char *b, size_t blen, char *err,
                                            size_t errlen);

/** TP_CRYPTO_KEY_RSA or TP_CRYPTO_KEY_EC. */
int tp_ffi_crypto_key_type(const tp_crypto_key_t *key);

/** RSA modulus size in bits, or the curve size (256, 384, 521) of an EC key. */
int tp_ffi_crypto_key_bits(const tp_crypto_key_t *key);

/** Free a key (NULL is fine). */
void tp_ffi_crypto_key_free(tp_crypto_key_t *key);

/**
 * Verify the JWS signature `sig` of `msg` with `key` under `alg` (TP_CRYPTO_RS256..
 * TP_CRYPTO_ES512). PS* use EMSA-PSS with MGF1 on the same hash and a salt as long as
 * the hash (RFC 7518 section 3.5); ES* take the raw r||s form (section 3.4).
 * Returns 1 valid, 0 invalid, -EINVAL when alg is unknown or does not fit the key
 * (RSA alg with an EC key, ES256 with a P-384 key, ...).
 */
int tp_ffi_crypto_verify(const tp_crypto_key_t *key, int alg, const char *msg, size_t mlen,
                         const char *sig, size_t slen);

#endif
