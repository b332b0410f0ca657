-- enrich against the real gateway: a mock profile service and a mock upstream, both real
-- sockets; the lookup really suspends the request inside the worker.
local ffi = require "ffi"
local cjson = require "cjson"
local I = require("turnpike.spec").integration

pcall(ffi.cdef, "char *getcwd(char *buf, size_t size);")

-- The gateway resolves a relative plugins_path against its config file's folder (a temp
-- folder here), so the spec hands it absolute paths.
local function absolute(path)
  if path:sub(1, 1) == "/" then return path end
  local buf = ffi.new("char[?]", 4096)
  return ffi.string(assert(ffi.C.getcwd(buf, 4096))) .. "/" .. path
end

local HERE = absolute(debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or ".")

local PROFILES = { alice = { plan = "gold", region = "eu" } }
local TIMEOUT_MS = 200

-- the profile service: /profiles/<key>; "slow" answers after the plugin's timeout,
-- "broken" answers 500, unknown keys 404
local function profile_handler(req)
  local key = req.path:match("^/profiles/(.+)$")
  if key == "slow" then
    return { status = 200, delay_ms = TIMEOUT_MS * 5, body = "{}",
             headers = { ["Content-Type"] = "application/json" } }
  end
  if key == "broken" then return { status = 500, body = "down" } end
  local p = PROFILES[key]
  if not p then return { status = 404, body = "{}" } end
  return { status = 200, headers = { ["Content-Type"] = "application/json" },
           body = cjson.encode(p) }
end

local function enrich_conf(profiles, fail_open)
  return { url = "http://127.0.0.1:" .. profiles.port .. "/profiles/{key}",
           fields = { plan = "X-User-Plan", region = "X-User-Region" },
           timeout_ms = TIMEOUT_MS, fail_open = fail_open }
end

local function timed(what, fn)
  local t0 = I.now_ms()
  local a, b = fn()
  print(string.format("enrich integration: %s took %.1f ms", what, I.now_ms() - t0))
  return a, b
end

describe("Plugin: enrich (integration)", function()
  local profiles, up, gw

  lazy_setup(function()
    profiles = I.mock_upstream { handler = profile_handler }
    up = I.mock_upstream()
    gw = timed("start_turnpike", function()
      return I.start_turnpike {
        plugins_path = { HERE .. "/../.." },
        config = { services = { {
          name = "api", url = "http://127.0.0.1:" .. up.port,
          routes = {
            { name = "closed", paths = { "/closed" },
              plugins = { { name = "enrich", config = enrich_conf(profiles, false) } } },
            { name = "open", paths = { "/open" },
              plugins = { { name = "enrich", config = enrich_conf(profiles, true) } } },
          },
        } } },
      }
    end)
  end)

  lazy_teardown(function()
    if gw then timed("stop", function() return gw:stop() end) end
    I.cleanup()
  end)

  before_each(function()
    up:reset()
    profiles:reset()
  end)

  local function get(path, key, extra)
    local headers = { ["X-User-ID"] = key }
    for k, v in pairs(extra or {}) do headers[k] = v end
    return assert(I.http(gw.proxy_port, { path = path, headers = headers }))
  end

  it("forwards the profile as upstream headers, then answers from the cache", function()
    local res = get("/closed/orders", "alice", { ["X-User-Plan"] = "forged" })
    assert.equal(200, res.status)
    local seen = up:wait_requests(1)[1].headers
    assert.equal("gold", seen["x-user-plan"])
    assert.equal("eu", seen["x-user-region"])
    assert.equal("found", seen["x-profile-status"])

    assert.equal(200, get("/closed/orders", "alice").status)
    up:wait_requests(2)
    assert.equal(1, #profiles:requests())
  end)

  it("forwards an unknown caller without profile headers", function()
    assert.equal(200, get("/closed", "nobody").status)
    local seen = up:wait_requests(1)[1].headers
    assert.is_nil(seen["x-user-plan"])
    assert.equal("not-found", seen["x-profile-status"])
  end)

  it("answers 503 within the timeout when the service is slow (fail closed)", function()
    local t0 = I.now_ms()
    local res = get("/closed", "slow")
    local took = I.now_ms() - t0
    assert.equal(503, res.status)
    assert.equal("Profile service unavailable", res:json().message)
    assert.is_true(took < TIMEOUT_MS * 3, "took " .. took .. " ms")
    assert.equal(0, #up:requests())
  end)

  it("forwards unenriched when the service fails and fail_open is set", function()
    assert.equal(200, get("/open", "broken").status)
    local seen = up:wait_requests(1)[1].headers
    assert.is_nil(seen["x-user-plan"])
    assert.equal("unavailable", seen["x-profile-status"])
    gw:wait_log("profile lookup for key 'broken' failed: answered 500 (fail open)", 5, true)
  end)

  it("keeps serving other requests while one lookup waits (one worker)", function()
    get("/open", "alice") -- cached from here on
    local slow = I.raw(gw.proxy_port)
    local t0 = I.now_ms()
    assert(slow:send("GET /open HTTP/1.1\r\nHost: gw\r\nX-User-ID: slow\r\n\r\n"))
    local fast = get("/open", "alice")
    local fast_ms = I.now_ms() - t0
    assert.equal(200, fast.status)
    local res = assert(slow:read_response())
    local slow_ms = I.now_ms() - t0
    slow:close()
    assert.equal(200, res.status)
    assert.is_true(fast_ms < TIMEOUT_MS, "the cached request took " .. fast_ms .. " ms")
    assert.is_true(slow_ms >= TIMEOUT_MS, "the slow one took " .. slow_ms .. " ms")
  end)
end)
