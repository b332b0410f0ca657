-- Request limits and request smuggling: what the gateway refuses, with which status, and that a
-- refused request never reaches the upstream and its connection is closed (also when the bad
-- bytes come in a read of their own); and heads that must pass (a body starting with a space,
-- an absolute-form target, whose authority names the host).
local helpers = require "spec.helpers"

describe("Core: HTTP limits", function()
  local up, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    gw = helpers.start_turnpike { config = {
      turnpike = { client_max_header_size = "4k", client_max_body_size = "1k",
                   client_header_timeout_ms = 300 },
      services = { { name = "echo", url = "http://127.0.0.1:" .. up.port,
                     routes = { { name = "all", paths = { "/" } } } } },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  -- send raw bytes, expect `status` JSON, then the connection closed
  local function refused(bytes, status)
    local r = assert(helpers.raw(gw.proxy_port))
    if type(bytes) == "table" then -- pieces, each in a read of its own
      for i, piece in ipairs(bytes) do
        if i > 1 then helpers.sleep_ms(50) end
        assert(r:send(piece))
      end
    else
      assert(r:send(bytes))
    end
    local res, err = r:read_response { timeout_ms = 3000 }
    assert(res, "no response: " .. tostring(err))
    assert.equal(status, res.status)
    assert.matches("application/json", res.headers["content-type"], 1, true)
    assert.is_string(res:json().message)
    assert.is_true(r:closed(2), "the connection stayed open after " .. status)
    r:close()
    return res
  end

  -- a marker request proves the upstream is reachable; nothing else may have arrived
  local function assert_upstream_saw_only(marker)
    local res = assert(helpers.http(gw.proxy_port, { path = marker }))
    assert.equal(200, res.status)
    local list = up:requests()
    local paths = {}
    for i, r in ipairs(list) do paths[i] = r.method .. " " .. r.uri end
    assert.same({ "GET " .. marker }, paths)
  end

  before_each(function()
    -- each test judges only what it sent: forget earlier records
    up:reset()
  end)

  describe("client_max_header_size", function()
    it("answers 431 for a larger header block", function()
      local hdrs = {}
      for i = 1, 8 do hdrs[i] = ("X-Big-%d: %s\r\n"):format(i, ("v"):rep(700)) end
      refused("GET /big-headers HTTP/1.1\r\nHost: x\r\n" .. table.concat(hdrs) .. "\r\n", 431)
      assert_upstream_saw_only("/after-431")
    end)

    it("accepts a header block below the limit", function()
      local res = assert(helpers.http(gw.proxy_port, { path = "/small",
                                                       headers = { ["X-Mid"] = ("v"):rep(2000) } }))
      assert.equal(200, res.status)
      assert.equal(2000, #res:json().headers["x-mid"])
    end)
  end)

  describe("request line", function()
    it("answers 414 for a URI longer than 8k", function()
      refused("GET /" .. ("a"):rep(9000) .. " HTTP/1.1\r\nHost: x\r\n\r\n", 414)
      assert_upstream_saw_only("/after-414")
    end)
  end)

  describe("client_max_body_size", function()
    it("answers 413 for a larger Content-Length before reading the body", function()
      refused("POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n", 413)
      assert_upstream_saw_only("/after-413")
    end)

    it("answers 413 when a chunked body grows past the limit", function()
      local chunk = ("z"):rep(600)
      refused("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              .. ("258\r\n%s\r\n258\r\n%s\r\n0\r\n\r\n"):format(chunk, chunk), 413)
      -- the upstream may have seen the start of the request, but never a complete one
      local res = assert(helpers.http(gw.proxy_port, { path = "/after-413c" }))
      assert.equal(200, res.status)
      for _, r in ipairs(up:requests()) do
        assert.is_true(r.body_len <= 1024, "an over-limit body reached the upstream")
      end
    end)

    it("accepts a body of exactly the limit", function()
      local body = ("b"):rep(1024)
      local res = assert(helpers.http(gw.proxy_port, { method = "POST", path = "/exact", body = body }))
      assert.equal(200, res.status)
      assert.equal(1024, res:json().body_len)
    end)
  end)

  describe("client_header_timeout_ms", function()
    it("answers 408 and closes when the header block does not complete in time", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local t0 = helpers.now_ms()
      assert(r:send("GET /slow HTTP/1.1\r\nHost: x\r\n"))
      local res, err = r:read_response { timeout_ms = 3000 }
      local took = helpers.now_ms() - t0
      assert(res, "no response: " .. tostring(err))
      assert.equal(408, res.status)
      assert.is_true(took >= 250 and took < 2000, "408 after " .. took .. " ms")
      assert.is_true(r:closed(2))
      r:close()
      assert_upstream_saw_only("/after-408")
    end)
  end)

  describe("request smuggling", function()
    local cases = {
      { "Content-Length with Transfer-Encoding",
        "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" },
      { "two different Content-Lengths",
        "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 30\r\n\r\n"
        .. "helloGET /smuggled HTTP/1.1\r\n\r\n" },
      { "a Transfer-Encoding other than chunked",
        "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n" },
      { "chunked not last in Transfer-Encoding",
        "POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
        .. "0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n" },
      { "a bare CR in a header value",
        "GET /s HTTP/1.1\r\nHost: x\r\nX-A: one\rX-B: two\r\n\r\n" },
      { "a bare CR as a line end",
        "GET /s HTTP/1.1\rHost: x\r\n\r\n" },
      { "a NUL in a header value",
        "GET /s HTTP/1.1\r\nHost: x\r\nX-A: on\0e\r\n\r\n" },
      { "an obs-fold continuation line",
        "GET /s HTTP/1.1\r\nHost: x\r\nX-A: one\r\n  folded\r\n\r\n" },
      { "a space before the header colon",
        "GET /s HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello" },
      { "two Host headers", "GET /s HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" },
      { "a target with a scheme other than http(s)", "GET httpx://h/s HTTP/1.1\r\nHost: x\r\n\r\n" },
      -- sent in two reads: the check keeps its place across them
      { "an obs-fold line arriving in a read of its own",
        { "GET /s HTTP/1.1\r\nHost: x\r\nX-A: one\r\n", " folded\r\n\r\n" } },
      { "a bare CR ending one read, a non-LF starting the next",
        { "GET /s HTTP/1.1\r\nHost: x\r", "X-A: one\r\n\r\n" } },
    }
    for i, case in ipairs(cases) do
      it("answers 400 and closes for " .. case[1], function()
        refused(case[2], 400)
        assert_upstream_saw_only("/after-smuggle-" .. i)
      end)
    end
  end)

  describe("heads the raw-byte checks let through", function()
    -- send raw bytes, expect 200; the one request the upstream saw
    local function passed(bytes)
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send(bytes))
      local res = assert(r:read_response { timeout_ms = 3000 })
      assert.equal(200, res.status)
      r:close()
      local seen = up:requests()
      assert.equal(1, #seen)
      return seen[1]
    end

    it("a body whose first byte is a space, in the read of its head", function()
      local seen = passed("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n abc")
      assert.equal(" abc", seen.body)
    end)

    it("an absolute-form target: its authority is the host, not the Host header", function()
      local seen = passed("GET http://Abs.example:8080/abs?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n")
      assert.equal("/abs?q=1", seen.uri)
      assert.equal("abs.example", seen.headers["x-forwarded-host"])
    end)

    it("a target with a fragment: the fragment is not sent upstream", function()
      assert.equal("/frag?a=1", passed("GET /frag?a=1#part?b=2 HTTP/1.1\r\nHost: x\r\n\r\n").uri)
    end)
  end)

  describe("the bytes after a refused request head", function()
    local cases = {
      { "Transfer-Encoding: gzip", "POST /r HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" },
      { "a missing Host", "POST /r HTTP/1.1\r\nContent-Length: 0\r\n\r\n" },
      { "a too large Content-Length", "POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" },
    }
    for i, case in ipairs(cases) do
      it("are never proxied as a request of their own (" .. case[1] .. ")", function()
        local r = assert(helpers.raw(gw.proxy_port))
        assert(r:send(case[2] .. "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"))
        r:closed(1)
        r:close()
        assert_upstream_saw_only("/after-refused-" .. i)
      end)
    end
  end)
end)
