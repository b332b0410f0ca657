-- ip-restriction: allows or denies a request by the client's IP address, as Kong's
-- ip-restriction. A match in `deny` always wins; with `allow` set, an address outside it is
-- refused. Lists hold IPv4/IPv6 addresses and CIDR blocks (ipmatcher.lua); they are compiled
-- once per configuration.
local ipmatcher = require "ipmatcher"

local turnpike = turnpike

local setmetatable = setmetatable

local ERR_FORBIDDEN = "Your IP address is not allowed"
local ERR_NO_IP = "Cannot identify the client IP address, unix domain sockets are not supported."

local IpRestrictionHandler = { PRIORITY = 990, VERSION = "1.0.0" }

-- conf -> { allow = matcher|nil, deny = matcher|nil }; bounded by the configuration.
local matchers = setmetatable({}, { __mode = "k" })

local function matchers_of(conf)
  local m = matchers[conf]
  if m then return m end
  m = {}
  -- the schema validated every entry, so new() cannot fail here
  if conf.allow and #conf.allow > 0 then m.allow = ipmatcher.new(conf.allow) end
  if conf.deny and #conf.deny > 0 then m.deny = ipmatcher.new(conf.deny) end
  matchers[conf] = m
  return m
end

-- check(conf) -> true | nil, {status, message}
local function check(conf)
  local addr = ipmatcher.parse(turnpike.client.get_forwarded_ip())
  if not addr then return nil, { status = 403, message = ERR_NO_IP } end
  local m = matchers_of(conf)
  local refused = { status = conf.status or 403, message = conf.message or ERR_FORBIDDEN }
  if m.deny and m.deny:match_bytes(addr) then return nil, refused end
  if m.allow and not m.allow:match_bytes(addr) then return nil, refused end
  return true
end

function IpRestrictionHandler:access(conf)
  local ok, err = check(conf)
  if not ok then return turnpike.response.error(err.status, err.message) end
end

IpRestrictionHandler.ERR_FORBIDDEN = ERR_FORBIDDEN
IpRestrictionHandler.ERR_NO_IP = ERR_NO_IP

return IpRestrictionHandler
