-- turnpike.jwt (library) and the jwt plugin in unit mode. RS/PS/ES tokens are signed by
-- the openssl CLI; HS tokens by jwt.sign_hs.
local jwt = require "turnpike.jwt"
local crypto = require "turnpike.ffi.crypto"
local ossl = require "fixtures.keys.openssl"
local cjson = require "cjson"

local NOW = 1700000000
local SECRET = "a-very-secret-hs-key"

local function b64(s) return ossl.b64url(s) end

describe("turnpike.jwt", function()
  local dir, rsa_pem, p256_pem, p384_pem

  lazy_setup(function()
    dir = ossl.tmpdir()
    rsa_pem = ossl.genkey(dir, "rsa", "RSA")
    ossl.genkey(dir, "rsa2", "RSA")
    p256_pem = ossl.genkey(dir, "p256", "P-256")
    p384_pem = ossl.genkey(dir, "p384", "P-384")
  end)

  lazy_teardown(function() ossl.cleanup(dir) end)

  local function rsa_cred(alg) return { algorithm = alg or "RS256", key = crypto.key_from_pem(rsa_pem) } end

  describe("parse", function()
    it("decodes header and claims of a compact JWS", function()
      local tok = assert(jwt.parse(jwt.sign_hs({ iss = "a", n = 1 }, SECRET)))
      assert.equal("HS256", tok.alg)
      assert.equal("a", tok.claims.iss)
      assert.equal(32, #tok.signature)
    end)

    it("rejects anything but three base64url parts", function()
      local t = jwt.sign_hs({ iss = "a" }, SECRET)
      for _, bad in ipairs({ "", "a.b", t .. ".x", t:gsub("%.", "..", 1), "a=.b.c", "e30.e30.e30=",
                             t .. " ", 42 }) do
        local tok, err = jwt.parse(bad)
        assert.is_nil(tok)
        assert.equal(jwt.ERR_INVALID_JSON, err)
      end
    end)

    it("rejects non-JSON and non-object parts", function()
      assert.same({ nil, "invalid JSON" }, { jwt.parse(b64("nope") .. "." .. b64("{}") .. ".") })
      assert.same({ nil, "invalid JSON" },
        { jwt.parse(b64('{"alg":"HS256"}') .. "." .. b64("[1,2]") .. ".") })
    end)

    it("rejects alg none, unknown algs and a missing alg", function()
      for _, h in ipairs({ '{"alg":"none"}', '{"alg":"None"}', '{"alg":"HS1"}', '{}', '{"alg":1}' }) do
        local _, err = jwt.parse(b64(h) .. "." .. b64('{"iss":"a"}') .. ".")
        assert.equal("invalid alg", err)
      end
    end)

    it("rejects a foreign typ and any crit header", function()
      local _, err = jwt.parse(b64('{"alg":"HS256","typ":"JWE"}') .. "." .. b64("{}") .. ".")
      assert.equal("invalid typ", err)
      _, err = jwt.parse(b64('{"alg":"HS256","crit":["exp"]}') .. "." .. b64("{}") .. ".")
      assert.equal("invalid crit", err)
      assert.truthy(jwt.parse(b64('{"alg":"HS256","typ":"at+jwt"}') .. "." .. b64("{}") .. "."))
    end)

    it("gives one header text the same verdict every time (headers are memoized)", function()
      local good, bad = b64('{"alg":"HS256","kid":"m1"}'), b64('{"alg":"none","kid":"m1"}')
      for i = 1, 3 do
        local tok = assert(jwt.parse(good .. "." .. b64('{"n":' .. i .. '}') .. "."))
        assert.equal("m1", tok.header.kid)
        assert.equal(i, tok.claims.n) -- claims are the token's own, never memoized
        assert.same({ nil, "invalid alg" }, { jwt.parse(bad .. "." .. b64("{}") .. ".") })
        -- a header checked before does not hide claims that are not JSON
        assert.same({ nil, "invalid JSON" }, { jwt.parse(good .. "." .. b64("nope") .. ".") })
        assert.same({ nil, "invalid JSON" }, { jwt.parse(bad .. "." .. b64("nope") .. ".") })
      end
      -- more distinct headers than the memo holds: verdicts stay right
      for i = 1, 600 do
        local h = b64('{"alg":"HS256","kid":"k' .. i .. '"}')
        assert.equal("k" .. i, assert(jwt.parse(h .. "." .. b64("{}") .. ".")).header.kid)
      end
    end)

    it("keeps the signing input as a prefix of the token (no copy)", function()
      local t = jwt.sign_hs({ iss = "a" }, SECRET)
      local tok = assert(jwt.parse(t))
      assert.equal(t, tok.token)
      assert.equal(t:match("^(.*)%.[^.]*$"), t:sub(1, tok.signing_len))
      assert.equal(crypto.hmac(256, SECRET, t:sub(1, tok.signing_len)), tok.signature)
    end)
  end)

  describe("verify_signature", function()
    it("accepts HS256/384/512 with the right secret only", function()
      for _, alg in ipairs({ "HS256", "HS384", "HS512" }) do
        local tok = jwt.parse(jwt.sign_hs({ iss = "a" }, SECRET, alg))
        assert.is_true(jwt.verify_signature(tok, { algorithm = alg, secret = SECRET }))
        assert.same({ false, "Invalid signature" },
          { jwt.verify_signature(tok, { algorithm = alg, secret = SECRET .. "x" }) })
      end
    end)

    it("rejects a token whose alg differs from the credential's", function()
      local tok = jwt.parse(jwt.sign_hs({ iss = "a" }, SECRET, "HS512"))
      assert.same({ false, "Invalid algorithm" },
        { jwt.verify_signature(tok, { algorithm = "HS256", secret = SECRET }) })
    end)

    it("defeats HS256 signed with the RSA public key as the secret (alg confusion)", function()
      local tok = jwt.parse(jwt.sign_hs({ iss = "a" }, rsa_pem, "HS256"))
      assert.same({ false, "Invalid algorithm" }, { jwt.verify_signature(tok, rsa_cred()) })
      -- even a credential that claims HS256 never uses a public key as secret
      local cred = { algorithm = "HS256", key = crypto.key_from_pem(rsa_pem) }
      assert.same({ false, "Invalid key/secret" }, { jwt.verify_signature(tok, cred) })
    end)

    it("verifies RS256/RS512/PS256/ES256/ES384 tokens signed by openssl", function()
      for _, c in ipairs({ { "RS256", "rsa", rsa_pem }, { "RS512", "rsa", rsa_pem },
                           { "PS256", "rsa", rsa_pem }, { "ES256", "p256", p256_pem },
                           { "ES384", "p384", p384_pem } }) do
        local tok = assert(jwt.parse(ossl.token(dir, c[2], c[1], { iss = "a" })))
        local cred = { algorithm = c[1], key = crypto.key_from_pem(c[3]) }
        assert.is_true(jwt.verify_signature(tok, cred))
      end
    end)

    it("rejects a stripped signature, a tampered payload and another key", function()
      local t = ossl.token(dir, "rsa", "RS256", { iss = "a", admin = false })
      local h, c, s = t:match("^(.-)%.(.-)%.(.*)$")
      local stripped = assert(jwt.parse(h .. "." .. c .. "."))
      assert.same({ false, "Invalid signature" }, { jwt.verify_signature(stripped, rsa_cred()) })
      local tampered = assert(jwt.parse(h .. "." .. b64('{"iss":"a","admin":true}') .. "." .. s))
      assert.same({ false, "Invalid signature" }, { jwt.verify_signature(tampered, rsa_cred()) })
      local other = assert(jwt.parse(ossl.token(dir, "rsa2", "RS256", { iss = "a" })))
      assert.same({ false, "Invalid signature" }, { jwt.verify_signature(other, rsa_cred()) })
    end)

    it("needs a key of the right type and curve", function()
      local es = assert(jwt.parse(ossl.token(dir, "p256", "ES256", { iss = "a" })))
      assert.same({ false, "Invalid key/secret" }, { jwt.verify_signature(es,
        { algorithm = "ES256", key = crypto.key_from_pem(p384_pem) }) })
      assert.same({ false, "Invalid key/secret" }, { jwt.verify_signature(es,
        { algorithm = "ES256", key = crypto.key_from_pem(rsa_pem) }) })
      assert.same({ false, "Invalid key/secret" }, { jwt.verify_signature(es,
        { algorithm = "ES256", secret = p256_pem }) })
      local rs = assert(jwt.parse(ossl.token(dir, "rsa", "RS256", { iss = "a" })))
      assert.same({ false, "Invalid key/secret" }, { jwt.verify_signature(rs,
        { algorithm = "RS256", key = crypto.key_from_pem(p256_pem) }) })
    end)
  end)

  describe("verify_claims", function()
    local function claims(c) return { claims = c } end

    it("checks exp and nbf only when asked, with leeway", function()
      local opts = { now = NOW, claims_to_verify = { "exp", "nbf" } }
      assert.is_true(jwt.verify_claims(claims({ exp = NOW + 1, nbf = NOW }), opts))
      assert.same({ false, { exp = "token expired" }, "token expired" },
        { jwt.verify_claims(claims({ exp = NOW, nbf = NOW }), opts) })
      assert.same({ false, { nbf = "token not valid yet" }, "token not valid yet" },
        { jwt.verify_claims(claims({ exp = NOW + 10, nbf = NOW + 1 }), opts) })
      opts.leeway = 30
      assert.is_true(jwt.verify_claims(claims({ exp = NOW - 29, nbf = NOW + 30 }), opts))
      assert.is_false(jwt.verify_claims(claims({ exp = NOW - 30 }), opts))
      assert.is_true(jwt.verify_claims(claims({ exp = NOW - 100 }), { now = NOW }))
    end)

    it("requires numeric exp/nbf when they are verified", function()
      local ok, errs, msg = jwt.verify_claims(claims({ exp = "tomorrow" }),
        { now = NOW, claims_to_verify = { exp = true } })
      assert.is_false(ok)
      assert.same({ exp = "must be a number", nbf = nil }, errs)
      assert.equal("'exp' must be a number", msg)
    end)

    it("enforces maximum_expiration", function()
      local opts = { now = NOW, maximum_expiration = 60 }
      assert.is_true(jwt.verify_claims(claims({ exp = NOW + 60 }), opts))
      assert.same({ exp = "exceeds maximum allowed expiration" },
        select(2, jwt.verify_claims(claims({ exp = NOW + 61 }), opts)))
      assert.is_false(jwt.verify_claims(claims({}), opts))
    end)

    it("checks iss and aud (string or array)", function()
      local opts = { now = NOW, issuer = "https://idp", audiences = { "api", "web" } }
      assert.is_true(jwt.verify_claims(claims({ iss = "https://idp", aud = "api" }), opts))
      assert.is_true(jwt.verify_claims(claims({ iss = "https://idp", aud = { "x", "web" } }), opts))
      assert.same({ false, { aud = "token audience not allowed" }, "token audience not allowed" },
        { jwt.verify_claims(claims({ iss = "https://idp", aud = { "x" } }), opts) })
      assert.same({ iss = "token issuer not allowed", aud = "token audience not allowed" },
        select(2, jwt.verify_claims(claims({ iss = "evil" }), opts)))
    end)
  end)

  describe("verified-token cache", function()
    it("skips re-verification for a token the same key already verified", function()
      local cache = jwt.cache_new(10)
      local token = ossl.token(dir, "rsa", "RS256", { iss = "a", exp = NOW + 100 })
      local cred = rsa_cred()
      assert.is_nil((jwt.lookup(cache, token, NOW)))
      local tok, digest = jwt.parse(token), select(2, jwt.lookup(cache, token, NOW))
      assert.is_true(jwt.verify_signature_cached(cache, digest, tok, cred, NOW))
      local hit = jwt.lookup(cache, token, NOW + 1)
      assert.equal(tok, hit)
      local spy_verify = spy.on(jwt, "verify_signature")
      assert.is_true(jwt.verify_signature_cached(cache, digest, hit, cred, NOW + 1))
      assert.spy(spy_verify).was_not_called()
      -- another key material must verify again (and fail)
      local other = { algorithm = "RS256", key = crypto.key_from_pem(ossl.genkey(dir, "r3", "RSA")) }
      assert.same({ false, "Invalid signature" },
        { jwt.verify_signature_cached(cache, digest, hit, other, NOW + 1) })
      assert.spy(spy_verify).was_called(1)
      jwt.verify_signature:revert()
      -- gone once exp has passed
      assert.is_nil((jwt.lookup(cache, token, NOW + 100)))
    end)

    it("is bounded and evicts the least recently used entry", function()
      local cache = jwt.cache_new(2)
      cache:set("a", 1, NOW + 10)
      cache:set("b", 2, NOW + 10)
      assert.equal(1, cache:get("a", NOW))
      cache:set("c", 3, NOW + 10)
      assert.equal(2, cache:count())
      assert.is_nil(cache:get("b", NOW))
      assert.equal(1, cache:get("a", NOW))
      assert.equal(3, cache:get("c", NOW))
    end)
  end)

  it("sign_hs output verifies with crypto.hmac", function()
    local t = jwt.sign_hs({ sub = "x" }, "k", "HS384", { kid = "1" })
    local h, c, s = t:match("^(.-)%.(.-)%.(.*)$")
    assert.equal("1", cjson.decode(crypto.b64url_decode(h)).kid)
    assert.equal(crypto.hmac(384, "k", h .. "." .. c), crypto.b64url_decode(s))
  end)
end)


describe("Plugin: jwt (access)", function()
  local tp = require "turnpike.spec"
  local dir, rsa_pem, p256_pem

  lazy_setup(function()
    dir = ossl.tmpdir()
    rsa_pem = ossl.genkey(dir, "rsa", "RSA")
    p256_pem = ossl.genkey(dir, "p256", "P-256")
    ossl.genkey(dir, "rsa_jwks", "RSA")
  end)

  lazy_teardown(function() ossl.cleanup(dir) end)

  before_each(function() tp.reset() end)

  local function consumers()
    return {
      { id = "c-alice", username = "alice", custom_id = "A1", jwt_secrets = {
          { id = "s-1", key = "alice-iss", algorithm = "HS256", secret = SECRET },
          { id = "s-2", key = "alice-b64", algorithm = "HS256", secret = "c2VjcmV0LWluLWJhc2U2NA==" },
      } },
      { id = "c-bob", username = "bob", jwt_secrets = {
          { id = "s-3", key = "bob-rsa", algorithm = "RS256", rsa_public_key = rsa_pem },
          { id = "s-4", key = "bob-ec", algorithm = "ES256", rsa_public_key = p256_pem },
      } },
      { id = "c-anon", username = "anon" },
    }
  end

  local function run(conf, req)
    req = req or {}
    req.method = req.method or "GET"
    req.path = req.path or "/"
    req.consumers = req.consumers or consumers()
    return tp.run_plugin("jwt", conf or {}, req)
  end

  local function bearer(t) return { headers = { authorization = "Bearer " .. t } } end

  describe("finding the token", function()
    it("returns 401 Unauthorized with a Bearer challenge when there is none", function()
      local res = run({ realm = "service" })
      assert.equal(401, res.status)
      assert.equal("Unauthorized", res.body.message)
      assert.equal('Bearer realm="service"', res.headers["www-authenticate"])
      assert.equal("Bearer", run().headers["www-authenticate"])
    end)

    it("accepts the token from the Authorization header, the query and a cookie", function()
      local t = jwt.sign_hs({ iss = "alice-iss" }, SECRET)
      assert.equal(200, run(nil, bearer(t)).status)
      assert.equal(200, run(nil, { query = "jwt=" .. t }).status)
      assert.equal(200, run({ cookie_names = { "session" } },
        { headers = { cookie = "a=b; session=" .. t } }).status)
      assert.equal(401, run(nil, { headers = { cookie = "jwt=" .. t } }).status)
    end)

    it("returns 401 when different tokens are sent, but not for the same one twice", function()
      local t1 = jwt.sign_hs({ iss = "alice-iss" }, SECRET)
      local t2 = jwt.sign_hs({ iss = "alice-iss", n = 2 }, SECRET)
      local res = run(nil, { query = "jwt=" .. t2, headers = { authorization = "Bearer " .. t1 } })
      assert.equal(401, res.status)
      assert.equal("Multiple tokens provided", res.body.message)
      assert.equal('Bearer error="invalid_token"', res.headers["www-authenticate"])
      assert.equal(200, run(nil, { query = "jwt=" .. t1,
        headers = { authorization = "Bearer " .. t1 } }).status)
    end)
  end)

  describe("authenticating", function()
    it("sets the consumer, the upstream headers and ctx.shared on success", function()
      local t = jwt.sign_hs({ iss = "alice-iss", scp = { "read", "write" } }, SECRET)
      local res = run(nil, bearer(t))
      assert.equal(200, res.status)
      assert.equal("alice", res.consumer.username)
      local h = res.upstream.headers
      assert.equal("c-alice", h["x-consumer-id"])
      assert.equal("alice", h["x-consumer-username"])
      assert.equal("A1", h["x-consumer-custom-id"])
      assert.equal("alice-iss", h["x-credential-identifier"])
      assert.equal("read write", h["x-authenticated-scope"])
      assert.equal(t, res.ctx.shared.authenticated_jwt_token)
      assert.equal("alice-iss", res.ctx.shared.authenticated_jwt_claims.iss)
    end)

    it("replaces identity headers sent by the client", function()
      local t = jwt.sign_hs({ iss = "alice-iss", scope = "admin" }, SECRET)
      local res = run(nil, { headers = { authorization = "Bearer " .. t,
        ["x-consumer-id"] = "forged", ["x-anonymous-consumer"] = "true" } })
      assert.equal("c-alice", res.upstream.headers["x-consumer-id"])
      assert.equal("admin", res.upstream.headers["x-authenticated-scope"])
      assert.is_nil(res.upstream.headers["x-anonymous-consumer"])
    end)

    it("verifies RS256 and ES256 tokens signed by openssl", function()
      local rs = ossl.token(dir, "rsa", "RS256", { iss = "bob-rsa" })
      local res = run(nil, bearer(rs))
      assert.equal(200, res.status)
      assert.equal("bob", res.consumer.username)
      assert.equal(200, run(nil, bearer(ossl.token(dir, "p256", "ES256", { iss = "bob-ec" }))).status)
    end)

    it("decodes base64 secrets with secret_is_base64", function()
      local t = jwt.sign_hs({ iss = "alice-b64" }, "secret-in-base64")
      assert.equal(200, run({ secret_is_base64 = true }, bearer(t)).status)
      assert.equal("Invalid signature", run(nil, bearer(t)).body.message)
    end)

    it("uses key_claim_name, also from the header", function()
      local t = jwt.sign_hs({ sub = "x" }, SECRET, "HS256", { kid = "alice-iss" })
      assert.equal(200, run({ key_claim_name = "kid" }, bearer(t)).status)
    end)
  end)

  describe("rejecting", function()
    local function rejects(conf, token, message)
      local res = run(conf, bearer(token))
      assert.equal(401, res.status)
      assert.equal(message, res.body.message)
      assert.equal('Bearer error="invalid_token"', res.headers["www-authenticate"])
      assert.is_nil(res.upstream)
      return res
    end

    it("bad tokens", function()
      rejects(nil, "not.a.jwt", "Bad token; invalid JSON")
      rejects(nil, b64('{"alg":"none"}') .. "." .. b64('{"iss":"alice-iss"}') .. ".",
        "Bad token; invalid alg")
    end)

    it("a missing or unknown key claim", function()
      rejects(nil, jwt.sign_hs({ sub = "x" }, SECRET), "No mandatory 'iss' in claims")
      rejects(nil, jwt.sign_hs({ iss = "" }, SECRET), "Invalid 'iss' in claims")
      rejects(nil, jwt.sign_hs({ iss = "nobody" }, SECRET), "No credentials found for given 'iss'")
    end)

    it("alg confusion: HS256 signed with the consumer's RSA public key", function()
      rejects(nil, jwt.sign_hs({ iss = "bob-rsa" }, rsa_pem, "HS256"), "Invalid algorithm")
    end)

    it("a wrong secret, a tampered payload and a stripped signature", function()
      rejects(nil, jwt.sign_hs({ iss = "alice-iss" }, "wrong"), "Invalid signature")
      local t = ossl.token(dir, "rsa", "RS256", { iss = "bob-rsa", admin = false })
      local h, _, s = t:match("^(.-)%.(.-)%.(.*)$")
      rejects(nil, h .. "." .. b64('{"iss":"bob-rsa","admin":true}') .. "." .. s,
        "Invalid signature")
      rejects(nil, h .. "." .. t:match("%.(.-)%.") .. ".", "Invalid signature")
    end)

    it("algorithms outside the allow-list", function()
      rejects({ algorithms = { "RS256" } }, jwt.sign_hs({ iss = "alice-iss" }, SECRET),
        "Invalid algorithm")
    end)

    it("expired tokens and tokens not valid yet, with leeway", function()
      local conf = { claims_to_verify = { "exp", "nbf" } }
      local res = rejects(conf, jwt.sign_hs({ iss = "alice-iss", exp = NOW - 1 }, SECRET),
        "token expired")
      assert.equal("token expired", res.body.exp)
      rejects(conf, jwt.sign_hs({ iss = "alice-iss", nbf = NOW + 60, exp = NOW + 90 }, SECRET),
        "token not valid yet")
      conf.leeway = 60
      assert.equal(200, run(conf, bearer(jwt.sign_hs({ iss = "alice-iss", nbf = NOW + 60,
        exp = NOW - 30 }, SECRET))).status)
    end)

    it("expiry beyond maximum_expiration", function()
      rejects({ claims_to_verify = { "exp" }, maximum_expiration = 60 },
        jwt.sign_hs({ iss = "alice-iss", exp = NOW + 3600 }, SECRET),
        "exceeds maximum allowed expiration")
    end)

    it("a wrong issuer or audience", function()
      local conf = { issuer = "alice-iss", audiences = { "api" } }
      assert.equal(200, run(conf, bearer(jwt.sign_hs({ iss = "alice-iss", aud = { "api" } },
        SECRET))).status)
      rejects(conf, jwt.sign_hs({ iss = "alice-iss", aud = "web" }, SECRET),
        "token audience not allowed")
    end)
  end)

  describe("config", function()
    it("requires exp in claims_to_verify when maximum_expiration is set", function()
      local plugin = tp.load_plugin("jwt")
      local ok, err = tp.validate(plugin, { maximum_expiration = 60 })
      assert.is_nil(ok)
      assert.matches("claims_to_verify", tostring(err))
      assert.truthy(tp.validate(plugin, { maximum_expiration = 60, claims_to_verify = { "exp" } }))
    end)

    it("has Kong's defaults", function()
      local conf = assert(tp.validate(tp.load_plugin("jwt"), {}))
      assert.same({ "jwt" }, conf.uri_param_names)
      assert.same({ "authorization" }, conf.header_names)
      assert.equal("iss", conf.key_claim_name)
      assert.is_true(conf.run_on_preflight)
      assert.equal(0, conf.maximum_expiration)
      assert.equal(60, conf.jwks_refresh_min_s)
    end)

    it("run_on_preflight = false lets OPTIONS through", function()
      assert.equal(200, run({ run_on_preflight = false }, { method = "OPTIONS" }).status)
      assert.equal(401, run(nil, { method = "OPTIONS" }).status)
    end)

    it("anonymous is used when authentication fails", function()
      local res = run({ anonymous = "anon" })
      assert.equal(200, res.status)
      assert.equal("anon", res.upstream.headers["x-consumer-username"])
      assert.equal("true", res.upstream.headers["x-anonymous-consumer"])
      assert.equal(500, run({ anonymous = "ghost" }).status)
    end)
  end)

  describe("verified-token cache", function()
    it("does not reuse a verification across generations (new key material)", function()
      local t = ossl.token(dir, "rsa", "RS256", { iss = "bob-rsa", exp = NOW + 600 })
      local cs = consumers()
      local s = spy.on(crypto, "verify")
      assert.equal(200, run(nil, { headers = { authorization = "Bearer " .. t }, consumers = cs }).status)
      assert.equal(200, run(nil, { headers = { authorization = "Bearer " .. t }, consumers = cs }).status)
      crypto.verify:revert()
      -- each run builds a new generation with new credential tables: verified again
      assert.spy(s).was_called(2)
    end)
  end)

  describe("jwks_uri", function()
    local function serve(uri, jwks_doc, calls)
      tp.fake_http((uri:gsub("%p", "%%%0")), function()
        calls.n = calls.n + 1
        return { status = 200, headers = { ["content-type"] = "application/json" },
                 body = cjson.encode(jwks_doc) }
      end)
    end

    it("verifies by kid, maps the key claim to a consumer, refetches on unknown kid", function()
      local uri = "https://idp.example/jwks-1"
      local jwk = ossl.jwk(dir, "rsa_jwks", "RSA")
      jwk.kid = "k1"
      local calls = { n = 0 }
      serve(uri, { keys = { jwk } }, calls)
      local conf = { jwks_uri = uri, jwks_refresh_min_s = 60 }
      local t = ossl.token(dir, "rsa_jwks", "RS256", { iss = "bob-rsa" }, { kid = "k1" })
      local res = run(conf, bearer(t))
      assert.equal(200, res.status)
      assert.equal("bob", res.consumer.username)
      assert.equal(1, calls.n)
      -- the consumer's own RSA key is not used with jwks_uri
      local own = ossl.token(dir, "rsa", "RS256", { iss = "bob-rsa" }, { kid = "k1" })
      assert.equal("Invalid signature", run(conf, bearer(own)).body.message)
      -- unknown kid: refetched at most once per jwks_refresh_min_s (the first fetch counts)
      local t2 = ossl.token(dir, "rsa_jwks", "RS256", { iss = "bob-rsa" }, { kid = "k2" })
      assert.equal("No key found for given 'kid'", run(conf, bearer(t2)).body.message)
      assert.equal(1, calls.n)
      tp.clock:advance(61000)
      run(conf, bearer(t2))
      assert.equal(2, calls.n)
      run(conf, bearer(t2))
      assert.equal(2, calls.n)
      tp.clock:advance(61000)
      jwk.kid = "k2"
      serve(uri, { keys = { jwk } }, calls)
      assert.equal(200, run(conf, bearer(t2)).status)
      assert.equal(3, calls.n)
    end)

    it("never accepts HS tokens and honours consumer_optional", function()
      local uri = "https://idp.example/jwks-2"
      local jwk = ossl.jwk(dir, "rsa_jwks", "RSA")
      local calls = { n = 0 }
      serve(uri, { keys = { jwk } }, calls)
      local t = ossl.token(dir, "rsa_jwks", "RS256", { iss = "https://idp.example/" })
      local res = run({ jwks_uri = uri }, bearer(t))
      assert.equal("No credentials found for given 'iss'", res.body.message)
      res = run({ jwks_uri = uri, consumer_optional = true }, bearer(t))
      assert.equal(200, res.status)
      assert.equal("https://idp.example/", res.upstream.headers["x-credential-identifier"])
      assert.is_nil(res.upstream.headers["x-consumer-id"])
      assert.equal("Invalid algorithm", run({ jwks_uri = uri, consumer_optional = true },
        bearer(jwt.sign_hs({ iss = "alice-iss" }, SECRET))).body.message)
    end)
  end)
end)
