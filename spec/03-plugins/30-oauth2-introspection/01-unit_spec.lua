-- oauth2-introspection in unit mode (turnpike.spec over the fake backend, fake clock; the
-- answer cache is the real shared-memory dict of the spec process).
local tp = require "turnpike.spec"
local shm = require "turnpike.ffi.shm"
local cjson = require "cjson.safe"
local handler = require("turnpike.plugins").load("oauth2-introspection").handler

local URL = "http://auth.test/introspect"
local AUTHZ = "Basic Y2xpZW50OnNlY3JldA=="

-- tokens the fake authorization server knows: token -> answer (a table, or a function of now)
local known

local function now_s() return math.floor(tp.clock.now / 1000) end

local function fake_server()
  tp.fake_http("^http://auth%.test/", function(url, opts)
    if opts.headers.Authorization ~= AUTHZ then
      return { status = 401, headers = {}, body = '{"error":"invalid_client"}' }
    end
    local args = {}
    for k, v in (opts.body or ""):gmatch("([^&=]+)=([^&]*)") do args[k] = v end
    local answer = known[args.token] or { active = false }
    if type(answer) == "function" then return answer(url, opts, args) end
    return { status = 200, headers = { ["Content-Type"] = "application/json" },
             body = cjson.encode(answer) }
  end)
end

local function calls()
  return #tp.backend.http_calls
end

local function conf(extra)
  local c = { introspection_url = URL, authorization_value = AUTHZ }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function run(extra, req)
  req = req or {}
  req.path = req.path or "/x"
  req.consumers = req.consumers or {
    { id = "c-alice", username = "alice", custom_id = "app-1" },
    { id = "c-anon", username = "anonymous" },
  }
  return tp.run_plugin("oauth2-introspection", conf(extra), req)
end

local function bearer(t) return { headers = { Authorization = "Bearer " .. t } } end

describe("Plugin: oauth2-introspection (schema)", function()
  local plugin = tp.load_plugin("oauth2-introspection")

  it("requires introspection_url and authorization_value", function()
    assert.is_nil(tp.validate(plugin, { authorization_value = "x" }))
    assert.is_nil(tp.validate(plugin, { introspection_url = URL }))
  end)

  it("fills Kong's defaults", function()
    local c = assert(tp.validate(plugin, conf()))
    assert.equal(30, c.ttl)
    assert.equal(10000, c.timeout)
    assert.equal(60000, c.keepalive)
    assert.equal("username", c.consumer_by)
    assert.is_false(c.hide_credentials)
    assert.is_true(c.run_on_preflight)
    assert.is_false(c.introspect_request)
    assert.is_true(c.require_success)
    assert.equal(503, c.error_status)
  end)

  it("refuses an unknown consumer_by and an error_status other than 401/503", function()
    assert.is_nil(tp.validate(plugin, conf({ consumer_by = "email" })))
    assert.is_nil(tp.validate(plugin, conf({ error_status = 500 })))
    assert.is_nil(tp.validate(plugin, conf({ custom_claims_forward = { "a b" } })))
  end)
end)

