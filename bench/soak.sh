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
PY=.venv/bin/python
RUNS=${1:-6}
SECONDS_RUN=${2:-40}
DB=${BENCH_SHAPES_DB:-resee_bench_shapes}
export DATABASE_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}/$DB"
export REDIS_URL="${BENCH_REDIS_URL:-${REDIS_URL:-redis://127.0.0.1:6379/0}}"
export DEBUG=0 THROTTLES_ENABLED=0 LOG_LEVEL=WARNING Q_SYNC=0 LEARNING_READ_CACHE_SECONDS=30
export SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdefghijklmnop"
export ALLOWED_HOSTS="127.0.0.1,localhost" BENCH_DIR="$(pwd)/bench" BENCH_THREADS=2
PORT=${BENCH_PORT:-8777}
BASE="http://127.0.0.1:$PORT"
LOOP_FILE=$(mktemp)
WRK_OUT=$(mktemp)
export BENCH_LOOP_FILE="$LOOP_FILE"

SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -f "$LOOP_FILE" "$WRK_OUT"
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM HUP PIPE
if curl -fsS -o /dev/null "$BASE/api/health/live/" 2>/dev/null; then
  echo "something already answers on $BASE: stop it first" >&2
  exit 1
fi
.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 \
  --access-logfile /dev/null --error-logfile "${BENCH_GUNICORN_LOG:-/dev/null}" 2>/dev/null &
SERVER_PID=$!
for _ in $(seq 1 60); do curl -fsS -o /dev/null -H "X-Forwarded-Proto: https" "$BASE/api/health/live/" 2>/dev/null && break; sleep 0.5; done

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
  "$PY" bench/shapes.py reset-loop > /dev/null
  "$PY" bench/shapes.py loop-file "$LOOP_FILE"
  wrk -t2 -c16 -d"${SECONDS_RUN}s" -s bench/loop.lua -H "X-Forwarded-Proto: https" "$BASE" > "$WRK_OUT" 2>&1 || true
  rps=$(awk '/Requests\/sec/ {print $2}' "$WRK_OUT")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WRK_OUT")
  echo "run $run: ${rps:-?} requests/s, non-2xx ${non2xx:-0}; $(state)"
done
