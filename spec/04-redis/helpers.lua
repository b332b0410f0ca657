-- spec/04-redis/helpers.lua: what the Redis-backed specs share.
--
--   local R = require "spec.04-redis.helpers"   -- (busted's path: spec/ is on package.path)
--   R.port()              the suite's redis-server: $TURNPIKE_TEST_REDIS_PORT (spec/run-all.sh
--                         starts one) or one started here on a free port, stopped by R.cleanup()
--   R.start_server(port)  a redis-server of our own (a child process; dies with the runner)
--     srv.port srv.pid srv:kill() (SIGKILL) srv:restart() (same port) srv:stop()
--   R.client(port, db)    a small RESP client: c:call("SET", "k", "v") -> reply | nil, err
--     (errors come back as nil, "ERR ..."; nil replies as R.NULL), c:close()
--   R.monitor(port, db)   MONITOR on a connection: m:commands() -> { {name, args...} ... } sent
--                         to db since the last call (a marker command closes each batch)
--   R.cleanup()           stops every server started here
local helpers = require "spec.helpers"
local ffi = require "ffi"

local format = string.format
local concat = table.concat

for _, decl in ipairs {
  "int fork(void);", "int execvp(const char *file, char *const argv[]);", "void _exit(int code);",
  "int setpgid(int pid, int pgid);", "int dup2(int a, int b);", "int open(const char *path, int flags, ...);",
  "int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);",
  "int close(int fd);", "int waitpid(int pid, int *status, int options);",
} do
  pcall(ffi.cdef, decl)
end
local C = ffi.C

local SIGKILL, SIGTERM = 9, 15
local PR_SET_PDEATHSIG = 1
local O_WRONLY, O_RDWR, O_CREAT, O_APPEND = 1, 2, 0x40, 0x400
local WNOHANG = 1
local TIMEOUT_MS = 5000

local R = { NULL = setmetatable({}, { __tostring = function() return "null" end }) }

local servers = {}

