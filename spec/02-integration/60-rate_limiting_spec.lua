-- rate-limiting against the real build/turnpike with 2 workers: the "local" policy's counters
-- in shared memory hold exactly across both workers under concurrency, the token bucket's
-- burst (with and without nodelay), a consumer's own limits beating the route's, and a
-- usage-plan style quota (month) together with a throttle (second).
local helpers = require "spec.helpers"

local floor = math.floor

-- send(port, n, path, headers) -> responses: n requests on n fresh connections, all sent before
-- any answer is read, so they are in flight together and both workers accept some.
local function send_all(port, n, path, headers)
  local conns = {}
  for i = 1, n do
    local c = assert(helpers.raw(port))
    assert(c:send(helpers.build_request(port, { path = path, headers = headers })))
    conns[i] = c
  end
  local out = {}
  for i, c in ipairs(conns) do
    out[i] = assert(c:read_response({ timeout_ms = 10000 }))
    out[i].done_ms = helpers.now_ms()
    c:close()
  end
  return out
end

local function tally(responses)
  local by = {}
  for _, r in ipairs(responses) do by[r.status] = (by[r.status] or 0) + 1 end
  return by
end

local function get(gw, path, headers)
  return assert(helpers.http(gw.proxy_port, { path = path, headers = headers,
                                              timeout_ms = 5000 }))
end

local function upstream_count(up, path)
  local n = 0
  for _, r in ipairs(up:requests()) do
    if r.path == path then n = n + 1 end
  end
  return n
end

