-- prometheus exporter: the metric store (shared memory, every worker) and the text exposition.
--
--   exporter.log(conf, entry)   record one request (entry: turnpike.log.serialize()'s shape)
--   exporter.collect(state)     -> Prometheus text format 0.0.4 (state: the admin API's state,
--                               {cfg, balancer}, optional: upstream health needs both)
--   exporter.reset()            forget every series (specs)
--   exporter.BUCKETS            latency histogram bounds (ms), Kong's
--
-- Storage, all in the shared dict "kv" (so counts are summed over workers and outlive reloads):
--   pm:v:<h>          a counter's value; for a histogram pm:v:<h>:<i> counts the observations
--                     of bucket i alone (cumulated at export) and pm:v:<h>:s their sum
--   pm:m:<h>          registration marker: the worker whose incr makes it 1 registers <h>
--   pm:n              how many series were registered (atomic counter)
--   pm:i:<n>          "<family>\n<label string>" of the n-th registered series
-- <h> is 24 hex digits of SHA-256 over family and labels, so keys stay short whatever the
-- labels. Exporting reads pm:n and walks pm:i:1..n; nothing else needs to be listed.
--
-- FIXME: "kv" is an LRU dict shared with other users; when it fills up, series can be evicted
-- and their counts restart (watch kong_memory_lua_shared_dict_bytes{shared_dict="kv"}).
local shm = require "turnpike.ffi.shm"
local crypto = require "turnpike.ffi.crypto"

local type = type
local select = select
local ipairs = ipairs
local tostring = tostring
local tonumber = tonumber
local pcall = pcall
local rawget = rawget
local byte = string.byte
local format = string.format
local gsub = string.gsub
local concat = table.concat
local floor = math.floor

local DICT = "kv"
local VAL, MARK, IDX, COUNT = "pm:v:", "pm:m:", "pm:i:", "pm:n"
local ERRORS = "pm:errors"
local BUCKETS = { 1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000 }
local NBUCKETS = #BUCKETS
local MAX_LABEL = 256          -- bytes kept of one label value
local MAX_CACHED = 20000       -- series keys remembered per worker before the cache restarts
local SHM_DICTS = { "ratelimit", "breaker", "cache_meta", "kv" }
local HEALTH_STATES = { "healthchecks_off", "healthy", "unhealthy", "dns_error" }
local BREAKER_HEALTH = { HEALTHY = "healthy", UNHEALTHY = "unhealthy", HALF_OPEN = "unhealthy" }

-- Families written by exporter.log, in export order.
local FAMILIES = {
  { name = "kong_http_requests_total", type = "counter",
    help = "HTTP status codes per consumer/service/route in Kong" },
  { name = "kong_kong_latency_ms", type = "histogram",
    help = "Latency added by Kong and enabled plugins for each service/route in Kong" },
  { name = "kong_upstream_latency_ms", type = "histogram",
    help = "Latency added by upstream response for each service/route in Kong" },
  { name = "kong_request_latency_ms", type = "histogram",
    help = "Total latency incurred during requests for each service/route in Kong" },
  { name = "kong_bandwidth_bytes", type = "counter",
    help = "Total bandwidth (ingress/egress) throughput in bytes" },
}
local IS_HISTOGRAM = {}
for _, f in ipairs(FAMILIES) do IS_HISTOGRAM[f.name] = f.type == "histogram" end

local _M = { BUCKETS = BUCKETS, DICT = DICT }

-- series "<family>\n<labels>" -> <h>, for series this worker already registered or met
local known = {}
local nknown = 0

local function count_error()
  shm.incr(DICT, ERRORS, 1, 0)
end

-- Prometheus text format: a label value escapes backslash, double quote and line feed.
local ESCAPES = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }

local function escape(v)
  v = tostring(v == nil and "" or v)
  if #v > MAX_LABEL then v = v:sub(1, MAX_LABEL) end
  return (gsub(v, '[\\"\n]', ESCAPES))
