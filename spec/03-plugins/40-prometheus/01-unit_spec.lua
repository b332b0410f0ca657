-- prometheus in unit mode: schema, the shared-memory metric store and the text exposition
-- (exporter.log / exporter.collect), and the handler over the fake backend.
local tp = require "turnpike.spec"

local plugin = tp.load_plugin("prometheus")
local exporter = require "kong.plugins.prometheus.exporter"

local ALL = { status_code_metrics = true, latency_metrics = true, bandwidth_metrics = true,
              per_consumer = true, upstream_health_metrics = true }

-- sample lines of the exposition as { [line without value] = value }
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

local function entry(opts)
  return {
    service = opts.service == nil and { id = "s-id", name = "svc" } or opts.service,
    route = opts.route == nil and { id = "r-id", name = "rt" } or opts.route,
    consumer = opts.consumer,
    response = { status = opts.status or 200, size = opts.egress },
    request = { size = opts.ingress },
    latencies = opts.latencies or {},
    source = opts.source or "service",
  }
end

local function fresh_exporter()
  -- what another worker (its own Lua state, its own caches) sees of the same shared memory
  return assert(loadfile(TURNPIKE_HOME .. "/plugins/prometheus/exporter.lua"))()
end

describe("Plugin: prometheus (schema)", function()
  it("defaults every metric flag to false, as Kong", function()
    assert.same({ per_consumer = false, status_code_metrics = false, latency_metrics = false,
                  bandwidth_metrics = false, upstream_health_metrics = false,
                  ai_metrics = false, wasm_metrics = false },
                assert(tp.validate(plugin, {})))
  end)

  it("accepts Kong 3.8's ai_metrics and wasm_metrics so a Kong config loads", function()
    assert(tp.validate(plugin, { ai_metrics = true, wasm_metrics = false }))
  end)

  it("rejects a flag that is not a boolean", function()
    local conf, err = tp.validate(plugin, { latency_metrics = "yes" })
    assert.is_nil(conf)
    assert.matches("config.latency_metrics", err, 1, true)
  end)
end)

