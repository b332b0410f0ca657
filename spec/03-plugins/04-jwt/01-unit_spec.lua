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
