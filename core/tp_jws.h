/*
 * tp_jws.h - one-call split of a compact JWS (RFC 7515 section 7.1) for turnpike.jwt:
 * header.payload.signature, each part base64url without padding. The three parts are
 * decoded into one caller buffer and the length of the signing input (header.payload,
 * a prefix of the token) is reported, so Lua makes no substring or concatenation of the
 * token. The token is untrusted input: every length is checked (core/fuzz/fuzz_jws.c).
 */
#ifndef TP_JWS_H
#define TP_JWS_H

#include <stddef.h>

/** Where the parts of a split token are: decoded header, payload and signature follow one
 *  another in the caller's buffer, in that order. */
typedef struct tp_jws_parts_s {
    size_t signing_len;  /* bytes of "header.payload" at the start of the token */
    size_t header_len;   /* decoded header (JSON text) at buf[0] */
    size_t payload_len;  /* decoded payload at buf[header_len] */
    size_t sig_len;      /* decoded signature at buf[header_len + payload_len] */
} tp_jws_parts_t;

/**
 * Split and decode `tok` (len bytes) into buf (cap bytes; cap >= len is always enough).
 * Returns 0; -1 when tok is not a compact JWS (not exactly three parts, an empty header or
 * payload, a byte outside the base64url alphabet, a length no encoding has, or non-zero
 * leftover bits); -2 when buf is too small. The signature part may be empty.
 */
int tp_ffi_jws_split(const char *tok, size_t len, unsigned char *buf, size_t cap,
                     tp_jws_parts_t *out);

#endif
