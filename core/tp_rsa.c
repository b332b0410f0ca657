/*
 * tp_rsa.c - the RSA public-key operation for signature verification (see tp_rsa.h):
 * x^e mod n by left-to-right square-and-multiply over Montgomery arithmetic. For e = 65537
 * that is one conversion into Montgomery form, 16 squarings and one product, against a full
 * constant-time window exponentiation in BearSSL. Only public values pass through here;
 * nothing needs to be constant-time.
 *
 * The arithmetic comes in three paths, one picked per key by tp_rsa_pub_init (tp_rsa_path_t):
 * AVX-512 IFMA where the CPU and OS have it, else MULX/ADX, else portable C. The file owns:
 *  - two row primitives on 64-bit limbs, the only code of those two paths that touches carries
 *    limb by limb: addmul_row (t += a * b for one limb a, returning the limb carried out) and
 *    sqr_diag (t = 2 t plus the squares of the limbs). Each has a portable C version and an
 *    x86-64 one in inline assembly that uses MULX and the two independent carry flags of ADCX
 *    (CF) and ADOX (OF).
 *  - Montgomery multiplication, squaring and reduction written once over those rows
 *    (separated operand scanning: the double-width product first, then the reduction).
 *  - key setup, the byte conversions and the exponentiation (tp_rsa__pow_e, which the IFMA
 *    path of tp_rsa_ifma.c drives with its own multiplication on 52-bit digits).
 */
#include "tp_rsa_int.h"

#include <string.h>

/* ---- portable rows ---- */

/* t[0..len-1] += a * b[0..len-1]; returns the limb carried out (the sum fits in len + 1 limbs) */
static uint64_t addmul_row_c(uint64_t *t, const uint64_t *b, size_t len, uint64_t a)
{
    uint64_t carry = 0;
    for (size_t j = 0; j < len; j++) {
        unsigned __int128 p = (unsigned __int128)a * b[j] + t[j] + carry;
        t[j] = (uint64_t)p;
        carry = (uint64_t)(p >> 64);
    }
    return carry;
}

/* t[0..2 len-1] = 2 t + the sum of a_i^2 2^(128 i), when that fits in 2 len limbs (squaring:
 * t holds the off-diagonal products a_i a_j, i < j, and the result is a^2) */
static void sqr_diag_c(uint64_t *t, const uint64_t *a, size_t len)
{
    uint64_t shifted_out = 0, carry = 0;
    for (size_t i = 0; i < len; i++) {
        uint64_t t0 = t[2 * i], t1 = t[2 * i + 1];
        unsigned __int128 sq = (unsigned __int128)a[i] * a[i], s;
        s = (unsigned __int128)((t0 << 1) | shifted_out) + (uint64_t)sq + carry;
        t[2 * i] = (uint64_t)s;
        s = (unsigned __int128)((t1 << 1) | (t0 >> 63)) + (uint64_t)(sq >> 64) +
            (uint64_t)(s >> 64);
        t[2 * i + 1] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
        shifted_out = t1 >> 63;
    }
}

/* ---- x86-64: CPU features, and rows in MULX, ADCX, ADOX ---- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

/* BMI2 (MULX) and ADX (ADCX, ADOX): CPUID leaf 7, EBX bits 8 and 19. */
static int cpu_has_adx(void)
{
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return 0;
    return (ebx >> 8 & 1) && (ebx >> 19 & 1);
}

/*
 * One limb of addmul_row_adx: MULX puts a * b[j] into (hi_j, lo_j) without touching the flags;
 * lo_j joins t[j] on the CF chain (ADCX) and hi_(j-1), the high half of the previous product,
 * joins it on the OF chain (ADOX). The two chains never mix, so they run side by side, one
 * limb per step each. hi_in and hi_out alternate between two registers.
 */
#define ADDMUL_LIMB(off, hi_out, hi_in)                                                            \
    "mulx " #off "(%[b]), %[lo], %[" #hi_out "]\n\t"                                               \
    "adcx " #off "(%[t]), %[lo]\n\t"                                                               \
    "adox %[" #hi_in "], %[lo]\n\t"                                                                \
    "mov %[lo], " #off "(%[t])\n\t"

