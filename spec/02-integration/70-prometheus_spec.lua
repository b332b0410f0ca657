-- The prometheus plugin against the real binary (2 workers): requests on three routes (a 200
-- from the service, a 503 from the service, a 401 made by the gateway) show up in the admin
-- API's GET /metrics with totals summed over both workers, cumulative histograms whose count
-- is their +Inf bucket, byte counters, upstream target health, and the same values after a
-- reload (SIGHUP), counting on from there.
local helpers = require "spec.helpers"

local N_OK, N_FAIL, N_DENIED = 24, 9, 5

local function config(up)
  local url = "http://127.0.0.1:" .. up.port
  return {
    services = {
      { name = "alpha", url = url, routes = { { name = "alpha-route", paths = { "/alpha" } } } },
      { name = "beta", url = url .. "/failing", routes = { { name = "beta-route", paths = { "/beta" } } } },
      { name = "gamma", url = url, routes = { { name = "gamma-route", paths = { "/gamma" } } },
        plugins = { { name = "key-auth" } } },
      { name = "pooled", host = "pool", port = 80, protocol = "http",
        routes = { { name = "pooled-route", paths = { "/pool" } } } },
    },
    upstreams = { { name = "pool", targets = { { target = "127.0.0.1:" .. up.port } } } },
    plugins = { { name = "prometheus", config = {
      status_code_metrics = true, latency_metrics = true, bandwidth_metrics = true,
      upstream_health_metrics = true, per_consumer = false } } },
  }
end

-- { [series] = value } from the exposition text
local function samples(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, 1) ~= "#" then
      local series, value = line:match("^(.-) (%S+)$")
      out[series] = tonumber(value)
    end
  end
  return out
end

local function status_series(service, code, source)
  return ('kong_http_requests_total{service="%s",route="%s-route",code="%d",source="%s",' ..
          'workspace="default",consumer=""}'):format(service, service, code, source)
end

local function hist(name, service, suffix)
  return ('%s_%s{service="%s",route="%s-route",workspace="default"}')
    :format(name, suffix, service, service)
end

local function requests_per_worker(gw)
  local out = {}
  for _, w in ipairs(assert(gw:status()).workers) do out[w.pid] = w.requests end
  return out
end

