-- Authentication and authorization plugins against the real binary: key-auth, jwt (HS256 made
-- in Lua, RS256/ES256 keys and signatures made by the openssl CLI, JWKS with rotation), acl
-- and scopes. Shared gateway: 2 workers. The JWKS part runs its own 1-worker gateway, since
-- each worker keeps its own key set and the spec counts fetches.
local helpers = require "spec.helpers"
local openssl = require "spec.fixtures.keys.openssl"
local crypto = require "turnpike.ffi.crypto"
local cjson = require "cjson"

local b64url = openssl.b64url
local HS_SECRET = "hs-secret-of-at-least-32-bytes-long!"

local function hs256(claims, header)
  header = header or {}
  header.alg = header.alg or "HS256"
  header.typ = "JWT"
  local input = b64url(cjson.encode(header)) .. "." .. b64url(cjson.encode(claims))
  return input .. "." .. b64url(crypto.hmac(256, HS_SECRET, input))
end

local function get(port, path, headers, query)
  return assert(helpers.http(port, { path = path, query = query, headers = headers or {},
                                     timeout_ms = 5000 }))
end

local function bearer(t) return { Authorization = "Bearer " .. t } end

local function write(path, text)
  local f = assert(io.open(path .. ".tmp", "wb"))
  f:write(text)
  f:close()
  assert(os.rename(path .. ".tmp", path))
end