describe("Plugin: prometheus (exporter)", function()
  before_each(function()
    tp.reset()
    exporter.reset()
  end)

  it("writes the node metrics with HELP and TYPE even before any request", function()
    local text = exporter.collect()
    assert.matches("# HELP kong_nginx_requests_total ", text, 1, true)
    assert.matches("# TYPE kong_nginx_requests_total counter\n", text, 1, true)
    assert.matches("# TYPE kong_nginx_connections_total gauge\n", text, 1, true)
    assert.matches('kong_memory_lua_shared_dict_bytes{node_id="[^"]*",shared_dict="kv"', text)
    assert.not_matches("kong_http_requests_total", text, 1, true)
    assert.not_matches("kong_datastore_reachable", text, 1, true)
  end)

  it("counts statuses per service, route, code and source with status_code_metrics", function()
    local conf = { status_code_metrics = true }
    for _ = 1, 3 do exporter.log(conf, entry { status = 200 }) end
    exporter.log(conf, entry { status = 401, source = "exit" })
    exporter.log(conf, entry { status = 404, service = false, route = false, source = "exit" })
    local s = samples(exporter.collect())
    assert.equal(3, s['kong_http_requests_total{service="svc",route="rt",code="200",' ..
                     'source="service",workspace="default",consumer=""}'])
    assert.equal(1, s['kong_http_requests_total{service="svc",route="rt",code="401",' ..
                     'source="exit",workspace="default",consumer=""}'])
    assert.equal(1, s['kong_http_requests_total{service="",route="",code="404",' ..
                     'source="exit",workspace="default",consumer=""}'])
  end)

  it("records nothing for a flag that is off", function()
    exporter.log({}, entry { status = 200, ingress = 10, egress = 20,
                             latencies = { request = 5, proxy = 3 } })
    local text = exporter.collect()
    assert.not_matches("kong_http_requests_total", text, 1, true)
    assert.not_matches("kong_bandwidth_bytes", text, 1, true)
    assert.not_matches("latency_ms", text, 1, true)
  end)

  it("labels the consumer only with per_consumer (username, then custom_id)", function()
    local alice = { id = "c1", username = "alice" }
    local bob = { id = "c2", custom_id = "bob-77" }
    exporter.log({ status_code_metrics = true }, entry { consumer = alice })
    exporter.log({ status_code_metrics = true, per_consumer = true }, entry { consumer = alice })
    exporter.log({ status_code_metrics = true, per_consumer = true }, entry { consumer = bob })
    local s = samples(exporter.collect())
    local base = 'kong_http_requests_total{service="svc",route="rt",code="200",' ..
                 'source="service",workspace="default",consumer="%s"}'
    assert.equal(1, s[base:format("")])
    assert.equal(1, s[base:format("alice")])
    assert.equal(1, s[base:format("bob-77")])
  end)

  it("falls back to ids when service or route have no name", function()
    exporter.log({ status_code_metrics = true },
                 entry { service = { id = "sid-1" }, route = { id = "rid-1" } })
    assert.matches('service="sid-1",route="rid-1"', exporter.collect(), 1, true)
  end)

  it("escapes backslash, double quote and line feed in label values", function()
    exporter.log({ status_code_metrics = true },
                 entry { service = { name = 'a"b\\c\nd' } })
    local text = exporter.collect()
    assert.matches('service="a\\"b\\\\c\\nd"', text, 1, true)
    for line in text:gmatch("[^\n]+") do
      if line:sub(1, 1) ~= "#" then
        assert.matches("^[a-z_]+ %-?[%d.e+]+$", (line:gsub("%b{}", "", 1)))
      end
    end
  end)

  it("keeps series with long label values apart under short shared-memory keys", function()
    local long = string.rep("x", 200)
    exporter.log({ status_code_metrics = true }, entry { service = { name = long .. "1" } })
    exporter.log({ status_code_metrics = true }, entry { service = { name = long .. "2" } })
    exporter.log({ status_code_metrics = true }, entry { service = { name = long .. "2" } })
    local s = samples(exporter.collect())
    local fmt = 'kong_http_requests_total{service="%s",route="rt",code="200",' ..
                'source="service",workspace="default",consumer=""}'
    assert.equal(1, s[fmt:format(long .. "1")])
    assert.equal(2, s[fmt:format(long .. "2")])
  end)

  describe("latency histograms", function()
    local conf = { latency_metrics = true }
    local ls = '{service="svc",route="rt",workspace="default"'

    it("fills Kong's buckets cumulatively; count equals the +Inf bucket", function()
      for _, ms in ipairs({ 1, 1.5, 7, 99, 6000, 7000 }) do
        exporter.log(conf, entry { latencies = { request = ms, proxy = 0 } })
      end
      local s = samples(exporter.collect())
      local function bucket(le)
        return s["kong_request_latency_ms_bucket" .. ls .. ',le="' .. le .. '"}']
      end
      assert.equal(1, bucket("1"))
      assert.equal(2, bucket("2"))
      assert.equal(2, bucket("5"))
      assert.equal(3, bucket("7"))
      assert.equal(4, bucket("100"))
      assert.equal(5, bucket("6000"))
      assert.equal(6, bucket("+Inf"))
      assert.equal(6, s["kong_request_latency_ms_count" .. ls .. "}"])
      assert.equal(1 + 1.5 + 7 + 99 + 6000 + 7000, s["kong_request_latency_ms_sum" .. ls .. "}"])
      local prev, n = 0, 0
      for _, le in ipairs(exporter.BUCKETS) do
        local v = bucket(tostring(le))
        assert.is_true(v >= prev)
        prev, n = v, n + 1
      end
      assert.equal(17, n)
    end)

    it("splits a proxied request into kong and upstream latency", function()
      exporter.log(conf, entry { latencies = { request = 30, proxy = 25 } })
      local s = samples(exporter.collect())
      assert.equal(25, s["kong_upstream_latency_ms_sum" .. ls .. "}"])
      assert.equal(5, s["kong_kong_latency_ms_sum" .. ls .. "}"])
      assert.equal(30, s["kong_request_latency_ms_sum" .. ls .. "}"])
    end)

    it("counts all of a gateway-made answer as kong latency, none as upstream", function()
      exporter.log(conf, entry { source = "exit", latencies = { request = 4 } })
      local s = samples(exporter.collect())
      assert.equal(4, s["kong_kong_latency_ms_sum" .. ls .. "}"])
      assert.is_nil(s["kong_upstream_latency_ms_count" .. ls .. "}"])
    end)

    it("uses the entry's kong latency when it has one", function()
      exporter.log(conf, entry { latencies = { request = 10, proxy = 4, kong = 2 } })
      assert.equal(2, samples(exporter.collect())["kong_kong_latency_ms_sum" .. ls .. "}"])
    end)
  end)

  it("adds ingress and egress bytes with bandwidth_metrics", function()
    local conf = { bandwidth_metrics = true }
    exporter.log(conf, entry { ingress = 100, egress = 1000 })
    exporter.log(conf, entry { ingress = 50, egress = 10 })
    local s = samples(exporter.collect())
    local fmt = 'kong_bandwidth_bytes{service="svc",route="rt",direction="%s",' ..
                'workspace="default",consumer=""}'
    assert.equal(150, s[fmt:format("ingress")])
    assert.equal(1010, s[fmt:format("egress")])
  end)

  it("lets another worker enumerate and add to series it did not register", function()
    local conf = { status_code_metrics = true, latency_metrics = true }
    exporter.log(conf, entry { latencies = { request = 3, proxy = 1 } })
    local other = fresh_exporter()
    other.log(conf, entry { latencies = { request = 3, proxy = 1 } })
    local text = other.collect()
    assert.equal(text, exporter.collect())
    local s = samples(text)
    assert.equal(2, s['kong_http_requests_total{service="svc",route="rt",code="200",' ..
                     'source="service",workspace="default",consumer=""}'])
    assert.equal(2, s['kong_request_latency_ms_count{service="svc",route="rt",' ..
                     'workspace="default"}'])
    local _, n = text:gsub("\nkong_http_requests_total{", "")
    assert.equal(1, n)
  end)

  it("writes each family's HELP and TYPE once, before its samples", function()
    exporter.log(ALL, entry { ingress = 1, egress = 1, latencies = { request = 3, proxy = 1 } })
    exporter.log(ALL, entry { status = 500, ingress = 1, egress = 1,
                              latencies = { request = 3, proxy = 1 } })
    local typed = {}
    for line in exporter.collect():gmatch("[^\n]+") do
      local name = line:match("^# TYPE (%S+)")
      if name then
        assert.is_nil(typed[name])
        typed[name] = true
      elseif line:sub(1, 1) ~= "#" then
        local family = line:match("^([%w_]+)")
        local base = family:gsub("_bucket$", ""):gsub("_count$", ""):gsub("_sum$", "")
        assert.is_true(typed[family] or typed[base], family)
      end
    end
    assert.is_true(typed.kong_kong_latency_ms)
    assert.is_true(typed.kong_bandwidth_bytes)
  end)
end)

