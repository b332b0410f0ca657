-- acl: allows or denies an authenticated consumer by its groups, as Kong's acl. Runs after
-- the authentication plugins (PRIORITY 950). Groups come from turnpike.db.acls (built once per
-- configuration generation) or from groups an auth plugin vouched for
-- (turnpike.client.set_authenticated_groups).
local turnpike = turnpike

local ipairs = ipairs
local concat = table.concat
local setmetatable = setmetatable

local HEADER_CONSUMER_GROUPS = "X-Consumer-Groups"
local ERR_UNAUTHORIZED = "Unauthorized"
local ERR_FORBIDDEN = "You cannot consume this service"

local AclHandler = { PRIORITY = 950, VERSION = "1.0.0" }

-- conf -> { set = { group = true }, allow = bool }; bounded by the configuration.
local lists = setmetatable({}, { __mode = "k" })

local function list_of(conf)
  local l = lists[conf]
  if l then return l end
  local groups = conf.allow or conf.deny
  l = { allow = conf.allow ~= nil and #conf.allow > 0, set = {} }
  for _, g in ipairs(groups) do l.set[g] = true end
  lists[conf] = l
  return l
end

local function blocked(conf, groups)
  local l = list_of(conf)
  local hit = false
  for _, g in ipairs(groups) do
    if l.set[g] then
      hit = true
      break
    end
  end
  if l.allow then return not hit end
  return hit
end

-- groups_of(conf) -> groups | nil, err
local function groups_of(conf)
  local client = turnpike.client
  local consumer = client.get_consumer()
  local authenticated = client.get_authenticated_groups()
  if consumer and not (conf.always_use_authenticated_groups and authenticated) then
    return turnpike.db.acls[consumer.id] or {}
  end
  if authenticated then return authenticated end
  -- a credential without a consumer: someone authenticated, but with no groups to check
  if client.get_credential() then
    return nil, { status = 403, message = ERR_FORBIDDEN }
  end
  return nil, { status = 401, message = ERR_UNAUTHORIZED }
end

function AclHandler:access(conf)
  local groups, err = groups_of(conf)
  if not groups then return turnpike.response.error(err.status, err.message) end
  if blocked(conf, groups) then
    return turnpike.response.error(403, ERR_FORBIDDEN)
  end
  -- never forward a client-made groups header
  if conf.hide_groups_header or #groups == 0 then
    turnpike.service.request.clear_header(HEADER_CONSUMER_GROUPS)
  else
    turnpike.service.request.set_header(HEADER_CONSUMER_GROUPS, concat(groups, ", "))
  end
end

AclHandler.ERR_UNAUTHORIZED = ERR_UNAUTHORIZED
AclHandler.ERR_FORBIDDEN = ERR_FORBIDDEN

return AclHandler
