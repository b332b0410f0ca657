-- Reload under load: keep-alive clients in child processes send requests back to back while
-- the spec reloads between two configs (route /a to upstream 1, then to upstream 2): no
-- failed request, no connection error, both upstreams seen. Then reloading Lua code: an
-- edited plugin handler, an edited helper module of the plugin (by the kong.plugins.NAME.x
-- name and as a sibling module), a plugin edit with a syntax error refused, and --watch
-- noticing a plugin file edit. Prints the reload latency (SIGHUP to the new config serving).
local helpers = require "spec.helpers"
local load = require "fixtures.reload.load"

local RELOADS = 6
local MIN_LOAD_MS = 3000
local PLUGIN = "fx-reload"

-- an upstream that answers with its own name
local function named_upstream(name)
  return helpers.mock_upstream { handler = function()
    return { status = 200, headers = { ["Content-Type"] = "text/plain" }, body = name }
  end }
end

local function route_a(up)
  return { services = { { name = "a", url = "http://127.0.0.1:" .. up.port,
                          routes = { { name = "a", paths = { "/a" } } } } } }
end

local function body_of(gw, path)
  local res = assert(helpers.http(gw.proxy_port, { path = path or "/a/probe" }))
  return res.status == 200 and res.body or ("status " .. res.status)
end

