-- proxy-cache: configuration, Kong's fields and defaults, plus turnpike's stale_while_revalidate
-- and stale_if_error (seconds; 0 turns them off). Only the "memory" strategy exists here (Kong's
-- "redis" strategy is an Enterprise feature). memory.dictionary_name is kept so a Kong config
-- loads unchanged; the schema does not check that the dictionary exists (that is runtime
-- state, STYLE.md §3.5).
local typedefs = require "turnpike.typedefs"

local STRATEGIES = { "memory" }
local METHODS = { "HEAD", "GET", "POST", "PATCH", "PUT" }

local function header_switch()
  return { type = "boolean", required = true, default = true }
end

return {
  name = "proxy-cache",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { response_code = { type = "array", required = true, default = { 200, 301, 404 },
                              len_min = 1,
                              elements = { type = "integer", between = { 100, 900 } } } },
          { request_method = { type = "array", required = true, default = { "GET", "HEAD" },
                               elements = { type = "string", one_of = METHODS } } },
          { content_type = { type = "array", required = true,
                             default = { "text/plain", "application/json" },
                             elements = { type = "string" } } },
          { cache_ttl = { type = "integer", default = 300, gt = 0 } },
          { strategy = { type = "string", required = true, one_of = STRATEGIES } },
          { cache_control = { type = "boolean", required = true, default = false } },
          { ignore_uri_case = { type = "boolean", default = false } },
          { storage_ttl = { type = "integer" } },
          { memory = { type = "record", fields = {
              { dictionary_name = { type = "string", required = true,
                                    default = "kong_db_cache" } },
          } } },
          { vary_query_params = { type = "array", elements = { type = "string" } } },
          { vary_headers = { type = "array", elements = { type = "string" } } },
          { response_headers = { type = "record", fields = {
              { age = header_switch() },
              { ["X-Cache-Status"] = header_switch() },
              { ["X-Cache-Key"] = header_switch() },
          } } },
          -- turnpike: serve a stale entry this long past its ttl while one request refreshes it
          { stale_while_revalidate = { type = "integer", required = true, default = 0,
                                       between = { 0, 86400 * 365 } } },
          -- turnpike: serve a stale entry this long past its ttl when the service fails (5xx
          -- or no answer)
          { stale_if_error = { type = "integer", required = true, default = 0,
                               between = { 0, 86400 * 365 } } },
        },
    } },
  },
}
