-- wrk script for bench/load.py: counts answers whose status is not BENCH_EXPECT_STATUS
-- and prints one machine-readable summary line ("BENCH {json}") with p50/p95 latency.

local expected = tonumber(os.getenv("BENCH_EXPECT_STATUS") or "200")
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   unexpected = 0
end

function response(status, headers, body)
   if status ~= expected then
      unexpected = unexpected + 1
   end
end

function done(summary, latency, requests)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + thread:get("unexpected")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH {"requests": %d, "duration_us": %d, "socket_errors": %d, "unexpected_status": %d, '
         .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
      summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, total,
      latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
