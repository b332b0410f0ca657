-- turnpike.ffi.req: FFI declarations of the request API in core/tp_ffi_req.c.
local ffi = require "ffi"

ffi.cdef [[
typedef struct tp_req_s tp_req_t;
const char *tp_ffi_req_id(tp_req_t *r);
const char *tp_ffi_req_method(tp_req_t *r, size_t *len);
int tp_ffi_req_method_id(tp_req_t *r);
const char *tp_ffi_req_path(tp_req_t *r, size_t *len);
const char *tp_ffi_req_query(tp_req_t *r, size_t *len);
const char *tp_ffi_req_host(tp_req_t *r, size_t *len);
int tp_ffi_req_port(tp_req_t *r);
int tp_ffi_req_is_admin(tp_req_t *r);
int tp_ffi_req_is_tls(tp_req_t *r);
int tp_ffi_req_is_upgrade(tp_req_t *r);
const char *tp_ffi_req_client_ip(tp_req_t *r, size_t *len);
int tp_ffi_req_client_port(tp_req_t *r);
int tp_ffi_req_http_version(tp_req_t *r);
double tp_ffi_req_start_ms(tp_req_t *r);
int tp_ffi_headers_count(tp_req_t *r, int which);
int tp_ffi_headers_at(tp_req_t *r, int which, int i, const char **name, size_t *nlen,
                      const char **value, size_t *vlen);
const char *tp_ffi_headers_get(tp_req_t *r, int which, const char *name, size_t nlen, size_t *vlen);
const char *tp_ffi_headers_get_n(tp_req_t *r, int which, const char *name, size_t nlen,
                                 size_t *vlen, int *count);
void tp_ffi_req_header_op(tp_req_t *r, int op, const char *name, size_t nlen, const char *value,
                          size_t vlen);
void tp_ffi_resp_header_op(tp_req_t *r, int op, const char *name, size_t nlen, const char *value,
                           size_t vlen);
void tp_ffi_resp_header_op_int(tp_req_t *r, int op, const char *name, size_t nlen, int64_t value);
const char *tp_ffi_resp_get_header(tp_req_t *r, const char *name, size_t nlen, size_t *vlen);
void tp_ffi_req_set_method(tp_req_t *r, const char *m, size_t n);
void tp_ffi_req_set_path(tp_req_t *r, const char *p, size_t n);
void tp_ffi_req_set_query(tp_req_t *r, const char *q, size_t n);
void tp_ffi_req_set_body(tp_req_t *r, const char *b, size_t n);
void tp_ffi_req_clear_targets(tp_req_t *r);
int tp_ffi_req_add_target(tp_req_t *r, const char *host, size_t hlen, int port);
void tp_ffi_req_set_proxy(tp_req_t *r, int connect_ms, int write_ms, int read_ms, int retries,
                          int preserve_host);
void tp_ffi_req_set_tls(tp_req_t *r, int tls, void *anchors);
int tp_ffi_req_read_body(tp_req_t *r);
const char *tp_ffi_req_body(tp_req_t *r, size_t *len);
int tp_ffi_resp_status(tp_req_t *r);
void tp_ffi_resp_set_status(tp_req_t *r, int status);
int tp_ffi_resp_source(tp_req_t *r);
int tp_ffi_svc_status(tp_req_t *r);
void tp_ffi_resp_exit(tp_req_t *r, int status, const char *body, size_t n);
int tp_ffi_sleep(tp_req_t *r, double ms);
void tp_ffi_log(int level, const char *msg, size_t len);
double tp_ffi_now_ms(void);
double tp_ffi_current(void);
double tp_ffi_monotonic_ms(void);
int tp_ffi_worker_count(void);
int tp_ffi_worker_status(int i, int *pid, double *generation, double *loaded_at, double *requests,
                         double *connections);
double tp_ffi_ctl_generation(void);
int tp_ffi_ctl_post_config(const char *path);
int tp_ffi_ctl_reload(void);
int tp_ffi_timer_start(void *gen, double delay_ms, double every_ms, int id);
void tp_ffi_req_stats(tp_req_t *r, double *out);
int tp_ffi_req_attempts(tp_req_t *r, int *target, int *outcome, int max);
]]

return ffi.C