local function worker_requests(gw)
  local out = {}
  for _, w in ipairs(assert(gw:status()).workers or {}) do out[#out + 1] = w.requests end
  return out
end

-- seconds from now to the next calendar month (UTC)
local function to_next_month()
  local now = os.time()
  local d = os.date("!*t", now)
  local y, m = d.year, d.month + 1
  if m == 13 then y, m = y + 1, 1 end
  -- os.time reads a local-time table: shift by the zone's offset to get UTC
  local start = os.time({ year = y, month = m, day = 1, hour = 0 })
  local offset = os.time(os.date("*t", now)) - os.time(os.date("!*t", now))
  return start + offset - now
end

-- a burst counted in minutes must not straddle a minute boundary: wait for 10 s of room
local function away_from_minute_end()
  helpers.wait_until(function() return os.time() % 60 < 50 end, 15, "10 s left in the minute")
end

describe("Plugin: rate-limiting (integration, 2 workers)", function()
  local up, clock, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    -- answers with the (monotonic, system-wide) time the request reached it
    clock = helpers.mock_upstream { handler = function()
      return { status = 200, body = string.format("%.3f", helpers.now_ms()) }
    end }
    gw = helpers.start_turnpike { workers = 2, config = {
      turnpike = { workers = 2 },
      services = { helpers.service("api", up.port, { routes = {
        { name = "minute", paths = { "/minute" }, strip_path = false,
          plugins = { { name = "rate-limiting", config = { minute = 100, limit_by = "ip" } } } },
        { name = "nodelay", paths = { "/nodelay" },
          plugins = { { name = "rate-limiting", config = { rate = 5, burst = 5, nodelay = true,
                                                           limit_by = "ip" } } } },
        { name = "plans", paths = { "/plans" },
          plugins = { { name = "key-auth", config = {} },
                      { name = "rate-limiting", config = { minute = 2 } } } },
      } }),
        helpers.service("clock", clock.port, { routes = {
          { name = "delay", paths = { "/delay" },
            plugins = { { name = "rate-limiting", config = { rate = 5, burst = 5,
                                                             limit_by = "ip" } } } },
        } }) },
      consumers = {
        { username = "alice", keyauth_credentials = { { key = "alice-key" } },
          plugins = { { name = "rate-limiting", config = { minute = 5 } } } },
        { username = "bob", keyauth_credentials = { { key = "bob-key" } } },
        { username = "carol", keyauth_credentials = { { key = "carol-key" } },
          plugins = { { name = "rate-limiting", config = { second = 3, month = 8 } } } },
      },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  describe("config.minute", function()
    it("lets exactly 100 of 150 concurrent requests through over both workers", function()
      local before = worker_requests(gw)
      assert.equal(2, #before)
      away_from_minute_end()
      local res = send_all(gw.proxy_port, 150, "/minute")
      local after = worker_requests(gw)
      local by = tally(res)
      assert.same({ [200] = 100, [429] = 50 }, by)
      assert.equal(100, upstream_count(up, "/minute"))
      for i = 1, 2 do
        assert.is_true(after[i] > before[i], "worker " .. i .. " took no request")
      end
      for _, r in ipairs(res) do
        assert.equal("100", r.headers["x-ratelimit-limit-minute"])
        assert.equal("100", r.headers["ratelimit-limit"])
        if r.status == 429 then
          assert.equal("0", r.headers["x-ratelimit-remaining-minute"])
          assert.truthy(tonumber(r.headers["retry-after"]) >= 1)
          assert.truthy(tonumber(r.headers["retry-after"]) <= 60)
          assert.equal("API rate limit exceeded", r:json().message)
        end
      end
    end)
  end)

  describe("config.rate and config.burst", function()
    it("with nodelay: burst + 1 pass at once, then 429 with Retry-After", function()
      local t = helpers.now_ms()
      local res = send_all(gw.proxy_port, 10, "/nodelay")
      local took = helpers.now_ms() - t
      -- 5 tokens per second: one more may come back while the burst is in flight
      local extra = floor(took / 200)
      local by = tally(res)
      assert.is_true(by[200] >= 6 and by[200] <= 6 + extra,
                     "200s: " .. tostring(by[200]) .. " in " .. took .. " ms")
      local refused
      for _, r in ipairs(res) do
        if r.status == 429 then refused = r end
        -- nothing waited: every answer is fast
        assert.is_true(r.done_ms - t < 1000)
      end
      assert.equal("1", refused.headers["retry-after"])
      assert.equal("6", refused.headers["ratelimit-limit"])
      assert.equal("0", refused.headers["ratelimit-remaining"])
      assert.equal("application/json", refused.headers["content-type"]:match("^[^;]+"))
    end)

    it("without nodelay: requests within the burst are delayed to the rate, not refused",
      function()
      local t = helpers.now_ms()
      local res = send_all(gw.proxy_port, 8, "/delay")
      local by = tally(res)
      local took = helpers.now_ms() - t
      assert.is_true(by[200] >= 6, "200s: " .. tostring(by[200]))
      assert.is_true(by[200] <= 6 + floor(took / 200))
      assert.is_true((by[429] or 0) >= 1)
      -- the admitted ones reached the upstream spaced 200 ms apart, the first at once
      local arrived = {}
      for _, r in ipairs(res) do
        if r.status == 200 then
          arrived[#arrived + 1] = tonumber(r.body) - t
        else
          assert.equal("1", r.headers["retry-after"])
        end
      end
      table.sort(arrived)
      assert.is_true(arrived[1] < 150, "first admitted after " .. arrived[1] .. " ms")
      for i = 2, #arrived do
        local gap = arrived[i] - arrived[i - 1]
        assert.is_true(gap >= 150, "admitted " .. gap .. " ms after the one before")
      end
      assert.is_true(arrived[6] >= 950, "sixth admitted after " .. arrived[6] .. " ms")
    end)
  end)

  describe("a consumer's plugin", function()
    it("beats the route's limits for that consumer only", function()
      local function run(key, n)
        local out = {}
        for i = 1, n do
          out[i] = get(gw, "/plans", { apikey = key }).status
        end
        return table.concat(out, " ")
      end
      away_from_minute_end()
      assert.equal("200 200 200 200 200 429", run("alice-key", 6))
      assert.equal("200 200 429", run("bob-key", 3))
      local res = get(gw, "/plans", { apikey = "alice-key" })
      assert.equal("5", res.headers["x-ratelimit-limit-minute"])
    end)
  end)

  describe("a usage plan: month quota with a second throttle", function()
    it("enforces both, with headers for both windows", function()
      local key = { apikey = "carol-key" }
      local passed, throttled = 0, 0
      helpers.wait_until(function()
        local res = get(gw, "/plans", key)
        assert.equal("3", res.headers["x-ratelimit-limit-second"])
        assert.equal("8", res.headers["x-ratelimit-limit-month"])
        if res.status == 200 then
          passed = passed + 1
          assert.equal(tostring(8 - passed), res.headers["x-ratelimit-remaining-month"])
          return false
        end
        assert.equal(429, res.status)
        if res.headers["x-ratelimit-remaining-month"] ~= "0" then
          -- the throttle: wait for the next second
          throttled = throttled + 1
          assert.equal("1", res.headers["retry-after"])
          assert.equal("0", res.headers["x-ratelimit-remaining-second"])
          return false
        end
        return true
      end, 10, "the month quota used up")
      assert.equal(8, passed)
      assert.is_true(throttled >= 1, "the second throttle never refused")
      local res = get(gw, "/plans", key)
      assert.equal(429, res.status)
      assert.equal("0", res.headers["x-ratelimit-remaining-month"])
      assert.equal("0", res.headers["ratelimit-remaining"])
      assert.equal("8", res.headers["ratelimit-limit"])
      local wait = tonumber(res.headers["retry-after"])
      assert.is_true(math.abs(wait - to_next_month()) <= 2,
                     "Retry-After " .. wait .. " vs " .. to_next_month())
    end)
  end)
end)
