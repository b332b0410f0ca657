-- enrich: looks the caller up in a profile service and forwards profile fields to the
-- upstream as request headers.
--
--   plugins:
--     - name: enrich
--       config:
--         url: http://127.0.0.1:7000/profiles/{key}
--         key_header: X-User-ID
--         fields: { plan: X-User-Plan, region: X-User-Region }
--         timeout_ms: 300
--         fail_open: false
--
-- The lookup is turnpike.http.request_uri: it suspends only this request, never the worker.
-- Answers are cached per worker (and per plugin instance), bounded by cache_size: when full,
-- the oldest key goes. The configured headers are always removed from the client's request
-- first, so a client can never send its own X-User-Plan.
--
-- Service answers: 200 + a JSON object = found; 404 = not-found (forwarded without profile
-- headers, cached too); anything else, a timeout or a connection error = failure, never
-- cached, handled by fail_open.
local cjson = require "cjson.safe"

local turnpike = turnpike

local type = type
local pairs = pairs
local tostring = tostring
local setmetatable = setmetatable
local format = string.format
local gsub = string.gsub

local ERR_NO_KEY = "No caller key in the request"
local ERR_UNAVAILABLE = "Profile service unavailable"
local FOUND, NOT_FOUND, ANONYMOUS, UNAVAILABLE = "found", "not-found", "anonymous", "unavailable"

local Enrich = { PRIORITY = 800, VERSION = "1.0.0" }
Enrich.ERR_NO_KEY = ERR_NO_KEY
Enrich.ERR_UNAVAILABLE = ERR_UNAVAILABLE

-- One bounded cache per plugin instance (its conf table) in this worker; a reload makes new
-- conf tables, so the old caches go with the old generation.
local caches = setmetatable({}, { __mode = "k" })

local function cache_of(conf)
  local c = caches[conf]
  if not c then
    c = { entries = {}, ring = {}, pos = 0, size = conf.cache_size }
    caches[conf] = c
  end
  return c
end

local function cache_get(c, key, now)
  local e = c.entries[key]
  if e and e.expires > now then return e end
  return nil
end

-- cache_put: a new key takes the next ring slot and evicts the key that held it
local function cache_put(c, key, profile, expires)
  local e = c.entries[key]
  if e then
    e.profile, e.expires = profile, expires
    return
  end
  c.pos = c.pos % c.size + 1
  local old = c.ring[c.pos]
  if old ~= nil then c.entries[old] = nil end
  c.ring[c.pos] = key
  c.entries[key] = { profile = profile, expires = expires }
end

local function escape(s)
  return (gsub(s, "[^%w%-%._~]", function(ch) return format("%%%02X", ch:byte()) end))
end

-- fetch(conf, key) -> profile table | false (not found) | nil, err (failure)
local function fetch(conf, key)
  local escaped = escape(key)
  local url = gsub(conf.url, "{key}", function() return escaped end)
  local res, err = turnpike.http.request_uri(url, {
    method = "GET", headers = { Accept = "application/json" }, timeout_ms = conf.timeout_ms,
  })
  if not res then return nil, err end
  if res.status == 404 then return false end
  if res.status ~= 200 then return nil, "answered " .. res.status end
  local profile = cjson.decode(res.body)
  if type(profile) ~= "table" then return nil, "answered 200 without a JSON object" end
  return profile
end

-- lookup(conf, key) -> profile | false | nil, err, through the cache
local function lookup(conf, key)
  if conf.cache_ttl_ms == 0 then return fetch(conf, key) end
  local c = cache_of(conf)
  local hit = cache_get(c, key, turnpike.now())
  if hit then return hit.profile end
  local profile, err = fetch(conf, key)
  if profile == nil then return nil, err end
  -- the clock is read again: the lookup itself took time
  cache_put(c, key, profile, turnpike.now() + conf.cache_ttl_ms)
  return profile
end

local function set_status(conf, status)
  if conf.status_header then turnpike.service.request.set_header(conf.status_header, status) end
end

function Enrich:access(conf)
  local req = turnpike.service.request
  for _, header in pairs(conf.fields) do req.clear_header(header) end
  if conf.status_header then req.clear_header(conf.status_header) end

  local key = turnpike.request.get_header(conf.key_header)
  if not key or key == "" then
    if conf.key_required then return turnpike.response.exit(401, { message = ERR_NO_KEY }) end
    return set_status(conf, ANONYMOUS)
  end

  local profile, err = lookup(conf, key)
  if profile == nil then
    turnpike.log.warn("profile lookup for key '", key, "' failed: ", err,
                      conf.fail_open and " (fail open)" or " (fail closed)")
    if not conf.fail_open then
      return turnpike.response.exit(503, { message = ERR_UNAVAILABLE })
    end
    return set_status(conf, UNAVAILABLE)
  end
  if profile == false then return set_status(conf, NOT_FOUND) end

  for field, header in pairs(conf.fields) do
    local v = profile[field]
    local tv = type(v)
    if tv == "string" or tv == "number" or tv == "boolean" then req.set_header(header, tostring(v)) end
  end
  set_status(conf, FOUND)
end

return Enrich
