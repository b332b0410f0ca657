-- turnpike.backend.fake: the Backend interface (docs/DESIGN.md) over plain Lua tables.
--
-- A request is a table { method, path, query, headers, body, client_ip, client_port, scheme,
-- host, port, http_version }. What the gateway would do with it is recorded on the same table:
--   r.upstream  = { method, path, query, headers, body }   what goes to the service
--   r.response  = { status, headers, body, source }        what the client gets
--   r.service_response = { status, headers, body }         the service's answer, once proxied
-- Log lines go to backend.logs ({level, msg}). Time is a controllable clock advanced by
-- backend.sleep(ms) and by tests (backend.clock:advance(ms)); nothing ever really waits.
--
-- I/O for turnpike.http / turnpike.redis is answered from per-test registrations:
--   backend:fake_http(pattern, responder)  responder(url, opts) -> res | nil, err, or a res table
--   backend:fake_redis(commands)           { cmd = function(store, ...) } over an in-memory store
local cjson = require "cjson.safe"

local type = type
local select = select
local unpack = unpack
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local lower = string.lower
local gsub = string.gsub
local find = string.find
local coroutine_running = coroutine.running
local coroutine_yield = coroutine.yield

local NULL = cjson.null
local DEFAULT_START = 1700000000000 -- a fixed wall clock (ms), so specs are reproducible

local function norm(name)
  return (gsub(lower(tostring(name)), "_", "-"))
end