-- exec redis-server in a child of ours: own process group, killed if the runner dies
local function spawn(argv, log_path)
  local cargv = ffi.new("char *[?]", #argv + 1)
  local keep = {}
  for i, a in ipairs(argv) do
    keep[i] = ffi.new("char[?]", #a + 1, a)
    cargv[i - 1] = keep[i]
  end
  io.stdout:flush()
  io.stderr:flush()
  local pid = C.fork()
  if pid < 0 then error("fork failed", 2) end
  if pid == 0 then
    C.setpgid(0, 0)
    C.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    for fd = 3, 1023 do C.close(fd) end
    local fd = C.open(log_path, O_WRONLY + O_CREAT + O_APPEND, ffi.cast("int", 420))
    local null = C.open("/dev/null", O_RDWR)
    C.dup2(null, 0)
    C.dup2(fd, 1)
    C.dup2(fd, 2)
    C.execvp(cargv[0], cargv)
    C._exit(127)
  end
  return pid
end

local function reap(pid, timeout_ms)
  local st = ffi.new("int[1]")
  return helpers.wait_until(function()
    local rc = C.waitpid(pid, st, WNOHANG)
    return rc == pid or rc < 0
  end, (timeout_ms or TIMEOUT_MS) / 1000, "redis-server pid " .. pid .. " to exit")
end

--------------------------------------------------------------------------------------------------
-- RESP client
--------------------------------------------------------------------------------------------------

local Client = {}
Client.__index = Client

local function encode(args)
  local out = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do
    a = tostring(a)
    out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
  end
  return concat(out)
end

-- read one reply: value | nil, err (a Redis error or a transport error)
function Client:read(timeout_ms)
  local deadline = helpers.now_ms() + (timeout_ms or TIMEOUT_MS)
  local line, err = self.conn:read_until("\r\n", deadline)
  if not line then return nil, err end
  local t, rest = line:sub(1, 1), line:sub(2)
  if t == "+" then return rest end
  if t == "-" then return nil, rest end
  if t == ":" then return tonumber(rest) end
  if t == "$" then
    local n = tonumber(rest)
    if n < 0 then return R.NULL end
    local s, e = self.conn:read_n(n + 2, deadline)
    if not s then return nil, e end
    return s:sub(1, n)
  end
  if t == "*" then
    local n = tonumber(rest)
    if n < 0 then return R.NULL end
    local arr = {}
    for i = 1, n do
      local v, e = self:read(timeout_ms)
      if v == nil then arr[i] = { false, e } else arr[i] = v end
    end
    return arr
  end
  return nil, "bad reply line: " .. line
end

function Client:send(...)
  return self.conn:send(encode({ ... }))
end

function Client:call(...)
  local ok, err = self:send(...)
  if not ok then return nil, err end
  return self:read()
end

function Client:close() self.conn:close() end

-- client(port, db) -> c | nil, err
function R.client(port, db)
  local conn, err = helpers.tcp_connect(port, 2000)
  if not conn then return nil, err end
  local c = setmetatable({ conn = conn, port = port }, Client)
  if db and db ~= 0 then
    local ok, e = c:call("SELECT", db)
    if not ok then c:close(); return nil, e end
  end
  return c
end

--------------------------------------------------------------------------------------------------
-- MONITOR
--------------------------------------------------------------------------------------------------

local Monitor = {}
Monitor.__index = Monitor

-- parse one MONITOR line: 1700000000.123456 [11 127.0.0.1:5000] "EVALSHA" "abc" "1" ...
local function parse_monitor(line)
  local db, from, rest = line:match('^[%d%.]+ %[(%d+) ([^%]]*)%] (.*)$')
  if not db or from == "lua" then return nil end -- the commands a script ran
  local words, i = {}, 1
  while true do
    i = rest:find('"', i, true)
    if not i then break end
    local w, j = {}, i + 1
    while j <= #rest do
      local ch = rest:sub(j, j)
      if ch == "\\" then w[#w + 1] = rest:sub(j, j + 1); j = j + 2
      elseif ch == '"' then break
      else w[#w + 1] = ch; j = j + 1 end
    end
    words[#words + 1] = concat(w)
    i = j + 1
  end
  return tonumber(db), words
end

-- commands() -> list of { NAME, arg1, ... } seen on this monitor's db since the last call
function Monitor:commands()
  self.n = self.n + 1
  local marker = "turnpike-spec-marker-" .. self.n
  assert(self.marker:call("ECHO", marker))
  local out = {}
  while true do
    local line = assert(self.client:read())
    local db, words = parse_monitor(line)
    if db == self.db and words[1] then
      if words[1]:upper() == "ECHO" and words[2] == marker then return out end
      words[1] = words[1]:upper()
      out[#out + 1] = words
    end
  end
end

function Monitor:close()
  self.client:close()
  self.marker:close()
end

function R.monitor(port, db)
  local c = assert(R.client(port))
  local ok, err = c:call("MONITOR")
  if ok ~= "OK" then error("MONITOR: " .. tostring(err), 2) end
  -- the marker's connection is made (and its SELECT seen) before the first batch
  local m = setmetatable({ client = c, port = port, db = db or 0, n = 0,
                           marker = assert(R.client(port, db)) }, Monitor)
  m:commands()
  return m
end

-- names(cmds) -> "EVALSHA EVALSHA ..." (the command names only)
function R.names(cmds)
  local out = {}
  for i, c in ipairs(cmds) do out[i] = c[1] end
  return concat(out, " ")
end

--------------------------------------------------------------------------------------------------
-- servers
--------------------------------------------------------------------------------------------------

local Server = {}
Server.__index = Server

function Server:launch()
  self.pid = spawn({ "redis-server", "--port", tostring(self.port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--daemonize", "no",
                     "--dir", self.dir }, self.dir .. "/redis.log")
  helpers.wait_until(function()
    local c = R.client(self.port)
    if not c then return false end
    local pong = c:call("PING")
    c:close()
    return pong == "PONG"
  end, 10, format("redis-server on port %d", self.port))
  return self
end

-- kill(): SIGKILL, as a crash; waits until it is gone
function Server:kill(sig)
  if not self.pid then return end
  helpers.kill(self.pid, sig or SIGKILL)
  reap(self.pid)
  self.pid = nil
end

function Server:stop() self:kill(SIGTERM) end

function Server:restart()
  self:kill()
  return self:launch()
end

-- start_server(port) -> srv (port defaults to a free one)
function R.start_server(port)
  local srv = setmetatable({ port = port or helpers.free_port(), dir = helpers.tmpdir("redis") },
                           Server)
  servers[srv] = true
  return srv:launch()
end

local shared
-- port() -> the suite's redis port
function R.port()
  local env = tonumber(os.getenv("TURNPIKE_TEST_REDIS_PORT"))
  if env then return env end
  shared = shared or R.start_server()
  return shared.port
end

-- flush(port, db): FLUSHDB on db (each spec file owns its index)
function R.flush(port, db)
  local c = assert(R.client(port, db))
  local ok, err = c:call("FLUSHDB")
  if ok ~= "OK" then error("FLUSHDB: " .. tostring(err), 2) end
  c:close()
end

function R.cleanup()
  for srv in pairs(servers) do
    pcall(srv.kill, srv)
    if srv.dir:match("^/tmp/turnpike%-redis%-%w+$") then os.execute("rm -rf '" .. srv.dir .. "'") end
    servers[srv] = nil
  end
  shared = nil
end

return R
