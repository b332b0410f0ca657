-- enrich in unit mode: the profile service is tp.fake_http, time is tp.clock.
local tp = require "turnpike.spec"
local cjson = require "cjson"
local runner = require "turnpike.runner"

local HERE = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
local PLUGINS = { HERE .. "/../.." }
local SERVICE = "^http://profiles%.test/"

local CONF = {
  url = "http://profiles.test/users/{key}",
  fields = { plan = "X-User-Plan", region = "X-User-Region" },
}
local PROFILES = {
  alice = { plan = "gold", region = "eu", tags = { "a" } },
  ["bob smith"] = { plan = "free" },
}

local function with(fields)
  local c = {}
  for k, v in pairs(CONF) do c[k] = v end
  for k, v in pairs(fields or {}) do c[k] = v end
  return c
end

-- the profile service: PROFILES by key, 404 otherwise
local function profile_service(url)
  local key = url:match("/users/([^/?]+)$"):gsub("%%(%x%x)", function(h)
    return string.char(tonumber(h, 16))
  end)
  local p = PROFILES[key]
  if not p then return { status = 404, body = "{}" } end
  return { status = 200, headers = { ["Content-Type"] = "application/json" },
           body = cjson.encode(p) }
end

local function run(conf, headers)
  return tp.run_plugin("enrich", conf, { path = "/api", headers = headers,
                                         plugins_path = PLUGINS })
end

-- one generation (one conf table, so one cache) for several requests
local function worker(conf)
  local plugin = tp.load_plugin("enrich", PLUGINS)
  local route = { id = "route-1", paths = { "/" } }
  local cfg = { routes = { route }, services = {}, consumers = {}, plugins = {
    { id = "p1", name = "enrich", config = assert(tp.validate(plugin, conf)), route = route } } }
  local router = { match = function(_, _, p) return { route = route, upstream_path = p } end }
  local rn = runner.new(tp.gen_from(cfg, router, PLUGINS))
  rn:init_worker()
  return function(key)
    return tp.execute(rn, { path = "/api", headers = { ["X-User-ID"] = key } })
  end
end

local function calls() return #tp.backend.http_calls end

describe("Plugin: enrich (schema)", function()
  local plugin = tp.load_plugin("enrich", PLUGINS)

  it("fills the defaults", function()
    local conf = assert(tp.validate(plugin, CONF))
    assert.equal("X-User-ID", conf.key_header)
    assert.equal(500, conf.timeout_ms)
    assert.equal(30000, conf.cache_ttl_ms)
    assert.is_false(conf.fail_open)
  end)

  it("wants {key} in the url", function()
    local _, err = tp.validate(plugin, with { url = "http://profiles.test/users" })
    assert.matches("config.url: must contain {key}", err, 1, true)
  end)

  it("wants header names as field targets", function()
    local _, err = tp.validate(plugin, with { fields = { plan = "X User Plan" } })
    assert.matches("config.fields.plan", err, 1, true)
  end)
end)

