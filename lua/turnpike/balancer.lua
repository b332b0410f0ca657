-- turnpike.balancer: picks the upstream target(s) of a request, per generation.
--
-- A service whose host names an upstream is balanced over that upstream's
-- targets with smooth weighted round-robin (each pick is followed by the other
-- targets, for retries); any other host is the single target host:port.
-- A plugin's service.set_target / set_upstream choice (ctx) comes first.
local ipairs = ipairs
local tonumber = tonumber

local _M = {}
local mt = { __index = _M }

local function new_upstream(u)
  local targets = {}
  for _, t in ipairs(u.targets or {}) do
    if (t.weight or 100) > 0 then
      targets[#targets + 1] = { host = t.host, port = t.port, weight = t.weight or 100, current = 0 }
    end
  end
  return { conf = u, targets = targets }
end

function _M.new(cfg)
  local self = setmetatable({ upstreams = {} }, mt)
  for _, u in ipairs(cfg.upstreams or {}) do
    self.upstreams[u.name] = new_upstream(u)
  end
  return self
end

-- smooth weighted round-robin: raise every target by its weight, take the
-- largest, lower it by the total
local function pick(up)
  local total, best = 0, nil
  for _, t in ipairs(up.targets) do
    t.current = t.current + t.weight
    total = total + t.weight
    if not best or t.current > best.current then best = t end
  end
  if not best then return nil end
  best.current = best.current - total
  local list = { { host = best.host, port = best.port } }
  for _, t in ipairs(up.targets) do
    if t ~= best then list[#list + 1] = { host = t.host, port = t.port } end
  end
  return list
end

function _M:targets(ctx, service, r)
  local bt = ctx.balancer_target
  if bt then return { { host = bt.host, port = tonumber(bt.port) or 80 } } end
  local name = ctx.upstream_name or service.host
  local up = self.upstreams[name]
  if up then return pick(up) end
  if ctx.upstream_name then return nil end
  return { { host = service.host, port = service.port or 80 } }
end

-- outcome of the request for passive health (the breaker lands with traffic control)
function _M:report(ctx, r)
end

function _M:health(name)
  local up = self.upstreams[name]
  if not up then return nil end
  local out = {}
  for _, t in ipairs(up.targets) do
    out[#out + 1] = { target = t.host .. ":" .. t.port, weight = t.weight, health = "HEALTHY" }
  end
  return out
end

return _M
