-- turnpike.ctx: per-request tables. `shared` is one table for all plugins of a request;
-- `plugin` is private to the plugin running now (the runner points ctx.plugin at it).
local phase = require "turnpike.sdk.phase"

local check = phase.check
local REQUEST = phase.REQUEST

local _M = {}

function _M.new(backend)
  local mt = {
    __index = function(_, k)
      if k ~= "shared" and k ~= "plugin" then return nil end
      local _, ctx = check(backend, REQUEST, "ctx." .. k)
      local t = ctx[k]
      if t == nil then
        t = {}
        ctx[k] = t
      end
      return t
    end,
    __newindex = function(_, k)
      error("cannot set turnpike.ctx." .. tostring(k), 2)
    end,
  }
  return (setmetatable({}, mt))
end

return _M
