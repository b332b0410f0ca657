-- rate-limiting schema: Kong's fields (windows, limit_by, policy, redis, headers, errors) plus
-- turnpike's token bucket: `rate` (tokens per second) and `burst` / `nodelay` as NGINX's
-- limit_req (burst = requests beyond the rate that are admitted; without nodelay they are
-- delayed to the rate, with nodelay they go at once).
local typedefs = require "kong.db.schema.typedefs"

local type = type
local ipairs = ipairs
local format = string.format

local ORDERED_PERIODS = { "second", "minute", "hour", "day", "month", "year" }

-- A longer window may not have a smaller limit than a shorter one (it could never be reached).
local function validate_periods_order(config)
  for i, short in ipairs(ORDERED_PERIODS) do
    local a = config[short]
    if type(a) == "number" then
      for j = i + 1, #ORDERED_PERIODS do
        local long = ORDERED_PERIODS[j]
        local b = config[long]
        if type(b) == "number" and b < a then
          return nil, format("the limit for %s (%g) cannot be lower than the limit for %s (%g)",
            long, b, short, a)
        end
      end
    end
  end
  return true
end

local function period_field()
  return { type = "number", gt = 0 }
end

-- Kong 3's flat redis_* names, accepted and moved into config.redis.
local function redis_shorthand(name, def)
  def.func = function(value) return { redis = { [name] = value } } end
  return { ["redis_" .. name] = def }
end

local REDIS = {
  type = "record",
  fields = {
    { host = typedefs.host },
    { port = typedefs.port { default = 6379 } },
    { username = { type = "string", referenceable = true } },
    { password = { type = "string", referenceable = true, encrypted = true } },
    { database = { type = "integer", default = 0, between = { 0, 2147483647 } } },
    { timeout = typedefs.timeout { default = 2000 } },
    { connect_timeout = typedefs.timeout },
    { send_timeout = typedefs.timeout },
    { read_timeout = typedefs.timeout },
    { ssl = { type = "boolean", required = true, default = false } },
    { ssl_verify = { type = "boolean", required = true, default = false } },
    { server_name = typedefs.sni },
  },
}

return {
  name = "rate-limiting",
  fields = {
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          { second = period_field() },
          { minute = period_field() },
          { hour = period_field() },
          { day = period_field() },
          { month = period_field() },
          { year = period_field() },
          { rate = { type = "number", gt = 0 } },
          { burst = { type = "number", default = 0, between = { 0, 1e9 } } },
          { nodelay = { type = "boolean", required = true, default = false } },
          { limit_by = { type = "string", default = "consumer",
              one_of = { "consumer", "credential", "ip", "service", "header", "path" } } },
          { header_name = typedefs.header_name },
          { path = typedefs.path },
          { policy = { type = "string", default = "local", one_of = { "local", "cluster", "redis" } } },
          { fault_tolerant = { type = "boolean", required = true, default = true } },
          { redis = REDIS },
          { hide_client_headers = { type = "boolean", required = true, default = false } },
          { error_code = { type = "number", default = 429, gt = 0 } },
          { error_message = { type = "string", default = "API rate limit exceeded" } },
          { sync_rate = { type = "number", required = true, default = -1 } },
        },
        shorthand_fields = {
          redis_shorthand("host", { type = "string" }),
          redis_shorthand("port", { type = "integer" }),
          redis_shorthand("username", { type = "string" }),
          redis_shorthand("password", { type = "string" }),
          redis_shorthand("database", { type = "integer" }),
          redis_shorthand("timeout", { type = "integer" }),
          redis_shorthand("ssl", { type = "boolean" }),
          redis_shorthand("ssl_verify", { type = "boolean" }),
          redis_shorthand("server_name", { type = "string" }),
        },
        custom_validator = validate_periods_order,
      },
    },
  },
  entity_checks = {
    { at_least_one_of = { "config.second", "config.minute", "config.hour", "config.day",
        "config.month", "config.year", "config.rate" } },
    { conditional = { if_field = "config.policy", if_match = { eq = "redis" },
        then_field = "config.redis.host", then_match = { required = true } } },
    { conditional = { if_field = "config.policy", if_match = { eq = "redis" },
        then_field = "config.redis.port", then_match = { required = true } } },
    { conditional = { if_field = "config.limit_by", if_match = { eq = "header" },
        then_field = "config.header_name", then_match = { required = true } } },
    { conditional = { if_field = "config.limit_by", if_match = { eq = "path" },
        then_field = "config.path", then_match = { required = true } } },
  },
}