-- Headers are kept as { lower_name = {values...} } plus the original spelling of each name.
local function new_headers(src)
  local h = { values = {}, names = {} }
  for name, v in pairs(src or {}) do
    local k = norm(name)
    local list = h.values[k] or {}
    if type(v) == "table" then
      for _, x in ipairs(v) do list[#list + 1] = tostring(x) end
    else
      list[#list + 1] = tostring(v)
    end
    h.values[k] = list
    h.names[k] = h.names[k] or name
  end
  return h
end

local function headers_get(h, name)
  local list = h.values[norm(name)]
  return list and list[1] or nil
end

local function headers_all(h)
  local out = {}
  for k, list in pairs(h.values) do
    if #list == 1 then out[k] = list[1] elseif #list > 1 then
      local copy = {}
      for i, v in ipairs(list) do copy[i] = v end
      out[k] = copy
    end
  end
  return out
end

local function headers_set(h, name, value)
  local k = norm(name)
  if value == nil then
    h.values[k] = nil
    return
  end
  if type(value) == "table" then
    local list = {}
    for i, v in ipairs(value) do list[i] = tostring(v) end
    h.values[k] = list
  else
    h.values[k] = { tostring(value) }
  end
  h.names[k] = name
end

-- As the core (core/tp_ffi_req.c): bytes that would end a line or a field in a head are
-- written %XX; control bytes everywhere, a value keeps SP and HTAB, a name loses ':'.
local function hex_of(c) return (string.format("%%%02X", c:byte())) end
local ESCAPE_IN_VALUE, ESCAPE_IN_NAME, ESCAPE_IN_TARGET =
  "[%z\1-\8\10-\31\127]", "[%z\1-\32:\127]", "[%z\1-\32\127]"
local function escaped(s, set)
  if s == nil then return nil end
  return (tostring(s):gsub(set, hex_of))
end
local function escaped_value(v)
  if type(v) ~= "table" then return escaped(v, ESCAPE_IN_VALUE) end
  local out = {}
  for i, x in ipairs(v) do out[i] = escaped(x, ESCAPE_IN_VALUE) end
  return out
end

local function headers_add(h, name, value)
  local k = norm(name)
  local list = h.values[k] or {}
  list[#list + 1] = tostring(value)
  h.values[k] = list
  h.names[k] = h.names[k] or name
end

-- An in-memory Redis good enough for plugin unit specs; tests override commands per case.
local function redis_store(clock)
  local data, expiry = {}, {}
  local function live(k)
    local e = expiry[k]
    if e and e <= clock.now then data[k], expiry[k] = nil, nil end
    return data[k]
  end
  local cmds = {}
  function cmds.ping() return "PONG" end
  function cmds.get(_, k) local v = live(k); return v == nil and NULL or tostring(v) end
  function cmds.set(_, k, v) data[k] = tostring(v); expiry[k] = nil; return "OK" end
  function cmds.del(_, ...)
    local n = 0
    for _, k in ipairs({ ... }) do if live(k) ~= nil then n = n + 1 end; data[k] = nil end
    return n
  end
  function cmds.exists(_, k) return live(k) ~= nil and 1 or 0 end
  function cmds.incrby(_, k, n)
    local v = (tonumber(live(k)) or 0) + tonumber(n)
    data[k] = v
    return v
  end
  function cmds.incr(s, k) return cmds.incrby(s, k, 1) end
  function cmds.expire(_, k, sec)
    if live(k) == nil then return 0 end
    expiry[k] = clock.now + tonumber(sec) * 1000
    return 1
  end
  function cmds.pexpire(_, k, ms)
    if live(k) == nil then return 0 end
    expiry[k] = clock.now + tonumber(ms)
    return 1
  end
  function cmds.pttl(_, k)
    if live(k) == nil then return -2 end
    if not expiry[k] then return -1 end
    return expiry[k] - clock.now
  end
  function cmds.ttl(s, k)
    local p = cmds.pttl(s, k)
    if p < 0 then return p end
    return (math.ceil(p / 1000))
  end
  function cmds.select() return "OK" end
  function cmds.auth() return "OK" end
  return { data = data, expiry = expiry, commands = cmds }
end

local _M = {}

-- _M.new() -> backend. Each backend is independent: its own clock, logs and fake I/O.
function _M.new()
  local B = { logs = {}, http_calls = {}, redis_calls = {} }
  local clock = { now = DEFAULT_START }
  function clock:advance(ms) self.now = self.now + ms end
  function clock:set(ms) self.now = ms end
  B.clock = clock

  local by_co = setmetatable({}, { __mode = "k" })
  local http_rules = {}
  local redis = redis_store(clock)
  B.redis_store = redis

  -- reset(): forget logs, calls, fake I/O answers and stored data; rewind the clock.
  function B.reset()
    B.logs, B.http_calls, B.redis_calls, B.active = {}, {}, {}, nil
    clock.now = DEFAULT_START
    http_rules = {}
    redis = redis_store(clock)
    B.redis_store = redis
  end

  -- request(tbl) -> r: make a request handle from a plain description.
  function B.request(t)
    local r = {
      method = t.method or "GET",
      path = t.path or "/",
      query = t.query or "",
      scheme = t.scheme or "http",
      host = t.host or "localhost",
      port = t.port or (t.scheme == "https" and 8443 or 8000),
      http_version = t.http_version or 1.1,
      client_ip = t.client_ip or "127.0.0.1",
      client_port = t.client_port or 40000,
      body = t.body,
      start_time = t.start_time or clock.now,
      ctx = t.ctx or {},
    }
    if type(r.query) == "table" then
      -- allow query = { a = "1" } for convenience; order by name for reproducibility
      local parts, names = {}, {}
      for k in pairs(r.query) do names[#names + 1] = k end
      table.sort(names)
      for _, k in ipairs(names) do
        local v = r.query[k]
        if v == true then parts[#parts + 1] = k else parts[#parts + 1] = k .. "=" .. tostring(v) end
      end
      r.query = table.concat(parts, "&")
    end
    local hdrs = {}
    for k, v in pairs(t.headers or {}) do hdrs[k] = v end
    if not headers_get(new_headers(hdrs), "host") then hdrs.Host = r.host end
    r.headers = new_headers(hdrs)
    -- as the core: a GET with an Upgrade header and "upgrade" among Connection's tokens
    local connection = headers_get(r.headers, "connection")
    r.upgrade = r.method == "GET" and headers_get(r.headers, "upgrade") ~= nil
      and type(connection) == "string" and connection:lower():find("upgrade", 1, true) ~= nil
    r.upstream = { path = r.path, query = r.query }
    r.response = { headers = new_headers(), source = nil }
    return r
  end

  -- bind(r): make r the request of the running coroutine (or the default one outside any).
  function B.bind(r)
    local co = coroutine_running()
    if co then by_co[co] = r else B.active = r end
  end

  function B.current()
    local co = coroutine_running()
    local r = (co and by_co[co]) or B.active
    if not r then return nil, nil end
    return r, r.ctx
  end

  function B.get_method(r) return r.method end
  function B.get_path(r) return r.path end
  function B.get_raw_query(r) return r.query end
  function B.get_scheme(r) return r.scheme end
  function B.is_upgrade(r) return r.upgrade end
  function B.get_host(r) return r.host end
  function B.get_port(r) return r.port end
  function B.get_http_version(r) return r.http_version end
  function B.get_client_ip(r) return r.client_ip end
  function B.get_client_port(r) return r.client_port end
  function B.get_start_time(r) return r.start_time end
  function B.get_header(r, name)
    local list = r.headers.values[norm(name)]
    if not list or #list == 0 then return nil, 0 end
    return list[1], #list
  end
  function B.get_headers(r) return headers_all(r.headers) end
  function B.read_body(r)
    if r.body_error then return nil, r.body_error end
    return r.body
  end

  function B.set_header(r, name, value)
    headers_set(r.headers, escaped(name, ESCAPE_IN_NAME), escaped_value(value))
  end
  function B.add_header(r, name, value)
    headers_add(r.headers, escaped(name, ESCAPE_IN_NAME), escaped(value, ESCAPE_IN_VALUE))
  end
  function B.clear_header(r, name) headers_set(r.headers, name, nil) end
  function B.set_method(r, m) r.method = m end
  function B.set_path(r, p) r.upstream.path = escaped(p, ESCAPE_IN_TARGET) end
  function B.set_raw_query(r, q) r.upstream.query = escaped(q, ESCAPE_IN_TARGET) end
  function B.set_body(r, body) r.body = body end

  function B.resp_get_status(r) return r.response.status end
  function B.resp_set_status(r, s) r.response.status = s end
  function B.resp_get_header(r, name) return headers_get(r.response.headers, name) end
  function B.resp_get_headers(r) return headers_all(r.response.headers) end
  function B.resp_set_header(r, name, v)
    headers_set(r.response.headers, escaped(name, ESCAPE_IN_NAME), escaped_value(v))
  end
  function B.resp_set_header_int(r, name, n) headers_set(r.response.headers, name, tostring(n)) end
  function B.resp_add_header(r, name, v)
    headers_add(r.response.headers, escaped(name, ESCAPE_IN_NAME), escaped(v, ESCAPE_IN_VALUE))
  end
  function B.resp_clear_header(r, name) headers_set(r.response.headers, name, nil) end
  function B.resp_get_source(r) return r.response.source or "service" end

  -- A gateway-made response replaces anything set so far, as an nginx exit would.
  function B.resp_exit(r, status, body, headers)
    local resp = r.response
    resp.status = status
    resp.body = body
    resp.source = "exit"
    resp.headers = new_headers()
    for k, v in pairs(headers or {}) do headers_set(resp.headers, k, v) end
    r.exited = true
  end

  local function svc(r) return r.service_response end
  function B.svc_get_status(r) return svc(r) and svc(r).status end
  function B.svc_get_header(r, name) return svc(r) and headers_get(svc(r).headers, name) end
  function B.svc_get_headers(r) return svc(r) and headers_all(svc(r).headers) or {} end

  -- proxy(r, responder): what the C core does after access when nothing exited. The service
  -- answer comes from responder(upstream_request) -> {status, headers, body}; response headers
  -- set by plugins before proxying stay on top of the service's.
  function B.proxy(r, responder)
    local up = r.upstream
    up.method = r.method
    up.headers = headers_all(r.headers)
    up.body = r.body
    local res = responder(up) or {}
    r.service_response = { status = res.status or 200, headers = new_headers(res.headers),
                           body = res.body }
    local resp = r.response
    local merged = new_headers(res.headers)
    for k, list in pairs(resp.headers.values) do merged.values[k] = list end
    resp.headers = merged
    resp.status = resp.status or r.service_response.status
    resp.body = res.body
    resp.source = "service"
  end

  function B.sleep(ms)
    clock.now = clock.now + ms
    if coroutine_running() then coroutine_yield() end
  end

  function B.now_ms() return clock.now end

  -- timers: recorded with their due time on the fake clock; B.run_timers() runs
  -- every timer that is due (periodic ones are re-armed), as the worker would.
  B.timers = {}
  local next_timer = 0
  function B.timer_start(delay_ms, every_ms, fn, ...)
    next_timer = next_timer + 1
    B.timers[next_timer] = { due = clock.now + delay_ms, every = every_ms, fn = fn,
                             args = { ... }, n = select("#", ...) }
    return next_timer
  end
  function B.timer_cancel(id) B.timers[id] = nil end
  function B.run_timers()
    local ran = 0
    for id, t in pairs(B.timers) do
      if t.due <= clock.now then
        if t.every > 0 then t.due = clock.now + t.every else B.timers[id] = nil end
        local co = coroutine.create(function() t.fn(false, unpack(t.args, 1, t.n)) end)
        while coroutine.status(co) ~= "dead" do
          local ok, err = coroutine.resume(co)
          if not ok then error(err, 0) end
        end
        ran = ran + 1
      end
    end
    return ran
  end

  function B.log(level, msg)
    B.logs[#B.logs + 1] = { level = level, msg = msg }
  end

  function B.get_node_id() return "00000000-0000-4000-8000-000000000001" end

  -- I/O. Each call yields once when inside a coroutine, as real I/O would.
  function B.fake_http(pattern, responder)
    table.insert(http_rules, 1, { pattern = pattern, responder = responder })
  end

  function B.http_request(url, opts)
    B.http_calls[#B.http_calls + 1] = { url = url, opts = opts }
    if coroutine_running() then coroutine_yield() end
    for _, rule in ipairs(http_rules) do
      if find(url, rule.pattern) then
        local resp = rule.responder
        if type(resp) == "function" then return resp(url, opts or {}) end
        return resp
      end
    end
    return nil, "connection refused (no fake http answer for " .. url .. ")"
  end

  function B.fake_redis(commands)
    for name, fn in pairs(commands or {}) do redis.commands[lower(name)] = fn end
  end

  function B.redis_connect(opts)
    local connect = redis.commands.connect
    if connect then
      local ok, err = connect(redis, opts)
      if not ok then return nil, err end
    end
    return { opts = opts or {}, store = redis }
  end

  function B.redis_command(conn, cmd, ...)
    B.redis_calls[#B.redis_calls + 1] = { cmd = lower(cmd), args = { ... } }
    if coroutine_running() then coroutine_yield() end
    local fn = redis.commands[lower(cmd)]
    if not fn then return nil, "ERR unknown command '" .. cmd .. "' (fake redis)" end
    return fn(redis, ...)
  end

  function B.redis_release(conn, keepalive) return 1 end

  return B
end

_M.new_headers = new_headers
_M.headers_all = headers_all
_M.headers_get = headers_get

return _M
