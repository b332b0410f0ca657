-- What clients see when the upstream fails: refused connections, read timeouts, retries.
local helpers = require "spec.helpers"

describe("Core: upstream failures", function()
  local up, slow, gw, dead_port

  lazy_setup(function()
    up = helpers.mock_upstream()
    slow = helpers.mock_upstream { handler = function(req)
      local res = helpers.echo_handler(req)
      res.delay_ms = 3000
      return res
    end }
    dead_port = helpers.free_port()
    gw = helpers.start_turnpike { config = {
      services = {
        { name = "refused", url = "http://127.0.0.1:" .. dead_port, retries = 0,
          routes = { { name = "refused", paths = { "/refused" } } } },
        { name = "slow", url = "http://127.0.0.1:" .. slow.port, retries = 0, read_timeout = 400,
          routes = { { name = "slow", paths = { "/slow" } } } },
        { name = "balanced", host = "pool", port = 80, protocol = "http",
          routes = { { name = "balanced", paths = { "/pool" } } } },
      },
      upstreams = { { name = "pool", targets = {
        { target = "127.0.0.1:" .. dead_port, weight = 100 },
        { target = "127.0.0.1:" .. up.port, weight = 100 },
      } } },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  it("answers 502 JSON at once when the upstream refuses the connection", function()
    local t0 = helpers.now_ms()
    local res = assert(helpers.http(gw.proxy_port, { path = "/refused/x" }))
    local took = helpers.now_ms() - t0
    assert.equal(502, res.status)
    assert.matches("application/json", res.headers["content-type"], 1, true)
    assert.is_string(res:json().message)
    assert.is_true(took < 1000, "502 took " .. took .. " ms")
  end)

  it("answers 504 JSON near read_timeout when the upstream is too slow", function()
    local t0 = helpers.now_ms()
    local res = assert(helpers.http(gw.proxy_port, { path = "/slow/x", timeout_ms = 5000 }))
    local took = helpers.now_ms() - t0
    assert.equal(504, res.status)
    assert.matches("application/json", res.headers["content-type"], 1, true)
    assert.is_string(res:json().message)
    assert.is_true(took >= 350 and took < 1500, "504 after " .. took .. " ms (read_timeout 400)")
  end)

  it("keeps the client connection usable after a 502", function()
    local c = assert(helpers.client(gw.proxy_port))
    assert.equal(502, assert(c:request { path = "/refused/1" }).status)
    local res = assert(c:request { path = "/pool/after-502" })
    assert.equal(200, res.status)
    c:close()
  end)

  it("retries on the next target when one target of an upstream is dead", function()
    up:reset()
    for i = 1, 6 do
      local res = assert(helpers.http(gw.proxy_port, { path = "/pool/" .. i }))
      assert.equal(200, res.status, "request " .. i)
      assert.equal("/" .. i, res:json().path)
    end
    assert.equal(6, #up:requests())
  end)
end)