end
_M.escape = escape

-- label string from an ordered list of name, value pairs: `a="x",b="y"`
local function labels(...)
  local parts, n = {}, select("#", ...)
  for i = 1, n, 2 do
    local name, value = select(i, ...)
    parts[#parts + 1] = name .. '="' .. escape(value) .. '"'
  end
  return (concat(parts, ","))
end
_M.labels = labels

local function hash(series)
  local d = crypto.sha256(series)
  local hex = {}
  for i = 1, 12 do hex[i] = format("%02x", byte(d, i)) end
  return (concat(hex))
end

-- The value key prefix of a series, registering it in the shared index the first time any
-- worker meets it. A failed write is counted in kong_nginx_metric_errors_total.
local function series_key(family, label_string)
  local series = family .. "\n" .. label_string
  local h = known[series]
  if h then return h end
  h = hash(series)
  local marks = shm.incr(DICT, MARK .. h, 1, 0)
  if marks == 1 then
    local n = shm.incr(DICT, COUNT, 1, 0)
    if not n or not shm.set(DICT, IDX .. format("%d", n), series) then count_error() end
  elseif not marks then
    count_error()
  end
  if nknown >= MAX_CACHED then
    known, nknown = {}, 0
  end
  known[series] = h
  nknown = nknown + 1
  return h
end

local function inc(family, label_string, by)
  local h = series_key(family, label_string)
  if not shm.incr(DICT, VAL .. h, by, 0) then count_error() end
end

local function bucket_of(v)
  for i = 1, NBUCKETS do
    if v <= BUCKETS[i] then return i end
  end
  return NBUCKETS + 1
end

local function observe(family, label_string, v)
  if v < 0 then v = 0 end
  local h = series_key(family, label_string)
  local ok = shm.incr(DICT, VAL .. h .. ":" .. bucket_of(v), 1, 0)
  ok = shm.incr(DICT, VAL .. h .. ":s", v, 0) and ok
  if not ok then count_error() end
end
_M.inc, _M.observe = inc, observe

local function entity_name(e)
  if type(e) ~= "table" then return "" end
  return e.name or e.id or ""
end

local function consumer_name(c)
  if type(c) ~= "table" then return "" end
  return c.username or c.custom_id or c.id or ""
end

-- Kong's latencies: kong = time spent in the gateway, upstream (proxy) = time waiting for the
-- service, request = the whole request. A missing kong latency is derived when it can be.
local function latencies(entry)
  local lat = entry.latencies or {}
  local request, upstream, kong = tonumber(lat.request), tonumber(lat.proxy), tonumber(lat.kong)
  if not kong and request then
    if upstream then
      kong = request - upstream
    elseif entry.source ~= "service" then
      kong = request -- the gateway answered by itself: all of it was gateway time
    end
  end
  return request, upstream, kong
end

function _M.log(conf, entry)
  local service, route = entity_name(entry.service), entity_name(entry.route)
  local consumer = conf.per_consumer and consumer_name(entry.consumer) or ""
  if conf.status_code_metrics then
    local status = entry.response and entry.response.status or 0
    inc("kong_http_requests_total", labels("service", service, "route", route,
        "code", status, "source", entry.source or "", "workspace", "default",
        "consumer", consumer), 1)
  end
  if conf.latency_metrics then
    local request, upstream, kong = latencies(entry)
    local ls = labels("service", service, "route", route, "workspace", "default")
    if request then observe("kong_request_latency_ms", ls, request) end
    if upstream then observe("kong_upstream_latency_ms", ls, upstream) end
    if kong then observe("kong_kong_latency_ms", ls, kong) end
  end
  if conf.bandwidth_metrics then
    local ingress = tonumber(entry.request and entry.request.size) or 0
    local egress = tonumber(entry.response and entry.response.size) or 0
    if ingress > 0 then
      inc("kong_bandwidth_bytes", labels("service", service, "route", route,
          "direction", "ingress", "workspace", "default", "consumer", consumer), ingress)
    end
    if egress > 0 then
      inc("kong_bandwidth_bytes", labels("service", service, "route", route,
          "direction", "egress", "workspace", "default", "consumer", consumer), egress)
    end
  end
end

--------------------------------------------------------------------------------------------------
-- export
--------------------------------------------------------------------------------------------------

local function num(v)
  if v == floor(v) and v > -1e15 and v < 1e15 then return (format("%d", v)) end
  return (format("%.17g", v))
end

local function read_num(key)
  return tonumber(shm.get(DICT, key)) or 0
end

-- every registered series, as { [family] = { {labels, h}, ... } }, first seen first
local function registered()
  local out, seen = {}, {}
  local n = read_num(COUNT)
  for i = 1, n do
    local s = shm.get(DICT, IDX .. format("%d", i))
    if type(s) == "string" then
      local family, ls = s:match("^([^\n]+)\n(.*)$")
      local h = family and hash(s)
      if h and not seen[h] then
        seen[h] = true
        local list = out[family]
        if not list then list = {}; out[family] = list end
        list[#list + 1] = { ls, h }
      end
    end
  end
  return out
end

local function header(out, name, typ, help)
  out[#out + 1] = "# HELP " .. name .. " " .. help
  out[#out + 1] = "# TYPE " .. name .. " " .. typ
end

local function with_label(ls, extra)
  if ls == "" then return "{" .. extra .. "}" end
  return "{" .. ls .. "," .. extra .. "}"
end

local function export_histogram(out, name, series)
  for _, s in ipairs(series) do
    local ls, h = s[1], s[2]
    local total = 0
    for i = 1, NBUCKETS + 1 do
      total = total + read_num(VAL .. h .. ":" .. i)
      local le = i <= NBUCKETS and num(BUCKETS[i]) or "+Inf"
      out[#out + 1] = name .. "_bucket" .. with_label(ls, 'le="' .. le .. '"') .. " " .. num(total)
    end
    local braces = ls == "" and "" or "{" .. ls .. "}"
    out[#out + 1] = name .. "_count" .. braces .. " " .. num(total)
    out[#out + 1] = name .. "_sum" .. braces .. " " .. num(read_num(VAL .. h .. ":s"))
  end
end

local function export_series(out)
  local reg = registered()
  for _, f in ipairs(FAMILIES) do
    local series = reg[f.name]
    if series then
      header(out, f.name, f.type, f.help)
      if IS_HISTOGRAM[f.name] then
        export_histogram(out, f.name, series)
      else
        for _, s in ipairs(series) do
          out[#out + 1] = f.name .. "{" .. s[1] .. "} " .. num(read_num(VAL .. s[2]))
        end
      end
    end
  end
end

local function node_id()
  local sdk = rawget(_G, "turnpike")
  local ok, id = pcall(function() return sdk.node.get_id() end)
  return ok and id or ""
end

-- requests and connections of every worker, from the status table the core keeps
local function worker_totals()
  local ok, ffi = pcall(require, "ffi")
  local okc, C = pcall(require, "turnpike.ffi.req")
  if not (ok and okc) then return 0, 0 end
  local pid = ffi.new("int[1]")
  local gen, at, reqs, conns = ffi.new("double[1]"), ffi.new("double[1]"),
                               ffi.new("double[1]"), ffi.new("double[1]")
  local total_reqs, total_conns = 0, 0
  for i = 0, C.tp_ffi_worker_count() - 1 do
    if C.tp_ffi_worker_status(i, pid, gen, at, reqs, conns) == 0 then
      total_reqs = total_reqs + reqs[0]
      total_conns = total_conns + conns[0]
    end
  end
  return total_reqs, total_conns
end

local function export_node(out)
  local id = node_id()
  local reqs, conns = worker_totals()
  header(out, "kong_nginx_requests_total", "counter", "Number of requests total")
  out[#out + 1] = "kong_nginx_requests_total{" .. labels("node_id", id, "subsystem", "http") ..
                  "} " .. num(reqs)
  header(out, "kong_nginx_connections_total", "gauge", "Number of connections by subsystem")
  out[#out + 1] = "kong_nginx_connections_total{" .. labels("node_id", id, "subsystem", "http",
                  "state", "active") .. "} " .. num(conns)
  header(out, "kong_memory_lua_shared_dict_bytes", "gauge",
         "Allocated slabs in bytes in a shared_dict")
  local totals = {}
  for _, d in ipairs(SHM_DICTS) do
    local st = shm.stats(d)
    if st then
      out[#out + 1] = "kong_memory_lua_shared_dict_bytes{" .. labels("node_id", id,
                      "shared_dict", d, "kong_subsystem", "http") .. "} " ..
                      num(st.used * st.value_size)
      totals[#totals + 1] = { d, st.capacity * st.value_size }
    end
  end
  header(out, "kong_memory_lua_shared_dict_total_bytes", "gauge",
         "Total capacity in bytes of a shared_dict")
  for _, t in ipairs(totals) do
    out[#out + 1] = "kong_memory_lua_shared_dict_total_bytes{" .. labels("node_id", id,
                    "shared_dict", t[1], "kong_subsystem", "http") .. "} " .. num(t[2])
  end
  header(out, "kong_nginx_metric_errors_total", "counter",
         "Number of nginx-lua-prometheus errors")
  out[#out + 1] = "kong_nginx_metric_errors_total " .. num(read_num(ERRORS))
end

local function health_wanted(cfg)
  for _, p in ipairs(cfg and cfg.plugins or {}) do
    if p.name == "prometheus" and p.enabled ~= false and p.config
       and p.config.upstream_health_metrics then
      return true
    end
  end
  return false
end

-- One line per target and Kong state, 1 for the target's state and 0 for the others. The
-- breaker's half-open (probing) counts as unhealthy: it takes no regular traffic yet.
local function export_health(out, state)
  local cfg, balancer = state.cfg, state.balancer
  if not (balancer and health_wanted(cfg)) then return end
  header(out, "kong_upstream_target_health", "gauge",
         "Health status of targets of upstream. States = healthchecks_off|healthy|unhealthy" ..
         "|dns_error, value is 1 when state is populated.")
  for _, u in ipairs(cfg.upstreams or {}) do
    local list = balancer:health(u.name) or {}
    local up = balancer.upstream and balancer:upstream(u.name)
    local checked = up == nil or up.checked
    for _, t in ipairs(list) do
      local current = checked and (BREAKER_HEALTH[t.health] or "healthy") or "healthchecks_off"
      for _, st in ipairs(HEALTH_STATES) do
        out[#out + 1] = "kong_upstream_target_health{" .. labels("upstream", u.name,
                        "target", t.target, "address", t.target, "state", st,
                        "subsystem", "http") .. "} " .. (st == current and "1" or "0")
      end
    end
  end
end

function _M.collect(state)
  state = state or {}
  local out = {}
  export_node(out)
  export_series(out)
  export_health(out, state)
  return concat(out, "\n") .. "\n"
end

function _M.reset()
  local n = read_num(COUNT)
  for i = 1, n do
    local key = IDX .. format("%d", i)
    local s = shm.get(DICT, key)
    if type(s) == "string" then
      local h = hash(s)
      shm.delete(DICT, MARK .. h)
      shm.delete(DICT, VAL .. h)
      shm.delete(DICT, VAL .. h .. ":s")
      for b = 1, NBUCKETS + 1 do shm.delete(DICT, VAL .. h .. ":" .. b) end
    end
    shm.delete(DICT, key)
  end
  shm.delete(DICT, COUNT)
  shm.delete(DICT, ERRORS)
  known, nknown = {}, 0
end

return _M
