-- wrk script: send each request with the next token from the file named by $BENCH_TOKENS
-- (one per line) in an Authorization: Bearer header, cycling; then report as report.lua.
-- Every request is formatted once at start: building it per request made wrk, not the
-- gateway, the bottleneck of the distinct-token cases (wrk shares a core with the upstream).
local getenv = os.getenv
local format = wrk.format

dofile(getenv("BENCH_DIR") .. "/report.lua")

local requests, n, i = {}, 0, 0

function init(args) -- luacheck: ignore (wrk callback)
  for line in io.lines(getenv("BENCH_TOKENS")) do
    n = n + 1
    requests[n] = format(nil, nil, { ["Authorization"] = "Bearer " .. line })
  end
end

function request() -- luacheck: ignore (wrk callback)
  i = i % n + 1
  return requests[i]
end
