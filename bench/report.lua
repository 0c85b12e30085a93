-- wrk reporter: after the run, prints one JSON line with throughput and latency percentiles (ms).
-- Used by every scenario of bench/run.sh (`wrk -s bench/report.lua ...`); complete.lua includes it.

local function ms(us) return us / 1000.0 end

-- wrk counts statuses >= 400 as errors ("non_2xx" below); bench/run.sh checks beforehand that every
-- scenario answers 200, so a redirect cannot pass for success. (A Lua response() hook would see every
-- status, but it makes wrk hand each body to Lua, stealing CPU from the server on a small machine.)

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %d, "duration_s": %.3f, "rps": %.2f, "p50_ms": %.3f, "p90_ms": %.3f, ' ..
    '"p95_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f, "non_2xx": %d, ' ..
    '"socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(95)),
    ms(latency:percentile(99)), ms(latency.max), ms(latency.mean),
    errors.status, errors.connect + errors.read + errors.write, errors.timeout))
end
