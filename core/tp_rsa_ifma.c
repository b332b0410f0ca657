/*
 * tp_rsa_ifma.c - the AVX-512 IFMA path of the RSA public operation (see tp_rsa.h): Montgomery
 * multiplication on 52-bit digits in zmm registers (VPMADD52LUQ/HUQ), the key in that radix,
 * and the CPU/OS check that lets tp_rsa_pub_init pick it. The only code of the gateway compiled
 * for AVX-512 (function attributes; everything else keeps the default target). The exponentiation
 * itself (tp_rsa__pow_e) and the 64-bit-limb paths live in tp_rsa.c.
 */
#include "tp_rsa_int.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>

/*
 * AVX-512 F, VL and IFMA: CPUID leaf 7, EBX bits 16, 31 and 21. The OS must also save the
 * opmask and ZMM registers across context switches, which a VM may leave off: OSXSAVE (leaf 1,
 * ECX bit 27), then XCR0 bits 1 and 2 (SSE and AVX state), 5, 6 and 7 (opmask, upper halves of
 * ZMM0-15, ZMM16-31).
 */
int tp_rsa__cpu_has_ifma(void)
{
    unsigned eax, ebx, ecx, edx, xcr0, xcr0_hi;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx >> 27 & 1))
        return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    if (!(ebx >> 16 & 1) || !(ebx >> 21 & 1) || !(ebx >> 31 & 1))
        return 0;
    __asm__("xgetbv" : "=a"(xcr0), "=d"(xcr0_hi) : "c"(0));
    return (xcr0 & 0xe6) == 0xe6;
}



/*
 * Only the functions marked IFMA_FN are compiled for AVX-512; they run only on keys whose path
 * tp_rsa_pub_init set to TP_RSA_IFMA, after checking the CPU and the OS.
 */
#define IFMA_FN __attribute__((target("avx512f,avx512vl,avx512ifma")))
#define IFMA_INLINE static inline __attribute__((always_inline)) IFMA_FN

#define DIGIT_MASK ((UINT64_C(1) << 52) - 1)
#define MAX_VECS (TP_RSA_MAX_DIGITS / 8)

/*
 * Digit layout: a number is D = 8 V little-endian digits of 52 bits, one per 64-bit lane, in
 * V zmm vectors (digit 8 v + j in lane j of vector v). D is fixed per key, the least with
 * 2^(52 D) >= 4n (amm52 needs that). VPMADD52LUQ and VPMADD52HUQ multiply the low 52 bits
 * of two lanes and add the low or the high 52 bits of the 104-bit product to a third: a lane's
 * 12 spare bits absorb 2^12 such additions, so sums of products are taken lane by lane with
 * no carries, which are propagated once at the end (normalize). A digit is normalised when
 * below 2^52, as every input to a multiplication must be.
 *
 * Per key this needs n in digits, -n^-1 mod 2^52 and R^2 mod n for R = 2^(52 D). Each size
 * V = 1 .. MAX_VECS (zmm: measured 1.4x faster than 2 V ymm vectors for 2048 bits) has its own
 * copy of amm52 so that its arrays of vectors, indexed by constants once unrolled, are
 * registers.
 */

/* the low 52 bits of a b, and the high ones (a, b < 2^52) */
static inline uint64_t lo52(uint64_t a, uint64_t b)
{
    return (a * b) & DIGIT_MASK;
}

static inline uint64_t hi52(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 52);
}

/*
 * Carry normalisation: acc holds the D digits of a number below 2^(52 D), each lane below
 * 2^64; rewrite it with every lane below 2^52. Step one moves each lane's bits above 52 up one
 * lane (lane j becomes (lane j mod 2^52) + (lane j-1 >> 52)), leaving every lane below
 * 2^52 + 2^12: each now carries at most 1. Which lanes receive a carry is then worked out with
 * the lanes as bits of two masks, as in a binary addition: g = lanes >= 2^52 (carry out
 * whatever comes in), p = lanes == 2^52 - 1 (carry out only if one comes in); the lanes
 * receiving one are ((g << 1) + p) ^ p, each 1 of g << 1 rippling up through a run of p.
 */
IFMA_INLINE void normalize(__m512i *acc, const int V)
{
    const __m512i mask = _mm512_set1_epi64((long long)DIGIT_MASK), zero = _mm512_setzero_si512();
    __m512i hi[MAX_VECS];
    unsigned __int128 g = 0, p = 0, in;

#pragma GCC unroll 16
    for (int v = 0; v < V; v++)
        hi[v] = _mm512_srli_epi64(acc[v], 52);
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) {
        __m512i up = _mm512_alignr_epi64(hi[v], v > 0 ? hi[v - 1] : zero, 7);
        acc[v] = _mm512_add_epi64(_mm512_and_si512(acc[v], mask), up);
        g |= (unsigned __int128)_mm512_cmpgt_epu64_mask(acc[v], mask) << (8 * v);
        p |= (unsigned __int128)_mm512_cmpeq_epu64_mask(acc[v], mask) << (8 * v);
    }
    in = ((g << 1) + p) ^ p;
