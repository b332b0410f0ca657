-- https upstreams (services with protocol https / url https://...), against the real binary
-- and real TLS servers on loopback: Python's ssl module (OpenSSL) serving HTTP/1.1 keep-alive
-- (spec/fixtures/tls/upstream.py), a plain HTTP server on an "https" port (it answers the
-- ClientHello with a 400), and a server that accepts TCP and never answers the handshake. Covers: GET and multi-MB bodies both ways,
-- keep-alive reuse of the upstream TLS connection, SNI, tls_verify with the right CA, a
-- wrong CA, a name mismatch and an IP address, tls_verify off with a self-signed
-- certificate, pools that never hand an unverified connection to a verifying service,
-- upstream entities behind an https service, and the failure paths (502 / 504, gateway
-- keeps serving). Certificates are made here with the openssl CLI.
local helpers = require "spec.helpers"

local MB = 1024 * 1024
local SCRIPT = TURNPIKE_HOME .. "/spec/fixtures/tls/upstream.py"

local sh, read, write = helpers.sh, helpers.read_file, helpers.write_file

-- the byte pattern upstream.py answers GET /bytes/N with
local function pattern_of(n)
  local unit = ("0123456789abcdefghijklmnopqrstuvwxyz"):rep(8)
  return unit:rep(math.ceil(n / #unit)):sub(1, n)
end

describe("Core: https upstreams", function()
  local dir, gw, plain, ca_port, ss_port, stall_port, plain_port
  local pids = {}

  -- a Python server in the background (bounded by its own --lifetime); its pid is kept
  local function spawn(args, port) helpers.spawn_python(dir, SCRIPT .. " " .. args, port, pids) end
  local function openssl(cmd) helpers.openssl_in(dir, cmd) end

  local function get(path, opts)
    opts = opts or {}
    opts.path = path
    opts.timeout_ms = opts.timeout_ms or 30000
    return assert(helpers.http(gw.proxy_port, opts))
  end

  lazy_setup(function()
    dir = helpers.tmpdir("tlsup")
    local ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    -- a CA, a server certificate for localhost it signed, another CA, a self-signed one
    openssl("req -x509 " .. ec .. " -days 2 -keyout ca.key -out ca.crt -subj /CN=turnpike-test-ca")
    openssl("req -x509 " .. ec .. " -days 2 -keyout wrong.key -out wrong.crt -subj /CN=wrong-ca")
    openssl("req " .. ec .. " -keyout up.key -out up.csr -subj /CN=localhost")
    write(dir .. "/up.ext", "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
    openssl("x509 -req -in up.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
      .. " -extfile up.ext -out up.crt")
    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -keyout ss.key -out ss.crt"
      .. " -subj /CN=localhost -addext subjectAltName=DNS:localhost")

    ca_port, ss_port, stall_port = helpers.free_port(), helpers.free_port(), helpers.free_port()
    plain_port = helpers.free_port()
    spawn(("https %d up.crt up.key"):format(ca_port), ca_port)
    spawn(("https %d ss.crt ss.key"):format(ss_port), ss_port)
    spawn(("stall %d"):format(stall_port), stall_port)
    spawn(("plain %d"):format(plain_port), plain_port)
    plain = helpers.mock_upstream()

    local function svc(name, url, extra)
      local s = { name = name, url = url, routes = { { name = name, paths = { "/" .. name } } } }
      for k, v in pairs(extra or {}) do s[k] = v end
      return s
    end
    local ca_url = "https://localhost:" .. ca_port
    gw = helpers.start_turnpike { config = {
      turnpike = { client_max_body_size = 0 },
      ca_certificates = {
        { id = "1b8e4e8a-0000-4000-8000-000000000001", cert = read(dir .. "/ca.crt") },
        { id = "1b8e4e8a-0000-4000-8000-000000000002", cert = read(dir .. "/wrong.crt") },
      },
      upstreams = { { name = "tls-pool", targets = { { target = "localhost:" .. ca_port } } } },
      services = {
        svc("get", ca_url),
        svc("verified", ca_url, { tls_verify = true,
          ca_certificates = { "1b8e4e8a-0000-4000-8000-000000000001" } }),
        -- no list of its own: the system bundle plus every ca_certificates entity
        svc("verified-all", ca_url, { tls_verify = true }),
        svc("wrong-ca", ca_url, { tls_verify = true, retries = 0,
          ca_certificates = { "1b8e4e8a-0000-4000-8000-000000000002" } }),
        -- preserve_host: the client's Host names the upstream (Kong's proxy_ssl_name)
        { name = "by-host", url = ca_url, tls_verify = true, retries = 0,
          ca_certificates = { "1b8e4e8a-0000-4000-8000-000000000001" },
          routes = { { name = "by-host", paths = { "/by-host" }, preserve_host = true } } },
        svc("by-ip", "https://127.0.0.1:" .. ca_port, { tls_verify = true }),
        svc("self-signed", "https://localhost:" .. ss_port),
        svc("self-signed-verified", "https://localhost:" .. ss_port, { tls_verify = true,
          retries = 0 }),
        svc("plain-port", "https://127.0.0.1:" .. plain_port, { retries = 0,
                                                                connect_timeout = 5000 }),
        svc("stall", "https://127.0.0.1:" .. stall_port, { connect_timeout = 500, retries = 0 }),
        svc("pool", "https://tls-pool"),
        svc("echo", "http://127.0.0.1:" .. plain.port),
      },
    } }
  end)

  lazy_teardown(function() helpers.kill_and_clean(pids, dir) end)

  it("proxies a GET over TLS with SNI and the usual X-Forwarded-* headers", function()
    local res = get("/get/a?x=1", { headers = { ["X-Test"] = "1" } })
    assert.equal(200, res.status, res.body)
    local up = res:json()
    assert.equal("GET", up.method)
    assert.equal("/a?x=1", up.path)
    assert.equal("localhost", up.sni)
    assert.equal("localhost:" .. ca_port, up.headers.host)
    assert.equal("1", up.headers["x-test"])
    assert.equal("http", up.headers["x-forwarded-proto"])
    assert.equal("127.0.0.1", up.headers["x-real-ip"])
    assert.equal(tostring(gw.proxy_port), up.headers["x-forwarded-port"])
  end)

  it("carries a body of several MB both ways", function()
    local body = pattern_of(5 * MB + 3)
    write(dir .. "/up.bin", body)
    local sum = sh("sha256sum " .. dir .. "/up.bin"):match("^(%x+)")
    local res = get("/get/upload", { method = "POST", body = body,
                                     headers = { ["Content-Type"] = "application/octet-stream" } })
    assert.equal(200, res.status)
    local up = res:json()
    assert.equal(#body, up.body_len)
    assert.equal(sum, up.body_sha256)
    res = get("/get/bytes/" .. (6 * MB + 11))
    assert.equal(200, res.status)
    assert.equal(6 * MB + 11, #res.body)
    assert.is_true(res.body == pattern_of(6 * MB + 11))
  end)

  it("keeps the upstream TLS connection alive across requests", function()
    local conns, first = {}, nil
    for i = 1, 25 do
      local res = get("/get/ka" .. i)
      assert.equal(200, res.status)
      local up = res:json()
      conns[up.conn] = true
      first = first or up.connections
      if i == 25 then
        -- 25 requests, at most one new TLS connection at the upstream
        assert.is_true(up.connections - first <= 1, "connections: " .. up.connections - first)
      end
    end
    local n = 0
    for _ in pairs(conns) do n = n + 1 end
    assert.equal(1, n)
  end)

  describe("tls_verify", function()
    it("answers 200 when the chain leads to the service's CA and names the host", function()
      local res = get("/verified/x")
      assert.equal(200, res.status, res.body)
      assert.equal("localhost", res:json().sni)
      res = get("/verified-all/x")
      assert.equal(200, res.status, res.body)
      res = get("/by-host/x", { host = "localhost" })
      assert.equal(200, res.status, res.body)
    end)

    it("answers 502 and logs the reason for a CA that did not sign it", function()
      local res = get("/wrong-ca/x")
      assert.equal(502, res.status)
      assert.equal("An invalid response was received from the upstream server", res:json().message)
      gw:wait_log("tls handshake with localhost:" .. ca_port .. ' %(sni "localhost"%): '
        .. "bearssl error 62 X509_NOT_TRUSTED")
    end)

    it("answers 502 for a certificate that does not name the host", function()
      local res = get("/by-host/x", { host = "wrong.test" })
      assert.equal(502, res.status)
      gw:wait_log('%(sni "wrong.test"%): bearssl error 56 X509_BAD_SERVER_NAME')
    end)

    it("refuses to verify an IP address (BearSSL matches names only)", function()
      local res = get("/by-ip/x")
      assert.equal(502, res.status)
      gw:wait_log("tls to 127.0.0.1:" .. ca_port .. ": tls_verify needs a host name", 5, true)
    end)

    it("answers 502 for a self-signed certificate", function()
      assert.equal(502, get("/self-signed-verified/x").status)
    end)

    it("never reuses an unverified pooled connection for a verifying service", function()
      assert.equal(200, get("/get/warm").status) -- pools an unverified connection
      assert.equal(502, get("/wrong-ca/x").status)
      assert.equal(200, get("/verified/x").status)
    end)
  end)

  it("accepts a self-signed certificate when tls_verify is off (Kong's default)", function()
    local res = get("/self-signed/x")
    assert.equal(200, res.status, res.body)
    assert.equal("localhost", res:json().sni)
  end)

  it("uses TLS to the targets of an upstream entity behind an https service", function()
    local res = get("/pool/x")
    assert.equal(200, res.status, res.body)
    assert.equal("localhost", res:json().sni)
  end)

  it("answers 502 for an upstream that speaks plain HTTP on the https port, and keeps serving", function()
    local before = gw:worker_pids()
    local res = get("/plain-port/x")
    assert.equal(502, res.status)
    gw:wait_log("tls handshake with 127.0.0.1:" .. plain_port .. ' %(sni ""%): bearssl error')
    assert.equal(200, get("/echo/x").status)
    assert.equal(200, get("/get/after").status)
    assert.same(before, gw:worker_pids())
  end)

  it("answers 504 within connect_timeout when the handshake never comes", function()
    local t0 = helpers.now_ms()
    local res = get("/stall/x", { timeout_ms = 10000 })
    local took = helpers.now_ms() - t0
    assert.equal(504, res.status)
    assert.is_true(took >= 450 and took < 2500, "took " .. took .. " ms")
    gw:wait_log("tls handshake with 127.0.0.1:" .. stall_port .. ": timed out", 5, true)
    assert.equal(200, get("/get/after-stall").status)
  end)

  describe("turnpike check", function()
    local function check(cfg) return helpers.check_config(dir, cfg) end

    it("refuses a CA certificate that does not decode", function()
      local out, code = check { ca_certificates = { { cert = "-----BEGIN CERTIFICATE-----\n"
        .. "AAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n" } } }
      assert.equal(1, code)
      assert.matches("check.yml:%d+: ca_certificates%[1%]: cert: certificate 1: not a valid X.509", out)
    end)

    it("refuses a service naming a CA certificate the config lacks", function()
      local out, code = check { services = { { name = "s", url = "https://localhost:9",
        tls_verify = true, ca_certificates = { "1b8e4e8a-0000-4000-8000-000000000009" } } } }
      assert.equal(1, code)
      assert.matches("services%[1%]: ca_certificates%[1%]: unknown CA certificate", out)
    end)
  end)
end)
