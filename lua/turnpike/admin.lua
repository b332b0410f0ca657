-- turnpike.admin: the admin API, served by the workers on admin_listen only.
--
--   GET /status  /metrics  /services  /routes  /consumers  /plugins  /upstreams
--   GET /upstreams/{name}/health   POST /reload   POST /config
--   DELETE /cache   DELETE /cache/{key}
-- Credentials' secrets are redacted. With admin_token set, every request needs
-- `Authorization: Bearer <token>`.
local ffi = require "ffi"
local cjson = require "cjson.safe"
local C = require "turnpike.ffi.req"
local yaml = require "turnpike.yaml"

ffi.cdef [[
int tp_ffi_cache_purge(const char *key, size_t klen);
int tp_ffi_cache_purge_all(void);
int tp_ffi_cache_stats(double *out);
]]

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local concat = table.concat
local format = string.format
local match = string.match
local io_open = io.open

local JSON_HEADERS = { ["Content-Type"] = "application/json; charset=utf-8" }
local REDACTED = "<redacted>"
local SECRET_FIELDS = { key = true, secret = true, password = true, rsa_public_key = false }
local WAIT_STEP_MS = 20
local WAIT_MAX_MS = 15000

local _M = {}
local S -- the generation's state: cfg, backend, runner, generation, worker, balancer

function _M.init(state)
  S = state
end

local function reply(r, status, body)
  S.backend.resp_exit(r, status, cjson.encode(body), JSON_HEADERS)
end

-- entity -> plain JSON-able table; references become { id = ... }
local function plain(e, redact)
  local out = {}
  for k, v in pairs(e) do
    if type(k) == "string" and k:sub(1, 1) ~= "_" then
      if type(v) == "table" and (k == "service" or k == "route" or k == "consumer") then
        out[k] = { id = v.id }
      elseif type(v) == "table" and (k == "keyauth_credentials" or k == "jwt_secrets" or k == "acls"
                                     or k == "basicauth_credentials") then
        local list = {}
        for i, c in ipairs(v) do
          local pc = plain(c, true)
          list[i] = pc
        end
        out[k] = list
      elseif type(v) == "table" and k == "plugins" then
        local list = {}
        for i, p in ipairs(v) do list[i] = { id = p.id, name = p.name } end
        out[k] = list
      elseif redact and SECRET_FIELDS[k] then
        out[k] = REDACTED
      elseif type(v) ~= "function" and type(v) ~= "userdata" then
        out[k] = v
      end
    end
  end
  return out
end

local function list_of(kind)
  local data = {}
  for i, e in ipairs(S.cfg[kind] or {}) do data[i] = plain(e, false) end
  if #data == 0 then data = cjson.empty_array end
  return { data = data }
end

local function workers()
  local out = {}
  local pid = ffi.new("int[1]")
  local gen, at, reqs, conns = ffi.new("double[1]"), ffi.new("double[1]"),
                               ffi.new("double[1]"), ffi.new("double[1]")
  local total_reqs, total_conns = 0, 0
  for i = 0, C.tp_ffi_worker_count() - 1 do
    if C.tp_ffi_worker_status(i, pid, gen, at, reqs, conns) == 0 then
      out[#out + 1] = { index = i, pid = pid[0], generation = gen[0],
                        generation_loaded_at = at[0] / 1000, requests = reqs[0],
                        connections = conns[0] }
      total_reqs = total_reqs + reqs[0]
      total_conns = total_conns + conns[0]
    end
  end
  return out, total_reqs, total_conns
end

local function cache_stats()
  local out = ffi.new("double[7]")
  if C.tp_ffi_cache_stats(out) ~= 0 then return nil end
  return { hits = out[0], misses = out[1], stale = out[2], evictions = out[3],
           bytes_used = out[4], bytes_total = out[5], entries = out[6] }
end

local function status(r)
  local list, reqs, conns = workers()
  if #list == 0 then list = cjson.empty_array end
  reply(r, 200, {
    server = { connections_active = conns, total_requests = reqs },
    workers = list,
    configuration_generation = C.tp_ffi_ctl_generation(),
    configuration_hash = S.cfg.hash,
    this_worker = { index = S.worker, generation = S.generation },
    cache = cache_stats(),
  })
