-- The plugin runtime: precedence, order, exits, errors, consumer re-collection, yields.
local tp = require "turnpike.spec"
local runner = require "turnpike.runner"

local ROUTE = { id = "r1", paths = { "/" } }
local SERVICE = { id = "s1", host = "upstream", port = 80 }
ROUTE.service = SERVICE
local OTHER_ROUTE = { id = "r2", service = SERVICE }
local OTHER_SERVICE = { id = "s2" }
local ALICE = { id = "c1", username = "alice", keyauth_credentials = { { id = "k1", key = "ka" } } }
local BOB = { id = "c2", username = "bob" }

local function router(route, service)
  return { match = function(_, _, path)
    if path == "/nowhere" then return nil end
    return { route = route or ROUTE, service = service or SERVICE, upstream_path = path }
  end }
end

-- A plugin whose phases record what ran into ctx.shared.trace.
local function recorder(name, priority, extra)
  local h = { PRIORITY = priority, VERSION = "1" }
  local function note(phase, conf)
    local shared = turnpike.ctx.shared
    shared.trace = shared.trace or {}
    table.insert(shared.trace, name .. ":" .. phase .. ":" .. tostring(conf.tag))
  end
  for _, ph in ipairs({ "rewrite", "access", "header_filter", "log" }) do
    h[ph] = function(_, conf)
      note(ph, conf)
      if extra and extra[ph] then return extra[ph](conf) end
    end
  end
  return { name = name, handler = h, schema = { fields = {} }, priority = priority }
end

local function new_runner(plugins_cfg, loaded, opts)
  opts = opts or {}
  return runner.new({
    cfg = { consumers = opts.consumers or { ALICE, BOB }, plugins = plugins_cfg },
    router = opts.router or router(opts.route, opts.service),
    plugins = loaded, backend = tp.backend, sdk = tp.sdk,
  })
end

local function trace(res) return res.ctx.shared.trace or {} end

