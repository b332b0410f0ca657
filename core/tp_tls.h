/*
 * tp_tls.h - TLS with BearSSL. Server side (tp_tls.c): the certificate store a
 * generation builds from the config's `certificates` (PEM chains and RSA/EC keys,
 * SNI names with Kong's wildcard forms), and the per-connection server engine that
 * turns ciphertext from a socket into plaintext for the HTTP parser and back.
 * Client side (tp_tls_client.c): trust-anchor sets and the engine of an https
 * upstream connection. Both kinds of connection use the same record pump
 * (tp_tls_recv/send/flush/close).
 *
 * Ownership: a store is refcounted. Its generation holds one reference and every
 * TLS connection holds one for its whole life, so a reload that drops a
 * certificate never frees one a handshake in flight still uses. Trust-anchor sets
 * are refcounted the same way (a pooled upstream connection outlives requests).
 */
#ifndef TP_TLS_H
#define TP_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct tp_tls_store_s tp_tls_store_t;
typedef struct tp_tls_conn_s tp_tls_conn_t;

/** An empty store with one reference (the caller's). */
tp_tls_store_t *tp_tls_store_new(void);

/**
 * Add a certificate: `cert` is PEM text with the leaf first and then its chain,
 * `key` the PEM private key (PKCS#1, SEC 1 or unencrypted PKCS#8; RSA or EC).
 * `cert_alt`/`key_alt` (both NULL or both set) give a second pair, typically of
 * the other key type. `snis` are the names it serves (exact, `*.example.com` or
 * `example.*`, case-insensitive). Returns the certificate's index (0-based; the
 * first one added is the default), or -1 with the reason in err.
 */
int tp_tls_store_add(tp_tls_store_t *s, const char *cert, size_t cert_len, const char *key,
                     size_t key_len, const char *cert_alt, size_t cert_alt_len,
                     const char *key_alt, size_t key_alt_len, const char *const *snis,
                     int nsnis, char *err, size_t errlen);

/** Number of certificates in the store. */
int tp_tls_store_count(const tp_tls_store_t *s);

/**
 * The certificate a ClientHello naming `name` gets: an exact SNI match, then
 * `*.rest` for the name without its first label, then `first.*` for the name
 * without its last label, then a `*` entry, then the first certificate. `name`
 * may be NULL or empty (no SNI). Returns the index, or -1 for an empty store.
 */
int tp_tls_store_select(const tp_tls_store_t *s, const char *name);

/** Take one more reference. Returns s. */
tp_tls_store_t *tp_tls_store_hold(tp_tls_store_t *s);
/** Drop one reference; the store is freed with the last one (NULL is fine). */
void tp_tls_store_release(tp_tls_store_t *s);

/**
 * Check one certificate/key pair as the config validator does: both decode and
 * the key belongs to the certificate. Returns 0, or -1 with the reason in err.
 * Exported for Lua (lua/turnpike/tls.lua).
 */
int tp_ffi_tls_check(const char *cert, size_t cert_len, const char *key, size_t key_len,
                     char *err, size_t errlen);

/**
 * A server engine for one accepted connection, holding a reference to `s`
 * (BearSSL context and record buffers, about 38 KB). NULL when s is NULL or empty.
 */
tp_tls_conn_t *tp_tls_conn_new(tp_tls_store_t *s);
/** Free the engine and drop its store reference (NULL is fine). */
void tp_tls_conn_free(tp_tls_conn_t *t);

/**
 * As read(2) on `fd`, but TLS: reads ciphertext, runs the handshake, and copies at
 * most `len` bytes of plaintext to buf, several records while a whole one (16 KB)
 * still fits. Pass len >= 16384 to take a whole record. Returns >0 plaintext bytes,
 * 0 at a clean end (close_notify or EOF), or -1 with errno EAGAIN (wait for the
 * socket; see tp_tls_want_write) or EPROTO (handshake or record failure: close the
 * connection).
 */
ssize_t tp_tls_recv(tp_tls_conn_t *t, int fd, char *buf, size_t len);

/**
 * As write(2): encrypts up to one record of `buf` and sends what the socket takes.
 * Returns the plaintext bytes accepted (>0), or -1 with errno EAGAIN or EPIPE.
 */
ssize_t tp_tls_send(tp_tls_conn_t *t, int fd, const char *buf, size_t len);

