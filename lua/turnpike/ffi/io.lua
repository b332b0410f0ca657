-- turnpike.ffi.io: FFI declarations of the outbound I/O in core/tp_httpc.c and
-- core/tp_redis.c (see their headers for the contracts). Returns ffi.C.
local ffi = require "ffi"
require "turnpike.ffi.req" -- declares tp_req_t

ffi.cdef [[
typedef struct tp_httpc_handle_s tp_httpc_handle_t;
typedef struct tp_redis_handle_s tp_redis_handle_t;

int tp_ffi_http_request(tp_req_t *r, const char *method, const char *url, size_t url_len,
                        const char *headers, size_t headers_len, const char *body,
                        size_t body_len, int timeout_ms, int keepalive, tp_httpc_handle_t **out,
                        char *err, size_t errlen);
typedef struct tp_tls_anchors_s tp_tls_anchors_t;
int tp_ffi_http_request_tls(tp_req_t *r, const char *method, const char *url, size_t url_len,
                            const char *headers, size_t headers_len, const char *body,
                            size_t body_len, int timeout_ms, int connect_timeout_ms,
                            int keepalive, int tls_verify, tp_tls_anchors_t *anchors,
                            const char *server_name, tp_httpc_handle_t **out, char *err,
                            size_t errlen);
int tp_ffi_http_status(tp_httpc_handle_t *h, char *err, size_t errlen);
int tp_ffi_http_header_count(tp_httpc_handle_t *h);
int tp_ffi_http_header_at(tp_httpc_handle_t *h, int i, const char **name, size_t *nlen,
                          const char **value, size_t *vlen);
const char *tp_ffi_http_body(tp_httpc_handle_t *h, size_t *len);
void tp_ffi_http_done(tp_httpc_handle_t *h);

int tp_ffi_redis_connect(tp_req_t *r, const char *host, int port, const char *password,
                         size_t password_len, int database, int timeout_ms,
                         tp_redis_handle_t **out, char *err, size_t errlen);
int tp_ffi_redis_connected(tp_redis_handle_t *h, char *err, size_t errlen);
int tp_ffi_redis_command(tp_redis_handle_t *h, int argc, const char **argv, const size_t *lens,
                         char *err, size_t errlen);
const char *tp_ffi_redis_reply(tp_redis_handle_t *h, size_t *len, char *err, size_t errlen);
void tp_ffi_redis_release(tp_redis_handle_t *h, int keepalive);
]]

return ffi.C
