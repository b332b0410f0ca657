-- correlation-id: gives each request an id in a header (Kong-Request-ID by default) for the
-- service, and with echo_downstream for the client too, as Kong's correlation-id. An id the
-- client already sent is kept. Generators:
--   uuid          a random version 4 UUID
--   uuid#counter  this worker's random UUID, "#", and a per-worker counter (cheap, unique)
--   tracker       host-port-worker-counter-client_ip-seconds: Kong's tracker is built from
--                 nginx variables (connection serial numbers, pid) turnpike does not expose,
--                 so this one keeps its shape and uniqueness with what the SDK has.
local turnpike = turnpike

local type = type
local tostring = tostring
local format = string.format
local random = math.random
local floor = math.floor
local byte = string.byte

local CorrelationIdHandler = { PRIORITY = 100001, VERSION = "1.0.0" }

-- Per worker (per generation), and only ever changed by init_worker and the counter.
local worker_uuid
local counter = 0

local function seed()
  local s = floor(turnpike.now()) % 2147483647
  -- init_worker is not a request phase, so one small read here blocks nobody
  local f = io.open("/dev/urandom", "rb")
  if f then
    local b = f:read(4)
    f:close()
    if b and #b == 4 then
      local a, c, d, e = byte(b, 1, 4)
      s = (s + ((a * 256 + c) * 256 + d) * 256 + e) % 2147483647
    end
  end
  math.randomseed(s)
end

-- A version 4 UUID (RFC 9562 §5.4): 122 random bits, version and variant fixed.
local function uuid()
  return format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
                random(0, 0xffff), random(0, 0xffff), random(0, 0xffff), random(0, 0xfff),
                0x8000 + random(0, 0x3fff), random(0, 0xffff), random(0, 0xffff),
                random(0, 0xffff))
end

local function next_count()
  counter = counter + 1
  return counter
end

local GENERATORS = {
  ["uuid"] = uuid,
  ["uuid#counter"] = function()
    return worker_uuid .. "#" .. next_count()
  end,
  ["tracker"] = function()
    local req = turnpike.request
    return format("%s-%s-%s-%d-%s-%0.3f", req.get_host(), tostring(req.get_port()),
                  worker_uuid:sub(1, 8), next_count(), turnpike.client.get_ip(),
                  turnpike.now() / 1000)
  end,
}

function CorrelationIdHandler:init_worker()
  seed()
  worker_uuid = uuid()
  counter = 0
end

function CorrelationIdHandler:access(conf)
  local id = turnpike.request.get_header(conf.header_name)
  if type(id) == "table" then id = id[1] end
  if not id or id == "" then
    worker_uuid = worker_uuid or uuid()
    id = GENERATORS[conf.generator]()
    turnpike.service.request.set_header(conf.header_name, id)
  end
  turnpike.ctx.plugin.correlation_id = id
  turnpike.ctx.shared.correlation_id = id
end

function CorrelationIdHandler:header_filter(conf)
  if not conf.echo_downstream then return end
  -- nothing to echo when the request was answered before this plugin's access ran
  local id = turnpike.ctx.plugin.correlation_id
  if id then turnpike.response.set_header(conf.header_name, id) end
end

return CorrelationIdHandler
