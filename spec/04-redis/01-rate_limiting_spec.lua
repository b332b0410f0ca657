-- rate-limiting's "redis" policy against a real redis-server: two gateways sharing one Redis
-- hold the combined limit, every window is checked in one EVALSHA per request, a flushed
-- script cache costs one EVAL, and Kong's flat redis_* fields work as well as redis.*.
local helpers = require "spec.helpers"
local R = require "spec.04-redis.helpers"
-- loading the plugin makes its modules reachable as kong.plugins.rate-limiting.*
assert(require("turnpike.plugins").load("rate-limiting"))
local redis_policy = require "kong.plugins.rate-limiting.policies.redis"

local DB = 11

local function get(gw, path)
  return assert(helpers.http(gw.proxy_port, { path = path, timeout_ms = 5000 }))
end

local function away_from_minute_end()
  helpers.wait_until(function() return os.time() % 60 < 50 end, 15, "10 s left in the minute")
end

-- The same routes on every gateway (so the same plugin ids, so the same Redis counters);
-- `flat` spells the Redis settings with Kong's flat redis_* fields.
local function config(up_port, redis_port, flat)
  local function rl(windows)
    local conf = { policy = "redis", limit_by = "ip" }
    for k, v in pairs(windows) do conf[k] = v end
    if flat then
      conf.redis_host, conf.redis_port, conf.redis_timeout = "127.0.0.1", redis_port, 1500
      conf.redis_database = DB
    else
      conf.redis = { host = "127.0.0.1", port = redis_port, database = DB, timeout = 1500 }
    end
    return { { name = "rate-limiting", config = conf } }
  end
  return {
    services = { helpers.service("api", up_port, { routes = {
      { name = "five", paths = { "/five" }, plugins = rl({ minute = 5 }) },
      { name = "burst", paths = { "/burst" }, plugins = rl({ minute = 20 }) },
      { name = "three", paths = { "/three" },
        plugins = rl({ second = 1000, minute = 1000, hour = 1000 }) },
    } }) },
  }
end

describe("Plugin: rate-limiting (redis policy)", function()
  local port, up, a, b

  lazy_setup(function()
    port = R.port()
    up = helpers.mock_upstream()
    a = helpers.start_turnpike { workers = 1, config = config(up.port, port, false) }
    b = helpers.start_turnpike { workers = 2, config = config(up.port, port, true) }
  end)

  lazy_teardown(function()
    helpers.cleanup()
    R.cleanup()
  end)

  before_each(function()
    R.flush(port, DB)
  end)

  it("holds the combined limit across two gateways (minute: 5, alternating)", function()
    away_from_minute_end()
    local out, remaining = {}, {}
    for i = 1, 10 do
      local res = get(i % 2 == 1 and a or b, "/five")
      out[i] = res.status
      remaining[i] = res.headers["x-ratelimit-remaining-minute"]
    end
    assert.equal("200 200 200 200 200 429 429 429 429 429", table.concat(out, " "))
    assert.same({ "4", "3", "2", "1", "0", "0", "0", "0", "0", "0" }, remaining)
    -- the counter lives in our database, under the plugin's key
    local c = assert(R.client(port, DB))
    local keys = c:call("KEYS", "ratelimit:*")
    c:close()
    assert.equal(1, #keys)
    assert.matches(":60:%d+$", keys[1])
  end)

  it("holds it under concurrency: exactly 20 of 40 over both gateways", function()
    away_from_minute_end()
    local conns = {}
    for i = 1, 40 do
      local gw = i % 2 == 1 and a or b
      local c = assert(helpers.raw(gw.proxy_port))
      assert(c:send(helpers.build_request(gw.proxy_port, { path = "/burst" })))
      conns[i] = c
    end
    local by = {}
    for _, c in ipairs(conns) do
      local res = assert(c:read_response({ timeout_ms = 10000 }))
      by[res.status] = (by[res.status] or 0) + 1
      c:close()
    end
    assert.same({ [200] = 20, [429] = 20 }, by)
  end)

  it("checks every window in one round trip: one EVALSHA per request", function()
    assert.equal(200, get(a, "/three").status) -- the pool has its connection now
    local m = R.monitor(port, DB)
    for _ = 1, 5 do
      local res = get(a, "/three")
      assert.equal(200, res.status)
      assert.equal("1000", res.headers["x-ratelimit-limit-hour"])
    end
    local cmds = m:commands()
    m:close()
    assert.equal("EVALSHA EVALSHA EVALSHA EVALSHA EVALSHA", R.names(cmds))
    assert.equal(redis_policy.SCRIPT_SHA, cmds[1][2])
    assert.equal("3", cmds[1][3]) -- three windows, three keys
  end)

  it("falls back to EVAL after SCRIPT FLUSH and keeps counting right", function()
    away_from_minute_end()
    assert.equal(200, get(a, "/five").status)
    assert.equal(200, get(b, "/five").status)
    local c = assert(R.client(port, DB))
    assert.equal("OK", c:call("SCRIPT", "FLUSH"))
    local m = R.monitor(port, DB)
    local res = get(a, "/five")
    assert.equal(200, res.status)
    assert.equal("2", res.headers["x-ratelimit-remaining-minute"])
    assert.equal("EVALSHA EVAL", R.names(m:commands()))
    assert.equal("200 200 429", table.concat({ get(b, "/five").status, get(a, "/five").status,
                                               get(b, "/five").status }, " "))
    assert.equal("EVALSHA EVALSHA EVALSHA", R.names(m:commands()))
    assert.equal(1, c:call("SCRIPT", "EXISTS", redis_policy.SCRIPT_SHA)[1])
    m:close()
    c:close()
  end)

  it("names the script as Redis does (SCRIPT LOAD gives the same SHA-1)", function()
    local c = assert(R.client(port, DB))
    assert.equal(redis_policy.SCRIPT_SHA, c:call("SCRIPT", "LOAD", redis_policy.SCRIPT))
    c:close()
  end)
end)
