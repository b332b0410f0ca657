/*
 * tp_req.h - one HTTP request as the core and the Lua bridge see it: the parsed
 * client request, what plugins changed for the upstream, the response being
 * built, and the progress of the request through its phases. The request and
 * everything it points to live in its arena (r->pool) unless noted.
 */
#ifndef TP_REQ_H
#define TP_REQ_H

#include "tp_buf.h"
#include "tp_pool.h"

#include <ev.h>
#include <stdint.h>

typedef struct tp_conn_s tp_conn_t;
typedef struct tp_gen_s tp_gen_t;
typedef struct tp_upconn_s tp_upconn_t;
typedef struct tp_worker_s tp_worker_t;

typedef struct {
    char *name;
    char *value;
    uint32_t nlen;
    uint32_t vlen;
    uint8_t deleted;
    uint8_t conn_listed; /* named in its message's own Connection header: not forwarded */
    uint8_t op; /* in resp_ops only: TP_HOP_SET, TP_HOP_ADD or TP_HOP_CLEAR */
} tp_header_t;

enum { TP_HOP_SET = 0, TP_HOP_ADD, TP_HOP_CLEAR };

typedef struct {
    tp_header_t *items;
    int n, cap;
} tp_headers_t;

/* Where the request is. */
enum {
    TP_REQ_HEADERS = 0, /* reading the request head */
    TP_REQ_LUA,         /* rewrite/access running (maybe waiting on I/O) */
    TP_REQ_READ_BODY,   /* Lua asked for the whole body */
    TP_REQ_UPSTREAM,    /* proxying */
    TP_REQ_RESPONDING,  /* a gateway-made response is being written */
    TP_REQ_LOG,         /* response sent, log phase running */
    TP_REQ_DONE,
};

/* What a waiting coroutine waits for. */
enum { TP_WAIT_NONE = 0, TP_WAIT_SLEEP, TP_WAIT_BODY, TP_WAIT_IO };

#define TP_MAX_TARGETS 16

typedef struct {
    char *host; /* in the request's pool */
    int port;
} tp_target_t;

typedef struct tp_req_s {
    uint32_t id;
    char id_hex[33];
    tp_pool_t *pool;
    tp_conn_t *conn;   /* NULL once the client went away */
    tp_worker_t *w;
    tp_gen_t *gen;     /* generation pinned for the request's life */
    int state;
    uint64_t start_us;
    uint64_t start_wall_ms;
    char client_ip[64];
    int client_port;
    int listen_port;
    int is_admin;
    int tls;           /* came over an ssl listener */

    /* client request */
    int method;        /* http_parser method */
    const char *method_name;
    char *url;
    size_t url_len;
    char *path;        /* points into url */
    size_t path_len;
    char *query;       /* after '?', may be NULL */
    size_t query_len;
    int http_major, http_minor;
    tp_headers_t headers; /* the client's headers; set/clear from plugins edit this list */
    char *host;           /* Host header without port, lower case */
    int keepalive;
    int expect_continue;
    int upgrade;          /* a GET asking to switch protocols (Connection: upgrade + Upgrade) */
    int has_body;         /* Content-Length > 0 or chunked */
    int64_t content_length; /* -1 when unknown (chunked) */
    uint64_t body_received;
    int body_done;
    tp_buf_t body;        /* buffered body (read_body) or replacement (set_body) */
    int body_buffered;    /* body is entirely in r->body */
    int body_replaced;
    int body_error;       /* 413/400 found while Lua waited for the body */

    /* upstream request as plugins/router left it */
    char *up_method;
    char *up_path;
    char *up_query;       /* NULL = client's query */
    int up_query_set;
    char *up_host_header; /* NULL = target host:port */
    int preserve_host;
    tp_target_t *targets; /* TP_MAX_TARGETS slots in the pool, made when Lua sets the first */
    int ntargets, target_idx;
    int connect_timeout_ms, write_timeout_ms, read_timeout_ms;
    int retries, tries;
    int up_tls;                            /* https service: TLS to every target */
    struct tp_tls_anchors_s *up_anchors;   /* verify against these; NULL = accept any
                                            * certificate (the generation's Lua owns them) */
    /* what each connection attempt came to, for passive health checks */
    int attempt_target[TP_MAX_TARGETS];
    int attempt_outcome[TP_MAX_TARGETS]; /* TP_OUTCOME_* */
    int nattempts;
    char *upstream_name;
    tp_upconn_t *up;
    int up_error_status;      /* a failed exchange's answer, written from the loop */
    const char *up_error_msg; /* static string */
    uint64_t up_start_us, up_header_us;

    /* response */
    int status;
    tp_headers_t resp_headers; /* upstream's, or a gateway-made response's */
    tp_headers_t resp_ops;     /* set/add/clear queued before upstream headers arrive */
    int resp_source;           /* 0 none, 1 exit, 2 service, 3 error */
    tp_buf_t exit_body;
    int resp_head_sent;
    int resp_chunked;          /* re-chunking towards the client */
    int resp_aborted;          /* the upstream failed after the head went out: no clean end */
    uint64_t bytes_sent;      /* body bytes */
    uint64_t head_sent_bytes; /* status line and headers */
    uint32_t head_bytes;      /* bytes of the request head */
    int svc_status;
    tp_headers_t svc_headers;

    /* Lua */
    int co_ref;    /* registry ref of the running coroutine in gen->L, or LUA_NOREF */
    int wait;      /* TP_WAIT_* */
    ev_timer sleep_timer;
    int aborted;   /* client went away: never resume Lua with a dead connection */
    int lua_ctx;   /* the request is known to Lua (ctx table exists) */
    struct tp_timer_s *timer; /* set when this is a timer's pseudo-request (no client) */
    struct tp_cache_req_s *cache; /* response-cache state, once the cache was consulted */
    int bg;          /* refreshing a cache entry after the client got the stale copy */
    int up_complete; /* the upstream response arrived whole */
    int use_stale;   /* the upstream failed: serve the stale cached copy instead */
} tp_req_t;

