-- Client keep-alive, Connection: close, HTTP/1.0, pipelining, and upstream connection reuse.
local helpers = require "spec.helpers"

describe("Core: keep-alive and pipelining", function()
  local up, gw

  lazy_setup(function()
    up = helpers.mock_upstream()
    gw = helpers.start_turnpike { config = {
      services = { { name = "echo", url = "http://127.0.0.1:" .. up.port,
                     routes = { { name = "all", paths = { "/" } } } } },
    } }
  end)

  lazy_teardown(helpers.cleanup)

  describe("client connections", function()
    it("serve several requests on one socket", function()
      local c = assert(helpers.client(gw.proxy_port))
      for i = 1, 5 do
        local res = assert(c:request { path = "/ka/" .. i, method = i % 2 == 0 and "POST" or "GET",
                                       body = i % 2 == 0 and ("body" .. i) or nil })
        assert.equal(200, res.status)
        assert.is_true(res.keepalive)
        local echo = res:json()
        assert.equal("/ka/" .. i, echo.path)
        if i % 2 == 0 then assert.equal("body" .. i, echo.body) end
      end
      assert.is_false(c:closed(0.1))
      c:close()
    end)

    it("honour Connection: close from the client", function()
      local c = assert(helpers.client(gw.proxy_port))
      local res = assert(c:request { path = "/close", headers = { Connection = "close" } })
      assert.equal(200, res.status)
      assert.equal("close", res.headers.connection:lower())
      assert.is_true(c:closed(2))
      c:close()
    end)

    it("close an HTTP/1.0 connection without keep-alive after the response", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("GET /ten HTTP/1.0\r\nHost: x\r\n\r\n"))
      local res = assert(r:read_response())
      assert.equal(200, res.status)
      assert.equal("/ten", res:json().path)
      assert.is_true(r:closed(2))
      r:close()
    end)

    it("keep an HTTP/1.0 connection that asks for keep-alive", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("GET /ten-ka HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"))
      local res = assert(r:read_response())
      assert.equal(200, res.status)
      assert.equal("keep-alive", (res.headers.connection or ""):lower())
      assert(r:send("GET /ten-ka2 HTTP/1.0\r\nHost: x\r\n\r\n"))
      res = assert(r:read_response())
      assert.equal("/ten-ka2", res:json().path)
      r:close()
    end)

    it("answer HTTP/1.0 without chunked framing", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("GET /ten-frame HTTP/1.0\r\nHost: x\r\n\r\n"))
      local res = assert(r:read_response())
      assert.is_nil(res.headers["transfer-encoding"])
      r:close()
    end)
  end)

  describe("pipelining", function()
    it("answers pipelined requests in order", function()
      local r = assert(helpers.raw(gw.proxy_port))
      local batch = {}
      for i = 1, 6 do
        if i == 3 then
          batch[i] = "POST /pipe/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\npayload"
        elseif i == 5 then
          batch[i] = "POST /pipe/5 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .. "3\r\nabc\r\n0\r\n\r\n"
        else
          batch[i] = ("GET /pipe/%d HTTP/1.1\r\nHost: x\r\n\r\n"):format(i)
        end
      end
      assert(r:send(table.concat(batch)))
      for i = 1, 6 do
        local res, err = r:read_response { timeout_ms = 5000 }
        assert(res, "response " .. i .. ": " .. tostring(err))
        assert.equal(200, res.status)
        local echo = res:json()
        assert.equal("/pipe/" .. i, echo.path)
        if i == 3 then assert.equal("payload", echo.body) end
        if i == 5 then assert.equal("abc", echo.body) end
      end
      r:close()
    end)

    -- regression: closing the connection from inside the parse loop (a gateway-made
    -- answer to a Connection: close request with more pipelined behind it) used the
    -- freed connection; the ASan build of this suite caught it as a worker crash
    it("answers a Connection: close request and closes, with more pipelined behind it", function()
      local gw404 = helpers.start_turnpike { config = {
        services = { { name = "only", url = "http://127.0.0.1:" .. up.port,
                       routes = { { name = "only", paths = { "/only" } } } } },
      } }
      local before = gw404:worker_pids()
      for _ = 1, 10 do
        local r = assert(helpers.raw(gw404.proxy_port))
        assert(r:send("GET /no-such-route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                      .. "GET /no-such-route HTTP/1.1\r\nHost: x\r\n\r\n"))
        local res = assert(r:read_response { timeout_ms = 3000 })
        assert.equal(404, res.status)
        assert.is_true(r:closed(3))
        r:close()
      end
      assert.same(before, gw404:worker_pids())
      gw404:stop()
    end)

    it("frames a HEAD response without a body when a request follows it", function()
      local r = assert(helpers.raw(gw.proxy_port))
      assert(r:send("HEAD /pipe-head HTTP/1.1\r\nHost: x\r\n\r\nGET /pipe-after HTTP/1.1\r\nHost: x\r\n\r\n"))
      local res = assert(r:read_response { method = "HEAD" })
      assert.equal(200, res.status)
      res = assert(r:read_response())
      assert.equal("/pipe-after", res:json().path)
      r:close()
    end)
  end)

  describe("upstream connections", function()
    it("are reused across requests (upstream_keepalive)", function()
      up:reset()
      for i = 1, 4 do
        assert.equal(200, assert(helpers.http(gw.proxy_port, { path = "/reuse/" .. i })).status)
      end
      local list = up:requests()
      assert.equal(4, #list)
      local conns = {}
      for _, r in ipairs(list) do conns[r.conn] = true end
      local n = 0
      for _ in pairs(conns) do n = n + 1 end
      assert.equal(1, n, "4 sequential requests used " .. n .. " upstream connections")
    end)
  end)
end)
