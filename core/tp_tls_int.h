/*
 * tp_tls_int.h - what the two halves of TLS share and nobody else uses:
 * tp_tls.c (server side, certificate store, record pump) and tp_tls_client.c
 * (client side for upstreams, trust anchors). Not a public header.
 */
#ifndef TP_TLS_INT_H
#define TP_TLS_INT_H

#include "tp_tls.h"

#include <bearssl.h>

/*
 * The part of a TLS connection the record pump (tp_tls_recv/send/flush/close)
 * works on. The server and the client connection each embed it as their first
 * member `super` and point `eng` at their own context's engine.
 */
struct tp_tls_conn_s {
    br_ssl_engine_context *eng;
    void (*dispose)(tp_tls_conn_t *t); /* drops what the side holds and frees the connection */
    unsigned char ibuf[BR_SSL_BUFSIZE_INPUT];
    unsigned char obuf[BR_SSL_BUFSIZE_OUTPUT];
};

/* Settings both sides use on a fresh engine: TLS 1.2 only, the ECDHE suites, no
 * renegotiation, t's record buffers, and seed entropy from the kernel. */
void tp__tls_engine_setup(tp_tls_conn_t *t, br_ssl_engine_context *eng);

#endif
