-- turnpike.jwt: compact JWS parsing and verification for the jwt plugin (RFC 7515/7519,
-- algorithms of RFC 7518 section 3), plus a bounded LRU of already-verified tokens.
--
--   local tok, err = jwt.parse(token)           -- tok.header, tok.claims, tok.alg (read-only)
--   local ok, err = jwt.verify_signature(tok, cred)
--       cred = { algorithm = "HS256", secret = "..." }  or  { algorithm = "RS256", key = <key> }
--       (key from turnpike.ffi.crypto.key_from_pem / key_from_jwk)
--   local ok, errors, msg = jwt.verify_claims(tok, opts)
--       opts = { now = <s>, leeway = <s>, claims_to_verify = {"exp","nbf"},
--                maximum_expiration = <s>, issuer = "x" | {"x",...}, audiences = {"a",...} }
--   local cache = jwt.cache_new(max_entries)
--   local tok, digest = jwt.lookup(cache, token, now)   -- a token verified before, or nil
--   local ok, err = jwt.verify_signature_cached(cache, digest, tok, cred, now)
--
-- Rules that stop algorithm confusion: `alg` must equal the credential's algorithm; HS*
-- only ever uses a secret, never a public key; RS*/PS* need an RSA key and ES256/384/512
-- an EC key on P-256/P-384/P-521; "none" is never accepted.
local ffi = require "ffi"
local cjson = require "cjson.safe"
local crypto = require "turnpike.ffi.crypto"

-- pcall: the typedef may already exist when the module is loaded a second time.
pcall(ffi.cdef, [[
typedef struct tp_jws_parts_s {
  size_t signing_len, header_len, payload_len, sig_len;
} tp_jws_parts_t;
int tp_ffi_jws_split(const char *tok, size_t len, unsigned char *buf, size_t cap,
                     tp_jws_parts_t *out);
]])
local C = ffi.C
local ffi_str = ffi.string

local type = type
local pairs = pairs
local tostring = tostring
local ipairs = ipairs
local setmetatable = setmetatable
local json_decode = cjson.decode
local json_encode = cjson.encode
local b64url_encode = crypto.b64url_encode

local MAX_TOKEN_LEN = 65536
-- where tp_ffi_jws_split puts a token's decoded parts (never longer than the token)
local jws_parts = ffi.new("tp_jws_parts_t")
local jws_buf = ffi.new("unsigned char[?]", MAX_TOKEN_LEN)
local DEFAULT_CACHE_TTL_S = 300   -- tokens without `exp` stay cached at most this long

local ERR_INVALID_JSON = "invalid JSON"
local ERR_INVALID_TYP = "invalid typ"
local ERR_INVALID_ALG = "invalid alg"
local ERR_INVALID_CRIT = "invalid crit"
local ERR_ALGORITHM = "Invalid algorithm"
local ERR_KEY = "Invalid key/secret"
local ERR_SIGNATURE = "Invalid signature"
local ERR_EXPIRED = "token expired"
local ERR_NOT_YET = "token not valid yet"
local ERR_MAX_EXP = "exceeds maximum allowed expiration"
local ERR_ISSUER = "token issuer not allowed"
local ERR_AUDIENCE = "token audience not allowed"

local HS_BITS = crypto.HMAC_ALGS
local ASYM = crypto.VERIFY_ALGS
local EC_CURVE = { ES256 = "P-256", ES384 = "P-384", ES512 = "P-521" }
-- "typ" values we accept (RFC 7519 5.1, RFC 9068 2.1 access tokens), upper-cased.
local TYPES = { JWT = true, ["APPLICATION/JWT"] = true, ["AT+JWT"] = true,
                ["APPLICATION/AT+JWT"] = true }
local CLAIM_ORDER = { "exp", "nbf", "iss", "aud" }

local function is_object(v)
  return type(v) == "table" and v[1] == nil
end

