-- key-auth: configuration, Kong's fields and defaults.
-- The plugin cannot be scoped to a consumer (it is what finds the consumer).
return {
  name = "key-auth",
  no_consumer = true,
  fields = {
    { config = {
        type = "record",
        fields = {
          { key_names = { type = "array", required = true, default = { "apikey" },
                          len_min = 1, elements = { type = "string", match = "^[%w_%-]+$" } } },
          { hide_credentials = { type = "boolean", required = true, default = false } },
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
