/*
 * tp_tls.c - owns TLS termination: the refcounted certificate store (PEM
 * chains, private keys, SNI index) and the per-connection BearSSL server
 * engine with its record pump over a non-blocking socket.
 *
 * Certificate choice happens inside the handshake: our policy class asks the
 * store for the certificate the client's SNI names, then hands the actual work
 * (cipher suite choice, signing) to BearSSL's own single-chain RSA or EC policy
 * for that certificate. TLS 1.2 only (what BearSSL 0.6 offers), ECDHE suites
 * only (forward secrecy), renegotiation refused.
 */
#include "tp_tls.h"
#include "tp_pem.h"
#include "tp_tls_int.h"
#include "tp_util.h"

#include <bearssl.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#define SNI_MAX 256
#define TP_TLS_RSA_MAX_BYTES 512 /* RSA-4096, the largest key BearSSL handles */
#define TP_TLS_RECORD_MAX 16384  /* the most plaintext one record carries */

typedef struct {
    br_x509_certificate *chain;
    size_t chain_len;
    int key_type; /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
    br_rsa_private_key rsa;
    br_ec_private_key ec;
    unsigned char *key_data; /* what rsa / ec point into */
} keypair_t;

typedef struct {
    keypair_t pair[2]; /* cert/key, then cert_alt/key_alt */
    int npairs;
} cert_t;

typedef struct {
    char *name; /* lower case; may start with "*." or end with ".*", or be "*" */
    int cert;
} sni_t;

struct tp_tls_store_s {
    int refs;
    cert_t *certs;
    int ncerts;
    sni_t *snis; /* sorted by name */
    int nsnis;
};

typedef struct server_conn_s server_conn_t;

/* Our policy: picks the certificate, then delegates to BearSSL's policy for it. */
typedef struct {
    const br_ssl_server_policy_class *vtable;
    const br_ssl_server_policy_class **inner;
    server_conn_t *t;
} sni_policy_t;

/* An accepted connection: the shared record-pump part, then the server engine. */
struct server_conn_s {
    tp_tls_conn_t super;
    br_ssl_server_context sc;
    sni_policy_t policy;
    tp_tls_store_t *store;
};

/* ---- one certificate/key pair ------------------------------------------------- */

static void keypair_free(keypair_t *kp)
{
    for (size_t i = 0; i < kp->chain_len; i++)
        free(kp->chain[i].data);
    free(kp->chain);
    free(kp->key_data);
    memset(kp, 0, sizeof(*kp));
}

static int take_chain(tp_pem_list_t *l, keypair_t *kp, char *err, size_t errlen)
{
    for (int i = 0; i < l->n; i++) {
        tp_pem_obj_t *o = &l->objs[i];
        if (strcmp(o->name, "CERTIFICATE") != 0 && strcmp(o->name, "X509 CERTIFICATE") != 0)
            continue;
        kp->chain = tp_realloc(kp->chain, sizeof(br_x509_certificate) * (kp->chain_len + 1));
        kp->chain[kp->chain_len].data = o->data; /* the chain takes the bytes over */
        kp->chain[kp->chain_len].data_len = o->len;
        kp->chain_len++;
        o->data = NULL;
    }
    if (kp->chain_len == 0) {
        tp_errf(err, errlen, "cert: no CERTIFICATE object in the PEM text");
        return -1;
    }
    return 0;
}

/* Copy the decoder's key into memory the keypair owns. */
static void copy_key(const br_skey_decoder_context *dc, keypair_t *kp)
{
    kp->key_type = br_skey_decoder_key_type(dc);
    if (kp->key_type == BR_KEYTYPE_RSA) {
        const br_rsa_private_key *sk = br_skey_decoder_get_rsa(dc);
        size_t total = sk->plen + sk->qlen + sk->dplen + sk->dqlen + sk->iqlen;
        unsigned char *p = kp->key_data = tp_malloc(total);
        kp->rsa = *sk;
#define TAKE(f, n) (memcpy(p, sk->f, sk->n), kp->rsa.f = p, p += sk->n)
        TAKE(p, plen);
        TAKE(q, qlen);
        TAKE(dp, dplen);
        TAKE(dq, dqlen);
        TAKE(iq, iqlen);
#undef TAKE
    } else {
        const br_ec_private_key *sk = br_skey_decoder_get_ec(dc);
        kp->key_data = tp_malloc(sk->xlen);
        memcpy(kp->key_data, sk->x, sk->xlen);
        kp->ec = *sk;
        kp->ec.x = kp->key_data;
    }
}

