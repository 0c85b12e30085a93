# Sourced by bench/loop_costs.sh and bench/soak.sh: the environment of bench/shapes.sh's server (the
# shapes database, production settings, throttles off), a temporary loop file for bench/loop.lua, and
# gunicorn (2 sync workers) started on $BASE and stopped when the script exits. Sets PY, DB, PORT, BASE,
# LOOP_FILE, SERVER_PID; the caller may set DEFAULT_PORT before sourcing it.
PY=.venv/bin/python
DB=${BENCH_SHAPES_DB:-resee_bench_shapes}
export DATABASE_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}/$DB"
export REDIS_URL="${BENCH_REDIS_URL:-${REDIS_URL:-redis://127.0.0.1:6379/0}}"
export DEBUG=0 THROTTLES_ENABLED=0 LOG_LEVEL=WARNING Q_SYNC=0 LEARNING_READ_CACHE_SECONDS=30
export SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdefghijklmnop"
export ALLOWED_HOSTS="127.0.0.1,localhost" BENCH_DIR="$(pwd)/bench" BENCH_THREADS=2
PORT=${BENCH_PORT:-${DEFAULT_PORT:-8766}}
BASE="http://127.0.0.1:$PORT"
LOOP_FILE=$(mktemp)
export BENCH_LOOP_FILE="$LOOP_FILE"

SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -f "$LOOP_FILE"
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM HUP PIPE
if curl -fsS -o /dev/null "$BASE/api/health/live/" 2>/dev/null; then
  echo "something already answers on $BASE: stop it first (it would be measured instead)" >&2
  exit 1
fi
.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 \
  --access-logfile /dev/null --error-logfile "${BENCH_GUNICORN_LOG:-/dev/null}" &
SERVER_PID=$!
for _ in $(seq 1 60); do curl -fsS -o /dev/null -H "X-Forwarded-Proto: https" "$BASE/api/health/live/" 2>/dev/null && break; sleep 0.5; done

fresh_loop() {  # the loop's learners reset, and their tokens and due cards written for bench/loop.lua
  "$PY" bench/shapes.py reset-loop > /dev/null
  "$PY" bench/shapes.py loop-file "$LOOP_FILE"
}