describe("Plugin: oauth2-introspection (access)", function()
  before_each(function()
    tp.reset()
    shm.flush("kv")
    known = {}
    fake_server()
  end)

  it("lets an active token through with the X-Credential-* headers", function()
    known.good = { active = true, scope = "read write", client_id = "app-1", sub = "u-1",
                   username = "alice", token_type = "access_token", exp = now_s() + 600 }
    local res = run({}, bearer("good"))
    assert.equal(200, res.status)
    local h = res.upstream.headers
    assert.equal("read write", h["x-credential-scope"])
    assert.equal("app-1", h["x-credential-client-id"])
    assert.equal("u-1", h["x-credential-sub"])
    assert.equal("alice", h["x-credential-username"])
    assert.equal("access_token", h["x-credential-token-type"])
    assert.equal(tostring(now_s() + 600), h["x-credential-exp"])
    assert.equal("read write", h["x-authenticated-scope"])
    assert.same({ "read", "write" }, res.ctx.shared.authenticated_scopes)
    -- consumer_by = username
    assert.equal("alice", res.consumer.username)
    assert.equal("c-alice", h["x-consumer-id"])
    assert.equal("alice", h["x-consumer-username"])
    assert.is_nil(h["x-anonymous-consumer"])
  end)

  it("sends an RFC 7662 form POST with the configured Authorization", function()
    known.good = { active = true }
    run({ token_type_hint = "access_token", custom_introspection_headers = { ["X-Tenant"] = "t1" },
          introspect_request = true }, bearer("good"))
    local call = tp.backend.http_calls[1]
    assert.equal(URL, call.url)
    assert.equal("POST", call.opts.method)
    assert.equal("token=good&token_type_hint=access_token", call.opts.body)
    assert.equal("application/x-www-form-urlencoded", call.opts.headers["Content-Type"])
    assert.equal(AUTHZ, call.opts.headers.Authorization)
    assert.equal("t1", call.opts.headers["X-Tenant"])
    assert.equal("/x", call.opts.headers["X-Request-Path"])
    assert.equal("GET", call.opts.headers["X-Request-Http-Method"])
    assert.equal(10000, call.opts.timeout_ms)
    assert.is_true(call.opts.keepalive)
  end)

  it("returns 401 without a token, with a bare Bearer challenge", function()
    local res = run({}, {})
    assert.equal(401, res.status)
    assert.equal(handler.ERR_NO_TOKEN, res.body.message)
    assert.equal("Bearer", res.headers["www-authenticate"])
    assert.equal(0, calls())
  end)

  it("returns 401 invalid_token for an inactive token", function()
    local res = run({}, bearer("revoked"))
    assert.equal(401, res.status)
    assert.equal(handler.ERR_INVALID_TOKEN, res.body.message)
    assert.equal("invalid_token", res.body.error)
    assert.equal('Bearer error="invalid_token"', res.headers["www-authenticate"])
    assert.is_nil(res.upstream)
  end)

  it("refuses an 'active' answer whose exp already passed", function()
    known.old = { active = true, exp = now_s() - 1 }
    assert.equal(401, run({}, bearer("old")).status)
  end)

  it("returns 400 invalid_request for two different tokens", function()
    local res = run({}, { headers = { Authorization = "Bearer a" }, query = "access_token=b" })
    assert.equal(400, res.status)
    assert.equal("invalid_request", res.body.error)
  end)

  it("reads access_token from the query and a form body", function()
    known.q = { active = true }
    assert.equal(200, run({}, { query = "access_token=q" }).status)
    local res = run({}, { method = "POST", body = "access_token=q&x=1",
                          headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
    assert.equal(200, res.status)
  end)

  describe("cache", function()
    it("reuses an answer within ttl and asks again after it", function()
      known.good = { active = true }
      assert.equal(200, run({ ttl = 10 }, bearer("good")).status)
      assert.equal(200, run({ ttl = 10 }, bearer("good")).status)
      assert.equal(1, calls())
      tp.clock:advance(10001)
      assert.equal(200, run({ ttl = 10 }, bearer("good")).status)
      assert.equal(2, calls())
    end)

    it("never keeps an active answer past the token's exp", function()
      known.short = { active = true, exp = now_s() + 2 }
      assert.equal(200, run({ ttl = 60 }, bearer("short")).status)
      tp.clock:advance(1000)
      assert.equal(200, run({ ttl = 60 }, bearer("short")).status)
      assert.equal(1, calls())
      tp.clock:advance(1500)
      known.short = { active = false }
      assert.equal(401, run({ ttl = 60 }, bearer("short")).status)
      assert.equal(2, calls())
    end)

    it("keeps an inactive answer for a short while only", function()
      assert.equal(401, run({ ttl = 60 }, bearer("nope")).status)
      assert.equal(401, run({ ttl = 60 }, bearer("nope")).status)
      assert.equal(1, calls())
      tp.clock:advance(handler.NEGATIVE_TTL_MS + 1)
      known.nope = { active = true }
      assert.equal(200, run({ ttl = 60 }, bearer("nope")).status)
      assert.equal(2, calls())
    end)

    it("does not cache with ttl = 0 and a token without exp", function()
      known.good = { active = true }
      run({ ttl = 0 }, bearer("good"))
      run({ ttl = 0 }, bearer("good"))
      assert.equal(2, calls())
    end)

    it("keys answers by endpoint credentials too", function()
      known.good = { active = true }
      run({}, bearer("good"))
      run({ custom_introspection_headers = {}, token_type_hint = "refresh_token" }, bearer("good"))
      assert.equal(2, calls())
    end)
  end)

  describe("config.error_status", function()
    it("answers 503 by default when the endpoint is down, and caches nothing", function()
      known.good = function() return nil, "connection refused" end
      local res = run({}, bearer("good"))
      assert.equal(503, res.status)
      assert.equal(handler.ERR_UNAVAILABLE, res.body.message)
      run({}, bearer("good"))
      assert.equal(2, calls())
    end)

    it("answers 401 when set so, also for a non-200 answer", function()
      known.good = function() return { status = 500, headers = {}, body = "oops" } end
      local res = run({ error_status = 401 }, bearer("good"))
      assert.equal(401, res.status)
      assert.equal('Bearer error="invalid_token"', res.headers["www-authenticate"])
    end)

    it("treats a body that is not an introspection answer as a failure", function()
      known.good = function() return { status = 200, headers = {}, body = "{}" } end
      assert.equal(503, run({}, bearer("good")).status)
    end)

    it("never falls back to the anonymous consumer when the endpoint failed", function()
      known.good = function() return nil, "timeout" end
      assert.equal(503, run({ anonymous = "anonymous" }, bearer("good")).status)
    end)
  end)

  describe("config.require_success", function()
    it("with false, honours {active:false} in a 4xx answer", function()
      known.gone = function()
        return { status = 400, headers = {}, body = '{"active":false}' }
      end
      assert.equal(503, run({}, bearer("gone")).status)
      local res = run({ require_success = false }, bearer("gone"))
      assert.equal(401, res.status)
      assert.equal("invalid_token", res.body.error)
    end)
  end)

  describe("headers", function()
    it("drops client-sent X-Credential-* and X-Authenticated-Scope", function()
      known.good = { active = true, client_id = "app-9" }
      local res = run({}, { headers = { Authorization = "Bearer good",
        ["X-Credential-Username"] = "root", ["X-Credential-Anything"] = "x",
        ["X-Authenticated-Scope"] = "admin", ["X-Consumer-ID"] = "forged" } })
      local h = res.upstream.headers
      assert.is_nil(h["x-credential-username"])
      assert.is_nil(h["x-credential-anything"])
      assert.is_nil(h["x-authenticated-scope"])
      assert.is_nil(h["x-consumer-id"])
      assert.equal("app-9", h["x-credential-client-id"])
    end)

    it("forwards custom claims as X-Credential-<claim>", function()
      known.good = { active = true, org = "acme", groups = { "a", "b" }, nope = "x" }
      local res = run({ custom_claims_forward = { "org", "groups" } }, bearer("good"))
      assert.equal("acme", res.upstream.headers["x-credential-org"])
      assert.equal("a b", res.upstream.headers["x-credential-groups"])
      assert.is_nil(res.upstream.headers["x-credential-nope"])
    end)

    it("hides the token from the service with hide_credentials", function()
      known.good = { active = true }
      local res = run({ hide_credentials = true }, bearer("good"))
      assert.is_nil(res.upstream.headers.authorization)
      res = run({ hide_credentials = true }, { query = "access_token=good&a=1" })
      assert.equal("a=1", res.upstream.query)
      res = run({ hide_credentials = true }, { method = "POST", body = "access_token=good&x=1",
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
      assert.equal("x=1", res.upstream.body)
      res = run({}, bearer("good"))
      assert.equal("Bearer good", res.upstream.headers.authorization)
    end)
  end)

  describe("config.consumer_by", function()
    it("maps client_id to a consumer's custom_id", function()
      known.good = { active = true, client_id = "app-1", username = "bob" }
      local res = run({ consumer_by = "client_id" }, bearer("good"))
      assert.equal("c-alice", res.consumer.id)
      assert.equal("app-1", res.upstream.headers["x-consumer-custom-id"])
    end)

    it("authenticates without a consumer when none matches", function()
      known.good = { active = true, username = "nobody" }
      local res = run({}, bearer("good"))
      assert.equal(200, res.status)
      assert.is_nil(res.consumer)
      assert.equal("nobody", res.credential.username)
      assert.is_nil(res.upstream.headers["x-consumer-id"])
    end)
  end)

  describe("config.anonymous", function()
    it("lets a request without a valid token through as the anonymous consumer", function()
      local res = run({ anonymous = "anonymous" }, bearer("bad"))
      assert.equal(200, res.status)
      assert.equal("c-anon", res.upstream.headers["x-consumer-id"])
      assert.equal("true", res.upstream.headers["x-anonymous-consumer"])
    end)

    it("answers 500 when the anonymous consumer does not exist", function()
      assert.equal(500, run({ anonymous = "ghost" }, {}).status)
    end)
  end)

  describe("config.run_on_preflight", function()
    it("skips OPTIONS requests when false", function()
      assert.equal(200, run({ run_on_preflight = false }, { method = "OPTIONS" }).status)
      assert.equal(401, run({}, { method = "OPTIONS" }).status)
    end)
  end)

  it("feeds the scopes plugin", function()
    known.good = { active = true, scope = "read" }
    local res = run({}, { headers = { Authorization = "Bearer good" },
                          plugins = { { name = "scopes", config = { required = { "write" } } } } })
    assert.equal(403, res.status)
    assert.same({ "read" }, res.body.granted)
    res = run({}, { headers = { Authorization = "Bearer good" },
                    plugins = { { name = "scopes", config = { required = { "read" } } } } })
    assert.equal(200, res.status)
  end)
end)
