/*
 * test_tls_client.c - tp_tls_client: trust anchors from PEM (count, content key,
 * refusals), the SNI name of an upstream Host value, and real TLS 1.2 handshakes
 * over a socketpair between tp_tls_client_new and the server engine of tp_tls.c:
 * a chain to the right CA passes, a wrong CA, another name and a server that is
 * not TLS fail with BearSSL's code, and "no verification" accepts any certificate.
 * The certificates are those of tp_test_certs.h.
 */
#include "tp_tls.h"
#include "tp_test.h"
#include "tp_test_certs.h"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LEN(s) (sizeof(s) - 1)

static void test_sni_name(void)
{
    char out[256];
#define NAME(in, ok) tp_tls_sni_name(in, strlen(in), out, sizeof(out)) == (ok)
    TP_CHECK(NAME("API.Example.com", 1) && strcmp(out, "api.example.com") == 0);
    TP_CHECK(NAME("example.com:8443", 1) && strcmp(out, "example.com") == 0);
    TP_CHECK(NAME("example.com.", 1) && strcmp(out, "example.com") == 0);
    TP_CHECK(NAME("localhost", 1) && strcmp(out, "localhost") == 0);
    /* RFC 6066, 3: no IP literals as SNI */
    TP_CHECK(NAME("127.0.0.1", 0));
    TP_CHECK(NAME("127.0.0.1:443", 0));
    TP_CHECK(NAME("[::1]:443", 0));
    TP_CHECK(NAME("::1", 0));
    TP_CHECK(NAME("", 0));
    TP_CHECK(NAME(":443", 0));
#undef NAME
    char small[4];
    TP_CHECK(tp_tls_sni_name("toolong.test", 12, small, sizeof(small)) == 0);
    TP_CHECK(tp_tls_sni_name(NULL, 0, out, sizeof(out)) == 0);
}

static void test_anchors(void)
{
    char err[256] = "";
    tp_tls_anchors_t *a = tp_tls_anchors_new();
    TP_CHECK(tp_tls_anchors_count(a) == 0);
    uint64_t empty = tp_tls_anchors_key(a);
    TP_CHECK(tp_tls_anchors_add_pem(a, TEST_CA_CRT, LEN(TEST_CA_CRT), err, sizeof(err)) == 1);
    TP_CHECK(tp_tls_anchors_count(a) == 1);
    TP_CHECK(tp_tls_anchors_key(a) != empty);

    /* the same content gives the same key (pools survive reloads); other content not */
    tp_tls_anchors_t *b = tp_tls_anchors_new();
    TP_CHECK(tp_tls_anchors_add_pem(b, TEST_CA_CRT, LEN(TEST_CA_CRT), err, sizeof(err)) == 1);
    TP_CHECK(tp_tls_anchors_key(a) == tp_tls_anchors_key(b));
    char two[4096];
    snprintf(two, sizeof(two), "%s\n%s", TEST_OTHER_CRT, TEST_UP_CRT);
    TP_CHECK(tp_tls_anchors_add_pem(b, two, strlen(two), err, sizeof(err)) == 2);
    TP_CHECK(tp_tls_anchors_count(b) == 3);
    TP_CHECK(tp_tls_anchors_key(a) != tp_tls_anchors_key(b));

    /* refusals add nothing */
    TP_CHECK(tp_tls_anchors_add_pem(a, "junk", 4, err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "not valid PEM") != NULL);
    static const char bogus[] = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    char mixed[4096];
    snprintf(mixed, sizeof(mixed), "%s%s", TEST_OTHER_CRT, bogus);
    TP_CHECK(tp_tls_anchors_add_pem(a, mixed, strlen(mixed), err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "certificate 2: not a valid X.509") != NULL);
    TP_CHECK(tp_tls_anchors_count(a) == 1);
    TP_CHECK(tp_tls_anchors_add_file(a, "/nonexistent/ca.pem", err, sizeof(err)) < 0);
    TP_CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);

    /* the Lua entry point: PEM without a certificate is an error there */
    TP_CHECK(tp_ffi_tls_anchors_new(NULL, TEST_UP_KEY, LEN(TEST_UP_KEY), err, sizeof(err)) == NULL);
    TP_CHECK(strstr(err, "no CERTIFICATE") != NULL);
    tp_tls_anchors_t *c = tp_ffi_tls_anchors_new(NULL, TEST_CA_CRT, LEN(TEST_CA_CRT), err, sizeof(err));
    TP_CHECK(c != NULL && tp_tls_anchors_key(c) == tp_tls_anchors_key(a));
    tp_ffi_tls_anchors_free(c);

    TP_CHECK(tp_tls_anchors_hold(a) == a);
    tp_tls_anchors_release(a);
    tp_tls_anchors_release(a);
    tp_tls_anchors_release(b);
    tp_tls_anchors_release(NULL);
}

