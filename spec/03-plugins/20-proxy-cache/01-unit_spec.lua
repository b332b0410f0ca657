-- proxy-cache in unit mode: the key and the RFC 9111 rules as pure functions, and the handler
-- over the fake backend (which has no cache: every lookup there is a miss that is not stored).
local tp = require "turnpike.spec"

tp.load_plugin("proxy-cache") -- puts the bundled plugins on the module search path
local key = require "kong.plugins.proxy-cache.key"
local rules = require "kong.plugins.proxy-cache.rules"

local function conf(over)
  local c = assert(tp.validate(tp.load_plugin("proxy-cache"), { strategy = "memory" }))
  for k, v in pairs(over or {}) do c[k] = v end
  return c
end

local function req(over)
  local r = { consumer_id = nil, route_id = "route-1", method = "GET", path = "/items",
              query = {}, headers = {} }
  for k, v in pairs(over or {}) do r[k] = v end
  return r
end

describe("Plugin: proxy-cache (key)", function()
  it("is 32 lower-case hex digits and the same for the same request", function()
    local k = key.build(conf(), req())
    assert.matches("^%x+$", k)
    assert.equal(32, #k)
    assert.equal(k:lower(), k)
    assert.equal(k, key.build(conf(), req()))
  end)

  it("differs by method, path, route and consumer", function()
    local base = key.build(conf(), req())
    assert.not_equal(base, key.build(conf(), req({ method = "HEAD" })))
    assert.not_equal(base, key.build(conf(), req({ path = "/items/" })))
    assert.not_equal(base, key.build(conf(), req({ route_id = "route-2" })))
    assert.not_equal(base, key.build(conf(), req({ consumer_id = "c-1" })))
    assert.not_equal(key.build(conf(), req({ consumer_id = "c-1" })),
                     key.build(conf(), req({ consumer_id = "c-2" })))
  end)

  it("does not depend on the order of query arguments", function()
    -- a table has no order; the same arguments built in two different insertion orders
    local q1, q2 = {}, {}
    for _, n in ipairs({ "a", "b", "c", "d", "e", "f" }) do q1[n] = n .. "1" end
    for _, n in ipairs({ "f", "e", "d", "c", "b", "a" }) do q2[n] = n .. "1" end
    assert.equal(key.build(conf(), req({ query = q1 })), key.build(conf(), req({ query = q2 })))
  end)

  it("varies on every argument by default, on values and on repeated values", function()
    local c = conf()
    local base = key.build(c, req({ query = { page = "1" } }))
    assert.not_equal(base, key.build(c, req({ query = { page = "2" } })))
    assert.not_equal(base, key.build(c, req({ query = { page = "1", x = "y" } })))
    assert.not_equal(base, key.build(c, req({ query = { page = { "1", "2" } } })))
    assert.not_equal(key.build(c, req({ query = { page = { "1", "2" } } })),
                     key.build(c, req({ query = { page = { "2", "1" } } })))
  end)

  it("tells an argument without '=' from an empty one and from a missing one", function()
    local c = conf()
    local flag = key.build(c, req({ query = { debug = true } }))
    local empty = key.build(c, req({ query = { debug = "" } }))
    local none = key.build(c, req())
    assert.not_equal(flag, empty)
    assert.not_equal(flag, none)
    assert.not_equal(empty, none)
  end)

  it("cannot be forged by moving text between parts", function()
    local c = conf()
    assert.not_equal(key.build(c, req({ path = "/a", query = { b = "c" } })),
                     key.build(c, req({ path = "/a\n1:b", query = { c = "" } })))
    assert.not_equal(key.build(c, req({ query = { a = "1", b = "2" } })),
                     key.build(c, req({ query = { a = "1\0,b", ["2"] = "" } })))
  end)

  describe("config.vary_query_params", function()
    it("only the listed arguments count", function()
      local c = conf({ vary_query_params = { "page" } })
      local base = key.build(c, req({ query = { page = "1" } }))
      assert.equal(base, key.build(c, req({ query = { page = "1", utm = "x" } })))
      assert.not_equal(base, key.build(c, req({ query = { page = "2" } })))
      assert.not_equal(base, key.build(c, req()))
    end)
  end)

  describe("config.vary_headers", function()
    it("the listed headers count, with any spelling of the config entry", function()
      local c = conf({ vary_headers = { "Accept-Language" } })
      local en = key.build(c, req({ headers = { ["accept-language"] = "en" } }))
      assert.not_equal(en, key.build(c, req({ headers = { ["accept-language"] = "de" } })))
      assert.not_equal(en, key.build(c, req()))
      local c2 = conf({ vary_headers = { "accept-language" } })
      assert.equal(en, key.build(c2, req({ headers = { ["accept-language"] = "en" } })))
    end)

    it("other headers do not count", function()
      local c = conf({ vary_headers = { "X-A" } })
      assert.equal(key.build(c, req({ headers = { ["x-a"] = "1" } })),
                   key.build(c, req({ headers = { ["x-a"] = "1", ["x-b"] = "2" } })))
      -- with no vary_headers, no header counts
      assert.equal(key.build(conf(), req({ headers = { ["x-a"] = "1" } })),
                   key.build(conf(), req({ headers = { ["x-a"] = "2" } })))
    end)

    it("does not depend on the order of the config list", function()
      local a = conf({ vary_headers = { "X-A", "X-B" } })
      local b = conf({ vary_headers = { "X-B", "X-A" } })
      local h = { ["x-a"] = "1", ["x-b"] = "2" }
      assert.equal(key.build(a, req({ headers = h })), key.build(b, req({ headers = h })))
    end)

    it("vary_covers answers case-insensitively", function()
      local c = conf({ vary_headers = { "Authorization" } })
      assert.is_true(key.vary_covers(c, "authorization"))
      assert.is_false(key.vary_covers(c, "cookie"))
      assert.is_false(key.vary_covers(conf(), "authorization"))
    end)
  end)

  describe("config.ignore_uri_case", function()
    it("is case-sensitive by default", function()
      local c = conf()
      assert.not_equal(key.build(c, req({ path = "/Items" })), key.build(c, req()))
    end)

    it("folds the path and argument names, not argument values", function()
      local c = conf({ ignore_uri_case = true })
      assert.equal(key.build(c, req({ path = "/ITEMS", query = { Page = "1" } })),
                   key.build(c, req({ path = "/items", query = { page = "1" } })))
      assert.not_equal(key.build(c, req({ query = { page = "A" } })),
                       key.build(c, req({ query = { page = "a" } })))
    end)

    it("applies to vary_query_params names too", function()
      local c = conf({ ignore_uri_case = true, vary_query_params = { "Page" } })
      assert.not_equal(key.build(c, req({ query = { PAGE = "1" } })),
                       key.build(c, req({ query = { page = "2" } })))
      assert.equal(key.build(c, req({ query = { PAGE = "1", other = "x" } })),
                   key.build(c, req({ query = { page = "1" } })))
    end)
  end)
end)

describe("Plugin: proxy-cache (Cache-Control parsing)", function()
  it("reads bare directives, values and quoted values, lower-casing names", function()
    local cc = rules.parse('Public, MAX-AGE=60, no-cache="Set-Cookie, X-A", s-maxage = 30')
    assert.is_true(cc.public)
    assert.equal("60", cc["max-age"])
    assert.equal("Set-Cookie, X-A", cc["no-cache"])
    assert.equal("30", cc["s-maxage"])
  end)

  it("reads several header lines and keeps the first of a repeated directive", function()
    local cc = rules.parse({ "max-age=10", "max-age=99, private" })
    assert.equal("10", cc["max-age"])
    assert.is_true(cc.private)
  end)

  it("skips garbage and empty elements", function()
    local cc = rules.parse(",, ;;;, no-store ,,")
    assert.is_true(cc["no-store"])
    assert.same({}, rules.parse(nil))
    assert.same({}, rules.parse(""))
  end)

  it("unescapes quoted-pair in a quoted value", function()
    assert.equal('a"b', rules.parse('x="a\\"b"').x)
  end)
end)

describe("Plugin: proxy-cache (HTTP dates)", function()
  it("reads the three RFC 9110 formats", function()
    local t = 784111777 -- Sun, 06 Nov 1994 08:49:37 GMT
    assert.equal(t, rules.http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(t, rules.http_date("Sunday, 06-Nov-94 08:49:37 GMT"))
    assert.equal(t, rules.http_date("Sun Nov  6 08:49:37 1994"))
  end)

  it("rejects anything else", function()
    assert.is_nil(rules.http_date("0"))
    assert.is_nil(rules.http_date("Sun, 06 Foo 1994 08:49:37 GMT"))
    assert.is_nil(rules.http_date(nil))
  end)
end)

describe("Plugin: proxy-cache (content types)", function()
  local allowed = { "text/plain", "application/json", "image/*" }

  it("compares the media type without parameters, case-insensitively", function()
    assert.is_true(rules.content_type_allowed(allowed, "application/json; charset=utf-8"))
    assert.is_true(rules.content_type_allowed(allowed, "Text/Plain"))
    assert.is_false(rules.content_type_allowed(allowed, "text/html"))
    assert.is_false(rules.content_type_allowed(allowed, nil))
    assert.is_false(rules.content_type_allowed(allowed, ""))
  end)

  it("understands type/* and */*", function()
    assert.is_true(rules.content_type_allowed(allowed, "image/png"))
    assert.is_true(rules.content_type_allowed({ "*/*" }, "anything/else"))
  end)
end)

describe("Plugin: proxy-cache (request rules)", function()
  local function decide(c, over)
    local r = { method = "GET" }
    for k, v in pairs(over or {}) do r[k] = v end
    return rules.request(c, r)
  end

  it("bypasses methods not in request_method", function()
    assert.equal(rules.BYPASS, decide(conf(), { method = "POST" }))
    assert.equal(rules.LOOKUP, decide(conf(), { method = "HEAD" }))
    assert.equal(rules.LOOKUP, decide(conf({ request_method = { "POST" } }), { method = "POST" }))
  end)

  it("bypasses Authorization unless a consumer or the header is in the key", function()
    assert.equal(rules.BYPASS, decide(conf(), { authorization = true }))
    assert.equal(rules.LOOKUP, decide(conf(), { authorization = true, consumer_id = "c" }))
    assert.equal(rules.LOOKUP, decide(conf(), { authorization = true,
                                                authorization_in_key = true }))
  end)

  it("ignores request Cache-Control unless cache_control is on", function()
    assert.equal(rules.LOOKUP, decide(conf(), { cache_control = "no-store" }))
    assert.equal(rules.LOOKUP, decide(conf(), { cache_control = "no-cache" }))
  end)

  describe("with cache_control", function()
    local c = conf({ cache_control = true })

    it("bypasses no-store", function()
      assert.equal(rules.BYPASS, decide(c, { cache_control = "no-store" }))
    end)

    it("refreshes on no-cache, max-age=0 and Pragma: no-cache alone", function()
      assert.equal(rules.REFRESH, decide(c, { cache_control = "no-cache" }))
      assert.equal(rules.REFRESH, decide(c, { cache_control = "max-age=0" }))
      assert.equal(rules.REFRESH, decide(c, { pragma = "no-cache" }))
      assert.equal(rules.LOOKUP, decide(c, { pragma = "no-cache", cache_control = "max-age=5" }))
    end)

    it("looks up otherwise and hands back the directives", function()
      local action, cc = decide(c, { cache_control = "max-age=5, min-fresh=2" })
      assert.equal(rules.LOOKUP, action)
      assert.equal("5", cc["max-age"])
    end)
  end)

  describe("accept_cached", function()
    local c = conf({ cache_control = true })

    it("takes any age without cache_control", function()
      assert.is_true(rules.accept_cached(conf(), rules.parse("max-age=1"), 100))
    end)

    it("refuses an answer older than the request's max-age", function()
      assert.is_true(rules.accept_cached(c, rules.parse("max-age=10"), 10))
      assert.is_false(rules.accept_cached(c, rules.parse("max-age=10"), 11))
      assert.is_false(rules.accept_cached(c, rules.parse("max-age=abc"), 1))
    end)

    it("checks min-fresh when the lifetime is known", function()
      assert.is_true(rules.accept_cached(c, rules.parse("min-fresh=5"), 10, 20))
      assert.is_false(rules.accept_cached(c, rules.parse("min-fresh=15"), 10, 20))
      assert.is_true(rules.accept_cached(c, rules.parse("min-fresh=15"), 10, nil))
    end)
  end)
end)

describe("Plugin: proxy-cache (response rules)", function()
  local NOW = 1700000000

  local function decide(c, over, covers)
    local r = { status = 200, content_type = "application/json" }
    for k, v in pairs(over or {}) do r[k] = v end
    return rules.response(c, r, NOW, covers)
  end

  it("stores a 200 JSON answer for cache_ttl, with the config's stale windows", function()
    local c = conf({ cache_ttl = 30, stale_while_revalidate = 5, stale_if_error = 60 })
    local ttl, swr, sie = decide(c)
    assert.same({ 30, 5, 60 }, { ttl, swr, sie })
  end)

  it("checks response_code and content_type", function()
    assert.same({ nil, "status" }, { decide(conf(), { status = 500 }) })
    assert.is_truthy(decide(conf(), { status = 404 }))
    assert.same({ nil, "content-type" }, { decide(conf(), { content_type = "text/html" }) })
    assert.same({ nil, "content-type" }, { decide(conf(), { content_type = false }) })
  end)

  it("never stores Set-Cookie, private, no-store or Vary: *, even without cache_control", function()
    assert.same({ nil, "set-cookie" }, { decide(conf(), { set_cookie = true }) })
    assert.same({ nil, "private" }, { decide(conf(), { cache_control = "private" }) })
    assert.same({ nil, "no-store" }, { decide(conf(), { cache_control = "no-store" }) })
    assert.same({ nil, "vary" }, { decide(conf(), { vary = "Accept, *" }) })
  end)

  it("ignores max-age and no-cache without cache_control (Kong)", function()
    assert.equal(300, (decide(conf(), { cache_control = "max-age=5, no-cache" })))
    assert.equal(300, (decide(conf(), { vary = "Accept-Encoding" })))
  end)

  it("does not store an answer to an Authorization request unless keyed", function()
    assert.same({ nil, "authorization" }, { decide(conf(), { authorization = true }) })
    assert.is_truthy(decide(conf(), { authorization = true, keyed = true }))
  end)

  describe("with cache_control", function()
    local c = conf({ cache_control = true, cache_ttl = 300 })

    it("does not store no-cache", function()
      assert.same({ nil, "no-cache" }, { decide(c, { cache_control = "no-cache" }) })
    end)

    it("takes s-maxage over max-age over Expires, minus Age", function()
      assert.equal(20, (decide(c, { cache_control = "max-age=10, s-maxage=20" })))
      assert.equal(10, (decide(c, { cache_control = "max-age=10",
                                    expires = "Sun, 06 Nov 1994 08:49:37 GMT" })))
      assert.equal(7, (decide(c, { cache_control = "max-age=10", age = "3" })))
      assert.equal(300, (decide(c, {})))
    end)

    it("uses Expires - Date, and treats a bad Expires as expired", function()
      assert.equal(60, (decide(c, { date = "Sun, 06 Nov 1994 08:49:37 GMT",
                                    expires = "Sun, 06 Nov 1994 08:50:37 GMT" })))
      assert.same({ nil, "expired" }, { decide(c, { expires = "0" }) })
    end)

    it("does not store an answer that is already stale", function()
      assert.same({ nil, "expired" }, { decide(c, { cache_control = "max-age=0" }) })
      assert.same({ nil, "expired" }, { decide(c, { cache_control = "max-age=10", age = "11" }) })
    end)

    it("takes the response's stale windows, and none with must-revalidate", function()
      local cs = conf({ cache_control = true, stale_while_revalidate = 1, stale_if_error = 2 })
      assert.same({ 10, 30, 40 }, { decide(cs, {
        cache_control = "max-age=10, stale-while-revalidate=30, stale-if-error=40" }) })
      assert.same({ 10, 1, 2 }, { decide(cs, { cache_control = "max-age=10" }) })
      assert.same({ 10, 0, 0 }, { decide(cs, { cache_control = "max-age=10, must-revalidate" }) })
    end)

    it("stores a Vary answer only when the key covers every named header", function()
      local covers = function(n) return n:lower() == "accept-language" end
      assert.is_truthy(decide(c, { vary = "Accept-Language" }, covers))
      assert.same({ nil, "vary" }, { decide(c, { vary = "Accept-Language, Cookie" }, covers) })
    end)
  end)

  describe("lifetimes", function()
    it("converts to ms", function()
      assert.same({ 30000, 5000, 0 }, { rules.lifetimes(conf(), 30, 5, 0) })
    end)

    it("fits freshness and stale windows into storage_ttl", function()
      local c = conf({ storage_ttl = 40 })
      assert.same({ 30000, 10000, 10000 }, { rules.lifetimes(c, 30, 60, 60) })
      assert.same({ 40000, 0, 0 }, { rules.lifetimes(c, 100, 60, 60) })
    end)
  end)
end)

describe("Plugin: proxy-cache (access, fake backend: no cache)", function()
  before_each(function() tp.reset() end)

  local function run(c, opts)
    opts = opts or {}
    opts.method = opts.method or "GET"
    opts.path = opts.path or "/items"
    local cfg = { strategy = "memory" }
    for k, v in pairs(c or {}) do cfg[k] = v end
    return tp.run_plugin("proxy-cache", cfg, opts)
  end

  it("has Kong's priority", function()
    assert.equal(100, tp.load_plugin("proxy-cache").priority)
  end)

  it("says Miss with the key on a cacheable request, which goes upstream", function()
    local res = run()
    assert.equal(200, res.status)
    assert.is_truthy(res.upstream)
    assert.equal("Miss", res.headers["x-cache-status"])
    assert.matches("^%x+$", res.headers["x-cache-key"])
    assert.equal(32, #res.headers["x-cache-key"])
    assert.is_nil(res.headers["age"])
  end)

  it("says Bypass for an answer it would not store", function()
    local html = function()
      return { status = 200, headers = { ["Content-Type"] = "text/html" }, body = "<p>" }
    end
    assert.equal("Bypass", run(nil, { upstream = html }).headers["x-cache-status"])
    local cookie = function()
      return { status = 200, headers = { ["Content-Type"] = "text/plain", ["Set-Cookie"] = "a" },
               body = "x" }
    end
    assert.equal("Bypass", run(nil, { upstream = cookie }).headers["x-cache-status"])
  end)

  it("sends the same key for the same request and another for another path", function()
    local a = run().headers["x-cache-key"]
    assert.equal(a, run().headers["x-cache-key"])
    assert.not_equal(a, run(nil, { path = "/other" }).headers["x-cache-key"])
  end)

  it("says Bypass for a method not in request_method, with no key", function()
    local res = run(nil, { method = "POST", body = "x" })
    assert.equal("Bypass", res.headers["x-cache-status"])
    assert.is_nil(res.headers["x-cache-key"])
    assert.is_truthy(res.upstream)
  end)

  it("says Bypass for Authorization without a consumer", function()
    local res = run(nil, { headers = { Authorization = "Bearer x" } })
    assert.equal("Bypass", res.headers["x-cache-status"])
  end)

  it("keys by consumer when one is authenticated", function()
    local consumers = { { username = "alice" }, { username = "bob" } }
    local a = run(nil, { consumers = consumers, consumer = "alice",
                         headers = { Authorization = "Bearer a" } })
    local b = run(nil, { consumers = { { username = "alice" }, { username = "bob" } },
                         consumer = "bob", headers = { Authorization = "Bearer b" } })
    assert.equal("Miss", a.headers["x-cache-status"])
    assert.equal("Miss", b.headers["x-cache-status"])
    assert.not_equal(a.headers["x-cache-key"], b.headers["x-cache-key"])
  end)

  describe("config.response_headers", function()
    it("leaves out the switched-off headers", function()
      local res = run({ response_headers = { ["X-Cache-Status"] = false,
                                             ["X-Cache-Key"] = false } })
      assert.is_nil(res.headers["x-cache-status"])
      assert.is_nil(res.headers["x-cache-key"])
      res = run({ response_headers = { ["X-Cache-Key"] = false } })
      assert.equal("Miss", res.headers["x-cache-status"])
      assert.is_nil(res.headers["x-cache-key"])
    end)
  end)

  describe("config.cache_control", function()
    it("says Bypass for request no-store and Refresh for no-cache", function()
      local c = { cache_control = true }
      assert.equal("Bypass", run(c, { headers = { ["Cache-Control"] = "no-store" } })
        .headers["x-cache-status"])
      local res = run(c, { headers = { ["Cache-Control"] = "no-cache" } })
      assert.equal("Refresh", res.headers["x-cache-status"])
      assert.is_truthy(res.upstream)
    end)

    it("answers only-if-cached with 504 when nothing is cached", function()
      local res = run({ cache_control = true },
                      { headers = { ["Cache-Control"] = "only-if-cached" } })
      assert.equal(504, res.status)
      assert.is_nil(res.upstream)
    end)

    it("ignores request directives when off", function()
      local res = run(nil, { headers = { ["Cache-Control"] = "no-store" } })
      assert.equal("Miss", res.headers["x-cache-status"])
    end)
  end)

  it("lets a later plugin's exit win", function()
    local res = run(nil, { plugins = { { name = "stop", handler = {
      PRIORITY = 10,
      access = function() return kong.response.exit(418, { message = "no" }) end,
    } } } })
    assert.equal(418, res.status)
    assert.is_nil(res.upstream)
  end)
end)

describe("turnpike.ffi.cache", function()
  local cache = require "turnpike.ffi.cache"

  it("rejects a key the cache cannot hold", function()
    assert.has_error(function() cache.lookup({}, "", 0, 0, 10) end)
    assert.has_error(function() cache.lookup({}, ("k"):rep(129), 0, 0, 10) end)
  end)

  it("treats a request without a C handle as an uncached miss", function()
    assert.same({ cache.MISS_NOFILL, 0 }, { cache.lookup({}, "k", 0, 0, 10) })
    assert.equal(0, cache.store({}, 1000, 0, 0))
    cache.skip({})
  end)

  it("reports no stats and purges nothing where no cache region exists", function()
    -- `turnpike spec` runs without a master, so no region was mapped
    assert.is_nil(cache.stats())
    assert.is_true(cache.purge_all() <= 0)
    assert.is_true(cache.purge("k") <= 0)
  end)
end)
