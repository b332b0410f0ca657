-- http-log: configuration, Kong's fields and defaults, including Kong 3's `queue` record.
-- Kong's deprecated queue_size and flush_timeout are accepted as shorthands for
-- queue.max_batch_size and queue.max_coalescing_delay; retry_count, when set, caps the number
-- of retries of one batch (queue.max_retry_time caps their total time either way).
-- custom_fields_by_lua is refused: turnpike does not run Lua code taken from configuration.
local typedefs = require "turnpike.typedefs"

local type = type
local next = next

local ERR_CUSTOM_FIELDS = "custom_fields_by_lua is not supported by turnpike " ..
                          "(it would run Lua code from the configuration); remove it"

local function refuse_custom_fields(v)
  if type(v) == "table" and next(v) == nil then return true end
  return nil, ERR_CUSTOM_FIELDS
end

local QUEUE = {
  type = "record",
  required = true,
  fields = {
    { max_batch_size = { type = "integer", required = true, default = 1,
                         between = { 1, 1000000 } } },
    -- seconds a partial batch may wait for more entries
    { max_coalescing_delay = { type = "number", required = true, default = 1,
                               between = { 0, 3600 } } },
    { max_entries = { type = "integer", required = true, default = 10000,
                      between = { 1, 1000000 } } },
    { max_bytes = { type = "integer" } },
    -- seconds; retry delays double from initial_retry_delay up to max_retry_delay
    { max_retry_time = { type = "number", default = 60 } },
    { initial_retry_delay = { type = "number", default = 0.01, between = { 0.001, 1000000 } } },
    { max_retry_delay = { type = "number", default = 60, between = { 0.001, 1000000 } } },
    -- 1: one batch in flight per worker; -1: every log phase sends without waiting
    { concurrency_limit = { type = "integer", default = 1, one_of = { -1, 1 } } },
  },
}

return {
  name = "http-log",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { http_endpoint = typedefs.url { required = true, encrypted = true,
                                           referenceable = true } },
          { method = { type = "string", default = "POST",
                       one_of = { "POST", "PUT", "PATCH" } } },
          { content_type = { type = "string", default = "application/json",
                             one_of = { "application/json",
                                        "application/json; charset=utf-8" } } },
          { timeout = { type = "number", default = 10000 } },
          { keepalive = { type = "number", default = 60000 } },
          { retry_count = { type = "integer", between = { 0, 1000 } } },
          { headers = { type = "map", keys = typedefs.header_name,
                        values = { type = "string", referenceable = true } } },
          { queue = QUEUE },
          { custom_fields_by_lua = typedefs.lua_code {
              custom_validator = refuse_custom_fields } },
        },
        shorthand_fields = {
          { queue_size = { type = "integer",
                           func = function(v) return { queue = { max_batch_size = v } } end } },
          { flush_timeout = { type = "number",
                              func = function(v)
                                return { queue = { max_coalescing_delay = v } }
                              end } },
        },
    } },
  },
}
