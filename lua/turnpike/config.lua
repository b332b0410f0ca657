-- turnpike.config: Kong 3.x declarative config (YAML or JSON) -> validated, normalized entities
-- plus the node settings of the top-level `turnpike:` key. See "Config result" in docs/DESIGN.md.
--
--   config.load_file(path, opts)                -> cfg | nil, "FILE:LINE: what is wrong"
--   config.load_string(text, source_name, opts) -> the same, from text (POST /config)
--   config.load_node_file(path, opts)           -> cfg.node only (for reload/stop)
-- opts.env: table of TURNPIKE_<NAME> overrides (default: os.getenv of each node setting);
-- opts.load_plugin(name) -> plugin | nil, err (default: plugins.load with node.plugins_path);
-- opts.cwd: the folder relative prefixes are resolved against (default: the process cwd).
-- Entities are checked with Kong-shaped schemas (turnpike.entities, validated by turnpike.schema),
-- so entity and plugin errors
-- read the same. Errors are raised internally as { config_error = msg } and returned as nil, msg.
local cjson = require "cjson"
local bit = require "bit"
local ffi = require "ffi"
local yaml = require "turnpike.yaml"
local schema = require "turnpike.schema"
local plugins = require "turnpike.plugins"
local typedefs = require "turnpike.typedefs"
local entities = require "turnpike.entities"
local tls = require "turnpike.tls"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local error = error
local concat = table.concat
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rol, tobit, tohex = bit.rol, bit.tobit, bit.tohex

local null = cjson.null

pcall(ffi.cdef, "char *getcwd(char *buf, size_t size);")

local FORMAT_VERSIONS, TOP_LEVEL = entities.FORMAT_VERSIONS, entities.TOP_LEVEL
local CREDENTIALS, TLS_PROTOCOLS = entities.CREDENTIALS, entities.TLS_PROTOCOLS
local SCHEMAS = entities.SCHEMAS