#pragma GCC unroll 16
    for (int v = 0; v < V; v++) {
        __m512i one = _mm512_maskz_set1_epi64((__mmask8)(in >> (8 * v)), 1);
        acc[v] = _mm512_and_si512(_mm512_add_epi64(acc[v], one), mask);
    }
}

/*
 * r = a b / R mod n give or take n ("almost" Montgomery multiplication): for a, b < 2n the
 * result is below (4 n^2 + R n) / R < 2n, as R >= 4n, so it goes into the next one as it is.
 * a, b and r are D normalised digits; r may alias a or b.
 *
 * Step i adds a_i b and m n to the running sum, with m = -t n^-1 mod 2^52 for its lowest digit
 * t, which makes that digit 0 mod 2^52; the vectors then move down one lane, dropping it, and
 * its carry, (t + (m n_0 mod 2^52)) / 2^52 = t / 2^52 rounded up, goes on in a scalar. A
 * product x y_j goes in as two halves, the low one into lane j and the high one into lane
 * j + 1: B1 and N1 are b and n moved up one lane, so their top digit spills into an extra
 * vector, B1[V] and N1[V], whose products gather in lane 0 of `top`.
 *
 * The chain from one m to the next is what limits the speed, so it stays out of the vectors:
 * the next lowest digit is lane 1 taken before m n goes in, plus m n's share of it (the high
 * half of m n_0, the low half of m n_1) from scalar multiplications; the vectors catch up
 * behind. A lane takes at most 4 D < 2^9 halves of products, so it stays below 2^61.
 */
IFMA_INLINE void amm52(uint64_t *r, const uint64_t *a, const uint64_t *b, const tp_rsa_pub_t *k,
                       const int V)
{
    const __m512i zero = _mm512_setzero_si512();
    const uint64_t *n = k->n52;
    const size_t D = 8 * (size_t)V;
    __m512i acc[MAX_VECS], B[MAX_VECS], B1[MAX_VECS + 1], N[MAX_VECS], N1[MAX_VECS + 1];

#pragma GCC unroll 16
    for (int v = 0; v < V; v++) {
        acc[v] = zero;
        B[v] = _mm512_loadu_si512(b + 8 * v);
        N[v] = _mm512_loadu_si512(n + 8 * v);
    }
#pragma GCC unroll 16
    for (int v = 0; v <= V; v++) {
        B1[v] = _mm512_alignr_epi64(v < V ? B[v] : zero, v > 0 ? B[v - 1] : zero, 7);
        N1[v] = _mm512_alignr_epi64(v < V ? N[v] : zero, v > 0 ? N[v - 1] : zero, 7);
    }

    uint64_t t = lo52(a[0], b[0]), carry = 0; /* t: the whole lowest digit, a_i b_0 included */
    for (size_t i = 0; i < D; i++) {
        __m512i ai = _mm512_set1_epi64((long long)a[i]);
        uint64_t next_ab = i + 1 < D ? lo52(a[i + 1], b[0]) : 0;
#pragma GCC unroll 16
        for (int v = 0; v < V; v++)
            acc[v] = _mm512_add_epi64(
                acc[v], _mm512_madd52hi_epu64(_mm512_madd52lo_epu64(zero, ai, B[v]), ai, B1[v]));
        __m512i top = _mm512_madd52hi_epu64(zero, ai, B1[V]);
        uint64_t lane1 = (uint64_t)_mm_extract_epi64(_mm512_castsi512_si128(acc[0]), 1);

        uint64_t m = lo52(t, k->n0inv52);
        __m512i mi = _mm512_set1_epi64((long long)m);
        carry = (t >> 52) + ((t & DIGIT_MASK) != 0);
        t = lane1 + carry + hi52(m, n[0]) + lo52(m, n[1]) + next_ab;
        /* m n: both halves side by side (this is on the way to the next lane 1) */
#pragma GCC unroll 16
        for (int v = 0; v < V; v++)
            acc[v] =
                _mm512_add_epi64(_mm512_add_epi64(acc[v], _mm512_madd52lo_epu64(zero, mi, N[v])),
                                 _mm512_madd52hi_epu64(zero, mi, N1[v]));
        top = _mm512_madd52hi_epu64(top, mi, N1[V]);
#pragma GCC unroll 16
        for (int v = 0; v < V; v++)
            acc[v] = _mm512_alignr_epi64(v + 1 < V ? acc[v + 1] : top, acc[v], 1);
    }
    acc[0] = _mm512_mask_add_epi64(acc[0], 1, acc[0], _mm512_set1_epi64((long long)carry));
    normalize(acc, V);
#pragma GCC unroll 16
    for (int v = 0; v < V; v++)
        _mm512_storeu_si512(r + 8 * v, acc[v]);
}

