-- key-auth: configuration, Kong's fields and defaults.
-- The plugin cannot be scoped to a consumer (it is what finds the consumer).
local typedefs = require "turnpike.typedefs"

return {
  name = "key-auth",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { key_names = { type = "array", required = true, default = { "apikey" },
                          len_min = 1, elements = typedefs.header_name } },
          { hide_credentials = { type = "boolean", required = true, default = false } },
          -- a consumer id or username, used when authentication fails
          { anonymous = { type = "string" } },
          { key_in_header = { type = "boolean", required = true, default = true } },
          { key_in_query = { type = "boolean", required = true, default = true } },
          { key_in_body = { type = "boolean", required = true, default = false } },
          { run_on_preflight = { type = "boolean", required = true, default = true } },
          { realm = { type = "string" } },
        },
    } },
  },
}
