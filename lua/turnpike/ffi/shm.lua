-- turnpike.ffi.shm: thin LuaJIT FFI wrappers over core/tp_shm, tp_ratelimit and tp_breaker.
--
-- The shared-memory zone is shared by every worker process; these calls are atomic across
-- processes. Dicts: "ratelimit", "breaker" (used by the C hot paths), "cache_meta", "kv".
-- A bad argument raises error(..., 2); a runtime problem returns nil, msg.
--
--   shm.get(dict, key)                         -> value | nil   (string, number or boolean)
--   shm.set(dict, key, value, ttl_ms)          -> true | nil, err   (value nil deletes)
--   shm.incr(dict, key, by, init, ttl_ms)      -> new value | nil, err
--   shm.delete(dict, key)                      -> true | nil, err
--   shm.flush(dict)                            -> true | nil, err
--   shm.stats(dict)                            -> {capacity, used, evictions, expired, value_size}
--   shm.workers()                              -> { {pid, generation, loaded_at_ms, requests, active} }
--   shm.bucket_take(key, rate, burst, cost, now_ms, nodelay)
--                                              -> allowed, remaining, wait_ms | nil, err
--   shm.period(window_s, now_ms)               -> start_ms, end_ms (the window's current period)
--   shm.window_incr(key, window_s, limit, cost, now_ms) -> allowed, count, reset_ms | nil, err
--   shm.windows_incr(key, windows, limits, cost, now_ms[, counts, resets])
--                                              -> allowed, counts, resets | nil, err
--                                              (fills the given tables, else new ones)
--   shm.breaker_conf(opts)                     -> conf cdata (build once per config)
--   shm.breaker_allow(key, conf, now_ms)       -> allowed, retry_after_ms | nil, err
--   shm.breaker_report(key, conf, now_ms, outcome) -> state | nil, err
--   shm.breaker_state(key, now_ms)             -> info table
-- Window lengths: 1, 60, 3600, 86400, and shm.MONTH / shm.YEAR for calendar months/years (UTC).
-- Outcomes: "success", "tcp_failure", "timeout", "http_failure".
-- States: "closed", "open", "half_open". Times are integer ms (turnpike.now()).
local ffi = require "ffi"

local C = ffi.C
local ffi_new = ffi.new
local ffi_str = ffi.string
local type = type
local error = error
local tonumber = tonumber
local tostring = tostring
local floor = math.floor

ffi.cdef [[
typedef struct {
    uint64_t capacity, used, evictions, expired, value_size;
} tp_shm_stats_t;
typedef struct {
    int64_t pid, generation, loaded_at_ms, requests, active;
} tp_shm_worker_t;
typedef struct {
    double error_ratio;
    int32_t http_failures, tcp_failures, timeouts, successes, min_requests, window_ms,
            open_ms, max_open_ms, half_open_probes;
} tp_breaker_conf_t;
typedef struct {
    int32_t state, trips, http_failures, tcp_failures, timeouts, successes, probes,
            window_requests, window_failures;
    int64_t retry_after_ms, changed_at_ms;
} tp_breaker_info_t;

int tp_ffi_shm_get(const char *dict, size_t dlen, const char *key, size_t klen, char *buf,
                   size_t *len, double *num, int *type);
int tp_ffi_shm_set(const char *dict, size_t dlen, const char *key, size_t klen, int type,
                   const char *val, size_t vlen, double num, int64_t ttl_ms);
int tp_ffi_shm_incr(const char *dict, size_t dlen, const char *key, size_t klen, double by,
                    double init, int64_t ttl_ms, double *out);
int tp_ffi_shm_delete(const char *dict, size_t dlen, const char *key, size_t klen);
int tp_ffi_shm_flush(const char *dict, size_t dlen);
int tp_ffi_shm_stats(const char *dict, size_t dlen, tp_shm_stats_t *out);
int tp_ffi_shm_workers(tp_shm_worker_t *out, int max);

int tp_ffi_rl_bucket_take(const char *key, size_t klen, double rate, double burst, double cost,
                          int nodelay, int64_t now_ms, double *remaining, int64_t *wait_ms);
int tp_ffi_rl_period(int64_t window_s, int64_t now_ms, int64_t *start_ms, int64_t *end_ms);
int tp_ffi_rl_window_incr(const char *key, size_t klen, int64_t window_s, int64_t limit,
                          int64_t cost, int64_t now_ms, int64_t *count_after, int64_t *reset_ms);
int tp_ffi_rl_windows_incr(const char *key, size_t klen, const int64_t *window_s,
                           const int64_t *limit, int n, int64_t cost, int64_t now_ms,
                           int64_t *count, int64_t *reset_ms);

int tp_ffi_breaker_allow(const char *key, size_t klen, const tp_breaker_conf_t *conf,
                         int64_t now_ms, int64_t *retry_after_ms);
int tp_ffi_breaker_report(const char *key, size_t klen, const tp_breaker_conf_t *conf,
                          int64_t now_ms, int outcome);
int tp_ffi_breaker_state(const char *key, size_t klen, int64_t now_ms, tp_breaker_info_t *info);
]]

local T_NIL, T_BOOLEAN, T_NUMBER, T_STRING = 0, 1, 2, 3
local MAX_WINDOWS = 6
local MAX_WORKERS = 128
local ERRNO = { [2] = "no such dict", [7] = "value too large", [22] = "invalid argument",
  [36] = "key empty or too long", [28] = "no space" }
local STATES = { [0] = "closed", "open", "half_open" }
local OUTCOMES = { success = 0, tcp_failure = 1, timeout = 2, http_failure = 3 }

-- Out-params, made once at load (STYLE §3.9).
local buf_size = 1024
local get_buf = ffi_new("char[?]", buf_size)
local len_out = ffi_new("size_t[1]")
local num_out = ffi_new("double[1]")
local type_out = ffi_new("int[1]")
local i64_a = ffi_new("int64_t[1]")
local i64_b = ffi_new("int64_t[1]")
local win_in = ffi_new("int64_t[?]", MAX_WINDOWS)
local lim_in = ffi_new("int64_t[?]", MAX_WINDOWS)
local counts_out = ffi_new("int64_t[?]", MAX_WINDOWS)
local resets_out = ffi_new("int64_t[?]", MAX_WINDOWS)
local stats_out = ffi_new("tp_shm_stats_t")
local workers_out = ffi_new("tp_shm_worker_t[?]", MAX_WORKERS)
local info_out = ffi_new("tp_breaker_info_t")

local function errmsg(rc)
  return ERRNO[-rc] or ("error " .. -rc)
end

local function check_str(v, what)
  if type(v) ~= "string" then error(what .. " must be a string", 3) end
end

local function check_num(v, what)
  if type(v) ~= "number" then error(what .. " must be a number", 3) end
end

local function ms(v)
  return (floor(tonumber(v) or 0))
end

local _M = { MONTH = 2592000, YEAR = 31536000 }

function _M.get(dict, key)
  check_str(dict, "dict")
  check_str(key, "key")
  len_out[0] = buf_size
  local rc = C.tp_ffi_shm_get(dict, #dict, key, #key, get_buf, len_out, num_out, type_out)
  if rc < 0 then return nil, errmsg(rc) end
  local t = type_out[0]
  if t == T_STRING then
    local n = tonumber(len_out[0])
    if n > buf_size then -- grow once and read again
      buf_size = n
      get_buf = ffi_new("char[?]", buf_size)
      return _M.get(dict, key)
    end
    return (ffi_str(get_buf, n))
  elseif t == T_NUMBER then
    return num_out[0]
  elseif t == T_BOOLEAN then
    return num_out[0] ~= 0
  end
  return nil
end

function _M.set(dict, key, value, ttl_ms)
  check_str(dict, "dict")
  check_str(key, "key")
  local vt, rc = type(value)
  ttl_ms = ms(ttl_ms)
  if vt == "string" then
    rc = C.tp_ffi_shm_set(dict, #dict, key, #key, T_STRING, value, #value, 0, ttl_ms)
  elseif vt == "number" then
    rc = C.tp_ffi_shm_set(dict, #dict, key, #key, T_NUMBER, nil, 0, value, ttl_ms)
  elseif vt == "boolean" then
    rc = C.tp_ffi_shm_set(dict, #dict, key, #key, T_BOOLEAN, nil, 0, value and 1 or 0, ttl_ms)
  elseif vt == "nil" then
    rc = C.tp_ffi_shm_set(dict, #dict, key, #key, T_NIL, nil, 0, 0, 0)
  else
    error("value must be a string, number, boolean or nil", 2)
  end
  if rc < 0 then return nil, errmsg(rc) end
  return true
end

function _M.incr(dict, key, by, init, ttl_ms)
  check_str(dict, "dict")
  check_str(key, "key")
  check_num(by, "by")
  local rc = C.tp_ffi_shm_incr(dict, #dict, key, #key, by, init or 0, ms(ttl_ms), num_out)
  if rc < 0 then return nil, rc == -22 and "not a number" or errmsg(rc) end
  return num_out[0]
end

function _M.delete(dict, key)
  check_str(dict, "dict")
  check_str(key, "key")
  local rc = C.tp_ffi_shm_delete(dict, #dict, key, #key)
  if rc < 0 then return nil, errmsg(rc) end
  return true
end

function _M.flush(dict)
  check_str(dict, "dict")
  local rc = C.tp_ffi_shm_flush(dict, #dict)
  if rc < 0 then return nil, errmsg(rc) end
  return true
end

function _M.stats(dict)
  check_str(dict, "dict")
  local rc = C.tp_ffi_shm_stats(dict, #dict, stats_out)
  if rc < 0 then return nil, errmsg(rc) end
  return {
    capacity = tonumber(stats_out.capacity), used = tonumber(stats_out.used),
    evictions = tonumber(stats_out.evictions), expired = tonumber(stats_out.expired),
    value_size = tonumber(stats_out.value_size),
  }
end

function _M.workers()
  local n = C.tp_ffi_shm_workers(workers_out, MAX_WORKERS)
  local out = {}
  for i = 0, n - 1 do
    local w = workers_out[i]
    out[i + 1] = { pid = tonumber(w.pid), generation = tonumber(w.generation),
      loaded_at_ms = tonumber(w.loaded_at_ms), requests = tonumber(w.requests),
      active = tonumber(w.active) }
  end
  return out
end

-- Token bucket (see core/tp_ratelimit.h for the exact semantics). nodelay defaults to true.
function _M.bucket_take(key, rate, burst, cost, now_ms, nodelay)
  check_str(key, "key")
  check_num(rate, "rate")
  check_num(burst, "burst")
  local rc = C.tp_ffi_rl_bucket_take(key, #key, rate, burst, cost or 1,
    nodelay == false and 0 or 1, ms(now_ms), num_out, i64_a)
  if rc < 0 then return nil, errmsg(rc) end
  return rc == 1, num_out[0], tonumber(i64_a[0])
end

function _M.period(window_s, now_ms)
  check_num(window_s, "window_s")
  local rc = C.tp_ffi_rl_period(window_s, ms(now_ms), i64_a, i64_b)
  if rc < 0 then error("window_s must be positive", 2) end
  return tonumber(i64_a[0]), tonumber(i64_b[0])
end

function _M.window_incr(key, window_s, limit, cost, now_ms)
  check_str(key, "key")
  check_num(window_s, "window_s")
  check_num(limit, "limit")
  local rc = C.tp_ffi_rl_window_incr(key, #key, window_s, limit, cost or 1, ms(now_ms),
    i64_a, i64_b)
  if rc < 0 then return nil, errmsg(rc) end
  return rc == 1, tonumber(i64_a[0]), tonumber(i64_b[0])
end

-- All or nothing over several windows: counts[i]/resets[i] follow windows[i].
function _M.windows_incr(key, windows, limits, cost, now_ms, counts, resets)
  check_str(key, "key")
  local n = #windows
  if n < 1 or n > MAX_WINDOWS or #limits ~= n then
    error("windows and limits must be lists of 1 to " .. MAX_WINDOWS .. " numbers", 2)
  end
  -- the first window outside the loops: with one window (the common case) no loop runs,
  -- which keeps the caller's trace whole
  win_in[0], lim_in[0] = windows[1], limits[1]
  for i = 2, n do
    win_in[i - 1] = windows[i]
    lim_in[i - 1] = limits[i]
  end
  local rc = C.tp_ffi_rl_windows_incr(key, #key, win_in, lim_in, n, cost or 1, ms(now_ms),
    counts_out, resets_out)
  if rc < 0 then return nil, errmsg(rc) end
  counts, resets = counts or {}, resets or {}
  counts[1], resets[1] = tonumber(counts_out[0]), tonumber(resets_out[0])
  for i = 2, n do
    counts[i] = tonumber(counts_out[i - 1])
    resets[i] = tonumber(resets_out[i - 1])
  end
  return rc == 1, counts, resets
end

-- opts: Kong passive health check names (http_failures, tcp_failures, timeouts, successes)
-- plus error_ratio, min_requests, window_ms, open_ms, max_open_ms, half_open_probes.
function _M.breaker_conf(opts)
  if type(opts) ~= "table" then error("opts must be a table", 2) end
  local c = ffi_new("tp_breaker_conf_t")
  c.error_ratio = opts.error_ratio or 0
  c.http_failures = opts.http_failures or 0
  c.tcp_failures = opts.tcp_failures or 0
  c.timeouts = opts.timeouts or 0
  c.successes = opts.successes or 1
  c.min_requests = opts.min_requests or 0
  c.window_ms = opts.window_ms or 10000
  c.open_ms = opts.open_ms or 5000
  c.max_open_ms = opts.max_open_ms or 300000
  c.half_open_probes = opts.half_open_probes or 1
  return c
end

function _M.breaker_allow(key, conf, now_ms)
  check_str(key, "key")
  local rc = C.tp_ffi_breaker_allow(key, #key, conf, ms(now_ms), i64_a)
  if rc < 0 then return nil, errmsg(rc) end
  return rc == 1, tonumber(i64_a[0])
end

function _M.breaker_report(key, conf, now_ms, outcome)
  check_str(key, "key")
  local o = OUTCOMES[outcome]
  if not o then error("unknown outcome: " .. tostring(outcome), 2) end
  local rc = C.tp_ffi_breaker_report(key, #key, conf, ms(now_ms), o)
  if rc < 0 then return nil, errmsg(rc) end
  return STATES[rc]
end

function _M.breaker_state(key, now_ms)
  check_str(key, "key")
  local rc = C.tp_ffi_breaker_state(key, #key, ms(now_ms), info_out)
  if rc < 0 then return nil, errmsg(rc) end
  local i = info_out
  return { state = STATES[rc], trips = i.trips, http_failures = i.http_failures,
    tcp_failures = i.tcp_failures, timeouts = i.timeouts, successes = i.successes,
    probes = i.probes, window_requests = i.window_requests,
    window_failures = i.window_failures, retry_after_ms = tonumber(i.retry_after_ms),
    changed_at_ms = tonumber(i.changed_at_ms) }
end

return _M
