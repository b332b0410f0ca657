-- Slow, failing and misbehaving peers on both sides, and what `retries` does about them (the
-- cases NGINX's proxy_next_upstream and Kong's retries settle): refused connects and connect
-- timeouts move on to the next target within `retries`; an upstream that hangs up without an
-- answer, and read timeouts, are never retried; a pooled connection that dies under a request
-- is retried for free on the next one; a stalled upstream body is cut after read_timeout; a
-- client that stops reading holds bounded memory; clients that vanish mid-request leave no
-- trace; and what becomes of bytes an upstream sends past its Content-Length. Each mock records
-- what reached it, so every test says how many times each upstream saw the request. Behaviour
-- that looked wrong when this spec was written is now asserted fixed.
local helpers = require "spec.helpers"
local ffi = require "ffi"

local C = ffi.C

local READ_TIMEOUT_MS = 600    -- the services' read_timeout: bounds every silent upstream
local CONNECT_TIMEOUT_MS = 300 -- the services' connect_timeout: bounds the blackhole
local BULK_READ_TIMEOUT_MS = 1500
local SEND_TIMEOUT_MS = 2500 -- the node's send_timeout_ms: longer than the bulk read_timeout
local BULK_BYTES = 24 * 1024 * 1024
local ABRUPT_CLIENTS = 200

local ERR_INVALID = "An invalid response was received from the upstream server"
local ERR_TIMEOUT = "The upstream server is timing out"
local SMUGGLED = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Smuggled: 1\r\n\r\nSMUGGLED"
-- the mock's head for a 200 with a Content-Length of 5 digits: 44 bytes
local MOCK_HEAD_LEN = #"HTTP/1.1 200 Mock\r\nContent-Length: 12345\r\n\r\n"
local UP_READ_CHUNK = 65536 -- what the gateway reads from an upstream at once

local function echo_or(routes)
  return function(req)
    local make = routes[req.path]
    if make then return make(req) end
    return helpers.echo_handler(req)
  end
end