/*
 * Fold both pending carries into hi (CF = OF = 0 after): the zero in lo plus CF, then plus OF.
 * Done where the sum so far is known to fit, so neither addition overflows.
 */
#define CLOSE_CHAINS(hi)                                                                           \
    "mov $0, %k[lo]\n\t"                                                                           \
    "adcx %[lo], %[" #hi "]\n\t"                                                                   \
    "adox %[lo], %[" #hi "]\n\t"

/*
 * addmul_row_c with the carry chains above. The len % 8 leading limbs go in steps of one, two
 * and four, each chosen by TEST, which clears CF and OF: so the chains are closed before each
 * test (the partial row fits in one limb more than it covers). The rest goes in blocks of
 * eight, whose loop control must leave CF and OF alone, hence LEA for the counter and pointers
 * and JRCXZ for the test.
 */
static uint64_t addmul_row_adx(uint64_t *t, const uint64_t *b, size_t len, uint64_t a)
{
    uint64_t lo, hi0, hi1;
    size_t blocks = len >> 3;

    /* clang-format off */
    __asm__ volatile("xor %k[hi1], %k[hi1]\n\t" /* no previous high half; CF = OF = 0 */
                     "test $1, %[len]\n\t"      /* one limb */
                     "jz 1f\n\t"
                     ADDMUL_LIMB(0, hi0, hi1)
                     CLOSE_CHAINS(hi0)
                     "mov %[hi0], %[hi1]\n\t"
                     "lea 8(%[t]), %[t]\n\t"
                     "lea 8(%[b]), %[b]\n"
                     "1:\n\t"
                     "test $2, %[len]\n\t" /* two */
                     "jz 2f\n\t"
                     ADDMUL_LIMB(0, hi0, hi1)
                     ADDMUL_LIMB(8, hi1, hi0)
                     CLOSE_CHAINS(hi1)
                     "lea 16(%[t]), %[t]\n\t"
                     "lea 16(%[b]), %[b]\n"
                     "2:\n\t"
                     "test $4, %[len]\n\t" /* four: no TEST follows, no need to close */
                     "jz 3f\n\t"
                     ADDMUL_LIMB(0, hi0, hi1)
                     ADDMUL_LIMB(8, hi1, hi0)
                     ADDMUL_LIMB(16, hi0, hi1)
                     ADDMUL_LIMB(24, hi1, hi0)
                     "lea 32(%[t]), %[t]\n\t"
                     "lea 32(%[b]), %[b]\n"
                     "3:\n\t"
                     "jmp 5f\n"
                     "4:\n\t" /* blocks of eight */
                     ADDMUL_LIMB(0, hi0, hi1)
                     ADDMUL_LIMB(8, hi1, hi0)
                     ADDMUL_LIMB(16, hi0, hi1)
                     ADDMUL_LIMB(24, hi1, hi0)
                     ADDMUL_LIMB(32, hi0, hi1)
                     ADDMUL_LIMB(40, hi1, hi0)
                     ADDMUL_LIMB(48, hi0, hi1)
                     ADDMUL_LIMB(56, hi1, hi0)
                     "lea 64(%[t]), %[t]\n\t"
                     "lea 64(%[b]), %[b]\n\t"
                     "lea -1(%%rcx), %%rcx\n"
                     "5:\n\t"
                     "jrcxz 6f\n\t"
                     "jmp 4b\n"
                     "6:\n\t"
                     CLOSE_CHAINS(hi1)
                     : [t] "+r"(t), [b] "+r"(b), [lo] "=&r"(lo), [hi0] "=&r"(hi0),
                       [hi1] "=&r"(hi1), "+c"(blocks)
                     : [len] "r"(len), "d"(a)
                     : "cc", "memory");
    /* clang-format on */
    return hi1;
}

/*
 * sqr_diag_c with the carry chains: per limb, ADCX doubles t[2i] and t[2i+1] (x + x + CF is
 * a one-bit shift carried along the CF chain) and ADOX adds the square's halves on the OF
 * chain. The loop control leaves the flags alone, as in addmul_row_adx.
 */