describe("Plugin: prometheus (upstream health)", function()
  local function fake_balancer(targets, checked)
    return {
      health = function(_, name) return name == "u" and targets or nil end,
      upstream = function() return { checked = checked } end,
    }
  end
  local cfg = { upstreams = { { name = "u" } },
                plugins = { { name = "prometheus", config = { upstream_health_metrics = true } } } }

  before_each(function() exporter.reset() end)

  it("gives each target one line per Kong state, 1 for the current one", function()
    local b = fake_balancer({ { target = "10.0.0.1:80", health = "HEALTHY" },
                              { target = "10.0.0.2:80", health = "UNHEALTHY" },
                              { target = "10.0.0.3:80", health = "HALF_OPEN" } }, true)
    local s = samples(exporter.collect { cfg = cfg, balancer = b })
    local fmt = 'kong_upstream_target_health{upstream="u",target="%s",address="%s",' ..
                'state="%s",subsystem="http"}'
    local function v(t, st) return s[fmt:format(t, t, st)] end
    assert.equal(1, v("10.0.0.1:80", "healthy"))
    assert.equal(0, v("10.0.0.1:80", "unhealthy"))
    assert.equal(0, v("10.0.0.1:80", "healthchecks_off"))
    assert.equal(0, v("10.0.0.1:80", "dns_error"))
    assert.equal(1, v("10.0.0.2:80", "unhealthy"))
    assert.equal(1, v("10.0.0.3:80", "unhealthy"))
  end)

  it("says healthchecks_off for an upstream without health checks", function()
    local b = fake_balancer({ { target = "10.0.0.1:80", health = "HEALTHY" } }, false)
    local s = samples(exporter.collect { cfg = cfg, balancer = b })
    assert.equal(1, s['kong_upstream_target_health{upstream="u",target="10.0.0.1:80",' ..
                      'address="10.0.0.1:80",state="healthchecks_off",subsystem="http"}'])
  end)

  it("leaves health out unless a prometheus plugin asks for it", function()
    local b = fake_balancer({ { target = "10.0.0.1:80", health = "HEALTHY" } }, true)
    local off = { upstreams = cfg.upstreams,
                  plugins = { { name = "prometheus", config = {} } } }
    assert.not_matches("kong_upstream_target_health", exporter.collect { cfg = off, balancer = b },
                       1, true)
  end)

  it("reads a real balancer's targets", function()
    local balancer = require "turnpike.balancer"
    local real_cfg = { upstreams = { { name = "u", targets = {
                         { target = "127.0.0.1:9", host = "127.0.0.1", port = 9, weight = 100 } },
                       healthchecks = { passive = { unhealthy = { tcp_failures = 1 } } } } },
                       plugins = cfg.plugins }
    local b = balancer.new(real_cfg, { backend = tp.backend })
    local s = samples(exporter.collect { cfg = real_cfg, balancer = b })
    assert.equal(1, s['kong_upstream_target_health{upstream="u",target="127.0.0.1:9",' ..
                      'address="127.0.0.1:9",state="healthy",subsystem="http"}'])
  end)
end)

