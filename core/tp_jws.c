/*
 * tp_jws.c - splits a compact JWS into its decoded parts in one call (see tp_jws.h).
 * The base64url decoding is tp_crypto's strict one, so a part is accepted here exactly
 * when turnpike.ffi.crypto.b64url_decode accepts it.
 */
#include "tp_jws.h"

#include "tp_crypto.h"

#include <errno.h>
#include <string.h>

/* Decode one base64url part into buf + *used; advances *used. 0, -1 invalid, -2 no room. */
static int decode_part(const char *p, size_t n, unsigned char *buf, size_t cap, size_t *used,
                       size_t *decoded)
{
    size_t room = cap - *used;
    int rc = tp_ffi_crypto_b64_decode(TP_CRYPTO_B64_URL, p, n, buf + *used, &room);
    if (rc != 0)
        return rc == -ENOSPC ? -2 : -1;
    *decoded = room;
    *used += room;
    return 0;
}

/* the first '.' in [from, end), or NULL */
static const char *dot_from(const char *from, const char *end)
{
    return memchr(from, '.', (size_t)(end - from));
}

int tp_ffi_jws_split(const char *tok, size_t len, unsigned char *buf, size_t cap,
                     tp_jws_parts_t *out)
{
    const char *end = tok + len;
    const char *dot1 = dot_from(tok, end);
    const char *dot2 = dot1 ? dot_from(dot1 + 1, end) : NULL;
    if (dot2 == NULL || dot_from(dot2 + 1, end) != NULL)
        return -1; /* not exactly three parts */
    size_t h_len = (size_t)(dot1 - tok), p_len = (size_t)(dot2 - dot1 - 1);
    if (h_len == 0 || p_len == 0)
        return -1;

    size_t used = 0;
    int rc = decode_part(tok, h_len, buf, cap, &used, &out->header_len);
    if (rc == 0)
        rc = decode_part(dot1 + 1, p_len, buf, cap, &used, &out->payload_len);
    if (rc == 0)
        rc = decode_part(dot2 + 1, (size_t)(end - dot2 - 1), buf, cap, &used, &out->sig_len);
    if (rc != 0)
        return rc;
    out->signing_len = (size_t)(dot2 - tok);
    return 0;
}
