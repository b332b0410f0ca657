-- file-log in unit mode (turnpike.spec over the fake backend), writing real files.
local tp = require "turnpike.spec"
local cjson = require "cjson"

local function read_lines(path)
  local f = io.open(path, "rb")
  if not f then return {} end
  local lines = {}
  for l in f:lines() do lines[#lines + 1] = l end
  f:close()
  return lines
end

describe("Plugin: file-log (schema)", function()
  local plugin = tp.load_plugin("file-log")

  it("needs a path and defaults reopen to false", function()
    local conf, err = tp.validate(plugin, {})
    assert.is_nil(conf)
    assert.matches("config.path: required field missing", err, 1, true)
    assert.same({ path = "/tmp/x.log", reopen = false },
                assert(tp.validate(plugin, { path = "/tmp/x.log" })))
  end)

  it("rejects a path with shell characters", function()
    local conf, err = tp.validate(plugin, { path = "/tmp/*.log" })
    assert.is_nil(conf)
    assert.matches("config.path: not a valid filename", err, 1, true)
  end)

  it("refuses custom_fields_by_lua with a clear message", function()
    local conf, err = tp.validate(plugin, { path = "/tmp/x.log",
                                            custom_fields_by_lua = { foo = "return 1" } })
    assert.is_nil(conf)
    assert.matches("config.custom_fields_by_lua: custom_fields_by_lua is not supported", err,
                   1, true)
  end)
end)

describe("Plugin: file-log (log)", function()
  local path

  before_each(function()
    tp.reset()
    path = os.tmpname()
    os.remove(path)
  end)

  after_each(function() os.remove(path) end)

  it("appends one JSON line per request", function()
    tp.run_plugin("file-log", { path = path }, { method = "POST", path = "/a", query = "q=1",
                                                 client_ip = "10.0.0.9" })
    tp.run_plugin("file-log", { path = path }, { path = "/b" })
    local lines = read_lines(path)
    assert.equal(2, #lines)
    local first = cjson.decode(lines[1])
    assert.equal("POST", first.request.method)
    assert.equal("/a?q=1", first.request.uri)
    assert.equal(200, first.response.status)
    assert.equal("10.0.0.9", first.client_ip)
    assert.equal("route-1", first.route.id)
    assert.equal("/b", cjson.decode(lines[2]).request.uri)
  end)

  it("logs gateway-made answers too", function()
    tp.run_plugin("file-log", { path = path }, { path = "/x",
                                                 plugins = { { name = "key-auth" } } })
    local entry = cjson.decode(read_lines(path)[1])
    assert.equal(401, entry.response.status)
    assert.equal("exit", entry.source)
  end)

  it("keeps writing after the file was rotated away when reopen is true", function()
    tp.run_plugin("file-log", { path = path, reopen = true }, { path = "/1" })
    assert.equal(1, #read_lines(path))
    os.remove(path)
    tp.run_plugin("file-log", { path = path, reopen = true }, { path = "/2" })
    local lines = read_lines(path)
    assert.equal(1, #lines)
    assert.equal("/2", cjson.decode(lines[1]).request.uri)
  end)

  it("logs an error and keeps the request when the file cannot be opened", function()
    local res = tp.run_plugin("file-log", { path = "/nonexistent-dir/x.log" }, { path = "/x" })
    assert.equal(200, res.status)
    assert.matches("cannot open /nonexistent-dir/x.log", res.logs[1].msg, 1, true)
    assert.equal("err", res.logs[1].level)
  end)
end)
