-- Misbehaving clients against a gateway with plugins, for a few seconds: connections
-- cut mid-request, clients leaving before the answer, pipelining, smuggling attempts,
-- garbage, requests suspended on timers, cache hits and refreshes, a dead upstream.
-- No worker may crash (under the ASan build any memory error kills the worker), and
-- the gateway keeps answering normally afterwards.
local helpers = require "spec.helpers"

local CHAOS_S = 5

describe("Core: misbehaving clients", function()
  local up, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    local U = "http://127.0.0.1:" .. up.port
    gw = helpers.start_turnpike {
      workers = 2,
      plugins_path = { TURNPIKE_HOME .. "/spec/fixtures/chaos/plugins" },
      config = {
        turnpike = { access_log = "off", client_header_timeout_ms = 2000 },
        services = {
          { name = "up", url = U, routes = {
            { name = "plain", paths = { "/plain" } },
            { name = "ka", paths = { "/ka" }, plugins = {
              { name = "key-auth" }, { name = "rate-limiting", config = { second = 100000 } },
              { name = "sleepy" } } },
            { name = "cache", paths = { "/cache" }, plugins = {
              { name = "proxy-cache", config = { strategy = "memory", cache_ttl = 1,
                stale_while_revalidate = 1, content_type = { "application/json" } } } } },
          } },
          { name = "down", url = "http://127.0.0.1:" .. helpers.free_port(), retries = 1,
            routes = { { name = "down", paths = { "/down" } } } },
        },
        consumers = { { username = "a", keyauth_credentials = { { key = "k1" } } } },
      },
    }
  end)

  lazy_teardown(helpers.cleanup)

  it("crashes no worker and keeps answering", function()
    local before = gw:worker_pids()
    local rc = os.execute(("timeout %d python3 %s/spec/fixtures/chaos/chaos.py %d %d")
                          :format(CHAOS_S + 20, TURNPIKE_HOME, gw.proxy_port, CHAOS_S))
    assert.is_true(rc == 0 or rc == true, "the chaos client did not finish")
    assert.same(before, gw:worker_pids())
    local res = helpers.http(gw.proxy_port, { path = "/plain/after" })
    assert.equal(200, res.status)
    res = helpers.http(gw.proxy_port, { path = "/ka/after", headers = { apikey = "k1" } })
    assert.equal(200, res.status)
    assert.equal("1", res.headers["x-slept"])
  end)
end)
