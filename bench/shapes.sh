#!/usr/bin/env bash
# The three load shapes (bench/shapes.py; docs/benchmarks.md), each measured BENCH_ROUNDS times
# (default 2: the machine is shared, so one run proves little) against the production server
# (gunicorn, 2 sync workers, DEBUG=0, throttles off) on PostgreSQL + Redis:
#   (a) heavy vs light learner, the read cache off, sequential requests to every learner-facing route;
#   (b) the review loop: 16 learners alternating "today's queue" and "answer a card", wrk;
#   (c) repeated reads of one page (content list, today's queue), wrk.
# (b) and (c) are compared with /api/health/live/ measured on the same server in the same round.
#
# Settings (environment):
#   BENCH_PG_URL            server URL without database   (default postgres://postgres@127.0.0.1:5432)
#   BENCH_SHAPES_DB         database, seeded once and kept (default resee_bench_shapes; must contain "bench")
#   BENCH_SHAPES_RESEED=1   recreate and seed it (about 2 minutes: a million history rows)
#   BENCH_REDIS_URL         Redis for cache and metrics    (default $REDIS_URL or redis://127.0.0.1:6379/0)
#   BENCH_ROUNDS (2), BENCH_REQUESTS (40 per route and learner in (a)), BENCH_DURATION (20s),
#   BENCH_CONNECTIONS (16), BENCH_THREADS (2), BENCH_PORT (8766)
#   BENCH_RUN               results directory (default bench/results/<UTC timestamp>-shapes)
#   BENCH_SHAPES_PARTS      which shapes to measure (default abc; e.g. bc skips heavy vs light)
#   BENCH_DB_OPTIONS        query options of the server's database URL (e.g. server_side_binding=false)
#   WEB_CONCURRENCY, GUNICORN_WORKER_CLASS, GUNICORN_THREADS   the server's processes (default 2, sync,
#                           1: the production image's); other values measure a deployment, not the target
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
GUNICORN="$ROOT/.venv/bin/gunicorn"

BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_SHAPES_DB=${BENCH_SHAPES_DB:-resee_bench_shapes}
ROUNDS=${BENCH_ROUNDS:-2}
PARTS=${BENCH_SHAPES_PARTS:-abc}
# the production image's gunicorn settings (docker/entrypoint.sh), overridable as there
WORKERS=${WEB_CONCURRENCY:-2}
WORKER_CLASS=${GUNICORN_WORKER_CLASS:-sync}
GUNICORN_THREADS=${GUNICORN_THREADS:-1}
REQUESTS=${BENCH_REQUESTS:-40}
DURATION=${BENCH_DURATION:-20s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-2}
PORT=${BENCH_PORT:-8766}
BASE="http://127.0.0.1:$PORT"

command -v wrk >/dev/null 2>&1 || { echo "wrk is needed (bench/run.sh installs it as root)" >&2; exit 1; }

export DATABASE_URL="$BENCH_PG_URL/$BENCH_SHAPES_DB"
export REDIS_URL="${BENCH_REDIS_URL:-${REDIS_URL:-redis://127.0.0.1:6379/0}}"
export DEBUG=0
export SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdefghijklmnop"
export THROTTLES_ENABLED=0
export ALLOWED_HOSTS="127.0.0.1,localhost"
export LOG_LEVEL=WARNING
export Q_SYNC=0
export PYTHONUNBUFFERED=1
export BENCH_DIR="$ROOT/bench"
export BENCH_THREADS="$THREADS"

RUN=${BENCH_RUN:-"$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-shapes"}
mkdir -p "$RUN"
echo "shapes results: $RUN"

if [ "${BENCH_SHAPES_RESEED:-0}" = "1" ]; then
  "$PY" bench/prepare_db.py "$DATABASE_URL"
else
  "$PY" bench/prepare_db.py "$DATABASE_URL" --if-missing
fi
"$PY" manage.py migrate --noinput -v 0
"$PY" bench/shapes.py seed | tee -a "$RUN/seed.txt"

