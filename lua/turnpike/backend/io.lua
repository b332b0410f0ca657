-- turnpike.backend.io: the outbound I/O part of the FFI backend (docs/DESIGN.md):
--
--   http_request(url, opts) -> { status, headers = { lower_name = v | {v1, v2} }, body } | nil, err
--                              opts: method, headers, body, timeout_ms, connect_timeout_ms,
--                              keepalive, ssl_verify (default true), ssl_server_name
--   redis_connect(opts) -> conn | nil, err        opts: host, port, password, database, timeout_ms
--   redis_command(conn, cmd, ...) -> reply | nil, err
--   redis_release(conn, keepalive) -> 1
--
-- Each call that waits starts the I/O in C (core/tp_httpc.c, core/tp_redis.c), which returns
-- TP_AGAIN, and yields the request's coroutine; C resumes it when the I/O completes, and the
-- result is fetched from the handle C gave us. Handles live in the request's arena, so a conn
-- is only usable by the request that made it (checked on each command).
-- lua/turnpike/backend/ffi.lua merges these functions into its table.
local ffi = require "ffi"
local cjson = require "cjson"
local C = require "turnpike.ffi.io"

local ffi_new = ffi.new
local ffi_string = ffi.string
local type = type
local pairs = pairs
local ipairs = ipairs
local select = select
local tostring = tostring
local tonumber = tonumber
local error = error
local byte = string.byte
local find = string.find
local sub = string.sub
local lower = string.lower
local upper = string.upper
local concat = table.concat
local coroutine_running = coroutine.running
local coroutine_yield = coroutine.yield

local TP_AGAIN = 1
local ERR_LEN = 256
local NULL = cjson.null
local MAX_ARGS = 4096
local DEFAULT_REDIS = { host = "127.0.0.1", port = 6379, database = 0, timeout_ms = 1000 }
local TAG_NIL, TAG_INT, TAG_ARRAY, TAG_ERR = byte("_"), byte(":"), byte("*"), byte("-")

-- out-params made once (STYLE.md 3.9): every use reads them before the next yield
local err_buf = ffi_new("char[?]", ERR_LEN)
local len_out = ffi_new("size_t[1]")
local nlen_out = ffi_new("size_t[1]")
local name_out = ffi_new("const char *[1]")
local value_out = ffi_new("const char *[1]")
local http_out = ffi_new("tp_httpc_handle_t *[1]")
local redis_out = ffi_new("tp_redis_handle_t *[1]")
local argv_cap = 16
local argv = ffi_new("const char *[?]", argv_cap)
local lens = ffi_new("size_t[?]", argv_cap)

local function errstr()
  return (ffi_string(err_buf))
end

-- The request of the running coroutine. backend/ffi.lua requires this module while it loads,
-- so it is looked up when first needed.
local backend
local function current_request(what)
  backend = backend or require "turnpike.backend.ffi"
  local r = backend.current()
  if r == nil or not coroutine_running() then
    error(what .. " needs a request context that can yield", 3)
  end
  return r
end

-- ---- HTTP ------------------------------------------------------------------------------

local tls -- turnpike.tls, loaded with the first https call that verifies

