-- turnpike.http over https, against the real binary and real TLS servers on loopback
-- (Python's ssl module, i.e. OpenSSL: spec/fixtures/tls/https_api.py). Certificates are made
-- here with the openssl CLI: a CA the config lists in ca_certificates, a server certificate for
-- localhost it signed, and a self-signed one nobody trusts. Covers: a plugin's GET verified by
-- default (SNI, keep-alive reuse), an unknown CA refused with BearSSL's reason, ssl_verify =
-- false, IP literals (no SNI; refused when verifying unless ssl_server_name names the host),
-- the jwt plugin with an https jwks_uri (trusted: the token verifies; untrusted: the same
-- answer as an unreachable JWKS, and a log line), oauth2-introspection over https, and active
-- health checks with healthchecks.active.type https (https_sni, https_verify_certificate).
local helpers = require "spec.helpers"
local cjson = require "cjson"
local openssl = require "spec.fixtures.keys.openssl"

local SCRIPT = TURNPIKE_HOME .. "/spec/fixtures/tls/https_api.py"
local CA_ID = "2c9f5a10-0000-4000-8000-000000000001"

local read, write = helpers.read_file, helpers.write_file

local PROBE_SCHEMA = [[
return {
  name = "https-probe",
  fields = {
    { config = { type = "record", fields = {
      { url = { type = "string", required = true } },
      { ssl_verify = { type = "boolean" } },
      { ssl_server_name = { type = "string" } },
    } } },
  },
}
]]

-- answers with what turnpike.http.request_uri returned, as JSON
local PROBE_HANDLER = [[
local Probe = { PRIORITY = 1000, VERSION = "0.1.0" }

function Probe:access(conf)
  local res, err = turnpike.http.request_uri(conf.url, { timeout_ms = 5000,
    ssl_verify = conf.ssl_verify, ssl_server_name = conf.ssl_server_name })
  if not res then return turnpike.response.exit(200, { err = err }) end
  return turnpike.response.exit(200, { status = res.status, body = res.body,
                                       conn = res.headers["X-Conn"] })
end

return Probe
]]

describe("Core: turnpike.http over https", function()
  local dir, gw, ca_port, ss_port, dead_port
  local pids = {}

  local function spawn(port, cert, key)
    helpers.spawn_python(dir, ("%s %d %s %s %s"):format(SCRIPT, port, cert, key, dir), port, pids)
  end
  local function ossl(cmd) helpers.openssl_in(dir, cmd) end

  local function probe(path)
    local res = assert(helpers.http(gw.proxy_port, { path = path, timeout_ms = 10000 }))
    assert.equal(200, res.status, res.body)
    return cjson.decode(res.body)
  end

  local function get(path, token)
    return assert(helpers.http(gw.proxy_port, { path = path, timeout_ms = 10000,
      headers = token and { Authorization = "Bearer " .. token } or nil }))
  end

  local function health(name)
    local res = assert(gw:admin { path = "/upstreams/" .. name .. "/health" })
    assert.equal(200, res.status, res.body)
    return res:json().data[1].health
  end

  lazy_setup(function()
    dir = helpers.tmpdir("httpcs")
    local ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    ossl("req -x509 " .. ec .. " -days 2 -keyout ca.key -out ca.crt -subj /CN=turnpike-httpc-ca")
    ossl("req " .. ec .. " -keyout up.key -out up.csr -subj /CN=localhost")
    write(dir .. "/up.ext", "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n")
    ossl("x509 -req -in up.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
      .. " -extfile up.ext -out up.crt")
    ossl("req -x509 " .. ec .. " -days 2 -keyout ss.key -out ss.crt -subj /CN=localhost"
      .. " -addext subjectAltName=DNS:localhost")
    -- the JWKS both servers publish: one RSA key, kid "k1"
    openssl.genkey(dir, "rsa", "RSA")
    local jwk = openssl.jwk(dir, "rsa", "RSA")
    jwk.kid, jwk.alg = "k1", "RS256"
    write(dir .. "/jwks.json", cjson.encode({ keys = { jwk } }))

    ca_port, ss_port, dead_port = helpers.free_port(), helpers.free_port(), helpers.free_port()
    spawn(ca_port, "up.crt", "up.key")
    spawn(ss_port, "ss.crt", "ss.key")

    local plugins_dir = dir .. "/plugins/https-probe"
    assert(os.execute("mkdir -p " .. plugins_dir))
    write(plugins_dir .. "/schema.lua", PROBE_SCHEMA)
    write(plugins_dir .. "/handler.lua", PROBE_HANDLER)

    local up = helpers.mock_upstream()
    local trusted, untrusted = "https://localhost:" .. ca_port, "https://localhost:" .. ss_port
    local routes = {}
    local function route(name, plugin)
      routes[#routes + 1] = { name = name, paths = { "/" .. name }, plugins = { plugin } }
    end
    local function p(conf) return { name = "https-probe", config = conf } end
    local function jwt(uri)
      return { name = "jwt", config = { jwks_uri = uri, consumer_optional = true } }
    end
    route("verified", p { url = trusted .. "/x" })
    route("untrusted", p { url = untrusted .. "/x" })
    route("noverify", p { url = untrusted .. "/x", ssl_verify = false })
    route("ip", p { url = "https://127.0.0.1:" .. ca_port .. "/x" })
    route("ip-named", p { url = "https://127.0.0.1:" .. ca_port .. "/x",
                          ssl_server_name = "localhost" })
    route("ip-noverify", p { url = "https://127.0.0.1:" .. ss_port .. "/x", ssl_verify = false })
    route("jwt-https", jwt(trusted .. "/jwks"))
    route("jwt-untrusted", jwt(untrusted .. "/jwks"))
    route("jwt-dead", jwt("http://127.0.0.1:" .. dead_port .. "/jwks"))
    route("introspect", { name = "oauth2-introspection", config = {
      introspection_url = trusted .. "/introspect", authorization_value = "Basic eDp5",
      timeout = 5000 } })

    local function hc_upstream(name, port, active)
      active.type, active.http_path, active.timeout = "https", "/health", 2
      active.healthy = { interval = 0.2, successes = 1 }
      active.unhealthy = { interval = 0.2, tcp_failures = 1, timeouts = 1, http_failures = 1 }
      return { name = name, healthchecks = { active = active, breaker = { open_ms = 60000 } },
               targets = { { target = "127.0.0.1:" .. port } } }
    end
    gw = helpers.start_turnpike {
      plugins_path = { dir .. "/plugins" },
      config = {
        turnpike = { workers = 1 },
        ca_certificates = { { id = CA_ID, cert = read(dir .. "/ca.crt") } },
        consumers = { { username = "alice" } },
        services = { { name = "s", url = "http://127.0.0.1:" .. up.port, routes = routes } },
        upstreams = {
          hc_upstream("hc-trusted", ca_port, { https_sni = "localhost" }),
          hc_upstream("hc-untrusted", ss_port, { https_sni = "localhost" }),
          hc_upstream("hc-noverify", ss_port, { https_verify_certificate = false }),
        },
      },
    }
  end)

  lazy_teardown(function() helpers.kill_and_clean(pids, dir) end)

  describe("turnpike.http.request_uri", function()
    it("verifies by default against ca_certificates, sends SNI and reuses the connection", function()
      local a = probe("/verified")
      assert.equal(200, a.status, a.err)
      local body = cjson.decode(a.body)
      assert.equal("localhost", body.sni)
      assert.equal("/x", body.path)
      local b = probe("/verified")
      assert.equal(200, b.status, b.err)
      assert.equal(a.conn, b.conn) -- one TLS connection, kept alive
    end)

    it("fails with BearSSL's reason for a certificate no trusted CA signed", function()
      local out = probe("/untrusted")
      assert.is_nil(out.status)
      assert.equal("tls handshake with localhost:" .. ss_port .. ": bearssl error 62 "
        .. "X509_NOT_TRUSTED", out.err)
    end)

    it("accepts any certificate with ssl_verify = false, in its own pool", function()
      local out = probe("/noverify")
      assert.equal(200, out.status, out.err)
      -- the unverified connection now idles in the pool: a verifying call never takes it
      out = probe("/untrusted")
      assert.matches("X509_NOT_TRUSTED", out.err)
    end)

    it("sends no SNI to an IP literal and refuses to verify one without a name", function()
      local out = probe("/ip")
      assert.matches("ssl_verify needs a host name", out.err)
      out = probe("/ip-named")
      assert.equal(200, out.status, out.err)
      assert.equal("localhost", cjson.decode(out.body).sni)
      out = probe("/ip-noverify")
      assert.equal(200, out.status, out.err)
      assert.equal(cjson.null, cjson.decode(out.body).sni)
    end)
  end)

  describe("Plugin: jwt with an https jwks_uri", function()
    local function token()
      return openssl.token(dir, "rsa", "RS256", { iss = "idp", exp = os.time() + 600 },
                           { kid = "k1" })
    end

    it("verifies a token with keys fetched over https", function()
      local res = get("/jwt-https", token())
      assert.equal(200, res.status, res.body)
    end)

    it("answers as for an unreachable JWKS when the server is not trusted, and logs why", function()
      local t = token()
      local dead = get("/jwt-dead", t)
      local res = get("/jwt-untrusted", t)
      assert.equal(401, dead.status)
      assert.equal(dead.status, res.status)
      assert.equal(dead:json().message, res:json().message)
      gw:wait_log("jwks fetch https://localhost:" .. ss_port .. "/jwks: tls handshake with "
        .. "localhost:" .. ss_port .. ": bearssl error 62 X509_NOT_TRUSTED", 5, true)
    end)
  end)

  describe("Plugin: oauth2-introspection over https", function()
    it("lets an active token through and refuses an inactive one", function()
      local res = get("/introspect", "good-1")
      assert.equal(200, res.status, res.body)
      assert.equal("alice", res:json().headers["x-credential-username"])
      assert.equal(401, get("/introspect", "revoked-1").status)
    end)
  end)

  describe("active health checks of type https", function()
    it("marks a trusted target healthy and an untrusted one unhealthy", function()
      helpers.wait_until(function() return health("hc-untrusted") == "UNHEALTHY" end, 5,
                         "hc-untrusted ejected by its https probes")
      -- probes reached both servers' /health over TLS: the trusted one verified (https_sni),
      -- the self-signed one only from the upstream that does not verify
      helpers.wait_until(function()
        return cjson.decode(probe("/verified").body).health_hits >= 2
          and cjson.decode(probe("/noverify").body).health_hits >= 2
      end, 5, "https probes answered")
      assert.equal("HEALTHY", health("hc-trusted"))
      assert.equal("HEALTHY", health("hc-noverify"))
      assert.equal("UNHEALTHY", health("hc-untrusted"))
    end)
  end)
end)
