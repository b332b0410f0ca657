-- request-size-limiting: configuration, Kong's fields and defaults.
local typedefs = require "turnpike.typedefs"

local SIZE_UNITS = { "megabytes", "kilobytes", "bytes" }

return {
  name = "request-size-limiting",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { allowed_payload_size = { type = "integer", required = true, default = 128,
                                     between = { 0, 2147483647 } } },
          { size_unit = { type = "string", required = true, default = SIZE_UNITS[1],
                          one_of = SIZE_UNITS } },
          { require_content_length = { type = "boolean", required = true, default = false } },
        },
    } },
  },
}
