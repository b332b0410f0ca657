-- turnpike.ctx: per-request tables. `shared` is one table for all plugins of a request;
-- `plugin` is private to the plugin running now (the runner points ctx.plugin at it, or at
-- nothing until the plugin first asks: then it is made here and kept in ctx.plugin_data).
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
        -- a plugin's table outlives the phase: the runner finds it again in plugin_data
        local name = k == "plugin" and ctx.plugin_name
        if name then
          local data = ctx.plugin_data
          if not data then
            data = {}
            ctx.plugin_data = data
          end
          data[name] = t
        end
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
