-- ab-router: configuration. A variant sends the request either to a named upstream of the
-- config (`upstream`) or straight to one `host`/`port`, never both.
local typedefs = require "turnpike.typedefs"

local type = type

local VARIANT_NAME = "^[%w%.%-_]+$"

local function check_variant(v)
  if v.upstream and (v.host or v.port) then
    return nil, "give either upstream, or host and port, not both"
  end
  if not v.upstream and not (v.host and v.port) then
    return nil, "needs upstream, or host and port"
  end
  return true
end

local function check_config(conf)
  if type(conf.variants) ~= "table" or not next(conf.variants) then
    return nil, "variants: at least one variant is needed"
  end
  if not conf.variants[conf.default] then
    return nil, "default: '" .. tostring(conf.default) .. "' is not one of the variants"
  end
  return true
end

return {
  name = "ab-router",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        custom_validator = check_config,
        fields = {
          -- the request header that picks a variant by name
          { header = typedefs.header_name { required = true, default = "X-Variant" } },
          -- variant name -> where it goes
          { variants = {
              type = "map", required = true,
              keys = { type = "string", match = VARIANT_NAME },
              values = {
                type = "record",
                custom_validator = check_variant,
                fields = {
                  { upstream = { type = "string" } },
                  { host = typedefs.host },
                  { port = typedefs.port },
                },
              },
          } },
          -- the variant of requests that name none (or an unknown one)
          { default = { type = "string", required = true } },
          -- when set, the variant is remembered in this cookie, so a client that stops
          -- sending the header stays on its variant
          { cookie = { type = "string", match = "^[%w!#$%%&'*+%-.^_`|~]+$" } },
          { cookie_max_age = { type = "integer", default = 86400, between = { 0, 31536000 } } },
          -- the response header that says which variant served
          { response_header = typedefs.header_name { required = true, default = "X-AB-Variant" } },
        },
    } },
  },
}
