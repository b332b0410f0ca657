-- proxy-cache: Kong's proxy-cache over turnpike's shared response cache (core/tp_cache.c).
--
-- access decides whether the request may be answered from the cache (rules.request), builds
-- the key (key.build) and asks the cache. The cache answers one of:
--   HIT / STALE      the core serves the stored copy itself once access is over; STALE also
--                    refreshes the entry in the background (one refresh per key)
--   MISS_FILL        this request is the one that goes upstream for the key; header_filter
--                    decides whether the answer is stored (rules.response)
--   MISS_STALE_OK    the same, and if the service fails or answers 5xx the core serves the
--                    stale copy instead (stale_if_error)
--   MISS_NOFILL      go upstream, store nothing (no room, or waiting for a fill timed out)
-- While another request fills the key the lookup waits (coalescing), yielding only this
-- request. Headers set here are queued and land on whichever response the client gets.
--
-- The body never passes through Lua: the core copies the service's bytes into the cache as
-- they stream to the client, and serves hits straight from shared memory.
local cache = require "turnpike.ffi.cache"
local key_mod = require "kong.plugins.proxy-cache.key"
local rules = require "kong.plugins.proxy-cache.rules"

local turnpike = turnpike

local ipairs = ipairs
local next = next
local floor = math.floor

local STATUS = "X-Cache-Status"
local KEY = "X-Cache-Key"
local AGE = "Age"
local ST_HIT, ST_MISS, ST_BYPASS, ST_REFRESH, ST_STALE = "Hit", "Miss", "Bypass", "Refresh",
                                                           "Stale"
local ERR_NOT_CACHED = "Not cached"
-- How long a request waits for another one filling the same key before it goes upstream on
-- its own (the cache answers MISS_NOFILL then).
local LOCK_TIMEOUT_MS = 5000

-- what this request does with the cache (ctx.plugin.mode): nothing (bypass), answered from it
-- (serve), fills it (fill), or goes upstream without storing (nofill)
local MODE_BYPASS, MODE_SERVE, MODE_FILL, MODE_NOFILL = "bypass", "serve", "fill", "nofill"

local ProxyCacheHandler = { PRIORITY = 100, VERSION = "1.0.0" }

local function send(conf, name, value)
  local switches = conf.response_headers
  local on
  if name == AGE then on = not switches or switches.age ~= false
  else on = not switches or switches[name] ~= false end
  if on then turnpike.response.set_header(name, value) end
end

local function hide(conf, name)
  local switches = conf.response_headers
  if switches and switches[name] == false then turnpike.response.clear_header(name) end
end

-- The request as key.build wants it.
local function key_request(conf, consumer_id, route_id, method, path, vary_values)
  local headers = {}
  if vary_values then
    for i, name in ipairs(conf.vary_headers) do headers[name:lower()] = vary_values[i] end
  end
  return {
    consumer_id = consumer_id,
    route_id = route_id,
    method = method,
    path = path,
    query = turnpike.request.get_query(),
    headers = headers,
  }
end

-- Keys already computed, per configuration: key.build depends only on the route, the
-- consumer, the method, the path, the raw query and the vary_headers values, so a request
-- whose identity was seen before skips the query parsing and the digest. Bounded: the table
-- starts over when it holds MEMO_MAX keys (a client sending endless distinct URLs costs a
-- digest each, as without the memo). Weak keys: a replaced configuration takes its keys along.
local MEMO_MAX = 4096
local memo_of = setmetatable({}, { __mode = "k" })

