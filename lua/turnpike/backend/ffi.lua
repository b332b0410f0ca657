-- turnpike.backend.ffi: the Backend interface (docs/DESIGN.md) over the C core.
--
-- `r` is the request's tp_req_t* cdata. The request whose Lua runs now is the one
-- C names (tp_ffi_current); worker.lua binds each request's ctx under its address.
local ffi = require "ffi"
local C = require "turnpike.ffi.req"

local ffi_string = ffi.string
local ffi_new = ffi.new
local type = type
local tostring = tostring
local lower = string.lower
local coroutine_running = coroutine.running
local coroutine_yield = coroutine.yield
local setmetatable = setmetatable
local select = select
local xpcall = xpcall
local unpack = unpack
local ipairs = ipairs
local pairs = pairs

local TP_AGAIN = 1
local HDR_REQ, HDR_RESP, HDR_SVC = 0, 1, 2
local OP_SET, OP_ADD, OP_CLEAR = 0, 1, 2
local SOURCES = { [0] = nil, "exit", "service", "error" }
local LEVELS = { err = 0, error = 0, warn = 1, notice = 2, info = 3, debug = 4, crit = 0, alert = 0 }

-- out-params made once (STYLE.md 3.9)
local len_out = ffi_new("size_t[1]")
local nlen_out = ffi_new("size_t[1]")
local name_out = ffi_new("const char *[1]")
local value_out = ffi_new("const char *[1]")

local _M = {}

