-- rate-limiting in unit mode (turnpike.spec over the fake backend, the fake clock, the node's
-- shared memory for the "local" policy and a fake Redis for the "redis" policy).
local tp = require "turnpike.spec"
local redis_policy = require "kong.plugins.rate-limiting.policies.redis"

-- 2023-11-14 23:00:00 UTC: an hour (and minute, and second) boundary.
local T0 = 1700002800000
-- 2023-12-01 00:00:00 UTC: the next calendar month.
local NEXT_MONTH = 1701388800000

local function run(conf, req)
  req = req or {}
  req.path = req.path or "/x"
  return tp.run_plugin("rate-limiting", conf, req)
end

local function at(ms) tp.clock:set(ms) end

local function h(res, name)
  local v = res.headers[name]
  return v ~= nil and tostring(v) or nil
end

local function statuses(n, conf, req)
  local out = {}
  for i = 1, n do out[i] = run(conf, req).status end
  return table.concat(out, " ")
end

-- The policy script over the fake store, as Redis would run it.
local function fake_script(store, nkeys, ...)
  local a = { ... }
  local n = tonumber(nkeys)
  local cost = tonumber(a[n + 1])
  local out = { 1 }
  for i = 1, n do
    local c = tonumber(store.commands.get(store, a[i])) or 0
    out[i + 1] = c
    if c + cost > tonumber(a[n + 1 + i]) then out[1] = 0 end
  end
  if out[1] == 1 then
    for i = 1, n do
      out[i + 1] = store.commands.incrby(store, a[i], cost)
      if out[i + 1] == cost then store.commands.pexpire(store, a[i], a[2 * n + 1 + i]) end
    end
  end
  return out
end

-- A fake Redis that knows the script once EVAL ran it (as a real one does).
local function fake_redis_with_script()
  local loaded = false
  tp.fake_redis {
    evalsha = function(store, sha, nkeys, ...)
      if sha ~= redis_policy.SCRIPT_SHA then return nil, "ERR bad sha" end
      if not loaded then return nil, "NOSCRIPT No matching script. Please use EVAL." end
      return fake_script(store, nkeys, ...)
    end,
    eval = function(store, script, nkeys, ...)
      assert.equal(redis_policy.SCRIPT, script)
      loaded = true
      return fake_script(store, nkeys, ...)
    end,
  }
  return function() loaded = false end
end

local function commands()
  local out = {}
  for i, c in ipairs(tp.backend.redis_calls) do out[i] = c.cmd end
  return table.concat(out, " ")
end

local function err_logs(res_list)
  local n = 0
  for _, res in ipairs(res_list) do
    for _, l in ipairs(res.logs) do if l.level == "err" then n = n + 1 end end
  end
  return n
end

