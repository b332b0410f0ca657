-- turnpike.sdk.util: query-string and form encoding shared by request and service.request,
-- and the header checks shared by response and service.request.
local type = type
local error = error
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local concat = table.concat
local sort = table.sort
local char = string.char
local format = string.format
local gsub = string.gsub
local byte = string.byte

local DEFAULT_MAX_ARGS = 100
local MAX_ARGS_LIMIT = 1000

local function unescape(s)
  s = gsub(s, "+", " ")
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local function escape(s)
  return (gsub(tostring(s), "[^%w%-%._~]", function(c) return format("%%%02X", byte(c)) end))
end

local _M = { DEFAULT_MAX_ARGS = DEFAULT_MAX_ARGS, unescape = unescape, escape = escape }

-- check_max_args(n, fname): Kong accepts 1..1000, default 100; a bad value is a caller bug.
function _M.check_max_args(n)
  if n == nil then return DEFAULT_MAX_ARGS end
  if type(n) ~= "number" then error("max_args must be a number", 3) end
  if n < 1 then error("max_args must be >= 1", 3) end
  if n > MAX_ARGS_LIMIT then error("max_args must be <= " .. MAX_ARGS_LIMIT, 3) end
  return n
end

-- decode_args("a=1&a=2&b&c=") -> { a = {"1","2"}, b = true, c = "" }, at most max_args pairs.
function _M.decode_args(s, max_args)
  local args, n = {}, 0
  if not s or s == "" then return args end
  for pair in s:gmatch("[^&]+") do
    n = n + 1
    if n > max_args then break end
    local k, v = pair:match("^([^=]*)=(.*)$")
    if k then
      k, v = unescape(k), unescape(v)
    else
      k, v = unescape(pair), true
    end
    if k ~= "" then
      local prev = args[k]
      if prev == nil then
        args[k] = v
      elseif type(prev) == "table" then
        prev[#prev + 1] = v
      else
        args[k] = { prev, v }
      end
    end
  end
  return args
end

-- encode_args({b="2", a={"1","x"}, c=true}) -> "a=1&a=x&b=2&c", keys sorted as Kong does.
function _M.encode_args(args)
  local names = {}
  for k in pairs(args) do names[#names + 1] = tostring(k) end
  sort(names)
  local out = {}
  for _, k in ipairs(names) do
    local v = args[k]
    if v == nil then v = args[tonumber(k)] end
    local list = type(v) == "table" and v or { v }
    for _, x in ipairs(list) do
      if x == true then
        out[#out + 1] = escape(k)
      elseif x ~= false then
        out[#out + 1] = escape(k) .. "=" .. escape(x)
      end
    end
  end
  return (concat(out, "&"))
end

-- Header lookup tables behave as nginx's: any case, "_" for "-".
local HEADERS_MT = {
  __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local n = gsub(k:lower(), "_", "-")
    if n ~= k then return (rawget(t, n)) end
  end,
}

function _M.headers_table(t)
  return (setmetatable(t or {}, HEADERS_MT))
end

-- check_header(name, value): a header a plugin sets must have a non-empty name and a string,
-- number or boolean value (or an array of them); anything else is the caller's bug, raised
-- at the caller of the SDK function that called this one (Kong's messages).
function _M.check_header(name, value)
  if type(name) ~= "string" or name == "" then error("header name must be a string", 3) end
  local tv = type(value)
  if tv == "table" then
    for _, v in ipairs(value) do
      local t = type(v)
      if t ~= "string" and t ~= "number" and t ~= "boolean" then
        error("invalid header value in array '" .. name .. "': got " .. t ..
              ", expected string", 3)
      end
    end
  elseif tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
    error("invalid header value for '" .. name .. "': got " .. tv ..
          ", expected array of string, string, number or boolean", 3)
  end
end

-- Texts of the small whole numbers plugins put in headers most (counters, limits, seconds),
-- made once each.
local SMALL_INT_MAX = 100000
local int_text = setmetatable({ [0] = "0" }, { __index = function(t, n)
  local s = tostring(n)
  t[n] = s
  return s
end })

-- header_value(v) -> string | {string, ...}: a checked value as the backend takes it.
function _M.header_value(v)
  local tv = type(v)
  if tv == "string" then return v end
  if tv == "number" and v >= 0 and v <= SMALL_INT_MAX and v % 1 == 0 then
    return int_text[v]
  end
  if tv == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = tostring(x) end
    return out
  end
  return (tostring(v))
end

-- content_type_of("application/json; charset=utf-8") -> "application/json"
function _M.mime(ct)
  if type(ct) ~= "string" then return nil end
  return (ct:match("^%s*([^;%s]+)") or ""):lower()
end

return _M
