/*
 * tp_sha256.c - SHA-256 on the x86 SHA extensions, as a BearSSL hash class (see
 * tp_sha256.h).
 *
 * The hash state (a..h) lives in two registers the way sha256rnds2 wants it: ABEF holds
 * a, b, e, f and CDGH holds c, d, g, h (highest 32-bit lane first). One sha256rnds2 does
 * two rounds and returns the new ABEF; the old ABEF becomes the new CDGH, so the two
 * registers swap roles every two rounds. The message schedule (FIPS 180-4 section 6.2.2
 * step 1) is computed four words at a time with sha256msg1 (the sigma0 half) and
 * sha256msg2 (the sigma1 half, which depends on the words just produced).
 *
 * Only the functions that execute SHA or SSE4.1 instructions are compiled for that
 * target; everything else in the file keeps the build's default flags, and no SHA-NI code
 * runs unless the CPU probe said yes. Buffering, padding and the BearSSL glue are plain C.
 */
#include "tp_sha256.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)

#include <cpuid.h>
#include <immintrin.h>

#define SHA_NI __attribute__((target("sha,sse4.1")))

/* The context behind the vtable pointer; BearSSL callers allocate a br_hash_compat_context. */
typedef struct {
    const br_hash_class *vtable; /* first member: BearSSL passes &ctx->vtable around */
    uint32_t h[8];               /* chaining value, a..h */
    uint64_t count;              /* bytes hashed so far */
    unsigned char buf[64];       /* the partial block: count % 64 bytes */
} sha_ctx_t;

_Static_assert(sizeof(sha_ctx_t) <= sizeof(br_hash_compat_context),
               "sha_ctx_t must fit where BearSSL keeps any hash context");

/* Round constants (FIPS 180-4 section 4.2.2); 16-aligned for whole-register loads. */
static const _Alignas(16) uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

/* Initial hash value (FIPS 180-4 section 5.3.3). */
static const uint32_t IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

/* ---- the SHA-NI compression function --------------------------------------- */

/* h[0..7] = a..h into ABEF = (a, b, e, f) and CDGH = (c, d, g, h), highest lane first. */
static inline SHA_NI void load_state(const uint32_t h[8], __m128i *abef, __m128i *cdgh)
{
    __m128i badc = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0xb1);
    __m128i hgfe = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(h + 4)), 0x1b);

    *abef = _mm_alignr_epi8(badc, hgfe, 8);
    *cdgh = _mm_blend_epi16(hgfe, badc, 0xf0);
}

/* The inverse of load_state. */
static inline SHA_NI void store_state(uint32_t h[8], __m128i abef, __m128i cdgh)
{
    __m128i feba = _mm_shuffle_epi32(abef, 0x1b);
    __m128i dcgh = _mm_shuffle_epi32(cdgh, 0xb1);

    _mm_storeu_si128((__m128i *)h, _mm_blend_epi16(feba, dcgh, 0xf0));
    _mm_storeu_si128((__m128i *)(h + 4), _mm_alignr_epi8(dcgh, feba, 8));
}

/* Rounds 4g .. 4g+3 with message words w = W[4g .. 4g+3]. */
static inline SHA_NI void rounds4(__m128i *abef, __m128i *cdgh, __m128i w, int g)
{
    __m128i wk = _mm_add_epi32(w, _mm_load_si128((const __m128i *)&K[4 * g]));
    __m128i mid = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);

    /* the old ABEF is the CDGH of the next two rounds, which take wk's upper lanes */
    *cdgh = mid;
    *abef = _mm_sha256rnds2_epu32(*abef, mid, _mm_shuffle_epi32(wk, 0x0e));
}

/* W[t .. t+3] from w0 = W[t-16 .. t-13], w1, w2 and w3 = W[t-4 .. t-1]. */
static inline SHA_NI __m128i next_words(__m128i w0, __m128i w1, __m128i w2, __m128i w3)
{
    __m128i t = _mm_sha256msg1_epu32(w0, w1); /* W[t-16] + sigma0(W[t-15]), ... */

    t = _mm_add_epi32(t, _mm_alignr_epi8(w3, w2, 4)); /* + W[t-7 .. t-4] */
    return _mm_sha256msg2_epu32(t, w3);               /* + sigma1(W[t-2]), ... */
}

static SHA_NI void compress(uint32_t h[8], const unsigned char *p, size_t blocks)
{
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    __m128i abef, cdgh;

    load_state(h, &abef, &cdgh);
    for (; blocks > 0; blocks--, p += 64) {
        __m128i abef0 = abef, cdgh0 = cdgh;
        __m128i w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)p), bswap);
        __m128i w1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), bswap);
        __m128i w2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), bswap);
        __m128i w3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), bswap);

        /* Words for group g + 4 are made while group g runs, off the rounds' critical path. */
        for (int g = 0; g < 16; g++) {
            __m128i w4 = g < 12 ? next_words(w0, w1, w2, w3) : w3;

            rounds4(&abef, &cdgh, w0, g);
            w0 = w1;
            w1 = w2;
            w2 = w3;
            w3 = w4;
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    store_state(h, abef, cdgh);
}

