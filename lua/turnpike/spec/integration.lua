-- turnpike.spec.integration: the integration half of the plugin author's test kit.
--
-- A real gateway (build/turnpike) on free loopback ports, mock upstreams that record what they
-- received, and small HTTP clients, all in pure LuaJIT over libc (FFI): no Lua rocks needed.
--
--   local I = require("turnpike.spec").integration      -- or require "turnpike.spec.integration"
--   local up = I.mock_upstream()                          -- echoes the request as JSON
--   local gw = I.start_turnpike { config = { services = { { name = "s",
--                 url = "http://127.0.0.1:" .. up.port, routes = { { paths = { "/" } } } } } } }
--   local res = I.http(gw.proxy_port, { path = "/x", headers = { ["X-A"] = "1" } })
--   assert.equal(200, res.status); res.headers["content-type"]; res:json()
--   up:requests()[1].headers["x-a"]
--   lazy_teardown(I.cleanup)          -- stops every gateway and mock this process started
--
-- start_turnpike(opts) -> gw
--   opts.config        declarative config table (node settings under `turnpike`)
--   opts.plugins_path  extra plugin folders        opts.workers (default 1)
--   opts.env           { NAME = value } for the gateway process (TURNPIKE_* of ours are cleared)
--   opts.args          extra `turnpike run` arguments, e.g. { "--watch" }
--   opts.binary        default $TURNPIKE_SPEC_BINARY or TURNPIKE_HOME/build/turnpike
--   opts.format        "yaml" (default) or "json"    opts.timeout_s start bound (default 10)
--   gw.proxy_port gw.admin_port gw.prefix gw.dir gw.pid gw.config_path
--   gw:stop() -> code, signal   gw:kill(sig)   gw:wait(timeout_s) -> code, signal | nil
--   gw:reload([config]) -> true | nil, err   gw:write_config(tbl)   gw:logs()
--   gw:status() (admin GET /status, decoded)   gw:admin(opts) (an http() to the admin port)
--   gw:wait_log(pattern, timeout_s)   gw:alive()
--
-- mock_upstream(opts) -> up     opts.handler(req) -> { status, headers, body, chunks = {..},
--   close = true (close-delimited body), delay_ms, raw = "bytes to send, then close" }
--   req/records: method path query uri http_version headers (lower-case name -> value, or a
--   list when repeated) header_list ({name, value}) body body_len chunked conn (connection
--   number, from 1) index (request number on that connection)
--   up.port  up:requests()  up:wait_requests(n, timeout_s)  up:stop()
--
-- http(port, opts) -> res | nil, err   opts: method path query headers body chunks timeout_ms
--   http_version ("1.1") host (false: no Host header)
--   res.status res.reason res.headers (any-case keys) res.header_list res.body res:json()
-- client(port) -> c with c:request(opts), c:closed(), c:close()  (one keep-alive socket)
-- raw(port) -> r with r:send(bytes), r:read_response([opts]), r:read_all(timeout_s),
--   r:closed(timeout_s), r:close()
-- wait_until(fn, timeout_s, what)  free_port()  sleep_ms(ms)  now_ms()  cleanup()
local ffi = require "ffi"
local cjson = require "cjson.safe"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local concat = table.concat
local sort = table.sort
local format = string.format
local C = ffi.C

local AF_INET, SOCK_STREAM = 2, 1
local SOCK_NONBLOCK, SOCK_CLOEXEC = 0x800, 0x80000
local SOL_SOCKET, SO_REUSEADDR, SO_ERROR = 1, 2, 4
local IPPROTO_TCP, TCP_NODELAY = 6, 1
local POLLIN, POLLOUT = 1, 4
local EINTR, EAGAIN, EINPROGRESS = 4, 11, 115
local MSG_NOSIGNAL = 0x4000
local WNOHANG = 1
local O_WRONLY, O_RDWR, O_CREAT, O_APPEND, O_TRUNC = 1, 2, 0x40, 0x400, 0x200
local PR_SET_PDEATHSIG = 1
local SIGHUP, SIGKILL, SIGTERM, SIGCHLD = 1, 9, 15, 17
local READ_CHUNK = 65536
local DEFAULT_TIMEOUT_MS = 10000
local POLL_STEP_MS = 10

-- Each declaration on its own: other modules may have declared some of them already.
for _, decl in ipairs {
  "typedef struct { int fd; short events; short revents; } tpspec_pollfd_t;",
  "typedef struct { unsigned short family; unsigned short port; unsigned int addr;"
    .. " unsigned char zero[8]; } tpspec_sockaddr_in_t;",
  "typedef struct { long sec; long nsec; } tpspec_timespec_t;",
  "int socket(int domain, int type, int protocol);",
  "char *getcwd(char *buf, unsigned long size);",
  "int bind(int fd, const void *addr, unsigned int len);",
  "int listen(int fd, int backlog);",
  "int accept4(int fd, void *addr, void *len, int flags);",
  "int connect(int fd, const void *addr, unsigned int len);",
  "int getsockname(int fd, void *addr, void *len);",
  "int setsockopt(int fd, int level, int name, const void *val, unsigned int len);",
  "int getsockopt(int fd, int level, int name, void *val, void *len);",
  "int shutdown(int fd, int how);",
  "int close(int fd);",
  "long read(int fd, void *buf, unsigned long n);",
  "long write(int fd, const void *buf, unsigned long n);",
  "long send(int fd, const void *buf, unsigned long n, int flags);",
  "int poll(void *fds, unsigned long nfds, int timeout);",
  "int fork(void);",
  "int execvp(const char *file, char *const argv[]);",
  "void _exit(int code);",
  "int kill(int pid, int sig);",
  "int waitpid(int pid, int *status, int options);",
  "int getpid(void);",
  "int setpgid(int pid, int pgid);",
  "int dup2(int a, int b);",
  "int open(const char *path, int flags, ...);",
  "int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);",
  "int setenv(const char *name, const char *value, int overwrite);",
  "int unsetenv(const char *name);",
  "char *mkdtemp(char *tmpl);",
  "int clock_gettime(int clock, void *ts);",
  "char *strerror(int errnum);",
  "void *signal(int sig, void *handler);",
  "extern char **environ;",
} do
  pcall(ffi.cdef, decl)
