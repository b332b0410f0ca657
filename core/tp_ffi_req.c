/*
 * tp_ffi_req.c - the request API that Lua reaches through the FFI
 * (lua/turnpike/ffi/req.lua declares these). Strings go out as (pointer,
 * length) pairs that stay valid until the request ends or the same header is
 * changed; nothing here copies headers into Lua unless Lua asks for them.
 *
 * What plugins put into a head (header names and values, the upstream path and
 * query) may come from clients (a claim, a query argument): bytes that would end
 * a line or a field there are written %XX instead (as OpenResty does), so no value
 * can add a header or a request of its own.
 */
#include "tp_bridge.h"
#include "tp_http.h"
#include "tp_log.h"
#include "tp_node.h"
#include "tp_req.h"
#include "tp_util.h"

#include <signal.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

/* Which bytes are written %XX where: in a path or query, a header name, a header value.
 * Control bytes and DEL everywhere, but a value keeps SP and HTAB; a name loses ':'. */
enum { IN_TARGET = 1, IN_NAME = 2, IN_VALUE = 4 };
static const uint8_t escape_in[256] = {
    [0 ... 0x08] = IN_TARGET | IN_NAME | IN_VALUE,
    ['\t'] = IN_TARGET | IN_NAME,
    [0x0a ... 0x1f] = IN_TARGET | IN_NAME | IN_VALUE,
    [' '] = IN_TARGET | IN_NAME,
    [':'] = IN_NAME,
    [0x7f] = IN_TARGET | IN_NAME | IN_VALUE,
};

static int must_escape(unsigned char c, int where)
{
    return escape_in[c] & where;
}

/* s as it is when no byte must be escaped (the usual case: no copy), else a copy
 * in r's pool with those bytes as %XX; *n is updated */
