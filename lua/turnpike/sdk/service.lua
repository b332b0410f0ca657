-- turnpike.service: what goes to the service (service.request), where it goes (set_upstream,
-- set_target, set_timeouts) and what came back (service.response), as Kong's kong.service.
--
-- set_upstream/set_target/set_timeouts only record their choice in ctx; the core reads
-- ctx.upstream_name, ctx.balancer_target = {host, port} and ctx.timeouts = {connect, write, read}
-- (ms) when it connects.
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
local AFTER_HEADERS = phase.AFTER_HEADERS
local CT_JSON = "application/json"
local CT_FORM = "application/x-www-form-urlencoded"
local METHODS = {
  GET = true, HEAD = true, PUT = true, POST = true, DELETE = true, OPTIONS = true,
  MKCOL = true, COPY = true, MOVE = true, PROPFIND = true, PROPPATCH = true, LOCK = true,
  UNLOCK = true, PATCH = true, TRACE = true, CONNECT = true,
}

local function valid_port(p)
  return type(p) == "number" and floor(p) == p and p >= 0 and p <= 65535
end

local _M = {}

-- new(backend, sdk): sdk.db (set by the runner) is consulted by set_upstream.
function _M.new(backend, sdk)
  local service = { request = {}, response = {} }
  local req = service.request

  function service.set_upstream(host)
    if type(host) ~= "string" then error("host must be a string", 2) end
    local _, ctx = check(backend, REWRITE_ACCESS, "service.set_upstream")
    local db = sdk.db
    if db and db.upstreams_by_name and not db.upstreams_by_name[host] then
      return nil, "could not find an Upstream named '" .. host .. "'"
    end
    ctx.upstream_name = host
    ctx.balancer_target = nil
    return true
  end

  function service.set_target(host, port)
    if type(host) ~= "string" then error("host must be a string", 2) end
    if not valid_port(port) then error("port must be an integer between 0 and 65535", 2) end
    local _, ctx = check(backend, REWRITE_ACCESS, "service.set_target")
    ctx.balancer_target = { host = host, port = port }
    ctx.upstream_name = nil
  end

  function service.set_timeouts(connect, write, read)
    for name, v in pairs({ connect = connect, write = write, read = read }) do
      if type(v) ~= "number" or v < 1 or v > 2147483646 then
        error(name .. "_timeout must be an integer between 1 and 2147483646", 2)
      end
    end
    local _, ctx = check(backend, REWRITE_ACCESS, "service.set_timeouts")
    ctx.timeouts = { connect = connect, write = write, read = read }
  end

  function req.set_header(name, value)
    check_header(name, value)
    local r = check(backend, REWRITE_ACCESS, "service.request.set_header")
    backend.set_header(r, name, header_value(value))
  end

  function req.add_header(name, value)
    check_header(name, value)
    local r = check(backend, REWRITE_ACCESS, "service.request.add_header")
    if type(value) == "table" then
      for _, v in ipairs(value) do backend.add_header(r, name, tostring(v)) end
    else
      backend.add_header(r, name, tostring(value))
    end
  end

  function req.clear_header(name)
    if type(name) ~= "string" then error("header name must be a string", 2) end
    local r = check(backend, REWRITE_ACCESS, "service.request.clear_header")
    backend.clear_header(r, name)
  end

  function req.set_headers(headers)
    if type(headers) ~= "table" then error("headers must be a table", 2) end
    for k, v in pairs(headers) do check_header(k, v) end
    local r = check(backend, REWRITE_ACCESS, "service.request.set_headers")
    for k, v in pairs(headers) do backend.set_header(r, k, header_value(v)) end
  end

  function req.set_path(path)
    if type(path) ~= "string" then error("path must be a string", 2) end
    if path:sub(1, 1) ~= "/" then error("path must start with /", 2) end
    local r = check(backend, REWRITE_ACCESS, "service.request.set_path")
    backend.set_path(r, path)
  end

  function req.set_raw_query(query)
    if type(query) ~= "string" then error("query must be a string", 2) end
    local r = check(backend, REWRITE_ACCESS, "service.request.set_raw_query")
    backend.set_raw_query(r, query)
  end

  function req.set_query(args)
    if type(args) ~= "table" then error("args must be a table", 2) end
    local r = check(backend, REWRITE_ACCESS, "service.request.set_query")
    backend.set_raw_query(r, util.encode_args(args))
  end

  function req.set_method(method)
    if type(method) ~= "string" then error("method must be a string", 2) end
    if not METHODS[method] then error("invalid method: " .. method, 2) end
    local r = check(backend, REWRITE_ACCESS, "service.request.set_method")
    backend.set_method(r, method)
  end

  function req.set_scheme(scheme)
    if scheme ~= "http" and scheme ~= "https" then error("invalid scheme: " .. tostring(scheme), 2) end
    local _, ctx = check(backend, REWRITE_ACCESS, "service.request.set_scheme")
    ctx.upstream_scheme = scheme
  end

  function req.set_raw_body(body)
    if type(body) ~= "string" then error("body must be a string", 2) end
    local r = check(backend, REWRITE_ACCESS, "service.request.set_raw_body")
    backend.set_body(r, body)
  end

  -- set_body(args, mimetype) -> true | nil, err: encodes args as the request's (or the given)
  -- content type, json or x-www-form-urlencoded.
  function req.set_body(args, mimetype)
    if type(args) ~= "table" then error("args must be a table", 2) end
    local r = check(backend, REWRITE_ACCESS, "service.request.set_body")
    local ct = util.mime(mimetype) or util.mime(backend.get_header(r, "content-type"))
    if not ct then return nil, "content type was neither explicitly given nor in the request" end
    local body
    if ct == CT_JSON then
      local err
      body, err = cjson.encode(args)
      if not body then return nil, err end
    elseif ct == CT_FORM then
      body = util.encode_args(args)
    else
      return nil, "unsupported content type '" .. ct .. "'"
    end
    if mimetype then backend.set_header(r, "Content-Type", mimetype) end
    backend.set_body(r, body)
    return true
  end

  function service.response.get_status()
    local r = check(backend, AFTER_HEADERS, "service.response.get_status")
    return backend.svc_get_status(r)
  end

  function service.response.get_header(name)
    if type(name) ~= "string" then error("header name must be a string", 2) end
    local r = check(backend, AFTER_HEADERS, "service.response.get_header")
    return backend.svc_get_header(r, name)
  end

  function service.response.get_headers()
    local r = check(backend, AFTER_HEADERS, "service.response.get_headers")
    return util.headers_table(backend.svc_get_headers(r) or {})
  end

  return service
end

return _M