end

local pollfd_t = ffi.typeof("tpspec_pollfd_t[1]")
local sockaddr_t = ffi.typeof("tpspec_sockaddr_in_t")
local timespec = ffi.new("tpspec_timespec_t")
local int1 = ffi.typeof("int[1]")
local unsigned1 = ffi.typeof("unsigned int[1]")
local read_buf = ffi.new("char[?]", READ_CHUNK)
local SIG_IGN = ffi.cast("void *", 1)

local _M = {}

--------------------------------------------------------------------------------------------------
-- time, processes, files
--------------------------------------------------------------------------------------------------

local function errstr(e)
  e = e or ffi.errno()
  return (ffi.string(C.strerror(e)))
end

function _M.now_ms()
  C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.sec) * 1000 + tonumber(timespec.nsec) / 1e6
end
local now_ms = _M.now_ms

-- An internal polling pause (the specs themselves wait with wait_until).
function _M.sleep_ms(ms)
  C.poll(nil, 0, ms)
end
local sleep_ms = _M.sleep_ms

-- wait_until(fn, timeout_s, what) -> fn's results once it returns a truthy first value.
-- Errors inside fn count as "not yet"; on timeout the last error is part of the message.
function _M.wait_until(fn, timeout_s, what)
  local deadline = now_ms() + (timeout_s or 5) * 1000
  local last
  while true do
    local res = { pcall(fn) }
    if res[1] and res[2] then return unpack(res, 2) end
    if not res[1] then last = res[2] end
    if now_ms() >= deadline then
      error(format("wait_until: %s not reached within %gs%s", what or "condition",
                   timeout_s or 5, last and (" (last error: " .. tostring(last) .. ")") or ""), 2)
    end
    sleep_ms(POLL_STEP_MS)
  end
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
_M.read_file = read_file

local function write_file(path, text)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(text)
  f:close()
  assert(os.rename(tmp, path))
end

function _M.tmpdir(tag)
  local tmpl = ffi.new("char[?]", 64)
  ffi.copy(tmpl, "/tmp/turnpike-" .. (tag or "spec") .. "-XXXXXX")
  local p = C.mkdtemp(tmpl)
  if p == nil then error("mkdtemp: " .. errstr(), 2) end
  return (ffi.string(p))
end

-- remove_dir(dir): a temp dir of ours, after its process stopped (TURNPIKE_SPEC_KEEP=1 keeps
-- them for a post-mortem)
local function remove_dir(dir)
  if os.getenv("TURNPIKE_SPEC_KEEP") == "1" then return end
  if type(dir) == "string" and dir:match("^/tmp/turnpike%-%a+%-[%w]+$") then
    os.execute("rm -rf '" .. dir .. "'")
  end
end

local function decode_status(st)
  local sig = bit.band(st, 0x7f)
  if sig == 0 then return bit.band(bit.rshift(st, 8), 0xff), nil end
  return nil, sig
end

-- wait_pid(pid, timeout_ms) -> true, code, signal | false while it still runs
local function wait_pid(pid, timeout_ms)
  local st = int1()
  local deadline = now_ms() + (timeout_ms or 0)
  repeat
    local rc = C.waitpid(pid, st, WNOHANG)
    if rc == pid then return true, decode_status(st[0]) end
    if rc < 0 then return true, nil, nil end -- not our child (any more)
    if now_ms() >= deadline then return false end
    sleep_ms(5)
  until false
end

-- pid_alive(pid): exists and is not a zombie (an orphaned worker may never be reaped when
-- PID 1 of a container does not reap)
local function pid_alive(pid)
  if C.kill(pid, 0) ~= 0 then return false end
  local stat = read_file("/proc/" .. pid .. "/stat")
  if stat and stat:match("^%d+ %b() (%a)") == "Z" then return false end
  return true
end
_M.pid_alive = pid_alive

-- kill(pid, sig) -> 0 | -1 (a signal to any process, e.g. one worker of a gateway)
function _M.kill(pid, sig)
  return (C.kill(pid, sig or SIGTERM))
end

-- Everything started here, stopped by cleanup() (and at process exit as a last resort).
local running = {}
-- open client connections, closed by cleanup() before the processes stop
local open_conns = setmetatable({}, { __mode = "k" })

local function track(obj) running[obj] = true end
local function untrack(obj) running[obj] = nil end

function _M.cleanup()
  for c in pairs(open_conns) do c:close() end
  local list = {}
  for obj in pairs(running) do list[#list + 1] = obj end
  for _, obj in ipairs(list) do pcall(obj.stop, obj) end
end

-- runs when the Lua state closes (busted exits through os.exit(code, true))
_M._sentinel = newproxy(true)
getmetatable(_M._sentinel).__gc = function()
  for obj in pairs(running) do
    if obj.pid then C.kill(-obj.pid, SIGKILL); C.kill(obj.pid, SIGKILL) end
  end
end

-- In a freshly forked child: own process group (so stop() reaches grandchildren), die with
-- the spec runner, and close every descriptor inherited from it except the standard ones.
local function child_setup(keep)
  C.setpgid(0, 0)
  C.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
  for fd = 3, 1023 do
    if fd ~= keep then C.close(fd) end
  end
end

--------------------------------------------------------------------------------------------------
-- sockets and a buffered connection
--------------------------------------------------------------------------------------------------

local function sockaddr(port)
  local sa = sockaddr_t()
  sa.family = AF_INET
  sa.port = bit.rshift(bit.bswap(port), 16) -- htons
  sa.addr = bit.bswap(0x7f000001)          -- 127.0.0.1 in network order
  return sa
end

local function port_of(sa)
  return bit.rshift(bit.bswap(sa.port), 16)
end

-- listen_socket(port or 0) -> fd, port (127.0.0.1 only)
local function listen_socket(port)
  local fd = C.socket(AF_INET, SOCK_STREAM + SOCK_CLOEXEC, 0)
  if fd < 0 then error("socket: " .. errstr()) end
  local one = int1(1)
  C.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4)
  local sa = sockaddr(port or 0)
  if C.bind(fd, sa, ffi.sizeof(sa)) ~= 0 or C.listen(fd, 128) ~= 0 then
    local e = errstr()
    C.close(fd)
    error("bind/listen 127.0.0.1:" .. tostring(port) .. ": " .. e)
  end
  local len = unsigned1(ffi.sizeof(sa))
  C.getsockname(fd, sa, len)
  return fd, port_of(sa)
