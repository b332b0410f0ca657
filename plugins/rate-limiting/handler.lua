-- rate-limiting: Kong's fixed windows (second .. year) counted per consumer, credential, ip,
-- service, header or path, plus turnpike's NGINX-like token bucket (rate / burst / nodelay).
--
-- A request denied by any limit gets conf.error_code (429) with {message}, Retry-After and
-- the RateLimit headers, and is not counted in any window. The token bucket always lives in
-- the node's shared memory, whatever the policy; it is checked before the windows, so a
-- request the bucket refuses never reaches the window counters.
local shm = require "turnpike.ffi.shm"
local policies = require "kong.plugins.rate-limiting.policies.init"

local turnpike = turnpike
local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local pcall = pcall
local max = math.max
local ceil = math.ceil
local floor = math.floor
local sort = table.sort
local concat = table.concat
local setmetatable = setmetatable
local bit = require "bit"
local bxor = bit.bxor
local tobit = bit.tobit
local tohex = bit.tohex

local RATELIMIT_LIMIT = "RateLimit-Limit"
local RATELIMIT_REMAINING = "RateLimit-Remaining"
local RATELIMIT_RESET = "RateLimit-Reset"
local RETRY_AFTER = "Retry-After"
local PERIODS = { "second", "minute", "hour", "day", "month", "year" }
local WINDOW_SECONDS = { second = 1, minute = 60, hour = 3600, day = 86400,
  month = shm.MONTH, year = shm.YEAR }
local X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING = {}, {}
for _, p in ipairs(PERIODS) do
  local name = p:sub(1, 1):upper() .. p:sub(2)
  X_RATELIMIT_LIMIT[p] = "X-RateLimit-Limit-" .. name
  X_RATELIMIT_REMAINING[p] = "X-RateLimit-Remaining-" .. name
end
local ERR_USAGE = "failed to get usage: "
local ERR_BUCKET = "failed to take from the token bucket: "
-- A failing policy under fault_tolerant is reported at most once per interval per plugin
-- instance and node (a dead Redis would otherwise write one line per request).
local LOG_INTERVAL_MS = 10000
local LOG_DICT = "ratelimit"

-- Per-conf derived data (window lists, config hash). Weak keys: a conf lives as long as its
-- generation, so this never outgrows the loaded configs.
local plans = setmetatable({}, { __mode = "k" })

