-- turnpike.ffi.crypto: FFI bindings to core/tp_crypto.c (BearSSL): SHA-2 digests,
-- HMAC, constant-time compare, base64/base64url, public keys from PEM or JWK, and
-- JWS signature verification (RS*, PS*, ES*). Keys are cdata freed by the GC.
local ffi = require "ffi"

local C = ffi.C
local ffi_new, ffi_str, ffi_gc = ffi.new, ffi.string, ffi.gc
local type, error, tonumber = type, error, tonumber

-- pcall: the typedef may already exist when the module is loaded a second time.
pcall(ffi.cdef, [[
typedef struct tp_crypto_key_s tp_crypto_key_t;
int tp_ffi_crypto_digest(int alg, const char *msg, size_t mlen, unsigned char *out,
                         size_t *outlen);
int tp_ffi_crypto_hmac(int alg, const char *key, size_t klen, const char *msg, size_t mlen,
                       unsigned char *out, size_t *outlen);
int tp_ffi_crypto_ct_equal(const char *a, size_t alen, const char *b, size_t blen);
int tp_ffi_crypto_b64_decode(int mode, const char *in, size_t inlen, unsigned char *out,
                             size_t *outlen);
int tp_ffi_crypto_b64_encode(int url, const unsigned char *in, size_t inlen, char *out,
                             size_t *outlen);
tp_crypto_key_t *tp_ffi_crypto_key_from_pem(const char *pem, size_t len, char *err,
                                            size_t errlen);
tp_crypto_key_t *tp_ffi_crypto_key_from_jwk(int kty, int crv, const char *a, size_t alen,
                                            const char *b, size_t blen, char *err,
                                            size_t errlen);
int tp_ffi_crypto_key_type(const tp_crypto_key_t *key);
int tp_ffi_crypto_key_bits(const tp_crypto_key_t *key);
void tp_ffi_crypto_key_free(tp_crypto_key_t *key);
int tp_ffi_crypto_verify(const tp_crypto_key_t *key, int alg, const char *msg, size_t mlen,
                         const char *sig, size_t slen);
]])

local KEY_RSA, KEY_EC = 1, 2
local B64_URL, B64_LENIENT, B64_STD = 0, 1, 2
local ERR_LEN = 256
local SCRATCH_MAX = 65536     -- larger decodes get a one-off buffer

-- JWA names -> tp_crypto constants.
local VERIFY_ALGS = {
  RS256 = 1, RS384 = 2, RS512 = 3,
  PS256 = 4, PS384 = 5, PS512 = 6,
  ES256 = 7, ES384 = 8, ES512 = 9,
}
local HMAC_ALGS = { HS256 = 256, HS384 = 384, HS512 = 512 }
local CURVES = { ["P-256"] = 256, ["P-384"] = 384, ["P-521"] = 521 }
local CURVE_NAMES = { [256] = "P-256", [384] = "P-384", [521] = "P-521" }

-- Out-param cdata, made once.
local digest_buf = ffi_new("unsigned char[64]")
local len_out = ffi_new("size_t[1]")
local err_buf = ffi_new("char[?]", ERR_LEN)
local scratch_size = 4096
local scratch = ffi_new("unsigned char[?]", scratch_size)

local function buffer(n)
  if n <= scratch_size then
    return scratch
  end
  if n > SCRATCH_MAX then
    return (ffi_new("unsigned char[?]", n))
  end
  scratch_size = n
  scratch = ffi_new("unsigned char[?]", n)
  return scratch
end

local _M = {
  VERIFY_ALGS = VERIFY_ALGS,
  HMAC_ALGS = HMAC_ALGS,
}

