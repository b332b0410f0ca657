-- turnpike.worker: the Lua entry points the C core calls (core/tp_bridge.c), one
-- module instance per generation (each generation is its own lua_State).
--
--   init(config_path, generation, worker_index) -> true | nil, err
--   handle(r)              rewrite, routing, access, then the upstream choice
--   header_filter(r)       body_filter(r, chunk, eof) -> chunk
--   log(r)                 log phase; forgets the request's ctx
--   has_phase(name)        does any configured plugin implement it
local ffi = require "ffi"
local backend = require "turnpike.backend.ffi"
local sdk_mod = require "turnpike.sdk"
local config = require "turnpike.config"
local plugins = require "turnpike.plugins"
local router_mod = require "turnpike.router"
local runner_mod = require "turnpike.runner"
local balancer_mod = require "turnpike.balancer"
local admin = require "turnpike.admin"
local tls = require "turnpike.tls"

local cast = ffi.cast
local new_tab = require "table.new"
local tonumber = tonumber
local tostring = tostring
local ipairs = ipairs

local REQ_T = ffi.typeof("tp_req_t *")
local ERR_NO_PEER = '{"message":"failure to get a peer from the ring-balancer"}'
local ERR_UNSUPPORTED = '{"message":"upstream protocol not supported"}'
local JSON_HEADERS = { ["Content-Type"] = "application/json; charset=utf-8" }
local NO_TIMEOUTS = {} -- read-only: a request whose plugins set none

local _M = {}

local rn, balancer
local certificates -- the config's TLS certificates, for C (core/tp_bridge.c builds the store)
local tls_anchors  -- { [service] = trust anchors } for https services with tls_verify

-- C passes each request as its address (a number): the key of its binding in the
-- backend, and cast to tp_req_t* for the FFI.

local keep_ctx    -- does any phase after access need the request's ctx?
local DONE        -- what the coroutine trampoline yields when a job is over (from C)