-- FNV-1a over a canonical dump of the config's scalar fields: the counter namespace of a
-- plugin instance the runner did not name with conf.__key.
local function conf_hash(conf)
  local parts = {}
  for k, v in pairs(conf) do
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" then
      parts[#parts + 1] = tostring(k) .. "=" .. tostring(v)
    end
  end
  sort(parts)
  local s, h = concat(parts, "&"), tobit(2166136261)
  for i = 1, #s do h = tobit(bxor(h, s:byte(i)) * 16777619) end
  return (tohex(h))
end

local function plan_of(conf)
  local plan = plans[conf]
  if plan then return plan end
  plan = { names = {}, windows = {}, limits = {} }
  for _, p in ipairs(PERIODS) do
    if conf[p] then
      local i = #plan.names + 1
      plan.names[i], plan.windows[i], plan.limits[i] = p, WINDOW_SECONDS[p], conf[p]
    end
  end
  plan.hash = conf_hash(conf)
  plans[conf] = plan
  return plan
end

-- Counter namespace of this plugin instance: its entity id when the runner set conf.__key.
local function instance_key(conf, plan)
  local k = conf.__key or conf.__plugin_id
  if k then return (tostring(k)) end
  local route = turnpike.router.get_route()
  local service = turnpike.router.get_service()
  return plan.hash .. ":" .. tostring(route and route.id or "") .. ":"
    .. tostring(service and service.id or "")
end

-- Kong's identifiers; anything missing falls back to the client IP.
local function get_identifier(conf)
  local limit_by, id = conf.limit_by
  if limit_by == "consumer" then
    local c = turnpike.client.get_consumer() or turnpike.client.get_credential()
    id = c and c.id
  elseif limit_by == "credential" then
    local c = turnpike.client.get_credential()
    id = c and c.id
  elseif limit_by == "service" then
    local s = turnpike.router.get_service()
    id = s and s.id
  elseif limit_by == "header" then
    id = turnpike.request.get_header(conf.header_name)
  elseif limit_by == "path" then
    local path = turnpike.request.get_path()
    if path == conf.path then id = path end
  end
  return id and tostring(id) or turnpike.client.get_ip()
end

local function seconds(ms)
  return (max(1, ceil(ms / 1000)))
end

-- Headers for the windows, and the Retry-After of a denial (longest wait of the windows that
-- are full). The most restrictive window (least remaining; on a tie the larger limit, as Kong)
-- gives RateLimit-*.
-- put(headers, name, value): into the table, or (headers nil) onto the response
local function put(headers, name, value)
  if headers then headers[name] = value else turnpike.response.set_header(name, value) end
end

-- one window's part of window_headers: its X-RateLimit-* headers, and the running choice of
-- the most restrictive window and of the longest wait
local function window_one(headers, p, limit, count, reset, allowed, best_limit, best_remaining,
                          best_reset, retry)
  local remaining = max(0, limit - count)
  if not allowed and count + 1 > limit then
    remaining = 0
    retry = max(retry or 0, seconds(reset))
  end
  put(headers, X_RATELIMIT_LIMIT[p], limit)
  put(headers, X_RATELIMIT_REMAINING[p], remaining)
  if not best_limit or remaining < best_remaining
    or (remaining == best_remaining and limit > best_limit) then
    best_limit, best_remaining, best_reset = limit, remaining, seconds(reset)
  end
  return best_limit, best_remaining, best_reset, retry
end

-- window_headers(...) -> headers, retry. direct: set the headers on the response (an allowed
-- request) instead of collecting them for a denial (headers is nil then).
local function window_headers(conf, plan, counts, resets, allowed, direct)
  local headers = not direct and {} or nil
  local names, limits = plan.names, plan.limits
  -- the first window outside the loop: with one window (the common case) no loop runs,
  -- which keeps the access phase one compiled trace
  local best_limit, best_remaining, best_reset, retry = window_one(headers, names[1], limits[1],
    counts[1], resets[1], allowed, nil, nil, nil, nil)
  for i = 2, #names do
    best_limit, best_remaining, best_reset, retry = window_one(headers, names[i], limits[i],
      counts[i], resets[i], allowed, best_limit, best_remaining, best_reset, retry)
  end
  if conf.hide_client_headers then headers = {} else
    put(headers, RATELIMIT_LIMIT, best_limit)
    put(headers, RATELIMIT_REMAINING, best_remaining)
    put(headers, RATELIMIT_RESET, best_reset)
  end
  return headers, retry
end

-- log_failure(inst, msg, now): one error line per LOG_INTERVAL_MS for this instance across
-- the node's workers. The interval's first failure wins an atomic shm counter; it logs unless
-- the last report is younger than the interval. The line counts the failures it stood for.
local function log_failure(inst, msg, now)
  local base = "log:" .. inst
  local failures = shm.incr(LOG_DICT, base .. ":n", 1, 0, 0) or 1
  local slot = floor(now / LOG_INTERVAL_MS)
  if shm.incr(LOG_DICT, base .. ":" .. slot, 1, 0, 2 * LOG_INTERVAL_MS) ~= 1 then return end
  local last = shm.get(LOG_DICT, base .. ":last")
  if last and now - last < LOG_INTERVAL_MS then return end
  shm.set(LOG_DICT, base .. ":last", now, 0)
  shm.incr(LOG_DICT, base .. ":n", -failures, 0, 0)
  turnpike.log.err(msg, " (", failures, failures == 1 and " request" or " requests",
    " let through since the last report; fault_tolerant)")
end

-- Token bucket: the delay to wait (ms) when allowed, else nil, {status, ...}. A route limited
-- by the bucket alone tells the client the bucket's state (the windows' headers win otherwise):
-- RateLimit-Reset is then the time until the bucket is full again.
local function take_token(conf, inst, key, now, only)
  local ok, remaining, wait = shm.bucket_take("tb:" .. key, conf.rate, (conf.burst or 0) + 1,
    1, now, conf.nodelay)
  if ok == nil then
    if not conf.fault_tolerant then error(ERR_BUCKET .. tostring(remaining)) end
    log_failure(inst, ERR_BUCKET .. tostring(remaining), now)
    return 0
  end
  if ok then
    if only and not conf.hide_client_headers then
      local size = (conf.burst or 0) + 1
      turnpike.response.set_header(RATELIMIT_LIMIT, size)
      turnpike.response.set_header(RATELIMIT_REMAINING, floor(remaining))
      turnpike.response.set_header(RATELIMIT_RESET,
        seconds((size - remaining) / conf.rate * 1000))
    end
    return conf.nodelay and 0 or wait
  end
  local headers = {}
  if not conf.hide_client_headers then
    headers[RATELIMIT_LIMIT] = (conf.burst or 0) + 1
    headers[RATELIMIT_REMAINING] = floor(remaining)
    headers[RATELIMIT_RESET] = seconds(wait)
  end
  headers[RETRY_AFTER] = seconds(wait)
  return nil, { status = conf.error_code, message = conf.error_message, headers = headers }
end

-- Windows: nil on success (headers set on the response), else nil, {status, ...}.
-- A policy that raises (a broken driver) is a failing policy like one that returns nil, err.
local function count_windows(conf, plan, inst, key, now)
  local ok, allowed, counts, resets = pcall(policies[conf.policy].incr, conf, key, plan.windows,
    plan.limits, 1, now)
  if not ok or allowed == nil then
    local err = ERR_USAGE .. tostring(ok and counts or allowed)
    if not conf.fault_tolerant then error(err, 0) end
    log_failure(inst, err, now)
    return true
  end
  local headers, retry = window_headers(conf, plan, counts, resets, allowed,
                                       allowed and not conf.hide_client_headers)
  if not allowed then
    headers[RETRY_AFTER] = retry
    return nil, { status = conf.error_code, message = conf.error_message, headers = headers }
  end
  return true
end

local RateLimitingHandler = { PRIORITY = 910, VERSION = "1.0.0" }

function RateLimitingHandler:access(conf)
  local now = floor(turnpike.now())
  local plan = plan_of(conf)
  local inst = instance_key(conf, plan)
  local key = inst .. ":" .. get_identifier(conf)
  local delay, err = 0, nil
  if conf.rate then
    delay, err = take_token(conf, inst, key, now, #plan.names == 0)
  end
  if not err and #plan.names > 0 then
    local _
    _, err = count_windows(conf, plan, inst, key, now)
  end
  if err then
    return turnpike.response.error(err.status, err.message, err.headers)
  end
  if delay and delay > 0 then
    turnpike.sleep(delay)
  end
end

return RateLimitingHandler