describe("Plugins: authentication and authorization (integration)", function()
  local dir, up, gw, rsa_pem, ec_pem

  local function rs(claims, header) return openssl.token(dir, "rsa", "RS256", claims, header) end
  local function es(claims, header) return openssl.token(dir, "ec", "ES256", claims, header) end

  lazy_setup(function()
    dir = openssl.tmpdir()
    rsa_pem = openssl.genkey(dir, "rsa", "RSA")
    ec_pem = openssl.genkey(dir, "ec", "P-256")
    up = helpers.mock_upstream()
    local svc = "http://127.0.0.1:" .. up.port
    local function route(name, plugins)
      return { name = name, url = svc, routes = { { name = name, paths = { "/" .. name } } },
               plugins = plugins }
    end
    gw = helpers.start_turnpike { workers = 2, config = {
      turnpike = { workers = 2 },
      consumers = {
        { username = "alice", custom_id = "A1", keyauth_credentials = { { key = "alice-key" } },
          acls = { { group = "admins" } },
          plugins = { { name = "request-transformer",
                        config = { add = { headers = { "X-Who:alice" } } } } } },
        { username = "bob", keyauth_credentials = { { key = "bob-key" } },
          acls = { { group = "users" } },
          plugins = { { name = "rate-limiting", config = { day = 2, policy = "local" } } } },
        { username = "anon" },
        { username = "hs-user", jwt_secrets = { { key = "hs-iss", secret = HS_SECRET } } },
        { username = "rs-user", jwt_secrets = { { key = "rs-iss", algorithm = "RS256",
                                                  rsa_public_key = rsa_pem } } },
        { username = "es-user", jwt_secrets = { { key = "es-iss", algorithm = "ES256",
                                                  rsa_public_key = ec_pem } } },
      },
      services = {
        route("key", { { name = "key-auth" } }),
        route("key-hidden", { { name = "key-auth", config = { hide_credentials = true } } }),
        route("key-anon", { { name = "key-auth", config = { anonymous = "anon" } } }),
        route("acl-allow", { { name = "key-auth" }, { name = "acl", config = { allow = { "admins" } } } }),
        route("acl-deny", { { name = "key-auth" }, { name = "acl", config = { deny = { "admins" } } } }),
        route("jwt", { { name = "jwt", config = { claims_to_verify = { "exp", "nbf" } } } }),
        route("jwt-claims", { { name = "jwt", config = { key_claim_name = "kid",
          issuer = "https://issuer.test", audiences = { "api" } } } }),
        route("jwt-scopes", { { name = "jwt" },
          { name = "scopes", config = { required = { "read" }, any_of = { "admin", "write" } } } }),
      },
    } }
  end)

  lazy_teardown(function()
    helpers.cleanup()
    if dir then openssl.cleanup(dir) end
  end)

  describe("key-auth", function()
    it("returns 401 with a Key challenge when the key is missing", function()
      local res = get(gw.proxy_port, "/key")
      assert.equal(401, res.status)
      assert.equal('Key realm="kong"', res.headers["www-authenticate"])
      assert.equal("No API key found in request", res:json().message)
      assert.matches("application/json", res.headers["content-type"], 1, true)
    end)

    it("returns 401 for an unknown key and for a key sent twice", function()
      local res = get(gw.proxy_port, "/key", { apikey = "nope" })
      assert.equal(401, res.status)
      assert.equal("Invalid authentication credentials", res:json().message)
      res = get(gw.proxy_port, "/key", nil, "apikey=alice-key&apikey=bob-key")
      assert.equal(401, res.status)
      assert.equal("Duplicate API key found", res:json().message)
    end)

    it("accepts the key in a header or the query and names the consumer upstream", function()
      for _, res in ipairs({ get(gw.proxy_port, "/key", { apikey = "alice-key" }),
                             get(gw.proxy_port, "/key", nil, "apikey=alice-key") }) do
        assert.equal(200, res.status)
        local h = res:json().headers
        assert.equal("alice", h["x-consumer-username"])
        assert.equal("A1", h["x-consumer-custom-id"])
        assert.truthy(h["x-consumer-id"])
        assert.truthy(h["x-credential-identifier"])
        assert.is_nil(h["x-anonymous-consumer"])
      end
    end)

    it("overwrites spoofed X-Consumer-* headers", function()
      local res = get(gw.proxy_port, "/key", { apikey = "bob-key", ["X-Consumer-Username"] = "alice",
        ["X-Consumer-Custom-ID"] = "A1", ["X-Anonymous-Consumer"] = "true" })
      local h = res:json().headers
      assert.equal("bob", h["x-consumer-username"])
      assert.is_nil(h["x-consumer-custom-id"])
      assert.is_nil(h["x-anonymous-consumer"])
    end)

    it("hides the key from the service with hide_credentials", function()
      local h = get(gw.proxy_port, "/key-hidden", { apikey = "alice-key" }):json().headers
      assert.is_nil(h.apikey)
      local body = get(gw.proxy_port, "/key-hidden", nil, "apikey=alice-key&x=1"):json()
      assert.equal("x=1", body.query)
    end)

    it("falls back to the anonymous consumer, clearing spoofed identity", function()
      local res = get(gw.proxy_port, "/key-anon", { ["X-Consumer-Custom-ID"] = "A1" })
      assert.equal(200, res.status)
      local h = res:json().headers
      assert.equal("anon", h["x-consumer-username"])
      assert.equal("true", h["x-anonymous-consumer"])
      assert.is_nil(h["x-consumer-custom-id"])
      assert.equal("alice", get(gw.proxy_port, "/key-anon", { apikey = "alice-key" })
        :json().headers["x-consumer-username"])
    end)

    it("runs a consumer's own plugins once the consumer is known", function()
      assert.equal("alice", get(gw.proxy_port, "/key", { apikey = "alice-key" })
        :json().headers["x-who"])
      assert.is_nil(get(gw.proxy_port, "/key", { apikey = "bob-key" }):json().headers["x-who"])
      -- bob's own rate limit (2/day, counted for both workers together): the requests above
      -- spent some of it, so the third from here on is refused at the latest
      local res
      for _ = 1, 3 do res = get(gw.proxy_port, "/key-anon", { apikey = "bob-key" }) end
      assert.equal(429, res.status)
      assert.truthy(res.headers["retry-after"])
      assert.equal(200, get(gw.proxy_port, "/key", { apikey = "alice-key" }).status)
    end)
  end)

  describe("acl", function()
    it("allows listed groups and forbids the rest", function()
      local res = get(gw.proxy_port, "/acl-allow", { apikey = "alice-key" })
      assert.equal(200, res.status)
      assert.equal("admins", res:json().headers["x-consumer-groups"])
      res = get(gw.proxy_port, "/acl-allow", { apikey = "bob-key" })
      assert.equal(403, res.status)
      assert.equal("You cannot consume this service", res:json().message)
    end)

    it("forbids denied groups", function()
      assert.equal(403, get(gw.proxy_port, "/acl-deny", { apikey = "alice-key" }).status)
      assert.equal(401, get(gw.proxy_port, "/acl-deny").status)
    end)
  end)

  describe("jwt", function()
    local now = os.time()

    it("accepts valid HS256, RS256 and ES256 tokens of their consumers", function()
      local cases = {
        { hs256({ iss = "hs-iss", exp = now + 600, nbf = now - 10 }), "hs-user" },
        { rs({ iss = "rs-iss", exp = now + 600, nbf = now - 10 }), "rs-user" },
        { es({ iss = "es-iss", exp = now + 600, nbf = now - 10 }), "es-user" },
      }
      for _, c in ipairs(cases) do
        local res = get(gw.proxy_port, "/jwt", bearer(c[1]))
        assert.equal(200, res.status, c[2] .. ": " .. res.body)
        assert.equal(c[2], res:json().headers["x-consumer-username"])
      end
      -- the token may also come as ?jwt=
      assert.equal(200, get(gw.proxy_port, "/jwt", nil, "jwt=" .. cases[1][1]).status)
    end)

    local function refused(token, query)
      local res = get(gw.proxy_port, "/jwt", token and bearer(token), query)
      assert.equal(401, res.status)
      assert.is_string(res:json().message)
      assert.matches("^Bearer", res.headers["www-authenticate"])
      return res:json()
    end

    it("refuses alg none, even for an HS credential", function()
      local t = b64url('{"alg":"none","typ":"JWT"}') .. "." .. b64url(cjson.encode({ iss = "hs-iss" }))
      refused(t .. ".")
      refused(t)
    end)

    it("refuses HS256 signed with the RSA public key (algorithm confusion)", function()
      local header = b64url('{"alg":"HS256","typ":"JWT"}')
      local input = header .. "." .. b64url(cjson.encode({ iss = "rs-iss" }))
      refused(input .. "." .. b64url(crypto.hmac(256, rsa_pem, input)))
    end)

    it("refuses a stripped signature and a tampered payload", function()
      local t = rs({ iss = "rs-iss", exp = now + 600, role = "user" })
      local h, p, s = t:match("^([^.]+)%.([^.]+)%.([^.]+)$")
      refused(h .. "." .. p .. ".")
      local forged = b64url(cjson.encode({ iss = "rs-iss", exp = now + 600, role = "admin" }))
      refused(h .. "." .. forged .. "." .. s)
      local e = es({ iss = "es-iss" })
      refused(e:sub(1, -5) .. (e:sub(-4) == "AAAA" and "BBBB" or "AAAA"))
    end)

    it("refuses expired tokens and tokens not valid yet", function()
      local body = refused(hs256({ iss = "hs-iss", exp = now - 60 }))
      assert.equal("token expired", body.exp)
      body = refused(rs({ iss = "rs-iss", exp = now + 600, nbf = now + 600 }))
      assert.equal("token not valid yet", body.nbf)
    end)

    it("refuses several tokens at once", function()
      local a = hs256({ iss = "hs-iss", n = 1 })
      local b = hs256({ iss = "hs-iss", n = 2 })
      assert.equal("Multiple tokens provided", refused(a, "jwt=" .. b).message)
    end)

    it("checks issuer and audience", function()
      local function claims_req(claims)
        return get(gw.proxy_port, "/jwt-claims", bearer(hs256(claims, { kid = "hs-iss" }))).status
      end
      assert.equal(200, claims_req({ iss = "https://issuer.test", aud = "api" }))
      assert.equal(401, claims_req({ iss = "https://evil.test", aud = "api" }))
      assert.equal(401, claims_req({ iss = "https://issuer.test", aud = "other" }))
    end)
  end)

  describe("scopes", function()
    local function status_and_body(scope)
      local res = get(gw.proxy_port, "/jwt-scopes", bearer(hs256({ iss = "hs-iss", scope = scope })))
      return res.status, res:json()
    end

    it("passes with the required scope and one of any_of", function()
      assert.equal(200, (status_and_body("read write")))
    end)

    it("answers 403 with required and granted scopes", function()
      local status, body = status_and_body("read")
      assert.equal(403, status)
      assert.same({ "read" }, body.required)
      assert.same({ "admin", "write" }, body.any_of)
      assert.same({ "read" }, body.granted)
      status, body = status_and_body(nil)
      assert.equal(403, status)
      assert.same({}, body.granted)
    end)
  end)
end)

