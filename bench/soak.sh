#!/usr/bin/env bash
# The review loop (shape b, bench/loop.lua) run again and again against one gunicorn (2 sync workers,
# the production settings of bench/shapes.sh), printing after each run its requests/s and non-2xx, each
# worker's resident memory and the database's connections: memory that grows run after run is a leak.
#
#   bash bench/soak.sh [runs] [seconds per run]      (default 6 runs of 40 s: about 120,000 requests)
#
# Environment: as bench/shapes.sh (BENCH_PG_URL, BENCH_SHAPES_DB, seeded by it; BENCH_REDIS_URL;
# BENCH_PORT, default 8777). The learners are reset before each run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-6}
SECONDS_RUN=${2:-40}
DEFAULT_PORT=8777
WRK_OUT=$(mktemp)
source bench/loop_server.sh
trap 'cleanup; rm -f "$WRK_OUT"' EXIT

state() {  # each worker's RSS, then the database's connections
  "$PY" - "$SERVER_PID" <<'PYEOF'
import sys
import psutil
workers = psutil.Process(int(sys.argv[1])).children()
rss = " ".join(f"{w.memory_info().rss / 1e6:.1f}" for w in workers)
print(f"workers' RSS MB: {rss}", end="")
PYEOF
  echo "; database connections: $(psql "${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}/postgres" -Atc \
    "select count(*) from pg_stat_activity where datname = '$DB'")"
}

echo "start: $(state)"
for run in $(seq 1 "$RUNS"); do
  fresh_loop
  wrk -t2 -c16 -d"${SECONDS_RUN}s" -s bench/loop.lua -H "X-Forwarded-Proto: https" "$BASE" > "$WRK_OUT" 2>&1 || true
  rps=$(awk '/Requests\/sec/ {print $2}' "$WRK_OUT")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WRK_OUT")
  echo "run $run: ${rps:-?} requests/s, non-2xx ${non2xx:-0}; $(state)"
done
