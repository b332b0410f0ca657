-- How the gateway takes request bodies from clients and passes them upstream (RFC 9112 sections
-- 6 and 7): chunk extensions, trailers and odd chunk sizes, malformed chunks, empty bodies,
-- Expect: 100-continue, client_max_body_size reached mid-stream, an upstream answering before
-- the body is in, pipelining behind bodies, HTTP/1.0 bodies, and clients that stall
-- (client_body_timeout_ms) or leave mid-body. Where the exact bytes the upstream got matter, a
-- raw upstream served from this process shows them; it also answers before reading the body,
-- which the kit's mock cannot.
local ffi = require "ffi"
local helpers = require "spec.helpers" -- also declares the libc functions used below

local C = ffi.C

local MAX_BODY = 4096             -- the node's client_max_body_size ("4k")
local BODY_TIMEOUT_MS = 300       -- client_body_timeout_ms of the second gateway
local READ_TIMEOUT_MS = 1000      -- the services' read_timeout
local WAIT = { timeout_ms = 3000 }
local AF_INET, SOCK_STREAM, SOCK_CLOEXEC, POLLIN, MSG_NOSIGNAL = 2, 1, 0x80000, 1, 0x4000
local SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
local CLOSE_OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

local read_buf = ffi.new("char[65536]")

local function readable(fd, ms)
  local p = ffi.new("tpspec_pollfd_t[1]")
  p[0].fd, p[0].events = fd, POLLIN
  return C.poll(p, 1, ms) > 0
end

-- A connection from the gateway to the raw upstream; every byte received is kept in `data`.
local Peer = {}
Peer.__index = Peer

-- read_until(pred, ms) -> true once pred(data) holds | nil, "closed" | "timeout"
function Peer:read_until(pred, ms)
  local deadline = helpers.now_ms() + (ms or 3000)
  while not pred(self.data) do
    if self.eof then return nil, "closed" end
    local left = math.floor(deadline - helpers.now_ms())
    if left <= 0 or not readable(self.fd, left) then return nil, "timeout" end
    local n = tonumber(C.read(self.fd, read_buf, 65536))
    if n > 0 then self.data = self.data .. ffi.string(read_buf, n) else self.eof = true end
  end
  return true
end

local function has_head(d) return d:find("\r\n\r\n", 1, true) ~= nil end

-- closed_within(ms): the gateway closed this connection (what it sent before is in `data`)
function Peer:closed_within(ms)
  return select(2, self:read_until(function() return false end, ms)) == "closed"
end

