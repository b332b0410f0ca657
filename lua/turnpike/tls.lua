-- turnpike.tls: TLS over core/tp_tls.c and core/tp_tls_client.c (FFI): config-time checks
-- of certificates, and the trust anchors https upstreams are verified against.
--
--   tls.check_pair(cert_pem, key_pem) -> true | nil, "cert: ..." / "key: ..."
--   tls.check_ca(cert_pem)            -> true | nil, err
--   tls.upstream_anchors(cfg, log)    -> { [service] = anchors } for services that verify
--   tls.use_config(cfg, log)          the generation's config, for node_anchors
--   tls.node_anchors()                -> anchors: system bundle + every ca_certificates entity
--                                        (turnpike.http's https calls verify against it)
-- Both PEMs of a pair must decode (PEM, X.509, RSA or EC key) and the key must belong to the
-- certificate. The same code builds each generation's certificate store in C.
local ffi = require "ffi"

local C = ffi.C
local ERR_LEN = 256
-- the system's CA bundle (Debian's ca-certificates), read once per generation when a
-- service verifies without a CA list of its own
local CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

pcall(ffi.cdef, [[
int tp_ffi_tls_check(const char *cert, size_t cert_len, const char *key, size_t key_len,
                     char *err, size_t errlen);
typedef struct tp_tls_anchors_s tp_tls_anchors_t;
tp_tls_anchors_t *tp_ffi_tls_anchors_new(const char *path, const char *pem, size_t len,
                                         char *err, size_t errlen);
void tp_ffi_tls_anchors_free(tp_tls_anchors_t *a);
]])

-- Outside the turnpike binary (a plain luajit) the C side is missing: no check then.
local available = pcall(function() return C.tp_ffi_tls_check end)
local errbuf = ffi.new("char[?]", ERR_LEN)

local _M = {}

-- This generation's config (each generation is its own Lua state) and its node-wide anchor
-- set, built on first use: a gateway whose plugins never call https never reads the bundle.
local node_cfg, node_log, node_set

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

-- anchors(path, pem) -> cdata (freed with the generation's Lua state) | nil, err
local function anchors(path, pem)
  local a = C.tp_ffi_tls_anchors_new(path, pem, #pem, errbuf, ERR_LEN)
  if a == nil then return nil, ffi.string(errbuf) end
  return ffi.gc(a, C.tp_ffi_tls_anchors_free)
end

-- A CA certificate entity's PEM decodes to at least one certificate.
function _M.check_ca(cert)
  if type(cert) ~= "string" then error("tls.check_ca: cert must be a string", 2) end
  if not available then return true end
  local a, err = anchors(nil, cert)
  if not a then return nil, err end
  C.tp_ffi_tls_anchors_free(ffi.gc(a, nil))
  return true
end

-- The system bundle plus every ca_certificates entity of cfg; without the bundle, the
-- entities alone (logged); with nothing loadable, an empty set (every verification fails).
local function build_node_set(cfg, log)
  local all = {}
  for _, ca in ipairs(cfg and cfg.ca_certificates or {}) do all[#all + 1] = ca.cert end
  local a, err = anchors(CA_BUNDLE, table.concat(all, "\n"))
  if not a then
    log("warn", "trust anchors: " .. err .. "; verifying against ca_certificates only")
    a, err = anchors(nil, table.concat(all, "\n"))
  end
  if not a then
    log("err", "trust anchors: " .. tostring(err))
    a = anchors(nil, "")
  end
  return a
end

function _M.use_config(cfg, log)
  if cfg ~= node_cfg then node_set = nil end
  node_cfg, node_log = cfg, log
end

function _M.node_anchors()
  if not available then return nil end
  if node_set == nil then
    node_set = build_node_set(node_cfg, node_log or function() end)
  end
  return node_set
end

-- The anchor set of each https service with tls_verify: its own ca_certificates (ids) when
-- it lists some, as Kong; otherwise the system bundle plus every ca_certificates entity of
-- the config. Sets are shared between services that trust the same CAs.
function _M.upstream_anchors(cfg, log)
  local out, sets = {}, {}
  if not available then return out end
  _M.use_config(cfg, log)
  local ca_by_id = {}
  for _, ca in ipairs(cfg.ca_certificates or {}) do ca_by_id[ca.id] = ca.cert end
  for _, s in ipairs(cfg.services or {}) do
    if (s.protocol == "https" or s.protocol == "wss") and s.tls_verify then
      local ids = s.ca_certificates
      local key = (ids and #ids > 0) and table.concat(ids, ",") or "*"
      if sets[key] == nil then
        local a, err
        if key ~= "*" then
          local pems = {}
          for i, id in ipairs(ids) do pems[i] = ca_by_id[id] end
          a, err = anchors(nil, table.concat(pems, "\n"))
        else
          a = _M.node_anchors() -- shared with turnpike.http's https calls
        end
        -- nothing to trust: every verification fails (a logged 502), never an open door
        if not a then log("err", "https upstreams: " .. tostring(err)) end
        sets[key] = a or false
      end
      out[s] = sets[key] or anchors(nil, "")
    end
  end
  return out
end

return _M
