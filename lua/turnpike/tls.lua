-- turnpike.tls: config-time checks of TLS certificates, over core/tp_tls.c (FFI).
--
--   tls.check_pair(cert_pem, key_pem) -> true | nil, "cert: ..." / "key: ..."
-- Both must decode (PEM, X.509, RSA or EC key) and the key must belong to the
-- certificate. The same code builds each generation's certificate store in C.
local ffi = require "ffi"

local C = ffi.C
local ERR_LEN = 256

pcall(ffi.cdef, [[
int tp_ffi_tls_check(const char *cert, size_t cert_len, const char *key, size_t key_len,
                     char *err, size_t errlen);
]])

-- Outside the turnpike binary (a plain luajit) the C side is missing: no check then.
local available = pcall(function() return C.tp_ffi_tls_check end)
local errbuf = ffi.new("char[?]", ERR_LEN)

local _M = {}

function _M.check_pair(cert, key)
  if type(cert) ~= "string" or type(key) ~= "string" then
    error("tls.check_pair: cert and key must be strings", 2)
  end
  if not available then return true end
  if C.tp_ffi_tls_check(cert, #cert, key, #key, errbuf, ERR_LEN) ~= 0 then
    return nil, ffi.string(errbuf)
  end
  return true
end

return _M
