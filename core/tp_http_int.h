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

#endif
