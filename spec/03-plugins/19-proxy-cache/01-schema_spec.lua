-- proxy-cache configuration (behaviour: spec/03-plugins/20-proxy-cache, spec/02-integration/40-proxy_cache_spec.lua).
local tp = require "turnpike.spec"

describe("Plugin: proxy-cache (schema)", function()
  local plugin = tp.load_plugin("proxy-cache")

  it("fills Kong's defaults and turnpike's stale windows", function()
    local conf = assert(tp.validate(plugin, { strategy = "memory" }))
    assert.same({ 200, 301, 404 }, conf.response_code)
    assert.same({ "GET", "HEAD" }, conf.request_method)
    assert.same({ "text/plain", "application/json" }, conf.content_type)
    assert.equal(300, conf.cache_ttl)
    assert.is_false(conf.cache_control)
    assert.is_false(conf.ignore_uri_case)
    assert.is_nil(conf.storage_ttl)
    assert.same({ dictionary_name = "kong_db_cache" }, conf.memory)
    assert.same({ age = true, ["X-Cache-Status"] = true, ["X-Cache-Key"] = true },
                conf.response_headers)
    assert.equal(0, conf.stale_while_revalidate)
    assert.equal(0, conf.stale_if_error)
  end)

  describe("config.strategy", function()
    it("is required, and the error names it", function()
      local conf, err = tp.validate(plugin, { cache_ttl = 30 })
      assert.is_nil(conf)
      assert.matches("config.strategy", err, 1, true)
      assert.matches("required", err, 1, true)
    end)

    it("accepts only memory", function()
      local conf, err = tp.validate(plugin, { strategy = "redis" })
      assert.is_nil(conf)
      assert.matches("config.strategy: expected one of: memory", err, 1, true)
    end)
  end)

  it("rejects a non-positive cache_ttl and an unknown method", function()
    assert.is_nil(tp.validate(plugin, { strategy = "memory", cache_ttl = 0 }))
    local conf, err = tp.validate(plugin, { strategy = "memory", request_method = { "DELETE" } })
    assert.is_nil(conf)
    assert.matches("config.request_method[1]", err, 1, true)
  end)

  it("rejects negative stale windows", function()
    assert.is_nil(tp.validate(plugin, { strategy = "memory", stale_if_error = -1 }))
    assert.is_nil(tp.validate(plugin, { strategy = "memory", stale_while_revalidate = -1 }))
    assert.truthy(tp.validate(plugin, { strategy = "memory", stale_while_revalidate = 60,
                                        stale_if_error = 600 }))
  end)
end)
