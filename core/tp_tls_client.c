/*
 * tp_tls_client.c - owns the client side of TLS, for https upstreams: trust-anchor
 * sets (decoded once from PEM: a CA bundle file and the config's CA certificates),
 * the BearSSL client engine of one upstream connection, and the "accept any
 * certificate" X.509 class used when a service does not ask for verification.
 *
 * The record pump is tp_tls.c's: a client connection embeds the same
 * tp_tls_conn_t first, so tp_tls_recv/send/flush/handshake work on it unchanged.
 * Verification is BearSSL's X.509 "minimal" engine: chain up to an anchor, validity
 * dates, key usage, and the server name against the leaf's DNS names (BearSSL does
 * not match IP addresses; the caller refuses to verify an IP literal).
 */
#include "tp_tls.h"
#include "tp_pem.h"
#include "tp_tls_int.h"
#include "tp_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#define BUNDLE_MAX (16 * 1024 * 1024) /* a CA bundle is ~200 KB; refuse nonsense */

struct tp_tls_anchors_s {
    int refs;
    br_x509_trust_anchor *ta; /* each anchor's DN and key bytes are one malloc, at dn.data */
    int n;
    uint64_t key;
};

/* Accept-any-certificate X.509 engine: decodes the leaf only to hand its public
 * key to the key exchange, and says the chain is fine. */
typedef struct {
    const br_x509_class *vtable;
    br_x509_decoder_context dc;
    int depth; /* certificates seen in this chain */
} noverify_t;

/* An upstream connection: the shared record-pump part, then the client engine. */
typedef struct {
    tp_tls_conn_t super;
    br_ssl_client_context cc;
    union {
        br_x509_minimal_context minimal; /* verifying */
        noverify_t any;                  /* not verifying */
    } x509;
    tp_tls_anchors_t *anchors; /* one reference, or NULL */
} client_conn_t;

/* ---- trust anchors ------------------------------------------------------------------ */

tp_tls_anchors_t *tp_tls_anchors_new(void)
{
    tp_tls_anchors_t *a = tp_calloc(1, sizeof(*a));
    a->refs = 1;
    a->key = 14695981039346656037ULL; /* FNV-1a offset basis */
    return a;
}

tp_tls_anchors_t *tp_tls_anchors_hold(tp_tls_anchors_t *a)
{
    a->refs++;
    return a;
}

void tp_tls_anchors_release(tp_tls_anchors_t *a)
{
    if (a == NULL || --a->refs > 0)
        return;
    for (int i = 0; i < a->n; i++)
        free(a->ta[i].dn.data);
    free(a->ta);
    free(a);
}

int tp_tls_anchors_count(const tp_tls_anchors_t *a)
{
    return a ? a->n : 0;
}

