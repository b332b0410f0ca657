-- key-auth: authenticates a consumer by an API key sent in a header, the query string or the
-- body, as Kong's key-auth. Keys are looked up in turnpike.db.keyauth_credentials, built once
-- per configuration generation.
local auth = require "turnpike.auth"

local turnpike = turnpike

local type = type

local ERR_NO_KEY = "No API key found in request"
local ERR_INVALID_CREDENTIALS = "Invalid authentication credentials"
local ERR_DUPLICATE_KEY = "Duplicate API key found"
local DUPLICATE = {} -- a key name that came more than once

local KeyAuthHandler = { PRIORITY = 1250, VERSION = "1.0.0" }

local function challenge(conf)
  return { ["WWW-Authenticate"] = 'Key realm="' .. (conf.realm or "kong") .. '"' }
end

-- key_named(conf, name, found) -> key | nil, err: looks for one key name in the header, then
-- the query, then the body. found holds what was read for earlier names (query, body).
local function key_named(conf, name, found)
  local v, where
  if conf.key_in_header then
    -- one header lookup (no copy of all headers); a name sent twice is a duplicate
    local n
    v, n = turnpike.request.get_header(name)
    if n and n > 1 then v = DUPLICATE end
    where = v ~= nil and "header" or nil
  end
  -- the query is parsed only when it is needed (or must be cleaned)
  local query = found.query
  if conf.key_in_query and query == nil and (v == nil or conf.hide_credentials) then
    query = turnpike.request.get_query()
    found.query = query
  end
  if v == nil and query then
    v = query[name]
    where = v ~= nil and "query" or nil
  end
  local body = found.body
  if v == nil and conf.key_in_body then
    if not body then
      local err
      body, err = turnpike.request.get_body()
      if not body then
        turnpike.log.debug("cannot read the request body: ", err)
        body = {}
      end
      found.body = body
    end
    v = body[name]
    where = v ~= nil and "body" or nil
  end

  if type(v) == "table" then
    return nil, { status = 401, message = ERR_DUPLICATE_KEY, headers = challenge(conf) }
  end
  if type(v) == "string" and v ~= "" then
    if conf.hide_credentials then
      turnpike.service.request.clear_header(name)
      if query and query[name] ~= nil then
        query[name] = nil
        turnpike.service.request.set_query(query)
      end
      if where == "body" then
        body[name] = nil
        turnpike.service.request.set_body(body)
      end
    end
    return v
  end
  return nil
end

-- find_key(conf) -> key | nil, err. Each name in turn; a name sent twice is an error rather
-- than a guess. The first name is tried before the loop: the common single-name request
-- then runs no loop, which keeps the access phase one compiled trace.
local function find_key(conf)
  local names = conf.key_names
  local found = {}
  local v, err = key_named(conf, names[1], found)
  if v or err then return v, err end
  for i = 2, #names do
    v, err = key_named(conf, names[i], found)
    if v or err then return v, err end
  end
  return nil, { status = 401, message = ERR_NO_KEY, headers = challenge(conf) }
end

-- authenticate(conf) -> true | nil, err
local function authenticate(conf)
  local key, err = find_key(conf)
  if not key then return nil, err end
  local credential = turnpike.db.keyauth_credentials[key]
  if not credential then
    return nil, { status = 401, message = ERR_INVALID_CREDENTIALS, headers = challenge(conf) }
  end
  local consumer = turnpike.client.load_consumer(credential.consumer.id)
  if not consumer then
    return nil, { status = 401, message = ERR_INVALID_CREDENTIALS, headers = challenge(conf) }
  end
  auth.set_consumer(consumer, credential, credential.id)
  return true
end

function KeyAuthHandler:access(conf)
  if auth.skip(conf) then return end

  local ok, err = authenticate(conf)
  if ok then return end

  if not conf.anonymous then
    return turnpike.response.error(err.status, err.message, err.headers)
  end
  local anonymous, aerr = auth.load_anonymous(conf.anonymous)
  if not anonymous then
    return turnpike.response.error(aerr.status, aerr.message)
  end
  auth.set_consumer(anonymous, nil, nil)
end

KeyAuthHandler.ERR_NO_KEY = ERR_NO_KEY
KeyAuthHandler.ERR_INVALID_CREDENTIALS = ERR_INVALID_CREDENTIALS
KeyAuthHandler.ERR_DUPLICATE_KEY = ERR_DUPLICATE_KEY

return KeyAuthHandler