end

-- free_port() -> a loopback port nothing listens on right now
function _M.free_port()
  local fd, port = listen_socket(0)
  C.close(fd)
  return port
end

local function wait_fd(fd, events, deadline)
  local p = pollfd_t()
  p[0].fd = fd
  p[0].events = events
  while true do
    local left = deadline and math.max(0, math.floor(deadline - now_ms())) or -1
    local rc = C.poll(p, 1, left)
    if rc > 0 then return true end
    if rc == 0 then return false end
    if ffi.errno() ~= EINTR then return false end
  end
end

local Conn = {}
Conn.__index = Conn

local function new_conn(fd)
  local c = setmetatable({ fd = fd, buf = "", eof = false }, Conn)
  open_conns[c] = true
  return c
end

-- tcp_connect(port, timeout_ms) -> conn | nil, err
local function tcp_connect(port, timeout_ms)
  local fd = C.socket(AF_INET, SOCK_STREAM + SOCK_NONBLOCK + SOCK_CLOEXEC, 0)
  if fd < 0 then return nil, "socket: " .. errstr() end
  local one = int1(1)
  C.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4)
  local sa = sockaddr(port)
  if C.connect(fd, sa, ffi.sizeof(sa)) ~= 0 then
    local e = ffi.errno()
    if e ~= EINPROGRESS then
      C.close(fd)
      return nil, "connect 127.0.0.1:" .. port .. ": " .. errstr(e)
    end
    if not wait_fd(fd, POLLOUT, now_ms() + (timeout_ms or DEFAULT_TIMEOUT_MS)) then
      C.close(fd)
      return nil, "connect 127.0.0.1:" .. port .. ": timeout"
    end
    local soerr, len = int1(), unsigned1(4)
    C.getsockopt(fd, SOL_SOCKET, SO_ERROR, soerr, len)
    if soerr[0] ~= 0 then
      C.close(fd)
      return nil, "connect 127.0.0.1:" .. port .. ": " .. errstr(soerr[0])
    end
  end
  return new_conn(fd)
end
_M.tcp_connect = tcp_connect

function Conn:send(data, timeout_ms)
  if not self.fd then return nil, "closed" end
  local deadline = now_ms() + (timeout_ms or DEFAULT_TIMEOUT_MS)
  local p = ffi.cast("const char *", data)
  local off, n = 0, #data
  while off < n do
    local rc = C.send(self.fd, p + off, n - off, MSG_NOSIGNAL)
    if rc > 0 then
      off = off + tonumber(rc)
    else
      local e = ffi.errno()
      if rc < 0 and e ~= EAGAIN and e ~= EINTR then return nil, errstr(e), off end
      if not wait_fd(self.fd, POLLOUT, deadline) then return nil, "timeout", off end
    end
  end
  return true
end

-- fill(deadline) -> bytes read | nil, "timeout" | "closed" | error
function Conn:fill(deadline)
  if self.eof then return nil, "closed" end
  while true do
    if not wait_fd(self.fd, POLLIN, deadline) then return nil, "timeout" end
    local rc = C.read(self.fd, read_buf, READ_CHUNK)
    if rc > 0 then
      self.buf = self.buf .. ffi.string(read_buf, rc)
      return (tonumber(rc))
    end
    if rc == 0 then
      self.eof = true
      return nil, "closed"
    end
    local e = ffi.errno()
    if e ~= EAGAIN and e ~= EINTR then
      self.eof = true
      return nil, errstr(e)
    end
  end
end

