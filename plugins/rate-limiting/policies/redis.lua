-- rate-limiting "redis" policy: counters in Redis, shared by every node. One Lua script checks
-- every window and counts in all of them or in none, so a denied request never counts and
-- exactly `limit` requests pass per window across the cluster. A request costs one round trip
-- (EVALSHA) on a pooled connection; the pool's connect already did AUTH and SELECT.
local shm = require "turnpike.ffi.shm"
local sha1_hex = require("turnpike.config").sha1_hex

local turnpike = turnpike
local tostring = tostring
local tonumber = tonumber
local type = type
local max = math.max
local find = string.find
local unpack = unpack

local KEY_PREFIX = "ratelimit:"

-- KEYS[i]: one counter per window; ARGV[1] cost, ARGV[1+i] limit i, ARGV[1+n+i] ttl ms i.
-- Returns { allowed (1|0), count_1, ..., count_n }.
local SCRIPT = [[
local n = #KEYS
local cost = tonumber(ARGV[1])
local out = { 1 }
for i = 1, n do
  local c = tonumber(redis.call("GET", KEYS[i]) or "0")
  out[i + 1] = c
  if c + cost > tonumber(ARGV[1 + i]) then out[1] = 0 end
end
if out[1] == 1 and cost > 0 then
  for i = 1, n do
    out[i + 1] = redis.call("INCRBY", KEYS[i], cost)
    if out[i + 1] == cost then redis.call("PEXPIRE", KEYS[i], ARGV[1 + n + i]) end
  end
end
return out
]]
-- Redis names a script by the SHA-1 of its text: EVALSHA works without asking SCRIPT LOAD,
-- and after a NOSCRIPT (a restarted or flushed Redis) one EVAL loads it again.
local SCRIPT_SHA = sha1_hex(SCRIPT)

-- turnpike.redis speaks plain TCP and AUTH <password> (the "default" ACL user): a config that
-- asks for more fails loudly rather than talking in clear or as another user.
local function unsupported(r)
  if r.ssl then return "redis.ssl is not supported by turnpike.redis" end
  if r.username ~= nil and r.username ~= "default" then
    return "redis.username is not supported by turnpike.redis (AUTH uses the default user)"
  end
end

local function connect(conf)
  local r = conf.redis
  local err = unsupported(r)
  if err then return nil, err end
  -- Kong's per-phase timeouts, when set, bound every wait; else redis.timeout
  local timeout = r.timeout
  if r.connect_timeout or r.send_timeout or r.read_timeout then
    timeout = max(r.connect_timeout or 0, r.send_timeout or 0, r.read_timeout or 0)
  end
  local red = turnpike.redis.new({
    host = r.host, port = r.port, password = r.password, database = r.database,
    timeout_ms = timeout,
  })
  local ok
  ok, err = red:connect()
  if not ok then
    return nil, "redis connect " .. tostring(r.host) .. ":" .. tostring(r.port) .. ": "
      .. tostring(err)
  end
  return red
end

local function run_script(red, n, args)
  local res, err = red:evalsha(SCRIPT_SHA, n, unpack(args))
  if res == nil and find(tostring(err), "NOSCRIPT", 1, true) then
    res, err = red:eval(SCRIPT, n, unpack(args))
  end
  return res, err
end

local _M = { SCRIPT = SCRIPT, SCRIPT_SHA = SCRIPT_SHA }

function _M.incr(conf, key, windows, limits, cost, now_ms)
  local n = #windows
  local args, resets = {}, {}
  args[n + 1] = cost
  for i = 1, n do
    local start, finish = shm.period(windows[i], now_ms)
    args[i] = KEY_PREFIX .. key .. ":" .. windows[i] .. ":" .. start
    args[n + 1 + i] = limits[i]
    args[2 * n + 1 + i] = finish - now_ms + 1000
    resets[i] = finish - now_ms
  end

  local red, err = connect(conf)
  if not red then return nil, err end
  local res
  res, err = run_script(red, n, args)
  if type(res) ~= "table" then
    red:close()
    return nil, "redis: " .. tostring(err or res)
  end
  red:set_keepalive()
  local counts = {}
  for i = 1, n do counts[i] = tonumber(res[i + 1]) end
  return tonumber(res[1]) == 1, counts, resets
end

return _M
