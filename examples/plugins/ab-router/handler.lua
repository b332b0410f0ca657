-- ab-router: sends a request to one of several variants of a service, picked by a request
-- header, remembered in a cookie when configured, and says in a response header which variant
-- served.
--
--   plugins:
--     - name: ab-router
--       config:
--         header: X-Variant
--         default: stable
--         cookie: ab_variant
--         variants:
--           stable: { upstream: shop-v1 }              # an upstream of this config
--           canary: { host: 127.0.0.1, port: 9002 }   # or one host and port
--
-- Choice: the header when it names a variant, else the cookie when it names one, else
-- `default`. An unknown name is not an error: it gets the default variant.
local turnpike = turnpike

local type = type
local gmatch = string.gmatch

local AbRouter = { PRIORITY = 900, VERSION = "1.0.0" }

-- cookie_value(header, name) -> the value of cookie `name` in a Cookie header, or nil
local function cookie_value(header, name)
  if type(header) ~= "string" then return nil end
  for k, v in gmatch(header, "([^=;%s]+)=([^;]*)") do
    if k == name then return (v:gsub("^%s+", ""):gsub("%s+$", "")) end
  end
  return nil
end

-- choose(conf) -> variant name, how it was chosen ("header" | "cookie" | "default")
local function choose(conf)
  local variants = conf.variants
  local name = turnpike.request.get_header(conf.header)
  if name and variants[name] then return name, "header" end
  if conf.cookie then
    name = cookie_value(turnpike.request.get_header("Cookie"), conf.cookie)
    if name and variants[name] then return name, "cookie" end
  end
  return conf.default, "default"
end

function AbRouter:access(conf)
  local name, how = choose(conf)
  local v = conf.variants[name]
  if v.upstream then
    -- the schema cannot know the config's upstreams; a missing one is an operator error (500)
    local ok, err = turnpike.service.set_upstream(v.upstream)
    if not ok then error("ab-router: variant '" .. name .. "': " .. err) end
  else
    turnpike.service.set_target(v.host, v.port)
  end
  local mine = turnpike.ctx.plugin
  mine.variant = name
  mine.set_cookie = conf.cookie and how == "header"
  turnpike.log.debug("variant ", name, " chosen by ", how)
end

function AbRouter:header_filter(conf)
  local mine = turnpike.ctx.plugin
  if not mine.variant then return end -- another plugin answered before our access phase
  turnpike.response.set_header(conf.response_header, mine.variant)
  if mine.set_cookie then
    turnpike.response.add_header("Set-Cookie", conf.cookie .. "=" .. mine.variant ..
                                 "; Path=/; Max-Age=" .. conf.cookie_max_age .. "; HttpOnly")
  end
end

return AbRouter
