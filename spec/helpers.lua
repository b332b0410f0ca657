-- spec/helpers.lua: what our own specs use; the same kit plugin authors get from
-- require("turnpike.spec").integration (start_turnpike, mock_upstream, http, client, raw,
-- wait_until, free_port, cleanup, ...), plus the unit-mode kit as helpers.unit.
local integration = require "turnpike.spec.integration"

local helpers = setmetatable({}, { __index = integration })
helpers.unit = setmetatable({}, { __index = function(_, k) return require("turnpike.spec")[k] end })

-- service(name, port, extra) -> a service table pointing at a mock upstream on 127.0.0.1:port
function helpers.service(name, port, extra)
  local s = { name = name, url = "http://127.0.0.1:" .. port }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

return helpers