-- read_until(sep, deadline, max) -> text before sep (sep consumed) | nil, err
function Conn:read_until(sep, deadline, max)
  local from = 1
  while true do
    local i = self.buf:find(sep, from, true)
    if i then
      local s = self.buf:sub(1, i - 1)
      self.buf = self.buf:sub(i + #sep)
      return s
    end
    if max and #self.buf > max then return nil, "too long" end
    from = math.max(1, #self.buf - #sep + 2)
    local ok, err = self:fill(deadline)
    if not ok then return nil, err end
  end
end

-- read_n(n, deadline) -> exactly n bytes | nil, err, partial
function Conn:read_n(n, deadline)
  if #self.buf >= n then
    local s = self.buf:sub(1, n)
    self.buf = self.buf:sub(n + 1)
    return s
  end
  local parts, have = { self.buf }, #self.buf
  self.buf = ""
  while have < n do
    local ok, err = self:fill(deadline)
    if not ok then return nil, err, concat(parts) end
    parts[#parts + 1] = self.buf
    have = have + #self.buf
    self.buf = ""
  end
  local all = concat(parts)
  self.buf = all:sub(n + 1)
  return all:sub(1, n)
end

-- read_to_eof(deadline) -> data, "closed" | "timeout" | error
function Conn:read_to_eof(deadline)
  local parts = { self.buf }
  self.buf = ""
  local err
  while true do
    local ok, e = self:fill(deadline)
    parts[#parts + 1] = self.buf
    self.buf = ""
    if not ok then err = e break end
  end
  return concat(parts), err
end

function Conn:close()
  if self.fd then
    C.close(self.fd)
    self.fd = nil
  end
  open_conns[self] = nil
end

--------------------------------------------------------------------------------------------------
-- HTTP/1.1 messages
--------------------------------------------------------------------------------------------------

-- Header tables: any-case lookup ("Content-Type", "content-type", "content_type").
local headers_mt = {
  __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local lk = k:lower()
    local v = rawget(t, lk)
    if v == nil then v = rawget(t, (lk:gsub("_", "-"))) end
    return v
  end,
}

local function headers_from_list(list)
  local h = {}
  for _, kv in ipairs(list) do
    local k = kv[1]:lower()
    local old = rawget(h, k)
    if old == nil then
      h[k] = kv[2]
    elseif type(old) == "table" then
      old[#old + 1] = kv[2]
    else
      h[k] = { old, kv[2] }
    end
  end
  return (setmetatable(h, headers_mt))
end
_M.headers_from_list = headers_from_list

local function first(v)
  if type(v) == "table" then return v[1] end
  return v
end

-- header_lines(conn, deadline, limit) -> { {name, value} } | nil, err
local function read_header_lines(conn, deadline, limit)
  local block, err = conn:read_until("\r\n\r\n", deadline, limit)
  if not block then return nil, err end
  local lines = {}
  for line in (block .. "\r\n"):gmatch("(.-)\r\n") do lines[#lines + 1] = line end
  return lines
end

local function parse_fields(lines, from)
  local list = {}
  for i = from, #lines do
    local name, value = lines[i]:match("^([^:]+):[ \t]*(.-)[ \t]*$")
    if not name then return nil, "bad header line: " .. lines[i] end
    list[#list + 1] = { name, value }
  end
  return list
end

-- read_chunked(conn, deadline) -> body, trailer_list | nil, err
local function read_chunked(conn, deadline)
  local parts = {}
  while true do
    local line, err = conn:read_until("\r\n", deadline, 4096)
    if not line then return nil, err end
    local size = tonumber(line:match("^%s*(%x+)"), 16)
    if not size then return nil, "bad chunk size line: " .. line end
    if size == 0 then
      local trailers = {}
      while true do
        local t, terr = conn:read_until("\r\n", deadline, 65536)
        if not t then return nil, terr end
        if t == "" then break end
        trailers[#trailers + 1] = t
      end
      return concat(parts), trailers
    end
    local data, derr = conn:read_n(size, deadline)
    if not data then return nil, derr end
    parts[#parts + 1] = data
    local crlf, cerr = conn:read_n(2, deadline)
    if crlf ~= "\r\n" then return nil, cerr or "chunk not followed by CRLF" end
  end
end

local function json_method(self)
  return cjson.decode(self.body or "")
end

-- read_response(conn, opts) -> res | nil, err    opts.method ("HEAD": no body), opts.timeout_ms
local function read_response(conn, opts)
  opts = opts or {}
  local deadline = now_ms() + (opts.timeout_ms or DEFAULT_TIMEOUT_MS)
  local lines, err = read_header_lines(conn, deadline, 1024 * 1024)
  if not lines then return nil, err end
  local version, status, reason = lines[1]:match("^HTTP/(%d%.%d) (%d%d%d) ?(.*)$")
  if not version then return nil, "bad status line: " .. lines[1] end
  local list, ferr = parse_fields(lines, 2)
  if not list then return nil, ferr end
  local res = { status = tonumber(status), reason = reason, http_version = version,
                header_list = list, headers = headers_from_list(list), json = json_method }
  local h = res.headers
  local conn_hdr = (first(h["connection"]) or ""):lower()
  res.keepalive = not conn_hdr:find("close", 1, true)
  if version == "1.0" and not conn_hdr:find("keep-alive", 1, true) then res.keepalive = false end
  local s = res.status
  if (s >= 100 and s < 200) or s == 204 or s == 304 or opts.method == "HEAD" then
    res.body = ""
    return res
  end
  local te = first(h["transfer-encoding"])
  if te and te:lower():find("chunked", 1, true) then
    local body, trailers = read_chunked(conn, deadline)
    if not body then return nil, "chunked body: " .. tostring(trailers), res end
    res.body, res.trailers, res.chunked = body, trailers, true
  elseif h["content-length"] then
    local n = tonumber(first(h["content-length"]))
    local body, berr, partial = conn:read_n(n, deadline)
    if not body then
      res.body = partial
      return nil, "body: " .. tostring(berr) .. " after " .. #(partial or "") .. " of " .. n, res
    end
    res.body = body
  else
    local body, why = conn:read_to_eof(deadline)
    res.body, res.close_delimited, res.keepalive = body, true, false
    if why == "timeout" then return nil, "close-delimited body: timeout", res end
  end
  return res
end
_M.read_response = read_response

-- read_final_response(conn, opts) -> res | nil, err: skips interim 1xx answers (100 Continue),
-- but not 101, after which the connection no longer speaks HTTP.
local function read_final_response(conn, opts)
  local res, err
  repeat
    res, err = read_response(conn, opts)
  until not res or res.status >= 200 or res.status == 101
  return res, err
end

local function encode_query(q)
  if type(q) == "string" then return q end
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = k end
  sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "=" .. tostring(q[k]) end
  return (concat(out, "&"))
end

-- build_request(port, opts) -> bytes
local function build_request(port, opts)
  local path = opts.path or "/"
  if opts.query then
    local q = encode_query(opts.query)
    if q ~= "" then path = path .. (path:find("?", 1, true) and "&" or "?") .. q end
  end
  local out = { format("%s %s HTTP/%s\r\n", opts.method or "GET", path, opts.http_version or "1.1") }
  local has = {}
  local headers = opts.headers or {}
  local names = {}
  for k in pairs(headers) do names[#names + 1] = k end
  sort(names)
  for _, k in ipairs(names) do
    local v = headers[k]
    has[k:lower()] = true
    if type(v) == "table" then
      for _, x in ipairs(v) do out[#out + 1] = k .. ": " .. tostring(x) .. "\r\n" end
    else
      out[#out + 1] = k .. ": " .. tostring(v) .. "\r\n"
    end
  end
  if not has.host and opts.host ~= false then
    out[#out + 1] = "Host: " .. (opts.host or ("127.0.0.1:" .. port)) .. "\r\n"
  end
  local body = opts.body
  if opts.chunks then
    if not has["transfer-encoding"] then out[#out + 1] = "Transfer-Encoding: chunked\r\n" end
    local parts = {}
    for _, c in ipairs(opts.chunks) do
      if #c > 0 then parts[#parts + 1] = format("%x\r\n%s\r\n", #c, c) end
    end
    parts[#parts + 1] = "0\r\n\r\n"
    body = concat(parts)
  elseif body and not has["content-length"] then
    out[#out + 1] = "Content-Length: " .. #body .. "\r\n"
  end
  out[#out + 1] = "\r\n"
  if body then out[#out + 1] = body end
  return (concat(out))
end
_M.build_request = build_request

--------------------------------------------------------------------------------------------------
-- clients
--------------------------------------------------------------------------------------------------

-- http(port, opts) -> res | nil, err: one request on a new connection, then close.
function _M.http(port, opts)
  opts = opts or {}
  local conn, err = tcp_connect(port, opts.timeout_ms)
  if not conn then return nil, err end
  local ok, serr = conn:send(build_request(port, opts), opts.timeout_ms)
  if not ok then
    conn:close()
    return nil, "send: " .. serr
  end
  local res, rerr = read_final_response(conn, opts)
  conn:close()
  return res, rerr
end

local Client = {}
Client.__index = Client

-- client(port) -> c: requests over one keep-alive connection (c.conn).
function _M.client(port, opts)
  local conn, err = tcp_connect(port, opts and opts.timeout_ms)
  if not conn then return nil, err end
  local c = setmetatable({ port = port, conn = conn }, Client)
  return c
end

function Client:request(opts)
  opts = opts or {}
  local ok, err = self.conn:send(build_request(self.port, opts), opts.timeout_ms)
  if not ok then return nil, "send: " .. err end
  return read_final_response(self.conn, opts)
end

-- closed(timeout_s) -> true once the peer closed the connection (within the timeout)
function Client:closed(timeout_s)
  return self.conn:closed_within(timeout_s)
end

function Client:close() self.conn:close() end

-- closed_within(timeout_s): data that arrives meanwhile is kept in the buffer.
function Conn:closed_within(timeout_s)
  if self.eof then return true end
  local deadline = now_ms() + (timeout_s or 2) * 1000
  while true do
    local ok, err = self:fill(deadline)
    if not ok then return err ~= "timeout" end
  end
end

local Raw = {}
Raw.__index = Raw

-- raw(port) -> r: bytes in, bytes out, for malformed input.
function _M.raw(port, opts)
  local conn, err = tcp_connect(port, opts and opts.timeout_ms)
  if not conn then return nil, err end
  return (setmetatable({ port = port, conn = conn }, Raw))
end

function Raw:send(bytes) return self.conn:send(bytes) end
function Raw:read_response(opts) return read_response(self.conn, opts) end
-- read_all(timeout_s) -> everything until the peer closes (or the timeout), "closed"|"timeout"
function Raw:read_all(timeout_s)
  return self.conn:read_to_eof(now_ms() + (timeout_s or 5) * 1000)
end
function Raw:closed(timeout_s) return self.conn:closed_within(timeout_s) end
-- half-close: no more bytes from us
function Raw:shutdown() C.shutdown(self.conn.fd, 1) end
function Raw:close() self.conn:close() end

--------------------------------------------------------------------------------------------------
-- mock upstream (a forked child; a grandchild per connection)
--------------------------------------------------------------------------------------------------

-- read_request(conn, deadline) -> req | nil, err
local function read_request(conn, deadline)
  local lines, err = read_header_lines(conn, deadline, 1024 * 1024)
  if not lines then return nil, err end
  local method, uri, version = lines[1]:match("^(%S+) (%S+) HTTP/(%d%.%d)$")
  if not method then return nil, "bad request line: " .. lines[1] end
  local list, ferr = parse_fields(lines, 2)
  if not list then return nil, ferr end
  local h = headers_from_list(list)
  local path, query = uri:match("^([^?]*)%??(.*)$")
  local req = { method = method, uri = uri, path = path, query = query, http_version = version,
                headers = h, header_list = list }
  local te = first(h["transfer-encoding"])
  if te and te:lower():find("chunked", 1, true) then
    local body, terr = read_chunked(conn, deadline)
    if not body then return nil, "chunked body: " .. tostring(terr) end
    req.body, req.chunked = body, true
  elseif h["content-length"] then
    local body, berr = conn:read_n(tonumber(first(h["content-length"])) or 0, deadline)
    if not body then return nil, "body: " .. tostring(berr) end
    req.body = body
  else
    req.body = ""
  end
  req.body_len = #req.body
  local ch = (first(h["connection"]) or ""):lower()
  req.keepalive = version == "1.1" and not ch:find("close", 1, true)
    or (version == "1.0" and ch:find("keep-alive", 1, true) ~= nil)
  return req
end
_M.read_request = read_request

local function echo_handler(req)
  return {
    status = 200,
    headers = { ["Content-Type"] = "application/json" },
    body = cjson.encode({ method = req.method, path = req.path, query = req.query, uri = req.uri,
                          headers = req.headers, body = req.body, body_len = req.body_len,
                          http_version = req.http_version, conn = req.conn }),
  }
end
_M.echo_handler = echo_handler

local function serialize_response(req, res)
  if res.raw then return res.raw, true end
  local status = res.status or 200
  local out = { format("HTTP/1.1 %d %s\r\n", status, res.reason or "Mock") }
  local has = {}
  for k, v in pairs(res.headers or {}) do
    has[k:lower()] = true
    if type(v) == "table" then
      for _, x in ipairs(v) do out[#out + 1] = k .. ": " .. tostring(x) .. "\r\n" end
    else
      out[#out + 1] = k .. ": " .. tostring(v) .. "\r\n"
    end
  end
  local body = res.body or ""
  local close = res.close or not req.keepalive
  if res.chunks then
    out[#out + 1] = "Transfer-Encoding: chunked\r\n"
    local parts = {}
    for _, c in ipairs(res.chunks) do
      if #c > 0 then parts[#parts + 1] = format("%x\r\n%s\r\n", #c, c) end
    end
    parts[#parts + 1] = "0\r\n\r\n"
    body = concat(parts)
  elseif not res.close and not has["content-length"] then
    out[#out + 1] = "Content-Length: " .. #body .. "\r\n"
  end
  if close and not has["connection"] then out[#out + 1] = "Connection: close\r\n" end
  out[#out + 1] = "\r\n"
  if req.method ~= "HEAD" then out[#out + 1] = body end
  return concat(out), close
end

local function record(log_fd, req)
  local line = cjson.encode({ method = req.method, path = req.path, query = req.query,
                              uri = req.uri, http_version = req.http_version,
                              headers = req.headers, header_list = req.header_list,
                              body = req.body, body_len = req.body_len, chunked = req.chunked,
                              conn = req.conn, index = req.index }) .. "\n"
  local p = ffi.cast("const char *", line)
  local off = 0
  while off < #line do
    local rc = C.write(log_fd, p + off, #line - off)
    if rc <= 0 then break end
    off = off + tonumber(rc)
  end
end

local function serve_connection(conn, n, handler, log_fd)
  local index = 0
  while true do
    local req = read_request(conn, now_ms() + 60000)
    if not req then return end
    index = index + 1
    req.conn, req.index = n, index
    record(log_fd, req)
    local ok, res = pcall(handler, req)
    if not ok then
      res = { status = 500, body = cjson.encode({ message = "mock handler: " .. tostring(res) }),
              headers = { ["Content-Type"] = "application/json" } }
    end
    res = res or {}
    if res.delay_ms then sleep_ms(res.delay_ms) end
    local bytes, close = serialize_response(req, res)
    if not conn:send(bytes, 60000) or close then return end
  end
end

local Mock = {}
Mock.__index = Mock

-- mock_upstream(opts) -> up (see the top of this file)
function _M.mock_upstream(opts)
  opts = opts or {}
  local handler = opts.handler or echo_handler
  local dir = _M.tmpdir("mock")
  local log_path = dir .. "/requests.jsonl"
  local lfd, port = listen_socket(opts.port or 0)
  io.stdout:flush()
  io.stderr:flush()
  local pid = C.fork()
  if pid < 0 then error("fork: " .. errstr(), 2) end
  if pid == 0 then
    child_setup(lfd)
    C.signal(SIGCHLD, SIG_IGN) -- connection children reap themselves
    local log_fd = C.open(log_path, O_WRONLY + O_CREAT + O_APPEND, ffi.cast("int", 420))
    local n = 0
    while true do
      local cfd = C.accept4(lfd, nil, nil, SOCK_CLOEXEC)
      if cfd >= 0 then
        n = n + 1
        local cpid = C.fork()
        if cpid == 0 then
          C.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
          C.close(lfd)
          pcall(serve_connection, new_conn(cfd), n, handler, log_fd)
          C.close(cfd)
          C._exit(0)
        end
        C.close(cfd)
      end
    end
  end
  C.close(lfd)
  local up = setmetatable({ pid = pid, port = port, dir = dir, log_path = log_path }, Mock)
  track(up)
  return up
end

-- requests() -> every request received so far, in the order they were read completely
function Mock:requests()
  local text = read_file(self.log_path) or ""
  local out = {}
  for line in text:gmatch("[^\n]+") do
    local r = cjson.decode(line)
    if r then
      r.headers = setmetatable(r.headers or {}, headers_mt)
      out[#out + 1] = r
    end
  end
  return out
end

-- reset(): forget the requests received so far
function Mock:reset()
  local f = assert(io.open(self.log_path, "wb"))
  f:close()
end

function Mock:wait_requests(n, timeout_s)
  return _M.wait_until(function()
    local list = self:requests()
    return #list >= n and list
  end, timeout_s or 5, n .. " request(s) at the mock upstream on port " .. self.port)
end

function Mock:stop()
  if self.pid then
    C.kill(-self.pid, SIGKILL)
    C.kill(self.pid, SIGKILL)
    wait_pid(self.pid, 2000)
    self.pid = nil
    remove_dir(self.dir)
  end
  untrack(self)
end

--------------------------------------------------------------------------------------------------
-- the gateway
--------------------------------------------------------------------------------------------------

-- A small YAML emitter: block style, every string double-quoted, deterministic key order.
local KEY_ORDER = { _format_version = 1, turnpike = 2, name = 3, username = 3, url = 4 }

local function yaml_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return (format("\\x%02x", c:byte()))
  end) .. '"'
end

local function is_array(t)
  if t == cjson.empty_array then return true end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n > 0 and n == #t
end

local function yaml_scalar(v)
  local tv = type(v)
  if v == nil or v == cjson.null then return "null" end
  if tv == "boolean" then return (tostring(v)) end
  if tv == "number" then
    if v == math.floor(v) and math.abs(v) < 2^53 then return (format("%d", v)) end
    return (format("%.17g", v))
  end
  if tv == "table" then return (v == cjson.empty_array or getmetatable(v) == cjson.array_mt) and "[]" or "{}" end
  return yaml_string(tostring(v))
end

local function yaml_key(k)
  k = tostring(k)
  if k:match("^[%a_][%w_%-]*$") then return k end
  return yaml_string(k)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b)
    local pa, pb = KEY_ORDER[a] or 99, KEY_ORDER[b] or 99
    if pa ~= pb then return pa < pb end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function emit(out, v, ind)
  local pad = (" "):rep(ind)
  if is_array(v) then
    for _, item in ipairs(v) do
      if type(item) == "table" and next(item) then
        local sub = {}
        emit(sub, item, 0)
        for i, line in ipairs(sub) do out[#out + 1] = pad .. (i == 1 and "- " or "  ") .. line end
      else
        out[#out + 1] = pad .. "- " .. yaml_scalar(item)
      end
    end
  else
    for _, k in ipairs(sorted_keys(v)) do
      local x = v[k]
      if type(x) == "table" and next(x) then
        out[#out + 1] = pad .. yaml_key(k) .. ":"
        emit(out, x, ind + 2)
      else
        out[#out + 1] = pad .. yaml_key(k) .. ": " .. yaml_scalar(x)
      end
    end
  end
end

-- to_yaml(tbl) -> text
function _M.to_yaml(t)
  local out = {}
  emit(out, t, 0)
  return concat(out, "\n") .. "\n"
end

local function deep_copy(v)
  if type(v) ~= "table" or v == cjson.null or v == cjson.empty_array then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = deep_copy(x) end
  return (setmetatable(out, getmetatable(v)))
end

local function home()
  return rawget(_G, "TURNPIKE_HOME") or os.getenv("TURNPIKE_HOME") or "."
end

local Gateway = {}
Gateway.__index = Gateway

-- complete(cfg): the node settings the kit owns (listeners, prefix) filled in.
-- the spec's working directory (for relative plugin folders)
local function current_dir()
  local buf = ffi.new("char[4096]")
  if C.getcwd(buf, 4096) == nil then return "." end
  return (ffi.string(buf))
end

function Gateway:complete(cfg)
  cfg = deep_copy(cfg or {})
  cfg._format_version = cfg._format_version or "3.0"
  local node = cfg.turnpike or {}
  cfg.turnpike = node
  node.proxy_listen = node.proxy_listen or { "127.0.0.1:" .. self.proxy_port }
  if node.admin_listen == nil then node.admin_listen = "127.0.0.1:" .. self.admin_port end
  if node.admin_listen == false or node.admin_listen == "off" then self.admin_port = nil end
  node.prefix = node.prefix or self.prefix
  node.workers = node.workers or self.workers
  if self.plugins_path and not node.plugins_path then node.plugins_path = self.plugins_path end
  -- the config is written in a temporary folder: relative plugin folders are meant
  -- relative to where the spec runs, as tp.run_plugin takes them
  if type(node.plugins_path) == "table" then
    local abs = {}
    for i, d in ipairs(node.plugins_path) do
      abs[i] = d:sub(1, 1) == "/" and d or (current_dir() .. "/" .. d)
    end
    node.plugins_path = abs
  end
  return cfg
end

-- write_config(tbl): the config file the gateway reads (atomically replaced).
function Gateway:write_config(cfg)
  cfg = self:complete(cfg)
  self.config = cfg
  local text = self.format == "json" and cjson.encode(cfg) or _M.to_yaml(cfg)
  write_file(self.config_path, text)
  return self.config_path
end

function Gateway:logs()
  return read_file(self.log_path) or ""
end

local function tail(text, n)
  local lines = {}
  for line in text:gmatch("[^\n]*\n?") do
    if line ~= "" then lines[#lines + 1] = line end
  end
  return (concat(lines, "", math.max(1, #lines - n + 1)))
end

function Gateway:wait_log(pattern, timeout_s, plain)
  return _M.wait_until(function()
    return self:logs():find(pattern, 1, plain) ~= nil
  end, timeout_s or 5, "log line matching '" .. pattern .. "'")
end

function Gateway:alive()
  if not self.pid then return false end
  if self.exit then return false end
  local done, code, sig = wait_pid(self.pid, 0)
  if done then
    self.exit = { code = code, signal = sig }
    return false
  end
  return true
end

-- wait(timeout_s) -> code, signal once the master exited | nil, "running"
function Gateway:wait(timeout_s)
  if self.exit then return self.exit.code, self.exit.signal end
  local done, code, sig = wait_pid(self.pid, (timeout_s or 5) * 1000)
  if not done then return nil, "running" end
  self.exit = { code = code, signal = sig }
  return code, sig
end

function Gateway:kill(sig)
  return C.kill(self.pid, sig or SIGTERM) == 0
end

function Gateway:admin(opts)
  if not self.admin_port then error("admin_listen is off", 2) end
  return _M.http(self.admin_port, opts)
end

function Gateway:status()
  local res, err = self:admin({ path = "/status", timeout_ms = 2000 })
  if not res then return nil, err end
  if res.status ~= 200 then return nil, "GET /status: " .. res.status .. " " .. res.body end
  return res:json()
end

-- worker_pids() -> { [index] = pid } from the admin API
function Gateway:worker_pids()
  local st = assert(self:status())
  local out = {}
  for _, w in ipairs(st.workers or {}) do out[w.index] = w.pid end
  return out
end

-- ready(n, generation): n workers report the generation (admin API), or the proxy answers.
function Gateway:ready(generation)
  if self.admin_port then
    local st = self:status()
    if not st then return false end
    local n = 0
    for _, w in ipairs(st.workers or {}) do
      if w.generation >= generation and pid_alive(w.pid) then n = n + 1 end
    end
    return n >= (self.nworkers or 1)
  end
  local res = _M.http(self.proxy_port, { method = "HEAD", path = "/.turnpike-spec-ready",
                                         timeout_ms = 500 })
  return res ~= nil
end

function Gateway:generation()
  local text = read_file(self.prefix .. "/generation") or ""
  local n, status = text:match("^(%d+)%s+([^\n]-)%s*\n") -- line 2: "verdict N"
  return tonumber(n), status
end

local function count(text, needle)
  local n, from = 0, 1
  while true do
    local i = text:find(needle, from, true)
    if not i then return n end
    n, from = n + 1, i + #needle
  end
end

-- reload([cfg]) -> true, generation | nil, err: SIGHUP, then wait for the new generation on
-- every worker (or the master's refusal).
function Gateway:reload(cfg, timeout_s)
  if cfg then self:write_config(cfg) end
  local before = self:generation() or 0
  local refused = count(self:logs(), "reload refused")
  if not self:kill(SIGHUP) then return nil, "SIGHUP: " .. errstr() end
  local gen, why = _M.wait_until(function()
    local n, status = self:generation()
    if n and n > before and status == "ok" then return n end
    local logs = self:logs()
    if count(logs, "reload refused") > refused then
      -- the newest refusal: the last matching line, not the first in the log
      local last
      for line in logs:gmatch("reload refused[^\n]*") do last = line end
      return -1, last or status
    end
    if not self:alive() then return -1, "the gateway exited during the reload" end
    return false
  end, timeout_s or 10, "a new generation after SIGHUP")
  if gen < 0 then return nil, why end
  _M.wait_until(function() return self:ready(gen) end, timeout_s or 10,
                "every worker on generation " .. gen)
  return true, gen
end

-- A sanitizer's report in a gateway's log (a worker of the ASan+UBSan build hit a memory or
-- undefined-behaviour error; the master replaced it, so nothing else may show it).
local SANITIZER_MARKS = { "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: " }
local function sanitizer_report(text)
  for _, mark in ipairs(SANITIZER_MARKS) do
    local at = text:find(mark, 1, true)
    if at then return text:sub(math.max(1, at - 200), at + 1500) end
  end
end

-- stop(timeout_s) -> code, signal: SIGTERM, wait, SIGKILL after the bound. Raises an error
-- when the gateway's log holds a sanitizer report.
function Gateway:stop(timeout_s)
  if self.pid and not self.exit then
    C.kill(self.pid, SIGTERM)
    local done, code, sig = wait_pid(self.pid, (timeout_s or 5) * 1000)
    if not done then
      C.kill(-self.pid, SIGKILL)
      C.kill(self.pid, SIGKILL)
      done, code, sig = wait_pid(self.pid, 2000)
    end
    self.exit = { code = code, signal = sig }
  end
  local report = sanitizer_report(self:logs())
  if self.pid and running[self] then
    C.kill(-self.pid, SIGKILL) -- workers a dead master left behind
    remove_dir(self.dir)
  end
  untrack(self)
  if report then error("sanitizer report in the gateway's log:\n" .. report, 2) end
  return self.exit and self.exit.code, self.exit and self.exit.signal
end

local function clear_turnpike_env()
  local env = C.environ
  local names = {}
  local i = 0
  while env[i] ~= nil do
    local kv = ffi.string(env[i])
    local name = kv:match("^(TURNPIKE_[^=]*)=")
    if name and name ~= "TURNPIKE_HOME" then names[#names + 1] = name end
    i = i + 1
  end
  for _, n in ipairs(names) do C.unsetenv(n) end
end

local function spawn(argv, env, log_path)
  local cargv = ffi.new("char *[?]", #argv + 1)
  local keep = {}
  for i, a in ipairs(argv) do
    keep[i] = ffi.new("char[?]", #a + 1, a)
    cargv[i - 1] = keep[i]
  end
  cargv[#argv] = nil
  io.stdout:flush()
  io.stderr:flush()
  local pid = C.fork()
  if pid < 0 then error("fork: " .. errstr(), 3) end
  if pid == 0 then
    child_setup(-1)
    local fd = C.open(log_path, O_WRONLY + O_CREAT + O_APPEND, ffi.cast("int", 420))
    local null = C.open("/dev/null", O_RDWR)
    C.dup2(null, 0)
    C.dup2(fd, 1)
    C.dup2(fd, 2)
    clear_turnpike_env()
    for k, v in pairs(env or {}) do C.setenv(k, tostring(v), 1) end
    C.execvp(cargv[0], cargv)
    local msg = "exec " .. argv[1] .. ": " .. errstr() .. "\n"
    C.write(2, msg, #msg)
    C._exit(127)
  end
  return pid, keep
end

-- start_turnpike(opts) -> gw (see the top of this file)
function _M.start_turnpike(opts)
  opts = opts or {}
  local dir = _M.tmpdir("gw")
  local gw = setmetatable({
    dir = dir, prefix = dir .. "/run", log_path = dir .. "/turnpike.log",
    format = opts.format or "yaml", workers = opts.workers or 1,
    plugins_path = opts.plugins_path,
    proxy_port = _M.free_port(), admin_port = _M.free_port(),
  }, Gateway)
  gw.config_path = dir .. (gw.format == "json" and "/turnpike.json" or "/turnpike.yml")
  gw:write_config(opts.config)
  local w = gw.config.turnpike.workers
  gw.nworkers = type(w) == "number" and w or nil
  local binary = opts.binary or os.getenv("TURNPIKE_SPEC_BINARY") or (home() .. "/build/turnpike")
  local argv = { binary, "run", "-c", gw.config_path }
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = a end
  local env = { TURNPIKE_HOME = home() }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  gw.pid = spawn(argv, env, gw.log_path)
  track(gw)
  local deadline = now_ms() + (opts.timeout_s or 10) * 1000
  while not gw:ready(1) do
    if not gw:alive() then
      local e = gw.exit
      error(format("turnpike exited during start (code %s, signal %s); log tail:\n%s",
                   tostring(e.code), tostring(e.signal), tail(gw:logs(), 30)), 2)
    end
    if now_ms() > deadline then
      gw:stop(1)
      error(format("turnpike did not answer on port %d within %gs; log tail:\n%s", gw.proxy_port,
                   opts.timeout_s or 10, tail(gw:logs(), 30)), 2)
    end
    sleep_ms(POLL_STEP_MS)
  end
  return gw
end

return _M