describe("Plugin: rate-limiting (access)", function()
  before_each(function()
    tp.reset()
    at(T0 + 20500)
  end)

  describe("windows", function()
    it("lets exactly the limit through, then 429, without counting the 429s", function()
      local conf = { second = 2, minute = 5, limit_by = "ip" }
      assert.equal("200 200 429 429 429", statuses(5, conf))
      at(T0 + 21500)
      -- the three refused requests counted nowhere: the minute has 2 of 5
      assert.equal("200 200 429", statuses(3, conf))
      at(T0 + 22500)
      assert.equal("200 429 429", statuses(3, conf))
      at(T0 + 23500)
      local res = run(conf)
      assert.equal(429, res.status)
      assert.same({ message = "API rate limit exceeded" }, res.body)
      assert.matches("^application/json", res.headers["content-type"])
      assert.is_nil(res.upstream)
      at(T0 + 60000)
      assert.equal("200 200 429", statuses(3, conf))
    end)

    it("sends X-RateLimit-*-<Window> for every window and RateLimit-* for the tightest", function()
      local conf = { second = 5, minute = 10, hour = 100, limit_by = "ip" }
      local res = run(conf)
      assert.equal(200, res.status)
      assert.equal("5", h(res, "X-RateLimit-Limit-Second"))
      assert.equal("4", h(res, "X-RateLimit-Remaining-Second"))
      assert.equal("10", h(res, "X-RateLimit-Limit-Minute"))
      assert.equal("9", h(res, "X-RateLimit-Remaining-Minute"))
      assert.equal("100", h(res, "X-RateLimit-Limit-Hour"))
      assert.equal("99", h(res, "X-RateLimit-Remaining-Hour"))
      assert.is_nil(h(res, "X-RateLimit-Limit-Day"))
      -- the second has the least left
      assert.equal("5", h(res, "RateLimit-Limit"))
      assert.equal("4", h(res, "RateLimit-Remaining"))
      assert.equal("1", h(res, "RateLimit-Reset"))
      assert.is_nil(h(res, "Retry-After"))
      for s = 1, 8 do
        at(T0 + 20500 + s * 1000)
        assert.equal(200, run(conf).status)
      end
      -- 9 of 10 in the minute: the minute is the tightest now, 30.5 s before its end
      at(T0 + 29500)
      res = run(conf)
      assert.equal("0", h(res, "X-RateLimit-Remaining-Minute"))
      assert.equal("4", h(res, "X-RateLimit-Remaining-Second"))
      assert.equal("10", h(res, "RateLimit-Limit"))
      assert.equal("0", h(res, "RateLimit-Remaining"))
      assert.equal("31", h(res, "RateLimit-Reset"))
      -- the upstream's answer carries the headers too
      assert.equal(200, res.status)
      assert.is_table(res.upstream)
    end)

    it("gives the exact Retry-After to the end of the full window", function()
      local conf = { minute = 2, limit_by = "ip" }
      assert.equal("200 200", statuses(2, conf))
      local res = run(conf)
      assert.equal(429, res.status)
      assert.equal("40", h(res, "Retry-After")) -- 39.5 s left, rounded up
      assert.equal("40", h(res, "RateLimit-Reset"))
      assert.equal("0", h(res, "RateLimit-Remaining"))
      assert.equal("2", h(res, "RateLimit-Limit"))
      assert.equal("0", h(res, "X-RateLimit-Remaining-Minute"))
      at(T0 + 58000)
      assert.equal("2", h(run(conf), "Retry-After"))
      at(T0 + 59999)
      assert.equal("1", h(run(conf), "Retry-After"))
      at(T0 + 60000)
      res = run(conf)
      assert.equal(200, res.status)
      assert.equal("1", h(res, "X-RateLimit-Remaining-Minute"))
      assert.equal("60", h(res, "RateLimit-Reset"))
    end)

    it("waits for the longest of the full windows, not for one with room left", function()
      local conf = { second = 1, minute = 3, limit_by = "ip" }
      assert.equal(200, run(conf).status)
      local res = run(conf)
      assert.equal("1", h(res, "Retry-After")) -- the minute still has room
      assert.equal("2", h(res, "X-RateLimit-Remaining-Minute"))
      assert.equal("0", h(res, "X-RateLimit-Remaining-Second"))
      at(T0 + 21500)
      assert.equal(200, run(conf).status)
      at(T0 + 22500)
      assert.equal(200, run(conf).status)
      res = run(conf) -- both full: the minute decides
      assert.equal(429, res.status)
      assert.equal("38", h(res, "Retry-After"))
      assert.equal("38", h(res, "RateLimit-Reset"))
    end)

    it("counts hours and calendar months (UTC) to their boundary", function()
      at(T0 + 3599200)
      local conf = { hour = 1, month = 5, limit_by = "ip" }
      assert.equal(200, run(conf).status)
      local res = run(conf)
      assert.equal("1", h(res, "Retry-After"))
      tp.reset()
      at(T0)
      local month = { month = 1, limit_by = "ip" }
      assert.equal(200, run(month).status)
      res = run(month)
      assert.equal(429, res.status)
      assert.equal(tostring((NEXT_MONTH - T0) / 1000), h(res, "Retry-After"))
      assert.equal("1", h(res, "X-RateLimit-Limit-Month"))
      at(NEXT_MONTH)
      assert.equal(200, run(month).status)
    end)
  end)

  describe("config.limit_by", function()
    local consumers = function()
      return { { id = "c-alice", username = "alice" }, { id = "c-bob", username = "bob" } }
    end

    it("consumer: one counter per consumer, the client IP without one", function()
      local conf = { minute = 2 }
      local alice = { consumers = consumers(), consumer = "alice" }
      assert.equal("200 200 429", statuses(3, conf, alice))
      assert.equal("200 200 429", statuses(3, conf, { consumers = consumers(), consumer = "bob" }))
      -- anonymous clients fall back to their IP, each its own counter
      assert.equal("200 200 429", statuses(3, conf, { client_ip = "10.0.0.1" }))
      assert.equal("200 200 429", statuses(3, conf, { client_ip = "10.0.0.2" }))
    end)

    it("credential: one counter per credential, the client IP without one", function()
      local conf = { minute = 2, limit_by = "credential" }
      local function as(cred) return { consumers = consumers(), consumer = "alice",
                                       credential = { id = cred } } end
      assert.equal("200 200 429", statuses(3, conf, as("k1")))
      assert.equal("200 200 429", statuses(3, conf, as("k2")))
      -- authenticated without a credential: by IP
      assert.equal("200 200 429", statuses(3, conf, { consumers = consumers(),
                                                      consumer = "bob", client_ip = "10.0.0.3" }))
    end)

    it("ip: one counter per client address", function()
      local conf = { minute = 1, limit_by = "ip" }
      assert.equal("200 429", statuses(2, conf, { client_ip = "10.0.0.1" }))
      assert.equal("200 429", statuses(2, conf, { client_ip = "10.0.0.2",
                                                  consumers = consumers(), consumer = "alice" }))
    end)

    it("service: one counter per service, whoever calls", function()
      local conf = { minute = 2, limit_by = "service" }
      local s1 = { id = "svc-1", name = "one", host = "a", port = 80, protocol = "http" }
      local s2 = { id = "svc-2", name = "two", host = "b", port = 80, protocol = "http" }
      assert.equal(200, run(conf, { service = s1, client_ip = "10.0.0.1" }).status)
      assert.equal(200, run(conf, { service = s1, client_ip = "10.0.0.2" }).status)
      assert.equal(429, run(conf, { service = s1, client_ip = "10.0.0.3" }).status)
      assert.equal(200, run(conf, { service = s2, client_ip = "10.0.0.3" }).status)
    end)

    it("header: one counter per header value, the client IP without it", function()
      local conf = { minute = 1, limit_by = "header", header_name = "X-Tenant" }
      assert.equal("200 429", statuses(2, conf, { headers = { ["X-Tenant"] = "a" },
                                                  client_ip = "10.0.0.1" }))
      assert.equal(429, run(conf, { headers = { ["x-tenant"] = "a" },
                                    client_ip = "10.0.0.2" }).status)
      assert.equal(200, run(conf, { headers = { ["X-Tenant"] = "b" } }).status)
      assert.equal("200 429", statuses(2, conf, { client_ip = "10.0.0.9" }))
      assert.equal(200, run(conf, { client_ip = "10.0.0.8" }).status)
    end)

    it("path: one counter for the configured path, the client IP for other paths", function()
      local conf = { minute = 1, limit_by = "path", path = "/a" }
      assert.equal(200, run(conf, { path = "/a", client_ip = "10.0.0.1" }).status)
      assert.equal(429, run(conf, { path = "/a", client_ip = "10.0.0.2" }).status)
      assert.equal(200, run(conf, { path = "/b", client_ip = "10.0.0.1" }).status)
      assert.equal(429, run(conf, { path = "/c", client_ip = "10.0.0.1" }).status)
      assert.equal(200, run(conf, { path = "/c", client_ip = "10.0.0.2" }).status)
    end)
  end)

  describe("config.hide_client_headers", function()
    it("sends no rate-limit headers, and only Retry-After with a 429", function()
      local conf = { minute = 1, limit_by = "ip", hide_client_headers = true }
      local res = run(conf)
      assert.equal(200, res.status)
      for name in pairs(res.headers) do
        assert.is_nil(name:lower():find("ratelimit", 1, true), name)
      end
      res = run(conf)
      assert.equal(429, res.status)
      assert.equal("40", h(res, "Retry-After"))
      for name in pairs(res.headers) do
        assert.is_nil(name:lower():find("ratelimit", 1, true), name)
      end
    end)
  end)

  describe("config.error_code and config.error_message", function()
    it("answer a refused request", function()
      local conf = { second = 1, limit_by = "ip", error_code = 503, error_message = "slow down" }
      assert.equal(200, run(conf).status)
      local res = run(conf)
      assert.equal(503, res.status)
      assert.same({ message = "slow down" }, res.body)
      assert.equal("1", h(res, "Retry-After"))
    end)
  end)

  describe("config.policy = redis", function()
    local conf = { minute = 3, second = 2, limit_by = "ip", policy = "redis",
                   redis = { host = "127.0.0.1", port = 6379, database = 3 } }

    it("checks every window with one EVALSHA per request, EVAL after NOSCRIPT", function()
      local unload = fake_redis_with_script()
      assert.equal("200 200 429", statuses(3, conf))
      -- the first one found no script, the others ran it by its SHA; no SELECT per request
      assert.equal("evalsha eval evalsha evalsha", commands())
      local res = run(conf)
      assert.equal("0", h(res, "X-RateLimit-Remaining-Second"))
      assert.equal("1", h(res, "X-RateLimit-Remaining-Minute"))
      unload() -- SCRIPT FLUSH, or a restarted Redis
      at(T0 + 21500)
      tp.backend.redis_calls = {}
      res = run(conf)
      assert.equal(200, res.status)
      assert.equal("0", h(res, "X-RateLimit-Remaining-Minute"))
      assert.equal("evalsha eval", commands())
      assert.equal(429, run(conf).status)
    end)

    it("connects with the database and the longest of Kong's timeouts", function()
      local seen
      fake_redis_with_script()
      tp.fake_redis { connect = function(_, opts) seen = opts; return true end }
      local c = { minute = 3, limit_by = "ip", policy = "redis",
                  redis = { host = "10.1.1.1", port = 6380, database = 3, password = "pw",
                            connect_timeout = 100, read_timeout = 700 } }
      assert.equal(200, run(c).status)
      assert.equal("10.1.1.1", seen.host)
      assert.equal(6380, seen.port)
      assert.equal(3, seen.database)
      assert.equal("pw", seen.password)
      assert.equal(700, seen.timeout_ms)
      c.redis.connect_timeout, c.redis.read_timeout = nil, nil
      run(c)
      assert.equal(2000, seen.timeout_ms)
    end)

    it("refuses ssl and ACL users it cannot honour, rather than ignoring them", function()
      fake_redis_with_script()
      for _, extra in ipairs({ { ssl = true }, { username = "app" } }) do
        local c = { minute = 3, limit_by = "ip", policy = "redis", fault_tolerant = false,
                    redis = { host = "127.0.0.1", port = 6379 } }
        for k, v in pairs(extra) do c.redis[k] = v end
        local res = run(c)
        assert.equal(500, res.status)
        assert.matches("not supported", res.logs[1].msg, 1, true)
      end
      local ok = run({ minute = 3, limit_by = "ip", policy = "redis",
                       redis = { host = "127.0.0.1", port = 6379, username = "default" } })
      assert.equal("2", h(ok, "X-RateLimit-Remaining-Minute"))
    end)

    it("names the script by the SHA-1 Redis gives it", function()
      assert.equal(40, #redis_policy.SCRIPT_SHA)
      assert.equal("da39a3ee5e6b4b0d3255bfef95601890afd80709",
                   require("turnpike.config").sha1_hex(""))
    end)
  end)

  describe("config.fault_tolerant", function()
    local function failing(how)
      tp.fake_redis {
        connect = function()
          if how == "raise" then error("driver exploded") end
          return nil, "connection refused"
        end,
      }
    end
    local base = { minute = 1, limit_by = "ip", policy = "redis",
                   redis = { host = "127.0.0.1", port = 1 } }

    for _, how in ipairs({ "fail", "raise" }) do
      it("lets requests through when the policy cannot count (" .. how .. "), logging once per"
        .. " interval", function()
        failing(how)
        local list = {}
        for i = 1, 5 do
          list[i] = run(base)
          assert.equal(200, list[i].status)
          assert.is_nil(h(list[i], "X-RateLimit-Limit-Minute"))
          at(T0 + 20500 + i * 1000)
        end
        assert.equal(1, err_logs(list))
        assert.matches("failed to get usage: .*" .. (how == "raise" and "driver exploded"
          or "connection refused"), list[1].logs[1].msg)
        assert.matches("1 request let through", list[1].logs[1].msg, 1, true)
        at(T0 + 30500) -- 10 s after the first report
        local res = run(base)
        assert.equal(1, err_logs({ res }))
        assert.matches("5 requests let through", res.logs[1].msg, 1, true)
        at(T0 + 31000)
        assert.equal(0, err_logs({ run(base) }))
      end)
    end

    it("answers 500 without fault_tolerant", function()
      failing("fail")
      local conf = {}
      for k, v in pairs(base) do conf[k] = v end
      conf.fault_tolerant = false
      local res = run(conf)
      assert.equal(500, res.status)
      assert.same({ message = "An unexpected error occurred" }, res.body)
      assert.is_nil(res.upstream)
      assert.equal(1, err_logs({ res }))
      assert.matches("connection refused", res.logs[1].msg, 1, true)
      failing("raise")
      assert.equal(500, run(conf).status)
    end)
  end)

  describe("config.rate and config.burst", function()
    it("with nodelay: burst + 1 at once, then 429 with the exact Retry-After", function()
      local conf = { rate = 5, burst = 5, nodelay = true, limit_by = "ip" }
      local t = tp.clock.now
      assert.equal("200 200 200 200 200 200 429", statuses(7, conf))
      assert.equal(t, tp.clock.now) -- nothing waited
      local res = run(conf)
      assert.equal(429, res.status)
      assert.equal("1", h(res, "Retry-After"))
      assert.equal("6", h(res, "RateLimit-Limit"))
      assert.equal("0", h(res, "RateLimit-Remaining"))
      at(t + 199)
      assert.equal(429, run(conf).status)
      at(t + 200) -- one token back
      assert.equal("200 429", statuses(2, conf))
    end)

    it("without nodelay: requests within the burst are delayed to the rate, not refused", function()
      local conf = { rate = 5, burst = 5, limit_by = "ip" }
      local t = tp.clock.now
      local delays = {}
      for i = 1, 6 do
        at(t) -- all arrive at once
        local res = run(conf)
        assert.equal(200, res.status)
        delays[i] = tp.clock.now - t
      end
      assert.same({ 0, 200, 400, 600, 800, 1000 }, delays)
      at(t)
      local res = run(conf)
      assert.equal(429, res.status)
      assert.equal("1", h(res, "Retry-After"))
      assert.equal(t, tp.clock.now)
      -- sequential clients at the rate never wait
      at(t + 2000)
      for _ = 1, 3 do
        local before = tp.clock.now
        assert.equal(200, run(conf).status)
        at(before + 200)
      end
    end)

    it("tells the bucket's state when it is the only limit", function()
      local conf = { rate = 2, burst = 3, nodelay = true, limit_by = "ip" }
      local res = run(conf)
      assert.equal("4", h(res, "RateLimit-Limit"))
      assert.equal("3", h(res, "RateLimit-Remaining"))
      assert.equal("1", h(res, "RateLimit-Reset")) -- full again in 500 ms
      assert.equal("200 200", statuses(2, conf))
      res = run(conf)
      assert.equal("0", h(res, "RateLimit-Remaining"))
      assert.equal("2", h(res, "RateLimit-Reset")) -- 4 tokens at 2/s
      conf.hide_client_headers = true
      at(T0 + 30000)
      assert.is_nil(h(run(conf), "RateLimit-Limit"))
      -- with windows too, the windows' headers are the ones sent
      res = run({ rate = 2, burst = 3, minute = 10, limit_by = "ip" }, { client_ip = "10.0.0.7" })
      assert.equal("10", h(res, "RateLimit-Limit"))
    end)

    it("checks the bucket before the windows: a refused request counts nowhere", function()
      local conf = { rate = 1, burst = 0, nodelay = true, minute = 2, limit_by = "ip" }
      assert.equal("200 429 429", statuses(3, conf))
      at(T0 + 21500)
      local res = run(conf)
      assert.equal(200, res.status)
      assert.equal("0", h(res, "X-RateLimit-Remaining-Minute"))
      at(T0 + 22500)
      res = run(conf)
      assert.equal(429, res.status)
      assert.equal("38", h(res, "Retry-After"))
    end)
  end)
end)
