-- turnpike.typedefs: reusable field definitions for schemas, with Kong's names, so plugin
-- schemas written for Kong (`require "kong.db.schema.typedefs"`) load unchanged.
--
-- Each typedef is a table usable as a field definition; calling it with a table of overrides
-- returns a new definition (`typedefs.host { required = true }`), as Kong's do.
local cjson = require "cjson"

local type = type
local pairs = pairs
local setmetatable = setmetatable

local null = cjson.null

local UUID_PATTERN = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"
local HTTP_METHODS_PATTERN = "^%u+$"

local function copy(t)
  if type(t) ~= "table" then return t end
  local out = {}
  for k, v in pairs(t) do out[k] = copy(v) end
  return out
end

local typedef_mt

local function define(def)
  return (setmetatable(def, typedef_mt))
end

typedef_mt = {
  __call = function(self, overrides)
    local out = copy(self)
    for k, v in pairs(overrides or {}) do out[k] = v end
    return define(out)
  end,
}

local function validate_host(v)
  if v:find("^%[[%x:.]+%]$") or v:find("^[%w%.%-_%*]+$") then return true end
  return nil, "invalid hostname: " .. v
end

local function validate_host_port(v)
  local host, port = v:match("^(.-):(%d+)$")
  if not host then host = v end
  if port and tonumber(port) > 65535 then return nil, "invalid port number" end
  return validate_host(host)
end

local function validate_ip(v)
  local a, b, c, d = v:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if a then
    for _, x in ipairs({ a, b, c, d }) do
      if tonumber(x) > 255 then return nil, "invalid ip address: " .. v end
    end
    return true
  end
  if v:find(":") and v:find("^[%x:.]+$") then return true end
  return nil, "invalid ip address: " .. v
end

local function validate_cidr(v)
  local ip, bits = v:match("^(.-)/(%d+)$")
  if not ip then return validate_ip(v) end
  local ok, err = validate_ip(ip)
  if not ok then return nil, err end
  local max = ip:find(":") and 128 or 32
  if tonumber(bits) > max then return nil, "invalid cidr range: " .. v end
  return true
end

local function validate_url(v)
  if v:find("^[%a][%w+.-]*://[^/]+") then return true end
  return nil, "missing host in url"
end

local PROTOCOLS = { "grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp",
  "ws", "wss" }

local _M = {}

_M.null = null

_M.uuid = define { type = "string", uuid = true, auto = true }
_M.auto_timestamp_s = define { type = "integer", timestamp = true, auto = true }
_M.auto_timestamp_ms = define { type = "number", timestamp = true, auto = true }
_M.name = define { type = "string", unique = true, match = "^[%w%.%-_~]+$" }
_M.utf8_name = define { type = "string", unique = true }
_M.tag = define { type = "string", len_min = 1 }
_M.tags = define { type = "set", elements = _M.tag }
_M.description = define { type = "string", len_max = 1000 }

_M.host = define { type = "string", custom_validator = validate_host }
_M.host_with_optional_port = define { type = "string", custom_validator = validate_host_port }
_M.hosts = define { type = "array", elements = _M.host }
_M.wildcard_host = _M.host
_M.ip = define { type = "string", custom_validator = validate_ip }
_M.ip_or_cidr = define { type = "string", custom_validator = validate_cidr }
_M.cidr = _M.ip_or_cidr
_M.port = define { type = "integer", between = { 0, 65535 } }
_M.path = define { type = "string", starts_with = "/", match_none = {
  { pattern = "//", err = "must not have empty segments" } } }
_M.url = define { type = "string", custom_validator = validate_url }
_M.timeout = define { type = "integer", between = { 0, 2147483646 } }
_M.header_name = define { type = "string", match = "^[%w%-_]+$" }
_M.http_method = define { type = "string", match = HTTP_METHODS_PATTERN }
_M.methods = define { type = "set", elements = _M.http_method }
_M.semantic_version = define { type = "string", match = "^%d+%.%d+%.?%d*" }
_M.lua_code = define { type = "map", keys = { type = "string" }, values = { type = "string" } }
_M.key = define { type = "string" }
_M.certificate = define { type = "string" }
_M.sni = define { type = "string", custom_validator = validate_host }
_M.jwk = define { type = "record", fields = {} }
_M.pem = define { type = "string" }
_M.ttl = define { type = "number", gt = 0 }

_M.protocol = define { type = "string", one_of = PROTOCOLS }
_M.protocols = define { type = "set", required = true, elements = _M.protocol,
  default = { "grpc", "grpcs", "http", "https" } }
_M.protocols_http = define { type = "set", required = true,
  elements = { type = "string", one_of = { "http", "https" } }, default = { "http", "https" } }

-- References to other entities; the "no_*" variants forbid attaching the plugin there.
_M.consumer = define { type = "foreign", reference = "consumers" }
_M.route = define { type = "foreign", reference = "routes" }
_M.service = define { type = "foreign", reference = "services" }
_M.no_consumer = define { type = "foreign", reference = "consumers", eq = null }
_M.no_route = define { type = "foreign", reference = "routes", eq = null }
_M.no_service = define { type = "foreign", reference = "services", eq = null }

_M.validate_uuid = function(v)
  if type(v) == "string" and v:find(UUID_PATTERN) then return true end
  return nil, "expected a valid UUID"
end

return _M
