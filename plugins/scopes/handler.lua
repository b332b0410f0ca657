-- scopes: checks that the authenticated caller was granted the scopes a route needs. Runs
-- after the authentication plugins and acl (PRIORITY 949, just below acl's 950).
--
-- Granted scopes come from, first match wins:
--   1. the verified JWT the jwt plugin leaves in ctx.shared (authenticated_jwt_claims, or
--      authenticated_jwt_token when it is a table with claims): `scope` as a space-separated
--      string, or `scp` as an array or string;
--   2. ctx.shared.authenticated_scopes (a list or a space-separated string), for other auth
--      plugins (oauth2-introspection);
--   3. the X-Authenticated-Scope header auth plugins set for the service, and only once some
--      plugin authenticated the caller.
-- No authenticated identity at all: 401. A missing scope: 403 with `message`, `required`,
-- `any_of` (when configured) and `granted`, and an RFC 6750 §3.1 insufficient_scope challenge.
local cjson = require "cjson.safe"

local turnpike = turnpike

local type = type
local ipairs = ipairs
local concat = table.concat

local HEADER_SCOPE = "X-Authenticated-Scope"
local ERR_UNAUTHORIZED = "Unauthorized"
local ERR_INSUFFICIENT_SCOPE = "Insufficient scope"
local CHALLENGE = 'Bearer realm="turnpike"'
local CT_JSON = "application/json; charset=utf-8"

local ScopesHandler = { PRIORITY = 949, VERSION = "1.0.0" }

-- "a b  c" or { "a", "b" } -> { "a", "b", "c" } (strings only)
local function list_of(v)
  local out = {}
  if type(v) == "string" then
    for s in v:gmatch("%S+") do out[#out + 1] = s end
  elseif type(v) == "table" then
    for _, s in ipairs(v) do
      if type(s) == "string" then out[#out + 1] = s end
    end
  end
  return out
end

local function claims_scopes(claims)
  if type(claims) ~= "table" then return nil end
  if claims.scope ~= nil then return list_of(claims.scope) end
  if claims.scp ~= nil then return list_of(claims.scp) end
  return {}
end

-- granted() -> list | nil (nil: nobody authenticated)
local function granted()
  local shared = turnpike.ctx.shared
  local token = shared.authenticated_jwt_token
  local claims = shared.authenticated_jwt_claims
  if claims == nil and type(token) == "table" then claims = token.claims or token end
  if claims ~= nil or token ~= nil then return claims_scopes(claims) or {} end
  if shared.authenticated_scopes ~= nil then return list_of(shared.authenticated_scopes) end
  local client = turnpike.client
  if client.get_consumer() or client.get_credential() then
    return list_of(turnpike.request.get_header(HEADER_SCOPE))
  end
  return nil
end

-- check(conf, scopes) -> true | nil (a scope is missing)
local function check(conf, scopes)
  local set = {}
  for _, s in ipairs(scopes) do set[s] = true end
  for _, s in ipairs(conf.required) do
    if not set[s] then return nil end
  end
  if #conf.any_of == 0 then return true end
  for _, s in ipairs(conf.any_of) do
    if set[s] then return true end
  end
  return nil
end

-- cjson writes an empty table as {}; these lists must stay arrays for clients.
local function json_array(list)
  if #list == 0 then return "[]" end
  return cjson.encode(list)
end

local function forbidden_body(conf, scopes)
  local parts = { '{"message":', cjson.encode(ERR_INSUFFICIENT_SCOPE),
                  ',"required":', json_array(conf.required) }
  if #conf.any_of > 0 then
    parts[#parts + 1] = ',"any_of":'
    parts[#parts + 1] = json_array(conf.any_of)
  end
  parts[#parts + 1] = ',"granted":'
  parts[#parts + 1] = json_array(scopes)
  parts[#parts + 1] = "}"
  return (concat(parts))
end

local function challenge_for(conf)
  local wanted = {}
  for _, s in ipairs(conf.required) do wanted[#wanted + 1] = s end
  for _, s in ipairs(conf.any_of) do wanted[#wanted + 1] = s end
  return CHALLENGE .. ', error="insufficient_scope", scope="' .. concat(wanted, " ") .. '"'
end

function ScopesHandler:access(conf)
  local scopes = granted()
  if not scopes then
    return turnpike.response.error(401, ERR_UNAUTHORIZED, { ["WWW-Authenticate"] = CHALLENGE })
  end
  if check(conf, scopes) then return end
  return turnpike.response.exit(403, forbidden_body(conf, scopes), {
    ["Content-Type"] = CT_JSON,
    ["WWW-Authenticate"] = challenge_for(conf),
  })
end

ScopesHandler.ERR_UNAUTHORIZED = ERR_UNAUTHORIZED
ScopesHandler.ERR_INSUFFICIENT_SCOPE = ERR_INSUFFICIENT_SCOPE

return ScopesHandler
