-- turnpike.plugins: finds and loads a plugin folder (`NAME/handler.lua` + `NAME/schema.lua`).
--
-- Folders are searched in the order of plugins_path, then TURNPIKE_HOME/plugins. Files are loaded
-- with loadfile and an environment whose `require` resolves a plugin's helper modules inside its
-- own folder: `require "kong.plugins.NAME.x"`, `require "turnpike.plugins.NAME.x"` (any NAME
-- found on the search path) and, from inside the plugin, a plain `require "x"` for `NAME/x.lua`.
-- Everything else goes to the ordinary require. Results are cached per Lua state.
local type = type
local pairs = pairs
local ipairs = ipairs
local setmetatable = setmetatable
local loadfile = loadfile
local setfenv = setfenv
local concat = table.concat

local NAME_PATTERN = "^[a-z0-9%-_]+$"
local PREFIXES = { "^kong%.plugins%.([a-z0-9%-_]+)%.(.+)$", "^turnpike%.plugins%.([a-z0-9%-_]+)%.(.+)$" }

-- Bounded caches: one entry per plugin name and search path actually used by this state.
local loaded = {}   -- cache key -> plugin table
local modules = {}  -- file path -> module value (helper modules of plugins)
local search_path = {} -- the last plugins_path given, also used by the package searcher

local function file_exists(path)
  local f = io.open(path, "rb")
  if not f then return false end
  f:close()
  return true
end

local function dirs_of(plugins_path)
  local dirs = {}
  for _, d in ipairs(plugins_path or {}) do dirs[#dirs + 1] = d end
  dirs[#dirs + 1] = (TURNPIKE_HOME or ".") .. "/plugins"
  return dirs
end

-- The folder holding plugin `name`, or nil.
local function find_dir(name, plugins_path)
  for _, d in ipairs(dirs_of(plugins_path)) do
    local dir = d .. "/" .. name
    if file_exists(dir .. "/handler.lua") then return dir end
  end
  return nil
end

local load_module -- forward

-- The require seen by code inside the plugin folder `dir`.
local function make_require(dir, plugins_path)
  return function(modname)
    for _, pat in ipairs(PREFIXES) do
      local pname, rest = modname:match(pat)
      if pname then
        local pdir = pname and find_dir(pname, plugins_path)
        if pdir then
          local file = pdir .. "/" .. rest:gsub("%.", "/") .. ".lua"
          if file_exists(file) then return load_module(file, pdir, plugins_path) end
        end
      end
    end
    local file = dir .. "/" .. modname:gsub("%.", "/") .. ".lua"
    if file_exists(file) then return load_module(file, dir, plugins_path) end
    return require(modname)
  end
end

-- Loads `file` once with the plugin environment of `dir`; errors are raised.
function load_module(file, dir, plugins_path)
  local v = modules[file]
  if v ~= nil then return v end
  local fn, err = loadfile(file)
  if not fn then error(err, 0) end
  local env = setmetatable({ require = make_require(dir, plugins_path) }, { __index = _G })
  setfenv(fn, env)
  v = fn()
  if v == nil then v = true end
  modules[file] = v
  return v
end

-- package searcher: lets ordinary `require "kong.plugins.x.y"` (from specs, other modules)
-- find plugin modules on the current search path.
local function searcher(modname)
  for _, pat in ipairs(PREFIXES) do
    local pname, rest = modname:match(pat)
    if pname then
      local pdir = find_dir(pname, search_path)
      if not pdir then return "\n\tno plugin folder '" .. pname .. "'" end
      local file = pdir .. "/" .. rest:gsub("%.", "/") .. ".lua"
      if not file_exists(file) then return "\n\tno file '" .. file .. "'" end
      return function() return load_module(file, pdir, search_path) end
    end
  end
  return nil
end

local loaders = package.loaders or package.searchers
local installed = false
for _, f in ipairs(loaders) do
  if f == searcher then installed = true end
end
if not installed then table.insert(loaders, 2, searcher) end

local _M = {}

--- Loads plugin `name` from plugins_path (a list of folders) or the bundled plugins.
-- Returns { name, handler, schema, priority, version, dir } or nil, err.
function _M.load(name, plugins_path)
  if type(name) ~= "string" or not name:find(NAME_PATTERN) then
    return nil, "invalid plugin name '" .. tostring(name) .. "'"
  end
  plugins_path = plugins_path or {}
  search_path = plugins_path
  local key = name .. "\0" .. concat(plugins_path, "\0")
  if loaded[key] then return loaded[key] end
  local dir = find_dir(name, plugins_path)
  if not dir then return nil, "plugin '" .. name .. "' not found" end
  if not file_exists(dir .. "/schema.lua") then
    return nil, "plugin '" .. name .. "': " .. dir .. "/schema.lua not found"
  end
  local ok, handler = pcall(load_module, dir .. "/handler.lua", dir, plugins_path)
  if not ok then return nil, "plugin '" .. name .. "': " .. tostring(handler) end
  local sok, schema = pcall(load_module, dir .. "/schema.lua", dir, plugins_path)
  if not sok then return nil, "plugin '" .. name .. "': " .. tostring(schema) end
  if type(handler) ~= "table" then
    return nil, "plugin '" .. name .. "': handler.lua must return a table"
  end
  if type(schema) ~= "table" then
    return nil, "plugin '" .. name .. "': schema.lua must return a table"
  end
  local p = {
    name = name,
    handler = handler,
    schema = schema,
    priority = tonumber(handler.PRIORITY) or 0,
    version = handler.VERSION,
    dir = dir,
  }
  loaded[key] = p
  return p
end

--- Forgets every loaded plugin and helper module (a fresh load re-reads the files).
function _M.clear()
  for k in pairs(loaded) do loaded[k] = nil end
  for k in pairs(modules) do modules[k] = nil end
end

return _M