-- resident memory of the workers, in KiB (printed: generations must be freed after a reload)
local function workers_rss(gw)
  local out = {}
  for _, pid in pairs(gw:worker_pids()) do
    local text = helpers.read_file("/proc/" .. pid .. "/status") or ""
    out[#out + 1] = tonumber(text:match("VmRSS:%s*(%d+)")) or -1
  end
  table.sort(out)
  return table.concat(out, " / ")
end

local function stats(list)
  table.sort(list)
  local sum = 0
  for _, v in ipairs(list) do sum = sum + v end
  return string.format("min %.1f ms, median %.1f ms, max %.1f ms, mean %.1f ms (n=%d)",
                       list[1], list[math.ceil(#list / 2)], list[#list], sum / #list, #list)
end

describe("Reload under load (workers: 2)", function()
  local up1, up2, gw

  lazy_setup(function()
    up1, up2 = named_upstream("up1"), named_upstream("up2")
    gw = helpers.start_turnpike { config = route_a(up1), workers = 2 }
  end)

  lazy_teardown(helpers.cleanup)

  it("answers every request with 200 and drops no connection across reloads", function()
    assert.equal("up1", body_of(gw))
    local rss_before = workers_rss(gw)
    local l = load.start(gw.proxy_port, { clients = 4, path = "/a/load", max_s = 30 })
    local ok_started, serr = pcall(l.wait_started, l, 5)
    local started = helpers.now_ms()
    local ready_ms, first_ms = {}, {}
    local reloads, failed = 0, nil
    -- at least RELOADS reloads, and load for at least MIN_LOAD_MS
    while ok_started and (reloads < RELOADS or helpers.now_ms() - started < MIN_LOAD_MS) do
      local target = reloads % 2 == 0 and up2 or up1
      local want = target == up2 and "up2" or "up1"
      gw:write_config(route_a(target))
      local t0 = helpers.now_ms()
      -- gw:reload sends SIGHUP and waits for the verdict and every worker on the generation
      local ok, err = gw:reload()
      if not ok then failed = err break end
      ready_ms[#ready_ms + 1] = helpers.now_ms() - t0
      -- the first fresh connection that gets the new upstream's answer
      helpers.wait_until(function() return body_of(gw) == want end, 5, want .. " served")
      first_ms[#first_ms + 1] = helpers.now_ms() - t0
      reloads = reloads + 1
    end
    local load_ms = helpers.now_ms() - started
    local total = l:stop()
    assert(ok_started, serr)
    assert.is_nil(failed, "a reload failed: " .. tostring(failed))
    print(string.format("\n[07-reload_load] %d reloads in %.0f ms of load, %d clients: "
                        .. "%d requests (%.0f req/s), statuses %s, up1 %d, up2 %d, "
                        .. "connection errors %d, server closes %d",
                        reloads, load_ms, total.clients, total.requests,
                        total.requests / (load_ms / 1000), require("cjson").encode(total.statuses),
                        total.bodies.up1 or 0, total.bodies.up2 or 0, total.errors, total.closes))
    print("[07-reload_load] worker RSS before / after the reloads (KiB): " .. rss_before
          .. " -> " .. workers_rss(gw))
    print("[07-reload_load] reload latency, SIGHUP to every worker on the new generation: "
          .. stats(ready_ms))
    print("[07-reload_load] reload latency, SIGHUP to a new connection served by the new "
          .. "config: " .. stats(first_ms))
    local detail = table.concat(total.first_errors, "\n  ")
    assert.is_true(reloads >= RELOADS)
    assert.is_true(total.requests > 0)
    assert.equal(0, total.errors, "connection errors:\n  " .. detail)
    assert.equal(total.requests, total.statuses["200"] or 0,
                 "not every answer was 200:\n  " .. detail)
    assert.is_true((total.bodies.up1 or 0) > 0, "upstream 1 never answered")
    assert.is_true((total.bodies.up2 or 0) > 0, "upstream 2 never answered")
    assert.equal(0, total.closes, "the gateway closed keep-alive connections")
  end)
end)

describe("Reload of plugin code", function()
  local up, dir

  local function write(path, text)
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
  end

  -- the plugin folder: handler.lua names its version, helper.lua (required as
  -- kong.plugins.fx-reload.helper) and sibling.lua (a plain require from the plugin) theirs
  local function write_plugin(parts)
    local pdir = dir .. "/" .. PLUGIN
    os.execute("mkdir -p '" .. pdir .. "'")
    write(pdir .. "/schema.lua", string.format([[
return { name = %q, fields = { { config = { type = "record", fields = {} } } } }
]], PLUGIN))
    if parts.handler then
      write(pdir .. "/handler.lua", parts.handler_text or string.format([[
local helper = require "kong.plugins.%s.helper"
local sibling = require "sibling"
local Handler = { PRIORITY = 900, VERSION = "1.0.0" }
function Handler:header_filter(conf)
  kong.response.set_header("X-Version", %q)
  kong.response.set_header("X-Helper", helper.version())
  kong.response.set_header("X-Sibling", sibling.version)
end
return Handler
]], PLUGIN, parts.handler))
    end
    if parts.helper then
      write(pdir .. "/helper.lua", string.format([[
local _M = {}
function _M.version() return %q end
return _M
]], parts.helper))
    end
    if parts.sibling then
      write(pdir .. "/sibling.lua", string.format("return { version = %q }\n", parts.sibling))
    end
    return pdir
  end

  local function config()
    return { services = { { name = "s", url = "http://127.0.0.1:" .. up.port,
                            routes = { { name = "s", paths = { "/" } } } } },
             plugins = { { name = PLUGIN } } }
  end

  -- the three versions, asked on several fresh connections (both workers)
  local function versions(gw)
    local seen
    for _ = 1, 6 do
      local res = assert(helpers.http(gw.proxy_port, { path = "/p" }))
      assert.equal(200, res.status)
      local v = (res.headers["x-version"] or "-") .. "/" .. (res.headers["x-helper"] or "-")
        .. "/" .. (res.headers["x-sibling"] or "-")
      if seen and seen ~= v then return "mixed: " .. seen .. " and " .. v end
      seen = v
    end
    return seen
  end

  lazy_setup(function()
    up = helpers.mock_upstream()
    dir = helpers.tmpdir("plugins")
  end)

  lazy_teardown(function()
    helpers.cleanup()
    if dir and dir:match("^/tmp/turnpike%-plugins%-") then os.execute("rm -rf '" .. dir .. "'") end
  end)

  describe("SIGHUP", function()
    local gw

    lazy_setup(function()
      write_plugin { handler = "1", helper = "h1", sibling = "s1" }
      gw = helpers.start_turnpike { config = config(), plugins_path = { dir }, workers = 2 }
    end)

    lazy_teardown(function() gw:stop() end)

    it("serves the first version of the plugin", function()
      assert.equal("1/h1/s1", versions(gw))
    end)

    it("takes an edited handler.lua after a reload", function()
      write_plugin { handler = "2" }
      assert.equal("1/h1/s1", versions(gw)) -- nothing changes before the reload
      assert(gw:reload())
      assert.equal("2/h1/s1", versions(gw))
    end)

    it("takes an edited helper module (kong.plugins.NAME.helper) after a reload", function()
      write_plugin { helper = "h2" }
      assert(gw:reload())
      assert.equal("2/h2/s1", versions(gw))
    end)

    it("takes an edited sibling module (plain require) after a reload", function()
      write_plugin { sibling = "s2" }
      assert(gw:reload())
      assert.equal("2/h2/s2", versions(gw))
    end)

    it("refuses plugin code with a syntax error and keeps the old code serving", function()
      local before = assert(gw:status()).configuration_generation
      local pdir = write_plugin { handler = "3", handler_text = [[
local Handler = { PRIORITY = 900, VERSION = "3.0.0" }
function Handler:header_filter(conf)
  kong.response.set_header("X-Version", "3"
end
return Handler
]] }
      local ok, err = gw:reload()
      assert.is_nil(ok)
      assert.is_string(err)
      assert.matches(pdir .. "/handler.lua", err, 1, true)
      assert.equal("2/h2/s2", versions(gw))
      assert.equal(before, assert(gw:status()).configuration_generation)
      -- a syntax error in a helper module is refused the same way
      write_plugin { handler = "3" }
      write(pdir .. "/helper.lua", "local _M = {\nreturn _M\n")
      ok = gw:reload()
      assert.is_nil(ok)
      -- the verdict in <prefix>/generation (gw:reload's err quotes the first refusal in the
      -- log, which is the one above)
      local _, verdict = gw:generation()
      assert.matches("^failed", verdict)
      assert.matches(pdir .. "/helper.lua", verdict, 1, true)
      assert.equal("2/h2/s2", versions(gw))
      -- fixed: the next reload takes everything
      write_plugin { helper = "h3" }
      assert(gw:reload())
      assert.equal("3/h3/s2", versions(gw))
    end)

    it("reports the newest refusal from gw:reload (kit), not the first one in the log", function()
      local pdir = dir .. "/" .. PLUGIN
      write(pdir .. "/sibling.lua", "return { version = \n")
      local ok, err = gw:reload()
      write_plugin { sibling = "s2" }
      assert.is_nil(ok)
      assert.matches(pdir .. "/sibling.lua", err, 1, true)
      assert.equal("3/h3/s2", versions(gw))
    end)
  end)

  describe("--watch", function()
    it("reloads when a plugin file in plugins_path changes", function()
      write_plugin { handler = "1", helper = "h1", sibling = "s1" }
      local gw = helpers.start_turnpike { config = config(), plugins_path = { dir },
                                          args = { "--watch" } }
      assert.equal("1/h1/s1", versions(gw))
      -- the watcher compares mtimes: rewrite until the change is seen (its tick is 300 ms)
      helpers.wait_until(function()
        write_plugin { helper = "h2" }
        return versions(gw) == "1/h2/s1"
      end, 8, "the edited helper served without a SIGHUP")
      assert.is_true(gw:generation() > 1)
      gw:stop()
    end)
  end)
end)
