-- The turnpike SDK over the fake backend: each function, and its phase checks.
local tp = require "turnpike.spec"
local cjson = require "cjson.safe"

local sdk = tp.sdk
local backend = tp.backend

-- in(phase, request) -> r: binds a request outside any coroutine, in the given phase.
local function at(phase, req)
  local r = backend.request(req or {})
  r.ctx.phase = phase
  backend.bind(r)
  return r
end

local function not_allowed(fname, phase, fn)
  at(phase)
  local ok, err = pcall(fn)
  assert.is_false(ok)
  assert.matches("function " .. fname .. " is not allowed in phase " .. phase, err, 1, true)
end

describe("sdk", function()
  before_each(function() tp.reset() end)
  after_each(function() backend.active = nil end)

  it("is installed as the globals turnpike and kong", function()
    assert.equal(sdk, turnpike)
    assert.equal(sdk, kong)
  end)

  describe("request", function()
    it("reads the request line, host, port and scheme", function()
      at("access", { method = "POST", path = "/a/b", query = "x=1", host = "example.com",
                     port = 8443, scheme = "https" })
      local req = sdk.request
      assert.equal("POST", req.get_method())
      assert.equal("/a/b", req.get_path())
      assert.equal("x=1", req.get_raw_query())
      assert.equal("/a/b?x=1", req.get_path_with_query())
      assert.equal("example.com", req.get_host())
      assert.equal(8443, req.get_port())
      assert.equal("https", req.get_scheme())
      assert.equal(1.1, req.get_http_version())
      assert.equal(tp.clock.now, req.get_start_time())
    end)

    it("parses the query: repeats become arrays, bare args true, max_args honoured", function()
      at("access", { query = "a=1&a=2&b&c=&d=x%20y+z" })
      local q = sdk.request.get_query()
      assert.same({ "1", "2" }, q.a)
      assert.is_true(q.b)
      assert.equal("", q.c)
      assert.equal("x y z", q.d)
      assert.equal("1", sdk.request.get_query_arg("a"))
      local two = sdk.request.get_query(2)
      assert.same({ a = { "1", "2" } }, two)
      assert.has_error(function() sdk.request.get_query(0) end, "max_args must be >= 1")
      assert.has_error(function() sdk.request.get_query(1001) end, "max_args must be <= 1000")
    end)

    it("reads headers in any case, with _ for -", function()
      at("access", { headers = { ["X-Api-Key"] = "k", Multi = { "1", "2" } } })
      assert.equal("k", sdk.request.get_header("x-api-key"))
      assert.equal("k", sdk.request.get_header("X_API_KEY"))
      local h = sdk.request.get_headers()
      assert.equal("k", h["x-api-key"])
      assert.equal("k", h.x_api_key)
      assert.same({ "1", "2" }, h.multi)
      assert.has_error(function() sdk.request.get_header(1) end, "header name must be a string")
    end)

    it("reads the body raw, as JSON and as a form by content type", function()
      at("access", { body = '{"a":1}', headers = { ["Content-Type"] = "application/json" } })
      assert.equal('{"a":1}', sdk.request.get_raw_body())
      local body, err, mime = sdk.request.get_body()
      assert.same({ a = 1 }, body)
      assert.is_nil(err)
      assert.equal("application/json", mime)

      at("access", { body = "a=1&b=x+y",
                     headers = { ["Content-Type"] = "application/x-www-form-urlencoded" } })
      assert.same({ a = "1", b = "x y" }, (sdk.request.get_body()))

      at("access", { body = "{nope", headers = { ["Content-Type"] = "application/json" } })
      assert.same({ nil, "invalid json body", "application/json" }, { sdk.request.get_body() })

      at("access", { body = "x" })
      assert.same({ nil, "missing content type" }, { sdk.request.get_body() })

      at("access", { body = "x", headers = { ["Content-Type"] = "text/plain" } })
      assert.equal("unsupported content type 'text/plain'", select(2, sdk.request.get_body()))
      assert.equal("", (at("access") and sdk.request.get_raw_body()))
    end)

    it("gives uri captures split in named and unnamed", function()
      local r = at("access")
      r.ctx.route_match = { uri_captures = { [0] = "/u/7", "7", id = "7" } }
      assert.same({ unnamed = { [0] = "/u/7", "7" }, named = { id = "7" } },
                  sdk.request.get_uri_captures())
    end)

    it("refuses to read the body after access", function()
      not_allowed("request.get_raw_body", "header_filter", sdk.request.get_raw_body)
      not_allowed("request.get_body", "log", sdk.request.get_body)
      not_allowed("request.get_method", "init_worker", function()
        backend.active = nil
        return sdk.request.get_method()
      end)
    end)
  end)

  describe("service.request", function()
    it("changes what goes upstream", function()
      local r = at("access", { path = "/p", headers = { A = "1", B = "2" } })
      local sr = sdk.service.request
      sr.set_header("A", "one")
      sr.add_header("C", "x")
      sr.add_header("C", "y")
      sr.clear_header("B")
      sr.set_headers({ D = "4", E = { "5", "6" } })
      sr.set_path("/new")
      sr.set_query({ z = "1", a = { "2", "3" }, flag = true })
      sr.set_method("PUT")
      local up = backend.get_headers(r)
      assert.equal("one", up.a)
      assert.same({ "x", "y" }, up.c)
      assert.is_nil(up.b)
      assert.equal("4", up.d)
      assert.same({ "5", "6" }, up.e)
      assert.equal("/new", r.upstream.path)
      assert.equal("a=2&a=3&flag&z=1", r.upstream.query)
      assert.equal("PUT", r.method)
      assert.equal("/p", sdk.request.get_path())  -- the client's path is unchanged
      sr.set_raw_query("q=1")
      assert.equal("q=1", r.upstream.query)
      assert.has_error(function() sr.set_path("nope") end, "path must start with /")
      assert.has_error(function() sr.set_method("NOPE") end, "invalid method: NOPE")
    end)

    it("sets the body raw or encoded by content type", function()
      local r = at("access", { headers = { ["Content-Type"] = "application/json" } })
      sdk.service.request.set_body({ a = 1 })
      assert.same({ a = 1 }, cjson.decode(r.body))
      assert.is_true(sdk.service.request.set_body({ b = "x y" },
                                                  "application/x-www-form-urlencoded"))
      assert.equal("b=x%20y", r.body)
      assert.equal("application/x-www-form-urlencoded", backend.get_header(r, "content-type"))
      sdk.service.request.set_raw_body("raw")
      assert.equal("raw", r.body)
    end)

    it("is only allowed in rewrite and access", function()
      for _, ph in ipairs({ "header_filter", "body_filter", "log" }) do
        not_allowed("service.request.set_header", ph, function()
          sdk.service.request.set_header("a", "b")
        end)
      end
    end)
  end)

  describe("service", function()
    it("records upstream, target and timeouts in ctx", function()
      local r = at("access")
      sdk.db = { upstreams_by_name = { pool = {} } }
      assert.is_true(sdk.service.set_upstream("pool"))
      assert.equal("pool", r.ctx.upstream_name)
      assert.same({ nil, "could not find an Upstream named 'none'" },
                  { sdk.service.set_upstream("none") })
      sdk.service.set_target("10.0.0.1", 8080)
      assert.same({ host = "10.0.0.1", port = 8080 }, r.ctx.balancer_target)
      sdk.service.set_timeouts(100, 200, 300)
      assert.same({ connect = 100, write = 200, read = 300 }, r.ctx.timeouts)
      assert.has_error(function() sdk.service.set_target("h", 70000) end)
    end)

    it("reads the service's response only once it is known", function()
      local r = at("header_filter")
      backend.proxy(r, function() return { status = 201, headers = { X = "y" } } end)
      assert.equal(201, sdk.service.response.get_status())
      assert.equal("y", sdk.service.response.get_header("x"))
      assert.equal("y", sdk.service.response.get_headers().X)
      not_allowed("service.response.get_status", "access", sdk.service.response.get_status)
    end)
  end)

  describe("response", function()
    it("exit sends a table as JSON and marks ctx", function()
      local r = at("access")
      sdk.response.set_header("X-Before", "1")
      sdk.response.exit(401, { message = "x" }, { ["X-Y"] = "z" })
      assert.equal(401, r.response.status)
      assert.same({ message = "x" }, cjson.decode(r.response.body))
      assert.equal("application/json; charset=utf-8", backend.resp_get_header(r, "content-type"))
      assert.equal("z", backend.resp_get_header(r, "x-y"))
      assert.equal("1", backend.resp_get_header(r, "x-before"))
      assert.is_true(r.ctx.exited)
    end)

    it("exit sends a string as is", function()
      local r = at("rewrite")
      sdk.response.exit(200, "hello", { ["Content-Type"] = "text/plain" })
      assert.equal("hello", r.response.body)
      assert.equal("text/plain", backend.resp_get_header(r, "content-type"))
      assert.has_error(function() sdk.response.exit(1000) end)
    end)

    it("error uses Kong's default messages", function()
      local r = at("access")
      sdk.response.error(403)
      assert.same({ message = "Forbidden" }, cjson.decode(r.response.body))
      sdk.response.error(429, "slow down", { ["Retry-After"] = 3 })
      assert.same({ message = "slow down" }, cjson.decode(r.response.body))
      assert.equal("3", backend.resp_get_header(r, "retry-after"))
      assert.has_error(function() sdk.response.error(200) end)
    end)

    it("exit is not allowed once the response started", function()
      for _, ph in ipairs({ "header_filter", "body_filter", "log" }) do
        not_allowed("response.exit", ph, function() sdk.response.exit(200) end)
      end
    end)

    it("gets and sets headers and status in header_filter", function()
      local r = at("header_filter")
      backend.proxy(r, function() return { status = 200, headers = { A = "1" } } end)
      assert.equal(200, sdk.response.get_status())
      sdk.response.set_status(202)
      sdk.response.set_header("B", "2")
      sdk.response.add_header("B", "3")
      sdk.response.set_headers({ C = "4" })
      sdk.response.clear_header("A")
      assert.equal(202, sdk.response.get_status())
      assert.same({ "2", "3" }, sdk.response.get_headers().b)
      assert.equal("2", sdk.response.get_header("b"))
      assert.equal("4", sdk.response.get_header("c"))
      assert.is_nil(sdk.response.get_header("a"))
      assert.equal("service", sdk.response.get_source())
      not_allowed("response.set_header", "log", function() sdk.response.set_header("a", "b") end)
      not_allowed("response.get_status", "access", sdk.response.get_status)
    end)

    it("tells exits and errors apart in get_source", function()
      local r = at("access")
      sdk.response.exit(204)
      r.ctx.phase = "log"
      assert.equal("exit", sdk.response.get_source())
      r.ctx.unexpected_error = true
      assert.equal("error", sdk.response.get_source())
    end)

    it("buffers the body in body_filter with get_raw_body / set_raw_body", function()
      local r = at("body_filter")
      r.ctx.body_filter = { buffers = {}, chunk = "ab", eof = false }
      assert.is_nil(sdk.response.get_raw_body())
      assert.equal("", r.ctx.body_filter.chunk)
      r.ctx.body_filter.chunk, r.ctx.body_filter.eof = "cd", true
      assert.equal("abcd", sdk.response.get_raw_body())
      sdk.response.set_raw_body("ABCD")
      assert.equal("ABCD", r.ctx.body_filter.chunk)
    end)
  end)

  describe("client", function()
    it("gives the peer address", function()
      at("access", { client_ip = "10.1.2.3", client_port = 5555 })
      assert.equal("10.1.2.3", sdk.client.get_ip())
      assert.equal("10.1.2.3", sdk.client.get_forwarded_ip())
      assert.equal(5555, sdk.client.get_port())
    end)

    it("authenticates and loads consumers without I/O", function()
      local alice = { id = "c1", username = "alice" }
      sdk.db = { consumers_by_id = { c1 = alice }, consumers_by_username = { alice = alice } }
      local r = at("access")
      assert.equal(alice, sdk.client.load_consumer("c1"))
      assert.is_nil(sdk.client.load_consumer("alice"))
      assert.equal(alice, sdk.client.load_consumer("alice", true))
      sdk.client.authenticate(alice, { id = "cred" })
      assert.equal(alice, sdk.client.get_consumer())
      assert.equal("cred", sdk.client.get_credential().id)
      assert.equal(alice, r.ctx.authenticated_consumer)
      sdk.client.set_authenticated_groups({ "g" })
      assert.same({ "g" }, sdk.client.get_authenticated_groups())
      assert.has_error(function() sdk.client.authenticate() end,
                       "either credential or consumer must be provided")
      not_allowed("client.authenticate", "log", function() sdk.client.authenticate(alice) end)
    end)
  end)

  describe("ctx", function()
    it("shares one table per request and one per plugin", function()
      local r = at("access")
      sdk.ctx.shared.a = 1
      assert.equal(1, r.ctx.shared.a)
      r.ctx.plugin = { mine = true }
      assert.is_true(sdk.ctx.plugin.mine)
      assert.has_error(function() sdk.ctx.shared = {} end)
      not_allowed("ctx.shared", "init_worker", function()
        backend.active = nil
        return sdk.ctx.shared
      end)
    end)
  end)

  describe("log", function()
    it("prefixes lines with the plugin running", function()
      local r = at("access")
      sdk.log.warn("a ", 1, " ", true)
      r.ctx.plugin_name = "key-auth"
      sdk.log.err("x")
      sdk.log.debug("y")
      assert.same({ { level = "warn", msg = "a 1 true" }, { level = "err", msg = "[key-auth] x" },
                    { level = "debug", msg = "[key-auth] y" } }, backend.logs)
    end)

    it("serializes the request for loggers", function()
      local r = at("log", { method = "GET", path = "/p", query = "a=1", host = "h", port = 8000,
                            headers = { Authorization = "secret" }, client_ip = "1.2.3.4" })
      r.ctx.route = { id = "r1" }
      backend.proxy(r, function() return { status = 200 } end)
      tp.clock:advance(12)
      local s = sdk.log.serialize()
      assert.equal("GET", s.request.method)
      assert.equal("/p?a=1", s.request.uri)
      assert.equal("http://h:8000/p?a=1", s.request.url)
      assert.same({ a = "1" }, s.request.querystring)
      assert.equal("REDACTED", s.request.headers.authorization)
      assert.equal(200, s.response.status)
      assert.equal(12, s.latencies.request)
      assert.equal("r1", s.route.id)
      assert.equal("1.2.3.4", s.client_ip)
    end)
  end)

  describe("router, node, now, sleep, json", function()
    it("work", function()
      local r = at("access")
      r.ctx.route, r.ctx.service = { id = "r" }, { id = "s" }
      assert.equal("r", sdk.router.get_route().id)
      assert.equal("s", sdk.router.get_service().id)
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", sdk.node.get_id())
      local t0 = sdk.now()
      sdk.sleep(40)
      assert.equal(t0 + 40, sdk.now())
      assert.equal('{"a":1}', sdk.json.encode({ a = 1 }))
      assert.same({ a = 1 }, sdk.json.decode('{"a":1}'))
      assert.is_nil((sdk.json.decode("{")))
    end)
  end)

  describe("http", function()
    it("answers from registered fakes, and fails for unknown hosts", function()
      at("access")
      tp.fake_http("^http://idp/introspect", function(url, opts)
        return { status = 200, headers = { ["Content-Type"] = "application/json" },
                 body = opts.method .. " " .. url }
      end)
      local res = sdk.http.request_uri("http://idp/introspect", { method = "POST",
                                       query = { token = "t" } })
      assert.equal(200, res.status)
      assert.equal("POST http://idp/introspect?token=t", res.body)
      assert.equal("application/json", res.headers["content-type"])
      local client = sdk.http.new()
      client:set_timeout(100)
      assert.equal(200, client:request_uri("http://idp/introspect").status)
      assert.equal(100, backend.http_calls[2].opts.timeout_ms)
      local none, err = sdk.http.request_uri("http://elsewhere/")
      assert.is_nil(none)
      assert.matches("no fake http answer", err, 1, true)
    end)
  end)

  describe("redis", function()
    it("runs commands against the in-memory store, with expiry on the clock", function()
      at("access")
      local red = sdk.redis.new({ host = "127.0.0.1", port = 6379 })
      assert.same({ nil, "not connected" }, { red:get("k") })
      assert.equal(1, red:connect())
      assert.equal(sdk.null, red:get("k"))
      assert.equal("OK", red:set("k", "v"))
      assert.equal(2, red:incrby("n", 2))
      assert.equal(1, red:expire("n", 1))
      tp.clock:advance(1001)
      assert.equal(sdk.null, red:get("n"))
      red:init_pipeline()
      red:incr("p")
      red:incr("p")
      assert.same({ 1, 2 }, red:commit_pipeline())
      tp.fake_redis({ eval = function(_, script, nkeys, key) return script .. nkeys .. key end })
      assert.equal("s1k", red:eval("s", 1, "k"))
      assert.equal(1, red:set_keepalive())
    end)

    it("reports connection failures", function()
      at("access")
      tp.fake_redis({ connect = function() return nil, "connection refused" end })
      assert.same({ nil, "connection refused" }, { sdk.redis.new():connect() })
    end)
  end)
end)
