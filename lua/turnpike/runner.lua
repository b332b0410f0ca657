-- turnpike.runner: the plugin runtime of one generation.
--
--   local rn = runner.new{ cfg = cfg, router = router, plugins = { [name] = loaded },
--                          backend = backend, sdk = turnpike }
--   rn:init_worker()                  once per generation (init_worker, then configure)
--   rn:process(r, ctx)                rewrite (global plugins), routing, access
--   rn:header_filter(r, ctx)          rn:body_filter(r, ctx, chunk, eof) -> chunk
--   rn:log(r, ctx)                    rn:has_phase(name) -> bool
--
-- Everything a request needs is built here once per generation: the plugin index (by route,
-- service, consumer and their combinations), the execution order (PRIORITY descending, then
-- name) and the lookup tables plugins read through turnpike.db:
--   db.consumers_by_id / consumers_by_username / consumers_by_custom_id [key] -> consumer
--   db.keyauth_credentials[key] -> { id, key, consumer = { id }, ... }
--   db.jwt_secrets[key]         -> { id, key, secret, algorithm, ..., consumer = { id } }
--   db.acls[consumer_id]        -> { "group", ... }
--   db.upstreams_by_name[name]  -> upstream
--
-- A plugin's response.exit stops the phase chain (ctx.exited is the flag; no error string is
-- ever matched). A plugin error gives the request a 500 (rewrite, access) and one error log
-- line naming the plugin, the phase and the traceback; in header_filter, body_filter and log
-- the other plugins still run. Handlers are called directly, not through pcall: LuaJIT cannot
-- compile a side trace that returns through a pcall frame it did not enter, so with a pcall
-- around each handler every request that leaves a plugin's compiled path (a token not seen
-- before, a limit reached) ran the rest of that plugin in the interpreter. Errors are caught
-- where the core enters Lua (the request's coroutine, the filter call), which then calls
-- worker.failed -> runner:failed, and enters the phase again for the plugins after the one
-- that failed (ctx.resume_after).
local sdk_mod = require "turnpike.sdk"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring
local xpcall = xpcall
local format = string.format
local sort = table.sort
local traceback = debug.traceback

local ERR_UNEXPECTED = '{"message":"An unexpected error occurred"}'
local ERR_NO_ROUTE = '{"message":"no Route matched with those values"}'
local JSON_HEADERS = { ["content-type"] = "application/json; charset=utf-8" }
local ERR_USE_HTTPS = '{"message":"Please use HTTPS protocol"}'
local UPGRADE_HEADERS = { ["content-type"] = JSON_HEADERS["content-type"],
                          ["Upgrade"] = "TLS/1.2, HTTP/1.1" } -- C adds Connection: Upgrade
local ERR_USE_WEBSOCKET = '{"message":"This route takes WebSocket upgrades only"}'
local WEBSOCKET_HEADERS = { ["content-type"] = JSON_HEADERS["content-type"],
                            ["Upgrade"] = "websocket" }
local PHASES = { "init_worker", "rewrite", "access", "header_filter", "body_filter", "log" }

local function id_of(entity)
  if type(entity) == "table" then return entity.id or entity.name end
  return entity
end

local function key(route_id, service_id, consumer_id)
  return (route_id or "") .. "|" .. (service_id or "") .. "|" .. (consumer_id or "")
end

local function on_error(e)
  return traceback(tostring(e), 2)
end

local function build_db(cfg)
  local db = {
    consumers_by_id = {}, consumers_by_username = {}, consumers_by_custom_id = {},
    keyauth_credentials = {}, jwt_secrets = {}, acls = {}, upstreams_by_name = {},
  }
  for _, c in ipairs(cfg.consumers or {}) do
    if c.id then db.consumers_by_id[c.id] = c end
    if c.username then db.consumers_by_username[c.username] = c end
    if c.custom_id then db.consumers_by_custom_id[c.custom_id] = c end
    local ref = { id = c.id }
    for _, cred in ipairs(c.keyauth_credentials or {}) do
      local copy = { consumer = ref }
      for k, v in pairs(cred) do if k ~= "consumer" then copy[k] = v end end
      db.keyauth_credentials[cred.key] = copy
    end
    for _, s in ipairs(c.jwt_secrets or {}) do
      local copy = { consumer = ref }
      for k, v in pairs(s) do if k ~= "consumer" then copy[k] = v end end
      if s.key then db.jwt_secrets[s.key] = copy end
    end
    local groups = {}
    for _, a in ipairs(c.acls or {}) do groups[#groups + 1] = a.group end
    db.acls[c.id] = groups
  end
  for _, u in ipairs(cfg.upstreams or {}) do
    if u.name then db.upstreams_by_name[u.name] = u end
  end
  return db
end

local _M = {}
local mt = { __index = _M }

-- new(gen) -> runner. Plugins named in cfg.plugins must be in gen.plugins.
function _M.new(gen)
  assert(type(gen) == "table", "gen must be a table")
  assert(gen.backend and gen.sdk and gen.router, "gen needs backend, sdk and router")
  local cfg = gen.cfg or {}
  local self = setmetatable({
    gen = gen, backend = gen.backend, sdk = gen.sdk, router = gen.router,
    index = {}, order = {}, phases = {}, consumers_with_plugins = {}, cache = {},
  }, mt)
  self.db = build_db(cfg)
  gen.sdk.db = self.db
  sdk_mod.install(gen.sdk)

  local names = {}
  for _, p in ipairs(cfg.plugins or {}) do
    -- plugins keep per-instance state (counters, caches) under their entity id
    if type(p.config) == "table" and p.id then p.config.__key = p.id end
    if p.enabled ~= false then
      local loaded = gen.plugins and gen.plugins[p.name]
      if not loaded then error("plugin '" .. tostring(p.name) .. "' is not loaded", 2) end
      local by = self.index[p.name]
      if not by then
        by = {}
        self.index[p.name] = by
        names[#names + 1] = p.name
      end
      local c = id_of(p.consumer)
      by[key(id_of(p.route), id_of(p.service), c)] = p
      if c then self.consumers_with_plugins[c] = true end
    end
  end

  local function priority(name)
    local l = gen.plugins[name]
    return l.priority or (l.handler and l.handler.PRIORITY) or 0
  end
  sort(names, function(a, b)
    local pa, pb = priority(a), priority(b)
    if pa ~= pb then return pa > pb end
    return a < b
  end)
  for i, name in ipairs(names) do
    local l = gen.plugins[name]
    self.order[i] = { name = name, handler = l.handler, rank = i, priority = priority(name) }
    for _, ph in ipairs(PHASES) do
      if type(l.handler[ph]) == "function" then self.phases[ph] = true end
    end
  end
  self.globals = self:collect(nil, nil, nil)
  return self
end

-- only_schemes(protocols) -> nil when a plugin runs for http and https requests alike (the
-- default), else the set of the two it runs for: Kong's plugin `protocols` ("the request
-- protocols that will trigger this plugin"); ws/wss count as http/https (an upgrade arrives
-- over either)
local function only_schemes(protocols)
  if type(protocols) ~= "table" then return nil end
  local set = {}
  for _, p in ipairs(protocols) do
    if p == "ws" then p = "http" elseif p == "wss" then p = "https" end
    if p == "http" or p == "https" then set[p] = true end
  end
  if set.http and set.https then return nil end
  return set
end

-- collect(route, service, consumer) -> { {name, handler, conf, rank, plugin} ... } in
-- execution order, one entry per plugin name, chosen by Kong's precedence:
-- route+service+consumer > route+consumer > service+consumer > route+service > consumer >
-- route > service > global.
function _M:collect(route, service, consumer)
  local c = id_of(consumer)
  if c and not self.consumers_with_plugins[c] then c = nil end
  -- without a consumer the answer depends on (route, service) only: cached by the
  -- entity tables themselves, so a request builds no key string
  local by_route
  if not c then
    by_route = self.cache[route or self]
    local hit = by_route and by_route[service or self]
    if hit then return hit end
  end
  local r, s = id_of(route), id_of(service)

  local candidates = {
    c and r and s and key(r, s, c), c and r and key(r, nil, c), c and s and key(nil, s, c),
    r and s and key(r, s, nil), c and key(nil, nil, c), r and key(r, nil, nil),
    s and key(nil, s, nil), key(nil, nil, nil),
  }
  local list = {}
  for _, o in ipairs(self.order) do
    local by = self.index[o.name]
    for i = 1, 8 do
      local k = candidates[i]
      local p = k and by[k]
      if p then
        list[#list + 1] = { name = o.name, handler = o.handler, conf = p.config or {},
                            rank = o.rank, plugin = p, only = only_schemes(p.protocols) }
        break
      end
    end
  end
  -- route/service pairs are bounded by the config; consumers are not, so those stay uncached
  if not c then
    if not by_route then
      by_route = {}
      self.cache[route or self] = by_route
    end
    by_route[service or self] = list
  end
  return list
end

function _M:has_phase(name)
  return self.phases[name] == true
end

-- call(self, ctx, entry, phase, ...): entry's handler for phase. ctx.plugin_entry names the
-- running plugin for runner:failed if the handler raises.
local function call(self, ctx, entry, phase, ...)
  local only = entry.only
  if only and not only[ctx.scheme] then return end -- not for this request's protocol
  local h = entry.handler
  local data = ctx.plugin_data
  ctx.phase = phase
  ctx.plugin_name = entry.name
  ctx.plugin_entry = entry
  -- the plugin's private table, made on first use by turnpike.ctx.plugin (most plugins never
  -- touch it: no table per plugin per request)
  ctx.plugin = data and data[entry.name]
  h[phase](h, entry.conf, ...)
  ctx.plugin_name = nil
  ctx.plugin_entry = nil
  ctx.plugin = nil
end

-- access_one(...) -> go, consumer, own_list: the access phase of list[i]. go is false when the
-- request is over (a plugin answered, or failed). consumer: the consumer authenticated so far;
-- own_list: ctx.plugins was made for a consumer with plugins of its own. When a plugin
-- authenticates a consumer whose plugins change what runs next, ctx.plugins is re-collected:
-- what already ran stays, plugins ordered after this one are looked up again.
local function access_one(self, r, ctx, route, service, list, i, consumer, own_list)
  local e = list[i]
  if not e.handler.access then return true, consumer, own_list end
  call(self, ctx, e, "access")
  if ctx.exited then return false end
  local c = ctx.authenticated_consumer
  -- what runs next changes only if the new consumer has plugins of its own or the list was
  -- made for a consumer that had: otherwise keep the list (no work)
  local own = c ~= nil and self.consumers_with_plugins[id_of(c)] or false
  if c ~= consumer and (own or own_list) then
    local merged = {}
    for j = 1, i do merged[j] = list[j] end
    for _, ne in ipairs(self:collect(route, service, c)) do
      if ne.rank > e.rank then merged[#merged + 1] = ne end
    end
    ctx.plugins = merged
    return true, c, own
  end
  return true, c, own_list
end

-- process(r, ctx): rewrite of global plugins, routing, then access with re-collection once a
-- plugin authenticates a consumer. Returns when the core should proxy (unless ctx.exited).
function _M:process(r, ctx)
  local backend = self.backend
  ctx.plugins = self.globals
  local scheme = backend.get_scheme(r)
  ctx.scheme = scheme

  -- Kong runs rewrite before routing, so only global plugins take part.
  if self.phases.rewrite then
    for _, e in ipairs(self.globals) do
      if e.handler.rewrite then
        call(self, ctx, e, "rewrite")
        if ctx.exited then return end
      end
    end
  end

  ctx.phase = "access"
  local match = self.router:match(backend.get_method(r), backend.get_path(r),
                                  backend.get_host(r), backend.get_header, scheme, r)
  if not match then
    ctx.exited = true
    return backend.resp_exit(r, 404, ERR_NO_ROUTE, JSON_HEADERS)
  end
  if match.https_only and scheme ~= "https" then
    -- Kong: an https-only route over plain http answers https_redirect_status_code
    ctx.exited = true
    local code = match.route.https_redirect_status_code or 426
    if code == 426 then return backend.resp_exit(r, 426, ERR_USE_HTTPS, UPGRADE_HEADERS) end
    local q = backend.get_raw_query(r)
    return backend.resp_exit(r, code, nil, { Location = "https://" .. backend.get_host(r)
      .. backend.get_path(r) .. (q ~= "" and ("?" .. q) or "") })
  end
  if match.upgrade_only and not backend.is_upgrade(r) then
    -- a ws/wss route: a request that does not ask to upgrade is told what would be taken
    ctx.exited = true
    return backend.resp_exit(r, 426, ERR_USE_WEBSOCKET, WEBSOCKET_HEADERS)
  end
  local route, service = match.route, match.service
  ctx.route, ctx.service, ctx.route_match = route, service, match
  if match.upstream_path then
    ctx.upstream_uri = match.upstream_path
    backend.set_path(r, match.upstream_path)
  end

  local list = self:collect(route, service, nil)
  ctx.plugins = list
  -- The first plugins run unrolled: a loop that turns once or twice per request can never
  -- become a compiled loop trace, and would keep the whole access phase interpreted.
  if #list == 0 then ctx.phase = nil return end
  local go, consumer, own_list = access_one(self, r, ctx, route, service, list, 1, nil, false)
  if not go then return end
  list = ctx.plugins
  if #list >= 2 then
    go, consumer, own_list = access_one(self, r, ctx, route, service, list, 2, consumer, own_list)
    if not go then return end
    list = ctx.plugins
    if #list >= 3 then
      go, consumer, own_list = access_one(self, r, ctx, route, service, list, 3, consumer, own_list)
      if not go then return end
      list = ctx.plugins
      local i = 4
      while i <= #list do
        go, consumer, own_list = access_one(self, r, ctx, route, service, list, i, consumer, own_list)
        if not go then return end
        list = ctx.plugins
        i = i + 1
      end
    end
  end
  ctx.phase = nil
end

-- each_plugin(self, ctx, list, phase): `phase` of every plugin in list that has it, the first
-- three unrolled (as in access: a loop of one turn keeps the phase out of the JIT)
local function phase_of_one(self, ctx, e, phase)
  if e.handler[phase] then call(self, ctx, e, phase) end
end

-- the phase entered again after a plugin failed in it: the plugins after that one
local function each_plugin_after(self, ctx, list, phase)
  local failed = ctx.resume_after
  ctx.resume_after = nil
  local after = false
  for i = 1, #list do
    local e = list[i]
    if after then phase_of_one(self, ctx, e, phase) end
    after = after or e == failed
  end
  ctx.phase = nil
end

local function each_plugin(self, ctx, list, phase)
  if ctx.resume_after then return each_plugin_after(self, ctx, list, phase) end
  local n = #list
  if n >= 1 then phase_of_one(self, ctx, list[1], phase) end
  if n >= 2 then phase_of_one(self, ctx, list[2], phase) end
  if n >= 3 then
    phase_of_one(self, ctx, list[3], phase)
    for i = 4, n do phase_of_one(self, ctx, list[i], phase) end
  end
  ctx.phase = nil
end

function _M:header_filter(r, ctx)
  each_plugin(self, ctx, ctx.plugins or self.globals, "header_filter")
end

-- body_filter(r, ctx, chunk, eof) -> chunk. Plugins see and change the chunk through
-- turnpike.response.get_raw_body/set_raw_body.
function _M:body_filter(r, ctx, chunk, eof)
  local bf = ctx.body_filter
  if not bf then
    bf = { buffers = {} }
    ctx.body_filter = bf
  end
  local list = ctx.plugins or self.globals
  local failed = ctx.resume_after
  local after = failed == nil
  -- entered again after a plugin failed: go on with the chunk as it was before that plugin
  if failed then
    ctx.resume_after = nil
    chunk = bf.input
  end
  for _, e in ipairs(list) do
    if after and e.handler.body_filter then
      bf.input = chunk
      bf.chunk, bf.eof = chunk, eof
      call(self, ctx, e, "body_filter")
      chunk = bf.chunk
    end
    after = after or e == failed
  end
  ctx.phase = nil
  return chunk
end

-- failed(r, ctx, err) -> nil | false | true: a handler raised err, caught where the core
-- entered Lua (see the top of this file). nil: no plugin was running (not a plugin's error);
-- false: logged, the request is answered 500 by the core (rewrite, access); true: logged, the
-- phase is to be entered again and goes on with the plugins after the failing one.
function _M:failed(r, ctx, err)
  local e, phase = ctx.plugin_entry, ctx.phase
  if e == nil then return nil end
  ctx.plugin_entry, ctx.plugin_name, ctx.plugin = nil, nil, nil
  self.backend.log("err", format("plugin %s failed in %s phase: %s", e.name, phase, err))
  if phase == "rewrite" or phase == "access" then
    ctx.unexpected_error = true
    ctx.exited = true
    ctx.phase = nil
    return false
  end
  ctx.resume_after = e
  return true
end

function _M:log(r, ctx)
  each_plugin(self, ctx, ctx.plugins or self.globals, "log")
end

-- init_worker(): each configured plugin's init_worker, then configure(configs) with the list
-- of its enabled configurations (Kong 3.4's hook), once per generation.
function _M:init_worker()
  local backend = self.backend
  for _, o in ipairs(self.order) do
    local h = o.handler
    if h.init_worker then
      local ok, err = xpcall(h.init_worker, on_error, h)
      if not ok then
        backend.log("err", format("plugin %s failed in init_worker phase: %s", o.name, err))
      end
    end
    if h.configure then
      local configs = {}
      for _, p in pairs(self.index[o.name]) do configs[#configs + 1] = p.config end
      local ok, err = xpcall(h.configure, on_error, h, configs)
      if not ok then
        backend.log("err", format("plugin %s failed in configure phase: %s", o.name, err))
      end
    end
  end
end

return _M
