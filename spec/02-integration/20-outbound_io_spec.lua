-- Outbound I/O from plugins through the real gateway: turnpike.http.request_uri against mock
-- upstreams and turnpike.redis against a redis-server this spec starts, plus proof that a
-- slow outbound call suspends only its own request (workers: 1).
local helpers = require "spec.helpers"
local cjson = require "cjson"

local PROBE_SCHEMA = [[
return {
  name = "io-probe",
  fields = {
    { config = { type = "record", fields = {
      { mode = { type = "string", required = true } },
      { url = { type = "string" } },
      { redis_port = { type = "number" } },
      { password = { type = "string" } },
      { timeout_ms = { type = "number", default = 2000 } },
      { keepalive = { type = "boolean", default = true } },
    } } },
  },
}
]]

-- The plugin answers with what its outbound calls returned, as JSON.
local PROBE_HANDLER = [[
local Probe = { PRIORITY = 1000, VERSION = "0.1.0" }

local function http_probe(conf)
  local res, err = turnpike.http.request_uri(conf.url, {
    method = "POST", body = "ping", query = { q = "1" },
    headers = { ["X-Probe"] = "yes", ["X-Multi"] = { "a", "b" } },
    timeout_ms = conf.timeout_ms, keepalive = conf.keepalive,
  })
  if not res then return { err = err } end
  return { status = res.status, body = res.body, ctype = res.headers["Content-Type"] }
end

local function redis_probe(conf)
  local red = turnpike.redis.new({ host = "127.0.0.1", port = conf.redis_port, database = 3,
                                   timeout_ms = 500, password = conf.password })
  local ok, err = red:connect()
  if not ok then return { err = err } end
  local out = {}
  if conf.mode == "redis-id" then
    out.client_id = red:client("id")
    red:set_keepalive()
    return out
  end
  out.set = red:set("k", "v")
  out.get = red:get("k")
  out.missing_is_null = red:get("missing") == turnpike.null
  out.incr = red:incr("n")
  red:del("l")
  red:rpush("l", "a", "b")
  out.list = red:lrange("l", 0, -1)
  out.nested = red:eval("return {1, {'x', 2}}", 0)
  local v, e = red:hget("k", "f")
  out.wrongtype = v == nil and e
  out.client_id = red:client("id")
  local bv, be = red:blpop("empty-list", 5) -- longer than timeout_ms: times out
  out.blpop = bv == nil and be
  red:set_keepalive()
  return out
end

function Probe:access(conf)
  local out
  if conf.mode == "http" then
    out = http_probe(conf)
  elseif conf.mode:sub(1, 5) == "redis" then
    out = redis_probe(conf)
  else
    out = { pong = true }
  end
  return turnpike.response.exit(200, out)
end

return Probe
]]

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function start_redis(dir, port)
  local pidfile = dir .. "/redis.pid"
  local cmd = ("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no " ..
               "--daemonize yes --pidfile %s --dir %s --logfile %s/redis.log"):format(
               port, pidfile, dir, dir)
  assert(os.execute(cmd))
  local pid
  helpers.wait_until(function()
    local f = io.open(pidfile)
    if not f then return false end
    pid = tonumber(f:read("*a"))
    f:close()
    return pid ~= nil
  end, 5, "redis-server pid file")
  return pid
end

local function probe(gw, path)
  local res = assert(helpers.http(gw.proxy_port, { path = path, timeout_ms = 5000 }))
  assert.equal(200, res.status)
  return cjson.decode(res.body), res
end

