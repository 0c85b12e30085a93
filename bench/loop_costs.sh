#!/usr/bin/env bash
# Where the review loop's time goes (docs/benchmarks.md, sessions 17-18), on the shapes database that
# bench/shapes.sh seeds and keeps. Two measurements, each against a gunicorn started here (2 sync
# workers, the production settings of bench/shapes.sh) and stopped at the end:
#
#   bash bench/loop_costs.sh cpu [seconds]   CPU per request of each process group (gunicorn, postgres,
#                                            redis, wrk) and the idle share of the machine, read from
#                                            /proc during a wrk run of the loop (16 connections), then the
#                                            same for /api/health/live/;
#   bash bench/loop_costs.sh statements      PostgreSQL's own duration of each statement of the loop
#                                            (2 connections, 6 s): log_min_duration_statement=0 is set on
#                                            the bench database only, for the run, and its server log read
#                                            (BENCH_PG_LOG, default the Debian cluster's log).
#
# Environment: as bench/shapes.sh (BENCH_PG_URL, BENCH_SHAPES_DB, BENCH_REDIS_URL, BENCH_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-cpu}
SECONDS_RUN=${2:-10}
PG_LOG=${BENCH_PG_LOG:-/var/log/postgresql/postgresql-15-main.log}
source bench/loop_server.sh

snapshot() {  # CPU ticks of gunicorn, postgres, redis, wrk ($1: its pid), then the machine's idle ticks
  "$PY" - "$1" <<'PYEOF'
import os, sys
sums = {"gunicorn": 0, "postgres": 0, "redis": 0}
system = {"gunicorn": 0, "postgres": 0, "redis": 0}
wrk = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)
    except OSError:
        continue
    name = fields[0].split("(", 1)[1]
    ticks = sum(int(value) for value in fields[1].split()[11:13])
    if pid == sys.argv[1]:
        wrk = ticks
    for prefix in sums:
        if name.startswith(prefix):
            sums[prefix] += ticks
            system[prefix] += int(fields[1].split()[12])
with open("/proc/stat") as stat:
    idle = int(stat.readline().split()[4])
print(sums["gunicorn"], sums["postgres"], sums["redis"], wrk, idle,
      system["gunicorn"], system["postgres"], system["redis"])
PYEOF
}

measure() {  # $1: label, then wrk's script and URL
  local label=$1; shift
  wrk -t2 -c16 -d3s -H "X-Forwarded-Proto: https" "$@" > /dev/null
  local out; out=$(mktemp)
  wrk -t2 -c16 -d"${SECONDS_RUN}s" -H "X-Forwarded-Proto: https" "$@" > "$out" &
  local wrk_pid=$!
  sleep 0.5
  local before after; before=$(snapshot "$wrk_pid"); local started; started=$(date +%s.%N)
  sleep $((SECONDS_RUN - 1))
  after=$(snapshot "$wrk_pid"); local ended; ended=$(date +%s.%N)
  wait "$wrk_pid"
  local rps; rps=$(grep RESULT "$out" | sed 's/.*"rps": \([0-9.]*\).*/\1/'); rm -f "$out"
  "$PY" - "$label" "$rps" "$started" "$ended" $before $after "$(getconf CLK_TCK)" <<'PYEOF'
import sys
label, rps, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
values = [int(v) for v in sys.argv[5:21]]
tick = 1 / int(sys.argv[21])
seconds, requests = t1 - t0, float(sys.argv[2]) * (t1 - t0)
print(f"{label}: {rps:.0f} requests/s")
for index, name in enumerate(("gunicorn", "postgres", "redis", "wrk")):
    used = (values[8 + index] - values[index]) * tick
    kernel = (values[13 + index] - values[5 + index]) * tick if index < 3 else None
    share = f"  ({kernel / used:.0%} in the kernel)" if kernel is not None and used else ""
    print(f"  {name:9s} {used / requests * 1000:6.3f} ms CPU per request  {used / seconds:5.2f} cores{share}")
print(f"  idle      {(values[12] - values[4]) * tick / seconds:5.2f} cores")
PYEOF
}

case "$MODE" in
  cpu)
    fresh_loop
    measure "review loop" -s bench/loop.lua "$BASE/api/review/today/"
    measure "health/live" -s bench/report.lua "$BASE/api/health/live/"
    ;;
  statements)
    fresh_loop
    DB=${BENCH_SHAPES_DB:-resee_bench_shapes}
    PSQL=(psql "${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}/$DB" -qAtc)
    "${PSQL[@]}" "ALTER DATABASE $DB SET log_min_duration_statement = 0"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true  # new connections take the setting
    .venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 \
      --access-logfile /dev/null --error-logfile "${BENCH_GUNICORN_LOG:-/dev/null}" &
    SERVER_PID=$!
    for _ in $(seq 1 60); do curl -fsS -o /dev/null -H "X-Forwarded-Proto: https" "$BASE/api/health/live/" 2>/dev/null && break; sleep 0.5; done
    wrk -t1 -c2 -d2s -H "X-Forwarded-Proto: https" -s bench/loop.lua "$BASE/api/review/today/" > /dev/null
    from=$(wc -l < "$PG_LOG")
    wrk -t1 -c2 -d6s -H "X-Forwarded-Proto: https" -s bench/loop.lua "$BASE/api/review/today/" | grep RESULT
    "${PSQL[@]}" "ALTER DATABASE $DB RESET log_min_duration_statement"
    tail -n +"$from" "$PG_LOG" | grep -o "duration: [0-9.]* ms  execute [^:]*: .\{40\}" \
      | awk '{d = $2; $1 = $2 = $3 = $4 = $5 = ""; s[$0] += d; n[$0]++}
             END {for (k in s) printf "%6d x %7.3f ms %s\n", n[k], s[k] / n[k], k}' | sort -rn
    ;;
  *) echo "usage: $0 cpu [seconds] | statements" >&2; exit 2 ;;
esac
