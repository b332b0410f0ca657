-- Run from the project folder: /path/to/turnpike/build/turnpike spec plugins/hello/spec
-- Unit mode: the plugin runs in-process over a fake gateway; no sockets, milliseconds.
local tp = require "turnpike.spec"

local PLUGINS = { (os.getenv("PWD") or ".") .. "/plugins" }

describe("Plugin: hello (access)", function()
  before_each(tp.reset)

  it("greets the upstream and tells the client", function()
    local res = tp.run_plugin("hello", { greeting = "hi" },
                              { path = "/hello", plugins_path = PLUGINS })
    assert.equal(200, res.status)
    assert.equal("hi", res.upstream.headers["x-greeting"])
    assert.equal("hi", res.headers["x-said"])
  end)

  it("refuses a header name with a space", function()
    local plugin = tp.load_plugin("hello", PLUGINS)
    local conf, err = tp.validate(plugin, { header = "X Greeting" })
    assert.is_nil(conf)
    assert.matches("config.header", err, 1, true)
  end)
end)
