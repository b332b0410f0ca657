-- proxy-cache rules: what may be answered from the cache and what may be stored (RFC 9111),
-- as pure functions of the config and of header values, so they are tested without a gateway.
--
-- The plugin is a shared cache (RFC 9111 section 1): `private` responses are never stored, and
-- s-maxage wins over max-age. With conf.cache_control = false (Kong's default) request
-- directives are ignored and every storable response lives conf.cache_ttl seconds; responses
-- that forbid storing outright (no-store, private, Set-Cookie, Vary: *) are still never
-- stored, because keeping them in a shared cache could hand one user's answer to another.
local type = type
local setmetatable = setmetatable
local ipairs = ipairs
local tonumber = tonumber
local tostring = tostring
local lower = string.lower
local find = string.find
local sub = string.sub
local match = string.match
local gsub = string.gsub
local floor = math.floor
local min = math.min
local max = math.max

-- RFC 9111 section 1.2.2: a delta-seconds too large to represent is taken as 2^31.
local DELTA_MAX = 2147483648

local BYPASS, REFRESH, LOOKUP = "bypass", "refresh", "lookup"

local MONTHS = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6,
                 jul = 7, aug = 8, sep = 9, oct = 10, nov = 11, dec = 12 }

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "table" then return v end
  return { tostring(v) }
end

-- delta-seconds (RFC 9111 section 1.2.2): digits only; anything else is invalid (nil).
local function delta_seconds(s)
  if type(s) ~= "string" or not find(s, "^%d+$") then return nil end
  local n = tonumber(s)
  if n > DELTA_MAX then n = DELTA_MAX end
  return n
end