/* ---- the br_hash_class around it (plain C) ---------------------------------- */

static const br_hash_class sha_ni_class; /* defined at the end; init() points contexts at it */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* init() also stores the vtable pointer: br_hmac_init relies on it, as on BearSSL's. */
static void sha_init(const br_hash_class **vt)
{
    sha_ctx_t *c = (sha_ctx_t *)vt;

    c->vtable = &sha_ni_class;
    memcpy(c->h, IV, sizeof(c->h));
    c->count = 0;
}

static void sha_update(const br_hash_class **vt, const void *data, size_t len)
{
    sha_ctx_t *c = (sha_ctx_t *)vt;
    const unsigned char *p = data;
    size_t used = (size_t)(c->count & 63);

    if (len == 0)
        return;
    c->count += len;
    if (used > 0) {
        size_t take = len < 64 - used ? len : 64 - used;

        memcpy(c->buf + used, p, take);
        p += take;
        len -= take;
        if (used + take < 64)
            return;
        compress(c->h, c->buf, 1);
    }
    if (len >= 64) {
        compress(c->h, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
    }
    if (len > 0)
        memcpy(c->buf, p, len);
}

/* Pads a copy (FIPS 180-4 section 5.1.1): the context stays usable, as BearSSL's does. */
static void sha_out(const br_hash_class *const *vt, void *dst)
{
    const sha_ctx_t *c = (const sha_ctx_t *)vt;
    size_t used = (size_t)(c->count & 63);
    size_t n = used < 56 ? 64 : 128;
    uint64_t bits = c->count << 3;
    unsigned char pad[128];
    uint32_t h[8];

    memcpy(h, c->h, sizeof(h));
    memcpy(pad, c->buf, used);
    pad[used] = 0x80;
    memset(pad + used + 1, 0, n - used - 1);
    put_be32(pad + n - 8, (uint32_t)(bits >> 32));
    put_be32(pad + n - 4, (uint32_t)bits);
    compress(h, pad, n / 64);
    for (int i = 0; i < 8; i++)
        put_be32((unsigned char *)dst + 4 * i, h[i]);
}

/* As br_sha256_state: the chaining value big-endian, and the byte count. */
static uint64_t sha_state(const br_hash_class *const *vt, void *dst)
{
    const sha_ctx_t *c = (const sha_ctx_t *)vt;

    for (int i = 0; i < 8; i++)
        put_be32((unsigned char *)dst + 4 * i, c->h[i]);
    return c->count;
}

/* As br_sha256_set_state: `count` should be a multiple of 64 (HMAC passes the block size). */
static void sha_set_state(const br_hash_class **vt, const void *stb, uint64_t count)
{
    sha_ctx_t *c = (sha_ctx_t *)vt;

    for (int i = 0; i < 8; i++)
        c->h[i] = get_be32((const unsigned char *)stb + 4 * i);
    c->count = count;
}

/* desc is br_sha256_vtable.desc spelled out (br_hmac reads the sizes from it);
 * test_sha256.c checks the two are equal. */
static const br_hash_class sha_ni_class = {
    sizeof(sha_ctx_t),
    BR_HASHDESC_ID(br_sha256_ID) | BR_HASHDESC_OUT(32) | BR_HASHDESC_STATE(32) |
        BR_HASHDESC_LBLEN(6) | BR_HASHDESC_MD_PADDING | BR_HASHDESC_MD_PADDING_BE,
    sha_init,
    sha_update,
    sha_out,
    sha_state,
    sha_set_state,
};

/* cpuid directly: clang 14 rejects __builtin_cpu_supports("sha"). SSSE3 (pshufb, palignr)
 * and SSE4.1 (pblendw) are checked too, though every SHA-NI CPU so far has both. */
static int cpu_has_sha_ni(void)
{
    unsigned a, b, c, d;

    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return 0;
    return (b & bit_SHA) != 0;
}

/* The probe's answer, cached per process because cpuid traps to the hypervisor in a VM:
 * 0 = not probed yet, 1 = no SHA-NI, 2 = SHA-NI. Threads that race here store the same
 * value; the relaxed atomics only keep that race defined. */
static int ni_probe;

const br_hash_class *tp_sha256_ni_vtable(void)
{
    int v = __atomic_load_n(&ni_probe, __ATOMIC_RELAXED);

    if (v == 0) {
        v = cpu_has_sha_ni() ? 2 : 1;
        __atomic_store_n(&ni_probe, v, __ATOMIC_RELAXED);
    }
    return v == 2 ? &sha_ni_class : NULL;
}

#else /* not x86: BearSSL's portable SHA-256 only */

const br_hash_class *tp_sha256_ni_vtable(void)
{
    return NULL;
}

#endif

const br_hash_class *tp_sha256_vtable(void)
{
    const br_hash_class *ni = tp_sha256_ni_vtable();

    return ni != NULL ? ni : &br_sha256_vtable;
}
