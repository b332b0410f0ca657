-- oauth2-introspection: authenticates a caller by an opaque access token that an OAuth 2.0
-- authorization server vouches for through its introspection endpoint (RFC 7662), as Kong
-- Enterprise's plugin.
--
-- The token comes from `Authorization: Bearer <token>`, or an `access_token` query or body
-- parameter (RFC 6750 §2). It is POSTed as `token=...&token_type_hint=...` with
-- conf.authorization_value as the Authorization header. Answers are cached in shared memory
-- (cache.lua): an active one for at most `ttl` seconds and never past the token's `exp`; an
-- inactive one for NEGATIVE_TTL_MS (or ttl, if smaller). A failed call is never cached and
-- never lets the request through: the client gets conf.error_status (503 or 401).
--
-- Upstream receives X-Credential-{Scope,Client-ID,Sub,Exp,Token-Type,Username}, one
-- X-Credential-<claim> per conf.custom_claims_forward, X-Authenticated-Scope and key-auth's
-- X-Consumer-* headers; whatever the client sent under those names is dropped first.
-- ctx.shared.authenticated_scopes (a list) feeds the scopes plugin.
local cjson = require "cjson.safe"
local util = require "turnpike.sdk.util"
local auth = require "turnpike.auth"
local cache = require "kong.plugins.oauth2-introspection.cache"
local tokens = require "kong.plugins.oauth2-introspection.token"

local turnpike = turnpike

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local concat = table.concat
local floor = math.floor
local min = math.min

local HEADER_SCOPE = "X-Authenticated-Scope"
local CREDENTIAL_PREFIX = "x-credential-"
-- claim -> upstream header
local CLAIM_HEADERS = {
  { "scope", "X-Credential-Scope" }, { "client_id", "X-Credential-Client-ID" },
  { "sub", "X-Credential-Sub" }, { "exp", "X-Credential-Exp" },
  { "token_type", "X-Credential-Token-Type" }, { "username", "X-Credential-Username" },
}
local NEGATIVE_TTL_MS = 5000

local ERR_NO_TOKEN = "No access token found in request"
local ERR_MULTIPLE = "Multiple access tokens provided"
local ERR_INVALID_TOKEN = "The access token is invalid or has expired"
local ERR_UNAVAILABLE = "The access token could not be verified"

local Oauth2IntrospectionHandler = { PRIORITY = 1700, VERSION = "1.0.0" }

local function challenge(code, description)
  local v = "Bearer"
  if code then v = v .. ' error="' .. code .. '"' end
  if description then v = v .. ', error_description="' .. description .. '"' end
  return { ["WWW-Authenticate"] = v }
end

-- RFC 6750 §3.1: a request without any token gets a bare challenge, a bad token
-- invalid_token, an ambiguous request invalid_request (400).
local function fail(status, message, code)
  local body = { message = message }
  if code then
    body.error = code
    body.error_description = message
  end
  return nil, { status = status, body = body,
                headers = status == 401 and challenge(code) or nil }
end

local function unavailable(conf)
  local _, err
  if conf.error_status == 401 then
    _, err = fail(401, ERR_UNAVAILABLE, "invalid_token")
  else
    err = { status = 503, body = { message = ERR_UNAVAILABLE } }
  end
  err.unavailable = true
  return nil, err
end

