-- prometheus: counts every request in the log phase into shared memory, for the admin API's
-- GET /metrics (plugins/prometheus/exporter.lua renders them), as Kong's prometheus plugin:
-- kong_http_requests_total (status_code_metrics), kong_{request,upstream,kong}_latency_ms
-- (latency_metrics), kong_bandwidth_bytes (bandwidth_metrics), kong_upstream_target_health
-- (upstream_health_metrics, read when exporting), consumer labels with per_consumer.
--
-- Byte counts come from the log entry (request.size / response.size). While the core does not
-- fill them, they are estimated from what the SDK shows: the request line and headers plus
-- Content-Length on the way in, the status line and headers plus Content-Length on the way out
-- (a chunked body without Content-Length is not counted).
local exporter = require "kong.plugins.prometheus.exporter"

local turnpike = turnpike

local type = type
local pairs = pairs
local tostring = tostring
local tonumber = tonumber

local STATUS_LINE = 17 -- "HTTP/1.1 200 OK\r\n"
local REQUEST_LINE_EXTRA = 12 -- two spaces, " HTTP/1.1" and CRLF around method and target

local PrometheusHandler = { PRIORITY = 13, VERSION = "1.0.0" }

local function content_length(headers)
  local v = headers["content-length"]
  if type(v) == "table" then v = v[1] end
  return tonumber(v) or 0
end

-- bytes of a header block: "name: value\r\n" per value and the blank line
local function headers_size(headers)
  local n = 2
  for k, v in pairs(headers) do
    if type(v) == "table" then
      for _, x in pairs(v) do n = n + #k + 4 + #tostring(x) end
    else
      n = n + #k + 4 + #tostring(v)
    end
  end
  return n
end

local function estimate_sizes(entry)
  local req, resp = entry.request, entry.response
  if req and not req.size then
    local headers = req.headers or {}
    req.size = #(req.method or "") + #(req.uri or "") + REQUEST_LINE_EXTRA +
               headers_size(headers) + content_length(headers)
  end
  if resp and not resp.size then
    local headers = resp.headers or {}
    resp.size = STATUS_LINE + headers_size(headers) + content_length(headers)
  end
end

function PrometheusHandler:log(conf)
  local entry = turnpike.log.serialize()
  if conf.bandwidth_metrics then estimate_sizes(entry) end
  exporter.log(conf, entry)
end

return PrometheusHandler
