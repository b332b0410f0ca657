-- The Host sent upstream as plugins set it through kong.service.request: a Host set is sent,
-- a Host set and then cleared leaves no Host of the request's own, so the target's host:port
-- goes (with preserve_host too: the client's Host was replaced, then cleared), never the value
-- set before the clear.
local helpers = require "spec.helpers"

local PLUGIN = "fx-upstream-host"

describe("SDK service.request Host", function()
  local up, dir, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    dir = helpers.tmpdir("plugins")
    helpers.write_plugin(dir, PLUGIN, [[
local Handler = { PRIORITY = 900, VERSION = "1.0.0" }
function Handler:access()
  kong.service.request.set_header("Host", "set.example")
  if kong.request.get_header("X-Clear-Host") then kong.service.request.clear_header("Host") end
end
return Handler
]])
    local url = "http://127.0.0.1:" .. up.port
    gw = helpers.start_turnpike {
      config = { services = {
        { name = "s", url = url, routes = { { name = "s", paths = { "/s" } } } },
        { name = "p", url = url, routes = { { name = "p", paths = { "/p" }, preserve_host = true } } },
      }, plugins = { { name = PLUGIN } } },
      plugins_path = { dir },
    }
  end)

  lazy_teardown(function() helpers.stop_and_clean(gw, dir) end)

  local function upstream_host(path, headers)
    up:reset()
    local res = assert(helpers.http(gw.proxy_port, { path = path, host = "client.example",
                                                     headers = headers }))
    assert.equal(200, res.status)
    return up:requests()[1].headers["host"]
  end

  it("sends the Host a plugin set", function()
    assert.equal("set.example", upstream_host("/s"))
    assert.equal("set.example", upstream_host("/p"))
  end)

  it("sends the target's host:port once the plugin cleared it", function()
    assert.equal("127.0.0.1:" .. up.port, upstream_host("/s", { ["X-Clear-Host"] = "1" }))
    assert.equal("127.0.0.1:" .. up.port, upstream_host("/p", { ["X-Clear-Host"] = "1" }))
  end)
end)
