-- The review loop (bench/shapes.sh, shape b): learners each alternating "read today's queue (a page
-- of 20)" and "answer a card" (POST /api/review/complete/ with a unique Idempotency-Key).
-- BENCH_LOOP_FILE holds one line per learner: an access token, then the ids of its due contents in
-- queue order. Thread t of wrk drives learners t, t + threads, ...; each request goes to the next
-- learner's next step, so every learner reads, answers, reads, answers... Each answer takes the
-- learner's next due card, from BENCH_LOOP_SKIP on (once they run out it reviews ahead: still a 200).
-- wrk -t2 -c16 -d20s -s bench/loop.lua -H "X-Forwarded-Proto: https" http://127.0.0.1:8765

dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

local learners = {}
local counter = 0
-- wrk runs this script twice (warm-up, then measurement): keys must differ between the runs
local run_id = tostring(os.time()) .. "-" .. tostring(os.clock())
local results = { "remembered", "remembered", "remembered", "partial", "forgot" }

function init(args)
  local thread_count = tonumber(os.getenv("BENCH_THREADS") or "2")
  local index = 0
  for line in io.lines(os.getenv("BENCH_LOOP_FILE")) do
    if index % thread_count == thread_id then
      local learner = { ids = {}, step = 0, next_id = 1 + tonumber(os.getenv("BENCH_LOOP_SKIP") or "0") }
      for word in line:gmatch("%S+") do
        if learner.token == nil then learner.token = word else learner.ids[#learner.ids + 1] = word end
      end
      learners[#learners + 1] = learner
    end
    index = index + 1
  end
end

function request()
  counter = counter + 1
  local learner = learners[(counter - 1) % #learners + 1]
  learner.step = learner.step + 1
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Authorization"] = "Bearer " .. learner.token
  if learner.step % 2 == 1 then
    return wrk.format("GET", "/api/review/today/?limit=20", headers)
  end
  local id = learner.ids[(learner.next_id - 1) % #learner.ids + 1]
  learner.next_id = learner.next_id + 1
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = string.format("loop-%s-%d-%d", run_id, thread_id, counter)
  local body = '{"content_id": ' .. id .. ', "result": "' .. results[(counter % #results) + 1] ..
    '", "time_spent_seconds": 9}'
  return wrk.format("POST", "/api/review/complete/", headers, body)
end
