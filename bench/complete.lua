-- Completion scenario: every request POSTs /api/review/complete/ for the next content of the
-- benchmarked user (ids read from the file in BENCH_IDS_FILE), each thread starting at its own
-- offset, with a unique Idempotency-Key. Results are mostly "remembered", like real sessions.
-- A response other than 200 counts as an error in wrk's summary (non_2xx), a redirect too (see below).
-- wrk -s bench/complete.lua -H "Authorization: Bearer ..." http://127.0.0.1:8765

dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local ids = {}
for line in io.lines(os.getenv("BENCH_IDS_FILE")) do ids[#ids + 1] = line end

local thread_count = 0
function setup(thread)
  thread:set("thread_id", thread_count)
  thread_count = thread_count + 1
end

local results = { "remembered", "remembered", "remembered", "partial", "forgot" }
local counter = 0

function init(args)
  counter = 0
  math.randomseed(thread_id + 1)
end

function request()
  counter = counter + 1
  local id = ids[((thread_id * 997 + counter) % #ids) + 1]
  local result = results[(counter % #results) + 1]
  local body = '{"content_id": ' .. id .. ', "result": "' .. result .. '", "time_spent_seconds": 12}'
  -- wrk.format uses either its own headers (-H) or the ones given: merge them
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = string.format("bench-%d-%d-%d", thread_id, counter, math.random(1, 1e9))
  return wrk.format("POST", "/api/review/complete/", headers, body)
end
