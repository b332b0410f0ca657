-- turnpike.log: log lines through the backend, prefixed with the plugin running now;
-- log.serialize() builds the access-log record loggers send (Kong's basic serializer shape).
local phase = require "turnpike.sdk.phase"
local util = require "turnpike.sdk.util"

local select = select
local tostring = tostring
local concat = table.concat
local pairs = pairs

local LEVELS = { "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug" }
local REDACTED = { authorization = true, ["proxy-authorization"] = true }

local _M = {}

local function join(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  return (concat(parts))
end

function _M.new(backend)
  local log = {}

  for _, level in ipairs(LEVELS) do
    log[level] = function(...)
      local _, ctx = backend.current()
      local msg = join(...)
      local name = ctx and ctx.plugin_name
      if name then msg = "[" .. name .. "] " .. msg end
      backend.log(level, msg)
    end
  end

  function log.serialize()
    local r, ctx = phase.check(backend, phase.REQUEST, "log.serialize")
    local now = backend.now_ms()
    local started = backend.get_start_time(r)
    local query = backend.get_raw_query(r) or ""
    local path = backend.get_path(r)
    local uri = query ~= "" and (path .. "?" .. query) or path
    local headers = {}
    for k, v in pairs(backend.get_headers(r)) do
      headers[k] = REDACTED[k] and "REDACTED" or v
    end
    local lat = ctx.latencies or {}
    local cred = ctx.authenticated_credential
    return {
      request = {
        method = backend.get_method(r),
        uri = uri,
        url = backend.get_scheme(r) .. "://" .. backend.get_host(r) .. ":" ..
              tostring(backend.get_port(r)) .. uri,
        querystring = util.decode_args(query, util.DEFAULT_MAX_ARGS),
        headers = headers,
        size = ctx.request_size,
      },
      upstream_uri = ctx.upstream_uri,
      response = {
        status = backend.resp_get_status(r),
        headers = backend.resp_get_headers(r),
        size = ctx.response_size,
      },
      latencies = {
        request = lat.request or (now - started),
        kong = lat.kong,
        proxy = lat.proxy,
      },
      route = ctx.route,
      service = ctx.service,
      consumer = ctx.authenticated_consumer,
      authenticated_entity = cred and { id = cred.id, consumer_id = cred.consumer and
                                        cred.consumer.id } or nil,
      client_ip = backend.get_client_ip(r),
      started_at = started,
      source = ctx.exited and "exit" or backend.resp_get_source(r),
    }
  end

  return log
end

return _M
