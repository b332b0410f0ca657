-- WebSocket (HTTP/1.1 Upgrade) tunnelling, against the real binary and a real WebSocket
-- server on loopback (spec/fixtures/ws_echo.py: answers the handshake with the RFC 6455
-- Sec-WebSocket-Accept, then echoes frames). The client is a raw socket sending the
-- handshake and masked frames. Covers: the 101 and its accept value, a masked frame echoed,
-- 1 MB both ways, key-auth on the handshake, either side closing, the idle timeout
-- (read_timeout), an upstream answering 200 instead of 101, a plain request before the
-- upgrade on the same connection, 426 for a plain request on a ws-only route, the access log's 101, other requests meanwhile, and a
-- graceful stop closing an open tunnel.
local helpers = require "spec.helpers"
local bit = require "bit"

local SCRIPT = TURNPIKE_HOME .. "/spec/fixtures/ws_echo.py"
-- RFC 6455 section 1.3's example: this key must be answered with this accept value
local KEY, ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
local KB = 1024

local char, byte, concat, floor = string.char, string.byte, table.concat, math.floor

-- a client frame (always masked, RFC 6455 section 5.3); a zero mask leaves the payload as is
local function frame(opcode, payload, mask)
  mask = mask or "\0\0\0\0"
  local n, head = #payload, nil
  if n < 126 then
    head = char(0x80 + opcode, 0x80 + n)
  elseif n < 65536 then
    head = char(0x80 + opcode, 0x80 + 126, floor(n / 256), n % 256)
  else
    head = char(0x80 + opcode, 0x80 + 127, 0, 0, 0, 0, floor(n / 16777216) % 256,
                floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
  end
  if mask ~= "\0\0\0\0" then
    local out = {}
    for i = 1, n do
      out[i] = char(bit.bxor(byte(payload, i), byte(mask, (i - 1) % 4 + 1)))
    end
    payload = concat(out)
  end
  return head .. mask .. payload
end

-- read one server frame -> opcode, payload | nil, err
local function read_frame(c, timeout_ms)
  local deadline = helpers.now_ms() + (timeout_ms or 5000)
  local h, err = c.conn:read_n(2, deadline)
  if not h then return nil, err end
  local n = byte(h, 2) % 128
  if n == 126 then
    local e = assert(c.conn:read_n(2, deadline))
    n = byte(e, 1) * 256 + byte(e, 2)
  elseif n == 127 then
    local e = assert(c.conn:read_n(8, deadline))
    n = 0
    for i = 1, 8 do n = n * 256 + byte(e, i) end
  end
  local payload, perr = c.conn:read_n(n, deadline)
  if not payload then return nil, perr end
  return byte(h, 1) % 16, payload
end

describe("Core: WebSocket tunnels", function()
  local dir, gw, ws_port, events, pid

  local function handshake(c, path, extra)
    local lines = { "GET " .. path .. " HTTP/1.1", "Host: ws.test", "Connection: keep-alive, Upgrade",
                    "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: " .. KEY }
    for k, v in pairs(extra or {}) do lines[#lines + 1] = k .. ": " .. v end
    assert(c:send(concat(lines, "\r\n") .. "\r\n\r\n"))
    return assert(c:read_response({ timeout_ms = 5000 }))
  end

  local function open(path, extra)
    local c = assert(helpers.raw(gw.proxy_port))
    local res = handshake(c, path, extra)
    assert.equal(101, res.status, res.body)
    return c, res
  end

  local function has_event(line)
    local text = helpers.read_file(events) or ""
    for l in text:gmatch("[^\n]+") do
      if l == line then return true end
    end
    return false
  end

  lazy_setup(function()
    dir = helpers.tmpdir("ws")
    events = dir .. "/events"
    ws_port = helpers.free_port()
    local out = helpers.sh(("(timeout 400 python3 %s %d %s --lifetime=360 >>%s/py.log 2>&1 & echo PID:$!)")
      :format(SCRIPT, ws_port, events, dir))
    pid = tonumber(out:match("PID:(%d+)"))
    assert(pid, out)
    helpers.wait_until(function()
      local c = helpers.raw(ws_port)
      if c then c:close() end
      return c ~= nil
    end, 10, "websocket upstream on port " .. ws_port)
    local url = "http://127.0.0.1:" .. ws_port
    gw = helpers.start_turnpike { config = {
      services = {
        { name = "ws", url = url, routes = { { name = "ws", paths = { "/ws" },
                                               protocols = { "ws", "wss" }, strip_path = false } } },
        { name = "http", url = url, routes = { { name = "http", paths = { "/plain", "/h" },
                                                 strip_path = false } } },
        { name = "auth", url = url, routes = { { name = "auth", paths = { "/auth" }, strip_path = false } },
          plugins = { { name = "key-auth" } } },
        { name = "idle", url = url, read_timeout = 1000,
          routes = { { name = "idle", paths = { "/idle" }, strip_path = false } } },
      },
      consumers = { { username = "alice", keyauth_credentials = { { key = "alice-key" } } } },
    } }
  end)

  lazy_teardown(function() helpers.kill_and_clean(pid or {}, dir) end)

  it("answers the handshake with 101 and the upstream's Sec-WebSocket-Accept", function()
    local c, res = open("/ws/hello")
    assert.equal(ACCEPT, res.headers["sec-websocket-accept"])
    assert.equal("websocket", res.headers["upgrade"])
    assert.matches("upgrade", res.headers["connection"]:lower(), 1, true)
    -- the upstream got the key, hence Upgrade and Connection: Upgrade as well
    assert.equal(KEY, res.headers["x-upstream-key"])
    assert.is_nil(res.headers["content-length"])
    assert.is_nil(res.headers["transfer-encoding"])
    c:close()
  end)

  it("echoes a masked text frame", function()
    local c = open("/ws/echo")
    assert(c:send(frame(1, "hello through turnpike", "\1\2\3\4")))
    local op, payload = read_frame(c)
    assert.equal(1, op)
    assert.equal("hello through turnpike", payload)
    c:close()
  end)

  it("carries 1 MB each way, with the reader lagging behind", function()
    local c = open("/ws/bulk")
    local unit = ("0123456789abcdef"):rep(4 * KB) -- 64 KB
    local sent, got = 0, {}
    local function drain_now()
      while c.conn:fill(helpers.now_ms()) do end
    end
    for i = 1, 16 do
      local payload = unit:sub(i) .. unit:sub(1, i - 1)
      assert(c:send(frame(2, payload)))
      sent = sent + #payload
      if i % 4 == 0 then drain_now() end
    end
    for i = 1, 16 do
      local op, payload = read_frame(c, 10000)
      assert.equal(2, op, payload)
      got[i] = payload
      assert.equal(unit:sub(i) .. unit:sub(1, i - 1), payload, "frame " .. i)
    end
    assert.equal(1024 * KB, sent)
    c:close()
    helpers.wait_until(function() return has_event("eof /ws/bulk " .. 1024 * KB) end, 5,
                       "the upstream saw all bytes, then EOF")
  end)

  it("runs key-auth on the handshake: 401 without a key, 101 with one", function()
    local c = assert(helpers.raw(gw.proxy_port))
    local res = handshake(c, "/auth/no-key")
    assert.equal(401, res.status)
    assert.equal("No API key found in request", res:json().message)
    c:close()
    local c2 = open("/auth/with-key", { apikey = "alice-key" })
    assert(c2:send(frame(1, "authed", "\9\8\7\6")))
    local op, payload = read_frame(c2)
    assert.equal(1, op)
    assert.equal("authed", payload)
    c2:close()
    assert.is_true(has_event("upgraded /auth/with-key"))
    assert.is_false(has_event("upgraded /auth/no-key"))
  end)

  it("closes the upstream side when the client closes", function()
    local c = open("/ws/client-closes")
    assert(c:send(frame(1, "bye", "\1\1\1\1")))
    assert.equal("bye", select(2, read_frame(c)))
    c:close()
    helpers.wait_until(function() return has_event("eof /ws/client-closes 3") end, 5,
                       "the upstream saw EOF")
  end)

  it("closes the client side when the upstream closes", function()
    local c = open("/ws/upstream-closes")
    assert(c:send(frame(1, "close-me", "\5\6\7\8")))
    assert.is_true(c:closed(5))
    assert.is_true(has_event("closed /ws/upstream-closes"))
    c:close()
  end)

  it("closes an idle tunnel after the service's read_timeout", function()
    local c = open("/idle/quiet")
    local t0 = helpers.now_ms()
    assert(c:send(frame(1, "once", "\1\2\3\4")))
    assert.equal("once", select(2, read_frame(c)))
    assert.is_true(c:closed(5))
    local took = helpers.now_ms() - t0
    assert.is_true(took >= 900 and took < 4000, "closed after " .. took .. " ms")
    helpers.wait_until(function() return has_event("eof /idle/quiet 4") end, 5,
                       "the upstream saw EOF")
    c:close()
  end)

  it("answers normally when the upstream says 200 instead of 101, and keeps the connection", function()
    local c = assert(helpers.raw(gw.proxy_port))
    local res = handshake(c, "/plain/refused")
    assert.equal(200, res.status)
    assert.is_true(res:json().plain)
    assert.is_nil(res.headers["upgrade"])
    assert(c:send("GET /h/after HTTP/1.1\r\nHost: ws.test\r\n\r\n"))
    local res2 = assert(c:read_response({ timeout_ms = 5000 }))
    assert.equal(200, res2.status)
    assert.equal("", res2:json().upgrade) -- a plain request: no Upgrade went upstream
    c:close()
  end)

  -- on a raw connection: a plain GET of path -> connection, response
  local function plain_get(path)
    local c = assert(helpers.raw(gw.proxy_port))
    assert(c:send("GET " .. path .. " HTTP/1.1\r\nHost: ws.test\r\n\r\n"))
    return c, assert(c:read_response({ timeout_ms = 5000 }))
  end

  -- then the same connection upgrades, echoes one frame, and is closed
  local function upgrade_and_echo(c, path, word, mask)
    assert.equal(101, handshake(c, path).status)
    assert(c:send(frame(1, word, mask)))
    assert.equal(word, select(2, read_frame(c)))
    c:close()
  end

  it("answers 426 naming websocket to a plain request on a ws-only route, and keeps the connection", function()
    local c, res = plain_get("/ws/plain")
    assert.equal(426, res.status)
    assert.equal("websocket", res.headers["upgrade"])
    assert.matches("[Uu]pgrade", res.headers["connection"])
    assert.equal("This route takes WebSocket upgrades only", res:json().message)
    -- the answer is the gateway's own, and the connection still upgrades
    upgrade_and_echo(c, "/ws/then", "then", "\5\6\7\8")
  end)

  it("upgrades after a plain request on the same keep-alive connection", function()
    local c, res = plain_get("/h/first")
    assert.equal(200, res.status)
    assert.is_true(res.keepalive)
    upgrade_and_echo(c, "/ws/second", "second", "\3\3\3\3")
  end)

  it("keeps serving other requests while tunnels are open, and logs 101", function()
    local tunnels = {}
    for i = 1, 5 do tunnels[i] = open("/ws/many-" .. i) end
    for i = 1, 10 do
      local res = assert(helpers.http(gw.proxy_port, { path = "/h/meanwhile-" .. i }))
      assert.equal(200, res.status)
    end
    for i, c in ipairs(tunnels) do
      assert(c:send(frame(1, "t" .. i, "\1\2\3\4")))
      assert.equal("t" .. i, select(2, read_frame(c)))
      c:close()
    end
    helpers.wait_until(function()
      return gw:logs():find('"path":"/ws/many-5","status":101', 1, true) ~= nil
    end, 5, "an access-log line with status 101")
  end)

  it("closes open tunnels on a graceful stop", function()
    local c = open("/ws/drain")
    assert(c:send(frame(1, "x", "\1\2\3\4")))
    assert.equal("x", select(2, read_frame(c)))
    local t0 = helpers.now_ms()
    local code = gw:stop()
    assert.equal(0, code)
    assert.is_true(helpers.now_ms() - t0 < 10000)
    assert.is_true(c:closed(5))
    helpers.wait_until(function() return has_event("eof /ws/drain 1") end, 5, "the upstream saw EOF")
    c:close()
    -- under the ASan build (spec/run-all.sh), a report here means a tunnel misused memory
    assert.is_nil(gw:logs():find("Sanitizer", 1, true), gw:logs())
    assert.is_nil(gw:logs():find("runtime error", 1, true), gw:logs())
  end)
end)

describe("Core: WebSocket tunnels over TLS", function()
  local dir, gw, up_port, tls_port, pid

  lazy_setup(function()
    dir = helpers.tmpdir("wss")
    local out, code = helpers.sh(("cd %s && timeout 30 openssl req -x509 -newkey ec"
      .. " -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout s.key -out s.crt"
      .. " -subj /CN=localhost -addext subjectAltName=DNS:localhost 2>&1"):format(dir))
    assert.equal(0, code, out)
    up_port, tls_port = helpers.free_port(), helpers.free_port()
    out = helpers.sh(("cd %s && (timeout 400 python3 %s %d events --lifetime=360 --tls=s.crt,s.key"
      .. " >>py.log 2>&1 & echo PID:$!)"):format(dir, SCRIPT, up_port))
    pid = tonumber(out:match("PID:(%d+)"))
    assert(pid, out)
    helpers.wait_until(function()
      local c = helpers.raw(up_port)
      if c then c:close() end
      return c ~= nil
    end, 10, "tls websocket upstream on port " .. up_port)
    gw = helpers.start_turnpike { config = {
      turnpike = { proxy_listen = { "127.0.0.1:" .. helpers.free_port(),
                                    "127.0.0.1:" .. tls_port .. " ssl" } },
      certificates = { { cert = helpers.read_file(dir .. "/s.crt"),
                         key = helpers.read_file(dir .. "/s.key"), snis = { "localhost" } } },
      services = {
        { name = "wss", url = "wss://localhost:" .. up_port,
          routes = { { name = "wss", paths = { "/wss" }, protocols = { "wss" } } } },
      },
    } }
  end)

  lazy_teardown(function() helpers.kill_and_clean(pid or {}, dir) end)

  it("tunnels 1 MB each way between a TLS client and a wss upstream", function()
    local out, code = helpers.sh(("timeout 60 python3 %s client %d /wss/x %d 2>&1")
      :format(SCRIPT, tls_port, 1024 * KB))
    assert.equal(0, code, out)
    assert.matches("echoed=1048576 ok", out, 1, true)
    helpers.wait_until(function()
      return (helpers.read_file(dir .. "/events") or ""):find("eof /x 1048584", 1, true) ~= nil
    end, 5, "the upstream saw every byte, then EOF")
    assert.equal(0, (gw:stop()))
    assert.is_nil(gw:logs():find("Sanitizer", 1, true), gw:logs())
  end)
end)
