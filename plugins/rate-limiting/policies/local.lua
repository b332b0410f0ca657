-- rate-limiting "local" policy: counters in the node's shared memory (core/tp_ratelimit), one
-- atomic check-and-count across all worker processes of the node.
local shm = require "turnpike.ffi.shm"

local KEY_PREFIX = "rl:"

local _M = {}

-- The counts come back in two tables reused by every call: the handler reads them before
-- anything can yield, so a request makes no garbage here.
local counts, resets = {}, {}

function _M.incr(conf, key, windows, limits, cost, now_ms)
  return shm.windows_incr(KEY_PREFIX .. key, windows, limits, cost, now_ms, counts, resets)
end

return _M
