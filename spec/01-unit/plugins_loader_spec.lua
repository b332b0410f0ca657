-- turnpike.plugins: finding and loading plugin folders.
local plugins = require "turnpike.plugins"

local FIXTURES = TURNPIKE_HOME .. "/spec/fixtures/plugins"

describe("plugins.load", function()
  before_each(function()
    plugins.clear()
  end)

  it("loads handler and schema with priority and version", function()
    local p = assert(plugins.load("fx-auth", { FIXTURES }))
    assert.equal("fx-auth", p.name)
    assert.equal(1250, p.priority)
    assert.equal("0.1.0", p.version)
    assert.equal("fx-auth", p.schema.name)
    assert.is_function(p.handler.access)
  end)

  it("resolves helper modules inside the plugin folder", function()
    local p = assert(plugins.load("fx-limit", { FIXTURES }))
    -- kong.plugins.fx-limit.policies (handler), turnpike.plugins.fx-limit.policies (schema), util
    assert.same({ "local", "redis" }, p.handler.policy_names)
    assert.equal(6, p.handler.twice(3))
    assert.equal(p.handler.policy_names, p.schema.fields[2].config.fields[4].policy.one_of)
  end)

  it("makes plugin modules reachable with a plain require", function()
    plugins.load("fx-limit", { FIXTURES })
    assert.same({ "local", "redis" }, require("kong.plugins.fx-limit.policies").names)
  end)

  it("caches per state", function()
    local a = plugins.load("fx-cors", { FIXTURES })
    assert.equal(a, plugins.load("fx-cors", { FIXTURES }))
    plugins.clear()
    assert.not_equal(a, plugins.load("fx-cors", { FIXTURES }))
  end)

  it("does not leak plugin globals into _G", function()
    plugins.load("fx-auth", { FIXTURES })
    assert.is_nil(rawget(_G, "FxAuth"))
  end)

  it("reports an unknown plugin", function()
    local p, err = plugins.load("no-such-plugin", { FIXTURES })
    assert.is_nil(p)
    assert.equal("plugin 'no-such-plugin' not found", err)
  end)

  it("reports a plugin that fails to load", function()
    local p, err = plugins.load("fx-broken", { FIXTURES })
    assert.is_nil(p)
    assert.matches("^plugin 'fx%-broken': .*handler%.lua:%d+:", err)
  end)

  it("rejects invalid names", function()
    for _, name in ipairs({ "../etc", "Upper", "a.b", "" }) do
      local p, err = plugins.load(name, { FIXTURES })
      assert.is_nil(p)
      assert.matches("invalid plugin name", err)
    end
  end)

  it("searches plugins_path folders in order before the bundled plugins", function()
    local p = assert(plugins.load("fx-cache", { "/nonexistent", FIXTURES }))
    assert.equal(FIXTURES .. "/fx-cache", p.dir)
  end)
end)