describe("Core: outbound I/O from plugins", function()
  local up, slow, gw, redis_pid, redis_port, dead_port

  lazy_setup(function()
    local dir = helpers.tmpdir("io")
    assert(os.execute("mkdir -p " .. dir .. "/plugins/io-probe"))
    write(dir .. "/plugins/io-probe/schema.lua", PROBE_SCHEMA)
    write(dir .. "/plugins/io-probe/handler.lua", PROBE_HANDLER)

    redis_port = helpers.free_port()
    redis_pid = start_redis(dir, redis_port)
    dead_port = helpers.free_port()
    up = helpers.mock_upstream()
    slow = helpers.mock_upstream { handler = function(req)
      local res = helpers.echo_handler(req)
      res.delay_ms = 1000
      return res
    end }

    local function route(name, conf)
      return { name = name, paths = { "/" .. name },
               plugins = { { name = "io-probe", config = conf } } }
    end
    local up_url = "http://127.0.0.1:" .. up.port .. "/echo"
    local slow_url = "http://127.0.0.1:" .. slow.port .. "/slow"
    gw = helpers.start_turnpike {
      plugins_path = { dir .. "/plugins" },
      config = {
        _format_version = "3.0",
        turnpike = { workers = 1, admin_listen = "off" },
        services = { { name = "s", url = "http://127.0.0.1:" .. up.port, routes = {
          route("http", { mode = "http", url = up_url }),
          route("http-close", { mode = "http", url = up_url, keepalive = false }),
          route("slow", { mode = "http", url = slow_url, timeout_ms = 3000 }),
          route("timeout", { mode = "http", url = slow_url, timeout_ms = 200 }),
          route("refused", { mode = "http", url = "http://127.0.0.1:" .. dead_port .. "/" }),
          route("https", { mode = "http", url = "https://127.0.0.1:" .. dead_port .. "/" }),
          route("redis", { mode = "redis", redis_port = redis_port }),
          route("redis-id", { mode = "redis-id", redis_port = redis_port }),
          route("redis-badpass", { mode = "redis", redis_port = redis_port, password = "nope" }),
          route("fast", { mode = "http", url = up_url }),
        } } },
      },
    }
  end)

  lazy_teardown(function()
    helpers.cleanup()
    if redis_pid then os.execute("kill " .. redis_pid) end
  end)

  describe("turnpike.http.request_uri", function()
    it("sends method, query, headers and body and returns status, headers and body", function()
      local out = probe(gw, "/http")
      assert.equal(200, out.status)
      assert.matches("application/json", out.ctype, 1, true)
      local seen = cjson.decode(out.body)
      assert.equal("POST", seen.method)
      assert.equal("/echo", seen.path)
      assert.equal("q=1", seen.query)
      assert.equal("ping", seen.body)
      assert.equal("yes", seen.headers["x-probe"])
      assert.same({ "a", "b" }, seen.headers["x-multi"])
    end)

    it("reuses a pooled connection to the same host:port", function()
      probe(gw, "/http")
      local before = #up:requests()
      probe(gw, "/http")
      probe(gw, "/http")
      local reqs = up:requests()
      assert.equal(before + 2, #reqs)
      assert.equal(reqs[#reqs - 1].conn, reqs[#reqs].conn)
    end)

    it("opens a new connection per call with keepalive = false", function()
      probe(gw, "/http-close")
      probe(gw, "/http-close")
      local reqs = up:requests()
      assert.are_not.equal(reqs[#reqs - 1].conn, reqs[#reqs].conn)
      assert.equal("close", reqs[#reqs].headers["connection"])
    end)

    it("returns nil, 'timeout' near timeout_ms", function()
      local t0 = helpers.now_ms()
      local out = probe(gw, "/timeout")
      local took = helpers.now_ms() - t0
      assert.equal("timeout", out.err)
      assert.is_true(took >= 180 and took < 900, "took " .. took .. " ms")
    end)

    it("returns nil, err for a refused connection and for https it cannot verify", function()
      assert.matches("refused", probe(gw, "/refused").err)
      -- https is verified by default, and an IP literal has no name to verify
      -- (spec/02-integration/21-outbound_https_spec.lua covers https itself)
      assert.matches("ssl_verify needs a host name", probe(gw, "/https").err)
    end)
  end)

  describe("turnpike.redis", function()
    it("converts every reply type and reports errors and timeouts", function()
      local out = probe(gw, "/redis")
      assert.equal("OK", out.set)
      assert.equal("v", out.get)
      assert.is_true(out.missing_is_null)
      assert.equal(1, out.incr)
      assert.same({ "a", "b" }, out.list)
      assert.same({ 1, { "x", 2 } }, out.nested)
      assert.matches("^WRONGTYPE", out.wrongtype)
      assert.equal("timeout", out.blpop)
    end)

    it("pools the connection per worker between requests", function()
      local a = probe(gw, "/redis-id")
      local b = probe(gw, "/redis-id")
      assert.is_number(a.client_id)
      assert.equal(a.client_id, b.client_id)
    end)

    it("never pools a connection that timed out", function()
      local a = probe(gw, "/redis")
      local b = probe(gw, "/redis")
      assert.equal("timeout", a.blpop)
      assert.are_not.equal(a.client_id, b.client_id)
      assert.equal(a.incr + 1, b.incr)
    end)

    it("reports a wrong password on connect", function()
      assert.matches("^auth: ", probe(gw, "/redis-badpass").err)
    end)
  end)

  it("finishes a request whose client left while its outbound call waited", function()
    local before = #slow:requests()
    local a = assert(helpers.raw(gw.proxy_port))
    local t0 = helpers.now_ms()
    a:send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    slow:wait_requests(before + 1, 5)
    a:close()
    -- the slow upstream answers after ~1 s; the worker must resume and finish that request
    helpers.wait_until(function() return helpers.now_ms() - t0 > 1300 end, 5, "the slow answer")
    assert.is_true(gw:alive())
    assert.equal(200, probe(gw, "/fast").status)
  end)

  it("a slow outbound call suspends only its own request", function()
    local slow_before = #slow:requests()
    local a = assert(helpers.raw(gw.proxy_port))
    local t0 = helpers.now_ms()
    a:send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    slow:wait_requests(slow_before + 1, 5)
    local tb = helpers.now_ms()
    local out = probe(gw, "/fast")
    local b_took = helpers.now_ms() - tb
    assert.equal(200, out.status)
    assert.is_true(b_took < 300, "request B took " .. b_took .. " ms while A waited")
    local res = assert(a:read_response { timeout_ms = 5000 })
    local a_took = helpers.now_ms() - t0
    assert.equal(200, res.status)
    assert.equal(200, cjson.decode(res.body).status)
    assert.is_true(a_took >= 900, "request A took " .. a_took .. " ms")
    assert.is_true(tb + b_took < t0 + a_took, "B finished before A")
    a:close()
  end)
end)
