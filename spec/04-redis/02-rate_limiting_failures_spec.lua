-- rate-limiting's "redis" policy when Redis goes away: with fault_tolerant requests pass and
-- the failure is logged once per interval (across both workers), without it they get a 500
-- JSON; when Redis comes back on the same port the limits hold again by themselves.
-- This file runs its own redis-server (it kills it), whatever TURNPIKE_TEST_REDIS_PORT says.
local helpers = require "spec.helpers"
local R = require "spec.04-redis.helpers"

local DB = 12
local ERR_USAGE = "failed to get usage: "

local function get(gw, path)
  return assert(helpers.http(gw.proxy_port, { path = path, timeout_ms = 5000 }))
end

local function count(text, needle)
  local n, from = 0, 1
  while true do
    local i = text:find(needle, from, true)
    if not i then return n end
    n, from = n + 1, i + #needle
  end
end

local function away_from_minute_end()
  helpers.wait_until(function() return os.time() % 60 < 50 end, 15, "10 s left in the minute")
end

describe("Plugin: rate-limiting (redis policy, Redis down)", function()
  local srv, up, gw

  lazy_setup(function()
    srv = R.start_server()
    up = helpers.mock_upstream()
    local function rl(fault_tolerant)
      return { { name = "rate-limiting", config = {
        minute = 3, limit_by = "ip", policy = "redis", fault_tolerant = fault_tolerant,
        redis = { host = "127.0.0.1", port = srv.port, database = DB, timeout = 1000 } } } }
    end
    gw = helpers.start_turnpike { workers = 2, config = {
      turnpike = { workers = 2 },
      services = { helpers.service("api", up.port, { routes = {
        { name = "tolerant", paths = { "/tolerant" }, plugins = rl(true) },
        { name = "strict", paths = { "/strict" }, plugins = rl(false) },
      } }) },
    } }
  end)

  lazy_teardown(function()
    helpers.cleanup()
    R.cleanup()
  end)

  before_each(function()
    if not srv.pid then srv:launch() end
    R.flush(srv.port, DB)
  end)

  it("limits while Redis is up", function()
    away_from_minute_end()
    local out = {}
    for i = 1, 4 do out[i] = get(gw, "/strict").status end
    assert.equal("200 200 200 429", table.concat(out, " "))
  end)

  it("lets requests through with fault_tolerant, logging the failure once", function()
    away_from_minute_end()
    assert.equal("2", get(gw, "/tolerant").headers["x-ratelimit-remaining-minute"])
    local before = count(gw:logs(), ERR_USAGE)
    srv:kill()
    -- more requests than the limit, over fresh connections (both workers)
    for _ = 1, 12 do
      local res = get(gw, "/tolerant")
      assert.equal(200, res.status)
      assert.is_nil(res.headers["x-ratelimit-remaining-minute"])
    end
    gw:wait_log(ERR_USAGE, 5, true)
    local logs = gw:logs()
    assert.equal(1, count(logs, ERR_USAGE) - before)
    assert.truthy(logs:find("[rate-limiting] " .. ERR_USAGE .. "redis", 1, true))
  end)

  it("answers 500 JSON without fault_tolerant", function()
    srv:kill()
    for _ = 1, 3 do
      local res = get(gw, "/strict")
      assert.equal(500, res.status)
      assert.matches("^application/json", res.headers["content-type"])
      assert.equal("An unexpected error occurred", res:json().message)
    end
  end)

  it("holds the limits again once Redis is back on the same port", function()
    srv:kill()
    assert.equal(200, get(gw, "/tolerant").status)
    assert.equal(500, get(gw, "/strict").status)
    srv:launch()
    away_from_minute_end()
    -- no reload, no restart: the next requests reconnect
    helpers.wait_until(function()
      return get(gw, "/strict").status == 200
    end, 5, "a counted request after the restart")
    R.flush(srv.port, DB)
    local out = {}
    for i = 1, 4 do out[i] = get(gw, "/strict").status end
    assert.equal("200 200 200 429", table.concat(out, " "))
    out = {}
    for i = 1, 4 do out[i] = get(gw, "/tolerant").status end
    assert.equal("200 200 200 429", table.concat(out, " "))
  end)

  it("bounds the wait for a Redis that stopped answering by redis.timeout", function()
    away_from_minute_end()
    assert.equal(200, get(gw, "/strict").status)
    helpers.kill(srv.pid, 19) -- SIGSTOP: the socket stays open, nothing answers
    local ok, err = pcall(function()
      local t = helpers.now_ms()
      assert.equal(200, get(gw, "/tolerant").status)
      assert.equal(500, get(gw, "/strict").status)
      local took = helpers.now_ms() - t
      assert.is_true(took >= 1800 and took < 3500, "two timed-out requests took " .. took)
    end)
    helpers.kill(srv.pid, 18) -- SIGCONT
    assert(ok, err)
    -- the timed-out connections were not pooled again: counting goes on. Redis may still run
    -- the script the 500 request sent before it froze (1 or 2 counted of 3).
    local out = {}
    for i = 1, 3 do out[i] = get(gw, "/strict").status end
    assert.is_truthy(({ ["200 200 429"] = true, ["200 429 429"] = true })[table.concat(out, " ")],
                     table.concat(out, " "))
  end)

  it("does not fail a request on a pooled connection Redis closed while it was idle", function()
    away_from_minute_end()
    -- both workers hold an idle pooled connection
    for _ = 1, 6 do assert.is_not_nil(get(gw, "/tolerant").headers["ratelimit-limit"]) end
    R.flush(srv.port, DB)
    srv:restart()
    local out = {}
    for i = 1, 4 do out[i] = get(gw, "/strict").status end
    assert.equal("200 200 200 429", table.concat(out, " "))
  end)
end)
