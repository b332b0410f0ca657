-- prometheus: configuration, Kong's fields and defaults. Every metric family beyond the node's
-- own (requests, connections, node info) is off until its flag is set, as in Kong 3.x.
local typedefs = require "turnpike.typedefs"

local function flag()
  return { type = "boolean", required = true, default = false }
end

return {
  name = "prometheus",
  fields = {
    { protocols = typedefs.protocols },
    { config = {
        type = "record",
        fields = {
          { per_consumer = flag() },
          { status_code_metrics = flag() },
          { latency_metrics = flag() },
          { bandwidth_metrics = flag() },
          { upstream_health_metrics = flag() },
          -- Kong 3.8's flags for its AI proxy and Wasm filters: accepted so a Kong config
          -- loads unchanged; turnpike has neither, so they record nothing
          { ai_metrics = flag() },
          { wasm_metrics = flag() },
        },
    } },
  },
}
