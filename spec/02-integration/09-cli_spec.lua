-- The command line against the real binary: `turnpike check`, `turnpike reload -c FILE` and
-- `turnpike stop -c FILE` against a running gateway (and against none), `turnpike version`,
-- and TURNPIKE_<NAME> overriding a node setting.
local helpers = require "spec.helpers"
local cmd = require "fixtures.reload.cmd"

local FIXTURES = (rawget(_G, "TURNPIKE_HOME") or os.getenv("TURNPIKE_HOME") or ".")
  .. "/spec/fixtures/reload/"

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function routes_config(up, paths, slow)
  local routes = {}
  for i, p in ipairs(paths) do routes[i] = { name = "r" .. i, paths = { p } } end
  local cfg = { services = { { name = "echo", url = "http://127.0.0.1:" .. up.port,
                               routes = routes } } }
  if slow then
    cfg.services[2] = { name = "slow", url = "http://127.0.0.1:" .. slow.port,
                        routes = { { name = "slow", paths = { "/slow" } } } }
  end
  return cfg
end

local function status_of(gw, path)
  return assert(helpers.http(gw.proxy_port, { path = path })).status
end

describe("CLI: turnpike check", function()
  local dir

  lazy_setup(function() dir = helpers.tmpdir("cli") end)

  lazy_teardown(function()
    if dir and dir:match("^/tmp/turnpike%-cli%-") then os.execute("rm -rf '" .. dir .. "'") end
  end)

  it("exits 0 for a valid config", function()
    local code, out = cmd.run { "check", "-c", FIXTURES .. "check_ok.yml" }
    assert.equal(0, code, out)
    assert.matches("check_ok.yml is ok", out, 1, true)
  end)

  it("exits 1 with FILE:LINE for a field of the wrong type", function()
    local path = FIXTURES .. "check_bad_type.yml"
    local code, out = cmd.run { "check", "-c", path }
    assert.equal(1, code)
    assert.matches(path .. ":9: ", out, 1, true)
    assert.matches("strip_path", out, 1, true)
  end)

  it("exits 1 with FILE:LINE for an unknown field in a plugin's config", function()
    local path = FIXTURES .. "check_bad_plugin_config.yml"
    local code, out = cmd.run { "check", "-c", path }
    assert.equal(1, code)
    assert.matches(path .. ":12: ", out, 1, true)
    assert.matches("rate-limiting", out, 1, true)
    assert.matches("per_fortnight", out, 1, true)
  end)

  it("exits 1 naming the plugin file and line when plugin code does not compile", function()
    local pdir = dir .. "/plugins/fx-cli-syntax"
    os.execute("mkdir -p '" .. pdir .. "'")
    write(pdir .. "/schema.lua", [[
return { name = "fx-cli-syntax", fields = { { config = { type = "record", fields = {} } } } }
]])
    write(pdir .. "/handler.lua", [[
local Handler = { PRIORITY = 1, VERSION = "1.0.0" }
function Handler:access(conf)
  if then end
end
return Handler
]])
    local path = dir .. "/turnpike.yml"
    write(path, helpers.to_yaml {
      _format_version = "3.0",
      turnpike = { plugins_path = { dir .. "/plugins" } },
      plugins = { { name = "fx-cli-syntax" } },
    })
    local code, out = cmd.run { "check", "-c", path }
    assert.equal(1, code)
    assert.matches(pdir .. "/handler.lua:3:", out, 1, true)
  end)

  it("exits 1 naming a config file that does not exist", function()
    local path = dir .. "/no-such-file.yml"
    local code, out = cmd.run { "check", "-c", path }
    assert.equal(1, code)
    assert.matches(path, out, 1, true)
  end)
end)

describe("CLI: turnpike reload", function()
  local up, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    gw = helpers.start_turnpike { config = routes_config(up, { "/v1" }), workers = 2 }
  end)

  lazy_teardown(helpers.cleanup)

  it("reloads a running gateway from -c FILE: exit 0, the new config serves", function()
    local before = assert(gw:status()).configuration_generation
    gw:write_config(routes_config(up, { "/v2" }))
    local code, out = cmd.run { "reload", "-c", gw.config_path }
    assert.equal(0, code, out)
    assert.matches("generation " .. (before + 1), out, 1, true)
    helpers.wait_until(function() return gw:ready(before + 1) end, 5, "every worker reloaded")
    for _ = 1, 4 do
      assert.equal(200, status_of(gw, "/v2/x"))
      assert.equal(404, status_of(gw, "/v1/x"))
    end
  end)

  it("exits 1 with the error for a broken config and signals nothing", function()
    local before = assert(gw:status()).configuration_generation
    local verdict = helpers.read_file(gw.prefix .. "/generation")
    local log_len = #gw:logs()
    local broken = routes_config(up, { "/v3" })
    broken.plugins = { { name = "no-such-plugin-for-cli" } }
    gw:write_config(broken)
    local code, out = cmd.run { "reload", "-c", gw.config_path }
    assert.equal(1, code)
    assert.matches(gw.config_path, out, 1, true)
    assert.matches("no-such-plugin-for-cli", out, 1, true)
    -- the master never heard of it: no new verdict, no log line about a reload
    assert.equal(verdict, helpers.read_file(gw.prefix .. "/generation"))
    assert.is_nil(gw:logs():sub(log_len + 1):find("reload", 1, true))
    assert.equal(before, assert(gw:status()).configuration_generation)
    assert.equal(200, status_of(gw, "/v2/x"))
    assert.equal(404, status_of(gw, "/v3/x"))
  end)
end)