-- requests a mock received for path
local function seen(up, path)
  local out = {}
  for _, r in ipairs(up:requests()) do
    if r.path == path then out[#out + 1] = r end
  end
  return out
end

local function get(gw, path, opts)
  opts = opts or {}
  opts.path, opts.timeout_ms = path, opts.timeout_ms or 5000
  return assert(helpers.http(gw.proxy_port, opts))
end

local function assert_error(res, status, message)
  assert.equal(status, res.status)
  assert.matches("application/json", res.headers["content-type"], 1, true)
  assert.equal(message, res:json().message)
end

local function worker_pid(gw)
  for _, pid in pairs(gw:worker_pids()) do return pid end
end

local function rss_kb(pid)
  local status = assert(helpers.read_file("/proc/" .. pid .. "/status"))
  return tonumber(status:match("VmRSS:%s*(%d+)"))
end

-- Waits until no socket of this network namespace is ESTABLISHED or CLOSE_WAIT towards
-- 127.0.0.1:port, i.e. the gateway closed its connections to that mock (the spec never connects
-- to a mock itself; TIME_WAIT leftovers of other processes on a reused port number do not count).
-- the lines of /proc/net/tcp for connections to port that are established or closing
local function open_to(port)
  local want, open = (":%04X"):format(port), {}
  for line in (helpers.read_file("/proc/net/tcp") or ""):gmatch("[^\n]+") do
    local rem, st = line:match("^%s*%d+:%s+%x+:%x+%s+(%x+:%x+)%s+(%x+)")
    if rem and rem:sub(-5) == want and (st == "01" or st == "08") then
      open[#open + 1] = line
    end
  end
  return open
end

local function wait_closed_to(port, what)
  helpers.wait_until(function()
    local open = open_to(port)
    assert(#open == 0, table.concat(open, "\n"))
    return true
  end, 3, what)
end

-- A loopback listener that never accepts, its one-slot queue taken: a SYN to it is dropped,
-- so a connect hangs as it does to a blackholed address (which this sandbox answers at once).
local function blackhole()
  local fd = C.socket(2, 1 + 0x80000, 0) -- AF_INET, SOCK_STREAM | SOCK_CLOEXEC
  local sa = ffi.new("tpspec_sockaddr_in_t")
  sa.family = 2
  sa.addr = bit.bswap(0x7f000001)
  assert(C.bind(fd, sa, ffi.sizeof(sa)) == 0 and C.listen(fd, 0) == 0)
  local len = ffi.new("unsigned int[1]", ffi.sizeof(sa))
  C.getsockname(fd, sa, len)
  local port = bit.rshift(bit.bswap(sa.port), 16)
  local filler = helpers.tcp_connect(port, 1000)
  return { fd = fd, port = port, filler = filler,
           close = function(self)
             if self.filler then self.filler:close() end
             C.close(self.fd)
           end }
end

describe("Core: peers and retries", function()
  local good, closer, flaky, idler, mute, staller, bulk, chatty, hole
  local gw, dead1, dead2

  lazy_setup(function()
    good = helpers.mock_upstream()
    closer = helpers.mock_upstream { handler = function() return { raw = "" } end }
    -- answers the first request of each connection; reads the next one and hangs up
    flaky = helpers.mock_upstream { handler = function(req)
      if req.index >= 2 then return { raw = "" } end
      local res = helpers.echo_handler(req)
      if req.path == "/flaky/slow-prime" then res.delay_ms = 200 end
      return res
    end }
    -- a keep-alive answer, then the connection closed: it dies while idle in the pool
    idler = helpers.mock_upstream { handler = function()
      return { raw = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nidle" }
    end }
    mute = helpers.mock_upstream { handler = echo_or {
      ["/muted/never"] = function() return { status = 200, body = "late", delay_ms = 5000 } end,
    } }
    staller = helpers.mock_upstream { handler = echo_or {
      -- the head and part of the body, then nothing (the mock waits for a next request)
      ["/stall/length"] = function()
        return { status = 200, headers = { ["Content-Length"] = "100" }, body = "partial" }
      end,
      ["/stall/chunked"] = function()
        return { status = 200, headers = { ["Transfer-Encoding"] = "chunked",
                                           ["Content-Length"] = {} }, body = "5\r\nhello\r\n" }
      end,
    } }
    bulk = helpers.mock_upstream { handler = echo_or {
      ["/bulk/big"] = function() return { status = 200, body = ("x"):rep(BULK_BYTES) } end,
    } }
    chatty = helpers.mock_upstream { handler = echo_or {
      ["/chatty/extra"] = function()
        return { status = 200, headers = { ["Content-Length"] = "5" }, body = "hello" .. SMUGGLED }
      end,
      -- head and body fill the gateway's read buffer exactly; the extra bytes come after
      ["/chatty/boundary"] = function()
        local n = UP_READ_CHUNK - MOCK_HEAD_LEN
        return { status = 200, headers = { ["Content-Length"] = tostring(n) },
                 body = ("b"):rep(n) .. SMUGGLED }
      end,
      ["/chatty/second"] = function(req)
        local res = helpers.echo_handler(req)
        res.close = true -- this connection is not used again
        return res
      end,
    } }
    hole = blackhole()
    dead1, dead2 = helpers.free_port(), helpers.free_port()

    local function svc(name, extra)
      local s = { name = name, host = name, port = 80, protocol = "http", retries = 0,
                  read_timeout = READ_TIMEOUT_MS, connect_timeout = CONNECT_TIMEOUT_MS,
                  routes = { { name = name, paths = { "/" .. name }, strip_path = false } } }
      for k, v in pairs(extra or {}) do s[k] = v end
      return s
    end
    local function direct(name, up, extra)
      local s = svc(name, extra)
      s.host, s.port = "127.0.0.1", up.port
      return s
    end
    -- the first target of each upstream outweighs the others 1000 to 1: round-robin puts it
    -- first for hundreds of picks, and the others follow in their order (for retries)
    local function upstream(name, ports, healthchecks)
      local targets = {}
      for i, p in ipairs(ports) do
        targets[i] = { target = "127.0.0.1:" .. p, weight = i == 1 and 1000 or 1 }
      end
      return { name = name, targets = targets, healthchecks = healthchecks }
    end

    gw = helpers.start_turnpike { config = {
      turnpike = { keepalive_timeout_ms = 5000, client_header_timeout_ms = 2000,
                   send_timeout_ms = SEND_TIMEOUT_MS },
      services = {
        svc("trio", { retries = 2 }),
        svc("trio1", { host = "trio", retries = 1 }),
        svc("trio0", { host = "trio", retries = 0 }),
        svc("hangup", { retries = 2 }),
        direct("flaky", flaky, { retries = 0 }),
        direct("idler", idler, { retries = 0 }),
        svc("muted", { retries = 2 }),
        direct("stall", staller),
        direct("hole", { port = hole.port }),
        svc("holed", { retries = 1 }),
        svc("bulk", { read_timeout = BULK_READ_TIMEOUT_MS }),
        direct("chatty", chatty),
        direct("echo", good),
      },
      upstreams = {
        upstream("trio", { dead1, dead2, good.port }),
        upstream("hangup", { closer.port, good.port }),
        upstream("muted", { mute.port, good.port }),
        upstream("holed", { hole.port, good.port }),
        upstream("bulk", { bulk.port }, {
          passive = { unhealthy = { timeouts = 1 } },
          breaker = { open_ms = 30000, max_open_ms = 30000 },
        }),
      },
    } }
  end)

  lazy_teardown(function()
    helpers.cleanup()
    if hole then hole:close() end
  end)

  before_each(function() good:reset() end)

  after_each(function()
    assert.is_true(gw:alive(), "the gateway exited")
  end)

  describe("targets that refuse connections", function()
    it("take one attempt each out of retries, then the next target answers", function()
      local res = get(gw, "/trio/x")
      assert.equal(200, res.status)
      assert.equal("/trio/x", res:json().path)
      assert.equal(1, #seen(good, "/trio/x"))
      local logs = gw:logs()
      assert.matches("connect to 127.0.0.1:" .. dead1 .. ": Connection refused", logs, 1, true)
      assert.matches("connect to 127.0.0.1:" .. dead2 .. ": Connection refused", logs, 1, true)
    end)

    it("answer 502 when retries run out before a live target", function()
      -- retries = 1: two attempts, both on dead targets
      assert_error(get(gw, "/trio1/x"), 502, ERR_INVALID)
      -- retries = 0: the first target only
      local t0 = helpers.now_ms()
      assert_error(get(gw, "/trio0/x"), 502, ERR_INVALID)
      assert.is_true(helpers.now_ms() - t0 < 1000)
      assert.same({}, seen(good, "/trio1/x"))
      assert.same({}, seen(good, "/trio0/x"))
    end)
  end)

  describe("an upstream that reads the request and hangs up without an answer", function()
    -- Only a failed connect (or a dead pooled connection) moves on: a request that reached a
    -- fresh connection is never sent again. NGINX's default (`error timeout`) would pass a GET on;
    -- it too never passes on a POST it has sent.
    it("answers a GET with 502 and does not retry it", function()
      closer:reset()
      assert_error(get(gw, "/hangup/get"), 502, ERR_INVALID)
      assert.equal(1, #seen(closer, "/hangup/get"))
      assert.same({}, seen(good, "/hangup/get"))
      gw:wait_log("upstream 127.0.0.1:" .. closer.port .. " closed the connection without answering",
                  3, true)
    end)

    it("answers a POST with 502 and sends it to no other target", function()
      closer:reset()
      local res = get(gw, "/hangup/post", { method = "POST", body = "order=1" })
      assert_error(res, 502, ERR_INVALID)
      local got = seen(closer, "/hangup/post")
      assert.equal(1, #got)
      assert.equal("order=1", got[1].body)
      assert.same({}, seen(good, "/hangup/post"))
    end)
  end)

  describe("a pooled connection", function()
    it("that the upstream closed while idle is dropped; the next request opens another",
      function()
      idler:reset()
      local res = get(gw, "/idler/first")
      assert.equal(200, res.status)
      assert.equal("idle", res.body)
      -- the gateway saw the close on the idle connection and let it go (no CLOSE_WAIT left)
      wait_closed_to(idler.port, "the idle connection closed on the gateway's side")
      res = get(gw, "/idler/post", { method = "POST", body = "once" })
      assert.equal(200, res.status)
      local got = seen(idler, "/idler/post")
      assert.equal(1, #got)
      assert.equal("once", got[1].body)
      assert.equal(1, got[1].index) -- a fresh connection
    end)

    it("that dies under a GET is retried once, on a fresh connection", function()
      flaky:reset()
      local c = assert(helpers.client(gw.proxy_port))
      assert.equal(200, assert(c:request { path = "/flaky/prime" }).status)
      local res = assert(c:request { path = "/flaky/get" })
      assert.equal(200, res.status)
      local got = seen(flaky, "/flaky/get")
      assert.equal(2, #got)
      assert.equal(2, got[1].index) -- the pooled connection, which hung up
      assert.equal(1, got[2].index) -- the retry, on a new one
      assert.equal(got[2].conn, res:json().conn)
      c:close()
    end)

    it("that die under a GET one after the other each cost one more send", function()
      flaky:reset()
      -- two requests at once leave two connections in the pool
      local a, b = assert(helpers.raw(gw.proxy_port)), assert(helpers.raw(gw.proxy_port))
      for _, r in ipairs { a, b } do
        assert(r:send("GET /flaky/slow-prime HTTP/1.1\r\nHost: peers.test\r\n\r\n"))
      end
      for _, r in ipairs { a, b } do
        assert.equal(200, assert(r:read_response { timeout_ms = 3000 }).status)
        r:close()
      end
      assert.equal(200, get(gw, "/flaky/chain").status)
      -- the retry after a dead pooled connection is free (retries is 0 here) and takes the
      -- next pooled connection: one send per dead connection in the pool (up to
      -- upstream_keepalive), then a fresh one. NGINX walks its cached connections alike.
      local got = seen(flaky, "/flaky/chain")
      assert.equal(3, #got)
      assert.same({ 2, 2, 1 }, { got[1].index, got[2].index, got[3].index })
    end)

    it("that dies under a POST whose body was sent answers 502, the POST sent once", function()
      flaky:reset()
      local c = assert(helpers.client(gw.proxy_port))
      assert.equal(200, assert(c:request { path = "/flaky/prime" }).status)
      local res = assert(c:request { path = "/flaky/post", method = "POST", body = "pay=10" })
      assert_error(res, 502, ERR_INVALID)
      local got = seen(flaky, "/flaky/post")
      assert.equal(1, #got)
      assert.equal("pay=10", got[1].body)
      c:close()
    end)

    it("that dies under a POST without a body does not send the POST again", function()
      flaky:reset()
      local c = assert(helpers.client(gw.proxy_port))
      assert.equal(200, assert(c:request { path = "/flaky/prime" }).status)
      local res = assert(c:request { path = "/flaky/empty-post", method = "POST",
                                     headers = { ["Content-Length"] = "0" } })
      -- the upstream read this POST, then hung up: it may have acted on it, so it is not
      -- sent again (NGINX's rule for POST, PATCH and LOCK)
      assert_error(res, 502, ERR_INVALID)
      local got = seen(flaky, "/flaky/empty-post")
      assert.equal(1, #got)
      assert.equal("POST", got[1].method)
      c:close()
    end)
  end)

  describe("a client uploading slowly", function()
    it("is not cut by the upstream's read_timeout while its body still comes", function()
      good:reset()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("POST /echo/slow-upload HTTP/1.1\r\nHost: peers.test\r\n"
                    .. "Content-Length: 9\r\n\r\nabc"))
      -- the pieces come READ_TIMEOUT_MS apart: read_timeout runs only once the request is out
      for _, piece in ipairs { "def", "ghi" } do
        helpers.sleep_ms(READ_TIMEOUT_MS)
        assert(r:send(piece))
      end
      local res = assert(r:read_response { timeout_ms = 3000 })
      r:close()
      assert.equal(200, res.status)
      assert.equal("abcdefghi", res:json().body)
      local got = seen(good, "/echo/slow-upload")
      assert.equal(1, #got)
      assert.equal("abcdefghi", got[1].body)
    end)
  end)

  describe("read_timeout", function()
    it("answers 504 near read_timeout, retries no other target, and reuses nothing", function()
      mute:reset()
      local t0 = helpers.now_ms()
      local res = get(gw, "/muted/never")
      local took = helpers.now_ms() - t0
      assert_error(res, 504, ERR_TIMEOUT)
      assert.is_true(took >= READ_TIMEOUT_MS - 50 and took < READ_TIMEOUT_MS + 1000,
                     "504 after " .. took .. " ms")
      -- a request that reached the upstream is not sent again (retries = 2 notwithstanding)
      local got = seen(mute, "/muted/never")
      assert.equal(1, #got)
      assert.same({}, seen(good, "/muted/never"))
      gw:wait_log("read to 127.0.0.1:" .. mute.port .. ": timed out", 2, true)
      -- the timed-out connection is not reused: the next request opens another one
      res = get(gw, "/muted/after")
      assert.equal(200, res.status)
      assert.equal("/muted/after", res:json().path)
      assert.are_not.equal(got[1].conn, res:json().conn)
    end)
  end)

  describe("an upstream that stalls in the body", function()
    local function stalled(path)
      local r = assert(helpers.raw(gw.proxy_port))
      local t0 = helpers.now_ms()
      assert(r:send("GET " .. path .. " HTTP/1.1\r\nHost: peers.test\r\n\r\n"))
      local data, why = r:read_all(5)
      local took = helpers.now_ms() - t0
      r:close()
      assert.equal("closed", why)
      assert.is_true(took >= READ_TIMEOUT_MS - 50 and took < READ_TIMEOUT_MS + 1500,
                     "closed after " .. took .. " ms")
      local head, body = data:match("^(.-\r\n)\r\n(.*)$")
      assert.matches("^HTTP/1.1 200 ", head)
      return head, body
    end

    it("reaches the client short of its Content-Length, then both connections close", function()
      staller:reset()
      local head, body = stalled("/stall/length")
      assert.matches("\r\nContent-Length: 100\r\n", head, 1, true)
      assert.equal("partial", body)
      -- the stalled upstream connection is not pooled: the next request opens another one
      local res = get(gw, "/stall/next")
      assert.equal(200, res.status)
      local list = staller:requests()
      assert.equal("/stall/length", list[1].path)
      assert.are_not.equal(list[1].conn, res:json().conn)
    end)

    it("reaches the client chunked without the last chunk, then the connection closes", function()
      local head, body = stalled("/stall/chunked")
      assert.matches("\r\nTransfer-Encoding: chunked\r\n", head, 1, true)
      assert.equal("5\r\nhello\r\n", body)
    end)
  end)

  describe("connect_timeout", function()
    -- a second connect to the listener must hang, or this machine cannot test it
    local function no_blackhole()
      local probe = helpers.tcp_connect(hole.port, 200)
      if not probe then return false end
      probe:close()
      pending("connects to a full listen queue complete here: no blackhole to test with")
      return true
    end

    it("answers 504 near connect_timeout when the target never completes the handshake",
      function()
      if no_blackhole() then return end
      local t0 = helpers.now_ms()
      local res = get(gw, "/hole/x")
      local took = helpers.now_ms() - t0
      assert_error(res, 504, ERR_TIMEOUT)
      assert.is_true(took >= CONNECT_TIMEOUT_MS - 50 and took < CONNECT_TIMEOUT_MS + 1000,
                     "504 after " .. took .. " ms")
      gw:wait_log("connect to 127.0.0.1:" .. hole.port .. ": timed out", 2, true)
    end)

    it("moves on to the next target within retries", function()
      if no_blackhole() then return end
      local t0 = helpers.now_ms()
      local res = get(gw, "/holed/x")
      local took = helpers.now_ms() - t0
      assert.equal(200, res.status)
      assert.equal("/holed/x", res:json().path)
      assert.equal(1, #seen(good, "/holed/x"))
      assert.is_true(took >= CONNECT_TIMEOUT_MS - 50 and took < CONNECT_TIMEOUT_MS + 1000,
                     "answered after " .. took .. " ms")
    end)
  end)

  describe("a client that stops reading a large response", function()
    -- starts /bulk/big, reads its head and the first 64 KB of the body, then reads no more
    local function stalled_client()
      local c = assert(helpers.tcp_connect(gw.proxy_port))
      assert(c:send("GET /bulk/big HTTP/1.1\r\nHost: peers.test\r\n\r\n"))
      local deadline = helpers.now_ms() + 3000
      local head = assert(c:read_until("\r\n\r\n", deadline))
      assert.matches("^HTTP/1.1 200 ", head)
      assert.matches("\r\nContent%-Length: " .. BULK_BYTES .. "\r\n", head .. "\r\n")
      assert(c:read_n(65536, deadline))
      return c
    end

    it("holds bounded memory while others are served, and nothing once it left", function()
      bulk:reset()
      local pid = worker_pid(gw)
      local before = rss_kb(pid)
      local c = stalled_client()
      for i = 1, 10 do
        local res = get(gw, "/echo/meanwhile-" .. i)
        assert.equal(200, res.status)
        assert.equal("/echo/meanwhile-" .. i, res:json().path)
      end
      local during = rss_kb(pid)
      assert.is_true(during - before < 4096,
                     ("worker RSS %d KB -> %d KB with a %d MB response held up"):format(
                       before, during, BULK_BYTES / 1048576))
      c:close()
      -- the exchange is dropped: its upstream connection closes, none stays in the pool
      wait_closed_to(bulk.port, "the bulk upstream connection closed")
      local res = get(gw, "/bulk/after")
      assert.equal(200, res.status)
      assert.are_not.equal(bulk:requests()[1].conn, res:json().conn)
      assert.is_true(rss_kb(pid) - before < 4096)
      assert.equal(pid, worker_pid(gw))
    end)

    it("is cut after send_timeout_ms, and the healthy upstream is not blamed", function()
      local started = helpers.now_ms()
      local c = stalled_client()
      -- the gateway stops reading the upstream while the client's buffer is full: no upstream
      -- read timeout runs then; the client is cut by the node's send_timeout_ms instead
      -- (the client must not read meanwhile: a byte taken starts send_timeout_ms again)
      helpers.sleep_ms(BULK_READ_TIMEOUT_MS + 500)
      assert.is_true(#open_to(bulk.port) > 0, "the exchange ended at the upstream's read_timeout")
      helpers.sleep_ms(SEND_TIMEOUT_MS - BULK_READ_TIMEOUT_MS + 200)
      wait_closed_to(bulk.port, "the bulk upstream connection closed with its client")
      local data, why = c:read_to_eof(helpers.now_ms() + 5000)
      c:close()
      assert.equal("closed", why)
      assert.is_true(#data < BULK_BYTES - 65536, "the response was not cut")
      assert.is_true(helpers.now_ms() - started >= SEND_TIMEOUT_MS - 200)
      assert.is_nil(gw:logs():find("read to 127.0.0.1:" .. bulk.port .. ": timed out", 1, true))
      local health = assert(gw:admin { path = "/upstreams/bulk/health" })
      assert.equal(200, health.status)
      assert.equal("HEALTHY", health:json().data[1].health)
      assert.equal(200, get(gw, "/bulk/after-cut").status)
    end)
  end)

  describe("clients that vanish mid-request", function()
    it("leave normal requests, the worker and the error log untouched", function()
      local pid = worker_pid(gw)
      local log_before = #gw:logs()
      local kinds = {
        "GET /echo/half HTTP/1.1\r\nHo",                                     -- half a head
        "POST /echo/body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc", -- half a body
        "GET /muted/never HTTP/1.1\r\nHost: x\r\n\r\n",                      -- while upstream
      }
      for i = 1, ABRUPT_CLIENTS do
        local r = assert(helpers.raw(gw.proxy_port))
        assert(r:send(kinds[i % #kinds + 1]))
        r:close()
        if i % 10 == 0 then
          local res = get(gw, "/echo/normal-" .. i)
          assert.equal(200, res.status)
          assert.equal("/echo/normal-" .. i, res:json().path)
        end
      end
      assert.equal(pid, worker_pid(gw))
      local new = gw:logs():sub(log_before + 1)
      for _, noise in ipairs { "[crit]", "[alert]", "[emerg]", "[error]", "[warn]", "assert",
                               "sanitizer", "Sanitizer" } do
        assert.is_nil(new:find(noise, 1, true), "log has " .. noise .. ":\n" .. new:sub(1, 2000))
      end
    end)
  end)

  describe("an upstream that sends more than its Content-Length", function()
    it("gives the client the stated length, and the next request its own answer", function()
      chatty:reset()
      local res = get(gw, "/chatty/extra")
      assert.equal(200, res.status)
      assert.equal("5", res.headers["content-length"])
      assert.equal("hello", res.body)
      for i = 1, 3 do
        res = get(gw, "/chatty/next-" .. i)
        assert.equal(200, res.status)
        assert.is_nil(res.headers["x-smuggled"])
        assert.equal("/chatty/next-" .. i, res:json().path)
      end
    end)

    it("never hands bytes still unread past a body to a pipelined request", function()
      chatty:reset()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("GET /chatty/boundary HTTP/1.1\r\nHost: peers.test\r\n\r\n"
                    .. "GET /chatty/second HTTP/1.1\r\nHost: peers.test\r\n\r\n"))
      local first = assert(r:read_response { timeout_ms = 3000 })
      assert.equal(200, first.status)
      assert.equal(UP_READ_CHUNK - MOCK_HEAD_LEN, #first.body)
      assert.is_nil(first.body:find("[^b]"))
      local second = assert(r:read_response { timeout_ms = 3000 })
      r:close()
      -- the first response filled a whole read: more might wait in the socket (here, an
      -- answer nobody asked for), so that connection is not pooled; the second request goes
      -- out on a new one and gets its own answer
      local got = chatty:wait_requests(2, 3)
      assert.equal("/chatty/boundary", got[1].path)
      assert.equal("/chatty/second", got[2].path)
      assert.are_not.equal(got[1].conn, got[2].conn)
      assert.is_nil(second.headers["x-smuggled"])
      assert.equal("/chatty/second", second:json().path)
    end)
  end)
end)
