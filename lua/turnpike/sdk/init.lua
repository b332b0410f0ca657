-- turnpike.sdk: builds the `turnpike` table (Kong's PDK names) over one backend.
--
--   local turnpike = require("turnpike.sdk").new(backend)
-- The runner attaches the generation's lookup tables as turnpike.db (see runner.lua).
local cjson = require "cjson.safe"

local _M = {}

local function json_helpers()
  local json = {}
  function json.encode(v) return cjson.encode(v) end
  function json.decode(s)
    if type(s) ~= "string" then return nil, "expected a string" end
    return cjson.decode(s)
  end
  json.null = cjson.null
  json.empty_array = cjson.empty_array
  return json
end

function _M.new(backend)
  assert(type(backend) == "table", "backend must be a table")
  local sdk = { backend = backend, null = cjson.null, json = json_helpers() }
  sdk.request = require("turnpike.sdk.request").new(backend, sdk)
  sdk.response = require("turnpike.sdk.response").new(backend, sdk)
  sdk.service = require("turnpike.sdk.service").new(backend, sdk)
  sdk.client = require("turnpike.sdk.client").new(backend, sdk)
  sdk.ctx = require("turnpike.sdk.ctx").new(backend, sdk)
  sdk.log = require("turnpike.sdk.log").new(backend, sdk)
  sdk.router = require("turnpike.sdk.router").new(backend, sdk)
  sdk.node = require("turnpike.sdk.node").new(backend, sdk)
  sdk.http = require("turnpike.sdk.http").new(backend, sdk)
  sdk.redis = require("turnpike.sdk.redis").new(backend, sdk)
  sdk.timer = require("turnpike.sdk.timer").new(backend, sdk)

  -- now() -> wall clock in ms (float)
  function sdk.now() return backend.now_ms() end

  -- sleep(ms): suspends only the calling request.
  function sdk.sleep(ms)
    if type(ms) ~= "number" or ms < 0 then error("ms must be a non-negative number", 2) end
    return backend.sleep(ms)
  end

  return sdk
end

-- install(turnpike): make it the global `turnpike` and its alias `kong`. Call it before
-- plugins are loaded: handlers cache `local turnpike = turnpike` at load time.
function _M.install(sdk)
  rawset(_G, "turnpike", sdk)
  rawset(_G, "kong", sdk)
  return sdk
end

return _M
