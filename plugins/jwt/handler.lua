-- jwt: authenticates a consumer by a signed JWT (JWS compact form) as Kong's jwt plugin.
-- The credential is found by the token's key claim (default `iss`) in
-- turnpike.db.jwt_secrets; its `algorithm` decides how the token must be signed. With
-- config.jwks_uri, verification keys come from a JWKS document instead (by `kid`), and
-- jwt_secrets only map the key claim to a consumer.
local cjson = require "cjson.safe"
local crypto = require "turnpike.ffi.crypto"
local jwt = require "turnpike.jwt"
local auth = require "turnpike.auth"

local turnpike = turnpike

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local setmetatable = setmetatable
local concat = table.concat
local find = string.find
local sub = string.sub

local HEADER_SCOPE = "X-Authenticated-Scope"

local ERR_UNAUTHORIZED = "Unauthorized"
local ERR_MULTIPLE = "Multiple tokens provided"
local ERR_BAD_TOKEN = "Bad token; "
local ERR_ALGORITHM = jwt.ERR_ALGORITHM
local ERR_KEY = jwt.ERR_KEY
local ERR_SIGNATURE = jwt.ERR_SIGNATURE
local ERR_NO_JWKS_KEY = "No key found for given 'kid'"

local VERIFIED_CACHE_SIZE = 10000   -- tokens per worker
local JWKS_MAX_KEYS = 64
local JWKS_MAX_AGE_S = 3600         -- refetch a JWKS at least this often (key revocation)

-- Bounded per-worker caches: verified tokens (LRU); per-credential key material (weak, so
-- it goes with the configuration generation); one JWKS entry per configured jwks_uri.
local verified = jwt.cache_new(VERIFIED_CACHE_SIZE)
local materials = setmetatable({}, { __mode = "k" })
local jwks = {}

local JwtHandler = { PRIORITY = 1450, VERSION = "1.0.0" }

local function unauthorized(conf, message, with_error, errors)
  local www = conf.realm and ('Bearer realm="' .. conf.realm .. '"') or "Bearer"
  if with_error then www = www .. ' error="invalid_token"' end
  return nil, { status = 401, message = message, errors = errors,
                headers = { ["WWW-Authenticate"] = www } }
end

local function add(set, v)
  if type(v) == "string" and v ~= "" then set[v] = true end
end

local function add_cookies(set, header, names)
  for _, h in ipairs(type(header) == "table" and header or { header }) do
    for pair in h:gmatch("[^;]+") do
      local k, v = pair:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
      if k and names[k] then add(set, v) end
    end
  end
end

-- note(first, set, t) -> first, set: one more token seen. Most requests carry one token:
-- only a second, different one makes the set.
local function note(first, set, t)
  if type(t) ~= "string" or t == "" or t == first then return first, set end
  if first == nil then return t, set end
  set = set or { [first] = true }
  set[t] = true
  return first, set
end

local function note_list(first, set, v)
  if type(v) ~= "table" then return note(first, set, v) end
  for _, t in ipairs(v) do first, set = note(first, set, t) end
  return first, set
end

-- bearer(v) -> the token of an "Authorization: Bearer <token>" value. Linear in the value's
-- length (a lazy `(.-)%s*$` pattern retries the tail from every position: quadratic).
local function bearer(v)
  if type(v) ~= "string" then return nil end
  local _, e = find(v, "^%s*[Bb]earer%s+")
  if not e then return nil end
  local last = #v
  if find(v, "^%s", last) then
    local s = find(v, "%s*$", e + 1)
    last = s - 1
  end
  local t = sub(v, e + 1, last)
  return t
end