static void sqr_diag_adx(uint64_t *t, const uint64_t *a, size_t len)
{
    uint64_t lo, hi, t0, t1;

    /* clang-format off */
    __asm__ volatile("xor %k[lo], %k[lo]\n\t" /* CF = OF = 0 */
                     "jmp 2f\n"
                     "1:\n\t"
                     "mov (%[a]), %%rdx\n\t"
                     "mulx %%rdx, %[lo], %[hi]\n\t"
                     "mov (%[t]), %[t0]\n\t"
                     "mov 8(%[t]), %[t1]\n\t"
                     "adcx %[t0], %[t0]\n\t"
                     "adox %[lo], %[t0]\n\t"
                     "adcx %[t1], %[t1]\n\t"
                     "adox %[hi], %[t1]\n\t"
                     "mov %[t0], (%[t])\n\t"
                     "mov %[t1], 8(%[t])\n\t"
                     "lea 8(%[a]), %[a]\n\t"
                     "lea 16(%[t]), %[t]\n\t"
                     "lea -1(%%rcx), %%rcx\n"
                     "2:\n\t"
                     "jrcxz 3f\n\t"
                     "jmp 1b\n"
                     "3:\n\t"
                     : [t] "+r"(t), [a] "+r"(a),
                       "+c"(len), [lo] "=&r"(lo), [hi] "=&r"(hi), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     :
                     : "rdx", "cc", "memory");
    /* clang-format on */
}

#else /* not x86-64: tp_rsa_pub_init picks the portable path */
static int cpu_has_adx(void)
{
    return 0;
}
#define addmul_row_adx addmul_row_c
#define sqr_diag_adx sqr_diag_c
#endif

/* ---- Montgomery arithmetic over the rows ---- */

static uint64_t addmul_row(const tp_rsa_pub_t *k, uint64_t *t, const uint64_t *b, size_t len,
                           uint64_t a)
{
    return k->path == TP_RSA_ADX ? addmul_row_adx(t, b, len, a) : addmul_row_c(t, b, len, a);
}

static void sqr_diag(const tp_rsa_pub_t *k, uint64_t *t, const uint64_t *a, size_t len)
{
    if (k->path == TP_RSA_ADX)
        sqr_diag_adx(t, a, len);
    else
        sqr_diag_c(t, a, len);
}

/* a >= b over n limbs (or digits) */
int tp_rsa__geq(const uint64_t *a, const uint64_t *b, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (a[i] != b[i])
            return a[i] > b[i];
    }
    return 1;
}

/* out = a - b over n limbs (the borrow out is dropped); out may alias a */
static void sub_to(uint64_t *out, const uint64_t *a, const uint64_t *b, size_t n)
{
    uint64_t borrow = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned __int128 d = (unsigned __int128)a[i] - b[i] - borrow;
        out[i] = (uint64_t)d;
        borrow = (uint64_t)(d >> 64) & 1;
    }
}

/*
 * out = t / R mod n, for t < n R in 2 L limbs (t is clobbered). Row i adds m n 2^(64 i) with
 * m chosen to clear limb i; the row's carry limb lands on limb i + L, and what that carries
 * further (one bit) is kept in `top` for the next row instead of being rippled up. What is left,
 * (t + M n) / R < 2n, takes one subtraction at most.
 */
static void redc(uint64_t *out, uint64_t *t, const tp_rsa_pub_t *k)
{
    size_t L = k->limbs;
    uint64_t top = 0;
    for (size_t i = 0; i < L; i++) {
        uint64_t h = addmul_row(k, t + i, k->n, L, t[i] * k->n0inv);
        unsigned __int128 s = (unsigned __int128)t[i + L] + h + top;
        t[i + L] = (uint64_t)s;
        top = (uint64_t)(s >> 64);
    }
    if (top != 0 || tp_rsa__geq(t + L, k->n, L))
        sub_to(out, t + L, k->n, L);
    else
        memcpy(out, t + L, L * sizeof(t[0]));
}

