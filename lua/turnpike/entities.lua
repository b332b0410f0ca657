-- turnpike.entities: the declarative entities' schemas (services, routes, upstreams,
-- targets, consumers, credentials, plugins, certificates) in turnpike.schema's Kong shape,
-- with Kong 3.x field names and defaults, and the top-level keys of a config file.
-- turnpike.config checks every entity with these.
local typedefs = require "turnpike.typedefs"
local regex = require "turnpike.router.regex"

-- a regex path compiles here, when the configuration is checked (the master refuses it),
-- not only in the workers' router
local function valid_regex_path(path)
  if path:byte(1) ~= 126 then return true end
  local re, err = regex.compile(path:sub(2))
  if not re then return nil, "invalid regex path '" .. path .. "': " .. tostring(err) end
  return true
end

local FORMAT_VERSIONS = { ["3.0"] = "3.0", ["3"] = "3.0", ["2.1"] = "2.1", ["1.1"] = "1.1" }
local TOP_LEVEL = {
  _format_version = true, _transform = true, _workspace = true, _comment = true, _info = true,
  turnpike = true, services = true, routes = true, upstreams = true, consumers = true,
  plugins = true, certificates = true, snis = true, ca_certificates = true,
  keyauth_credentials = true, jwt_secrets = true, acls = true, basicauth_credentials = true,
}
local CREDENTIALS = { "keyauth_credentials", "jwt_secrets", "acls", "basicauth_credentials" }
local PROTOCOLS = { "grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp",
  "ws", "wss" }
local TLS_PROTOCOLS = { https = true, grpcs = true, tls = true, wss = true, tls_passthrough = true }
local HASH_ON = { "none", "consumer", "ip", "header", "cookie", "path", "query_arg",
  "uri_capture" }
local JWT_ALGORITHMS = { "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
  "PS256", "PS384", "PS512", "EdDSA" }

--------------------------------------------------------------------------------------------------
-- Entity schemas (Kong 3.x field names and defaults)
--------------------------------------------------------------------------------------------------

local ANY = {} -- a field that is accepted as is (references, checked by the loader)
local TIMESTAMP = { type = "integer" }
local ID = typedefs.uuid
local TAGS = typedefs.tags

local function statuses(default)
  return { type = "array", default = default, elements = { type = "integer", between = { 100, 999 } } }
end

local function counter(max)
  return { type = "integer", default = 0, between = { 0, max } }
end

local HEALTHCHECKS = { type = "record", fields = {
  { active = { type = "record", fields = {
    { type = { type = "string", one_of = { "tcp", "http", "https", "grpc", "grpcs" }, default = "http" } },
    { timeout = { type = "number", default = 1, between = { 0, 65535 } } },
    { concurrency = { type = "integer", default = 10, between = { 1, 2147483648 } } },
    { http_path = typedefs.path { default = "/" } },
    { https_sni = typedefs.sni },
    { https_verify_certificate = { type = "boolean", default = true } },
    { headers = { type = "map", keys = { type = "string" },
      values = { type = "array", elements = { type = "string" } } } },
    { healthy = { type = "record", fields = {
      { interval = { type = "number", default = 0, between = { 0, 65535 } } },
      { http_statuses = statuses { 200, 302 } },
      { successes = counter(255) },
    } } },
    { unhealthy = { type = "record", fields = {
      { interval = { type = "number", default = 0, between = { 0, 65535 } } },
      { http_statuses = statuses { 429, 404, 500, 501, 502, 503, 504, 505 } },
      { tcp_failures = counter(255) },
      { timeouts = counter(255) },
      { http_failures = counter(255) },
    } } },
  } } },
  { passive = { type = "record", fields = {
    { type = { type = "string", one_of = { "tcp", "http", "https", "grpc", "grpcs" }, default = "http" } },
    { healthy = { type = "record", fields = {
      { http_statuses = statuses { 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301,
        302, 303, 304, 305, 306, 307, 308 } },
      { successes = counter(255) },
    } } },
    { unhealthy = { type = "record", fields = {
      { http_statuses = statuses { 429, 500, 503 } },
      { tcp_failures = counter(255) },
      { timeouts = counter(255) },
      { http_failures = counter(255) },
    } } },
  } } },
  { threshold = { type = "number", default = 0, between = { 0, 100 } } },
  -- turnpike's circuit breaker; error_ratio unset = trip on the unhealthy counters only
  { breaker = { type = "record", fields = {
    { open_ms = { type = "integer", default = 10000, gt = 0 } },
    { max_open_ms = { type = "integer", default = 300000, gt = 0 } },
    { half_open_probes = { type = "integer", default = 1, between = { 1, 1000 } } },
    { error_ratio = { type = "number", between = { 0, 1 } } },
    { window_ms = { type = "integer", default = 10000, gt = 0 } },
    { min_requests = { type = "integer", default = 20, between = { 1, 1000000 } } },
  } } },
} }

