#!/usr/bin/env bash
# make bench: load benchmark of the learning hot paths on PostgreSQL + Redis with the production
# server (gunicorn, 2 sync workers, DEBUG=0, throttles off), against a dedicated database seeded by
# `bench/seed.py`. All scenarios run against the same server in the same run, so each one is
# compared with /api/health/live/ (no database) measured minutes apart on the same machine.
#
# Settings (environment):
#   BENCH_PG_URL      server URL without database   (default postgres://postgres@127.0.0.1:5432)
#   BENCH_DB          database, recreated each run   (default resee_bench; must contain "bench")
#   BENCH_REDIS_URL   Redis for cache and metrics    (default $REDIS_URL or redis://127.0.0.1:6379/0)
#   BENCH_USERS, BENCH_CONTENTS, BENCH_HISTORY, BENCH_DUE   seed size (default 100, 1000, 10, 100)
#   BENCH_DURATION    per scenario (default 20s);  BENCH_CONNECTIONS (16);  BENCH_THREADS (2)
#   BENCH_PORT        (default 8765);  BENCH_REUSE_DB=1 keeps an already seeded database
#   BENCH_SHAPES      1 (default): afterwards the three shapes of bench/shapes.sh (heavy vs light
#                     learner, the review loop, repeated reads; their own settings are there);
#                     only: the shapes alone;  0: not them
# Results: bench/results/<UTC timestamp>/ (raw wrk output per scenario, summary.md, summary.json;
# the shapes in its shapes/ folder, summary-shapes.md).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY="$ROOT/.venv/bin/python"
GUNICORN="$ROOT/.venv/bin/gunicorn"

BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_DB=${BENCH_DB:-resee_bench}
USERS=${BENCH_USERS:-100}
CONTENTS=${BENCH_CONTENTS:-1000}
HISTORY=${BENCH_HISTORY:-10}
DUE=${BENCH_DUE:-100}
DURATION=${BENCH_DURATION:-20s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-2}
PORT=${BENCH_PORT:-8765}
BASE="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing wrk (apt-get install -y wrk)"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    echo "wrk is needed: install it (Debian/Ubuntu: sudo apt-get install -y wrk; macOS: brew install wrk)" >&2
    exit 1
  fi
fi

export DATABASE_URL="$BENCH_PG_URL/$BENCH_DB"
export REDIS_URL="${BENCH_REDIS_URL:-${REDIS_URL:-redis://127.0.0.1:6379/0}}"
export DEBUG=0
export SECRET_KEY="bench-only-secret-key-not-for-production-0123456789abcdefghijklmnop"
export THROTTLES_ENABLED=0
export ALLOWED_HOSTS="127.0.0.1,localhost"
export LOG_LEVEL=WARNING
export Q_SYNC=0
export PYTHONUNBUFFERED=1

RUN="$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RUN"
echo "results: $RUN"

SHAPES=${BENCH_SHAPES:-1}
if [ "$SHAPES" = "only" ]; then
  BENCH_RUN="$RUN/shapes" bash "$ROOT/bench/shapes.sh"
  exit 0
fi

if [ "${BENCH_REUSE_DB:-0}" = "1" ] && "$PY" manage.py shell -c \
    "from django.contrib.auth import get_user_model as g; import sys; sys.exit(0 if g().objects.filter(email='bench@resee.local').exists() else 1)" \
    >/dev/null 2>&1; then
  echo "reusing the seeded database $BENCH_DB"
else
  "$PY" bench/prepare_db.py "$DATABASE_URL"
  "$PY" manage.py migrate --noinput -v 0
  "$PY" bench/seed.py --users "$USERS" --contents "$CONTENTS" --history "$HISTORY" --due "$DUE" \
    | tee "$RUN/seed.txt"
fi

IDS="$RUN/content_ids.txt"
TOKEN=$("$PY" bench/bench_setup.py --ids "$IDS")