describe("Plugin: prometheus (log)", function()
  before_each(function()
    tp.reset()
    exporter.reset()
  end)

  it("counts proxied and gateway-made answers from the log phase", function()
    tp.run_plugin("prometheus", ALL, { path = "/a" })
    tp.run_plugin("prometheus", ALL, { path = "/a" })
    tp.run_plugin("prometheus", ALL, { path = "/a", plugins = { { name = "key-auth" } } })
    local s = samples(exporter.collect())
    assert.equal(2, s['kong_http_requests_total{service="service",route="route",code="200",' ..
                      'source="service",workspace="default",consumer=""}'])
    assert.equal(1, s['kong_http_requests_total{service="service",route="route",code="401",' ..
                      'source="exit",workspace="default",consumer=""}'])
    assert.equal(3, s['kong_request_latency_ms_count{service="service",route="route",' ..
                      'workspace="default"}'])
  end)

  it("estimates bytes when the log entry has no sizes", function()
    tp.run_plugin("prometheus", { bandwidth_metrics = true },
                  { method = "POST", path = "/a", body = "12345",
                    headers = { ["Content-Length"] = "5", ["X-A"] = "1" } })
    local s = samples(exporter.collect())
    local fmt = 'kong_bandwidth_bytes{service="service",route="route",direction="%s",' ..
                'workspace="default",consumer=""}'
    -- "POST /a HTTP/1.1" CRLF, two headers, blank line, 5 body bytes
    assert.is_true(s[fmt:format("ingress")] >= 18 + 19 + 5 + 2 + 5)
    assert.is_true(s[fmt:format("egress")] > 17)
  end)
end)