static const char *escaped(tp_req_t *r, const char *s, size_t *n, int where)
{
    size_t bad = 0;
    for (size_t i = 0; i < *n; i++)
        bad += must_escape((unsigned char)s[i], where);
    if (bad == 0)
        return s;
    static const char hex[] = "0123456789ABCDEF";
    char *out = tp_pool_alloc(r->pool, *n + 2 * bad + 1), *o = out;
    for (size_t i = 0; i < *n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (must_escape(c, where)) {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    *n = (size_t)(o - out);
    return out;
}

const char *tp_ffi_req_id(tp_req_t *r)
{
    return tp_req_id(r);
}

const char *tp_ffi_req_method(tp_req_t *r, size_t *len)
{
    const char *m = r->up_method ? r->up_method : r->method_name;
    *len = strlen(m);
    return m;
}

/* http-parser's method number, or -1 when a plugin changed the method (Lua then
 * asks for the string). Lets Lua keep one string per method. */
int tp_ffi_req_method_id(tp_req_t *r)
{
    return r->up_method ? -1 : r->method;
}

const char *tp_ffi_req_path(tp_req_t *r, size_t *len)
{
    *len = r->path_len;
    return r->path;
}

const char *tp_ffi_req_query(tp_req_t *r, size_t *len)
{
    if (r->up_query_set) {
        *len = r->up_query ? strlen(r->up_query) : 0;
        return r->up_query ? r->up_query : "";
    }
    *len = r->query_len;
    return r->query ? r->query : "";
}

const char *tp_ffi_req_host(tp_req_t *r, size_t *len)
{
    *len = r->host ? strlen(r->host) : 0;
    return r->host ? r->host : "";
}

int tp_ffi_req_port(tp_req_t *r)
{
    return r->listen_port;
}

int tp_ffi_req_is_admin(tp_req_t *r)
{
    return r->is_admin;
}

int tp_ffi_req_is_tls(tp_req_t *r)
{
    return r->tls;
}

int tp_ffi_req_is_upgrade(tp_req_t *r)
{
    return r->upgrade;
}

const char *tp_ffi_req_client_ip(tp_req_t *r, size_t *len)
{
    *len = strlen(r->client_ip);
    return r->client_ip;
}

int tp_ffi_req_client_port(tp_req_t *r)
{
    return r->client_port;
}

int tp_ffi_req_http_version(tp_req_t *r)
{
    return r->http_major * 10 + r->http_minor;
}

double tp_ffi_req_start_ms(tp_req_t *r)
{
    return (double)r->start_wall_ms;
}

/* ---- headers ------------------------------------------------------------------ */

static tp_headers_t *pick(tp_req_t *r, int which)
{
    switch (which) {
    case 0: return &r->headers;
    case 1: return &r->resp_headers;
    default: return &r->svc_headers;
    }
}

int tp_ffi_headers_count(tp_req_t *r, int which)
{
    return pick(r, which)->n;
}

/* Header i of a list: 0 and the strings, or -1 when that slot was removed. */
int tp_ffi_headers_at(tp_req_t *r, int which, int i, const char **name, size_t *nlen,
                      const char **value, size_t *vlen)
{
    tp_headers_t *h = pick(r, which);
    if (i < 0 || i >= h->n || h->items[i].deleted)
        return -1;
    *name = h->items[i].name;
    *nlen = h->items[i].nlen;
    *value = h->items[i].value;
    *vlen = h->items[i].vlen;
    return 0;
}

/* The first value of a header and how many times the header occurs. */
const char *tp_ffi_headers_get_n(tp_req_t *r, int which, const char *name, size_t nlen,
                                 size_t *vlen, int *count)
{
    tp_headers_t *h = pick(r, which);
    const char *first = NULL;
    int n = 0;
    for (int i = 0; i < h->n; i++) {
        tp_header_t *x = &h->items[i];
        if (x->deleted || !tp_header_name_eq(x->name, x->nlen, name, nlen))
            continue;
        if (n++ == 0) {
            first = x->value;
            *vlen = x->vlen;
        }
    }
    *count = n;
    return first;
}

const char *tp_ffi_headers_get(tp_req_t *r, int which, const char *name, size_t nlen, size_t *vlen)
{
    tp_header_t *h = tp_headers_find(pick(r, which), name, nlen);
    if (h == NULL)
        return NULL;
    *vlen = h->vlen;
    return h->value;
}

/* Request headers (what goes upstream): op 0 set, 1 add, 2 clear. */
void tp_ffi_req_header_op(tp_req_t *r, int op, const char *name, size_t nlen, const char *value,
                          size_t vlen)
{
    name = escaped(r, name, &nlen, IN_NAME);
    value = escaped(r, value, &vlen, IN_VALUE);
    if (op != TP_HOP_ADD)
        tp_headers_clear(&r->headers, name, nlen);
    if (op != TP_HOP_CLEAR)
        tp_headers_add(r->pool, &r->headers, name, nlen, value, vlen);
    if (tp_strieq(name, nlen, "host")) /* cleared: the target's (or preserved) Host again */
        r->up_host_header = op == TP_HOP_CLEAR ? NULL : tp_pool_strndup(r->pool, value, vlen);
}

/* Response headers: before the response exists they are queued and applied to
 * whatever response comes (the service's or an exit). */
void tp_ffi_resp_header_op(tp_req_t *r, int op, const char *name, size_t nlen, const char *value,
                           size_t vlen)
{
    name = escaped(r, name, &nlen, IN_NAME);
    value = escaped(r, value, &vlen, IN_VALUE);
    if (r->resp_source == TP_SRC_NONE) {
        tp_headers_add(r->pool, &r->resp_ops, name, nlen, value, vlen);
        r->resp_ops.items[r->resp_ops.n - 1].op = op;
        return;
    }
    if (op != TP_HOP_ADD)
        tp_headers_clear(&r->resp_headers, name, nlen);
    if (op != TP_HOP_CLEAR)
        tp_headers_add(r->pool, &r->resp_headers, name, nlen, value, vlen);
}

/* The same with a whole number as the value, written here: Lua need not make a string of a
 * counter that changes every request (rate-limiting's Remaining, for one). */
void tp_ffi_resp_header_op_int(tp_req_t *r, int op, const char *name, size_t nlen, int64_t value)
{
    char digits[24], *p = digits + sizeof(digits);
    uint64_t v = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (value < 0)
        *--p = '-';
    tp_ffi_resp_header_op(r, op, name, nlen, p, (size_t)(digits + sizeof(digits) - p));
}

/* The value a response header will have, counting queued operations. */
const char *tp_ffi_resp_get_header(tp_req_t *r, const char *name, size_t nlen, size_t *vlen)
{
    if (r->resp_source != TP_SRC_NONE)
        return tp_ffi_headers_get(r, 1, name, nlen, vlen);
    const char *found = NULL;
    for (int i = 0; i < r->resp_ops.n; i++) {
        tp_header_t *h = &r->resp_ops.items[i];
        if (h->nlen == nlen && strncasecmp(h->name, name, nlen) == 0) {
            if (h->op == TP_HOP_CLEAR) {
                found = NULL;
            } else if (h->op == TP_HOP_SET || found == NULL) {
                found = h->value;
                *vlen = h->vlen;
            }
        }
    }
    return found;
}

/* ---- what goes upstream ---------------------------------------------------------- */

void tp_ffi_req_set_method(tp_req_t *r, const char *m, size_t n)
{
    r->up_method = tp_pool_strndup(r->pool, m, n);
}

void tp_ffi_req_set_path(tp_req_t *r, const char *p, size_t n)
{
    p = escaped(r, p, &n, IN_TARGET);
    r->up_path = tp_pool_strndup(r->pool, p, n);
}

void tp_ffi_req_set_query(tp_req_t *r, const char *q, size_t n)
{
    q = escaped(r, q, &n, IN_TARGET);
    r->up_query = tp_pool_strndup(r->pool, q, n);
    r->up_query_set = 1;
}

void tp_ffi_req_set_body(tp_req_t *r, const char *b, size_t n)
{
    tp_buf_reset(&r->body);
    tp_buf_append(&r->body, b, n);
    r->body_replaced = 1;
    tp_headers_clear(&r->headers, "transfer-encoding", 17);
}

void tp_ffi_req_clear_targets(tp_req_t *r)
{
    r->ntargets = 0;
    r->target_idx = 0;
}

int tp_ffi_req_add_target(tp_req_t *r, const char *host, size_t hlen, int port)
{
    if (r->ntargets >= TP_MAX_TARGETS || hlen >= 256)
        return -EINVAL;
    if (r->targets == NULL)
        r->targets = tp_pool_alloc(r->pool, sizeof(tp_target_t) * TP_MAX_TARGETS);
    tp_target_t *t = &r->targets[r->ntargets++];
    t->host = tp_pool_strndup(r->pool, host, hlen);
    t->port = port;
    return 0;
}

void tp_ffi_req_set_proxy(tp_req_t *r, int connect_ms, int write_ms, int read_ms, int retries,
                          int preserve_host)
{
    if (connect_ms > 0)
        r->connect_timeout_ms = connect_ms;
    if (write_ms > 0)
        r->write_timeout_ms = write_ms;
    if (read_ms > 0)
        r->read_timeout_ms = read_ms;
    if (retries >= 0)
        r->retries = retries;
    r->preserve_host = preserve_host;
}

/* An https service: TLS to the targets, verifying against `anchors` (NULL: accept any
 * certificate). The anchors belong to the request's generation, which outlives it. */
void tp_ffi_req_set_tls(tp_req_t *r, int tls, struct tp_tls_anchors_s *anchors)
{
    r->up_tls = tls;
    r->up_anchors = tls ? anchors : NULL;
}

/* ---- body ------------------------------------------------------------------------ */

/* 0: the whole body is in r->body; TP_AGAIN: wait (Lua yields, resumed when it
 * is complete); -EPIPE: the client went away; -E2BIG: over client_max_body_size. */
int tp_ffi_req_read_body(tp_req_t *r)
{
    if (r->body_error)
        return r->body_error == 413 ? -E2BIG : -EPROTO;
    if (r->body_replaced || (r->body_buffered && r->body_done))
        return 0;
    if (r->aborted || r->conn == NULL)
        return -EPIPE;
    if (r->body_done) {
        r->body_buffered = 1;
        return 0;
    }
    r->body_buffered = 1;
    r->state = TP_REQ_READ_BODY;
    r->wait = TP_WAIT_NONE; /* completing right away must not resume a running coroutine */
    tp_http_read_body(r);
    if (r->state != TP_REQ_READ_BODY) {
        if (r->body_error)
            return r->body_error == 413 ? -E2BIG : -EPROTO;
        return r->aborted ? -EPIPE : 0;
    }
    r->wait = TP_WAIT_BODY;
    return TP_AGAIN;
}

const char *tp_ffi_req_body(tp_req_t *r, size_t *len)
{
    *len = tp_buf_size(&r->body);
    return tp_buf_data(&r->body) ? tp_buf_data(&r->body) : "";
}

/* ---- response ---------------------------------------------------------------------- */

int tp_ffi_resp_status(tp_req_t *r)
{
    return r->status;
}

void tp_ffi_resp_set_status(tp_req_t *r, int status)
{
    r->status = status;
}

int tp_ffi_resp_source(tp_req_t *r)
{
    return r->resp_source;
}

int tp_ffi_svc_status(tp_req_t *r)
{
    return r->svc_status;
}

void tp_ffi_resp_exit(tp_req_t *r, int status, const char *body, size_t n)
{
    r->status = status;
    r->resp_source = TP_SRC_EXIT;
    r->resp_headers.n = 0;
    tp_buf_reset(&r->exit_body);
    tp_buf_append(&r->exit_body, body, n);
    /* queued header operations become this response's headers */
    tp_headers_apply_ops(r->pool, &r->resp_headers, &r->resp_ops);
}

/* ---- waiting ---------------------------------------------------------------------- */

static void on_sleep_done(struct ev_loop *loop, ev_timer *t, int revents)
{
    tp_req_t *r = tp_container_of(t, tp_req_t, sleep_timer);
    tp_bridge_resume(r);
}

int tp_ffi_sleep(tp_req_t *r, double ms)
{
    ev_timer_init(&r->sleep_timer, on_sleep_done, ms > 0 ? ms / 1000.0 : 0.0, 0.0);
    ev_timer_start(r->w->loop, &r->sleep_timer);
    r->wait = TP_WAIT_SLEEP;
    return TP_AGAIN;
}

/* ---- misc ------------------------------------------------------------------------- */

void tp_ffi_log(int level, const char *msg, size_t len)
{
    tp_log(level, "%.*s", (int)len, msg);
}

double tp_ffi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

double tp_ffi_monotonic_ms(void)
{
    return (double)tp_now_us() / 1000.0;
}

int tp_ffi_worker_count(void)
{
    tp_ctl_t *ctl = tp_ctl();
    return ctl ? ctl->nworkers : 0;
}

/* Status of worker slot i for the admin API: 0, or -1 when the slot is empty. */
int tp_ffi_worker_status(int i, int *pid, double *generation, double *loaded_at, double *requests,
                         double *connections)
{
    tp_ctl_t *ctl = tp_ctl();
    if (ctl == NULL || i < 0 || i >= ctl->nworkers || ctl->workers[i].pid == 0)
        return -1;
    tp_worker_status_t *s = &ctl->workers[i];
    *pid = s->pid;
    *generation = (double)s->generation;
    *loaded_at = (double)s->loaded_at_ms;
    *requests = (double)s->requests;
    *connections = (double)s->connections;
    return 0;
}

double tp_ffi_ctl_generation(void)
{
    tp_ctl_t *ctl = tp_ctl();
    return ctl ? (double)ctl->generation : 0;
}

/* A config posted to the admin API was validated and written to path: ask the
 * master to roll every worker onto it. */
int tp_ffi_ctl_post_config(const char *path)
{
    tp_ctl_t *ctl = tp_ctl();
    if (ctl == NULL)
        return -ENOENT;
    snprintf(ctl->posted_path, sizeof(ctl->posted_path), "%s", path);
    return kill(ctl->master_pid, SIGUSR2) == 0 ? 0 : -errno;
}

int tp_ffi_ctl_reload(void)
{
    tp_ctl_t *ctl = tp_ctl();
    if (ctl == NULL)
        return -ENOENT;
    return kill(ctl->master_pid, SIGHUP) == 0 ? 0 : -errno;
}

/* The connection attempts of this request: fills up to max (target index into
 * the list Lua gave, TP_OUTCOME_*) and returns how many there were. A response
 * counts as success here; Lua judges its status against http_statuses. */
int tp_ffi_req_attempts(tp_req_t *r, int *target, int *outcome, int max)
{
    int n = r->nattempts < max ? r->nattempts : max;
    for (int i = 0; i < n; i++) {
        target[i] = r->attempt_target[i];
        outcome[i] = r->attempt_outcome[i];
    }
    return n;
}

/* Sizes and times for the log phase: out[0] bytes received (head + body), out[1]
 * bytes sent (head + body), out[2] total ms so far, out[3] upstream ms (to its
 * response head; -1 when the request was not proxied). */
void tp_ffi_req_stats(tp_req_t *r, double *out)
{
    out[0] = (double)(r->head_bytes + r->body_received);
    out[1] = (double)(r->bytes_sent + r->head_sent_bytes);
    out[2] = (double)(tp_now_us() - r->start_us) / 1000.0;
    out[3] = r->up_header_us ? (double)(r->up_header_us - r->up_start_us) / 1000.0 : -1;
}
