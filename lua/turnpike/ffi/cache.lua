-- turnpike.ffi.cache: FFI bindings to the shared response cache (core/tp_cache.c) and thin
-- wrappers over them.
--
-- The cache stores and serves whole responses; the proxy-cache plugin decides whether and
-- under which key. `r` is the request's tp_req_t* cdata (turnpike.backend.current()). Any
-- other `r` (the fake backend's plain tables in unit specs) has no cache: lookups there are
-- MISS_NOFILL, stores and skips do nothing.
local ffi = require "ffi"

-- LuaJIT accepts a declaration repeated word for word (turnpike.admin declares the admin half
-- of this API too).
ffi.cdef [[
typedef struct tp_req_s tp_req_t;
/* lookup results */
enum { TP_CACHE_MISS_FILL = 0, TP_CACHE_AGAIN = 1, TP_CACHE_HIT = 2, TP_CACHE_STALE = 3,
       TP_CACHE_MISS_NOFILL = 4, TP_CACHE_MISS_STALE_OK = 5 };
int tp_ffi_cache_lookup(tp_req_t *r, const char *key, size_t klen, double swr_ms, double sie_ms,
                        double lock_timeout_ms, int *age_s);
int tp_ffi_cache_store(tp_req_t *r, double ttl_ms, double swr_ms, double sie_ms);
void tp_ffi_cache_skip(tp_req_t *r);
int tp_ffi_cache_refresh(tp_req_t *r, const char *key, size_t klen, double lock_timeout_ms);
double tp_ffi_cache_copy_ttl(tp_req_t *r);
int tp_ffi_cache_purge(const char *key, size_t klen);
int tp_ffi_cache_purge_all(void);
/* out[7]: hits, misses, stale, evictions, bytes_used, bytes_total, entries */
int tp_ffi_cache_stats(double *out);
]]

local C = ffi.C
local ffi_new = ffi.new
local type = type
local error = error
local ipairs = ipairs
local coroutine_yield = coroutine.yield

local MISS_FILL, AGAIN, HIT, STALE, MISS_NOFILL, MISS_STALE_OK = 0, 1, 2, 3, 4, 5
local KEY_MAX = 128 -- TP_CACHE_KEY_MAX
local STAT_NAMES = { "hits", "misses", "stale", "evictions", "bytes_used", "bytes_total",
                     "entries" }

-- out-params made once (STYLE.md 3.9)
local age_out = ffi_new("int[1]")
local stats_out = ffi_new("double[7]")

local function has_cache(r)
  return type(r) == "cdata"
end

local _M = {
  MISS_FILL = MISS_FILL, AGAIN = AGAIN, HIT = HIT, STALE = STALE, MISS_NOFILL = MISS_NOFILL,
  MISS_STALE_OK = MISS_STALE_OK,
  NAMES = { [MISS_FILL] = "miss_fill", [AGAIN] = "again", [HIT] = "hit", [STALE] = "stale",
            [MISS_NOFILL] = "miss_nofill", [MISS_STALE_OK] = "miss_stale_ok" },
}

-- lookup(r, key, swr_ms, sie_ms, lock_timeout_ms) -> rc, age_s. Waits (yielding the calling
-- request) while another request fills the key; C bounds the wait by lock_timeout_ms and
-- then answers MISS_NOFILL. A negative rc (bad key, already looked up) is returned as is.
function _M.lookup(r, key, swr_ms, sie_ms, lock_timeout_ms)
  if type(key) ~= "string" or #key == 0 or #key > KEY_MAX then
    error("cache key must be a string of 1 to " .. KEY_MAX .. " bytes", 2)
  end
  if not has_cache(r) then return MISS_NOFILL, 0 end
  age_out[0] = 0
  local rc = C.tp_ffi_cache_lookup(r, key, #key, swr_ms, sie_ms, lock_timeout_ms, age_out)
  if rc ~= AGAIN then return rc, age_out[0] end
  -- the waiting loop lives apart, off the path of a hit (which then compiles as one trace)
  return _M.lookup_wait(r, key, swr_ms, sie_ms, lock_timeout_ms)
end

function _M.lookup_wait(r, key, swr_ms, sie_ms, lock_timeout_ms)
  while true do
    coroutine_yield()
    age_out[0] = 0
    local rc = C.tp_ffi_cache_lookup(r, key, #key, swr_ms, sie_ms, lock_timeout_ms, age_out)
    if rc ~= AGAIN then return rc, age_out[0] end
  end
end

-- refresh(r, key, lock_timeout_ms) -> rc: like lookup, but a stored copy is never used:
-- MISS_FILL (this request fetches and may store), or MISS_NOFILL after waiting for another fill.
function _M.refresh(r, key, lock_timeout_ms)
  if not has_cache(r) then return MISS_NOFILL end
  while true do
    local rc = C.tp_ffi_cache_refresh(r, key, #key, lock_timeout_ms)
    if rc ~= AGAIN then return rc end
    coroutine_yield()
  end
end

-- copy_ttl(r) -> ms the copy this request took stays fresh (negative: stale already)
function _M.copy_ttl(r)
  if not has_cache(r) then return 0 end
  return (C.tp_ffi_cache_copy_ttl(r))
end

-- store(r, ttl_ms, swr_ms, sie_ms) -> 0 | negative: keep the response this request is
-- filling (its body follows as it streams). Fails when the request holds no fill.
function _M.store(r, ttl_ms, swr_ms, sie_ms)
  if not has_cache(r) then return 0 end
  return (C.tp_ffi_cache_store(r, ttl_ms, swr_ms, sie_ms))
end

-- skip(r): give up this request's fill; requests waiting for the key go on.
function _M.skip(r)
  if has_cache(r) then C.tp_ffi_cache_skip(r) end
end

-- purge(key) -> number of entries removed (0 or 1)
function _M.purge(key)
  return (C.tp_ffi_cache_purge(key, #key))
end

-- purge_all() -> number of entries removed
function _M.purge_all()
  return (C.tp_ffi_cache_purge_all())
end

-- stats() -> { hits, misses, stale, evictions, bytes_used, bytes_total, entries } | nil
function _M.stats()
  if C.tp_ffi_cache_stats(stats_out) ~= 0 then return nil end
  local out = {}
  for i, name in ipairs(STAT_NAMES) do out[name] = stats_out[i - 1] end
  return out
end

return _M
