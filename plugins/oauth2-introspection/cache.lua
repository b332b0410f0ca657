-- oauth2-introspection answers, cached in the shared-memory dict "kv" so that every worker
-- reuses them. Keys are "oauth2i:<hex sha-256 of the token>:<16 hex of the context>", where
-- the context (endpoint, client credentials, hint, and the request line when
-- introspect_request is on) keeps answers of different authorization servers apart; the raw
-- token is never stored.
--
-- A value is a small JSON object: { x = expiry (ms, wall clock), a = active, c = claims }.
-- The expiry is checked here against turnpike.now() rather than left to the dict's own TTL
-- alone, so it never depends on two clocks agreeing. A value too large for the dict (512
-- bytes) goes to a bounded per-worker LRU instead.
local cjson = require "cjson.safe"
local crypto = require "turnpike.ffi.crypto"
local shm = require "turnpike.ffi.shm"
local jwt = require "turnpike.jwt"

local type = type
local format = string.format
local byte = string.byte
local concat = table.concat

local DICT = "kv"
local PREFIX = "oauth2i:"
local LOCAL_CACHE_SIZE = 1000

-- per worker: answers too large for the shared dict (bounded LRU)
local large = jwt.cache_new(LOCAL_CACHE_SIZE)

local function hex(s)
  local out = {}
  for i = 1, #s do out[i] = format("%02x", byte(s, i)) end
  return (concat(out))
end

local _M = { DICT = DICT }

-- key(token, context) -> cache key
function _M.key(token, context)
  return PREFIX .. hex(crypto.sha256(token)) .. ":" .. hex(crypto.sha256(context)):sub(1, 16)
end

-- get(key, now_ms) -> active, claims | nil (not cached or expired)
function _M.get(key, now_ms)
  local raw = shm.get(DICT, key) or large:get(key, now_ms)
  if type(raw) ~= "string" then return nil end
  local v = cjson.decode(raw)
  if type(v) ~= "table" or type(v.x) ~= "number" or v.x <= now_ms then return nil end
  return v.a == true, type(v.c) == "table" and v.c or {}
end

-- set(key, active, claims, expires_ms, now_ms) -> true | nil, err
function _M.set(key, active, claims, expires_ms, now_ms)
  local ttl = expires_ms - now_ms
  if ttl < 1 then return nil, "already expired" end
  local raw, err = cjson.encode({ x = expires_ms, a = active, c = claims })
  if not raw then return nil, err end
  local ok, serr = shm.set(DICT, key, raw, ttl)
  if ok then return true end
  if serr ~= "value too large" and serr ~= "no such dict" then return nil, serr end
  large:set(key, raw, expires_ms)
  return true
end

-- delete(key): forget an answer (specs, and an admin purge some day)
function _M.delete(key)
  shm.delete(DICT, key)
  large:set(key, nil, 0)
end

return _M