/* out = a * b / R mod n, for a, b < n. out may alias a or b. */
static void montmul(uint64_t *out, const uint64_t *a, const uint64_t *b, const tp_rsa_pub_t *k)
{
    size_t L = k->limbs;
    uint64_t t[2 * TP_RSA_MAX_LIMBS];
    memset(t, 0, L * sizeof(t[0]));
    for (size_t i = 0; i < L; i++)
        t[i + L] = addmul_row(k, t + i, b, L, a[i]);
    redc(out, t, k);
}

/*
 * out = a^2 / R mod n, for a < n. Row i adds the products a_i a_j, j > i, once each (about
 * half the multiplications of montmul's product); sqr_diag doubles them and adds the squares.
 * out may alias a.
 */
static void montsqr(uint64_t *out, const uint64_t *a, const tp_rsa_pub_t *k)
{
    size_t L = k->limbs;
    uint64_t t[2 * TP_RSA_MAX_LIMBS];
    memset(t, 0, L * sizeof(t[0])); /* row 0 adds into t[1..L-1] */
    t[2 * L - 1] = 0;               /* no row reaches the top limb */
    for (size_t i = 0; i + 1 < L; i++)
        t[i + L] = addmul_row(k, t + 2 * i + 1, a + i + 1, L - 1 - i, a[i]);
    sqr_diag(k, t, a, L);
    redc(out, t, k);
}

/* ---- keys, bytes, exponentiation ---- */

/* x = 2x mod n, for x < n */
static void double_mod(uint64_t *x, const tp_rsa_pub_t *k)
{
    size_t L = k->limbs;
    uint64_t top = x[L - 1] >> 63;
    for (size_t i = L; i-- > 1;)
        x[i] = (x[i] << 1) | (x[i - 1] >> 63);
    x[0] <<= 1;
    if (top || tp_rsa__geq(x, k->n, L))
        sub_to(x, x, k->n, L);
}

/* x = x 2^count mod n, for x < n */
void tp_rsa__double_mod_times(uint64_t *x, size_t count, const tp_rsa_pub_t *k)
{
    for (size_t i = 0; i < count; i++)
        double_mod(x, k);
}

/* the 8 bytes at p as a big-endian number, and back (compilers make each one load or store
 * and a byte swap) */
static uint64_t load_be64(const unsigned char *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | p[7];
}

static void store_be64(unsigned char *p, uint64_t w)
{
    p[0] = (unsigned char)(w >> 56);
    p[1] = (unsigned char)(w >> 48);
    p[2] = (unsigned char)(w >> 40);
    p[3] = (unsigned char)(w >> 32);
    p[4] = (unsigned char)(w >> 24);
    p[5] = (unsigned char)(w >> 16);
    p[6] = (unsigned char)(w >> 8);
    p[7] = (unsigned char)w;
}

/* little-endian limbs from big-endian bytes: whole limbs from the end, then the leading bytes
 * of a partial top limb */
static void limbs_from_be(uint64_t *out, size_t limbs, const unsigned char *p, size_t len)
{
    size_t i = 0;
    memset(out, 0, limbs * sizeof(out[0]));
    for (; 8 * i + 8 <= len; i++)
        out[i] = load_be64(p + len - 8 * i - 8);
    for (size_t j = 8 * i; j < len; j++) /* byte j, counted from the least significant */
        out[i] |= (uint64_t)p[len - 1 - j] << (8 * (j - 8 * i));
}

static void limbs_to_be(unsigned char *p, size_t len, const uint64_t *in)
{
    size_t i = 0;
    for (; 8 * i + 8 <= len; i++)
        store_be64(p + len - 8 * i - 8, in[i]);
    for (size_t j = 8 * i; j < len; j++)
        p[len - 1 - j] = (unsigned char)(in[i] >> (8 * (j - 8 * i)));
}

static void montsqr_as_mul(uint64_t *out, const uint64_t *a, const uint64_t *b,
                           const tp_rsa_pub_t *k)
{
    (void)b; /* = a */
    montsqr(out, a, k);
}

