-- turnpike.spec: the plugin author's test kit.
--
-- Unit mode (this file) runs plugins in-process over the fake backend: no sockets, no
-- processes, a controllable clock. Integration helpers (a real gateway on a free port) live in
-- turnpike/spec/integration.lua and are reachable as tp.integration.
--
--   local tp = require "turnpike.spec"
--   local res = tp.run_plugin("key-auth", { key_names = { "apikey" } }, {
--     method = "GET", path = "/x", query = "a=1", headers = { apikey = "k" }, body = nil,
--     consumers = { { username = "alice", keyauth_credentials = { { key = "k" } } } },
--     consumer = "alice",          -- authenticate this consumer (id or username) first
--     plugins = { { name = "acl", config = {...} },     -- more plugins on the same route;
--                 { name = "x", handler = { PRIORITY = 1, access = function(self, conf) end } } },
--     route = {...}, service = {...}, upstream = function(req) return {status=,headers=,body=} end,
--   })
--   res.status, res.body (decoded when JSON), res.raw_body, res.headers (any-case keys),
--   res.upstream.{method,path,query,headers,body} (nil when the gateway answered itself),
--   res.ctx, res.logs ({level,msg}), res.consumer, res.credential
--
--   tp.request_chain(cfg, request)  the whole runner with a declarative config table
--   tp.fake_http(pattern, responder), tp.fake_redis(commands), tp.clock:advance(ms), tp.reset()
local cjson = require "cjson.safe"
local fake = require "turnpike.backend.fake"
local sdk_mod = require "turnpike.sdk"
local runner = require "turnpike.runner"
local plugins = require "turnpike.plugins"
local schema = require "turnpike.schema"
local config = require "turnpike.config"
local router_mod = require "turnpike.router"

local type = type
local pairs = pairs
local ipairs = ipairs
local tostring = tostring

local MAX_RESUMES = 100000
local SPEC_AUTH = "spec-authenticate"

local _M = { plugins_path = {} }

-- One backend and one SDK for the whole process: plugin handlers cache the `turnpike` global
-- when they load, so it must never change under them. tp.reset() clears the backend's state.
local backend = fake.new()
local turnpike = sdk_mod.install(sdk_mod.new(backend))
_M.backend = backend
_M.sdk = turnpike
_M.clock = backend.clock

-- reset(): a clean backend (logs, fake I/O answers, redis data, clock) for the next test.
function _M.reset()
  backend.reset()
  -- shared memory belongs to the whole spec process: counters must not leak between tests
  local ok, shm = pcall(require, "turnpike.ffi.shm")
  if ok then shm.flush("ratelimit"); shm.flush("breaker") end
  return _M
end

function _M.fake_http(pattern, responder) backend.fake_http(pattern, responder) end
function _M.fake_redis(commands) backend.fake_redis(commands) end

-- load_plugin(name, plugins_path) -> {name, handler, schema, priority, version}
function _M.load_plugin(name, plugins_path)
  local p, err = plugins.load(name, plugins_path or _M.plugins_path)
  if not p then error(err, 2) end
  return p
end

-- validate(plugin, conf) -> conf | nil, err: exactly what the gateway does with a config.
function _M.validate(plugin, conf)
  return schema.validate(plugin.schema, conf or {})
end

-- A built-in plugin the kit uses to authenticate opts.consumer before anything else runs.
local function spec_auth_plugin()
  local handler = { PRIORITY = math.huge, VERSION = "0" }
  function handler:access(conf)
    local c = turnpike.client.load_consumer(conf.consumer, true)
    if not c then error("spec: no consumer '" .. conf.consumer .. "'") end
    turnpike.client.authenticate(c, conf.credential)
  end
  return { name = SPEC_AUTH, handler = handler, schema = { fields = {} },
           priority = handler.PRIORITY }
end

local function default_upstream(req)
  return {
    status = 200,
    headers = { ["Content-Type"] = "application/json" },
    body = cjson.encode({ method = req.method, path = req.path, query = req.query,
                          headers = req.headers, body = req.body }),
  }
