-- jwt: configuration. Kong's fields and defaults, plus turnpike's jwks_uri,
-- jwks_refresh_min_s, jwks_timeout_ms, issuer, audiences, leeway, algorithms and
-- consumer_optional. The plugin cannot be scoped to a consumer (it finds the consumer).
local typedefs = require "turnpike.typedefs"

local ALGORITHMS = { "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                     "PS256", "PS384", "PS512", "ES256", "ES384", "ES512" }

local function names(default)
  return { type = "set", elements = { type = "string" }, default = default }
end

return {
  name = "jwt",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { uri_param_names = names({ "jwt" }) },
          { cookie_names = names({}) },
          { key_claim_name = { type = "string", default = "iss" } },
          { secret_is_base64 = { type = "boolean", required = true, default = false } },
          { claims_to_verify = { type = "set",
              elements = { type = "string", one_of = { "exp", "nbf" } } } },
          -- a consumer id or username, used when authentication fails
          { anonymous = { type = "string" } },
          { run_on_preflight = { type = "boolean", required = true, default = true } },
          { maximum_expiration = { type = "number", default = 0, between = { 0, 31536000 } } },
          { header_names = names({ "authorization" }) },
          { realm = { type = "string" } },
          -- turnpike: keys from a JWKS document, selected by the token's `kid`
          { jwks_uri = typedefs.url },
          { jwks_refresh_min_s = { type = "integer", default = 60, between = { 1, 86400 } } },
          { jwks_timeout_ms = { type = "integer", default = 5000, between = { 1, 60000 } } },
          { issuer = { type = "string" } },
          { audiences = { type = "array", elements = { type = "string" } } },
          { leeway = { type = "integer", default = 0, between = { 0, 3600 } } },
          { algorithms = { type = "set", elements = { type = "string", one_of = ALGORITHMS } } },
          -- with jwks_uri: accept a valid token whose key claim matches no consumer
          { consumer_optional = { type = "boolean", required = true, default = false } },
        },
        entity_checks = {
          { conditional = {
              if_field = "maximum_expiration", if_match = { gt = 0 },
              then_field = "claims_to_verify", then_match = { required = true, contains = "exp" },
              then_err = "config.claims_to_verify: must contain 'exp' when "
                .. "maximum_expiration is set" } },
        },
    } },
  },
}
