-- turnpike.sdk.phase: which SDK functions may run in which phase, as Kong's PDK decides.
--
-- ctx.phase is set by the runner around every plugin handler. With no request at all the phase
-- is "init_worker"; a request handled outside any plugin (the core itself) counts as "access".
local type = type
local error = error
local format = string.format

local function set(...)
  local s = {}
  for _, p in ipairs({ ... }) do s[p] = true end
  return s
end

local _M = {
  ALL = set("init_worker", "rewrite", "access", "header_filter", "body_filter", "log"),
  REQUEST = set("rewrite", "access", "header_filter", "body_filter", "log"),
  REWRITE_ACCESS = set("rewrite", "access"),
  READ_BODY = set("rewrite", "access"),
  RESPONSE_WRITE = set("rewrite", "access", "header_filter"),
  AFTER_HEADERS = set("header_filter", "body_filter", "log"),
  BODY_FILTER = set("body_filter"),
}

-- phase_of(backend) -> phase, r, ctx
function _M.phase_of(backend)
  local r, ctx = backend.current()
  if not r then return "init_worker", nil, nil end
  return (type(ctx) == "table" and ctx.phase) or "access", r, ctx
end

-- check(backend, allowed, fname) -> r, ctx; raises at the plugin's call site when the phase
-- is not in `allowed`.
function _M.check(backend, allowed, fname)
  local phase, r, ctx = _M.phase_of(backend)
  if not allowed[phase] then
    error(format("function %s is not allowed in phase %s", fname, phase), 3)
  end
  return r, ctx
end

return _M