describe("Plugin: prometheus (integration, 2 workers)", function()
  local up, gw, metrics, sent_ok

  local function scrape()
    local res = assert(gw:admin { path = "/metrics" })
    assert.equal(200, res.status)
    assert.matches("^text/plain", res.headers["content-type"])
    return res.body, samples(res.body)
  end

  local function send(path, n, want)
    for _ = 1, n do
      local res = assert(helpers.http(gw.proxy_port, { path = path }))
      assert.equal(want, res.status)
    end
  end

  lazy_setup(function()
    up = helpers.mock_upstream { handler = function(req)
      if req.path:find("^/failing") then
        return { status = 503, headers = { ["Content-Type"] = "text/plain" }, body = "down" }
      end
      return { status = 200, headers = { ["Content-Type"] = "text/plain" }, body = "hello" }
    end }
    gw = helpers.start_turnpike { config = config(up), workers = 2 }
    local before = requests_per_worker(gw)
    send("/alpha", N_OK, 200)
    sent_ok = N_OK
    -- new connections usually spread over both workers; make sure they did
    helpers.wait_until(function()
      local now, busy = requests_per_worker(gw), 0
      for pid, n in pairs(now) do
        if n > (before[pid] or 0) + 1 then busy = busy + 1 end
      end
      if busy >= 2 then return true end
      send("/alpha", 1, 200)
      sent_ok = sent_ok + 1
      return false
    end, 20, "both workers serving /alpha")
    send("/beta", N_FAIL, 503)
    send("/gamma", N_DENIED, 401)
    send("/pool/x", 1, 200)
    local text
    text, metrics = scrape()
    assert(text:find("# TYPE kong_nginx_requests_total", 1, true),
           "GET /metrics lacks the prometheus exporter's output: lua/turnpike/admin.lua must " ..
           'append require("kong.plugins.prometheus.exporter").collect(S)')
  end)

  lazy_teardown(helpers.cleanup)

  it("counts each route's statuses over both workers", function()
    assert.equal(sent_ok, metrics[status_series("alpha", 200, "service")])
    assert.equal(N_FAIL, metrics[status_series("beta", 503, "service")])
    assert.equal(N_DENIED, metrics[status_series("gamma", 401, "exit")])
    assert.is_nil(metrics[status_series("alpha", 503, "service")])
  end)

  it("does not count admin API requests", function()
    local _, again = scrape()
    assert.equal(metrics[status_series("alpha", 200, "service")],
                 again[status_series("alpha", 200, "service")])
    for series in pairs(again) do
      assert.not_matches('route=""', series, 1, true)
    end
  end)

  it("keeps histograms cumulative, with count equal to the +Inf bucket", function()
    local checked = 0
    for series, v in pairs(metrics) do
      local name, labels = series:match("^(kong_[%w_]+_latency_ms)_count{(.*)}$")
      if name then
        local prev = 0
        for _, le in ipairs({ "1", "2", "5", "7", "10", "15", "20", "30", "50", "75", "100",
                              "200", "500", "750", "1000", "3000", "6000", "+Inf" }) do
          local b = metrics[name .. "_bucket{" .. labels .. ',le="' .. le .. '"}']
          assert.is_number(b, series .. " le=" .. le)
          assert.is_true(b >= prev, series .. " le=" .. le)
          prev = b
        end
        assert.equal(prev, v, series)
        assert.is_true(metrics[name .. "_sum{" .. labels .. "}"] >= 0)
        checked = checked + 1
      end
    end
    assert.is_true(checked >= 3)
    assert.equal(sent_ok, metrics[hist("kong_request_latency_ms", "alpha", "count")])
    assert.equal(N_FAIL, metrics[hist("kong_request_latency_ms", "beta", "count")])
    assert.equal(N_DENIED, metrics[hist("kong_kong_latency_ms", "gamma", "count")])
    assert.is_nil(metrics[hist("kong_upstream_latency_ms", "gamma", "count")])
  end)

  it("adds ingress and egress bytes per route", function()
    local fmt = 'kong_bandwidth_bytes{service="alpha",route="alpha-route",direction="%s",' ..
                'workspace="default",consumer=""}'
    -- at least the request line and the status line with the 5-byte body, per request
    assert.is_true(metrics[fmt:format("ingress")] >= sent_ok * #"GET /alpha HTTP/1.1\r\n")
    assert.is_true(metrics[fmt:format("egress")] >= sent_ok * (#"HTTP/1.1 200 OK\r\n" + 5))
  end)

  it("shows the upstream target's health and the node's request count", function()
    local target = "127.0.0.1:" .. up.port
    assert.equal(1, metrics[('kong_upstream_target_health{upstream="pool",target="%s",' ..
      'address="%s",state="healthchecks_off",subsystem="http"}'):format(target, target)])
    local node
    for series, v in pairs(metrics) do
      if series:match("^kong_nginx_requests_total{") then node = v end
    end
    assert.is_true(node >= sent_ok + N_FAIL + N_DENIED + 1)
  end)

  it("keeps every value across a reload (SIGHUP) and counts on", function()
    local _, before = scrape()
    assert(gw:reload())
    local _, after = scrape()
    for series, v in pairs(before) do
      if series:match("^kong_http_requests_total") or series:match("^kong_bandwidth_bytes")
         or series:match("_latency_ms_") then
        assert.equal(v, after[series], series)
      end
    end
    send("/alpha", 2, 200)
    -- a request counts in its log phase, which runs after its response is sent: under load
    -- the other worker may not have got there yet when the scrape arrives
    local key = status_series("alpha", 200, "service")
    local later
    helpers.wait_until(function()
      later = select(2, scrape())
      return later[key] == before[key] + 2
    end, 5, "both requests counted")
    assert.equal(before[key] + 2, later[key])
    assert.equal(before[hist("kong_request_latency_ms", "alpha", "count")] + 2,
                 later[hist("kong_request_latency_ms", "alpha", "count")])
  end)
end)
