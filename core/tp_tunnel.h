/*
 * tp_tunnel.h - upgraded connections (WebSocket and any other HTTP/1.1 Upgrade):
 * after a 101 Switching Protocols the client and upstream connections carry raw
 * bytes both ways until either side closes.
 */
#ifndef TP_TUNNEL_H
#define TP_TUNNEL_H

#include "tp_req.h"

#include <stddef.h>

typedef struct tp_tunnel_s tp_tunnel_t;

/**
 * Turn r's client connection and its upstream connection u (which answered 101;
 * the head is queued for the client) into a tunnel. rest/n are the bytes that
 * followed the 101 head. The tunnel takes u, the client connection and r: when it
 * ends it closes both connections and finishes r (access log, log phase).
 */
void tp_tunnel_start(tp_req_t *r, tp_upconn_t *u, const char *rest, size_t n);

/** End the tunnel now: close both sides, finish the request, free the tunnel. */
void tp_tunnel_close(tp_tunnel_t *t);

#endif
