-- turnpike.client: who is calling, and who they authenticated as, as Kong's kong.client.
--
-- load_consumer reads the generation's consumer index (sdk.db, built once per config by the
-- runner), so it never does I/O.
local phase = require "turnpike.sdk.phase"

local type = type
local error = error
local tonumber = tonumber
local check = phase.check

local REQUEST = phase.REQUEST
local REWRITE_ACCESS = phase.REWRITE_ACCESS

local _M = {}

function _M.new(backend, sdk)
  local client = {}

  function client.get_ip()
    local r = check(backend, REQUEST, "client.get_ip")
    return backend.get_client_ip(r)
  end

  -- No trusted proxies are configured, so the forwarded address is the peer's.
  function client.get_forwarded_ip()
    local r = check(backend, REQUEST, "client.get_forwarded_ip")
    return backend.get_client_ip(r)
  end

  function client.get_port()
    local r = check(backend, REQUEST, "client.get_port")
    return (tonumber(backend.get_client_port(r)))
  end

  client.get_forwarded_port = client.get_port

  function client.get_protocol()
    local r = check(backend, REQUEST, "client.get_protocol")
    return backend.get_scheme(r)
  end

  -- authenticate(consumer, credential): marks the request as authenticated. In access, the
  -- runner then looks plugins up again with this consumer for the rest of the request.
  function client.authenticate(consumer, credential)
    if consumer ~= nil and type(consumer) ~= "table" then
      error("consumer must be a table or nil", 2)
    end
    if credential ~= nil and type(credential) ~= "table" then
      error("credential must be a table or nil", 2)
    end
    if consumer == nil and credential == nil then
      error("either credential or consumer must be provided", 2)
    end
    local _, ctx = check(backend, REWRITE_ACCESS, "client.authenticate")
    ctx.authenticated_consumer = consumer
    ctx.authenticated_credential = credential
    ctx.consumer = consumer
    ctx.credential = credential
  end

  function client.get_consumer()
    local _, ctx = check(backend, REQUEST, "client.get_consumer")
    return ctx.authenticated_consumer
  end

  function client.get_credential()
    local _, ctx = check(backend, REQUEST, "client.get_credential")
    return ctx.authenticated_credential
  end

  -- load_consumer(id_or_username, search_by_username) -> consumer | nil
  function client.load_consumer(key, by_username)
    if type(key) ~= "string" then error("consumer_id must be a string", 2) end
    check(backend, phase.ALL, "client.load_consumer")
    local db = sdk.db
    if not db then return nil, "no consumers loaded" end
    local c = db.consumers_by_id[key]
    if not c and by_username then c = db.consumers_by_username[key] end
    return c
  end

  -- Groups an authentication plugin vouches for without a consumer entity (acl reads them).
  function client.set_authenticated_groups(groups)
    if groups ~= nil and type(groups) ~= "table" then error("groups must be a table", 2) end
    local _, ctx = check(backend, REWRITE_ACCESS, "client.set_authenticated_groups")
    ctx.authenticated_groups = groups
  end

  function client.get_authenticated_groups()
    local _, ctx = check(backend, REQUEST, "client.get_authenticated_groups")
    return ctx.authenticated_groups
  end

  return client
end

return _M