local function request_key(conf, consumer_id)
  local route = turnpike.router.get_route()
  local route_id = route and route.id or ""
  local method = turnpike.request.get_method()
  local path = turnpike.request.get_path()
  local vary, vary_values = "", nil
  if conf.vary_headers and #conf.vary_headers > 0 then
    local all = turnpike.request.get_headers()
    vary_values = {}
    for i, name in ipairs(conf.vary_headers) do vary_values[i] = all[name] end
    vary = key_mod.values_text(vary_values, #conf.vary_headers)
  end
  local identity = route_id .. "\0" .. (consumer_id or "") .. "\0" .. method .. "\0" .. path
                   .. "\0" .. turnpike.request.get_raw_query() .. "\0" .. vary
  local memo = memo_of[conf]
  if not memo then
    memo = { n = 0 }
    memo_of[conf] = memo
  end
  local key = memo[identity]
  if key then return key end
  key = key_mod.build(conf, key_request(conf, consumer_id, route_id, method, path, vary_values))
  if memo.n >= MEMO_MAX then
    memo = { n = 0 }
    memo_of[conf] = memo
  end
  memo[identity] = key
  memo.n = memo.n + 1
  return key
end

-- refresh: go upstream for key and store the answer (Refresh), coalesced with other fills
local function refresh(conf, plugin_ctx, r, key)
  local rc = cache.refresh(r, key, LOCK_TIMEOUT_MS)
  plugin_ctx.mode = rc == cache.MISS_FILL and MODE_FILL or MODE_NOFILL
  send(conf, STATUS, ST_REFRESH)
end

function ProxyCacheHandler:access(conf)
  local plugin_ctx = turnpike.ctx.plugin
  local consumer = turnpike.client.get_consumer()
  local consumer_id = consumer and consumer.id or nil
  local authorization = turnpike.request.get_header("authorization") ~= nil
  -- every Cache-Control line counts, but the whole header table is built only when one is there
  local cache_control = conf.cache_control and turnpike.request.get_header("cache-control")
                        and turnpike.request.get_headers()["cache-control"] or nil
  local action, cc = rules.request(conf, {
    method = turnpike.request.get_method(),
    cache_control = cache_control,
    pragma = conf.cache_control and turnpike.request.get_header("pragma") or nil,
    authorization = authorization,
    consumer_id = consumer_id,
    authorization_in_key = key_mod.vary_covers(conf, "authorization"),
  })
  if action == rules.BYPASS then
    plugin_ctx.mode = MODE_BYPASS
    send(conf, STATUS, ST_BYPASS)
    return
  end

  local key = request_key(conf, consumer_id)
  plugin_ctx.key = key
  plugin_ctx.authorization = authorization
  plugin_ctx.authorization_keyed = consumer_id ~= nil
                                   or key_mod.vary_covers(conf, "authorization")
  send(conf, KEY, key)

  local r = turnpike.backend.current()
  if action == rules.REFRESH then
    -- the client refuses stored answers (no-cache): fetch, and store what comes back
    return refresh(conf, plugin_ctx, r, key)
  end

  local rc, age = cache.lookup(r, key, conf.stale_while_revalidate * 1000,
                               conf.stale_if_error * 1000, LOCK_TIMEOUT_MS)
  plugin_ctx.age = age
  if (rc == cache.HIT or rc == cache.STALE) and cc and next(cc) ~= nil
     and not rules.accept_cached(conf, cc, age, age + cache.copy_ttl(r) / 1000) then
    -- the copy is older than the request's max-age allows, or not fresh enough for its
    -- min-fresh: refuse it and fetch a new one
    cache.skip(r)
    return refresh(conf, plugin_ctx, r, key)
  end
  if rc == cache.HIT or rc == cache.STALE then
    -- the core serves the copy; a STALE lookup may also have made this request the refresher
    plugin_ctx.mode = rc == cache.STALE and MODE_FILL or MODE_SERVE
    plugin_ctx.served = true
    send(conf, STATUS, rc == cache.HIT and ST_HIT or ST_STALE)
    send(conf, AGE, age)
    return
  end

  -- RFC 9111 section 5.2.1.7: only-if-cached and nothing usable is stored
  if cc and cc["only-if-cached"] then
    cache.skip(r)
    plugin_ctx.mode = MODE_BYPASS
    send(conf, STATUS, ST_MISS)
    return turnpike.response.exit(504, { message = ERR_NOT_CACHED })
  end

  plugin_ctx.mode = (rc == cache.MISS_FILL or rc == cache.MISS_STALE_OK) and MODE_FILL
                    or MODE_NOFILL
  plugin_ctx.stale_ok = rc == cache.MISS_STALE_OK
  send(conf, STATUS, ST_MISS)
end

-- vary_covers_of(conf) -> function(name): does the key vary on that header (made apart from
-- header_filter: a closure there would keep the whole phase out of the JIT)
local function vary_covers_of(conf)
  return function(name) return key_mod.vary_covers(conf, name) end
end

-- Runs for the service's answer and also for a cached copy the core serves (a hit, or the
-- stale copy standing in for a failed service): only the service's answer can be stored.
function ProxyCacheHandler:header_filter(conf)
  local plugin_ctx = turnpike.ctx.plugin
  local mode = plugin_ctx.mode
  if mode == nil or mode == MODE_BYPASS then return end
  local r, ctx = turnpike.backend.current()

  if ctx and ctx.exited then
    -- a plugin after this one answered itself: the client does not get the cached copy
    if plugin_ctx.served then
      turnpike.response.clear_header(AGE)
      turnpike.response.clear_header(STATUS)
    end
    return
  end
  if turnpike.response.get_source() ~= "service" then
    if plugin_ctx.stale_ok then
      -- the stale copy replaced a failed or 5xx service answer (the core set X-Cache-Status)
      send(conf, AGE, plugin_ctx.age)
      hide(conf, STATUS)
    end
    return
  end
  if mode == MODE_SERVE then return end

  -- the service's answer: a stale copy's refresh, a fill, or a miss that may not fill (Kong
  -- says Bypass for every answer it would not store)
  local svc = turnpike.service.response
  local ttl, swr, sie = rules.response(conf, {
    status = svc.get_status(),
    content_type = svc.get_header("content-type"),
    cache_control = svc.get_headers()["cache-control"],
    set_cookie = svc.get_header("set-cookie") ~= nil,
    vary = svc.get_headers()["vary"],
    expires = svc.get_header("expires"),
    date = svc.get_header("date"),
    age = svc.get_header("age"),
    authorization = plugin_ctx.authorization,
    keyed = plugin_ctx.authorization_keyed,
  }, floor(turnpike.now() / 1000), vary_covers_of(conf))
  if not ttl then
    send(conf, STATUS, ST_BYPASS)
    cache.skip(r)
    return
  end
  if mode ~= MODE_FILL then return end
  local ttl_ms, swr_ms, sie_ms = rules.lifetimes(conf, ttl, swr, sie)
  if cache.store(r, ttl_ms, swr_ms, sie_ms) < 0 then cache.skip(r) end
end

return ProxyCacheHandler
