-- turnpike.healthcheck: active health checks, fed to the same per-target circuit breakers
-- as the passive checks (see turnpike.balancer).
--
--   healthcheck.new(opts) -> checker   opts: upstreams (the balancer's upstream objects),
--                                      backend, http (default turnpike.http), timer (default
--                                      turnpike.timer)
--   checker:start() -> number of timers started
--   checker:check(up, target) -> outcome | nil, why      one timer firing for one target
--   checker:probe(up, target) -> outcome | nil, why      one HTTP probe, classified
--
-- Each target of an upstream with healthchecks.active.healthy.interval or
-- unhealthy.interval > 0 gets its own periodic timer (so a slow target never delays the
-- probes of the others). A firing probes when the interval that fits the target's state is
-- due: healthy.interval while the breaker is closed, unhealthy.interval while half-open; an
-- open breaker ignores outcomes, so nothing is probed until its open time is over, and then
-- the probe is the half-open trial that closes or reopens it. Every worker runs the timers,
-- but a probe round is claimed in shared memory ("hc:<target key>:<round>" in the kv dict),
-- so each target is probed once per interval by the whole node, across reloads too.
local shm = require "turnpike.ffi.shm"

local ipairs = ipairs
local pairs = pairs
local type = type
local tostring = tostring
local setmetatable = setmetatable
local pcall = pcall
local floor = math.floor
local concat = table.concat
local find = string.find

local CLAIM_DICT = "kv"

local _M = {}
local mt = { __index = _M }

local function status_set(list)
  local set = {}
  for _, s in ipairs(list or {}) do set[s] = true end
  return set
end

local function sdk_field(name)
  local sdk = rawget(_G, "turnpike")
  return type(sdk) == "table" and sdk[name] or nil
end

-- what the checker needs of an upstream's healthchecks.active, in integer ms
local function active_conf(up)
  local hc = up.conf.healthchecks or {}
  local a = hc.active or {}
  local healthy, unhealthy = a.healthy or {}, a.unhealthy or {}
  local c = {
    type = a.type or "http", path = a.http_path or "/",
    timeout_ms = floor((a.timeout or 1) * 1000),
    healthy_ms = floor((healthy.interval or 0) * 1000),
    unhealthy_ms = floor((unhealthy.interval or 0) * 1000),
    healthy = status_set(healthy.http_statuses),
    unhealthy = status_set(unhealthy.http_statuses),
    verify = a.https_verify_certificate ~= false,
    sni = a.https_sni, -- https: the name sent and verified (an IP target has none of its own)
    headers = {},
  }
  for k, v in pairs(a.headers or {}) do
    c.headers[k] = type(v) == "table" and concat(v, ", ") or tostring(v)
  end
  if c.timeout_ms < 1 then c.timeout_ms = 1 end
  return c
end

function _M.new(opts)
  local self = setmetatable({ backend = opts.backend, http = opts.http, timer = opts.timer,
                              upstreams = {}, conf = {} }, mt)
  for _, up in ipairs(opts.upstreams or {}) do
    if up.active_on then
      self.upstreams[#self.upstreams + 1] = up
      self.conf[up] = active_conf(up)
    end
  end
  return self
end

local function url_host(host)
  if find(host, ":", 1, true) then return "[" .. host .. "]" end
  return host
end

function _M:probe(up, t)
  local c = self.conf[up]
  local http = self.http or sdk_field("http")
  if not http then return nil, "no http client" end
  local scheme = c.type == "https" and "https" or "http"
  local url = scheme .. "://" .. url_host(t.host) .. ":" .. t.port .. c.path
  local ok, res, err = pcall(http.request_uri, url, { method = "GET", headers = c.headers,
    timeout_ms = c.timeout_ms, keepalive = false, ssl_verify = c.verify, ssl_server_name = c.sni })
  if not ok then -- the client itself failed: no news about the target, say so once
    if not self.broken then
      self.broken = true
      self.backend.log("err", "active health check probe error: " .. tostring(res))
    end
    return nil, "probe error: " .. tostring(res)
  end
  if not res then
    err = tostring(err)
    if find(err, "timeout", 1, true) or find(err, "timed out", 1, true) then
      return "timeout", err
    end
    return "tcp_failure", err
  end
  if c.type == "tcp" then return "success" end -- it answered: the port is open
  if c.unhealthy[res.status] then return "http_failure" end
  if c.healthy[res.status] then return "success" end
  return nil, "status " .. tostring(res.status) .. " is neither healthy nor unhealthy"
end

local function now_ms(self)
  return (floor(self.backend.now_ms()))
end

function _M:check(up, t)
  local c = self.conf[up]
  local now = now_ms(self)
  local info = shm.breaker_state(t.key, now)
  local state = info and info.state or "closed"
  if state == "open" then return nil, "open" end
  local every = state == "closed" and c.healthy_ms or c.unhealthy_ms
  if every <= 0 then return nil, "not probed in state " .. state end
  local claim = shm.incr(CLAIM_DICT, "hc:" .. t.key .. ":" .. floor(now / every), 1, 0, every * 2)
  if claim ~= 1 then return nil, "probed by another worker" end
  if state == "half_open" and shm.breaker_allow(t.key, up.active_conf, now) == false then
    return nil, "half-open probe in flight"
  end
  local outcome, why = self:probe(up, t)
  if outcome then
    shm.breaker_report(t.key, up.active_conf, now_ms(self), outcome)
  end
  return outcome, why
end

-- One timer per target, at the shorter of the two intervals.
function _M:start()
  local timer = self.timer or sdk_field("timer")
  if #self.upstreams == 0 or not timer then return 0 end
  local n = 0
  for _, up in ipairs(self.upstreams) do
    local c = self.conf[up]
    local tick = c.healthy_ms
    if tick <= 0 or (c.unhealthy_ms > 0 and c.unhealthy_ms < tick) then tick = c.unhealthy_ms end
    for _, t in ipairs(up.targets) do
      timer.every(tick, function(premature)
        if not premature then self:check(up, t) end
      end)
      n = n + 1
    end
  end
  return n
end

return _M
