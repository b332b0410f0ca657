-- scopes in unit mode (turnpike.spec over the fake backend).
local tp = require "turnpike.spec"
local handler = tp.load_plugin("scopes").handler

-- An inline "auth plugin" that runs before scopes and leaves what a real one would.
local function auth(fn)
  return { name = "fake-auth", handler = { PRIORITY = 1000, access = function() fn(turnpike) end } }
end

local function run(conf, fn, opts)
  opts = opts or {}
  opts.path = "/x"
  opts.plugins = fn and { auth(fn) } or nil
  return tp.run_plugin("scopes", conf, opts)
end

local function jwt_claims(claims)
  return function(sdk) sdk.ctx.shared.authenticated_jwt_claims = claims end
end

describe("Plugin: scopes (schema)", function()
  local plugin = tp.load_plugin("scopes")

  it("needs required or any_of", function()
    local conf, err = tp.validate(plugin, {})
    assert.is_nil(conf)
    assert.matches("'config.required', 'config.any_of'", err, 1, true)
    assert.is_nil(tp.validate(plugin, { required = {}, any_of = {} }))
  end)

  it("rejects a scope with a space", function()
    local conf, err = tp.validate(plugin, { required = { "read write" } })
    assert.is_nil(conf)
    assert.matches("config.required[1]", err, 1, true)
  end)
end)

describe("Plugin: scopes (access)", function()
  before_each(function() tp.reset() end)

  describe("config.required", function()
    it("lets the request through when every scope is granted", function()
      local res = run({ required = { "read", "write" } },
                      jwt_claims({ scope = "write read admin" }))
      assert.equal(200, res.status)
    end)

    it("returns 403 with the required and granted scopes when one is missing", function()
      local res = run({ required = { "read", "write" } }, jwt_claims({ scope = "read" }))
      assert.equal(403, res.status)
      assert.same({ message = handler.ERR_INSUFFICIENT_SCOPE, required = { "read", "write" },
                    granted = { "read" } }, res.body)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      assert.equal('Bearer realm="turnpike", error="insufficient_scope", scope="read write"',
                   res.headers["www-authenticate"])
      assert.is_nil(res.upstream)
    end)

    it("writes empty lists as JSON arrays", function()
      local res = run({ any_of = { "a" } }, jwt_claims({ sub = "x" }))
      assert.equal(403, res.status)
      assert.matches('"required":[]', res.raw_body, 1, true)
      assert.matches('"granted":[]', res.raw_body, 1, true)
      assert.same({ "a" }, res.body.any_of)
    end)
  end)

  describe("config.any_of", function()
    it("needs one of the scopes", function()
      local conf = { any_of = { "admin", "ops" } }
      assert.equal(200, run(conf, jwt_claims({ scope = "ops" })).status)
      assert.equal(403, run(conf, jwt_claims({ scope = "read" })).status)
    end)

    it("combines with required", function()
      local conf = { required = { "read" }, any_of = { "eu", "us" } }
      assert.equal(200, run(conf, jwt_claims({ scope = "read us" })).status)
      assert.equal(403, run(conf, jwt_claims({ scope = "us" })).status)
      assert.equal(403, run(conf, jwt_claims({ scope = "read" })).status)
    end)
  end)

  describe("granted scopes", function()
    it("reads an scp array claim", function()
      assert.equal(200, run({ required = { "b" } }, jwt_claims({ scp = { "a", "b" } })).status)
    end)

    it("reads a JWT token table left in authenticated_jwt_token", function()
      local res = run({ required = { "b" } }, function(sdk)
        sdk.ctx.shared.authenticated_jwt_token = { claims = { scope = "b" } }
      end)
      assert.equal(200, res.status)
    end)

    it("reads ctx.shared.authenticated_scopes as a list or a string", function()
      assert.equal(200, run({ required = { "x" } }, function(sdk)
        sdk.ctx.shared.authenticated_scopes = { "x" }
      end).status)
      assert.equal(200, run({ required = { "x" } }, function(sdk)
        sdk.ctx.shared.authenticated_scopes = "y x"
      end).status)
    end)

    it("reads X-Authenticated-Scope once a consumer is authenticated", function()
      local res = run({ required = { "read" } }, function(sdk)
        sdk.service.request.set_header("X-Authenticated-Scope", "read write")
      end, { consumers = { { id = "c1", username = "ann" } }, consumer = "ann" })
      assert.equal(200, res.status)
    end)
  end)

  describe("no authenticated identity", function()
    it("returns 401, even when the client sends X-Authenticated-Scope itself", function()
      local res = run({ required = { "read" } }, nil,
                      { headers = { ["X-Authenticated-Scope"] = "read" } })
      assert.equal(401, res.status)
      assert.same({ message = handler.ERR_UNAUTHORIZED }, res.body)
      assert.equal('Bearer realm="turnpike"', res.headers["www-authenticate"])
    end)
  end)
end)
