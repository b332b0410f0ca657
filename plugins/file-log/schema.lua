-- file-log: configuration, Kong's fields and defaults. custom_fields_by_lua is refused:
-- turnpike does not run Lua code taken from the configuration.
local typedefs = require "turnpike.typedefs"

local ERR_CUSTOM_FIELDS = "custom_fields_by_lua is not supported by turnpike " ..
                          "(it would run Lua code from the configuration); remove it"

local function refuse_custom_fields(v)
  if type(v) == "table" and next(v) == nil then return true end
  return nil, ERR_CUSTOM_FIELDS
end

return {
  name = "file-log",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { path = { type = "string", required = true,
                     match_none = { { pattern = "[*&%%`]", err = "not a valid filename" } } } },
          { reopen = { type = "boolean", required = true, default = false } },
          { custom_fields_by_lua = typedefs.lua_code { custom_validator = refuse_custom_fields } },
        },
    } },
  },
}
