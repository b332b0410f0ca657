-- turnpike.codecache: Lua files loaded through the process's cache of compiled chunks
-- (core/tp_codecache.c), so that a reload, which builds a new Lua state, does not parse again
-- the files that did not change: the global `loadfile` (which plugins.lua uses for plugin
-- files) and a `require` searcher placed before the standard one for Lua files. A chunk is
-- reused only while its file has the device, inode, size, mtime and ctime it was compiled
-- from; string.dump keeps the debug information, so errors and tracebacks name the same files
-- and lines. Without the core's symbols (plain luajit) install() does nothing.
local ffi = require "ffi"

local type = type
local select = select
local loadstring = loadstring
local ffi_string = ffi.string
local dump = string.dump
local format = string.format

local _M = {}

local have_core = pcall(function()
  ffi.cdef [[
    typedef struct { uint64_t dev, ino, size; int64_t mtime_ns, ctime_ns; } tp_codekey_t;
    const char *tp_ffi_codecache_get(const char *path, tp_codekey_t *key, size_t *len);
    void tp_ffi_codecache_put(const char *path, const tp_codekey_t *key, const char *chunk,
                              size_t len);
    uint64_t tp_ffi_codecache_hits(void);
  ]]
  return ffi.C.tp_ffi_codecache_get
end)

-- hits() -> chunks this process served from the cache so far (0 without the core)
function _M.hits()
  if not have_core then return 0 end
  return (tonumber(ffi.C.tp_ffi_codecache_hits()))
end

-- install(): once per Lua state, before the modules worth caching are required
function _M.install()
  if not have_core or _M.installed then return end
  _M.installed = true
  local C = ffi.C
  local plain_loadfile = loadfile
  local key = ffi.new("tp_codekey_t")
  local len = ffi.new("size_t[1]")

  local function cached_loadfile(path, ...)
    if type(path) ~= "string" or select("#", ...) > 0 then return plain_loadfile(path, ...) end
    local chunk = C.tp_ffi_codecache_get(path, key, len)
    if chunk ~= nil then
      local fn = loadstring(ffi_string(chunk, len[0]))
      if fn then return fn end
    end
    local version = ffi.new("tp_codekey_t", key) -- the file as stat saw it before compiling
    local fn, err = plain_loadfile(path)
    if not fn then return nil, err end
    local bytes = dump(fn)
    C.tp_ffi_codecache_put(path, version, bytes, #bytes)
    return fn
  end
  _M.loadfile = cached_loadfile
  loadfile = cached_loadfile -- luacheck: ignore (global on purpose)

  local searchpath = package.searchpath
  table.insert(package.loaders, 2, function(name)
    local path = searchpath(name, package.path)
    if not path then return nil end -- the standard searcher says where it looked
    local fn, err = cached_loadfile(path)
    if not fn then
      error(format("error loading module '%s' from file '%s':\n\t%s", name, path, err), 0)
    end
    return fn
  end)
end

return _M
