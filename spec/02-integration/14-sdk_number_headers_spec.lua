-- Numbers as response header values: whole numbers are written by the C core (no Lua string
-- per value), everything else through tostring. Both must read exactly as tostring(v), set in
-- access (queued before the response exists) and in header_filter (on the response).
local helpers = require "spec.helpers"

local PLUGIN = "fx-number-headers"
local VALUES = { 0, 7, 42, 999999, 1000000, -42, 1e13, 99999999999999, 2.5, -0.5, 1e15, 2^53 }

describe("SDK response.set_header with numbers", function()
  local up, dir, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    dir = helpers.tmpdir("plugins")
    local list = {}
    for i, v in ipairs(VALUES) do list[i] = string.format("%.17g", v) end
    helpers.write_plugin(dir, PLUGIN, [[
local VALUES = { ]] .. table.concat(list, ", ") .. [[ }
local Handler = { PRIORITY = 900, VERSION = "1.0.0" }
function Handler:access()
  for i, v in ipairs(VALUES) do kong.response.set_header("X-Access-" .. i, v) end
end
function Handler:header_filter()
  for i, v in ipairs(VALUES) do kong.response.set_header("X-Filter-" .. i, v) end
end
return Handler
]])
    gw = helpers.start_turnpike {
      config = { services = { { name = "s", url = "http://127.0.0.1:" .. up.port,
                                routes = { { name = "s", paths = { "/" } } } } },
                 plugins = { { name = PLUGIN } } },
      plugins_path = { dir },
    }
  end)

  lazy_teardown(function() helpers.stop_and_clean(gw, dir) end)

  it("reads as tostring(value), before and after the response exists", function()
    for _ = 1, 3 do -- the later requests run compiled code paths
      local res = assert(helpers.http(gw.proxy_port, { path = "/n" }))
      assert.equal(200, res.status)
      for i, v in ipairs(VALUES) do
        assert.equal(tostring(v), res.headers["x-access-" .. i], "access, value " .. tostring(v))
        assert.equal(tostring(v), res.headers["x-filter-" .. i], "header_filter, " .. tostring(v))
      end
    end
  end)
end)
