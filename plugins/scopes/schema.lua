-- scopes: configuration (turnpike's own plugin). `required`: every scope listed must be
-- granted; `any_of`: at least one must be. At least one of the two lists is needed.
local typedefs = require "turnpike.typedefs"

-- RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'
local function validate_scope(v)
  if v:find("^[!-~]+$") and not v:find('["\\]') then return true end
  return nil, "invalid scope: " .. v
end

local SCOPE = { type = "string", custom_validator = validate_scope }

return {
  name = "scopes",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { required = { type = "array", required = true, default = {}, elements = SCOPE } },
          { any_of = { type = "array", required = true, default = {}, elements = SCOPE } },
        },
    } },
  },
  entity_checks = {
    { at_least_one_of = { "config.required", "config.any_of" } },
  },
}