describe("Plugin: jwt with jwks_uri (integration)", function()
  local dir, jwks, jwks_file, gw
  local keys = {}

  local function publish(...)
    local list = {}
    for _, kid in ipairs({ ... }) do list[#list + 1] = keys[kid] end
    write(jwks_file, cjson.encode({ keys = list }))
  end

  local function fetches(path)
    local n = 0
    for _, r in ipairs(jwks:requests()) do if r.path == path then n = n + 1 end end
    return n
  end

  local function token(kid)
    local ec = kid:match("^ec") ~= nil
    return openssl.token(dir, ec and "ec" or "rsa", ec and "ES256" or "RS256", { iss = "idp", exp = os.time() + 600 }, { kid = kid })
  end

  local function status(path, kid)
    return get(gw.proxy_port, path, bearer(token(kid))).status
  end

  lazy_setup(function()
    dir = openssl.tmpdir()
    openssl.genkey(dir, "rsa", "RSA")
    openssl.genkey(dir, "ec", "P-256")
    keys["rsa-1"] = openssl.jwk(dir, "rsa", "RSA")
    keys["rsa-1"].kid, keys["rsa-1"].alg = "rsa-1", "RS256"
    keys["ec-2"] = openssl.jwk(dir, "ec", "P-256")
    keys["ec-2"].kid, keys["ec-2"].alg = "ec-2", "ES256"
    jwks_file = dir .. "/jwks.json"
    publish("rsa-1")
    jwks = helpers.mock_upstream { handler = function()
      local f = io.open(jwks_file, "rb")
      local body = f and f:read("*a") or "{}"
      if f then f:close() end
      return { status = 200, headers = { ["Content-Type"] = "application/json" }, body = body }
    end }
    local up = helpers.mock_upstream()
    local function svc(name, refresh)
      return { name = name, url = "http://127.0.0.1:" .. up.port,
               routes = { { name = name, paths = { "/" .. name } } },
               plugins = { { name = "jwt", config = {
                 jwks_uri = "http://127.0.0.1:" .. jwks.port .. "/" .. name .. "/jwks",
                 jwks_refresh_min_s = refresh, consumer_optional = true } } } }
    end
    gw = helpers.start_turnpike { config = { services = { svc("rotating", 1), svc("steady", 60) } } }
  end)

  lazy_teardown(function()
    helpers.cleanup()
    if dir then openssl.cleanup(dir) end
  end)

  it("verifies by kid, refetches once for a new kid and drops a removed one", function()
    assert.equal(200, status("/rotating", "rsa-1"))
    assert.equal(200, status("/rotating", "rsa-1"))
    assert.equal(1, fetches("/rotating/jwks"))
    publish("rsa-1", "ec-2")
    -- ec-2 is unknown to the gateway: refused without a fetch until jwks_refresh_min_s (1 s)
    -- has passed since the last one, then exactly one refetch finds it
    helpers.wait_until(function() return status("/rotating", "ec-2") == 200 end, 5, "ec-2 accepted")
    assert.equal(2, fetches("/rotating/jwks"))
    assert.equal(200, status("/rotating", "rsa-1"))
    publish("ec-2")
    -- an unknown kid triggers the next refetch, which no longer has rsa-1
    helpers.wait_until(function()
      status("/rotating", "unknown-9")
      return fetches("/rotating/jwks") == 3
    end, 5, "a third JWKS fetch")
    local res = get(gw.proxy_port, "/rotating", bearer(token("rsa-1")))
    assert.equal(401, res.status)
    assert.equal("No key found for given 'kid'", res:json().message)
    assert.equal(200, status("/rotating", "ec-2"))
  end)

  it("fetches at most once per jwks_refresh_min_s for unknown kids", function()
    local before = fetches("/steady/jwks")
    assert.equal(0, before)
    assert.equal(401, status("/steady", "ec-nope"))
    assert.equal(401, status("/steady", "ec-nope"))
    assert.equal(1, fetches("/steady/jwks"))
  end)
end)