local SCHEMAS = {
  services = { type = "record", fields = {
    { id = ID }, { name = typedefs.utf8_name }, { created_at = TIMESTAMP }, { updated_at = TIMESTAMP },
    { retries = { type = "integer", default = 5, between = { 0, 32767 } } },
    { protocol = { type = "string", one_of = PROTOCOLS, default = "http" } },
    { host = typedefs.host { required = true } },
    { port = typedefs.port },
    { path = typedefs.path },
    { connect_timeout = typedefs.timeout { default = 60000, between = { 1, 2147483646 } } },
    { write_timeout = typedefs.timeout { default = 60000, between = { 1, 2147483646 } } },
    { read_timeout = typedefs.timeout { default = 60000, between = { 1, 2147483646 } } },
    { tags = TAGS },
    { client_certificate = ANY },
    { tls_verify = { type = "boolean" } },
    { tls_verify_depth = { type = "integer", between = { 0, 64 } } },
    { ca_certificates = { type = "array", elements = { type = "string", uuid = true } } },
    { enabled = { type = "boolean", default = true } },
  } },
  routes = { type = "record", fields = {
    { id = ID }, { name = typedefs.utf8_name }, { created_at = TIMESTAMP }, { updated_at = TIMESTAMP },
    { protocols = { type = "set", len_min = 1, default = { "http", "https" },
      elements = { type = "string", one_of = PROTOCOLS } } },
    { methods = typedefs.methods },
    { hosts = { type = "array", elements = typedefs.host_with_optional_port } },
    { paths = { type = "array", elements = { type = "string", match_any = {
      patterns = { "^/", "^~" }, err = "should start with: / (fixed path) or ~/ (regex path)" },
      custom_validator = valid_regex_path } } },
    { headers = { type = "map", keys = typedefs.header_name,
      values = { type = "array", elements = { type = "string" } } } },
    { https_redirect_status_code = { type = "integer", one_of = { 426, 301, 302, 307, 308 },
      default = 426 } },
    { regex_priority = { type = "integer", default = 0 } },
    { strip_path = { type = "boolean", default = true } },
    { path_handling = { type = "string", one_of = { "v0", "v1" }, default = "v0" } },
    { preserve_host = { type = "boolean", default = false } },
    { request_buffering = { type = "boolean", default = true } },
    { response_buffering = { type = "boolean", default = true } },
    { snis = { type = "set", elements = typedefs.sni } },
    { sources = { type = "set", elements = { type = "record", fields = {
      { ip = typedefs.ip_or_cidr }, { port = typedefs.port } } } } },
    { destinations = { type = "set", elements = { type = "record", fields = {
      { ip = typedefs.ip_or_cidr }, { port = typedefs.port } } } } },
    { tags = TAGS },
    { service = ANY },
  } },
  upstreams = { type = "record", fields = {
    { id = ID }, { name = { type = "string", required = true } },
    { created_at = TIMESTAMP }, { updated_at = TIMESTAMP },
    { algorithm = { type = "string", default = "round-robin",
      one_of = { "round-robin", "consistent-hashing", "least-connections", "latency" } } },
    { hash_on = { type = "string", one_of = HASH_ON, default = "none" } },
    { hash_fallback = { type = "string", one_of = HASH_ON, default = "none" } },
    { hash_on_header = typedefs.header_name }, { hash_fallback_header = typedefs.header_name },
    { hash_on_cookie = { type = "string" } },
    { hash_on_cookie_path = typedefs.path { default = "/" } },
    { hash_on_query_arg = { type = "string" } }, { hash_fallback_query_arg = { type = "string" } },
    { hash_on_uri_capture = { type = "string" } }, { hash_fallback_uri_capture = { type = "string" } },
    { slots = { type = "integer", default = 10000, between = { 10, 65536 } } },
    { healthchecks = HEALTHCHECKS },
    { tags = TAGS },
    { host_header = typedefs.host },
    { client_certificate = ANY },
    { use_srv_name = { type = "boolean", default = false } },
  }, entity_checks = {
    { conditional = { if_field = "hash_on", if_match = { eq = "header" },
      then_field = "hash_on_header", then_match = { required = true } } },
    { conditional = { if_field = "hash_fallback", if_match = { eq = "header" },
      then_field = "hash_fallback_header", then_match = { required = true } } },
    { conditional = { if_field = "hash_on", if_match = { eq = "cookie" },
      then_field = "hash_on_cookie", then_match = { required = true } } },
    { conditional = { if_field = "hash_fallback", if_match = { eq = "cookie" },
      then_field = "hash_on_cookie", then_match = { required = true } } },
    { conditional = { if_field = "hash_on", if_match = { eq = "query_arg" },
      then_field = "hash_on_query_arg", then_match = { required = true } } },
    { conditional = { if_field = "hash_fallback", if_match = { eq = "query_arg" },
      then_field = "hash_fallback_query_arg", then_match = { required = true } } },
    { conditional = { if_field = "hash_on", if_match = { eq = "uri_capture" },
      then_field = "hash_on_uri_capture", then_match = { required = true } } },
    { conditional = { if_field = "hash_fallback", if_match = { eq = "uri_capture" },
      then_field = "hash_fallback_uri_capture", then_match = { required = true } } },
    { conditional = { if_field = "hash_on", if_match = { one_of = { "none", "cookie" } },
      then_field = "hash_fallback", then_match = { one_of = { "none" } } } },
  } },
  targets = { type = "record", fields = {
    { id = ID }, { target = { type = "string", required = true } },
    { weight = { type = "integer", default = 100, between = { 0, 65535 } } },
    { tags = TAGS }, { created_at = TIMESTAMP }, { updated_at = TIMESTAMP },
  } },
  consumers = { type = "record", fields = {
    { id = ID }, { username = { type = "string" } }, { custom_id = { type = "string" } },
    { tags = TAGS }, { created_at = TIMESTAMP }, { updated_at = TIMESTAMP },
  }, entity_checks = { { at_least_one_of = { "custom_id", "username" } } } },
  keyauth_credentials = { type = "record", fields = {
    { id = ID }, { key = { type = "string", required = true } }, { ttl = { type = "integer", gt = 0 } },
    { tags = TAGS }, { created_at = TIMESTAMP }, { consumer = ANY },
  } },
  jwt_secrets = { type = "record", fields = {
    { id = ID }, { key = { type = "string", required = true } },
    { algorithm = { type = "string", one_of = JWT_ALGORITHMS, default = "HS256" } },
    { secret = { type = "string" } }, { rsa_public_key = { type = "string" } },
    { tags = TAGS }, { created_at = TIMESTAMP }, { consumer = ANY },
  }, entity_checks = {
    { conditional = { if_field = "algorithm", if_match = { match = "^HS" },
      then_field = "secret", then_match = { required = true } } },
    { conditional = { if_field = "algorithm", if_match = { match = "^[REP][SSd]" },
      then_field = "rsa_public_key", then_match = { required = true } } },
  } },
  acls = { type = "record", fields = {
    { id = ID }, { group = { type = "string", required = true } },
    { tags = TAGS }, { created_at = TIMESTAMP }, { consumer = ANY },
  } },
  basicauth_credentials = { type = "record", fields = {
    { id = ID }, { username = { type = "string", required = true } },
    { password = { type = "string", required = true } },
    { tags = TAGS }, { created_at = TIMESTAMP }, { consumer = ANY },
  } },
  certificates = { type = "record", fields = {
    { id = ID }, { cert = { type = "string", required = true } }, { key = { type = "string", required = true } },
    { cert_alt = { type = "string" } }, { key_alt = { type = "string" } },
    { tags = TAGS }, { created_at = TIMESTAMP },
  } },
  snis = { type = "record", fields = {
    { id = ID }, { name = typedefs.sni { required = true } }, { certificate = ANY },
    { tags = TAGS }, { created_at = TIMESTAMP },
  } },
  ca_certificates = { type = "record", fields = {
    { id = ID }, { cert = { type = "string", required = true } }, { cert_digest = { type = "string" } },
    { tags = TAGS }, { created_at = TIMESTAMP },
  } },
  plugins = { type = "record", fields = {
    { id = ID }, { name = { type = "string", required = true } }, { instance_name = { type = "string" } },
    { config = ANY }, { enabled = { type = "boolean", default = true } },
    { protocols = { type = "set", elements = { type = "string", one_of = PROTOCOLS } } },
    { tags = TAGS }, { ordering = ANY }, { created_at = TIMESTAMP }, { updated_at = TIMESTAMP },
    { service = ANY }, { route = ANY }, { consumer = ANY },
  } },
}

--------------------------------------------------------------------------------------------------
-- Deterministic ids: a UUID (version 5 layout) from the SHA-1 of "turnpike:<type>:<key>".
--------------------------------------------------------------------------------------------------


return {
  FORMAT_VERSIONS = FORMAT_VERSIONS,
  TOP_LEVEL = TOP_LEVEL,
  CREDENTIALS = CREDENTIALS,
  TLS_PROTOCOLS = TLS_PROTOCOLS,
  SCHEMAS = SCHEMAS,
}