-- Raw SHA-`bits` digest (bits: 256, 384 or 512) of `msg`.
function _M.digest(bits, msg)
  len_out[0] = 64
  if C.tp_ffi_crypto_digest(bits, msg, #msg, digest_buf, len_out) ~= 0 then
    error("digest: unsupported size " .. tostring(bits), 2)
  end
  return (ffi_str(digest_buf, len_out[0]))
end

function _M.sha256(msg)
  return _M.digest(256, msg)
end

-- Raw HMAC-SHA-`bits` of `msg` (its first `mlen` bytes when given) under `key`.
function _M.hmac(bits, key, msg, mlen)
  len_out[0] = 64
  if mlen == nil or mlen > #msg then mlen = #msg end
  if C.tp_ffi_crypto_hmac(bits, key, #key, msg, mlen, digest_buf, len_out) ~= 0 then
    error("hmac: unsupported size " .. tostring(bits), 2)
  end
  return (ffi_str(digest_buf, len_out[0]))
end

-- Equality in time that depends only on the lengths.
function _M.equal(a, b)
  return C.tp_ffi_crypto_ct_equal(a, #a, b, #b) == 1
end

local function decode(mode, s)
  if type(s) ~= "string" then
    return nil, "not a string"
  end
  local cap = math.floor(#s * 3 / 4) + 3
  local out = buffer(cap)
  len_out[0] = cap
  if C.tp_ffi_crypto_b64_decode(mode, s, #s, out, len_out) ~= 0 then
    return nil, "invalid base64"
  end
  return (ffi_str(out, len_out[0]))
end

local function encode(url, s)
  local cap = math.floor((#s + 2) / 3) * 4
  local out = buffer(cap)
  len_out[0] = cap
  C.tp_ffi_crypto_b64_encode(url, s, #s, out, len_out)
  return (ffi_str(out, len_out[0]))
end

-- Strict unpadded base64url (RFC 7515 section 2) -> bytes, or nil, err.
function _M.b64url_decode(s)
  return decode(B64_URL, s)
end

-- Standard base64 (padding optional); `lenient` also accepts the url alphabet.
function _M.b64_decode(s, lenient)
  return decode(lenient and B64_LENIENT or B64_STD, s)
end

function _M.b64url_encode(s)
  return encode(1, s)
end

function _M.b64_encode(s)
  return encode(0, s)
end

local function wrap(key)
  if key == nil then
    return nil, ffi_str(err_buf)
  end
  return ffi_gc(key, C.tp_ffi_crypto_key_free)
end

-- Public key from PEM text ("PUBLIC KEY" or "RSA PUBLIC KEY") -> key, or nil, err.
function _M.key_from_pem(pem)
  if type(pem) ~= "string" then
    return nil, "PEM key must be a string"
  end
  return wrap(C.tp_ffi_crypto_key_from_pem(pem, #pem, err_buf, ERR_LEN))
end

-- Public key from a decoded JWK table (RFC 7518 section 6) -> key, or nil, err.
function _M.key_from_jwk(jwk)
  if type(jwk) ~= "table" then
    return nil, "JWK must be an object"
  end
  if jwk.kty == "RSA" then
    if type(jwk.n) ~= "string" or type(jwk.e) ~= "string" then
      return nil, "RSA JWK needs string members n and e"
    end
    return wrap(C.tp_ffi_crypto_key_from_jwk(KEY_RSA, 0, jwk.n, #jwk.n, jwk.e, #jwk.e,
                                             err_buf, ERR_LEN))
  elseif jwk.kty == "EC" then
    local crv = CURVES[jwk.crv]
    if not crv then
      return nil, "unsupported JWK crv"
    end
    if type(jwk.x) ~= "string" or type(jwk.y) ~= "string" then
      return nil, "EC JWK needs string members x and y"
    end
    return wrap(C.tp_ffi_crypto_key_from_jwk(KEY_EC, crv, jwk.x, #jwk.x, jwk.y, #jwk.y,
                                             err_buf, ERR_LEN))
  end
  return nil, "unsupported JWK kty"
end

-- "RSA" or "EC".
function _M.key_type(key)
  return C.tp_ffi_crypto_key_type(key) == KEY_RSA and "RSA" or "EC"
end

-- RSA modulus bits, or the curve size.
function _M.key_bits(key)
  return (tonumber(C.tp_ffi_crypto_key_bits(key)))
end

-- "P-256" / "P-384" / "P-521" for EC keys, nil for RSA.
function _M.key_curve(key)
  if C.tp_ffi_crypto_key_type(key) ~= KEY_EC then
    return nil
  end
  return CURVE_NAMES[tonumber(C.tp_ffi_crypto_key_bits(key))]
end

-- Verify a JWS signature: true / false, or nil, err when `alg` does not fit the key.
function _M.verify(key, alg, msg, sig, mlen)
  local id = VERIFY_ALGS[alg]
  if not id then
    return nil, "unsupported algorithm"
  end
  if mlen == nil or mlen > #msg then mlen = #msg end
  local rc = C.tp_ffi_crypto_verify(key, id, msg, mlen, sig, #sig)
  if rc < 0 then
    return nil, "algorithm does not fit the key"
  end
  return rc == 1
end

return _M