/** Send the records already encrypted. Returns 0 when none is left, 1 when the
 *  socket is full (wait for EV_WRITE), -1 on error. */
int tp_tls_flush(tp_tls_conn_t *t, int fd);

/** Does the engine have records to send (wait for EV_WRITE)? */
int tp_tls_want_write(const tp_tls_conn_t *t);
/** Has the engine decrypted plaintext nobody took yet? */
int tp_tls_has_plaintext(const tp_tls_conn_t *t);

/** Start a clean close (close_notify) and send what fits without waiting. */
void tp_tls_close(tp_tls_conn_t *t, int fd);

/**
 * Drive a client handshake as far as the socket allows. Returns 0 when it is done
 * (application data may flow), 1 to wait (for EV_WRITE when tp_tls_want_write,
 * else for EV_READ), -1 when it failed (tp_tls_last_error says why; 0 = the peer
 * closed the connection).
 */
int tp_tls_handshake(tp_tls_conn_t *t, int fd);

/** The server name the client asked for ("" when none). */
const char *tp_tls_server_name(const tp_tls_conn_t *t);
/** BearSSL's last error code (0 when none); for log lines. */
int tp_tls_last_error(const tp_tls_conn_t *t);

/* ---- client side (tp_tls_client.c) ---------------------------------------------- */

typedef struct tp_tls_anchors_s tp_tls_anchors_t;

/** An empty trust-anchor set with one reference (the caller's). */
tp_tls_anchors_t *tp_tls_anchors_new(void);

/**
 * Add every CERTIFICATE object of a PEM text as a trust anchor (a CA certificate
 * anchors chains; a non-CA one is trusted as that very server certificate).
 * Returns how many were added, or -1 with the reason in err (not PEM, or a
 * certificate that does not decode); nothing is added then.
 */
int tp_tls_anchors_add_pem(tp_tls_anchors_t *a, const char *pem, size_t len, char *err,
                           size_t errlen);

/** As tp_tls_anchors_add_pem for the PEM file at path (a CA bundle). */
int tp_tls_anchors_add_file(tp_tls_anchors_t *a, const char *path, char *err, size_t errlen);

/** Number of anchors in the set. */
int tp_tls_anchors_count(const tp_tls_anchors_t *a);

/**
 * A digest of the set's content: two sets with the same anchors have the same
 * key, whichever generation built them (keep-alive pools are keyed by it).
 */
uint64_t tp_tls_anchors_key(const tp_tls_anchors_t *a);

/** Take one more reference. Returns a. */
tp_tls_anchors_t *tp_tls_anchors_hold(tp_tls_anchors_t *a);
/** Drop one reference; the set is freed with the last one (NULL is fine). */
void tp_tls_anchors_release(tp_tls_anchors_t *a);

/**
 * A client engine for one upstream connection (about 40 KB), reset for a handshake.
 * `name` is sent as SNI and, with `anchors`, checked against the server
 * certificate; NULL sends no SNI. `anchors` NULL accepts any certificate (its key
 * is still taken from the leaf, which the key exchange needs); otherwise the chain
 * must lead to one of them and name the server, and the engine holds a reference.
 * Free with tp_tls_conn_free. NULL when the engine cannot be reset.
 */
tp_tls_conn_t *tp_tls_client_new(const char *name, tp_tls_anchors_t *anchors);

/**
 * The name to send as SNI (and to verify) for an upstream Host value: `host` may
 * carry a port (`name:443`, `[::1]:443`); the name is written lower case without a
 * trailing dot into out. Returns 1, or 0 when there is no usable name: an IP
 * literal (RFC 6066, 3: not allowed in SNI), an empty one, or one too long.
 */
int tp_tls_sni_name(const char *host, size_t len, char *out, size_t outlen);

/** A short name for a BearSSL error code ("X509_NOT_TRUSTED"), "" when unknown. */
const char *tp_tls_error_name(int code);

/** Lua: a set from a CA bundle file (path may be NULL) plus PEM text (may be empty).
 *  NULL with err when either does not load, or the PEM text holds no certificate.
 *  Free with tp_ffi_tls_anchors_free. */
tp_tls_anchors_t *tp_ffi_tls_anchors_new(const char *path, const char *pem, size_t len,
                                         char *err, size_t errlen);
/** Lua: drop the reference tp_ffi_tls_anchors_new gave. */
void tp_ffi_tls_anchors_free(tp_tls_anchors_t *a);

#endif
