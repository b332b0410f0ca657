-- rate-limiting policies: where the window counters live. Every policy exposes the same
--   incr(conf, key, windows, limits, cost, now_ms) -> allowed, counts, resets_ms | nil, err
-- which counts `cost` in every window (windows[i] seconds, limits[i]) or, when one of them
-- would go over its limit, in none. counts[i] is the window's count afterwards and
-- resets_ms[i] the time until its period ends. "cluster" is served by "local": turnpike has
-- no database, and one node's workers share one shm zone.
local local_policy = require "kong.plugins.rate-limiting.policies.local"
local redis_policy = require "kong.plugins.rate-limiting.policies.redis"

return {
  ["local"] = local_policy,
  cluster = local_policy,
  redis = redis_policy,
}