static tp_tls_anchors_t *anchors_of(const char *pem, size_t len)
{
    char err[256];
    tp_tls_anchors_t *a = tp_tls_anchors_new();
    TP_CHECK(tp_tls_anchors_add_pem(a, pem, len, err, sizeof(err)) >= 0);
    return a;
}

/*
 * One exchange between a client engine and the server engine serving up.test (leaf,
 * then the CA). The client says "ping", the server "pong". Returns 0 when the client
 * read "pong", else the client's BearSSL error (-1 when nothing finished). With
 * `plain` the server side is not TLS: it answers the ClientHello with HTTP.
 */
static int exchange(const char *name, tp_tls_anchors_t *anchors, int drop_anchors, int plain,
                    char *server_saw, size_t server_saw_len)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    char err[256], chain[4096];
    snprintf(chain, sizeof(chain), "%s%s", TEST_UP_CRT, TEST_CA_CRT);
    tp_tls_store_t *s = tp_tls_store_new();
    TP_CHECK(tp_tls_store_add(s, chain, strlen(chain), TEST_UP_KEY, LEN(TEST_UP_KEY), NULL, 0, NULL, 0,
                              NULL, 0, err, sizeof(err)) == 0);
    tp_tls_conn_t *srv = tp_tls_conn_new(s);
    tp_tls_conn_t *cli = tp_tls_client_new(name, anchors);
    if (drop_anchors)
        tp_tls_anchors_release(anchors); /* only the connection holds them now */
    int result = -1, sent = 0, answered = 0;
    char buf[16384];
    for (int round = 0; round < 2000; round++) {
        int hs = tp_tls_handshake(cli, sv[1]);
        if (hs < 0) {
            result = tp_tls_last_error(cli);
            break;
        }
        if (hs == 0 && !sent) {
            TP_CHECK(tp_tls_send(cli, sv[1], "ping", 4) == 4);
            sent = 1;
        }
        if (sent) {
            ssize_t n = tp_tls_recv(cli, sv[1], buf, sizeof(buf));
            if (n == 4 && memcmp(buf, "pong", 4) == 0) {
                result = 0;
                break;
            }
        }
        if (plain) {
            if (read(sv[0], buf, sizeof(buf)) > 0 && !answered) {
                static const char resp[] = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
                TP_CHECK(write(sv[0], resp, LEN(resp)) == (ssize_t)LEN(resp));
                answered = 1;
            }
            continue;
        }
        ssize_t n = tp_tls_recv(srv, sv[0], buf, sizeof(buf));
        if (n == 4 && memcmp(buf, "ping", 4) == 0 && !answered) {
            TP_CHECK(tp_tls_send(srv, sv[0], "pong", 4) == 4);
            answered = 1;
        }
    }
    if (server_saw)
        snprintf(server_saw, server_saw_len, "%s", tp_tls_server_name(srv));
    tp_tls_close(cli, sv[1]);
    tp_tls_conn_free(cli);
    tp_tls_conn_free(srv);
    tp_tls_store_release(s);
    close(sv[0]);
    close(sv[1]);
    return result;
}

