-- turnpike.balancer and turnpike.healthcheck over the fake backend and the real shared
-- memory (run inside the binary: `build/turnpike spec spec/01-unit/balancer_spec.lua`).
local fake = require "turnpike.backend.fake"
local shm = require "turnpike.ffi.shm"
local balancer_mod = require "turnpike.balancer"
local healthcheck = require "turnpike.healthcheck"
local http_mod = require "turnpike.sdk.http"

local B = fake.new()
local HTTP = http_mod.new(B)

local function upstream(fields)
  local u = {
    id = "u-1", name = "up1", algorithm = "round-robin", hash_on = "none", hash_fallback = "none",
    slots = 1000,
    targets = {
      { target = "10.0.0.1:80", host = "10.0.0.1", port = 80, weight = 100 },
      { target = "10.0.0.2:80", host = "10.0.0.2", port = 80, weight = 100 },
    },
    healthchecks = {
      active = { type = "http", http_path = "/status", timeout = 1,
        healthy = { interval = 0, successes = 1, http_statuses = { 200, 302 } },
        unhealthy = { interval = 0, http_failures = 0, tcp_failures = 0, timeouts = 0,
          http_statuses = { 500, 503 } } },
      passive = { healthy = { successes = 1 },
        unhealthy = { http_failures = 0, tcp_failures = 0, timeouts = 0,
          http_statuses = { 429, 500, 503 } } },
      breaker = { open_ms = 5000, max_open_ms = 60000, half_open_probes = 1, window_ms = 10000,
        min_requests = 20 },
    },
  }
  for k, v in pairs(fields or {}) do u[k] = v end
  return u
end

local function passive(u, unhealthy)
  for k, v in pairs(unhealthy) do u.healthchecks.passive.unhealthy[k] = v end
  return u
end

local function new(u, extra)
  local opts = { backend = B, http = HTTP, timer = extra and extra.timer,
                 attempts = function(r) return r.attempts or {} end }
  return balancer_mod.new({ upstreams = { u } }, opts)
end

local SERVICE = { host = "up1", port = 80 }

-- one proxied request: pick, then what happened upstream, then the log phase
local function request(bal, req, attempts, status)
  local r = B.request(req or {})
  local ctx = r.ctx
  local list, retry = bal:targets(ctx, SERVICE, r)
  if list then
    r.attempts = attempts and attempts(list) or { { target = 0, outcome = 0 } }
    r.service_response = { status = status or 200 }
  end
  return list, retry, function() bal:report(ctx, r) end, r
end

local function first(bal, req)
  local list, retry, done = request(bal, req)
  done()
  return list and (list[1].host .. ":" .. list[1].port), retry, list
end

local function tcp_fail_first(list) return { { target = 0, outcome = 1 }, { target = 1, outcome = 0 } } end

-- 10.0.0.1 refuses connections; the request is retried on the next target
local function first_is_dead(list)
  local out = {}
  for i, t in ipairs(list) do
    out[i] = { target = i - 1, outcome = t.host == "10.0.0.1" and 1 or 0 }
    if out[i].outcome == 0 then break end
  end
  return out
end

local function health_of(bal, target)
  for _, h in ipairs(bal:health("up1")) do
    if h.target == target then return h end
  end
end

