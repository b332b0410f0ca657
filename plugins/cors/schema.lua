-- cors: configuration, Kong's fields and defaults. Loads with no config at all (every origin
-- allowed). An origin is a literal (`https://example.com`, compared after normalising case and
-- default ports), `*` (any origin), or a regex when it holds a character outside
-- [A-Za-z0-9.:/-]; regexes must compile with turnpike's regex engine and match the whole origin.
local typedefs = require "turnpike.typedefs"
local regex = require "turnpike.router.regex"

local METHODS = { "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE",
                  "CONNECT" }

local function validate_origin(v)
  if v == "*" or not v:find("[^%w%.:/%-]") then return true end
  local re, err = regex.compile(v)
  if not re then return nil, "'" .. v .. "' is not a valid regex: " .. tostring(err) end
  return true
end

return {
  name = "cors",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { origins = { type = "array",
                        elements = { type = "string", custom_validator = validate_origin } } },
          { headers = { type = "array", elements = { type = "string" } } },
          { exposed_headers = { type = "array", elements = { type = "string" } } },
          { methods = { type = "array", default = METHODS,
                        elements = { type = "string", one_of = METHODS } } },
          { max_age = { type = "number" } },
          { credentials = { type = "boolean", required = true, default = false } },
          { private_network = { type = "boolean", required = true, default = false } },
          { preflight_continue = { type = "boolean", required = true, default = false } },
          { allow_origin_absent = { type = "boolean", required = true, default = true } },
        },
    } },
  },
}
