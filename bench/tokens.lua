-- wrk script: send each request with the next token from the file named by $BENCH_TOKENS
-- (one per line) in an Authorization: Bearer header, cycling; then report as report.lua.
local getenv = os.getenv
local format = wrk.format

dofile(getenv("BENCH_DIR") .. "/report.lua")

local tokens, n, i = {}, 0, 0

function init(args) -- luacheck: ignore (wrk callback)
  for line in io.lines(getenv("BENCH_TOKENS")) do
    n = n + 1
    tokens[n] = line
  end
end

function request() -- luacheck: ignore (wrk callback)
  i = i % n + 1
  return format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
