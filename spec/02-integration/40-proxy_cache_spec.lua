-- proxy-cache against the real build/turnpike: the plugin over the shared C cache, with mock
-- upstreams that record every request they get (so "served from the cache" is checked by the
-- upstream's request count, not only by a header).
local helpers = require "spec.helpers"
local cjson = require "cjson.safe"

local format = string.format

-- A response body that tells one upstream answer from another.
local function answer(req, extra)
  local body = { path = req.path, query = req.query, lang = req.headers["x-lang"],
                 n = format("%.6f", helpers.now_ms()) }
  for k, v in pairs(extra or {}) do body[k] = v end
  return cjson.encode(body)
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function touch(path)
  local f = assert(io.open(path, "wb"))
  f:close()
end

local function cache_plugin(conf)
  conf.strategy = "memory"
  return { { name = "proxy-cache", config = conf } }
end

-- how many requests for `path` the mock received
local function count(up, path)
  local n = 0
  for _, r in ipairs(up:requests()) do
    if r.path == path then n = n + 1 end
  end
  return n
end

describe("Plugin: proxy-cache (integration)", function()
  local up, flaky, down, gw, flag

  lazy_setup(function()
    flag = helpers.tmpdir("pc-flag") .. "/fail"
    up = helpers.mock_upstream { handler = function(req)
      local delay = req.path:find("^/slow") and 300 or req.path:find("^/swr") and 1000 or nil
      -- /cc/...?cc=<Cache-Control>&ct=<Content-Type>&status=<n>&cookie=1 shape the answer
      local q = {}
      for k, v in (req.query or ""):gmatch("([^&=]+)=([^&]*)") do
        q[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
      end
      return { status = tonumber(q.status) or 200, delay_ms = delay, body = answer(req),
               headers = { ["Content-Type"] = q.ct or "application/json",
                           ["Cache-Control"] = q.cc, ["Set-Cookie"] = q.cookie and "s=1" } }
    end }
    -- answers 500 while the flag file exists
    flaky = helpers.mock_upstream { handler = function(req)
      if exists(flag) then
        return { status = 500, body = '{"message":"down"}',
                 headers = { ["Content-Type"] = "application/json" } }
      end
      return { status = 200, body = answer(req),
               headers = { ["Content-Type"] = "application/json" } }
    end }
    down = helpers.mock_upstream { handler = function(req)
      return { status = 200, body = answer(req),
               headers = { ["Content-Type"] = "application/json" } }
    end }
    local function route(name, conf, extra)
      local r = { name = name, paths = { "/" .. name }, strip_path = false,
                  plugins = cache_plugin(conf) }
      for k, v in pairs(extra or {}) do r[k] = v end
      return r
    end
    gw = helpers.start_turnpike { workers = 2, config = {
      services = {
        { name = "up", url = "http://127.0.0.1:" .. up.port, routes = {
          route("basic", { cache_ttl = 300 }),
          route("ttl", { cache_ttl = 1 }),
          route("vary", { vary_query_params = { "page" }, vary_headers = { "X-Lang" } }),
          route("slow", {}),
          route("swr", { cache_ttl = 1, stale_while_revalidate = 60 }),
          route("off", { response_headers = { age = false, ["X-Cache-Key"] = false } }),
          route("cc", { cache_control = true, cache_ttl = 300 }),
        } },
        { name = "flaky", url = "http://127.0.0.1:" .. flaky.port, routes = {
          route("sie", { cache_ttl = 1, stale_if_error = 60 }),
          route("nosie", { cache_ttl = 1 }),
        } },
        { name = "down", url = "http://127.0.0.1:" .. down.port, routes = {
          route("gone", { cache_ttl = 1, stale_if_error = 60 }),
        } },
      },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  local function get(path, opts)
    opts = opts or {}
    opts.path = path
    local res, err = helpers.http(gw.proxy_port, opts)
    assert(res, err)
    return res
  end

  it("answers Miss, then Hit from the cache without asking the upstream again", function()
    local first = get("/basic/a")
    assert.equal(200, first.status)
    assert.equal("Miss", first.headers["x-cache-status"])
    local key = first.headers["x-cache-key"]
    assert.matches("^%x+$", key)
    assert.equal(1, count(up, "/basic/a"))

    local second = get("/basic/a")
    assert.equal(200, second.status)
    assert.equal("Hit", second.headers["x-cache-status"])
    assert.equal(key, second.headers["x-cache-key"])
    assert.equal(first.body, second.body)
    assert.equal("application/json", second.headers["content-type"])
    assert.matches("^%d+$", second.headers["age"])
    assert.equal(1, count(up, "/basic/a"))
  end)

  it("serves a HEAD hit without a body", function()
    assert.equal("Miss", get("/basic/head", { method = "HEAD" }).headers["x-cache-status"])
    local res = get("/basic/head", { method = "HEAD" })
    assert.equal("Hit", res.headers["x-cache-status"])
    assert.equal("", res.body)
    assert.equal(1, count(up, "/basic/head"))
  end)

  it("says Bypass for POST and never stores it", function()
    for _ = 1, 2 do
      local res = get("/basic/post", { method = "POST", body = "x" })
      assert.equal(200, res.status)
      assert.equal("Bypass", res.headers["x-cache-status"])
    end
    assert.equal(2, count(up, "/basic/post"))
  end)

  it("leaves out the headers switched off in response_headers", function()
    get("/off/x")
    local res = get("/off/x")
    assert.equal("Hit", res.headers["x-cache-status"])
    assert.is_nil(res.headers["age"])
    assert.is_nil(res.headers["x-cache-key"])
  end)

  -- n requests to path (with query), and how many of them reached the upstream
  local function twice(path, query, headers)
    local a = get(path, { query = query, headers = headers })
    local b = get(path, { query = query, headers = headers })
    return a, b, count(up, path)
  end

  it("never stores Set-Cookie, no-store or private answers, and says Bypass", function()
    for path, query in pairs({ ["/basic/cookie"] = "cookie=1",
                               ["/basic/nostore"] = "cc=no-store",
                               ["/basic/private"] = "cc=private%2C%20max-age%3D60" }) do
      local a, b, n = twice(path, query)
      assert.equal("Bypass", a.headers["x-cache-status"], path)
      assert.equal("Bypass", b.headers["x-cache-status"], path)
      assert.equal(2, n, path)
    end
  end)

  it("stores only the configured statuses and content types", function()
    local _, b, n = twice("/basic/s500", "status=500")
    assert.equal(500, b.status)
    assert.equal("Bypass", b.headers["x-cache-status"])
    assert.equal(2, n)
    _, b, n = twice("/basic/html", "ct=text%2Fhtml")
    assert.equal("Bypass", b.headers["x-cache-status"])
    assert.equal(2, n)
    _, b, n = twice("/basic/s404", "status=404&ct=text%2Fplain%3B%20charset%3Dutf-8")
    assert.equal(404, b.status)
    assert.equal("Hit", b.headers["x-cache-status"])
    assert.equal(1, n)
  end)

  describe("with cache_control", function()
    it("ignores max-age and no-cache answers' directives without it", function()
      local _, b, n = twice("/basic/maxage0", "cc=max-age%3D0")
      assert.equal("Hit", b.headers["x-cache-status"])
      assert.equal(1, n)
    end)

    it("does not store no-cache or max-age=0 answers", function()
      local _, b, n = twice("/cc/nocache", "cc=no-cache")
      assert.equal("Bypass", b.headers["x-cache-status"])
      assert.equal(2, n)
      _, b, n = twice("/cc/maxage0", "cc=max-age%3D0")
      assert.equal("Bypass", b.headers["x-cache-status"])
      assert.equal(2, n)
    end)

    it("keeps an answer for its s-maxage / max-age", function()
      local a, b, n = twice("/cc/maxage1", "cc=max-age%3D1")
      assert.equal("Miss", a.headers["x-cache-status"])
      assert.equal("Hit", b.headers["x-cache-status"])
      assert.equal(1, n)
      helpers.wait_until(function()
        return get("/cc/maxage1", { query = "cc=max-age%3D1" })
          .headers["x-cache-status"] == "Miss"
      end, 5, "a Miss after max-age=1")
      -- s-maxage (for shared caches) wins over max-age
      _, b, n = twice("/cc/smaxage", "cc=max-age%3D0%2C%20s-maxage%3D60")
      assert.equal("Hit", b.headers["x-cache-status"])
      assert.equal(1, n)
    end)

    it("bypasses a request with no-store and refreshes one with no-cache", function()
      get("/cc/req")
      assert.equal("Hit", get("/cc/req").headers["x-cache-status"])
      local res = get("/cc/req", { headers = { ["Cache-Control"] = "no-store" } })
      assert.equal("Bypass", res.headers["x-cache-status"])
      res = get("/cc/req", { headers = { ["Cache-Control"] = "no-cache" } })
      assert.equal("Refresh", res.headers["x-cache-status"])
      assert.equal(3, count(up, "/cc/req"))
    end)
  end)

  it("goes upstream again once cache_ttl has passed", function()
    local first = get("/ttl/x")
    assert.equal("Miss", first.headers["x-cache-status"])
    assert.equal("Hit", get("/ttl/x").headers["x-cache-status"])
    local later = helpers.wait_until(function()
      local res = get("/ttl/x")
      return res.headers["x-cache-status"] == "Miss" and res
    end, 5, "a Miss after the 1 s ttl")
    assert.not_equal(first.body, later.body)
    assert.equal(2, count(up, "/ttl/x"))
  end)

  it("varies by the configured query argument only", function()
    assert.equal("Miss", get("/vary/q", { query = "page=1" }).headers["x-cache-status"])
    assert.equal("Hit", get("/vary/q", { query = "page=1&utm=x" }).headers["x-cache-status"])
    assert.equal("Miss", get("/vary/q", { query = "page=2" }).headers["x-cache-status"])
    assert.equal("Hit", get("/vary/q", { query = "page=2" }).headers["x-cache-status"])
    assert.equal(2, count(up, "/vary/q"))
  end)

  it("varies by the configured header", function()
    local en = get("/vary/h", { headers = { ["X-Lang"] = "en" } })
    assert.equal("Miss", en.headers["x-cache-status"])
    local de = get("/vary/h", { headers = { ["X-Lang"] = "de" } })
    assert.equal("Miss", de.headers["x-cache-status"])
    local en2 = get("/vary/h", { headers = { ["X-Lang"] = "en" } })
    assert.equal("Hit", en2.headers["x-cache-status"])
    assert.equal("en", en2:json().lang)
    assert.equal("de", get("/vary/h", { headers = { ["X-Lang"] = "de" } }):json().lang)
    assert.equal(2, count(up, "/vary/h"))
  end)

  it("sends 100 concurrent misses of one key upstream once", function()
    local conns = {}
    for i = 1, 100 do
      local c = assert(helpers.raw(gw.proxy_port))
      assert(c:send(helpers.build_request(gw.proxy_port, { path = "/slow/burst" })))
      conns[i] = c
    end
    local statuses, bodies = {}, {}
    for i, c in ipairs(conns) do
      local res = assert(c:read_response({ timeout_ms = 10000 }))
      assert.equal(200, res.status)
      local st = res.headers["x-cache-status"]
      statuses[st] = (statuses[st] or 0) + 1
      bodies[res.body] = true
      c:close()
      conns[i] = nil
    end
    assert.equal(1, count(up, "/slow/burst"))
    assert.same({ Miss = 1, Hit = 99 }, statuses)
    local distinct = 0
    for _ in pairs(bodies) do distinct = distinct + 1 end
    assert.equal(1, distinct)
  end)

  it("serves the stale copy at once while one request refreshes it", function()
    local first = get("/swr/x")
    assert.equal("Miss", first.headers["x-cache-status"])
    -- past the 1 s ttl, within stale_while_revalidate: the old copy comes back at once even
    -- though the upstream takes 1 s to answer
    local stale, took = helpers.wait_until(function()
      local t0 = helpers.now_ms()
      local res = get("/swr/x")
      return res.headers["x-cache-status"] == "Stale" and res, helpers.now_ms() - t0
    end, 5, "a Stale answer")
    assert.equal(first.body, stale.body)
    assert.is_true(took < 800, "stale answer took " .. took .. " ms")
    -- more requests during the refresh are stale too, and start no second refresh
    for _ = 1, 5 do
      local res = get("/swr/x")
      assert.is_truthy(res.headers["x-cache-status"] == "Stale"
                       or res.headers["x-cache-status"] == "Hit")
    end
    local fresh = helpers.wait_until(function()
      local res = get("/swr/x")
      return res.headers["x-cache-status"] == "Hit" and res.body ~= first.body and res
    end, 5, "the refreshed copy")
    assert.equal(2, count(up, "/swr/x"))
    assert.not_equal(first.body, fresh.body)
  end)

  it("serves the stale copy when the upstream answers 5xx (stale_if_error)", function()
    local first = get("/sie/x")
    assert.equal("Miss", first.headers["x-cache-status"])
    touch(flag)
    finally(function() os.remove(flag) end)
    local res = helpers.wait_until(function()
      local r = get("/sie/x")
      return r.headers["x-cache-status"] == "Stale" and r
    end, 5, "a Stale answer while the upstream fails")
    assert.equal(200, res.status)
    assert.equal(first.body, res.body)
    assert.is_true(count(flaky, "/sie/x") >= 2)
    -- without stale_if_error the 500 goes through
    get("/nosie/x")
    local failed = helpers.wait_until(function()
      local r = get("/nosie/x")
      return r.status == 500 and r
    end, 5, "the upstream's 500")
    assert.equal("Bypass", failed.headers["x-cache-status"])
  end)

  it("serves the stale copy when the upstream is gone (stale_if_error)", function()
    local first = get("/gone/x")
    assert.equal("Miss", first.headers["x-cache-status"])
    down:stop()
    local res = helpers.wait_until(function()
      local r = get("/gone/x")
      return r.headers["x-cache-status"] == "Stale" and r
    end, 5, "a Stale answer with the upstream down")
    assert.equal(200, res.status)
    assert.equal(first.body, res.body)
    assert.matches("^%d+$", res.headers["age"])
  end)

  it("forgets everything on DELETE /cache and one key on DELETE /cache/{key}", function()
    local key = get("/basic/purge").headers["x-cache-key"]
    get("/basic/other")
    assert.equal("Hit", get("/basic/purge").headers["x-cache-status"])

    local res = assert(gw:admin({ method = "DELETE", path = "/cache/" .. key }))
    assert.equal(200, res.status)
    assert.equal("Miss", get("/basic/purge").headers["x-cache-status"])
    assert.equal("Hit", get("/basic/other").headers["x-cache-status"])

    res = assert(gw:admin({ method = "DELETE", path = "/cache" }))
    assert.equal(200, res.status)
    assert.equal("Miss", get("/basic/purge").headers["x-cache-status"])
    assert.equal("Miss", get("/basic/other").headers["x-cache-status"])
    res = assert(gw:admin({ method = "DELETE", path = "/cache/" .. ("0"):rep(32) }))
    assert.equal(404, res.status)
  end)

  it("keeps entries across a reload (SIGHUP)", function()
    local first = get("/basic/reload")
    assert.equal("Miss", first.headers["x-cache-status"])
    assert(gw:reload())
    local res = get("/basic/reload")
    assert.equal("Hit", res.headers["x-cache-status"])
    assert.equal(first.body, res.body)
    assert.equal(1, count(up, "/basic/reload"))
  end)
end)

describe("Plugin: proxy-cache (integration, small cache_size)", function()
  local up, gw
  local BODY = ("x"):rep(20000) -- 5 blocks of the cache; 256k holds about 12 of these

  lazy_setup(function()
    up = helpers.mock_upstream { handler = function(req)
      local body = req.path .. (req.path:find("^/big") and BODY:rep(3) or BODY)
      return { status = 200, body = body, headers = { ["Content-Type"] = "text/plain" } }
    end }
    gw = helpers.start_turnpike { config = {
      turnpike = { cache_size = "256k" },
      services = { { name = "up", url = "http://127.0.0.1:" .. up.port, routes = {
        { name = "r", paths = { "/" }, plugins = cache_plugin({}) } } } },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  local function get(path)
    local res, err = helpers.http(gw.proxy_port, { path = path })
    assert(res, err)
    assert.equal(200, res.status)
    if not path:find("^/big") then assert.equal(path .. BODY, res.body) end
    return res.headers["x-cache-status"], res
  end

  it("streams an answer too big for one entry to the client without storing it", function()
    -- one entry may take an eighth of the cache (32k of 256k)
    local status, res = get("/big")
    assert.equal("Miss", status)
    assert.equal(#("/big" .. BODY:rep(3)), #res.body)
    status, res = get("/big")
    assert.equal("Miss", status)
    assert.equal("/big" .. BODY:rep(3), res.body)
    assert.equal(2, #up:requests())
  end)

  it("evicts the least recently used entries to make room", function()
    for i = 1, 30 do assert.equal("Miss", get("/e" .. i)) end
    -- the newest entries are still there, the oldest were evicted
    assert.equal("Hit", get("/e30"))
    assert.equal("Hit", get("/e29"))
    assert.equal("Miss", get("/e1"))
    local st = assert(gw:status())
    assert.is_true(st.cache.evictions > 0)
    assert.is_true(st.cache.bytes_used <= st.cache.bytes_total)
  end)
end)