local function header_block(headers)
  if headers == nil then return "" end
  if type(headers) ~= "table" then return nil, "headers must be a table" end
  local out = {}
  for name, value in pairs(headers) do
    name = tostring(name)
    local values = type(value) == "table" and value or { value }
    if find(name, "[^%w!#$%%&'*+.^_`|~-]") or name == "" then
      return nil, "invalid header name: " .. name
    end
    for _, v in ipairs(values) do
      v = tostring(v)
      if find(v, "[\r\n]") then return nil, "invalid header value for " .. name end
      out[#out + 1] = name .. ": " .. v .. "\r\n"
    end
  end
  return (concat(out))
end

local function collect_response(h)
  local status = C.tp_ffi_http_status(h, err_buf, ERR_LEN)
  if status < 0 then return nil, errstr() end
  local headers = {}
  for i = 0, C.tp_ffi_http_header_count(h) - 1 do
    if C.tp_ffi_http_header_at(h, i, name_out, nlen_out, value_out, len_out) == 0 then
      local k = lower(ffi_string(name_out[0], nlen_out[0]))
      local v = ffi_string(value_out[0], len_out[0])
      local prev = headers[k]
      if prev == nil then headers[k] = v
      elseif type(prev) == "table" then prev[#prev + 1] = v
      else headers[k] = { prev, v } end
    end
  end
  local p = C.tp_ffi_http_body(h, len_out)
  return { status = status, headers = headers, body = ffi_string(p, len_out[0]) }
end

local function http_request(url, opts)
  if type(url) ~= "string" then error("url must be a string", 2) end
  opts = opts or {}
  local r = current_request("turnpike.http")
  local method = upper(tostring(opts.method or "GET"))
  if not find(method, "^[A-Z]+$") then return nil, "invalid method: " .. method end
  local headers, herr = header_block(opts.headers)
  if not headers then return nil, herr end
  local body = opts.body
  if body ~= nil and type(body) ~= "string" then body = tostring(body) end
  local timeout = tonumber(opts.timeout_ms) or 10000
  local connect_timeout = tonumber(opts.connect_timeout_ms) or 0
  -- https: verified unless ssl_verify == false (lua-resty-http's default), against the
  -- node's trust anchors (system bundle + ca_certificates); ssl_server_name names the server
  local verify, anchors, server_name = 0, nil, opts.ssl_server_name
  if find(url, "^[hH][tT][tT][pP][sS]:") and opts.ssl_verify ~= false then
    verify = 1
    tls = tls or require "turnpike.tls"
    anchors = tls.node_anchors()
  end
  if server_name ~= nil then server_name = tostring(server_name) end
  local rc = C.tp_ffi_http_request_tls(r, method, url, #url, headers, #headers, body,
                                       body and #body or 0, timeout, connect_timeout,
                                       opts.keepalive == false and 0 or 1, verify, anchors,
                                       server_name, http_out, err_buf, ERR_LEN)
  if rc ~= TP_AGAIN then return nil, errstr() end
  local h = http_out[0]
  coroutine_yield()
  local res, err = collect_response(h)
  C.tp_ffi_http_done(h)
  return res, err
end

-- ---- Redis -----------------------------------------------------------------------------

-- Decode one serialized reply (see core/tp_redis.h) at pos; returns value, next pos.
-- Errors nested in arrays become { false, message }, as lua-resty-redis reports them.
local function decode(s, pos)
  local tag = byte(s, pos)
  if tag == TAG_NIL then return NULL, pos + 1 end
  local nl = find(s, "\n", pos + 1, true)
  local n = tonumber(sub(s, pos + 1, nl - 1))
  if tag == TAG_INT then return n, nl + 1 end
  if tag == TAG_ARRAY then
    local arr, p = {}, nl + 1
    for i = 1, n do arr[i], p = decode(s, p) end
    return arr, p
  end
  local str = sub(s, nl + 1, nl + n)
  if tag == TAG_ERR then return { false, str }, nl + n + 1 end
  return str, nl + n + 1
end

local function set_arg(i, v)
  local tv = type(v)
  if tv == "number" then
    v = tostring(v)
  elseif tv ~= "string" then
    error("bad redis argument #" .. i .. ": a " .. tv, 4)
  end
  argv[i] = v
  lens[i] = #v
  return v
end

local function redis_connect(opts)
  opts = opts or {}
  local r = current_request("turnpike.redis")
  local host = opts.host or DEFAULT_REDIS.host
  local port = tonumber(opts.port) or DEFAULT_REDIS.port
  local password = opts.password
  if password == NULL or password == "" then password = nil end
  if password ~= nil then password = tostring(password) end
  local database = tonumber(opts.database) or DEFAULT_REDIS.database
  local timeout = tonumber(opts.timeout_ms) or DEFAULT_REDIS.timeout_ms
  local rc = C.tp_ffi_redis_connect(r, tostring(host), port, password, password and #password or 0,
                                    database, timeout, redis_out, err_buf, ERR_LEN)
  if rc < 0 then return nil, errstr() end
  local h = redis_out[0]
  if rc == TP_AGAIN then
    coroutine_yield()
    if C.tp_ffi_redis_connected(h, err_buf, ERR_LEN) < 0 then
      local err = errstr()
      C.tp_ffi_redis_release(h, 0)
      return nil, err
    end
  end
  -- r and the request id tell a later request (whose r may reuse the address) from this one
  return { h = h, r = r, id = backend.get_request_id(r) }
end

local function conn_handle(conn)
  if type(conn) ~= "table" then error("bad redis connection", 3) end
  if conn.h == nil then return nil, "closed" end
  local r = current_request("turnpike.redis")
  if r ~= conn.r or backend.get_request_id(r) ~= conn.id then
    error("a redis connection is only usable by the request that made it", 3)
  end
  return conn.h
end

local function redis_command(conn, cmd, ...)
  local h, err = conn_handle(conn)
  if not h then return nil, err end
  local n = select("#", ...) + 1
  if n > MAX_ARGS then return nil, "too many arguments" end
  if n > argv_cap then
    argv_cap = n
    argv = ffi_new("const char *[?]", argv_cap)
    lens = ffi_new("size_t[?]", argv_cap)
  end
  -- the strings stay referenced by this frame until C has copied them
  local keep = { set_arg(0, cmd) }
  for i = 1, n - 1 do keep[i + 1] = set_arg(i, (select(i, ...))) end
  if C.tp_ffi_redis_command(h, n, argv, lens, err_buf, ERR_LEN) ~= TP_AGAIN then
    return nil, errstr()
  end
  coroutine_yield()
  local p = C.tp_ffi_redis_reply(h, len_out, err_buf, ERR_LEN)
  if p == nil then return nil, errstr() end
  local s = ffi_string(p, len_out[0])
  local value = decode(s, 1)
  if byte(s, 1) == TAG_ERR then return nil, value[2] end
  return value
end

local function redis_release(conn, keepalive)
  if type(conn) ~= "table" then error("bad redis connection", 2) end
  if conn.h ~= nil then
    conn_handle(conn)
    C.tp_ffi_redis_release(conn.h, keepalive and 1 or 0)
    conn.h = nil
  end
  return 1
end

return {
  http_request = http_request,
  redis_connect = redis_connect,
  redis_command = redis_command,
  redis_release = redis_release,
}