-- The verdict on a decoded JOSE header text: its table, or the parse error. Tokens of one
-- issuer share a handful of headers ({"alg":"RS256","kid":"k1"}), so each is decoded and
-- checked once (header tables are read-only); starts over at HEADER_MEMO_MAX texts.
local HEADER_MEMO_MAX = 256
local header_memo, header_memo_n = {}, 0

-- check_header(text) -> header | nil, err: a JSON object naming a supported alg, a known typ
-- when it has one, and no critical extension (RFC 7515 4.1.11)
local function check_header(text)
  local header = json_decode(text)
  if not is_object(header) then return nil, ERR_INVALID_JSON end
  local typ = header.typ
  if typ ~= nil and (type(typ) ~= "string" or not TYPES[typ:upper()]) then
    return nil, ERR_INVALID_TYP
  end
  local alg = header.alg
  if type(alg) ~= "string" or not (HS_BITS[alg] ~= nil or ASYM[alg] ~= nil) then
    return nil, ERR_INVALID_ALG
  end
  if header.crit ~= nil then
    return nil, ERR_INVALID_CRIT
  end
  return header
end

local function header_of(text)
  local v = header_memo[text]
  if v == nil then
    local header, err = check_header(text)
    v = header or err
    if header_memo_n >= HEADER_MEMO_MAX then header_memo, header_memo_n = {}, 0 end
    header_memo[text] = v
    header_memo_n = header_memo_n + 1
  end
  if type(v) == "string" then return nil, v end
  return v
end

-- LRU ------------------------------------------------------------------------------
-- A doubly linked list with a sentinel plus a map; nodes carry an absolute expiry (s).
local Lru = {}
Lru.__index = Lru

local function unlink(node)
  node.prev.next = node.next
  node.next.prev = node.prev
end

local function push_front(self, node)
  local head = self.head
  node.next = head.next
  node.prev = head
  head.next.prev = node
  head.next = node
end

function Lru:get(key, now)
  local node = self.map[key]
  if not node then return nil end
  if node.expires <= now then
    unlink(node)
    self.map[key] = nil
    self.n = self.n - 1
    return nil
  end
  unlink(node)
  push_front(self, node)
  return node.value
end

function Lru:set(key, value, expires)
  local node = self.map[key]
  if node then
    node.value, node.expires = value, expires
    unlink(node)
    push_front(self, node)
    return
  end
  node = { key = key, value = value, expires = expires }
  self.map[key] = node
  push_front(self, node)
  self.n = self.n + 1
  if self.n > self.max then
    local last = self.head.prev
    unlink(last)
    self.map[last.key] = nil
    self.n = self.n - 1
  end
end

function Lru:count()
  return self.n
end

local _M = {
  ERR_INVALID_JSON = ERR_INVALID_JSON, ERR_INVALID_TYP = ERR_INVALID_TYP,
  ERR_INVALID_ALG = ERR_INVALID_ALG, ERR_INVALID_CRIT = ERR_INVALID_CRIT,
  ERR_ALGORITHM = ERR_ALGORITHM, ERR_KEY = ERR_KEY, ERR_SIGNATURE = ERR_SIGNATURE,
  ERR_EXPIRED = ERR_EXPIRED, ERR_NOT_YET = ERR_NOT_YET, ERR_MAX_EXP = ERR_MAX_EXP,
  ERR_ISSUER = ERR_ISSUER, ERR_AUDIENCE = ERR_AUDIENCE,
}

-- cache_new(max) -> an LRU keyed by SHA-256 of whole tokens.
function _M.cache_new(max)
  if type(max) ~= "number" or max < 1 then error("cache size must be a positive number", 2) end
  local head = {}
  head.next, head.prev = head, head
  return (setmetatable({ max = max, n = 0, map = {}, head = head }, Lru))
end

-- supported(alg) -> true for the JWA names this library verifies.
function _M.supported(alg)
  return HS_BITS[alg] ~= nil or ASYM[alg] ~= nil