end

-- drive(fn, phase) -> true | false, err: fn in a coroutine resumed until it ends (the fake
-- backend's I/O completes at once); err carries the coroutine's traceback.
local function drive(fn, phase)
  local co = coroutine.create(fn)
  local ok, err = coroutine.resume(co)
  local n = 0
  while ok and coroutine.status(co) ~= "dead" do
    n = n + 1
    if n > MAX_RESUMES then error("spec: " .. phase .. " never finished", 0) end
    ok, err = coroutine.resume(co)
  end
  if not ok then return false, debug.traceback(co, err) end
  return true
end

local function call_traced(fn)
  return xpcall(fn, function(e) return debug.traceback(e, 2) end)
end

local ERR_UNEXPECTED = '{"message":"An unexpected error occurred"}'
local JSON_HEADERS = { ["Content-Type"] = "application/json; charset=utf-8" }

-- guarded(rn, r, ctx, phase, run) -> done, value: one Lua entry point as the core runs
-- it (see worker.failed): a plugin's error goes to rn:failed, the request gets a 500 after
-- rewrite/access, and filters and log are entered again for the plugins after the failing
-- one. An error from outside any plugin fails the spec.
local function guarded(rn, r, ctx, phase, run)
  for _ = 1, 64 do
    local ok, value = run() -- true, value | false, err with its traceback
    if ok then return true, value end
    local err = value
    local again = rn:failed(r, ctx, err)
    if again == nil then error(err, 0) end
    if not again then
      if phase == "access" then backend.resp_exit(r, 500, ERR_UNEXPECTED, JSON_HEADERS) end
      return false
    end
  end
  error("spec: " .. phase .. " failed too often", 0)
end

local function finish_res(r, ctx, first_log)
  local resp = r.response
  local headers = require("turnpike.sdk.util").headers_table(fake.headers_all(resp.headers))
  local body = resp.body
  local ct = headers["content-type"]
  local decoded = body
  if type(ct) == "string" and ct:find("json", 1, true) and type(body) == "string" then
    local v = cjson.decode(body)
    if v ~= nil then decoded = v end
  end
  local logs = {}
  for i = first_log, #backend.logs do logs[#logs + 1] = backend.logs[i] end
  return {
    status = resp.status, body = decoded, raw_body = body, headers = headers,
    upstream = r.service_response and r.upstream or nil,
    ctx = ctx, logs = logs, consumer = ctx.authenticated_consumer,
    credential = ctx.authenticated_credential, request = r,
  }
end

-- execute(rn, request, opts) -> res: one request through a runner, as the core would run it.
function _M.execute(rn, request, opts)
  opts = opts or {}
  local first_log = #backend.logs + 1
  local r = backend.request(request)
  local ctx = r.ctx
  guarded(rn, r, ctx, "access", function()
    return drive(function() backend.bind(r); rn:process(r, ctx) end, "access")
  end)
  if not r.exited then backend.proxy(r, opts.upstream or request.upstream or default_upstream) end
  backend.bind(r)
  if rn:has_phase("header_filter") then
    guarded(rn, r, ctx, "header_filter", function()
      return call_traced(function() rn:header_filter(r, ctx) end)
    end)
  end
  if rn:has_phase("body_filter") then
    local body = r.response.body or ""
    local done, out = guarded(rn, r, ctx, "body_filter", function()
      return call_traced(function() return rn:body_filter(r, ctx, body, true) end)
    end)
    r.response.body = done and out or body
  end
  guarded(rn, r, ctx, "log", function()
    return drive(function() backend.bind(r); rn:log(r, ctx) end, "log")
  end)
  backend.active = nil
  return finish_res(r, ctx, first_log)
end

local function stub_router(route, service, captures)
  return {
    match = function(_, _, path)
      return { route = route, service = service, upstream_path = path, uri_captures = captures }
    end,
  }
end

-- run_plugin(name, conf, opts) -> res (see the top of this file)
function _M.run_plugin(name, conf, opts)
  opts = opts or {}
  local loaded = { [name] = _M.load_plugin(name, opts.plugins_path) }
  local service = opts.service or { id = "service-1", name = "service", host = "upstream",
                                    port = 80, protocol = "http" }
  local route = opts.route or { id = "route-1", name = "route", paths = { "/" },
                                service = service }
  local config, err = _M.validate(loaded[name], conf)
  if not config then error("invalid config for " .. name .. ": " .. tostring(err), 2) end
  local plugins = { { id = name .. "-1", name = name, config = config, route = route } }
  for i, extra in ipairs(opts.plugins or {}) do
    local c, e
    if extra.handler then
      -- an inline handler table: used as is, its config unvalidated
      loaded[extra.name] = { name = extra.name, handler = extra.handler,
                             priority = extra.handler.PRIORITY or 0, schema = { fields = {} } }
      c = extra.config or {}
    else
      loaded[extra.name] = loaded[extra.name] or _M.load_plugin(extra.name, opts.plugins_path)
      c, e = _M.validate(loaded[extra.name], extra.config)
      if not c then error("invalid config for " .. extra.name .. ": " .. tostring(e), 2) end
    end
    plugins[#plugins + 1] = { id = extra.name .. "-" .. (i + 1), name = extra.name,
                              config = c, route = route }
  end
  local consumers = {}
  for i, c in ipairs(opts.consumers or {}) do
    consumers[i] = c
    c.id = c.id or ("consumer-" .. (c.username or c.custom_id or i))
    for j, cred in ipairs(c.keyauth_credentials or {}) do
      cred.id = cred.id or (c.id .. "-key-" .. j)
    end
  end
  if opts.consumer then
    loaded[SPEC_AUTH] = spec_auth_plugin()
    plugins[#plugins + 1] = { id = SPEC_AUTH, name = SPEC_AUTH, route = route,
                              config = { consumer = opts.consumer, credential = opts.credential } }
  end
  local cfg = { services = { service }, routes = { route }, consumers = consumers,
                plugins = plugins, upstreams = opts.upstreams or {} }
  local rn = runner.new({ cfg = cfg, router = stub_router(route, service, opts.uri_captures),
                          plugins = loaded, backend = backend, sdk = turnpike })
  rn:init_worker()
  return _M.execute(rn, opts, opts)
end

-- gen_from(cfg) -> gen: the runner's generation for an already-normalized config.
function _M.gen_from(cfg, router, plugins_path)
  local loaded = {}
  for _, p in ipairs(cfg.plugins or {}) do
    loaded[p.name] = loaded[p.name] or _M.load_plugin(p.name, plugins_path)
  end
  return { cfg = cfg, router = router, plugins = loaded, backend = backend, sdk = turnpike }
end

-- request_chain(cfg_table, request, opts) -> res: a mini gateway in-process. cfg_table is a
-- declarative config (Kong's shape) loaded through turnpike.config and routed by
-- turnpike.router, exactly as the gateway would. opts.plugins_path as run_plugin.
function _M.request_chain(cfg_table, request, opts)
  opts = opts or {}
  local path = opts.plugins_path or _M.plugins_path
  local cfg, err = config.load_string(cjson.encode(cfg_table), "spec.json", {
    env = {},
    load_plugin = function(name) return plugins.load(name, path) end,
  })
  if not cfg then error(err, 2) end
  local gen = _M.gen_from(cfg, router_mod.new(cfg.routes), path)
  local rn = runner.new(gen)
  rn:init_worker()
  return _M.execute(rn, request, opts)
end

-- Integration helpers arrive with turnpike/spec/integration.lua (the lead's file).
setmetatable(_M, {
  __index = function(t, k)
    if k == "integration" then
      local m = require "turnpike.spec.integration"
      rawset(t, k, m)
      return m
    end
  end,
})

return _M
