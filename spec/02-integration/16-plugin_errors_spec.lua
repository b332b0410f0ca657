-- A plugin that raises, through the real core: handlers run without a pcall of their own (so
-- LuaJIT can compile the paths that leave a plugin's hot path); the core catches the error
-- where it entered Lua and asks worker.failed what to do. rewrite/access: the request gets a
-- 500 and the worker goes on; header_filter, body_filter and log: the error is logged and the
-- plugins after the failing one still run.
local helpers = require "spec.helpers"

local FAIL, AFTER = "fx-fail", "fx-after"

describe("a plugin that raises", function()
  local up, dir, gw

  local function plugin(name, handler) helpers.write_plugin(dir, name, handler) end

  lazy_setup(function()
    up = helpers.mock_upstream()
    dir = helpers.tmpdir("plugins")
    -- fx-fail raises in the phase the request names in X-Fail-In (after a sleep when the name
    -- ends in "-after-sleep": the error then comes from a resumed coroutine)
    plugin(FAIL, [[
local Handler = { PRIORITY = 2000, VERSION = "1.0.0" }
local function maybe_fail(phase)
  local want = kong.request.get_header("X-Fail-In")
  if want == phase then error("fx-fail boom in " .. phase) end
  if want == phase .. "-after-sleep" then
    turnpike.sleep(5)
    error("fx-fail boom after sleep in " .. phase)
  end
end
function Handler:rewrite() maybe_fail("rewrite") end
function Handler:access() maybe_fail("access") end
function Handler:header_filter() maybe_fail("header_filter") end
function Handler:body_filter() maybe_fail("body_filter") end
function Handler:log() maybe_fail("log") end
return Handler
]])
    -- fx-after runs after fx-fail in every phase and leaves a mark of each
    plugin(AFTER, [[
local Handler = { PRIORITY = 10, VERSION = "1.0.0" }
function Handler:header_filter() kong.response.set_header("X-After", "header_filter") end
function Handler:body_filter()
  local raw = turnpike.response.get_raw_body()
  if raw then turnpike.response.set_raw_body(raw .. "|after") end
end
function Handler:log()
  kong.log.notice("fx-after logged ", kong.request.get_header("X-Mark") or "-")
end
return Handler
]])
    gw = helpers.start_turnpike {
      config = { services = { { name = "s", host = "pool", port = 80, protocol = "http",
                                routes = { { name = "s", paths = { "/" } } } } },
                 -- an upstream entity with a passive breaker: requests are reported to it
                 upstreams = { { name = "pool", targets = { { target = "127.0.0.1:" .. up.port } },
                                 healthchecks = { passive = { unhealthy = { http_failures = 5 } },
                                                  breaker = { window_ms = 600000 } } } },
                 plugins = { { name = FAIL }, { name = AFTER } } },
      plugins_path = { dir },
    }
  end)

  lazy_teardown(function() helpers.stop_and_clean(gw, dir) end)

  local function get(fail_in, mark)
    return assert(helpers.http(gw.proxy_port, { path = "/e",
      headers = { ["X-Fail-In"] = fail_in, ["X-Mark"] = mark } }))
  end

  it("in access answers 500, logs plugin, phase and traceback, and the worker goes on", function()
    local pids = gw:worker_pids()
    local res = get("access", "a1")
    assert.equal(500, res.status)
    -- fx-after's body_filter runs on the error response too (appending "|after")
    assert.equal('{"message":"An unexpected error occurred"}|after', res.body)
    gw:wait_log("plugin fx-fail failed in access phase", 5, true)
    local logs = gw:logs()
    assert.matches("fx-fail boom in access", logs, 1, true)
    assert.matches("stack traceback", logs, 1, true)
    -- later phases still ran for the failed request (its log phase included)
    gw:wait_log("fx-after logged a1", 5, true)
    local ok = get(nil, "a2")
    assert.equal(200, ok.status)
    assert.same(pids, gw:worker_pids()) -- no worker died
  end)

  it("in rewrite and after a yield in access answers 500 too", function()
    assert.equal(500, get("rewrite", "r1").status)
    gw:wait_log("plugin fx-fail failed in rewrite phase", 5, true)
    assert.equal(500, get("access-after-sleep", "s1").status)
    gw:wait_log("fx-fail boom after sleep in access", 5, true)
    assert.equal(200, get(nil, "s2").status)
  end)

  it("in header_filter is logged and the plugins after it still run", function()
    local res = get("header_filter", "h1")
    assert.equal(200, res.status)
    assert.equal("header_filter", res.headers["x-after"])
    gw:wait_log("plugin fx-fail failed in header_filter phase", 5, true)
  end)

  it("in body_filter is logged and the plugins after it still see the body", function()
    local res = get("body_filter", "b1")
    assert.equal(200, res.status)
    assert.matches("|after", res.body, 1, true)
    gw:wait_log("plugin fx-fail failed in body_filter phase", 5, true)
  end)

  it("in log is logged and the plugins after it still log (also after a yield)", function()
    assert.equal(200, get("log", "l1").status)
    gw:wait_log("plugin fx-fail failed in log phase", 5, true)
    gw:wait_log("fx-after logged l1", 5, true)
    assert.equal(200, get("log-after-sleep", "l2").status)
    gw:wait_log("fx-after logged l2", 5, true)
  end)

  it("in log does not report the request to the target's breaker twice", function()
    local function reported() -- requests the target's breaker counted in its window
      local res = assert(gw:admin { path = "/upstreams/pool/health" })
      assert.equal(200, res.status)
      return res:json().data[1].state.window_requests
    end
    local before = reported()
    for i = 1, 5 do assert.equal(200, get("log", "twice" .. i).status) end
    gw:wait_log("fx-after logged twice5", 5, true)
    assert.equal(before + 5, reported())
  end)

  it("many failing and passing requests in turn leave the worker serving", function()
    local phases = { "access", "header_filter", "body_filter", "log", "rewrite" }
    for i = 1, 300 do
      local fail_in = i % 2 == 0 and phases[math.floor(i / 2) % #phases + 1] or nil
      local res = get(fail_in, "m" .. i)
      local want = (fail_in == "access" or fail_in == "rewrite") and 500 or 200
      assert.equal(want, res.status, "request " .. i .. " failing in " .. tostring(fail_in))
    end
    assert.truthy(gw:alive())
  end)
end)