end

-- parse(token) -> tok | nil, err. Exactly three base64url parts (split and decoded in one C
-- call); header and claims must be JSON objects; the header names a supported alg and no
-- critical extension. tok.token and tok.signing_len give the signing input (a prefix of the
-- token) without a copy of it.
function _M.parse(token)
  if type(token) ~= "string" or #token > MAX_TOKEN_LEN then
    return nil, ERR_INVALID_JSON
  end
  if C.tp_ffi_jws_split(token, #token, jws_buf, MAX_TOKEN_LEN, jws_parts) ~= 0 then
    return nil, ERR_INVALID_JSON
  end
  local hlen, plen = tonumber(jws_parts.header_len), tonumber(jws_parts.payload_len)
  local header, err = header_of(ffi_str(jws_buf, hlen))
  if err == ERR_INVALID_JSON then return nil, err end
  local claims = json_decode(ffi_str(jws_buf + hlen, plen))
  if not is_object(claims) then return nil, ERR_INVALID_JSON end
  if not header then return nil, err end -- typ, alg or crit: after the JSON of both parts
  return {
    header = header, claims = claims, alg = header.alg, token = token,
    signature = ffi_str(jws_buf + hlen + plen, jws_parts.sig_len),
    signing_len = tonumber(jws_parts.signing_len),
  }
end

-- verify_signature(tok, cred) -> true | false, err (see the rules at the top).
function _M.verify_signature(tok, cred)
  local alg = tok.alg
  if alg ~= cred.algorithm then
    return false, ERR_ALGORITHM
  end
  local bits = HS_BITS[alg]
  if bits then
    local secret = cred.secret
    if type(secret) ~= "string" or secret == "" or cred.key ~= nil then
      return false, ERR_KEY
    end
    local mac = crypto.hmac(bits, secret, tok.token, tok.signing_len)
    if not crypto.equal(mac, tok.signature) then return false, ERR_SIGNATURE end
    return true
  end
  local key = cred.key
  if type(key) ~= "cdata" then
    return false, ERR_KEY
  end
  local want_curve = EC_CURVE[alg]
  if want_curve then
    if crypto.key_curve(key) ~= want_curve then return false, ERR_KEY end
  elseif crypto.key_type(key) ~= "RSA" then
    return false, ERR_KEY
  end
  local ok = crypto.verify(key, alg, tok.token, tok.signature, tok.signing_len)
  if ok == nil then return false, ERR_KEY end
  if not ok then return false, ERR_SIGNATURE end
  return true
end

-- lookup(cache, token, now) -> tok | nil, digest: a token verified before (still to be
-- checked against the current credential by verify_signature_cached), and the cache key.
-- Digests of tokens seen lately, so a client repeating its token does not hash it again;
-- starts over at DIGEST_MEMO_MAX tokens (a flood of new tokens costs a digest each).
local DIGEST_MEMO_MAX = 4096
local digests, digests_n = {}, 0

function _M.lookup(cache, token, now)
  local digest = digests[token]
  if not digest then
    digest = crypto.sha256(token)
    if digests_n >= DIGEST_MEMO_MAX then digests, digests_n = {}, 0 end
    digests[token] = digest
    digests_n = digests_n + 1
  end
  return cache:get(digest, now), digest
end

-- verify_signature_cached(cache, digest, tok, cred, now) -> true | false, err. A token this
-- same key material (secret string or key cdata) already verified costs nothing more; a
-- newly verified one is cached until its `exp`. Cached tok tables are shared: read-only.
function _M.verify_signature_cached(cache, digest, tok, cred, now)
  local material = cred.key or cred.secret
  if tok.verified_with ~= nil and tok.verified_with == material
     and tok.verified_alg == cred.algorithm then
    return true
  end
  local ok, err = _M.verify_signature(tok, cred)
  if not ok then return false, err end
  tok.verified_with, tok.verified_alg = material, cred.algorithm
  local exp = tok.claims.exp
  local expires = type(exp) == "number" and exp or now + DEFAULT_CACHE_TTL_S
  if expires > now then
    cache:set(digest, tok, expires)
  end
  return true
end

local function one_of(v, list)
  if type(list) == "string" then return v == list end
  for _, x in ipairs(list) do
    if x == v then return true end
  end
  return false
end

local function audience_ok(aud, audiences)
  if type(aud) == "string" then return one_of(aud, audiences) end
  if type(aud) ~= "table" then return false end
  for _, a in ipairs(aud) do
    if type(a) == "string" and one_of(a, audiences) then return true end
  end
  return false
end

-- The set of claim names a claims_to_verify list asks for, made once per list (configuration
-- tables live as long as their generation: weak keys).
local wanted_of = setmetatable({}, { __mode = "k" })
local WANT_NONE = {}

local function wanted_set(list)
  if list == nil then return WANT_NONE end
  local w = wanted_of[list]
  if w then return w end
  w = {}
  for k, v in pairs(list) do w[type(k) == "number" and v or k] = true end
  wanted_of[list] = w
  return w
end

-- time_claim(errors, claims, name, ...) -> errors: checks exp or nbf when wanted; errors is
-- made on the first failure only (a valid token allocates nothing here)
local function time_claim(errors, claims, name, wanted, now, leeway)
  if not wanted[name] then return errors end
  local v, e = claims[name], nil
  if type(v) ~= "number" then
    e = "must be a number"
  elseif name == "exp" then
    if v + leeway <= now then e = ERR_EXPIRED end
  elseif v - leeway > now then
    e = ERR_NOT_YET
  end
  if e then
    errors = errors or {}
    errors[name] = e
  end
  return errors
end

local function first_error(errors)
  for _, name in ipairs(CLAIM_ORDER) do
    local e = errors[name]
    if e then
      return false, errors, e == "must be a number" and ("'" .. name .. "' " .. e) or e
    end
  end
  return false, errors
end

-- verify_claims(tok, opts) -> true | false, errors ({claim = message}), first message.
-- Written without loops on the path of a valid token, which keeps callers' traces whole.
function _M.verify_claims(tok, opts)
  local claims = tok.claims
  local now, leeway = opts.now, opts.leeway or 0
  local wanted = wanted_set(opts.claims_to_verify)
  local errors = time_claim(nil, claims, "exp", wanted, now, leeway)
  errors = time_claim(errors, claims, "nbf", wanted, now, leeway)
  local max = opts.maximum_expiration
  if not (errors and errors.exp) and max and max > 0 then
    local exp = claims.exp
    if type(exp) ~= "number" or exp - now > max then
      errors = errors or {}
      errors.exp = ERR_MAX_EXP
    end
  end
  local issuer = opts.issuer
  if issuer ~= nil and issuer ~= "" and not (type(claims.iss) == "string"
     and one_of(claims.iss, issuer)) then
    errors = errors or {}
    errors.iss = ERR_ISSUER
  end
  local audiences = opts.audiences
  if audiences ~= nil and #audiences > 0 and not audience_ok(claims.aud, audiences) then
    errors = errors or {}
    errors.aud = ERR_AUDIENCE
  end
  if errors == nil then return true end
  return first_error(errors)
end

-- sign_hs(claims, secret, alg, header) -> compact JWS with HS256/384/512 (for tests/tools).
function _M.sign_hs(claims, secret, alg, header)
  alg = alg or "HS256"
  local bits = HS_BITS[alg]
  if not bits then error("sign_hs: unsupported algorithm " .. tostring(alg), 2) end
  local h = { typ = "JWT" }
  for k, v in pairs(header or {}) do h[k] = v end
  h.alg = alg
  local input = b64url_encode(json_encode(h)) .. "." .. b64url_encode(json_encode(claims))
  return input .. "." .. b64url_encode(crypto.hmac(bits, secret, input))
end

return _M
