-- rate-limiting "redis" policy: counters in Redis, shared by every node. One Lua script checks
-- every window and counts in all of them or in none, so a denied request never counts and
-- exactly `limit` requests pass per window across the cluster.
local shm = require "turnpike.ffi.shm"

local turnpike = turnpike
local tostring = tostring
local tonumber = tonumber
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

-- The script's sha once Redis told us (SCRIPT LOAD); a per-worker constant.
local script_sha

local function connect(conf)
  local r = conf.redis
  local red = turnpike.redis.new({
    host = r.host, port = r.port, username = r.username, password = r.password,
    database = r.database, timeout_ms = r.timeout, ssl = r.ssl, ssl_verify = r.ssl_verify,
    server_name = r.server_name,
  })
  local ok, err = red:connect()
  if not ok then return nil, "redis connect " .. tostring(r.host) .. ":" .. tostring(r.port)
    .. ": " .. tostring(err) end
  if r.database and r.database ~= 0 then
    ok, err = red:select(r.database)
    if not ok then
      red:close()
      return nil, "redis select " .. r.database .. ": " .. tostring(err)
    end
  end
  return red
end

local function run_script(red, n, args)
  if not script_sha then
    local sha, err = red:script("LOAD", SCRIPT)
    if not sha then return nil, err end
    script_sha = sha
  end
  local res, err = red:evalsha(script_sha, n, unpack(args))
  if not res and err and tostring(err):find("NOSCRIPT", 1, true) then
    res, err = red:eval(SCRIPT, n, unpack(args))
  end
  return res, err
end

local _M = {}

function _M.incr(conf, key, windows, limits, cost, now_ms)
  local n = #windows
  local keys, limit_args, ttls, resets = {}, {}, {}, {}
  for i = 1, n do
    local start, finish = shm.period(windows[i], now_ms)
    keys[i] = KEY_PREFIX .. key .. ":" .. windows[i] .. ":" .. start
    limit_args[i] = limits[i]
    ttls[i] = finish - now_ms + 1000
    resets[i] = finish - now_ms
  end
  local args = {}
  for i = 1, n do args[i] = keys[i] end
  args[n + 1] = cost
  for i = 1, n do
    args[n + 1 + i] = limit_args[i]
    args[2 * n + 1 + i] = ttls[i]
  end

  local red, err = connect(conf)
  if not red then return nil, err end
  local res
  res, err = run_script(red, n, args)
  if not res then
    red:close()
    return nil, "redis: " .. tostring(err)
  end
  red:set_keepalive()
  local counts = {}
  for i = 1, n do counts[i] = tonumber(res[i + 1]) end
  return tonumber(res[1]) == 1, counts, resets
end

return _M
