-- acl in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local handler = require("turnpike.plugins").load("acl").handler

local function consumers()
  return {
    { id = "c-alice", username = "alice", keyauth_credentials = { { key = "ka" } },
      acls = { { group = "admin" }, { group = "dev" } } },
    { id = "c-bob", username = "bob", keyauth_credentials = { { key = "kb" } },
      acls = { { group = "guest" } } },
    { id = "c-carol", username = "carol" },
  }
end

local function run(conf, opts)
  opts.consumers = consumers()
  opts.path = "/x"
  return tp.run_plugin("acl", conf, opts)
end

describe("Plugin: acl (access)", function()
  before_each(function() tp.reset() end)

  describe("config.allow", function()
    it("lets a consumer in an allowed group through and names its groups", function()
      local res = run({ allow = { "admin" } }, { consumer = "alice" })
      assert.equal(200, res.status)
      assert.equal("admin, dev", res.upstream.headers["x-consumer-groups"])
    end)

    it("returns 403 for a consumer in no allowed group", function()
      local res = run({ allow = { "admin" } }, { consumer = "bob" })
      assert.equal(403, res.status)
      assert.same({ message = handler.ERR_FORBIDDEN }, res.body)
      assert.same({ message = "You cannot consume this service" }, res.body)
    end)

    it("returns 403 for a consumer with no groups", function()
      assert.equal(403, run({ allow = { "admin" } }, { consumer = "carol" }).status)
    end)
  end)

  describe("config.deny", function()
    it("returns 403 for a consumer in a denied group", function()
      assert.equal(403, run({ deny = { "dev" } }, { consumer = "alice" }).status)
    end)

    it("lets everyone else through", function()
      assert.equal(200, run({ deny = { "dev" } }, { consumer = "bob" }).status)
      assert.equal(200, run({ deny = { "dev" } }, { consumer = "carol" }).status)
    end)
  end)

  it("returns 403 for a credential without consumer or groups", function()
    local cred = { PRIORITY = 1000 }
    function cred:access() turnpike.client.authenticate(nil, { id = "external" }) end
    local res = run({ allow = { "ops" } }, { plugins = { { name = "ext", handler = cred } } })
    assert.equal(403, res.status)
  end)

  it("returns 401 when nobody authenticated", function()
    local res = run({ allow = { "admin" } }, {})
    assert.equal(401, res.status)
    assert.same({ message = "Unauthorized" }, res.body)
  end)

  it("uses groups an auth plugin vouched for when there is no consumer", function()
    local groups = { PRIORITY = 1000 }
    function groups:access()
      turnpike.client.authenticate(nil, { id = "external" })
      turnpike.client.set_authenticated_groups({ "ops" })
    end
    local res = run({ allow = { "ops" } }, { plugins = { { name = "ldap", handler = groups } } })
    assert.equal(200, res.status)
    assert.equal("ops", res.upstream.headers["x-consumer-groups"])
  end)

  describe("config.hide_groups_header", function()
    it("removes the groups header, even one the client sent", function()
      local res = run({ allow = { "admin" }, hide_groups_header = true },
                      { consumer = "alice", headers = { ["X-Consumer-Groups"] = "admin" } })
      assert.equal(200, res.status)
      assert.is_nil(res.upstream.headers["x-consumer-groups"])
    end)
  end)

  describe("schema", function()
    it("requires exactly one of allow and deny", function()
      local p = tp.load_plugin("acl")
      assert.is_nil((tp.validate(p, {})))
      assert.is_nil((tp.validate(p, { allow = { "a" }, deny = { "b" } })))
      local conf = assert(tp.validate(p, { allow = { "a" } }))
      assert.is_false(conf.hide_groups_header)
    end)
  end)

  it("works behind key-auth in one chain", function()
    local ok = run({ allow = { "admin" } }, { headers = { apikey = "ka" },
                                              plugins = { { name = "key-auth" } } })
    assert.equal(200, ok.status)
    assert.equal("alice", ok.upstream.headers["x-consumer-username"])
    local denied = run({ allow = { "admin" } }, { headers = { apikey = "kb" },
                                                  plugins = { { name = "key-auth" } } })
    assert.equal(403, denied.status)
  end)
end)
