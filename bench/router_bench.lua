-- Router micro-benchmark: matches per second for 10, 1,000 and 10,000 plain-prefix routes
-- and for 100 regex routes. Plain Lua, run from anywhere: `luajit bench/router_bench.lua`.
-- With an argument, each case runs that many seconds of CPU time (default 0.5).

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path

local router = require("turnpike.router")

local clock = os.clock
local SECONDS = tonumber(arg and arg[1]) or 0.5
local SVC = { id = "s", name = "svc", protocol = "http", host = "upstream", port = 80, path = "/base" }

local function route(i, paths, extra)
  local r = {
    id = "r" .. i, name = "r" .. i, service = SVC, paths = paths, strip_path = true,
    preserve_host = false, regex_priority = 0, protocols = { "http", "https" }, path_handling = "v0",
  }
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function prefix_routes(n)
  local routes, reqs = {}, {}
  for i = 1, n do
    routes[i] = route(i, { "/svc" .. i .. "/api/v" .. (i % 3 + 1) })
    reqs[i] = { path = "/svc" .. i .. "/api/v" .. (i % 3 + 1) .. "/items/" .. i, want = "r" .. i }
  end
  return routes, reqs
end

local function regex_routes(n)
  local routes, reqs = {}, {}
  for i = 1, n do
    routes[i] = route(i, { "~/tenant" .. i .. [[/users/(?<id>\d+)/(orders|carts)$]] })
    reqs[i] = { path = "/tenant" .. i .. "/users/" .. (1000 + i) .. "/orders", want = "r" .. i }
  end
  return routes, reqs
end

-- regex routes that all share one literal prefix, so every request tries them in order
local function shared_regex_routes(n)
  local routes, reqs = {}, {}
  for i = 1, n do
    routes[i] = route(i, { [[~/api/(?<v>v\d+)/r]] .. i .. [[/(?<id>[0-9a-f]+)$]] })
    reqs[i] = { path = "/api/v2/r" .. i .. "/beef", want = "r" .. i }
  end
  return routes, reqs
end

local function rate(r, reqs)
  local n, nreq, i = 0, #reqs, 0
  local stop = clock() + SECONDS
  repeat
    for _ = 1, 1000 do
      i = i % nreq + 1
      r:match("GET", reqs[i].path, "example.com", nil, "http")
    end
    n = n + 1000
  until clock() >= stop
  return n / (SECONDS + (clock() - stop))
end

-- two workloads: the same 10 requests over and over (router cost alone), and every route
-- in turn (adds the cache misses of touching 10,000 different routes and paths)
local function run(label, routes, reqs)
  local r = assert(router.new(routes))
  for _, q in ipairs(reqs) do -- correctness first
    local m = r:match("GET", q.path, "example.com", nil, "http")
    assert(m and m.route.name == q.want, label .. ": wrong match for " .. q.path)
  end
  local hot, step = {}, math.max(1, math.floor(#reqs / 10))
  for k = 1, #reqs, step do hot[#hot + 1] = reqs[k] end
  local hot_rate, all_rate = rate(r, hot), rate(r, reqs)
  r.memo = nil -- the trie walk alone, as for a router whose routes match on headers
  print(("%-34s %12.0f %12.0f %12.0f %12.0f"):format(label, hot_rate, all_rate, rate(r, hot),
                                                     rate(r, reqs)))
end

-- the first two columns with the router's memo of answers by path (bounded at 4,096 paths:
-- 10,000 distinct paths in turn always miss it), the last two walking the trie every time
print(("%-34s %12s %12s %12s %12s"):format("matches/s", "10 paths", "all routes",
                                           "10, no memo", "all, no memo"))
run("10 prefix routes", prefix_routes(10))
run("1000 prefix routes", prefix_routes(1000))
run("10000 prefix routes", prefix_routes(10000))
run("100 regex routes", regex_routes(100))
run("100 regex routes, shared prefix", shared_regex_routes(100))