uint64_t tp_tls_anchors_key(const tp_tls_anchors_t *a)
{
    return a ? a->key : 0;
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

typedef struct {
    unsigned char *data;
    size_t len;
} dn_buf_t;

static void on_dn(void *ctx, const void *src, size_t len)
{
    dn_buf_t *d = ctx;
    d->data = tp_realloc(d->data, d->len + len);
    memcpy(d->data + d->len, src, len);
    d->len += len;
}

/* One DER certificate into an anchor whose bytes it owns. Returns 0, or the
 * decoder's error code. */
static int anchor_from_der(const unsigned char *der, size_t len, br_x509_trust_anchor *ta)
{
    br_x509_decoder_context *dc = tp_malloc(sizeof(*dc));
    dn_buf_t dn = {NULL, 0};
    br_x509_decoder_init(dc, on_dn, &dn);
    br_x509_decoder_push(dc, der, len);
    const br_x509_pkey *pk = br_x509_decoder_get_pkey(dc);
    if (pk == NULL) {
        int e = br_x509_decoder_last_error(dc);
        free(dc);
        free(dn.data);
        return e ? e : BR_ERR_X509_TRUNCATED;
    }
    size_t klen = pk->key_type == BR_KEYTYPE_RSA ? pk->key.rsa.nlen + pk->key.rsa.elen
                                                 : pk->key.ec.qlen;
    unsigned char *mem = tp_malloc(dn.len + klen);
    memcpy(mem, dn.data, dn.len);
    ta->dn.data = mem;
    ta->dn.len = dn.len;
    ta->flags = br_x509_decoder_isCA(dc) ? BR_X509_TA_CA : 0;
    ta->pkey = *pk;
    unsigned char *k = mem + dn.len;
    if (pk->key_type == BR_KEYTYPE_RSA) {
        memcpy(k, pk->key.rsa.n, pk->key.rsa.nlen);
        memcpy(k + pk->key.rsa.nlen, pk->key.rsa.e, pk->key.rsa.elen);
        ta->pkey.key.rsa.n = k;
        ta->pkey.key.rsa.e = k + pk->key.rsa.nlen;
    } else {
        memcpy(k, pk->key.ec.q, pk->key.ec.qlen);
        ta->pkey.key.ec.q = k;
    }
    free(dc);
    free(dn.data);
    return 0;
}

static int is_certificate(const tp_pem_obj_t *o)
{
    return strcmp(o->name, "CERTIFICATE") == 0 || strcmp(o->name, "X509 CERTIFICATE") == 0 ||
           strcmp(o->name, "TRUSTED CERTIFICATE") == 0;
}

int tp_tls_anchors_add_pem(tp_tls_anchors_t *a, const char *pem, size_t len, char *err,
                           size_t errlen)
{
    tp_pem_list_t l;
    if (tp_pem_decode(pem, len, &l) < 0) {
        tp_errf(err, errlen, "not valid PEM text");
        return -1;
    }
    int first = a->n, added = 0;
    a->ta = tp_realloc(a->ta, sizeof(br_x509_trust_anchor) * (size_t)(a->n + l.n));
    for (int i = 0; i < l.n; i++) {
        if (!is_certificate(&l.objs[i]))
            continue;
        int e = anchor_from_der(l.objs[i].data, l.objs[i].len, &a->ta[a->n]);
        if (e != 0) {
            tp_errf(err, errlen, "certificate %d: not a valid X.509 certificate (BearSSL error %d)",
                    added + 1, e);
            while (a->n > first)
                free(a->ta[--a->n].dn.data);
            tp_pem_free(&l);
            return -1;
        }
        a->n++;
        added++;
    }
    tp_pem_free(&l);
    /* the key covers every anchor in order: re-digest from the start */
    a->key = 14695981039346656037ULL;
    for (int i = 0; i < a->n; i++) {
        const br_x509_trust_anchor *ta = &a->ta[i];
        size_t klen = ta->pkey.key_type == BR_KEYTYPE_RSA
                          ? ta->pkey.key.rsa.nlen + ta->pkey.key.rsa.elen
                          : ta->pkey.key.ec.qlen;
        unsigned char flags = (unsigned char)ta->flags;
        a->key = fnv(a->key, &flags, 1);
        a->key = fnv(a->key, ta->dn.data, ta->dn.len + klen); /* DN then key: one block */
    }
    return added;
}

int tp_tls_anchors_add_file(tp_tls_anchors_t *a, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        tp_errf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 262144;
            text = tp_realloc(text, cap);
        }
        n = fread(text + len, 1, cap - len, f);
        len += n;
    } while (n > 0 && len < BUNDLE_MAX);
    int bad = ferror(f);
    fclose(f);
    int rc = -1;
    if (bad)
        tp_errf(err, errlen, "%s: read error", path);
    else if (len >= BUNDLE_MAX)
        tp_errf(err, errlen, "%s: larger than %d MB", path, BUNDLE_MAX >> 20);
    else if ((rc = tp_tls_anchors_add_pem(a, text, len, err, errlen)) < 0) {
        char why[TP_ERR_LEN];
        snprintf(why, sizeof(why), "%s", err ? err : "");
        tp_errf(err, errlen, "%s: %s", path, why);
    }
    free(text);
    return rc;
}

tp_tls_anchors_t *tp_ffi_tls_anchors_new(const char *path, const char *pem, size_t len,
                                         char *err, size_t errlen)
{
    tp_tls_anchors_t *a = tp_tls_anchors_new();
    int added = 0;
    if ((path && tp_tls_anchors_add_file(a, path, err, errlen) < 0) ||
        (len > 0 && (added = tp_tls_anchors_add_pem(a, pem, len, err, errlen)) < 0))
        goto fail;
    if (len > 0 && added == 0) {
        tp_errf(err, errlen, "no CERTIFICATE object in the PEM text");
        goto fail;
    }
    return a;
fail:
    tp_tls_anchors_release(a);
    return NULL;
}

void tp_ffi_tls_anchors_free(tp_tls_anchors_t *a)
{
    tp_tls_anchors_release(a);
}

/* ---- accept any certificate ---------------------------------------------------------- */

static void nv_start_chain(const br_x509_class **ctx, const char *server_name)
{
    ((noverify_t *)ctx)->depth = 0;
}

static void nv_start_cert(const br_x509_class **ctx, uint32_t length)
{
    noverify_t *nv = (noverify_t *)ctx;
    if (nv->depth == 0)
        br_x509_decoder_init(&nv->dc, NULL, NULL);
}

static void nv_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
    noverify_t *nv = (noverify_t *)ctx;
    if (nv->depth == 0)
        br_x509_decoder_push(&nv->dc, buf, len);
}

static void nv_end_cert(const br_x509_class **ctx)
{
    ((noverify_t *)ctx)->depth++;
}

static unsigned nv_end_chain(const br_x509_class **ctx)
{
    noverify_t *nv = (noverify_t *)ctx;
    if (nv->depth == 0)
        return BR_ERR_X509_EMPTY_CHAIN;
    if (br_x509_decoder_get_pkey(&nv->dc) == NULL) {
        int e = br_x509_decoder_last_error(&nv->dc);
        return e ? (unsigned)e : BR_ERR_X509_TRUNCATED;
    }
    return 0;
}

