-- turnpike.codecache: the process's cache of compiled Lua chunks. It must never serve a chunk
-- for a file that changed, and a cached chunk must behave as the file itself (same results,
-- same file and line in errors); require goes through it too.
local codecache = require "turnpike.codecache"

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/turnpike-codecache.XXXXXX")
  local d = p:read("*l")
  p:close()
  return d
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

describe("codecache", function()
  local dir

  setup(function()
    codecache.install() -- states made by the binary have it already; this is a no-op then
    dir = tmpdir()
  end)

  teardown(function()
    if dir and dir:match("^/tmp/turnpike%-codecache%.") then os.execute("rm -rf '" .. dir .. "'") end
  end)

  it("is installed in the binary's Lua states", function()
    assert.is_true(codecache.installed)
    assert.equal(codecache.loadfile, loadfile)
  end)

  it("serves the same chunk again, and a new one as soon as the file changes", function()
    local path = dir .. "/m.lua"
    write(path, "return 1")
    local h0 = codecache.hits()
    assert.equal(1, assert(loadfile(path))())
    assert.equal(h0, codecache.hits()) -- compiled
    assert.equal(1, assert(loadfile(path))())
    assert.equal(h0 + 1, codecache.hits()) -- from the cache
    write(path, "return 2") -- same size, same second
    assert.equal(2, assert(loadfile(path))())
    write(path, "return 33")
    assert.equal(33, assert(loadfile(path))())
    os.rename(path, dir .. "/old.lua")
    write(path, "return 4") -- a new file under the same name
    assert.equal(4, assert(loadfile(path))())
    assert.equal(h0 + 1, codecache.hits()) -- none of the changed files came from the cache
    assert.equal(4, assert(loadfile(path))())
    assert.equal(h0 + 2, codecache.hits())
  end)

  it("keeps file names and lines in errors from a cached chunk", function()
    local path = dir .. "/err.lua"
    write(path, "local x = 1\nlocal function f()\n  error('boom')\nend\nreturn f")
    assert(loadfile(path))
    local f = assert(loadfile(path))() -- second load: the cached chunk
    local ok, err = pcall(f)
    assert.is_false(ok)
    assert.matches("err%.lua:3: boom", err)
  end)

  it("reports syntax errors as loadfile does, and never caches them", function()
    local path = dir .. "/bad.lua"
    write(path, "return (")
    local fn, err = loadfile(path)
    assert.is_nil(fn)
    assert.matches("bad%.lua", err)
    write(path, "return 5")
    assert.equal(5, assert(loadfile(path))())
  end)

  it("is used by require, with the standard message for a broken module", function()
    local saved = package.path
    package.path = dir .. "/?.lua;" .. saved
    write(dir .. "/cc_mod.lua", "return { v = 'first' }")
    assert.equal("first", require("cc_mod").v)
    package.loaded.cc_mod = nil
    write(dir .. "/cc_mod.lua", "return { v = 'second' }")
    assert.equal("second", require("cc_mod").v)
    package.loaded.cc_mod = nil
    write(dir .. "/cc_broken.lua", "return {")
    local ok, err = pcall(require, "cc_broken")
    package.path = saved
    assert.is_false(ok)
    assert.matches("error loading module 'cc_broken' from file '.-cc_broken%.lua'", err)
  end)

  it("leaves loadfile with a mode or environment to the original", function()
    local path = dir .. "/env.lua"
    write(path, "return who")
    local fn = assert(loadfile(path, "t", { who = "env" }))
    assert.equal("env", fn())
  end)
end)
