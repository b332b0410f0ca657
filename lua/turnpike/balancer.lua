-- turnpike.balancer: picks the upstream target(s) of a request, per generation.
--
--   balancer.new(cfg, opts) -> balancer     opts (all optional): backend, attempts
--                                           (function(r) -> {{target=0-based, outcome}}),
--                                           http, timer (for the active checker)
--   balancer:targets(ctx, service, r) -> {{host, port}, ...} | nil, retry_after_s
--   balancer:report(ctx, r)                 log phase: passive health + connection counts
--   balancer:health(name) -> {{id, target, weight, health, state = breaker info}} | nil
--
-- A service whose host names an upstream is balanced over that upstream's targets with its
-- algorithm (round-robin, least-connections, consistent-hashing; "latency" is served as
-- round-robin); the first target of the list is the choice, the others (healthy ones only)
-- are for retries. Any other host is the single target host:port. A plugin's
-- service.set_target / set_upstream choice (ctx) comes first.
--
-- Health: each target has a circuit breaker in shared memory (core/tp_breaker.h), keyed
-- "<upstream id>:<host>:<port>", fed by every proxied attempt (passive checks) and by the
-- active prober (turnpike.healthcheck). A target whose breaker is open is skipped; when every
-- target is open the request gets nil and the seconds until the first one may be retried, so
-- the gateway answers 503 at once without a connect attempt. Unlike Kong, an unhealthy target
-- comes back by itself: open -> half-open after open_ms, and one probe request decides.
local shm = require "turnpike.ffi.shm"
local healthcheck = require "turnpike.healthcheck"

local ipairs = ipairs
local type = type
local tonumber = tonumber
local tostring = tostring
local pcall = pcall
local setmetatable = setmetatable
local floor = math.floor
local ceil = math.ceil
local random = math.random
local sort = table.sort
local concat = table.concat
local bxor = bit.bxor
local rshift = bit.rshift
local byte = string.byte
local format = string.format

local TWO32 = 4294967296
local FNV_OFFSET = 2166136261
local FNV_PRIME = 16777619
local LC_DICT = "kv"
local POINTS_PER_100 = 160
local HEALTH = { closed = "HEALTHY", open = "UNHEALTHY", half_open = "HALF_OPEN" }
local OUTCOMES = { [0] = "success", "tcp_failure", "timeout" }
local MAX_ATTEMPTS = 16

local _M = {}
local mt = { __index = _M }

--------------------------------------------------------------------------------------------------
-- hashing: 32-bit FNV-1a with murmur3's finalizer (FNV alone spreads short, similar keys
-- such as "10.0.0.1:80 1" badly over the ring). Plain doubles, exact below 2^53.
--------------------------------------------------------------------------------------------------

local function u32(x) return x % TWO32 end

-- a * b mod 2^32 for a, b in [0, 2^32)
local function mul32(a, b)
  local lo, hi = a % 65536, floor(a / 65536)
  return (lo * b + ((hi * b) % 65536) * 65536) % TWO32
end

local function hash32(s)
  local h = FNV_OFFSET
  for i = 1, #s do
    h = mul32(u32(bxor(h, byte(s, i))), FNV_PRIME)
  end
  h = u32(bxor(h, rshift(h, 16)))
  h = mul32(h, 0x85ebca6b)
  h = u32(bxor(h, rshift(h, 13)))
  h = mul32(h, 0xc2b2ae35)
  return u32(bxor(h, rshift(h, 16)))
end

_M.hash32 = hash32

--------------------------------------------------------------------------------------------------
-- configuration
--------------------------------------------------------------------------------------------------

local function status_set(list)
  local set = {}
  for _, s in ipairs(list or {}) do set[s] = true end
  return set
end

local function breaker_conf(unhealthy, successes, br)
  return shm.breaker_conf {
    http_failures = unhealthy.http_failures, tcp_failures = unhealthy.tcp_failures,
    timeouts = unhealthy.timeouts, successes = successes,
    error_ratio = br.error_ratio, window_ms = br.window_ms, min_requests = br.min_requests,
    open_ms = br.open_ms, max_open_ms = br.max_open_ms, half_open_probes = br.half_open_probes,
  }
end

local function any_counter(u)
  return (u.http_failures or 0) > 0 or (u.tcp_failures or 0) > 0 or (u.timeouts or 0) > 0
end

