/*
 * test_jws.c - tp_ffi_jws_split: well-formed tokens split into the decoded parts and the
 * signing-input length; every malformed shape is refused (dots, empty parts, alphabet,
 * lengths, leftover bits, padding); a buffer too small is reported, never overrun; and for
 * random tokens the split agrees with decoding each part on its own.
 */
#include "tp_crypto.h"
#include "tp_jws.h"
#include "tp_test.h"

#include <stdlib.h>
#include <string.h>

static int split(const char *tok, unsigned char *buf, size_t cap, tp_jws_parts_t *p)
{
    return tp_ffi_jws_split(tok, strlen(tok), buf, cap, p);
}

static void test_well_formed(void)
{
    /* {"alg":"HS256"} . {"a":1} . "sig" */
    const char *tok = "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.c2ln";
    unsigned char buf[64];
    tp_jws_parts_t p;
    TP_CHECK(split(tok, buf, sizeof(buf), &p) == 0);
    TP_CHECK(p.signing_len == strlen("eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ"));
    TP_CHECK(p.header_len == 15 && memcmp(buf, "{\"alg\":\"HS256\"}", 15) == 0);
    TP_CHECK(p.payload_len == 7 && memcmp(buf + 15, "{\"a\":1}", 7) == 0);
    TP_CHECK(p.sig_len == 3 && memcmp(buf + 22, "sig", 3) == 0);

    /* an empty signature part is a shape the verifier refuses later, not here */
    TP_CHECK(split("eyJhIjoxfQ.eyJhIjoxfQ.", buf, sizeof(buf), &p) == 0);
    TP_CHECK(p.sig_len == 0 && p.signing_len == 21);
}

static void test_malformed(void)
{
    static const char *bad[] = {
        "",                          /* nothing */
        "eyJhIjoxfQ",                /* one part */
        "eyJhIjoxfQ.eyJhIjoxfQ",     /* two parts */
        "eyJhIjoxfQ.eyJhIjoxfQ.c2ln.c2ln", /* four parts */
        ".eyJhIjoxfQ.c2ln",          /* empty header */
        "eyJhIjoxfQ..c2ln",          /* empty payload */
        "..",                        /* all empty */
        "eyJhIjoxfQ.eyJhIjoxfQ.c2l=", /* padding */
        "eyJhIjoxfQ=.eyJhIjoxfQ.c2ln",
        "eyJhIjox+Q.eyJhIjoxfQ.c2ln", /* standard alphabet */
        "eyJhIjox/Q.eyJhIjoxfQ.c2ln",
        "eyJhIjoxfQ.eyJh Ijo.c2ln",  /* space */
        "eyJhIjoxf.eyJhIjoxfQ.c2ln", /* length 9: no encoding has it (4k + 1) */
        "eyJhIjoxfR.eyJhIjoxfQ.c2ln", /* leftover bits set */
    };
    unsigned char buf[64];
    tp_jws_parts_t p;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = split(bad[i], buf, sizeof(buf), &p);
        TP_CHECK(rc == -1);
        if (rc != -1)
            fprintf(stderr, "  accepted: '%s'\n", bad[i]);
    }
    /* a NUL inside the token is outside the alphabet */
    TP_CHECK(tp_ffi_jws_split("eyJh\0IjoxfQ.eyJhIjoxfQ.c2ln", 27, buf, sizeof(buf), &p) == -1);
}

static void test_small_buffer(void)
{
    const char *tok = "eyJhbGciOiJIUzI1NiJ9.eyJhIjoxfQ.c2ln";
    unsigned char buf[64];
    tp_jws_parts_t p;
    /* 25 decoded bytes in all: any smaller buffer is refused, and nothing past cap written */
    for (size_t cap = 0; cap < 25; cap++) {
        memset(buf, 0xAB, sizeof(buf));
        TP_CHECK(split(tok, buf, cap, &p) == -2);
        int untouched = 1;
        for (size_t i = cap; i < sizeof(buf); i++)
            untouched &= buf[i] == 0xAB;
        TP_CHECK(untouched);
    }
    TP_CHECK(split(tok, buf, 25, &p) == 0);
}

/* random tokens of random parts: the split equals decoding each part alone */
static void test_agrees_with_part_decoding(void)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+";
    char tok[96];
    unsigned char buf[96], one[96];
    srand(7);
    int accepted = 0;
    for (int round = 0; round < 200000; round++) {
        size_t len = 0;
        if (rand() % 4 == 0) { /* any bytes of the alphabet, dots and junk included */
            len = (size_t)(rand() % 40);
            for (size_t i = 0; i < len; i++)
                tok[i] = alphabet[rand() % 67];
        } else { /* three parts of base64url, with a rare stray byte */
            for (int part = 0; part < 3; part++) {
                if (part > 0)
                    tok[len++] = '.';
                size_t n = (size_t)(rand() % 12);
                for (size_t i = 0; i < n; i++)
                    tok[len++] = alphabet[rand() % (rand() % 50 == 0 ? 67 : 64)];
            }
        }
        tp_jws_parts_t p;
        int rc = tp_ffi_jws_split(tok, len, buf, sizeof(buf), &p);

        /* reference: exactly two dots, non-empty header and payload, each part decodes */
        const char *d1 = memchr(tok, '.', len);
        const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 - tok) - 1) : NULL;
        int want = d2 != NULL && memchr(d2 + 1, '.', len - (size_t)(d2 - tok) - 1) == NULL &&
                   d1 > tok && d2 > d1 + 1;
        const char *starts[3] = {tok, d1 ? d1 + 1 : NULL, d2 ? d2 + 1 : NULL};
        size_t lens[3] = {0, 0, 0};
        if (want) {
            lens[0] = (size_t)(d1 - tok);
            lens[1] = (size_t)(d2 - d1 - 1);
            lens[2] = len - (size_t)(d2 - tok) - 1;
        }
        size_t off = 0;
        for (int k = 0; want && k < 3; k++) {
            size_t n = sizeof(one);
            if (tp_ffi_crypto_b64_decode(TP_CRYPTO_B64_URL, starts[k], lens[k], one, &n) != 0) {
                want = 0;
                break;
            }
            size_t got = k == 0 ? p.header_len : k == 1 ? p.payload_len : p.sig_len;
            if (rc == 0 && (got != n || memcmp(buf + off, one, n) != 0)) {
                TP_CHECK(!"part differs from its own decoding");
                return;
            }
            off += n;
        }
        if ((rc == 0) != want) {
            TP_CHECK(!"split and reference disagree");
            fprintf(stderr, "  token '%.*s' rc %d want %d\n", (int)len, tok, rc, want);
            return;
        }
        if (rc == 0) {
            accepted++;
            if (p.signing_len != lens[0] + 1 + lens[1]) {
                TP_CHECK(!"signing length");
                return;
            }
        }
    }
    TP_CHECK(accepted > 1000); /* the generator does make valid tokens */
    printf("  %d of 200000 random tokens were well formed\n", accepted);
}

int main(void)
{
    TP_RUN(test_well_formed);
    TP_RUN(test_malformed);
    TP_RUN(test_small_buffer);
    TP_RUN(test_agrees_with_part_decoding);
    return TP_TEST_REPORT();
}
