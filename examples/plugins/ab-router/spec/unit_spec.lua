-- ab-router in unit mode: the plugin runs in-process over the kit's fake backend (no sockets,
-- no gateway). The balancer's input is what the plugin leaves in ctx: ctx.upstream_name for a
-- named upstream, ctx.balancer_target = {host, port} for a direct target.
local tp = require "turnpike.spec"

-- this file's folder's parent holds the plugin folder, wherever the spec is run from
local HERE = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
local PLUGINS = { HERE .. "/../.." }

local CONF = {
  default = "stable",
  variants = {
    stable = { upstream = "shop-v1" },
    canary = { host = "127.0.0.1", port = 9002 },
  },
}
local UPSTREAMS = { { name = "shop-v1", targets = { { target = "127.0.0.1:9001" } } } }

local function run(conf, headers)
  return tp.run_plugin("ab-router", conf, { path = "/shop", headers = headers,
                                             upstreams = UPSTREAMS, plugins_path = PLUGINS })
end

local function with(fields)
  local c = { default = CONF.default, variants = CONF.variants }
  for k, v in pairs(fields) do c[k] = v end
  return c
end

describe("Plugin: ab-router (schema)", function()
  local plugin = tp.load_plugin("ab-router", PLUGINS)

  it("fills the defaults", function()
    local conf = assert(tp.validate(plugin, CONF))
    assert.equal("X-Variant", conf.header)
    assert.equal("X-AB-Variant", conf.response_header)
    assert.is_nil(conf.cookie)
  end)

  it("refuses a default that is not a variant", function()
    local conf, err = tp.validate(plugin, with { default = "nope" })
    assert.is_nil(conf)
    assert.matches("'nope' is not one of the variants", err, 1, true)
  end)

  it("refuses a variant with both an upstream and a host", function()
    local conf, err = tp.validate(plugin, with { variants = {
      stable = { upstream = "u", host = "h", port = 1 } } })
    assert.is_nil(conf)
    assert.matches("config.variants.stable", err, 1, true)
  end)

  it("refuses a variant with neither", function()
    local _, err = tp.validate(plugin, with { variants = { stable = { port = 1 } } })
    assert.matches("needs upstream, or host and port", err, 1, true)
  end)
end)

describe("Plugin: ab-router (access)", function()
  before_each(tp.reset)

  it("sends a request without the header to the default variant's upstream", function()
    local res = run(CONF)
    assert.equal(200, res.status)
    assert.equal("shop-v1", res.ctx.upstream_name)
    assert.is_nil(res.ctx.balancer_target)
    assert.equal("stable", res.headers["x-ab-variant"])
  end)

  it("sends the variant named by the header to its host and port", function()
    local res = run(CONF, { ["X-Variant"] = "canary" })
    assert.same({ host = "127.0.0.1", port = 9002 }, res.ctx.balancer_target)
    assert.is_nil(res.ctx.upstream_name)
    assert.equal("canary", res.headers["X-AB-Variant"])
  end)

  it("gives an unknown variant name the default", function()
    local res = run(CONF, { ["X-Variant"] = "nightly" })
    assert.equal("shop-v1", res.ctx.upstream_name)
    assert.equal("stable", res.headers["x-ab-variant"])
  end)

  it("reads the configured header and answers in the configured one", function()
    local res = run(with { header = "X-Cohort", response_header = "X-Served-By" },
                    { ["X-Cohort"] = "canary" })
    assert.equal(9002, res.ctx.balancer_target.port)
    assert.equal("canary", res.headers["x-served-by"])
  end)

  it("answers 500 when the variant's upstream is not in the config", function()
    local res = run(with { variants = { stable = { upstream = "gone" } } })
    assert.equal(500, res.status)
    assert.is_nil(res.upstream)
    assert.matches("could not find an Upstream named 'gone'", res.logs[1].msg, 1, true)
  end)

  describe("config.cookie", function()
    local conf = with { cookie = "ab" }

    it("remembers a variant chosen by the header", function()
      local res = run(conf, { ["X-Variant"] = "canary" })
      assert.equal("ab=canary; Path=/; Max-Age=86400; HttpOnly", res.headers["set-cookie"])
    end)

    it("routes by the cookie when the header is absent, without setting it again", function()
      local res = run(conf, { Cookie = "theme=dark; ab=canary" })
      assert.equal(9002, res.ctx.balancer_target.port)
      assert.equal("canary", res.headers["x-ab-variant"])
      assert.is_nil(res.headers["set-cookie"])
    end)

    it("lets the header win over the cookie", function()
      local res = run(conf, { Cookie = "ab=canary", ["X-Variant"] = "stable" })
      assert.equal("shop-v1", res.ctx.upstream_name)
      assert.equal("ab=stable; Path=/; Max-Age=86400; HttpOnly", res.headers["set-cookie"])
    end)

    it("ignores a cookie naming no variant", function()
      local res = run(conf, { Cookie = "ab=gone" })
      assert.equal("stable", res.headers["x-ab-variant"])
    end)
  end)
end)
