-- response-transformer: configuration, Kong's fields and defaults. Pairs are "name:value",
-- split at the first colon; json_types[i] ("boolean" | "number" | "string") types the value of
-- json[i] (string when absent).
local typedefs = require "turnpike.typedefs"

local function check_pair(v)
  if not v:find("^[^:]+:") then return nil, "invalid value: " .. v .. " (expected name:value)" end
  return true
end

local function list(elements)
  return { type = "array", required = true, default = {}, elements = elements }
end

local NAMES = list({ type = "string" })
local PAIRS = list({ type = "string", custom_validator = check_pair })
local JSON_TYPES = list({ type = "string", one_of = { "boolean", "number", "string" } })

local function typed_pairs()
  return { type = "record", required = true, fields = {
    { json = PAIRS },
    { json_types = JSON_TYPES },
    { headers = PAIRS },
  } }
end

return {
  name = "response-transformer",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { remove = { type = "record", required = true, fields = {
              { json = NAMES },
              { headers = NAMES },
          } } },
          { rename = { type = "record", required = true, fields = {
              { json = PAIRS },
              { headers = PAIRS },
          } } },
          { replace = typed_pairs() },
          { add = typed_pairs() },
          { append = typed_pairs() },
        },
    } },
  },
}