local function new_upstream(u)
  local hc = u.healthchecks or {}
  local passive, active, br = hc.passive or {}, hc.active or {}, hc.breaker or {}
  local p_unhealthy, p_healthy = passive.unhealthy or {}, passive.healthy or {}
  local a_unhealthy, a_healthy = active.unhealthy or {}, active.healthy or {}
  local up = {
    conf = u, id = u.id or u.name, name = u.name, algorithm = u.algorithm or "round-robin",
    targets = {}, all = {},
    passive_on = any_counter(p_unhealthy) or (br.error_ratio or 0) > 0,
    active_on = (a_healthy.interval or 0) > 0 or (a_unhealthy.interval or 0) > 0,
    unhealthy_statuses = status_set(p_unhealthy.http_statuses),
    passive_conf = breaker_conf(p_unhealthy, p_healthy.successes, br),
    active_conf = breaker_conf(a_unhealthy, a_healthy.successes, br),
    tie = 0,
  }
  up.checked = up.passive_on or up.active_on
  for _, t in ipairs(u.targets or {}) do
    local name = t.host .. ":" .. t.port
    local key = up.id .. ":" .. name
    local tg = { id = t.id, host = t.host, port = t.port, weight = t.weight or 100, current = 0,
                 name = name, key = key, lc_key = "lc:" .. key,
                 out = { host = t.host, port = t.port } }
    up.all[#up.all + 1] = tg
    if tg.weight > 0 then up.targets[#up.targets + 1] = tg end
  end
  return up
end

--------------------------------------------------------------------------------------------------
-- algorithms: each returns the candidate targets (open ones already left out) in the order
-- it wants them tried
--------------------------------------------------------------------------------------------------

-- smooth weighted round-robin over the candidates: raise each by its weight, take the
-- largest, lower it by the total; the others follow in configuration order
local function order_round_robin(up, cands)
  local total, best = 0, nil
  for _, t in ipairs(cands) do
    t.current = t.current + t.weight
    total = total + t.weight
    if not best or t.current > best.current then best = t end
  end
  best.current = best.current - total
  local list = { best }
  for _, t in ipairs(cands) do
    if t ~= best then list[#list + 1] = t end
  end
  return list
end

-- fewest active connections per unit of weight ((active + 1) / weight, as Kong); ties are
-- broken by a rotating offset so idle targets take turns
local function order_least_connections(up, cands)
  local n = #cands
  up.tie = (up.tie % n) + 1
  local scored = {}
  for i, t in ipairs(cands) do
    local active = tonumber(shm.get(LC_DICT, t.lc_key)) or 0
    if active < 0 then active = 0 end
    scored[i] = { t = t, score = (active + 1) / t.weight, rank = (i - up.tie) % n }
  end
  sort(scored, function(a, b)
    if a.score ~= b.score then return a.score < b.score end
    return a.rank < b.rank
  end)
  local list = {}
  for i, s in ipairs(scored) do list[i] = s.t end
  return list
end

-- The ring: each target owns POINTS_PER_100 points per 100 of weight (as ketama's 160 per
-- server), at positions hash("<host>:<port> <i>"), so adding or removing a target moves only
-- the keys it gains or loses; `slots` caps the total (every share shrinks alike). Built once
-- per generation, on first use. A key maps to the first point at or after hash(key); its
-- fallbacks are the next distinct targets clockwise, so a dead target's keys spread over the
-- others and nothing else moves.
local function build_ring(up)
  local total = 0
  for _, t in ipairs(up.targets) do total = total + t.weight end
  local scale = POINTS_PER_100 / 100
  local slots = up.conf.slots or 10000
  if total * scale > slots then scale = slots / total end
  local points = {}
  for ti, t in ipairs(up.targets) do
    local n = floor(t.weight * scale)
    if n < 1 then n = 1 end
    for i = 1, n do
      points[#points + 1] = { hash32(t.name .. " " .. i), ti }
    end
  end
  sort(points, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local pos, owner = {}, {}
  for i, p in ipairs(points) do pos[i], owner[i] = p[1], p[2] end
  up.ring = { pos = pos, owner = owner }
  return up.ring
end

local function ring_walk(up, h)
  local ring = up.ring or build_ring(up)
  local pos, owner, n = ring.pos, ring.owner, #ring.pos
  local lo, hi = 1, n + 1 -- first index with pos >= h, n + 1 when none (wraps to 1)
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if pos[mid] < h then lo = mid + 1 else hi = mid end
  end
  local list, seen, want = {}, {}, #up.targets
  local i = lo
  for _ = 1, n do
    if i > n then i = 1 end
    local ti = owner[i]
    if not seen[ti] then
      seen[ti] = true
      list[#list + 1] = up.targets[ti]
      if #list == want then break end
    end
    i = i + 1
  end
  return list
end

local function cookie_value(header, name)
  if type(header) == "table" then header = concat(header, "; ") end
  if not header then return nil end
  for k, v in header:gmatch("([^=;%s]+)=([^;]*)") do
    if k == name then return v end
  end
  return nil
end

local function query_value(raw, name)
  for pair in (raw or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    if k == name then return v end
  end
  return nil
end

-- The value to hash for one hash_on setting, or nil when the request has none.
local function hash_value(self, up, ctx, r, on, header, query_arg, capture)
  local b, u = self.backend, up.conf
  local v
  if on == "consumer" then
    v = (ctx.consumer and ctx.consumer.id) or (ctx.credential and ctx.credential.id)
  elseif on == "ip" then
    v = b.get_client_ip(r)
  elseif on == "header" then
    v = b.get_header(r, header)
  elseif on == "cookie" then
    v = cookie_value(b.get_header(r, "cookie"), u.hash_on_cookie)
    if not v then -- as Kong: give the client a cookie so its next requests stick
      v = format("%08x%08x", random(0, 0x7fffffff), random(0, 0x7fffffff))
      b.resp_add_header(r, "Set-Cookie", u.hash_on_cookie .. "=" .. v .. "; Path=" ..
                        (u.hash_on_cookie_path or "/"))
    end
  elseif on == "path" then
    v = b.get_path(r)
  elseif on == "query_arg" then
    v = query_value(b.get_raw_query(r), query_arg)
  elseif on == "uri_capture" then
    local caps = ctx.route_match and ctx.route_match.uri_captures
    v = caps and (caps[capture] or caps[tonumber(capture)])
  end
  if type(v) == "table" then v = concat(v, ",") end
  if v == nil or v == "" then return nil end
  return (tostring(v))
end

local function order_consistent_hashing(self, up, cands, ctx, r)
  local u = up.conf
  local v = hash_value(self, up, ctx, r, u.hash_on, u.hash_on_header, u.hash_on_query_arg,
                       u.hash_on_uri_capture)
  if v == nil and u.hash_fallback and u.hash_fallback ~= "none" then
    v = hash_value(self, up, ctx, r, u.hash_fallback, u.hash_fallback_header,
                   u.hash_fallback_query_arg, u.hash_fallback_uri_capture)
  end
  if v == nil then return order_round_robin(up, cands) end
  local ok = {}
  for _, t in ipairs(cands) do ok[t] = true end
  local list = {}
  for _, t in ipairs(ring_walk(up, hash32(v))) do
    if ok[t] then list[#list + 1] = t end
  end
  return list
end

--------------------------------------------------------------------------------------------------
-- choosing
--------------------------------------------------------------------------------------------------

local function now_ms(self)
  return (floor(self.backend.now_ms()))
end

-- Leave out open targets (one shm read each); the smallest wait among them is the
-- Retry-After when nothing is left.
local function candidates(up, now)
  if not up.checked then return up.targets, nil, nil end
  local cands, states, wait = {}, {}, nil
  for _, t in ipairs(up.targets) do
    local info = shm.breaker_state(t.key, now)
    local st = info and info.state or "closed"
    if st == "open" then
      if not wait or info.retry_after_ms < wait then wait = info.retry_after_ms end
    else
      cands[#cands + 1] = t
      states[t] = st
    end
  end
  return cands, states, wait
end

local function retry_after_s(wait_ms)
  local s = ceil((wait_ms or 1000) / 1000)
  return s < 1 and 1 or s
end

local function pick(self, up, ctx, r)
  if #up.targets == 0 then return nil end
  local now = now_ms(self)
  local cands, states, wait = candidates(up, now)
  if #cands == 0 then return nil, retry_after_s(wait) end
  local order
  if up.algorithm == "least-connections" then
    order = order_least_connections(up, cands)
  elseif up.algorithm == "consistent-hashing" then
    order = order_consistent_hashing(self, up, cands, ctx, r)
  else
    order = order_round_robin(up, cands)
  end
  -- The first target the breaker lets through leads; in half-open that takes a probe
  -- slot. Retries go only to closed targets: half-open ones would each need a slot.
  local chosen, list, out = nil, {}, {}
  for _, t in ipairs(order) do
    local take = false
    if not chosen then
      local ok, ms = true, nil
      if states then ok, ms = shm.breaker_allow(t.key, up.passive_conf, now) end
      if ok or ok == nil then -- an shm error fails open
        chosen, take = t, true
      elseif not wait or ms < wait then
        wait = ms
      end
    else
      take = (not states or states[t] == "closed") and #list < MAX_ATTEMPTS
    end
    if take then
      list[#list + 1] = t
      out[#out + 1] = t.out
    end
  end
  if not chosen then return nil, retry_after_s(wait) end
  local st = { up = up, list = list }
  if up.algorithm == "least-connections" then
    shm.incr(LC_DICT, chosen.lc_key, 1, 0)
    st.lc = chosen
  end
  ctx.balancer = st
  return out
end

--------------------------------------------------------------------------------------------------
-- API
--------------------------------------------------------------------------------------------------

local function default_backend()
  local sdk = rawget(_G, "turnpike")
  if type(sdk) == "table" and sdk.backend then return sdk.backend end
  return require "turnpike.backend.ffi"
end

-- Per attempt of the request: {target = index into the list targets() gave (0-based),
-- outcome = 0 response, 1 tcp failure, 2 timeout}, from the C core.
local ffi_attempts
do
  local targets_out, outcomes_out, C
  ffi_attempts = function(r)
    if not C then
      local ffi = require "ffi"
      C = require "turnpike.ffi.req"
      targets_out = ffi.new("int[?]", MAX_ATTEMPTS)
      outcomes_out = ffi.new("int[?]", MAX_ATTEMPTS)
    end
    local n = C.tp_ffi_req_attempts(r, targets_out, outcomes_out, MAX_ATTEMPTS)
    local out = {}
    for i = 0, n - 1 do
      out[i + 1] = { target = targets_out[i], outcome = outcomes_out[i] }
    end
    return out
  end
end

function _M.new(cfg, opts)
  opts = opts or {}
  local self = setmetatable({ upstreams = {}, list = {} }, mt)
  self.backend = opts.backend or default_backend()
  self.attempts = opts.attempts or self.backend.get_attempts or ffi_attempts
  for _, u in ipairs(cfg.upstreams or {}) do
    local up = new_upstream(u)
    self.upstreams[u.name] = up
    self.list[#self.list + 1] = up
  end
  self.checker = healthcheck.new {
    upstreams = self.list, backend = self.backend, http = opts.http, timer = opts.timer,
    classify = _M.classify,
  }
  -- a checker that cannot start (no timers in this build) must not fail the generation
  local ok, err = pcall(self.checker.start, self.checker)
  if not ok then self.backend.log("err", "active health checks not started: " .. tostring(err)) end
  return self
end

function _M:targets(ctx, service, r)
  local bt = ctx.balancer_target
  if bt then return { { host = bt.host, port = tonumber(bt.port) or 80 } } end
  local name = ctx.upstream_name or service.host
  local up = self.upstreams[name]
  if up then return pick(self, up, ctx, r) end
  if ctx.upstream_name then return nil end
  -- a plain host:port service: the same one-target list every time (read-only)
  local list = service.__targets
  if not list then
    list = { { host = service.host, port = service.port or 80 } }
    service.__targets = list
  end
  return list
end

-- does the log phase have work for this generation (breakers, connection counts)?
function _M:needs_report()
  return next(self.upstreams) ~= nil
end

-- outcome name of an attempt for the breaker; a response counts as an HTTP failure when
-- its status is one of passive.unhealthy.http_statuses
function _M.classify(up, outcome, status)
  if outcome == 0 then
    return up.unhealthy_statuses[status] and "http_failure" or "success"
  end
  return OUTCOMES[outcome]
end

-- Log phase of every proxied request: give back the connection slot and feed each upstream
-- attempt's outcome to its target's breaker. Only the last attempt can have a response.
function _M:report(ctx, r)
  local st = ctx.balancer
  if not st then return end
  ctx.balancer = nil
  local up = st.up
  if st.lc then
    local v = shm.incr(LC_DICT, st.lc.lc_key, -1, 0)
    if v and v < 0 then shm.set(LC_DICT, st.lc.lc_key, 0) end
  end
  if not up.checked then return end
  local now = now_ms(self)
  local attempts = self.attempts(r) or {}
  for i, a in ipairs(attempts) do
    local t = st.list[a.target + 1]
    local status = i == #attempts and self.backend.svc_get_status(r) or nil
    local outcome = t and _M.classify(up, a.outcome, status)
    if outcome then shm.breaker_report(t.key, up.passive_conf, now, outcome) end
  end
end

function _M:health(name)
  local up = self.upstreams[name]
  if not up then return nil end
  local now = now_ms(self)
  local out = {}
  for _, t in ipairs(up.all) do
    local info = shm.breaker_state(t.key, now) or { state = "closed" }
    local e = { id = t.id, target = t.name, weight = t.weight, health = HEALTH[info.state],
                state = info }
    if up.algorithm == "least-connections" then
      e.active_connections = tonumber(shm.get(LC_DICT, t.lc_key)) or 0
    end
    out[#out + 1] = e
  end
  return out
end

-- the upstream objects, for specs and the active checker
function _M:upstream(name)
  return self.upstreams[name]
end

return _M
