-- turnpike.auth: what the authentication plugins (key-auth, jwt, oauth2-introspection) share,
-- as Kong's: the X-Consumer-* identity headers sent upstream, and the `anonymous` fallback.
--
-- Each plugin still decides which credential field names it (X-Credential-Identifier), and
-- sets its own extra headers; this module only covers the part that must be the same in all.
local turnpike = turnpike

local tostring = tostring

local HEADER_CONSUMER_ID = "X-Consumer-ID"
local HEADER_CONSUMER_CUSTOM_ID = "X-Consumer-Custom-ID"
local HEADER_CONSUMER_USERNAME = "X-Consumer-Username"
local HEADER_CREDENTIAL_IDENTIFIER = "X-Credential-Identifier"
local HEADER_ANONYMOUS = "X-Anonymous-Consumer"

local _M = {}

-- put(name, value): sets the upstream header, or drops what the client sent when value is nil.
local function put(name, value)
  local req = turnpike.service.request
  if value ~= nil then req.set_header(name, tostring(value)) else req.clear_header(name) end
end

-- set_consumer(consumer, credential, identifier): marks the request as authenticated and sets
-- the upstream identity headers, always replacing whatever the client sent. identifier is
-- the credential's X-Credential-Identifier (the plugin picks the field); no credential means
-- the anonymous consumer.
function _M.set_consumer(consumer, credential, identifier)
  if consumer or credential then
    turnpike.client.authenticate(consumer, credential)
  end
  put(HEADER_CONSUMER_ID, consumer and consumer.id)
  put(HEADER_CONSUMER_CUSTOM_ID, consumer and consumer.custom_id)
  put(HEADER_CONSUMER_USERNAME, consumer and consumer.username)
  put(HEADER_CREDENTIAL_IDENTIFIER, identifier)
  put(HEADER_ANONYMOUS, not credential and "true" or nil)
end

-- load_anonymous(id) -> consumer | nil, {status, message}: the consumer named by
-- config.anonymous (id or username). A missing one is a configuration error, logged here.
-- already_authenticated(conf): with `anonymous` set, auth plugins form a logical OR,
-- so a credential an earlier plugin accepted means this one has nothing to do.
function _M.already_authenticated(conf)
  if not conf.anonymous then return false end
  return turnpike.client.get_credential() ~= nil
end

-- skip(conf): a CORS preflight the plugin is told to let through, or an earlier success.
function _M.skip(conf)
  if not conf.run_on_preflight and turnpike.request.get_method() == "OPTIONS" then return true end
  return _M.already_authenticated(conf)
end

function _M.load_anonymous(id)
  local consumer = turnpike.client.load_consumer(id, true)
  if consumer then return consumer end
  local msg = "anonymous consumer " .. id .. " is configured but doesn't exist"
  turnpike.log.err(msg)
  return nil, { status = 500, message = msg }
end

return _M
