-- ip-restriction: configuration, Kong's fields. At least one of allow/deny; each entry is an
-- IPv4 or IPv6 address or CIDR block. status/message replace the default 403 answer.
local typedefs = require "turnpike.typedefs"
local ipmatcher = require "ipmatcher"

local function validate_ip_or_cidr(v)
  local ok, err = ipmatcher.parse_cidr(v)
  if not ok then return nil, err end
  return true
end

local IP_LIST = { type = "array",
                  elements = { type = "string", custom_validator = validate_ip_or_cidr } }

return {
  name = "ip-restriction",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { allow = IP_LIST },
          { deny = IP_LIST },
          -- turnpike answers through response.error, so only error statuses make sense
          { status = { type = "integer", between = { 400, 599 } } },
          { message = { type = "string" } },
        },
    } },
  },
  entity_checks = {
    { at_least_one_of = { "config.allow", "config.deny" } },
  },
}
