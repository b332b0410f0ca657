/*
 * tp_crypto.c - digests, HMAC, base64 and JWS signature verification over BearSSL,
 * plus the public-key parsers (PEM via tp_pem, DER with the small bounded walker below, JWK
 * components).
 *
 * RSA signatures (PKCS #1 v1.5 and PSS, RFC 8017 sections 9.2 and 9.1.2) are checked here
 * on top of the public-key operation of tp_rsa.c, which is about ten times faster than
 * BearSSL's constant-time one for public exponents (BearSSL 0.6 has no PSS verifier anyway).
 */
#include "tp_crypto.h"
#include "tp_pem.h"
#include "tp_rsa.h"
#include "tp_sha256.h"
#include "tp_util.h"

#include <bearssl.h>
#include <stdio.h>

struct tp_crypto_key_s {
    int type; /* TP_CRYPTO_KEY_* */
    int bits; /* RSA modulus bits, or curve size */
    br_rsa_public_key rsa;
    tp_rsa_pub_t rsa_pub; /* rsa, ready for tp_rsa_public */
    br_ec_public_key ec;
    unsigned char data[]; /* n then e, or the uncompressed EC point */
};

/* A view into DER bytes; the walker only ever shrinks it. */
typedef struct {
    const unsigned char *p;
    size_t n;
} der_t;

/* Largest DER public key taken from PEM (RSA-4096 SPKI is ~550 bytes). */
#define PEM_KEY_MAX 4096

static const unsigned char OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char OID_EC[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char OID_P521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

/* ---- hashes ---------------------------------------------------------------- */

static const br_hash_class *hash_class(int alg, size_t *hlen)
{
    switch (alg) {
    case 256:
        *hlen = 32;
        return tp_sha256_vtable(); /* SHA-NI when the CPU has it */
    case 384:
        *hlen = 48;
        return &br_sha384_vtable;
    case 512:
        *hlen = 64;
        return &br_sha512_vtable;
    }
    return NULL;
}

static void hash_buf(const br_hash_class *hc, const void *p, size_t n, unsigned char *out)
{
    br_hash_compat_context hc_ctx;

    hc->init(&hc_ctx.vtable);
    hc->update(&hc_ctx.vtable, p, n);
    hc->out(&hc_ctx.vtable, out);
}

int tp_ffi_crypto_digest(int alg, const char *msg, size_t mlen, unsigned char *out,
                         size_t *outlen)
{
    size_t hlen;
    const br_hash_class *hc = hash_class(alg, &hlen);

    if (hc == NULL)
        return -EINVAL;
    if (*outlen < hlen)
        return -ENOSPC;
    hash_buf(hc, msg, mlen, out);
    *outlen = hlen;
    return 0;
}

int tp_ffi_crypto_hmac(int alg, const char *key, size_t klen, const char *msg, size_t mlen,
                       unsigned char *out, size_t *outlen)
{
    size_t hlen;
    const br_hash_class *hc = hash_class(alg, &hlen);
    br_hmac_key_context kc;
    br_hmac_context ctx;

    if (hc == NULL)
        return -EINVAL;
    if (*outlen < hlen)
        return -ENOSPC;
    br_hmac_key_init(&kc, hc, key, klen);
    br_hmac_init(&ctx, &kc, 0);
    br_hmac_update(&ctx, msg, mlen);
    *outlen = br_hmac_out(&ctx, out);
    return 0;
}

int tp_ffi_crypto_ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char acc = 0;

    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        acc |= (unsigned char)(a[i] ^ b[i]);
    return acc == 0;
}

/* ---- base64 ---------------------------------------------------------------- */

static int b64_value(unsigned char c, int mode)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (mode != TP_CRYPTO_B64_STD && (c == '-' || c == '_'))
        return c == '-' ? 62 : 63;
    if (mode != TP_CRYPTO_B64_URL && (c == '+' || c == '/'))
        return c == '+' ? 62 : 63;
    return -1;
}

/* b64_value for every byte, one table per mode (built on first use): a lookup instead of
 * branches that mispredict on every other character of a signature */
static const signed char *b64_table(int mode)
{
    static signed char tables[3][256];
    static int built;
    if (!built) {
        for (int m = 0; m < 3; m++)
            for (int c = 0; c < 256; c++)
                tables[m][c] = (signed char)b64_value((unsigned char)c, m);
        built = 1;
    }
    return tables[mode];
}