static void test_verified_chain(void)
{
    tp_tls_anchors_t *ca = anchors_of(TEST_CA_CRT, LEN(TEST_CA_CRT));
    char saw[256] = "?";
    TP_CHECK(exchange("up.test", ca, 0, 0, saw, sizeof(saw)) == 0);
    TP_CHECK(strcmp(saw, "up.test") == 0); /* SNI went out */
    /* the CA among others in a bundle */
    char bundle[4096];
    snprintf(bundle, sizeof(bundle), "%s%s", TEST_OTHER_CRT, TEST_CA_CRT);
    tp_tls_anchors_t *both = anchors_of(bundle, strlen(bundle));
    TP_CHECK(exchange("UP.test", both, 0, 0, NULL, 0) == 0);
    tp_tls_anchors_release(both);
    /* a non-CA anchor is trusted as that very server certificate */
    tp_tls_anchors_t *leaf = anchors_of(TEST_UP_CRT, LEN(TEST_UP_CRT));
    TP_CHECK(exchange("up.test", leaf, 0, 0, NULL, 0) == 0);
    tp_tls_anchors_release(leaf);
    tp_tls_anchors_release(ca);
}

static void test_verify_failures(void)
{
    tp_tls_anchors_t *other = anchors_of(TEST_OTHER_CRT, LEN(TEST_OTHER_CRT));
    TP_CHECK(exchange("up.test", other, 0, 0, NULL, 0) == BR_ERR_X509_NOT_TRUSTED);
    tp_tls_anchors_release(other);

    tp_tls_anchors_t *ca = anchors_of(TEST_CA_CRT, LEN(TEST_CA_CRT));
    TP_CHECK(exchange("other.test", ca, 0, 0, NULL, 0) == BR_ERR_X509_BAD_SERVER_NAME);
    tp_tls_anchors_release(ca);

    /* an empty set trusts nothing: never an open door */
    tp_tls_anchors_t *none = tp_tls_anchors_new();
    TP_CHECK(exchange("up.test", none, 0, 0, NULL, 0) == BR_ERR_X509_NOT_TRUSTED);
    tp_tls_anchors_release(none);
    TP_CHECK(strcmp(tp_tls_error_name(BR_ERR_X509_NOT_TRUSTED), "X509_NOT_TRUSTED") == 0);
    TP_CHECK(strcmp(tp_tls_error_name(BR_ERR_X509_BAD_SERVER_NAME), "X509_BAD_SERVER_NAME") == 0);
    TP_CHECK(strcmp(tp_tls_error_name(BR_ERR_RECV_FATAL_ALERT + 42), "RECEIVED_FATAL_ALERT") == 0);
    TP_CHECK(strcmp(tp_tls_error_name(11), "") == 0);
}

static void test_no_verification(void)
{
    char saw[256] = "?";
    /* any certificate, any name: the key still comes from the leaf */
    TP_CHECK(exchange("other.test", NULL, 0, 0, saw, sizeof(saw)) == 0);
    TP_CHECK(strcmp(saw, "other.test") == 0);
    TP_CHECK(exchange(NULL, NULL, 0, 0, saw, sizeof(saw)) == 0);
    TP_CHECK(strcmp(saw, "") == 0); /* no SNI */
}

static void test_not_tls(void)
{
    int e = exchange("up.test", NULL, 0, 1, NULL, 0);
    TP_CHECK(e != 0 && e != -1);
}

/* A pooled connection outlives its generation: the anchors go with the last holder. */
static void test_anchors_outlive_caller(void)
{
    tp_tls_anchors_t *ca = anchors_of(TEST_CA_CRT, LEN(TEST_CA_CRT));
    TP_CHECK(exchange("up.test", ca, 1, 0, NULL, 0) == 0);
}

int main(void)
{
    TP_RUN(test_sni_name);
    TP_RUN(test_anchors);
    TP_RUN(test_verified_chain);
    TP_RUN(test_verify_failures);
    TP_RUN(test_no_verification);
    TP_RUN(test_not_tls);
    TP_RUN(test_anchors_outlive_caller);
    return TP_TEST_REPORT();
}