cat > "$RUN/meta.json" <<META
{"users": $USERS, "contents_per_user": $CONTENTS, "history_per_content": $HISTORY, "due": $DUE,
 "duration": "$DURATION", "connections": $CONNECTIONS, "threads": $THREADS, "workers": 2,
 "cpus": $(nproc), "load_before": "$(cut -d' ' -f1-3 /proc/loadavg)",
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

start_server() {  # $1: REQUEST_METRICS_ENABLED, $2: LEARNING_READ_CACHE_SECONDS (default 30)
  # The production command (docker/entrypoint.sh web) but access logs off: the proxy logs requests.
  REQUEST_METRICS_ENABLED="$1" LEARNING_READ_CACHE_SECONDS="${2:-30}" "$GUNICORN" config.wsgi:application --bind "127.0.0.1:$PORT" \
    --workers 2 --worker-class sync --timeout 30 --access-logfile /dev/null \
    --error-logfile "$RUN/gunicorn-metrics-$1.log" &
  SERVER_PID=$!
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$BASE/api/health/live/" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "the server did not come up; see $RUN/gunicorn-metrics-$1.log" >&2
  exit 1
}

# Requests carry X-Forwarded-Proto like a TLS-terminating proxy would (DEBUG=0 redirects plain HTTP).
WRK_HEADERS=(-H "X-Forwarded-Proto: https" -H "Authorization: Bearer $TOKEN")
CURL_HEADERS=("${WRK_HEADERS[@]}")

preflight() {  # every scenario must answer 200 before it is measured
  local code
  code=$(curl -s -o /dev/null -w "%{http_code}" "${CURL_HEADERS[@]}" "$@")
  if [ "$code" != "200" ]; then echo "preflight $* answered $code" >&2; exit 1; fi
}

scenario() {  # $1: name, $2: path, $3: optional lua script
  local script="${3:-bench/report.lua}"
  BENCH_DIR="$ROOT/bench" BENCH_IDS_FILE="$IDS" wrk -t"$THREADS" -c"$CONNECTIONS" -d3s \
    "${WRK_HEADERS[@]}" -s "$script" "$BASE$2" >/dev/null  # warm-up
  echo "== $1: $2"
  BENCH_DIR="$ROOT/bench" BENCH_IDS_FILE="$IDS" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    "${WRK_HEADERS[@]}" -s "$script" "$BASE$2" | tee "$RUN/$1.txt" | grep -E "Requests/sec|RESULT" || true
}

start_server 1
curl -fsS "${CURL_HEADERS[@]}" "$BASE/api/review/today/?limit=1" \
  | "$PY" -c "import json,sys; b=json.load(sys.stdin); print('due for the benchmarked user:', b['count'])"
preflight "$BASE/api/health/live/"
preflight "$BASE/api/accounts/users/me/"
preflight "$BASE/api/review/today/"
preflight "$BASE/api/content/?limit=20"
preflight -X POST -H "Content-Type: application/json" -H "Idempotency-Key: bench-preflight" \
  --data "{\"content_id\": $(head -1 "$IDS"), \"result\": \"remembered\"}" "$BASE/api/review/complete/"
scenario health_live /api/health/live/
# the cheapest authenticated route (JWT check + one user query): the floor of every route below
scenario users_me /api/accounts/users/me/
scenario review_today /api/review/today/
scenario content_list "/api/content/?limit=20"
stop_server

# The learning read cache off: every read computes from PostgreSQL (the first read after each write).
start_server 1 0
scenario review_today_uncached /api/review/today/
scenario content_list_uncached "/api/content/?limit=20"
stop_server

# The ops request-metrics middleware off: its cost per request is the difference.
start_server 0
scenario health_live_metrics_off /api/health/live/
scenario review_today_metrics_off /api/review/today/
stop_server

# Last, because completing reviews empties the queue measured above.
start_server 1
scenario review_complete /api/review/complete/ bench/complete.lua
stop_server

echo
"$PY" bench/summarize.py "$RUN"
cp "$RUN/summary.md" "$ROOT/bench/results/latest.md"
rm -f "$IDS"

if [ "$SHAPES" = "1" ]; then
  echo
  BENCH_RUN="$RUN/shapes" bash "$ROOT/bench/shapes.sh"
fi