end

local function metrics(r)
  local list, reqs, conns = workers()
  local lines = {
    "# HELP turnpike_requests_total Requests accepted by all workers.",
    "# TYPE turnpike_requests_total counter",
    format("turnpike_requests_total %d", reqs),
    "# HELP turnpike_connections_active Open client connections.",
    "# TYPE turnpike_connections_active gauge",
    format("turnpike_connections_active %d", conns),
    "# HELP turnpike_config_generation Configuration generation per worker.",
    "# TYPE turnpike_config_generation gauge",
  }
  for _, w in ipairs(list) do
    lines[#lines + 1] = format('turnpike_config_generation{worker="%d"} %d', w.index, w.generation)
  end
  local cs = cache_stats()
  if cs then
    lines[#lines + 1] = "# HELP turnpike_cache_events_total Response cache lookups by result."
    lines[#lines + 1] = "# TYPE turnpike_cache_events_total counter"
    for _, k in ipairs({ "hits", "misses", "stale", "evictions" }) do
      lines[#lines + 1] = format('turnpike_cache_events_total{event="%s"} %d', k, cs[k])
    end
    lines[#lines + 1] = "# TYPE turnpike_cache_bytes gauge"
    lines[#lines + 1] = format('turnpike_cache_bytes{state="used"} %d', cs.bytes_used)
    lines[#lines + 1] = format('turnpike_cache_bytes{state="total"} %d', cs.bytes_total)
  end
  local body = concat(lines, "\n") .. "\n"
  for _, p in ipairs(S.cfg.plugins) do
    if p.name == "prometheus" and p.enabled ~= false then
      body = body .. require("kong.plugins.prometheus.exporter").collect(S)
      break
    end
  end
  S.backend.resp_exit(r, 200, body, { ["Content-Type"] = "text/plain; version=0.0.4" })
end

local function read_generation_file()
  local f = io_open(S.cfg.node.prefix .. "/generation", "r")
  if not f then return "" end
  local s = f:read("*a") or ""
  f:close()
  return s
end

-- Ask the master for a reload (it validates in a fresh Lua state) and wait,
-- without blocking the worker, for its verdict in <prefix>/generation. -> true when it
-- took effect (the answer is sent either way).
local function reload_and_wait(r, trigger)
  local before = read_generation_file()
  local rc = trigger()
  if rc ~= 0 then
    return reply(r, 500, { message = "cannot reach the master process (" .. rc .. ")" })
  end
  local waited = 0
  while waited < WAIT_MAX_MS do
    turnpike.sleep(WAIT_STEP_MS)
    waited = waited + WAIT_STEP_MS
    local now = read_generation_file()
    if now ~= before and now:find("\n", 1, true) then
      local gen, rest = match(now, "^(%d+) ([^\n]-)%s*\n") -- line 2 numbers the verdict
      if rest == "ok" then
        reply(r, 200, { message = "configuration reloaded", generation = tonumber(gen) })
        return true
      end
      reply(r, 400, { message = (rest or now):gsub("^failed: ", "") })
      return false
    end
  end
  reply(r, 504, { message = "the master did not answer the reload in time" })
  return false
end

-- The running node's settings as a `turnpike:` block: the file's own block with the
-- prefix and plugin folders made absolute (a posted config lives in the prefix).
local function node_block()
  local f = io_open(S.cfg.source or "", "rb")
  local raw
  if f then
    local text = f:read("*a")
    f:close()
    local doc
    if text:match("^%s*{") then doc = cjson.decode(text) else doc = yaml.load(text) end
    raw = type(doc) == "table" and type(doc.turnpike) == "table" and doc.turnpike or nil
  end
  raw = raw or {}
  raw.prefix = S.cfg.node.prefix
  raw.plugins_path = S.cfg.node.plugins_path
  if #raw.plugins_path == 0 then raw.plugins_path = cjson.empty_array end
  return raw
end

-- A Kong user posts entities only: keep this node's settings (listeners, prefix,
-- plugin folders) rather than falling back to defaults.
local function with_node_settings(body, is_json)
  if is_json then
    local doc = cjson.decode(body)
    if type(doc) ~= "table" or doc.turnpike ~= nil then return body end
    doc.turnpike = node_block()
    return cjson.encode(doc)
  end
  local doc = yaml.load(body)
  if type(doc) ~= "table" or doc.turnpike ~= nil then return body end
  -- YAML takes JSON as a flow mapping: one appended line keeps every line number
  return body .. (body:sub(-1) == "\n" and "" or "\n") .. "turnpike: " .. cjson.encode(node_block()) .. "\n"
end

local function post_config(r)
  local body, err = S.backend.read_body(r)
  if not body then return reply(r, 400, { message = err }) end
  if body:match("^%s*$") then return reply(r, 400, { message = "empty configuration" }) end
  local is_json = body:match("^%s*{") ~= nil
  body = with_node_settings(body, is_json)
  local ext = is_json and "json" or "yml"
  local path = format("%s/posted-%d.%s", S.cfg.node.prefix, C.tp_ffi_now_ms(), ext)
  local f, ferr = io_open(path, "wb")
  if not f then return reply(r, 500, { message = "cannot write " .. path .. ": " .. tostring(ferr) }) end
  f:write(body)
  f:close()
  -- a refused config is not kept: bad posts must not fill the prefix
  if not reload_and_wait(r, function() return C.tp_ffi_ctl_post_config(path) end) then
    os.remove(path)
  end
end

local function authorized(r)
  local token = S.cfg.node.admin_token
  if not token or token == "" then return true end
  local h = S.backend.get_header(r, "authorization")
  return h == "Bearer " .. token
end

-- The methods a known admin path takes (nil: no such path): a wrong method gets 405.
local LISTS = { services = true, routes = true, consumers = true, plugins = true, upstreams = true }
local function allowed_methods(path)
  if path == "/" or path == "/status" or path == "/metrics" then return "GET" end
  if LISTS[path:match("^/(%a+)$") or ""] or path:match("^/upstreams/[^/]+/health$") then
    return "GET"
  end
  if path == "/cache" or path:match("^/cache/[^/]+$") then return "DELETE" end
  if path == "/reload" or path == "/config" then return "POST" end
end

function _M.handle(r, ctx)
  local backend = S.backend
  if not authorized(r) then
    return backend.resp_exit(r, 401, '{"message":"Unauthorized"}',
                             { ["Content-Type"] = JSON_HEADERS["Content-Type"],
                               ["WWW-Authenticate"] = 'Bearer realm="turnpike admin"' })
  end
  local method, path = backend.get_method(r), backend.get_path(r)
  path = path:gsub("/+$", "")
  if path == "" then path = "/" end
  if method == "GET" then
    if path == "/status" or path == "/" then return status(r) end
    if path == "/metrics" then return metrics(r) end
    local kind = path:match("^/(%a+)$")
    if kind == "services" or kind == "routes" or kind == "consumers" or kind == "plugins"
       or kind == "upstreams" then
      return reply(r, 200, list_of(kind))
    end
    local up = path:match("^/upstreams/([^/]+)/health$")
    if up then
      local h = S.balancer:health(up)
      if not h then return reply(r, 404, { message = "no such upstream: " .. up }) end
      return reply(r, 200, { data = h })
    end
  elseif method == "DELETE" then
    if path == "/cache" then
      return reply(r, 200, { message = "cache purged", purged = C.tp_ffi_cache_purge_all() })
    end
    local key = path:match("^/cache/([^/]+)$")
    if key then
      local n = C.tp_ffi_cache_purge(key, #key)
      if n > 0 then return reply(r, 200, { message = "entry purged", key = key }) end
      return reply(r, 404, { message = "no cache entry for that key", key = key })
    end
  elseif method == "POST" then
    if path == "/reload" then return reload_and_wait(r, C.tp_ffi_ctl_reload) end
    if path == "/config" then return post_config(r) end
  end
  local allow = allowed_methods(path)
  if allow then
    return backend.resp_exit(r, 405, cjson.encode({ message = "Method not allowed" }),
                             { ["Content-Type"] = JSON_HEADERS["Content-Type"], Allow = allow })
  end
  reply(r, 404, { message = "Not found" })
end

return _M
