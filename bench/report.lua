-- wrk script: after the run, print one machine-readable line with what bench/run.sh needs,
-- the percentiles taken from wrk's own latency histogram (microseconds).
-- usage: wrk ... --latency -s bench/report.lua URL
local format = string.format

function done(summary, latency, requests) -- luacheck: ignore (wrk callback)
  local e = summary.errors
  io.write(format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d sockerr=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
