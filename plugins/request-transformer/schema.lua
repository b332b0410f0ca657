-- request-transformer: configuration, Kong's fields and defaults. Pairs are "name:value"
-- (split at the first colon); values may hold `$(...)` templates (template.lua), which are
-- checked here so a template turnpike cannot evaluate is refused at load time.
local typedefs = require "turnpike.typedefs"
local template = require "template"

local function check_template(v)
  if not template.is_template(v) then return true end
  local ok, err = template.compile(v)
  if not ok then return nil, err end
  return true
end

local function check_pair(v)
  local name, value = v:match("^([^:]+):(.*)$")
  if not name then return nil, "invalid value: " .. v .. " (expected name:value)" end
  return check_template(value)
end

local function check_header_pair(v)
  local name = v:match("^([^:]+):")
  if name and not name:find("^[%w%-_]+$") then return nil, "invalid header name: " .. name end
  return check_pair(v)
end

local function list(elements)
  return { type = "array", required = true, default = {}, elements = elements }
end

local NAMES = list({ type = "string" })
local HEADER_NAMES = list(typedefs.header_name)
local PAIRS = list({ type = "string", custom_validator = check_pair })
local HEADER_PAIRS = list({ type = "string", custom_validator = check_header_pair })

local function pairs_record(with_uri)
  local fields = {
    { body = PAIRS },
    { headers = HEADER_PAIRS },
    { querystring = PAIRS },
  }
  if with_uri then
    fields[#fields + 1] = { uri = { type = "string", custom_validator = check_template } }
  end
  return { type = "record", required = true, fields = fields }
end

return {
  name = "request-transformer",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { http_method = typedefs.http_method },
          { remove = { type = "record", required = true, fields = {
              { body = NAMES },
              { headers = HEADER_NAMES },
              { querystring = NAMES },
          } } },
          -- rename pairs are "old:new"
          { rename = pairs_record(false) },
          { replace = pairs_record(true) },
          { add = pairs_record(false) },
          { append = pairs_record(false) },
        },
    } },
  },
}