cat > "$RUN/meta.json" <<META
{"rounds": $ROUNDS, "requests": $REQUESTS, "duration": "$DURATION", "connections": $CONNECTIONS,
 "threads": $THREADS, "workers": $WORKERS, "worker_class": "$WORKER_CLASS", "gunicorn_threads": $GUNICORN_THREADS, "cpus": $(nproc), "load_before": "$(cut -d' ' -f1-3 /proc/loadavg)",
 "git": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"}
META

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

start_server() {  # $1: LEARNING_READ_CACHE_SECONDS
  DATABASE_URL="$DATABASE_URL${BENCH_DB_OPTIONS:+?$BENCH_DB_OPTIONS}" \
  LEARNING_READ_CACHE_SECONDS="$1" "$GUNICORN" config.wsgi:application --bind "127.0.0.1:$PORT" \
    --workers "$WORKERS" --worker-class "$WORKER_CLASS" --threads "$GUNICORN_THREADS" --timeout 60 --access-logfile /dev/null \
    --error-logfile "$RUN/gunicorn.log" &
  SERVER_PID=$!
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null -H "X-Forwarded-Proto: https" "$BASE/api/health/live/" 2>/dev/null; then
      return 0
    fi
    sleep 0.5
  done
  echo "the server did not come up; see $RUN/gunicorn.log" >&2
  exit 1
}

# The machine is shared: load that comes and goes between two 20-second runs would make their ratio
# say more about the neighbours than about the code. So health/live and the scenario alternate in
# BENCH_SLICES slices (default 4) of DURATION/SLICES each, on the same server; each side's slices are
# then merged into one RESULT (bench/shapes.py merge: requests over time, request-weighted percentiles).
SLICES=${BENCH_SLICES:-4}
SLICE_SECONDS=$(( ${DURATION%s} / SLICES ))

paired() {  # $1: health result name, $2: scenario result name, $3: path, then wrk options
  local health=$1 name=$2 path=$3
  shift 3
  wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "X-Forwarded-Proto: https" -s bench/report.lua \
    "$BASE/api/health/live/" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -H "X-Forwarded-Proto: https" "$@" "$BASE$path" >/dev/null
  rm -f "$RUN/$health.slices" "$RUN/$name.slices"
  for _ in $(seq 1 "$SLICES"); do
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SLICE_SECONDS}s" -H "X-Forwarded-Proto: https" -s bench/report.lua \
      "$BASE/api/health/live/" >> "$RUN/$health.slices"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SLICE_SECONDS}s" -H "X-Forwarded-Proto: https" "$@" "$BASE$path" \
      >> "$RUN/$name.slices"
  done
  for result in "$health" "$name"; do
    "$PY" bench/shapes.py merge "$RUN/$result.slices" > "$RUN/$result.txt"
    grep RESULT "$RUN/$result.txt" | sed "s/^/  $result /"
  done
}

for round in $(seq 1 "$ROUNDS"); do
  if [[ $PARTS == *a* ]]; then
    echo "== round $round: (a) heavy vs light, read cache off"
    start_server 0
    "$PY" bench/shapes.py heavy-light "$BASE" "$RUN/heavy-light-$round.json" --requests "$REQUESTS"
    stop_server
  fi

  if [[ $PARTS == *b* ]]; then
    "$PY" bench/shapes.py reset-loop > /dev/null
    "$PY" bench/shapes.py loop-file "$RUN/loop-learners.txt"
  fi
  if [[ $PARTS == *b* || $PARTS == *c* ]]; then
    start_server 30
  fi
  if [[ $PARTS == *b* ]]; then
    echo "== round $round: (b) the review loop"
    # Each round starts from freshly seeded learners (400 due each); every slice starts again at each
    # learner's first due card, so later slices also review cards ahead of time (the same writes).
    export BENCH_LOOP_FILE="$RUN/loop-learners.txt"
    paired "loop-health-$round" "loop-$round" /api/review/today/ -s bench/loop.lua
  fi

  if [[ $PARTS == *c* ]]; then
    echo "== round $round: (c) repeated reads of one page"
    TOKEN=$("$PY" bench/shapes.py token "repeat@shapes.bench.resee.local")
    paired "repeat-health-$round" "repeat-content-$round" "/api/content/?limit=20" \
      -H "Authorization: Bearer $TOKEN" -s bench/report.lua
    paired "repeat-health-q-$round" "repeat-queue-$round" /api/review/today/ \
      -H "Authorization: Bearer $TOKEN" -s bench/report.lua
  fi
  stop_server
done
rm -f "$RUN/loop-learners.txt"

echo
"$PY" bench/shapes.py report "$RUN"
cp "$RUN/summary-shapes.md" "$ROOT/bench/results/latest-shapes.md"