/* Outcome of one upstream attempt (the breaker's vocabulary). */
enum { TP_OUTCOME_SUCCESS = 0, TP_OUTCOME_TCP_FAILURE, TP_OUTCOME_TIMEOUT, TP_OUTCOME_STALE };
/* TP_OUTCOME_STALE: a pooled keep-alive connection the target had closed; not a
 * failure of the target (the request is retried on a fresh connection). */

#define TP_SRC_NONE 0
#define TP_SRC_EXIT 1
#define TP_SRC_SERVICE 2
#define TP_SRC_ERROR 3

/** The request id (32 hex digits), made on first use. */
const char *tp_req_id(tp_req_t *r);

/** Append a header to a list (name/value copied into the pool). */
void tp_headers_add(tp_pool_t *pool, tp_headers_t *h, const char *name, size_t nlen,
                    const char *value, size_t vlen);
/** Apply queued set/add/clear operations (ops, whose names and values live in pool) to dst,
 * in order, then empty ops. */
void tp_headers_apply_ops(tp_pool_t *pool, tp_headers_t *dst, tp_headers_t *ops);
/** First live header with that name (case-insensitive), or NULL. */
tp_header_t *tp_headers_find(tp_headers_t *h, const char *name, size_t nlen);
/** Header names equal ignoring case, with "_" matching "-". */
int tp_header_name_eq(const char *a, size_t alen, const char *b, size_t blen);
/** Mark every header with that name deleted; returns how many. */
int tp_headers_clear(tp_headers_t *h, const char *name, size_t nlen);
/** Mark the headers that h's own Connection header names (conn_listed), as a message
 *  arrives: headers plugins set later are not marked, so a Connection header cannot take
 *  them out of the message. */
void tp_headers_mark_conn_listed(tp_headers_t *h);
/** Is name listed in a Connection header of h (hop-by-hop for this message)? */
int tp_headers_conn_listed(tp_headers_t *h, const char *name, size_t nlen);
/** Does a Connection header of h list tokens other than keep-alive / close? */
int tp_headers_conn_tokens(tp_headers_t *h);

#endif