/*
 * acc = x^e, for e > 1, given xm = x R: square-and-multiply in Montgomery form (acc = x^j R),
 * except for the last multiplication: e is odd, so its last bit always asks for one, and
 * taking x itself there instead of x R gives (x^(e-1) R) x / R = x^e, out of Montgomery form
 * without a conversion. len is the length of the numbers in limbs or digits.
 */
void tp_rsa__pow_e(uint64_t *acc, const uint64_t *x, const uint64_t *xm, size_t len,
                   const tp_rsa_pub_t *k, tp_rsa_mont_fn *mul, tp_rsa_mont_fn *sqr)
{
    int top = 63;
    while (!((k->e >> top) & 1))
        top--;
    memcpy(acc, xm, len * sizeof(acc[0]));
    for (int bit = top - 1; bit >= 0; bit--) {
        sqr(acc, acc, acc, k);
        if ((k->e >> bit) & 1)
            mul(acc, acc, bit == 0 ? x : xm, k);
    }
}

/* v = v^e mod n in 64-bit limbs, on the portable or the ADX rows */
static void public_limbs(const tp_rsa_pub_t *k, uint64_t *v)
{
    uint64_t xm[TP_RSA_MAX_LIMBS], acc[TP_RSA_MAX_LIMBS];
    montmul(xm, v, k->rr, k); /* x R mod n */
    tp_rsa__pow_e(acc, v, xm, k->limbs, k, montmul, montsqr_as_mul);
    memcpy(v, acc, k->limbs * sizeof(v[0]));
}

/* ---- keys and the public operation ---- */

int tp_rsa_path_supported(tp_rsa_path_t path)
{
    switch (path) {
    case TP_RSA_PORTABLE:
        return 1;
    case TP_RSA_ADX:
        return cpu_has_adx();
    case TP_RSA_IFMA:
        return tp_rsa__cpu_has_ifma();
    }
    return 0;
}

int tp_rsa_pub_init(tp_rsa_pub_t *k, const unsigned char *n, size_t nlen, const unsigned char *e,
                    size_t elen)
{
    while (nlen > 0 && n[0] == 0) {
        n++;
        nlen--;
    }
    while (elen > 0 && e[0] == 0) {
        e++;
        elen--;
    }
    if (nlen == 0 || nlen > TP_RSA_MAX_LIMBS * 8 || (n[nlen - 1] & 1) == 0 || elen == 0 ||
        elen > 8 || (e[elen - 1] & 1) == 0)
        return -1;
    memset(k, 0, sizeof(*k));
    k->nlen = nlen;
    k->limbs = (nlen + 7) / 8;
    limbs_from_be(k->n, k->limbs, n, nlen);
    for (size_t i = 0; i < elen; i++)
        k->e = (k->e << 8) | e[i];
    if (k->limbs == 1 && k->n[0] < 3)
        return -1;

    /* -n^-1 mod 2^64 by Newton's iteration (n odd: n is its own inverse mod 8) */
    uint64_t inv = k->n[0];
    for (int i = 0; i < 5; i++)
        inv *= 2 - k->n[0] * inv;
    k->n0inv = (uint64_t)0 - inv;
    k->rr[0] = 1; /* R^2 mod n */
    tp_rsa__double_mod_times(k->rr, 2 * 64 * k->limbs, k);

    k->path = tp_rsa__cpu_has_ifma() ? TP_RSA_IFMA : cpu_has_adx() ? TP_RSA_ADX : TP_RSA_PORTABLE;
    if (k->path == TP_RSA_IFMA)
        tp_rsa__ifma_setup(k);
    return 0;
}

int tp_rsa_public(const tp_rsa_pub_t *k, unsigned char *x, size_t xlen)
{
    uint64_t v[TP_RSA_MAX_LIMBS];
    size_t L = k->limbs;

    if (L == 0 || xlen != k->nlen)
        return 0;
    limbs_from_be(v, L, x, xlen);
    if (tp_rsa__geq(v, k->n, L))
        return 0;
    if (k->e == 1) /* x is the answer */
        return 1;
    if (k->path == TP_RSA_IFMA)
        tp_rsa__public_ifma(k, v);
    else
        public_limbs(k, v);
    limbs_to_be(x, xlen, v);
    return 1;
}