local function sha1_hex(msg)
  local h0, h1, h2, h3, h4 = 0x67452301, tobit(0xEFCDAB89), tobit(0x98BADCFE), 0x10325476,
    tobit(0xC3D2E1F0)
  local ml = #msg * 8
  msg = msg .. "\128" .. string.rep("\0", (55 - #msg) % 64)
    .. "\0\0\0\0" .. string.char(band(bit.rshift(ml, 24), 255), band(bit.rshift(ml, 16), 255),
      band(bit.rshift(ml, 8), 255), band(ml, 255))
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do
      local a, b, c, d = msg:byte(chunk + i * 4, chunk + i * 4 + 3)
      w[i] = bor(bit.lshift(a, 24), bit.lshift(b, 16), bit.lshift(c, 8), d)
    end
    for i = 16, 79 do w[i] = rol(bxor(w[i - 3], w[i - 8], w[i - 14], w[i - 16]), 1) end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then f, k = bor(band(b, c), band(bnot(b), d)), 0x5A827999
      elseif i < 40 then f, k = bxor(b, c, d), 0x6ED9EBA1
      elseif i < 60 then f, k = bor(band(b, c), band(b, d), band(c, d)), tobit(0x8F1BBCDC)
      else f, k = bxor(b, c, d), tobit(0xCA62C1D6) end
      local t = tobit(rol(a, 5) + f + e + k + w[i])
      a, b, c, d, e = t, a, rol(b, 30), c, d
    end
    h0, h1, h2 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c)
    h3, h4 = tobit(h3 + d), tobit(h4 + e)
  end
  return tohex(h0, 8) .. tohex(h1, 8) .. tohex(h2, 8) .. tohex(h3, 8) .. tohex(h4, 8)
end

local function derive_id(kind, key)
  local h = sha1_hex("turnpike:" .. kind .. ":" .. key)
  local v = band(tonumber(h:sub(17, 17), 16), 3) + 1
  local variant = ("89ab"):sub(v, v)
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-5" .. h:sub(14, 16) .. "-" .. variant
    .. h:sub(18, 20) .. "-" .. h:sub(21, 32)
end

--------------------------------------------------------------------------------------------------
-- Error reporting with FILE:LINE
--------------------------------------------------------------------------------------------------

local function fail(msg)
  error({ config_error = msg }, 0)
end

-- The line of key `key` of table t (or of t itself) as recorded by the YAML loader.
local function line_of(ctx, t, key)
  local meta = ctx.meta
  if not meta or type(t) ~= "table" then return nil end
  local keys = meta.keys[t]
  if key ~= nil and keys and keys[key] then return keys[key] end
  return meta.start[t]
end

-- The deepest known line following `keys` down from t.
local function line_at(ctx, t, keys)
  local line = line_of(ctx, t)
  for _, k in ipairs(keys or {}) do
    if type(t) ~= "table" or not ctx.meta then break end
    local kl = ctx.meta.keys[t]
    line = kl and kl[k] or line
    t = t[k]
  end
  return line
end

local function where(ctx, line)
  if line then return ctx.source .. ":" .. line end
  return ctx.source
end

local function fail_at(ctx, t, keys, what, msg)
  fail(where(ctx, line_at(ctx, t, keys)) .. ": " .. what .. ": " .. msg)
end

--------------------------------------------------------------------------------------------------
-- Helpers
--------------------------------------------------------------------------------------------------

local function getcwd()
  local buf = ffi.new("char[?]", 4096)
  if ffi.C.getcwd(buf, 4096) == nil then return os.getenv("PWD") or "." end
  return (ffi.string(buf))
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

-- path made absolute against base, with "." and ".." segments folded.
local function absolute(path, base)
  if path:sub(1, 1) ~= "/" then path = base .. "/" .. path end
  local parts = {}
  for seg in path:gmatch("[^/]+") do
    if seg == ".." then parts[#parts] = nil
    elseif seg ~= "." then parts[#parts + 1] = seg end
  end
  return "/" .. concat(parts, "/")
end

local function is_list(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  return n == #v
end

-- A copy of entity t without the keys in `drop` (nested collections handled separately).
local function without(t, drop)
  local out = {}
  for k, v in pairs(t) do
    if not drop[k] then out[k] = v end
  end
  return out
end

local function nonnull(v)
  if v == null then return nil end
  return v
end

-- Validates entity table t (or `input`, a normalized copy of it) with the schema of `kind`;
-- `what` names it in errors, lines come from t.
local function check_entity(ctx, kind, t, what, drop, input)
  if type(t) ~= "table" or (is_list(t) and next(t) ~= nil) then
    fail(where(ctx, line_of(ctx, t)) .. ": " .. what .. ": expected a record")
  end
  input = input or (drop and without(t, drop)) or t
  local out, _, errs = schema.validate_value(SCHEMAS[kind], input)
  if not out then
    local e = errs[1]
    fail_at(ctx, t, e.keys, what, (e.path ~= "" and (e.path .. ": ") or "") .. e.message)
  end
  return out
end

-- The list under key `key` of t (may be absent), checked to be a list.
local function list_of(ctx, t, key, what)
  local v = nonnull(t[key])
  if v == nil then return {} end
  if not is_list(v) then
    fail(where(ctx, line_of(ctx, t, key)) .. ": " .. what .. key .. ": expected an array")
  end
  return v
end

-- Registers entity e of kind in the indexes; errors on duplicate ids or names.
local function register(ctx, kind, e, t, what, name_field)
  local idx = ctx.index[kind]
  local v = name_field and e[name_field]
  if v and idx.by_name[v] then
    fail_at(ctx, t, { name_field }, what, "duplicate " .. name_field .. " '" .. tostring(v)
      .. "' (also used by " .. idx.by_name[v]._path .. ")")
  end
  if idx.by_id[e.id] then
    fail_at(ctx, t, { "id" }, what, "duplicate id '" .. e.id .. "' (also used by "
      .. idx.by_id[e.id]._path .. ")")
  end
  if v then idx.by_name[v] = e end
  idx.by_id[e.id] = e
  rawset(e, "_path", what)
  ctx.cfg[kind][#ctx.cfg[kind] + 1] = e
end

-- Resolves a reference (name-or-id string, or {id=..}/{name=..}/{username=..}) to an entity.
local function resolve(ctx, kind, ref, t, key, what)
  ref = nonnull(ref)
  if ref == nil then return nil end
  local idx = ctx.index[kind]
  local e
  if type(ref) == "string" then
    e = idx.by_id[ref] or idx.by_name[ref] or (idx.by_custom_id and idx.by_custom_id[ref])
  elseif type(ref) == "table" then
    e = (ref.id and idx.by_id[ref.id]) or (ref.name and idx.by_name[ref.name])
      or (ref.username and idx.by_name[ref.username])
    ref = ref.id or ref.name or ref.username or "?"
  end
  if not e then
    fail_at(ctx, t, { key }, what, key .. ": unknown " .. kind:gsub("s$", "") .. " '"
      .. tostring(ref) .. "'")
  end
  return e
end

--------------------------------------------------------------------------------------------------
-- Node settings
--------------------------------------------------------------------------------------------------

local SIZE_UNITS = { [""] = 1, k = 1024, m = 1024 * 1024, g = 1024 * 1024 * 1024 }

local function parse_size(v)
  if type(v) == "number" and v >= 0 and math.floor(v) == v then return v end
  if type(v) ~= "string" then return nil, "expected a size (a number with k, m or g)" end
  local n, unit = v:lower():match("^%s*(%d+)%s*([kmg]?)b?%s*$")
  if not n then return nil, "expected a size (a number with k, m or g)" end
  return tonumber(n) * SIZE_UNITS[unit]
end

local function parse_listen(v, allow_ssl)
  if type(v) ~= "string" then return nil, "expected \"host:port\"" end
  local addr, flags = v:match("^%s*(%S+)%s*(.-)%s*$")
  local host, port = (addr or ""):match("^%[?([^%]]*)%]?:(%d+)$")
  if not host or tonumber(port) > 65535 then return nil, "invalid listen address '" .. v .. "'" end
  local ssl = false
  for flag in flags:gmatch("%S+") do
    if flag == "ssl" and allow_ssl then ssl = true
    else return nil, "unknown listen flag '" .. flag .. "'" end
  end
  if host == "" or host == "*" then host = "0.0.0.0" end
  return { host = host, port = tonumber(port), ssl = ssl }
end

-- From an env string: a JSON array, or comma-separated values.
local function env_list(s)
  if s:match("^%s*%[") then
    local ok, v = pcall(cjson.decode, s)
    if ok then return v end
    return nil
  end
  local out = {}
  for item in s:gmatch("[^,]+") do out[#out + 1] = item:match("^%s*(.-)%s*$") end
  return out
end

local function parse_int(v, min)
  if type(v) == "string" then v = tonumber(v) end
  if type(v) ~= "number" or math.floor(v) ~= v or v < (min or 0) then
    return nil, "expected an integer" .. (min and min > 0 and (" >= " .. min) or "")
  end
  return v
end

local function parse_string_or_off(v)
  if v == false then return "off" end
  if type(v) ~= "string" or v == "" then return nil, "expected a string" end
  return v
end

local LOG_LEVELS = { debug = true, info = true, notice = true, warn = true, error = true,
  crit = true, alert = true, emerg = true }

-- name -> { default, parse(value, from_env, ctx) -> value | nil, err }
local NODE = {
  proxy_listen = { { "0.0.0.0:8000" }, function(v, env)
    if env and type(v) == "string" then v = env_list(v) end
    if type(v) == "string" then v = { v } end
    if not is_list(v) or #v == 0 then return nil, "expected a list of \"host:port [ssl]\"" end
    local out = {}
    for i, s in ipairs(v) do
      local l, err = parse_listen(s, true)
      if not l then return nil, err end
      out[i] = l
    end
    return out
  end },
  admin_listen = { "127.0.0.1:8001", function(v)
    if v == false or v == "off" then return false end
    local l, err = parse_listen(v, false)
    if not l then return nil, err end
    return { host = l.host, port = l.port }
  end },
  workers = { "auto", function(v)
    if v == "auto" then return 0 end
    return parse_int(v, 1)
  end },
  prefix = { "./run", function(v, _, ctx)
    if type(v) ~= "string" or v == "" then return nil, "expected a path" end
    return absolute(v, ctx.cwd)
  end },
  access_log = { "stdout", parse_string_or_off },
  error_log = { "stderr", parse_string_or_off },
  log_level = { "notice", function(v)
    if not LOG_LEVELS[v] then return nil, "expected one of: debug, info, notice, warn, error, crit" end
    return v
  end },
  plugins_path = { {}, function(v, env, ctx)
    if env and type(v) == "string" then v = env_list(v) end
    if type(v) == "string" then v = { v } end
    if not is_list(v) then return nil, "expected a list of folders" end
    local out = {}
    for i, d in ipairs(v) do
      if type(d) ~= "string" or d == "" then return nil, "expected a list of folders" end
      out[i] = absolute(d, ctx.base_dir)
    end
    return out
  end },
  redis = { {}, function(v, env)
    if env and type(v) == "string" then
      local ok, dec = pcall(cjson.decode, v)
      v = ok and dec or nil
    end
    if type(v) ~= "table" or (is_list(v) and next(v)) then return nil, "expected a record" end
    local out = { host = "127.0.0.1", port = 6379, database = 0, timeout_ms = 200 }
    for k, x in pairs(v) do
      x = nonnull(x)
      if k == "host" or k == "password" then
        if x ~= nil and type(x) ~= "string" then return nil, k .. ": expected a string" end
      elseif k == "port" or k == "database" or k == "timeout_ms" then
        local n, err = parse_int(x)
        if x ~= nil and not n then return nil, k .. ": " .. err end
        x = n
      else
        return nil, k .. ": unknown field"
      end
      if x ~= nil then out[k] = x end
    end
    return out
  end },
  client_header_timeout_ms = { 10000, parse_int },
  client_body_timeout_ms = { 60000, parse_int },
  send_timeout_ms = { 60000, parse_int },
  client_max_body_size = { "8m", parse_size },
  client_max_header_size = { "32k", parse_size },
  upstream_keepalive = { 64, parse_int },
  shm_size = { "64m", parse_size },
  cache_size = { "32m", parse_size },
  admin_token = { nil, function(v)
    if type(v) ~= "string" or v == "" then return nil, "expected a string" end
    return v
  end },
  drain_timeout_ms = { 30000, parse_int },
  keepalive_timeout_ms = { 60000, parse_int },
}
local REDIS_FIELDS = { "host", "port", "password", "database", "timeout_ms" }

local function getenv(ctx, name)
  if ctx.env then return ctx.env[name] end
  return os.getenv(name)
end

local function load_node(ctx, doc)
  local t = nonnull(doc.turnpike)
  if t == nil then t = {} end
  if type(t) ~= "table" or (is_list(t) and next(t)) then
    fail(where(ctx, line_of(ctx, doc, "turnpike")) .. ": turnpike: expected a record")
  end
  for k in pairs(t) do
    if not NODE[k] then
      fail(where(ctx, line_of(ctx, t, k)) .. ": turnpike." .. tostring(k) .. ": unknown setting")
    end
  end
  local node = {}
  for name, spec in pairs(NODE) do
    local v, from_env = nonnull(t[name]), false
    local ev = getenv(ctx, "TURNPIKE_" .. name:upper())
    if ev ~= nil then v, from_env = ev, true end
    if name == "redis" then
      v = v or {}
      for _, f in ipairs(REDIS_FIELDS) do
        local fv = getenv(ctx, "TURNPIKE_REDIS_" .. f:upper())
        if fv ~= nil and type(v) == "table" then
          v = without(v, {})
          v[f] = (f == "host" or f == "password") and fv or (tonumber(fv) or fv)
        end
      end
    end
    if v == nil then v = spec[1] end
    if v ~= nil then
      local out, err = spec[2](v, from_env, ctx)
      if out == nil then
        if from_env then
          fail(ctx.source .. ": environment TURNPIKE_" .. name:upper() .. ": " .. err)
        end
        fail(where(ctx, line_of(ctx, t, name)) .. ": turnpike." .. name .. ": " .. err)
      end
      node[name] = out
    end
  end
  return node
end

--------------------------------------------------------------------------------------------------
-- Entities
--------------------------------------------------------------------------------------------------

local function split_url(ctx, t, what, s)
  local proto, rest = tostring(s):match("^(%a[%w+.-]*)://(.+)$")
  if not proto then fail_at(ctx, t, { "url" }, what, "url: invalid url '" .. tostring(s) .. "'") end
  local authority, path = rest:match("^([^/?#]+)(.*)$")
  if not authority then fail_at(ctx, t, { "url" }, what, "url: missing host in url") end
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([^:]+):?(%d*)$") end
  if not host then fail_at(ctx, t, { "url" }, what, "url: invalid host in url") end
  path = path:gsub("[?#].*$", "")
  return proto:lower(), host, tonumber(port), path ~= "" and path or nil
end

local function add_plugins(ctx, t, what, parent)
  for i, p in ipairs(list_of(ctx, t, "plugins", what .. ".")) do
    ctx.plugin_entries[#ctx.plugin_entries + 1] = {
      t = p, what = what .. ".plugins[" .. i .. "]", service = parent.service,
      route = parent.route, consumer = parent.consumer, nested = parent.nested,
    }
  end
end

local function check_route_matchers(ctx, r, t, what)
  local http = false
  for _, p in ipairs(r.protocols) do
    if p == "http" or p == "https" or p == "grpc" or p == "grpcs" or p == "ws" or p == "wss" then
      http = true
    end
  end
  local fields = http and { "methods", "hosts", "headers", "paths", "snis" }
    or { "sources", "destinations", "snis" }
  for _, f in ipairs(fields) do
    if r[f] and next(r[f]) then return end
  end
  local q = {}
  for i, f in ipairs(fields) do q[i] = "'" .. f .. "'" end
  fail_at(ctx, t, {}, what, "must set one of " .. concat(q, ", ") .. " when 'protocols' is '"
    .. concat(r.protocols, "', '") .. "'")
end

local function load_route(ctx, t, what, service, key)
  local input
  if type(t) == "table" and type(t.headers) == "table" then
    -- a single header value is accepted as a one-element list
    input = without(t, { plugins = true })
    input.headers = {}
    for k, v in pairs(t.headers) do input.headers[k] = type(v) == "string" and { v } or v end
  end
  local r = check_entity(ctx, "routes", t, what, { plugins = true }, input)
  if service then
    if r.service ~= nil then fail_at(ctx, t, { "service" }, what, "service: cannot be set on a nested route") end
    r.service = service
  else
    r.service = resolve(ctx, "services", r.service, t, "service", what)
  end
  if r.methods then
    for i, m in ipairs(r.methods) do r.methods[i] = m:upper() end
  end
  check_route_matchers(ctx, r, t, what)
  r.id = r.id or derive_id("routes", r.name and ("name:" .. r.name) or key)
  register(ctx, "routes", r, t, what, "name")
  add_plugins(ctx, t, what, { route = r, nested = "route" })
  return r
end

local function load_service(ctx, t, i)
  local what = "services[" .. i .. "]"
  local url = type(t) == "table" and nonnull(t.url)
  local s
  if url then
    local proto, host, port, path = split_url(ctx, t, what, url)
    for _, f in ipairs({ "protocol", "host", "port", "path" }) do
      if nonnull(t[f]) ~= nil then fail_at(ctx, t, { f }, what, f .. ": cannot be set together with url") end
    end
    local copy = without(t, { routes = true, plugins = true, url = true })
    copy.protocol, copy.host, copy.port, copy.path = proto, host, port, path
    s = check_entity(ctx, "services", t, what, nil, copy)
  else
    s = check_entity(ctx, "services", t, what, { routes = true, plugins = true })
  end
  s.port = s.port or (TLS_PROTOCOLS[s.protocol] and 443 or 80)
  if s.ca_certificates and #s.ca_certificates > 0 then
    ctx.ca_refs[#ctx.ca_refs + 1] = { t = t, what = what, ids = s.ca_certificates }
  end
  s.id = s.id or derive_id("services", s.name and ("name:" .. s.name) or ("#" .. i))
  register(ctx, "services", s, t, what, "name")
  for j, rt in ipairs(list_of(ctx, t, "routes", what .. ".")) do
    load_route(ctx, rt, what .. ".routes[" .. j .. "]", s, s.id .. "#" .. j)
  end
  add_plugins(ctx, t, what, { service = s, nested = "service" })
end

local function load_credential(ctx, kind, t, what, consumer)
  local c = check_entity(ctx, kind, t, what)
  if consumer then
    if c.consumer ~= nil then fail_at(ctx, t, { "consumer" }, what, "consumer: cannot be set on a nested credential") end
  else
    if c.consumer == nil then fail_at(ctx, t, {}, what, "consumer: required field missing") end
    consumer = resolve(ctx, "consumers", c.consumer, t, "consumer", what)
  end
  local key = kind == "acls" and (consumer.id .. ":" .. c.group)
    or kind == "basicauth_credentials" and c.username or c.key
  if ctx.cred_keys[kind][key] then
    fail_at(ctx, t, {}, what, "duplicate credential (also " .. ctx.cred_keys[kind][key] .. ")")
  end
  ctx.cred_keys[kind][key] = what
  c.id = c.id or derive_id(kind, key)
  c.consumer = { id = consumer.id }
  local list = consumer[kind]
  list[#list + 1] = c
end

local function load_consumer(ctx, t, i)
  local what = "consumers[" .. i .. "]"
  local drop = { plugins = true }
  for _, k in ipairs(CREDENTIALS) do drop[k] = true end
  local c = check_entity(ctx, "consumers", t, what, drop)
  c.id = c.id or derive_id("consumers", c.username and ("u:" .. c.username) or ("c:" .. c.custom_id))
  local idx = ctx.index.consumers
  if c.custom_id then
    if idx.by_custom_id[c.custom_id] then
      fail_at(ctx, t, { "custom_id" }, what, "duplicate custom_id '" .. c.custom_id .. "'")
    end
    idx.by_custom_id[c.custom_id] = c
  end
  register(ctx, "consumers", c, t, what, "username")
  for _, kind in ipairs(CREDENTIALS) do
    c[kind] = {}
    for j, ct in ipairs(list_of(ctx, t, kind, what .. ".")) do
      load_credential(ctx, kind, ct, what .. "." .. kind .. "[" .. j .. "]", c)
    end
  end
  add_plugins(ctx, t, what, { consumer = c, nested = "consumer" })
end

local function load_upstream(ctx, t, i)
  local what = "upstreams[" .. i .. "]"
  local u = check_entity(ctx, "upstreams", t, what, { targets = true })
  u.id = u.id or derive_id("upstreams", u.name)
  register(ctx, "upstreams", u, t, what, "name")
  u.targets = {}
  local seen = {}
  for j, tt in ipairs(list_of(ctx, t, "targets", what .. ".")) do
    local twhat = what .. ".targets[" .. j .. "]"
    local tg = check_entity(ctx, "targets", tt, twhat)
    local host, port = tg.target:match("^%[([^%]]+)%]:?(%d*)$")
    if not host then host, port = tg.target:match("^([^:]+):?(%d*)$") end
    if not host or (port ~= "" and tonumber(port) > 65535) then
      fail_at(ctx, tt, { "target" }, twhat, "target: invalid target '" .. tg.target .. "'")
    end
    tg.host, tg.port = host, tonumber(port) or 8000
    local key = tg.host .. ":" .. tg.port
    if seen[key] then fail_at(ctx, tt, { "target" }, twhat, "target: duplicate target '" .. key .. "'") end
    seen[key] = true
    tg.id = tg.id or derive_id("targets", u.id .. ":" .. key)
    u.targets[#u.targets + 1] = tg
  end
end

-- The PEM texts decode and each key belongs to its certificate (checked in C, as served).
local function check_pem(ctx, t, what, c)
  local cert_alt, key_alt = nonnull(c.cert_alt), nonnull(c.key_alt)
  if (cert_alt == nil) ~= (key_alt == nil) then
    fail_at(ctx, t, { cert_alt and "cert_alt" or "key_alt" }, what,
      "cert_alt and key_alt must be given together")
  end
  local ok, err = tls.check_pair(c.cert, c.key)
  if not ok then fail_at(ctx, t, { err:match("^key") and "key" or "cert" }, what, err) end
  if cert_alt then
    ok, err = tls.check_pair(cert_alt, key_alt)
    if not ok then
      local field = err:match("^key") and "key_alt" or "cert_alt"
      fail_at(ctx, t, { field }, what, field .. err:gsub("^%a+", ""))
    end
  end
end

-- An SNI name serves one certificate only (as Kong's unique snis.name).
local function claim_sni(ctx, seen, t, keys, what, name)
  local lname = name:lower()
  if seen[lname] then
    fail_at(ctx, t, keys, what, "sni '" .. name .. "' is already used by " .. seen[lname])
  end
  seen[lname] = what
end

local function load_certificates(ctx, doc)
  local by_id, seen = {}, {}
  for i, t in ipairs(list_of(ctx, doc, "certificates", "")) do
    local what = "certificates[" .. i .. "]"
    local c = check_entity(ctx, "certificates", t, what, { snis = true })
    check_pem(ctx, t, what, c)
    c.id = c.id or derive_id("certificates", sha1_hex(c.cert))
    if by_id[c.id] then fail_at(ctx, t, {}, what, "duplicate id '" .. c.id .. "'") end
    by_id[c.id] = c
    c.snis = {}
    for j, sn in ipairs(list_of(ctx, t, "snis", what .. ".")) do
      local name = type(sn) == "table" and sn.name or sn
      local v, err = schema.validate_value(typedefs.sni { required = true }, name)
      if not v then fail_at(ctx, t, { "snis", j }, what, "snis[" .. j .. "]: " .. err) end
      claim_sni(ctx, seen, t, { "snis", j }, what, v)
      c.snis[#c.snis + 1] = v
    end
    ctx.cfg.certificates[#ctx.cfg.certificates + 1] = c
  end
  for i, t in ipairs(list_of(ctx, doc, "snis", "")) do
    local what = "snis[" .. i .. "]"
    local s = check_entity(ctx, "snis", t, what)
    local ref = type(s.certificate) == "table" and s.certificate.id or s.certificate
    local c = by_id[ref]
    if not c then fail_at(ctx, t, { "certificate" }, what, "certificate: unknown certificate '" .. tostring(ref) .. "'") end
    claim_sni(ctx, seen, t, { "name" }, what, s.name)
    c.snis[#c.snis + 1] = s.name
  end
  -- an ssl listener without a certificate would have nothing to serve
  for _, l in ipairs(ctx.cfg.node.proxy_listen or {}) do
    if l.ssl and #ctx.cfg.certificates == 0 then
      local node = nonnull(doc.turnpike)
      fail(where(ctx, line_of(ctx, node, "proxy_listen")) .. ": proxy_listen: '" .. l.host .. ":"
        .. l.port .. " ssl' needs at least one entry in certificates")
    end
  end
  local ca_ids = {}
  for i, t in ipairs(list_of(ctx, doc, "ca_certificates", "")) do
    local what = "ca_certificates[" .. i .. "]"
    local c = check_entity(ctx, "ca_certificates", t, what)
    local ok, err = tls.check_ca(c.cert)
    if not ok then fail_at(ctx, t, { "cert" }, what, "cert: " .. err) end
    c.id = c.id or derive_id("ca_certificates", sha1_hex(c.cert))
    ca_ids[c.id] = true
    ctx.cfg.ca_certificates[#ctx.cfg.ca_certificates + 1] = c
  end
  -- a service's ca_certificates name CA certificates of this config (as Kong's foreign keys)
  for _, ref in ipairs(ctx.ca_refs) do
    for j, id in ipairs(ref.ids) do
      if not ca_ids[id] then
        fail_at(ctx, ref.t, { "ca_certificates", j }, ref.what, "ca_certificates[" .. j
          .. "]: unknown CA certificate '" .. tostring(id) .. "'")
      end
    end
  end
end

--------------------------------------------------------------------------------------------------
-- Plugins
--------------------------------------------------------------------------------------------------

local function load_plugin_entry(ctx, pe)
  local t, what = pe.t, pe.what
  local name = type(t) == "table" and nonnull(t.name)
  if type(name) ~= "string" then
    if type(t) ~= "table" then fail(where(ctx, line_of(ctx, t)) .. ": " .. what .. ": expected a record") end
    fail_at(ctx, t, { "name" }, what, "name: " .. (name == nil and "required field missing" or "expected a string"))
  end
  local plugin, lerr = ctx.load_plugin(name)
  if not plugin then
    fail(where(ctx, line_of(ctx, t)) .. ": " .. what .. ": " .. (lerr or ("plugin '" .. name .. "' not found")))
  end
  local pwhat = what .. " (" .. name .. ")"
  local p = check_entity(ctx, "plugins", t, pwhat)
  for _, f in ipairs({ "service", "route", "consumer" }) do
    if p[f] ~= nil then
      if pe.nested == f then
        fail_at(ctx, t, { f }, pwhat, f .. ": cannot be set on a plugin nested under a " .. f)
      end
      pe[f] = resolve(ctx, f .. "s", p[f], t, f, pwhat)
    end
    local fdef = schema.field(plugin.schema, f)
    if pe[f] and fdef and fdef.eq == null then
      fail_at(ctx, t, { f }, pwhat, f .. ": value must be null (the plugin cannot be applied to a " .. f .. ")")
    end
  end
  local conf = nonnull(t.config)
  if conf == nil then conf = {} end
  local vconf, _, errs = schema.validate(plugin.schema, conf)
  if not vconf then
    local e = errs[1]
    fail_at(ctx, t, e.keys, pwhat, (e.path ~= "" and (e.path .. ": ") or "") .. e.message)
  end
  local proto_def = schema.field(plugin.schema, "protocols")
  if proto_def then
    local prot, perr = schema.validate_value(proto_def, p.protocols, "protocols")
    if not prot then fail_at(ctx, t, { "protocols" }, pwhat, perr) end
    p.protocols = prot
  end
  p.protocols = p.protocols or { "grpc", "grpcs", "http", "https" }
  p.config = vconf
  p.service, p.route, p.consumer = pe.service, pe.route, pe.consumer
  local key = concat({ name, p.instance_name or "", p.service and p.service.id or "",
    p.route and p.route.id or "", p.consumer and p.consumer.id or "" }, ":")
  if ctx.plugin_keys[key] then
    fail(where(ctx, line_of(ctx, t)) .. ": " .. pwhat .. ": plugin '" .. name
      .. "' is already configured for the same service, route and consumer (" .. ctx.plugin_keys[key] .. ")")
  end
  ctx.plugin_keys[key] = what
  p.id = p.id or derive_id("plugins", key)
  register(ctx, "plugins", p, t, pwhat)
end

--------------------------------------------------------------------------------------------------
-- Top level
--------------------------------------------------------------------------------------------------

local function parse(ctx, text)
  if text:match("^%s*{") then
    local ok, doc = pcall(cjson.decode, text)
    if not ok then fail(ctx.source .. ": invalid JSON: " .. tostring(doc)) end
    return doc
  end
  local doc, meta, line = yaml.load(text)
  if doc == nil and type(meta) == "string" then fail(where(ctx, line) .. ": " .. meta) end
  ctx.meta = meta
  return doc
end

local function new_ctx(source, opts)
  opts = opts or {}
  local ctx = { source = source, env = opts.env, cwd = opts.cwd or getcwd() }
  local dir = opts.base_dir or (source:find("/") and dirname(source)) or "."
  ctx.base_dir = absolute(dir, ctx.cwd)
  return ctx, opts
end

local function check_top(ctx, doc)
  if type(doc) ~= "table" or (is_list(doc) and next(doc)) then
    fail(ctx.source .. ": expected a declarative configuration (a mapping with _format_version)")
  end
  for k in pairs(doc) do
    if not TOP_LEVEL[k] then fail(where(ctx, line_of(ctx, doc, k)) .. ": " .. tostring(k) .. ": unknown field") end
  end
  local fv = nonnull(doc._format_version)
  local version = fv == nil and "3.0" or FORMAT_VERSIONS[tostring(fv)]
  if not version then
    fail(where(ctx, line_of(ctx, doc, "_format_version")) .. ": _format_version: expected one of: 3.0, 2.1, 1.1")
  end
  local tr = nonnull(doc._transform)
  if tr ~= nil and type(tr) ~= "boolean" then
    fail(where(ctx, line_of(ctx, doc, "_transform")) .. ": _transform: expected a boolean")
  end
  return version, tr
end

local function build(ctx, opts, text)
  local doc = parse(ctx, text)
  local version, transform = check_top(ctx, doc)
  local cfg = { format_version = version, _transform = transform, source = ctx.source,
    hash = sha1_hex(text), services = {}, routes = {}, upstreams = {}, consumers = {},
    plugins = {}, certificates = {}, ca_certificates = {} }
  ctx.cfg = cfg
  cfg.node = load_node(ctx, doc)
  ctx.load_plugin = opts.load_plugin or function(name)
    return plugins.load(name, cfg.node.plugins_path)
  end
  ctx.index = {}
  for _, k in ipairs({ "services", "routes", "upstreams", "consumers", "plugins" }) do
    ctx.index[k] = { by_id = {}, by_name = {} }
  end
  ctx.index.consumers.by_custom_id = {}
  ctx.cred_keys, ctx.plugin_keys, ctx.plugin_entries = {}, {}, {}
  ctx.ca_refs = {}
  for _, k in ipairs(CREDENTIALS) do ctx.cred_keys[k] = {} end

  for i, t in ipairs(list_of(ctx, doc, "services", "")) do load_service(ctx, t, i) end
  for i, t in ipairs(list_of(ctx, doc, "routes", "")) do
    load_route(ctx, t, "routes[" .. i .. "]", nil, "#" .. i)
  end
  for i, t in ipairs(list_of(ctx, doc, "consumers", "")) do load_consumer(ctx, t, i) end
  for _, kind in ipairs(CREDENTIALS) do
    for i, t in ipairs(list_of(ctx, doc, kind, "")) do
      load_credential(ctx, kind, t, kind .. "[" .. i .. "]", nil)
    end
  end
  for i, t in ipairs(list_of(ctx, doc, "upstreams", "")) do load_upstream(ctx, t, i) end
  load_certificates(ctx, doc)
  for i, t in ipairs(list_of(ctx, doc, "plugins", "")) do
    ctx.plugin_entries[#ctx.plugin_entries + 1] = { t = t, what = "plugins[" .. i .. "]" }
  end
  for _, pe in ipairs(ctx.plugin_entries) do load_plugin_entry(ctx, pe) end
  for _, kind in ipairs({ "services", "routes", "upstreams", "consumers", "plugins" }) do
    for _, e in ipairs(cfg[kind]) do rawset(e, "_path", nil) end
  end
  return cfg
end

local function protect(fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  if type(res) == "table" and res.config_error then return nil, res.config_error end
  error(res, 0)
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  return text
end

local _M = { derive_id = derive_id, sha1_hex = sha1_hex }

--- Loads and validates declarative config text; source_name names it in errors.
function _M.load_string(text, source_name, opts)
  if type(text) ~= "string" then error("config.load_string: text must be a string", 2) end
  local ctx
  ctx, opts = new_ctx(source_name or "config", opts)
  return protect(build, ctx, opts, text)
end

--- Loads and validates the declarative config file at path.
function _M.load_file(path, opts)
  local text, err = read_file(path)
  if not text then return nil, err end
  return _M.load_string(text, path, opts)
end

--- Reads only the node settings (the `turnpike:` key plus environment) of a config file.
function _M.load_node_file(path, opts)
  local text, err = read_file(path)
  if not text then return nil, err end
  local ctx
  ctx, opts = new_ctx(path, opts)
  return protect(function()
    local doc = parse(ctx, text)
    check_top(ctx, doc)
    return load_node(ctx, doc)
  end)
end

return _M
