/*
 * test_sha256.c - tp_sha256: the SHA-NI class (when this CPU has it) and the BearSSL
 * fallback against br_sha256 for every length 0..1000 and some long ones, fed whole and in
 * irregular pieces; the FIPS 180-2 vectors; HMAC through br_hmac with the class (RFC 4231);
 * state()/set_state() against BearSSL's own; and the class description BearSSL reads.
 */
#include "tp_sha256.h"
#include "tp_test.h"

#include <stdint.h>
#include <string.h>

/* The classes under test: the SHA-NI one if present, and always BearSSL's fallback. */
static const br_hash_class *classes[2];
static int nclasses;

/* Test data: a fixed pseudo-random pattern, longer than any message below. */
static unsigned char data[(1 << 17) + 64];

static uint32_t lcg(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

static void fill_data(void)
{
    uint32_t seed = 42;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)lcg(&seed);
}

static void reference(const void *p, size_t n, unsigned char out[32])
{
    br_sha256_context ctx;

    br_sha256_init(&ctx);
    br_sha256_update(&ctx, p, n);
    br_sha256_out(&ctx, out);
}

static void digest(const br_hash_class *hc, const void *p, size_t n, unsigned char out[32])
{
    br_hash_compat_context ctx;

    hc->init(&ctx.vtable);
    hc->update(&ctx.vtable, p, n);
    hc->out(&ctx.vtable, out);
}

/* Feeds p in pieces of 0..199 bytes chosen by `seed`, so pieces straddle block edges. */
static void digest_pieces(const br_hash_class *hc, const unsigned char *p, size_t n, uint32_t seed,
                          unsigned char out[32])
{
    br_hash_compat_context ctx;

    hc->init(&ctx.vtable);
    while (n > 0) {
        size_t k = lcg(&seed) % 200;

        if (k > n)
            k = n;
        hc->update(&ctx.vtable, p, k);
        p += k;
        n -= k;
    }
    hc->out(&ctx.vtable, out);
}

static int matches(const br_hash_class *hc, size_t n, uint32_t seed)
{
    unsigned char want[32], whole[32], pieces[32];
    const unsigned char *p = data + seed % 16; /* vary the alignment too */

    reference(p, n, want);
    digest(hc, p, n, whole);
    digest_pieces(hc, p, n, seed, pieces);
    return memcmp(want, whole, 32) == 0 && memcmp(want, pieces, 32) == 0;
}

