-- TLS termination on an `ssl` proxy listener, against the real binary with curl and openssl
-- s_client as clients: proxying with X-Forwarded-Proto https, SNI picking the certificate
-- (RSA for a.test, EC for *.b.test, the first as default), keep-alive, MB bodies both ways,
-- garbage and stalled clients, a reload that swaps a certificate, `turnpike check` refusals,
-- and https-only routes over plain http (426 / redirect). Certificates are made here with
-- the openssl CLI in a temporary folder.
local helpers = require "spec.helpers"

local MB = 1024 * 1024

local sh, read, write = helpers.sh, helpers.read_file, helpers.write_file

local function body_of(n)
  local unit = ("0123456789abcdefghijklmnopqrstuvwxyz"):rep(8)
  return unit:rep(math.ceil(n / #unit)):sub(1, n)
end

describe("Core: TLS termination", function()
  local dir, up, big, gw, plain_port, tls_port
  local big_body = body_of(4 * MB + 7)

  local function make_cert(name, subject, keyspec)
    local _, code = sh(("cd %s && timeout 30 openssl req -x509 -newkey %s -nodes -days 2"
      .. " -keyout %s.key -out %s.crt -subj '%s' -addext 'subjectAltName=DNS:%s'")
      :format(dir, keyspec, name, name, subject, subject:match("CN=([^/]+)")))
    assert.equal(0, code)
  end

  local function cert(name, snis)
    return { cert = read(dir .. "/" .. name .. ".crt"), key = read(dir .. "/" .. name .. ".key"),
             snis = snis }
  end

  local function config(certs)
    return {
      turnpike = { proxy_listen = { "127.0.0.1:" .. plain_port, "127.0.0.1:" .. tls_port .. " ssl" },
                   client_header_timeout_ms = 1000, client_max_body_size = 0 },
      services = {
        { name = "echo", url = "http://127.0.0.1:" .. up.port, routes = {
          { name = "all", paths = { "/echo" }, plugins = {
            { name = "response-transformer", protocols = { "https" },
              config = { add = { headers = { "X-Over-TLS:yes" } } } } } },
          { name = "secure", paths = { "/secure" }, protocols = { "https" } },
          { name = "moved", paths = { "/moved" }, protocols = { "https" },
            https_redirect_status_code = 301 },
        } },
        { name = "big", url = "http://127.0.0.1:" .. big.port,
          routes = { { name = "big", paths = { "/big" }, strip_path = false } } },
      },
      certificates = certs,
    }
  end

  -- curl over TLS to `host` (resolved to the gateway); extra curl arguments in `args`
  local function curl(host, path, args)
    return sh(("timeout 30 curl -sS --cacert %s/ca.pem --resolve %s:%d:127.0.0.1 %s https://%s:%d%s")
      :format(dir, host, tls_port, args or "", host, tls_port, path))
  end

  -- the subject of the certificate the gateway serves for `servername` (nil: no SNI)
  local function served_subject(servername)
    local sni = servername and ("-servername " .. servername) or "-noservername"
    local out = sh(("echo | timeout 10 openssl s_client -connect 127.0.0.1:%d %s 2>/dev/null"
      .. " | openssl x509 -noout -subject"):format(tls_port, sni))
    return out
  end

  lazy_setup(function()
    dir = helpers.tmpdir("tls")
    make_cert("a", "/CN=a.test", "rsa:2048")
    make_cert("b", "/CN=*.b.test", "ec -pkeyopt ec_paramgen_curve:P-256")
    make_cert("a2", "/O=second/CN=a.test", "rsa:2048")
    assert.equal(0, select(2, sh(("cd %s && timeout 30 openssl genrsa -out other.key 2048"):format(dir))))
    write(dir .. "/ca.pem", read(dir .. "/a.crt") .. read(dir .. "/b.crt") .. read(dir .. "/a2.crt"))
    write(dir .. "/up.bin", big_body)
    up = helpers.mock_upstream()
    big = helpers.mock_upstream { handler = function()
      return { status = 200, body = big_body, headers = { ["Content-Type"] = "application/octet-stream" } }
    end }
    plain_port, tls_port = helpers.free_port(), helpers.free_port()
    gw = helpers.start_turnpike { config = config { cert("a", { "a.test" }), cert("b", { "*.b.test" }) } }
  end)

  lazy_teardown(function() helpers.kill_and_clean({}, dir) end)

  it("proxies over TLS and tells the upstream X-Forwarded-Proto: https", function()
    local out, code = curl("a.test", "/echo/x", "-w '\\n%{http_code}'")
    assert.equal(0, code, out)
    assert.matches("\n200$", out)
    local req = up:requests()[#up:requests()]
    assert.equal("https", req.headers["x-forwarded-proto"])
    assert.equal(tostring(tls_port), req.headers["x-forwarded-port"])
    -- the plain listener still says http
    local res = assert(helpers.http(plain_port, { path = "/echo/y" }))
    assert.equal(200, res.status)
    assert.equal("http", up:requests()[#up:requests()].headers["x-forwarded-proto"])
  end)

  it("picks the certificate by SNI: exact, wildcard, and the first as default", function()
    assert.matches("CN%s*=%s*a%.test", served_subject("a.test"))
    assert.matches("CN%s*=%s*%*%.b%.test", served_subject("x.b.test"))
    assert.matches("CN%s*=%s*a%.test", served_subject("unknown.test"))
    assert.matches("CN%s*=%s*a%.test", served_subject(nil))
    -- curl verifies the EC chain and the name
    local out, code = curl("x.b.test", "/echo/ec", "-o /dev/null -w '%{http_code}'")
    assert.equal(0, code, out)
    assert.equal("200", out)
  end)

  it("serves two requests on one TLS connection (keep-alive)", function()
    local url2 = ("https://a.test:%d/echo/second"):format(tls_port)
    local out, code = curl("a.test", "/echo/first", "-o /dev/null -o /dev/null "
      .. "-w '%{http_code} %{num_connects}\\n' " .. url2)
    assert.equal(0, code, out)
    assert.equal("200 1\n200 0\n", out)
  end)

  it("carries MB bodies both ways", function()
    local out, code = curl("a.test", "/echo/up", "--data-binary @" .. dir .. "/up.bin")
    assert.equal(0, code, out:sub(1, 200))
    local echo = require("cjson").decode(out)
    assert.equal(#big_body, echo.body_len)
    out, code = curl("a.test", "/big", "-o " .. dir .. "/down.bin -w '%{http_code}'")
    assert.equal(0, code, out)
    assert.equal("200", out)
    assert.equal(#big_body, #read(dir .. "/down.bin"))
    assert.is_true(read(dir .. "/down.bin") == big_body)
  end)

  it("closes a connection that speaks plain HTTP to the ssl port, and keeps serving", function()
    local pids = gw:worker_pids()
    local r = assert(helpers.raw(tls_port))
    r:send("GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\n")
    assert.is_true(r:closed(5))
    r:close()
    local out = curl("a.test", "/echo/after", "-o /dev/null -w '%{http_code}'")
    assert.equal("200", out)
    assert.same(pids, gw:worker_pids())
  end)

  it("closes a client that stalls in the handshake after the header timeout", function()
    local idle = assert(helpers.raw(tls_port))
    local partial = assert(helpers.raw(tls_port))
    partial:send("\22\3\1\0\200") -- a handshake record header, then nothing
    local t0 = helpers.now_ms()
    assert.is_true(idle:closed(5))
    assert.is_true(partial:closed(5))
    assert.is_true(helpers.now_ms() - t0 < 4000)
    idle:close()
    partial:close()
  end)

  it("answers 426 for an https-only route over plain http, 200 over TLS", function()
    local res = assert(helpers.http(plain_port, { path = "/secure/x" }))
    assert.equal(426, res.status)
    assert.equal("Please use HTTPS protocol", res:json().message)
    assert.equal("TLS/1.2, HTTP/1.1", res.headers["upgrade"])
    assert.matches("Upgrade", res.headers["connection"])
    res = assert(helpers.http(plain_port, { path = "/moved/x?a=1", host = "a.test" }))
    assert.equal(301, res.status)
    assert.equal("https://a.test/moved/x?a=1", res.headers["location"])
    local out = curl("a.test", "/secure/x", "-o /dev/null -w '%{http_code}'")
    assert.equal("200", out)
  end)

  it("runs a plugin listing only https for TLS requests, not for plain ones", function()
    local res = assert(helpers.http(plain_port, { path = "/echo/p" }))
    assert.equal(200, res.status)
    assert.is_nil(res.headers["x-over-tls"])
    local out = curl("a.test", "/echo/p", "-D - -o /dev/null")
    assert.matches("\nx%-over%-tls: yes", out:lower())
  end)

  it("serves a swapped certificate to new connections after a reload", function()
    assert(gw:reload(config { cert("a2", { "a.test" }), cert("b", { "*.b.test" }) }))
    assert.matches("O%s*=%s*second", served_subject("a.test"))
    assert.matches("CN%s*=%s*%*%.b%.test", served_subject("x.b.test"))
  end)

  it("keeps the running certificates when a reload brings a bad one", function()
    local bad = cert("a", { "a.test" })
    bad.key = read(dir .. "/other.key")
    local ok, err = gw:reload(config { bad })
    assert.is_nil(ok)
    assert.matches("does not match", err)
    assert.matches("O%s*=%s*second", served_subject("a.test"))
  end)

  describe("turnpike check", function()
    local function check(cfg) return helpers.check_config(dir, cfg) end

    it("refuses an ssl listener without certificates", function()
      local cfg = config(nil)
      local out, code = check(cfg)
      assert.equal(1, code)
      assert.matches("check.yml:%d+: proxy_listen: '127.0.0.1:%d+ ssl' needs at least one entry in certificates", out)
    end)

    it("refuses a key that does not match its certificate", function()
      local bad = cert("a", { "a.test" })
      bad.key = read(dir .. "/b.key")
      local out, code = check(config { bad })
      assert.equal(1, code)
      assert.matches("check.yml:%d+: certificates%[1%]: key: does not match the certificate's public key", out)
    end)

    it("accepts the good ones", function()
      local out, code = check(config { cert("a", { "a.test" }), cert("b", { "*.b.test" }) })
      assert.equal(0, code, out)
    end)
  end)
end)
