-- turnpike.request: the client's request, as Kong's kong.request.
local cjson = require "cjson.safe"
local phase = require "turnpike.sdk.phase"
local util = require "turnpike.sdk.util"

local type = type
local pairs = pairs
local tonumber = tonumber
local error = error
local check = phase.check

local REQUEST = phase.REQUEST
local READ_BODY = phase.READ_BODY
local CT_JSON = "application/json"
local CT_FORM = "application/x-www-form-urlencoded"

local _M = {}

function _M.new(backend)
  local request = {}

  local function getter(name)
    local fname = "request." .. name
    request[name] = function()
      local r = check(backend, REQUEST, fname)
      return backend[name](r)
    end
  end

  getter("get_method")
  getter("get_path")
  getter("get_scheme")
  getter("get_host")
  getter("get_http_version")
  getter("get_start_time")

  function request.get_raw_query()
    local r = check(backend, REQUEST, "request.get_raw_query")
    return backend.get_raw_query(r) or ""
  end

  function request.get_port()
    local r = check(backend, REQUEST, "request.get_port")
    return (tonumber(backend.get_port(r)))
  end

  function request.get_path_with_query()
    local r = check(backend, REQUEST, "request.get_path_with_query")
    local q = backend.get_raw_query(r)
    if q and q ~= "" then return backend.get_path(r) .. "?" .. q end
    return backend.get_path(r)
  end

  -- get_query(max_args) -> { name = "v" | true | {"v1","v2"} }
  function request.get_query(max_args)
    max_args = util.check_max_args(max_args)
    local r = check(backend, REQUEST, "request.get_query")
    return util.decode_args(backend.get_raw_query(r), max_args)
  end

  -- get_query_arg(name) -> the first value of the argument (true for a bare `name`)
  function request.get_query_arg(name)
    if type(name) ~= "string" then error("query argument name must be a string", 2) end
    local r = check(backend, REQUEST, "request.get_query_arg")
    local v = util.decode_args(backend.get_raw_query(r), util.DEFAULT_MAX_ARGS)[name]
    if type(v) == "table" then return v[1] end
    return v
  end

  function request.get_header(name)
    if type(name) ~= "string" then error("header name must be a string", 2) end
    local r = check(backend, REQUEST, "request.get_header")
    return backend.get_header(r, name)
  end

  -- get_headers(max_headers) -> table keyed by lower-case name, looked up in any case.
  function request.get_headers(max_headers)
    max_headers = util.check_max_args(max_headers)
    local r = check(backend, REQUEST, "request.get_headers")
    local out, n = {}, 0
    for k, v in pairs(backend.get_headers(r)) do
      n = n + 1
      if n > max_headers then break end
      out[k] = v
    end
    return util.headers_table(out)
  end

  -- get_raw_body() -> body ("" when there is none) | nil, err. May wait for the body.
  function request.get_raw_body()
    local r = check(backend, READ_BODY, "request.get_raw_body")
    local body, err = backend.read_body(r)
    if err then return nil, err end
    return body or ""
  end

  -- get_body(mimetype, max_args) -> args | nil, err, mimetype
  function request.get_body(mimetype, max_args)
    max_args = util.check_max_args(max_args)
    local r = check(backend, READ_BODY, "request.get_body")
    local ct = mimetype and util.mime(mimetype) or util.mime(backend.get_header(r, "content-type"))
    if not ct or ct == "" then return nil, "missing content type" end
    if ct ~= CT_JSON and ct ~= CT_FORM then
      return nil, "unsupported content type '" .. ct .. "'", ct
    end
    local body, err = backend.read_body(r)
    if err then return nil, err, ct end
    body = body or ""
    if ct == CT_FORM then
      return util.decode_args(body, max_args), nil, ct
    end
    local json = cjson.decode(body)
    if type(json) ~= "table" then return nil, "invalid json body", ct end
    return json, nil, ct
  end

  -- get_uri_captures() -> { unnamed = {[0]=whole, ...}, named = { name = v } }
  function request.get_uri_captures()
    local _, ctx = check(backend, REQUEST, "request.get_uri_captures")
    local unnamed, named = {}, {}
    local caps = ctx and ctx.route_match and ctx.route_match.uri_captures
    for k, v in pairs(caps or {}) do
      if type(k) == "number" then unnamed[k] = v else named[k] = v end
    end
    return { unnamed = unnamed, named = named }
  end

  return request
end

return _M
