-- ip-restriction in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local handler = tp.load_plugin("ip-restriction").handler

local function run(conf, ip)
  return tp.run_plugin("ip-restriction", conf, { path = "/x", client_ip = ip })
end

describe("Plugin: ip-restriction (schema)", function()
  local plugin = tp.load_plugin("ip-restriction")

  it("needs allow or deny", function()
    local conf, err = tp.validate(plugin, {})
    assert.is_nil(conf)
    assert.matches("'config.allow', 'config.deny'", err, 1, true)
  end)

  it("rejects entries that are not addresses or CIDR blocks", function()
    for _, bad in ipairs({ "10.0.0.256", "10.0.0.0/33", "1.2.3", "2001:db8::/129", "::1::2",
                           "gggg::1", "example.com", "010.0.0.1" }) do
      local conf, err = tp.validate(plugin, { deny = { bad } })
      assert.is_nil(conf, bad)
      assert.matches("config.deny[1]", err, 1, true)
    end
  end)

  it("accepts IPv4, IPv6 and CIDR entries", function()
    assert.truthy(tp.validate(plugin, { allow = { "10.0.0.1", "10.0.0.0/8", "::1",
      "2001:db8::/32", "fe80::1%eth0", "::ffff:192.0.2.1", "0.0.0.0/0", "::/0" } }))
  end)

  it("allows only error statuses", function()
    assert.is_nil(tp.validate(plugin, { deny = { "::1" }, status = 200 }))
    assert.truthy(tp.validate(plugin, { deny = { "::1" }, status = 401 }))
  end)
end)

describe("Plugin: ip-restriction (access)", function()
  before_each(function() tp.reset() end)

  describe("config.deny", function()
    it("returns 403 with Kong's message for a denied address", function()
      local res = run({ deny = { "10.0.0.0/8" } }, "10.20.30.40")
      assert.equal(403, res.status)
      assert.same({ message = handler.ERR_FORBIDDEN }, res.body)
      assert.same({ message = "Your IP address is not allowed" }, res.body)
      assert.is_nil(res.upstream)
    end)

    it("lets other addresses through", function()
      assert.equal(200, run({ deny = { "10.0.0.0/8" } }, "11.0.0.1").status)
    end)

    it("wins over allow", function()
      local res = run({ allow = { "10.0.0.0/8" }, deny = { "10.0.0.5" } }, "10.0.0.5")
      assert.equal(403, res.status)
      assert.equal(200, run({ allow = { "10.0.0.0/8" }, deny = { "10.0.0.5" } }, "10.0.0.6")
        .status)
    end)
  end)

  describe("config.allow", function()
    it("refuses addresses outside the list", function()
      assert.equal(403, run({ allow = { "192.168.1.0/24" } }, "192.168.2.1").status)
      assert.equal(200, run({ allow = { "192.168.1.0/24" } }, "192.168.1.255").status)
    end)

    it("matches prefixes that do not end on a byte boundary", function()
      local conf = { allow = { "172.16.0.0/12" } }
      assert.equal(200, run(conf, "172.31.255.255").status)
      assert.equal(403, run(conf, "172.32.0.0").status)
      assert.equal(403, run(conf, "172.15.255.255").status)
    end)

    it("matches IPv6 addresses and blocks, in any spelling", function()
      local conf = { allow = { "2001:db8::/32", "::1" } }
      assert.equal(200, run(conf, "2001:DB8:0:0:0:0:0:7").status)
      assert.equal(200, run(conf, "0:0:0:0:0:0:0:1").status)
      assert.equal(403, run(conf, "2001:db9::1").status)
      assert.equal(403, run(conf, "127.0.0.1").status)
    end)

    it("treats an IPv4-mapped IPv6 client as its IPv4 address", function()
      assert.equal(200, run({ allow = { "192.0.2.0/24" } }, "::ffff:192.0.2.7").status)
      assert.equal(403, run({ deny = { "192.0.2.0/24" } }, "::ffff:c000:207").status)
    end)
  end)

  describe("config.status / config.message", function()
    it("replace the default answer", function()
      local res = run({ deny = { "127.0.0.1" }, status = 401, message = "go away" }, "127.0.0.1")
      assert.equal(401, res.status)
      assert.same({ message = "go away" }, res.body)
    end)
  end)

  it("refuses a client whose address cannot be parsed", function()
    local res = run({ allow = { "0.0.0.0/0" } }, "unix:")
    assert.equal(403, res.status)
    assert.same({ message = handler.ERR_NO_IP }, res.body)
  end)
end)
