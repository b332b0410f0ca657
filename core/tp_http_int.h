/*
 * tp_http_int.h - what tp_http.c (connections, parsing) and tp_http_resp.c
 * (responses) share inside the HTTP server; not for the rest of the core.
 */
#ifndef TP_HTTP_INT_H
#define TP_HTTP_INT_H

#include "tp_http.h"

/** Write what is buffered for the client; closes the connection when done and closing. */
void tp_http__conn_flush(tp_conn_t *c);
/** Read again after back-pressure paused the connection. */
void tp_http__resume_read(tp_conn_t *c);
/** Run the parser over buffered input as far as the connection's state allows. */
void tp_http__parse(tp_conn_t *c);
/** (Re)arm the connection's one timer; 0 stops it. */
void tp_http__set_timer(tp_conn_t *c, int ms);
/** The response is out or the client gone: access log, then the log phase. */
void tp_http__request_done(tp_req_t *r);
/** Reason phrase of a status code. */
const char *tp_http__status_text(int status);
/** One JSON access-log line for the request. */
void tp_http__access_log(tp_req_t *r);

/** conn_recv: read(2), or the plaintext of the TLS records that arrived. */
ssize_t tp_http__conn_recv(tp_conn_t *c, char *buf, size_t len);
/** conn_send: write(2), or through the TLS engine. */
ssize_t tp_http__conn_send(tp_conn_t *c, const char *p, size_t n);
/** Close the connection now (its request, if any, is detached and finishes on its own). */
void tp_http__conn_close(tp_conn_t *c);
/** Consume the rest of an upgrade request's head, leaving only the new protocol's bytes in `in`. */
void tp_http__end_upgrade_head(tp_conn_t *c);

#endif