function Peer:send(bytes) assert(C.send(self.fd, bytes, #bytes, MSG_NOSIGNAL) == #bytes) end

-- parts() -> head, body: what the upstream got before and after the head's empty line
function Peer:parts()
  local i = self.data:find("\r\n\r\n", 1, true)
  assert(i, "no request head reached the upstream: " .. self.data)
  return self.data:sub(1, i + 1), self.data:sub(i + 4)
end

-- raw_upstream() -> u: a loopback listener served by the spec itself; u:accept(ms) -> Peer
local function raw_upstream()
  local fd = C.socket(AF_INET, SOCK_STREAM + SOCK_CLOEXEC, 0)
  local sa = ffi.new("tpspec_sockaddr_in_t")
  sa.family, sa.addr = AF_INET, bit.bswap(0x7f000001)
  assert(fd >= 0 and C.bind(fd, sa, ffi.sizeof(sa)) == 0 and C.listen(fd, 16) == 0, "listen")
  C.getsockname(fd, sa, ffi.new("unsigned int[1]", ffi.sizeof(sa)))
  local u = { fd = fd, port = bit.rshift(bit.bswap(sa.port), 16), fds = {} }
  function u:accept(ms)
    assert(readable(self.fd, ms or 3000), "the gateway did not connect to the raw upstream")
    local cfd = C.accept4(self.fd, nil, nil, SOCK_CLOEXEC)
    assert(cfd >= 0, "accept")
    self.fds[#self.fds + 1] = cfd
    return setmetatable({ fd = cfd, data = "" }, Peer)
  end
  function u:close()
    for _, cfd in ipairs(self.fds) do C.close(cfd) end
    C.close(self.fd)
  end
  return u
end

-- decode_chunked(bytes) -> body, trailer block, rest | nil, why: the strict framing the gateway
-- must write (bare hex sizes, CRLF after each chunk's data); nil also for an unfinished body
local function decode_chunked(s)
  local parts, pos = {}, 1
  while true do
    local hex, at = s:match("^(%x+)\r\n()", pos)
    if not hex then return nil, "no chunk size line at byte " .. pos end
    local size = tonumber(hex, 16)
    if size == 0 then
      if s:sub(at, at + 1) == "\r\n" then return table.concat(parts), "", s:sub(at + 2) end
      local e = s:find("\r\n\r\n", at, true)
      if not e then return nil, "no end of the trailer section" end
      return table.concat(parts), s:sub(at, e + 1), s:sub(e + 4)
    end
    if s:sub(at + size, at + size + 1) ~= "\r\n" then return nil, "no CRLF after chunk data" end
    parts[#parts + 1] = s:sub(at, at + size - 1)
    pos = at + size + 2
  end
end

local function head(method, path, extra, version)
  return ("%s %s HTTP/%s\r\nHost: bodies.test\r\n%s\r\n"):format(method, path, version or "1.1",
                                                                extra or "")
end

local CHUNKED = "Transfer-Encoding: chunked\r\n"

describe("Core: request bodies", function()
  local up, raw, gw, slow, workers

  lazy_setup(function()
    up = helpers.mock_upstream()
    raw = raw_upstream()
    gw = helpers.start_turnpike { config = {
      turnpike = { client_max_body_size = "4k", keepalive_timeout_ms = 2000 },
      services = {
        helpers.service("echo", up.port, { read_timeout = READ_TIMEOUT_MS, retries = 0,
          routes = { { name = "echo", paths = { "/" }, strip_path = false } } }),
        helpers.service("raw", raw.port, { read_timeout = READ_TIMEOUT_MS, retries = 0,
          routes = { { name = "raw", paths = { "/raw" }, strip_path = false } } }),
      },
    } }
    workers = gw:worker_pids()
  end)

  lazy_teardown(function()
    raw:close()
    helpers.cleanup()
  end)

  before_each(function() up:reset() end)

  -- send bytes (if any), then the response read
  local function exchange(r, bytes)
    if bytes then assert(r:send(bytes)) end
    local res, err = r:read_response(WAIT)
    assert(res, "no response: " .. tostring(err))
    return res
  end

  -- the next request on the same socket is answered: the body before it left nothing behind
  local function assert_follow_up(r, path)
    local res = exchange(r, head("GET", path))
    assert.equal(200, res.status)
    assert.equal(path, res:json().path)
  end

  -- the one request the mock got (each test starts with no records)
  local function only_request()
    local seen = up:requests()
    assert.equal(1, #seen)
    return seen[1]
  end

  -- a marker proves the mock is reachable; nothing else may have arrived
  local function assert_upstream_saw_only(marker)
    assert.equal(200, assert(helpers.http(gw.proxy_port, { path = marker })).status)
    local uris = {}
    for i, rec in ipairs(up:requests()) do uris[i] = rec.method .. " " .. rec.uri end
    assert.same({ "GET " .. marker }, uris)
  end

  -- the client's answer: `status` JSON, then the connection closed
  local function refused(r, bytes, status)
    local res = exchange(r, bytes)
    assert.equal(status, res.status)
    assert.is_string(res:json().message)
    assert.is_true(r:closed(2), "the connection stayed open after " .. status)
    return res
  end

  -- the raw upstream's connection was closed by the gateway, never pooled
  local function assert_dropped(peer)
    assert.is_true(peer:closed_within(2000), "the upstream connection was kept")
    return peer:parts()
  end

  describe("chunked bodies", function()
    it("reach the upstream re-chunked, without extensions, trailers or Trailer", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(head("POST", "/raw/ext", CHUNKED .. "Trailer: X-Sum\r\n")
                    .. "5;name=val\r\nhello\r\n6 ; q=\"x\"\r\n world\r\n0;last=1\r\n"
                    .. "X-Sum: 42\r\nX-Other: t2\r\n\r\n"))
      local peer = raw:accept()
      assert(peer:read_until(function(d)
        local i = d:find("\r\n\r\n", 1, true)
        return i and decode_chunked(d:sub(i + 4)) ~= nil
      end), "no complete chunked body upstream: " .. peer.data)
      peer:send(CLOSE_OK)
      assert.equal("ok", exchange(r).body)
      local up_head, up_body = peer:parts()
      assert.matches("^POST /raw/ext HTTP/1%.1\r\n", up_head)
      assert.matches("\r\nTransfer%-Encoding: chunked\r\n", up_head)
      assert.is_nil(up_head:lower():find("content-length", 1, true))
      -- RFC 9110 section 6.6.2: the trailers are dropped, so none may be announced
      assert.is_nil(up_head:lower():find("\r\ntrailer:", 1, true))
      assert.is_nil(up_head:lower():find("x-sum", 1, true))
      assert.same({ "hello world", "", "" }, { decode_chunked(up_body) })
      r:close()
    end)

    it("leave no trailer field behind for the next request on the connection", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, head("POST", "/trailers", CHUNKED)
                              .. "5\r\nhello\r\n0\r\nX-T1: one\r\nX-T2: /leak\r\n\r\n")
      assert.equal("hello", res:json().body)
      res = exchange(r, head("GET", "/follow-up"))
      -- trailer fields are not headers of the next request, nor part of its target
      assert.equal(200, res.status)
      local seen = up:requests()
      assert.equal(2, #seen)
      assert.same({ "/trailers", "/follow-up" }, { seen[1].uri, seen[2].uri })
      assert.is_nil(seen[2].headers["x-t2"])
      assert.is_nil(seen[2].headers["x-t1"])
      assert.is_nil(seen[2].headers[""])
      r:close()
    end)

    it("of zero length reach the upstream as a last chunk only", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert.equal(200, exchange(r, head("POST", "/zero", CHUNKED) .. "0\r\n\r\n").status)
      local rec = only_request()
      assert.same({ true, 0, "chunked" },
                  { rec.chunked, rec.body_len, rec.headers["transfer-encoding"] })
      assert.is_nil(rec.headers["content-length"])
      assert_follow_up(r, "/after-zero")
      r:close()
    end)

    it("take chunk sizes in upper and lower case hex and with leading zeros", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert.equal(200, exchange(r, head("PUT", "/hex", CHUNKED) .. "A\r\n0123456789\r\n"
                    .. "a\r\nabcdefghij\r\n0005\r\nhello\r\n00000\r\n\r\n").status)
      local rec = only_request()
      assert.same({ "0123456789abcdefghijhello", true }, { rec.body, rec.chunked })
      assert_follow_up(r, "/after-hex")
      r:close()
    end)
  end)

  describe("malformed chunked bodies", function()
    local cases = {
      { "an invalid chunk size", "zz\r\nhello\r\n0\r\n\r\n" },
      { "a chunk size overflowing 64 bits", "10000000000000005\r\nhello\r\n0\r\n\r\n" },
      -- refused by the gateway's own framing check (http-parser alone takes "0\r" for the CRLF)
      { "a missing CRLF after chunk data", "5\r\nhello0\r\n\r\n" },
    }
    for i, case in ipairs(cases) do
      it("get 400 and a close for " .. case[1] .. "; the upstream no whole body", function()
        local r = assert(helpers.raw(gw.proxy_port))
        refused(r, head("POST", "/raw/bad-" .. i, CHUNKED) .. case[2] .. SMUGGLED, 400)
        r:close()
        -- the body is parsed once the upstream is connected: the head went out first
        local up_head, up_body = assert_dropped(raw:accept())
        assert.matches("^POST /raw/bad%-" .. i .. " HTTP/1%.1\r\n", up_head)
        assert.is_nil(decode_chunked(up_body), "a complete body reached the upstream")
        assert_upstream_saw_only("/after-bad-chunk-" .. i)
      end)
    end

    it("in the read of their head do not crash an ASan-built worker", function()
      local binary = TURNPIKE_HOME .. "/build/asan/turnpike"
      local f = io.open(binary)
      if not f then return pending("no build/asan/turnpike to run") end
      f:close()
      local agw = helpers.start_turnpike { binary = binary,
        env = { ASAN_OPTIONS = "detect_leaks=0" }, config = { services = {
          helpers.service("echo", up.port, { routes = { { name = "echo", paths = { "/" } } } }),
        } } }
      local _, old_pid = next(agw:worker_pids()) -- its one worker
      for _, bad in ipairs { "zz\r\n\r\n", "10000000000000005\r\nhello\r\n" } do
        local r = assert(helpers.raw(agw.proxy_port))
        -- the body is parsed from inside the flush of the upstream head: the request ends
        -- there (400), and nothing of it may be touched afterwards (start_exchange did)
        refused(r, head("POST", "/asan", CHUNKED) .. bad, 400)
        r:close()
      end
      local _, pid = next(agw:worker_pids())
      assert.equal(old_pid, pid)
      agw:stop() -- raises on a sanitizer report in its log
    end)

    it("get 400 and a close for other bytes in place of the CRLF after chunk data", function()
      local r = assert(helpers.raw(gw.proxy_port))
      -- RFC 9112 section 7.1: CRLF follows chunk-data. The Debian http-parser (not built
      -- strict) skips any two bytes there; the gateway checks the framing beside it
      -- (core/tp_http_chunks.c), as NGINX does, so no server in front reads it otherwise
      refused(r, head("POST", "/no-crlf", CHUNKED) .. "5\r\nhelloXX3\r\nabc\r\n0\r\n\r\n", 400)
      r:close()
      -- the upstream never got a complete request out of it
      assert_upstream_saw_only("/after-no-crlf")
    end)
  end)

  describe("Content-Length bodies", function()
    it("send Content-Length: 0 upstream for an empty POST, and none for an empty GET", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert.equal(200, exchange(r, head("POST", "/empty-post", "Content-Length: 0\r\n")).status)
      assert.equal(200, exchange(r, head("GET", "/empty-get", "Content-Length: 0\r\n")).status)
      local seen = up:requests()
      assert.equal(2, #seen)
      assert.same({ "0", "" }, { seen[1].headers["content-length"], seen[1].body })
      assert.is_nil(seen[1].chunked)
      assert.is_nil(seen[2].headers["content-length"] or seen[2].headers["transfer-encoding"])
      assert_follow_up(r, "/after-empty")
      r:close()
    end)

    it("pass a GET's body on with it", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert.equal(200, exchange(r, head("GET", "/get-body", "Content-Length: 11\r\n")
                                    .. "hello there").status)
      local rec = only_request()
      assert.same({ "GET", "11", "hello there" },
                  { rec.method, rec.headers["content-length"], rec.body })
      assert_follow_up(r, "/after-get-body")
      r:close()
    end)
  end)

  describe("Expect: 100-continue", function()
    local bodies = {
      { "Content-Length", "Content-Length: 11\r\n", "hello there" },
      { "chunked", CHUNKED, "5\r\nhello\r\n6\r\n there\r\n0\r\n\r\n" },
    }
    for _, case in ipairs(bodies) do
      it("gets 100 Continue before a " .. case[1] .. " body, and is not sent on", function()
        local r = assert(helpers.raw(gw.proxy_port))
        local interim = exchange(r, head("POST", "/expect", case[2] .. "Expect: 100-continue\r\n"))
        assert.equal(100, interim.status)
        assert.equal("Continue", interim.reason)
        assert.equal(200, exchange(r, case[3]).status)
        local rec = only_request()
        assert.equal("hello there", rec.body)
        assert.is_nil(rec.headers["expect"])
        assert_follow_up(r, "/after-expect")
        r:close()
      end)
    end

    it("gets 413 and no 100 Continue when the announced body is over the limit", function()
      local r = assert(helpers.raw(gw.proxy_port))
      -- the first answer read is the 413: no interim response came before it
      refused(r, head("POST", "/expect-big", "Content-Length: 5000\r\nExpect: 100-continue\r\n"),
              413)
      r:close()
      assert_upstream_saw_only("/after-expect-413")
    end)

    it("is ignored for an HTTP/1.0 client", function()
      local r = assert(helpers.raw(gw.proxy_port))
      -- RFC 9110 section 10.1.1: the expectation of an HTTP/1.0 request is ignored (such a
      -- client may not know 1xx): no 100 Continue, the body is awaited as sent
      assert(r:send(head("POST", "/expect-10", "Content-Length: 5\r\nExpect: 100-continue\r\n",
                         "1.0")))
      local early = r:read_response({ timeout_ms = 300 })
      assert.is_nil(early)
      local res = exchange(r, "hello")
      assert.equal(200, res.status)
      assert.equal("hello", only_request().body)
      r:close()
    end)
  end)

  describe("client_max_body_size", function()
    it("stops a chunked body growing past it mid-stream: 413, both sides closed", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local chunk = ("%x\r\n%s\r\n"):format(1000, ("c"):rep(1000))
      assert(r:send(head("POST", "/raw/grow", CHUNKED) .. chunk:rep(2)))
      local peer = raw:accept()
      assert(peer:read_until(has_head))
      -- 5000 bytes in all, over the 4096 allowed, then a request that must stay unread
      refused(r, chunk:rep(3) .. "0\r\n\r\n" .. SMUGGLED, 413)
      r:close()
      local up_head, up_body = assert_dropped(peer)
      assert.matches("\r\nTransfer%-Encoding: chunked\r\n", up_head)
      -- the upstream saw a body that never ended, and never more than the limit
      assert.is_nil(decode_chunked(up_body))
      assert.is_true(#up_body < MAX_BODY, #up_body .. " body bytes upstream")
      assert_upstream_saw_only("/after-grow")
    end)
  end)

  describe("an upstream that answers before the body is in", function()
    local EARLY = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n"
                  .. "Content-Length: 4\r\n\r\nnope"

    -- sends head .. first, then answers at the raw upstream once the head is there
    local function answered_early(r, first)
      assert(r:send(first))
      local peer = raw:accept()
      assert(peer:read_until(has_head))
      peer:send(EARLY)
      local res = exchange(r)
      assert.equal(401, res.status)
      assert.equal("nope", res.body)
      assert.equal("Basic", res.headers["www-authenticate"])
      return res, peer
    end

    it("has its answer relayed; the rest of a Content-Length body is dropped", function()
      -- a body that looks like requests: parsed as such, they would reach the mock
      local body = SMUGGLED:rep(math.ceil(4000 / #SMUGGLED)):sub(1, 4000)
      local r = assert(helpers.raw(gw.proxy_port))
      local res, peer = answered_early(r, head("POST", "/raw/early", "Content-Length: 4000\r\n")
                                          .. body:sub(1, 100))
      assert.is_true(res.keepalive)
      -- the exchange ended with the body unsent: that connection cannot be reused
      local _, up_body = assert_dropped(peer)
      assert.is_true(#up_body < 4000)
      -- the client goes on with its body (it was not told to stop), then a request
      local after = exchange(r, body:sub(101) .. head("GET", "/after-early"))
      assert.equal("/after-early", after:json().path)
      assert.same({ "/after-early" }, { only_request().uri })
      r:close()
    end)

    it("has its answer relayed, then a chunked body's connection closes", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res, peer = answered_early(r, head("POST", "/raw/early-chunked", CHUNKED) .. "64\r\n"
                                          .. ("e"):rep(100) .. "\r\n")
      -- no length to skip the rest by: the connection closes
      assert.is_true(r:closed(2))
      -- the head says so (RFC 9112 section 9.6): the client knows to stop sending
      assert.equal("close", res.headers["connection"])
      assert_dropped(peer)
      r:close()
      assert_upstream_saw_only("/after-early-chunked")
    end)
  end)

  describe("pipelining", function()
    it("answers requests behind bodies in order; body bytes are never requests", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local cl_body = SMUGGLED .. "tail"
      assert(r:send(head("POST", "/pipe/cl", "Content-Length: " .. #cl_body .. "\r\n") .. cl_body
                    .. head("POST", "/pipe/chunked", CHUNKED)
                    .. ("%x\r\n%s\r\n0\r\n\r\n"):format(#SMUGGLED, SMUGGLED)
                    .. head("GET", "/pipe/last")))
      for _, path in ipairs { "/pipe/cl", "/pipe/chunked", "/pipe/last" } do
        local res = exchange(r)
        assert.equal(200, res.status)
        assert.equal(path, res:json().path)
      end
      local seen = up:requests()
      assert.equal(3, #seen)
      assert.same({ "/pipe/cl", cl_body, tostring(#cl_body) },
                  { seen[1].uri, seen[1].body, seen[1].headers["content-length"] })
      assert.same({ "/pipe/chunked", SMUGGLED, true },
                  { seen[2].uri, seen[2].body, seen[2].chunked })
      assert.same({ "/pipe/last", 0 }, { seen[3].uri, seen[3].body_len })
      r:close()
    end)
  end)

  describe("HTTP/1.0 clients", function()
    it("have a Content-Length body passed on, upstream as HTTP/1.1", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, head("POST", "/ten", "Connection: keep-alive\r\n"
                                                   .. "Content-Length: 5\r\n", "1.0") .. "hello")
      assert.equal("keep-alive", res.headers["connection"])
      res = exchange(r, head("POST", "/ten-2", "Content-Length: 3\r\n", "1.0") .. "abc")
      assert.equal("close", res.headers["connection"])
      assert.is_true(r:closed(2))
      local seen = up:requests()
      assert.equal(2, #seen)
      assert.same({ "1.1", "5", "hello", "abc" }, { seen[1].http_version,
                  seen[1].headers["content-length"], seen[1].body, seen[2].body })
      r:close()
    end)

    it("with a chunked body get 400 and a close (faulty framing)", function()
      local r = assert(helpers.raw(gw.proxy_port))
      -- RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing
      refused(r, head("POST", "/ten-chunked", "Connection: keep-alive\r\n" .. CHUNKED, "1.0")
                 .. "5\r\nhello\r\n0\r\n\r\n" .. head("GET", "/ten-after", nil, "1.0"), 400)
      r:close()
      assert_upstream_saw_only("/after-ten-chunked")
    end)
  end)

  describe("a client that leaves mid-body", function()
    it("takes its upstream connection with it; the next request gets a clean one", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(head("POST", "/raw/cut", "Content-Length: 1000\r\n") .. ("x"):rep(400)))
      local peer = raw:accept()
      assert(peer:read_until(has_head))
      r:close()
      local _, up_body = assert_dropped(peer)
      assert.is_true(#up_body < 1000)
      local c = assert(helpers.raw(gw.proxy_port))
      assert(c:send(head("POST", "/raw/after-cut", "Content-Length: 5\r\n") .. "fresh"))
      local fresh = raw:accept()
      assert(fresh:read_until(function(d) return d:find("\r\n\r\nfresh", 1, true) ~= nil end))
      fresh:send(CLOSE_OK)
      assert.equal(200, exchange(c).status)
      local up_head, body = fresh:parts()
      assert.matches("^POST /raw/after%-cut HTTP/1%.1\r\n.*\r\nContent%-Length: 5\r\n", up_head)
      assert.equal("fresh", body)
      c:close()
    end)
  end)

  describe("client_body_timeout_ms", function()
    lazy_setup(function()
      slow = helpers.start_turnpike { config = {
        turnpike = { client_body_timeout_ms = BODY_TIMEOUT_MS, keepalive_timeout_ms = 2000 },
        services = { helpers.service("raw", raw.port, { read_timeout = READ_TIMEOUT_MS,
          retries = 0, routes = { { name = "raw", paths = { "/raw" }, strip_path = false } } }) },
      } }
    end)

    local bodies = {
      { "Content-Length", "Content-Length: 10\r\n", "hello" },
      { "chunked", CHUNKED, "5\r\nhello\r\n" },
    }
    for _, case in ipairs(bodies) do
      it("gives 408 and a close when a " .. case[1] .. " body stalls half-way", function()
        local r = assert(helpers.raw(slow.proxy_port))
        local t0 = helpers.now_ms()
        assert(r:send(head("POST", "/raw/stall", case[2]) .. case[3]))
        local peer = raw:accept()
        assert(peer:read_until(has_head))
        local res = refused(r, nil, 408)
        local took = helpers.now_ms() - t0
        assert.equal("close", res.headers["connection"])
        assert.is_true(took >= BODY_TIMEOUT_MS - 50 and took < 2000, "408 after " .. took .. " ms")
        r:close()
        -- the upstream got the head and at most the part of the body that came, then a close
        local up_head, up_body = assert_dropped(peer)
        assert.matches("^POST /raw/stall HTTP/1%.1\r\n", up_head)
        if case[1] == "chunked" then
          assert.is_nil(decode_chunked(up_body))
        else
          assert.matches("\r\nContent%-Length: 10\r\n", up_head)
          assert.is_true(#up_body < 10)
        end
      end)
    end
  end)

  it("left both gateways and their workers running (no crash, no respawn)", function()
    assert.is_true(gw:alive())
    assert.is_true(slow:alive())
    assert.same(workers, gw:worker_pids())
    assert_upstream_saw_only("/at-the-end")
    assert.equal(404, assert(helpers.http(slow.proxy_port, { path = "/nothing-here" })).status)
  end)
end)
