-- What plugins put into heads through the SDK, against the real binary.
-- Values that may come from clients cannot add lines: CR, LF and other control bytes in header
-- names and values (upstream and to the client) and in the upstream path and query are written
-- %XX, so no header or request of its own can be made of them.
-- The Host sent upstream as plugins set it through kong.service.request: a Host set is sent,
-- a Host set and then cleared leaves no Host of the request's own, so the target's host:port
-- goes (with preserve_host too: the client's Host was replaced, then cleared), never the value
-- set before the clear.
local helpers = require "spec.helpers"

local PLUGIN = "fx-heads"

describe("SDK: what plugins put into heads", function()
  local up, dir, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    dir = helpers.tmpdir("plugins")
    helpers.write_plugin(dir, PLUGIN, [[
local Handler = { PRIORITY = 900, VERSION = "1.0.0" }
function Handler:access()
  kong.service.request.set_header("Host", "set.example")
  if kong.request.get_header("X-Clear-Host") then kong.service.request.clear_header("Host") end
  if kong.request.get_header("X-Inject") then
    kong.service.request.set_header("X-Claim", "a\r\nX-Injected: 1")
    kong.service.request.set_header("X-Bad\r\nName", "v")
    kong.service.request.set_path("/inj ected\r\nX: y")
    kong.service.request.set_raw_query("q=1\r\n\r\nGET /smuggled HTTP/1.1")
    kong.response.set_header("X-Out", "b\r\nSet-Cookie: evil=1")
  end
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

  it("writes line-ending bytes as %XX in headers, path and query, both ways", function()
    up:reset()
    local res = assert(helpers.http(gw.proxy_port, { path = "/s/x", headers = { ["X-Inject"] = "1" } }))
    assert.equal(200, res.status)
    assert.equal("b%0D%0ASet-Cookie: evil=1", res.headers["x-out"])
    assert.is_nil(res.headers["set-cookie"])
    local seen = up:requests()
    assert.equal(1, #seen) -- no smuggled second request
    local h = seen[1].headers
    assert.equal("a%0D%0AX-Injected: 1", h["x-claim"])
    assert.is_nil(h["x-injected"])
    assert.equal("v", h["x-bad%0d%0aname"])
    assert.equal("/inj%20ected%0D%0AX:%20y?q=1%0D%0A%0D%0AGET%20/smuggled%20HTTP/1.1", seen[1].uri)
  end)
end)
