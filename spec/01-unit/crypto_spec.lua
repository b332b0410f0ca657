-- turnpike.ffi.crypto against keys and signatures made by the openssl CLI.
local crypto = require "turnpike.ffi.crypto"
local ossl = require "fixtures.keys.openssl"

local MSG = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjcnlwdG9fc3BlYyJ9"

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

describe("turnpike.ffi.crypto", function()
  local dir, pems = nil, {}

  lazy_setup(function()
    dir = ossl.tmpdir()
    pems.rsa = ossl.genkey(dir, "rsa", "RSA")
    pems.rsa2 = ossl.genkey(dir, "rsa2", "RSA")
    pems.p256 = ossl.genkey(dir, "p256", "P-256")
    pems.p384 = ossl.genkey(dir, "p384", "P-384")
    pems.p521 = ossl.genkey(dir, "p521", "P-521")
  end)

  lazy_teardown(function()
    ossl.cleanup(dir)
  end)

  describe("digests and HMAC", function()
    it("computes SHA-256/384/512 known answers", function()
      assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        hex(crypto.sha256("abc")))
      assert.equal("cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
        .. "8086072ba1e7cc2358baeca134c825a7", hex(crypto.digest(384, "abc")))
      assert.equal(64, #crypto.digest(512, "abc"))
    end)

    it("computes HMAC-SHA-256/384/512 (RFC 4231 test case 2)", function()
      local m = "what do ya want for nothing?"
      assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        hex(crypto.hmac(256, "Jefe", m)))
      assert.equal("af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
        .. "8e2240ca5e69e2c78b3239ecfab21649", hex(crypto.hmac(384, "Jefe", m)))
      assert.equal("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
        .. "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        hex(crypto.hmac(512, "Jefe", m)))
    end)

    it("raises on an unsupported digest size (caller bug)", function()
      assert.has_error(function() crypto.digest(128, "x") end)
    end)

    it("compares in constant time", function()
      assert.is_true(crypto.equal("secret", "secret"))
      assert.is_false(crypto.equal("secret", "secreT"))
      assert.is_false(crypto.equal("secret", "secre"))
    end)
  end)

  describe("base64", function()
    it("round-trips binary data in both alphabets", function()
      for len = 0, 70 do
        local s = {}
        for i = 1, len do s[i] = string.char((i * 97 + len) % 256) end
        s = table.concat(s)
        assert.equal(s, crypto.b64url_decode(crypto.b64url_encode(s)))
        assert.equal(s, crypto.b64_decode(crypto.b64_encode(s)))
        assert.equal(ossl.b64url(s), crypto.b64url_encode(s))
      end
    end)

    it("rejects padding, foreign characters and non-canonical tails in base64url", function()
      assert.equal("hi", crypto.b64url_decode("aGk"))
      assert.is_nil(crypto.b64url_decode("aGk="))
      assert.is_nil(crypto.b64url_decode("a+k"))
      assert.is_nil(crypto.b64url_decode("aGl"))
      assert.is_nil(crypto.b64url_decode("a"))
      assert.is_nil(crypto.b64url_decode(nil))
    end)

    it("decodes large inputs", function()
      local big = string.rep("\255\0\1", 50000)
      assert.equal(big, crypto.b64url_decode(crypto.b64url_encode(big)))
    end)

    it("accepts either alphabet in lenient mode", function()
      assert.equal("\251\255", crypto.b64_decode("-/8=", true))
      assert.is_nil(crypto.b64_decode("-/8="))
    end)
  end)

  describe("keys", function()
    it("parses SPKI RSA and EC PEM keys", function()
      local k = assert(crypto.key_from_pem(pems.rsa))
      assert.equal("RSA", crypto.key_type(k))
      assert.equal(2048, crypto.key_bits(k))
      assert.is_nil(crypto.key_curve(k))
      for name, crv in pairs({ p256 = "P-256", p384 = "P-384", p521 = "P-521" }) do
        local ek = assert(crypto.key_from_pem(pems[name]))
        assert.equal("EC", crypto.key_type(ek))
        assert.equal(crv, crypto.key_curve(ek))
      end
    end)

    it("parses PKCS#1 RSA PUBLIC KEY PEM", function()
      local k = assert(crypto.key_from_pem(ossl.rsa_pkcs1_pem(dir, "rsa")))
      assert.equal(2048, crypto.key_bits(k))
    end)

    it("rejects private keys, garbage and truncated PEM with a reason", function()
      local priv = io.open(dir .. "/rsa.key"):read("*a")
      for _, bad in ipairs({ priv, "", "garbage", pems.rsa:sub(1, 200), 42 }) do
        local k, err = crypto.key_from_pem(bad)
        assert.is_nil(k)
        assert.is_string(err)
      end
    end)

    it("builds keys from JWK members", function()
      local k = assert(crypto.key_from_jwk(ossl.jwk(dir, "rsa", "RSA")))
      assert.equal(2048, crypto.key_bits(k))
      local ek = assert(crypto.key_from_jwk(ossl.jwk(dir, "p384", "P-384")))
      assert.equal("P-384", crypto.key_curve(ek))
    end)

    it("rejects bad JWKs", function()
      local j = ossl.jwk(dir, "p256", "P-256")
      assert.is_nil(crypto.key_from_jwk({ kty = "EC", crv = "P-384", x = j.x, y = j.y }))
      assert.is_nil(crypto.key_from_jwk({ kty = "EC", crv = "P-256", x = j.x, y = j.x }))
      assert.is_nil(crypto.key_from_jwk({ kty = "oct", k = "AAAA" }))
      assert.is_nil(crypto.key_from_jwk({ kty = "RSA", n = "AQAB" }))
      assert.is_nil(crypto.key_from_jwk("nope"))
    end)
  end)

  describe("verify", function()
    local cases = {
      { "RS256", "rsa" }, { "RS384", "rsa" }, { "RS512", "rsa" },
      { "PS256", "rsa" }, { "PS384", "rsa" }, { "PS512", "rsa" },
      { "ES256", "p256" }, { "ES384", "p384" }, { "ES512", "p521" },
    }
    for _, c in ipairs(cases) do
      local alg, keyname = c[1], c[2]
      it("accepts a valid " .. alg .. " signature and rejects tampering", function()
        local key = assert(crypto.key_from_pem(pems[keyname]))
        local sig = ossl.sign(dir, keyname, alg, MSG)
        assert.is_true(crypto.verify(key, alg, MSG, sig))
        assert.is_false(crypto.verify(key, alg, MSG .. "x", sig))
        assert.is_false(crypto.verify(key, alg, MSG, sig:sub(1, -2)))
        assert.is_false(crypto.verify(key, alg, MSG, ""))
        local flipped = string.char(bit.bxor(sig:byte(10), 1))
        assert.is_false(crypto.verify(key, alg, MSG, sig:sub(1, 9) .. flipped .. sig:sub(11)))
      end)
    end

    it("rejects a signature made by another RSA key", function()
      local key = assert(crypto.key_from_pem(pems.rsa))
      assert.is_false(crypto.verify(key, "RS256", MSG, ossl.sign(dir, "rsa2", "RS256", MSG)))
    end)

    it("does not accept PKCS#1 v1.5 signatures as PSS or the reverse", function()
      local key = assert(crypto.key_from_pem(pems.rsa))
      assert.is_false(crypto.verify(key, "PS256", MSG, ossl.sign(dir, "rsa", "RS256", MSG)))
      assert.is_false(crypto.verify(key, "RS256", MSG, ossl.sign(dir, "rsa", "PS256", MSG)))
    end)

    it("refuses an algorithm that does not fit the key", function()
      local rsa = assert(crypto.key_from_pem(pems.rsa))
      local p256 = assert(crypto.key_from_pem(pems.p256))
      local sig = ossl.sign(dir, "p256", "ES256", MSG)
      local ok, err = crypto.verify(rsa, "ES256", MSG, sig)
      assert.is_nil(ok)
      assert.is_string(err)
      assert.is_nil(crypto.verify(p256, "ES384", MSG, sig))
      assert.is_nil(crypto.verify(p256, "RS256", MSG, sig))
      assert.is_nil(crypto.verify(p256, "HS256", MSG, sig))
      assert.is_nil(crypto.verify(p256, "none", MSG, ""))
    end)
  end)
end)
