-- turnpike.cli: the commands that need no event loop (check, reload, stop, spec).
local ffi = require "ffi"

local SIGHUP, SIGTERM = 1, 15
local ESRCH = 3
local RELOAD_WAIT_MS = 10000
local POLL_MS = 50

pcall(ffi.cdef, [[
int kill(int pid, int sig);
int poll(void *fds, unsigned long nfds, int timeout);
]])

local _M = {}

local function usage_err(msg)
  io.stderr:write("turnpike: ", msg, "\n")
  return 2
end

-- -c FILE / --conf FILE / --conf=FILE; returns the path or nil (and an error for bad usage).
local function conf_arg(argv, required)
  local path
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "-c" or a == "--conf" then
      path = argv[i + 1]
      if not path then return nil, "option " .. a .. " needs a file" end
      i = i + 2
    elseif a:match("^%-%-conf=") then
      path = a:sub(8)
      i = i + 1
    else
      return nil, "unknown option '" .. a .. "'"
    end
  end
  if not path and not required then
    path = os.getenv("TURNPIKE_CONF")
    if path == "" then path = nil end
    path = path or "./turnpike.yml"
  end
  if not path then return nil, "missing -c FILE" end
  return path
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function sleep_ms(ms)
  ffi.C.poll(nil, 0, ms)
end

local function alive(pid)
  if ffi.C.kill(pid, 0) == 0 then return true end
  return ffi.errno() ~= ESRCH
end

-- The pid of the running master from <prefix>/turnpike.pid, or nil, err.
local function running_pid(node)
  local pid_path = node.prefix .. "/turnpike.pid"
  local text = read_all(pid_path)
  if not text then return nil, "turnpike is not running (no pid file " .. pid_path .. ")" end
  local pid = tonumber(text:match("^%s*(%d+)"))
  if not pid or pid < 2 then return nil, "invalid pid file " .. pid_path end
  if not alive(pid) then
    return nil, "turnpike is not running (process " .. pid .. " from " .. pid_path .. " is gone)"
  end
  return pid
end

local function signal(pid, sig, name)
  if ffi.C.kill(pid, sig) ~= 0 then
    return nil, "cannot send " .. name .. " to " .. pid .. ": errno " .. ffi.errno()
  end
  return true
end

local function fail(msg)
  io.stderr:write("turnpike: ", msg, "\n")
  return 1
end

-- turnpike check -c FILE: load and validate the config and every plugin it names.
function _M.check(argv)
  local config = require "turnpike.config"
  local path, aerr = conf_arg(argv, true)
  if not path then return usage_err(aerr) end
  local cfg, err = config.load_file(path)
  if not cfg then
    io.stderr:write(err, "\n")
    return 1
  end
  io.stdout:write("configuration ", path, " is ok\n")
  return 0
end

-- turnpike reload [-c FILE]: validate, send SIGHUP, wait for the master to report the new
-- generation in <prefix>/generation ("<n> ok" or "<n> failed: <reason>").
function _M.reload(argv)
  local config = require "turnpike.config"
  local path, aerr = conf_arg(argv, false)
  if not path then return usage_err(aerr) end
  local cfg, err = config.load_file(path)
  if not cfg then return fail(err) end
  local pid, perr = running_pid(cfg.node)
  if not pid then return fail(perr) end
  local gen_path = cfg.node.prefix .. "/generation"
  local before = read_all(gen_path)
  local ok, serr = signal(pid, SIGHUP, "SIGHUP")
  if not ok then return fail(serr) end
  local waited = 0
  while waited < RELOAD_WAIT_MS do
    local now = read_all(gen_path)
    local gen, status = (now or ""):match("^(%d+)%s+(%S[^\n]-)%s*\n") -- then "verdict N"
    if gen and now ~= before then
      if status == "ok" then
        io.stdout:write("turnpike reloaded (generation ", gen, ")\n")
        return 0
      end
      return fail("reload failed: " .. status:gsub("^failed:?%s*", ""))
    end
    if not alive(pid) then return fail("turnpike (pid " .. pid .. ") exited during the reload") end
    sleep_ms(POLL_MS)
    waited = waited + POLL_MS
  end
  return fail("sent SIGHUP to " .. pid .. " but " .. gen_path .. " did not change within "
    .. (RELOAD_WAIT_MS / 1000) .. " s")
end

-- turnpike stop [-c FILE]: SIGTERM (graceful), then wait until the master is gone.
function _M.stop(argv)
  local config = require "turnpike.config"
  local path, aerr = conf_arg(argv, false)
  if not path then return usage_err(aerr) end
  local node, err = config.load_node_file(path)
  if not node then return fail(err) end
  local pid, perr = running_pid(node)
  if not pid then return fail(perr) end
  local ok, serr = signal(pid, SIGTERM, "SIGTERM")
  if not ok then return fail(serr) end
  local limit = (node.drain_timeout_ms or 30000) + 5000
  local waited = 0
  while alive(pid) do
    if waited >= limit then
      return fail("sent SIGTERM to " .. pid .. " but it is still running after " .. (limit / 1000) .. " s")
    end
    sleep_ms(POLL_MS)
    waited = waited + POLL_MS
  end
  io.stdout:write("turnpike stopped (pid ", pid, ")\n")
  return 0
end

-- turnpike spec [busted args]: busted inside this binary's LuaJIT, with our paths.
function _M.spec(argv)
  local home = TURNPIKE_HOME
  package.path = home .. "/spec/?.lua;" .. package.path
  _G.arg = { [0] = "busted" }
  local has_pattern = false
  for i, a in ipairs(argv) do
    _G.arg[i] = a
    if a:match("^%-p") or a:match("^%-%-pattern") then has_pattern = true end
  end
  if not has_pattern then
    table.insert(_G.arg, 1, "--pattern=_spec")
  end
  -- busted ends with os.exit(0) on success; on failure it raises error() with no
  -- message (its Lua 5.1 way of exiting non-zero), which we turn into exit code 1.
  local ok, err = pcall(require("busted.runner"), { standalone = false })
  if not ok and err ~= nil then
    io.stderr:write("turnpike spec: ", tostring(err), "\n")
  end
  return ok and 0 or 1
end

return _M