describe("CLI: turnpike stop", function()
  local up, slow

  lazy_setup(function()
    up = helpers.mock_upstream()
    slow = helpers.mock_upstream { handler = function(req)
      local res = helpers.echo_handler(req)
      res.delay_ms = 700
      return res
    end }
  end)

  lazy_teardown(helpers.cleanup)

  it("stops gracefully: the in-flight request completes, exit 0, the processes are gone", function()
    local gw = helpers.start_turnpike { config = routes_config(up, { "/" }, slow), workers = 2 }
    local workers = gw:worker_pids()
    local r = assert(helpers.raw(gw.proxy_port))
    assert(r:send("GET /slow/in-flight HTTP/1.1\r\nHost: x\r\n\r\n"))
    slow:wait_requests(1, 5)
    local stop = cmd.spawn { "stop", "-c", gw.config_path }
    -- the master is our child: reap it while `turnpike stop` waits for it to be gone
    local mcode, msig = gw:wait(10)
    local code, out = stop:wait(10)
    assert.is_nil(msig)
    assert.equal(0, mcode)
    assert.equal(0, code, out)
    assert.matches("stopped", out, 1, true)
    local res, err = r:read_response { timeout_ms = 5000 }
    assert(res, "the in-flight request was dropped: " .. tostring(err))
    assert.equal(200, res.status)
    assert.equal("/in-flight", res:json().path)
    r:close()
    for _, pid in pairs(workers) do assert.is_false(helpers.pid_alive(pid)) end
    assert.is_nil(io.open(gw.prefix .. "/turnpike.pid"))
    assert.is_nil(helpers.http(gw.proxy_port, { path = "/x", timeout_ms = 500 }))
    gw:stop()
  end)
end)

describe("CLI: no gateway running", function()
  local dir, path

  lazy_setup(function()
    dir = helpers.tmpdir("cli")
    path = dir .. "/turnpike.yml"
    write(path, helpers.to_yaml {
      _format_version = "3.0",
      turnpike = { prefix = dir .. "/run", admin_listen = "off" },
      services = { { name = "s", url = "http://127.0.0.1:9",
                     routes = { { name = "s", paths = { "/" } } } } },
    })
  end)

  lazy_teardown(function()
    if dir and dir:match("^/tmp/turnpike%-cli%-") then os.execute("rm -rf '" .. dir .. "'") end
  end)

  for _, command in ipairs { "reload", "stop" } do
    it(command .. " exits 1 saying so when there is no pid file", function()
      local code, out = cmd.run { command, "-c", path }
      assert.equal(1, code)
      assert.matches("not running", out, 1, true)
      assert.matches(dir .. "/run/turnpike.pid", out, 1, true)
    end)

    it(command .. " exits 1 saying so when the pid file names a process that is gone", function()
      -- a pid that surely is gone: a command of ours that exited and was reaped
      local p = cmd.spawn { "version" }
      local dead = p.pid
      p:wait(10)
      os.execute("mkdir -p '" .. dir .. "/run'")
      write(dir .. "/run/turnpike.pid", dead .. "\n")
      local code, out = cmd.run { command, "-c", path }
      assert.equal(1, code)
      assert.matches("not running", out, 1, true)
      assert.matches(tostring(dead), out, 1, true)
      os.remove(dir .. "/run/turnpike.pid")
    end)
  end
end)

describe("CLI: turnpike version", function()
  it("prints the version and the linked library versions", function()
    local code, out = cmd.run { "version" }
    assert.equal(0, code, out)
    assert.matches("^turnpike %d+%.%d+%.%d+", out)
    for _, lib in ipairs { "LuaJIT", "libev", "http-parser", "hiredis", "libyaml", "BearSSL" } do
      assert.matches("\n%s*" .. lib:gsub("%-", "%%-") .. "[^\n]*%d", out)
    end
  end)
end)

describe("CLI: TURNPIKE_<NAME> environment overrides", function()
  local up

  lazy_setup(function() up = helpers.mock_upstream() end)

  lazy_teardown(helpers.cleanup)

  it("TURNPIKE_ADMIN_LISTEN moves the admin API, also across a reload", function()
    local port = helpers.free_port()
    local cfg = routes_config(up, { "/" })
    cfg.turnpike = { admin_listen = "off" } -- the file says off; the environment wins
    local gw = helpers.start_turnpike { config = cfg,
                                        env = { TURNPIKE_ADMIN_LISTEN = "127.0.0.1:" .. port } }
    local res = helpers.wait_until(function()
      return helpers.http(port, { path = "/status", timeout_ms = 1000 })
    end, 5, "the admin API on the port from the environment")
    assert.equal(200, res.status)
    assert.is_number(res:json().configuration_generation)
    -- the proxy port still proxies
    assert.equal(200, status_of(gw, "/status"))
    assert(gw:reload(cfg))
    res = assert(helpers.http(port, { path = "/status" }))
    assert.equal(200, res.status)
    assert.equal(2, res:json().configuration_generation)
    gw:stop()
  end)

  it("TURNPIKE_WORKERS sets the number of workers", function()
    local gw = helpers.start_turnpike { config = routes_config(up, { "/" }),
                                        env = { TURNPIKE_WORKERS = "3" } }
    local st = helpers.wait_until(function() return gw:status() end, 5, "admin status")
    assert.equal(3, #st.workers)
    gw:stop()
  end)

  it("refuses a bad value from the environment, naming the variable", function()
    local code, out = cmd.run({ "check", "-c", FIXTURES .. "check_ok.yml" },
                              { env = { TURNPIKE_WORKERS = "lots" } })
    assert.equal(1, code)
    assert.matches("TURNPIKE_WORKERS", out, 1, true)
  end)
end)