function _M.init(config_path, generation, worker_index, done)
  DONE = done
  -- Short loops (the router's trie walk, header lists) must compile before the
  -- request path's root traces give up on them and get blacklisted.
  jit.opt.start("hotloop=8", "maxtrace=4000", "maxmcode=4096", "maxrecord=16000", "maxsnap=2000",
                "maxirconst=2000")
  -- development aid: TURNPIKE_JIT_LOG=FILE writes LuaJIT's trace log (what compiles, what aborts)
  local jit_log = os.getenv("TURNPIKE_JIT_LOG")
  if jit_log then require("jit.v").start(jit_log .. "." .. worker_index) end
  -- TURNPIKE_JIT_PROFILE=FILE samples where Lua time goes for 10 s (LuaJIT's jit.p)
  local jit_prof = os.getenv("TURNPIKE_JIT_PROFILE")
  if jit_prof and generation == 1 then
    require("jit.p").start(os.getenv("TURNPIKE_JIT_PROFILE_MODE") or "Fl2", jit_prof .. "." .. worker_index)
    backend.timer_start(10000, 0, function() require("jit.p").stop() end)
  end
  local sdk = sdk_mod.new(backend)
  sdk_mod.install(sdk) -- before plugins load: handlers cache the global at load time
  local cfg, err = config.load_file(config_path)
  if not cfg then return nil, err end
  local loaded = {}
  for _, p in ipairs(cfg.plugins) do
    if not loaded[p.name] then
      local pl, perr = plugins.load(p.name, cfg.node.plugins_path)
      if not pl then return nil, perr end
      loaded[p.name] = pl
    end
  end
  local router
  router, err = router_mod.new(cfg.routes)
  if not router then return nil, err end
  rn = runner_mod.new { cfg = cfg, router = router, plugins = loaded, backend = backend, sdk = sdk }
  balancer = balancer_mod.new(cfg)
  certificates = cfg.certificates
  tls.use_config(cfg, backend.log) -- turnpike.http's https calls trust what cfg adds
  tls_anchors = tls.upstream_anchors(cfg, backend.log)
  admin.init { cfg = cfg, backend = backend, runner = rn, generation = generation,
               worker = worker_index, balancer = balancer }
  rn:init_worker()
  keep_ctx = rn:has_phase("header_filter") or rn:has_phase("body_filter")
             or rn:has_phase("log") or balancer:needs_report()
  return true
end

-- Coroutines are reused: C parks each one in this loop between jobs. A job that
-- waits on I/O yields nothing; a finished job yields DONE. A job that raises
-- kills its coroutine, which is then not reused.
function _M.trampoline()
  local yield = coroutine.yield
  local fn, a, b = yield(DONE)
  while true do
    fn(a, b)
    fn, a, b = yield(DONE)
  end
end

-- C made this generation current: start the timers plugins asked for in init_worker
function _M.activate(gen)
  backend.timer_activate(gen)
end

function _M.run_timer(lud, id)
  backend.timer_run(cast(REQ_T, lud), id)
end

function _M.certificates() return certificates end

function _M.has_phase(name)
  if name == "log" then return keep_ctx end
  return rn:has_phase(name)
end

local function proxy(r, ctx)
  local service = ctx.service
  local protocol = service.protocol
  if protocol == "https" or protocol == "wss" then
    backend.set_tls(r, tls_anchors[service]) -- no anchors: tls_verify is off
  elseif protocol ~= "http" and protocol ~= "ws" and protocol ~= nil then
    return backend.resp_exit(r, 502, ERR_UNSUPPORTED, JSON_HEADERS)
  end
  local targets, retry_after = balancer:targets(ctx, service, r)
  if not targets then
    -- every target's breaker is open: answer at once, saying when to come back
    return backend.resp_exit(r, 503, ERR_NO_PEER, {
      ["Content-Type"] = JSON_HEADERS["Content-Type"],
      ["Retry-After"] = retry_after and tostring(retry_after) or nil,
    })
  end
  backend.set_targets(r, targets)
  local t = ctx.timeouts or NO_TIMEOUTS
  local route = ctx.route
  backend.set_proxy(r, t.connect or service.connect_timeout, t.write or service.write_timeout,
                    t.read or service.read_timeout, service.retries,
                    route and route.preserve_host)
end

function _M.handle(addr)
  local r = cast(REQ_T, addr)
  -- room for the fields a request's phases set (scheme, plugins, phase, route, service, ...):
  -- growing an empty table key by key would rehash it four or five times per request.
  -- ctx.shared and ctx.plugin are made on first use (sdk/ctx.lua)
  local ctx = new_tab(0, 16)
  backend.bind(addr, r, ctx)
  if backend.is_admin(r) then
    ctx.admin = true
    admin.handle(r, ctx)
  else
    rn:process(r, ctx)
    if backend.resp_get_source(r) == nil then proxy(r, ctx) end
  end
  -- later phases find the request through its binding; without them it ends here
  if not keep_ctx then backend.unbind(addr) end
end

function _M.header_filter(addr)
  local r, ctx = backend.current()
  if not ctx or ctx.admin then return end
  rn:header_filter(r, ctx)
end

function _M.body_filter(addr, chunk, eof)
  local r, ctx = backend.current()
  if not ctx or ctx.admin then return chunk end
  return rn:body_filter(r, ctx, chunk, eof)
end

-- failed(addr, stage, err) -> 0 | 1 | 2: the core caught err escaping a Lua entry point for
-- the current request (stage: "handle", "header_filter", "body_filter", "log" or "timer").
-- Plugins run without a pcall of their own (see runner.lua), so their errors arrive here.
-- 0: not a plugin's error, the core logs it; 1: logged; 2: logged, and the core enters the
-- same phase again so that the plugins after the failing one still run.
function _M.failed(addr, stage, err)
  local r, ctx = backend.current()
  if not ctx or ctx.admin or stage == "timer" then return 0 end
  local again = rn:failed(r, ctx, err)
  -- the request's Lua state ends here when no later phase runs for it
  if (stage == "handle" and not keep_ctx) or (stage == "log" and not again) then
    backend.unbind(addr)
  end
  if again == nil then return 0 end
  return again and 2 or 1
end

function _M.log(addr)
  local r, ctx = backend.current()
  if not ctx then return end
  if not ctx.admin then
    -- entered again after a plugin failed in log (see failed): the target's health report
    -- and the figures for log.serialize() were made the first time
    local again = ctx.resume_after ~= nil
    if ctx.service and not again then balancer:report(ctx, r) end
    if rn:has_phase("log") then
      if not again then
        -- what log.serialize() reports: sizes and Kong's latency split
        local received, sent, total, upstream = backend.stats(r)
        ctx.request_size, ctx.response_size = received, sent
        ctx.latencies = { request = total, proxy = upstream,
                          kong = upstream and (total - upstream) or total }
      end
      rn:log(r, ctx)
    end
  end
  backend.unbind(addr)
end

return _M
