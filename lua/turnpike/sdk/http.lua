-- turnpike.http: outbound HTTP for plugins, shaped like lua-resty-http.
--
--   turnpike.http.request_uri(url, { method, headers, body, query, timeout_ms, keepalive,
--                                   connect_timeout_ms, ssl_verify, ssl_server_name })
--                                                                    -> res | nil, err
--   turnpike.http.new() -> client with :request_uri(url, opts), :set_timeout(ms),
--                          :set_timeouts(connect, send, read), :set_keepalive(), :close()
-- res = { status, headers (any-case lookup), body }. The request waits without blocking the
-- worker: backend.http_request(url, opts) yields the calling coroutine until it completes.
-- https (as lua-resty-http): ssl_verify defaults to true, against the node's trust anchors
-- (the system CA bundle plus the config's ca_certificates); ssl_server_name is the name sent
-- as SNI and verified (default: the url's host; an IP literal is never sent, and verifying
-- one fails unless ssl_server_name names it). connect_timeout_ms bounds connect + handshake.
local util = require "turnpike.sdk.util"

local type = type
local pairs = pairs
local error = error
local setmetatable = setmetatable

local DEFAULT_TIMEOUT_MS = 10000

local _M = {}

function _M.new(backend)
  local http = {}

  local function request_uri(url, opts, defaults)
    if type(url) ~= "string" then error("url must be a string", 3) end
    if opts ~= nil and type(opts) ~= "table" then error("opts must be a table", 3) end
    local o = {}
    for k, v in pairs(defaults or {}) do o[k] = v end
    for k, v in pairs(opts or {}) do o[k] = v end
    o.method = o.method or "GET"
    o.timeout_ms = o.timeout_ms or DEFAULT_TIMEOUT_MS
    local q = o.query
    if type(q) == "table" then q = util.encode_args(q) end
    if type(q) == "string" and q ~= "" then
      url = url .. (url:find("?", 1, true) and "&" or "?") .. q
    end
    o.query = nil
    local res, err = backend.http_request(url, o)
    if not res then return nil, err end
    local headers = {}
    for k, v in pairs(res.headers or {}) do headers[k:lower()] = v end
    res.headers = util.headers_table(headers)
    return res
  end

  function http.request_uri(url, opts)
    return request_uri(url, opts)
  end

  local client_mt = { __index = {} }
  local methods = client_mt.__index

  function methods:request_uri(url, opts)
    return request_uri(url, opts, self.defaults)
  end

  function methods:set_timeout(ms)
    self.defaults.timeout_ms = ms
  end

  function methods:set_timeouts(connect, send, read)
    self.defaults.timeout_ms = (connect or 0) + (send or 0) + (read or 0)
    self.defaults.connect_timeout_ms = connect
  end

  function methods:set_keepalive()
    return 1
  end

  function methods:close()
    return 1
  end

  function http.new()
    return (setmetatable({ defaults = {} }, client_mt))
  end

  return http
end

return _M