static void tohex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_class(void)
{
    const br_hash_class *ni = tp_sha256_ni_vtable();

    TP_CHECK(tp_sha256_vtable() == (ni != NULL ? ni : &br_sha256_vtable));
    if (ni == NULL) {
        printf("     (no SHA-NI on this CPU: only the BearSSL fallback is tested)\n");
        return;
    }
    /* br_hmac takes the block and output sizes from desc. */
    TP_CHECK(ni->desc == br_sha256_vtable.desc);
    TP_CHECK(ni->context_size <= sizeof(br_hash_compat_context));
    TP_CHECK(((ni->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK) == 32);
}

static void test_every_length(void)
{
    for (int c = 0; c < nclasses; c++) {
        int bad = 0;

        for (size_t n = 0; n <= 1000; n++)
            bad += !matches(classes[c], n, (uint32_t)n * 7 + 1);
        TP_CHECK(bad == 0);
    }
}

static void test_long(void)
{
    static const size_t lens[] = {4095, 4096, 4097, 65535, 65536, 65599, 100003, 1 << 17};

    for (int c = 0; c < nclasses; c++) {
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
            TP_CHECK(matches(classes[c], lens[i], (uint32_t)i + 3));
    }
}

static int fips_is(const br_hash_class *hc, const char *msg, const char *hex)
{
    unsigned char out[32];
    char h[65];

    digest(hc, msg, strlen(msg), out);
    tohex(out, 32, h);
    return strcmp(h, hex) == 0;
}

static void test_fips(void)
{
    for (int c = 0; c < nclasses; c++) {
        const br_hash_class *hc = classes[c];
        br_hash_compat_context ctx;
        unsigned char a[1000], out[32];
        char h[65];

        TP_CHECK(
            fips_is(hc, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        TP_CHECK(
            fips_is(hc, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        TP_CHECK(fips_is(hc, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
        memset(a, 'a', sizeof(a));
        hc->init(&ctx.vtable);
        for (int i = 0; i < 1000; i++)
            hc->update(&ctx.vtable, a, sizeof(a));
        hc->out(&ctx.vtable, out);
        tohex(out, 32, h);
        TP_CHECK(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") ==
                 0);
    }
}

static int hmac_is(const br_hash_class *hc, const void *key, size_t klen, const char *msg,
                   const char *hex)
{
    br_hmac_key_context kc;
    br_hmac_context ctx;
    unsigned char out[32];
    char h[65];

    br_hmac_key_init(&kc, hc, key, klen);
    br_hmac_init(&ctx, &kc, 0);
    br_hmac_update(&ctx, msg, strlen(msg));
    TP_CHECK(br_hmac_out(&ctx, out) == 32);
    tohex(out, 32, h);
    return strncmp(h, hex, strlen(hex)) == 0;
}

/* RFC 4231 section 4, test cases 1 to 7 (case 5 compares the 128-bit truncation). */
static void test_hmac_rfc4231(void)
{
    unsigned char k0b[20], kaa[131], k0c[20], kseq[25];
    char dd[51], cd[51];

    memset(k0b, 0x0b, sizeof(k0b));
    memset(kaa, 0xaa, sizeof(kaa));
    memset(k0c, 0x0c, sizeof(k0c));
    for (int i = 0; i < 25; i++)
        kseq[i] = (unsigned char)(i + 1);
    memset(dd, 0xdd, 50);
    dd[50] = '\0';
    memset(cd, 0xcd, 50);
    cd[50] = '\0';
    for (int c = 0; c < nclasses; c++) {
        const br_hash_class *hc = classes[c];

        TP_CHECK(hmac_is(hc, k0b, 20, "Hi There",
                         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
        TP_CHECK(hmac_is(hc, "Jefe", 4, "what do ya want for nothing?",
                         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
        TP_CHECK(hmac_is(hc, kaa, 20, dd,
                         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"));
        TP_CHECK(hmac_is(hc, kseq, 25, cd,
                         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"));
        TP_CHECK(hmac_is(hc, k0c, 20, "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"));
        TP_CHECK(hmac_is(hc, kaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
                         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
        TP_CHECK(hmac_is(hc, kaa, 131,
                         "This is a test using a larger than block-size key and a larger than "
                         "block-size data. The key needs to be hashed before being used by the "
                         "HMAC algorithm.",
                         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"));
    }
}

/*
 * state() must give what br_sha256_state gives (big-endian chaining value, byte count),
 * and set_state() must resume from it, from BearSSL's state and into BearSSL's.
 */
static void test_state(void)
{
    for (int c = 0; c < nclasses; c++) {
        const br_hash_class *hc = classes[c];
        br_hash_compat_context a, b;
        br_sha256_context ref;
        unsigned char st[32], ref_st[32], want[32], out[32], again[32];
        uint64_t count;

        reference(data, 320 + 77, want);
        br_sha256_init(&ref);
        br_sha256_update(&ref, data, 320);
        TP_CHECK(br_sha256_state(&ref, ref_st) == 320);

        hc->init(&a.vtable);
        hc->update(&a.vtable, data, 100);
        hc->update(&a.vtable, data + 100, 220);
        count = hc->state(&a.vtable, st);
        TP_CHECK(count == 320);
        TP_CHECK(memcmp(st, ref_st, 32) == 0);

        hc->init(&b.vtable); /* resume in a fresh context */
        hc->set_state(&b.vtable, st, count);
        hc->update(&b.vtable, data + 320, 77);
        hc->out(&b.vtable, out);
        TP_CHECK(memcmp(out, want, 32) == 0);
        hc->out(&b.vtable, again); /* out() leaves the context as it was */
        TP_CHECK(memcmp(again, want, 32) == 0);

        br_sha256_init(&ref); /* and BearSSL resumes from ours */
        br_sha256_set_state(&ref, st, count);
        br_sha256_update(&ref, data + 320, 77);
        br_sha256_out(&ref, out);
        TP_CHECK(memcmp(out, want, 32) == 0);
    }
}

int main(void)
{
    fill_data();
    if (tp_sha256_ni_vtable() != NULL)
        classes[nclasses++] = tp_sha256_ni_vtable();
    classes[nclasses++] = &br_sha256_vtable;
    TP_RUN(test_class);
    TP_RUN(test_every_length);
    TP_RUN(test_long);
    TP_RUN(test_fips);
    TP_RUN(test_hmac_rfc4231);
    TP_RUN(test_state);
    return TP_TEST_REPORT();
}
