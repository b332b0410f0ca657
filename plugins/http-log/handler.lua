-- http-log: sends each request's log entry (turnpike.log.serialize()) as JSON to an HTTP
-- endpoint, batched, as Kong's http-log. One batch is one request: a single JSON object when
-- queue.max_batch_size is 1, else a JSON array of entries.
--
-- The queue is per worker and per plugin configuration. turnpike has no background timers,
-- so batches are sent from log phases (after the response went out): the log phase that
-- fills a batch, or finds the oldest entry older than max_coalescing_delay, sends it and
-- keeps sending while batches are ready. A partial batch therefore waits for a later request
-- on the same worker; entries still queued when a reload replaces the configuration are lost.
-- A failed batch is retried from the same log phase (turnpike.sleep suspends only it), with
-- delays doubling from initial_retry_delay, until max_retry_time or retry_count runs out.
local cjson = require "cjson.safe"
local crypto = require "turnpike.ffi.crypto"

local turnpike = turnpike

local pcall = pcall
local error = error
local pairs = pairs
local tostring = tostring
local tonumber = tonumber
local concat = table.concat
local remove = table.remove
local min = math.min
local char = string.char
local setmetatable = setmetatable

local HttpLogHandler = { PRIORITY = 12, VERSION = "1.0.0" }

-- conf -> { entries = { json strings }, bytes, first_at = ms, sending = bool }; weak keys:
-- a reload's new configuration starts new queues and the old ones are collected.
local queues = setmetatable({}, { __mode = "k" })

local function queue_of(conf)
  local q = queues[conf]
  if not q then
    q = { entries = {}, bytes = 0, sending = false }
    queues[conf] = q
  end
  return q
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

-- endpoint_of(conf) -> url without userinfo, Authorization value | nil (RFC 7617 Basic from
-- user:password@ in the URL, as Kong does)
local endpoints = setmetatable({}, { __mode = "k" })

local function endpoint_of(conf)
  local e = endpoints[conf]
  if e then return e.url, e.auth end
  local scheme, userinfo, rest = conf.http_endpoint:match("^([%a][%w+.-]*://)([^@/]*)@(.*)$")
  e = { url = conf.http_endpoint }
  if scheme then
    e.url = scheme .. rest
    local user, pass = userinfo:match("^([^:]*):?(.*)$")
    e.auth = "Basic " .. crypto.b64_encode(unescape(user) .. ":" .. unescape(pass))
  end
  endpoints[conf] = e
  return e.url, e.auth
end

-- send(conf, payload) -> true | nil, err
local function send(conf, payload)
  local url, auth = endpoint_of(conf)
  local headers = { ["Content-Type"] = conf.content_type }
  if auth then headers["Authorization"] = auth end
  for k, v in pairs(conf.headers or {}) do headers[k] = v end
  local res, err = turnpike.http.request_uri(url, {
    method = conf.method, headers = headers, body = payload,
    timeout_ms = conf.timeout, keepalive = conf.keepalive,
  })
  if not res then return nil, "failed request to " .. url .. ": " .. tostring(err) end
  if res.status >= 400 then
    return nil, "request to " .. url .. " returned status code " .. res.status
  end
  return true
end

-- send_with_retries(conf, payload, n): gives up after retry_count retries or max_retry_time.
local function send_with_retries(conf, payload, n)
  local qc = conf.queue
  local started = turnpike.now()
  local delay = qc.initial_retry_delay
  local tries = 0
  while true do
    local ok, err = send(conf, payload)
    if ok then return true end
    tries = tries + 1
    local spent = (turnpike.now() - started) / 1000
    if (conf.retry_count and tries > conf.retry_count) or spent + delay > qc.max_retry_time then
      turnpike.log.err("could not send ", n, " log entries after ", tries, " attempts: ", err)
      return false
    end
    turnpike.log.warn("sending ", n, " log entries failed, retrying: ", err)
    turnpike.sleep(delay * 1000)
    delay = min(delay * 2, qc.max_retry_delay)
  end
end

local function ready(conf, q)
  local n = #q.entries
  if n == 0 then return false end
  local qc = conf.queue
  if n >= qc.max_batch_size then return true end
  if qc.max_bytes and q.bytes >= qc.max_bytes then return true end
  return turnpike.now() - q.first_at >= qc.max_coalescing_delay * 1000
end

-- take(conf, q) -> payload, count: the oldest entries, at most max_batch_size / max_bytes.
local function take(conf, q)
  local qc = conf.queue
  local batch, bytes = {}, 0
  while #q.entries > 0 and #batch < qc.max_batch_size do
    local e = q.entries[1]
    if #batch > 0 and qc.max_bytes and bytes + #e > qc.max_bytes then break end
    batch[#batch + 1] = remove(q.entries, 1)
    bytes = bytes + #e
  end
  q.bytes = q.bytes - bytes
  q.first_at = turnpike.now()
  if qc.max_batch_size == 1 then return batch[1], 1 end
  return "[" .. concat(batch, ",") .. "]", #batch
end

local function enqueue(conf, q, entry)
  local qc = conf.queue
  if #q.entries >= qc.max_entries then
    local dropped = remove(q.entries, 1)
    q.bytes = q.bytes - #dropped
    turnpike.log.warn("queue full (", qc.max_entries, " entries), dropping the oldest entry")
  end
  if #q.entries == 0 then q.first_at = turnpike.now() end
  q.entries[#q.entries + 1] = entry
  q.bytes = q.bytes + #entry
end

function HttpLogHandler:log(conf)
  local entry, err = cjson.encode(turnpike.log.serialize())
  if not entry then return turnpike.log.err("cannot encode the log entry: ", err) end
  local q = queue_of(conf)
  enqueue(conf, q, entry)
  -- with concurrency_limit 1, the log phase already sending drains what we just queued
  if q.sending and conf.queue.concurrency_limit == 1 then return end
  q.sending = true
  local ok, perr = pcall(function()
    while ready(conf, q) do
      send_with_retries(conf, take(conf, q))
    end
  end)
  q.sending = false
  if not ok then error(perr, 0) end
end

HttpLogHandler.queues = queues

return HttpLogHandler
