-- turnpike.redis: a Redis client for plugins, shaped like lua-resty-redis.
--
--   local red = turnpike.redis.new({ host, port, password, database, timeout_ms })
--   local ok, err = red:connect()            -- or red:connect(host, port)
--   local v, err = red:get("k")              -- one method per command, any name
--   red:eval(script, nkeys, k1, ..., a1, ...)
--   red:init_pipeline() ... red:commit_pipeline() -> { reply1, reply2, ... }
--   red:set_keepalive()  /  red:close()
-- A missing value is turnpike.null. Commands wait without blocking the worker: the backend
-- (redis_connect / redis_command / redis_release) yields the calling coroutine.
local type = type
local pairs = pairs
local select = select
local unpack = unpack
local error = error
local setmetatable = setmetatable

local _M = {}

function _M.new(backend)
  local redis = {}
  local methods = {}

  local mt = {
    __index = function(_, name)
      local m = methods[name]
      if m then return m end
      if name:sub(1, 1) == "_" then return nil end  -- the client's own state
      -- any other name is a Redis command
      return function(self, ...)
        if not self._conn then return nil, "not connected" end
        if self._pipeline then
          self._pipeline[#self._pipeline + 1] = { name, select("#", ...), ... }
          return "OK"
        end
        return backend.redis_command(self._conn, name, ...)
      end
    end,
  }

  function methods:connect(host, port, opts)
    local o = {}
    for k, v in pairs(self._opts) do o[k] = v end
    for k, v in pairs(opts or {}) do o[k] = v end
    if type(host) == "string" then o.host = host end
    if port then o.port = port end
    local conn, err = backend.redis_connect(o)
    if not conn then return nil, err end
    self._conn = conn
    return 1
  end

  function methods:set_timeout(ms)
    self._opts.timeout_ms = ms
  end

  function methods:set_timeouts(connect, send, read)
    self._opts.timeout_ms = math.max(connect or 0, send or 0, read or 0)
  end

  function methods:init_pipeline()
    self._pipeline = {}
  end

  function methods:cancel_pipeline()
    self._pipeline = nil
  end

  -- commit_pipeline() -> replies | nil, err. A failed command's slot holds {false, err}, as
  -- lua-resty-redis reports per-command errors.
  function methods:commit_pipeline()
    local cmds = self._pipeline
    if not cmds then return nil, "no pipeline" end
    self._pipeline = nil
    if not self._conn then return nil, "not connected" end
    local out = {}
    for i, c in ipairs(cmds) do
      local res, err = backend.redis_command(self._conn, c[1], unpack(c, 3, 2 + c[2]))
      if res == nil then
        if err and (err:find("closed", 1, true) or err:find("timeout", 1, true)) then
          return nil, err
        end
        res = { false, err }
      end
      out[i] = res
    end
    return out
  end

  function methods:set_keepalive()
    if not self._conn then return nil, "not connected" end
    backend.redis_release(self._conn, true)
    self._conn = nil
    return 1
  end

  function methods:close()
    if not self._conn then return nil, "not connected" end
    backend.redis_release(self._conn, false)
    self._conn = nil
    return 1
  end

  function redis.new(opts)
    if opts ~= nil and type(opts) ~= "table" then error("opts must be a table", 2) end
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    return (setmetatable({ _opts = o }, mt))
  end

  return redis
end

return _M
