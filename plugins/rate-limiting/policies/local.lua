-- rate-limiting "local" policy: counters in the node's shared memory (core/tp_ratelimit), one
-- atomic check-and-count across all worker processes of the node.
local shm = require "turnpike.ffi.shm"

local KEY_PREFIX = "rl:"

local _M = {}

function _M.incr(conf, key, windows, limits, cost, now_ms)
  return shm.windows_incr(KEY_PREFIX .. key, windows, limits, cost, now_ms)
end

return _M