static int take_key(tp_pem_list_t *l, keypair_t *kp, char *err, size_t errlen)
{
    for (int i = 0; i < l->n; i++) {
        tp_pem_obj_t *o = &l->objs[i];
        if (strcmp(o->name, "ENCRYPTED PRIVATE KEY") == 0) {
            tp_errf(err, errlen, "key: encrypted private keys are not supported");
            return -1;
        }
        if (strcmp(o->name, "PRIVATE KEY") != 0 && strcmp(o->name, "RSA PRIVATE KEY") != 0 &&
            strcmp(o->name, "EC PRIVATE KEY") != 0)
            continue;
        br_skey_decoder_context *dc = tp_malloc(sizeof(*dc));
        br_skey_decoder_init(dc);
        br_skey_decoder_push(dc, o->data, o->len);
        int e = br_skey_decoder_last_error(dc);
        if (e == 0)
            copy_key(dc, kp);
        free(dc);
        if (e != 0) {
            tp_errf(err, errlen, "key: not a valid RSA or EC private key (BearSSL error %d)", e);
            return -1;
        }
        return 0;
    }
    tp_errf(err, errlen, "key: no PRIVATE KEY object in the PEM text");
    return -1;
}

static void strip_zeros(const unsigned char **p, size_t *n)
{
    while (*n > 0 && **p == 0) {
        (*p)++;
        (*n)--;
    }
}