-- find_tokens(conf) -> token | {token, ...} | nil; the same token sent twice counts once.
-- The query is parsed only when there is one; headers are read one by one.
local function find_tokens(conf)
  local first, set = nil, nil
  local names = conf.uri_param_names
  if #names > 0 and turnpike.request.get_raw_query() ~= "" then
    local args = turnpike.request.get_query()
    for _, name in ipairs(names) do first, set = note_list(first, set, args[name]) end
  end
  if #conf.cookie_names > 0 and turnpike.request.get_header("cookie") then
    local cookie_names = {}
    for _, n in ipairs(conf.cookie_names) do cookie_names[n] = true end
    local cookies = {}
    add_cookies(cookies, turnpike.request.get_headers().cookie, cookie_names)
    for t in pairs(cookies) do first, set = note(first, set, t) end
  end
  -- the first header name outside the loop: with one name (the default) no loop runs
  local hnames = conf.header_names
  if #hnames > 0 then
    first, set = note(first, set, bearer(turnpike.request.get_header(hnames[1])))
    for i = 2, #hnames do
      first, set = note(first, set, bearer(turnpike.request.get_header(hnames[i])))
    end
  end
  if not set then return first end
  local tokens = {}
  for t in pairs(set) do tokens[#tokens + 1] = t end
  return tokens
end

-- material(conf, secret) -> {algorithm, secret|key} | nil: what verifies this credential's
-- tokens, built once per credential (a PEM is parsed once, not per request).
local function material(conf, secret)
  local byconf = materials[secret]
  if not byconf then
    byconf = {}
    materials[secret] = byconf
  end
  local mode = conf.secret_is_base64 and "b64" or "raw"
  local m = byconf[mode]
  if m == nil then
    local alg = secret.algorithm or "HS256"
    if alg:sub(1, 2) == "HS" then
      local s = secret.secret
      if type(s) == "string" and conf.secret_is_base64 then s = crypto.b64_decode(s, true) end
      m = type(s) == "string" and s ~= "" and { algorithm = alg, secret = s } or false
    else
      local key, err = crypto.key_from_pem(secret.rsa_public_key)
      if not key then
        turnpike.log.err("jwt secret '", tostring(secret.key), "': bad rsa_public_key: ", err)
      end
      m = key and { algorithm = alg, key = key } or false
    end
    byconf[mode] = m
  end
  return m or nil
end

-- JWKS ----------------------------------------------------------------------------------
local function fetch_jwks(conf, entry, now)
  entry.attempted_at = now
  local res, err = turnpike.http.request_uri(conf.jwks_uri, {
    timeout_ms = conf.jwks_timeout_ms, headers = { accept = "application/json" } })
  if not res then
    return turnpike.log.err("jwks fetch ", conf.jwks_uri, ": ", err)
  end
  local doc = res.status == 200 and cjson.decode(res.body or "")
  if type(doc) ~= "table" or type(doc.keys) ~= "table" then
    return turnpike.log.err("jwks fetch ", conf.jwks_uri, ": status ", res.status,
                            ", no JSON keys array")
  end
  local keys = {}
  for _, jwk in ipairs(doc.keys) do
    if #keys >= JWKS_MAX_KEYS then break end
    if type(jwk) == "table" and jwk.use ~= "enc" then
      local key, kerr = crypto.key_from_jwk(jwk)
      if key then
        keys[#keys + 1] = { kid = jwk.kid, alg = jwk.alg, key = key }
      else
        turnpike.log.debug("jwks ", conf.jwks_uri, ": skipping key ", tostring(jwk.kid), ": ", kerr)
      end
    end
  end
  entry.keys, entry.fetched_at = keys, now
end

local function select_keys(entry, kid)
  local out = {}
  for _, k in ipairs(entry.keys) do
    if kid == nil or k.kid == kid then out[#out + 1] = k end
  end
  return out
end

-- jwks_candidates(conf, kid, now) -> keys matching kid (all keys when the token has none).
-- An unknown kid refetches the document, at most once per jwks_refresh_min_s.
local function jwks_candidates(conf, kid, now)
  local entry = jwks[conf.jwks_uri]
  if not entry then
    entry = { keys = {}, fetched_at = -math.huge, attempted_at = -math.huge }
    jwks[conf.jwks_uri] = entry
  end
  local may_fetch = now - entry.attempted_at >= conf.jwks_refresh_min_s
  if may_fetch and now - entry.fetched_at >= JWKS_MAX_AGE_S then
    fetch_jwks(conf, entry, now)
    may_fetch = false
  end
  local found = select_keys(entry, kid)
  if #found == 0 and may_fetch then
    fetch_jwks(conf, entry, now)
    found = select_keys(entry, kid)
  end
  return found
end

local function verify_with_jwks(conf, tok, digest, now)
  if crypto.VERIFY_ALGS[tok.alg] == nil then
    return false, ERR_ALGORITHM     -- HS* never verifies against a public key set
  end
  local kid = tok.header.kid
  if kid ~= nil and type(kid) ~= "string" then return false, ERR_NO_JWKS_KEY end
  local candidates = jwks_candidates(conf, kid, now)
  if #candidates == 0 then return false, ERR_NO_JWKS_KEY end
  local err = ERR_SIGNATURE
  for _, k in ipairs(candidates) do
    if k.alg == nil or k.alg == tok.alg then
      local ok, e = jwt.verify_signature_cached(verified, digest, tok,
                                                { algorithm = tok.alg, key = k.key }, now)
      if ok then return true end
      err = e
    else
      err = ERR_ALGORITHM
    end
  end
  return false, err
end

-- authentication ------------------------------------------------------------------------
local function scope_of(claims)
  local s = claims.scope
  if type(s) == "string" then return s end
  s = claims.scp
  if type(s) == "string" then return s end
  if type(s) == "table" then
    local parts = {}
    for _, v in ipairs(s) do
      if type(v) == "string" then parts[#parts + 1] = v end
    end
    if #parts > 0 then return (concat(parts, " ")) end
  end
  return nil
end

-- Sets the upstream identity headers (X-Credential-Identifier is the secret's key) and the
-- token's scope, always replacing whatever the client sent.
local function set_consumer(consumer, credential, token, claims)
  auth.set_consumer(consumer, credential, credential and credential.key)
  local scope = claims and scope_of(claims)
  local req = turnpike.service.request
  if scope ~= nil then req.set_header(HEADER_SCOPE, scope) else req.clear_header(HEADER_SCOPE) end
  local shared = turnpike.ctx.shared
  shared.authenticated_jwt_token = token
  shared.authenticated_jwt_claims = claims
end

-- authenticate(conf) -> true | nil, {status, message, headers, errors}
local function authenticate(conf)
  local token = find_tokens(conf)
  if token == nil then return unauthorized(conf, ERR_UNAUTHORIZED, false) end
  if type(token) == "table" then return unauthorized(conf, ERR_MULTIPLE, true) end

  local now = turnpike.now() / 1000
  local tok, digest = jwt.lookup(verified, token, now)
  if not tok then
    local err
    tok, err = jwt.parse(token)
    if not tok then return unauthorized(conf, ERR_BAD_TOKEN .. err, true) end
  end
  local allowed = conf.algorithms
  if allowed and #allowed > 0 then
    local found = false
    for _, a in ipairs(allowed) do found = found or a == tok.alg end
    if not found then return unauthorized(conf, ERR_ALGORITHM, true) end
  end

  local claim = conf.key_claim_name
  local key = tok.claims[claim]
  if key == nil then key = tok.header[claim] end
  if key == nil then
    return unauthorized(conf, "No mandatory '" .. claim .. "' in claims", true)
  elseif type(key) ~= "string" or key == "" then
    return unauthorized(conf, "Invalid '" .. claim .. "' in claims", true)
  end
  local secret = turnpike.db.jwt_secrets[key]

  local ok, err
  if conf.jwks_uri then
    ok, err = verify_with_jwks(conf, tok, digest, now)
  elseif not secret then
    return unauthorized(conf, "No credentials found for given '" .. claim .. "'", true)
  else
    local m = material(conf, secret)
    if not m then return unauthorized(conf, ERR_KEY, true) end
    ok, err = jwt.verify_signature_cached(verified, digest, tok, m, now)
  end
  if not ok then return unauthorized(conf, err, true) end

  local cok, errors, msg = jwt.verify_claims(tok, {
    now = now, leeway = conf.leeway, claims_to_verify = conf.claims_to_verify,
    maximum_expiration = conf.maximum_expiration, issuer = conf.issuer,
    audiences = conf.audiences })
  if not cok then return unauthorized(conf, msg, true, errors) end

  if not secret then
    if not conf.consumer_optional then
      return unauthorized(conf, "No credentials found for given '" .. claim .. "'", true)
    end
    set_consumer(nil, { id = key, key = key }, token, tok.claims)
    return true
  end
  local consumer = turnpike.client.load_consumer(secret.consumer.id)
  if not consumer then
    return unauthorized(conf, "Could not find consumer for '" .. claim .. "=" .. key .. "'", true)
  end
  set_consumer(consumer, secret, token, tok.claims)
  return true
end

function JwtHandler:access(conf)
  if auth.skip(conf) then return end

  local ok, err = authenticate(conf)
  if ok then return end

  if not conf.anonymous then
    -- Kong's body is the per-claim errors table; `message` is added for the contract.
    local body = { message = err.message }
    for k, v in pairs(err.errors or {}) do body[k] = v end
    return turnpike.response.exit(err.status, body, err.headers)
  end
  local anonymous, aerr = auth.load_anonymous(conf.anonymous)
  if not anonymous then
    return turnpike.response.error(aerr.status, aerr.message)
  end
  set_consumer(anonymous, nil, nil, nil)
end

JwtHandler.ERR_UNAUTHORIZED = ERR_UNAUTHORIZED
JwtHandler.ERR_MULTIPLE = ERR_MULTIPLE
JwtHandler.ERR_NO_JWKS_KEY = ERR_NO_JWKS_KEY

return JwtHandler
