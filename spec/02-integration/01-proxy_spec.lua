-- The C proxy runtime against a real build/turnpike and real mock upstreams: routing, forwarded
-- headers, hop-by-hop headers, Host, request and response bodies, HEAD, Expect: 100-continue.
local helpers = require "spec.helpers"

local function body_of(n, seed)
  local unit = ("0123456789abcdefghijklmnopqrstuvwxyz" .. (seed or "")):rep(4)
  return unit:rep(math.ceil(n / #unit)):sub(1, n)
end

describe("Core: proxy", function()
  local up, special, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    special = helpers.mock_upstream { handler = function(req)
      local kind = req.path:match("^/(%w+)")
      if kind == "chunked" then
        return { status = 200, headers = { ["Content-Type"] = "text/plain" },
                 chunks = { "hello ", "chunked ", "world" } }
      elseif kind == "close" then
        return { status = 200, close = true, body = body_of(300000, "c"),
                 headers = { ["Content-Type"] = "text/plain" } }
      elseif kind == "length" then
        return { status = 201, body = "sized body", headers = { ["X-Up"] = "yes" } }
      elseif kind == "hop" then
        return { status = 200, body = "ok", headers = {
          ["Connection"] = "X-Secret-Hop", ["X-Secret-Hop"] = "leaks",
          ["Keep-Alive"] = "timeout=99", ["Proxy-Authenticate"] = "Basic",
          ["X-End-To-End"] = "kept" } }
      elseif kind == "nocontent" then
        return { status = 204 }
      end
      return helpers.echo_handler(req)
    end }
    gw = helpers.start_turnpike { config = {
      services = {
        { name = "echo", url = "http://127.0.0.1:" .. up.port,
          routes = { { name = "strip", paths = { "/api" } },
                     { name = "nostrip", paths = { "/keep" }, strip_path = false },
                     { name = "preserve", paths = { "/preserve" }, preserve_host = true } } },
        { name = "based", url = "http://127.0.0.1:" .. up.port .. "/base",
          routes = { { name = "based-strip", paths = { "/b" } },
                     { name = "based-nostrip", paths = { "/nb" }, strip_path = false } } },
        { name = "special", url = "http://127.0.0.1:" .. special.port,
          routes = { { name = "special", paths = { "/s" } } } },
      },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  local function get(path, opts)
    opts = opts or {}
    opts.path = path
    local res, err = helpers.http(gw.proxy_port, opts)
    assert(res, err)
    return res
  end

  describe("routing", function()
    it("strips the matched prefix by default", function()
      local res = get("/api/users/1?x=1&y=two")
      assert.equal(200, res.status)
      local echo = res:json()
      assert.equal("/users/1", echo.path)
      assert.equal("x=1&y=two", echo.query)
    end)

    it("sends / upstream when the whole path was the prefix", function()
      assert.equal("/", get("/api"):json().path)
    end)

    it("keeps the path with strip_path = false", function()
      assert.equal("/keep/a/b", get("/keep/a/b"):json().path)
    end)

    it("prepends the service path", function()
      assert.equal("/base/x/y", get("/b/x/y"):json().path)
      assert.equal("/base/nb/z", get("/nb/z"):json().path)
    end)

    it("answers 404 JSON 'no Route matched' when nothing matches", function()
      local res = get("/nothing/here")
      assert.equal(404, res.status)
      assert.matches("application/json", res.headers["content-type"], 1, true)
      local body = res:json()
      assert.is_table(body)
      assert.matches("^no Route matched", body.message)
    end)

    it("forwards the method and the query string untouched", function()
      local echo = get("/api/q?a=%20b&a=2&empty=", { method = "DELETE" }):json()
      assert.equal("DELETE", echo.method)
      assert.equal("a=%20b&a=2&empty=", echo.query)
    end)
  end)

  describe("forwarded headers", function()
    it("sets X-Forwarded-For, -Proto, -Host, -Port and X-Real-IP", function()
      local echo = get("/api/fwd", { host = "shop.example.test:" .. gw.proxy_port }):json()
      local h = echo.headers
      assert.equal("127.0.0.1", h["x-forwarded-for"])
      assert.equal("127.0.0.1", h["x-real-ip"])
      assert.equal("http", h["x-forwarded-proto"])
      assert.equal("shop.example.test", h["x-forwarded-host"])
      assert.equal(tostring(gw.proxy_port), h["x-forwarded-port"])
    end)

    it("appends the client address to an incoming X-Forwarded-For", function()
      local echo = get("/api/fwd", { headers = { ["X-Forwarded-For"] = "203.0.113.7, 198.51.100.2" } }):json()
      assert.equal("203.0.113.7, 198.51.100.2, 127.0.0.1", echo.headers["x-forwarded-for"])
    end)

    it("does not let an untrusted client spoof X-Real-IP or the other X-Forwarded-*", function()
      local echo = get("/api/fwd", { headers = {
        ["X-Real-IP"] = "6.6.6.6", ["X-Forwarded-Proto"] = "https",
        ["X-Forwarded-Host"] = "evil.test", ["X-Forwarded-Port"] = "1",
      } }):json()
      local h = echo.headers
      assert.equal("127.0.0.1", h["x-real-ip"])
      assert.equal("http", h["x-forwarded-proto"])
      assert.equal("127.0.0.1", h["x-forwarded-host"])
      assert.equal(tostring(gw.proxy_port), h["x-forwarded-port"])
    end)

    it("adds a Via header naming the gateway", function()
      local echo = get("/api/via"):json()
      assert.matches("^1%.1 turnpike", echo.headers.via)
    end)
  end)

  describe("hop-by-hop headers", function()
    it("are not sent upstream, including those the client listed in Connection", function()
      local echo = get("/api/hop", { headers = {
        ["Connection"] = "keep-alive, X-Client-Hop",
        ["X-Client-Hop"] = "secret",
        ["Keep-Alive"] = "timeout=5",
        ["Proxy-Connection"] = "keep-alive",
        ["Proxy-Authorization"] = "Basic Zm9vOmJhcg==",
        ["X-End-To-End"] = "kept",
      } }):json()
      local h = echo.headers
      assert.is_nil(h["x-client-hop"])
      assert.is_nil(h["keep-alive"])
      assert.is_nil(h["proxy-connection"])
      assert.is_nil(h["proxy-authorization"])
      assert.not_matches("X%-Client%-Hop", tostring(h["connection"]))
      assert.equal("kept", h["x-end-to-end"])
    end)

    it("are not sent to the client, including those the upstream listed in Connection", function()
      local res = get("/s/hop")
      assert.equal(200, res.status)
      assert.equal("ok", res.body)
      assert.equal("kept", res.headers["x-end-to-end"])
      assert.is_nil(res.headers["keep-alive"])
      assert.is_nil(res.headers["proxy-authenticate"])
      assert.is_nil(res.headers["x-secret-hop"])
    end)
  end)

  describe("Host", function()
    it("is the service's host:port by default", function()
      local echo = get("/api/h", { host = "client.example.test" }):json()
      assert.equal("127.0.0.1:" .. up.port, echo.headers.host)
    end)

    it("is the client's Host with preserve_host", function()
      local echo = get("/preserve/h", { host = "client.example.test:8080" }):json()
      assert.equal("client.example.test:8080", echo.headers.host)
    end)

    it("is required from HTTP/1.1 clients (400)", function()
      local res = get("/api/h", { host = false, timeout_ms = 2000 })
      assert.equal(400, res.status)
      assert.is_string(res:json().message)
    end)
  end)

  describe("request bodies", function()
    it("pass a Content-Length body intact", function()
      local body = body_of(1000, "cl")
      local echo = get("/api/post", { method = "POST", body = body,
                                      headers = { ["Content-Type"] = "text/plain" } }):json()
      assert.equal("POST", echo.method)
      assert.equal(1000, echo.body_len)
      assert.equal(body, echo.body)
      assert.equal("text/plain", echo.headers["content-type"])
    end)

    it("pass a chunked body intact", function()
      local echo = get("/api/chunked", { method = "PUT", chunks = { "abc", ("x"):rep(5000), "end" } }):json()
      assert.equal("abc" .. ("x"):rep(5000) .. "end", echo.body)
      -- one framing only (RFC 9112 section 6.1)
      assert.is_false(echo.headers["transfer-encoding"] ~= nil and echo.headers["content-length"] ~= nil)
    end)

    it("pass a 5 MB body intact (Content-Length)", function()
      local body = body_of(5 * 1024 * 1024, "big")
      local res = get("/api/big", { method = "POST", body = body, timeout_ms = 20000 })
      assert.equal(200, res.status)
      local rec = up:requests()
      rec = rec[#rec]
      assert.equal("/big", rec.path)
      assert.equal(#body, rec.body_len)
      assert.is_true(rec.body == body, "the 5 MB body arrived changed")
    end)

    it("pass a 5 MB body intact (chunked)", function()
      local chunks = {}
      for i = 1, 80 do chunks[i] = body_of(65536, tostring(i)) end
      local res = get("/api/bigchunked", { method = "POST", chunks = chunks, timeout_ms = 20000 })
      assert.equal(200, res.status)
      local rec = up:requests()
      rec = rec[#rec]
      assert.equal("/bigchunked", rec.path)
      assert.equal(80 * 65536, rec.body_len)
      assert.is_true(rec.body == table.concat(chunks), "the chunked 5 MB body arrived changed")
    end)

    it("are empty for a GET without a body", function()
      local echo = get("/api/empty"):json()
      assert.equal(0, echo.body_len)
    end)
  end)

  describe("response bodies", function()
    it("pass a Content-Length body with its status and headers", function()
      local res = get("/s/length")
      assert.equal(201, res.status)
      assert.equal("sized body", res.body)
      assert.equal("10", res.headers["content-length"])
      assert.equal("yes", res.headers["x-up"])
    end)

    it("pass a chunked body", function()
      local res = get("/s/chunked")
      assert.equal(200, res.status)
      assert.equal("hello chunked world", res.body)
    end)

    it("pass a close-delimited body whole", function()
      local res = get("/s/close", { timeout_ms = 10000 })
      assert.equal(200, res.status)
      assert.equal(300000, #res.body)
      assert.equal(body_of(300000, "c"), res.body)
    end)

    it("send no body for 204", function()
      local c = assert(helpers.client(gw.proxy_port))
      local res = assert(c:request { path = "/s/nocontent" })
      assert.equal(204, res.status)
      assert.equal("", res.body)
      local again = assert(c:request { path = "/api/after-204" })
      assert.equal("/after-204", again:json().path)
      c:close()
    end)
  end)

  describe("HEAD", function()
    it("reaches the upstream as HEAD and returns headers without a body", function()
      local c = assert(helpers.client(gw.proxy_port))
      local res = assert(c:request { method = "HEAD", path = "/api/head" })
      assert.equal(200, res.status)
      assert.equal("", res.body)
      assert.truthy(tonumber(res.headers["content-length"]) > 0)
      -- no stray body bytes: the next response on this connection parses cleanly
      local next_res = assert(c:request { path = "/api/after-head" })
      assert.equal(200, next_res.status)
      assert.equal("/after-head", next_res:json().path)
      c:close()
      local rec = up:requests()
      local found = false
      for _, r in ipairs(rec) do
        if r.path == "/head" then
          found = true
          assert.equal("HEAD", r.method)
        end
      end
      assert.is_true(found)
    end)
  end)

  describe("Expect: 100-continue", function()
    it("answers 100 Continue, then proxies the body", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("POST /api/expect HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                    .. "Expect: 100-continue\r\n\r\n"))
      local interim = assert(r:read_response { timeout_ms = 3000 })
      assert.equal(100, interim.status)
      assert(r:send("hello there"))
      local res = assert(r:read_response { timeout_ms = 3000 })
      assert.equal(200, res.status)
      local echo = res:json()
      assert.equal("hello there", echo.body)
      r:close()
    end)

    it("answers 413 instead of 100 when the announced body is too large", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("POST /api/expect HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n"
                    .. "Expect: 100-continue\r\n\r\n"))
      local res = assert(r:read_response { timeout_ms = 3000 })
      assert.equal(413, res.status)
      r:close()
    end)
  end)
end)
