-- acl: configuration, Kong's fields and defaults. Exactly one of allow/deny.
local typedefs = require "turnpike.typedefs"

return {
  name = "acl",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { allow = { type = "array", elements = { type = "string" } } },
          { deny = { type = "array", elements = { type = "string" } } },
          { hide_groups_header = { type = "boolean", required = true, default = false } },
          { always_use_authenticated_groups = { type = "boolean", required = true,
                                                default = false } },
          { include_consumer_groups = { type = "boolean", required = true, default = false } },
        },
    } },
  },
  entity_checks = {
    { only_one_of = { "config.allow", "config.deny" } },
    { at_least_one_of = { "config.allow", "config.deny" } },
  },
}
