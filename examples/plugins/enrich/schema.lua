-- enrich: configuration. `url` names the profile service; `{key}` in it is replaced by the
-- caller's key (URL-escaped).
local typedefs = require "turnpike.typedefs"

local function check_url(url)
  if not url:find("^https?://[^/]") then return nil, "must be an http:// or https:// URL" end
  if not url:find("{key}", 1, true) then return nil, "must contain {key}" end
  return true
end

return {
  name = "enrich",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { url = { type = "string", required = true, custom_validator = check_url } },
          -- the request header holding the caller's key
          { key_header = typedefs.header_name { required = true, default = "X-User-ID" } },
          -- without a key: 401 when required, else the request goes on unenriched
          { key_required = { type = "boolean", required = true, default = false } },
          -- profile field -> the request header that carries it upstream
          { fields = { type = "map", required = true,
                       keys = { type = "string" }, values = typedefs.header_name { required = true } } },
          -- tells the upstream what happened: found | not-found | anonymous | unavailable
          { status_header = typedefs.header_name { default = "X-Profile-Status" } },
          { timeout_ms = { type = "integer", required = true, default = 500,
                           between = { 1, 60000 } } },
          -- answers (found and not-found) are kept this long per worker; 0 = not cached
          { cache_ttl_ms = { type = "integer", required = true, default = 30000,
                             between = { 0, 86400000 } } },
          { cache_size = { type = "integer", required = true, default = 1000,
                           between = { 1, 1000000 } } },
          -- when the service fails (error, timeout, 5xx, not JSON): false = 503 for the
          -- caller (fail closed), true = forward unenriched (fail open)
          { fail_open = { type = "boolean", required = true, default = false } },
        },
    } },
  },
}
