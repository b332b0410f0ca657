-- Reload: SIGHUP takes a new config without a restart; a broken config changes nothing;
-- the admin API reports the generation per worker.
local helpers = require "spec.helpers"

local function routes_config(up, paths)
  local routes = {}
  for i, p in ipairs(paths) do routes[i] = { name = "r" .. i, paths = { p } } end
  return { services = { { name = "echo", url = "http://127.0.0.1:" .. up.port, routes = routes } } }
end

describe("Core: reload", function()
  local up, slow, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    slow = helpers.mock_upstream { handler = function(req)
      local res = helpers.echo_handler(req)
      res.delay_ms = 500
      return res
    end }
    gw = helpers.start_turnpike { config = routes_config(up, { "/v1" }), workers = 2 }
  end)

  lazy_teardown(helpers.cleanup)

  local function status_of(path)
    return assert(helpers.http(gw.proxy_port, { path = path })).status
  end

  it("reports generation 1 on every worker at start", function()
    local st = assert(gw:status())
    assert.equal(1, st.configuration_generation)
    assert.equal(2, #st.workers)
    for _, w in ipairs(st.workers) do assert.equal(1, w.generation) end
  end)

  it("serves a changed config after SIGHUP", function()
    assert.equal(200, status_of("/v1/x"))
    assert.equal(404, status_of("/v2/x"))
    local pid = gw.pid
    local ok, gen = gw:reload(routes_config(up, { "/v2" }))
    assert(ok, gen)
    assert.equal(2, gen)
    assert.equal(pid, gw.pid)
    -- every worker is on the new generation: several fresh connections all see it
    for _ = 1, 8 do
      assert.equal(200, status_of("/v2/x"))
      assert.equal(404, status_of("/v1/x"))
    end
    local st = assert(gw:status())
    assert.equal(2, st.configuration_generation)
    for _, w in ipairs(st.workers) do assert.equal(2, w.generation) end
  end)

  it("refuses a broken config and keeps the old one serving", function()
    local before = assert(gw:status()).configuration_generation
    -- a route without paths/hosts/methods is invalid; so is an unknown plugin
    local broken = routes_config(up, { "/v3" })
    broken.plugins = { { name = "no-such-plugin-anywhere" } }
    local ok, err = gw:reload(broken)
    assert.is_nil(ok)
    assert.matches("no%-such%-plugin%-anywhere", err)
    local _, status = gw:generation()
    assert.matches("^failed", status)
    assert.equal(404, status_of("/v3/x"))
    assert.equal(200, status_of("/v2/x"))
    local st = assert(gw:status())
    assert.equal(before, st.configuration_generation)
    for _, w in ipairs(st.workers) do assert.equal(before, w.generation) end
  end)

  it("refuses a config that is not YAML and keeps serving", function()
    local before = assert(gw:status()).configuration_generation
    local f = assert(io.open(gw.config_path, "wb"))
    f:write("services: [ { name: \"x\"\n  oops: : :\n")
    f:close()
    local ok, err = gw:reload()
    assert.is_nil(ok)
    assert.is_string(err)
    assert.equal(200, status_of("/v2/x"))
    assert.equal(before, assert(gw:status()).configuration_generation)
  end)

  it("keeps a keep-alive connection across a reload", function()
    gw:write_config(routes_config(up, { "/v2" }))
    local c = assert(helpers.client(gw.proxy_port))
    assert.equal(200, assert(c:request { path = "/v2/before" }).status)
    local ok, err = gw:reload(routes_config(up, { "/v2", "/v4" }))
    assert(ok, err)
    local res = assert(c:request { path = "/v4/after" })
    assert.equal(200, res.status)
    assert.equal("/after", res:json().path)
    c:close()
  end)

  it("finishes a request in flight during the reload on the old generation", function()
    local cfg = routes_config(up, { "/v2" })
    table.insert(cfg.services, { name = "slow", url = "http://127.0.0.1:" .. slow.port,
                                 routes = { { name = "slow", paths = { "/slow" } } } })
    assert(gw:reload(cfg))
    slow:reset()
    local r = assert(helpers.raw(gw.proxy_port))
    assert(r:send("GET /slow/reloading HTTP/1.1\r\nHost: x\r\n\r\n"))
    slow:wait_requests(1, 5)
    cfg.services[1].routes[1].paths = { "/v5" }
    assert(gw:reload(cfg))
    local res = assert(r:read_response { timeout_ms = 5000 })
    assert.equal(200, res.status)
    assert.equal("/reloading", res:json().path)
    r:close()
    assert.equal(200, status_of("/v5/x"))
  end)

  it("reloads when the config file changes with --watch", function()
    local w = helpers.start_turnpike { config = routes_config(up, { "/w1" }), args = { "--watch" } }
    assert.equal(200, assert(helpers.http(w.proxy_port, { path = "/w1" })).status)
    w:write_config(routes_config(up, { "/w2" }))
    -- mtime has a one-second resolution in the watcher: make the change visible
    helpers.wait_until(function()
      w:write_config(routes_config(up, { "/w2" }))
      return assert(helpers.http(w.proxy_port, { path = "/w2" })).status == 200
    end, 6, "the watched change served")
    w:stop()
  end)

  it("does not reload by itself with --watch when only runtime files change", function()
    -- the prefix (pid and generation files) and the log sit next to the config, as with the
    -- defaults (prefix ./run beside ./turnpike.yml)
    local w = helpers.start_turnpike { config = routes_config(up, { "/w1" }), args = { "--watch" } }
    -- an observation window with traffic (access log lines go to the log beside the config):
    -- the watcher ticks every 300 ms with one-second mtimes
    local reloaded = pcall(helpers.wait_until, function()
      assert(helpers.http(w.proxy_port, { path = "/w1/traffic" }))
      return (w:generation() or 0) > 1
    end, 2.5, "a reload")
    local gen = w:generation()
    w:stop()
    assert.is_false(reloaded, "nothing changed, yet the gateway reloaded to generation " .. gen)
  end)
end)
