/*
 * tp_upstream.h - proxying a request to its upstream target: connecting (with
 * per-worker keep-alive pools per target), sending the request head and body,
 * parsing the response with http-parser and streaming it back, timeouts and
 * retries on connect failure.
 */
#ifndef TP_UPSTREAM_H
#define TP_UPSTREAM_H

#include "tp_req.h"
#include "tp_worker.h"

/** Connect to r->targets[r->target_idx] (or reuse an idle connection) and send. */
void tp_upstream_start(tp_req_t *r);
/** Client body bytes for the upstream. Returns 1 when the caller should pause. */
int tp_upstream_send_body(tp_req_t *r, const char *data, size_t n);
/** The client's body is complete. */
void tp_upstream_body_done(tp_req_t *r);
/** Send now the body bytes queued so far (after each read from the client: a slow client's
 *  body reaches the upstream as it comes, not 64 KB at a time). May end the request. */
void tp_upstream_push_body(tp_req_t *r);
/** The head was sent: body bytes may flow. */
int tp_upstream_ready_for_body(tp_req_t *r);
/** The client's buffer drained: read more of the response. */
void tp_upstream_resume_read(tp_req_t *r);
/** Drop the upstream connection of r (client gone or request over). */
void tp_upstream_abort(tp_req_t *r);
/** Close every idle pooled connection of the worker. */
void tp_upstream_close_idle(tp_worker_t *w);

#endif
