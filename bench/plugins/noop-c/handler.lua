-- noop-c: a benchmark plugin whose access phase does nothing. bench/run.sh puts three of
-- these on one route to measure what the plugin machinery itself costs per request.
local NoopHandler = { PRIORITY = 902, VERSION = "1.0.0" }

function NoopHandler:access(conf) -- luacheck: ignore
end

return NoopHandler
