-- ab-router against the real gateway: two mock upstreams, requests split by header and by
-- cookie, and a live edit of the plugin picked up by `turnpike run --watch`.
local ffi = require "ffi"
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
local PLUGIN_DIR = HERE .. "/.."

-- a mock upstream that says who it is
local function named_upstream(name)
  return I.mock_upstream { handler = function()
    return { status = 200, headers = { ["Content-Type"] = "text/plain" }, body = name }
  end }
end

local function config(v1, v2)
  return {
    upstreams = { { name = "shop-v1", targets = { { target = "127.0.0.1:" .. v1.port } } } },
    services = { {
      name = "shop", url = "http://shop-v1/",
      routes = { { name = "shop", paths = { "/shop" } } },
      plugins = { { name = "ab-router", config = {
        default = "stable", cookie = "ab",
        variants = { stable = { upstream = "shop-v1" },
                     canary = { host = "127.0.0.1", port = v2.port } },
      } } },
    } },
  }
end

-- write_atomically(path, text): as editors that save through a rename do; a watcher never
-- sees a half-written file
local function write_atomically(path, text)
  local f = assert(io.open(path .. ".part", "wb"))
  f:write(text)
  f:close()
  assert(os.rename(path .. ".part", path))
end

-- copy_plugin(dst): the plugin's two files, so a spec may edit its own copy
local function copy_plugin(dst)
  os.execute("mkdir -p '" .. dst .. "'")
  for _, f in ipairs { "handler.lua", "schema.lua" } do
    write_atomically(dst .. "/" .. f, assert(I.read_file(PLUGIN_DIR .. "/" .. f)))
  end
end

-- edit_handler(dir): the response header now also names a version
local function edit_handler(dir)
  local file = dir .. "/ab-router/handler.lua"
  local src = assert(I.read_file(file))
  local edited, n = src:gsub("set_header%(conf%.response_header, mine%.variant%)",
                             'set_header(conf.response_header, mine.variant .. "; v2")')
  assert.equal(1, n)
  write_atomically(file, edited)
end

local function variant_served(gw)
  local res = assert(I.http(gw.proxy_port, { path = "/shop" }))
  return res.headers["x-ab-variant"]
end

local function timed(what, fn)
  local t0 = I.now_ms()
  local a, b = fn()
  print(string.format("ab-router integration: %s took %.1f ms", what, I.now_ms() - t0))
  return a, b
end

describe("Plugin: ab-router (integration)", function()
  local v1, v2, gw

  lazy_setup(function()
    v1, v2 = named_upstream("v1"), named_upstream("v2")
    gw = timed("start_turnpike", function()
      return I.start_turnpike { config = config(v1, v2), plugins_path = { HERE .. "/../.." } }
    end)
  end)

  lazy_teardown(function()
    if gw then timed("stop", function() return gw:stop() end) end
    I.cleanup()
  end)

  it("splits requests by the variant header", function()
    local served = {}
    for i = 1, 10 do
      local variant = (i % 2 == 0) and "canary" or "stable"
      local res = assert(I.http(gw.proxy_port, { path = "/shop/item",
                                                 headers = { ["X-Variant"] = variant } }))
      assert.equal(200, res.status)
      assert.equal(variant, res.headers["x-ab-variant"])
      served[res.body] = (served[res.body] or 0) + 1
    end
    assert.same({ v1 = 5, v2 = 5 }, served)
  end)

  it("sends requests without a header to the default variant", function()
    local res = assert(I.http(gw.proxy_port, { path = "/shop" }))
    assert.equal("v1", res.body)
    assert.equal("stable", res.headers["x-ab-variant"])
    assert.is_nil(res.headers["set-cookie"])
  end)

  it("keeps a client on its variant through the cookie", function()
    local first = assert(I.http(gw.proxy_port, { path = "/shop",
                                                 headers = { ["X-Variant"] = "canary" } }))
    local cookie = first.headers["set-cookie"]:match("^([^;]+)")
    assert.equal("ab=canary", cookie)
    local again = assert(I.http(gw.proxy_port, { path = "/shop", headers = { Cookie = cookie } }))
    assert.equal("v2", again.body)
    assert.equal("canary", again.headers["x-ab-variant"])
  end)
end)

describe("Plugin: ab-router (live reload with --watch)", function()
  local v1, v2

  lazy_setup(function() v1, v2 = named_upstream("v1"), named_upstream("v2") end)
  lazy_teardown(I.cleanup)

  -- The usual layout: my.yml with plugins/ beside it. The kit writes the config into the
  -- gateway's own folder, so the plugin is added there once the gateway runs.
  it("serves an edit of handler.lua in a plugins folder beside the config", function()
    local plain = config(v1, v2)
    plain.services[1].plugins = nil
    local gw = I.start_turnpike { config = plain, args = { "--watch" } }
    finally(function() gw:stop() end)
    copy_plugin(gw.dir .. "/plugins/ab-router")
    local with_plugin = config(v1, v2)
    with_plugin.turnpike = { plugins_path = { gw.dir .. "/plugins" } }
    gw:write_config(with_plugin)
    I.wait_until(function() return variant_served(gw) == "stable" end, 5, "the plugin loaded")

    local before = gw:generation()
    edit_handler(gw.dir .. "/plugins")
    I.wait_until(function() return variant_served(gw) == "stable; v2" end, 5,
                 "the edited handler serving")
    assert.is_true(gw:generation() > before)
  end)

  -- plugins_path elsewhere (another checkout, /opt/plugins): --watch must watch it too
  it("serves an edit of handler.lua in a plugins_path folder away from the config", function()
    local dir = I.tmpdir("plug")
    copy_plugin(dir .. "/ab-router")
    local gw = I.start_turnpike { config = config(v1, v2), plugins_path = { dir },
                                  args = { "--watch" } }
    finally(function()
      gw:stop()
      os.execute("rm -rf '" .. dir .. "'")
    end)
    assert.equal("stable", variant_served(gw))
    edit_handler(dir)
    I.wait_until(function() return variant_served(gw) == "stable; v2" end, 5,
                 "the edited handler serving (is " .. dir .. " watched?)")
    assert.equal(2, (gw:generation()))
  end)
end)
