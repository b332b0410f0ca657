-- correlation-id: configuration, Kong's fields and defaults.
local typedefs = require "turnpike.typedefs"

return {
  name = "correlation-id",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { header_name = typedefs.header_name { required = true, default = "Kong-Request-ID" } },
          { generator = { type = "string", required = true, default = "uuid#counter",
                          one_of = { "uuid", "uuid#counter", "tracker" } } },
          { echo_downstream = { type = "boolean", required = true, default = false } },
        },
    } },
  },
}