describe("turnpike.balancer", function()
  before_each(function()
    B.reset()
    assert(shm.flush("kv"))
    assert(shm.flush("breaker"))
  end)

  describe("round-robin", function()
    it("spreads requests by weight, smoothly", function()
      local u = upstream()
      u.targets[1].weight, u.targets[2].weight = 300, 100
      local bal = new(u)
      local seq, counts = {}, {}
      for i = 1, 8 do
        local t = first(bal)
        seq[i] = t
        counts[t] = (counts[t] or 0) + 1
      end
      assert.same({ ["10.0.0.1:80"] = 6, ["10.0.0.2:80"] = 2 }, counts)
      assert.equal("10.0.0.1:80", seq[1])
      assert.are_not.equal(seq[2], seq[3]) -- not AAAB: B sits in the middle
    end)

    it("lists the other targets after the choice, for retries", function()
      local _, _, list = first(new(upstream()))
      assert.equal(2, #list)
      assert.are_not.equal(list[1].host, list[2].host)
    end)

    it("leaves weight-0 targets out of traffic but shows them in health", function()
      local u = upstream()
      u.targets[2].weight = 0
      local bal = new(u)
      for _ = 1, 4 do assert.equal("10.0.0.1:80", first(bal)) end
      assert.equal(2, #bal:health("up1"))
    end)

    it("sends a host that is no upstream to host:port, and honours set_target", function()
      local bal = new(upstream())
      local r = B.request {}
      assert.same({ { host = "example.com", port = 8080 } },
        bal:targets(r.ctx, { host = "example.com", port = 8080 }, r))
      r.ctx.balancer_target = { host = "10.9.9.9", port = "81" }
      assert.same({ { host = "10.9.9.9", port = 81 } }, bal:targets(r.ctx, SERVICE, r))
      assert.is_nil(bal:health("nope"))
    end)
  end)

  describe("least-connections", function()
    it("prefers the target with fewer requests in flight", function()
      local bal = new(upstream { algorithm = "least-connections" })
      local l1, _, done1 = request(bal)
      local l2, _, done2 = request(bal)
      assert.are_not.equal(l1[1].host, l2[1].host) -- the first is busy
      done2()
      local l3, _, done3 = request(bal)
      assert.equal(l2[1].host, l3[1].host) -- the second is free again, the first still busy
      assert.equal(1, health_of(bal, l1[1].host .. ":80").active_connections)
      done1()
      done3()
      for _, h in ipairs(bal:health("up1")) do assert.equal(0, h.active_connections) end
    end)

    it("weighs connections by target weight", function()
      local u = upstream { algorithm = "least-connections" }
      u.targets[1].weight = 300
      local bal = new(u)
      local dones, counts = {}, {}
      for i = 1, 4 do
        local l, _, done = request(bal)
        counts[l[1].host] = (counts[l[1].host] or 0) + 1
        dones[i] = done
      end
      assert.same({ ["10.0.0.1"] = 3, ["10.0.0.2"] = 1 }, counts)
      for _, d in ipairs(dones) do d() end
    end)

    it("takes turns between idle targets", function()
      local bal = new(upstream { algorithm = "least-connections" })
      local seen = {}
      for _ = 1, 4 do seen[first(bal)] = true end
      assert.is_true(seen["10.0.0.1:80"] and seen["10.0.0.2:80"])
    end)
  end)

  describe("consistent-hashing", function()
    local function three(fields)
      local u = upstream(fields)
      u.algorithm = "consistent-hashing"
      u.targets[3] = { target = "10.0.0.3:80", host = "10.0.0.3", port = 80, weight = 100 }
      return u
    end

    it("sends the same key to the same target", function()
      local bal = new(three { hash_on = "ip" })
      local t = first(bal, { client_ip = "192.0.2.7" })
      for _ = 1, 20 do assert.equal(t, first(bal, { client_ip = "192.0.2.7" })) end
    end)

    it("spreads keys over the targets", function()
      local bal = new(three { hash_on = "ip" })
      local counts = {}
      for i = 1, 900 do
        local t = first(bal, { client_ip = "198.51." .. (i % 250) .. "." .. i % 7 + i })
        counts[t] = (counts[t] or 0) + 1
      end
      for _, n in pairs(counts) do assert.is_true(n > 150, "skewed ring: " .. n) end
    end)

    it("moves only the keys of a removed target", function()
      local before = new(three { hash_on = "path" })
      local u = three { hash_on = "path" }
      table.remove(u.targets, 3)
      local after = new(u)
      local moved = 0
      for i = 1, 300 do
        local p = "/item/" .. i
        local a, b = first(before, { path = p }), first(after, { path = p })
        if a ~= "10.0.0.3:80" then
          assert.equal(a, b)
        else
          moved = moved + 1
        end
      end
      assert.is_true(moved > 0)
    end)

    it("hashes a header, falling back to the client ip", function()
      local bal = new(three { hash_on = "header", hash_on_header = "X-User", hash_fallback = "ip" })
      local a = first(bal, { headers = { ["X-User"] = "alice" }, client_ip = "192.0.2.1" })
      for i = 2, 10 do
        assert.equal(a, first(bal, { headers = { ["X-User"] = "alice" }, client_ip = "192.0.2." .. i }))
      end
      local b = first(bal, { client_ip = "192.0.2.99" })
      for _ = 1, 5 do assert.equal(b, first(bal, { client_ip = "192.0.2.99" })) end
    end)

    it("hashes a query argument and the consumer", function()
      local bal = new(three { hash_on = "query_arg", hash_on_query_arg = "k" })
      local a = first(bal, { query = "x=1&k=abc" })
      assert.equal(a, first(bal, { query = "k=abc" }))
      bal = new(three { hash_on = "consumer" })
      local c = first(bal, { ctx = { consumer = { id = "c-42" } } })
      for _ = 1, 5 do assert.equal(c, first(bal, { ctx = { consumer = { id = "c-42" } } })) end
    end)

    it("hands out a cookie when the request has none, and sticks to it", function()
      local bal = new(three { hash_on = "cookie", hash_on_cookie = "tp", hash_on_cookie_path = "/" })
      local list, _, done, r = request(bal)
      done()
      local set = B.resp_get_header(r, "Set-Cookie")
      local value = set:match("^tp=(%x+); Path=/$")
      assert.truthy(value)
      for _ = 1, 5 do
        assert.equal(list[1].host .. ":80",
          first(bal, { headers = { Cookie = "a=b; tp=" .. value } }))
      end
    end)

    it("falls over to the next target on the ring when the owner is open", function()
      local bal = new(passive(three { hash_on = "ip" }, { tcp_failures = 1 }))
      local req = { client_ip = "203.0.113.5" }
      local owner = first(bal, req)
      local _, _, done = request(bal, req, function() return { { target = 0, outcome = 1 } } end)
      done()
      local next1 = first(bal, req)
      assert.are_not.equal(owner, next1)
      for _ = 1, 5 do assert.equal(next1, first(bal, req)) end
    end)
  end)

  describe("passive health (breaker per target)", function()
    it("ejects a target after tcp_failures consecutive connect failures", function()
      local bal = new(passive(upstream(), { tcp_failures = 2 }))
      -- two requests whose first choice was 10.0.0.1 failed to connect there
      for _ = 1, 4 do -- two of them try 10.0.0.1 first
        local _, _, done = request(bal, nil, first_is_dead)
        done()
      end
      for _ = 1, 6 do
        local t, _, list = first(bal)
        assert.equal("10.0.0.2:80", t)
        assert.equal(1, #list) -- no retry onto the open target either
      end
      local h = health_of(bal, "10.0.0.1:80")
      assert.equal("UNHEALTHY", h.health)
      assert.equal("open", h.state.state)
      assert.equal("HEALTHY", health_of(bal, "10.0.0.2:80").health)
    end)

    it("counts listed statuses as http failures and others as successes", function()
      local bal = new(passive(upstream(), { http_failures = 2 }))
      local function hit(status)
        local list, _, done = request(bal, nil, nil, status)
        done()
        return list[1].host
      end
      -- a 404 between two 500s resets the count
      local seen500 = {}
      for _ = 1, 2 do seen500[hit(500)] = true end -- one 500 on each target
      hit(404); hit(404)
      assert.equal("HEALTHY", health_of(bal, "10.0.0.1:80").health)
      for _ = 1, 4 do hit(503) end -- two consecutive failures on each
      assert.equal("UNHEALTHY", health_of(bal, "10.0.0.1:80").health)
      assert.equal("UNHEALTHY", health_of(bal, "10.0.0.2:80").health)
    end)

    it("answers nil and the seconds to wait when every target is open", function()
      local bal = new(passive(upstream(), { timeouts = 1 }))
      local _, _, done = request(bal, nil, function()
        return { { target = 0, outcome = 2 }, { target = 1, outcome = 2 } }
      end)
      done()
      B.clock:advance(1200)
      local list, retry = bal:targets({}, SERVICE, B.request {})
      assert.is_nil(list)
      assert.equal(4, retry) -- 5000 ms open, 1200 gone: 3.8 s rounds up
    end)

    it("readmits a target after open_ms through one half-open probe", function()
      local bal = new(passive(upstream(), { tcp_failures = 1 }))
      local _, _, done = request(bal, nil, tcp_fail_first)
      done()
      local open = health_of(bal, "10.0.0.1:80").health == "UNHEALTHY" and "10.0.0.1" or "10.0.0.2"
      B.clock:advance(5000)
      assert.equal("HALF_OPEN", health_of(bal, open .. ":80").health)
      -- while the probe is in flight the target takes no other request
      local probe, probe_done
      for _ = 1, 3 do
        local list, _, d = request(bal)
        if list[1].host == open then
          assert.is_nil(probe, "a second probe was let through")
          probe, probe_done = list, d
        else
          for _, t in ipairs(list) do assert.are_not.equal(open, t.host) end
          d()
        end
      end
      assert.truthy(probe)
      probe_done()
      assert.equal("HEALTHY", health_of(bal, open .. ":80").health)
      local seen = {}
      for _ = 1, 4 do seen[first(bal)] = true end
      assert.is_true(seen[open .. ":80"])
    end)

    it("reopens for twice as long when the probe fails", function()
      local bal = new(passive(upstream(), { tcp_failures = 1 }))
      local function fail_all()
        return { { target = 0, outcome = 1 }, { target = 1, outcome = 1 } }
      end
      local _, _, done = request(bal, nil, fail_all)
      done()
      B.clock:advance(5000)
      local list, _, d = request(bal, nil, function() return { { target = 0, outcome = 1 } } end)
      assert.truthy(list)
      d()
      local h = health_of(bal, list[1].host .. ":80")
      assert.equal("UNHEALTHY", h.health)
      assert.equal(10000, h.state.retry_after_ms)
    end)

    it("keeps no breaker state when health checks are off", function()
      local bal = new(upstream())
      for _ = 1, 5 do
        local _, _, done = request(bal, nil, tcp_fail_first)
        done()
      end
      for _, h in ipairs(bal:health("up1")) do
        assert.equal("HEALTHY", h.health)
        assert.equal(0, h.state.tcp_failures)
      end
    end)
  end)
end)

describe("turnpike.healthcheck", function()
  before_each(function()
    B.reset()
    assert(shm.flush("kv"))
    assert(shm.flush("breaker"))
  end)

  local function active(u, healthy, unhealthy)
    for k, v in pairs(healthy or {}) do u.healthchecks.active.healthy[k] = v end
    for k, v in pairs(unhealthy or {}) do u.healthchecks.active.unhealthy[k] = v end
    return u
  end

  local function checker_of(u)
    local bal = new(u)
    local up = bal:upstream("up1")
    local hc = healthcheck.new { upstreams = { up }, backend = B, http = HTTP }
    return hc, up, bal
  end

  -- run a check inside a coroutine, as the timer would
  local function check(hc, up, t)
    local co = coroutine.create(function() return hc:check(up, t) end)
    local res
    repeat res = { coroutine.resume(co) } until coroutine.status(co) == "dead"
    assert(res[1], res[2])
    return res[2], res[3]
  end

  it("classifies probe answers", function()
    local hc, up = checker_of(active(upstream(), { interval = 1 }))
    local t1, t2 = up.targets[1], up.targets[2]
    B.fake_http("10%.0%.0%.1:80/status", { status = 500, headers = {}, body = "" })
    B.fake_http("10%.0%.0%.2:80/status", { status = 200, headers = {}, body = "ok" })
    assert.equal("http_failure", check(hc, up, t1))
    assert.equal("success", check(hc, up, t2))
    assert.equal("http://10.0.0.2:80/status", B.http_calls[2].url)
    assert.equal(1000, B.http_calls[2].opts.timeout_ms)
    B.clock:advance(1000)
    B.fake_http("10%.0%.0%.1", { status = 418, headers = {}, body = "" })
    local o, why = check(hc, up, t1)
    assert.is_nil(o)
    assert.matches("neither", why)
    B.clock:advance(1000)
    B.fake_http("10%.0%.0%.1", function() return nil, "timeout" end)
    assert.equal("timeout", check(hc, up, t1))
    B.clock:advance(1000)
    B.fake_http("10%.0%.0%.1", function() return nil, "connection refused" end)
    assert.equal("tcp_failure", check(hc, up, t1))
  end)

  it("probes each target once per interval", function()
    local hc, up = checker_of(active(upstream(), { interval = 2 }))
    B.fake_http("/status", { status = 200, headers = {}, body = "" })
    assert.equal("success", check(hc, up, up.targets[1]))
    local o, why = check(hc, up, up.targets[1]) -- another worker's timer, same round
    assert.is_nil(o)
    assert.matches("another worker", why)
    B.clock:advance(2000)
    assert.equal("success", check(hc, up, up.targets[1]))
    assert.equal(2, #B.http_calls)
  end)

  it("opens the breaker after unhealthy.http_failures and closes it after healthy.successes",
    function()
    local u = active(upstream(), { interval = 1, successes = 2 }, { interval = 1, http_failures = 2 })
    local hc, up, bal = checker_of(u)
    local t = up.targets[1]
    local status = 500
    B.fake_http("10%.0%.0%.1", function() return { status = status, headers = {}, body = "" } end)
    check(hc, up, t)
    assert.equal("HEALTHY", health_of(bal, "10.0.0.1:80").health)
    B.clock:advance(1000)
    check(hc, up, t)
    assert.equal("UNHEALTHY", health_of(bal, "10.0.0.1:80").health)
    B.clock:advance(1000)
    local o, why = check(hc, up, t)
    assert.is_nil(o)
    assert.equal("open", why) -- nothing to learn while open
    for _ = 1, 4 do assert.equal("10.0.0.2:80", first(bal)) end
    B.clock:advance(4000)
    status = 200
    assert.equal("success", check(hc, up, t)) -- the half-open trial
    assert.equal("HALF_OPEN", health_of(bal, "10.0.0.1:80").health)
    B.clock:advance(1000)
    assert.equal("success", check(hc, up, t))
    assert.equal("HEALTHY", health_of(bal, "10.0.0.1:80").health)
  end)

  it("reports nothing, and logs once, when the http client itself fails", function()
    local u = active(upstream(), { interval = 1 }, { tcp_failures = 1 })
    local up = new(u):upstream("up1")
    local broken = { request_uri = function() error("no outbound http") end }
    local hc = healthcheck.new { upstreams = { up }, backend = B, http = broken }
    for _ = 1, 2 do
      local o, why = check(hc, up, up.targets[1])
      assert.is_nil(o)
      assert.matches("no outbound http", why)
      B.clock:advance(1000)
    end
    assert.equal(1, #B.logs)
    assert.equal("closed", shm.breaker_state(up.targets[1].key, B.now_ms()).state)
  end)

  it("does not probe healthy targets when healthy.interval is 0", function()
    local hc, up = checker_of(active(upstream(), { interval = 0 }, { interval = 1 }))
    local o = check(hc, up, up.targets[1])
    assert.is_nil(o)
    assert.equal(0, #B.http_calls)
  end)

  it("runs on timers, one per target", function()
    if not B.timer_start then pending("the fake backend has no timers") return end
    local timer = require("turnpike.sdk.timer").new(B)
    B.fake_http("/status", { status = 503, headers = {}, body = "" })
    local bal = new(active(upstream(), { interval = 1 }, { http_failures = 1 }), { timer = timer })
    B.clock:advance(1000)
    assert.equal(2, B.run_timers())
    assert.equal(2, #B.http_calls)
    assert.equal("UNHEALTHY", health_of(bal, "10.0.0.1:80").health)
    assert.equal("UNHEALTHY", health_of(bal, "10.0.0.2:80").health)
    local list, retry = bal:targets({}, SERVICE, B.request {})
    assert.is_nil(list)
    assert.equal(5, retry)
  end)
end)
