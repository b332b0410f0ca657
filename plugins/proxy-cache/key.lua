-- proxy-cache key: which stored response a request may be answered with.
--
-- The key is the first 128 bits (32 hex digits) of a SHA-256 over a canonical text of what
-- makes two requests "the same" to this plugin: the consumer, the route, the method, the path,
-- the query arguments (all of them, or only conf.vary_query_params) and the values of
-- conf.vary_headers. Every part is length-prefixed, so no choice of values can make two
-- different requests produce the same text. The text depends only on the request and on
-- conf, never on the order a client sent its arguments in, so the key is the same in every
-- worker, across reloads, and across nodes that share ids (ids are derived from the config).
local crypto = require "turnpike.ffi.crypto"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local sort = table.sort
local concat = table.concat
local lower = string.lower
local byte = string.byte
local format = string.format

local VERSION = "tp-proxy-cache-1" -- bump when the canonical text changes
local KEY_HEX_LEN = 32
local ABSENT = "\0absent"          -- a header or argument that is not there
local FLAG = "\0flag"              -- an argument with no "=" (`?debug`)

-- A value as text: strings as they are, `true` (argument without "=") as FLAG, lists joined in
-- their order (the order of repeated arguments or header lines can matter to the service).
local function value_text(v)
  if v == nil then return ABSENT end
  if v == true then return FLAG end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = value_text(x) end
    return (concat(parts, "\0,"))
  end
  return (tostring(v))
end

local function field(out, s)
  s = tostring(s)
  out[#out + 1] = #s .. ":" .. s
end

-- The query arguments that count: names lower-cased with ignore_uri_case (values never are),
-- only vary_query_params when that list is set. Returns a sorted list of { name, text }.
local function query_part(conf, query)
  local only
  if conf.vary_query_params and #conf.vary_query_params > 0 then
    only = {}
    for _, name in ipairs(conf.vary_query_params) do
      only[conf.ignore_uri_case and lower(name) or name] = true
    end
  end
  -- "A" and "a" fold into one name with ignore_uri_case: keep every value, ordered by the
  -- original spelling so the text does not depend on table order
  local merged = {}
  for name, v in pairs(query or {}) do
    name = tostring(name)
    local k = conf.ignore_uri_case and lower(name) or name
    if not only or only[k] then
      local m = merged[k] or {}
      m[#m + 1] = { name, value_text(v) }
      merged[k] = m
    end
  end
  local list = {}
  for k, m in pairs(merged) do
    sort(m, function(x, y) return x[1] < y[1] end)
    local texts = {}
    for i, e in ipairs(m) do texts[i] = e[2] end
    list[#list + 1] = { k, concat(texts, "\0,") }
  end
  sort(list, function(x, y) return x[1] < y[1] end)
  return list
end

-- vary_headers as a sorted list of distinct lower-case names.
local function header_names(conf)
  local seen, names = {}, {}
  for _, name in ipairs(conf.vary_headers or {}) do
    local k = lower(name)
    if not seen[k] then
      seen[k] = true
      names[#names + 1] = k
    end
  end
  sort(names)
  return names
end

local HEX = {} -- byte -> two lower-case hex digits
for b = 0, 255 do HEX[b] = format("%02x", b) end

local function hex(s)
  local out = {}
  for i = 1, #s do out[i] = HEX[byte(s, i)] end
  return (concat(out))
end

local _M = { KEY_HEX_LEN = KEY_HEX_LEN }

-- values_text(values, n) -> one text for the n values (nil for an absent one), distinct for
-- distinct value lists (header values never hold NUL): what the handler's key memo uses.
function _M.values_text(values, n)
  local parts = {}
  for i = 1, n do parts[i] = value_text(values[i]) end
  return (concat(parts, "\0;"))
end

-- canonical(conf, req) -> the text the key digests. req: { consumer_id, route_id, method,
-- path, query = { name = "v" | true | {...} }, headers = { lower_name = "v" | {...} } }.
-- `headers` is read only for the vary_headers names (any-case tables work as well).
function _M.canonical(conf, req)
  local out = {}
  field(out, VERSION)
  field(out, req.consumer_id or "")
  field(out, req.route_id or "")
  field(out, req.method or "GET")
  local path = req.path or "/"
  field(out, conf.ignore_uri_case and lower(path) or path)
  local args = query_part(conf, req.query)
  field(out, #args)
  for _, a in ipairs(args) do
    field(out, a[1])
    field(out, a[2])
  end
  local names = header_names(conf)
  local headers = req.headers or {}
  field(out, #names)
  for _, name in ipairs(names) do
    field(out, name)
    field(out, value_text(headers[name]))
  end
  return (concat(out, "\n"))
end

-- build(conf, req) -> 32 lower-case hex digits
function _M.build(conf, req)
  return hex(crypto.sha256(_M.canonical(conf, req))):sub(1, KEY_HEX_LEN)
end

-- vary_covers(conf, name) -> whether the key varies on request header `name`.
function _M.vary_covers(conf, name)
  name = lower(name)
  for _, h in ipairs(conf.vary_headers or {}) do
    if lower(h) == name then return true end
  end
  return false
end

return _M
