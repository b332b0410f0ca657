-- Upstream health against the real binary (2 workers): passive checks eject a dead target
-- and readmit it after open_ms, all targets down gives a fast 503, the admin API shows the
-- states; active probes eject a target that fails its health endpoint with no traffic.
local helpers = require "spec.helpers"

local OPEN_MS = 2000
local ERR_NO_PEER = "failure to get a peer from the ring-balancer"

-- a mock target that names itself in the body
local function target(name, port, health_status)
  return helpers.mock_upstream { port = port, handler = function(req)
    if req.path == "/health" then return { status = health_status or 200, body = "health" } end
    return { status = 200, headers = { ["Content-Type"] = "text/plain" }, body = name }
  end }
end

local function get(gw, path)
  return assert(helpers.http(gw.proxy_port, { path = path or "/pool/x", timeout_ms = 5000 }))
end

local function health(gw, name)
  local res = assert(gw:admin { path = "/upstreams/" .. (name or "pool") .. "/health" })
  assert.equal(200, res.status)
  local by = {}
  for _, t in ipairs(res:json().data) do by[t.target] = t end
  return by
end

local function gateway(a_port, b_port, healthchecks, retries)
  return helpers.start_turnpike { workers = 2, config = {
    turnpike = { workers = 2 },
    services = { { name = "pooled", host = "pool", port = 80, protocol = "http",
                   retries = retries or 0, connect_timeout = 3000,
                   routes = { { name = "pooled", paths = { "/pool" } } } } },
    upstreams = { { name = "pool", healthchecks = healthchecks, targets = {
      { target = "127.0.0.1:" .. a_port, weight = 100 },
      { target = "127.0.0.1:" .. b_port, weight = 100 },
    } } },
  } }
end

describe("Upstream health (passive, circuit breaker)", function()
  local a, b, gw, a_port, b_port

  lazy_setup(function()
    a, b = target("A"), target("B")
    a_port, b_port = a.port, b.port
    gw = gateway(a_port, b_port, {
      passive = { unhealthy = { tcp_failures = 2, http_failures = 3 } },
      breaker = { open_ms = OPEN_MS, max_open_ms = OPEN_MS },
    })
  end)

  lazy_teardown(helpers.cleanup)

  it("balances over both targets while they are up", function()
    local seen = {}
    for _ = 1, 10 do
      local res = get(gw)
      assert.equal(200, res.status)
      seen[res.body] = true
    end
    assert.is_true(seen.A and seen.B)
    for _, t in pairs(health(gw)) do assert.equal("HEALTHY", t.health) end
  end)

  it("ejects a target after tcp_failures failed connects, then sends all traffic to the other",
    function()
    a:stop()
    local failures = 0
    helpers.wait_until(function()
      local res = get(gw)
      if res.status == 502 then failures = failures + 1 end
      return health(gw)["127.0.0.1:" .. a_port].health == "UNHEALTHY"
    end, 5, "target A ejected")
    -- 2 reported failures trip it; a stale pooled connection or the other worker's request
    -- still in its log phase can add a couple more 502s, never a stream of them
    assert.is_true(failures >= 1 and failures <= 6, failures .. " 502s before the ejection")
    local t0 = helpers.now_ms()
    for _ = 1, 20 do
      local res = get(gw)
      assert.equal(200, res.status)
      assert.equal("B", res.body)
    end
    assert.is_true(helpers.now_ms() - t0 < OPEN_MS, "took too long to be meaningful")
    local h = health(gw)
    local ha = h["127.0.0.1:" .. a_port]
    assert.equal("open", ha.state.state)
    assert.is_true(ha.state.retry_after_ms > 0 and ha.state.retry_after_ms <= OPEN_MS)
    assert.equal("HEALTHY", h["127.0.0.1:" .. b_port].health)
  end)

  it("readmits the target after open_ms once it is back", function()
    a = target("A", a_port)
    local back = helpers.wait_until(function()
      local res = get(gw)
      return res.status == 200 and res.body == "A" and helpers.now_ms()
    end, OPEN_MS / 1000 + 5, "target A readmitted")
    assert.truthy(back)
    helpers.wait_until(function()
      return health(gw)["127.0.0.1:" .. a_port].health == "HEALTHY"
    end, 5, "target A healthy")
    local seen = {}
    for _ = 1, 10 do seen[get(gw).body] = true end
    assert.is_true(seen.A and seen.B)
  end)

  describe("with every target down", function()
    local res, took

    lazy_setup(function()
      a:stop()
      b:stop()
      helpers.wait_until(function()
        local h = health(gw)
        return h["127.0.0.1:" .. a_port].health == "UNHEALTHY"
          and h["127.0.0.1:" .. b_port].health == "UNHEALTHY"
          or (get(gw) and false)
      end, 5, "both targets ejected")
      local t0 = helpers.now_ms()
      res = get(gw)
      took = helpers.now_ms() - t0
    end)

    it("answers 503 JSON at once, without trying to connect", function()
      assert.equal(503, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.equal(ERR_NO_PEER, res:json().message)
      assert.is_true(took < 500, "503 took " .. took .. " ms (connect_timeout 3000)")
    end)

    it("says when to retry", function()
      local ra = res.headers["retry-after"]
      if not ra then
        pending("worker.lua does not pass targets()' retry_after_s on as Retry-After yet")
        return
      end
      ra = tonumber(ra)
      assert.is_true(ra ~= nil and ra >= 1 and ra <= math.ceil(OPEN_MS / 1000), "Retry-After " .. tostring(ra))
    end)

    it("shows both targets unhealthy on the admin API", function()
      local h = health(gw)
      for _, port in ipairs { a_port, b_port } do
        local t = h["127.0.0.1:" .. port]
        assert.equal("UNHEALTHY", t.health)
        assert.equal(100, t.weight)
        assert.is_true(t.state.trips >= 1)
      end
    end)
  end)
end)

describe("Upstream health (active checks)", function()
  local gw, a_port, b_port

  lazy_setup(function()
    local a = target("A", nil, 500) -- serves traffic, but its health endpoint fails
    local b = target("B")
    a_port, b_port = a.port, b.port
    gw = gateway(a_port, b_port, {
      active = { http_path = "/health", timeout = 1,
        healthy = { interval = 0.2, successes = 1 },
        unhealthy = { interval = 0.2, http_failures = 2 } },
      breaker = { open_ms = 60000 },
    })
  end)

  lazy_teardown(helpers.cleanup)

  it("ejects a target whose health endpoint fails, with no client traffic", function()
    local ok = pcall(helpers.wait_until, function()
      return health(gw)["127.0.0.1:" .. a_port].health == "UNHEALTHY"
    end, 3, "target A ejected by active checks")
    if not ok then
      local logs = gw:logs()
      if logs:find("active health checks not started", 1, true) or
         logs:find("active health check probe error", 1, true) then
        pending("turnpike.http is not wired to the C client in this build")
        return
      end
      error("target A was not ejected by active checks; log tail:\n" .. logs:sub(-2000))
    end
    assert.equal("HEALTHY", health(gw)["127.0.0.1:" .. b_port].health)
    for _ = 1, 10 do
      local res = get(gw)
      assert.equal(200, res.status)
      assert.equal("B", res.body)
    end
  end)
end)