describe("Plugin: enrich (access)", function()
  local ERR = tp.load_plugin("enrich", PLUGINS).handler

  before_each(function()
    tp.reset()
    tp.fake_http(SERVICE, profile_service)
  end)

  it("forwards the caller's profile fields as upstream headers", function()
    local res = run(CONF, { ["X-User-ID"] = "alice" })
    assert.equal(200, res.status)
    local h = res.upstream.headers
    assert.equal("gold", h["x-user-plan"])
    assert.equal("eu", h["x-user-region"])
    assert.equal("found", h["x-profile-status"])
    local call = tp.backend.http_calls[1]
    assert.equal("http://profiles.test/users/alice", call.url)
    assert.equal(500, call.opts.timeout_ms)
  end)

  it("escapes the key in the url", function()
    local res = run(CONF, { ["X-User-ID"] = "bob smith" })
    assert.equal("http://profiles.test/users/bob%20smith", tp.backend.http_calls[1].url)
    assert.equal("free", res.upstream.headers["x-user-plan"])
    assert.is_nil(res.upstream.headers["x-user-region"])
  end)

  it("drops profile headers the client sent itself", function()
    local res = run(CONF, { ["X-User-ID"] = "carol", ["X-User-Plan"] = "gold",
                            ["X-Profile-Status"] = "found" })
    assert.is_nil(res.upstream.headers["x-user-plan"])
    assert.equal("not-found", res.upstream.headers["x-profile-status"])
  end)

  it("forwards a request without a key unenriched, without a lookup", function()
    local res = run(CONF, { ["X-User-Plan"] = "gold" })
    assert.equal(200, res.status)
    assert.is_nil(res.upstream.headers["x-user-plan"])
    assert.equal("anonymous", res.upstream.headers["x-profile-status"])
    assert.equal(0, calls())
  end)

  it("answers 401 without a key when key_required", function()
    local res = run(with { key_required = true })
    assert.equal(401, res.status)
    assert.equal(ERR.ERR_NO_KEY, res.body.message)
    assert.is_nil(res.upstream)
  end)

  describe("when the service fails", function()
    local failures = {
      ["a timeout"] = function(_, opts)
        tp.clock:advance(opts.timeout_ms)
        return nil, "timeout"
      end,
      ["a refused connection"] = function() return nil, "connection refused" end,
      ["a 500"] = function() return { status = 500, body = "oops" } end,
      ["a 200 that is not JSON"] = function() return { status = 200, body = "<html>" } end,
    }
    for what, responder in pairs(failures) do
      it("answers 503 on " .. what .. " (fail closed)", function()
        tp.fake_http(SERVICE, responder)
        local res = run(CONF, { ["X-User-ID"] = "alice" })
        assert.equal(503, res.status)
        assert.equal(ERR.ERR_UNAVAILABLE, res.body.message)
        assert.is_nil(res.upstream)
        assert.matches("(fail closed)", res.logs[1].msg, 1, true)
      end)

      it("forwards unenriched on " .. what .. " with fail_open", function()
        tp.fake_http(SERVICE, responder)
        local res = run(with { fail_open = true }, { ["X-User-ID"] = "alice" })
        assert.equal(200, res.status)
        assert.is_nil(res.upstream.headers["x-user-plan"])
        assert.equal("unavailable", res.upstream.headers["x-profile-status"])
        assert.equal("warn", res.logs[1].level)
      end)
    end

    it("passes timeout_ms to the lookup", function()
      run(with { timeout_ms = 120 }, { ["X-User-ID"] = "alice" })
      assert.equal(120, tp.backend.http_calls[1].opts.timeout_ms)
    end)
  end)

  describe("config.cache_ttl_ms", function()
    it("answers from the cache until the ttl passed", function()
      local req = worker(with { cache_ttl_ms = 1000 })
      assert.equal("gold", req("alice").upstream.headers["x-user-plan"])
      tp.clock:advance(999)
      assert.equal("gold", req("alice").upstream.headers["x-user-plan"])
      assert.equal(1, calls())
      tp.clock:advance(1)
      assert.equal("gold", req("alice").upstream.headers["x-user-plan"])
      assert.equal(2, calls())
    end)

    it("caches a not-found answer too", function()
      local req = worker(CONF)
      req("carol")
      assert.equal("not-found", req("carol").upstream.headers["x-profile-status"])
      assert.equal(1, calls())
    end)

    it("never caches a failure", function()
      tp.fake_http(SERVICE, function() return nil, "timeout" end)
      local req = worker(with { fail_open = true })
      req("alice")
      tp.fake_http(SERVICE, profile_service)
      assert.equal("gold", req("alice").upstream.headers["x-user-plan"])
      assert.equal(2, calls())
    end)

    it("looks up every time with 0", function()
      local req = worker(with { cache_ttl_ms = 0 })
      req("alice")
      req("alice")
      assert.equal(2, calls())
    end)

    it("keeps at most cache_size keys, evicting the oldest", function()
      local req = worker(with { cache_size = 2 })
      req("alice")
      req("bob smith")
      req("carol")      -- evicts alice
      req("bob smith")  -- still cached
      assert.equal(3, calls())
      req("alice")
      assert.equal(4, calls())
    end)
  end)
end)