/* one copy of amm52 per size: amm52_by_vecs[V - 1] works on 8 V digits */
#define AMM52_SIZE(V)                                                                              \
    static IFMA_FN void amm52_##V(uint64_t *r, const uint64_t *a, const uint64_t *b,               \
                                  const tp_rsa_pub_t *k)                                           \
    {                                                                                              \
        amm52(r, a, b, k, V);                                                                      \
    }
AMM52_SIZE(1)
AMM52_SIZE(2)
AMM52_SIZE(3)
AMM52_SIZE(4)
AMM52_SIZE(5)
AMM52_SIZE(6)
AMM52_SIZE(7)
AMM52_SIZE(8)
AMM52_SIZE(9)
AMM52_SIZE(10)

static tp_rsa_mont_fn *const amm52_by_vecs[MAX_VECS] = {amm52_1, amm52_2, amm52_3, amm52_4, amm52_5,
                                                 amm52_6, amm52_7, amm52_8, amm52_9, amm52_10};

/* out = in (len limbs) as D digits, in < 2^(52 D): digit j is bits 52 j to 52 j + 51, from one
 * limb or two */
static void digits_from_limbs(uint64_t *out, size_t D, const uint64_t *in, size_t len)
{
    for (size_t j = 0; j < D; j++) {
        size_t q = 52 * j / 64, s = 52 * j % 64;
        uint64_t d = q < len ? in[q] >> s : 0;
        if (s > 12 && q + 1 < len)
            d |= in[q + 1] << (64 - s);
        out[j] = d & DIGIT_MASK;
    }
}

/* out = in (D digits below 2^52) as len limbs, in < 2^(64 len): limb i is bits 64 i to
 * 64 i + 63, from two digits or three */
static void limbs_from_digits(uint64_t *out, size_t len, const uint64_t *in, size_t D)
{
    for (size_t i = 0; i < len; i++) {
        size_t j = 64 * i / 52, s = 64 * i % 52;
        uint64_t w = j < D ? in[j] >> s : 0;
        if (j + 1 < D)
            w |= in[j + 1] << (52 - s);
        if (s > 40 && j + 2 < D)
            w |= in[j + 2] << (104 - s);
        out[i] = w;
    }
}

/*
 * The key in radix 2^52: D is the least multiple of 8 with 2^(52 D) >= 4n, as amm52 needs, and
 * R^2 mod n for R = 2^(52 D) comes from doubling, on from the limbs' 2^(128 L) mod n when that
 * is the lower power (as for the usual sizes), else from 1.
 */
void tp_rsa__ifma_setup(tp_rsa_pub_t *k)
{
    size_t L = k->limbs, bits = 64 * L - (size_t)__builtin_clzll(k->n[L - 1]);
    size_t D = 8 * ((bits + 2 + 8 * 52 - 1) / (8 * 52));
    uint64_t rr[TP_RSA_MAX_LIMBS] = {1};

    k->digits = D;
    digits_from_limbs(k->n52, D, k->n, L);
    k->n0inv52 = k->n0inv & DIGIT_MASK;
    if (104 * D >= 128 * L) {
        memcpy(rr, k->rr, L * sizeof(rr[0]));
        tp_rsa__double_mod_times(rr, 104 * D - 128 * L, k);
    } else {
        tp_rsa__double_mod_times(rr, 104 * D, k);
    }
    digits_from_limbs(k->rr52, D, rr, L);
}

/* a -= b over D digits, for a >= b (a digit that goes below zero has its top bit set) */
static void digits_sub(uint64_t *a, const uint64_t *b, size_t D)
{
    uint64_t borrow = 0;
    for (size_t j = 0; j < D; j++) {
        uint64_t d = a[j] - b[j] - borrow;
        a[j] = d & DIGIT_MASK;
        borrow = d >> 63;
    }
}

/*
 * v = v^e mod n (v < n, L limbs) through radix 2^52. AMM leaves x^e mod n, or that plus n:
 * one subtraction, in digits (where n + n fits, unlike in L limbs), ends it.
 */
void tp_rsa__public_ifma(const tp_rsa_pub_t *k, uint64_t *v)
{
    uint64_t x[TP_RSA_MAX_DIGITS], xm[TP_RSA_MAX_DIGITS], acc[TP_RSA_MAX_DIGITS];
    size_t D = k->digits;
    tp_rsa_mont_fn *amm = amm52_by_vecs[D / 8 - 1];

    digits_from_limbs(x, D, v, k->limbs);
    amm(xm, x, k->rr52, k); /* x R (+ n) */
    tp_rsa__pow_e(acc, x, xm, D, k, amm, amm);
    if (tp_rsa__geq(acc, k->n52, D))
        digits_sub(acc, k->n52, D);
    limbs_from_digits(v, k->limbs, acc, D);
}

#else /* not x86-64: tp_rsa_pub_init never picks IFMA */
int tp_rsa__cpu_has_ifma(void)
{
    return 0;
}
void tp_rsa__ifma_setup(tp_rsa_pub_t *k)
{
    (void)k;
}

void tp_rsa__public_ifma(const tp_rsa_pub_t *k, uint64_t *v)
{
    (void)k;
    (void)v;
}
#endif