static int same_bytes(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
    strip_zeros(&a, &alen);
    strip_zeros(&b, &blen);
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Does the private key belong to the certificate's public key? */
static int key_matches(const br_x509_pkey *pk, const keypair_t *kp)
{
    if (pk->key_type != kp->key_type)
        return 0;
    if (kp->key_type == BR_KEYTYPE_RSA) {
        br_rsa_compute_modulus modulus = br_rsa_compute_modulus_get_default();
        size_t nlen = modulus(NULL, &kp->rsa);
        if (nlen == 0)
            return 0;
        unsigned char *n = tp_malloc(nlen);
        int same = modulus(n, &kp->rsa) == nlen && same_bytes(n, nlen, pk->key.rsa.n, pk->key.rsa.nlen);
        free(n);
        /* the exponent too: sign with the key, verify with the certificate
         * (br_rsa_compute_pubexp gives 0 for many real keys in BearSSL 0.6) */
        static const unsigned char probe[32] = "turnpike: does this key fit?";
        unsigned char sig[TP_TLS_RSA_MAX_BYTES], back[32];
        size_t slen = (kp->rsa.n_bitlen + 7) / 8;
        return same && slen <= sizeof(sig) &&
               br_rsa_pkcs1_sign_get_default()(BR_HASH_OID_SHA256, probe, sizeof(probe),
                                               &kp->rsa, sig) &&
               br_rsa_pkcs1_vrfy_get_default()(sig, slen, BR_HASH_OID_SHA256, sizeof(back),
                                               &pk->key.rsa, back) &&
               memcmp(back, probe, sizeof(back)) == 0;
    }
    unsigned char q[BR_EC_KBUF_PUB_MAX_SIZE];
    size_t qlen = br_ec_compute_pub(br_ec_get_default(), NULL, q, &kp->ec);
    return qlen > 0 && pk->key.ec.curve == kp->ec.curve && pk->key.ec.qlen == qlen &&
           memcmp(pk->key.ec.q, q, qlen) == 0;
}

static int keypair_load(keypair_t *kp, const char *cert, size_t cert_len, const char *key,
                        size_t key_len, char *err, size_t errlen)
{
    tp_pem_list_t certs = {0}, keys = {0};
    br_x509_decoder_context *xc = NULL;
    memset(kp, 0, sizeof(*kp));
    if (tp_pem_decode(cert, cert_len, &certs) < 0) {
        tp_errf(err, errlen, "cert: not valid PEM text");
        goto fail;
    }
    if (take_chain(&certs, kp, err, errlen) < 0)
        goto fail;
    if (tp_pem_decode(key, key_len, &keys) < 0) {
        tp_errf(err, errlen, "key: not valid PEM text");
        goto fail;
    }
    if (take_key(&keys, kp, err, errlen) < 0)
        goto fail;
    xc = tp_malloc(sizeof(*xc));
    br_x509_decoder_init(xc, NULL, NULL);
    br_x509_decoder_push(xc, kp->chain[0].data, kp->chain[0].data_len);
    const br_x509_pkey *pk = br_x509_decoder_get_pkey(xc);
    if (pk == NULL) {
        tp_errf(err, errlen, "cert: not a valid X.509 certificate (BearSSL error %d)",
                br_x509_decoder_last_error(xc));
        goto fail;
    }
    if (!key_matches(pk, kp)) {
        tp_errf(err, errlen, "key: does not match the certificate's public key");
        goto fail;
    }
    free(xc);
    tp_pem_free(&certs);
    tp_pem_free(&keys);
    return 0;
fail:
    free(xc);
    tp_pem_free(&certs);
    tp_pem_free(&keys);
    keypair_free(kp);
    return -1;
}

int tp_ffi_tls_check(const char *cert, size_t cert_len, const char *key, size_t key_len,
                     char *err, size_t errlen)
{
    keypair_t kp;
    if (keypair_load(&kp, cert, cert_len, key, key_len, err, errlen) < 0)
        return -1;
    keypair_free(&kp);
    return 0;
}

/* ---- the store ------------------------------------------------------------------- */

tp_tls_store_t *tp_tls_store_new(void)
{
    tp_tls_store_t *s = tp_calloc(1, sizeof(*s));
    s->refs = 1;
    return s;
}

tp_tls_store_t *tp_tls_store_hold(tp_tls_store_t *s)
{
    s->refs++;
    return s;
}

void tp_tls_store_release(tp_tls_store_t *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    for (int i = 0; i < s->ncerts; i++)
        for (int j = 0; j < s->certs[i].npairs; j++)
            keypair_free(&s->certs[i].pair[j]);
    for (int i = 0; i < s->nsnis; i++)
        free(s->snis[i].name);
    free(s->certs);
    free(s->snis);
    free(s);
}

int tp_tls_store_count(const tp_tls_store_t *s)
{
    return s ? s->ncerts : 0;
}

/* Lower-case copy of a host name without a trailing dot; 0 when it does not fit. */
static int normalize_name(const char *in, char *out)
{
    size_t n = strlen(in);
    if (n > 0 && in[n - 1] == '.')
        n--;
    if (n >= SNI_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    out[n] = 0;
    return 1;
}

static int sni_cmp(const void *a, const void *b)
{
    return strcmp(((const sni_t *)a)->name, ((const sni_t *)b)->name);
}

static int sni_find(const tp_tls_store_t *s, const char *name)
{
    sni_t key = {(char *)name, 0};
    const sni_t *hit = s->nsnis ? bsearch(&key, s->snis, (size_t)s->nsnis, sizeof(sni_t), sni_cmp) : NULL;
    return hit ? hit->cert : -1;
}

int tp_tls_store_add(tp_tls_store_t *s, const char *cert, size_t cert_len, const char *key,
                     size_t key_len, const char *cert_alt, size_t cert_alt_len,
                     const char *key_alt, size_t key_alt_len, const char *const *snis,
                     int nsnis, char *err, size_t errlen)
{
    cert_t c = {0};
    if (keypair_load(&c.pair[0], cert, cert_len, key, key_len, err, errlen) < 0)
        return -1;
    c.npairs = 1;
    if (cert_alt && key_alt) {
        if (keypair_load(&c.pair[1], cert_alt, cert_alt_len, key_alt, key_alt_len, err, errlen) < 0) {
            keypair_free(&c.pair[0]);
            return -1;
        }
        c.npairs = 2;
    }
    int index = s->ncerts;
    s->certs = tp_realloc(s->certs, sizeof(cert_t) * (size_t)(s->ncerts + 1));
    s->certs[s->ncerts++] = c;
    for (int i = 0; i < nsnis; i++) {
        char name[SNI_MAX];
        if (!normalize_name(snis[i], name) || sni_find(s, name) >= 0)
            continue; /* a name already taken stays with the certificate that came first */
        s->snis = tp_realloc(s->snis, sizeof(sni_t) * (size_t)(s->nsnis + 1));
        s->snis[s->nsnis].name = tp_strndup(name, strlen(name));
        s->snis[s->nsnis].cert = index;
        s->nsnis++;
        qsort(s->snis, (size_t)s->nsnis, sizeof(sni_t), sni_cmp);
    }
    return index;
}

int tp_tls_store_select(const tp_tls_store_t *s, const char *name)
{
    if (s == NULL || s->ncerts == 0)
        return -1;
    char n[SNI_MAX], probe[SNI_MAX + 2];
    if (name && name[0] && normalize_name(name, n)) {
        int hit = sni_find(s, n);
        if (hit >= 0)
            return hit;
        const char *first_dot = strchr(n, '.');
        const char *last_dot = strrchr(n, '.');
        if (first_dot) {
            /* *.example.com stands for one label in front of example.com */
            snprintf(probe, sizeof(probe), "*%s", first_dot);
            if ((hit = sni_find(s, probe)) >= 0)
                return hit;
            /* example.* stands for example under any last label */
            snprintf(probe, sizeof(probe), "%.*s.*", (int)(last_dot - n), n);
            if ((hit = sni_find(s, probe)) >= 0)
                return hit;
        }
    }
    int dflt = sni_find(s, "*");
    return dflt >= 0 ? dflt : 0;
}

/* ---- policy: SNI picks the certificate ------------------------------------------- */

static void use_pair(server_conn_t *t, const keypair_t *kp)
{
    if (kp->key_type == BR_KEYTYPE_RSA)
        br_ssl_server_set_single_rsa(&t->sc, kp->chain, kp->chain_len, &kp->rsa, BR_KEYTYPE_SIGN,
                                     br_rsa_private_get_default(),
                                     br_rsa_pkcs1_sign_get_default());
    else
        br_ssl_server_set_single_ec(&t->sc, kp->chain, kp->chain_len, &kp->ec, BR_KEYTYPE_SIGN,
                                    BR_KEYTYPE_EC, br_ec_get_default(),
                                    br_ecdsa_sign_asn1_get_default());
}

static int sni_choose(const br_ssl_server_policy_class **pctx, const br_ssl_server_context *cc,
                      br_ssl_server_choices *choices)
{
    sni_policy_t *p = (sni_policy_t *)pctx;
    server_conn_t *t = p->t;
    int idx = tp_tls_store_select(t->store, br_ssl_engine_get_server_name(&cc->eng));
    if (idx < 0)
        return 0;
    const cert_t *c = &t->store->certs[idx];
    for (int i = 0; i < c->npairs; i++) {
        /* BearSSL's single-chain policy for this pair lives in the server context;
         * it decides the suite among those the client offers for this key type */
        use_pair(t, &c->pair[i]);
        p->inner = t->sc.policy_vtable;
        t->sc.policy_vtable = &p->vtable;
        if ((*p->inner)->choose(p->inner, cc, choices))
            return 1;
    }
    p->inner = NULL;
    return 0;
}

static uint32_t sni_do_keyx(const br_ssl_server_policy_class **pctx, unsigned char *data,
                            size_t *len)
{
    sni_policy_t *p = (sni_policy_t *)pctx;
    return p->inner ? (*p->inner)->do_keyx(p->inner, data, len) : 0;
}

static size_t sni_do_sign(const br_ssl_server_policy_class **pctx, unsigned algo_id,
                          unsigned char *data, size_t hv_len, size_t len)
{
    sni_policy_t *p = (sni_policy_t *)pctx;
    return p->inner ? (*p->inner)->do_sign(p->inner, algo_id, data, hv_len, len) : 0;
}

static const br_ssl_server_policy_class sni_policy_vtable = {
    sizeof(sni_policy_t), sni_choose, sni_do_keyx, sni_do_sign,
};

/* ECDHE only: every suite is forward-secret. Server order wins. */
static const uint16_t SUITES[] = {
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
    BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
    BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
};

/* ---- per-connection engine ---------------------------------------------------------- */

void tp__tls_engine_setup(tp_tls_conn_t *t, br_ssl_engine_context *eng)
{
    t->eng = eng;
    br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_suites(eng, SUITES, tp_countof(SUITES));
    br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
    br_ssl_engine_set_buffers_bidi(eng, t->ibuf, sizeof(t->ibuf), t->obuf, sizeof(t->obuf));
    unsigned char seed[32];
    if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
        br_ssl_engine_inject_entropy(eng, seed, sizeof(seed));
}

static void server_dispose(tp_tls_conn_t *c)
{
    server_conn_t *t = (server_conn_t *)c;
    tp_tls_store_release(t->store);
    free(t);
}

tp_tls_conn_t *tp_tls_conn_new(tp_tls_store_t *s)
{
    if (s == NULL || s->ncerts == 0)
        return NULL;
    server_conn_t *t = tp_malloc(sizeof(*t));
    /* the full RSA profile brings hashes, PRFs, ciphers and the EC code for ECDHE;
     * the suites and the policy are ours */
    br_ssl_server_init_full_rsa(&t->sc, NULL, 0, NULL);
    tp__tls_engine_setup(&t->super, &t->sc.eng);
    br_ssl_engine_add_flags(&t->sc.eng, BR_OPT_ENFORCE_SERVER_PREFERENCES);
    t->super.dispose = server_dispose;
    t->policy.vtable = &sni_policy_vtable;
    t->policy.inner = NULL;
    t->policy.t = t;
    br_ssl_server_set_policy(&t->sc, &t->policy.vtable);
    t->store = tp_tls_store_hold(s);
    if (!br_ssl_server_reset(&t->sc)) {
        tp_tls_conn_free(&t->super);
        return NULL;
    }
    return &t->super;
}

void tp_tls_conn_free(tp_tls_conn_t *t)
{
    if (t != NULL)
        t->dispose(t);
}

static unsigned state_of(const tp_tls_conn_t *t)
{
    return br_ssl_engine_current_state(t->eng);
}

int tp_tls_want_write(const tp_tls_conn_t *t)
{
    return (state_of(t) & BR_SSL_SENDREC) != 0;
}

int tp_tls_has_plaintext(const tp_tls_conn_t *t)
{
    return (state_of(t) & BR_SSL_RECVAPP) != 0;
}

int tp_tls_flush(tp_tls_conn_t *t, int fd)
{
    br_ssl_engine_context *eng = t->eng;
    while (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) {
        size_t len;
        unsigned char *p = br_ssl_engine_sendrec_buf(eng, &len);
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            br_ssl_engine_sendrec_ack(eng, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        return -1;
    }
    return 0;
}

enum { PUMP_ERR = -1, PUMP_END = 0, PUMP_MOVED = 1, PUMP_APP = 2 };

/*
 * One turn of the engine over fd, for reading and for the handshake alike: send the
 * records it made (handshake messages and alerts go out as soon as they exist), then,
 * unless decrypted plaintext waits, give it one read of ciphertext. PUMP_ERR leaves
 * errno EAGAIN (wait for the socket), EPROTO (the TLS failed) or the socket's error.
 */
static int pump(tp_tls_conn_t *t, int fd)
{
    br_ssl_engine_context *eng = t->eng;
    if (tp_tls_flush(t, fd) < 0) {
        errno = EPROTO;
        return PUMP_ERR;
    }
    unsigned st = br_ssl_engine_current_state(eng);
    if (st & BR_SSL_CLOSED) {
        if (br_ssl_engine_last_error(eng) == BR_ERR_OK)
            return PUMP_END;
        errno = EPROTO;
        return PUMP_ERR;
    }
    if (st & BR_SSL_RECVAPP)
        return PUMP_APP;
    if (!(st & BR_SSL_RECVREC)) {
        errno = EAGAIN; /* records wait for the socket to take them */
        return PUMP_ERR;
    }
    size_t room;
    unsigned char *p = br_ssl_engine_recvrec_buf(eng, &room);
    for (;;) {
        ssize_t n = read(fd, p, room);
        if (n > 0) {
            br_ssl_engine_recvrec_ack(eng, (size_t)n);
            return PUMP_MOVED;
        }
        if (n == 0)
            return PUMP_END; /* the peer is gone (a close without close_notify) */
        if (errno != EINTR)
            return PUMP_ERR; /* EAGAIN, or the socket's error */
    }
}

ssize_t tp_tls_recv(tp_tls_conn_t *t, int fd, char *buf, size_t len)
{
    br_ssl_engine_context *eng = t->eng;
    size_t got = 0;
    for (;;) {
        int rc = pump(t, fd);
        if (rc == PUMP_MOVED)
            continue;
        if (rc == PUMP_APP) {
            size_t avail;
            unsigned char *p = br_ssl_engine_recvapp_buf(eng, &avail);
            size_t n = avail < len - got ? avail : len - got;
            memcpy(buf + got, p, n);
            br_ssl_engine_recvapp_ack(eng, n);
            got += n;
            /* several records per call while a whole one still fits, as a plain
             * read takes what the socket has */
            if (len - got < TP_TLS_RECORD_MAX)
                return (ssize_t)got;
            continue;
        }
        if (got > 0)
            return (ssize_t)got; /* an end or an error shows again at the next call */
        return rc == PUMP_END ? 0 : -1;
    }
}

int tp_tls_handshake(tp_tls_conn_t *t, int fd)
{
    for (;;) {
        if (br_ssl_engine_current_state(t->eng) & BR_SSL_SENDAPP)
            return 0;
        int rc = pump(t, fd);
        if (rc == PUMP_MOVED)
            continue;
        if (rc == PUMP_APP)
            return 0;
        if (rc == PUMP_ERR && errno == EAGAIN)
            return 1;
        return -1;
    }
}

ssize_t tp_tls_send(tp_tls_conn_t *t, int fd, const char *buf, size_t len)
{
    br_ssl_engine_context *eng = t->eng;
    int rc = tp_tls_flush(t, fd);
    if (rc < 0 || (br_ssl_engine_current_state(eng) & BR_SSL_CLOSED)) {
        errno = EPIPE;
        return -1;
    }
    if (!(br_ssl_engine_current_state(eng) & BR_SSL_SENDAPP)) {
        errno = EAGAIN;
        return -1;
    }
    size_t room;
    unsigned char *p = br_ssl_engine_sendapp_buf(eng, &room);
    size_t n = room < len ? room : len;
    memcpy(p, buf, n);
    br_ssl_engine_sendapp_ack(eng, n);
    br_ssl_engine_flush(eng, 0);
    if (tp_tls_flush(t, fd) < 0) {
        errno = EPIPE;
        return -1;
    }
    return (ssize_t)n;
}

void tp_tls_close(tp_tls_conn_t *t, int fd)
{
    br_ssl_engine_close(t->eng);
    tp_tls_flush(t, fd);
}

const char *tp_tls_server_name(const tp_tls_conn_t *t)
{
    return br_ssl_engine_get_server_name(t->eng);
}

int tp_tls_last_error(const tp_tls_conn_t *t)
{
    return br_ssl_engine_last_error(t->eng);
}