-- Scans one header line of comma-separated directives into `out`, keeping the first
-- occurrence of each (RFC 9111 section 4.2.1 allows using the first of duplicates).
-- A quoted value may contain commas and backslash escapes.
local function scan(line, out)
  local i, n = 1, #line
  while i <= n do
    local s, e, name = find(line, "^[%s,]*([!#$%%&'*+%-.^_`|~%w]+)", i)
    if not s then
      -- not a token: skip to the next comma
      local c = find(line, ",", i, true)
      if not c then break end
      i = c + 1
    else
      i = e + 1
      local value = true
      local ws = match(line, "^%s*=%s*", i)
      if ws then
        i = i + #ws
        if sub(line, i, i) == '"' then
          local buf, j = {}, i + 1
          while j <= n do
            local ch = sub(line, j, j)
            if ch == "\\" then
              buf[#buf + 1] = sub(line, j + 1, j + 1)
              j = j + 2
            elseif ch == '"' then
              j = j + 1
              break
            else
              buf[#buf + 1] = ch
              j = j + 1
            end
          end
          value = table.concat(buf)
          i = j
        else
          local v = match(line, "^[^,%s]*", i)
          value = v
          i = i + #v
        end
      end
      name = lower(name)
      if out[name] == nil then out[name] = value end
      local c = find(line, ",", i, true)
      if not c then break end
      i = c + 1
    end
  end
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local _M = { BYPASS = BYPASS, REFRESH = REFRESH, LOOKUP = LOOKUP, DELTA_MAX = DELTA_MAX }

-- parse(value) -> { directive = true | "value" }: Cache-Control from a header value or a list
-- of header lines. Names are lower-cased; values are unquoted.
function _M.parse(value)
  local out = {}
  for _, line in ipairs(list_of(value)) do scan(line, out) end
  return out
end

-- http_date(s) -> seconds since the epoch, or nil. RFC 9110 section 5.6.7: IMF-fixdate, the
-- obsolete RFC 850 form and asctime.
function _M.http_date(s)
  if type(s) ~= "string" then return nil end
  local d, mon, y, hh, mm, ss =
    match(s, "^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    d, mon, y, hh, mm, ss = match(s, "^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if y then
      -- RFC 9110 wants two-digit years more than 50 years ahead read as the past century;
      -- the usual fixed pivot (70) gives the same answers for any date a server sends today
      y = tonumber(y)
      y = y < 70 and y + 2000 or y + 1900
    end
  end
  if not d then
    mon, d, hh, mm, ss, y = match(s, "^%a+ (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$")
  end
  local month = mon and MONTHS[lower(mon)]
  if not month then return nil end
  d, y, hh, mm, ss = tonumber(d), tonumber(y), tonumber(hh), tonumber(mm), tonumber(ss)
  if d < 1 or d > 31 or hh > 23 or mm > 59 or ss > 60 then return nil end
  return days_from_civil(y, month, d) * 86400 + hh * 3600 + mm * 60 + ss
end

-- content_type_allowed(allowed, value) -> bool. The media type of `value` without parameters,
-- case-insensitive, against conf.content_type entries ("type/sub", "type/*" or "*/*").
function _M.content_type_allowed(allowed, value)
  if type(value) ~= "string" then return false end
  local mt = lower(gsub(match(value, "^[^;]*"), "%s", ""))
  if mt == "" then return false end
  local major = match(mt, "^([^/]+)/")
  for _, a in ipairs(allowed or {}) do
    local want = lower(gsub(match(a, "^[^;]*"), "%s", ""))
    if want == mt or want == "*/*" or (major and want == major .. "/*") then return true end
  end
  return false
end

-- request(conf, req) -> action, directives, reason
--   req: { method, cache_control (value|lines|nil), pragma, authorization (bool),
--          consumer_id (string|nil), authorization_in_key (vary_headers has Authorization) }
--   action: BYPASS (no lookup, nothing stored), REFRESH (go to the service and store its
--   answer, whatever is cached), LOOKUP. directives are the parsed request Cache-Control
--   (empty unless conf.cache_control).
-- The set of a request_method list, made once per list (weak keys: configurations go with
-- their generation): a lookup instead of a loop on every request.
local method_sets = setmetatable({}, { __mode = "k" })

local function method_set(list)
  local set = method_sets[list]
  if set then return set end
  set = {}
  for _, m in ipairs(list) do set[m] = true end
  method_sets[list] = set
  return set
end

local NO_METHODS = {}

function _M.request(conf, req)
  if not method_set(conf.request_method or NO_METHODS)[req.method] then
    return BYPASS, {}, "method"
  end

  -- RFC 9111 section 3.5: a shared cache must not reuse a response to a request with
  -- Authorization. Safe only when the key tells the callers apart: a consumer the gateway
  -- authenticated, or the Authorization header itself in vary_headers.
  if req.authorization and not req.consumer_id and not req.authorization_in_key then
    return BYPASS, {}, "authorization"
  end

  if not conf.cache_control then return LOOKUP, {} end

  local cc = _M.parse(req.cache_control)
  -- RFC 9111 section 5.2.1.5: no-store, do not store the request or its response
  if cc["no-store"] then return BYPASS, cc, "no-store" end
  -- RFC 9111 section 5.4: Pragma: no-cache counts only without Cache-Control
  local pragma = req.cache_control == nil and req.pragma
  if pragma and find(lower(tostring(pragma)), "no-cache", 1, true) then
    cc["no-cache"] = true
  end
  -- RFC 9111 section 5.2.1.4: no-cache (and max-age=0, which no stored response satisfies
  -- once a second has passed) must go to the origin; its answer refreshes the entry
  if cc["no-cache"] or delta_seconds(cc["max-age"]) == 0 then return REFRESH, cc, "no-cache" end
  return LOOKUP, cc
end

-- accept_cached(conf, cc, age_s, ttl_s) -> bool: may a cached answer of this age be used for a
-- request with directives cc? ttl_s, the entry's freshness lifetime, is optional: without it
-- min-fresh cannot be checked and is ignored. The handler refuses a refused copy with
-- cache.skip and fetches a new one (cache.refresh).
function _M.accept_cached(conf, cc, age_s, ttl_s)
  if not conf.cache_control or not cc then return true end
  age_s = age_s or 0
  -- RFC 9111 section 5.2.1.1: max-age, the oldest answer the client takes
  local max_age = delta_seconds(cc["max-age"])
  if cc["max-age"] ~= nil and max_age == nil then max_age = 0 end
  if max_age and age_s > max_age then return false end
  -- RFC 9111 section 5.2.1.3: min-fresh, fresh for at least this many more seconds
  local min_fresh = delta_seconds(cc["min-fresh"])
  if min_fresh and ttl_s and ttl_s - age_s < min_fresh then return false end
  return true
end

-- freshness(cc, resp, now_s) -> lifetime_s | nil: RFC 9111 section 4.2.1 for a shared cache:
-- s-maxage, else max-age, else Expires - Date; minus the Age the response already has
-- (section 4.2.3). nil when the response gives no explicit lifetime.
local function freshness(cc, resp, now_s)
  local lifetime = delta_seconds(cc["s-maxage"])
  if cc["s-maxage"] ~= nil and not lifetime then lifetime = 0 end
  if not lifetime then
    lifetime = delta_seconds(cc["max-age"])
    if cc["max-age"] ~= nil and not lifetime then lifetime = 0 end
  end
  if not lifetime and resp.expires ~= nil then
    -- section 5.3: an invalid Expires (e.g. "0") means already expired
    local exp = _M.http_date(resp.expires)
    local date = _M.http_date(resp.date) or now_s
    lifetime = exp and max(0, exp - date) or 0
  end
  if not lifetime then return nil end
  local age = delta_seconds(resp.age) or 0
  return (max(0, lifetime - age))
end

local function has_status(list, status)
  for _, s in ipairs(list or {}) do
    if s == status then return true end
  end
  return false
end

-- response(conf, resp, now_s, vary_covers) -> ttl_s, swr_s, sie_s | nil, reason
--   resp: { status, content_type, cache_control (value|lines), set_cookie (bool), vary,
--           expires, date, age, authorization (request had one, bool), keyed (the key tells
--           callers apart: consumer or Authorization in vary_headers) }
--   vary_covers(name) -> bool: whether the key varies on request header `name`
function _M.response(conf, resp, now_s, vary_covers)
  if not has_status(conf.response_code, resp.status) then return nil, "status" end
  if not _M.content_type_allowed(conf.content_type, resp.content_type) then
    return nil, "content-type"
  end
  -- one client's cookie in a shared cache would be handed to everyone
  if resp.set_cookie then return nil, "set-cookie" end
  if resp.authorization and not resp.keyed then return nil, "authorization" end

  local cc = _M.parse(resp.cache_control)
  -- RFC 9111 sections 5.2.2.3, 5.2.2.7: a shared cache must not store these
  if cc["no-store"] then return nil, "no-store" end
  if cc["private"] then return nil, "private" end

  -- RFC 9111 section 4.1: Vary: * never matches a later request; other Vary names must be
  -- part of the key (only in cache_control mode: Kong ignores Vary)
  for _, line in ipairs(list_of(resp.vary)) do
    for name in line:gmatch("[^,%s]+") do
      if name == "*" then return nil, "vary" end
      if conf.cache_control and not (vary_covers and vary_covers(name)) then
        return nil, "vary"
      end
    end
  end

  if not conf.cache_control then
    return conf.cache_ttl, conf.stale_while_revalidate or 0, conf.stale_if_error or 0
  end

  -- section 5.2.2.4: no-cache means every use needs revalidation, which this cache cannot do
  if cc["no-cache"] then return nil, "no-cache" end
  local ttl = freshness(cc, resp, now_s)
  if ttl == nil then ttl = conf.cache_ttl end
  if ttl <= 0 then return nil, "expired" end

  -- RFC 5861: the response's own stale windows win over the config's; must-revalidate and
  -- proxy-revalidate (sections 5.2.2.2, 5.2.2.8) forbid any stale use
  if cc["must-revalidate"] or cc["proxy-revalidate"] then return ttl, 0, 0 end
  local swr = delta_seconds(cc["stale-while-revalidate"]) or conf.stale_while_revalidate or 0
  local sie = delta_seconds(cc["stale-if-error"]) or conf.stale_if_error or 0
  return ttl, swr, sie
end

-- lifetimes(conf, ttl_s, swr_s, sie_s) -> ttl_ms, swr_ms, sie_ms for tp_ffi_cache_store.
-- conf.storage_ttl bounds how long the entry is kept at all: freshness and the stale windows
-- are cut to fit inside it. (Kong keeps entries past their ttl only to refresh them; here a
-- stale entry is only useful within a stale window, so a longer storage_ttl adds nothing.)
function _M.lifetimes(conf, ttl_s, swr_s, sie_s)
  swr_s, sie_s = swr_s or 0, sie_s or 0
  local keep = conf.storage_ttl
  if keep then
    ttl_s = min(ttl_s, keep)
    swr_s = max(0, min(swr_s, keep - ttl_s))
    sie_s = max(0, min(sie_s, keep - ttl_s))
  end
  return ttl_s * 1000, swr_s * 1000, sie_s * 1000
end

return _M
