-- The integration kit itself: start/stop bounds, failure reports, the mock upstream, YAML.
local helpers = require "spec.helpers"
local config = require "turnpike.config"

describe("turnpike.spec.integration", function()
  lazy_teardown(helpers.cleanup)

  it("starts and stops a gateway well under a second each", function()
    local up = helpers.mock_upstream()
    local t0 = helpers.now_ms()
    local gw = helpers.start_turnpike { config = { services = { helpers.service("s", up.port,
      { routes = { { name = "r", paths = { "/" } } } }) } } }
    local started = helpers.now_ms() - t0
    assert.equal(200, assert(helpers.http(gw.proxy_port, { path = "/" })).status)
    t0 = helpers.now_ms()
    assert.equal(0, gw:stop())
    local stopped = helpers.now_ms() - t0
    assert.is_true(started < 1000, "start took " .. started .. " ms")
    assert.is_true(stopped < 1000, "stop took " .. stopped .. " ms")
    assert.is_nil(helpers.http(gw.proxy_port, { path = "/", timeout_ms = 200 }))
  end)

  it("reports a gateway that cannot start with its log tail", function()
    local ok, err = pcall(helpers.start_turnpike, { config = { services = { { name = "x" } } } })
    assert.is_false(ok)
    assert.matches("exited during start", err)
    assert.matches("services", err)
  end)

  it("records requests at the mock upstream, chunked bodies decoded", function()
    local up = helpers.mock_upstream()
    local res = assert(helpers.http(up.port, { method = "PUT", path = "/p?q=1",
                                               chunks = { "ab", "cd" }, headers = { ["X-T"] = { "1", "2" } } }))
    assert.equal(200, res.status)
    local rec = up:wait_requests(1)[1]
    assert.equal("PUT", rec.method)
    assert.equal("/p", rec.path)
    assert.equal("q=1", rec.query)
    assert.equal("abcd", rec.body)
    assert.is_true(rec.chunked)
    assert.same({ "1", "2" }, rec.headers["X-T"])
    up:stop()
  end)

  it("writes YAML the config loader reads back unchanged", function()
    local t = { _format_version = "3.0", turnpike = { workers = 2, proxy_listen = { "127.0.0.1:1" } },
                services = { { name = "s", url = "http://h:1/p", tags = { "a:b", "it's \"q\"" },
                               routes = { { name = "r", paths = { "/x" }, strip_path = false } } } } }
    local cfg = assert(config.load_string(helpers.to_yaml(t), "kit.yml", { env = {} }))
    assert.equal(2, cfg.node.workers)
    assert.same({ "a:b", "it's \"q\"" }, cfg.services[1].tags)
    assert.is_false(cfg.routes[1].strip_path)
    assert.equal("/p", cfg.services[1].path)
  end)

  it("wait_until names what it waited for", function()
    local ok, err = pcall(helpers.wait_until, function() return false end, 0.05, "the moon")
    assert.is_false(ok)
    assert.matches("the moon", err)
  end)
end)