describe("runner", function()
  before_each(function() tp.reset() end)

  describe("precedence", function()
    -- every level configured at once; removing the winner each time exposes the next one
    local LEVELS = {
      { tag = "route+service+consumer", route = ROUTE, service = SERVICE, consumer = ALICE },
      { tag = "route+consumer", route = ROUTE, consumer = ALICE },
      { tag = "service+consumer", service = SERVICE, consumer = ALICE },
      { tag = "route+service", route = ROUTE, service = SERVICE },
      { tag = "consumer", consumer = ALICE },
      { tag = "route", route = ROUTE },
      { tag = "service", service = SERVICE },
      { tag = "global" },
    }

    for i, level in ipairs(LEVELS) do
      it("picks " .. level.tag .. " over the levels below it", function()
        local cfg = {}
        for j = i, #LEVELS do
          local l = LEVELS[j]
          cfg[#cfg + 1] = { name = "p", config = { tag = l.tag }, route = l.route,
                            service = l.service, consumer = l.consumer }
        end
        local rn = new_runner(cfg, { p = recorder("p", 10) })
        local r = tp.backend.request({ path = "/" })
        local plugins = rn:collect(ROUTE, SERVICE, ALICE)
        assert.equal(1, #plugins)
        assert.equal(level.tag, plugins[1].conf.tag)
        assert.is_table(r)
      end)
    end

    it("ignores entries for other routes, services and consumers", function()
      local rn = new_runner({
        { name = "p", config = { tag = "other route" }, route = OTHER_ROUTE },
        { name = "p", config = { tag = "other service" }, service = OTHER_SERVICE },
        { name = "p", config = { tag = "bob" }, consumer = BOB },
        { name = "p", config = { tag = "global" } },
      }, { p = recorder("p", 10) })
      assert.equal("global", rn:collect(ROUTE, SERVICE, ALICE)[1].conf.tag)
      assert.equal("bob", rn:collect(ROUTE, SERVICE, BOB)[1].conf.tag)
      assert.equal("other route", rn:collect(OTHER_ROUTE, SERVICE, nil)[1].conf.tag)
    end)

    it("skips disabled plugins", function()
      local rn = new_runner({
        { name = "p", config = { tag = "route" }, route = ROUTE, enabled = false },
        { name = "p", config = { tag = "global" } },
      }, { p = recorder("p", 10) })
      assert.equal("global", rn:collect(ROUTE, SERVICE, nil)[1].conf.tag)
    end)
  end)

  describe("order", function()
    it("runs by PRIORITY descending, ties by name", function()
      local rn = new_runner({
        { name = "low", config = {} }, { name = "b-tie", config = {} },
        { name = "high", config = {} }, { name = "a-tie", config = {} },
      }, { low = recorder("low", 1), high = recorder("high", 100),
           ["a-tie"] = recorder("a-tie", 50), ["b-tie"] = recorder("b-tie", 50) })
      local res = tp.execute(rn, { path = "/" })
      local access = {}
      for _, t in ipairs(trace(res)) do
        if t:find(":access:") then access[#access + 1] = t:match("^[^:]+") end
      end
      assert.same({ "high", "a-tie", "b-tie", "low" }, access)
    end)

    it("runs rewrite only for global plugins, and every phase in order", function()
      local rn = new_runner({
        { name = "g", config = { tag = "g" } },
        { name = "r", config = { tag = "r" }, route = ROUTE },
      }, { g = recorder("g", 20), r = recorder("r", 10) })
      local res = tp.execute(rn, { path = "/" })
      assert.same({ "g:rewrite:g", "g:access:g", "r:access:r", "g:header_filter:g",
                    "r:header_filter:r", "g:log:g", "r:log:r" }, trace(res))
      assert.equal(200, res.status)
    end)

    it("gives each plugin its own ctx.plugin, kept from access to log, made only when used", function()
      local seen = {}
      local function keeper(name, priority)
        local h = { PRIORITY = priority, VERSION = "1" }
        function h:access() turnpike.ctx.plugin.from_access = name end
        function h:header_filter() seen[name .. ":hf"] = turnpike.ctx.plugin.from_access end
        function h:log() seen[name .. ":log"] = turnpike.ctx.plugin.from_access end
        return { name = name, handler = h, schema = { fields = {} }, priority = priority }
      end
      local quiet = { PRIORITY = 5, VERSION = "1" }
      function quiet:access() end
      local rn = new_runner({
        { name = "a", config = {} }, { name = "b", config = {} }, { name = "q", config = {} },
      }, { a = keeper("a", 20), b = keeper("b", 10),
           q = { name = "q", handler = quiet, schema = { fields = {} }, priority = 5 } })
      local res = tp.execute(rn, { path = "/" })
      assert.equal(200, res.status)
      assert.same({ ["a:hf"] = "a", ["a:log"] = "a", ["b:hf"] = "b", ["b:log"] = "b" }, seen)
      assert.is_table(res.ctx.plugin_data.a)
      assert.is_nil(res.ctx.plugin_data.q)
      assert.is_nil(res.ctx.plugin) -- pointed at nothing between phases
    end)

    it("runs a plugin only for the request protocols it lists (Kong's protocols field)", function()
      local rn = new_runner({
        { name = "tls", config = { tag = "tls" }, protocols = { "https" } },
        { name = "plain", config = { tag = "plain" }, protocols = { "http", "grpc" } },
        { name = "both", config = { tag = "both" }, protocols = { "grpc", "grpcs", "http", "https" } },
      }, { tls = recorder("tls", 30), plain = recorder("plain", 20), both = recorder("both", 10) })
      local plain = trace(tp.execute(rn, { path = "/" }))
      assert.same({ "plain:rewrite:plain", "both:rewrite:both", "plain:access:plain",
                    "both:access:both", "plain:header_filter:plain", "both:header_filter:both",
                    "plain:log:plain", "both:log:both" }, plain)
      local tls = trace(tp.execute(rn, { path = "/", scheme = "https" }))
      assert.same({ "tls:rewrite:tls", "both:rewrite:both", "tls:access:tls", "both:access:both",
                    "tls:header_filter:tls", "both:header_filter:both", "tls:log:tls",
                    "both:log:both" }, tls)
    end)

    it("knows which phases are implemented", function()
      local rn = new_runner({ { name = "g", config = {} } }, { g = recorder("g", 1) })
      assert.is_true(rn:has_phase("access"))
      assert.is_false(rn:has_phase("body_filter"))
    end)
  end)

  describe("response.exit", function()
    it("stops the phase chain but header_filter and log still run", function()
      local stop = recorder("stop", 100, { access = function()
        return turnpike.response.exit(403, { message = "no" })
      end })
      local rn = new_runner({ { name = "stop", config = {} }, { name = "after", config = {} } },
                            { stop = stop, after = recorder("after", 1) })
      local res = tp.execute(rn, { path = "/" })
      assert.equal(403, res.status)
      assert.same({ message = "no" }, res.body)
      assert.is_nil(res.upstream)
      assert.same({ "stop:rewrite:nil", "after:rewrite:nil", "stop:access:nil",
                    "stop:header_filter:nil", "after:header_filter:nil",
                    "stop:log:nil", "after:log:nil" }, trace(res))
    end)

    it("answers 404 when no route matches, still logging with global plugins", function()
      local rn = new_runner({ { name = "g", config = {} } }, { g = recorder("g", 1) })
      local res = tp.execute(rn, { path = "/nowhere" })
      assert.equal(404, res.status)
      assert.same({ message = "no Route matched with those values" }, res.body)
      assert.same({ "g:rewrite:nil", "g:header_filter:nil", "g:log:nil" }, trace(res))
    end)

    it("answers 426 on a ws-only route to a request that does not ask to upgrade", function()
      local ws_router = { match = function(_, _, path)
        return { route = ROUTE, service = SERVICE, upstream_path = path, upgrade_only = true }
      end }
      local rn = new_runner({ { name = "r", config = {} } }, { r = recorder("r", 1) },
                            { router = ws_router })
      local res = tp.execute(rn, { path = "/chat" })
      assert.equal(426, res.status)
      assert.equal("websocket", res.headers["upgrade"])
      assert.same({ message = "This route takes WebSocket upgrades only" }, res.body)
      assert.same({ "r:rewrite:nil", "r:header_filter:nil", "r:log:nil" }, trace(res))
      -- the same route with an upgrade request goes on to the route's plugins
      tp.reset()
      res = tp.execute(rn, { path = "/chat", headers = { Upgrade = "websocket",
                                                         Connection = "keep-alive, Upgrade" } })
      assert.are_not.equal(426, res.status)
      assert.same({ "r:rewrite:nil", "r:access:nil", "r:header_filter:nil", "r:log:nil" },
                  trace(res))
    end)
  end)

  describe("plugin errors", function()
    it("give that request a 500 and an error log naming plugin, phase and traceback", function()
      local bad = recorder("bad", 10, { access = function() error("boom") end })
      local rn = new_runner({ { name = "bad", config = {} }, { name = "after", config = {} } },
                            { bad = bad, after = recorder("after", 1) })
      local res = tp.execute(rn, { path = "/" })
      assert.equal(500, res.status)
      assert.same({ message = "An unexpected error occurred" }, res.body)
      local line
      for _, l in ipairs(res.logs) do if l.level == "err" then line = l.msg end end
      assert.matches("plugin bad failed in access phase", line, 1, true)
      assert.matches("boom", line, 1, true)
      assert.matches("stack traceback", line, 1, true)
      for _, t in ipairs(trace(res)) do assert.not_equal("after:access:nil", t) end

      -- the next request is unaffected
      local ok = new_runner({ { name = "after", config = {} } }, { after = recorder("after", 1) })
      assert.equal(200, tp.execute(ok, { path = "/" }).status)
    end)

    it("in log are logged and the other plugins still log", function()
      local bad = recorder("bad", 10, { log = function() error("log boom") end })
      local rn = new_runner({ { name = "bad", config = {} }, { name = "after", config = {} } },
                            { bad = bad, after = recorder("after", 1) })
      local res = tp.execute(rn, { path = "/" })
      assert.equal(200, res.status)
      assert.equal("after:log:nil", trace(res)[#trace(res)])
      assert.matches("plugin bad failed in log phase", res.logs[1].msg, 1, true)
    end)

    it("in header_filter are logged and the plugins after it still run", function()
      local bad = recorder("bad", 10, { header_filter = function() error("hf boom") end })
      local rn = new_runner({ { name = "bad", config = {} }, { name = "after", config = {} } },
                            { bad = bad, after = recorder("after", 1) })
      local res = tp.execute(rn, { path = "/" })
      assert.equal(200, res.status)
      local t = trace(res)
      local hf = {}
      for _, x in ipairs(t) do if x:find(":header_filter:", 1, true) then hf[#hf + 1] = x end end
      assert.same({ "bad:header_filter:nil", "after:header_filter:nil" }, hf)
      assert.equal("after:log:nil", t[#t])
      assert.matches("plugin bad failed in header_filter phase", res.logs[1].msg, 1, true)
      assert.matches("hf boom", res.logs[1].msg, 1, true)
      assert.is_nil(res.ctx.resume_after)
    end)

    it("in body_filter are logged and the next plugin gets the chunk as it was", function()
      local function bf_plugin(name, priority, fn)
        local p = recorder(name, priority)
        p.handler.body_filter = fn
        return p
      end
      local upper = bf_plugin("upper", 100, function()
        local b = turnpike.response.get_raw_body()
        if b then turnpike.response.set_raw_body(b:upper()) end
      end)
      local bad = bf_plugin("bad", 50, function()
        turnpike.response.set_raw_body("half-done")
        error("bf boom")
      end)
      local tail = bf_plugin("tail", 1, function()
        local b = turnpike.response.get_raw_body()
        if b then turnpike.response.set_raw_body(b .. "!") end
      end)
      local rn = new_runner({ { name = "upper", config = {} }, { name = "bad", config = {} },
                              { name = "tail", config = {} } },
                            { upper = upper, bad = bad, tail = tail })
      local res = tp.execute(rn, { path = "/", upstream = function()
        return { status = 200, headers = { ["Content-Type"] = "text/plain" }, body = "hello" }
      end })
      assert.equal(200, res.status)
      assert.equal("HELLO!", res.raw_body)
      assert.matches("plugin bad failed in body_filter phase", res.logs[1].msg, 1, true)
    end)

    it("outside any plugin are not taken for a plugin's", function()
      local rn = new_runner({ { name = "after", config = {} } }, { after = recorder("after", 1) })
      assert.is_nil(rn:failed(nil, { phase = "access" }, "router boom"))
    end)
  end)

  describe("consumer re-collection", function()
    local function auth_plugin()
      return recorder("auth", 1000, { access = function()
        turnpike.client.authenticate(turnpike.client.load_consumer("alice", true))
      end })
    end

    it("applies the consumer's own config to plugins that have not run yet", function()
      local rn = new_runner({
        { name = "auth", config = {} },
        { name = "limit", config = { tag = "route" }, route = ROUTE },
        { name = "limit", config = { tag = "alice" }, consumer = ALICE },
        { name = "only-alice", config = { tag = "x" }, consumer = ALICE },
      }, { auth = auth_plugin(), limit = recorder("limit", 10),
           ["only-alice"] = recorder("only-alice", 5) })
      local res = tp.execute(rn, { path = "/" })
      assert.same({ "auth:rewrite:nil", "auth:access:nil", "limit:access:alice",
                    "only-alice:access:x", "auth:header_filter:nil", "limit:header_filter:alice",
                    "only-alice:header_filter:x", "auth:log:nil", "limit:log:alice",
                    "only-alice:log:x" }, trace(res))
      assert.equal("alice", res.consumer.username)
      assert.equal(3, #res.ctx.plugins)
    end)

    it("does not run again, or late, a plugin ordered before the authenticating one", function()
      local rn = new_runner({
        { name = "auth", config = {} },
        { name = "early", config = { tag = "route" }, route = ROUTE },
        { name = "early", config = { tag = "alice" }, consumer = ALICE },
      }, { auth = auth_plugin(), early = recorder("early", 2000) })
      local res = tp.execute(rn, { path = "/" })
      local n = 0
      for _, t in ipairs(trace(res)) do if t:find("^early:access") then n = n + 1 end end
      assert.equal(1, n)
      assert.equal("early:access:route", trace(res)[2])
    end)
  end)

  describe("yielding", function()
    it("lets a handler wait in access and log (turnpike.sleep)", function()
      local t0 = tp.clock.now
      local waits = recorder("waits", 1, {
        access = function() turnpike.sleep(250); turnpike.ctx.shared.woke = turnpike.now() end,
        log = function() turnpike.sleep(50); turnpike.ctx.shared.logged = turnpike.now() end,
      })
      local rn = new_runner({ { name = "waits", config = {} } }, { waits = waits })
      local r = tp.backend.request({ path = "/" })
      local co = coroutine.create(function() tp.backend.bind(r); rn:process(r, r.ctx) end)
      assert.is_true(coroutine.resume(co))
      assert.equal("suspended", coroutine.status(co))  -- really yielded, inside xpcall
      assert.is_true(coroutine.resume(co))
      assert.equal("dead", coroutine.status(co))
      assert.equal(t0 + 250, r.ctx.shared.woke)
      assert.is_nil(r.exited)

      local res = tp.execute(rn, { path = "/" })
      assert.equal(200, res.status)
      assert.equal(tp.clock.now, res.ctx.shared.logged)
    end)
  end)

  describe("init_worker", function()
    it("calls init_worker, then configure with every config of the plugin", function()
      local seen = {}
      local h = { PRIORITY = 1 }
      function h:init_worker() seen[#seen + 1] = "init" end
      function h:configure(configs) seen[#seen + 1] = #configs end
      local rn = new_runner({ { name = "h", config = {} },
                              { name = "h", config = {}, route = ROUTE } },
                            { h = { name = "h", handler = h, priority = 1 } })
      rn:init_worker()
      assert.same({ "init", 2 }, seen)
    end)
  end)

  describe("lookups", function()
    it("builds consumer and credential indexes once per generation", function()
      new_runner({}, {})
      local db = tp.sdk.db
      assert.equal(ALICE, db.consumers_by_id.c1)
      assert.equal(ALICE, db.consumers_by_username.alice)
      assert.equal("c1", db.keyauth_credentials.ka.consumer.id)
      assert.same({}, db.acls.c2)
    end)
  end)

  describe("with a declarative config (tp.request_chain)", function()
    local cfg = {
      _format_version = "3.0",
      services = { {
        name = "s", url = "http://upstream:80/base",
        plugins = { { name = "acl", config = { allow = { "admin" } } } },
        routes = {
          { name = "api", paths = { "/api" }, plugins = { { name = "key-auth" } } },
          { name = "guests", paths = { "/guests" }, plugins = {
            { name = "key-auth" }, { name = "acl", config = { allow = { "guest" } } } } },
        },
      } },
      consumers = {
        { username = "alice", keyauth_credentials = { { key = "ka" } },
          acls = { { group = "admin" } } },
        { username = "bob", keyauth_credentials = { { key = "kb" } },
          acls = { { group = "guest" } } },
      },
    }

    it("routes, strips the path and runs the plugins of the matched route", function()
      local res = tp.request_chain(cfg, { path = "/api/x", headers = { apikey = "ka" } })
      assert.equal(200, res.status)
      assert.equal("/base/x", res.upstream.path)
      assert.equal("alice", res.upstream.headers["x-consumer-username"])
      assert.equal("admin", res.upstream.headers["x-consumer-groups"])
      assert.equal(403, tp.request_chain(cfg, { path = "/api/x",
                                                headers = { apikey = "kb" } }).status)
    end)

    it("lets a route's plugin config beat its service's", function()
      assert.equal(200, tp.request_chain(cfg, { path = "/guests",
                                                headers = { apikey = "kb" } }).status)
      assert.equal(403, tp.request_chain(cfg, { path = "/guests",
                                                headers = { apikey = "ka" } }).status)
    end)
  end)
end)
