-- cors: Cross-Origin Resource Sharing as Kong's cors plugin. A preflight (OPTIONS carrying
-- Origin and Access-Control-Request-Method) is answered here with 200 and the
-- Access-Control-Allow-* headers, unless preflight_continue hands it to the service. Every
-- other response gets Access-Control-Allow-Origin (and -Credentials, -Expose-Headers) in
-- header_filter, gateway-made errors included, so a browser can read them.
--
-- Vary: Origin is added whenever the request carried an Origin header (merged into any Vary
-- the service sent): the answer depends on it, so shared caches must key on it.
local regex = require "turnpike.router.regex"

local turnpike = turnpike

local ipairs = ipairs
local tostring = tostring
local concat = table.concat
local lower = string.lower
local setmetatable = setmetatable

local ACAO = "Access-Control-Allow-Origin"
local ACAC = "Access-Control-Allow-Credentials"
local ACAH = "Access-Control-Allow-Headers"
local ACAM = "Access-Control-Allow-Methods"
local ACMA = "Access-Control-Max-Age"
local ACEH = "Access-Control-Expose-Headers"
local ACAPN = "Access-Control-Allow-Private-Network"
local ACRM = "Access-Control-Request-Method"
local ACRH = "Access-Control-Request-Headers"
local ACRPN = "Access-Control-Request-Private-Network"
local DEFAULT_PORTS = { http = "80", https = "443" }

local CorsHandler = { PRIORITY = 2000, VERSION = "1.0.0" }

-- "HTTPS://Example.com:443/" -> "https://example.com"; anything unparsable is only lowered.
local function normalize(origin)
  local o = lower(origin):gsub("/+$", "")
  local scheme, host, port = o:match("^([%a][%w+.-]*)://([^/:]+):?(%d*)$")
  if not scheme then return o end
  if port == "" or DEFAULT_PORTS[scheme] == port then return scheme .. "://" .. host end
  return scheme .. "://" .. host .. ":" .. port
end

-- conf -> { any = bool, literal = { normalized = true }, regexes = { compiled } }; bounded by
-- the configuration (weak keys: a reload drops the old entries).
local rules_cache = setmetatable({}, { __mode = "k" })

local function rules_of(conf)
  local rules = rules_cache[conf]
  if rules then return rules end
  rules = { any = not conf.origins or #conf.origins == 0, literal = {}, regexes = {} }
  for _, o in ipairs(conf.origins or {}) do
    if o == "*" then
      rules.any = true
    elseif o:find("[^%w%.:/%-]") then
      -- anchored at both ends: a regex names whole origins, never a prefix of one
      local re = regex.compile("^(?:" .. o .. ")$", { caseless = true })
      if re then rules.regexes[#rules.regexes + 1] = re end
    else
      rules.literal[normalize(o)] = true
    end
  end
  rules_cache[conf] = rules
  return rules
end

local function allowed(rules, origin)
  if rules.literal[normalize(origin)] then return true end
  for _, re in ipairs(rules.regexes) do
    if re:test(origin) then return true end
  end
  return false
end

-- In access nothing has set Vary yet (response.get_header is not allowed there); in
-- header_filter the service's Vary is kept and Origin appended to it.
local function add_vary_origin(in_filter)
  local resp = turnpike.response
  local vary = in_filter and resp.get_header("Vary") or nil
  if not vary or vary == "" then
    return resp.set_header("Vary", "Origin")
  end
  for token in vary:gmatch("[^,%s]+") do
    if token == "*" or lower(token) == "origin" then return end
  end
  resp.set_header("Vary", vary .. ", Origin")
end

-- set_origin(conf, origin) -> allow_all: sets or clears Access-Control-Allow-Origin.
local function set_origin(conf, origin, in_filter)
  local resp = turnpike.response
  if origin then add_vary_origin(in_filter) end
  local rules = rules_of(conf)
  if rules.any then
    resp.set_header(ACAO, "*")
    return true
  end
  if origin and allowed(rules, origin) then
    resp.set_header(ACAO, origin)
  else
    resp.clear_header(ACAO)
  end
  return false
end

-- Credentials cannot go with a "*" origin (Fetch standard, CORS protocol), so an allow-all
-- config echoes the caller's origin instead when credentials are on.
local function set_credentials(conf, allow_all, origin)
  if not conf.credentials then return end
  local resp = turnpike.response
  if not allow_all then
    resp.set_header(ACAC, "true")
    return
  end
  if origin then
    resp.set_header(ACAO, origin)
    resp.set_header(ACAC, "true")
  end
end

function CorsHandler:access(conf)
  local req = turnpike.request
  local origin = req.get_header("Origin")
  if req.get_method() ~= "OPTIONS" or not origin or not req.get_header(ACRM) then
    return
  end
  -- a preflight: either answered right here, or the service answers it untouched
  turnpike.ctx.plugin.preflight = true
  if conf.preflight_continue then return end

  local resp = turnpike.response
  local allow_all = set_origin(conf, origin)
  set_credentials(conf, allow_all, origin)
  if conf.headers and #conf.headers > 0 then
    resp.set_header(ACAH, concat(conf.headers, ","))
  else
    local asked = req.get_header(ACRH)
    if asked then resp.set_header(ACAH, asked) end
  end
  resp.set_header(ACAM, concat(conf.methods, ","))
  if conf.max_age then resp.set_header(ACMA, tostring(conf.max_age)) end
  if conf.private_network and req.get_header(ACRPN) == "true" then
    resp.set_header(ACAPN, "true")
  end
  return resp.exit(200)
end

function CorsHandler:header_filter(conf)
  if turnpike.ctx.plugin.preflight then return end
  local origin = turnpike.request.get_header("Origin")
  if not origin and not conf.allow_origin_absent then return end
  local allow_all = set_origin(conf, origin, true)
  set_credentials(conf, allow_all, origin)
  if conf.exposed_headers and #conf.exposed_headers > 0 then
    turnpike.response.set_header(ACEH, concat(conf.exposed_headers, ","))
  end
end

CorsHandler.normalize = normalize

return CorsHandler