-- Drops what the client sent under the names this plugin answers for.
local function clear_identity_headers()
  local req = turnpike.service.request
  for name in pairs(turnpike.request.get_headers()) do
    if name:sub(1, #CREDENTIAL_PREFIX) == CREDENTIAL_PREFIX then req.clear_header(name) end
  end
  req.clear_header(HEADER_SCOPE)
end

-- The claims worth keeping: the named ones and the forwarded custom ones.
local function keep_claims(conf, doc)
  local out = {}
  for _, pair in ipairs(CLAIM_HEADERS) do out[pair[1]] = doc[pair[1]] end
  for _, name in ipairs(conf.custom_claims_forward) do out[name] = doc[name] end
  out.nbf = doc.nbf
  return out
end

local function cache_context(conf)
  local parts = { conf.introspection_url, conf.authorization_value, conf.token_type_hint or "" }
  if conf.introspect_request then
    parts[#parts + 1] = turnpike.request.get_method() .. " " .. turnpike.request.get_path()
  end
  return (concat(parts, "\n"))
end

-- introspect(conf, token) -> active, claims | nil, err (the endpoint gave no usable answer)
local function introspect(conf, token)
  local headers = {}
  for k, v in pairs(conf.custom_introspection_headers) do headers[k] = v end
  headers["Authorization"] = conf.authorization_value
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["Accept"] = "application/json"
  if conf.introspect_request then
    headers["X-Request-Path"] = turnpike.request.get_path()
    headers["X-Request-Http-Method"] = turnpike.request.get_method()
  end
  local res, err = turnpike.http.request_uri(conf.introspection_url, {
    method = "POST", headers = headers, timeout_ms = conf.timeout,
    keepalive = conf.keepalive > 0,
    body = util.encode_args({ token = token, token_type_hint = conf.token_type_hint }),
  })
  if not res then return nil, err end
  local s = res.status
  if s ~= 200 and (conf.require_success or s < 400 or s >= 500) then
    return nil, "status " .. tostring(s)
  end
  local doc = cjson.decode(res.body or "")
  if type(doc) ~= "table" or type(doc.active) ~= "boolean" then
    return nil, "status " .. tostring(s) .. ", not an introspection response"
  end
  return doc.active, keep_claims(conf, doc)
end

-- still_valid(claims, now_s): RFC 7662 §2.2 exp/nbf, so a cached or stale "active" never
-- outlives the token
local function still_valid(claims, now_s)
  local exp, nbf = tonumber(claims.exp), tonumber(claims.nbf)
  if exp and exp <= now_s then return false end
  if nbf and nbf > now_s then return false end
  return true
end

-- lookup(conf, token) -> claims | nil, err
local function lookup(conf, token)
  local now = turnpike.now()
  local key = cache.key(token, cache_context(conf))
  local active, claims = cache.get(key, now)
  if active == nil then
    local err
    active, claims = introspect(conf, token)
    if active == nil then
      turnpike.log.err("introspection ", conf.introspection_url, ": ", claims)
      return unavailable(conf)
    end
    active = active and still_valid(claims, now / 1000)
    local ttl_ms = conf.ttl * 1000
    local expires
    if not active then
      expires = now + (ttl_ms > 0 and min(ttl_ms, NEGATIVE_TTL_MS) or NEGATIVE_TTL_MS)
      claims = {}
    else
      local exp = tonumber(claims.exp)
      expires = ttl_ms > 0 and now + ttl_ms or nil
      if exp then expires = min(expires or math.huge, exp * 1000) end
    end
    if expires then
      local ok
      ok, err = cache.set(key, active, claims, floor(expires), now)
      if not ok then turnpike.log.debug("introspection cache: ", err) end
    end
  end
  if not active or not still_valid(claims, now / 1000) then
    return fail(401, ERR_INVALID_TOKEN, "invalid_token")
  end
  return claims
end

local function header_value(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do
      if type(x) == "table" then return cjson.encode(v) end
      parts[i] = tostring(x)
    end
    return #parts > 0 and concat(parts, " ") or cjson.encode(v)
  end
  return (tostring(v))
end

local function scopes_of(claims)
  local s, out = claims.scope, {}
  if type(s) == "table" then
    for _, x in ipairs(s) do if type(x) == "string" then out[#out + 1] = x end end
  elseif type(s) == "string" then
    for x in s:gmatch("%S+") do out[#out + 1] = x end
  end
  return out
end

-- Sets the upstream identity headers (X-Credential-Identifier is the credential's id) and
-- the claim headers, always replacing whatever the client sent.
local function set_identity(conf, consumer, credential, claims)
  auth.set_consumer(consumer, credential, credential and credential.id)
  if not claims then return end
  local req = turnpike.service.request
  local function put(name, value)
    if value ~= nil then req.set_header(name, header_value(value)) else req.clear_header(name) end
  end
  for _, pair in ipairs(CLAIM_HEADERS) do put(pair[2], claims[pair[1]]) end
  for _, name in ipairs(conf.custom_claims_forward) do put("X-Credential-" .. name, claims[name]) end
  local scopes = scopes_of(claims)
  put(HEADER_SCOPE, #scopes > 0 and concat(scopes, " ") or nil)
  turnpike.ctx.shared.authenticated_scopes = scopes
  turnpike.ctx.shared.authenticated_oauth2_introspection = claims
end

-- authenticate(conf) -> true | nil, err
local function authenticate(conf)
  local token, where = tokens.find()
  if not token then
    if where == tokens.MULTIPLE then return fail(400, ERR_MULTIPLE, "invalid_request") end
    return fail(401, ERR_NO_TOKEN)
  end
  local claims, err = lookup(conf, token)
  if not claims then return nil, err end
  if conf.hide_credentials then tokens.hide(where) end

  local db = turnpike.db or {}
  local consumer
  if conf.consumer_by == "client_id" then
    local id = claims.client_id
    consumer = type(id) == "string" and (db.consumers_by_custom_id or {})[id] or nil
  else
    local name = claims.username
    consumer = type(name) == "string" and (db.consumers_by_username or {})[name] or nil
  end
  local id = claims.client_id or claims.username or claims.sub
  local credential = { id = id ~= nil and tostring(id) or "oauth2-introspection",
                       client_id = claims.client_id, username = claims.username,
                       sub = claims.sub, scope = claims.scope, exp = claims.exp }
  set_identity(conf, consumer, credential, claims)
  return true
end

function Oauth2IntrospectionHandler:access(conf)
  if auth.already_authenticated(conf) then return end
  clear_identity_headers()
  if not conf.run_on_preflight and turnpike.request.get_method() == "OPTIONS" then return end

  local ok, err = authenticate(conf)
  if ok then return end

  -- A token that could not be checked is not "no credentials": no anonymous fallback.
  if not conf.anonymous or err.unavailable or err.status ~= 401 then
    return turnpike.response.exit(err.status, err.body, err.headers)
  end
  local anonymous, aerr = auth.load_anonymous(conf.anonymous)
  if not anonymous then
    return turnpike.response.error(aerr.status, aerr.message)
  end
  set_identity(conf, anonymous, nil, nil)
end

Oauth2IntrospectionHandler.ERR_NO_TOKEN = ERR_NO_TOKEN
Oauth2IntrospectionHandler.ERR_MULTIPLE = ERR_MULTIPLE
Oauth2IntrospectionHandler.ERR_INVALID_TOKEN = ERR_INVALID_TOKEN
Oauth2IntrospectionHandler.ERR_UNAVAILABLE = ERR_UNAVAILABLE
Oauth2IntrospectionHandler.NEGATIVE_TTL_MS = NEGATIVE_TTL_MS

return Oauth2IntrospectionHandler
