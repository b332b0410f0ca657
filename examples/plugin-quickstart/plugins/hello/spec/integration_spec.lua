-- Integration mode: the real gateway on free loopback ports and a recording mock upstream.
local I = require("turnpike.spec").integration

-- absolute: the gateway resolves relative paths against its own (temporary) config folder
local PLUGINS = { (os.getenv("PWD") or ".") .. "/plugins" }

describe("Plugin: hello (integration)", function()
  local up, gw

  lazy_setup(function()
    up = I.mock_upstream()
    gw = I.start_turnpike {
      plugins_path = PLUGINS,
      config = { services = { {
        name = "backend", url = "http://127.0.0.1:" .. up.port,
        routes = { { paths = { "/hello" },
                     plugins = { { name = "hello", config = { greeting = "hi" } } } } },
      } } },
    }
  end)
  lazy_teardown(I.cleanup)

  it("greets the upstream and tells the client", function()
    local res = assert(I.http(gw.proxy_port, { path = "/hello/x" }))
    assert.equal(200, res.status)
    assert.equal("hi", res.headers["x-said"])
    assert.equal("hi", up:wait_requests(1)[1].headers["x-greeting"])
  end)
end)