-- Requests known to Lua: their ctx by address, the request's cdata kept in the ctx (no
-- table per request for the pair). C says which one runs now (tp_ffi_current), so finding
-- it costs an FFI call and a table lookup, both compiled by the JIT (coroutine.running is
-- not).
local bound = {}
local REQUEST = "__request" -- the ctx field holding the tp_req_t* (the runtime's own)

function _M.bind(addr, r, ctx)
  ctx[REQUEST] = r
  bound[addr] = ctx
end
function _M.unbind(addr) bound[addr] = nil end

function _M.current()
  local ctx = bound[C.tp_ffi_current()]
  if ctx then return ctx[REQUEST], ctx end
  return nil, nil
end

local function str(p, n)
  if p == nil then return nil end
  return (ffi_string(p, n))
end

local method_names = {} -- http-parser method number -> its name, made once

function _M.get_method(r)
  local id = C.tp_ffi_req_method_id(r)
  local m = method_names[id]
  if m then return m end
  local p = C.tp_ffi_req_method(r, len_out)
  m = ffi_string(p, len_out[0])
  if id >= 0 then method_names[id] = m end
  return m
end
function _M.get_path(r) local p = C.tp_ffi_req_path(r, len_out); return (ffi_string(p, len_out[0])) end
function _M.get_raw_query(r) local p = C.tp_ffi_req_query(r, len_out); return (ffi_string(p, len_out[0])) end
function _M.get_host(r) local p = C.tp_ffi_req_host(r, len_out); return (ffi_string(p, len_out[0])) end
function _M.get_port(r) return (C.tp_ffi_req_port(r)) end
function _M.get_scheme(r) return C.tp_ffi_req_is_tls(r) ~= 0 and "https" or "http" end
-- a GET asking to switch protocols (Connection: upgrade and an Upgrade header)
function _M.is_upgrade(r) return C.tp_ffi_req_is_upgrade(r) ~= 0 end
function _M.get_http_version(r) return C.tp_ffi_req_http_version(r) / 10 end
function _M.get_client_ip(r) local p = C.tp_ffi_req_client_ip(r, len_out); return (ffi_string(p, len_out[0])) end
function _M.get_client_port(r) return (C.tp_ffi_req_client_port(r)) end
function _M.get_start_time(r) return (C.tp_ffi_req_start_ms(r)) end
function _M.get_request_id(r) return (ffi_string(C.tp_ffi_req_id(r))) end
function _M.is_admin(r) return C.tp_ffi_req_is_admin(r) ~= 0 end

local function header_get(r, which, name)
  name = tostring(name)
  local p = C.tp_ffi_headers_get(r, which, name, #name, len_out)
  return str(p, len_out[0])
end

local function headers_all(r, which)
  local out = {}
  for i = 0, C.tp_ffi_headers_count(r, which) - 1 do
    if C.tp_ffi_headers_at(r, which, i, name_out, nlen_out, value_out, len_out) == 0 then
      local k = lower(ffi_string(name_out[0], nlen_out[0]))
      local v = ffi_string(value_out[0], len_out[0])
      local prev = out[k]
      if prev == nil then out[k] = v
      elseif type(prev) == "table" then prev[#prev + 1] = v
      else out[k] = { prev, v } end
    end
  end
  return out
end

local count_out = ffi_new("int[1]")

-- get_header(r, name) -> first value | nil, and how many times the header came
-- (a second result Kong's PDK does not have: duplicate credentials show up cheaply)
function _M.get_header(r, name)
  name = tostring(name)
  local p = C.tp_ffi_headers_get_n(r, HDR_REQ, name, #name, len_out, count_out)
  if p == nil then return nil, 0 end
  return ffi_string(p, len_out[0]), count_out[0]
end
function _M.get_headers(r) return headers_all(r, HDR_REQ) end

function _M.read_body(r)
  local rc = C.tp_ffi_req_read_body(r)
  if rc == TP_AGAIN then
    coroutine_yield()
    rc = C.tp_ffi_req_read_body(r)
  end
  if rc < 0 then
    if rc == -7 then return nil, "request body too large" end
    if rc == -71 then return nil, "bad request body" end
    return nil, "client closed the connection"
  end
  local p = C.tp_ffi_req_body(r, len_out)
  return (ffi_string(p, len_out[0]))
end

local function req_op(r, op, name, value)
  name = tostring(name)
  value = value ~= nil and tostring(value) or ""
  C.tp_ffi_req_header_op(r, op, name, #name, value, #value)
end

function _M.set_header(r, name, value) req_op(r, OP_SET, name, value) end
function _M.add_header(r, name, value) req_op(r, OP_ADD, name, value) end
function _M.clear_header(r, name) req_op(r, OP_CLEAR, name, nil) end
function _M.set_method(r, m) C.tp_ffi_req_set_method(r, m, #m) end
function _M.set_path(r, p) C.tp_ffi_req_set_path(r, p, #p) end
function _M.set_raw_query(r, q) C.tp_ffi_req_set_query(r, q, #q) end
function _M.set_body(r, b) C.tp_ffi_req_set_body(r, b, #b) end

local function resp_op(r, op, name, value)
  name = tostring(name)
  value = value ~= nil and tostring(value) or ""
  C.tp_ffi_resp_header_op(r, op, name, #name, value, #value)
end

function _M.resp_get_status(r) local s = C.tp_ffi_resp_status(r); return s ~= 0 and s or nil end
function _M.resp_set_status(r, s) C.tp_ffi_resp_set_status(r, s) end
function _M.resp_get_header(r, name)
  name = tostring(name)
  local p = C.tp_ffi_resp_get_header(r, name, #name, len_out)
  return str(p, len_out[0])
end
function _M.resp_get_headers(r) return headers_all(r, HDR_RESP) end
function _M.resp_set_header(r, name, value) resp_op(r, OP_SET, name, value) end
-- a whole number |n| < 1e14 (written in C exactly as tostring would)
function _M.resp_set_header_int(r, name, n) C.tp_ffi_resp_header_op_int(r, OP_SET, name, #name, n) end
function _M.resp_add_header(r, name, value) resp_op(r, OP_ADD, name, value) end
function _M.resp_clear_header(r, name) resp_op(r, OP_CLEAR, name, nil) end

function _M.resp_exit(r, status, body, headers)
  if headers then
    for k, v in pairs(headers) do
      if type(v) == "table" then
        resp_op(r, OP_CLEAR, k)
        for _, x in ipairs(v) do resp_op(r, OP_ADD, k, x) end
      else
        resp_op(r, OP_SET, k, v)
      end
    end
  end
  body = body or ""
  C.tp_ffi_resp_exit(r, status, body, #body)
end

function _M.resp_get_source(r) return SOURCES[C.tp_ffi_resp_source(r)] end
function _M.svc_get_status(r) local s = C.tp_ffi_svc_status(r); return s ~= 0 and s or nil end
function _M.svc_get_header(r, name) return header_get(r, HDR_SVC, name) end
function _M.svc_get_headers(r) return headers_all(r, HDR_SVC) end

function _M.sleep(ms)
  local r = _M.current()
  if r == nil or not coroutine_running() then
    error("sleep needs a request context that can yield", 2)
  end
  if C.tp_ffi_sleep(r, ms) == TP_AGAIN then coroutine_yield() end
  return true
end

local stats_out = ffi_new("double[4]")

-- stats(r) -> bytes received, bytes sent, total ms, upstream ms (nil if not proxied)
function _M.stats(r)
  C.tp_ffi_req_stats(r, stats_out)
  local up = stats_out[3]
  return stats_out[0], stats_out[1], stats_out[2], up >= 0 and up or nil
end

function _M.now_ms() return (C.tp_ffi_now_ms()) end
function _M.monotonic_ms() return (C.tp_ffi_monotonic_ms()) end

function _M.log(level, msg)
  msg = tostring(msg)
  C.tp_ffi_log(LEVELS[level] or 2, msg, #msg)
end

-- upstream choice, used by worker.lua after access
function _M.set_targets(r, targets)
  C.tp_ffi_req_clear_targets(r)
  -- the first target outside the loop: with one target (the common case) no loop runs,
  -- which keeps the caller's trace whole
  local t = targets[1]
  if not t then return end
  C.tp_ffi_req_add_target(r, t.host, #t.host, t.port)
  for i = 2, #targets do
    t = targets[i]
    C.tp_ffi_req_add_target(r, t.host, #t.host, t.port)
  end
end

function _M.set_proxy(r, connect_ms, write_ms, read_ms, retries, preserve_host)
  C.tp_ffi_req_set_proxy(r, connect_ms or 0, write_ms or 0, read_ms or 0, retries or -1,
                         preserve_host and 1 or 0)
end

-- an https service: TLS to its targets, verified against `anchors` (nil: not verified)
function _M.set_tls(r, anchors)
  C.tp_ffi_req_set_tls(r, 1, anchors)
end

-- timers: callbacks kept here by id; C fires them in pseudo-requests of this
-- generation (core/tp_timer.c) and calls back run_timer(r, id)
local timers, next_timer_id = {}, 0
local active_gen, pending_timers = nil, {}

function _M.timer_start(delay_ms, every_ms, fn, ...)
  next_timer_id = next_timer_id + 1
  local id = next_timer_id
  timers[id] = { fn = fn, args = { ... }, n = select("#", ...), every = every_ms > 0 }
  if active_gen then
    C.tp_ffi_timer_start(active_gen, delay_ms, every_ms, id)
  else
    pending_timers[#pending_timers + 1] = { id, delay_ms, every_ms }
  end
  return id
end

function _M.timer_cancel(id) timers[id] = nil end

function _M.timer_activate(gen)
  active_gen = gen
  for _, t in ipairs(pending_timers) do C.tp_ffi_timer_start(gen, t[2], t[3], t[1]) end
  pending_timers = {}
end

function _M.timer_run(r, id)
  local t = timers[id]
  if not t then return end
  if not t.every then timers[id] = nil end
  local addr = C.tp_ffi_current()
  _M.bind(addr, r, { timer = true, shared = {}, plugin = {} })
  local ok, err = xpcall(t.fn, debug.traceback, false, unpack(t.args, 1, t.n))
  _M.unbind(addr)
  if not ok then _M.log("err", "timer " .. id .. " failed: " .. tostring(err)) end
end

local node_id
function _M.get_node_id()
  if not node_id then
    local f = io.open("/proc/sys/kernel/random/boot_id")
    local boot = f and f:read("*l") or "0"
    if f then f:close() end
    node_id = boot
  end
  return node_id
end

function _M.get_hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f and f:read("*l") or "localhost"
  if f then f:close() end
  return h
end

for k, v in pairs(require "turnpike.backend.io") do _M[k] = v end
return _M
