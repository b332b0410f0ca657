-- How the gateway frames the responses it relays (RFC 9112 sections 6 and 9): HEAD, 204 and 304
-- (with bogus Content-Length or body bytes), close-delimited upstream bodies, chunk extensions
-- and trailers, hop-by-hop headers of the upstream, interim 1xx answers, HTTP/1.0 clients,
-- upstream bodies cut short, and pipelining behind a close-delimited response. Exact bytes come
-- from raw sockets; after each keep-alive response a second request on the same socket proves
-- that no stray byte was left behind.
local helpers = require "spec.helpers"

local READ_TIMEOUT_MS = 700       -- the services' read_timeout: bounds every stalled upstream
local KEEPALIVE_TIMEOUT_MS = 1000 -- the node's: bounds every idle client connection
local WAIT = { timeout_ms = 3000 }
local HEAD_WAIT = { method = "HEAD", timeout_ms = 3000 }

local EOF_BODY = "line one\r\n0\r\n\r\nline two" -- looks like a chunk end: must pass as data
local CHUNKED_EXT = "5;name=val\r\nhello\r\n6 ; q=\"x\"\r\n world\r\n0;last=1\r\n"
  .. "X-Trailer-One: t1\r\nX-Trailer-Two: t2\r\n\r\n"
local FINAL = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: final\r\n\r\nfinal"

-- framed(status, headers, bytes): the mock sends `bytes` right after the head, with no framing
-- of its own (an empty Content-Length list writes no header but stops the mock adding one), and
-- keeps its connection open for the next request.
local function framed(status, headers, bytes)
  headers = headers or {}
  if headers["Content-Length"] == nil then headers["Content-Length"] = {} end
  return { status = status, headers = headers, body = bytes or "" }
end

