-- oauth2-introspection: configuration. The fields of Kong Enterprise's plugin, with its
-- defaults, plus two of turnpike's:
--   error_status     what a client gets when the introspection endpoint cannot answer
--                    (down, slow past `timeout`, not 200, not an RFC 7662 JSON object):
--                    503 (default) or 401. Never a pass: the plugin does not fail open.
--   require_success  true (default): only a 200 answer is an introspection response. false:
--                    a 4xx answer whose body is an RFC 7662 object (`{"active":false}`) is
--                    honoured too, for servers that answer an unknown token that way.
-- ttl is in seconds: how long an answer is reused (shared by all workers), never past the
-- token's `exp`. ttl = 0: no bound of its own, the token's `exp` alone decides (a token
-- without `exp` is then not cached). timeout and keepalive are in ms; keepalive 0 closes the
-- connection to the endpoint after each call.
-- The plugin cannot be scoped to a consumer (it is what finds the consumer).
local typedefs = require "turnpike.typedefs"

return {
  name = "oauth2-introspection",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { introspection_url = typedefs.url { required = true } },
          -- sent as the Authorization header to the introspection endpoint
          { authorization_value = { type = "string", required = true } },
          { token_type_hint = { type = "string" } },
          { ttl = { type = "number", default = 30, between = { 0, 31536000 } } },
          { timeout = { type = "integer", default = 10000, between = { 1, 600000 } } },
          { keepalive = { type = "integer", default = 60000, between = { 0, 3600000 } } },
          { hide_credentials = { type = "boolean", required = true, default = false } },
          -- username -> a consumer's username; client_id -> a consumer's custom_id
          { consumer_by = { type = "string", required = true, default = "username",
                            one_of = { "username", "client_id" } } },
          -- a consumer id or username, used when the caller has no valid token
          { anonymous = { type = "string" } },
          { run_on_preflight = { type = "boolean", required = true, default = true } },
          { custom_introspection_headers = { type = "map", required = true, default = {},
              keys = typedefs.header_name, values = { type = "string", len_min = 0 } } },
          -- claims of the introspection answer sent upstream as X-Credential-<claim>
          { custom_claims_forward = { type = "set", required = true, default = {},
                                      elements = typedefs.header_name } },
          -- send X-Request-Path and X-Request-Http-Method of the client's request along
          { introspect_request = { type = "boolean", required = true, default = false } },
          { require_success = { type = "boolean", required = true, default = true } },
          { error_status = { type = "integer", required = true, default = 503,
                             one_of = { 401, 503 } } },
        },
    } },
  },
}