int tp_ffi_crypto_b64_decode(int mode, const char *in, size_t inlen, unsigned char *out,
                             size_t *outlen)
{
    size_t pads = 0, rem, need, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    const signed char *table;

    if (mode < 0 || mode > 2)
        return -EINVAL;
    table = b64_table(mode);

    /* RFC 7515 section 2: base64url in JWS is unpadded; the other modes allow "=". */
    if (mode != TP_CRYPTO_B64_URL)
        while (pads < 2 && inlen > 0 && in[inlen - 1] == '=') {
            inlen--;
            pads++;
        }
    rem = inlen % 4;
    if (rem == 1 || (pads > 0 && (inlen + pads) % 4 != 0))
        return -EINVAL;
    need = inlen / 4 * 3 + (rem ? rem - 1 : 0);
    if (need > *outlen)
        return -ENOSPC;
    for (size_t i = 0; i < inlen; i++) {
        int v = table[(unsigned char)in[i]];
        if (v < 0)
            return -EINVAL;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* Leftover bits must be zero so that one byte string has one encoding. */
    if (mode != TP_CRYPTO_B64_LENIENT && (acc & ((1u << bits) - 1)) != 0)
        return -EINVAL;
    *outlen = o;
    return 0;
}

int tp_ffi_crypto_b64_encode(int url, const unsigned char *in, size_t inlen, char *out,
                             size_t *outlen)
{
    const char *alpha = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                            : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t full = inlen / 3, rem = inlen % 3;
    size_t need = full * 4 + (rem ? (url ? rem + 1 : 4) : 0), o = 0;

    if (need > *outlen)
        return -ENOSPC;
    for (size_t i = 0; i < full * 3; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (rem) {
        uint32_t v = (uint32_t)in[full * 3] << 16;
        if (rem == 2)
            v |= (uint32_t)in[full * 3 + 1] << 8;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        if (rem == 2)
            out[o++] = alpha[(v >> 6) & 63];
        while (!url && o < need)
            out[o++] = '=';
    }
    *outlen = o;
    return 0;
}

/* ---- key construction ------------------------------------------------------ */

static int bitlen(const unsigned char *p, size_t n)
{
    int top = 0;

    if (n == 0)
        return 0;
    for (unsigned char c = p[0]; c; c >>= 1)
        top++;
    return (int)(n - 1) * 8 + top;
}

static void strip_zeros(const unsigned char **p, size_t *n)
{
    while (*n > 0 && (*p)[0] == 0) {
        (*p)++;
        (*n)--;
    }
}

static tp_crypto_key_t *rsa_key_new(const unsigned char *n, size_t nlen, const unsigned char *e,
                                    size_t elen, char *err, size_t errlen)
{
    tp_crypto_key_t *key;

    strip_zeros(&n, &nlen);
    strip_zeros(&e, &elen);
    if (nlen == 0 || nlen > TP_CRYPTO_RSA_MAX_BYTES) {
        set_err(err, errlen, "RSA modulus size not supported");
        return NULL;
    }
    if (bitlen(n, nlen) < TP_CRYPTO_RSA_MIN_BITS || (n[nlen - 1] & 1) == 0) {
        set_err(err, errlen, "RSA modulus too small or even");
        return NULL;
    }
    /* e must be odd and > 1; more than 8 bytes is never seen in practice. */
    if (elen == 0 || elen > 8 || (e[elen - 1] & 1) == 0 || (elen == 1 && e[0] < 3)) {
        set_err(err, errlen, "invalid RSA public exponent");
        return NULL;
    }
    key = tp_calloc(1, sizeof(*key) + nlen + elen);
    key->type = TP_CRYPTO_KEY_RSA;
    key->bits = bitlen(n, nlen);
    memcpy(key->data, n, nlen);
    memcpy(key->data + nlen, e, elen);
    key->rsa.n = key->data;
    key->rsa.nlen = nlen;
    key->rsa.e = key->data + nlen;
    key->rsa.elen = elen;
    if (tp_rsa_pub_init(&key->rsa_pub, n, nlen, e, elen) < 0) {
        free(key);
        set_err(err, errlen, "RSA key not supported");
        return NULL;
    }
    return key;
}

static size_t curve_field_len(int curve)
{
    switch (curve) {
    case BR_EC_secp256r1:
        return 32;
    case BR_EC_secp384r1:
        return 48;
    case BR_EC_secp521r1:
        return 66;
    }
    return 0;
}

static int curve_bits(int curve)
{
    return curve == BR_EC_secp256r1 ? 256 : curve == BR_EC_secp384r1 ? 384 : 521;
}

/* `q` is an uncompressed point (0x04 || X || Y); it is checked to lie on the curve
 * by multiplying it by 1, which BearSSL refuses for an invalid point. */
static tp_crypto_key_t *ec_key_new(int curve, const unsigned char *q, size_t qlen, char *err,
                                   size_t errlen)
{
    static const unsigned char one[] = {1};
    unsigned char tmp[1 + 2 * 66];
    size_t flen = curve_field_len(curve);
    const br_ec_impl *ec = br_ec_get_default();
    tp_crypto_key_t *key;

    if (flen == 0) {
        set_err(err, errlen, "unsupported EC curve");
        return NULL;
    }
    if (qlen == 0 || q[0] != 0x04) {
        set_err(err, errlen, "EC point must be uncompressed");
        return NULL;
    }
    if (qlen != 1 + 2 * flen) {
        set_err(err, errlen, "EC point has the wrong length for its curve");
        return NULL;
    }
    memcpy(tmp, q, qlen);
    if (!ec->mul(tmp, qlen, one, sizeof(one), curve)) {
        set_err(err, errlen, "EC point is not on the curve");
        return NULL;
    }
    key = tp_calloc(1, sizeof(*key) + qlen);
    key->type = TP_CRYPTO_KEY_EC;
    key->bits = curve_bits(curve);
    memcpy(key->data, q, qlen);
    key->ec.curve = curve;
    key->ec.q = key->data;
    key->ec.qlen = qlen;
    return key;
}

/* ---- DER ------------------------------------------------------------------- */

/* Take one TLV with tag `tag` off the front of `d`; `val` gets its contents. Only
 * single-byte tags and definite lengths up to 4 bytes exist in the keys we read. */
static int der_take(der_t *d, unsigned char tag, der_t *val)
{
    size_t len, hdr = 2;

    if (d->n < 2 || d->p[0] != tag)
        return -1;
    len = d->p[1];
    if (len & 0x80) {
        size_t k = len & 0x7f;
        if (k == 0 || k > 4 || d->n - 2 < k)
            return -1;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = (len << 8) | d->p[2 + i];
        if (len < 0x80)
            return -1; /* DER: the short form was required */
        hdr += k;
    }
    if (len > d->n - hdr)
        return -1;
    val->p = d->p + hdr;
    val->n = len;
    d->p += hdr + len;
    d->n -= hdr + len;
    return 0;
}

/* A non-negative INTEGER's magnitude (leading zeros kept; rsa_key_new strips them). */
static int der_uint(der_t *d, der_t *val)
{
    if (der_take(d, 0x02, val) < 0 || val->n == 0 || (val->p[0] & 0x80))
        return -1;
    return 0;
}

static int oid_is(const der_t *oid, const unsigned char *want, size_t wlen)
{
    return oid->n == wlen && memcmp(oid->p, want, wlen) == 0;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1) */
static tp_crypto_key_t *parse_pkcs1(der_t d, char *err, size_t errlen)
{
    der_t seq, n, e;

    if (der_take(&d, 0x30, &seq) < 0 || d.n != 0 || der_uint(&seq, &n) < 0 ||
        der_uint(&seq, &e) < 0 || seq.n != 0) {
        set_err(err, errlen, "malformed RSA public key");
        return NULL;
    }
    return rsa_key_new(n.p, n.n, e.p, e.n, err, errlen);
}

/* SubjectPublicKeyInfo (RFC 5280 4.1) with rsaEncryption (RFC 3279) or id-ecPublicKey
 * and a named curve (RFC 5480); the BIT STRING must have no unused bits. */
static tp_crypto_key_t *parse_spki(der_t d, char *err, size_t errlen)
{
    der_t spki, algid, oid, bits, params;

    if (der_take(&d, 0x30, &spki) < 0 || d.n != 0 || der_take(&spki, 0x30, &algid) < 0 ||
        der_take(&spki, 0x03, &bits) < 0 || spki.n != 0 || der_take(&algid, 0x06, &oid) < 0 ||
        bits.n < 1 || bits.p[0] != 0) {
        set_err(err, errlen, "malformed SubjectPublicKeyInfo");
        return NULL;
    }
    bits.p++;
    bits.n--;
    if (oid_is(&oid, OID_RSA, sizeof(OID_RSA))) {
        /* parameters: NULL, or absent as some encoders write */
        if (algid.n != 0 && (der_take(&algid, 0x05, &params) < 0 || params.n != 0 || algid.n)) {
            set_err(err, errlen, "malformed RSA algorithm parameters");
            return NULL;
        }
        return parse_pkcs1(bits, err, errlen);
    }
    if (oid_is(&oid, OID_EC, sizeof(OID_EC))) {
        int curve = 0;
        if (der_take(&algid, 0x06, &params) < 0 || algid.n != 0) {
            set_err(err, errlen, "EC key without a named curve");
            return NULL;
        }
        if (oid_is(&params, OID_P256, sizeof(OID_P256)))
            curve = BR_EC_secp256r1;
        else if (oid_is(&params, OID_P384, sizeof(OID_P384)))
            curve = BR_EC_secp384r1;
        else if (oid_is(&params, OID_P521, sizeof(OID_P521)))
            curve = BR_EC_secp521r1;
        return ec_key_new(curve, bits.p, bits.n, err, errlen);
    }
    set_err(err, errlen, "unsupported public key algorithm");
    return NULL;
}

tp_crypto_key_t *tp_ffi_crypto_key_from_der(const unsigned char *der, size_t len, char *err,
                                            size_t errlen)
{
    der_t d = {der, len}, seq, first;

    /* SPKI starts SEQUENCE { SEQUENCE ...; PKCS#1 starts SEQUENCE { INTEGER ... */
    if (der_take(&d, 0x30, &seq) < 0 || seq.n == 0) {
        set_err(err, errlen, "not a DER public key");
        return NULL;
    }
    d.p = der;
    d.n = len;
    if (seq.p[0] == 0x30 && der_take(&seq, 0x30, &first) == 0)
        return parse_spki(d, err, errlen);
    return parse_pkcs1(d, err, errlen);
}

/* ---- PEM ------------------------------------------------------------------- */

/* 1 for "PUBLIC KEY", 2 for "RSA PUBLIC KEY", 0 for objects we skip. */
static int pem_kind(const char *name)
{
    if (strcmp(name, "PUBLIC KEY") == 0)
        return 1;
    if (strcmp(name, "RSA PUBLIC KEY") == 0)
        return 2;
    return 0;
}

/* The first PUBLIC KEY (SPKI) or RSA PUBLIC KEY (PKCS #1) object of a PEM text. */
tp_crypto_key_t *tp_ffi_crypto_key_from_pem(const char *pem, size_t len, char *err,
                                            size_t errlen)
{
    tp_pem_list_t l;
    tp_crypto_key_t *key = NULL;

    if (tp_pem_decode(pem, len, &l) < 0) {
        set_err(err, errlen, "invalid PEM encoding (or no object in it)");
        return NULL;
    }
    set_err(err, errlen, "no PUBLIC KEY or RSA PUBLIC KEY object in PEM");
    for (int i = 0; i < l.n; i++) {
        int kind = pem_kind(l.objs[i].name);
        if (!kind)
            continue;
        if (l.objs[i].len > PEM_KEY_MAX) {
            set_err(err, errlen, "PEM key too large");
            break;
        }
        der_t d = {l.objs[i].data, l.objs[i].len};
        key = kind == 1 ? parse_spki(d, err, errlen) : parse_pkcs1(d, err, errlen);
        break;
    }
    tp_pem_free(&l);
    return key;
}

/* ---- JWK ------------------------------------------------------------------- */

/* Decode a base64url JWK member into `out` (capacity `cap`). */
static int jwk_member(const char *s, size_t slen, unsigned char *out, size_t cap, size_t *outlen)
{
    *outlen = cap;
    if (slen == 0 || tp_ffi_crypto_b64_decode(TP_CRYPTO_B64_URL, s, slen, out, outlen) < 0)
        return -1;
    return 0;
}

tp_crypto_key_t *tp_ffi_crypto_key_from_jwk(int kty, int crv, const char *a, size_t alen,
                                            const char *b, size_t blen, char *err,
                                            size_t errlen)
{
    unsigned char abuf[TP_CRYPTO_RSA_MAX_BYTES + 1], bbuf[66], q[1 + 2 * 66];
    size_t an, bn, flen;
    int curve;

    if (kty == TP_CRYPTO_KEY_RSA) {
        if (jwk_member(a, alen, abuf, sizeof(abuf), &an) < 0 ||
            jwk_member(b, blen, bbuf, sizeof(bbuf), &bn) < 0) {
            set_err(err, errlen, "invalid JWK RSA member n or e");
            return NULL;
        }
        return rsa_key_new(abuf, an, bbuf, bn, err, errlen);
    }
    if (kty != TP_CRYPTO_KEY_EC) {
        set_err(err, errlen, "unsupported JWK kty");
        return NULL;
    }
    curve = crv == 256 ? BR_EC_secp256r1 : crv == 384 ? BR_EC_secp384r1
                                         : crv == 521 ? BR_EC_secp521r1 : 0;
    flen = curve_field_len(curve);
    if (flen == 0) {
        set_err(err, errlen, "unsupported JWK crv");
        return NULL;
    }
    /* RFC 7518 6.2.1.2: x and y are exactly the field size, leading zeros kept. */
    if (jwk_member(a, alen, abuf, sizeof(abuf), &an) < 0 || an != flen ||
        jwk_member(b, blen, bbuf, sizeof(bbuf), &bn) < 0 || bn != flen) {
        set_err(err, errlen, "invalid JWK EC member x or y");
        return NULL;
    }
    q[0] = 0x04;
    memcpy(q + 1, abuf, flen);
    memcpy(q + 1 + flen, bbuf, flen);
    return ec_key_new(curve, q, 1 + 2 * flen, err, errlen);
}

int tp_ffi_crypto_key_type(const tp_crypto_key_t *key)
{
    return key->type;
}

int tp_ffi_crypto_key_bits(const tp_crypto_key_t *key)
{
    return key->bits;
}

void tp_ffi_crypto_key_free(tp_crypto_key_t *key)
{
    free(key);
}

/* ---- verification ---------------------------------------------------------- */

static void mgf1_xor(const br_hash_class *hc, size_t hlen, const unsigned char *seed,
                     unsigned char *out, size_t outlen)
{
    unsigned char t[TP_CRYPTO_MAX_DIGEST];
    br_hash_compat_context ctx;

    for (uint32_t c = 0, off = 0; off < outlen; c++) {
        unsigned char cnt[4] = {c >> 24, c >> 16, c >> 8, c};
        hc->init(&ctx.vtable);
        hc->update(&ctx.vtable, seed, hlen);
        hc->update(&ctx.vtable, cnt, sizeof(cnt));
        hc->out(&ctx.vtable, t);
        for (size_t i = 0; i < hlen && off < outlen; i++)
            out[off++] ^= t[i];
    }
}

/* EMSA-PSS-VERIFY (RFC 8017 9.1.2) with sLen = hLen as RFC 7518 3.5 requires. */
static int verify_pss(const tp_crypto_key_t *key, const br_hash_class *hc, size_t hlen,
                      const unsigned char *mhash, const char *sig, size_t slen)
{
    unsigned char buf[TP_CRYPTO_RSA_MAX_BYTES], mprime[8 + 2 * TP_CRYPTO_MAX_DIGEST];
    unsigned char hh[TP_CRYPTO_MAX_DIGEST];
    size_t k = key->rsa.nlen, embits = (size_t)key->bits - 1, emlen = (embits + 7) / 8;
    size_t dblen, ps, zbits = 8 * emlen - embits;
    unsigned char *em = buf, *db, *h;

    if (slen != k)
        return 0;
    memcpy(buf, sig, k);
    if (!tp_rsa_public(&key->rsa_pub, buf, k))
        return 0;
    if (emlen < k) { /* modBits - 1 is a multiple of 8: the top octet must be zero */
        if (buf[0] != 0)
            return 0;
        em++;
    }
    if (emlen < 2 * hlen + 2 || em[emlen - 1] != 0xbc)
        return 0;
    dblen = emlen - hlen - 1;
    db = em;
    h = em + dblen;
    if (zbits && (db[0] & (0xff << (8 - zbits)) & 0xff))
        return 0;
    mgf1_xor(hc, hlen, h, db, dblen);
    if (zbits)
        db[0] &= 0xff >> zbits;
    ps = dblen - hlen - 1;
    for (size_t i = 0; i < ps; i++)
        if (db[i] != 0)
            return 0;
    if (db[ps] != 0x01)
        return 0;
    memset(mprime, 0, 8);
    memcpy(mprime + 8, mhash, hlen);
    memcpy(mprime + 8 + hlen, db + ps + 1, hlen);
    hash_buf(hc, mprime, 8 + 2 * hlen, hh);
    return tp_ffi_crypto_ct_equal((const char *)hh, hlen, (const char *)h, hlen);
}

/* DER DigestInfo prefixes (RFC 8017 section 9.2, note 1): SEQUENCE { AlgorithmIdentifier
 * { OID, NULL }, OCTET STRING (hlen) }, and the same without the NULL parameters, which some
 * signers leave out. The last octet of the OID names the hash (1, 2, 3: SHA-256/384/512). */
static size_t digest_info(unsigned char *out, int bits, size_t hlen, int with_null)
{
    static const unsigned char oid_sha2[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                             0x65, 0x03, 0x04, 0x02};
    size_t n = 0, alg_len = sizeof(oid_sha2) + 1 + (with_null ? 2 : 0);
    out[n++] = 0x30;
    out[n++] = (unsigned char)(2 + alg_len + 2 + hlen);
    out[n++] = 0x30;
    out[n++] = (unsigned char)alg_len;
    memcpy(out + n, oid_sha2, sizeof(oid_sha2));
    n += sizeof(oid_sha2);
    out[n++] = bits == 256 ? 1 : bits == 384 ? 2 : 3;
    if (with_null) {
        out[n++] = 0x05;
        out[n++] = 0x00;
    }
    out[n++] = 0x04;
    out[n++] = (unsigned char)hlen;
    return n;
}

/* EMSA-PKCS1-v1_5 (RFC 8017 section 9.2) for the digest: 00 01 FF..FF 00 DigestInfo H, into
 * em (k bytes); 0 when k is too short for it */
static int pkcs1_encode(unsigned char *em, size_t k, int bits, const unsigned char *mhash,
                        size_t hlen, int with_null)
{
    unsigned char info[32];
    size_t ilen = digest_info(info, bits, hlen, with_null), tlen = ilen + hlen;
    if (k < tlen + 11)
        return 0;
    em[0] = 0x00;
    em[1] = 0x01;
    memset(em + 2, 0xff, k - tlen - 3);
    em[k - tlen - 1] = 0x00;
    memcpy(em + k - tlen, info, ilen);
    memcpy(em + k - hlen, mhash, hlen);
    return 1;
}

/* RSASSA-PKCS1-V1_5-VERIFY: the signature, raised to e, must equal the encoding of the
 * digest (compared whole, as RFC 8017 recommends, rather than parsed) */
static int verify_pkcs1(const tp_crypto_key_t *key, int bits, size_t hlen,
                        const unsigned char *mhash, const char *sig, size_t slen)
{
    unsigned char em[TP_CRYPTO_RSA_MAX_BYTES], want[TP_CRYPTO_RSA_MAX_BYTES];
    size_t k = key->rsa.nlen;

    if (slen != k)
        return 0;
    memcpy(em, sig, k);
    if (!tp_rsa_public(&key->rsa_pub, em, k))
        return 0;
    for (int with_null = 1; with_null >= 0; with_null--) {
        if (pkcs1_encode(want, k, bits, mhash, hlen, with_null) &&
            tp_ffi_crypto_ct_equal((const char *)em, k, (const char *)want, k))
            return 1;
    }
    return 0;
}

int tp_ffi_crypto_verify(const tp_crypto_key_t *key, int alg, const char *msg, size_t mlen,
                         const char *sig, size_t slen)
{
    static const int alg_bits[] = {256, 384, 512};
    unsigned char mhash[TP_CRYPTO_MAX_DIGEST];
    const br_hash_class *hc;
    size_t hlen = 0;
    int bits;

    if (key == NULL || alg < TP_CRYPTO_RS256 || alg > TP_CRYPTO_ES512)
        return -EINVAL;
    bits = alg_bits[(alg - 1) % 3];
    hc = hash_class(bits, &hlen);
    if (alg >= TP_CRYPTO_ES256) {
        /* ES256 is P-256, ES384 is P-384, ES512 is P-521 (RFC 7518 3.4). */
        int want = bits == 512 ? 521 : bits;
        if (key->type != TP_CRYPTO_KEY_EC || key->bits != want)
            return -EINVAL;
    } else if (key->type != TP_CRYPTO_KEY_RSA) {
        return -EINVAL;
    }
    hash_buf(hc, msg, mlen, mhash);
    if (alg <= TP_CRYPTO_RS512)
        return verify_pkcs1(key, bits, hlen, mhash, sig, slen);
    if (alg <= TP_CRYPTO_PS512)
        return verify_pss(key, hc, hlen, mhash, sig, slen);
    if (slen != 2 * curve_field_len(key->ec.curve))
        return 0;
    return br_ecdsa_vrfy_raw_get_default()(br_ec_get_default(), mhash, hlen, &key->ec, sig,
                                           slen) == 1;
}