local RESPONSES = {
  ["/head/cl-body"] = function()
    return { raw = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Kind: head\r\n\r\nhello world" }
  end,
  ["/head/plain"] = function()
    return { status = 200, body = "hello world", headers = { ["X-Kind"] = "head" } }
  end,
  ["/head/chunked"] = function() return { status = 200, chunks = { "hello", " world" } } end,
  ["/nobody/204"] = function() return framed(204, { ["X-Kind"] = "nc" }, "") end,
  ["/nobody/204-body"] = function() return framed(204, { ["X-Kind"] = "nc" }, "hello") end,
  ["/nobody/204-cl"] = function()
    return framed(204, { ["X-Kind"] = "nc", ["Content-Length"] = "5" }, "hello")
  end,
  ["/nobody/304"] = function() return framed(304, { ETag = '"v1"' }, "") end,
  ["/nobody/304-body"] = function() return framed(304, { ETag = '"v1"' }, "hello") end,
  ["/nobody/304-cl"] = function()
    return framed(304, { ETag = '"v1"', ["Content-Length"] = "11" }, "")
  end,
  ["/eof/body"] = function()
    return { raw = "HTTP/1.1 200 OK\r\nX-Kind: eof\r\n\r\n" .. EOF_BODY }
  end,
  ["/chunked/ext"] = function()
    return { raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: ext\r\n\r\n"
                   .. CHUNKED_EXT }
  end,
  ["/hop"] = function()
    return framed(200, { Connection = "close, X-Private", ["Keep-Alive"] = "timeout=5, max=9",
                         ["X-Private"] = "secret", ["Proxy-Connection"] = "keep-alive",
                         ["Transfer-Encoding"] = "chunked", ["X-Public"] = "kept" },
                  "4;ext=1\r\nhop!\r\n3\r\nhop\r\n0\r\n\r\n")
  end,
  ["/interim/100"] = function() return { raw = "HTTP/1.1 100 Continue\r\n\r\n" .. FINAL } end,
  ["/interim/103"] = function()
    return { raw = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" .. FINAL }
  end,
  ["/short/length"] = function()
    return { raw = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nonly-ten!!" }
  end,
  ["/short/chunked"] = function()
    return { raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n" }
  end,
  ["/short/stall"] = function() return framed(200, { ["X-Kind"] = "stall" }, "partial ") end,
}

describe("Core: response framing", function()
  local up, trailing, gw

  lazy_setup(function()
    up = helpers.mock_upstream { handler = function(req)
      local make = RESPONSES[req.path]
      if make then return make() end
      return helpers.echo_handler(req)
    end }
    -- its own upstream: its pooled connection is left in a state no other test should meet
    trailing = helpers.mock_upstream { handler = function(req)
      if req.path == "/trailing/ext" then
        return framed(200, { ["Transfer-Encoding"] = "chunked" }, CHUNKED_EXT)
      end
      return helpers.echo_handler(req)
    end }
    gw = helpers.start_turnpike { config = {
      turnpike = { keepalive_timeout_ms = KEEPALIVE_TIMEOUT_MS },
      services = {
        helpers.service("main", up.port, { read_timeout = READ_TIMEOUT_MS, retries = 0,
          routes = { { name = "main", paths = { "/" }, strip_path = false } } }),
        helpers.service("trailing", trailing.port, { read_timeout = READ_TIMEOUT_MS, retries = 0,
          routes = { { name = "trailing", paths = { "/trailing" }, strip_path = false } } }),
      },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  local function request(method, path, version, extra)
    return ("%s %s HTTP/%s\r\nHost: framing.test\r\n%s\r\n"):format(method, path, version or "1.1",
                                                                   extra or "")
  end

  -- exchange(r, bytes, opts) -> the response read after sending bytes
  local function exchange(r, bytes, opts)
    assert(r:send(bytes))
    local res, err = r:read_response(opts or WAIT)
    assert(res, "no response: " .. tostring(err))
    return res
  end

  -- a GET on the same socket is answered cleanly: the previous response left no stray byte
  local function assert_follow_up(r, path)
    path = path or "/echo/follow-up"
    local res = exchange(r, request("GET", path))
    assert.equal(200, res.status)
    assert.equal(path, res:json().path)
  end

  -- GET path on a fresh connection, then a clean follow-up request on the same connection
  -- (no stray byte was left behind): the first answer
  local function answered_then_kept(path, follow_path)
    local r = assert(helpers.raw(gw.proxy_port))
    local res = exchange(r, request("GET", path))
    assert_follow_up(r, follow_path)
    r:close()
    return res
  end

  describe("HEAD", function()
    it("keeps the upstream's Content-Length and drops the body it wrongly sent", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, request("HEAD", "/head/cl-body"), HEAD_WAIT)
      assert.equal(200, res.status)
      assert.equal("11", res.headers["content-length"])
      assert.equal("head", res.headers["x-kind"])
      assert.is_nil(res.headers["transfer-encoding"])
      assert.is_true(res.keepalive)
      assert_follow_up(r)
      r:close()
    end)

    it("relays an upstream HEAD answer without a body, then serves the next request", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, request("HEAD", "/head/plain"), HEAD_WAIT)
      assert.equal(200, res.status)
      assert.equal("11", res.headers["content-length"])
      assert.is_nil(res.headers["transfer-encoding"])
      assert_follow_up(r)
      r:close()
    end)

    it("says no length when the upstream's answer has none (it was chunked)", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, request("HEAD", "/head/chunked"), HEAD_WAIT)
      assert.equal(200, res.status)
      -- RFC 9110 section 8.6: no Content-Length rather than one that is not the GET body's
      assert.is_nil(res.headers["transfer-encoding"])
      assert.is_nil(res.headers["content-length"])
      assert_follow_up(r)
      r:close()
    end)
  end)

  describe("204 and 304", function()
    local function assert_no_body_head(res, status)
      assert.equal(status, res.status)
      assert.is_nil(res.headers["content-length"])
      assert.is_nil(res.headers["transfer-encoding"])
      assert.is_true(res.keepalive)
    end

    -- GET path on a fresh connection: an answer of `status` with no body, then a clean
    -- follow-up on the same connection; returns the answer and how long it took
    local function no_body_answer(path, status)
      local r = assert(helpers.raw(gw.proxy_port))
      local started = helpers.now_ms()
      local res = exchange(r, request("GET", path))
      local took = helpers.now_ms() - started
      assert_no_body_head(res, status)
      assert_follow_up(r)
      r:close()
      return res, took
    end

    it("relays a 204 without body or framing headers", function()
      assert.equal("nc", no_body_answer("/nobody/204", 204).headers["x-kind"])
    end)

    it("drops body bytes an upstream sent after a 204 without Content-Length", function()
      no_body_answer("/nobody/204-body", 204)
    end)

    -- RFC 9112 section 6.3: the "hello" after the head is no body of the 204 and never
    -- reaches the client; the next response on the connection is read cleanly
    it("ends a 204 at its head whatever its Content-Length says", function()
      no_body_answer("/nobody/204-cl", 204)
    end)

    it("relays a 304 with its validators and no body", function()
      assert.equal('"v1"', no_body_answer("/nobody/304", 304).headers["etag"])
    end)

    it("drops body bytes an upstream sent after a 304 without Content-Length", function()
      no_body_answer("/nobody/304-body", 304)
    end)

    -- a 304 may state the selected representation's length (RFC 9110 section 8.6) and has
    -- no body (RFC 9112 section 6.3): the answer comes at once, the connection is kept
    it("ends a 304 at its head though it states a Content-Length", function()
      local _, took = no_body_answer("/nobody/304-cl", 304)
      assert.is_true(took < READ_TIMEOUT_MS)
    end)
  end)

  describe("a close-delimited upstream body", function()
    it("is re-encoded chunked for an HTTP/1.1 client, which stays connected", function()
      local res = answered_then_kept("/eof/body")
      assert.equal(200, res.status)
      assert.equal("eof", res.headers["x-kind"])
      assert.equal("chunked", res.headers["transfer-encoding"])
      assert.is_nil(res.headers["content-length"])
      assert.is_true(res.chunked)
      assert.equal(EOF_BODY, res.body)
      assert.is_true(res.keepalive)
    end)

    it("is sent close-delimited to an HTTP/1.0 client", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(request("GET", "/eof/body", "1.0")))
      local data, why = r:read_all(3)
      assert.equal("closed", why)
      local head, body = data:match("^(.-\r\n)\r\n(.*)$")
      assert.matches("^HTTP/1.1 200 OK\r\n", head)
      assert.matches("\r\nConnection: close\r\n", head, 1, true)
      assert.is_nil(head:lower():find("transfer-encoding", 1, true))
      assert.is_nil(head:lower():find("content-length", 1, true))
      assert.equal(EOF_BODY, body)
      r:close()
    end)
  end)

  describe("a chunked upstream body", function()
    it("drops chunk extensions and trailers and keeps the exact body", function()
      local res = answered_then_kept("/chunked/ext")
      assert.equal(200, res.status)
      assert.equal("ext", res.headers["x-kind"])
      assert.equal("chunked", res.headers["transfer-encoding"])
      assert.equal("hello world", res.body)
      assert.same({}, res.trailers)
      assert.is_nil(res.headers["x-trailer-one"])
      assert.is_nil(res.headers["x-trailer-two"])
    end)

    it("leaves no trailer behind for the next response of the pooled connection", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local first = exchange(r, request("GET", "/trailing/ext"))
      assert.equal("hello world", first.body)
      local res = exchange(r, request("GET", "/trailing/echo"))
      assert.equal(200, res.status)
      local seen = trailing:requests()
      local n = #seen
      assert.equal("/trailing/echo", seen[n].path)
      assert.equal(seen[n - 1].conn, seen[n].conn) -- the same upstream connection, reused
      -- trailers come after the head went out: dropped, and never kept for another exchange
      assert.is_nil(res.headers["x-trailer-two"])
      assert.is_nil(res.headers["x-trailer-one"])
      r:close()
    end)
  end)

  describe("hop-by-hop headers of the upstream", function()
    it("never reach an HTTP/1.1 client, whose connection stays keep-alive", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, request("GET", "/hop"))
      assert.equal(200, res.status)
      assert.equal("kept", res.headers["x-public"])
      assert.is_nil(res.headers["connection"])
      assert.is_nil(res.headers["keep-alive"])
      assert.is_nil(res.headers["x-private"])
      assert.is_nil(res.headers["proxy-connection"])
      -- one Transfer-Encoding, the gateway's own framing (a second one would make a list)
      assert.equal("chunked", res.headers["transfer-encoding"])
      assert.equal("hop!hop", res.body)
      assert.is_true(res.keepalive)
      assert_follow_up(r, "/echo/after-hop")
      -- the upstream said Connection: close: its connection was not reused
      local seen = up:requests()
      assert.equal("/echo/after-hop", seen[#seen].path)
      assert.equal("/hop", seen[#seen - 1].path)
      assert.are_not.equal(seen[#seen - 1].conn, seen[#seen].conn)
      r:close()
    end)

    it("send an HTTP/1.0 client the body de-chunked and close-delimited", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(request("GET", "/hop", "1.0", "Connection: keep-alive\r\n")))
      local data, why = r:read_all(3)
      assert.equal("closed", why)
      local head, body = data:match("^(.-\r\n)\r\n(.*)$")
      assert.matches("^HTTP/1.1 200 OK\r\n", head)
      assert.matches("\r\nConnection: close\r\n", head, 1, true)
      assert.is_nil(head:lower():find("transfer-encoding", 1, true))
      assert.is_nil(head:lower():find("keep-alive", 1, true))
      assert.is_nil(head:lower():find("x-private", 1, true))
      assert.equal("hop!hop", body)
      r:close()
    end)
  end)

  describe("interim 1xx answers of the upstream", function()
    it("are not relayed: the client gets the final response, on a kept connection", function()
      for _, path in ipairs { "/interim/100", "/interim/103" } do
        local r = assert(helpers.raw(gw.proxy_port))
        local res = exchange(r, request("GET", path))
        assert.equal(200, res.status, path)
        assert.equal("final", res.headers["x-kind"], path)
        assert.equal("final", res.body, path)
        assert.is_nil(res.headers["link"], path) -- the 103's own header stays with it
        assert_follow_up(r)
        r:close()
      end
    end)

    it("keep pipelined requests in step", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(request("GET", "/interim/100") .. request("GET", "/echo/second")))
      local res = assert(r:read_response(WAIT))
      assert.equal(200, res.status)
      assert.equal("final", res.body)
      res = assert(r:read_response(WAIT))
      assert.equal("/echo/second", res:json().path)
      r:close()
    end)
  end)

  describe("HTTP/1.0 clients", function()
    it("get a Content-Length response, then the connection closed", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, request("GET", "/echo/one", "1.0"))
      assert.equal(200, res.status)
      assert.equal(tostring(#res.body), res.headers["content-length"])
      assert.equal("close", res.headers["connection"])
      assert.equal("/echo/one", res:json().path)
      assert.is_true(r:closed(2))
      r:close()
    end)

    it("are kept alive with Connection: keep-alive", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local res = exchange(r, request("GET", "/echo/ka", "1.0", "Connection: keep-alive\r\n"))
      assert.equal(200, res.status)
      assert.equal(tostring(#res.body), res.headers["content-length"])
      assert.is_nil(res.headers["transfer-encoding"])
      assert.equal("keep-alive", res.headers["connection"])
      assert.equal("/echo/ka", res:json().path)
      res = exchange(r, request("GET", "/echo/ka-2", "1.0"))
      assert.equal("/echo/ka-2", res:json().path)
      assert.equal("close", res.headers["connection"])
      assert.is_true(r:closed(2))
      r:close()
    end)
  end)

  describe("an upstream body cut short", function()
    it("reaches the client shorter than its Content-Length, then the connection closes", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(request("GET", "/short/length")))
      local res, err, partial = r:read_response(WAIT)
      assert.is_nil(res)
      assert.equal("body: closed after 10 of 20", err)
      assert.equal(200, partial.status)
      assert.equal("20", partial.headers["content-length"])
      assert.equal("only-ten!!", partial.body)
      r:close()
    end)

    -- the raw bytes a client got for path, up to the connection's close
    local function cut_response(path)
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(request("GET", path)))
      local data, why = r:read_all(3)
      r:close()
      assert.equal("closed", why)
      local head, body = data:match("^(.-\r\n)\r\n(.*)$")
      assert.matches("^HTTP/1.1 200 OK\r\n", head)
      assert.matches("\r\nTransfer-Encoding: chunked\r\n", head, 1, true)
      return head, body
    end

    it("reaches the client without a last chunk when the upstream closes mid body", function()
      -- the connection closes before the body's end: the client can tell it was cut
      local _, body = cut_response("/short/chunked")
      assert.equal("5\r\nhello\r\n", body)
    end)

    it("reaches the client without a last chunk when read_timeout cuts it", function()
      local started = helpers.now_ms()
      local head, body = cut_response("/short/stall")
      assert.matches("\r\nX-Kind: stall\r\n", head, 1, true)
      assert.equal("8\r\npartial \r\n", body)
      local took = helpers.now_ms() - started
      assert.is_true(took >= READ_TIMEOUT_MS - 100, "ended after " .. took .. " ms")
    end)
  end)

  describe("pipelining behind a close-delimited upstream body", function()
    it("answers an HTTP/1.1 client's next request after the re-chunked body", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(request("GET", "/eof/body") .. request("GET", "/echo/second")))
      local first = assert(r:read_response(WAIT))
      assert.equal("eof", first.headers["x-kind"])
      assert.equal(EOF_BODY, first.body)
      local second = assert(r:read_response(WAIT))
      assert.equal(200, second.status)
      assert.equal("/echo/second", second:json().path)
      r:close()
    end)

    it("closes an HTTP/1.0 keep-alive connection after the body, the next unanswered", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(request("GET", "/eof/body", "1.0", "Connection: keep-alive\r\n")
                    .. request("GET", "/echo/second", "1.0", "Connection: keep-alive\r\n")))
      local data, why = r:read_all(3)
      assert.equal("closed", why)
      local head, body = data:match("^(.-\r\n)\r\n(.*)$")
      assert.matches("\r\nConnection: close\r\n", head, 1, true)
      assert.equal(EOF_BODY, body) -- nothing of a second response follows
      r:close()
    end)
  end)
end)
