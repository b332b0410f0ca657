-- turnpike.response: the response to the client, as Kong's kong.response.
--
-- exit() does what Kong does inside a plugin: it records a gateway-made response and returns;
-- the runner sees ctx.exited after the handler returns and skips the rest of the phase chain
-- (plugins write `return turnpike.response.exit(...)`). header_filter, body_filter and log
-- still run for that response.
local cjson = require "cjson.safe"
local phase = require "turnpike.sdk.phase"
local util = require "turnpike.sdk.util"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local error = error
local floor = math.floor
local check = phase.check
local check_header = util.check_header
local header_value = util.header_value

local REWRITE_ACCESS = phase.REWRITE_ACCESS
local RESPONSE_WRITE = phase.RESPONSE_WRITE
local AFTER_HEADERS = phase.AFTER_HEADERS
local BODY_FILTER = phase.BODY_FILTER
local CT_JSON = "application/json; charset=utf-8"

-- Default messages for response.error(status) with no message, as Kong's.
local MESSAGES = {
  [400] = "Bad request", [401] = "Unauthorized", [402] = "Payment required",
  [403] = "Forbidden", [404] = "Not found", [405] = "Method not allowed",
  [406] = "Not acceptable", [407] = "Proxy authentication required", [408] = "Request timeout",
  [409] = "Conflict", [410] = "Gone", [411] = "Length required", [412] = "Precondition failed",
  [413] = "Payload too large", [414] = "URI too long", [415] = "Unsupported media type",
  [416] = "Range not satisfiable", [417] = "Expectation failed", [418] = "I'm a teapot",
  [421] = "Misdirected request", [422] = "Unprocessable entity", [423] = "Locked",
  [424] = "Failed dependency", [425] = "Too early", [426] = "Upgrade required",
  [428] = "Precondition required", [429] = "Too many requests",
  [431] = "Request header fields too large", [451] = "Unavailable for legal reasons",
  [500] = "An unexpected error occurred", [501] = "Not implemented",
  [502] = "An invalid response was received from the upstream server",
  [503] = "The upstream server is currently unavailable",
  [504] = "The upstream server is timing out", [505] = "HTTP version not supported",
}

local function check_status(status, lo, hi)
  if type(status) ~= "number" or floor(status) ~= status or status < lo or status > hi then
    error("code must be a number between " .. lo .. " and " .. hi, 3)
  end
end

local _M = { MESSAGES = MESSAGES }

function _M.new(backend)
  local response = {}

  -- exit(status, body, headers): body table -> JSON, string -> as is, nil -> no body.
  local function do_exit(r, ctx, status, body, headers)
    if headers ~= nil and type(headers) ~= "table" then error("headers must be a table", 3) end
    local out, has_ct = {}, false
    for k, v in pairs(backend.resp_get_headers(r) or {}) do out[k] = v end
    for k, v in pairs(headers or {}) do
      check_header(k, v)
      out[k:lower()] = header_value(v)
      if k:lower() == "content-type" then has_ct = true end
    end
    if type(body) == "table" then
      local json, err = cjson.encode(body)
      if not json then error("could not JSON-encode the exit body: " .. tostring(err), 3) end
      body = json
      if not has_ct then out["content-type"] = CT_JSON end
    elseif body ~= nil and type(body) ~= "string" then
      error("body must be a nil, string or table", 3)
    end
    backend.resp_exit(r, status, body, out)
    if ctx then
      ctx.exited = true
      ctx.exit_status = status
    end
  end

  function response.exit(status, body, headers)
    check_status(status, 100, 599)
    local r, ctx = check(backend, REWRITE_ACCESS, "response.exit")
    do_exit(r, ctx, status, body, headers)
  end

  -- error(status, message, headers): a 4xx/5xx with a JSON { message } body.
  function response.error(status, message, headers)
    check_status(status, 400, 599)
    if message ~= nil and type(message) ~= "string" then
      error("message must be a string", 2)
    end
    local r, ctx = check(backend, REWRITE_ACCESS, "response.error")
    do_exit(r, ctx, status, { message = message or MESSAGES[status] or "An error occurred" }, headers)
  end

  function response.get_status()
    local r, ctx = check(backend, AFTER_HEADERS, "response.get_status")
    return backend.resp_get_status(r)
  end

  function response.set_status(status)
    check_status(status, 100, 599)
    local r = check(backend, RESPONSE_WRITE, "response.set_status")
    backend.resp_set_status(r, status)
  end

  function response.get_header(name)
    if type(name) ~= "string" then error("header name must be a string", 2) end
    local r = check(backend, AFTER_HEADERS, "response.get_header")
    return backend.resp_get_header(r, name)
  end

  function response.get_headers(max_headers)
    local r = check(backend, AFTER_HEADERS, "response.get_headers")
    return util.headers_table(backend.resp_get_headers(r))
  end

  local set_int = backend.resp_set_header_int

  function response.set_header(name, value)
    check_header(name, value)
    local r = check(backend, RESPONSE_WRITE, "response.set_header")
    -- a whole number is written by the backend: no Lua string per counter value
    if set_int and type(value) == "number" and value % 1 == 0 and value > -1e14
       and value < 1e14 then
      set_int(r, name, value)
      return
    end
    backend.resp_set_header(r, name, header_value(value))
  end

  function response.add_header(name, value)
    check_header(name, value)
    local r = check(backend, RESPONSE_WRITE, "response.add_header")
    if type(value) == "table" then
      for _, v in ipairs(value) do backend.resp_add_header(r, name, tostring(v)) end
    else
      backend.resp_add_header(r, name, tostring(value))
    end
  end

  function response.clear_header(name)
    if type(name) ~= "string" or name == "" then error("header name must be a string", 2) end
    local r = check(backend, RESPONSE_WRITE, "response.clear_header")
    backend.resp_clear_header(r, name)
  end

  function response.set_headers(headers)
    if type(headers) ~= "table" then error("headers must be a table", 2) end
    for k, v in pairs(headers) do check_header(k, v) end
    local r = check(backend, RESPONSE_WRITE, "response.set_headers")
    for k, v in pairs(headers) do backend.resp_set_header(r, k, header_value(v)) end
  end

  -- get_source() -> "exit" | "service" | "error"
  function response.get_source()
    local r, ctx = check(backend, AFTER_HEADERS, "response.get_source")
    if ctx and ctx.unexpected_error then return "error" end
    if ctx and ctx.exited then return "exit" end
    return backend.resp_get_source(r)
  end

  -- Body filter helpers (Kong 3 semantics): get_raw_body() buffers the chunks of this phase
  -- and returns the whole body at the last chunk (nil before); set_raw_body(b) replaces the
  -- body, and only makes sense at the last chunk.
  function response.get_raw_body()
    local _, ctx = check(backend, BODY_FILTER, "response.get_raw_body")
    local bf = ctx.body_filter
    local name = ctx.plugin_name or ""
    bf.buffers[name] = bf.buffers[name] or {}
    local buf = bf.buffers[name]
    buf[#buf + 1] = bf.chunk or ""
    bf.chunk = ""
    if bf.eof then return (table.concat(buf)) end
    return nil
  end

  function response.set_raw_body(body)
    if type(body) ~= "string" then error("body must be a string", 2) end
    local _, ctx = check(backend, BODY_FILTER, "response.set_raw_body")
    local bf = ctx.body_filter
    bf.chunk = bf.eof and body or ""
  end

  return response
end

return _M
