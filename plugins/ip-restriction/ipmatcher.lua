-- ip-restriction/ipmatcher: IPv4 and IPv6 addresses and CIDR blocks as raw byte strings
-- (4 or 16 bytes), and a matcher over a list of them.
--
--   parse("10.0.0.1") -> "\10\0\0\1"      parse("::1") -> 16 bytes       parse("x") -> nil, err
--   parse_cidr("10.0.0.0/8") -> bytes, 8  (a bare address is a /32 or /128)
--   local m = new({ "10.0.0.0/8", "2001:db8::/32" }); m:match("10.1.2.3") -> true
-- An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is treated as the IPv4 address it carries
-- (RFC 4291 §2.5.5.2), so v4 rules apply to clients reached over a dual-stack socket.
local type = type
local ipairs = ipairs
local tonumber = tonumber
local char = string.char
local byte = string.byte
local sub = string.sub
local concat = table.concat
local floor = math.floor
local setmetatable = setmetatable

local MAPPED_PREFIX = ("\0"):rep(10) .. "\255\255"

local function parse_v4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local out = {}
  for i, x in ipairs({ a, b, c, d }) do
    -- leading zeros are ambiguous (octal in some parsers), so they are refused
    if #x > 1 and sub(x, 1, 1) == "0" then return nil end
    local n = tonumber(x)
    if n > 255 then return nil end
    out[i] = char(n)
  end
  return (concat(out))
end

-- groups("2001:db8") -> list of 2-byte strings, or nil; `last` allows a dotted v4 tail.
local function groups(part, last, out)
  if part == "" then return out end
  local fields = {}
  for f in (part .. ":"):gmatch("([^:]*):") do fields[#fields + 1] = f end
  for i, f in ipairs(fields) do
    if last and i == #fields and f:find(".", 1, true) then
      local v4 = parse_v4(f)
      if not v4 then return nil end
      out[#out + 1] = sub(v4, 1, 2)
      out[#out + 1] = sub(v4, 3, 4)
    else
      if not f:find("^%x%x?%x?%x?$") then return nil end
      local n = tonumber(f, 16)
      out[#out + 1] = char(floor(n / 256), n % 256)
    end
  end
  return out
end

local function parse_v6(s)
  s = s:gsub("%%.*$", "") -- a zone id (fe80::1%eth0) does not take part in matching
  local head, tail = s:match("^(.-)::(.*)$")
  if head and tail:find("::", 1, true) then return nil end
  local left, right
  if head then
    left = groups(head, false, {})
    right = groups(tail, true, {})
    if not left or not right or #left + #right > 7 then return nil end
  else
    left = groups(s, true, {})
    if not left or #left ~= 8 then return nil end
    right = {}
  end
  local out = {}
  for _, g in ipairs(left) do out[#out + 1] = g end
  for _ = 1, 8 - #left - #right do out[#out + 1] = "\0\0" end
  for _, g in ipairs(right) do out[#out + 1] = g end
  return (concat(out))
end

local _M = {}

-- parse(ip) -> 4- or 16-byte string | nil, err
function _M.parse(ip)
  if type(ip) ~= "string" then return nil, "invalid ip address" end
  local bytes
  if ip:find(":", 1, true) then
    bytes = parse_v6(ip)
    if bytes and sub(bytes, 1, 12) == MAPPED_PREFIX then bytes = sub(bytes, 13) end
  else
    bytes = parse_v4(ip)
  end
  if not bytes then return nil, "invalid ip address: " .. ip end
  return bytes
end

-- parse_cidr(s) -> bytes, prefix_bits | nil, err
function _M.parse_cidr(s)
  if type(s) ~= "string" then return nil, "invalid cidr range" end
  local ip, bits = s:match("^(.-)/(%d+)$")
  local raw = ip or s
  local bytes, err = _M.parse(raw)
  if not bytes then return nil, err end
  local max = #bytes * 8
  -- a mapped v4 written with a v6 prefix length counts the 96 bits it lost
  local shift = (raw:find(":", 1, true) and #bytes == 4) and 96 or 0
  local n = bits and tonumber(bits) - shift or max
  if n < 0 or n > max then return nil, "invalid cidr range: " .. s end
  return bytes, n
end

-- Does `addr` fall in the block (net, bits)? Both are byte strings of the same family.
local function in_block(addr, net, bits)
  if #addr ~= #net then return false end
  local whole = floor(bits / 8)
  if sub(addr, 1, whole) ~= sub(net, 1, whole) then return false end
  local rest = bits % 8
  if rest == 0 then return true end
  local unit = 2 ^ (8 - rest)
  return floor(byte(addr, whole + 1) / unit) == floor(byte(net, whole + 1) / unit)
end

local matcher = {}
local mt = { __index = matcher }

-- new(list) -> matcher | nil, err
function _M.new(list)
  local blocks = {}
  for i, s in ipairs(list or {}) do
    local net, bits = _M.parse_cidr(s)
    if not net then return nil, bits end
    blocks[i] = { net = net, bits = bits }
  end
  return (setmetatable({ blocks = blocks }, mt))
end

-- m:match(ip) -> bool | nil, err (for an address that cannot be parsed)
function matcher:match(ip)
  local addr, err = _M.parse(ip)
  if not addr then return nil, err end
  return self:match_bytes(addr)
end

function matcher:match_bytes(addr)
  for _, b in ipairs(self.blocks) do
    if in_block(addr, b.net, b.bits) then return true end
  end
  return false
end

return _M
