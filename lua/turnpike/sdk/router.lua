-- turnpike.router: the route and service this request matched.
local phase = require "turnpike.sdk.phase"

local _M = {}

function _M.new(backend)
  local router = {}

  function router.get_route()
    local _, ctx = phase.check(backend, phase.REQUEST, "router.get_route")
    return ctx.route
  end

  function router.get_service()
    local _, ctx = phase.check(backend, phase.REQUEST, "router.get_service")
    return ctx.service
  end

  return router
end

return _M