static const br_x509_pkey *nv_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
    noverify_t *nv = (noverify_t *)ctx;
    if (usages != NULL)
        *usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
    return br_x509_decoder_get_pkey(&nv->dc);
}

static const br_x509_class noverify_vtable = {
    sizeof(noverify_t), nv_start_chain, nv_start_cert, nv_append,
    nv_end_cert,        nv_end_chain,   nv_get_pkey,
};

/* ---- the client engine ------------------------------------------------------------- */

static void client_dispose(tp_tls_conn_t *c)
{
    client_conn_t *t = (client_conn_t *)c;
    tp_tls_anchors_release(t->anchors);
    free(t);
}

tp_tls_conn_t *tp_tls_client_new(const char *name, tp_tls_anchors_t *anchors)
{
    client_conn_t *t = tp_malloc(sizeof(*t));
    t->super.dispose = client_dispose;
    t->anchors = anchors ? tp_tls_anchors_hold(anchors) : NULL;
    /* the full profile: every hash, PRF, cipher and signature check BearSSL has, and
     * the minimal X.509 engine over our anchors; versions and suites are set after */
    br_ssl_client_init_full(&t->cc, &t->x509.minimal, anchors ? anchors->ta : NULL,
                            anchors ? (size_t)anchors->n : 0);
    tp__tls_engine_setup(&t->super, &t->cc.eng);
    if (anchors == NULL) {
        t->x509.any.vtable = &noverify_vtable;
        t->x509.any.depth = 0;
        br_ssl_engine_set_x509(&t->cc.eng, &t->x509.any.vtable);
    }
    if (!br_ssl_client_reset(&t->cc, name, 0)) {
        tp_tls_conn_free(&t->super);
        return NULL;
    }
    return &t->super;
}

/* ---- names ------------------------------------------------------------------------- */

int tp_tls_sni_name(const char *host, size_t len, char *out, size_t outlen)
{
    if (host == NULL || len == 0 || outlen == 0)
        return 0;
    if (host[0] == '[')
        return 0; /* an IPv6 literal, with or without a port */
    const char *colon = memchr(host, ':', len);
    if (colon) {
        if (memchr(colon + 1, ':', len - (size_t)(colon + 1 - host)))
            return 0; /* a bare IPv6 literal */
        len = (size_t)(colon - host);
    }
    if (len > 0 && host[len - 1] == '.')
        len--;
    if (len == 0 || len >= outlen)
        return 0;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)host[i]);
    out[len] = 0;
    struct in_addr a4;
    if (inet_pton(AF_INET, out, &a4) == 1)
        return 0;
    return 1;
}

const char *tp_tls_error_name(int code)
{
    switch (code) {
    case BR_ERR_BAD_VERSION: return "BAD_VERSION";
    case BR_ERR_UNSUPPORTED_VERSION: return "UNSUPPORTED_VERSION";
    case BR_ERR_BAD_MAC: return "BAD_MAC";
    case BR_ERR_UNKNOWN_TYPE: return "UNKNOWN_TYPE (not TLS?)";
    case BR_ERR_BAD_HANDSHAKE: return "BAD_HANDSHAKE";
    case BR_ERR_BAD_CIPHER_SUITE: return "BAD_CIPHER_SUITE";
    case BR_ERR_BAD_SIGNATURE: return "BAD_SIGNATURE";
    case BR_ERR_IO: return "IO";
    case BR_ERR_X509_EMPTY_CHAIN: return "X509_EMPTY_CHAIN";
    case BR_ERR_X509_BAD_SIGNATURE: return "X509_BAD_SIGNATURE";
    case BR_ERR_X509_EXPIRED: return "X509_EXPIRED";
    case BR_ERR_X509_BAD_SERVER_NAME: return "X509_BAD_SERVER_NAME";
    case BR_ERR_X509_NOT_CA: return "X509_NOT_CA";
    case BR_ERR_X509_FORBIDDEN_KEY_USAGE: return "X509_FORBIDDEN_KEY_USAGE";
    case BR_ERR_X509_WEAK_PUBLIC_KEY: return "X509_WEAK_PUBLIC_KEY";
    case BR_ERR_X509_NOT_TRUSTED: return "X509_NOT_TRUSTED";
    case BR_ERR_X509_UNSUPPORTED: return "X509_UNSUPPORTED";
    case BR_ERR_X509_CRITICAL_EXTENSION: return "X509_CRITICAL_EXTENSION";
    default: break;
    }
    if (code >= BR_ERR_SEND_FATAL_ALERT)
        return "SENT_FATAL_ALERT";
    if (code >= BR_ERR_RECV_FATAL_ALERT)
        return "RECEIVED_FATAL_ALERT";
    return "";
}
